//! The one clock of the daemon: CLOCK_MONOTONIC nanoseconds, the clock of
//! `bpf_ktime_get_ns` and so of every advert's receive time.

use vrrp_core::time::Instant;

use crate::datapath::monotonic_ns;

pub fn now() -> Instant {
    Instant::from_nanos(monotonic_ns())
}

//! The one clock of the daemon: CLOCK_MONOTONIC nanoseconds, the clock of
//! `bpf_ktime_get_ns` and so of every advert's receive time.

use std::time::Duration;

use vrrp_core::time::Instant;

use crate::datapath::monotonic_ns;

pub fn now() -> Instant {
    Instant::from_nanos(monotonic_ns())
}

/// The tokio instant at which the monotonic `deadline` falls. Both clocks are
/// CLOCK_MONOTONIC on Linux; only their origins differ.
pub fn to_tokio(deadline: Instant) -> tokio::time::Instant {
    let now_core = now();
    let now_tokio = tokio::time::Instant::now();
    if deadline.as_nanos() <= now_core.as_nanos() {
        now_tokio
    } else {
        now_tokio + Duration::from_nanos(deadline.as_nanos() - now_core.as_nanos())
    }
}

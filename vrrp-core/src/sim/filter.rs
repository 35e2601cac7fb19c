//! Filter mode: the follow filter of the datapath (`vrrp_common::follow`) and the
//! daemon's half of its protocol, per receiving node.
//!
//! In the steady state a backup receives the same advert from the same master every
//! interval, and its only effect is to restart Master_Down_Timer. The XDP program
//! absorbs such adverts in the kernel. This mode runs that protocol inside the
//! simulator so that a test can run one schedule with and without it and compare the
//! transitions.
//!
//! What is modelled, per node:
//!
//! * The datapath: the `FOLLOW` map ([`Follow`], written by the driver; `None` is
//!   report mode), the report count, the receive time of the last absorbed advert and
//!   the silence timer (the kernel's `bpf_timer`, restarted by every absorbed advert
//!   for `Follow::down_ns`). Every delivered advert goes through [`decide`]: absorbed
//!   ones never reach the router; reported ones carry `seq` (the count including them)
//!   and `followed_rx` (the last absorbed receive time).
//! * The driver: the advert A it armed with (received at tA). On a reported record it
//!   first replays A at `followed_rx` if that is later than tA, forgets the arm, feeds
//!   the record, and arms again with the record's `seq` if
//!   [`Router::steady_advert`](crate::router::Router::steady_advert) says so. On a
//!   silence record it replays, forgets the arm and feeds `Input::Timer`. Before any
//!   other input to an armed node it syncs: disarm, read the last absorbed time,
//!   replay, forget.
//! * The router's own deadline while armed: once an advert was absorbed since the arm,
//!   that advert started the silence timer, which replaces the router's (stale)
//!   deadline, so the deadline is dropped. If nothing was absorbed since the arm, no
//!   silence timer runs for it, so the deadline is real: the driver syncs and feeds
//!   `Input::Timer` as for any other input. (Dropping it in that case too leaves a
//!   backup whose master died right after the arming advert waiting for ever.)
//!
//! Why the transitions should not change: an absorbed advert is equal, in every field
//! the state machine reads, to the followed advert A, and `steady_advert(A)` means that
//! for this backup A at any later time only restarts Master_Down_Timer from its receive
//! time. So a run of absorbed adverts is equivalent to its last one, and replaying that
//! one before anything else reaches the router restores the exact state the router
//! would have had seeing all of them. The silence timer expires at the last absorbed
//! receive time plus the Master_Down_Interval of the arm, the instant the router's
//! own timer would have fired: that interval cannot change while armed (a priority
//! change is an input, synced first; a new interval comes in a reported advert).
//! Anything that could make an advert matter (a
//! priority, interval, version, address or sender change, priority 0) is reported; a
//! report disarms the datapath (`seq` no longer matches) until the driver re-arms.

use std::net::IpAddr;
use std::time::Duration;

use vrrp_common::follow::{Decision, FOLLOW_ABSORB, Follow, Seen, addr_digest, decide};
use vrrp_common::{MAX_ADDRS, WireAddr};

use crate::router::ReceivedAdvert;
use crate::time::Instant;

/// The datapath's and the driver's follow state of one node. A crash (a new daemon,
/// the maps recreated) resets it to the default.
#[derive(Debug, Clone, Default)]
pub(super) struct FollowState {
    // ---- The datapath's ----
    /// The `FOLLOW` map value; `None` is report mode.
    pub follow: Option<Follow>,
    /// Records reported (adverts and silences).
    pub reports: u64,
    /// Receive time of the last absorbed advert.
    pub last_absorbed: Option<Instant>,
    /// When the silence timer expires; other queued silence events are stale.
    pub silence_at: Option<Instant>,
    /// Adverts absorbed, in total.
    pub absorbed: u64,
    // ---- The driver's ----
    /// The advert absorption was armed with (its `rx_time` is tA).
    pub arm: Option<ReceivedAdvert>,
}

impl FollowState {
    /// The datapath's arm is live: the silence timer may report.
    pub fn armed_in_datapath(&self) -> bool {
        self.follow
            .is_some_and(|f| f.mode == FOLLOW_ABSORB && f.seq == self.reports)
    }

    /// The driver is armed and the datapath absorbed an advert since the arm: that
    /// advert started the silence timer, which then stands in for the router's own
    /// (stale) deadline. Without one, nothing would report the silence.
    pub fn silence_covers(&self) -> bool {
        self.arm
            .as_ref()
            .is_some_and(|a| self.last_absorbed.is_some_and(|t| t > a.rx_time))
    }

    /// The datapath's handling of a valid advert received at `now`: [`decide`], then
    /// note an absorbed one and restart the silence timer, or count a reported one.
    pub fn filter(&mut self, seen: &Seen, now: Instant) -> Verdict {
        match self.follow {
            Some(f) if decide(&f, self.reports, seen) == Decision::Absorb => {
                self.last_absorbed = Some(now);
                self.absorbed += 1;
                let silence_at = now + Duration::from_nanos(f.down_ns);
                self.silence_at = Some(silence_at);
                Verdict::Absorbed { silence_at }
            }
            _ => {
                self.reports += 1;
                Verdict::Reported {
                    seq: self.reports,
                    followed_rx: self.last_absorbed,
                }
            }
        }
    }

    /// Forgets the driver's arm and returns the replay it owes the router, if any: the
    /// armed advert at `followed_rx`, when that is later than the arm's own receive time.
    pub fn release(&mut self, followed_rx: Option<Instant>) -> Option<ReceivedAdvert> {
        let arm = self.arm.take()?;
        let rx = followed_rx.filter(|&t| t > arm.rx_time)?;
        Some(ReceivedAdvert { rx_time: rx, ..arm })
    }

    /// Arms absorption of adverts equal to `adv` at report count `seq`.
    pub fn arm(&mut self, adv: &ReceivedAdvert, seq: u64, down: Duration) {
        let down_ns = u64::try_from(down.as_nanos()).unwrap_or(u64::MAX);
        self.follow = Some(Follow::absorbing(&seen(adv), seq, down_ns));
        self.arm = Some(adv.clone());
    }
}

/// What the datapath did with an advert.
pub(super) enum Verdict {
    /// Not reported; the silence timer now expires at `silence_at`.
    Absorbed { silence_at: Instant },
    /// Reported, with the record's `seq` and `followed_rx_ns`.
    Reported {
        seq: u64,
        followed_rx: Option<Instant>,
    },
}

/// The compared fields of `adv` as the datapath sees them on the wire.
pub(super) fn seen(adv: &ReceivedAdvert) -> Seen {
    let count = u8::try_from(adv.addrs.len().min(MAX_ADDRS)).expect("at most MAX_ADDRS");
    let digest = match adv.src {
        IpAddr::V4(_) => {
            let mut addrs = [[0u8; 4]; MAX_ADDRS];
            for (slot, a) in addrs.iter_mut().zip(&adv.addrs) {
                *slot = <[u8; 4]>::narrow(&wide(a));
            }
            addr_digest(&addrs, count)
        }
        IpAddr::V6(_) => {
            let mut addrs = [[0u8; 16]; MAX_ADDRS];
            for (slot, a) in addrs.iter_mut().zip(&adv.addrs) {
                *slot = wide(a);
            }
            addr_digest(&addrs, count)
        }
    };
    Seen {
        src: wide(&adv.src),
        adver_int_cs: adv.max_adver_int_cs,
        priority: adv.priority,
        version: adv.version.number(),
        digest,
    }
}

/// An address as the follow filter holds it (`vrrp_common::WireAddr::wide`).
fn wide(a: &IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v4) => v4.octets().wide(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

//! How long a fault may take to settle once it is undone, derived from the protocol
//! (vrrp-core's Master_Down_Interval for the lowest priority at the longest interval,
//! preempt delay, the VIP lease after a crash) and from the routing recipe's own
//! timers. A bound, not a wait: the runner waits on the condition and fails only
//! past it.

use std::time::Duration;

use super::{config::Params, fault::Fault};
use crate::{
    lab::{Node, Recipe},
    scenario::VERSION,
    timing::{backup_watch, master_down_interval},
};

/// A daemon's start on a loaded 2-core VM (exec, the XDP loader child, netlink),
/// debug builds included: an upper limit, not an expectation.
pub const DAEMON_START: Duration = Duration::from_secs(3);

/// The settle bound and its parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bound {
    pub vrrp: Duration,
    pub routing: Duration,
}

impl Bound {
    pub fn total(&self) -> Duration {
        self.vrrp + self.routing
    }
}

fn longest_interval(params: &[Params; 2]) -> Duration {
    params[0].interval().max(params[1].interval())
}

fn lowest_priority(params: &[Params; 2]) -> u8 {
    params[0].priority.min(params[1].priority)
}

/// The settle bound of `fault` with the nodes' current parameters.
pub fn bound(fault: &Fault, params: &[Params; 2], recipe: Recipe) -> Bound {
    let interval = longest_interval(params);
    let down = master_down_interval(VERSION, lowest_priority(params), interval);
    let preempt = params[0].preempt_wait().max(params[1].preempt_wait());
    let starts = matches!(
        fault,
        Fault::Kill9 { .. } | Fault::Sigterm { .. } | Fault::Restart { .. }
    );
    let lease = if fault.orphans_vip() {
        Duration::from_secs(u64::from(params[0].lease_s.max(params[1].lease_s)))
    } else {
        Duration::ZERO
    };
    let vrrp =
        down + preempt + lease + interval * 2 + if starts { DAEMON_START } else { Duration::ZERO };
    Bound {
        vrrp,
        routing: routing(recipe, fault.may_break_routing()),
    }
}

/// The recipe's convergence once VRRP has settled: the route follows the VIP's /32,
/// and after a fault that may have taken a session down, the session must come back.
/// From the timers in `lab::routing` (docs/routing.md).
pub fn routing(recipe: Recipe, session_lost: bool) -> Duration {
    let s = Duration::from_secs;
    match (recipe, session_lost) {
        // UPDATE/WITHDRAW at once: milliseconds; a second for a loaded VM.
        (Recipe::BirdBgpBfd, false) => s(1),
        // BFD notices, the session waits `error wait time 1, 5` (5 s after repeated
        // errors), `connect retry time 1`, then OPEN/KEEPALIVE; hold time 3 s.
        (Recipe::BirdBgpBfd, true) => s(5 + 1 + 3),
        // MinLSInterval 5 s plus a 1 s tick.
        (Recipe::BirdOspf, false) => s(6),
        // Dead interval 3 s, then the same.
        (Recipe::BirdOspf, true) => s(3 + 6),
        // SPF throttle 0/50/200 ms: a second for a loaded VM.
        (Recipe::FrrOspf, false) => s(1),
        // 1 s dead interval, adjacency back up, SPF.
        (Recipe::FrrOspf, true) => s(1 + 3),
    }
}

/// How long `holder` must hold the VIP alone to count as settled: two
/// Master_Down_Intervals of the lowest priority plus an interval, after which a deaf
/// backup would have taken over; and if the other node outranks the holder with
/// preempt on, its preempt delay too, since it takes over only once that delay has run
/// from its own (re)start or its link's return (vrrp-core's `preempt_after`).
pub fn stable_window(params: &[Params; 2], holder: Node) -> Duration {
    let watch = backup_watch(VERSION, lowest_priority(params), longest_interval(params));
    let (held, other) = match holder {
        Node::A => (&params[0], &params[1]),
        Node::B => (&params[1], &params[0]),
    };
    if other.priority > held.priority && other.preempt {
        watch + other.preempt_wait()
    } else {
        watch
    }
}

/// The longest [`stable_window`] of either holder.
pub fn longest_window(params: &[Params; 2]) -> Duration {
    stable_window(params, Node::A).max(stable_window(params, Node::B))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::fault::Target;

    fn params() -> [Params; 2] {
        let i = Duration::from_millis(50);
        [Params::initial(Node::A, i), Params::initial(Node::B, i)]
    }

    #[test]
    fn crash_waits_for_the_lease_and_a_start() {
        let p = params();
        let kill = bound(
            &Fault::Kill9 {
                target: Target::Master,
            },
            &p,
            Recipe::BirdBgpBfd,
        );
        let term = bound(
            &Fault::Sigterm {
                target: Target::Master,
            },
            &p,
            Recipe::BirdBgpBfd,
        );
        assert_eq!(kill.vrrp - term.vrrp, Duration::from_secs(3));
        let down = master_down_interval(VERSION, 100, Duration::from_millis(50));
        assert_eq!(
            term.vrrp,
            down + Duration::from_millis(2000 + 100) + DAEMON_START
        );
        assert_eq!(kill.routing, Duration::from_secs(1));
    }

    #[test]
    fn longest_interval_and_lowest_priority_decide() {
        let mut p = params();
        p[1].priority = 10;
        p[0].interval_ms = 100;
        let b = bound(
            &Fault::CpuHog {
                target: Target::Backup,
            },
            &p,
            Recipe::BirdBgpBfd,
        );
        let down = master_down_interval(VERSION, 10, Duration::from_millis(100));
        assert_eq!(b.vrrp, down + Duration::from_millis(2000 + 200));
        assert_eq!(b.routing, Duration::from_secs(9));
        let watch = backup_watch(VERSION, 10, Duration::from_millis(100));
        // A (200) outranks B (10) and preempts after 2 s: B's hold counts only after it.
        assert_eq!(stable_window(&p, Node::A), watch);
        assert_eq!(
            stable_window(&p, Node::B),
            watch + Duration::from_millis(2000)
        );
        p[0].preempt = false;
        assert_eq!(stable_window(&p, Node::B), watch);
        assert_eq!(longest_window(&p), watch);
    }
}

//! Every failure scenario on the reference cross-subnet lab: real vrrpd processes,
//! BIRD carrying the VIP's /32 to the router by OSPF, and a client probing the VIP
//! every millisecond. Bounds are generous (a noisy 2-core CI VM); the measured row is
//! printed for each scenario. The `ipv6` module runs the same checks for the IPv6 VIP
//! over the dual-stack BIRD BGP + BFD recipe.

use std::time::Duration;

use vrrp_tests::{
    dual_scenario::{DualOutcome, DualScenario, run_dual},
    lab::{Family, Recipe, require_tools},
    scenario::{Daemon, Outcome, PRIO_B, Scenario, Settings, VERSION, run_with},
    timing::master_down_interval,
};

/// IPv4 runs on BIRD OSPF; IPv6 on BIRD BGP + BFD, the recipe that carries it.
fn settings(family: Family) -> Settings {
    let recipe = match family {
        Family::V4 => Recipe::BirdOspf,
        Family::V6 => Recipe::BirdBgpBfd,
    };
    require_tools(recipe).expect("the lab needs BIRD: run cargo xtask setup");
    Settings {
        vrrpd: env!("CARGO_BIN_EXE_vrrpd").into(),
        recipe,
        family,
        interval: Duration::from_millis(100),
        verbose: true,
    }
}

fn check(family: Family, scenario: Scenario) -> Outcome {
    check_with(family, scenario, Daemon::Vrrpd)
}

fn check_with(family: Family, scenario: Scenario, daemon: Daemon) -> Outcome {
    let out = run_with(&settings(family), scenario, daemon)
        .unwrap_or_else(|e| panic!("{} ({family}): {e:#}", scenario.name()));
    println!("{}\n{}", Outcome::table_header(), out.table_row());
    // Generous: VRRP within 1 s of its floor, the route within 5 s, no probe lost
    // once the new master serves, and no probe answered twice on a clean switch.
    if let (Some(d), Some(f)) = (out.detection, out.floor) {
        assert!(
            d < f + Duration::from_secs(1),
            "detection {d:?} vs floor {f:?}"
        );
    }
    if let Some(r) = out.route_moved {
        assert!(r < Duration::from_secs(5), "route moved after {r:?}");
    }
    assert_eq!(out.lost_after, 0, "probes lost after convergence: {out}");
    out
}

#[test]
fn graceful_stop() {
    graceful_stop_in(Family::V4);
}

fn graceful_stop_in(family: Family) {
    let out = check(family, Scenario::GracefulStop);
    // Priority 0: B waits Skew_Time, not Master_Down_Interval. B's own figure (from
    // the priority-0 advert to its takeover) is below the Master_Down_Interval the
    // timer path would have taken.
    let down = master_down_interval(VERSION, PRIO_B, settings(family).interval);
    let d = out.detection.expect("B reports its detection time");
    assert!(
        d < down,
        "detection {d:?} not below Master_Down_Interval {down:?}: {out}"
    );
    assert!(
        out.vip_moved.unwrap() < Duration::from_millis(300 + 1000),
        "{out}"
    );
    assert_eq!(out.answered_twice, 0, "{out}");
}

#[test]
fn kill_9() {
    check(Family::V4, Scenario::Kill9);
}

#[test]
fn node_loss() {
    no_double_answers(Family::V4, Scenario::NodeLoss);
}

#[test]
fn uplink_cut() {
    no_double_answers(Family::V4, Scenario::UplinkCut);
}

/// [`check`], and no probe answered by both nodes: a clean switch.
fn no_double_answers(family: Family, scenario: Scenario) -> Outcome {
    let out = check(family, scenario);
    assert_eq!(out.answered_twice, 0, "{out}");
    out
}

#[test]
fn partition_then_heal() {
    check(Family::V4, Scenario::PartitionHeal);
}

#[test]
fn return_with_preempt() {
    no_double_answers(Family::V4, Scenario::ReturnPreempt);
}

#[test]
fn return_without_preempt() {
    let out = check(Family::V4, Scenario::ReturnNoPreempt);
    assert_eq!(out.lost, 0, "nothing should move: {out}");
}

#[test]
fn flapping_link() {
    check(Family::V4, Scenario::FlappingLink);
}

/// The scenario itself fails if A took the VIP back before its tracked route was.
#[test]
fn flapping_link_with_route_tracking() {
    no_double_answers(Family::V4, Scenario::FlappingLinkTracked);
}

/// The IPv6 VIP (2001:db8:ff::1/128) on the dual-stack BIRD BGP + BFD recipe: the
/// same scenarios, vrrpd running an IPv6 instance (unicast across the router, hop
/// limit 254 on arrival).
mod ipv6 {
    use super::*;

    const V6: Family = Family::V6;

    #[test]
    fn graceful_stop() {
        graceful_stop_in(V6);
    }

    #[test]
    fn kill_9() {
        check(V6, Scenario::Kill9);
    }

    #[test]
    fn node_loss() {
        no_double_answers(V6, Scenario::NodeLoss);
    }

    #[test]
    fn uplink_cut() {
        no_double_answers(V6, Scenario::UplinkCut);
    }

    #[test]
    fn flapping_link_with_route_tracking() {
        no_double_answers(V6, Scenario::FlappingLinkTracked);
    }

    /// The same rig with keepalived (VRRPv3 over IPv6, unicast across the router):
    /// the lab's IPv6 side does not depend on vrrpd.
    #[test]
    fn keepalived_graceful_stop() {
        vrrp_tests::bench::daemon::require_keepalived().expect("keepalived for the IPv6 rig");
        let out = check_with(V6, Scenario::GracefulStop, Daemon::Keepalived);
        assert_eq!(out.answered_twice, 0, "{out}");
        assert!(
            out.vip_moved.unwrap() < Duration::from_millis(300 + 1000),
            "{out}"
        );
    }
}

// ---- Dual-homed nodes: routed instances over two uplinks, BIRD BGP + BFD, ECMP ----

fn dual(scenario: DualScenario) -> DualOutcome {
    require_tools(Recipe::BirdBgpBfd).expect("the lab needs BIRD: run cargo xtask setup");
    let out = run_dual(
        env!("CARGO_BIN_EXE_vrrpd").as_ref(),
        Duration::from_millis(100),
        scenario,
    )
    .unwrap_or_else(|e| panic!("{}: {e:#}", scenario.name()));
    println!("{out}");
    out
}

#[test]
fn dual_homed_one_uplink_cut_is_no_transition() {
    let out = dual(DualScenario::OneUplinkCut);
    assert_eq!(out.transitions, [0, 0], "{out}");
    // Generous: only BGP's withdrawal over BFD stands between the client and the
    // other router.
    assert!(out.outage < Duration::from_secs(2), "{out}");
}

#[test]
fn dual_homed_both_uplinks_cut_fails_over() {
    let out = dual(DualScenario::BothUplinksCut);
    assert!(out.transitions[1] >= 1, "B took over: {out}");
    assert!(out.outage < Duration::from_secs(5), "{out}");
}

#[test]
fn dual_homed_flapping_uplink_is_no_transition() {
    let out = dual(DualScenario::FlappingUplink);
    assert_eq!(out.transitions, [0, 0], "{out}");
}

#[test]
fn dual_homed_return_with_route_tracking() {
    let out = dual(DualScenario::ReturnTracked);
    // A's return costs no more than a failover does: a second outage would be the
    // route to A missing while A already holds the VIP.
    assert!(out.outage < Duration::from_secs(1), "{out}");
}

//! Every failure scenario on the reference cross-subnet lab: real vrrpd processes,
//! BIRD carrying the VIP's /32 to the router by OSPF, and a client probing the VIP
//! every millisecond. Bounds are generous (a noisy 2-core CI VM); the measured row is
//! printed for each scenario.

use std::time::Duration;

use vrrp_tests::{
    dual_scenario::{DualOutcome, DualScenario, run_dual},
    lab::{Recipe, require_tools},
    scenario::{Outcome, PRIO_B, Scenario, Settings, VERSION, run},
    timing::master_down_interval,
};

fn settings() -> Settings {
    require_tools(Recipe::BirdOspf).expect("the lab needs BIRD: run cargo xtask setup");
    Settings {
        vrrpd: env!("CARGO_BIN_EXE_vrrpd").into(),
        recipe: Recipe::BirdOspf,
        interval: Duration::from_millis(100),
        verbose: true,
    }
}

fn check(scenario: Scenario) -> Outcome {
    let out = run(&settings(), scenario).unwrap_or_else(|e| panic!("{}: {e:#}", scenario.name()));
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
    let out = check(Scenario::GracefulStop);
    // Priority 0: B waits Skew_Time, not Master_Down_Interval. B's own figure (from
    // the priority-0 advert to its takeover) is below the Master_Down_Interval the
    // timer path would have taken.
    let down = master_down_interval(VERSION, PRIO_B, settings().interval);
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
    check(Scenario::Kill9);
}

#[test]
fn node_loss() {
    let out = check(Scenario::NodeLoss);
    assert_eq!(out.answered_twice, 0, "{out}");
}

#[test]
fn uplink_cut() {
    let out = check(Scenario::UplinkCut);
    assert_eq!(out.answered_twice, 0, "{out}");
}

#[test]
fn partition_then_heal() {
    check(Scenario::PartitionHeal);
}

#[test]
fn return_with_preempt() {
    let out = check(Scenario::ReturnPreempt);
    assert_eq!(out.answered_twice, 0, "{out}");
}

#[test]
fn return_without_preempt() {
    let out = check(Scenario::ReturnNoPreempt);
    assert_eq!(out.lost, 0, "nothing should move: {out}");
}

#[test]
fn flapping_link() {
    check(Scenario::FlappingLink);
}

/// The scenario itself fails if A took the VIP back before its tracked route was.
#[test]
fn flapping_link_with_route_tracking() {
    let out = check(Scenario::FlappingLinkTracked);
    assert_eq!(out.answered_twice, 0, "{out}");
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

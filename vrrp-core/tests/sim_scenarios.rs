//! Deterministic failure scenarios in the simulator, with exact expected times.

use std::time::Duration;

use vrrp_core::router::{Reason, State, TrackUpdate, TrackWeight};
use vrrp_core::sim::{LinkSpec, ScriptEvent, Sim, TraceEvent, node_config};
use vrrp_core::time::Instant;

const DELAY: Duration = Duration::from_millis(5);

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn ns(n: u64) -> Instant {
    Instant::from_nanos(n)
}

/// Nodes with these priorities, all started at t=0, 5 ms links.
fn started(priorities: &[u8]) -> Sim {
    let configs = priorities
        .iter()
        .enumerate()
        .map(|(i, &p)| node_config(i, p))
        .collect();
    let mut sim = Sim::new(1, configs, LinkSpec::fixed(DELAY));
    for i in 0..priorities.len() {
        sim.schedule(ms(0), ScriptEvent::Start(i));
    }
    sim
}

/// (time, node, to, reason) of every transition.
fn transitions(sim: &Sim) -> Vec<(Instant, usize, State, Reason)> {
    sim.trace()
        .iter()
        .filter_map(|e| match &e.event {
            TraceEvent::Transition(t) => Some((e.at, e.node, t.to, t.reason.clone())),
            _ => None,
        })
        .collect()
}

fn became_master(sim: &Sim, after: Instant) -> Vec<(Instant, usize, Reason)> {
    transitions(sim)
        .into_iter()
        .filter(|(at, _, to, _)| *at > after && *to == State::Master)
        .map(|(at, node, _, reason)| (at, node, reason))
        .collect()
}

#[test]
fn highest_priority_wins_the_initial_election() {
    let mut sim = started(&[100, 200, 150]);
    sim.run_until(ms(10_000));
    // Priority 200: Master_Down_Interval = 3 s + 56/256 s.
    assert_eq!(
        became_master(&sim, ms(0)),
        [(ns(3_218_750_000), 1, Reason::MasterDownTimerExpired)]
    );
    assert_eq!(sim.masters(), [1]);
    assert_eq!(sim.vip_holders(), [1]);
}

#[test]
fn equal_priorities_break_the_tie_on_the_higher_address() {
    let mut sim = started(&[100, 100]);
    sim.run_until(ms(10_000));
    // Both time out together; 10.0.0.1 yields to 10.0.0.2 when their adverts cross.
    let t = transitions(&sim);
    assert!(t.contains(&(
        ns(3_614_375_000),
        0,
        State::Backup,
        Reason::HigherAddressAdvert
    )));
    assert_eq!(sim.masters(), [1]);
}

#[test]
fn crash_of_master_detected_after_master_down_interval() {
    let mut sim = started(&[100, 200]);
    // Master since 3.21875 s, adverts then on the 1 s grid: 4 s, 5 s; the crash at 6 s
    // comes before that advert.
    sim.schedule(ms(6_000), ScriptEvent::Crash(1));
    sim.run_until(ms(20_000));
    let last_rx = ms(5_000) + DELAY;
    let takeover = last_rx + Duration::from_nanos(3_609_375_000);
    assert_eq!(
        became_master(&sim, ms(6_000)),
        [(takeover, 0, Reason::MasterDownTimerExpired)]
    );
    assert_eq!(sim.vip_holders(), [0]);
}

#[test]
fn graceful_stop_hands_over_after_skew_time() {
    let mut sim = started(&[100, 200]);
    sim.schedule(ms(6_000), ScriptEvent::Stop(1));
    sim.run_until(ms(20_000));
    let takeover = ms(6_000) + DELAY + Duration::from_nanos(609_375_000);
    assert_eq!(
        became_master(&sim, ms(6_000)),
        [(takeover, 0, Reason::PriorityZeroReceived)]
    );
    assert_eq!(sim.state(1), Some(State::Initialize));
}

#[test]
fn returning_higher_priority_router_preempts_only_if_allowed() {
    for preempt in [true, false] {
        let mut configs = vec![node_config(0, 100), node_config(1, 200)];
        configs[1].preempt = preempt;
        let mut sim = Sim::new(1, configs, LinkSpec::fixed(DELAY));
        sim.schedule(ms(0), ScriptEvent::Start(0));
        sim.schedule(ms(0), ScriptEvent::Start(1));
        sim.schedule(ms(6_000), ScriptEvent::Crash(1));
        sim.schedule(ms(15_000), ScriptEvent::Start(1));
        sim.run_until(ms(30_000));
        assert_eq!(
            sim.masters(),
            if preempt { [1] } else { [0] },
            "preempt {preempt}"
        );
        if preempt {
            // Hears node 0 (priority 100) at most 1 s after restart, then waits
            // 56/256 s of skew.
            let (at, node, reason) = became_master(&sim, ms(15_000))[0].clone();
            assert_eq!((node, reason), (1, Reason::Preempted));
            assert!(at <= ms(16_000) + DELAY + Duration::from_nanos(218_750_000));
        }
    }
}

#[test]
fn tracked_fault_on_master_hands_over_after_skew_time() {
    let mut sim = started(&[100, 200]);
    let down = TrackUpdate {
        object: "chk".into(),
        up: false,
        weight: TrackWeight::Fault,
    };
    sim.schedule(ms(6_000), ScriptEvent::Track(1, down));
    sim.run_until(ms(10_000));
    let takeover = ms(6_000) + DELAY + Duration::from_nanos(609_375_000);
    assert_eq!(
        became_master(&sim, ms(6_000)),
        [(takeover, 0, Reason::PriorityZeroReceived)]
    );
    assert_eq!(sim.state(1), Some(State::Fault));
}

#[test]
fn priority_drop_on_master_lets_the_backup_preempt() {
    let mut sim = started(&[150, 200]);
    let degraded = TrackUpdate {
        object: "uplink".into(),
        up: false,
        weight: TrackWeight::Delta(-100),
    };
    sim.schedule(ms(6_000), ScriptEvent::Track(1, degraded));
    sim.run_until(ms(10_000));
    // The master re-advertises at once with 100; node 0 (150) waits 106/256 s.
    let takeover = ms(6_000) + DELAY + Duration::from_nanos(414_062_500);
    assert_eq!(
        became_master(&sim, ms(6_000)),
        [(takeover, 0, Reason::Preempted)]
    );
    assert_eq!(sim.masters(), [0]);
}

#[test]
fn link_down_master_is_detected_by_timeout() {
    let mut sim = started(&[100, 200]);
    sim.schedule(ms(6_000), ScriptEvent::LinkDown(1));
    sim.schedule(ms(12_000), ScriptEvent::LinkUp(1));
    sim.run_until(ms(20_000));
    let took = became_master(&sim, ms(6_000));
    assert_eq!(
        (took[0].1, took[0].2.clone()),
        (0, Reason::MasterDownTimerExpired)
    );
    assert_eq!(
        took[0].0,
        ms(5_000) + DELAY + Duration::from_nanos(3_609_375_000)
    );
    // Back up at 12 s: Backup, then it preempts the lower master.
    assert_eq!(sim.masters(), [1]);
}

#[test]
fn partition_makes_two_masters_and_healing_one() {
    let mut sim = started(&[100, 200, 150]);
    sim.schedule(ms(6_000), ScriptEvent::Partition(vec![0, 1, 0]));
    sim.run_until(ms(12_000));
    assert_eq!(sim.masters(), [1, 2]);
    sim.schedule(ms(12_000), ScriptEvent::Heal);
    sim.run_until(ms(14_000));
    assert_eq!(sim.masters(), [1]);
    assert_eq!(sim.vip_holders(), [1]);
}

#[test]
fn same_seed_same_run() {
    let run = |seed| {
        let configs = (0..5).map(|i| node_config(i, 50 + 30 * i as u8)).collect();
        let link = LinkSpec {
            delay_min: Duration::from_millis(1),
            delay_max: Duration::from_millis(80),
            loss_percent: 20,
        };
        let mut sim = Sim::new(seed, configs, link);
        for i in 0..5 {
            sim.schedule(ms(i as u64 * 100), ScriptEvent::Start(i));
        }
        sim.schedule(ms(8_000), ScriptEvent::Crash(4));
        sim.run_until(ms(20_000));
        sim.trace().to_vec()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

#[test]
fn trace_is_readable() {
    let mut sim = started(&[100, 200]);
    sim.schedule(ms(5_000), ScriptEvent::Stop(1));
    sim.run_until(ms(6_000));
    let text = sim.format_trace();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 8, "{text}");
    assert!(
        lines[5].contains("r1") && lines[5].contains("Stop(1)"),
        "{text}"
    );
    assert!(
        lines[7].contains("backup -> master (priority_zero_received) prio 100")
            && lines[7].contains("5.614375s"),
        "{text}"
    );
}

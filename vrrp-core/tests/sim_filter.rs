//! The follow filter changes no election: the simulator's filter mode against the
//! plain simulator.
//!
//! Each case builds a random network (2 to 8 routers, random priorities, preempt flags
//! and delays, intervals, address lists, link delays) and a random schedule of faults
//! and operator actions (crashes, stops, starts, link down/up, partitions, heals,
//! tracking weights and faults, loss, priority changes, link changes), runs it twice
//! from the same seed, once with every advert reaching the routers and once behind the
//! datapath's follow filter (`Sim::set_filter`), and requires the same transitions
//! (time, node, from, to, reason, and also the transition's last advert time and
//! priority) and the same advert deliveries. A failure prints the shrunk schedule and
//! both traces, adverts and the filter's work included.
//!
//! The generators are adapted from `sim_props.rs`; here delays may exceed a quarter
//! interval too, since no timing bound is checked, only equivalence.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use vrrp_core::router::{TrackUpdate, TrackWeight, Transition, Version};
use vrrp_core::sim::{LinkSpec, ScriptEvent, Sim, TraceEvent, VIP, format_trace, node_config};
use vrrp_core::time::Instant;

/// A second virtual address, for address lists that differ between routers.
const VIP2: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 1, 255, 2));

/// A random network: one entry per router in each vector.
#[derive(Debug, Clone)]
struct Net {
    seed: u64,
    /// Every router speaks v2 (intervals in whole seconds) instead of v3.
    v2: bool,
    priorities: Vec<u8>,
    preempt: Vec<bool>,
    interval_cs: Vec<u16>,
    /// Preempt delay per router, in centiseconds.
    preempt_delay_cs: Vec<u16>,
    /// Address list per router: 0 `[VIP]`, 1 `[VIP, VIP2]`, 2 `[VIP2, VIP]` (the same
    /// set in another order: accepted, but a different digest).
    vips: Vec<u8>,
    /// Link delay range in milliseconds.
    delay_ms: (u64, u64),
}

impl Net {
    fn len(&self) -> usize {
        self.priorities.len()
    }

    fn max_interval(&self) -> Duration {
        Duration::from_millis(u64::from(*self.interval_cs.iter().max().unwrap()) * 10)
    }

    /// The simulator with every router started within the first 50 ms.
    fn sim(&self, filter: bool) -> Sim {
        let configs = (0..self.len())
            .map(|i| {
                let mut c = node_config(i, self.priorities[i]);
                c.preempt = self.preempt[i];
                c.advert_interval_cs = self.interval_cs[i];
                if self.v2 {
                    c.version = Version::V2;
                }
                c.preempt_delay = Duration::from_millis(u64::from(self.preempt_delay_cs[i]) * 10);
                c.vips = match self.vips[i] {
                    0 => vec![VIP],
                    1 => vec![VIP, VIP2],
                    _ => vec![VIP2, VIP],
                };
                c
            })
            .collect();
        let link = LinkSpec {
            delay_min: Duration::from_millis(self.delay_ms.0),
            delay_max: Duration::from_millis(self.delay_ms.1),
            loss_percent: 0,
        };
        let mut sim = Sim::new(self.seed, configs, link);
        sim.set_filter(filter);
        for i in 0..self.len() {
            sim.schedule(
                Instant::from_millis((i as u64 * 7) % 50),
                ScriptEvent::Start(i),
            );
        }
        sim
    }

    /// Long enough for any election to settle (as in `sim_props.rs`).
    fn settle(&self) -> Duration {
        let delay =
            Duration::from_millis(u64::from(*self.preempt_delay_cs.iter().max().unwrap()) * 10);
        delay + self.max_interval() * (8 + 3 * self.len() as u32)
    }
}

/// `n` routers, any of them may be an owner (priority 255). One network in ten is v2
/// (intervals of 1 or 2 s). `agreeing` gives every router `[VIP]` and, in v2, one
/// interval (v2 routers ignore other intervals); otherwise one network in five has
/// routers with other address lists (ignored, or only reordered).
fn net(agreeing: bool) -> impl Strategy<Value = Net> {
    (2usize..=8, any::<u64>(), proptest::bool::weighted(0.1)).prop_flat_map(move |(n, seed, v2)| {
        let interval = if v2 {
            prop_oneof![Just(100u16), Just(200)].boxed()
        } else {
            prop_oneof![Just(10u16), Just(20), Just(25), Just(50)].boxed()
        };
        let mixed = proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(2)], n);
        let intervals = if v2 && agreeing {
            interval.prop_map(move |i| vec![i; n]).boxed()
        } else {
            proptest::collection::vec(interval, n).boxed()
        };
        let vips = if agreeing {
            Just(vec![0u8; n]).boxed()
        } else {
            prop_oneof![4 => Just(vec![0u8; n]), 1 => mixed].boxed()
        };
        (
            Just(seed),
            Just(v2),
            proptest::collection::vec(1u8..=255, n),
            proptest::collection::vec(any::<bool>(), n),
            intervals,
            proptest::collection::vec(prop_oneof![Just(0u16), 1u16..=100], n),
            vips,
            (0u64..=10, 0u64..=40),
        )
            .prop_map(
                |(
                    seed,
                    v2,
                    priorities,
                    preempt,
                    interval_cs,
                    preempt_delay_cs,
                    vips,
                    (lo, extra),
                )| {
                    Net {
                        seed,
                        v2,
                        priorities,
                        preempt,
                        interval_cs,
                        preempt_delay_cs,
                        vips,
                        delay_ms: (lo, lo + extra),
                    }
                },
            )
    })
}

/// A chaos event; node indices are taken modulo the network size so shrinking the
/// network keeps the schedule valid.
#[derive(Debug, Clone)]
enum Chaos {
    Crash(usize),
    Stop(usize),
    Start(usize),
    LinkDown(usize),
    LinkUp(usize),
    Partition(Vec<u8>),
    Heal,
    Weight(usize, bool, i16),
    Fault(usize, bool),
    Loss(u8),
    Priority(usize, u8),
    /// One direction of one link: (from, to, min delay ms, extra ms, loss %).
    Link(usize, usize, u64, u64, u8),
}

fn chaos() -> impl Strategy<Value = Chaos> {
    prop_oneof![
        (0usize..8).prop_map(Chaos::Crash),
        (0usize..8).prop_map(Chaos::Stop),
        (0usize..8).prop_map(Chaos::Start),
        (0usize..8).prop_map(Chaos::LinkDown),
        (0usize..8).prop_map(Chaos::LinkUp),
        proptest::collection::vec(0u8..3, 8).prop_map(Chaos::Partition),
        Just(Chaos::Heal),
        (0usize..8, any::<bool>(), -120i16..120).prop_map(|(i, up, w)| Chaos::Weight(i, up, w)),
        (0usize..8, any::<bool>()).prop_map(|(i, up)| Chaos::Fault(i, up)),
        (0u8..60).prop_map(Chaos::Loss),
        (0usize..8, 1u8..=255).prop_map(|(i, p)| Chaos::Priority(i, p)),
        (0usize..8, 0usize..8, 0u64..=30, 0u64..=30, 0u8..30)
            .prop_map(|(a, b, lo, extra, loss)| Chaos::Link(a, b, lo, extra, loss)),
    ]
}

impl Chaos {
    fn script(&self, n: usize) -> ScriptEvent {
        let track = |object: &str, up, weight| TrackUpdate {
            object: object.into(),
            up,
            weight,
        };
        match self {
            Chaos::Crash(i) => ScriptEvent::Crash(i % n),
            Chaos::Stop(i) => ScriptEvent::Stop(i % n),
            Chaos::Start(i) => ScriptEvent::Start(i % n),
            Chaos::LinkDown(i) => ScriptEvent::LinkDown(i % n),
            Chaos::LinkUp(i) => ScriptEvent::LinkUp(i % n),
            Chaos::Partition(sides) => ScriptEvent::Partition(sides[..n].to_vec()),
            Chaos::Heal => ScriptEvent::Heal,
            Chaos::Weight(i, up, w) => {
                ScriptEvent::Track(i % n, track("weight", *up, TrackWeight::Delta(*w)))
            }
            Chaos::Fault(i, up) => {
                ScriptEvent::Track(i % n, track("fault", *up, TrackWeight::Fault))
            }
            Chaos::Loss(p) => ScriptEvent::SetLoss(*p),
            Chaos::Priority(i, p) => ScriptEvent::SetPriority(i % n, *p),
            Chaos::Link(a, b, lo, extra, loss) => ScriptEvent::SetLink {
                from: a % n,
                to: b % n,
                spec: LinkSpec {
                    delay_min: Duration::from_millis(*lo),
                    delay_max: Duration::from_millis(lo + extra),
                    loss_percent: *loss,
                },
            },
        }
    }
}

/// Every transition, with its node: time, from, to and reason, and also the receive
/// time of the last advert heard and the priority. Ordered by time, then node: two
/// nodes' timers that fire at the same instant run in the event queue's order, which
/// the filter's extra events may change without changing what happens (seen: two
/// backups of one partition taking over at the same instant, listed either way).
fn transitions(sim: &Sim) -> Vec<(usize, Transition)> {
    let mut v: Vec<(usize, Transition)> = sim
        .trace()
        .iter()
        .filter_map(|e| match &e.event {
            TraceEvent::Transition(t) => Some((e.node, t.clone())),
            _ => None,
        })
        .collect();
    // Stable: one node's transitions at one instant keep their order.
    v.sort_by_key(|(node, t)| (t.at, *node));
    v
}

/// Every advert that reached a node's datapath, absorbed or not: (time, to, from,
/// priority). Equal lists mean equal sending (and equal use of the random source).
/// Sorted, so simultaneous deliveries compare as a set (see [`transitions`]).
fn deliveries(sim: &Sim) -> Vec<(Instant, usize, usize, u8)> {
    let mut v: Vec<(Instant, usize, usize, u8)> =
        sim.trace()
            .iter()
            .filter_map(|e| match e.event {
                TraceEvent::Received { from, priority }
                | TraceEvent::Absorbed { from, priority } => Some((e.at, e.node, from, priority)),
                _ => None,
            })
            .collect();
    v.sort_unstable();
    v
}

fn absorbed(sim: &Sim) -> u64 {
    (0..sim.len()).map(|i| sim.absorbed(i)).sum()
}

/// Runs `schedule` until `end` without and with the filter; both sims.
fn both(net: &Net, schedule: &[(Instant, ScriptEvent)], end: Instant) -> (Sim, Sim) {
    let run = |filter| {
        let mut sim = net.sim(filter);
        for (at, ev) in schedule {
            sim.schedule(*at, ev.clone());
        }
        sim.run_until(end);
        sim
    };
    (run(false), run(true))
}

/// The two runs made the same transitions and the same deliveries.
fn check_equivalent(plain: &Sim, filtered: &Sim) -> Result<(), TestCaseError> {
    let (a, b) = (transitions(plain), transitions(filtered));
    let diff = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .or_else(|| (a.len() != b.len()).then_some(a.len().min(b.len())));
    let what = if let Some(k) = diff {
        format!(
            "transitions differ at #{k}: plain {:?}, filtered {:?}",
            a.get(k),
            b.get(k)
        )
    } else if deliveries(plain) != deliveries(filtered) {
        "same transitions, different advert deliveries".to_string()
    } else {
        return Ok(());
    };
    Err(TestCaseError::fail(format!(
        "{what}\n--- plain ---\n{}--- filtered ---\n{}",
        format_trace(plain.trace(), true),
        format_trace(filtered.trace(), true)
    )))
}

/// Each case runs the simulator twice; about 10 ms per case in a debug build.
/// `PROPTEST_CASES` overrides the count for a deeper run.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        max_shrink_iters: 20_000,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(3000))]

    /// Any chaos, then a quiet connected network for a while: the filter changes no
    /// transition and no delivery.
    #[test]
    fn filter_changes_no_transition(
        net in net(false),
        events in proptest::collection::vec((0u32..1000, chaos()), 0..12),
    ) {
        let n = net.len();
        // Events spread over 20 intervals (permille of that span).
        let span = net.max_interval() * 20;
        let mut schedule: Vec<(Instant, ScriptEvent)> = events
            .iter()
            .map(|(permille, ev)| (Instant::ZERO + span * *permille / 1000, ev.script(n)))
            .collect();
        let chaos_end = Instant::ZERO + span;
        for i in 0..n {
            schedule.push((chaos_end, ScriptEvent::LinkUp(i)));
        }
        schedule.push((chaos_end, ScriptEvent::Heal));
        schedule.push((chaos_end, ScriptEvent::SetLoss(0)));
        let (plain, filtered) = both(&net, &schedule, chaos_end + net.settle());
        check_equivalent(&plain, &filtered)?;
    }
}

proptest! {
    #![proptest_config(config(500))]

    /// A quiet network: still equivalent, and once elected every backup's datapath
    /// absorbs its master's adverts (so the property above is not vacuous).
    #[test]
    fn quiet_network_absorbs_steady_adverts(net in net(true)) {
        let end = Instant::ZERO + net.settle() + net.max_interval() * 20;
        let (plain, filtered) = both(&net, &[], end);
        check_equivalent(&plain, &filtered)?;
        let masters = filtered.masters();
        prop_assert_eq!(masters.len(), 1);
        for b in (0..net.len()).filter(|&b| b != masters[0]) {
            prop_assert!(
                filtered.absorbed(b) > 0,
                "r{b} absorbed nothing\n{}",
                format_trace(filtered.trace(), true)
            );
        }
    }
}

/// A steady backup sees almost nothing: after the election, the master's adverts are
/// absorbed, not reported.
#[test]
fn steady_backup_absorbs_nearly_every_advert() {
    let net = Net {
        seed: 1,
        v2: false,
        priorities: vec![200, 100],
        preempt: vec![true, true],
        interval_cs: vec![10, 10],
        preempt_delay_cs: vec![0, 0],
        vips: vec![0, 0],
        delay_ms: (1, 3),
    };
    let end = Instant::from_millis(60_000);
    let (plain, filtered) = both(&net, &[], end);
    check_equivalent(&plain, &filtered).unwrap();
    assert_eq!(filtered.masters(), vec![0]);
    let reported = deliveries(&plain).len() as u64 - absorbed(&filtered);
    // About 600 adverts in a minute: only the first is reported (it arms absorption).
    assert!(
        absorbed(&filtered) > 590,
        "absorbed {}",
        absorbed(&filtered)
    );
    assert_eq!(reported, 1);
}

/// The master dies right after the advert that armed a backup: nothing is absorbed
/// after the arm, so no silence timer runs, and the backup's own deadline must still
/// fire (the driver syncs and feeds the timer). Regression: a driver that suppressed
/// the router's deadline whenever armed left this backup waiting forever.
#[test]
fn backup_armed_by_the_last_advert_still_takes_over() {
    let net = Net {
        seed: 7,
        v2: false,
        priorities: vec![200, 100],
        preempt: vec![true, true],
        interval_cs: vec![10, 10],
        preempt_delay_cs: vec![0, 0],
        vips: vec![0, 0],
        delay_ms: (1, 1),
    };
    let run = |filter| {
        let mut sim = net.sim(filter);
        // r1 restarts under the elected master; its first advert after that arms it.
        sim.schedule(Instant::from_millis(2_000), ScriptEvent::Crash(1));
        sim.schedule(Instant::from_millis(2_001), ScriptEvent::Start(1));
        sim.run_until(Instant::from_millis(2_001));
        while !sim.trace().iter().any(|e| {
            // (Adverts leave on the interval's grid: one arrives with the restart.)
            e.node == 1
                && e.at >= Instant::from_millis(2_001)
                && e.event
                    == TraceEvent::Received {
                        from: 0,
                        priority: 200,
                    }
        }) {
            sim.run_until(sim.now() + Duration::from_millis(1));
        }
        let crash = sim.now() + Duration::from_micros(1);
        sim.schedule(crash, ScriptEvent::Crash(0));
        sim.run_until(crash + Duration::from_secs(2));
        sim
    };
    let (plain, filtered) = (run(false), run(true));
    check_equivalent(&plain, &filtered).unwrap();
    assert_eq!(filtered.masters(), vec![1]);
    assert_eq!(filtered.absorbed(1), 0, "armed, then nothing to absorb");
}

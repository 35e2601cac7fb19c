//! Election properties over random schedules in the simulator.
//!
//! Each property builds a random network (2 to 8 routers, random priorities, preempt
//! flags, intervals and link delays), runs a random or scripted fault schedule in
//! virtual time, and checks one claim. Delays are kept below a quarter of the smallest
//! advert interval: the bounds below are stated for a network whose one-way delay is
//! well under one interval. Loss is only injected before the check window ("quiet"
//! means loss-free and connected). A failure prints the shrunk schedule and its trace.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use vrrp_core::router::{
    Reason, Router, State, TrackUpdate, TrackWeight, Version, master_down_interval, skew_time,
};
use vrrp_core::sim::{LinkSpec, ScriptEvent, Sim, TraceEvent, node_config};
use vrrp_core::time::Instant;

/// A random network: one entry per router in each vector.
#[derive(Debug, Clone)]
struct Net {
    seed: u64,
    priorities: Vec<u8>,
    preempt: Vec<bool>,
    interval_cs: Vec<u16>,
    /// Preempt delay per router, in centiseconds.
    preempt_delay_cs: Vec<u16>,
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
    fn sim(&self) -> Sim {
        let configs = (0..self.len())
            .map(|i| {
                let mut c = node_config(i, self.priorities[i]);
                c.preempt = self.preempt[i];
                c.advert_interval_cs = self.interval_cs[i];
                c.preempt_delay = Duration::from_millis(u64::from(self.preempt_delay_cs[i]) * 10);
                c
            })
            .collect();
        let link = LinkSpec {
            delay_min: Duration::from_millis(self.delay_ms.0),
            delay_max: Duration::from_millis(self.delay_ms.1),
            loss_percent: 0,
        };
        let mut sim = Sim::new(self.seed, configs, link);
        for i in 0..self.len() {
            sim.schedule(
                Instant::from_millis((i as u64 * 7) % 50),
                ScriptEvent::Start(i),
            );
        }
        sim
    }

    /// Long enough for any election to settle: the longest preempt delay, a full
    /// Master_Down_Interval (under 4 intervals) and a chain of preemptions (each under
    /// 2 intervals plus delays).
    fn settle(&self) -> Duration {
        let delay =
            Duration::from_millis(u64::from(*self.preempt_delay_cs.iter().max().unwrap()) * 10);
        delay + self.max_interval() * (8 + 3 * self.len() as u32)
    }
}

/// `n` routers; `same_interval` gives every router one interval. Priorities stay
/// below 255 unless `owner` (then router 0 may be the owner).
fn net(same_interval: bool, owner: bool) -> impl Strategy<Value = Net> {
    (2usize..=8, any::<u64>()).prop_flat_map(move |(n, seed)| {
        let max_prio = if owner { 255u8 } else { 254 };
        let interval = prop_oneof![Just(10u16), Just(20), Just(25), Just(50)];
        let intervals = if same_interval {
            interval.prop_map(move |i| vec![i; n]).boxed()
        } else {
            proptest::collection::vec(interval, n).boxed()
        };
        (
            Just(seed),
            proptest::collection::vec(1u8..=max_prio, n),
            proptest::collection::vec(any::<bool>(), n),
            intervals,
            proptest::collection::vec(prop_oneof![Just(0u16), 1u16..=100], n),
            (0u64..=10, 0u64..=15),
        )
            .prop_map(
                |(seed, priorities, preempt, interval_cs, preempt_delay_cs, (lo, extra))| {
                    // At most 25 ms one way: under a quarter of the 100 ms minimum interval.
                    let delay_ms = (lo, (lo + extra).min(25));
                    Net {
                        seed,
                        priorities,
                        preempt,
                        interval_cs,
                        preempt_delay_cs,
                        delay_ms,
                    }
                },
            )
    })
}

/// Routers that are running and not in Fault: the ones that can be master.
fn eligible(sim: &Sim) -> Vec<usize> {
    (0..sim.len())
        .filter(|&i| matches!(sim.state(i), Some(State::Backup | State::Master)))
        .collect()
}

fn router(sim: &Sim, i: usize) -> &Router {
    sim.router(i).expect("live router")
}

fn fail(what: String, sim: &Sim) -> TestCaseError {
    TestCaseError::fail(format!("{what}\nat {}\n{}", sim.now(), sim.format_trace()))
}

/// Exactly one master among the eligible routers (none if none is eligible), holding
/// the VIPs alone, and no eligible backup that would preempt it outranks it.
fn check_elected(sim: &Sim) -> Result<Option<usize>, TestCaseError> {
    let eligible = eligible(sim);
    let masters = sim.masters();
    if eligible.is_empty() {
        return if masters.is_empty() {
            Ok(None)
        } else {
            Err(fail(format!("masters {masters:?} without eligible"), sim))
        };
    }
    let [m] = masters[..] else {
        return Err(fail(format!("masters {masters:?}, want exactly one"), sim));
    };
    if sim.vip_holders() != [m] {
        return Err(fail(
            format!("VIPs held by {:?}, master is {m}", sim.vip_holders()),
            sim,
        ));
    }
    let pm = router(sim, m).effective_priority();
    for b in eligible {
        let r = router(sim, b);
        let preempts = r.config().preempt || r.config().is_owner();
        if b != m && preempts && r.effective_priority() > pm {
            return Err(fail(
                format!(
                    "r{b} (prio {}, preempt) outranks master r{m} (prio {pm})",
                    r.effective_priority()
                ),
                sim,
            ));
        }
    }
    Ok(Some(m))
}

/// With every link up, a started router is in Fault exactly when a fault-weighted
/// object is down, and its effective priority is the configured one plus the weights
/// (positive ones while up, negative ones while down) clamped to 1..=254.
fn check_fault_and_priority(sim: &Sim) -> Result<(), TestCaseError> {
    for i in 0..sim.len() {
        let Some(r) = sim.router(i).filter(|r| r.state() != State::Initialize) else {
            continue;
        };
        let faulted = sim
            .tracked(i)
            .any(|t| !t.up && t.weight == TrackWeight::Fault);
        if faulted != (r.state() == State::Fault) {
            return Err(fail(
                format!(
                    "r{i} is {}, fault-tracked object down: {faulted}",
                    r.state()
                ),
                sim,
            ));
        }
        let delta: i32 = sim
            .tracked(i)
            .map(|t| match t.weight {
                TrackWeight::Delta(w) if (w > 0) == t.up && w != 0 => i32::from(w),
                _ => 0,
            })
            .sum();
        let base = r.config().priority;
        let want = if base == 255 {
            255
        } else {
            (i32::from(base) + delta).clamp(1, 254)
        };
        if i32::from(r.effective_priority()) != want {
            return Err(fail(
                format!("r{i} priority {} want {want}", r.effective_priority()),
                sim,
            ));
        }
    }
    Ok(())
}

/// Transitions to Master in `(after, until]`: (time, node, reason).
fn masters_between(sim: &Sim, after: Instant, until: Instant) -> Vec<(Instant, usize, Reason)> {
    sim.trace()
        .iter()
        .filter(|e| e.at > after && e.at <= until)
        .filter_map(|e| match &e.event {
            TraceEvent::Transition(t) if t.to == State::Master => {
                Some((e.at, e.node, t.reason.clone()))
            }
            _ => None,
        })
        .collect()
}

/// Converge from a cold start; returns the master and the time.
fn converge(net: &Net, sim: &mut Sim) -> Result<(usize, Instant), TestCaseError> {
    let t = Instant::ZERO + net.settle();
    sim.run_until(t);
    match check_elected(sim)? {
        Some(m) => Ok((m, t)),
        None => Err(fail("nobody eligible after a cold start".into(), sim)),
    }
}

// ---- Random fault schedules -----------------------------------------------------------

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
        }
    }
}

/// About 1 ms per case in a debug build: the whole file runs in well under a minute.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        max_shrink_iters: 50_000,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(4000))]

    /// After any chaos, once the network is quiet (no loss) and connected (healed,
    /// links up), exactly one master is elected and no preempting router outranks it;
    /// it stays master while nothing changes.
    #[test]
    fn quiet_connected_network_elects_one_master(
        net in net(false, true),
        events in proptest::collection::vec((0u32..1000, chaos()), 0..12),
    ) {
        let n = net.len();
        let mut sim = net.sim();
        // Events spread over 20 intervals (permille of that span).
        let span = net.max_interval() * 20;
        for (permille, ev) in &events {
            sim.schedule(Instant::ZERO + span * *permille / 1000, ev.script(n));
        }
        let chaos_end = Instant::ZERO + span;
        for i in 0..n {
            sim.schedule(chaos_end, ScriptEvent::LinkUp(i));
        }
        sim.schedule(chaos_end, ScriptEvent::Heal);
        sim.schedule(chaos_end, ScriptEvent::SetLoss(0));
        let check = chaos_end + net.settle();
        sim.run_until(check);
        check_fault_and_priority(&sim)?;
        let master = check_elected(&sim)?;
        // Stable: no more elections while the network stays quiet.
        let end = check + net.max_interval() * 5;
        sim.run_until(end);
        let later = masters_between(&sim, check, end);
        prop_assert!(later.is_empty(), "{}", fail(format!("master changed after settling: {later:?}"), &sim));
        prop_assert_eq!(check_elected(&sim)?, master);
    }

}

proptest! {
    #![proptest_config(config(1500))]

    /// After the master crashes, a backup is master within its Master_Down_Interval
    /// (computed from the dead master's interval, which it adopted) plus one interval.
    #[test]
    fn master_crash_is_taken_over_within_master_down_interval(net in net(false, true), offset in 0u32..1000) {
        let mut sim = net.sim();
        let (m, t) = converge(&net, &mut sim)?;
        let crash = t + net.max_interval() * offset / 1000;
        sim.schedule(crash, ScriptEvent::Crash(m));
        let interval_cs = net.interval_cs[m];
        let fastest = eligible(&sim)
            .into_iter()
            .filter(|&b| b != m)
            .map(|b| master_down_interval(Version::V3, router(&sim, b).effective_priority(), interval_cs))
            .min()
            .expect("at least two routers");
        let bound = crash + fastest + Duration::from_millis(u64::from(interval_cs) * 10);
        sim.run_until(bound + net.settle());
        let took = masters_between(&sim, crash, bound + net.settle());
        prop_assert!(
            took.first().is_some_and(|(at, _, _)| *at <= bound),
            "{}", fail(format!("takeovers {took:?}, bound {bound}"), &sim)
        );
        check_elected(&sim)?;
    }

    /// Phase alignment never lengthens the gap between a master's adverts: every
    /// backup hears each master at least once per interval (plus the link's delay
    /// spread) from the moment it became master, the first gap after a takeover
    /// included, so a Master_Down_Timer restarted by each advert comes no closer to
    /// expiring than without alignment. Checked over a cold start and a crash of the
    /// elected master at any phase.
    #[test]
    fn adverts_are_never_further_apart_than_the_interval(net in net(false, true), offset in 0u32..1000) {
        let mut sim = net.sim();
        let (m, t) = converge(&net, &mut sim)?;
        let crash = t + net.max_interval() * offset / 1000;
        sim.schedule(crash, ScriptEvent::Crash(m));
        let end = crash + net.settle();
        sim.run_until(end);
        prop_assert!(masters_between(&sim, crash, end).iter().any(|(_, x, _)| *x != m));
        let spread = Duration::from_millis(net.delay_ms.1 - net.delay_ms.0);
        for x in 0..net.len() {
            let iv = Duration::from_millis(u64::from(net.interval_cs[x]) * 10);
            let starts: Vec<Instant> = masters_between(&sim, Instant::ZERO, end)
                .into_iter()
                .filter(|(_, n, _)| *n == x)
                .map(|(at, _, _)| at)
                .collect();
            for b in (0..net.len()).filter(|&b| b != x) {
                let heard: Vec<Instant> = sim.trace().iter().filter_map(|e| match e.event {
                    TraceEvent::Received { from, .. } if from == x && e.node == b => Some(e.at),
                    _ => None,
                }).collect();
                for (i, s) in starts.iter().enumerate() {
                    let until = starts.get(i + 1).copied().unwrap_or(end);
                    let mut times = vec![*s + Duration::from_millis(net.delay_ms.1)];
                    times.extend(heard.iter().copied().filter(|at| at >= s && *at < until));
                    if x == m && i + 1 == starts.len() {
                        times.retain(|at| *at <= crash + Duration::from_millis(net.delay_ms.1));
                    }
                    for w in times.windows(2) {
                        prop_assert!(
                            w[1].saturating_since(w[0]) <= iv + spread,
                            "{}", fail(format!("r{x} -> r{b}: gap {} -> {} over {iv:?} + {spread:?}", w[0], w[1]), &sim)
                        );
                    }
                }
            }
        }
    }

    /// After the master stops gracefully (priority 0), a backup is master within its
    /// Skew_Time plus one interval.
    #[test]
    fn graceful_stop_is_taken_over_within_skew_time(net in net(false, true), offset in 0u32..1000) {
        let mut sim = net.sim();
        let (m, t) = converge(&net, &mut sim)?;
        let stop = t + net.max_interval() * offset / 1000;
        sim.schedule(stop, ScriptEvent::Stop(m));
        let interval_cs = net.interval_cs[m];
        let fastest = eligible(&sim)
            .into_iter()
            .filter(|&b| b != m)
            .map(|b| skew_time(Version::V3, router(&sim, b).effective_priority(), interval_cs))
            .min()
            .expect("at least two routers");
        let bound = stop + fastest + Duration::from_millis(u64::from(interval_cs) * 10);
        sim.run_until(bound + net.settle());
        let took = masters_between(&sim, stop, bound + net.settle());
        prop_assert!(
            took.first().is_some_and(|(at, _, r)| *at <= bound && *r == Reason::PriorityZeroReceived),
            "{}", fail(format!("takeovers {took:?}, bound {bound}"), &sim)
        );
        check_elected(&sim)?;
    }

    /// A partition makes one master per side; after healing, there is one master again
    /// within one interval of the first advert that crosses, and no further election.
    #[test]
    fn healed_partition_has_one_master_within_one_interval(
        net in net(true, true),
        sides in proptest::collection::vec(0u8..2, 8),
    ) {
        let n = net.len();
        let mut sides = sides[..n].to_vec();
        sides[0] = 0;
        sides[n - 1] = 1;
        let mut sim = net.sim();
        let (_, t) = converge(&net, &mut sim)?;
        sim.schedule(t, ScriptEvent::Partition(sides.clone()));
        let heal = t + net.settle();
        sim.schedule(heal, ScriptEvent::Heal);
        // Just before the heal (masters advertise on the interval's grid, so an advert
        // may cross at the very instant of healing).
        sim.run_until(heal - Duration::from_micros(1));
        // Each side elected its own master.
        for side in 0..2u8 {
            let on_side: Vec<usize> = sim.masters().into_iter().filter(|&i| sides[i] == side).collect();
            prop_assert_eq!(on_side.len(), 1, "{}", fail(format!("side {side} masters {on_side:?}"), &sim));
        }
        // Step a millisecond at a time until an advert crosses the old divide.
        let crossed = |sim: &Sim| sim.trace().iter().find_map(|e| match e.event {
            TraceEvent::Received { from, .. } if e.at >= heal && sides[from] != sides[e.node] => Some(e.at),
            _ => None,
        });
        let end = heal + net.settle();
        while crossed(&sim).is_none() && sim.now() < end {
            sim.run_until(sim.now() + Duration::from_millis(1));
        }
        let Some(crossing) = crossed(&sim) else {
            return Err(fail("no advert crossed after healing".into(), &sim));
        };
        sim.run_until(crossing + net.max_interval());
        let m = check_elected(&sim)?;
        sim.run_until(end);
        let later = masters_between(&sim, crossing, end);
        prop_assert!(later.is_empty(), "{}", fail(format!("elections after the crossing: {later:?}"), &sim));
        prop_assert_eq!(check_elected(&sim)?, m);
    }

    /// With preempt off, a higher-priority router that comes back after a crash stays
    /// Backup under the master elected meanwhile.
    #[test]
    fn returning_router_without_preempt_does_not_take_over(net in net(true, false)) {
        let mut net = net;
        net.preempt = vec![false; net.len()];
        let mut sim = net.sim();
        let (m, t) = converge(&net, &mut sim)?;
        sim.schedule(t, ScriptEvent::Crash(m));
        let restart = t + net.settle();
        sim.schedule(restart, ScriptEvent::Start(m));
        sim.run_until(restart);
        let Some(m2) = check_elected(&sim)? else {
            return Err(fail("no master after the crash".into(), &sim));
        };
        let end = restart + net.settle();
        sim.run_until(end);
        let later = masters_between(&sim, restart, end);
        prop_assert!(later.is_empty(), "{}", fail(format!("took over: {later:?}"), &sim));
        prop_assert_eq!(sim.state(m), Some(State::Backup));
        prop_assert_eq!(sim.masters(), vec![m2]);
    }
}

//! Runs a chaos schedule on the lab: the rig (both vrrpd daemons, the routing
//! recipe, responders), the watchers and the client probe, then one episode per
//! step: resolve roles, inject, hold, undo, wait for the settled state within its
//! bound, a quiet spell, and judge the episode from the timeline. After the last
//! step both daemons leave by SIGTERM and the nodes are checked for leftovers.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use super::{
    client::{Client, LINGER},
    config::Params,
    fault::Fault,
    inject::{self, Roles, reap_checked, tail},
    recipe_name,
    record::{ClientFigures, Episode, RunLog, Times},
    schedule::{Schedule, Step},
    settle,
    usage::Life,
    watch::Watch,
};
use crate::{
    lab::{Node, Recipe, VIP, monotonic_ns, require_tools, run_probe},
    scenario::{Rig, Settings},
};

/// The client probes every this often.
pub const PROBE_EVERY: Duration = Duration::from_millis(5);
/// How often the runner looks at the watchers and the daemons while it waits.
const POLL: Duration = Duration::from_millis(5);
/// How often it asks the routing daemons for their sessions (a `birdc` run each).
const SESSION_POLL: Duration = Duration::from_millis(100);
/// A routing session still down this long is a broken lab, not a slow recipe: under
/// the suite's load BFD at 10 ms x 3 can drop a session again while BIRD's error wait
/// (up to 5 s) and the connect retry run, so one recovery may take several rounds.
const SESSION_LIMIT: Duration = Duration::from_secs(60);

/// How to run.
#[derive(Clone, Debug)]
pub struct Options {
    pub vrrpd: PathBuf,
    pub recipe: Recipe,
    /// The advert interval the run starts with (reloads may change it).
    pub interval: Duration,
    /// Steps are started until this much time has passed (not with `replay`).
    pub duration: Duration,
    pub seed: u64,
    /// Run exactly these steps (from a log) instead of the seed's schedule.
    pub replay: Option<Vec<Step>>,
    /// Where to write the JSON log.
    pub json: Option<PathBuf>,
    /// Print each episode's timeline as it ends.
    pub live: bool,
}

fn letter(n: Node) -> String {
    format!("{n:?}")
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn idx(node: Node) -> usize {
    usize::from(node == Node::B)
}

/// What the wait for the settled state saw.
#[derive(Clone, Copy, Debug)]
struct Settled {
    settled: bool,
    /// A routing session was down while the route was missing.
    session_down: bool,
}

struct Run {
    rig: Rig,
    watch: Watch,
    client: Client,
    params: [Params; 2],
    log: RunLog,
    recipe: Recipe,
    live: bool,
    /// When the daemon the last step restarted answered its status socket: the
    /// other node's stable window runs from then, since the restarted one preempts
    /// only its preempt delay after its own start.
    ready_at: Option<Instant>,
}

/// Runs the chaos schedule; the log (also written as JSON when asked) says whether
/// every invariant held. An error is returned only when the lab could not be built.
pub fn run(opts: &Options) -> Result<RunLog> {
    require_tools(opts.recipe)?;
    let mut log = RunLog {
        seed: opts.seed,
        recipe: recipe_name(opts.recipe).into(),
        interval_ms: opts.interval.as_millis() as u64,
        minutes: opts.duration.as_secs_f64() / 60.0,
        ..Default::default()
    };
    let settings = Settings {
        vrrpd: opts.vrrpd.clone(),
        recipe: opts.recipe,
        family: crate::lab::Family::V4,
        interval: opts.interval,
        verbose: false,
    };
    let rig = Rig::up(settings, true).context("bringing the lab up")?;
    responders_answer(&rig).context("before the first fault")?;
    // The standby's session too: the first fault may hand it the VIP.
    let up_by = Instant::now() + SESSION_LIMIT;
    loop {
        let down = rig.lab.routing_sessions_down();
        if down.is_empty() {
            break;
        }
        if Instant::now() > up_by {
            bail!(
                "routing sessions not up {} s after the lab started: {}",
                SESSION_LIMIT.as_secs(),
                down.join("; ")
            );
        }
        std::thread::sleep(SESSION_POLL);
    }
    let watch = Watch::start(&rig.lab)?;
    let client = Client::start(&rig.lab.client, PROBE_EVERY)?;
    let params = [
        Params::initial(Node::A, opts.interval),
        Params::initial(Node::B, opts.interval),
    ];
    for node in Node::ALL {
        let pid = rig.pid(node).context("daemon not running after start")?;
        log.lives.push(Life::new(letter(node), pid, None));
    }
    let mut run = Run {
        ready_at: None,
        rig,
        watch,
        client,
        params,
        log,
        recipe: opts.recipe,
        live: opts.live,
    };
    for node in Node::ALL {
        inject::write_config(&run.rig, node, &run.params[idx(node)])?;
    }
    run.read_usage();
    let started = Instant::now();
    let steps: Box<dyn Iterator<Item = Step>> = match &opts.replay {
        Some(steps) => Box::new(steps.clone().into_iter()),
        None => Box::new(Schedule::new(opts.seed)),
    };
    let t0 = monotonic_ns();
    for step in steps {
        if opts.replay.is_none() && started.elapsed() >= opts.duration {
            break;
        }
        run.log.steps.push(step);
        match run.episode(step, t0) {
            Ok(ep) => {
                if run.live {
                    super::report::print_episode(&ep);
                }
                run.log.episodes.push(ep);
                // Written as the run goes, so a run that dies still leaves its steps.
                if let Some(path) = &opts.json {
                    run.log.write(path)?;
                }
            }
            Err(e) => {
                run.log.error = Some(format!("step {}: {e:#}", step.index));
                break;
            }
        }
    }
    if let Err(e) = run.finish() {
        run.log.error.get_or_insert(format!("at the end: {e:#}"));
    }
    if let Some(path) = &opts.json {
        // The daemons' logs go with the lab's directory: keep them beside the log.
        for node in Node::ALL {
            let _ = std::fs::write(
                path.with_extension(format!("{node:?}.log")),
                run.rig.log(node),
            );
        }
    }
    let log = run.log;
    if let Some(path) = &opts.json {
        log.write(path)?;
    }
    Ok(log)
}

impl Run {
    /// A reading for every running daemon; a life's first only once its daemon
    /// answers status (start-up done: its datapath and sockets are open), so a
    /// start still under way is not taken for a leak later.
    fn read_usage(&mut self) {
        for i in 0..self.log.lives.len() {
            let life = &self.log.lives[i];
            if !life.running {
                continue;
            }
            let node = if life.node == "A" { Node::A } else { Node::B };
            if life.first.is_none() && self.rig.status(node).is_err() {
                continue;
            }
            self.log.lives[i].read();
        }
    }

    fn start(&mut self, node: Node, step: usize) -> Result<()> {
        self.rig.start(node)?;
        self.track_start(node, step)
    }

    fn track_start(&mut self, node: Node, step: usize) -> Result<()> {
        let pid = self
            .rig
            .pid(node)
            .context("daemon not running after start")?;
        // Up means answering: its state machines run (and its preempt delay counts)
        // from about then.
        let up = Instant::now();
        while self.rig.status(node).is_err() && up.elapsed() < settle::DAEMON_START {
            std::thread::sleep(POLL);
        }
        self.ready_at = Some(Instant::now());
        for l in self.log.lives.iter_mut().filter(|l| l.node == letter(node)) {
            l.running = false;
        }
        self.log
            .lives
            .push(Life::new(letter(node), pid, Some(step)));
        Ok(())
    }

    /// A daemon that exited on its own is a violation; it is started again so the
    /// run goes on.
    fn check_exits(&mut self, ep: &mut Episode) -> Result<()> {
        for node in Node::ALL {
            if let Some(status) = self.rig.exited(node)? {
                ep.violations.push(format!(
                    "{node:?}'s daemon exited unexpectedly ({status})\n{}",
                    tail(&self.rig.log(node), 20)
                ));
                self.start(node, ep.step.index)?;
            }
        }
        Ok(())
    }

    /// Waits `d` (a fault's hold or a quiet spell), watching the daemons.
    fn pause(&mut self, d: Duration, ep: &mut Episode) -> Result<()> {
        let end = Instant::now() + d;
        loop {
            self.check_exits(ep)?;
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(POLL));
        }
    }

    /// Waits until one node has held the VIP alone for its stable window, the router
    /// routes to it, and has done so at least once in that stretch: a route the
    /// recipe drops and restores meanwhile does not restart the wait (the judge reports
    /// it as a routing flap). Gives up past the bound plus the longest window; while
    /// the route is missing it asks for the routing sessions, and one seen down
    /// extends the routing part to the recipe's recovery after a lost session.
    fn settle(&mut self, bound: settle::Bound, ep: &mut Episode) -> Result<Settled> {
        let start = Instant::now();
        let window = settle::longest_window(&self.params);
        let recovery = bound.vrrp + settle::routing(self.recipe, true) + window;
        let mut out = Settled {
            settled: false,
            session_down: false,
        };
        let mut asked: Option<Instant> = None;
        // (since, holder, routed to it in this stretch)
        let mut stretch: Option<(Instant, Node, bool)> = None;
        loop {
            self.check_exits(ep)?;
            let now = self.watch.now()?;
            stretch = match (now.sole_holder(), stretch) {
                (Some(h), Some((t, s, r))) if h == s => Some((t, s, r || now.route == Some(h))),
                (Some(h), _) => Some((Instant::now(), h, now.route == Some(h))),
                (None, _) => None,
            };
            // A stretch that began before a restarted daemon was up says nothing
            // about that daemon's preemption yet: count it from then.
            if let Some((t, h, true)) = stretch
                && now.settled() == Some(h)
                && self.ready_at.map_or(t, |r| r.max(t)).elapsed()
                    >= settle::stable_window(&self.params, h)
            {
                out.settled = true;
                return Ok(out);
            }
            if stretch.is_some()
                && now.settled().is_none()
                && !out.session_down
                && asked.is_none_or(|a| a.elapsed() >= SESSION_POLL)
            {
                asked = Some(Instant::now());
                out.session_down = !self.rig.lab.routing_sessions_down().is_empty();
            }
            let limit = if out.session_down {
                recovery
            } else {
                bound.total() + window
            };
            if start.elapsed() > limit {
                return Ok(out);
            }
            std::thread::sleep(POLL);
        }
    }

    /// After a settled fault, both nodes' routing sessions must be up before the next
    /// fault starts. A standby whose session is still down (its uplink flapped, say)
    /// would take over at the next fault with no session to announce the VIP on, and
    /// that fault would be blamed for the routing recipe's recovery (the first
    /// 30-minute seed-1 run found four such). A slow recovery is the recipe's, reported
    /// as a routing flap; only a session never back within [`SESSION_LIMIT`] is a
    /// violation.
    fn await_sessions(&mut self, fault: &Fault, ep: &mut Episode) -> Result<()> {
        let start = Instant::now();
        let mut down = self.rig.lab.routing_sessions_down();
        if down.is_empty() {
            return Ok(());
        }
        let first = down.join("; ");
        while !down.is_empty() && start.elapsed() < SESSION_LIMIT {
            self.check_exits(ep)?;
            std::thread::sleep(SESSION_POLL);
            down = self.rig.lab.routing_sessions_down();
        }
        if !down.is_empty() {
            ep.violations.push(format!(
                "routing sessions still down {} s after the lab settled: {}",
                SESSION_LIMIT.as_secs(),
                down.join("; ")
            ));
            return Ok(());
        }
        let waited = start.elapsed();
        let ms_waited = waited.as_secs_f64() * 1e3;
        ep.timeline.push((
            ms(monotonic_ns() - ep.times.fault),
            format!("routing sessions up again ({ms_waited:.0} ms after the lab settled)"),
        ));
        let recovery = settle::routing(self.recipe, true);
        if !fault.may_break_routing() || waited > recovery {
            ep.routing_flaps.push(format!(
                "a routing session was down once the lab had settled ({first}); up again {ms_waited:.0} ms later (the recipe's recovery: {} s)",
                recovery.as_secs()
            ));
        }
        Ok(())
    }

    fn roles(&self) -> Result<Roles> {
        let now = self.watch.now()?;
        Ok(Roles {
            master: now.settled().unwrap_or(Node::A),
        })
    }

    fn longest_interval(&self) -> Duration {
        self.params[0].interval().max(self.params[1].interval())
    }

    fn episode(&mut self, step: Step, t0: u64) -> Result<Episode> {
        self.ready_at = None;
        let roles = self.roles()?;
        let node = inject::target_node(&step.fault, roles);
        let bound = settle::bound(&step.fault, &self.params, self.recipe);
        let interval = self.longest_interval();
        let hold = interval * step.hold_intervals;
        let fault_ns = monotonic_ns();
        let mut ep = Episode {
            step,
            what: resolved(&step.fault, roles),
            node: node.map(letter),
            at_s: ms(fault_ns - t0) / 1e3,
            hold_ms: hold.as_secs_f64() * 1e3,
            bound_ms: bound.total().as_secs_f64() * 1e3,
            settle_ms: None,
            holder_after: None,
            split_brain_ms: 0.0,
            no_holder_ms: 0.0,
            client: ClientFigures::default(),
            timeline: vec![(0.0, resolved(&step.fault, roles))],
            violations: Vec::new(),
            routing_flaps: Vec::new(),
            route_lost: false,
            times: Times {
                fault: fault_ns,
                ..Default::default()
            },
        };
        // An accept mode switched by this step drops the client's probes until the
        // `nft` run that switches it has finished: judged only if on throughout.
        let accept_before = [self.params[0].accept_mode, self.params[1].accept_mode];
        let active = inject::inject(&mut self.rig, &step.fault, roles, &mut self.params)?;
        if let Fault::Restart { .. } = step.fault {
            let node = node.expect("a restart has a node");
            self.track_start(node, step.index)?;
        }
        self.pause(hold, &mut ep)?;
        let heal_ns = monotonic_ns();
        let restarts = matches!(active, inject::Active::Stopped { .. });
        let undone = inject::undo(&mut self.rig, active)?;
        if restarts {
            self.track_start(node.expect("a stop has a node"), step.index)?;
        }
        if let Some(n) = undone.note {
            ep.timeline.push((ms(heal_ns - fault_ns), n));
        }
        ep.violations.extend(undone.violation);
        // The interval may have changed with a reload: the window uses the new one.
        let settled = self.settle(bound, &mut ep)?;
        let settled_wait_ns = monotonic_ns();
        if settled.settled {
            self.await_sessions(&step.fault, &mut ep)?;
        }
        self.pause(interval * step.quiet_intervals, &mut ep)?;
        let end_ns = monotonic_ns();
        ep.times.heal = heal_ns;
        ep.times.end = end_ns;
        self.judge(&mut ep, settled, settled_wait_ns, bound)?;
        if let Some(h) = ep.holder_after.as_deref() {
            ep.client.judged &= accept_before[usize::from(h == "B")];
        }
        self.read_usage();
        Ok(ep)
    }

    /// The verdict of an episode, from the timeline.
    fn judge(
        &mut self,
        ep: &mut Episode,
        settled: Settled,
        settled_wait_ns: u64,
        bound: settle::Bound,
    ) -> Result<()> {
        let t = ep.times;
        let tl = self.watch.timeline();
        for (at, what) in tl.events(t.fault, t.end) {
            ep.timeline.push((ms(at - t.fault), what));
        }
        ep.timeline.sort_by(|a, b| a.0.total_cmp(&b.0));
        ep.split_brain_ms = ms(tl.split_brain_ns(t.fault, t.end));
        ep.no_holder_ms = ms(tl.no_holder_ns(t.fault, t.end));
        let now = self.watch.now()?;
        let limit = bound.total() + settle::longest_window(&self.params);
        if !settled.settled {
            ep.violations.push(format!(
                "not settled within {:.0} ms of undoing the fault (bound {:.0} ms + the stable window){}: {}",
                limit.as_secs_f64() * 1e3,
                bound.total().as_secs_f64() * 1e3,
                if settled.session_down {
                    ", a routing session down"
                } else {
                    ""
                },
                now.describe()
            ));
            return Ok(());
        }
        let Some(held) = tl.held(t.heal, t.end) else {
            ep.violations.push(format!(
                "settled, then changed again before the next fault: {}",
                now.describe()
            ));
            return Ok(());
        };
        let h = held.holder;
        ep.holder_after = Some(letter(h));
        let window = settle::stable_window(&self.params, h).as_nanos() as u64;
        if held.since + window > settled_wait_ns + POLL.as_nanos() as u64 * 4 {
            ep.violations.push(format!(
                "settled, then changed again: {h:?} alone holds the VIP only since {:.1} ms after the fault was undone",
                ms(held.since.saturating_sub(t.heal))
            ));
            return Ok(());
        }
        let Some(routed) = held.routed else {
            ep.violations.push(format!(
                "the router never routed the VIP to {h:?}, its sole holder since {:.1} ms after the fault was undone: {}",
                ms(held.since.saturating_sub(t.heal)),
                now.describe()
            ));
            return Ok(());
        };
        ep.times.settled = Some(routed);
        ep.settle_ms = Some(ms(routed.saturating_sub(t.heal)));
        let route_kept = held.route_losses == 0 && held.routed_at_end;
        if !route_kept {
            ep.routing_flaps.push(format!(
                "the router lost its route {} time(s) with {h:?} holding the VIP throughout{}",
                held.route_losses,
                if held.routed_at_end {
                    String::new()
                } else {
                    format!(", and at the end: {}", now.describe())
                }
            ));
        }
        ep.route_lost = !route_kept;
        ep.client.judged = self.params[idx(h)].accept_mode;
        let ms_bound = |d: Duration| d.as_secs_f64() * 1e3;
        let held_after = Duration::from_nanos(held.since.saturating_sub(t.heal));
        let routed_after = Duration::from_nanos(routed.saturating_sub(t.heal));
        if held_after > bound.total() {
            ep.violations.push(format!(
                "{h:?} held the VIP alone only {:.1} ms after the fault was undone, bound {:.0} ms",
                ms_bound(held_after),
                ms_bound(bound.total())
            ));
        } else if routed_after > bound.total() {
            let recovery = bound.vrrp + settle::routing(self.recipe, true);
            if settled.session_down && routed_after <= recovery {
                ep.routing_flaps.push(format!(
                    "the router routed the VIP to {h:?} {:.1} ms after the fault was undone: a routing session was down (the recipe's recovery, bound {:.0} ms)",
                    ms_bound(routed_after),
                    ms_bound(recovery)
                ));
            } else {
                ep.violations.push(format!(
                    "settled {:.1} ms after the fault was undone, bound {:.0} ms",
                    ms_bound(routed_after),
                    ms_bound(bound.total())
                ));
            }
        }
        Ok(())
    }

    /// Client figures for every episode (its probes must have had time to be
    /// answered), then both daemons leave and the nodes are checked.
    fn finish(&mut self) -> Result<()> {
        self.read_usage();
        // Lost probes must be vrrpd's or routing's doing, not a dead responder.
        if let Err(e) = responders_answer(&self.rig) {
            self.log
                .violations
                .push(format!("the lab's own check after the last fault: {e:#}"));
        }
        for node in Node::ALL {
            if self.rig.pid(node).is_none() {
                continue;
            }
            let pid = self.rig.kill(node, libc::SIGTERM)?;
            if let Some(v) = reap_checked(&mut self.rig, node, pid, true)? {
                self.log.violations.push(v);
            }
        }
        for l in &mut self.log.lives {
            l.running = false;
        }
        self.leftovers()?;
        let last = self.log.episodes.last().map_or(0, |e| e.times.end);
        while monotonic_ns() < last + LINGER.as_nanos() as u64 {
            std::thread::sleep(POLL);
        }
        for ep in &mut self.log.episodes {
            let t = ep.times;
            let seen = self.client.seen(t.fault, t.end);
            ep.client.sent = seen.sent;
            ep.client.lost = seen.lost;
            ep.client.outage_ms = seen.outage.as_secs_f64() * 1e3;
            ep.client.answered_twice = seen.answered_twice;
            if let Some(s) = t.settled {
                ep.client.lost_after_settle = self.client.seen(s, t.end).lost;
                if ep.client.judged && ep.client.lost_after_settle > 0 {
                    let lost = format!(
                        "the client lost {} probes after the lab settled",
                        ep.client.lost_after_settle
                    );
                    // Probes lost while the recipe had dropped the route are routing's.
                    if ep.route_lost {
                        ep.routing_flaps
                            .push(format!("{lost}, the route gone meanwhile"));
                    } else {
                        ep.violations.push(lost);
                    }
                }
            }
        }
        let leaks: Vec<String> = self.log.lives.iter().filter_map(|l| l.leak()).collect();
        self.log.violations.extend(leaks);
        Ok(())
    }

    /// After the last stop: no VIP, no vrrpd route, no nftables table, no XDP
    /// program left on either node.
    fn leftovers(&mut self) -> Result<()> {
        for node in Node::ALL {
            let ns = self.rig.lab.node(node);
            let text = |argv: &[&str]| -> Result<String> {
                Ok(String::from_utf8_lossy(&ns.exec(argv)?.stdout)
                    .trim()
                    .to_string())
            };
            let vip = format!("{VIP}/32");
            let checks = [
                (
                    "the VIP",
                    text(&["ip", "-o", "-4", "addr", "show", "to", &vip])?,
                ),
                (
                    "routes of protocol 252 (vrrpd)",
                    text(&["ip", "route", "show", "table", "all", "proto", "252"])?,
                ),
                ("nftables tables", text(&["nft", "list", "tables"])?),
                (
                    "an XDP program on eth0",
                    text(&["ip", "-o", "link", "show", "dev", "eth0"])?
                        .split_whitespace()
                        .filter(|w| w.starts_with("xdp") || w.starts_with("prog/xdp"))
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
            ];
            for (what, found) in checks {
                if found.is_empty() {
                    self.log
                        .end_checks
                        .push(format!("ok: no {what} left on {node:?}"));
                } else {
                    let v = format!("{what} left on {node:?} after the last stop: {found}");
                    self.log.end_checks.push(format!("FAILED: {v}"));
                    self.log.violations.push(v);
                }
            }
        }
        Ok(())
    }
}

/// Both responders answer probes sent to their node's own address, whoever holds
/// the VIP: the client's losses then mean what they say.
fn responders_answer(rig: &Rig) -> Result<()> {
    for node in Node::ALL {
        let r = run_probe(&rig.lab.client, node.addr(), 20, Duration::from_millis(2))?;
        if r.answered() < 15 {
            bail!(
                "{node:?}'s responder answered {} of 20 probes to {}: a harness fault, not vrrpd's",
                r.answered(),
                node.addr()
            );
        }
    }
    Ok(())
}

/// A fault's description with its roles resolved.
fn resolved(fault: &Fault, roles: Roles) -> String {
    match inject::target_node(fault, roles) {
        Some(n) => format!("{} ({n:?})", fault.describe()),
        None => format!("{} (master {:?})", fault.describe(), roles.master),
    }
}

/// Fails unless the run held every invariant, listing the violations.
pub fn check(log: &RunLog) -> Result<()> {
    let v = log.all_violations();
    if v.is_empty() {
        return Ok(());
    }
    bail!("{} violation(s):\n{}", v.len(), v.join("\n"))
}

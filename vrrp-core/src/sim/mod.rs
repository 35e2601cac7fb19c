//! A deterministic network simulator for [`Router`]s: test support.
//!
//! N routers (one virtual router each) are fully meshed by directed links with a delay
//! range and a loss rate; adverts go as unicast to every peer, like the cross-subnet
//! deployment. A link's delay varies per packet but the link never reorders (a packet
//! is not delivered before the one sent ahead of it), as on a real path: a goodbye
//! overtaken by the advert before it would otherwise undo the goodbye. A virtual clock and a priority queue of events ordered by (time,
//! insertion) drive everything: no threads, no real time, and the same seed and script
//! give the same run. Scripted events inject faults; every transition, scripted event and
//! advert delivery is recorded in a trace.
//!
//! [`Sim::set_filter`] turns on filter mode: every node runs behind the datapath's
//! follow filter and the daemon's protocol with it (see the `filter` module), so a test
//! can check that absorbing steady-state adverts in the kernel changes no transition.

mod filter;
mod rng;
mod trace;

pub use rng::Rng;
pub use trace::{TraceEntry, TraceEvent, format_trace};

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::router::{Action, Config, Input, ReceivedAdvert, Router, State, TrackUpdate};
use crate::time::Instant;
use filter::{FollowState, Verdict};

/// The VIP every [`node_config`] router protects (the reference virtual subnet).
pub const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 1, 255, 1));

/// A v3 config for node `index` with VRID 1, primary address 10.0.0.(index + 1) and
/// [`VIP`]; tests adjust the fields they care about.
pub fn node_config(index: usize, priority: u8) -> Config {
    let host = u8::try_from(index + 1).expect("at most 254 nodes");
    let mut cfg = Config::new(1, priority, IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)));
    cfg.vips = vec![VIP];
    cfg
}

/// Delay and loss of one direction of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkSpec {
    pub delay_min: Duration,
    pub delay_max: Duration,
    /// Chance, in percent, that an advert on this link is lost.
    pub loss_percent: u8,
}

impl LinkSpec {
    /// A fixed delay and no loss.
    pub fn fixed(delay: Duration) -> LinkSpec {
        LinkSpec {
            delay_min: delay,
            delay_max: delay,
            loss_percent: 0,
        }
    }
}

/// Faults and operator actions a test schedules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptEvent {
    /// Power on (after a crash: a fresh router) and send Startup.
    Start(usize),
    /// Power off: the router's state is lost, nothing is sent, its VIPs are gone.
    Crash(usize),
    /// Graceful stop: Shutdown (a master sends priority 0), then silence.
    Stop(usize),
    LinkDown(usize),
    LinkUp(usize),
    /// Split the nodes: `groups[i]` is node i's side; only same-side nodes talk.
    Partition(Vec<u8>),
    Heal,
    /// A tracked object of a node changed.
    Track(usize, TrackUpdate),
    SetPriority(usize, u8),
    /// Set the loss rate of every link.
    SetLoss(u8),
    /// Replace one direction of one link.
    SetLink {
        from: usize,
        to: usize,
        spec: LinkSpec,
    },
}

#[derive(Debug, Clone)]
enum Pending {
    Deliver {
        from: usize,
        to: usize,
        priority: u8,
        interval_cs: u16,
    },
    Timer(usize),
    /// Filter mode: the node's datapath silence timer.
    Silence(usize),
    Script(ScriptEvent),
}

/// A queued event; ordered by time, then by insertion so equal times stay FIFO.
#[derive(Debug, Clone)]
struct Queued {
    at: Instant,
    seq: u64,
    what: Pending,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Debug, Clone)]
struct Node {
    cfg: Config,
    /// `None` while crashed.
    router: Option<Router>,
    link_up: bool,
    /// Tracked objects survive a crash: a restarted daemon re-checks them.
    tracks: BTreeMap<String, TrackUpdate>,
    /// The deadline we queued a timer event for; other timer events are stale.
    armed: Option<Instant>,
    holds_vips: bool,
    /// Filter mode only.
    follow: FollowState,
}

/// The simulated network and its routers.
#[derive(Debug, Clone)]
pub struct Sim {
    now: Instant,
    rng: Rng,
    nodes: Vec<Node>,
    /// `links[from][to]`.
    links: Vec<Vec<LinkSpec>>,
    /// `last_arrival[from][to]`: the latest delivery time queued on that link (FIFO).
    last_arrival: Vec<Vec<Instant>>,
    sides: Vec<u8>,
    queue: BinaryHeap<Reverse<Queued>>,
    seq: u64,
    trace: Vec<TraceEntry>,
    /// Filter mode (see [`Sim::set_filter`]).
    filter: bool,
}

impl Sim {
    /// Nodes powered on but not started (schedule [`ScriptEvent::Start`]), all links `link`.
    pub fn new(seed: u64, configs: Vec<Config>, link: LinkSpec) -> Sim {
        let n = configs.len();
        let nodes = configs
            .into_iter()
            .map(|cfg| Node {
                router: Some(Router::new(cfg.clone()).expect("valid config")),
                cfg,
                link_up: true,
                tracks: BTreeMap::new(),
                armed: None,
                holds_vips: false,
                follow: FollowState::default(),
            })
            .collect();
        Sim {
            now: Instant::ZERO,
            rng: Rng::new(seed),
            nodes,
            links: vec![vec![link; n]; n],
            last_arrival: vec![vec![Instant::ZERO; n]; n],
            sides: vec![0; n],
            queue: BinaryHeap::new(),
            seq: 0,
            trace: Vec::new(),
            filter: false,
        }
    }

    /// Filter mode: adverts pass the datapath's follow filter, which absorbs a
    /// backup's steady-state adverts, and the driver replays the last absorbed one
    /// before anything else reaches the router (see the `filter` module). Set it
    /// before running; off by default.
    pub fn set_filter(&mut self, on: bool) {
        self.filter = on;
    }

    /// Adverts node `i`'s datapath absorbed (filter mode), since its last crash.
    pub fn absorbed(&self, i: usize) -> u64 {
        self.nodes[i].follow.absorbed
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn schedule(&mut self, at: Instant, event: ScriptEvent) {
        self.push(at, Pending::Script(event));
    }

    /// Process every event up to and including `until`, then set the clock to `until`.
    pub fn run_until(&mut self, until: Instant) {
        while let Some(Reverse(next)) = self.queue.peek() {
            if next.at > until {
                break;
            }
            let Reverse(q) = self.queue.pop().expect("peeked");
            self.now = q.at;
            match q.what {
                Pending::Deliver {
                    from,
                    to,
                    priority,
                    interval_cs,
                } => self.deliver(from, to, priority, interval_cs),
                Pending::Timer(i) => self.fire_timer(i),
                Pending::Silence(i) => self.fire_silence(i),
                Pending::Script(s) => self.apply(s),
            }
        }
        self.now = self.now.max(until);
    }

    pub fn router(&self, i: usize) -> Option<&Router> {
        self.nodes[i].router.as_ref()
    }

    /// `None` while crashed.
    pub fn state(&self, i: usize) -> Option<State> {
        self.router(i).map(Router::state)
    }

    pub fn masters(&self) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.state(i) == Some(State::Master))
            .collect()
    }

    /// Nodes whose router told them to install the VIPs and has not removed them.
    pub fn vip_holders(&self) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.nodes[i].holds_vips)
            .collect()
    }

    /// The last reported state of each tracked object of node `i`.
    pub fn tracked(&self, i: usize) -> impl Iterator<Item = &TrackUpdate> {
        self.nodes[i].tracks.values()
    }

    pub fn trace(&self) -> &[TraceEntry] {
        &self.trace
    }

    /// The trace without advert deliveries: scripted events and transitions.
    pub fn format_trace(&self) -> String {
        format_trace(&self.trace, false)
    }

    // ---- Internals ----------------------------------------------------------------

    fn push(&mut self, at: Instant, what: Pending) {
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            at,
            seq: self.seq,
            what,
        }));
    }

    fn record(&mut self, node: usize, event: TraceEvent) {
        let state = self.state(node);
        self.trace.push(TraceEntry {
            at: self.now,
            node,
            event,
            state,
        });
    }

    fn apply(&mut self, event: ScriptEvent) {
        let subject = match &event {
            ScriptEvent::Start(i)
            | ScriptEvent::Crash(i)
            | ScriptEvent::Stop(i)
            | ScriptEvent::LinkDown(i)
            | ScriptEvent::LinkUp(i)
            | ScriptEvent::Track(i, _)
            | ScriptEvent::SetPriority(i, _) => *i,
            ScriptEvent::SetLink { from, .. } => *from,
            ScriptEvent::Partition(_) | ScriptEvent::Heal | ScriptEvent::SetLoss(_) => 0,
        };
        match event.clone() {
            ScriptEvent::Start(i) => {
                if self.nodes[i].router.is_none() {
                    let node = &mut self.nodes[i];
                    let mut router = Router::new(node.cfg.clone()).expect("valid config");
                    if !node.link_up {
                        router.handle(self.now, Input::LinkDown);
                    }
                    for t in node.tracks.values() {
                        router.handle(self.now, Input::Track(t.clone()));
                    }
                    node.router = Some(router);
                }
                self.record(subject, TraceEvent::Script(event));
                self.drive(i, Input::Startup);
                return;
            }
            ScriptEvent::Crash(i) => {
                let node = &mut self.nodes[i];
                node.router = None;
                node.armed = None;
                node.holds_vips = false;
                node.follow = FollowState::default();
            }
            ScriptEvent::Stop(i) => {
                self.record(subject, TraceEvent::Script(event));
                self.drive(i, Input::Shutdown);
                return;
            }
            ScriptEvent::LinkDown(i) => {
                self.nodes[i].link_up = false;
                self.record(subject, TraceEvent::Script(event));
                self.drive(i, Input::LinkDown);
                return;
            }
            ScriptEvent::LinkUp(i) => {
                self.nodes[i].link_up = true;
                self.record(subject, TraceEvent::Script(event));
                self.drive(i, Input::LinkUp);
                return;
            }
            ScriptEvent::Partition(sides) => {
                assert_eq!(sides.len(), self.len(), "one side per node");
                self.sides = sides;
            }
            ScriptEvent::Heal => self.sides = vec![0; self.len()],
            ScriptEvent::Track(i, update) => {
                self.nodes[i]
                    .tracks
                    .insert(update.object.clone(), update.clone());
                self.record(subject, TraceEvent::Script(event));
                self.drive(i, Input::Track(update));
                return;
            }
            ScriptEvent::SetPriority(i, p) => {
                self.nodes[i].cfg.priority = p;
                self.record(subject, TraceEvent::Script(event));
                self.drive(i, Input::SetPriority(p));
                return;
            }
            ScriptEvent::SetLoss(percent) => {
                for spec in self.links.iter_mut().flatten() {
                    spec.loss_percent = percent;
                }
            }
            ScriptEvent::SetLink { from, to, spec } => self.links[from][to] = spec,
        }
        self.record(subject, TraceEvent::Script(event));
    }

    /// Any input but an advert record, after the driver's sync in filter mode: disarm
    /// the datapath and replay the last absorbed advert, so the router is up to date
    /// first.
    fn drive(&mut self, i: usize, input: Input) {
        if self.nodes[i].follow.arm.is_some() {
            let follow = &mut self.nodes[i].follow;
            follow.follow = None;
            let last = follow.last_absorbed;
            self.release(i, last);
        }
        self.input(i, input);
    }

    /// The driver forgets its arm and replays what the datapath absorbed since.
    fn release(&mut self, i: usize, followed_rx: Option<Instant>) {
        if let Some(replay) = self.nodes[i].follow.release(followed_rx) {
            self.record(
                i,
                TraceEvent::Replayed {
                    rx_time: replay.rx_time,
                },
            );
            self.input(i, Input::Advert(replay));
        }
    }

    /// Hand an input to a live router and carry out its actions.
    fn input(&mut self, i: usize, input: Input) {
        let now = self.now;
        let Some(router) = self.nodes[i].router.as_mut() else {
            return;
        };
        let actions = router.handle(now, input);
        for action in actions {
            match action {
                Action::Transition(t) => self.record(i, TraceEvent::Transition(t)),
                Action::SendAdvert {
                    priority,
                    interval_cs,
                } => self.send(i, priority, interval_cs),
                Action::AddVips { .. } => self.nodes[i].holds_vips = true,
                Action::RemoveVips => self.nodes[i].holds_vips = false,
                Action::AddRoutes
                | Action::RemoveRoutes
                | Action::Announce
                | Action::SetAccept(_)
                | Action::RunHook { .. }
                | Action::Ignored(_) => {}
            }
        }
        self.rearm(i);
    }

    fn rearm(&mut self, i: usize) {
        let deadline = self.router(i).and_then(Router::next_deadline);
        if deadline != self.nodes[i].armed {
            self.nodes[i].armed = deadline;
            if let Some(d) = deadline {
                self.push(d.max(self.now), Pending::Timer(i));
            }
        }
    }

    fn fire_timer(&mut self, i: usize) {
        let deadline = self.router(i).and_then(Router::next_deadline);
        if deadline.is_some_and(|d| d <= self.now) && self.nodes[i].armed == deadline {
            self.nodes[i].armed = None;
            if self.nodes[i].follow.silence_covers() {
                // Stale: an advert was absorbed since the arm, so the datapath's
                // silence timer runs and replaces this one. Rearmed from the router's
                // deadline after the next disarm.
                return;
            }
            // Unarmed, or armed and nothing absorbed since: no silence timer runs for
            // this arm, so this deadline is real. `drive` syncs first.
            self.drive(i, Input::Timer);
        }
    }

    /// Filter mode: the datapath's silence timer expired. It reports a silence only
    /// while its arm is live; the driver then replays and feeds the timer.
    fn fire_silence(&mut self, i: usize) {
        let follow = &mut self.nodes[i].follow;
        if follow.silence_at != Some(self.now) {
            return;
        }
        follow.silence_at = None;
        if !follow.armed_in_datapath() {
            return;
        }
        follow.reports += 1;
        let last = follow.last_absorbed;
        self.record(i, TraceEvent::Silence);
        self.release(i, last);
        self.input(i, Input::Timer);
    }

    fn connected(&self, a: usize, b: usize) -> bool {
        self.nodes[a].link_up && self.nodes[b].link_up && self.sides[a] == self.sides[b]
    }

    /// Unicast to each peer, each copy with its own delay and loss.
    fn send(&mut self, from: usize, priority: u8, interval_cs: u16) {
        for to in 0..self.len() {
            if to == from || !self.connected(from, to) {
                continue;
            }
            let spec = self.links[from][to];
            if self.rng.chance(spec.loss_percent) {
                continue;
            }
            let lo = u64::try_from(spec.delay_min.as_nanos()).unwrap_or(u64::MAX);
            let hi = u64::try_from(spec.delay_max.as_nanos()).unwrap_or(u64::MAX);
            let delay = Duration::from_nanos(self.rng.between(lo, hi));
            let at = (self.now + delay).max(self.last_arrival[from][to]);
            self.last_arrival[from][to] = at;
            self.push(
                at,
                Pending::Deliver {
                    from,
                    to,
                    priority,
                    interval_cs,
                },
            );
        }
    }

    /// Packets in flight are lost if the path broke meanwhile.
    fn deliver(&mut self, from: usize, to: usize, priority: u8, interval_cs: u16) {
        if self.nodes[to].router.is_none() || !self.connected(from, to) {
            return;
        }
        let sender = &self.nodes[from].cfg;
        let advert = ReceivedAdvert {
            src: sender.primary_addr,
            version: sender.version,
            vrid: sender.vrid,
            priority,
            max_adver_int_cs: interval_cs,
            addrs: sender.vips.clone(),
            rx_time: self.now,
        };
        if !self.filter {
            self.record(to, TraceEvent::Received { from, priority });
            self.input(to, Input::Advert(advert));
            return;
        }
        let (seq, followed_rx) = match self.nodes[to]
            .follow
            .filter(&filter::seen(&advert), self.now)
        {
            Verdict::Absorbed { silence_at } => {
                self.push(silence_at, Pending::Silence(to));
                self.record(to, TraceEvent::Absorbed { from, priority });
                return;
            }
            Verdict::Reported { seq, followed_rx } => (seq, followed_rx),
        };
        // The driver, on the record: replay, feed it, re-arm if the router allows.
        self.release(to, followed_rx);
        self.record(to, TraceEvent::Received { from, priority });
        self.input(to, Input::Advert(advert.clone()));
        if let Some(router) = self.nodes[to].router.as_ref()
            && router.steady_advert(&advert)
        {
            let down = router.master_down_interval();
            self.nodes[to].follow.arm(&advert, seq, down);
        }
    }
}

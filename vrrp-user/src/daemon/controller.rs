//! The controller: the second protocol layer, between the state machines and the
//! drivers. It owns every instance (as sync groups; a lone instance is a group of
//! one), feeds them inputs and turns their actions into sends and [`Work`].
//!
//! It is pure in the sense that matters for testing: no sockets (adverts go to an
//! [`AdvertSink`], opened through [`OpenSink`]), no interface look-ups (a [`Host`]
//! resolves them before planning), no clock (`now` is an argument) and no queues
//! (work is returned). The daemon loop (`daemon/mod.rs`) does the I/O; the
//! conformance tests (`vrrp-user/tests/controller.rs`) replay inputs and compare
//! the driver work.

use std::{
    collections::{BTreeSet, HashMap},
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use anyhow::{Context, Result};
use tracing::{debug, info, warn};
use vrrp_common::{REC_F_SILENCE, Record, VridKey, follow::Follow};
use vrrp_core::{
    router::{Action, Input, ReceivedAdvert, Router, State, SyncGroup, TrackUpdate, Version},
    time::Instant,
};

use super::{
    host::Host,
    instance::{Armed, Instance, LastTransition},
    spec::InstanceSpec,
    work::{HookJob, KernelOp, Work},
};
use crate::{
    config::{self, Config, ConfigDiff, InstanceChange, ReloadClass},
    datapath::{
        DatapathConfig,
        follow::{FollowTable, NoFollow},
    },
    hooks::ExitKind,
    sender::{AdvertSink, OpenSink, SendReport, SenderConfig, Sent},
    track,
};

/// How long after a full kernel queue dropped work the whole kernel state is queued
/// again: long enough for the kernel worker to drain, short next to a lease.
pub const RESYNC_RETRY: Duration = Duration::from_millis(200);

/// A sync group: its state machines and the instances they drive, in member order.
pub struct Group {
    pub sync: SyncGroup,
    pub members: Vec<Instance>,
}

pub struct Controller {
    pub config: Config,
    groups: Vec<Group>,
    /// (ifindex, VRID) -> (group, member), for adverts from the datapath.
    by_key: HashMap<VridKey, (usize, usize)>,
    /// Each group's next deadline, and the same ordered by time: the earliest
    /// deadline and the due groups without scanning every group (at 255 groups the
    /// scan was the backup's largest cost).
    deadlines: Vec<Option<Instant>>,
    timers: BTreeSet<(Instant, usize)>,
    /// Work produced by the current call, returned at its end.
    out: Vec<Work>,
    /// Where steady-state adverts are absorbed (the datapath's follow filter).
    follow: Box<dyn FollowTable>,
    /// A state or priority changed since the last `take_dirty`: status is stale.
    dirty: bool,
    /// Instances (by datapath key) whose sinks queued adverts since the last
    /// [`Controller::sends_flushed`].
    queued: Vec<VridKey>,
    /// [`Controller::next_upkeep`], kept between calls: the event loop asks at every
    /// wake, and a scan of 1,020 instances per wake was a flapping backup's largest
    /// cost. `None` when a lease, resync or state may have moved it.
    upkeep_at: Option<Option<Instant>>,
}

/// What a reload did, per instance, for the log line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReloadReport {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Kept instances with the class applied and the keys that changed.
    pub kept: Vec<(String, InstanceChange)>,
}

/// A member of the new configuration, built before anything changes.
enum Prepared {
    /// Started afresh (new, or its identity changed).
    Fresh(Box<(Instance, Router)>),
    /// Kept running with a new spec; a new sink when the send side changed.
    Kept(Box<InstanceSpec>, Option<Box<dyn AdvertSink>>),
}

impl Controller {
    /// Builds every instance of `config`; fails on the first that cannot run here.
    pub fn new(config: Config, host: &dyn Host, sinks: &mut dyn OpenSink) -> Result<Controller> {
        let mut ctl = Controller {
            config: Config {
                instances: Vec::new(),
                sync_groups: Vec::new(),
                ..config.clone()
            },
            groups: Vec::new(),
            by_key: HashMap::new(),
            deadlines: Vec::new(),
            timers: BTreeSet::new(),
            out: Vec::new(),
            follow: Box::new(NoFollow),
            dirty: true,
            queued: Vec::new(),
            upkeep_at: None,
        };
        let diff = config::diff(&ctl.config, &config);
        let prepared = prepare(&config, &diff, &HashMap::new(), host, sinks)?;
        ctl.commit(Instant::ZERO, config, &diff, prepared, false);
        ctl.out.clear();
        Ok(ctl)
    }

    /// Lets the datapath's follow filter absorb steady-state adverts (see
    /// `vrrp_common::follow`); without it every advert reaches the state machines.
    pub fn set_follow(&mut self, mut table: Box<dyn FollowTable>) {
        table.install(&self.follow_keys());
        self.follow = table;
    }

    /// What the datapath kept for `inst`: adverts it absorbed, their jitter.
    pub fn followed(&self, inst: &Instance) -> Option<vrrp_common::follow::Followed> {
        self.follow.followed(inst.follow_key())
    }

    fn follow_keys(&self) -> BTreeSet<VridKey> {
        self.by_key.keys().copied().collect()
    }

    /// Every instance with its state machine, in configuration order of groups.
    pub fn instances(&self) -> impl Iterator<Item = (&Instance, &Router)> {
        self.groups
            .iter()
            .flat_map(|g| g.members.iter().zip(g.sync.members()))
    }

    /// The instance named `name` and its state machine.
    pub fn instance(&self, name: &str) -> Option<(&Instance, &Router)> {
        self.instances().find(|(i, _)| i.name() == name)
    }

    /// Feeds the Startup event to every instance and starts their trackers.
    pub fn start(&mut self, now: Instant) -> Vec<Work> {
        self.input_all(now, Input::Startup, Work::StartTrackers)
    }

    /// Feeds Shutdown to every instance: priority-0 adverts, VIPs and routes out,
    /// stop hooks; trackers stopped first so nothing moves the priority meanwhile.
    pub fn shutdown(&mut self, now: Instant) -> Vec<Work> {
        self.input_all(now, Input::Shutdown, Work::StopTrackers)
    }

    /// `input` to every instance, each after its tracker work.
    fn input_all(&mut self, now: Instant, input: Input, trackers: fn(String) -> Work) -> Vec<Work> {
        for (g, m) in self.positions() {
            let name = self.groups[g].members[m].name().to_string();
            self.out.push(trackers(name));
            self.input(now, g, m, input.clone());
        }
        self.take_work()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.first().map(|&(at, _)| at)
    }

    /// Fires every due timer.
    pub fn on_timer(&mut self, now: Instant) -> Vec<Work> {
        let due: Vec<usize> = self
            .timers
            .range(..=(now, usize::MAX))
            .map(|&(_, g)| g)
            .collect();
        for g in due {
            if self.kernel_took_timers(g) {
                self.refresh_deadline(g);
                if self.deadlines[g].is_none_or(|d| d > now) {
                    continue;
                }
            }
            self.sync_group(now, g);
            let actions = self.groups[g].sync.on_timer(now);
            self.execute(now, g, actions);
            self.refresh_deadline(g);
        }
        self.take_work()
    }

    /// A record from the datapath: a validated advert its follow filter reported, or
    /// the silence of a master whose adverts it absorbed.
    pub fn on_record(&mut self, now: Instant, rec: &Record) -> Vec<Work> {
        let Some(&(g, m)) = self.by_key.get(&rec.key()) else {
            return Vec::new(); // a VRID removed by a reload a moment ago
        };
        // Any record means the datapath stopped absorbing: first hand the state
        // machine the last advert it absorbed, then the other members' ones.
        if let Some(armed) = self.groups[g].members[m].armed.take() {
            // Adverts that moved to another uplink leave the old key armed.
            let last = if armed.rec.ifindex() == rec.ifindex() {
                rec.followed_rx_ns()
            } else {
                self.follow
                    .disarm(armed.rec.key())
                    .map_or(0, |f| f.last_rx_ns)
            };
            self.replay(now, g, m, &armed.rec, last);
        }
        self.sync_group(now, g);
        if rec.flags() & REC_F_SILENCE != 0 {
            self.input(now, g, m, Input::Timer);
            return self.take_work();
        }
        self.groups[g].members[m].stats.adverts_received += 1;
        self.input(now, g, m, Input::Advert(received(rec, rec.rx_ns())));
        self.arm(g, m, rec);
        self.take_work()
    }

    /// Arms absorption of copies of `rec` if the state machine says they would only
    /// restart its Master_Down_Timer.
    fn arm(&mut self, g: usize, m: usize, rec: &Record) {
        if rec.seq() == 0 {
            return; // the datapath keeps no follow state for this VRID
        }
        let router = &self.groups[g].sync.members()[m];
        if !router.steady_advert(&received(rec, rec.rx_ns())) {
            return;
        }
        let down_ns = u64::try_from(router.master_down_interval().as_nanos()).unwrap_or(u64::MAX);
        let inst = &mut self.groups[g].members[m];
        let follow = Follow::absorbing(&rec.seen(), rec.seq(), down_ns);
        // The key of the interface the advert came in on: a routed instance has one
        // per uplink, and the master's adverts take whichever the routers pick.
        if self.follow.arm(rec.key(), &follow) {
            inst.armed = Some(Armed {
                rec: *rec,
                kernel_timer: false,
            });
            self.refresh_deadline(g);
        }
    }

    /// Stops absorption for every armed member of group `g` and hands each state
    /// machine the last advert absorbed: before any input but a member's own record.
    fn sync_group(&mut self, now: Instant, g: usize) {
        for m in 0..self.groups[g].members.len() {
            let inst = &mut self.groups[g].members[m];
            let Some(armed) = inst.armed.take() else {
                continue;
            };
            let last = self
                .follow
                .disarm(armed.rec.key())
                .map_or(0, |f| f.last_rx_ns);
            self.replay(now, g, m, &armed.rec, last);
        }
    }

    /// Feeds the followed advert again as received at `rx_ns`, if that is later than
    /// the copy the state machine saw: the absorbed copies only restarted its timer.
    fn replay(&mut self, now: Instant, g: usize, m: usize, followed: &Record, rx_ns: u64) {
        if rx_ns > followed.rx_ns() {
            let actions =
                self.groups[g]
                    .sync
                    .handle(now, m, Input::Advert(received(followed, rx_ns)));
            self.execute(now, g, actions);
        }
    }

    /// A due deadline of group `g` belongs to a member whose adverts the datapath has
    /// been absorbing since it was armed: the datapath's silence timer runs, so the
    /// state machine's (stale) deadline leaves the index. `true` if any did.
    fn kernel_took_timers(&mut self, g: usize) -> bool {
        let mut took = false;
        for inst in &mut self.groups[g].members {
            let key = inst.follow_key();
            let Some(armed) = inst.armed.as_mut() else {
                continue;
            };
            if !armed.kernel_timer
                && self
                    .follow
                    .followed(key)
                    .is_some_and(|f| f.last_rx_ns > armed.rec.rx_ns())
            {
                armed.kernel_timer = true;
                took = true;
            }
        }
        took
    }

    /// Link state of interface `ifindex` (named `ifname`) is `up`. Idempotent: the
    /// daemon also feeds the current state of every watched interface at start and
    /// after a reload.
    pub fn on_link(&mut self, now: Instant, ifindex: u32, ifname: &str, up: bool) -> Vec<Work> {
        for (g, m) in self.positions() {
            let inst = &self.groups[g].members[m];
            // A routed instance's uplinks are not its fate: its peers' routes are.
            let own = inst.spec.link == Some(ifindex);
            let tracked: Vec<i16> = inst
                .spec
                .cfg
                .track
                .interfaces
                .iter()
                .filter(|t| t.name == ifname)
                .map(|t| t.weight)
                .collect();
            if own {
                let input = if up { Input::LinkUp } else { Input::LinkDown };
                self.input(now, g, m, input);
            }
            for weight in tracked {
                let update = TrackUpdate {
                    object: config::tracked_interface(ifname),
                    up,
                    weight: track::weight(weight),
                };
                self.input(now, g, m, Input::Track(update));
            }
        }
        self.take_work()
    }

    /// A tracked script or file of instance `instance` changed. A report for an
    /// object the running configuration no longer tracks (sent by a tracker just
    /// before a reload stopped it) is dropped.
    pub fn on_track(&mut self, now: Instant, instance: &str, update: TrackUpdate) -> Vec<Work> {
        if let Some((g, m)) = self.position(instance) {
            let track = &self.groups[g].members[m].spec.cfg.track;
            let configured = config::tracked_weights(track).contains_key(&update.object);
            if configured {
                self.input(now, g, m, Input::Track(update));
            } else {
                debug!(instance, object = %update.object, "report of an untracked object dropped");
            }
        }
        self.take_work()
    }

    /// An address disappeared from interface `ifname`: a VIP we hold goes back.
    pub fn on_address_removed(&mut self, ifname: &str, addr: IpAddr) -> Vec<Work> {
        for g in &self.groups {
            for inst in g.members.iter().filter(|i| i.state == State::Master) {
                let lost: Vec<config::Vip> = inst
                    .spec
                    .cfg
                    .vips
                    .iter()
                    .filter(|v| v.address.addr() == addr && v.dev == ifname)
                    .cloned()
                    .collect();
                if !lost.is_empty() {
                    warn!(
                        instance = %inst.name(),
                        vip = %addr,
                        dev = ifname,
                        "VIP removed behind our back while master: adding it again"
                    );
                    self.out.push(Work::Kernel {
                        instance: inst.name().to_string(),
                        op: KernelOp::AddVips {
                            vips: lost,
                            lease: inst.spec.cfg.vip_lease,
                            accept: inst.accept,
                        },
                    });
                }
            }
        }
        self.take_work()
    }

    /// When [`Controller::upkeep`] next has work: a master's lease a third gone, or a
    /// resync after dropped kernel work. None when there is nothing to keep up, so an
    /// idle daemon sleeps until the protocol or the kernel wakes it.
    pub fn next_upkeep(&mut self) -> Option<Instant> {
        if let Some(at) = self.upkeep_at {
            return at;
        }
        let at = self.scan_upkeep();
        self.upkeep_at = Some(at);
        at
    }

    fn scan_upkeep(&self) -> Option<Instant> {
        self.groups
            .iter()
            .flat_map(|g| &g.members)
            .filter_map(|inst| {
                let lease = inst
                    .spec
                    .cfg
                    .vip_lease
                    .filter(|_| inst.state == State::Master)
                    .map(|lease| inst.lease_set.map_or(Instant::ZERO, |t| t + lease / 3));
                match (lease, inst.resync_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            })
            .min()
    }

    /// Upkeep due at `now`: re-sets the VIP lease of masters whose lease is a third
    /// gone, and queues the whole kernel state again for instances that lost kernel work.
    pub fn upkeep(&mut self, now: Instant) -> Vec<Work> {
        self.upkeep_at = None;
        for g in &mut self.groups {
            for inst in &mut g.members {
                if inst.resync_at.is_some_and(|at| at <= now) {
                    inst.resync_at = None;
                    resync(inst, &mut self.out);
                    continue;
                }
                let Some(lease) = inst.spec.cfg.vip_lease else {
                    continue;
                };
                if inst.state != State::Master {
                    continue;
                }
                let due = inst
                    .lease_set
                    .is_none_or(|t| now.saturating_since(t) >= lease / 3);
                if due {
                    inst.lease_set = Some(now);
                    self.out.push(Work::Kernel {
                        instance: inst.name().to_string(),
                        op: KernelOp::RefreshVips {
                            vips: inst.spec.cfg.vips.clone(),
                            lease: Some(lease),
                        },
                    });
                }
            }
        }
        self.take_work()
    }

    /// The daemon could not queue kernel work for `instance` at `now`: count it, and
    /// queue the whole kernel state again after [`RESYNC_RETRY`], when the kernel
    /// worker has had time to drain its queue.
    pub fn kernel_dropped(&mut self, now: Instant, instance: &str) {
        if let Some(inst) = self.instance_mut(instance) {
            inst.stats.kernel_dropped += 1;
            inst.resync_at.get_or_insert(now + RESYNC_RETRY);
            self.upkeep_at = None;
            self.dirty = true;
        }
    }

    /// The daemon could not queue a hook for `instance`.
    pub fn hook_dropped(&mut self, instance: &str) {
        if let Some(inst) = self.instance_mut(instance) {
            inst.stats.hooks.dropped += 1;
            self.dirty = true;
        }
    }

    /// A hook of `instance` finished.
    pub fn hook_finished(&mut self, instance: &str, exit: &ExitKind) {
        if let Some(inst) = self.instance_mut(instance) {
            inst.stats.hooks.record(exit);
            self.dirty = true;
        }
    }

    /// Applies a new configuration, changing only what changed (see
    /// [`config::ReloadClass`]). Everything new is built first: if anything cannot
    /// be built, nothing changes and the error says why.
    pub fn reload(
        &mut self,
        now: Instant,
        new: Config,
        host: &dyn Host,
        sinks: &mut dyn OpenSink,
    ) -> Result<(ReloadReport, Vec<Work>)> {
        self.upkeep_at = None;
        let diff = config::diff(&self.config, &new);
        let senders: HashMap<String, SenderConfig> = self
            .instances()
            .map(|(i, _)| (i.name().to_string(), i.spec.sender.clone()))
            .collect();
        let prepared = prepare(&new, &diff, &senders, host, sinks)?;
        self.commit(now, new, &diff, prepared, true);
        let report = ReloadReport {
            added: diff.added,
            removed: diff.removed,
            kept: diff.kept,
        };
        Ok((report, self.take_work()))
    }

    /// What the datapath must accept.
    pub fn datapath_config(&self) -> DatapathConfig {
        let mut config = DatapathConfig::default();
        for (i, _) in self.instances() {
            config.extend(&i.spec.datapath);
        }
        config
    }

    /// Interfaces whose link state matters: every instance's and every tracked one.
    pub fn watched_interfaces(&self) -> BTreeSet<String> {
        self.instances()
            .flat_map(|(i, _)| {
                let cfg = &i.spec.cfg;
                cfg.link()
                    .map(str::to_string)
                    .into_iter()
                    .chain(cfg.track.interfaces.iter().map(|t| t.name.clone()))
            })
            .collect()
    }

    /// The daemon flushed the adverts queued since the last call: counts, per
    /// instance, the copies that left and those refused.
    pub fn sends_flushed(&mut self) {
        let mut queued = std::mem::take(&mut self.queued);
        for key in queued.drain(..) {
            // A removed instance is gone with its counters; a restarted one has a new sink.
            let Some(&(g, m)) = self.by_key.get(&key) else {
                continue;
            };
            let inst = &mut self.groups[g].members[m];
            let report = inst.sink.take_report();
            self.dirty |= inst.record_sends(report);
        }
        self.queued = queued;
    }

    /// Whether status must be republished now (and clears the flag).
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    // ---- Reload ---------------------------------------------------------------------

    /// Replaces the running groups by those of `new`: removed and restarting
    /// instances shut down first, kept ones get their changes in place, fresh ones
    /// start (when `start` is set; at construction the daemon starts them later).
    fn commit(
        &mut self,
        now: Instant,
        new: Config,
        diff: &ConfigDiff,
        prepared: Vec<Vec<(String, Prepared)>>,
        start: bool,
    ) {
        let fresh_names: BTreeSet<&str> = prepared
            .iter()
            .flatten()
            .filter(|(_, p)| matches!(p, Prepared::Fresh(..)))
            .map(|(n, _)| n.as_str())
            .collect();
        // Nothing absorbed across a reload: every state machine up to date first.
        for g in 0..self.groups.len() {
            self.sync_group(now, g);
        }
        // Leave first: every running instance that is removed or restarts.
        for (g, m) in self.positions() {
            let name = self.groups[g].members[m].name().to_string();
            if diff.removed.contains(&name) || fresh_names.contains(name.as_str()) {
                self.out.push(Work::StopTrackers(name));
                self.input(now, g, m, Input::Shutdown);
            }
        }
        let mut old: HashMap<String, (SyncGroup, Vec<Instance>)> = HashMap::new();
        for g in std::mem::take(&mut self.groups) {
            let key = g.members[0].name().to_string();
            old.insert(key, (g.sync, g.members));
        }
        self.by_key.clear();
        self.timers.clear();
        self.deadlines.clear();
        let mut kept_updates = Vec::new();
        let mut fresh = Vec::new();
        for members in prepared {
            let g = self.groups.len();
            if let Some((_, Prepared::Fresh(..))) = members.first() {
                // Sized exactly: `unzip` pushes one by one, and a pushed Vec starts at
                // four slots (3.5 KiB of Instances for a group of one, 255 times).
                let mut insts = Vec::with_capacity(members.len());
                let mut routers = Vec::with_capacity(members.len());
                for (_, p) in members {
                    let Prepared::Fresh(fresh) = p else {
                        unreachable!("groups start or stay as a whole")
                    };
                    let (inst, router) = *fresh;
                    insts.push(inst);
                    routers.push(router);
                }
                self.groups.push(Group {
                    sync: SyncGroup::new(routers),
                    members: insts,
                });
                fresh.push(g);
            } else {
                let (sync, mut insts) = old
                    .remove(&members[0].0)
                    .expect("a kept group ran before, led by the same member");
                for (m, (name, p)) in members.into_iter().enumerate() {
                    let Prepared::Kept(spec, sink) = p else {
                        unreachable!("groups start or stay as a whole")
                    };
                    let inst = &mut insts[m];
                    debug_assert_eq!(inst.name(), name);
                    let old_cfg = std::mem::replace(&mut inst.spec, *spec).cfg;
                    inst.advert = None;
                    if let Some(sink) = sink {
                        inst.sink = sink;
                    }
                    kept_updates.push((g, m, old_cfg));
                }
                self.groups.push(Group {
                    sync,
                    members: insts,
                });
            }
            for (m, inst) in self.groups[g].members.iter().enumerate() {
                for &ifindex in &inst.spec.ifindexes {
                    self.by_key.insert(inst.spec.key(ifindex), (g, m));
                }
            }
            self.deadlines.push(None);
            self.refresh_deadline(g);
        }
        self.config = new;
        self.dirty = true;
        let keys = self.follow_keys();
        self.follow.install(&keys);
        for (g, m, old_cfg) in &kept_updates {
            self.apply_drivers(now, *g, *m, old_cfg);
        }
        for (g, m, old_cfg) in &kept_updates {
            self.apply_core(now, *g, *m, old_cfg);
        }
        if start {
            for g in fresh {
                for m in 0..self.groups[g].members.len() {
                    let name = self.groups[g].members[m].name().to_string();
                    self.out.push(Work::StartTrackers(name));
                    self.input(now, g, m, Input::Startup);
                }
            }
        }
    }

    /// A kept instance whose spec was just replaced, first phase: the kernel and
    /// tracker work its changes need, decided on the state before the reload. Every
    /// kept instance gets this before any gets a core input, because a core input
    /// to one sync group member can move the others (whose own diffs would then be
    /// lost).
    fn apply_drivers(&mut self, now: Instant, g: usize, m: usize, old: &config::Instance) {
        let inst = &mut self.groups[g].members[m];
        let cfg = inst.spec.cfg.clone();
        let name = cfg.name.clone();
        let master = inst.state == State::Master;
        let kernel = |op| Work::Kernel {
            instance: name.clone(),
            op,
        };

        // Address work on a master: just what was added or removed.
        if master {
            let removed: Vec<config::Vip> = minus(&old.vips, &cfg.vips, vip_key);
            let added: Vec<config::Vip> = minus(&cfg.vips, &old.vips, vip_key);
            let kept: Vec<config::Vip> = minus(&cfg.vips, &added, vip_key);
            if !removed.is_empty() {
                self.out.push(kernel(KernelOp::RemoveVips {
                    vips: removed,
                    blocked: !inst.accept,
                }));
            }
            // A new lease (or none) is re-put in place. A new label or scope is not:
            // the kernel keeps them on a replace, so they apply at the next add.
            if old.vip_lease != cfg.vip_lease && !kept.is_empty() {
                self.out.push(kernel(KernelOp::RefreshVips {
                    vips: kept,
                    lease: cfg.vip_lease,
                }));
                inst.lease_set = cfg.vip_lease.map(|_| now);
            }
            if !added.is_empty() {
                let announce: Vec<config::Vip> = added
                    .iter()
                    .filter(|v| !cfg.is_routed(v))
                    .cloned()
                    .collect();
                self.out.push(kernel(KernelOp::AddVips {
                    vips: added,
                    lease: cfg.vip_lease,
                    accept: inst.accept,
                }));
                if let (false, Some(ifindex)) = (announce.is_empty(), inst.spec.link) {
                    self.out.push(kernel(KernelOp::Announce {
                        ifindex,
                        vips: announce,
                        garp: cfg.garp.clone(),
                    }));
                }
            }
            let gone = minus(&old.routes, &cfg.routes, Clone::clone);
            if !gone.is_empty() {
                self.out
                    .push(kernel(KernelOp::RemoveRoutes { routes: gone }));
            }
            let new_routes = minus(&cfg.routes, &old.routes, Clone::clone);
            if !new_routes.is_empty() {
                self.out
                    .push(kernel(KernelOp::AddRoutes { routes: new_routes }));
            }
        }

        // Trackers whose commands, timings or routes changed run afresh; their objects
        // keep their last state in the core until the new tracker reports. (A route's
        // new weight alone is applied in the core: its state is known.)
        if old.track.scripts != cfg.track.scripts
            || old.track.files != cfg.track.files
            || config::tracker_runs(&old.track).2 != config::tracker_runs(&cfg.track).2
        {
            self.out.push(Work::StopTrackers(name.clone()));
            self.out.push(Work::StartTrackers(name.clone()));
        }
    }

    /// Second phase: the core inputs, the in-place settings, then tracked objects
    /// gone or re-weighted. Nothing here moves mastership by itself.
    fn apply_core(&mut self, now: Instant, g: usize, m: usize, old: &config::Instance) {
        let cfg = self.groups[g].members[m].spec.cfg.clone();
        // Only when the state machine's settings differ: an unchanged one is not
        // even asked to re-evaluate.
        let router_cfg = self.groups[g].members[m].spec.router.clone();
        if *self.groups[g].sync.members()[m].config() != router_cfg {
            self.input(now, g, m, Input::Reconfigure(router_cfg));
        }
        let (before, after) = (
            config::tracked_weights(&old.track),
            config::tracked_weights(&cfg.track),
        );
        for object in before.keys() {
            if !after.contains_key(object) {
                self.input(now, g, m, Input::Untrack(object.clone()));
            }
        }
        // A file's effect is its value times the weight: only its restarted tracker
        // knows the new one, so files are re-weighted when it reports.
        let files: Vec<String> = cfg
            .track
            .files
            .iter()
            .map(|f| config::tracked_file(&f.path))
            .collect();
        for (object, weight) in after {
            if files.contains(&object) {
                continue;
            }
            let changed = before.get(&object).is_some_and(|w| *w != weight);
            let known = self.groups[g].sync.members()[m].tracked(&object);
            if let (true, Some((up, _))) = (changed, known) {
                let update = TrackUpdate {
                    object,
                    up,
                    weight: track::weight(weight),
                };
                self.input(now, g, m, Input::Track(update));
            }
        }
    }

    // ---- Inputs and actions -----------------------------------------------------------

    fn positions(&self) -> Vec<(usize, usize)> {
        self.groups
            .iter()
            .enumerate()
            .flat_map(|(g, grp)| (0..grp.members.len()).map(move |m| (g, m)))
            .collect()
    }

    fn position(&self, name: &str) -> Option<(usize, usize)> {
        self.positions()
            .into_iter()
            .find(|&(g, m)| self.groups[g].members[m].name() == name)
    }

    fn instance_mut(&mut self, name: &str) -> Option<&mut Instance> {
        let (g, m) = self.position(name)?;
        Some(&mut self.groups[g].members[m])
    }

    fn take_work(&mut self) -> Vec<Work> {
        std::mem::take(&mut self.out)
    }

    fn input(&mut self, now: Instant, g: usize, m: usize, input: Input) {
        if !matches!(input, Input::Advert(_) | Input::Timer) {
            self.dirty = true; // tracking, link, start/stop, reload: priority or state may move
        }
        self.sync_group(now, g);
        let actions = self.groups[g].sync.handle(now, m, input);
        self.execute(now, g, actions);
        self.refresh_deadline(g);
    }

    /// Group `g`'s state machines were stepped: keep the deadline index in step.
    fn refresh_deadline(&mut self, g: usize) {
        // A member whose silences the datapath times has no deadline of its own here.
        let grp = &self.groups[g];
        let next = grp
            .sync
            .members()
            .iter()
            .zip(&grp.members)
            .filter(|(_, i)| !i.armed.is_some_and(|a| a.kernel_timer))
            .filter_map(|(r, _)| r.next_deadline())
            .min();
        let slot = &mut self.deadlines[g];
        if *slot != next {
            if let Some(old) = *slot {
                self.timers.remove(&(old, g));
            }
            if let Some(at) = next {
                self.timers.insert((at, g));
            }
            *slot = next;
        }
    }

    fn execute(&mut self, now: Instant, g: usize, actions: Vec<(usize, Action)>) {
        for (m, action) in actions {
            self.act(now, g, m, action);
        }
    }

    fn act(&mut self, now: Instant, g: usize, m: usize, action: Action) {
        let inst = &mut self.groups[g].members[m];
        let cfg = &inst.spec.cfg;
        let kernel = |op| Work::Kernel {
            instance: cfg.name.clone(),
            op,
        };
        match action {
            Action::Transition(t) => {
                self.dirty = true;
                let detection = t.last_advert.map(|la| t.at.saturating_since(la));
                info!(
                    instance = %cfg.name,
                    vrid = cfg.vrid,
                    from = %t.from,
                    to = %t.to,
                    reason = %t.reason,
                    priority = t.priority,
                    detection_ms = detection.map(|d| d.as_secs_f64() * 1e3),
                    "state change"
                );
                inst.stats.count_transition(t.to, &t.reason);
                if t.to == State::Master && t.from == State::Backup {
                    inst.stats.last_failover_detection = detection;
                }
                inst.stats.last = Some(LastTransition {
                    from: t.from,
                    to: t.to,
                    reason: t.reason,
                    at: t.at,
                    detection,
                });
                inst.state = t.to;
                if t.to != State::Master {
                    inst.lease_set = None;
                }
                self.upkeep_at = None;
            }
            Action::SendAdvert {
                priority,
                interval_cs,
            } => {
                let key = (priority, interval_cs);
                if inst.advert.as_ref().is_none_or(|(k, _)| *k != key) {
                    inst.advert = Some((key, inst.spec.advert(priority, interval_cs)));
                }
                let (_, advert) = inst.advert.as_ref().expect("just built");
                // Counted (and logged, on a change only) when sent: now, or after the
                // daemon's flush at the end of this wake.
                let report = match inst.sink.send(advert) {
                    Ok(Sent::Queued(_)) => {
                        self.queued.push(inst.spec.key(inst.spec.ifindexes[0]));
                        return;
                    }
                    Ok(Sent::Now(n)) => SendReport {
                        sent: n as u64,
                        ..SendReport::default()
                    },
                    Err(e) => SendReport {
                        failed: 1,
                        error: Some(e),
                        ..SendReport::default()
                    },
                };
                self.dirty |= inst.record_sends(report);
            }
            Action::AddVips { accept } => {
                let op = KernelOp::AddVips {
                    vips: cfg.vips.clone(),
                    lease: cfg.vip_lease,
                    accept,
                };
                self.out.push(kernel(op));
                inst.accept = accept;
                inst.nft_used |= !accept;
                inst.lease_set = inst.spec.cfg.vip_lease.map(|_| now);
                self.upkeep_at = None;
            }
            Action::RemoveVips => {
                let op = KernelOp::RemoveVips {
                    vips: cfg.vips.clone(),
                    blocked: !inst.accept,
                };
                self.out.push(kernel(op));
                inst.accept = true;
            }
            Action::SetAccept(accept) => {
                let op = KernelOp::SetAccept {
                    vips: cfg.vips.clone(),
                    accept,
                };
                self.out.push(kernel(op));
                inst.accept = accept;
                inst.nft_used = true;
            }
            Action::AddRoutes if !cfg.routes.is_empty() => {
                let routes = cfg.routes.clone();
                self.out.push(kernel(KernelOp::AddRoutes { routes }));
            }
            Action::RemoveRoutes if !cfg.routes.is_empty() => {
                let routes = cfg.routes.clone();
                self.out.push(kernel(KernelOp::RemoveRoutes { routes }));
            }
            Action::AddRoutes | Action::RemoveRoutes => {}
            Action::Announce => {
                let vips: Vec<config::Vip> = cfg.link_vips().cloned().collect();
                if let (false, Some(ifindex)) = (vips.is_empty(), inst.spec.link) {
                    let op = KernelOp::Announce {
                        ifindex,
                        vips,
                        garp: cfg.garp.clone(),
                    };
                    self.out.push(kernel(op));
                }
            }
            Action::RunHook {
                state,
                from,
                reason,
            } => {
                let command = match state {
                    State::Master => &cfg.hooks.on_master,
                    State::Backup => &cfg.hooks.on_backup,
                    State::Fault => &cfg.hooks.on_fault,
                    State::Initialize => &cfg.hooks.on_stop,
                };
                if let Some(command) = command {
                    self.out.push(Work::Hook(HookJob {
                        instance: cfg.name.clone(),
                        vrid: cfg.vrid,
                        state,
                        prev: from,
                        reason,
                        command: command.clone(),
                        timeout: cfg.hooks.timeout,
                    }));
                }
            }
            Action::Ignored(reason) => {
                inst.stats.ignored += 1;
                debug!(instance = %cfg.name, ?reason, "advert ignored");
            }
        }
    }
}

/// Builds, without changing anything, every group of `new` as `diff` says: fresh
/// instances (new or restarting) get a state machine and a sink; kept ones a new
/// spec, and a new sink if their send side differs from `running`'s. Groups in
/// `new`'s order.
fn prepare(
    new: &Config,
    diff: &ConfigDiff,
    running: &HashMap<String, SenderConfig>,
    host: &dyn Host,
    sinks: &mut dyn OpenSink,
) -> Result<Vec<Vec<(String, Prepared)>>> {
    let mut groups = Vec::new();
    for members in grouping(new) {
        let mut out = Vec::new();
        for cfg in members {
            let restart = diff
                .change(&cfg.name)
                .is_none_or(|c| c.class == ReloadClass::Restart);
            // A kept instance keeps the source it runs with: a multicast one's was
            // the interface's first address at its start, and its state machine
            // ties on it.
            let spec = match running.get(&cfg.name) {
                Some(old) if !restart => InstanceSpec::new(
                    cfg,
                    &Pinned {
                        host,
                        source: old.source,
                    },
                )?,
                _ => InstanceSpec::new(cfg, host)?,
            };
            let prepared = if restart {
                let router = Router::new(spec.router.clone())
                    .with_context(|| format!("instance {:?}", cfg.name))?;
                let sink = sinks
                    .open(&spec.sender)
                    .with_context(|| format!("instance {:?}", cfg.name))?;
                Prepared::Fresh(Box::new((Instance::new(spec, sink), router)))
            } else {
                let sink = match running.get(&cfg.name) {
                    Some(old) if *old == spec.sender => None,
                    _ => Some(
                        sinks
                            .open(&spec.sender)
                            .with_context(|| format!("instance {:?}", cfg.name))?,
                    ),
                };
                Prepared::Kept(Box::new(spec), sink)
            };
            out.push((cfg.name.clone(), prepared));
        }
        groups.push(out);
    }
    Ok(groups)
}

/// A host whose interfaces all answer with the given first address.
struct Pinned<'a> {
    host: &'a dyn Host,
    source: IpAddr,
}

impl Host for Pinned<'_> {
    fn ifindex(&self, name: &str) -> Option<u32> {
        self.host.ifindex(name)
    }

    fn multicast_source(&self, _name: &str, _family: config::Family) -> Option<IpAddr> {
        Some(self.source)
    }

    fn uplinks(&self) -> Vec<String> {
        self.host.uplinks()
    }
}

/// Sync groups in configuration order, then lone instances as groups of one.
fn grouping(config: &Config) -> Vec<Vec<&config::Instance>> {
    let mut out: Vec<Vec<&config::Instance>> = config
        .sync_groups
        .iter()
        .map(|g| {
            g.members
                .iter()
                .filter_map(|m| config.instance(m))
                .collect()
        })
        .collect();
    for i in &config.instances {
        if config.sync_group_of(&i.name).is_none() {
            out.push(vec![i]);
        }
    }
    out
}

/// The whole kernel state of the instance's current state, queued again after a
/// queue overflow lost some of it. Every op is idempotent.
fn resync(inst: &mut Instance, out: &mut Vec<Work>) {
    let cfg = &inst.spec.cfg;
    let kernel = |op| Work::Kernel {
        instance: cfg.name.clone(),
        op,
    };
    warn!(instance = %cfg.name, state = %inst.state, "kernel work was dropped: queueing the whole kernel state again");
    if inst.state == State::Master {
        out.push(kernel(KernelOp::AddVips {
            vips: cfg.vips.clone(),
            lease: cfg.vip_lease,
            accept: inst.accept,
        }));
        if inst.nft_used {
            // A lost unblock is not undone by an add that accepts.
            out.push(kernel(KernelOp::SetAccept {
                vips: cfg.vips.clone(),
                accept: inst.accept,
            }));
        }
        if !cfg.routes.is_empty() {
            out.push(kernel(KernelOp::AddRoutes {
                routes: cfg.routes.clone(),
            }));
        }
    } else {
        if !cfg.routes.is_empty() {
            out.push(kernel(KernelOp::RemoveRoutes {
                routes: cfg.routes.clone(),
            }));
        }
        out.push(kernel(KernelOp::RemoveVips {
            vips: cfg.vips.clone(),
            blocked: inst.nft_used || !cfg.accept_mode,
        }));
    }
}

/// Where a VIP lives: the same address on the same device is the same VIP.
fn vip_key(v: &config::Vip) -> (ipnet::IpNet, String) {
    (v.address, v.dev.clone())
}

/// The items of `a` whose key is not among `b`'s, in `a`'s order.
fn minus<T: Clone, K: PartialEq>(a: &[T], b: &[T], key: impl Fn(&T) -> K) -> Vec<T> {
    a.iter()
        .filter(|x| !b.iter().any(|y| key(y) == key(x)))
        .cloned()
        .collect()
}

/// A record as the state machine's input, received at `rx_ns`.
fn received(rec: &Record, rx_ns: u64) -> ReceivedAdvert {
    let (src, addrs) = match rec {
        Record::V4(r) => (
            IpAddr::V4(Ipv4Addr::from(r.src)),
            r.addrs()
                .iter()
                .map(|a| IpAddr::V4(Ipv4Addr::from(*a)))
                .collect(),
        ),
        Record::V6(r) => (
            IpAddr::V6(Ipv6Addr::from(r.src)),
            r.addrs()
                .iter()
                .map(|a| IpAddr::V6(Ipv6Addr::from(*a)))
                .collect(),
        ),
    };
    ReceivedAdvert {
        src,
        // The datapath accepts only the VRID's configured version, 2 or 3.
        version: if rec.version() == 2 {
            Version::V2
        } else {
            Version::V3
        },
        vrid: rec.vrid(),
        priority: rec.priority(),
        max_adver_int_cs: rec.adver_int_cs(),
        addrs,
        rx_time: Instant::from_nanos(rx_ns),
    }
}

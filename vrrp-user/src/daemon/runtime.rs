//! The controller's state: every instance's state machine (as a sync group, a group of
//! one for a lone instance), its sender and counters, and the code that turns inputs
//! into actions and actions into work for the drivers.
//!
//! Everything here runs on the main task and never waits: adverts go out on a
//! non-blocking raw socket, kernel changes and hooks are queued for workers.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr},
    time::Duration,
};

use anyhow::{Context, Result};
use tokio::sync::mpsc::UnboundedSender;
use tracing::{debug, info, warn};
use vrrp_common::AdvertRecord;
use vrrp_core::{
    router::{Action, Input, ReceivedAdvert, Router, State, SyncGroup, TrackUpdate, TrackWeight},
    time::Instant,
};

use super::{
    instance::{InstanceSpec, LastTransition, Stats},
    ops::{HookJob, KernelOp, reason_name, state_name},
};
use crate::{
    config::{self, Config},
    datapath::DatapathConfig,
    metrics::JitterTracker,
    sender::Sender,
};

/// One instance at run time.
pub struct Instance {
    pub spec: InstanceSpec,
    pub sender: Sender,
    pub stats: Stats,
    /// Index of its sync group in `Runtime::groups`, and its member index there.
    pub group: usize,
    pub member: usize,
    pub state: State,
    /// When the VIPs' lease was last set.
    pub lease_set: Option<Instant>,
    pub kernel: UnboundedSender<KernelOp>,
    /// Jitter of the followed master's adverts, from kernel receive times.
    pub jitter: JitterTracker,
    jitter_src: Option<[u8; 4]>,
    /// Whether the VIPs we hold accept traffic (false: blocked, accept mode off).
    accept: bool,
}

/// Starts the ordered kernel-op queue of a new instance (called with its name).
pub type KernelQueueFactory = Box<dyn Fn(&str) -> UnboundedSender<KernelOp> + Send>;

/// Where work for the drivers goes.
pub struct Sinks {
    pub kernel: KernelQueueFactory,
    pub hooks: UnboundedSender<HookJob>,
}

pub struct Runtime {
    pub config: Config,
    pub instances: Vec<Instance>,
    pub groups: Vec<SyncGroup>,
    /// Group index -> instance indexes, in member order.
    pub group_members: Vec<Vec<usize>>,
    by_key: HashMap<(u32, u8), usize>,
    pub sinks: Sinks,
    /// A state or priority changed since the last `take_dirty`: status is stale.
    dirty: bool,
}

impl Runtime {
    /// Builds every instance of `config`; fails on the first one that cannot run here.
    pub fn new(config: Config, sinks: Sinks) -> Result<Runtime> {
        let mut rt = Runtime {
            config: config.clone(),
            instances: Vec::new(),
            groups: Vec::new(),
            group_members: Vec::new(),
            by_key: HashMap::new(),
            sinks,
            dirty: true,
        };
        for members in grouping(&config) {
            let (instances, group) = rt.build_group(&members)?;
            rt.push_group(instances, group);
        }
        Ok(rt)
    }

    /// Builds a group's instances (state machines, senders, queues) without touching
    /// the runtime, so a failure leaves everything as it was.
    fn build_group(&self, members: &[config::Instance]) -> Result<(Vec<Instance>, SyncGroup)> {
        let mut routers = Vec::new();
        let mut instances = Vec::new();
        for (member, cfg) in members.iter().enumerate() {
            let spec = InstanceSpec::new(cfg)?;
            let router = Router::new(spec.router.clone())
                .with_context(|| format!("instance {:?}", cfg.name))?;
            let sender = Sender::new(spec.sender.clone())
                .with_context(|| format!("instance {:?}", cfg.name))?;
            let kernel = (self.sinks.kernel)(&cfg.name);
            instances.push(Instance {
                spec,
                sender,
                stats: Stats::default(),
                group: 0,
                member,
                state: State::Initialize,
                lease_set: None,
                kernel,
                jitter: JitterTracker::new(),
                jitter_src: None,
                accept: true,
            });
            routers.push(router);
        }
        Ok((instances, SyncGroup::new(routers)))
    }

    fn push_group(&mut self, instances: Vec<Instance>, group: SyncGroup) -> usize {
        let g = self.groups.len();
        let mut idxs = Vec::new();
        for mut inst in instances {
            inst.group = g;
            let idx = self.instances.len();
            self.by_key
                .insert((inst.spec.ifindex, inst.spec.cfg.vrid), idx);
            self.instances.push(inst);
            idxs.push(idx);
        }
        self.groups.push(group);
        self.group_members.push(idxs);
        g
    }

    /// Applies a new configuration. Groups whose members and their settings are
    /// unchanged keep their state machines untouched (no flap); the others are shut
    /// down (priority 0, VIPs and routes removed) and started afresh. Nothing changes
    /// if any new instance cannot be built.
    pub fn reload(&mut self, new: Config, now: Instant) -> Result<ReloadSummary> {
        let old_groups: Vec<Vec<config::Instance>> = self
            .group_members
            .iter()
            .map(|idxs| {
                idxs.iter()
                    .map(|&i| self.instances[i].spec.cfg.clone())
                    .collect()
            })
            .collect();
        enum Plan {
            Keep(usize),
            Fresh(Vec<Instance>, SyncGroup),
        }
        let mut plans = Vec::new();
        for members in grouping(&new) {
            match old_groups.iter().position(|o| *o == members) {
                Some(pos) => plans.push(Plan::Keep(pos)),
                None => {
                    let (i, g) = self.build_group(&members)?;
                    plans.push(Plan::Fresh(i, g));
                }
            }
        }
        let kept: Vec<usize> = plans
            .iter()
            .filter_map(|p| match p {
                Plan::Keep(g) => Some(*g),
                Plan::Fresh(..) => None,
            })
            .collect();
        let mut summary = ReloadSummary::default();
        for g in 0..self.groups.len() {
            if !kept.contains(&g) {
                for m in 0..self.group_members[g].len() {
                    summary.stopped.push(
                        self.instances[self.group_members[g][m]]
                            .spec
                            .cfg
                            .name
                            .clone(),
                    );
                    self.input(now, g, m, Input::Shutdown);
                }
            }
        }
        // Reassemble: take the kept groups out of the old vectors.
        let mut old_instances: Vec<Option<Instance>> = std::mem::take(&mut self.instances)
            .into_iter()
            .map(Some)
            .collect();
        let mut old_sync: Vec<Option<SyncGroup>> = std::mem::take(&mut self.groups)
            .into_iter()
            .map(Some)
            .collect();
        let old_members = std::mem::take(&mut self.group_members);
        self.by_key.clear();
        let mut fresh = Vec::new();
        for plan in plans {
            match plan {
                Plan::Keep(g) => {
                    let insts: Vec<Instance> = old_members[g]
                        .iter()
                        .map(|&i| old_instances[i].take().expect("each kept once"))
                        .collect();
                    summary
                        .unchanged
                        .extend(insts.iter().map(|i| i.spec.cfg.name.clone()));
                    self.push_group(insts, old_sync[g].take().expect("each kept once"));
                }
                Plan::Fresh(insts, group) => {
                    summary
                        .started
                        .extend(insts.iter().map(|i| i.spec.cfg.name.clone()));
                    fresh.push(self.push_group(insts, group));
                }
            }
        }
        self.config = new;
        for g in fresh {
            for m in 0..self.group_members[g].len() {
                self.input(now, g, m, Input::Startup);
            }
        }
        Ok(summary)
    }

    /// What the datapath must accept.
    pub fn datapath_config(&self) -> DatapathConfig {
        DatapathConfig {
            entries: self
                .instances
                .iter()
                .map(|i| i.spec.datapath.clone())
                .collect(),
        }
    }

    pub fn router(&self, idx: usize) -> &Router {
        let i = &self.instances[idx];
        &self.groups[i.group].members()[i.member]
    }

    /// Feeds the Startup event to every instance.
    pub fn start(&mut self, now: Instant) {
        for g in 0..self.groups.len() {
            for m in 0..self.group_members[g].len() {
                self.input(now, g, m, Input::Startup);
            }
        }
    }

    /// Feeds Shutdown to every instance: priority-0 adverts, VIPs and routes removed.
    pub fn shutdown(&mut self, now: Instant) {
        for g in 0..self.groups.len() {
            for m in 0..self.group_members[g].len() {
                self.input(now, g, m, Input::Shutdown);
            }
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.groups
            .iter()
            .filter_map(SyncGroup::next_deadline)
            .min()
    }

    /// Fires every due timer.
    pub fn on_timer(&mut self, now: Instant) {
        for g in 0..self.groups.len() {
            if self.groups[g].next_deadline().is_some_and(|d| d <= now) {
                let actions = self.groups[g].on_timer(now);
                self.execute(now, g, actions);
            }
        }
    }

    /// A validated advert from the datapath.
    pub fn on_record(&mut self, now: Instant, rec: &AdvertRecord) {
        let Some(&idx) = self.by_key.get(&(rec.ifindex, rec.vrid)) else {
            return; // a VRID removed by a reload a moment ago
        };
        let inst = &mut self.instances[idx];
        inst.stats.adverts_received += 1;
        if inst.jitter_src != Some(rec.src) {
            inst.jitter.reset();
            inst.jitter_src = Some(rec.src);
        }
        inst.jitter.observe(
            rec.rx_ns,
            Duration::from_millis(u64::from(rec.adver_int_cs) * 10),
        );
        let advert = ReceivedAdvert {
            src: IpAddr::V4(Ipv4Addr::from(rec.src)),
            version: if rec.version == 2 {
                vrrp_core::router::Version::V2
            } else {
                vrrp_core::router::Version::V3
            },
            vrid: rec.vrid,
            priority: rec.priority,
            max_adver_int_cs: rec.adver_int_cs,
            addrs: rec
                .addrs()
                .iter()
                .map(|a| IpAddr::V4(Ipv4Addr::from(*a)))
                .collect(),
            rx_time: Instant::from_nanos(rec.rx_ns),
        };
        let (g, m) = (self.instances[idx].group, self.instances[idx].member);
        self.input(now, g, m, Input::Advert(advert));
    }

    /// Link state of interface `ifindex` changed.
    pub fn on_link(&mut self, now: Instant, ifindex: u32, ifname: &str, up: bool) {
        for idx in 0..self.instances.len() {
            let (g, m) = (self.instances[idx].group, self.instances[idx].member);
            if self.instances[idx].spec.ifindex == ifindex {
                let input = if up { Input::LinkUp } else { Input::LinkDown };
                self.input(now, g, m, input);
            }
            let tracked: Vec<i16> = self.instances[idx]
                .spec
                .cfg
                .track
                .interfaces
                .iter()
                .filter(|t| t.name == ifname)
                .map(|t| t.weight)
                .collect();
            for weight in tracked {
                let update = TrackUpdate {
                    object: format!("iface:{ifname}"),
                    up,
                    weight: track_weight(weight),
                };
                self.input(now, g, m, Input::Track(update));
            }
        }
    }

    /// A tracked script or file changed, for instance `instance`.
    pub fn on_track(&mut self, now: Instant, instance: &str, update: TrackUpdate) {
        if let Some(idx) = self
            .instances
            .iter()
            .position(|i| i.spec.cfg.name == instance)
        {
            let (g, m) = (self.instances[idx].group, self.instances[idx].member);
            self.input(now, g, m, Input::Track(update));
        }
    }

    /// An address disappeared from `ifindex`: if it is a VIP we hold, put it back.
    pub fn on_address_removed(&mut self, ifname: &str, addr: IpAddr) {
        for inst in &self.instances {
            if inst.state != State::Master {
                continue;
            }
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
                    instance = %inst.spec.cfg.name,
                    vip = %addr,
                    dev = ifname,
                    "VIP removed behind our back while master: adding it again"
                );
                let _ = inst.kernel.send(KernelOp::AddVips {
                    vips: lost,
                    lease: inst.spec.cfg.vip_lease,
                    accept: inst.accept,
                });
            }
        }
    }

    /// Re-sets the VIP lease of masters whose lease is a third gone.
    pub fn refresh_leases(&mut self, now: Instant) {
        for inst in &mut self.instances {
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
                let _ = inst.kernel.send(KernelOp::RefreshVips {
                    vips: inst.spec.cfg.vips.clone(),
                    lease,
                });
            }
        }
    }

    /// Whether status must be republished now (and clears the flag).
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    fn input(&mut self, now: Instant, group: usize, member: usize, input: Input) {
        if !matches!(input, Input::Advert(_) | Input::Timer) {
            self.dirty = true; // tracking, link, start/stop: priority or state may move
        }
        let actions = self.groups[group].handle(now, member, input);
        self.execute(now, group, actions);
    }

    fn execute(&mut self, now: Instant, group: usize, actions: Vec<(usize, Action)>) {
        for (member, action) in actions {
            let idx = self.group_members[group][member];
            self.act(now, idx, action);
        }
    }

    fn act(&mut self, now: Instant, idx: usize, action: Action) {
        let inst = &mut self.instances[idx];
        let cfg = &inst.spec.cfg;
        match action {
            Action::Transition(t) => {
                self.dirty = true;
                let detection = t.last_advert.map(|la| t.at.saturating_since(la));
                let reason = reason_name(&t.reason);
                info!(
                    instance = %cfg.name,
                    vrid = cfg.vrid,
                    from = state_name(t.from),
                    to = state_name(t.to),
                    reason = %reason,
                    priority = t.priority,
                    detection_ms = detection.map(|d| d.as_secs_f64() * 1e3),
                    "state change"
                );
                *inst
                    .stats
                    .transitions
                    .entry((state_name(t.to).to_string(), reason))
                    .or_insert(0) += 1;
                inst.stats.last = Some(LastTransition {
                    from: t.from,
                    to: t.to,
                    reason: t.reason,
                    at: t.at,
                    detection,
                });
                if t.to == State::Master && t.from == State::Backup {
                    inst.stats.last_failover_detection = detection;
                }
                inst.state = t.to;
                if t.to != State::Master {
                    inst.lease_set = None;
                }
            }
            Action::SendAdvert {
                priority,
                interval_cs,
            } => {
                let advert = inst.spec.advert(priority, interval_cs);
                match inst.sender.send(&advert) {
                    Ok(n) => inst.stats.adverts_sent += n as u64,
                    Err(e) => {
                        inst.stats.send_errors += 1;
                        // One line per failure burst, not per advert.
                        if inst.stats.send_errors.is_power_of_two() {
                            warn!(instance = %cfg.name, error = %e, count = inst.stats.send_errors, "advert not sent");
                        }
                    }
                }
            }
            Action::AddVips { accept } => {
                inst.accept = accept;
                inst.lease_set = cfg.vip_lease.map(|_| now);
                let _ = inst.kernel.send(KernelOp::AddVips {
                    vips: cfg.vips.clone(),
                    lease: cfg.vip_lease,
                    accept,
                });
            }
            Action::RemoveVips => {
                let _ = inst.kernel.send(KernelOp::RemoveVips {
                    vips: cfg.vips.clone(),
                    blocked: !inst.accept,
                });
                inst.accept = true;
            }
            Action::AddRoutes => {
                if !cfg.routes.is_empty() {
                    let _ = inst.kernel.send(KernelOp::AddRoutes {
                        routes: cfg.routes.clone(),
                    });
                }
            }
            Action::RemoveRoutes => {
                if !cfg.routes.is_empty() {
                    let _ = inst.kernel.send(KernelOp::RemoveRoutes {
                        routes: cfg.routes.clone(),
                    });
                }
            }
            Action::Announce => {
                let vips: Vec<config::Vip> = cfg.link_vips().cloned().collect();
                if !vips.is_empty() {
                    let _ = inst.kernel.send(KernelOp::Announce {
                        ifindex: inst.spec.ifindex,
                        vips,
                        garp: cfg.garp.clone(),
                    });
                }
            }
            Action::RunHook(state) => {
                let command = match state {
                    State::Master => cfg.hooks.on_master.clone(),
                    State::Backup => cfg.hooks.on_backup.clone(),
                    State::Fault => cfg.hooks.on_fault.clone(),
                    State::Initialize => cfg.hooks.on_stop.clone(),
                };
                if let (Some(command), Some(last)) = (command, &inst.stats.last) {
                    let _ = self.sinks.hooks.send(HookJob {
                        instance: cfg.name.clone(),
                        vrid: cfg.vrid,
                        state,
                        prev: last.from,
                        reason: last.reason.clone(),
                        command,
                        timeout: cfg.hooks.timeout,
                    });
                }
            }
            Action::Ignored(reason) => {
                inst.stats.ignored += 1;
                debug!(instance = %cfg.name, ?reason, "advert ignored");
            }
        }
    }
}

/// What a reload did, for the log.
#[derive(Debug, Default)]
pub struct ReloadSummary {
    pub unchanged: Vec<String>,
    pub stopped: Vec<String>,
    pub started: Vec<String>,
}

/// Sync groups in configuration order, then lone instances as groups of one.
fn grouping(config: &Config) -> Vec<Vec<config::Instance>> {
    let mut out: Vec<Vec<config::Instance>> = config
        .sync_groups
        .iter()
        .map(|g| {
            g.members
                .iter()
                .filter_map(|m| config.instance(m).cloned())
                .collect()
        })
        .collect();
    for i in &config.instances {
        if config.sync_group_of(&i.name).is_none() {
            out.push(vec![i.clone()]);
        }
    }
    out
}

/// keepalived's convention: weight 0 means the object being down is a fault.
pub fn track_weight(weight: i16) -> TrackWeight {
    if weight == 0 {
        TrackWeight::Fault
    } else {
        TrackWeight::Delta(weight)
    }
}

//! The RFC 9568 state machine for one virtual router, sans I/O.
//!
//! Events go in through [`Router::handle`], work for the driver comes out as a list of
//! [`Action`]s, and [`Router::next_deadline`] says when to call back with
//! [`Input::Timer`]. Time is always an argument. The two RFC timers (Adver_Timer and
//! Master_Down_Timer) are deadlines stored in the state they belong to, so a state can
//! never hold a timer it should not have.
//!
//! Where this goes beyond RFC 9568 §6.4 (Fault, tracking, preempt delay, the fast
//! preemption and fast dual-master resolution) the handler says so.
//!
//! # Driving it
//!
//! ```
//! use vrrp_core::router::{Action, Config, Input, Router, State};
//! use vrrp_core::time::Instant;
//!
//! let mut router = Router::new(Config::new(1, 100, "10.1.1.2".parse().unwrap())).unwrap();
//! let mut actions = router.handle(Instant::from_millis(0), Input::Startup);
//! // The driver sleeps until `next_deadline`, or until a packet or event arrives,
//! // and feeds whichever came first. Here nothing arrives:
//! while router.state() != State::Master {
//!     let now = router.next_deadline().unwrap();
//!     actions = router.handle(now, Input::Timer);
//! }
//! // Master after 3 s + (256 - 100) / 256 s without hearing one; the first advert goes
//! // out at once, the next on the interval's grid (see "Phase alignment").
//! assert!(actions.contains(&Action::SendAdvert { priority: 100, interval_cs: 100 }));
//! assert_eq!(router.next_deadline(), Some(Instant::from_millis(4_000)));
//! ```
//!
//! # Phase alignment
//!
//! A master's Adver_Timer does not run from whenever it last advertised but to the
//! next multiple of Advertisement_Interval on the clock (counted from
//! [`Instant::ZERO`], i.e. boot for CLOCK_MONOTONIC): every master with the same
//! interval on a host fires at the same instant, so the daemon sends all their adverts
//! in one wake-up (and one batched send) instead of one wake per instance. RFC 9568
//! §6.4.3 fixes the interval between adverts, not their phase: an advert still goes
//! out at once on becoming master and whenever the advertised values change, and the
//! gap to the next one is never longer than the interval (it is shorter once, after
//! an advert off the grid). Backups are unaffected: their Master_Down_Timer restarts
//! at every advert received (§6.4.2), so the phase of the master's grid does not move
//! when they declare it dead. A late wake-up does not push later adverts back either:
//! the next grid point is the same however late this one was handled.

mod config;
mod event;
mod sync_group;

pub use config::{
    Config, ConfigError, OWNER_PRIORITY, Version, centis, master_down_interval, skew_time,
};
pub use event::{
    Action, GroupCommand, IgnoreReason, Input, Reason, ReceivedAdvert, State, TrackUpdate,
    TrackWeight, Transition,
};
pub use sync_group::SyncGroup;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::time::Instant;

/// Why a backup's Master_Down_Timer is armed: it decides the transition's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DownCause {
    /// The normal Master_Down_Interval since the last advert (or since start-up).
    Silence,
    /// Skew_Time after a priority 0 advert (§6.4.2).
    PriorityZero,
    /// Skew_Time after learning that we outrank the master and may preempt.
    Preempt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Initialize,
    Backup {
        down_at: Instant,
        cause: DownCause,
    },
    /// `adver_at`: the Adver_Timer, on the interval's grid; `sent_at`: our last advert.
    Master {
        adver_at: Instant,
        sent_at: Instant,
    },
    Fault,
}

/// The master a backup follows: the last sender whose advert it accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Heard {
    addr: IpAddr,
    priority: u8,
}

/// One virtual router (one VRID on one interface, one address family).
#[derive(Debug, Clone)]
pub struct Router {
    cfg: Config,
    phase: Phase,
    /// Between Startup and Shutdown.
    started: bool,
    link_up: bool,
    tracks: BTreeMap<String, (bool, TrackWeight)>,
    /// The sync group peer whose Fault holds us in Fault.
    group_fault: Option<usize>,
    /// Effective priority, kept in step with `cfg.priority` and `tracks`.
    priority: u8,
    /// Master_Adver_Interval (§6.1), learned from the master's adverts in v3.
    master_adver_interval_cs: u16,
    master: Option<Heard>,
    /// Kernel receive time of the last advert from the followed master.
    last_advert: Option<Instant>,
    /// Preempt delay: no preemption before this time.
    preempt_after: Instant,
}

impl Router {
    /// A router in Initialize. The link is assumed up until told otherwise.
    pub fn new(cfg: Config) -> Result<Router, ConfigError> {
        cfg.validate()?;
        Ok(Router {
            priority: cfg.priority,
            master_adver_interval_cs: cfg.advert_interval_cs,
            cfg,
            phase: Phase::Initialize,
            started: false,
            link_up: true,
            tracks: BTreeMap::new(),
            group_fault: None,
            master: None,
            last_advert: None,
            preempt_after: Instant::ZERO,
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn state(&self) -> State {
        match self.phase {
            Phase::Initialize => State::Initialize,
            Phase::Backup { .. } => State::Backup,
            Phase::Master { .. } => State::Master,
            Phase::Fault => State::Fault,
        }
    }

    /// Configured priority plus tracking weights, clamped to 1..=254; the owner stays 255.
    pub fn effective_priority(&self) -> u8 {
        self.priority
    }

    /// Master_Adver_Interval in centiseconds (the master's, as learned in Backup).
    pub fn master_adver_interval_cs(&self) -> u16 {
        self.master_adver_interval_cs
    }

    /// Skew_Time for our current priority and Master_Adver_Interval (§6.1).
    pub fn skew_time(&self) -> Duration {
        skew_time(
            self.cfg.version,
            self.priority,
            self.master_adver_interval_cs,
        )
    }

    /// Master_Down_Interval for our current priority and Master_Adver_Interval (§6.1).
    pub fn master_down_interval(&self) -> Duration {
        master_down_interval(
            self.cfg.version,
            self.priority,
            self.master_adver_interval_cs,
        )
    }

    /// Address and priority of the master a backup follows.
    pub fn followed_master(&self) -> Option<(IpAddr, u8)> {
        self.master.map(|m| (m.addr, m.priority))
    }

    /// Whether `adv`, received again at any later time `t`, would change nothing but
    /// Master_Down_Timer (restarted from `t`): a backup following its sender, which it
    /// does not outrank or may not preempt, at the interval it already adopted.
    ///
    /// The datapath may then absorb copies of `adv` (`vrrp_common::follow`) as long as
    /// the driver replays the last one before any other input; the simulator's filter
    /// mode checks that this changes no transition.
    pub fn steady_advert(&self, adv: &ReceivedAdvert) -> bool {
        let Phase::Backup {
            cause: DownCause::Silence,
            ..
        } = self.phase
        else {
            return false;
        };
        let followed = self
            .master
            .is_some_and(|m| m.addr == adv.src && m.priority == adv.priority && adv.priority != 0);
        let interval_adopted = self.cfg.version == Version::V2
            || adv.max_adver_int_cs == self.master_adver_interval_cs;
        let never_preempts =
            adv.priority >= self.priority || (!self.cfg.preempt && !self.cfg.is_owner());
        self.started
            && self.link_up
            && followed
            && interval_adopted
            && never_preempts
            && self.check_advert(adv).is_none()
    }

    /// The last reported state and weight of tracked object `object`.
    pub fn tracked(&self, object: &str) -> Option<(bool, TrackWeight)> {
        self.tracks.get(object).copied()
    }

    /// Whether packets addressed to the VIPs should be accepted now (§6.4.2, §6.4.3).
    pub fn accepts_vip_traffic(&self) -> bool {
        self.state() == State::Master && (self.cfg.is_owner() || self.cfg.accept_mode)
    }

    /// When the driver must call back with [`Input::Timer`].
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Backup { down_at, .. } => Some(down_at),
            Phase::Master { adver_at, .. } => Some(adver_at),
            Phase::Initialize | Phase::Fault => None,
        }
    }

    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::Startup => self.on_startup(now, &mut out),
            Input::Shutdown => self.on_shutdown(now, &mut out),
            Input::Advert(adv) => self.on_advert(now, &adv, &mut out),
            Input::Timer => self.on_timer(now, &mut out),
            Input::LinkUp => {
                self.link_up = true;
                self.refresh_fault(now, Reason::LinkUp, &mut out);
            }
            Input::LinkDown => {
                self.link_up = false;
                // The recovery reason is unused here: a down link cannot end a Fault.
                self.refresh_fault(now, Reason::LinkUp, &mut out);
            }
            Input::Track(update) => self.on_track(now, update, &mut out),
            Input::SetPriority(p) => {
                if p != 0 {
                    let cfg = Config {
                        priority: p,
                        ..self.cfg.clone()
                    };
                    self.on_reconfigure(now, cfg, &mut out);
                }
            }
            Input::Reconfigure(cfg) => self.on_reconfigure(now, cfg, &mut out),
            Input::Untrack(object) => {
                if self.tracks.remove(&object).is_some() {
                    let recovered = Reason::TrackRecovered { object };
                    self.on_priority_inputs_changed(now, &mut out);
                    self.refresh_fault(now, recovered, &mut out);
                }
            }
            Input::SyncGroup { member, command } => self.on_group(now, member, command, &mut out),
        }
        out
    }

    // ---- Events -------------------------------------------------------------------

    /// §6.4.1: the Startup event.
    fn on_startup(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.started {
            return;
        }
        self.started = true;
        match self.fault_cause() {
            Some(reason) => self.enter(now, Phase::Fault, reason, out),
            None => self.start_running(now, Reason::Startup, out),
        }
    }

    /// §6.4.2 / §6.4.3: the Shutdown event. A master first says goodbye with priority 0
    /// so backups take over after Skew_Time instead of Master_Down_Interval.
    fn on_shutdown(&mut self, now: Instant, out: &mut Vec<Action>) {
        if !self.started {
            return;
        }
        self.started = false;
        self.enter(now, Phase::Initialize, Reason::Shutdown, out);
    }

    fn on_timer(&mut self, now: Instant, out: &mut Vec<Action>) {
        match self.phase {
            // Extension (preempt delay): a router that (re)started and has heard no
            // master yet may simply not see the network yet (a link that just came
            // up, a path still converging). Silence proves nothing until the delay
            // is over, so it does not grab mastership before then. A master that was
            // heard and then fell silent is a real failure and is not delayed.
            Phase::Backup {
                down_at,
                cause: DownCause::Silence,
            } if now >= down_at && self.master.is_none() && now < self.preempt_after => {
                self.phase = Phase::Backup {
                    down_at: self.preempt_after,
                    cause: DownCause::Silence,
                };
            }
            // §6.4.2: Master_Down_Timer fired.
            Phase::Backup { down_at, cause } if now >= down_at => {
                let reason = match cause {
                    DownCause::Silence => Reason::MasterDownTimerExpired,
                    DownCause::PriorityZero => Reason::PriorityZeroReceived,
                    DownCause::Preempt => Reason::Preempted,
                };
                self.become_master(now, reason, out);
            }
            // §6.4.3: Adver_Timer fired: advertise and re-arm.
            Phase::Master { adver_at, .. } if now >= adver_at => self.advertise(now, out),
            _ => {}
        }
    }

    fn on_advert(&mut self, now: Instant, adv: &ReceivedAdvert, out: &mut Vec<Action>) {
        if !matches!(self.phase, Phase::Backup { .. } | Phase::Master { .. }) {
            return;
        }
        if let Some(why) = self.check_advert(adv) {
            out.push(Action::Ignored(why));
            return;
        }
        // Timers run from the kernel receive time, but never from the future.
        let rx = adv.rx_time.min(now);
        match self.phase {
            Phase::Backup { .. } => self.backup_on_advert(now, rx, adv),
            Phase::Master { .. } => self.master_on_advert(now, rx, adv, out),
            Phase::Initialize | Phase::Fault => {}
        }
    }

    /// RFC 9568 §7.1 receiver checks that are about configuration, not packet integrity
    /// (the datapath did those), plus RFC 3768 §7.1's interval check for v2.
    fn check_advert(&self, adv: &ReceivedAdvert) -> Option<IgnoreReason> {
        if adv.vrid != self.cfg.vrid {
            return Some(IgnoreReason::Vrid);
        }
        if adv.version != self.cfg.version {
            return Some(IgnoreReason::Version);
        }
        if adv.src == self.cfg.primary_addr {
            return Some(IgnoreReason::OwnAdvert);
        }
        if adv.max_adver_int_cs == 0 {
            return Some(IgnoreReason::ZeroInterval);
        }
        if self.cfg.version == Version::V2 && adv.max_adver_int_cs != self.cfg.advert_interval_cs {
            return Some(IgnoreReason::IntervalMismatch);
        }
        if self.cfg.check_vips
            && adv.priority != OWNER_PRIORITY
            && !same_set(&adv.addrs, &self.cfg.vips)
        {
            return Some(IgnoreReason::VipMismatch);
        }
        None
    }

    /// §6.4.2, "If an ADVERTISEMENT is received".
    fn backup_on_advert(&mut self, now: Instant, rx: Instant, adv: &ReceivedAdvert) {
        let Phase::Backup { down_at, cause } = self.phase else {
            return;
        };
        let heard = Heard {
            addr: adv.src,
            priority: adv.priority,
        };
        if adv.priority == 0 {
            // The master is leaving: wait only Skew_Time, so the highest backup goes first.
            self.master = Some(heard);
            self.last_advert = Some(rx);
            self.phase = Phase::Backup {
                down_at: rx + self.skew_time(),
                cause: DownCause::PriorityZero,
            };
            return;
        }
        if !self.may_preempt(now) || adv.priority >= self.priority {
            // Accept: adopt the master's interval (v3 only; v2 intervals must match)
            // and restart Master_Down_Timer.
            if self.cfg.version == Version::V3 {
                self.master_adver_interval_cs = adv.max_adver_int_cs;
            }
            self.master = Some(heard);
            self.last_advert = Some(rx);
            self.phase = Phase::Backup {
                down_at: rx + self.master_down_interval(),
                cause: DownCause::Silence,
            };
            return;
        }
        // The RFC discards the advert and lets Master_Down_Timer expire, up to
        // Master_Down_Interval later. Extension: when it comes from the master we follow
        // (or we follow none), shorten the wait to Skew_Time. Skew orders competing
        // backups by priority, as after a priority 0 advert, so the highest goes first.
        // Adverts from some other, lower master are only discarded: the master we follow
        // will out-advertise it.
        let from_followed = self.master.is_none_or(|m| m.addr == adv.src);
        if from_followed {
            self.master = Some(heard);
            self.last_advert = Some(rx);
            if cause != DownCause::Preempt {
                let down_at = down_at.min(rx + self.skew_time());
                self.phase = Phase::Backup {
                    down_at,
                    cause: DownCause::Preempt,
                };
            }
        }
    }

    /// §6.4.3, "If an ADVERTISEMENT is received".
    fn master_on_advert(
        &mut self,
        now: Instant,
        rx: Instant,
        adv: &ReceivedAdvert,
        out: &mut Vec<Action>,
    ) {
        if adv.priority == 0 {
            // Another master is leaving: advertise now so backups do not take over.
            self.advertise(now, out);
            return;
        }
        let higher = adv.priority > self.priority;
        let tie_lost = adv.priority == self.priority && adv.src > self.cfg.primary_addr;
        if higher || tie_lost {
            if self.cfg.version == Version::V3 {
                self.master_adver_interval_cs = adv.max_adver_int_cs;
            }
            self.master = Some(Heard {
                addr: adv.src,
                priority: adv.priority,
            });
            self.last_advert = Some(rx);
            let reason = if higher {
                Reason::HigherPriorityAdvert
            } else {
                Reason::HigherAddressAdvert
            };
            self.become_backup(now, rx, reason, out);
            return;
        }
        // The RFC discards it. Extension (as keepalived does): advertise at once, so the
        // other, lower master steps down one network delay from now rather than up to
        // one Advertisement_Interval later (e.g. when a partition heals). Skipped if our
        // last advert is under a quarter interval old: it is still on its way, and a
        // broken peer answering in kind cannot start an advert storm.
        let interval = self.cfg.advert_interval();
        if let Phase::Master { sent_at, .. } = self.phase
            && now >= sent_at + interval / 4
        {
            self.advertise(now, out);
        }
    }

    /// A reloaded configuration applied in place (not in the RFC, which has no
    /// reconfiguration). Nothing here is a state change by itself: a master advertises
    /// at once when what it advertises changed (priority, interval, addresses), so
    /// backups learn it now rather than one interval later; a backup re-evaluates fast
    /// preemption against the master it follows.
    fn on_reconfigure(&mut self, now: Instant, new: Config, out: &mut Vec<Action>) {
        if new.validate().is_err() {
            return; // the driver validated it; an invalid one changes nothing
        }
        let accepted = self.accepts_vip_traffic();
        let advertised = (self.cfg.advert_interval_cs, self.cfg.vips.clone());
        self.cfg = Config {
            vrid: self.cfg.vrid,
            version: self.cfg.version,
            primary_addr: self.cfg.primary_addr,
            ..new
        };
        if self.master.is_none() {
            // Nobody to learn the interval from yet: our own applies.
            self.master_adver_interval_cs = self.cfg.advert_interval_cs;
        }
        let priority = self.priority;
        self.on_priority_inputs_changed(now, out);
        // A priority change already re-advertised (master) or re-evaluated (backup).
        let priority_changed = priority != self.priority;
        match self.phase {
            Phase::Master { .. } => {
                let changed = advertised.0 != self.cfg.advert_interval_cs
                    || !same_set(&advertised.1, &self.cfg.vips);
                if changed && !priority_changed {
                    self.advertise(now, out);
                }
                let accepts = self.accepts_vip_traffic();
                if accepts != accepted {
                    out.push(Action::SetAccept(accepts));
                }
            }
            Phase::Backup { down_at, cause } if !priority_changed => {
                self.backup_reevaluate(now, down_at, cause)
            }
            _ => {}
        }
    }

    /// Tracked object changed (not in the RFC): re-evaluate Fault and priority at once.
    fn on_track(&mut self, now: Instant, update: TrackUpdate, out: &mut Vec<Action>) {
        let recovered = Reason::TrackRecovered {
            object: update.object.clone(),
        };
        self.tracks
            .insert(update.object, (update.up, update.weight));
        self.on_priority_inputs_changed(now, out);
        self.refresh_fault(now, recovered, out);
    }

    /// The effective priority may have changed. A master re-advertises at once so that
    /// preempting backups learn it is now outranked; a backup checks whether it now
    /// outranks the master it follows.
    fn on_priority_inputs_changed(&mut self, now: Instant, out: &mut Vec<Action>) {
        let new = self.compute_priority();
        if new == self.priority {
            return;
        }
        self.priority = new;
        match self.phase {
            Phase::Master { .. } => self.advertise(now, out),
            Phase::Backup { down_at, cause } => self.backup_reevaluate(now, down_at, cause),
            Phase::Initialize | Phase::Fault => {}
        }
    }

    /// Backup whose priority changed: arm (or disarm) fast preemption against the
    /// master it follows, as [`Self::backup_on_advert`] would on that master's next advert.
    fn backup_reevaluate(&mut self, now: Instant, down_at: Instant, cause: DownCause) {
        let Some(master) = self.master else { return };
        if cause == DownCause::PriorityZero {
            return;
        }
        let outranks = self.may_preempt(now) && self.priority > master.priority;
        if outranks && cause == DownCause::Silence {
            let down_at = down_at.min(now + self.skew_time());
            self.phase = Phase::Backup {
                down_at,
                cause: DownCause::Preempt,
            };
        } else if !outranks && cause == DownCause::Preempt {
            let since = self.last_advert.unwrap_or(now);
            self.phase = Phase::Backup {
                down_at: since + self.master_down_interval(),
                cause: DownCause::Silence,
            };
        }
    }

    /// Sync group orders (see [`SyncGroup`]). Members in Fault or Initialize ignore
    /// Master/Backup orders: a group never drags a member out of Fault into service.
    fn on_group(
        &mut self,
        now: Instant,
        member: usize,
        command: GroupCommand,
        out: &mut Vec<Action>,
    ) {
        let reason = Reason::SyncGroup { member };
        match (command, self.phase) {
            (GroupCommand::Master, Phase::Backup { .. }) => self.become_master(now, reason, out),
            (GroupCommand::Backup, Phase::Master { .. }) => {
                self.master = None;
                self.become_backup(now, now, reason, out);
            }
            (GroupCommand::Fault(on), _) => {
                self.group_fault = on.then_some(member);
                self.refresh_fault(now, reason, out);
            }
            _ => {}
        }
    }

    // ---- Transitions --------------------------------------------------------------

    /// Enters Backup with Master_Down_Timer running from `from` (§6.4.1, §6.4.3).
    fn become_backup(
        &mut self,
        now: Instant,
        from: Instant,
        reason: Reason,
        out: &mut Vec<Action>,
    ) {
        let down_at = from + self.master_down_interval();
        self.enter(
            now,
            Phase::Backup {
                down_at,
                cause: DownCause::Silence,
            },
            reason,
            out,
        );
    }

    /// §6.4.1 after Startup, also used when leaving Fault: the owner becomes master at
    /// once, anyone else waits a full Master_Down_Interval in Backup.
    fn start_running(&mut self, now: Instant, reason: Reason, out: &mut Vec<Action>) {
        self.master = None;
        self.last_advert = None;
        self.master_adver_interval_cs = self.cfg.advert_interval_cs;
        self.preempt_after = now + self.cfg.preempt_delay;
        if self.cfg.is_owner() {
            let reason = if reason == Reason::Startup {
                Reason::Owner
            } else {
                reason
            };
            self.become_master(now, reason, out);
        } else {
            self.become_backup(now, now, reason, out);
        }
    }

    /// §6.4.2 "If the Master_Down_Timer fires" (and the owner's start-up, §6.4.1): the
    /// first advert goes out now ([`Self::enter`]), the next on the grid.
    fn become_master(&mut self, now: Instant, reason: Reason, out: &mut Vec<Action>) {
        self.master_adver_interval_cs = self.cfg.advert_interval_cs;
        let phase = Phase::Master {
            adver_at: self.next_adver_at(now),
            sent_at: now,
        };
        self.enter(now, phase, reason, out);
    }

    /// The one place the phase changes state: records the transition and emits the
    /// leave/enter work in a fixed order.
    fn enter(&mut self, now: Instant, next: Phase, reason: Reason, out: &mut Vec<Action>) {
        let from = self.state();
        self.phase = next;
        let to = self.state();
        out.push(Action::Transition(Transition {
            from,
            to,
            reason: reason.clone(),
            at: now,
            last_advert: self.last_advert,
            priority: self.priority,
        }));
        if from == State::Master {
            // Say goodbye if we still can: backups then wait only Skew_Time (§6.4.3).
            if to != State::Backup && self.link_up {
                out.push(Action::SendAdvert {
                    priority: 0,
                    interval_cs: self.cfg.advert_interval_cs,
                });
            }
            out.push(Action::RemoveRoutes);
            out.push(Action::RemoveVips);
        }
        if to == State::Master {
            self.master = None;
            out.push(Action::AddVips {
                accept: self.cfg.is_owner() || self.cfg.accept_mode,
            });
            out.push(Action::AddRoutes);
            out.push(Action::SendAdvert {
                priority: self.priority,
                interval_cs: self.cfg.advert_interval_cs,
            });
            out.push(Action::Announce);
        }
        out.push(Action::RunHook {
            state: to,
            from,
            reason,
        });
    }

    /// §6.4.3: send an ADVERTISEMENT and reset the Adver_Timer.
    fn advertise(&mut self, now: Instant, out: &mut Vec<Action>) {
        out.push(Action::SendAdvert {
            priority: self.priority,
            interval_cs: self.cfg.advert_interval_cs,
        });
        self.phase = Phase::Master {
            adver_at: self.next_adver_at(now),
            sent_at: now,
        };
    }

    /// The Adver_Timer after an advert sent at `now`: the next point of the interval's
    /// grid, at most one interval away (see "Phase alignment" above).
    fn next_adver_at(&self, now: Instant) -> Instant {
        now.next_multiple_of(self.cfg.advert_interval())
    }

    /// Enter or leave Fault when its causes change (only between Startup and Shutdown).
    fn refresh_fault(&mut self, now: Instant, recovered: Reason, out: &mut Vec<Action>) {
        if !self.started {
            return;
        }
        match (self.phase, self.fault_cause()) {
            (Phase::Fault, None) => self.start_running(now, recovered, out),
            (Phase::Backup { .. } | Phase::Master { .. }, Some(reason)) => {
                self.enter(now, Phase::Fault, reason, out)
            }
            _ => {}
        }
    }

    // ---- Derived values -----------------------------------------------------------

    /// Why we must be in Fault, our own causes first.
    fn fault_cause(&self) -> Option<Reason> {
        self.own_fault_cause()
            .or_else(|| self.group_fault.map(|member| Reason::SyncGroup { member }))
    }

    /// Fault causes of this router itself, leaving out the sync group's.
    fn own_fault_cause(&self) -> Option<Reason> {
        if !self.link_up {
            return Some(Reason::LinkDown);
        }
        let failed = self
            .tracks
            .iter()
            .find(|(_, (up, w))| !up && *w == TrackWeight::Fault);
        if let Some((object, _)) = failed {
            return Some(Reason::TrackFailed {
                object: object.clone(),
            });
        }
        None
    }

    fn compute_priority(&self) -> u8 {
        if self.cfg.is_owner() {
            return OWNER_PRIORITY;
        }
        let delta: i32 = self
            .tracks
            .values()
            .map(|&(up, w)| match w {
                TrackWeight::Delta(d) if (d > 0 && up) || (d < 0 && !up) => i32::from(d),
                _ => 0,
            })
            .sum();
        let p = (i32::from(self.cfg.priority) + delta).clamp(1, 254);
        u8::try_from(p).expect("clamped to 1..=254")
    }

    /// Preempt_Mode, with the owner always preempting (§6.1) and the preempt delay.
    fn may_preempt(&self, now: Instant) -> bool {
        self.cfg.is_owner() || (self.cfg.preempt && now >= self.preempt_after)
    }
}

fn same_set(a: &[IpAddr], b: &[IpAddr]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    a.dedup();
    b.sort();
    b.dedup();
    a == b
}

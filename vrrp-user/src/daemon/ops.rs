//! Work the controller hands to background workers so that nothing on the advert path
//! waits for netlink or a hook.

use std::time::Duration;

use vrrp_core::router::{Reason, State};

use crate::config;

/// Kernel-state changes for one instance, applied in order by its worker.
#[derive(Clone, Debug)]
pub enum KernelOp {
    /// Add the VIPs (with the lease as valid lifetime, if any).
    AddVips {
        vips: Vec<config::Vip>,
        lease: Option<Duration>,
        /// Accept_Mode (or owner): false drops traffic addressed to the VIPs.
        accept: bool,
    },
    /// Re-set the lease on VIPs we hold.
    RefreshVips {
        vips: Vec<config::Vip>,
        lease: Duration,
    },
    RemoveVips {
        vips: Vec<config::Vip>,
        /// The VIPs were blocked (accept mode off): unblock them.
        blocked: bool,
    },
    AddRoutes {
        routes: Vec<config::Route>,
    },
    RemoveRoutes {
        routes: Vec<config::Route>,
    },
    /// Gratuitous ARP / unsolicited NA for VIPs on the advert link.
    Announce {
        ifindex: u32,
        vips: Vec<config::Vip>,
        garp: config::Garp,
    },
}

/// A hook to run for a state change.
#[derive(Clone, Debug)]
pub struct HookJob {
    pub instance: String,
    pub vrid: u8,
    pub state: State,
    pub prev: State,
    pub reason: Reason,
    pub command: Vec<String>,
    pub timeout: Duration,
}

/// Lower-case state names used in logs, hooks, status and metrics.
pub fn state_name(s: State) -> &'static str {
    match s {
        State::Initialize => "initialize",
        State::Backup => "backup",
        State::Master => "master",
        State::Fault => "fault",
    }
}

/// Snake-case reason names used in logs, hooks, status and metrics.
pub fn reason_name(r: &Reason) -> String {
    match r {
        Reason::Startup => "startup".into(),
        Reason::Owner => "owner".into(),
        Reason::MasterDownTimerExpired => "master_down_timer_expired".into(),
        Reason::PriorityZeroReceived => "priority_zero_received".into(),
        Reason::Preempted => "preempted".into(),
        Reason::HigherPriorityAdvert => "higher_priority_advert".into(),
        Reason::HigherAddressAdvert => "higher_address_advert".into(),
        Reason::Shutdown => "shutdown".into(),
        Reason::LinkDown => "link_down".into(),
        Reason::LinkUp => "link_up".into(),
        Reason::TrackFailed { object } => format!("track_failed:{object}"),
        Reason::TrackRecovered { object } => format!("track_recovered:{object}"),
        Reason::SyncGroup { member } => format!("sync_group:{member}"),
    }
}

//! Driver work the controller hands out: kernel-state changes, hooks and tracker
//! restarts. Plain data, so the controller stays pure and its output can be compared
//! in tests; the daemon loop dispatches it to bounded per-instance queues.

use std::time::Duration;

use vrrp_core::router::{Reason, State};

use crate::config;

/// One piece of work for a driver, for instance `instance`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Work {
    /// Change kernel state, in order with the instance's earlier kernel work.
    Kernel { instance: String, op: KernelOp },
    /// Run a state hook, in order with the instance's earlier hooks.
    Hook(HookJob),
    /// (Re)start the instance's script and file trackers from the running config.
    StartTrackers(String),
    /// Stop them (the instance is stopping, or its trackers are about to restart).
    StopTrackers(String),
}

/// Kernel-state changes for one instance, applied in order by its worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelOp {
    /// Add the VIPs (with the lease as valid lifetime, if any).
    AddVips {
        vips: Vec<config::Vip>,
        lease: Option<Duration>,
        /// Accept_Mode (or owner): false drops traffic addressed to the VIPs.
        accept: bool,
    },
    /// Re-put VIPs we hold in place: a new lease (or none: permanent), label or scope.
    /// Also renews the lease while master.
    RefreshVips {
        vips: Vec<config::Vip>,
        lease: Option<Duration>,
    },
    RemoveVips {
        vips: Vec<config::Vip>,
        /// The VIPs were blocked (accept mode off): unblock them.
        blocked: bool,
    },
    /// A master's VIPs start (true) or stop (false) accepting traffic addressed to them.
    SetAccept {
        vips: Vec<config::Vip>,
        accept: bool,
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookJob {
    pub instance: String,
    pub vrid: u8,
    pub state: State,
    pub prev: State,
    pub reason: Reason,
    pub command: Vec<String>,
    pub timeout: Duration,
}

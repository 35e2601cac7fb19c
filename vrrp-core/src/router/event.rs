//! What goes into a [`Router`](super::Router) and what comes out of it.

use std::fmt;
use std::net::IpAddr;

use super::config::{Config, Version};
use crate::time::Instant;

/// The states of one virtual router: RFC 9568 §6.4 plus Fault. The one spelling of a
/// state everywhere (logs, hooks, status, metrics) is [`State::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum State {
    /// Not started, or shut down (§6.4.1).
    Initialize,
    /// Watching the master (§6.4.2).
    Backup,
    /// Forwarding for the VIPs and advertising (§6.4.3; "Active" in RFC 9568).
    Master,
    /// Running but unable to serve: link down, a fault-weighted tracked object down,
    /// or a sync group peer in Fault. Not in the RFC, which only has Shutdown.
    Fault,
}

impl State {
    /// Every state, in the order metrics list them.
    pub const ALL: [State; 4] = [
        State::Initialize,
        State::Backup,
        State::Master,
        State::Fault,
    ];

    /// The lowercase name used in logs, hook environments, JSON and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Initialize => "initialize",
            State::Backup => "backup",
            State::Master => "master",
            State::Fault => "fault",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A received advertisement, decoded and already validated by the datapath (checksum,
/// TTL, length, type). Only the fields the election needs; the core never sees bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedAdvert {
    /// Source address of the IP packet: the sender's primary address.
    pub src: IpAddr,
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// Max Advertise Interval in centiseconds. The datapath converts a v2 Adver Int
    /// (seconds) to centiseconds, so the core has one unit.
    pub max_adver_int_cs: u16,
    pub addrs: Vec<IpAddr>,
    /// Kernel receive time (bpf_ktime_get_ns): timers run from here, not from when
    /// userspace got round to the record.
    pub rx_time: Instant,
}

/// How a tracked object affects the router, following keepalived's sign convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackWeight {
    /// A positive weight is added while the object is up; a negative one while it is down.
    Delta(i16),
    /// The object being down puts the router in Fault.
    Fault,
}

/// "Tracked object `object` is now up/down, with weight `weight`."
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrackUpdate {
    /// A name chosen by the driver, e.g. "iface:eth1" or "script:chk_bird".
    pub object: String,
    pub up: bool,
    pub weight: TrackWeight,
}

/// What a sync group coordinator tells a member to do (see [`super::SyncGroup`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupCommand {
    /// A peer became Master: follow it if we are Backup.
    Master,
    /// A peer fell back to Backup: follow it if we are Master.
    Backup,
    /// A peer entered (true) or every faulted peer left (false) Fault.
    Fault(bool),
}

/// Events fed to [`Router::handle`](super::Router::handle).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The Startup event (§6.4.1).
    Startup,
    /// The Shutdown event (§6.4.2, §6.4.3): back to Initialize.
    Shutdown,
    Advert(ReceivedAdvert),
    /// `now` has reached [`Router::next_deadline`](super::Router::next_deadline).
    /// Early calls are harmless no-ops.
    Timer,
    LinkUp,
    LinkDown,
    Track(TrackUpdate),
    /// Reconfigure the base priority (1..=255) without a restart.
    SetPriority(u8),
    /// Apply a reloaded configuration in place: priority, preempt, preempt delay, accept
    /// mode, advert interval and the address list. The identity (VRID, version, primary
    /// address) is kept from the running configuration: changing it needs a restart.
    Reconfigure(Config),
    /// Forget a tracked object (removed from the configuration).
    Untrack(String),
    /// From a sync group coordinator; `member` is the index of the peer that caused it.
    SyncGroup {
        member: usize,
        command: GroupCommand,
    },
}

/// Why a state changed; each variant names the rule that fired. Its one spelling is the
/// snake_case [`Display`](fmt::Display) form, e.g. `master_down_timer_expired`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// Initialize -> Backup on the Startup event (§6.4.1).
    Startup,
    /// -> Master at once because we own the addresses (priority 255, §6.4.1).
    Owner,
    /// Backup -> Master: no advert for Master_Down_Interval (§6.4.2).
    MasterDownTimerExpired,
    /// Backup -> Master: Skew_Time after the master announced priority 0 (§6.4.2).
    PriorityZeroReceived,
    /// Backup -> Master: we outrank the master and may preempt (§6.4.2).
    Preempted,
    /// Master -> Backup: an advert with a higher priority (§6.4.3).
    HigherPriorityAdvert,
    /// Master -> Backup: equal priority and a higher sender address (§6.4.3).
    HigherAddressAdvert,
    /// -> Initialize on the Shutdown event.
    Shutdown,
    /// -> Fault: our interface went down.
    LinkDown,
    /// Fault -> running: our interface came back.
    LinkUp,
    /// -> Fault: a tracked object with weight Fault went down.
    TrackFailed { object: String },
    /// Fault -> running: the last failed fault-weighted object came back.
    TrackRecovered { object: String },
    /// Forced by the sync group because of member `member`.
    SyncGroup { member: usize },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Startup => f.write_str("startup"),
            Reason::Owner => f.write_str("owner"),
            Reason::MasterDownTimerExpired => f.write_str("master_down_timer_expired"),
            Reason::PriorityZeroReceived => f.write_str("priority_zero_received"),
            Reason::Preempted => f.write_str("preempted"),
            Reason::HigherPriorityAdvert => f.write_str("higher_priority_advert"),
            Reason::HigherAddressAdvert => f.write_str("higher_address_advert"),
            Reason::Shutdown => f.write_str("shutdown"),
            Reason::LinkDown => f.write_str("link_down"),
            Reason::LinkUp => f.write_str("link_up"),
            Reason::TrackFailed { object } => write!(f, "track_failed:{object}"),
            Reason::TrackRecovered { object } => write!(f, "track_recovered:{object}"),
            Reason::SyncGroup { member } => write!(f, "sync_group:{member}"),
        }
    }
}

/// A state change, with what a failover-latency metric needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: State,
    pub to: State,
    pub reason: Reason,
    /// When the rule fired (the `now` of the call).
    pub at: Instant,
    /// Kernel receive time of the last advert heard from the master we followed, if
    /// any: `at - last_advert` is the detection time of a master failure.
    pub last_advert: Option<Instant>,
    /// Our effective priority at the time.
    pub priority: u8,
}

/// Why a received advert was dropped before reaching the election rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IgnoreReason {
    Vrid,
    Version,
    /// Our own advert looped back.
    OwnAdvert,
    /// A zero interval would make every timer fire at once.
    ZeroInterval,
    /// v2 adverts must carry our interval (RFC 3768 §7.1).
    IntervalMismatch,
    /// Address list differs from ours and the sender is not the owner (RFC 9568 §7.1).
    VipMismatch,
}

/// Work for the driver, in the order it should be done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Always the first action of a state change.
    Transition(Transition),
    /// Send an advert with these values (the driver fills in VRID, addresses, and sends
    /// it to each unicast peer or to the multicast group). Priority 0 means "leaving".
    SendAdvert {
        priority: u8,
        interval_cs: u16,
    },
    /// Install the VIPs. `accept` tells the driver whether to accept packets addressed
    /// to them (owner or Accept_Mode, §6.1) or only forward.
    AddVips {
        accept: bool,
    },
    RemoveVips,
    /// Announce the virtual-subnet routes (to the routing daemon).
    AddRoutes,
    RemoveRoutes,
    /// A master's acceptance of packets addressed to the VIPs changed in place (accept
    /// mode or ownership reconfigured): accept them (true) or only forward (false).
    SetAccept(bool),
    /// Gratuitous ARP (IPv4) or unsolicited Neighbor Advertisement (IPv6) for each VIP.
    Announce,
    /// Run the notify hook of the state just entered. Carries what the hook is told, so
    /// it needs no earlier action to make sense.
    RunHook {
        state: State,
        from: State,
        reason: Reason,
    },
    /// A received advert was dropped; for counters.
    Ignored(IgnoreReason),
}

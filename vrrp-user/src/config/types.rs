//! The validated configuration the daemon runs from.
//!
//! Everything here has passed validation: addresses are parsed, defaults
//! are filled in, durations are [`Duration`]s. No spans are kept, so two
//! configs compare equal when they mean the same thing even if comments or
//! line numbers moved; reload relies on that (see [`super::reload`]).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

/// A whole validated file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Config {
    pub global: Global,
    pub instances: Vec<Instance>,
    pub sync_groups: Vec<SyncGroup>,
}

impl Config {
    /// The instance with this name.
    pub fn instance(&self, name: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.name == name)
    }

    /// The sync group an instance belongs to, if any.
    pub fn sync_group_of(&self, instance: &str) -> Option<&SyncGroup> {
        self.sync_groups
            .iter()
            .find(|g| g.members.iter().any(|m| m == instance))
    }
}

/// Daemon-wide options (`[global]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Global {
    /// Unix socket for status queries.
    pub status_socket: PathBuf,
    /// Where to serve metrics; `None` serves none.
    pub metrics_listen: Option<SocketAddr>,
    /// User that hooks and track scripts run as; `None` keeps the daemon's user.
    pub script_user: Option<String>,
    /// Route protocol stamped on every route vrrpd installs, so it can find
    /// and remove its own routes after a crash and a routing daemon can
    /// select them by protocol.
    pub route_protocol: RouteProtocol,
    /// Default datapath for instances that do not choose one.
    pub datapath: Datapath,
    /// Real-time scheduling of the daemon; `None` keeps the normal scheduler.
    pub realtime: Option<Realtime>,
    /// Lock every page of the daemon in memory (`mlockall`).
    pub lock_memory: bool,
}

/// `realtime_scheduling` and `realtime_priority`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Realtime {
    pub policy: SchedPolicy,
    /// 1..=99, as `sched_setscheduler(2)` takes it.
    pub priority: u8,
}

/// A real-time scheduling policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchedPolicy {
    Fifo,
    Rr,
}

/// The `rtm_protocol` number vrrpd marks its routes with, and its name
/// (as it would appear in `/etc/iproute2/rt_protos`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteProtocol {
    pub number: u8,
    pub name: String,
}

/// How adverts are received (`datapath = "auto" | "xdp" | "socket"`): the
/// datapath's own type.
pub use crate::datapath::Mode as Datapath;

/// VRRP protocol version: the core's type, so configuration and router
/// speak of one `Version`. `V2` is RFC 3768 (IPv4 only, interval in whole
/// seconds); `V3` is RFC 9568 (IPv4 and IPv6, interval in centiseconds).
pub use vrrp_core::router::Version;

/// Address family of an instance (all its addresses share one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// One virtual router (`[[instance]]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Instance {
    pub name: String,
    /// The link, or the uplinks, adverts use.
    pub links: Links,
    pub vrid: u8,
    pub version: Version,
    /// Configured priority; 255 means this router owns the addresses.
    pub priority: u8,
    pub advert_interval: Duration,
    pub transport: Transport,
    /// Compute the v3 checksum without the pseudo-header (some vendors do).
    pub v3_checksum_as_v2: bool,
    /// At least one, at most [`vrrp_common::MAX_ADDRS`] (the datapath's
    /// per-advert address limit).
    pub vips: Vec<Vip>,
    /// Routes installed while master, removed otherwise.
    pub routes: Vec<Route>,
    pub track: Track,
    pub hooks: Hooks,
    pub preempt: bool,
    /// How long a higher-priority backup waits before preempting.
    pub preempt_delay: Duration,
    /// Whether the master accepts packets addressed to the VIPs.
    pub accept_mode: bool,
    /// Valid lifetime put on VIPs and refreshed while master, so a VIP left
    /// behind by a killed daemon expires; `None` installs them permanent.
    pub vip_lease: Option<Duration>,
    pub datapath: Datapath,
    /// TTL (hop limit) of sent adverts.
    pub ttl: u8,
    pub garp: Garp,
}

impl Instance {
    /// The family of every address in this instance.
    pub fn family(&self) -> Family {
        Family::of(&self.vips[0].address.addr())
    }

    /// The one advert link of a link instance; `None` for a routed instance.
    pub fn link(&self) -> Option<&str> {
        match &self.links {
            Links::Link(l) => Some(l),
            Links::Uplinks(_) => None,
        }
    }

    /// A routed VIP lives on a device other than the advert link (usually
    /// `lo`) and is announced by a routing daemon instead of by ARP. Every VIP of
    /// a routed instance is one.
    pub fn is_routed(&self, vip: &Vip) -> bool {
        self.link() != Some(vip.dev.as_str())
    }

    /// VIPs on the advert link, which need gratuitous ARP / unsolicited NA.
    pub fn link_vips(&self) -> impl Iterator<Item = &Vip> {
        self.vips.iter().filter(|v| !self.is_routed(v))
    }

    /// Routed VIPs (see [`Instance::is_routed`]).
    pub fn routed_vips(&self) -> impl Iterator<Item = &Vip> {
        self.vips.iter().filter(|v| self.is_routed(v))
    }
}

/// The links an instance's adverts use.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Links {
    /// `interface = "eth0"`: adverts leave and arrive on this link, the source is
    /// an address on it, VIPs default to it, and its loss is FAULT.
    Link(String),
    /// A routed instance (`interface = ["up1", "up2"]`, or no `interface`: every
    /// interface but `lo`, as found at start): adverts leave by the kernel's FIB
    /// from a source that is usually on `lo`, so they follow routing and ECMP; they
    /// are received on every uplink; the instance is in FAULT only while no peer is
    /// routable through one.
    Uplinks(Vec<String>),
}

impl Links {
    /// The uplinks of a routed instance whose `interface` was omitted.
    pub fn all_uplinks(&self) -> bool {
        matches!(self, Links::Uplinks(v) if v.is_empty())
    }
}

/// Where adverts go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    /// To each peer, from `source`; works across routers.
    Unicast {
        /// Our address on the advert link, with the link's prefix length.
        source: IpNet,
        peers: Vec<Peer>,
    },
    /// To 224.0.0.18 / ff02::12 on the link; same subnet only.
    Multicast,
}

/// A unicast peer and the TTL its adverts may arrive with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Peer {
    pub address: IpAddr,
    /// Subnet the peer declared with `address = "a.b.c.d/len"`, if any.
    pub subnet: Option<IpNet>,
    pub ttl_min: u8,
    pub ttl_max: u8,
}

/// A virtual address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Vip {
    /// Address with its prefix length (host bits kept).
    pub address: IpNet,
    /// Device it is added to; defaults to the instance's interface.
    pub dev: String,
    pub scope: Scope,
    /// IPv4 address label (`ip addr ... label`).
    pub label: Option<String>,
}

/// Address scope, as `ip addr ... scope`: the netlink driver's own type.
pub use crate::netlink::Scope;

/// A route installed while master.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    /// Destination (host bits are zero).
    pub prefix: IpNet,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub table: u32,
    pub metric: u32,
    /// `rtm_protocol`; defaults to the global route protocol.
    pub protocol: u8,
}

/// What lowers the priority or forces FAULT.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Track {
    pub interfaces: Vec<TrackInterface>,
    pub scripts: Vec<TrackScript>,
    pub files: Vec<TrackFile>,
    pub routes: Vec<TrackRoute>,
    /// A routed instance's own reachability: no configuration of its own, filled
    /// in from its uplinks and transport.
    pub peers: Option<TrackPeers>,
}

/// A routed instance is in FAULT while the kernel routes none of its peers through
/// one of its uplinks (a link instance gets that from its link's state instead).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrackPeers {
    pub source: IpAddr,
    pub peers: Vec<IpAddr>,
    /// Empty: any interface but `lo`.
    pub uplinks: Vec<String>,
}

/// A tracked link. keepalived's sign rule: a negative `weight` is added to the
/// priority while the link is down, a positive one while it is up; 0 means the
/// instance goes to FAULT while the link is down.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrackInterface {
    pub name: String,
    pub weight: i16,
}

/// A periodic check. After `fall` consecutive failures it is down, after `rise`
/// consecutive successes up. `weight` follows keepalived's sign rule (negative:
/// added while down; positive: added while up); 0 means FAULT while down.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrackScript {
    pub name: String,
    /// argv; run without a shell.
    pub command: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    pub weight: i16,
}

/// A file holding an integer; value × weight is added to the priority
/// (weight 0: a non-zero value means FAULT).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrackFile {
    pub path: PathBuf,
    pub weight: i16,
}

/// A tracked route: up while `table` holds a unicast route to exactly `prefix`
/// (installed by `protocol`, if given) with at least `min_nexthops` next hops, and
/// has held it for `rise` without a break; down as soon as that stops. `weight`
/// follows keepalived's sign rule; 0 means FAULT while down.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrackRoute {
    /// Host bits are zero.
    pub prefix: IpNet,
    pub table: u32,
    pub protocol: Option<u8>,
    pub min_nexthops: u16,
    pub rise: Duration,
    pub weight: i16,
}

/// Commands run on state changes, with `VRRPD_INSTANCE`, `VRRPD_VRID`,
/// `VRRPD_STATE`, `VRRPD_PREV_STATE` and `VRRPD_REASON` in the environment,
/// killed after `timeout`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hooks {
    pub on_master: Option<Vec<String>>,
    pub on_backup: Option<Vec<String>>,
    pub on_fault: Option<Vec<String>>,
    pub on_stop: Option<Vec<String>>,
    pub timeout: Duration,
}

/// Gratuitous ARP / unsolicited NA for VIPs on the advert link.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Garp {
    /// Packets per VIP in each burst.
    pub repeat: u8,
    /// Delay before a second burst after becoming master; zero sends none.
    pub delay: Duration,
}

/// Instances that change state together (`[[sync_group]]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SyncGroup {
    pub name: String,
    pub members: Vec<String>,
}

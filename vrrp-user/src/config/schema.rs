//! The file as written: serde structs that mirror the TOML, with spans.
//!
//! Values that need checking (addresses, numbers with ranges) are kept as
//! raw strings and `i64` here, so a bad value becomes one collected error
//! with a position instead of aborting deserialization. Every table denies
//! unknown keys: a misspelt key must never be silently ignored.

use serde::Deserialize;
use toml::Spanned;

use super::types::{Datapath, Scope};

type Str = Spanned<String>;
type Int = Spanned<i64>;
type Bool = Spanned<bool>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    #[serde(default)]
    pub global: RawGlobal,
    #[serde(default, rename = "instance")]
    pub instances: Vec<RawInstance>,
    #[serde(default, rename = "sync_group")]
    pub sync_groups: Vec<RawSyncGroup>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGlobal {
    pub status_socket: Option<Str>,
    pub metrics_listen: Option<Str>,
    pub script_user: Option<Str>,
    pub route_protocol: Option<Int>,
    pub route_protocol_name: Option<Str>,
    pub datapath: Option<Spanned<Datapath>>,
    pub realtime_scheduling: Option<Spanned<RawSched>>,
    pub realtime_priority: Option<Int>,
    pub lock_memory: Option<Bool>,
}

/// `realtime_scheduling = "off" | "fifo" | "rr"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawSched {
    Off,
    Fifo,
    Rr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawMode {
    Unicast,
    Multicast,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawInstance {
    pub name: Str,
    /// Absent: a routed instance on every interface but `lo`.
    pub interface: Option<Spanned<RawInterface>>,
    pub vrid: Int,
    pub version: Option<Int>,
    pub priority: Int,
    pub advert_interval_ms: Option<Int>,
    pub mode: Spanned<RawMode>,
    pub unicast_src: Option<Str>,
    #[serde(default, rename = "peer")]
    pub peers: Vec<RawPeer>,
    pub v3_checksum_as_v2: Option<Bool>,
    #[serde(default, rename = "vip")]
    pub vips: Vec<RawVip>,
    #[serde(default, rename = "route")]
    pub routes: Vec<RawRoute>,
    #[serde(default, rename = "track_interface")]
    pub track_interfaces: Vec<RawTrackInterface>,
    #[serde(default, rename = "track_script")]
    pub track_scripts: Vec<RawTrackScript>,
    #[serde(default, rename = "track_file")]
    pub track_files: Vec<RawTrackFile>,
    #[serde(default, rename = "track_route")]
    pub track_routes: Vec<RawTrackRoute>,
    pub hooks: Option<RawHooks>,
    pub preempt: Option<Bool>,
    pub preempt_delay_ms: Option<Int>,
    pub accept_mode: Option<Bool>,
    pub vip_lease_s: Option<Int>,
    pub datapath: Option<Spanned<Datapath>>,
    pub ttl: Option<Int>,
    pub garp: Option<Spanned<RawGarp>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPeer {
    pub address: Str,
    pub ttl_min: Option<Int>,
    pub ttl_max: Option<Int>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVip {
    pub address: Str,
    pub dev: Option<Str>,
    pub scope: Option<Spanned<Scope>>,
    pub label: Option<Str>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub prefix: Str,
    pub via: Option<Str>,
    pub dev: Option<Str>,
    pub table: Option<Int>,
    pub metric: Option<Int>,
    pub protocol: Option<Int>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTrackInterface {
    pub name: Str,
    pub weight: Option<Int>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTrackScript {
    pub name: Str,
    pub command: Spanned<Vec<String>>,
    pub interval_ms: Option<Int>,
    pub timeout_ms: Option<Int>,
    pub rise: Option<Int>,
    pub fall: Option<Int>,
    pub weight: Option<Int>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTrackFile {
    pub path: Str,
    pub weight: Option<Int>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTrackRoute {
    pub prefix: Str,
    pub table: Option<Int>,
    pub protocol: Option<Spanned<RawProtocol>>,
    pub min_nexthops: Option<Int>,
    pub rise_ms: Option<Int>,
    pub weight: Option<Int>,
}

/// `interface = "eth0"` (one advert link) or `interface = ["up1", "up2"]` (the
/// uplinks of a routed instance).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawInterface {
    One(String),
    Many(Vec<String>),
}

/// A route protocol by number or by its `/etc/iproute2/rt_protos` name.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawProtocol {
    Number(i64),
    Name(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHooks {
    pub timeout_ms: Option<Int>,
    pub on_master: Option<Spanned<Vec<String>>>,
    pub on_backup: Option<Spanned<Vec<String>>>,
    pub on_fault: Option<Spanned<Vec<String>>>,
    pub on_stop: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGarp {
    pub delay_ms: Option<Int>,
    pub repeat: Option<Int>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSyncGroup {
    pub name: Str,
    pub members: Spanned<Vec<Str>>,
}

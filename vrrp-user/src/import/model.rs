//! The vrrpd file the import writes, every key explicit.

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OutFile {
    pub script_user: Option<String>,
    pub instances: Vec<OutInstance>,
    pub sync_groups: Vec<OutSyncGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutMode {
    Multicast,
    Unicast {
        /// `addr/prefix`.
        src: String,
        peers: Vec<OutPeer>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutPeer {
    pub address: String,
    pub ttl_min: u8,
    pub ttl_max: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutInstance {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub version: u8,
    pub priority: u8,
    pub advert_interval_ms: u64,
    pub mode: OutMode,
    pub ttl: u8,
    pub v3_checksum_as_v2: bool,
    pub preempt: bool,
    pub preempt_delay_ms: u64,
    pub accept_mode: bool,
    pub vips: Vec<OutVip>,
    pub routes: Vec<OutRoute>,
    pub track_interfaces: Vec<(String, i32)>,
    pub track_scripts: Vec<OutTrackScript>,
    pub track_files: Vec<(String, i32)>,
    pub hooks: OutHooks,
    /// `(repeat, delay_ms)`; written only when the instance has a link VIP.
    pub garp: (u32, u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutVip {
    pub address: String,
    pub dev: String,
    pub scope: String,
    pub label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRoute {
    pub prefix: String,
    pub via: Option<String>,
    pub dev: Option<String>,
    pub table: Option<u32>,
    pub metric: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutTrackScript {
    pub name: String,
    pub command: Vec<String>,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub rise: u32,
    pub fall: u32,
    pub weight: i32,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OutHooks {
    pub timeout_ms: u64,
    pub on_master: Option<Vec<String>>,
    pub on_backup: Option<Vec<String>>,
    pub on_fault: Option<Vec<String>>,
    pub on_stop: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutSyncGroup {
    pub name: String,
    pub members: Vec<String>,
}

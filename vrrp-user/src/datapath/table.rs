//! What the datapaths need to know from the configuration: which VRIDs run on which
//! interface, and who may speak for them. The XDP path writes it into BPF maps; the
//! socket path keeps it in a `Table`.

use std::collections::HashMap;

use vrrp_common::{PeerConfig, PeerKey, VridConfig, VridKey};

/// Contents of the `VRIDS` map.
pub type VridEntries = Vec<(VridKey, VridConfig)>;
/// Contents of the `PEERS` map.
pub type PeerEntries = Vec<(PeerKey, PeerConfig)>;

/// One configured peer of a VRID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerEntry {
    pub addr: [u8; 4],
    pub config: PeerConfig,
}

/// One VRID on one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VridEntry {
    pub ifindex: u32,
    pub vrid: u8,
    pub config: VridConfig,
    pub peers: Vec<PeerEntry>,
}

/// The whole receive-side configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DatapathConfig {
    pub entries: Vec<VridEntry>,
}

impl DatapathConfig {
    /// Interfaces that need the datapath, sorted and without duplicates.
    pub fn ifindexes(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.entries.iter().map(|e| e.ifindex).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The map contents: (VRID key, config) and (peer key, config) pairs.
    pub fn map_entries(&self) -> (VridEntries, PeerEntries) {
        let mut vrids = Vec::new();
        let mut peers = Vec::new();
        for e in &self.entries {
            vrids.push((VridKey::new(e.ifindex, e.vrid), e.config));
            for p in &e.peers {
                peers.push((PeerKey::new(e.ifindex, e.vrid, p.addr), p.config));
            }
        }
        (vrids, peers)
    }
}

/// Userspace lookup tables with the same keys as the BPF maps.
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub vrids: HashMap<VridKey, VridConfig>,
    pub peers: HashMap<PeerKey, PeerConfig>,
}

impl Table {
    pub fn new(config: &DatapathConfig) -> Self {
        let (vrids, peers) = config.map_entries();
        Table {
            vrids: vrids.into_iter().collect(),
            peers: peers.into_iter().collect(),
        }
    }
}

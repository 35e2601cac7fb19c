//! What the datapaths need to know from the configuration: which VRIDs run on which
//! interface, and who may speak for them. The XDP path writes it into BPF maps; the
//! socket path keeps it in a `Table`.

use std::collections::HashMap;

use vrrp_common::{PeerConfig, PeerKey, PeerKey6, PeerKeyOf, VridConfigOf, VridKey, WireAddr};

/// Contents of a `VRIDS` map (`VRIDS6` for `[u8; 16]`).
pub type VridEntries<A> = Vec<(VridKey, VridConfigOf<A>)>;
/// Contents of a `PEERS` map (`PEERS6`).
pub type PeerEntries<A> = Vec<(PeerKeyOf<A>, PeerConfig)>;

/// One configured peer of a VRID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerEntryOf<A> {
    pub addr: A,
    pub config: PeerConfig,
}

/// One VRID of one family on one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VridEntryOf<A> {
    pub ifindex: u32,
    pub vrid: u8,
    pub config: VridConfigOf<A>,
    pub peers: Vec<PeerEntryOf<A>>,
}

pub type PeerEntry = PeerEntryOf<[u8; 4]>;
pub type PeerEntry6 = PeerEntryOf<[u8; 16]>;
pub type VridEntry = VridEntryOf<[u8; 4]>;
pub type VridEntry6 = VridEntryOf<[u8; 16]>;

/// The whole receive-side configuration, per family.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DatapathConfig {
    pub entries: Vec<VridEntry>,
    pub entries6: Vec<VridEntry6>,
}

impl DatapathConfig {
    /// Interfaces that need the datapath, sorted and without duplicates.
    pub fn ifindexes(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.entries.iter().map(|e| e.ifindex).collect();
        v.extend(self.entries6.iter().map(|e| e.ifindex));
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Adds `other`'s entries.
    pub fn extend(&mut self, other: &DatapathConfig) {
        self.entries.extend(other.entries.iter().cloned());
        self.entries6.extend(other.entries6.iter().cloned());
    }

    /// The IPv4 map contents: (VRID key, config) and (peer key, config) pairs.
    pub fn map_entries(&self) -> (VridEntries<[u8; 4]>, PeerEntries<[u8; 4]>) {
        map_entries(&self.entries, PeerKey::new)
    }

    /// The IPv6 map contents.
    pub fn map_entries6(&self) -> (VridEntries<[u8; 16]>, PeerEntries<[u8; 16]>) {
        map_entries(&self.entries6, PeerKey6::new6)
    }
}

fn map_entries<A: WireAddr>(
    entries: &[VridEntryOf<A>],
    peer_key: fn(u32, u8, A) -> PeerKeyOf<A>,
) -> (VridEntries<A>, PeerEntries<A>) {
    let mut vrids = Vec::new();
    let mut peers = Vec::new();
    for e in entries {
        vrids.push((VridKey::of(A::FAMILY, e.ifindex, e.vrid), e.config));
        for p in &e.peers {
            peers.push((peer_key(e.ifindex, e.vrid, p.addr), p.config));
        }
    }
    (vrids, peers)
}

/// Userspace lookup tables with the same keys as the BPF maps.
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub vrids: HashMap<VridKey, VridConfigOf<[u8; 4]>>,
    pub peers: HashMap<PeerKey, PeerConfig>,
    pub vrids6: HashMap<VridKey, VridConfigOf<[u8; 16]>>,
    pub peers6: HashMap<PeerKey6, PeerConfig>,
}

impl Table {
    pub fn new(config: &DatapathConfig) -> Self {
        let (vrids, peers) = config.map_entries();
        let (vrids6, peers6) = config.map_entries6();
        Table {
            vrids: vrids.into_iter().collect(),
            peers: peers.into_iter().collect(),
            vrids6: vrids6.into_iter().collect(),
            peers6: peers6.into_iter().collect(),
        }
    }
}

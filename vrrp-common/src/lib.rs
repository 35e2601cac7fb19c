//! The contract between the XDP program (`vrrp-ebpf`) and the daemon (`vrrp-user`).
//!
//! Everything here is `#[repr(C)]`, padding-free and `Pod`, because the same bytes are
//! written by one side and read by the other through BPF maps and the ring buffer.
//! Addresses are kept as network-order byte arrays so neither side has to guess the
//! endianness of a `u32`.
#![no_std]

pub mod validate;

use bytemuck::{Pod, Zeroable};

pub mod follow;

/// IP protocol number of VRRP (RFC 9568 §5.1.1.4).
pub const IPPROTO_VRRP: u8 = 112;
/// The VRRP IPv4 multicast group 224.0.0.18 (RFC 9568 §5.1.1.2).
pub const VRRP_MCAST_V4: [u8; 4] = [224, 0, 0, 18];
/// Most IPv4 addresses one advert may carry. The validator rejects larger counts as
/// `BadLength`; the configuration refuses instances with more VIPs.
pub const MAX_ADDRS: usize = 20;
/// Length of the fixed VRRP header (v2 and v3).
pub const VRRP_HDR_LEN: usize = 8;
/// Length of the v2 authentication data trailer (RFC 3768 §5.3.10).
pub const VRRP_V2_AUTH_LEN: usize = 8;
/// Largest VRRP message the datapaths accept: v2 header + 20 addresses + auth data.
pub const VRRP_MAX_LEN: usize = VRRP_HDR_LEN + 4 * MAX_ADDRS + VRRP_V2_AUTH_LEN;

/// Key of the `VRIDS` map: which VRIDs this daemon runs on which interface.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Pod, Zeroable)]
pub struct VridKey {
    pub ifindex: u32,
    pub vrid: u8,
    pub _pad: [u8; 3],
}

impl VridKey {
    /// Built as one word: the BPF target clears a `[0; 3]` pad with a call to a
    /// byte-wise `memset` subprogram, once per advert on the XDP path.
    pub const fn new(ifindex: u32, vrid: u8) -> Self {
        let i = ifindex.to_ne_bytes();
        let word = u64::from_ne_bytes([i[0], i[1], i[2], i[3], vrid, 0, 0, 0]);
        // SAFETY: same size (8 bytes, checked by transmute), and any bytes are a valid
        // VridKey (Pod); the fields land where repr(C) puts them, padding zero.
        unsafe { core::mem::transmute::<u64, VridKey>(word) }
    }
}

/// Accept a v3 advert whose checksum was computed without the pseudo-header
/// (keepalived's `v3_checksum_as_v2`, some vendors).
pub const VRID_F_V2_CSUM_OK: u8 = 1 << 0;
/// Accept adverts sent to 224.0.0.18 (multicast mode).
pub const VRID_F_MULTICAST: u8 = 1 << 1;
/// Accept any source (multicast mode with no peer list); TTL must then be 255.
pub const VRID_F_ANY_SOURCE: u8 = 1 << 2;

/// Value of the `VRIDS` map.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct VridConfig {
    /// Local unicast address adverts may be sent to; 0.0.0.0 means none.
    pub unicast_dst: [u8; 4],
    /// `VRID_F_*` bits.
    pub flags: u8,
    /// Expected VRRP version (2 or 3); 0 accepts both.
    pub version: u8,
    pub _pad: [u8; 2],
}

/// Key of the `PEERS` map: a configured unicast peer of one VRID on one interface.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct PeerKey {
    pub ifindex: u32,
    pub vrid: u8,
    pub _pad: [u8; 3],
    pub addr: [u8; 4],
}

impl PeerKey {
    /// Built from words, as [`VridKey::new`] is.
    pub const fn new(ifindex: u32, vrid: u8, addr: [u8; 4]) -> Self {
        let words = [
            ifindex,
            u32::from_ne_bytes([vrid, 0, 0, 0]),
            u32::from_ne_bytes(addr),
        ];
        // SAFETY: same size (12 bytes, checked by transmute), any bytes are a valid
        // PeerKey (Pod), and repr(C) puts ifindex, vrid + pad and addr in these words.
        unsafe { core::mem::transmute::<[u32; 3], PeerKey>(words) }
    }
}

/// Value of the `PEERS` map: the TTL window adverts from this peer must arrive in
/// (GTSM-like; a routed peer's adverts arrive below 255).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct PeerConfig {
    pub ttl_min: u8,
    pub ttl_max: u8,
    pub _pad: [u8; 2],
}

impl Default for PeerConfig {
    fn default() -> Self {
        Self {
            ttl_min: 1,
            ttl_max: 255,
            _pad: [0; 2],
        }
    }
}

/// The record was accepted with the v2-style (no pseudo-header) v3 checksum.
pub const REC_F_V2_CSUM: u32 = 1 << 0;
/// The advert was sent to the multicast group.
pub const REC_F_MULTICAST: u32 = 1 << 1;
/// Not an advert: the followed master has been silent for `Follow::down_ns` since its
/// last absorbed advert (`rx_ns`). The other fields repeat the followed advert's.
pub const REC_F_SILENCE: u32 = 1 << 2;

/// One validated advert, as the XDP program (or the socket path) hands it to the
/// controller. 128 bytes, no padding. Built by `validate`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct AdvertRecord {
    /// Kernel receive time, CLOCK_MONOTONIC nanoseconds (`bpf_ktime_get_ns`).
    pub rx_ns: u64,
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub ifindex: u32,
    pub vrid: u8,
    pub priority: u8,
    pub version: u8,
    pub ttl: u8,
    /// Advert interval in centiseconds (v2's seconds are converted).
    pub adver_int_cs: u16,
    /// Number of addresses in the advert (at most `MAX_ADDRS`).
    pub count: u8,
    /// v2 authentication type; 0 for v3.
    pub auth_type: u8,
    /// `REC_F_*` bits.
    pub flags: u32,
    /// The first `count` entries are the advert's addresses.
    pub addrs: [[u8; 4]; MAX_ADDRS],
    /// The datapath's report count for this VRID including this record
    /// (`follow::Followed::reports`); the daemon arms absorption with it.
    pub seq: u64,
    /// Receive time of the last advert the datapath absorbed for this VRID before this
    /// record (0: none): the daemon replays the followed advert at that time first.
    pub followed_rx_ns: u64,
}

impl AdvertRecord {
    pub fn addrs(&self) -> &[[u8; 4]] {
        &self.addrs[..(self.count as usize).min(MAX_ADDRS)]
    }
}

/// Per-CPU counters of the datapath, indexed by `Counter as u32`.
///
/// The order of checks in `validate` (one validator for both datapaths) decides which
/// counter a packet with several faults lands in (see `docs/ARCHITECTURE.md`).
/// Indices are stable: new reasons are appended.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Counter {
    /// A valid advert handed to userspace.
    Accepted = 0,
    /// Shorter than its headers or than the IP total length claims.
    Truncated = 1,
    /// VRRP version not 2 or 3, or not the version configured for the VRID.
    BadVersion = 2,
    /// VRRP type not 1 (advertisement).
    BadType = 3,
    /// Lengths disagree: IHL, IP total length, address count, v2 auth trailer.
    BadLength = 4,
    /// VRRP checksum wrong.
    BadChecksum = 5,
    /// VRID not configured on this interface: passed on untouched, only counted.
    UnknownVrid = 6,
    /// Source is not a configured peer of the VRID.
    NotPeer = 7,
    /// TTL outside the peer's window (or not 255 for multicast).
    BadTtl = 8,
    /// Destination is neither 224.0.0.18 (when allowed) nor the VRID's unicast address.
    BadDestination = 9,
    /// IPv4 fragment (VRRP adverts are never fragmented).
    Fragment = 10,
    /// Valid, but the ring buffer to userspace was full.
    RingFull = 11,
    /// Advert interval of zero.
    BadInterval = 12,
    /// IPv4 header checksum wrong (the stack would drop it; XDP runs first).
    BadIpChecksum = 13,
    /// Address count of zero (RFC 9568 §5.2.5: at least one).
    NoAddresses = 14,
}

impl Counter {
    pub const COUNT: u32 = 15;
    pub const ALL: [Counter; Self::COUNT as usize] = [
        Counter::Accepted,
        Counter::Truncated,
        Counter::BadVersion,
        Counter::BadType,
        Counter::BadLength,
        Counter::BadChecksum,
        Counter::UnknownVrid,
        Counter::NotPeer,
        Counter::BadTtl,
        Counter::BadDestination,
        Counter::Fragment,
        Counter::RingFull,
        Counter::BadInterval,
        Counter::BadIpChecksum,
        Counter::NoAddresses,
    ];

    /// Stable snake_case name, used in metrics labels and status output.
    pub const fn name(self) -> &'static str {
        match self {
            Counter::Accepted => "accepted",
            Counter::Truncated => "truncated",
            Counter::BadVersion => "bad_version",
            Counter::BadType => "bad_type",
            Counter::BadLength => "bad_length",
            Counter::BadChecksum => "bad_checksum",
            Counter::UnknownVrid => "unknown_vrid",
            Counter::NotPeer => "not_peer",
            Counter::BadTtl => "bad_ttl",
            Counter::BadDestination => "bad_destination",
            Counter::Fragment => "fragment",
            Counter::RingFull => "ring_full",
            Counter::BadInterval => "bad_interval",
            Counter::BadIpChecksum => "bad_ip_checksum",
            Counter::NoAddresses => "no_addresses",
        }
    }

    pub fn from_index(i: u32) -> Option<Counter> {
        Self::ALL.get(i as usize).copied()
    }
}

/// Names of the maps and the program in the eBPF object.
pub mod names {
    pub const PROGRAM: &str = "vrrp_xdp";
    pub const VRIDS: &str = "VRIDS";
    pub const PEERS: &str = "PEERS";
    pub const COUNTERS: &str = "COUNTERS";
    pub const RECORDS: &str = "RECORDS";
    pub const FOLLOW: &str = "FOLLOW";
    pub const FOLLOWED: &str = "FOLLOWED";
}

/// Map sizes, shared so userspace can refuse configurations that would not fit.
pub const MAX_VRIDS: u32 = 1024;
pub const MAX_PEERS: u32 = 4096;
/// Ring buffer size in bytes (power of two, multiple of the page size).
pub const RING_BYTES: u32 = 256 * 1024;

#[cfg(feature = "user")]
mod user {
    use super::*;
    // SAFETY: all of these are #[repr(C)], padding-free and valid for any bit pattern
    // (checked by bytemuck's derive).
    unsafe impl aya::Pod for VridKey {}
    unsafe impl aya::Pod for VridConfig {}
    unsafe impl aya::Pod for PeerKey {}
    unsafe impl aya::Pod for PeerConfig {}
    unsafe impl aya::Pod for AdvertRecord {}
    unsafe impl aya::Pod for crate::follow::Follow {}
    unsafe impl aya::Pod for crate::follow::FollowedSlot {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_are_stable() {
        assert_eq!(core::mem::size_of::<AdvertRecord>(), 128);
        assert_eq!(core::mem::size_of::<follow::Follow>(), 40);
        assert_eq!(core::mem::size_of::<follow::Followed>(), 64);
        assert_eq!(core::mem::size_of::<follow::FollowedSlot>(), 88);
        assert_eq!(core::mem::size_of::<VridKey>(), 8);
        assert_eq!(core::mem::size_of::<VridConfig>(), 8);
        assert_eq!(core::mem::size_of::<PeerKey>(), 12);
        assert_eq!(core::mem::size_of::<PeerConfig>(), 4);
    }

    #[test]
    fn keys_built_from_words_have_their_fields() {
        let k = VridKey::new(0x0102_0304, 51);
        assert_eq!((k.ifindex, k.vrid, k._pad), (0x0102_0304, 51, [0; 3]));
        let p = PeerKey::new(7, 200, [10, 1, 2, 10]);
        assert_eq!(
            (p.ifindex, p.vrid, p._pad, p.addr),
            (7, 200, [0; 3], [10, 1, 2, 10])
        );
    }

    #[test]
    fn counters_round_trip() {
        for (i, c) in Counter::ALL.iter().enumerate() {
            assert_eq!(*c as u32, i as u32);
            assert_eq!(Counter::from_index(i as u32), Some(*c));
        }
        assert_eq!(Counter::from_index(Counter::COUNT), None);
    }
}

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
/// The VRRP IPv6 multicast group ff02::12 (RFC 9568 §5.1.2.2).
pub const VRRP_MCAST_V6: [u8; 16] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12];
/// Most addresses (of either family) one advert may carry. The validator rejects
/// larger counts as `BadLength`; the configuration refuses instances with more VIPs.
pub const MAX_ADDRS: usize = 20;
/// Length of the fixed VRRP header (v2 and v3).
pub const VRRP_HDR_LEN: usize = 8;
/// Length of the v2 authentication data trailer (RFC 3768 §5.3.10).
pub const VRRP_V2_AUTH_LEN: usize = 8;
/// Largest VRRP message the datapaths accept over IPv4: v2 header + 20 addresses +
/// auth data.
pub const VRRP_MAX_LEN: usize = VRRP_HDR_LEN + 4 * MAX_ADDRS + VRRP_V2_AUTH_LEN;
/// Largest VRRP message the datapaths accept over IPv6: v3 header + 20 addresses.
pub const VRRP_V6_MAX_LEN: usize = VRRP_HDR_LEN + 16 * MAX_ADDRS;

/// [`VridKey::family`] of an IPv4 VRID.
pub const FAMILY_V4: u8 = 4;
/// [`VridKey::family`] of an IPv6 VRID.
pub const FAMILY_V6: u8 = 6;

/// An address as the maps and records hold it: network-order bytes, 4 for IPv4 and
/// 16 for IPv6. The follow filter keeps one 16-byte form for both (`wide`), so one
/// `FOLLOW` map serves both families.
pub trait WireAddr: Copy + Eq + Default + Pod + core::fmt::Debug {
    /// Address bytes per entry of an advert's address list.
    const LEN: usize;
    /// The `VridKey::family` of records with this address.
    const FAMILY: u8;
    /// The address in 16 bytes (IPv4 in the first 4, the rest zero).
    fn wide(&self) -> [u8; 16];
    /// The inverse of [`WireAddr::wide`].
    fn narrow(wide: &[u8; 16]) -> Self;
    /// `h` with this address's bytes fed in order ([`follow::digest_byte`]).
    fn digest(&self, h: u64) -> u64;
}

impl WireAddr for [u8; 4] {
    const LEN: usize = 4;
    const FAMILY: u8 = FAMILY_V4;
    #[inline(always)]
    fn wide(&self) -> [u8; 16] {
        let mut w = [0u8; 16];
        w[0] = self[0];
        w[1] = self[1];
        w[2] = self[2];
        w[3] = self[3];
        w
    }
    #[inline(always)]
    fn narrow(w: &[u8; 16]) -> Self {
        [w[0], w[1], w[2], w[3]]
    }
    #[inline(always)]
    fn digest(&self, mut h: u64) -> u64 {
        for b in self {
            h = follow::digest_byte(h, *b);
        }
        h
    }
}

impl WireAddr for [u8; 16] {
    const LEN: usize = 16;
    const FAMILY: u8 = FAMILY_V6;
    #[inline(always)]
    fn wide(&self) -> [u8; 16] {
        *self
    }
    #[inline(always)]
    fn narrow(w: &[u8; 16]) -> Self {
        *w
    }
    #[inline(always)]
    fn digest(&self, mut h: u64) -> u64 {
        for b in self {
            h = follow::digest_byte(h, *b);
        }
        h
    }
}

/// Key of the `VRIDS`/`VRIDS6` maps and of the follow filter's maps: one VRID of one
/// family on one interface (RFC 9568 §7.1: VRIDs are per interface and family, so an
/// IPv4 and an IPv6 instance may share one).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Pod, Zeroable)]
pub struct VridKey {
    pub ifindex: u32,
    pub vrid: u8,
    /// [`FAMILY_V4`] or [`FAMILY_V6`].
    pub family: u8,
    pub _pad: [u8; 2],
}

impl VridKey {
    /// An IPv4 VRID.
    pub const fn new(ifindex: u32, vrid: u8) -> Self {
        Self::of(FAMILY_V4, ifindex, vrid)
    }

    /// An IPv6 VRID.
    pub const fn new6(ifindex: u32, vrid: u8) -> Self {
        Self::of(FAMILY_V6, ifindex, vrid)
    }

    /// Built as one word: the BPF target clears a `[0; 2]` pad with a call to a
    /// byte-wise `memset` subprogram, once per advert on the XDP path.
    pub const fn of(family: u8, ifindex: u32, vrid: u8) -> Self {
        let i = ifindex.to_ne_bytes();
        let word = u64::from_ne_bytes([i[0], i[1], i[2], i[3], vrid, family, 0, 0]);
        // SAFETY: same size (8 bytes, checked by transmute), and any bytes are a valid
        // VridKey (Pod); the fields land where repr(C) puts them, padding zero.
        unsafe { core::mem::transmute::<u64, VridKey>(word) }
    }

    pub const fn is_v6(&self) -> bool {
        self.family == FAMILY_V6
    }
}

/// Accept a v3 advert whose checksum was computed without the pseudo-header
/// (keepalived's `v3_checksum_as_v2`, some vendors).
pub const VRID_F_V2_CSUM_OK: u8 = 1 << 0;
/// Accept adverts sent to 224.0.0.18 (multicast mode).
pub const VRID_F_MULTICAST: u8 = 1 << 1;
/// Accept any source (multicast mode with no peer list); TTL must then be 255.
pub const VRID_F_ANY_SOURCE: u8 = 1 << 2;

/// Value of the `VRIDS` (IPv4, `A = [u8; 4]`) and `VRIDS6` (`[u8; 16]`) maps.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VridConfigOf<A> {
    /// Local unicast address adverts may be sent to; all zero means none.
    pub unicast_dst: A,
    /// `VRID_F_*` bits.
    pub flags: u8,
    /// Expected VRRP version (2 or 3); 0 accepts both.
    pub version: u8,
    pub _pad: [u8; 2],
}

/// An IPv4 VRID's receive configuration.
pub type VridConfig = VridConfigOf<[u8; 4]>;
/// An IPv6 VRID's receive configuration.
pub type VridConfig6 = VridConfigOf<[u8; 16]>;

/// Key of the `PEERS` (IPv4) and `PEERS6` maps: a configured unicast peer of one VRID
/// on one interface.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PeerKeyOf<A> {
    pub ifindex: u32,
    pub vrid: u8,
    pub _pad: [u8; 3],
    pub addr: A,
}

pub type PeerKey = PeerKeyOf<[u8; 4]>;
pub type PeerKey6 = PeerKeyOf<[u8; 16]>;

impl PeerKey {
    /// Built from words, as [`VridKey::of`] is.
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

impl PeerKey6 {
    /// Built from words, as [`PeerKey::new`] is.
    pub const fn new6(ifindex: u32, vrid: u8, a: [u8; 16]) -> Self {
        let words = [
            ifindex,
            u32::from_ne_bytes([vrid, 0, 0, 0]),
            u32::from_ne_bytes([a[0], a[1], a[2], a[3]]),
            u32::from_ne_bytes([a[4], a[5], a[6], a[7]]),
            u32::from_ne_bytes([a[8], a[9], a[10], a[11]]),
            u32::from_ne_bytes([a[12], a[13], a[14], a[15]]),
        ];
        // SAFETY: same size (24 bytes, checked by transmute), any bytes are a valid
        // PeerKey6 (Pod), and repr(C) puts the fields in these words.
        unsafe { core::mem::transmute::<[u32; 6], PeerKey6>(words) }
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
/// controller. Built by `validate`. No padding: 128 bytes over IPv4 ([`AdvertRecord`]),
/// 392 over IPv6 ([`AdvertRecord6`]); the ring buffer carries both, told apart by
/// their length.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordOf<A> {
    /// Kernel receive time, CLOCK_MONOTONIC nanoseconds (`bpf_ktime_get_ns`).
    pub rx_ns: u64,
    pub src: A,
    pub dst: A,
    pub ifindex: u32,
    pub vrid: u8,
    pub priority: u8,
    pub version: u8,
    /// IPv4 TTL or IPv6 hop limit.
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
    pub addrs: [A; MAX_ADDRS],
    /// The datapath's report count for this VRID including this record
    /// (`follow::Followed::reports`); the daemon arms absorption with it.
    pub seq: u64,
    /// Receive time of the last advert the datapath absorbed for this VRID before this
    /// record (0: none): the daemon replays the followed advert at that time first.
    pub followed_rx_ns: u64,
}

/// An advert received over IPv4.
pub type AdvertRecord = RecordOf<[u8; 4]>;
/// An advert received over IPv6.
pub type AdvertRecord6 = RecordOf<[u8; 16]>;

impl<A: WireAddr> RecordOf<A> {
    pub fn addrs(&self) -> &[A] {
        &self.addrs[..(self.count as usize).min(MAX_ADDRS)]
    }

    /// The follow filter's key of the VRID this record is for.
    pub const fn key(&self) -> VridKey {
        VridKey::of(A::FAMILY, self.ifindex, self.vrid)
    }
}

/// A record of either family, as userspace passes them around.
#[allow(
    clippy::large_enum_variant,
    reason = "records pass through a reused batch vector; boxing IPv6 ones would \
              allocate per advert"
)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    V4(AdvertRecord),
    V6(AdvertRecord6),
}

impl From<AdvertRecord> for Record {
    fn from(r: AdvertRecord) -> Self {
        Record::V4(r)
    }
}

impl From<AdvertRecord6> for Record {
    fn from(r: AdvertRecord6) -> Self {
        Record::V6(r)
    }
}

/// The family-neutral fields of a [`Record`], read in place.
macro_rules! record_fields {
    ($($name:ident: $ty:ty),* $(,)?) => {
        impl Record {
            $(
                #[inline]
                pub fn $name(&self) -> $ty {
                    match self {
                        Record::V4(r) => r.$name,
                        Record::V6(r) => r.$name,
                    }
                }
            )*
        }
    };
}

record_fields!(
    rx_ns: u64,
    ifindex: u32,
    vrid: u8,
    priority: u8,
    version: u8,
    ttl: u8,
    adver_int_cs: u16,
    count: u8,
    flags: u32,
    seq: u64,
    followed_rx_ns: u64,
);

impl Record {
    pub fn key(&self) -> VridKey {
        match self {
            Record::V4(r) => r.key(),
            Record::V6(r) => r.key(),
        }
    }

    pub fn set_rx_ns(&mut self, rx_ns: u64) {
        match self {
            Record::V4(r) => r.rx_ns = rx_ns,
            Record::V6(r) => r.rx_ns = rx_ns,
        }
    }

    /// Sets what the follow filter fills in after validation.
    pub fn set_follow(&mut self, seq: u64, followed_rx_ns: u64) {
        match self {
            Record::V4(r) => (r.seq, r.followed_rx_ns) = (seq, followed_rx_ns),
            Record::V6(r) => (r.seq, r.followed_rx_ns) = (seq, followed_rx_ns),
        }
    }

    /// The IPv4 record, if it is one.
    pub fn into_v4(self) -> Option<AdvertRecord> {
        match self {
            Record::V4(r) => Some(r),
            Record::V6(_) => None,
        }
    }

    /// The IPv6 record, if it is one.
    pub fn into_v6(self) -> Option<AdvertRecord6> {
        match self {
            Record::V6(r) => Some(r),
            Record::V4(_) => None,
        }
    }

    /// What the follow filter compares.
    pub fn seen(&self) -> follow::Seen {
        match self {
            Record::V4(r) => follow::Seen::of(r),
            Record::V6(r) => follow::Seen::of(r),
        }
    }

    /// The sender's address, 16 bytes wide ([`WireAddr::wide`]).
    pub fn src_wide(&self) -> [u8; 16] {
        match self {
            Record::V4(r) => r.src.wide(),
            Record::V6(r) => r.src,
        }
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
    pub const VRIDS6: &str = "VRIDS6";
    pub const PEERS6: &str = "PEERS6";
    pub const RECORDS: &str = "RECORDS";
    pub const FOLLOW: &str = "FOLLOW";
    pub const FOLLOWED: &str = "FOLLOWED";
}

/// Map sizes, shared so userspace can refuse configurations that would not fit.
pub const MAX_VRIDS: u32 = 1024;
pub const MAX_PEERS: u32 = 4096;
/// Ring buffer size in bytes (power of two, multiple of the page size).
pub const RING_BYTES: u32 = 256 * 1024;

/// `Pod` for the generic map and record types at the two address types. bytemuck's
/// derive cannot check a generic struct for padding, so the sizes are asserted here:
/// each equals the sum of its fields.
macro_rules! pod_at {
    ($($t:ty = $size:expr),* $(,)?) => {
        $(
            const _: () = assert!(core::mem::size_of::<$t>() == $size);
            // SAFETY: #[repr(C)], every field Pod, no padding (size asserted above).
            unsafe impl Zeroable for $t {}
            // SAFETY: as above.
            unsafe impl Pod for $t {}
        )*
    };
}

pod_at!(
    VridConfig = 4 + 4,
    VridConfig6 = 16 + 4,
    PeerKey = 8 + 4,
    PeerKey6 = 8 + 16,
    AdvertRecord = 8 + 2 * 4 + 4 + 12 + 4 * MAX_ADDRS + 16,
    AdvertRecord6 = 8 + 2 * 16 + 4 + 12 + 16 * MAX_ADDRS + 16,
);

#[cfg(feature = "user")]
mod user {
    use super::*;
    // SAFETY: all of these are #[repr(C)], padding-free and valid for any bit pattern
    // (checked by bytemuck's derive or `pod_at!`).
    unsafe impl aya::Pod for VridKey {}
    unsafe impl aya::Pod for VridConfig {}
    unsafe impl aya::Pod for VridConfig6 {}
    unsafe impl aya::Pod for PeerKey {}
    unsafe impl aya::Pod for PeerKey6 {}
    unsafe impl aya::Pod for PeerConfig {}
    unsafe impl aya::Pod for AdvertRecord {}
    unsafe impl aya::Pod for AdvertRecord6 {}
    unsafe impl aya::Pod for crate::follow::Follow {}
    unsafe impl aya::Pod for crate::follow::FollowedSlot {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_are_stable() {
        assert_eq!(core::mem::size_of::<AdvertRecord>(), 128);
        assert_eq!(core::mem::size_of::<AdvertRecord6>(), 392);
        assert_eq!(core::mem::size_of::<follow::Follow>(), 56);
        assert_eq!(core::mem::size_of::<follow::Followed>(), 72);
        assert_eq!(core::mem::size_of::<follow::FollowedSlot>(), 96);
        assert_eq!(core::mem::size_of::<VridKey>(), 8);
        assert_eq!(core::mem::size_of::<VridConfig>(), 8);
        assert_eq!(core::mem::size_of::<PeerKey>(), 12);
        assert_eq!(core::mem::size_of::<PeerKey6>(), 24);
        assert_eq!(core::mem::size_of::<PeerConfig>(), 4);
    }

    #[test]
    fn keys_built_from_words_have_their_fields() {
        let k = VridKey::new(0x0102_0304, 51);
        assert_eq!(
            (k.ifindex, k.vrid, k.family, k._pad),
            (0x0102_0304, 51, FAMILY_V4, [0; 2])
        );
        assert_eq!(VridKey::new6(7, 51).family, FAMILY_V6);
        let a6 = [0x20, 1, 0xd, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10];
        let p6 = PeerKey6::new6(7, 200, a6);
        assert_eq!(
            (p6.ifindex, p6.vrid, p6._pad, p6.addr),
            (7, 200, [0; 3], a6)
        );
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

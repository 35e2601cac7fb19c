//! The one validator of received adverts, run by the XDP program (`vrrp-ebpf`) on every
//! frame and by the socket datapath (`vrrp-user`) on every packet a raw socket reads.
//! Both paths call the same functions, so they cannot drift apart; the verdict tests
//! still run every crafted frame through both and compare.
//!
//! Two steps, so a second address family adds an envelope, not a second copy:
//!
//! 1. The family's **envelope** step ([`classify_ipv4`], [`classify_ipv6`]) checks the IP header (version,
//!    length, header checksum unless the stack did, fragment, total length) and
//!    reduces it to an [`Envelope`]: addresses, TTL or hop limit, the pseudo-header
//!    sum and where the VRRP message is. It loads the message into a buffer sized for
//!    the family's longest valid advert.
//! 2. The shared **message** step ([`check_message`]) runs the RFC 9568 §7.1 /
//!    RFC 3768 §7.1 receive checks on the message: version, type, VRID, lengths,
//!    checksum, count, interval, peer and TTL, destination. It knows addresses only as
//!    the family's `Addr` type and their length as `Family::ADDR_LEN`.
//!
//! The result is the [`AdvertRecord`] the controller consumes (its `rx_ns` left 0: the
//! caller stamps it, this module knows no clock) or the [`Counter`] of the first check
//! that failed. What happens next (the XDP ring buffer, the socket path's queue) is the
//! caller's business.
//!
//! Written for the BPF verifier as much as for people: no allocation, no panics (the
//! lints below refuse indexing that could fail, so the XDP build's "panic is
//! unreachable" handler is never relied on), fixed-size stack buffers, loops over
//! slices whose length is bounded by those buffers. Everything is `#[inline(always)]`:
//! the XDP program is then one function with no BPF-to-BPF calls.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use bytemuck::{Pod, Zeroable};

use crate::{
    AdvertRecord, AdvertRecord6, Counter, IPPROTO_VRRP, MAX_ADDRS, PeerConfig, REC_F_MULTICAST,
    REC_F_V2_CSUM, VRID_F_ANY_SOURCE, VRID_F_MULTICAST, VRID_F_V2_CSUM_OK, VRRP_HDR_LEN,
    VRRP_MAX_LEN, VRRP_MCAST_V4, VRRP_MCAST_V6, VRRP_V2_AUTH_LEN, VRRP_V6_MAX_LEN, VridConfig,
    VridConfig6,
};

/// Ethernet header length.
pub const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const VLAN_HLEN: usize = 4;
/// IPv4 header without options (RFC 791 §3.1).
pub const IPV4_MIN_HLEN: usize = 20;
/// Most option bytes an IPv4 header can carry (IHL 15).
pub const IPV4_MAX_OPTIONS: usize = 40;
/// The fixed IPv6 header (RFC 8200 §3).
pub const IPV6_HLEN: usize = 40;
/// RFC 8200 §4 extension headers the envelope walks past to find VRRP.
const NH_HOP_BY_HOP: u8 = 0;
const NH_ROUTING: u8 = 43;
const NH_FRAGMENT: u8 = 44;
const NH_DEST_OPTS: u8 = 60;
/// Extension headers walked before giving up (passing the packet on untouched): a
/// bound for the verifier, and more than any advert carries (normally none).
pub const IPV6_MAX_EXT_HEADERS: usize = 4;
/// VRRP message type ADVERTISEMENT, the only one either version defines.
const TYPE_ADVERTISEMENT: u8 = 1;

/// What a datapath does with a frame or packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict<R> {
    /// Not VRRP (not IPv4 protocol 112): untouched, uncounted.
    Pass,
    /// VRRP for a VRID not configured on this interface: passed on (another daemon on
    /// the host may own it), counted as `UnknownVrid`.
    PassUnknownVrid,
    /// Rejected: dropped and counted under the reason.
    Drop(Counter),
    /// Valid: handed to the controller.
    Accept(R),
}

impl<R> Verdict<R> {
    /// The counter this verdict increments, if any.
    pub fn counter(&self) -> Option<Counter> {
        match self {
            Verdict::Pass => None,
            Verdict::PassUnknownVrid => Some(Counter::UnknownVrid),
            Verdict::Drop(c) => Some(*c),
            Verdict::Accept(_) => Some(Counter::Accepted),
        }
    }

    #[inline(always)]
    fn from_result(r: Result<R, Counter>) -> Self {
        match r {
            Ok(rec) => Verdict::Accept(rec),
            Err(c) => Verdict::rejected(c),
        }
    }

    /// The verdict of a failed check: `UnknownVrid` passes on, the rest drop.
    #[inline(always)]
    fn rejected(c: Counter) -> Self {
        if c == Counter::UnknownVrid {
            Verdict::PassUnknownVrid
        } else {
            Verdict::Drop(c)
        }
    }

    /// The same verdict with the accepted record mapped.
    #[inline(always)]
    pub fn map<S>(self, f: impl FnOnce(R) -> S) -> Verdict<S> {
        match self {
            Verdict::Pass => Verdict::Pass,
            Verdict::PassUnknownVrid => Verdict::PassUnknownVrid,
            Verdict::Drop(c) => Verdict::Drop(c),
            Verdict::Accept(r) => Verdict::Accept(f(r)),
        }
    }
}

/// The bytes of a received frame or packet.
///
/// Two ways in, because the XDP side pays differently for them: `array` is a small
/// read at a fixed offset (direct packet access, so traffic that is not VRRP costs no
/// helper call); `load` copies a run of any length at any offset into a buffer
/// (`bpf_xdp_load_bytes`, which keeps variable offsets away from the verifier).
pub trait Packet {
    /// Length in bytes, up to the end of the frame (padding included).
    fn byte_len(&self) -> usize;
    /// The `N` bytes at `off`, if the packet has them.
    fn array<const N: usize>(&self, off: usize) -> Option<[u8; N]>;
    /// Fills `buf` with the bytes at `off`; false if the packet is shorter.
    fn load(&self, off: usize, buf: &mut [u8]) -> bool;
}

impl Packet for [u8] {
    #[inline(always)]
    fn byte_len(&self) -> usize {
        self.len()
    }

    #[inline(always)]
    fn array<const N: usize>(&self, off: usize) -> Option<[u8; N]> {
        let end = off.checked_add(N)?;
        self.get(off..end)?.try_into().ok()
    }

    #[inline(always)]
    fn load(&self, off: usize, buf: &mut [u8]) -> bool {
        let Some(end) = off.checked_add(buf.len()) else {
            return false;
        };
        match self.get(off..end) {
            Some(src) => {
                buf.copy_from_slice(src);
                true
            }
            None => false,
        }
    }
}

/// What the message checks need to know of an address family.
pub trait Family {
    /// One address, network byte order.
    type Addr: Copy + Eq;
    /// Bytes per entry of the advert's address list.
    const ADDR_LEN: usize;
    /// Whether VRRPv2 exists over this family: it is IPv4-only (RFC 3768 §1).
    const HAS_V2: bool;
}

pub enum Ipv4 {}

impl Family for Ipv4 {
    type Addr = [u8; 4];
    const ADDR_LEN: usize = 4;
    const HAS_V2: bool = true;
}

pub enum Ipv6 {}

impl Family for Ipv6 {
    type Addr = [u8; 16];
    const ADDR_LEN: usize = 16;
    const HAS_V2: bool = false;
}

/// A VRID's receive configuration in the family's addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vrid<A> {
    /// The local address unicast adverts must be sent to; `None`: multicast only.
    pub unicast_dst: Option<A>,
    /// `VRID_F_*` bits.
    pub flags: u8,
    /// Expected VRRP version (2 or 3); 0 accepts both.
    pub version: u8,
}

impl From<VridConfig> for Vrid<[u8; 4]> {
    #[inline(always)]
    fn from(c: VridConfig) -> Self {
        Vrid {
            // 0.0.0.0 can never be a destination: the map's "none".
            unicast_dst: (c.unicast_dst != [0; 4]).then_some(c.unicast_dst),
            flags: c.flags,
            version: c.version,
        }
    }
}

impl From<VridConfig6> for Vrid<[u8; 16]> {
    #[inline(always)]
    fn from(c: VridConfig6) -> Self {
        Vrid {
            // :: can never be a destination: the map's "none".
            unicast_dst: (c.unicast_dst != [0; 16]).then_some(c.unicast_dst),
            flags: c.flags,
            version: c.version,
        }
    }
}

/// The configuration the checks look up: the XDP program's BPF hash maps, or the
/// socket path's `Table`. Keys are per interface, as VRIDs are (RFC 9568 §7.1).
pub trait Tables<F: Family> {
    /// The VRID's configuration on `ifindex`, if it runs there.
    fn vrid(&self, ifindex: u32, vrid: u8) -> Option<Vrid<F::Addr>>;
    /// The configuration of peer `src` of that VRID, if it is one.
    fn peer(&self, ifindex: u32, vrid: u8, src: F::Addr) -> Option<PeerConfig>;
}

/// What the IP layer tells the message checks, whatever the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope<A> {
    /// Interface the packet arrived on.
    pub ifindex: u32,
    pub src: A,
    pub dst: A,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// Sent to the family's VRRP group (224.0.0.18 or ff02::12, RFC 9568 §5.1.1.2,
    /// §5.1.2.2).
    pub multicast: bool,
    /// Unfolded one's-complement sum of the family's pseudo-header for the v3
    /// checksum (RFC 9568 §5.2.8), message length included.
    pub pseudo_sum: u32,
    /// Length of the VRRP message by the IP header; the bytes loaded may be fewer
    /// when this is longer than any valid advert.
    pub msg_len: usize,
}

/// The VRRP message's fields once every check passed (family-neutral; the addresses
/// stay in the message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    pub vrid: u8,
    pub priority: u8,
    pub version: u8,
    /// 1..=`MAX_ADDRS`.
    pub count: u8,
    /// Interval in centiseconds (v2's seconds converted), non-zero.
    pub adver_int_cs: u16,
    /// v2 authentication type; 0 for v3.
    pub auth_type: u8,
    /// `REC_F_*` bits.
    pub flags: u32,
}

/// Where the IPv4 packet comes from, which decides whether its header checksum can
/// still be checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Straight off the wire (XDP): every byte as sent, header checksum checked.
    Wire,
    /// From a raw socket: the stack has checked the header checksum, then processed
    /// the options, writing its address into a Record Route option and its time into
    /// a Timestamp option in place (RFC 791 §3.1) without updating the checksum. A
    /// valid advert carrying one would fail a second check, so there is none.
    Stack,
}

/// Where a frame's IP packet starts, by its ethertype (one 802.1Q/802.1ad tag
/// allowed), as the XDP program sees the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L3 {
    /// IPv4 at this offset: [`classify_ipv4`].
    Ipv4(usize),
    /// IPv6 at this offset: [`classify_ipv6`].
    Ipv6(usize),
    /// Anything else: not ours, passed on.
    Other,
}

/// The ethertype demux of a frame: two reads, or four with a VLAN tag.
#[inline(always)]
pub fn frame_l3<P: Packet + ?Sized>(pkt: &P) -> L3 {
    let Some(ethertype) = pkt.array::<2>(ETH_HLEN - 2) else {
        return L3::Other;
    };
    let mut l3 = ETH_HLEN;
    let mut ethertype = u16::from_be_bytes(ethertype);
    if ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
        let Some(inner) = pkt.array::<2>(ETH_HLEN + VLAN_HLEN - 2) else {
            return L3::Other;
        };
        ethertype = u16::from_be_bytes(inner);
        l3 += VLAN_HLEN;
    }
    match ethertype {
        ETH_P_IP => L3::Ipv4(l3),
        ETH_P_IPV6 => L3::Ipv6(l3),
        _ => L3::Other,
    }
}

/// Classifies the IPv4 packet starting at byte `l3` of `pkt` (0 for what a raw socket
/// delivers, header included).
#[inline(always)]
pub fn classify_ipv4<P, T>(
    pkt: &P,
    l3: usize,
    source: Source,
    ifindex: u32,
    tables: &T,
) -> Verdict<AdvertRecord>
where
    P: Packet + ?Sized,
    T: Tables<Ipv4> + ?Sized,
{
    // Too short to be IPv4, or another protocol: not ours, and the cheapest way out.
    let Some(hdr) = pkt.array::<IPV4_MIN_HLEN>(l3) else {
        return Verdict::Pass;
    };
    if hdr[9] != IPPROTO_VRRP {
        return Verdict::Pass;
    }
    Verdict::from_result(check_ipv4(pkt, l3, &hdr, source, ifindex, tables))
}

/// The IPv4 envelope (RFC 791, RFC 1122 §3.2.1), then the shared message checks.
#[inline(always)]
fn check_ipv4<P, T>(
    pkt: &P,
    l3: usize,
    hdr: &[u8; IPV4_MIN_HLEN],
    source: Source,
    ifindex: u32,
    tables: &T,
) -> Result<AdvertRecord, Counter>
where
    P: Packet + ?Sized,
    T: Tables<Ipv4> + ?Sized,
{
    let ihl = usize::from(hdr[0] & 0x0f) * 4;
    if hdr[0] >> 4 != 4 || ihl < IPV4_MIN_HLEN {
        return Err(Counter::BadLength);
    }
    let avail = pkt.byte_len().saturating_sub(l3);
    if ihl > avail {
        return Err(Counter::Truncated);
    }

    // The header checksum (RFC 791 §3.1). The stack drops a bad one before a raw
    // socket sees it; XDP runs before the stack and must check it itself, or a frame
    // the stack would drop could still move the election.
    if source == Source::Wire {
        let options_sum = if ihl > IPV4_MIN_HLEN {
            let mut slot = core::mem::MaybeUninit::uninit();
            let options: &mut [u8; IPV4_MAX_OPTIONS] = zeroed(&mut slot);
            let options = options
                .get_mut(..ihl - IPV4_MIN_HLEN)
                .ok_or(Counter::BadLength)?;
            if !pkt.load(l3 + IPV4_MIN_HLEN, options) {
                return Err(Counter::Truncated);
            }
            sum_words(options)
        } else {
            0
        };
        if !folds_to_ones(sum_words(hdr) + options_sum) {
            return Err(Counter::BadIpChecksum);
        }
    }

    // Adverts are small and sent with DF; a fragment is never one (the stack would
    // reassemble it first, XDP sees the pieces).
    let frag = u16::from_be_bytes([hdr[6], hdr[7]]);
    if frag & 0x3fff != 0 {
        return Err(Counter::Fragment);
    }
    let tot_len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
    if tot_len > avail {
        return Err(Counter::Truncated);
    }
    if tot_len < ihl {
        return Err(Counter::BadLength);
    }
    let msg_len = tot_len - ihl;
    if msg_len < VRRP_HDR_LEN {
        return Err(Counter::Truncated);
    }
    // Sized for the longest valid IPv4 advert: a longer message fails the length
    // check with only its first bytes read.
    let mut slot = core::mem::MaybeUninit::uninit();
    let msg: &mut [u8; VRRP_MAX_LEN] = zeroed(&mut slot);
    let loaded = msg
        .get_mut(..msg_len.min(VRRP_MAX_LEN))
        .ok_or(Counter::BadLength)?;
    if !pkt.load(l3 + ihl, loaded) {
        return Err(Counter::Truncated);
    }

    let src = [hdr[12], hdr[13], hdr[14], hdr[15]];
    let dst = [hdr[16], hdr[17], hdr[18], hdr[19]];
    // RFC 5798 §5.2.8 pseudo-header: source, destination, zero, protocol, length.
    // msg_len fits 16 bits (it came from the total length field).
    let pseudo_sum = sum_words(&src) + sum_words(&dst) + u32::from(IPPROTO_VRRP) + msg_len as u32;
    let env = Envelope {
        ifindex,
        src,
        dst,
        ttl: hdr[8],
        multicast: dst == VRRP_MCAST_V4,
        pseudo_sum,
        msg_len,
    };
    let msg: &[u8; VRRP_MAX_LEN] = msg;
    let m = check_message::<Ipv4, T>(&env, msg, tables)?;
    Ok(ipv4_record(&env, &m, msg))
}

/// Working memory of the IPv6 envelope: the message (up to the longest valid IPv6
/// advert) and the record built from it. 720 bytes, too many for the BPF stack next
/// to the IPv4 path's buffers, so the XDP program keeps it in a per-CPU array map; the
/// socket path keeps one in its datapath.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct Scratch6 {
    pub msg: [u8; VRRP_V6_MAX_LEN],
    pub rec: AdvertRecord6,
}

impl Default for Scratch6 {
    fn default() -> Self {
        Zeroable::zeroed()
    }
}

/// Classifies the IPv6 packet starting at byte `l3` of a frame (XDP): the fixed header,
/// then up to [`IPV6_MAX_EXT_HEADERS`] hop-by-hop, routing and destination-options
/// headers to find VRRP. A fragment header in front of VRRP is `Fragment` (an advert
/// is never fragmented; the stack would reassemble the pieces first). On `Accept` the
/// record is `scratch.rec`.
#[inline(always)]
pub fn classify_ipv6<'s, P, T>(
    pkt: &P,
    l3: usize,
    ifindex: u32,
    tables: &T,
    scratch: &'s mut Scratch6,
) -> Verdict<&'s mut AdvertRecord6>
where
    P: Packet + ?Sized,
    T: Tables<Ipv6> + ?Sized,
{
    let Some(hdr) = pkt.array::<IPV6_HLEN>(l3) else {
        return Verdict::Pass;
    };
    let mut next = hdr[6];
    let mut off = IPV6_HLEN;
    let mut i = 0;
    while i < IPV6_MAX_EXT_HEADERS && next != IPPROTO_VRRP {
        let mut ext = [0u8; 2];
        if !pkt.load(l3 + off, &mut ext) {
            return Verdict::Pass;
        }
        match next {
            NH_HOP_BY_HOP | NH_ROUTING | NH_DEST_OPTS => {
                next = ext[0];
                off += (usize::from(ext[1]) + 1) * 8;
            }
            NH_FRAGMENT if ext[0] == IPPROTO_VRRP => return Verdict::Drop(Counter::Fragment),
            _ => return Verdict::Pass,
        }
        i += 1;
    }
    if next != IPPROTO_VRRP {
        return Verdict::Pass;
    }
    match check_ipv6(pkt, l3, &hdr, off, ifindex, tables, scratch) {
        Ok(()) => Verdict::Accept(&mut scratch.rec),
        Err(c) => Verdict::rejected(c),
    }
}

/// The IPv6 envelope once VRRP was found at `off` (RFC 8200 §3): version, lengths.
#[inline(always)]
fn check_ipv6<P, T>(
    pkt: &P,
    l3: usize,
    hdr: &[u8; IPV6_HLEN],
    off: usize,
    ifindex: u32,
    tables: &T,
    scratch: &mut Scratch6,
) -> Result<(), Counter>
where
    P: Packet + ?Sized,
    T: Tables<Ipv6> + ?Sized,
{
    if hdr[0] >> 4 != 6 {
        return Err(Counter::BadLength);
    }
    let avail = pkt.byte_len().saturating_sub(l3 + IPV6_HLEN);
    let payload = usize::from(u16::from_be_bytes([hdr[4], hdr[5]]));
    if payload > avail {
        return Err(Counter::Truncated);
    }
    // Extension headers that claim more than the payload (or a jumbogram's zero).
    let ext_len = off - IPV6_HLEN;
    if ext_len > payload {
        return Err(Counter::BadLength);
    }
    let msg_len = payload - ext_len;
    if msg_len < VRRP_HDR_LEN {
        return Err(Counter::Truncated);
    }
    let loaded = scratch
        .msg
        .get_mut(..msg_len.min(VRRP_V6_MAX_LEN))
        .ok_or(Counter::BadLength)?;
    if !pkt.load(l3 + off, loaded) {
        return Err(Counter::Truncated);
    }
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    if let (Some(s), Some(d)) = (hdr.get(8..24), hdr.get(24..40)) {
        src.copy_from_slice(s);
        dst.copy_from_slice(d);
    }
    let env = ipv6_envelope(ifindex, src, dst, hdr[7], msg_len);
    check_ipv6_message(&env, tables, scratch)
}

/// Classifies what an IPv6 raw socket delivers: the VRRP message alone (the stack
/// keeps the IPv6 header, so its fields come from the receive ancillary data), after
/// the stack has walked the extension headers and reassembled any fragments.
#[inline(always)]
pub fn classify_ipv6_payload<'s, T>(
    msg: &[u8],
    src: [u8; 16],
    dst: [u8; 16],
    hop_limit: u8,
    ifindex: u32,
    tables: &T,
    scratch: &'s mut Scratch6,
) -> Verdict<&'s mut AdvertRecord6>
where
    T: Tables<Ipv6> + ?Sized,
{
    let result = (|| {
        if msg.len() < VRRP_HDR_LEN {
            return Err(Counter::Truncated);
        }
        let n = msg.len().min(VRRP_V6_MAX_LEN);
        if let (Some(to), Some(from)) = (scratch.msg.get_mut(..n), msg.get(..n)) {
            to.copy_from_slice(from);
        }
        let env = ipv6_envelope(ifindex, src, dst, hop_limit, msg.len());
        check_ipv6_message(&env, tables, scratch)
    })();
    match result {
        Ok(()) => Verdict::Accept(&mut scratch.rec),
        Err(c) => Verdict::rejected(c),
    }
}

#[inline(always)]
fn ipv6_envelope(
    ifindex: u32,
    src: [u8; 16],
    dst: [u8; 16],
    hop_limit: u8,
    msg_len: usize,
) -> Envelope<[u8; 16]> {
    // RFC 8200 §8.1 pseudo-header: source, destination, 32-bit upper-layer length,
    // 24 zero bits, next header. msg_len fits 16 bits (it came from the payload length
    // field, or a socket read of at most 64 KiB).
    let pseudo_sum = sum_words(&src)
        + sum_words(&dst)
        + sum_words(&(msg_len as u32).to_be_bytes())
        + u32::from(IPPROTO_VRRP);
    Envelope {
        ifindex,
        src,
        dst,
        ttl: hop_limit,
        multicast: dst == VRRP_MCAST_V6,
        pseudo_sum,
        msg_len,
    }
}

/// The shared message checks on `scratch.msg`, then the record into `scratch.rec`.
#[inline(always)]
fn check_ipv6_message<T>(
    env: &Envelope<[u8; 16]>,
    tables: &T,
    scratch: &mut Scratch6,
) -> Result<(), Counter>
where
    T: Tables<Ipv6> + ?Sized,
{
    let m = check_message::<Ipv6, T>(env, &scratch.msg, tables)?;
    let rec = &mut scratch.rec;
    rec.rx_ns = 0;
    rec.src = env.src;
    rec.dst = env.dst;
    rec.ifindex = env.ifindex;
    rec.vrid = m.vrid;
    rec.priority = m.priority;
    rec.version = m.version;
    rec.ttl = env.ttl;
    rec.adver_int_cs = m.adver_int_cs;
    rec.count = m.count;
    rec.auth_type = 0;
    rec.flags = m.flags;
    rec.seq = 0;
    rec.followed_rx_ns = 0;
    // Every slot at a fixed offset (see `ipv4_record`); past `count`, zeros, so the
    // buffer's bytes from an earlier, longer packet never leak into the record.
    let count = usize::from(m.count);
    let list = scratch.msg.get(VRRP_HDR_LEN..).unwrap_or(&[]);
    for (i, (slot, a)) in rec
        .addrs
        .iter_mut()
        .zip(list.as_chunks::<16>().0)
        .enumerate()
    {
        *slot = if i < count { *a } else { [0; 16] };
    }
    Ok(())
}

/// The receive checks on a VRRP message, any family (RFC 9568 §7.1; RFC 3768 §7.1 for
/// v2). `msg` holds the message's first bytes (all of it whenever it can be valid).
///
/// The order decides which counter a message with several faults lands in; it is
/// listed in docs/ARCHITECTURE.md. TTL/hop limit 255 is demanded for multicast only:
/// routed unicast adverts arrive lower, so each peer has a window (GTSM-like).
#[inline(always)]
pub fn check_message<F, T>(
    env: &Envelope<F::Addr>,
    msg: &[u8],
    tables: &T,
) -> Result<Message, Counter>
where
    F: Family,
    T: Tables<F> + ?Sized,
{
    let Some(hdr) = msg.first_chunk::<VRRP_HDR_LEN>() else {
        return Err(Counter::Truncated);
    };
    let version = hdr[0] >> 4;
    if !(version == 3 || (version == 2 && F::HAS_V2)) {
        return Err(Counter::BadVersion);
    }
    if hdr[0] & 0x0f != TYPE_ADVERTISEMENT {
        return Err(Counter::BadType);
    }
    let vrid = hdr[1];
    let Some(cfg) = tables.vrid(env.ifindex, vrid) else {
        return Err(Counter::UnknownVrid);
    };
    if cfg.version != 0 && cfg.version != version {
        return Err(Counter::BadVersion);
    }

    let count = usize::from(hdr[3]);
    if count > MAX_ADDRS {
        return Err(Counter::BadLength);
    }
    let trailer = if version == 2 { VRRP_V2_AUTH_LEN } else { 0 };
    let len = VRRP_HDR_LEN + F::ADDR_LEN * count + trailer;
    if env.msg_len != len {
        return Err(Counter::BadLength);
    }
    // Always there: the family's buffer fits every length that passed above.
    let whole = msg.get(..len).ok_or(Counter::BadLength)?;

    // v3 sums the pseudo-header in; a VRID may also take the message-only form
    // (keepalived's v3_checksum_as_v2). v2 is message-only (RFC 3768 §5.3.8).
    let body = sum_words(whole);
    let mut flags = 0u32;
    if version == 3 {
        if !folds_to_ones(body + env.pseudo_sum) {
            if cfg.flags & VRID_F_V2_CSUM_OK != 0 && folds_to_ones(body) {
                flags |= REC_F_V2_CSUM;
            } else {
                return Err(Counter::BadChecksum);
            }
        }
    } else if !folds_to_ones(body) {
        return Err(Counter::BadChecksum);
    }

    // RFC 9568 §5.2.5: at least one address (held to v2 as well: an advert for no
    // address protects nothing).
    if count == 0 {
        return Err(Counter::NoAddresses);
    }
    // v3: 12 bits of centiseconds (§5.2.7); v2: 8 bits of seconds.
    let adver_int_cs = if version == 3 {
        u16::from_be_bytes([hdr[4] & 0x0f, hdr[5]])
    } else {
        u16::from(hdr[5]) * 100
    };
    if adver_int_cs == 0 {
        return Err(Counter::BadInterval);
    }

    if cfg.flags & VRID_F_ANY_SOURCE != 0 {
        if env.ttl != 255 {
            return Err(Counter::BadTtl);
        }
    } else {
        let Some(peer) = tables.peer(env.ifindex, vrid, env.src) else {
            return Err(Counter::NotPeer);
        };
        let ttl_ok = if env.multicast {
            env.ttl == 255
        } else {
            env.ttl >= peer.ttl_min && env.ttl <= peer.ttl_max
        };
        if !ttl_ok {
            return Err(Counter::BadTtl);
        }
    }
    let dst_ok = if env.multicast {
        cfg.flags & VRID_F_MULTICAST != 0
    } else {
        cfg.unicast_dst == Some(env.dst)
    };
    if !dst_ok {
        return Err(Counter::BadDestination);
    }
    if env.multicast {
        flags |= REC_F_MULTICAST;
    }

    Ok(Message {
        vrid,
        priority: hdr[2],
        version,
        count: hdr[3],
        adver_int_cs,
        auth_type: if version == 2 { hdr[4] } else { 0 },
        flags,
    })
}

/// The record of a valid IPv4 advert; `msg` is the message buffer `m` came from,
/// zero past the message's end.
#[inline(always)]
fn ipv4_record(env: &Envelope<[u8; 4]>, m: &Message, msg: &[u8; VRRP_MAX_LEN]) -> AdvertRecord {
    // The address list straight from the buffer, a fixed-size copy (inline word moves;
    // a zeroed array here would cost a byte-wise `memset`, see `zeroed`): past the
    // last address it holds zeros, or for v2 the authentication data, cleared below.
    let mut addrs = [[0u8; 4]; MAX_ADDRS];
    if let Some(list) = msg.get(VRRP_HDR_LEN..VRRP_HDR_LEN + 4 * MAX_ADDRS) {
        for (slot, a) in addrs.iter_mut().zip(list.as_chunks::<4>().0) {
            *slot = *a;
        }
    }
    // Every slot at a fixed offset: the verifier refuses a store to the stack at an
    // offset only known at run time, like `addrs[count]`.
    let count = usize::from(m.count);
    for (i, slot) in addrs.iter_mut().enumerate() {
        if i >= count {
            *slot = [0; 4];
        }
    }
    AdvertRecord {
        rx_ns: 0,
        src: env.src,
        dst: env.dst,
        ifindex: env.ifindex,
        vrid: m.vrid,
        priority: m.priority,
        version: m.version,
        ttl: env.ttl,
        adver_int_cs: m.adver_int_cs,
        count: m.count,
        auth_type: m.auth_type,
        flags: m.flags,
        addrs,
        // Set by the follow filter after validation.
        seq: 0,
        followed_rx_ns: 0,
    }
}

/// An 8-byte aligned stack buffer, for [`zeroed`].
#[repr(C, align(8))]
struct Aligned<const N: usize>([u8; N]);

/// Zeroes `slot` in place, one 64-bit word at a time, and hands out its bytes.
///
/// On the BPF target a zero-initialised array (`[0u8; N]`) becomes a call to a
/// `memset` subprogram that stores one byte per loop turn: five instructions a byte,
/// most of an advert's run time for the 96-byte message buffer alone. Volatile word
/// stores cannot be folded back into that call, and writing in place (no move of the
/// result) keeps the stack small. Elsewhere it is just a clear.
#[inline(always)]
fn zeroed<const N: usize>(slot: &mut core::mem::MaybeUninit<Aligned<N>>) -> &mut [u8; N] {
    const { assert!(N.is_multiple_of(8)) };
    let words = slot.as_mut_ptr().cast::<u64>();
    let mut i = 0;
    while i < N / 8 {
        // SAFETY: word i lies inside `slot` (i < N / 8), which is 8-byte aligned.
        unsafe { words.add(i).write_volatile(0) };
        i += 1;
    }
    // SAFETY: every byte was just written; any bytes are a valid [u8; N].
    unsafe { &mut slot.assume_init_mut().0 }
}

/// Unfolded one's-complement sum (RFC 1071) of big-endian 16-bit words, an odd last
/// byte padded with zero. Callers pass at most a few hundred bytes, far from
/// overflowing 32 bits.
#[inline(always)]
pub fn sum_words(bytes: &[u8]) -> u32 {
    let (words, rest) = bytes.as_chunks::<2>();
    let mut sum = 0u32;
    for w in words {
        sum += u32::from(u16::from_be_bytes(*w));
    }
    if let [last] = rest {
        sum += u32::from(*last) << 8;
    }
    sum
}

/// Whether a sum over data that includes its own checksum field is all ones once
/// the carries are folded in: the RFC 1071 receive check.
#[inline(always)]
pub fn folds_to_ones(mut sum: u32) -> bool {
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum == 0xffff
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::panic,
    clippy::expect_used,
    reason = "tests may panic"
)]
mod tests {
    extern crate std;

    use super::*;

    // Packets built by an independent script (Python, RFC 1071 checksums); IP header
    // without options, as a raw socket delivers them.

    /// v3, 10.1.2.10 -> 10.1.1.10, TTL 254, VRID 51, priority 100, 1 s, 10.1.255.1.
    const V3_UNICAST: [u8; 32] = [
        0x45, 0xc0, 0x00, 0x20, 0x12, 0x34, 0x40, 0x00, 0xfe, 0x70, 0x52, 0x64, 0x0a, 0x01, 0x02,
        0x0a, 0x0a, 0x01, 0x01, 0x0a, 0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0x49, 0xd2, 0x0a, 0x01,
        0xff, 0x01,
    ];
    /// v2, 10.1.2.10 -> 224.0.0.18, TTL 255, VRID 52, priority 200, 1 s, two addresses.
    const V2_MULTICAST: [u8; 44] = [
        0x45, 0xc0, 0x00, 0x2c, 0x12, 0x34, 0x40, 0x00, 0xff, 0x70, 0x7c, 0x50, 0x0a, 0x01, 0x02,
        0x0a, 0xe0, 0x00, 0x00, 0x12, 0x21, 0x34, 0xc8, 0x02, 0x00, 0x01, 0x04, 0xc1, 0x0a, 0x01,
        0xff, 0x01, 0x0a, 0x01, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    /// As `V3_UNICAST` with count 0 and no address; both checksums right.
    const V3_NO_ADDRESSES: [u8; 28] = [
        0x45, 0xc0, 0x00, 0x1c, 0x12, 0x34, 0x40, 0x00, 0xfe, 0x70, 0x52, 0x68, 0x0a, 0x01, 0x02,
        0x0a, 0x0a, 0x01, 0x01, 0x0a, 0x31, 0x33, 0x64, 0x00, 0x00, 0x64, 0x52, 0xda,
    ];
    /// A v3 message fe80::1 -> ff02::12, VRID 51, priority 100, 1 s, 2001:db8::1, with
    /// the RFC 8200 pseudo-header checksum.
    const V3_OVER_IPV6: [u8; 24] = [
        0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0x3e, 0x8e, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    ];

    /// v2 multicast for VRID 52 whose checksum computes to 0x0000 but carries 0xffff,
    /// one's complement's other zero.
    const V2_NEGATIVE_ZERO: [u8; 40] = [
        0x45, 0xc0, 0x00, 0x28, 0x12, 0x34, 0x40, 0x00, 0xff, 0x70, 0x7c, 0x54, 0x0a, 0x01, 0x02,
        0x0a, 0xe0, 0x00, 0x00, 0x12, 0x21, 0x34, 0xc8, 0x01, 0x00, 0x01, 0xff, 0xff, 0x0a, 0x01,
        0x0c, 0xc8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];

    const IF: u32 = 3;
    const PEER: [u8; 4] = [10, 1, 2, 10];

    /// VRID 51: v3 unicast to 10.1.1.10 from PEER (TTL 250..=255);
    /// VRID 52: v2 multicast from PEER.
    struct Fixed;

    impl Tables<Ipv4> for Fixed {
        fn vrid(&self, ifindex: u32, vrid: u8) -> Option<Vrid<[u8; 4]>> {
            let c = match (ifindex, vrid) {
                (IF, 51) => VridConfig {
                    unicast_dst: [10, 1, 1, 10],
                    flags: 0,
                    version: 3,
                    _pad: [0; 2],
                },
                (IF, 52) => VridConfig {
                    unicast_dst: [0; 4],
                    flags: VRID_F_MULTICAST,
                    version: 2,
                    _pad: [0; 2],
                },
                _ => return None,
            };
            Some(c.into())
        }

        fn peer(&self, ifindex: u32, vrid: u8, src: [u8; 4]) -> Option<PeerConfig> {
            let ok = ifindex == IF && (vrid == 51 || vrid == 52) && src == PEER;
            ok.then_some(PeerConfig {
                ttl_min: 250,
                ttl_max: 255,
                _pad: [0; 2],
            })
        }
    }

    fn ip(p: &[u8]) -> Verdict<AdvertRecord> {
        classify_ipv4(p, 0, Source::Wire, IF, &Fixed)
    }

    #[test]
    fn valid_v3_unicast() {
        let Verdict::Accept(r) = ip(&V3_UNICAST) else {
            panic!("{:?}", ip(&V3_UNICAST));
        };
        assert_eq!(
            (r.src, r.dst, r.ifindex, r.ttl),
            (PEER, [10, 1, 1, 10], IF, 254)
        );
        assert_eq!(
            (r.vrid, r.priority, r.version, r.adver_int_cs),
            (51, 100, 3, 100)
        );
        assert_eq!((r.count, r.auth_type, r.flags, r.rx_ns), (1, 0, 0, 0));
        assert_eq!(r.addrs(), &[[10, 1, 255, 1]]);
    }

    #[test]
    fn valid_v2_multicast() {
        let Verdict::Accept(r) = ip(&V2_MULTICAST) else {
            panic!("{:?}", ip(&V2_MULTICAST));
        };
        assert_eq!(
            (r.vrid, r.priority, r.version, r.adver_int_cs),
            (52, 200, 2, 100)
        );
        assert_eq!(r.flags, REC_F_MULTICAST);
        assert_eq!(r.addrs(), &[[10, 1, 255, 1], [10, 1, 255, 2]]);
    }

    /// The XDP path used to accept this: nothing checked the IPv4 header checksum.
    #[test]
    fn bad_ip_header_checksum() {
        let mut p = V3_UNICAST;
        p[11] ^= 1;
        assert_eq!(ip(&p), Verdict::Drop(Counter::BadIpChecksum));
        // TTL moved into the peer's window by an attacker, checksum left alone.
        let mut p = V3_UNICAST;
        p[8] = 255;
        assert_eq!(ip(&p), Verdict::Drop(Counter::BadIpChecksum));
        // What the stack hands a raw socket it has checked already (and may have
        // changed since, in Record Route or Timestamp options).
        let from_stack = classify_ipv4(&p[..], 0, Source::Stack, IF, &Fixed);
        assert!(matches!(from_stack, Verdict::Accept(r) if r.ttl == 255));
    }

    /// Both paths used to accept this (RFC 9568 §5.2.5: at least one address).
    #[test]
    fn count_zero() {
        assert_eq!(ip(&V3_NO_ADDRESSES), Verdict::Drop(Counter::NoAddresses));
    }

    #[test]
    fn frame_demux() {
        let mut frame = std::vec![0u8; ETH_HLEN];
        frame[12..14].copy_from_slice(&[0x81, 0x00]);
        frame.extend_from_slice(&[0x00, 0x2a, 0x08, 0x00]);
        frame.extend_from_slice(&V3_UNICAST);
        assert_eq!(frame_l3(&frame[..]), L3::Ipv4(ETH_HLEN + VLAN_HLEN));
        assert!(matches!(
            classify_ipv4(&frame[..], ETH_HLEN + VLAN_HLEN, Source::Wire, IF, &Fixed),
            Verdict::Accept(_)
        ));
        frame[16..18].copy_from_slice(&[0x86, 0xdd]); // inner ethertype IPv6
        assert_eq!(frame_l3(&frame[..]), L3::Ipv6(ETH_HLEN + VLAN_HLEN));
        frame[12..14].copy_from_slice(&[0x86, 0xdd]); // untagged IPv6
        assert_eq!(frame_l3(&frame[..]), L3::Ipv6(ETH_HLEN));
        frame[12..14].copy_from_slice(&[0x08, 0x06]); // ARP
        assert_eq!(frame_l3(&frame[..]), L3::Other);
        assert_eq!(frame_l3(&frame[..13]), L3::Other);
    }

    #[test]
    fn unknown_vrid_and_not_vrrp_pass() {
        let elsewhere = classify_ipv4(&V3_UNICAST[..], 0, Source::Wire, IF + 1, &Fixed);
        assert_eq!(elsewhere, Verdict::PassUnknownVrid);
        let mut p = V3_UNICAST;
        p[9] = 17;
        assert_eq!(ip(&p), Verdict::Pass);
        assert_eq!(ip(&V3_UNICAST[..19]), Verdict::Pass);
    }

    #[test]
    fn every_truncation_is_refused() {
        for n in 20..V3_UNICAST.len() {
            assert_eq!(
                ip(&V3_UNICAST[..n]),
                Verdict::Drop(Counter::Truncated),
                "{n}"
            );
        }
    }

    const LL_SRC: [u8; 16] = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

    /// VRID 51 over IPv6: multicast from any source (hop limit 255).
    struct Six;

    impl Tables<Ipv6> for Six {
        fn vrid(&self, ifindex: u32, vrid: u8) -> Option<Vrid<[u8; 16]>> {
            (ifindex == IF && vrid == 51).then_some(Vrid {
                unicast_dst: None,
                flags: VRID_F_MULTICAST | VRID_F_ANY_SOURCE,
                version: 3,
            })
        }
        fn peer(&self, _: u32, _: u8, _: [u8; 16]) -> Option<PeerConfig> {
            None
        }
    }

    /// An IPv6 packet fe80::1 -> ff02::12 carrying `ext` (extension headers, the
    /// first one's type in `first`) and then `msg`.
    fn ipv6(first: u8, ext: &[u8], msg: &[u8], hop_limit: u8) -> std::vec::Vec<u8> {
        let mut p = std::vec![0x60, 0, 0, 0];
        p.extend_from_slice(&((ext.len() + msg.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[first, hop_limit]);
        p.extend_from_slice(&LL_SRC);
        p.extend_from_slice(&VRRP_MCAST_V6);
        p.extend_from_slice(ext);
        p.extend_from_slice(msg);
        p
    }

    fn ip6(p: &[u8]) -> Verdict<AdvertRecord6> {
        let mut scratch = Scratch6::zeroed();
        classify_ipv6(p, 0, IF, &Six, &mut scratch).map(|r| *r)
    }

    #[test]
    fn valid_v3_over_ipv6() {
        let p = ipv6(IPPROTO_VRRP, &[], &V3_OVER_IPV6, 255);
        let Verdict::Accept(r) = ip6(&p) else {
            panic!("{:?}", ip6(&p));
        };
        assert_eq!(
            (r.src, r.dst, r.ifindex, r.ttl),
            (LL_SRC, VRRP_MCAST_V6, IF, 255)
        );
        assert_eq!(
            (r.vrid, r.priority, r.version, r.adver_int_cs, r.count),
            (51, 100, 3, 100, 1)
        );
        assert_eq!(r.flags, REC_F_MULTICAST);
        let vip = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(r.addrs(), &[vip]);
        // The socket path's entry point, fed what a raw socket reads, agrees.
        let mut scratch = Scratch6::zeroed();
        let sock = classify_ipv6_payload(
            &V3_OVER_IPV6,
            LL_SRC,
            VRRP_MCAST_V6,
            255,
            IF,
            &Six,
            &mut scratch,
        )
        .map(|r| *r);
        assert_eq!(sock, Verdict::Accept(r));
    }

    #[test]
    fn ipv6_receive_rules() {
        let ok = |p: &[u8]| matches!(ip6(p), Verdict::Accept(_));
        // Multicast demands hop limit 255 (RFC 9568 §7.1).
        let p = ipv6(IPPROTO_VRRP, &[], &V3_OVER_IPV6, 254);
        assert_eq!(ip6(&p), Verdict::Drop(Counter::BadTtl));
        // VRRPv2 does not exist over IPv6.
        let mut v2 = V3_OVER_IPV6;
        v2[0] = 0x21;
        assert_eq!(
            ip6(&ipv6(IPPROTO_VRRP, &[], &v2, 255)),
            Verdict::Drop(Counter::BadVersion)
        );
        // The pseudo-header is part of the checksum: another source breaks it.
        let mut p = ipv6(IPPROTO_VRRP, &[], &V3_OVER_IPV6, 255);
        p[23] = 2;
        assert_eq!(ip6(&p), Verdict::Drop(Counter::BadChecksum));
        // A VRID that runs only over IPv4 here is not misread: counted, passed on.
        let mut p = ipv6(IPPROTO_VRRP, &[], &V3_OVER_IPV6, 255);
        p[IPV6_HLEN + 1] = 52;
        assert_eq!(ip6(&p), Verdict::PassUnknownVrid);
        // Hop-by-hop and destination options are walked past.
        let hbh = [NH_DEST_OPTS, 0, 1, 4, 0, 0, 0, 0];
        let dst_opts = [IPPROTO_VRRP, 0, 1, 4, 0, 0, 0, 0];
        let both: std::vec::Vec<u8> = hbh.iter().chain(&dst_opts).copied().collect();
        assert!(ok(&ipv6(NH_HOP_BY_HOP, &both, &V3_OVER_IPV6, 255)));
        // A fragment header in front of VRRP is a fragment; in front of UDP not ours.
        let frag = [IPPROTO_VRRP, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(
            ip6(&ipv6(NH_FRAGMENT, &frag, &V3_OVER_IPV6, 255)),
            Verdict::Drop(Counter::Fragment)
        );
        let frag_udp = [17, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(
            ip6(&ipv6(NH_FRAGMENT, &frag_udp, &[0; 8], 255)),
            Verdict::Pass
        );
        // Other protocols, and too many extension headers, pass untouched.
        assert_eq!(ip6(&ipv6(17, &[], &V3_OVER_IPV6, 255)), Verdict::Pass);
        let chain: std::vec::Vec<u8> = (0..IPV6_MAX_EXT_HEADERS)
            .flat_map(|_| [NH_DEST_OPTS, 0, 1, 4, 0, 0, 0, 0])
            .chain(dst_opts)
            .collect();
        assert_eq!(
            ip6(&ipv6(NH_DEST_OPTS, &chain, &V3_OVER_IPV6, 255)),
            Verdict::Pass
        );
        // Version nibble, lengths.
        let mut p = ipv6(IPPROTO_VRRP, &[], &V3_OVER_IPV6, 255);
        p[0] = 0x40;
        assert_eq!(ip6(&p), Verdict::Drop(Counter::BadLength));
        let p = ipv6(IPPROTO_VRRP, &[], &V3_OVER_IPV6, 255);
        for n in IPV6_HLEN..p.len() {
            assert_eq!(ip6(&p[..n]), Verdict::Drop(Counter::Truncated), "{n}");
        }
        assert_eq!(ip6(&p[..IPV6_HLEN - 1]), Verdict::Pass);
        let mut p = ipv6(NH_DEST_OPTS, &dst_opts, &V3_OVER_IPV6, 255);
        p[4..6].copy_from_slice(&4u16.to_be_bytes()); // options longer than the payload
        assert_eq!(ip6(&p), Verdict::Drop(Counter::BadLength));
    }

    /// A longer advert leaves its addresses in the scratch buffer; a shorter one
    /// after it must not carry them into its record.
    #[test]
    fn ipv6_scratch_leaks_nothing() {
        let mut scratch = Scratch6::zeroed();
        scratch.msg.fill(0xaa);
        scratch.rec.addrs = [[0xbb; 16]; MAX_ADDRS];
        let p = ipv6(IPPROTO_VRRP, &[], &V3_OVER_IPV6, 255);
        let Verdict::Accept(r) = classify_ipv6(&p[..], 0, IF, &Six, &mut scratch) else {
            panic!("not accepted");
        };
        assert!(r.addrs[1..].iter().all(|a| *a == [0; 16]));
    }

    /// RFC 1071 §1's receive check (all ones, checksum included) passes either zero;
    /// the codec compared the field literally until the fuzzer found the difference.
    #[test]
    fn checksum_negative_zero() {
        assert!(matches!(ip(&V2_NEGATIVE_ZERO), Verdict::Accept(r) if r.vrid == 52));
        let mut p = V2_NEGATIVE_ZERO;
        p[26..28].copy_from_slice(&[0, 0]);
        assert!(matches!(ip(&p), Verdict::Accept(_)));
        p[26..28].copy_from_slice(&[0, 1]);
        assert_eq!(ip(&p), Verdict::Drop(Counter::BadChecksum));
    }

    /// RFC 1071 §3's example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 folded.
    #[test]
    fn rfc1071_sum() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert!(folds_to_ones(sum_words(&data) + (!0xddf2u16) as u32));
        assert!(!folds_to_ones(sum_words(&data)));
        assert_eq!(
            sum_words(&[0x12, 0x34, 0x56]),
            sum_words(&[0x12, 0x34, 0x56, 0])
        );
    }
}

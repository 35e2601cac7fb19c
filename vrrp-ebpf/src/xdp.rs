//! XDP fast path for VRRP adverts.
//!
//! Every frame is classified with as little work as possible: anything that is not
//! IPv4 protocol 112 leaves with `XDP_PASS` after reading two header fields. A VRRP
//! packet is validated in a fixed order (identical to the socket datapath in
//! `vrrp-user/src/datapath/validate.rs`, so both produce the same verdicts):
//!
//! 1. IPv4 header sane (version, IHL)                   -> BadLength
//! 2. not a fragment                                    -> Fragment
//! 3. IP total length fits the frame, VRRP header there -> Truncated / BadLength
//! 4. VRRP version 2 or 3, type 1                       -> BadVersion / BadType
//! 5. VRID configured on this interface                 -> UnknownVrid (XDP_PASS)
//! 6. version matches the VRID's                        -> BadVersion
//! 7. length agrees with the address count              -> BadLength
//! 8. checksum                                          -> BadChecksum
//! 9. advert interval non-zero                          -> BadInterval
//! 10. source is a configured peer                      -> NotPeer
//! 11. TTL within the peer's window (255 for multicast) -> BadTtl
//! 12. destination is the group or our unicast address  -> BadDestination
//!
//! A valid advert becomes an `AdvertRecord` in the ring buffer and is dropped: the
//! daemon is the only consumer on this host.

use aya_ebpf::{
    bindings::xdp_action,
    helpers::{bpf_ktime_get_ns, generated::bpf_xdp_load_bytes},
    macros::{map, xdp},
    maps::{HashMap, PerCpuArray, RingBuf},
    programs::XdpContext,
};
use vrrp_common::{
    AdvertRecord, Counter, IPPROTO_VRRP, MAX_ADDRS, MAX_PEERS, MAX_VRIDS, PeerConfig, PeerKey,
    REC_F_MULTICAST, REC_F_V2_CSUM, RING_BYTES, VRID_F_ANY_SOURCE, VRID_F_MULTICAST,
    VRID_F_V2_CSUM_OK, VRRP_HDR_LEN, VRRP_MAX_LEN, VRRP_MCAST_V4, VRRP_V2_AUTH_LEN, VridConfig,
    VridKey,
    follow::{Seen, digest_byte, digest_start},
};

#[map(name = "VRIDS")]
static VRIDS: HashMap<VridKey, VridConfig> = HashMap::with_max_entries(MAX_VRIDS, 0);

#[map(name = "PEERS")]
static PEERS: HashMap<PeerKey, PeerConfig> = HashMap::with_max_entries(MAX_PEERS, 0);

#[map(name = "COUNTERS")]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(Counter::COUNT, 0);

#[map(name = "RECORDS")]
pub(crate) static RECORDS: RingBuf = RingBuf::with_byte_size(RING_BYTES, 0);

const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const VLAN_HLEN: usize = 4;
const IPV4_MIN_HLEN: usize = 20;

/// What happens to the frame.
enum Verdict {
    /// Not ours: the stack gets it, nothing is counted.
    Pass,
    /// Counted; passed on if the counter is `UnknownVrid`, dropped otherwise.
    Count(Counter),
}

#[xdp]
pub fn vrrp_xdp(ctx: XdpContext) -> u32 {
    match classify(&ctx) {
        Verdict::Pass => xdp_action::XDP_PASS,
        Verdict::Count(counter) => {
            bump(counter);
            if matches!(counter, Counter::UnknownVrid) {
                xdp_action::XDP_PASS
            } else {
                xdp_action::XDP_DROP
            }
        }
    }
}

#[inline(always)]
fn bump(counter: Counter) {
    if let Some(slot) = COUNTERS.get_ptr_mut(counter as u32) {
        // SAFETY: per-CPU slot, XDP runs with preemption disabled on this CPU.
        unsafe { *slot += 1 };
    }
}

/// Bounds-checked pointer to `len` bytes at `off` in the frame.
#[inline(always)]
fn ptr_at(ctx: &XdpContext, off: usize, len: usize) -> Option<*const u8> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + off + len > end {
        return None;
    }
    Some((start + off) as *const u8)
}

#[inline(always)]
fn be16(p: *const u8) -> u16 {
    // SAFETY: callers obtained `p` from `ptr_at` with len >= 2.
    unsafe { u16::from_be_bytes([*p, *p.add(1)]) }
}

#[inline(always)]
fn classify(ctx: &XdpContext) -> Verdict {
    // Ethernet, optionally one 802.1Q/802.1ad tag.
    let Some(eth) = ptr_at(ctx, 0, ETH_HLEN) else {
        return Verdict::Pass;
    };
    let mut l3 = ETH_HLEN;
    let mut ethertype = be16(unsafe { eth.add(12) });
    if ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
        let Some(tag) = ptr_at(ctx, ETH_HLEN, VLAN_HLEN) else {
            return Verdict::Pass;
        };
        ethertype = be16(unsafe { tag.add(2) });
        l3 += VLAN_HLEN;
    }
    if ethertype != ETH_P_IP {
        return Verdict::Pass;
    }
    let Some(ip) = ptr_at(ctx, l3, IPV4_MIN_HLEN) else {
        return Verdict::Pass;
    };
    // SAFETY: `ip` covers IPV4_MIN_HLEN bytes.
    let (ver_ihl, tot_len, frag, ttl, proto, src, dst) = unsafe {
        (
            *ip,
            be16(ip.add(2)) as usize,
            be16(ip.add(6)),
            *ip.add(8),
            *ip.add(9),
            [*ip.add(12), *ip.add(13), *ip.add(14), *ip.add(15)],
            [*ip.add(16), *ip.add(17), *ip.add(18), *ip.add(19)],
        )
    };
    if proto != IPPROTO_VRRP {
        return Verdict::Pass;
    }
    classify_vrrp(ctx, l3, ver_ihl, tot_len, frag, ttl, src, dst)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn classify_vrrp(
    ctx: &XdpContext,
    l3: usize,
    ver_ihl: u8,
    tot_len: usize,
    frag: u16,
    ttl: u8,
    src: [u8; 4],
    dst: [u8; 4],
) -> Verdict {
    // 1-3: the IP envelope.
    let ihl = (ver_ihl & 0x0f) as usize * 4;
    if ver_ihl >> 4 != 4 || ihl < IPV4_MIN_HLEN {
        return Verdict::Count(Counter::BadLength);
    }
    if frag & 0x3fff != 0 {
        return Verdict::Count(Counter::Fragment);
    }
    let avail = ctx.data_end() - ctx.data() - l3;
    if tot_len > avail {
        return Verdict::Count(Counter::Truncated);
    }
    if tot_len < ihl {
        return Verdict::Count(Counter::BadLength);
    }
    let vrrp_len = tot_len - ihl;
    if vrrp_len < VRRP_HDR_LEN {
        return Verdict::Count(Counter::Truncated);
    }
    let off = l3 + ihl;

    // 4: the fixed header, copied out so the variable IHL does not bother the verifier.
    let mut msg = [0u8; VRRP_MAX_LEN];
    // SAFETY: the helper bounds-checks against the frame; 8 <= msg.len().
    if unsafe {
        bpf_xdp_load_bytes(
            ctx.ctx,
            off as u32,
            msg.as_mut_ptr().cast(),
            VRRP_HDR_LEN as u32,
        )
    } != 0
    {
        return Verdict::Count(Counter::Truncated);
    }
    let version = msg[0] >> 4;
    if version != 2 && version != 3 {
        return Verdict::Count(Counter::BadVersion);
    }
    if msg[0] & 0x0f != 1 {
        return Verdict::Count(Counter::BadType);
    }
    let vrid = msg[1];

    // 5-6: is this VRID ours on this interface?
    let ifindex = ctx.ingress_ifindex() as u32;
    // SAFETY: the value is only read, and copied out at once.
    let Some(cfg) = (unsafe { VRIDS.get(VridKey::new(ifindex, vrid)) }).copied() else {
        return Verdict::Count(Counter::UnknownVrid);
    };
    if cfg.version != 0 && cfg.version != version {
        return Verdict::Count(Counter::BadVersion);
    }

    // 7: lengths.
    let count = msg[3] as usize;
    if count > MAX_ADDRS {
        return Verdict::Count(Counter::BadLength);
    }
    let trailer = if version == 2 { VRRP_V2_AUTH_LEN } else { 0 };
    let expected = VRRP_HDR_LEN + 4 * count + trailer;
    if vrrp_len != expected {
        return Verdict::Count(Counter::BadLength);
    }

    // 8: checksum over the whole message (bounded copy: expected <= VRRP_MAX_LEN).
    let len = expected as u32;
    if len > VRRP_MAX_LEN as u32 {
        return Verdict::Count(Counter::BadLength);
    }
    // SAFETY: len <= msg.len(); the helper bounds-checks against the frame.
    if unsafe { bpf_xdp_load_bytes(ctx.ctx, off as u32, msg.as_mut_ptr().cast(), len) } != 0 {
        return Verdict::Count(Counter::Truncated);
    }
    let body = sum_words(&msg, expected);
    let mut flags = 0u32;
    if version == 3 {
        let pseudo = u32::from(u16::from_be_bytes([src[0], src[1]]))
            + u32::from(u16::from_be_bytes([src[2], src[3]]))
            + u32::from(u16::from_be_bytes([dst[0], dst[1]]))
            + u32::from(u16::from_be_bytes([dst[2], dst[3]]))
            + u32::from(IPPROTO_VRRP)
            + expected as u32;
        if fold(body + pseudo) != 0xffff {
            if cfg.flags & VRID_F_V2_CSUM_OK != 0 && fold(body) == 0xffff {
                flags |= REC_F_V2_CSUM;
            } else {
                return Verdict::Count(Counter::BadChecksum);
            }
        }
    } else if fold(body) != 0xffff {
        return Verdict::Count(Counter::BadChecksum);
    }

    // 9: interval (v3: 12 bits of centiseconds; v2: 8 bits of seconds).
    let adver_int_cs: u16 = if version == 3 {
        (u16::from(msg[4] & 0x0f) << 8) | u16::from(msg[5])
    } else {
        u16::from(msg[5]) * 100
    };
    if adver_int_cs == 0 {
        return Verdict::Count(Counter::BadInterval);
    }

    // 10-12: who sent it, how far it travelled, to whom.
    let multicast = dst == VRRP_MCAST_V4;
    if cfg.flags & VRID_F_ANY_SOURCE != 0 {
        if ttl != 255 {
            return Verdict::Count(Counter::BadTtl);
        }
    } else {
        // SAFETY: the value is only read, and copied out at once.
        let Some(peer) = (unsafe { PEERS.get(PeerKey::new(ifindex, vrid, src)) }).copied() else {
            return Verdict::Count(Counter::NotPeer);
        };
        let ttl_ok = if multicast {
            ttl == 255
        } else {
            ttl >= peer.ttl_min && ttl <= peer.ttl_max
        };
        if !ttl_ok {
            return Verdict::Count(Counter::BadTtl);
        }
    }
    let dst_ok = if multicast {
        cfg.flags & VRID_F_MULTICAST != 0
    } else {
        cfg.unicast_dst != [0; 4] && dst == cfg.unicast_dst
    };
    if !dst_ok {
        return Verdict::Count(Counter::BadDestination);
    }
    if multicast {
        flags |= REC_F_MULTICAST;
    }

    // The follow filter: the steady state stays in the kernel.
    // SAFETY: plain helper call.
    let rx_ns = unsafe { bpf_ktime_get_ns() };
    let mut digest = digest_start(count as u8);
    let mut i = 0;
    while i < 4 * MAX_ADDRS {
        if i < 4 * count {
            digest = digest_byte(digest, msg[VRRP_HDR_LEN + i]);
        }
        i += 1;
    }
    let seen = Seen {
        src,
        adver_int_cs,
        priority: msg[2],
        version,
        digest,
    };
    let Some((seq, followed_rx_ns)) =
        crate::follow::filter(&VridKey::new(ifindex, vrid), &seen, rx_ns)
    else {
        return Verdict::Count(Counter::Accepted);
    };

    // Hand it over.
    let Some(mut entry) = RECORDS.reserve::<AdvertRecord>(0) else {
        return Verdict::Count(Counter::RingFull);
    };
    let mut addrs = [[0u8; 4]; MAX_ADDRS];
    let mut i = 0;
    while i < MAX_ADDRS {
        if i < count {
            let b = VRRP_HDR_LEN + 4 * i;
            addrs[i] = [msg[b], msg[b + 1], msg[b + 2], msg[b + 3]];
        }
        i += 1;
    }
    entry.write(AdvertRecord {
        rx_ns,
        src,
        dst,
        ifindex,
        vrid,
        priority: msg[2],
        version,
        ttl,
        adver_int_cs,
        count: count as u8,
        auth_type: if version == 2 { msg[4] } else { 0 },
        flags,
        addrs,
        seq,
        followed_rx_ns,
    });
    entry.submit(0);
    Verdict::Count(Counter::Accepted)
}

/// One's-complement sum of the first `len` bytes as big-endian 16-bit words
/// (`len` is always even here: VRRP lengths are multiples of 4).
#[inline(always)]
fn sum_words(msg: &[u8; VRRP_MAX_LEN], len: usize) -> u32 {
    let mut sum = 0u32;
    let mut i = 0;
    while i < VRRP_MAX_LEN / 2 {
        if 2 * i >= len {
            break;
        }
        sum += u32::from(u16::from_be_bytes([msg[2 * i], msg[2 * i + 1]]));
        i += 1;
    }
    sum
}

#[inline(always)]
fn fold(mut sum: u32) -> u32 {
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // SAFETY: the verifier rejects any program with a reachable panic path; bounds are
    // established explicitly above so none remains.
    unsafe { core::hint::unreachable_unchecked() }
}

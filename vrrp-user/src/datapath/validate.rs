//! The userspace twin of the XDP program's checks (vrrp-ebpf/src/xdp.rs).
//!
//! Same rules, same order, same counters: the socket datapath uses it on what a raw
//! socket hands up, and the test suite runs it beside the loaded XDP program on the
//! same frames to prove the two agree. Change one, change the other.

use vrrp_common::{
    AdvertRecord, Counter, IPPROTO_VRRP, MAX_ADDRS, PeerKey, REC_F_MULTICAST, REC_F_V2_CSUM,
    VRID_F_ANY_SOURCE, VRID_F_MULTICAST, VRID_F_V2_CSUM_OK, VRRP_HDR_LEN, VRRP_MCAST_V4,
    VRRP_V2_AUTH_LEN, VridKey,
};

use super::table::Table;

const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const IPV4_MIN_HLEN: usize = 20;

/// What the datapath does with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not VRRP over IPv4: untouched, uncounted.
    Pass,
    /// VRRP for a VRID that is not ours here: passed on, counted as `UnknownVrid`.
    PassUnknownVrid,
    /// Rejected and counted.
    Drop(Counter),
    /// Valid: handed to the controller.
    Accept(AdvertRecord),
}

impl Verdict {
    /// The counter this verdict increments, if any.
    pub fn counter(&self) -> Option<Counter> {
        match self {
            Verdict::Pass => None,
            Verdict::PassUnknownVrid => Some(Counter::UnknownVrid),
            Verdict::Drop(c) => Some(*c),
            Verdict::Accept(_) => Some(Counter::Accepted),
        }
    }
}

/// Classifies an Ethernet frame exactly as the XDP program does.
pub fn validate_frame(frame: &[u8], ifindex: u32, rx_ns: u64, table: &Table) -> Verdict {
    if frame.len() < ETH_HLEN {
        return Verdict::Pass;
    }
    let mut l3 = ETH_HLEN;
    let mut ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    if ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
        if frame.len() < ETH_HLEN + 4 {
            return Verdict::Pass;
        }
        ethertype = u16::from_be_bytes([frame[16], frame[17]]);
        l3 += 4;
    }
    if ethertype != ETH_P_IP {
        return Verdict::Pass;
    }
    validate_ip(&frame[l3..], ifindex, rx_ns, table)
}

/// Classifies an IPv4 packet (header included, as a raw socket delivers it).
pub fn validate_ip(ip: &[u8], ifindex: u32, rx_ns: u64, table: &Table) -> Verdict {
    match check(ip, ifindex, rx_ns, table) {
        Ok(rec) => Verdict::Accept(rec),
        Err(Some(Counter::UnknownVrid)) => Verdict::PassUnknownVrid,
        Err(Some(c)) => Verdict::Drop(c),
        Err(None) => Verdict::Pass,
    }
}

/// `Err(None)`: not VRRP; `Err(Some(c))`: rejected for reason `c`.
fn check(
    ip: &[u8],
    ifindex: u32,
    rx_ns: u64,
    table: &Table,
) -> Result<AdvertRecord, Option<Counter>> {
    if ip.len() < IPV4_MIN_HLEN || ip[9] != IPPROTO_VRRP {
        return Err(None);
    }
    let reject = |c: Counter| Err(Some(c));
    let ver_ihl = ip[0];
    let tot_len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let frag = u16::from_be_bytes([ip[6], ip[7]]);
    let ttl = ip[8];
    let src: [u8; 4] = [ip[12], ip[13], ip[14], ip[15]];
    let dst: [u8; 4] = [ip[16], ip[17], ip[18], ip[19]];

    // 1-3: the IP envelope.
    let ihl = usize::from(ver_ihl & 0x0f) * 4;
    if ver_ihl >> 4 != 4 || ihl < IPV4_MIN_HLEN {
        return reject(Counter::BadLength);
    }
    if frag & 0x3fff != 0 {
        return reject(Counter::Fragment);
    }
    if tot_len > ip.len() {
        return reject(Counter::Truncated);
    }
    if tot_len < ihl {
        return reject(Counter::BadLength);
    }
    let msg = &ip[ihl..tot_len];
    if msg.len() < VRRP_HDR_LEN {
        return reject(Counter::Truncated);
    }

    // 4-6: header and VRID.
    let version = msg[0] >> 4;
    if version != 2 && version != 3 {
        return reject(Counter::BadVersion);
    }
    if msg[0] & 0x0f != 1 {
        return reject(Counter::BadType);
    }
    let vrid = msg[1];
    let Some(cfg) = table.vrids.get(&VridKey::new(ifindex, vrid)).copied() else {
        return reject(Counter::UnknownVrid);
    };
    if cfg.version != 0 && cfg.version != version {
        return reject(Counter::BadVersion);
    }

    // 7: lengths.
    let count = usize::from(msg[3]);
    if count > MAX_ADDRS {
        return reject(Counter::BadLength);
    }
    let trailer = if version == 2 { VRRP_V2_AUTH_LEN } else { 0 };
    if msg.len() != VRRP_HDR_LEN + 4 * count + trailer {
        return reject(Counter::BadLength);
    }

    // 8: checksum.
    let body = sum_words(msg);
    let mut flags = 0u32;
    if version == 3 {
        let pseudo = sum_words(&src) + sum_words(&dst) + u32::from(IPPROTO_VRRP) + msg.len() as u32;
        if fold(body + pseudo) != 0xffff {
            if cfg.flags & VRID_F_V2_CSUM_OK != 0 && fold(body) == 0xffff {
                flags |= REC_F_V2_CSUM;
            } else {
                return reject(Counter::BadChecksum);
            }
        }
    } else if fold(body) != 0xffff {
        return reject(Counter::BadChecksum);
    }

    // 9: interval.
    let adver_int_cs = if version == 3 {
        (u16::from(msg[4] & 0x0f) << 8) | u16::from(msg[5])
    } else {
        u16::from(msg[5]) * 100
    };
    if adver_int_cs == 0 {
        return reject(Counter::BadInterval);
    }

    // 10-12: peer, TTL, destination.
    let multicast = dst == VRRP_MCAST_V4;
    if cfg.flags & VRID_F_ANY_SOURCE != 0 {
        if ttl != 255 {
            return reject(Counter::BadTtl);
        }
    } else {
        let Some(peer) = table.peers.get(&PeerKey::new(ifindex, vrid, src)) else {
            return reject(Counter::NotPeer);
        };
        let ttl_ok = if multicast {
            ttl == 255
        } else {
            (peer.ttl_min..=peer.ttl_max).contains(&ttl)
        };
        if !ttl_ok {
            return reject(Counter::BadTtl);
        }
    }
    let dst_ok = if multicast {
        cfg.flags & VRID_F_MULTICAST != 0
    } else {
        cfg.unicast_dst != [0; 4] && dst == cfg.unicast_dst
    };
    if !dst_ok {
        return reject(Counter::BadDestination);
    }
    if multicast {
        flags |= REC_F_MULTICAST;
    }

    let mut addrs = [[0u8; 4]; MAX_ADDRS];
    for (i, a) in addrs.iter_mut().enumerate().take(count) {
        let b = VRRP_HDR_LEN + 4 * i;
        *a = [msg[b], msg[b + 1], msg[b + 2], msg[b + 3]];
    }
    Ok(AdvertRecord {
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
        seq: 0,
        followed_rx_ns: 0,
    })
}

fn sum_words(bytes: &[u8]) -> u32 {
    bytes
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum()
}

fn fold(mut sum: u32) -> u32 {
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum
}

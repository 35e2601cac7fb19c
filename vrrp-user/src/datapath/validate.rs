//! The socket path's entry to the one validator, `vrrp_common::validate`, which the
//! XDP program runs too: same code, so the same verdicts, counters and records. The
//! verdict tests run every crafted frame through both paths and compare.
//!
//! All that is here: the `Table` as the validator's lookups, the receive time, and
//! which bytes the stack has already checked (`Source`).

use bytemuck::Zeroable;
use vrrp_common::{
    PeerConfig, PeerKey, PeerKey6, Record, VridKey,
    validate::{self, Ipv4, Ipv6, L3, Scratch6, Source, Tables, Vrid},
};

use super::table::Table;

/// What the datapath does with a frame or packet.
pub type Verdict = validate::Verdict<Record>;

impl Tables<Ipv4> for Table {
    fn vrid(&self, ifindex: u32, vrid: u8) -> Option<Vrid<[u8; 4]>> {
        self.vrids
            .get(&VridKey::new(ifindex, vrid))
            .map(|c| Vrid::from(*c))
    }

    fn peer(&self, ifindex: u32, vrid: u8, src: [u8; 4]) -> Option<PeerConfig> {
        self.peers.get(&PeerKey::new(ifindex, vrid, src)).copied()
    }
}

impl Tables<Ipv6> for Table {
    fn vrid(&self, ifindex: u32, vrid: u8) -> Option<Vrid<[u8; 16]>> {
        self.vrids6
            .get(&VridKey::new6(ifindex, vrid))
            .map(|c| Vrid::from(*c))
    }

    fn peer(&self, ifindex: u32, vrid: u8, src: [u8; 16]) -> Option<PeerConfig> {
        self.peers6
            .get(&PeerKey6::new6(ifindex, vrid, src))
            .copied()
    }
}

/// Classifies an Ethernet frame exactly as the XDP program does; an accepted record
/// gets `rx_ns`.
pub fn validate_frame(frame: &[u8], ifindex: u32, rx_ns: u64, table: &Table) -> Verdict {
    let verdict = match validate::frame_l3(frame) {
        L3::Ipv4(l3) => {
            validate::classify_ipv4(frame, l3, Source::Wire, ifindex, table).map(Record::V4)
        }
        L3::Ipv6(l3) => {
            let mut scratch = Scratch6::zeroed();
            validate::classify_ipv6(frame, l3, ifindex, table, &mut scratch).map(|r| Record::V6(*r))
        }
        L3::Other => Verdict::Pass,
    };
    stamp(verdict, rx_ns)
}

/// Classifies an IPv4 packet as a raw socket delivers it: header included, its
/// checksum checked by the stack already (see `Source::Stack`).
pub fn validate_ip(ip: &[u8], ifindex: u32, rx_ns: u64, table: &Table) -> Verdict {
    stamp(
        validate::classify_ipv4(ip, 0, Source::Stack, ifindex, table).map(Record::V4),
        rx_ns,
    )
}

/// What an IPv6 raw socket delivered: the VRRP message, and the header fields the
/// stack reported beside it (`IPV6_PKTINFO`, `IPV6_HOPLIMIT`, the source address).
#[derive(Clone, Copy, Debug)]
pub struct Ipv6Meta {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub hop_limit: u8,
    pub ifindex: u32,
}

/// Classifies an IPv6 VRRP message as a raw socket delivers it.
pub fn validate_ipv6(
    msg: &[u8],
    meta: &Ipv6Meta,
    rx_ns: u64,
    table: &Table,
    scratch: &mut Scratch6,
) -> Verdict {
    let verdict = validate::classify_ipv6_payload(
        msg,
        meta.src,
        meta.dst,
        meta.hop_limit,
        meta.ifindex,
        table,
        scratch,
    )
    .map(|r| Record::V6(*r));
    stamp(verdict, rx_ns)
}

fn stamp(verdict: Verdict, rx_ns: u64) -> Verdict {
    verdict.map(|mut rec| {
        rec.set_rx_ns(rx_ns);
        rec
    })
}

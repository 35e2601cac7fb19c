//! The socket path's entry to the one validator, `vrrp_common::validate`, which the
//! XDP program runs too: same code, so the same verdicts, counters and records. The
//! verdict tests run every crafted frame through both paths and compare.
//!
//! All that is here: the `Table` as the validator's lookups, the receive time, and
//! which bytes the stack has already checked (`Source`).

use vrrp_common::{
    AdvertRecord, PeerConfig, PeerKey, VridKey,
    validate::{self, Ipv4, Source, Tables, Vrid},
};

use super::table::Table;

/// What the datapath does with a frame or packet.
pub type Verdict = validate::Verdict<AdvertRecord>;

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

/// Classifies an Ethernet frame exactly as the XDP program does; an accepted record
/// gets `rx_ns`.
pub fn validate_frame(frame: &[u8], ifindex: u32, rx_ns: u64, table: &Table) -> Verdict {
    stamp(validate::classify_frame(frame, ifindex, table), rx_ns)
}

/// Classifies an IPv4 packet as a raw socket delivers it: header included, its
/// checksum checked by the stack already (see `Source::Stack`).
pub fn validate_ip(ip: &[u8], ifindex: u32, rx_ns: u64, table: &Table) -> Verdict {
    stamp(
        validate::classify_ipv4(ip, 0, Source::Stack, ifindex, table),
        rx_ns,
    )
}

fn stamp(verdict: Verdict, rx_ns: u64) -> Verdict {
    match verdict {
        Verdict::Accept(rec) => Verdict::Accept(AdvertRecord { rx_ns, ..rec }),
        other => other,
    }
}

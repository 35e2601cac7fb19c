//! Fuzz the one validator (`vrrp_common::validate`), the code the XDP program and the
//! socket path both run on every received frame. Checked on every input:
//!
//! - it never panics (and AddressSanitizer sees no memory error);
//! - the frame entry and the IPv4 entry on the same packet without its Ethernet
//!   header give the same verdict, and the socket path's view (`Source::Stack`, no
//!   header checksum) differs only where the wire view found a bad header checksum;
//! - an accepted advert is well formed (1..=20 addresses, non-zero interval, the
//!   VRID's version) and `vrrp_core::packet::decode` reads the same fields from it.
//!
//! Input layout: byte 0 says which checksums to repair before validating (bit 0: the
//! IPv4 header's; bit 1: the VRRP one with the pseudo-header; bit 2: the VRRP one
//! without), so mutations get past the checksum checks to the ones behind them; the
//! rest is an Ethernet frame. The configuration is fixed (see `Config`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vrrp_common::{
    Counter, MAX_ADDRS, PeerConfig, VRID_F_ANY_SOURCE, VRID_F_MULTICAST, VRID_F_V2_CSUM_OK,
    VridConfig,
    validate::{
        Ipv4, Ipv6, L3, Scratch6, Source, Tables, Verdict, Vrid, classify_ipv4, classify_ipv6,
        frame_l3,
    },
};
use vrrp_tests::oracle::record_matches_decode;

const IF: u32 = 1;
const PEER: [u8; 4] = [10, 1, 2, 10];
const LOCAL: [u8; 4] = [10, 1, 1, 10];

/// VRID 51: v3 unicast to LOCAL from PEER (TTL 250..=255); 52: v2 multicast from PEER;
/// 53: v3 unicast, either checksum form; 54: v3 multicast from anyone.
struct Config;

impl Tables<Ipv4> for Config {
    fn vrid(&self, ifindex: u32, vrid: u8) -> Option<Vrid<[u8; 4]>> {
        let (unicast_dst, flags, version) = match (ifindex, vrid) {
            (IF, 51) => (LOCAL, 0, 3),
            (IF, 52) => ([0; 4], VRID_F_MULTICAST, 2),
            (IF, 53) => (LOCAL, VRID_F_V2_CSUM_OK, 3),
            (IF, 54) => ([0; 4], VRID_F_MULTICAST | VRID_F_ANY_SOURCE, 0),
            _ => return None,
        };
        Some(Vrid::from(VridConfig {
            unicast_dst,
            flags,
            version,
            _pad: [0; 2],
        }))
    }

    fn peer(&self, ifindex: u32, vrid: u8, src: [u8; 4]) -> Option<PeerConfig> {
        let ttl_min = match vrid {
            51 => 250,
            52 | 53 => 1,
            _ => return None,
        };
        (ifindex == IF && src == PEER).then_some(PeerConfig {
            ttl_min,
            ttl_max: 255,
            _pad: [0; 2],
        })
    }
}

/// VRID 51 over IPv6: multicast from any source.
impl Tables<Ipv6> for Config {
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

/// Where the IPv4 header starts, if the frame is IPv4 (one VLAN tag allowed).
fn l3_of(frame: &[u8]) -> Option<usize> {
    match frame.get(12..14)? {
        [0x08, 0x00] => Some(14),
        [0x81, 0x00] | [0x88, 0xa8] => (frame.get(16..18)? == [0x08, 0x00]).then_some(18),
        _ => None,
    }
}

/// RFC 1071 checksum of `data` after the running sum `acc`.
fn internet_checksum(mut acc: u64, data: &[u8]) -> u16 {
    for (i, b) in data.iter().enumerate() {
        acc += u64::from(*b) << if i % 2 == 0 { 8 } else { 0 };
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Rewrites the checksums `flags` names, where the frame is long enough to have them.
fn repair(frame: &mut [u8], flags: u8) {
    let Some(l3) = l3_of(frame) else { return };
    let Some(&ver_ihl) = frame.get(l3) else {
        return;
    };
    let ihl = usize::from(ver_ihl & 0x0f) * 4;
    if ihl < 20 || frame.len() < l3 + ihl {
        return;
    }
    if flags & 1 != 0 {
        frame[l3 + 10..l3 + 12].fill(0);
        let c = internet_checksum(0, &frame[l3..l3 + ihl]);
        frame[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
    }
    let tot = usize::from(u16::from_be_bytes([frame[l3 + 2], frame[l3 + 3]]));
    let end = (l3 + tot).min(frame.len());
    let start = l3 + ihl;
    if flags & 6 == 0 || end < start + 8 {
        return;
    }
    let len = end - start;
    let mut pseudo = 0u64;
    if flags & 2 != 0 {
        for w in frame[l3 + 12..l3 + 20].chunks_exact(2) {
            pseudo += u64::from(u16::from_be_bytes([w[0], w[1]]));
        }
        pseudo += 112 + len as u64;
    }
    frame[start + 6..start + 8].fill(0);
    let c = internet_checksum(pseudo, &frame[start..end]);
    frame[start + 6..start + 8].copy_from_slice(&c.to_be_bytes());
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, frame)) = data.split_first() else {
        return;
    };
    let mut frame = frame.to_vec();
    repair(&mut frame, flags);

    let l3 = match frame_l3(&frame[..]) {
        L3::Ipv4(l3) => l3,
        L3::Ipv6(l3) => {
            // Never panics; an accepted advert is well formed.
            let mut scratch = bytemuck::Zeroable::zeroed();
            let scratch: &mut Scratch6 = &mut scratch;
            if let Verdict::Accept(rec) = classify_ipv6(&frame[..], l3, IF, &Config, scratch) {
                assert!((1..=MAX_ADDRS).contains(&usize::from(rec.count)));
                assert_ne!(rec.adver_int_cs, 0);
                assert_eq!(rec.version, 3);
            }
            return;
        }
        L3::Other => {
            assert_eq!(l3_of(&frame), None, "IPv4 not found by the demux");
            return;
        }
    };
    assert_eq!(Some(l3), l3_of(&frame), "the demux finds IPv4 elsewhere");
    let verdict = classify_ipv4(&frame[..], l3, Source::Wire, IF, &Config);
    let ip = &frame[l3..];
    let wire = classify_ipv4(ip, 0, Source::Wire, IF, &Config);
    assert_eq!(verdict, wire, "entry points disagree");
    if verdict != Verdict::Drop(Counter::BadIpChecksum) {
        let stack = classify_ipv4(ip, 0, Source::Stack, IF, &Config);
        assert_eq!(verdict, stack, "the socket path's view differs");
    }

    if let Verdict::Accept(rec) = verdict {
        assert!((1..=MAX_ADDRS).contains(&usize::from(rec.count)));
        assert_ne!(rec.adver_int_cs, 0);
        let want = <Config as Tables<Ipv4>>::vrid(&Config, IF, rec.vrid)
            .expect("accepted for a configured VRID");
        assert!(want.version == 0 || want.version == rec.version);
        assert_eq!((rec.ifindex, rec.rx_ns), (IF, 0));
        if let Err(e) = record_matches_decode(ip, &rec) {
            panic!("{e}");
        }
    }
});

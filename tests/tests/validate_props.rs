//! Properties of the one validator (`vrrp_common::validate`, through the socket path's
//! entry points; the XDP program runs the same code, compared frame by frame in
//! xdp_verdicts.rs). No root needed.
//!
//! - It never panics, whatever the bytes.
//! - It accepts a crafted frame exactly when the frame's recipe says it should: every
//!   field right for the VRID it names (an oracle written from `FrameSpec`, not from
//!   the bytes).
//! - What it accepts, `vrrp_core::packet::decode` accepts too, with the same fields.
//! - Any single byte of a valid advert's IPv4 header or VRRP message changed on the
//!   wire: refused, unless the change leaves every checksum right.

use proptest::prelude::*;
use vrrp_common::{
    AdvertRecord, MAX_ADDRS, PeerConfig, PeerKey, REC_F_MULTICAST, VRID_F_ANY_SOURCE,
    VRID_F_MULTICAST, VRID_F_V2_CSUM_OK, VRRP_MCAST_V4, VridConfig, VridKey,
    validate::{Source, Verdict, classify_ipv4},
};
use vrrp_tests::{
    frames::{Csum, FrameSpec, checksum},
    oracle::record_matches_decode,
};
use vrrp_user::datapath::{
    table::Table,
    validate::{validate_frame, validate_ip},
};

const IF: u32 = 7;
const PEER: [u8; 4] = [10, 1, 2, 10];
const LOCAL: [u8; 4] = [10, 1, 1, 10];
const RX_NS: u64 = 42;

/// One VRID's configuration and a valid advert for it.
struct Profile {
    vrid: u8,
    config: VridConfig,
    /// `None`: any source (then no peer entry).
    peer: Option<PeerConfig>,
    valid: fn() -> FrameSpec,
}

fn vrid_config(unicast_dst: [u8; 4], flags: u8, version: u8) -> VridConfig {
    VridConfig {
        unicast_dst,
        flags,
        version,
        _pad: [0; 2],
    }
}

fn window(ttl_min: u8) -> Option<PeerConfig> {
    Some(PeerConfig {
        ttl_min,
        ttl_max: 255,
        _pad: [0; 2],
    })
}

fn profiles() -> [Profile; 4] {
    [
        Profile {
            vrid: 51,
            config: vrid_config(LOCAL, 0, 3),
            peer: window(250),
            valid: || FrameSpec {
                vrid: 51,
                ..Default::default()
            },
        },
        Profile {
            vrid: 52,
            config: vrid_config([0; 4], VRID_F_MULTICAST, 2),
            peer: window(1),
            valid: || FrameSpec {
                vrid: 52,
                dst: VRRP_MCAST_V4,
                ttl: 255,
                ..FrameSpec::v2()
            },
        },
        Profile {
            vrid: 53,
            config: vrid_config(LOCAL, VRID_F_V2_CSUM_OK, 3),
            peer: window(1),
            valid: || FrameSpec {
                vrid: 53,
                ttl: 64,
                csum: Csum::V2Style,
                ..Default::default()
            },
        },
        Profile {
            vrid: 54,
            config: vrid_config([0; 4], VRID_F_MULTICAST | VRID_F_ANY_SOURCE, 0),
            peer: None,
            valid: || FrameSpec {
                vrid: 54,
                src: [192, 0, 2, 77],
                dst: VRRP_MCAST_V4,
                ttl: 255,
                ..Default::default()
            },
        },
    ]
}

fn table() -> Table {
    let mut t = Table::default();
    for p in profiles() {
        t.vrids.insert(VridKey::new(IF, p.vrid), p.config);
        if let Some(peer) = p.peer {
            t.peers.insert(PeerKey::new(IF, p.vrid, PEER), peer);
        }
    }
    t
}

/// Whether the validator should accept the frame `s` describes: the receive rules
/// stated over the recipe's fields.
fn should_accept(s: &FrameSpec) -> bool {
    let Some(p) = profiles().into_iter().find(|p| p.vrid == s.vrid) else {
        return false;
    };
    let cfg = p.config;
    let count = s.count.map_or(s.addrs.len(), usize::from);
    let interval_cs = if s.version == 2 {
        (s.interval & 0xff) * 100
    } else {
        s.interval & 0x0fff
    };
    let csum_ok = match s.csum {
        Csum::Good => true,
        Csum::V2Style => s.version == 2 || cfg.flags & VRID_F_V2_CSUM_OK != 0,
        Csum::Bad => false,
    };
    let multicast = s.dst == VRRP_MCAST_V4;
    let source_ok = match p.peer {
        None => s.ttl == 255,
        Some(w) => {
            s.src == PEER
                && if multicast {
                    s.ttl == 255
                } else {
                    (w.ttl_min..=w.ttl_max).contains(&s.ttl)
                }
        }
    };
    let dst_ok = if multicast {
        cfg.flags & VRID_F_MULTICAST != 0
    } else {
        s.dst == cfg.unicast_dst
    };
    let untouched = FrameSpec {
        truncate: None,
        tot_len: None,
        ..s.clone()
    };
    // Cutting the Ethernet padding only is harmless.
    let whole = s
        .truncate
        .is_none_or(|n| n + s.trailer >= untouched.frame().len())
        && s.tot_len
            .is_none_or(|t| usize::from(t) == untouched.ip().len());
    whole
        && s.proto == 112
        && !s.bad_ip_csum
        && s.frag & 0x3fff == 0
        && (s.version == 2 || s.version == 3)
        && (cfg.version == 0 || cfg.version == s.version)
        && s.kind == 1
        && count == s.addrs.len()
        && (1..=MAX_ADDRS).contains(&count)
        && csum_ok
        && interval_cs != 0
        && source_ok
        && dst_ok
}

/// These frames are all IPv4.
fn v4(r: vrrp_common::Record) -> AdvertRecord {
    r.into_v4().expect("an IPv4 record")
}

fn matches_decode(ip: &[u8], rec: &AdvertRecord) -> Result<(), TestCaseError> {
    record_matches_decode(ip, rec).map_err(TestCaseError::fail)
}

/// One way to spoil (or not) a valid recipe.
#[derive(Clone, Debug)]
enum Fault {
    Src([u8; 4]),
    Dst([u8; 4]),
    Ttl(u8),
    Version(u8),
    Kind(u8),
    Vrid(u8),
    Priority(u8),
    Count(u8),
    Addrs(usize),
    Interval(u16),
    AuthType(u8),
    Csum(Csum),
    BadIpChecksum,
    Frag(u16),
    Proto(u8),
    TotLen(u16),
    Truncate(usize),
    Options(usize),
    Vlan(u16),
    Trailer(usize),
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        prop_oneof![Just(PEER), Just(LOCAL), any::<[u8; 4]>()].prop_map(Fault::Src),
        prop_oneof![Just(LOCAL), Just(VRRP_MCAST_V4), any::<[u8; 4]>()].prop_map(Fault::Dst),
        prop_oneof![Just(255u8), Just(254), Just(249), any::<u8>()].prop_map(Fault::Ttl),
        (0u8..16).prop_map(Fault::Version),
        prop_oneof![Just(1u8), 0u8..16].prop_map(Fault::Kind),
        prop_oneof![50u8..56, any::<u8>()].prop_map(Fault::Vrid),
        any::<u8>().prop_map(Fault::Priority),
        prop_oneof![0u8..=MAX_ADDRS as u8 + 1, any::<u8>()].prop_map(Fault::Count),
        (0..=MAX_ADDRS + 2).prop_map(Fault::Addrs),
        prop_oneof![Just(0u16), 1u16..0x1000, any::<u16>()].prop_map(Fault::Interval),
        any::<u8>().prop_map(Fault::AuthType),
        prop_oneof![Just(Csum::Good), Just(Csum::V2Style), Just(Csum::Bad)].prop_map(Fault::Csum),
        Just(Fault::BadIpChecksum),
        prop_oneof![Just(0u16), Just(0x4000), Just(0x2000), any::<u16>()].prop_map(Fault::Frag),
        prop_oneof![Just(112u8), any::<u8>()].prop_map(Fault::Proto),
        any::<u16>().prop_map(Fault::TotLen),
        (0usize..140).prop_map(Fault::Truncate),
        (0usize..=40).prop_map(Fault::Options),
        any::<u16>().prop_map(Fault::Vlan),
        (0usize..40).prop_map(Fault::Trailer),
    ]
}

fn apply(mut s: FrameSpec, faults: &[Fault]) -> FrameSpec {
    for f in faults {
        match *f {
            Fault::Src(a) => s.src = a,
            Fault::Dst(a) => s.dst = a,
            Fault::Ttl(t) => s.ttl = t,
            Fault::Version(v) => s.version = v,
            Fault::Kind(k) => s.kind = k,
            Fault::Vrid(v) => s.vrid = v,
            Fault::Priority(p) => s.priority = p,
            Fault::Count(c) => s.count = Some(c),
            Fault::Addrs(n) => s.addrs = (0..n as u8).map(|i| [10, 1, 255, i]).collect(),
            Fault::Interval(i) => s.interval = i,
            Fault::AuthType(t) => s.auth_type = t,
            Fault::Csum(c) => s.csum = c,
            Fault::BadIpChecksum => s.bad_ip_csum = true,
            Fault::Frag(f) => s.frag = f,
            Fault::Proto(p) => s.proto = p,
            Fault::TotLen(t) => s.tot_len = Some(t),
            Fault::Truncate(n) => s.truncate = Some(n),
            // Options are NOPs (1); FrameSpec pads to a multiple of 4.
            Fault::Options(n) => s.ip_options = vec![1; n],
            Fault::Vlan(v) => s.vlan = Some(v),
            Fault::Trailer(n) => s.trailer = n,
        }
    }
    s
}

/// A valid recipe for one of the profiles, then up to three faults (some harmless).
fn recipe() -> impl Strategy<Value = FrameSpec> {
    (0..profiles().len(), prop::collection::vec(fault(), 0..=3))
        .prop_map(|(p, faults)| apply((profiles()[p].valid)(), &faults))
}

/// Whether `ip` carries a right IPv4 header checksum and a VRRP checksum some form
/// the VRID takes (what a single changed byte would have to preserve to pass).
fn checksums_hold(ip: &[u8], v2_style_ok: bool) -> bool {
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let tot = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if ihl < 20 || tot < ihl || tot > ip.len() || checksum(&ip[..ihl], None) != 0 {
        return false;
    }
    let msg = &ip[ihl..tot];
    let src = ip[12..16].try_into().unwrap();
    let dst = ip[16..20].try_into().unwrap();
    let v3 = msg.first().is_some_and(|b| b >> 4 == 3);
    let pseudo = checksum(msg, Some((src, dst))) == 0;
    let plain = checksum(msg, None) == 0;
    if v3 {
        pseudo || (v2_style_ok && plain)
    } else {
        plain
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..160)) {
        let t = table();
        let _ = validate_frame(&bytes, IF, RX_NS, &t);
        let _ = validate_ip(&bytes, IF, RX_NS, &t);
    }

    #[test]
    fn accepts_exactly_what_the_rules_allow(spec in recipe()) {
        let t = table();
        let verdict = validate_frame(&spec.frame(), IF, RX_NS, &t).map(v4);
        let accepted = matches!(verdict, Verdict::Accept(_));
        prop_assert_eq!(accepted, should_accept(&spec), "{:?}: {:?}", verdict, spec);
        if let Verdict::Accept(rec) = verdict {
            prop_assert_eq!((rec.src, rec.dst, rec.ttl), (spec.src, spec.dst, spec.ttl));
            prop_assert_eq!((rec.ifindex, rec.rx_ns), (IF, RX_NS));
            prop_assert_eq!(rec.flags & REC_F_MULTICAST != 0, spec.dst == VRRP_MCAST_V4);
            matches_decode(&spec.ip(), &rec)?;
            // The socket path reads the same packet without the Ethernet header.
            prop_assert_eq!(validate_ip(&spec.ip(), IF, RX_NS, &t).map(v4), Verdict::Accept(rec));
        } else if spec.bad_ip_csum {
            // The stack drops these before a raw socket sees them: the socket path
            // does not check again, and would get no further than any other fault.
            prop_assert!(matches!(
                verdict,
                Verdict::Drop(_) | Verdict::Pass | Verdict::PassUnknownVrid
            ));
        }
    }

    #[test]
    fn one_changed_byte_is_refused(
        p in 0..profiles().len(),
        addrs in 1..=MAX_ADDRS,
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let profile = &profiles()[p];
        let spec = FrameSpec {
            addrs: (0..addrs as u8).map(|i| [10, 1, 255, i]).collect(),
            ..(profile.valid)()
        };
        let t = table();
        let wire = |ip: &[u8]| classify_ipv4(ip, 0, Source::Wire, IF, &t);
        let mut ip = spec.ip();
        prop_assert!(matches!(wire(&ip), Verdict::Accept(_)));
        let i = at.index(ip.len());
        ip[i] ^= flip;
        let v2_style_ok = profile.config.flags & VRID_F_V2_CSUM_OK != 0;
        if let Verdict::Accept(rec) = wire(&ip) {
            prop_assert!(
                checksums_hold(&ip, v2_style_ok),
                "byte {} ^ {:#04x} accepted with a broken checksum", i, flip
            );
            matches_decode(&ip, &rec)?;
        }
    }
}

//! Verdict tests of the loaded XDP program on crafted frames (BPF_PROG_TEST_RUN), each
//! also run through the socket path's userspace validator: both must agree on the
//! verdict, the counter and the record.
//!
//! `BPF_PROG_TEST_RUN` without a context runs the program as if the frame arrived on
//! the namespace's loopback device, so the VRID table is keyed on ifindex 1.

use vrrp_common::{
    AdvertRecord, Counter, MAX_ADDRS, PeerConfig, REC_F_MULTICAST, REC_F_V2_CSUM, RING_BYTES,
    Record, VRID_F_ANY_SOURCE, VRID_F_MULTICAST, VRID_F_V2_CSUM_OK, VRRP_MCAST_V4, VridConfig,
};
use vrrp_common::{VridConfig6, validate::Scratch6};
use vrrp_tests::frames::{Csum, Frame6Spec, FrameSpec, MCAST6, arp_frame, doc6, udp_frame};
use vrrp_user::datapath::{
    Counters, DatapathConfig, PeerEntry, PeerEntry6, VridEntry, VridEntry6, monotonic_ns,
    table::Table,
    validate::{Ipv6Meta, Verdict, validate_frame, validate_ipv6},
    xdp::XdpDatapath,
};

// The loader child (XdpDatapath::load re-runs this binary to load the object).
vrrp_user::xdp_loader_test!();

const LO: u32 = 1;
/// Return codes of an XDP program (linux/bpf.h `enum xdp_action`).
const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const PEER: [u8; 4] = [10, 1, 2, 10];
const LOCAL: [u8; 4] = [10, 1, 1, 10];
const PEER6: [u8; 16] = doc6(2, 0x10);
const LOCAL6: [u8; 16] = doc6(1, 0x10);

fn peer(addr: [u8; 4], ttl_min: u8) -> PeerEntry {
    PeerEntry {
        addr,
        config: PeerConfig {
            ttl_min,
            ttl_max: 255,
            _pad: [0; 2],
        },
    }
}

fn vrid(
    vrid: u8,
    version: u8,
    flags: u8,
    unicast_dst: [u8; 4],
    peers: Vec<PeerEntry>,
) -> VridEntry {
    VridEntry {
        ifindex: LO,
        vrid,
        config: VridConfig {
            unicast_dst,
            flags,
            version,
            _pad: [0; 2],
        },
        peers,
    }
}

/// VRID 51: v3 unicast, peer 10.1.2.10 with TTL window 250..=255.
/// VRID 52: v2, multicast, same peer.
/// VRID 53: v3 unicast, accepts the v2-style checksum.
/// VRID 54: v3 multicast from any source.
/// Over IPv6: VRID 61 unicast to LOCAL6 from PEER6 (hop limit 250..=255); 62 multicast
/// from any source; 63 unicast, accepts the v2-style checksum.
fn config() -> DatapathConfig {
    let peer6 = PeerEntry6 {
        addr: PEER6,
        config: PeerConfig {
            ttl_min: 250,
            ttl_max: 255,
            _pad: [0; 2],
        },
    };
    let vrid6 = |vrid, flags, unicast_dst, peers| VridEntry6 {
        ifindex: LO,
        vrid,
        config: VridConfig6 {
            unicast_dst,
            flags,
            version: 3,
            _pad: [0; 2],
        },
        peers,
    };
    DatapathConfig {
        entries6: vec![
            vrid6(61, 0, LOCAL6, vec![peer6]),
            vrid6(62, VRID_F_MULTICAST | VRID_F_ANY_SOURCE, [0; 16], vec![]),
            vrid6(63, VRID_F_V2_CSUM_OK, LOCAL6, vec![peer6]),
        ],
        entries: vec![
            vrid(51, 3, 0, LOCAL, vec![peer(PEER, 250)]),
            vrid(52, 2, VRID_F_MULTICAST, [0; 4], vec![peer(PEER, 1)]),
            vrid(53, 3, VRID_F_V2_CSUM_OK, LOCAL, vec![peer(PEER, 1)]),
            vrid(54, 3, VRID_F_MULTICAST | VRID_F_ANY_SOURCE, [0; 4], vec![]),
        ],
    }
}

struct Harness {
    dp: XdpDatapath,
    table: Table,
}

/// What one frame did.
#[derive(Debug)]
struct Outcome {
    action: u32,
    counter: Option<Counter>,
    record: Option<Record>,
}

impl Harness {
    fn new() -> Harness {
        let mut dp = XdpDatapath::load().expect(
            "loading the XDP program failed: needs root (CAP_BPF, CAP_NET_ADMIN) and the \
             embedded object built by vrrp-user/build.rs",
        );
        let cfg = config();
        dp.update(&cfg).expect("writing maps");
        Harness {
            dp,
            table: Table::new(&cfg),
        }
    }

    fn run_repeat(&mut self, frame: &[u8], repeat: u32) -> u32 {
        self.dp
            .program()
            .test_run(frame, repeat)
            .expect("BPF_PROG_TEST_RUN")
            .return_value
    }

    /// Runs `frame` through XDP and the userspace validator; asserts they agree.
    fn run(&mut self, frame: &[u8]) -> Outcome {
        let before = self.dp.counters();
        let t0 = monotonic_ns();
        let action = self.run_repeat(frame, 1);
        let t1 = monotonic_ns();
        let after = self.dp.counters();
        let counter = diff(&before, &after);
        let mut records = Vec::new();
        self.dp.drain(&mut records);
        assert!(
            records.len() <= 1,
            "one frame, at most one record: {records:?}"
        );
        let record = records.pop();
        if let Some(r) = &record {
            assert!(
                (t0..=t1).contains(&r.rx_ns()),
                "kernel timestamp {} outside the test run [{t0}, {t1}]",
                r.rx_ns()
            );
        }

        // The socket path's validator must say the same.
        let user = validate_frame(frame, LO, record.map_or(0, |r| r.rx_ns()), &self.table);
        assert_eq!(
            user.counter(),
            counter,
            "XDP and userspace disagree on the counter"
        );
        match user {
            Verdict::Pass | Verdict::PassUnknownVrid => {
                assert_eq!(action, XDP_PASS, "userspace passes, XDP does not")
            }
            Verdict::Drop(_) => assert_eq!(action, XDP_DROP),
            Verdict::Accept(rec) => {
                assert_eq!(action, XDP_DROP, "accepted adverts are consumed");
                assert_eq!(Some(rec), record, "XDP and userspace records differ");
            }
        }
        Outcome {
            action,
            counter,
            record,
        }
    }

    fn expect_drop(&mut self, spec: &FrameSpec, reason: Counter) {
        let o = self.run(&spec.frame());
        assert_eq!(o.counter, Some(reason), "{spec:?}");
        assert_eq!(o.action, XDP_DROP);
        assert!(o.record.is_none());
    }

    fn expect_accept(&mut self, spec: &FrameSpec) -> AdvertRecord {
        self.expect_accept_any(&spec.frame(), &format!("{spec:?}"))
            .into_v4()
            .expect("an IPv4 record")
    }

    /// Runs an IPv6 frame through XDP and the frame validator (`run`), and, when a raw
    /// socket would see the packet as built, the socket path's entry too: the VRRP
    /// message alone with the header fields as ancillary data. All must agree.
    fn run6(&mut self, spec: &Frame6Spec) -> Outcome {
        let o = self.run(&spec.frame());
        if spec.reaches_a_socket() {
            let meta = Ipv6Meta {
                src: spec.src,
                dst: spec.dst,
                hop_limit: spec.hop_limit,
                ifindex: LO,
            };
            let rx_ns = o.record.map_or(0, |r| r.rx_ns());
            let mut scratch = Scratch6::default();
            let sock = validate_ipv6(&spec.vrrp(), &meta, rx_ns, &self.table, &mut scratch);
            assert_eq!(
                sock.counter(),
                o.counter,
                "the socket path disagrees: {spec:?}"
            );
            if let Verdict::Accept(rec) = sock {
                assert_eq!(Some(rec), o.record, "the socket path's record differs");
            }
        }
        o
    }

    fn expect_drop6(&mut self, spec: &Frame6Spec, reason: Counter, what: &str) {
        let o = self.run6(spec);
        assert_eq!(o.counter, Some(reason), "{what}: {spec:?}");
        assert_eq!(o.action, XDP_DROP, "{what}");
        assert!(o.record.is_none(), "{what}");
    }

    fn expect_accept6(&mut self, spec: &Frame6Spec) -> vrrp_common::AdvertRecord6 {
        let o = self.run6(spec);
        assert_eq!(o.counter, Some(Counter::Accepted), "{spec:?}");
        assert_eq!(o.action, XDP_DROP, "accepted adverts are consumed");
        o.record
            .expect("a record")
            .into_v6()
            .expect("an IPv6 record")
    }

    /// Runs `frame` (described by `what`), which both paths must accept.
    fn expect_accept_any(&mut self, frame: &[u8], what: &str) -> Record {
        let o = self.run(frame);
        assert_eq!(o.counter, Some(Counter::Accepted), "{what}");
        o.record.expect("a record")
    }
}

/// The single counter that moved by one, if any; panics if several moved.
fn diff(before: &Counters, after: &Counters) -> Option<Counter> {
    let moved: Vec<(Counter, u64)> = Counter::ALL
        .iter()
        .map(|c| (*c, after.get(*c) - before.get(*c)))
        .filter(|(_, d)| *d != 0)
        .collect();
    match moved.as_slice() {
        [] => None,
        [(c, 1)] => Some(*c),
        other => panic!("several counters moved for one frame: {other:?}"),
    }
}

#[test]
fn valid_v3_unicast_record_fields() {
    let mut h = Harness::new();
    let spec = FrameSpec {
        addrs: vec![[10, 1, 255, 1], [10, 1, 255, 2]],
        priority: 150,
        interval: 5,
        ..Default::default()
    };
    let r = h.expect_accept(&spec);
    assert_eq!(r.src, PEER);
    assert_eq!(r.dst, LOCAL);
    assert_eq!(r.ifindex, LO);
    assert_eq!((r.vrid, r.priority, r.version, r.ttl), (51, 150, 3, 254));
    assert_eq!(r.adver_int_cs, 5);
    assert_eq!(r.count, 2);
    assert_eq!(r.addrs(), &[[10, 1, 255, 1], [10, 1, 255, 2]]);
    assert_eq!(r.flags, 0);
    assert_eq!(r.auth_type, 0);
}

#[test]
fn valid_v2_multicast() {
    let mut h = Harness::new();
    let spec = FrameSpec {
        vrid: 52,
        dst: VRRP_MCAST_V4,
        ttl: 255,
        interval: 3,
        ..FrameSpec::v2()
    };
    let r = h.expect_accept(&spec);
    assert_eq!((r.version, r.vrid, r.adver_int_cs), (2, 52, 300));
    assert_eq!(r.flags, REC_F_MULTICAST);
}

#[test]
fn valid_with_ip_options_vlan_and_padding() {
    let mut h = Harness::new();
    // Router alert option (RFC 2113), 4 bytes.
    let opts = FrameSpec {
        ip_options: vec![0x94, 0x04, 0x00, 0x00],
        ..Default::default()
    };
    assert_eq!(h.expect_accept(&opts).vrid, 51);
    // The longest IPv4 header: 40 bytes of options (NOPs and end-of-list).
    let long = FrameSpec {
        ip_options: vec![1; 39],
        ..Default::default()
    };
    h.expect_accept(&long);
    let vlan = FrameSpec {
        vlan: Some(42),
        ..Default::default()
    };
    h.expect_accept(&vlan);
    // Short frames are padded to 60 bytes on Ethernet: trailing bytes beyond the IP
    // total length must not count as VRRP length.
    let padded = FrameSpec {
        trailer: 18,
        ..Default::default()
    };
    h.expect_accept(&padded);
}

#[test]
fn max_addresses_and_one_over() {
    let mut h = Harness::new();
    let addrs: Vec<[u8; 4]> = (0..MAX_ADDRS as u8).map(|i| [10, 1, 255, i + 1]).collect();
    let spec = FrameSpec {
        addrs: addrs.clone(),
        ..Default::default()
    };
    let r = h.expect_accept(&spec);
    assert_eq!(r.addrs(), addrs.as_slice());
    let v2 = FrameSpec {
        vrid: 52,
        dst: VRRP_MCAST_V4,
        ttl: 255,
        addrs: addrs.clone(),
        ..FrameSpec::v2()
    };
    h.expect_accept(&v2);
    let mut over = addrs;
    over.push([10, 1, 255, 99]);
    h.expect_drop(
        &FrameSpec {
            addrs: over,
            ..Default::default()
        },
        Counter::BadLength,
    );
}

#[test]
fn v2_style_checksum_only_where_allowed() {
    let mut h = Harness::new();
    let r = h.expect_accept(&FrameSpec {
        vrid: 53,
        csum: Csum::V2Style,
        ..Default::default()
    });
    assert_eq!(r.flags, REC_F_V2_CSUM);
    h.expect_drop(
        &FrameSpec {
            csum: Csum::V2Style,
            ..Default::default()
        },
        Counter::BadChecksum,
    );
}

#[test]
fn multicast_any_source() {
    let mut h = Harness::new();
    let spec = FrameSpec {
        vrid: 54,
        src: [192, 0, 2, 77],
        dst: VRRP_MCAST_V4,
        ttl: 255,
        ..Default::default()
    };
    h.expect_accept(&spec);
    h.expect_drop(&FrameSpec { ttl: 254, ..spec }, Counter::BadTtl);
}

#[test]
fn each_malformed_reason() {
    let mut h = Harness::new();
    let ok = FrameSpec::default();
    let cases: Vec<(&str, FrameSpec, Counter)> = vec![
        (
            "frame cut inside the VRRP message",
            FrameSpec {
                truncate: Some(14 + 20 + 6),
                ..ok.clone()
            },
            Counter::Truncated,
        ),
        (
            "IP total length leaves 4 bytes of VRRP",
            FrameSpec {
                tot_len: Some(24),
                ..ok.clone()
            },
            Counter::Truncated,
        ),
        (
            "VRRP version 1",
            FrameSpec {
                version: 1,
                ..ok.clone()
            },
            Counter::BadVersion,
        ),
        (
            "v2 advert for a v3 VRID",
            FrameSpec { ..FrameSpec::v2() },
            Counter::BadVersion,
        ),
        (
            "type 2",
            FrameSpec {
                kind: 2,
                ..ok.clone()
            },
            Counter::BadType,
        ),
        (
            "count says 2, one address",
            FrameSpec {
                count: Some(2),
                ..ok.clone()
            },
            Counter::BadLength,
        ),
        (
            "IP total length shorter than the IP header",
            FrameSpec {
                tot_len: Some(16),
                ..ok.clone()
            },
            Counter::BadLength,
        ),
        (
            "checksum off by one",
            FrameSpec {
                csum: Csum::Bad,
                ..ok.clone()
            },
            Counter::BadChecksum,
        ),
        (
            "IPv4 header checksum off by one (XDP once accepted it; the stack drops it)",
            FrameSpec {
                bad_ip_csum: true,
                ..ok.clone()
            },
            Counter::BadIpChecksum,
        ),
        (
            "count 0, length consistent (both paths once accepted it)",
            FrameSpec {
                addrs: vec![],
                ..ok.clone()
            },
            Counter::NoAddresses,
        ),
        (
            "v2 multicast, count 0",
            FrameSpec {
                vrid: 52,
                dst: VRRP_MCAST_V4,
                ttl: 255,
                addrs: vec![],
                ..FrameSpec::v2()
            },
            Counter::NoAddresses,
        ),
        (
            "interval 0",
            FrameSpec {
                interval: 0,
                ..ok.clone()
            },
            Counter::BadInterval,
        ),
        (
            "source not a peer",
            FrameSpec {
                src: [10, 1, 3, 10],
                ..ok.clone()
            },
            Counter::NotPeer,
        ),
        (
            "TTL below the peer's window",
            FrameSpec {
                ttl: 200,
                ..ok.clone()
            },
            Counter::BadTtl,
        ),
        (
            "multicast needs TTL 255",
            FrameSpec {
                vrid: 52,
                dst: VRRP_MCAST_V4,
                ttl: 254,
                ..FrameSpec::v2()
            },
            Counter::BadTtl,
        ),
        (
            "unicast to another address",
            FrameSpec {
                dst: [10, 1, 1, 99],
                ..ok.clone()
            },
            Counter::BadDestination,
        ),
        (
            "multicast to a unicast-only VRID",
            FrameSpec {
                dst: VRRP_MCAST_V4,
                ttl: 255,
                ..ok.clone()
            },
            Counter::BadDestination,
        ),
        (
            "more-fragments bit",
            FrameSpec {
                frag: 0x2000,
                ..ok.clone()
            },
            Counter::Fragment,
        ),
        (
            "fragment offset",
            FrameSpec {
                frag: 0x0010,
                ..ok.clone()
            },
            Counter::Fragment,
        ),
    ];
    for (what, spec, reason) in cases {
        let o = h.run(&spec.frame());
        assert_eq!(o.counter, Some(reason), "{what}");
        assert_eq!(o.action, XDP_DROP, "{what}");
        assert!(o.record.is_none(), "{what}");
    }

    // IHL below 5: build by hand from a valid frame.
    let mut f = ok.frame();
    f[14] = 0x44;
    let o = h.run(&f);
    assert_eq!(o.counter, Some(Counter::BadLength), "IHL 4");
}

/// Frames with two faults land in the counter of the first check (docs/ARCHITECTURE.md).
#[test]
fn check_order_with_two_faults() {
    let mut h = Harness::new();
    let bad_ip = FrameSpec {
        bad_ip_csum: true,
        ..Default::default()
    };
    let cases: Vec<(&str, FrameSpec, Counter)> = vec![
        (
            "bad IP checksum beats fragment",
            FrameSpec {
                frag: 0x2000,
                ..bad_ip.clone()
            },
            Counter::BadIpChecksum,
        ),
        (
            "bad IP checksum beats bad VRRP checksum",
            FrameSpec {
                csum: Csum::Bad,
                ..bad_ip.clone()
            },
            Counter::BadIpChecksum,
        ),
        (
            "bad IP checksum beats an unknown VRID (dropped, not passed)",
            FrameSpec {
                vrid: 99,
                ..bad_ip.clone()
            },
            Counter::BadIpChecksum,
        ),
        (
            "bad VRRP checksum beats count 0",
            FrameSpec {
                addrs: vec![],
                csum: Csum::Bad,
                ..Default::default()
            },
            Counter::BadChecksum,
        ),
        (
            "count 0 beats interval 0",
            FrameSpec {
                addrs: vec![],
                interval: 0,
                ..Default::default()
            },
            Counter::NoAddresses,
        ),
        (
            "count 0 beats not a peer",
            FrameSpec {
                addrs: vec![],
                src: [10, 1, 3, 10],
                ..Default::default()
            },
            Counter::NoAddresses,
        ),
    ];
    for (what, spec, reason) in cases {
        let o = h.run(&spec.frame());
        assert_eq!(o.counter, Some(reason), "{what}");
        assert_eq!(o.action, XDP_DROP, "{what}");
    }
}

/// An attacker on the link flipping any one byte of a valid advert's IPv4 header or
/// VRRP message: every such frame is refused, the same way on both paths. No single
/// byte change is checksum-neutral (it moves a 16-bit word by 1..=255 or a multiple
/// of 256, never by 0 mod 0xffff), and the VRIDs used here take one checksum form only.
#[test]
fn single_byte_mutations_never_accepted() {
    let mut h = Harness::new();
    let specs = [
        FrameSpec::default(),
        FrameSpec {
            vrid: 52,
            dst: VRRP_MCAST_V4,
            ttl: 255,
            addrs: vec![[10, 1, 255, 1], [10, 1, 255, 2]],
            ..FrameSpec::v2()
        },
        FrameSpec {
            vrid: 54,
            src: [192, 0, 2, 77],
            dst: VRRP_MCAST_V4,
            ttl: 255,
            ..Default::default()
        },
        FrameSpec {
            ip_options: vec![0x94, 0x04, 0x00, 0x00],
            vlan: Some(7),
            trailer: 6,
            ..Default::default()
        },
    ];
    let mut runs = 0;
    for spec in specs {
        let frame = spec.frame();
        assert_eq!(h.run(&frame).counter, Some(Counter::Accepted), "{spec:?}");
        let l3 = if spec.vlan.is_some() { 18 } else { 14 };
        let ip_len = spec.ip().len();
        for at in l3..l3 + ip_len {
            for flip in [0x01u8, 0x10, 0x80, 0xff] {
                let mut f = frame.clone();
                f[at] ^= flip;
                let o = h.run(&f);
                assert_ne!(
                    o.counter,
                    Some(Counter::Accepted),
                    "byte {} ^ {flip:#04x} of {spec:?}",
                    at - l3
                );
                runs += 1;
            }
        }
    }
    assert!(runs > 500, "{runs}");
}

#[test]
fn valid_ipv6_unicast_multicast_vlan_and_options() {
    let mut h = Harness::new();
    let vips = vec![doc6(0xff, 1), doc6(0xff, 2)];
    let r = h.expect_accept6(&Frame6Spec {
        addrs: vips.clone(),
        priority: 150,
        interval: 5,
        ..Default::default()
    });
    assert_eq!((r.src, r.dst, r.ifindex, r.ttl), (PEER6, LOCAL6, LO, 254));
    assert_eq!(
        (r.vrid, r.priority, r.version, r.adver_int_cs),
        (61, 150, 3, 5)
    );
    assert_eq!(r.addrs(), vips.as_slice());
    assert_eq!((r.flags, r.auth_type), (0, 0));

    let link_local = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
    let r = h.expect_accept6(&Frame6Spec {
        vrid: 62,
        src: link_local,
        dst: MCAST6,
        hop_limit: 255,
        vlan: Some(42),
        ..Default::default()
    });
    assert_eq!((r.vrid, r.flags, r.src), (62, REC_F_MULTICAST, link_local));

    // Hop-by-hop and destination options in front of VRRP are walked past.
    let r = h.expect_accept6(&Frame6Spec {
        ext: vec![(0, vec![1, 4, 0, 0, 0, 0]), (60, vec![1, 4, 0, 0, 0, 0])],
        ..Default::default()
    });
    assert_eq!(r.vrid, 61);
    // Twenty addresses, the most an advert may carry.
    let twenty: Vec<[u8; 16]> = (1..=MAX_ADDRS as u8).map(|i| doc6(0xff, i)).collect();
    let r = h.expect_accept6(&Frame6Spec {
        addrs: twenty.clone(),
        ..Default::default()
    });
    assert_eq!(r.addrs(), twenty.as_slice());
    // The v2-style checksum, where the VRID allows it.
    let r = h.expect_accept6(&Frame6Spec {
        vrid: 63,
        csum: Csum::V2Style,
        ..Default::default()
    });
    assert_eq!(r.flags, REC_F_V2_CSUM);
}

/// Every reason an IPv6 advert is refused, on both paths (the socket path where the
/// stack would hand it over as built).
#[test]
fn each_malformed_reason_ipv6() {
    let mut h = Harness::new();
    let ok = Frame6Spec::default();
    let twenty_one: Vec<[u8; 16]> = (0..=MAX_ADDRS as u8).map(|i| doc6(0xff, i)).collect();
    let cases: Vec<(&str, Frame6Spec, Counter)> = vec![
        (
            "frame cut inside the VRRP message",
            Frame6Spec {
                truncate: Some(14 + 40 + 6),
                ..ok.clone()
            },
            Counter::Truncated,
        ),
        (
            "payload length beyond the frame",
            Frame6Spec {
                payload_len: Some(200),
                ..ok.clone()
            },
            Counter::Truncated,
        ),
        (
            "payload length leaves 4 bytes of VRRP",
            Frame6Spec {
                payload_len: Some(4),
                ..ok.clone()
            },
            Counter::Truncated,
        ),
        (
            "destination options longer than the payload",
            Frame6Spec {
                ext: vec![(60, vec![1, 4, 0, 0, 0, 0])],
                payload_len: Some(4),
                ..ok.clone()
            },
            Counter::BadLength,
        ),
        (
            "version nibble 4 behind the IPv6 ethertype",
            Frame6Spec {
                ip_version: 4,
                ..ok.clone()
            },
            Counter::BadLength,
        ),
        (
            "VRRPv2 over IPv6",
            Frame6Spec {
                version: 2,
                ..ok.clone()
            },
            Counter::BadVersion,
        ),
        (
            "VRRP version 4",
            Frame6Spec {
                version: 4,
                ..ok.clone()
            },
            Counter::BadVersion,
        ),
        (
            "type 2",
            Frame6Spec {
                kind: 2,
                ..ok.clone()
            },
            Counter::BadType,
        ),
        (
            "count says 2, one address",
            Frame6Spec {
                count: Some(2),
                ..ok.clone()
            },
            Counter::BadLength,
        ),
        (
            "21 addresses",
            Frame6Spec {
                addrs: twenty_one,
                ..ok.clone()
            },
            Counter::BadLength,
        ),
        (
            "checksum off by one",
            Frame6Spec {
                csum: Csum::Bad,
                ..ok.clone()
            },
            Counter::BadChecksum,
        ),
        (
            "v2-style checksum where the VRID wants the pseudo-header",
            Frame6Spec {
                csum: Csum::V2Style,
                ..ok.clone()
            },
            Counter::BadChecksum,
        ),
        (
            "no addresses",
            Frame6Spec {
                addrs: vec![],
                ..ok.clone()
            },
            Counter::NoAddresses,
        ),
        (
            "interval 0",
            Frame6Spec {
                interval: 0,
                ..ok.clone()
            },
            Counter::BadInterval,
        ),
        (
            "source not a peer",
            Frame6Spec {
                src: doc6(2, 0x11),
                ..ok.clone()
            },
            Counter::NotPeer,
        ),
        (
            "hop limit below the peer's window",
            Frame6Spec {
                hop_limit: 249,
                ..ok.clone()
            },
            Counter::BadTtl,
        ),
        (
            "multicast with hop limit 254",
            Frame6Spec {
                vrid: 62,
                dst: MCAST6,
                hop_limit: 254,
                ..ok.clone()
            },
            Counter::BadTtl,
        ),
        (
            "unicast to another address",
            Frame6Spec {
                dst: doc6(1, 0x11),
                ..ok.clone()
            },
            Counter::BadDestination,
        ),
        (
            "multicast to a unicast VRID",
            Frame6Spec {
                dst: MCAST6,
                hop_limit: 255,
                ..ok.clone()
            },
            Counter::BadDestination,
        ),
        (
            "a fragment header in front of VRRP",
            Frame6Spec {
                ext: vec![(44, vec![0, 1, 0, 0, 0, 1])],
                ..ok.clone()
            },
            Counter::Fragment,
        ),
    ];
    for (what, spec, reason) in cases {
        h.expect_drop6(&spec, reason, what);
    }
    // IPv6 adverts for a VRID configured over IPv4 only are not misread: they pass on
    // (another daemon may run that VRID over IPv6), counted.
    let o = h.run6(&Frame6Spec {
        vrid: 51,
        ..ok.clone()
    });
    assert_eq!(
        (o.action, o.counter),
        (XDP_PASS, Some(Counter::UnknownVrid))
    );
    // Not VRRP: UDP, a fragment of UDP, too many extension headers, a short header.
    for (what, spec) in [
        (
            "udp",
            Frame6Spec {
                proto: 17,
                ..ok.clone()
            },
        ),
        (
            "fragment of udp",
            Frame6Spec {
                ext: vec![(44, vec![0, 1, 0, 0, 0, 1])],
                proto: 17,
                ..ok.clone()
            },
        ),
        (
            "39 bytes of IPv6 header",
            Frame6Spec {
                truncate: Some(14 + 39),
                ..ok.clone()
            },
        ),
    ] {
        let o = h.run6(&spec);
        assert_eq!((o.action, o.counter), (XDP_PASS, None), "{what}");
    }
    // Behind more extension headers than XDP walks, VRRP is left to the stack: XDP
    // passes it untouched (no VRRP sender adds any; a raw socket would see it).
    let five = Frame6Spec {
        ext: (0..5).map(|_| (60, vec![1, 4, 0, 0, 0, 0])).collect(),
        ..ok.clone()
    };
    let o = h.run(&five.frame());
    assert_eq!(
        (o.action, o.counter),
        (XDP_PASS, None),
        "five options headers"
    );
}

/// Single-byte changes to a valid IPv6 advert: never accepted unless the change
/// leaves every checked field valid: traffic class and flow label are not checked,
/// and the hop limit may move inside the peer's window.
#[test]
fn single_byte_mutations_never_accepted_ipv6() {
    let mut h = Harness::new();
    let frame = Frame6Spec::default().frame();
    const HOP_LIMIT: usize = 14 + 7;
    for i in 14..frame.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut f = frame.clone();
            f[i] ^= flip;
            let o = h.run(&f);
            if o.counter == Some(Counter::Accepted) {
                let unchecked = (i == 14 && flip & 0xf0 == 0) || (15..18).contains(&i);
                let in_window = i == HOP_LIMIT && (250..=255).contains(&f[i]);
                assert!(unchecked || in_window, "byte {i} ^ {flip:#04x} accepted");
            }
        }
    }
}

#[test]
fn unknown_vrid_passes_and_is_counted() {
    let mut h = Harness::new();
    let o = h.run(
        &FrameSpec {
            vrid: 99,
            ..Default::default()
        }
        .frame(),
    );
    assert_eq!(o.action, XDP_PASS);
    assert_eq!(o.counter, Some(Counter::UnknownVrid));
    assert!(o.record.is_none());
}

#[test]
fn other_traffic_untouched() {
    let mut h = Harness::new();
    let ipv6_like = {
        let mut f = udp_frame();
        f[12] = 0x86;
        f[13] = 0xdd;
        f
    };
    let ipv6_udp = Frame6Spec {
        proto: 17,
        ..Default::default()
    }
    .frame();
    let tcp = {
        let mut f = udp_frame();
        f[14 + 9] = 6;
        f
    };
    let ethernet_only = vec![0u8; 14];
    for (what, frame) in [
        ("udp", udp_frame()),
        ("arp", arp_frame()),
        ("ipv6 ethertype, ipv4 bytes", ipv6_like),
        ("ipv6 udp", ipv6_udp),
        ("tcp", tcp),
        ("ethernet header only", ethernet_only),
    ] {
        let o = h.run(&frame);
        assert_eq!(o.action, XDP_PASS, "{what}");
        assert_eq!(o.counter, None, "{what}");
    }
}

#[test]
fn ring_full_is_counted() {
    let mut h = Harness::new();
    let frame = FrameSpec::default().frame();
    // Each record takes its size plus an 8-byte ring header.
    let capacity = RING_BYTES as u64 / (size_of::<AdvertRecord>() as u64 + 8);
    let runs = capacity as u32 + 500;
    let before = h.dp.counters();
    assert_eq!(h.run_repeat(&frame, runs), XDP_DROP);
    let after = h.dp.counters();
    let accepted = after.get(Counter::Accepted) - before.get(Counter::Accepted);
    let full = after.get(Counter::RingFull) - before.get(Counter::RingFull);
    assert_eq!(accepted + full, u64::from(runs));
    assert!(
        full >= 500,
        "ring of {capacity} records overflowed by only {full}"
    );
    let mut records = Vec::new();
    h.dp.drain(&mut records);
    assert_eq!(records.len() as u64, accepted);
    // Drained: there is room again.
    h.expect_accept(&FrameSpec::default());
}

/// The verifier's work on the program stays far below its 1M-instruction limit, so
/// the next check added to the validator does not find the program refused. Run with
/// `--nocapture` to see the numbers.
#[test]
fn verifier_budget() {
    let h = Harness::new();
    let verified =
        h.dp.program()
            .verified_instructions()
            .expect("verified_insns in fdinfo (kernel 5.16+)");
    eprintln!("verified instructions: {verified}");
    assert!(
        verified < 200_000,
        "the verifier walked {verified} instructions"
    );
}

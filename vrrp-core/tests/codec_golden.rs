//! Golden vectors: adverts captured from a real keepalived 2.2.7 (see
//! tests/fixtures/README.md). Our decoder must read them with the expected fields
//! and our encoder must reproduce them byte for byte, checksum included.

use std::net::{IpAddr, Ipv4Addr};

use vrrp_core::packet::{
    Advert, AuthType, ChecksumAccept, ChecksumMode, DecodeError, Endpoints, MULTICAST_V4, V2Auth,
    Version, checksum, decode, encode,
};

/// One fixture file: the IP addresses of the captured packet and its VRRP message.
struct Capture {
    ends: Endpoints,
    ttl: u8,
    msg: Vec<u8>,
}

fn load(text: &str) -> Capture {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("fixture has no `{key}` line"))
            .trim()
    };
    let src: IpAddr = field("src").parse().unwrap();
    let dst: IpAddr = field("dst").parse().unwrap();
    let hex = field("vrrp");
    let msg = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    Capture {
        ends: Endpoints::new(src, dst).expect("src and dst of one family"),
        ttl: field("ttl").parse().unwrap(),
        msg,
    }
}

macro_rules! fixture {
    ($name:literal) => {
        load(include_str!(concat!("fixtures/", $name, ".txt")))
    };
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Decode with the strictest setting that should pass, compare with `want`,
/// then encode `want` and compare with the captured bytes.
fn check(cap: &Capture, accept: ChecksumAccept, mode: ChecksumMode, want: &Advert) {
    let got = decode(&cap.msg, cap.ends, accept).expect("keepalived's advert decodes");
    assert_eq!(&got, want);
    let bytes = encode(want, cap.ends, mode).expect("advert encodes");
    assert_eq!(
        bytes, cap.msg,
        "encoder output differs from keepalived's bytes"
    );
}

#[test]
fn v2_multicast_default_auth_none() {
    let cap = fixture!("v2_mcast");
    assert_eq!(cap.ends.dst(), IpAddr::V4(MULTICAST_V4));
    assert_eq!(cap.ttl, 255);
    let want = Advert::v2(
        51,
        150,
        1,
        vec![ip("10.99.0.100"), ip("10.99.0.101")],
        V2Auth::NONE,
    );
    assert_eq!(want.max_adver_int_cs, 100);
    check(
        &cap,
        ChecksumAccept::PseudoHeader,
        ChecksumMode::PseudoHeader,
        &want,
    );
    // v2 is message-only whatever the v3 setting says.
    check(
        &cap,
        ChecksumAccept::MessageOnly,
        ChecksumMode::MessageOnly,
        &want,
    );
}

#[test]
fn v2_multicast_simple_password() {
    let cap = fixture!("v2_auth_pass");
    let auth = V2Auth::simple_text(b"secret1").unwrap();
    assert_eq!(auth.auth_type, AuthType::SimpleText);
    let want = Advert::v2(52, 100, 3, vec![ip("10.99.0.102")], auth);
    check(
        &cap,
        ChecksumAccept::Either,
        ChecksumMode::PseudoHeader,
        &want,
    );
}

#[test]
fn v3_ipv4_multicast_uses_pseudo_header() {
    let cap = fixture!("v3_mcast");
    let want = Advert::v3(
        53,
        200,
        100, // advert_int 1 (s) is 100 cs
        vec![ip("10.99.0.103"), ip("10.99.0.104"), ip("10.99.0.105")],
    );
    check(
        &cap,
        ChecksumAccept::PseudoHeader,
        ChecksumMode::PseudoHeader,
        &want,
    );
    assert_eq!(
        decode(&cap.msg, cap.ends, ChecksumAccept::MessageOnly),
        Err(DecodeError::BadChecksum {
            expected: checksum::vrrp_v2(&cap.msg),
            found: checksum::stored(&cap.msg).unwrap(),
        }),
        "keepalived 2.2.7 has no message-only v3 checksum by default"
    );
}

#[test]
fn v3_ipv4_multicast_subsecond_owner() {
    let cap = fixture!("v3_mcast_fast");
    let want = Advert::v3(54, 255, 35, vec![ip("10.99.0.108")]);
    check(
        &cap,
        ChecksumAccept::PseudoHeader,
        ChecksumMode::PseudoHeader,
        &want,
    );
}

#[test]
fn v3_ipv4_unicast_pseudo_header_has_the_unicast_destination() {
    let cap = fixture!("v3_unicast");
    assert_eq!(cap.ends.dst(), ip("10.99.0.2"));
    assert_eq!(cap.ttl, 255);
    let want = Advert::v3(55, 120, 100, vec![ip("10.99.0.106")]);
    check(
        &cap,
        ChecksumAccept::PseudoHeader,
        ChecksumMode::PseudoHeader,
        &want,
    );
}

/// keepalived's `old_unicast_checksum` sends unicast but sums the multicast group
/// into the pseudo-header: it verifies only when the receiver substitutes 224.0.0.18.
#[test]
fn v3_ipv4_unicast_old_checksum_uses_the_multicast_group() {
    let cap = fixture!("v3_unicast_old_checksum");
    assert!(matches!(
        decode(&cap.msg, cap.ends, ChecksumAccept::Either),
        Err(DecodeError::BadChecksum { .. })
    ));
    let Endpoints::V4 { src, .. } = cap.ends else {
        panic!("IPv4 capture")
    };
    let as_multicast = Capture {
        ends: Endpoints::V4 {
            src,
            dst: MULTICAST_V4,
        },
        ttl: cap.ttl,
        msg: cap.msg.clone(),
    };
    let want = Advert::v3(56, 120, 100, vec![ip("10.99.0.107")]);
    check(
        &as_multicast,
        ChecksumAccept::PseudoHeader,
        ChecksumMode::PseudoHeader,
        &want,
    );
}

#[test]
fn v3_ipv6_multicast() {
    let cap = fixture!("v3_ipv6_mcast");
    assert_eq!(
        cap.ends.src(),
        ip("fe80::ff:fe99:1"),
        "link-local source from the fixed MAC"
    );
    let want = Advert::v3(57, 130, 100, vec![ip("fe80::57"), ip("fd99::100")]);
    // IPv6 has one checksum form; the v3-over-IPv4 setting does not apply.
    check(
        &cap,
        ChecksumAccept::MessageOnly,
        ChecksumMode::MessageOnly,
        &want,
    );
    check(
        &cap,
        ChecksumAccept::PseudoHeader,
        ChecksumMode::PseudoHeader,
        &want,
    );
}

/// Surprise worth knowing: keepalived sends IPv6 unicast adverts with hop limit 64,
/// not 255 (IPv4 unicast keeps 255).
#[test]
fn v3_ipv6_unicast() {
    let cap = fixture!("v3_ipv6_unicast");
    assert_eq!(cap.ttl, 64);
    let want = Advert::v3(58, 140, 200, vec![ip("fd99::101")]);
    check(
        &cap,
        ChecksumAccept::Either,
        ChecksumMode::PseudoHeader,
        &want,
    );
}

/// keepalived 2.2.7 has no `v3_checksum_as_v2`, so the message-only form has no
/// capture; check it against the plain RFC 1071 sum of the zero-checksum message.
#[test]
fn v3_ipv4_message_only_is_the_plain_internet_checksum() {
    let cap = fixture!("v3_mcast");
    let advert = decode(&cap.msg, cap.ends, ChecksumAccept::PseudoHeader).unwrap();
    let bytes = encode(&advert, cap.ends, ChecksumMode::MessageOnly).unwrap();
    let mut zeroed = cap.msg.clone();
    zeroed[6..8].fill(0);
    assert_eq!(bytes[..6], cap.msg[..6]);
    assert_eq!(bytes[8..], cap.msg[8..]);
    assert_eq!(
        u16::from_be_bytes([bytes[6], bytes[7]]),
        checksum::internet_checksum(&zeroed)
    );
    assert_ne!(bytes, cap.msg);
    for accept in [ChecksumAccept::MessageOnly, ChecksumAccept::Either] {
        assert_eq!(decode(&bytes, cap.ends, accept).as_ref(), Ok(&advert));
    }
    assert!(matches!(
        decode(&bytes, cap.ends, ChecksumAccept::PseudoHeader),
        Err(DecodeError::BadChecksum { .. })
    ));
}

/// The standalone checksum functions give keepalived's values, for the receive
/// paths that verify without decoding.
#[test]
fn checksum_functions_match_keepalived() {
    for (cap, version) in [
        (fixture!("v2_mcast"), Version::V2),
        (fixture!("v3_mcast"), Version::V3),
        (fixture!("v3_unicast"), Version::V3),
        (fixture!("v3_ipv6_mcast"), Version::V3),
    ] {
        let want = checksum::stored(&cap.msg).unwrap();
        let got = match (version, cap.ends) {
            (Version::V2, _) => checksum::vrrp_v2(&cap.msg),
            (Version::V3, Endpoints::V4 { src, dst }) => checksum::vrrp_v3_ipv4(src, dst, &cap.msg),
            (Version::V3, Endpoints::V6 { src, dst }) => checksum::vrrp_v3_ipv6(src, dst, &cap.msg),
        };
        assert_eq!(got, want);
        // A message carrying a correct message-only checksum sums to zero.
        if version == Version::V2 {
            assert_eq!(checksum::internet_checksum(&cap.msg), 0);
        }
    }
    let cap = fixture!("v3_unicast_old_checksum");
    let Endpoints::V4 { src, .. } = cap.ends else {
        panic!("IPv4 capture")
    };
    assert_eq!(
        checksum::vrrp_v3_ipv4(src, Ipv4Addr::new(224, 0, 0, 18), &cap.msg),
        checksum::stored(&cap.msg).unwrap()
    );
}

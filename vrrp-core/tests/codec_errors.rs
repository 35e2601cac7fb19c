//! One test per decode and encode error: the error names the field that is wrong.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vrrp_core::packet::{
    Advert, AuthType, ChecksumAccept, ChecksumMode, DecodeError, EncodeError, Endpoints, V2Auth,
    Version, checksum, decode, encode,
};

const V4: Endpoints = Endpoints::V4 {
    src: Ipv4Addr::new(192, 0, 2, 1),
    dst: Ipv4Addr::new(224, 0, 0, 18),
};
const V6: Endpoints = Endpoints::V6 {
    src: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
    dst: Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12),
};

fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

fn v3_msg() -> Vec<u8> {
    encode(
        &Advert::v3(7, 100, 100, vec![v4(10), v4(11)]),
        V4,
        ChecksumMode::PseudoHeader,
    )
    .unwrap()
}

fn v2_msg() -> Vec<u8> {
    encode(
        &Advert::v2(7, 100, 1, vec![v4(10)], V2Auth::NONE),
        V4,
        ChecksumMode::PseudoHeader,
    )
    .unwrap()
}

/// Change a byte and put a correct checksum back, so the change itself is what
/// the decoder sees.
fn patched(mut msg: Vec<u8>, version: Version, ends: Endpoints, at: usize, value: u8) -> Vec<u8> {
    msg[at] = value;
    let sum = checksum::expected(version, ends, ChecksumMode::PseudoHeader, &msg);
    msg[6..8].copy_from_slice(&sum.to_be_bytes());
    msg
}

fn dec(msg: &[u8], ends: Endpoints) -> Result<Advert, DecodeError> {
    decode(msg, ends, ChecksumAccept::Either)
}

#[test]
fn baseline_messages_decode() {
    assert!(dec(&v3_msg(), V4).is_ok());
    assert!(dec(&v2_msg(), V4).is_ok());
}

#[test]
fn truncated_header() {
    for len in 0..8 {
        assert_eq!(
            dec(&v3_msg()[..len], V4),
            Err(DecodeError::Truncated { need: 8, have: len })
        );
    }
}

#[test]
fn bad_version() {
    for v in [0u8, 1, 4, 15] {
        let msg = patched(v3_msg(), Version::V3, V4, 0, v << 4 | 1);
        assert_eq!(dec(&msg, V4), Err(DecodeError::BadVersion(v)));
    }
}

#[test]
fn v2_over_ipv6() {
    assert_eq!(dec(&v2_msg(), V6), Err(DecodeError::V2OverIpv6));
}

#[test]
fn length_mismatch() {
    let msg = v3_msg(); // 2 IPv4 addresses: 16 bytes
    assert_eq!(
        dec(&msg[..15], V4),
        Err(DecodeError::LengthMismatch {
            count: 2,
            len: 15,
            expected: 16
        })
    );
    let mut long = msg.clone();
    long.push(0);
    assert_eq!(
        dec(&long, V4),
        Err(DecodeError::LengthMismatch {
            count: 2,
            len: 17,
            expected: 16
        })
    );
    // The same 16 bytes read as IPv6 would need 8 + 2 * 16.
    assert_eq!(
        dec(&msg, V6),
        Err(DecodeError::LengthMismatch {
            count: 2,
            len: 16,
            expected: 40
        })
    );
    // v2 counts its 8 bytes of auth data.
    let v2 = v2_msg();
    assert_eq!(
        dec(&v2[..12], V4),
        Err(DecodeError::LengthMismatch {
            count: 1,
            len: 12,
            expected: 20
        })
    );
}

#[test]
fn bad_checksum() {
    let mut msg = v3_msg();
    let good = checksum::stored(&msg).unwrap();
    msg[6..8].copy_from_slice(&(good ^ 0x0101).to_be_bytes());
    assert_eq!(
        decode(&msg, V4, ChecksumAccept::PseudoHeader),
        Err(DecodeError::BadChecksum {
            expected: good,
            found: good ^ 0x0101
        })
    );
    // A flipped payload bit is caught too, in every mode.
    let mut msg = v3_msg();
    msg[9] ^= 0x40;
    for accept in [
        ChecksumAccept::PseudoHeader,
        ChecksumAccept::MessageOnly,
        ChecksumAccept::Either,
    ] {
        assert!(matches!(
            decode(&msg, V4, accept),
            Err(DecodeError::BadChecksum { .. })
        ));
    }
    // A pseudo-header over other endpoints does not verify.
    let other = Endpoints::V4 {
        src: Ipv4Addr::new(192, 0, 2, 2),
        dst: Ipv4Addr::new(224, 0, 0, 18),
    };
    assert!(matches!(
        decode(&v3_msg(), other, ChecksumAccept::PseudoHeader),
        Err(DecodeError::BadChecksum { .. })
    ));
}

/// One's complement's other zero: a message whose checksum computes to 0x0000 may
/// carry 0xffff (RFC 1071 §1). Found by fuzz/fuzz_targets/validate.rs, where the
/// datapath's validator accepted such an advert and this codec did not.
#[test]
fn checksum_negative_zero() {
    // v2, VRID 1, priority 100, 1 s, 10.1.112.251: the words sum to 0xffff.
    let mut msg = vec![0x21, 1, 100, 1, 0, 1, 0, 0, 10, 1, 112, 251];
    msg.extend_from_slice(&[0; 8]);
    assert_eq!(checksum::vrrp_v2(&msg), 0x0000);
    assert!(dec(&msg, V4).is_ok());
    msg[6..8].copy_from_slice(&[0xff, 0xff]);
    assert_eq!(dec(&msg, V4).map(|a| a.vrid), Ok(1));
    // Only when the computed value is zero: elsewhere 0xffff is just wrong.
    let mut other = v2_msg();
    other[6..8].copy_from_slice(&[0xff, 0xff]);
    assert!(matches!(
        dec(&other, V4),
        Err(DecodeError::BadChecksum { found: 0xffff, .. })
    ));
}

#[test]
fn bad_type() {
    for t in [0u8, 2, 15] {
        let msg = patched(v3_msg(), Version::V3, V4, 0, 0x30 | t);
        assert_eq!(dec(&msg, V4), Err(DecodeError::BadType(t)));
    }
}

#[test]
fn zero_vrid() {
    let msg = patched(v3_msg(), Version::V3, V4, 1, 0);
    assert_eq!(dec(&msg, V4), Err(DecodeError::ZeroVrid));
}

#[test]
fn no_addresses() {
    let msg = patched(v3_msg()[..8].to_vec(), Version::V3, V4, 3, 0);
    assert_eq!(dec(&msg, V4), Err(DecodeError::NoAddresses));
}

#[test]
fn zero_interval() {
    let msg = patched(
        patched(v3_msg(), Version::V3, V4, 4, 0),
        Version::V3,
        V4,
        5,
        0,
    );
    assert_eq!(dec(&msg, V4), Err(DecodeError::ZeroInterval));
    // The reserved nibble is not part of the interval.
    let msg = patched(
        patched(v3_msg(), Version::V3, V4, 4, 0xf0),
        Version::V3,
        V4,
        5,
        0,
    );
    assert_eq!(dec(&msg, V4), Err(DecodeError::ZeroInterval));
    let msg = patched(v2_msg(), Version::V2, V4, 5, 0);
    assert_eq!(dec(&msg, V4), Err(DecodeError::ZeroInterval));
}

#[test]
fn reserved_bits_are_ignored() {
    let msg = patched(v3_msg(), Version::V3, V4, 4, 0xf0);
    assert_eq!(dec(&msg, V4).unwrap().max_adver_int_cs, 100);
}

#[test]
fn bad_auth_type() {
    let msg = patched(v2_msg(), Version::V2, V4, 4, 3);
    assert_eq!(dec(&msg, V4), Err(DecodeError::BadAuthType(3)));
    let msg = patched(v2_msg(), Version::V2, V4, 4, 2);
    assert_eq!(
        dec(&msg, V4).unwrap().auth.unwrap().auth_type,
        AuthType::IpAh
    );
}

#[test]
fn encode_zero_vrid() {
    let a = Advert::v3(0, 100, 100, vec![v4(1)]);
    assert_eq!(
        encode(&a, V4, ChecksumMode::PseudoHeader),
        Err(EncodeError::ZeroVrid)
    );
}

#[test]
fn encode_address_count() {
    let none = Advert::v3(1, 100, 100, vec![]);
    assert_eq!(
        encode(&none, V4, ChecksumMode::PseudoHeader),
        Err(EncodeError::NoAddresses)
    );
    let max = Advert::v3(1, 100, 100, (0..=254).map(v4).collect());
    assert_eq!(
        encode(&max, V4, ChecksumMode::PseudoHeader).unwrap().len(),
        8 + 255 * 4
    );
    let mut too_many = max.clone();
    too_many.addrs.push(v4(255));
    assert_eq!(
        encode(&too_many, V4, ChecksumMode::PseudoHeader),
        Err(EncodeError::TooManyAddresses(256))
    );
}

#[test]
fn encode_family_mismatch() {
    let a = Advert::v3(1, 100, 100, vec![v4(1), IpAddr::V6(Ipv6Addr::LOCALHOST)]);
    assert_eq!(
        encode(&a, V4, ChecksumMode::PseudoHeader),
        Err(EncodeError::FamilyMismatch(IpAddr::V6(Ipv6Addr::LOCALHOST)))
    );
    assert_eq!(
        encode(
            &Advert::v3(1, 100, 100, vec![v4(1)]),
            V6,
            ChecksumMode::PseudoHeader
        ),
        Err(EncodeError::FamilyMismatch(v4(1)))
    );
}

#[test]
fn encode_v2_over_ipv6() {
    let a = Advert::v2(
        1,
        100,
        1,
        vec![IpAddr::V6(Ipv6Addr::LOCALHOST)],
        V2Auth::NONE,
    );
    assert_eq!(
        encode(&a, V6, ChecksumMode::PseudoHeader),
        Err(EncodeError::V2OverIpv6)
    );
}

#[test]
fn encode_interval_out_of_range() {
    for (version, cs) in [
        (Version::V3, 0),
        (Version::V3, 4096),
        (Version::V2, 0),
        (Version::V2, 150),
        (Version::V2, 25600),
    ] {
        let mut a = Advert::v3(1, 100, cs, vec![v4(1)]);
        if version == Version::V2 {
            a.version = Version::V2;
            a.auth = Some(V2Auth::NONE);
        }
        assert_eq!(
            encode(&a, V4, ChecksumMode::PseudoHeader),
            Err(EncodeError::IntervalOutOfRange { version, cs })
        );
    }
    for (version, cs) in [(Version::V3, 1), (Version::V3, 4095)] {
        let a = Advert {
            version,
            ..Advert::v3(1, 100, cs, vec![v4(1)])
        };
        assert!(encode(&a, V4, ChecksumMode::PseudoHeader).is_ok());
    }
    let a = Advert::v2(1, 100, 255, vec![v4(1)], V2Auth::NONE);
    assert_eq!(a.max_adver_int_cs, 25500);
    assert!(encode(&a, V4, ChecksumMode::PseudoHeader).is_ok());
}

#[test]
fn encode_auth_must_match_version() {
    let mut v2 = Advert::v2(1, 100, 1, vec![v4(1)], V2Auth::NONE);
    v2.auth = None;
    assert_eq!(
        encode(&v2, V4, ChecksumMode::PseudoHeader),
        Err(EncodeError::MissingV2Auth)
    );
    let mut v3 = Advert::v3(1, 100, 100, vec![v4(1)]);
    v3.auth = Some(V2Auth::NONE);
    assert_eq!(
        encode(&v3, V4, ChecksumMode::PseudoHeader),
        Err(EncodeError::AuthOnV3)
    );
}

#[test]
fn simple_text_password_length() {
    assert_eq!(V2Auth::simple_text(b"12345678").unwrap().data, *b"12345678");
    assert_eq!(V2Auth::simple_text(b"ab").unwrap().data, *b"ab\0\0\0\0\0\0");
    assert_eq!(V2Auth::simple_text(b"123456789"), None);
}

#[test]
fn errors_display_the_field() {
    assert_eq!(
        DecodeError::BadVersion(4).to_string(),
        "version field is 4, want 2 or 3"
    );
    assert_eq!(
        DecodeError::BadChecksum {
            expected: 0x1234,
            found: 0xabcd
        }
        .to_string(),
        "checksum field is 0xabcd, computed 0x1234"
    );
    assert_eq!(
        EncodeError::IntervalOutOfRange {
            version: Version::V2,
            cs: 150
        }
        .to_string(),
        "interval 150 cs does not fit the V2 field"
    );
}

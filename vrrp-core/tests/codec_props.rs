//! Property tests: decoding never panics, and encode then decode is the identity.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use vrrp_core::packet::{
    Advert, AuthType, ChecksumAccept, ChecksumMode, Endpoints, V2Auth, Version, decode, encode,
};

fn endpoints_v4() -> impl Strategy<Value = Endpoints> {
    (any::<[u8; 4]>(), any::<[u8; 4]>()).prop_map(|(s, d)| Endpoints::V4 {
        src: Ipv4Addr::from(s),
        dst: Ipv4Addr::from(d),
    })
}

fn endpoints_v6() -> impl Strategy<Value = Endpoints> {
    (any::<[u8; 16]>(), any::<[u8; 16]>()).prop_map(|(s, d)| Endpoints::V6 {
        src: Ipv6Addr::from(s),
        dst: Ipv6Addr::from(d),
    })
}

fn endpoints() -> impl Strategy<Value = Endpoints> {
    prop_oneof![endpoints_v4(), endpoints_v6()]
}

fn accept() -> impl Strategy<Value = ChecksumAccept> {
    prop_oneof![
        Just(ChecksumAccept::PseudoHeader),
        Just(ChecksumAccept::MessageOnly),
        Just(ChecksumAccept::Either),
    ]
}

fn mode() -> impl Strategy<Value = ChecksumMode> {
    prop_oneof![
        Just(ChecksumMode::PseudoHeader),
        Just(ChecksumMode::MessageOnly)
    ]
}

fn v4_addrs() -> impl Strategy<Value = Vec<IpAddr>> {
    prop::collection::vec(any::<[u8; 4]>().prop_map(IpAddr::from), 1..=40)
}

fn v6_addrs() -> impl Strategy<Value = Vec<IpAddr>> {
    prop::collection::vec(any::<[u8; 16]>().prop_map(IpAddr::from), 1..=20)
}

fn v2_auth() -> impl Strategy<Value = V2Auth> {
    let auth_type = prop_oneof![
        Just(AuthType::NoAuth),
        Just(AuthType::SimpleText),
        Just(AuthType::IpAh)
    ];
    (auth_type, any::<[u8; 8]>()).prop_map(|(auth_type, data)| V2Auth { auth_type, data })
}

/// A valid advert with endpoints it can travel between: v2, v3 over IPv4, v3 over IPv6.
fn valid() -> impl Strategy<Value = (Advert, Endpoints)> {
    let v2 = (
        1..=255u8,
        any::<u8>(),
        1..=255u8,
        v4_addrs(),
        v2_auth(),
        endpoints_v4(),
    )
        .prop_map(|(vrid, prio, secs, addrs, auth, ends)| {
            (Advert::v2(vrid, prio, secs, addrs, auth), ends)
        });
    let v3_v4 = (
        1..=255u8,
        any::<u8>(),
        1..=4095u16,
        v4_addrs(),
        endpoints_v4(),
    )
        .prop_map(|(vrid, prio, cs, addrs, ends)| (Advert::v3(vrid, prio, cs, addrs), ends));
    let v3_v6 = (
        1..=255u8,
        any::<u8>(),
        1..=4095u16,
        v6_addrs(),
        endpoints_v6(),
    )
        .prop_map(|(vrid, prio, cs, addrs, ends)| (Advert::v3(vrid, prio, cs, addrs), ends));
    prop_oneof![v2, v3_v4, v3_v6]
}

fn matching(mode: ChecksumMode) -> ChecksumAccept {
    match mode {
        ChecksumMode::PseudoHeader => ChecksumAccept::PseudoHeader,
        ChecksumMode::MessageOnly => ChecksumAccept::MessageOnly,
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        ends in endpoints(),
        accept in accept(),
    ) {
        let _ = decode(&bytes, ends, accept);
    }

    /// Valid messages with random bytes overwritten: the inputs that get past the
    /// length and version checks and exercise the rest of the decoder. Whatever
    /// decodes must encode back to a message that decodes to the same advert.
    #[test]
    fn corrupted_messages_never_panic(
        (advert, ends) in valid(),
        mode in mode(),
        accept in accept(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut msg = encode(&advert, ends, mode).unwrap();
        for (at, value) in edits {
            let i = at.index(msg.len());
            msg[i] = value;
        }
        if let Ok(got) = decode(&msg, ends, accept) {
            let again = encode(&got, ends, mode).unwrap();
            prop_assert_eq!(decode(&again, ends, ChecksumAccept::Either), Ok(got));
        }
    }

    #[test]
    fn encode_then_decode_is_identity((advert, ends) in valid(), mode in mode()) {
        let msg = encode(&advert, ends, mode).unwrap();
        prop_assert_eq!(msg.len(), advert.encoded_len(ends.is_ipv6()));
        prop_assert_eq!(msg[0] >> 4, advert.version.number());
        prop_assert_eq!(decode(&msg, ends, matching(mode)), Ok(advert.clone()));
        prop_assert_eq!(decode(&msg, ends, ChecksumAccept::Either), Ok(advert));
    }

    /// The two v3-over-IPv4 checksum forms differ (unless they collide by chance),
    /// and each is refused where only the other is accepted.
    #[test]
    fn checksum_modes_are_distinct_for_v3_ipv4((advert, ends) in valid()) {
        prop_assume!(advert.version == Version::V3 && !ends.is_ipv6());
        let pseudo = encode(&advert, ends, ChecksumMode::PseudoHeader).unwrap();
        let plain = encode(&advert, ends, ChecksumMode::MessageOnly).unwrap();
        prop_assume!(pseudo != plain);
        prop_assert!(decode(&pseudo, ends, ChecksumAccept::MessageOnly).is_err());
        prop_assert!(decode(&plain, ends, ChecksumAccept::PseudoHeader).is_err());
    }

    /// For v2 and for IPv6 there is one checksum form, so the mode changes nothing.
    #[test]
    fn mode_is_ignored_outside_v3_ipv4((advert, ends) in valid()) {
        prop_assume!(advert.version == Version::V2 || ends.is_ipv6());
        prop_assert_eq!(
            encode(&advert, ends, ChecksumMode::PseudoHeader).unwrap(),
            encode(&advert, ends, ChecksumMode::MessageOnly).unwrap()
        );
    }
}

//! Fuzz the VRRP decoder: it must never panic, and whatever it accepts must
//! survive encode then decode unchanged.
//!
//! Input layout: byte 0 picks the family (bit 0) and the checksum acceptance
//! (bits 1-2); then the IP source and destination (4 + 4 or 16 + 16 bytes);
//! the rest is the VRRP message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::{Ipv4Addr, Ipv6Addr};
use vrrp_core::packet::{ChecksumAccept, ChecksumMode, Endpoints, decode, encode};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (ends, msg) = if flags & 1 == 0 {
        let Some((addrs, msg)) = rest.split_first_chunk::<8>() else {
            return;
        };
        let [s, d] =
            [0, 4].map(|i| Ipv4Addr::new(addrs[i], addrs[i + 1], addrs[i + 2], addrs[i + 3]));
        (Endpoints::V4 { src: s, dst: d }, msg)
    } else {
        let Some((addrs, msg)) = rest.split_first_chunk::<32>() else {
            return;
        };
        let mut s = [0u8; 16];
        let mut d = [0u8; 16];
        s.copy_from_slice(&addrs[..16]);
        d.copy_from_slice(&addrs[16..]);
        (
            Endpoints::V6 {
                src: Ipv6Addr::from(s),
                dst: Ipv6Addr::from(d),
            },
            msg,
        )
    };
    let accept = match (flags >> 1) & 3 {
        0 => ChecksumAccept::PseudoHeader,
        1 => ChecksumAccept::MessageOnly,
        _ => ChecksumAccept::Either,
    };
    if let Ok(advert) = decode(msg, ends, accept) {
        let mode = match accept {
            ChecksumAccept::MessageOnly => ChecksumMode::MessageOnly,
            _ => ChecksumMode::PseudoHeader,
        };
        let again = encode(&advert, ends, mode).expect("a decoded advert encodes");
        assert_eq!(decode(&again, ends, accept), Ok(advert));
    }
});

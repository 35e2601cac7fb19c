//! VRRP checksums, as pure functions so the receive paths can verify with them too.
//!
//! Every `vrrp_*` function returns the value that belongs in the message's checksum
//! field (bytes 6..8), treating that field as zero whatever it holds now. So a
//! received message is intact when the function's result equals [`stored`], and
//! a message being built need not zero the field first.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{ChecksumMode, Endpoints, IPPROTO_VRRP, Version};

/// Byte offset of the checksum field in both versions.
const FIELD: usize = 6;

/// RFC 1071 Internet checksum of `data`: the one's complement of the one's
/// complement sum of its 16-bit big-endian words, an odd last byte padded with zero.
pub fn internet_checksum(data: &[u8]) -> u16 {
    finish(add(0, data))
}

/// Whether a stored checksum `found` verifies against the computed `expected`.
///
/// One's complement has two zeros: when the computed checksum is 0x0000, a field of
/// 0xffff makes the whole message sum to all ones just as well, and RFC 1071 §1's
/// receive check ("the sum over the octets, checksum included, is all 1 bits")
/// accepts it. So do the kernel, keepalived and the datapath's validator; the fuzzer
/// found the codec comparing the field literally.
pub fn verifies(found: u16, expected: u16) -> bool {
    found == expected || (expected == 0 && found == 0xffff)
}

/// The checksum field of `msg`, `None` if the message is too short to have one.
pub fn stored(msg: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(FIELD)?, *msg.get(FIELD + 1)?]))
}

/// Checksum over the VRRP message alone: VRRPv2 (RFC 3768 section 5.3.8), and
/// VRRPv3 over IPv4 as RFC 9568 section 5.2.8 / keepalived `v3_checksum_as_v2` have it.
pub fn vrrp_v2(msg: &[u8]) -> u16 {
    finish(add_message(0, msg))
}

/// VRRPv3 over IPv4 with the pseudo-header RFC 5798 asked for (keepalived's default):
///
/// ```text
/// +---------------------------------------------------------------+
/// |                    IPv4 source address                        |
/// +---------------------------------------------------------------+
/// |                  IPv4 destination address                     |
/// +---------------+---------------+-------------------------------+
/// |     zero      |   112 (VRRP)  |    VRRP message length        |
/// +---------------+---------------+-------------------------------+
/// ```
///
/// `dst` is whatever the sender put in its pseudo-header: the real destination for
/// keepalived 2.2.7, but 224.0.0.18 even on unicast for keepalived's
/// `old_unicast_checksum` (its pre-1.3.6 behaviour).
pub fn vrrp_v3_ipv4(src: Ipv4Addr, dst: Ipv4Addr, msg: &[u8]) -> u16 {
    let mut acc = add(0, &src.octets());
    acc = add(acc, &dst.octets());
    acc = add(acc, &[0, IPPROTO_VRRP]);
    // An IPv4 payload cannot exceed 16 bits of length; wrapping cannot happen on
    // real packets and keeps the function total.
    acc = add(acc, &(msg.len() as u16).to_be_bytes());
    finish(add_message(acc, msg))
}

/// VRRPv3 over IPv6 (RFC 9568 section 5.2.8), with the RFC 8200 section 8.1
/// pseudo-header; the kernel computes the same value for `IPV6_CHECKSUM` sockets:
///
/// ```text
/// +---------------------------------------------------------------+
/// |                 IPv6 source address (16 bytes)                |
/// +---------------------------------------------------------------+
/// |              IPv6 destination address (16 bytes)              |
/// +---------------------------------------------------------------+
/// |                VRRP message length (32 bits)                  |
/// +-----------------------------------------------+---------------+
/// |                 zero (24 bits)                |  112 (VRRP)   |
/// +-----------------------------------------------+---------------+
/// ```
pub fn vrrp_v3_ipv6(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    let mut acc = add(0, &src.octets());
    acc = add(acc, &dst.octets());
    acc = add(acc, &(msg.len() as u32).to_be_bytes());
    acc = add(acc, &[0, 0, 0, IPPROTO_VRRP]);
    finish(add_message(acc, msg))
}

/// The checksum a message of `version` carried between `ends` should have under
/// `mode`; `mode` only matters for VRRPv3 over IPv4 (see [`ChecksumMode`]).
pub fn expected(version: Version, ends: Endpoints, mode: ChecksumMode, msg: &[u8]) -> u16 {
    match (version, ends, mode) {
        (Version::V2, _, _) | (Version::V3, Endpoints::V4 { .. }, ChecksumMode::MessageOnly) => {
            vrrp_v2(msg)
        }
        (Version::V3, Endpoints::V4 { src, dst }, ChecksumMode::PseudoHeader) => {
            vrrp_v3_ipv4(src, dst, msg)
        }
        (Version::V3, Endpoints::V6 { src, dst }, _) => vrrp_v3_ipv6(src, dst, msg),
    }
}

/// Add `msg` to the running sum, skipping the checksum field. Both pieces start at
/// an even offset, so word alignment is kept.
fn add_message(acc: u64, msg: &[u8]) -> u64 {
    let head = &msg[..msg.len().min(FIELD)];
    let tail = msg.get(FIELD + 2..).unwrap_or(&[]);
    add(add(acc, head), tail)
}

/// Add big-endian 16-bit words to a running sum without folding. The u64 cannot
/// overflow for any slice that fits in memory. Only the last piece may be odd.
fn add(acc: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(2);
    let mut acc = acc;
    for w in words.by_ref() {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Fold the carries back in and complement.
fn finish(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 section 3's worked example: bytes 00 01 f2 03 f4 f5 f6 f7 sum to
    /// ddf2 (folded), whose complement is 220d.
    #[test]
    fn rfc1071_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(internet_checksum(&data), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(
            internet_checksum(&[0x12, 0x34, 0x56]),
            internet_checksum(&[0x12, 0x34, 0x56, 0])
        );
        assert_eq!(internet_checksum(&[]), 0xffff);
    }

    #[test]
    fn checksum_field_is_ignored() {
        let a = [0x31, 1, 100, 1, 0, 100, 0x00, 0x00, 10, 0, 0, 1];
        let mut b = a;
        b[6] = 0xab;
        b[7] = 0xcd;
        assert_eq!(vrrp_v2(&a), vrrp_v2(&b));
        assert_eq!(vrrp_v2(&a), internet_checksum(&a));
    }

    /// A message carrying its own checksum sums to zero, the classic receive check.
    #[test]
    fn filled_message_sums_to_zero() {
        let mut msg = [0x31, 7, 200, 1, 0, 100, 0, 0, 192, 0, 2, 1];
        let c = vrrp_v2(&msg);
        msg[6..8].copy_from_slice(&c.to_be_bytes());
        assert_eq!(internet_checksum(&msg), 0);
    }

    #[test]
    fn short_input_does_not_panic() {
        for len in 0..10 {
            let msg = vec![0xffu8; len];
            let _ = vrrp_v2(&msg);
            let _ = vrrp_v3_ipv4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, &msg);
            let _ = vrrp_v3_ipv6(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, &msg);
        }
        assert_eq!(stored(&[0; 7]), None);
        assert_eq!(stored(&[0, 0, 0, 0, 0, 0, 0xbe, 0xef]), Some(0xbeef));
    }
}

//! Why a message could not be decoded or an advert encoded; each variant names the field.

use std::net::IpAddr;

use thiserror::Error;

use super::Version;

/// A received message rejected by [`decode`](super::decode). Checked in this order:
/// length of the fixed header, version, version against family, total length,
/// checksum, then the remaining fields, so a corrupted message reports the checksum
/// rather than whatever field the corruption happened to hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("message truncated: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    #[error("version field is {0}, want 2 or 3")]
    BadVersion(u8),
    #[error("VRRPv2 message carried over IPv6 (VRRPv2 is IPv4 only)")]
    V2OverIpv6,
    #[error("length {len} does not fit the address count {count} (want {expected})")]
    LengthMismatch {
        count: u8,
        len: usize,
        expected: usize,
    },
    #[error("checksum field is {found:#06x}, computed {expected:#06x}")]
    BadChecksum { expected: u16, found: u16 },
    #[error("type field is {0}, want 1 (ADVERTISEMENT)")]
    BadType(u8),
    #[error("VRID field is 0")]
    ZeroVrid,
    #[error("address count field is 0")]
    NoAddresses,
    #[error("advertisement interval field is 0")]
    ZeroInterval,
    #[error("VRRPv2 auth type field is {0}, want 0, 1 or 2")]
    BadAuthType(u8),
}

/// An [`Advert`](super::Advert) that cannot be put on the wire by
/// [`encode`](super::encode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("VRID 0 is not a valid virtual router id")]
    ZeroVrid,
    #[error("an advert needs at least one address")]
    NoAddresses,
    #[error("{0} addresses do not fit the 8-bit count field")]
    TooManyAddresses(usize),
    #[error("address {0} is not of the family of the IP endpoints")]
    FamilyMismatch(IpAddr),
    #[error("VRRPv2 cannot be carried over IPv6")]
    V2OverIpv6,
    #[error("interval {cs} cs does not fit the {version:?} field")]
    IntervalOutOfRange { version: Version, cs: u16 },
    #[error("VRRPv2 advert without authentication fields")]
    MissingV2Auth,
    #[error("VRRPv3 advert with VRRPv2 authentication fields")]
    AuthOnV3,
}

//! VRRP advertisement codec: VRRPv3 (RFC 9568) over IPv4 and IPv6, VRRPv2 (RFC 3768).
//!
//! The daemon sends through a raw `IPPROTO_VRRP` socket and the kernel writes the IP
//! header, so [`encode`] produces the VRRP message only and [`decode`] takes the IP
//! payload only. Both still need the IP source and destination ([`Endpoints`]): the
//! v3 checksum covers a pseudo-header built from them, and the address family decides
//! how the address list is read (the message itself does not say).
//!
//! Pure functions, no I/O. Decoding never panics and names the field it rejects.

pub mod checksum;
mod decode;
mod encode;
mod error;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use decode::decode;
pub use encode::encode;
pub use error::{DecodeError, EncodeError};

/// IP protocol number of VRRP (both versions).
pub const IPPROTO_VRRP: u8 = 112;
/// Group that IPv4 adverts are sent to when not unicast.
pub const MULTICAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// Group that IPv6 adverts are sent to when not unicast.
pub const MULTICAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The fixed part shared by both versions: version/type, VRID, priority, count,
/// two interval/auth bytes, checksum.
pub const HEADER_LEN: usize = 8;
/// Trailing authentication data of a VRRPv2 message.
pub const V2_AUTH_LEN: usize = 8;
/// The only message type either version defines (ADVERTISEMENT).
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// Largest v3 Max Adver Int: the field is 12 bits of centiseconds (40.95 s).
pub const V3_MAX_INTERVAL_CS: u16 = 0x0fff;
/// Largest v2 interval, in centiseconds: the field is 8 bits of whole seconds.
pub const V2_MAX_INTERVAL_CS: u16 = 255 * 100;

/// Protocol version, the high nibble of the first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// RFC 3768: IPv4 only, interval in seconds, 8 bytes of authentication data.
    V2,
    /// RFC 9568: IPv4 or IPv6, interval in centiseconds, no authentication.
    V3,
}

impl Version {
    /// The value carried in the version nibble.
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// One VRRP advertisement, either version, as the state machine sees it.
///
/// VRRPv3 (RFC 9568 section 5.1), the IPv4 or IPv6 payload:
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-------+-------+---------------+---------------+---------------+
/// |Version| Type  |     VRID      |   Priority    | Count IPvX    |
/// |  =3   |  =1   |    1..255     |    0..255     |  Addr, >= 1   |
/// +-------+-------+---------------+---------------+---------------+
/// | Rsvd  | Max Adver Int, 12 bits|           Checksum            |
/// |  =0   | in CENTISECONDS       |                               |
/// +-------+-----------------------+-------------------------------+
/// |                                                               |
/// +       Count IPvX Addr addresses: 4 bytes each for IPv4,       +
/// |       16 bytes each for IPv6                                  |
/// +---------------------------------------------------------------+
/// ```
///
/// VRRPv2 (RFC 3768 section 5.1), IPv4 only:
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-------+-------+---------------+---------------+---------------+
/// |Version| Type  |     VRID      |   Priority    | Count IP Addrs|
/// |  =2   |  =1   |    1..255     |    0..255     |     >= 1      |
/// +-------+-------+---------------+---------------+---------------+
/// |   Auth Type   | Adver Int, in |           Checksum            |
/// |   0, 1 or 2   | SECONDS       |                               |
/// +---------------+---------------+-------------------------------+
/// |          Count IP Addrs IPv4 addresses, 4 bytes each          |
/// +---------------------------------------------------------------+
/// |              Authentication Data, 8 bytes (two words)         |
/// +---------------------------------------------------------------+
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    pub version: Version,
    /// Virtual router id, 1..=255 (0 is invalid in both RFCs).
    pub vrid: u8,
    /// 255 = address owner, 0 = the master is leaving.
    pub priority: u8,
    /// Advertisement interval in centiseconds, for both versions, so that timers
    /// need no version check. v3: the 12-bit field as is, 1..=4095. v2: the 8-bit
    /// seconds field times 100, so 100..=25500 in steps of 100; [`encode`] refuses
    /// a v2 advert whose interval is not a whole number of seconds.
    pub max_adver_int_cs: u16,
    /// Virtual addresses, all of the family of the [`Endpoints`]; 1..=255 of them.
    pub addrs: Vec<IpAddr>,
    /// v2 authentication; `Some` exactly when `version` is [`Version::V2`].
    pub auth: Option<V2Auth>,
}

impl Advert {
    /// A VRRPv3 advert (interval in centiseconds).
    pub fn v3(vrid: u8, priority: u8, max_adver_int_cs: u16, addrs: Vec<IpAddr>) -> Self {
        Advert {
            version: Version::V3,
            vrid,
            priority,
            max_adver_int_cs,
            addrs,
            auth: None,
        }
    }

    /// A VRRPv2 advert (interval in whole seconds, as the v2 wire carries it).
    pub fn v2(vrid: u8, priority: u8, adver_int_s: u8, addrs: Vec<IpAddr>, auth: V2Auth) -> Self {
        Advert {
            version: Version::V2,
            vrid,
            priority,
            max_adver_int_cs: u16::from(adver_int_s) * 100,
            addrs,
            auth: Some(auth),
        }
    }

    /// Length of the encoded message, for the address family given by `ipv6`.
    pub fn encoded_len(&self, ipv6: bool) -> usize {
        message_len(self.version, self.addrs.len(), ipv6)
    }
}

/// Length a message of `version` with `count` addresses has; the one place this
/// arithmetic lives, shared by the encoder and the decoder.
fn message_len(version: Version, count: usize, ipv6: bool) -> usize {
    let addr_len = if ipv6 { 16 } else { 4 };
    let auth_len = match version {
        Version::V2 => V2_AUTH_LEN,
        Version::V3 => 0,
    };
    HEADER_LEN + count * addr_len + auth_len
}

/// VRRPv2 Auth Type (RFC 3768 section 5.3.6). RFC 3768 keeps only 0; 1 and 2 are
/// the RFC 2338 types that keepalived still sends (`auth_type PASS` / `AH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// 0: no authentication; data is zero on send and ignored on receipt.
    NoAuth,
    /// 1: plain-text password in the data, NUL padded.
    SimpleText,
    /// 2: IP Authentication Header; the VRRP data field itself carries nothing useful.
    IpAh,
}

impl AuthType {
    /// The value carried in the Auth Type byte.
    pub fn number(self) -> u8 {
        match self {
            AuthType::NoAuth => 0,
            AuthType::SimpleText => 1,
            AuthType::IpAh => 2,
        }
    }

    /// The type for an Auth Type byte, `None` for values no RFC defines.
    pub fn from_number(n: u8) -> Option<Self> {
        match n {
            0 => Some(AuthType::NoAuth),
            1 => Some(AuthType::SimpleText),
            2 => Some(AuthType::IpAh),
            _ => None,
        }
    }
}

/// The Auth Type byte and the 8 Authentication Data bytes of a VRRPv2 message.
/// Kept verbatim so that encoding a decoded advert gives back the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct V2Auth {
    pub auth_type: AuthType,
    pub data: [u8; V2_AUTH_LEN],
}

impl V2Auth {
    /// No authentication, zero data: what keepalived 2.2.7 sends by default.
    pub const NONE: V2Auth = V2Auth {
        auth_type: AuthType::NoAuth,
        data: [0; V2_AUTH_LEN],
    };

    /// Simple-text password, NUL padded to 8 bytes; `None` if longer than 8 bytes.
    pub fn simple_text(password: &[u8]) -> Option<Self> {
        if password.len() > V2_AUTH_LEN {
            return None;
        }
        let mut data = [0; V2_AUTH_LEN];
        data[..password.len()].copy_from_slice(password);
        Some(V2Auth {
            auth_type: AuthType::SimpleText,
            data,
        })
    }
}

/// Source and destination of the IP packet carrying the message. Both halves of one
/// family by construction, since the pseudo-header and the address list need one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoints {
    V4 { src: Ipv4Addr, dst: Ipv4Addr },
    V6 { src: Ipv6Addr, dst: Ipv6Addr },
}

impl Endpoints {
    /// Pair two addresses; `None` if their families differ.
    pub fn new(src: IpAddr, dst: IpAddr) -> Option<Self> {
        match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => Some(Endpoints::V4 { src, dst }),
            (IpAddr::V6(src), IpAddr::V6(dst)) => Some(Endpoints::V6 { src, dst }),
            _ => None,
        }
    }

    pub fn is_ipv6(&self) -> bool {
        matches!(self, Endpoints::V6 { .. })
    }

    pub fn src(&self) -> IpAddr {
        match *self {
            Endpoints::V4 { src, .. } => src.into(),
            Endpoints::V6 { src, .. } => src.into(),
        }
    }

    pub fn dst(&self) -> IpAddr {
        match *self {
            Endpoints::V4 { dst, .. } => dst.into(),
            Endpoints::V6 { dst, .. } => dst.into(),
        }
    }
}

/// Which checksum to put on a VRRPv3 advert over IPv4.
///
/// RFC 5798 summed an IPv4 pseudo-header into it, and keepalived (2.2.7 included)
/// does so by default; RFC 9568 section 5.2.8 says the IPv4 checksum covers the VRRP
/// message only, which keepalived calls `v3_checksum_as_v2`. Only v3 over IPv4 is
/// affected: VRRPv2 is always message-only and v3 over IPv6 always has the RFC 8200
/// pseudo-header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChecksumMode {
    /// Pseudo-header (src, dst, 0, 112, length) plus message: keepalived's default.
    #[default]
    PseudoHeader,
    /// Message only, as VRRPv2 does (keepalived `v3_checksum_as_v2`).
    MessageOnly,
}

/// Which VRRPv3-over-IPv4 checksums [`decode`] accepts (see [`ChecksumMode`]);
/// ignored for v2 and for IPv6, whose checksum has one form only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChecksumAccept {
    PseudoHeader,
    MessageOnly,
    /// Either form; for peers whose setting is unknown or mixed.
    #[default]
    Either,
}

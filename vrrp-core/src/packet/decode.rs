//! VRRP message bytes (the IP payload) to Advert, with every RFC receive check that
//! needs nothing but the message and its IP addresses.

use std::net::IpAddr;

use super::{
    Advert, AuthType, ChecksumAccept, ChecksumMode, DecodeError, Endpoints, HEADER_LEN,
    TYPE_ADVERTISEMENT, V2_AUTH_LEN, V2Auth, Version, checksum, message_len,
};

/// Decode the VRRP message `msg` received from `ends.src` at `ends.dst`.
///
/// Checks (RFC 9568 section 7.1, RFC 3768 section 7.1): version 2 or 3, v2 only over
/// IPv4, length exactly as the address count says, checksum (`accept` picks which
/// v3-over-IPv4 forms pass), type ADVERTISEMENT, VRID and count and interval non-zero,
/// v2 auth type known. Not checked, being the router's business: TTL, the VRID
/// being configured, the addresses matching the configuration, the auth data.
/// The v3 reserved nibble is ignored, as RFC 9568 section 5.2.6 asks.
///
/// With [`ChecksumAccept::Either`] a mismatch reports the pseudo-header value as
/// `expected`. Never panics, whatever `msg` holds.
pub fn decode(msg: &[u8], ends: Endpoints, accept: ChecksumAccept) -> Result<Advert, DecodeError> {
    let header: &[u8; HEADER_LEN] = msg.first_chunk().ok_or(DecodeError::Truncated {
        need: HEADER_LEN,
        have: msg.len(),
    })?;
    let version = match header[0] >> 4 {
        2 => Version::V2,
        3 => Version::V3,
        v => return Err(DecodeError::BadVersion(v)),
    };
    if version == Version::V2 && ends.is_ipv6() {
        return Err(DecodeError::V2OverIpv6);
    }
    let count = header[3];
    let expected = message_len(version, usize::from(count), ends.is_ipv6());
    if msg.len() != expected {
        return Err(DecodeError::LengthMismatch {
            count,
            len: msg.len(),
            expected,
        });
    }
    verify_checksum(version, ends, accept, msg)?;

    let msg_type = header[0] & 0x0f;
    if msg_type != TYPE_ADVERTISEMENT {
        return Err(DecodeError::BadType(msg_type));
    }
    let vrid = header[1];
    if vrid == 0 {
        return Err(DecodeError::ZeroVrid);
    }
    if count == 0 {
        return Err(DecodeError::NoAddresses);
    }
    let max_adver_int_cs = match version {
        Version::V2 => u16::from(header[5]) * 100,
        Version::V3 => u16::from_be_bytes([header[4] & 0x0f, header[5]]),
    };
    if max_adver_int_cs == 0 {
        return Err(DecodeError::ZeroInterval);
    }
    let auth = match version {
        Version::V2 => {
            let auth_type =
                AuthType::from_number(header[4]).ok_or(DecodeError::BadAuthType(header[4]))?;
            // Cannot fail after the length check; kept as an error, not a panic.
            let data: &[u8; V2_AUTH_LEN] = msg.last_chunk().ok_or(DecodeError::Truncated {
                need: HEADER_LEN + V2_AUTH_LEN,
                have: msg.len(),
            })?;
            Some(V2Auth {
                auth_type,
                data: *data,
            })
        }
        Version::V3 => None,
    };

    // The length check above makes `count` whole addresses follow the header (and,
    // for v2, the auth data follow them), so `take(count)` takes exactly the list.
    let body = &msg[HEADER_LEN..];
    let addrs = if ends.is_ipv6() {
        let (chunks, _) = body.as_chunks::<16>();
        chunks
            .iter()
            .take(usize::from(count))
            .map(|&a| IpAddr::from(a))
            .collect()
    } else {
        let (chunks, _) = body.as_chunks::<4>();
        chunks
            .iter()
            .take(usize::from(count))
            .map(|&a| IpAddr::from(a))
            .collect()
    };

    Ok(Advert {
        version,
        vrid,
        priority: header[2],
        max_adver_int_cs,
        addrs,
        auth,
    })
}

fn verify_checksum(
    version: Version,
    ends: Endpoints,
    accept: ChecksumAccept,
    msg: &[u8],
) -> Result<(), DecodeError> {
    // Present: the length check above guarantees the 8-byte header.
    let found = checksum::stored(msg).unwrap_or_default();
    let primary = match accept {
        ChecksumAccept::MessageOnly => ChecksumMode::MessageOnly,
        ChecksumAccept::PseudoHeader | ChecksumAccept::Either => ChecksumMode::PseudoHeader,
    };
    let expected = checksum::expected(version, ends, primary, msg);
    if checksum::verifies(found, expected) {
        return Ok(());
    }
    if accept == ChecksumAccept::Either
        && checksum::verifies(
            found,
            checksum::expected(version, ends, ChecksumMode::MessageOnly, msg),
        )
    {
        return Ok(());
    }
    Err(DecodeError::BadChecksum { expected, found })
}

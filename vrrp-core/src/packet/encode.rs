//! Advert to VRRP message bytes (the IP payload; the kernel writes the IP header).

use std::net::IpAddr;

use super::{
    Advert, ChecksumMode, EncodeError, Endpoints, TYPE_ADVERTISEMENT, V2_MAX_INTERVAL_CS,
    V3_MAX_INTERVAL_CS, Version, checksum, message_len,
};

/// Encode `advert` as the VRRP message to send from `ends.src` to `ends.dst`, with
/// its checksum filled in. `mode` picks the VRRPv3-over-IPv4 checksum and is ignored
/// otherwise. Refuses anything [`decode`](super::decode) would reject, so what we
/// send we would also accept.
pub fn encode(
    advert: &Advert,
    ends: Endpoints,
    mode: ChecksumMode,
) -> Result<Vec<u8>, EncodeError> {
    validate(advert, ends)?;
    let count = advert.addrs.len() as u8; // validate() bounded it to 1..=255
    let mut msg = Vec::with_capacity(message_len(
        advert.version,
        advert.addrs.len(),
        ends.is_ipv6(),
    ));
    msg.push(advert.version.number() << 4 | TYPE_ADVERTISEMENT);
    msg.push(advert.vrid);
    msg.push(advert.priority);
    msg.push(count);
    match (advert.version, advert.auth) {
        (Version::V2, Some(auth)) => {
            msg.push(auth.auth_type.number());
            msg.push((advert.max_adver_int_cs / 100) as u8);
        }
        // Top nibble is the reserved field, sent as zero.
        _ => msg.extend_from_slice(&advert.max_adver_int_cs.to_be_bytes()),
    }
    msg.extend_from_slice(&[0, 0]); // checksum, filled in below
    for addr in &advert.addrs {
        match addr {
            IpAddr::V4(a) => msg.extend_from_slice(&a.octets()),
            IpAddr::V6(a) => msg.extend_from_slice(&a.octets()),
        }
    }
    if let Some(auth) = advert.auth {
        msg.extend_from_slice(&auth.data);
    }
    let sum = checksum::expected(advert.version, ends, mode, &msg);
    msg[6..8].copy_from_slice(&sum.to_be_bytes());
    Ok(msg)
}

fn validate(advert: &Advert, ends: Endpoints) -> Result<(), EncodeError> {
    match (advert.version, advert.auth) {
        (Version::V2, _) if ends.is_ipv6() => return Err(EncodeError::V2OverIpv6),
        (Version::V2, None) => return Err(EncodeError::MissingV2Auth),
        (Version::V3, Some(_)) => return Err(EncodeError::AuthOnV3),
        _ => {}
    }
    if advert.vrid == 0 {
        return Err(EncodeError::ZeroVrid);
    }
    match advert.addrs.len() {
        0 => return Err(EncodeError::NoAddresses),
        n if n > usize::from(u8::MAX) => return Err(EncodeError::TooManyAddresses(n)),
        _ => {}
    }
    if let Some(&bad) = advert.addrs.iter().find(|a| a.is_ipv6() != ends.is_ipv6()) {
        return Err(EncodeError::FamilyMismatch(bad));
    }
    let cs = advert.max_adver_int_cs;
    let interval_ok = match advert.version {
        Version::V2 => cs != 0 && cs <= V2_MAX_INTERVAL_CS && cs.is_multiple_of(100),
        Version::V3 => cs != 0 && cs <= V3_MAX_INTERVAL_CS,
    };
    if interval_ok {
        Ok(())
    } else {
        Err(EncodeError::IntervalOutOfRange {
            version: advert.version,
            cs,
        })
    }
}

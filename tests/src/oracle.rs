//! The validator's accepted adverts against the codec's reading of the same bytes,
//! for the proptest (tests/tests/validate_props.rs) and the fuzz target
//! (fuzz/fuzz_targets/validate.rs).

use std::net::{IpAddr, Ipv4Addr};

use vrrp_common::{AdvertRecord, REC_F_V2_CSUM};
use vrrp_core::packet::{ChecksumAccept, DecodeError, Endpoints, decode};

/// Checks that `vrrp_core::packet::decode` reads the VRRP message of the IPv4 packet
/// `ip`, which the validator accepted as `rec`, with the same fields. The codec also
/// refuses v2 auth types no RFC defines; the datapath leaves authentication to the
/// router, so that one refusal is allowed.
pub fn record_matches_decode(ip: &[u8], rec: &AdvertRecord) -> Result<(), String> {
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let tot = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let ends = Endpoints::V4 {
        src: Ipv4Addr::from(rec.src),
        dst: Ipv4Addr::from(rec.dst),
    };
    let accept = if rec.flags & REC_F_V2_CSUM != 0 {
        ChecksumAccept::MessageOnly
    } else {
        ChecksumAccept::PseudoHeader
    };
    match decode(&ip[ihl..tot], ends, accept) {
        Ok(a) => {
            let addrs: Vec<IpAddr> = rec.addrs().iter().map(|&x| IpAddr::from(x)).collect();
            let auth = a.auth.map_or(0, |x| x.auth_type.number());
            let codec = (
                a.version.number(),
                a.vrid,
                a.priority,
                a.max_adver_int_cs,
                auth,
            );
            let ours = (
                rec.version,
                rec.vrid,
                rec.priority,
                rec.adver_int_cs,
                rec.auth_type,
            );
            if codec != ours || a.addrs != addrs {
                return Err(format!("codec read {a:?}, validator {rec:?}"));
            }
            Ok(())
        }
        Err(DecodeError::BadAuthType(t)) if rec.version == 2 && t == rec.auth_type => Ok(()),
        Err(e) => Err(format!("validator accepted what decode refuses: {e}")),
    }
}

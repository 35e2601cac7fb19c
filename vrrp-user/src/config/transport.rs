//! Unicast and multicast transport: source, peers and their TTL bounds.

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;

use super::fields::Checker;
use super::schema::{RawInstance, RawMode, RawPeer};
use super::types::{Peer, Transport};

/// Subnet assumed around a peer written without a prefix length, for the
/// "routed VIP must not sit in a peer's subnet" rule.
const ASSUMED_PEER_PREFIX_V4: u8 = 24;
const ASSUMED_PEER_PREFIX_V6: u8 = 64;

/// A peer whose address parsed.
pub(super) struct ParsedPeer<'r> {
    pub address: IpAddr,
    /// As written, or `None` for a plain address.
    pub declared: Option<IpNet>,
    pub raw: &'r RawPeer,
}

impl ParsedPeer<'_> {
    /// The peer's subnet: declared, or assumed to be a /24 (/64).
    pub fn subnet(&self) -> (IpNet, bool) {
        match self.declared {
            Some(n) => (n.trunc(), false),
            None => {
                let len = match self.address {
                    IpAddr::V4(_) => ASSUMED_PEER_PREFIX_V4,
                    IpAddr::V6(_) => ASSUMED_PEER_PREFIX_V6,
                };
                let net = IpNet::new(self.address, len).expect("prefix length fits the family");
                (net.trunc(), true)
            }
        }
    }
}

pub(super) fn transport(
    c: &mut Checker,
    raw: &RawInstance,
    src: Option<IpNet>,
    peers: &[ParsedPeer],
    ttl: Option<u8>,
) -> Option<Transport> {
    match raw.mode.get_ref() {
        RawMode::Multicast => {
            multicast(c, raw, ttl);
            Some(Transport::Multicast)
        }
        RawMode::Unicast => unicast(c, raw, src, peers, ttl),
    }
}

/// Multicast needs none of the unicast settings, and RFC TTL 255.
fn multicast(c: &mut Checker, raw: &RawInstance, ttl: Option<u8>) {
    if let Some(s) = &raw.unicast_src {
        c.err(
            &s.span(),
            "unicast_src is only used with mode = \"unicast\"",
        );
    }
    if let Some(p) = raw.peers.first() {
        c.err(
            &p.address.span(),
            "peer is only used with mode = \"unicast\"; multicast adverts reach every router on \
             the link",
        );
    }
    if let (Some(t), Some(v)) = (ttl, &raw.ttl)
        && t != 255
    {
        c.err(
            &v.span(),
            format!(
                "ttl = {t}: multicast adverts must be sent with ttl = 255 (receivers drop \
                 anything else)"
            ),
        );
    }
}

fn unicast(
    c: &mut Checker,
    raw: &RawInstance,
    src: Option<IpNet>,
    peers: &[ParsedPeer],
    ttl: Option<u8>,
) -> Option<Transport> {
    let mode_span = raw.mode.span();
    if raw.peers.is_empty() {
        c.err(
            &mode_span,
            "unicast mode needs at least one peer (keepalived would silently fall back to \
             multicast)",
        );
    }
    if raw.unicast_src.is_none() {
        c.err(
            &mode_span,
            "unicast mode needs unicast_src = \"<address>/<prefix>\": this node's address on \
             the advert interface, with the link's prefix length",
        );
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for p in peers {
        if !seen.insert(p.address) {
            c.err(
                &p.raw.address.span(),
                format!("peer.address = \"{}\" is listed twice", p.address),
            );
        }
        out.extend(peer(c, p, src));
    }
    if let (Some(s), Some(1), Some(v)) = (src, ttl, &raw.ttl)
        && let Some(p) = peers.iter().find(|p| !s.contains(&p.address))
    {
        c.err(
            &v.span(),
            format!(
                "ttl = 1 cannot reach peer {}: it is in another subnet and each router \
                 decrements the TTL",
                p.address
            ),
        );
    }
    if out.len() != raw.peers.len() {
        return None;
    }
    Some(Transport::Unicast {
        source: src?,
        peers: out,
    })
}

/// One peer's checks and TTL bounds.
fn peer(c: &mut Checker, p: &ParsedPeer, src: Option<IpNet>) -> Option<Peer> {
    if let Some(s) = src
        && s.addr() == p.address
    {
        c.err(
            &p.raw.address.span(),
            format!(
                "peer.address = \"{}\" is this node's own unicast_src; list the other routers",
                p.address
            ),
        );
    }
    // Adverts from a peer behind a router arrive with TTL < 255 (the RFC's
    // 255 check only holds on one link), so only a same-subnet peer
    // defaults to demanding 255.
    let same_subnet = src.map(|s| s.contains(&p.address));
    let default_min = if same_subnet == Some(true) { 255 } else { 1 };
    let ttl_min = c.opt_int(p.raw.ttl_min.as_ref(), "peer.ttl_min", 1, 255, default_min);
    let ttl_max = c.opt_int(p.raw.ttl_max.as_ref(), "peer.ttl_max", 1, 255, 255);
    if let (Some(s), Some(255), Some(false), Some(v)) = (src, ttl_min, same_subnet, &p.raw.ttl_min)
    {
        c.err(
            &v.span(),
            format!(
                "peer.ttl_min = 255 would drop every advert from {}: it is outside \
                 unicast_src's subnet {}, so its adverts cross a router and arrive with TTL \
                 below 255",
                p.address,
                s.trunc(),
            ),
        );
    }
    if let (Some(lo), Some(hi), Some(v)) = (ttl_min, ttl_max, &p.raw.ttl_min)
        && lo > hi
    {
        c.err(
            &v.span(),
            format!("peer.ttl_min = {lo} is above ttl_max = {hi}: every advert would be dropped"),
        );
    }
    Some(Peer {
        address: p.address,
        subnet: p.declared,
        ttl_min: ttl_min? as u8,
        ttl_max: ttl_max? as u8,
    })
}

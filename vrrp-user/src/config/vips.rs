//! Virtual addresses: placement (link or routed), overlap with the real
//! subnets, labels, and gratuitous ARP.

use std::ops::Range;
use std::time::Duration;

use ipnet::IpNet;
use toml::Spanned;
use vrrp_common::MAX_ADDRS;

use super::fields::{Checker, MAX_MS};
use super::schema::{RawInstance, RawMode, RawVip};
use super::transport::ParsedPeer;
use super::types::{Family, Garp, Links, Scope, Vip};

const DEFAULT_GARP_REPEAT: i64 = 5;
const DEFAULT_GARP_DELAY_MS: i64 = 5000;

pub(super) fn check_vips(
    c: &mut Checker,
    raw: &RawInstance,
    links: Option<&Links>,
    owner: bool,
    src: Option<IpNet>,
    peers: &[ParsedPeer],
    vips: &[(IpNet, &RawVip)],
) -> Option<Vec<Vip>> {
    if raw.vips.is_empty() {
        c.err(
            &raw.name.span(),
            "needs at least one [[instance.vip]]: an advert carries one or more addresses",
        );
        return None;
    }
    if raw.vips.len() > MAX_ADDRS {
        c.err(
            &raw.vips[MAX_ADDRS].address.span(),
            format!(
                "has {} VIPs; the datapath carries at most {MAX_ADDRS} per instance (split them \
                 over several instances)",
                raw.vips.len()
            ),
        );
    }
    let unicast = *raw.mode.get_ref() == RawMode::Unicast;
    if let Some((IpNet::V6(first), r)) = vips.first()
        && !unicast
        && std::ptr::eq(*r, &raw.vips[0])
        && !first.addr().is_unicast_link_local()
    {
        c.err(
            &r.address.span(),
            format!(
                "vip.address = \"{first}\": the first VIP of an IPv6 multicast instance must be \
                 the virtual router's link-local address (fe80::/10), as RFC 9568 requires and \
                 other routers expect"
            ),
        );
    }
    let mut out = Vec::new();
    for (net, r) in vips {
        let span = r.address.span();
        let addr = net.addr();
        // A routed instance's VIPs live on lo unless told otherwise.
        let dev = match (&r.dev, links) {
            (Some(d), _) => c.ifname(d, "vip.dev"),
            (None, Some(Links::Link(l))) => Some(l.clone()),
            (None, Some(Links::Uplinks(_))) => Some("lo".to_string()),
            (None, None) => None,
        };
        let Some(dev) = dev else { continue };
        if let (Some(Links::Uplinks(up)), Some(d)) = (links, &r.dev)
            && up.contains(&dev)
        {
            c.err(
                &d.span(),
                format!(
                    "vip.dev = {dev:?} is an uplink of this routed instance; its VIPs are \
                     announced by the routing daemon from lo (or another device), not by ARP \
                     on one uplink"
                ),
            );
            continue;
        }
        let link = links.and_then(|l| match l {
            Links::Link(l) => Some(l.as_str()),
            Links::Uplinks(_) => None,
        });
        let routed = Some(dev.as_str()) != link;

        if dev == "lo" && net.prefix_len() != net.max_prefix_len() {
            c.err(
                &span,
                format!(
                    "vip.address = \"{net}\" is on lo, so it must be a host prefix (/{}): the \
                     kernel treats every address of a prefix added to lo as local, swallowing \
                     all of {}",
                    net.max_prefix_len(),
                    net.trunc()
                ),
            );
        }
        if src.is_some_and(|s| s.addr() == addr) {
            if !owner {
                c.err(
                    &span,
                    format!(
                        "vip.address = \"{net}\" is this node's own unicast_src; only the \
                         address owner (priority = 255) may use its real address as a VIP, a \
                         backup would remove it"
                    ),
                );
            }
        } else if let Some(p) = peers.iter().find(|p| p.address == addr) {
            c.err(
                &span,
                format!(
                    "vip.address = \"{net}\" is the address of peer {}",
                    p.address
                ),
            );
        } else if routed && unicast {
            routed_vip_overlap(c, &span, net, &dev, src, peers);
        } else if unicast {
            link_vip_reach(c, &span, net, &dev, src, peers);
        }

        let scope = r.scope.as_ref().map_or(Scope::Global, |s| *s.get_ref());
        if let Some(l) = &r.label
            && !label(c, l, &dev, net)
        {
            continue;
        }
        let label = r.label.as_ref().map(|l| l.get_ref().clone());
        out.push(Vip {
            address: *net,
            dev,
            scope,
            label,
        });
    }
    (out.len() == raw.vips.len() && raw.vips.len() <= MAX_ADDRS).then_some(out)
}

/// A routed VIP is announced by a routing daemon from whichever node is
/// master; inside a real subnet it would collide with on-link addressing
/// (and ARP) there, so it must live in a virtual subnet of its own.
fn routed_vip_overlap(
    c: &mut Checker,
    span: &Range<usize>,
    net: &IpNet,
    dev: &str,
    src: Option<IpNet>,
    peers: &[ParsedPeer],
) {
    let addr = net.addr();
    if let Some(s) = src
        && (s.trunc().contains(&addr) || net.trunc().contains(&s.addr()))
    {
        c.err(
            span,
            format!(
                "routed vip \"{net}\" (dev {dev}) overlaps unicast_src's subnet {}: a routed \
                 VIP needs its own virtual subnet, distinct from the peers' subnets",
                s.trunc()
            ),
        );
        return;
    }
    for p in peers {
        let (subnet, assumed) = p.subnet();
        if Family::of(&p.address) != Family::of(&addr) {
            continue;
        }
        if subnet.contains(&addr) || net.trunc().contains(&p.address) {
            let how = if assumed {
                format!(
                    " (assumed /{}; write the peer as \"{}/<prefix>\" to state its subnet)",
                    subnet.prefix_len(),
                    p.address
                )
            } else {
                String::new()
            };
            c.err(
                span,
                format!(
                    "routed vip \"{net}\" (dev {dev}) overlaps peer {}'s subnet {subnet}{how}: \
                     a routed VIP needs its own virtual subnet, distinct from the peers' \
                     subnets",
                    p.address
                ),
            );
            return;
        }
    }
}

/// A VIP on the advert link only works where that link is: with a peer in
/// another subnet, the VIP would be off-link (unreachable) whenever that
/// peer is master.
fn link_vip_reach(
    c: &mut Checker,
    span: &Range<usize>,
    net: &IpNet,
    dev: &str,
    src: Option<IpNet>,
    peers: &[ParsedPeer],
) {
    let Some(s) = src else { return };
    if let Some(p) = peers.iter().find(|p| !s.contains(&p.address)) {
        c.err(
            span,
            format!(
                "vip \"{net}\" is on the advert link {dev}, but peer {} is outside {}: when \
                 that peer is master the VIP would be off-link there; use a routed VIP (dev = \
                 \"lo\") in a virtual subnet",
                p.address,
                s.trunc()
            ),
        );
    }
}

/// The kernel only takes labels on IPv4 addresses, and a label must be the
/// device name or start with "<dev>:" (at most 15 bytes).
fn label(c: &mut Checker, l: &Spanned<String>, dev: &str, net: &IpNet) -> bool {
    let s = l.get_ref();
    let problem = if net.addr().is_ipv6() {
        Some("labels exist only for IPv4 addresses".to_string())
    } else if s.len() > 15 {
        Some(format!("is {} bytes long; labels have at most 15", s.len()))
    } else if s != dev && !s.starts_with(&format!("{dev}:")) {
        Some(format!(
            "must be \"{dev}\" or start with \"{dev}:\" (the VIP's dev)"
        ))
    } else {
        None
    };
    match problem {
        Some(p) => {
            c.err(&l.span(), format!("vip.label = {s:?}: {p}"));
            false
        }
        None => true,
    }
}

pub(super) fn garp(
    c: &mut Checker,
    raw: &RawInstance,
    vips: Option<&[Vip]>,
    links: Option<&Links>,
) -> Option<Garp> {
    let Some(g) = &raw.garp else {
        return Some(Garp {
            repeat: DEFAULT_GARP_REPEAT as u8,
            delay: Duration::from_millis(DEFAULT_GARP_DELAY_MS as u64),
        });
    };
    if let Some(Links::Uplinks(_)) = links {
        c.err(
            &g.span(),
            "garp has no effect on a routed instance: its VIPs are announced by the routing \
             daemon, not by ARP; remove [instance.garp]",
        );
    }
    if let (Some(vips), Some(Links::Link(interface))) = (vips, links)
        && vips.iter().all(|v| v.dev != *interface)
    {
        c.err(
            &g.span(),
            format!(
                "garp has no effect: no VIP is on the advert link {interface} (routed VIPs are \
                 announced by the routing daemon, not by ARP); remove [instance.garp]"
            ),
        );
    }
    let g = g.get_ref();
    let repeat = c.opt_int(
        g.repeat.as_ref(),
        "garp.repeat",
        1,
        255,
        DEFAULT_GARP_REPEAT,
    );
    let delay = c.opt_int(
        g.delay_ms.as_ref(),
        "garp.delay_ms",
        0,
        MAX_MS,
        DEFAULT_GARP_DELAY_MS,
    );
    Some(Garp {
        repeat: repeat? as u8,
        delay: Duration::from_millis(delay? as u64),
    })
}

//! Rules for one `[[instance]]`, turning it into a typed [`Instance`].
//!
//! Checks that need several instances (duplicate names, VRIDs, VIPs) live
//! in `validate.rs`; everything here looks at one instance only.

use std::net::IpAddr;
use std::ops::Range;
use std::time::Duration;

use ipnet::IpNet;
use toml::Spanned;

use super::defaults::Defaults;
use super::error::Diagnostics;
use super::fields::{Checker, MAX_MS, family_name};
use super::schema::{RawInstance, RawInterface, RawMode, RawVip};
use super::transport::ParsedPeer;
use super::types::{Family, Instance, Links, TrackPeers, Transport, Version};
use super::{hooks, routes, track, transport, vips};

const DEFAULT_ADVERT_INTERVAL_MS: i64 = 1000;
const DEFAULT_TTL: i64 = 255;
/// Kernel address lifetimes tick in seconds; shorter leases would lapse
/// between refreshes.
const MIN_VIP_LEASE_S: i64 = 3;

/// Validates one instance; `None` when it has errors (all recorded in `d`).
pub(crate) fn check(
    d: &mut Diagnostics,
    raw: &RawInstance,
    defaults: &Defaults,
) -> Option<Instance> {
    let mut c = Checker::new(d, format!("instance {:?}", raw.name.get_ref()));

    let name = c.name(&raw.name, "name");
    let links = links(&mut c, raw);
    let vrid = c.int(&raw.vrid, "vrid", 1, 255, "").map(|v| v as u8);
    let version = version(&mut c, raw.version.as_ref());
    let priority = priority(&mut c, &raw.priority);
    let owner = priority == Some(255);
    let interval_ms = advert_interval(&mut c, raw.advert_interval_ms.as_ref(), version);

    let src = raw.unicast_src.as_ref().and_then(|v| {
        let net = c.ip_net(
            v,
            "unicast_src",
            " with the link's prefix length (it tells same-subnet peers from routed ones)",
        )?;
        let ok = c.unicast_addr(&v.span(), "unicast_src", &net.addr())
            && c.host_in_subnet(&v.span(), "unicast_src", &net);
        ok.then_some(net)
    });
    let peers: Vec<ParsedPeer> = raw
        .peers
        .iter()
        .filter_map(|p| {
            let (address, declared) = c.ip_maybe_net(&p.address, "peer.address")?;
            c.unicast_addr(&p.address.span(), "peer.address", &address)
                .then_some(ParsedPeer {
                    address,
                    declared,
                    raw: p,
                })
        })
        .collect();
    let vips: Vec<(IpNet, &RawVip)> = raw
        .vips
        .iter()
        .filter_map(|v| {
            let net = c.ip_net(
                &v.address,
                "vip.address",
                " (keepalived silently assumes a host prefix)",
            )?;
            c.unicast_addr(&v.address.span(), "vip.address", &net.addr())
                .then_some((net, v))
        })
        .collect();

    let family = check_family(&mut c, raw, src, &peers, &vips);
    if let (Some(Version::V2), Some(Family::V6)) = (version, family) {
        let span = raw.version.as_ref().map_or(raw.name.span(), |v| v.span());
        c.err(
            &span,
            "version = 2 is IPv4 only (RFC 3768); IPv6 needs version = 3",
        );
    }

    let ttl = c
        .opt_int(raw.ttl.as_ref(), "ttl", 1, 255, DEFAULT_TTL)
        .map(|t| t as u8);
    let transport = transport::transport(&mut c, raw, src, &peers, ttl);
    let vip_list = vips::check_vips(&mut c, raw, links.as_ref(), owner, src, &peers, &vips);
    let garp = vips::garp(&mut c, raw, vip_list.as_deref(), links.as_ref());

    let v3_checksum_as_v2 = raw.v3_checksum_as_v2.as_ref().is_some_and(|b| {
        if *b.get_ref() {
            if version == Some(Version::V2) {
                c.err(
                    &b.span(),
                    "v3_checksum_as_v2 = true only applies to version = 3",
                );
            }
            if family == Some(Family::V6) {
                c.err(
                    &b.span(),
                    "v3_checksum_as_v2 = true is an IPv4 compatibility option; IPv6 checksums \
                     always cover the pseudo-header",
                );
            }
        }
        *b.get_ref()
    });

    let (preempt, preempt_delay, accept_mode) = election_options(&mut c, raw, owner);
    let vip_lease = vip_lease(&mut c, raw, interval_ms);
    let routes = routes::routes(&mut c, &raw.routes, defaults);
    let mut track = track::track(&mut c, raw, owner);
    if let (Some(t), Some(Links::Uplinks(uplinks)), Some(Transport::Unicast { source, peers })) =
        (track.as_mut(), &links, &transport)
    {
        t.peers = Some(TrackPeers {
            source: source.addr(),
            peers: peers.iter().map(|p| p.address).collect(),
            uplinks: uplinks.clone(),
        });
    }
    let hooks = hooks::hooks(&mut c, raw.hooks.as_ref());

    Some(Instance {
        name: name?,
        links: links?,
        vrid: vrid?,
        version: version?,
        priority: priority?,
        advert_interval: Duration::from_millis(interval_ms? as u64),
        transport: transport?,
        v3_checksum_as_v2,
        vips: vip_list?,
        routes: routes?,
        track: track?,
        hooks: hooks?,
        preempt: preempt?,
        preempt_delay: preempt_delay?,
        accept_mode: accept_mode?,
        vip_lease: vip_lease?,
        datapath: raw
            .datapath
            .as_ref()
            .map_or(defaults.datapath, |d| *d.get_ref()),
        ttl: ttl?,
        garp: garp?,
    })
}

/// `interface`: one advert link, a list of uplinks, or none (every interface but
/// `lo`). A routed instance (a list or none) sends by the FIB, so it is unicast only.
fn links(c: &mut Checker, raw: &RawInstance) -> Option<Links> {
    let links = match &raw.interface {
        None => Links::Uplinks(Vec::new()),
        Some(v) => {
            let span = v.span();
            let not_lo = |c: &mut Checker, name: String| {
                if name == "lo" {
                    c.err(
                        &span,
                        "interface = \"lo\" cannot carry adverts to other routers; name the \
                         link (or the uplinks) that reach the peers and put routed VIPs on lo \
                         with vip.dev = \"lo\"",
                    );
                    return None;
                }
                Some(name)
            };
            match v.get_ref() {
                RawInterface::One(name) => {
                    let name = c.ifname_at(&span, name, "interface")?;
                    Links::Link(not_lo(c, name)?)
                }
                RawInterface::Many(names) if names.is_empty() => {
                    c.err(
                        &span,
                        "interface = [] names no uplink: list the uplinks of this routed \
                         instance, or leave interface out to receive on every interface but lo",
                    );
                    return None;
                }
                RawInterface::Many(names) => {
                    let mut out: Vec<String> = Vec::new();
                    for n in names {
                        let name = c.ifname_at(&span, n, "interface")?;
                        let name = not_lo(c, name)?;
                        if out.contains(&name) {
                            c.err(&span, format!("interface lists {name:?} twice"));
                            return None;
                        }
                        out.push(name);
                    }
                    Links::Uplinks(out)
                }
            }
        }
    };
    if matches!(links, Links::Uplinks(_)) && *raw.mode.get_ref() == RawMode::Multicast {
        let span = raw.interface.as_ref().map_or(raw.mode.span(), |i| i.span());
        c.err(
            &span,
            format!(
                "a routed instance (interface {}) sends its adverts by the routing table, to \
                 unicast peers; multicast stays on one link: set interface = \"<link>\"",
                if raw.interface.is_some() {
                    "is a list"
                } else {
                    "left out"
                }
            ),
        );
        return None;
    }
    Some(links)
}

fn version(c: &mut Checker, v: Option<&Spanned<i64>>) -> Option<Version> {
    match v.map(|v| (*v.get_ref(), v.span())) {
        None | Some((3, _)) => Some(Version::V3),
        Some((2, _)) => Some(Version::V2),
        Some((n, span)) => {
            c.err(&span, format!("version = {n} must be 2 or 3"));
            None
        }
    }
}

fn priority(c: &mut Checker, v: &Spanned<i64>) -> Option<u8> {
    if *v.get_ref() == 0 {
        c.err(
            &v.span(),
            "priority = 0 is reserved on the wire for \"the master is leaving\"; use 1..255",
        );
        return None;
    }
    c.int(v, "priority", 1, 255, " (255 marks the address owner)")
        .map(|p| p as u8)
}

/// VRRPv3 carries centiseconds in 12 bits, VRRPv2 whole seconds in 8.
fn advert_interval(
    c: &mut Checker,
    v: Option<&Spanned<i64>>,
    version: Option<Version>,
) -> Option<i64> {
    let Some(v) = v else {
        return Some(DEFAULT_ADVERT_INTERVAL_MS);
    };
    let ms = *v.get_ref();
    let span = v.span();
    match version {
        Some(Version::V3) => {
            if !(10..=40950).contains(&ms) {
                c.err(
                    &span,
                    format!("advert_interval_ms = {ms} is out of range 10..40950 for VRRPv3"),
                );
                None
            } else if ms % 10 != 0 {
                c.err(
                    &span,
                    format!(
                        "advert_interval_ms = {ms} must be a multiple of 10: VRRPv3 carries the \
                         interval in centiseconds"
                    ),
                );
                None
            } else {
                Some(ms)
            }
        }
        Some(Version::V2) => {
            if !(1..=255_000).contains(&ms) {
                c.err(
                    &span,
                    format!("advert_interval_ms = {ms} is out of range 1000..255000 for VRRPv2"),
                );
                None
            } else if ms % 1000 != 0 {
                c.err(
                    &span,
                    format!(
                        "advert_interval_ms = {ms} needs version = 3: VRRPv2 carries the \
                         interval in whole seconds (1000..255000 in steps of 1000)"
                    ),
                );
                None
            } else {
                Some(ms)
            }
        }
        None => None,
    }
}

/// One instance speaks one address family: its adverts carry addresses of
/// one family and go over one IP version.
fn check_family(
    c: &mut Checker,
    raw: &RawInstance,
    src: Option<IpNet>,
    peers: &[ParsedPeer],
    vips: &[(IpNet, &RawVip)],
) -> Option<Family> {
    let src_span = raw.unicast_src.as_ref().map(|s| s.span());
    let reference = vips
        .first()
        .map(|(n, r)| (n.addr(), "vip.address", r.address.span()))
        .or_else(|| Some((src?.addr(), "unicast_src", src_span.clone()?)));
    let (ref_addr, ref_key, ref_span) = reference?;
    let family = Family::of(&ref_addr);
    let ref_line = c.d.line_of(ref_span.start);

    let mut others: Vec<(&str, IpAddr, Range<usize>)> = Vec::new();
    if let (Some(s), Some(span)) = (src, src_span) {
        others.push(("unicast_src", s.addr(), span));
    }
    for p in peers {
        others.push(("peer.address", p.address, p.raw.address.span()));
    }
    for (n, r) in vips {
        others.push(("vip.address", n.addr(), r.address.span()));
    }
    for (key, addr, span) in others {
        if Family::of(&addr) != family {
            c.err(
                &span,
                format!(
                    "{key} = \"{addr}\" is {} but this instance is {} ({ref_key} \"{ref_addr}\" \
                     at line {ref_line}); use one instance per address family",
                    family_name(Family::of(&addr)),
                    family_name(family),
                ),
            );
        }
    }
    Some(family)
}

/// Preempt, preempt delay and accept mode, with RFC 9568 §6.4's rule that
/// the address owner always preempts at once and always accepts.
fn election_options(
    c: &mut Checker,
    raw: &RawInstance,
    owner: bool,
) -> (Option<bool>, Option<Duration>, Option<bool>) {
    let preempt = raw.preempt.as_ref().is_none_or(|p| *p.get_ref());
    if let (true, false, Some(p)) = (owner, preempt, &raw.preempt) {
        c.err(
            &p.span(),
            "preempt = false contradicts priority = 255: the address owner always takes over",
        );
    }
    let delay = c.opt_int(
        raw.preempt_delay_ms.as_ref(),
        "preempt_delay_ms",
        0,
        MAX_MS,
        0,
    );
    if let (Some(d), Some(v)) = (delay, &raw.preempt_delay_ms) {
        if d > 0 && !preempt {
            c.err(
                &v.span(),
                "preempt_delay_ms has no effect with preempt = false",
            );
        } else if d > 0 && owner {
            c.err(
                &v.span(),
                "preempt_delay_ms has no effect with priority = 255: the address owner takes \
                 over at once",
            );
        }
    }
    // keepalived accepts traffic to VIPs unless in strict mode; its users
    // expect that, so accept is the default here too.
    let accept = raw.accept_mode.as_ref().is_none_or(|a| *a.get_ref());
    if let (true, false, Some(a)) = (owner, accept, &raw.accept_mode) {
        c.err(
            &a.span(),
            "accept_mode = false contradicts priority = 255: the address owner always accepts",
        );
    }
    (
        Some(preempt),
        delay.map(|d| Duration::from_millis(d as u64)),
        Some(accept),
    )
}

/// The lease must outlive several refreshes, or a healthy master's VIP
/// would flap away between two adverts.
fn vip_lease(
    c: &mut Checker,
    raw: &RawInstance,
    interval_ms: Option<i64>,
) -> Option<Option<Duration>> {
    let Some(v) = &raw.vip_lease_s else {
        return Some(None);
    };
    let s = c.int(v, "vip_lease_s", MIN_VIP_LEASE_S, 86_400, "")?;
    if let Some(ms) = interval_ms
        && s * 1000 < 3 * ms
    {
        c.err(
            &v.span(),
            format!(
                "vip_lease_s = {s} is shorter than 3 advert intervals (3 × {ms} ms): the VIP \
                 could expire between refreshes"
            ),
        );
        return None;
    }
    Some(Some(Duration::from_secs(s as u64)))
}

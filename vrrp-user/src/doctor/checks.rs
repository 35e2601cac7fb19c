//! The checks, each turning what the host shows into [`Check`] lines.

use std::net::IpAddr;

use super::{
    check::{Check, Level},
    firewall::{self, Direction, Verdict},
    host::{self, Link, Process},
};
use crate::config::{Config, Datapath, Instance, Links, Transport};

/// Drivers with native XDP support in mainline kernels.
const NATIVE_XDP: &[&str] = &[
    "veth",
    "virtio_net",
    "tun",
    "bond",
    "ixgbe",
    "ixgbevf",
    "i40e",
    "ice",
    "igb",
    "igc",
    "mlx4_core",
    "mlx5_core",
    "bnxt_en",
    "ena",
    "nfp",
    "qede",
    "thunder-nicvf",
    "sfc",
    "hv_netvsc",
    "stmmac",
    "fec",
    "mvneta",
    "mvpp2",
    "dpaa2-eth",
    "netsec",
    "cpsw",
    "ixgbe_vf",
    "gve",
    "atlantic",
];

pub fn interface(links: &[Link], name: &str) -> Check {
    let what = format!("interface {name}");
    match links.iter().find(|l| l.name == name) {
        None => Check::new(
            Level::Fail,
            what,
            "does not exist: fix `interface` or create the link",
        ),
        Some(l) if !l.up => Check::new(
            Level::Fail,
            what,
            format!("is down: `ip link set {name} up`"),
        ),
        Some(l) if !l.lower_up => Check::new(
            Level::Fail,
            what,
            "is up but has no carrier (cable, peer end of a veth)",
        ),
        Some(_) => Check::new(Level::Ok, what, "exists and is up"),
    }
}

/// The interfaces an instance receives adverts on: its link, or its uplinks (every
/// interface but lo when it names none).
pub fn receive_links(links: &[Link], i: &Instance) -> Vec<String> {
    match &i.links {
        Links::Link(l) => vec![l.clone()],
        all if all.all_uplinks() => links
            .iter()
            .filter(|l| l.name != "lo")
            .map(|l| l.name.clone())
            .collect(),
        Links::Uplinks(v) => v.clone(),
    }
}

pub fn xdp(links: &[Link], i: &Instance, dev: &str) -> Check {
    let what = format!("datapath on {dev}");
    if i.datapath == Datapath::Socket {
        return Check::new(
            Level::Ok,
            what,
            "raw-socket datapath, as configured (no XDP)",
        );
    }
    let driver = links
        .iter()
        .find(|l| l.name == dev)
        .and_then(|l| l.driver.clone());
    match driver {
        Some(d) if NATIVE_XDP.contains(&d.as_str()) => {
            Check::new(Level::Ok, what, format!("driver {d} supports native XDP"))
        }
        Some(d) => Check::new(
            Level::Warn,
            what,
            format!(
                "driver {d} has no native XDP: generic (SKB) XDP is used, or with datapath = \"auto\" the raw-socket datapath if that fails"
            ),
        ),
        None => Check::new(
            Level::Warn,
            what,
            "driver unknown: XDP may fall back to the raw-socket datapath",
        ),
    }
}

pub fn unicast_src(links: &[Link], i: &Instance) -> Option<Check> {
    let Transport::Unicast { source, .. } = &i.transport else {
        return None;
    };
    let what = format!("instance {} unicast_src {source}", i.name);
    let on = |l: &Link| l.addrs.iter().find(|a| a.addr() == source.addr()).copied();
    let Some(interface) = i.link() else {
        // Routed: any local address will do; the FIB picks the uplink.
        return Some(
            match links.iter().find_map(|l| on(l).map(|_| l.name.clone())) {
                Some(dev) => Check::new(
                    Level::Ok,
                    what,
                    format!(
                        "configured on {dev}; adverts leave by the uplink the routing table picks"
                    ),
                ),
                None => Check::new(
                    Level::Fail,
                    what,
                    format!("is on no interface: `ip addr add {source} dev lo`"),
                ),
            },
        );
    };
    let own = links.iter().find(|l| l.name == interface).and_then(on);
    Some(match own {
        Some(a) if a.prefix_len() == source.prefix_len() => {
            Check::new(Level::Ok, what, format!("configured on {interface}"))
        }
        Some(a) => Check::new(
            Level::Warn,
            what,
            format!("{interface} has {a}: the prefix differs; make unicast_src match the link"),
        ),
        None => match links.iter().find_map(|l| on(l).map(|_| l.name.clone())) {
            Some(other) => Check::new(
                Level::Fail,
                what,
                format!(
                    "is on {other}, not on {interface}: adverts would leave from the wrong link"
                ),
            ),
            None => Check::new(
                Level::Fail,
                what,
                format!("is on no interface: `ip addr add {source} dev {interface}`"),
            ),
        },
    })
}

/// Route to each peer; returns the checks and the devices the routes use.
pub fn peers(links: &[Link], i: &Instance) -> Vec<(Check, Option<String>)> {
    let Transport::Unicast { source, peers } = &i.transport else {
        return Vec::new();
    };
    // Route from unicast_src when it is local (else the lookup would be a
    // forwarding one and fail for that reason alone).
    let local = links
        .iter()
        .any(|l| l.addrs.iter().any(|a| a.addr() == source.addr()));
    let from = local.then(|| source.addr());
    let receive = receive_links(links, i);
    let by = match i.link() {
        Some(l) => l.to_string(),
        None => "an uplink".to_string(),
    };
    peers
        .iter()
        .map(|p| {
            let what = format!("instance {} peer {} route", i.name, p.address);
            match host::route_to(p.address, from) {
                Err(e) => (
                    Check::new(Level::Fail, what, format!("not routable ({e}): add a route to it via {by}")),
                    None,
                ),
                Ok(r) => {
                    let how = match r.gateway {
                        Some(g) => format!("via {g} dev {}", r.dev),
                        None => format!("on-link dev {}", r.dev),
                    };
                    let c = if receive.contains(&r.dev) {
                        Check::new(Level::Ok, what, how)
                    } else {
                        Check::new(
                            Level::Warn,
                            what,
                            format!("{how}: not by {by}, so adverts leave by another link than they arrive on"),
                        )
                    };
                    (c, Some(r.dev))
                }
            }
        })
        .collect()
}

/// Whether `routes` (`ip -j route show match PEER`) hold a unicast route to `peer`
/// wider than a host route: one that stays when the peer itself is gone.
pub fn covers_more_than_the_peer(routes: &[serde_json::Value]) -> bool {
    routes.iter().any(|r| {
        let dst = r["dst"].as_str().unwrap_or("");
        let host =
            dst.ends_with("/32") || dst.ends_with("/128") || !dst.contains('/') && dst != "default";
        usable_nexthops(r) > 0 && !host
    })
}

/// A routed instance goes to FAULT when no peer is routable. If the only route to a
/// peer is its own host route (its loopback, withdrawn when the peer dies), a node
/// whose peer died would go to FAULT instead of taking over.
pub fn peer_cover(i: &Instance) -> Vec<Check> {
    let Transport::Unicast { peers, .. } = &i.transport else {
        return Vec::new();
    };
    if i.link().is_some() {
        return Vec::new();
    }
    peers
        .iter()
        .map(|p| {
            let what = format!("instance {} peer {} cover", i.name, p.address);
            match host::routes_matching(p.address) {
                Err(e) => Check::new(Level::Warn, what, format!("cannot list routes: {e}")),
                Ok(r) if covers_more_than_the_peer(&r) => Check::new(
                    Level::Ok,
                    what,
                    "a wider route (a default or an aggregate) leads there too: the peer's death leaves this node a route, so it takes over",
                ),
                Ok(_) => Check::new(
                    Level::Warn,
                    what,
                    "only a host route leads to it: when the peer dies its route goes, no peer is routable and this node goes to FAULT instead of taking over; have the routers announce a default route or an aggregate of the loopbacks",
                ),
            }
        })
        .collect()
}

/// Usable next hops of one `ip -j route` entry, counted as vrrpd's route tracker
/// counts them: the `nexthops` not flagged dead or link-down, else one unless the
/// route itself is; none for a blackhole, unreachable or other non-unicast route.
fn usable_nexthops(route: &serde_json::Value) -> u16 {
    let unusable = |v: &serde_json::Value| {
        v["flags"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| matches!(f.as_str(), Some("dead" | "linkdown")))
    };
    if route["type"].as_str().is_some_and(|t| t != "unicast") {
        return 0;
    }
    match route["nexthops"].as_array() {
        Some(hops) => hops.iter().filter(|h| !unusable(h)).count() as u16,
        None => u16::from(!unusable(route)),
    }
}

/// Each tracked route as the instance's tracker would see it now: present with
/// enough next hops, or missing (and what that does to the instance).
pub fn tracked_routes(i: &Instance) -> Vec<Check> {
    i.track
        .routes
        .iter()
        .map(|t| {
            let what = format!("instance {} track_route {}", i.name, t.prefix);
            let whose = match t.protocol {
                Some(p) => format!("table {} (protocol {p})", t.table),
                None => format!("table {}", t.table),
            };
            let effect = match t.weight {
                0 => "the instance stays in FAULT".to_string(),
                w if w < 0 => format!("its priority is {} lower", -w),
                w => format!("its priority lacks the +{w}"),
            };
            let routes = match host::routes_exact(t.prefix, t.table, t.protocol) {
                Ok(r) => r,
                Err(e) => return Check::new(Level::Warn, what, format!("cannot read {whose}: {e}")),
            };
            let best = routes.iter().map(usable_nexthops).max().unwrap_or(0);
            if best == 0 {
                Check::new(
                    Level::Warn,
                    what,
                    format!("no usable route in {whose}, so {effect} until one appears"),
                )
            } else if best < t.min_nexthops {
                Check::new(
                    Level::Warn,
                    what,
                    format!(
                        "{best} usable next hop(s) in {whose}, fewer than min_nexthops = {}, so {effect} until there are enough",
                        t.min_nexthops
                    ),
                )
            } else {
                Check::new(Level::Ok, what, format!("in {whose}, {best} usable next hop(s)"))
            }
        })
        .collect()
}

pub fn rp_filter(i: &Instance, peer_devs: &[Option<String>]) -> Option<Check> {
    if !matches!(i.transport, Transport::Unicast { .. }) || i.family() != crate::config::Family::V4
    {
        return None;
    }
    let read = |k: &str| {
        host::sysctl(&format!("net/ipv4/conf/{k}/rp_filter")).and_then(|v| v.parse::<u8>().ok())
    };
    let Some(interface) = i.link() else {
        // Routed: adverts may arrive on any uplink, whichever way the route back goes.
        let uplinks = match &i.links {
            Links::Uplinks(v) if !v.is_empty() => v.join(", "),
            _ => "every interface".to_string(),
        };
        let what = format!("rp_filter on {uplinks}");
        let strict = match &i.links {
            Links::Uplinks(v) if !v.is_empty() => v.iter().any(|d| read(d) == Some(1)),
            _ => false,
        } || read("all") == Some(1);
        return Some(if strict {
            Check::new(
                Level::Warn,
                what,
                "strict (1): an advert arriving on an uplink its sender's route back does not use is dropped by the raw-socket datapath; `sysctl -w net.ipv4.conf.all.rp_filter=2`",
            )
        } else {
            Check::new(
                Level::Ok,
                what,
                "off or loose: adverts pass on every uplink",
            )
        });
    };
    let what = format!("rp_filter on {interface}");
    let value = read("all").unwrap_or(0).max(read(interface).unwrap_or(0));
    Some(match value {
        0 => Check::new(Level::Ok, what, "off"),
        2 => Check::new(
            Level::Ok,
            what,
            "loose (2): adverts from any routable source pass",
        ),
        _ => match peer_devs.iter().flatten().find(|d| **d != interface) {
            None => Check::new(
                Level::Ok,
                what,
                "strict (1), and every peer's route back leaves by this interface",
            ),
            Some(d) => Check::new(
                Level::Fail,
                what,
                format!(
                    "strict (1) but a peer's route back leaves by {d}: its adverts are dropped; `sysctl -w net.ipv4.conf.{interface}.rp_filter=2`"
                ),
            ),
        },
    })
}

pub fn firewall() -> Vec<Check> {
    let mut out = Vec::new();
    let mut rulesets = Vec::new();
    if host::have("nft") {
        match host::command_output("nft", &["list", "ruleset"]) {
            Some(rs) => rulesets.push(("nftables", rs, true)),
            None => out.push(Check::new(
                Level::Warn,
                "firewall nftables",
                "cannot read the ruleset (`nft list ruleset` failed; run as root)",
            )),
        }
    }
    for prog in ["iptables-legacy-save", "ip6tables-legacy-save"] {
        if host::have(prog)
            && let Some(s) = host::command_output(prog, &[])
            && s.lines()
                .any(|l| l.starts_with("-A ") || l.contains(" DROP "))
        {
            rulesets.push((prog, s, false));
        }
    }
    for (name, rs, is_nft) in rulesets {
        for dir in [Direction::In, Direction::Out] {
            let what = format!(
                "firewall {name} {}",
                if dir == Direction::In {
                    "input"
                } else {
                    "output"
                }
            );
            let v = if is_nft {
                firewall::nft(&rs, dir)
            } else {
                firewall::iptables(&rs, dir)
            };
            out.push(match v {
                Verdict::Allowed => Check::new(Level::Ok, what, "IP protocol 112 (VRRP) passes"),
                Verdict::Dropped(why) => Check::new(
                    Level::Fail,
                    what,
                    format!(
                        "drops IP protocol 112: {why}; accept `ip protocol vrrp` from/to the peers"
                    ),
                ),
            });
        }
    }
    if out.is_empty() {
        out.push(Check::new(
            Level::Ok,
            "firewall",
            "no nftables or iptables-legacy rules",
        ));
    }
    out
}

pub fn virtual_subnet(links: &[Link], i: &Instance) -> Vec<Check> {
    i.routed_vips()
        .map(|v| {
            let what = format!("instance {} VIP {}", i.name, v.address);
            let hit = links
                .iter()
                .filter(|l| !l.loopback && l.name != v.dev)
                .find_map(|l| {
                    l.addrs
                        .iter()
                        .find(|a| a.contains(&v.address.addr()) || v.address.contains(&a.addr()))
                        .map(|a| (l.name.clone(), *a))
                });
            match hit {
                Some((dev, a)) => Check::new(
                    Level::Fail,
                    what,
                    format!("{a} on {dev} overlaps it: the virtual subnet must be on no physical interface"),
                ),
                None => Check::new(Level::Ok, what, "its virtual subnet is on no physical interface"),
            }
        })
        .collect()
}

fn arg_after(p: &Process, flag: &str) -> Option<String> {
    p.cmdline
        .iter()
        .position(|a| a == flag)
        .and_then(|i| p.cmdline.get(i + 1).cloned())
}

/// A `protocol direct` block that names `lo`.
fn bird_exports_lo(conf: &str) -> bool {
    conf.split("protocol ")
        .filter(|b| b.trim_start().starts_with("direct"))
        .any(|b| b.contains("\"lo\"") || b.contains("\"lo*\"") || b.contains("\"*\""))
}

pub fn routing_daemon(config: &Config, links: &[Link], procs: &[Process]) -> Vec<Check> {
    let routed: Vec<IpAddr> = config
        .instances
        .iter()
        .flat_map(|i| i.routed_vips().map(|v| v.address.addr()))
        .collect();
    if routed.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let held_on_lo: Vec<IpAddr> = links
        .iter()
        .filter(|l| l.loopback)
        .flat_map(|l| l.addrs.iter().map(|a| a.addr()))
        .filter(|a| routed.contains(a))
        .collect();
    if let Some(bird) = procs.iter().find(|p| p.comm == "bird") {
        let sock = arg_after(bird, "-s").unwrap_or_else(|| "/run/bird/bird.ctl".into());
        let conf_path = arg_after(bird, "-c").unwrap_or_else(|| "/etc/bird/bird.conf".into());
        match host::command_output("birdc", &["-s", &sock, "show", "status"]) {
            Some(_) => out.push(Check::new(
                Level::Ok,
                "routing daemon BIRD",
                format!("running, answering on {sock}"),
            )),
            None => out.push(Check::new(
                Level::Fail,
                "routing daemon BIRD",
                format!("running but `birdc -s {sock}` gets no answer"),
            )),
        }
        match std::fs::read_to_string(&conf_path) {
            Ok(conf) if bird_exports_lo(&conf) => out.push(Check::new(
                Level::Ok,
                "BIRD configuration",
                format!("{conf_path} has a direct protocol on lo, so the VIP /32 is picked up"),
            )),
            Ok(_) => out.push(Check::new(
                Level::Fail,
                "BIRD configuration",
                format!(
                    "{conf_path} has no `protocol direct` on \"lo\": the VIP /32 is never announced"
                ),
            )),
            Err(e) => out.push(Check::new(
                Level::Warn,
                "BIRD configuration",
                format!("cannot read {conf_path}: {e}"),
            )),
        }
        for vip in &held_on_lo {
            let prefix = format!("{vip}/32");
            let shown = host::command_output("birdc", &["-s", &sock, "show", "route", &prefix])
                .unwrap_or_default();
            out.push(if shown.contains(&prefix) {
                Check::new(Level::Ok, format!("BIRD route {prefix}"), "in BIRD's table (this node holds the VIP)")
            } else {
                Check::new(Level::Fail, format!("BIRD route {prefix}"), "the VIP is on lo but not in BIRD's table: check the direct protocol and its filter")
            });
        }
    } else if procs.iter().any(|p| p.comm == "zebra") {
        let routing = procs
            .iter()
            .any(|p| ["ospfd", "bgpd", "isisd"].contains(&p.comm.as_str()));
        if !routing {
            out.push(Check::new(
                Level::Fail,
                "routing daemon FRR",
                "zebra runs but no ospfd/bgpd: nothing announces the VIP",
            ));
        } else {
            out.push(Check::new(
                Level::Ok,
                "routing daemon FRR",
                "zebra and a routing protocol daemon are running",
            ));
            let dir = procs
                .iter()
                .find(|p| p.comm == "zebra")
                .and_then(|p| arg_after(p, "--vty_socket"));
            let mut args: Vec<&str> = Vec::new();
            if let Some(d) = &dir {
                args.extend(["--vty_socket", d.as_str()]);
            }
            args.extend(["-c", "show running-config"]);
            match host::command_output("vtysh", &args) {
                Some(rc)
                    if rc.contains("redistribute connected")
                        || routed.iter().any(|v| rc.contains(&v.to_string())) =>
                {
                    out.push(Check::new(
                        Level::Ok,
                        "FRR configuration",
                        "redistributes connected routes (or names the VIP)",
                    ))
                }
                Some(_) => out.push(Check::new(
                    Level::Fail,
                    "FRR configuration",
                    "no `redistribute connected` and no network for the VIP: it is never announced",
                )),
                None => out.push(Check::new(
                    Level::Warn,
                    "FRR configuration",
                    "cannot read it with vtysh",
                )),
            }
        }
    } else {
        out.push(Check::new(
            Level::Fail,
            "routing daemon",
            "neither BIRD nor FRR runs in this network namespace: nothing announces the routed VIPs",
        ));
    }
    out
}

pub fn capabilities(cap_eff: u64) -> Vec<Check> {
    let has = |bit: u32| cap_eff & (1u64 << bit) != 0;
    const NET_ADMIN: u32 = 12;
    const NET_RAW: u32 = 13;
    const SYS_ADMIN: u32 = 21;
    const PERFMON: u32 = 38;
    const BPF: u32 = 39;
    let mut out = Vec::new();
    let missing: Vec<&str> = [(NET_ADMIN, "CAP_NET_ADMIN"), (NET_RAW, "CAP_NET_RAW")]
        .iter()
        .filter(|(b, _)| !has(*b))
        .map(|(_, n)| *n)
        .collect();
    out.push(if missing.is_empty() {
        Check::new(
            Level::Ok,
            "capabilities",
            "CAP_NET_ADMIN and CAP_NET_RAW present",
        )
    } else {
        Check::new(
            Level::Fail,
            "capabilities",
            format!(
                "missing {}: run as root or with the shipped unit's capabilities",
                missing.join(", ")
            ),
        )
    });
    let bpf = has(SYS_ADMIN) || (has(BPF) && has(PERFMON));
    out.push(if bpf {
        Check::new(
            Level::Ok,
            "XDP capabilities",
            "CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) present",
        )
    } else {
        Check::new(
            Level::Warn,
            "XDP capabilities",
            "no CAP_BPF/CAP_PERFMON: XDP cannot load, the raw-socket datapath is used",
        )
    });
    out
}

pub fn kernel() -> Check {
    match host::kernel() {
        Some((a, b)) if (a, b) >= (5, 8) => Check::new(
            Level::Ok,
            "kernel",
            format!("{a}.{b}: BPF ring buffer and XDP available"),
        ),
        Some((a, b)) => Check::new(
            Level::Warn,
            "kernel",
            format!("{a}.{b} is older than 5.8 (BPF ring buffer): the raw-socket datapath is used"),
        ),
        None => Check::new(Level::Warn, "kernel", "version unknown"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_covered_only_by_a_wider_live_route() {
        let j = |s: &str| -> Vec<serde_json::Value> { serde_json::from_str(s).unwrap() };
        let host = r#"[{"dst":"10.2.0.2","nexthops":[{"gateway":"10.2.1.1","dev":"up1"}]}]"#;
        assert!(!covers_more_than_the_peer(&j(host)));
        let with_default = r#"[{"dst":"default","gateway":"10.2.1.1","dev":"up1"},
            {"dst":"10.2.0.2","gateway":"10.2.1.1","dev":"up1"}]"#;
        assert!(covers_more_than_the_peer(&j(with_default)));
        assert!(covers_more_than_the_peer(&j(
            r#"[{"dst":"10.2.0.0/24","gateway":"10.2.1.1","dev":"up1"}]"#
        )));
        let blackhole = r#"[{"type":"blackhole","dst":"default"}]"#;
        assert!(!covers_more_than_the_peer(&j(blackhole)));
        let dead = r#"[{"dst":"default","gateway":"10.2.1.1","dev":"up1","flags":["linkdown"]}]"#;
        assert!(!covers_more_than_the_peer(&j(dead)));
    }

    #[test]
    fn bird_direct_on_lo() {
        assert!(bird_exports_lo(
            "protocol device { }\nprotocol direct vip {\n  ipv4;\n  interface \"lo\";\n}\n"
        ));
        assert!(!bird_exports_lo(
            "protocol direct {\n interface \"eth0\";\n}\nprotocol ospf { interface \"lo\"; }"
        ));
    }

    #[test]
    fn next_hops_as_the_tracker_counts_them() {
        let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        // From `ip -j route show` with one of two ECMP links' carrier down.
        let ecmp = parse(
            r#"{"dst":"198.51.100.0/24","protocol":"bird","flags":[],"nexthops":[
                {"gateway":"192.0.2.2","dev":"a0","weight":1,"flags":["linkdown"]},
                {"gateway":"192.0.2.6","dev":"b0","weight":1,"flags":[]}]}"#,
        );
        assert_eq!(usable_nexthops(&ecmp), 1);
        let down = parse(
            r#"{"dst":"203.0.113.0/24","gateway":"192.0.2.2","dev":"a0","flags":["linkdown"]}"#,
        );
        assert_eq!(usable_nexthops(&down), 0);
        let up = parse(r#"{"dst":"203.0.113.0/24","gateway":"192.0.2.2","dev":"a0","flags":[]}"#);
        assert_eq!(usable_nexthops(&up), 1);
        let blackhole = parse(r#"{"type":"blackhole","dst":"203.0.113.0/24","flags":[]}"#);
        assert_eq!(usable_nexthops(&blackhole), 0);
    }

    #[test]
    fn capability_levels() {
        assert_eq!(capabilities(0)[0].level, Level::Fail);
        assert_eq!(
            capabilities(u64::MAX).iter().map(|c| c.level).max(),
            Some(Level::Ok)
        );
        let net_only = (1 << 12) | (1 << 13);
        assert_eq!(capabilities(net_only)[1].level, Level::Warn);
    }
}

//! Whole-file rules: `[global]`, sync groups, and conflicts between
//! instances (names, VRIDs, VIPs, routes), then assembly of [`Config`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use ipnet::IpNet;

use super::defaults::Defaults;
use super::error::Diagnostics;
use super::fields::{Checker, reserved_protocol_name};
use super::instance;
use super::routes;
use super::schema::{RawFile, RawGlobal, RawInstance, RawInterface, RawSched, RawSyncGroup};
use super::types::{
    Config, Datapath, Family, Global, Realtime, RouteProtocol, SchedPolicy, SyncGroup,
};

pub(crate) const DEFAULT_STATUS_SOCKET: &str = "/run/vrrpd/vrrpd.sock";
/// The netlink driver's default mark: one number for both.
pub(crate) const DEFAULT_ROUTE_PROTOCOL: u8 = crate::netlink::DEFAULT_PROTO;
pub(crate) const DEFAULT_ROUTE_PROTOCOL_NAME: &str = "vrrpd";
/// `realtime_priority` when `realtime_scheduling` is on and no priority is given:
/// above every normal task, below the kernel's interrupt threads (50), so the
/// network's own work still comes first (docs/configuration.md).
pub(crate) const DEFAULT_RT_PRIORITY: u8 = 10;
/// `sun_path` holds 108 bytes including the terminating NUL.
const SUN_PATH_MAX: usize = 107;

/// Validates a deserialized file; `None` when `d` holds errors.
pub(crate) fn check(d: &mut Diagnostics, file: &RawFile) -> Option<Config> {
    let global = global(d, &file.global);
    let defaults = Defaults {
        datapath: global.as_ref().map_or(Datapath::Auto, |g| g.datapath),
        route_protocol: global
            .as_ref()
            .map_or(DEFAULT_ROUTE_PROTOCOL, |g| g.route_protocol.number),
    };

    if file.instances.is_empty() {
        d.error(
            &(0..0),
            "no [[instance]] defined: vrrpd would have nothing to do",
        );
    }
    let instances: Vec<_> = file
        .instances
        .iter()
        .map(|raw| instance::check(d, raw, &defaults))
        .collect();
    duplicate_names(d, &file.instances);
    duplicate_vrids(d, &file.instances);
    duplicate_vips(d, &file.instances);
    duplicate_routes(d, &file.instances);
    let sync_groups = sync_groups(d, &file.sync_groups, &file.instances);

    if !d.is_empty() {
        return None;
    }
    Some(Config {
        global: global?,
        instances: instances.into_iter().collect::<Option<_>>()?,
        sync_groups: sync_groups?,
    })
}

fn global(d: &mut Diagnostics, g: &RawGlobal) -> Option<Global> {
    let mut c = Checker::new(d, "global".to_string());
    let status_socket = match &g.status_socket {
        None => Some(PathBuf::from(DEFAULT_STATUS_SOCKET)),
        Some(v) => c.abs_path(v, "status_socket").filter(|p| {
            let len = p.as_os_str().len();
            if len > SUN_PATH_MAX {
                c.err(
                    &v.span(),
                    format!(
                        "status_socket is {len} bytes long; a Unix socket path has at most \
                         {SUN_PATH_MAX}"
                    ),
                );
            }
            len <= SUN_PATH_MAX
        }),
    };
    let metrics_listen = match &g.metrics_listen {
        None => Some(None),
        Some(v) => match SocketAddr::from_str(v.get_ref()) {
            Ok(a) if a.port() != 0 => Some(Some(a)),
            _ => {
                c.err(
                    &v.span(),
                    format!(
                        "metrics_listen = {:?} must be address:port with a non-zero port, e.g. \
                         \"127.0.0.1:9650\" or \"[::1]:9650\"",
                        v.get_ref()
                    ),
                );
                None
            }
        },
    };
    let script_user = match &g.script_user {
        None => Some(None),
        Some(v) => {
            let s = v.get_ref();
            let ok = !s.is_empty()
                && s.len() <= 32
                && !s
                    .chars()
                    .any(|ch| ch == ':' || ch == '/' || ch.is_whitespace());
            if !ok {
                c.err(
                    &v.span(),
                    format!("script_user = {s:?} is not a valid user name"),
                );
            }
            ok.then(|| Some(s.clone()))
        }
    };
    let number = match &g.route_protocol {
        None => Some(DEFAULT_ROUTE_PROTOCOL),
        Some(v) => c.route_protocol(v, "route_protocol"),
    };
    let name = match &g.route_protocol_name {
        None => Some(DEFAULT_ROUTE_PROTOCOL_NAME.to_string()),
        Some(v) => {
            let s = v.get_ref();
            let well_formed = s.chars().next().is_some_and(|ch| ch.is_ascii_alphabetic())
                && s.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-');
            if !well_formed {
                c.err(
                    &v.span(),
                    format!(
                        "route_protocol_name = {s:?} must start with a letter and hold only \
                         letters, digits, '_' or '-'"
                    ),
                );
                None
            } else if let Some(n) = reserved_protocol_name(s).filter(|n| Some(*n) != number) {
                c.err(
                    &v.span(),
                    format!(
                        "route_protocol_name = {s:?} already names route protocol {n}; pick a \
                         name of vrrpd's own"
                    ),
                );
                None
            } else {
                Some(s.clone())
            }
        }
    };
    let realtime = realtime(&mut c, g);
    Some(Global {
        status_socket: status_socket?,
        metrics_listen: metrics_listen?,
        script_user: script_user?,
        route_protocol: RouteProtocol {
            number: number?,
            name: name?,
        },
        datapath: g.datapath.as_ref().map_or(Datapath::Auto, |d| *d.get_ref()),
        realtime: realtime?,
        lock_memory: g.lock_memory.as_ref().is_some_and(|b| *b.get_ref()),
    })
}

/// `realtime_scheduling` and `realtime_priority`: `Some(None)` for off.
fn realtime(c: &mut Checker, g: &RawGlobal) -> Option<Option<Realtime>> {
    let policy = match g.realtime_scheduling.as_ref().map(|p| *p.get_ref()) {
        None | Some(RawSched::Off) => None,
        Some(RawSched::Fifo) => Some(SchedPolicy::Fifo),
        Some(RawSched::Rr) => Some(SchedPolicy::Rr),
    };
    let priority = match &g.realtime_priority {
        None => Some(DEFAULT_RT_PRIORITY),
        Some(v) => c
            .int(
                v,
                "realtime_priority",
                1,
                99,
                " (sched_setscheduler's real-time range)",
            )
            .map(|n| n as u8),
    };
    match (policy, &g.realtime_priority) {
        (None, Some(v)) => {
            c.err(
                &v.span(),
                "realtime_priority has no effect without realtime_scheduling = \"fifo\" or \"rr\"",
            );
            None
        }
        (None, None) => Some(None),
        (Some(policy), _) => Some(Some(Realtime {
            policy,
            priority: priority?,
        })),
    }
}

fn duplicate_names(d: &mut Diagnostics, instances: &[RawInstance]) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for raw in instances {
        let name = raw.name.get_ref().as_str();
        let span = raw.name.span();
        if let Some(first) = seen.get(name) {
            let line = d.line_of(*first);
            d.error(
                &span,
                format!("instance {name:?}: name is already used by the instance at line {line}"),
            );
        } else {
            seen.insert(name, span.start);
        }
    }
}

/// The family an instance speaks, as far as its addresses parse.
fn raw_family(raw: &RawInstance) -> Option<Family> {
    let from_vip = raw
        .vips
        .iter()
        .find_map(|v| IpNet::from_str(v.address.get_ref()).ok())
        .map(|n| Family::of(&n.addr()));
    let from_src = || {
        let s = raw.unicast_src.as_ref()?;
        IpNet::from_str(s.get_ref())
            .ok()
            .map(|n| Family::of(&n.addr()))
    };
    from_vip.or_else(from_src)
}

/// Two instances with one VRID on one link (and family) are one virtual
/// router as far as the wire is concerned: their adverts would fight. A routed
/// instance is on each of its uplinks, and on every link when it names none.
fn duplicate_vrids(d: &mut Diagnostics, instances: &[RawInstance]) {
    let mut seen: HashMap<(&str, i64, Family), (&str, usize)> = HashMap::new();
    let mut everywhere: HashMap<(i64, Family), (&str, usize)> = HashMap::new();
    for raw in instances {
        let Some(family) = raw_family(raw) else {
            continue;
        };
        let vrid = *raw.vrid.get_ref();
        let links: Vec<&str> = match raw.interface.as_ref().map(|i| i.get_ref()) {
            Some(RawInterface::One(n)) => vec![n.as_str()],
            Some(RawInterface::Many(v)) => v.iter().map(String::as_str).collect(),
            None => Vec::new(),
        };
        let clash = if links.is_empty() {
            seen.iter()
                .find(|((_, v, f), _)| (*v, *f) == (vrid, family))
                .map(|((l, _, _), o)| (*l, *o))
                .or_else(|| everywhere.get(&(vrid, family)).map(|o| ("every link", *o)))
        } else {
            links.iter().find_map(|l| {
                seen.get(&(*l, vrid, family))
                    .map(|o| (*l, *o))
                    .or_else(|| everywhere.get(&(vrid, family)).map(|o| (*l, *o)))
            })
        };
        if let Some((link, (other, start))) = clash {
            let line = d.line_of(start);
            d.error(
                &raw.vrid.span(),
                format!(
                    "instance {:?}: vrid = {vrid} is already used on {link} by instance {other:?} \
                     (line {line}); VRIDs must be unique per interface",
                    raw.name.get_ref(),
                ),
            );
            continue;
        }
        let me = (raw.name.get_ref().as_str(), raw.vrid.span().start);
        if links.is_empty() {
            everywhere.insert((vrid, family), me);
        }
        for l in links {
            seen.insert((l, vrid, family), me);
        }
    }
}

/// A VIP held by two instances would be added by one and deleted by the
/// other as each changes state.
fn duplicate_vips(d: &mut Diagnostics, instances: &[RawInstance]) {
    let mut seen: HashMap<IpAddr, (&str, usize)> = HashMap::new();
    for raw in instances {
        let name = raw.name.get_ref().as_str();
        for v in &raw.vips {
            let Ok(net) = IpNet::from_str(v.address.get_ref()) else {
                continue;
            };
            let span = v.address.span();
            if let Some((other, start)) = seen.get(&net.addr()) {
                let line = d.line_of(*start);
                let whom = if *other == name {
                    "this instance".to_string()
                } else {
                    format!("instance {other:?}")
                };
                d.error(
                    &span,
                    format!(
                        "instance {name:?}: vip.address = {:?} is already a VIP of {whom} (line \
                         {line})",
                        v.address.get_ref()
                    ),
                );
            } else {
                seen.insert(net.addr(), (name, span.start));
            }
        }
    }
}

/// The kernel keys routes by prefix, table and metric; a second identical
/// route would fail to install, or be removed by the other instance.
fn duplicate_routes(d: &mut Diagnostics, instances: &[RawInstance]) {
    let mut seen: HashMap<(IpNet, i64, i64), (&str, usize)> = HashMap::new();
    for raw in instances {
        let name = raw.name.get_ref().as_str();
        for r in &raw.routes {
            let Ok(prefix) = IpNet::from_str(r.prefix.get_ref()) else {
                continue;
            };
            let table = r
                .table
                .as_ref()
                .map_or(routes::DEFAULT_ROUTE_TABLE, |t| *t.get_ref());
            let metric = r.metric.as_ref().map_or(0, |m| *m.get_ref());
            let span = r.prefix.span();
            if let Some((other, start)) = seen.get(&(prefix, table, metric)) {
                let line = d.line_of(*start);
                let whom = if *other == name {
                    "this instance".to_string()
                } else {
                    format!("instance {other:?}")
                };
                d.error(
                    &span,
                    format!(
                        "instance {name:?}: route {prefix} (table {table}, metric {metric}) is \
                         already installed by {whom} (line {line})"
                    ),
                );
            } else {
                seen.insert((prefix, table, metric), (name, span.start));
            }
        }
    }
}

fn sync_groups(
    d: &mut Diagnostics,
    groups: &[RawSyncGroup],
    instances: &[RawInstance],
) -> Option<Vec<SyncGroup>> {
    let mut out = Vec::new();
    let mut ok = true;
    let mut group_names: HashMap<&str, usize> = HashMap::new();
    // instance name -> (group name, offset of its mention)
    let mut member_of: HashMap<&str, (&str, usize)> = HashMap::new();
    for g in groups {
        let gname = g.name.get_ref().as_str();
        let mut c = Checker::new(d, format!("sync_group {gname:?}"));
        ok &= c.name(&g.name, "name").is_some();
        if let Some(first) = group_names.get(gname) {
            let line = c.d.line_of(*first);
            c.err(
                &g.name.span(),
                format!("name is already used by the sync group at line {line}"),
            );
            ok = false;
        } else {
            group_names.insert(gname, g.name.span().start);
        }
        let members = g.members.get_ref();
        if members.len() < 2 {
            c.err(
                &g.members.span(),
                "members needs at least two instances; a group of one synchronizes nothing",
            );
            ok = false;
        }
        let mut names = Vec::new();
        for m in members {
            let mname = m.get_ref().as_str();
            let span = m.span();
            if !instances.iter().any(|i| i.name.get_ref() == mname) {
                c.err(&span, format!("member {mname:?} is not a defined instance"));
                ok = false;
            } else if let Some((other, start)) = member_of.get(mname) {
                let line = c.d.line_of(*start);
                let msg = if *other == gname {
                    format!("member {mname:?} is listed twice")
                } else {
                    format!(
                        "member {mname:?} is already in sync group {other:?} (line {line}); an \
                         instance can be in one group only"
                    )
                };
                c.err(&span, msg);
                ok = false;
            } else {
                member_of.insert(mname, (gname, span.start));
            }
            names.push(mname.to_string());
        }
        out.push(SyncGroup {
            name: gname.to_string(),
            members: names,
        });
    }
    ok.then_some(out)
}

//! What a reload must do, setting by setting: the one diff the controller applies.
//!
//! Each setting of an instance is classed by what a change of it needs, mildest
//! first ([`ReloadClass`]); an edit takes the strongest class among the settings it
//! touches. Only [`ReloadClass::Restart`] sends priority 0 and starts the instance
//! afresh; everything else leaves the election where it is, so a master stays master.
//!
//! The typed config carries no spans, so a file that was only reformatted or
//! reordered compares equal and the instance is [`ReloadClass::Unchanged`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use super::types::{Config, Instance, Transport};

impl Instance {
    /// A hash of everything that defines this instance. Stable within one
    /// vrrpd binary (for logs and quick comparison); not for storing.
    pub fn fingerprint(&self) -> u64 {
        let mut h = DefaultHasher::new();
        self.hash(&mut h);
        h.finish()
    }
}

/// What a changed setting needs, mildest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReloadClass {
    /// Same meaning: nothing to do.
    Unchanged,
    /// Only a new value, used from now on: hooks, track scripts' commands and
    /// timings, GARP, VIP labels and scopes, the lease length, the sent TTL, peers'
    /// TTL windows, the checksum form. A master re-puts its VIPs in place when their
    /// attributes or lease changed.
    Value,
    /// An in-place input to the state machine: priority, preempt, preempt delay,
    /// accept mode, advert interval, tracking weights and tracked objects.
    Core,
    /// VIPs or routes added or removed: a master adds and removes just those, and
    /// its next advert carries the new address list. No transition.
    Addresses,
    /// The instance's identity changed (VRID, interface, version, mode, source,
    /// peers' addresses, datapath, sync group): priority 0, VIPs out, a fresh start.
    Restart,
}

impl ReloadClass {
    /// The lowercase name used in the reload log line and the docs.
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadClass::Unchanged => "unchanged",
            ReloadClass::Value => "value",
            ReloadClass::Core => "core",
            ReloadClass::Addresses => "addresses",
            ReloadClass::Restart => "restart",
        }
    }
}

impl std::fmt::Display for ReloadClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one instance present in both files changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceChange {
    pub class: ReloadClass,
    /// The configuration keys that changed, as written in the file.
    pub keys: Vec<&'static str>,
}

impl InstanceChange {
    fn note(&mut self, changed: bool, class: ReloadClass, key: &'static str) {
        if changed {
            self.class = self.class.max(class);
            self.keys.push(key);
        }
    }
}

/// How a new configuration relates to the running one, by instance name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ConfigDiff {
    /// In the new file only: start them.
    pub added: Vec<String>,
    /// In the old file only: stop them.
    pub removed: Vec<String>,
    /// In both, in the new file's order, with what their change needs.
    pub kept: Vec<(String, InstanceChange)>,
}

impl ConfigDiff {
    /// The change of a kept instance.
    pub fn change(&self, name: &str) -> Option<&InstanceChange> {
        self.kept.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }
}

/// The one reload diff. Sync groups are folded in: a member whose group's
/// membership changed restarts, and so does every member of a group one of whose
/// members restarts (the group's state machines move together). `[global]` is not
/// compared here (a reload keeps the running one).
pub fn diff(old: &Config, new: &Config) -> ConfigDiff {
    let old_by_name: HashMap<&str, &Instance> =
        old.instances.iter().map(|i| (i.name.as_str(), i)).collect();
    let group_of = |c: &Config, name: &str| c.sync_group_of(name).cloned();
    let mut out = ConfigDiff::default();
    for n in &new.instances {
        let Some(o) = old_by_name.get(n.name.as_str()) else {
            out.added.push(n.name.clone());
            continue;
        };
        let mut change = classify(o, n);
        change.note(
            group_of(old, &n.name) != group_of(new, &n.name),
            ReloadClass::Restart,
            "sync_group",
        );
        out.kept.push((n.name.clone(), change));
    }
    for o in &old.instances {
        if new.instance(&o.name).is_none() {
            out.removed.push(o.name.clone());
        }
    }
    // A group restarts as a whole.
    for g in &new.sync_groups {
        let restarts = g.members.iter().any(|m| {
            out.added.contains(m)
                || out
                    .change(m)
                    .is_some_and(|c| c.class == ReloadClass::Restart)
        });
        if restarts {
            for (name, change) in &mut out.kept {
                if g.members.contains(name) && change.class != ReloadClass::Restart {
                    change.note(true, ReloadClass::Restart, "sync_group member restarts");
                }
            }
        }
    }
    out
}

/// Classes every setting of an instance kept by name. The destructuring is
/// exhaustive on purpose: a new setting does not compile until it is classed here.
pub fn classify(old: &Instance, new: &Instance) -> InstanceChange {
    use ReloadClass::{Addresses, Core, Restart, Value};
    let Instance {
        name: _,
        links,
        vrid,
        version,
        priority,
        advert_interval,
        transport,
        v3_checksum_as_v2,
        vips,
        routes,
        track,
        hooks,
        preempt,
        preempt_delay,
        accept_mode,
        vip_lease,
        datapath,
        ttl,
        garp,
    } = new;
    let mut c = InstanceChange {
        class: ReloadClass::Unchanged,
        keys: Vec::new(),
    };
    c.note(*links != old.links, Restart, "interface");
    c.note(*vrid != old.vrid, Restart, "vrid");
    c.note(*version != old.version, Restart, "version");
    c.note(*datapath != old.datapath, Restart, "datapath");
    let (identity_old, windows_old) = transport_parts(&old.transport);
    let (identity_new, windows_new) = transport_parts(transport);
    c.note(
        identity_new != identity_old,
        Restart,
        "mode/unicast_src/peer.address",
    );
    c.note(
        identity_new == identity_old && windows_new != windows_old,
        Value,
        "peer.ttl_min/ttl_max",
    );

    c.note(*priority != old.priority, Core, "priority");
    c.note(*preempt != old.preempt, Core, "preempt");
    c.note(
        *preempt_delay != old.preempt_delay,
        Core,
        "preempt_delay_ms",
    );
    c.note(*accept_mode != old.accept_mode, Core, "accept_mode");
    c.note(
        *advert_interval != old.advert_interval,
        Core,
        "advert_interval_ms",
    );

    let where_old: BTreeSet<(IpNet, &str)> = old
        .vips
        .iter()
        .map(|v| (v.address, v.dev.as_str()))
        .collect();
    let where_new: BTreeSet<(IpNet, &str)> =
        vips.iter().map(|v| (v.address, v.dev.as_str())).collect();
    c.note(where_new != where_old, Addresses, "vip");
    // Same addresses on the same devices, other attributes (or order).
    c.note(
        where_new == where_old && *vips != old.vips,
        Value,
        "vip.scope/label",
    );
    c.note(*routes != old.routes, Addresses, "route");

    c.note(
        tracked_weights(track) != tracked_weights(&old.track),
        Core,
        "track weights",
    );
    c.note(
        tracker_runs(track) != tracker_runs(&old.track),
        Value,
        "track_script/track_file/track_route",
    );

    c.note(*hooks != old.hooks, Value, "hooks");
    c.note(*garp != old.garp, Value, "garp");
    c.note(*vip_lease != old.vip_lease, Value, "vip_lease_s");
    c.note(*ttl != old.ttl, Value, "ttl");
    c.note(
        *v3_checksum_as_v2 != old.v3_checksum_as_v2,
        Value,
        "v3_checksum_as_v2",
    );
    c
}

/// What the script, file and route trackers run and how often: weights left out.
#[allow(clippy::type_complexity)]
pub fn tracker_runs(
    t: &super::Track,
) -> (
    Vec<(&String, &Vec<String>, Duration, Duration, u32, u32)>,
    Vec<&std::path::PathBuf>,
    Vec<(IpNet, u32, Option<u8>, u16, Duration)>,
) {
    let scripts = t
        .scripts
        .iter()
        .map(|s| (&s.name, &s.command, s.interval, s.timeout, s.rise, s.fall))
        .collect();
    let files = t.files.iter().map(|f| &f.path).collect();
    let routes = t
        .routes
        .iter()
        .map(|r| (r.prefix, r.table, r.protocol, r.min_nexthops, r.rise))
        .collect();
    (scripts, files, routes)
}

/// A unicast transport's identity (source and peer addresses) and its peers' TTL
/// windows; multicast has no peers.
type TransportIdentity = Option<(IpNet, BTreeSet<IpAddr>)>;
type TtlWindows = BTreeMap<IpAddr, (u8, u8, Option<IpNet>)>;

fn transport_parts(t: &Transport) -> (TransportIdentity, TtlWindows) {
    match t {
        Transport::Multicast => (None, BTreeMap::new()),
        Transport::Unicast { source, peers } => (
            Some((*source, peers.iter().map(|p| p.address).collect())),
            peers
                .iter()
                .map(|p| (p.address, (p.ttl_min, p.ttl_max, p.subnet)))
                .collect(),
        ),
    }
}

/// Every tracked object of `t` by the name the state machine knows, with its
/// configured weight.
pub fn tracked_weights(t: &super::Track) -> BTreeMap<String, i16> {
    let ifaces = t
        .interfaces
        .iter()
        .map(|i| (tracked_interface(&i.name), i.weight));
    let scripts = t
        .scripts
        .iter()
        .map(|s| (tracked_script(&s.name), s.weight));
    let files = t.files.iter().map(|f| (tracked_file(&f.path), f.weight));
    let routes = t.routes.iter().map(|r| (tracked_route(r), r.weight));
    let peers = t.peers.iter().map(|_| (TRACKED_PEERS.to_string(), 0));
    ifaces
        .chain(scripts)
        .chain(files)
        .chain(routes)
        .chain(peers)
        .collect()
}

/// The tracked-object names the state machine knows, one per kind, so the
/// trackers, the reload and the core speak of the same object.
pub fn tracked_interface(name: &str) -> String {
    format!("iface:{name}")
}

pub fn tracked_script(name: &str) -> String {
    format!("track:{name}")
}

pub fn tracked_file(path: &std::path::Path) -> String {
    format!("track:{}", path.display())
}

/// A routed instance's reachability of its peers (weight 0: FAULT while none is).
pub const TRACKED_PEERS: &str = "peers:routable";

/// A route is one object per prefix, table and protocol (validation keeps them
/// unique): `route:0.0.0.0/0 table 254 proto 186`.
pub fn tracked_route(r: &super::TrackRoute) -> String {
    let mut s = format!("route:{} table {}", r.prefix, r.table);
    if let Some(p) = r.protocol {
        s += &format!(" proto {p}");
    }
    s
}

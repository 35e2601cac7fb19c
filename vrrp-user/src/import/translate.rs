//! keepalived statements to the vrrpd model, one diagnostic for every
//! construct whose behaviour the output does not reproduce exactly.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    net::IpAddr,
};

use ipnet::IpNet;

use super::{
    command,
    diagnostic::{Diagnostics, Loc},
    model::*,
    parser::Stmt,
};

/// Choices the keepalived file cannot make for vrrpd.
#[derive(Debug, Default, Clone)]
pub struct TranslateOptions {
    /// Prefix length of `unicast_src_ip`'s link. keepalived needs none;
    /// without it /24 (IPv6 /64) is assumed, with a diagnostic.
    pub src_prefix_len: Option<u8>,
}

/// keepalived's `global_defs` as they affect instances.
struct Globals {
    version: u8,
    strict: bool,
    garp_delay_ms: u64,
    garp_repeat: u32,
}

struct Script {
    loc: Loc,
    command: Vec<String>,
    interval_ms: u64,
    timeout_ms: u64,
    rise: u32,
    fall: u32,
    weight: i32,
    reverse: bool,
}

struct TrackFileDef {
    path: String,
    weight: i32,
    reverse: bool,
}

/// Blocks of keepalived outside VRRP, reported once each.
const OUT_OF_SCOPE: &[&str] = &[
    "virtual_server",
    "virtual_server_group",
    "real_server",
    "lvs_sync_daemon",
    "lvs_timeouts",
    "lvs_flush",
    "lvs_flush_onstop",
];

pub fn translate(stmts: &[Stmt], opts: &TranslateOptions, d: &mut Diagnostics) -> OutFile {
    let mut out = OutFile::default();
    let mut g = Globals {
        version: 2,
        strict: false,
        garp_delay_ms: 5000,
        garp_repeat: 5,
    };
    let mut script_user_seen = false;
    for s in stmts.iter().filter(|s| s.key == "global_defs") {
        global_defs(s, &mut g, &mut out, &mut script_user_seen, d);
    }
    let mut scripts = BTreeMap::new();
    let mut files = HashMap::new();
    let mut out_of_scope: BTreeMap<&str, (Loc, usize)> = BTreeMap::new();
    for s in stmts {
        match s.key.as_str() {
            "global_defs" | "vrrp_instance" | "vrrp_sync_group" => {}
            "vrrp_script" => {
                if let Some(name) = s.args.first() {
                    scripts.insert(name.text.clone(), script(s, d));
                } else {
                    d.approx(&s.loc, "vrrp_script without a name is an error", "ignored");
                }
            }
            "vrrp_track_file" => {
                if let Some(name) = s.args.first() {
                    files.insert(name.text.clone(), track_file_def(s, d));
                }
            }
            k if OUT_OF_SCOPE.contains(&k) || k.starts_with("lvs_") => {
                let e = out_of_scope.entry(k).or_insert((s.loc.clone(), 0));
                e.1 += 1;
            }
            "static_ipaddress" | "static_routes" | "static_rules" => d.approx(
                &s.loc,
                format!(
                    "`{}` is installed at start-up and kept, independent of VRRP state",
                    s.key
                ),
                "not translated: configure these in the host's network configuration",
            ),
            "net_namespace" => d.approx(
                &s.loc,
                format!(
                    "keepalived runs inside network namespace {}",
                    s.args.first().map(|w| w.text.as_str()).unwrap_or("?")
                ),
                "not translated: start vrrpd inside it (`ip netns exec NAME vrrpd run`)",
            ),
            other => d.approx(
                &s.loc,
                format!("top-level `{other}`"),
                "not translated (not part of what vrrpd does)",
            ),
        }
    }
    for (k, (loc, n)) in &out_of_scope {
        d.approx(
            loc,
            format!(
                "`{k}` ({n} block{}): load balancing (LVS/IPVS) and health checking",
                if *n == 1 { "" } else { "s" }
            ),
            "out of scope: vrrpd does VRRP only; keep keepalived's checker or use ipvsadm/haproxy",
        );
    }
    if !script_user_seen && stmts.iter().any(|s| s.key == "vrrp_instance") {
        // keepalived falls back to the user keepalived_script, else root.
        let loc = stmts[0].loc.clone();
        let uses_scripts = stmts.iter().any(|s| {
            s.key == "vrrp_script" || s.children().iter().any(|c| c.key.starts_with("notify"))
        });
        if uses_scripts {
            d.note(
                &loc,
                "without script_user, scripts run as `keepalived_script` if that user exists, else root",
                "scripts run as the daemon's user (root under the shipped unit); set global.script_user to change it",
            );
        }
    }
    let mut used_scripts = HashSet::new();
    let mut vips_seen: HashSet<IpAddr> = HashSet::new();
    for s in stmts.iter().filter(|s| s.key == "vrrp_instance") {
        if let Some(i) = instance(
            s,
            &g,
            opts,
            &scripts,
            &files,
            &mut used_scripts,
            &mut vips_seen,
            d,
        ) {
            if out.instances.iter().any(|o| o.name == i.name) {
                d.approx(
                    &s.loc,
                    format!("a second vrrp_instance {} is an error", i.name),
                    "the second one is left out",
                );
            } else {
                out.instances.push(i);
            }
        }
    }
    for (name, sc) in &scripts {
        if !used_scripts.contains(name) {
            d.note(
                &sc.loc,
                format!("vrrp_script {name} is not tracked by any instance, so it never runs"),
                "not imported",
            );
        }
    }
    let mut grouped = HashSet::new();
    for s in stmts.iter().filter(|s| s.key == "vrrp_sync_group") {
        if let Some(grp) = sync_group(s, &out, &mut grouped, d) {
            out.sync_groups.push(grp);
        }
    }
    if out.instances.is_empty() {
        let loc = stmts.first().map(|s| s.loc.clone()).unwrap_or(Loc {
            file: "?".into(),
            line: 0,
        });
        d.error(
            &loc,
            "no usable vrrp_instance",
            "nothing to run: no vrrpd configuration",
        );
    }
    out
}

fn global_defs(
    s: &Stmt,
    g: &mut Globals,
    out: &mut OutFile,
    script_user_seen: &mut bool,
    d: &mut Diagnostics,
) {
    let mut mail_reported = false;
    for c in s.children() {
        let args = c.arg_texts();
        match c.key.as_str() {
            "vrrp_version" => match args.first().and_then(|a| a.parse::<u8>().ok()) {
                Some(v @ (2 | 3)) => g.version = v,
                _ => d.approx(&c.loc, "invalid vrrp_version is ignored", "version 2 (keepalived's default)"),
            },
            "vrrp_strict" => {
                g.strict = true;
                d.note(
                    &c.loc,
                    "vrrp_strict enforces RFC rules: no authentication, no unicast, no_accept, and firewall rules dropping traffic to the VIPs",
                    "accept_mode = false for every instance; the other rules are not enforced by vrrpd",
                );
            }
            "vrrp_garp_master_delay" => match args.first().and_then(|a| a.parse::<u64>().ok()) {
                Some(v) => g.garp_delay_ms = v * 1000,
                None => d.approx(&c.loc, "invalid value ignored", "default 5 s"),
            },
            "vrrp_garp_master_repeat" => match args.first().and_then(|a| a.parse::<u32>().ok()) {
                Some(v) => g.garp_repeat = v.clamp(1, 255),
                None => d.approx(&c.loc, "invalid value ignored", "default 5"),
            },
            "script_user" => {
                *script_user_seen = true;
                if let Some(u) = args.first() {
                    out.script_user = Some(u.to_string());
                }
                if args.len() > 1 {
                    d.approx(
                        &c.loc,
                        format!("scripts run with group {}", args[1]),
                        "the user's primary group is used",
                    );
                }
            }
            "router_id" => d.note(
                &c.loc,
                "router_id names this node in e-mail alerts and logs",
                "not needed: vrrpd has no router id",
            ),
            "enable_script_security" => d.approx(
                &c.loc,
                "refuses scripts that a non-root user could modify",
                "no such check: hooks and track scripts run as configured",
            ),
            "vrrp_check_unicast_src" => d.note(
                &c.loc,
                "drops adverts whose source is not a unicast_peer",
                "always done (the `not_peer` counter)",
            ),
            "smtp_alert" | "smtp_alert_vrrp" => {
                if matches!(args.first().copied(), None | Some("true" | "yes" | "on")) {
                    d.approx(
                        &c.loc,
                        "sends an e-mail on every VRRP state change",
                        "no e-mail: use [instance.hooks] to send alerts",
                    );
                }
            }
            k if k.starts_with("notification_email")
                || k.starts_with("smtp_")
                || k == "email_faults" =>
            {
                if !mail_reported {
                    mail_reported = true;
                    d.note(
                        &c.loc,
                        "e-mail settings, used by VRRP only where smtp_alert is set",
                        "not translated (vrrpd sends no e-mail; smtp_alert is reported where set)",
                    );
                }
            }
            k if k.starts_with("lvs_") || k.starts_with("checker_") => d.approx(
                &c.loc,
                format!("`{k}` configures the LVS/checker side"),
                "out of scope: not translated",
            ),
            k if k.starts_with("vrrp_garp") || k.starts_with("vrrp_gna") || k == "vrrp_min_garp" => {
                d.approx(
                    &c.loc,
                    format!("`{k}` tunes gratuitous ARP beyond delay and repeat"),
                    "not translated: vrrpd sends `repeat` packets at once and one more burst after `delay_ms`",
                )
            }
            other => d.approx(
                &c.loc,
                format!("global_defs `{other}`"),
                "not translated: vrrpd has no equivalent setting",
            ),
        }
    }
}

fn seconds_ms(s: &str) -> Option<u64> {
    let v: f64 = s.parse().ok()?;
    (v.is_finite() && v >= 0.0).then(|| (v * 1000.0).round() as u64)
}

fn script(s: &Stmt, d: &mut Diagnostics) -> Script {
    let mut sc = Script {
        loc: s.loc.clone(),
        command: Vec::new(),
        interval_ms: 1000,
        timeout_ms: 0,
        rise: 1,
        fall: 1,
        weight: 0,
        reverse: false,
    };
    for c in s.children() {
        let args = c.arg_texts();
        let first = args.first().copied().unwrap_or("");
        match c.key.as_str() {
            "script" => {
                let text = args.join(" ");
                let (argv, shell) = command::to_argv(&text);
                if shell {
                    d.note(
                        &c.loc,
                        format!("runs `{text}`, looking the program up in PATH"),
                        "runs it with /bin/sh -c (vrrpd does no PATH lookup itself)",
                    );
                }
                sc.command = argv;
            }
            "interval" => match seconds_ms(first) {
                Some(ms) if ms >= 10 => sc.interval_ms = ms.min(3_600_000),
                _ => d.approx(&c.loc, "invalid interval", "1 s"),
            },
            "timeout" => match seconds_ms(first) {
                Some(ms) => sc.timeout_ms = ms,
                None => d.approx(&c.loc, "invalid timeout", "the interval"),
            },
            "rise" => sc.rise = first.parse::<u32>().unwrap_or(1).clamp(1, 1000),
            "fall" => sc.fall = first.parse::<u32>().unwrap_or(1).clamp(1, 1000),
            "weight" => {
                sc.weight = first.parse::<i32>().unwrap_or(0).clamp(-253, 253);
                sc.reverse = args.get(1) == Some(&"reverse");
            }
            "user" => d.approx(
                &c.loc,
                format!("runs this script as user {first}"),
                "runs it as global.script_user",
            ),
            "init_fail" => d.approx(
                &c.loc,
                "starts the script in the failed state",
                "the tracker starts without a result until its first runs",
            ),
            other => d.approx(&c.loc, format!("vrrp_script `{other}`"), "not translated"),
        }
    }
    if sc.timeout_ms == 0 {
        sc.timeout_ms = sc.interval_ms;
    } else if sc.timeout_ms > sc.interval_ms {
        d.approx(
            &s.loc,
            format!(
                "timeout {} ms longer than interval {} ms: the next run waits for the previous one",
                sc.timeout_ms, sc.interval_ms
            ),
            "timeout_ms = interval_ms (vrrpd does not let runs overlap)",
        );
        sc.timeout_ms = sc.interval_ms;
    }
    if sc.command.is_empty() {
        d.approx(
            &s.loc,
            "vrrp_script without `script` is ignored",
            "not imported",
        );
    }
    sc
}

fn track_file_def(s: &Stmt, d: &mut Diagnostics) -> TrackFileDef {
    let mut t = TrackFileDef {
        path: String::new(),
        weight: 1,
        reverse: false,
    };
    for c in s.children() {
        let args = c.arg_texts();
        match c.key.as_str() {
            "file" => t.path = args.first().unwrap_or(&"").to_string(),
            "weight" => {
                t.weight = args.first().and_then(|a| a.parse().ok()).unwrap_or(1);
                t.reverse = args.get(1) == Some(&"reverse");
            }
            other => d.approx(
                &c.loc,
                format!("vrrp_track_file `{other}`"),
                "not translated",
            ),
        }
    }
    t
}

/// A name vrrpd accepts: ASCII letters, digits, `_`, `-`, `.`, 1..64.
fn sanitize(name: &str, loc: &Loc, d: &mut Diagnostics) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if s.is_empty() {
        s = "unnamed".into();
    }
    if s != name {
        d.note(
            loc,
            format!("name `{name}`"),
            format!("written as `{s}` (vrrpd's name rules)"),
        );
    }
    s
}

/// A keepalived `(up, down)` priority contribution for weight `w`.
fn contribution(w: i32, reverse: bool) -> (i32, i32) {
    match (w > 0, reverse) {
        (true, false) => (w, 0),
        (false, false) => (0, w),
        (true, true) => (0, w),
        (false, true) => (w, 0),
    }
}

/// A tracked object before the priority shift.
struct Tracked {
    loc: Loc,
    up: i32,
    down: i32,
}

fn parse_weight(args: &[&str], default: i32) -> (i32, bool) {
    let mut w = default;
    let mut reverse = false;
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "weight" => {
                w = args
                    .get(i + 1)
                    .and_then(|a| a.parse().ok())
                    .unwrap_or(default);
                i += 1;
            }
            "reverse" => reverse = true,
            _ => {}
        }
        i += 1;
    }
    (w, reverse)
}

#[allow(clippy::too_many_arguments)]
fn instance(
    s: &Stmt,
    g: &Globals,
    opts: &TranslateOptions,
    scripts: &BTreeMap<String, Script>,
    files: &HashMap<String, TrackFileDef>,
    used_scripts: &mut HashSet<String>,
    vips_seen: &mut HashSet<IpAddr>,
    d: &mut Diagnostics,
) -> Option<OutInstance> {
    let Some(raw_name) = s.args.first() else {
        d.error(&s.loc, "vrrp_instance without a name", "left out");
        return None;
    };
    let name = sanitize(&raw_name.text, &s.loc, d);
    let mut interface = None;
    let mut vrid = None;
    let mut priority: i32 = 100;
    let mut advert: Option<(String, Loc)> = None;
    let mut version = g.version;
    let mut unicast_src: Option<(String, Loc)> = None;
    let mut peers: Vec<(String, Option<u8>, Option<u8>, Loc)> = Vec::new();
    let mut peer_block: Option<Loc> = None;
    let mut ttl = 255u8;
    let mut preempt = true;
    let mut preempt_delay_ms = 0;
    let mut accept_mode = !g.strict;
    let mut vip_stmts: Vec<(&Stmt, bool)> = Vec::new();
    let mut route_stmts: Vec<&Stmt> = Vec::new();
    let mut garp = (g.garp_repeat, g.garp_delay_ms);
    let mut track_ifs: Vec<(String, Tracked)> = Vec::new();
    let mut track_scripts: Vec<(OutTrackScript, Tracked)> = Vec::new();
    let mut track_files: Vec<(String, i32)> = Vec::new();
    let mut hooks = OutHooks::default();
    let mut generic_notify: Option<(String, Loc)> = None;
    let mut state_master: Option<Loc> = None;
    let mut auth: Option<Loc> = None;
    for c in s.children() {
        let args = c.arg_texts();
        let first = args.first().copied().unwrap_or("");
        match c.key.as_str() {
            "interface" => interface = Some(first.to_string()),
            "virtual_router_id" => match first.parse::<u8>() {
                Ok(v) if v >= 1 => vrid = Some(v),
                _ => d.error(&c.loc, format!("virtual_router_id `{first}` is invalid"), "cannot translate"),
            },
            "priority" => match first.parse::<i32>() {
                Ok(p @ 1..=255) => priority = p,
                _ => d.approx(&c.loc, format!("priority `{first}` is invalid and ignored"), "priority 100"),
            },
            "advert_int" => advert = Some((first.to_string(), c.loc.clone())),
            "version" => match first.parse::<u8>() {
                Ok(v @ (2 | 3)) => version = v,
                _ => d.approx(&c.loc, "invalid version ignored", format!("version {}", g.version)),
            },
            "state" => {
                if first.eq_ignore_ascii_case("MASTER") {
                    state_master = Some(c.loc.clone());
                }
            }
            "nopreempt" => preempt = false,
            "preempt" => preempt = true,
            "preempt_delay" => match seconds_ms(first) {
                Some(ms) => preempt_delay_ms = ms.min(3_600_000),
                None => d.approx(&c.loc, "invalid preempt_delay ignored", "no delay"),
            },
            "accept" => {
                if g.strict {
                    d.approx(&c.loc, "`accept` is refused in strict mode", "accept_mode = true as written");
                }
                accept_mode = true;
            }
            "no_accept" => accept_mode = false,
            "unicast_src_ip" => unicast_src = Some((first.to_string(), c.loc.clone())),
            "unicast_peer" => {
                peer_block = Some(c.loc.clone());
                for p in c.children() {
                    let a = p.arg_texts();
                    let mut min = None;
                    let mut max = None;
                    let mut i = 0;
                    while i < a.len() {
                        match a[i] {
                            "min_ttl" => min = a.get(i + 1).and_then(|v| v.parse().ok()),
                            "max_ttl" => max = a.get(i + 1).and_then(|v| v.parse().ok()),
                            other => d.approx(&p.loc, format!("peer option `{other}`"), "not translated"),
                        }
                        i += 2;
                    }
                    peers.push((p.key.clone(), min, max, p.loc.clone()));
                }
            }
            "unicast_ttl" => match first.parse::<u8>() {
                Ok(v) if v >= 1 => ttl = v,
                _ => d.approx(&c.loc, "invalid unicast_ttl ignored", "ttl = 255"),
            },
            "mcast_src_ip" => d.approx(
                &c.loc,
                format!("multicast adverts are sent from {first}"),
                "sent from the interface's primary address (no source setting in multicast mode)",
            ),
            "virtual_ipaddress" => vip_stmts.extend(c.children().iter().map(|v| (v, false))),
            "virtual_ipaddress_excluded" => {
                d.approx(
                    &c.loc,
                    "these addresses are added on the master but not carried in adverts",
                    "they are ordinary VIPs, carried in adverts: import every node's file so the address lists match",
                );
                vip_stmts.extend(c.children().iter().map(|v| (v, true)));
            }
            "virtual_routes" => route_stmts.extend(c.children()),
            "virtual_rules" => d.approx(
                &c.loc,
                "adds policy routing rules on the master",
                "not translated: vrrpd manages no rules (add them from an on_master hook)",
            ),
            "garp_master_delay" => match first.parse::<u64>() {
                Ok(v) => garp.1 = v * 1000,
                Err(_) => d.approx(&c.loc, "invalid value ignored", "5 s"),
            },
            "garp_master_repeat" => match first.parse::<u32>() {
                Ok(v) => garp.0 = v.clamp(1, 255),
                Err(_) => d.approx(&c.loc, "invalid value ignored", "5"),
            },
            k if k.starts_with("garp_") => d.approx(
                &c.loc,
                format!("`{k}` tunes gratuitous ARP beyond delay and repeat"),
                "not translated",
            ),
            "track_interface" => {
                for t in c.children() {
                    let (w, reverse) = parse_weight(&t.arg_texts(), 0);
                    if w == 0 && reverse {
                        d.approx(&t.loc, "weight 0 reverse: FAULT while the interface is up", "not translated");
                        continue;
                    }
                    let (up, down) = contribution(w, reverse);
                    track_ifs.push((t.key.clone(), Tracked { loc: t.loc.clone(), up, down }));
                }
            }
            "track_script" => {
                for t in c.children() {
                    let Some(sc) = scripts.get(&t.key) else {
                        d.note(&t.loc, format!("track_script {} names no vrrp_script and is ignored", t.key), "not imported");
                        continue;
                    };
                    used_scripts.insert(t.key.clone());
                    if sc.command.is_empty() {
                        continue;
                    }
                    let (mut w, mut reverse) = (sc.weight, sc.reverse);
                    if t.args.iter().any(|a| a.is("weight")) {
                        (w, reverse) = parse_weight(&t.arg_texts(), sc.weight);
                    }
                    if w == 0 && reverse {
                        d.approx(&t.loc, "weight 0 reverse: FAULT while the script succeeds", "not translated");
                        continue;
                    }
                    let (up, down) = contribution(w, reverse);
                    let script_name = sanitize(&t.key, &t.loc, d);
                    track_scripts.push((
                        OutTrackScript {
                            name: script_name,
                            command: sc.command.clone(),
                            interval_ms: sc.interval_ms,
                            timeout_ms: sc.timeout_ms,
                            rise: sc.rise,
                            fall: sc.fall,
                            weight: 0,
                        },
                        Tracked { loc: t.loc.clone(), up, down },
                    ));
                }
            }
            "track_file" => {
                for t in c.children() {
                    let Some(f) = files.get(&t.key) else {
                        d.note(&t.loc, format!("track_file {} names no vrrp_track_file and is ignored", t.key), "not imported");
                        continue;
                    };
                    let (mut w, mut reverse) = (f.weight, f.reverse);
                    if t.args.iter().any(|a| a.is("weight")) {
                        (w, reverse) = parse_weight(&t.arg_texts(), f.weight);
                    }
                    if reverse {
                        w = -w;
                    }
                    track_files.push((f.path.clone(), w.clamp(-254, 254)));
                }
            }
            "notify_master" | "notify_backup" | "notify_fault" | "notify_stop" => {
                let text = args.join(" ");
                let (argv, shell) = command::to_argv(&text);
                if shell {
                    d.note(&c.loc, format!("runs `{text}`, looking the program up in PATH"), "runs it with /bin/sh -c");
                }
                let slot = match c.key.as_str() {
                    "notify_master" => &mut hooks.on_master,
                    "notify_backup" => &mut hooks.on_backup,
                    "notify_fault" => &mut hooks.on_fault,
                    _ => &mut hooks.on_stop,
                };
                *slot = Some(argv);
            }
            "notify" => generic_notify = Some((args.join(" "), c.loc.clone())),
            "authentication" => auth = Some(c.loc.clone()),
            "use_vmac" => d.approx(
                &c.loc,
                "the master answers for the VIPs from the virtual MAC 00:00:5e:00:01:VRID on a macvlan interface",
                "no virtual MAC: VIPs are added to the interface itself and gratuitous ARP announces its own MAC",
            ),
            "smtp_alert" => d.approx(&c.loc, "sends an e-mail on each state change", "no e-mail: use [instance.hooks]"),
            "lvs_sync_daemon_interface" => d.approx(&c.loc, "runs the LVS connection sync daemon", "out of scope: not translated"),
            "dont_track_primary" => d.approx(
                &c.loc,
                "ignores the state of the advert interface",
                "not translated: vrrpd goes to FAULT when the interface is down",
            ),
            "old_unicast_checksum" => d.approx(
                &c.loc,
                "computes the VRRPv3 unicast checksum with the multicast group as destination",
                "not translated: the standard checksum (RFC 9568) is used",
            ),
            "check_unicast_src" => d.note(&c.loc, "drops adverts from non-peers", "always done"),
            "debug" => {}
            other => d.approx(&c.loc, format!("vrrp_instance `{other}`"), "not translated"),
        }
    }
    let (Some(interface), Some(vrid)) = (interface, vrid) else {
        d.error(&s.loc, format!("vrrp_instance {name} lacks interface or virtual_router_id, and keepalived refuses it"), "left out");
        return None;
    };

    // Addresses, family first (it decides the version).
    let mut vips: Vec<OutVip> = Vec::new();
    let mut family_v6: Option<bool> = None;
    for (v, _excluded) in &vip_stmts {
        let Some(vip) = vip(v, &interface, d) else {
            continue;
        };
        let net: IpNet = match vip.address.parse() {
            Ok(n) => n,
            Err(_) => continue,
        };
        let v6 = matches!(net, IpNet::V6(_));
        if *family_v6.get_or_insert(v6) != v6 {
            d.approx(
                &v.loc,
                "a VIP of the other address family in one instance is refused",
                "left out",
            );
            continue;
        }
        if !vips_seen.insert(net.addr()) {
            d.approx(
                &v.loc,
                format!("{} is listed again (keepalived keeps one copy)", net.addr()),
                "the later entry is left out",
            );
            continue;
        }
        if vips.len() == 20 {
            d.approx(
                &v.loc,
                "more than 20 addresses: the rest are not in adverts",
                "left out (at most 20 VIPs per instance)",
            );
            continue;
        }
        vips.push(vip);
    }
    let v6 = family_v6.unwrap_or(false);
    if v6 && version == 2 {
        d.note(
            &s.loc,
            "VRRPv2 is IPv4 only; an IPv6 instance runs version 3",
            "version = 3",
        );
        version = 3;
    }
    // RFC 9568: the first address of an IPv6 multicast instance is link-local.
    let link_local = vips
        .iter()
        .position(|v| v.address.to_ascii_lowercase().starts_with("fe80:"));
    if v6
        && unicast_src.is_none()
        && peers.is_empty()
        && let Some(pos) = link_local.filter(|&p| p != 0)
    {
        let ll = vips.remove(pos);
        vips.insert(0, ll);
        d.note(
            &s.loc,
            "the link-local VIP is not listed first",
            "moved first, as RFC 9568 wants",
        );
    }

    // Timing.
    let advert_interval_ms = match &advert {
        None => 1000,
        Some((text, loc)) => match seconds_ms(text) {
            None => {
                d.approx(loc, format!("advert_int `{text}` is invalid"), "1 s");
                1000
            }
            Some(ms) if version == 2 => {
                let s = ((ms + 500) / 1000).clamp(1, 255);
                if s * 1000 != ms {
                    d.approx(
                        loc,
                        format!("advert_int {text} with VRRPv2"),
                        format!("{s} s (VRRPv2 carries whole seconds)"),
                    );
                }
                s * 1000
            }
            Some(ms) => {
                let r = ((ms + 5) / 10 * 10).clamp(10, 40950);
                if r != ms {
                    d.approx(
                        loc,
                        format!("advert_int {text}"),
                        format!("{r} ms (VRRPv3 carries centiseconds)"),
                    );
                }
                r
            }
        },
    };

    // Transport.
    let mode = match (&unicast_src, peers.is_empty()) {
        (Some((src, loc)), true) => {
            d.approx(
                peer_block.as_ref().unwrap_or(loc),
                "unicast_src_ip without any unicast_peer: adverts silently go by multicast",
                "mode = \"multicast\", said explicitly (vrrpd has no fallback)",
            );
            let _ = src;
            OutMode::Multicast
        }
        (None, true) => OutMode::Multicast,
        (None, false) => {
            d.error(
                peer_block.as_ref().unwrap_or(&s.loc),
                "unicast_peer without unicast_src_ip: adverts are sent from the interface's primary address",
                "vrrpd needs unicast_src with the link's prefix: add unicast_src_ip to the keepalived file",
            );
            return None;
        }
        (Some((src, loc)), false) => {
            if g.strict {
                d.approx(
                    loc,
                    "strict mode refuses unicast peers",
                    "unicast, as the file asks",
                );
            }
            let addr: IpAddr = match src.parse() {
                Ok(a) => a,
                Err(_) => {
                    d.error(
                        loc,
                        format!("unicast_src_ip `{src}` is not an address"),
                        "cannot translate",
                    );
                    return None;
                }
            };
            let prefix = match opts.src_prefix_len {
                Some(p) => p,
                None => {
                    let p = if addr.is_ipv6() { 64 } else { 24 };
                    d.approx(
                        loc,
                        "unicast_src_ip carries no prefix length",
                        format!("unicast_src = \"{addr}/{p}\" assumed: correct it to the link's prefix (or pass --src-prefix-len)"),
                    );
                    p
                }
            };
            let src_net: Option<IpNet> = format!("{addr}/{prefix}").parse().ok();
            let mut out_peers = Vec::new();
            for (p, min, max, ploc) in &peers {
                let Ok(paddr) = p.parse::<IpAddr>() else {
                    d.approx(
                        ploc,
                        format!("unicast_peer `{p}` is not an address"),
                        "left out",
                    );
                    continue;
                };
                let same_subnet = src_net.is_some_and(|n| n.contains(&paddr));
                let mut ttl_min = min.unwrap_or(1);
                let ttl_max = max.unwrap_or(255);
                if min.is_none() && max.is_none() {
                    d.note(
                        ploc,
                        "no min_ttl/max_ttl: unicast adverts are accepted with any TTL",
                        "ttl_min = 1, ttl_max = 255 written out",
                    );
                }
                if ttl_min == 255 && !same_subnet {
                    d.approx(
                        ploc,
                        "min_ttl 255 for a peer beyond a router drops all its adverts (they arrive below 255)",
                        "ttl_min = 240 (at most 15 router hops)",
                    );
                    ttl_min = 240;
                }
                out_peers.push(OutPeer {
                    address: paddr.to_string(),
                    ttl_min,
                    ttl_max,
                });
            }
            if out_peers.is_empty() {
                d.error(loc, "no usable unicast_peer", "cannot translate");
                return None;
            }
            OutMode::Unicast {
                src: format!("{addr}/{prefix}"),
                peers: out_peers,
            }
        }
    };
    if matches!(mode, OutMode::Multicast) && ttl != 255 {
        d.approx(
            &s.loc,
            "unicast_ttl has no effect on multicast",
            "ttl = 255",
        );
        ttl = 255;
    }

    if let Some(loc) = &state_master {
        if priority == 255 {
            d.note(
                loc,
                "state MASTER of the address owner: master at once",
                "the owner (priority 255) becomes master at once too",
            );
        } else {
            d.approx(
                loc,
                "state MASTER: starts as backup but takes over after one advert interval (plus a minimal skew) if it hears no master",
                "starts as backup and waits the full Master_Down_Interval (3 intervals plus skew) unless a better router advertises",
            );
        }
    }
    if let Some(loc) = &auth {
        if version == 2 {
            d.approx(
                loc,
                "VRRPv2 authentication: adverts carry the password (or AH) and adverts without it are dropped",
                "no authentication (RFC 3768 removed it): peers must drop theirs too, or they will ignore these adverts",
            );
        } else {
            d.note(loc, "authentication is ignored with VRRPv3", "none");
        }
    }
    if !preempt && preempt_delay_ms > 0 {
        d.note(
            &s.loc,
            "preempt_delay has no effect with nopreempt",
            "not written",
        );
        preempt_delay_ms = 0;
    }

    // Priority: keepalived adds positive weights while up; vrrpd adds its
    // weight while down. Shift the base by the sum of the "up" parts.
    let up_sum: i32 = track_ifs.iter().map(|t| t.1.up).sum::<i32>()
        + track_scripts.iter().map(|t| t.1.up).sum::<i32>();
    let any_weight = track_ifs.iter().any(|t| t.1.up != 0 || t.1.down != 0)
        || track_scripts.iter().any(|t| t.1.up != 0 || t.1.down != 0)
        || track_files.iter().any(|t| t.1 != 0);
    let mut prio = priority;
    if priority == 255 && any_weight {
        d.approx(
            &s.loc,
            "tracking weights of the address owner (priority 255) are not applied",
            "weights set to 0: a failing tracker puts the owner in FAULT",
        );
        for t in track_ifs
            .iter_mut()
            .map(|t| &mut t.1)
            .chain(track_scripts.iter_mut().map(|t| &mut t.1))
        {
            t.up = 0;
            t.down = 0;
        }
        for f in &mut track_files {
            f.1 = 0;
        }
    } else if up_sum != 0 {
        prio = priority + up_sum;
        let first = track_ifs
            .iter()
            .map(|t| &t.1)
            .chain(track_scripts.iter().map(|t| &t.1))
            .find(|t| t.up != 0)
            .map(|t| t.loc.clone())
            .unwrap_or(s.loc.clone());
        if prio > 254 {
            d.approx(
                &first,
                format!("priority {priority} plus weights applied while up ({up_sum}), capped at 254"),
                "priority = 254 and each weight as the drop from there: the effective priorities differ",
            );
            prio = 254;
        } else {
            d.note(
                &first,
                format!("priority {priority}, raised by {up_sum} while the tracked objects are up"),
                format!("priority = {prio} and negative weights applied while they are down (the same effective priorities)"),
            );
        }
    }
    let track_interfaces: Vec<(String, i32)> = track_ifs
        .into_iter()
        .map(|(n, t)| (n, (t.down - t.up).clamp(-254, 254)))
        .collect();
    let track_scripts: Vec<OutTrackScript> = track_scripts
        .into_iter()
        .map(|(mut o, t)| {
            o.weight = (t.down - t.up).clamp(-254, 254);
            o
        })
        .collect();
    let mut seen_names = HashSet::new();
    let track_scripts = track_scripts
        .into_iter()
        .filter(|t| seen_names.insert(t.name.clone()))
        .collect();
    let priority = prio as u8;
    if priority == 255 && (!preempt || preempt_delay_ms > 0 || !accept_mode) {
        d.approx(
            &s.loc,
            "the address owner (priority 255) always preempts at once and accepts",
            "preempt = true, no delay, accept_mode = true",
        );
        preempt = true;
        preempt_delay_ms = 0;
        accept_mode = true;
    }

    if let Some((text, loc)) = generic_notify {
        let weighted = any_weight;
        let mk = |state: &str| -> Vec<String> {
            let (mut argv, shell) = command::to_argv(&text);
            let extra = [
                "INSTANCE".to_string(),
                raw_name.text.clone(),
                state.to_string(),
                priority.to_string(),
            ];
            if shell {
                let last = argv.pop().unwrap_or_default();
                argv.push(format!(
                    "{last} INSTANCE {} {state} {priority}",
                    raw_name.text
                ));
            } else {
                argv.extend(extra);
            }
            argv
        };
        let both = [
            (&mut hooks.on_master, "MASTER"),
            (&mut hooks.on_backup, "BACKUP"),
            (&mut hooks.on_fault, "FAULT"),
            (&mut hooks.on_stop, "STOP"),
        ];
        let mut clashed = false;
        for (slot, state) in both {
            if slot.is_some() {
                clashed = true;
            } else {
                *slot = Some(mk(state));
            }
        }
        let msg = "runs `notify` with INSTANCE, name, state and the current priority appended";
        if weighted {
            d.approx(&loc, msg, "one hook per state with the configured priority as the last argument (the current one may differ)");
        } else {
            d.note(&loc, msg, "one hook per state with those arguments");
        }
        if clashed {
            d.approx(
                &loc,
                "runs `notify` as well as notify_<state>",
                "only the notify_<state> script runs for that state",
            );
        }
    }

    if hooks.on_master.is_some()
        || hooks.on_backup.is_some()
        || hooks.on_fault.is_some()
        || hooks.on_stop.is_some()
    {
        hooks.timeout_ms = 600_000;
        d.note(
            &s.loc,
            "notify scripts are never killed",
            "hooks.timeout_ms = 600000, vrrpd's maximum: a hook running longer is killed",
        );
    }

    // Routes.
    let mut routes = Vec::new();
    for r in route_stmts {
        if let Some(r) = route(r, v6, d) {
            routes.push(r);
        }
    }

    if vips.is_empty() {
        d.error(
            &s.loc,
            format!("vrrp_instance {name} has no usable virtual_ipaddress"),
            "left out: vrrpd needs at least one VIP",
        );
        return None;
    }
    Some(OutInstance {
        name,
        interface,
        vrid,
        version,
        priority,
        advert_interval_ms,
        mode,
        ttl,
        v3_checksum_as_v2: false,
        preempt,
        preempt_delay_ms,
        accept_mode,
        vips,
        routes,
        track_interfaces,
        track_scripts,
        track_files,
        hooks,
        garp,
    })
}

fn vip(v: &Stmt, interface: &str, d: &mut Diagnostics) -> Option<OutVip> {
    let text = &v.key;
    let net: IpNet = match text.parse::<IpNet>() {
        Ok(n) => n,
        Err(_) => match text.parse::<IpAddr>() {
            Ok(a) => IpNet::from(a),
            Err(_) => {
                d.approx(&v.loc, format!("`{text}` is not an address"), "left out");
                return None;
            }
        },
    };
    let mut vip = OutVip {
        address: net.to_string(),
        dev: interface.to_string(),
        scope: "global".into(),
        label: None,
    };
    let a = v.arg_texts();
    let mut i = 0;
    while i < a.len() {
        let val = a.get(i + 1).map(|s| s.to_string());
        match a[i] {
            "dev" => {
                vip.dev = val.unwrap_or_default();
                i += 1;
            }
            "scope" => {
                let sc = val.unwrap_or_default();
                match sc.as_str() {
                    "global" | "site" | "link" | "host" => vip.scope = sc,
                    "nowhere" => d.approx(&v.loc, "scope nowhere", "scope global"),
                    other => match other.parse::<u8>() {
                        Ok(0) => {}
                        Ok(200) => vip.scope = "site".into(),
                        Ok(253) => vip.scope = "link".into(),
                        Ok(254) => vip.scope = "host".into(),
                        _ => d.approx(&v.loc, format!("scope {other}"), "scope global"),
                    },
                }
                i += 1;
            }
            "label" => {
                vip.label = val;
                i += 1;
            }
            "brd" | "broadcast" => {
                d.approx(
                    &v.loc,
                    "sets the address's broadcast address",
                    "the kernel's default broadcast",
                );
                i += 1;
            }
            "peer" => {
                d.approx(&v.loc, "a point-to-point peer address", "not translated");
                i += 1;
            }
            "no_track" => d.approx(
                &v.loc,
                "no_track: the address's device state is not tracked",
                "tracked as usual",
            ),
            "home" | "nodad" | "noprefixroute" | "autojoin" | "mngtmpaddr" => {
                d.approx(&v.loc, format!("address flag `{}`", a[i]), "not translated")
            }
            other => d.approx(
                &v.loc,
                format!("address option `{other}`"),
                "not translated",
            ),
        }
        i += 1;
    }
    if vip.label.is_some() && matches!(net, IpNet::V6(_)) {
        d.approx(&v.loc, "a label on an IPv6 address is ignored", "no label");
        vip.label = None;
    }
    if vip.dev == "lo" && net.prefix_len() != net.max_prefix_len() {
        d.approx(
            &v.loc,
            format!("{net} on lo makes the whole prefix local"),
            format!("{}/{} (a host prefix)", net.addr(), net.max_prefix_len()),
        );
        vip.address = format!("{}/{}", net.addr(), net.max_prefix_len());
    }
    Some(vip)
}

fn route(r: &Stmt, v6: bool, d: &mut Diagnostics) -> Option<OutRoute> {
    let mut words: Vec<&str> = std::iter::once(r.key.as_str())
        .chain(r.arg_texts())
        .collect();
    if words.first() == Some(&"src") {
        d.approx(
            &r.loc,
            format!(
                "route with preferred source {}",
                words.get(1).unwrap_or(&"?")
            ),
            "no source address (the kernel picks one)",
        );
        words.drain(..2.min(words.len()));
    }
    if let Some(kind) = words.first().filter(|w| {
        [
            "blackhole",
            "unreachable",
            "prohibit",
            "throw",
            "local",
            "broadcast",
            "anycast",
            "multicast",
            "nat",
        ]
        .contains(w)
    }) {
        d.approx(
            &r.loc,
            format!("a `{kind}` route"),
            "left out: vrrpd installs unicast routes only",
        );
        return None;
    }
    let dest = words.first()?;
    let net: IpNet = match dest
        .parse::<IpNet>()
        .or_else(|_| dest.parse::<IpAddr>().map(IpNet::from))
    {
        Ok(n) => n,
        Err(_) => {
            d.approx(&r.loc, format!("route `{dest}`"), "left out: not a prefix");
            return None;
        }
    };
    if matches!(net, IpNet::V6(_)) != v6 {
        d.approx(
            &r.loc,
            "a route of the other address family",
            "left out (one family per instance)",
        );
        return None;
    }
    let prefix = net.trunc();
    if prefix != net {
        d.approx(
            &r.loc,
            format!("{net} has host bits set"),
            format!("{prefix}"),
        );
    }
    let mut out = OutRoute {
        prefix: prefix.to_string(),
        via: None,
        dev: None,
        table: None,
        metric: None,
    };
    let mut i = 1;
    while i < words.len() {
        let val = words.get(i + 1).copied();
        match words[i] {
            "via" | "gw" => {
                out.via = val.map(str::to_string);
                i += 1;
            }
            "or" => {
                d.approx(
                    &r.loc,
                    format!("a multipath route (also via {})", val.unwrap_or("?")),
                    "only the first gateway",
                );
                i += 1;
            }
            "dev" => {
                out.dev = val.map(str::to_string);
                i += 1;
            }
            "table" => {
                match val.and_then(|v| v.parse::<u32>().ok()) {
                    Some(t) => out.table = Some(t),
                    None => d.approx(
                        &r.loc,
                        format!("table `{}`", val.unwrap_or("")),
                        "main table (only numbers are translated)",
                    ),
                }
                i += 1;
            }
            "metric" | "preference" | "priority" => {
                out.metric = val.and_then(|v| v.parse().ok());
                i += 1;
            }
            "src" | "scope" | "protocol" | "proto" | "mtu" | "advmss" | "realm" | "weight"
            | "pref" | "initcwnd" | "initrwnd" | "features" | "quickack" | "congctl"
            | "rto_min" | "hoplimit" | "window" | "rtt" | "rttvar" | "ssthresh" | "cwnd"
            | "reordering" | "encap" | "fastopen_no_cookie" | "ttl-propagate" => {
                d.approx(
                    &r.loc,
                    format!("route option `{} {}`", words[i], val.unwrap_or("")),
                    "not translated (vrrpd stamps its own protocol)",
                );
                i += 1;
            }
            other => d.approx(&r.loc, format!("route option `{other}`"), "not translated"),
        }
        i += 1;
    }
    if out.via.is_none() && out.dev.is_none() {
        d.approx(&r.loc, "a route without via or dev", "left out");
        return None;
    }
    Some(out)
}

fn sync_group(
    s: &Stmt,
    out: &OutFile,
    grouped: &mut HashSet<String>,
    d: &mut Diagnostics,
) -> Option<OutSyncGroup> {
    let name = sanitize(
        s.args.first().map(|w| w.text.as_str()).unwrap_or("group"),
        &s.loc,
        d,
    );
    let mut members = Vec::new();
    for c in s.children() {
        match c.key.as_str() {
            "group" => {
                for m in c.children() {
                    let mname = m.key.clone();
                    if !out.instances.iter().any(|i| i.name == mname) {
                        d.note(
                            &m.loc,
                            format!("group member {mname} is not a (usable) vrrp_instance"),
                            "left out",
                        );
                    } else if !grouped.insert(mname.clone()) {
                        d.approx(
                            &m.loc,
                            format!("{mname} is in another sync group already"),
                            "left out of this one",
                        );
                    } else if !members.contains(&mname) {
                        members.push(mname);
                    }
                }
            }
            k if k.starts_with("notify") => d.approx(
                &c.loc,
                format!("`{k}` runs once per state change of the whole group"),
                "not translated: put the script in the members' [instance.hooks]",
            ),
            "smtp_alert" => d.approx(&c.loc, "sends e-mail on group state changes", "no e-mail"),
            other => d.approx(
                &c.loc,
                format!("vrrp_sync_group `{other}`"),
                "not translated",
            ),
        }
    }
    if members.len() < 2 {
        d.note(
            &s.loc,
            format!("sync group {name} has fewer than two members, so it syncs nothing"),
            "left out",
        );
        return None;
    }
    Some(OutSyncGroup { name, members })
}

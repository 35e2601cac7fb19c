//! Writes the [`OutFile`] as TOML, every key explicit, with the diagnostics
//! as a comment at the top.

use std::fmt::Write;

use super::{
    diagnostic::Diagnostic,
    model::{OutFile, OutInstance, OutMode},
};

fn s(v: &str) -> String {
    toml::Value::String(v.to_string()).to_string()
}

fn argv(v: &[String]) -> String {
    let parts: Vec<String> = v.iter().map(|a| s(a)).collect();
    format!("[{}]", parts.join(", "))
}

pub fn emit(out: &OutFile, source: &str, diagnostics: &[Diagnostic]) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "# Imported from {source} by `vrrpd import-keepalived`.");
    let _ = writeln!(
        t,
        "# keepalived's implicit defaults are written out; see docs/configuration.md."
    );
    if !diagnostics.is_empty() {
        let _ = writeln!(t, "#\n# What differs from keepalived:");
        for d in diagnostics {
            let _ = writeln!(t, "#   {d}");
        }
    }
    t.push_str("\n[global]\n");
    if let Some(u) = &out.script_user {
        let _ = writeln!(t, "script_user = {}", s(u));
    }
    for i in &out.instances {
        instance(&mut t, i);
    }
    for g in &out.sync_groups {
        let members: Vec<String> = g.members.iter().map(|m| s(m)).collect();
        let _ = writeln!(
            t,
            "\n[[sync_group]]\nname = {}\nmembers = [{}]",
            s(&g.name),
            members.join(", ")
        );
    }
    t
}

fn instance(t: &mut String, i: &OutInstance) {
    let _ = writeln!(t, "\n[[instance]]");
    let _ = writeln!(t, "name = {}", s(&i.name));
    let _ = writeln!(t, "interface = {}", s(&i.interface));
    let _ = writeln!(t, "vrid = {}", i.vrid);
    let _ = writeln!(t, "version = {}", i.version);
    let _ = writeln!(t, "priority = {}", i.priority);
    let _ = writeln!(t, "advert_interval_ms = {}", i.advert_interval_ms);
    match &i.mode {
        OutMode::Multicast => {
            let _ = writeln!(t, "mode = \"multicast\"");
        }
        OutMode::Unicast { src, .. } => {
            let _ = writeln!(t, "mode = \"unicast\"");
            let _ = writeln!(t, "unicast_src = {}", s(src));
        }
    }
    let _ = writeln!(t, "ttl = {}", i.ttl);
    if i.v3_checksum_as_v2 {
        let _ = writeln!(t, "v3_checksum_as_v2 = true");
    }
    let _ = writeln!(t, "preempt = {}", i.preempt);
    if i.preempt {
        let _ = writeln!(t, "preempt_delay_ms = {}", i.preempt_delay_ms);
    }
    let _ = writeln!(t, "accept_mode = {}", i.accept_mode);
    if let OutMode::Unicast { peers, .. } = &i.mode {
        for p in peers {
            let _ = writeln!(
                t,
                "\n[[instance.peer]]\naddress = {}\nttl_min = {}\nttl_max = {}",
                s(&p.address),
                p.ttl_min,
                p.ttl_max
            );
        }
    }
    for v in &i.vips {
        let _ = writeln!(
            t,
            "\n[[instance.vip]]\naddress = {}\ndev = {}\nscope = {}",
            s(&v.address),
            s(&v.dev),
            s(&v.scope)
        );
        if let Some(l) = &v.label {
            let _ = writeln!(t, "label = {}", s(l));
        }
    }
    for r in &i.routes {
        let _ = writeln!(t, "\n[[instance.route]]\nprefix = {}", s(&r.prefix));
        if let Some(v) = &r.via {
            let _ = writeln!(t, "via = {}", s(v));
        }
        if let Some(d) = &r.dev {
            let _ = writeln!(t, "dev = {}", s(d));
        }
        let _ = writeln!(t, "table = {}", r.table.unwrap_or(254));
        let _ = writeln!(t, "metric = {}", r.metric.unwrap_or(0));
    }
    for (name, weight) in &i.track_interfaces {
        let _ = writeln!(
            t,
            "\n[[instance.track_interface]]\nname = {}\nweight = {weight}",
            s(name)
        );
    }
    for ts in &i.track_scripts {
        let _ = writeln!(
            t,
            "\n[[instance.track_script]]\nname = {}\ncommand = {}\ninterval_ms = {}\ntimeout_ms = {}\nrise = {}\nfall = {}\nweight = {}",
            s(&ts.name),
            argv(&ts.command),
            ts.interval_ms,
            ts.timeout_ms,
            ts.rise,
            ts.fall,
            ts.weight
        );
    }
    for (path, weight) in &i.track_files {
        let _ = writeln!(
            t,
            "\n[[instance.track_file]]\npath = {}\nweight = {weight}",
            s(path)
        );
    }
    let h = &i.hooks;
    if h.on_master.is_some() || h.on_backup.is_some() || h.on_fault.is_some() || h.on_stop.is_some()
    {
        let _ = writeln!(t, "\n[instance.hooks]\ntimeout_ms = {}", h.timeout_ms);
        for (key, v) in [
            ("on_master", &h.on_master),
            ("on_backup", &h.on_backup),
            ("on_fault", &h.on_fault),
            ("on_stop", &h.on_stop),
        ] {
            if let Some(v) = v {
                let _ = writeln!(t, "{key} = {}", argv(v));
            }
        }
    }
    if i.vips.iter().any(|v| v.dev == i.interface) {
        let _ = writeln!(
            t,
            "\n[instance.garp]\nrepeat = {}\ndelay_ms = {}",
            i.garp.0, i.garp.1
        );
    }
}

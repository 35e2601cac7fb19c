//! Reading the live host: links, addresses and routes (`ip -j`), sysctls,
//! firewall rulesets, processes in this network namespace, capabilities.
//! Read-only: nothing here changes the host or sends a packet.

use std::{net::IpAddr, path::PathBuf, process::Command};

use ipnet::IpNet;
use serde_json::Value;

/// A network interface.
#[derive(Debug, Clone)]
pub struct Link {
    pub name: String,
    pub up: bool,
    pub lower_up: bool,
    pub loopback: bool,
    /// The driver (`/sys/class/net/NAME/device/driver`), or the link kind
    /// (`veth`, `bridge`) for virtual devices.
    pub driver: Option<String>,
    pub addrs: Vec<IpNet>,
}

/// How the kernel routes to an address.
#[derive(Debug, Clone)]
pub struct RouteTo {
    pub dev: String,
    pub gateway: Option<IpAddr>,
}

/// A process in this network namespace.
#[derive(Debug, Clone)]
pub struct Process {
    pub comm: String,
    pub cmdline: Vec<String>,
}

fn ip_json(args: &[&str]) -> Result<Value, String> {
    let o = Command::new("ip")
        .arg("-j")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).trim().to_string());
    }
    serde_json::from_slice(&o.stdout).map_err(|e| format!("ip -j {}: {e}", args.join(" ")))
}

pub fn links() -> Result<Vec<Link>, String> {
    let v = ip_json(&["-d", "addr", "show"])?;
    let mut out = Vec::new();
    for l in v.as_array().into_iter().flatten() {
        let name = l["ifname"].as_str().unwrap_or("").to_string();
        let flags: Vec<&str> = l["flags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str())
            .collect();
        let kind = l["linkinfo"]["info_kind"].as_str().map(str::to_string);
        let driver = std::fs::read_link(format!("/sys/class/net/{name}/device/driver"))
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
            .or(kind);
        let addrs = l["addr_info"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| {
                let local = a["local"].as_str()?;
                let len = a["prefixlen"].as_u64()?;
                format!("{local}/{len}").parse().ok()
            })
            .collect();
        out.push(Link {
            up: flags.contains(&"UP"),
            lower_up: flags.contains(&"LOWER_UP"),
            loopback: flags.contains(&"LOOPBACK"),
            name,
            driver,
            addrs,
        });
    }
    Ok(out)
}

/// `ip route get DST [from SRC]`: a lookup, no packet is sent.
pub fn route_to(dst: IpAddr, src: Option<IpAddr>) -> Result<RouteTo, String> {
    let dst_s = dst.to_string();
    let src_s = src.map(|s| s.to_string());
    let mut args = vec!["route", "get", dst_s.as_str()];
    if let Some(s) = &src_s {
        args.extend(["from", s.as_str()]);
    }
    let v = ip_json(&args)?;
    let r = &v[0];
    let dev = r["dev"].as_str().ok_or("no route")?.to_string();
    let kind = r["type"].as_str().unwrap_or("unicast");
    if kind != "unicast" && kind != "local" {
        return Err(format!("route type {kind}"));
    }
    Ok(RouteTo {
        dev,
        gateway: r["gateway"].as_str().and_then(|g| g.parse().ok()),
    })
}

/// The routes to exactly `prefix` in `table` (of `protocol`, if given), as
/// `ip -j route show exact` lists them.
pub fn routes_exact(prefix: IpNet, table: u32, protocol: Option<u8>) -> Result<Vec<Value>, String> {
    let family = if prefix.addr().is_ipv4() { "-4" } else { "-6" };
    let (prefix, table) = (prefix.to_string(), table.to_string());
    let protocol = protocol.map(|p| p.to_string());
    let mut args = vec![family, "route", "show", "exact", &prefix, "table", &table];
    if let Some(p) = &protocol {
        args.extend(["proto", p.as_str()]);
    }
    match ip_json(&args) {
        Ok(v) => Ok(v.as_array().cloned().unwrap_or_default()),
        // A table nothing was put in yet does not exist: it holds no route.
        Err(e) if e.contains("table does not exist") => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The main table's routes that contain `addr` (`ip -j route show match ADDR`).
pub fn routes_matching(addr: IpAddr) -> Result<Vec<Value>, String> {
    let family = if addr.is_ipv4() { "-4" } else { "-6" };
    let addr = addr.to_string();
    let v = ip_json(&[family, "route", "show", "match", &addr])?;
    Ok(v.as_array().cloned().unwrap_or_default())
}

pub fn sysctl(path: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/sys/{path}"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Output of a command, `None` when it is missing or fails.
pub fn command_output(prog: &str, args: &[&str]) -> Option<String> {
    let o = Command::new(prog).args(args).output().ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).to_string())
}

pub fn have(prog: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
        .unwrap_or(false)
        || ["/usr/sbin", "/sbin"]
            .iter()
            .any(|d| PathBuf::from(d).join(prog).is_file())
}

/// Processes whose network namespace is this process's; `None` when other
/// processes' namespaces cannot be read (no CAP_SYS_PTRACE).
pub fn processes_here() -> Option<Vec<Process>> {
    let own = std::fs::read_link("/proc/self/ns/net").ok();
    let mut out = Vec::new();
    let dir = std::fs::read_dir("/proc").ok()?;
    let mut denied = 0;
    let mut seen = 0;
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let base = e.path();
        seen += 1;
        match std::fs::read_link(base.join("ns/net")) {
            Ok(ns) if Some(&ns) == own.as_ref() => {}
            Ok(_) => continue,
            Err(_) => {
                denied += 1;
                continue;
            }
        }
        let comm = std::fs::read_to_string(base.join("comm"))
            .unwrap_or_default()
            .trim()
            .to_string();
        let cmdline = std::fs::read(base.join("cmdline"))
            .unwrap_or_default()
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).to_string())
            .collect();
        out.push(Process { comm, cmdline });
    }
    // Our own process is always readable; most others denied means blind.
    (denied * 2 < seen).then_some(out)
}

/// The effective capability set of this process.
pub fn cap_eff() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// The running kernel's (major, minor).
pub fn kernel() -> Option<(u32, u32)> {
    let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let mut it = r.trim().split(['.', '-']);
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

//! The systems under test (vrrpd with either datapath, keepalived), their
//! configuration files, and one node's daemon life cycle: start, stop by kill -9 or
//! SIGTERM, CPU and memory, transitions, readiness.
//!
//! keepalived runs as a parent plus a VRRP child (`-P`); with `-R` the parent does not
//! respawn a dead child but exits, so killing the child is keepalived's kill -9. Only
//! processes this harness started are signalled: the child's PID comes from our own
//! `-r` pid file and is checked to be our parent's child first.

use std::{
    io::Read as _,
    net::Ipv4Addr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, Result, bail};

use super::{
    bpf, proc,
    topo::{link_addr, link_dev},
};
use crate::netns::Netns;

/// A daemon configuration to compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum System {
    /// vrrpd with `datapath = "xdp"` (forced: no silent fallback).
    VrrpdXdp,
    /// vrrpd with `datapath = "socket"`.
    VrrpdSocket,
    /// keepalived 2.2.7 from Debian, VRRPv3, unicast.
    Keepalived,
}

impl System {
    /// Name in tables and plots.
    pub fn label(self) -> &'static str {
        match self {
            System::VrrpdXdp => "vrrpd (XDP)",
            System::VrrpdSocket => "vrrpd (socket)",
            System::Keepalived => "keepalived",
        }
    }

    /// Machine-friendly name (raw JSON).
    pub fn key(self) -> &'static str {
        match self {
            System::VrrpdXdp => "vrrpd-xdp",
            System::VrrpdSocket => "vrrpd-socket",
            System::Keepalived => "keepalived",
        }
    }

    pub fn is_vrrpd(self) -> bool {
        self != System::Keepalived
    }
}

/// Runs `systems` in order on even rounds and reversed on odd ones: "alternate run by
/// run", so neither system always goes first.
pub fn alternate(systems: &[System], round: usize) -> Vec<System> {
    let mut v = systems.to_vec();
    if round % 2 == 1 {
        v.reverse();
    }
    v
}

/// One virtual router of a configuration.
#[derive(Clone, Copy, Debug)]
pub struct Inst {
    pub vrid: u8,
    pub priority: u8,
    pub interval_ms: u32,
    /// Routed VIP, a /32 on `lo`.
    pub vip: Ipv4Addr,
    /// The link it runs on: interface `eth{link}`, node addresses
    /// [`topo::link_addr`] of the link-0 ones.
    pub link: u8,
}

/// VRIDs per interface in [`Inst::many`].
pub const VRIDS_PER_LINK: u16 = 255;

impl Inst {
    /// `n` instances, 255 per link: instance i runs on link i / 255 with VRID
    /// i % 255 + 1 and VIP 10.2.LINK.VRID (distinct across links).
    pub fn many(n: u16, priority: u8, interval_ms: u32) -> Vec<Inst> {
        (0..n)
            .map(|i| {
                let link = (i / VRIDS_PER_LINK) as u8;
                let vrid = (i % VRIDS_PER_LINK + 1) as u8;
                Inst {
                    vrid,
                    priority,
                    interval_ms,
                    vip: Ipv4Addr::new(10, 2, link, vrid),
                    link,
                }
            })
            .collect()
    }

    /// Links `n` instances of [`Inst::many`] need.
    pub fn links_for(n: u16) -> u8 {
        n.div_ceil(VRIDS_PER_LINK).max(1) as u8
    }

    /// Instance name, unique over links.
    pub fn name(&self) -> String {
        if self.link == 0 {
            format!("vi{}", self.vrid)
        } else {
            format!("vi{}l{}", self.vrid, self.link)
        }
    }
}

/// What stops a master.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stop {
    /// SIGKILL: the master goes silent, the backup waits Master_Down_Interval.
    Kill,
    /// SIGTERM: the master sends priority 0, the backup waits Skew_Time.
    Graceful,
}

impl Stop {
    pub fn label(self) -> &'static str {
        match self {
            Stop::Kill => "kill -9",
            Stop::Graceful => "graceful (priority 0)",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Stop::Kill => "kill",
            Stop::Graceful => "graceful",
        }
    }
}

/// Fails unless keepalived is installed.
pub fn require_keepalived() -> Result<()> {
    if std::process::Command::new("keepalived")
        .arg("--version")
        .output()
        .is_err()
    {
        bail!("keepalived is not installed: apt-get install keepalived");
    }
    Ok(())
}

/// vrrpd's TOML for a node at `me` with one peer (both link-0 addresses; each
/// instance uses its own link's).
pub fn vrrpd_config(
    system: System,
    me: Ipv4Addr,
    peer: Ipv4Addr,
    socket: &Path,
    insts: &[Inst],
) -> String {
    let datapath = match system {
        System::VrrpdSocket => "socket",
        _ => "xdp",
    };
    let mut s = format!(
        "[global]\nstatus_socket = \"{}\"\ndatapath = \"{datapath}\"\n",
        socket.display()
    );
    for i in insts {
        s.push_str(&format!(
            r#"
[[instance]]
name = "{name}"
interface = "{dev}"
vrid = {vrid}
priority = {prio}
advert_interval_ms = {ms}
mode = "unicast"
unicast_src = "{me}/24"

[[instance.peer]]
address = "{peer}"

[[instance.vip]]
address = "{vip}/32"
dev = "lo"
"#,
            name = i.name(),
            dev = link_dev(i.link),
            vrid = i.vrid,
            prio = i.priority,
            ms = i.interval_ms,
            me = link_addr(me, i.link),
            peer = link_addr(peer, i.link),
            vip = i.vip,
        ));
    }
    s
}

/// keepalived's configuration for the same node: VRRPv3, unicast, no `vrrp_strict`,
/// every instance starting as BACKUP (the election decides, as with vrrpd).
pub fn keepalived_config(me: Ipv4Addr, peer: Ipv4Addr, insts: &[Inst]) -> String {
    let mut s = format!("global_defs {{\n  vrrp_version 3\n  router_id bench_{me}\n}}\n");
    for i in insts {
        s.push_str(&format!(
            r#"
vrrp_instance {name} {{
  state BACKUP
  interface {dev}
  virtual_router_id {vrid}
  priority {prio}
  advert_int {int}
  unicast_src_ip {me}
  unicast_peer {{
    {peer}
  }}
  virtual_ipaddress {{
    {vip}/32 dev lo
  }}
}}
"#,
            name = i.name(),
            dev = link_dev(i.link),
            me = link_addr(me, i.link),
            peer = link_addr(peer, i.link),
            vrid = i.vrid,
            prio = i.priority,
            int = f64::from(i.interval_ms) / 1000.0,
            vip = i.vip,
        ));
    }
    s
}

struct Running {
    system: System,
    /// The process we spawned (vrrpd, or keepalived's parent).
    pid: u32,
    /// keepalived's VRRP child.
    child: Option<u32>,
    log: PathBuf,
}

/// One node: its namespace, files and (at most one) running daemon.
pub struct Node {
    pub ns: Netns,
    pub addr: Ipv4Addr,
    pub dir: PathBuf,
    /// Start the daemon with its timing protected: real-time scheduling and locked
    /// memory (vrrpd's `realtime_scheduling` and `lock_memory`, keepalived's
    /// `vrrp_rt_priority` and `vrrp_no_swap`, each at its default priority).
    pub protect: bool,
    run: Option<Running>,
    starts: u32,
}

impl Node {
    pub fn new(ns: Netns, addr: Ipv4Addr, dir: PathBuf) -> Node {
        Node {
            ns,
            addr,
            dir,
            protect: false,
            run: None,
            starts: 0,
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("vrrpd.sock")
    }

    /// The system running here, if any.
    pub fn system(&self) -> Option<System> {
        self.run.as_ref().map(|r| r.system)
    }

    /// Starts `system` with `insts`, adverts going to `peer`. Returns once the
    /// daemon is up (status socket answers, or keepalived's VRRP child exists).
    pub fn start(
        &mut self,
        system: System,
        vrrpd: &Path,
        insts: &[Inst],
        peer: Ipv4Addr,
    ) -> Result<()> {
        if self.run.is_some() {
            bail!("node {} already runs a daemon", self.addr);
        }
        self.starts += 1;
        let log = self
            .dir
            .join(format!("{}-{}.log", system.key(), self.starts));
        let conf = self.dir.join(format!("{}.conf", system.key()));
        let pid = if system.is_vrrpd() {
            let socket = self.socket();
            let _ = std::fs::remove_file(&socket);
            let mut text = vrrpd_config(system, self.addr, peer, &socket, insts);
            if self.protect {
                text = text.replacen(
                    "[global]\n",
                    "[global]\nrealtime_scheduling = \"fifo\"\nlock_memory = true\n",
                    1,
                );
            }
            std::fs::write(&conf, text)?;
            let bin = vrrpd.to_str().context("vrrpd path")?;
            let conf = conf.to_str().context("config path")?;
            self.ns.spawn_logged(&[bin, "run", "-c", conf], &log)?
        } else {
            let mut text = keepalived_config(self.addr, peer, insts);
            if self.protect {
                text = text.replacen(
                    "global_defs {\n",
                    "global_defs {\n  vrrp_rt_priority 10\n  vrrp_no_swap\n",
                    1,
                );
            }
            std::fs::write(&conf, text)?;
            let f = |name: &str| self.dir.join(name).to_string_lossy().into_owned();
            let (pidf, vpid, cpid, bpid) = (
                f("ka.pid"),
                f("ka-vrrp.pid"),
                f("ka-chk.pid"),
                f("ka-bfd.pid"),
            );
            for p in [&pidf, &vpid, &cpid, &bpid] {
                let _ = std::fs::remove_file(p);
            }
            let conf = conf.to_string_lossy().into_owned();
            #[rustfmt::skip]
            let argv = [
                "keepalived", "-n", "-l", "-G", "-R", "-P",
                "-f", &conf, "-p", &pidf, "-r", &vpid, "-c", &cpid, "-b", &bpid,
            ];
            self.ns.spawn_logged(&argv, &log)?
        };
        self.run = Some(Running {
            system,
            pid,
            child: None,
            log,
        });
        let up = super::wait_until(
            "the daemon to come up",
            Duration::from_secs(10),
            Duration::from_millis(2),
            || {
                if let Ok(Some(status)) = self.ns.wait_exit(pid, Duration::ZERO) {
                    bail!(
                        "{} exited at start ({status}):\n{}",
                        system.label(),
                        self.log_tail()
                    );
                }
                if system.is_vrrpd() {
                    return Ok(self.status().is_ok().then_some(None));
                }
                Ok(self.keepalived_child(pid).map(Some))
            },
        );
        match up {
            Ok(child) => {
                if let Some(r) = self.run.as_mut() {
                    r.child = child;
                }
                Ok(())
            }
            Err(e) => {
                let tail = self.log_tail();
                let _ = self.stop(Stop::Kill);
                Err(e.context(tail))
            }
        }
    }

    /// keepalived's VRRP child PID, once its pid file names a child of `parent`.
    fn keepalived_child(&self, parent: u32) -> Option<u32> {
        let text = std::fs::read_to_string(self.dir.join("ka-vrrp.pid")).ok()?;
        let child: u32 = text.trim().parse().ok()?;
        (proc::ppid(child).ok()? == parent).then_some(child)
    }

    /// Sends the stop signal and returns at once (the measurement starts here).
    pub fn signal_stop(&mut self, how: Stop) -> Result<()> {
        let r = self.run.as_ref().context("no daemon running")?;
        match (r.system, how) {
            (System::Keepalived, Stop::Kill) => {
                let child = r.child.context("keepalived child unknown")?;
                // Our own process tree only: the child of the parent we spawned.
                if proc::ppid(child)? != r.pid {
                    bail!("pid {child} is not keepalived's child any more");
                }
                // SAFETY: kill(2) on keepalived's VRRP child, checked above.
                if unsafe { libc::kill(child as i32, libc::SIGKILL) } != 0 {
                    bail!("kill({child}): {}", std::io::Error::last_os_error());
                }
            }
            (_, Stop::Kill) => self.ns.signal(r.pid, libc::SIGKILL)?,
            (_, Stop::Graceful) => self.ns.signal(r.pid, libc::SIGTERM)?,
        }
        Ok(())
    }

    /// Waits for the daemon to exit (SIGKILL after `limit`) and forgets it.
    pub fn wait_stopped(&mut self, limit: Duration) -> Result<()> {
        let Some(r) = self.run.take() else {
            return Ok(());
        };
        if self.ns.wait_exit(r.pid, limit)?.is_none() {
            let _ = self.ns.signal(r.pid, libc::SIGKILL);
            self.ns.wait_exit(r.pid, Duration::from_secs(5))?;
            if let Some(c) = r.child {
                kill_child(c, r.pid);
            }
            bail!(
                "{} on {} did not stop within {limit:?}",
                r.system.label(),
                self.addr
            );
        }
        Ok(())
    }

    /// Stops the daemon (if any) and waits for it.
    pub fn stop(&mut self, how: Stop) -> Result<()> {
        if self.run.is_none() {
            return Ok(());
        }
        self.signal_stop(how)?;
        self.wait_stopped(Duration::from_secs(15))
    }

    /// The daemon's processes: vrrpd, or keepalived's parent and VRRP child.
    pub fn pids(&self) -> Vec<u32> {
        self.run
            .as_ref()
            .map(|r| std::iter::once(r.pid).chain(r.child).collect())
            .unwrap_or_default()
    }

    /// CPU seconds (user + system) used so far by the daemon's processes.
    pub fn cpu_seconds(&self) -> Result<f64> {
        self.pids().into_iter().map(proc::cpu_seconds).sum()
    }

    /// Wake-ups so far (voluntary context switches), all the daemon's processes.
    pub fn wakeups(&self) -> Result<u64> {
        self.pids().into_iter().map(proc::wakeups).sum()
    }

    /// Run time of the BPF programs the daemon holds (vrrpd's XDP program), as the
    /// kernel counts it while BPF statistics are on ([`bpf::StatsOn`]).
    pub fn bpf_stats(&self) -> Result<bpf::ProgStats> {
        let mut total = bpf::ProgStats::default();
        for pid in self.pids() {
            total += bpf::prog_stats(pid)?;
        }
        Ok(total)
    }

    /// Peak RSS of the daemon, KiB (keepalived: parent plus child).
    pub fn peak_rss_kib(&self) -> Result<u64> {
        self.pids().into_iter().map(proc::peak_rss_kib).sum()
    }

    /// vrrpd's status JSON.
    pub fn status(&self) -> Result<serde_json::Value> {
        let mut s = std::os::unix::net::UnixStream::connect(self.socket())
            .with_context(|| format!("connecting to {}", self.socket().display()))?;
        // A daemon busy with a thousand instances on a loaded machine may take a
        // while to answer.
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut text = String::new();
        s.read_to_string(&mut text).with_context(|| {
            format!(
                "reading the status of {} on {} (no answer within 10 s?)",
                self.system().map_or("nothing", System::label),
                self.addr
            )
        })?;
        Ok(serde_json::from_str(&text)?)
    }

    pub fn log(&self) -> String {
        self.run
            .as_ref()
            .and_then(|r| std::fs::read_to_string(&r.log).ok())
            .unwrap_or_default()
    }

    /// The last lines of the log, for error messages.
    pub fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// State changes since start, all instances, counted in the daemon's log (its
    /// start-up state included): vrrpd's "state change" lines, keepalived's
    /// "Entering ... STATE" lines. The log, not vrrpd's status socket: a daemon
    /// swamped by a thousand flapping instances may not answer in time, and its
    /// log is counted the same way as keepalived's.
    pub fn transitions(&self) -> Result<u64> {
        let log = self.log();
        Ok(match self.system() {
            None => 0,
            Some(System::Keepalived) => log
                .lines()
                .filter(|l| l.contains("Entering ") && l.contains(" STATE"))
                .count() as u64,
            Some(_) => log.lines().filter(|l| l.contains("state change")).count() as u64,
        })
    }

    /// Whether every instance is BACKUP (keepalived: its latest state line).
    pub fn is_backup(&self) -> Result<bool> {
        match self.system() {
            None => Ok(false),
            Some(System::Keepalived) => Ok(self
                .log()
                .lines()
                .rev()
                .find(|l| l.contains("Entering ") && l.contains(" STATE"))
                .is_some_and(|l| l.contains("BACKUP"))),
            Some(_) => {
                let s = self.status()?;
                let insts = s["instances"].as_array().context("instances")?;
                Ok(!insts.is_empty() && insts.iter().all(|i| i["state"] == "backup"))
            }
        }
    }

    /// Datapath verdict counters (vrrpd only; empty for keepalived).
    pub fn counters(&self) -> Result<Vec<(String, u64)>> {
        if !self.system().is_some_and(System::is_vrrpd) {
            return Ok(Vec::new());
        }
        let s = self.status()?;
        Ok(s["counters"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// How many /32 VIPs (10.x addresses) sit on this node's `lo`.
    pub fn vips_on_lo(&self) -> Result<usize> {
        let out = self
            .ns
            .exec(&["ip", "-o", "-4", "addr", "show", "dev", "lo"])?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(" inet 10."))
            .count())
    }

    /// Packets received on eth0 (kernel counter, XDP drops included).
    pub fn rx_packets(&self) -> Result<u64> {
        let out = self
            .ns
            .exec(&["cat", "/sys/class/net/eth0/statistics/rx_packets"])?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
    }
}

/// SIGKILL keepalived's VRRP child if it is still `parent`'s child.
fn kill_child(child: u32, parent: u32) {
    if proc::ppid(child).ok() == Some(parent) {
        // SAFETY: kill(2) on a process of our own tree, checked above.
        unsafe { libc::kill(child as i32, libc::SIGKILL) };
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // keepalived's child first: killing only the parent would leave the child
        // (which got SIGTERM from its parent's death) in a namespace being deleted.
        if let Some(r) = &self.run
            && let Some(c) = r.child
        {
            kill_child(c, r.pid);
        }
        // The Netns guard then kills the spawned process by PID.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs() {
        let insts = Inst::many(2, 100, 10);
        let v = vrrpd_config(
            System::VrrpdSocket,
            Ipv4Addr::new(10, 1, 1, 10),
            Ipv4Addr::new(10, 1, 1, 20),
            Path::new("/tmp/x.sock"),
            &insts,
        );
        assert!(v.contains("datapath = \"socket\""));
        assert!(v.contains("vrid = 2") && v.contains("10.2.0.2/32"));
        let k = keepalived_config(
            Ipv4Addr::new(10, 1, 1, 10),
            Ipv4Addr::new(10, 1, 1, 20),
            &insts,
        );
        assert!(k.contains("advert_int 0.01") && k.contains("virtual_router_id 2"));
        // 1,020 instances: four links of 255 VRIDs, distinct names and VIPs, each
        // on its own link's interface and addresses.
        let many = Inst::many(1020, 100, 10);
        assert_eq!(Inst::links_for(1020), 4);
        assert_eq!(Inst::links_for(255), 1);
        assert_eq!(Inst::links_for(1), 1);
        let names: std::collections::HashSet<String> = many.iter().map(Inst::name).collect();
        let vips: std::collections::HashSet<Ipv4Addr> = many.iter().map(|i| i.vip).collect();
        assert_eq!((names.len(), vips.len()), (1020, 1020));
        assert_eq!((many[255].link, many[255].vrid), (1, 1));
        assert_eq!((many[1019].link, many[1019].vrid), (3, 255));
        let v = vrrpd_config(
            System::VrrpdXdp,
            Ipv4Addr::new(10, 1, 1, 10),
            Ipv4Addr::new(10, 1, 1, 20),
            Path::new("/tmp/x.sock"),
            &many,
        );
        assert_eq!(v.matches("[[instance]]").count(), 1020);
        assert!(v.contains("interface = \"eth3\"") && v.contains("unicast_src = \"10.1.4.10/24\""));
        assert!(v.contains("address = \"10.1.4.20\"") && v.contains("10.2.3.255/32"));
        let k = keepalived_config(
            Ipv4Addr::new(10, 1, 1, 10),
            Ipv4Addr::new(10, 1, 1, 20),
            &many,
        );
        assert_eq!(k.matches("vrrp_instance ").count(), 1020);
        assert!(k.contains("vrrp_instance vi255l3 {") && k.contains("interface eth3"));
        assert!(k.contains("unicast_src_ip 10.1.4.10") && k.contains("10.2.3.255/32 dev lo"));
        assert_eq!(
            alternate(&[System::VrrpdXdp, System::Keepalived], 1),
            vec![System::Keepalived, System::VrrpdXdp]
        );
    }
}

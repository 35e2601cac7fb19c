//! Failure scenarios on the lab, with real `vrrpd` processes on A (priority 200) and
//! B (priority 100), a routing daemon carrying the VIP's /32, and the client probe.
//! The same rig runs keepalived instead ([`Daemon::Keepalived`], for the benchmark's
//! side-by-side outage): an equivalent keepalived.conf (VRRPv3, unicast peer across
//! the router, the VIP on `lo`, no hooks), its VRRP child killed for kill -9.
//!
//! Each scenario injects one fault at t0 (CLOCK_MONOTONIC) and measures, from t0:
//! VRRP detection (the new master's own figure: kernel receive time of the last advert
//! heard to its takeover), when the VIP is on the new master, when the router's route
//! points at it, and the outage the client saw. Used by the scenario tests, the demo
//! (`cargo xtask demo`) and the benchmarks.

use std::{
    fmt,
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::{
    lab::{
        Family, Lab, LinkEnd, Node, Recipe, Responder, RouteWatch, Scope, UPLINK, monotonic_ns,
        start_probe,
    },
    timing::{Version, backup_watch, hold_for, master_down_interval, skew_time},
};

/// A's priority: the preferred master.
pub const PRIO_A: u8 = 200;
/// B's priority: the backup whose Skew_Time and Master_Down_Interval set the floors.
pub const PRIO_B: u8 = 100;
/// The configs set no version: vrrpd's default, VRRPv3.
pub const VERSION: Version = Version::V3;
/// Probes the client must have had answered before the fault: a served baseline
/// (about 200 ms at one probe a millisecond).
const BASELINE_REPLIES: usize = 200;

/// A fault to inject into a lab where A is master.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// SIGTERM to A's daemon: priority 0, B takes over after Skew_Time.
    GracefulStop,
    /// kill -9 of A's daemon: B takes over after Master_Down_Interval; A's orphaned
    /// VIP expires with its lease.
    Kill9,
    /// Every process in A's namespace killed and its uplink cut.
    NodeLoss,
    /// A's uplink cut (A sees link down and goes to Fault).
    UplinkCut,
    /// VRRP between A and B blocked at the router while both still reach it (split
    /// brain), then healed: A, the higher priority, must end up sole master.
    PartitionHeal,
    /// A stopped, B master; A comes back with preempt on and takes over again.
    ReturnPreempt,
    /// A stopped, B master; A comes back with preempt off and B stays master.
    ReturnNoPreempt,
    /// A's uplink goes down and up three times; A ends up master.
    FlappingLink,
    /// [`Scenario::FlappingLink`] with A tracking the route its routing adjacency
    /// brings (vrrpd's `track_route`, weight 0, a 1 s rise hold) instead of a
    /// preempt delay: A takes the VIP back only once it can announce it.
    FlappingLinkTracked,
}

impl Scenario {
    pub const ALL: [Scenario; 9] = [
        Scenario::GracefulStop,
        Scenario::Kill9,
        Scenario::NodeLoss,
        Scenario::UplinkCut,
        Scenario::PartitionHeal,
        Scenario::ReturnPreempt,
        Scenario::ReturnNoPreempt,
        Scenario::FlappingLink,
        Scenario::FlappingLinkTracked,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::GracefulStop => "graceful stop",
            Scenario::Kill9 => "kill -9 daemon",
            Scenario::NodeLoss => "node loss",
            Scenario::UplinkCut => "uplink cut",
            Scenario::PartitionHeal => "partition + heal",
            Scenario::ReturnPreempt => "return, preempt on",
            Scenario::ReturnNoPreempt => "return, preempt off",
            Scenario::FlappingLink => "flapping link",
            Scenario::FlappingLinkTracked => "flapping link, route tracked",
        }
    }

    /// Who is master once the scenario has played out.
    pub fn final_master(self) -> Node {
        match self {
            Scenario::PartitionHeal
            | Scenario::ReturnPreempt
            | Scenario::FlappingLink
            | Scenario::FlappingLinkTracked => Node::A,
            _ => Node::B,
        }
    }

    /// The node that takes over at t0 (measured switch: `from` -> `to`).
    fn switch(self) -> Option<(Node, Node)> {
        match self {
            Scenario::ReturnPreempt => Some((Node::B, Node::A)),
            Scenario::ReturnNoPreempt
            | Scenario::PartitionHeal
            | Scenario::FlappingLink
            | Scenario::FlappingLinkTracked => None,
            _ => Some((Node::A, Node::B)),
        }
    }

    /// Whether A's config tracks the route of its routing adjacency.
    pub fn tracks_route(self) -> bool {
        self == Scenario::FlappingLinkTracked
    }
}

/// What the rig's configs say beyond the reference set-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Behaviour {
    pub preempt: bool,
    /// vrrpd only: both nodes track the route to the client subnet that their
    /// adjacency with the router brings (`track_route`, weight 0, [`track_rise`]),
    /// and preempt without a delay.
    pub track_route: bool,
}

/// How long a tracked route must be back before it counts: a routing daemon that
/// drops the adjacency again within it does not flap the instance. With BIRD OSPF
/// also the rate limit on the node's own LSAs (MinLSInterval, fixed at 5 s): a node
/// that withdrew the VIP at its link's loss cannot announce it again sooner, and its
/// route to the client subnet can be back (or never gone: SPF runs on BIRD's 1 s
/// tick, and a short flap falls between two) well before that.
pub fn track_rise(recipe: Recipe) -> Duration {
    match recipe {
        Recipe::BirdOspf => Duration::from_secs(5),
        Recipe::BirdBgpBfd | Recipe::FrrOspf => Duration::from_secs(1),
    }
}

/// The VRRP daemon the rig runs on A and B.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Daemon {
    #[default]
    Vrrpd,
    /// keepalived 2.2.7 as a parent plus its VRRP child (`-P`), with `-R` so a killed
    /// child is not respawned (the parent exits instead).
    Keepalived,
}

impl Daemon {
    pub fn name(self) -> &'static str {
        match self {
            Daemon::Vrrpd => "vrrpd",
            Daemon::Keepalived => "keepalived",
        }
    }
}

/// How the lab runs.
#[derive(Clone, Debug)]
pub struct Settings {
    pub vrrpd: PathBuf,
    pub recipe: Recipe,
    /// The VIP's family, and so the daemons' instance (its source, peer and VIP);
    /// the recipe must carry it ([`Recipe::families`]).
    pub family: Family,
    pub interval: Duration,
    /// Print a live timeline of each scenario.
    pub verbose: bool,
}

/// What one scenario measured (durations from t0, the fault).
#[derive(Clone, Debug)]
pub struct Outcome {
    pub scenario: Scenario,
    pub recipe: Recipe,
    pub daemon: Daemon,
    /// The RFC's floor for the detection: B's Skew_Time after a priority-0 advert,
    /// else its Master_Down_Interval (both from vrrp-core).
    pub floor: Option<Duration>,
    pub detection: Option<Duration>,
    pub vip_moved: Option<Duration>,
    pub route_moved: Option<Duration>,
    pub outage: Option<Duration>,
    pub lost: usize,
    pub answered_twice: usize,
    pub lost_after: usize,
    pub note: String,
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64() * 1e3))
}

impl Outcome {
    pub fn table_header() -> String {
        "| scenario | routing | VRRP detection ms (RFC floor) | VIP on new master ms | router route ms | client outage ms | lost | answered twice | lost after convergence | note |\n\
         |---|---|---|---|---|---|---|---|---|---|"
            .to_string()
    }

    pub fn table_row(&self) -> String {
        let detection = match (self.detection, self.floor) {
            // keepalived has no figure of its own.
            (None, Some(f)) if self.daemon == Daemon::Keepalived => {
                format!("n/a ({})", ms(Some(f)))
            }
            (d, Some(f)) => format!("{} ({})", ms(d), ms(Some(f))),
            (d, None) => ms(d),
        };
        format!(
            "| {} | {:?} | {} | {} | {} | {} | {} | {} | {} | {} |",
            self.scenario.name(),
            self.recipe,
            detection,
            ms(self.vip_moved),
            ms(self.route_moved),
            ms(self.outage),
            self.lost,
            self.answered_twice,
            self.lost_after,
            self.note
        )
    }

    /// The routing step, not VRRP, is what the client felt.
    pub fn routing_dominates(&self) -> bool {
        match (self.vip_moved, self.route_moved) {
            (Some(v), Some(r)) => r > v * 2 && r - v > Duration::from_millis(50),
            _ => false,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.table_row())
    }
}

/// The lab with both daemons running, A master.
pub struct Rig {
    pub lab: Lab,
    settings: Settings,
    daemon: Daemon,
    /// The processes started (vrrpd, or keepalived's parent).
    pids: [Option<u32>; 2],
    /// keepalived's VRRP children, once their pid files name them.
    children: [Option<u32>; 2],
    responders: [Option<Responder>; 2],
    t0: Option<u64>,
    behaviour: Behaviour,
}

impl Rig {
    /// Builds the lab, starts routing, responders and both vrrpd daemons; returns
    /// once A holds the VIP and the router routes it to A.
    pub fn up(settings: Settings, preempt: bool) -> Result<Rig> {
        Rig::up_with(settings, preempt, Daemon::Vrrpd)
    }

    /// [`Rig::up`] with `daemon` on A and B.
    pub fn up_with(settings: Settings, preempt: bool, daemon: Daemon) -> Result<Rig> {
        let behaviour = Behaviour {
            preempt,
            track_route: false,
        };
        Rig::up_as(settings, behaviour, daemon)
    }

    /// [`Rig::up`] with `behaviour` and `daemon` on A and B.
    pub fn up_as(settings: Settings, behaviour: Behaviour, daemon: Daemon) -> Result<Rig> {
        if behaviour.track_route && daemon != Daemon::Vrrpd {
            bail!("route tracking is vrrpd's (keepalived has no track_route)");
        }
        let lab = Lab::builder()
            .family(settings.family)
            .routing(settings.recipe)
            .build()?;
        if behaviour.track_route {
            // Each daemon's first state applies at once: start it with its route there.
            for node in Node::ALL {
                lab.wait_learned_route(node, Duration::from_secs(30))?;
            }
        }
        let responders = crate::lab::probe::responders(&lab)?;
        let [ra, rb] = responders;
        let mut rig = Rig {
            lab,
            settings,
            daemon,
            pids: [None, None],
            children: [None, None],
            responders: [Some(ra), Some(rb)],
            t0: None,
            behaviour,
        };
        for node in Node::ALL {
            let prio = if node == Node::A { PRIO_A } else { PRIO_B };
            std::fs::write(rig.config_path(node), rig.config(node, prio))?;
        }
        // A first: with preempt off, whoever is master first stays master.
        rig.start(Node::A)?;
        rig.wait_vip(Node::A, true, Duration::from_secs(10))
            .context("A never became master")?;
        rig.start(Node::B)?;
        // B comes up as A's backup and must stay so for two of its
        // Master_Down_Intervals: a B that did not hear A would take over within one.
        rig.wait_backup_of(Node::B, Duration::from_secs(10))
            .context("B never became A's backup")?;
        let window = backup_watch(VERSION, PRIO_B, rig.settings.interval);
        if let Err(e) = hold_for("A as the only VIP holder", window, || {
            rig.holds_vip(Node::A) && !rig.holds_vip(Node::B)
        }) {
            bail!(
                "B took the VIP from A at start: {e:#}
{}",
                rig.log(Node::B)
            );
        }
        rig.lab
            .wait_route_via(Some(Node::A), Duration::from_secs(30))
            .context("the router never routed the VIP to A")?;
        Ok(rig)
    }

    fn idx(node: Node) -> usize {
        match node {
            Node::A => 0,
            Node::B => 1,
        }
    }

    pub fn daemon(&self) -> Daemon {
        self.daemon
    }

    pub fn config_path(&self, node: Node) -> PathBuf {
        match self.daemon {
            Daemon::Vrrpd => self.lab.dir().join(format!("vrrpd-{node:?}.toml")),
            Daemon::Keepalived => self.lab.dir().join(format!("keepalived-{node:?}.conf")),
        }
    }

    pub fn log_path(&self, node: Node) -> PathBuf {
        self.lab
            .dir()
            .join(format!("{}-{node:?}.log", self.daemon.name()))
    }

    /// keepalived's pid file `what` (`main`, `vrrp`, `checkers`, `bfd`) for a node.
    fn keepalived_pidfile(&self, node: Node, what: &str) -> PathBuf {
        self.lab
            .dir()
            .join(format!("keepalived-{node:?}-{what}.pid"))
    }

    pub fn socket(&self, node: Node) -> PathBuf {
        self.lab.dir().join(format!("vrrpd-{node:?}.sock"))
    }

    fn config(&self, node: Node, prio: u8) -> String {
        let Behaviour {
            preempt,
            track_route,
        } = self.behaviour;
        if self.daemon == Daemon::Keepalived {
            return self.keepalived_config(node, prio, preempt);
        }
        let interval_ms = self.settings.interval.as_millis();
        let family = self.settings.family;
        let track = if track_route {
            format!(
                "\n[[instance.track_route]]\nprefix = \"{}\"\nprotocol = \"{}\"\nrise_ms = {}\n",
                family.client_subnet(),
                self.settings.recipe.learned_protocol(),
                track_rise(self.settings.recipe).as_millis()
            )
        } else {
            String::new()
        };
        // The lease must cover 3 intervals and 3 s at least (validation rule).
        format!(
            r#"[global]
status_socket = "{sock}"

[[instance]]
name = "vip"
interface = "{UPLINK}"
vrid = 51
priority = {prio}
advert_interval_ms = {interval_ms}
mode = "unicast"
unicast_src = "{addr}/{len}"
preempt = {preempt}
{preempt_delay}vip_lease_s = 3

[[instance.peer]]
address = "{peer}"

[[instance.vip]]
address = "{vip}"
dev = "lo"
{track}"#,
            sock = self.socket(node).display(),
            // A returning master waits for its routing adjacency before taking over:
            // a guess of 2 s, or the tracked route itself.
            preempt_delay = if preempt && !track_route {
                "preempt_delay_ms = 2000\n"
            } else {
                ""
            },
            addr = node.addr_in(family),
            len = family.link_len(),
            peer = node.other().addr_in(family),
            vip = family.vip_host(),
        )
    }

    /// keepalived's equivalent of [`Rig::config`]: VRRPv3, the same VRID, priority
    /// and interval, unicast to the other node across the router (no TTL bounds, as
    /// vrrpd's config sets none), the VIP on `lo`, no hooks, no `vrrp_strict`; every
    /// instance starts as BACKUP so the election decides, as with vrrpd. No lease:
    /// keepalived has none. IPv6 says `native_ipv6` rather than leave the instance's
    /// family to keepalived's inference.
    fn keepalived_config(&self, node: Node, prio: u8, preempt: bool) -> String {
        let int = self.settings.interval.as_secs_f64();
        let family = self.settings.family;
        format!(
            r#"global_defs {{
  vrrp_version 3
  router_id lab_{node:?}
}}

vrrp_instance vip {{
  state BACKUP
  interface {UPLINK}
  virtual_router_id 51
  priority {prio}
  advert_int {int}
  {preempt}{native}
  unicast_src_ip {addr}
  unicast_peer {{
    {peer}
  }}
  virtual_ipaddress {{
    {vip} dev lo
  }}
}}
"#,
            // As vrrpd's: a returning master waits 2 s before taking over.
            preempt = if preempt {
                "preempt_delay 2"
            } else {
                "nopreempt"
            },
            native = match family {
                Family::V4 => "",
                Family::V6 => "\n  native_ipv6",
            },
            addr = node.addr_in(family),
            peer = node.other().addr_in(family),
            vip = family.vip_host(),
        )
    }

    /// Starts (or restarts) a node's daemon.
    pub fn start(&mut self, node: Node) -> Result<()> {
        let cfg = self.config_path(node);
        let log = self.log_path(node);
        let pid = match self.daemon {
            Daemon::Vrrpd => {
                let vrrpd = self.settings.vrrpd.clone();
                self.lab.node_mut(node).spawn_logged(
                    &[vrrpd.to_str().unwrap(), "run", "-c", cfg.to_str().unwrap()],
                    &log,
                )?
            }
            Daemon::Keepalived => {
                let f = |what: &str| {
                    let p = self.keepalived_pidfile(node, what);
                    let _ = std::fs::remove_file(&p);
                    p.to_string_lossy().into_owned()
                };
                let (main, vrrp, chk, bfd) = (f("main"), f("vrrp"), f("checkers"), f("bfd"));
                let conf = cfg.to_string_lossy().into_owned();
                #[rustfmt::skip]
                let argv = [
                    "keepalived", "-n", "-l", "-G", "-R", "-P",
                    "-f", &conf, "-p", &main, "-r", &vrrp, "-c", &chk, "-b", &bfd,
                ];
                self.lab.node_mut(node).spawn_logged(&argv, &log)?
            }
        };
        self.pids[Self::idx(node)] = Some(pid);
        self.children[Self::idx(node)] = None;
        Ok(())
    }

    /// keepalived's VRRP child of `node` if its pid file names a child of the parent
    /// we started (our own process tree only).
    fn keepalived_child_now(&self, node: Node) -> Option<u32> {
        let i = Self::idx(node);
        let parent = self.pids[i]?;
        if let Some(c) = self.children[i] {
            return Some(c);
        }
        std::fs::read_to_string(self.keepalived_pidfile(node, "vrrp"))
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
            .filter(|c| crate::bench::proc::ppid(*c).ok() == Some(parent))
    }

    /// keepalived's VRRP child of `node`, waiting up to 5 s for it.
    fn keepalived_child(&mut self, node: Node) -> Result<u32> {
        let i = Self::idx(node);
        if self.pids[i].is_none() {
            bail!("{node:?}'s daemon is not running");
        }
        let start = Instant::now();
        loop {
            if let Some(c) = self.keepalived_child_now(node) {
                self.children[i] = Some(c);
                return Ok(c);
            }
            if start.elapsed() > Duration::from_secs(5) {
                bail!(
                    "keepalived on {node:?} has no VRRP child after 5 s\n{}",
                    self.log(node)
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Sends `signal` to a node's daemon and waits for it to exit.
    pub fn stop(&mut self, node: Node, signal: i32) -> Result<()> {
        let pid = self.kill(node, signal)?;
        self.reap(node, pid)
    }

    /// Sends `signal` to a node's daemon without waiting; its PID, for `reap`.
    /// keepalived's kill -9 is its VRRP child's (the parent, run with `-R`, then
    /// exits without respawning it); other signals go to the parent.
    pub fn kill(&mut self, node: Node, signal: i32) -> Result<u32> {
        if self.daemon == Daemon::Keepalived && signal == libc::SIGKILL {
            let child = self.keepalived_child(node)?;
            let parent = self.pids[Self::idx(node)]
                .take()
                .with_context(|| format!("{node:?}'s daemon is not running"))?;
            self.children[Self::idx(node)] = None;
            if crate::bench::proc::ppid(child)? != parent {
                bail!("pid {child} is not keepalived's child any more");
            }
            // SAFETY: kill(2) on keepalived's VRRP child, a child of our own
            // process checked just above.
            if unsafe { libc::kill(child as i32, libc::SIGKILL) } != 0 {
                bail!("kill({child}): {}", std::io::Error::last_os_error());
            }
            return Ok(parent);
        }
        let pid = self.pids[Self::idx(node)]
            .take()
            .with_context(|| format!("{node:?}'s daemon is not running"))?;
        self.children[Self::idx(node)] = None;
        self.lab.node_mut(node).signal(pid, signal)?;
        Ok(pid)
    }

    /// The PID of a node's running daemon (vrrpd, or keepalived's parent).
    pub fn pid(&self, node: Node) -> Option<u32> {
        self.pids[Self::idx(node)]
    }

    /// Sends `signal` to a node's running daemon and keeps it as running (SIGHUP).
    pub fn signal(&self, node: Node, signal: i32) -> Result<()> {
        let pid = self.pids[Self::idx(node)]
            .with_context(|| format!("{node:?}'s daemon is not running"))?;
        self.lab.node(node).signal(pid, signal)
    }

    /// If a node's running daemon has exited, forgets it and returns its status.
    pub fn exited(&mut self, node: Node) -> Result<Option<std::process::ExitStatus>> {
        let Some(pid) = self.pids[Self::idx(node)] else {
            return Ok(None);
        };
        let status = self.lab.node_mut(node).wait_exit(pid, Duration::ZERO)?;
        if status.is_some() {
            self.pids[Self::idx(node)] = None;
            self.children[Self::idx(node)] = None;
        }
        Ok(status)
    }

    /// Waits for a signalled daemon to exit.
    pub fn reap(&mut self, node: Node, pid: u32) -> Result<()> {
        if self
            .lab
            .node_mut(node)
            .wait_exit(pid, Duration::from_secs(20))?
            .is_none()
        {
            bail!("{node:?}'s daemon did not exit");
        }
        Ok(())
    }

    /// Polls `node`'s status until it is backup with the other node as master (its
    /// daemon is up and hears the master's adverts). keepalived names no master: its
    /// latest state line must be BACKUP while the other node holds the VIP (the hold
    /// that follows in [`Rig::up`] then shows it hears the master).
    pub fn wait_backup_of(&self, node: Node, limit: Duration) -> Result<Duration> {
        let start = Instant::now();
        let master = node.other().addr_in(self.settings.family).to_string();
        if self.daemon == Daemon::Keepalived {
            loop {
                let state = self.keepalived_state(node);
                if state.as_deref() == Some("BACKUP") && self.holds_vip(node.other()) {
                    return Ok(start.elapsed());
                }
                if start.elapsed() > limit {
                    bail!(
                        "{node:?} is not backup of {:?} after {limit:?} (state {state:?})\n--- {node:?} log ---\n{}",
                        node.other(),
                        self.log(node)
                    );
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        loop {
            let last = self.status(node);
            if let Ok(s) = &last {
                let inst = &s["instances"][0];
                if inst["state"] == "backup" && inst["master"] == master.as_str() {
                    return Ok(start.elapsed());
                }
            }
            if start.elapsed() > limit {
                bail!(
                    "{node:?} is not backup of {:?} after {limit:?}: {last:?}\n--- {node:?} log ---\n{}",
                    node.other(),
                    self.log(node)
                );
            }
            // Each poll runs `vrrpd status`: pace it.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn holds_vip(&self, node: Node) -> bool {
        self.lab.holds_vip(node).unwrap_or(false)
    }

    /// Polls until `node` holds (or not) the VIP; the time it took.
    pub fn wait_vip(&self, node: Node, held: bool, limit: Duration) -> Result<Duration> {
        let start = Instant::now();
        while self.holds_vip(node) != held {
            if start.elapsed() > limit {
                bail!(
                    "{node:?} {} the VIP after {limit:?}\n--- {node:?} log ---\n{}",
                    if held { "does not hold" } else { "still holds" },
                    self.log(node)
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(start.elapsed())
    }

    pub fn log(&self, node: Node) -> String {
        std::fs::read_to_string(self.log_path(node)).unwrap_or_default()
    }

    /// keepalived's state lines ("(vip) Entering MASTER STATE").
    fn keepalived_state_lines(&self, node: Node) -> Vec<String> {
        self.log(node)
            .lines()
            .filter(|l| l.contains("Entering ") && l.contains(" STATE"))
            .map(str::to_string)
            .collect()
    }

    /// keepalived's latest state (`MASTER`, `BACKUP`, `FAULT`), from its log.
    fn keepalived_state(&self, node: Node) -> Option<String> {
        let line = self.keepalived_state_lines(node).pop()?;
        let after = line.split("Entering ").nth(1)?;
        Some(after.split_whitespace().next()?.to_string())
    }

    /// State changes of a node's daemon since it started (vrrpd: its status
    /// counters; keepalived: its "Entering ... STATE" lines after the first).
    pub fn transitions(&self, node: Node) -> Result<u64> {
        if self.daemon == Daemon::Keepalived {
            return Ok(self.keepalived_state_lines(node).len().saturating_sub(1) as u64);
        }
        Ok(transition_count(&self.status(node)?))
    }

    /// Why the client may not be served: the lab's data path, the responders, and
    /// each daemon's view (status with its datapath counters, or its log's tail).
    pub fn service_diagnostics(&self) -> String {
        use std::fmt::Write as _;
        let mut s = self.lab.path_diagnostics();
        for node in Node::ALL {
            let running = self.responders[Rig::idx(node)]
                .as_ref()
                .map(Responder::state);
            let _ = writeln!(s, "[{node:?}] responder: {running:?}");
            let view = match self.status(node) {
                Ok(v) => v.to_string(),
                Err(e) => format!(
                    "no status ({e:#}); log tail:\n{}",
                    tail(&self.log(node), 20)
                ),
            };
            let _ = writeln!(s, "[{node:?}] {}: {view}", self.daemon.name());
        }
        s
    }

    /// The daemon's status JSON (vrrpd only).
    pub fn status(&self, node: Node) -> Result<serde_json::Value> {
        if self.daemon == Daemon::Keepalived {
            bail!("keepalived has no status socket");
        }
        let out = std::process::Command::new(&self.settings.vrrpd)
            .args(["status", "--json", "-s"])
            .arg(self.socket(node))
            .output()?;
        if !out.status.success() {
            bail!(
                "status of {node:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(serde_json::from_slice(&out.stdout)?)
    }

    fn detection(&self, node: Node) -> Option<Duration> {
        let s = self.status(node).ok()?;
        let d = s["instances"][0]["last_transition"]["detection_s"].as_f64()?;
        Some(Duration::from_secs_f64(d))
    }

    fn mark(&mut self) -> u64 {
        let t = monotonic_ns();
        self.t0 = Some(t);
        t
    }

    fn since_t0(&self) -> Duration {
        Duration::from_nanos(monotonic_ns() - self.t0.unwrap_or_else(monotonic_ns))
    }

    fn say(&self, what: &str) {
        if self.settings.verbose {
            println!(
                "    {:>+9.1} ms  {what}",
                self.since_t0().as_secs_f64() * 1e3
            );
        }
    }

    /// Kills every process in a node's namespace (all started by this lab) except
    /// this test process, stops its responder and cuts its uplink.
    fn lose_node(&mut self, node: Node) -> Result<()> {
        let out = crate::netns::ip(&["netns", "pids", &self.lab.node(node).name])?;
        let me = std::process::id();
        for pid in String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .filter(|p| *p != me)
        {
            // SAFETY: kill(2); every process in this namespace was started by the lab.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        self.pids[Self::idx(node)] = None;
        self.children[Self::idx(node)] = None;
        if let Some(r) = self.responders[Self::idx(node)].take() {
            let _ = r.stop();
        }
        self.lab.link_down(node, LinkEnd::Node)
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        // keepalived's VRRP children first: the lab's namespace guards kill only the
        // parents they started (by PID).
        if self.daemon != Daemon::Keepalived {
            return;
        }
        for node in Node::ALL {
            let parent = self.pids[Self::idx(node)];
            if let (Some(c), Some(p)) = (self.keepalived_child_now(node), parent)
                && crate::bench::proc::ppid(c).ok() == Some(p)
            {
                // SAFETY: kill(2) on a child of a process we started, checked above.
                unsafe { libc::kill(c as i32, libc::SIGKILL) };
            }
        }
    }
}

/// Runs one scenario on a fresh lab, with vrrpd.
pub fn run(settings: &Settings, scenario: Scenario) -> Result<Outcome> {
    run_with(settings, scenario, Daemon::Vrrpd)
}

/// Every state change of the first instance in a vrrpd status JSON, all kinds
/// together.
pub fn transition_count(status: &serde_json::Value) -> u64 {
    status["instances"][0]["transitions"]
        .as_array()
        .map_or(0, |t| {
            t.iter().map(|c| c["count"].as_u64().unwrap_or(0)).sum()
        })
}

/// Runs one scenario on a fresh lab with `daemon` on A and B.
pub fn run_with(settings: &Settings, scenario: Scenario, daemon: Daemon) -> Result<Outcome> {
    let behaviour = Behaviour {
        preempt: scenario != Scenario::ReturnNoPreempt,
        track_route: scenario.tracks_route(),
    };
    let mut rig = Rig::up_as(settings.clone(), behaviour, daemon)?;
    let interval = settings.interval;
    let mut out = Outcome {
        scenario,
        recipe: settings.recipe,
        daemon,
        floor: None,
        detection: None,
        vip_moved: None,
        route_moved: None,
        outage: None,
        lost: 0,
        answered_twice: 0,
        lost_after: 0,
        note: String::new(),
    };

    // Return scenarios start from B master.
    if matches!(
        scenario,
        Scenario::ReturnPreempt | Scenario::ReturnNoPreempt
    ) {
        rig.stop(Node::A, libc::SIGTERM)?;
        rig.wait_vip(Node::B, true, Duration::from_secs(5))?;
        rig.lab
            .wait_route_via(Some(Node::B), Duration::from_secs(30))
            .context("route to B before A's return")?;
    }

    let watch = RouteWatch::start(&rig.lab)?;
    // A's watch after its return without preempt (below) must fall inside the probe,
    // with time for A's start.
    let no_preempt_watch = backup_watch(VERSION, PRIO_A, interval);
    let probe_ms: u64 = match scenario {
        Scenario::PartitionHeal | Scenario::ReturnPreempt => 7000,
        // Through A's return: its adjacency comes back only once the routers may
        // re-originate their LSAs (BIRD's MinLSInterval, 5 s) or BGP's error wait has
        // run, then the rise hold; a return without tracking shows its outage.
        Scenario::FlappingLink => 15000,
        Scenario::FlappingLinkTracked => 20000,
        Scenario::ReturnNoPreempt => 4500.max(no_preempt_watch.as_millis() as u64 + 3000),
        _ => 4500,
    };
    let probe = start_probe(
        &rig.lab.client,
        settings.family.vip(),
        probe_ms as usize,
        Duration::from_millis(1),
        Duration::from_millis(300),
    )?;
    probe
        .wait_replies(BASELINE_REPLIES, Duration::from_secs(5))
        .with_context(|| {
            format!(
                "the client is not served before the fault{}",
                rig.service_diagnostics()
            )
        })?;
    let t0 = rig.mark();
    let limit = Duration::from_secs(10);
    let skew_b = skew_time(VERSION, PRIO_B, interval);
    let down_b = master_down_interval(VERSION, PRIO_B, interval);
    let mut reap = None;
    match scenario {
        Scenario::GracefulStop => {
            rig.say(&format!("SIGTERM to A's {}", daemon.name()));
            out.floor = Some(skew_b);
            reap = Some(rig.kill(Node::A, libc::SIGTERM)?);
        }
        Scenario::Kill9 => {
            rig.say(&format!("kill -9 of A's {}", daemon.name()));
            out.floor = Some(down_b);
            reap = Some(rig.kill(Node::A, libc::SIGKILL)?);
        }
        Scenario::NodeLoss => {
            rig.say("every process in A killed, A's uplink cut");
            out.floor = Some(down_b);
            rig.lose_node(Node::A)?;
        }
        Scenario::UplinkCut => {
            rig.say("A's uplink cut");
            out.floor = Some(down_b);
            rig.lab.link_down(Node::A, LinkEnd::Node)?;
        }
        Scenario::PartitionHeal => {
            rig.say("VRRP between A and B blocked at the router");
            out.floor = Some(down_b);
            rig.lab.partition(Scope::Vrrp)?;
        }
        Scenario::ReturnPreempt | Scenario::ReturnNoPreempt => {
            rig.say(&format!("A's {} starts again", daemon.name()));
            rig.start(Node::A)?;
        }
        Scenario::FlappingLink | Scenario::FlappingLinkTracked => {
            rig.say("A's uplink flaps: 3 x (down 300 ms, up)");
            for _ in 0..3 {
                rig.lab.link_down(Node::A, LinkEnd::Node)?;
                std::thread::sleep(Duration::from_millis(300));
                rig.lab.link_up(Node::A, LinkEnd::Node)?;
                std::thread::sleep(Duration::from_millis(300));
            }
            rig.say("link stable again");
        }
    }

    if let Some((from, to)) = scenario.switch() {
        rig.wait_vip(to, true, limit)?;
        out.vip_moved = Some(rig.since_t0());
        rig.say(&format!("VIP on {to:?}"));
        let at = watch
            .wait_for(Some(to), t0, Duration::from_secs(15))
            .with_context(|| {
                if rig.holds_vip(from) {
                    format!(
                        "{from:?} still holds the VIP after the fault, so its routing daemon still announces it"
                    )
                } else {
                    format!("{from:?} no longer holds the VIP")
                }
            })?;
        out.route_moved = Some(Duration::from_nanos(at.saturating_sub(t0)));
        rig.say(&format!("router routes the VIP to {to:?}"));
        out.detection = rig.detection(to);
    }
    if let Some(pid) = reap {
        rig.reap(Node::A, pid)?;
        rig.say(&format!("A's {} exited", daemon.name()));
    }
    match scenario {
        Scenario::PartitionHeal => {
            rig.wait_vip(Node::B, true, limit)?;
            out.detection = rig.detection(Node::B);
            out.vip_moved = Some(rig.since_t0());
            rig.say("split brain: B took the VIP too (A still holds it)");
            std::thread::sleep(Duration::from_millis(1500));
            let heal = monotonic_ns();
            rig.lab.heal()?;
            rig.say("partition healed");
            rig.wait_vip(Node::B, false, limit)?;
            let single = Duration::from_nanos(monotonic_ns() - heal);
            rig.say("B released the VIP: one master again");
            out.note = format!("one master {:.1} ms after heal", single.as_secs_f64() * 1e3);
            if !rig.holds_vip(Node::A) {
                bail!("after the heal A, the higher priority, must hold the VIP");
            }
        }
        Scenario::ReturnNoPreempt => {
            // A is back and hears B; it must stay backup for two of its own
            // Master_Down_Intervals, after which a deaf A would have taken over.
            rig.wait_backup_of(Node::A, limit)
                .context("preempt off: A never came back as B's backup")?;
            rig.say("A's vrrpd up, backup of B");
            if let Err(e) = hold_for("B as the only VIP holder", no_preempt_watch, || {
                rig.holds_vip(Node::B) && !rig.holds_vip(Node::A)
            }) {
                bail!(
                    "preempt off: A took over on its return: {e:#}\n{}",
                    rig.log(Node::A)
                );
            }
            rig.say(&format!(
                "{:.0} ms (2 x A's Master_Down_Interval + 1 interval) later: B still master, A backup",
                no_preempt_watch.as_secs_f64() * 1e3
            ));
            out.note = "A stayed backup".into();
        }
        Scenario::FlappingLink | Scenario::FlappingLinkTracked => {
            rig.wait_vip(Node::A, true, limit * 6)?;
            rig.say("A master again");
            if scenario.tracks_route() {
                // The flaps took A's route away, and A's last move to master followed
                // its return (and hold).
                let log = rig.log(Node::A);
                let down = log.rfind("track route down");
                let up = down.and_then(|d| log[d..].find("track route up").map(|u| d + u));
                let master = log.rfind("to=master");
                if !matches!((up, master), (Some(u), Some(m)) if u < m) {
                    bail!(
                        "A's tracked route did not go and come back before A became master again:\n{log}"
                    );
                }
            }
            let transitions = rig.transitions(Node::B)?;
            out.note = format!("B made {transitions} transitions");
        }
        Scenario::Kill9 if daemon == Daemon::Keepalived => {
            // keepalived has no lease: nothing removes a killed child's VIP.
            let gone = rig.wait_vip(Node::A, false, Duration::from_secs(6)).is_ok();
            out.note = if gone {
                format!(
                    "A's VIP gone {:.1} s after the kill",
                    rig.since_t0().as_secs_f64()
                )
            } else {
                format!(
                    "A's VIP still on A {:.1} s after the kill (keepalived has no lease)",
                    rig.since_t0().as_secs_f64()
                )
            };
            rig.say(&out.note);
        }
        Scenario::Kill9 => {
            let gone = rig.wait_vip(Node::A, false, Duration::from_secs(6))?;
            rig.say("A's orphaned VIP expired (lease)");
            out.note = format!(
                "A's VIP expired {:.1} s after the kill",
                (rig.since_t0().max(gone)).as_secs_f64()
            );
        }
        _ => {}
    }
    let report = probe.wait()?;
    let route_changes = watch.changes();
    watch.finish()?;
    out.lost = report.lost();
    out.answered_twice = report.answered_twice().len();
    if let Some((from, to)) = scenario.switch() {
        if let Some(o) = report.failover(from, to) {
            out.outage = Some(o.duration);
            out.lost_after = o.lost_after;
        }
    } else {
        // No single switch to time: the outage is the time the lost probes cover.
        out.outage = Some(report.interval * report.lost() as u32);
    }
    if matches!(
        scenario,
        Scenario::FlappingLink | Scenario::FlappingLinkTracked
    ) {
        let ms = |d: Option<Duration>| {
            d.map_or("-".to_string(), |d| format!("{:.0}", d.as_secs_f64() * 1e3))
        };
        let first = report.failover(Node::A, Node::B).map(|o| o.duration);
        out.note += &format!(
            "; first failover {} ms, A's return {} ms",
            ms(first),
            ms(report.last_switch(Node::B, Node::A))
        );
    }
    if scenario == Scenario::ReturnNoPreempt && out.lost > 0 {
        println!(
            "    the client lost probes though nothing moved; state now:{}",
            rig.service_diagnostics()
        );
    }
    if rig.settings.verbose {
        println!("    probe: {}", report.summary());
        for c in route_changes.iter().skip(1) {
            println!(
                "    router: {:>+9.1} ms  VIP route via {}",
                (c.at_ns as f64 - t0 as f64) / 1e6,
                c.via.map_or("nobody".to_string(), |n| format!("{n:?}"))
            );
        }
        for node in Node::ALL {
            // keepalived logs little: show all of it.
            for line in rig
                .log(node)
                .lines()
                .filter(|l| daemon == Daemon::Keepalived || l.contains("state change"))
            {
                println!("    {node:?}: {}", compact_log_line(line));
            }
        }
    }
    let final_master = scenario.final_master();
    if !rig.holds_vip(final_master) {
        bail!(
            "{final_master:?} should be master at the end of {}",
            scenario.name()
        );
    }
    Ok(out)
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A daemon log line without the timestamp and module, for the timeline.
fn compact_log_line(line: &str) -> String {
    let fields: Vec<&str> = line
        .split_whitespace()
        .filter(|w| w.contains('='))
        .filter(|w| !w.starts_with("instance=") && !w.starts_with("vrid="))
        .collect();
    if fields.is_empty() {
        // keepalived's lines have no key=value fields: keep them whole.
        return line.trim().to_string();
    }
    let time = line.split_whitespace().next().unwrap_or("");
    format!("{time} {}", fields.join(" "))
}

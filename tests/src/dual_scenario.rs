//! Failure scenarios of dual-homed nodes ([`crate::lab::dual`]): routed vrrpd
//! instances (adverts from the loopback over both uplinks) with BIRD BGP + BFD and
//! ECMP, and a client probing the VIP from its loopback every millisecond.
//!
//! What they show: losing one uplink costs the master nothing in VRRP (no
//! transition) and the client only the routing's reconvergence; losing both is a
//! failover; a flapping uplink moves nothing; a node that returns waits for its
//! routes (a tracked route with a rise hold) and takes over with no second outage.

use std::{
    fmt,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::lab::{
    Node, Responder, VIP,
    dual::{CLIENT_LOOPBACK, DualLab, Router, UPLINKS, loopback},
    start_probe_from,
};

/// A's and B's priorities: A is the preferred master.
const PRIO: [u8; 2] = [200, 100];
/// Probes of the baseline before a fault.
const BASELINE_REPLIES: usize = 200;
/// A returning node's tracked route (the client's loopback, learned by BGP) must
/// have held this long before it may be master again.
pub const RETURN_RISE: Duration = Duration::from_millis(1000);

/// One dual-homed scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DualScenario {
    /// The master's uplink that carries the client's traffic is cut.
    OneUplinkCut,
    /// Both of the master's uplinks are cut.
    BothUplinksCut,
    /// The master's uplink on the client's path flaps: 3 x (down 300 ms, up 300 ms).
    FlappingUplink,
    /// Both uplinks cut, then back: the node returns once its tracked route held.
    ReturnTracked,
}

impl DualScenario {
    pub const ALL: [DualScenario; 4] = [
        DualScenario::OneUplinkCut,
        DualScenario::BothUplinksCut,
        DualScenario::FlappingUplink,
        DualScenario::ReturnTracked,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DualScenario::OneUplinkCut => "one uplink cut",
            DualScenario::BothUplinksCut => "both uplinks cut",
            DualScenario::FlappingUplink => "flapping uplink",
            DualScenario::ReturnTracked => "return, route tracked",
        }
    }

    /// Who serves the client at the end.
    fn final_master(self) -> Node {
        match self {
            DualScenario::BothUplinksCut => Node::B,
            _ => Node::A,
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct DualOutcome {
    pub scenario: DualScenario,
    /// VRRP state changes of A and B during the run (after the election).
    pub transitions: [u64; 2],
    /// The client's outage: the failover's gap, or (nothing moving) the time the
    /// lost probes cover.
    pub outage: Duration,
    pub lost: usize,
    pub note: String,
}

impl DualOutcome {
    pub fn table_header() -> String {
        "| dual-homed scenario | A transitions | B transitions | client outage ms | lost | note |\n\
         |---|---|---|---|---|---|"
            .to_string()
    }

    pub fn table_row(&self) -> String {
        format!(
            "| {} | {} | {} | {:.0} | {} | {} |",
            self.scenario.name(),
            self.transitions[0],
            self.transitions[1],
            self.outage.as_secs_f64() * 1e3,
            self.lost,
            self.note
        )
    }
}

impl fmt::Display for DualOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n{}", Self::table_header(), self.table_row())
    }
}

/// The lab with vrrpd running on both nodes and a responder on each.
pub struct DualRig {
    pub lab: DualLab,
    vrrpd: PathBuf,
    _responders: [Responder; 2],
}

impl DualRig {
    /// Lab, BIRD, responders, then B's vrrpd and A's; returns once A is master, B
    /// its backup, and the client routes the VIP by ECMP over both routers.
    pub fn up(vrrpd: &Path, interval: Duration, track_route: bool) -> Result<DualRig> {
        let mut lab = DualLab::start()?;
        let responders = [
            Responder::start(&lab.net.a, Node::A)?,
            Responder::start(&lab.net.b, Node::B)?,
        ];
        for node in [Node::B, Node::A] {
            let path = lab.dir().join(format!("vrrpd-{}.toml", letter(node)));
            std::fs::write(&path, config(&lab, node, interval, track_route))?;
            let log = lab.dir().join(format!("vrrpd-{}.log", letter(node)));
            let ns = match node {
                Node::A => &mut lab.net.a,
                Node::B => &mut lab.net.b,
            };
            ns.spawn_logged(
                &[vrrpd.to_str().unwrap(), "run", "-c", path.to_str().unwrap()],
                &log,
            )?;
        }
        let rig = DualRig {
            lab,
            vrrpd: vrrpd.to_path_buf(),
            _responders: responders,
        };
        rig.wait_vip(Node::A, true, Duration::from_secs(15))?;
        rig.wait_state(Node::B, "backup", Duration::from_secs(10))?;
        rig.lab.wait_client_ecmp(VIP, Duration::from_secs(15))?;
        Ok(rig)
    }

    fn ns(&self, node: Node) -> &crate::netns::Netns {
        self.lab.net.node(node)
    }

    fn socket(&self, node: Node) -> PathBuf {
        self.lab.dir().join(format!("vrrpd-{}.sock", letter(node)))
    }

    pub fn log(&self, node: Node) -> String {
        let p = self.lab.dir().join(format!("vrrpd-{}.log", letter(node)));
        std::fs::read_to_string(p).unwrap_or_default()
    }

    pub fn status(&self, node: Node) -> Result<serde_json::Value> {
        let out = Command::new(&self.vrrpd)
            .args(["status", "--json", "-s"])
            .arg(self.socket(node))
            .output()?;
        if !out.status.success() {
            bail!(
                "vrrpd status: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(serde_json::from_slice(&out.stdout)?)
    }

    /// The instance's state ("master", "backup", "fault"), if the daemon answers.
    pub fn state(&self, node: Node) -> Option<String> {
        let s = self.status(node).ok()?;
        s["instances"][0]["state"].as_str().map(str::to_string)
    }

    /// Every state change since the daemon started.
    pub fn transitions(&self, node: Node) -> Result<u64> {
        Ok(crate::scenario::transition_count(&self.status(node)?))
    }

    pub fn holds_vip(&self, node: Node) -> bool {
        self.ns(node)
            .exec(&["ip", "-o", "addr", "show", "dev", "lo"])
            .map(|o| String::from_utf8_lossy(&o.stdout).contains(&format!("{VIP}/32")))
            .unwrap_or(false)
    }

    pub fn wait_vip(&self, node: Node, held: bool, limit: Duration) -> Result<Duration> {
        self.wait(&format!("{node:?} holding the VIP: {held}"), limit, || {
            self.holds_vip(node) == held
        })
    }

    pub fn wait_state(&self, node: Node, state: &str, limit: Duration) -> Result<Duration> {
        self.wait(&format!("{node:?} in state {state}"), limit, || {
            self.state(node).as_deref() == Some(state)
        })
    }

    fn wait(
        &self,
        what: &str,
        limit: Duration,
        mut cond: impl FnMut() -> bool,
    ) -> Result<Duration> {
        let start = Instant::now();
        while !cond() {
            if start.elapsed() > limit {
                bail!(
                    "timed out after {limit:?} waiting for {what}\n--- A ---\n{}\n--- B ---\n{}{}",
                    tail(&self.log(Node::A), 30),
                    tail(&self.log(Node::B), 30),
                    self.lab.diagnostics()
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(start.elapsed())
    }

    /// Sets one of `node`'s uplinks down or up (both ends lose carrier).
    pub fn uplink(&self, node: Node, r: Router, up: bool) -> Result<()> {
        self.lab.net.set_uplink(node, r, up)
    }
}

fn letter(node: Node) -> char {
    match node {
        Node::A => 'a',
        Node::B => 'b',
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A routed instance on both uplinks, from the node's loopback to the other's.
fn config(lab: &DualLab, node: Node, interval: Duration, track_route: bool) -> String {
    let prio = PRIO[usize::from(node == Node::B)];
    let track = if track_route {
        format!(
            "\n[[instance.track_route]]\nprefix = \"{CLIENT_LOOPBACK}/32\"\nprotocol = \"bird\"\n\
             rise_ms = {}\n",
            RETURN_RISE.as_millis()
        )
    } else {
        String::new()
    };
    format!(
        r#"[global]
status_socket = "{sock}"

[[instance]]
name = "vip"
interface = ["{up1}", "{up2}"]
vrid = 51
priority = {prio}
advert_interval_ms = {ms}
mode = "unicast"
unicast_src = "{me}/32"
vip_lease_s = 3

[[instance.peer]]
address = "{peer}"

[[instance.vip]]
address = "{VIP}/32"
{track}"#,
        sock = lab
            .dir()
            .join(format!("vrrpd-{}.sock", letter(node)))
            .display(),
        up1 = UPLINKS[0],
        up2 = UPLINKS[1],
        ms = interval.as_millis(),
        me = loopback(node),
        peer = loopback(node.other()),
    )
}

/// Runs one scenario on a fresh dual-homed lab, with `vrrpd` on both nodes.
pub fn run_dual(vrrpd: &Path, interval: Duration, scenario: DualScenario) -> Result<DualOutcome> {
    let rig = DualRig::up(vrrpd, interval, scenario == DualScenario::ReturnTracked)?;
    let before = [rig.transitions(Node::A)?, rig.transitions(Node::B)?];
    // The uplink the client's flow takes to the VIP: cutting it is the worst case.
    let path = rig
        .lab
        .client_router(VIP)?
        .context("the client has no route to the VIP")?;
    let probe_ms: u64 = match scenario {
        DualScenario::ReturnTracked => 14000,
        DualScenario::FlappingUplink => 6000,
        _ => 4000,
    };
    let probe = start_probe_from(
        &rig.lab.net.client,
        CLIENT_LOOPBACK,
        VIP,
        probe_ms as usize,
        Duration::from_millis(1),
        Duration::from_millis(300),
    )?;
    probe
        .wait_replies(BASELINE_REPLIES, Duration::from_secs(5))
        .with_context(|| format!("the client is not served{}", rig.lab.diagnostics()))?;
    let mut note;
    match scenario {
        DualScenario::OneUplinkCut => {
            rig.uplink(Node::A, path, false)?;
            note = format!("A's {} cut (the client's path)", path.uplink());
        }
        DualScenario::BothUplinksCut => {
            for r in Router::ALL {
                rig.uplink(Node::A, r, false)?;
            }
            let fault = rig.wait_state(Node::A, "fault", Duration::from_secs(5))?;
            rig.wait_vip(Node::B, true, Duration::from_secs(5))?;
            note = format!(
                "A in FAULT {:.0} ms after the cut",
                fault.as_secs_f64() * 1e3
            );
        }
        DualScenario::FlappingUplink => {
            for _ in 0..3 {
                rig.uplink(Node::A, path, false)?;
                std::thread::sleep(Duration::from_millis(300));
                rig.uplink(Node::A, path, true)?;
                std::thread::sleep(Duration::from_millis(300));
            }
            note = format!("A's {} flapped 3 times", path.uplink());
        }
        DualScenario::ReturnTracked => {
            for r in Router::ALL {
                rig.uplink(Node::A, r, false)?;
            }
            rig.wait_vip(Node::B, true, Duration::from_secs(5))?;
            std::thread::sleep(Duration::from_millis(1500));
            for r in Router::ALL {
                rig.uplink(Node::A, r, true)?;
            }
            let back = rig.wait_vip(Node::A, true, Duration::from_secs(20))?;
            note = format!(
                "A master again {:.1} s after its uplinks returned",
                back.as_secs_f64()
            );
        }
    }
    let report = probe.wait()?;
    let after = [rig.transitions(Node::A)?, rig.transitions(Node::B)?];
    let outage = match scenario {
        DualScenario::BothUplinksCut => report
            .failover(Node::A, Node::B)
            .map(|o| o.duration)
            .context("B never served the client")?,
        DualScenario::ReturnTracked => {
            let first = report
                .failover(Node::A, Node::B)
                .map(|o| o.duration)
                .context("B never served the client")?;
            let ret = report
                .last_switch(Node::B, Node::A)
                .context("A never served the client again")?;
            note += &format!(
                "; first failover {:.0} ms, return {:.0} ms",
                first.as_secs_f64() * 1e3,
                ret.as_secs_f64() * 1e3
            );
            ret
        }
        _ => report.interval * report.lost() as u32,
    };
    let final_master = scenario.final_master();
    if !rig.holds_vip(final_master) || rig.holds_vip(final_master.other()) {
        bail!(
            "{final_master:?} alone should hold the VIP at the end of {}\n--- A ---\n{}\n--- B ---\n{}{}",
            scenario.name(),
            tail(&rig.log(Node::A), 30),
            tail(&rig.log(Node::B), 30),
            rig.lab.diagnostics()
        );
    }
    Ok(DualOutcome {
        scenario,
        transitions: [after[0] - before[0], after[1] - before[1]],
        outage,
        lost: report.lost(),
        note,
    })
}

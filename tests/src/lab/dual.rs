//! The dual-homed topology: each node has two uplinks to two routers and a loopback
//! address its adverts come from; the client is behind both routers.
//!
//! ```text
//!   node A  up1 10.2.1.10 ---- a1 r1 b1 ---- up1 10.2.3.10  node B
//!   lo 10.2.0.1/32  up2 10.2.2.10 ---- a2 r2 b2 ---- up2 10.2.4.10  lo 10.2.0.2/32
//!                                       r1 c1 ---- up1 10.2.5.10  client
//!                                       r2 c2 ---- up2 10.2.6.10  (lo 10.2.0.3/32)
//!
//!   routers: 10.2.N.1 on each link; the VIP 10.1.255.1/32 on the master's lo.
//! ```
//!
//! The routers are not linked to each other (leaf-spine: spines are not): a router
//! that lost its link to the master reaches the VIP only once the routing says the
//! other router has it. Without a routing daemon, [`DualHomed::static_routes`] puts
//! ECMP static routes between the loopbacks, which the kernel fails over when a link
//! goes down; [`DualLab`] runs BIRD instead: eBGP with BFD on every link, each node
//! and the client announcing their loopback (a node also its VIP while it holds it),
//! ECMP (`merge paths`) into the kernel everywhere.

use std::{
    fmt::Write as _,
    net::Ipv4Addr,
    path::Path,
    process::Command,
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use anyhow::{Result, bail};

use super::routing::{
    bgp_sessions_down, bird_bfd, bird_bgp_timers, bird_log, bird_socket, bird_vip_set, log_tails,
    require_tools, spawn_bird, wait_for_path,
};
use super::{Family, Node};
use crate::netns::{Netns, require_root_and_netns, veth};
use crate::tmp::TempDir;

/// A node's two uplinks, by the name they have in the node's namespace.
pub const UPLINKS: [&str; 2] = ["up1", "up2"];

/// One of the two routers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Router {
    R1,
    R2,
}

impl Router {
    pub const ALL: [Router; 2] = [Router::R1, Router::R2];

    /// 0 or 1: the index of the uplink (and subnets) that lead to this router.
    fn index(self) -> u8 {
        match self {
            Router::R1 => 0,
            Router::R2 => 1,
        }
    }

    /// The uplink of a node (or the client) that leads to this router.
    pub fn uplink(self) -> &'static str {
        UPLINKS[usize::from(self.index())]
    }

    /// The router's interface towards `node`.
    pub fn dev_to(self, node: Node) -> String {
        let n = match node {
            Node::A => 'a',
            Node::B => 'b',
        };
        format!("{n}{}", self.index() + 1)
    }

    /// The router's interface towards the client.
    pub fn client_dev(self) -> String {
        format!("c{}", self.index() + 1)
    }
}

/// The third octet of the link between `node` and `router`: A 1 and 2, B 3 and 4.
fn link_octet(node: Node, router: Router) -> u8 {
    let base = match node {
        Node::A => 1,
        Node::B => 3,
    };
    base + router.index()
}

/// The node's address on its link to `router`.
pub fn node_addr(node: Node, router: Router) -> Ipv4Addr {
    Ipv4Addr::new(10, 2, link_octet(node, router), 10)
}

/// The router's address on its link to `node`.
pub fn router_addr(node: Node, router: Router) -> Ipv4Addr {
    Ipv4Addr::new(10, 2, link_octet(node, router), 1)
}

/// The node's loopback address: its adverts' source, its peers' destination.
pub fn loopback(node: Node) -> Ipv4Addr {
    match node {
        Node::A => Ipv4Addr::new(10, 2, 0, 1),
        Node::B => Ipv4Addr::new(10, 2, 0, 2),
    }
}

/// The client's loopback: the address its probes come from, so they reach the VIP
/// and come back whichever uplink is up.
pub const CLIENT_LOOPBACK: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 3);

/// The client's address on its link to `router` (10.2.5.10, 10.2.6.10).
pub fn client_addr(router: Router) -> Ipv4Addr {
    Ipv4Addr::new(10, 2, 5 + router.index(), 10)
}

/// The router's address on its link to the client.
pub fn router_client_addr(router: Router) -> Ipv4Addr {
    Ipv4Addr::new(10, 2, 5 + router.index(), 1)
}

/// The namespaces of the dual-homed topology, deleted on drop.
pub struct DualHomed {
    pub a: Netns,
    pub b: Netns,
    pub r1: Netns,
    pub r2: Netns,
    pub client: Netns,
}

impl DualHomed {
    /// Namespaces, links and addresses; no routes between the loopbacks yet.
    pub fn new(prefix: &str) -> Result<DualHomed> {
        require_root_and_netns()?;
        let t = DualHomed {
            a: Netns::new(&format!("{prefix}A"))?,
            b: Netns::new(&format!("{prefix}B"))?,
            r1: Netns::new(&format!("{prefix}R1"))?,
            r2: Netns::new(&format!("{prefix}R2"))?,
            client: Netns::new(&format!("{prefix}C"))?,
        };
        for r in Router::ALL {
            let rns = t.router(r);
            for node in Node::ALL {
                let ns = t.node(node);
                veth(ns, r.uplink(), rns, &r.dev_to(node))?;
                add_addr(ns, node_addr(node, r), 24, r.uplink())?;
                add_addr(rns, router_addr(node, r), 24, &r.dev_to(node))?;
            }
            veth(&t.client, r.uplink(), rns, &r.client_dev())?;
            add_addr(&t.client, client_addr(r), 24, r.uplink())?;
            add_addr(rns, router_client_addr(r), 24, &r.client_dev())?;
            rns.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        }
        for node in Node::ALL {
            add_addr(t.node(node), loopback(node), 32, "lo")?;
        }
        add_addr(&t.client, CLIENT_LOOPBACK, 32, "lo")?;
        Ok(t)
    }

    pub fn node(&self, node: Node) -> &Netns {
        match node {
            Node::A => &self.a,
            Node::B => &self.b,
        }
    }

    pub fn router(&self, r: Router) -> &Netns {
        match r {
            Router::R1 => &self.r1,
            Router::R2 => &self.r2,
        }
    }

    /// See [`static_routes`].
    pub fn static_routes(&self) -> Result<()> {
        static_routes([&self.a, &self.b], [&self.r1, &self.r2])
    }

    /// Sets `node`'s uplink to `router` down or up, on the node's side (both ends
    /// lose carrier, as with a pulled cable).
    pub fn set_uplink(&self, node: Node, router: Router, up: bool) -> Result<()> {
        let state = if up { "up" } else { "down" };
        self.node(node)
            .exec(&["ip", "link", "set", router.uplink(), state])?;
        Ok(())
    }
}

/// `ip addr add ADDR/LEN dev DEV` in `ns`.
fn add_addr(ns: &Netns, addr: Ipv4Addr, len: u8, dev: &str) -> Result<()> {
    ns.exec(&["ip", "addr", "add", &format!("{addr}/{len}"), "dev", dev])?;
    Ok(())
}

/// Static routes between the loopbacks of `nodes` (A, B) through `routers` (R1, R2):
/// each node reaches the other's by ECMP over both uplinks, each router each loopback
/// over its own link. Run it again to put back what the kernel flushed after a node
/// lost both uplinks.
pub fn static_routes(nodes: [&Netns; 2], routers: [&Netns; 2]) -> Result<()> {
    for (node, ns) in Node::ALL.into_iter().zip(nodes) {
        let mut argv = vec![
            "ip".to_string(),
            "route".into(),
            "replace".into(),
            format!("{}/32", loopback(node.other())),
        ];
        for r in Router::ALL {
            argv.extend([
                "nexthop".into(),
                "via".into(),
                router_addr(node, r).to_string(),
                "dev".into(),
                r.uplink().into(),
            ]);
        }
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        ns.exec(&argv)?;
        for (r, rns) in Router::ALL.into_iter().zip(routers) {
            rns.exec(&[
                "ip",
                "route",
                "replace",
                &format!("{}/32", loopback(node)),
                "via",
                &node_addr(node, r).to_string(),
            ])?;
        }
    }
    Ok(())
}

/// The loopbacks' /32s, the only routes nodes and the client import.
const LOOPBACKS: &str = "[ 10.2.0.0/24{32,32} ]";

/// Which namespace of the dual-homed lab a BIRD runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Node(Node),
    Router(Router),
    Client,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Node(Node::A),
        Role::Node(Node::B),
        Role::Router(Router::R1),
        Role::Router(Router::R2),
        Role::Client,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Node(Node::A) => "a",
            Role::Node(Node::B) => "b",
            Role::Router(Router::R1) => "r1",
            Role::Router(Router::R2) => "r2",
            Role::Client => "client",
        }
    }

    fn asn(self) -> u32 {
        match self {
            Role::Node(Node::A) => 65001,
            Role::Node(Node::B) => 65002,
            Role::Client => 65003,
            Role::Router(Router::R1) => 65101,
            Role::Router(Router::R2) => 65102,
        }
    }
}

/// BIRD for a node or the client: BGP to both routers (BFD on both uplinks), its
/// loopback (and, on a node, a VIP /32 on `lo` while it is there) announced, the
/// loopbacks (and, on the client, the VIP) learned and put in the kernel with ECMP.
pub fn bird_edge_conf(role: Role, log: &Path) -> String {
    let lo = match role {
        Role::Node(n) => loopback(n),
        Role::Client => CLIENT_LOOPBACK,
        Role::Router(_) => unreachable!("routers have their own config"),
    };
    let mut c = String::new();
    let _ = writeln!(c, "log \"{}\" all;", log.display());
    let _ = writeln!(c, "router id {lo};");
    c += "protocol device { }\n";
    c += "protocol direct lo4 {\n  ipv4;\n  interface \"lo\";\n}\n";
    // `scan time 1`: see the single-router recipe (the kernel drops a downed link's
    // routes silently).
    c += "protocol kernel {\n  scan time 1;\n  merge paths yes;\n  \
          ipv4 { import none; export where source = RTS_BGP; };\n}\n";
    c += &bird_bfd(&UPLINKS);
    let vips = bird_vip_set(Family::V4);
    // A node announces its loopback and its VIP and learns the loopbacks and the
    // routers' default; the client announces its loopback and learns the loopbacks
    // and the VIP.
    let (export, import) = match role {
        Role::Node(_) => (
            format!("proto = \"lo4\" && (net = {lo}/32 || net ~ {vips})"),
            format!("net ~ {LOOPBACKS} || net = 0.0.0.0/0"),
        ),
        _ => (
            format!("proto = \"lo4\" && net = {lo}/32"),
            format!("net ~ {LOOPBACKS} || net ~ {vips}"),
        ),
    };
    for r in Router::ALL {
        let (local, neighbor) = match role {
            Role::Node(n) => (node_addr(n, r), router_addr(n, r)),
            _ => (client_addr(r), router_client_addr(r)),
        };
        let _ = write!(
            c,
            "protocol bgp to_{} {{\n  local {local} as {};\n  neighbor {neighbor} as {};\n{}  \
             ipv4 {{ import where {import}; export where {export}; }};\n}}\n",
            Role::Router(r).name(),
            role.asn(),
            Role::Router(r).asn(),
            bird_bgp_timers(),
        );
    }
    c
}

/// BIRD for a router: BGP with BFD to both nodes and the client, everything learned
/// passed on and put in the kernel, and a default route for the nodes.
pub fn bird_router_conf(r: Router, log: &Path) -> String {
    let mut c = String::new();
    let _ = writeln!(c, "log \"{}\" all;", log.display());
    let _ = writeln!(c, "router id {};", router_client_addr(r));
    c += "protocol device { }\n";
    c += "protocol kernel {\n  merge paths yes;\n  \
          ipv4 { import none; export where source = RTS_BGP; };\n}\n";
    // A default route for the nodes, as spines give leaves: it outlives any one
    // peer's loopback, so a node whose peer died still has a route towards it and
    // takes over, while a node cut from both routers has none and goes to FAULT.
    c += "protocol static default4 {\n  ipv4;\n  route 0.0.0.0/0 blackhole;\n}\n";
    let devs = [r.dev_to(Node::A), r.dev_to(Node::B), r.client_dev()];
    let devs: Vec<&str> = devs.iter().map(String::as_str).collect();
    c += &bird_bfd(&devs);
    let peers = [
        (
            Role::Node(Node::A),
            router_addr(Node::A, r),
            node_addr(Node::A, r),
        ),
        (
            Role::Node(Node::B),
            router_addr(Node::B, r),
            node_addr(Node::B, r),
        ),
        (Role::Client, router_client_addr(r), client_addr(r)),
    ];
    for (role, local, neighbor) in peers {
        let export = match role {
            Role::Node(_) => "all",
            _ => "where source = RTS_BGP",
        };
        let _ = write!(
            c,
            "protocol bgp to_{} {{\n  local {local} as {};\n  neighbor {neighbor} as {};\n{}  \
             ipv4 {{ import all; export {export}; }};\n}}\n",
            role.name(),
            Role::Router(r).asn(),
            role.asn(),
            bird_bgp_timers(),
        );
    }
    c
}

/// One dual-homed lab at a time per process: two of them (ten BIRDs with BFD every
/// 10 ms, two 1 ms probe clients) starve each other's BIRD for longer than BFD's
/// 30 ms on a 2-core VM, and every session of the starved one drops at once.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The dual-homed topology with BIRD running in every namespace. Fields drop in
/// order: namespaces (and their processes) first, then the scratch directory, then
/// the turn, so the next lab starts only once this one is gone.
pub struct DualLab {
    pub net: DualHomed,
    dir: TempDir,
    _turn: MutexGuard<'static, ()>,
}

impl DualLab {
    /// Builds the topology and starts BIRD everywhere; returns once every BGP session
    /// is established.
    pub fn start() -> Result<DualLab> {
        require_tools(super::Recipe::BirdBgpBfd)?;
        // A test that panicked while holding the turn has dropped its lab already.
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let mut lab = DualLab {
            net: DualHomed::new("dh")?,
            dir: TempDir::new("dual"),
            _turn: turn,
        };
        let dir = lab.dir.path().to_path_buf();
        let mut sockets = Vec::new();
        for role in Role::ALL {
            let log = bird_log(&dir, role.name());
            let conf = match role {
                Role::Router(r) => bird_router_conf(r, &log),
                _ => bird_edge_conf(role, &log),
            };
            sockets.push(spawn_bird(lab.ns_mut(role), &dir, role.name(), &conf)?);
        }
        for sock in sockets {
            wait_for_path(&sock, Duration::from_secs(10))?;
        }
        lab.wait_sessions(Duration::from_secs(30))?;
        Ok(lab)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn ns_mut(&mut self, role: Role) -> &mut Netns {
        let t = &mut self.net;
        match role {
            Role::Node(Node::A) => &mut t.a,
            Role::Node(Node::B) => &mut t.b,
            Role::Router(Router::R1) => &mut t.r1,
            Role::Router(Router::R2) => &mut t.r2,
            Role::Client => &mut t.client,
        }
    }

    /// `birdc` in `role`'s BIRD.
    pub fn birdc(&self, role: Role, what: &str) -> String {
        let out = Command::new("birdc")
            .arg("-s")
            .arg(bird_socket(self.dir(), role.name()))
            .arg(what)
            .output();
        match out {
            Ok(o) => {
                String::from_utf8_lossy(&o.stdout).into_owned()
                    + &String::from_utf8_lossy(&o.stderr)
            }
            Err(e) => format!("birdc: {e}"),
        }
    }

    /// The BGP sessions not established, "role: line" each.
    pub fn sessions_down(&self) -> Vec<String> {
        let mut down = Vec::new();
        for role in Role::ALL {
            for l in bgp_sessions_down(&self.birdc(role, "show protocols")) {
                down.push(format!("{}: {l}", role.name()));
            }
        }
        down
    }

    /// Waits for every BGP session of the lab to be established.
    pub fn wait_sessions(&self, timeout: Duration) -> Result<Duration> {
        let start = Instant::now();
        loop {
            let down = self.sessions_down();
            if down.is_empty() {
                return Ok(start.elapsed());
            }
            if start.elapsed() > timeout {
                bail!(
                    "BGP sessions not established after {timeout:?}:\n{}\n{}",
                    down.join("\n"),
                    self.diagnostics()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The router the client's route to `target` takes (from its loopback), if it has
    /// one: the ECMP hash of the probe's flow.
    pub fn client_router(&self, target: Ipv4Addr) -> Result<Option<Router>> {
        let out = self.net.client.exec(&[
            "ip",
            "route",
            "get",
            &target.to_string(),
            "from",
            &CLIENT_LOOPBACK.to_string(),
        ]);
        let Ok(out) = out else { return Ok(None) };
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(Router::ALL
            .into_iter()
            .find(|r| text.contains(&format!("dev {} ", r.uplink()))))
    }

    /// Waits until the client routes `target` by ECMP over both routers.
    pub fn wait_client_ecmp(&self, target: Ipv4Addr, timeout: Duration) -> Result<Duration> {
        let start = Instant::now();
        loop {
            let out = self
                .net
                .client
                .exec(&["ip", "route", "show", &format!("{target}/32")])?;
            let text = String::from_utf8_lossy(&out.stdout);
            if text.matches("nexthop").count() == 2 {
                return Ok(start.elapsed());
            }
            if start.elapsed() > timeout {
                bail!(
                    "the client has no ECMP route to {target} after {timeout:?}: {text}\n{}",
                    self.diagnostics()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Protocols and routes of every BIRD, and the logs' tails, for failure messages.
    pub fn diagnostics(&self) -> String {
        let mut s = format!("\n--- dual-homed lab ({}) ---\n", self.dir().display());
        for role in Role::ALL {
            let _ = writeln!(
                s,
                "[{}] show protocols:\n{}[{}] show route:\n{}",
                role.name(),
                self.birdc(role, "show protocols"),
                role.name(),
                self.birdc(role, "show route")
            );
        }
        s + &log_tails(self.dir())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_announce_loopbacks_and_the_vip_and_give_nodes_a_default() {
        let log = Path::new("/tmp/x.log");
        let a = bird_edge_conf(Role::Node(Node::A), log);
        assert!(a.contains("router id 10.2.0.1;"), "{a}");
        assert!(
            a.contains("local 10.2.1.10 as 65001;\n  neighbor 10.2.1.1 as 65101;"),
            "{a}"
        );
        assert!(
            a.contains("local 10.2.2.10 as 65001;\n  neighbor 10.2.2.1 as 65102;"),
            "{a}"
        );
        assert!(
            a.contains("import where net ~ [ 10.2.0.0/24{32,32} ] || net = 0.0.0.0/0;"),
            "{a}"
        );
        assert!(
            a.contains("net = 10.2.0.1/32 || net ~ [ 10.1.255.0/24{32,32} ]"),
            "{a}"
        );
        assert!(a.contains("merge paths yes;"), "{a}");
        let c = bird_edge_conf(Role::Client, log);
        assert!(
            c.contains("export where proto = \"lo4\" && net = 10.2.0.3/32;"),
            "{c}"
        );
        assert!(c.contains("|| net ~ [ 10.1.255.0/24{32,32} ];"), "{c}");
        let r = bird_router_conf(Router::R2, log);
        assert!(r.contains("route 0.0.0.0/0 blackhole;"), "{r}");
        assert!(
            r.contains(
                "protocol bgp to_a {\n  local 10.2.2.1 as 65102;\n  neighbor 10.2.2.10 as 65001;"
            ),
            "{r}"
        );
        assert!(
            r.contains("protocol bgp to_client {\n  local 10.2.6.1 as 65102;"),
            "{r}"
        );
        assert_eq!(
            r.matches("export all;").count(),
            2,
            "the default goes to the nodes only: {r}"
        );
    }
}

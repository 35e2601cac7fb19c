//! Builds the reference topology and applies failures to it: VIP moves, link cuts,
//! partitions and loss.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use super::{
    Family, Node, ROUTER_CLIENT_DEV, UPLINK,
    measure::route_via,
    routing::{self, Recipe},
};
use crate::{
    netns::{Netns, require_root_and_netns, veth},
    tmp::TempDir,
};

/// Which packets a partition or loss rule hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Only VRRP (IP protocol 112): the nodes stop hearing each other but routing and
    /// client traffic still flow, the classic split brain.
    Vrrp,
    /// Everything forwarded between the two node subnets.
    All,
}

/// Which end of a node's uplink to cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkEnd {
    Node,
    Router,
}

/// Options for [`Lab`]; `build` creates everything.
#[derive(Default)]
pub struct LabBuilder {
    routing: Option<Recipe>,
    vip_on: Option<Node>,
    family: Family,
}

impl LabBuilder {
    /// Starts this routing recipe in A, B and the router.
    pub fn routing(mut self, recipe: Recipe) -> Self {
        self.routing = Some(recipe);
        self
    }

    /// The VIP's family (default IPv4). The recipe must carry it.
    pub fn family(mut self, family: Family) -> Self {
        self.family = family;
        self
    }

    /// Puts the VIP on this node's `lo` and, with routing, waits until the router
    /// routes the VIP through it.
    pub fn vip_on(mut self, node: Node) -> Self {
        self.vip_on = Some(node);
        self
    }

    pub fn build(self) -> Result<Lab> {
        if let Some(recipe) = self.routing
            && !recipe.families().contains(&self.family)
        {
            bail!("{recipe:?} does not carry an {} VIP", self.family);
        }
        let mut lab = Lab::topology(self.family)?;
        if let Some(recipe) = self.routing {
            lab.start_routing(recipe)?;
        }
        if let Some(node) = self.vip_on {
            lab.vip_add(node)?;
            if lab.recipe.is_some() {
                lab.wait_route_via(Some(node), Duration::from_secs(20))
                    .context("initial route to the VIP")?;
            }
        }
        Ok(lab)
    }
}

/// Nodes A (10.1.1.10/24) and B (10.1.2.10/24) in two subnets, each on its own veth
/// to a forwarding router (10.1.1.1, 10.1.2.1) that is their default gateway; the
/// same in IPv6 (2001:db8:1::10/64, 2001:db8:2::10/64, the router ::1). The core of
/// the reference topology, also used alone by tests that need two routed nodes and
/// no routing daemon.
pub struct RoutedPair {
    pub a: Netns,
    pub b: Netns,
    pub router: Netns,
}

impl RoutedPair {
    /// Namespace names start with `prefix` (then A, B, R and a unique suffix).
    pub fn new(prefix: &str) -> Result<RoutedPair> {
        require_root_and_netns()?;
        let pair = RoutedPair {
            a: Netns::new(&format!("{prefix}A"))?,
            b: Netns::new(&format!("{prefix}B"))?,
            router: Netns::new(&format!("{prefix}R"))?,
        };
        for ns in [&pair.a, &pair.b, &pair.router] {
            ipv6_sysctls(ns)?;
        }
        for node in Node::ALL {
            let ns = match node {
                Node::A => &pair.a,
                Node::B => &pair.b,
            };
            veth(ns, UPLINK, &pair.router, node.router_dev())?;
            for f in Family::ALL {
                add_addr(ns, UPLINK, node.addr_in(f), f.link_len())?;
                add_addr(
                    &pair.router,
                    node.router_dev(),
                    node.gateway_in(f),
                    f.link_len(),
                )?;
                default_route(ns, node.gateway_in(f))?;
            }
        }
        pair.router.exec(&[
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1",
        ])?;
        Ok(pair)
    }
}

/// IPv6 as the lab needs it, set before the namespace's links exist: no DAD at all
/// (link-local addresses too, so none is tentative after a link comes up), and
/// addresses kept when a link goes down, as IPv4 keeps them (the kernel otherwise
/// flushes them, and a cut link would come back without its address).
fn ipv6_sysctls(ns: &Netns) -> Result<()> {
    ns.exec(&[
        "sysctl",
        "-qw",
        "net.ipv6.conf.all.accept_dad=0",
        "net.ipv6.conf.default.accept_dad=0",
        "net.ipv6.conf.all.keep_addr_on_down=1",
    ])?;
    Ok(())
}

/// Adds `addr/len` to `dev` in `ns`; IPv6 with `nodad`, usable at once.
fn add_addr(ns: &Netns, dev: &str, addr: std::net::IpAddr, len: u8) -> Result<()> {
    let f = Family::of(addr);
    let prefix = format!("{addr}/{len}");
    let mut argv = vec!["ip", f.ip_flag(), "addr", "add", &prefix, "dev", dev];
    if f == Family::V6 {
        argv.push("nodad");
    }
    ns.exec(&argv)?;
    Ok(())
}

/// Sets `ns`'s default route of `gw`'s family via `gw` (replacing any).
fn default_route(ns: &Netns, gw: std::net::IpAddr) -> Result<()> {
    let gw_s = gw.to_string();
    let f = Family::of(gw).ip_flag();
    ns.exec(&["ip", f, "route", "replace", "default", "via", &gw_s])?;
    Ok(())
}

/// The reference topology. Fields drop in order: namespaces (and the daemons in them)
/// first, then the scratch directory.
pub struct Lab {
    pub a: Netns,
    pub b: Netns,
    pub router: Netns,
    pub client: Netns,
    recipe: Option<Recipe>,
    family: Family,
    dir: TempDir,
}

impl Lab {
    pub fn builder() -> LabBuilder {
        LabBuilder::default()
    }

    /// Namespaces, links, addresses and routes (both families); no routing daemon,
    /// no VIP.
    fn topology(family: Family) -> Result<Lab> {
        let RoutedPair { a, b, router } = RoutedPair::new("lab")?;
        let lab = Lab {
            a,
            b,
            router,
            client: Netns::new("labC")?,
            recipe: None,
            family,
            dir: TempDir::new("lab"),
        };
        ipv6_sysctls(&lab.client)?;
        veth(&lab.client, UPLINK, &lab.router, ROUTER_CLIENT_DEV)?;
        for f in Family::ALL {
            add_addr(&lab.client, UPLINK, f.client_addr(), f.link_len())?;
            default_route(&lab.client, f.client_gateway())?;
            add_addr(
                &lab.router,
                ROUTER_CLIENT_DEV,
                f.client_gateway(),
                f.link_len(),
            )?;
        }
        // Empty filter chains on the router that failure rules go into.
        nft(
            &lab.router,
            "table inet lab {\n chain forward {\n  type filter hook forward priority 0; policy accept;\n }\n \
             chain input {\n  type filter hook input priority 0; policy accept;\n }\n}\n",
        )?;
        Ok(lab)
    }

    pub fn node(&self, node: Node) -> &Netns {
        match node {
            Node::A => &self.a,
            Node::B => &self.b,
        }
    }

    /// Mutable access, for `Netns::spawn` (a daemon under test in a node).
    pub fn node_mut(&mut self, node: Node) -> &mut Netns {
        match node {
            Node::A => &mut self.a,
            Node::B => &mut self.b,
        }
    }

    /// Scratch directory for configs, control sockets and daemon logs; removed with
    /// the lab (`routing_diagnostics` carries the log tails into failure messages).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn recipe(&self) -> Option<Recipe> {
        self.recipe
    }

    /// The family of the VIP this lab moves, probes and watches.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Starts the routing daemons of `recipe` in A, B and the router; they are killed
    /// when the lab drops.
    pub fn start_routing(&mut self, recipe: Recipe) -> Result<()> {
        if let Some(running) = self.recipe {
            bail!("routing already running ({running:?})");
        }
        routing::start(self, recipe)?;
        self.recipe = Some(recipe);
        Ok(())
    }

    /// Adds the VIP (/32 or /128) to the node's `lo`, as a master would.
    pub fn vip_add(&self, node: Node) -> Result<()> {
        add_addr(
            self.node(node),
            "lo",
            self.family.vip(),
            self.family.host_len(),
        )
    }

    /// Removes the VIP from the node's `lo`, as a leaving master would.
    pub fn vip_del(&self, node: Node) -> Result<()> {
        let (f, vip) = (self.family.ip_flag(), self.family.vip_host());
        self.node(node)
            .exec(&["ip", f, "addr", "del", &vip, "dev", "lo"])?;
        Ok(())
    }

    /// Whether the node has the VIP on any interface.
    pub fn holds_vip(&self, node: Node) -> Result<bool> {
        let (f, vip) = (self.family.ip_flag(), self.family.vip_host());
        let out = self
            .node(node)
            .exec(&["ip", "-o", f, "addr", "show", "to", &vip])?;
        Ok(!out.stdout.is_empty())
    }

    /// The node the router currently forwards VIP traffic to (its kernel FIB).
    pub fn route_via(&self) -> Result<Option<Node>> {
        let vip = self.family.vip();
        crate::netns::in_netns(&self.router, || route_via(vip))?
    }

    /// Polls the router's FIB until the VIP route goes via `want` (`None`: no route).
    pub fn wait_route_via(&self, want: Option<Node>, timeout: Duration) -> Result<Duration> {
        let start = Instant::now();
        loop {
            let now = self.route_via()?;
            if now == want {
                return Ok(start.elapsed());
            }
            if start.elapsed() > timeout {
                bail!(
                    "router still routes the VIP via {now:?}, not {want:?}, after {timeout:?}{}",
                    self.routing_diagnostics()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `node`'s kernel has the route to the client subnet that its
    /// routing adjacency brings (of the recipe's [`Recipe::learned_protocol`]):
    /// what a `track_route` in the lab waits on.
    pub fn wait_learned_route(&self, node: Node, timeout: Duration) -> Result<Duration> {
        let Some(recipe) = self.recipe else {
            bail!("no routing recipe runs: no route is learned");
        };
        let start = Instant::now();
        let (f, peer) = (self.family.ip_flag(), self.family.client_subnet());
        let proto = recipe.learned_protocol();
        loop {
            let out = self.node(node).exec(&[
                "ip", "-o", f, "route", "show", "exact", peer, "proto", proto,
            ])?;
            if !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
                return Ok(start.elapsed());
            }
            if start.elapsed() > timeout {
                bail!(
                    "{node:?} never learned {peer} (proto {proto}) from the router within {timeout:?}{}",
                    self.routing_diagnostics()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The data path from the client to the VIP, for error messages when the client
    /// is not served: who holds the VIP, the router's route and neighbours, link
    /// counters (drops, XDP), UDP counters on the nodes, and a few probes to each
    /// node's own address and to the VIP.
    pub fn path_diagnostics(&self) -> String {
        use std::fmt::Write as _;
        let show = |ns: &Netns, args: &[&str]| match ns.exec(args) {
            Ok(out) => String::from_utf8_lossy(&out.stdout).trim_end().to_string(),
            Err(e) => format!("({e:#})"),
        };
        let probe20 = |to: std::net::IpAddr| match super::run_probe(
            &self.client,
            to,
            20,
            Duration::from_millis(1),
        ) {
            Ok(r) => r.summary(),
            Err(e) => format!("({e:#})"),
        };
        let mut s = String::from("\n--- data path state ---\n");
        let family = self.family;
        let vip = family.vip().to_string();
        let _ = writeln!(
            s,
            "[router] ip route get {vip}: {}",
            show(&self.router, &["ip", "route", "get", &vip])
        );
        let _ = writeln!(
            s,
            "[router] ip neigh:\n{}",
            show(&self.router, &["ip", "neigh"])
        );
        let _ = writeln!(
            s,
            "[router] ip -s link:\n{}",
            show(&self.router, &["ip", "-s", "link"])
        );
        let _ = writeln!(
            s,
            "[router] nft list ruleset:\n{}",
            show(&self.router, &["nft", "list", "ruleset"])
        );
        for node in [Node::A, Node::B] {
            let ns = self.node(node);
            let _ = writeln!(
                s,
                "[{node:?}] holds VIP: {:?}; ip -s -d link show {UPLINK}:\n{}",
                self.holds_vip(node).ok(),
                show(ns, &["ip", "-s", "-d", "link", "show", UPLINK])
            );
            let _ = writeln!(
                s,
                "[{node:?}] UDP counters: {}",
                show(ns, &["nstat", "-az", "Udp*"]).replace('\n', "; ")
            );
            let _ = writeln!(
                s,
                "[{node:?}] nft list ruleset:\n{}",
                show(ns, &["nft", "list", "ruleset"])
            );
            let _ = writeln!(
                s,
                "[client] 20 probes to {node:?}'s own address: {}",
                probe20(node.addr_in(family))
            );
        }
        let _ = writeln!(
            s,
            "[client] 20 probes to the VIP: {}",
            probe20(family.vip())
        );
        s
    }

    /// The nodes' routing sessions with the router that are not up (empty: all up,
    /// or no routing running). A standby whose session is still down cannot carry
    /// the VIP's route if it takes over.
    pub fn routing_sessions_down(&self) -> Vec<String> {
        match self.recipe {
            Some(recipe) => routing::sessions_down(self, recipe),
            None => Vec::new(),
        }
    }

    /// The routing daemons' view, for error messages.
    pub fn routing_diagnostics(&self) -> String {
        match self.recipe {
            Some(recipe) => routing::diagnostics(self, recipe),
            None => String::new(),
        }
    }

    /// Sets one end of a node's uplink down.
    pub fn link_down(&self, node: Node, end: LinkEnd) -> Result<()> {
        self.set_link(node, end, "down")
    }

    /// Sets one end of a node's uplink up again, and restores the node's default
    /// route, which the kernel deleted when the node's end went down.
    /// Returns once both ends report operstate UP (the kernel defers carrier-on
    /// events by up to a second), so traffic flows when it returns.
    pub fn link_up(&self, node: Node, end: LinkEnd) -> Result<()> {
        self.set_link(node, end, "up")?;
        let start = Instant::now();
        for (ns, dev) in [(self.node(node), UPLINK), (&self.router, node.router_dev())] {
            loop {
                let out = ns.exec(&["ip", "-o", "link", "show", "dev", dev])?;
                if String::from_utf8_lossy(&out.stdout).contains("state UP") {
                    break;
                }
                if start.elapsed() > Duration::from_secs(5) {
                    bail!("{dev} in {} not operationally up after 5 s", ns.name);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        for f in Family::ALL {
            default_route(self.node(node), node.gateway_in(f))?;
        }
        Ok(())
    }

    fn set_link(&self, node: Node, end: LinkEnd, state: &str) -> Result<()> {
        let (ns, dev) = match end {
            LinkEnd::Node => (self.node(node), UPLINK),
            LinkEnd::Router => (&self.router, node.router_dev()),
        };
        ns.exec(&["ip", "link", "set", "dev", dev, state])?;
        Ok(())
    }

    /// Drops traffic between the two node subnets on the router, both directions and
    /// both families, while both nodes still reach the router and the client.
    pub fn partition(&self, scope: Scope) -> Result<()> {
        self.between_nodes(scope, "drop")
    }

    /// Drops `percent` % of the traffic between the node subnets, both directions.
    pub fn loss_between_nodes(&self, percent: u8, scope: Scope) -> Result<()> {
        if percent > 100 {
            bail!("loss of {percent} % is not a percentage");
        }
        self.between_nodes(scope, &format!("numgen random mod 100 < {percent} drop"))
    }

    fn between_nodes(&self, scope: Scope, verdict: &str) -> Result<()> {
        let proto = match scope {
            Scope::Vrrp => "meta l4proto 112 ",
            Scope::All => "",
        };
        let mut script = String::new();
        for f in Family::ALL {
            let ip = f.nft();
            for (from, to) in [(Node::A, Node::B), (Node::B, Node::A)] {
                script += &format!(
                    "add rule inet lab forward {ip} saddr {} {ip} daddr {} {proto}{verdict}\n",
                    from.subnet_in(f),
                    to.subnet_in(f)
                );
            }
        }
        nft(&self.router, &script)
    }

    /// Makes a node silent to the router without touching its link: everything it
    /// sends to or through the router is dropped, as when a node hangs or dies but
    /// its switch port stays up. Routing sessions then time out (or BFD notices).
    pub fn silence(&self, node: Node) -> Result<()> {
        let mut script = String::new();
        for f in Family::ALL {
            let (ip, a) = (f.nft(), node.addr_in(f));
            script += &format!(
                "add rule inet lab input {ip} saddr {a} drop\nadd rule inet lab forward {ip} saddr {a} drop\n"
            );
        }
        nft(&self.router, &script)
    }

    /// Removes every partition, loss and silence rule.
    pub fn heal(&self) -> Result<()> {
        nft(
            &self.router,
            "flush chain inet lab forward\nflush chain inet lab input\n",
        )
    }
}

/// Applies an nftables script (`nft -f -` syntax) inside `ns`.
pub fn nft(ns: &Netns, script: &str) -> Result<()> {
    use std::io::Write;
    let mut child = ns
        .command(&["nft", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running nft (apt-get install nftables)")?;
    child
        .stdin
        .take()
        .context("nft stdin")?
        .write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "nft in {} failed: {}\nscript:\n{script}",
            ns.name,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

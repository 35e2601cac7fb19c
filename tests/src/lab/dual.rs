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
//! goes down; the lab's recipe learns them by BGP instead.

use std::net::Ipv4Addr;

use anyhow::Result;

use super::Node;
use crate::netns::{Netns, require_root_and_netns, veth};

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
                ns.exec(&[
                    "ip",
                    "addr",
                    "add",
                    &format!("{}/24", node_addr(node, r)),
                    "dev",
                    r.uplink(),
                ])?;
                rns.exec(&[
                    "ip",
                    "addr",
                    "add",
                    &format!("{}/24", router_addr(node, r)),
                    "dev",
                    &r.dev_to(node),
                ])?;
            }
            veth(&t.client, r.uplink(), rns, &r.client_dev())?;
            t.client.exec(&[
                "ip",
                "addr",
                "add",
                &format!("{}/24", client_addr(r)),
                "dev",
                r.uplink(),
            ])?;
            rns.exec(&[
                "ip",
                "addr",
                "add",
                &format!("{}/24", router_client_addr(r)),
                "dev",
                &r.client_dev(),
            ])?;
            rns.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        }
        for node in Node::ALL {
            let lo = format!("{}/32", loopback(node));
            t.node(node)
                .exec(&["ip", "addr", "add", &lo, "dev", "lo"])?;
        }
        let lo = format!("{CLIENT_LOOPBACK}/32");
        t.client.exec(&["ip", "addr", "add", &lo, "dev", "lo"])?;
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

//! The failure lab: the reference cross-subnet topology in network namespaces, a real
//! routing daemon that carries the VIP's /32 to the router, a client probe that sees
//! the outage as a user would, and route-convergence measurement.
//!
//! ```text
//!   node A (10.1.1.10) eth0 ---- ra (10.1.1.1) \
//!                                               router ---- rc (10.1.3.1) ---- eth0 client (10.1.3.10)
//!   node B (10.1.2.10) eth0 ---- rb (10.1.2.1) /
//!
//!   VIP 10.1.255.1/32 on the master's `lo`; the router learns it by OSPF or BGP.
//! ```
//!
//! Everything lives in namespaces the lab creates; dropping the [`Lab`] kills the
//! daemons it started (by PID) and deletes the namespaces, also when a test panics.

pub mod dual;
pub mod measure;
pub mod probe;
pub mod routing;
pub mod topology;

pub use measure::{Convergence, RouteWatch, Stats, measure_moves, move_vip};
pub use probe::{
    Outage, ProbeReport, Responder, responders, run_probe, start_probe, start_probe_from,
};
pub use routing::{Recipe, require_tools};
pub use topology::{Lab, LabBuilder, LinkEnd, RoutedPair, Scope, nft};

use std::net::Ipv4Addr;

/// The virtual IP, in a subnet configured on no link.
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 1, 255, 1);
/// The virtual subnet; only /32s inside it are announced.
pub const VIP_NET: &str = "10.1.255.0/24";
/// Interface name of every node's and the client's uplink.
pub const UPLINK: &str = "eth0";
/// UDP port the responders listen on.
pub const PROBE_PORT: u16 = 7777;

/// One of the two VRRP nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    A,
    B,
}

impl Node {
    pub const ALL: [Node; 2] = [Node::A, Node::B];

    /// The node's address on its own subnet.
    pub fn addr(self) -> Ipv4Addr {
        match self {
            Node::A => Ipv4Addr::new(10, 1, 1, 10),
            Node::B => Ipv4Addr::new(10, 1, 2, 10),
        }
    }

    /// The router's address on the node's subnet (the node's default gateway).
    pub fn gateway(self) -> Ipv4Addr {
        match self {
            Node::A => Ipv4Addr::new(10, 1, 1, 1),
            Node::B => Ipv4Addr::new(10, 1, 2, 1),
        }
    }

    /// The node's subnet.
    pub fn subnet(self) -> &'static str {
        match self {
            Node::A => "10.1.1.0/24",
            Node::B => "10.1.2.0/24",
        }
    }

    /// The router's interface towards the node.
    pub fn router_dev(self) -> &'static str {
        match self {
            Node::A => "ra",
            Node::B => "rb",
        }
    }

    /// The one-letter name the node's responder answers with.
    pub fn letter(self) -> u8 {
        match self {
            Node::A => b'A',
            Node::B => b'B',
        }
    }

    pub fn from_letter(l: u8) -> Option<Node> {
        match l {
            b'A' => Some(Node::A),
            b'B' => Some(Node::B),
            _ => None,
        }
    }

    pub fn other(self) -> Node {
        match self {
            Node::A => Node::B,
            Node::B => Node::A,
        }
    }
}

/// Router address on the client subnet, the client's gateway.
pub const CLIENT_GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 1, 3, 1);
/// The client's address.
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 1, 3, 10);
/// The router's interface towards the client.
pub const ROUTER_CLIENT_DEV: &str = "rc";
/// The client's subnet. The router announces it to both nodes over their adjacency,
/// so a node has a route to it exactly while its own adjacency is up (a route the
/// other node's link cannot take away): what a `track_route` in the lab waits on.
pub const CLIENT_SUBNET: &str = "10.1.3.0/24";

/// CLOCK_MONOTONIC in nanoseconds: the same clock as `bpf_ktime_get_ns` and the
/// daemon's timestamps, so lab measurements line up with daemon logs.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Starts a thread that runs `f` inside `ns` (the thread enters the namespace first).
/// Sockets it creates belong to `ns`; unlike `in_netns` the thread may outlive the
/// call, so probes and watchers run while the test acts.
pub fn spawn_in<T: Send + 'static>(
    ns: &crate::netns::Netns,
    f: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<std::thread::JoinHandle<anyhow::Result<T>>> {
    use anyhow::Context;
    use std::os::fd::AsRawFd;
    let path = format!("/var/run/netns/{}", ns.name);
    let file = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
    Ok(std::thread::spawn(move || {
        // SAFETY: setns on a valid namespace fd, affecting only this thread.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            anyhow::bail!("setns({path}): {}", std::io::Error::last_os_error());
        }
        drop(file);
        Ok(f())
    }))
}

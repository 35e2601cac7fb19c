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
//! The topology is dual stack: every link also carries IPv6 (A 2001:db8:1::10/64,
//! B 2001:db8:2::10/64, client 2001:db8:3::10/64, the router ::1 on each), so one lab
//! serves either VIP. A lab's [`Family`] says which VIP a run moves, probes and
//! watches (10.1.255.1/32, or 2001:db8:ff::1/128 in 2001:db8:ff::/64).
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

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The virtual IP, in a subnet configured on no link.
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 1, 255, 1);
/// The virtual subnet; only /32s inside it are announced.
pub const VIP_NET: &str = "10.1.255.0/24";
/// The IPv6 virtual IP, in a subnet configured on no link.
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 1);
/// The IPv6 virtual subnet; only /128s inside it are announced.
pub const VIP6_NET: &str = "2001:db8:ff::/64";
/// Interface name of every node's and the client's uplink.
pub const UPLINK: &str = "eth0";
/// UDP port the responders listen on.
pub const PROBE_PORT: u16 = 7777;

/// The address family of a lab run: which VIP it moves, probes and routes, and
/// which addresses the daemons' instance uses. The topology carries both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Family {
    #[default]
    V4,
    V6,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// "ipv4" or "ipv6": the demo's `--family` value, and BIRD's channel name.
    pub fn name(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }

    /// The VIP of this family.
    pub fn vip(self) -> IpAddr {
        match self {
            Family::V4 => VIP.into(),
            Family::V6 => VIP6.into(),
        }
    }

    /// The virtual subnet the VIP's host route is announced from.
    pub fn vip_net(self) -> &'static str {
        match self {
            Family::V4 => VIP_NET,
            Family::V6 => VIP6_NET,
        }
    }

    /// Prefix length of a host route: 32 or 128.
    pub fn host_len(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    /// The VIP as a host prefix, as it sits on `lo` ("10.1.255.1/32").
    pub fn vip_host(self) -> String {
        format!("{}/{}", self.vip(), self.host_len())
    }

    /// Prefix length of the lab's links: 24 or 64.
    pub fn link_len(self) -> u8 {
        match self {
            Family::V4 => 24,
            Family::V6 => 64,
        }
    }

    /// `ip`'s family flag.
    pub fn ip_flag(self) -> &'static str {
        match self {
            Family::V4 => "-4",
            Family::V6 => "-6",
        }
    }

    /// nftables' address match keyword (`ip saddr` / `ip6 saddr`).
    pub fn nft(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }

    /// The wildcard address, to bind a socket of this family.
    pub fn unspecified(self) -> IpAddr {
        match self {
            Family::V4 => Ipv4Addr::UNSPECIFIED.into(),
            Family::V6 => Ipv6Addr::UNSPECIFIED.into(),
        }
    }

    /// The client's address.
    pub fn client_addr(self) -> IpAddr {
        match self {
            Family::V4 => CLIENT_ADDR.into(),
            Family::V6 => CLIENT_ADDR6.into(),
        }
    }

    /// The router's address on the client subnet, the client's gateway.
    pub fn client_gateway(self) -> IpAddr {
        match self {
            Family::V4 => CLIENT_GATEWAY.into(),
            Family::V6 => CLIENT_GATEWAY6.into(),
        }
    }

    /// The client subnet, the route a node learns over its adjacency.
    pub fn client_subnet(self) -> &'static str {
        match self {
            Family::V4 => CLIENT_SUBNET,
            Family::V6 => CLIENT_SUBNET6,
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Family {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Family> {
        match s {
            "ipv4" | "4" => Ok(Family::V4),
            "ipv6" | "6" => Ok(Family::V6),
            _ => anyhow::bail!("unknown family {s:?}: ipv4 or ipv6"),
        }
    }
}

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

    /// The node's IPv6 address on its own subnet.
    pub fn addr6(self) -> Ipv6Addr {
        match self {
            Node::A => Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10),
            Node::B => Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x10),
        }
    }

    /// The router's IPv6 address on the node's subnet (the node's default gateway).
    pub fn gateway6(self) -> Ipv6Addr {
        match self {
            Node::A => Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1),
            Node::B => Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1),
        }
    }

    /// The node's IPv6 subnet.
    pub fn subnet6(self) -> &'static str {
        match self {
            Node::A => "2001:db8:1::/64",
            Node::B => "2001:db8:2::/64",
        }
    }

    /// [`Node::addr`] or [`Node::addr6`].
    pub fn addr_in(self, family: Family) -> IpAddr {
        match family {
            Family::V4 => self.addr().into(),
            Family::V6 => self.addr6().into(),
        }
    }

    /// [`Node::gateway`] or [`Node::gateway6`].
    pub fn gateway_in(self, family: Family) -> IpAddr {
        match family {
            Family::V4 => self.gateway().into(),
            Family::V6 => self.gateway6().into(),
        }
    }

    /// [`Node::subnet`] or [`Node::subnet6`].
    pub fn subnet_in(self, family: Family) -> &'static str {
        match family {
            Family::V4 => self.subnet(),
            Family::V6 => self.subnet6(),
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
/// Router IPv6 address on the client subnet, the client's gateway.
pub const CLIENT_GATEWAY6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 3, 0, 0, 0, 0, 1);
/// The client's IPv6 address.
pub const CLIENT_ADDR6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 3, 0, 0, 0, 0, 0x10);
/// The client's IPv6 subnet, learned by the nodes as [`CLIENT_SUBNET`] is.
pub const CLIENT_SUBNET6: &str = "2001:db8:3::/64";

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

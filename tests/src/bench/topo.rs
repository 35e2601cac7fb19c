//! The benchmark topology: two nodes on one link through a switch namespace, where the
//! wire can be observed, and optionally a flooder on the same link.
//!
//! ```text
//!   node 0 (10.1.1.10) eth0 --- p0 \
//!                                   br0 (switch ns: capture here)
//!   node 1 (10.1.1.20) eth0 --- p1 /   \--- p2 --- eth0 flooder (10.1.1.99)
//! ```
//!
//! With several links (the scale section's 1,020 instances: 255 VRIDs per interface),
//! link k is `eth{k}` on each node, a bridge `br{k}` in the switch and the subnet
//! 10.1.(1+k).0/24, node addresses [`link_addr`] of the link-0 ones; the flooder is on
//! link 0 only.
//!
//! VIPs go on each node's `lo`, as routed VIPs do in the cross-subnet setup. IPv6 is
//! off in every namespace so nothing but the benchmark's traffic is on the link.

use std::{net::Ipv4Addr, path::PathBuf, thread::JoinHandle};

use anyhow::{Context, Result};

use super::daemon::Node;
use crate::{
    netns::{Netns, veth},
    tmp::TempDir,
};

/// Node addresses on the shared /24.
pub const NODE_ADDRS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 1, 1, 10), Ipv4Addr::new(10, 1, 1, 20)];
/// The flooder's own address on the link.
pub const FLOODER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 99);
/// Switch ports the nodes plug into (capture points).
pub const NODE_PORTS: [&str; 2] = ["p0", "p1"];

/// Most links a [`Pair`] can have (link k uses the subnet 10.1.(1+k).0/24).
pub const MAX_LINKS: u8 = 8;

/// A node's address on link `link`: the link-0 address with the third octet moved
/// up by `link` (10.1.1.10 -> 10.1.2.10 on link 1).
pub fn link_addr(addr: Ipv4Addr, link: u8) -> Ipv4Addr {
    let o = addr.octets();
    Ipv4Addr::new(o[0], o[1], o[2] + link, o[3])
}

/// The node interface of link `link`.
pub fn link_dev(link: u8) -> String {
    format!("eth{link}")
}

/// Two nodes (and maybe a flooder) on switched links, torn down on drop.
pub struct Pair {
    // Field order is drop order: daemons first, then the namespaces, then files.
    pub nodes: [Node; 2],
    pub flooder: Option<Netns>,
    pub sw: Netns,
    pub dir: TempDir,
}

fn quiet(ns: &Netns) -> Result<()> {
    ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])?;
    ns.exec(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"])?;
    Ok(())
}

impl Pair {
    /// Builds one link; `tag` is a short namespace prefix (a letter or two).
    pub fn new(tag: &str, with_flooder: bool) -> Result<Pair> {
        Pair::with_links(tag, with_flooder, 1)
    }

    /// Builds `links` parallel links (1..=[`MAX_LINKS`]), each its own bridge and
    /// subnet.
    pub fn with_links(tag: &str, with_flooder: bool, links: u8) -> Result<Pair> {
        if !(1..=MAX_LINKS).contains(&links) {
            anyhow::bail!("{links} links: 1 to {MAX_LINKS}");
        }
        let dir = TempDir::new(&format!("bench-{tag}"));
        let sw = Netns::new(&format!("b{tag}s"))?;
        quiet(&sw)?;
        for k in 0..links {
            let br = format!("br{k}");
            sw.exec(&["ip", "link", "add", &br, "type", "bridge"])?;
            sw.exec(&["ip", "link", "set", &br, "up"])?;
        }
        let mut nodes = Vec::new();
        for (i, addr) in NODE_ADDRS.iter().enumerate() {
            let ns = Netns::new(&format!("b{tag}{i}"))?;
            quiet(&ns)?;
            for k in 0..links {
                // Link 0 keeps the capture points' names.
                let port = if k == 0 {
                    NODE_PORTS[i].to_string()
                } else {
                    format!("p{i}l{k}")
                };
                let dev = link_dev(k);
                veth(&ns, &dev, &sw, &port)?;
                sw.exec(&["ip", "link", "set", &port, "master", &format!("br{k}")])?;
                let a = format!("{}/24", link_addr(*addr, k));
                ns.exec(&["ip", "addr", "add", &a, "dev", &dev])?;
            }
            let ndir = dir.path().join(format!("n{i}"));
            std::fs::create_dir_all(&ndir)?;
            nodes.push(Node::new(ns, *addr, ndir));
        }
        let flooder = if with_flooder {
            let ns = Netns::new(&format!("b{tag}f"))?;
            quiet(&ns)?;
            veth(&ns, "eth0", &sw, "p2")?;
            sw.exec(&["ip", "link", "set", "p2", "master", "br0"])?;
            ns.exec(&[
                "ip",
                "addr",
                "add",
                &format!("{FLOODER_ADDR}/24"),
                "dev",
                "eth0",
            ])?;
            Some(ns)
        } else {
            None
        };
        let nodes: [Node; 2] = nodes.try_into().map_err(|_| anyhow::anyhow!("two nodes"))?;
        Ok(Pair {
            nodes,
            flooder,
            sw,
            dir,
        })
    }

    /// Index of the node with address `a`.
    pub fn index_of(&self, a: Ipv4Addr) -> Option<usize> {
        NODE_ADDRS.iter().position(|x| *x == a)
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

/// Starts a thread that enters namespace `name` and runs `f` there. Sockets it opens
/// belong to that namespace.
pub fn spawn_in_ns<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<JoinHandle<Result<T>>> {
    use std::os::fd::AsRawFd;
    let path = format!("/var/run/netns/{name}");
    let file = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
    Ok(std::thread::spawn(move || {
        // SAFETY: setns on a valid namespace fd, for this thread only.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            anyhow::bail!("setns({path}): {}", std::io::Error::last_os_error());
        }
        drop(file);
        f()
    }))
}

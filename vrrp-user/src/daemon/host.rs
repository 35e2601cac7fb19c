//! What building an instance needs from the machine: interface indexes and addresses.
//! Behind a trait so the controller can be planned and tested without a host (its
//! conformance tests use a table), and resolved once, before any planning.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::config::Family;

use crate::datapath::xdp::ifindex;

/// Interface facts an instance is resolved against.
pub trait Host {
    /// The index of interface `name`, if it exists.
    fn ifindex(&self, name: &str) -> Option<u32>;
    /// A multicast instance's source on `name`: its first IPv4 address, or for IPv6
    /// its link-local address (RFC 9568 §5.1.2.1: IPv6 adverts come from one).
    fn multicast_source(&self, name: &str, family: Family) -> Option<IpAddr>;
    /// Every interface but `lo`, by name: the uplinks of a routed instance that
    /// names none.
    fn uplinks(&self) -> Vec<String>;
}

/// The running machine (its network namespace).
pub struct SystemHost;

impl Host for SystemHost {
    fn ifindex(&self, name: &str) -> Option<u32> {
        ifindex(name)
    }

    fn multicast_source(&self, name: &str, family: Family) -> Option<IpAddr> {
        match family {
            Family::V4 => first_address(name, |a| match a {
                IpAddr::V4(v4) => Some(IpAddr::V4(v4)),
                IpAddr::V6(_) => None,
            }),
            Family::V6 => first_address(name, |a| match a {
                IpAddr::V6(v6) if v6.is_unicast_link_local() => Some(IpAddr::V6(v6)),
                _ => None,
            }),
        }
    }

    fn uplinks(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|n| n != "lo")
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

/// The first address on `iface` that `pick` takes, for multicast instances (their
/// source).
fn first_address(iface: &str, pick: impl Fn(IpAddr) -> Option<IpAddr>) -> Option<IpAddr> {
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills ifap; freed below.
    if unsafe { libc::getifaddrs(&mut ifap) } != 0 {
        return None;
    }
    let mut found = None;
    let mut cur = ifap;
    while !cur.is_null() {
        // SAFETY: walking the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        // SAFETY: ifa_name is a NUL-terminated string.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
        if name.to_bytes() == iface.as_bytes() && !ifa.ifa_addr.is_null() {
            // SAFETY: non-null sockaddr; family checked before each cast.
            let fam = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
            let addr = if fam == libc::AF_INET {
                // SAFETY: AF_INET means a sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                Some(IpAddr::V4(Ipv4Addr::from(
                    sin.sin_addr.s_addr.to_ne_bytes(),
                )))
            } else if fam == libc::AF_INET6 {
                // SAFETY: AF_INET6 means a sockaddr_in6.
                let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
            } else {
                None
            };
            if let Some(a) = addr.and_then(&pick) {
                found = Some(a);
                break;
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: ifap came from getifaddrs.
    unsafe { libc::freeifaddrs(ifap) };
    found
}

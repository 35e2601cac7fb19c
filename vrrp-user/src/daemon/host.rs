//! What building an instance needs from the machine: interface indexes and addresses.
//! Behind a trait so the controller can be planned and tested without a host (its
//! conformance tests use a table), and resolved once, before any planning.

use std::net::Ipv4Addr;

use crate::datapath::xdp::ifindex;

/// Interface facts an instance is resolved against.
pub trait Host {
    /// The index of interface `name`, if it exists.
    fn ifindex(&self, name: &str) -> Option<u32>;
    /// The first IPv4 address on `name` (a multicast instance's source).
    fn first_ipv4(&self, name: &str) -> Option<Ipv4Addr>;
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

    fn first_ipv4(&self, name: &str) -> Option<Ipv4Addr> {
        first_ipv4(name)
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

/// The first IPv4 address on `iface`, for multicast instances (their source).
fn first_ipv4(iface: &str) -> Option<Ipv4Addr> {
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
            // SAFETY: non-null sockaddr; family checked before the cast.
            let fam = unsafe { (*ifa.ifa_addr).sa_family };
            if i32::from(fam) == libc::AF_INET {
                // SAFETY: AF_INET means a sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                found = Some(Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()));
                break;
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: ifap came from getifaddrs.
    unsafe { libc::freeifaddrs(ifap) };
    found
}

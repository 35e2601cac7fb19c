//! Unsolicited Neighbor Advertisement: the IPv6 twin of gratuitous ARP,
//! sent to all-nodes (ff02::1) with the override flag so neighbours replace
//! the VIP's old MAC in their caches (RFC 4861 §7.2.6).

use std::io;
use std::mem::size_of;
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::arp::PacketSocket;
use super::{NetlinkError, Op, Sent};

/// ICMPv6 Neighbor Advertisement with one Target Link-Layer Address option.
pub const NA_LEN: usize = 32;
const ND_NEIGHBOR_ADVERT: u8 = 136;
const FLAG_ROUTER: u8 = 0x80;
const FLAG_OVERRIDE: u8 = 0x20;
const OPT_TARGET_LLADDR: u8 = 2;
/// `ICMP6_FILTER` from `<netinet/icmp6.h>` (not in the libc crate).
const ICMP6_FILTER: libc::c_int = 1;
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// A raw ICMPv6 socket that sends from the VIP with hop limit 255 (receivers
/// drop ND packets with any other, RFC 4861 §7.1.2). The kernel fills in
/// the ICMPv6 checksum.
pub(crate) struct NaSocket {
    fd: OwnedFd,
    ifindex: u32,
    vip: Ipv6Addr,
    mac: [u8; 6],
}

impl NaSocket {
    /// Opens the socket, or `Ok(None)` when the link has no Ethernet framing.
    pub(crate) fn open(ifindex: u32, vip: Ipv6Addr) -> Result<Option<NaSocket>, NetlinkError> {
        let err = |e| na_error(ifindex, vip, e);
        let link = PacketSocket::open(ifindex).map_err(err)?;
        if !link.is_ethernet() {
            return Ok(None);
        }
        // SAFETY: plain socket(2); checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_INET6,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::IPPROTO_ICMPV6,
            )
        };
        if raw < 0 {
            return Err(err(io::Error::last_os_error()));
        }
        // SAFETY: raw is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let hops: libc::c_int = 255;
        let index = ifindex as libc::c_int;
        setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, &hops).map_err(err)?;
        setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &hops).map_err(err)?;
        setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF, &index).map_err(err)?;
        // Send-only: block every incoming ICMPv6 type.
        setsockopt(&fd, libc::IPPROTO_ICMPV6, ICMP6_FILTER, &[u32::MAX; 8]).map_err(err)?;
        // Source = the VIP itself (added without DAD, so usable at once).
        let src = sockaddr_in6(vip, ifindex);
        // SAFETY: src is a valid sockaddr_in6.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const src).cast(),
                size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(err(io::Error::last_os_error()));
        }
        Ok(Some(NaSocket {
            fd,
            ifindex,
            vip,
            mac: link.mac,
        }))
    }

    pub(crate) fn send(&self) -> Result<(), NetlinkError> {
        let msg = na_message(self.mac, self.vip);
        let to = sockaddr_in6(ALL_NODES, self.ifindex);
        // SAFETY: msg and to are valid for the lengths given.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&raw const to).cast(),
                size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(na_error(self.ifindex, self.vip, io::Error::last_os_error()));
        }
        Ok(())
    }
}

fn setsockopt<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: v points to a live T of the size given.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (v as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Link-local addresses need the interface as scope; others ignore it.
fn sockaddr_in6(addr: Ipv6Addr, ifindex: u32) -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain data; all-zero is a valid value.
    let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sa.sin6_family = libc::AF_INET6 as u16;
    sa.sin6_addr.s6_addr = addr.octets();
    if addr.is_unicast_link_local() || addr.is_multicast() {
        sa.sin6_scope_id = ifindex;
    }
    sa
}

fn na_error(ifindex: u32, vip: Ipv6Addr, e: io::Error) -> NetlinkError {
    NetlinkError::kernel(Op::UnsolicitedNa, vip, format!("ifindex {ifindex}"), e)
}

/// Sends one unsolicited NA for `vip` (which must be on `ifindex`) to
/// ff02::1. Returns [`Sent::NotEthernet`] on `lo` and other links without
/// Ethernet framing.
pub fn send_unsolicited_na(ifindex: u32, vip: Ipv6Addr) -> Result<Sent, NetlinkError> {
    match NaSocket::open(ifindex, vip)? {
        Some(s) => s.send().map(|()| Sent::Sent),
        None => Ok(Sent::NotEthernet),
    }
}

/// The ICMPv6 message, checksum left zero for the kernel. Router flag set:
/// a VIP is a router's address (RFC 9568 §6.4.1); Solicited clear;
/// Override set.
pub fn na_message(mac: [u8; 6], vip: Ipv6Addr) -> [u8; NA_LEN] {
    let mut m = [0u8; NA_LEN];
    m[0] = ND_NEIGHBOR_ADVERT;
    m[4] = FLAG_ROUTER | FLAG_OVERRIDE;
    m[8..24].copy_from_slice(&vip.octets());
    m[24] = OPT_TARGET_LLADDR;
    m[25] = 1; // option length in units of 8 bytes
    m[26..32].copy_from_slice(&mac);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn na_layout() {
        let vip: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let m = na_message([2, 0, 0, 0, 0, 9], vip);
        assert_eq!(&m[..8], &[136, 0, 0, 0, 0xa0, 0, 0, 0]);
        assert_eq!(&m[8..24], &vip.octets());
        assert_eq!(&m[24..], &[2, 1, 2, 0, 0, 0, 0, 9]);
    }
}

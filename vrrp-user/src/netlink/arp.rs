//! Gratuitous ARP: tells a broadcast link that an IPv4 VIP now lives at this
//! router's MAC, so hosts and switches update at once instead of timing out.

use std::io;
use std::mem::size_of;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::{NetlinkError, Op, Sent};

const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IP: u16 = 0x0800;
pub(crate) const ARPHRD_ETHER: u16 = 1;
const BROADCAST: [u8; 6] = [0xff; 6];

/// Length of an Ethernet header plus an IPv4-over-Ethernet ARP packet.
pub const GARP_LEN: usize = 42;

/// Which ARP packet carries the announcement. Requests are what most hosts
/// and switches act on; replies suit peers that ignore gratuitous requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpOp {
    Request = 1,
    Reply = 2,
}

/// A send-only AF_PACKET socket bound to one interface (protocol 0: it
/// receives nothing, so no queue builds up).
pub(crate) struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
    /// `ARPHRD_*` link type and hardware address of the interface.
    pub(crate) hatype: u16,
    pub(crate) mac: [u8; 6],
}

impl PacketSocket {
    pub(crate) fn open(ifindex: u32) -> io::Result<PacketSocket> {
        // SAFETY: plain socket(2); the result is checked before use.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut sll = sockaddr_ll(ifindex, 0);
        let mut len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: sll is a valid sockaddr_ll of the length given.
        let r = unsafe { libc::bind(fd.as_raw_fd(), (&raw const sll).cast(), len) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        // The bound address reports the interface's link type and MAC: no
        // interface name or ioctl needed.
        // SAFETY: sll has room for len bytes; the kernel writes at most that.
        let r = unsafe { libc::getsockname(fd.as_raw_fd(), (&raw mut sll).cast(), &mut len) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&sll.sll_addr[..6]);
        Ok(PacketSocket {
            fd,
            ifindex,
            hatype: sll.sll_hatype,
            mac,
        })
    }

    pub(crate) fn is_ethernet(&self) -> bool {
        self.hatype == ARPHRD_ETHER
    }

    fn send(&self, frame: &[u8], ethertype: u16) -> io::Result<()> {
        let mut to = sockaddr_ll(self.ifindex, ethertype);
        to.sll_halen = 6;
        to.sll_addr[..6].copy_from_slice(&BROADCAST);
        // SAFETY: frame and to are valid for the lengths given.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&raw const to).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

fn sockaddr_ll(ifindex: u32, ethertype: u16) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ethertype.to_be();
    sll.sll_ifindex = ifindex as i32;
    sll
}

/// Sends one gratuitous ARP for `vip` out of `ifindex`, from its MAC.
/// Returns [`Sent::NotEthernet`] (and sends nothing) on `lo` and other
/// links without Ethernet framing.
pub fn send_garp(ifindex: u32, vip: Ipv4Addr, op: ArpOp) -> Result<Sent, NetlinkError> {
    let sock = PacketSocket::open(ifindex).map_err(|e| garp_error(ifindex, vip, e))?;
    garp_on(&sock, vip, op)
}

pub(crate) fn garp_on(sock: &PacketSocket, vip: Ipv4Addr, op: ArpOp) -> Result<Sent, NetlinkError> {
    if !sock.is_ethernet() {
        return Ok(Sent::NotEthernet);
    }
    sock.send(&garp_frame(sock.mac, vip, op), ETH_P_ARP)
        .map_err(|e| garp_error(sock.ifindex, vip, e))?;
    Ok(Sent::Sent)
}

fn garp_error(ifindex: u32, vip: Ipv4Addr, e: io::Error) -> NetlinkError {
    NetlinkError::kernel(Op::Garp, vip, format!("ifindex {ifindex}"), e)
}

/// The broadcast frame: sender and target protocol address are both the
/// VIP (RFC 5944 §4.6); a reply also names our MAC as target hardware
/// address, a request leaves it zero (RFC 5227).
pub fn garp_frame(mac: [u8; 6], vip: Ipv4Addr, op: ArpOp) -> [u8; GARP_LEN] {
    let mut f = [0u8; GARP_LEN];
    f[0..6].copy_from_slice(&BROADCAST);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
    f[14..16].copy_from_slice(&ARPHRD_ETHER.to_be_bytes());
    f[16..18].copy_from_slice(&ETH_P_IP.to_be_bytes());
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&(op as u16).to_be_bytes());
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&vip.octets());
    if op == ArpOp::Reply {
        f[32..38].copy_from_slice(&mac);
    }
    f[38..42].copy_from_slice(&vip.octets());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_frame_layout() {
        let mac = [2, 0, 0, 0, 0, 1];
        let f = garp_frame(mac, Ipv4Addr::new(10, 1, 255, 1), ArpOp::Request);
        let expect: [u8; GARP_LEN] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06, // Ethernet
            0, 1, 0x08, 0x00, 6, 4, 0, 1, // htype, ptype, hlen, plen, op
            2, 0, 0, 0, 0, 1, 10, 1, 255, 1, // sender
            0, 0, 0, 0, 0, 0, 10, 1, 255, 1, // target
        ];
        assert_eq!(f, expect);
    }

    #[test]
    fn reply_names_our_mac_as_target() {
        let mac = [2, 0, 0, 0, 0, 1];
        let f = garp_frame(mac, Ipv4Addr::new(192, 0, 2, 7), ArpOp::Reply);
        assert_eq!(&f[20..22], &[0, 2]);
        assert_eq!(&f[32..38], &mac);
        assert_eq!(&f[38..42], &[192, 0, 2, 7]);
    }
}

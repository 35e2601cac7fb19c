//! Sending hand-made IPv4 packets (any source, TTL, header) from inside a namespace.

use std::{
    io,
    mem::size_of,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

/// A raw IPPROTO_RAW socket: the caller supplies the whole IPv4 header.
pub struct RawSender {
    fd: i32,
}

impl RawSender {
    /// Must be called on a thread inside the sending namespace.
    pub fn new() -> io::Result<RawSender> {
        // SAFETY: plain socket(2); checked below.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RawSender { fd })
    }

    /// Sends one IPv4 packet to the destination in its own header.
    pub fn send(&self, ip: &[u8]) -> io::Result<()> {
        let dst = [ip[16], ip[17], ip[18], ip[19]];
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as u16,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes(dst),
            },
            sin_zero: [0; 8],
        };
        send_to(self.fd, ip, &addr)
    }
}

/// sendto(2) of `buf` to the socket address `addr` (a `libc::sockaddr_*`).
fn send_to<A>(fd: i32, buf: &[u8], addr: &A) -> io::Result<()> {
    // SAFETY: valid buffer and sockaddr for the duration of the call.
    let n = unsafe {
        libc::sendto(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            0,
            (addr as *const A).cast(),
            size_of::<A>() as u32,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Drop for RawSender {
    fn drop(&mut self) {
        // SAFETY: fd is owned by self.
        unsafe { libc::close(self.fd) };
    }
}

/// An AF_PACKET socket: sends whole Ethernet frames exactly as given, for what an
/// IPPROTO_RAW socket would repair (it always fills in the IPv4 header checksum).
pub struct FrameSender {
    fd: OwnedFd,
    ifindex: u32,
}

impl FrameSender {
    /// Sends out of interface `ifindex`; must be called inside its namespace.
    pub fn new(ifindex: u32) -> io::Result<FrameSender> {
        // SAFETY: plain socket(2); checked below. Protocol 0: send only.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(FrameSender { fd, ifindex })
    }

    /// Sends one frame (destination MAC in its first six bytes).
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: all-zero is a valid sockaddr_ll; the fields that matter are set below.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = self.ifindex as i32;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&frame[..6]);
        send_to(self.fd.as_raw_fd(), frame, &sll)
    }
}

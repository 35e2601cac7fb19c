//! Sending hand-made IPv4 packets (any source, TTL, header) from inside a namespace.

use std::{io, mem::size_of};

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
        // SAFETY: valid buffer and sockaddr for the duration of the call.
        let n = unsafe {
            libc::sendto(
                self.fd,
                ip.as_ptr().cast(),
                ip.len(),
                0,
                (&addr as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as u32,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for RawSender {
    fn drop(&mut self) {
        // SAFETY: fd is owned by self.
        unsafe { libc::close(self.fd) };
    }
}

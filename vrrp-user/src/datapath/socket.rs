//! The socket datapath: a raw IPPROTO 112 socket, kernel receive timestamps, and the
//! validator the XDP program runs too (`vrrp_common::validate`, through `validate`).
//! For hosts where XDP cannot load, and the baseline the XDP path is measured against.
//!
//! Differences from XDP, inherent to where a raw socket sits in the stack: the kernel
//! has already reassembled fragments and dropped packets with a bad IP header
//! checksum (the validator checks it again, finding nothing), and the receive time is
//! taken by the stack (SO_TIMESTAMPNS) rather than at the driver hook.

use crate::sys::setsockopt;
use std::{
    io,
    mem::{size_of, zeroed},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use tokio::io::unix::AsyncFd;
use vrrp_common::{AdvertRecord, IPPROTO_VRRP, VRID_F_MULTICAST, VRRP_MCAST_V4};

use super::{
    Counters, DatapathConfig, DatapathError, clock_ns,
    follow::SharedFollow,
    monotonic_ns, register_readable,
    table::Table,
    validate::{Verdict, validate_ip},
};

pub struct SocketDatapath {
    fd: AsyncFd<OwnedFd>,
    table: Table,
    counters: Counters,
    joined: Vec<u32>,
    /// The follow filter, shared with the controller's table.
    pub(crate) follow: SharedFollow,
}

impl SocketDatapath {
    pub fn start(config: &DatapathConfig) -> Result<Self, DatapathError> {
        // SAFETY: plain socket(2) call; the result is checked.
        let raw = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                i32::from(IPPROTO_VRRP),
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error().into());
        }
        // SAFETY: raw is a fresh, owned descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        setsockopt_int(&fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
        setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
        setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, 1 << 20)?;
        let mut dp = SocketDatapath {
            fd: register_readable(fd)?,
            table: Table::default(),
            counters: Counters::default(),
            joined: Vec::new(),
            follow: SharedFollow::default(),
        };
        dp.update(config)?;
        Ok(dp)
    }

    pub fn update(&mut self, config: &DatapathConfig) -> Result<(), DatapathError> {
        self.table = Table::new(config);
        // Join 224.0.0.18 on interfaces with a multicast VRID, so the stack delivers it.
        for e in config
            .entries
            .iter()
            .filter(|e| e.config.flags & VRID_F_MULTICAST != 0)
        {
            if !self.joined.contains(&e.ifindex) {
                let mreq = libc::ip_mreqn {
                    imr_multiaddr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(VRRP_MCAST_V4),
                    },
                    imr_address: libc::in_addr { s_addr: 0 },
                    imr_ifindex: e.ifindex as i32,
                };
                setsockopt(
                    self.fd.get_ref(),
                    libc::IPPROTO_IP,
                    libc::IP_ADD_MEMBERSHIP,
                    &mreq,
                )?;
                self.joined.push(e.ifindex);
            }
        }
        Ok(())
    }

    pub fn counters(&self) -> Counters {
        self.counters.clone()
    }

    /// Waits for at least one record: a valid advert the follow filter reports, or a
    /// followed master's silence. Every packet read is validated and counted.
    pub async fn recv(&mut self, out: &mut Vec<AdvertRecord>) -> io::Result<()> {
        let before = out.len();
        loop {
            let silence = self.follow.with(|f| f.next_silence());
            let wait = silence.map(|at| {
                tokio::time::Instant::now()
                    + std::time::Duration::from_nanos(at.saturating_sub(monotonic_ns()))
            });
            let mut guard = tokio::select! {
                guard = self.fd.readable() => guard?,
                () = sleep_until_some(wait) => {
                    self.follow.with(|f| f.silences(monotonic_ns(), out));
                    if out.len() > before {
                        return Ok(());
                    }
                    continue;
                }
            };
            loop {
                match recv_one(guard.get_inner())? {
                    Some(pkt) => {
                        let rx_ns = pkt.rx_mono_ns();
                        let verdict =
                            validate_ip(&pkt.data[..pkt.len], pkt.ifindex, rx_ns, &self.table);
                        if let Some(c) = verdict.counter() {
                            *self.counters.0.entry(c).or_insert(0) += 1;
                        }
                        if let Verdict::Accept(rec) = verdict
                            && let Some(rec) = self.follow.with(|f| f.filter(rec))
                        {
                            out.push(rec);
                        }
                    }
                    None => {
                        guard.clear_ready();
                        break;
                    }
                }
            }
            if out.len() > before {
                return Ok(());
            }
        }
    }
}

/// Sleeps until `at`, or forever.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// One packet read from the raw socket.
struct RawPacket {
    data: [u8; 2048],
    len: usize,
    ifindex: u32,
    rx_real_ns: Option<u64>,
}

impl RawPacket {
    /// The stack stamps CLOCK_REALTIME; the controller runs on CLOCK_MONOTONIC. The
    /// offset between the two is read now, microseconds after the stamp.
    fn rx_mono_ns(&self) -> u64 {
        let mono = clock_ns(libc::CLOCK_MONOTONIC);
        match self.rx_real_ns {
            Some(rx_real) => {
                let real = clock_ns(libc::CLOCK_REALTIME);
                let age = real.saturating_sub(rx_real);
                mono.saturating_sub(age)
            }
            None => mono,
        }
    }
}

fn recv_one(fd: &OwnedFd) -> io::Result<Option<RawPacket>> {
    let mut pkt = RawPacket {
        data: [0; 2048],
        len: 0,
        ifindex: 0,
        rx_real_ns: None,
    };
    let mut cmsg_buf = [0u64; 64];
    let mut iov = libc::iovec {
        iov_base: pkt.data.as_mut_ptr().cast(),
        iov_len: pkt.data.len(),
    };
    // SAFETY: zeroed msghdr is valid; pointers below outlive the call.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg_buf.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 64]>();
    // SAFETY: fd is a valid socket; msg is fully initialised.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        let err = io::Error::last_os_error();
        return match err.kind() {
            io::ErrorKind::WouldBlock => Ok(None),
            io::ErrorKind::Interrupted => recv_one(fd),
            _ => Err(err),
        };
    }
    pkt.len = n as usize;
    // SAFETY: walking the control messages the kernel just wrote, with libc's macros.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let c = &*cmsg;
            if c.cmsg_level == libc::IPPROTO_IP && c.cmsg_type == libc::IP_PKTINFO {
                let info: libc::in_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                pkt.ifindex = info.ipi_ifindex as u32;
            } else if c.cmsg_level == libc::SOL_SOCKET && c.cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                pkt.rx_real_ns = Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok(Some(pkt))
}

fn setsockopt_int(fd: &OwnedFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    setsockopt(fd, level, name, &value)
}

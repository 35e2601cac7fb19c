//! The socket datapath: raw IPPROTO 112 sockets (one IPv4, one IPv6 once an IPv6 VRID
//! is configured), kernel receive timestamps, and the validator the XDP program runs
//! too (`vrrp_common::validate`, through `validate`). For hosts where XDP cannot load,
//! and the baseline the XDP path is measured against.
//!
//! Differences from XDP, inherent to where a raw socket sits in the stack: the kernel
//! has already reassembled fragments, walked IPv6 extension headers and dropped
//! packets with a bad IPv4 header checksum, and the receive time is taken by the stack
//! (SO_TIMESTAMPNS) rather than at the driver hook. An IPv6 raw socket delivers the
//! VRRP message without the IPv6 header: source, destination, hop limit and interface
//! come from the ancillary data (`IPV6_RECVPKTINFO`, `IPV6_RECVHOPLIMIT`).

use crate::sys::setsockopt;
use std::{
    io,
    mem::{size_of, zeroed},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use bytemuck::Zeroable;
use tokio::io::unix::AsyncFd;
use vrrp_common::{
    IPPROTO_VRRP, Record, VRID_F_MULTICAST, VRRP_MCAST_V4, VRRP_MCAST_V6, validate::Scratch6,
};

use super::{
    Counters, DatapathConfig, DatapathError, clock_ns,
    follow::SharedFollow,
    monotonic_ns, register_readable,
    table::Table,
    validate::{Ipv6Meta, Verdict, validate_ip, validate_ipv6},
};

pub struct SocketDatapath {
    fd: AsyncFd<OwnedFd>,
    /// Opened with the first IPv6 VRID, so a host without IPv6 runs IPv4 as before.
    fd6: Option<AsyncFd<OwnedFd>>,
    joined: Vec<u32>,
    joined6: Vec<u32>,
    reader: Reader,
    /// The follow filter, shared with the controller's table.
    pub(crate) follow: SharedFollow,
}

/// What turns a packet read into a counted verdict and maybe a record.
struct Reader {
    table: Table,
    counters: Counters,
    /// The IPv6 validator's working memory.
    scratch6: Box<Scratch6>,
    follow: SharedFollow,
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
        let follow = SharedFollow::default();
        let mut dp = SocketDatapath {
            fd: register_readable(fd)?,
            fd6: None,
            joined: Vec::new(),
            joined6: Vec::new(),
            reader: Reader {
                table: Table::default(),
                counters: Counters::default(),
                scratch6: Box::new(Scratch6::zeroed()),
                follow: follow.clone(),
            },
            follow,
        };
        dp.update(config)?;
        Ok(dp)
    }

    pub fn update(&mut self, config: &DatapathConfig) -> Result<(), DatapathError> {
        self.reader.table = Table::new(config);
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
        if !config.entries6.is_empty() && self.fd6.is_none() {
            self.fd6 = Some(register_readable(open_ipv6()?)?);
        }
        // Join ff02::12 where an IPv6 VRID runs in multicast mode.
        if let Some(fd6) = &self.fd6 {
            for e in config
                .entries6
                .iter()
                .filter(|e| e.config.flags & VRID_F_MULTICAST != 0)
            {
                if !self.joined6.contains(&e.ifindex) {
                    let mreq = libc::ipv6_mreq {
                        ipv6mr_multiaddr: libc::in6_addr {
                            s6_addr: VRRP_MCAST_V6,
                        },
                        ipv6mr_interface: e.ifindex,
                    };
                    setsockopt(
                        fd6.get_ref(),
                        libc::IPPROTO_IPV6,
                        libc::IPV6_ADD_MEMBERSHIP,
                        &mreq,
                    )?;
                    self.joined6.push(e.ifindex);
                }
            }
        }
        Ok(())
    }

    pub fn counters(&self) -> Counters {
        self.reader.counters.clone()
    }

    /// Waits for at least one record: a valid advert the follow filter reports, or a
    /// followed master's silence. Every packet read is validated and counted.
    pub async fn recv(&mut self, out: &mut Vec<Record>) -> io::Result<()> {
        let before = out.len();
        loop {
            let silence = self.follow.with(|f| f.next_silence());
            let wait = silence.map(|at| {
                tokio::time::Instant::now()
                    + std::time::Duration::from_nanos(at.saturating_sub(monotonic_ns()))
            });
            tokio::select! {
                guard = self.fd.readable() => {
                    let mut guard = guard?;
                    drain(guard.get_inner(), false, &mut self.reader, out)?;
                    guard.clear_ready();
                }
                guard = readable_some(self.fd6.as_ref()) => {
                    let mut guard = guard?;
                    drain(guard.get_inner(), true, &mut self.reader, out)?;
                    guard.clear_ready();
                }
                () = sleep_until_some(wait) => {
                    self.follow.with(|f| f.silences(monotonic_ns(), out));
                    if out.len() > before {
                        return Ok(());
                    }
                    continue;
                }
            }
            if out.len() > before {
                return Ok(());
            }
        }
    }
}

/// Reads, validates and counts every packet waiting on one socket.
fn drain(fd: &OwnedFd, v6: bool, r: &mut Reader, out: &mut Vec<Record>) -> io::Result<()> {
    while let Some(pkt) = recv_one(fd, v6)? {
        let rx_ns = pkt.rx_mono_ns();
        let data = &pkt.data[..pkt.len];
        let verdict = match &pkt.v6 {
            Some(meta) => validate_ipv6(data, meta, rx_ns, &r.table, &mut r.scratch6),
            None => validate_ip(data, pkt.ifindex, rx_ns, &r.table),
        };
        if let Some(c) = verdict.counter() {
            *r.counters.0.entry(c).or_insert(0) += 1;
        }
        if let Verdict::Accept(rec) = verdict
            && let Some(rec) = r.follow.with(|f| f.filter(rec))
        {
            out.push(rec);
        }
    }
    Ok(())
}

/// Waits until `fd` is readable, or forever without one.
async fn readable_some(
    fd: Option<&AsyncFd<OwnedFd>>,
) -> io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, OwnedFd>> {
    match fd {
        Some(fd) => fd.readable().await,
        None => std::future::pending().await,
    }
}

/// The IPv6 receive socket: raw IPPROTO 112, with the header fields the validator
/// needs as ancillary data.
fn open_ipv6() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked.
    let raw = unsafe {
        libc::socket(
            libc::AF_INET6,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            i32::from(IPPROTO_VRRP),
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: raw is a fresh, owned descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    setsockopt_int(&fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
    setsockopt_int(&fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)?;
    setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
    setsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, 1 << 20)?;
    Ok(fd)
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
    /// From an IPv6 socket: the header fields the stack kept.
    v6: Option<Ipv6Meta>,
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

fn recv_one(fd: &OwnedFd, v6: bool) -> io::Result<Option<RawPacket>> {
    let mut pkt = RawPacket {
        data: [0; 2048],
        len: 0,
        ifindex: 0,
        rx_real_ns: None,
        v6: None,
    };
    let mut cmsg_buf = [0u64; 64];
    let mut iov = libc::iovec {
        iov_base: pkt.data.as_mut_ptr().cast(),
        iov_len: pkt.data.len(),
    };
    // SAFETY: an all-zero sockaddr_in6 is valid.
    let mut from: libc::sockaddr_in6 = unsafe { zeroed() };
    // SAFETY: zeroed msghdr is valid; pointers below outlive the call.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg_buf.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 64]>();
    if v6 {
        msg.msg_name = (&raw mut from).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_in6>() as u32;
    }
    // SAFETY: fd is a valid socket; msg is fully initialised.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        let err = io::Error::last_os_error();
        return match err.kind() {
            io::ErrorKind::WouldBlock => Ok(None),
            io::ErrorKind::Interrupted => recv_one(fd, v6),
            _ => Err(err),
        };
    }
    pkt.len = n as usize;
    let mut meta = Ipv6Meta {
        src: from.sin6_addr.s6_addr,
        dst: [0; 16],
        hop_limit: 0,
        ifindex: 0,
    };
    // SAFETY: walking the control messages the kernel just wrote, with libc's macros.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let c = &*cmsg;
            let data = libc::CMSG_DATA(cmsg);
            match (c.cmsg_level, c.cmsg_type) {
                (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                    let info: libc::in_pktinfo = std::ptr::read_unaligned(data.cast());
                    pkt.ifindex = info.ipi_ifindex as u32;
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                    let info: libc::in6_pktinfo = std::ptr::read_unaligned(data.cast());
                    meta.dst = info.ipi6_addr.s6_addr;
                    meta.ifindex = info.ipi6_ifindex;
                    pkt.ifindex = info.ipi6_ifindex;
                }
                (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                    let hops: i32 = std::ptr::read_unaligned(data.cast());
                    meta.hop_limit = hops.clamp(0, 255) as u8;
                }
                (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                    let ts: libc::timespec = std::ptr::read_unaligned(data.cast());
                    pkt.rx_real_ns = Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
                }
                _ => {}
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if v6 {
        pkt.v6 = Some(meta);
    }
    Ok(Some(pkt))
}

fn setsockopt_int(fd: &OwnedFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    setsockopt(fd, level, name, &value)
}

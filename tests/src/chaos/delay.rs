//! Delay of VRRP between the nodes without netem (this kernel has no
//! `sch_netem`, and the Debian packages cannot add it): the router drops the
//! adverts it would forward one way (an nftables rule in the lab's forward chain)
//! and a delay line re-sends each one `delay` later. The line reads the adverts
//! with an AF_PACKET socket on the router's interface towards the sender (packet
//! taps run before the forward hook), holds them, and writes them out again with an
//! IPPROTO_RAW socket, TTL decremented as forwarding would.

use std::{
    collections::VecDeque,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use anyhow::{Context, Result, bail};

use crate::{
    lab::{Lab, Node, monotonic_ns, nft, spawn_in},
    send::RawSender,
};

/// `PACKET_OUTGOING`: a copy of what the host itself sends (not re-sent).
const PACKET_OUTGOING: u8 = 4;

/// One direction's delay line. Stops on drop; the drop rule goes with `Lab::heal`.
pub struct DelayLine {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<Result<u64>>>>,
}

impl DelayLine {
    /// Delays VRRP from `from` to the other node by `delay`.
    pub fn start(lab: &Lab, from: Node, delay: Duration) -> Result<DelayLine> {
        let to = from.other();
        let ifindex = lab.router.ifindex(from.router_dev())?;
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let (src, dst) = (from.addr().octets(), to.addr().octets());
        let (tx_ready, rx_ready) = std::sync::mpsc::channel();
        let handle = spawn_in(&lab.router, move || -> Result<u64> {
            let opened = open_tap(ifindex).and_then(|rx| Ok((rx, RawSender::new()?)));
            let (rx, tx) = match opened {
                Ok(pair) => {
                    let _ = tx_ready.send(Ok(()));
                    pair
                }
                Err(e) => {
                    let _ = tx_ready.send(Err(e.to_string()));
                    bail!("delay line: {e}");
                }
            };
            let mut queue: VecDeque<(u64, Vec<u8>)> = VecDeque::new();
            let mut buf = vec![0u8; 2048];
            let mut sent = 0u64;
            while !s.load(Ordering::Relaxed) {
                if let Some((len, pkttype)) = recv(&rx, &mut buf)? {
                    let p = &buf[..len];
                    if pkttype != PACKET_OUTGOING
                        && len >= 20
                        && p[9] == 112
                        && p[12..16] == src
                        && p[16..20] == dst
                        && p[8] > 1
                    {
                        let mut copy = p.to_vec();
                        copy[8] -= 1;
                        queue.push_back((monotonic_ns() + delay.as_nanos() as u64, copy));
                    }
                }
                let now = monotonic_ns();
                while queue.front().is_some_and(|(due, _)| *due <= now) {
                    let (_, pkt) = queue.pop_front().expect("front");
                    if tx.send(&pkt).is_ok() {
                        sent += 1;
                    }
                }
            }
            Ok(sent)
        })?;
        match rx_ready.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => bail!("delay line did not start: {e}"),
            Err(_) => bail!("delay line thread died before starting"),
        }
        nft(
            &lab.router,
            &format!(
                "add rule inet lab forward ip saddr {} ip daddr {} meta l4proto 112 drop\n",
                from.addr(),
                to.addr()
            ),
        )?;
        Ok(DelayLine {
            stop,
            handle: Some(handle),
        })
    }

    /// Stops the line; how many adverts it re-sent.
    pub fn stop(mut self) -> Result<u64> {
        self.stop_thread()
    }

    fn stop_thread(&mut self) -> Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take() {
            Some(h) => h
                .join()
                .map_err(|_| anyhow::anyhow!("delay line panicked"))??,
            None => Ok(0),
        }
    }
}

impl Drop for DelayLine {
    fn drop(&mut self) {
        let _ = self.stop_thread();
    }
}

/// An AF_PACKET datagram socket for IPv4 on one interface, with a 1 ms receive
/// timeout (the line's clock).
fn open_tap(ifindex: u32) -> Result<OwnedFd> {
    let proto = (libc::ETH_P_IP as u16).to_be();
    // SAFETY: plain socket(2); checked below.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM, i32::from(proto)) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("AF_PACKET socket");
    }
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: all-zero is a valid sockaddr_ll; the fields that matter are set below.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: bind(2) with a sockaddr_ll that lives for the call.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).context("binding the AF_PACKET socket");
    }
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 1000,
    };
    // SAFETY: setsockopt(2) with a timeval that lives for the call.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).context("SO_RCVTIMEO");
    }
    Ok(fd)
}

/// One packet (length, packet type), or None on timeout.
fn recv(fd: &OwnedFd, buf: &mut [u8]) -> Result<Option<(usize, u8)>> {
    // SAFETY: all-zero is a valid sockaddr_ll for recvfrom to fill in.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
    // SAFETY: recvfrom(2) into buffers that live for the call.
    let n = unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            0,
            (&mut sll as *mut libc::sockaddr_ll).cast(),
            &mut len,
        )
    };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        return match e.kind() {
            std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted => Ok(None),
            _ => Err(e).context("AF_PACKET recv"),
        };
    }
    Ok(Some((n as usize, sll.sll_pkttype)))
}

//! Watching adverts on the wire: an AF_PACKET socket in the switch namespace between
//! the two nodes, with kernel receive timestamps (SO_TIMESTAMPNS, CLOCK_REALTIME).
//!
//! The observer sits outside both nodes, so it sees the same thing whichever daemon
//! runs there: vrrpd's XDP program drops adverts before a packet socket on the node
//! could see them, and keepalived has no timestamps to report. Each frame is taken
//! once, at the switch port it enters by (outgoing copies are skipped).

use std::{
    mem::{size_of, zeroed},
    net::Ipv4Addr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
};

use anyhow::{Context, Result, bail};

use super::topo::spawn_in_ns;

/// One VRRP advert seen on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Kernel receive time at the switch port, CLOCK_REALTIME nanoseconds.
    pub ts_ns: i64,
    pub src: Ipv4Addr,
    pub vrid: u8,
    pub priority: u8,
}

/// A running capture; stops (and joins its thread) on drop.
pub struct Capture {
    frames: Arc<Mutex<Vec<Frame>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl Capture {
    /// Captures VRRP frames entering namespace `ns` through any of `ports`.
    pub fn start(ns: &str, ports: &[&str]) -> Result<Capture> {
        let frames = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let ports: Vec<String> = ports.iter().map(|p| p.to_string()).collect();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = {
            let frames = frames.clone();
            let stop = stop.clone();
            spawn_in_ns(ns, move || capture_loop(&ports, &frames, &stop, ready_tx))?
        };
        // Wait until the socket is open, so nothing sent after `start` is missed.
        match ready_rx.recv_timeout(std::time::Duration::from_secs(5)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => bail!("capture in {ns}: {e}"),
            Err(_) => bail!("capture in {ns} did not start"),
        }
        Ok(Capture {
            frames,
            stop,
            thread: Some(thread),
        })
    }

    /// A copy of every frame captured since the last `clear`.
    pub fn frames(&self) -> Vec<Frame> {
        self.frames.lock().expect("capture lock").clone()
    }

    /// Forgets what was captured so far.
    pub fn clear(&self) {
        self.frames.lock().expect("capture lock").clear();
    }

    /// The latest frame, if any.
    pub fn last(&self) -> Option<Frame> {
        self.frames.lock().expect("capture lock").last().copied()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Owned file descriptor, closed on drop.
struct Fd(i32);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

fn setsockopt<T>(fd: i32, level: i32, name: i32, value: &T) -> Result<()> {
    // SAFETY: `value` is a valid T for the duration of the call.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if r != 0 {
        bail!(
            "setsockopt({level}, {name}): {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

fn open(ports: &[String]) -> Result<(Fd, Vec<i32>)> {
    // ETH_P_ALL: protocol-specific taps run after the bridge has consumed the frame,
    // so only an all-protocol socket sees frames entering a bridge port.
    let proto = (libc::ETH_P_ALL as u16).to_be() as i32;
    // SAFETY: plain socket(2); checked below.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, proto) };
    if fd < 0 {
        bail!("AF_PACKET socket: {}", std::io::Error::last_os_error());
    }
    let fd = Fd(fd);
    setsockopt(fd.0, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, &1i32)?;
    setsockopt(fd.0, libc::SOL_SOCKET, libc::SO_RCVBUF, &(4i32 << 20))?;
    // Wake up every 50 ms to notice `stop`.
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 50_000,
    };
    setsockopt(fd.0, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
    let mut idx = Vec::new();
    for p in ports {
        let name = std::ffi::CString::new(p.as_str())?;
        // SAFETY: valid C string; the lookup runs in this thread's namespace.
        let i = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if i == 0 {
            bail!("no interface {p}");
        }
        idx.push(i as i32);
    }
    Ok((fd, idx))
}

fn capture_loop(
    ports: &[String],
    frames: &Mutex<Vec<Frame>>,
    stop: &AtomicBool,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
) -> Result<()> {
    let (fd, ifindexes) = match open(ports) {
        Ok(x) => {
            let _ = ready.send(Ok(()));
            x
        }
        Err(e) => {
            let _ = ready.send(Err(format!("{e:#}")));
            return Err(e);
        }
    };
    let mut buf = [0u8; 2048];
    let mut cbuf = [0u64; 16];
    while !stop.load(Ordering::SeqCst) {
        // SAFETY: zeroed sockaddr_ll / msghdr are valid initial values.
        let mut addr: libc::sockaddr_ll = unsafe { zeroed() };
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&mut addr as *mut libc::sockaddr_ll).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_ll>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; 16]>();
        // SAFETY: every pointer in `msg` is valid for the call.
        let n = unsafe { libc::recvmsg(fd.0, &mut msg, 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => continue,
                _ => return Err(e).context("recvmsg on the capture socket"),
            }
        }
        if addr.sll_pkttype == libc::PACKET_OUTGOING || !ifindexes.contains(&addr.sll_ifindex) {
            continue;
        }
        let Some(ts_ns) = timestamp(&msg) else {
            continue;
        };
        if let Some(f) = parse(&buf[..n as usize], ts_ns) {
            frames.lock().expect("capture lock").push(f);
        }
    }
    Ok(())
}

/// The SCM_TIMESTAMPNS control message, if present.
fn timestamp(msg: &libc::msghdr) -> Option<i64> {
    // SAFETY: CMSG_* walk the control buffer the kernel filled in, within its length.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                return Some(ts.tv_sec * 1_000_000_000 + ts.tv_nsec);
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    None
}

/// An Ethernet frame carrying IPv4 protocol 112, reduced to what the bench needs.
fn parse(f: &[u8], ts_ns: i64) -> Option<Frame> {
    if f.len() < 14 + 20 + 8 || f[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &f[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    if ip[0] >> 4 != 4 || ip[9] != 112 || ip.len() < ihl + 8 {
        return None;
    }
    let vrrp = &ip[ihl..];
    Some(Frame {
        ts_ns,
        src: Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
        vrid: vrrp[1],
        priority: vrrp[2],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::FrameSpec;

    #[test]
    fn parses_an_advert() {
        let spec = FrameSpec {
            priority: 77,
            vrid: 9,
            ..Default::default()
        };
        let f = parse(&spec.frame(), 5).unwrap();
        assert_eq!(f.src, Ipv4Addr::new(10, 1, 2, 10));
        assert_eq!((f.vrid, f.priority, f.ts_ns), (9, 77, 5));
        assert!(parse(&crate::frames::udp_frame(), 0).is_none());
    }
}

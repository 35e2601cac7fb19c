//! What a client sees: a UDP probe every millisecond from the client namespace to the
//! VIP, answered by a responder on each node with the node's name.
//!
//! Probe: 8-byte big-endian sequence number. Reply: one letter ('A'/'B') then the
//! sequence number. Both ends timestamp with CLOCK_MONOTONIC, so the outage (first
//! lost probe to first answered probe after the change) and who served every probe
//! are known exactly. Replies leave the node from its own address, not the VIP; the
//! probe matches replies by payload, so that does not matter here. The family is the
//! target's: a responder answers both (one dual-stack socket).

use std::{
    net::{IpAddr, SocketAddr, UdpSocket},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use super::{Family, Node, PROBE_PORT, monotonic_ns, spawn_in};
use crate::netns::Netns;

/// How often a blocked receive wakes up to check for stop.
const POLL: Duration = Duration::from_millis(10);

/// Answers probes on `PROBE_PORT` of every address of one node, IPv4 and IPv6.
/// Stops on drop.
pub struct Responder {
    stop: Arc<AtomicBool>,
    /// Why the thread ended, once it has (readable while the responder is owned).
    ended: Arc<std::sync::Mutex<Option<String>>>,
    handle: Option<JoinHandle<Result<Result<u64>>>>,
}

impl Responder {
    pub fn start(ns: &Netns, node: Node) -> Result<Responder> {
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let ended = Arc::new(std::sync::Mutex::new(None));
        let (s, why) = (stop.clone(), ended.clone());
        let handle = spawn_in(ns, move || -> Result<u64> {
            let r = answer(node, &s, tx);
            let text = match &r {
                Ok(n) => format!("stopped after {n} answers"),
                Err(e) => format!("failed: {e:#}"),
            };
            *why.lock().unwrap_or_else(|p| p.into_inner()) = Some(text);
            r
        })?;
        match rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => bail!("{e}"),
            Err(_) => bail!("responder thread for {node:?} died before binding"),
        }
        Ok(Responder {
            stop,
            ended,
            handle: Some(handle),
        })
    }

    /// "running", or why the responder thread ended.
    pub fn state(&self) -> String {
        match &*self.ended.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(why) => why.clone(),
            None => "running".into(),
        }
    }

    /// Stops the responder and returns how many probes it answered.
    pub fn stop(mut self) -> Result<u64> {
        self.stop_thread()
    }

    fn stop_thread(&mut self) -> Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take() {
            Some(h) => h
                .join()
                .map_err(|_| anyhow::anyhow!("responder panicked"))??,
            None => Ok(0),
        }
    }
}

/// The responder's loop: binds, reports the bind on `bound_tx`, answers until `stop`.
fn answer(
    node: Node,
    stop: &AtomicBool,
    bound_tx: std::sync::mpsc::Sender<std::result::Result<(), String>>,
) -> Result<u64> {
    let bound = bind_dual_stack(PROBE_PORT)
        .with_context(|| format!("responder {node:?} binding port {PROBE_PORT}"));
    let sock = match bound {
        Ok(sock) => sock,
        Err(e) => {
            let _ = bound_tx.send(Err(format!("{e:#}")));
            return Err(e);
        }
    };
    sock.set_read_timeout(Some(POLL))?;
    let _ = bound_tx.send(Ok(()));
    let mut buf = [0u8; 64];
    let mut answered = 0;
    let mut failures = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let (n, peer) = match sock.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if is_timeout(&e) || e.kind() == std::io::ErrorKind::Interrupted => continue,
            // A responder that stopped answering would look like an outage of the
            // node: keep serving through a passing error, give up on a lasting one.
            Err(e) if failures < 100 => {
                failures += 1;
                eprintln!("responder {node:?}: recv: {e} (retrying)");
                std::thread::sleep(POLL);
                continue;
            }
            Err(e) => return Err(e).context("responder recv, 100 times"),
        };
        if n != 8 {
            continue;
        }
        let mut reply = [0u8; 9];
        reply[0] = node.letter();
        reply[1..].copy_from_slice(&buf[..8]);
        // A reply that cannot go out is a lost probe, which the client sees.
        if sock.send_to(&reply, peer).is_ok() {
            answered += 1;
        }
    }
    Ok(answered)
}

/// A UDP socket on [::]:`port` that also receives IPv4 (as v4-mapped addresses):
/// IPV6_V6ONLY is cleared explicitly rather than left to `net.ipv6.bindv6only`.
fn bind_dual_stack(port: u16) -> std::io::Result<UdpSocket> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let check = |r: libc::c_int| {
        if r < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(r)
        }
    };
    // SAFETY: socket(2); the fd is owned at once below.
    let fd =
        check(unsafe { libc::socket(libc::AF_INET6, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: a fresh socket that nothing else owns.
    let sock = UdpSocket::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let off: libc::c_int = 0;
    // SAFETY: an int socket option on our socket, with its size.
    check(unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            (&off as *const libc::c_int).cast(),
            std::mem::size_of_val(&off) as libc::socklen_t,
        )
    })?;
    let addr = libc::sockaddr_in6 {
        sin6_family: libc::AF_INET6 as libc::sa_family_t,
        sin6_port: port.to_be(),
        sin6_flowinfo: 0,
        sin6_addr: libc::in6_addr { s6_addr: [0; 16] },
        sin6_scope_id: 0,
    };
    // SAFETY: bind(2) on our socket with a sockaddr_in6 and its size.
    check(unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&addr as *const libc::sockaddr_in6).cast(),
            std::mem::size_of_val(&addr) as libc::socklen_t,
        )
    })?;
    Ok(sock)
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.stop_thread();
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// One probe and every reply it got.
#[derive(Clone, Debug)]
pub struct ProbeRecord {
    pub seq: u64,
    /// CLOCK_MONOTONIC when it was sent.
    pub sent_ns: u64,
    /// (who answered, CLOCK_MONOTONIC of the reply), in arrival order.
    pub replies: Vec<(Node, u64)>,
}

impl ProbeRecord {
    pub fn served_by(&self) -> Option<Node> {
        self.replies.first().map(|r| r.0)
    }
}

/// A running probe; `wait` returns its report.
pub struct ProbeHandle {
    sender: JoinHandle<Result<Result<Vec<u64>>>>,
    receiver: JoinHandle<Result<Vec<(u64, Node, u64)>>>,
    interval: Duration,
    /// Replies received so far, live.
    replies: Arc<AtomicUsize>,
}

impl ProbeHandle {
    /// Replies received so far (from any node).
    pub fn replies(&self) -> usize {
        self.replies.load(Ordering::Relaxed)
    }

    /// Waits until the probe has been answered `n` times, so a fault injected next
    /// has a served baseline before it. Fails after `limit`, or if the probe ended.
    pub fn wait_replies(&self, n: usize, limit: Duration) -> Result<()> {
        let start = Instant::now();
        while self.replies() < n {
            if self.sender.is_finished() || self.receiver.is_finished() {
                bail!(
                    "probe ended with {} replies, fewer than {n}",
                    self.replies()
                );
            }
            if start.elapsed() > limit {
                bail!(
                    "probe answered {} times in {limit:?}, not {n}",
                    self.replies()
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    pub fn wait(self) -> Result<ProbeReport> {
        let sent = self
            .sender
            .join()
            .map_err(|_| anyhow::anyhow!("probe sender panicked"))???;
        let replies = self
            .receiver
            .join()
            .map_err(|_| anyhow::anyhow!("probe receiver panicked"))??;
        let mut probes: Vec<ProbeRecord> = sent
            .iter()
            .enumerate()
            .map(|(seq, &sent_ns)| ProbeRecord {
                seq: seq as u64,
                sent_ns,
                replies: Vec::new(),
            })
            .collect();
        for (seq, node, at) in replies {
            if let Some(p) = probes.get_mut(seq as usize) {
                p.replies.push((node, at));
            }
        }
        Ok(ProbeReport {
            probes,
            interval: self.interval,
        })
    }
}

/// Starts `count` probes, one every `interval`, from `client` to `target` (normally
/// the VIP, [`Family::vip`]; a node address checks plain reachability), in the
/// target's family. Replies are awaited until `linger` after the last probe; later
/// replies count as lost.
pub fn start_probe(
    client: &Netns,
    target: impl Into<IpAddr>,
    count: usize,
    interval: Duration,
    linger: Duration,
) -> Result<ProbeHandle> {
    let target = target.into();
    let source = Family::of(target).unspecified();
    start_probe_from(client, source, target, count, interval, linger)
}

/// [`start_probe`] from `source` (a client's loopback, reachable over every path).
pub fn start_probe_from(
    client: &Netns,
    source: impl Into<IpAddr>,
    target: impl Into<IpAddr>,
    count: usize,
    interval: Duration,
    linger: Duration,
) -> Result<ProbeHandle> {
    let (source, target) = (source.into(), target.into());
    if Family::of(source) != Family::of(target) {
        bail!("probe from {source} to {target}: the families differ");
    }
    let sock = crate::netns::in_netns(client, || UdpSocket::bind((source, 0)))??;
    sock.set_read_timeout(Some(POLL))?;
    let recv_sock = sock.try_clone()?;
    let done_ns = Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX));
    let done = done_ns.clone();
    let replies = Arc::new(AtomicUsize::new(0));
    let counted = replies.clone();
    let receiver = std::thread::spawn(move || -> Result<Vec<(u64, Node, u64)>> {
        let mut got = Vec::with_capacity(count * 2);
        let mut buf = [0u8; 64];
        loop {
            match recv_sock.recv_from(&mut buf) {
                Ok((9, _)) => {
                    let at = monotonic_ns();
                    let seq = u64::from_be_bytes(buf[1..9].try_into().unwrap());
                    if let Some(node) = Node::from_letter(buf[0]) {
                        got.push((seq, node, at));
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(_) => {}
                Err(e) if is_timeout(&e) || e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e).context("probe recv"),
            }
            let d = done.load(Ordering::Relaxed);
            if d != u64::MAX && monotonic_ns() > d + linger.as_nanos() as u64 {
                return Ok(got);
            }
        }
    });
    // The sender paces on absolute deadlines so sleep overshoot does not accumulate.
    let sender = spawn_in(client, move || -> Result<Vec<u64>> {
        let target = SocketAddr::from((target, PROBE_PORT));
        let mut sent = Vec::with_capacity(count);
        let start = monotonic_ns();
        let step = interval.as_nanos() as u64;
        for seq in 0..count as u64 {
            let due = start + seq * step;
            let now = monotonic_ns();
            if due > now {
                std::thread::sleep(Duration::from_nanos(due - now));
            }
            sent.push(monotonic_ns());
            // A failed send is a lost probe; the report shows it as such.
            let _ = sock.send_to(&seq.to_be_bytes(), target);
        }
        done_ns.store(monotonic_ns(), Ordering::Relaxed);
        Ok(sent)
    })?;
    Ok(ProbeHandle {
        sender,
        receiver,
        interval,
        replies,
    })
}

/// Runs a probe to completion.
pub fn run_probe(
    client: &Netns,
    target: impl Into<IpAddr>,
    count: usize,
    interval: Duration,
) -> Result<ProbeReport> {
    start_probe(client, target, count, interval, Duration::from_millis(200))?.wait()
}

/// Everything the probe saw.
#[derive(Clone, Debug)]
pub struct ProbeReport {
    pub probes: Vec<ProbeRecord>,
    pub interval: Duration,
}

/// A failover as the client saw it.
#[derive(Clone, Copy, Debug)]
pub struct Outage {
    /// Last probe the old node answered before the new one took over.
    pub last_old_seq: Option<u64>,
    /// First probe the new node answered.
    pub first_new_seq: u64,
    /// Probes lost in between.
    pub lost: usize,
    /// From sending the first lost probe to sending the first answered one (zero
    /// when nothing was lost).
    pub duration: Duration,
    /// Probes lost after the new node started answering.
    pub lost_after: usize,
    /// Probes the old node answered after the new node started answering.
    pub old_after: usize,
}

impl ProbeReport {
    pub fn sent(&self) -> usize {
        self.probes.len()
    }

    pub fn answered(&self) -> usize {
        self.probes.iter().filter(|p| !p.replies.is_empty()).count()
    }

    pub fn lost(&self) -> usize {
        self.sent() - self.answered()
    }

    /// How many probes `node` answered first.
    pub fn served_by(&self, node: Node) -> usize {
        self.probes
            .iter()
            .filter(|p| p.served_by() == Some(node))
            .count()
    }

    /// Sequence numbers answered more than once (two nodes holding the VIP behind an
    /// ECMP route, or duplicated packets).
    pub fn answered_twice(&self) -> Vec<u64> {
        self.probes
            .iter()
            .filter(|p| p.replies.len() > 1)
            .map(|p| p.seq)
            .collect()
    }

    /// The switch from `from` to `to`: `None` if `to` never answered.
    pub fn failover(&self, from: Node, to: Node) -> Option<Outage> {
        let first_new = self.probes.iter().position(|p| p.served_by() == Some(to))?;
        let last_old = self.probes[..first_new]
            .iter()
            .rposition(|p| p.served_by() == Some(from));
        let gap_start = last_old.map_or(0, |i| i + 1);
        let lost = first_new - gap_start;
        let duration = if lost == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(self.probes[first_new].sent_ns - self.probes[gap_start].sent_ns)
        };
        let after = &self.probes[first_new + 1..];
        Some(Outage {
            last_old_seq: last_old.map(|i| i as u64),
            first_new_seq: first_new as u64,
            lost,
            duration,
            lost_after: after.iter().filter(|p| p.replies.is_empty()).count(),
            old_after: after
                .iter()
                .filter(|p| p.replies.iter().any(|r| r.0 == from))
                .count(),
        })
    }

    /// The client's gap at the last switch from `from` to `to`: from the first probe
    /// after the last one `from` answered to the first `to` answered after it (zero
    /// if none was lost); `None` if `from` never answered, or `to` never after it.
    /// A flapping node's return, where [`Self::failover`] times the first switch.
    pub fn last_switch(&self, from: Node, to: Node) -> Option<Duration> {
        let last_old = self
            .probes
            .iter()
            .rposition(|p| p.served_by() == Some(from))?;
        let gap = last_old + 1;
        let first_new = gap
            + self.probes[gap..]
                .iter()
                .position(|p| p.served_by() == Some(to))?;
        Some(Duration::from_nanos(
            self.probes[first_new].sent_ns - self.probes[gap].sent_ns,
        ))
    }

    /// The CLOCK_MONOTONIC send time of probe `seq`.
    pub fn sent_ns(&self, seq: u64) -> Option<u64> {
        self.probes.get(seq as usize).map(|p| p.sent_ns)
    }

    /// Median round-trip time of answered probes.
    pub fn median_rtt(&self) -> Option<Duration> {
        let mut rtts: Vec<u64> = self
            .probes
            .iter()
            .filter_map(|p| p.replies.first().map(|r| r.1.saturating_sub(p.sent_ns)))
            .collect();
        rtts.sort_unstable();
        rtts.get(rtts.len() / 2).map(|&ns| Duration::from_nanos(ns))
    }

    /// The runs of consecutive lost probes as `first-last` sequence numbers, at most
    /// `max` of them: where in the probe the client lost service.
    pub fn lost_runs(&self, max: usize) -> String {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for p in self.probes.iter().filter(|p| p.replies.is_empty()) {
            match runs.last_mut() {
                Some((_, last)) if *last + 1 == p.seq => *last = p.seq,
                _ => runs.push((p.seq, p.seq)),
            }
        }
        let mut text: Vec<String> = runs
            .iter()
            .take(max)
            .map(|(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        if runs.len() > max {
            text.push(format!("and {} more", runs.len() - max));
        }
        text.join(" ")
    }

    /// One line for test output.
    pub fn summary(&self) -> String {
        let lost = if self.lost() == 0 {
            String::new()
        } else {
            format!(" (seq {})", self.lost_runs(5))
        };
        format!(
            "sent {} answered {} (A {}, B {}) lost {}{lost} answered twice {} median rtt {:?}",
            self.sent(),
            self.answered(),
            self.served_by(Node::A),
            self.served_by(Node::B),
            self.lost(),
            self.answered_twice().len(),
            self.median_rtt().unwrap_or_default()
        )
    }
}

/// A responder on each node, A first.
pub fn responders(lab: &super::Lab) -> Result<[Responder; 2]> {
    Ok([
        Responder::start(&lab.a, Node::A)?,
        Responder::start(&lab.b, Node::B)?,
    ])
}

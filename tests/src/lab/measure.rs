//! Routing convergence: when does the router's kernel FIB send VIP traffic to the new
//! master?
//!
//! The router's FIB is read with a route lookup, not by spawning `ip route get`: a UDP
//! socket `connect()`ed to the VIP gets the source address of the egress interface
//! (10.1.1.1 or 2001:db8:1::1 towards A, 10.1.2.1 or 2001:db8:2::1 towards B) and
//! fails with ENETUNREACH when there is no route. That costs a few microseconds and
//! sends nothing, so a watcher thread can sample every ~100 us and timestamp every
//! change.

use std::{
    net::{IpAddr, SocketAddr, UdpSocket},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use anyhow::{Context, Result, bail};

use super::{Family, Lab, Node, monotonic_ns, spawn_in};

/// The node the calling thread's namespace routes `vip` (of either family) to, if
/// any. Run it in the router namespace.
pub fn route_via(vip: IpAddr) -> Result<Option<Node>> {
    let family = Family::of(vip);
    let sock = UdpSocket::bind((family.unspecified(), 0)).context("udp socket for route lookup")?;
    match sock.connect(SocketAddr::new(vip, 9)) {
        Ok(()) => {}
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENETUNREACH) | Some(libc::EHOSTUNREACH)
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e).context("route lookup for the VIP"),
    }
    let local = sock.local_addr()?.ip();
    Ok(Node::ALL
        .into_iter()
        .find(|n| n.gateway_in(family) == local))
}

/// One sampled change of the router's VIP route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteChange {
    /// CLOCK_MONOTONIC of the first sample that saw the new state.
    pub at_ns: u64,
    pub via: Option<Node>,
}

/// A thread in the router namespace that records every change of the route to the
/// lab's VIP. Stops on drop.
pub struct RouteWatch {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<RouteChange>>>,
    handle: Option<JoinHandle<Result<Result<()>>>>,
}

impl RouteWatch {
    pub fn start(lab: &Lab) -> Result<RouteWatch> {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s, l) = (stop.clone(), log.clone());
        let vip = lab.family().vip();
        let handle = spawn_in(&lab.router, move || -> Result<()> {
            let mut last = None;
            while !s.load(Ordering::Relaxed) {
                let via = route_via(vip)?;
                let at_ns = monotonic_ns();
                if last != Some(via) {
                    last = Some(via);
                    l.lock().unwrap().push(RouteChange { at_ns, via });
                }
                std::thread::sleep(Duration::from_micros(100));
            }
            Ok(())
        })?;
        let watch = RouteWatch {
            stop,
            log,
            handle: Some(handle),
        };
        // The first sample is the starting state; wait for it so `changes` is never
        // empty for the caller.
        while watch.log.lock().unwrap().is_empty() {
            if watch.handle.as_ref().is_some_and(|h| h.is_finished()) {
                return Err(watch.finish().unwrap_err());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(watch)
    }

    /// All changes so far, oldest first (the first entry is the starting state).
    pub fn changes(&self) -> Vec<RouteChange> {
        self.log.lock().unwrap().clone()
    }

    /// The current state as last sampled.
    pub fn current(&self) -> Option<Node> {
        self.log.lock().unwrap().last().and_then(|c| c.via)
    }

    /// Waits until the route goes via `want` at or after `since_ns`; returns when
    /// the watcher first saw it.
    pub fn wait_for(&self, want: Option<Node>, since_ns: u64, timeout: Duration) -> Result<u64> {
        let deadline = monotonic_ns() + timeout.as_nanos() as u64;
        loop {
            {
                let log = self.log.lock().unwrap();
                // The state in force at `since_ns` counts too (it may have changed
                // before `since_ns` and stayed).
                let start = log.iter().rposition(|c| c.at_ns <= since_ns).unwrap_or(0);
                if let Some(c) = log[start..].iter().find(|c| c.via == want) {
                    return Ok(c.at_ns.max(since_ns));
                }
            }
            if monotonic_ns() > deadline {
                bail!(
                    "router's VIP route is via {:?}, not {want:?}, {timeout:?} after the change",
                    self.current()
                );
            }
            if self.handle.as_ref().is_some_and(|h| h.is_finished()) {
                bail!("route watcher stopped early");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Stops the watcher and reports whether it failed.
    pub fn finish(mut self) -> Result<()> {
        self.stop_thread()
    }

    fn stop_thread(&mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take() {
            Some(h) => h
                .join()
                .map_err(|_| anyhow::anyhow!("route watcher panicked"))??,
            None => Ok(()),
        }
    }
}

impl Drop for RouteWatch {
    fn drop(&mut self) {
        let _ = self.stop_thread();
    }
}

/// Timestamps of one manual VIP move, CLOCK_MONOTONIC ns.
#[derive(Clone, Copy, Debug)]
pub struct Convergence {
    pub from: Node,
    pub to: Node,
    /// Just before `ip addr del` on the old node.
    pub del_ns: u64,
    /// Just before `ip addr add` on the new node.
    pub add_ns: u64,
    /// When `ip addr add` returned: the address appeared in between (the command,
    /// a fork and exec through `ip netns exec`, takes a few ms).
    pub added_ns: u64,
    /// The router's FIB first seen pointing at the new node.
    pub route_ns: u64,
}

impl Convergence {
    /// Routing convergence: from the new node starting to add the VIP to the router
    /// forwarding to it. This is what the routing recipe adds to a VRRP failover.
    pub fn routing(&self) -> Duration {
        Duration::from_nanos(self.route_ns.saturating_sub(self.add_ns))
    }

    /// Time the `ip addr add` command took: the uncertainty of `routing`.
    pub fn add_command(&self) -> Duration {
        Duration::from_nanos(self.added_ns.saturating_sub(self.add_ns))
    }

    /// From the old node starting to drop the VIP to the router forwarding to the new.
    pub fn total(&self) -> Duration {
        Duration::from_nanos(self.route_ns.saturating_sub(self.del_ns))
    }
}

/// Moves the VIP from `from` to `to` the way a failover does (delete, then add) and
/// waits until the router routes it to `to`.
pub fn move_vip(
    lab: &Lab,
    watch: &RouteWatch,
    from: Node,
    to: Node,
    timeout: Duration,
) -> Result<Convergence> {
    let del_ns = monotonic_ns();
    lab.vip_del(from)?;
    let add_ns = monotonic_ns();
    lab.vip_add(to)?;
    let added_ns = monotonic_ns();
    let route_ns = watch
        .wait_for(Some(to), add_ns, timeout)
        .with_context(|| lab.routing_diagnostics())?;
    Ok(Convergence {
        from,
        to,
        del_ns,
        add_ns,
        added_ns,
        route_ns,
    })
}

/// Moves the VIP back and forth `trials` times, starting from wherever it is, and
/// returns each move's timings. Moves are `settle` plus a pseudo-random 0..1 s apart:
/// a fixed spacing would phase-lock to periodic timers (BIRD's OSPF tick) and
/// measure the same point of their cycle every time.
pub fn measure_moves(
    lab: &Lab,
    trials: usize,
    settle: Duration,
    timeout: Duration,
) -> Result<Vec<Convergence>> {
    let watch = RouteWatch::start(lab)?;
    let mut from = match Node::ALL
        .into_iter()
        .find(|n| lab.holds_vip(*n).unwrap_or(false))
    {
        Some(n) => n,
        None => bail!("no node holds the VIP"),
    };
    let mut out = Vec::with_capacity(trials);
    for _ in 0..trials {
        let jitter = Duration::from_millis(monotonic_ns() / 1000 % 1000);
        std::thread::sleep(settle + jitter);
        let c = move_vip(lab, &watch, from, from.other(), timeout)?;
        out.push(c);
        from = from.other();
    }
    watch.finish()?;
    Ok(out)
}

/// Min / median / max of a set of durations.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    pub n: usize,
    pub min: Duration,
    pub median: Duration,
    pub max: Duration,
}

impl Stats {
    pub fn of(samples: impl IntoIterator<Item = Duration>) -> Option<Stats> {
        let mut v: Vec<Duration> = samples.into_iter().collect();
        if v.is_empty() {
            return None;
        }
        v.sort();
        Some(Stats {
            n: v.len(),
            min: v[0],
            median: v[v.len() / 2],
            max: v[v.len() - 1],
        })
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "n={} min={:.1} ms median={:.1} ms max={:.1} ms",
            self.n,
            ms(self.min),
            ms(self.median),
            ms(self.max)
        )
    }
}

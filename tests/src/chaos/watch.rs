//! Continuous observation of the lab: who holds the VIP (A, B) and where the router
//! routes it, each sampled about every millisecond by a thread in that namespace,
//! with every change timestamped on CLOCK_MONOTONIC.
//!
//! A node holds the VIP if a UDP socket can bind to it there (the kernel allows a
//! bind only to a local address; `ip_nonlocal_bind` is off in a fresh namespace):
//! one system call, nothing sent, no `ip` process per sample.

use std::{
    net::UdpSocket,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use anyhow::{Result, bail};

use super::timeline::{Log, Timeline};
use crate::{
    lab::{Lab, Node, VIP, measure::route_via, monotonic_ns, spawn_in},
    netns::Netns,
};

/// How often each watcher samples.
const PACE: Duration = Duration::from_millis(1);

/// Whether the calling thread's namespace has the VIP as a local address.
pub fn holds_vip_here() -> bool {
    UdpSocket::bind((VIP, 0)).is_ok()
}

/// A thread in one namespace recording every change of a sampled value.
struct Sampler<T> {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Log<T>>>,
    handle: Option<JoinHandle<Result<Result<()>>>>,
}

impl<T: Copy + PartialEq + Send + 'static> Sampler<T> {
    fn start(ns: &Netns, mut sample: impl FnMut() -> Result<T> + Send + 'static) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s, l) = (stop.clone(), log.clone());
        let handle = spawn_in(ns, move || -> Result<()> {
            let mut last = None;
            while !s.load(Ordering::Relaxed) {
                let v = sample()?;
                let at = monotonic_ns();
                if last != Some(v) {
                    last = Some(v);
                    l.lock().unwrap().push((at, v));
                }
                std::thread::sleep(PACE);
            }
            Ok(())
        })?;
        let sampler = Sampler {
            stop,
            log,
            handle: Some(handle),
        };
        while sampler.log.lock().unwrap().is_empty() {
            if sampler.handle.as_ref().is_some_and(|h| h.is_finished()) {
                let mut sampler = sampler;
                sampler.stop_thread()?;
                bail!("watcher in {} stopped before its first sample", ns.name);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(sampler)
    }

    fn log(&self) -> Log<T> {
        self.log.lock().unwrap().clone()
    }

    fn current(&self) -> T {
        self.log.lock().unwrap().last().expect("first sample").1
    }

    fn alive(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.is_finished())
    }

    fn stop_thread(&mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take() {
            Some(h) => h
                .join()
                .map_err(|_| anyhow::anyhow!("watcher panicked"))??,
            None => Ok(()),
        }
    }
}

impl<T> Drop for Sampler<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The three watchers of a chaos run.
pub struct Watch {
    a: Sampler<bool>,
    b: Sampler<bool>,
    route: Sampler<Option<Node>>,
}

/// One sample of everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    pub holders: [bool; 2],
    pub route: Option<Node>,
}

impl Now {
    /// The node that holds the VIP, if exactly one does.
    pub fn sole_holder(&self) -> Option<Node> {
        match self.holders {
            [true, false] => Some(Node::A),
            [false, true] => Some(Node::B),
            _ => None,
        }
    }

    /// The single holder, if exactly one node holds the VIP and the router routes
    /// it there: the invariant of a settled lab.
    pub fn settled(&self) -> Option<Node> {
        self.sole_holder().filter(|h| self.route == Some(*h))
    }

    pub fn describe(&self) -> String {
        let who: Vec<&str> = Node::ALL
            .iter()
            .zip(self.holders)
            .filter(|(_, h)| *h)
            .map(|(n, _)| if *n == Node::A { "A" } else { "B" })
            .collect();
        format!(
            "VIP on {}, router routes it {}",
            if who.is_empty() {
                "nobody".to_string()
            } else {
                who.join("+")
            },
            self.route
                .map_or("nowhere".to_string(), |n| format!("to {n:?}"))
        )
    }
}

impl Watch {
    pub fn start(lab: &Lab) -> Result<Watch> {
        Ok(Watch {
            a: Sampler::start(lab.node(Node::A), || Ok(holds_vip_here()))?,
            b: Sampler::start(lab.node(Node::B), || Ok(holds_vip_here()))?,
            route: Sampler::start(&lab.router, || route_via(VIP.into()))?,
        })
    }

    pub fn now(&self) -> Result<Now> {
        if !(self.a.alive() && self.b.alive() && self.route.alive()) {
            bail!("a watcher thread stopped");
        }
        Ok(Now {
            holders: [self.a.current(), self.b.current()],
            route: self.route.current(),
        })
    }

    /// Everything seen so far.
    pub fn timeline(&self) -> Timeline {
        Timeline {
            a: self.a.log(),
            b: self.b.log(),
            route: self.route.log(),
        }
    }

    pub fn finish(mut self) -> Result<()> {
        self.a.stop_thread()?;
        self.b.stop_thread()?;
        self.route.stop_thread()
    }
}

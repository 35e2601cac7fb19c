//! Bursts of junk VRRP at one node, from the router: five kinds that the datapath
//! must drop (or pass as not ours) without the election ever seeing them. Each is
//! one field away from a valid advert of priority 250, so accepting any would show.
//! (The flood benchmark's TTL kind is left out: a routed peer's adverts may arrive
//! with any TTL unless `ttl_min` is set, so TTL 64 is valid here.)

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

use crate::{
    frames::{Csum, FrameSpec},
    lab::{Lab, Node, VIP, spawn_in},
    send::RawSender,
};

/// The junk packets (IPv4, for a raw sender) aimed at `to`, `interval_cs` being
/// the interval the peers advertise.
pub fn packets(to: Node, interval_cs: u16) -> Vec<(&'static str, Vec<u8>)> {
    let base = FrameSpec {
        src: to.other().addr().octets(),
        dst: to.addr().octets(),
        ttl: 254,
        vrid: 51,
        priority: 250,
        interval: interval_cs,
        addrs: vec![VIP.octets()],
        ..Default::default()
    };
    let kinds = [
        (
            "valid advert from a non-peer (the router)",
            FrameSpec {
                src: to.gateway().octets(),
                ..base.clone()
            },
        ),
        (
            "bad checksum",
            FrameSpec {
                csum: Csum::Bad,
                ..base.clone()
            },
        ),
        (
            "wrong VRID",
            FrameSpec {
                vrid: 52,
                ..base.clone()
            },
        ),
        (
            "bad length (count 3, one address)",
            FrameSpec {
                count: Some(3),
                ..base.clone()
            },
        ),
        (
            "version 2 to a v3 router",
            FrameSpec {
                version: 2,
                interval: 1,
                ..base.clone()
            },
        ),
    ];
    kinds.into_iter().map(|(n, s)| (n, s.ip())).collect()
}

/// A sender thread in the router namespace. Stops on drop.
pub struct Junk {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    handle: Option<JoinHandle<Result<Result<()>>>>,
}

impl Junk {
    pub fn start(lab: &Lab, to: Node, pps: u32, interval_cs: u16) -> Result<Junk> {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (s, n) = (stop.clone(), sent.clone());
        let pkts = packets(to, interval_cs);
        let handle = spawn_in(&lab.router, move || -> Result<()> {
            let tx = RawSender::new().context("raw socket in the router namespace")?;
            let start = Instant::now();
            let mut count: u64 = 0;
            while !s.load(Ordering::Relaxed) {
                let due = (start.elapsed().as_secs_f64() * f64::from(pps)) as u64;
                while count < due {
                    // A refused send (full queue) is as good as a dropped packet.
                    let _ = tx.send(&pkts[(count % pkts.len() as u64) as usize].1);
                    count += 1;
                }
                n.store(count, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(())
        })?;
        Ok(Junk {
            stop,
            sent,
            handle: Some(handle),
        })
    }

    /// Stops the sender; how many packets it sent.
    pub fn stop(mut self) -> Result<u64> {
        self.stop_thread()?;
        Ok(self.sent.load(Ordering::Relaxed))
    }

    fn stop_thread(&mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take() {
            Some(h) => h
                .join()
                .map_err(|_| anyhow::anyhow!("junk sender panicked"))??,
            None => Ok(()),
        }
    }
}

impl Drop for Junk {
    fn drop(&mut self) {
        let _ = self.stop_thread();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_is_vrrp_at_the_node() {
        for to in Node::ALL {
            let p = packets(to, 5);
            assert_eq!(p.len(), 5);
            for (_, ip) in &p {
                assert_eq!(ip[9], 112);
                assert_eq!(ip[16..20], to.addr().octets());
            }
        }
    }
}

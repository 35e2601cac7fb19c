//! The client's view for a whole chaos run: a UDP probe to the VIP every few
//! milliseconds from the client namespace, answered by the lab's responders
//! (`lab::probe`'s wire format: 8-byte sequence number, reply = node letter + it).
//! Unlike `lab::probe` it runs until stopped and keeps one byte per probe, so a
//! 30-minute run stays small; each episode asks for its own stretch.

use std::{
    net::{SocketAddr, UdpSocket},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use anyhow::{Context, Result};

use crate::{
    lab::{Node, PROBE_PORT, VIP, monotonic_ns},
    netns::{Netns, in_netns},
};

/// Replies later than this after their probe count as lost.
pub const LINGER: Duration = Duration::from_millis(300);

#[derive(Default)]
struct Record {
    /// CLOCK_MONOTONIC send time of each probe, by sequence number.
    sent: Vec<u64>,
    /// Bit 0: A answered, bit 1: B answered.
    answered: Vec<u8>,
}

/// The running probe. Stops on drop.
pub struct Client {
    stop: Arc<AtomicBool>,
    record: Arc<Mutex<Record>>,
    interval: Duration,
    threads: Vec<JoinHandle<Result<()>>>,
}

/// What the client saw in one stretch of time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub sent: usize,
    pub lost: usize,
    /// The longest run of consecutive lost probes, as time.
    pub outage: Duration,
    /// Probes both nodes answered (both held the VIP behind an ECMP route).
    pub answered_twice: usize,
}

fn bit(node: Node) -> u8 {
    match node {
        Node::A => 1,
        Node::B => 2,
    }
}

impl Client {
    pub fn start(client: &Netns, interval: Duration) -> Result<Client> {
        let sock = in_netns(client, || UdpSocket::bind("0.0.0.0:0"))??;
        sock.set_read_timeout(Some(Duration::from_millis(10)))?;
        let recv = sock.try_clone()?;
        let stop = Arc::new(AtomicBool::new(false));
        let record = Arc::new(Mutex::new(Record::default()));
        let (s, r) = (stop.clone(), record.clone());
        let sender = std::thread::spawn(move || -> Result<()> {
            let target = SocketAddr::from((VIP, PROBE_PORT));
            let start = monotonic_ns();
            let step = interval.as_nanos() as u64;
            let mut seq: u64 = 0;
            while !s.load(Ordering::Relaxed) {
                let due = start + seq * step;
                let now = monotonic_ns();
                if due > now {
                    std::thread::sleep(Duration::from_nanos(due - now));
                }
                {
                    let mut rec = r.lock().unwrap();
                    rec.sent.push(monotonic_ns());
                    rec.answered.push(0);
                }
                // A failed send (no route) is a lost probe.
                let _ = sock.send_to(&seq.to_be_bytes(), target);
                seq += 1;
            }
            Ok(())
        });
        let (s, r) = (stop.clone(), record.clone());
        let receiver = std::thread::spawn(move || -> Result<()> {
            let mut buf = [0u8; 64];
            while !s.load(Ordering::Relaxed) {
                match recv.recv_from(&mut buf) {
                    Ok((9, _)) => {
                        let at = monotonic_ns();
                        let seq = u64::from_be_bytes(buf[1..9].try_into().unwrap()) as usize;
                        let Some(node) = Node::from_letter(buf[0]) else {
                            continue;
                        };
                        let mut rec = r.lock().unwrap();
                        let late = rec
                            .sent
                            .get(seq)
                            .is_none_or(|&t| at > t + LINGER.as_nanos() as u64);
                        if !late {
                            rec.answered[seq] |= bit(node);
                        }
                    }
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(e) => return Err(e).context("client probe recv"),
                }
            }
            Ok(())
        });
        Ok(Client {
            stop,
            record,
            interval,
            threads: vec![sender, receiver],
        })
    }

    /// Probes sent in `[from, to)`; probes younger than [`LINGER`] at the time of
    /// the call are left out (their replies may still come).
    pub fn seen(&self, from: u64, to: u64) -> Seen {
        let horizon = monotonic_ns().saturating_sub(LINGER.as_nanos() as u64);
        let to = to.min(horizon);
        let rec = self.record.lock().unwrap();
        let mut seen = Seen::default();
        let mut run = 0usize;
        let mut longest = 0usize;
        for (i, &t) in rec.sent.iter().enumerate() {
            if t < from || t >= to {
                continue;
            }
            seen.sent += 1;
            match rec.answered[i] {
                0 => {
                    seen.lost += 1;
                    run += 1;
                    longest = longest.max(run);
                }
                a => {
                    run = 0;
                    if a == 3 {
                        seen.answered_twice += 1;
                    }
                }
            }
        }
        seen.outage = self.interval * longest as u32;
        seen
    }

    /// Whether the last `n` probes older than [`LINGER`] were all answered.
    pub fn served(&self, n: usize) -> bool {
        let horizon = monotonic_ns().saturating_sub(LINGER.as_nanos() as u64);
        let rec = self.record.lock().unwrap();
        let old = rec.sent.iter().take_while(|&&t| t < horizon).count();
        old >= n && rec.answered[old - n..old].iter().all(|a| *a != 0)
    }

    pub fn stop(mut self) -> Result<()> {
        self.stop_threads()
    }

    fn stop_threads(&mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            t.join()
                .map_err(|_| anyhow::anyhow!("client probe thread panicked"))??;
        }
        Ok(())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.stop_threads();
    }
}

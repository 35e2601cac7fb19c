//! Section 4: flood.
//!
//! Node 0 is master (priority 200, 100 ms adverts), node 1 backup (100). A flooder
//! on the same link sends junk VRRP at the backup, round-robin over six kinds (valid
//! advert from a non-peer, bad checksum, wrong VRID, bad TTL, bad length, wrong
//! version; all but the first spoof the master's address), either as fast as one
//! thread can or paced at 100k packets/s, for a bounded time and count. Measured on
//! the backup: CPU over the flood, state changes on both nodes (target: none), and
//! for vrrpd the datapath counters (XDP drops by reason).

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

use super::{
    Opts,
    daemon::{Inst, Stop, System, alternate},
    sleep,
    topo::{FLOODER_ADDR, NODE_ADDRS, Pair, spawn_in_ns},
    wait_until,
};
use crate::{
    frames::{Csum, FrameSpec},
    send::RawSender,
};

pub const SYSTEMS: [System; 3] = [System::VrrpdXdp, System::VrrpdSocket, System::Keepalived];
pub const INTERVAL_MS: u32 = 100;
/// Hard cap on packets per flood, whatever the rate.
const MAX_PACKETS: u64 = 50_000_000;

/// How fast the flooder sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rate {
    /// As fast as one sending thread can.
    Max,
    /// Paced to this many packets per second.
    Fixed(u64),
}

impl Rate {
    pub fn label(self) -> String {
        match self {
            Rate::Max => "max rate".into(),
            Rate::Fixed(r) => format!("{}k pkt/s", r / 1000),
        }
    }
}

/// One flood against one system.
#[derive(Clone, Debug)]
pub struct Run {
    pub rate: Rate,
    pub system: System,
    pub window_s: f64,
    pub sent: u64,
    pub send_errors: u64,
    /// Packets the backup's eth0 received in the window (kernel counter).
    pub backup_rx: u64,
    /// Backup CPU seconds in the window.
    pub backup_cpu_s: f64,
    /// Master CPU seconds in the window.
    pub master_cpu_s: f64,
    /// State changes on either node during the flood and the second after it.
    pub transitions: u64,
    /// VIPs held after the flood: [master, backup] (expected [1, 0]).
    pub vips_end: [usize; 2],
    /// Whole machine, cores busy (and in softirq) over the window: the sender, both
    /// daemons and the kernel's packet path, XDP included (XDP runs in softirq and is
    /// not charged to the daemon).
    pub machine: super::proc::MachineCpu,
    /// vrrpd's datapath counters on the backup, change over the window.
    pub counters: BTreeMap<String, u64>,
}

/// The datapath counters the junk kinds of [`junk`] land in, one per kind.
pub const JUNK_COUNTERS: [&str; 6] = [
    "not_peer",
    "bad_checksum",
    "unknown_vrid",
    "bad_ttl",
    "bad_length",
    "bad_version",
];

impl Run {
    /// Junk packets vrrpd counted in the window: the sum of [`JUNK_COUNTERS`].
    pub fn junk_counted(&self) -> u64 {
        JUNK_COUNTERS
            .iter()
            .filter_map(|k| self.counters.get(*k))
            .sum()
    }

    pub fn sent_pps(&self) -> f64 {
        self.sent as f64 / self.window_s
    }

    pub fn backup_cpu_pct(&self) -> f64 {
        self.backup_cpu_s / self.window_s * 100.0
    }
}

/// The instance under flood (the same on both nodes but for the priority).
fn instance(priority: u8) -> Vec<Inst> {
    Inst::many(1, priority, INTERVAL_MS)
}

/// The six kinds of junk, as IPv4 packets for the raw sender.
pub fn junk() -> Vec<(&'static str, Vec<u8>)> {
    let inst = instance(200)[0];
    let base = FrameSpec {
        src: NODE_ADDRS[0].octets(),
        dst: NODE_ADDRS[1].octets(),
        ttl: 255,
        vrid: inst.vrid,
        priority: inst.priority,
        interval: (INTERVAL_MS / 10) as u16,
        addrs: vec![inst.vip.octets()],
        ..Default::default()
    };
    let kinds = [
        (
            "valid advert from a non-peer",
            FrameSpec {
                src: FLOODER_ADDR.octets(),
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
                vrid: inst.vrid + 1,
                ..base.clone()
            },
        ),
        (
            "TTL 64",
            FrameSpec {
                ttl: 64,
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

pub fn run(opts: &Opts) -> Result<Vec<Run>> {
    let window = Duration::from_secs(if opts.quick { 3 } else { 10 });
    let rounds = 1;
    let mut runs = Vec::new();
    let mut round = 0;
    for rate in [Rate::Max, Rate::Fixed(100_000)] {
        for _ in 0..rounds {
            for system in alternate(&SYSTEMS, round) {
                println!("-- flood {} against {}", rate.label(), system.label());
                let r = one(opts, system, rate, window)?;
                println!(
                    "   sent {} ({:.0} pkt/s), backup rx {}, backup CPU {:.2} s ({:.1} %), machine {:.2} cores ({:.2} softirq), transitions {}, VIPs {:?}",
                    r.sent,
                    r.sent_pps(),
                    r.backup_rx,
                    r.backup_cpu_s,
                    r.backup_cpu_pct(),
                    r.machine.busy_s,
                    r.machine.softirq_s,
                    r.transitions,
                    r.vips_end
                );
                runs.push(r);
            }
            round += 1;
        }
    }
    Ok(runs)
}

fn one(opts: &Opts, system: System, rate: Rate, window: Duration) -> Result<Run> {
    let mut pair = Pair::new("f", true)?;
    pair.nodes[1].start(system, &opts.vrrpd, &instance(100), NODE_ADDRS[0])?;
    pair.nodes[0].start(system, &opts.vrrpd, &instance(200), NODE_ADDRS[1])?;
    wait_until(
        "the master to hold the VIP",
        Duration::from_secs(20),
        Duration::from_millis(20),
        || {
            let held = [pair.nodes[0].vips_on_lo()?, pair.nodes[1].vips_on_lo()?];
            Ok((held == [1, 0]).then_some(()))
        },
    )?;
    sleep(Duration::from_millis(500))?;
    // Make sure the flooder has resolved the backup's MAC before timing starts.
    let flooder = pair.flooder.as_ref().context("flooder namespace")?;
    flooder.exec(&[
        "ip",
        "neigh",
        "replace",
        &NODE_ADDRS[1].to_string(),
        "lladdr",
        &mac(&pair.nodes[1].ns)?,
        "dev",
        "eth0",
    ])?;

    let cpu0 = [pair.nodes[0].cpu_seconds()?, pair.nodes[1].cpu_seconds()?];
    let tr0 = pair.nodes[0].transitions()? + pair.nodes[1].transitions()?;
    let c0 = pair.nodes[1].counters()?;
    let rx0 = pair.nodes[1].rx_packets()?;
    let m0 = super::proc::MachineCpu::read()?;
    let t0 = Instant::now();
    let packets = junk();
    let sender = spawn_in_ns(&flooder.name, move || flood(&packets, rate, window))?;
    let (sent, send_errors) = sender
        .join()
        .map_err(|_| anyhow::anyhow!("flood thread panicked"))??;
    let window_s = t0.elapsed().as_secs_f64();
    let machine = m0.cores_since(&super::proc::MachineCpu::read()?, window_s);
    let cpu1 = [pair.nodes[0].cpu_seconds()?, pair.nodes[1].cpu_seconds()?];
    let rx1 = pair.nodes[1].rx_packets()?;
    // A flap caused by the flood may show just after it; and the counters are
    // published every 200 ms.
    sleep(Duration::from_secs(1))?;
    let tr1 = pair.nodes[0].transitions()? + pair.nodes[1].transitions()?;
    let c1 = pair.nodes[1].counters()?;
    let vips_end = [pair.nodes[0].vips_on_lo()?, pair.nodes[1].vips_on_lo()?];
    let before: BTreeMap<String, u64> = c0.into_iter().collect();
    let counters = c1
        .into_iter()
        .map(|(k, v)| {
            let d = v.saturating_sub(before.get(&k).copied().unwrap_or(0));
            (k, d)
        })
        .filter(|(_, d)| *d > 0)
        .collect();
    for node in &mut pair.nodes {
        node.stop(Stop::Graceful)?;
    }
    Ok(Run {
        rate,
        system,
        window_s,
        sent,
        send_errors,
        backup_rx: rx1.saturating_sub(rx0),
        backup_cpu_s: cpu1[1] - cpu0[1],
        master_cpu_s: cpu1[0] - cpu0[0],
        transitions: tr1.saturating_sub(tr0),
        vips_end,
        machine,
        counters,
    })
}

/// eth0's MAC address in `ns`.
fn mac(ns: &crate::netns::Netns) -> Result<String> {
    let out = ns.exec(&["cat", "/sys/class/net/eth0/address"])?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Sends `packets` round-robin for `window` (at most [`MAX_PACKETS`]); (sent, errors).
fn flood(packets: &[(&str, Vec<u8>)], rate: Rate, window: Duration) -> Result<(u64, u64)> {
    let tx = RawSender::new().context("raw socket in the flooder namespace")?;
    let start = Instant::now();
    let (mut sent, mut errors) = (0u64, 0u64);
    loop {
        let elapsed = start.elapsed();
        if elapsed >= window || sent + errors >= MAX_PACKETS || super::check_interrupt().is_err() {
            break;
        }
        // Sends due by now (max rate: a batch), then a short sleep if paced.
        let due = match rate {
            Rate::Max => sent + errors + 256,
            Rate::Fixed(r) => (elapsed.as_secs_f64() * r as f64) as u64,
        };
        while sent + errors < due {
            let p = &packets[((sent + errors) % packets.len() as u64) as usize].1;
            match tx.send(p) {
                Ok(()) => sent += 1,
                Err(_) => errors += 1,
            }
        }
        if let Rate::Fixed(_) = rate {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    Ok((sent, errors))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn junk_is_addressed_to_the_backup() {
        let j = junk();
        assert_eq!(j.len(), 6);
        for (_, ip) in &j {
            assert_eq!(ip[9], 112);
            assert_eq!(Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]), NODE_ADDRS[1]);
        }
    }
}

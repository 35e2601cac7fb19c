//! Section 3: cost at scale.
//!
//! 1, 16 and 255 instances (VRIDs 1..N on one interface, VIP 10.2.0.VRID/32 on `lo`
//! each) at 10 ms adverts, both ends running the same system: node 0 is master
//! (priority 200) for every instance, node 1 backup (100). After the election has
//! settled (every VIP on node 0, none on node 1), CPU time (utime + stime from
//! /proc/PID/stat) is read over a fixed window on both ends, then peak RSS (VmHWM).
//! keepalived counts as its parent plus its VRRP child. The VIP check is repeated
//! at the end, and state changes inside the window are counted (a daemon that cannot
//! keep up flaps).

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::{
    Opts,
    daemon::{Inst, Stop, System, alternate},
    sleep,
    topo::{NODE_ADDRS, Pair},
    wait_until,
};

pub const SYSTEMS: [System; 3] = [System::VrrpdXdp, System::VrrpdSocket, System::Keepalived];
pub const INTERVAL_MS: u32 = 10;

/// One (instances, system) run.
#[derive(Clone, Debug)]
pub struct Run {
    pub instances: u8,
    pub system: System,
    pub window_s: f64,
    /// CPU seconds in the window: [master, backup].
    pub cpu_s: [f64; 2],
    /// Peak RSS at the end, KiB: [master, backup].
    pub peak_rss_kib: [u64; 2],
    /// State changes inside the window (both nodes).
    pub transitions: u64,
    /// VIPs held at the end: [master, backup] (expected N and 0).
    pub vips_end: [usize; 2],
    /// Whole machine, cores busy (and in softirq) over the window: both daemons and
    /// the kernel's packet path, XDP included.
    pub machine: super::proc::MachineCpu,
    /// Seconds from start to a settled election; `None` if it never settled
    /// (measured anyway).
    pub settle_s: Option<f64>,
}

/// A run, or why it could not be made.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub instances: u8,
    pub system: System,
    pub run: std::result::Result<Run, String>,
}

impl Run {
    /// CPU as a percentage of one core, [master, backup].
    pub fn cpu_pct(&self) -> [f64; 2] {
        self.cpu_s.map(|c| c / self.window_s * 100.0)
    }
}

pub fn run(opts: &Opts) -> Result<Vec<Outcome>> {
    let window = Duration::from_secs(if opts.quick { 10 } else { 60 });
    let mut runs = Vec::new();
    for (round, n) in [1u8, 16, 255].into_iter().enumerate() {
        for system in alternate(&SYSTEMS, round) {
            println!(
                "-- {n} instances, {}, {} s window",
                system.label(),
                window.as_secs()
            );
            let r = match one(opts, n, system, window) {
                Ok(r) => r,
                Err(e) => {
                    super::check_interrupt()?;
                    println!("   failed: {e:#}");
                    runs.push(Outcome {
                        instances: n,
                        system,
                        run: Err(format!("{e:#}")),
                    });
                    continue;
                }
            };
            println!(
                "   CPU master {:.2} s ({:.1} %), backup {:.2} s ({:.1} %); machine {:.2} cores ({:.2} softirq); peak RSS {} / {} KiB; transitions {}; VIPs {:?}",
                r.cpu_s[0],
                r.cpu_pct()[0],
                r.cpu_s[1],
                r.cpu_pct()[1],
                r.machine.busy_s,
                r.machine.softirq_s,
                r.peak_rss_kib[0],
                r.peak_rss_kib[1],
                r.transitions,
                r.vips_end
            );
            runs.push(Outcome {
                instances: n,
                system,
                run: Ok(r),
            });
        }
    }
    Ok(runs)
}

fn one(opts: &Opts, n: u8, system: System, window: Duration) -> Result<Run> {
    let mut pair = Pair::new("s", false)?;
    let started = Instant::now();
    // Backup first, so the master does not wait out a full Master_Down_Interval alone.
    pair.nodes[1].start(
        system,
        &opts.vrrpd,
        &Inst::many(n, 100, INTERVAL_MS),
        NODE_ADDRS[0],
    )?;
    pair.nodes[0].start(
        system,
        &opts.vrrpd,
        &Inst::many(n, 200, INTERVAL_MS),
        NODE_ADDRS[1],
    )?;
    let n_vips = usize::from(n);
    let settled = wait_until(
        "every VIP on the master and none on the backup",
        Duration::from_secs(30),
        Duration::from_millis(50),
        || {
            let held = [pair.nodes[0].vips_on_lo()?, pair.nodes[1].vips_on_lo()?];
            Ok((held == [n_vips, 0]).then_some(()))
        },
    );
    let settle_s = match settled {
        Ok(()) => Some(started.elapsed().as_secs_f64()),
        Err(e) if e.to_string().contains("timed out") => None,
        Err(e) => return Err(e),
    };
    // Let start-up work (netlink, first announcements) finish before measuring.
    sleep(Duration::from_secs(1))?;
    let m0 = super::proc::MachineCpu::read()?;
    let t0 = Instant::now();
    let cpu0 = [pair.nodes[0].cpu_seconds()?, pair.nodes[1].cpu_seconds()?];
    let tr0 = pair.nodes[0].transitions()? + pair.nodes[1].transitions()?;
    sleep(window)?;
    let cpu1 = [pair.nodes[0].cpu_seconds()?, pair.nodes[1].cpu_seconds()?];
    let window_s = t0.elapsed().as_secs_f64();
    let machine = m0.cores_since(&super::proc::MachineCpu::read()?, window_s);
    let tr1 = pair.nodes[0].transitions()? + pair.nodes[1].transitions()?;
    let peak = [pair.nodes[0].peak_rss_kib()?, pair.nodes[1].peak_rss_kib()?];
    let vips_end = [pair.nodes[0].vips_on_lo()?, pair.nodes[1].vips_on_lo()?];
    for node in &mut pair.nodes {
        node.stop(Stop::Graceful)?;
    }
    if cpu1[0] < cpu0[0] || cpu1[1] < cpu0[1] {
        bail!("CPU time went backwards: a daemon restarted");
    }
    Ok(Run {
        instances: n,
        system,
        window_s,
        cpu_s: [cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]],
        peak_rss_kib: peak,
        transitions: tr1 - tr0,
        vips_end,
        machine,
        settle_s,
    })
}

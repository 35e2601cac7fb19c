//! Section 3: cost at scale and per advert interval.
//!
//! Cases ([`CASES`]): 1, 16, 255 and 1,020 instances at 10 ms adverts, and one
//! instance at 100 ms and at 1 s. Up to 255 instances use VRIDs 1..N on one link;
//! 1,020 is four links (veth pairs on their own bridges, interfaces eth0..eth3) x 255
//! VRIDs. Every instance has its own VIP, 10.2.LINK.VRID/32 on `lo`. Both ends run the
//! same system: node 0 is master (priority 200) for every instance, node 1 backup
//! (100). Systems alternate order from one case to the next.
//!
//! After the election has settled (every VIP on node 0, none on node 1; measured
//! anyway if it never does), over a fixed window on both ends:
//!
//! - process CPU: the daemon's CPU-time clock (all threads, nanoseconds; keepalived is
//!   its parent plus its VRRP child);
//! - the kernel's share: run time of the BPF programs the daemon holds (vrrpd's XDP
//!   program) from the kernel's BPF statistics (on for the whole section, see
//!   [`super::bpf`]), and machine-wide softirq time from /proc/stat;
//! - wake-ups (voluntary context switches), state changes, and at the end
//!   the VIP placement and peak RSS (VmHWM).
//!
//! Then, for vrrpd (XDP) in the [`Case::profiled`] cases, a `perf` profile of both
//! ends, after the window so it does not perturb the figures.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::{
    Opts,
    bpf::{ProgStats, StatsOn},
    daemon::{Inst, Stop, System, alternate},
    proc::MachineCpu,
    profile::{self, Profile},
    sleep,
    topo::{NODE_ADDRS, Pair},
    wait_until,
};

pub const SYSTEMS: [System; 3] = [System::VrrpdXdp, System::VrrpdSocket, System::Keepalived];

/// One configuration measured for every system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Case {
    pub instances: u16,
    pub interval_ms: u32,
}

/// The cases, in the order they run.
pub const CASES: [Case; 6] = [
    Case {
        instances: 1,
        interval_ms: 10,
    },
    Case {
        instances: 16,
        interval_ms: 10,
    },
    Case {
        instances: 255,
        interval_ms: 10,
    },
    Case {
        instances: 1020,
        interval_ms: 10,
    },
    Case {
        instances: 1,
        interval_ms: 100,
    },
    Case {
        instances: 1,
        interval_ms: 1000,
    },
];

/// Instance counts of the 10 ms cases (the scale plot's x axis).
pub const SCALE_COUNTS: [u16; 4] = [1, 16, 255, 1020];
/// Intervals of the one-instance cases (the interval plot's x axis).
pub const INTERVALS_MS: [u32; 3] = [10, 100, 1000];

impl Case {
    pub fn links(self) -> u8 {
        Inst::links_for(self.instances)
    }

    pub fn label(self) -> String {
        format!(
            "{} instance{} at {} ms",
            self.instances,
            if self.instances == 1 { "" } else { "s" },
            self.interval_ms
        )
    }

    /// The measurement window. Full run: 30 s at 10 ms and 100 ms (at 10 ms up to
    /// 102,000 adverts a second), 60 s at 1 s (60 adverts). CPU is read in
    /// nanoseconds, so these resolve even one instance at 1 s; the 18 runs with
    /// their set-up and the profiles take about 16 minutes. Quick: 10 s each.
    pub fn window(self, quick: bool) -> Duration {
        Duration::from_secs(match (quick, self.interval_ms) {
            (true, _) => 10,
            (false, 1000) => 60,
            (false, _) => 30,
        })
    }

    /// `NxMS` (as `--cases` takes it).
    pub fn key(self) -> String {
        format!("{}x{}", self.instances, self.interval_ms)
    }

    /// Whether vrrpd (XDP) gets a `perf` profile of both ends after the window.
    pub fn profiled(self) -> bool {
        self.interval_ms == 10 && matches!(self.instances, 1 | 255 | 1020)
    }

    /// How long to wait for the election to settle before measuring anyway.
    fn settle_limit(self) -> Duration {
        Duration::from_secs(if self.instances > 255 { 40 } else { 30 })
    }
}

/// Length of each profile.
pub fn profile_len(quick: bool) -> Duration {
    Duration::from_secs(if quick { 3 } else { 10 })
}

/// One (case, system) run. Pairs are [master, backup].
#[derive(Clone, Debug)]
pub struct Run {
    pub case: Case,
    pub system: System,
    pub window_s: f64,
    /// Process CPU seconds in the window.
    pub cpu_s: [f64; 2],
    /// BPF program run time and runs in the window (vrrpd's XDP program; zero for
    /// systems without one).
    pub bpf: [ProgStats; 2],
    /// Wake-ups (voluntary context switches) in the window.
    pub switches: [u64; 2],
    /// Peak RSS at the end, KiB.
    pub peak_rss_kib: [u64; 2],
    /// State changes inside the window (both nodes).
    pub transitions: u64,
    /// VIPs held at the end of the window (expected N and 0).
    pub vips_end: [usize; 2],
    /// Whole machine, cores busy (and in softirq) over the window: both daemons, the
    /// kernel's packet path (XDP included) and whatever else runs on the machine.
    pub machine: MachineCpu,
    /// Seconds from start to a settled election; `None` if it never settled
    /// (measured anyway).
    pub settle_s: Option<f64>,
    /// `perf` profiles [master, backup], where taken (or why not).
    pub profile: Option<std::result::Result<[Profile; 2], String>>,
    /// What went wrong after the measurement (a daemon that would not stop).
    pub notes: Vec<String>,
}

/// A run, or why it could not be made.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub case: Case,
    pub system: System,
    pub run: std::result::Result<Run, String>,
}

/// The section's results.
#[derive(Clone, Debug, Default)]
pub struct ScaleResults {
    pub runs: Vec<Outcome>,
    /// How BPF statistics were turned on, or why they could not be (then the BPF
    /// figures are zero).
    pub bpf_stats: String,
}

impl ScaleResults {
    pub fn get(&self, case: Case, system: System) -> Option<&Run> {
        self.runs
            .iter()
            .find(|o| o.case == case && o.system == system)
            .and_then(|o| o.run.as_ref().ok())
    }
}

impl Run {
    /// Process CPU, % of one core.
    pub fn cpu_pct(&self) -> [f64; 2] {
        self.cpu_s.map(|c| c / self.window_s * 100.0)
    }

    /// BPF program run time, % of one core.
    pub fn bpf_pct(&self) -> [f64; 2] {
        self.bpf
            .map(|b| b.run_ns as f64 * 1e-9 / self.window_s * 100.0)
    }

    /// Process CPU plus BPF run time, seconds: the cost the targets compare.
    pub fn total_s(&self) -> [f64; 2] {
        [0, 1].map(|i| self.cpu_s[i] + self.bpf[i].run_ns as f64 * 1e-9)
    }

    /// [`Run::total_s`] as % of one core.
    pub fn total_pct(&self) -> [f64; 2] {
        self.total_s().map(|c| c / self.window_s * 100.0)
    }

    /// Wake-ups per second.
    pub fn switches_per_s(&self) -> [f64; 2] {
        self.switches.map(|n| n as f64 / self.window_s)
    }

    /// Whether the election held: no state change, every VIP on the master.
    pub fn held(&self) -> bool {
        self.transitions == 0 && self.vips_end == [usize::from(self.case.instances), 0]
    }
}

pub fn run(opts: &Opts) -> Result<ScaleResults> {
    let (stats, bpf_stats) = match StatsOn::enable() {
        Ok(s) => {
            let how = s.how.to_string();
            (Some(s), how)
        }
        Err(e) => {
            println!("   BPF statistics unavailable: {e:#}");
            (None, format!("unavailable ({e:#}): BPF figures are zero"))
        }
    };
    let mut res = ScaleResults {
        runs: Vec::new(),
        bpf_stats,
    };
    let cases: Vec<Case> = CASES
        .into_iter()
        .filter(|c| opts.cases.is_empty() || opts.cases.contains(&c.key()))
        .collect();
    if cases.is_empty() {
        bail!(
            "--cases {:?} names none of {:?}",
            opts.cases,
            CASES.map(|c| c.key())
        );
    }
    for (round, case) in cases.into_iter().enumerate() {
        for system in alternate(&SYSTEMS, round) {
            let t = Instant::now();
            println!(
                "-- {}, {}, {} link{}, {} s window",
                case.label(),
                system.label(),
                case.links(),
                if case.links() == 1 { "" } else { "s" },
                case.window(opts.quick).as_secs()
            );
            let r = match one(opts, case, system) {
                Ok(r) => r,
                Err(e) => {
                    super::check_interrupt()?;
                    println!("   failed: {e:#}");
                    res.runs.push(Outcome {
                        case,
                        system,
                        run: Err(format!("{e:#}")),
                    });
                    continue;
                }
            };
            println!("   run took {:.0} s", t.elapsed().as_secs_f64());
            let [m, b] = r.total_pct();
            let [mb, bb] = r.bpf_pct();
            let [ms, bs] = r.switches_per_s();
            println!(
                "   CPU master {m:.2} % (BPF {mb:.2} %), backup {b:.2} % (BPF {bb:.2} %); wake-ups/s {ms:.0} / {bs:.0}; machine {:.2} cores ({:.2} softirq); peak RSS {} / {} KiB; transitions {}; VIPs {:?}",
                r.machine.busy_s,
                r.machine.softirq_s,
                r.peak_rss_kib[0],
                r.peak_rss_kib[1],
                r.transitions,
                r.vips_end
            );
            if let Some(p) = &r.profile {
                match p {
                    Ok([pm, pb]) => println!(
                        "   profile: master {} samples, backup {} samples",
                        pm.samples, pb.samples
                    ),
                    Err(e) => println!("   profile failed: {e}"),
                }
            }
            res.runs.push(Outcome {
                case,
                system,
                run: Ok(r),
            });
        }
    }
    drop(stats);
    Ok(res)
}

fn one(opts: &Opts, case: Case, system: System) -> Result<Run> {
    let n = case.instances;
    let window = case.window(opts.quick);
    let mut pair = Pair::with_links("s", false, case.links())?;
    let started = Instant::now();
    // Backup first, so the master does not wait out a full Master_Down_Interval alone.
    pair.nodes[1].start(
        system,
        &opts.vrrpd,
        &Inst::many(n, 100, case.interval_ms),
        NODE_ADDRS[0],
    )?;
    pair.nodes[0].start(
        system,
        &opts.vrrpd,
        &Inst::many(n, 200, case.interval_ms),
        NODE_ADDRS[1],
    )?;
    let n_vips = usize::from(n);
    let settled = wait_until(
        "every VIP on the master and none on the backup",
        case.settle_limit(),
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
    let read = |pair: &Pair| -> Result<([f64; 2], [ProgStats; 2], [u64; 2])> {
        let [a, b] = &pair.nodes;
        Ok((
            [a.cpu_seconds()?, b.cpu_seconds()?],
            [a.bpf_stats()?, b.bpf_stats()?],
            [a.wakeups()?, b.wakeups()?],
        ))
    };
    let tr0 = pair.nodes[0].transitions()? + pair.nodes[1].transitions()?;
    let m0 = MachineCpu::read()?;
    let t0 = Instant::now();
    let (cpu0, bpf0, sw0) = read(&pair)?;
    sleep(window)?;
    let (cpu1, bpf1, sw1) = read(&pair)?;
    let window_s = t0.elapsed().as_secs_f64();
    let machine = m0.cores_since(&MachineCpu::read()?, window_s);
    let tr1 = pair.nodes[0].transitions()? + pair.nodes[1].transitions()?;
    let vips_end = [pair.nodes[0].vips_on_lo()?, pair.nodes[1].vips_on_lo()?];
    if cpu1[0] < cpu0[0] || cpu1[1] < cpu0[1] {
        bail!("CPU time went backwards: a daemon restarted");
    }
    let profile = (system == System::VrrpdXdp && case.profiled()).then(|| {
        let targets = [
            ("master", pair.nodes[0].pids()),
            ("backup", pair.nodes[1].pids()),
        ];
        profile::record(&targets, profile_len(opts.quick), &pair.dir())
            .and_then(|v| <[Profile; 2]>::try_from(v).map_err(|_| anyhow::anyhow!("two profiles")))
            .map_err(|e| format!("{e:#}"))
    });
    super::check_interrupt()?;
    let peak = [pair.nodes[0].peak_rss_kib()?, pair.nodes[1].peak_rss_kib()?];
    // The measurement is made: a daemon that will not stop is a note, not a failed
    // run (Node kills it).
    let mut notes = Vec::new();
    for (node, end) in pair.nodes.iter_mut().zip(["master", "backup"]) {
        if node.signal_stop(Stop::Graceful).is_ok()
            && let Err(e) = node.wait_stopped(Duration::from_secs(20))
        {
            println!("   {end}: {e:#}");
            notes.push(format!("{end}: {e:#}"));
        }
    }
    Ok(Run {
        case,
        system,
        window_s,
        cpu_s: [cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]],
        bpf: [bpf1[0].since(&bpf0[0]), bpf1[1].since(&bpf0[1])],
        switches: [sw1[0].saturating_sub(sw0[0]), sw1[1].saturating_sub(sw0[1])],
        peak_rss_kib: peak,
        transitions: tr1.saturating_sub(tr0),
        vips_end,
        machine,
        settle_s,
        profile,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        let big = CASES.iter().find(|c| c.instances == 1020).unwrap();
        assert_eq!(big.links(), 4);
        assert!(big.profiled());
        // The full run's scale section stays near 16 minutes: windows (630 s) plus about
        // 17 s of set-up and tear-down per run (on a loaded 2-core VM), and the
        // profiles.
        let windows: u64 = CASES
            .iter()
            .map(|c| c.window(false).as_secs() * SYSTEMS.len() as u64)
            .sum();
        let profiles =
            CASES.iter().filter(|c| c.profiled()).count() as u64 * profile_len(false).as_secs();
        assert!(
            windows + profiles + 17 * 18 <= 17 * 60,
            "{windows} + {profiles}"
        );
        // Every plotted point is a case.
        for n in SCALE_COUNTS {
            assert!(CASES.contains(&Case {
                instances: n,
                interval_ms: 10
            }));
        }
        for iv in INTERVALS_MS {
            assert!(CASES.contains(&Case {
                instances: 1,
                interval_ms: iv
            }));
        }
        assert_eq!(CASES[2].label(), "255 instances at 10 ms");
        assert_eq!(CASES[5].label(), "1 instance at 1000 ms");
    }
}

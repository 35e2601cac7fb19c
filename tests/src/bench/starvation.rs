//! Section 6: CPU starvation.
//!
//! One instance at 10 ms adverts, node 0 master (priority 200), node 1 backup (100).
//! The machine's cores are split into two "hosts": the backup's daemon is pinned to
//! the first half, the master's to the second half, so load on one side's cores
//! starves that node only, as on two machines. Each load runs on every core of one
//! side at a time:
//!
//! - busy loops at normal priority (nice 0) and at raised priority (nice -20),
//! - busy loops at real-time priority (SCHED_FIFO 1: a runaway real-time task),
//! - a memory hog: all but 512 MiB of the available memory, touched page by page
//!   without pause, so the kernel reclaims page cache (the daemons' code among it).
//!
//! Measured over each window: false transitions (any state change: nothing else
//! happens) per minute on either node, and the worst gap between the master's adverts
//! as the backup's link sees them (kernel timestamps at the switch port the master
//! plugs into), for vrrpd and keepalived, each with its timing protection off (the
//! default) and on (real-time scheduling and locked memory). The daemons run for a
//! whole series of loads; the series alternate between the systems.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use super::{
    Opts,
    capture::Capture,
    daemon::{Inst, Stop, System, alternate},
    sleep,
    topo::{NODE_ADDRS, NODE_PORTS, Pair},
    wait_until,
};

pub const SYSTEMS: [System; 2] = [System::VrrpdXdp, System::Keepalived];
pub const INTERVAL_MS: u32 = 10;
/// Memory the memory hog leaves available.
const MEMORY_HEADROOM_MIB: u64 = 512;

/// What runs on one side's cores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    /// Nothing: the noise floor.
    Idle,
    /// A busy loop per core at this nice value.
    Busy { nice: i32 },
    /// A busy loop per core under SCHED_FIFO at priority 1.
    BusyRealtime,
    /// Memory allocated and touched until little is left.
    Memory,
}

impl Load {
    pub const ALL: [Load; 5] = [
        Load::Idle,
        Load::Busy { nice: 0 },
        Load::Busy { nice: -20 },
        Load::BusyRealtime,
        Load::Memory,
    ];

    pub fn label(self) -> String {
        match self {
            Load::Idle => "none".into(),
            Load::Busy { nice } => format!("busy loop per core, nice {nice}"),
            Load::BusyRealtime => "busy loop per core, SCHED_FIFO 1".into(),
            Load::Memory => format!("memory hog (all but {MEMORY_HEADROOM_MIB} MiB)"),
        }
    }
}

/// Whose cores the load runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Backup,
    Master,
}

impl Side {
    pub fn label(self) -> &'static str {
        match self {
            Side::Backup => "backup",
            Side::Master => "master",
        }
    }
}

/// One load on one side against one system.
#[derive(Clone, Debug)]
pub struct Cell {
    pub system: System,
    pub protected: bool,
    pub load: Load,
    /// `None` for [`Load::Idle`].
    pub side: Option<Side>,
    pub window_s: f64,
    /// State changes on both nodes over the window and the second after it.
    pub transitions: u64,
    /// The longest time between two of the master's adverts on the wire, ms.
    pub worst_gap_ms: Option<f64>,
    /// Gaps longer than two advert intervals.
    pub late: usize,
    pub adverts: usize,
}

impl Cell {
    pub fn transitions_per_min(&self) -> f64 {
        self.transitions as f64 / self.window_s * 60.0
    }
}

/// Everything the section measured, and how the cores were split.
#[derive(Clone, Debug)]
pub struct StarvationResults {
    pub cells: Vec<Cell>,
    pub backup_cpus: String,
    pub master_cpus: String,
}

/// The two halves of the machine's cores as `taskset` lists: (backup, master).
fn split_cores() -> Result<(String, String)> {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    if n < 2 {
        bail!("the starvation section needs at least 2 cores (one per side), found {n}");
    }
    let half = n / 2;
    let list = |a: usize, b: usize| {
        if b - a == 1 {
            a.to_string()
        } else {
            format!("{a}-{}", b - 1)
        }
    };
    Ok((list(0, half), list(half, n)))
}

fn cores_in(list: &str) -> usize {
    match list.split_once('-') {
        Some((a, b)) => b.parse::<usize>().unwrap_or(0) + 1 - a.parse::<usize>().unwrap_or(0),
        None => 1,
    }
}

/// Fails unless util-linux's `taskset` and `chrt` are there.
fn require_tools() -> Result<()> {
    for tool in ["taskset", "chrt"] {
        let ok = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            bail!("the starvation section needs `{tool}`: apt-get install util-linux");
        }
    }
    Ok(())
}

pub fn run(opts: &Opts) -> Result<StarvationResults> {
    require_tools()?;
    let (backup_cpus, master_cpus) = split_cores()?;
    let window = Duration::from_secs(if opts.quick { 3 } else { 10 });
    println!("   backup pinned to CPU {backup_cpus}, master to CPU {master_cpus}");
    let mut cells = Vec::new();
    let mut round = 0;
    for protected in [false, true] {
        for system in alternate(&SYSTEMS, round) {
            round += 1;
            cells.extend(series(
                opts,
                system,
                protected,
                window,
                &backup_cpus,
                &master_cpus,
            )?);
        }
    }
    Ok(StarvationResults {
        cells,
        backup_cpus,
        master_cpus,
    })
}

/// Every load on both sides against one system, its daemons running throughout.
fn series(
    opts: &Opts,
    system: System,
    protected: bool,
    window: Duration,
    backup_cpus: &str,
    master_cpus: &str,
) -> Result<Vec<Cell>> {
    let mut pair = Pair::new("st", false)?;
    for n in &mut pair.nodes {
        n.protect = protected;
    }
    let inst = |p| Inst::many(1, p, INTERVAL_MS);
    pair.nodes[1].start(system, &opts.vrrpd, &inst(100), NODE_ADDRS[0])?;
    pair.nodes[0].start(system, &opts.vrrpd, &inst(200), NODE_ADDRS[1])?;
    for (node, cpus) in [(0, master_cpus), (1, backup_cpus)] {
        let pids = pair.nodes[node].pids();
        // keepalived's VRRP work is in its child: pinning only the parent would
        // leave the measured process free to run on the other side's cores.
        let want = if system == System::Keepalived { 2 } else { 1 };
        if pids.len() != want {
            bail!(
                "{} on node {node}: {pids:?}, not {want} processes to pin",
                system.label()
            );
        }
        for pid in pids {
            pin(pid, cpus)?;
        }
    }
    settled(&pair)?;
    let capture = Capture::start(&pair.sw.name, &[NODE_PORTS[0]])?;
    let mut cells = Vec::new();
    for load in Load::ALL {
        let sides: &[Option<Side>] = if load == Load::Idle {
            &[None]
        } else {
            &[Some(Side::Backup), Some(Side::Master)]
        };
        for &side in sides {
            super::check_interrupt()?;
            let cpus = match side {
                Some(Side::Master) => master_cpus,
                _ => backup_cpus,
            };
            println!(
                "-- {}{}: {}{}",
                system.label(),
                if protected { " protected" } else { "" },
                load.label(),
                side.map_or(String::new(), |s| format!(
                    " on the {}'s CPU {cpus}",
                    s.label()
                ))
            );
            let tr0 = pair.nodes[0].transitions()? + pair.nodes[1].transitions()?;
            capture.clear();
            let t0 = Instant::now();
            let hog = Hog::start(load, cpus)?;
            sleep(window)?;
            let window_s = t0.elapsed().as_secs_f64();
            let frames = capture.frames();
            drop(hog);
            sleep(Duration::from_secs(1))?;
            let tr1 = pair.nodes[0].transitions()? + pair.nodes[1].transitions()?;
            let ts: Vec<i64> = frames
                .iter()
                .filter(|f| f.src == NODE_ADDRS[0] && f.priority != 0)
                .map(|f| f.ts_ns)
                .collect();
            let gaps: Vec<f64> = ts.windows(2).map(|w| (w[1] - w[0]) as f64 / 1e6).collect();
            let cell = Cell {
                system,
                protected,
                load,
                side,
                window_s,
                transitions: tr1.saturating_sub(tr0),
                worst_gap_ms: gaps.iter().copied().reduce(f64::max),
                late: gaps
                    .iter()
                    .filter(|g| **g > 2.0 * f64::from(INTERVAL_MS))
                    .count(),
                adverts: ts.len(),
            };
            println!(
                "   {} adverts, worst gap {} ms, {} gaps over {} ms, {} transitions ({:.1}/min)",
                cell.adverts,
                cell.worst_gap_ms.map_or("-".into(), |g| format!("{g:.1}")),
                cell.late,
                2 * INTERVAL_MS,
                cell.transitions,
                cell.transitions_per_min()
            );
            cells.push(cell);
            settled(&pair)
                .with_context(|| format!("after {} on the {:?} side", load.label(), side))?;
        }
    }
    for node in &mut pair.nodes {
        node.stop(Stop::Graceful)?;
    }
    Ok(cells)
}

/// Waits until the master, and only it, holds the VIP.
fn settled(pair: &Pair) -> Result<()> {
    wait_until(
        "the master to hold the VIP alone",
        Duration::from_secs(20),
        Duration::from_millis(20),
        || {
            let held = [pair.nodes[0].vips_on_lo()?, pair.nodes[1].vips_on_lo()?];
            Ok((held == [1, 0]).then_some(()))
        },
    )
}

/// Pins every thread of `pid` to `cpus` (a `taskset` list).
fn pin(pid: u32, cpus: &str) -> Result<()> {
    let out = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .stdout(Stdio::null())
        .output()
        .context("running taskset")?;
    if !out.status.success() {
        bail!(
            "taskset -a -p -c {cpus} {pid}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // Read it back from every thread: the measurement means nothing otherwise.
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let status = std::fs::read_to_string(task?.path().join("status"))?;
        let allowed = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .map(str::trim)
            .unwrap_or("");
        if allowed != cpus {
            bail!("pid {pid}: a thread is allowed CPUs {allowed:?}, not {cpus:?}");
        }
    }
    Ok(())
}

/// The load's processes (children of this process, in the root namespace: load has
/// no network), killed by PID on drop.
struct Hog {
    children: Vec<Child>,
}

impl Hog {
    fn start(load: Load, cpus: &str) -> Result<Hog> {
        let mut hog = Hog {
            children: Vec::new(),
        };
        let busy = ["sh", "-c", "while :; do :; done"];
        let mut argv: Vec<Vec<String>> = Vec::new();
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match load {
            Load::Idle => {}
            Load::Busy { nice } => {
                let nice = nice.to_string();
                for cpu in cpu_list(cpus) {
                    let c = cpu.to_string();
                    let mut v = own(&["nice", "-n", &nice, "taskset", "-c", &c]);
                    v.extend(own(&busy));
                    argv.push(v);
                }
            }
            Load::BusyRealtime => {
                for cpu in cpu_list(cpus) {
                    let c = cpu.to_string();
                    let mut v = own(&["chrt", "-f", "1", "taskset", "-c", &c]);
                    v.extend(own(&busy));
                    argv.push(v);
                }
            }
            Load::Memory => {
                let mib = available_mib()?.saturating_sub(MEMORY_HEADROOM_MIB);
                let me = std::env::current_exe().context("the benchmark's own path")?;
                let mut v = own(&["taskset", "-c", cpus]);
                v.push(me.display().to_string());
                v.extend(own(&["--hog-memory", &mib.to_string()]));
                argv.push(v);
            }
        }
        for v in argv {
            let child = Command::new(&v[0])
                .args(&v[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .with_context(|| format!("starting {v:?}"))?;
            hog.children.push(child);
        }
        Ok(hog)
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn cpu_list(list: &str) -> Vec<usize> {
    let first = list
        .split('-')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    (first..first + cores_in(list)).collect()
}

/// MemAvailable, MiB.
fn available_mib() -> Result<u64> {
    let text = std::fs::read_to_string("/proc/meminfo")?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("MemAvailable in /proc/meminfo")?;
    Ok(kib / 1024)
}

/// The memory hog's body (`vrrp-bench --hog-memory MIB`): the first victim of the
/// OOM killer, it maps `mib` MiB and writes one byte per page, round after round,
/// until it is killed.
pub fn memory_hog(mib: u64) -> Result<()> {
    std::fs::write("/proc/self/oom_score_adj", "1000").context("oom_score_adj")?;
    const PAGE: usize = 4096;
    let len = (mib as usize) << 20;
    let mut buf: Vec<u8> = Vec::new();
    buf.try_reserve_exact(len)
        .with_context(|| format!("reserving {mib} MiB"))?;
    let mut round: u8 = 0;
    loop {
        round = round.wrapping_add(1);
        if buf.len() < len {
            // First round: map page by page (this is where reclaim starts).
            while buf.len() < len {
                let n = (len - buf.len()).min(PAGE);
                buf.extend(std::iter::repeat_n(round, n));
            }
        } else {
            for b in buf.iter_mut().step_by(PAGE) {
                *b = round;
            }
        }
        std::hint::black_box(&buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_lists_name_their_cores() {
        assert_eq!(cores_in("0"), 1);
        assert_eq!(cores_in("2-5"), 4);
        assert_eq!(cpu_list("3"), vec![3]);
        assert_eq!(cpu_list("4-7"), vec![4, 5, 6, 7]);
    }
}

//! Process accounting: CPU time (the kernel's nanosecond per-process clock), peak RSS,
//! context switches and parent PID from /proc, machine-wide CPU from /proc/stat.

use anyhow::{Context, Result};

/// Clock ticks per second of /proc/PID/stat times.
pub fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// Fields of /proc/PID/stat after the command name (field 3 onwards).
fn stat_fields(pid: u32) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name is in parentheses and may contain spaces: split after it.
    let rest = text
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed /proc stat")?;
    Ok(rest.split_whitespace().map(str::to_string).collect())
}

/// CPU time of a process (all its threads, exited ones included), in seconds, from
/// its CPU-time clock (`clock_getcpuclockid`): nanoseconds, where /proc/PID/stat
/// counts clock ticks (10 ms), too coarse for one instance at 1 s adverts. Falls
/// back to utime + stime from /proc/PID/stat.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: clock_getcpuclockid writes the clock id into a variable we own.
    if unsafe { libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) } == 0 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes into the timespec we own.
        if unsafe { libc::clock_gettime(clock, &mut ts) } == 0 {
            return Ok(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9);
        }
    }
    stat_cpu_seconds(pid)
}

/// utime + stime of a process (all its threads) from /proc/PID/stat, in seconds
/// (clock-tick resolution).
pub fn stat_cpu_seconds(pid: u32) -> Result<f64> {
    let f = stat_fields(pid)?;
    // Field 14 (utime) and 15 (stime); `f[0]` is field 3.
    let utime: u64 = f[11].parse()?;
    let stime: u64 = f[12].parse()?;
    Ok((utime + stime) as f64 / clk_tck())
}

/// Parent PID.
pub fn ppid(pid: u32) -> Result<u32> {
    Ok(stat_fields(pid)?[1].parse()?)
}

/// Peak resident set size (VmHWM), in KiB.
pub fn peak_rss_kib(pid: u32) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let line = text
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("bad VmHWM")?
        .parse()?)
}

/// Voluntary context switches of a process so far, summed over its live threads:
/// how often it went to sleep and was woken again. Involuntary switches
/// (preemption by other work on the machine) are left out: they measure the
/// machine's load, not the daemon.
pub fn wakeups(pid: u32) -> Result<u64> {
    let mut n = 0;
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .with_context(|| format!("reading /proc/{pid}/task"))?;
    for t in tasks.flatten() {
        let Ok(text) = std::fs::read_to_string(t.path().join("status")) else {
            continue; // the thread exited meanwhile
        };
        for l in text.lines() {
            if let Some(v) = l.strip_prefix("voluntary_ctxt_switches:") {
                n += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    Ok(n)
}

/// Machine-wide CPU time from /proc/stat, seconds summed over all cores.
#[derive(Clone, Copy, Debug, Default)]
pub struct MachineCpu {
    /// user + nice + system + irq + softirq + steal.
    pub busy_s: f64,
    /// softirq alone (where XDP programs and packet receive run).
    pub softirq_s: f64,
}

impl MachineCpu {
    pub fn read() -> Result<MachineCpu> {
        let text = std::fs::read_to_string("/proc/stat")?;
        let line = text.lines().next().context("empty /proc/stat")?;
        let v: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        let get = |i: usize| v.get(i).copied().unwrap_or(0);
        // user nice system idle iowait irq softirq steal ...
        let busy = get(0) + get(1) + get(2) + get(5) + get(6) + get(7);
        Ok(MachineCpu {
            busy_s: busy as f64 / clk_tck(),
            softirq_s: get(6) as f64 / clk_tck(),
        })
    }

    /// Cores kept busy between `self` and `later`, over `window_s` seconds.
    pub fn cores_since(&self, later: &MachineCpu, window_s: f64) -> MachineCpu {
        MachineCpu {
            busy_s: (later.busy_s - self.busy_s) / window_s,
            softirq_s: (later.softirq_s - self.softirq_s) / window_s,
        }
    }
}

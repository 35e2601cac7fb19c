//! The kernel's share of a daemon's work: the run time of the BPF programs it holds
//! (vrrpd's XDP program), as the kernel's BPF statistics count it.
//!
//! The kernel only counts program run time (`run_time_ns`, `run_cnt`) while its BPF
//! statistics are on. [`StatsOn`] turns them on with `BPF_ENABLE_STATS`, which holds
//! them on for as long as the returned file descriptor is open: the kernel itself
//! turns them off again when the harness exits, however it exits, and the
//! `kernel.bpf_stats_enabled` sysctl is left as it was. Only where that command is
//! missing does it fall back to writing the sysctl, restoring the old value on drop.
//!
//! A daemon's programs are found through its own file descriptors: every
//! `anon_inode:bpf-prog` and `anon_inode:bpf_link` descriptor names its program's id in
//! /proc/PID/fdinfo. The harness opens each program by id (`BPF_PROG_GET_FD_BY_ID`)
//! and reads the counters from its own fdinfo, so no struct layout is assumed and no
//! tool (bpftool) is needed.

use std::{
    collections::BTreeSet,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use anyhow::{Context, Result, bail};

const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_ENABLE_STATS: libc::c_long = 32;
const BPF_STATS_RUN_TIME: u32 = 0;
const SYSCTL: &str = "/proc/sys/kernel/bpf_stats_enabled";

/// `bpf(2)` with a zeroed attribute block whose first word is `word0`.
fn bpf_cmd(cmd: libc::c_long, word0: u32) -> std::io::Result<OwnedFd> {
    // Large enough for both commands' attributes; the kernel checks the unused
    // tail is zero.
    let mut attr = [0u8; 64];
    attr[..4].copy_from_slice(&word0.to_ne_bytes());
    // SAFETY: bpf(2) reads `attr.len()` bytes from a buffer we own.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_mut_ptr(),
            attr.len() as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: on success bpf(2) returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// BPF run-time statistics on, for as long as this lives.
pub struct StatsOn {
    /// The `BPF_ENABLE_STATS` descriptor (statistics on while it is open).
    _fd: Option<OwnedFd>,
    /// The sysctl's old value, when the fallback had to write it.
    restore: Option<String>,
    /// How they were turned on, for the report.
    pub how: &'static str,
}

impl StatsOn {
    pub fn enable() -> Result<StatsOn> {
        match bpf_cmd(BPF_ENABLE_STATS, BPF_STATS_RUN_TIME) {
            Ok(fd) => Ok(StatsOn {
                _fd: Some(fd),
                restore: None,
                how: "BPF_ENABLE_STATS (kernel.bpf_stats_enabled left as it was)",
            }),
            Err(e) => {
                let old = std::fs::read_to_string(SYSCTL)
                    .with_context(|| format!("BPF_ENABLE_STATS failed ({e}) and reading {SYSCTL}"))?
                    .trim()
                    .to_string();
                if old != "1" {
                    std::fs::write(SYSCTL, "1").with_context(|| format!("writing {SYSCTL}"))?;
                }
                Ok(StatsOn {
                    _fd: None,
                    restore: (old != "1").then_some(old),
                    how: "kernel.bpf_stats_enabled = 1 (restored afterwards)",
                })
            }
        }
    }
}

impl Drop for StatsOn {
    fn drop(&mut self) {
        if let Some(old) = &self.restore {
            let _ = std::fs::write(SYSCTL, old);
        }
    }
}

/// Run-time counters of a set of programs (sums).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgStats {
    /// Programs found.
    pub progs: u32,
    /// Total run time while statistics were on, ns.
    pub run_ns: u64,
    /// Runs counted while statistics were on.
    pub runs: u64,
}

impl std::ops::AddAssign for ProgStats {
    fn add_assign(&mut self, o: ProgStats) {
        self.progs += o.progs;
        self.run_ns += o.run_ns;
        self.runs += o.runs;
    }
}

impl ProgStats {
    /// The change from `earlier` to `self` (programs: the later count).
    pub fn since(&self, earlier: &ProgStats) -> ProgStats {
        ProgStats {
            progs: self.progs,
            run_ns: self.run_ns.saturating_sub(earlier.run_ns),
            runs: self.runs.saturating_sub(earlier.runs),
        }
    }

    /// Mean run time per program run, ns.
    pub fn ns_per_run(&self) -> Option<f64> {
        (self.runs > 0).then(|| self.run_ns as f64 / self.runs as f64)
    }
}

/// `key:\tvalue` lines of an fdinfo file.
fn fdinfo_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

/// Ids of the BPF programs process `pid` holds (directly or through a link).
pub fn prog_ids(pid: u32) -> Result<BTreeSet<u32>> {
    let mut ids = BTreeSet::new();
    let dir = format!("/proc/{pid}/fd");
    for e in std::fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
        let Ok(e) = e else { continue };
        let Ok(target) = std::fs::read_link(e.path()) else {
            continue; // closed meanwhile
        };
        let t = target.to_string_lossy();
        if t != "anon_inode:bpf-prog" && t != "anon_inode:bpf_link" {
            continue;
        }
        let info = format!("/proc/{pid}/fdinfo/{}", e.file_name().to_string_lossy());
        if let Some(id) = std::fs::read_to_string(&info)
            .ok()
            .and_then(|text| fdinfo_field(&text, "prog_id"))
        {
            ids.insert(id as u32);
        }
    }
    Ok(ids)
}

/// The counters of program `id`, opened by id in this process.
fn stats_of_id(id: u32) -> Result<ProgStats> {
    let fd = bpf_cmd(BPF_PROG_GET_FD_BY_ID, id)
        .with_context(|| format!("BPF_PROG_GET_FD_BY_ID {id}"))?;
    let path = format!("/proc/self/fdinfo/{}", fd.as_raw_fd());
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let (Some(run_ns), Some(runs)) = (
        fdinfo_field(&text, "run_time_ns"),
        fdinfo_field(&text, "run_cnt"),
    ) else {
        bail!("{path} has no run_time_ns/run_cnt (kernel older than 5.1?)");
    };
    Ok(ProgStats {
        progs: 1,
        run_ns,
        runs,
    })
}

/// Summed counters of every BPF program process `pid` holds (none: zeros).
pub fn prog_stats(pid: u32) -> Result<ProgStats> {
    let mut total = ProgStats::default();
    for id in prog_ids(pid)? {
        total += stats_of_id(id)?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_fields() {
        let t = "pos:\t0\nflags:\t02000002\nprog_type:\t6\nprog_id:\t42\nrun_time_ns:\t1234\nrun_cnt:\t7\n";
        assert_eq!(fdinfo_field(t, "prog_id"), Some(42));
        assert_eq!(fdinfo_field(t, "run_time_ns"), Some(1234));
        assert_eq!(fdinfo_field(t, "run_cnt"), Some(7));
        assert_eq!(fdinfo_field(t, "prog"), None);
        let a = ProgStats {
            progs: 1,
            run_ns: 5000,
            runs: 10,
        };
        let d = a.since(&ProgStats {
            progs: 1,
            run_ns: 1000,
            runs: 2,
        });
        assert_eq!((d.run_ns, d.runs), (4000, 8));
        assert_eq!(d.ns_per_run(), Some(500.0));
        assert_eq!(ProgStats::default().ns_per_run(), None);
    }
}

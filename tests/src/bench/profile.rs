//! Where a daemon's CPU time goes: a flat `perf` profile (user and kernel symbols of
//! its own processes), taken after a measurement window so it does not perturb the
//! measured figures.
//!
//! `perf record -e task-clock -c PERIOD` takes a sample every [`PERIOD_NS`] of the
//! daemon's own CPU time (a software event: works in a VM without a PMU). A fixed
//! period, not a frequency: a daemon that runs in short bursts gets a sample count
//! proportional to its CPU time, where frequency mode undersamples it. Samples land
//! in the daemon's own context only (`-p`): softirq work the kernel did while the
//! daemon was running shows up (the kernel charges it to whoever it interrupted), XDP
//! runs on behalf of other tasks do not.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context, Result, bail};

/// Entries kept per profile.
pub const TOP: usize = 12;
/// CPU time between samples, ns.
pub const PERIOD_NS: u64 = 250_000;

/// One line of a flat profile.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Share of the profile's samples, %.
    pub pct: f64,
    /// `vrrpd`, `[kernel.kallsyms]`, `libc.so.6`, ...
    pub dso: String,
    pub symbol: String,
}

/// A flat profile of one daemon (one end of a pair).
#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub samples: u64,
    pub seconds: f64,
    /// The largest entries, largest first.
    pub top: Vec<Entry>,
    /// Share of all samples in kernel code, %.
    pub kernel_pct: f64,
}

impl Profile {
    /// Share of one core the samples stand for.
    pub fn cpu_pct(&self) -> f64 {
        self.samples as f64 * PERIOD_NS as f64 * 1e-9 / self.seconds.max(1e-9) * 100.0
    }
}

/// Whether `perf` can be run.
pub fn available() -> bool {
    Command::new("perf")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Kills a perf we started if it is still running.
struct Recorder(Child);

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Profiles each target (a label and its PIDs) for `dur`, all at once; one
/// profile per target, in order. Files go under `dir`.
pub fn record(targets: &[(&str, Vec<u32>)], dur: Duration, dir: &Path) -> Result<Vec<Profile>> {
    if !available() {
        bail!("perf is not installed (apt-get install linux-perf)");
    }
    let secs = format!("{:.1}", dur.as_secs_f64());
    let mut running = Vec::new();
    for (label, pids) in targets {
        let data = dir.join(format!("perf-{label}.data"));
        let pid_list = pids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let child = Command::new("perf")
            .args([
                "record",
                "-q",
                "-e",
                "task-clock",
                "-c",
                &PERIOD_NS.to_string(),
            ])
            .arg("-o")
            .arg(&data)
            .args(["-p", &pid_list, "--", "sleep", &secs])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("spawning perf record")?;
        running.push((Recorder(child), data));
    }
    let mut out = Vec::new();
    for (mut rec, data) in running {
        // perf stops itself after `sleep`; a Ctrl-C meanwhile reaches it too.
        let status = rec.0.wait()?;
        let mut err = String::new();
        if let Some(mut e) = rec.0.stderr.take() {
            use std::io::Read as _;
            let _ = e.read_to_string(&mut err);
        }
        if !status.success() && !data.exists() {
            bail!("perf record failed ({status}): {}", err.trim());
        }
        super::check_interrupt()?;
        let report = Command::new("perf")
            .args(["report", "--stdio", "--no-children", "--sort", "dso,sym"])
            .arg("-i")
            .arg(&data)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .context("running perf report")?;
        let _ = std::fs::remove_file(&data);
        let mut p = parse(&String::from_utf8_lossy(&report.stdout));
        p.seconds = dur.as_secs_f64();
        out.push(p);
    }
    Ok(out)
}

/// Parses `perf report --stdio --no-children --sort dso,sym` output.
pub fn parse(text: &str) -> Profile {
    let mut p = Profile::default();
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("# Samples:") {
            // "# Samples: 944  of event 'task-clock'" (rounded: "1K", "12K").
            if p.samples == 0 {
                let n = rest.split_whitespace().next().unwrap_or("0");
                p.samples = match n.strip_suffix('K') {
                    Some(k) => (k.parse::<f64>().unwrap_or(0.0) * 1000.0) as u64,
                    None => n.parse().unwrap_or(0),
                };
            }
            continue;
        }
        if let Some(rest) = l.strip_prefix("# Event count (approx.):") {
            // task-clock counts nanoseconds: the exact sample count is the event
            // count over the period (the Samples line is rounded to thousands).
            if let Ok(ns) = rest.trim().parse::<u64>() {
                p.samples = ns / PERIOD_NS;
            }
            continue;
        }
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        // "16.21%  libc.so.6  [.] __strcmp_evex"
        let Some((pct, rest)) = l.split_once('%') else {
            continue;
        };
        let Ok(pct) = pct.trim().parse::<f64>() else {
            continue;
        };
        let rest = rest.trim_start();
        let (dso, sym) = match rest.find(" [") {
            Some(i) => (rest[..i].trim(), rest[i..].trim()),
            None => (rest, ""),
        };
        // "[.] user symbol", "[k] kernel symbol".
        if sym.starts_with("[k]") || dso.contains("kernel") {
            p.kernel_pct += pct;
        }
        if p.top.len() >= TOP {
            continue;
        }
        let sym = sym
            .strip_prefix("[.]")
            .or_else(|| sym.strip_prefix("[k]"))
            .unwrap_or(sym)
            .trim();
        p.top.push(Entry {
            pct,
            dso: dso.to_string(),
            symbol: sym.to_string(),
        });
    }
    p
}

/// A symbol short enough for a table cell: generic parameters and hashes dropped.
pub fn short_symbol(s: &str) -> String {
    // `<Type as Trait>::method` keeps its outer brackets; generic arguments go.
    let keep = usize::from(s.starts_with('<'));
    let mut out = String::new();
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '<' => {
                depth += 1;
                if depth <= keep {
                    out.push(c);
                }
            }
            '>' => {
                if depth <= keep {
                    out.push(c);
                }
                depth = depth.saturating_sub(1);
            }
            _ if depth <= keep => out.push(c),
            _ => {}
        }
    }
    // Legacy Rust mangling leaves "::h0123456789abcdef".
    if let Some(i) = out.rfind("::h")
        && out[i + 3..].len() == 16
        && out[i + 3..].chars().all(|c| c.is_ascii_hexdigit())
    {
        out.truncate(i);
    }
    let out = out.replace('|', "\\|");
    if out.chars().count() > 100 {
        format!("{}...", out.chars().take(100).collect::<String>())
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_perf_report() {
        let text = "# To display the perf.data header info, please use --header/--header-only options.\n\
                    #\n# Total Lost Samples: 0\n#\n# Samples: 1K of event 'task-clock'\n\
                    # Event count (approx.): 308000000\n#\n# Overhead  Shared Object  Symbol\n\
                    # ........  .............  ......\n#\n\
                    \x20   16.21%  vrrpd              [.] vrrp_user::daemon::Controller::input\n\
                    \x20    6.25%  [kernel.kallsyms]  [k] _raw_spin_unlock_irqrestore\n\
                    \x20    0.10%  libc.so.6          [.] malloc\n";
        let p = parse(text);
        assert_eq!(p.samples, 1232);
        assert_eq!(p.top.len(), 3);
        assert_eq!(p.top[0].dso, "vrrpd");
        assert_eq!(p.top[0].symbol, "vrrp_user::daemon::Controller::input");
        assert_eq!(p.top[1].dso, "[kernel.kallsyms]");
        assert!((p.kernel_pct - 6.25).abs() < 1e-9);
        assert_eq!(
            short_symbol("<tokio::X<A> as core::F>::poll::h0123456789abcdef"),
            "<tokio::X as core::F>::poll"
        );
        assert_eq!(
            short_symbol("alloc::vec::Vec<T>::push::h0123456789abcdef"),
            "alloc::vec::Vec::push"
        );
    }
}

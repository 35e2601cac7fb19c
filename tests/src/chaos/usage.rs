//! A daemon's resident memory and open descriptors, for the leak check: each
//! daemon's first reading after its first settled fault against its last.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// RSS growth over a daemon's life that counts as a leak (the daemon is a few MiB).
pub const RSS_SLACK_KIB: u64 = 4096;
/// Descriptor growth that counts as a leak (a hook or `nft` child's pipes may be
/// open at a reading).
pub const FD_SLACK: u64 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub rss_kib: u64,
    pub fds: u64,
}

impl Usage {
    pub fn of(pid: u32) -> Result<Usage> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .context("no VmRSS")?;
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .with_context(|| format!("reading /proc/{pid}/fd"))?
            .count() as u64;
        Ok(Usage { rss_kib, fds })
    }
}

/// One daemon process from its start to its stop.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Life {
    pub node: String,
    pub pid: u32,
    /// The step during which it started (None: before the first).
    pub from_step: Option<usize>,
    /// Faults it ran through (readings taken).
    pub faults: u32,
    pub first: Option<Usage>,
    pub last: Option<Usage>,
    #[serde(skip)]
    pub running: bool,
}

impl Life {
    pub fn new(node: String, pid: u32, from_step: Option<usize>) -> Life {
        Life {
            node,
            pid,
            from_step,
            faults: 0,
            first: None,
            last: None,
            running: true,
        }
    }

    pub fn read(&mut self) {
        if let Ok(u) = Usage::of(self.pid) {
            if self.first.is_none() {
                self.first = Some(u);
            } else {
                self.last = Some(u);
                self.faults += 1;
            }
        }
    }

    /// A leak, if the life was long enough to tell (three faults or more).
    pub fn leak(&self) -> Option<String> {
        let (Some(a), Some(b)) = (self.first, self.last) else {
            return None;
        };
        if self.faults < 3 {
            return None;
        }
        let mut v = Vec::new();
        if b.rss_kib > a.rss_kib + RSS_SLACK_KIB {
            v.push(format!("RSS {} -> {} KiB", a.rss_kib, b.rss_kib));
        }
        if b.fds > a.fds + FD_SLACK {
            v.push(format!("open fds {} -> {}", a.fds, b.fds));
        }
        (!v.is_empty()).then(|| {
            format!(
                "{}'s daemon (pid {}) grew over {} faults: {}",
                self.node,
                self.pid,
                self.faults,
                v.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leak_needs_growth_and_a_long_life() {
        let mut l = Life::new("A".into(), 1, None);
        l.first = Some(Usage {
            rss_kib: 5000,
            fds: 20,
        });
        l.last = Some(Usage {
            rss_kib: 5100,
            fds: 30,
        });
        l.faults = 2;
        assert!(l.leak().is_none());
        l.faults = 3;
        assert!(l.leak().unwrap().contains("open fds 20 -> 30"));
        l.last = Some(Usage {
            rss_kib: 5100,
            fds: 22,
        });
        assert!(l.leak().is_none());
    }

    #[test]
    fn reads_this_process() {
        let u = Usage::of(std::process::id()).unwrap();
        assert!(u.rss_kib > 0 && u.fds > 2);
    }
}

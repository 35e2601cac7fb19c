//! What a chaos run records: one [`Episode`] per fault and the [`RunLog`] written as
//! JSON, from which `--replay` runs the same steps again.

use std::{collections::BTreeMap, path::Path};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::{fault::Kind, schedule::Step, usage::Life};

/// The client's view of an episode.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct ClientFigures {
    pub sent: usize,
    pub lost: usize,
    /// Longest run of lost probes, ms.
    pub outage_ms: f64,
    pub answered_twice: usize,
    /// Probes lost once the lab had settled.
    pub lost_after_settle: usize,
    /// False when the holder had `accept_mode = false` at some point of the
    /// episode (it must then drop what the client sends to the VIP, by RFC 9568),
    /// so losses are not judged.
    pub judged: bool,
}

/// CLOCK_MONOTONIC instants of an episode, ns.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Times {
    pub fault: u64,
    pub heal: u64,
    pub settled: Option<u64>,
    pub end: u64,
}

/// One fault, injected, held, undone and settled.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Episode {
    pub step: Step,
    /// The fault with its roles resolved.
    pub what: String,
    /// The node it acted on, if one.
    pub node: Option<String>,
    /// Seconds from the start of the run.
    pub at_s: f64,
    pub hold_ms: f64,
    /// The settle bound (VRRP + routing), ms.
    pub bound_ms: f64,
    /// From undoing the fault to the lab settled, ms.
    pub settle_ms: Option<f64>,
    pub holder_after: Option<String>,
    pub split_brain_ms: f64,
    pub no_holder_ms: f64,
    pub client: ClientFigures,
    /// (ms from the fault, what happened).
    pub timeline: Vec<(f64, String)>,
    pub violations: Vec<String>,
    /// What the routing recipe did while VRRP stayed settled: the router lost the
    /// route with one node holding the VIP throughout, a session was down once the
    /// lab had settled, or a route came late because a session was down (BFD at
    /// 10 ms x 3 on a loaded VM). Reported, not violations.
    #[serde(default)]
    pub routing_flaps: Vec<String>,
    /// The router lost the route after the lab had settled (the client's losses
    /// after settling are then routing's).
    #[serde(default)]
    pub route_lost: bool,
    pub times: Times,
}

/// A whole run, as written to the JSON log.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunLog {
    pub seed: u64,
    pub recipe: String,
    pub interval_ms: u64,
    pub minutes: f64,
    /// The steps run, in order: what `--replay` runs again.
    pub steps: Vec<Step>,
    pub episodes: Vec<Episode>,
    pub lives: Vec<Life>,
    /// Checks after the last stop (leftovers), each "ok: ..." or "FAILED: ...".
    pub end_checks: Vec<String>,
    /// Violations outside any episode (start, end, leaks).
    pub violations: Vec<String>,
    /// An error that stopped the run early, if any.
    pub error: Option<String>,
}

impl RunLog {
    pub fn counts(&self) -> BTreeMap<Kind, usize> {
        let mut m = BTreeMap::new();
        for e in &self.episodes {
            *m.entry(e.step.fault.kind()).or_insert(0) += 1;
        }
        m
    }

    /// Every violation of the run, episodes first.
    pub fn all_violations(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .episodes
            .iter()
            .flat_map(|e| {
                e.violations
                    .iter()
                    .map(move |v| format!("step {} ({}): {v}", e.step.index, e.what))
            })
            .collect();
        v.extend(self.violations.iter().cloned());
        if let Some(e) = &self.error {
            v.push(format!("run stopped: {e}"));
        }
        v
    }

    pub fn passed(&self) -> bool {
        self.all_violations().is_empty()
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }

    pub fn read(path: &Path) -> Result<RunLog> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::schedule::Schedule;

    #[test]
    fn log_round_trips_its_steps() {
        let log = RunLog {
            seed: 9,
            steps: Schedule::new(9).take(50).collect(),
            ..Default::default()
        };
        let dir = crate::tmp::TempDir::new("chaoslog");
        let p = dir.path().join("run.json");
        log.write(&p).unwrap();
        let back = RunLog::read(&p).unwrap();
        assert_eq!(back.steps, log.steps);
        assert!(back.passed());
    }
}

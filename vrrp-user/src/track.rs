//! Tracked scripts and files, which move an instance's effective priority
//! or put it in FAULT. (Interfaces are tracked from netlink elsewhere.)
//!
//! Each tracker is a task that sends a [`TrackEvent`] when, and only when,
//! its effect changes; the first known result is always sent. Weights are
//! the core's [`TrackWeight`] (keepalived's sign convention): a positive
//! delta is added while the object is up, a negative one while it is down,
//! and [`TrackWeight::Fault`] means "down puts the instance in FAULT".
//!
//! Clamping, at two levels: a single tracker's delta lies in
//! ±[`MAX_DELTA`] (configuration rejects weights outside it, [`weight`]
//! clamps to it, and [`file_effect`] clamps value × weight to it once);
//! the core then clamps the summed priority to 1..=254.
//!
//! * Script: run every `interval` (killed at `timeout`). Exit status 0 is a
//!   success; anything else, a timeout or a failure to start is a failure.
//!   The first result sets the state, so start-up is not delayed by `rise`
//!   runs; after that `fall` consecutive failures take it down and `rise`
//!   consecutive successes bring it back ([`Hysteresis`]). Weight 0 means
//!   FAULT when down.
//! * File: read every `interval`; it holds one integer (surrounding
//!   whitespace ignored). See [`file_effect`] for the rules. Write it by
//!   rename, not in place, so a reader never sees it half written.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::hooks::exec::{self, ExecSpec, ExitKind, RunAs};

pub use vrrp_core::router::TrackWeight;

/// Largest priority change one tracker makes; more could not matter, as
/// priorities run 1..=254. Configuration accepts weights in ±`MAX_DELTA`.
pub const MAX_DELTA: i16 = 254;

/// The [`TrackWeight`] of a configured weight: 0 means FAULT, anything else
/// is a delta clamped to ±[`MAX_DELTA`] (validated weights already are).
pub fn weight(weight: i16) -> TrackWeight {
    match weight {
        0 => TrackWeight::Fault,
        w => TrackWeight::Delta(w.clamp(-MAX_DELTA, MAX_DELTA)),
    }
}

/// A tracker's new state.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrackEvent {
    pub name: String,
    pub up: bool,
    pub weight: TrackWeight,
}

/// A periodic check command.
#[derive(Debug, Clone)]
pub struct ScriptSpec {
    pub name: String,
    /// argv, run without a shell.
    pub command: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    /// 0 means FAULT when down.
    pub weight: i16,
    pub run_as: Option<RunAs>,
}

/// A file holding an integer.
#[derive(Debug, Clone)]
pub struct FileSpec {
    pub name: String,
    pub path: PathBuf,
    pub weight: i16,
    /// How often the file is read.
    pub interval: Duration,
}

/// Up/down state with keepalived's rise/fall counting.
#[derive(Debug, Clone)]
pub struct Hysteresis {
    rise: u32,
    fall: u32,
    up: Option<bool>,
    /// Consecutive results disagreeing with the current state.
    streak: u32,
}

impl Hysteresis {
    /// `rise` and `fall` below 1 are taken as 1.
    pub fn new(rise: u32, fall: u32) -> Hysteresis {
        Hysteresis {
            rise: rise.max(1),
            fall: fall.max(1),
            up: None,
            streak: 0,
        }
    }

    /// The current state; `None` before the first result.
    pub fn state(&self) -> Option<bool> {
        self.up
    }

    /// Feeds one result; returns the new state if it changed (including the
    /// first result, which sets it).
    pub fn record(&mut self, ok: bool) -> Option<bool> {
        let Some(up) = self.up else {
            self.up = Some(ok);
            return self.up;
        };
        if ok == up {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if up { self.fall } else { self.rise };
        if self.streak < needed {
            return None;
        }
        self.streak = 0;
        self.up = Some(ok);
        self.up
    }
}

/// What a read of a tracked file means, as `(up, weight)`; `contents` is
/// `None` when the file could not be read:
///
/// * weight 0: the value 0 is up; any other value is down, and down is FAULT;
/// * weight w ≠ 0: value × w (clamped to ±[`MAX_DELTA`]) is the priority
///   change, reported as up when ≥ 0 and down when negative, so that with
///   the sign convention the change always applies;
/// * a missing or unreadable file, or one not holding an integer, is down
///   like a failed script: FAULT with weight 0, else the negative weight
///   applies (a positive weight is withheld).
pub fn file_effect(contents: Option<&str>, weight: i16) -> (bool, TrackWeight) {
    let value = contents.and_then(|s| s.trim().parse::<i64>().ok());
    match (value, weight) {
        (None, w) => (false, self::weight(w)),
        (Some(v), 0) => (v == 0, TrackWeight::Fault),
        (Some(v), w) => {
            let max = i64::from(MAX_DELTA);
            let delta = v.saturating_mul(i64::from(w)).clamp(-max, max) as i16;
            (delta >= 0, TrackWeight::Delta(delta))
        }
    }
}

/// Starts a script tracker. It stops within an interval of `events` being
/// closed, or when the handle is aborted (a running check is then killed
/// with its process group).
pub fn spawn_script(spec: ScriptSpec, events: mpsc::Sender<TrackEvent>) -> JoinHandle<()> {
    tokio::spawn(run_script(spec, events))
}

async fn run_script(spec: ScriptSpec, events: mpsc::Sender<TrackEvent>) {
    let weight = weight(spec.weight);
    let mut state = Hysteresis::new(spec.rise, spec.fall);
    let exec = ExecSpec {
        argv: spec.command.clone(),
        env: Vec::new(),
        timeout: spec.timeout,
        run_as: spec.run_as.clone(),
        capture: false,
    };
    let mut tick = tokio::time::interval(spec.interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if events.is_closed() {
            return;
        }
        let result = exec::run(&exec).await;
        let Some(up) = state.record(result.exit.success()) else {
            continue;
        };
        log_script(&spec.name, up, &result.exit);
        let event = TrackEvent {
            name: spec.name.clone(),
            up,
            weight,
        };
        if events.send(event).await.is_err() {
            return;
        }
    }
}

fn log_script(name: &str, up: bool, last: &ExitKind) {
    if up {
        tracing::info!(track = name, "track script up");
    } else {
        tracing::warn!(track = name, "track script down (last run: {last})");
    }
}

/// Starts a file tracker; stops like [`spawn_script`].
pub fn spawn_file(spec: FileSpec, events: mpsc::Sender<TrackEvent>) -> JoinHandle<()> {
    tokio::spawn(run_file(spec, events))
}

async fn run_file(spec: FileSpec, events: mpsc::Sender<TrackEvent>) {
    let mut last: Option<(bool, TrackWeight)> = None;
    let mut tick = tokio::time::interval(spec.interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if events.is_closed() {
            return;
        }
        let contents = read_small(&spec.path).await;
        let now = file_effect(contents.as_deref().ok(), spec.weight);
        if last == Some(now) {
            continue;
        }
        last = Some(now);
        log_file(&spec, now, &contents);
        let event = TrackEvent {
            name: spec.name.clone(),
            up: now.0,
            weight: now.1,
        };
        if events.send(event).await.is_err() {
            return;
        }
    }
}

/// Reads at most a few bytes: an integer file is tiny, and a wrong path
/// pointing at something huge must not cost memory.
async fn read_small(path: &Path) -> io::Result<String> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path).await?;
    let mut buf = Vec::new();
    file.take(64).read_to_end(&mut buf).await?;
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn log_file(spec: &FileSpec, (up, weight): (bool, TrackWeight), contents: &io::Result<String>) {
    let path = spec.path.display();
    match contents {
        Err(e) => tracing::warn!(track = %spec.name, %path, "track file down: {e}"),
        Ok(s) if s.trim().parse::<i64>().is_err() => {
            tracing::warn!(track = %spec.name, %path, "track file down: not an integer: {:?}", s.trim())
        }
        Ok(s) => tracing::info!(
            track = %spec.name, %path, value = s.trim(), up, ?weight,
            "track file changed"
        ),
    }
}

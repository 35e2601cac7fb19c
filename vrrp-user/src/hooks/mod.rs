//! State hooks: commands run when an instance changes state.
//!
//! [`HookRunner::spawn`] never blocks: the run is queued and the caller goes
//! back to the election. Each instance has its own queue worked in order,
//! so a backup hook never overtakes the master hook before it (a route
//! script seeing "backup" then "master" would leave the route in place);
//! different instances run in parallel. Each finished run is logged and
//! reported as a [`HookOutcome`] on the channel returned by
//! [`HookRunner::new`], for metrics.
//!
//! The command gets, on top of the daemon's environment:
//! `VRRPD_INSTANCE`, `VRRPD_VRID`, `VRRPD_STATE`, `VRRPD_PREV_STATE` and
//! `VRRPD_REASON`. It runs in its own process group, killed as a whole at
//! the timeout (see [`exec`]).

pub mod exec;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use thiserror::Error;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

pub use exec::{Captured, ExitKind, RunAs, UserError};

/// One hook run to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRequest {
    pub instance: String,
    pub vrid: u8,
    /// State entered, e.g. "master"; passed through as `VRRPD_STATE`.
    pub state: String,
    /// State left; `VRRPD_PREV_STATE`.
    pub prev_state: String,
    /// Why, e.g. "master_down_timer_expired"; `VRRPD_REASON`.
    pub reason: String,
    /// argv from the configuration. A shell line is
    /// `["/bin/sh", "-c", "..."]` (see [`shell`]).
    pub command: Vec<String>,
    pub timeout: Duration,
}

/// argv that runs `line` with `/bin/sh -c`.
pub fn shell(line: &str) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), line.into()]
}

/// How a hook run went.
#[derive(Debug, Clone)]
pub struct HookOutcome {
    pub request: HookRequest,
    pub exit: ExitKind,
    pub duration: Duration,
    /// Start of stdout/stderr (see [`exec::OUTPUT_LIMIT`]).
    pub stdout: Captured,
    pub stderr: Captured,
}

impl HookOutcome {
    pub fn timed_out(&self) -> bool {
        self.exit == ExitKind::TimedOut
    }
}

/// How many hook runs of one instance may wait behind the running one. A flapping
/// instance queues one per transition; past this the newest are dropped and counted.
pub const QUEUE: usize = 32;

/// The instance's hook queue was full: the run was dropped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("hook queue of instance {instance:?} is full ({QUEUE} waiting): {state} hook dropped")]
pub struct QueueFull {
    pub instance: String,
    pub state: String,
}

/// Queues and runs hooks; one worker task per instance.
pub struct HookRunner {
    handle: Handle,
    run_as: Option<RunAs>,
    results: mpsc::UnboundedSender<HookOutcome>,
    queues: Mutex<HashMap<String, mpsc::Sender<HookRequest>>>,
}

impl HookRunner {
    /// Must be called inside a tokio runtime; the runner keeps its handle so
    /// [`spawn`](Self::spawn) works from any thread. Outcomes arrive on the
    /// returned receiver, which the daemon should drain (dropping it is
    /// fine: outcomes are then only logged).
    pub fn new(run_as: Option<RunAs>) -> (HookRunner, mpsc::UnboundedReceiver<HookOutcome>) {
        let (results, rx) = mpsc::unbounded_channel();
        let runner = HookRunner {
            handle: Handle::current(),
            run_as,
            results,
            queues: Mutex::default(),
        };
        (runner, rx)
    }

    /// Queues `req` behind the instance's earlier hooks and returns at once; a full
    /// queue drops it and says so.
    pub fn spawn(&self, req: HookRequest) -> Result<(), QueueFull> {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        let tx = queues.entry(req.instance.clone()).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            self.handle
                .spawn(worker(rx, self.run_as.clone(), self.results.clone()));
            tx
        });
        // The worker only stops when this sender is dropped.
        tx.try_send(req).map_err(|e| {
            let req = e.into_inner();
            QueueFull {
                instance: req.instance,
                state: req.state,
            }
        })
    }
}

async fn worker(
    mut queue: mpsc::Receiver<HookRequest>,
    run_as: Option<RunAs>,
    results: mpsc::UnboundedSender<HookOutcome>,
) {
    while let Some(req) = queue.recv().await {
        let outcome = run_one(req, run_as.clone()).await;
        log(&outcome);
        let _ = results.send(outcome);
    }
}

async fn run_one(request: HookRequest, run_as: Option<RunAs>) -> HookOutcome {
    let env = vec![
        ("VRRPD_INSTANCE".to_owned(), request.instance.clone()),
        ("VRRPD_VRID".to_owned(), request.vrid.to_string()),
        ("VRRPD_STATE".to_owned(), request.state.clone()),
        ("VRRPD_PREV_STATE".to_owned(), request.prev_state.clone()),
        ("VRRPD_REASON".to_owned(), request.reason.clone()),
    ];
    let spec = exec::ExecSpec {
        argv: request.command.clone(),
        env,
        timeout: request.timeout,
        run_as,
        capture: true,
    };
    let r = exec::run(&spec).await;
    HookOutcome {
        request,
        exit: r.exit,
        duration: r.duration,
        stdout: r.stdout,
        stderr: r.stderr,
    }
}

fn log(o: &HookOutcome) {
    let r = &o.request;
    let program = r.command.first().map(String::as_str).unwrap_or("");
    let ms = o.duration.as_millis() as u64;
    if o.exit.success() {
        tracing::info!(
            instance = %r.instance, state = %r.state, program, duration_ms = ms,
            stdout = %o.stdout, stderr = %o.stderr,
            "hook finished"
        );
    } else {
        tracing::warn!(
            instance = %r.instance, state = %r.state, program, duration_ms = ms,
            stdout = %o.stdout, stderr = %o.stderr,
            "hook failed: {}", o.exit
        );
    }
}

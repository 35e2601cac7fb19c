//! The status socket: the daemon serves a JSON [`StatusSnapshot`] on a Unix
//! stream socket, and `vrrpd status` reads and renders it.
//!
//! The protocol is the simplest that works with `socat`: connect, read one
//! JSON document (one line), the server closes. The snapshot types are also
//! what [`crate::metrics`] renders, so status and metrics cannot disagree.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Read as _};
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// The default socket path (the config's default too).
pub const DEFAULT_SOCKET: &str = "/run/vrrpd/vrrpd.sock";

/// A slow or stuck client gets this long to take its snapshot.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long `vrrpd status` waits for the daemon's answer.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything `vrrpd status` and the metrics endpoint show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusSnapshot {
    pub daemon: DaemonInfo,
    pub instances: Vec<InstanceStatus>,
    /// Datapath verdict counters by reason (`advert`, `bad_ttl`, ...).
    #[serde(default)]
    pub counters: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonInfo {
    pub version: String,
    pub pid: u32,
    /// Datapath in use: "xdp" or "socket".
    pub datapath: String,
    pub uptime_s: u64,
}

/// An instance's state: the core's own type (serialized lowercase).
pub use vrrp_core::router::State;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub name: String,
    pub vrid: u8,
    pub state: State,
    /// Configured priority.
    pub priority: u8,
    /// Priority after tracked objects' weights.
    pub effective_priority: u8,
    /// Primary address of the current master, if known (ours when master).
    #[serde(default)]
    pub master: Option<IpAddr>,
    pub adverts_sent: u64,
    pub adverts_received: u64,
    #[serde(default)]
    pub last_transition: Option<TransitionInfo>,
    /// Detection time of the latest failover (backup to master because the
    /// master went silent), kept when later transitions are of other kinds.
    #[serde(default)]
    pub failover_detection_s: Option<f64>,
    /// Transitions since start, by target state and reason.
    #[serde(default)]
    pub transitions: Vec<TransitionCount>,
    /// Jitter of the master's adverts, from kernel receive timestamps.
    #[serde(default)]
    pub jitter: Option<JitterStats>,
    /// Advert copies (one per destination) that could not be sent.
    #[serde(default)]
    pub send_errors: u64,
    /// Received adverts the state machine dropped (wrong VRID or version, our own,
    /// interval or address-list mismatch).
    #[serde(default)]
    pub adverts_ignored: u64,
    /// Kernel changes (VIPs, routes, GARP) dropped on a full queue, then resynced.
    #[serde(default)]
    pub kernel_dropped: u64,
    #[serde(default)]
    pub hooks: HookCounts,
}

/// How an instance's hooks went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HookCounts {
    pub ok: u64,
    pub failed: u64,
    pub timed_out: u64,
    /// Not run: the instance's hook queue was full.
    pub dropped: u64,
}

impl HookCounts {
    /// Counts one finished run.
    pub fn record(&mut self, exit: &crate::hooks::ExitKind) {
        match exit {
            e if e.success() => self.ok += 1,
            crate::hooks::ExitKind::TimedOut => self.timed_out += 1,
            _ => self.failed += 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransitionInfo {
    /// Wall-clock time of the change, ms since the Unix epoch.
    pub at_unix_ms: u64,
    pub from: State,
    pub to: State,
    /// The rule that fired, snake_case (e.g. `master_down_timer_expired`).
    pub reason: String,
    /// Time from the last advert heard to the change, when the change was
    /// caused by the master going silent.
    #[serde(default)]
    pub detection_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionCount {
    pub to: State,
    pub reason: String,
    pub count: u64,
}

/// Jitter of the followed master's adverts, kept by the datapath (see
/// `vrrp_common::follow::Jitter`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct JitterStats {
    /// Smoothed mean deviation from the expected arrival, seconds.
    pub mean_s: f64,
    /// Largest deviation seen, seconds.
    pub max_s: f64,
    pub samples: u64,
}

/// Errors starting the server.
#[derive(Debug, Error)]
pub enum StatusError {
    #[error("cannot create {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("another vrrpd is already serving {path}")]
    InUse { path: PathBuf },
    #[error("{path} exists and is not a socket; refusing to replace it")]
    NotASocket { path: PathBuf },
    #[error("cannot listen on {path}: {source}")]
    Bind { path: PathBuf, source: io::Error },
}

/// A running status server. Dropping it stops serving and removes the
/// socket file (unless something else has replaced it since).
pub struct StatusServer {
    path: PathBuf,
    inode: (u64, u64),
    task: JoinHandle<()>,
}

impl StatusServer {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StatusServer {
    fn drop(&mut self) {
        self.task.abort();
        if let Ok(m) = std::fs::symlink_metadata(&self.path)
            && (m.dev(), m.ino()) == self.inode
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Where the status and metrics servers get the snapshot they serve: any
/// `Fn() -> StatusSnapshot` (a `watch` channel's latest value with
/// `move || rx.borrow().clone()`, a fixed one in tests), or [`OnRead`].
pub trait Snapshots: Send + Sync + 'static {
    fn snapshot(&self) -> impl Future<Output = StatusSnapshot> + Send;
}

impl<F> Snapshots for F
where
    F: Fn() -> StatusSnapshot + Send + Sync + 'static,
{
    fn snapshot(&self) -> impl Future<Output = StatusSnapshot> + Send {
        std::future::ready(self())
    }
}

/// How long a reader waits for the daemon's loop to build its snapshot before it
/// takes the last one built.
const BUILD_WAIT: Duration = Duration::from_secs(1);

/// Snapshots built when someone reads them, not on a timer: each reader asks the
/// daemon's event loop (which owns the state) for a fresh one through `requests`.
/// If the loop does not answer within a second (it has stopped, at shutdown),
/// the reader gets `last`, the last snapshot the loop published.
#[derive(Clone)]
pub struct OnRead {
    requests: mpsc::Sender<oneshot::Sender<StatusSnapshot>>,
    last: watch::Receiver<StatusSnapshot>,
}

impl OnRead {
    pub fn new(
        requests: mpsc::Sender<oneshot::Sender<StatusSnapshot>>,
        last: watch::Receiver<StatusSnapshot>,
    ) -> OnRead {
        OnRead { requests, last }
    }
}

impl Snapshots for OnRead {
    async fn snapshot(&self) -> StatusSnapshot {
        let ask = async {
            let (tx, rx) = oneshot::channel();
            self.requests.send(tx).await.ok()?;
            rx.await.ok()
        };
        match tokio::time::timeout(BUILD_WAIT, ask).await {
            Ok(Some(s)) => s,
            _ => self.last.borrow().clone(),
        }
    }
}

/// Binds `path` (creating its directory, replacing a stale socket left by a
/// crashed daemon, mode 0660) and serves `provider`'s snapshot to every client.
pub async fn serve<F: Snapshots>(path: &Path, provider: F) -> Result<StatusServer, StatusError> {
    let path = path.to_path_buf();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(|source| StatusError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
    }
    remove_stale(&path).await?;
    let bind_err = |source| StatusError::Bind {
        path: path.clone(),
        source,
    };
    let listener = UnixListener::bind(&path).map_err(bind_err)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660)).map_err(bind_err)?;
    let m = std::fs::symlink_metadata(&path).map_err(bind_err)?;
    let provider = Arc::new(provider);
    let task = tokio::spawn(accept_loop(listener, provider));
    Ok(StatusServer {
        path,
        inode: (m.dev(), m.ino()),
        task,
    })
}

/// A socket file nobody answers on is left over from a crash: remove it.
/// One that answers belongs to a running daemon; anything else is not ours.
async fn remove_stale(path: &Path) -> Result<(), StatusError> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Err(StatusError::NotASocket {
            path: path.to_path_buf(),
        });
    }
    if UnixStream::connect(path).await.is_ok() {
        return Err(StatusError::InUse {
            path: path.to_path_buf(),
        });
    }
    tracing::info!(path = %path.display(), "removing stale status socket");
    std::fs::remove_file(path).map_err(|source| StatusError::Bind {
        path: path.to_path_buf(),
        source,
    })
}

async fn accept_loop<F: Snapshots>(listener: UnixListener, provider: Arc<F>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let provider = provider.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(WRITE_TIMEOUT, answer(stream, &*provider)).await;
                });
            }
            Err(e) => {
                // EMFILE and the like: back off rather than spin.
                tracing::warn!("status socket accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn answer<F: Snapshots>(mut stream: UnixStream, provider: &F) {
    let mut json = match serde_json::to_vec(&provider.snapshot().await) {
        Ok(j) => j,
        Err(e) => {
            tracing::warn!("cannot encode the status snapshot: {e}");
            return;
        }
    };
    json.push(b'\n');
    let _ = stream.write_all(&json).await;
    let _ = stream.shutdown().await;
}

/// Errors of `vrrpd status`.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("no vrrpd running: cannot connect to {path}: {source}")]
    NotRunning { path: PathBuf, source: io::Error },
    #[error("cannot connect to {path}: {source}")]
    Connect { path: PathBuf, source: io::Error },
    #[error("cannot read the status from {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("the status from {path} is not valid: {source}")]
    Decode {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Connects and returns the JSON text as the daemon sent it (for `--json`).
/// Blocking: the CLI needs no runtime for this.
pub fn fetch_raw(path: &Path) -> Result<String, ClientError> {
    let mut stream = std::os::unix::net::UnixStream::connect(path).map_err(|source| {
        let path = path.to_path_buf();
        match source.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                ClientError::NotRunning { path, source }
            }
            _ => ClientError::Connect { path, source },
        }
    })?;
    let read_err = |source| ClientError::Read {
        path: path.to_path_buf(),
        source,
    };
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .map_err(read_err)?;
    let mut text = String::new();
    stream.read_to_string(&mut text).map_err(read_err)?;
    Ok(text)
}

/// Connects and decodes the snapshot.
pub fn fetch(path: &Path) -> Result<StatusSnapshot, ClientError> {
    let text = fetch_raw(path)?;
    serde_json::from_str(&text).map_err(|source| ClientError::Decode {
        path: path.to_path_buf(),
        source,
    })
}

/// The human view of `vrrpd status`. `now` makes "5m 2s ago" testable.
pub fn render_table(s: &StatusSnapshot, now: SystemTime) -> String {
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let d = &s.daemon;
    let mut out = format!(
        "vrrpd {}, pid {}, up {}, datapath {}\n\n",
        d.version,
        d.pid,
        fmt_secs(d.uptime_s),
        d.datapath
    );

    if s.instances.is_empty() {
        out.push_str("no instances\n");
    } else {
        let mut rows = vec![
            [
                "INSTANCE",
                "VRID",
                "STATE",
                "PRIORITY",
                "MASTER",
                "SENT",
                "RECEIVED",
                "LAST TRANSITION",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for i in &s.instances {
            let priority = if i.effective_priority == i.priority {
                i.priority.to_string()
            } else {
                format!("{} (base {})", i.effective_priority, i.priority)
            };
            rows.push(vec![
                i.name.clone(),
                i.vrid.to_string(),
                i.state.as_str().to_uppercase(),
                priority,
                i.master.map_or_else(|| "-".into(), |a| a.to_string()),
                i.adverts_sent.to_string(),
                i.adverts_received.to_string(),
                i.last_transition
                    .as_ref()
                    .map_or_else(|| "-".into(), |t| fmt_transition(t, now_ms)),
            ]);
        }
        out.push_str(&table(&rows));
        let problems: Vec<String> = s.instances.iter().filter_map(problems).collect();
        if !problems.is_empty() {
            out.push_str("\nattention:\n");
            for p in problems {
                let _ = writeln!(out, "  {p}");
            }
        }
    }

    if s.counters.is_empty() {
        let _ = writeln!(out, "\ndatapath verdicts ({}): none", d.datapath);
    } else {
        let _ = writeln!(out, "\ndatapath verdicts ({}):", d.datapath);
        let rows: Vec<Vec<String>> = s
            .counters
            .iter()
            .map(|(k, v)| vec![format!("  {k}"), v.to_string()])
            .collect();
        out.push_str(&table(&rows));
    }
    out
}

/// What went wrong for an instance, in words; `None` when nothing did.
fn problems(i: &InstanceStatus) -> Option<String> {
    let h = &i.hooks;
    let parts: Vec<String> = [
        (i.send_errors, "adverts not sent"),
        (i.adverts_ignored, "adverts ignored"),
        (i.kernel_dropped, "kernel changes dropped (resynced)"),
        (h.failed, "hooks failed"),
        (h.timed_out, "hooks timed out"),
        (h.dropped, "hooks dropped"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    (!parts.is_empty()).then(|| format!("{}: {}", i.name, parts.join(", ")))
}

fn fmt_transition(t: &TransitionInfo, now_ms: u64) -> String {
    let ago = fmt_secs(now_ms.saturating_sub(t.at_unix_ms) / 1000);
    let mut s = format!(
        "{} -> {} {ago} ago ({}",
        t.from.as_str(),
        t.to.as_str(),
        t.reason
    );
    if let Some(d) = t.detection_s {
        let _ = write!(s, ", detected in {d:.3}s");
    }
    s.push(')');
    s
}

/// "3d 4h", "1h 2m", "5m 2s", "7s": the two largest units are enough.
fn fmt_secs(s: u64) -> String {
    let units = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let Some(first) = units.iter().position(|(n, _)| s >= *n) else {
        return "0s".into();
    };
    let (n1, u1) = units[first];
    let mut out = format!("{}{u1}", s / n1);
    if let Some(&(n2, u2)) = units.get(first + 1) {
        let rest = s % n1 / n2;
        if rest > 0 {
            let _ = write!(out, " {rest}{u2}");
        }
    }
    out
}

/// Left-aligned columns two spaces apart; the last column is not padded.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

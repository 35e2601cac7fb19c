//! Prometheus metrics (text exposition format 0.0.4) over a minimal HTTP/1.1
//! server, rendered from the same [`StatusSnapshot`] as the status socket.
//!
//! The server answers `GET` (and `HEAD`) `/metrics` and closes each
//! connection after one response: a scraper every few seconds needs no
//! keep-alive, and this keeps the server a page of code with no HTTP crate.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::status::{Snapshots, State, StatusSnapshot};

/// The content type of format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A client gets this long to send its request and take the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest request head read; a scrape's is a few hundred bytes.
const MAX_REQUEST: usize = 8192;

/// Renders the snapshot as Prometheus text. Families without samples are
/// left out.
pub fn render(s: &StatusSnapshot) -> String {
    let mut out = String::new();
    let d = &s.daemon;
    family(
        &mut out,
        "vrrpd_info",
        "vrrpd version and the datapath in use.",
        "gauge",
        [(
            labels(&[("version", &d.version), ("datapath", &d.datapath)]),
            "1".to_owned(),
        )],
    );
    family(
        &mut out,
        "vrrpd_uptime_seconds",
        "Seconds since vrrpd started.",
        "gauge",
        [(String::new(), d.uptime_s.to_string())],
    );
    family(
        &mut out,
        "vrrpd_instance_state",
        "1 for the instance's current state, 0 for the others.",
        "gauge",
        s.instances.iter().flat_map(|i| {
            State::ALL.map(|st| {
                (
                    labels(&[("instance", &i.name), ("state", st.as_str())]),
                    u8::from(i.state == st).to_string(),
                )
            })
        }),
    );
    let per_instance = |f: &dyn Fn(&crate::status::InstanceStatus) -> Option<String>| {
        s.instances
            .iter()
            .filter_map(|i| Some((labels(&[("instance", &i.name)]), f(i)?)))
            .collect::<Vec<_>>()
    };
    family(
        &mut out,
        "vrrpd_instance_priority",
        "Effective priority: the configured one plus tracked objects' weights.",
        "gauge",
        per_instance(&|i| Some(i.effective_priority.to_string())),
    );
    family(
        &mut out,
        "vrrpd_instance_configured_priority",
        "Priority from the configuration.",
        "gauge",
        per_instance(&|i| Some(i.priority.to_string())),
    );
    family(
        &mut out,
        "vrrpd_adverts_sent_total",
        "Adverts sent.",
        "counter",
        per_instance(&|i| Some(i.adverts_sent.to_string())),
    );
    family(
        &mut out,
        "vrrpd_adverts_received_total",
        "Adverts received and accepted by the datapath.",
        "counter",
        per_instance(&|i| Some(i.adverts_received.to_string())),
    );
    family(
        &mut out,
        "vrrpd_advert_send_errors_total",
        "Advert copies (one per destination) that could not be sent.",
        "counter",
        per_instance(&|i| Some(i.send_errors.to_string())),
    );
    family(
        &mut out,
        "vrrpd_adverts_ignored_total",
        "Received adverts the state machine dropped (VRID, version, own, interval or address mismatch).",
        "counter",
        per_instance(&|i| Some(i.adverts_ignored.to_string())),
    );
    family(
        &mut out,
        "vrrpd_kernel_work_dropped_total",
        "Kernel changes dropped on a full per-instance queue (the instance then resyncs).",
        "counter",
        per_instance(&|i| Some(i.kernel_dropped.to_string())),
    );
    family(
        &mut out,
        "vrrpd_hooks_total",
        "Hook runs by outcome: ok, failed, timed_out, or dropped on a full queue.",
        "counter",
        s.instances.iter().flat_map(|i| {
            let h = i.hooks;
            [
                ("ok", h.ok),
                ("failed", h.failed),
                ("timed_out", h.timed_out),
                ("dropped", h.dropped),
            ]
            .map(|(outcome, n)| {
                (
                    labels(&[("instance", &i.name), ("outcome", outcome)]),
                    n.to_string(),
                )
            })
        }),
    );
    family(
        &mut out,
        "vrrpd_transitions_total",
        "State changes by target state and reason.",
        "counter",
        s.instances.iter().flat_map(|i| {
            i.transitions.iter().map(|t| {
                (
                    labels(&[
                        ("instance", &i.name),
                        ("to", t.to.as_str()),
                        ("reason", &t.reason),
                    ]),
                    t.count.to_string(),
                )
            })
        }),
    );
    family(
        &mut out,
        "vrrpd_failover_detection_seconds",
        "Latest failover: time from the last advert heard to taking over.",
        "gauge",
        per_instance(&|i| i.failover_detection_s.map(float)),
    );
    family(
        &mut out,
        "vrrpd_advert_jitter_seconds",
        "Smoothed deviation of advert arrivals from the advert interval (RFC 3550 style).",
        "gauge",
        per_instance(&|i| i.jitter.map(|j| float(j.mean_s))),
    );
    family(
        &mut out,
        "vrrpd_advert_jitter_max_seconds",
        "Largest deviation of an advert arrival from the advert interval.",
        "gauge",
        per_instance(&|i| i.jitter.map(|j| float(j.max_s))),
    );
    family(
        &mut out,
        "vrrpd_datapath_packets_total",
        "Packets classified by the datapath, by verdict reason.",
        "counter",
        s.counters
            .iter()
            .map(|(reason, n)| (labels(&[("reason", reason)]), n.to_string())),
    );
    out
}

/// Writes one metric family: HELP, TYPE and its samples (`labels`, value).
fn family(
    out: &mut String,
    name: &str,
    help: &str,
    kind: &str,
    samples: impl IntoIterator<Item = (String, String)>,
) {
    let mut samples = samples.into_iter().peekable();
    if samples.peek().is_none() {
        return;
    }
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// `{k="v",...}` with values escaped as the format requires (`\\`, `\"`,
/// `\n`).
fn labels(pairs: &[(&str, &str)]) -> String {
    let mut s = String::from("{");
    for (n, (k, v)) in pairs.iter().enumerate() {
        if n > 0 {
            s.push(',');
        }
        let _ = write!(s, "{k}=\"");
        for c in v.chars() {
            match c {
                '\\' => s.push_str("\\\\"),
                '"' => s.push_str("\\\""),
                '\n' => s.push_str("\\n"),
                c => s.push(c),
            }
        }
        s.push('"');
    }
    s.push('}');
    s
}

/// A float as the format spells it (`+Inf`, `-Inf`, `NaN`).
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

#[derive(Debug, Error)]
pub enum MetricsError {
    #[error("cannot listen for metrics on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
}

/// A running metrics server; dropping it stops serving.
pub struct MetricsServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// The bound address (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Listens on `addr` and serves [`render`] of `provider`'s snapshot at `/metrics`.
pub async fn serve<F: Snapshots>(
    addr: SocketAddr,
    provider: F,
) -> Result<MetricsServer, MetricsError> {
    let bind_err = |source| MetricsError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
    let addr = listener.local_addr().map_err(bind_err)?;
    let provider = Arc::new(provider);
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let provider = provider.clone();
                    tokio::spawn(async move {
                        let _ =
                            tokio::time::timeout(CLIENT_TIMEOUT, answer(stream, &*provider)).await;
                    });
                }
                Err(e) => {
                    tracing::warn!("metrics accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(MetricsServer { addr, task })
}

async fn answer<F: Snapshots>(mut stream: TcpStream, provider: &F) -> io::Result<()> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
        if head.len() > MAX_REQUEST {
            let status = "431 Request Header Fields Too Large";
            return respond(&mut stream, status, "text/plain", "", false).await;
        }
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let head_only = method == "HEAD";
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let body = render(&provider.snapshot().await);
            respond(&mut stream, "200 OK", CONTENT_TYPE, &body, head_only).await
        }
        ("GET" | "HEAD", _) => {
            let body = "try /metrics\n";
            respond(&mut stream, "404 Not Found", "text/plain", body, head_only).await
        }
        _ => {
            respond(
                &mut stream,
                "405 Method Not Allowed",
                "text/plain",
                "",
                false,
            )
            .await
        }
    }
}

/// Writes a whole response and closes the connection.
async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
    head_only: bool,
) -> io::Result<()> {
    let mut msg = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
        body.len()
    );
    if status.starts_with("405") {
        msg.push_str("Allow: GET, HEAD\r\n");
    }
    msg.push_str("\r\n");
    if !head_only {
        msg.push_str(body);
    }
    stream.write_all(msg.as_bytes()).await?;
    stream.shutdown().await
}

//! Status socket, `vrrpd status` rendering, Prometheus text and its HTTP
//! endpoint, and the advert jitter tracker.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};
use vrrp_common::{WireAddr, follow::Jitter};
use vrrp_tests::tmp::TempDir;
use vrrp_user::metrics;
use vrrp_user::status::{
    self, ClientError, DaemonInfo, HookCounts, InstanceStatus, JitterStats, OnRead, Snapshots,
    State, StatusError, StatusSnapshot, TransitionCount, TransitionInfo,
};

const NOW_MS: u64 = 1_700_000_000_000;

fn snapshot() -> StatusSnapshot {
    StatusSnapshot {
        daemon: DaemonInfo {
            version: "0.1.0".into(),
            pid: 4242,
            datapath: "xdp".into(),
            uptime_s: 3725,
        },
        instances: vec![
            InstanceStatus {
                name: "vi_1".into(),
                vrid: 51,
                state: State::Master,
                priority: 100,
                effective_priority: 100,
                master: Some("10.1.1.1".parse().unwrap()),
                adverts_sent: 1200,
                adverts_received: 3,
                last_transition: Some(TransitionInfo {
                    at_unix_ms: NOW_MS - 125_000,
                    from: State::Backup,
                    to: State::Master,
                    reason: "master_down_timer_expired".into(),
                    detection_s: Some(1.012),
                }),
                failover_detection_s: Some(1.012),
                transitions: vec![
                    TransitionCount {
                        to: State::Backup,
                        reason: "startup".into(),
                        count: 1,
                    },
                    TransitionCount {
                        to: State::Master,
                        reason: "master_down_timer_expired".into(),
                        count: 2,
                    },
                ],
                jitter: Some(JitterStats {
                    mean_s: 0.0015,
                    max_s: 0.004,
                    samples: 40,
                }),
                send_errors: 2,
                adverts_ignored: 1,
                kernel_dropped: 0,
                hooks: HookCounts {
                    ok: 3,
                    failed: 1,
                    timed_out: 0,
                    dropped: 0,
                },
            },
            InstanceStatus {
                name: "vi_2".into(),
                vrid: 52,
                state: State::Backup,
                priority: 100,
                effective_priority: 90,
                master: Some("10.1.2.1".parse().unwrap()),
                adverts_sent: 0,
                adverts_received: 500,
                last_transition: None,
                failover_detection_s: None,
                transitions: vec![],
                jitter: None,
                send_errors: 0,
                adverts_ignored: 0,
                kernel_dropped: 4,
                hooks: HookCounts::default(),
            },
        ],
        counters: BTreeMap::from([("advert".into(), 1503), ("bad_ttl".into(), 2)]),
    }
}

#[test]
fn table() {
    let now = UNIX_EPOCH + Duration::from_millis(NOW_MS);
    let want = "\
vrrpd 0.1.0, pid 4242, up 1h 2m, datapath xdp

INSTANCE  VRID  STATE   PRIORITY       MASTER    SENT  RECEIVED  LAST TRANSITION
vi_1      51    MASTER  100            10.1.1.1  1200  3         backup -> master 2m 5s ago (master_down_timer_expired, detected in 1.012s)
vi_2      52    BACKUP  90 (base 100)  10.1.2.1  0     500       -

attention:
  vi_1: 2 adverts not sent, 1 adverts ignored, 1 hooks failed
  vi_2: 4 kernel changes dropped (resynced)

datapath verdicts (xdp):
  advert   1503
  bad_ttl  2
";
    assert_eq!(status::render_table(&snapshot(), now), want);

    let mut empty = snapshot();
    empty.instances.clear();
    empty.counters.clear();
    empty.daemon.uptime_s = 0;
    assert_eq!(
        status::render_table(&empty, now),
        "vrrpd 0.1.0, pid 4242, up 0s, datapath xdp\n\nno instances\n\n\
         datapath verdicts (xdp): none\n"
    );
}

#[test]
fn json_round_trip_and_old_daemons() {
    let s = snapshot();
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains(r#""state":"master""#), "{json}");
    assert_eq!(serde_json::from_str::<StatusSnapshot>(&json).unwrap(), s);
    // Optional parts may be missing (an older daemon).
    let minimal = r#"{"daemon":{"version":"0.1.0","pid":1,"datapath":"socket","uptime_s":5},
        "instances":[{"name":"a","vrid":1,"state":"backup","priority":100,
        "effective_priority":100,"adverts_sent":0,"adverts_received":0}]}"#;
    let m: StatusSnapshot = serde_json::from_str(minimal).unwrap();
    assert!(m.counters.is_empty() && m.instances[0].transitions.is_empty());
}

#[tokio::test]
async fn serves_the_snapshot_on_a_fresh_socket() {
    let dir = TempDir::new("status");
    let path = dir.path().join("run/vrrpd/vrrpd.sock");
    let (tx, rx) = watch::channel(snapshot());
    let server = status::serve(&path, move || rx.borrow().clone())
        .await
        .unwrap();
    assert_eq!(server.path(), path);
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);

    let p = path.clone();
    let got = tokio::task::spawn_blocking(move || status::fetch(&p))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, snapshot());

    // The daemon's latest state is what clients see.
    tx.send_modify(|s| s.daemon.uptime_s = 99);
    let p = path.clone();
    let raw = tokio::task::spawn_blocking(move || status::fetch_raw(&p))
        .await
        .unwrap()
        .unwrap();
    assert!(
        raw.ends_with("}\n") && raw.contains(r#""uptime_s":99"#),
        "{raw}"
    );

    drop(server);
    assert!(!path.exists(), "socket file left behind");
}

/// Built on read: each reader gets a snapshot the loop builds for it (exact
/// counters, nothing built while nobody reads); once the loop stops answering, the
/// last one it published.
#[tokio::test]
async fn on_read_asks_the_loop_and_falls_back_to_the_last_published() {
    let (req_tx, mut req_rx) = mpsc::channel::<oneshot::Sender<StatusSnapshot>>(4);
    let (last_tx, last_rx) = watch::channel(snapshot());
    let source = OnRead::new(req_tx, last_rx);
    let dir = TempDir::new("status");
    let path = dir.path().join("vrrpd.sock");
    let server = status::serve(&path, source.clone()).await.unwrap();
    // The "loop": answers two reads with a counter it bumps per build.
    let lp = tokio::spawn(async move {
        for built in 1..=2u64 {
            let reply = req_rx.recv().await.unwrap();
            let mut s = snapshot();
            s.instances[0].adverts_sent = built;
            let _ = reply.send(s);
        }
        // Stops: requests fail from now on.
    });
    for want in [1, 2] {
        let p = path.clone();
        let got = tokio::task::spawn_blocking(move || status::fetch(&p))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.instances[0].adverts_sent, want, "built for this read");
    }
    lp.await.unwrap();
    last_tx.send_modify(|s| s.daemon.uptime_s = 7);
    let got = source.snapshot().await;
    assert_eq!(got.daemon.uptime_s, 7, "the last published one");
    drop(server);
}

#[tokio::test]
async fn replaces_a_stale_socket_but_not_a_live_one_or_a_file() {
    let dir = TempDir::new("status");
    let path = dir.path().join("vrrpd.sock");
    // A crashed daemon's socket: the file stays, nobody listens.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let server = status::serve(&path, snapshot).await.unwrap();

    let second = status::serve(&path, snapshot).await;
    assert!(
        matches!(second, Err(StatusError::InUse { .. })),
        "{:?}",
        second.err()
    );
    // The first server still answers.
    let p = path.clone();
    tokio::task::spawn_blocking(move || status::fetch(&p))
        .await
        .unwrap()
        .unwrap();
    drop(server);

    std::fs::write(&path, "precious").unwrap();
    let err = status::serve(&path, snapshot).await.err().unwrap();
    assert!(matches!(err, StatusError::NotASocket { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}

#[test]
fn client_says_when_no_daemon_runs() {
    let dir = TempDir::new("status");
    let path = dir.path().join("vrrpd.sock");
    let err = status::fetch(&path).unwrap_err();
    assert!(matches!(err, ClientError::NotRunning { .. }));
    let msg = err.to_string();
    let prefix = format!("no vrrpd running: cannot connect to {}: ", path.display());
    assert!(msg.starts_with(&prefix), "{msg}");

    // A socket nobody listens on (the daemon crashed) says the same.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let err = status::fetch(&path).unwrap_err();
    assert!(matches!(err, ClientError::NotRunning { .. }), "{err}");
}

#[test]
fn client_rejects_garbage() {
    let dir = TempDir::new("status");
    let path = dir.path().join("vrrpd.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let t = std::thread::spawn(move || {
        use std::io::Write;
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(b"hello\n").unwrap();
    });
    let err = status::fetch(&path).unwrap_err();
    assert!(matches!(err, ClientError::Decode { .. }), "{err}");
    t.join().unwrap();
}

const METRICS: &str = r#"# HELP vrrpd_info vrrpd version and the datapath in use.
# TYPE vrrpd_info gauge
vrrpd_info{version="0.1.0",datapath="xdp"} 1
# HELP vrrpd_uptime_seconds Seconds since vrrpd started.
# TYPE vrrpd_uptime_seconds gauge
vrrpd_uptime_seconds 3725
# HELP vrrpd_instance_state 1 for the instance's current state, 0 for the others.
# TYPE vrrpd_instance_state gauge
vrrpd_instance_state{instance="vi_1",state="initialize"} 0
vrrpd_instance_state{instance="vi_1",state="backup"} 0
vrrpd_instance_state{instance="vi_1",state="master"} 1
vrrpd_instance_state{instance="vi_1",state="fault"} 0
vrrpd_instance_state{instance="vi_2",state="initialize"} 0
vrrpd_instance_state{instance="vi_2",state="backup"} 1
vrrpd_instance_state{instance="vi_2",state="master"} 0
vrrpd_instance_state{instance="vi_2",state="fault"} 0
# HELP vrrpd_instance_priority Effective priority: the configured one plus tracked objects' weights.
# TYPE vrrpd_instance_priority gauge
vrrpd_instance_priority{instance="vi_1"} 100
vrrpd_instance_priority{instance="vi_2"} 90
# HELP vrrpd_instance_configured_priority Priority from the configuration.
# TYPE vrrpd_instance_configured_priority gauge
vrrpd_instance_configured_priority{instance="vi_1"} 100
vrrpd_instance_configured_priority{instance="vi_2"} 100
# HELP vrrpd_adverts_sent_total Adverts sent.
# TYPE vrrpd_adverts_sent_total counter
vrrpd_adverts_sent_total{instance="vi_1"} 1200
vrrpd_adverts_sent_total{instance="vi_2"} 0
# HELP vrrpd_adverts_received_total Adverts received and accepted by the datapath.
# TYPE vrrpd_adverts_received_total counter
vrrpd_adverts_received_total{instance="vi_1"} 3
vrrpd_adverts_received_total{instance="vi_2"} 500
# HELP vrrpd_advert_send_errors_total Advert copies (one per destination) that could not be sent.
# TYPE vrrpd_advert_send_errors_total counter
vrrpd_advert_send_errors_total{instance="vi_1"} 2
vrrpd_advert_send_errors_total{instance="vi_2"} 0
# HELP vrrpd_adverts_ignored_total Received adverts the state machine dropped (VRID, version, own, interval or address mismatch).
# TYPE vrrpd_adverts_ignored_total counter
vrrpd_adverts_ignored_total{instance="vi_1"} 1
vrrpd_adverts_ignored_total{instance="vi_2"} 0
# HELP vrrpd_kernel_work_dropped_total Kernel changes dropped on a full per-instance queue (the instance then resyncs).
# TYPE vrrpd_kernel_work_dropped_total counter
vrrpd_kernel_work_dropped_total{instance="vi_1"} 0
vrrpd_kernel_work_dropped_total{instance="vi_2"} 4
# HELP vrrpd_hooks_total Hook runs by outcome: ok, failed, timed_out, or dropped on a full queue.
# TYPE vrrpd_hooks_total counter
vrrpd_hooks_total{instance="vi_1",outcome="ok"} 3
vrrpd_hooks_total{instance="vi_1",outcome="failed"} 1
vrrpd_hooks_total{instance="vi_1",outcome="timed_out"} 0
vrrpd_hooks_total{instance="vi_1",outcome="dropped"} 0
vrrpd_hooks_total{instance="vi_2",outcome="ok"} 0
vrrpd_hooks_total{instance="vi_2",outcome="failed"} 0
vrrpd_hooks_total{instance="vi_2",outcome="timed_out"} 0
vrrpd_hooks_total{instance="vi_2",outcome="dropped"} 0
# HELP vrrpd_transitions_total State changes by target state and reason.
# TYPE vrrpd_transitions_total counter
vrrpd_transitions_total{instance="vi_1",to="backup",reason="startup"} 1
vrrpd_transitions_total{instance="vi_1",to="master",reason="master_down_timer_expired"} 2
# HELP vrrpd_failover_detection_seconds Latest failover: time from the last advert heard to taking over.
# TYPE vrrpd_failover_detection_seconds gauge
vrrpd_failover_detection_seconds{instance="vi_1"} 1.012
# HELP vrrpd_advert_jitter_seconds Smoothed deviation of advert arrivals from the advert interval (RFC 3550 style).
# TYPE vrrpd_advert_jitter_seconds gauge
vrrpd_advert_jitter_seconds{instance="vi_1"} 0.0015
# HELP vrrpd_advert_jitter_max_seconds Largest deviation of an advert arrival from the advert interval.
# TYPE vrrpd_advert_jitter_max_seconds gauge
vrrpd_advert_jitter_max_seconds{instance="vi_1"} 0.004
# HELP vrrpd_datapath_packets_total Packets classified by the datapath, by verdict reason.
# TYPE vrrpd_datapath_packets_total counter
vrrpd_datapath_packets_total{reason="advert"} 1503
vrrpd_datapath_packets_total{reason="bad_ttl"} 2
"#;

#[test]
fn prometheus_text() {
    assert_eq!(metrics::render(&snapshot()), METRICS);
}

#[test]
fn prometheus_escapes_labels_and_special_floats() {
    let mut s = snapshot();
    s.daemon.version = "1.0 \"rc\"".into();
    s.instances.truncate(1);
    s.instances[0].name = "a\\b\"c\nd".into();
    s.instances[0].failover_detection_s = Some(f64::INFINITY);
    s.instances[0].jitter = Some(JitterStats {
        mean_s: f64::NAN,
        max_s: f64::NEG_INFINITY,
        samples: 0,
    });
    s.counters = BTreeMap::new();
    let text = metrics::render(&s);
    assert!(
        text.contains(r#"vrrpd_info{version="1.0 \"rc\"",datapath="xdp"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"vrrpd_adverts_sent_total{instance="a\\b\"c\nd"} 1200"#),
        "{text}"
    );
    assert!(text.contains(r#"vrrpd_failover_detection_seconds{instance="a\\b\"c\nd"} +Inf"#));
    assert!(text.contains(r#"vrrpd_advert_jitter_seconds{instance="a\\b\"c\nd"} NaN"#));
    assert!(text.contains(r#"vrrpd_advert_jitter_max_seconds{instance="a\\b\"c\nd"} -Inf"#));
    // No samples, no family.
    assert!(!text.contains("vrrpd_datapath_packets_total"), "{text}");
    // Every line is a comment or `name{labels} value`: no raw newline leaked.
    for line in text.lines() {
        assert!(
            line.starts_with("# ") || line.starts_with("vrrpd_"),
            "{line:?}"
        );
    }
}

async fn http(addr: std::net::SocketAddr, request: &str) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("no answer within 10s")
        .unwrap();
    let text = String::from_utf8(buf).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("no header end");
    (head.to_owned(), body.to_owned())
}

#[tokio::test]
async fn metrics_over_http() {
    let server = metrics::serve("127.0.0.1:0".parse().unwrap(), snapshot)
        .await
        .unwrap();
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);

    let (head, body) = http(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(
        head,
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close",
            METRICS.len()
        )
    );
    assert_eq!(body, METRICS);

    // Request head split across writes, with a query string.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metrics?x=1 HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.write_all(b"Host: x\r\n\r\n").await.unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    assert!(buf.starts_with("HTTP/1.1 200 OK\r\n") && buf.ends_with(METRICS));

    let (head, body) = http(addr, "HEAD /metrics HTTP/1.1\r\n\r\n").await;
    assert!(head.contains(&format!("Content-Length: {}", METRICS.len())));
    assert_eq!(body, "");

    let (head, _) = http(addr, "GET / HTTP/1.1\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");
    let (head, _) = http(addr, "POST /metrics HTTP/1.1\r\n\r\n").await;
    assert!(
        head.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{head}"
    );
    assert!(head.contains("Allow: GET, HEAD"), "{head}");

    drop(server);
    // Closing is asynchronous: wait for it (bounded), not a fixed time.
    let start = std::time::Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still listening 5 s after the server was dropped"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn metrics_bind_error_names_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = metrics::serve(addr, snapshot).await.err().unwrap();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot listen for metrics on {addr}: ")),
        "{err}"
    );
}

#[test]
fn jitter() {
    const MS: u64 = 1_000_000;
    let iv = 1_000 * MS;
    let src = [10, 1, 1, 10].wide();
    let mut j = Jitter::default();
    j.observe(src, 5_000 * MS, iv);
    assert_eq!(j.samples, 0, "first advert has no delta");
    j.observe(src, 6_010 * MS, iv); // 10 ms late
    j.observe(src, 7_000 * MS, iv); // 10 ms early
    // One advert lost: two intervals later, 5 ms late; a loss is not jitter.
    j.observe(src, 9_005 * MS, iv);
    // Out of order or duplicate timestamps are ignored.
    j.observe(src, 9_005 * MS, iv);
    j.observe(src, 8_000 * MS, iv);
    assert_eq!(j.samples, 3);
    assert_eq!(j.max_ns, 10 * MS);
    // Starts at 10 ms, stays there, then moves 1/16 of the way to 5 ms.
    assert_eq!(j.mean_ns, 10 * MS - 5 * MS / 16);

    // Early by most of an interval still counts as one interval (n >= 1).
    j.observe(src, 9_105 * MS, iv);
    assert_eq!(j.max_ns, 900 * MS);
    j.observe(src, 9_200 * MS, 0);
    assert_eq!(j.samples, 4, "a zero interval is ignored");

    // A new sender starts over.
    j.observe([10, 1, 2, 10].wide(), 9_300 * MS, iv);
    assert_eq!((j.samples, j.max_ns, j.mean_ns), (0, 0, 0));
}

#[test]
fn snapshot_time_is_plausible() {
    // The table uses the caller's clock; a transition in the future (clock
    // stepped back) must not underflow.
    let mut s = snapshot();
    let now = SystemTime::now();
    let now_ms = now.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    s.instances[0].last_transition.as_mut().unwrap().at_unix_ms = now_ms + 60_000;
    assert!(status::render_table(&s, now).contains("backup -> master 0s ago"));
}

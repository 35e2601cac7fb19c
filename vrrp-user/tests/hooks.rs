//! State hooks: environment, ordering, timeouts, output capture, run-as.

use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedReceiver;
use vrrp_tests::tmp::TempDir;
use vrrp_user::hooks::{ExitKind, HookOutcome, HookRequest, HookRunner, RunAs, UserError, shell};

fn req(instance: &str, state: &str, line: &str, timeout: Duration) -> HookRequest {
    HookRequest {
        instance: instance.into(),
        vrid: 51,
        state: state.into(),
        prev_state: "BACKUP".into(),
        reason: "master_down_timer_expired".into(),
        command: shell(line),
        timeout,
    }
}

const LONG: Duration = Duration::from_secs(20);

async fn next(rx: &mut UnboundedReceiver<HookOutcome>) -> HookOutcome {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("no hook outcome within 30s")
        .expect("runner gone")
}

/// Whether a PID is gone (or only a zombie awaiting its new parent).
fn dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

async fn wait_dead(pid: i32) -> bool {
    for _ in 0..100 {
        if dead(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn environment_and_output_reach_the_hook() {
    let (runner, mut rx) = HookRunner::new(None);
    runner.spawn(req(
        "vi_1",
        "MASTER",
        r#"echo "$VRRPD_INSTANCE|$VRRPD_VRID|$VRRPD_STATE|$VRRPD_PREV_STATE|$VRRPD_REASON"; echo oops >&2; exit 3"#,
        LONG,
    )).unwrap();
    let o = next(&mut rx).await;
    assert_eq!(o.exit, ExitKind::Exited(3));
    assert_eq!(
        o.stdout.text,
        "vi_1|51|MASTER|BACKUP|master_down_timer_expired\n"
    );
    assert_eq!(o.stderr.text, "oops\n");
    assert_eq!(o.stdout.dropped, 0);
    assert_eq!(o.request.instance, "vi_1");
    assert!(!o.timed_out());
}

#[tokio::test]
async fn spawn_returns_at_once() {
    let (runner, mut rx) = HookRunner::new(None);
    let start = Instant::now();
    runner
        .spawn(req("vi_1", "MASTER", "sleep 1", LONG))
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "spawn blocked for {:?}",
        start.elapsed()
    );
    let o = next(&mut rx).await;
    assert_eq!(o.exit, ExitKind::Exited(0));
    assert!(o.duration >= Duration::from_millis(900), "{:?}", o.duration);
}

#[tokio::test]
async fn one_instance_runs_in_order_and_instances_in_parallel() {
    let dir = TempDir::new("hooks");
    let log = dir.path().join("log");
    let log = log.display();
    let (runner, mut rx) = HookRunner::new(None);
    // The slow master hook must still finish before the backup hook starts.
    runner
        .spawn(req(
            "a",
            "MASTER",
            &format!("sleep 1.5; echo master >> {log}"),
            LONG,
        ))
        .unwrap();
    runner
        .spawn(req("a", "BACKUP", &format!("echo backup >> {log}"), LONG))
        .unwrap();
    runner
        .spawn(req("a", "FAULT", &format!("echo fault >> {log}"), LONG))
        .unwrap();
    runner.spawn(req("b", "MASTER", "true", LONG)).unwrap();

    let first = next(&mut rx).await;
    assert_eq!(first.request.instance, "b", "b waited behind a's slow hook");
    let order: Vec<String> = [
        next(&mut rx).await,
        next(&mut rx).await,
        next(&mut rx).await,
    ]
    .iter()
    .map(|o| o.request.state.clone())
    .collect();
    assert_eq!(order, ["MASTER", "BACKUP", "FAULT"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("log")).unwrap(),
        "master\nbackup\nfault\n"
    );
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let dir = TempDir::new("hooks");
    let pidfile = dir.path().join("bg.pid");
    let (runner, mut rx) = HookRunner::new(None);
    // A forked child in the background and a hung foreground command.
    let line = format!("sleep 60 & echo $! > {}; sleep 60", pidfile.display());
    runner
        .spawn(req("vi_1", "MASTER", &line, Duration::from_millis(500)))
        .unwrap();
    let o = next(&mut rx).await;
    assert_eq!(o.exit, ExitKind::TimedOut);
    assert!(o.timed_out());
    assert!(o.duration >= Duration::from_millis(450), "{:?}", o.duration);
    assert!(o.duration < Duration::from_secs(10), "{:?}", o.duration);
    let bg: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        wait_dead(bg).await,
        "background child {bg} survived the timeout"
    );
}

#[tokio::test]
async fn output_is_truncated() {
    let (runner, mut rx) = HookRunner::new(None);
    runner
        .spawn(req(
            "vi_1",
            "MASTER",
            "head -c 10000 /dev/zero | tr '\\0' x",
            LONG,
        ))
        .unwrap();
    let o = next(&mut rx).await;
    assert_eq!(o.exit, ExitKind::Exited(0));
    assert_eq!(o.stdout.text.len(), vrrp_user::hooks::exec::OUTPUT_LIMIT);
    assert!(o.stdout.text.bytes().all(|b| b == b'x'));
    assert_eq!(
        o.stdout.dropped,
        10000 - vrrp_user::hooks::exec::OUTPUT_LIMIT
    );
    assert!(o.stdout.to_string().ends_with(" [... 5904 more bytes]"));
}

#[tokio::test]
async fn a_background_child_keeping_stdout_does_not_delay_the_result() {
    let (runner, mut rx) = HookRunner::new(None);
    runner
        .spawn(req("vi_1", "MASTER", "sleep 3 & echo started", LONG))
        .unwrap();
    let start = Instant::now();
    let o = next(&mut rx).await;
    assert_eq!(o.exit, ExitKind::Exited(0));
    assert_eq!(o.stdout.text, "started\n");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_missing_program_is_reported() {
    let (runner, mut rx) = HookRunner::new(None);
    let mut r = req("vi_1", "MASTER", "", LONG);
    r.command = vec!["/nonexistent/vrrpd-hook".into()];
    runner.spawn(r).unwrap();
    let o = next(&mut rx).await;
    assert!(
        matches!(&o.exit, ExitKind::SpawnFailed(e) if e.contains("No such file")),
        "{:?}",
        o.exit
    );
    assert!(!o.exit.success());
}

#[test]
fn user_lookup() {
    let root = RunAs::lookup("root").unwrap();
    assert_eq!((root.uid, root.gid), (0, 0));
    assert!(root.groups.contains(&0));
    assert!(matches!(
        RunAs::lookup("no-such-user-vrrpd"),
        Err(UserError::NotFound(_))
    ));
    assert!(matches!(
        RunAs::lookup("a\0b"),
        Err(UserError::InvalidName(_))
    ));
}

#[tokio::test]
async fn runs_as_the_configured_user() {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: switching users needs root");
        return;
    }
    let nobody = RunAs::lookup("nobody").unwrap();
    let (runner, mut rx) = HookRunner::new(Some(nobody.clone()));
    runner
        .spawn(req(
            "vi_1",
            "MASTER",
            "echo $(id -u) $(id -g) $(id -G)",
            LONG,
        ))
        .unwrap();
    let o = next(&mut rx).await;
    assert_eq!(o.exit, ExitKind::Exited(0), "{}", o.stderr);
    let mut want = format!("{} {}", nobody.uid, nobody.gid);
    for g in &nobody.groups {
        want.push_str(&format!(" {g}"));
    }
    assert_eq!(o.stdout.text.trim(), want);
}

#[tokio::test]
async fn a_full_queue_drops_and_says_so_without_blocking() {
    let (runner, mut rx) = HookRunner::new(None);
    // One run blocks the worker; QUEUE more wait; the next one is refused.
    let gate = TempDir::new("hookq");
    let flag = gate.path().join("go");
    let wait = format!("while [ ! -e {} ]; do sleep 0.01; done", flag.display());
    let mut refused = None;
    for i in 0..=vrrp_user::hooks::QUEUE + 1 {
        if let Err(e) = runner.spawn(req("vi_q", "master", &wait, LONG)) {
            refused = Some((i, e));
            break;
        }
    }
    let (at, err) = refused.expect("a bounded queue refuses at some point");
    assert!(
        (vrrp_user::hooks::QUEUE..=vrrp_user::hooks::QUEUE + 1).contains(&at),
        "refused at {at}"
    );
    assert_eq!(err.instance, "vi_q");
    assert!(err.to_string().contains("full"), "{err}");
    // Another instance has a queue of its own.
    runner
        .spawn(req("vi_other", "master", "true", LONG))
        .unwrap();
    std::fs::write(&flag, "").unwrap();
    let mut done = 0;
    while done < at + 1 {
        assert!(next(&mut rx).await.exit.success());
        done += 1;
    }
}

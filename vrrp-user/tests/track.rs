//! Tracked scripts and files: hysteresis, change-only events, timeouts.

use std::path::Path;
use std::time::Duration;

use tokio::sync::mpsc;
use vrrp_tests::tmp::TempDir;
use vrrp_user::track::{
    FileSpec, Hysteresis, ScriptSpec, TrackEvent, TrackWeight, file_effect, spawn_file,
    spawn_script,
};

fn script(name: &str, line: &str, rise: u32, fall: u32, weight: i16) -> ScriptSpec {
    ScriptSpec {
        name: name.into(),
        command: vec!["/bin/sh".into(), "-c".into(), line.into()],
        interval: Duration::from_millis(50),
        timeout: Duration::from_millis(2000),
        rise,
        fall,
        weight,
        run_as: None,
    }
}

async fn next(rx: &mut mpsc::Receiver<TrackEvent>) -> TrackEvent {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("no track event within 20s")
        .expect("tracker stopped")
}

fn ev(name: &str, up: bool, weight: TrackWeight) -> TrackEvent {
    TrackEvent {
        name: name.into(),
        up,
        weight,
    }
}

/// Atomically replaces a file, as the docs tell users to.
fn write_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Lines in a file a script appends to on every run.
fn runs(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |s| s.lines().count())
}

async fn wait_runs(path: &Path, n: usize) {
    for _ in 0..400 {
        if runs(path) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("script did not run {n} times within 20s");
}

#[test]
fn hysteresis_follows_rise_and_fall() {
    let mut h = Hysteresis::new(2, 3);
    assert_eq!(h.state(), None);
    assert_eq!(h.record(true), Some(true), "the first result decides");
    assert_eq!(h.record(false), None);
    assert_eq!(h.record(false), None);
    assert_eq!(h.record(true), None, "a success resets the failure streak");
    assert_eq!(h.record(false), None);
    assert_eq!(h.record(false), None);
    assert_eq!(h.record(false), Some(false), "third failure in a row");
    assert_eq!(h.record(false), None);
    assert_eq!(h.record(true), None);
    assert_eq!(h.record(true), Some(true), "second success in a row");
    assert_eq!(h.state(), Some(true));

    let mut first_down = Hysteresis::new(5, 5);
    assert_eq!(first_down.record(false), Some(false));
    let mut one = Hysteresis::new(0, 0);
    one.record(true);
    assert_eq!(one.record(false), Some(false), "0 is taken as 1");
}

#[test]
fn weights() {
    assert_eq!(vrrp_user::track::weight(0), TrackWeight::Fault);
    assert_eq!(vrrp_user::track::weight(-20), TrackWeight::Delta(-20));
    assert_eq!(vrrp_user::track::weight(i16::MAX), TrackWeight::Delta(254));
}

#[test]
fn file_values() {
    use TrackWeight::{Delta, Fault};
    // Weight 0: any non-zero value is FAULT.
    assert_eq!(file_effect(Some("0\n"), 0), (true, Fault));
    assert_eq!(file_effect(Some("3"), 0), (false, Fault));
    assert_eq!(file_effect(Some("-1"), 0), (false, Fault));
    // Weighted: value × weight, always applied.
    assert_eq!(file_effect(Some(" 2 \n"), 10), (true, Delta(20)));
    assert_eq!(file_effect(Some("2"), -10), (false, Delta(-20)));
    assert_eq!(file_effect(Some("-3"), 10), (false, Delta(-30)));
    assert_eq!(file_effect(Some("0"), -10), (true, Delta(0)));
    assert_eq!(file_effect(Some("1000"), 10), (true, Delta(254)));
    assert_eq!(
        file_effect(Some("-99999999999999999"), 100),
        (false, Delta(-254))
    );
    // Unreadable or not an integer: down like a failed script.
    assert_eq!(file_effect(None, 0), (false, Fault));
    assert_eq!(file_effect(None, -10), (false, Delta(-10)));
    assert_eq!(file_effect(Some(""), -10), (false, Delta(-10)));
    assert_eq!(file_effect(Some("1.5"), 5), (false, Delta(5)));
}

#[tokio::test]
async fn script_reports_changes_only() {
    let dir = TempDir::new("track");
    let flag = dir.path().join("ok");
    let count = dir.path().join("runs");
    std::fs::write(&flag, "").unwrap();
    let line = format!("echo >> {}; test -e {}", count.display(), flag.display());
    let (tx, mut rx) = mpsc::channel(16);
    let handle = spawn_script(script("chk", &line, 2, 2, -10), tx);

    assert_eq!(
        next(&mut rx).await,
        ev("chk", true, TrackWeight::Delta(-10))
    );
    let seen = runs(&count);
    wait_runs(&count, seen + 6).await;
    assert!(rx.try_recv().is_err(), "event without a change");

    std::fs::remove_file(&flag).unwrap();
    assert_eq!(
        next(&mut rx).await,
        ev("chk", false, TrackWeight::Delta(-10))
    );
    std::fs::write(&flag, "").unwrap();
    assert_eq!(
        next(&mut rx).await,
        ev("chk", true, TrackWeight::Delta(-10))
    );
    handle.abort();
}

#[tokio::test]
async fn script_hysteresis_absorbs_one_failure() {
    let dir = TempDir::new("track");
    let count = dir.path().join("runs");
    // Fails on its third run only.
    let line = format!(
        "echo >> {c}; test \"$(wc -l < {c})\" -ne 3",
        c = count.display()
    );
    let (tx, mut rx) = mpsc::channel(16);
    let handle = spawn_script(script("chk", &line, 1, 2, 0), tx);
    assert_eq!(next(&mut rx).await, ev("chk", true, TrackWeight::Fault));
    wait_runs(&count, 8).await;
    assert!(
        rx.try_recv().is_err(),
        "fall = 2 must absorb a single failure"
    );
    handle.abort();
}

#[tokio::test]
async fn script_timeout_is_a_failure() {
    let mut s = script("slow", "sleep 10", 1, 1, 0);
    s.timeout = Duration::from_millis(200);
    s.interval = Duration::from_millis(300);
    let (tx, mut rx) = mpsc::channel(16);
    let handle = spawn_script(s, tx);
    assert_eq!(next(&mut rx).await, ev("slow", false, TrackWeight::Fault));
    handle.abort();
}

#[tokio::test]
async fn aborting_a_tracker_kills_its_running_check() {
    let dir = TempDir::new("track");
    let pidfile = dir.path().join("pid");
    let line = format!("sleep 60 & echo $! > {}; wait", pidfile.display());
    let mut s = script("hang", &line, 1, 1, 0);
    s.interval = Duration::from_secs(60);
    s.timeout = Duration::from_secs(60);
    let (tx, _rx) = mpsc::channel(16);
    let handle = spawn_script(s, tx);
    let mut pid = None;
    for _ in 0..200 {
        if let Ok(p) = std::fs::read_to_string(&pidfile)
            && let Ok(p) = p.trim().parse::<i32>()
        {
            pid = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = pid.expect("script never started");
    handle.abort();
    let _ = handle.await;
    let mut gone = false;
    for _ in 0..100 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
        if stat.map_or(true, |s| {
            s.rsplit(')').next().unwrap().trim_start().starts_with('Z')
        }) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "process {pid} of an aborted check still runs");
}

#[tokio::test]
async fn trackers_stop_when_the_receiver_is_gone() {
    let (tx, mut rx) = mpsc::channel(16);
    let script = spawn_script(script("chk", "true", 1, 1, 0), tx.clone());
    let file = spawn_file(
        FileSpec {
            name: "f".into(),
            path: "/nonexistent/vrrpd-track".into(),
            weight: 0,
            interval: Duration::from_millis(50),
        },
        tx,
    );
    // Both have sent their first state and have nothing more to say.
    next(&mut rx).await;
    next(&mut rx).await;
    drop(rx);
    for handle in [script, file] {
        tokio::time::timeout(Duration::from_secs(10), handle)
            .await
            .expect("tracker still running")
            .unwrap();
    }
}

#[tokio::test]
async fn file_tracker() {
    let dir = TempDir::new("track");
    let path = dir.path().join("health");
    // How often the tracker reads the file.
    const POLL: Duration = Duration::from_millis(50);
    let spec = |weight| FileSpec {
        name: "health".into(),
        path: path.clone(),
        weight,
        interval: POLL,
    };
    write_file(&path, "0\n");
    let (tx, mut rx) = mpsc::channel(16);
    let fault = spawn_file(spec(0), tx);
    assert_eq!(next(&mut rx).await, ev("health", true, TrackWeight::Fault));
    write_file(&path, "1\n");
    assert_eq!(next(&mut rx).await, ev("health", false, TrackWeight::Fault));
    // Missing is down too: no change, no event in ten reads of the file.
    std::fs::remove_file(&path).unwrap();
    tokio::time::sleep(POLL * 10).await;
    assert!(rx.try_recv().is_err(), "event without a change");
    write_file(&path, "0");
    assert_eq!(next(&mut rx).await, ev("health", true, TrackWeight::Fault));
    fault.abort();

    let (tx, mut rx) = mpsc::channel(16);
    let weighted = spawn_file(spec(-5), tx);
    assert_eq!(
        next(&mut rx).await,
        ev("health", true, TrackWeight::Delta(0))
    );
    write_file(&path, "2");
    assert_eq!(
        next(&mut rx).await,
        ev("health", false, TrackWeight::Delta(-10))
    );
    write_file(&path, "3");
    assert_eq!(
        next(&mut rx).await,
        ev("health", false, TrackWeight::Delta(-15))
    );
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        next(&mut rx).await,
        ev("health", false, TrackWeight::Delta(-5))
    );
    weighted.abort();
}

//! `[global]` real-time scheduling and locked memory on a real daemon: the policy and
//! priority the kernel reports for it, its locked memory, and that a setting it
//! cannot apply stops the start instead of being dropped.

use std::{path::Path, time::Duration};

use vrrp_tests::{
    netns::{Netns, require_root_and_netns, veth},
    timing::wait_for,
    tmp::TempDir,
};

const VRRPD: &str = env!("CARGO_BIN_EXE_vrrpd");

fn config(sock: &Path, global: &str) -> String {
    format!(
        r#"[global]
status_socket = "{}"
{global}

[[instance]]
name = "vip"
interface = "eth0"
vrid = 51
priority = 100
advert_interval_ms = 100
mode = "unicast"
unicast_src = "10.1.1.10/24"

[[instance.peer]]
address = "10.1.1.20"

[[instance.vip]]
address = "10.1.255.1/32"
dev = "lo"
"#,
        sock.display()
    )
}

fn vm_locked_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn realtime_and_locked_memory_are_applied() {
    require_root_and_netns().unwrap();
    let tmp = TempDir::new("protect");
    let mut a = Netns::new("prA").unwrap();
    let b = Netns::new("prB").unwrap();
    veth(&a, "eth0", &b, "eth0").unwrap();
    a.exec(&["ip", "addr", "add", "10.1.1.10/24", "dev", "eth0"])
        .unwrap();
    let sock = tmp.path().join("a.sock");
    let cfg = tmp.path().join("a.toml");
    std::fs::write(
        &cfg,
        config(
            &sock,
            "realtime_scheduling = \"fifo\"\nrealtime_priority = 7\nlock_memory = true",
        ),
    )
    .unwrap();
    let log = tmp.path().join("a.log");
    let pid = a
        .spawn_logged(&[VRRPD, "run", "-c", cfg.to_str().unwrap()], &log)
        .unwrap();
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_for("the daemon to start", Duration::from_secs(20), || {
        read_log().contains("vrrpd started")
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", read_log()));
    // SAFETY: sched_getscheduler/sched_getparam on a child we started.
    let policy = unsafe { libc::sched_getscheduler(pid as i32) };
    let mut param = libc::sched_param { sched_priority: 0 };
    unsafe { libc::sched_getparam(pid as i32, &mut param) };
    assert_eq!(
        policy & !libc::SCHED_RESET_ON_FORK,
        libc::SCHED_FIFO,
        "{}",
        read_log()
    );
    assert_eq!(param.sched_priority, 7);
    let locked = vm_locked_kib(pid);
    assert!(locked > 1024, "VmLck {locked} KiB");
    println!("vrrpd under SCHED_FIFO 7 with {locked} KiB locked");
    a.signal(pid, libc::SIGTERM).unwrap();
    let status = a.wait_exit(pid, Duration::from_secs(20)).unwrap().unwrap();
    assert!(status.success(), "{}", read_log());
}

#[test]
fn realtime_priority_alone_is_rejected() {
    let tmp = TempDir::new("protect-check");
    let cfg = tmp.path().join("a.toml");
    std::fs::write(
        &cfg,
        config(Path::new("/run/vrrpd/x.sock"), "realtime_priority = 20"),
    )
    .unwrap();
    let out = std::process::Command::new(VRRPD)
        .args(["check", "-c", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        err.contains("realtime_priority has no effect without realtime_scheduling"),
        "{err}"
    );
}

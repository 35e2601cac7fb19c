//! The daemon end to end: real `vrrpd` processes in network namespaces.
//!
//! First two nodes on one link, then two nodes in two subnets joined by a router
//! namespace. Timing bounds are generous (a noisy 2-core CI VM); the measured times are
//! printed. Every namespace and process is torn down by Drop guards.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use vrrp_tests::{
    lab::RoutedPair,
    netns::{Netns, require_root_and_netns, veth},
    timing::{Version, backup_watch, hold_for, master_down_interval},
    tmp::TempDir,
};

const VRRPD: &str = env!("CARGO_BIN_EXE_vrrpd");
const VIP: &str = "10.1.255.1";
const INTERVAL_MS: u64 = 100;
const INTERVAL: Duration = Duration::from_millis(INTERVAL_MS);
/// The configs set no version: vrrpd's default.
const VERSION: Version = Version::V3;
/// A's address in both topologies (one link and routed).
const A_ADDR: &str = "10.1.1.10";

/// A node: its namespace, working directory and running daemon.
struct Node {
    ns: Netns,
    dir: PathBuf,
    name: &'static str,
    pid: Option<u32>,
}

impl Node {
    fn new(name: &'static str, tmp: &Path) -> Node {
        Node::with_ns(name, tmp, Netns::new(&format!("d{name}")).unwrap())
    }

    fn with_ns(name: &'static str, tmp: &Path, ns: Netns) -> Node {
        let dir = tmp.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        Node {
            ns,
            dir,
            name,
            pid: None,
        }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("vrrpd.toml")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("vrrpd.log")
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("vrrpd.sock")
    }

    fn write_config(&self, text: &str) {
        std::fs::write(self.config_path(), text).unwrap();
    }

    fn start(&mut self) {
        let cfg = self.config_path();
        let pid = self
            .ns
            .spawn_logged(
                &[VRRPD, "run", "-c", cfg.to_str().unwrap()],
                &self.log_path(),
            )
            .unwrap();
        self.pid = Some(pid);
    }

    fn signal(&mut self, sig: i32) {
        self.ns.signal(self.pid.expect("running"), sig).unwrap();
    }

    /// Waits for the daemon to exit after a signal; its exit status.
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let pid = self.pid.take().expect("running");
        self.ns
            .wait_exit(pid, Duration::from_secs(10))
            .unwrap()
            .unwrap_or_else(|| panic!("{} did not exit:\n{}", self.name, self.log()))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn has_vip(&self) -> bool {
        self.holds("lo", &format!("{VIP}/32"))
    }

    /// Whether `dev` carries `addr` ("address/prefix").
    fn holds(&self, dev: &str, addr: &str) -> bool {
        self.addr_line(dev, addr).is_some()
    }

    /// The `ip -o addr` line of `addr` ("address/prefix") on `dev`, if it is there.
    fn addr_line(&self, dev: &str, addr: &str) -> Option<String> {
        let out = self
            .ns
            .exec(&["ip", "-o", "addr", "show", "dev", dev])
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.split_whitespace().any(|w| w == addr))
            .map(str::to_string)
    }

    fn vip_line(&self) -> String {
        let out = self.ns.exec(&["ip", "addr", "show", "dev", "lo"]).unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// The status JSON, or `None` while the daemon does not answer yet.
    fn try_status(&self) -> Option<serde_json::Value> {
        let out = Command::new(VRRPD)
            .args(["status", "--json", "-s", self.socket().to_str().unwrap()])
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Whether the daemon is up and backup with `master` as the master it hears.
    fn is_backup_of(&self, master: &str) -> bool {
        self.try_status().is_some_and(|s| {
            let inst = &s["instances"][0];
            inst["state"] == "backup" && inst["master"] == master
        })
    }

    fn status_json(&self) -> serde_json::Value {
        let out = Command::new(VRRPD)
            .args(["status", "--json", "-s", self.socket().to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// Polls `cond` every millisecond until it holds; the time it took.
fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    start.elapsed()
}

/// Checks that `cond` holds throughout a backup of `priority`'s watch window (two of
/// its Master_Down_Intervals and an interval: a deaf backup would take over within
/// one); panics with both logs otherwise.
fn hold_while_backup_of(priority: u8, what: &str, a: &Node, b: &Node, cond: impl FnMut() -> bool) {
    let window = backup_watch(VERSION, priority, INTERVAL);
    if let Err(e) = hold_for(what, window, cond) {
        panic!(
            "{e:#}\n--- {} log ---\n{}\n--- {} log ---\n{}",
            a.name,
            a.log(),
            b.name,
            b.log()
        );
    }
}

fn config(node: &Node, src: &str, peer: &str, priority: u8, extra: &str) -> String {
    format!(
        r#"
[global]
status_socket = "{sock}"

[[instance]]
name = "vi51"
interface = "eth0"
vrid = 51
priority = {priority}
advert_interval_ms = {INTERVAL_MS}
mode = "unicast"
unicast_src = "{src}"
{extra}

[[instance.peer]]
address = "{peer}"
ttl_min = 250

[[instance.vip]]
address = "{VIP}/32"
dev = "lo"
"#,
        sock = node.socket().display(),
    )
}

/// Two nodes on one link: A 10.1.1.10 (priority 200), B 10.1.1.20 (priority 100).
fn one_link(tmp: &Path, extra_a: &str) -> (Node, Node) {
    require_root_and_netns().unwrap();
    let a = Node::new("a", tmp);
    let b = Node::new("b", tmp);
    veth(&a.ns, "eth0", &b.ns, "eth0").unwrap();
    a.ns.exec(&["ip", "addr", "add", "10.1.1.10/24", "dev", "eth0"])
        .unwrap();
    b.ns.exec(&["ip", "addr", "add", "10.1.1.20/24", "dev", "eth0"])
        .unwrap();
    a.write_config(&config(&a, "10.1.1.10/24", "10.1.1.20", 200, extra_a));
    b.write_config(&config(&b, "10.1.1.20/24", "10.1.1.10", 100, ""));
    (a, b)
}

fn tmpdir(name: &str) -> TempDir {
    TempDir::new(name)
}

/// B (priority 100) first, then A (200): A ends up master, B its backup, and that
/// holds for B's watch window.
fn elect(a: &mut Node, b: &mut Node) {
    b.start();
    // B's daemon is up (its status socket answers) before A starts.
    wait_for("B's daemon to answer", Duration::from_secs(10), || {
        b.try_status().is_some()
    });
    a.start();
    wait_for("A to hold the VIP", Duration::from_secs(10), || a.has_vip());
    // B releases at A's first advert if it was master meanwhile: within the 5 advert
    // intervals the check allowed before.
    wait_for("B to release the VIP", 5 * INTERVAL, || !b.has_vip());
    // Status is republished on a tick: a generous limit for B to show A as master.
    wait_for(
        "B to report A as its master",
        Duration::from_secs(5),
        || b.is_backup_of(A_ADDR),
    );
    hold_while_backup_of(100, "A as the only VIP holder", a, b, || {
        a.has_vip() && !b.has_vip()
    });
}

#[test]
fn election_graceful_stop_and_status() {
    let tmp = tmpdir("graceful");
    let (mut a, mut b) = one_link(tmp.path(), "");
    elect(&mut a, &mut b);

    let sa = a.status_json();
    let inst = &sa["instances"][0];
    assert_eq!(inst["state"], "master", "{sa:#}");
    assert_eq!(inst["name"], "vi51");
    let sb = b.status_json();
    assert_eq!(sb["instances"][0]["state"], "backup", "{sb:#}");
    assert!(sb["instances"][0]["adverts_received"].as_u64().unwrap() > 0);

    // Graceful stop: priority 0, B takes over after about Skew_Time (61 ms here).
    a.signal(libc::SIGTERM);
    let took = wait_for(
        "B to take over after SIGTERM",
        Duration::from_secs(3),
        || b.has_vip(),
    );
    println!(
        "graceful stop: B holds the VIP {:.1} ms after SIGTERM to A",
        took.as_secs_f64() * 1e3
    );
    let status = a.wait_exit();
    assert!(
        status.success(),
        "A exits 0 on SIGTERM: {status}\n{}",
        a.log()
    );
    assert!(!a.has_vip(), "A removed its VIP on the way out");
    // Far below Master_Down_Interval (361 ms): the priority-0 path was taken.
    assert!(took < Duration::from_millis(1500), "{took:?}");
    let log = b.log();
    assert!(log.contains("priority_zero_received"), "{log}");
}

#[test]
fn kill9_failover_restart_cleanup_and_lease() {
    let tmp = tmpdir("kill9");
    let (mut a, mut b) = one_link(tmp.path(), "vip_lease_s = 3");
    elect(&mut a, &mut b);

    // kill -9: B waits Master_Down_Interval (3 x 100 ms + 61 ms skew) from A's last
    // advert, which came at most one interval before the kill.
    let floor = master_down_interval(VERSION, 100, INTERVAL) - INTERVAL;
    a.signal(libc::SIGKILL);
    let took = wait_for(
        "B to take over after kill -9",
        Duration::from_secs(5),
        || b.has_vip(),
    );
    println!(
        "kill -9: B holds the VIP {:.1} ms after the kill",
        took.as_secs_f64() * 1e3
    );
    a.wait_exit();
    // 10 ms of slack for a late last advert from A.
    assert!(
        took + Duration::from_millis(10) >= floor,
        "faster than the RFC allows ({floor:?}): {took:?}"
    );
    // The killed daemon's VIP stays only until its lease runs out.
    assert!(a.has_vip(), "the killed daemon could not remove its VIP");
    let gone = wait_for("A's leased VIP to expire", Duration::from_secs(6), || {
        !a.has_vip()
    });
    println!(
        "VIP lease: A's orphaned VIP expired {:.2} s after the kill",
        (took + gone).as_secs_f64()
    );

    // Restart A: it cleans up and, with the higher priority, takes over again.
    a.start();
    wait_for("A to take the VIP back", Duration::from_secs(10), || {
        a.has_vip()
    });
    wait_for("B to release the VIP", Duration::from_secs(5), || {
        !b.has_vip()
    });
}

#[test]
fn restart_removes_leftovers_of_a_crash() {
    let tmp = tmpdir("leftover");
    let (mut a, mut b) = one_link(tmp.path(), "");
    elect(&mut a, &mut b);
    a.signal(libc::SIGKILL);
    a.wait_exit();
    assert!(a.has_vip(), "no lease: the VIP stays after a kill");
    wait_for("B to take over", Duration::from_secs(5), || b.has_vip());
    // A restarts with a lower priority so it stays backup: the leftover must go.
    a.write_config(&config(&a, "10.1.1.10/24", "10.1.1.20", 50, ""));
    a.start();
    wait_for(
        "A's leftover VIP to be cleaned up",
        Duration::from_secs(5),
        || !a.has_vip(),
    );
    // The leftover goes before the datapath loads: wait for A to run.
    wait_for("A to run as backup of B", Duration::from_secs(5), || {
        a.is_backup_of("10.1.1.20")
    });
    // A (priority 50) stays backup of B: it hears B, or it would take over within
    // its Master_Down_Interval.
    hold_while_backup_of(50, "B as the only VIP holder", &a, &b, || {
        b.has_vip() && !a.has_vip()
    });
    assert!(a.is_backup_of("10.1.1.20"), "{:#?}", a.try_status());
    assert!(a.log().contains("leftover"), "{}", a.log());
}

#[test]
fn reload_without_flap_and_bad_reload_kept_out() {
    let tmp = tmpdir("reload");
    let (mut a, mut b) = one_link(tmp.path(), "");
    elect(&mut a, &mut b);
    let before = a.status_json()["instances"][0]["last_transition"].clone();

    // Same instance, a second one added: vi51 must not flap.
    let mut text = config(&a, "10.1.1.10/24", "10.1.1.20", 200, "");
    text.push_str(
        r#"
[[instance]]
name = "vi52"
interface = "eth0"
vrid = 52
priority = 100
advert_interval_ms = 100
mode = "unicast"
unicast_src = "10.1.1.10/24"

[[instance.peer]]
address = "10.1.1.20"

[[instance.vip]]
address = "10.1.255.2/32"
dev = "lo"
"#,
    );
    a.write_config(&text);
    a.signal(libc::SIGHUP);
    wait_for("vi52 to appear", Duration::from_secs(5), || {
        a.status_json()["instances"].as_array().unwrap().len() == 2
    });
    let s = a.status_json();
    let vi51 = s["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "vi51")
        .unwrap()
        .clone();
    assert_eq!(vi51["state"], "master");
    assert_eq!(vi51["last_transition"], before, "vi51 flapped on reload");
    assert!(a.has_vip());

    // A broken file is reported and the running configuration stays.
    a.write_config("[[instance]]\nname = 1\n");
    a.signal(libc::SIGHUP);
    wait_for("the reload to be rejected", Duration::from_secs(5), || {
        a.log().contains("reload rejected")
    });
    let s = a.status_json();
    assert_eq!(s["instances"].as_array().unwrap().len(), 2);
    // vi51 goes on advertising: B, which would take over within its
    // Master_Down_Interval otherwise, stays backup.
    hold_while_backup_of(100, "A as the only VIP holder", &a, &b, || {
        a.has_vip() && !b.has_vip()
    });
    assert!(!b.has_vip(), "{}", b.vip_line());
}

#[test]
fn metrics_served() {
    let tmp = tmpdir("metrics");
    let (mut a, mut b) = one_link(tmp.path(), "");
    let text = config(&a, "10.1.1.10/24", "10.1.1.20", 200, "").replace(
        "[global]\n",
        "[global]\nmetrics_listen = \"127.0.0.1:9650\"\n",
    );
    a.write_config(&text);
    elect(&mut a, &mut b);
    let out = a
        .ns
        .exec(&["curl", "-s", "http://127.0.0.1:9650/metrics"])
        .or_else(|_| {
            a.ns.exec(&[
                "python3",
                "-c",
                "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:9650/metrics').read().decode())",
            ])
        })
        .unwrap();
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(body.contains("vrrpd_instance_state"), "{body}");
    assert!(body.contains("vrrpd_adverts_sent_total"), "{body}");
    assert!(body.contains("vrrpd_datapath_packets_total"), "{body}");
}

/// Two nodes in two subnets joined by a router namespace: A 10.1.1.10/24 (200),
/// B 10.1.2.10/24 (100). Adverts cross the router and arrive with TTL 254.
fn routed(tmp: &Path) -> (Node, Node, Netns) {
    let RoutedPair {
        a: na,
        b: nb,
        router,
    } = RoutedPair::new("d").unwrap();
    let a = Node::with_ns("a", tmp, na);
    let b = Node::with_ns("b", tmp, nb);
    a.write_config(&config(&a, "10.1.1.10/24", "10.1.2.10", 200, ""));
    b.write_config(&config(&b, "10.1.2.10/24", "10.1.1.10", 100, ""));
    (a, b, router)
}

#[test]
fn two_subnets_through_a_router() {
    let tmp = tmpdir("routed");
    let (mut a, mut b, _r) = routed(tmp.path());
    elect(&mut a, &mut b);
    let sb = b.status_json();
    assert!(
        sb["instances"][0]["adverts_received"].as_u64().unwrap() > 0,
        "{sb:#}"
    );
    assert_eq!(sb["instances"][0]["master"], "10.1.1.10", "{sb:#}");

    a.signal(libc::SIGKILL);
    let took = wait_for(
        "B to take over across the router",
        Duration::from_secs(5),
        || b.has_vip(),
    );
    println!(
        "routed kill -9: B master {:.1} ms after the kill",
        took.as_secs_f64() * 1e3
    );
    a.wait_exit();
}

#[test]
fn link_down_is_a_fault_and_recovery_preempts_back() {
    let tmp = tmpdir("linkdown");
    let (mut a, mut b, _r) = routed(tmp.path());
    elect(&mut a, &mut b);
    // A's link goes down: A enters Fault and drops the VIP; B stops hearing A and
    // takes over after Master_Down_Interval.
    a.ns.exec(&["ip", "link", "set", "eth0", "down"]).unwrap();
    wait_for(
        "A to drop the VIP on link down",
        Duration::from_secs(3),
        || !a.has_vip(),
    );
    wait_for("B to take over", Duration::from_secs(3), || b.has_vip());
    assert_eq!(a.status_json()["instances"][0]["state"], "fault");
    a.ns.exec(&["ip", "link", "set", "eth0", "up"]).unwrap();
    a.ns.exec(&["ip", "route", "replace", "default", "via", "10.1.1.1"])
        .unwrap();
    // A is back with the higher priority and preempts.
    wait_for("A to take the VIP back", Duration::from_secs(10), || {
        a.has_vip()
    });
    wait_for("B to release it", Duration::from_secs(3), || !b.has_vip());
    let log = a.log();
    assert!(
        log.contains("link_down") && log.contains("link_up"),
        "{log}"
    );
}

#[test]
fn check_reports_traps_with_positions() {
    let tmp = tmpdir("check");
    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        r#"[[instance]]
name = "vi1"
interface = "eth0"
vrid = 1
priority = 100
mode = "unicast"
unicast_src = "10.1.1.10/24"

[[instance.vip]]
address = "10.1.255.1/32"
dev = "lo"
"#,
    )
    .unwrap();
    let out = Command::new(VRRPD)
        .args(["check", "-c", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:6:8:"), "{err}");
    assert!(err.contains("peer"), "{err}");

    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for f in std::fs::read_dir(examples).unwrap() {
        let f = f.unwrap().path();
        if f.extension().is_some_and(|e| e == "toml") {
            let out = Command::new(VRRPD)
                .args(["check", "-c", f.to_str().unwrap()])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                f.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn track_script_failure_lowers_priority_and_hooks_run() {
    let tmp = tmpdir("track");
    let flag = tmp.path().join("healthy");
    std::fs::write(&flag, "").unwrap();
    let hook_log = tmp.path().join("hooks.log");
    let extra = format!(
        r#"
[[instance.track_script]]
name = "svc"
command = ["/usr/bin/test", "-e", "{flag}"]
interval_ms = 100
timeout_ms = 100
fall = 1
rise = 1
weight = -150

[instance.hooks]
on_master = ["/bin/sh", "-c", "echo master $VRRPD_REASON >> {log}"]
on_backup = ["/bin/sh", "-c", "echo backup $VRRPD_REASON >> {log}"]
"#,
        flag = flag.display(),
        log = hook_log.display()
    );
    let (mut a, mut b) = one_link(tmp.path(), &extra);
    elect(&mut a, &mut b);
    wait_for("the master hook", Duration::from_secs(5), || {
        std::fs::read_to_string(&hook_log)
            .unwrap_or_default()
            .contains("master")
    });
    // The checked service fails: 200 - 150 = 50 < 100, B preempts.
    std::fs::remove_file(&flag).unwrap();
    wait_for("B to preempt", Duration::from_secs(5), || b.has_vip());
    wait_for("A to step down", Duration::from_secs(5), || !a.has_vip());
    assert_eq!(a.status_json()["instances"][0]["effective_priority"], 50);
    wait_for("the backup hook", Duration::from_secs(5), || {
        std::fs::read_to_string(&hook_log)
            .unwrap_or_default()
            .contains("backup")
    });
    // Healthy again: A preempts back.
    std::fs::write(&flag, "").unwrap();
    wait_for("A to take the VIP back", Duration::from_secs(5), || {
        a.has_vip()
    });
}

/// A tracks a static route to 192.0.2.0/24 with weight 0 and a rise hold: without it
/// A is in FAULT (and B master); a route of another protocol does not count; once
/// the right one is back A stays in FAULT for the hold, then preempts.
#[test]
fn track_route_gates_the_instance_with_a_rise_hold() {
    const RISE_MS: u64 = 10 * INTERVAL_MS;
    let tmp = tmpdir("trackroute");
    let (mut a, mut b, _r) = routed(tmp.path());
    let extra = format!(
        "track_route = [{{ prefix = \"192.0.2.0/24\", protocol = \"static\", rise_ms = {RISE_MS} }}]"
    );
    a.write_config(&config(&a, "10.1.1.10/24", "10.1.2.10", 200, &extra));
    let route = |ns: &Netns, op: &str, proto: &str| {
        ns.exec(&[
            "ip",
            "route",
            op,
            "192.0.2.0/24",
            "via",
            "10.1.1.1",
            "proto",
            proto,
        ])
        .unwrap();
    };
    route(&a.ns, "add", "static");
    elect(&mut a, &mut b);
    let state = |n: &Node| {
        n.try_status().map(|s| {
            s["instances"][0]["state"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
    };

    route(&a.ns, "del", "static");
    let took = wait_for("A to enter FAULT", Duration::from_secs(3), || {
        state(&a).as_deref() == Some("fault")
    });
    println!(
        "route deleted: A in FAULT {:.1} ms later",
        took.as_secs_f64() * 1e3
    );
    wait_for("A to drop the VIP", Duration::from_secs(3), || !a.has_vip());
    wait_for("B to take over", Duration::from_secs(3), || b.has_vip());

    // The same prefix by another protocol is not the tracked route.
    route(&a.ns, "add", "kernel");
    hold_while_backup_of(200, "A in FAULT with only a kernel route", &a, &b, || {
        state(&a).as_deref() == Some("fault")
    });
    route(&a.ns, "del", "kernel");

    route(&a.ns, "add", "static");
    let back = Instant::now();
    // Half the hold with a wide margin either side: A must still be in FAULT.
    if let Err(e) = hold_for(
        "A in FAULT during the rise hold",
        Duration::from_millis(RISE_MS / 2),
        || state(&a).as_deref() == Some("fault") && !a.has_vip(),
    ) {
        panic!("{e:#}\n--- A log ---\n{}", a.log());
    }
    wait_for("A to take the VIP back", Duration::from_secs(10), || {
        a.has_vip()
    });
    let took = back.elapsed();
    assert!(
        took >= Duration::from_millis(RISE_MS),
        "A took the VIP back {took:?} after the route returned, before its {RISE_MS} ms hold"
    );
    println!(
        "route back: A master again {:.1} ms later (rise_ms {RISE_MS})",
        took.as_secs_f64() * 1e3
    );
    wait_for("B to release the VIP", Duration::from_secs(3), || {
        !b.has_vip()
    });
    let log = a.log();
    assert!(
        log.contains("track route down") && log.contains("track route up"),
        "{log}"
    );

    // The kernel drops an interface's routes when it goes down and sends no
    // RTM_DELROUTE for them: the tracker must notice from the link event.
    for argv in [
        &[
            "ip", "link", "add", "t0", "type", "veth", "peer", "name", "t1",
        ][..],
        &["ip", "addr", "add", "198.51.100.1/30", "dev", "t0"],
        &["ip", "link", "set", "t0", "up"],
        &["ip", "link", "set", "t1", "up"],
        &[
            "ip",
            "route",
            "replace",
            "192.0.2.0/24",
            "via",
            "198.51.100.2",
            "dev",
            "t0",
            "proto",
            "static",
        ],
    ] {
        a.ns.exec(argv).unwrap();
    }
    hold_while_backup_of(100, "A master with its route via t0", &a, &b, || {
        a.has_vip() && !b.has_vip()
    });
    a.ns.exec(&["ip", "link", "set", "t0", "down"]).unwrap();
    let took = wait_for(
        "A to enter FAULT when t0 goes",
        Duration::from_secs(3),
        || state(&a).as_deref() == Some("fault"),
    );
    println!(
        "route gone with its interface: A in FAULT {:.1} ms later",
        took.as_secs_f64() * 1e3
    );
    wait_for("B to take over", Duration::from_secs(3), || b.has_vip());
}

/// The systemd unit's capability set is enough: run A with exactly those
/// capabilities (bounding and ambient), as packaging/vrrpd.service grants them.
#[test]
fn runs_with_the_units_capabilities_only() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/vrrpd.service"),
    )
    .unwrap();
    let caps: Vec<String> = unit
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .expect("CapabilityBoundingSet in the unit")
        .split_whitespace()
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase()))
        .collect();
    let set = format!("-all,{}", caps.join(","));
    let tmp = tmpdir("caps");
    let (mut a, mut b) = one_link(tmp.path(), "");
    b.start();
    let cfg = a.config_path();
    let pid =
        a.ns.spawn_logged(
            &[
                "setpriv",
                "--bounding-set",
                &set,
                "--inh-caps",
                &set,
                "--ambient-caps",
                &set,
                "--no-new-privs",
                VRRPD,
                "run",
                "-c",
                cfg.to_str().unwrap(),
            ],
            &a.log_path(),
        )
        .unwrap();
    a.pid = Some(pid);
    wait_for(
        "A (restricted) to hold the VIP",
        Duration::from_secs(10),
        || a.has_vip(),
    );
    let s = a.status_json();
    assert_eq!(s["daemon"]["datapath"], "xdp", "{s:#}\n{}", a.log());
    a.signal(libc::SIGTERM);
    assert!(a.wait_exit().success(), "{}", a.log());
    assert!(!a.has_vip());
}

/// accept_mode = false: the master holds the VIP but drops traffic addressed to it
/// (RFC 9568 §6.1); the block goes with mastership.
#[test]
fn accept_mode_off_drops_traffic_to_the_vip() {
    let tmp = tmpdir("noaccept");
    let (mut a, mut b) = one_link(tmp.path(), "accept_mode = false");
    elect(&mut a, &mut b);
    // A datagram to the VIP from inside the node: delivered unless blocked.
    let ping = |n: &Node| {
        vrrp_tests::netns::in_netns(&n.ns, || {
            let server = std::net::UdpSocket::bind("0.0.0.0:7000").unwrap();
            server
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let client = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
            client.send_to(b"probe", (VIP, 7000)).unwrap();
            let mut buf = [0u8; 8];
            matches!(server.recv_from(&mut buf), Ok((5, _)))
        })
        .unwrap()
    };
    wait_for("the block to be installed", Duration::from_secs(3), || {
        !ping(&a)
    });
    let set =
        a.ns.exec(&["nft", "list", "set", "inet", "vrrpd", "noaccept4"])
            .unwrap();
    assert!(String::from_utf8_lossy(&set.stdout).contains(VIP));
    a.signal(libc::SIGTERM);
    a.wait_exit();
    wait_for("B to take over", Duration::from_secs(3), || b.has_vip());
    wait_for(
        "B (accept_mode default true) to answer on its VIP",
        Duration::from_secs(3),
        || ping(&b),
    );
    // A clean stop leaves nothing of ours in the ruleset (found by the chaos run:
    // the table used to stay).
    let tables = a.ns.exec(&["nft", "list", "tables"]).unwrap();
    assert!(
        !String::from_utf8_lossy(&tables.stdout).contains("vrrpd"),
        "table left after a clean stop: {}",
        String::from_utf8_lossy(&tables.stdout)
    );
}

/// A master with accept_mode = false killed with -9 leaves its block behind; the
/// next start removes it even when the new file keeps accept mode on (it used to
/// reset the table only when some instance still had accept_mode = false, so the
/// restarted master kept dropping traffic to its VIP).
#[test]
fn a_crashed_block_goes_at_the_next_start() {
    let tmp = tmpdir("noacceptcrash");
    let (mut a, mut b) = one_link(tmp.path(), "accept_mode = false");
    elect(&mut a, &mut b);
    let listed = |n: &Node| {
        String::from_utf8_lossy(&n.ns.exec(&["nft", "list", "tables"]).unwrap().stdout)
            .contains("vrrpd")
    };
    wait_for("the block to be installed", Duration::from_secs(3), || {
        listed(&a)
    });
    a.signal(libc::SIGKILL);
    a.wait_exit();
    assert!(listed(&a), "kill -9 cannot clean up");
    let text = std::fs::read_to_string(a.config_path())
        .unwrap()
        .replace("accept_mode = false", "accept_mode = true");
    a.write_config(&text);
    a.start();
    wait_for(
        "the new daemon to remove the table",
        Duration::from_secs(10),
        || !listed(&a),
    );
    wait_for("A's new daemon to answer", Duration::from_secs(10), || {
        a.try_status().is_some()
    });
    a.signal(libc::SIGTERM);
    assert!(a.wait_exit().success(), "{}", a.log());
}

/// An administrator (or another tool) removes the VIP from the master: the daemon
/// hears it from the netlink watch and puts it back at once.
#[test]
fn vip_removed_behind_our_back_comes_back() {
    let tmp = tmpdir("vipdel");
    let (mut a, mut b) = one_link(tmp.path(), "");
    elect(&mut a, &mut b);
    a.ns.exec(&["ip", "addr", "del", &format!("{VIP}/32"), "dev", "lo"])
        .unwrap();
    let took = wait_for("the VIP to be restored", Duration::from_secs(2), || {
        a.has_vip()
    });
    println!(
        "VIP restored {:.1} ms after it was deleted",
        took.as_secs_f64() * 1e3
    );
    assert!(a.log().contains("behind our back"), "{}", a.log());
    assert!(!b.has_vip());
}

/// A routed instance of a dual-homed node: adverts from its loopback, sent by the FIB
/// over both uplinks, received on either.
fn dual_homed_config(node: &Node, me: &str, peer: &str, priority: u8, datapath: &str) -> String {
    format!(
        r#"
[global]
status_socket = "{sock}"
datapath = "{datapath}"

[[instance]]
name = "vi51"
interface = ["up1", "up2"]
vrid = 51
priority = {priority}
advert_interval_ms = {INTERVAL_MS}
mode = "unicast"
unicast_src = "{me}/32"

[[instance.peer]]
address = "{peer}"

[[instance.vip]]
address = "{VIP}/32"
"#,
        sock = node.socket().display(),
    )
}

/// Transitions of the one instance so far, all kinds together.
fn transitions(node: &Node) -> u64 {
    vrrp_tests::scenario::transition_count(&node.status_json())
}

/// One datapath's run of the dual-homed checks: the master loses one uplink and
/// nothing moves (its adverts reroute to the other, the backup hears them there);
/// it loses both and goes to FAULT, the backup takes over; both come back and it
/// preempts again.
fn dual_homed_uplinks(datapath: &str) {
    use vrrp_tests::lab::{
        Node as LabNode,
        dual::{DualHomed, Router, loopback, static_routes},
    };
    let tmp = tmpdir(&format!("dual-{datapath}"));
    let t = DualHomed::new("h").unwrap();
    t.static_routes().unwrap();
    let (la, lb) = (
        loopback(LabNode::A).to_string(),
        loopback(LabNode::B).to_string(),
    );
    let DualHomed {
        a,
        b,
        r1,
        r2,
        client: _client,
    } = t;
    let mut a = Node::with_ns("a", tmp.path(), a);
    let mut b = Node::with_ns("b", tmp.path(), b);
    a.write_config(&dual_homed_config(&a, &la, &lb, 200, datapath));
    b.write_config(&dual_homed_config(&b, &lb, &la, 100, datapath));
    // The topology's helpers again, around the namespaces the nodes now own.
    let uplink = |n: &Node, r: Router, up: bool| {
        let state = if up { "up" } else { "down" };
        n.ns.exec(&["ip", "link", "set", r.uplink(), state])
            .unwrap();
    };
    b.start();
    wait_for("B's daemon to answer", Duration::from_secs(10), || {
        b.try_status().is_some()
    });
    a.start();
    wait_for("A to hold the VIP", Duration::from_secs(10), || a.has_vip());
    wait_for("B to follow A", Duration::from_secs(5), || {
        b.is_backup_of(&la)
    });
    let (ta, tb) = (transitions(&a), transitions(&b));

    // One uplink of the master cut: whichever the ECMP hash picked for its adverts.
    for r in Router::ALL {
        uplink(&a, r, false);
        // B would take over within one Master_Down_Interval of hearing nothing.
        hold_while_backup_of(
            100,
            "A as the only VIP holder with one uplink",
            &a,
            &b,
            || a.has_vip() && !b.has_vip(),
        );
        let s = b.status_json();
        assert_eq!(s["instances"][0]["master"], la.as_str(), "{s:#}");
        uplink(&a, r, true);
        // The nexthop over the returned link comes back with its carrier.
        wait_for(
            "A's route to B over both uplinks",
            Duration::from_secs(5),
            || {
                let out =
                    a.ns.exec(&["ip", "route", "show", &format!("{lb}/32")])
                        .unwrap();
                String::from_utf8_lossy(&out.stdout)
                    .matches("nexthop")
                    .count()
                    == 2
                    && !String::from_utf8_lossy(&out.stdout).contains("dead")
            },
        );
    }
    assert_eq!(
        (transitions(&a), transitions(&b)),
        (ta, tb),
        "one uplink cut moved mastership\n--- A ---\n{}\n--- B ---\n{}",
        a.log(),
        b.log()
    );

    // Both uplinks cut: A has no route to its peer, so FAULT; B takes over.
    uplink(&a, Router::R1, false);
    uplink(&a, Router::R2, false);
    let took = wait_for("A to drop the VIP", Duration::from_secs(3), || !a.has_vip());
    wait_for("B to take over", Duration::from_secs(3), || b.has_vip());
    assert_eq!(a.status_json()["instances"][0]["state"], "fault");
    println!(
        "dual-homed ({datapath}): FAULT {:.1} ms after the second uplink went",
        took.as_secs_f64() * 1e3
    );
    let log = a.log();
    assert!(log.contains("no peer is routable"), "{log}");

    // Both back (the kernel flushed the routes over them): A preempts.
    uplink(&a, Router::R1, true);
    uplink(&a, Router::R2, true);
    wait_for("the uplinks' carriers", Duration::from_secs(5), || {
        static_routes([&a.ns, &b.ns], [&r1, &r2]).is_ok()
    });
    wait_for("A to take the VIP back", Duration::from_secs(10), || {
        a.has_vip()
    });
    wait_for("B to release it", Duration::from_secs(3), || !b.has_vip());
}

#[test]
fn dual_homed_one_uplink_cut_moves_nothing_both_fault_xdp() {
    dual_homed_uplinks("auto");
}

#[test]
fn dual_homed_one_uplink_cut_moves_nothing_both_fault_socket() {
    dual_homed_uplinks("socket");
}

// ---------------------------------------------------------------- IPv6

const VIP6: &str = "2001:db8:ff::1/128";
const A6: &str = "2001:db8:1::10";
const B6: &str = "2001:db8:2::10";

fn config6(node: &Node, src: &str, peer: &str, priority: u8, datapath: &str) -> String {
    format!(
        r#"
[global]
status_socket = "{sock}"
datapath = "{datapath}"

[[instance]]
name = "vi6"
interface = "eth0"
vrid = 51
priority = {priority}
advert_interval_ms = {INTERVAL_MS}
mode = "unicast"
unicast_src = "{src}/64"
vip_lease_s = 3

[[instance.peer]]
address = "{peer}/64"
ttl_min = 250

[[instance.vip]]
address = "{VIP6}"
dev = "lo"
"#,
        sock = node.socket().display(),
    )
}

/// The routed pair with IPv6 as well: A 2001:db8:1::10/64 and B 2001:db8:2::10/64,
/// the router 2001:db8:{1,2}::1 and forwarding; no duplicate address detection.
fn routed6(tmp: &Path, datapath: &str) -> (Node, Node, Netns) {
    let (a, b, router) = routed(tmp);
    for (node, net) in [(&a, 1), (&b, 2)] {
        let dev = if net == 1 { "ra" } else { "rb" };
        #[rustfmt::skip]
        node.ns.exec(&["ip", "addr", "replace", &format!("2001:db8:{net}::10/64"), "dev", "eth0", "nodad"]).unwrap();
        #[rustfmt::skip]
        router.exec(&["ip", "addr", "replace", &format!("2001:db8:{net}::1/64"), "dev", dev, "nodad"]).unwrap();
        #[rustfmt::skip]
        node.ns.exec(&["ip", "-6", "route", "replace", "default", "via", &format!("2001:db8:{net}::1")]).unwrap();
    }
    router
        .exec(&["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"])
        .unwrap();
    a.write_config(&config6(&a, A6, B6, 200, datapath));
    b.write_config(&config6(&b, B6, A6, 100, datapath));
    (a, b, router)
}

/// The IPv6 instance across a router: election (the adverts arrive with hop limit
/// 254, inside the peer's window), a graceful stop (priority 0), preemption back,
/// kill -9 (Master_Down_Interval, and the orphaned VIP's lease), and the restart's
/// clean-up. The VIP is a /128 on lo, added without DAD.
fn ipv6_across_a_router(datapath: &str) {
    let tmp = tmpdir(&format!("v6{datapath}"));
    let (mut a, mut b, _r) = routed6(tmp.path(), datapath);
    let a_holds = |a: &Node| a.holds("lo", VIP6);
    b.start();
    wait_for("B's daemon to answer", Duration::from_secs(10), || {
        b.try_status().is_some()
    });
    a.start();
    wait_for("A to hold the IPv6 VIP", Duration::from_secs(10), || {
        a_holds(&a)
    });
    wait_for("B to release it", 5 * INTERVAL, || !b.holds("lo", VIP6));
    wait_for(
        "B to report A as its master",
        Duration::from_secs(5),
        || b.is_backup_of(A6),
    );
    hold_while_backup_of(100, "A as the only IPv6 VIP holder", &a, &b, || {
        a_holds(&a) && !b.holds("lo", VIP6)
    });
    let line = a.addr_line("lo", VIP6).unwrap();
    assert!(!line.contains("tentative"), "no DAD on a VIP: {line}");
    assert!(
        line.contains("valid_lft 3sec") || line.contains("valid_lft 2sec"),
        "leased: {line}"
    );
    let sb = b.status_json();
    let inst = &sb["instances"][0];
    assert!(inst["adverts_received"].as_u64().unwrap() > 0, "{sb:#}");
    let sa = a.status_json();
    assert!(
        sa["instances"][0]["adverts_sent"].as_u64().unwrap() > 0,
        "{sa:#}"
    );
    assert_eq!(sa["daemon"]["datapath"], datapath, "{sa:#}");

    // Graceful stop: priority 0, B takes over after Skew_Time.
    a.signal(libc::SIGTERM);
    let took = wait_for(
        "B to take over after SIGTERM",
        Duration::from_secs(3),
        || b.holds("lo", VIP6),
    );
    assert!(a.wait_exit().success(), "{}", a.log());
    assert!(!a_holds(&a), "A removed its IPv6 VIP on the way out");
    assert!(took < Duration::from_millis(1500), "{took:?}");
    println!(
        "IPv6 {datapath}: graceful stop, B master {:.1} ms after SIGTERM",
        took.as_secs_f64() * 1e3
    );

    // A comes back with the higher priority and preempts.
    a.start();
    wait_for(
        "A to take the IPv6 VIP back",
        Duration::from_secs(10),
        || a_holds(&a),
    );
    wait_for("B to release it", Duration::from_secs(3), || {
        !b.holds("lo", VIP6)
    });

    // kill -9: B waits Master_Down_Interval from A's last advert.
    let floor = master_down_interval(VERSION, 100, INTERVAL) - INTERVAL;
    a.signal(libc::SIGKILL);
    let took = wait_for(
        "B to take over after kill -9",
        Duration::from_secs(5),
        || b.holds("lo", VIP6),
    );
    a.wait_exit();
    assert!(
        took + Duration::from_millis(10) >= floor,
        "faster than the RFC allows: {took:?}"
    );
    println!(
        "IPv6 {datapath}: kill -9, B master {:.1} ms after the kill",
        took.as_secs_f64() * 1e3
    );
    // The orphaned VIP goes with its lease.
    wait_for(
        "A's leased IPv6 VIP to expire",
        Duration::from_secs(6),
        || !a_holds(&a),
    );
    // And a restart preempts again.
    a.start();
    wait_for("A master again", Duration::from_secs(10), || a_holds(&a));
    wait_for("B to release", Duration::from_secs(3), || {
        !b.holds("lo", VIP6)
    });
}

#[test]
fn ipv6_across_a_router_xdp() {
    ipv6_across_a_router("xdp");
}

#[test]
fn ipv6_across_a_router_socket() {
    ipv6_across_a_router("socket");
}

/// A link VIP over IPv6 on one link: on eth0 without DAD, announced by unsolicited
/// neighbour advertisements (B, accepting untracked ones, learns A's MAC for it),
/// blocked by nftables with accept_mode off; a crash's leftover goes at the restart.
#[test]
fn ipv6_link_vip_announced_and_blocked() {
    let tmp = tmpdir("v6link");
    require_root_and_netns().unwrap();
    let mut a = Node::new("a", tmp.path());
    let mut b = Node::new("b", tmp.path());
    veth(&a.ns, "eth0", &b.ns, "eth0").unwrap();
    for (n, addr) in [(&a, "2001:db8:1::10/64"), (&b, "2001:db8:1::20/64")] {
        n.ns.exec(&["ip", "addr", "add", addr, "dev", "eth0", "nodad"])
            .unwrap();
    }
    let vip = "2001:db8:1::100/64";
    let cfg = |n: &Node, src: &str, peer: &str, prio: u8| {
        format!(
            r#"
[global]
status_socket = "{sock}"

[[instance]]
name = "vi6"
interface = "eth0"
vrid = 52
priority = {prio}
advert_interval_ms = {INTERVAL_MS}
mode = "unicast"
unicast_src = "{src}/64"
accept_mode = false

[[instance.peer]]
address = "{peer}"

[[instance.vip]]
address = "{vip}"
dev = "eth0"

[instance.garp]
repeat = 2
delay_ms = 1500
"#,
            sock = n.socket().display()
        )
    };
    a.write_config(&cfg(&a, "2001:db8:1::10", "2001:db8:1::20", 200));
    b.write_config(&cfg(&b, "2001:db8:1::20", "2001:db8:1::10", 100));
    b.start();
    wait_for("B's daemon to answer", Duration::from_secs(10), || {
        b.try_status().is_some()
    });
    a.start();
    wait_for("A to hold the link VIP", Duration::from_secs(10), || {
        a.holds("eth0", vip)
    });
    wait_for("B to release it", Duration::from_secs(3), || {
        !b.holds("eth0", vip)
    });
    let line = a.addr_line("eth0", vip).unwrap();
    assert!(!line.contains("tentative"), "{line}");
    let a_mac = String::from_utf8(
        a.ns.exec(&["cat", "/sys/class/net/eth0/address"])
            .unwrap()
            .stdout,
    )
    .unwrap();
    // B's cache points the VIP elsewhere (as after a takeover); the second burst of
    // unsolicited NAs, with the override flag, must correct it.
    #[rustfmt::skip]
    b.ns.exec(&["ip", "-6", "neigh", "replace", "2001:db8:1::100", "lladdr", "02:00:00:00:00:99", "dev", "eth0", "nud", "stale"]).unwrap();
    wait_for(
        "B to learn A's MAC for the VIP from the NA",
        Duration::from_secs(5),
        || {
            let out =
                b.ns.exec(&["ip", "-6", "neigh", "show", "2001:db8:1::100"])
                    .unwrap();
            String::from_utf8_lossy(&out.stdout).contains(a_mac.trim())
        },
    );
    let set =
        a.ns.exec(&["nft", "list", "set", "inet", "vrrpd", "noaccept6"])
            .unwrap();
    assert!(
        String::from_utf8_lossy(&set.stdout).contains("2001:db8:1::100"),
        "{}",
        String::from_utf8_lossy(&set.stdout)
    );
    // A crash leaves the VIP and the block; the restart removes both and wins again.
    a.signal(libc::SIGKILL);
    a.wait_exit();
    wait_for("B to take over", Duration::from_secs(5), || {
        b.holds("eth0", vip)
    });
    a.start();
    wait_for("A to take the VIP back", Duration::from_secs(10), || {
        a.holds("eth0", vip)
    });
    wait_for("B to release it", Duration::from_secs(3), || {
        !b.holds("eth0", vip)
    });
    a.signal(libc::SIGTERM);
    a.wait_exit();
    assert!(!a.holds("eth0", vip), "{}", a.log());
    let tables = a.ns.exec(&["nft", "list", "tables"]).unwrap();
    assert!(!String::from_utf8_lossy(&tables.stdout).contains("vrrpd"));
}

/// A dual-stack service: an IPv4 and an IPv6 instance (same VRID, VRIDs are per
/// family) in one sync group. When the IPv6 instance's tracked check fails, the
/// IPv4 one leaves with it: B holds both VIPs, never one each.
#[test]
fn dual_stack_sync_group_moves_both_families_together() {
    let tmp = tmpdir("dualstack");
    // Each node checks its own IPv6 side; only A's fails.
    let flag = tmp.path().join("a-v6-healthy");
    let b_flag = tmp.path().join("b-v6-healthy");
    std::fs::write(&flag, "").unwrap();
    std::fs::write(&b_flag, "").unwrap();
    let (mut a, mut b, _r) = routed6(tmp.path(), "auto");
    let cfg = |n: &Node, me4: &str, peer4: &str, me6: &str, peer6: &str, prio: u8, flag: &Path| {
        format!(
            r#"
[global]
status_socket = "{sock}"

[[instance]]
name = "svc4"
interface = "eth0"
vrid = 51
priority = {prio}
advert_interval_ms = {INTERVAL_MS}
mode = "unicast"
unicast_src = "{me4}/24"

[[instance.peer]]
address = "{peer4}/24"
ttl_min = 250

[[instance.vip]]
address = "{VIP}/32"
dev = "lo"

[[instance]]
name = "svc6"
interface = "eth0"
vrid = 51
priority = {prio}
advert_interval_ms = {INTERVAL_MS}
mode = "unicast"
unicast_src = "{me6}/64"

[[instance.peer]]
address = "{peer6}/64"
ttl_min = 250

[[instance.vip]]
address = "{VIP6}"
dev = "lo"

[[instance.track_script]]
name = "v6"
command = ["/usr/bin/test", "-e", "{flag}"]
interval_ms = 100
timeout_ms = 100
fall = 1
rise = 1
weight = 0

[[sync_group]]
name = "svc"
members = ["svc4", "svc6"]
"#,
            sock = n.socket().display(),
            flag = flag.display(),
        )
    };
    a.write_config(&cfg(&a, A_ADDR, "10.1.2.10", A6, B6, 200, &flag));
    b.write_config(&cfg(&b, "10.1.2.10", A_ADDR, B6, A6, 100, &b_flag));
    let v4 = format!("{VIP}/32");
    let both = |n: &Node| n.holds("lo", &v4) && n.holds("lo", VIP6);
    let none = |n: &Node| !n.holds("lo", &v4) && !n.holds("lo", VIP6);
    b.start();
    wait_for("B's daemon to answer", Duration::from_secs(10), || {
        b.try_status().is_some()
    });
    a.start();
    wait_for("A to hold both VIPs", Duration::from_secs(10), || both(&a));
    wait_for("B to hold neither", Duration::from_secs(3), || none(&b));
    hold_while_backup_of(100, "A holding both families", &a, &b, || {
        both(&a) && none(&b)
    });
    // The IPv6 side's check fails: svc6 to FAULT, svc4 with it; B takes both.
    std::fs::remove_file(&flag).unwrap();
    wait_for("B to hold both VIPs", Duration::from_secs(5), || both(&b));
    wait_for("A to hold neither", Duration::from_secs(3), || none(&a));
    let sa = a.status_json();
    let states: Vec<&str> = sa["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["state"].as_str().unwrap())
        .collect();
    assert!(!states.contains(&"master"), "{sa:#}");
    // Healthy again: both come back to A together.
    std::fs::write(&flag, "").unwrap();
    wait_for("A to hold both again", Duration::from_secs(10), || both(&a));
    wait_for("B to hold neither again", Duration::from_secs(3), || {
        none(&b)
    });
}

//! Reload classes end to end: a master across two subnets is reloaded with one edit
//! of each class, and must stay master with no priority-0 advert on the wire and no
//! VIP removed; an identity edit (the restart class) still restarts it properly.
//!
//! The adverts are watched by a packet socket in the router namespace, on the port
//! A's adverts enter by, so what counts is what really left A. Windows that prove
//! nothing happened are sized from the protocol (twice B's Master_Down_Interval plus
//! an interval), so they prove it at any advert interval.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use vrrp_tests::{
    bench::capture::Capture,
    lab::{Node as LabNode, RoutedPair},
    netns::Netns,
    timing::{Version, backup_watch, hold_for, wait_for},
    tmp::TempDir,
};

const VRRPD: &str = env!("CARGO_BIN_EXE_vrrpd");
const INTERVAL: Duration = Duration::from_millis(100);
const A: &str = "10.1.1.10";
const B: &str = "10.1.2.10";
const LIMIT: Duration = Duration::from_secs(10);

struct Daemon {
    ns: Netns,
    dir: PathBuf,
    pid: Option<u32>,
}

impl Daemon {
    fn new(ns: Netns, dir: PathBuf) -> Daemon {
        std::fs::create_dir_all(&dir).unwrap();
        Daemon { ns, dir, pid: None }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("vrrpd.toml")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("vrrpd.log")).unwrap_or_default()
    }

    fn write(&self, text: &str) {
        std::fs::write(self.config_path(), text).unwrap();
    }

    fn start(&mut self) {
        let cfg = self.config_path();
        let log = self.dir.join("vrrpd.log");
        let argv = [VRRPD, "run", "-c", cfg.to_str().unwrap()];
        self.pid = Some(self.ns.spawn_logged(&argv, &log).unwrap());
    }

    /// SIGHUP, then waits until the daemon logged the reload.
    fn reload(&mut self) {
        let before = self.log().matches("configuration reloaded").count();
        self.ns
            .signal(self.pid.expect("running"), libc::SIGHUP)
            .unwrap();
        wait_for("the reload to be logged", LIMIT, || {
            self.log().matches("configuration reloaded").count() > before
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", self.log()));
    }

    fn has(&self, vip: &str) -> bool {
        let out = self
            .ns
            .exec(&["ip", "-o", "addr", "show", "dev", "lo"])
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains(&format!("{vip}/32"))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = self.ns.signal(pid, libc::SIGKILL);
            let _ = self.ns.wait_exit(pid, Duration::from_secs(5));
        }
    }
}

/// vi51 with `priority`, `extra` keys, and the VIPs `vips` on lo.
fn config(
    dir: &Path,
    src: &str,
    peer: &str,
    vrid: u8,
    priority: u8,
    extra: &str,
    vips: &[&str],
) -> String {
    let mut text = format!(
        r#"
[global]
status_socket = "{sock}"

[[instance]]
name = "vi51"
interface = "{uplink}"
vrid = {vrid}
priority = {priority}
advert_interval_ms = {ms}
mode = "unicast"
unicast_src = "{src}/24"
{extra}

[[instance.peer]]
address = "{peer}"
ttl_min = 250
"#,
        sock = dir.join("vrrpd.sock").display(),
        uplink = vrrp_tests::lab::UPLINK,
        ms = INTERVAL.as_millis(),
    );
    for v in vips {
        text.push_str(&format!(
            "\n[[instance.vip]]\naddress = \"{v}/32\"\ndev = \"lo\"\n"
        ));
    }
    text
}

/// What must hold across a reload that may not move mastership: A keeps every VIP
/// the whole window, B holds none, B never transitions, and A sent no priority 0.
fn assert_no_flap(class: &str, a: &Daemon, b: &Daemon, cap: &Capture, vips: &[&str]) {
    let b_log = b.log().matches("state change").count();
    hold_for(
        &format!("A to keep {vips:?} and B to hold none after a {class} reload"),
        backup_watch(Version::V3, 100, INTERVAL),
        || vips.iter().all(|v| a.has(v)) && !vips.iter().any(|v| b.has(v)),
    )
    .unwrap_or_else(|e| panic!("{e}\nA:\n{}\nB:\n{}", a.log(), b.log()));
    let goodbyes: Vec<_> = cap
        .frames()
        .into_iter()
        .filter(|f| f.priority == 0)
        .collect();
    assert!(
        goodbyes.is_empty(),
        "{class} reload sent priority 0: {goodbyes:?}"
    );
    assert!(!cap.frames().is_empty(), "A kept advertising");
    assert_eq!(
        b.log().matches("state change").count(),
        b_log,
        "B moved:\n{}",
        b.log()
    );
    assert!(
        !a.log().contains("VIP removed"),
        "{class} reload removed a VIP:\n{}",
        a.log()
    );
    assert!(
        a.log().contains(&format!("class={class}")),
        "A's reload line names the class {class}:\n{}",
        a.log()
    );
}

const VIP: &str = "10.1.255.1";
const VIP2: &str = "10.1.255.2";
/// The value-class edit: a hook, the sent TTL and the lease, new values only.
const VALUE: &str = "ttl = 254\nvip_lease_s = 30\nhooks.on_backup = [\"/bin/true\"]";

/// A (priority 200) master and B (100) backup across the router, and a capture of
/// what A sends. Dropped in reverse: capture, daemons, namespaces, files.
struct Pair {
    cap: Capture,
    a: Daemon,
    b: Daemon,
    _router: Netns,
    _tmp: TempDir,
}

impl Pair {
    fn elect(name: &str) -> Pair {
        let tmp = TempDir::new(name);
        let RoutedPair { a, b, router } = RoutedPair::new("rl").unwrap();
        let mut a = Daemon::new(a, tmp.path().join("a"));
        let mut b = Daemon::new(b, tmp.path().join("b"));
        a.write(&config(&a.dir, A, B, 51, 200, "", &[VIP]));
        b.write(&config(&b.dir, B, A, 51, 100, "", &[VIP]));
        b.start();
        a.start();
        wait_for("A to hold the VIP", LIMIT, || a.has(VIP) && !b.has(VIP))
            .unwrap_or_else(|e| panic!("{e}\nA:\n{}\nB:\n{}", a.log(), b.log()));
        let cap = Capture::start(&router.name, &[LabNode::A.router_dev()]).unwrap();
        Pair {
            cap,
            a,
            b,
            _router: router,
            _tmp: tmp,
        }
    }

    /// Rewrites A's file and reloads it.
    fn reload_a(&mut self, vrid: u8, priority: u8, extra: &str, vips: &[&str]) {
        self.cap.clear();
        self.a
            .write(&config(&self.a.dir, A, B, vrid, priority, extra, vips));
        self.a.reload();
    }

    /// Rewrites B's file and reloads it (B first when the nodes must agree).
    fn reload_b(&mut self, vrid: u8, vips: &[&str]) {
        self.b
            .write(&config(&self.b.dir, B, A, vrid, 100, "", vips));
        self.b.reload();
    }
}

#[test]
fn value_class_reload_keeps_the_master() {
    let mut p = Pair::elect("rlvalue");
    p.reload_a(51, 200, VALUE, &[VIP]);
    assert_no_flap("value", &p.a, &p.b, &p.cap, &[VIP]);
    let frames = p.cap.frames();
    assert!(frames.iter().all(|f| f.priority == 200), "{frames:?}");
}

#[test]
fn core_class_reload_advertises_the_new_priority_and_keeps_the_master() {
    let mut p = Pair::elect("rlcore");
    p.reload_a(51, 180, "preempt_delay_ms = 500", &[VIP]);
    wait_for("A to advertise priority 180", LIMIT, || {
        p.cap.last().is_some_and(|f| f.priority == 180)
    })
    .unwrap();
    assert_no_flap("core", &p.a, &p.b, &p.cap, &[VIP]);
}

#[test]
fn addresses_class_reload_adds_and_removes_a_vip_on_the_master() {
    let mut p = Pair::elect("rladdr");
    // B first: it checks the advertised list against its own.
    p.reload_b(51, &[VIP, VIP2]);
    p.reload_a(51, 200, "", &[VIP, VIP2]);
    wait_for("A to add the second VIP", LIMIT, || p.a.has(VIP2)).unwrap();
    assert_no_flap("addresses", &p.a, &p.b, &p.cap, &[VIP, VIP2]);
    p.reload_b(51, &[VIP]);
    p.reload_a(51, 200, "", &[VIP]);
    wait_for("A to remove the second VIP", LIMIT, || !p.a.has(VIP2)).unwrap();
    hold_for(
        "A to keep the first VIP",
        backup_watch(Version::V3, 100, INTERVAL),
        || p.a.has(VIP) && !p.b.has(VIP),
    )
    .unwrap_or_else(|e| panic!("{e}\nA:\n{}", p.a.log()));
    assert!(p.cap.frames().iter().all(|f| f.priority == 200));
}

#[test]
fn restart_class_reload_leaves_with_priority_zero_and_wins_again() {
    let mut p = Pair::elect("rlrestart");
    // A new VRID on both. A leaves VRID 51 with priority 0 and wins VRID 52.
    p.reload_b(52, &[VIP]);
    p.reload_a(52, 200, "", &[VIP]);
    let (a, b, cap) = (&p.a, &p.b, &p.cap);
    wait_for("A's goodbye for VRID 51", LIMIT, || {
        cap.frames().iter().any(|f| f.vrid == 51 && f.priority == 0)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", a.log()));
    wait_for("A to master VRID 52", LIMIT, || {
        cap.last()
            .is_some_and(|f| f.vrid == 52 && f.priority == 200)
            && a.has(VIP)
    })
    .unwrap_or_else(|e| panic!("{e}\nA:\n{}\nB:\n{}", a.log(), b.log()));
    assert!(a.log().contains("class=restart"), "{}", a.log());
    wait_for("B to hold no VIP", LIMIT, || !b.has(VIP)).unwrap();
    hold_for(
        "B to hold no VIP once A masters VRID 52",
        backup_watch(Version::V3, 100, INTERVAL),
        || !b.has(VIP) && a.has(VIP),
    )
    .unwrap_or_else(|e| panic!("{e}\nB:\n{}", b.log()));
}

//! Interop with a real keepalived (Debian's 2.2.7) as the peer, across a router.
//!
//! The `imported_*` tests run vrrpd with the file `vrrpd import-keepalived` made
//! from the keepalived.conf node A would have (the import must be exact), so an
//! imported pair elects and fails over both ways.
//!
//! Topology (the `routed()` one of daemon_netns.rs): node A runs vrrpd on
//! 10.1.1.10/24, node B runs keepalived on 10.1.2.10/24, a router namespace joins
//! the two subnets, adverts go by unicast, and the VIP 10.1.255.1/32 lives on the
//! master's `lo`. Over IPv6 (`Net`): the same with 2001:db8:1::10/64 and
//! 2001:db8:2::10/64 and the VIP 2001:db8:ff::1/128 on `lo`; and, multicast to
//! ff02::12 from the link-local addresses, both nodes on one link with the link VIPs
//! fe80::52:1/64 (RFC 9568 wants a link-local first) and 2001:db8:1::100/64 on
//! `eth0`. Each test is one (VRRP version, network, which side is master) case and
//! runs the same script:
//!
//! 1. the backup-to-be starts alone and takes the VIP;
//! 2. the master-to-be starts and preempts;
//! 3. the master is stopped with SIGTERM (priority 0) and the backup takes over;
//! 4. the master restarts and preempts again;
//! 5. the master is killed with SIGKILL and the backup takes over after
//!    Master_Down_Interval.
//!
//! # The agreement check
//!
//! A sampler thread reads both nodes' addresses every [`SAMPLE_EVERY`]; a node
//! "holds" the VIP when the (global) VIP is on one of its interfaces. A node killed with SIGKILL stops
//! counting from the kill on: nothing removes a crashed router's VIP (neither
//! keepalived nor vrrpd without `vip_lease_s`). A gracefully stopped node keeps
//! counting: it must have removed its VIP. The run fails if
//!
//! - **both hold**: a run of consecutive samples in which both nodes hold the VIP
//!   spans (first to last sample) more than 2 advert intervals;
//! - **no convergence**: after an event (start, SIGTERM, SIGKILL) the expected
//!   master is not the only holder within the event's time bound;
//! - **not steady**: from the first sample where the expected master is the only
//!   holder until the next event, any sample shows something else (neither node,
//!   both, or the wrong one). So "neither holds after convergence" fails at once.
//!
//! Between an event and convergence, neither holding is allowed (that is the
//! failover gap being measured); its length is bounded by the convergence bound.
//! Measured times are taken from the samples, so they are accurate to about
//! [`SAMPLE_EVERY`], and printed.
//!
//! # What keepalived needs
//!
//! Nothing beyond a plain unicast instance: `vrrp_strict` off (the default;
//! strict mode refuses unicast), `unicast_src_ip`, `unicast_peer`. keepalived
//! 2.2.7 checks the TTL only for multicast instances, so our adverts arriving with
//! TTL 254 are accepted; the test sets `min_ttl 250` on the peer anyway, so a TTL
//! problem on our side would show. `vrrp_check_unicast_src` makes keepalived drop
//! adverts from an address not listed as a peer, which checks our source address.
//! keepalived's VRRPv3 unicast checksum includes the IPv4 pseudo-header with the
//! real destination, which is vrrpd's default.
//!
//! Over IPv6 keepalived needs `native_ipv6` and computes the checksum through the
//! kernel (`IPV6_CHECKSUM`: the RFC 8200 pseudo-header, which is ours). It sets the
//! hop limit of its sockets for multicast only, so its unicast IPv6 adverts leave with
//! the kernel default (64) and arrive with 63: the vrrpd side's window is 60..=64, and
//! a backup demanding 250 would count every one `bad_ttl` (the first run here did).
//!
//! keepalived runs as a parent plus a VRRP child. Killing the parent with SIGKILL
//! makes the child shut down gracefully (it sends priority 0), so a crash is
//! simulated by killing the VRRP child (whose PID keepalived writes to our `-r`
//! file and whose parent we check is our process), with `-R` so the parent does
//! not respawn it.

use std::{
    fs::File,
    net::{IpAddr, Ipv4Addr},
    os::fd::AsRawFd,
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use vrrp_tests::{
    lab::RoutedPair,
    netns::{Netns, require_root_and_netns, veth},
    timing::{self, Version},
    tmp::TempDir,
};

const VRRPD: &str = env!("CARGO_BIN_EXE_vrrpd");
const VIP: Ipv4Addr = Ipv4Addr::new(10, 1, 255, 1);
const VRID: u8 = 51;
/// How often the sampler reads both nodes' addresses.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);
/// Node indices: A runs vrrpd, B runs keepalived.
const A: usize = 0;
const B: usize = 1;
const ADDR: [&str; 2] = ["10.1.1.10", "10.1.2.10"];
const ADDR6: [&str; 2] = ["2001:db8:1::10", "2001:db8:2::10"];

/// Which network the pair talks over.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Net {
    /// Unicast IPv4 across the router (the reference case).
    V4,
    /// Unicast IPv6 across the router.
    V6Unicast,
    /// Multicast IPv6 (ff02::12) on one link.
    V6Multicast,
}

impl Net {
    /// The VIP the sampler looks for, and each side's `virtual_ipaddress` lines.
    fn vip(self) -> IpAddr {
        match self {
            Net::V4 => IpAddr::V4(VIP),
            Net::V6Unicast => "2001:db8:ff::1".parse().unwrap(),
            Net::V6Multicast => "2001:db8:1::100".parse().unwrap(),
        }
    }

    /// The VIPs as (address/prefix, device), first one first.
    fn vips(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Net::V4 => vec![("10.1.255.1/32", "lo")],
            Net::V6Unicast => vec![("2001:db8:ff::1/128", "lo")],
            Net::V6Multicast => vec![("fe80::52:1/64", "eth0"), ("2001:db8:1::100/64", "eth0")],
        }
    }
}
const HIGH: u8 = 200;
const LOW: u8 = 100;

/// Lines keepalived logs when it rejects or misreads one of our adverts.
const KEEPALIVED_COMPLAINTS: &[&str] = &[
    "invalid TTL",
    "not in range",
    "wrong version",
    "interval mismatch",
    "interval updated",
    "not a unicast peer",
    "checksum to old version",
    "not present in MASTER advert",
    "Invalid packet type",
];

#[derive(Clone, Copy)]
struct Proto {
    version: u8,
    interval: Duration,
    net: Net,
}

impl Proto {
    fn new(version: u8, net: Net) -> Proto {
        // VRRPv2 carries whole seconds; v3 runs sub-second, as vrrpd is meant to.
        let ms = if version == 2 { 1000 } else { 100 };
        Proto {
            version,
            interval: Duration::from_millis(ms),
            net,
        }
    }

    fn core_version(&self) -> Version {
        if self.version == 2 {
            Version::V2
        } else {
            Version::V3
        }
    }

    /// Master_Down_Interval of a backup of `priority` (RFC 9568 §6.1; RFC 3768 §6.1),
    /// from vrrp-core.
    fn master_down(&self, priority: u8) -> Duration {
        timing::master_down_interval(self.core_version(), priority, self.interval)
    }

    /// keepalived's `advert_int` is in seconds; v3 takes fractions.
    fn keepalived_advert_int(&self) -> String {
        format!("{}", self.interval.as_secs_f64())
    }

    /// Longest allowed run of samples in which both nodes hold the VIP.
    fn dual_limit(&self) -> Duration {
        2 * self.interval
    }

    /// How long the expected master must stay the only holder between events: the
    /// backup's (priority [`LOW`]) watch window, two of its Master_Down_Intervals and
    /// an interval, since a backup that did not hear the master would take over
    /// within one. Never less than the second it used to be.
    fn steady(&self) -> Duration {
        timing::backup_watch(self.core_version(), LOW, self.interval).max(Duration::from_secs(1))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Vrrpd,
    Keepalived,
}

/// One node: its namespace, files and the process we started in it.
struct Node {
    kind: Kind,
    ns: Netns,
    dir: PathBuf,
    pid: Option<u32>,
}

impl Node {
    fn config(&self) -> PathBuf {
        self.dir.join(match self.kind {
            Kind::Vrrpd => "vrrpd.toml",
            Kind::Keepalived => "keepalived.conf",
        })
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("log")
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("vrrpd.sock")
    }

    fn vrrp_pid_file(&self) -> PathBuf {
        self.dir.join("vrrp.pid")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn start(&mut self) {
        let cfg = self.config();
        let cfg = cfg.to_str().unwrap();
        let main_pid = self.dir.join("keepalived.pid");
        let vrrp_pid = self.vrrp_pid_file();
        let _ = std::fs::remove_file(&vrrp_pid);
        let argv: Vec<&str> = match self.kind {
            Kind::Vrrpd => vec![VRRPD, "run", "-c", cfg],
            // -n: stay in the foreground (our PID is keepalived's); -l -D -G: detailed
            // log to the console only; -P: VRRP only; -R: a killed VRRP child stays dead.
            Kind::Keepalived => vec![
                "keepalived",
                "-n",
                "-l",
                "-D",
                "-G",
                "-P",
                "-R",
                "-f",
                cfg,
                "-p",
                main_pid.to_str().unwrap(),
                "-r",
                vrrp_pid.to_str().unwrap(),
            ],
        };
        self.pid = Some(self.ns.spawn_logged(&argv, &self.log_path()).unwrap());
    }

    /// SIGTERM and wait for a clean exit.
    fn stop(&mut self) {
        let pid = self.pid.take().expect("running");
        self.ns.signal(pid, libc::SIGTERM).unwrap();
        let status = self
            .ns
            .wait_exit(pid, Duration::from_secs(10))
            .unwrap()
            .unwrap_or_else(|| panic!("{:?} did not exit on SIGTERM:\n{}", self.kind, self.log()));
        assert!(
            status.success(),
            "{:?} exit status on SIGTERM: {status}\n{}",
            self.kind,
            self.log()
        );
    }

    /// SIGKILL the process that runs VRRP, as a crash would.
    fn crash(&mut self) {
        let pid = self.pid.take().expect("running");
        match self.kind {
            Kind::Vrrpd => self.ns.signal(pid, libc::SIGKILL).unwrap(),
            Kind::Keepalived => {
                let child = self.keepalived_vrrp_child(pid);
                // SAFETY: kill(2) on keepalived's VRRP child, checked above to be a
                // child of the keepalived process this test started.
                let r = unsafe { libc::kill(child as i32, libc::SIGKILL) };
                assert_eq!(r, 0, "kill {child}: {}", std::io::Error::last_os_error());
            }
        }
        // keepalived's parent exits by itself once its child is gone (-R).
        self.ns
            .wait_exit(pid, Duration::from_secs(10))
            .unwrap()
            .unwrap_or_else(|| panic!("{:?} still running after the kill", self.kind));
    }

    /// The PID of keepalived's VRRP child, verified to be a child of `parent`.
    fn keepalived_vrrp_child(&self, parent: u32) -> u32 {
        let text = std::fs::read_to_string(self.vrrp_pid_file()).unwrap_or_else(|e| {
            panic!(
                "keepalived's VRRP pid file {}: {e}\n{}",
                self.vrrp_pid_file().display(),
                self.log()
            )
        });
        let child: u32 = text.trim().parse().unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap();
        // Field 4 (after "pid (comm) state") is the parent PID.
        let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
        let ppid: u32 = after_comm.split(' ').nth(1).unwrap().parse().unwrap();
        assert_eq!(ppid, parent, "pid {child} is not our keepalived's child");
        child
    }

    fn status(&self) -> serde_json::Value {
        let out = Command::new(VRRPD)
            .args(["status", "--json", "-s", self.socket().to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "vrrpd status: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn vrrpd_config(node: &Node, p: Proto, priority: u8, addrs: &[String; 2]) -> String {
    let transport = match p.net {
        Net::V4 => format!(
            r#"mode = "unicast"
unicast_src = "{a}/24"

# keepalived's unicast adverts leave with TTL 255 and cross one router.
[[instance.peer]]
address = "{b}/24"
ttl_min = 250
"#,
            a = addrs[A],
            b = addrs[B]
        ),
        Net::V6Unicast => format!(
            r#"mode = "unicast"
unicast_src = "{a}/64"

# keepalived 2.2.7 sets the hop limit of its IPv6 sockets for multicast only: its
# unicast adverts leave with the kernel's default (64) and cross one router.
[[instance.peer]]
address = "{b}/64"
ttl_min = 60
ttl_max = 64
"#,
            a = addrs[A],
            b = addrs[B]
        ),
        Net::V6Multicast => "mode = \"multicast\"\n".to_string(),
    };
    let vips: String = p
        .net
        .vips()
        .iter()
        .map(|(a, dev)| format!("\n[[instance.vip]]\naddress = \"{a}\"\ndev = \"{dev}\"\n"))
        .collect();
    format!(
        r#"[global]
status_socket = "{sock}"

[[instance]]
name = "vi51"
interface = "eth0"
vrid = {VRID}
version = {version}
priority = {priority}
advert_interval_ms = {ms}
{transport}{vips}"#,
        sock = node.socket().display(),
        version = p.version,
        ms = p.interval.as_millis(),
    )
}

/// vrrpd's file made by `import-keepalived` from the keepalived file node A
/// would have if it ran keepalived: the same template with A's and B's
/// addresses swapped. The import must be exact.
fn imported_vrrpd_config(node: &Node, p: Proto, priority: u8) -> String {
    use vrrp_user::import::{self, ImportOptions, Outcome, TranslateOptions};
    let original = keepalived_config_for(p, priority, "node-a", ADDR[A], ADDR[B]);
    let opts = ImportOptions {
        translate: TranslateOptions {
            src_prefix_len: Some(24),
        },
        ..Default::default()
    };
    let report = import::import_text(&original, "node-a/keepalived.conf", &opts);
    assert_eq!(
        report.outcome(),
        Outcome::Exact,
        "import not exact: {:#?}\n{}",
        report.diagnostics,
        report.toml
    );
    // The test's own status socket, the one key keepalived has no word for.
    report.toml.replacen(
        "[global]\n",
        &format!(
            "[global]\nstatus_socket = \"{}\"\n",
            node.socket().display()
        ),
        1,
    )
}

fn keepalived_config(p: Proto, priority: u8, name: &str, addrs: &[String; 2]) -> String {
    keepalived_config_for(p, priority, name, &addrs[B], &addrs[A])
}

/// keepalived's file for a node with address `src` and peer `peer` (unused for
/// multicast, where keepalived sends from the link-local address itself).
fn keepalived_config_for(p: Proto, priority: u8, name: &str, src: &str, peer: &str) -> String {
    let transport = match p.net {
        Net::V4 | Net::V6Unicast => format!(
            r#"    unicast_src_ip {src}
    unicast_peer {{
        # vrrpd's adverts arrive with TTL (hop limit) 254 (one router).
        {peer} min_ttl 250 max_ttl 255
    }}
"#
        ),
        Net::V6Multicast => String::new(),
    };
    let family = if p.net == Net::V4 {
        ""
    } else {
        "    native_ipv6\n"
    };
    let vips: String = p
        .net
        .vips()
        .iter()
        .map(|(a, dev)| format!("        {a} dev {dev}\n"))
        .collect();
    format!(
        r#"global_defs {{
    router_id {name}
    vrrp_version {version}
    # Drop adverts whose source is not a listed unicast peer.
    vrrp_check_unicast_src
}}

vrrp_instance vi51 {{
    interface eth0
    virtual_router_id {VRID}
    priority {priority}
    advert_int {int}
{family}{transport}    virtual_ipaddress {{
{vips}    }}
}}
"#,
        version = p.version,
        int = p.keepalived_advert_int(),
    )
}

/// Fails (never skips) when keepalived is missing.
fn require_keepalived() {
    let ok = Command::new("keepalived")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stderr).contains("Keepalived v2"));
    assert!(
        ok,
        "keepalived 2.x not installed (or not on PATH): run `cargo xtask setup` \
         or `apt-get install -y keepalived`"
    );
}

/// Whether the calling thread's network namespace has `vip` on an interface.
fn holds(vip: IpAddr) -> bool {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list that is freed below.
    let r = unsafe { libc::getifaddrs(&mut head) };
    assert_eq!(r, 0, "getifaddrs: {}", std::io::Error::last_os_error());
    let mut found = false;
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed;
        // ifa_addr points to the sockaddr of the family it says.
        unsafe {
            let ifa = &*cur;
            if !ifa.ifa_addr.is_null() {
                let family = i32::from((*ifa.ifa_addr).sa_family);
                let addr = if family == libc::AF_INET {
                    let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    Some(IpAddr::from(sin.sin_addr.s_addr.to_ne_bytes()))
                } else if family == libc::AF_INET6 {
                    let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    Some(IpAddr::from(sin6.sin6_addr.s6_addr))
                } else {
                    None
                };
                found |= addr == Some(vip);
            }
            cur = ifa.ifa_next;
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    found
}

#[derive(Clone, Copy)]
struct Sample {
    t: Instant,
    held: [bool; 2],
}

/// A thread that enters each node's namespace in turn (setns is per thread) and
/// records whether it holds the VIP, every [`SAMPLE_EVERY`].
struct Sampler {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    fn start(names: [&str; 2], vip: IpAddr) -> Sampler {
        let files = names.map(|n| File::open(format!("/var/run/netns/{n}")).unwrap());
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (samples, stop) = (samples.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let mut held = [false; 2];
                    for (i, f) in files.iter().enumerate() {
                        // SAFETY: setns on an open namespace fd, for this thread only.
                        let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
                        assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
                        held[i] = holds(vip);
                    }
                    samples.lock().unwrap().push(Sample { t, held });
                    std::thread::sleep(SAMPLE_EVERY);
                }
            })
        };
        Sampler {
            samples,
            stop,
            thread: Some(thread),
        }
    }

    fn snapshot(&self) -> Vec<Sample> {
        self.samples.lock().unwrap().clone()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The two nodes, the router and the sampled timeline of one test.
struct Lab {
    p: Proto,
    name: String,
    nodes: [Node; 2],
    priority: [u8; 2],
    /// Each node's advert source (what the other's status shows as master).
    addrs: [String; 2],
    _router: Option<Netns>,
    sampler: Sampler,
    start: Instant,
    /// When the last event (start, signal) happened.
    event_at: Instant,
    /// A node's VIP stops counting from its SIGKILL on.
    crashed: [Option<Instant>; 2],
    /// Since when `node` has been the only holder, until the next event.
    open_steady: Option<(Instant, usize)>,
    /// Closed steady windows: (from, to, node).
    steady: Vec<(Instant, Instant, usize)>,
}

impl Lab {
    fn new(tmp: &Path, p: Proto, master: Kind, imported: bool) -> Lab {
        require_root_and_netns().unwrap();
        require_keepalived();
        let (a, b, router, addrs) = match p.net {
            Net::V4 | Net::V6Unicast => {
                let RoutedPair { a, b, router: r } = RoutedPair::new("k").unwrap();
                let addrs = if p.net == Net::V4 { ADDR } else { ADDR6 };
                (a, b, Some(r), addrs.map(str::to_string))
            }
            Net::V6Multicast => {
                let (a, b) = (Netns::new("kma").unwrap(), Netns::new("kmb").unwrap());
                // Link-local addresses usable at once: no duplicate address detection.
                for ns in [&a, &b] {
                    ns.exec(&["sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"])
                        .unwrap();
                }
                veth(&a, "eth0", &b, "eth0").unwrap();
                let addrs = [&a, &b].map(|ns| ns.link_local("eth0").unwrap().to_string());
                (a, b, None, addrs)
            }
        };
        let node = |kind: Kind, sub: &str, ns: Netns| {
            let dir = tmp.join(sub);
            std::fs::create_dir_all(&dir).unwrap();
            Node {
                kind,
                ns,
                dir,
                pid: None,
            }
        };
        let a = node(Kind::Vrrpd, "a", a);
        let b = node(Kind::Keepalived, "b", b);
        let priority = if master == Kind::Vrrpd {
            [HIGH, LOW]
        } else {
            [LOW, HIGH]
        };
        let config = if imported {
            imported_vrrpd_config(&a, p, priority[A])
        } else {
            vrrpd_config(&a, p, priority[A], &addrs)
        };
        std::fs::write(a.config(), config).unwrap();
        std::fs::write(
            b.config(),
            keepalived_config(p, priority[B], &b.ns.name, &addrs),
        )
        .unwrap();
        let sampler = Sampler::start([&a.ns.name, &b.ns.name], p.net.vip());
        let now = Instant::now();
        Lab {
            p,
            name: format!(
                "v{} {:?} {master:?} master{}",
                p.version,
                p.net,
                if imported { " (imported)" } else { "" }
            ),
            nodes: [a, b],
            priority,
            addrs,
            _router: router,
            sampler,
            start: now,
            event_at: now,
            crashed: [None, None],
            open_steady: None,
            steady: Vec::new(),
        }
    }

    fn master(&self) -> usize {
        if self.priority[A] > self.priority[B] {
            A
        } else {
            B
        }
    }

    fn ms(&self, t: Instant) -> f64 {
        t.duration_since(self.start).as_secs_f64() * 1e3
    }

    /// Which nodes count as holding the VIP in a sample.
    fn holders(&self, s: &Sample) -> [bool; 2] {
        [0, 1].map(|i| s.held[i] && self.crashed[i].is_none_or(|c| s.t < c))
    }

    fn fail(&self, msg: &str) -> ! {
        panic!(
            "[{}] {msg}\n--- A (vrrpd) log ---\n{}\n--- B (keepalived) log ---\n{}",
            self.name,
            self.nodes[A].log(),
            self.nodes[B].log()
        );
    }

    /// Marks an event now, closing the current steady window.
    fn event(&mut self) {
        self.event_at = Instant::now();
        if let Some((from, node)) = self.open_steady.take() {
            self.steady.push((from, self.event_at, node));
        }
    }

    /// Waits until `node` is the only holder, and opens a steady window there; the
    /// time from the last event.
    fn converge(&mut self, node: usize, limit: Duration, what: &str) -> Duration {
        loop {
            let found = self
                .sampler
                .snapshot()
                .into_iter()
                .find(|s| s.t >= self.event_at && self.holders(s) == [node == A, node == B]);
            if let Some(s) = found {
                self.open_steady = Some((s.t, node));
                let took = s.t.duration_since(self.event_at);
                println!("[{}] {what}: {:.0} ms", self.name, took.as_secs_f64() * 1e3);
                return took;
            }
            if self.event_at.elapsed() > limit {
                self.fail(&format!("{what}: not converged within {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Lets the steady state run, then checks vrrpd agrees on who is master.
    fn hold(&self) {
        std::thread::sleep(self.p.steady());
        if self.nodes[A].pid.is_none() {
            return;
        }
        let s = self.nodes[A].status();
        let inst = &s["instances"][0];
        let (state, master) = if self.master_now() == A {
            ("master", self.addrs[A].as_str())
        } else {
            ("backup", self.addrs[B].as_str())
        };
        if inst["state"] != state || inst["master"] != master {
            self.fail(&format!(
                "vrrpd status disagrees: want {state}/{master}: {s:#}"
            ));
        }
        let c = &s["counters"];
        for (k, v) in c.as_object().unwrap() {
            if k != "accepted" && v != 0 {
                self.fail(&format!("vrrpd dropped keepalived's adverts: {c}"));
            }
        }
    }

    /// The node that should hold the VIP given who runs.
    fn master_now(&self) -> usize {
        let m = self.master();
        if self.nodes[m].pid.is_some() {
            m
        } else {
            1 - m
        }
    }

    fn start_node(&mut self, i: usize) {
        self.event();
        self.nodes[i].start();
    }

    /// Runs the whole script; returns nothing, panics with logs on failure.
    fn run(&mut self) {
        let p = self.p;
        let m = self.master();
        let b = 1 - m;
        let startup = Duration::from_secs(5);

        self.start_node(b);
        self.converge(
            b,
            p.master_down(self.priority[b]) + startup,
            "backup alone takes the VIP",
        );
        self.hold();

        self.start_node(m);
        self.converge(
            m,
            p.master_down(self.priority[m]) + startup,
            "master starts and preempts",
        );
        self.hold();

        // Graceful stop: priority 0, the backup waits only Skew_Time.
        self.event();
        self.nodes[m].stop();
        let graceful = self.converge(
            b,
            (3 * p.interval).max(Duration::from_secs(2)),
            "SIGTERM to master: backup sole holder",
        );
        let zero_seen = match self.nodes[b].kind {
            Kind::Vrrpd => "priority_zero_received",
            Kind::Keepalived => "Backup received priority 0 advertisement",
        };
        if !self.nodes[b].log().contains(zero_seen) {
            self.fail(&format!("backup did not log {zero_seen:?}"));
        }
        self.hold();

        self.start_node(m);
        self.converge(
            m,
            p.master_down(self.priority[m]) + startup,
            "master restarts and preempts",
        );
        self.hold();

        // Crash: the backup waits Master_Down_Interval from the last advert it got.
        self.event();
        self.crashed[m] = Some(self.event_at);
        self.nodes[m].crash();
        let crash = self.converge(
            b,
            p.master_down(self.priority[b]) + Duration::from_secs(3),
            "SIGKILL to master: backup sole holder",
        );
        // At least Master_Down_Interval minus one interval (the last advert may have
        // come just before the kill); faster would mean the crash was not detected by
        // the timer (e.g. keepalived shut down gracefully).
        if crash < 2 * p.interval {
            self.fail(&format!(
                "takeover after a crash in {crash:?}: faster than the RFC allows"
            ));
        }
        self.hold();
        let last = self.sampler.snapshot().last().copied().unwrap();
        if !last.held[m] {
            self.fail("the killed master's VIP is gone: it was not a crash");
        }
        self.event();

        self.check_timeline();
        println!(
            "[{}] failover: graceful {:.0} ms, kill -9 {:.0} ms (Master_Down_Interval {:.0} ms)",
            self.name,
            graceful.as_secs_f64() * 1e3,
            crash.as_secs_f64() * 1e3,
            p.master_down(self.priority[b]).as_secs_f64() * 1e3
        );
        let klog = self.nodes[B].log();
        for c in KEEPALIVED_COMPLAINTS {
            if let Some(line) = klog.lines().find(|l| l.contains(c)) {
                self.fail(&format!("keepalived complained about our adverts: {line}"));
            }
        }
    }

    /// The agreement check over every sample (see the module docs).
    fn check_timeline(&self) {
        let samples = self.sampler.snapshot();
        let mut errors = Vec::new();
        // Both hold: runs of consecutive dual samples.
        let mut run: Option<(Instant, Instant)> = None;
        let mut longest = Duration::ZERO;
        for s in samples.iter().chain([&Sample {
            t: Instant::now(),
            held: [false; 2],
        }]) {
            if self.holders(s) == [true, true] {
                let (first, _) = run.unwrap_or((s.t, s.t));
                run = Some((first, s.t));
            } else if let Some((first, last)) = run.take() {
                let len = last - first;
                longest = longest.max(len);
                if len > self.p.dual_limit() {
                    errors.push(format!(
                        "both held the VIP from {:.0} to {:.0} ms",
                        self.ms(first),
                        self.ms(last)
                    ));
                }
            }
        }
        // Steady windows: exactly the expected node.
        for &(from, to, node) in &self.steady {
            for s in samples.iter().filter(|s| s.t >= from && s.t <= to) {
                let h = self.holders(s);
                if h != [node == A, node == B] {
                    errors.push(format!(
                        "at {:.0} ms (steady since {:.0} ms, expected only {}): A={} B={}",
                        self.ms(s.t),
                        self.ms(from),
                        ["A", "B"][node],
                        h[A],
                        h[B]
                    ));
                }
            }
        }
        let max_gap = samples
            .windows(2)
            .map(|w| w[1].t - w[0].t)
            .max()
            .unwrap_or_default();
        println!(
            "[{}] {} samples, largest gap {:.0} ms, longest dual holding {:.0} ms, {} steady windows",
            self.name,
            samples.len(),
            max_gap.as_secs_f64() * 1e3,
            longest.as_secs_f64() * 1e3,
            self.steady.len()
        );
        // A stalled sampler would make the check blind.
        if max_gap > Duration::from_millis(250) {
            errors.push(format!("sampler stalled for {max_gap:?}"));
        }
        if !errors.is_empty() {
            errors.truncate(20);
            self.fail(&format!("agreement check failed:\n{}", errors.join("\n")));
        }
    }
}

fn case(version: u8, master: Kind) {
    net_case(Net::V4, version, master);
}

fn net_case(net: Net, version: u8, master: Kind) {
    let tmp = TempDir::new(&format!("ka{version}{net:?}{master:?}"));
    let mut lab = Lab::new(tmp.path(), Proto::new(version, net), master, false);
    lab.run();
}

/// vrrpd runs the file `vrrpd import-keepalived` made from node A's
/// keepalived.conf; keepalived on B runs its original file.
fn imported_case(version: u8, master: Kind) {
    let tmp = TempDir::new(&format!("kai{version}{master:?}"));
    let mut lab = Lab::new(tmp.path(), Proto::new(version, Net::V4), master, true);
    lab.run();
}

#[test]
fn ipv6_unicast_keepalived_master_vrrpd_backup() {
    net_case(Net::V6Unicast, 3, Kind::Keepalived);
}

#[test]
fn ipv6_unicast_vrrpd_master_keepalived_backup() {
    net_case(Net::V6Unicast, 3, Kind::Vrrpd);
}

#[test]
fn ipv6_multicast_keepalived_master_vrrpd_backup() {
    net_case(Net::V6Multicast, 3, Kind::Keepalived);
}

#[test]
fn ipv6_multicast_vrrpd_master_keepalived_backup() {
    net_case(Net::V6Multicast, 3, Kind::Vrrpd);
}

#[test]
fn imported_v3_keepalived_master_vrrpd_backup() {
    imported_case(3, Kind::Keepalived);
}

#[test]
fn imported_v3_vrrpd_master_keepalived_backup() {
    imported_case(3, Kind::Vrrpd);
}

#[test]
fn v3_keepalived_master_vrrpd_backup() {
    case(3, Kind::Keepalived);
}

#[test]
fn v3_vrrpd_master_keepalived_backup() {
    case(3, Kind::Vrrpd);
}

#[test]
fn v2_keepalived_master_vrrpd_backup() {
    case(2, Kind::Keepalived);
}

#[test]
fn v2_vrrpd_master_keepalived_backup() {
    case(2, Kind::Vrrpd);
}

#[test]
fn imported_v2_keepalived_master_vrrpd_backup() {
    imported_case(2, Kind::Keepalived);
}

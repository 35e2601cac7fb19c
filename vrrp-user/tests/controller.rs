//! Conformance tests of the controller, without root or a network: inputs are
//! replayed on a virtual clock against a table of interfaces and recording advert
//! sinks, and the driver work that comes out (adverts sent, kernel changes, hooks,
//! tracker restarts) is compared line by line with what the protocol requires.
//!
//! Each transcript line is one piece of driver work, in order:
//! `send vrid=51 prio=200 int=10 addrs=1`, `kernel vi51 add-vips 10.1.255.1/32 accept`,
//! `hook vi51 master<-backup master_down_timer_expired`, `trackers vi51 start`.

use std::{
    cell::RefCell,
    collections::HashMap,
    net::{IpAddr, Ipv4Addr},
    rc::Rc,
    time::Duration,
};

use vrrp_common::{AdvertRecord, MAX_ADDRS, Record};
use vrrp_core::{
    packet::Advert,
    router::{State, TrackUpdate, TrackWeight, Version, master_down_interval, skew_time},
    time::Instant,
};
use vrrp_user::{
    config::{self, Config, Family, ReloadClass},
    daemon::{
        controller::{Controller, RESYNC_RETRY},
        host::Host,
        work::{KernelOp, Work},
    },
    datapath::follow::SharedFollow,
    sender::{AdvertSink, OpenSink, SendError, SendReport, SenderConfig, Sent},
};

const INTERVAL_MS: u64 = 100;

/// Interfaces of the pretend host.
struct Table(HashMap<&'static str, (u32, Ipv4Addr)>);

impl Host for Table {
    fn ifindex(&self, name: &str) -> Option<u32> {
        self.0.get(name).map(|(i, _)| *i)
    }
    fn multicast_source(&self, name: &str, family: Family) -> Option<IpAddr> {
        match family {
            Family::V4 => self.0.get(name).map(|(_, a)| IpAddr::V4(*a)),
            Family::V6 => None,
        }
    }
    fn uplinks(&self) -> Vec<String> {
        let mut v: Vec<String> = self.0.keys().map(|k| k.to_string()).collect();
        v.sort();
        v
    }
}

type Log = Rc<RefCell<Vec<String>>>;

/// Opens sinks that write `send ...` lines into the transcript.
struct Recorder(Log);

struct Sink(Log);

impl AdvertSink for Sink {
    fn send(&mut self, advert: &Advert) -> Result<Sent, SendError> {
        let a = advert;
        self.0.borrow_mut().push(format!(
            "send vrid={} prio={} int={} addrs={}",
            a.vrid,
            a.priority,
            a.max_adver_int_cs,
            a.addrs.len()
        ));
        Ok(Sent::Now(1))
    }
}

impl OpenSink for Recorder {
    fn open(&mut self, cfg: &SenderConfig) -> Result<Box<dyn AdvertSink>, SendError> {
        self.0
            .borrow_mut()
            .push(format!("open-sender {} ttl={}", cfg.source, cfg.ttl));
        Ok(Box::new(Sink(self.0.clone())))
    }
}

fn line(w: &Work) -> String {
    let vips = |v: &[config::Vip]| {
        v.iter()
            .map(|v| v.address.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let routes = |r: &[config::Route]| {
        r.iter()
            .map(|r| r.prefix.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    match w {
        Work::Kernel { instance, op } => {
            let what = match op {
                KernelOp::AddVips {
                    vips: v, accept, ..
                } => {
                    format!(
                        "add-vips {} {}",
                        vips(v),
                        if *accept { "accept" } else { "block" }
                    )
                }
                KernelOp::RefreshVips { vips: v, lease } => {
                    format!("refresh-vips {} lease={lease:?}", vips(v))
                }
                KernelOp::RemoveVips { vips: v, blocked } => {
                    format!(
                        "remove-vips {}{}",
                        vips(v),
                        if *blocked { " unblock" } else { "" }
                    )
                }
                KernelOp::SetAccept { vips: v, accept } => {
                    format!("set-accept {} {accept}", vips(v))
                }
                KernelOp::AddRoutes { routes: r } => format!("add-routes {}", routes(r)),
                KernelOp::RemoveRoutes { routes: r } => format!("remove-routes {}", routes(r)),
                KernelOp::Announce { vips: v, .. } => format!("announce {}", vips(v)),
            };
            format!("kernel {instance} {what}")
        }
        Work::Hook(h) => format!(
            "hook {} {}<-{} {} {}",
            h.instance,
            h.state,
            h.prev,
            h.reason,
            h.command.join(" ")
        ),
        Work::StartTrackers(i) => format!("trackers {i} start"),
        Work::StopTrackers(i) => format!("trackers {i} stop"),
    }
}

/// A controller on a virtual clock and its transcript.
struct Rig {
    ctl: Controller,
    host: Table,
    log: Log,
    now: Instant,
}

impl Rig {
    fn new(text: &str) -> Rig {
        let host = Table(HashMap::from([
            ("eth0", (2, Ipv4Addr::new(10, 1, 1, 10))),
            ("eth1", (3, Ipv4Addr::new(10, 1, 3, 10))),
            ("lo", (1, Ipv4Addr::LOCALHOST)),
        ]));
        let log: Log = Rc::default();
        let ctl = Controller::new(parse(text), &host, &mut Recorder(log.clone())).unwrap();
        let mut rig = Rig {
            ctl,
            host,
            log,
            now: Instant::from_millis(1_000),
        };
        rig.take(); // the sender openings of the start
        rig
    }

    /// Work returned by a call goes to the transcript after the adverts it sent.
    fn record(&mut self, work: Vec<Work>) {
        self.log.borrow_mut().extend(work.iter().map(line));
    }

    fn take(&mut self) -> Vec<String> {
        std::mem::take(&mut *self.log.borrow_mut())
    }

    fn start(&mut self) -> Vec<String> {
        let w = self.ctl.start(self.now);
        self.record(w);
        self.take()
    }

    /// Advances the clock to the next deadline and fires it.
    fn fire(&mut self) -> Vec<String> {
        self.now = self.ctl.next_deadline().expect("a deadline");
        let w = self.ctl.on_timer(self.now);
        self.record(w);
        self.take()
    }

    fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
    }

    fn advert(&mut self, src: [u8; 4], vrid: u8, priority: u8, vips: &[[u8; 4]]) -> Vec<String> {
        let mut addrs = [[0; 4]; MAX_ADDRS];
        addrs[..vips.len()].copy_from_slice(vips);
        let rec = AdvertRecord {
            rx_ns: self.now.as_nanos(),
            src,
            dst: [10, 1, 1, 10],
            ifindex: 2,
            vrid,
            priority,
            version: 3,
            ttl: 255,
            adver_int_cs: (INTERVAL_MS / 10) as u16,
            count: vips.len() as u8,
            auth_type: 0,
            flags: 0,
            addrs,
            seq: 0,
            followed_rx_ns: 0,
        };
        let w = self.ctl.on_record(self.now, &Record::V4(rec));
        self.record(w);
        self.take()
    }

    fn reload(&mut self, text: &str) -> (Vec<(String, ReloadClass)>, Vec<String>) {
        let (report, w) = self
            .ctl
            .reload(
                self.now,
                parse(text),
                &self.host,
                &mut Recorder(self.log.clone()),
            )
            .unwrap();
        self.record(w);
        let classes = report
            .kept
            .iter()
            .map(|(n, c)| (n.clone(), c.class))
            .collect();
        (classes, self.take())
    }

    fn state(&self, name: &str) -> State {
        self.ctl.instance(name).unwrap().0.state
    }

    fn master(text: &str) -> Rig {
        let mut rig = Rig::new(text);
        rig.start();
        rig.fire();
        assert_eq!(rig.state("vi51"), State::Master);
        rig
    }
}

fn parse(text: &str) -> Config {
    config::parse(text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// vi51 on eth0, priority 200 unless `extra` sets keys; a routed VIP on lo.
fn conf(extra: &str) -> String {
    conf_with(extra, "")
}

fn conf_with(extra: &str, tail: &str) -> String {
    let priority = if extra.contains("priority") {
        ""
    } else {
        "priority = 200\n"
    };
    format!(
        r#"
[global]
status_socket = "/nonexistent/vrrpd.sock"

[[instance]]
name = "vi51"
interface = "eth0"
vrid = 51
{priority}advert_interval_ms = {INTERVAL_MS}
mode = "unicast"
unicast_src = "10.1.1.10/24"
{extra}

[[instance.peer]]
address = "10.1.2.10"

[[instance.vip]]
address = "10.1.255.1/32"
dev = "lo"
{tail}
"#
    )
}

const VIP: [u8; 4] = [10, 1, 255, 1];
const PEER: [u8; 4] = [10, 1, 2, 10];

fn mdi(priority: u8) -> Duration {
    master_down_interval(Version::V3, priority, (INTERVAL_MS / 10) as u16)
}

// ---- Start-up, takeover, failover ------------------------------------------------------

#[test]
fn startup_then_takeover_after_master_down_interval() {
    let mut rig = Rig::new(&conf(r#"hooks.on_master = ["/bin/true", "m"]"#));
    assert_eq!(
        rig.start(),
        ["trackers vi51 start"],
        "a backup starts silently and runs no hook it has none for"
    );
    let started = rig.now;
    assert_eq!(
        rig.fire(),
        [
            "send vrid=51 prio=200 int=10 addrs=1",
            "kernel vi51 add-vips 10.1.255.1/32 accept",
            "hook vi51 master<-backup master_down_timer_expired /bin/true m",
        ]
    );
    assert_eq!(rig.now.saturating_since(started), mdi(200));
    // While master: one advert per interval, nothing else.
    assert_eq!(rig.fire(), ["send vrid=51 prio=200 int=10 addrs=1"]);
}

#[test]
fn backup_follows_a_higher_master_and_takes_over_when_it_falls_silent() {
    let mut rig = Rig::new(&conf("priority = 100"));
    rig.start();
    rig.advance(Duration::from_millis(10));
    assert!(
        rig.advert(PEER, 51, 200, &[VIP]).is_empty(),
        "a follower's advert is absorbed"
    );
    let heard = rig.now;
    assert_eq!(rig.state("vi51"), State::Backup);
    let out = rig.fire();
    assert_eq!(rig.now.saturating_since(heard), mdi(100));
    assert_eq!(
        out,
        [
            "send vrid=51 prio=100 int=10 addrs=1",
            "kernel vi51 add-vips 10.1.255.1/32 accept"
        ]
    );
    let (inst, _) = rig.ctl.instance("vi51").unwrap();
    assert_eq!(inst.stats.adverts_received, 1);
    assert_eq!(inst.stats.last_failover_detection, Some(mdi(100)));
}

#[test]
fn master_steps_down_to_a_higher_priority_advert() {
    let mut rig = Rig::master(&conf(r#"hooks.on_backup = ["/bin/b"]"#));
    rig.advance(Duration::from_millis(5));
    assert_eq!(
        rig.advert(PEER, 51, 250, &[VIP]),
        [
            "kernel vi51 remove-vips 10.1.255.1/32",
            "hook vi51 backup<-master higher_priority_advert /bin/b",
        ]
    );
}

#[test]
fn an_advert_with_other_addresses_is_ignored_and_counted() {
    let mut rig = Rig::new(&conf("priority = 100"));
    rig.start();
    assert!(rig.advert(PEER, 51, 200, &[[10, 9, 9, 9]]).is_empty());
    let (inst, router) = rig.ctl.instance("vi51").unwrap();
    assert_eq!(inst.stats.ignored, 1);
    assert_eq!(router.followed_master(), None);
}

#[test]
fn shutdown_says_goodbye_and_cleans_up() {
    let mut rig = Rig::master(&conf(r#"hooks.on_stop = ["/bin/s"]"#));
    let w = rig.ctl.shutdown(rig.now);
    rig.record(w);
    assert_eq!(
        rig.take(),
        [
            "send vrid=51 prio=0 int=10 addrs=1",
            "trackers vi51 stop",
            "kernel vi51 remove-vips 10.1.255.1/32",
            "hook vi51 initialize<-master shutdown /bin/s",
        ]
    );
}

// ---- Link and tracking -----------------------------------------------------------------

#[test]
fn link_loss_is_a_fault_without_goodbye_and_recovery_restarts() {
    let mut rig = Rig::master(&conf(r#"hooks.on_fault = ["/bin/f"]"#));
    let w = rig.ctl.on_link(rig.now, 2, "eth0", false);
    rig.record(w);
    assert_eq!(
        rig.take(),
        [
            "kernel vi51 remove-vips 10.1.255.1/32",
            "hook vi51 fault<-master link_down /bin/f",
        ],
        "no priority-0 advert on a dead link"
    );
    assert_eq!(rig.ctl.next_deadline(), None);
    // Repeating the state (the daemon re-reads links) changes nothing.
    assert!(rig.ctl.on_link(rig.now, 2, "eth0", false).is_empty());
    let w = rig.ctl.on_link(rig.now, 2, "eth0", true);
    assert!(w.is_empty(), "back to backup, no hook configured: {w:?}");
    assert_eq!(rig.state("vi51"), State::Backup);
}

#[test]
fn tracking_lowers_priority_in_place_and_a_fault_weight_faults() {
    let text = conf_with(
        "",
        r#"
[[instance.track_interface]]
name = "eth1"
weight = -150

[[instance.track_script]]
name = "chk"
command = ["/bin/true"]
"#,
    );
    let mut rig = Rig::master(&text);
    let w = rig.ctl.on_link(rig.now, 3, "eth1", false);
    rig.record(w);
    assert_eq!(
        rig.take(),
        ["send vrid=51 prio=50 int=10 addrs=1"],
        "a master re-advertises its lower priority at once, no transition"
    );
    assert_eq!(rig.state("vi51"), State::Master);
    let update = TrackUpdate {
        object: "track:chk".into(),
        up: false,
        weight: TrackWeight::Fault,
    };
    let w = rig.ctl.on_track(rig.now, "vi51", update);
    rig.record(w);
    assert_eq!(
        rig.take(),
        [
            "send vrid=51 prio=0 int=10 addrs=1",
            "kernel vi51 remove-vips 10.1.255.1/32"
        ]
    );
    assert_eq!(rig.state("vi51"), State::Fault);
}

// ---- Reload, one test per class ----------------------------------------------------------

/// The transcript of a reload that must not move mastership: no priority-0 advert,
/// no VIP removed, still master.
fn assert_no_flap(rig: &Rig, out: &[String]) {
    assert!(
        !out.iter()
            .any(|l| l.contains("prio=0") || l.contains("remove-vips")),
        "{out:?}"
    );
    assert_eq!(rig.state("vi51"), State::Master);
}

#[test]
fn reload_unchanged_does_nothing() {
    let mut rig = Rig::master(&conf(""));
    let (classes, out) = rig.reload(&format!("# reformatted\n{}", conf("")));
    assert_eq!(classes, [("vi51".to_string(), ReloadClass::Unchanged)]);
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn reload_value_class_hook_edit_keeps_master_and_uses_the_new_hook() {
    let mut rig = Rig::master(&conf(r#"hooks.on_backup = ["/bin/old"]"#));
    let new = conf(r#"hooks.on_backup = ["/bin/new"]"#);
    let (classes, out) = rig.reload(&new);
    assert_eq!(classes, [("vi51".to_string(), ReloadClass::Value)]);
    assert!(out.is_empty(), "a hook edit is no driver work: {out:?}");
    assert_no_flap(&rig, &out);
    let out = rig.advert(PEER, 51, 250, &[VIP]);
    assert!(out.iter().any(|l| l.ends_with("/bin/new")), "{out:?}");
}

#[test]
fn reload_value_class_ttl_reopens_the_sender_only() {
    let mut rig = Rig::master(&conf(""));
    let (classes, out) = rig.reload(&conf("ttl = 64"));
    assert_eq!(classes, [("vi51".to_string(), ReloadClass::Value)]);
    assert_eq!(out, ["open-sender 10.1.1.10 ttl=64"]);
    assert_no_flap(&rig, &out);
}

#[test]
fn reload_value_class_lease_and_label_reput_the_vips_in_place() {
    let mut rig = Rig::master(&conf(""));
    let (classes, out) = rig.reload(&conf("vip_lease_s = 30"));
    assert_eq!(classes, [("vi51".to_string(), ReloadClass::Value)]);
    assert_eq!(
        out,
        ["kernel vi51 refresh-vips 10.1.255.1/32 lease=Some(30s)"]
    );
    assert_no_flap(&rig, &out);
}

#[test]
fn reload_value_class_track_script_timing_restarts_its_tracker() {
    let script = |interval: u32| {
        format!(
            "\n[[instance.track_script]]\nname = \"chk\"\ncommand = [\"/bin/true\"]\ninterval_ms = {interval}\nweight = -10\n"
        )
    };
    let mut rig = Rig::master(&conf_with("", &script(1000)));
    let (classes, out) = rig.reload(&conf_with("", &script(500)));
    assert_eq!(classes, [("vi51".to_string(), ReloadClass::Value)]);
    assert_eq!(out, ["trackers vi51 stop", "trackers vi51 start"]);
    assert_no_flap(&rig, &out);
}

#[test]
fn a_tracked_route_faults_and_its_reloads_restart_only_what_changed() {
    let route = |rise: u32, weight: i16| {
        format!(
            "\n[[instance.track_route]]\nprefix = \"0.0.0.0/0\"\nprotocol = \"bgp\"\nrise_ms = {rise}\nweight = {weight}\n"
        )
    };
    let object = "route:0.0.0.0/0 table 254 proto 186";
    let mut rig = Rig::master(&conf_with("", &route(1000, 0)));
    let down = TrackUpdate {
        object: object.into(),
        up: false,
        weight: TrackWeight::Fault,
    };
    let w = rig.ctl.on_track(rig.now, "vi51", down);
    rig.record(w);
    assert_eq!(rig.state("vi51"), State::Fault);
    rig.take();
    // A new hold restarts the tracker; the route keeps its state meanwhile.
    let (classes, out) = rig.reload(&conf_with("", &route(3000, 0)));
    assert_eq!(classes, [("vi51".to_string(), ReloadClass::Value)]);
    assert_eq!(out, ["trackers vi51 stop", "trackers vi51 start"]);
    assert_eq!(rig.state("vi51"), State::Fault);
    // A new weight applies in the core to the known state, no restart: 200 - 50.
    let (classes, out) = rig.reload(&conf_with("", &route(3000, -50)));
    assert_eq!(classes, [("vi51".to_string(), ReloadClass::Core)]);
    assert!(!out.iter().any(|w| w.starts_with("trackers")), "{out:?}");
    assert_eq!(rig.state("vi51"), State::Backup);
    assert_eq!(
        rig.ctl.instance("vi51").unwrap().1.effective_priority(),
        150
    );
}

#[test]
fn reload_core_class_priority_is_an_input_not_a_restart() {
    let mut rig = Rig::master(&conf(""));
    let (classes, out) = rig.reload(&conf("priority = 150"));
    assert_eq!(classes, [("vi51".to_string(), ReloadClass::Core)]);
    assert_eq!(
        out,
        ["send vrid=51 prio=150 int=10 addrs=1"],
        "the master advertises its new priority at once"
    );
    assert_no_flap(&rig, &out);
    assert_eq!(
        rig.ctl.instance("vi51").unwrap().1.effective_priority(),
        150
    );
}

#[test]
fn reload_core_class_interval_rearms_the_advert_timer() {
    let mut rig = Rig::master(&conf(""));
    let text = conf("").replace(
        &format!("advert_interval_ms = {INTERVAL_MS}"),
        "advert_interval_ms = 50",
    );
    let (classes, out) = rig.reload(&text);
    assert_eq!(classes, [("vi51".to_string(), ReloadClass::Core)]);
    assert_eq!(out, ["send vrid=51 prio=200 int=5 addrs=1"]);
    // The next advert on the new interval's grid: within 50 ms.
    let next = rig.ctl.next_deadline().unwrap();
    assert_eq!(next, rig.now.next_multiple_of(Duration::from_millis(50)));
    assert!(next > rig.now && next <= rig.now + Duration::from_millis(50));
    assert_no_flap(&rig, &out);
}

#[test]
fn reload_core_class_accept_mode_blocks_in_place() {
    let mut rig = Rig::master(&conf(""));
    let (classes, out) = rig.reload(&conf("accept_mode = false"));
    assert_eq!(classes, [("vi51".to_string(), ReloadClass::Core)]);
    assert_eq!(out, ["kernel vi51 set-accept 10.1.255.1/32 false"]);
    assert_no_flap(&rig, &out);
    // Leaving master later unblocks what was blocked.
    let out = rig.advert(PEER, 51, 250, &[VIP]);
    assert_eq!(out, ["kernel vi51 remove-vips 10.1.255.1/32 unblock"]);
}

#[test]
fn reload_core_class_preempt_off_stops_a_pending_preemption() {
    let mut rig = Rig::new(&conf(""));
    rig.start();
    // A lower master is followed: we (200) would preempt after Skew_Time.
    rig.advert(PEER, 51, 100, &[VIP]);
    let heard = rig.now;
    assert_eq!(
        rig.ctl.next_deadline(),
        Some(heard + skew_time(Version::V3, 200, (INTERVAL_MS / 10) as u16))
    );
    let (classes, out) = rig.reload(&conf("preempt = false"));
    assert_eq!(classes, [("vi51".to_string(), ReloadClass::Core)]);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(rig.ctl.next_deadline(), Some(heard + mdi(200)));
    assert_eq!(rig.state("vi51"), State::Backup);
}

#[test]
fn reload_core_class_track_weight_change_applies_to_the_current_state() {
    let track = |w: i16| format!("\n[[instance.track_interface]]\nname = \"eth1\"\nweight = {w}\n");
    let mut rig = Rig::master(&conf_with("", &track(-50)));
    let w = rig.ctl.on_link(rig.now, 3, "eth1", false);
    rig.record(w);
    assert_eq!(rig.take(), ["send vrid=51 prio=150 int=10 addrs=1"]);
    let (classes, out) = rig.reload(&conf_with("", &track(-80)));
    assert_eq!(classes, [("vi51".to_string(), ReloadClass::Core)]);
    assert_eq!(out, ["send vrid=51 prio=120 int=10 addrs=1"]);
    // Removing the tracker forgets the object: back to the configured priority.
    let (_, out) = rig.reload(&conf(""));
    assert_eq!(out, ["send vrid=51 prio=200 int=10 addrs=1"]);
    assert_no_flap(&rig, &out);
}

#[test]
fn reload_addresses_class_adds_and_removes_only_the_difference() {
    let second = "\n[[instance.vip]]\naddress = \"10.1.255.2/32\"\ndev = \"lo\"\n";
    let route = "\n[[instance.route]]\nprefix = \"10.1.254.0/24\"\ndev = \"lo\"\n";
    let mut rig = Rig::master(&conf(""));
    let (classes, out) = rig.reload(&conf_with("", &format!("{second}{route}")));
    assert_eq!(classes, [("vi51".to_string(), ReloadClass::Addresses)]);
    assert_eq!(
        out,
        [
            "send vrid=51 prio=200 int=10 addrs=2",
            "kernel vi51 add-vips 10.1.255.2/32 accept",
            "kernel vi51 add-routes 10.1.254.0/24",
        ]
    );
    assert_no_flap(&rig, &out);
    let (_, out) = rig.reload(&conf(""));
    assert_eq!(
        out,
        [
            "send vrid=51 prio=200 int=10 addrs=1",
            "kernel vi51 remove-vips 10.1.255.2/32",
            "kernel vi51 remove-routes 10.1.254.0/24",
        ]
    );
    assert_eq!(rig.state("vi51"), State::Master);
}

#[test]
fn reload_addresses_class_on_a_backup_is_no_kernel_work() {
    let second = "\n[[instance.vip]]\naddress = \"10.1.255.2/32\"\ndev = \"lo\"\n";
    let mut rig = Rig::new(&conf(""));
    rig.start();
    let (classes, out) = rig.reload(&conf_with("", second));
    assert_eq!(classes, [("vi51".to_string(), ReloadClass::Addresses)]);
    assert!(out.is_empty(), "{out:?}");
    // It now expects the new list: the old one is a mismatch.
    rig.advert(PEER, 51, 250, &[VIP]);
    assert_eq!(rig.ctl.instance("vi51").unwrap().0.stats.ignored, 1);
}

#[test]
fn reload_restart_class_leaves_with_priority_zero_and_starts_afresh() {
    let mut rig = Rig::master(&conf(r#"hooks.on_stop = ["/bin/s"]"#));
    let text = conf(r#"hooks.on_stop = ["/bin/s"]"#).replace("vrid = 51", "vrid = 52");
    let (classes, out) = rig.reload(&text);
    assert_eq!(classes, [("vi51".to_string(), ReloadClass::Restart)]);
    assert_eq!(
        out,
        [
            "open-sender 10.1.1.10 ttl=255",
            "send vrid=51 prio=0 int=10 addrs=1",
            "trackers vi51 stop",
            "kernel vi51 remove-vips 10.1.255.1/32",
            "hook vi51 initialize<-master shutdown /bin/s",
            "trackers vi51 start",
        ]
    );
    assert_eq!(rig.state("vi51"), State::Backup);
    assert_eq!(rig.ctl.instance("vi51").unwrap().0.spec.cfg.vrid, 52);
}

#[test]
fn reload_adds_and_removes_instances() {
    let mut rig = Rig::master(&conf(""));
    let other = conf("priority = 100")
        .replace("vi51", "vi61")
        .replace("vrid = 51", "vrid = 61")
        .replace("10.1.255.1", "10.1.255.61")
        .replace(
            "[global]\nstatus_socket = \"/nonexistent/vrrpd.sock\"\n",
            "",
        );
    let (classes, out) = rig.reload(&format!("{}{other}", conf("")));
    assert_eq!(classes, [("vi51".to_string(), ReloadClass::Unchanged)]);
    assert_eq!(
        out,
        ["open-sender 10.1.1.10 ttl=255", "trackers vi61 start"]
    );
    // vi51 removed: it leaves as it would on SIGTERM.
    let only_other = format!("[global]\nstatus_socket = \"/nonexistent/vrrpd.sock\"\n{other}");
    let (classes, out) = rig.reload(&only_other);
    assert_eq!(classes, [("vi61".to_string(), ReloadClass::Unchanged)]);
    assert!(
        out.iter()
            .any(|l| l == "send vrid=51 prio=0 int=10 addrs=1"),
        "the removed master leaves with priority 0: {out:?}"
    );
    assert!(rig.ctl.instance("vi51").is_none());
}

#[test]
fn reload_that_cannot_be_built_changes_nothing() {
    let mut rig = Rig::master(&conf(""));
    let before = rig.ctl.next_deadline();
    let bad = conf("priority = 150").replace("interface = \"eth0\"", "interface = \"eth9\"");
    let err = rig
        .ctl
        .reload(
            rig.now,
            parse(&bad),
            &rig.host,
            &mut Recorder(rig.log.clone()),
        )
        .map(|(report, _)| report)
        .expect_err("eth9 does not exist");
    assert!(err.to_string().contains("eth9"), "{err:#}");
    assert!(rig.take().is_empty());
    assert_eq!(rig.ctl.config.instances[0].priority, 200);
    assert_eq!(rig.ctl.next_deadline(), before);
    assert_eq!(rig.state("vi51"), State::Master);
}

#[test]
fn reload_restarts_a_sync_group_as_a_whole() {
    let group = |vrid_b: u8| {
        format!(
            "{}\n[[instance]]\nname = \"vi52\"\ninterface = \"eth0\"\nvrid = {vrid_b}\npriority = 200\nadvert_interval_ms = {INTERVAL_MS}\nmode = \"unicast\"\nunicast_src = \"10.1.1.10/24\"\npeer = [{{ address = \"10.1.2.10\" }}]\nvip = [{{ address = \"10.1.255.2/32\", dev = \"lo\" }}]\n\n[[sync_group]]\nname = \"g\"\nmembers = [\"vi51\", \"vi52\"]\n",
            conf("")
        )
    };
    let mut rig = Rig::new(&group(52));
    rig.start();
    rig.fire();
    assert_eq!(rig.state("vi52"), State::Master);
    let (classes, out) = rig.reload(&group(53));
    assert_eq!(
        classes,
        [
            ("vi51".to_string(), ReloadClass::Restart),
            ("vi52".to_string(), ReloadClass::Restart)
        ]
    );
    assert_eq!(
        out.iter().filter(|l| l.contains("prio=0")).count(),
        2,
        "{out:?}"
    );
}

// ---- Queues and upkeep -------------------------------------------------------------------

#[test]
fn dropped_kernel_work_is_counted_and_resynced_after_the_retry_delay() {
    let mut rig = Rig::master(&conf(""));
    assert_eq!(
        rig.ctl.next_upkeep(),
        None,
        "no lease, nothing dropped: no wake-up"
    );
    rig.ctl.kernel_dropped(rig.now, "vi51");
    rig.ctl.kernel_dropped(rig.now, "vi51");
    assert_eq!(rig.ctl.instance("vi51").unwrap().0.stats.kernel_dropped, 2);
    assert_eq!(rig.ctl.next_upkeep(), Some(rig.now + RESYNC_RETRY));
    assert!(
        rig.ctl.upkeep(rig.now).is_empty(),
        "the queue gets time to drain"
    );
    rig.advance(RESYNC_RETRY);
    let w = rig.ctl.upkeep(rig.now);
    rig.record(w);
    assert_eq!(rig.take(), ["kernel vi51 add-vips 10.1.255.1/32 accept"]);
    assert!(rig.ctl.upkeep(rig.now).is_empty(), "once");
    assert_eq!(rig.ctl.next_upkeep(), None);
}

#[test]
fn leases_are_refreshed_every_third_of_their_length() {
    let mut rig = Rig::master(&conf("vip_lease_s = 30"));
    assert!(
        rig.ctl.upkeep(rig.now).is_empty(),
        "just set by the takeover"
    );
    assert_eq!(
        rig.ctl.next_upkeep(),
        Some(rig.now + Duration::from_secs(10))
    );
    rig.advance(Duration::from_secs(10));
    let w = rig.ctl.upkeep(rig.now);
    rig.record(w);
    assert_eq!(
        rig.take(),
        ["kernel vi51 refresh-vips 10.1.255.1/32 lease=Some(30s)"]
    );
}

#[test]
fn the_upkeep_deadline_follows_state_and_leases() {
    let mut rig = Rig::master(&conf("vip_lease_s = 30"));
    let at = rig.now + Duration::from_secs(10);
    assert_eq!(rig.ctl.next_upkeep(), Some(at));
    assert_eq!(rig.ctl.next_upkeep(), Some(at), "asked again: the same");
    rig.advance(Duration::from_secs(10));
    let _ = rig.ctl.upkeep(rig.now);
    assert_eq!(
        rig.ctl.next_upkeep(),
        Some(rig.now + Duration::from_secs(10))
    );
    // Leaving mastership ends the lease upkeep.
    let _ = rig.ctl.shutdown(rig.now);
    assert_eq!(rig.ctl.next_upkeep(), None);
}

#[test]
fn a_vip_removed_behind_our_back_is_put_back() {
    let mut rig = Rig::master(&conf(""));
    let w = rig
        .ctl
        .on_address_removed("lo", IpAddr::V4(Ipv4Addr::from(VIP)));
    rig.record(w);
    assert_eq!(rig.take(), ["kernel vi51 add-vips 10.1.255.1/32 accept"]);
}

#[test]
fn timers_of_many_instances_fire_in_order_and_only_when_due() {
    let fast = conf("")
        .replace("vi51", "vi61")
        .replace("vrid = 51", "vrid = 61")
        .replace("10.1.255.1", "10.1.255.61")
        .replace(
            &format!("advert_interval_ms = {INTERVAL_MS}"),
            "advert_interval_ms = 50",
        )
        .replace(
            "[global]\nstatus_socket = \"/nonexistent/vrrpd.sock\"\n",
            "",
        );
    let mut rig = Rig::new(&format!("{}{fast}", conf("")));
    rig.start();
    // Both become master, the 50 ms one first (shorter Master_Down_Interval).
    assert!(rig.fire()[0].starts_with("send vrid=61"));
    while rig.state("vi51") != State::Master {
        rig.fire();
    }
    let t0 = rig.now;
    let mut sent = Vec::new();
    while rig.now.saturating_since(t0) < Duration::from_millis(200) {
        let before = rig.now;
        let out = rig.fire();
        assert!(rig.now >= before, "deadlines never go back");
        // On the grid, every 100 ms advert shares its wake with a 50 ms one.
        if out.iter().any(|l| l.contains("vrid=51")) {
            assert!(out.iter().any(|l| l.contains("vrid=61")), "{out:?}");
        }
        sent.extend(out);
    }
    let count = |vrid: &str| sent.iter().filter(|l| l.contains(vrid)).count();
    // vi51 master at 1.321875 s; then vi61 at 1.35 .. 1.55 s, vi51 at 1.4 and 1.5 s.
    assert_eq!((count("vrid=61"), count("vrid=51")), (5, 2), "{sent:?}");
    assert!(rig.ctl.on_timer(rig.now).is_empty(), "nothing due twice");
}

// ---- Found in review ---------------------------------------------------------------------

#[test]
fn a_sync_group_reload_removes_a_dropped_vip_even_when_another_member_faults() {
    let group = |weight: i16, b_vips: &str| {
        format!(
            "{}\n[[instance.track_interface]]\nname = \"eth1\"\nweight = {weight}\n\n[[instance]]\nname = \"vi52\"\ninterface = \"eth0\"\nvrid = 52\npriority = 200\nadvert_interval_ms = {INTERVAL_MS}\nmode = \"unicast\"\nunicast_src = \"10.1.1.10/24\"\npeer = [{{ address = \"10.1.2.10\" }}]\n{b_vips}\n[[sync_group]]\nname = \"g\"\nmembers = [\"vi51\", \"vi52\"]\n",
            conf("")
        )
    };
    let two = "vip = [{ address = \"10.1.255.2/32\", dev = \"lo\" }, { address = \"10.1.255.9/32\", dev = \"lo\" }]";
    let one = "vip = [{ address = \"10.1.255.2/32\", dev = \"lo\" }]";
    let mut rig = Rig::new(&group(-10, two));
    rig.start();
    while rig.state("vi52") != State::Master {
        rig.fire();
    }
    let w = rig.ctl.on_link(rig.now, 3, "eth1", false);
    rig.record(w);
    rig.take();
    // One reload: vi51's tracker becomes a fault (eth1 is down) and vi52 drops a VIP.
    let (_, out) = rig.reload(&group(0, one));
    assert_eq!(rig.state("vi52"), State::Fault);
    assert!(
        out.iter()
            .any(|l| l == "kernel vi52 remove-vips 10.1.255.9/32"),
        "the dropped VIP goes too: {out:?}"
    );
    assert!(
        out.iter()
            .any(|l| l == "kernel vi52 remove-vips 10.1.255.2/32"),
        "{out:?}"
    );
}

#[test]
fn a_report_from_a_tracker_the_reload_removed_is_dropped() {
    let script = "\n[[instance.track_script]]\nname = \"chk\"\ncommand = [\"/bin/true\"]\n";
    let mut rig = Rig::master(&conf_with("", script));
    let (_, out) = rig.reload(&conf(""));
    assert_eq!(out, ["trackers vi51 stop", "trackers vi51 start"]);
    let late = TrackUpdate {
        object: "track:chk".into(),
        up: false,
        weight: TrackWeight::Fault,
    };
    assert!(rig.ctl.on_track(rig.now, "vi51", late).is_empty());
    assert_eq!(rig.state("vi51"), State::Master);
}

#[test]
fn a_label_edit_is_a_new_value_for_the_next_add_not_a_reput() {
    let mut rig = Rig::master(&conf(""));
    let labelled = conf("").replace("dev = \"lo\"\n", "dev = \"lo\"\nlabel = \"lo:vip\"\n");
    let (classes, out) = rig.reload(&labelled);
    assert_eq!(classes, [("vi51".to_string(), ReloadClass::Value)]);
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn a_resync_after_accept_mode_restores_the_block_state_too() {
    let mut rig = Rig::master(&conf("accept_mode = false"));
    rig.ctl.kernel_dropped(rig.now, "vi51");
    rig.advance(RESYNC_RETRY);
    let w = rig.ctl.upkeep(rig.now);
    rig.record(w);
    assert_eq!(
        rig.take(),
        [
            "kernel vi51 add-vips 10.1.255.1/32 block",
            "kernel vi51 set-accept 10.1.255.1/32 false"
        ]
    );
}

// ---- The follow filter: steady-state adverts absorbed by the datapath -----------------

/// A backup whose adverts pass through the socket datapath's follow filter (the same
/// rule and records as the XDP program's) before the controller sees them.
struct Filtered {
    rig: Rig,
    table: SharedFollow,
    /// Records that reached the controller.
    reported: usize,
}

impl Filtered {
    fn backup() -> Filtered {
        let mut rig = Rig::new(&conf("priority = 100"));
        let table = SharedFollow::default();
        rig.ctl.set_follow(Box::new(table.clone()));
        rig.start();
        Filtered {
            rig,
            table,
            reported: 0,
        }
    }

    /// Fires the controller's due timers, as the daemon loop does, up to `until`.
    fn run_timers(&mut self, until: Instant) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(at) = self.rig.ctl.next_deadline().filter(|&d| d <= until) {
            self.rig.now = at;
            let w = self.rig.ctl.on_timer(at);
            self.rig.record(w);
            out.extend(self.rig.take());
        }
        self.rig.now = until;
        out
    }

    /// An advert from the peer at `at`, through the filter.
    fn advert(&mut self, at: Instant, priority: u8) -> Vec<String> {
        let mut out = self.run_timers(at);
        let mut rec = record(at, priority);
        rec.rx_ns = at.as_nanos();
        if let Some(rec) = self.table.with(|f| f.filter(Record::V4(rec))) {
            self.reported += 1;
            let w = self.rig.ctl.on_record(at, &rec);
            self.rig.record(w);
        }
        out.extend(self.rig.take());
        out
    }

    /// Runs to `until`, reporting the silences the filter times.
    fn silence_until(&mut self, until: Instant) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let silence = self.table.with(|f| f.next_silence());
            let Some(at) = silence.map(Instant::from_nanos).filter(|&t| t <= until) else {
                break;
            };
            out.extend(self.run_timers(at));
            let mut recs = Vec::new();
            self.table.with(|f| f.silences(at.as_nanos(), &mut recs));
            for rec in recs {
                self.reported += 1;
                let w = self.rig.ctl.on_record(at, &rec);
                self.rig.record(w);
            }
            out.extend(self.rig.take());
        }
        out.extend(self.run_timers(until));
        out
    }

    fn absorbed(&self) -> u64 {
        let (inst, _) = self.rig.ctl.instance("vi51").unwrap();
        self.rig.ctl.followed(inst).unwrap().absorbed
    }
}

fn record(at: Instant, priority: u8) -> AdvertRecord {
    let mut addrs = [[0; 4]; MAX_ADDRS];
    addrs[0] = VIP;
    AdvertRecord {
        rx_ns: at.as_nanos(),
        src: PEER,
        dst: [10, 1, 1, 10],
        ifindex: 2,
        vrid: 51,
        priority,
        version: 3,
        ttl: 255,
        adver_int_cs: (INTERVAL_MS / 10) as u16,
        count: 1,
        auth_type: 0,
        flags: 0,
        addrs,
        seq: 0,
        followed_rx_ns: 0,
    }
}

const IV: Duration = Duration::from_millis(INTERVAL_MS);

#[test]
fn steady_adverts_never_reach_the_controller_and_silence_fires_at_the_rfc_instant() {
    let mut f = Filtered::backup();
    let t0 = f.rig.now + IV;
    assert!(f.advert(t0, 200).is_empty());
    assert_eq!(f.rig.state("vi51"), State::Backup);
    let mut last = t0;
    for k in 1..=50u32 {
        last = t0 + IV * k;
        assert!(f.advert(last, 200).is_empty(), "advert {k} moved something");
    }
    assert_eq!(
        f.reported, 1,
        "only the first advert reached the controller"
    );
    assert_eq!(f.absorbed(), 50);
    assert_eq!(
        f.rig.ctl.next_deadline(),
        None,
        "the datapath times the silence, not the controller"
    );
    // The master dies after `last`: the backup takes over Master_Down_Interval later.
    let out = f.silence_until(last + mdi(100) * 2);
    assert!(
        out.iter()
            .any(|l| l.starts_with("kernel vi51 add-vips 10.1.255.1/32")),
        "{out:?}"
    );
    assert_eq!(f.rig.state("vi51"), State::Master);
    assert_eq!(f.reported, 2, "the silence record");
    let (inst, _) = f.rig.ctl.instance("vi51").unwrap();
    let at = inst.stats.last.as_ref().unwrap().at;
    assert_eq!(
        at,
        last + mdi(100),
        "Master_Down_Interval after the last advert"
    );
}

#[test]
fn a_leaving_master_is_reported_and_skew_runs_from_its_goodbye() {
    let mut f = Filtered::backup();
    let t0 = f.rig.now + IV;
    f.advert(t0, 200);
    for k in 1..=5u32 {
        f.advert(t0 + IV * k, 200);
    }
    let bye = t0 + IV * 6;
    f.advert(bye, 0);
    assert_eq!(f.reported, 2);
    assert_eq!(
        f.rig.ctl.next_deadline(),
        Some(bye + skew_time(Version::V3, 100, 10))
    );
    f.silence_until(bye + mdi(100));
    assert_eq!(f.rig.state("vi51"), State::Master);
}

#[test]
fn a_local_change_first_hands_the_core_the_last_absorbed_advert() {
    let mut f = Filtered::backup();
    let t0 = f.rig.now + IV;
    f.advert(t0, 200);
    let last = t0 + IV * 30;
    for k in 1..=30u32 {
        f.advert(t0 + IV * k, 200);
    }
    // A reload lowers our priority: the core must count from the last absorbed advert,
    // not from the first one it saw (30 intervals ago, long past its deadline).
    let (_, out) = f.rig.reload(&conf("priority = 90"));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(f.rig.state("vi51"), State::Backup);
    // (The running timer keeps the interval it was started with, as without the
    // filter; the next advert restarts it with the new priority's.)
    assert_eq!(f.rig.ctl.next_deadline(), Some(last + mdi(100)));
    // Not absorbing any more until the next report re-arms.
    f.advert(last + IV, 200);
    assert_eq!(f.reported, 2);
    f.advert(last + IV * 2, 200);
    assert_eq!(f.reported, 2, "re-armed by the report");
}

// ---- Batched sends and phase alignment -------------------------------------------------

/// What a queued sink's copies will have become at the next flush.
type Outcomes = Rc<RefCell<Vec<(u64, u64)>>>;

/// Opens sinks that queue (as the daemon's outbox does) and report, at the flush, the
/// next scripted (sent, refused) pair.
struct Queueing(Log, Outcomes);

struct QueuedSink(Log, Outcomes, u64);

impl AdvertSink for QueuedSink {
    fn send(&mut self, advert: &Advert) -> Result<Sent, SendError> {
        self.0.borrow_mut().push(format!(
            "queue vrid={} prio={}",
            advert.vrid, advert.priority
        ));
        self.2 += 1;
        Ok(Sent::Queued(1))
    }

    fn take_report(&mut self) -> SendReport {
        let mut report = SendReport::default();
        for _ in 0..std::mem::take(&mut self.2) {
            let (sent, failed) = self.1.borrow_mut().remove(0);
            report.sent += sent;
            report.failed += failed;
            if failed > 0 {
                report.error.get_or_insert(SendError::Send {
                    dst: IpAddr::V4(Ipv4Addr::new(10, 1, 2, 10)),
                    err: std::io::Error::from_raw_os_error(libc::ENETUNREACH),
                });
            }
        }
        report
    }
}

impl OpenSink for Queueing {
    fn open(&mut self, _: &SenderConfig) -> Result<Box<dyn AdvertSink>, SendError> {
        Ok(Box::new(QueuedSink(self.0.clone(), self.1.clone(), 0)))
    }
}

fn counts(ctl: &Controller, name: &str) -> (u64, u64) {
    let s = &ctl.instance(name).unwrap().0.stats;
    (s.adverts_sent, s.send_errors)
}

#[test]
fn queued_adverts_are_counted_per_instance_after_the_flush() {
    let log: Log = Rc::default();
    let outcomes: Outcomes = Rc::default();
    let host = Table(HashMap::from([("eth0", (2, Ipv4Addr::new(10, 1, 1, 10)))]));
    let mut ctl = Controller::new(
        parse(&conf("")),
        &host,
        &mut Queueing(log.clone(), outcomes.clone()),
    )
    .unwrap();
    ctl.start(Instant::from_millis(1_000));
    let fire = |ctl: &mut Controller| {
        let now = ctl.next_deadline().unwrap();
        ctl.on_timer(now);
    };
    fire(&mut ctl); // takeover: the first advert
    assert_eq!(log.borrow().last().unwrap(), "queue vrid=51 prio=200");
    assert_eq!(
        counts(&ctl, "vi51"),
        (0, 0),
        "nothing counted before the flush"
    );
    outcomes.borrow_mut().push((1, 0));
    ctl.sends_flushed();
    assert_eq!(counts(&ctl, "vi51"), (1, 0));
    assert!(ctl.take_dirty(), "the takeover");
    // Refused copies are counted per copy; the change of health marks status stale
    // once, further refusals do not.
    for outcome in [(0, 1), (1, 1), (0, 1)] {
        fire(&mut ctl);
        outcomes.borrow_mut().push(outcome);
        ctl.sends_flushed();
    }
    assert_eq!(counts(&ctl, "vi51"), (2, 3));
    assert!(ctl.take_dirty(), "sends started failing");
    assert!(!ctl.take_dirty());
    fire(&mut ctl);
    outcomes.borrow_mut().push((1, 0));
    ctl.sends_flushed();
    assert_eq!(counts(&ctl, "vi51"), (3, 3));
    assert!(ctl.take_dirty(), "sends recovered");
    // A flush with nothing queued changes nothing.
    ctl.sends_flushed();
    assert_eq!(counts(&ctl, "vi51"), (3, 3));
    assert!(outcomes.borrow().is_empty());
}

/// Two instances with one interval but different priorities become master at
/// different times (their Master_Down_Intervals differ); from their second advert on
/// they are due at the same instants, so one wake fires (and one flush sends) both.
#[test]
fn masters_with_equal_intervals_are_due_in_the_same_wake() {
    let mut text = conf("");
    text.push_str(
        r#"
[[instance]]
name = "vi52"
interface = "eth0"
vrid = 52
priority = 150
advert_interval_ms = 100
mode = "unicast"
unicast_src = "10.1.1.10/24"

[[instance.peer]]
address = "10.1.2.10"

[[instance.vip]]
address = "10.1.255.2/32"
dev = "lo"
"#,
    );
    let mut rig = Rig::new(&text);
    rig.start();
    let mut took = Vec::new();
    while rig.state("vi51") != State::Master || rig.state("vi52") != State::Master {
        rig.fire();
        took.push(rig.now);
    }
    assert_eq!(took.len(), 2, "each took over in its own wake: {took:?}");
    assert!(took[0] < took[1]);
    for _ in 0..5 {
        let both = rig.fire();
        assert_eq!(
            both,
            [
                "send vrid=51 prio=200 int=10 addrs=1",
                "send vrid=52 prio=150 int=10 addrs=1"
            ]
        );
        assert!(rig.now.as_nanos().is_multiple_of(100_000_000));
    }
}

//! `vrrpd doctor` in namespaces: on node A of the reference topology (BIRD
//! OSPF announcing the VIP from `lo`), set up right, every check is OK; then
//! each check is broken in turn (and repaired) and must FAIL, naming what to
//! change. A pair without a routing daemon fails the routing check.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use vrrp_tests::{
    lab::{Lab, Node, Recipe, RoutedPair, nft},
    netns::{Netns, require_root_and_netns},
    tmp::TempDir,
};

const VRRPD: &str = env!("CARGO_BIN_EXE_vrrpd");

fn config(dir: &Path, src: &str) -> PathBuf {
    let path = dir.join(format!("vrrpd-{src}.toml").replace('/', "_"));
    std::fs::write(
        &path,
        format!(
            r#"[global]
status_socket = "{sock}"

[[instance]]
name = "vi51"
interface = "eth0"
vrid = 51
priority = 150
advert_interval_ms = 100
mode = "unicast"
unicast_src = "{src}"

[[instance.peer]]
address = "10.1.2.10/24"
ttl_min = 240

[[instance.vip]]
address = "10.1.255.1/32"
dev = "lo"
"#,
            sock = dir.join("vrrpd.sock").display()
        ),
    )
    .unwrap();
    path
}

struct Run {
    code: i32,
    out: String,
}

impl Run {
    /// The line of the check whose name starts with `what`.
    fn line(&self, what: &str) -> &str {
        self.out
            .lines()
            .find(|l| l[5..].starts_with(what))
            .unwrap_or_else(|| panic!("no {what:?} line in:\n{}", self.out))
    }

    fn expect(&self, what: &str, level: &str) {
        let l = self.line(what);
        assert!(
            l.starts_with(level),
            "{what}: expected {level}, got {l:?}\n{}",
            self.out
        );
    }
}

fn doctor_with(cmd: &mut Command) -> Run {
    let o = cmd.output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    println!("{out}");
    Run {
        code: o.status.code().unwrap(),
        out,
    }
}

fn doctor(ns: &Netns, cfg: &Path) -> Run {
    let c = cfg.display().to_string();
    doctor_with(&mut ns.command(&[VRRPD, "doctor", "-c", &c]))
}

#[test]
fn doctor_ok_when_set_up_right_and_fails_each_broken_check() {
    require_root_and_netns().unwrap();
    let lab = Lab::builder().routing(Recipe::BirdOspf).build().unwrap();
    let a = &lab.a;
    let tmp = TempDir::new("doctor");
    let good = config(tmp.path(), "10.1.1.10/24");

    let r = doctor(a, &good);
    assert_eq!(r.code, 0, "a host set up right must pass:\n{}", r.out);
    assert!(
        r.out
            .lines()
            .filter(|l| !l.starts_with("doctor:"))
            .all(|l| l.starts_with("OK"))
    );
    r.expect("instance vi51 peer 10.1.2.10 route", "OK");
    assert!(
        r.line("instance vi51 peer 10.1.2.10 route")
            .contains("via 10.1.1.1 dev eth0")
    );
    r.expect("routing daemon BIRD", "OK");
    r.expect("BIRD configuration", "OK");
    r.expect("datapath on eth0", "OK");

    // Holding the VIP (as master): BIRD has its /32.
    lab.vip_add(Node::A).unwrap();
    // BIRD learns the address from a netlink notification: poll (bounded)
    // until its table has it rather than guessing a delay.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let r = loop {
        let r = doctor(a, &good);
        if r.line("BIRD route").starts_with("OK") || std::time::Instant::now() > deadline {
            break r;
        }
    };
    r.expect("BIRD route 10.1.255.1/32", "OK");
    assert_eq!(r.code, 0, "{}", r.out);
    lab.vip_del(Node::A).unwrap();

    // Firewall: an input chain dropping by policy.
    nft(
        a,
        "table inet doctor {\n chain in {\n  type filter hook input priority 0; policy drop;\n }\n}\n",
    )
    .unwrap();
    let r = doctor(a, &good);
    r.expect("firewall nftables input", "FAIL");
    r.expect("firewall nftables output", "OK");
    assert_eq!(r.code, 2);
    nft(a, "delete table inet doctor\n").unwrap();
    // ... and an output rule dropping VRRP.
    nft(
        a,
        "table inet doctor {\n chain out {\n  type filter hook output priority 0; policy accept;\n  ip protocol vrrp drop\n }\n}\n",
    )
    .unwrap();
    doctor(a, &good).expect("firewall nftables output", "FAIL");
    nft(a, "delete table inet doctor\n").unwrap();

    // rp_filter: strict is fine while the route back is symmetric, not once
    // the peer's route leaves by another interface.
    a.exec(&["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1"])
        .unwrap();
    doctor(a, &good).expect("rp_filter on eth0", "OK");
    a.exec(&["ip", "route", "add", "10.1.2.10/32", "dev", "lo"])
        .unwrap();
    let r = doctor(a, &good);
    r.expect("rp_filter on eth0", "FAIL");
    r.expect("instance vi51 peer 10.1.2.10 route", "WARN");
    a.exec(&["ip", "route", "del", "10.1.2.10/32", "dev", "lo"])
        .unwrap();
    a.exec(&["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0"])
        .unwrap();

    // The virtual subnet on a physical interface.
    a.exec(&["ip", "addr", "add", "10.1.255.2/24", "dev", "eth0"])
        .unwrap();
    doctor(a, &good).expect("instance vi51 VIP 10.1.255.1/32", "FAIL");
    a.exec(&["ip", "addr", "del", "10.1.255.2/24", "dev", "eth0"])
        .unwrap();

    // No route to the peer.
    a.exec(&["ip", "route", "del", "default"]).unwrap();
    doctor(a, &good).expect("instance vi51 peer 10.1.2.10 route", "FAIL");
    a.exec(&["ip", "route", "add", "default", "via", "10.1.1.1"])
        .unwrap();

    // unicast_src not configured on the interface.
    let wrong = config(tmp.path(), "10.1.1.11/24");
    let r = doctor(a, &wrong);
    r.expect("instance vi51 unicast_src 10.1.1.11/24", "FAIL");
    assert!(
        r.line("instance vi51 unicast_src")
            .contains("ip addr add 10.1.1.11/24 dev eth0")
    );

    // Without capabilities (still uid 0).
    let c = good.display().to_string();
    let r = doctor_with(&mut a.command(&[
        "setpriv",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--",
        VRRPD,
        "doctor",
        "-c",
        &c,
    ]));
    r.expect("capabilities", "FAIL");
    r.expect("XDP capabilities", "WARN");
    r.expect("routing daemon", "WARN");

    // The interface down (last: it takes the OSPF adjacency down).
    a.exec(&["ip", "link", "set", "eth0", "down"]).unwrap();
    let r = doctor(a, &good);
    r.expect("interface eth0", "FAIL");
    assert_eq!(r.code, 2);

    // A configuration that does not validate.
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[[instance]]\nname = 1\n").unwrap();
    doctor(a, &bad).expect("configuration", "FAIL");
}

#[test]
fn doctor_fails_without_a_routing_daemon() {
    require_root_and_netns().unwrap();
    let pair = RoutedPair::new("doc").unwrap();
    let tmp = TempDir::new("doctor-nr");
    let r = doctor(&pair.a, &config(tmp.path(), "10.1.1.10/24"));
    r.expect("routing daemon", "FAIL");
    r.expect("interface eth0", "OK");
    assert_eq!(r.code, 2);
}

#[test]
fn doctor_reads_frr() {
    require_root_and_netns().unwrap();
    let lab = Lab::builder().routing(Recipe::FrrOspf).build().unwrap();
    let tmp = TempDir::new("doctor-frr");
    let r = doctor(&lab.a, &config(tmp.path(), "10.1.1.10/24"));
    r.expect("routing daemon FRR", "OK");
    r.expect("FRR configuration", "OK");
    assert_eq!(r.code, 0, "{}", r.out);
}

/// Tracked routes as their tracker would see them: the client subnet A learns from
/// the router is there; a prefix nobody announces, or too few next hops, is a WARN
/// that says what it does to the instance.
#[test]
fn doctor_reads_tracked_routes() {
    require_root_and_netns().unwrap();
    let lab = Lab::builder().routing(Recipe::BirdOspf).build().unwrap();
    lab.wait_learned_route(Node::A, std::time::Duration::from_secs(30))
        .unwrap();
    let tmp = TempDir::new("doctor-track");
    let base = std::fs::read_to_string(config(tmp.path(), "10.1.1.10/24")).unwrap();
    let cfg = tmp.path().join("tracked.toml");
    let client = vrrp_tests::lab::CLIENT_SUBNET;
    std::fs::write(
        &cfg,
        format!(
            "{base}\n[[instance.track_route]]\nprefix = \"{client}\"\nprotocol = \"bird\"\n\n\
             [[instance.track_route]]\nprefix = \"{client}\"\nprotocol = \"bird\"\ntable = 100\nweight = -60\n\n\
             [[instance.track_route]]\nprefix = \"0.0.0.0/0\"\nmin_nexthops = 2\n"
        ),
    )
    .unwrap();
    let r = doctor(&lab.a, &cfg);
    let present = format!("instance vi51 track_route {client}");
    let line = r
        .out
        .lines()
        .find(|l| l.contains(&present) && l.contains("in table 254"))
        .unwrap_or_else(|| panic!("no line for the learned route:\n{}", r.out));
    assert!(
        line.starts_with("OK") && line.contains("1 usable next hop"),
        "{line}"
    );
    let other_table = r
        .out
        .lines()
        .find(|l| l.contains(&present) && l.contains("table 100"))
        .unwrap();
    assert!(
        other_table.starts_with("WARN")
            && other_table.contains("no usable route in table 100")
            && other_table.contains("its priority is 60 lower until one appears"),
        "{other_table}"
    );
    r.expect("instance vi51 track_route 0.0.0.0/0", "WARN");
    assert!(
        r.line("instance vi51 track_route 0.0.0.0/0")
            .contains("fewer than min_nexthops = 2, so the instance stays in FAULT"),
        "{}",
        r.out
    );
    assert_eq!(r.code, 1, "{}", r.out);
}

//! Our adverts on the wire, decoded by an independent dissector: tshark's VRRP.
//!
//! Node A (vrrpd, 10.1.1.10/24) is master alone and advertises by unicast to
//! 10.1.2.10 in another subnet; tshark captures in the router namespace on the
//! link towards B, so the adverts are seen after one hop (TTL 254). tshark then
//! decodes the pcap and we check every field against the configuration, and that
//! tshark's checksum verification says "good". For VRRPv3 the dissector's
//! `vrrp.v3_checksum_as_in_v2` preference is set explicitly to FALSE (checksum
//! over the IPv4 pseudo-header, RFC 9568 §5.2.8); decoding the same capture with
//! TRUE must then report a bad checksum, which shows that tshark really checks
//! and that our checksum covers the pseudo-header. Finally A gets SIGTERM and the
//! capture must end with a priority-0 advert.
//!
//! Over IPv6 the same: 2001:db8:1::10 to 2001:db8:2::10 with hop limit 254 after the
//! router, VIPs 2001:db8:ff::1 and ::2, the checksum over the RFC 8200 pseudo-header
//! (IPv6 has no other form, so the dissector's v2 preference does not apply).

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use vrrp_tests::{
    lab::RoutedPair,
    netns::{Netns, require_root_and_netns},
    tmp::TempDir,
};

const VRRPD: &str = env!("CARGO_BIN_EXE_vrrpd");
const VIPS: [&str; 2] = ["10.1.255.1", "10.1.255.2"];
const VIPS6: [&str; 2] = ["2001:db8:ff::1", "2001:db8:ff::2"];
const VRID: u8 = 51;
const PRIORITY: u8 = 200;

/// The tshark fields we read, in this order (names from `tshark -G fields`).
const FIELDS: [&str; 18] = [
    "frame.time_relative",
    "ip.src",
    "ip.dst",
    "ip.ttl",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.hlim",
    "vrrp.ipv6_addr",
    "vrrp.version",
    "vrrp.type",
    "vrrp.virt_rtr_id",
    "vrrp.prio",
    "vrrp.addr_count",
    "vrrp.adver_int",       // VRRPv2: seconds
    "vrrp.short_adver_int", // VRRPv3: centiseconds (12 bits)
    "vrrp.ip_addr",
    "vrrp.checksum.status", // 0 bad, 1 good, 2 unverified
    "vrrp.auth_type",       // VRRPv2 only
];

/// One decoded advert: the fields above as tshark printed them.
#[derive(Debug)]
struct Advert {
    time: f64,
    f: Vec<String>,
}

impl Advert {
    fn get(&self, name: &str) -> &str {
        let i = FIELDS.iter().position(|f| *f == name).unwrap();
        &self.f[i]
    }
}

/// The routed topology with vrrpd running on A only (B just receives).
struct Wire {
    v6: bool,
    dir: PathBuf,
    a: Netns,
    _b: Netns,
    r: Netns,
    pid: Option<u32>,
}

impl Wire {
    fn new(tmp: &Path, version: u8, interval_ms: u64) -> Wire {
        Wire::start(tmp, version, interval_ms, false)
    }

    /// vrrpd on A, over IPv6 when `v6` (the pair is dual stack).
    fn start(tmp: &Path, version: u8, interval_ms: u64, v6: bool) -> Wire {
        require_root_and_netns().unwrap();
        require_tshark();
        let RoutedPair { a, b, router: r } = RoutedPair::new("w").unwrap();
        let dir = tmp.to_path_buf();
        let (src, peer, vips, host) = if v6 {
            ("2001:db8:1::10/64", "2001:db8:2::10/64", VIPS6, 128)
        } else {
            ("10.1.1.10/24", "10.1.2.10/24", VIPS, 32)
        };
        let config = format!(
            r#"[global]
status_socket = "{sock}"

[[instance]]
name = "vi51"
interface = "eth0"
vrid = {VRID}
version = {version}
priority = {PRIORITY}
advert_interval_ms = {interval_ms}
mode = "unicast"
unicast_src = "{src}"

[[instance.peer]]
address = "{peer}"
ttl_min = 250

[[instance.vip]]
address = "{v0}/{host}"
dev = "lo"

[[instance.vip]]
address = "{v1}/{host}"
dev = "lo"
"#,
            sock = dir.join("vrrpd.sock").display(),
            v0 = vips[0],
            v1 = vips[1],
        );
        std::fs::write(dir.join("vrrpd.toml"), config).unwrap();
        let mut w = Wire {
            v6,
            dir,
            a,
            _b: b,
            r,
            pid: None,
        };
        let cfg = w.dir.join("vrrpd.toml");
        let log = w.log_path();
        w.pid = Some(
            w.a.spawn_logged(&[VRRPD, "run", "-c", cfg.to_str().unwrap()], &log)
                .unwrap(),
        );
        w
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("vrrpd.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn wait_master(&self) {
        let start = Instant::now();
        loop {
            let out = self
                .a
                .exec(&["ip", "-o", "addr", "show", "dev", "lo"])
                .unwrap();
            let vip = if self.v6 {
                format!("{}/128", VIPS6[0])
            } else {
                format!("{}/32", VIPS[0])
            };
            if String::from_utf8_lossy(&out.stdout).contains(&vip) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "A did not become master:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Captures VRRP on the router's link towards B: at most `count` packets or
    /// `secs` seconds. `during` runs once tshark is capturing, with the capture file.
    fn capture(
        &mut self,
        name: &str,
        count: u32,
        secs: u32,
        during: impl FnOnce(&mut Self, &Path),
    ) -> PathBuf {
        let pcap = self.dir.join(format!("{name}.pcap"));
        let log = self.dir.join(format!("{name}.tshark.log"));
        let (count, duration) = (count.to_string(), format!("duration:{secs}"));
        let filter = if self.v6 {
            "ip6 proto 112"
        } else {
            "ip proto 112"
        };
        let argv = [
            "tshark",
            "-i",
            "rb",
            "-f",
            filter,
            "-c",
            &count,
            "-a",
            &duration,
            "-w",
            pcap.to_str().unwrap(),
        ];
        let pid = self.r.spawn_logged(&argv, &log).unwrap();
        let start = Instant::now();
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("Capturing on")
        {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "tshark did not start capturing:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        during(self, &pcap);
        let status = self
            .r
            .wait_exit(pid, Duration::from_secs(u64::from(secs) + 15))
            .unwrap()
            .expect("tshark did not stop at its own limit");
        assert!(
            status.success(),
            "tshark: {status}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        pcap
    }
}

/// Complete packets in a capture file that is still being written (pcapng, or
/// classic pcap): the ones tshark has flushed so far.
fn packets_in(path: &Path) -> usize {
    let Ok(b) = std::fs::read(path) else {
        return 0;
    };
    let u32_at = |i: usize, le: bool| -> Option<u32> {
        let a: [u8; 4] = b.get(i..i + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    };
    let mut n = 0;
    match b.get(..4) {
        // pcapng: blocks of (type, total length, body, total length); the section
        // header's byte-order magic gives the endianness. Packets are enhanced (6)
        // or simple (3) packet blocks.
        Some([0x0a, 0x0d, 0x0d, 0x0a]) => {
            let le = u32_at(8, true) == Some(0x1a2b_3c4d);
            let mut i = 0;
            while let (Some(t), Some(len)) = (u32_at(i, le), u32_at(i + 4, le)) {
                let len = len as usize;
                if len < 12 || i + len > b.len() {
                    break;
                }
                n += usize::from(t == 6 || t == 3);
                i += len;
            }
        }
        // pcap: a 24-byte header, then (16-byte header with the captured length at
        // offset 8, data) per packet.
        Some(m)
            if matches!(m, [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1])
                || matches!(m, [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d]) =>
        {
            let le = m[0] != 0xa1;
            let mut i = 24;
            while let Some(caplen) = u32_at(i + 8, le) {
                let end = i + 16 + caplen as usize;
                if end > b.len() {
                    break;
                }
                n += 1;
                i = end;
            }
        }
        _ => {}
    }
    n
}

/// Fails (never skips) when tshark is missing.
fn require_tshark() {
    let ok = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "tshark not installed: run `cargo xtask setup` or \
         `DEBIAN_FRONTEND=noninteractive apt-get install -y tshark`"
    );
}

/// Decodes a pcap with tshark. `v3_as_v2` sets the dissector's preference for the
/// VRRPv3 checksum (TRUE: without the pseudo-header).
fn decode(pcap: &Path, v3_as_v2: bool) -> Vec<Advert> {
    let pref = format!(
        "vrrp.v3_checksum_as_in_v2:{}",
        if v3_as_v2 { "TRUE" } else { "FALSE" }
    );
    let mut cmd = Command::new("tshark");
    cmd.args(["-r", pcap.to_str().unwrap(), "-o", &pref, "-T", "fields"]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "tshark -r: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<String> = l.split('\t').map(str::to_string).collect();
            assert_eq!(f.len(), FIELDS.len(), "tshark line: {l:?}");
            Advert {
                time: f[0].parse().unwrap(),
                f,
            }
        })
        .collect()
}

/// Every field of a steady-state advert, as configured; `interval` as tshark
/// shows it (centiseconds for v3, seconds for v2).
fn check_advert(a: &Advert, version: u8, priority: u8, interval: u32) {
    let v6 = !a.get("ipv6.src").is_empty();
    let (src, dst, ttl, vips) = if v6 {
        ("ipv6.src", "ipv6.dst", "ipv6.hlim", "vrrp.ipv6_addr")
    } else {
        ("ip.src", "ip.dst", "ip.ttl", "vrrp.ip_addr")
    };
    let (src_addr, dst_addr, vip_list) = if v6 {
        ("2001:db8:1::10", "2001:db8:2::10", VIPS6.join(","))
    } else {
        ("10.1.1.10", "10.1.2.10", VIPS.join(","))
    };
    let want = [
        (src, src_addr.to_string()),
        (dst, dst_addr.to_string()),
        // Sent with 255, decremented once by the router.
        (ttl, "254".to_string()),
        ("vrrp.version", version.to_string()),
        ("vrrp.type", "1".to_string()),
        ("vrrp.virt_rtr_id", VRID.to_string()),
        ("vrrp.prio", priority.to_string()),
        ("vrrp.addr_count", "2".to_string()),
        (vips, vip_list),
        ("vrrp.checksum.status", "1".to_string()),
    ];
    for (field, value) in want {
        assert_eq!(a.get(field), value, "{field} in {a:?}");
    }
    if version == 3 {
        assert_eq!(a.get("vrrp.short_adver_int"), interval.to_string(), "{a:?}");
        assert_eq!(a.get("vrrp.adver_int"), "", "{a:?}");
    } else {
        assert_eq!(a.get("vrrp.adver_int"), interval.to_string(), "{a:?}");
        assert_eq!(a.get("vrrp.auth_type"), "0", "{a:?}");
    }
}

/// Average spacing of the adverts, in seconds.
fn mean_spacing(adverts: &[Advert]) -> f64 {
    let n = adverts.len();
    assert!(n >= 2, "need two adverts to measure the interval");
    (adverts[n - 1].time - adverts[0].time) / (n - 1) as f64
}

/// SIGTERM to A during a capture: the last advert has priority 0.
fn priority_zero_on_sigterm(w: &mut Wire, version: u8, interval_ms: u64, interval: u32) {
    // Room for an advert to be captured and flushed, the stop and its priority-0
    // advert, at any interval.
    let secs = (interval_ms * 5).div_ceil(1000).max(3) as u32;
    let pcap = w.capture("stop", 1000, secs, |w, pcap| {
        // Normal adverts through first: one is in the capture file (the filter lets
        // only VRRP in, and only A advertises), not a fixed time.
        let limit = Duration::from_millis(interval_ms * 3) + Duration::from_secs(5);
        let start = Instant::now();
        while packets_in(pcap) == 0 {
            assert!(
                start.elapsed() < limit,
                "no advert captured within {limit:?}:\n{}",
                w.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let pid = w.pid.take().unwrap();
        w.a.signal(pid, libc::SIGTERM).unwrap();
        let status = w.a.wait_exit(pid, Duration::from_secs(10)).unwrap();
        assert!(
            status.is_some_and(|s| s.success()),
            "A on SIGTERM: {status:?}"
        );
    });
    let adverts = decode(&pcap, false);
    let (last, before) = adverts.split_last().expect("no advert captured");
    assert!(!before.is_empty(), "no advert before the priority-0 one");
    for a in before {
        check_advert(a, version, PRIORITY, interval);
    }
    check_advert(last, version, 0, interval);
    println!(
        "v{version}: {} adverts at priority {PRIORITY}, then priority 0 on SIGTERM",
        before.len()
    );
}

#[test]
fn v3_adverts_decoded_by_tshark() {
    let tmp = TempDir::new("wire3");
    let mut w = Wire::new(tmp.path(), 3, 100);
    w.wait_master();
    let pcap = w.capture("steady", 10, 5, |_, _| {});
    let adverts = decode(&pcap, false);
    assert_eq!(adverts.len(), 10, "{adverts:?}");
    for a in &adverts {
        // 100 ms is 10 centiseconds.
        check_advert(a, 3, PRIORITY, 10);
    }
    let spacing = mean_spacing(&adverts);
    println!("v3: 10 adverts, mean spacing {:.1} ms", spacing * 1e3);
    assert!((0.08..0.2).contains(&spacing), "{spacing}");

    // The same bytes checked without the pseudo-header must fail.
    let as_v2 = decode(&pcap, true);
    for a in &as_v2 {
        assert_eq!(a.get("vrrp.checksum.status"), "0", "{a:?}");
    }

    priority_zero_on_sigterm(&mut w, 3, 100, 10);
}

#[test]
fn v3_ipv6_adverts_decoded_by_tshark() {
    let tmp = TempDir::new("wire6");
    let mut w = Wire::start(tmp.path(), 3, 100, true);
    w.wait_master();
    let pcap = w.capture("steady", 10, 5, |_, _| {});
    let adverts = decode(&pcap, false);
    assert_eq!(adverts.len(), 10, "{adverts:?}");
    for a in &adverts {
        check_advert(a, 3, PRIORITY, 10);
    }
    println!(
        "v3 over IPv6: 10 adverts, mean spacing {:.1} ms, checksums good",
        mean_spacing(&adverts) * 1e3
    );
    priority_zero_on_sigterm(&mut w, 3, 100, 10);
}

#[test]
fn v2_adverts_decoded_by_tshark() {
    let tmp = TempDir::new("wire2");
    let mut w = Wire::new(tmp.path(), 2, 1000);
    w.wait_master();
    let pcap = w.capture("steady", 3, 6, |_, _| {});
    let adverts = decode(&pcap, false);
    assert_eq!(adverts.len(), 3, "{adverts:?}");
    for a in &adverts {
        check_advert(a, 2, PRIORITY, 1);
    }
    let spacing = mean_spacing(&adverts);
    println!("v2: 3 adverts, mean spacing {:.0} ms", spacing * 1e3);
    assert!((0.8..1.5).contains(&spacing), "{spacing}");

    priority_zero_on_sigterm(&mut w, 2, 1000, 1);
}

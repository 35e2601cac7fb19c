//! Verdict tests of the follow filter in the loaded XDP program (BPF_PROG_TEST_RUN),
//! each frame also run through the socket path's filter (`FollowState`): both must
//! absorb or report alike, with the same report count.
//!
//! One test per condition under which the election must see an advert: every one
//! produces a record at once. Absorbed adverts produce none and are still counted as
//! accepted; the silence timer (`bpf_timer`) reports a master that went quiet.

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use vrrp_common::{
    AdvertRecord, Counter, PeerConfig, REC_F_SILENCE, Record, VridConfig, VridKey, WireAddr,
    follow::{Follow, Seen},
};
use vrrp_tests::frames::FrameSpec;
use vrrp_user::datapath::{
    DatapathConfig, PeerEntry, VridEntry,
    follow::{FollowState, FollowTable, SharedFollow},
    table::Table,
    validate::{Verdict, validate_frame},
    xdp::{XdpDatapath, XdpFollow},
};

vrrp_user::xdp_loader_test!();

const LO: u32 = 1;
const XDP_DROP: u32 = 1;
const PEER: [u8; 4] = [10, 1, 2, 10];
const OTHER_PEER: [u8; 4] = [10, 1, 2, 11];
const LOCAL: [u8; 4] = [10, 1, 1, 10];
const KEY: VridKey = VridKey::new(LO, 51);
/// Master_Down_Interval the tests arm with: long enough that no silence fires by
/// accident while a test runs its frames, except in the silence tests.
const DOWN: Duration = Duration::from_secs(3600);

fn config() -> DatapathConfig {
    let peer = |addr| PeerEntry {
        addr,
        config: PeerConfig::default(),
    };
    DatapathConfig {
        entries6: Vec::new(),
        entries: vec![VridEntry {
            ifindex: LO,
            vrid: 51,
            config: VridConfig {
                unicast_dst: LOCAL,
                flags: 0,
                version: 0,
                _pad: [0; 2],
            },
            peers: vec![peer(PEER), peer(OTHER_PEER)],
        }],
    }
}

/// These tests are IPv4 only.
fn v4(r: Record) -> AdvertRecord {
    r.into_v4().expect("an IPv4 record")
}

struct Harness {
    dp: XdpDatapath,
    kernel: Box<XdpFollow>,
    table: Table,
    user: SharedFollow,
}

/// What one frame did on both paths.
#[derive(Debug, PartialEq, Eq)]
enum Seen2 {
    Absorbed,
    Reported(AdvertRecord),
}

impl Harness {
    fn new() -> Harness {
        let mut dp = XdpDatapath::load().expect(
            "loading the XDP program failed: needs root (CAP_BPF, CAP_NET_ADMIN) and the \
             embedded object built by vrrp-user/build.rs",
        );
        let cfg = config();
        dp.update(&cfg).expect("writing maps");
        let mut kernel = dp.take_follow().expect("follow maps");
        let keys = BTreeSet::from([KEY]);
        kernel.install(&keys);
        let mut user = SharedFollow::default();
        user.install(&keys);
        Harness {
            dp,
            kernel,
            table: Table::new(&cfg),
            user,
        }
    }

    /// Runs `spec` through both paths; asserts they agree.
    fn run(&mut self, spec: &FrameSpec) -> Seen2 {
        let frame = spec.frame();
        let accepted = self.dp.counters().get(Counter::Accepted);
        let action = self
            .dp
            .program()
            .test_run(&frame, 1)
            .expect("BPF_PROG_TEST_RUN")
            .return_value;
        assert_eq!(action, XDP_DROP, "valid adverts are consumed");
        assert_eq!(
            self.dp.counters().get(Counter::Accepted),
            accepted + 1,
            "absorbed or reported, a valid advert is counted as accepted"
        );
        let mut records = Vec::new();
        self.dp.drain(&mut records);
        assert!(records.len() <= 1, "{records:?}");
        let kernel = match records.pop() {
            Some(r) => Seen2::Reported(v4(r)),
            None => Seen2::Absorbed,
        };
        let rx_ns = match &kernel {
            Seen2::Reported(r) => r.rx_ns,
            Seen2::Absorbed => vrrp_user::datapath::monotonic_ns(),
        };
        let Verdict::Accept(rec) = validate_frame(&frame, LO, rx_ns, &self.table) else {
            panic!("the socket path rejects a frame XDP accepted: {spec:?}");
        };
        let user = match self.user.with(|f: &mut FollowState| f.filter(rec)) {
            Some(r) => Seen2::Reported(v4(r)),
            None => Seen2::Absorbed,
        };
        match (&kernel, &user) {
            (Seen2::Absorbed, Seen2::Absorbed) => {}
            (Seen2::Reported(k), Seen2::Reported(u)) => {
                assert_eq!(k.seq, u.seq, "report counts differ");
                assert_eq!(
                    k.followed_rx_ns != 0,
                    u.followed_rx_ns != 0,
                    "one path saw an absorbed advert before, the other not"
                );
                let strip = |r: &AdvertRecord| AdvertRecord {
                    rx_ns: 0,
                    followed_rx_ns: 0,
                    ..*r
                };
                assert_eq!(strip(k), strip(u), "records differ");
            }
            _ => panic!("XDP {kernel:?} but the socket path {user:?} for {spec:?}"),
        }
        kernel
    }

    fn reported(&mut self, spec: &FrameSpec) -> AdvertRecord {
        match self.run(spec) {
            Seen2::Reported(r) => r,
            Seen2::Absorbed => panic!("absorbed, but the election must see it: {spec:?}"),
        }
    }

    /// Arms both paths to absorb copies of `rec`, as the controller does.
    fn arm(&mut self, rec: &AdvertRecord, down: Duration) {
        let f = Follow::absorbing(&Seen::of(rec), rec.seq, down.as_nanos() as u64);
        assert!(self.kernel.arm(KEY, &f));
        assert!(self.user.arm(KEY, &f));
    }

    /// A followed advert, reported and armed.
    fn armed(&mut self, spec: &FrameSpec) -> AdvertRecord {
        let rec = self.reported(spec);
        self.arm(&rec, DOWN);
        assert_eq!(
            self.run(spec),
            Seen2::Absorbed,
            "the steady state stays in the kernel"
        );
        rec
    }
}

fn steady() -> FrameSpec {
    FrameSpec {
        priority: 200,
        interval: 1,
        ..Default::default()
    }
}

#[test]
fn unarmed_every_advert_is_reported() {
    let mut h = Harness::new();
    for n in 1..=3 {
        let r = h.reported(&steady());
        assert_eq!((r.seq, r.followed_rx_ns), (n, 0));
    }
}

#[test]
fn the_followed_advert_is_absorbed_and_counted() {
    let mut h = Harness::new();
    let first = h.armed(&steady());
    for _ in 0..9 {
        assert_eq!(h.run(&steady()), Seen2::Absorbed);
    }
    let kept = h.kernel.followed(KEY).unwrap();
    assert_eq!(kept.absorbed, 10);
    assert_eq!(kept.reports, first.seq);
    assert!(kept.last_rx_ns > first.rx_ns);
    assert_eq!(kept.jitter.src, PEER.wide());
    assert_eq!(h.user.followed(KEY).unwrap().absorbed, 10);
}

/// Each change the election must see: reported at once, with the time of the last
/// absorbed advert, and nothing is absorbed after it until the daemon re-arms.
#[test]
fn every_change_is_reported_at_once() {
    let changes: Vec<(&str, FrameSpec)> = vec![
        (
            "a different sender",
            FrameSpec {
                src: OTHER_PEER,
                ..steady()
            },
        ),
        (
            "a priority change",
            FrameSpec {
                priority: 201,
                ..steady()
            },
        ),
        (
            "priority 0",
            FrameSpec {
                priority: 0,
                ..steady()
            },
        ),
        (
            "an interval change",
            FrameSpec {
                interval: 2,
                ..steady()
            },
        ),
        (
            "another address list",
            FrameSpec {
                addrs: vec![[10, 1, 255, 2]],
                ..steady()
            },
        ),
        (
            "an address added",
            FrameSpec {
                addrs: vec![[10, 1, 255, 1], [10, 1, 255, 2]],
                ..steady()
            },
        ),
        (
            "the addresses reordered",
            FrameSpec {
                addrs: vec![[10, 1, 255, 2], [10, 1, 255, 1]],
                ..steady()
            },
        ),
        (
            "another version",
            FrameSpec {
                version: 2,
                interval: 1,
                ..steady()
            },
        ),
    ];
    for (what, change) in changes {
        let mut h = Harness::new();
        let base = FrameSpec {
            addrs: if what.starts_with("the addresses") {
                vec![[10, 1, 255, 1], [10, 1, 255, 2]]
            } else {
                steady().addrs
            },
            ..steady()
        };
        let first = h.armed(&base);
        let r = h.reported(&change);
        assert_eq!(r.seq, first.seq + 1, "{what}");
        assert!(
            r.followed_rx_ns > first.rx_ns,
            "{what}: the last absorbed time"
        );
        // The arm is stale now: even the followed advert is reported.
        assert!(
            matches!(h.run(&base), Seen2::Reported(_)),
            "{what}: absorbed after a report"
        );
    }
}

#[test]
fn a_stale_or_withdrawn_arm_absorbs_nothing() {
    let mut h = Harness::new();
    let first = h.reported(&steady());
    h.reported(&steady()); // a report the daemon has not seen when it arms
    h.arm(&first, DOWN);
    assert!(matches!(h.run(&steady()), Seen2::Reported(_)), "stale arm");

    let rec = h.reported(&steady());
    h.arm(&rec, DOWN);
    assert_eq!(h.run(&steady()), Seen2::Absorbed);
    let kept = h.kernel.disarm(KEY).unwrap();
    h.user.disarm(KEY);
    assert_eq!(kept.absorbed, 1);
    assert!(matches!(h.run(&steady()), Seen2::Reported(_)), "disarmed");
}

#[test]
fn silence_after_the_last_absorbed_advert_is_reported_by_the_kernel_timer() {
    let mut h = Harness::new();
    let down = Duration::from_millis(30);
    let rec = h.reported(&steady());
    h.arm(&rec, down);
    // Three adverts a third of the interval apart: the timer started by the first
    // must be pushed on to the last.
    for _ in 0..3 {
        assert_eq!(h.run(&steady()), Seen2::Absorbed);
        std::thread::sleep(down / 3);
    }
    let absorbed_at = h.kernel.followed(KEY).unwrap().last_rx_ns;
    let limit = Instant::now() + Duration::from_secs(5);
    let mut records = Vec::new();
    while records.is_empty() && Instant::now() < limit {
        std::thread::sleep(down / 3);
        h.dp.drain(&mut records);
    }
    let [silence] = records.as_slice() else {
        panic!("no single silence record within 5 s: {records:?}");
    };
    let silence = v4(*silence);
    assert_eq!(silence.flags, REC_F_SILENCE);
    assert_eq!(
        silence.rx_ns, absorbed_at,
        "counted from the last absorbed advert"
    );
    assert_eq!(
        (silence.src, silence.priority, silence.vrid),
        (PEER, 200, 51)
    );
    assert_eq!(silence.seq, rec.seq + 1);
    let fired = vrrp_user::datapath::monotonic_ns();
    assert!(fired >= absorbed_at + down.as_nanos() as u64, "fired early");
    // Reported once: the arm is stale after it.
    std::thread::sleep(down * 2);
    h.dp.drain(&mut records);
    assert_eq!(records.len(), 1, "{records:?}");
}

#[test]
fn no_silence_once_a_newer_record_was_reported() {
    let mut h = Harness::new();
    let down = Duration::from_millis(30);
    let rec = h.reported(&steady());
    h.arm(&rec, down);
    assert_eq!(h.run(&steady()), Seen2::Absorbed);
    h.reported(&FrameSpec {
        priority: 0,
        ..steady()
    });
    std::thread::sleep(down * 3);
    let mut records = Vec::new();
    h.dp.drain(&mut records);
    assert!(records.is_empty(), "a silence after a report: {records:?}");
}

/// Not a test: the XDP program's cost per absorbed advert, from BPF_PROG_TEST_RUN's
/// own timing over many runs (`cargo test -p vrrp-tests --test xdp_follow -- --ignored
/// --nocapture`). The benchmark's figure (bpf_stats on a live link) adds the
/// accounting and cold caches; this one isolates the program.
#[test]
#[ignore]
fn cost_of_an_absorbed_advert() {
    let mut h = Harness::new();
    h.armed(&steady());
    const RUNS: u32 = 1_000_000;
    let frame = steady().frame();
    for _ in 0..3 {
        let run =
            h.dp.program()
                .test_run(&frame, RUNS)
                .expect("BPF_PROG_TEST_RUN");
        assert_eq!(run.return_value, XDP_DROP);
        println!("absorbed advert: {} ns per run", run.duration.as_nanos());
    }
    let mut records = Vec::new();
    h.dp.drain(&mut records);
    assert!(records.is_empty(), "every copy absorbed: {}", records.len());
}

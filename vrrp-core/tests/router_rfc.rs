//! The RFC 9568 §6.4 rules (and our documented extensions), one test each, with
//! concrete numbers.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use vrrp_core::router::{
    Action, Config, IgnoreReason, Input, Reason, ReceivedAdvert, Router, State, TrackUpdate,
    TrackWeight, Version, master_down_interval, skew_time,
};
use vrrp_core::time::Instant;

const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 1, 255, 1));

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

/// Our router: 10.0.0.5, VRID 1, 1 s interval, preempt on.
fn cfg(priority: u8) -> Config {
    let mut c = Config::new(1, priority, ip(5));
    c.vips = vec![VIP];
    c
}

fn advert(src: u8, priority: u8, interval_cs: u16, rx: Instant) -> Input {
    Input::Advert(ReceivedAdvert {
        src: ip(src),
        version: Version::V3,
        vrid: 1,
        priority,
        max_adver_int_cs: interval_cs,
        addrs: vec![VIP],
        rx_time: rx,
    })
}

fn hook(state: State, from: State, reason: Reason) -> Action {
    Action::RunHook {
        state,
        from,
        reason,
    }
}

fn reason(actions: &[Action]) -> Option<Reason> {
    actions.iter().find_map(|a| match a {
        Action::Transition(t) => Some(t.reason.clone()),
        _ => None,
    })
}

/// A started non-owner: Backup at t=0, Master_Down_Timer at 3.609375 s for priority 100.
fn backup(c: Config) -> Router {
    let mut r = Router::new(c).unwrap();
    r.handle(ms(0), Input::Startup);
    assert_eq!(r.state(), State::Backup);
    r
}

/// A started router forced to Master by its down timer at `master_at`.
fn master(c: Config) -> (Router, Instant) {
    let mut r = backup(c);
    let at = r.next_deadline().unwrap();
    r.handle(at, Input::Timer);
    assert_eq!(r.state(), State::Master);
    (r, at)
}

// ---- §6.1 timer formulas ------------------------------------------------------------

#[test]
fn skew_and_master_down_interval_v3() {
    assert_eq!(
        skew_time(Version::V3, 100, 100),
        Duration::from_nanos(609_375_000)
    );
    assert_eq!(
        master_down_interval(Version::V3, 100, 100),
        Duration::from_nanos(3_609_375_000)
    );
    assert_eq!(
        skew_time(Version::V3, 255, 100),
        Duration::from_nanos(3_906_250)
    );
    assert_eq!(
        skew_time(Version::V3, 1, 100),
        Duration::from_nanos(996_093_750)
    );
    // 100 ms interval, priority 200: skew 56/256 * 100 ms.
    assert_eq!(
        skew_time(Version::V3, 200, 10),
        Duration::from_nanos(21_875_000)
    );
    assert_eq!(
        master_down_interval(Version::V3, 200, 10),
        Duration::from_nanos(321_875_000)
    );
}

#[test]
fn skew_v2_is_not_scaled_by_interval() {
    // RFC 3768: Skew_Time = (256 - Priority) / 256 seconds whatever the interval.
    assert_eq!(
        skew_time(Version::V2, 100, 300),
        Duration::from_nanos(609_375_000)
    );
    assert_eq!(
        master_down_interval(Version::V2, 100, 300),
        Duration::from_nanos(9_609_375_000)
    );
}

#[test]
fn config_validation() {
    assert!(Router::new(Config::new(0, 100, ip(1))).is_err());
    assert!(Router::new(Config::new(1, 0, ip(1))).is_err());
    let mut c = cfg(100);
    c.advert_interval_cs = 0;
    assert!(Router::new(c.clone()).is_err());
    c.advert_interval_cs = 4096;
    assert!(Router::new(c.clone()).is_err());
    c.version = Version::V2;
    c.advert_interval_cs = 150;
    assert!(Router::new(c.clone()).is_err(), "v2 needs whole seconds");
    c.advert_interval_cs = 200;
    assert!(Router::new(c.clone()).is_ok());
    c.vips = vec!["2001:db8::1".parse().unwrap()];
    assert!(Router::new(c).is_err(), "mixed families");
}

// ---- §6.4.1 Initialize --------------------------------------------------------------

#[test]
fn startup_non_owner_goes_backup_and_arms_master_down_timer() {
    let mut r = Router::new(cfg(100)).unwrap();
    assert_eq!(r.state(), State::Initialize);
    assert_eq!(r.next_deadline(), None);
    let actions = r.handle(ms(1_000), Input::Startup);
    assert_eq!(r.state(), State::Backup);
    assert_eq!(reason(&actions), Some(Reason::Startup));
    assert_eq!(actions.len(), 2);
    assert_eq!(
        actions[1],
        hook(State::Backup, State::Initialize, Reason::Startup)
    );
    assert_eq!(r.next_deadline(), Some(Instant::from_nanos(4_609_375_000)));
    // A second Startup is a no-op.
    assert!(r.handle(ms(1_001), Input::Startup).is_empty());
}

#[test]
fn startup_owner_goes_master_at_once() {
    let mut r = Router::new(cfg(255)).unwrap();
    let actions = r.handle(ms(0), Input::Startup);
    assert_eq!(r.state(), State::Master);
    assert_eq!(reason(&actions), Some(Reason::Owner));
    assert_eq!(
        actions[1..],
        [
            Action::AddVips { accept: true },
            Action::AddRoutes,
            Action::SendAdvert {
                priority: 255,
                interval_cs: 100
            },
            Action::Announce,
            hook(State::Master, State::Initialize, Reason::Owner),
        ]
    );
    assert_eq!(r.next_deadline(), Some(ms(1_000)));
}

// ---- §6.4.2 Backup ------------------------------------------------------------------

#[test]
fn backup_master_down_timer_fires_and_becomes_master() {
    let mut r = backup(cfg(100));
    assert!(
        r.handle(ms(3_609), Input::Timer).is_empty(),
        "early timer is a no-op"
    );
    let actions = r.handle(Instant::from_nanos(3_609_375_000), Input::Timer);
    assert_eq!(r.state(), State::Master);
    assert_eq!(reason(&actions), Some(Reason::MasterDownTimerExpired));
    assert!(actions.contains(&Action::SendAdvert {
        priority: 100,
        interval_cs: 100
    }));
    assert!(
        actions.contains(&Action::AddVips { accept: false }),
        "accept mode off by default"
    );
    assert!(actions.contains(&Action::Announce));
    assert!(!r.accepts_vip_traffic());
    // The first advert went out at once; the next is on the 1 s grid.
    assert_eq!(r.next_deadline(), Some(ms(4_000)));
}

#[test]
fn backup_restarts_master_down_timer_from_kernel_receive_time() {
    let mut r = backup(cfg(100));
    // Received by the kernel at 2.000 s, handled by userspace at 2.050 s.
    let actions = r.handle(ms(2_050), advert(9, 200, 100, ms(2_000)));
    assert!(actions.is_empty());
    assert_eq!(r.next_deadline(), Some(Instant::from_nanos(5_609_375_000)));
    assert_eq!(r.followed_master(), Some((ip(9), 200)));
    // A receive time from the future (clock skew) is clamped to now.
    r.handle(ms(3_000), advert(9, 200, 100, ms(3_500)));
    assert_eq!(r.next_deadline(), Some(Instant::from_nanos(6_609_375_000)));
}

#[test]
fn backup_adopts_master_advert_interval_v3() {
    let mut r = backup(cfg(100));
    r.handle(ms(1_000), advert(9, 200, 50, ms(1_000)));
    assert_eq!(r.master_adver_interval_cs(), 50);
    // 3 * 0.5 s + 156/256 * 0.5 s = 1.8046875 s.
    assert_eq!(
        r.master_down_interval(),
        Duration::from_nanos(1_804_687_500)
    );
    assert_eq!(r.next_deadline(), Some(Instant::from_nanos(2_804_687_500)));
    // Once master it advertises its own interval again.
    r.handle(r.next_deadline().unwrap(), Input::Timer);
    assert_eq!(r.master_adver_interval_cs(), 100);
}

#[test]
fn backup_v2_keeps_own_interval_and_drops_mismatched() {
    let mut c = cfg(100);
    c.version = Version::V2;
    c.advert_interval_cs = 200;
    let mut r = backup(c);
    let v2 = |prio: u8, cs: u16, rx: Instant| {
        Input::Advert(ReceivedAdvert {
            src: ip(9),
            version: Version::V2,
            vrid: 1,
            priority: prio,
            max_adver_int_cs: cs,
            addrs: vec![VIP],
            rx_time: rx,
        })
    };
    assert_eq!(
        r.handle(ms(100), v2(200, 100, ms(100))),
        [Action::Ignored(IgnoreReason::IntervalMismatch)]
    );
    assert!(r.handle(ms(1_000), v2(200, 200, ms(1_000))).is_empty());
    // 3 * 2 s + 156/256 s.
    assert_eq!(r.next_deadline(), Some(Instant::from_nanos(7_609_375_000)));
}

#[test]
fn backup_priority_zero_waits_only_skew_time() {
    let mut r = backup(cfg(100));
    r.handle(ms(1_000), advert(9, 200, 100, ms(1_000)));
    r.handle(ms(2_000), advert(9, 0, 100, ms(2_000)));
    assert_eq!(r.next_deadline(), Some(Instant::from_nanos(2_609_375_000)));
    let actions = r.handle(Instant::from_nanos(2_609_375_000), Input::Timer);
    assert_eq!(reason(&actions), Some(Reason::PriorityZeroReceived));
    let Some(Action::Transition(t)) = actions.first() else {
        panic!("no transition")
    };
    assert_eq!(t.last_advert, Some(ms(2_000)));
    assert_eq!(
        t.at.saturating_since(t.last_advert.unwrap()),
        Duration::from_nanos(609_375_000)
    );
}

#[test]
fn backup_without_preempt_accepts_lower_priority_master() {
    let mut c = cfg(100);
    c.preempt = false;
    let mut r = backup(c);
    r.handle(ms(1_000), advert(9, 50, 100, ms(1_000)));
    assert_eq!(r.next_deadline(), Some(Instant::from_nanos(4_609_375_000)));
    for s in 2..10 {
        r.handle(ms(s * 1_000), advert(9, 50, 100, ms(s * 1_000)));
        r.handle(ms(s * 1_000), Input::Timer);
    }
    assert_eq!(r.state(), State::Backup);
}

#[test]
fn backup_with_preempt_takes_over_from_lower_master_after_skew() {
    let mut r = backup(cfg(100));
    r.handle(ms(1_000), advert(9, 50, 100, ms(1_000)));
    // RFC: discard. Ours: the followed master is outranked; wait Skew_Time only.
    assert_eq!(r.next_deadline(), Some(Instant::from_nanos(1_609_375_000)));
    // Its next advert does not push the deadline back.
    r.handle(ms(1_500), advert(9, 50, 100, ms(1_500)));
    assert_eq!(r.next_deadline(), Some(Instant::from_nanos(1_609_375_000)));
    let actions = r.handle(Instant::from_nanos(1_609_375_000), Input::Timer);
    assert_eq!(reason(&actions), Some(Reason::Preempted));
}

#[test]
fn backup_ignores_lower_advert_from_a_master_it_does_not_follow() {
    let mut r = backup(cfg(100));
    r.handle(ms(1_000), advert(9, 200, 100, ms(1_000)));
    // A second, lower master (e.g. across a healing partition) is only discarded.
    r.handle(ms(1_100), advert(7, 50, 100, ms(1_100)));
    assert_eq!(r.next_deadline(), Some(Instant::from_nanos(4_609_375_000)));
    assert_eq!(r.followed_master(), Some((ip(9), 200)));
}

#[test]
fn backup_equal_priority_accepts_even_from_lower_address() {
    // The address tie-break is for masters only (§6.4.3); a backup with equal priority
    // accepts the advert (§6.4.2 ">=") and does not preempt.
    let mut r = backup(cfg(100));
    r.handle(ms(1_000), advert(2, 100, 100, ms(1_000)));
    assert_eq!(r.next_deadline(), Some(Instant::from_nanos(4_609_375_000)));
}

#[test]
fn preempt_delay_holds_preemption_after_startup() {
    let mut c = cfg(100);
    c.preempt_delay = Duration::from_secs(5);
    let mut r = backup(c);
    r.handle(ms(1_000), advert(9, 50, 100, ms(1_000)));
    assert_eq!(
        r.next_deadline(),
        Some(Instant::from_nanos(4_609_375_000)),
        "accepted like preempt off"
    );
    r.handle(ms(4_000), advert(9, 50, 100, ms(4_000)));
    assert_eq!(r.next_deadline(), Some(Instant::from_nanos(7_609_375_000)));
    r.handle(ms(5_000), advert(9, 50, 100, ms(5_000)));
    assert_eq!(
        r.next_deadline(),
        Some(Instant::from_nanos(5_609_375_000)),
        "delay over: preempt"
    );
}

#[test]
fn preempt_delay_holds_a_silent_start_until_the_delay_ends() {
    // Extension: after (re)start, hearing nobody within Master_Down_Interval does not
    // make us master before the preempt delay is over; our link may not reach the
    // network yet.
    let mut c = cfg(100);
    c.preempt_delay = Duration::from_secs(5);
    let mut r = backup(c);
    assert!(
        r.handle(ms(3_610), Input::Timer).is_empty(),
        "still waiting"
    );
    assert_eq!(r.state(), State::Backup);
    assert_eq!(r.next_deadline(), Some(ms(5_000)));
    // A master shows up within the delay: we follow it (lower priority: accepted).
    r.handle(ms(4_000), advert(9, 50, 100, ms(4_000)));
    assert_eq!(r.state(), State::Backup);
    assert_eq!(r.next_deadline(), Some(Instant::from_nanos(7_609_375_000)));

    // Nobody at all: master when the delay ends, not before.
    let mut c = cfg(100);
    c.preempt_delay = Duration::from_secs(5);
    let mut r = backup(c);
    r.handle(ms(3_610), Input::Timer);
    let actions = r.handle(ms(5_000), Input::Timer);
    assert_eq!(reason(&actions), Some(Reason::MasterDownTimerExpired));
    assert_eq!(r.state(), State::Master);
}

#[test]
fn preempt_delay_does_not_delay_a_real_master_failure() {
    let mut c = cfg(100);
    c.preempt_delay = Duration::from_secs(60);
    let mut r = backup(c);
    r.handle(ms(1_000), advert(9, 200, 100, ms(1_000)));
    // The master we followed falls silent: take over after Master_Down_Interval.
    let down = r.next_deadline().unwrap();
    let actions = r.handle(down, Input::Timer);
    assert_eq!(reason(&actions), Some(Reason::MasterDownTimerExpired));
}

#[test]
fn shutdown_from_backup_goes_initialize_silently() {
    let mut r = backup(cfg(100));
    let actions = r.handle(ms(10), Input::Shutdown);
    assert_eq!(reason(&actions), Some(Reason::Shutdown));
    assert_eq!(
        actions[1..],
        [hook(State::Initialize, State::Backup, Reason::Shutdown)]
    );
    assert_eq!(r.next_deadline(), None);
    assert!(
        r.handle(ms(20), advert(9, 50, 100, ms(20))).is_empty(),
        "adverts ignored in Initialize"
    );
}

// ---- §6.4.3 Master ------------------------------------------------------------------

#[test]
fn master_adver_timer_sends_and_rearms() {
    let (mut r, at) = master(cfg(100));
    // Master at 3.609375 s: the next advert on the interval's grid, at 4 s.
    let next = ms(4_000);
    assert_eq!(r.next_deadline(), Some(next));
    assert!(at < next && next <= at + Duration::from_secs(1));
    assert!(
        r.handle(next - Duration::from_nanos(1), Input::Timer)
            .is_empty()
    );
    let actions = r.handle(next, Input::Timer);
    assert_eq!(
        actions,
        [Action::SendAdvert {
            priority: 100,
            interval_cs: 100
        }]
    );
    assert_eq!(r.next_deadline(), Some(next + Duration::from_secs(1)));
}

/// Phase alignment: masters with equal intervals fire at the same instants whatever
/// their phase, a late wake does not delay the next advert, and no gap between two
/// adverts is ever longer than the interval (what a backup's Master_Down_Interval
/// counts on).
#[test]
fn masters_with_equal_intervals_share_the_grid() {
    let mut c1 = cfg(100);
    c1.advert_interval_cs = 1; // 10 ms
    let mut c2 = c1.clone();
    c2.vrid = 2;
    c2.priority = 150;
    let (mut a, at_a) = master(c1);
    let (mut b, at_b) = master(c2);
    assert_ne!(
        at_a, at_b,
        "different skew: they became master at different times"
    );
    assert_eq!(a.next_deadline(), b.next_deadline());
    let mut sent = [vec![at_a], vec![at_b]];
    for (i, r) in [&mut a, &mut b].into_iter().enumerate() {
        for _ in 0..20 {
            let due = r.next_deadline().unwrap();
            // Handled up to 3 ms late.
            let now = due + Duration::from_micros(u64::from(due.as_nanos() as u32 % 3_000));
            let actions = r.handle(now, Input::Timer);
            assert!(matches!(actions[..], [Action::SendAdvert { .. }]));
            sent[i].push(now);
            assert!(
                r.next_deadline()
                    .unwrap()
                    .as_nanos()
                    .is_multiple_of(10_000_000)
            );
            assert!(r.next_deadline().unwrap() > now);
        }
    }
    for times in &sent {
        for w in times.windows(2) {
            assert!(
                w[1].saturating_since(w[0]) <= Duration::from_millis(10) + Duration::from_millis(3),
                "gap {} -> {}",
                w[0],
                w[1]
            );
        }
    }
    assert_eq!(a.next_deadline(), b.next_deadline());
    // A 100 ms master shares every tenth wake of the 10 ms ones.
    let mut c3 = cfg(100);
    c3.vrid = 3;
    c3.advert_interval_cs = 10;
    let (c, _) = master(c3);
    assert!(
        c.next_deadline()
            .unwrap()
            .as_nanos()
            .is_multiple_of(100_000_000)
    );
}

/// The quarter-interval limit on answering a lower master counts from our last
/// advert, which on the grid is not one interval before the timer.
#[test]
fn master_answers_lower_priority_at_most_once_a_quarter_interval() {
    let (mut r, _) = master(cfg(100));
    // An advert answered at 4.95 s; the timer is still at 5 s.
    r.handle(ms(4_000), Input::Timer);
    assert_eq!(r.handle(ms(4_950), advert(9, 99, 100, ms(4_950))).len(), 1);
    assert_eq!(r.next_deadline(), Some(ms(5_000)));
    // 5 s: the grid's advert.
    assert_eq!(r.handle(ms(5_000), Input::Timer).len(), 1);
    // Under a quarter second since: not answered again.
    assert!(
        r.handle(ms(5_100), advert(9, 99, 100, ms(5_100)))
            .is_empty()
    );
    assert_eq!(r.handle(ms(5_250), advert(9, 99, 100, ms(5_250))).len(), 1);
}

#[test]
fn master_steps_down_for_higher_priority_and_adopts_interval() {
    let (mut r, _) = master(cfg(100));
    let actions = r.handle(ms(4_000), advert(9, 150, 200, ms(4_000)));
    assert_eq!(r.state(), State::Backup);
    assert_eq!(reason(&actions), Some(Reason::HigherPriorityAdvert));
    assert_eq!(
        actions[1..],
        [
            Action::RemoveRoutes,
            Action::RemoveVips,
            hook(State::Backup, State::Master, Reason::HigherPriorityAdvert)
        ]
    );
    // 3 * 2 s + 156/256 * 2 s = 7.21875 s after the advert.
    assert_eq!(r.next_deadline(), Some(Instant::from_nanos(11_218_750_000)));
}

#[test]
fn master_tie_break_on_primary_address() {
    // We are 10.0.0.5. Equal priority from 10.0.0.9 (higher): step down.
    let (mut r, _) = master(cfg(100));
    let actions = r.handle(ms(4_000), advert(9, 100, 100, ms(4_000)));
    assert_eq!(reason(&actions), Some(Reason::HigherAddressAdvert));
    assert_eq!(r.state(), State::Backup);
    // Equal priority from 10.0.0.2 (lower): stay, and re-assert at once.
    let (mut r, _) = master(cfg(100));
    let actions = r.handle(ms(4_000), advert(2, 100, 100, ms(4_000)));
    assert_eq!(r.state(), State::Master);
    assert_eq!(
        actions,
        [Action::SendAdvert {
            priority: 100,
            interval_cs: 100
        }]
    );
}

#[test]
fn master_answers_lower_priority_advert_at_once() {
    let (mut r, _) = master(cfg(100));
    let actions = r.handle(ms(4_000), advert(9, 99, 100, ms(4_000)));
    assert_eq!(r.state(), State::Master);
    assert_eq!(
        actions,
        [Action::SendAdvert {
            priority: 100,
            interval_cs: 100
        }]
    );
    assert_eq!(r.next_deadline(), Some(ms(5_000)), "Adver_Timer reset");
}

#[test]
fn master_answers_priority_zero_with_advert() {
    let (mut r, _) = master(cfg(100));
    let actions = r.handle(ms(4_200), advert(9, 0, 100, ms(4_200)));
    assert_eq!(r.state(), State::Master);
    assert_eq!(
        actions,
        [Action::SendAdvert {
            priority: 100,
            interval_cs: 100
        }]
    );
    // Answered off the grid; the timer stays on it.
    assert_eq!(r.next_deadline(), Some(ms(5_000)));
}

#[test]
fn master_shutdown_sends_priority_zero() {
    let (mut r, _) = master(cfg(100));
    let actions = r.handle(ms(5_000), Input::Shutdown);
    assert_eq!(r.state(), State::Initialize);
    assert_eq!(reason(&actions), Some(Reason::Shutdown));
    assert_eq!(
        actions[1..],
        [
            Action::SendAdvert {
                priority: 0,
                interval_cs: 100
            },
            Action::RemoveRoutes,
            Action::RemoveVips,
            hook(State::Initialize, State::Master, Reason::Shutdown),
        ]
    );
    assert_eq!(r.next_deadline(), None);
    // Restart goes through §6.4.1 again.
    r.handle(ms(6_000), Input::Startup);
    assert_eq!(r.state(), State::Backup);
}

#[test]
fn owner_steps_down_only_for_another_owner_with_higher_address() {
    let mut r = Router::new(cfg(255)).unwrap();
    r.handle(ms(0), Input::Startup);
    r.handle(ms(100), advert(9, 254, 100, ms(100)));
    assert_eq!(r.state(), State::Master);
    r.handle(ms(200), advert(9, 255, 100, ms(200)));
    assert_eq!(r.state(), State::Backup);
}

#[test]
fn accept_mode_flag() {
    let mut c = cfg(100);
    c.accept_mode = true;
    let mut r = backup(c);
    assert!(!r.accepts_vip_traffic());
    let actions = r.handle(r.next_deadline().unwrap(), Input::Timer);
    assert!(actions.contains(&Action::AddVips { accept: true }));
    assert!(r.accepts_vip_traffic());
}

// ---- Receiver checks (§7.1) -----------------------------------------------------------

#[test]
fn adverts_failing_config_checks_are_ignored() {
    let mut r = backup(cfg(100));
    let base = ReceivedAdvert {
        src: ip(9),
        version: Version::V3,
        vrid: 1,
        priority: 200,
        max_adver_int_cs: 100,
        addrs: vec![VIP],
        rx_time: ms(100),
    };
    let cases = [
        (
            ReceivedAdvert {
                vrid: 2,
                ..base.clone()
            },
            IgnoreReason::Vrid,
        ),
        (
            ReceivedAdvert {
                version: Version::V2,
                ..base.clone()
            },
            IgnoreReason::Version,
        ),
        (
            ReceivedAdvert {
                src: ip(5),
                ..base.clone()
            },
            IgnoreReason::OwnAdvert,
        ),
        (
            ReceivedAdvert {
                max_adver_int_cs: 0,
                ..base.clone()
            },
            IgnoreReason::ZeroInterval,
        ),
        (
            ReceivedAdvert {
                addrs: vec![ip(77)],
                ..base.clone()
            },
            IgnoreReason::VipMismatch,
        ),
    ];
    for (adv, why) in cases {
        assert_eq!(
            r.handle(ms(100), Input::Advert(adv)),
            [Action::Ignored(why)]
        );
        assert_eq!(r.followed_master(), None);
    }
    // The owner's advert is processed even with a different list.
    let owner = ReceivedAdvert {
        priority: 255,
        addrs: vec![ip(77)],
        ..base
    };
    assert!(r.handle(ms(100), Input::Advert(owner)).is_empty());
    assert_eq!(r.followed_master(), Some((ip(9), 255)));
}

// ---- Tracking and effective priority ------------------------------------------------

fn track(object: &str, up: bool, weight: TrackWeight) -> Input {
    Input::Track(TrackUpdate {
        object: object.to_string(),
        up,
        weight,
    })
}

#[test]
fn effective_priority_follows_weights_and_clamps() {
    let mut r = Router::new(cfg(100)).unwrap();
    r.handle(ms(0), track("up-bonus", true, TrackWeight::Delta(10)));
    assert_eq!(r.effective_priority(), 110);
    r.handle(ms(0), track("down-penalty", false, TrackWeight::Delta(-30)));
    assert_eq!(r.effective_priority(), 80);
    r.handle(ms(0), track("up-bonus", false, TrackWeight::Delta(10)));
    r.handle(ms(0), track("down-penalty", true, TrackWeight::Delta(-30)));
    assert_eq!(
        r.effective_priority(),
        100,
        "a positive weight counts only up, a negative only down"
    );
    r.handle(ms(0), track("huge", true, TrackWeight::Delta(500)));
    assert_eq!(r.effective_priority(), 254, "never reaches the owner's 255");
    r.handle(ms(0), track("huge", false, TrackWeight::Delta(-500)));
    assert_eq!(
        r.effective_priority(),
        1,
        "never reaches the leaving master's 0"
    );
    let mut owner = Router::new(cfg(255)).unwrap();
    owner.handle(ms(0), track("x", false, TrackWeight::Delta(-50)));
    assert_eq!(owner.effective_priority(), 255);
}

#[test]
fn master_whose_priority_drops_advertises_at_once() {
    let (mut r, at) = master(cfg(100));
    let now = at + Duration::from_millis(300);
    let actions = r.handle(now, track("uplink", false, TrackWeight::Delta(-60)));
    assert_eq!(
        actions,
        [Action::SendAdvert {
            priority: 40,
            interval_cs: 100
        }]
    );
    assert_eq!(r.next_deadline(), Some(ms(4_000)));
    assert_eq!(r.state(), State::Master);
    // Unchanged effective priority: nothing to say.
    assert!(
        r.handle(now, track("uplink", false, TrackWeight::Delta(-60)))
            .is_empty()
    );
}

#[test]
fn backup_whose_priority_rises_above_master_preempts_after_skew() {
    let mut r = backup(cfg(100));
    r.handle(ms(1_000), advert(9, 120, 100, ms(1_000)));
    r.handle(ms(1_200), track("bonus", true, TrackWeight::Delta(50)));
    // Priority 150: skew = 106/256 s = 414.0625 ms from now.
    assert_eq!(r.next_deadline(), Some(Instant::from_nanos(1_614_062_500)));
    // Falls back before firing: the normal timer from the last advert returns.
    r.handle(ms(1_300), track("bonus", false, TrackWeight::Delta(50)));
    assert_eq!(r.next_deadline(), Some(Instant::from_nanos(4_609_375_000)));
    r.handle(ms(1_400), track("bonus", true, TrackWeight::Delta(50)));
    let at = r.next_deadline().unwrap();
    assert_eq!(at, Instant::from_nanos(1_814_062_500));
    assert_eq!(reason(&r.handle(at, Input::Timer)), Some(Reason::Preempted));
}

#[test]
fn set_priority_reconfigures_live() {
    let (mut r, at) = master(cfg(100));
    let actions = r.handle(at, Input::SetPriority(90));
    assert_eq!(
        actions,
        [Action::SendAdvert {
            priority: 90,
            interval_cs: 100
        }]
    );
    assert_eq!(r.effective_priority(), 90);
    assert!(
        r.handle(at, Input::SetPriority(0)).is_empty(),
        "0 is not a configurable priority"
    );
}

// ---- Fault --------------------------------------------------------------------------

#[test]
fn tracked_fault_moves_master_to_fault_with_goodbye() {
    let (mut r, at) = master(cfg(100));
    let actions = r.handle(at, track("chk_bird", false, TrackWeight::Fault));
    assert_eq!(r.state(), State::Fault);
    assert_eq!(
        reason(&actions),
        Some(Reason::TrackFailed {
            object: "chk_bird".into()
        })
    );
    assert_eq!(
        actions[1..],
        [
            Action::SendAdvert {
                priority: 0,
                interval_cs: 100
            },
            Action::RemoveRoutes,
            Action::RemoveVips,
            hook(
                State::Fault,
                State::Master,
                Reason::TrackFailed {
                    object: "chk_bird".into()
                }
            ),
        ]
    );
    assert_eq!(r.next_deadline(), None);
    assert!(
        r.handle(at, advert(9, 50, 100, at)).is_empty(),
        "adverts ignored in Fault"
    );
    let later = at + Duration::from_secs(2);
    let actions = r.handle(later, track("chk_bird", true, TrackWeight::Fault));
    assert_eq!(
        reason(&actions),
        Some(Reason::TrackRecovered {
            object: "chk_bird".into()
        })
    );
    assert_eq!(r.state(), State::Backup);
    assert_eq!(
        r.next_deadline(),
        Some(later + Duration::from_nanos(3_609_375_000))
    );
}

#[test]
fn link_down_master_goes_fault_without_advert() {
    let (mut r, at) = master(cfg(100));
    let actions = r.handle(at, Input::LinkDown);
    assert_eq!(reason(&actions), Some(Reason::LinkDown));
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::SendAdvert { .. }))
    );
    assert!(actions.contains(&Action::RemoveVips));
    let actions = r.handle(at, Input::LinkUp);
    assert_eq!(reason(&actions), Some(Reason::LinkUp));
    assert_eq!(r.state(), State::Backup);
}

#[test]
fn fault_needs_every_cause_cleared() {
    let mut r = backup(cfg(100));
    r.handle(ms(1), Input::LinkDown);
    r.handle(ms(2), track("t", false, TrackWeight::Fault));
    assert!(r.handle(ms(3), Input::LinkUp).is_empty());
    assert_eq!(r.state(), State::Fault);
    r.handle(ms(4), track("t", true, TrackWeight::Fault));
    assert_eq!(r.state(), State::Backup);
}

#[test]
fn startup_with_link_down_goes_fault_and_owner_recovers_to_master() {
    let mut r = Router::new(cfg(255)).unwrap();
    r.handle(ms(0), Input::LinkDown);
    let actions = r.handle(ms(1), Input::Startup);
    assert_eq!(reason(&actions), Some(Reason::LinkDown));
    assert_eq!(r.state(), State::Fault);
    let actions = r.handle(ms(2), Input::LinkUp);
    assert_eq!(reason(&actions), Some(Reason::LinkUp));
    assert_eq!(r.state(), State::Master);
    // Shutdown from Fault.
    r.handle(ms(3), Input::LinkDown);
    assert_eq!(
        reason(&r.handle(ms(4), Input::Shutdown)),
        Some(Reason::Shutdown)
    );
    assert_eq!(r.state(), State::Initialize);
}

#[test]
fn transition_carries_detection_time() {
    let mut r = backup(cfg(100));
    r.handle(ms(1_000), advert(9, 200, 100, ms(1_000)));
    let at = r.next_deadline().unwrap();
    let actions = r.handle(at, Input::Timer);
    let Some(Action::Transition(t)) = actions.first() else {
        panic!("no transition")
    };
    assert_eq!(
        (t.from, t.to, t.priority),
        (State::Backup, State::Master, 100)
    );
    assert_eq!(
        t.at.saturating_since(t.last_advert.unwrap()),
        Duration::from_nanos(3_609_375_000)
    );
}

// ---- Reconfiguration in place (reload; not in the RFC) ------------------------------

#[test]
fn reconfigure_priority_on_a_master_advertises_at_once_without_a_transition() {
    let (mut r, at) = master(cfg(100));
    let now = at + Duration::from_millis(300);
    let actions = r.handle(now, Input::Reconfigure(cfg(150)));
    assert_eq!(
        actions,
        [Action::SendAdvert {
            priority: 150,
            interval_cs: 100
        }]
    );
    assert_eq!(r.state(), State::Master);
    assert_eq!(r.next_deadline(), Some(ms(4_000)));
}

#[test]
fn reconfigure_with_nothing_changed_does_nothing() {
    let (mut r, at) = master(cfg(100));
    let before = r.next_deadline();
    assert!(r.handle(at, Input::Reconfigure(cfg(100))).is_empty());
    assert_eq!(r.next_deadline(), before);
}

#[test]
fn reconfigure_keeps_the_identity_of_the_running_router() {
    let (mut r, at) = master(cfg(100));
    let mut other = cfg(100);
    other.vrid = 9;
    other.primary_addr = ip(77);
    other.version = Version::V2;
    r.handle(at, Input::Reconfigure(other));
    assert_eq!(
        (r.config().vrid, r.config().primary_addr, r.config().version),
        (1, ip(5), Version::V3)
    );
}

#[test]
fn reconfigure_accept_mode_on_a_master_switches_it_in_place() {
    let (mut r, at) = master(cfg(100)); // Config::new: accept mode off
    assert!(!r.accepts_vip_traffic());
    let mut on = cfg(100);
    on.accept_mode = true;
    assert_eq!(
        r.handle(at, Input::Reconfigure(on)),
        [Action::SetAccept(true)]
    );
    assert!(r.accepts_vip_traffic());
}

#[test]
fn reconfigure_addresses_and_interval_readvertise_once() {
    let (mut r, at) = master(cfg(100));
    let mut new = cfg(100);
    new.vips.push(IpAddr::V4(Ipv4Addr::new(10, 9, 9, 2)));
    new.advert_interval_cs = 50;
    let actions = r.handle(at, Input::Reconfigure(new));
    assert_eq!(
        actions,
        [Action::SendAdvert {
            priority: 100,
            interval_cs: 50
        }]
    );
    // 3.609375 s: the next point of the new 500 ms grid.
    assert_eq!(r.next_deadline(), Some(ms(4_000)));
}

#[test]
fn reconfigure_preempt_off_cancels_a_pending_fast_preemption() {
    let mut r = backup(cfg(200));
    // A lower master: we outrank it and arm Skew_Time.
    r.handle(ms(100), advert(9, 100, 100, ms(100)));
    assert_eq!(
        r.next_deadline(),
        Some(ms(100) + skew_time(Version::V3, 200, 100))
    );
    let mut off = cfg(200);
    off.preempt = false;
    assert!(r.handle(ms(110), Input::Reconfigure(off)).is_empty());
    // Back to Master_Down_Interval from the last advert.
    assert_eq!(
        r.next_deadline(),
        Some(ms(100) + master_down_interval(Version::V3, 200, 100))
    );
    assert_eq!(r.state(), State::Backup);
}

#[test]
fn untrack_withdraws_a_tracked_objects_effect() {
    let (mut r, at) = master(cfg(100));
    r.handle(
        at,
        Input::Track(TrackUpdate {
            object: "iface:eth1".into(),
            up: false,
            weight: TrackWeight::Delta(-30),
        }),
    );
    assert_eq!(r.effective_priority(), 70);
    let actions = r.handle(at, Input::Untrack("iface:eth1".into()));
    assert_eq!(r.effective_priority(), 100);
    assert_eq!(
        actions,
        [Action::SendAdvert {
            priority: 100,
            interval_cs: 100
        }]
    );
    assert!(r.handle(at, Input::Untrack("iface:eth1".into())).is_empty());
}

//! Sync groups: members enter Master, Backup and Fault together.

use std::net::{IpAddr, Ipv4Addr};

use vrrp_core::router::{
    Action, Config, Input, Reason, ReceivedAdvert, Router, State, SyncGroup, Version,
};
use vrrp_core::time::Instant;

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

/// Member `vrid` of a group on host 10.0.0.5, one VIP per VRID.
fn member(vrid: u8, priority: u8) -> Router {
    let mut c = Config::new(vrid, priority, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)));
    c.vips = vec![IpAddr::V4(Ipv4Addr::new(10, 1, vrid, 1))];
    Router::new(c).unwrap()
}

fn group(n: u8) -> SyncGroup {
    let mut g = SyncGroup::new((1..=n).map(|v| member(v, 100)).collect());
    for i in 0..usize::from(n) {
        g.handle(ms(0), i, Input::Startup);
    }
    g
}

fn states(g: &SyncGroup) -> Vec<State> {
    g.members().iter().map(Router::state).collect()
}

fn transitions(actions: &[(usize, Action)]) -> Vec<(usize, State, Reason)> {
    actions
        .iter()
        .filter_map(|(i, a)| match a {
            Action::Transition(t) => Some((*i, t.to, t.reason.clone())),
            _ => None,
        })
        .collect()
}

fn higher_advert(vrid: u8, at: Instant) -> Input {
    Input::Advert(ReceivedAdvert {
        src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)),
        version: Version::V3,
        vrid,
        priority: 200,
        max_adver_int_cs: 100,
        addrs: vec![IpAddr::V4(Ipv4Addr::new(10, 1, vrid, 1))],
        rx_time: at,
    })
}

#[test]
fn one_member_becoming_master_pulls_the_others() {
    let mut g = group(3);
    assert_eq!(states(&g), [State::Backup; 3]);
    // Member 1 hears nothing for its Master_Down_Interval: it goes first.
    let at = g.next_deadline().unwrap();
    let actions = g.handle(at, 1, Input::Timer);
    assert_eq!(states(&g), [State::Master; 3]);
    assert_eq!(
        transitions(&actions),
        [
            (1, State::Master, Reason::MasterDownTimerExpired),
            (0, State::Master, Reason::SyncGroup { member: 1 }),
            (2, State::Master, Reason::SyncGroup { member: 1 }),
        ]
    );
    // Every member advertises and installs its VIPs.
    for i in 0..3 {
        assert!(actions.contains(&(i, Action::AddVips { accept: false })));
    }
}

#[test]
fn one_master_stepping_down_pushes_the_others_to_backup() {
    let mut g = group(2);
    let at = g.next_deadline().unwrap();
    g.on_timer(at);
    assert_eq!(states(&g), [State::Master; 2]);
    let later = at + std::time::Duration::from_millis(500);
    let actions = g.handle(later, 0, higher_advert(1, later));
    assert_eq!(
        transitions(&actions),
        [
            (0, State::Backup, Reason::HigherPriorityAdvert),
            (1, State::Backup, Reason::SyncGroup { member: 0 })
        ]
    );
    assert!(actions.contains(&(1, Action::RemoveVips)));
}

#[test]
fn a_fault_holds_every_member_until_it_clears() {
    let mut g = group(3);
    let at = g.next_deadline().unwrap();
    g.on_timer(at);
    assert_eq!(states(&g), [State::Master; 3]);
    let actions = g.handle(at, 2, Input::LinkDown);
    assert_eq!(states(&g), [State::Fault; 3]);
    assert_eq!(
        transitions(&actions),
        [
            (2, State::Fault, Reason::LinkDown),
            (0, State::Fault, Reason::SyncGroup { member: 2 }),
            (1, State::Fault, Reason::SyncGroup { member: 2 }),
        ]
    );
    // Members with a link still up say goodbye so the peers take over fast.
    assert!(actions.contains(&(
        0,
        Action::SendAdvert {
            priority: 0,
            interval_cs: 100
        }
    )));
    assert!(!actions.contains(&(
        2,
        Action::SendAdvert {
            priority: 0,
            interval_cs: 100
        }
    )));
    // A second own fault (member 0) keeps the group down when member 2 recovers.
    g.handle(at, 0, Input::LinkDown);
    g.handle(at, 2, Input::LinkUp);
    assert_eq!(states(&g), [State::Fault; 3]);
    let actions = g.handle(at, 0, Input::LinkUp);
    assert_eq!(states(&g), [State::Backup; 3]);
    assert_eq!(transitions(&actions).len(), 3);
}

#[test]
fn forced_members_are_not_relayed_back() {
    let mut g = group(2);
    let at = g.next_deadline().unwrap();
    let actions = g.handle(at, 0, Input::Timer);
    // Exactly two transitions: the cause and the one forced member, no echo.
    assert_eq!(transitions(&actions).len(), 2);
}

#[test]
fn late_starter_joins_a_master_group() {
    // A member in Initialize is not dragged into service...
    let mut g = SyncGroup::new(vec![member(1, 100), member(2, 100)]);
    g.handle(ms(0), 0, Input::Startup);
    let at = g.next_deadline().unwrap();
    g.on_timer(at);
    assert_eq!(states(&g), [State::Master, State::Initialize]);
    // ...but when it starts, it goes straight on to Master with the group.
    let actions = g.handle(at, 1, Input::Startup);
    assert_eq!(
        transitions(&actions),
        [
            (1, State::Backup, Reason::Startup),
            (1, State::Master, Reason::SyncGroup { member: 0 })
        ]
    );
}

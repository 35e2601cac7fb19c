//! The failure lab with real routing daemons: the router must learn the VIP from
//! whichever node holds it, and a client must follow when it moves.
//!
//! Each recipe: build the lab with the VIP on A, check the client reaches the VIP on
//! A, move the VIP to B by hand while probing every millisecond, and check the
//! router's FIB and the probe follow within a generous bound. Prints the routing
//! convergence (median/max over several moves) and the client outage. The IPv6 VIP
//! runs the same checks on the recipe that carries it (BIRD BGP + BFD, dual stack).
//! Tests run one at a time so their timings do not disturb each other on a small CI
//! machine.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use vrrp_tests::lab::{
    Family, Lab, LinkEnd, Node, Recipe, RouteWatch, Scope, Stats, measure_moves, move_vip,
    probe::{responders, start_probe},
    run_probe,
};

/// Generous: a recipe slower than this is broken, not slow.
const BOUND: Duration = Duration::from_secs(5);
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn trials() -> usize {
    std::env::var("VRRP_LAB_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The whole check for one recipe and VIP family.
fn vip_follows_the_master(recipe: Recipe, family: Family) {
    let _serial = serial();
    let started = Instant::now();
    let lab = Lab::builder()
        .family(family)
        .routing(recipe)
        .vip_on(Node::A)
        .build()
        .unwrap();
    let _responders = responders(&lab).unwrap();
    let up = started.elapsed();
    let vip = family.vip();

    // Before the move every probe reaches A.
    let before = run_probe(&lab.client, vip, 100, Duration::from_millis(1)).unwrap();
    assert_eq!(
        before.served_by(Node::A),
        100,
        "client must reach the VIP on A: {}",
        before.summary()
    );

    // Move the VIP to B while the client probes every millisecond.
    let watch = RouteWatch::start(&lab).unwrap();
    let probe = start_probe(
        &lab.client,
        vip,
        2000,
        Duration::from_millis(1),
        Duration::from_millis(200),
    )
    .unwrap();
    // A served baseline before the move: A has answered the client.
    probe.wait_replies(200, Duration::from_secs(5)).unwrap();
    let moved = move_vip(&lab, &watch, Node::A, Node::B, BOUND).unwrap();
    // The probe must outlive convergence for the post-switch checks to mean something.
    let report = probe.wait().unwrap();
    watch.finish().unwrap();
    let outage = report
        .failover(Node::A, Node::B)
        .unwrap_or_else(|| panic!("B never answered: {}", report.summary()));
    assert!(outage.duration < BOUND, "client outage {outage:?}");
    assert_eq!(
        outage.lost_after, 0,
        "probes lost after B took over: {outage:?}"
    );
    assert_eq!(
        outage.old_after, 0,
        "A answered after B took over: {outage:?}"
    );
    assert!(
        report.answered_twice().is_empty(),
        "probes answered twice: {:?}",
        report.answered_twice()
    );
    let last_sent = report.probes.last().unwrap().sent_ns;
    assert!(
        moved.route_ns < last_sent,
        "converged after the probe ended; lengthen the probe"
    );

    // More moves, back and forth, for the numbers.
    let more = measure_moves(&lab, trials(), recipe.settle(), BOUND).unwrap();
    let all: Vec<_> = std::iter::once(moved).chain(more).collect();
    let routing = Stats::of(all.iter().map(|c| c.routing())).unwrap();
    let command = Stats::of(all.iter().map(|c| c.add_command())).unwrap();
    println!(
        "{recipe:?} {family}: lab up in {:.0} ms; routing convergence (ip addr add on B -> router FIB via B): {routing}; of which the ip command: median {:.1} ms",
        ms(up),
        ms(command.median)
    );
    println!(
        "{recipe:?} {family}: client outage {:.1} ms ({} probes lost at 1 ms, first B answer #{}); {}",
        ms(outage.duration),
        outage.lost,
        outage.first_new_seq,
        report.summary()
    );
    assert!(routing.max < BOUND);
}

#[test]
fn bird_ospf_vip_follows_the_master() {
    vip_follows_the_master(Recipe::BirdOspf, Family::V4);
}

#[test]
fn bird_bgp_bfd_vip_follows_the_master() {
    vip_follows_the_master(Recipe::BirdBgpBfd, Family::V4);
}

#[test]
fn bird_bgp_bfd_ipv6_vip_follows_the_master() {
    vip_follows_the_master(Recipe::BirdBgpBfd, Family::V6);
}

#[test]
fn frr_ospf_vip_follows_the_master() {
    vip_follows_the_master(Recipe::FrrOspf, Family::V4);
}

/// BFD is what makes BGP fast on node death: when A falls silent with its link still
/// up, the router must drop A's VIP route within BFD's detection time (10 ms x 3),
/// not BGP's 3 s hold time.
fn bfd_drops_a_silent_node(family: Family) {
    let _serial = serial();
    let lab = Lab::builder()
        .family(family)
        .routing(Recipe::BirdBgpBfd)
        .vip_on(Node::A)
        .build()
        .unwrap();
    let watch = RouteWatch::start(&lab).unwrap();
    let cut_ns = vrrp_tests::lab::monotonic_ns();
    lab.silence(Node::A).unwrap();
    let seen = watch.wait_for(None, cut_ns, BOUND).unwrap();
    watch.finish().unwrap();
    let took = Duration::from_nanos(seen.saturating_sub(cut_ns));
    println!(
        "BirdBgpBfd {family}: A silenced -> router drops its VIP route in {:.1} ms",
        ms(took)
    );
    assert!(
        took < Duration::from_millis(1500),
        "router kept a silent node's route for {took:?}: BFD did not act (hold time is 3 s)"
    );
}

#[test]
fn bird_bfd_drops_a_silent_node() {
    bfd_drops_a_silent_node(Family::V4);
}

/// BFD runs on the IPv6 sessions too.
#[test]
fn bird_bfd_drops_a_silent_node_ipv6() {
    bfd_drops_a_silent_node(Family::V6);
}

/// The failure knobs do what they say, without routing: partition and loss between
/// the node subnets, link cuts on either side, heal; in `family`'s traffic.
fn failures_cut(family: Family) {
    let _serial = serial();
    let lab = Lab::builder().family(family).build().unwrap();
    let _responders = responders(&lab).unwrap();
    // Round trips answered out of `count` UDP probes 2 ms apart.
    let ping = |from: &vrrp_tests::netns::Netns, to: Node, count: usize| -> usize {
        run_probe(from, to.addr_in(family), count, Duration::from_millis(2))
            .unwrap()
            .answered()
    };
    assert_eq!(
        ping(&lab.a, Node::B, 5),
        5,
        "A reaches B through the router"
    );
    assert_eq!(ping(&lab.client, Node::A, 5), 5, "client reaches A");

    lab.partition(Scope::All).unwrap();
    assert_eq!(ping(&lab.a, Node::B, 5), 0, "partition must cut A<->B");
    assert_eq!(ping(&lab.client, Node::B, 5), 5, "client still reaches B");
    lab.heal().unwrap();

    // VRRP-only partition: pings pass, protocol 112 is dropped (counted by nft).
    lab.partition(Scope::Vrrp).unwrap();
    assert_eq!(
        ping(&lab.a, Node::B, 5),
        5,
        "VRRP partition must not cut ICMP"
    );
    let rules = lab
        .router
        .exec(&["nft", "list", "chain", "inet", "lab", "forward"])
        .unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(rules.contains("112") || rules.contains("vrrp"), "{rules}");
    lab.heal().unwrap();

    lab.loss_between_nodes(50, Scope::All).unwrap();
    let got = ping(&lab.a, Node::B, 100);
    assert!(
        (5..=80).contains(&got),
        "50 % loss each way should leave about 25 of 100 round trips, got {got}"
    );
    lab.heal().unwrap();
    assert_eq!(ping(&lab.a, Node::B, 5), 5, "heal restores A<->B");

    lab.silence(Node::B).unwrap();
    assert_eq!(
        ping(&lab.client, Node::B, 5),
        0,
        "silence cuts B off the router"
    );
    assert_eq!(
        ping(&lab.client, Node::A, 5),
        5,
        "silence of B leaves A alone"
    );
    lab.heal().unwrap();
    assert_eq!(ping(&lab.client, Node::B, 5), 5, "heal ends the silence");

    lab.link_down(Node::B, LinkEnd::Router).unwrap();
    assert_eq!(
        ping(&lab.client, Node::B, 3),
        0,
        "router-side cut isolates B"
    );
    lab.link_up(Node::B, LinkEnd::Router).unwrap();
    lab.link_down(Node::A, LinkEnd::Node).unwrap();
    assert_eq!(ping(&lab.client, Node::A, 3), 0, "node-side cut isolates A");
    lab.link_up(Node::A, LinkEnd::Node).unwrap();
    // The router's neighbour entry for A went INCOMPLETE during the cut and is only
    // re-solicited on its 1 s retransmit timer: allow for that, then require recovery.
    let back = run_probe(
        &lab.client,
        Node::A.addr_in(family),
        200,
        Duration::from_millis(10),
    )
    .unwrap();
    assert!(
        back.probes
            .iter()
            .rev()
            .take(50)
            .all(|p| p.served_by() == Some(Node::A)),
        "link up must restore A within 1.5 s: {}",
        back.summary()
    );
}

#[test]
fn failures_cut_what_they_should() {
    failures_cut(Family::V4);
}

/// The same knobs cut IPv6, and a cut link comes back with its IPv6 address.
#[test]
fn failures_cut_what_they_should_ipv6() {
    failures_cut(Family::V6);
}

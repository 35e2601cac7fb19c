//! Tracked routes (`[[instance.track_route]]`): an instance that depends on a route
//! (the default route its routing daemon learned, the route to the peer's loopback)
//! loses priority or goes to FAULT while the route is missing, and gets it back only
//! once the route has stayed for `rise_ms`. A node whose uplink returns then waits
//! for its own routing adjacency instead of a guessed preempt delay.
//!
//! Event-driven: a task per instance listens to the kernel's route notifications
//! ([`RouteWatch`]); a change to a tracked prefix, a link or address change (the
//! kernel removes routes with an interface or an address without notifying them), or
//! lost notifications make it read the routes once and re-evaluate. Like the script and file trackers it sends
//! a [`TrackEvent`] when, and only when, a route's effect changes, the first known
//! state always; the first state applies at once, later returns wait out `rise`.
//!
//! The same task watches a routed instance's peers ([`TrackPeers`]): the instance is
//! in FAULT while the kernel routes none of them through one of its uplinks (asked
//! per peer with `RTM_GETROUTE`, so policy, ECMP and default routes count as they
//! would for an advert), not while one uplink is down.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use std::net::IpAddr;

use crate::config::{self, TrackPeers, TrackRoute};
use crate::datapath::xdp::ifindex;
use crate::netlink::{Netlink, NetlinkError, RouteEvent, RouteInfo, RouteWatch};
use crate::track::{self, TrackEvent};

/// How long to wait before opening a failed netlink socket again or re-reading
/// routes after a failed read.
const RETRY: Duration = Duration::from_secs(1);

/// What the routing table holds for one tracked route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// No unicast route to the prefix (in that table, of that protocol).
    Missing,
    /// The best matching route has this many usable next hops, fewer than needed.
    TooFewNexthops(u16),
    /// Present with this many usable next hops.
    Present(u16),
}

impl Presence {
    pub fn is_present(self) -> bool {
        matches!(self, Presence::Present(_))
    }
}

/// Whether `r` is a route `spec` tracks: a unicast route to exactly its prefix, in
/// its table, of its protocol if it names one.
pub fn matches(spec: &TrackRoute, r: &RouteInfo) -> bool {
    r.unicast
        && r.dst == spec.prefix
        && r.table == spec.table
        && spec.protocol.is_none_or(|p| p == r.proto)
}

/// What `routes` hold for `spec`. Any matching route counts (the one with the most
/// usable next hops), whether or not the kernel prefers it over another protocol's.
pub fn presence(spec: &TrackRoute, routes: &[RouteInfo]) -> Presence {
    let best = routes
        .iter()
        .filter(|r| matches(spec, r))
        .map(|r| r.nexthops)
        .max();
    match best {
        None | Some(0) => Presence::Missing,
        Some(n) if n < spec.min_nexthops => Presence::TooFewNexthops(n),
        Some(n) => Presence::Present(n),
    }
}

/// Up/down with a rise hold: down as soon as the route goes, up only once it has
/// been present for `rise` without a break. The first observation sets the state
/// at once, so a start is not delayed.
#[derive(Debug, Clone)]
pub struct RiseHold {
    rise: Duration,
    up: Option<bool>,
    /// Since when the route has been back while still reported down.
    back_since: Option<Instant>,
}

impl RiseHold {
    pub fn new(rise: Duration) -> RiseHold {
        RiseHold {
            rise,
            up: None,
            back_since: None,
        }
    }

    /// Feeds what the table holds at `now`; returns the new state if it changed
    /// (including the first, which sets it).
    pub fn observe(&mut self, now: Instant, present: bool) -> Option<bool> {
        match (self.up, present) {
            (None, p) => {
                self.up = Some(p);
                Some(p)
            }
            (Some(true), true) => None,
            (Some(true), false) => {
                self.up = Some(false);
                Some(false)
            }
            (Some(false), false) => {
                self.back_since = None;
                None
            }
            (Some(false), true) => {
                let since = *self.back_since.get_or_insert(now);
                if now.duration_since(since) < self.rise {
                    return None;
                }
                self.back_since = None;
                self.up = Some(true);
                Some(true)
            }
        }
    }

    /// When a returned route will have held for `rise`: observe again then.
    pub fn deadline(&self) -> Option<Instant> {
        self.back_since.map(|s| s + self.rise)
    }
}

/// Whether the kernel's route to a peer (`ip route get PEER from SOURCE`) leaves by
/// one of `uplinks` (by index; empty: any interface but `lo`, index `lo`).
pub fn leaves_by_uplink(route: Option<&RouteInfo>, uplinks: &[u32], lo: u32) -> bool {
    let Some(r) = route.filter(|r| r.unicast) else {
        return false;
    };
    match r.oif {
        Some(o) if uplinks.is_empty() => o != lo,
        Some(o) => uplinks.contains(&o),
        None => false,
    }
}

/// What one tracked object depends on.
enum Check {
    Route(TrackRoute),
    Peers(TrackPeers),
}

/// What a check found: whether it holds, and for the log, how.
enum Found {
    Route(Presence),
    /// The first peer routed through an uplink, or none.
    Peers(Option<(IpAddr, u32)>),
}

impl Found {
    fn holds(&self) -> bool {
        match self {
            Found::Route(p) => p.is_present(),
            Found::Peers(p) => p.is_some(),
        }
    }
}

/// One tracked object's state in the task.
struct Tracked {
    check: Check,
    object: String,
    weight: i16,
    hold: RiseHold,
}

/// Starts the route tracker of one instance (its tracked routes and, for a routed
/// instance, its peers); it stops when `events` is closed or the handle is aborted.
pub fn spawn(
    routes: Vec<TrackRoute>,
    peers: Option<TrackPeers>,
    events: mpsc::Sender<TrackEvent>,
) -> JoinHandle<()> {
    let mut tracked: Vec<Tracked> = routes
        .into_iter()
        .map(|spec| Tracked {
            object: config::tracked_route(&spec),
            weight: spec.weight,
            hold: RiseHold::new(spec.rise),
            check: Check::Route(spec),
        })
        .collect();
    if let Some(p) = peers {
        tracked.push(Tracked {
            object: config::TRACKED_PEERS.to_string(),
            weight: 0,
            hold: RiseHold::new(Duration::ZERO),
            check: Check::Peers(p),
        });
    }
    tokio::spawn(run(tracked, events))
}

async fn run(mut tracked: Vec<Tracked>, events: mpsc::Sender<TrackEvent>) {
    loop {
        // Subscribed before the first read, so no change falls between the two.
        let (mut watch, netlink) = match (RouteWatch::new(), Netlink::new()) {
            (Ok(w), Ok(n)) => (w, n),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!("route tracker: {e}; retrying in {} s", RETRY.as_secs());
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        loop {
            match look(&netlink, &tracked).await {
                Ok(found) => {
                    if !report(&mut tracked, found, &events).await {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(
                        "route tracker: {e}; tracked routes keep their state, read again in {} s",
                        RETRY.as_secs()
                    );
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            }
            let deadline = tracked.iter().filter_map(|t| t.hold.deadline()).min();
            match next_reason(&mut watch, &tracked, deadline, &events).await {
                Wake::Read => {}
                Wake::Reconnect => break,
                Wake::Stop => return,
            }
        }
    }
}

/// Reads what every check needs: the route table once if any route is tracked, one
/// lookup per peer of a routed instance.
async fn look(netlink: &Netlink, tracked: &[Tracked]) -> Result<Vec<Found>, NetlinkError> {
    let routes = if tracked.iter().any(|t| matches!(t.check, Check::Route(_))) {
        netlink.routes().await?
    } else {
        Vec::new()
    };
    let mut out = Vec::with_capacity(tracked.len());
    for t in tracked {
        out.push(match &t.check {
            Check::Route(spec) => Found::Route(presence(spec, &routes)),
            Check::Peers(spec) => Found::Peers(routed_peer(netlink, spec).await?),
        });
    }
    Ok(out)
}

/// The first peer the kernel routes through an uplink, with that uplink's index.
async fn routed_peer(
    netlink: &Netlink,
    spec: &TrackPeers,
) -> Result<Option<(IpAddr, u32)>, NetlinkError> {
    // By name at each look: an uplink that is re-created gets a new index.
    let uplinks: Vec<u32> = spec.uplinks.iter().filter_map(|n| ifindex(n)).collect();
    if !spec.uplinks.is_empty() && uplinks.is_empty() {
        return Ok(None);
    }
    let lo = ifindex("lo").unwrap_or(1);
    for &peer in &spec.peers {
        let route = netlink.route_get(peer, Some(spec.source)).await?;
        if leaves_by_uplink(route.as_ref(), &uplinks, lo) {
            let oif = route.and_then(|r| r.oif).unwrap_or(0);
            return Ok(Some((peer, oif)));
        }
    }
    Ok(None)
}

enum Wake {
    Read,
    Reconnect,
    Stop,
}

/// Waits for something that may change a tracked route: a notification about one
/// of the prefixes, a link or address change, lost notifications (a burst is taken
/// whole), or a rise hold running out.
async fn next_reason(
    watch: &mut RouteWatch,
    tracked: &[Tracked],
    deadline: Option<Instant>,
    events: &mpsc::Sender<TrackEvent>,
) -> Wake {
    // Any route may carry a peer (a default, a covering prefix), so a routed
    // instance's peers make every route change relevant.
    let relevant = |r: &RouteInfo| {
        tracked.iter().any(|t| match &t.check {
            Check::Route(spec) => spec.prefix == r.dst && spec.table == r.table,
            Check::Peers(_) => true,
        })
    };
    let sleep = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            ev = watch.next() => match ev {
                None => {
                    tracing::warn!("route tracker: route notifications stopped; subscribing again");
                    return Wake::Reconnect;
                }
                Some(RouteEvent::Changed(r)) if !relevant(&r) => {}
                Some(_) => {
                    while watch.try_next().is_some() {}
                    return Wake::Read;
                }
            },
            _ = &mut sleep => return Wake::Read,
            _ = events.closed() => return Wake::Stop,
        }
    }
}

/// Re-evaluates every tracked object from what [`look`] found, logs and sends each
/// change; false once nobody listens.
async fn report(
    tracked: &mut [Tracked],
    found: Vec<Found>,
    events: &mpsc::Sender<TrackEvent>,
) -> bool {
    let now = Instant::now();
    for (t, found) in tracked.iter_mut().zip(found) {
        let Some(up) = t.hold.observe(now, found.holds()) else {
            continue;
        };
        log_change(&t.check, &found);
        let event = TrackEvent {
            name: t.object.clone(),
            up,
            weight: track::weight(t.weight),
        };
        if events.send(event).await.is_err() {
            return false;
        }
    }
    true
}

fn log_change(check: &Check, found: &Found) {
    match (check, found) {
        (Check::Route(spec), Found::Route(presence)) => {
            let prefix = spec.prefix;
            let table = spec.table;
            match *presence {
                Presence::Present(n) => tracing::info!(
                    %prefix, table, nexthops = n, rise_ms = spec.rise.as_millis() as u64,
                    "track route up"
                ),
                Presence::Missing => {
                    tracing::warn!(%prefix, table, "track route down: no such route")
                }
                Presence::TooFewNexthops(n) => tracing::warn!(
                    %prefix, table, nexthops = n, min_nexthops = spec.min_nexthops,
                    "track route down: too few next hops"
                ),
            }
        }
        (Check::Peers(_), Found::Peers(Some((peer, oif)))) => {
            let dev = crate::datapath::xdp::ifname(*oif).unwrap_or_else(|| oif.to_string());
            tracing::info!(%peer, dev, "peers routable again")
        }
        (Check::Peers(spec), _) => tracing::warn!(
            peers = ?spec.peers,
            "no peer is routable through an uplink: FAULT until one is"
        ),
        (Check::Route(_), Found::Peers(_)) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TrackRoute {
        TrackRoute {
            prefix: "0.0.0.0/0".parse().unwrap(),
            table: 254,
            protocol: Some(186),
            min_nexthops: 2,
            rise: Duration::from_millis(500),
            weight: 0,
        }
    }

    fn route(dst: &str, proto: u8, nexthops: u16) -> RouteInfo {
        RouteInfo {
            dst: dst.parse().unwrap(),
            via: None,
            oif: Some(2),
            table: 254,
            metric: None,
            proto,
            unicast: true,
            nexthops,
        }
    }

    #[test]
    fn presence_needs_prefix_table_protocol_and_next_hops() {
        let s = spec();
        assert_eq!(presence(&s, &[]), Presence::Missing);
        assert_eq!(
            presence(&s, &[route("0.0.0.0/0", 4, 2)]),
            Presence::Missing,
            "a static default is not the BGP one"
        );
        assert_eq!(
            presence(&s, &[route("0.0.0.0/1", 186, 2)]),
            Presence::Missing
        );
        assert_eq!(
            presence(&s, &[route("0.0.0.0/0", 186, 1)]),
            Presence::TooFewNexthops(1)
        );
        assert_eq!(
            presence(
                &s,
                &[route("0.0.0.0/0", 186, 1), route("0.0.0.0/0", 186, 3)]
            ),
            Presence::Present(3)
        );
        let mut other_table = route("0.0.0.0/0", 186, 2);
        other_table.table = 100;
        assert_eq!(presence(&s, &[other_table]), Presence::Missing);
        let mut blackhole = route("0.0.0.0/0", 186, 2);
        blackhole.unicast = false;
        assert_eq!(presence(&s, &[blackhole]), Presence::Missing);
        let any_protocol = TrackRoute {
            protocol: None,
            min_nexthops: 1,
            ..spec()
        };
        assert_eq!(
            presence(&any_protocol, &[route("0.0.0.0/0", 4, 1)]),
            Presence::Present(1)
        );
        assert_eq!(
            presence(&any_protocol, &[route("0.0.0.0/0", 4, 0)]),
            Presence::Missing,
            "every next hop dead"
        );
    }

    #[test]
    fn a_return_waits_out_rise_and_a_loss_is_at_once() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut h = RiseHold::new(Duration::from_millis(500));
        assert_eq!(
            h.observe(ms(0), true),
            Some(true),
            "the first state at once"
        );
        assert_eq!(h.observe(ms(10), true), None);
        assert_eq!(h.observe(ms(20), false), Some(false), "a loss at once");
        assert_eq!(h.observe(ms(100), true), None);
        assert_eq!(h.deadline(), Some(ms(600)));
        assert_eq!(h.observe(ms(300), false), None, "a flap restarts the hold");
        assert_eq!(h.deadline(), None);
        assert_eq!(h.observe(ms(400), true), None);
        assert_eq!(h.observe(ms(899), true), None);
        assert_eq!(h.observe(ms(900), true), Some(true));
        assert_eq!(h.deadline(), None);
        let mut zero = RiseHold::new(Duration::ZERO);
        assert_eq!(zero.observe(ms(0), false), Some(false));
        assert_eq!(zero.observe(ms(1), true), Some(true));
    }

    #[test]
    fn a_peer_counts_when_its_route_leaves_by_an_uplink() {
        let via = |oif: u32| RouteInfo {
            oif: Some(oif),
            ..route("10.2.0.2/32", 186, 1)
        };
        assert!(leaves_by_uplink(Some(&via(3)), &[3, 4], 1));
        assert!(
            !leaves_by_uplink(Some(&via(2)), &[3, 4], 1),
            "by the management link, not an uplink"
        );
        assert!(!leaves_by_uplink(None, &[3, 4], 1), "no route at all");
        let mut unreachable = via(3);
        unreachable.unicast = false;
        assert!(!leaves_by_uplink(Some(&unreachable), &[3, 4], 1));
        assert!(
            leaves_by_uplink(Some(&via(2)), &[], 1),
            "every uplink: any interface"
        );
        assert!(!leaves_by_uplink(Some(&via(1)), &[], 1), "but lo");
    }
}

//! What the watchers saw, as change logs, and the figures an episode is judged by:
//! split-brain time, time with no holder, and who held the VIP at the end. Pure.

use crate::lab::Node;

use super::watch::Now;

/// Changes of one watched value: (CLOCK_MONOTONIC ns, new value), oldest first; the
/// first entry is the starting value.
pub type Log<T> = Vec<(u64, T)>;

/// The three change logs of a run.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    pub a: Log<bool>,
    pub b: Log<bool>,
    pub route: Log<Option<Node>>,
}

/// The last stretch of an episode with one holder: [`Timeline::held`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    /// When the node began to hold the VIP alone.
    pub since: u64,
    pub holder: Node,
    /// When the router first routed the VIP to it in the stretch, if it did.
    pub routed: Option<u64>,
    /// How often the router lost that route again in the stretch: the routing
    /// recipe's doing while the holder did not change.
    pub route_losses: usize,
    pub routed_at_end: bool,
}

/// A stretch of time in which nothing watched changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub from: u64,
    pub to: u64,
    pub now: Now,
}

fn value_at<T: Copy>(log: &Log<T>, t: u64) -> Option<T> {
    log.iter()
        .take_while(|(at, _)| *at <= t)
        .last()
        .map(|c| c.1)
}

impl Timeline {
    /// The constant stretches of `[from, to)`; empty if a log has no sample yet.
    pub fn segments(&self, from: u64, to: u64) -> Vec<Segment> {
        let mut cuts: Vec<u64> = vec![from];
        for t in self
            .a
            .iter()
            .map(|c| c.0)
            .chain(self.b.iter().map(|c| c.0))
            .chain(self.route.iter().map(|c| c.0))
        {
            if t > from && t < to {
                cuts.push(t);
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut out = Vec::new();
        for (i, &start) in cuts.iter().enumerate() {
            let end = cuts.get(i + 1).copied().unwrap_or(to);
            if end <= start {
                continue;
            }
            let (Some(a), Some(b), Some(route)) = (
                value_at(&self.a, start),
                value_at(&self.b, start),
                value_at(&self.route, start),
            ) else {
                continue;
            };
            out.push(Segment {
                from: start,
                to: end,
                now: Now {
                    holders: [a, b],
                    route,
                },
            });
        }
        out
    }

    /// Nanoseconds of `[from, to)` in which both nodes held the VIP.
    pub fn split_brain_ns(&self, from: u64, to: u64) -> u64 {
        self.segments(from, to)
            .iter()
            .filter(|s| s.now.holders == [true, true])
            .map(|s| s.to - s.from)
            .sum()
    }

    /// Nanoseconds of `[from, to)` in which no node held the VIP.
    pub fn no_holder_ns(&self, from: u64, to: u64) -> u64 {
        self.segments(from, to)
            .iter()
            .filter(|s| s.now.holders == [false, false])
            .map(|s| s.to - s.from)
            .sum()
    }

    /// The last stretch of `[from, to)` in which one node alone held the VIP, if it
    /// runs to `to`, with what the router did meanwhile.
    pub fn held(&self, from: u64, to: u64) -> Option<Held> {
        let segs = self.segments(from, to);
        let holder = segs.last()?.now.sole_holder()?;
        let first = segs
            .iter()
            .rposition(|s| s.now.sole_holder() != Some(holder))
            .map_or(0, |i| i + 1);
        let stretch = &segs[first..];
        let routed = stretch
            .iter()
            .find(|s| s.now.route == Some(holder))
            .map(|s| s.from);
        let route_losses = stretch
            .windows(2)
            .filter(|w| w[0].now.route == Some(holder) && w[1].now.route != Some(holder))
            .count();
        Some(Held {
            since: stretch[0].from,
            holder,
            routed,
            route_losses,
            routed_at_end: stretch.last()?.now.route == Some(holder),
        })
    }

    /// The changes of `[from, to)` as lines of a timeline: (time, what).
    pub fn events(&self, from: u64, to: u64) -> Vec<(u64, String)> {
        self.segments(from, to)
            .iter()
            .skip(1)
            .map(|s| (s.from, s.now.describe()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tl() -> Timeline {
        // A holds from 0 to 500; B from 300 on; the route moves to B at 600.
        Timeline {
            a: vec![(0, true), (500, false)],
            b: vec![(0, false), (300, true)],
            route: vec![(0, Some(Node::A)), (550, None), (600, Some(Node::B))],
        }
    }

    #[test]
    fn split_brain_and_gaps() {
        let t = tl();
        assert_eq!(t.split_brain_ns(0, 1000), 200);
        assert_eq!(t.split_brain_ns(400, 1000), 100);
        assert_eq!(t.no_holder_ns(0, 1000), 0);
        let gap = Timeline {
            a: vec![(0, true), (100, false)],
            b: vec![(0, false), (250, true)],
            route: vec![(0, Some(Node::A))],
        };
        assert_eq!(gap.no_holder_ns(0, 1000), 150);
    }

    #[test]
    fn a_holder_outlives_route_losses() {
        // A holds throughout; the route comes at 50, goes at 100, is back at 200.
        let t = Timeline {
            a: vec![(0, true)],
            b: vec![(0, false)],
            route: vec![
                (0, None),
                (50, Some(Node::A)),
                (100, None),
                (200, Some(Node::A)),
            ],
        };
        let held = |to| t.held(0, to).unwrap();
        assert_eq!(
            held(300),
            Held {
                since: 0,
                holder: Node::A,
                routed: Some(50),
                route_losses: 1,
                routed_at_end: true,
            }
        );
        assert!(!held(150).routed_at_end);
        assert_eq!(held(40).routed, None);
        // From 500 on only B holds; its route comes at 600.
        let b = tl().held(0, 1000).unwrap();
        assert_eq!((b.since, b.holder, b.routed), (500, Node::B, Some(600)));
        assert_eq!(tl().held(0, 400), None);
    }

    #[test]
    fn events_name_each_change() {
        let e = tl().events(0, 1000);
        assert_eq!(e.len(), 4);
        assert_eq!(e[0], (300, "VIP on A+B, router routes it to A".to_string()));
        assert_eq!(e[3], (600, "VIP on B, router routes it to B".to_string()));
    }
}

//! What the watchers saw, as change logs, and the figures an episode is judged by:
//! split-brain time, time with no holder, and when the lab settled. Pure.

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

    /// The start of the last settled stretch of `[from, to)` that runs to `to`
    /// (one holder, routed to it), if the window ends settled.
    pub fn settled_since(&self, from: u64, to: u64) -> Option<(u64, Node)> {
        let segs = self.segments(from, to);
        let last = segs.last()?;
        let holder = last.now.settled()?;
        let mut since = last.from;
        for s in segs.iter().rev().skip(1) {
            if s.now.settled() == Some(holder) && s.to == since {
                since = s.from;
            } else {
                break;
            }
        }
        Some((since, holder))
    }

    /// The node that alone held the VIP through all of `[from, to)`, if one did
    /// (whatever the route did meanwhile).
    pub fn sole_holder(&self, from: u64, to: u64) -> Option<Node> {
        let segs = self.segments(from, to);
        let first = segs.first()?.now.holders;
        let node = match first {
            [true, false] => Node::A,
            [false, true] => Node::B,
            _ => return None,
        };
        segs.iter().all(|s| s.now.holders == first).then_some(node)
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
    fn settled_is_the_last_stretch() {
        let t = tl();
        assert_eq!(t.settled_since(0, 1000), Some((600, Node::B)));
        assert_eq!(t.settled_since(0, 400), None);
        // At 250 A alone holds and is routed: settled since 0.
        assert_eq!(t.settled_since(0, 250), Some((0, Node::A)));
        assert_eq!(t.settled_since(0, 580), None);
    }

    #[test]
    fn sole_holder_ignores_the_route() {
        let t = Timeline {
            a: vec![(0, true)],
            b: vec![(0, false)],
            route: vec![(0, Some(Node::A)), (100, None), (200, Some(Node::A))],
        };
        assert_eq!(t.sole_holder(0, 300), Some(Node::A));
        assert_eq!(tl().sole_holder(0, 1000), None);
    }

    #[test]
    fn events_name_each_change() {
        let e = tl().events(0, 1000);
        assert_eq!(e.len(), 4);
        assert_eq!(e[0], (300, "VIP on A+B, router routes it to A".to_string()));
        assert_eq!(e[3], (600, "VIP on B, router routes it to B".to_string()));
    }
}

//! The chaos schedule: an endless, seeded sequence of steps. Kinds come in shuffled
//! rounds (every kind once per round, in a random order), so even a short run meets
//! each kind; parameters are drawn within the ranges the issue names. Pure: no root,
//! no clock.

use serde::{Deserialize, Serialize};

use super::{
    config::{Edit, INTERVALS_MS},
    fault::{Direction, End, Fault, Kind, Partition, Target},
    prng::Prng,
};

/// One step: a fault, how long it is held, and a quiet spell after it settled.
/// Durations are counted in advert intervals (the longest of the two nodes' at the
/// time the step runs), so a schedule means the same at any interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub index: usize,
    pub fault: Fault,
    pub hold_intervals: u32,
    pub quiet_intervals: u32,
}

/// The steps of the run with `seed`, endlessly.
pub struct Schedule {
    prng: Prng,
    round: Vec<Kind>,
    next: usize,
}

impl Schedule {
    pub fn new(seed: u64) -> Schedule {
        Schedule {
            prng: Prng::new(seed),
            round: Vec::new(),
            next: 0,
        }
    }

    fn next_kind(&mut self) -> Kind {
        if self.round.is_empty() {
            self.round = Kind::ALL.to_vec();
            self.prng.shuffle(&mut self.round);
        }
        self.round.remove(0)
    }

    fn target(&mut self) -> Target {
        self.prng.pick(&[Target::Master, Target::Backup])
    }

    fn direction(&mut self) -> Direction {
        self.prng.pick(&[
            Direction::MasterToBackup,
            Direction::BackupToMaster,
            Direction::Both,
        ])
    }

    fn edit(&mut self) -> Edit {
        let p = &mut self.prng;
        match p.below(7) {
            0 => Edit::Priority(p.range(1, 254) as u8),
            1 => Edit::IntervalMs(p.pick(&INTERVALS_MS)),
            2 => Edit::Preempt(p.chance(70)),
            3 => Edit::PreemptDelayMs(p.range(0, 30) as u32 * 100),
            4 => Edit::LeaseS(p.range(3, 8) as u32),
            5 => Edit::AcceptMode(p.chance(50)),
            _ => Edit::Ttl(p.range(64, 255) as u8),
        }
    }

    fn fault(&mut self, kind: Kind) -> Fault {
        match kind {
            Kind::Kill9 => Fault::Kill9 {
                target: self.target(),
            },
            Kind::Sigterm => Fault::Sigterm {
                target: self.target(),
            },
            Kind::Restart => Fault::Restart {
                target: self.target(),
            },
            Kind::Reload => Fault::Reload {
                target: self.target(),
                edit: self.edit(),
            },
            Kind::LinkDown => Fault::LinkDown {
                target: self.target(),
                end: self.prng.pick(&[End::Node, End::Router]),
            },
            Kind::Partition => Fault::Partition {
                kind: match self.prng.below(3) {
                    0 => Partition::Vrrp,
                    1 => Partition::All,
                    _ => Partition::Isolate(self.target()),
                },
            },
            Kind::Loss => Fault::Loss {
                percent: self.prng.range(5, 50) as u8,
                direction: self.direction(),
            },
            Kind::Delay => Fault::Delay {
                ms: self.prng.range(1, 30) as u32 * 10,
                direction: self.direction(),
            },
            Kind::CpuHog => Fault::CpuHog {
                target: self.target(),
            },
            Kind::MemHog => Fault::MemHog {
                target: self.target(),
                mib: self.prng.range(1, 8) as u32 * 64,
            },
            Kind::Junk => Fault::Junk {
                target: self.target(),
                pps: self.prng.range(1, 20) as u32 * 1000,
            },
        }
    }
}

impl Iterator for Schedule {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        let kind = self.next_kind();
        let fault = self.fault(kind);
        // Long enough for a partition or a loss to bite (a Master_Down_Interval is
        // about 3.6 intervals), short enough for many faults a minute.
        let hold_intervals = match fault {
            Fault::Restart { .. } | Fault::Reload { .. } => 0,
            _ => self.prng.range(5, 60) as u32,
        };
        let quiet_intervals = self.prng.range(0, 10) as u32;
        let index = self.next;
        self.next += 1;
        Some(Step {
            index,
            fault,
            hold_intervals,
            quiet_intervals,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::{chaos::config::Params, lab::Node};

    #[test]
    fn reproducible_from_the_seed() {
        let a: Vec<Step> = Schedule::new(1).take(200).collect();
        let b: Vec<Step> = Schedule::new(1).take(200).collect();
        let c: Vec<Step> = Schedule::new(2).take(200).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().enumerate().all(|(i, s)| s.index == i));
    }

    #[test]
    fn every_round_has_every_kind() {
        let steps: Vec<Step> = Schedule::new(3).take(Kind::ALL.len() * 5).collect();
        for round in steps.chunks(Kind::ALL.len()) {
            let kinds: BTreeSet<Kind> = round.iter().map(|s| s.fault.kind()).collect();
            assert_eq!(kinds.len(), Kind::ALL.len(), "{round:?}");
        }
    }

    #[test]
    fn parameters_in_range() {
        for s in Schedule::new(4).take(5000) {
            assert!(s.quiet_intervals <= 10);
            match s.fault {
                Fault::Loss { percent, .. } => assert!((5..=50).contains(&percent)),
                Fault::Delay { ms, .. } => assert!((10..=300).contains(&ms)),
                Fault::MemHog { mib, .. } => assert!((64..=512).contains(&mib)),
                Fault::Restart { .. } | Fault::Reload { .. } => assert_eq!(s.hold_intervals, 0),
                _ => assert!((5..=60).contains(&s.hold_intervals)),
            }
        }
    }

    /// Every edit the schedule can make, applied in sequence as a run does, gives a
    /// file that vrrpd's own validation accepts.
    #[test]
    fn every_edit_leaves_a_valid_file() {
        let mut params = [
            Params::initial(Node::A, std::time::Duration::from_millis(50)),
            Params::initial(Node::B, std::time::Duration::from_millis(50)),
        ];
        let sock = std::path::Path::new("/run/vrrpd/chaos.sock");
        let mut edits = 0;
        for s in Schedule::new(5).take(3000) {
            if let Fault::Reload { target, edit } = s.fault {
                let i = usize::from(target == Target::Backup);
                params[i].apply(edit);
                let node = [Node::A, Node::B][i];
                let text = params[i].render(node, sock);
                if let Err(e) = vrrp_user::config::parse(&text, "chaos.toml") {
                    panic!("{edit} gave an invalid file:\n{e}\n{text}");
                }
                edits += 1;
            }
        }
        assert!(edits > 200);
        for (i, node) in Node::ALL.into_iter().enumerate() {
            let text = params[i].render(node, sock);
            vrrp_user::config::parse(&text, "chaos.toml").unwrap();
        }
    }
}

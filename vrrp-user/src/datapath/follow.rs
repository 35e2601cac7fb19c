//! The daemon's side of the follow filter (`vrrp_common::follow`): arming and disarming
//! absorption per (ifindex, VRID), and reading what the datapath kept.
//!
//! The XDP datapath keeps this state in its `FOLLOW`/`FOLLOWED` maps and times silences
//! with a `bpf_timer`; the socket datapath keeps the same state in [`FollowState`] and
//! times silences in its receive loop. The controller talks to either through
//! [`FollowTable`], and to [`NoFollow`] where nothing may be absorbed.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
};

use vrrp_common::{
    Record, VridKey,
    follow::{Decision, FOLLOW_ABSORB, Follow, Followed, decide},
};

/// Where the controller arms absorption.
pub trait FollowTable {
    /// Makes the table hold exactly `keys`: fresh state for new ones, none for others.
    fn install(&mut self, keys: &BTreeSet<VridKey>);
    /// Absorbs adverts equal to `follow`'s from now on; `false` if this datapath cannot.
    fn arm(&mut self, key: VridKey, follow: &Follow) -> bool;
    /// Stops absorbing; what the datapath kept, as of now.
    fn disarm(&mut self, key: VridKey) -> Option<Followed>;
    /// What the datapath keeps for `key` (absorbed adverts, jitter).
    fn followed(&self, key: VridKey) -> Option<Followed>;
}

/// Absorbs nothing: every advert reaches the controller.
pub struct NoFollow;

impl FollowTable for NoFollow {
    fn install(&mut self, _: &BTreeSet<VridKey>) {}
    fn arm(&mut self, _: VridKey, _: &Follow) -> bool {
        false
    }
    fn disarm(&mut self, _: VridKey) -> Option<Followed> {
        None
    }
    fn followed(&self, _: VridKey) -> Option<Followed> {
        None
    }
}

/// One VRID's filter state in userspace (the socket datapath).
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    follow: Follow,
    state: Followed,
    /// When the silence is reported (ns, CLOCK_MONOTONIC), while armed and absorbing.
    silence_at: Option<u64>,
}

/// The socket datapath's filter: the same rule and records as the XDP program's.
#[derive(Debug, Default)]
pub struct FollowState {
    slots: BTreeMap<VridKey, Slot>,
}

impl FollowState {
    /// Runs the filter on a validated advert: `None` if absorbed, else the record to
    /// hand over (with `seq` and `followed_rx_ns` filled in).
    pub fn filter(&mut self, mut rec: Record) -> Option<Record> {
        let Some(slot) = self.slots.get_mut(&rec.key()) else {
            return Some(rec);
        };
        let seen = rec.seen();
        let rx_ns = rec.rx_ns();
        slot.state
            .jitter
            .observe(seen.src, rx_ns, u64::from(seen.adver_int_cs) * 10_000_000);
        if decide(&slot.follow, slot.state.reports, &seen) == Decision::Absorb {
            slot.state.absorb(rx_ns);
            slot.silence_at = Some(rx_ns + slot.follow.down_ns);
            return None;
        }
        slot.state.reports += 1;
        rec.set_follow(slot.state.reports, slot.state.last_rx_ns);
        Some(rec)
    }

    /// The earliest pending silence.
    pub fn next_silence(&self) -> Option<u64> {
        self.slots.values().filter_map(|s| s.silence_at).min()
    }

    /// Reports every silence due at `now_ns` into `out`.
    pub fn silences(&mut self, now_ns: u64, out: &mut Vec<Record>) {
        for (key, slot) in &mut self.slots {
            if slot.silence_at.is_none_or(|at| at > now_ns) {
                continue;
            }
            slot.silence_at = None;
            let f = slot.follow;
            if f.mode != FOLLOW_ABSORB || f.seq != slot.state.reports {
                continue;
            }
            out.push(if key.is_v6() {
                Record::V6(slot.state.report_silence(key, &f))
            } else {
                Record::V4(slot.state.report_silence(key, &f))
            });
        }
    }
}

/// [`FollowTable`] over a [`FollowState`] shared with the socket datapath.
#[derive(Clone, Debug, Default)]
pub struct SharedFollow(pub Arc<Mutex<FollowState>>);

impl SharedFollow {
    pub fn with<T>(&self, f: impl FnOnce(&mut FollowState) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl FollowTable for SharedFollow {
    fn install(&mut self, keys: &BTreeSet<VridKey>) {
        self.with(|s| {
            s.slots.retain(|k, _| keys.contains(k));
            for k in keys {
                s.slots.entry(*k).or_default();
            }
        })
    }

    fn arm(&mut self, key: VridKey, follow: &Follow) -> bool {
        self.with(|s| match s.slots.get_mut(&key) {
            Some(slot) => {
                slot.follow = *follow;
                true
            }
            None => false,
        })
    }

    fn disarm(&mut self, key: VridKey) -> Option<Followed> {
        self.with(|s| {
            let slot = s.slots.get_mut(&key)?;
            slot.follow = Follow::default();
            slot.silence_at = None;
            Some(slot.state)
        })
    }

    fn followed(&self, key: VridKey) -> Option<Followed> {
        self.with(|s| s.slots.get(&key).map(|slot| slot.state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytemuck::Zeroable;
    use vrrp_common::{AdvertRecord, REC_F_SILENCE};

    fn advert(rx_ns: u64, priority: u8) -> Record {
        let mut r = AdvertRecord::zeroed();
        r.rx_ns = rx_ns;
        r.src = [10, 1, 1, 10];
        r.ifindex = 2;
        r.vrid = 1;
        r.priority = priority;
        r.version = 3;
        r.adver_int_cs = 1;
        r.count = 1;
        r.addrs[0] = [10, 1, 255, 1];
        Record::V4(r)
    }

    #[test]
    fn absorbs_while_armed_reports_changes_and_silence() {
        let mut table = SharedFollow::default();
        let key = VridKey::new(2, 1);
        table.install(&BTreeSet::from([key]));
        let first = table
            .with(|s| s.filter(advert(1_000, 200)))
            .expect("not armed");
        assert_eq!((first.seq(), first.followed_rx_ns()), (1, 0));
        let f = Follow::absorbing(&first.seen(), first.seq(), 35_000_000);
        assert!(table.arm(key, &f));
        assert!(table.with(|s| s.filter(advert(11_000_000, 200))).is_none());
        assert!(table.with(|s| s.filter(advert(21_000_000, 200))).is_none());
        assert_eq!(table.with(|s| s.next_silence()), Some(56_000_000));
        let changed = table
            .with(|s| s.filter(advert(31_000_000, 100)))
            .expect("reported");
        assert_eq!((changed.seq(), changed.followed_rx_ns()), (2, 21_000_000));
        // The arm is stale now: no silence, everything reported until re-armed.
        let mut out = Vec::new();
        table.with(|s| s.silences(u64::MAX, &mut out));
        assert!(out.is_empty());
        assert!(table.with(|s| s.filter(advert(41_000_000, 200))).is_some());

        let again = table.with(|s| s.filter(advert(51_000_000, 200))).unwrap();
        assert!(table.arm(
            key,
            &Follow::absorbing(&again.seen(), again.seq(), 35_000_000)
        ));
        assert!(table.with(|s| s.filter(advert(61_000_000, 200))).is_none());
        table.with(|s| s.silences(95_999_999, &mut out));
        assert!(out.is_empty());
        table.with(|s| s.silences(96_000_000, &mut out));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].flags(), REC_F_SILENCE);
        assert_eq!(out[0].rx_ns(), 61_000_000);
        let kept = table.followed(key).unwrap();
        assert_eq!(kept.absorbed, 3);
        assert!(kept.jitter.samples > 0);
    }

    #[test]
    fn disarm_stops_absorbing_and_returns_the_last_absorbed_time() {
        let mut table = SharedFollow::default();
        let key = VridKey::new(2, 1);
        table.install(&BTreeSet::from([key]));
        let r = table.with(|s| s.filter(advert(1_000, 200))).unwrap();
        table.arm(key, &Follow::absorbing(&r.seen(), r.seq(), 35_000_000));
        assert!(table.with(|s| s.filter(advert(11_000_000, 200))).is_none());
        assert_eq!(table.disarm(key).unwrap().last_rx_ns, 11_000_000);
        assert!(table.with(|s| s.filter(advert(21_000_000, 200))).is_some());
        assert_eq!(table.with(|s| s.next_silence()), None);
    }
}

//! What a backup follows, and the one rule that decides which adverts its election
//! must see.
//!
//! In the steady state a backup receives the same advert from the same master every
//! interval, and the only effect on its state machine is that Master_Down_Timer
//! restarts. The datapath (the XDP program, or the socket path in userspace) keeps, per
//! (ifindex, VRID), the advert the state machine last accepted ([`Follow`], written by
//! the daemon) and absorbs copies of it: it notes their receive time and reports
//! nothing. Everything else is reported at once. Userspace hands the state machine the
//! last absorbed advert before anything else reaches it, so the machine ends in the
//! state it would have reached seeing every advert (the simulator's filter mode proves
//! it over random schedules; see `vrrp_core::sim`).
//!
//! The daemon arms absorption only when the state machine says an identical advert
//! would change nothing but that timer; the datapath never decides that itself.

use bytemuck::{Pod, Zeroable};

use crate::{MAX_ADDRS, RecordOf, VridKey, WireAddr};

/// Report every advert (start-up, after a change, while the daemon relearns).
pub const FOLLOW_REPORT: u8 = 0;
/// Absorb adverts equal to the followed one; report anything else.
pub const FOLLOW_ABSORB: u8 = 1;

/// Value of the `FOLLOW` map, written only by the daemon: the advert the backup's state
/// machine accepted, and how long a silence must last before the datapath reports it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Follow {
    /// The followed master's address ([`WireAddr::wide`]: one map for both families).
    pub src: [u8; 16],
    /// Its advert interval, centiseconds, as in [`AdvertRecord::adver_int_cs`].
    pub adver_int_cs: u16,
    pub priority: u8,
    pub version: u8,
    /// `FOLLOW_*`.
    pub mode: u8,
    pub _pad: [u8; 11],
    /// The datapath's report count ([`Followed::reports`]) this was armed at. A report
    /// made after the daemon read that count (one it has not seen yet) disarms it, so
    /// a stale arm never absorbs anything.
    pub seq: u64,
    /// [`addr_digest`] of the followed advert's address list.
    pub digest: u64,
    /// Master_Down_Interval in nanoseconds: after this much silence since the last
    /// absorbed advert, the datapath reports a [`crate::REC_F_SILENCE`] record.
    pub down_ns: u64,
}

impl Follow {
    /// Absorption of adverts equal to `seen`, armed at report count `seq`.
    pub fn absorbing(seen: &Seen, seq: u64, down_ns: u64) -> Follow {
        Follow {
            src: seen.src,
            adver_int_cs: seen.adver_int_cs,
            priority: seen.priority,
            version: seen.version,
            mode: FOLLOW_ABSORB,
            _pad: [0; 11],
            seq,
            digest: seen.digest,
            down_ns,
        }
    }
}

/// The kernel's silence timers expire on this grid, never before their deadline: a
/// backup's timers, all started by one master's phase-aligned burst of adverts, then
/// share timer interrupts instead of taking one each (255 VRIDs at 10 ms: 3,300 timer
/// interrupts a second without the grid). It costs at most this much detection delay,
/// a quarter of a millisecond, inside the 1 ms the benchmark allows over the RFC floor.
pub const SILENCE_GRID_NS: u64 = 250_000;

/// How long a silence timer started at `now_ns` runs to expire at the first point of
/// [`SILENCE_GRID_NS`] at or after `due_ns`. At least 1 ns: zero would not start it.
#[inline(always)]
pub fn silence_wait(now_ns: u64, due_ns: u64) -> u64 {
    // No multiplication: the BPF target has no 128-bit one for an overflow check.
    let rem = due_ns % SILENCE_GRID_NS;
    let at = if rem == 0 {
        due_ns
    } else {
        due_ns.saturating_add(SILENCE_GRID_NS - rem)
    };
    let wait = at.saturating_sub(now_ns);
    if wait == 0 { 1 } else { wait }
}

/// The fields of a valid advert the filter compares: everything the state machine
/// reads from it except the receive time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    /// [`WireAddr::wide`].
    pub src: [u8; 16],
    pub adver_int_cs: u16,
    pub priority: u8,
    pub version: u8,
    /// [`addr_digest`] of the address list.
    pub digest: u64,
}

impl Seen {
    #[inline(always)]
    pub fn of<A: WireAddr>(rec: &RecordOf<A>) -> Seen {
        Seen {
            src: rec.src.wide(),
            adver_int_cs: rec.adver_int_cs,
            priority: rec.priority,
            version: rec.version,
            digest: addr_digest(&rec.addrs, rec.count),
        }
    }
}

/// What the datapath does with a valid advert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Equal to the followed advert: note the receive time, report nothing.
    Absorb,
    /// The election must see it: hand it to the daemon.
    Report,
}

/// The filter rule. `reports` is the datapath's current report count for this VRID.
///
/// Absorbs only while armed at the current count, and only an advert equal to the
/// followed one in every field the state machine reads: sender, priority (never 0:
/// a leaving master is always reported), interval, version and address list.
#[inline(always)]
pub fn decide(follow: &Follow, reports: u64, seen: &Seen) -> Decision {
    let same = follow.mode == FOLLOW_ABSORB
        && follow.seq == reports
        && seen.priority != 0
        && seen.src == follow.src
        && seen.priority == follow.priority
        && seen.adver_int_cs == follow.adver_int_cs
        && seen.version == follow.version
        && seen.digest == follow.digest;
    if same {
        Decision::Absorb
    } else {
        Decision::Report
    }
}

/// FNV-1a (64 bit) over the count and then the address bytes in order: start with
/// [`digest_start`], feed each byte to [`digest_byte`]. A reordered list reports once
/// and is then followed as it is.
#[inline(always)]
pub const fn digest_start(count: u8) -> u64 {
    digest_byte(0xcbf2_9ce4_8422_2325, count)
}

#[inline(always)]
pub const fn digest_byte(h: u64, b: u8) -> u64 {
    (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
}

/// The digest of the first `count` addresses.
#[inline(always)]
pub fn addr_digest<A: WireAddr>(addrs: &[A; MAX_ADDRS], count: u8) -> u64 {
    let mut h = digest_start(count);
    let mut i = 0;
    while i < MAX_ADDRS {
        if i < count as usize {
            h = addrs[i].digest(h);
        }
        i += 1;
    }
    h
}

/// Jitter of one sender's adverts from their receive times, in integer nanoseconds so
/// the XDP program can keep it.
///
/// Adverts leave every `interval`, so an arrival should come a whole number of
/// intervals after the previous one: the deviation is `|delta - n * interval|` with
/// `n = round(delta / interval)`, at least 1 (a lost advert is not jitter). The mean
/// moves by `(D - J) / 16` per advert as in RFC 3550 §6.4.1, starting at the first
/// deviation; the maximum is kept too. A new sender starts over.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Jitter {
    /// [`WireAddr::wide`].
    pub src: [u8; 16],
    pub last_rx_ns: u64,
    pub mean_ns: u64,
    pub max_ns: u64,
    pub samples: u64,
}

impl Jitter {
    #[inline(always)]
    pub fn observe(&mut self, src: [u8; 16], rx_ns: u64, interval_ns: u64) {
        if src != self.src {
            *self = Jitter {
                src,
                last_rx_ns: rx_ns,
                ..Jitter::default()
            };
            return;
        }
        let last = self.last_rx_ns;
        if rx_ns <= last || interval_ns == 0 {
            return;
        }
        self.last_rx_ns = rx_ns;
        if last == 0 {
            return;
        }
        let delta = rx_ns - last;
        let mut n = (delta + interval_ns / 2) / interval_ns;
        if n == 0 {
            n = 1;
        }
        // No overflow: n * interval <= delta + interval / 2.
        let expected = n.wrapping_mul(interval_ns);
        let dev = delta.abs_diff(expected);
        if self.samples == 0 {
            self.mean_ns = dev;
        } else if dev >= self.mean_ns {
            self.mean_ns += (dev - self.mean_ns) / 16;
        } else {
            self.mean_ns -= (self.mean_ns - dev) / 16;
        }
        if dev > self.max_ns {
            self.max_ns = dev;
        }
        self.samples += 1;
    }
}

/// What the datapath keeps per (ifindex, VRID), written only by the datapath (the
/// `FOLLOWED` map; the XDP program's value adds its `bpf_timer` after these fields).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Followed {
    /// Records reported for this VRID (adverts and silences); see [`Follow::seq`].
    pub reports: u64,
    /// Receive time of the last absorbed advert; 0 before the first.
    pub last_rx_ns: u64,
    /// Adverts absorbed, in total.
    pub absorbed: u64,
    /// Of every valid advert, absorbed or reported.
    pub jitter: Jitter,
}

impl Followed {
    /// Notes an absorbed advert.
    #[inline(always)]
    pub fn absorb(&mut self, rx_ns: u64) {
        self.last_rx_ns = rx_ns;
        self.absorbed += 1;
    }

    /// Counts and builds the [`crate::REC_F_SILENCE`] record of `key`'s followed master
    /// (`follow`), silent since its last absorbed advert: both datapaths report a
    /// silence with this, the XDP timer callback and the socket path's receive loop.
    #[inline(always)]
    pub fn report_silence<A: WireAddr>(&mut self, key: &VridKey, follow: &Follow) -> RecordOf<A>
    where
        RecordOf<A>: Zeroable,
    {
        let mut rec = RecordOf::<A>::zeroed();
        self.report_silence_into(key, follow, &mut rec);
        rec
    }

    /// [`Followed::report_silence`] written into `rec` in place (every field): the XDP
    /// timer callback fills its ring entry so, as an IPv6 record would not fit its
    /// stack beside the callback's own frame.
    #[inline(always)]
    pub fn report_silence_into<A: WireAddr>(
        &mut self,
        key: &VridKey,
        follow: &Follow,
        rec: &mut RecordOf<A>,
    ) {
        self.reports += 1;
        rec.rx_ns = self.last_rx_ns;
        rec.src = A::narrow(&follow.src);
        rec.dst = A::default();
        rec.ifindex = key.ifindex;
        rec.vrid = key.vrid;
        rec.priority = follow.priority;
        rec.version = follow.version;
        rec.ttl = 0;
        rec.adver_int_cs = follow.adver_int_cs;
        rec.count = 0;
        rec.auth_type = 0;
        rec.flags = crate::REC_F_SILENCE;
        for a in rec.addrs.iter_mut() {
            *a = A::default();
        }
        rec.seq = self.reports;
        rec.followed_rx_ns = self.last_rx_ns;
    }
}

/// The userspace view of a `FOLLOWED` map value: [`Followed`], then what only the XDP
/// program uses: its `struct bpf_timer` (16 opaque bytes) and whether it is set up.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct FollowedSlot {
    pub state: Followed,
    pub kernel: [u64; 3],
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::AdvertRecord;

    fn rec(priority: u8, addrs: &[[u8; 4]]) -> AdvertRecord {
        let mut r = AdvertRecord::zeroed();
        r.src = [10, 1, 1, 10];
        r.priority = priority;
        r.version = 3;
        r.adver_int_cs = 1;
        r.count = addrs.len() as u8;
        r.addrs[..addrs.len()].copy_from_slice(addrs);
        r
    }

    #[test]
    fn silence_timers_expire_on_the_grid_never_early() {
        let g = SILENCE_GRID_NS;
        // Deadlines within one grid step expire together, at the step's end.
        assert_eq!(silence_wait(0, 1), g);
        assert_eq!(silence_wait(0, g - 1), g);
        assert_eq!(silence_wait(10, g), g - 10);
        assert_eq!(silence_wait(0, g + 1), 2 * g);
        // Never before the deadline, whatever the start.
        for (now, due) in [(0, 36_000_000), (123_456, 36_123_457), (5, 7), (999, 1_000)] {
            let wait = silence_wait(now, due);
            assert!(
                now + wait >= due && now + wait < due + g,
                "{now} {due} {wait}"
            );
            assert_eq!((now + wait) % g, 0);
        }
        // A deadline already passed still starts the timer.
        assert_eq!(silence_wait(3 * g, g), 1);
        assert_eq!(silence_wait(u64::MAX - 1, u64::MAX), 1);
    }

    #[test]
    fn absorbs_only_the_followed_advert_at_the_armed_count() {
        let a = rec(200, &[[10, 1, 255, 1]]);
        let f = Follow::absorbing(&Seen::of(&a), 7, 30_000_000);
        let decide = |f: &Follow, n, r: &AdvertRecord| decide(f, n, &Seen::of(r));
        assert_eq!(decide(&f, 7, &a), Decision::Absorb);
        assert_eq!(decide(&f, 8, &a), Decision::Report, "stale arm");
        let mut other = a;
        other.priority = 201;
        assert_eq!(decide(&f, 7, &other), Decision::Report);
        other = a;
        other.src[3] = 11;
        assert_eq!(decide(&f, 7, &other), Decision::Report);
        other = a;
        other.adver_int_cs = 2;
        assert_eq!(decide(&f, 7, &other), Decision::Report);
        other = a;
        other.version = 2;
        assert_eq!(decide(&f, 7, &other), Decision::Report);
        let more = rec(200, &[[10, 1, 255, 1], [10, 1, 255, 2]]);
        assert_eq!(decide(&f, 7, &more), Decision::Report);
        let moved = rec(200, &[[10, 1, 255, 2]]);
        assert_eq!(decide(&f, 7, &moved), Decision::Report);
        let off = Follow {
            mode: FOLLOW_REPORT,
            ..f
        };
        assert_eq!(decide(&off, 7, &a), Decision::Report);
    }

    #[test]
    fn priority_zero_is_always_reported() {
        let a = Seen::of(&rec(0, &[[10, 1, 255, 1]]));
        let f = Follow::absorbing(&a, 0, 1);
        assert_eq!(decide(&f, 0, &a), Decision::Report);
    }

    #[test]
    fn digest_sees_order_and_bytes_beyond_count_do_not_matter() {
        let ab = rec(1, &[[1, 2, 3, 4], [5, 6, 7, 8]]);
        let ba = rec(1, &[[5, 6, 7, 8], [1, 2, 3, 4]]);
        assert_ne!(
            addr_digest(&ab.addrs, ab.count),
            addr_digest(&ba.addrs, ba.count)
        );
        let mut junk = ab;
        junk.addrs[5] = [9, 9, 9, 9];
        assert_eq!(
            addr_digest(&ab.addrs, ab.count),
            addr_digest(&junk.addrs, junk.count)
        );
    }

    #[test]
    fn jitter_ignores_losses_and_restarts_per_sender() {
        let ms = 1_000_000;
        let mut j = Jitter::default();
        j.observe([1; 16], 100 * ms, 10 * ms);
        j.observe([1; 16], 111 * ms, 10 * ms); // 1 ms late
        assert_eq!((j.samples, j.mean_ns, j.max_ns), (1, ms, ms));
        j.observe([1; 16], 141 * ms, 10 * ms); // two lost, on time
        assert_eq!((j.samples, j.max_ns), (2, ms));
        assert_eq!(j.mean_ns, ms - ms / 16);
        j.observe([1; 16], 141 * ms, 10 * ms); // not after the last: ignored
        assert_eq!(j.samples, 2);
        j.observe([2; 16], 150 * ms, 10 * ms);
        assert_eq!((j.samples, j.max_ns, j.src), (0, 0, [2; 16]));
    }
}

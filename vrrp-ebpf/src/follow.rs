//! The kernel half of the follow filter (`vrrp_common::follow`): per (ifindex, VRID)
//! the datapath's state and a `bpf_timer` that reports the followed master's silence.
//!
//! A valid advert equal to the one the daemon armed (`FOLLOW`) is absorbed: its receive
//! time is noted and the timer runs until Master_Down_Interval after the last one. Anything else is
//! reported through the ring. When the timer expires while still armed, a
//! `REC_F_SILENCE` record reports the silence at the RFC instant, counted from the
//! kernel receive time of the last absorbed advert.
//!
//! `FOLLOWED` is a BTF map because the kernel only accepts a `bpf_timer` in a map whose
//! value type BTF describes.

use core::ffi::c_void;

use aya_ebpf::{
    bindings::bpf_timer,
    helpers::{
        bpf_ktime_get_ns,
        generated::{bpf_timer_init, bpf_timer_set_callback, bpf_timer_start},
    },
    macros::{btf_map, map},
    maps::HashMap as LegacyHashMap,
};
use vrrp_common::{
    MAX_VRIDS, RecordOf, VridKey, WireAddr,
    follow::{Decision, Follow, Followed, FollowedSlot, Seen, decide, silence_wait},
};

use crate::xdp::RECORDS;

/// Written by the daemon: what to absorb.
#[map(name = "FOLLOW")]
static FOLLOW: LegacyHashMap<VridKey, Follow> = LegacyHashMap::with_max_entries(MAX_VRIDS, 0);

/// Kept here: reports, last absorbed receive time, jitter, the silence timer.
#[btf_map(name = "FOLLOWED")]
static FOLLOWED: aya_ebpf::btf_maps::HashMap<VridKey, Slot, { MAX_VRIDS as usize }> =
    aya_ebpf::btf_maps::HashMap::new();

/// Value of `FOLLOWED`; userspace reads it as `FollowedSlot` (same size and layout).
#[repr(C)]
struct Slot {
    state: Followed,
    timer: bpf_timer,
    /// `TIMER_*`: unset (the daemon creates slots zeroed), idle, running.
    ready: u64,
}

const _: () = assert!(core::mem::size_of::<Slot>() == core::mem::size_of::<FollowedSlot>());

const CLOCK_MONOTONIC: u64 = 1;

/// Runs the filter on a validated advert received at `rx_ns`. `None`: absorbed,
/// nothing to report. `Some((seq, followed_rx_ns))`: report it, with these values for
/// the record's fields of the same names.
#[inline(always)]
pub fn filter(key: &VridKey, seen: &Seen, rx_ns: u64) -> Option<(u64, u64)> {
    // The daemon creates the slot with the VRID; without one, report everything.
    let Some(slot) = FOLLOWED.get_ptr_mut(key) else {
        return Some((0, 0));
    };
    // SAFETY: `slot` points into the map value; XDP runs with preemption disabled and
    // the only other writer is this VRID's timer callback (see `on_silence`).
    let slot = unsafe { &mut *slot };
    slot.state
        .jitter
        .observe(seen.src, rx_ns, u64::from(seen.adver_int_cs) * 10_000_000);
    // SAFETY: the value is only read, and copied out at once.
    if let Some(follow) = unsafe { FOLLOW.get(key) }.copied()
        && decide(&follow, slot.state.reports, seen) == Decision::Absorb
        && arm(slot, rx_ns, follow.down_ns)
    {
        slot.state.absorb(rx_ns);
        return None;
    }
    slot.state.reports += 1;
    Some((slot.state.reports, slot.state.last_rx_ns))
}

/// `Slot::timer` states.
const TIMER_UNSET: u64 = 0;
const TIMER_IDLE: u64 = 1;
const TIMER_RUNNING: u64 = 2;

/// Makes sure the silence timer runs; `false` if the kernel refused, and then the
/// advert is reported instead of absorbed, so a timer failure never hides a silence.
///
/// A running timer is left alone: restarting an hrtimer on every advert costs a
/// clock-event reprogramming each time. Its callback instead pushes the expiry on to
/// the last absorbed advert plus `down_ns`, so it runs about once per
/// Master_Down_Interval and still reports at the RFC instant (rounded up to
/// `SILENCE_GRID_NS`, so the timers of many VRIDs expire together).
#[inline(always)]
fn arm(slot: &mut Slot, rx_ns: u64, down_ns: u64) -> bool {
    let timer: *mut bpf_timer = &mut slot.timer;
    if slot.ready == TIMER_UNSET {
        // SAFETY: `timer` lives in a FOLLOWED value, as the helpers require.
        let ok = unsafe {
            bpf_timer_init(
                timer,
                (&raw const FOLLOWED).cast_mut().cast(),
                CLOCK_MONOTONIC,
            ) == 0
                && bpf_timer_set_callback(timer, on_silence as *mut c_void) == 0
        };
        if !ok {
            return false;
        }
        slot.ready = TIMER_IDLE;
    }
    if slot.ready == TIMER_RUNNING {
        return true;
    }
    let wait = silence_wait(rx_ns, rx_ns.saturating_add(down_ns));
    // SAFETY: as above; relative expiry, no flags.
    if unsafe { bpf_timer_start(timer, wait, 0) } != 0 {
        return false;
    }
    slot.ready = TIMER_RUNNING;
    true
}

/// Timer callback: the followed master was silent for `down_ns` after the last absorbed
/// advert. Reports it if absorption is still armed (otherwise the daemon already has a
/// newer record and runs the timer itself).
extern "C" fn on_silence(_map: *mut c_void, key: *mut VridKey, slot: *mut Slot) -> i32 {
    // SAFETY: the kernel passes the key and value of the entry the timer lives in.
    let (key, slot) = unsafe { (&*key, &mut *slot) };
    // SAFETY: the value is only read, and copied out at once.
    let Some(follow) = (unsafe { FOLLOW.get(key) }).copied() else {
        slot.ready = TIMER_IDLE;
        return 0;
    };
    if follow.mode != vrrp_common::follow::FOLLOW_ABSORB || follow.seq != slot.state.reports {
        slot.ready = TIMER_IDLE;
        return 0;
    }
    // Adverts absorbed since the timer started: not silent yet, expire again at the
    // last one plus Master_Down_Interval.
    let due = slot.state.last_rx_ns + follow.down_ns;
    // SAFETY: plain helper call.
    let now = unsafe { bpf_ktime_get_ns() };
    if now < due {
        // SAFETY: the timer lives in this FOLLOWED value.
        if unsafe { bpf_timer_start(&mut slot.timer, silence_wait(now, due), 0) } != 0 {
            slot.ready = TIMER_IDLE;
        }
        return 0;
    }
    let reported = if key.is_v6() {
        report::<[u8; 16]>(slot, key, &follow)
    } else {
        report::<[u8; 4]>(slot, key, &follow)
    };
    if !reported {
        // Ring full: try again one interval later rather than lose the silence.
        // SAFETY: the timer lives in this FOLLOWED value.
        let _ = unsafe { bpf_timer_start(&mut slot.timer, follow.down_ns / 3 + 1, 0) };
        return 0;
    }
    slot.ready = TIMER_IDLE;
    0
}

/// Writes the silence record of `key` (of the key's family) into the ring; `false`
/// if the ring is full.
#[inline(always)]
fn report<A: WireAddr>(slot: &mut Slot, key: &VridKey, follow: &Follow) -> bool {
    let Some(mut entry) = RECORDS.reserve::<RecordOf<A>>(0) else {
        return false;
    };
    // SAFETY: the entry is ours until submitted, and `report_silence_into` writes
    // every field before anything reads one.
    let rec = unsafe { &mut *entry.as_mut_ptr() };
    slot.state.report_silence_into(key, follow, rec);
    entry.submit(0);
    true
}

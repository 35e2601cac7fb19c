//! XDP fast path for VRRP adverts.
//!
//! The checks are not here: `vrrp_common::validate` is the one validator, shared with
//! the socket datapath, and this program only gives it the frame ([`Frame`]: direct
//! packet access for the fixed-offset demux, `bpf_xdp_load_bytes` for the rest) and
//! the BPF maps ([`Maps`]). The steps, kept apart on purpose:
//!
//! 1. **classify**: `classify_frame` returns pass, a reject reason, or the validated
//!    `AdvertRecord`. Anything that is not IPv4 protocol 112 passes after two reads.
//! 2. **stamp**: `rx_ns = bpf_ktime_get_ns()`, taken for valid adverts only.
//! 3. **follow**: the per-VRID follow filter (`follow.rs`) absorbs an advert equal to
//!    the one the daemon armed, and stops there; anything else goes on.
//! 4. **deliver**: the record goes into the ring buffer (`Accepted`) or is counted
//!    `RingFull`.
//!
//! Every outcome but "not VRRP" bumps one per-CPU counter. A valid advert is dropped
//! once handed over (the daemon is its only consumer on this host); `UnknownVrid`
//! passes on, since another daemon on the host may run that VRID.

use aya_ebpf::{
    bindings::xdp_action,
    helpers::{bpf_ktime_get_ns, generated::bpf_xdp_load_bytes},
    macros::{map, xdp},
    maps::{HashMap, PerCpuArray, RingBuf},
    programs::XdpContext,
};
use vrrp_common::{
    AdvertRecord, Counter, MAX_PEERS, MAX_VRIDS, PeerConfig, PeerKey, RING_BYTES, VridConfig,
    VridKey,
    follow::Seen,
    validate::{Ipv4, Packet, Tables, Verdict, Vrid, classify_frame},
};

#[map(name = "VRIDS")]
static VRIDS: HashMap<VridKey, VridConfig> = HashMap::with_max_entries(MAX_VRIDS, 0);

#[map(name = "PEERS")]
static PEERS: HashMap<PeerKey, PeerConfig> = HashMap::with_max_entries(MAX_PEERS, 0);

#[map(name = "COUNTERS")]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(Counter::COUNT, 0);

#[map(name = "RECORDS")]
pub(crate) static RECORDS: RingBuf = RingBuf::with_byte_size(RING_BYTES, 0);

#[xdp]
pub fn vrrp_xdp(ctx: XdpContext) -> u32 {
    let ifindex = ctx.ingress_ifindex() as u32;
    match classify_frame(&Frame(&ctx), ifindex, &Maps) {
        Verdict::Pass => xdp_action::XDP_PASS,
        Verdict::PassUnknownVrid => {
            bump(Counter::UnknownVrid);
            xdp_action::XDP_PASS
        }
        Verdict::Drop(counter) => {
            bump(counter);
            xdp_action::XDP_DROP
        }
        Verdict::Accept(mut rec) => {
            // SAFETY: plain helper call.
            rec.rx_ns = unsafe { bpf_ktime_get_ns() };
            let key = VridKey::new(rec.ifindex, rec.vrid);
            match crate::follow::filter(&key, &Seen::of(&rec), rec.rx_ns) {
                None => bump(Counter::Accepted),
                Some((seq, followed_rx_ns)) => {
                    rec.seq = seq;
                    rec.followed_rx_ns = followed_rx_ns;
                    bump(deliver(&rec));
                }
            }
            xdp_action::XDP_DROP
        }
    }
}

/// Hands a validated advert to userspace.
#[inline(always)]
fn deliver(rec: &AdvertRecord) -> Counter {
    match RECORDS.output::<AdvertRecord>(rec, 0) {
        Ok(()) => Counter::Accepted,
        Err(_) => Counter::RingFull,
    }
}

#[inline(always)]
fn bump(counter: Counter) {
    if let Some(slot) = COUNTERS.get_ptr_mut(counter as u32) {
        // SAFETY: per-CPU slot, XDP runs with preemption disabled on this CPU.
        unsafe { *slot += 1 };
    }
}

/// The frame, as the validator reads it.
struct Frame<'a>(&'a XdpContext);

impl Packet for Frame<'_> {
    #[inline(always)]
    fn byte_len(&self) -> usize {
        self.0.data_end() - self.0.data()
    }

    /// Direct packet access: the bounds check against `data_end` is the one the
    /// verifier wants to see before the read.
    #[inline(always)]
    fn array<const N: usize>(&self, off: usize) -> Option<[u8; N]> {
        let start = self.0.data() + off;
        if start + N > self.0.data_end() {
            return None;
        }
        // SAFETY: `start..start + N` lies inside the frame, checked just above.
        Some(unsafe { (start as *const [u8; N]).read_unaligned() })
    }

    /// `bpf_xdp_load_bytes` bounds-checks against the frame itself, so variable
    /// offsets (after IP options) and lengths need no proof from the verifier beyond
    /// `buf` being a bounded stack buffer.
    #[inline(always)]
    fn load(&self, off: usize, buf: &mut [u8]) -> bool {
        // SAFETY: `buf` is valid for `buf.len()` bytes of writes.
        unsafe {
            bpf_xdp_load_bytes(
                self.0.ctx,
                off as u32,
                buf.as_mut_ptr().cast(),
                buf.len() as u32,
            ) == 0
        }
    }
}

/// The `VRIDS` and `PEERS` maps, as the validator looks them up.
struct Maps;

impl Tables<Ipv4> for Maps {
    #[inline(always)]
    fn vrid(&self, ifindex: u32, vrid: u8) -> Option<Vrid<[u8; 4]>> {
        // SAFETY: the value is only read, and copied out at once.
        unsafe { VRIDS.get(VridKey::new(ifindex, vrid)) }.map(|c| Vrid::from(*c))
    }

    #[inline(always)]
    fn peer(&self, ifindex: u32, vrid: u8, src: [u8; 4]) -> Option<PeerConfig> {
        // SAFETY: as above.
        unsafe { PEERS.get(PeerKey::new(ifindex, vrid, src)) }.copied()
    }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // SAFETY: the verifier rejects any program with a reachable panic path, and the
    // validator is written without panicking operations (it denies the lints).
    unsafe { core::hint::unreachable_unchecked() }
}

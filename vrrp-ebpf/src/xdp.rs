//! XDP fast path for VRRP adverts.
//!
//! The checks are not here: `vrrp_common::validate` is the one validator, shared with
//! the socket datapath, and this program only gives it the frame ([`Frame`]: direct
//! packet access for the fixed-offset demux, `bpf_xdp_load_bytes` for the rest) and
//! the BPF maps ([`Maps`]). The steps, kept apart on purpose:
//!
//! 1. **classify**: `frame_l3` finds the IP packet by its ethertype, then
//!    `classify_ipv4` or `classify_ipv6` returns pass, a reject reason, or the validated
//!    record. Anything that is not IP protocol 112 passes after a few reads. The IPv6
//!    message and record are built in a per-CPU scratch map (`SCRATCH6`): 720 bytes
//!    that do not fit the BPF stack beside the IPv4 path's.
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
    Counter, MAX_PEERS, MAX_VRIDS, PeerConfig, PeerKey, PeerKey6, RING_BYTES, RecordOf, VridConfig,
    VridConfig6, VridKey, WireAddr,
    follow::Seen,
    validate::{
        Ipv4, Ipv6, L3, Packet, Scratch6, Source, Tables, Verdict, Vrid, classify_ipv4,
        classify_ipv6, frame_l3,
    },
};

#[map(name = "VRIDS")]
static VRIDS: HashMap<VridKey, VridConfig> = HashMap::with_max_entries(MAX_VRIDS, 0);

#[map(name = "PEERS")]
static PEERS: HashMap<PeerKey, PeerConfig> = HashMap::with_max_entries(MAX_PEERS, 0);

#[map(name = "VRIDS6")]
static VRIDS6: HashMap<VridKey, VridConfig6> = HashMap::with_max_entries(MAX_VRIDS, 0);

#[map(name = "PEERS6")]
static PEERS6: HashMap<PeerKey6, PeerConfig> = HashMap::with_max_entries(MAX_PEERS, 0);

/// The IPv6 envelope's working memory (see `Scratch6`): one per CPU, as XDP runs
/// with preemption disabled.
#[map(name = "SCRATCH6")]
static SCRATCH6: PerCpuArray<Scratch6> = PerCpuArray::with_max_entries(1, 0);

#[map(name = "COUNTERS")]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(Counter::COUNT, 0);

#[map(name = "RECORDS")]
pub(crate) static RECORDS: RingBuf = RingBuf::with_byte_size(RING_BYTES, 0);

#[xdp]
pub fn vrrp_xdp(ctx: XdpContext) -> u32 {
    let ifindex = ctx.ingress_ifindex() as u32;
    let frame = Frame(&ctx);
    match frame_l3(&frame) {
        L3::Ipv4(l3) => ipv4(&frame, l3, ifindex),
        L3::Ipv6(l3) => ipv6(&frame, l3, ifindex),
        L3::Other => xdp_action::XDP_PASS,
    }
}

/// The IPv4 path. Each family's path is a BPF-to-BPF call with its own stack frame:
/// the two are never on the stack together, so each may use most of the 512 bytes
/// the verifier allows a call chain.
#[inline(never)]
fn ipv4(frame: &Frame<'_>, l3: usize, ifindex: u32) -> u32 {
    match classify_ipv4(frame, l3, Source::Wire, ifindex, &Maps) {
        Verdict::Accept(mut rec) => accept(&mut rec),
        other => reject(other.counter()),
    }
}

/// The IPv6 path (see `ipv4`).
#[inline(never)]
fn ipv6(frame: &Frame<'_>, l3: usize, ifindex: u32) -> u32 {
    let Some(scratch) = SCRATCH6.get_ptr_mut(0) else {
        return xdp_action::XDP_PASS;
    };
    // SAFETY: this CPU's slot; nothing else runs on it until the program ends.
    let scratch = unsafe { &mut *scratch };
    match classify_ipv6(frame, l3, ifindex, &Maps, scratch) {
        Verdict::Accept(rec) => accept(rec),
        other => reject(other.counter()),
    }
}

/// A valid advert: stamp, follow filter, ring. Dropped either way: the daemon is its
/// only consumer on this host.
#[inline(always)]
fn accept<A: WireAddr>(rec: &mut RecordOf<A>) -> u32 {
    // SAFETY: plain helper call.
    rec.rx_ns = unsafe { bpf_ktime_get_ns() };
    match crate::follow::filter(&rec.key(), &Seen::of(rec), rec.rx_ns) {
        None => bump(Counter::Accepted),
        Some((seq, followed_rx_ns)) => {
            rec.seq = seq;
            rec.followed_rx_ns = followed_rx_ns;
            bump(deliver(rec));
        }
    }
    xdp_action::XDP_DROP
}

/// Not a valid advert: counted (unless not VRRP at all); an unknown VRID and what is
/// not VRRP pass on, the rest is dropped.
#[inline(always)]
fn reject(counter: Option<Counter>) -> u32 {
    match counter {
        None => xdp_action::XDP_PASS,
        Some(Counter::UnknownVrid) => {
            bump(Counter::UnknownVrid);
            xdp_action::XDP_PASS
        }
        Some(c) => {
            bump(c);
            xdp_action::XDP_DROP
        }
    }
}

/// Hands a validated advert to userspace; the record's length tells its family.
#[inline(always)]
fn deliver<A: WireAddr>(rec: &RecordOf<A>) -> Counter {
    match RECORDS.output::<RecordOf<A>>(rec, 0) {
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

impl Tables<Ipv6> for Maps {
    #[inline(always)]
    fn vrid(&self, ifindex: u32, vrid: u8) -> Option<Vrid<[u8; 16]>> {
        // SAFETY: the value is only read, and copied out at once.
        unsafe { VRIDS6.get(VridKey::new6(ifindex, vrid)) }.map(|c| Vrid::from(*c))
    }

    #[inline(always)]
    fn peer(&self, ifindex: u32, vrid: u8, src: [u8; 16]) -> Option<PeerConfig> {
        // SAFETY: as above.
        unsafe { PEERS6.get(PeerKey6::new6(ifindex, vrid, src)) }.copied()
    }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // SAFETY: the verifier rejects any program with a reachable panic path, and the
    // validator is written without panicking operations (it denies the lints).
    unsafe { core::hint::unreachable_unchecked() }
}

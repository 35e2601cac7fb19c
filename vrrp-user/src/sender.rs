//! Sending adverts: raw IPPROTO 112 sockets, the kernel writes the IP header (IPv4 or
//! IPv6; the VRRP checksum, with the family's pseudo-header, is ours). Unicast to each
//! configured peer, or to 224.0.0.18 / ff02::12.
//!
//! A master sends the same advert every interval, and masters with equal intervals
//! advertise in the same wake of the event loop (the core puts their timers on one
//! grid). So the cost is kept to the packets themselves:
//!
//! - each instance's sink keeps its advert encoded (and checksummed) per destination,
//!   and encodes again only when the advert changes (priority, interval, addresses);
//! - the sinks only queue; at the end of the wake the daemon calls [`Outbox::flush`],
//!   which hands every queued copy of one socket to the kernel with one `sendmmsg`;
//! - instances sending from the same interface, source address and TTL share one
//!   socket (the destination is per message: the checksum covers it, so the bytes
//!   are per destination anyway).
//!
//! The outcome of every copy is counted against the instance that queued it: the
//! controller takes each sink's [`SendReport`] after the flush.
//!
//! A socket is bound to its source address and interface (a routed instance's only to
//! its source, usually on `lo`: the FIB then picks the uplink), sends with the configured
//! TTL or hop limit (255 by default, RFC 9568 §5.1.1.3, §5.1.2.3; routed peers see it
//! decremented) and TOS / traffic class 0xC0 (network control), and never receives: a
//! classic BPF filter drops every inbound packet so copies of other routers' adverts
//! do not pile up in its queue. IPv6 multicast adverts leave from the interface's
//! link-local address (RFC 9568 §5.1.2.1), so socket, source and group carry its index
//! as scope.

use crate::sys::setsockopt;
use std::{
    cell::{Cell, RefCell},
    collections::HashMap,
    io,
    mem::size_of,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    rc::{Rc, Weak},
};

use vrrp_core::packet::{self, Advert, ChecksumMode, Endpoints, MULTICAST_V4, MULTICAST_V6};

/// Where adverts of one instance go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destinations {
    /// The peers, of the source's family.
    Unicast(Vec<IpAddr>),
    /// The family's VRRP group.
    Multicast,
}

/// Send-side settings of one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderConfig {
    /// The device the socket is bound to; `None` for a routed instance, whose
    /// adverts leave by whatever uplink the kernel's FIB (and ECMP) picks.
    pub ifname: Option<String>,
    pub source: IpAddr,
    pub destinations: Destinations,
    pub ttl: u8,
    pub checksum: ChecksumMode,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("advert sender socket on {ifname} from {src}: {op}: {err}")]
    Socket {
        ifname: String,
        src: IpAddr,
        op: &'static str,
        err: io::Error,
    },
    #[error("encoding advert: {0}")]
    Encode(#[from] packet::EncodeError),
    #[error("advert from {src} to {dst}: the addresses are of two families")]
    MixedFamilies { src: IpAddr, dst: IpAddr },
    #[error("advert sender: interface {0:?} does not exist")]
    NoInterface(String),
    #[error("sending advert to {dst}: {err}")]
    Send { dst: IpAddr, err: io::Error },
}

/// What [`AdvertSink::send`] did with an advert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// This many copies left now (one per destination).
    Now(usize),
    /// This many copies wait for the next flush; their outcome comes from
    /// [`AdvertSink::take_report`] after it.
    Queued(usize),
}

/// The outcome of queued copies, since the sink was last asked.
#[derive(Debug, Default)]
pub struct SendReport {
    /// Copies the kernel took.
    pub sent: u64,
    /// Copies it refused (one per destination).
    pub failed: u64,
    /// The first refusal's error.
    pub error: Option<SendError>,
}

impl SendReport {
    fn fail(&mut self, err: SendError) {
        self.failed += 1;
        self.error.get_or_insert(err);
    }
}

/// Where the controller's adverts go: the outbox's queue in the daemon, a recorder in
/// the controller's conformance tests.
pub trait AdvertSink {
    /// Sends `advert` to every destination, or queues the copies for the next flush.
    fn send(&mut self, advert: &Advert) -> Result<Sent, SendError>;

    /// The outcome of the copies queued since the last call (flushed or not yet: those
    /// not flushed yet are reported next time). Sinks that send at once have none.
    fn take_report(&mut self) -> SendReport {
        SendReport::default()
    }
}

/// Opens a sink for an instance's send-side settings (the daemon's [`Outbox`]).
pub trait OpenSink {
    fn open(&mut self, config: &SenderConfig) -> Result<Box<dyn AdvertSink>, SendError>;
}

/// What makes two instances' sockets interchangeable.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SocketKey {
    ifname: Option<String>,
    source: IpAddr,
    ttl: u8,
}

/// One raw socket, shared by every sink with its key (and by copies queued on it).
struct RawSocket {
    fd: OwnedFd,
    /// Copies its sinks send per round (one per destination of each), and the send
    /// buffer last sized for them.
    copies: Cell<usize>,
    sized_for: Cell<usize>,
}

/// Send buffer per copy of a round: a small packet's skb takes under 1 KiB of it
/// until the device has sent it; twice that leaves room for a late round.
const SNDBUF_PER_COPY: usize = 2048;

impl RawSocket {
    /// Another sink sends `copies` per round on this socket: grow the send buffer so
    /// that a whole round fits while a real NIC is still sending the previous one
    /// (one socket per instance never needed this; a shared one takes the burst of
    /// every instance at once). SO_SNDBUFFORCE (CAP_NET_ADMIN) passes
    /// net.core.wmem_max; without it SO_SNDBUF is capped there. Best effort: a
    /// buffer too small shows as counted send errors, not as a failure to start.
    fn add_sink(&self, copies: usize) {
        self.copies.set(self.copies.get() + copies);
        let want = self.copies.get();
        if want <= self.sized_for.get() {
            return;
        }
        // Room for twice as many, so a few hundred sinks resize it a few times only.
        // It never shrinks: closed sinks leave it as it was.
        let size = (want * 2).max(64);
        let bytes = i32::try_from(size * SNDBUF_PER_COPY).unwrap_or(i32::MAX);
        if setsockopt(&self.fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, &bytes).is_err() {
            let _ = setsockopt(&self.fd, libc::SOL_SOCKET, libc::SO_SNDBUF, &bytes);
        }
        self.sized_for.set(size);
    }
}

/// A destination as `sendmmsg` takes it.
#[derive(Clone, Copy)]
enum SockAddr {
    V4(libc::sockaddr_in),
    V6(libc::sockaddr_in6),
}

impl SockAddr {
    fn new(a: IpAddr, scope_id: u32) -> SockAddr {
        match a {
            IpAddr::V4(v4) => SockAddr::V4(libc::sockaddr_in {
                sin_family: libc::AF_INET as u16,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.octets()),
                },
                sin_zero: [0; 8],
            }),
            IpAddr::V6(v6) => SockAddr::V6(libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as u16,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.octets(),
                },
                sin6_scope_id: scope_id,
            }),
        }
    }

    fn ip(&self) -> IpAddr {
        match self {
            SockAddr::V4(sa) => IpAddr::V4(Ipv4Addr::from(sa.sin_addr.s_addr.to_ne_bytes())),
            SockAddr::V6(sa) => IpAddr::V6(Ipv6Addr::from(sa.sin6_addr.s6_addr)),
        }
    }

    /// Pointer and length for `msg_name` / `bind`.
    fn raw(&self) -> (*const libc::sockaddr, libc::socklen_t) {
        match self {
            SockAddr::V4(sa) => (
                (sa as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            ),
            SockAddr::V6(sa) => (
                (sa as *const libc::sockaddr_in6).cast(),
                size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            ),
        }
    }
}

/// One copy waiting for the flush.
struct Item {
    dst: SockAddr,
    bytes: Rc<[u8]>,
    report: Rc<RefCell<SendReport>>,
}

/// The copies queued on one socket during this wake.
struct Batch {
    socket: Rc<RawSocket>,
    items: Vec<Item>,
}

#[derive(Default)]
struct Queue {
    batches: Vec<Batch>,
}

impl Queue {
    fn push(&mut self, socket: &Rc<RawSocket>, item: Item) {
        match self
            .batches
            .iter_mut()
            .find(|b| Rc::ptr_eq(&b.socket, socket))
        {
            Some(b) => b.items.push(item),
            None => self.batches.push(Batch {
                socket: socket.clone(),
                items: vec![item],
            }),
        }
    }
}

/// `sendmmsg` takes at most this many messages per call (UIO_MAXIOV).
const MAX_BATCH: usize = 1024;

/// The daemon's sending side: the raw sockets, shared per (interface, source, TTL),
/// and the copies its sinks queued during the current wake of the event loop.
/// Single-threaded, like the event loop that owns it.
#[derive(Default)]
pub struct Outbox {
    sockets: HashMap<SocketKey, Weak<RawSocket>>,
    queue: Rc<RefCell<Queue>>,
    /// Scratch for [`Self::flush`], kept to avoid allocating every wake; empty
    /// between flushes (they hold pointers into the batch being sent).
    iov: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

impl OpenSink for Outbox {
    fn open(&mut self, config: &SenderConfig) -> Result<Box<dyn AdvertSink>, SendError> {
        let socket = self.socket(config)?;
        socket.add_sink(match &config.destinations {
            Destinations::Unicast(v) => v.len(),
            Destinations::Multicast => 1,
        });
        Ok(Box::new(QueuedSink {
            socket,
            config: config.clone(),
            queue: self.queue.clone(),
            encoded: None,
            report: Rc::default(),
        }))
    }
}

impl Outbox {
    pub fn new() -> Outbox {
        Outbox::default()
    }

    /// Open sockets (for tests and the log).
    pub fn sockets(&self) -> usize {
        self.sockets
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }

    /// The socket for `config`'s key: the open one if a sink still uses it.
    fn socket(&mut self, config: &SenderConfig) -> Result<Rc<RawSocket>, SendError> {
        let key = SocketKey {
            ifname: config.ifname.clone(),
            source: config.source,
            ttl: config.ttl,
        };
        if let Some(s) = self.sockets.get(&key).and_then(Weak::upgrade) {
            return Ok(s);
        }
        self.sockets.retain(|_, w| w.strong_count() > 0);
        let socket = Rc::new(RawSocket {
            fd: open_socket(&key)?,
            copies: Cell::new(0),
            sized_for: Cell::new(0),
        });
        self.sockets.insert(key, Rc::downgrade(&socket));
        Ok(socket)
    }

    /// Whether copies wait for [`Self::flush`].
    pub fn is_empty(&self) -> bool {
        self.queue.borrow().batches.is_empty()
    }

    /// Hands every queued copy to the kernel: one `sendmmsg` per socket, another one
    /// after each copy the kernel refuses (the rest of the batch still goes). Each
    /// copy's outcome is added to the report of the sink that queued it. Returns how
    /// many copies left.
    pub fn flush(&mut self) -> usize {
        let batches = std::mem::take(&mut self.queue.borrow_mut().batches);
        let mut sent = 0;
        for batch in &batches {
            sent += self.send_batch(batch);
        }
        // Keep the queue's allocation for the next wake.
        let mut queue = self.queue.borrow_mut();
        if queue.batches.is_empty() {
            queue.batches = batches;
            queue.batches.clear();
        }
        sent
    }

    fn send_batch(&mut self, batch: &Batch) -> usize {
        let items = &batch.items;
        self.iov.clear();
        self.hdrs.clear();
        self.iov.extend(items.iter().map(|it| libc::iovec {
            iov_base: it.bytes.as_ptr().cast_mut().cast(),
            iov_len: it.bytes.len(),
        }));
        for (it, iov) in items.iter().zip(self.iov.iter_mut()) {
            // SAFETY: all-zero is a valid msghdr (null pointers, zero lengths).
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            let (name, namelen) = it.dst.raw();
            msg.msg_name = name.cast_mut().cast();
            msg.msg_namelen = namelen;
            msg.msg_iov = std::ptr::from_mut(iov);
            msg.msg_iovlen = 1;
            self.hdrs.push(libc::mmsghdr {
                msg_hdr: msg,
                msg_len: 0,
            });
        }
        let fd = batch.socket.fd.as_raw_fd();
        let mut sent = 0;
        let mut i = 0;
        while i < items.len() {
            let n = (items.len() - i).min(MAX_BATCH);
            // SAFETY: hdrs[i..i + n] are valid mmsghdrs whose pointers (iovecs, bytes,
            // addresses) live in self.iov and `items`, untouched during the call.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    self.hdrs[i..].as_mut_ptr(),
                    n as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if r > 0 {
                let r = r as usize;
                for it in &items[i..i + r] {
                    it.report.borrow_mut().sent += 1;
                }
                sent += r;
                i += r;
                continue;
            }
            let err = io::Error::last_os_error();
            if r < 0 && err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // The kernel stopped at item i: it is refused, the rest still go.
            let it = &items[i];
            let dst = it.dst.ip();
            it.report.borrow_mut().fail(SendError::Send { dst, err });
            i += 1;
        }
        self.iov.clear();
        self.hdrs.clear();
        sent
    }
}

/// One advert's bytes for each destination (the checksum covers the destination).
type Encoded = Vec<(SockAddr, Rc<[u8]>)>;

/// An instance's sink in the daemon: queues onto the outbox.
struct QueuedSink {
    socket: Rc<RawSocket>,
    config: SenderConfig,
    queue: Rc<RefCell<Queue>>,
    /// The last advert and its encoded bytes per destination: a master sends the
    /// same advert every interval, so it is encoded (and checksummed) only when
    /// its priority, interval or addresses change.
    encoded: Option<(Advert, Encoded)>,
    /// Filled in by the flush.
    report: Rc<RefCell<SendReport>>,
}

impl AdvertSink for QueuedSink {
    fn send(&mut self, advert: &Advert) -> Result<Sent, SendError> {
        if self.encoded.as_ref().is_none_or(|(a, _)| a != advert) {
            self.encoded = Some((advert.clone(), encode(&self.config, advert)?));
        }
        let (_, msgs) = self.encoded.as_ref().expect("just encoded");
        let mut queue = self.queue.borrow_mut();
        for (dst, bytes) in msgs {
            queue.push(
                &self.socket,
                Item {
                    dst: *dst,
                    bytes: bytes.clone(),
                    report: self.report.clone(),
                },
            );
        }
        Ok(Sent::Queued(msgs.len()))
    }

    fn take_report(&mut self) -> SendReport {
        std::mem::take(&mut *self.report.borrow_mut())
    }
}

/// `advert` encoded for each destination of `config`.
fn encode(config: &SenderConfig, advert: &Advert) -> Result<Encoded, SendError> {
    let multicast = match config.source {
        IpAddr::V4(_) => IpAddr::V4(MULTICAST_V4),
        IpAddr::V6(_) => IpAddr::V6(MULTICAST_V6),
    };
    let dsts: Vec<IpAddr> = match &config.destinations {
        Destinations::Unicast(v) => v.clone(),
        Destinations::Multicast => vec![multicast],
    };
    // ff02::12 and a link-local peer are scoped to the advert link.
    let scope = match config.source {
        IpAddr::V6(_) => scope_id(config.ifname.as_deref())?,
        IpAddr::V4(_) => 0,
    };
    dsts.into_iter()
        .map(|dst| {
            let ep = Endpoints::new(config.source, dst).ok_or(SendError::MixedFamilies {
                src: config.source,
                dst,
            })?;
            let scope = if needs_scope(dst) { scope } else { 0 };
            Ok((
                SockAddr::new(dst, scope),
                packet::encode(advert, ep, config.checksum)?.into(),
            ))
        })
        .collect()
}

/// Whether an IPv6 address means something only on one link (link-local unicast, or
/// link-local multicast such as ff02::12).
fn needs_scope(a: IpAddr) -> bool {
    match a {
        IpAddr::V6(v6) => v6.is_unicast_link_local() || v6.segments()[0] & 0xff0f == 0xff02,
        IpAddr::V4(_) => false,
    }
}

/// The index of the advert link, the scope of link-local addresses (0 without one: a
/// routed instance has no link, and its addresses are global).
fn scope_id(ifname: Option<&str>) -> Result<u32, SendError> {
    match ifname {
        None => Ok(0),
        Some(name) => crate::datapath::xdp::ifindex(name)
            .ok_or_else(|| SendError::NoInterface(name.to_string())),
    }
}

/// A raw socket for `key`: bound to the source and the interface, TTL (hop limit)
/// and TOS (traffic class) set, multicast sent from the source's interface,
/// receiving nothing.
fn open_socket(key: &SocketKey) -> Result<OwnedFd, SendError> {
    let fail = |op: &'static str| SendError::Socket {
        ifname: key
            .ifname
            .clone()
            .unwrap_or_else(|| "the routed uplinks".to_string()),
        src: key.source,
        op,
        err: io::Error::last_os_error(),
    };
    let domain = match key.source {
        IpAddr::V4(_) => libc::AF_INET,
        IpAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: plain socket(2), checked.
    let raw = unsafe {
        libc::socket(
            domain,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            i32::from(packet::IPPROTO_VRRP),
        )
    };
    if raw < 0 {
        return Err(fail("socket"));
    }
    // SAFETY: fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    drop_all_inbound(&fd).map_err(|_| fail("SO_ATTACH_FILTER"))?;
    let ttl = i32::from(key.ttl);
    let tos: i32 = 0xc0;
    let off: i32 = 0;
    match key.source {
        IpAddr::V4(_) => {
            setsockopt(&fd, libc::IPPROTO_IP, libc::IP_TTL, &ttl).map_err(|_| fail("IP_TTL"))?;
            setsockopt(&fd, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, &ttl)
                .map_err(|_| fail("IP_MULTICAST_TTL"))?;
            setsockopt(&fd, libc::IPPROTO_IP, libc::IP_TOS, &tos).map_err(|_| fail("IP_TOS"))?;
            setsockopt(&fd, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, &off)
                .map_err(|_| fail("IP_MULTICAST_LOOP"))?;
        }
        IpAddr::V6(_) => {
            setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &ttl)
                .map_err(|_| fail("IPV6_UNICAST_HOPS"))?;
            setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, &ttl)
                .map_err(|_| fail("IPV6_MULTICAST_HOPS"))?;
            setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_TCLASS, &tos)
                .map_err(|_| fail("IPV6_TCLASS"))?;
            setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP, &off)
                .map_err(|_| fail("IPV6_MULTICAST_LOOP"))?;
        }
    }
    if let Some(dev) = &key.ifname {
        let dev = dev.as_bytes();
        // SAFETY: dev points to the name bytes of the given length.
        if unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                dev.as_ptr().cast(),
                dev.len() as libc::socklen_t,
            )
        } != 0
        {
            return Err(fail("SO_BINDTODEVICE"));
        }
    }
    let ifindex = scope_id(key.ifname.as_deref())?;
    let sa = SockAddr::new(
        key.source,
        if needs_scope(key.source) { ifindex } else { 0 },
    );
    let (addr, len) = sa.raw();
    // SAFETY: a valid sockaddr of the socket's family, `len` bytes long.
    if unsafe { libc::bind(fd.as_raw_fd(), addr, len) } != 0 {
        return Err(fail(
            "bind to the source address (is it configured on the interface?)",
        ));
    }
    // Multicast copies leave from the source's interface; unicast ones ignore this,
    // so unicast and multicast instances with one source share the socket.
    match key.source {
        IpAddr::V4(v4) => {
            let mreq = libc::ip_mreqn {
                imr_multiaddr: libc::in_addr { s_addr: 0 },
                imr_address: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.octets()),
                },
                imr_ifindex: 0,
            };
            setsockopt(&fd, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreq)
                .map_err(|_| fail("IP_MULTICAST_IF"))?;
        }
        IpAddr::V6(_) if ifindex != 0 => {
            let index = ifindex as i32;
            setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF, &index)
                .map_err(|_| fail("IPV6_MULTICAST_IF"))?;
        }
        IpAddr::V6(_) => {}
    }
    Ok(fd)
}

/// A one-instruction classic BPF program, `ret #0`: accept nothing.
fn drop_all_inbound(fd: &OwnedFd) -> io::Result<()> {
    let mut insn = [libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: 0,
    }];
    let prog = libc::sock_fprog {
        len: 1,
        filter: insn.as_mut_ptr(),
    };
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)
}

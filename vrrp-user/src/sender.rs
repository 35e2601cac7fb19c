//! Sending adverts: a raw IPPROTO 112 socket per instance, the kernel writes the IP
//! header. Unicast to each configured peer, or to 224.0.0.18.
//!
//! The socket is bound to the instance's source address and interface, sends with TTL
//! 255 by default (RFC 9568 §5.1.1.3; routed peers see it decremented) and TOS 0xC0
//! (network control), and never receives: a classic BPF filter drops every inbound
//! packet so copies of other routers' adverts do not pile up in its queue.

use crate::sys::setsockopt;
use std::{
    io,
    mem::size_of,
    net::{IpAddr, Ipv4Addr},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use vrrp_core::packet::{self, Advert, ChecksumMode, Endpoints, MULTICAST_V4};

/// Where adverts of one instance go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destinations {
    Unicast(Vec<Ipv4Addr>),
    Multicast,
}

/// Send-side settings of one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SenderConfig {
    pub ifname: String,
    pub source: Ipv4Addr,
    pub destinations: Destinations,
    pub ttl: u8,
    pub checksum: ChecksumMode,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("advert sender socket on {ifname} from {src}: {op}: {err}")]
    Socket {
        ifname: String,
        src: Ipv4Addr,
        op: &'static str,
        err: io::Error,
    },
    #[error("encoding advert: {0}")]
    Encode(#[from] packet::EncodeError),
    #[error("sending advert to {dst}: {err}")]
    Send { dst: Ipv4Addr, err: io::Error },
}

/// Where the controller's adverts go: the raw socket in the daemon, a recorder in the
/// controller's conformance tests.
pub trait AdvertSink {
    /// Sends `advert` to every destination; how many copies left.
    fn send(&mut self, advert: &Advert) -> Result<usize, SendError>;
}

/// Opens a sink for an instance's send-side settings (the daemon opens a [`Sender`]).
pub trait OpenSink {
    fn open(&mut self, config: &SenderConfig) -> Result<Box<dyn AdvertSink>, SendError>;
}

/// Opens real raw sockets.
pub struct RawSockets;

impl OpenSink for RawSockets {
    fn open(&mut self, config: &SenderConfig) -> Result<Box<dyn AdvertSink>, SendError> {
        Ok(Box::new(Sender::new(config.clone())?))
    }
}

/// One advert's bytes for each destination (the checksum covers the destination).
type Encoded = Vec<(libc::sockaddr_in, Vec<u8>)>;

pub struct Sender {
    fd: OwnedFd,
    config: SenderConfig,
    /// The last advert and its encoded bytes per destination: a master sends the
    /// same advert every interval, so it is encoded (and checksummed) only when
    /// its priority, interval or addresses change.
    encoded: Option<(Advert, Encoded)>,
}

impl AdvertSink for Sender {
    fn send(&mut self, advert: &Advert) -> Result<usize, SendError> {
        Sender::send(self, advert)
    }
}

impl Sender {
    pub fn new(config: SenderConfig) -> Result<Sender, SendError> {
        let fail = |op: &'static str| SendError::Socket {
            ifname: config.ifname.clone(),
            src: config.source,
            op,
            err: io::Error::last_os_error(),
        };
        // SAFETY: plain socket(2), checked.
        let raw = unsafe {
            libc::socket(
                libc::AF_INET,
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
        let ttl = i32::from(config.ttl);
        setsockopt(&fd, libc::IPPROTO_IP, libc::IP_TTL, &ttl).map_err(|_| fail("IP_TTL"))?;
        setsockopt(&fd, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, &ttl)
            .map_err(|_| fail("IP_MULTICAST_TTL"))?;
        let tos: i32 = 0xc0;
        setsockopt(&fd, libc::IPPROTO_IP, libc::IP_TOS, &tos).map_err(|_| fail("IP_TOS"))?;
        let off: i32 = 0;
        setsockopt(&fd, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, &off)
            .map_err(|_| fail("IP_MULTICAST_LOOP"))?;
        let dev = config.ifname.as_bytes();
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
        let sa = sockaddr(config.source);
        // SAFETY: valid sockaddr_in.
        if unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as u32,
            )
        } != 0
        {
            return Err(fail(
                "bind to the source address (is it configured on the interface?)",
            ));
        }
        if config.destinations == Destinations::Multicast {
            let mreq = libc::ip_mreqn {
                imr_multiaddr: libc::in_addr { s_addr: 0 },
                imr_address: libc::in_addr {
                    s_addr: u32::from_ne_bytes(config.source.octets()),
                },
                imr_ifindex: 0,
            };
            setsockopt(&fd, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreq)
                .map_err(|_| fail("IP_MULTICAST_IF"))?;
        }
        Ok(Sender {
            fd,
            config,
            encoded: None,
        })
    }

    pub fn config(&self) -> &SenderConfig {
        &self.config
    }

    /// Sends `advert` to every destination; returns how many copies left. Stops at the
    /// first hard error, but a peer that is unreachable right now (no route, no ARP
    /// answer) does not keep the others from getting theirs.
    pub fn send(&mut self, advert: &Advert) -> Result<usize, SendError> {
        if self.encoded.as_ref().is_none_or(|(a, _)| a != advert) {
            self.encoded = Some((advert.clone(), self.encode(advert)?));
        }
        let (_, msgs) = self.encoded.as_ref().expect("just encoded");
        let mut sent = 0;
        let mut first_err = None;
        for (sa, msg) in msgs {
            // SAFETY: valid buffer and sockaddr for the call.
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    msg.as_ptr().cast(),
                    msg.len(),
                    libc::MSG_DONTWAIT,
                    (sa as *const libc::sockaddr_in).cast(),
                    size_of::<libc::sockaddr_in>() as u32,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                let dst = Ipv4Addr::from(sa.sin_addr.s_addr.to_ne_bytes());
                first_err.get_or_insert(SendError::Send { dst, err });
            } else {
                sent += 1;
            }
        }
        match (sent, first_err) {
            (0, Some(e)) => Err(e),
            _ => Ok(sent),
        }
    }

    /// `advert` encoded for each destination (the checksum covers the destination).
    fn encode(&self, advert: &Advert) -> Result<Encoded, SendError> {
        let dsts: Vec<Ipv4Addr> = match &self.config.destinations {
            Destinations::Unicast(v) => v.clone(),
            Destinations::Multicast => vec![MULTICAST_V4],
        };
        dsts.into_iter()
            .map(|dst| {
                let ep = Endpoints::new(IpAddr::V4(self.config.source), IpAddr::V4(dst))
                    .expect("both IPv4");
                Ok((
                    sockaddr(dst),
                    packet::encode(advert, ep, self.config.checksum)?,
                ))
            })
            .collect()
    }
}

fn sockaddr(a: Ipv4Addr) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(a.octets()),
        },
        sin_zero: [0; 8],
    }
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

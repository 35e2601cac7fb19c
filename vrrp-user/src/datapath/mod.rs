//! Receive datapaths: the XDP fast path and the raw-socket fallback.
//!
//! Both turn packets on the wire into `Record`s (IPv4 or IPv6) with a kernel receive time, run
//! the same validator (`vrrp_common::validate`), and count rejects by the same reasons.
//! The controller does not know which one it talks to.

pub mod follow;
pub mod loader;
pub mod socket;
pub mod table;
pub mod validate;
pub mod xdp;

use std::{collections::BTreeMap, fmt, io, str::FromStr};

use tracing::warn;
use vrrp_common::{Counter, Record};

pub use table::{DatapathConfig, PeerEntry, PeerEntry6, VridEntry, VridEntry6};

/// The compiled XDP object, embedded at build time by vrrp-user/build.rs.
pub static XDP_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/vrrp-xdp"));

/// Most records one `recv` appends. The rest waits in the ring or the socket for the
/// next call, so a backlog (a busy start-up at 255 instances x 10 ms queued 2048 to
/// 4096 records, 230 to 450 KiB) never grows the caller's buffer beyond 28 KiB.
pub(crate) const MAX_BATCH: usize = 256;

/// Which receive path to run (`datapath = auto|xdp|socket` in the configuration).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// XDP if it loads and attaches, else the socket path with a loud warning.
    #[default]
    Auto,
    /// XDP only; failing to load it is fatal.
    Xdp,
    /// Raw socket receive, no eBPF.
    Socket,
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Mode::Auto),
            "xdp" => Ok(Mode::Xdp),
            "socket" => Ok(Mode::Socket),
            other => Err(format!(
                "unknown datapath {other:?}: expected auto, xdp or socket"
            )),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Auto => "auto",
            Mode::Xdp => "xdp",
            Mode::Socket => "socket",
        })
    }
}

/// Verdict counters summed over CPUs (XDP) or kept by the socket reader.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters(pub BTreeMap<Counter, u64>);

impl Counters {
    pub fn get(&self, c: Counter) -> u64 {
        self.0.get(&c).copied().unwrap_or(0)
    }
}

/// Errors of setting up a datapath; the caller branches on them in `auto` mode.
#[derive(Debug, thiserror::Error)]
pub enum DatapathError {
    /// The message is whole (the loader child sends it as text, sources and verifier
    /// log included), so it is not also a `source`: `{:#}` would print it twice.
    #[error("loading the XDP object: {0}")]
    Load(Box<dyn std::error::Error + Send + Sync>),
    #[error("attaching XDP to {iface} (native and generic mode both failed): {source}")]
    Attach {
        iface: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("writing the {map} map: {source}")]
    Map {
        map: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("unknown interface index {0}")]
    NoSuchInterface(u32),
    #[error("the XDP object has no {0} map (built from another version?)")]
    MissingMap(&'static str),
    #[error("socket datapath: {0}")]
    Socket(#[from] io::Error),
}

/// A running receive path.
pub enum Datapath {
    Xdp(xdp::XdpDatapath),
    Socket(socket::SocketDatapath),
}

impl Datapath {
    /// Starts the path `mode` asks for. `Auto` falls back to sockets, loudly.
    pub fn start(mode: Mode, config: &DatapathConfig) -> Result<Datapath, DatapathError> {
        match mode {
            Mode::Xdp => Ok(Datapath::Xdp(xdp::XdpDatapath::start(config)?)),
            Mode::Socket => Ok(Datapath::Socket(socket::SocketDatapath::start(config)?)),
            Mode::Auto => match xdp::XdpDatapath::start(config) {
                Ok(x) => Ok(Datapath::Xdp(x)),
                Err(err) => {
                    warn!(
                        error = %err,
                        "XDP datapath unavailable, FALLING BACK to the raw-socket datapath \
                         (slower, adverts validated in userspace); set datapath = \"xdp\" to make this fatal"
                    );
                    Ok(Datapath::Socket(socket::SocketDatapath::start(config)?))
                }
            },
        }
    }

    pub fn mode(&self) -> Mode {
        match self {
            Datapath::Xdp(_) => Mode::Xdp,
            Datapath::Socket(_) => Mode::Socket,
        }
    }

    /// Waits for at least one valid advert and appends every ready one to `out`.
    pub async fn recv(&mut self, out: &mut Vec<Record>) -> io::Result<()> {
        match self {
            Datapath::Xdp(x) => x.recv(out).await,
            Datapath::Socket(s) => s.recv(out).await,
        }
    }

    /// Replaces the VRID/peer tables (on reload) without dropping the datapath.
    pub fn update(&mut self, config: &DatapathConfig) -> Result<(), DatapathError> {
        match self {
            Datapath::Xdp(x) => x.update(config),
            Datapath::Socket(s) => s.update(config),
        }
    }

    pub fn counters(&self) -> Counters {
        match self {
            Datapath::Xdp(x) => x.counters(),
            Datapath::Socket(s) => s.counters(),
        }
    }

    /// The follow filter's table, for the controller (the XDP maps can be taken once).
    pub fn follow_table(&mut self) -> Box<dyn follow::FollowTable> {
        match self {
            Datapath::Xdp(x) => match x.take_follow() {
                Some(t) => t,
                None => Box::new(follow::NoFollow),
            },
            Datapath::Socket(s) => Box::new(s.follow.clone()),
        }
    }
}

/// Registers a descriptor-owning object with the tokio reactor for readability.
///
/// Callers pass objects (sockets, aya's ring buffer) that own their descriptor and keep
/// it open and unchanged until dropped, which is what `AsyncFd::register` requires.
pub(crate) fn register_readable<T: std::os::fd::AsRawFd>(
    inner: T,
) -> io::Result<tokio::io::unix::AsyncFd<T>> {
    // SAFETY: see above; every `T` used here owns its descriptor for its whole life.
    unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(inner, tokio::io::Interest::READABLE)
    }
    .map_err(|e| e.into_parts().1)
}

/// CLOCK_MONOTONIC now, in nanoseconds: the clock of `bpf_ktime_get_ns` and of the
/// records' `rx_ns`.
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

pub(crate) fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec; the clocks used always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

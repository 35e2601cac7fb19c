//! Kernel-state driver: VIPs, routes, link, address and route events, and neighbour
//! announcements (gratuitous ARP, unsolicited NA).
//!
//! Everything this module puts into the kernel carries the daemon's protocol
//! number (`IFA_PROTO` on addresses, `rtm_protocol` on routes), so that a
//! restarted daemon finds and removes what a crashed one left behind
//! ([`Netlink::cleanup_ours`]), and a routing daemon can select our routes
//! (BIRD `krt_source`, FRR `redistribute`).
//!
//! Every socket belongs to the network namespace of the thread that opened it:
//! create [`Netlink`] and [`Watch`] from the thread (or current-thread runtime)
//! that lives in the namespace to be driven.

mod addr;
mod announce;
mod arp;
mod cleanup;
mod error;
mod link;
mod nd;
mod route;
mod route_watch;
mod watch;

use std::io;

use futures::StreamExt;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use tokio::task::JoinHandle;

pub use addr::{AddrInfo, Lease, Scope, VipSpec};
pub use announce::announce;
pub use arp::{ArpOp, send_garp};
pub use cleanup::Cleanup;
pub use error::{NetlinkError, Op};
pub use link::{Iface, LinkState, OperState};
pub use nd::send_unsolicited_na;
pub use route::{MAIN_TABLE, RouteInfo, RouteSpec};
pub use route_watch::{RouteEvent, RouteWatch};
pub use watch::{KernelEvent, Watch};

/// Protocol number that marks our addresses and routes unless configured
/// otherwise (252 is unassigned in `/etc/iproute2/rt_protos`).
pub const DEFAULT_PROTO: u8 = 252;

/// Suffix of the IPv4 label that marks our addresses on kernels without
/// `IFA_PROTO` (before 5.18): `lo:vrrp`.
pub const FALLBACK_LABEL_SUFFIX: &str = "vrrp";

/// Outcome of a single announcement send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Sent,
    /// The interface has no Ethernet link layer (e.g. `lo`): nobody to tell.
    NotEthernet,
}

/// A connection to the kernel's routing netlink in the current namespace.
///
/// Cheap to share behind an `Arc`; requests from several tasks are
/// multiplexed on one socket.
pub struct Netlink {
    handle: rtnetlink::Handle,
    conn: JoinHandle<()>,
    label_marker: bool,
}

impl Netlink {
    /// Opens the socket and spawns its I/O task on the current tokio runtime
    /// (panics outside one, like `tokio::spawn`).
    pub fn new() -> Result<Netlink, NetlinkError> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(NetlinkError::Socket)?;
        let label_marker = !addr::kernel_has_ifa_proto();
        if label_marker {
            tracing::warn!(
                "kernel predates IFA_PROTO (5.18): IPv4 VIPs without a label are marked with \
                 the label <ifname>:{FALLBACK_LABEL_SUFFIX}, IPv6 VIPs cannot be marked"
            );
        }
        Ok(Netlink {
            handle,
            conn: tokio::spawn(conn),
            label_marker,
        })
    }

    /// Forces (or disables) the label fallback marker; normally chosen from
    /// the kernel version.
    pub fn set_label_marker(&mut self, on: bool) {
        self.label_marker = on;
    }

    /// Sends one request and collects the answers; a kernel NACK becomes its
    /// errno.
    async fn request(
        &self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = flags;
        let closed = || io::Error::new(io::ErrorKind::BrokenPipe, "netlink connection closed");
        let mut answers = self.handle.clone().request(req).map_err(|_| closed())?;
        let mut out = Vec::new();
        while let Some(m) = answers.next().await {
            match m.payload {
                NetlinkPayload::InnerMessage(inner) => out.push(inner),
                NetlinkPayload::Error(e) if e.code.is_some() => return Err(e.to_io()),
                _ => {}
            }
        }
        Ok(out)
    }
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

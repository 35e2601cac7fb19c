//! Route changes for the route trackers (`RTNLGRP_IPV4_ROUTE`, `RTNLGRP_IPV6_ROUTE`),
//! and the link and address changes that remove routes without a word: the kernel
//! flushes an interface's IPv4 routes when it goes down, and the routes of an address
//! when it is deleted, and sends no RTM_DELROUTE for them (a route tracker that only
//! listened to route notifications kept a route that was gone, seen in the lab). Kept
//! apart from [`super::Watch`]: a routing daemon's churn (a full BGP table arriving)
//! must never queue ahead of the daemon's own link and address events.

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use rtnetlink::MulticastGroup;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::SocketAddr;
use tokio::task::JoinHandle;

use super::{NetlinkError, Op, RouteInfo};

/// One route event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteEvent {
    /// A route was added, replaced or deleted: the one it names, as reported.
    Changed(RouteInfo),
    /// A link or an address changed: routes may have gone silently, re-read them.
    LinkOrAddress,
    /// The socket buffer overflowed and events were lost: re-read the routes.
    Overrun,
}

/// A subscription to route changes in the current namespace.
pub struct RouteWatch {
    messages: UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>,
    conn: JoinHandle<()>,
}

impl RouteWatch {
    /// Subscribes; spawns the socket's I/O task on the current tokio runtime
    /// (panics outside one).
    pub fn new() -> Result<RouteWatch, NetlinkError> {
        let groups = [
            MulticastGroup::Ipv4Route,
            MulticastGroup::Ipv6Route,
            MulticastGroup::Link,
            MulticastGroup::Ipv4Ifaddr,
            MulticastGroup::Ipv6Ifaddr,
        ];
        let (conn, _handle, messages) = rtnetlink::new_multicast_connection(&groups)
            .map_err(|e| NetlinkError::kernel(Op::Watch, "routes", "all interfaces", e))?;
        Ok(RouteWatch {
            messages,
            conn: tokio::spawn(conn),
        })
    }

    /// The next event; `None` once the socket has failed (make a new watch).
    /// Cancel-safe, for use in `tokio::select!`.
    pub async fn next(&mut self) -> Option<RouteEvent> {
        loop {
            let (msg, _) = self.messages.next().await?;
            if let Some(ev) = translate(msg) {
                return Some(ev);
            }
        }
    }

    /// An event already queued, without waiting: lets a burst be taken whole before
    /// the routes are read once.
    pub fn try_next(&mut self) -> Option<RouteEvent> {
        loop {
            let (msg, _) = self.messages.try_recv().ok()?;
            if let Some(ev) = translate(msg) {
                return Some(ev);
            }
        }
    }
}

fn translate(msg: NetlinkMessage<RouteNetlinkMessage>) -> Option<RouteEvent> {
    match msg.payload {
        NetlinkPayload::Overrun(_) => Some(RouteEvent::Overrun),
        NetlinkPayload::InnerMessage(
            RouteNetlinkMessage::NewRoute(r) | RouteNetlinkMessage::DelRoute(r),
        ) => RouteInfo::from_message(&r).map(RouteEvent::Changed),
        NetlinkPayload::InnerMessage(
            RouteNetlinkMessage::NewLink(_)
            | RouteNetlinkMessage::DelLink(_)
            | RouteNetlinkMessage::NewAddress(_)
            | RouteNetlinkMessage::DelAddress(_),
        ) => Some(RouteEvent::LinkOrAddress),
        _ => None,
    }
}

impl Drop for RouteWatch {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

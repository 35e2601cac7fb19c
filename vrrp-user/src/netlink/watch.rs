//! Kernel events the daemon reacts to at once: a link going down or up, and
//! an address (our VIP) added or removed behind our back.

use std::collections::HashMap;

use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use rtnetlink::MulticastGroup;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::SocketAddr;
use tokio::task::JoinHandle;

use super::{AddrInfo, LinkState, NetlinkError, Op};

/// One kernel event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelEvent {
    /// A link became usable or unusable ([`LinkState::is_up`] changed), or
    /// was seen for the first time by this watch.
    Link(LinkState),
    LinkRemoved {
        ifindex: u32,
        name: String,
    },
    /// Also reported when an address's lifetime is refreshed.
    AddrAdded(AddrInfo),
    AddrRemoved(AddrInfo),
    /// The socket buffer overflowed and events were lost: re-read the state
    /// ([`super::Netlink::link_state`], [`super::Netlink::addrs`]).
    Overrun,
}

/// A subscription to `RTNLGRP_LINK`, `RTNLGRP_IPV4_IFADDR` and
/// `RTNLGRP_IPV6_IFADDR` in the current namespace.
pub struct Watch {
    messages: UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>,
    conn: JoinHandle<()>,
    /// Last reported usability per ifindex, to report changes only.
    up: HashMap<u32, bool>,
}

impl Watch {
    /// Subscribes; spawns the socket's I/O task on the current tokio runtime
    /// (panics outside one).
    pub fn new() -> Result<Watch, NetlinkError> {
        let groups = [
            MulticastGroup::Link,
            MulticastGroup::Ipv4Ifaddr,
            MulticastGroup::Ipv6Ifaddr,
        ];
        let (conn, _handle, messages) = rtnetlink::new_multicast_connection(&groups)
            .map_err(|e| NetlinkError::kernel(Op::Watch, "", "all interfaces", e))?;
        Ok(Watch {
            messages,
            conn: tokio::spawn(conn),
            up: HashMap::new(),
        })
    }

    /// The next event; `None` once the socket has failed (make a new watch).
    /// Cancel-safe, for use in `tokio::select!`.
    pub async fn next(&mut self) -> Option<KernelEvent> {
        loop {
            let (msg, _) = self.messages.next().await?;
            if let Some(ev) = self.translate(msg) {
                return Some(ev);
            }
        }
    }

    fn translate(&mut self, msg: NetlinkMessage<RouteNetlinkMessage>) -> Option<KernelEvent> {
        let inner = match msg.payload {
            NetlinkPayload::InnerMessage(m) => m,
            NetlinkPayload::Overrun(_) => {
                tracing::warn!("netlink event socket overran: link/address events lost");
                self.up.clear();
                return Some(KernelEvent::Overrun);
            }
            _ => return None,
        };
        match inner {
            RouteNetlinkMessage::NewLink(l) => {
                let state = LinkState::from_message(&l);
                let changed = self.up.insert(state.ifindex, state.is_up()) != Some(state.is_up());
                changed.then_some(KernelEvent::Link(state))
            }
            RouteNetlinkMessage::DelLink(l) => {
                let state = LinkState::from_message(&l);
                self.up.remove(&state.ifindex);
                Some(KernelEvent::LinkRemoved {
                    ifindex: state.ifindex,
                    name: state.name,
                })
            }
            RouteNetlinkMessage::NewAddress(a) => {
                AddrInfo::from_message(&a).map(KernelEvent::AddrAdded)
            }
            RouteNetlinkMessage::DelAddress(a) => {
                AddrInfo::from_message(&a).map(KernelEvent::AddrRemoved)
            }
            _ => None,
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

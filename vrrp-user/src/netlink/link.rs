//! Interfaces: resolving a name or index, and a link's state snapshot.

use std::fmt;

use rtnetlink::packet_core::NLM_F_REQUEST;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage, State};

use super::{Netlink, NetlinkError, Op};

/// An interface, by index or by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Iface {
    Index(u32),
    Name(String),
}

impl fmt::Display for Iface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Iface::Index(i) => write!(f, "ifindex {i}"),
            Iface::Name(n) => f.write_str(n),
        }
    }
}

impl From<u32> for Iface {
    fn from(i: u32) -> Self {
        Iface::Index(i)
    }
}

impl From<&str> for Iface {
    fn from(n: &str) -> Self {
        Iface::Name(n.to_string())
    }
}

/// RFC 2863 operational state, as the kernel reports it (`IFLA_OPERSTATE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperState {
    Unknown,
    NotPresent,
    Down,
    LowerLayerDown,
    Testing,
    Dormant,
    Up,
    Other(u8),
}

impl From<State> for OperState {
    fn from(s: State) -> Self {
        match s {
            State::Unknown => OperState::Unknown,
            State::NotPresent => OperState::NotPresent,
            State::Down => OperState::Down,
            State::LowerLayerDown => OperState::LowerLayerDown,
            State::Testing => OperState::Testing,
            State::Dormant => OperState::Dormant,
            State::Up => OperState::Up,
            other => OperState::Other(u8::from(other)),
        }
    }
}

/// A snapshot of one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkState {
    pub ifindex: u32,
    pub name: String,
    /// `IFF_UP`: administratively up.
    pub admin_up: bool,
    /// `IFF_RUNNING`: operationally up (oper state up or unknown, as on `lo`).
    pub running: bool,
    /// `IFF_LOWER_UP`: carrier.
    pub lower_up: bool,
    pub oper: OperState,
    pub loopback: bool,
    /// Hardware address when it is a 6-byte MAC.
    pub mac: Option<[u8; 6]>,
}

impl LinkState {
    /// Whether VRRP can use the link: up by the admin and by the kernel
    /// (`IFF_RUNNING` already accounts for carrier and oper state).
    pub fn is_up(&self) -> bool {
        self.admin_up && self.running
    }

    pub(crate) fn from_message(msg: &LinkMessage) -> LinkState {
        let flags = msg.header.flags;
        let mut state = LinkState {
            ifindex: msg.header.index,
            name: String::new(),
            admin_up: flags.contains(LinkFlags::Up),
            running: flags.contains(LinkFlags::Running),
            lower_up: flags.contains(LinkFlags::LowerUp),
            oper: OperState::Unknown,
            loopback: flags.contains(LinkFlags::Loopback),
            mac: None,
        };
        for a in &msg.attributes {
            match a {
                LinkAttribute::IfName(n) => state.name = n.clone(),
                LinkAttribute::OperState(s) => state.oper = (*s).into(),
                LinkAttribute::Address(a) => state.mac = <[u8; 6]>::try_from(a.as_slice()).ok(),
                _ => {}
            }
        }
        state
    }
}

impl Netlink {
    /// The current state of one link (`ip link show dev X`).
    pub async fn link_state(&self, iface: impl Into<Iface>) -> Result<LinkState, NetlinkError> {
        let iface = iface.into();
        self.get_link(&iface, Op::GetLink, "state").await
    }

    /// Looks a link up for `op` on `target`; a missing link is
    /// [`NetlinkError::NoInterface`].
    pub(crate) async fn get_link(
        &self,
        iface: &Iface,
        op: Op,
        target: &str,
    ) -> Result<LinkState, NetlinkError> {
        let mut msg = LinkMessage::default();
        match iface {
            Iface::Index(i) => msg.header.index = *i,
            Iface::Name(n) => msg.attributes.push(LinkAttribute::IfName(n.clone())),
        }
        let answers = self
            .request(RouteNetlinkMessage::GetLink(msg), NLM_F_REQUEST)
            .await
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENODEV) => NetlinkError::NoInterface {
                    op,
                    target: target.to_string(),
                    iface: iface.to_string(),
                },
                _ => NetlinkError::kernel(op, target, iface, e),
            })?;
        answers
            .iter()
            .find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(LinkState::from_message(l)),
                _ => None,
            })
            .ok_or_else(|| {
                NetlinkError::kernel(
                    op,
                    target,
                    iface,
                    std::io::Error::other("kernel sent no link in its answer"),
                )
            })
    }
}

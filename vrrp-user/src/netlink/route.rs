//! Routes installed while master, marked with our protocol number so that a
//! routing daemon exports exactly them and a restart can find leftovers.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use rtnetlink::packet_core::{NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REPLACE, NLM_F_REQUEST};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteNextHopFlags,
    RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};

use super::addr::describe;
use super::{DEFAULT_PROTO, Iface, Netlink, NetlinkError, Op};

/// The main routing table.
pub const MAIN_TABLE: u32 = RouteHeader::RT_TABLE_MAIN as u32;

/// A route to install while master.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteSpec {
    /// Destination; host bits must be zero.
    pub dst: IpNet,
    pub via: Option<IpAddr>,
    pub dev: Option<Iface>,
    pub table: u32,
    /// 0 lets the kernel choose (0 for IPv4, 1024 for IPv6).
    pub metric: u32,
    pub proto: u8,
}

impl RouteSpec {
    /// A route in the main table, marked with [`DEFAULT_PROTO`]; set `via`
    /// and/or `dev` before use.
    pub fn new(dst: IpNet) -> RouteSpec {
        RouteSpec {
            dst,
            via: None,
            dev: None,
            table: MAIN_TABLE,
            metric: 0,
            proto: DEFAULT_PROTO,
        }
    }
}

impl fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.dst)?;
        if let Some(v) = self.via {
            write!(f, " via {v}")?;
        }
        if let Some(d) = &self.dev {
            write!(f, " dev {d}")?;
        }
        write!(
            f,
            " table {} metric {} proto {}",
            self.table, self.metric, self.proto
        )
    }
}

/// A route as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub dst: IpNet,
    pub via: Option<IpAddr>,
    pub oif: Option<u32>,
    pub table: u32,
    pub metric: Option<u32>,
    pub proto: u8,
    /// A forwarding route (`RTN_UNICAST`), not a blackhole, unreachable, local or
    /// broadcast one.
    pub unicast: bool,
    /// Next hops the kernel can use: the entries of `RTA_MULTIPATH`, else one,
    /// leaving out those flagged dead or link-down. Routes that use a nexthop
    /// object also carry it expanded (`nexthop_compat_mode`, on by default).
    pub nexthops: u16,
}

impl fmt::Display for RouteInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.dst)?;
        if let Some(v) = self.via {
            write!(f, " via {v}")?;
        }
        if let Some(o) = self.oif {
            write!(f, " oif {o}")?;
        }
        write!(f, " table {}", self.table)?;
        if let Some(m) = self.metric {
            write!(f, " metric {m}")?;
        }
        write!(f, " proto {}", self.proto)
    }
}

impl RouteInfo {
    pub(super) fn from_message(m: &RouteMessage) -> Option<RouteInfo> {
        if !matches!(
            m.header.address_family,
            AddressFamily::Inet | AddressFamily::Inet6
        ) {
            return None;
        }
        let (mut dst, mut via, mut oif, mut metric) = (None, None, None, None);
        let mut table = u32::from(m.header.table);
        let unusable = RouteFlags::Dead | RouteFlags::Linkdown;
        let mut nexthops = u16::from(!m.header.flags.intersects(unusable));
        for a in &m.attributes {
            match a {
                RouteAttribute::Destination(d) => dst = ip_of(d),
                RouteAttribute::Gateway(g) => via = ip_of(g),
                RouteAttribute::Oif(o) => oif = Some(*o),
                RouteAttribute::Priority(p) => metric = Some(*p),
                RouteAttribute::Table(t) => table = *t,
                RouteAttribute::MultiPath(hops) => {
                    let dead = RouteNextHopFlags::Dead | RouteNextHopFlags::Linkdown;
                    let live = hops.iter().filter(|h| !h.flags.intersects(dead)).count();
                    nexthops = u16::try_from(live).unwrap_or(u16::MAX);
                }
                _ => {}
            }
        }
        // No RTA_DST is the default route.
        let dst = dst.unwrap_or(match m.header.address_family {
            AddressFamily::Inet => IpAddr::from([0u8; 4]),
            _ => IpAddr::from([0u8; 16]),
        });
        Some(RouteInfo {
            dst: IpNet::new(dst, m.header.destination_prefix_length).ok()?,
            via,
            oif,
            table,
            metric,
            proto: m.header.protocol.into(),
            unicast: m.header.kind == RouteType::Unicast,
            nexthops,
        })
    }
}

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some((*v4).into()),
        RouteAddress::Inet6(v6) => Some((*v6).into()),
        _ => None,
    }
}

impl Netlink {
    /// Installs (or replaces) a route; adding it twice is fine.
    pub async fn add_route(&self, r: &RouteSpec) -> Result<(), NetlinkError> {
        let (oif, iface) = self
            .route_dev(r, Op::AddRoute)
            .await?
            .unwrap_or((None, "-".into()));
        if r.via.is_none() && oif.is_none() {
            return Err(NetlinkError::invalid(
                Op::AddRoute,
                r,
                iface,
                "needs via, dev, or both",
            ));
        }
        let mut m = route_message(r.dst, r.table, r.proto, r.via, oif, r.metric);
        m.header.kind = RouteType::Unicast;
        m.header.scope = if r.via.is_some() {
            RouteScope::Universe
        } else {
            RouteScope::Link
        };
        self.request(
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
        )
        .await
        .map_err(|e| NetlinkError::kernel(Op::AddRoute, r, &iface, e))?;
        tracing::debug!(route = %r, "route added");
        Ok(())
    }

    /// Removes a route of ours (only one carrying `r.proto`). Returns whether
    /// it was there: a missing route or interface is not an error.
    pub async fn del_route(&self, r: &RouteSpec) -> Result<bool, NetlinkError> {
        let Some((oif, iface)) = self.route_dev(r, Op::DelRoute).await? else {
            return Ok(false);
        };
        let m = route_message(r.dst, r.table, r.proto, r.via, oif, r.metric);
        let removed = self.del_route_message(m, &r.to_string(), &iface).await?;
        if removed {
            tracing::debug!(route = %r, "route removed");
        }
        Ok(removed)
    }

    /// Every IPv4 and IPv6 route in every table (`ip route show table all`).
    pub async fn routes(&self) -> Result<Vec<RouteInfo>, NetlinkError> {
        let answers = self
            .request(
                RouteNetlinkMessage::GetRoute(RouteMessage::default()),
                NLM_F_REQUEST | NLM_F_DUMP,
            )
            .await
            .map_err(|e| NetlinkError::kernel(Op::ListRoutes, "", "all interfaces", e))?;
        Ok(answers
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => RouteInfo::from_message(r),
                _ => None,
            })
            .collect())
    }

    /// The route the kernel would send a packet from `src` to `dst` by (`ip route get
    /// DST from SRC`), or `None` when it has none (unreachable, blackhole, prohibited).
    pub async fn route_get(
        &self,
        dst: IpAddr,
        src: Option<IpAddr>,
    ) -> Result<Option<RouteInfo>, NetlinkError> {
        let mut m = RouteMessage::default();
        let (family, len) = match dst {
            IpAddr::V4(_) => (AddressFamily::Inet, 32),
            IpAddr::V6(_) => (AddressFamily::Inet6, 128),
        };
        m.header.address_family = family;
        m.header.destination_prefix_length = len;
        m.attributes.push(RouteAttribute::Destination(dst.into()));
        if let Some(s) = src {
            m.header.source_prefix_length = len;
            m.attributes.push(RouteAttribute::Source(s.into()));
        }
        match self
            .request(RouteNetlinkMessage::GetRoute(m), NLM_F_REQUEST)
            .await
        {
            Ok(answers) => Ok(answers.iter().find_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => RouteInfo::from_message(r),
                _ => None,
            })),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENETUNREACH | libc::EHOSTUNREACH | libc::EINVAL | libc::EACCES)
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(NetlinkError::kernel(
                Op::LookupRoute,
                dst.to_string(),
                "-",
                e,
            )),
        }
    }

    /// Removes the route described by `info` (from [`Netlink::routes`]).
    pub(crate) async fn del_route_info(&self, info: &RouteInfo) -> Result<bool, NetlinkError> {
        let m = route_message(
            info.dst,
            info.table,
            info.proto,
            info.via,
            info.oif,
            info.metric.unwrap_or(0),
        );
        let iface = info.oif.map_or("-".to_string(), |o| format!("ifindex {o}"));
        self.del_route_message(m, &info.to_string(), &iface).await
    }

    async fn del_route_message(
        &self,
        mut m: RouteMessage,
        target: &str,
        iface: &str,
    ) -> Result<bool, NetlinkError> {
        // Any scope matches (like `ip route del`); protocol, table, metric,
        // gateway and device given narrow the match.
        m.header.scope = RouteScope::NoWhere;
        match self
            .request(RouteNetlinkMessage::DelRoute(m), NLM_F_REQUEST | NLM_F_ACK)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ESRCH | libc::ENOENT)) => Ok(false),
            Err(e) => Err(NetlinkError::kernel(Op::DelRoute, target, iface, e)),
        }
    }

    /// Resolves `r.dev`: `Ok(None)` when the device is gone (only for
    /// removal), otherwise its index and description.
    async fn route_dev(
        &self,
        r: &RouteSpec,
        op: Op,
    ) -> Result<Option<(Option<u32>, String)>, NetlinkError> {
        let Some(dev) = &r.dev else {
            return Ok(Some((None, "-".into())));
        };
        match self.get_link(dev, op, &r.to_string()).await {
            Ok(l) => Ok(Some((Some(l.ifindex), describe(&l)))),
            Err(NetlinkError::NoInterface { .. }) if op == Op::DelRoute => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn route_message(
    dst: IpNet,
    table: u32,
    proto: u8,
    via: Option<IpAddr>,
    oif: Option<u32>,
    metric: u32,
) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = match dst {
        IpNet::V4(_) => AddressFamily::Inet,
        IpNet::V6(_) => AddressFamily::Inet6,
    };
    m.header.destination_prefix_length = dst.prefix_len();
    // Tables above 255 only fit in RTA_TABLE (as iproute2 does it).
    m.header.table = u8::try_from(table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC);
    m.header.protocol = RouteProtocol::from(proto);
    m.attributes.push(RouteAttribute::Table(table));
    if dst.prefix_len() > 0 {
        m.attributes
            .push(RouteAttribute::Destination(dst.addr().into()));
    }
    if let Some(v) = via {
        m.attributes.push(RouteAttribute::Gateway(v.into()));
    }
    if let Some(o) = oif {
        m.attributes.push(RouteAttribute::Oif(o));
    }
    if metric != 0 {
        m.attributes.push(RouteAttribute::Priority(metric));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_route::route::RouteNextHop;

    #[test]
    fn message_round_trips_through_info() {
        let mut m = route_message(
            "10.9.0.0/16".parse().unwrap(),
            1000,
            252,
            Some("10.1.1.1".parse().unwrap()),
            Some(3),
            50,
        );
        assert_eq!(m.header.table, 0, "tables above 255 go in RTA_TABLE only");
        m.header.kind = RouteType::Unicast;
        let info = RouteInfo::from_message(&m).unwrap();
        assert_eq!(
            info,
            RouteInfo {
                dst: "10.9.0.0/16".parse().unwrap(),
                via: Some("10.1.1.1".parse().unwrap()),
                oif: Some(3),
                table: 1000,
                metric: Some(50),
                proto: 252,
                unicast: true,
                nexthops: 1,
            }
        );
    }

    #[test]
    fn next_hops_leave_out_dead_ones() {
        let mut m = route_message("0.0.0.0/0".parse().unwrap(), 254, 186, None, None, 0);
        m.header.kind = RouteType::Unicast;
        let hop = |flags| {
            let mut h = RouteNextHop::default();
            h.flags = flags;
            h.interface_index = 2;
            h
        };
        m.attributes.push(RouteAttribute::MultiPath(vec![
            hop(RouteNextHopFlags::empty()),
            hop(RouteNextHopFlags::Linkdown),
            hop(RouteNextHopFlags::empty()),
        ]));
        let info = RouteInfo::from_message(&m).unwrap();
        assert_eq!((info.nexthops, info.unicast, info.proto), (2, true, 186));
        let mut dead = route_message("10.0.0.0/8".parse().unwrap(), 254, 4, None, Some(2), 0);
        dead.header.flags = RouteFlags::Linkdown;
        assert_eq!(RouteInfo::from_message(&dead).unwrap().nexthops, 0);
    }

    #[test]
    fn default_route_has_no_destination_attribute() {
        let m = route_message("::/0".parse().unwrap(), 254, 252, None, Some(2), 0);
        assert!(
            !m.attributes
                .iter()
                .any(|a| matches!(a, RouteAttribute::Destination(_)))
        );
        assert_eq!(
            RouteInfo::from_message(&m).unwrap().dst,
            "::/0".parse::<IpNet>().unwrap()
        );
    }
}

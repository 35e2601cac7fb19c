//! Crash safety: at start, remove whatever a previous instance of the daemon
//! left in the kernel, recognised by our protocol mark.

use super::addr::AddrInfo;
use super::route::RouteInfo;
use super::{Netlink, NetlinkError, Op};

/// What [`Netlink::cleanup_ours`] removed, for the start-up log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cleanup {
    pub addrs: Vec<AddrInfo>,
    pub routes: Vec<RouteInfo>,
}

impl Netlink {
    /// Removes every address and route in the namespace that carries
    /// protocol `proto` (and, on kernels without `IFA_PROTO`, every IPv4
    /// address with the fallback label).
    ///
    /// Protocols 0-4 (unspec, redirect, kernel, boot, static) belong to the
    /// kernel and the admin, so they are refused.
    pub async fn cleanup_ours(&self, proto: u8) -> Result<Cleanup, NetlinkError> {
        if proto <= 4 {
            return Err(NetlinkError::invalid(
                Op::Cleanup,
                format!("proto {proto}"),
                "all interfaces",
                "protocols 0-4 are the kernel's and the admin's, not ours",
            ));
        }
        let mut done = Cleanup::default();
        // Routes first: removing an address also drops routes through it,
        // and those would then be reported as missing.
        for r in self.routes().await? {
            if r.proto == proto && self.del_route_info(&r).await? {
                tracing::info!(route = %r, "removed a leftover route of ours");
                done.routes.push(r);
            }
        }
        for m in self.addr_messages().await? {
            let Some(a) = AddrInfo::from_message(&m) else {
                continue;
            };
            if !a.is_ours(proto, self.label_marker) {
                continue;
            }
            let iface = format!("ifindex {}", a.ifindex);
            if self
                .del_address(m, Op::DelAddr, &a.addr.to_string(), &iface)
                .await?
            {
                tracing::info!(addr = %a.addr, ifindex = a.ifindex, "removed a leftover VIP of ours");
                done.addrs.push(a);
            }
        }
        Ok(done)
    }
}

//! VIPs: addresses added and removed with our protocol mark (`IFA_PROTO`),
//! optionally leased (`IFA_CACHEINFO` lifetimes) so that the VIP of a killed
//! daemon expires by itself instead of lingering as a duplicate.

use std::ffi::CStr;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use rtnetlink::packet_core::{NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REPLACE, NLM_F_REQUEST};
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressProtocol,
    AddressScope, CacheInfo,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{DEFAULT_PROTO, FALLBACK_LABEL_SUFFIX, Iface, LinkState, Netlink, NetlinkError, Op};
use crate::datapath::xdp::{ifindex, ifname};

/// Longest interface name or label the kernel accepts (IFNAMSIZ - 1).
const MAX_LABEL: usize = 15;

/// Address scope, as `ip addr ... scope` (and `scope = "..."` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    #[default]
    Global,
    Site,
    Link,
    Host,
}

impl From<Scope> for AddressScope {
    fn from(s: Scope) -> Self {
        match s {
            Scope::Global => AddressScope::Universe,
            Scope::Site => AddressScope::Site,
            Scope::Link => AddressScope::Link,
            Scope::Host => AddressScope::Host,
        }
    }
}

/// Lifetimes of a leased VIP (`ip addr ... valid_lft X preferred_lft Y`).
/// The kernel counts in whole seconds; shorter durations round up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub valid: Duration,
    pub preferred: Duration,
}

impl Lease {
    /// A lease whose address stays preferred until it expires.
    pub fn new(valid: Duration) -> Lease {
        Lease {
            valid,
            preferred: valid,
        }
    }

    fn cache_info(&self) -> CacheInfo {
        // u32::MAX means "forever" to the kernel; a lease is never forever.
        let secs = |d: Duration| {
            let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            s.clamp(1, u64::from(u32::MAX - 1)) as u32
        };
        let valid = secs(self.valid);
        let mut ci = CacheInfo::default();
        ci.ifa_valid = valid;
        ci.ifa_preferred = secs(self.preferred).min(valid);
        ci
    }
}

/// A VIP to put on (or take off) an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipSpec {
    /// Address and prefix length (`10.1.255.1/32`).
    pub addr: IpNet,
    pub iface: Iface,
    pub scope: Scope,
    /// IPv4 only: `<ifname>` or `<ifname>:<suffix>`.
    pub label: Option<String>,
    /// Lifetime; `None` is permanent.
    pub lease: Option<Lease>,
    /// Protocol number that marks the address as ours.
    pub proto: u8,
}

impl VipSpec {
    /// A permanent, global, unlabelled VIP marked with [`DEFAULT_PROTO`].
    pub fn new(addr: IpNet, iface: impl Into<Iface>) -> VipSpec {
        VipSpec {
            addr,
            iface: iface.into(),
            scope: Scope::Global,
            label: None,
            lease: None,
            proto: DEFAULT_PROTO,
        }
    }
}

/// An address as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrInfo {
    pub ifindex: u32,
    pub addr: IpNet,
    pub label: Option<String>,
    /// `IFA_PROTO`, when set.
    pub proto: Option<u8>,
    pub scope: u8,
    /// Remaining valid lifetime in seconds; `None` is forever.
    pub valid_secs: Option<u32>,
}

impl AddrInfo {
    pub(crate) fn from_message(m: &AddressMessage) -> Option<AddrInfo> {
        let (mut local, mut address, mut label, mut proto, mut valid) =
            (None, None, None, None, None);
        for a in &m.attributes {
            match a {
                AddressAttribute::Local(ip) => local = Some(*ip),
                AddressAttribute::Address(ip) => address = Some(*ip),
                AddressAttribute::Label(l) => label = Some(l.clone()),
                AddressAttribute::Protocol(p) => proto = Some(u8::from(*p)),
                AddressAttribute::CacheInfo(ci) if ci.ifa_valid != u32::MAX => {
                    valid = Some(ci.ifa_valid)
                }
                _ => {}
            }
        }
        // IFA_LOCAL is our own address; IFA_ADDRESS is the peer on
        // point-to-point links and the only one given for plain IPv6.
        let ip = local.or(address)?;
        Some(AddrInfo {
            ifindex: m.header.index,
            addr: IpNet::new(ip, m.header.prefix_len).ok()?,
            label,
            proto,
            scope: m.header.scope.into(),
            valid_secs: valid,
        })
    }

    /// Whether the address carries our mark (`proto`, or on old kernels the
    /// fallback label when `label_marker` is on).
    pub(crate) fn is_ours(&self, proto: u8, label_marker: bool) -> bool {
        self.proto == Some(proto)
            || (label_marker
                && self.addr.addr().is_ipv4()
                && self.label.as_deref().is_some_and(|l| {
                    l.rsplit_once(':')
                        .is_some_and(|(_, s)| s == FALLBACK_LABEL_SUFFIX)
                }))
    }
}

impl Netlink {
    /// Adds a VIP; an address already there is updated in place (mark,
    /// lifetime), so calling it twice is fine.
    pub async fn add_vip(&self, vip: &VipSpec) -> Result<(), NetlinkError> {
        self.put_vip(vip, Op::AddAddr).await?;
        tracing::debug!(vip = %vip.addr, iface = %vip.iface, "VIP added");
        Ok(())
    }

    /// Renews a leased VIP's lifetime while master (re-adds it with
    /// `NLM_F_REPLACE`; a VIP removed behind our back comes back too).
    pub async fn refresh_vip(&self, vip: &VipSpec) -> Result<(), NetlinkError> {
        self.put_vip(vip, Op::RefreshAddr).await
    }

    /// Removes a VIP. Returns whether it was there: a missing address or
    /// interface is not an error.
    pub async fn del_vip(&self, vip: &VipSpec) -> Result<bool, NetlinkError> {
        let target = vip.addr.to_string();
        let link = match vip_link(&vip.iface, Op::DelAddr, &target) {
            Ok(l) => l,
            Err(NetlinkError::NoInterface { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let mut m = header(vip.addr, link.ifindex);
        m.attributes.push(AddressAttribute::Local(vip.addr.addr()));
        m.attributes
            .push(AddressAttribute::Address(vip.addr.addr()));
        let removed = self
            .del_address(m, Op::DelAddr, &target, &link.describe())
            .await?;
        if removed {
            tracing::debug!(vip = %vip.addr, iface = %link.name, "VIP removed");
        }
        Ok(removed)
    }

    /// Every address in the namespace (`ip addr show`).
    pub async fn addrs(&self) -> Result<Vec<AddrInfo>, NetlinkError> {
        Ok(self
            .addr_messages()
            .await?
            .iter()
            .filter_map(AddrInfo::from_message)
            .collect())
    }

    pub(crate) async fn addr_messages(&self) -> Result<Vec<AddressMessage>, NetlinkError> {
        let answers = self
            .request(
                RouteNetlinkMessage::GetAddress(AddressMessage::default()),
                NLM_F_REQUEST | NLM_F_DUMP,
            )
            .await
            .map_err(|e| NetlinkError::kernel(Op::ListAddrs, "", "all interfaces", e))?;
        Ok(answers
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => Some(a),
                _ => None,
            })
            .collect())
    }

    /// Sends `RTM_DELADDR`; `Ok(false)` when the address or link is gone.
    pub(crate) async fn del_address(
        &self,
        m: AddressMessage,
        op: Op,
        target: &str,
        iface: &str,
    ) -> Result<bool, NetlinkError> {
        match self
            .request(
                RouteNetlinkMessage::DelAddress(m),
                NLM_F_REQUEST | NLM_F_ACK,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EADDRNOTAVAIL | libc::ENODEV)) => {
                Ok(false)
            }
            Err(e) => Err(NetlinkError::kernel(op, target, iface, e)),
        }
    }

    async fn put_vip(&self, vip: &VipSpec, op: Op) -> Result<(), NetlinkError> {
        let target = vip.addr.to_string();
        let link = vip_link(&vip.iface, op, &target)?;
        let label = match (&vip.label, vip.addr) {
            (Some(l), IpNet::V4(_)) => {
                check_label(&link.name, l)
                    .map_err(|r| NetlinkError::invalid(op, &target, link.describe(), r))?;
                Some(l.clone())
            }
            (Some(l), IpNet::V6(_)) => {
                return Err(NetlinkError::invalid(
                    op,
                    &target,
                    link.describe(),
                    format!("label \"{l}\": only IPv4 addresses have labels"),
                ));
            }
            (None, IpNet::V4(_)) if self.label_marker => {
                let l = fallback_label(&link.name);
                if l.is_none() {
                    tracing::warn!(vip = %vip.addr, iface = %link.name,
                        "interface name too long for the fallback label: VIP left unmarked");
                }
                l
            }
            (None, _) => None,
        };
        let m = vip_message(vip, link.ifindex, label);
        self.request(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
        )
        .await
        .map_err(|e| NetlinkError::kernel(op, &target, link.describe(), e))?;
        Ok(())
    }
}

/// `lo (ifindex 1)`, for error messages.
pub(crate) fn describe(link: &LinkState) -> String {
    format!("{} (ifindex {})", link.name, link.ifindex)
}

/// A VIP's interface: all that adding or removing the address needs.
struct VipLink {
    ifindex: u32,
    name: String,
}

impl VipLink {
    fn describe(&self) -> String {
        format!("{} (ifindex {})", self.name, self.ifindex)
    }
}

/// Looks a VIP's interface up with `if_nametoindex(3)` / `if_indextoname(3)`, not a
/// netlink GetLink: no round trip on the takeover path, and no link message parsed
/// per VIP (a mass takeover of 255 instances parsed 0.3 MiB of them at once). These
/// answer in the calling thread's network namespace, which is the netlink socket's:
/// a `Netlink` is opened and used on one thread (the daemon's, or a test's inside
/// its namespace).
fn vip_link(iface: &Iface, op: Op, target: &str) -> Result<VipLink, NetlinkError> {
    let found = match iface {
        Iface::Index(i) => ifname(*i).map(|name| VipLink { ifindex: *i, name }),
        Iface::Name(n) => ifindex(n).map(|ifindex| VipLink {
            ifindex,
            name: n.clone(),
        }),
    };
    found.ok_or_else(|| NetlinkError::NoInterface {
        op,
        target: target.to_string(),
        iface: iface.to_string(),
    })
}

fn header(addr: IpNet, ifindex: u32) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = match addr {
        IpNet::V4(_) => AddressFamily::Inet,
        IpNet::V6(_) => AddressFamily::Inet6,
    };
    m.header.prefix_len = addr.prefix_len();
    m.header.index = ifindex;
    m
}

fn vip_message(vip: &VipSpec, ifindex: u32, label: Option<String>) -> AddressMessage {
    let mut m = header(vip.addr, ifindex);
    m.header.scope = vip.scope.into();
    let ip: IpAddr = vip.addr.addr();
    m.attributes.push(AddressAttribute::Local(ip));
    m.attributes.push(AddressAttribute::Address(ip));
    if ip.is_ipv6() {
        // A VIP moves between routers: duplicate address detection would
        // hold it tentative (unusable) for a second, or fail it outright
        // while the old master still answers.
        m.header.flags = AddressHeaderFlags::Nodad;
        m.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    if let Some(l) = label {
        m.attributes.push(AddressAttribute::Label(l));
    }
    if let Some(lease) = vip.lease {
        m.attributes
            .push(AddressAttribute::CacheInfo(lease.cache_info()));
    }
    m.attributes
        .push(AddressAttribute::Protocol(AddressProtocol::from(vip.proto)));
    m
}

/// iproute2's rule for IPv4 labels: the interface name, optionally followed
/// by `:` and anything, 15 bytes at most.
fn check_label(ifname: &str, label: &str) -> Result<(), String> {
    if label.len() > MAX_LABEL {
        return Err(format!(
            "label \"{label}\" is longer than {MAX_LABEL} bytes"
        ));
    }
    let fits = label == ifname
        || label
            .strip_prefix(ifname)
            .is_some_and(|s| s.starts_with(':'));
    if !fits {
        return Err(format!(
            "label \"{label}\" must be \"{ifname}\" or start with \"{ifname}:\""
        ));
    }
    Ok(())
}

fn fallback_label(ifname: &str) -> Option<String> {
    let l = format!("{ifname}:{FALLBACK_LABEL_SUFFIX}");
    (l.len() <= MAX_LABEL).then_some(l)
}

/// `IFA_PROTO` exists since Linux 5.18; older kernels silently drop it.
pub(crate) fn kernel_has_ifa_proto() -> bool {
    // SAFETY: utsname is plain bytes; uname fills it or fails.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return true;
    }
    // SAFETY: uname NUL-terminates release.
    let release = unsafe { CStr::from_ptr(u.release.as_ptr()) }.to_string_lossy();
    release_at_least(&release, (5, 18))
}

fn release_at_least(release: &str, want: (u32, u32)) -> bool {
    let mut nums = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|s| s.parse::<u32>());
    match (nums.next(), nums.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => (major, minor) >= want,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_iproute2() {
        assert!(check_label("lo", "lo").is_ok());
        assert!(check_label("lo", "lo:vip1").is_ok());
        assert!(check_label("eth0", "eth1:x").is_err());
        assert!(check_label("eth0", "eth0x").is_err());
        assert!(check_label("eth0", "eth0:0123456789a").is_err());
        assert_eq!(fallback_label("lo").as_deref(), Some("lo:vrrp"));
        assert_eq!(fallback_label("averylongname0"), None);
    }

    #[test]
    fn kernel_release_parsing() {
        assert!(release_at_least("6.18.0-1-amd64", (5, 18)));
        assert!(release_at_least("5.18.0", (5, 18)));
        assert!(!release_at_least("5.17.15-rc1", (5, 18)));
        assert!(!release_at_least("4.19.0", (5, 18)));
        assert!(!release_at_least("garbage", (5, 18)));
    }

    #[test]
    fn lease_rounds_up_and_is_never_forever() {
        let ci = Lease::new(Duration::from_millis(1500)).cache_info();
        assert_eq!((ci.ifa_valid, ci.ifa_preferred), (2, 2));
        let ci = Lease::new(Duration::ZERO).cache_info();
        assert_eq!(ci.ifa_valid, 1);
        let ci = Lease::new(Duration::from_secs(u64::MAX)).cache_info();
        assert_eq!(ci.ifa_valid, u32::MAX - 1);
        let ci = Lease {
            valid: Duration::from_secs(5),
            preferred: Duration::from_secs(60),
        }
        .cache_info();
        assert_eq!((ci.ifa_valid, ci.ifa_preferred), (5, 5));
    }

    #[test]
    fn vip_message_carries_mark_lease_and_nodad() {
        let mut vip = VipSpec::new("2001:db8::1/128".parse().unwrap(), "lo");
        vip.lease = Some(Lease::new(Duration::from_secs(10)));
        vip.proto = 99;
        let m = vip_message(&vip, 1, None);
        assert_eq!(m.header.family, AddressFamily::Inet6);
        assert_eq!(m.header.prefix_len, 128);
        assert!(
            m.attributes
                .contains(&AddressAttribute::Protocol(AddressProtocol::Other(99)))
        );
        assert!(
            m.attributes
                .contains(&AddressAttribute::Flags(AddressFlags::Nodad))
        );
        assert!(
            m.attributes
                .iter()
                .any(|a| matches!(a, AddressAttribute::CacheInfo(ci) if ci.ifa_valid == 10))
        );
        let info = AddrInfo::from_message(&m).unwrap();
        assert_eq!(info.proto, Some(99));
        assert_eq!(info.valid_secs, Some(10));
        assert!(info.is_ours(99, false));
        assert!(!info.is_ours(252, true));
    }

    #[test]
    fn fallback_label_marks_only_ipv4_when_enabled() {
        let vip = VipSpec::new("10.1.255.1/32".parse().unwrap(), "lo");
        let m = vip_message(&vip, 1, fallback_label("lo"));
        let mut info = AddrInfo::from_message(&m).unwrap();
        info.proto = None;
        assert!(info.is_ours(252, true));
        assert!(!info.is_ours(252, false));
        info.label = Some("lo:vrrpx".into());
        assert!(!info.is_ours(252, true));
    }
}

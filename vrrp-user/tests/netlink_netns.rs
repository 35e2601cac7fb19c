//! The kernel-state driver against a real kernel: every test builds its own
//! namespaces (veth pairs, addresses that exist only there), drives them from
//! a thread that entered the namespace, and checks the result with `ip -j`
//! and with a hand-written netlink dump (iproute2 6.1 does not show
//! `IFA_PROTO`), or with frames captured on the veth peer.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use ipnet::IpNet;
use serde_json::Value;
use vrrp_tests::netns::{Netns, in_netns, require_root_and_netns, veth};
use vrrp_user::netlink::{
    ArpOp, Iface, KernelEvent, Lease, Netlink, NetlinkError, RouteSpec, Scope, Sent, VipSpec,
    Watch, announce, send_garp, send_unsolicited_na,
};

const PROTO: u8 = 252;

fn root() {
    if let Err(e) = require_root_and_netns() {
        panic!("{e:#}");
    }
}

/// Two namespaces joined by `a0` <-> `b0`, with `192.0.2.1/24` and
/// `2001:db8:1::1/64` on `a0` and `.2` / `::2` on `b0`.
fn pair(prefix: &str) -> Result<(Netns, Netns)> {
    root();
    let a = Netns::new(&format!("{prefix}a"))?;
    let b = Netns::new(&format!("{prefix}b"))?;
    veth(&a, "a0", &b, "b0")?;
    for (ns, dev, n) in [(&a, "a0", "1"), (&b, "b0", "2")] {
        ns.exec(&["ip", "addr", "add", &format!("192.0.2.{n}/24"), "dev", dev])?;
        ns.exec(&[
            "ip",
            "addr",
            "add",
            &format!("2001:db8:1::{n}/64"),
            "dev",
            dev,
            "nodad",
        ])?;
    }
    Ok((a, b))
}

/// Runs `f` on a current-thread runtime on a thread inside `ns`: every socket
/// it opens belongs to `ns`.
fn block_in<T, F, Fut>(ns: &Netns, f: F) -> Result<T>
where
    T: Send,
    F: FnOnce() -> Fut + Send,
    Fut: Future<Output = Result<T>>,
{
    in_netns(ns, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(f())
    })?
}

fn ip_json(ns: &Netns, args: &[&str]) -> Result<Value> {
    let mut argv = vec!["ip", "-j"];
    argv.extend_from_slice(args);
    let out = ns.exec(&argv)?;
    serde_json::from_slice(&out.stdout).with_context(|| format!("parsing `ip -j {args:?}`"))
}

/// The `addr_info` entry for `ip` in `ip -j addr`, if any.
fn addr_entry(ns: &Netns, ip: &str) -> Result<Option<Value>> {
    let links = ip_json(ns, &["addr", "show"])?;
    for link in links.as_array().context("ip -j addr: not an array")? {
        for a in link["addr_info"].as_array().into_iter().flatten() {
            if a["local"] == ip {
                let mut a = a.clone();
                a["ifname"] = link["ifname"].clone();
                return Ok(Some(a));
            }
        }
    }
    Ok(None)
}

/// The routes to `dst` in any table, IPv4 and IPv6 (`ip -j route show table all`).
fn route_entries(ns: &Netns, dst: &str) -> Result<Vec<Value>> {
    let mut found = Vec::new();
    for fam in ["-4", "-6"] {
        let all = ip_json(ns, &[fam, "route", "show", "table", "all"])?;
        for r in all.as_array().context("ip -j route: not an array")? {
            if r["dst"] == dst {
                found.push(r.clone());
            }
        }
    }
    Ok(found)
}

fn net(s: &str) -> IpNet {
    s.parse().expect("test prefix")
}

fn mac_of(ns: &Netns, dev: &str) -> Result<[u8; 6]> {
    let link = ip_json(ns, &["link", "show", "dev", dev])?;
    parse_mac(link[0]["address"].as_str().context("no link address")?)
}

fn parse_mac(text: &str) -> Result<[u8; 6]> {
    let parts: Vec<u8> = text
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<Result<_, _>>()?;
    parts.try_into().map_err(|_| anyhow!("not a MAC: {text}"))
}

/// `IFA_PROTO` of every address, read with a raw `RTM_GETADDR` dump so the
/// check does not go through the crate under test. Call inside the namespace.
fn kernel_addr_protos() -> Result<Vec<(IpAddr, Option<u8>)>> {
    const RTM_NEWADDR: u16 = 20;
    const RTM_GETADDR: u16 = 22;
    const NLMSG_DONE: u16 = 3;
    const NLMSG_ERROR: u16 = 2;
    const IFA_ADDRESS: u16 = 1;
    const IFA_LOCAL: u16 = 2;
    const IFA_PROTO: u16 = 11;
    // SAFETY: plain socket(2), checked.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    ensure!(
        raw >= 0,
        "netlink socket: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: fresh descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut req = [0u8; 24];
    req[0..4].copy_from_slice(&24u32.to_ne_bytes());
    req[4..6].copy_from_slice(&RTM_GETADDR.to_ne_bytes());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    req[6..8].copy_from_slice(&flags.to_ne_bytes());
    req[8..12].copy_from_slice(&1u32.to_ne_bytes());
    // SAFETY: req is valid for its length.
    let n = unsafe { libc::send(fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
    ensure!(n == 24, "netlink send: {}", std::io::Error::last_os_error());
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        // SAFETY: buf is valid for its length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        ensure!(n > 0, "netlink recv: {}", std::io::Error::last_os_error());
        let mut msgs = &buf[..n as usize];
        while msgs.len() >= 16 {
            let len = u32::from_ne_bytes(msgs[0..4].try_into()?) as usize;
            let kind = u16::from_ne_bytes(msgs[4..6].try_into()?);
            ensure!(len >= 16 && len <= msgs.len(), "bad netlink length {len}");
            match kind {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => bail!("netlink dump failed"),
                RTM_NEWADDR => {
                    let (mut local, mut address, mut proto) = (None, None, None);
                    let mut attrs = &msgs[24..len];
                    while attrs.len() >= 4 {
                        let alen = u16::from_ne_bytes(attrs[0..2].try_into()?) as usize;
                        let atype = u16::from_ne_bytes(attrs[2..4].try_into()?);
                        ensure!(alen >= 4 && alen <= attrs.len(), "bad attribute length");
                        let v = &attrs[4..alen];
                        let ip = match v.len() {
                            4 => Some(IpAddr::from(<[u8; 4]>::try_from(v)?)),
                            16 => Some(IpAddr::from(<[u8; 16]>::try_from(v)?)),
                            _ => None,
                        };
                        match atype {
                            IFA_LOCAL => local = ip,
                            IFA_ADDRESS => address = ip,
                            IFA_PROTO => proto = v.first().copied(),
                            _ => {}
                        }
                        attrs = &attrs[((alen + 3) & !3).min(attrs.len())..];
                    }
                    if let Some(ip) = local.or(address) {
                        out.push((ip, proto));
                    }
                }
                _ => {}
            }
            msgs = &msgs[((len + 3) & !3).min(msgs.len())..];
        }
    }
}

fn kernel_proto_of(ip: &str) -> Result<Option<u8>> {
    let ip: IpAddr = ip.parse()?;
    kernel_addr_protos()?
        .into_iter()
        .find(|(a, _)| *a == ip)
        .map(|(_, p)| p)
        .ok_or_else(|| anyhow!("{ip} is not in the kernel's address dump"))
}

#[test]
fn vip_on_lo_is_marked_idempotent_and_removable() -> Result<()> {
    root();
    let ns = Netns::new("nlvip")?;
    block_in(&ns, || async {
        let nl = Netlink::new()?;
        let v4 = VipSpec::new(net("10.1.255.1/32"), "lo");
        let v6 = VipSpec::new(net("2001:db8:255::1/128"), "lo");
        for vip in [&v4, &v6] {
            nl.add_vip(vip).await?;
            nl.add_vip(vip)
                .await
                .context("adding an existing VIP again")?;
        }
        let a4 = addr_entry(&ns, "10.1.255.1")?.context("IPv4 VIP missing")?;
        assert_eq!(a4["ifname"], "lo");
        assert_eq!(a4["prefixlen"], 32);
        assert_eq!(a4["scope"], "global");
        assert_eq!(a4["valid_life_time"], u32::MAX, "no lease: permanent");
        let a6 = addr_entry(&ns, "2001:db8:255::1")?.context("IPv6 VIP missing")?;
        assert_eq!(a6["prefixlen"], 128);
        assert_ne!(a6["tentative"], true, "IPv6 VIP must skip DAD");
        assert_eq!(kernel_proto_of("10.1.255.1")?, Some(PROTO));
        assert_eq!(kernel_proto_of("2001:db8:255::1")?, Some(PROTO));

        // An address the admin added by hand is taken over (marked) on add.
        ns.exec(&["ip", "addr", "add", "10.1.255.3/32", "dev", "lo"])?;
        assert_eq!(kernel_proto_of("10.1.255.3")?, None);
        nl.add_vip(&VipSpec::new(net("10.1.255.3/32"), "lo"))
            .await?;
        assert_eq!(kernel_proto_of("10.1.255.3")?, Some(PROTO));

        for vip in [&v4, &v6] {
            assert!(nl.del_vip(vip).await?, "first removal removes");
            assert!(!nl.del_vip(vip).await?, "second removal is a no-op");
        }
        assert!(addr_entry(&ns, "10.1.255.1")?.is_none());
        assert!(addr_entry(&ns, "2001:db8:255::1")?.is_none());

        let missing = VipSpec::new(net("10.1.255.1/32"), "nosuch0");
        let err = nl.add_vip(&missing).await.unwrap_err();
        assert!(matches!(err, NetlinkError::NoInterface { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "adding address 10.1.255.1/32: interface nosuch0 does not exist"
        );
        assert!(
            !nl.del_vip(&missing).await?,
            "removal from a gone link is a no-op"
        );
        Ok(())
    })
}

#[test]
fn vip_on_veth_by_index_with_label_and_scope() -> Result<()> {
    let (a, _b) = pair("nlvet")?;
    let idx = a.ifindex("a0")?;
    block_in(&a, || async {
        let nl = Netlink::new()?;
        let mut v4 = VipSpec::new(net("198.51.100.10/24"), Iface::Index(idx));
        v4.label = Some("a0:vip".into());
        v4.scope = Scope::Link;
        nl.add_vip(&v4).await?;
        nl.add_vip(&v4).await?;
        let e = addr_entry(&a, "198.51.100.10")?.context("IPv4 VIP missing")?;
        assert_eq!(e["ifname"], "a0");
        assert_eq!(e["label"], "a0:vip");
        assert_eq!(e["prefixlen"], 24);
        assert_eq!(e["scope"], "link");

        let v6 = VipSpec::new(net("2001:db8:1::10/64"), idx);
        nl.add_vip(&v6).await?;
        let e = addr_entry(&a, "2001:db8:1::10")?.context("IPv6 VIP missing")?;
        assert_eq!(e["nodad"], true);
        assert_ne!(e["tentative"], true);
        assert_eq!(kernel_proto_of("2001:db8:1::10")?, Some(PROTO));

        let mut bad = VipSpec::new(net("198.51.100.11/24"), "a0");
        bad.label = Some("b0:x".into());
        let err = nl.add_vip(&bad).await.unwrap_err();
        assert!(matches!(err, NetlinkError::Invalid { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("198.51.100.11/24")
                && text.contains("a0 (ifindex")
                && text.contains("b0:x"),
            "{text}"
        );
        let mut bad6 = VipSpec::new(net("2001:db8:1::11/64"), "a0");
        bad6.label = Some("a0:x".into());
        let err = nl.add_vip(&bad6).await.unwrap_err();
        assert!(err.to_string().contains("only IPv4"), "{err}");
        assert!(addr_entry(&a, "198.51.100.11")?.is_none());
        assert!(addr_entry(&a, "2001:db8:1::11")?.is_none());

        assert!(nl.del_vip(&v4).await?);
        assert!(nl.del_vip(&v6).await?);
        assert!(addr_entry(&a, "198.51.100.10")?.is_none());
        assert!(addr_entry(&a, "2001:db8:1::10")?.is_none());
        Ok(())
    })
}

/// Polls until `ip` is gone from the namespace; returns how long it took.
fn wait_gone(ns: &Netns, ip: &str, limit: Duration) -> Result<Duration> {
    let t = Instant::now();
    while addr_entry(ns, ip)?.is_some() {
        ensure!(t.elapsed() < limit, "{ip} still present after {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(t.elapsed())
}

#[test]
fn leased_vip_expires_by_itself() -> Result<()> {
    root();
    let ns = Netns::new("nllea")?;
    block_in(&ns, || async {
        let nl = Netlink::new()?;
        for ip in ["10.1.255.2/32", "2001:db8:255::2/128"] {
            let mut vip = VipSpec::new(net(ip), "lo");
            vip.lease = Some(Lease::new(Duration::from_secs(2)));
            nl.add_vip(&vip).await?;
        }
        let t = Instant::now();
        for ip in ["10.1.255.2", "2001:db8:255::2"] {
            let e = addr_entry(&ns, ip)?.with_context(|| format!("{ip} missing"))?;
            let valid = e["valid_life_time"].as_u64().context("valid_life_time")?;
            assert!(valid <= 2, "{ip}: valid_life_time {valid}");
        }
        for ip in ["10.1.255.2", "2001:db8:255::2"] {
            wait_gone(&ns, ip, Duration::from_secs(8))?;
            let after = t.elapsed();
            println!("{ip}: 2 s lease, gone after {after:?}");
            assert!(
                after >= Duration::from_millis(1500),
                "{ip} expired early: {after:?}"
            );
        }
        Ok(())
    })
}

#[test]
fn refreshed_lease_keeps_the_vip_until_refreshing_stops() -> Result<()> {
    root();
    let ns = Netns::new("nlref")?;
    block_in(&ns, || async {
        let nl = Netlink::new()?;
        let vips: Vec<VipSpec> = ["10.1.255.4/32", "2001:db8:255::4/128"]
            .into_iter()
            .map(|ip| {
                let mut vip = VipSpec::new(net(ip), "lo");
                vip.lease = Some(Lease::new(Duration::from_secs(2)));
                vip
            })
            .collect();
        for vip in &vips {
            nl.add_vip(vip).await?;
        }
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(700)).await;
            for vip in &vips {
                nl.refresh_vip(vip).await?;
            }
            for ip in ["10.1.255.4", "2001:db8:255::4"] {
                assert!(addr_entry(&ns, ip)?.is_some(), "refreshed VIP {ip} expired");
            }
        }
        assert_eq!(kernel_proto_of("10.1.255.4")?, Some(PROTO));
        assert_eq!(kernel_proto_of("2001:db8:255::4")?, Some(PROTO));
        let t = Instant::now();
        for ip in ["10.1.255.4", "2001:db8:255::4"] {
            wait_gone(&ns, ip, Duration::from_secs(8))?;
            let gone = t.elapsed();
            assert!(
                gone >= Duration::from_millis(1000),
                "{ip} expired early: {gone:?}"
            );
        }
        Ok(())
    })
}

#[test]
fn routes_are_added_idempotently_and_removed_with_their_proto() -> Result<()> {
    let (a, _b) = pair("nlrte")?;
    block_in(&a, || async {
        let nl = Netlink::new()?;
        let mut via4 = RouteSpec::new(net("10.9.0.0/16"));
        via4.via = Some("192.0.2.254".parse()?);
        via4.metric = 10;
        let mut dev4 = RouteSpec::new(net("10.8.0.0/24"));
        dev4.dev = Some("a0".into());
        dev4.table = 100;
        let mut via6 = RouteSpec::new(net("2001:db8:99::/48"));
        via6.via = Some("2001:db8:1::254".parse()?);
        via6.table = 1000;
        via6.metric = 20;
        via6.proto = 253;
        for r in [&via4, &dev4, &via6] {
            nl.add_route(r).await?;
            nl.add_route(r)
                .await
                .context("adding the same route again")?;
        }
        let r = route_entries(&a, "10.9.0.0/16")?;
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0]["gateway"], "192.0.2.254");
        assert_eq!(r[0]["protocol"], "252");
        assert_eq!(r[0]["metric"], 10);
        assert_eq!(r[0]["dev"], "a0");
        let r = route_entries(&a, "10.8.0.0/24")?;
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0]["table"], "100");
        assert_eq!(r[0]["scope"], "link");
        assert_eq!(r[0]["protocol"], "252");
        let r = route_entries(&a, "2001:db8:99::/48")?;
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0]["table"], "1000");
        assert_eq!(r[0]["gateway"], "2001:db8:1::254");
        assert_eq!(r[0]["protocol"], "253");
        assert_eq!(r[0]["metric"], 20);

        // Removal only touches a route carrying the given protocol.
        let mut other = via4.clone();
        other.proto = 251;
        assert!(!nl.del_route(&other).await?);
        assert_eq!(route_entries(&a, "10.9.0.0/16")?.len(), 1);

        for r in [&via4, &dev4, &via6] {
            assert!(nl.del_route(r).await?, "first removal of {r}");
            assert!(!nl.del_route(r).await?, "second removal of {r}");
        }
        for dst in ["10.9.0.0/16", "10.8.0.0/24", "2001:db8:99::/48"] {
            assert!(route_entries(&a, dst)?.is_empty(), "{dst} left behind");
        }

        let err = nl
            .add_route(&RouteSpec::new(net("10.7.0.0/16")))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("needs via, dev, or both"), "{err}");
        let mut unreachable = RouteSpec::new(net("10.7.0.0/16"));
        unreachable.via = Some("203.0.113.1".parse()?);
        let err = nl.add_route(&unreachable).await.unwrap_err();
        assert_eq!(err.errno(), Some(libc::ENETUNREACH), "{err}");
        assert!(
            err.to_string()
                .starts_with("adding route 10.7.0.0/16 via 203.0.113.1 table 254"),
            "{err}"
        );
        Ok(())
    })
}

#[test]
fn cleanup_removes_only_ours() -> Result<()> {
    let (a, _b) = pair("nlcln")?;
    // Foreign state: by hand, and another protocol number.
    a.exec(&["ip", "addr", "add", "10.1.255.99/32", "dev", "lo"])?;
    a.exec(&[
        "ip",
        "route",
        "add",
        "10.10.0.0/16",
        "via",
        "192.0.2.254",
        "proto",
        "static",
    ])?;
    a.exec(&[
        "ip",
        "route",
        "add",
        "10.11.0.0/16",
        "via",
        "192.0.2.254",
        "proto",
        "251",
    ])?;
    a.exec(&[
        "ip",
        "-6",
        "route",
        "add",
        "2001:db8:11::/48",
        "via",
        "2001:db8:1::254",
    ])?;
    block_in(&a, || async {
        let nl = Netlink::new()?;
        let mut foreign_vip = VipSpec::new(net("10.1.255.98/32"), "lo");
        foreign_vip.proto = 251;
        nl.add_vip(&foreign_vip).await?;

        nl.add_vip(&VipSpec::new(net("10.1.255.1/32"), "lo"))
            .await?;
        nl.add_vip(&VipSpec::new(net("2001:db8:255::1/128"), "lo"))
            .await?;
        nl.add_vip(&VipSpec::new(net("198.51.100.1/24"), "a0"))
            .await?;
        let mut r4 = RouteSpec::new(net("10.9.0.0/16"));
        r4.via = Some("192.0.2.254".parse()?);
        r4.table = 100;
        let mut r6 = RouteSpec::new(net("2001:db8:99::/48"));
        r6.dev = Some("a0".into());
        nl.add_route(&r4).await?;
        nl.add_route(&r6).await?;

        // A fresh handle, as after a restart.
        drop(nl);
        let nl = Netlink::new()?;
        let done = nl.cleanup_ours(PROTO).await?;
        let mut addrs: Vec<String> = done.addrs.iter().map(|a| a.addr.to_string()).collect();
        addrs.sort();
        assert_eq!(
            addrs,
            ["10.1.255.1/32", "198.51.100.1/24", "2001:db8:255::1/128"]
        );
        let mut routes: Vec<String> = done.routes.iter().map(|r| r.dst.to_string()).collect();
        routes.sort();
        assert_eq!(routes, ["10.9.0.0/16", "2001:db8:99::/48"]);
        assert!(done.routes.iter().all(|r| r.proto == PROTO));

        for ip in ["10.1.255.1", "2001:db8:255::1", "198.51.100.1"] {
            assert!(addr_entry(&a, ip)?.is_none(), "{ip} survived cleanup");
        }
        for dst in ["10.9.0.0/16", "2001:db8:99::/48"] {
            assert!(route_entries(&a, dst)?.is_empty(), "{dst} survived cleanup");
        }
        for ip in [
            "10.1.255.99",
            "10.1.255.98",
            "192.0.2.1",
            "2001:db8:1::1",
            "127.0.0.1",
        ] {
            assert!(addr_entry(&a, ip)?.is_some(), "foreign {ip} was removed");
        }
        for dst in [
            "10.10.0.0/16",
            "10.11.0.0/16",
            "2001:db8:11::/48",
            "192.0.2.0/24",
        ] {
            assert_eq!(
                route_entries(&a, dst)?.len(),
                1,
                "foreign route {dst} was removed"
            );
        }

        assert_eq!(
            nl.cleanup_ours(PROTO).await?,
            Default::default(),
            "second run: nothing"
        );
        let err = nl.cleanup_ours(4).await.unwrap_err();
        assert!(matches!(err, NetlinkError::Invalid { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "cleaning up proto 4 on all interfaces: protocols 0-4 are the kernel's and the \
             admin's, not ours"
        );
        Ok(())
    })
}

#[test]
fn label_marker_fallback_marks_and_cleans_ipv4_vips() -> Result<()> {
    root();
    let ns = Netns::new("nllbl")?;
    // As an old kernel would leave them: labels, no IFA_PROTO.
    ns.exec(&[
        "ip",
        "addr",
        "add",
        "10.1.255.7/32",
        "dev",
        "lo",
        "label",
        "lo:vrrp",
    ])?;
    ns.exec(&[
        "ip",
        "addr",
        "add",
        "10.1.255.8/32",
        "dev",
        "lo",
        "label",
        "lo:other",
    ])?;
    block_in(&ns, || async {
        let plain = Netlink::new()?;
        assert!(
            plain.cleanup_ours(PROTO).await?.addrs.is_empty(),
            "marker off: labels ignored"
        );

        let mut nl = Netlink::new()?;
        nl.set_label_marker(true);
        nl.add_vip(&VipSpec::new(net("10.1.255.1/32"), "lo"))
            .await?;
        let e = addr_entry(&ns, "10.1.255.1")?.context("VIP missing")?;
        assert_eq!(e["label"], "lo:vrrp");
        // Only the label marks it: drop the proto mark by re-adding by hand.
        ns.exec(&["ip", "addr", "del", "10.1.255.1/32", "dev", "lo"])?;
        ns.exec(&[
            "ip",
            "addr",
            "add",
            "10.1.255.1/32",
            "dev",
            "lo",
            "label",
            "lo:vrrp",
        ])?;
        let done = nl.cleanup_ours(PROTO).await?;
        let mut addrs: Vec<String> = done.addrs.iter().map(|a| a.addr.to_string()).collect();
        addrs.sort();
        assert_eq!(addrs, ["10.1.255.1/32", "10.1.255.7/32"]);
        assert!(
            addr_entry(&ns, "10.1.255.8")?.is_some(),
            "other label removed"
        );
        Ok(())
    })
}

/// Waits up to 3 s for an event matching `want`; returns it and the wait.
async fn wait_event(
    w: &mut Watch,
    what: &str,
    want: impl Fn(&KernelEvent) -> bool,
) -> Result<(KernelEvent, Duration)> {
    let t = Instant::now();
    let found = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(ev) = w.next().await {
            if want(&ev) {
                return Ok(ev);
            }
        }
        bail!("watch ended")
    })
    .await
    .map_err(|_| anyhow!("no event `{what}` within 3 s"))??;
    Ok((found, t.elapsed()))
}

/// Runs `ip ARGS` in `ns` without blocking the runtime.
async fn ip_in(ns: &Netns, args: &[&str]) -> Result<()> {
    let mut argv = vec![
        "ip".to_string(),
        "netns".into(),
        "exec".into(),
        ns.name.clone(),
    ];
    argv.push("ip".into());
    argv.extend(args.iter().map(|s| s.to_string()));
    let out = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .output()
        .await?;
    ensure!(
        out.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[test]
fn watch_reports_link_down_up_carrier_and_vip_removed() -> Result<()> {
    let (a, b) = pair("nlwat")?;
    let idx = a.ifindex("a0")?;
    block_in(&a, || async {
        let nl = Netlink::new()?;
        let mut w = Watch::new()?;
        let is_a0 = |up: bool| move |e: &KernelEvent| matches!(e, KernelEvent::Link(s) if s.ifindex == idx && s.is_up() == up);

        ip_in(&a, &["link", "set", "dev", "a0", "down"]).await?;
        let (ev, took) = wait_event(&mut w, "a0 down", is_a0(false)).await?;
        let KernelEvent::Link(s) = ev else {
            unreachable!()
        };
        assert_eq!(s.name, "a0");
        assert!(!s.admin_up);
        println!("admin down seen after {took:?}");
        assert!(!nl.link_state(idx).await?.is_up());

        ip_in(&a, &["link", "set", "dev", "a0", "up"]).await?;
        let (_, took) = wait_event(&mut w, "a0 up", is_a0(true)).await?;
        println!("up seen after {took:?}");
        assert!(nl.link_state("a0").await?.is_up());

        // The peer's end going down takes our carrier.
        ip_in(&b, &["link", "set", "dev", "b0", "down"]).await?;
        let (ev, took) = wait_event(&mut w, "a0 carrier lost", is_a0(false)).await?;
        let KernelEvent::Link(s) = ev else {
            unreachable!()
        };
        assert!(s.admin_up && !s.lower_up, "{s:?}");
        println!("carrier loss seen after {took:?}");
        ip_in(&b, &["link", "set", "dev", "b0", "up"]).await?;
        wait_event(&mut w, "a0 carrier back", is_a0(true)).await?;

        let vip = VipSpec::new(net("198.51.100.10/24"), "a0");
        nl.add_vip(&vip).await?;
        let want: IpNet = net("198.51.100.10/24");
        wait_event(
            &mut w,
            "VIP added",
            |e| matches!(e, KernelEvent::AddrAdded(i) if i.addr == want && i.proto == Some(PROTO)),
        )
        .await?;
        ip_in(&a, &["addr", "del", "198.51.100.10/24", "dev", "a0"]).await?;
        let (ev, took) = wait_event(
            &mut w,
            "VIP removed",
            |e| matches!(e, KernelEvent::AddrRemoved(i) if i.addr == want),
        )
        .await?;
        let KernelEvent::AddrRemoved(info) = ev else {
            unreachable!()
        };
        assert_eq!(info.ifindex, idx);
        println!("VIP removal seen after {took:?}");
        Ok(())
    })
}

#[test]
fn link_state_snapshot() -> Result<()> {
    let (a, _b) = pair("nllnk")?;
    let idx = a.ifindex("a0")?;
    let mac = mac_of(&a, "a0")?;
    block_in(&a, || async {
        let nl = Netlink::new()?;
        let lo = nl.link_state("lo").await?;
        assert!(lo.is_up() && lo.loopback && lo.ifindex == 1, "{lo:?}");
        let a0 = nl.link_state(idx).await?;
        assert_eq!(a0.name, "a0");
        assert_eq!(a0.mac, Some(mac));
        assert!(a0.is_up() && a0.lower_up && !a0.loopback, "{a0:?}");
        a.exec(&["ip", "link", "set", "dev", "a0", "down"])?;
        let a0 = nl.link_state(Iface::Name("a0".into())).await?;
        assert!(!a0.is_up() && !a0.admin_up, "{a0:?}");
        let err = nl.link_state(9999).await.unwrap_err();
        assert!(matches!(err, NetlinkError::NoInterface { .. }), "{err:?}");
        assert!(err.to_string().contains("ifindex 9999"), "{err}");
        Ok(())
    })
}

/// Captures frames of `ethertype` arriving on `ifindex` in `ns` until
/// `want` of them pass `keep`, or 3 s pass. Sends on `ready` once listening.
fn capture(
    ns: &Netns,
    ifindex: u32,
    ethertype: u16,
    want: usize,
    keep: impl Fn(&[u8]) -> bool,
    ready: mpsc::Sender<()>,
) -> Result<Vec<Vec<u8>>> {
    ns.enter()?;
    // SAFETY: plain socket(2), checked.
    let raw = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            i32::from(ethertype.to_be()),
        )
    };
    ensure!(
        raw >= 0,
        "packet socket: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: fresh descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: zeroed sockaddr_ll is valid; bind with its size.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ethertype.to_be();
    sll.sll_ifindex = ifindex as i32;
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const sll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    ensure!(r == 0, "bind: {}", std::io::Error::last_os_error());
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 100_000,
    };
    // SAFETY: tv is a valid timeval.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const tv).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        )
    };
    ready.send(())?;
    let mut frames = Vec::new();
    let t = Instant::now();
    let mut buf = [0u8; 2048];
    while frames.len() < want && t.elapsed() < Duration::from_secs(3) {
        // SAFETY: buf is valid for its length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n > 0 && keep(&buf[..n as usize]) {
            frames.push(buf[..n as usize].to_vec());
        }
    }
    Ok(frames)
}

#[test]
fn gratuitous_arp_reaches_the_peer() -> Result<()> {
    let (a, b) = pair("nlarp")?;
    let (a_idx, b_idx) = (a.ifindex("a0")?, b.ifindex("b0")?);
    let mac = mac_of(&a, "a0")?;
    let vip = Ipv4Addr::new(192, 0, 2, 10);
    a.exec(&["ip", "addr", "add", "192.0.2.10/24", "dev", "a0"])?;
    // The peer still believes an old master holds the VIP. Linux lets ARP
    // override an entry only after `locktime` (1 s) has passed since its
    // last update.
    seed_stale_neighbour(&b, "192.0.2.10")?;
    std::thread::sleep(Duration::from_millis(1100));
    let frames = std::thread::scope(|s| -> Result<Vec<Vec<u8>>> {
        let (tx, rx) = mpsc::channel();
        // Only frames about the VIP: the peer may ARP for other reasons.
        let cap = s.spawn(|| {
            capture(
                &b,
                b_idx,
                0x0806,
                5,
                |f| f.len() >= 42 && f[28..32] == vip.octets(),
                tx,
            )
        });
        rx.recv_timeout(Duration::from_secs(3))?;
        block_in(&a, || async {
            assert_eq!(send_garp(a_idx, vip, ArpOp::Request)?, Sent::Sent);
            assert_eq!(send_garp(a_idx, vip, ArpOp::Reply)?, Sent::Sent);
            let t = Instant::now();
            let n = announce(a_idx, IpAddr::V4(vip), 3, Duration::from_millis(100)).await?;
            assert_eq!(n, 3);
            assert!(
                t.elapsed() >= Duration::from_millis(200),
                "interval not kept"
            );
            // No neighbour cache behind lo: nothing sent, no error.
            assert_eq!(send_garp(1, vip, ArpOp::Request)?, Sent::NotEthernet);
            assert_eq!(announce(1, IpAddr::V4(vip), 3, Duration::ZERO).await?, 0);
            Ok(())
        })?;
        cap.join().map_err(|_| anyhow!("capture thread panicked"))?
    })?;
    assert_eq!(frames.len(), 5, "captured {} GARP frames", frames.len());
    let ops: Vec<u8> = frames.iter().map(|f| f[21]).collect();
    assert_eq!(
        ops,
        [1, 2, 1, 1, 1],
        "request, reply, then 3 announce requests"
    );
    for f in &frames {
        assert_eq!(&f[0..6], &[0xff; 6], "Ethernet destination");
        assert_eq!(&f[6..12], &mac, "Ethernet source");
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[14..20], &[0, 1, 0x08, 0, 6, 4], "Ethernet/IPv4 ARP");
        assert_eq!(&f[22..28], &mac, "sender MAC");
        assert_eq!(&f[28..32], &vip.octets(), "sender IP");
        assert_eq!(&f[38..42], &vip.octets(), "target IP");
        let tha: &[u8] = if f[21] == 2 { &mac } else { &[0; 6] };
        assert_eq!(&f[32..38], tha, "target MAC");
    }
    assert_eq!(
        peer_lladdr(&b, "192.0.2.10")?,
        mac,
        "peer's ARP cache not updated"
    );
    Ok(())
}

const OLD_MAC: &str = "02:00:00:00:00:99";

/// Gives the peer a stale neighbour entry pointing at a MAC that is not ours.
fn seed_stale_neighbour(peer: &Netns, ip: &str) -> Result<()> {
    peer.exec(&[
        "ip", "neigh", "replace", ip, "lladdr", OLD_MAC, "dev", "b0", "nud", "stale",
    ])?;
    Ok(())
}

/// The MAC the peer's neighbour cache holds for `ip`.
fn peer_lladdr(peer: &Netns, ip: &str) -> Result<[u8; 6]> {
    let n = ip_json(peer, &["neigh", "show", "dev", "b0", "to", ip])?;
    parse_mac(
        n[0]["lladdr"]
            .as_str()
            .with_context(|| format!("no neighbour entry: {n}"))?,
    )
}

/// The ICMPv6 checksum over the IPv6 pseudo-header (RFC 8200 §8.1).
fn icmpv6_checksum(src: &[u8], dst: &[u8], icmp: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    };
    add(src);
    add(dst);
    add(&(icmp.len() as u32).to_be_bytes());
    add(&[0, 0, 0, 58]);
    add(icmp);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[test]
fn unsolicited_na_reaches_the_peer() -> Result<()> {
    let (a, b) = pair("nlna")?;
    let (a_idx, b_idx) = (a.ifindex("a0")?, b.ifindex("b0")?);
    let mac = mac_of(&a, "a0")?;
    let vip: Ipv6Addr = "2001:db8:1::10".parse()?;
    let is_na = move |f: &[u8]| {
        f.len() >= 14 + 40 + 32 && f[20] == 58 && f[54] == 136 && f[62..78] == vip.octets()
    };
    seed_stale_neighbour(&b, "2001:db8:1::10")?;
    let frames = std::thread::scope(|s| -> Result<Vec<Vec<u8>>> {
        let (tx, rx) = mpsc::channel();
        let cap = s.spawn(|| capture(&b, b_idx, 0x86dd, 3, is_na, tx));
        rx.recv_timeout(Duration::from_secs(3))?;
        block_in(&a, || async {
            let nl = Netlink::new()?;
            nl.add_vip(&VipSpec::new(net("2001:db8:1::10/64"), a_idx))
                .await?;
            assert_eq!(send_unsolicited_na(a_idx, vip)?, Sent::Sent);
            assert_eq!(
                announce(a_idx, IpAddr::V6(vip), 2, Duration::from_millis(50)).await?,
                2
            );
            assert_eq!(send_unsolicited_na(1, "::1".parse()?)?, Sent::NotEthernet);
            Ok(())
        })?;
        cap.join().map_err(|_| anyhow!("capture thread panicked"))?
    })?;
    assert_eq!(frames.len(), 3, "captured {} NAs", frames.len());
    for f in &frames {
        assert_eq!(
            &f[0..6],
            &[0x33, 0x33, 0, 0, 0, 1],
            "all-nodes multicast MAC"
        );
        assert_eq!(&f[6..12], &mac);
        assert_eq!(&f[12..14], &[0x86, 0xdd]);
        let ip = &f[14..54];
        assert_eq!(ip[7], 255, "hop limit");
        assert_eq!(&ip[8..24], &vip.octets(), "source is the VIP");
        assert_eq!(&ip[24..40], &"ff02::1".parse::<Ipv6Addr>()?.octets());
        let payload_len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
        assert_eq!(payload_len, 32);
        let icmp = &f[54..54 + payload_len];
        assert_eq!(&icmp[0..2], &[136, 0], "type, code");
        assert_eq!(icmp[4], 0xa0, "router and override set, solicited clear");
        assert_eq!(&icmp[24..26], &[2, 1], "target link-layer address option");
        assert_eq!(&icmp[26..32], &mac);
        assert_eq!(
            icmpv6_checksum(&ip[8..24], &ip[24..40], icmp),
            0,
            "checksum"
        );
    }
    assert_eq!(
        peer_lladdr(&b, "2001:db8:1::10")?,
        mac,
        "peer's neighbour cache not updated"
    );
    Ok(())
}

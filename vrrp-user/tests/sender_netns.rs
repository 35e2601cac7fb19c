//! The outbox on a real link: sinks with the same interface, source and TTL share
//! one socket; a flush sends every queued copy (one `sendmmsg` per socket) with its
//! own destination and checksum; a copy the kernel refuses is counted against the
//! instance that queued it while the rest of the batch still goes; and copies queued
//! by a sink that was dropped before the flush (a removed instance's goodbye) still
//! leave.
//!
//! ```text
//!   A (10.9.0.1/24) eth0 ---- eth0 B (10.9.0.2/24, 10.9.0.3/24): raw receiver
//! ```
//!
//! And over IPv6: unicast from a global source and multicast to ff02::12 from the
//! link-local one, both with hop limit 255 and the RFC 8200 pseudo-header checksum.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use vrrp_core::packet::{self, Advert, ChecksumAccept, ChecksumMode, Endpoints};
use vrrp_tests::netns::{Netns, in_netns, require_root_and_netns, veth};
use vrrp_user::sender::{Destinations, OpenSink, Outbox, SenderConfig, Sent};

const A: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const B1: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
const B2: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 3);
/// The link's broadcast address: the kernel refuses the copy at once (EACCES, the
/// socket has no SO_BROADCAST). A route would not do: a socket bound to a device
/// takes any destination without one as on-link.
const NOWHERE: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 255);

fn config(dsts: &[Ipv4Addr], ttl: u8) -> SenderConfig {
    SenderConfig {
        ifname: Some("eth0".into()),
        source: IpAddr::V4(A),
        destinations: Destinations::Unicast(dsts.iter().map(|d| IpAddr::V4(*d)).collect()),
        ttl,
        checksum: ChecksumMode::PseudoHeader,
    }
}

fn advert(vrid: u8, priority: u8) -> Advert {
    Advert::v3(
        vrid,
        priority,
        1,
        vec![IpAddr::V4(Ipv4Addr::new(10, 1, 255, vrid))],
    )
}

/// A raw IPPROTO 112 socket in B with a receive timeout.
fn receiver(b: &Netns) -> OwnedFd {
    in_netns(b, || {
        // SAFETY: plain socket(2), checked.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, 112) };
        assert!(fd >= 0, "{}", std::io::Error::last_os_error());
        // SAFETY: fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 300_000,
        };
        // SAFETY: valid timeval for the call.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                size_of::<libc::timeval>() as u32,
            )
        };
        assert_eq!(r, 0);
        fd
    })
    .unwrap()
}

/// Every advert B receives until the socket times out: (dst, TTL, decoded).
fn received(fd: &OwnedFd) -> Vec<(Ipv4Addr, u8, Advert)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1500];
    loop {
        // SAFETY: valid buffer for the call.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n <= 0 {
            return out;
        }
        let ip = &buf[..n as usize];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        let ends = Endpoints::new(src.into(), dst.into()).unwrap();
        let adv = packet::decode(&ip[ihl..], ends, ChecksumAccept::PseudoHeader)
            .unwrap_or_else(|e| panic!("advert to {dst}: {e}"));
        assert_eq!(src, A);
        out.push((dst, ip[8], adv));
    }
}

#[test]
fn outbox_shares_sockets_batches_and_counts_per_instance() {
    require_root_and_netns().unwrap();
    let a = Netns::new("sa").unwrap();
    let b = Netns::new("sb").unwrap();
    veth(&a, "eth0", &b, "eth0").unwrap();
    a.exec(&["ip", "addr", "add", &format!("{A}/24"), "dev", "eth0"])
        .unwrap();
    for addr in [B1, B2] {
        b.exec(&["ip", "addr", "add", &format!("{addr}/24"), "dev", "eth0"])
            .unwrap();
    }
    let rx = receiver(&b);
    // Static neighbours: no copy waits for ARP.
    let mac = b
        .exec(&["cat", "/sys/class/net/eth0/address"])
        .unwrap()
        .stdout;
    let mac = String::from_utf8(mac).unwrap();
    for addr in [B1, B2] {
        #[rustfmt::skip]
        a.exec(&["ip", "neigh", "replace", &addr.to_string(), "lladdr", mac.trim(), "dev", "eth0", "nud", "permanent"]).unwrap();
    }

    in_netns(&a, || {
        let mut outbox = Outbox::new();
        let mut one = outbox.open(&config(&[B1, NOWHERE, B2], 255)).unwrap();
        let mut two = outbox.open(&config(&[B1], 255)).unwrap();
        assert_eq!(
            outbox.sockets(),
            1,
            "same interface, source and TTL: one socket"
        );
        let mut three = outbox.open(&config(&[B2], 64)).unwrap();
        assert_eq!(outbox.sockets(), 2, "another TTL: another socket");

        assert_eq!(one.send(&advert(1, 200)).unwrap(), Sent::Queued(3));
        assert_eq!(two.send(&advert(2, 150)).unwrap(), Sent::Queued(1));
        assert_eq!(three.send(&advert(3, 100)).unwrap(), Sent::Queued(1));
        assert!(!outbox.is_empty());
        assert_eq!(one.take_report().sent, 0, "nothing sent before the flush");
        assert_eq!(outbox.flush(), 4, "every copy but the unroutable one");
        assert!(outbox.is_empty());

        let r = one.take_report();
        assert_eq!((r.sent, r.failed), (2, 1));
        let err = r.error.expect("the refused copy's error").to_string();
        assert!(err.contains("10.9.0.255"), "{err}");
        let r = two.take_report();
        assert_eq!((r.sent, r.failed, r.error.is_none()), (1, 0, true));
        assert_eq!(three.take_report().sent, 1);
        assert_eq!(one.take_report().sent, 0, "a report is taken once");

        // A new priority is encoded afresh; a sink dropped before the flush (a
        // removed instance) still gets its queued copy out.
        two.send(&advert(2, 0)).unwrap();
        drop(two);
        assert_eq!(outbox.flush(), 1);
        assert_eq!(outbox.sockets(), 2, "`one` still holds the shared socket");
        drop(three);
        assert_eq!(
            outbox.sockets(),
            1,
            "the TTL 64 socket closed with its last sink"
        );
    })
    .unwrap();

    let mut got: Vec<(Ipv4Addr, u8, u8, u8)> = received(&rx)
        .into_iter()
        .map(|(dst, ttl, adv)| (dst, ttl, adv.vrid, adv.priority))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (B1, 255, 1, 200),
            (B1, 255, 2, 0),
            (B1, 255, 2, 150),
            (B2, 64, 3, 100),
            (B2, 255, 1, 200),
        ],
        "each copy with its own destination (and checksum over it), TTL per socket"
    );
}

/// A raw IPv6 IPPROTO 112 socket in `ns` reporting each packet's hop limit and
/// destination, with a receive timeout; joined to ff02::12 on eth0.
fn receiver6(ns: &Netns, ifindex: u32) -> OwnedFd {
    let fd = in_netns(ns, || {
        // SAFETY: plain socket(2), checked.
        let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_RAW, 112) };
        assert!(fd >= 0, "{}", std::io::Error::last_os_error());
        // SAFETY: fresh descriptor we own.
        unsafe { OwnedFd::from_raw_fd(fd) }
    })
    .unwrap();
    let on: i32 = 1;
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 300_000,
    };
    let mreq = libc::ipv6_mreq {
        ipv6mr_multiaddr: libc::in6_addr {
            s6_addr: packet::MULTICAST_V6.octets(),
        },
        ipv6mr_interface: ifindex,
    };
    // SAFETY: valid option values of the sizes given.
    unsafe {
        let set = |level, name, val: *const libc::c_void, len: usize| {
            let r = libc::setsockopt(fd.as_raw_fd(), level, name, val, len as u32);
            assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
        };
        set(
            libc::IPPROTO_IPV6,
            libc::IPV6_RECVHOPLIMIT,
            (&on as *const i32).cast(),
            4,
        );
        set(
            libc::IPPROTO_IPV6,
            libc::IPV6_RECVPKTINFO,
            (&on as *const i32).cast(),
            4,
        );
        set(
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            size_of::<libc::timeval>(),
        );
        set(
            libc::IPPROTO_IPV6,
            libc::IPV6_ADD_MEMBERSHIP,
            (&mreq as *const libc::ipv6_mreq).cast(),
            size_of::<libc::ipv6_mreq>(),
        );
    }
    fd
}

/// Every advert the IPv6 receiver gets until it times out: (src, dst, hop limit,
/// decoded with the pseudo-header checksum).
fn received6(fd: &OwnedFd) -> Vec<(Ipv6Addr, Ipv6Addr, u8, Advert)> {
    let mut out = Vec::new();
    loop {
        let mut buf = [0u8; 1500];
        let mut cmsg = [0u64; 32];
        // SAFETY: all-zero is a valid sockaddr_in6 and msghdr.
        let mut from: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: as above.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&raw mut from).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_in6>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; 32]>();
        // SAFETY: msg points to live buffers.
        let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, 0) };
        if n <= 0 {
            return out;
        }
        let (mut hops, mut dst) = (0u8, Ipv6Addr::UNSPECIFIED);
        // SAFETY: walking what the kernel wrote, with libc's macros.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                let data = libc::CMSG_DATA(c);
                match ((*c).cmsg_level, (*c).cmsg_type) {
                    (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                        hops = std::ptr::read_unaligned(data.cast::<i32>()) as u8;
                    }
                    (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                        let info: libc::in6_pktinfo = std::ptr::read_unaligned(data.cast());
                        dst = Ipv6Addr::from(info.ipi6_addr.s6_addr);
                    }
                    _ => {}
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        let src = Ipv6Addr::from(from.sin6_addr.s6_addr);
        let ends = Endpoints::new(src.into(), dst.into()).unwrap();
        let adv = packet::decode(&buf[..n as usize], ends, ChecksumAccept::PseudoHeader)
            .unwrap_or_else(|e| panic!("advert {src} -> {dst}: {e}"));
        out.push((src, dst, hops, adv));
    }
}

#[test]
fn ipv6_unicast_and_multicast_with_hop_limit_255_and_good_checksums() {
    require_root_and_netns().unwrap();
    let a = Netns::new("s6a").unwrap();
    let b = Netns::new("s6b").unwrap();
    veth(&a, "eth0", &b, "eth0").unwrap();
    let a6: Ipv6Addr = "2001:db8:9::1".parse().unwrap();
    let b6: Ipv6Addr = "2001:db8:9::2".parse().unwrap();
    a.exec(&[
        "ip",
        "addr",
        "add",
        "2001:db8:9::1/64",
        "dev",
        "eth0",
        "nodad",
    ])
    .unwrap();
    b.exec(&[
        "ip",
        "addr",
        "add",
        "2001:db8:9::2/64",
        "dev",
        "eth0",
        "nodad",
    ])
    .unwrap();
    // Link-local addresses come up with DAD; switched off so they are usable at once.
    for ns in [&a, &b] {
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0"])
            .unwrap();
    }
    let a_ll = a.link_local("eth0").unwrap();
    let rx = receiver6(&b, b.ifindex("eth0").unwrap());
    let mac = b
        .exec(&["cat", "/sys/class/net/eth0/address"])
        .unwrap()
        .stdout;
    let mac = String::from_utf8(mac).unwrap();
    #[rustfmt::skip]
    a.exec(&["ip", "-6", "neigh", "replace", "2001:db8:9::2", "lladdr", mac.trim(), "dev", "eth0", "nud", "permanent"]).unwrap();

    let vip = IpAddr::V6("2001:db8:ff::1".parse().unwrap());
    in_netns(&a, || {
        let mut outbox = Outbox::new();
        let unicast = SenderConfig {
            ifname: Some("eth0".into()),
            source: IpAddr::V6(a6),
            destinations: Destinations::Unicast(vec![IpAddr::V6(b6)]),
            ttl: 255,
            checksum: ChecksumMode::PseudoHeader,
        };
        let multicast = SenderConfig {
            source: IpAddr::V6(a_ll),
            destinations: Destinations::Multicast,
            ..unicast.clone()
        };
        let mut one = outbox.open(&unicast).unwrap();
        let mut two = outbox.open(&multicast).unwrap();
        assert_eq!(outbox.sockets(), 2, "two sources: two sockets");
        one.send(&Advert::v3(61, 200, 1, vec![vip])).unwrap();
        two.send(&Advert::v3(62, 150, 1, vec![vip])).unwrap();
        assert_eq!(outbox.flush(), 2);
        assert_eq!(one.take_report().failed, 0);
        assert_eq!(two.take_report().failed, 0);
        // A mixed-family destination is refused with a clear error, not sent.
        let mixed = SenderConfig {
            destinations: Destinations::Unicast(vec![IpAddr::V4(B1)]),
            ..unicast.clone()
        };
        let mut three = outbox.open(&mixed).unwrap();
        let err = three.send(&Advert::v3(63, 1, 1, vec![vip])).unwrap_err();
        assert!(err.to_string().contains("two families"), "{err}");
    })
    .unwrap();

    let mut got: Vec<(Ipv6Addr, Ipv6Addr, u8, u8, u8)> = received6(&rx)
        .into_iter()
        .map(|(src, dst, hops, adv)| (src, dst, hops, adv.vrid, adv.priority))
        .collect();
    got.sort();
    let mut want = vec![
        (a6, b6, 255, 61, 200),
        (a_ll, packet::MULTICAST_V6, 255, 62, 150),
    ];
    want.sort();
    assert_eq!(got, want, "both copies, hop limit 255, checksums good");
}

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

use std::{
    net::{IpAddr, Ipv4Addr},
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
        source: A,
        destinations: Destinations::Unicast(dsts.to_vec()),
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

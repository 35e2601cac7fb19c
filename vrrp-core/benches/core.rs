//! Micro-benchmarks of the per-advert work in the core: decoding and validating one
//! advert, and one state-machine step for an advert received in Backup. Run by
//! `cargo bench -p vrrp-core --bench core` (and by `cargo xtask bench`, which puts
//! the results in BENCHMARKS.md).

use std::{
    hint::black_box,
    net::{IpAddr, Ipv4Addr},
    time::Duration,
};

use criterion::{Criterion, criterion_group, criterion_main};
use vrrp_core::{
    packet::{Advert, ChecksumAccept, ChecksumMode, Endpoints, decode, encode},
    router::{Config, Input, ReceivedAdvert, Router, State, Version},
    time::Instant,
};

const MASTER: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 10);
const BACKUP: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 20);

fn vips(n: u8) -> Vec<IpAddr> {
    (1..=n)
        .map(|i| IpAddr::V4(Ipv4Addr::new(10, 1, 255, i)))
        .collect()
}

/// `vrrp_core::packet::decode` on a unicast VRRPv3 advert with 1 and 20 addresses
/// (checksum with the IPv4 pseudo-header, either form accepted, as the daemon does).
fn bench_decode(c: &mut Criterion) {
    let ends = Endpoints::V4 {
        src: MASTER,
        dst: BACKUP,
    };
    let mut g = c.benchmark_group("decode");
    for n in [1u8, 20] {
        let msg = encode(
            &Advert::v3(51, 200, 100, vips(n)),
            ends,
            ChecksumMode::PseudoHeader,
        )
        .expect("a valid advert");
        g.bench_function(format!("v3_ipv4_{n}_addr"), |b| {
            b.iter(|| decode(black_box(&msg), black_box(ends), ChecksumAccept::Either))
        });
    }
    g.finish();
}

/// `Router::handle` with `Input::Advert` from the master while in Backup: the common
/// case on every backup, 100 times a second per instance at 10 ms adverts. The
/// advert (with its address list) is cloned each time, as the daemon builds one per
/// received record.
fn bench_router(c: &mut Criterion) {
    let mut cfg = Config::new(51, 100, IpAddr::V4(BACKUP));
    cfg.version = Version::V3;
    cfg.advert_interval_cs = 1;
    cfg.vips = vips(1);
    let mut router = Router::new(cfg).expect("a valid config");
    let mut now = Instant::from_millis(1_000);
    router.handle(now, Input::Startup);
    assert_eq!(router.state(), State::Backup);
    let advert = ReceivedAdvert {
        src: IpAddr::V4(MASTER),
        version: Version::V3,
        vrid: 51,
        priority: 200,
        max_adver_int_cs: 1,
        addrs: vips(1),
        rx_time: now,
    };
    c.bench_function("router/backup_advert", |b| {
        b.iter(|| {
            now = now + Duration::from_millis(10);
            let adv = ReceivedAdvert {
                rx_time: now,
                ..advert.clone()
            };
            black_box(router.handle(now, Input::Advert(adv)))
        })
    });
    assert_eq!(router.state(), State::Backup, "the router stayed backup");
}

criterion_group!(benches, bench_decode, bench_router);
criterion_main!(benches);

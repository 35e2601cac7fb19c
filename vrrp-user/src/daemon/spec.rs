//! What the protocol core, the datapath and the sender need from one instance's
//! configuration, resolved against the host once.

use std::net::{IpAddr, Ipv4Addr};

use vrrp_common::{PeerConfig, VRID_F_ANY_SOURCE, VRID_F_MULTICAST, VRID_F_V2_CSUM_OK, VridConfig};
use vrrp_core::{
    packet::{Advert, ChecksumMode, V2Auth},
    router,
};

use super::host::Host;
use crate::{
    config::{self, Transport},
    datapath::{PeerEntry, VridEntry},
    sender::{Destinations, SenderConfig},
};

/// Why an instance cannot run on this host (the file itself was valid).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("instance {instance:?}: interface {iface:?} does not exist")]
    NoInterface { instance: String, iface: String },
    #[error("instance {instance:?}: no interface but lo to receive adverts on")]
    NoUplinks { instance: String },
    #[error(
        "instance {instance:?}: interface {iface:?} has no IPv4 address to send multicast adverts from"
    )]
    NoSourceAddress { instance: String, iface: String },
    #[error("instance {instance:?}: IPv6 instances are not supported yet (IPv4 first)")]
    Ipv6 { instance: String },
    #[error("instance {instance:?}: {err}")]
    Router {
        instance: String,
        err: router::ConfigError,
    },
}

/// The static parts of a running instance, derived once from its configuration.
#[derive(Clone, Debug)]
pub struct InstanceSpec {
    pub cfg: config::Instance,
    /// Where adverts are received: the advert link, or every uplink of a routed
    /// instance (as found at start). Never empty.
    pub ifindexes: Vec<u32>,
    /// The advert link of a link instance: its loss is FAULT, its VIPs are announced
    /// on it. `None` for a routed instance.
    pub link: Option<u32>,
    pub primary: Ipv4Addr,
    pub router: router::Config,
    pub sender: SenderConfig,
    /// One entry per receiving interface, alike but for the index.
    pub datapath: Vec<VridEntry>,
}

impl InstanceSpec {
    pub fn new(cfg: &config::Instance, host: &dyn Host) -> Result<InstanceSpec, SetupError> {
        let name = cfg.name.clone();
        if cfg.family() == config::Family::V6 {
            return Err(SetupError::Ipv6 { instance: name });
        }
        let names: Vec<String> = match &cfg.links {
            config::Links::Link(l) => vec![l.clone()],
            all if all.all_uplinks() => host.uplinks(),
            config::Links::Uplinks(v) => v.clone(),
        };
        if names.is_empty() {
            return Err(SetupError::NoUplinks { instance: name });
        }
        let ifindexes = names
            .iter()
            .map(|n| {
                host.ifindex(n).ok_or_else(|| SetupError::NoInterface {
                    instance: name.clone(),
                    iface: n.clone(),
                })
            })
            .collect::<Result<Vec<u32>, _>>()?;
        let link = cfg.link().map(|_| ifindexes[0]);
        let (primary, destinations, unicast_dst, flags, peers) = match &cfg.transport {
            Transport::Unicast { source, peers } => {
                let IpAddr::V4(src) = source.addr() else {
                    return Err(SetupError::Ipv6 { instance: name });
                };
                let mut dsts = Vec::new();
                let mut entries = Vec::new();
                for p in peers {
                    if let IpAddr::V4(a) = p.address {
                        dsts.push(a);
                        entries.push(PeerEntry {
                            addr: a.octets(),
                            config: PeerConfig {
                                ttl_min: p.ttl_min,
                                ttl_max: p.ttl_max,
                                _pad: [0; 2],
                            },
                        });
                    }
                }
                (src, Destinations::Unicast(dsts), src.octets(), 0, entries)
            }
            Transport::Multicast => {
                let src =
                    host.first_ipv4(&names[0])
                        .ok_or_else(|| SetupError::NoSourceAddress {
                            instance: name.clone(),
                            iface: names[0].clone(),
                        })?;
                (
                    src,
                    Destinations::Multicast,
                    [0; 4],
                    VRID_F_MULTICAST | VRID_F_ANY_SOURCE,
                    Vec::new(),
                )
            }
        };
        let version = cfg.version;
        let router = router::Config {
            vrid: cfg.vrid,
            version,
            priority: cfg.priority,
            advert_interval_cs: (cfg.advert_interval.as_millis() / 10) as u16,
            primary_addr: IpAddr::V4(primary),
            vips: cfg.vips.iter().map(|v| v.address.addr()).collect(),
            preempt: cfg.preempt,
            preempt_delay: cfg.preempt_delay,
            accept_mode: cfg.accept_mode,
            check_vips: true,
        };
        router.validate().map_err(|err| SetupError::Router {
            instance: name.clone(),
            err,
        })?;
        let checksum = if cfg.v3_checksum_as_v2 {
            ChecksumMode::MessageOnly
        } else {
            ChecksumMode::PseudoHeader
        };
        let v2_csum = if cfg.v3_checksum_as_v2 {
            VRID_F_V2_CSUM_OK
        } else {
            0
        };
        let entry = |ifindex| VridEntry {
            ifindex,
            vrid: cfg.vrid,
            config: VridConfig {
                unicast_dst,
                flags: flags | v2_csum,
                version: version.number(),
                _pad: [0; 2],
            },
            peers: peers.clone(),
        };
        Ok(InstanceSpec {
            datapath: ifindexes.iter().map(|&i| entry(i)).collect(),
            ifindexes,
            link,
            primary,
            sender: SenderConfig {
                ifname: cfg.link().map(str::to_string),
                source: primary,
                destinations,
                ttl: cfg.ttl,
                checksum,
            },
            router,
            cfg: cfg.clone(),
        })
    }

    /// The advert to send with the values the state machine asked for.
    pub fn advert(&self, priority: u8, interval_cs: u16) -> Advert {
        let addrs = self.router.vips.clone();
        match self.router.version {
            router::Version::V3 => Advert::v3(self.cfg.vrid, priority, interval_cs, addrs),
            router::Version::V2 => Advert::v2(
                self.cfg.vrid,
                priority,
                (interval_cs / 100).max(1) as u8,
                addrs,
                V2Auth::NONE,
            ),
        }
    }
}

//! What the protocol core, the datapath and the sender need from one instance's
//! configuration, resolved against the host once.

use std::net::IpAddr;

use vrrp_common::{
    FAMILY_V4, FAMILY_V6, PeerConfig, VRID_F_ANY_SOURCE, VRID_F_MULTICAST, VRID_F_V2_CSUM_OK,
    VridConfigOf, VridKey,
};
use vrrp_core::{
    packet::{Advert, ChecksumMode, V2Auth},
    router,
};

use super::host::Host;
use crate::{
    config::{self, Transport},
    datapath::{
        DatapathConfig,
        table::{PeerEntryOf, VridEntryOf},
    },
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
        "instance {instance:?}: interface {iface:?} has no {what} address to send multicast adverts from"
    )]
    NoSourceAddress {
        instance: String,
        iface: String,
        /// "IPv4" or "IPv6 link-local".
        what: &'static str,
    },
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
    /// The address adverts are sent from (the state machine's primary address).
    pub primary: IpAddr,
    pub router: router::Config,
    pub sender: SenderConfig,
    /// One entry per receiving interface, alike but for the index, in the list of
    /// the instance's family.
    pub datapath: DatapathConfig,
}

impl InstanceSpec {
    pub fn new(cfg: &config::Instance, host: &dyn Host) -> Result<InstanceSpec, SetupError> {
        let name = cfg.name.clone();
        let family = cfg.family();
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
        // Validation made every address of the instance one family.
        let (primary, destinations, unicast_dst, flags, peers) = match &cfg.transport {
            Transport::Unicast { source, peers } => {
                let src = source.addr();
                let peers: Vec<(IpAddr, PeerConfig)> = peers
                    .iter()
                    .map(|p| {
                        let window = PeerConfig {
                            ttl_min: p.ttl_min,
                            ttl_max: p.ttl_max,
                            _pad: [0; 2],
                        };
                        (p.address, window)
                    })
                    .collect();
                let dsts = peers.iter().map(|(a, _)| *a).collect();
                (src, Destinations::Unicast(dsts), Some(src), 0, peers)
            }
            Transport::Multicast => {
                let src = host.multicast_source(&names[0], family).ok_or_else(|| {
                    SetupError::NoSourceAddress {
                        instance: name.clone(),
                        iface: names[0].clone(),
                        what: match family {
                            config::Family::V4 => "IPv4",
                            config::Family::V6 => "IPv6 link-local",
                        },
                    }
                })?;
                (
                    src,
                    Destinations::Multicast,
                    None,
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
            primary_addr: primary,
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
        let flags = flags | v2_csum;
        let version_number = version.number();
        let mut datapath = DatapathConfig::default();
        for &ifindex in &ifindexes {
            match primary {
                IpAddr::V4(_) => datapath.entries.push(vrid_entry(
                    ifindex,
                    cfg.vrid,
                    unicast_dst.map(octets4),
                    flags,
                    version_number,
                    peers.iter().map(|(a, w)| (octets4(*a), *w)),
                )),
                IpAddr::V6(_) => datapath.entries6.push(vrid_entry(
                    ifindex,
                    cfg.vrid,
                    unicast_dst.map(octets16),
                    flags,
                    version_number,
                    peers.iter().map(|(a, w)| (octets16(*a), *w)),
                )),
            }
        }
        Ok(InstanceSpec {
            datapath,
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

    /// The datapath's key of this instance's VRID on `ifindex` (the family decides).
    pub fn key(&self, ifindex: u32) -> VridKey {
        let family = match self.primary {
            IpAddr::V4(_) => FAMILY_V4,
            IpAddr::V6(_) => FAMILY_V6,
        };
        VridKey::of(family, ifindex, self.cfg.vrid)
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

/// One VRID's datapath entry in its family's addresses.
fn vrid_entry<A: Copy + Default>(
    ifindex: u32,
    vrid: u8,
    unicast_dst: Option<A>,
    flags: u8,
    version: u8,
    peers: impl Iterator<Item = (A, PeerConfig)>,
) -> VridEntryOf<A> {
    VridEntryOf {
        ifindex,
        vrid,
        config: VridConfigOf {
            // All zero is the maps' "no unicast destination".
            unicast_dst: unicast_dst.unwrap_or_default(),
            flags,
            version,
            _pad: [0; 2],
        },
        peers: peers
            .map(|(addr, config)| PeerEntryOf { addr, config })
            .collect(),
    }
}

/// The bytes of an address validation made IPv4 (zeros otherwise, never reached).
fn octets4(a: IpAddr) -> [u8; 4] {
    match a {
        IpAddr::V4(v4) => v4.octets(),
        IpAddr::V6(_) => [0; 4],
    }
}

/// The bytes of an address validation made IPv6.
fn octets16(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(v6) => v6.octets(),
        IpAddr::V4(_) => [0; 16],
    }
}

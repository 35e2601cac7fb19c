//! The XDP datapath: load the embedded object (in a child process, see
//! [`loader`](super::loader)), fill its maps from the configuration, attach it to each
//! interface, and read validated adverts from its ring buffer.

use std::{collections::HashSet, io, os::fd::OwnedFd};

use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use bytemuck::pod_read_unaligned;
use tokio::io::unix::AsyncFd;
use tracing::info;
use vrrp_common::{
    AdvertRecord, Counter, PeerConfig, PeerKey, VridConfig, VridKey,
    follow::{Follow, Followed, FollowedSlot},
    names,
};

use super::{
    Counters, DatapathConfig, DatapathError, MAX_BATCH,
    follow::FollowTable,
    loader::{self, Object, XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE},
    register_readable,
};

/// How the program ended up attached to one interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachMode {
    /// In the driver (native XDP).
    Driver,
    /// In the generic (SKB) hook, after the driver: slower but works everywhere (`lo`).
    Generic,
}

pub struct XdpDatapath {
    /// The program and the maps (by name) the loader child handed over.
    ebpf: Object,
    /// Registered with tokio on first `recv`, so loading works without a runtime.
    ring: Ring,
    /// Interface, mode, and the bpf_link whose closing detaches.
    attached: Vec<(u32, AttachMode, OwnedFd)>,
    installed: DatapathConfig,
    /// The follow maps, until the controller takes them ([`Self::take_follow`]).
    follow: Option<Box<XdpFollow>>,
}

impl XdpDatapath {
    /// Loads the program, writes the maps and attaches to every configured interface.
    pub fn start(config: &DatapathConfig) -> Result<Self, DatapathError> {
        let mut dp = Self::load()?;
        dp.update(config)?;
        for ifindex in config.ifindexes() {
            dp.attach(ifindex)?;
        }
        Ok(dp)
    }

    /// Loads and verifies the program without attaching it anywhere. Used by `start`
    /// and by the verdict tests (`BPF_PROG_TEST_RUN` needs no interface). The loading
    /// itself happens in a short-lived child process ([`loader::load`]), so this
    /// process never parses kernel BTF.
    pub fn load() -> Result<Self, DatapathError> {
        let mut ebpf = loader::load()?;
        let ring_map = ebpf
            .take_map(names::RECORDS)
            .ok_or_else(|| DatapathError::Load("no RECORDS map".into()))?;
        let ring = RingBuf::try_from(ring_map).map_err(|e| DatapathError::Load(e.into()))?;
        let mut take = |name: &'static str| {
            ebpf.take_map(name)
                .ok_or_else(|| DatapathError::Load(format!("no {name} map").into()))
        };
        let follow = XdpFollow {
            follow: BpfHashMap::try_from(take(names::FOLLOW)?)
                .map_err(|e| map_err(names::FOLLOW, e))?,
            followed: BpfHashMap::try_from(take(names::FOLLOWED)?)
                .map_err(|e| map_err(names::FOLLOWED, e))?,
        };
        Ok(XdpDatapath {
            ebpf,
            ring: Ring::Plain(ring),
            attached: Vec::new(),
            installed: DatapathConfig::default(),
            follow: Some(Box::new(follow)),
        })
    }

    /// The loaded program, for `test_run`.
    pub fn program(&self) -> &loader::Program {
        &self.ebpf.program
    }

    /// Attaches in driver mode, falling back to generic mode; says which.
    pub fn attach(&mut self, ifindex: u32) -> Result<AttachMode, DatapathError> {
        let name = ifname(ifindex).ok_or(DatapathError::NoSuchInterface(ifindex))?;
        let prog = &self.ebpf.program;
        let (mode, link) = match prog.attach(ifindex, XDP_FLAGS_DRV_MODE) {
            Ok(link) => (AttachMode::Driver, link),
            Err(native) => match prog.attach(ifindex, XDP_FLAGS_SKB_MODE) {
                Ok(link) => {
                    info!(iface = %name, reason = %native, "native XDP unavailable, attached in generic (SKB) mode");
                    (AttachMode::Generic, link)
                }
                Err(e) => {
                    return Err(DatapathError::Attach {
                        iface: name,
                        source: e.into(),
                    });
                }
            },
        };
        if mode == AttachMode::Driver {
            info!(iface = %name, "XDP attached in driver (native) mode");
        }
        self.attached.push((ifindex, mode, link));
        Ok(mode)
    }

    /// Interfaces the program is attached to, with the mode each got.
    pub fn attachments(&self) -> Vec<(u32, AttachMode)> {
        self.attached.iter().map(|(i, m, _)| (*i, *m)).collect()
    }

    /// Makes the maps equal to `config`: inserts new and changed entries, then removes
    /// the stale ones, so a reload never opens a window where a live VRID is unknown.
    pub fn update(&mut self, config: &DatapathConfig) -> Result<(), DatapathError> {
        let (vrids, peers) = config.map_entries();
        let (old_vrids, old_peers) = self.installed.map_entries();
        {
            let mut map: BpfHashMap<_, VridKey, VridConfig> =
                BpfHashMap::try_from(self.ebpf.map_mut(names::VRIDS).expect("VRIDS map"))
                    .map_err(|e| map_err(names::VRIDS, e))?;
            for (k, v) in &vrids {
                map.insert(k, v, 0).map_err(|e| map_err(names::VRIDS, e))?;
            }
            let keep: HashSet<VridKey> = vrids.iter().map(|(k, _)| *k).collect();
            for (k, _) in old_vrids.iter().filter(|(k, _)| !keep.contains(k)) {
                map.remove(k).map_err(|e| map_err(names::VRIDS, e))?;
            }
        }
        {
            let mut map: BpfHashMap<_, PeerKey, PeerConfig> =
                BpfHashMap::try_from(self.ebpf.map_mut(names::PEERS).expect("PEERS map"))
                    .map_err(|e| map_err(names::PEERS, e))?;
            for (k, v) in &peers {
                map.insert(k, v, 0).map_err(|e| map_err(names::PEERS, e))?;
            }
            let keep: HashSet<PeerKey> = peers.iter().map(|(k, _)| *k).collect();
            for (k, _) in old_peers.iter().filter(|(k, _)| !keep.contains(k)) {
                map.remove(k).map_err(|e| map_err(names::PEERS, e))?;
            }
        }
        // Attach to interfaces that are new in this configuration.
        let have: HashSet<u32> = self.attached.iter().map(|(i, _, _)| *i).collect();
        let want = config.ifindexes();
        self.installed = config.clone();
        if !self.attached.is_empty() {
            for ifindex in want.into_iter().filter(|i| !have.contains(i)) {
                self.attach(ifindex)?;
            }
        }
        Ok(())
    }

    /// Waits until the ring has records, then drains it into `out`.
    pub async fn recv(&mut self, out: &mut Vec<AdvertRecord>) -> io::Result<()> {
        if let Ring::Plain(_) = self.ring {
            let Ring::Plain(ring) = std::mem::replace(&mut self.ring, Ring::Moving) else {
                unreachable!()
            };
            self.ring = Ring::Async(register_readable(ring)?);
        }
        let Ring::Async(fd) = &mut self.ring else {
            unreachable!("registered above")
        };
        loop {
            let mut guard = fd.readable_mut().await?;
            let before = out.len();
            if drain_ring(guard.get_inner_mut(), out, MAX_BATCH) {
                // Stopped at the limit: readiness kept, the next call reads on at once.
                return Ok(());
            }
            guard.clear_ready();
            if out.len() > before {
                return Ok(());
            }
        }
    }

    /// Drains whatever is in the ring now, without waiting.
    pub fn drain(&mut self, out: &mut Vec<AdvertRecord>) {
        match &mut self.ring {
            Ring::Plain(r) => {
                drain_ring(r, out, usize::MAX);
            }
            Ring::Async(fd) => {
                drain_ring(fd.get_mut(), out, usize::MAX);
            }
            Ring::Moving => {}
        }
    }

    /// Verdict counters, summed over CPUs.
    pub fn counters(&self) -> Counters {
        let mut out = Counters::default();
        let Some(map) = self.ebpf.map(names::COUNTERS) else {
            return out;
        };
        let Ok(arr) = PerCpuArray::<_, u64>::try_from(map) else {
            return out;
        };
        for c in Counter::ALL {
            if let Ok(values) = arr.get(&(c as u32), 0) {
                out.0.insert(c, values.iter().sum());
            }
        }
        out
    }

    /// The follow filter's maps, for the controller (once).
    pub fn take_follow(&mut self) -> Option<Box<XdpFollow>> {
        self.follow.take()
    }
}

/// The XDP program's follow maps: `FOLLOW` written here, `FOLLOWED` kept by the program
/// (only created zeroed and removed here, so its timer and counters are never reset
/// under it).
pub struct XdpFollow {
    follow: BpfHashMap<MapData, VridKey, Follow>,
    followed: BpfHashMap<MapData, VridKey, FollowedSlot>,
}

impl FollowTable for XdpFollow {
    fn install(&mut self, keys: &std::collections::BTreeSet<VridKey>) {
        let stale: Vec<VridKey> = self
            .followed
            .keys()
            .filter_map(Result::ok)
            .filter(|k| !keys.contains(k))
            .collect();
        for k in &stale {
            let _ = self.follow.remove(k);
            let _ = self.followed.remove(k);
        }
        for k in keys {
            // BPF_NOEXIST: a kept VRID keeps its state.
            let _ = self.followed.insert(k, FollowedSlot::default(), 1);
        }
    }

    fn arm(&mut self, key: VridKey, follow: &Follow) -> bool {
        self.follow.insert(key, follow, 0).is_ok()
    }

    fn disarm(&mut self, key: VridKey) -> Option<Followed> {
        let _ = self.follow.remove(&key);
        self.followed(key)
    }

    fn followed(&self, key: VridKey) -> Option<Followed> {
        self.followed.get(&key, 0).ok().map(|s| s.state)
    }
}

enum Ring {
    Plain(RingBuf<MapData>),
    Async(AsyncFd<RingBuf<MapData>>),
    /// Only while switching from `Plain` to `Async`.
    Moving,
}

/// Moves up to `limit` records from the ring to `out`; true if it stopped at the limit.
fn drain_ring(ring: &mut RingBuf<MapData>, out: &mut Vec<AdvertRecord>, limit: usize) -> bool {
    let mut taken = 0;
    while taken < limit {
        let Some(item) = ring.next() else {
            return false;
        };
        taken += 1;
        if item.len() >= size_of::<AdvertRecord>() {
            out.push(pod_read_unaligned(&item[..size_of::<AdvertRecord>()]));
        }
    }
    true
}

fn map_err(map: &'static str, e: impl std::error::Error + Send + Sync + 'static) -> DatapathError {
    DatapathError::Map {
        map,
        source: Box::new(e),
    }
}

/// Interface name for an index.
pub fn ifname(ifindex: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has IF_NAMESIZE bytes as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name into buf.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// Interface index for a name.
pub fn ifindex(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

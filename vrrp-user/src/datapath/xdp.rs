//! The XDP datapath: load the embedded object (in a child process, see
//! [`loader`](super::loader)), fill its maps from the configuration, attach it to each
//! interface, and read validated adverts from its ring buffer.

use std::{collections::HashSet, io, os::fd::OwnedFd};

use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use bytemuck::pod_read_unaligned;
use tokio::io::unix::AsyncFd;
use tracing::info;
use vrrp_common::{
    AdvertRecord, AdvertRecord6, Counter, PeerKeyOf, Record, VridConfigOf, VridKey, WireAddr,
    follow::{Follow, Followed, FollowedSlot},
    names,
};

use super::{
    Counters, DatapathConfig, DatapathError, MAX_BATCH,
    follow::FollowTable,
    loader::{self, Object, XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE},
    register_readable,
    table::{PeerEntries, VridEntries},
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
        self.sync_maps::<[u8; 4]>(
            (names::VRIDS, names::PEERS),
            (&vrids, &peers),
            (&old_vrids, &old_peers),
        )?;
        let (vrids, peers) = config.map_entries6();
        let (old_vrids, old_peers) = self.installed.map_entries6();
        self.sync_maps::<[u8; 16]>(
            (names::VRIDS6, names::PEERS6),
            (&vrids, &peers),
            (&old_vrids, &old_peers),
        )?;
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

    /// Makes one family's VRID and peer maps hold `new` instead of `old`: inserts
    /// first, then removes what is gone.
    fn sync_maps<A: WireAddr>(
        &mut self,
        (vrids_map, peers_map): (&'static str, &'static str),
        (vrids, peers): (&VridEntries<A>, &PeerEntries<A>),
        (old_vrids, old_peers): (&VridEntries<A>, &PeerEntries<A>),
    ) -> Result<(), DatapathError>
    where
        VridConfigOf<A>: aya::Pod,
        PeerKeyOf<A>: aya::Pod + Eq + std::hash::Hash,
    {
        sync_map(&mut self.ebpf, vrids_map, vrids, old_vrids)?;
        sync_map(&mut self.ebpf, peers_map, peers, old_peers)
    }

    /// Waits until the ring has records, then drains it into `out`.
    pub async fn recv(&mut self, out: &mut Vec<Record>) -> io::Result<()> {
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
    pub fn drain(&mut self, out: &mut Vec<Record>) {
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
fn drain_ring(ring: &mut RingBuf<MapData>, out: &mut Vec<Record>, limit: usize) -> bool {
    let mut taken = 0;
    while taken < limit {
        let Some(item) = ring.next() else {
            return false;
        };
        taken += 1;
        // The program writes whole records; the length tells the family.
        match item.len() {
            n if n == size_of::<AdvertRecord>() => {
                out.push(Record::V4(pod_read_unaligned(&item)));
            }
            n if n == size_of::<AdvertRecord6>() => {
                out.push(Record::V6(pod_read_unaligned(&item)));
            }
            _ => {}
        }
    }
    true
}

/// Makes the hash map `name` hold `new`, which replaces `old`.
fn sync_map<K, V>(
    ebpf: &mut Object,
    name: &'static str,
    new: &[(K, V)],
    old: &[(K, V)],
) -> Result<(), DatapathError>
where
    K: aya::Pod + Eq + std::hash::Hash,
    V: aya::Pod,
{
    let mut map: BpfHashMap<_, K, V> =
        BpfHashMap::try_from(ebpf.map_mut(name).ok_or(DatapathError::MissingMap(name))?)
            .map_err(|e| map_err(name, e))?;
    for (k, v) in new {
        map.insert(k, v, 0).map_err(|e| map_err(name, e))?;
    }
    let keep: HashSet<&K> = new.iter().map(|(k, _)| k).collect();
    for (k, _) in old.iter().filter(|(k, _)| !keep.contains(k)) {
        map.remove(k).map_err(|e| map_err(name, e))?;
    }
    Ok(())
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

//! One instance at run time: its resolved spec, its advert sink, what the controller
//! remembers about its kernel state, and its counters.

use std::time::Duration;

use vrrp_core::{
    packet::Advert,
    router::{Reason, State},
    time::Instant,
};

use super::spec::InstanceSpec;
use crate::{metrics::JitterTracker, sender::AdvertSink, status::HookCounts};

pub struct Instance {
    pub spec: InstanceSpec,
    pub sink: Box<dyn AdvertSink>,
    pub stats: Stats,
    /// The state machine's state, as of its last transition.
    pub state: State,
    /// When the VIPs' lease was last set.
    pub lease_set: Option<Instant>,
    /// Jitter of the followed master's adverts, from kernel receive times.
    pub jitter: JitterTracker,
    pub jitter_src: Option<[u8; 4]>,
    /// Whether the VIPs we hold accept traffic (false: blocked, accept mode off).
    pub accept: bool,
    /// The VIPs were ever blocked with nftables: a resync must also restore that.
    pub nft_used: bool,
    /// Kernel work was dropped on a full queue: the whole kernel state for the
    /// current state is queued again once there is room.
    pub resync: bool,
    /// The last advert sent, by the (priority, interval) asked for: a master sends
    /// the same one every interval. Cleared when the spec changes.
    pub advert: Option<((u8, u16), Advert)>,
}

impl Instance {
    pub fn new(spec: InstanceSpec, sink: Box<dyn AdvertSink>) -> Instance {
        Instance {
            spec,
            sink,
            stats: Stats::default(),
            state: State::Initialize,
            lease_set: None,
            jitter: JitterTracker::new(),
            jitter_src: None,
            accept: true,
            nft_used: false,
            resync: false,
            advert: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.cfg.name
    }
}

/// The last state change, for status and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastTransition {
    pub from: State,
    pub to: State,
    pub reason: Reason,
    pub at: Instant,
    /// Kernel time of the last advert from the old master to this transition.
    pub detection: Option<Duration>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub adverts_sent: u64,
    pub adverts_received: u64,
    /// Adverts that could not be sent (every destination failed).
    pub send_errors: u64,
    /// Received adverts the state machine dropped (VRID, version, own, interval,
    /// address list mismatch).
    pub ignored: u64,
    /// Kernel changes dropped because the instance's queue was full (then resynced).
    pub kernel_dropped: u64,
    pub hooks: HookCounts,
    pub last: Option<LastTransition>,
    /// Detection time of the last Backup -> Master takeover.
    pub last_failover_detection: Option<Duration>,
    /// Transitions by (new state, reason), sorted. A Vec, not a BTreeMap: a map's
    /// first node is 544 bytes for the two or three entries an instance gets.
    pub transitions: Vec<((State, Reason), u64)>,
}

impl Stats {
    /// Counts one transition to `to` for `reason`.
    pub fn count_transition(&mut self, to: State, reason: &Reason) {
        let key = (to, reason.clone());
        match self.transitions.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(i) => self.transitions[i].1 += 1,
            Err(i) => self.transitions.insert(i, (key, 1)),
        }
    }
}

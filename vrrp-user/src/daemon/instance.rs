//! One instance at run time: its resolved spec, its advert sink, what the controller
//! remembers about its kernel state, and its counters.

use std::time::Duration;

use tracing::{info, warn};
use vrrp_core::{
    packet::Advert,
    router::{Reason, State},
    time::Instant,
};

use vrrp_common::{Record, VridKey};

use super::spec::InstanceSpec;
use crate::{
    sender::{AdvertSink, SendError, SendReport},
    status::HookCounts,
};

pub struct Instance {
    pub spec: InstanceSpec,
    pub sink: Box<dyn AdvertSink>,
    pub stats: Stats,
    /// The state machine's state, as of its last transition.
    pub state: State,
    /// When the VIPs' lease was last set.
    pub lease_set: Option<Instant>,
    /// The datapath absorbs copies of this advert (`vrrp_common::follow`).
    pub armed: Option<Armed>,
    /// Whether the VIPs we hold accept traffic (false: blocked, accept mode off).
    pub accept: bool,
    /// The VIPs were ever blocked with nftables: a resync must also restore that.
    pub nft_used: bool,
    /// Kernel work was dropped on a full queue: the whole kernel state for the
    /// current state is queued again at this instant, when the queue has drained.
    pub resync_at: Option<Instant>,
    /// The last advert sent, by the (priority, interval) asked for: a master sends
    /// the same one every interval. Cleared when the spec changes.
    pub advert: Option<((u8, u16), Advert)>,
    /// Copies of its adverts are being refused: logged when this flips, not per advert.
    pub send_failing: bool,
}

impl Instance {
    pub fn new(spec: InstanceSpec, sink: Box<dyn AdvertSink>) -> Instance {
        Instance {
            spec,
            sink,
            stats: Stats::default(),
            state: State::Initialize,
            lease_set: None,
            armed: None,
            accept: true,
            nft_used: false,
            resync_at: None,
            advert: None,
            send_failing: false,
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.cfg.name
    }

    /// Counts what became of the instance's advert copies. Logs once when copies
    /// start being refused (partly or wholly) and once when they all go out again,
    /// not per advert. Returns whether that changed.
    pub fn record_sends(&mut self, report: SendReport) -> bool {
        self.stats.adverts_sent += report.sent;
        self.stats.send_errors += report.failed;
        match report.error {
            Some(e) => self.sends_failed(&e, report.sent),
            None if report.sent > 0 && self.send_failing => {
                self.send_failing = false;
                info!(
                    instance = %self.name(),
                    send_errors = self.stats.send_errors,
                    "adverts are sent again"
                );
                true
            }
            None => false,
        }
    }

    /// Copies were refused (`sent` others of the same adverts went out).
    pub fn sends_failed(&mut self, err: &SendError, sent: u64) -> bool {
        if std::mem::replace(&mut self.send_failing, true) {
            return false;
        }
        warn!(
            instance = %self.name(),
            error = %err,
            sent,
            "adverts not sent (counted in send_errors; logged again only once they go out)"
        );
        true
    }

    /// The datapath key absorption is armed on: the interface the followed advert
    /// came in on (one of a routed instance's uplinks), else the first one.
    pub fn follow_key(&self) -> VridKey {
        let ifindex = self
            .armed
            .map_or(self.spec.ifindexes[0], |a| a.rec.ifindex());
        self.spec.key(ifindex)
    }
}

/// Absorption armed in the datapath.
#[derive(Clone, Copy, Debug)]
pub struct Armed {
    /// The advert whose copies are absorbed, as the state machine last saw it.
    pub rec: Record,
    /// The datapath has absorbed a copy since, so its silence timer runs and the
    /// state machine's own deadline is left out of the index.
    pub kernel_timer: bool,
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
    /// Advert copies (one per destination) the kernel refused.
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

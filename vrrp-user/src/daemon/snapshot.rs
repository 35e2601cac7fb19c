//! The status snapshot served on the unix socket and rendered as metrics.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vrrp_core::{router::State, time::Instant};

use super::controller::Controller;
use crate::{
    datapath::Counters,
    status::{
        DaemonInfo, InstanceStatus, JitterStats, StatusSnapshot, TransitionCount, TransitionInfo,
    },
};

/// The snapshot at `now` (monotonic, for "how long ago"); `datapath` names the one
/// in use and `counters` are its verdicts.
pub fn build(
    ctl: &Controller,
    datapath: &str,
    counters: Counters,
    uptime: Duration,
    now: Instant,
) -> StatusSnapshot {
    let now_wall = SystemTime::now();
    let instances = ctl
        .instances()
        .map(|(inst, router)| {
            let master = if inst.state == State::Master {
                Some(inst.spec.primary)
            } else {
                router.followed_master().map(|(a, _)| a)
            };
            let last = inst.stats.last.as_ref().map(|t| {
                let ago = now.saturating_since(t.at);
                let at = now_wall.checked_sub(ago).unwrap_or(UNIX_EPOCH);
                TransitionInfo {
                    at_unix_ms: at
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or(Duration::ZERO)
                        .as_millis() as u64,
                    from: t.from,
                    to: t.to,
                    reason: t.reason.to_string(),
                    detection_s: t.detection.map(|d| d.as_secs_f64()),
                }
            });
            let stats = &inst.stats;
            // The datapath counts and times the adverts it absorbed.
            let followed = ctl.followed(inst).unwrap_or_default();
            let jitter = followed.jitter;
            InstanceStatus {
                name: inst.name().to_string(),
                vrid: inst.spec.cfg.vrid,
                state: inst.state,
                priority: inst.spec.cfg.priority,
                effective_priority: router.effective_priority(),
                master,
                adverts_sent: stats.adverts_sent,
                adverts_received: stats.adverts_received + followed.absorbed,
                failover_detection_s: stats.last_failover_detection.map(|d| d.as_secs_f64()),
                last_transition: last,
                transitions: stats
                    .transitions
                    .iter()
                    .map(|((to, reason), count)| TransitionCount {
                        to: *to,
                        reason: reason.to_string(),
                        count: *count,
                    })
                    .collect(),
                jitter: (jitter.samples > 0).then(|| JitterStats {
                    mean_s: jitter.mean_ns as f64 / 1e9,
                    max_s: jitter.max_ns as f64 / 1e9,
                    samples: jitter.samples,
                }),
                send_errors: stats.send_errors,
                adverts_ignored: stats.ignored,
                kernel_dropped: stats.kernel_dropped,
                hooks: stats.hooks,
            }
        })
        .collect();
    StatusSnapshot {
        daemon: DaemonInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            datapath: datapath.to_string(),
            uptime_s: uptime.as_secs(),
        },
        instances,
        counters: counters
            .0
            .into_iter()
            .map(|(c, v)| (c.name().to_string(), v))
            .collect(),
    }
}

//! The status snapshot served on the unix socket and rendered as metrics.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vrrp_core::router::State;

use super::{clock, ops::reason_name, runtime::Runtime};
use crate::{
    datapath::Datapath,
    status::{self, DaemonInfo, InstanceStatus, StatusSnapshot, TransitionCount, TransitionInfo},
};

fn st(s: State) -> status::State {
    match s {
        State::Initialize => status::State::Initialize,
        State::Backup => status::State::Backup,
        State::Master => status::State::Master,
        State::Fault => status::State::Fault,
    }
}

pub fn build(rt: &Runtime, dp: &Datapath, started: std::time::Instant) -> StatusSnapshot {
    let now_mono = clock::now();
    let now_wall = SystemTime::now();
    let instances = (0..rt.instances.len())
        .map(|idx| {
            let inst = &rt.instances[idx];
            let router = rt.router(idx);
            let master = if inst.state == State::Master {
                Some(std::net::IpAddr::V4(inst.spec.primary))
            } else {
                router.followed_master().map(|(a, _)| a)
            };
            let last = inst.stats.last.as_ref().map(|t| {
                let ago = now_mono.saturating_since(t.at);
                let at = now_wall.checked_sub(ago).unwrap_or(UNIX_EPOCH);
                TransitionInfo {
                    at_unix_ms: at
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or(Duration::ZERO)
                        .as_millis() as u64,
                    from: st(t.from),
                    to: st(t.to),
                    reason: reason_name(&t.reason),
                    detection_s: t.detection.map(|d| d.as_secs_f64()),
                }
            });
            InstanceStatus {
                name: inst.spec.cfg.name.clone(),
                vrid: inst.spec.cfg.vrid,
                state: st(inst.state),
                priority: inst.spec.cfg.priority,
                effective_priority: router.effective_priority(),
                master,
                adverts_sent: inst.stats.adverts_sent,
                adverts_received: inst.stats.adverts_received,
                failover_detection_s: inst.stats.last_failover_detection.map(|d| d.as_secs_f64()),
                last_transition: last,
                transitions: inst
                    .stats
                    .transitions
                    .iter()
                    .map(|((to, reason), count)| TransitionCount {
                        to: match to.as_str() {
                            "master" => status::State::Master,
                            "backup" => status::State::Backup,
                            "fault" => status::State::Fault,
                            _ => status::State::Initialize,
                        },
                        reason: reason.clone(),
                        count: *count,
                    })
                    .collect(),
                jitter: (inst.jitter.stats().samples > 0).then(|| inst.jitter.stats()),
            }
        })
        .collect();
    StatusSnapshot {
        daemon: DaemonInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            datapath: dp.mode().to_string(),
            uptime_s: started.elapsed().as_secs(),
        },
        instances,
        counters: dp
            .counters()
            .0
            .into_iter()
            .map(|(c, v)| (c.name().to_string(), v))
            .collect(),
    }
}

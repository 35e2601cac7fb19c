//! Protecting the daemon's timing on a busy host: `[global]` `realtime_scheduling`
//! (SCHED_FIFO or SCHED_RR at `realtime_priority`) and `lock_memory` (`mlockall`), as
//! keepalived's `vrrp_rt_priority` and `vrrp_no_swap`. Both are off by default. A
//! setting that cannot be applied stops the start with what it needs: no silent
//! fallback to a daemon that is less protected than its file says.

use anyhow::{Result, bail};
use tracing::info;

use crate::config::{Global, Realtime, SchedPolicy};

/// Applies `[global]`'s protection to the calling thread (the runtime's only one).
pub fn apply(global: &Global) -> Result<()> {
    if global.lock_memory {
        lock_memory()?;
    }
    if let Some(rt) = global.realtime {
        realtime(rt)?;
    }
    Ok(())
}

fn lock_memory() -> Result<()> {
    // SAFETY: mlockall(2) has no memory-safety preconditions.
    if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } != 0 {
        let e = std::io::Error::last_os_error();
        bail!(
            "lock_memory = true: mlockall failed: {e} (needs CAP_IPC_LOCK, or a memory-lock \
             limit above the daemon's mapped size: systemd LimitMEMLOCK=, see packaging/vrrpd.service)"
        );
    }
    info!("memory locked (mlockall, current and future pages)");
    Ok(())
}

fn realtime(rt: Realtime) -> Result<()> {
    let (policy, name) = match rt.policy {
        SchedPolicy::Fifo => (libc::SCHED_FIFO, "fifo"),
        SchedPolicy::Rr => (libc::SCHED_RR, "rr"),
    };
    let param = libc::sched_param {
        sched_priority: i32::from(rt.priority),
    };
    // SCHED_RESET_ON_FORK: hooks, track scripts, `nft` and the XDP loader child start
    // as ordinary tasks, so a user's script never runs real-time.
    // SAFETY: sched_setscheduler(2) on this thread with a param that lives for the call.
    let r = unsafe { libc::sched_setscheduler(0, policy | libc::SCHED_RESET_ON_FORK, &param) };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        bail!(
            "realtime_scheduling = \"{name}\" at realtime_priority = {}: sched_setscheduler \
             failed: {e} (needs CAP_SYS_NICE, or a real-time priority limit of at least {}: \
             systemd LimitRTPRIO=, see packaging/vrrpd.service)",
            rt.priority,
            rt.priority
        );
    }
    info!(
        policy = name,
        priority = rt.priority,
        "real-time scheduling on"
    );
    Ok(())
}

//! The running daemon: one tokio task owns the [`Controller`] and feeds it adverts
//! (datapath), timers (`next_deadline`), kernel events (netlink watch), tracker
//! changes, hook outcomes and signals; the work it returns goes to bounded
//! per-instance queues whose workers do what may block (netlink, nft, hooks).
//! Adverts produced during one wake are queued in the [`Outbox`] and flushed at its
//! end, one `sendmmsg` per socket, before the rest of the wake's work is handed on.
//! Status is built when read (and on a change), not on a timer.

pub mod clock;
pub mod controller;
pub mod host;
pub mod instance;
pub mod kernel;
mod noaccept;
mod protect;
mod signals;
mod snapshot;
pub mod spec;
mod timer;
mod trackers;
pub mod work;

use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Duration};

use anyhow::{Context, Result, anyhow, bail};
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};
use tracing::{error, info, warn};

use crate::{
    config::{self, Config, ReloadClass},
    datapath::{self, Datapath},
    hooks::{HookRequest, HookRunner, RunAs},
    netlink::{KernelEvent, Netlink, Watch},
    sender::Outbox,
    status::{OnRead, StatusSnapshot},
};
use controller::Controller;
use host::{Host, SystemHost};
use work::{HookJob, Work};

pub struct RunOptions {
    pub config_path: PathBuf,
}

/// Runs until SIGTERM or SIGINT; then leaves cleanly (priority 0, VIPs and routes
/// removed, stop hooks run) and returns.
pub async fn run(opts: RunOptions) -> Result<()> {
    let config = config::load(&opts.config_path).map_err(|e| anyhow!("{e}"))?;
    // The file's parse tree (2.4 MiB for 255 instances) is garbage now: give it back
    // before start-up touches the rest of the binary, or the two peaks add up.
    crate::sys::trim_heap();
    let mode = datapath_mode(&config)?;
    let proto = config.global.route_protocol.number;
    let started = std::time::Instant::now();

    let nl = Arc::new(Netlink::new().context("opening rtnetlink")?);
    let mut kernel_watch = Watch::new().context("subscribing to link and address events")?;

    // Crash safety: whatever a previous run left behind goes first.
    let leftovers = nl
        .cleanup_ours(proto)
        .await
        .context("removing leftovers of a previous run")?;
    for a in &leftovers.addrs {
        warn!(addr = %a.addr, ifindex = a.ifindex, "removed leftover VIP of a previous run");
    }
    for r in &leftovers.routes {
        warn!(route = ?r, "removed leftover route of a previous run");
    }
    if config.instances.iter().any(|i| !i.accept_mode) {
        noaccept::reset().await.context("accept_mode = false")?;
    } else if let Err(e) = noaccept::reset().await {
        // Only a run with accept_mode = false makes the table; without nft there
        // was none to make.
        tracing::debug!("no nftables table of a previous run to remove: {e}");
    }

    let run_as = match &config.global.script_user {
        Some(u) => Some(RunAs::lookup(u).with_context(|| format!("script_user {u:?}"))?),
        None => None,
    };
    let (hooks, mut hook_results) = HookRunner::new(run_as.clone());
    let mut outbox = Outbox::new();
    let mut ctl = Controller::new(config, &SystemHost, &mut outbox)?;
    let mut dp = Datapath::start(mode, &ctl.datapath_config()).context("starting the datapath")?;
    ctl.set_follow(dp.follow_table());
    let (track_tx, mut track_rx) = mpsc::channel(256);
    let mut drivers = Drivers {
        outbox,
        nl: nl.clone(),
        proto,
        kernel: HashMap::new(),
        workers: Arc::default(),
        hooks,
        trackers: trackers::Trackers::new(track_tx, run_as),
        links: HashMap::new(),
    };

    let snapshot = |ctl: &Controller, dp: &Datapath| -> StatusSnapshot {
        snapshot::build(
            ctl,
            &dp.mode().to_string(),
            dp.counters(),
            started.elapsed(),
            clock::now(),
        )
    };
    // Readers ask the loop for a fresh snapshot; `snap_tx` keeps the one built at the
    // last change, served once the loop has stopped answering (shutdown).
    let (snap_tx, snap_rx) = watch::channel(snapshot(&ctl, &dp));
    let (snap_req_tx, mut snap_req) = mpsc::channel(16);
    let on_read = OnRead::new(snap_req_tx, snap_rx);
    let status_socket = ctl.config.global.status_socket.clone();
    let _status = crate::status::serve(&status_socket, on_read.clone())
        .await
        .with_context(|| format!("status socket {}", status_socket.display()))?;
    let _metrics = match ctl.config.global.metrics_listen {
        Some(addr) => Some(
            crate::metrics::serve(addr, on_read)
                .await
                .with_context(|| format!("metrics on {addr}"))?,
        ),
        None => None,
    };

    // Real-time scheduling and locked memory, if `[global]` asks: after the
    // datapath's mappings exist (they are locked too), before the first timer.
    protect::apply(&ctl.config.global)?;
    let mut signals = signals::forward()?;
    info!(
        datapath = %dp.mode(),
        instances = ctl.instances().count(),
        config = %opts.config_path.display(),
        "vrrpd started"
    );
    let work = ctl.start(clock::now());
    drivers.dispatch(&mut ctl, work);
    // The watch reports changes only: the state now must count too.
    drivers.feed_links(&mut ctl).await;

    // The configuration's parse tree and other start-up garbage: back to the kernel.
    crate::sys::trim_heap();
    let mut timer = timer::DeadlineTimer::new().context("creating the deadline timer")?;
    let mut batch = Vec::with_capacity(64);
    loop {
        // One timer for the protocol's deadlines and the upkeep (leases, resyncs):
        // with neither pending, an idle daemon is not woken at all.
        let wake = match (ctl.next_deadline(), ctl.next_upkeep()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        timer.arm(wake).context("arming the deadline timer")?;
        let work = tokio::select! {
            biased;
            Some(req) = signals.recv() => {
                if let signals::Request::Leave(signal) = req {
                    info!("{signal}: leaving");
                    break;
                }
                let work = reload(&opts.config_path, &mut ctl, &mut dp, &mut drivers.outbox);
                drivers.dispatch(&mut ctl, work);
                drivers.prune(&ctl);
                drivers.feed_links(&mut ctl).await;
                crate::sys::trim_heap();
                Vec::new()
            }
            r = dp.recv(&mut batch) => {
                r.context("datapath receive")?;
                let now = clock::now();
                let mut work = Vec::new();
                for rec in batch.drain(..) {
                    work.extend(ctl.on_record(now, &rec));
                }
                work
            }
            r = timer.expired() => {
                r.context("deadline timer")?;
                let now = clock::now();
                let mut work = ctl.on_timer(now);
                work.extend(ctl.upkeep(now));
                work
            }
            ev = kernel_watch.next() => match ev {
                Some(KernelEvent::Link(link)) => {
                    let up = link.is_up();
                    if drivers.links.insert(link.ifindex, up) != Some(up) {
                        ctl.on_link(clock::now(), link.ifindex, &link.name, up)
                    } else {
                        Vec::new()
                    }
                }
                Some(KernelEvent::LinkRemoved { ifindex, name }) => {
                    drivers.links.insert(ifindex, false);
                    ctl.on_link(clock::now(), ifindex, &name, false)
                }
                Some(KernelEvent::AddrRemoved(a)) => {
                    match crate::datapath::xdp::ifname(a.ifindex) {
                        Some(name) => ctl.on_address_removed(&name, a.addr.addr()),
                        None => Vec::new(),
                    }
                }
                Some(KernelEvent::AddrAdded(_)) => Vec::new(),
                Some(KernelEvent::Overrun) => {
                    warn!("netlink events lost (socket overrun): re-reading link states");
                    drivers.feed_links(&mut ctl).await;
                    Vec::new()
                }
                None => {
                    error!("netlink watch failed; re-subscribing");
                    kernel_watch = Watch::new().context("re-subscribing to kernel events")?;
                    drivers.feed_links(&mut ctl).await;
                    Vec::new()
                }
            },
            Some((instance, update)) = track_rx.recv() => ctl.on_track(clock::now(), &instance, update),
            Some(outcome) = hook_results.recv() => {
                ctl.hook_finished(&outcome.request.instance, &outcome.exit);
                Vec::new()
            }
            Some(reply) = snap_req.recv() => {
                let _ = reply.send(snapshot(&ctl, &dp));
                Vec::new()
            }
        };
        drivers.dispatch(&mut ctl, work);
        if ctl.take_dirty() {
            let _ = snap_tx.send(snapshot(&ctl, &dp));
        }
    }

    // Leave: priority 0 so backups take over after Skew_Time, VIPs and routes out.
    let work = ctl.shutdown(clock::now());
    let stop_hooks = work.iter().filter(|w| matches!(w, Work::Hook(_))).count();
    drivers.dispatch_all(&mut ctl, work).await;
    // Readers get the state we leave in from now on, without waiting for the loop.
    drop(snap_req);
    let _ = snap_tx.send(snapshot(&ctl, &dp));
    drivers.trackers.stop_all();
    let pending = drivers.close();
    let drain = async {
        for w in pending {
            let _ = w.await;
        }
        for _ in 0..stop_hooks {
            if hook_results.recv().await.is_none() {
                break;
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(15), drain)
        .await
        .is_err()
    {
        warn!("shutdown: kernel changes or stop hooks still running after 15 s; leaving anyway");
    }
    // The kernel workers are done: nothing blocks or unblocks any more.
    if noaccept::used()
        && let Err(e) = noaccept::reset().await
    {
        warn!("shutdown: could not remove the accept_mode nftables table: {e}");
    }
    info!("vrrpd stopped");
    Ok(())
}

/// Where the controller's work goes: the outbox for adverts, a bounded kernel queue
/// and worker per instance, the hook runner (bounded per instance too), and the
/// trackers.
struct Drivers {
    outbox: Outbox,
    nl: Arc<Netlink>,
    proto: u8,
    kernel: HashMap<String, kernel::KernelQueue>,
    workers: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
    hooks: HookRunner,
    trackers: trackers::Trackers,
    /// Last known link state by ifindex, to pass on changes only.
    links: HashMap<u32, bool>,
}

impl Drivers {
    /// Sends the adverts queued since the last flush, one `sendmmsg` per socket, and
    /// counts each instance's copies. First in every dispatch, so a takeover's advert
    /// leaves before its VIP and route work is queued.
    fn flush(&mut self, ctl: &mut Controller) {
        if !self.outbox.is_empty() {
            self.outbox.flush();
        }
        ctl.sends_flushed();
    }

    fn dispatch(&mut self, ctl: &mut Controller, work: Vec<Work>) {
        self.flush(ctl);
        for w in work {
            match w {
                Work::Kernel { instance, op } => {
                    let tx = self.queue(&instance);
                    if let Err(e) = tx.try_send(Box::new(op)) {
                        warn!(instance, error = %e, "kernel queue full: change dropped, resyncing");
                        ctl.kernel_dropped(clock::now(), &instance);
                    }
                }
                Work::Hook(job) => {
                    let instance = job.instance.clone();
                    if let Err(e) = self.hooks.spawn(hook_request(job)) {
                        warn!("{e}");
                        ctl.hook_dropped(&instance);
                    }
                }
                Work::StartTrackers(name) => self.trackers.start(&ctl.config, &name),
                Work::StopTrackers(name) => self.trackers.stop(&name),
            }
        }
    }

    /// The kernel queue of `instance`, its worker started on first use.
    fn queue(&mut self, instance: &str) -> &kernel::KernelQueue {
        self.kernel.entry(instance.to_string()).or_insert_with(|| {
            kernel::spawn_worker(
                self.nl.clone(),
                self.proto,
                instance.to_string(),
                &self.workers,
            )
        })
    }

    /// Like [`Self::dispatch`], but waits for room in a full kernel queue instead of
    /// dropping: for the last work before exit, which no later upkeep could resync.
    async fn dispatch_all(&mut self, ctl: &mut Controller, work: Vec<Work>) {
        self.flush(ctl);
        for w in work {
            match w {
                Work::Kernel { instance, op } => {
                    let tx = self.queue(&instance);
                    let _ = tx.send(Box::new(op)).await;
                }
                other => self.dispatch(ctl, vec![other]),
            }
        }
    }

    /// Feeds the current state of every watched interface (the watch only reports
    /// changes); the controller takes repeats as no-ops.
    async fn feed_links(&mut self, ctl: &mut Controller) {
        for name in ctl.watched_interfaces() {
            match self.nl.link_state(name.as_str()).await {
                Ok(link) => {
                    self.links.insert(link.ifindex, link.is_up());
                    let work = ctl.on_link(clock::now(), link.ifindex, &link.name, link.is_up());
                    self.dispatch(ctl, work);
                }
                Err(e) => warn!(interface = %name, error = %e, "cannot read link state"),
            }
        }
    }

    /// Closes the kernel queues of instances a reload removed (their workers drain
    /// and end).
    fn prune(&mut self, ctl: &Controller) {
        self.kernel
            .retain(|name, _| ctl.config.instance(name).is_some());
    }

    /// Closes every kernel queue; the workers still to finish.
    fn close(&mut self) -> Vec<JoinHandle<()>> {
        self.kernel.clear();
        std::mem::take(&mut *self.workers.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

fn hook_request(job: HookJob) -> HookRequest {
    HookRequest {
        instance: job.instance,
        vrid: job.vrid,
        state: job.state.as_str().to_string(),
        prev_state: job.prev.as_str().to_string(),
        reason: job.reason.to_string(),
        command: job.command,
        timeout: job.timeout,
    }
}

/// The datapath is shared by every instance: they must agree on it.
fn datapath_mode(config: &Config) -> Result<datapath::Mode> {
    let global = config.global.datapath;
    for i in &config.instances {
        if i.datapath != global {
            bail!(
                "instance {:?}: datapath {} differs from the daemon's ({}); one datapath serves \
                 every instance, set it in [global]",
                i.name,
                i.datapath,
                global
            );
        }
    }
    Ok(global)
}

/// SIGHUP: a bad file (or one whose instances cannot be built here) is reported and
/// changes nothing; a good one changes only what changed, one log line per instance.
fn reload(
    path: &std::path::Path,
    ctl: &mut Controller,
    dp: &mut Datapath,
    outbox: &mut Outbox,
) -> Vec<Work> {
    let mut new = match config::load(path) {
        Ok(c) => c,
        Err(e) => {
            error!("reload rejected, running configuration kept:\n{e}");
            return Vec::new();
        }
    };
    if let Err(e) = datapath_mode(&new) {
        error!("reload rejected, running configuration kept: {e:#}");
        return Vec::new();
    }
    if new.global != ctl.config.global {
        warn!("reload: [global] changes need a restart; kept the running [global]");
    }
    new.global = ctl.config.global.clone();
    let (report, work) = match ctl.reload(clock::now(), new, &SystemHost as &dyn Host, outbox) {
        Ok(r) => r,
        Err(e) => {
            error!("reload rejected, running configuration kept: {e:#}");
            return Vec::new();
        }
    };
    if let Err(e) = dp.update(&ctl.datapath_config()) {
        error!("reload: datapath tables not updated: {e}");
    }
    for (instance, change) in &report.kept {
        if change.class != ReloadClass::Unchanged {
            info!(instance, class = %change.class, keys = ?change.keys, "reload: instance changed");
        }
    }
    for instance in &report.added {
        info!(instance, class = "added", "reload: instance started");
    }
    for instance in &report.removed {
        info!(instance, class = "removed", "reload: instance stopped");
    }
    let unchanged = report
        .kept
        .iter()
        .filter(|(_, c)| c.class == ReloadClass::Unchanged)
        .count();
    info!(
        unchanged,
        changed = report.kept.len() - unchanged,
        added = report.added.len(),
        removed = report.removed.len(),
        "configuration reloaded"
    );
    work
}

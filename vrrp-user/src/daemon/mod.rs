//! The running daemon: one tokio task owns every state machine and reacts to
//! adverts (datapath), timers (`next_deadline`), kernel events (netlink watch),
//! tracker changes and signals. Drivers that may block (netlink, hooks) run in
//! their own tasks behind queues.

pub mod clock;
pub mod instance;
pub mod kernel;
mod noaccept;
pub mod ops;
pub mod runtime;
mod snapshot;
mod timer;
mod trackers;

use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Duration};

use anyhow::{Context, Result, anyhow, bail};
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::{mpsc, watch},
};
use tracing::{error, info, warn};

use crate::{
    config::{self, Config},
    datapath::{self, Datapath},
    hooks::{HookRequest, HookRunner, RunAs},
    netlink::{KernelEvent, Netlink, Watch},
};
use ops::{HookJob, reason_name, state_name};
use runtime::{Runtime, Sinks};

pub struct RunOptions {
    pub config_path: PathBuf,
}

/// Runs until SIGTERM or SIGINT; then leaves cleanly (priority 0, VIPs and routes
/// removed, stop hooks run) and returns.
pub async fn run(opts: RunOptions) -> Result<()> {
    let config = config::load(&opts.config_path).map_err(|e| anyhow!("{e}"))?;
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
        noaccept::reset().context("accept_mode = false")?;
    }

    let run_as = match &config.global.script_user {
        Some(u) => Some(RunAs::lookup(u).with_context(|| format!("script_user {u:?}"))?),
        None => None,
    };
    let (hook_runner, mut hook_results) = HookRunner::new(run_as.clone());
    let (hook_tx, mut hook_rx) = mpsc::unbounded_channel::<HookJob>();
    let kernel_nl = nl.clone();
    let workers: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
    let worker_list = workers.clone();
    let sinks = Sinks {
        kernel: Box::new(move |name| {
            kernel::spawn_worker(kernel_nl.clone(), proto, name.to_string(), &worker_list)
        }),
        hooks: hook_tx,
    };
    let mut rt = Runtime::new(config, sinks)?;
    let mut dp = Datapath::start(mode, &rt.datapath_config()).context("starting the datapath")?;
    let (track_tx, mut track_rx) = mpsc::channel(256);
    let mut trackers = trackers::Trackers::new(track_tx, run_as);
    trackers.start_all(&rt.config);

    let (snap_tx, snap_rx) = watch::channel(snapshot::build(&rt, &dp, started));
    let rx = snap_rx.clone();
    let _status =
        crate::status::serve(&rt.config.global.status_socket, move || rx.borrow().clone())
            .await
            .with_context(|| {
                format!("status socket {}", rt.config.global.status_socket.display())
            })?;
    let _metrics = match rt.config.global.metrics_listen {
        Some(addr) => {
            let rx = snap_rx.clone();
            Some(
                crate::metrics::serve(addr, move || rx.borrow().clone())
                    .await
                    .with_context(|| format!("metrics on {addr}"))?,
            )
        }
        None => None,
    };

    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;
    info!(
        datapath = %dp.mode(),
        instances = rt.instances.len(),
        config = %opts.config_path.display(),
        "vrrpd started"
    );
    rt.start(clock::now());
    // The watch reports changes only: an interface that is down now must count too.
    let mut ifnames: HashMap<u32, bool> = HashMap::new();
    let ifindexes: Vec<u32> = rt.instances.iter().map(|i| i.spec.ifindex).collect();
    for ifindex in ifindexes {
        match nl.link_state(ifindex).await {
            Ok(link) => {
                ifnames.insert(ifindex, link.is_up());
                if !link.is_up() {
                    rt.on_link(clock::now(), ifindex, &link.name, false);
                }
            }
            Err(e) => warn!(ifindex, error = %e, "cannot read link state"),
        }
    }

    let mut timer = timer::DeadlineTimer::new().context("creating the deadline timer")?;
    let mut batch = Vec::with_capacity(64);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        timer
            .arm(rt.next_deadline())
            .context("arming the deadline timer")?;
        tokio::select! {
            biased;
            _ = sigterm.recv() => { info!("SIGTERM: leaving"); break; }
            _ = sigint.recv() => { info!("SIGINT: leaving"); break; }
            _ = sighup.recv() => {
                reload(&opts.config_path, &mut rt, &mut dp, &mut trackers);
            }
            r = dp.recv(&mut batch) => {
                r.context("datapath receive")?;
                let now = clock::now();
                for rec in batch.drain(..) {
                    rt.on_record(now, &rec);
                }
            }
            r = timer.expired() => {
                r.context("deadline timer")?;
                rt.on_timer(clock::now());
            }
            ev = kernel_watch.next() => match ev {
                Some(KernelEvent::Link(link)) => {
                    let up = link.is_up();
                    if ifnames.insert(link.ifindex, up) != Some(up) {
                        rt.on_link(clock::now(), link.ifindex, &link.name, up);
                    }
                }
                Some(KernelEvent::LinkRemoved { ifindex, name }) => {
                    ifnames.insert(ifindex, false);
                    rt.on_link(clock::now(), ifindex, &name, false);
                }
                Some(KernelEvent::AddrRemoved(a)) => {
                    if let Some(name) = crate::datapath::xdp::ifname(a.ifindex) {
                        rt.on_address_removed(&name, a.addr.addr());
                    }
                }
                Some(KernelEvent::AddrAdded(_)) => {}
                Some(KernelEvent::Overrun) => warn!("netlink events lost (socket overrun)"),
                None => {
                    error!("netlink watch failed; re-subscribing");
                    kernel_watch = Watch::new().context("re-subscribing to kernel events")?;
                }
            },
            Some((instance, update)) = track_rx.recv() => rt.on_track(clock::now(), &instance, update),
            Some(job) = hook_rx.recv() => hook_runner.spawn(hook_request(job)),
            Some(_outcome) = hook_results.recv() => {} // logged by the runner
            _ = tick.tick() => {
                rt.refresh_leases(clock::now());
                let _ = snap_tx.send(snapshot::build(&rt, &dp, started));
            }
        }
        if rt.take_dirty() {
            let _ = snap_tx.send(snapshot::build(&rt, &dp, started));
        }
    }

    // Leave: priority 0 so backups take over after Skew_Time, VIPs and routes out.
    trackers.stop_all();
    rt.shutdown(clock::now());
    let mut stop_hooks = 0;
    while let Ok(job) = hook_rx.try_recv() {
        stop_hooks += 1;
        hook_runner.spawn(hook_request(job));
    }
    drop(rt); // closes every kernel queue; the workers drain them and end
    let pending: Vec<_> = std::mem::take(&mut *workers.lock().unwrap_or_else(|p| p.into_inner()));
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
    info!("vrrpd stopped");
    Ok(())
}

fn hook_request(job: HookJob) -> HookRequest {
    HookRequest {
        instance: job.instance,
        vrid: job.vrid,
        state: state_name(job.state).to_string(),
        prev_state: state_name(job.prev).to_string(),
        reason: reason_name(&job.reason),
        command: job.command,
        timeout: job.timeout,
    }
}

/// The datapath is shared by every instance: they must agree on it.
fn datapath_mode(config: &Config) -> Result<datapath::Mode> {
    let mode = |d: config::Datapath| match d {
        config::Datapath::Auto => datapath::Mode::Auto,
        config::Datapath::Xdp => datapath::Mode::Xdp,
        config::Datapath::Socket => datapath::Mode::Socket,
    };
    let global = mode(config.global.datapath);
    for i in &config.instances {
        if mode(i.datapath) != global {
            bail!(
                "instance {:?}: datapath {} differs from the daemon's ({}); one datapath serves \
                 every instance, set it in [global]",
                i.name,
                mode(i.datapath),
                global
            );
        }
    }
    Ok(global)
}

/// SIGHUP: a bad file is reported and changes nothing.
fn reload(
    path: &std::path::Path,
    rt: &mut Runtime,
    dp: &mut Datapath,
    trackers: &mut trackers::Trackers,
) {
    let new = match config::load(path) {
        Ok(c) => c,
        Err(e) => {
            error!("reload rejected, running configuration kept:\n{e}");
            return;
        }
    };
    if let Err(e) = datapath_mode(&new) {
        error!("reload rejected, running configuration kept: {e:#}");
        return;
    }
    if new.global != rt.config.global {
        warn!("reload: [global] changes need a restart; kept the running [global]");
    }
    let mut new = new;
    new.global = rt.config.global.clone();
    match rt.reload(new, clock::now()) {
        Ok(summary) => {
            if let Err(e) = dp.update(&rt.datapath_config()) {
                error!("reload: datapath tables not updated: {e}");
            }
            trackers.restart(&rt.config, &summary.stopped, &summary.started);
            info!(
                unchanged = ?summary.unchanged,
                restarted_or_removed = ?summary.stopped,
                started = ?summary.started,
                "configuration reloaded"
            );
        }
        Err(e) => error!("reload rejected, running configuration kept: {e:#}"),
    }
}

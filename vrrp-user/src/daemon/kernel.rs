//! The kernel worker of one instance: applies its `KernelOp`s in order through the
//! netlink driver, off the controller's path. One task per instance keeps a slow
//! netlink round trip of one instance from delaying another's VIP move.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    sync::mpsc::{Sender, channel},
    task::JoinHandle,
};
use tracing::{info, warn};

use super::work::KernelOp;
use crate::{
    config,
    netlink::{self, Iface, Lease, Netlink, RouteSpec, VipSpec},
};

/// How many kernel changes of one instance may wait. A state change queues at most
/// about five; a full queue means netlink is stuck, and the controller resyncs.
pub const QUEUE: usize = 64;

/// One instance's kernel queue. The ops are boxed: tokio's channel allocates its first
/// block of 32 slots with the channel, 32 x 56 bytes of `KernelOp` per instance (1.8 KiB,
/// 465 KiB at 255 instances) for ops that come a few per state change; boxed, the
/// block is 32 pointers.
pub type KernelQueue = Sender<Box<KernelOp>>;

/// Starts the worker for `instance`; it ends when the sender is dropped and the queue
/// is drained. Its handle goes to `handles` so shutdown can wait for the last ops.
pub fn spawn_worker(
    nl: Arc<Netlink>,
    proto: u8,
    instance: String,
    handles: &Mutex<Vec<JoinHandle<()>>>,
) -> KernelQueue {
    let (tx, mut rx) = channel::<Box<KernelOp>>(QUEUE);
    let task = tokio::spawn(async move {
        // The delayed second announcement burst runs beside the queue, never in it:
        // waiting in line it held up the instance's next ops (a VIP removal after a
        // SIGTERM or a lost election waited the whole delay, 5 s by default, while
        // the new master held the VIP too). It is called off when the VIPs go or a new
        // burst starts, so it never announces a VIP this node gave up.
        let mut second_burst: Option<JoinHandle<()>> = None;
        while let Some(op) = rx.recv().await {
            if matches!(*op, KernelOp::RemoveVips { .. } | KernelOp::Announce { .. })
                && let Some(h) = second_burst.take()
            {
                h.abort();
            }
            if let KernelOp::Announce {
                ifindex,
                vips,
                garp,
            } = *op
            {
                announce_burst(&instance, ifindex, &vips, garp.repeat).await;
                if !garp.delay.is_zero() {
                    let instance = instance.clone();
                    second_burst = Some(tokio::spawn(async move {
                        tokio::time::sleep(garp.delay).await;
                        announce_burst(&instance, ifindex, &vips, garp.repeat).await;
                    }));
                }
                continue;
            }
            // Boxed: inline, the netlink futures would make every idle worker as big
            // as its largest op (1.5 KiB a task, 255 times); boxed, only for the op.
            Box::pin(apply(&nl, proto, &instance, *op)).await;
        }
        if let Some(h) = second_burst {
            h.abort();
        }
    });
    let mut h = handles.lock().unwrap_or_else(|p| p.into_inner());
    h.retain(|t| !t.is_finished());
    h.push(task);
    tx
}

pub fn vip_spec(v: &config::Vip, proto: u8, lease: Option<Duration>) -> VipSpec {
    let mut s = VipSpec::new(v.address, Iface::from(v.dev.as_str()));
    s.scope = v.scope;
    s.label = v.label.clone();
    s.lease = lease.map(Lease::new);
    s.proto = proto;
    s
}

fn route_spec(r: &config::Route) -> RouteSpec {
    let mut s = RouteSpec::new(r.prefix);
    s.via = r.via;
    s.dev = r.dev.as_deref().map(Iface::from);
    s.table = r.table;
    s.metric = r.metric;
    s.proto = r.protocol;
    s
}

/// Applies one op. The `nft` runs are boxed: their futures (a child process) are
/// 1 KiB, three times any netlink op's, and would size every op's future, of which
/// 255 run at once when every instance takes over together.
async fn apply(nl: &Netlink, proto: u8, instance: &str, op: KernelOp) {
    match op {
        KernelOp::AddVips {
            vips,
            lease,
            accept,
        } => {
            if !accept {
                // Block first: no packet to a VIP may be accepted, not even briefly.
                let addrs: Vec<_> = vips.iter().map(|v| v.address.addr()).collect();
                match Box::pin(super::noaccept::block(&addrs)).await {
                    Ok(()) => info!(instance, "accept_mode off: traffic to the VIPs is dropped"),
                    Err(e) => warn!(instance, error = %e, "accept_mode off not enforced"),
                }
            }
            for v in &vips {
                match nl.add_vip(&vip_spec(v, proto, lease)).await {
                    Ok(()) => info!(instance, vip = %v.address, dev = %v.dev, "VIP added"),
                    Err(e) => warn!(instance, error = %e, "VIP not added"),
                }
            }
        }
        KernelOp::RefreshVips { vips, lease } => {
            for v in &vips {
                if let Err(e) = nl.refresh_vip(&vip_spec(v, proto, lease)).await {
                    warn!(instance, error = %e, "VIP not refreshed");
                }
            }
        }
        KernelOp::SetAccept { vips, accept } => {
            let addrs: Vec<_> = vips.iter().map(|v| v.address.addr()).collect();
            let done = if accept {
                Box::pin(super::noaccept::unblock(&addrs)).await
            } else {
                Box::pin(super::noaccept::block(&addrs)).await
            };
            match done {
                Ok(()) => info!(instance, accept, "accept mode changed in place"),
                Err(e) => warn!(instance, error = %e, "accept mode not changed"),
            }
        }
        KernelOp::RemoveVips { vips, blocked } => {
            for v in &vips {
                match nl.del_vip(&vip_spec(v, proto, None)).await {
                    Ok(true) => info!(instance, vip = %v.address, dev = %v.dev, "VIP removed"),
                    Ok(false) => {}
                    Err(e) => warn!(instance, error = %e, "VIP not removed"),
                }
            }
            if blocked {
                let addrs: Vec<_> = vips.iter().map(|v| v.address.addr()).collect();
                if let Err(e) = Box::pin(super::noaccept::unblock(&addrs)).await {
                    warn!(instance, error = %e, "VIP traffic not unblocked");
                }
            }
        }
        KernelOp::AddRoutes { routes } => {
            for r in &routes {
                let spec = route_spec(r);
                match nl.add_route(&spec).await {
                    Ok(()) => info!(instance, route = %spec, "route added"),
                    Err(e) => warn!(instance, error = %e, "route not added"),
                }
            }
        }
        KernelOp::RemoveRoutes { routes } => {
            for r in &routes {
                let spec = route_spec(r);
                match nl.del_route(&spec).await {
                    Ok(true) => info!(instance, route = %spec, "route removed"),
                    Ok(false) => {}
                    Err(e) => warn!(instance, error = %e, "route not removed"),
                }
            }
        }
        // Handled by the worker loop: a burst now, a second one after the delay.
        KernelOp::Announce { .. } => {}
    }
}

/// One burst of gratuitous ARP (IPv4) / unsolicited NA (IPv6) for each VIP: a first
/// at once after becoming master, a second after `garp.delay` (switches that missed
/// the first, e.g. while their port was still learning).
async fn announce_burst(instance: &str, ifindex: u32, vips: &[config::Vip], repeat: u8) {
    let interval = Duration::from_millis(10);
    for v in vips {
        if let Err(e) =
            netlink::announce(ifindex, v.address.addr(), u32::from(repeat), interval).await
        {
            warn!(instance, error = %e, "gratuitous ARP / NA not sent");
        }
    }
}

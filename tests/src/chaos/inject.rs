//! Puts one fault into the running lab and takes it out again.

use anyhow::{Context, Result};

use super::{
    config::Params,
    delay::DelayLine,
    fault::{Direction, End, Fault, Partition, Target},
    hog::{CpuHog, MemHog},
    junk::Junk,
};
use crate::{
    lab::{LinkEnd, Node, Scope, nft},
    scenario::Rig,
    timing::centis,
};

/// The nodes' roles when a fault is injected.
#[derive(Clone, Copy, Debug)]
pub struct Roles {
    pub master: Node,
}

impl Roles {
    pub fn node(&self, t: Target) -> Node {
        match t {
            Target::Master => self.master,
            Target::Backup => self.master.other(),
        }
    }

    /// (from, to) pairs a direction hits.
    pub fn flows(&self, d: Direction) -> Vec<Node> {
        match d {
            Direction::MasterToBackup => vec![self.master],
            Direction::BackupToMaster => vec![self.master.other()],
            Direction::Both => vec![Node::A, Node::B],
        }
    }
}

/// A fault in force, with what undoing it takes.
pub enum Active {
    /// Done at once (restart, reload): nothing to undo.
    Done,
    /// Done at once, and the daemon broke a rule doing it (the violation).
    Failed(String),
    /// A stopped daemon, started again on undo; `clean` if it was asked to leave
    /// (it must then exit with status 0).
    Stopped {
        node: Node,
        pid: u32,
        clean: bool,
    },
    Link {
        node: Node,
        end: LinkEnd,
    },
    /// nftables rules on the router, flushed on undo.
    Rules,
    Delay(Vec<DelayLine>),
    Cpu(CpuHog),
    Mem(MemHog),
    Junk(Junk),
}

/// The node a fault acts on, if one.
pub fn target_node(fault: &Fault, roles: Roles) -> Option<Node> {
    match *fault {
        Fault::Kill9 { target }
        | Fault::Sigterm { target }
        | Fault::Restart { target }
        | Fault::Reload { target, .. }
        | Fault::LinkDown { target, .. }
        | Fault::CpuHog { target }
        | Fault::MemHog { target, .. }
        | Fault::Junk { target, .. } => Some(roles.node(target)),
        Fault::Partition {
            kind: Partition::Isolate(target),
        } => Some(roles.node(target)),
        Fault::Partition { .. } | Fault::Loss { .. } | Fault::Delay { .. } => None,
    }
}

fn idx(node: Node) -> usize {
    usize::from(node == Node::B)
}

/// Writes a node's file from its parameters.
pub fn write_config(rig: &Rig, node: Node, params: &Params) -> Result<()> {
    let path = rig.config_path(node);
    std::fs::write(&path, params.render(node, &rig.socket(node)))
        .with_context(|| format!("writing {}", path.display()))
}

pub fn inject(
    rig: &mut Rig,
    fault: &Fault,
    roles: Roles,
    params: &mut [Params; 2],
) -> Result<Active> {
    Ok(match *fault {
        Fault::Kill9 { target } => {
            let node = roles.node(target);
            let pid = rig.kill(node, libc::SIGKILL)?;
            Active::Stopped {
                node,
                pid,
                clean: false,
            }
        }
        Fault::Sigterm { target } => {
            let node = roles.node(target);
            let pid = rig.kill(node, libc::SIGTERM)?;
            Active::Stopped {
                node,
                pid,
                clean: true,
            }
        }
        Fault::Restart { target } => {
            let node = roles.node(target);
            let pid = rig.kill(node, libc::SIGTERM)?;
            let bad = reap_checked(rig, node, pid, true)?;
            rig.start(node)?;
            match bad {
                Some(v) => Active::Failed(v),
                None => Active::Done,
            }
        }
        Fault::Reload { target, edit } => {
            let node = roles.node(target);
            params[idx(node)].apply(edit);
            write_config(rig, node, &params[idx(node)])?;
            rig.signal(node, libc::SIGHUP)?;
            Active::Done
        }
        Fault::LinkDown { target, end } => {
            let node = roles.node(target);
            let end = match end {
                End::Node => LinkEnd::Node,
                End::Router => LinkEnd::Router,
            };
            rig.lab.link_down(node, end)?;
            Active::Link { node, end }
        }
        Fault::Partition { kind } => {
            match kind {
                Partition::Vrrp => rig.lab.partition(Scope::Vrrp)?,
                Partition::All => rig.lab.partition(Scope::All)?,
                Partition::Isolate(target) => rig.lab.silence(roles.node(target))?,
            }
            Active::Rules
        }
        Fault::Loss { percent, direction } => {
            let mut script = String::new();
            for from in roles.flows(direction) {
                script += &format!(
                    "add rule inet lab forward ip saddr {} ip daddr {} numgen random mod 100 < {percent} drop\n",
                    from.subnet(),
                    from.other().subnet()
                );
            }
            nft(&rig.lab.router, &script)?;
            Active::Rules
        }
        Fault::Delay { ms, direction } => {
            let delay = std::time::Duration::from_millis(u64::from(ms));
            let mut lines = Vec::new();
            for from in roles.flows(direction) {
                lines.push(DelayLine::start(&rig.lab, from, delay)?);
            }
            Active::Delay(lines)
        }
        Fault::CpuHog { target } => Active::Cpu(CpuHog::start(rig, roles.node(target))?),
        Fault::MemHog { mib, .. } => Active::Mem(MemHog::start(mib)),
        Fault::Junk { target, pps } => {
            let node = roles.node(target);
            // The interval the peers advertise: the node's own, as good as any.
            let cs = centis(params[idx(node)].interval());
            Active::Junk(Junk::start(&rig.lab, node, pps, cs)?)
        }
    })
}

/// Waits for a signalled daemon to exit; a violation if it was asked to leave
/// cleanly and did not exit with status 0.
pub fn reap_checked(rig: &mut Rig, node: Node, pid: u32, clean: bool) -> Result<Option<String>> {
    let status = rig
        .lab
        .node_mut(node)
        .wait_exit(pid, std::time::Duration::from_secs(20))?
        .with_context(|| format!("{node:?}'s daemon did not exit within 20 s"))?;
    Ok((clean && !status.success()).then(|| {
        format!(
            "{node:?}'s daemon exited with {status} after SIGTERM\n{}",
            tail(&rig.log(node), 20)
        )
    }))
}

/// The last `n` lines of a log.
pub fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// What undoing a fault did: a note for the timeline, and a broken rule if any.
#[derive(Default)]
pub struct Undone {
    pub note: Option<String>,
    pub violation: Option<String>,
}

fn note(s: impl Into<String>) -> Undone {
    Undone {
        note: Some(s.into()),
        violation: None,
    }
}

/// Undoes a fault.
pub fn undo(rig: &mut Rig, active: Active) -> Result<Undone> {
    Ok(match active {
        Active::Done => Undone::default(),
        Active::Failed(v) => Undone {
            note: None,
            violation: Some(v),
        },
        Active::Stopped { node, pid, clean } => {
            let violation = reap_checked(rig, node, pid, clean)?;
            rig.start(node)?;
            Undone {
                note: Some(format!("{node:?}'s daemon started again")),
                violation,
            }
        }
        Active::Link { node, end } => {
            rig.lab.link_up(node, end)?;
            note(format!("{node:?}'s uplink up"))
        }
        Active::Rules => {
            rig.lab.heal()?;
            note("healed")
        }
        Active::Delay(lines) => {
            let mut resent = 0;
            for l in lines {
                resent += l.stop()?;
            }
            rig.lab.heal()?;
            note(format!(
                "delay lines stopped ({resent} adverts re-sent late)"
            ))
        }
        Active::Cpu(hog) => {
            hog.stop(rig)?;
            note("busy loops killed")
        }
        Active::Mem(hog) => {
            hog.stop();
            note("memory freed")
        }
        Active::Junk(j) => {
            let n = j.stop()?;
            note(format!("junk stopped ({n} packets)"))
        }
    })
}

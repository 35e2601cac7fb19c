//! What the chaos schedule injects: one [`Fault`] per step, each with its parameters.
//! Targets are roles (the master, the backup), resolved when the step runs, so a
//! schedule means the same thing whoever is master at that moment.

use serde::{Deserialize, Serialize};

use super::config::Edit;

/// A node by its role at the moment the fault is injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Master,
    Backup,
}

/// Which way traffic between the two nodes is hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    MasterToBackup,
    BackupToMaster,
    Both,
}

/// Which end of a node's uplink goes down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    Node,
    Router,
}

/// A partition that no interface notices (no carrier change).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Partition {
    /// VRRP between the nodes dropped at the router: the classic split brain.
    Vrrp,
    /// Everything between the node subnets dropped.
    All,
    /// One node silent to the router (a hung host whose port stays up).
    Isolate(Target),
}

/// One fault. Every fault is undone at the end of its hold (a stopped daemon is
/// started again, a link comes up, a rule is removed, a hog ends).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// kill -9 of the daemon; started again after the hold.
    Kill9 { target: Target },
    /// SIGTERM (a clean leave); started again after the hold.
    Sigterm { target: Target },
    /// SIGTERM and an immediate start (no hold).
    Restart { target: Target },
    /// A valid edit of the node's file, then SIGHUP. Edits persist.
    Reload { target: Target, edit: Edit },
    /// One end of the node's uplink down for the hold.
    LinkDown { target: Target, end: End },
    /// A silent partition for the hold, then healed.
    Partition { kind: Partition },
    /// `percent` % of the traffic between the node subnets dropped.
    Loss { percent: u8, direction: Direction },
    /// VRRP between the nodes delayed by `ms`.
    Delay { ms: u32, direction: Direction },
    /// A busy loop per core in the node's namespace.
    CpuHog { target: Target },
    /// `mib` MiB allocated and touched while the node runs.
    MemHog { target: Target, mib: u32 },
    /// Junk VRRP (invalid in five ways) at the node from the router, `pps` a second.
    Junk { target: Target, pps: u32 },
}

/// The kind of a fault, for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Kill9,
    Sigterm,
    Restart,
    Reload,
    LinkDown,
    Partition,
    Loss,
    Delay,
    CpuHog,
    MemHog,
    Junk,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::Kill9,
        Kind::Sigterm,
        Kind::Restart,
        Kind::Reload,
        Kind::LinkDown,
        Kind::Partition,
        Kind::Loss,
        Kind::Delay,
        Kind::CpuHog,
        Kind::MemHog,
        Kind::Junk,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Kill9 => "kill -9",
            Kind::Sigterm => "SIGTERM",
            Kind::Restart => "restart",
            Kind::Reload => "SIGHUP + edit",
            Kind::LinkDown => "link down/up",
            Kind::Partition => "partition + heal",
            Kind::Loss => "loss",
            Kind::Delay => "delay",
            Kind::CpuHog => "CPU hog",
            Kind::MemHog => "memory hog",
            Kind::Junk => "junk adverts",
        }
    }
}

impl Fault {
    pub fn kind(&self) -> Kind {
        match self {
            Fault::Kill9 { .. } => Kind::Kill9,
            Fault::Sigterm { .. } => Kind::Sigterm,
            Fault::Restart { .. } => Kind::Restart,
            Fault::Reload { .. } => Kind::Reload,
            Fault::LinkDown { .. } => Kind::LinkDown,
            Fault::Partition { .. } => Kind::Partition,
            Fault::Loss { .. } => Kind::Loss,
            Fault::Delay { .. } => Kind::Delay,
            Fault::CpuHog { .. } => Kind::CpuHog,
            Fault::MemHog { .. } => Kind::MemHog,
            Fault::Junk { .. } => Kind::Junk,
        }
    }

    /// Whether the fault can take a node's routing session down (BFD misses its
    /// packets, or the link goes): the router then needs the session to come back
    /// before it routes to that node again.
    pub fn may_break_routing(&self) -> bool {
        matches!(
            self,
            Fault::LinkDown { .. }
                | Fault::Partition {
                    kind: Partition::Isolate(_)
                }
                | Fault::CpuHog { .. }
                | Fault::MemHog { .. }
                | Fault::Junk { .. }
        )
    }

    /// Whether the fault kills a daemon without a clean leave, so its VIP stays
    /// until the lease expires or the daemon starts again.
    pub fn orphans_vip(&self) -> bool {
        matches!(self, Fault::Kill9 { .. })
    }

    /// A short description, roles unresolved.
    pub fn describe(&self) -> String {
        let t = |t: &Target| match t {
            Target::Master => "master",
            Target::Backup => "backup",
        };
        let d = |d: &Direction| match d {
            Direction::MasterToBackup => "master->backup",
            Direction::BackupToMaster => "backup->master",
            Direction::Both => "both ways",
        };
        match self {
            Fault::Kill9 { target } => format!("kill -9 of the {}'s daemon", t(target)),
            Fault::Sigterm { target } => format!("SIGTERM to the {}'s daemon", t(target)),
            Fault::Restart { target } => format!("restart of the {}'s daemon", t(target)),
            Fault::Reload { target, edit } => format!("SIGHUP to the {}: {}", t(target), edit),
            Fault::LinkDown { target, end } => format!(
                "the {}'s uplink down at the {} end",
                t(target),
                match end {
                    End::Node => "node",
                    End::Router => "router",
                }
            ),
            Fault::Partition { kind } => match kind {
                Partition::Vrrp => "VRRP between the nodes dropped".into(),
                Partition::All => "everything between the nodes dropped".into(),
                Partition::Isolate(target) => format!("the {} silent to the router", t(target)),
            },
            Fault::Loss { percent, direction } => format!("{percent} % loss {}", d(direction)),
            Fault::Delay { ms, direction } => format!("VRRP delayed {ms} ms {}", d(direction)),
            Fault::CpuHog { target } => format!("a busy loop per core on the {}", t(target)),
            Fault::MemHog { target, mib } => format!("{mib} MiB touched on the {}", t(target)),
            Fault::Junk { target, pps } => format!("junk adverts at the {}, {pps}/s", t(target)),
        }
    }
}

//! Each node's vrrpd file during a chaos run: the parameters a reload may change, the
//! edits the schedule makes, and the TOML they render to. The first file means the
//! same as the lab rig's ([`crate::scenario::Rig`]), so the run starts from the
//! reference set-up.

use std::{fmt, path::Path, time::Duration};

use serde::{Deserialize, Serialize};

use crate::lab::{Node, UPLINK, VIP};
use crate::scenario::{PRIO_A, PRIO_B};

/// The advert intervals an edit may choose (VRRPv3 centisecond multiples).
pub const INTERVALS_MS: [u32; 4] = [20, 30, 50, 100];

/// What a reload may change on one node, every value valid for the other node's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    pub priority: u8,
    pub interval_ms: u32,
    pub preempt: bool,
    pub preempt_delay_ms: u32,
    pub lease_s: u32,
    pub accept_mode: bool,
    pub ttl: u8,
}

impl Params {
    /// The rig's start: A 200, B 100, preempt with a 2 s delay, a 3 s lease.
    pub fn initial(node: Node, interval: Duration) -> Params {
        Params {
            priority: match node {
                Node::A => PRIO_A,
                Node::B => PRIO_B,
            },
            interval_ms: interval.as_millis() as u32,
            preempt: true,
            preempt_delay_ms: 2000,
            lease_s: 3,
            accept_mode: true,
            ttl: 255,
        }
    }

    pub fn interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.interval_ms))
    }

    /// How long a returning higher-priority node may wait before it preempts.
    pub fn preempt_wait(&self) -> Duration {
        if self.preempt {
            Duration::from_millis(u64::from(self.preempt_delay_ms))
        } else {
            Duration::ZERO
        }
    }

    pub fn apply(&mut self, edit: Edit) {
        match edit {
            Edit::Priority(p) => self.priority = p,
            Edit::IntervalMs(i) => self.interval_ms = i,
            Edit::Preempt(p) => self.preempt = p,
            Edit::PreemptDelayMs(d) => self.preempt_delay_ms = d,
            Edit::LeaseS(l) => self.lease_s = l,
            Edit::AcceptMode(a) => self.accept_mode = a,
            Edit::Ttl(t) => self.ttl = t,
        }
    }

    /// The node's vrrpd file.
    pub fn render(&self, node: Node, status_socket: &Path) -> String {
        // `preempt_delay_ms` without preempt is a validation error (no effect).
        let delay = if self.preempt {
            format!("preempt_delay_ms = {}\n", self.preempt_delay_ms)
        } else {
            String::new()
        };
        format!(
            r#"[global]
status_socket = "{sock}"

[[instance]]
name = "vip"
interface = "{UPLINK}"
vrid = 51
priority = {prio}
advert_interval_ms = {interval}
mode = "unicast"
unicast_src = "{addr}/24"
preempt = {preempt}
{delay}accept_mode = {accept}
vip_lease_s = {lease}
ttl = {ttl}

[[instance.peer]]
address = "{peer}"

[[instance.vip]]
address = "{VIP}/32"
dev = "lo"
"#,
            sock = status_socket.display(),
            prio = self.priority,
            interval = self.interval_ms,
            addr = node.addr(),
            preempt = self.preempt,
            accept = self.accept_mode,
            lease = self.lease_s,
            ttl = self.ttl,
            peer = node.other().addr(),
        )
    }
}

/// One valid edit of a node's file (a reload of the value or core class: nothing
/// here changes the instance's identity, so the two nodes stay one virtual router).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Edit {
    /// 1..=254 (255 is the address owner, with rules of its own).
    Priority(u8),
    IntervalMs(u32),
    Preempt(bool),
    /// 0..=3000.
    PreemptDelayMs(u32),
    /// 3..=8 s (at least 3 intervals of the longest interval, by construction).
    LeaseS(u32),
    /// Off puts the VIP in vrrpd's nftables table while master.
    AcceptMode(bool),
    /// 64..=255: one router hop, and peers accept any TTL from a routed peer.
    Ttl(u8),
}

impl fmt::Display for Edit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Edit::Priority(p) => write!(f, "priority = {p}"),
            Edit::IntervalMs(i) => write!(f, "advert_interval_ms = {i}"),
            Edit::Preempt(p) => write!(f, "preempt = {p}"),
            Edit::PreemptDelayMs(d) => write!(f, "preempt_delay_ms = {d}"),
            Edit::LeaseS(l) => write!(f, "vip_lease_s = {l}"),
            Edit::AcceptMode(a) => write!(f, "accept_mode = {a}"),
            Edit::Ttl(t) => write!(f, "ttl = {t}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_apply() {
        let mut p = Params::initial(Node::B, Duration::from_millis(50));
        assert_eq!(p.priority, PRIO_B);
        p.apply(Edit::Priority(250));
        p.apply(Edit::Preempt(false));
        assert_eq!(p.priority, 250);
        assert_eq!(p.preempt_wait(), Duration::ZERO);
        assert!(
            !p.render(Node::B, Path::new("/run/x.sock"))
                .contains("preempt_delay_ms")
        );
    }
}

//! Sync groups: virtual routers that must be Master, Backup or Fault together
//! (keepalived's `vrrp_sync_group`), e.g. the inside and outside VRIDs of a firewall.
//!
//! The group owns its member routers and relays each member's own state changes to the
//! others as [`Input::SyncGroup`] orders:
//! - a member becoming Master (for any reason but an order) makes the Backups Master;
//! - a member falling from Master to Backup makes the other Masters Backup;
//! - a member starting (or leaving Fault) into Backup while another is Master joins it;
//! - while any member is in Fault for a cause of its own (link, tracked object), all the
//!   others are held in Fault; they recover when no member has such a cause left.
//!
//! Transitions caused by an order are never relayed, so one input settles in one pass.
//! The members should share their peers: a member forced to Backup while its VRID has
//! no other master will time out and pull the group back to Master.

use std::collections::VecDeque;

use super::{Action, GroupCommand, Input, Reason, Router, State};
use crate::time::Instant;

/// A set of routers moving together. A group of one is just a router.
#[derive(Debug, Clone)]
pub struct SyncGroup {
    members: Vec<Router>,
}

impl SyncGroup {
    pub fn new(members: Vec<Router>) -> SyncGroup {
        SyncGroup { members }
    }

    pub fn members(&self) -> &[Router] {
        &self.members
    }

    /// The earliest deadline of any member.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.members.iter().filter_map(Router::next_deadline).min()
    }

    /// Feed `input` to member `member`, then relay until the group is settled.
    /// Returns every member's actions, tagged with the member index, in order.
    pub fn handle(&mut self, now: Instant, member: usize, input: Input) -> Vec<(usize, Action)> {
        let mut queue = VecDeque::from([(member, input)]);
        let mut out = Vec::new();
        while let Some((idx, input)) = queue.pop_front() {
            let actions = self.members[idx].handle(now, input);
            queue.extend(self.relay_transitions(idx, &actions));
            out.extend(actions.into_iter().map(|a| (idx, a)));
            if queue.is_empty() {
                queue.extend(self.fault_orders());
            }
        }
        out
    }

    /// [`Input::Timer`] for every member whose deadline has come.
    pub fn on_timer(&mut self, now: Instant) -> Vec<(usize, Action)> {
        let due: Vec<usize> = (0..self.members.len())
            .filter(|&i| self.members[i].next_deadline().is_some_and(|d| d <= now))
            .collect();
        due.into_iter()
            .flat_map(|i| self.handle(now, i, Input::Timer))
            .collect()
    }

    fn relay_transitions(&self, idx: usize, actions: &[Action]) -> Vec<(usize, Input)> {
        let mut orders = Vec::new();
        for action in actions {
            let Action::Transition(t) = action else {
                continue;
            };
            if matches!(t.reason, Reason::SyncGroup { .. }) {
                continue;
            }
            let command = match (t.from, t.to) {
                (_, State::Master) => GroupCommand::Master,
                (State::Master, State::Backup) => GroupCommand::Backup,
                (_, State::Backup) => {
                    // A late starter joins a group that is already Master.
                    let master = (0..self.members.len())
                        .find(|&j| j != idx && self.members[j].state() == State::Master);
                    if let Some(member) = master {
                        let command = GroupCommand::Master;
                        orders.push((idx, Input::SyncGroup { member, command }));
                    }
                    continue;
                }
                _ => continue,
            };
            let others = (0..self.members.len()).filter(|&j| j != idx);
            orders.extend(others.map(|j| {
                (
                    j,
                    Input::SyncGroup {
                        member: idx,
                        command,
                    },
                )
            }));
        }
        orders
    }

    /// Fault is a level, not an event: compare each member's hold with what the others'
    /// own faults require, and order the difference.
    fn fault_orders(&self) -> Vec<(usize, Input)> {
        let faulted: Vec<usize> = (0..self.members.len())
            .filter(|&i| self.members[i].started && self.members[i].own_fault_cause().is_some())
            .collect();
        let mut orders = Vec::new();
        for (j, router) in self.members.iter().enumerate() {
            let cause = faulted.iter().copied().find(|&i| i != j);
            if cause.is_some() != router.group_fault.is_some() {
                let member = cause.or(router.group_fault).unwrap_or(j);
                orders.push((
                    j,
                    Input::SyncGroup {
                        member,
                        command: GroupCommand::Fault(cause.is_some()),
                    },
                ));
            }
        }
        orders
    }
}

//! The simulator's record of what happened, and a formatter that keeps it readable.

use std::fmt::Write;

use super::ScriptEvent;
use crate::router::{State, Transition};
use crate::time::Instant;

/// One line of the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEntry {
    pub at: Instant,
    pub node: usize,
    pub event: TraceEvent,
    /// The node's state when the line was recorded (a scripted event's effects follow
    /// as their own lines); `None` while crashed.
    pub state: Option<State>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceEvent {
    /// A scripted fault or operator action applied to this node (network-wide events
    /// such as partitions are recorded against node 0).
    Script(ScriptEvent),
    Transition(Transition),
    /// An advert from `from` was handed to this node's router.
    Received {
        from: usize,
        priority: u8,
    },
    /// Filter mode: the datapath absorbed an advert from `from`; the router did not
    /// see it.
    Absorbed {
        from: usize,
        priority: u8,
    },
    /// Filter mode: the driver replayed the followed advert with this receive time.
    Replayed {
        rx_time: Instant,
    },
    /// Filter mode: the datapath reported the followed master's silence.
    Silence,
}

/// Formats entries as aligned lines: `time  node  event  -> state`.
/// With `adverts` false, advert deliveries (and the filter's lines) are left out,
/// which is what makes a shrunk failing schedule short enough to read.
pub fn format_trace(entries: &[TraceEntry], adverts: bool) -> String {
    let mut out = String::new();
    for e in entries {
        let what = match &e.event {
            TraceEvent::Script(s) => format!("* {s:?}"),
            TraceEvent::Transition(t) => {
                format!("{} -> {} ({}) prio {}", t.from, t.to, t.reason, t.priority)
            }
            TraceEvent::Received { from, priority } if adverts => {
                format!("advert from r{from} prio {priority}")
            }
            TraceEvent::Absorbed { from, priority } if adverts => {
                format!("absorbed advert from r{from} prio {priority}")
            }
            TraceEvent::Replayed { rx_time } if adverts => {
                format!("replay followed advert rx {rx_time}")
            }
            TraceEvent::Silence if adverts => "silence reported".to_string(),
            TraceEvent::Received { .. }
            | TraceEvent::Absorbed { .. }
            | TraceEvent::Replayed { .. }
            | TraceEvent::Silence => continue,
        };
        let state = e
            .state
            .map_or_else(|| "crashed".to_string(), |s| s.to_string());
        let _ = writeln!(
            out,
            "{:>12}  r{:<2} {what:<60} [{state}]",
            e.at.to_string(),
            e.node
        );
    }
    out
}

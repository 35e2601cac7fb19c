//! Typed errors: each names the operation, the address or route, and the
//! interface, so a log line alone says what failed where.

use std::fmt;
use std::io;

/// The operation that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    AddAddr,
    RefreshAddr,
    DelAddr,
    ListAddrs,
    AddRoute,
    DelRoute,
    ListRoutes,
    LookupRoute,
    GetLink,
    Cleanup,
    Watch,
    Garp,
    UnsolicitedNa,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::AddAddr => "adding address",
            Op::RefreshAddr => "refreshing address",
            Op::DelAddr => "removing address",
            Op::ListAddrs => "listing addresses",
            Op::AddRoute => "adding route",
            Op::DelRoute => "removing route",
            Op::ListRoutes => "listing routes",
            Op::LookupRoute => "looking up the route",
            Op::GetLink => "querying link",
            Op::Cleanup => "cleaning up",
            Op::Watch => "subscribing to link and address events",
            Op::Garp => "sending gratuitous ARP for",
            Op::UnsolicitedNa => "sending unsolicited neighbour advertisement for",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("opening a netlink socket: {0}")]
    Socket(io::Error),
    /// The kernel (or a socket call) refused.
    #[error("{op}{} on {iface}: {error}", spaced(.target))]
    Kernel {
        op: Op,
        target: String,
        iface: String,
        error: io::Error,
    },
    #[error("{op}{}: interface {iface} does not exist", spaced(.target))]
    NoInterface {
        op: Op,
        target: String,
        iface: String,
    },
    /// The request is malformed; nothing was sent.
    #[error("{op}{} on {iface}: {reason}", spaced(.target))]
    Invalid {
        op: Op,
        target: String,
        iface: String,
        reason: String,
    },
}

/// `" target"`, or nothing for operations on the whole namespace.
fn spaced(target: &str) -> String {
    if target.is_empty() {
        String::new()
    } else {
        format!(" {target}")
    }
}

impl NetlinkError {
    /// The errno behind a kernel refusal, if any.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Socket(e) | NetlinkError::Kernel { error: e, .. } => e.raw_os_error(),
            _ => None,
        }
    }

    pub(crate) fn kernel(
        op: Op,
        target: impl fmt::Display,
        iface: impl fmt::Display,
        error: io::Error,
    ) -> Self {
        NetlinkError::Kernel {
            op,
            target: target.to_string(),
            iface: iface.to_string(),
            error,
        }
    }

    pub(crate) fn invalid(
        op: Op,
        target: impl fmt::Display,
        iface: impl fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        NetlinkError::Invalid {
            op,
            target: target.to_string(),
            iface: iface.to_string(),
            reason: reason.into(),
        }
    }
}

//! Checks of single values: numbers in range, addresses, names, commands.
//!
//! Each helper records an error that names the key and the value and
//! returns `None`, so callers can skip checks that depend on that value
//! instead of reporting follow-on noise.

use std::net::IpAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::str::FromStr;

use ipnet::IpNet;
use toml::Spanned;

use super::error::Diagnostics;
use super::schema::RawProtocol;
use super::types::Family;

/// Upper bound for millisecond settings (one hour).
pub(crate) const MAX_MS: i64 = 3_600_000;

/// Linux IFNAMSIZ minus the terminating NUL.
const IFNAME_MAX: usize = 15;

/// Error context: prefixes every message with what it is about, such as
/// `instance "vi1"` or `global`.
pub(crate) struct Checker<'d, 'a> {
    pub d: &'d mut Diagnostics<'a>,
    what: String,
}

impl<'d, 'a> Checker<'d, 'a> {
    pub(crate) fn new(d: &'d mut Diagnostics<'a>, what: String) -> Self {
        Checker { d, what }
    }

    /// Records `<what>: <message>` at `span`.
    pub(crate) fn err(&mut self, span: &Range<usize>, message: impl AsRef<str>) {
        let message = format!("{}: {}", self.what, message.as_ref());
        self.d.error(span, message);
    }

    /// An integer that must lie in `lo..=hi`; `why` is appended to the
    /// error to say where the bound comes from.
    pub(crate) fn int(
        &mut self,
        v: &Spanned<i64>,
        key: &str,
        lo: i64,
        hi: i64,
        why: &str,
    ) -> Option<i64> {
        let n = *v.get_ref();
        if (lo..=hi).contains(&n) {
            Some(n)
        } else {
            self.err(
                &v.span(),
                format!("{key} = {n} is out of range {lo}..{hi}{why}"),
            );
            None
        }
    }

    /// Like [`Checker::int`] for an optional key with a default.
    pub(crate) fn opt_int(
        &mut self,
        v: Option<&Spanned<i64>>,
        key: &str,
        lo: i64,
        hi: i64,
        default: i64,
    ) -> Option<i64> {
        match v {
            None => Some(default),
            Some(v) => self.int(v, key, lo, hi, ""),
        }
    }

    /// A plain address with no prefix length.
    pub(crate) fn ip(&mut self, v: &Spanned<String>, key: &str) -> Option<IpAddr> {
        let s = v.get_ref();
        match IpAddr::from_str(s) {
            Ok(a) => Some(a),
            Err(_) if s.contains('/') => {
                self.err(
                    &v.span(),
                    format!("{key} = {s:?} must be a plain address, without a prefix length"),
                );
                None
            }
            Err(_) => {
                self.err(&v.span(), format!("{key} = {s:?} is not an IP address"));
                None
            }
        }
    }

    /// An address with a mandatory prefix length, host bits kept
    /// (`10.1.1.10/24`). `why_prefix` ends the error when it is missing.
    pub(crate) fn ip_net(
        &mut self,
        v: &Spanned<String>,
        key: &str,
        why_prefix: &str,
    ) -> Option<IpNet> {
        let s = v.get_ref();
        if !s.contains('/')
            && let Ok(a) = IpAddr::from_str(s)
        {
            let host = if a.is_ipv4() { 32 } else { 128 };
            self.err(
                &v.span(),
                format!("{key} = {s:?} needs a prefix length, e.g. \"{a}/{host}\"{why_prefix}"),
            );
            return None;
        }
        match IpNet::from_str(s) {
            Ok(n) => Some(n),
            Err(_) => {
                self.err(
                    &v.span(),
                    format!(
                        "{key} = {s:?} is not an address with a prefix length (like \
                         \"10.1.1.10/24\")"
                    ),
                );
                None
            }
        }
    }

    /// An address with an optional prefix length (`10.1.2.10` or `10.1.2.10/24`).
    pub(crate) fn ip_maybe_net(
        &mut self,
        v: &Spanned<String>,
        key: &str,
    ) -> Option<(IpAddr, Option<IpNet>)> {
        let s = v.get_ref();
        if let Ok(a) = IpAddr::from_str(s) {
            return Some((a, None));
        }
        match IpNet::from_str(s) {
            Ok(n) => Some((n.addr(), Some(n))),
            Err(_) => {
                self.err(&v.span(), format!("{key} = {s:?} is not an IP address"));
                None
            }
        }
    }

    /// Rejects addresses that can never be a router's unicast address.
    /// Returns false (after recording an error) when `a` is one of them.
    pub(crate) fn unicast_addr(&mut self, span: &Range<usize>, key: &str, a: &IpAddr) -> bool {
        let problem = if a.is_unspecified() {
            Some("the unspecified address")
        } else if a.is_multicast() {
            Some("a multicast address")
        } else if a.is_loopback() {
            Some("a loopback address")
        } else if matches!(a, IpAddr::V4(v4) if v4.is_broadcast()) {
            Some("the broadcast address")
        } else {
            None
        };
        match problem {
            Some(p) => {
                self.err(span, format!("{key} = \"{a}\" is {p}"));
                false
            }
            None => true,
        }
    }

    /// A Linux interface name: 1..15 bytes, no '/', ':' or whitespace.
    pub(crate) fn ifname(&mut self, v: &Spanned<String>, key: &str) -> Option<String> {
        self.ifname_at(&v.span(), v.get_ref(), key)
    }

    /// [`Self::ifname`] for a name whose own span is not known (an array item).
    pub(crate) fn ifname_at(
        &mut self,
        span: &std::ops::Range<usize>,
        s: &String,
        key: &str,
    ) -> Option<String> {
        let problem = if s.is_empty() {
            Some("is empty".to_string())
        } else if s.len() > IFNAME_MAX {
            Some(format!(
                "is {} bytes long; Linux interface names have at most {IFNAME_MAX}",
                s.len()
            ))
        } else if s == "."
            || s == ".."
            || s.chars().any(|c| c == '/' || c == ':' || c.is_whitespace())
        {
            Some("is not a valid interface name (no '/', ':' or spaces)".to_string())
        } else {
            None
        };
        match problem {
            Some(p) => {
                self.err(span, format!("{key} = {s:?} {p}"));
                None
            }
            None => Some(s.clone()),
        }
    }

    /// A name used in logs, metrics labels and the environment of hooks:
    /// 1..64 of ASCII letters, digits, '_', '-', '.'.
    pub(crate) fn name(&mut self, v: &Spanned<String>, key: &str) -> Option<String> {
        let s = v.get_ref();
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if ok {
            Some(s.clone())
        } else {
            self.err(
                &v.span(),
                format!(
                    "{key} = {s:?} must be 1..64 characters of letters, digits, '_', '-' or '.'"
                ),
            );
            None
        }
    }

    /// An absolute path: the daemon's working directory is not the
    /// operator's, so relative paths would point somewhere surprising.
    pub(crate) fn abs_path(&mut self, v: &Spanned<String>, key: &str) -> Option<PathBuf> {
        let s = v.get_ref();
        if s.starts_with('/') {
            Some(PathBuf::from(s))
        } else {
            self.err(&v.span(), format!("{key} = {s:?} must be an absolute path"));
            None
        }
    }

    /// A command as an argv list, run without a shell. The program must be
    /// an absolute path because the daemon's PATH is not a login shell's.
    pub(crate) fn command(&mut self, v: &Spanned<Vec<String>>, key: &str) -> Option<Vec<String>> {
        let argv = v.get_ref();
        match argv.first() {
            None => {
                self.err(&v.span(), format!("{key} is an empty command"));
                None
            }
            Some(p) if p.trim().is_empty() => {
                self.err(&v.span(), format!("{key} has an empty program name"));
                None
            }
            Some(p) if !p.starts_with('/') => {
                let hint = if p.contains(' ') {
                    " (write one list element per argument, or [\"/bin/sh\", \"-c\", \"...\"])"
                } else {
                    ""
                };
                self.err(
                    &v.span(),
                    format!(
                        "{key}: program {p:?} must be an absolute path; commands run without a \
                         shell or PATH{hint}"
                    ),
                );
                None
            }
            Some(_) => Some(argv.clone()),
        }
    }

    /// Whether an IPv4 address with prefix ≤ 30 is its subnet's network or
    /// broadcast address, which a host cannot use.
    pub(crate) fn host_in_subnet(&mut self, span: &Range<usize>, key: &str, net: &IpNet) -> bool {
        if let IpNet::V4(n) = net
            && n.prefix_len() <= 30
        {
            let which = if n.addr() == n.network() {
                Some("network")
            } else if n.addr() == n.broadcast() {
                Some("broadcast")
            } else {
                None
            };
            if let Some(which) = which {
                self.err(
                    span,
                    format!("{key} = \"{net}\" is the {which} address of its subnet"),
                );
                return false;
            }
        }
        true
    }
}

pub(crate) fn family_name(f: Family) -> &'static str {
    match f {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    }
}

/// Route protocol numbers that belong to the kernel or to other daemons.
/// Routes stamped with one of these could be flushed or claimed by
/// their owner (FRR's zebra, for one, sweeps its own protocols at start).
const RESERVED_PROTOCOLS: &[(u8, &str)] = &[
    (0, "unspec"),
    (1, "redirect"),
    (2, "kernel"),
    (3, "boot"),
    (4, "static"),
    (8, "gated"),
    (9, "ra"),
    (10, "mrt"),
    (11, "zebra"),
    (12, "bird"),
    (13, "dnrouted"),
    (14, "xorp"),
    (15, "ntk"),
    (16, "dhcp"),
    (17, "mrouted"),
    (18, "keepalived"),
    (42, "babel"),
    (99, "openr"),
    (186, "bgp"),
    (187, "isis"),
    (188, "ospf"),
    (189, "rip"),
    (192, "eigrp"),
];

/// The well-known owner of a route protocol number, if it has one.
pub(crate) fn reserved_protocol(n: u8) -> Option<&'static str> {
    RESERVED_PROTOCOLS
        .iter()
        .find(|(k, _)| *k == n)
        .map(|(_, name)| *name)
}

/// The number of a well-known route protocol name, if it is one.
pub(crate) fn reserved_protocol_name(name: &str) -> Option<u8> {
    RESERVED_PROTOCOLS
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(k, _)| *k)
}

impl Checker<'_, '_> {
    /// A route destination: a prefix with its host bits zero, as the kernel keeps it.
    pub(crate) fn route_prefix(&mut self, v: &Spanned<String>, key: &str) -> Option<IpNet> {
        let n = self.ip_net(v, key, "")?;
        if n == n.trunc() {
            return Some(n);
        }
        let host = IpNet::new(n.addr(), n.max_prefix_len()).expect("host prefix");
        self.err(
            &v.span(),
            format!(
                "{key} = \"{n}\" has host bits set; the kernel wants \"{}\" (or \"{host}\" \
                 for one host)",
                n.trunc()
            ),
        );
        None
    }

    /// Any route protocol, by number (0-255) or by its well-known name, as a route
    /// another daemon installs carries it (e.g. BIRD 12 "bird", FRR 186 "bgp").
    pub(crate) fn any_route_protocol(&mut self, v: &Spanned<RawProtocol>, key: &str) -> Option<u8> {
        match v.get_ref() {
            RawProtocol::Number(n) => match u8::try_from(*n) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.err(&v.span(), format!("{key} = {n} is out of range 0..255"));
                    None
                }
            },
            RawProtocol::Name(name) => {
                let found = reserved_protocol_name(name);
                if found.is_none() {
                    let names: Vec<&str> = RESERVED_PROTOCOLS.iter().map(|(_, n)| *n).collect();
                    self.err(
                        &v.span(),
                        format!(
                            "{key} = {name:?} is not a route protocol name; use a number \
                             (0-255) or one of: {}",
                            names.join(", ")
                        ),
                    );
                }
                found
            }
        }
    }

    /// A route protocol number vrrpd may claim as its own.
    pub(crate) fn route_protocol(&mut self, v: &Spanned<i64>, key: &str) -> Option<u8> {
        let n = self.int(v, key, 1, 255, "")? as u8;
        match reserved_protocol(n) {
            Some(owner) => {
                self.err(
                    &v.span(),
                    format!(
                        "{key} = {n} is the route protocol of \"{owner}\"; vrrpd needs its own \
                         number so its routes are not flushed or claimed by another owner (e.g. \
                         252)"
                    ),
                );
                None
            }
            None => Some(n),
        }
    }
}

//! One finding of the import: where, how serious, what keepalived does and
//! what the output does instead.

use std::fmt;

/// Where a construct was written: file and 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub file: String,
    pub line: usize,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// How far the output is from keepalived's behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Rewritten, but the behaviour is the same (a default spelled out, a
    /// weight expressed the other way round).
    Note,
    /// The output behaves differently from keepalived here.
    Approximation,
    /// Cannot be translated: no usable output.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Note => "note",
            Severity::Approximation => "approximation",
            Severity::Error => "error",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub loc: Loc,
    pub severity: Severity,
    /// What keepalived does with the construct.
    pub keepalived: String,
    /// What the vrrpd output does instead.
    pub vrrpd: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: keepalived: {}; vrrpd: {}",
            self.loc, self.severity, self.keepalived, self.vrrpd
        )
    }
}

/// Collects diagnostics in the order they are found.
#[derive(Debug, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(
        &mut self,
        loc: &Loc,
        severity: Severity,
        keepalived: impl Into<String>,
        vrrpd: impl Into<String>,
    ) {
        self.items.push(Diagnostic {
            loc: loc.clone(),
            severity,
            keepalived: keepalived.into(),
            vrrpd: vrrpd.into(),
        });
    }

    pub fn note(&mut self, loc: &Loc, keepalived: impl Into<String>, vrrpd: impl Into<String>) {
        self.push(loc, Severity::Note, keepalived, vrrpd);
    }

    pub fn approx(&mut self, loc: &Loc, keepalived: impl Into<String>, vrrpd: impl Into<String>) {
        self.push(loc, Severity::Approximation, keepalived, vrrpd);
    }

    pub fn error(&mut self, loc: &Loc, keepalived: impl Into<String>, vrrpd: impl Into<String>) {
        self.push(loc, Severity::Error, keepalived, vrrpd);
    }

    /// The worst severity found, `None` when there is nothing to report.
    pub fn worst(&self) -> Option<Severity> {
        self.items.iter().map(|d| d.severity).max()
    }
}

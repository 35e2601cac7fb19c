//! `vrrpd import-keepalived`: a keepalived configuration (its VRRP side) to
//! the equivalent vrrpd TOML, with a diagnostic for every construct whose
//! behaviour the output does not reproduce exactly.
//!
//! Pipeline: [`lexer`] (keepalived's comment, quoting and continuation
//! rules) → [`parser`] (blocks, `include` with globs, `@id` conditional
//! lines, `$NAME` definitions) → [`translate`] (keepalived semantics and
//! implicit defaults to the vrrpd model) → [`emit`] (TOML, every key
//! explicit) → [`crate::config::parse`] (the output must pass `vrrpd check`).

pub mod command;
pub mod diagnostic;
mod emit;
pub mod glob;
pub mod lexer;
mod model;
pub mod parser;
pub mod translate;

use std::path::Path;

pub use diagnostic::{Diagnostic, Loc, Severity};
pub use parser::{ParseOptions, ReadError};
pub use translate::TranslateOptions;

use crate::config::ConfigErrors;

/// What the import could do; decides the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The output behaves as keepalived does (notes only). Exit 0.
    Exact,
    /// The output is valid but differs where the diagnostics say. Exit 1.
    Approximate,
    /// No valid output. Exit 2.
    Failed,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Exact => 0,
            Outcome::Approximate => 1,
            Outcome::Failed => 2,
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct ImportOptions {
    pub parse: ParseOptions,
    pub translate: TranslateOptions,
}

/// The result of one import.
#[derive(Debug)]
pub struct Report {
    /// The vrrpd configuration text.
    pub toml: String,
    pub diagnostics: Vec<Diagnostic>,
    /// Set when the output does not pass `vrrpd check` (a failure).
    pub invalid: Option<ConfigErrors>,
}

impl Report {
    pub fn outcome(&self) -> Outcome {
        let worst = self.diagnostics.iter().map(|d| d.severity).max();
        if self.invalid.is_some() || worst == Some(Severity::Error) {
            Outcome::Failed
        } else if worst == Some(Severity::Approximation) {
            Outcome::Approximate
        } else {
            Outcome::Exact
        }
    }
}

/// Imports the keepalived file at `path` (and what it includes).
pub fn import_file(path: &Path, opts: &ImportOptions) -> Result<Report, ReadError> {
    let mut d = diagnostic::Diagnostics::default();
    let stmts = parser::parse_file(path, &opts.parse, &mut d)?;
    Ok(finish(&stmts, &path.display().to_string(), opts, d))
}

/// Imports keepalived text; `file` names it in diagnostics.
pub fn import_text(text: &str, file: &str, opts: &ImportOptions) -> Report {
    let mut d = diagnostic::Diagnostics::default();
    let stmts = parser::parse_text(text, file, &opts.parse, &mut d);
    finish(&stmts, file, opts, d)
}

fn finish(
    stmts: &[parser::Stmt],
    source: &str,
    opts: &ImportOptions,
    mut d: diagnostic::Diagnostics,
) -> Report {
    let out = translate::translate(stmts, &opts.translate, &mut d);
    let toml = emit::emit(&out, source, &d.items);
    let invalid = if out.instances.is_empty() {
        None
    } else {
        crate::config::parse(&toml, "<imported>").err()
    };
    Report {
        toml,
        diagnostics: d.items,
        invalid,
    }
}

#[cfg(test)]
mod tests;

//! keepalived's file structure: statements, `{ ... }` blocks, `include`
//! (with globs, relative to the including file), conditional lines
//! (`@id` / `@^id`) and `$NAME=value` definitions.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use super::{
    diagnostic::{Diagnostics, Loc},
    glob,
    lexer::{self, Word},
};

/// One statement: its keyword, its arguments, and its block if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stmt {
    pub loc: Loc,
    pub key: String,
    pub args: Vec<Word>,
    pub block: Option<Vec<Stmt>>,
}

impl Stmt {
    /// The argument texts.
    pub fn arg_texts(&self) -> Vec<&str> {
        self.args.iter().map(|w| w.text.as_str()).collect()
    }

    pub fn children(&self) -> &[Stmt] {
        self.block.as_deref().unwrap_or(&[])
    }
}

/// A file that could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("{file}: cannot read: {source}")]
pub struct ReadError {
    pub file: String,
    #[source]
    pub source: std::io::Error,
}

/// Options that select what keepalived itself would read.
#[derive(Debug, Default, Clone)]
pub struct ParseOptions {
    /// keepalived's `-i ID` (`--config-id`): selects `@ID` lines.
    pub config_id: Option<String>,
}

struct Reader<'a> {
    opts: &'a ParseOptions,
    defs: HashMap<String, String>,
    lines: Vec<(Loc, Vec<Word>)>,
    depth: usize,
}

/// Reads `path` and everything it includes into a statement tree.
pub fn parse_file(
    path: &Path,
    opts: &ParseOptions,
    d: &mut Diagnostics,
) -> Result<Vec<Stmt>, ReadError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReadError {
        file: path.display().to_string(),
        source,
    })?;
    let mut r = Reader {
        opts,
        defs: HashMap::new(),
        lines: Vec::new(),
        depth: 0,
    };
    r.read(path, &text, d);
    Ok(build(r.lines, d))
}

/// Parses text that names no other file (includes resolve against `.`).
pub fn parse_text(text: &str, file: &str, opts: &ParseOptions, d: &mut Diagnostics) -> Vec<Stmt> {
    let mut r = Reader {
        opts,
        defs: HashMap::new(),
        lines: Vec::new(),
        depth: 0,
    };
    r.read(Path::new(file), text, d);
    build(r.lines, d)
}

impl Reader<'_> {
    fn read(&mut self, path: &Path, text: &str, d: &mut Diagnostics) {
        let file = path.display().to_string();
        let lines = match lexer::lines(text) {
            Ok(l) => l,
            Err(e) => {
                let loc = Loc { file, line: e.line };
                d.error(
                    &loc,
                    format!("{}: the whole file is rejected", e.message),
                    "nothing imported",
                );
                return;
            }
        };
        for l in lines {
            let loc = Loc {
                file: file.clone(),
                line: l.line,
            };
            let mut words = l.words;
            // Conditional lines: `@id` keeps the line only for that id,
            // `@^id` for every other id.
            if let Some(first) = words
                .first()
                .filter(|w| !w.quoted && w.text.starts_with('@'))
            {
                let cond = first.text[1..].to_string();
                let (negate, id) = match cond.strip_prefix('^') {
                    Some(id) => (true, id.to_string()),
                    None => (false, cond),
                };
                let selected = (self.opts.config_id.as_deref() == Some(id.as_str())) != negate;
                if !selected {
                    d.note(
                        &loc,
                        format!(
                            "this line applies only when started with `-i {}{id}`",
                            if negate { "<not> " } else { "" }
                        ),
                        match &self.opts.config_id {
                            Some(c) => format!("skipped, as keepalived -i {c} does"),
                            None => {
                                "skipped, as keepalived without -i does (select with --config-id)"
                                    .to_string()
                            }
                        },
                    );
                    continue;
                }
                words.remove(0);
                if words.is_empty() {
                    continue;
                }
            }
            // `$NAME=value` definitions.
            if let Some(first) = words
                .first()
                .filter(|w| !w.quoted && w.text.starts_with('$'))
                && let Some(eq) = first.text.find('=')
            {
                let name = first.text[1..eq].to_string();
                let mut value = first.text[eq + 1..].to_string();
                for w in &words[1..] {
                    value.push(' ');
                    value.push_str(&w.text);
                }
                self.defs.insert(name, value);
                continue;
            }
            if !self.defs.is_empty() {
                words = self.substitute(words);
            }
            if words.first().is_some_and(|w| w.is("include")) {
                self.include(path, &loc, &words[1..], d);
                continue;
            }
            if words.iter().any(|w| !w.quoted && w.text.starts_with('~')) {
                d.error(
                    &loc,
                    "`~SEQ(...)` repeats the line for a sequence of values",
                    "sequences are not expanded; write the lines out",
                );
                continue;
            }
            self.lines.push((loc, words));
        }
    }

    fn substitute(&self, words: Vec<Word>) -> Vec<Word> {
        let mut out = Vec::new();
        for w in words {
            let mut text = w.text.clone();
            for (k, v) in &self.defs {
                text = text.replace(&format!("${{{k}}}"), v);
                text = text.replace(&format!("${k}"), v);
            }
            if text != w.text && !w.quoted {
                // A definition may stand for several words.
                match lexer::lines(&text) {
                    Ok(ls) => out.extend(ls.into_iter().flat_map(|l| l.words)),
                    Err(_) => out.push(Word {
                        text,
                        quoted: false,
                    }),
                }
            } else {
                out.push(Word {
                    text,
                    quoted: w.quoted,
                });
            }
        }
        out
    }

    fn include(&mut self, from: &Path, loc: &Loc, args: &[Word], d: &mut Diagnostics) {
        if self.depth >= 16 {
            d.error(loc, "include nested too deeply", "include not followed");
            return;
        }
        for arg in args {
            let pattern = PathBuf::from(&arg.text);
            let pattern = if pattern.is_absolute() {
                pattern
            } else {
                from.parent().unwrap_or(Path::new(".")).join(pattern)
            };
            let files = glob::expand(&pattern);
            if files.is_empty() {
                d.note(
                    loc,
                    format!("`include {}` matches no file and is skipped", arg.text),
                    "nothing included either",
                );
            }
            for f in files {
                match std::fs::read_to_string(&f) {
                    Ok(text) => {
                        self.depth += 1;
                        self.read(&f, &text, d);
                        self.depth -= 1;
                    }
                    Err(e) => d.error(
                        loc,
                        format!("includes {}, which cannot be read: {e}", f.display()),
                        "not imported",
                    ),
                }
            }
        }
    }
}

fn push(stack: &mut [Vec<Stmt>], s: Stmt) {
    if let Some(v) = stack.last_mut() {
        v.push(s);
    }
}

/// Turns the flat lines into nested statements.
fn build(lines: Vec<(Loc, Vec<Word>)>, d: &mut Diagnostics) -> Vec<Stmt> {
    // A stack of open blocks; the bottom one is the file.
    let mut stack: Vec<Vec<Stmt>> = vec![Vec::new()];
    let mut last_loc = None;
    for (loc, words) in lines {
        let mut cur: Option<Stmt> = None;
        for w in words {
            if w.is("{") {
                let owner = match cur.take() {
                    Some(s) => s,
                    // `{` on a line of its own opens the previous statement.
                    None => match stack.last_mut().and_then(|v| v.pop()) {
                        Some(s) if s.block.is_none() => s,
                        other => {
                            if let Some(s) = other {
                                push(&mut stack, s);
                            }
                            d.error(&loc, "`{` without a keyword", "ignored");
                            continue;
                        }
                    },
                };
                push(&mut stack, owner);
                stack.push(Vec::new());
            } else if w.is("}") {
                if let Some(s) = cur.take() {
                    push(&mut stack, s);
                }
                if stack.len() == 1 {
                    d.error(&loc, "`}` without an open block", "ignored");
                    continue;
                }
                let children = stack.pop().unwrap_or_default();
                if let Some(owner) = stack.last_mut().and_then(|v| v.last_mut()) {
                    owner.block = Some(children);
                }
            } else {
                match &mut cur {
                    Some(s) => s.args.push(w),
                    None => {
                        cur = Some(Stmt {
                            loc: loc.clone(),
                            key: w.text,
                            args: Vec::new(),
                            block: None,
                        })
                    }
                }
            }
        }
        if let Some(s) = cur {
            push(&mut stack, s);
        }
        last_loc = Some(loc);
    }
    while stack.len() > 1 {
        if let Some(loc) = &last_loc {
            d.error(
                loc,
                "a block is not closed at the end of the file",
                "block closed here",
            );
        }
        let children = stack.pop().unwrap_or_default();
        if let Some(owner) = stack.last_mut().and_then(|v| v.last_mut()) {
            owner.block = Some(children);
        }
    }
    stack.pop().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, id: Option<&str>) -> (Vec<Stmt>, Diagnostics) {
        let mut d = Diagnostics::default();
        let opts = ParseOptions {
            config_id: id.map(str::to_string),
        };
        (parse_text(text, "k.conf", &opts, &mut d), d)
    }

    #[test]
    fn nested_blocks_and_one_line_blocks() {
        let (s, d) = parse(
            "vrrp_instance VI_1 {\n  authentication { auth_type PASS }\n  virtual_ipaddress {\n    10.0.0.1/32 dev lo\n  }\n}\n",
            None,
        );
        assert!(d.items.is_empty());
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].key, "vrrp_instance");
        assert_eq!(s[0].arg_texts(), vec!["VI_1"]);
        let kids = s[0].children();
        assert_eq!(kids[0].key, "authentication");
        assert_eq!(kids[0].children()[0].arg_texts(), vec!["PASS"]);
        assert_eq!(kids[1].children()[0].key, "10.0.0.1/32");
        assert_eq!(kids[1].children()[0].loc.line, 4);
    }

    #[test]
    fn brace_on_its_own_line() {
        let (s, _) = parse("vrrp_script chk\n{\n  interval 2\n}\n", None);
        assert_eq!(s[0].children()[0].key, "interval");
    }

    #[test]
    fn conditional_lines_follow_the_config_id() {
        let text = "@high priority 170\n@low priority 85\n@^high weight 1\n";
        let (s, d) = parse(text, Some("high"));
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].arg_texts(), vec!["170"]);
        assert_eq!(d.items.len(), 2);
        let (s, _) = parse(text, None);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].key, "weight");
    }

    #[test]
    fn definitions_are_substituted() {
        let (s, _) = parse("$PRIO=150\npriority $PRIO\nx ${PRIO}0\n", None);
        assert_eq!(s[0].arg_texts(), vec!["150"]);
        assert_eq!(s[1].arg_texts(), vec!["1500"]);
    }

    #[test]
    fn unbalanced_braces_are_reported() {
        let (_, d) = parse("a {\n b\n", None);
        assert_eq!(d.items.len(), 1);
        let (_, d) = parse("}\n", None);
        assert_eq!(d.items.len(), 1);
    }

    #[test]
    fn include_with_glob_relative_to_the_file() {
        let dir = std::env::temp_dir().join(format!("vrrpd-inc-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("conf.d")).unwrap();
        std::fs::write(
            dir.join("main.conf"),
            "global_defs {\n}\ninclude conf.d/*.conf\n",
        )
        .unwrap();
        std::fs::write(dir.join("conf.d/b.conf"), "b_stmt\n").unwrap();
        std::fs::write(dir.join("conf.d/a.conf"), "a_stmt\n").unwrap();
        let mut d = Diagnostics::default();
        let s = parse_file(&dir.join("main.conf"), &ParseOptions::default(), &mut d).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let keys: Vec<_> = s.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, vec!["global_defs", "a_stmt", "b_stmt"]);
        assert!(s[1].loc.file.ends_with("conf.d/a.conf"));
    }
}

//! docs/configuration.md as a man page (vrrpd.toml(5)): the subset of
//! Markdown that file uses (headings, paragraphs, lists, code blocks, tables)
//! to roff, so the page says exactly what the reference says.

/// Text with roff's special characters escaped and Markdown emphasis removed.
fn inline(s: &str) -> String {
    let mut t = s.replace('\\', "\\e").replace("**", "").replace('`', "");
    // Links: [text](target) -> text (target) for external ones, text otherwise.
    while let (Some(a), Some(m)) = (t.find('['), t.find("](")) {
        let Some(e) = t[m..].find(')').map(|e| m + e) else {
            break;
        };
        if a > m {
            break;
        }
        let text = t[a + 1..m].to_string();
        let target = t[m + 2..e].to_string();
        let repl = if target.starts_with('#') {
            text
        } else {
            format!("{text} ({target})")
        };
        t.replace_range(a..=e, &repl);
    }
    t.replace('-', "\\-")
}

/// A line that cannot start with a roff control character.
fn line(s: &str) -> String {
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s.to_string()
    }
}

/// A section title: upper case, except table names (`[[instance]]`), which
/// are written as in the file.
fn section(h: &str) -> String {
    let t = inline(h);
    if t.starts_with('[') {
        t
    } else {
        t.to_uppercase()
    }
}

fn cells(row: &str) -> Vec<String> {
    row.trim()
        .trim_matches('|')
        .split(" | ")
        .map(|c| c.trim().to_string())
        .collect()
}

pub fn config_page(markdown: &str, version: &str) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        ".TH VRRPD.TOML 5 \"\" \"vrrpd {version}\" \"File Formats\"\n.SH NAME\nvrrpd.toml \\- vrrpd configuration file\n"
    ));
    let mut in_code = false;
    let mut header: Option<Vec<String>> = None;
    let mut first_heading = true;
    for raw in markdown.lines() {
        if raw.starts_with("```") {
            out.push_str(if in_code { ".fi\n.RE\n" } else { ".RS\n.nf\n" });
            in_code = !in_code;
            continue;
        }
        if in_code {
            out.push_str(&line(&raw.replace('\\', "\\e")));
            out.push('\n');
            continue;
        }
        let l = raw.trim_end();
        if l.starts_with('|') {
            let c = cells(l);
            if c.iter().all(|x| x.chars().all(|ch| ch == '-' || ch == ' ')) {
                continue;
            }
            match &header {
                None => header = Some(c),
                Some(h) => {
                    // First column as the tag, the rest as "header: value".
                    out.push_str(&format!(".TP\n.B {}\n", inline(&c[0])));
                    let rest: Vec<String> = h
                        .iter()
                        .zip(&c)
                        .skip(1)
                        .map(|(k, v)| format!("{}: {}", inline(k), inline(v)))
                        .collect();
                    out.push_str(&line(&rest.join("; ")));
                    out.push('\n');
                }
            }
            continue;
        }
        header = None;
        if let Some(h) = l.strip_prefix("# ") {
            if first_heading {
                first_heading = false;
                out.push_str(".SH DESCRIPTION\n");
            } else {
                out.push_str(&format!(".SH {}\n", section(h)));
            }
        } else if let Some(h) = l.strip_prefix("## ") {
            out.push_str(&format!(".SH {}\n", section(h)));
        } else if let Some(h) = l.strip_prefix("### ") {
            out.push_str(&format!(".SS {}\n", inline(h)));
        } else if let Some(item) = l.strip_prefix("- ") {
            out.push_str(&format!(".IP \\(bu 2\n{}\n", line(&inline(item))));
        } else if l.is_empty() {
            out.push_str(".PP\n");
        } else if let Some((n, rest)) = l
            .split_once(". ")
            .filter(|(n, _)| n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty())
        {
            out.push_str(&format!(".IP {n}. 4\n{}\n", line(&inline(rest))));
        } else {
            out.push_str(&line(&inline(l.trim_start())));
            out.push('\n');
        }
    }
    out.push_str(".SH SEE ALSO\nvrrpd(8), vrrpd\\-check(8), vrrpd\\-import\\-keepalived(8)\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_tables_and_code() {
        let page = config_page(
            "# Title\n\nSome `code` and **bold**.\n\n## `[global]`\n\n| key | type |\n| --- | --- |\n| `a` | int |\n\n```\n.x\n```\n",
            "0.1.0",
        );
        assert!(page.contains(".SH [global]\n"), "{page}");
        assert!(page.contains(".TP\n.B a\ntype: int\n"), "{page}");
        assert!(page.contains("Some code and bold."), "{page}");
        assert!(page.contains(".nf\n\\&.x\n.fi\n"), "{page}");
    }
}

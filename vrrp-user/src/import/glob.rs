//! The file-name patterns of `include`: `*`, `?` and `[...]` per path
//! component, matches sorted (as glob(3) returns them).

use std::path::{Path, PathBuf};

/// The existing paths that `pattern` matches, sorted; a pattern without
/// wildcards yields itself when it exists.
pub fn expand(pattern: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::new()];
    for comp in pattern.components() {
        let part = comp.as_os_str().to_string_lossy().to_string();
        let mut next = Vec::new();
        for base in &found {
            if has_wildcard(&part) {
                let dir = if base.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    base.as_path()
                };
                let Ok(entries) = std::fs::read_dir(dir) else {
                    continue;
                };
                let mut names: Vec<String> = entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().to_string())
                    .filter(|n| !n.starts_with('.') || part.starts_with('.'))
                    .filter(|n| matches(part.as_bytes(), n.as_bytes()))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| base.join(n)));
            } else {
                next.push(base.join(&part));
            }
        }
        found = next;
    }
    found.retain(|p| p.exists());
    found
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Shell-style match of one name against one pattern component.
fn matches(pat: &[u8], name: &[u8]) -> bool {
    match pat.first() {
        None => name.is_empty(),
        Some(b'*') => (0..=name.len()).any(|i| matches(&pat[1..], &name[i..])),
        Some(b'?') => !name.is_empty() && matches(&pat[1..], &name[1..]),
        Some(b'[') => {
            let Some(end) = pat.iter().skip(1).position(|&c| c == b']') else {
                return name.first() == Some(&b'[') && matches(&pat[1..], &name[1..]);
            };
            let class = &pat[1..end + 1];
            let Some(&c) = name.first() else {
                return false;
            };
            let (negate, class) = match class.first() {
                Some(b'!') | Some(b'^') => (true, &class[1..]),
                _ => (false, class),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && matches(&pat[end + 2..], &name[1..])
        }
        Some(&p) => name.first() == Some(&p) && matches(&pat[1..], &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches(b"*.conf", b"a.conf"));
        assert!(!matches(b"*.conf", b"a.conf.bak"));
        assert!(matches(b"node?.conf", b"node1.conf"));
        assert!(matches(b"[ab]*", b"b1"));
        assert!(!matches(b"[!ab]*", b"b1"));
        assert!(matches(b"x[0-9]", b"x7"));
    }

    #[test]
    fn expands_sorted_in_a_directory() {
        let dir = std::env::temp_dir().join(format!("vrrpd-glob-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for n in ["b.conf", "a.conf", "c.txt"] {
            std::fs::write(dir.join(n), "").unwrap();
        }
        let got = expand(&dir.join("*.conf"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got, vec![dir.join("a.conf"), dir.join("b.conf")]);
    }
}

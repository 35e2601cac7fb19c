//! keepalived's line rules: comments, quoting, continuation.
//!
//! A `!` or `#` outside double quotes starts a comment that runs to the end
//! of the line; `\#` and `\!` are the literal characters. A `\` at the end
//! of a line joins the next line. Words are separated by blanks; a word in
//! double (or single) quotes keeps its blanks and loses its quotes. `{` and
//! `}` are words of their own even when written against another word.

/// One word of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    /// Written in quotes: never a brace, never a keyword split.
    pub quoted: bool,
}

impl Word {
    pub fn is(&self, s: &str) -> bool {
        !self.quoted && self.text == s
    }
}

/// A logical line: its first physical line number and its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub line: usize,
    pub words: Vec<Word>,
}

/// Why a line could not be split into words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub line: usize,
    pub message: String,
}

/// Splits a file into logical lines of words, dropping comments and blank lines.
pub fn lines(text: &str) -> Result<Vec<Line>, LexError> {
    let mut out = Vec::new();
    let mut pending = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        if pending.is_empty() {
            start = number;
        }
        let (body, continued) = decomment(raw, number)?;
        pending.push_str(&body);
        if continued {
            pending.push(' ');
            continue;
        }
        let words = split(&pending, start)?;
        if !words.is_empty() {
            out.push(Line { line: start, words });
        }
        pending.clear();
    }
    if !pending.trim().is_empty() {
        let words = split(&pending, start)?;
        out.push(Line { line: start, words });
    }
    Ok(out)
}

/// Strips the comment; reports whether the line ends in a continuation `\`.
fn decomment(raw: &str, line: usize) -> Result<(String, bool), LexError> {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', None) => match chars.peek() {
                Some('#') | Some('!') => {
                    // An escaped comment character: keep it, quoted so the
                    // splitter does not treat it specially.
                    out.push('\\');
                    out.push(chars.next().unwrap_or('#'));
                }
                None => return Ok((out, true)),
                Some(_) => out.push('\\'),
            },
            ('#' | '!', None) => break,
            ('"' | '\'', None) => {
                quote = Some(c);
                out.push(c);
            }
            (c, Some(q)) if c == q => {
                quote = None;
                out.push(c);
            }
            (c, _) => out.push(c),
        }
    }
    if quote.is_some() {
        return Err(LexError {
            line,
            message: "unterminated quote".into(),
        });
    }
    Ok((out, false))
}

fn split(s: &str, line: usize) -> Result<Vec<Word>, LexError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut in_quote: Option<char> = None;
    let flush = |cur: &mut String, quoted: &mut bool, words: &mut Vec<Word>| {
        if !cur.is_empty() || *quoted {
            words.push(Word {
                text: std::mem::take(cur),
                quoted: *quoted,
            });
        }
        *quoted = false;
    };
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(q) = in_quote {
            if c == q {
                in_quote = None;
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' | '\'' => {
                in_quote = Some(c);
                quoted = true;
            }
            '\\' if matches!(chars.peek(), Some('#') | Some('!')) => {
                cur.push(chars.next().unwrap_or('#'));
            }
            ' ' | '\t' | '\r' => flush(&mut cur, &mut quoted, &mut words),
            // `${NAME}` is a reference to a definition, not a block.
            '{' if cur.ends_with('$') => {
                cur.push(c);
                for c in chars.by_ref() {
                    cur.push(c);
                    if c == '}' {
                        break;
                    }
                }
            }
            '{' | '}' => {
                flush(&mut cur, &mut quoted, &mut words);
                words.push(Word {
                    text: c.to_string(),
                    quoted: false,
                });
            }
            c => cur.push(c),
        }
    }
    if in_quote.is_some() {
        return Err(LexError {
            line,
            message: "unterminated quote".into(),
        });
    }
    flush(&mut cur, &mut quoted, &mut words);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<Vec<String>> {
        lines(text)
            .unwrap()
            .into_iter()
            .map(|l| l.words.into_iter().map(|w| w.text).collect())
            .collect()
    }

    #[test]
    fn comments_with_both_characters_anywhere() {
        assert_eq!(
            texts("! header\nfoo bar # trailing\n# whole\nbaz!x\n"),
            vec![vec!["foo", "bar"], vec!["baz"]]
        );
    }

    #[test]
    fn quotes_keep_blanks_and_comment_characters() {
        assert_eq!(
            texts("script \"/bin/check --opt # not a comment\"\n"),
            vec![vec!["script", "/bin/check --opt # not a comment"]]
        );
    }

    #[test]
    fn escaped_comment_character_is_literal() {
        assert_eq!(texts("a b\\#c\n"), vec![vec!["a", "b#c"]]);
    }

    #[test]
    fn braces_are_words_and_continuation_joins() {
        assert_eq!(
            texts("group{a}\nx \\\n y\n"),
            vec![vec!["group", "{", "a", "}"], vec!["x", "y"]]
        );
        assert_eq!(lines("x \\\n y\n").unwrap()[0].line, 1);
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        assert_eq!(lines("a\nscript \"x\n").unwrap_err().line, 2);
    }
}

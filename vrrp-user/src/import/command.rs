//! keepalived script strings to argv lists.
//!
//! keepalived splits a script string into words itself (quotes group) and
//! looks the program up in `PATH`. vrrpd runs argv lists without `PATH`
//! lookup and without a shell, so a plain command with an absolute program
//! maps one to one; anything else runs through `/bin/sh -c`, which does the
//! `PATH` lookup and the shell syntax.

/// The argv for `script`, and whether it needed `/bin/sh -c`.
pub fn to_argv(script: &str) -> (Vec<String>, bool) {
    const SHELL: &[char] = &[
        '|', '&', ';', '<', '>', '(', ')', '$', '`', '*', '?', '[', '~', '\\', '"', '\'',
    ];
    let words: Vec<&str> = script.split_whitespace().collect();
    let plain = !script.contains(SHELL);
    match words.first() {
        Some(prog) if plain && prog.starts_with('/') => {
            (words.iter().map(|w| w.to_string()).collect(), false)
        }
        _ => (
            vec!["/bin/sh".into(), "-c".into(), script.trim().to_string()],
            true,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_plain_command_is_split() {
        assert_eq!(
            to_argv("/usr/local/bin/vrrp.sh  MASTER  VI_1"),
            (
                vec![
                    "/usr/local/bin/vrrp.sh".into(),
                    "MASTER".into(),
                    "VI_1".into()
                ],
                false
            )
        );
    }

    #[test]
    fn relative_or_shell_syntax_goes_through_sh() {
        assert_eq!(
            to_argv("killall -0 sshd").0,
            vec!["/bin/sh", "-c", "killall -0 sshd"]
        );
        assert!(to_argv("</dev/tcp/127.0.0.1/80").1);
    }
}

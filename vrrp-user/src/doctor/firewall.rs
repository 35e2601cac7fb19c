//! Does a firewall ruleset let IP protocol 112 (VRRP) through? A reading of
//! `nft list ruleset` and `iptables-save` text, the way an engineer would
//! read it: a chain on the hook that drops by policy needs a rule accepting
//! protocol 112; a chain that accepts by policy must not drop it first.
//! Rules that match on other things (addresses, interfaces, state) are
//! assumed not to concern VRRP.

/// The direction of the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

/// The verdict for protocol 112 in one ruleset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Dropped: the chain (and rule, if one) that does it.
    Dropped(String),
}

fn mentions_vrrp(rule: &str) -> bool {
    let r = format!(" {rule} ");
    [
        " protocol vrrp ",
        " protocol 112 ",
        " l4proto vrrp ",
        " l4proto 112 ",
        " nexthdr vrrp ",
        " nexthdr 112 ",
        " protocol { ",
    ]
    .iter()
    .any(|p| r.contains(p))
        && (r.contains("vrrp") || r.contains("112"))
}

/// A rule with no match at all: a terminal verdict for everything.
fn bare(rule: &str, verdict: &str) -> bool {
    let words: Vec<&str> = rule
        .split_whitespace()
        .filter(|w| {
            !w.starts_with("counter") && !w.starts_with("packets") && !w.starts_with("bytes")
        })
        .filter(|w| w.parse::<u64>().is_err())
        .collect();
    words == [verdict]
}

/// nftables: every base chain on the input (output) hook, in order.
pub fn nft(ruleset: &str, dir: Direction) -> Verdict {
    let hook = match dir {
        Direction::In => "hook input",
        Direction::Out => "hook output",
    };
    let mut chain = String::new();
    let mut in_hook = false;
    let mut policy_drop = false;
    let mut decided = false;
    let mut result = Verdict::Allowed;
    let finish =
        |in_hook: bool, policy_drop: bool, decided: bool, chain: &str, result: &mut Verdict| {
            if in_hook && policy_drop && !decided && *result == Verdict::Allowed {
                *result = Verdict::Dropped(format!(
                    "chain {chain} (policy drop, no rule accepts protocol 112)"
                ));
            }
        };
    for line in ruleset.lines() {
        let l = line.trim();
        if let Some(name) = l.strip_prefix("chain ") {
            finish(in_hook, policy_drop, decided, &chain, &mut result);
            chain = name.trim_end_matches('{').trim().to_string();
            in_hook = false;
            policy_drop = false;
            decided = false;
            continue;
        }
        if l.starts_with("type filter") && l.contains(hook) {
            in_hook = true;
            policy_drop = l.contains("policy drop");
            continue;
        }
        if !in_hook || decided || l.is_empty() || l == "}" {
            continue;
        }
        let accept = l.contains(" accept") || l.starts_with("accept");
        let drop = l.contains(" drop")
            || l.contains(" reject")
            || l.starts_with("drop")
            || l.starts_with("reject");
        if mentions_vrrp(l) {
            if accept {
                decided = true;
            } else if drop && result == Verdict::Allowed {
                result = Verdict::Dropped(format!("chain {chain}: rule `{l}`"));
                decided = true;
            }
        } else if (bare(l, "drop") || bare(l, "reject")) && result == Verdict::Allowed {
            result = Verdict::Dropped(format!("chain {chain}: rule `{l}` drops everything"));
            decided = true;
        } else if bare(l, "accept") {
            decided = true;
        }
    }
    finish(in_hook, policy_drop, decided, &chain, &mut result);
    result
}

/// iptables-save: the filter table's INPUT (OUTPUT) chain.
pub fn iptables(save: &str, dir: Direction) -> Verdict {
    let chain = match dir {
        Direction::In => "INPUT",
        Direction::Out => "OUTPUT",
    };
    let mut in_filter = false;
    let mut policy_drop = false;
    for line in save.lines() {
        let l = line.trim();
        if l.starts_with('*') {
            in_filter = l == "*filter";
            continue;
        }
        if !in_filter {
            continue;
        }
        if let Some(rest) = l.strip_prefix(&format!(":{chain} ")) {
            policy_drop = rest.starts_with("DROP");
            continue;
        }
        let Some(rule) = l.strip_prefix(&format!("-A {chain} ")) else {
            continue;
        };
        let target = rule
            .split(" -j ")
            .nth(1)
            .unwrap_or("")
            .split_whitespace()
            .next()
            .unwrap_or("");
        let proto_vrrp = rule.contains("-p vrrp") || rule.contains("-p 112");
        let matches_all = !rule.contains("-p ")
            && !rule.contains("-s ")
            && !rule.contains("-d ")
            && !rule.contains("-i ")
            && !rule.contains("-o ")
            && !rule.contains("-m ");
        if proto_vrrp || matches_all {
            match target {
                "ACCEPT" => return Verdict::Allowed,
                "DROP" | "REJECT" => return Verdict::Dropped(format!("{chain}: rule `{l}`")),
                _ => {}
            }
        }
    }
    if policy_drop {
        Verdict::Dropped(format!("{chain} policy DROP, no rule accepts protocol 112"))
    } else {
        Verdict::Allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nft_policy_drop_needs_an_accept() {
        let rs = "table inet f {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t\tct state established accept\n\t}\n}\n";
        assert!(matches!(nft(rs, Direction::In), Verdict::Dropped(_)));
        assert_eq!(nft(rs, Direction::Out), Verdict::Allowed);
        let ok = rs.replace("ct state established accept", "ip protocol vrrp accept");
        assert_eq!(nft(&ok, Direction::In), Verdict::Allowed);
    }

    #[test]
    fn nft_explicit_drop_of_vrrp() {
        let rs = "table ip t {\n chain o {\n  type filter hook output priority 0; policy accept;\n  ip protocol 112 counter packets 0 bytes 0 drop\n }\n}\n";
        assert!(matches!(nft(rs, Direction::Out), Verdict::Dropped(_)));
        assert_eq!(nft(rs, Direction::In), Verdict::Allowed);
        assert_eq!(nft("", Direction::In), Verdict::Allowed);
    }

    #[test]
    fn iptables_policy_and_rules() {
        let s =
            "*filter\n:INPUT DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -j ACCEPT\nCOMMIT\n";
        assert!(matches!(iptables(s, Direction::In), Verdict::Dropped(_)));
        assert_eq!(iptables(s, Direction::Out), Verdict::Allowed);
        let s = s.replace("-p tcp", "-p vrrp");
        assert_eq!(iptables(&s, Direction::In), Verdict::Allowed);
    }
}

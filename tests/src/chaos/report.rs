//! The chaos run for people: each episode's timeline as it ends, then a table per
//! fault, a summary by kind, the daemons' resources and the end checks.

use std::{collections::BTreeMap, fmt::Write as _};

use super::{
    fault::Kind,
    record::{Episode, RunLog},
};

fn opt(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

/// An episode's timeline, printed when it ends.
pub fn print_episode(ep: &Episode) {
    println!(
        "[{:>7.1} s] step {} {}: {}",
        ep.at_s,
        ep.step.index,
        ep.step.fault.kind().name(),
        ep.what
    );
    for (at, what) in &ep.timeline[1..] {
        println!("            {at:>+9.1} ms  {what}");
    }
    let verdict = if ep.violations.is_empty() {
        if ep.routing_flaps.is_empty() {
            "ok".to_string()
        } else {
            format!("ok for VRRP; routing flap: {}", ep.routing_flaps.join("; "))
        }
    } else {
        format!("VIOLATION: {}", ep.violations.join("; "))
    };
    println!(
        "            settled {} ms after the undo (bound {:.0} ms), split brain {:.1} ms: {verdict}",
        opt(ep.settle_ms),
        ep.bound_ms,
        ep.split_brain_ms
    );
}

/// One row per episode.
pub fn episode_table(log: &RunLog) -> String {
    let mut s = String::from(
        "| step | t s | fault | hold ms | settle ms (bound) | holder after | split brain ms | no holder ms | client outage ms | lost | answered twice | lost after settle | result |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for e in &log.episodes {
        let _ = writeln!(
            s,
            "| {} | {:.1} | {} | {:.0} | {} ({:.0}) | {} | {:.1} | {:.1} | {:.0} | {} | {} | {}{} | {} |",
            e.step.index,
            e.at_s,
            e.what,
            e.hold_ms,
            opt(e.settle_ms),
            e.bound_ms,
            e.holder_after.as_deref().unwrap_or("-"),
            e.split_brain_ms,
            e.no_holder_ms,
            e.client.outage_ms,
            e.client.lost,
            e.client.answered_twice,
            e.client.lost_after_settle,
            if e.client.judged { "" } else { " (accept off)" },
            if e.violations.is_empty() {
                "ok"
            } else {
                "VIOLATION"
            }
        );
    }
    s
}

#[derive(Default)]
struct KindRow {
    n: usize,
    violations: usize,
    settle_max: f64,
    split_max: f64,
    split_total: f64,
    outage_max: f64,
}

/// Faults by kind, with the worst figures.
pub fn kind_table(log: &RunLog) -> String {
    let mut rows: BTreeMap<Kind, KindRow> =
        Kind::ALL.iter().map(|k| (*k, KindRow::default())).collect();
    for e in &log.episodes {
        let r = rows.get_mut(&e.step.fault.kind()).expect("every kind");
        r.n += 1;
        r.violations += usize::from(!e.violations.is_empty());
        r.settle_max = r.settle_max.max(e.settle_ms.unwrap_or(0.0));
        r.split_max = r.split_max.max(e.split_brain_ms);
        r.split_total += e.split_brain_ms;
        if e.client.judged {
            r.outage_max = r.outage_max.max(e.client.outage_ms);
        }
    }
    let mut s = String::from(
        "| fault kind | injected | with violations | settle max ms | split brain max ms | split brain total ms | client outage max ms (accept mode on) |\n\
         |---|---|---|---|---|---|---|\n",
    );
    let mut total = 0;
    for (k, r) in &rows {
        total += r.n;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.0} |",
            k.name(),
            r.n,
            r.violations,
            r.settle_max,
            r.split_max,
            r.split_total,
            r.outage_max
        );
    }
    let _ = writeln!(
        s,
        "| all | {total} | {} | | | | |",
        log.episodes
            .iter()
            .filter(|e| !e.violations.is_empty())
            .count()
    );
    s
}

/// The daemons' lives with their first and last readings.
pub fn lives_table(log: &RunLog) -> String {
    let mut s = String::from(
        "| node | pid | started at step | faults survived | RSS KiB first -> last | open fds first -> last |\n|---|---|---|---|---|---|\n",
    );
    for l in &log.lives {
        let pair = |f: fn(&super::usage::Usage) -> u64| match (l.first, l.last) {
            (Some(a), Some(b)) => format!("{} -> {}", f(&a), f(&b)),
            (Some(a), None) => format!("{} -> -", f(&a)),
            _ => "-".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            l.node,
            l.pid,
            l.from_step.map_or("start".into(), |i| i.to_string()),
            l.faults,
            pair(|u| u.rss_kib),
            pair(|u| u.fds)
        );
    }
    s
}

/// Everything after the run.
pub fn summary(log: &RunLog) -> String {
    let mut s = format!(
        "chaos run: seed {}, recipe {}, {} ms adverts at the start, {} faults\n\n",
        log.seed,
        log.recipe,
        log.interval_ms,
        log.episodes.len()
    );
    s += &episode_table(log);
    s += "\n";
    s += &kind_table(log);
    s += "\nDaemon processes (leak check: first reading after their first fault against the last):\n\n";
    s += &lives_table(log);
    let flaps: Vec<&Episode> = log
        .episodes
        .iter()
        .filter(|e| !e.routing_flaps.is_empty())
        .collect();
    let _ = writeln!(
        s,
        "\nRouting flaps (the recipe lost a route or a session while VRRP stayed settled; \
         not judged): {}",
        flaps.len()
    );
    for e in flaps {
        let _ = writeln!(s, "  step {}: {}", e.step.index, e.routing_flaps.join("; "));
    }
    s += "\nAfter the last stop:\n";
    for c in &log.end_checks {
        let _ = writeln!(s, "  {c}");
    }
    let v = log.all_violations();
    if v.is_empty() {
        s += "\nevery invariant held\n";
    } else {
        let _ = writeln!(s, "\n{} VIOLATION(S):", v.len());
        for x in v {
            let _ = writeln!(s, "  - {x}");
        }
    }
    s
}

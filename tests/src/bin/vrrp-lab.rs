//! `vrrp-lab`: the cross-subnet failover demo. Builds the reference topology in
//! network namespaces, runs every failure scenario with real vrrpd daemons and a
//! routing daemon, prints a live timeline and the result table, and tears it all
//! down. Run through `cargo xtask demo`.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use vrrp_tests::{
    dual_scenario::{DualOutcome, DualScenario, run_dual},
    lab::{CLIENT_ADDR, CLIENT_ADDR6, Family, Node, Recipe, require_tools},
    scenario::{Daemon, Outcome, PRIO_B, Scenario, Settings, VERSION, run_with},
    timing::{master_down_interval, skew_time},
};

#[derive(Parser)]
#[command(about = "Cross-subnet VRRP failover demo in network namespaces")]
struct Cli {
    /// The vrrpd binary to run on the nodes.
    #[arg(long)]
    vrrpd: PathBuf,
    /// VRRP advert interval in milliseconds.
    #[arg(long, default_value_t = 20)]
    interval_ms: u64,
    /// Routing recipes to run: bird-ospf, bird-bgp-bfd, frr-ospf (default: all that
    /// carry the family's VIP).
    #[arg(long, value_delimiter = ',')]
    recipe: Vec<String>,
    /// The VIP's family: ipv4 (10.1.255.1), or ipv6 (2001:db8:ff::1, on the recipes
    /// that carry it; the dual-homed scenarios are IPv4 only).
    #[arg(long, default_value = "ipv4")]
    family: Family,
    /// Only scenarios whose name contains this text.
    #[arg(long)]
    only: Option<String>,
    /// The VRRP daemon on the nodes: vrrpd, or keepalived (for comparison; vrrpd's
    /// own detection figure is then not available).
    #[arg(long, default_value = "vrrpd")]
    daemon: String,
}

fn recipe_name(r: Recipe) -> &'static str {
    match r {
        Recipe::BirdOspf => "bird-ospf",
        Recipe::BirdBgpBfd => "bird-bgp-bfd",
        Recipe::FrrOspf => "frr-ospf",
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let len = cli.family.link_len();
    let family = cli.family;
    let recipes: Vec<Recipe> = if cli.recipe.is_empty() {
        Recipe::ALL
            .into_iter()
            .filter(|r| r.families().contains(&family))
            .collect()
    } else {
        let mut v = Vec::new();
        for name in &cli.recipe {
            match Recipe::ALL.iter().find(|r| recipe_name(**r) == name) {
                Some(r) => v.push(*r),
                None => {
                    eprintln!("unknown recipe {name:?}: bird-ospf, bird-bgp-bfd or frr-ospf");
                    return ExitCode::FAILURE;
                }
            }
        }
        if let Some(r) = v.iter().find(|r| !r.families().contains(&family)) {
            eprintln!("{} does not carry an {family} VIP", recipe_name(*r));
            return ExitCode::FAILURE;
        }
        v
    };
    let daemon = match cli.daemon.as_str() {
        "vrrpd" => Daemon::Vrrpd,
        "keepalived" => Daemon::Keepalived,
        other => {
            eprintln!("unknown daemon {other:?}: vrrpd or keepalived");
            return ExitCode::FAILURE;
        }
    };
    let interval = Duration::from_millis(cli.interval_ms);
    println!("{} cross-subnet failover demo ({family})", daemon.name());
    let client = match family {
        Family::V4 => CLIENT_ADDR.to_string(),
        Family::V6 => CLIENT_ADDR6.to_string(),
    };
    println!(
        "  node A {}/{len} (priority 200) and node B {}/{len} (priority 100), a router \
         joining them and the client {client};\n  VIP {} on the master's lo, announced \
         by the routing daemon; adverts every {} ms by unicast;\n  RFC floors: Skew_Time {:.1} ms \
         (graceful stop), Master_Down_Interval {:.1} ms (crash).",
        Node::A.addr_in(family),
        Node::B.addr_in(family),
        family.vip_host(),
        cli.interval_ms,
        skew_time(VERSION, PRIO_B, interval).as_secs_f64() * 1e3,
        master_down_interval(VERSION, PRIO_B, interval).as_secs_f64() * 1e3
    );
    let mut outcomes = Vec::new();
    let mut failures = 0;
    for &recipe in &recipes {
        if let Err(e) = require_tools(recipe) {
            eprintln!("skipping {}: {e:#}", recipe_name(recipe));
            failures += 1;
            continue;
        }
        let settings = Settings {
            vrrpd: cli.vrrpd.clone(),
            recipe,
            family,
            interval,
            verbose: true,
        };
        for scenario in Scenario::ALL {
            if cli
                .only
                .as_ref()
                .is_some_and(|o| !scenario.name().contains(o.as_str()))
            {
                continue;
            }
            // keepalived has no route tracking: the scenario is vrrpd's.
            if daemon == Daemon::Keepalived && scenario.tracks_route() {
                continue;
            }
            println!("\n== {} with {} ==", scenario.name(), recipe_name(recipe));
            match run_with(&settings, scenario, daemon) {
                Ok(out) => {
                    println!("   {}", summary(&out));
                    outcomes.push(out);
                }
                Err(e) => {
                    failures += 1;
                    println!("   FAILED: {e:#}");
                }
            }
        }
    }
    // Dual-homed nodes run BIRD BGP + BFD; vrrpd's routed instances only, IPv4 only.
    let mut dual = Vec::new();
    if daemon == Daemon::Vrrpd && family == Family::V4 && recipes.contains(&Recipe::BirdBgpBfd) {
        for scenario in DualScenario::ALL {
            if cli
                .only
                .as_ref()
                .is_some_and(|o| !scenario.name().contains(o.as_str()))
            {
                continue;
            }
            println!("\n== dual-homed: {} with bird-bgp-bfd ==", scenario.name());
            match run_dual(&cli.vrrpd, interval, scenario) {
                Ok(out) => {
                    println!(
                        "   A {} and B {} transitions, client outage {:.1} ms ({} probes lost); {}",
                        out.transitions[0],
                        out.transitions[1],
                        out.outage.as_secs_f64() * 1e3,
                        out.lost,
                        out.note
                    );
                    dual.push(out);
                }
                Err(e) => {
                    failures += 1;
                    println!("   FAILED: {e:#}");
                }
            }
        }
    }
    println!("\n{}", Outcome::table_header());
    for o in &outcomes {
        println!("{}", o.table_row());
    }
    if !dual.is_empty() {
        println!(
            "\nDual-homed nodes (two uplinks to two routers, routed instances from the loopback, BIRD BGP + BFD, ECMP):"
        );
        println!("{}", DualOutcome::table_header());
        for o in &dual {
            println!("{}", o.table_row());
        }
    }
    let routing_bound: Vec<String> = outcomes
        .iter()
        .filter(|o| o.routing_dominates())
        .map(|o| format!("{} ({:?})", o.scenario.name(), o.recipe))
        .collect();
    if !routing_bound.is_empty() {
        println!(
            "\nRouting, not VRRP, dominates the client outage in: {}.\nSee docs/routing.md for the timers that matter.",
            routing_bound.join(", ")
        );
    }
    println!(
        "\n{} scenario runs, {} failed; everything torn down.",
        outcomes.len() + dual.len() + failures,
        failures
    );
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn summary(o: &Outcome) -> String {
    let ms = |d: Option<Duration>| {
        d.map_or("-".to_string(), |d| {
            format!("{:.1} ms", d.as_secs_f64() * 1e3)
        })
    };
    format!(
        "VRRP detection {} (floor {}), VIP moved {}, route moved {}, client outage {}{}",
        ms(o.detection),
        ms(o.floor),
        ms(o.vip_moved),
        ms(o.route_moved),
        ms(o.outage),
        if o.note.is_empty() {
            String::new()
        } else {
            format!("; {}", o.note)
        }
    )
}

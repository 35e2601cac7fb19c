//! `vrrp-chaos`: a seeded chaos run on the failure lab (`cargo xtask chaos`). Prints
//! each fault's timeline as it ends, then the tables; writes the JSON log that
//! `--replay` runs again. Exits non-zero if any invariant was violated.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use vrrp_tests::chaos::{self, DEFAULT_RECIPE, Options, RunLog, recipe_from_name, recipe_name};

#[derive(Parser)]
#[command(about = "Seeded chaos on the cross-subnet VRRP lab")]
struct Cli {
    /// The vrrpd binary to run on the nodes.
    #[arg(long)]
    vrrpd: PathBuf,
    /// How long to keep injecting faults.
    #[arg(long, default_value_t = 3.0)]
    minutes: f64,
    /// The schedule's seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run the steps of this JSON log again (its seed, interval and recipe too).
    #[arg(long)]
    replay: Option<PathBuf>,
    /// With --replay: only steps FROM..TO (inclusive), e.g. 12..15.
    #[arg(long)]
    steps: Option<String>,
    /// The advert interval at the start, ms.
    #[arg(long, default_value_t = 50)]
    interval_ms: u64,
    /// Routing recipe: bird-bgp-bfd (default, fastest), bird-ospf, frr-ospf.
    #[arg(long)]
    recipe: Option<String>,
    /// Where to write the JSON log (default: chaos-seed-S.json in --json-dir).
    #[arg(long)]
    json: Option<PathBuf>,
    /// The directory of the default JSON log (`cargo xtask chaos`: target/chaos).
    #[arg(long, default_value = ".")]
    json_dir: PathBuf,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("vrrp-chaos: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<bool> {
    let mut recipe = match &cli.recipe {
        Some(name) => recipe_from_name(name).ok_or_else(|| {
            anyhow::anyhow!("unknown recipe {name:?}: bird-bgp-bfd, bird-ospf or frr-ospf")
        })?,
        None => DEFAULT_RECIPE,
    };
    let (mut seed, mut interval_ms, mut replay) = (cli.seed, cli.interval_ms, None);
    if let Some(path) = &cli.replay {
        let old = RunLog::read(path)?;
        seed = old.seed;
        interval_ms = old.interval_ms;
        recipe = recipe_from_name(&old.recipe)
            .ok_or_else(|| anyhow::anyhow!("log names an unknown recipe {:?}", old.recipe))?;
        let mut steps = old.steps;
        if let Some(range) = &cli.steps {
            let (a, b) = range
                .split_once("..")
                .ok_or_else(|| anyhow::anyhow!("--steps wants FROM..TO"))?;
            let (a, b): (usize, usize) = (a.parse()?, b.parse()?);
            steps.retain(|s| (a..=b).contains(&s.index));
        }
        println!("replaying {} steps of {}", steps.len(), path.display());
        replay = Some(steps);
    }
    let json = cli.json.unwrap_or_else(|| {
        cli.json_dir.join(format!(
            "chaos-seed-{seed}{}.json",
            if replay.is_some() { "-replay" } else { "" }
        ))
    });
    let opts = Options {
        vrrpd: cli.vrrpd,
        recipe,
        interval: Duration::from_millis(interval_ms),
        duration: Duration::from_secs_f64(cli.minutes * 60.0),
        seed,
        replay,
        json: Some(json.clone()),
        live: true,
    };
    println!(
        "chaos: seed {seed}, {} min, recipe {}, {interval_ms} ms adverts at the start; log {}",
        cli.minutes,
        recipe_name(recipe),
        json.display()
    );
    let log = chaos::run(&opts)?;
    println!("\n{}", chaos::report::summary(&log));
    println!(
        "JSON log: {} (replay: --replay {})",
        json.display(),
        json.display()
    );
    Ok(log.passed())
}

//! `cargo xtask chaos`: the seeded chaos run on the failure lab (tests/src/chaos),
//! with release builds of vrrpd and the `vrrp-chaos` driver.

use std::{path::PathBuf, process::Command};

use anyhow::Result;
use clap::Args;

use crate::{run, setup, step, workspace_root};

#[derive(Args)]
pub struct ChaosArgs {
    /// How long to keep injecting faults.
    #[arg(long, default_value_t = 3.0)]
    minutes: f64,
    /// The schedule's seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run the steps of a JSON log from an earlier run again.
    #[arg(long)]
    replay: Option<PathBuf>,
    /// With --replay: only steps FROM..TO, e.g. 12..15.
    #[arg(long)]
    steps: Option<String>,
    /// The advert interval at the start, ms.
    #[arg(long, default_value_t = 50)]
    interval_ms: u64,
    /// Routing recipe (default bird-bgp-bfd, the fastest).
    #[arg(long)]
    recipe: Option<String>,
    /// The JSON log (default target/chaos/chaos-seed-S.json).
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn chaos(args: &ChaosArgs) -> Result<()> {
    setup::setup()?;
    setup::report_netem();
    step("cargo build --release (vrrpd and the chaos driver)");
    run(Command::new("cargo").args([
        "build",
        "--release",
        "-p",
        "vrrp-user",
        "-p",
        "vrrp-tests",
        "--bins",
    ]))?;
    let target = workspace_root().join("target/release");
    let json = args.json.clone().unwrap_or_else(|| {
        workspace_root().join(format!(
            "target/chaos/chaos-seed-{}{}.json",
            args.seed,
            if args.replay.is_some() { "-replay" } else { "" }
        ))
    });
    step("vrrp-chaos");
    let mut cmd = Command::new(target.join("vrrp-chaos"));
    cmd.arg("--vrrpd")
        .arg(target.join("vrrpd"))
        .args(["--minutes", &args.minutes.to_string()])
        .args(["--seed", &args.seed.to_string()])
        .args(["--interval-ms", &args.interval_ms.to_string()])
        .arg("--json")
        .arg(&json);
    if let Some(r) = &args.replay {
        cmd.arg("--replay").arg(r);
    }
    if let Some(s) = &args.steps {
        cmd.args(["--steps", s]);
    }
    if let Some(r) = &args.recipe {
        cmd.args(["--recipe", r]);
    }
    run(&mut cmd)
}

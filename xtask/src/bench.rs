//! `cargo xtask bench [--quick] [--only SECTIONS]`: the benchmark harness. Not part
//! of the test suite.
//!
//! Builds vrrpd and the harness (release), runs the criterion micro-benchmarks, then
//! `vrrp-bench`, which runs the namespace benchmarks against vrrpd and keepalived and
//! writes BENCHMARKS.md and docs/bench/. The full run takes about 28 minutes on the
//! 2-core VM, builds excluded (detection 6, lab 2.5, scale 16, flood 1.5, starvation
//! 7); `--quick` about 12.

use std::{path::PathBuf, process::Command, time::Instant};

use anyhow::Result;

use crate::{run, step, workspace_root};

/// Options of `cargo xtask bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Few trials and short windows (development); the numbers are indicative only.
    #[arg(long)]
    quick: bool,
    /// Comma-separated sections: detection, lab, scale, flood, micro, starvation
    /// (default: all).
    #[arg(long)]
    only: Option<String>,
    /// Comma-separated scale cases, INSTANCESxINTERVAL_MS (e.g. `1020x10,1x1000`;
    /// default: all). For development: the report is then partial.
    #[arg(long)]
    cases: Option<String>,
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

pub fn bench(args: &BenchArgs) -> Result<()> {
    let started = Instant::now();
    let root = workspace_root();
    let target = target_dir();
    let wants = |s: &str| {
        args.only
            .as_deref()
            .is_none_or(|o| o.split(',').any(|x| x.trim() == s))
    };

    step("cargo build --release -p vrrp-user -p vrrp-tests --bins");
    run(Command::new("cargo").args([
        "build",
        "--release",
        "-p",
        "vrrp-user",
        "-p",
        "vrrp-tests",
        "--bins",
    ]))?;

    let criterion = target.join("criterion");
    if wants("micro") {
        // Fresh results only: the harness reads every estimate under this directory.
        let _ = std::fs::remove_dir_all(&criterion);
        let (warm, measure) = if args.quick { ("0.5", "1") } else { ("2", "5") };
        step("cargo bench -p vrrp-core --bench core (criterion)");
        run(Command::new("cargo").args([
            "bench",
            "-p",
            "vrrp-core",
            "--bench",
            "core",
            "--",
            "--warm-up-time",
            warm,
            "--measurement-time",
            measure,
        ]))?;
    }

    let mut command = String::from("cargo xtask bench");
    if args.quick {
        command.push_str(" --quick");
    }
    if let Some(o) = &args.only {
        command.push_str(&format!(" --only {o}"));
    }
    if let Some(c) = &args.cases {
        command.push_str(&format!(" --cases {c}"));
    }
    step(&format!("vrrp-bench ({command})"));
    let mut cmd = Command::new(target.join("release/vrrp-bench"));
    cmd.arg("--vrrpd")
        .arg(target.join("release/vrrpd"))
        .arg("--out")
        .arg(&root)
        .arg("--command")
        .arg(&command);
    if wants("micro") {
        cmd.arg("--criterion").arg(&criterion);
    }
    if args.quick {
        cmd.arg("--quick");
    }
    if let Some(o) = &args.only {
        cmd.arg("--only").arg(o);
    }
    if let Some(c) = &args.cases {
        cmd.arg("--cases").arg(c);
    }
    run(&mut cmd)?;
    println!(
        "\nxtask bench: done in {:.1} min (builds included)",
        started.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}

//! Project tasks: `cargo xtask setup|test|build-and-run|demo|chaos|bench|package`.
//!
//! The build itself needs no xtask (aya-build in vrrp-user/build.rs compiles the eBPF
//! object during a plain `cargo build`); this only orchestrates set-up and runs.

mod bench;
mod chaos;
// vrrpd's command line, for the man pages and completions of `package`.
#[path = "../../vrrp-user/src/cli.rs"]
#[allow(dead_code)]
mod cli;
mod manpage;
mod package;
mod setup;

use std::{
    path::PathBuf,
    process::{Command, ExitCode},
    time::Instant,
};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "vrrpd project tasks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what is missing on a fresh Debian machine (idempotent).
    Setup,
    /// Set up, then check formatting and lints and run the whole test suite.
    Test {
        /// Skip `cargo fmt --check` and clippy (quicker local runs).
        #[arg(long)]
        no_lint: bool,
        /// Extra arguments for `cargo test` (e.g. a test name filter after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Build everything (release) and run the daemon with ARGS.
    BuildAndRun {
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// The cross-subnet failover demo: every failure scenario on the reference
    /// topology in network namespaces, with BIRD/FRR, a live timeline and a table.
    Demo {
        /// Extra arguments for vrrp-lab (e.g. `--recipe bird-ospf --interval-ms 100`,
        /// or `--family ipv6` for the IPv6 VIP).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Seeded chaos on the failure lab: random faults, one at a time, each judged
    /// against the invariants (one VIP holder, routed to it, within a bound); a
    /// table, a timeline and a JSON log that `--replay` runs again.
    Chaos {
        /// Arguments for vrrp-chaos, e.g. `--minutes 30 --seed 1` or `--replay FILE`
        /// (`vrrp-chaos --help` lists them all).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Benchmarks against keepalived (namespaces + criterion); writes BENCHMARKS.md
    /// and docs/bench/. Not part of the test suite.
    Bench(bench::BenchArgs),
    /// Build the Debian package (target/debian/vrrpd_VERSION_ARCH.deb): binary,
    /// systemd unit, /etc/vrrpd/vrrpd.toml, man pages, completions, rt_protos entry.
    Package,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Setup => setup::setup(),
        Cmd::Test { no_lint, args } => test(no_lint, &args),
        Cmd::BuildAndRun { args } => build_and_run(&args),
        Cmd::Demo { args } => demo(&args),
        Cmd::Chaos { args } => chaos::chaos(&args),
        Cmd::Bench(args) => bench::bench(&args),
        Cmd::Package => package::package().map(|_| ()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Runs a command in the workspace root, failing if it fails.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    cmd.current_dir(workspace_root());
    let status = cmd.status().with_context(|| format!("spawning {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

fn step(what: &str) {
    println!("\n==> {what}");
}

fn test(no_lint: bool, args: &[String]) -> Result<()> {
    let started = Instant::now();
    setup::setup()?;
    if !no_lint {
        step("cargo fmt --check");
        run(Command::new("cargo").args(["fmt", "--all", "--check"]))?;
        step("cargo clippy --workspace --all-targets -- -D warnings");
        run(Command::new("cargo").args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
    }
    // The package test (vrrp-user/tests/package_deb.rs) installs this .deb.
    let deb = package::package()?;
    step("cargo test --workspace (unit, property, XDP verdict and namespace tests)");
    let mut cmd = Command::new("cargo");
    cmd.args(["test", "--workspace"]).env("VRRPD_DEB", &deb);
    if !args.is_empty() {
        cmd.arg("--").args(args);
    }
    // The namespace tests must never skip silently in CI: they fail with what is
    // missing instead. Nothing to set here, but say so in the log.
    run(&mut cmd)?;
    println!(
        "\nxtask test: all passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn demo(args: &[String]) -> Result<()> {
    setup::setup()?;
    step("cargo build --release (vrrpd and the lab driver)");
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
    step("vrrp-lab: the cross-subnet failover demo");
    run(Command::new(target.join("vrrp-lab"))
        .arg("--vrrpd")
        .arg(target.join("vrrpd"))
        .args(args))
}

fn build_and_run(args: &[String]) -> Result<()> {
    setup::setup()?;
    step("cargo build --release --workspace");
    run(Command::new("cargo").args(["build", "--release", "--workspace"]))?;
    let bin = workspace_root().join("target/release/vrrpd");
    step(&format!("{} {}", bin.display(), args.join(" ")));
    run(Command::new(bin).args(args))
}

//! `vrrp-bench`: the benchmark harness (see `vrrp_tests::bench`). Normally started by
//! `cargo xtask bench [--quick]`, which builds vrrpd and runs criterion first.
//!
//! ```text
//! vrrp-bench [--quick] [--vrrpd PATH] [--out DIR] [--criterion DIR]
//!            [--only detection,lab,scale,flood,micro,starvation] [--cases 1x10,1020x10]
//!            [--command TEXT]
//! ```

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context, Result, bail};
use vrrp_tests::bench::{self, Opts, Section};

fn parse() -> Result<Opts> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("workspace root")?
        .to_path_buf();
    let mut opts = Opts {
        quick: false,
        vrrpd: root.join("target/release/vrrpd"),
        out: root,
        criterion_dir: None,
        only: Vec::new(),
        command: String::new(),
        cases: Vec::new(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--quick" => opts.quick = true,
            "--vrrpd" => opts.vrrpd = PathBuf::from(value()?),
            "--out" => opts.out = PathBuf::from(value()?),
            "--criterion" => opts.criterion_dir = Some(PathBuf::from(value()?)),
            "--only" => {
                for s in value()?.split(',') {
                    opts.only.push(Section::parse(s.trim())?);
                }
            }
            "--command" => opts.command = value()?.clone(),
            "--cases" => {
                for c in value()?.split(',') {
                    opts.cases.push(c.trim().to_string());
                }
            }
            "-h" | "--help" => {
                println!(
                    "vrrp-bench [--quick] [--vrrpd PATH] [--out DIR] [--criterion DIR] \
                     [--only detection,lab,scale,flood,micro,starvation] [--cases NxMS,..] [--command TEXT]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    if opts.command.is_empty() {
        opts.command = std::iter::once("vrrp-bench".to_string())
            .chain(args)
            .collect::<Vec<_>>()
            .join(" ");
    }
    Ok(opts)
}

fn main() -> ExitCode {
    // The starvation section's memory hog is this binary, started again.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--hog-memory") {
        let run = args
            .get(2)
            .and_then(|m| m.parse().ok())
            .context("--hog-memory needs a size in MiB")
            .and_then(bench::starvation::memory_hog);
        if let Err(e) = run {
            eprintln!("vrrp-bench --hog-memory: {e:#}");
        }
        return ExitCode::FAILURE;
    }
    bench::install_interrupt_handler();
    match parse().and_then(|o| bench::run(&o)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vrrp-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

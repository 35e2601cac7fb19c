//! `cargo xtask chaos [ARGS]`: the seeded chaos run on the failure lab (tests/src/chaos),
//! with release builds of vrrpd and the `vrrp-chaos` driver. ARGS go to `vrrp-chaos`
//! unparsed (`--minutes N --seed S`, `--replay FILE --steps A..B`), so its
//! options are defined once, there; the JSON log defaults to target/chaos/.

use std::process::Command;

use anyhow::Result;

use crate::{run, setup, step, workspace_root};

pub fn chaos(args: &[String]) -> Result<()> {
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
    let json_dir = workspace_root().join("target/chaos");
    std::fs::create_dir_all(&json_dir)?;
    step("vrrp-chaos");
    run(Command::new(target.join("vrrp-chaos"))
        .arg("--vrrpd")
        .arg(target.join("vrrpd"))
        .arg("--json-dir")
        .arg(&json_dir)
        .args(args))
}

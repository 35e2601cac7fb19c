//! Fresh-machine set-up: apt packages, the nightly's rust-src, and bpf-linker built
//! against LLVM 22. Each step checks first and says what it installs or skips.

use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::{run, step};

/// Debian packages the build, the tests and the lab need.
const APT_PACKAGES: &[(&str, &str)] = &[
    ("iproute2", "ip netns / veth for the namespace tests"),
    (
        "llvm-22-dev",
        "LLVM 22, to build bpf-linker (must match the nightly's LLVM)",
    ),
    ("bpftool", "inspecting loaded programs and maps"),
    ("nftables", "packet loss and filtering in the failure lab"),
    ("tcpdump", "captures in tests"),
    ("tshark", "independent VRRP decoder for wire checks"),
    ("keepalived", "interop peer and golden vectors"),
    (
        "bird2",
        "routing daemon of the failure lab (OSPF, BGP with BFD)",
    ),
    (
        "frr",
        "second routing daemon of the failure lab (OSPF with millisecond SPF timers)",
    ),
];

/// The toolchain that builds the eBPF object; its LLVM major must equal bpf-linker's.
pub const NIGHTLY: &str = "nightly";
pub const BPF_LINKER_VERSION: &str = "0.13.0";
const LLVM_MAJOR: &str = "22";

pub fn setup() -> Result<()> {
    step("setup: checking what this machine needs");
    apt()?;
    rust_src()?;
    bpf_linker()?;
    println!("setup: done");
    Ok(())
}

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Status}", pkg])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn apt() -> Result<()> {
    ensure_apt(APT_PACKAGES)
}

/// Installs the Debian packages of `packages` that are missing, saying for
/// each whether it is present or will be installed (and why).
pub fn ensure_apt(packages: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .filter(|(p, _)| !installed(p))
        .map(|(p, _)| *p)
        .collect();
    for (p, why) in packages {
        if !missing.contains(p) {
            println!("  apt: {p} present");
        } else {
            println!("  apt: {p} MISSING ({why}): will install");
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    println!("  apt-get update");
    run(Command::new("apt-get").args(["update", "-q"]))?;
    println!("  apt-get install {}", missing.join(" "));
    run(Command::new("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(&missing))
    .context("installing Debian packages (needs root)")
}

fn rust_src() -> Result<()> {
    let out = Command::new("rustup")
        .args(["component", "list", "--installed", "--toolchain", NIGHTLY])
        .output()
        .context("running rustup")?;
    if !out.status.success() {
        bail!(
            "the {NIGHTLY} toolchain is not installed; it builds the eBPF object \
             (rustup toolchain install {NIGHTLY} --component rust-src)"
        );
    }
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == "rust-src")
    {
        println!("  rustup: rust-src for {NIGHTLY} present");
        return Ok(());
    }
    println!("  rustup: installing rust-src for {NIGHTLY} (build-std=core for the bpf target)");
    run(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", NIGHTLY]))
}

/// `bpf-linker --version` of the right version, or None.
fn bpf_linker_ok() -> Option<String> {
    let out = Command::new("bpf-linker")
        .arg("--version")
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    v.ends_with(BPF_LINKER_VERSION).then_some(v)
}

fn bpf_linker() -> Result<()> {
    let llvm = nightly_llvm_major()?;
    if llvm != LLVM_MAJOR {
        bail!(
            "rustc +{NIGHTLY} uses LLVM {llvm}, but bpf-linker is built against LLVM \
             {LLVM_MAJOR}; they must match or linking fails with \"Invalid record\""
        );
    }
    if let Some(v) = bpf_linker_ok() {
        println!("  cargo: {v} present (LLVM {LLVM_MAJOR})");
        return Ok(());
    }
    println!(
        "  cargo: installing bpf-linker {BPF_LINKER_VERSION} against LLVM {LLVM_MAJOR} (about a minute)"
    );
    let prefix = format!("/usr/lib/llvm-{LLVM_MAJOR}");
    let path = format!("{prefix}/bin:{}", std::env::var("PATH").unwrap_or_default());
    run(Command::new("cargo")
        .env("PATH", path)
        .env("LLVM_PREFIX", &prefix)
        .args([
            "install",
            "bpf-linker",
            "--version",
            BPF_LINKER_VERSION,
            "--locked",
            "--no-default-features",
            "--features",
            &format!("llvm-{LLVM_MAJOR}"),
        ]))
}

fn nightly_llvm_major() -> Result<String> {
    let out = Command::new("rustc")
        .args([&format!("+{NIGHTLY}"), "-vV"])
        .output()
        .context("running rustc +nightly -vV")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .and_then(|v| v.split('.').next())
        .map(str::to_string)
        .context("reading the nightly's LLVM version")
}

/// Says whether this kernel has netem. It cannot be installed from packages (it is
/// a kernel option, `CONFIG_NET_SCH_NETEM`), so the chaos run never needs it: loss
/// is nftables' `numgen`, delay the lab's own delay line (tests/src/chaos/delay.rs).
pub fn report_netem() {
    let config = Command::new("sh")
        .args([
            "-c",
            "zcat /proc/config.gz 2>/dev/null || cat /boot/config-$(uname -r) 2>/dev/null",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let state = config
        .lines()
        .find_map(|l| l.strip_prefix("CONFIG_NET_SCH_NETEM="))
        .map(str::to_string);
    match state.as_deref() {
        Some("y") | Some("m") => println!(
            "  kernel: netem available; the chaos run does not need it (nftables loss, delay line)"
        ),
        _ => println!(
            "  kernel: no netem (CONFIG_NET_SCH_NETEM not set; no package adds it): \
             the chaos run drops with nftables and delays with its own delay line"
        ),
    }
}

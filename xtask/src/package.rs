//! `cargo xtask package`: the Debian package, built with dpkg-deb.
//!
//! Contents: the release binary (/usr/sbin/vrrpd), the systemd unit, the
//! example configuration as /etc/vrrpd/vrrpd.toml (a conffile), man pages
//! generated from the CLI (clap_mangen: vrrpd(8) and one per subcommand)
//! plus vrrpd.toml(5) made from docs/configuration.md, shell completions
//! (clap_complete: bash, zsh, fish), the rt_protos entry naming route
//! protocol 252 "vrrpd", and the documentation. No maintainer scripts: the
//! unit is not enabled by installing (`systemctl enable --now vrrpd`).

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};
use clap::CommandFactory;

use crate::{cli, manpage, run, setup, step, workspace_root};

/// Where the package is written, besides its versioned name.
pub const LATEST: &str = "target/debian/vrrpd.deb";

const TOOLS: &[(&str, &str)] = &[
    ("dpkg", "dpkg-deb builds the package"),
    ("gzip", "compresses the man pages"),
    ("man-db", "`man -l` in the package test"),
];

pub fn package() -> Result<PathBuf> {
    let root = workspace_root();
    step("package: tools");
    setup::ensure_apt(TOOLS)?;
    step("package: cargo build --release -p vrrp-user --bin vrrpd");
    run(Command::new("cargo").current_dir(&root).args([
        "build",
        "--release",
        "-p",
        "vrrp-user",
        "--bin",
        "vrrpd",
    ]))?;

    let version = env!("CARGO_PKG_VERSION");
    let arch = output(Command::new("dpkg").arg("--print-architecture"))?;
    let name = format!("vrrpd_{version}_{arch}");
    let out_dir = root.join("target/debian");
    let stage = out_dir.join(&name);
    step(&format!("package: staging {}", stage.display()));
    if stage.exists() {
        fs::remove_dir_all(&stage)?;
    }
    fs::create_dir_all(&stage)?;

    install(
        &root.join("target/release/vrrpd"),
        &stage,
        "usr/sbin/vrrpd",
        0o755,
    )?;
    let unit = fs::read_to_string(root.join("packaging/vrrpd.service"))?
        .replace("/usr/local/bin/vrrpd", "/usr/sbin/vrrpd")
        .replace(
            "Documentation=file:///usr/share/doc/vrrpd/configuration.md",
            "Documentation=man:vrrpd(8) man:vrrpd.toml(5) file:///usr/share/doc/vrrpd/configuration.md",
        )
        .replace(
            "# systemd unit for vrrpd. Install the binary as /usr/local/bin/vrrpd and the\n# configuration as /etc/vrrpd/vrrpd.toml (see examples/ and docs/configuration.md).\n",
            "# systemd unit for vrrpd (Debian package). Configuration: /etc/vrrpd/vrrpd.toml.\n",
        );
    write(
        &stage,
        "usr/lib/systemd/system/vrrpd.service",
        unit.as_bytes(),
        0o644,
    )?;
    install(
        &root.join("examples/cross-subnet-node-a.toml"),
        &stage,
        "etc/vrrpd/vrrpd.toml",
        0o644,
    )?;
    write(
        &stage,
        "etc/iproute2/rt_protos.d/vrrpd.conf",
        b"# Route protocol of the routes vrrpd installs (global.route_protocol).\n252\tvrrpd\n",
        0o644,
    )?;

    // Documentation.
    let doc = "usr/share/doc/vrrpd";
    for f in [
        "README.md",
        "docs/configuration.md",
        "docs/migrating-from-keepalived.md",
        "docs/routing.md",
    ] {
        let base = Path::new(f)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        install(&root.join(f), &stage, &format!("{doc}/{base}"), 0o644)?;
    }
    for e in fs::read_dir(root.join("examples"))? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "toml") {
            let base = p.file_name().unwrap().to_string_lossy().to_string();
            install(&p, &stage, &format!("{doc}/examples/{base}"), 0o644)?;
        }
    }
    write(
        &stage,
        &format!("{doc}/copyright"),
        b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: vrrpd\n\nFiles: *\nLicense: MIT or Apache-2.0\n",
        0o644,
    )?;

    // Man pages: the CLI's, and the configuration format's.
    let mut cmd = cli::Cli::command();
    cmd.build();
    man(&stage, "vrrpd", cmd.clone())?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let page = format!("vrrpd-{}", sub.get_name());
        // clap's names are &'static str without its "string" feature; this
        // process ends right after.
        let static_name: &'static str = Box::leak(page.clone().into_boxed_str());
        man(&stage, &page, sub.clone().name(static_name))?;
    }
    let config_md = fs::read_to_string(root.join("docs/configuration.md"))?;
    let page = manpage::config_page(&config_md, version);
    write_gz(
        &stage,
        "usr/share/man/man5/vrrpd.toml.5.gz",
        page.as_bytes(),
    )?;

    // Shell completions.
    for (shell, path) in [
        (
            clap_complete::Shell::Bash,
            "usr/share/bash-completion/completions/vrrpd",
        ),
        (
            clap_complete::Shell::Zsh,
            "usr/share/zsh/vendor-completions/_vrrpd",
        ),
        (
            clap_complete::Shell::Fish,
            "usr/share/fish/vendor_completions.d/vrrpd.fish",
        ),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), "vrrpd", &mut buf);
        write(&stage, path, &buf, 0o644)?;
    }

    // Control files.
    let size_kb = du_kb(&stage)?;
    let control = format!(
        "Package: vrrpd\nVersion: {version}\nArchitecture: {arch}\nMaintainer: vrrpd developers <vrrpd@invalid>\nInstalled-Size: {size_kb}\nDepends: libc6\nRecommends: iproute2\nSuggests: bird2 | frr\nSection: net\nPriority: optional\nDescription: VRRP daemon for cross-subnet high availability\n VRRPv3 (RFC 9568) and VRRPv2 (RFC 3768) with unicast adverts across\n routers, VIPs in a virtual subnet announced by a routing daemon, and an\n XDP fast path that validates and timestamps adverts in the kernel.\n Includes `vrrpd import-keepalived` to translate keepalived.conf.\n"
    );
    write(&stage, "DEBIAN/control", control.as_bytes(), 0o644)?;
    write(
        &stage,
        "DEBIAN/conffiles",
        b"/etc/vrrpd/vrrpd.toml\n/etc/iproute2/rt_protos.d/vrrpd.conf\n",
        0o644,
    )?;

    let deb = out_dir.join(format!("{name}.deb"));
    step(&format!("package: dpkg-deb --build {}", deb.display()));
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&stage)
        .arg(&deb))?;
    fs::copy(&deb, root.join(LATEST))?;
    println!("package: {} (also {LATEST})", deb.display());
    Ok(deb)
}

fn output(cmd: &mut Command) -> Result<String> {
    let o = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !o.status.success() {
        bail!("{cmd:?} failed");
    }
    Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
}

fn write(stage: &Path, rel: &str, bytes: &[u8], mode: u32) -> Result<()> {
    let p = stage.join(rel);
    fs::create_dir_all(p.parent().unwrap())?;
    fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))?;
    fs::set_permissions(&p, fs::Permissions::from_mode(mode))?;
    Ok(())
}

fn install(src: &Path, stage: &Path, rel: &str, mode: u32) -> Result<()> {
    let bytes = fs::read(src).with_context(|| format!("reading {}", src.display()))?;
    write(stage, rel, &bytes, mode)
}

fn write_gz(stage: &Path, rel: &str, bytes: &[u8]) -> Result<()> {
    let plain = rel.trim_end_matches(".gz");
    write(stage, plain, bytes, 0o644)?;
    run(Command::new("gzip").args(["-9nf"]).arg(stage.join(plain)))
}

fn man(stage: &Path, name: &str, cmd: clap::Command) -> Result<()> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .section("8")
        .render(&mut buf)
        .context("rendering a man page")?;
    write_gz(stage, &format!("usr/share/man/man8/{name}.8.gz"), &buf)
}

fn du_kb(dir: &Path) -> Result<u64> {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d)? {
            let e = e?;
            let m = e.metadata()?;
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.len();
            }
        }
    }
    Ok(total.div_ceil(1024))
}

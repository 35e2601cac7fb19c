//! The Debian package of `cargo xtask package`: installed into a scratch
//! root (`dpkg --root`, so the host's own files are never touched), the
//! shipped configuration passes `vrrpd check`, the man pages render with
//! `man -l`, the completions and the rt_protos entry are there, and
//! `dpkg --purge` removes every file again.
//!
//! `cargo xtask test` builds the package first and passes its path in
//! `VRRPD_DEB`; run alone, the test builds it with `cargo xtask package`.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use vrrp_tests::tmp::TempDir;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn deb() -> PathBuf {
    if let Some(p) = std::env::var_os("VRRPD_DEB") {
        return PathBuf::from(p);
    }
    let root = workspace_root();
    let st = Command::new("cargo")
        .current_dir(&root)
        .args(["run", "-q", "-p", "xtask", "--", "package"])
        .status()
        .expect("running cargo xtask package");
    assert!(st.success(), "cargo xtask package failed");
    root.join("target/debian/vrrpd.deb")
}

fn ok(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// grotty's overstrike (bold `X\x08X`, underline `_\x08X`) removed, as `col -b` does.
fn plain(text: &str) -> String {
    let mut out: Vec<char> = Vec::new();
    for c in text.chars() {
        if c == '\u{8}' {
            out.pop();
        } else {
            out.push(c);
        }
    }
    out.into_iter().collect()
}

/// Regular files under `dir`, except dpkg's own database.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.starts_with(dir.join("var/lib/dpkg")) {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn deb_installs_checks_renders_and_purges() {
    assert!(
        unsafe { libc::geteuid() } == 0,
        "the package test needs root (dpkg --root)"
    );
    let deb = deb();
    let tmp = TempDir::new("deb");
    let root = tmp.path();
    for d in [
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
        "var/lib/dpkg/triggers",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    let dpkg = || {
        let mut c = Command::new("dpkg");
        c.arg(format!("--root={}", root.display()))
            .args(["--force-depends", "--force-script-chrootless"]);
        c
    };

    // What the package holds.
    let listing = ok(Command::new("dpkg-deb").arg("-c").arg(&deb));
    for path in [
        "./usr/sbin/vrrpd",
        "./usr/lib/systemd/system/vrrpd.service",
        "./etc/vrrpd/vrrpd.toml",
        "./etc/iproute2/rt_protos.d/vrrpd.conf",
        "./usr/share/man/man8/vrrpd.8.gz",
        "./usr/share/man/man8/vrrpd-import-keepalived.8.gz",
        "./usr/share/man/man5/vrrpd.toml.5.gz",
        "./usr/share/bash-completion/completions/vrrpd",
        "./usr/share/zsh/vendor-completions/_vrrpd",
        "./usr/share/fish/vendor_completions.d/vrrpd.fish",
        "./usr/share/doc/vrrpd/migrating-from-keepalived.md",
    ] {
        assert!(
            listing.contains(path),
            "{path} missing from the package:\n{listing}"
        );
    }
    let conffiles = ok(Command::new("dpkg-deb")
        .arg("-I")
        .arg(&deb)
        .arg("conffiles"));
    assert!(conffiles.contains("/etc/vrrpd/vrrpd.toml"), "{conffiles}");

    // Install.
    ok(dpkg().arg("-i").arg(&deb));
    let status = ok(dpkg().args(["-s", "vrrpd"]));
    assert!(status.contains("Status: install ok installed"), "{status}");

    // The shipped configuration passes the shipped binary's check.
    let out = ok(Command::new(root.join("usr/sbin/vrrpd"))
        .args(["check", "-c"])
        .arg(root.join("etc/vrrpd/vrrpd.toml")));
    assert!(out.contains("ok (1 instance"), "{out}");

    // The unit runs the packaged binary.
    let unit = std::fs::read_to_string(root.join("usr/lib/systemd/system/vrrpd.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/sbin/vrrpd run -c /etc/vrrpd/vrrpd.toml"),
        "{unit}"
    );

    // The man pages render.
    for (page, needle) in [
        ("usr/share/man/man8/vrrpd.8.gz", "import-keepalived"),
        (
            "usr/share/man/man8/vrrpd-import-keepalived.8.gz",
            "src-prefix-len",
        ),
        ("usr/share/man/man5/vrrpd.toml.5.gz", "unicast_src"),
    ] {
        let text = ok(Command::new("man")
            .env("MANWIDTH", "100")
            .env("MAN_KEEP_FORMATTING", "0")
            .args(["-P", "cat", "-l"])
            .arg(root.join(page)));
        let text = plain(&text);
        assert!(text.contains(needle), "{page} lacks {needle:?}:\n{text}");
    }

    // Completions parse; the route protocol has its name.
    ok(Command::new("bash")
        .arg("-n")
        .arg(root.join("usr/share/bash-completion/completions/vrrpd")));
    let protos = std::fs::read_to_string(root.join("etc/iproute2/rt_protos.d/vrrpd.conf")).unwrap();
    assert!(protos.lines().any(|l| l == "252\tvrrpd"), "{protos}");

    // Remove keeps the conffiles, purge removes everything.
    ok(dpkg().args(["-r", "vrrpd"]));
    assert!(!root.join("usr/sbin/vrrpd").exists());
    assert!(
        root.join("etc/vrrpd/vrrpd.toml").exists(),
        "remove must keep conffiles"
    );
    ok(dpkg().args(["--purge", "vrrpd"]));
    let left = files(root);
    assert!(left.is_empty(), "files left after purge: {left:?}");
}

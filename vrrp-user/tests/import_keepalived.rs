//! `vrrpd import-keepalived` on keepalived's own sample configurations
//! (Debian ships them in /usr/share/doc/keepalived/samples, some gzipped):
//! every sample with a vrrp_instance imports, each output passes
//! `vrrpd check`, and the counts of exact / approximate / failed imports
//! are as documented in docs/migrating-from-keepalived.md.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use vrrp_tests::tmp::TempDir;
use vrrp_user::import::{self, ImportOptions, Outcome};

const SAMPLES: &str = "/usr/share/doc/keepalived/samples";

/// The samples as plain files in `dir` (gzipped ones unpacked).
fn samples(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(SAMPLES)
        .unwrap_or_else(|e| panic!("{SAMPLES}: {e} (install Debian's keepalived package)"));
    for e in entries {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("keepalived.conf") {
            continue;
        }
        let plain = dir.join(name.trim_end_matches(".gz"));
        if name.ends_with(".gz") {
            let o = Command::new("gzip").arg("-dc").arg(&path).output().unwrap();
            assert!(o.status.success(), "gzip -dc {}", path.display());
            std::fs::write(&plain, o.stdout).unwrap();
        } else {
            std::fs::copy(&path, &plain).unwrap();
        }
        out.push(plain);
    }
    out.sort();
    out
}

fn has_vrrp_instance(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .any(|l| l.trim_start().starts_with("vrrp_instance"))
}

#[test]
fn keepalived_samples_import_and_pass_check() {
    let tmp = TempDir::new("import-samples");
    let files = samples(tmp.path());
    assert!(files.len() >= 20, "only {} samples found", files.len());
    let vrrpd = env!("CARGO_BIN_EXE_vrrpd");
    let (mut exact, mut approx, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let out = tmp.path().join(format!("{name}.toml"));
        let mut cmd = Command::new(vrrpd);
        cmd.arg("import-keepalived").arg(f).arg("-o").arg(&out);
        if name.ends_with("conditional_conf") {
            cmd.args(["--config-id", "high"]);
        }
        let o = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        let code = o.status.code().unwrap();
        // The library agrees with the command.
        let report = import::import_file(f, &ImportOptions::default()).unwrap();
        match code {
            0 | 1 => {
                let check = Command::new(vrrpd)
                    .arg("check")
                    .arg("-c")
                    .arg(&out)
                    .output()
                    .unwrap();
                assert!(
                    check.status.success(),
                    "{name}: the output fails vrrpd check:\n{}",
                    String::from_utf8_lossy(&check.stderr)
                );
                // Every diagnostic names file:line.
                for l in stderr.lines().filter(|l| l.contains(": approximation: ")) {
                    let loc = l.split(": ").next().unwrap();
                    assert!(
                        loc.rsplit(':').next().unwrap().parse::<usize>().is_ok(),
                        "{l}"
                    );
                }
                if code == 0 {
                    exact.push(name);
                } else {
                    approx.push(name);
                }
            }
            2 => {
                assert!(!out.exists(), "{name}: failed import wrote a file");
                assert!(
                    !has_vrrp_instance(f),
                    "{name} has a vrrp_instance but failed:\n{stderr}"
                );
                assert_eq!(report.outcome(), Outcome::Failed);
                failed.push(name);
            }
            other => panic!("{name}: exit status {other}\n{stderr}"),
        }
    }
    println!("exact ({}): {exact:?}", exact.len());
    println!("with diagnostics ({}): {approx:?}", approx.len());
    println!("not imported ({}): {failed:?}", failed.len());
    // Debian's keepalived 2.2.7 ships 25 samples: 12 with VRRP instances, all
    // of which use something vrrpd does differently (state MASTER, VRRPv2
    // authentication, LVS blocks, ...); 13 are LVS-only (nothing to import).
    assert_eq!(
        exact.len() + approx.len(),
        files.iter().filter(|f| has_vrrp_instance(f)).count()
    );
    assert!(approx.iter().any(|n| n == "keepalived.conf.vrrp"));
    assert!(failed.iter().any(|n| n == "keepalived.conf.virtualhost"));
}

#[test]
fn includes_with_globs_and_exit_statuses() {
    let tmp = TempDir::new("import-include");
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    std::fs::write(
        dir.join("keepalived.conf"),
        "global_defs {\n  vrrp_version 3 # comment\n}\ninclude conf.d/*.conf\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("conf.d/vi51.conf"),
        "vrrp_instance vi51 {\n  interface eth0\n  virtual_router_id 51\n  priority 150\n  advert_int 0.1\n  unicast_src_ip 10.1.1.10\n  unicast_peer {\n    10.1.2.10 min_ttl 250\n  }\n  virtual_ipaddress {\n    10.1.255.1/32 dev lo\n  }\n}\n",
    )
    .unwrap();
    let vrrpd = env!("CARGO_BIN_EXE_vrrpd");
    let out = dir.join("vrrpd.toml");
    let run = |extra: &[&str]| {
        Command::new(vrrpd)
            .arg("import-keepalived")
            .arg(dir.join("keepalived.conf"))
            .arg("-o")
            .arg(&out)
            .args(extra)
            .output()
            .unwrap()
    };
    // Without the prefix: valid, but approximate (exit 1), naming the line.
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("conf.d/vi51.conf:6: approximation"),
        "{stderr}"
    );
    // With it: exact (exit 0).
    let o = run(&["--src-prefix-len", "24"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("version = 3"), "{text}");
    assert!(text.contains("unicast_src = \"10.1.1.10/24\""), "{text}");
    let check = Command::new(vrrpd)
        .arg("check")
        .arg("-c")
        .arg(&out)
        .output()
        .unwrap();
    assert!(check.status.success());
    // A keepalived trap vrrpd check rejects (a link VIP with a peer in another
    // subnet): exit 2, the rejected text kept beside the output for its positions.
    std::fs::write(
        dir.join("trap.conf"),
        "vrrp_instance v {\n interface eth0\n virtual_router_id 9\n unicast_src_ip 10.0.1.10\n unicast_peer {\n  10.0.2.10\n }\n virtual_ipaddress {\n  10.0.1.100/24\n }\n}\n",
    )
    .unwrap();
    let trap_out = dir.join("trap.toml");
    let o = Command::new(vrrpd)
        .arg("import-keepalived")
        .arg(dir.join("trap.conf"))
        .arg("-o")
        .arg(&trap_out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(!trap_out.exists());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("trap.toml.rejected:"), "{stderr}");
    assert!(stderr.contains("off-link"), "{stderr}");
    // Nothing to import: exit 2.
    std::fs::write(dir.join("lvs.conf"), "virtual_server 10.0.0.1 80 {\n}\n").unwrap();
    let o = Command::new(vrrpd)
        .arg("import-keepalived")
        .arg(dir.join("lvs.conf"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

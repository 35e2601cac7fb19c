//! Builds the XDP program (crate vrrp-ebpf) for the bpf target with the nightly
//! toolchain and bpf-linker, so a plain `cargo build` embeds a fresh object.
//! `AYA_BUILD_SKIP=1` skips it (useful for quick `cargo check` without the toolchain).

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let root = manifest.join("../vrrp-ebpf");
    let root = root.to_str().expect("utf-8 path");
    let package = aya_build::Package {
        name: "vrrp-ebpf",
        root_dir: root,
        ..Default::default()
    };
    // aya-build runs `cargo build --release` for the bpf target with this workspace's
    // profile, which is tuned for a small host binary (opt-level "z", fat LTO). The
    // verifier-checked program keeps the settings it was written against: opt-level 3,
    // no LTO, the default codegen units (vrrp-ebpf itself: one, in Cargo.toml).
    // SAFETY: nothing else runs in this build script yet; the child cargo inherits it.
    unsafe {
        std::env::set_var("CARGO_PROFILE_RELEASE_OPT_LEVEL", "3");
        std::env::set_var("CARGO_PROFILE_RELEASE_LTO", "false");
        std::env::set_var("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16");
    }
    aya_build::build_ebpf([package], aya_build::Toolchain::default())
}

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
    aya_build::build_ebpf([package], aya_build::Toolchain::default())
}

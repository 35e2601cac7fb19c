//! The XDP program. Built for `bpfel-unknown-none` by aya-build (vrrp-user/build.rs);
//! on any other target this is an empty binary.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod follow;
#[cfg(target_arch = "bpf")]
mod xdp;

#[cfg(not(target_arch = "bpf"))]
fn main() {
    eprintln!("vrrp-xdp is an eBPF program: build it for the bpfel-unknown-none target");
}

//! `vrrpd`: the VRRP daemon's command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "vrrpd",
    about = "VRRP for cross-subnet high availability, with an XDP fast path"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print the version, the embedded XDP object's size and the supported protocols.
    Version,
}

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::Version => {
            println!(
                "vrrpd {} (VRRPv3 RFC 9568, VRRPv2 RFC 3768; XDP object {} bytes)",
                env!("CARGO_PKG_VERSION"),
                vrrp_user::datapath::XDP_OBJECT.len()
            );
            ExitCode::SUCCESS
        }
    }
}

//! The `vrrpd` command line, on its own so that `cargo xtask package` can
//! generate the man pages and shell completions from it (xtask includes
//! this file by path; it depends on clap and std only).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "vrrpd",
    version,
    about = "VRRP for cross-subnet high availability, with an XDP fast path"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Run the daemon in the foreground.
    Run {
        /// Configuration file (TOML).
        #[arg(short, long, default_value = "/etc/vrrpd/vrrpd.toml")]
        config: PathBuf,
        /// Log line format.
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
    },
    /// Validate configuration files; print every error with file, line and column.
    Check {
        /// Configuration file(s).
        #[arg(short, long, num_args = 1.., required = true)]
        config: Vec<PathBuf>,
    },
    /// Show the running daemon's instances and counters.
    Status {
        /// Print the raw JSON snapshot.
        #[arg(long)]
        json: bool,
        /// Status socket of the daemon.
        #[arg(short, long, default_value = "/run/vrrpd/vrrpd.sock")]
        socket: PathBuf,
    },
    /// Print the version, the embedded XDP object's size and the supported protocols.
    Version,
    /// Check this host against a configuration before it goes live.
    ///
    /// One line per check (interfaces, unicast_src, peer routes, firewall,
    /// rp_filter, the virtual subnet, the routing daemon, capabilities),
    /// OK / WARN / FAIL with what to change. Exit status: 0 all OK, 1 a
    /// warning, 2 a failure. Run it in the daemon's network namespace.
    Doctor {
        /// Configuration file (TOML).
        #[arg(short, long, default_value = "/etc/vrrpd/vrrpd.toml")]
        config: PathBuf,
    },
    /// Translate a keepalived.conf (its VRRP side) to a vrrpd configuration.
    ///
    /// Every construct whose behaviour the output cannot reproduce exactly is
    /// reported on stderr with file:line. Exit status: 0 the translation is
    /// exact, 1 it is valid but approximate where the diagnostics say, 2 no
    /// valid output (nothing is written).
    ImportKeepalived {
        /// keepalived configuration file (includes are followed).
        file: PathBuf,
        /// Write the vrrpd configuration here instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// keepalived's `-i ID`: selects the `@ID` conditional lines.
        #[arg(long)]
        config_id: Option<String>,
        /// Prefix length of unicast_src_ip's link (keepalived does not need
        /// it; without it /24, for IPv6 /64, is assumed and reported).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=128))]
        src_prefix_len: Option<u8>,
    },
}

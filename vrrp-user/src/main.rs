//! `vrrpd`: the VRRP daemon's command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, Cmd, LogFormat};

fn main() -> ExitCode {
    // Started by the daemon itself to load the XDP object: does that and exits.
    vrrp_user::datapath::loader::run_if_child();
    match Cli::parse().cmd {
        Cmd::Run { config, log_format } => {
            init_logging(log_format);
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("vrrpd: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(vrrp_user::daemon::run(vrrp_user::daemon::RunOptions {
                config_path: config,
            })) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("vrrpd: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Check { config } => {
            let mut ok = true;
            for path in &config {
                match vrrp_user::config::load(path) {
                    Ok(c) => println!(
                        "{}: ok ({} instance{}, {} sync group{})",
                        path.display(),
                        c.instances.len(),
                        if c.instances.len() == 1 { "" } else { "s" },
                        c.sync_groups.len(),
                        if c.sync_groups.len() == 1 { "" } else { "s" },
                    ),
                    Err(errors) => {
                        ok = false;
                        eprintln!("{errors}");
                    }
                }
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Cmd::Status { json, socket } => {
            use vrrp_user::status;
            let text = if json {
                status::fetch_raw(&socket).map(|mut raw| {
                    raw.push('\n');
                    raw
                })
            } else {
                status::fetch(&socket)
                    .map(|snap| status::render_table(&snap, std::time::SystemTime::now()))
            };
            match text {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("vrrpd: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Doctor { config } => {
            let report = vrrp_user::doctor::run(&config);
            for c in &report.checks {
                println!("{c}");
            }
            let worst = report.worst();
            println!(
                "doctor: {} checks, worst {}",
                report.checks.len(),
                worst.to_string().trim()
            );
            ExitCode::from(worst.exit_code())
        }
        Cmd::ImportKeepalived {
            file,
            output,
            config_id,
            src_prefix_len,
        } => import_keepalived(&file, output.as_deref(), config_id, src_prefix_len),
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

fn import_keepalived(
    file: &std::path::Path,
    output: Option<&std::path::Path>,
    config_id: Option<String>,
    src_prefix_len: Option<u8>,
) -> ExitCode {
    use vrrp_user::import::{self, ImportOptions, Outcome, ParseOptions, TranslateOptions};
    let opts = ImportOptions {
        parse: ParseOptions { config_id },
        translate: TranslateOptions { src_prefix_len },
    };
    let report = match import::import_file(file, &opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vrrpd: {e}");
            return ExitCode::from(Outcome::Failed.exit_code());
        }
    };
    for d in &report.diagnostics {
        eprintln!("{d}");
    }
    let outcome = report.outcome();
    if let Some(errors) = &report.invalid {
        // Keep the rejected text where the user can read the positions.
        match output {
            Some(path) => {
                let rejected = path.with_extension("toml.rejected");
                let name = rejected.display().to_string();
                let _ = std::fs::write(&rejected, &report.toml);
                let errors = vrrp_user::config::parse(&report.toml, &name)
                    .err()
                    .unwrap_or_else(|| errors.clone());
                eprintln!(
                    "vrrpd: the translated configuration does not pass `vrrpd check` (kept as {name}):\n{errors}"
                );
            }
            None => eprintln!(
                "vrrpd: the translated configuration does not pass `vrrpd check` (positions in the text below):\n{errors}\n{}",
                report.toml
            ),
        }
    }
    if outcome == Outcome::Failed {
        eprintln!("vrrpd: {}: not imported", file.display());
        return ExitCode::from(outcome.exit_code());
    }
    match output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &report.toml) {
                eprintln!("vrrpd: cannot write {}: {e}", path.display());
                return ExitCode::from(Outcome::Failed.exit_code());
            }
        }
        None => print!("{}", report.toml),
    }
    eprintln!(
        "vrrpd: {}: {}",
        file.display(),
        match outcome {
            Outcome::Exact => "imported exactly",
            _ => "imported with the differences listed above",
        }
    );
    ExitCode::from(outcome.exit_code())
}

/// `VRRPD_LOG` takes `level` or `target=level` directives, comma-separated
/// (`info,vrrp_user::datapath=debug`). A `Targets` filter, not an `EnvFilter`: the
/// latter brings a regex engine, 0.3 MiB of code that is resident for nothing.
fn init_logging(format: LogFormat) {
    use tracing_subscriber::{filter::Targets, prelude::*};
    let filter = std::env::var("VRRPD_LOG")
        .ok()
        .and_then(|s| s.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    // Colours only on a terminal: logs in files and journals stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = tracing_subscriber::fmt::layer().with_ansi(ansi);
    match format {
        LogFormat::Text => tracing_subscriber::registry()
            .with(layer.with_filter(filter))
            .init(),
        LogFormat::Json => tracing_subscriber::registry()
            .with(layer.json().with_filter(filter))
            .init(),
    }
}

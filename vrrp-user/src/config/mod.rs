//! Configuration: TOML file → validated [`Config`], or every error at once.
//!
//! Loading runs in two steps. serde reads the file into span-carrying
//! structs (`schema`); a syntax error, a wrong type or an unknown key stops
//! there, since the rest of the file cannot be trusted to mean what it
//! says. Then the validation (`validate`, `instance`) checks every value
//! and every rule and reports all problems together, each as
//! `file:line:column: message`. The rules turn keepalived's silent traps
//! (unicast without peers, sub-second VRRPv2, a VIP in a peer's subnet,
//! ...) into errors; docs/configuration.md lists them.

mod defaults;
mod error;
mod fields;
mod hints;
mod hooks;
mod instance;
mod reload;
mod routes;
mod schema;
mod track;
mod transport;
mod types;
mod validate;
mod vips;

use std::path::Path;

pub use error::{ConfigError, ConfigErrors};
pub use reload::{
    ConfigDiff, InstanceChange, ReloadClass, TRACKED_PEERS, classify, diff, tracked_file,
    tracked_interface, tracked_route, tracked_script, tracked_weights, tracker_runs,
};
pub use types::{
    Config, Datapath, Family, Garp, Global, Hooks, Instance, Links, Peer, Realtime, Route,
    RouteProtocol, SchedPolicy, Scope, SyncGroup, Track, TrackFile, TrackInterface, TrackPeers,
    TrackRoute, TrackScript, Transport, Version, Vip,
};

/// Reads and validates the file at `path`. Errors name the file as given.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let file_name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, &file_name),
        Err(e) => Err(ConfigErrors::single(ConfigError {
            file: file_name,
            line: 0,
            column: 0,
            message: format!("cannot read the configuration: {e}"),
        })),
    }
}

/// Validates configuration text; `file_name` is used in error positions.
pub fn parse(text: &str, file_name: &str) -> Result<Config, ConfigErrors> {
    let mut d = error::Diagnostics::new(file_name, text);
    let raw: schema::RawFile = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let mut message = hints::in_toml_terms(e.message().trim_end());
            if let Some(hint) = hints::unknown_key(&message).and_then(hints::for_unknown_key) {
                message = format!("{message} ({hint})");
            }
            d.error(&span, message);
            return Err(d.finish());
        }
    };
    match validate::check(&mut d, &raw) {
        Some(config) if d.is_empty() => Ok(config),
        _ => Err(d.finish()),
    }
}

//! Chaos on the failure lab: a seeded random schedule of faults (kill -9, SIGTERM,
//! restart, SIGHUP with a valid edit, link down/up, silent partitions, loss, delay,
//! CPU and memory hogs, junk adverts), one at a time, each undone and then judged
//! against the invariants: within a bound derived from the advert interval and the
//! routing recipe, exactly one node holds the VIP and the router routes to it; how
//! long two nodes held it; what the client lost; no daemon exits on its own; nothing
//! is left behind after the last stop; no daemon grows.
//!
//! Pure parts (schedule, settle bounds, timeline analysis, configs) are unit-tested
//! without root; `runner` drives the lab. `cargo xtask chaos` and the CI test
//! (`vrrp-user/tests/chaos_lab.rs`) run it; the JSON log replays with `--replay`.

pub mod client;
pub mod config;
pub mod delay;
pub mod fault;
pub mod hog;
pub mod inject;
pub mod junk;
pub mod prng;
pub mod record;
pub mod report;
pub mod runner;
pub mod schedule;
pub mod settle;
pub mod timeline;
pub mod usage;
pub mod watch;

pub use record::RunLog;
pub use runner::{Options, check, run};

use crate::lab::Recipe;

/// The recipe with the fastest convergence (docs/routing.md: a few ms): the chaos
/// run's default, so routing adds least to every settle bound.
pub const DEFAULT_RECIPE: Recipe = Recipe::BirdBgpBfd;

/// A recipe's name on the command line and in the log.
pub fn recipe_name(r: Recipe) -> &'static str {
    match r {
        Recipe::BirdOspf => "bird-ospf",
        Recipe::BirdBgpBfd => "bird-bgp-bfd",
        Recipe::FrrOspf => "frr-ospf",
    }
}

pub fn recipe_from_name(name: &str) -> Option<Recipe> {
    Recipe::ALL.into_iter().find(|r| recipe_name(*r) == name)
}

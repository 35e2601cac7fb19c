//! Three minutes of seeded chaos on the failure lab (tests/src/chaos): every kind of
//! fault, each judged against the invariants. It never skips: a
//! missing tool or capability fails with what to install. On failure the JSON log
//! (path in the message) replays with `cargo xtask chaos --replay FILE`.

use std::{path::PathBuf, time::Duration};

use vrrp_tests::chaos::{self, DEFAULT_RECIPE, Options};

/// The CI run's seed: fixed, so a failure in CI replays exactly.
const SEED: u64 = 14;

#[test]
fn chaos_three_minutes() {
    vrrp_tests::netns::require_root_and_netns().expect("the chaos run needs root");
    vrrp_tests::lab::require_tools(DEFAULT_RECIPE)
        .expect("the chaos run needs BIRD and nftables: run cargo xtask setup");
    let json = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("chaos-seed-{SEED}.json"));
    let opts = Options {
        vrrpd: env!("CARGO_BIN_EXE_vrrpd").into(),
        recipe: DEFAULT_RECIPE,
        interval: Duration::from_millis(50),
        duration: Duration::from_secs(180),
        seed: SEED,
        replay: None,
        json: Some(json.clone()),
        live: true,
    };
    let log = chaos::run(&opts).expect("chaos run");
    println!("{}", chaos::report::summary(&log));
    let counts = log.counts();
    assert!(
        counts.len() == chaos::fault::Kind::ALL.len(),
        "three minutes met only {} of {} fault kinds: {counts:?}",
        counts.len(),
        chaos::fault::Kind::ALL.len()
    );
    if let Err(e) = chaos::check(&log) {
        panic!(
            "{e:#}\nJSON log: {} (cargo xtask chaos --replay FILE)",
            json.display()
        );
    }
}

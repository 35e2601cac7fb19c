//! Section 2: client-visible outage in the failure lab (cross-subnet topology with a
//! router namespace, BIRD carrying the VIP's /32, a client probing the VIP).
//!
//! Runs the lab's own scenario runner (`crate::scenario::run`), which measures from
//! the fault: vrrpd's detection, the VIP on the new master, the router's route, and
//! the outage the client saw. That runner drives vrrpd only.
//!
//! HOOK (keepalived): the lab's `Rig` starts `vrrpd` on nodes A and B. To compare,
//! give it a keepalived variant (config as in `super::daemon::keepalived_config`,
//! with `unicast_src_ip`/`unicast_peer` across the router) and run it here,
//! alternating with vrrpd run by run as the other sections do. Until then the report
//! says keepalived was not measured here.

use std::time::Duration;

use anyhow::Result;

use crate::{
    lab::Recipe,
    scenario::{self, Scenario, Settings},
};

/// The routing recipe: BIRD eBGP with BFD, the lab's fastest BIRD recipe.
pub const RECIPE: Recipe = Recipe::BirdBgpBfd;
/// Advert interval in the lab runs.
pub const INTERVAL_MS: u64 = 100;
/// Scenarios where the VIP moves from A to B at the fault.
pub const SCENARIOS: [Scenario; 4] = [
    Scenario::Kill9,
    Scenario::GracefulStop,
    Scenario::NodeLoss,
    Scenario::UplinkCut,
];

/// One scenario's runs.
#[derive(Clone, Debug)]
pub struct Row {
    pub scenario: String,
    pub system: String,
    /// Client-visible outage per run where the probe saw the switch, ms (zero when
    /// no probe was lost).
    pub outage_ms: Vec<f64>,
    /// Runs whose probe did not show a clean switch (no outage figure).
    pub no_outage: usize,
    /// The lab's notes on the runs.
    pub notes: Vec<String>,
    /// Detection (vrrpd's own figure) per run, ms.
    pub detection_ms: Vec<f64>,
    /// RFC floor of the detection, ms.
    pub floor_ms: Option<f64>,
    /// Fault to the router routing the VIP to the new master, per run, ms.
    pub route_ms: Vec<f64>,
    /// Probes lost, all runs.
    pub lost: usize,
    pub failures: Vec<String>,
}

/// Outage per scenario and system.
#[derive(Clone, Debug, Default)]
pub struct LabResults {
    pub recipe: String,
    pub interval_ms: u64,
    pub rows: Vec<Row>,
    /// What was not measured, and why.
    pub not_run: Option<String>,
}

pub fn run(opts: &super::Opts) -> Result<LabResults> {
    crate::lab::require_tools(RECIPE)?;
    let trials = if opts.quick { 1 } else { 2 };
    let settings = Settings {
        vrrpd: opts.vrrpd.clone(),
        recipe: RECIPE,
        interval: Duration::from_millis(INTERVAL_MS),
        verbose: false,
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut rows = Vec::new();
    for sc in SCENARIOS {
        let mut row = Row {
            scenario: sc.name().to_string(),
            system: super::daemon::System::VrrpdXdp
                .label()
                .replace("XDP", "auto"),
            outage_ms: Vec::new(),
            no_outage: 0,
            notes: Vec::new(),
            detection_ms: Vec::new(),
            floor_ms: None,
            route_ms: Vec::new(),
            lost: 0,
            failures: Vec::new(),
        };
        for _ in 0..trials {
            super::check_interrupt()?;
            match scenario::run(&settings, sc) {
                Ok(o) => {
                    println!("   {o}");
                    match o.outage {
                        Some(d) => row.outage_ms.push(ms(d)),
                        None => row.no_outage += 1,
                    }
                    if !o.note.is_empty() && !row.notes.contains(&o.note) {
                        row.notes.push(o.note.clone());
                    }
                    row.detection_ms.extend(o.detection.map(ms));
                    row.route_ms.extend(o.route_moved.map(ms));
                    row.floor_ms = o.floor.map(ms);
                    row.lost += o.lost;
                }
                Err(e) => {
                    println!("   {}: failed: {e:#}", sc.name());
                    row.failures.push(format!("{e:#}"));
                }
            }
        }
        rows.push(row);
    }
    Ok(LabResults {
        recipe: format!("{RECIPE:?}"),
        interval_ms: INTERVAL_MS,
        rows,
        not_run: Some(
            "keepalived was not measured in the lab: the lab's scenario rig (tests/src/scenario.rs) \
             starts vrrpd only; the hook for a keepalived rig is in tests/src/bench/lab_outage.rs"
                .into(),
        ),
    })
}

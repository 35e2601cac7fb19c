//! Section 2: client-visible outage in the failure lab (cross-subnet topology with a
//! router namespace, BIRD carrying the VIP's /32, a client probing the VIP), vrrpd
//! and keepalived on the same recipe.
//!
//! Runs the lab's own scenario runner (`crate::scenario::run_with`), which measures
//! from the fault: the VIP on the new master, the router's route, the outage the
//! client saw, and (vrrpd only) vrrpd's own detection figure. keepalived runs in the
//! same rig from an equivalent keepalived.conf (VRRPv3, unicast peer across the
//! router, the VIP on `lo`, no hooks; see `Rig::keepalived_config`). The systems
//! alternate run by run, as in the other sections.

use std::time::Duration;

use anyhow::Result;

use crate::{
    lab::Recipe,
    scenario::{self, Daemon, Scenario, Settings},
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
/// The systems compared, in their first-round order.
pub const DAEMONS: [Daemon; 2] = [Daemon::Vrrpd, Daemon::Keepalived];

/// Label of a lab system in the report.
pub fn label(d: Daemon) -> &'static str {
    match d {
        // The lab's vrrpd config leaves `datapath` at its default.
        Daemon::Vrrpd => "vrrpd (auto)",
        Daemon::Keepalived => "keepalived",
    }
}

/// One scenario's runs for one system.
#[derive(Clone, Debug)]
pub struct Row {
    pub scenario: String,
    pub daemon: Daemon,
    pub system: String,
    /// Client-visible outage per run where the probe saw the switch, ms (zero when
    /// no probe was lost).
    pub outage_ms: Vec<f64>,
    /// Runs whose probe did not show a clean switch (no outage figure).
    pub no_outage: usize,
    /// The lab's notes on the runs.
    pub notes: Vec<String>,
    /// Detection (vrrpd's own figure) per run, ms; empty for keepalived.
    pub detection_ms: Vec<f64>,
    /// RFC floor of the detection, ms.
    pub floor_ms: Option<f64>,
    /// Fault to the VIP on the new master's `lo`, per run, ms (polled the same way
    /// for both systems).
    pub vip_ms: Vec<f64>,
    /// Fault to the router routing the VIP to the new master, per run, ms.
    pub route_ms: Vec<f64>,
    /// Probes lost, all runs.
    pub lost: usize,
    /// Of those, lost after the route had moved (routing flaps, not the failover).
    pub lost_after: usize,
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

impl LabResults {
    pub fn row(&self, scenario: &str, daemon: Daemon) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.scenario == scenario && r.daemon == daemon)
    }
}

pub fn run(opts: &super::Opts) -> Result<LabResults> {
    crate::lab::require_tools(RECIPE)?;
    let trials = if opts.quick { 1 } else { 2 };
    let settings = Settings {
        vrrpd: opts.vrrpd.clone(),
        recipe: RECIPE,
        family: crate::lab::Family::V4,
        interval: Duration::from_millis(INTERVAL_MS),
        verbose: false,
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut rows = Vec::new();
    let mut round = 0usize;
    for sc in SCENARIOS {
        let mut by: Vec<Row> = DAEMONS
            .iter()
            .map(|d| Row {
                scenario: sc.name().to_string(),
                daemon: *d,
                system: label(*d).to_string(),
                outage_ms: Vec::new(),
                no_outage: 0,
                notes: Vec::new(),
                detection_ms: Vec::new(),
                floor_ms: None,
                vip_ms: Vec::new(),
                route_ms: Vec::new(),
                lost: 0,
                lost_after: 0,
                failures: Vec::new(),
            })
            .collect();
        for _ in 0..trials {
            let mut order: Vec<usize> = (0..DAEMONS.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            round += 1;
            for i in order {
                super::check_interrupt()?;
                let row = &mut by[i];
                match scenario::run_with(&settings, sc, row.daemon) {
                    Ok(o) => {
                        println!("   {}: {o}", row.system);
                        match o.outage {
                            Some(d) => row.outage_ms.push(ms(d)),
                            None => row.no_outage += 1,
                        }
                        if !o.note.is_empty() && !row.notes.contains(&o.note) {
                            row.notes.push(o.note.clone());
                        }
                        row.detection_ms.extend(o.detection.map(ms));
                        row.vip_ms.extend(o.vip_moved.map(ms));
                        row.route_ms.extend(o.route_moved.map(ms));
                        row.floor_ms = o.floor.map(ms);
                        row.lost += o.lost;
                        row.lost_after += o.lost_after;
                    }
                    Err(e) => {
                        super::check_interrupt()?;
                        println!("   {} {}: failed: {e:#}", row.system, sc.name());
                        row.failures.push(format!("{e:#}"));
                    }
                }
            }
        }
        rows.extend(by);
    }
    Ok(LabResults {
        recipe: format!("{RECIPE:?}"),
        interval_ms: INTERVAL_MS,
        rows,
        not_run: None,
    })
}

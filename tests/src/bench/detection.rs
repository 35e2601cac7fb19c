//! Section 1: failover detection.
//!
//! Two nodes with equal priority (100) on one switched link, unicast, VIP on `lo`.
//! Whichever is master is stopped (kill -9 or SIGTERM); the other takes over; the
//! stopped node is started again and rejoins as backup (equal priority: no
//! preemption), so the next trial needs no re-election.
//!
//! Detection is measured from outside, identically for both systems: a packet socket
//! in the switch namespace timestamps every advert, and detection = (first advert of
//! the new master) - (last advert of the old master). The RFC floor for a backup of
//! priority 100 is Master_Down_Interval (3 x interval + skew) after kill -9, and
//! Skew_Time after a priority-0 advert, both computed by vrrp-core (keepalived v3
//! uses the same formula). vrrpd's own figure (kernel receive time of the last
//! advert to its state change, `last_transition.detection_s` in the status JSON) is
//! reported beside it.
//!
//! vrrpd and keepalived each have their own pair, both running throughout; trials
//! alternate between them (ours, keepalived, keepalived, ours, ...).

use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::timing::{self, Version};

use super::{
    Opts, Rng,
    capture::{Capture, Frame},
    daemon::{Inst, Stop, System, alternate},
    realtime_ns, sleep,
    topo::{NODE_ADDRS, NODE_PORTS, Pair},
    wait_until,
};

/// Priority of both nodes; the backup's priority sets the skew.
pub const PRIORITY: u8 = 100;
/// The systems compared.
pub const SYSTEMS: [System; 2] = [System::VrrpdXdp, System::Keepalived];

/// Skew_Time for the benchmark's backup (VRRPv3, both systems), ms; vrrp-core's
/// formula.
pub fn skew_ms(interval_ms: u32) -> f64 {
    let d = timing::skew_time(Version::V3, PRIORITY, interval_of(interval_ms));
    d.as_secs_f64() * 1e3
}

/// The fastest detection the RFC allows, ms: Master_Down_Interval after kill -9,
/// Skew_Time after a priority-0 advert (vrrp-core's formulas).
pub fn floor_ms(interval_ms: u32, stop: Stop) -> f64 {
    match stop {
        Stop::Kill => {
            let d = timing::master_down_interval(Version::V3, PRIORITY, interval_of(interval_ms));
            d.as_secs_f64() * 1e3
        }
        Stop::Graceful => skew_ms(interval_ms),
    }
}

fn interval_of(interval_ms: u32) -> Duration {
    Duration::from_millis(u64::from(interval_ms))
}

/// All trials of one (interval, stop, system).
#[derive(Clone, Debug)]
pub struct Series {
    pub interval_ms: u32,
    pub stop: Stop,
    pub system: System,
    /// Wire-to-wire detection, ms.
    pub external_ms: Vec<f64>,
    /// vrrpd's own figure, ms (empty for keepalived).
    pub internal_ms: Vec<f64>,
    /// Trials that produced no measurement, and why.
    pub failures: Vec<String>,
}

impl Series {
    pub fn floor_ms(&self) -> f64 {
        floor_ms(self.interval_ms, self.stop)
    }
}

/// Interval (ms) and trials per (stop, system) for each run length.
fn plan(quick: bool) -> Vec<(u32, usize)> {
    if quick {
        vec![(1000, 2), (100, 4), (10, 6)]
    } else {
        vec![(1000, 20), (100, 20), (10, 50)]
    }
}

pub fn run(opts: &Opts) -> Result<Vec<Series>> {
    let mut all = Vec::new();
    let mut rng = Rng::seeded();
    for (interval_ms, trials) in plan(opts.quick) {
        println!("-- detection at {interval_ms} ms adverts, {trials} trials per system and stop");
        let t = std::time::Instant::now();
        let mut setups = Vec::new();
        for (i, system) in SYSTEMS.into_iter().enumerate() {
            setups.push(Setup::new(opts, system, interval_ms, i)?);
        }
        let mut series: Vec<Series> = Vec::new();
        for stop in [Stop::Kill, Stop::Graceful] {
            for system in SYSTEMS {
                series.push(Series {
                    interval_ms,
                    stop,
                    system,
                    external_ms: Vec::new(),
                    internal_ms: Vec::new(),
                    failures: Vec::new(),
                });
            }
        }
        for round in 0..trials {
            for stop in [Stop::Kill, Stop::Graceful] {
                for system in alternate(&SYSTEMS, round) {
                    let setup = setups
                        .iter_mut()
                        .find(|s| s.system == system)
                        .expect("a setup per system");
                    let s = series
                        .iter_mut()
                        .find(|s| s.system == system && s.stop == stop)
                        .expect("a series per system and stop");
                    match setup.trial(stop, &mut rng) {
                        Ok(m) => {
                            println!(
                                "   {:<12} {:<22} {:>9.3} ms{}",
                                system.label(),
                                stop.label(),
                                m.external_ms,
                                m.internal_ms
                                    .map(|x| format!(" (own figure {x:.3} ms)"))
                                    .unwrap_or_default()
                            );
                            s.external_ms.push(m.external_ms);
                            s.internal_ms.extend(m.internal_ms);
                        }
                        Err(e) => {
                            super::check_interrupt()?;
                            println!(
                                "   {} {}: trial failed: {e:#}",
                                system.label(),
                                stop.label()
                            );
                            s.failures.push(format!("{e:#}"));
                            setup.reset()?;
                        }
                    }
                }
            }
        }
        all.extend(series);
        println!(
            "-- {interval_ms} ms done in {:.0} s",
            t.elapsed().as_secs_f64()
        );
    }
    Ok(all)
}

/// One measured trial.
struct Measurement {
    external_ms: f64,
    internal_ms: Option<f64>,
}

/// One system's pair with its capture.
struct Setup {
    system: System,
    interval_ms: u32,
    vrrpd: std::path::PathBuf,
    /// When each node was first seen ready as backup since its last start
    /// (CLOCK_REALTIME ns): adverts after this count as heard.
    ready_at: [Option<i64>; 2],
    // The capture must stop before the namespaces go.
    capture: Capture,
    pair: Pair,
}

impl Setup {
    fn new(opts: &Opts, system: System, interval_ms: u32, i: usize) -> Result<Setup> {
        let pair = Pair::new(&format!("d{i}"), false)?;
        let capture = Capture::start(&pair.sw.name, &NODE_PORTS)?;
        let mut s = Setup {
            system,
            interval_ms,
            vrrpd: opts.vrrpd.clone(),
            ready_at: [None, None],
            capture,
            pair,
        };
        s.start_both()?;
        Ok(s)
    }

    fn insts(&self) -> [Inst; 1] {
        [Inst {
            vrid: 51,
            priority: PRIORITY,
            interval_ms: self.interval_ms,
            vip: std::net::Ipv4Addr::new(10, 1, 255, 1),
            link: 0,
        }]
    }

    fn interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.interval_ms))
    }

    fn start_node(&mut self, i: usize) -> Result<()> {
        let insts = self.insts();
        self.ready_at[i] = None;
        self.pair.nodes[i].start(self.system, &self.vrrpd, &insts, NODE_ADDRS[1 - i])
    }

    /// Waits until node `i` is a backup and notes since when.
    fn wait_ready(&mut self, i: usize) -> Result<i64> {
        if let Some(t) = self.ready_at[i] {
            return Ok(t);
        }
        let node = &self.pair.nodes[i];
        wait_until(
            "the backup to be ready",
            Duration::from_secs(10),
            Duration::from_millis(1),
            || Ok(node.is_backup()?.then_some(())),
        )?;
        let t = realtime_ns();
        self.ready_at[i] = Some(t);
        Ok(t)
    }

    /// Starts both nodes and waits for one master and one ready backup.
    fn start_both(&mut self) -> Result<()> {
        self.start_node(0)?;
        self.start_node(1)?;
        let limit = self.interval() * 8 + Duration::from_secs(10);
        let r = wait_until("a stable master", limit, Duration::from_millis(5), || {
            let f = self.capture.frames();
            let n = f.len();
            if n < 3 || !f[n - 3..].iter().all(|x| x.src == f[n - 1].src) {
                return Ok(None);
            }
            let m = self
                .pair
                .index_of(f[n - 1].src)
                .context("advert from a stranger")?;
            Ok(self.pair.nodes[1 - m].is_backup()?.then_some(()))
        });
        r.with_context(|| {
            let f = self.capture.frames();
            format!(
                "{}: {} adverts seen, last {:?}; node logs:\n{}\n--\n{}",
                self.system.label(),
                f.len(),
                f.last(),
                self.pair.nodes[0].log_tail(),
                self.pair.nodes[1].log_tail()
            )
        })
    }

    /// Stops whatever runs and starts afresh (after a failed trial).
    fn reset(&mut self) -> Result<()> {
        for n in &mut self.pair.nodes {
            let _ = n.stop(Stop::Kill);
        }
        self.ready_at = [None, None];
        self.capture.clear();
        self.start_both()
    }

    fn trial(&mut self, stop: Stop, rng: &mut Rng) -> Result<Measurement> {
        let interval = self.interval();
        let master_addr = wait_until(
            "an advert",
            interval * 3 + Duration::from_secs(2),
            Duration::from_millis(1),
            || Ok(self.capture.last().map(|f| f.src)),
        )?;
        let m = self
            .pair
            .index_of(master_addr)
            .context("advert from a stranger")?;
        let b = 1 - m;
        let (ma, ba) = (NODE_ADDRS[m], NODE_ADDRS[b]);
        // The backup must have heard the master since it got ready (usually long
        // ago: the other system's trial ran meanwhile); then stop the master at a
        // random point of its advert cycle.
        let ready = self.wait_ready(b)?;
        wait_until(
            "an advert after the backup is ready",
            interval * 3 + Duration::from_secs(2),
            Duration::from_millis(1),
            || {
                Ok(self
                    .capture
                    .frames()
                    .iter()
                    .any(|f| f.src == ma && f.ts_ns > ready)
                    .then_some(()))
            },
        )?;
        sleep(interval.mul_f64(rng.unit()))?;
        if self
            .capture
            .frames()
            .iter()
            .any(|f| f.src == ba && f.ts_ns > ready)
        {
            bail!("the backup advertised before the stop");
        }
        let t_stop = realtime_ns();
        self.pair.nodes[m].signal_stop(stop)?;
        let limit = Duration::from_secs_f64(floor_ms(self.interval_ms, stop) / 1e3)
            + interval * 2
            + Duration::from_secs(3);
        let first_b: Frame = wait_until(
            "the new master's first advert",
            limit,
            Duration::from_micros(500),
            || Ok(self.capture.frames().into_iter().find(|f| f.src == ba)),
        )?;
        let frames = self.capture.frames();
        let last_m = frames
            .iter()
            .rfind(|f| f.src == ma && f.ts_ns < first_b.ts_ns)
            .context("no advert from the old master before the takeover")?;
        if stop == Stop::Graceful && last_m.priority != 0 {
            bail!(
                "graceful stop: the old master's last advert had priority {}, not 0",
                last_m.priority
            );
        }
        if last_m.ts_ns > t_stop + 5_000_000 && stop == Stop::Kill {
            bail!(
                "the old master advertised {:.1} ms after kill -9",
                (last_m.ts_ns - t_stop) as f64 / 1e6
            );
        }
        let external_ms = (first_b.ts_ns - last_m.ts_ns) as f64 / 1e6;
        let internal_ms = if self.system.is_vrrpd() {
            Some(self.own_figure(b, t_stop)?)
        } else {
            None
        };
        // The stopped node comes back as a backup for the next trial; the capture
        // keeps only what that trial needs.
        self.pair.nodes[m].wait_stopped(Duration::from_secs(15))?;
        self.capture.clear();
        self.start_node(m)?;
        self.wait_ready(m)?;
        Ok(Measurement {
            external_ms,
            internal_ms,
        })
    }

    /// vrrpd's detection for its latest takeover (after `t_stop`), ms.
    fn own_figure(&self, b: usize, t_stop: i64) -> Result<f64> {
        let node = &self.pair.nodes[b];
        wait_until(
            "vrrpd's status to show the takeover",
            Duration::from_secs(3),
            Duration::from_millis(2),
            || {
                let s = node.status()?;
                let t = &s["instances"][0]["last_transition"];
                let fresh = t["at_unix_ms"].as_i64().unwrap_or(0) >= t_stop / 1_000_000 - 1;
                if t["to"] != "master" || !fresh {
                    return Ok(None);
                }
                let d = t["detection_s"]
                    .as_f64()
                    .context("no detection_s in the takeover")?;
                Ok(Some(d * 1e3))
            },
        )
    }
}

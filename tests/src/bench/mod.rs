//! The benchmark harness behind `cargo xtask bench` (binary `vrrp-bench`); not part of
//! the test suite.
//!
//! Sections, each comparing vrrpd with keepalived 2.2.7 in network namespaces:
//!
//! 1. [`detection`]: failover detection after kill -9 and graceful stop, measured from
//!    outside on the wire (the same way for both systems) against the RFC floor.
//! 2. [`lab_outage`]: client-visible outage in the failure lab, vrrpd and keepalived
//!    on the same recipe.
//! 3. [`scale`]: CPU (process, XDP program, softirq) and peak RSS for 1, 16, 255 and
//!    1,020 instances at 10 ms and one instance at 100 ms and 1 s, with `perf`
//!    profiles ([`profile`]) of vrrpd where the cost matters.
//! 4. [`flood`]: junk VRRP at a backup while the real master advertises.
//! 5. [`micro`]: criterion micro-benchmarks of the core, read from criterion's output.
//! 6. [`starvation`]: false transitions and advert gaps under CPU and memory load on
//!    the backup's or the master's cores, timing protection off and on.
//!
//! Systems alternate run by run in every comparison, so drift in machine load hits
//! both. Everything runs inside namespaces this process creates; Drop guards (and the
//! Ctrl-C handler, which turns the signal into an error) tear them down.

pub mod bpf;
pub mod capture;
pub mod daemon;
pub mod detection;
pub mod flood;
pub mod lab_outage;
pub mod micro;
pub mod proc;
pub mod profile;
pub mod report;
pub mod scale;
pub mod starvation;
pub mod stats;
pub mod svg;
pub mod topo;

use std::{
    path::PathBuf,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use anyhow::{Result, bail};

/// Command-line options of `vrrp-bench`.
#[derive(Clone, Debug)]
pub struct Opts {
    /// Few trials and short windows, for development.
    pub quick: bool,
    /// The `vrrpd` binary under test.
    pub vrrpd: PathBuf,
    /// Repository root: BENCHMARKS.md and docs/bench/ are written here.
    pub out: PathBuf,
    /// criterion's output directory (`target/criterion`), if micro-benchmarks ran.
    pub criterion_dir: Option<PathBuf>,
    /// Sections to run; all when empty.
    pub only: Vec<Section>,
    /// The command line to print in BENCHMARKS.md.
    pub command: String,
    /// Scale cases to run (`NxMS` keys, e.g. `1020x10`); all when empty. For
    /// development: a report from a subset is partial.
    pub cases: Vec<String>,
}

/// The sections of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Detection,
    Lab,
    Scale,
    Flood,
    Micro,
    Starvation,
}

impl Section {
    pub const ALL: [Section; 6] = [
        Section::Detection,
        Section::Lab,
        Section::Scale,
        Section::Flood,
        Section::Micro,
        Section::Starvation,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Section::Detection => "detection",
            Section::Lab => "lab",
            Section::Scale => "scale",
            Section::Flood => "flood",
            Section::Micro => "micro",
            Section::Starvation => "starvation",
        }
    }

    pub fn parse(s: &str) -> Result<Section> {
        Section::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "unknown section {s:?} (detection, lab, scale, flood, micro, starvation)"
                )
            })
    }
}

impl Opts {
    pub fn wants(&self, s: Section) -> bool {
        self.only.is_empty() || self.only.contains(&s)
    }
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Turns SIGINT and SIGTERM into a flag that [`sleep`] and [`check_interrupt`] report
/// as an error, so the run unwinds through the Drop guards instead of dying with its
/// namespaces and daemons left behind.
pub fn install_interrupt_handler() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}

/// Fails once Ctrl-C (or SIGTERM) was received.
pub fn check_interrupt() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

/// Sleeps `d` in small steps, failing early on Ctrl-C.
pub fn sleep(d: Duration) -> Result<()> {
    let end = Instant::now() + d;
    loop {
        check_interrupt()?;
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(Duration::from_millis(20)));
    }
}

/// Polls `cond` every `step` until it returns `Some`, failing after `limit`.
pub fn wait_until<T>(
    what: &str,
    limit: Duration,
    step: Duration,
    mut cond: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let end = Instant::now() + limit;
    loop {
        check_interrupt()?;
        if let Some(v) = cond()? {
            return Ok(v);
        }
        if Instant::now() >= end {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(step);
    }
}

/// CLOCK_REALTIME in nanoseconds: the clock of packet-socket timestamps.
pub fn realtime_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// A small xorshift generator: random phases for kills, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn seeded() -> Rng {
        Rng(realtime_ns() as u64 | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Everything measured in one run, handed to [`report`].
#[derive(Default)]
pub struct Results {
    pub detection: Option<Result<Vec<detection::Series>>>,
    pub lab: Option<Result<lab_outage::LabResults>>,
    pub scale: Option<Result<scale::ScaleResults>>,
    pub flood: Option<Result<Vec<flood::Run>>>,
    pub micro: Option<Result<Vec<micro::Bench>>>,
    pub starvation: Option<Result<starvation::StarvationResults>>,
    /// Wall time of each section that ran.
    pub durations: Vec<(Section, Duration)>,
}

/// Runs the selected sections, then writes BENCHMARKS.md and docs/bench/.
pub fn run(opts: &Opts) -> Result<()> {
    crate::netns::require_root_and_netns()?;
    if !opts.vrrpd.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p vrrp-user`",
            opts.vrrpd.display()
        );
    }
    if opts.wants(Section::Detection)
        || opts.wants(Section::Lab)
        || opts.wants(Section::Scale)
        || opts.wants(Section::Flood)
        || opts.wants(Section::Starvation)
    {
        daemon::require_keepalived()?;
    }
    let started = Instant::now();
    let mut res = Results::default();
    for section in Section::ALL {
        if !opts.wants(section) {
            continue;
        }
        check_interrupt()?;
        println!("\n=== {} ===", section.name());
        let t = Instant::now();
        match section {
            Section::Detection => res.detection = Some(detection::run(opts)),
            Section::Lab => res.lab = Some(lab_outage::run(opts)),
            Section::Scale => res.scale = Some(scale::run(opts)),
            Section::Flood => res.flood = Some(flood::run(opts)),
            Section::Micro => res.micro = Some(micro::read(opts)),
            Section::Starvation => res.starvation = Some(starvation::run(opts)),
        }
        res.durations.push((section, t.elapsed()));
        println!(
            "=== {} done in {:.0} s",
            section.name(),
            t.elapsed().as_secs_f64()
        );
        // A Ctrl-C inside a section surfaces as that section's error; stop here.
        check_interrupt()?;
    }
    report::write(opts, &res, started.elapsed())?;
    println!(
        "\nvrrp-bench: wrote {} and {} in {:.0} s",
        opts.out.join("BENCHMARKS.md").display(),
        opts.out.join("docs/bench").display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

//! Section 5: the criterion micro-benchmarks (`vrrp-core/benches/core.rs`), read from
//! criterion's output directory after `cargo bench` ran them (the xtask does that).

use std::path::Path;

use anyhow::{Context, Result, bail};

/// One criterion benchmark's estimates, nanoseconds per iteration.
#[derive(Clone, Debug)]
pub struct Bench {
    pub id: String,
    pub median_ns: f64,
    /// 95 % confidence interval of the median.
    pub median_ci_ns: (f64, f64),
    pub mean_ns: f64,
}

pub fn read(opts: &super::Opts) -> Result<Vec<Bench>> {
    let Some(dir) = &opts.criterion_dir else {
        bail!("criterion was not run (no --criterion DIR given)");
    };
    let mut out = Vec::new();
    walk(dir, &mut out)?;
    if out.is_empty() {
        bail!("no criterion results under {}", dir.display());
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    for b in &out {
        println!("   {:<40} median {:>9.1} ns", b.id, b.median_ns);
    }
    Ok(out)
}

/// Finds every `new/benchmark.json` + `new/estimates.json` pair under `dir`.
fn walk(dir: &Path, out: &mut Vec<Bench>) -> Result<()> {
    let new = dir.join("new");
    if new.join("benchmark.json").exists() && new.join("estimates.json").exists() {
        out.push(parse(&new)?);
    }
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        if e.file_type()?.is_dir() && e.file_name() != "new" && e.file_name() != "base" {
            walk(&e.path(), out)?;
        }
    }
    Ok(())
}

fn parse(new: &Path) -> Result<Bench> {
    let read = |name: &str| -> Result<serde_json::Value> {
        let p = new.join(name);
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        Ok(serde_json::from_str(&text)?)
    };
    let meta = read("benchmark.json")?;
    let est = read("estimates.json")?;
    let num = |v: &serde_json::Value| v.as_f64().context("number in criterion output");
    Ok(Bench {
        id: meta["full_id"].as_str().context("full_id")?.to_string(),
        median_ns: num(&est["median"]["point_estimate"])?,
        median_ci_ns: (
            num(&est["median"]["confidence_interval"]["lower_bound"])?,
            num(&est["median"]["confidence_interval"]["upper_bound"])?,
        ),
        mean_ns: num(&est["mean"]["point_estimate"])?,
    })
}

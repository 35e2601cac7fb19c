//! Hand-written SVG plots: a strip plot (every trial a dot, the median a bar, the RFC
//! floor a dashed line) and a grouped bar chart. Plain text, no dependency.

use std::fmt::Write as _;

/// Colours per series, in order.
pub const COLORS: [&str; 4] = ["#1f77b4", "#2ca02c", "#d62728", "#9467bd"];

/// One panel of a strip plot.
pub struct Strip {
    pub title: String,
    pub y_label: String,
    /// (label, samples, colour).
    pub groups: Vec<(String, Vec<f64>, &'static str)>,
    /// Dashed reference line, with its label.
    pub floor: Option<(f64, String)>,
}

/// A grouped bar chart.
pub struct Bars {
    pub title: String,
    pub y_label: String,
    /// Logarithmic y axis (decades), for values that span orders of magnitude.
    pub log_y: bool,
    pub categories: Vec<String>,
    /// (label, value per category, colour); `None` draws "n/a".
    pub series: Vec<(String, Vec<Option<f64>>, &'static str)>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// About five round tick values covering `[lo, hi]`.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).max(1e-9);
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 6.0)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut v = Vec::new();
    while t <= hi + step * 1e-9 {
        v.push(t);
        t += step;
    }
    v
}

/// A tick label with as many decimals as the tick step needs.
fn fmt_tick(v: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    // Rounding error must not print "-0.0".
    let v = if v.abs() < step * 1e-6 { 0.0 } else { v };
    format!("{v:.decimals$}")
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

const PW: f64 = 420.0; // panel width
const PH: f64 = 300.0; // panel height
const ML: f64 = 70.0; // left margin (axis labels)
const MT: f64 = 50.0; // top margin (titles)
const MB: f64 = 60.0; // bottom margin (group labels)

fn header(w: f64, h: f64, title: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="20" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"#,
        w / 2.0,
        esc(title)
    );
    s
}

/// Y axis with ticks and grid for a panel at `x0` spanning `[lo, hi]`; returns the
/// value-to-pixel mapping.
fn y_axis(s: &mut String, x0: f64, lo: f64, hi: f64, label: &str) -> impl Fn(f64) -> f64 + use<> {
    let (top, bottom) = (MT, MT + PH);
    let map = move |v: f64| bottom - (v - lo) / (hi - lo) * (bottom - top);
    let ts = ticks(lo, hi);
    let step = if ts.len() > 1 { ts[1] - ts[0] } else { 1.0 };
    for t in ts {
        let y = map(t);
        let _ = writeln!(
            s,
            r##"<line x1="{}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            x0 + ML,
            x0 + ML + PW,
            x0 + ML - 5.0,
            y + 4.0,
            fmt_tick(t, step)
        );
    }
    let _ = writeln!(
        s,
        r#"<line x1="{0}" x2="{0}" y1="{top}" y2="{bottom}" stroke="black"/><line x1="{0}" x2="{1}" y1="{bottom}" y2="{bottom}" stroke="black"/>"#,
        x0 + ML,
        x0 + ML + PW
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate({},{}) rotate(-90)" text-anchor="middle">{}</text>"#,
        x0 + 16.0,
        top + PH / 2.0,
        esc(label)
    );
    map
}

/// Logarithmic Y axis over the decades `10^lo ..= 10^hi`; returns the
/// value-to-pixel mapping (values at or below `10^lo` sit on the axis).
fn log_y_axis(s: &mut String, lo: i32, hi: i32, label: &str) -> impl Fn(f64) -> f64 + use<> {
    let (top, bottom) = (MT, MT + PH);
    let span = f64::from((hi - lo).max(1));
    let map = move |v: f64| {
        let l = v.max(10f64.powi(lo)).log10();
        bottom - (l - f64::from(lo)) / span * (bottom - top)
    };
    for d in lo..=hi {
        let v = 10f64.powi(d);
        let y = map(v);
        let text = if d >= 0 {
            format!("{v:.0}")
        } else {
            format!("{v:.*}", (-d) as usize)
        };
        let _ = writeln!(
            s,
            r##"<line x1="{ML}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{text}</text>"##,
            ML + PW,
            ML - 5.0,
            y + 4.0,
        );
    }
    let _ = writeln!(
        s,
        r#"<line x1="{ML}" x2="{ML}" y1="{top}" y2="{bottom}" stroke="black"/><line x1="{ML}" x2="{}" y1="{bottom}" y2="{bottom}" stroke="black"/>"#,
        ML + PW
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(16,{}) rotate(-90)" text-anchor="middle">{} (log scale)</text>"#,
        top + PH / 2.0,
        esc(label)
    );
    map
}

/// Side-by-side strip plots.
pub fn strips(title: &str, panels: &[Strip]) -> String {
    let w = panels.len() as f64 * (ML + PW + 20.0);
    let h = MT + PH + MB;
    let mut s = header(w, h, title);
    for (pi, p) in panels.iter().enumerate() {
        let x0 = pi as f64 * (ML + PW + 20.0);
        let mut vals: Vec<f64> = p.groups.iter().flat_map(|g| g.1.iter().copied()).collect();
        if let Some((f, _)) = &p.floor {
            vals.push(*f);
        }
        let lo0 = vals.iter().copied().fold(f64::INFINITY, f64::min);
        let hi0 = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if lo0.is_finite() {
            let pad = ((hi0 - lo0) * 0.1).max(0.05);
            (lo0 - pad, hi0 + pad)
        } else {
            (0.0, 1.0)
        };
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle" font-size="13">{}</text>"#,
            x0 + ML + PW / 2.0,
            MT - 10.0,
            esc(&match &p.floor {
                Some((_, label)) => format!("{} ({label}, dashed)", p.title),
                None => p.title.clone(),
            })
        );
        let map = y_axis(&mut s, x0, lo, hi, &p.y_label);
        let n = p.groups.len().max(1) as f64;
        for (gi, (label, v, color)) in p.groups.iter().enumerate() {
            let cx = x0 + ML + PW * (gi as f64 + 0.5) / n;
            for (i, x) in v.iter().enumerate() {
                // Deterministic jitter so dots of equal value stay visible.
                let j = ((i * 37) % 21) as f64 - 10.0;
                let _ = writeln!(
                    s,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}" fill-opacity="0.6"/>"#,
                    cx + j * 2.0,
                    map(*x)
                );
            }
            if let Some(m) = super::stats::median(v) {
                let y = map(m);
                let _ = writeln!(
                    s,
                    r#"<line x1="{:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="black" stroke-width="2"/>"#,
                    cx - 30.0,
                    cx + 30.0
                );
            }
            let _ = writeln!(
                s,
                r#"<text x="{cx:.1}" y="{}" text-anchor="middle">{}</text><text x="{cx:.1}" y="{}" text-anchor="middle" fill="gray">n = {}</text>"#,
                MT + PH + 18.0,
                esc(label),
                MT + PH + 34.0,
                v.len()
            );
        }
        if let Some((f, _)) = &p.floor {
            let y = map(*f);
            let _ = writeln!(
                s,
                r##"<line x1="{}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#d62728" stroke-dasharray="6,4"/>"##,
                x0 + ML,
                x0 + ML + PW,
            );
        }
    }
    let _ = writeln!(
        s,
        r#"<text x="8" y="{}" fill="gray" font-size="11">dots: trials; black bar: median</text>"#,
        h - 6.0
    );
    s.push_str("</svg>\n");
    s
}

/// A grouped bar chart with the value printed on each bar.
pub fn bars(b: &Bars) -> String {
    let w = ML + PW + 180.0;
    let h = MT + PH + MB;
    let mut s = header(w, h, &b.title);
    let hi0 = b
        .series
        .iter()
        .flat_map(|x| x.1.iter().flatten().copied())
        .fold(0.0, f64::max);
    let map: Box<dyn Fn(f64) -> f64> = if b.log_y {
        let lo0 = b
            .series
            .iter()
            .flat_map(|x| x.1.iter().flatten().copied())
            .filter(|v| *v > 0.0)
            .fold(f64::INFINITY, f64::min);
        let (lo, hi) = if lo0.is_finite() {
            (
                lo0.log10().floor() as i32,
                (hi0 * 1.5).log10().ceil() as i32,
            )
        } else {
            (0, 1)
        };
        Box::new(log_y_axis(&mut s, lo, hi.max(lo + 1), &b.y_label))
    } else {
        let hi = if hi0 > 0.0 { hi0 * 1.12 } else { 1.0 };
        Box::new(y_axis(&mut s, 0.0, 0.0, hi, &b.y_label))
    };
    let nc = b.categories.len().max(1) as f64;
    let ns = b.series.len().max(1) as f64;
    let slot = PW / nc;
    let bw = slot * 0.8 / ns;
    for (ci, cat) in b.categories.iter().enumerate() {
        let x_cat = ML + slot * ci as f64 + slot * 0.1;
        for (si, (_, vals, color)) in b.series.iter().enumerate() {
            let x = x_cat + bw * si as f64;
            match vals.get(ci).copied().flatten() {
                Some(v) => {
                    let y = map(v);
                    let _ = writeln!(
                        s,
                        r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{color}"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"#,
                        bw - 2.0,
                        (MT + PH - y).max(0.0),
                        x + bw / 2.0,
                        y - 3.0,
                        fmt_num(v)
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10" fill="gray">n/a</text>"#,
                        x + bw / 2.0,
                        MT + PH - 4.0
                    );
                }
            }
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            ML + slot * (ci as f64 + 0.5),
            MT + PH + 18.0,
            esc(cat)
        );
    }
    for (si, (label, _, color)) in b.series.iter().enumerate() {
        let y = MT + 10.0 + 20.0 * si as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{}" y="{}" width="12" height="12" fill="{color}"/><text x="{}" y="{}">{}</text>"#,
            ML + PW + 15.0,
            y - 10.0,
            ML + PW + 32.0,
            y,
            esc(label)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_values_are_round() {
        assert_eq!(ticks(0.0, 10.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let t = ticks(35.0, 41.0);
        assert!(t.len() >= 3 && t.len() <= 7, "{t:?}");
    }

    #[test]
    fn plots_are_svg() {
        let p = strips(
            "t",
            &[Strip {
                title: "a".into(),
                y_label: "ms".into(),
                groups: vec![("x".into(), vec![1.0, 2.0], COLORS[0])],
                floor: Some((1.5, "floor".into())),
            }],
        );
        assert!(p.starts_with("<svg") && p.trim_end().ends_with("</svg>"));
        let b = bars(&Bars {
            title: "b".into(),
            y_label: "%".into(),
            log_y: false,
            categories: vec!["1".into()],
            series: vec![("s".into(), vec![None], COLORS[1])],
        });
        assert!(b.contains("n/a"));
        let b = bars(&Bars {
            title: "b".into(),
            y_label: "%".into(),
            log_y: true,
            categories: vec!["1".into(), "2".into()],
            series: vec![("s".into(), vec![Some(0.04), Some(75.0)], COLORS[1])],
        });
        // Decades from 0.01 to 1000 (75 x 1.5 rounds up to the 1000 decade).
        assert!(b.contains(">0.01<") && b.contains(">100<") && b.contains("log scale"));
    }
}

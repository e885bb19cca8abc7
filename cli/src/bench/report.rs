//! The results: rows with their references and ratios, printed as an
//! aligned table, as JSON, or drawn as an SVG bar chart.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::harness::Sample;
use super::mechanisms::{Mech, Metric};

/// One measured row.
#[derive(Serialize, Clone, Debug)]
pub struct Row {
    pub mechanism: &'static str,
    /// Message size in bytes.
    pub size: usize,
    /// `rtt` (round trip) or `throughput` (one way).
    pub metric: &'static str,
    /// Median: ns per round trip, or ns per message over 1 ms windows.
    pub median: f64,
    pub p99: f64,
    pub p999: f64,
    /// `ns` (per round trip) or `ns/msg`.
    pub unit: &'static str,
    /// Round trips or messages timed.
    pub iterations: u64,
    /// Throughput rows: messages per second over the whole measurement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msgs_per_sec: Option<f64>,
    /// Throughput rows: payload megabytes (10^6) per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mb_per_sec: Option<f64>,
    /// The row this one is compared with (same run).
    pub reference: String,
    /// Cost relative to the reference: median / reference median for
    /// round trips, reference rate / this rate for throughput.
    pub ratio: Option<f64>,
    #[serde(skip)]
    pub mech: Option<Mech>,
    #[serde(skip)]
    pub kind: Option<Metric>,
}

impl Row {
    pub fn new(mech: Mech, metric: Metric, size: usize, s: &Sample) -> Self {
        let q = |p: f64| s.hist.value_at_quantile(p) as f64;
        let (scale, unit) = match metric {
            Metric::Rtt => (1.0, "ns"),
            Metric::Throughput => (1000.0, "ns/msg"),
        };
        let secs = s.elapsed.as_secs_f64();
        let rate = (metric == Metric::Throughput && secs > 0.0).then(|| s.count as f64 / secs);
        Row {
            mechanism: mech.name(),
            size,
            metric: metric.name(),
            median: q(0.5) / scale,
            p99: q(0.99) / scale,
            p999: q(0.999) / scale,
            unit,
            iterations: s.count,
            msgs_per_sec: rate,
            mb_per_sec: rate.map(|r| r * size as f64 / 1e6),
            reference: String::new(),
            ratio: None,
            mech: Some(mech),
            kind: Some(metric),
        }
    }
}

/// The reference of a row: the cache-line floor for busy-polling round
/// trips, the futex floor for sleeping ones, memcpy of the same size for
/// throughput.
pub fn reference_of(mech: Mech, metric: Metric, size: usize) -> (Mech, usize) {
    match metric {
        Metric::Rtt if mech.busy() => (Mech::CacheLine, 4),
        Metric::Rtt => (Mech::Futex, 4),
        Metric::Throughput => (Mech::Memcpy, size),
    }
}

/// Fills in `reference` and `ratio` of every row.
pub fn add_ratios(rows: &mut [Row]) {
    let index: HashMap<(Mech, Metric, usize), (f64, Option<f64>)> = rows
        .iter()
        .map(|r| {
            (
                (r.mech.unwrap(), r.kind.unwrap(), r.size),
                (r.median, r.msgs_per_sec),
            )
        })
        .collect();
    for r in rows.iter_mut() {
        let (mech, metric) = (r.mech.unwrap(), r.kind.unwrap());
        let (ref_mech, ref_size) = reference_of(mech, metric, r.size);
        let ref_metric = if ref_mech == Mech::Memcpy {
            Metric::Throughput
        } else {
            Metric::Rtt
        };
        r.reference = format!("{} {}", ref_mech.name(), size_label(ref_size));
        r.ratio = index
            .get(&(ref_mech, ref_metric, ref_size))
            .and_then(|&(median, rate)| match metric {
                Metric::Rtt => (median > 0.0).then(|| r.median / median),
                Metric::Throughput => match (rate, r.msgs_per_sec) {
                    (Some(a), Some(b)) if b > 0.0 => Some(a / b),
                    _ => None,
                },
            });
    }
}

/// Sorts: round trips first, then throughput; by size; fastest first.
pub fn sort(rows: &mut [Row]) {
    rows.sort_by(|a, b| {
        (a.kind, a.size)
            .cmp(&(b.kind, b.size))
            .then(a.median.total_cmp(&b.median))
    });
}

pub fn size_label(size: usize) -> String {
    if size >= 1024 && size % 1024 == 0 {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

fn time(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} us", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

fn rate(r: &Row) -> String {
    match (r.msgs_per_sec, r.mb_per_sec) {
        (Some(m), Some(mb)) if mb >= 1000.0 => format!("{:.2} GB/s {:.2} M/s", mb / 1e3, m / 1e6),
        (Some(m), Some(mb)) => format!("{mb:.0} MB/s {:.2} M/s", m / 1e6),
        _ => String::new(),
    }
}

/// The aligned table.
pub fn table(rows: &[Row]) -> String {
    let header = [
        "metric",
        "size",
        "mechanism",
        "median",
        "p99",
        "p99.9",
        "rate",
        "ratio",
        "reference",
    ];
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            [
                r.metric.to_string(),
                size_label(r.size),
                r.mechanism.to_string(),
                time(r.median),
                time(r.p99),
                time(r.p999),
                rate(r),
                r.ratio.map_or("-".into(), |x| format!("{x:.2}x")),
                r.reference.clone(),
            ]
        })
        .collect();
    let mut w = header.map(str::len);
    for c in &cells {
        for (i, s) in c.iter().enumerate() {
            w[i] = w[i].max(s.len());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, c: &[&str]| {
        let _ = writeln!(
            out,
            "{:<w0$}  {:>w1$}  {:<w2$}  {:>w3$}  {:>w4$}  {:>w5$}  {:>w6$}  {:>w7$}  {}",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            c[6],
            c[7],
            c[8],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3],
            w4 = w[4],
            w5 = w[5],
            w6 = w[6],
            w7 = w[7],
        );
    };
    line(&mut out, &header);
    let mut last = None;
    for (r, c) in rows.iter().zip(&cells) {
        let group = (r.metric, r.size);
        if last.is_some_and(|g| g != group) {
            out.push('\n');
        }
        last = Some(group);
        let refs: Vec<&str> = c.iter().map(String::as_str).collect();
        line(&mut out, &refs);
    }
    out
}

/// The JSON: an array of row objects.
pub fn json(rows: &[Row]) -> String {
    serde_json::to_string_pretty(rows).unwrap_or_else(|_| "[]".into())
}

/// Log-scale horizontal bars of the median round trip per mechanism and
/// size.
pub fn svg(rows: &[Row], path: &Path, title: &str) -> Result<(), String> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};

    let rtt: Vec<&Row> = rows
        .iter()
        .filter(|r| r.kind == Some(Metric::Rtt))
        .collect();
    let mut mechs: Vec<Mech> = rtt.iter().filter_map(|r| r.mech).collect();
    mechs.sort();
    mechs.dedup();
    // Fastest (by smallest size measured) at the top.
    let best = |m: Mech| {
        rtt.iter()
            .filter(|r| r.mech == Some(m))
            .map(|r| r.median)
            .fold(f64::INFINITY, f64::min)
    };
    mechs.sort_by(|a, b| best(*b).total_cmp(&best(*a)));
    let mut sizes: Vec<usize> = rtt.iter().map(|r| r.size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    if mechs.is_empty() {
        return Err("no round-trip rows to plot".into());
    }
    let lo = rtt.iter().map(|r| r.median).fold(f64::INFINITY, f64::min);
    let hi = rtt.iter().map(|r| r.median).fold(0.0, f64::max);
    let (x0, x1) = (
        10f64.powf((lo.max(1.0)).log10().floor()),
        10f64.powf(hi.max(10.0).log10().ceil()),
    );
    let height = 120 + 26 * mechs.len() as u32;
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .margin_left(150)
            .x_label_area_size(40)
            .build_cartesian_2d((x0..x1).log_scale(), 0f64..mechs.len() as f64)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_desc("median round trip, ns (log scale)")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .draw()?;
        let colors = [
            RGBColor(31, 119, 180),
            RGBColor(255, 127, 14),
            RGBColor(44, 160, 44),
            RGBColor(214, 39, 40),
            RGBColor(148, 103, 189),
        ];
        let band = 0.8 / sizes.len() as f64;
        for (si, &size) in sizes.iter().enumerate() {
            let color = colors[si % colors.len()];
            let bars: Vec<_> = mechs
                .iter()
                .enumerate()
                .filter_map(|(mi, &m)| {
                    let r = rtt.iter().find(|r| r.mech == Some(m) && (r.size == size))?;
                    let y = mi as f64 + 0.9 - band * (si as f64 + 1.0);
                    Some(Rectangle::new(
                        [(x0, y), (r.median.max(x0), y + band * 0.9)],
                        color.filled(),
                    ))
                })
                .collect();
            chart
                .draw_series(bars)?
                .label(size_label(size))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        // Fixed-size mechanisms (signal, eventfd, floors) use their own size.
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        let style = TextStyle::from(("sans-serif", 13).into_font())
            .pos(Pos::new(HPos::Right, VPos::Center));
        for (mi, m) in mechs.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(x0, mi as f64 + 0.5));
            root.draw(&Text::new(m.name(), (px - 6, py), style.clone()))?;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| format!("{}: {e}", path.display()))
}

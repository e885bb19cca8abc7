//! The results: rows with their references and ratios, printed as an
//! aligned table, as JSON, or drawn as an SVG bar chart.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use ipckit_testkit::bench::Stats;

use super::harness::Sample;
use super::mechanisms::{Mech, Metric};
use super::plan::Job;

/// One measured row: the median over rounds of each round's median, the
/// spread of those, percentiles over all rounds' samples together, and the
/// median of the rounds' ratios to the reference.
#[derive(Serialize, Clone, Debug)]
pub struct Row {
    pub mechanism: &'static str,
    /// Items per call of a batched row (absent: one message per call).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
    /// Message size in bytes.
    pub size: usize,
    /// `rtt` (round trip) or `throughput` (one way).
    pub metric: &'static str,
    /// Median over rounds of the rounds' medians: ns per round trip, or ns
    /// per message over 1 ms windows.
    pub median: f64,
    /// The lowest and the highest round's median: the spread.
    pub median_min: f64,
    pub median_max: f64,
    /// Rounds that measured this row.
    pub rounds: usize,
    pub p99: f64,
    pub p999: f64,
    /// `ns` (per round trip) or `ns/msg`.
    pub unit: &'static str,
    /// Round trips or messages timed, all rounds.
    pub iterations: u64,
    /// Throughput rows: messages per second over all rounds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msgs_per_sec: Option<f64>,
    /// Throughput rows: payload megabytes (10^6) per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mb_per_sec: Option<f64>,
    /// The row this one is compared with (same rounds).
    pub reference: String,
    /// Cost relative to the reference: the median over rounds of this
    /// round's median / the reference's (ns per round trip or per message).
    pub ratio: Option<f64>,
    /// The lowest and highest round's ratio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_max: Option<f64>,
    #[serde(skip)]
    pub mech: Option<Mech>,
    #[serde(skip)]
    pub kind: Option<Metric>,
}

impl Row {
    /// The row of `job` from its rounds' `stats` and all its samples.
    pub fn new(job: &Job, stats: Stats, rounds: usize, all: &Sample) -> Self {
        let q = |p: f64| all.hist.value_at_quantile(p) as f64;
        let (scale, unit) = match job.metric {
            Metric::Rtt => (1.0, "ns"),
            Metric::Throughput => (1000.0, "ns/msg"),
        };
        let secs = all.elapsed.as_secs_f64();
        let rate =
            (job.metric == Metric::Throughput && secs > 0.0).then(|| all.count as f64 / secs);
        Row {
            mechanism: job.mech.name(),
            batch: job.batch,
            size: job.size,
            metric: job.metric.name(),
            median: stats.median,
            median_min: stats.min,
            median_max: stats.max,
            rounds,
            p99: q(0.99) / scale,
            p999: q(0.999) / scale,
            unit,
            iterations: all.count,
            msgs_per_sec: rate,
            mb_per_sec: rate.map(|r| r * job.size as f64 / 1e6),
            reference: String::new(),
            ratio: None,
            ratio_min: None,
            ratio_max: None,
            mech: Some(job.mech),
            kind: Some(job.metric),
        }
    }

    /// Sets the reference and the ratio to it.
    pub fn set_ratio(&mut self, reference: &Job, ratio: Option<Stats>) {
        self.reference = format!(
            "{} {}",
            mech_label(reference.mech, reference.batch),
            size_label(reference.size)
        );
        self.ratio = ratio.map(|r| r.median);
        self.ratio_min = ratio.map(|r| r.min);
        self.ratio_max = ratio.map(|r| r.max);
    }

    /// The row's name in tables: `shm-spsc-busy`, `rtrb x64`.
    pub fn label(&self) -> String {
        match self.batch {
            Some(n) => format!("{} x{n}", self.mechanism),
            None => self.mechanism.to_string(),
        }
    }
}

/// A mechanism's name in tables, with its batch.
pub fn mech_label(mech: Mech, batch: Option<usize>) -> String {
    match batch {
        Some(n) => format!("{} x{n}", mech.name()),
        None => mech.name().to_string(),
    }
}

/// Whether `mech` moves its data through shared memory (its round trips
/// are bounded below by the cache-line floor).
pub fn shared_memory(mech: Mech) -> bool {
    matches!(
        mech,
        Mech::ShmSpscBusy
            | Mech::ShmSpsc
            | Mech::ShmMpmc
            | Mech::ShmBytes
            | Mech::ShmMpscBytes
            | Mech::ShmPubsub
            | Mech::RpcShm
            | Mech::Rtrb
            | Mech::Crossbeam
            | Mech::CacheLine
    )
}

/// The reference of a row: the cache-line floor for shared-memory round
/// trips (busy-polling or blocking: the blocking channels spin before they
/// sleep, and a round trip through shared memory moves at least one line
/// each way), the futex floor for the kernel's, memcpy of the same size for
/// throughput.
pub fn reference_of(mech: Mech, metric: Metric, size: usize) -> (Mech, usize) {
    match metric {
        Metric::Rtt if shared_memory(mech) => (Mech::CacheLine, 4),
        Metric::Rtt => (Mech::Futex, 4),
        Metric::Throughput => (Mech::Memcpy, size),
    }
}

/// One line per shared-memory round trip whose median beats the
/// cache-line floor's: the floor then measured something other than the
/// hardware (or the row is not doing what it claims).
pub fn below_floor(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .filter(|r| r.kind == Some(Metric::Rtt) && r.mech != Some(Mech::CacheLine))
        .filter(|r| r.reference.starts_with(Mech::CacheLine.name()))
        .filter_map(|r| {
            let ratio = r.ratio?;
            (ratio < 1.0).then(|| {
                let beyond = if r.ratio_max.is_some_and(|m| m < 1.0) {
                    "in every round"
                } else {
                    "within the spread"
                };
                format!(
                    "warning: {} rtt {} is below the cache-line floor ({ratio:.2}x, {beyond}): \
                     the floor is not a floor here",
                    r.label(),
                    size_label(r.size)
                )
            })
        })
        .collect()
}

/// The goals: the byte channel's (issue 15), each round trip at most 1.5x
/// the cache-line floor's; pub/sub's (issue 17), the 64 B round trip at
/// most 1.5x the byte channel's. `versus(a, b, size)` is the median over
/// rounds of `a`'s round trip / `b`'s at `size`, with its spread.
pub fn goals(rows: &[Row], versus: impl Fn(Mech, Mech, usize) -> Option<Stats>) -> Vec<String> {
    const GOAL: f64 = 1.5;
    let verdict = |ratio: f64| if ratio <= GOAL { "met" } else { "MISSED" };
    let rtt = |mech: Mech| {
        rows.iter()
            .filter(move |r| r.mech == Some(mech) && r.kind == Some(Metric::Rtt))
    };
    let bytes = rtt(Mech::ShmBytes)
        .filter(|r| r.size <= 64)
        .filter_map(|r| {
            let ratio = r.ratio?;
            Some(format!(
                "goal: shm-bytes rtt {} at most {GOAL}x the cache-line floor: {ratio:.2}x, {}",
                size_label(r.size),
                verdict(ratio)
            ))
        });
    let pubsub = rtt(Mech::ShmPubsub).filter(|r| r.size == 64).map(|r| {
        let what = format!(
            "goal: shm-pubsub rtt {} at most {GOAL}x shm-bytes's",
            size_label(r.size)
        );
        match versus(Mech::ShmPubsub, Mech::ShmBytes, r.size) {
            Some(s) => format!(
                "{what} (same rounds): {:.2}x ({:.2}-{:.2}), {}",
                s.median,
                s.min,
                s.max,
                verdict(s.median)
            ),
            None => format!("{what}: not checked (measure shm-bytes too: -m shm-pubsub,shm-bytes)"),
        }
    });
    bytes.chain(pubsub).collect()
}

/// Sorts: round trips first, then throughput; by size; fastest first, a
/// batched row right after its mechanism's one-per-call row.
pub fn sort(rows: &mut [Row]) {
    let single: HashMap<(Option<Mech>, Option<Metric>, usize), f64> = rows
        .iter()
        .filter(|r| r.batch.is_none())
        .map(|r| ((r.mech, r.kind, r.size), r.median))
        .collect();
    let key = |r: &Row| {
        single
            .get(&(r.mech, r.kind, r.size))
            .copied()
            .unwrap_or(r.median)
    };
    rows.sort_by(|a, b| {
        (a.kind, a.size)
            .cmp(&(b.kind, b.size))
            .then(key(a).total_cmp(&key(b)))
            .then(a.batch.cmp(&b.batch))
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
        "spread",
        "p99",
        "p99.9",
        "rate",
        "ratio (spread)",
        "reference",
    ];
    let cells: Vec<[String; 10]> = rows
        .iter()
        .map(|r| {
            [
                r.metric.to_string(),
                size_label(r.size),
                r.label(),
                time(r.median),
                format!("{}-{}", time(r.median_min), time(r.median_max)),
                time(r.p99),
                time(r.p999),
                rate(r),
                match (r.ratio, r.ratio_min, r.ratio_max) {
                    (Some(x), Some(lo), Some(hi)) => format!("{x:.2}x ({lo:.2}-{hi:.2})"),
                    (Some(x), _, _) => format!("{x:.2}x"),
                    _ => "-".into(),
                },
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
            "{:<w0$}  {:>w1$}  {:<w2$}  {:>w3$}  {:>w4$}  {:>w5$}  {:>w6$}  {:>w7$}  {:>w8$}  {}",
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            c[6],
            c[7],
            c[8],
            c[9],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3],
            w4 = w[4],
            w5 = w[5],
            w6 = w[6],
            w7 = w[7],
            w8 = w[8],
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn row(mech: Mech, size: usize, ratio: (f64, f64, f64)) -> Row {
        let job = Job {
            mech,
            metric: Metric::Rtt,
            size,
            batch: None,
        };
        let all = Sample {
            hist: super::super::harness::new_hist(),
            count: 1,
            elapsed: Duration::from_millis(1),
        };
        let stats = Stats {
            median: 100.0,
            min: 90.0,
            max: 110.0,
        };
        let mut r = Row::new(&job, stats, 5, &all);
        let (m, size) = reference_of(mech, Metric::Rtt, size);
        let reference = Job {
            mech: m,
            size,
            ..job
        };
        let (median, min, max) = ratio;
        r.set_ratio(&reference, Some(Stats { median, min, max }));
        r
    }

    #[test]
    fn the_pubsub_goal_is_its_round_trip_against_the_byte_channels() {
        let rows = [
            row(Mech::ShmPubsub, 8, (2.0, 2.0, 2.0)),
            row(Mech::ShmPubsub, 64, (2.0, 2.0, 2.0)),
            row(Mech::RpcShm, 64, (3.0, 3.0, 3.0)),
        ];
        assert_eq!(rows[1].reference, "cache-line 4 B");
        let at = |ratio: f64| {
            move |a: Mech, b: Mech, size: usize| {
                assert_eq!((a, b, size), (Mech::ShmPubsub, Mech::ShmBytes, 64));
                Some(Stats {
                    median: ratio,
                    min: ratio - 0.1,
                    max: ratio + 0.1,
                })
            }
        };
        let g = goals(&rows, at(1.2));
        assert_eq!(g.len(), 1, "{g:?}");
        assert_eq!(
            g[0],
            "goal: shm-pubsub rtt 64 B at most 1.5x shm-bytes's (same rounds): 1.20x (1.10-1.30), met"
        );
        assert!(goals(&rows, at(1.6))[0].ends_with("MISSED"));
        let g = goals(&rows, |_, _, _| None);
        assert!(g[0].ends_with("not checked (measure shm-bytes too: -m shm-pubsub,shm-bytes)"));
    }

    #[test]
    fn rows_below_the_floor_are_warned_of() {
        let rows = [
            row(Mech::CacheLine, 4, (1.0, 1.0, 1.0)),
            row(Mech::ShmBytes, 8, (0.8, 0.7, 0.9)),
            row(Mech::Rtrb, 8, (0.95, 0.9, 1.1)),
            row(Mech::ShmSpsc, 64, (1.2, 1.1, 1.3)),
            // A kernel row below its futex reference is no warning.
            row(Mech::SysvMq, 8, (0.2, 0.1, 0.3)),
        ];
        let w = below_floor(&rows);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].starts_with("warning: shm-bytes rtt 8 B") && w[0].contains("in every round"));
        assert!(w[1].starts_with("warning: rtrb rtt 8 B") && w[1].contains("within the spread"));
        assert_eq!(rows[3].reference, "cache-line 4 B");
        assert_eq!(rows[4].reference, "futex 4 B");
        let g = goals(&rows, |_, _, _| None);
        assert_eq!(g.len(), 1);
        assert!(g[0].ends_with("0.80x, met"), "{g:?}");
    }
}

//! Saved runs: `--save FILE` writes the rows with the machine they were
//! measured on; `--compare FILE` prints each row's change against the saved
//! one, marked where it is beyond both runs' spreads.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use ipckit_testkit::bench::Stats;

use super::machine::Machine;
use super::mechanisms::Mech;
use super::report::{Row, shared_memory, size_label};

/// Rows whose cost is memory's (the shared-memory mechanisms, the
/// in-process peers, the cache-line and memcpy floors), not the kernel's:
/// held to the tighter agreement (15 % against 25 %).
fn in_memory(mech: Mech) -> bool {
    shared_memory(mech) || mech == Mech::Memcpy
}

/// The saved file's format version.
const FORMAT: u32 = 1;

#[derive(Serialize)]
struct Out<'a> {
    format: u32,
    machine: &'a Machine,
    rounds: usize,
    /// Measured time of one turn, in milliseconds.
    turn_ms: f64,
    rows: &'a [Row],
}

/// A saved run, as read back.
#[derive(Deserialize, Debug)]
pub struct Saved {
    pub format: u32,
    pub machine: Machine,
    pub rounds: usize,
    pub turn_ms: f64,
    pub rows: Vec<SavedRow>,
}

/// What a comparison needs of a saved row (the file holds all of [`Row`]).
#[derive(Deserialize, Debug)]
pub struct SavedRow {
    pub mechanism: String,
    #[serde(default)]
    pub batch: Option<usize>,
    pub size: usize,
    pub metric: String,
    pub median: f64,
    pub median_min: f64,
    pub median_max: f64,
}

impl SavedRow {
    fn same(&self, r: &Row) -> bool {
        self.mechanism == r.mechanism
            && self.batch == r.batch
            && self.size == r.size
            && self.metric == r.metric
    }

    fn label(&self) -> String {
        match self.batch {
            Some(n) => format!("{} x{n}", self.mechanism),
            None => self.mechanism.clone(),
        }
    }
}

/// The JSON of a run.
pub fn to_json(machine: &Machine, rounds: usize, turn_ms: f64, rows: &[Row]) -> String {
    let out = Out {
        format: FORMAT,
        machine,
        rounds,
        turn_ms,
        rows,
    };
    serde_json::to_string_pretty(&out).unwrap_or_else(|_| "{}".into())
}

/// Writes the run to `path`.
pub fn save(path: &Path, json: &str) -> Result<(), String> {
    std::fs::write(path, format!("{json}\n")).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads a run saved with `--save`.
pub fn load(path: &Path) -> Result<Saved, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn parse(text: &str) -> Result<Saved, String> {
    let saved: Saved =
        serde_json::from_str(text).map_err(|e| format!("not a saved ipckit bench run: {e}"))?;
    if saved.format != FORMAT {
        return Err(format!(
            "saved in format {}, this ipckit reads {FORMAT}",
            saved.format
        ));
    }
    Ok(saved)
}

/// The comparison of `rows` (measured on `now`) with `saved`: a line per
/// row in both, its change in cost (`+12%`: this run's median is 12 %
/// above the saved one, slower), marked `*` when the two runs' spreads (the
/// lowest to the highest round's median) do not overlap.
pub fn compare(saved: &Saved, file: &str, now: &Machine, rows: &[Row]) -> String {
    let m = &saved.machine;
    let mut out = format!(
        "compared with {file} (saved {}, {}, {} rounds of {:.0} ms):\n",
        m.date,
        m.placement(),
        saved.rounds,
        saved.turn_ms
    );
    for (what, a, b) in [
        ("CPU", &m.cpu_model, &now.cpu_model),
        ("kernel", &m.kernel, &now.kernel),
    ] {
        if a != b {
            let _ = writeln!(out, "note: another {what}: saved on {a}, now {b}");
        }
    }
    let cpus = |m: &Machine| m.cpus.iter().map(|c| c.cpu).collect::<Vec<_>>();
    if cpus(m) != cpus(now) || m.smt_siblings != now.smt_siblings {
        let _ = writeln!(
            out,
            "note: other CPUs: saved on {}, now {}",
            m.placement(),
            now.placement()
        );
    }
    let mut lines: Vec<[String; 6]> = Vec::new();
    let mut marked = false;
    // The largest change of each class: (|change| %, row label).
    let mut largest = [(0.0f64, String::new()), (0.0f64, String::new())];
    for r in rows {
        let Some(s) = saved.rows.iter().find(|s| s.same(r)) else {
            continue;
        };
        if s.median.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            continue;
        }
        let change = (r.median / s.median - 1.0) * 100.0;
        let beyond = Stats {
            median: r.median,
            min: r.median_min,
            max: r.median_max,
        }
        .disjoint(&Stats {
            median: s.median,
            min: s.median_min,
            max: s.median_max,
        });
        marked |= beyond;
        let class = usize::from(!r.mech.is_some_and(in_memory));
        if change.abs() >= largest[class].0 {
            largest[class] = (
                change.abs(),
                format!("{} {} {}", r.label(), r.metric, size_label(r.size)),
            );
        }
        lines.push([
            r.metric.to_string(),
            size_label(r.size),
            r.label(),
            format!("{:.1} {}", r.median, r.unit),
            format!("{:.1} {}", s.median, r.unit),
            format!("{change:+.0}%{}", if beyond { " *" } else { "" }),
        ]);
    }
    let header = ["metric", "size", "mechanism", "now", "saved", "change"].map(String::from);
    let mut w = [0usize; 6];
    for l in std::iter::once(&header).chain(&lines) {
        for (i, c) in l.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    for l in std::iter::once(&header).chain(&lines) {
        let _ = writeln!(
            out,
            "{:<w0$}  {:>w1$}  {:<w2$}  {:>w3$}  {:>w4$}  {:>w5$}",
            l[0],
            l[1],
            l[2],
            l[3],
            l[4],
            l[5],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3],
            w4 = w[4],
            w5 = w[5],
        );
    }
    if marked {
        out.push_str(
            "* beyond both spreads: the two runs' ranges of round medians do not overlap\n",
        );
    }
    for ((name, goal), (change, label)) in [("shared-memory", 15.0), ("kernel", 25.0)]
        .iter()
        .zip(&largest)
    {
        if !label.is_empty() {
            let verdict = if *change <= *goal { "met" } else { "MISSED" };
            let _ = writeln!(
                out,
                "agreement: {name} rows within {change:.0}% (largest: {label}; goal {goal}%: {verdict})"
            );
        }
    }
    let only_saved: Vec<String> = saved
        .rows
        .iter()
        .filter(|s| !rows.iter().any(|r| s.same(r)))
        .map(|s| format!("{} {} {}", s.label(), s.metric, size_label(s.size)))
        .collect();
    if !only_saved.is_empty() {
        let _ = writeln!(out, "only in the saved run: {}", only_saved.join(", "));
    }
    out.push_str("change: this run's median cost against the saved one (+: slower)\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::machine::Cpu;
    use crate::bench::mechanisms::Metric;

    fn machine(model: &str) -> Machine {
        Machine {
            cpu_model: model.into(),
            cpus: [0, 1]
                .map(|cpu| Cpu {
                    cpu,
                    core_id: Some(cpu as u32),
                    package: Some(0),
                    siblings: Some(vec![cpu]),
                })
                .to_vec(),
            smt_siblings: Some(false),
            kernel: "6.8".into(),
            date: "2026-12-07T11:00:00Z".into(),
            ipckit_version: "0.1.0".into(),
            commit: Some("abc".into()),
        }
    }

    fn row(mech: Mech, batch: Option<usize>, median: f64, min: f64, max: f64) -> Row {
        Row {
            mechanism: mech.name(),
            batch,
            size: 64,
            metric: Metric::Throughput.name(),
            median,
            median_min: min,
            median_max: max,
            rounds: 5,
            p99: max,
            p999: max,
            unit: "ns/msg",
            iterations: 1000,
            msgs_per_sec: Some(1e9 / median),
            mb_per_sec: Some(64e3 / median),
            reference: "memcpy 64 B".into(),
            ratio: Some(2.0),
            ratio_min: Some(1.9),
            ratio_max: Some(2.1),
            mech: Some(mech),
            kind: Some(Metric::Throughput),
        }
    }

    #[test]
    fn saved_runs_read_back_and_compare() {
        let before = [
            row(Mech::ShmSpscBusy, None, 100.0, 95.0, 105.0),
            row(Mech::ShmSpscBusy, Some(64), 10.0, 9.0, 11.0),
            row(Mech::Pipe, None, 1000.0, 900.0, 1100.0),
        ];
        let json = to_json(&machine("AMD EPYC"), 5, 20.0, &before);
        let dir = std::env::temp_dir().join(format!("ipckit-saved-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("a.json");
        save(&path, &json).expect("save");
        let saved = load(&path).expect("load");
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert_eq!(saved.machine, machine("AMD EPYC"));
        assert_eq!((saved.rounds, saved.rows.len()), (5, 3));
        assert_eq!(saved.rows[1].batch, Some(64));
        assert_eq!(saved.rows[0].batch, None);

        let after = [
            // Slower by 12 %, spreads apart: marked.
            row(Mech::ShmSpscBusy, None, 112.0, 110.0, 114.0),
            // Faster by 10 %, spreads overlap: not marked.
            row(Mech::ShmSpscBusy, Some(64), 9.0, 8.0, 9.5),
        ];
        let text = compare(&saved, "a.json", &machine("Intel Xeon"), &after);
        let line = |label: &str| {
            text.lines()
                .find(|l| l.contains(label))
                .unwrap_or_else(|| panic!("no {label} in\n{text}"))
                .to_string()
        };
        assert!(line("shm-spsc-busy  ").ends_with("+12% *"), "{text}");
        assert!(line("shm-spsc-busy x64").ends_with("-10%"), "{text}");
        assert!(
            text.contains("note: another CPU: saved on AMD EPYC, now Intel Xeon"),
            "{text}"
        );
        assert!(
            text.contains("only in the saved run: pipe throughput 64 B"),
            "{text}"
        );
        assert!(text.contains("* beyond both spreads"), "{text}");
        assert!(
            text.contains(
                "agreement: shared-memory rows within 12% \
                 (largest: shm-spsc-busy throughput 64 B; goal 15%: met)"
            ),
            "{text}"
        );
        assert!(!text.contains("agreement: kernel"), "{text}");
    }

    #[test]
    fn other_files_are_refused() {
        assert!(parse("[]").is_err());
        let json = to_json(&machine("x"), 1, 1.0, &[]).replace("\"format\": 1", "\"format\": 9");
        assert!(parse(&json).unwrap_err().contains("format 9"));
    }
}

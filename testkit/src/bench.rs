//! Same-run ratios: every variant measured in turn, round after round, so a
//! slow spell of a shared or virtual machine hits both sides of a ratio
//! alike; per variant the median over rounds and the spread (the lowest and
//! highest round), per ratio the median of the rounds' ratios and their
//! spread; all printed in one format.
//!
//! The plain benchmarks measure with [`interleave`] and print with
//! [`Rounds::print`]. The criterion benchmarks record each `iter_custom`
//! call in [`Samples`], print criterion's view with [`Samples::print`] (the
//! measured calls are the last [`CriterionRun::measured`] of each variant)
//! and then run an interleaved pass of their own.
//!
//! ```
//! use ipckit_testkit::bench::{Ratio, Unit, interleave};
//!
//! let mut clock = 0.0;
//! let rounds = interleave(&["a", "b"], 5, |v| {
//!     clock += 1.0;
//!     Ok::<_, String>(if v == "a" { 2.0 * clock } else { clock })
//! })?;
//! let ratio = rounds.ratio("a", "b").expect("both ran");
//! assert!(ratio.median > 1.0);
//! rounds.print("demo", |v| v, Unit::Nanos, &[Ratio::new("a / b", "a", "b")]);
//! # Ok::<_, String>(())
//! ```

use std::borrow::Cow;
use std::sync::Mutex;

/// The median of `v` (the mean of the middle two for an even length);
/// `None` for an empty `v`.
pub fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[mid]),
        _ => Some((v[mid - 1] + v[mid]) / 2.0),
    }
}

/// A median and the range it came from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// The median.
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Stats {
    /// The median, minimum and maximum of `v`; `None` for an empty `v`.
    pub fn of(v: &[f64]) -> Option<Self> {
        Some(Self {
            median: median(v)?,
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

/// How the values of a table print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Events per second, printed in millions (`M/s`), thousands (`k/s`)
    /// or ones.
    PerSecond,
    /// Nanoseconds, printed as `ns` below 10 µs and `us` from there.
    Nanos,
    /// Megabytes per second.
    MegabytesPerSecond,
}

impl Unit {
    /// `v` in this unit, with its suffix.
    pub fn format(self, v: f64) -> String {
        match self {
            Unit::PerSecond if v >= 1e6 => format!("{:.2} M/s", v / 1e6),
            Unit::PerSecond if v >= 1e3 => format!("{:.2} k/s", v / 1e3),
            Unit::PerSecond => format!("{v:.1} /s"),
            Unit::Nanos if v >= 10_000.0 => format!("{:.1} us", v / 1e3),
            Unit::Nanos => format!("{v:.0} ns"),
            Unit::MegabytesPerSecond => format!("{v:.0} MB/s"),
        }
    }
}

/// What a ratio is measured against.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Goal {
    /// For reference only.
    None,
    /// Met when the ratio is at most this.
    AtMost(f64),
    /// Met when the ratio is at least this.
    AtLeast(f64),
}

/// One ratio a summary reports: `label`, numerator `a`, denominator `b`.
#[derive(Clone, Debug)]
pub struct Ratio<K> {
    /// What the ratio says, e.g. `"ipckit single / rtrb single"`.
    pub label: Cow<'static, str>,
    /// The numerator's variant.
    pub a: K,
    /// The denominator's variant.
    pub b: K,
    /// The goal it is measured against.
    pub goal: Goal,
}

impl<K> Ratio<K> {
    /// A ratio without a goal.
    pub const fn new(label: &'static str, a: K, b: K) -> Self {
        Self {
            label: Cow::Borrowed(label),
            a,
            b,
            goal: Goal::None,
        }
    }

    /// A ratio with a label made at run time.
    pub fn named(label: String, a: K, b: K) -> Self {
        Self {
            label: Cow::Owned(label),
            a,
            b,
            goal: Goal::None,
        }
    }

    /// The same ratio with `goal`.
    pub const fn goal(mut self, goal: Goal) -> Self {
        self.goal = goal;
        self
    }
}

/// The values of an interleaved run: one per variant and round.
#[derive(Debug)]
pub struct Rounds<K> {
    variants: Vec<K>,
    /// `values[i][r]`: variant `i` in round `r`.
    values: Vec<Vec<f64>>,
}

/// Measures every variant of `variants` in turn, `rounds` times (one value
/// each time, such as items per second or a turn's median round trip); the
/// first error ends the run.
pub fn interleave<K: Copy + PartialEq, E>(
    variants: &[K],
    rounds: usize,
    mut measure: impl FnMut(K) -> Result<f64, E>,
) -> Result<Rounds<K>, E> {
    let mut values = vec![Vec::with_capacity(rounds); variants.len()];
    for _ in 0..rounds {
        for (i, &v) in variants.iter().enumerate() {
            values[i].push(measure(v)?);
        }
    }
    Ok(Rounds {
        variants: variants.to_vec(),
        values,
    })
}

impl<K: Copy + PartialEq> Rounds<K> {
    /// The values of `variant`, one per round; empty if it did not run.
    pub fn values(&self, variant: K) -> &[f64] {
        self.variants
            .iter()
            .position(|&v| v == variant)
            .map_or(&[], |i| &self.values[i])
    }

    /// The median over rounds of `variant`, and the lowest and highest.
    pub fn stats(&self, variant: K) -> Option<Stats> {
        Stats::of(self.values(variant))
    }

    /// The median over rounds of `a / b` (each round's values divided), and
    /// the lowest and highest round's ratio.
    pub fn ratio(&self, a: K, b: K) -> Option<Stats> {
        let per_round: Vec<f64> = self
            .values(a)
            .iter()
            .zip(self.values(b))
            .map(|(x, y)| x / y)
            .collect();
        Stats::of(&per_round)
    }

    /// The number of rounds.
    pub fn rounds(&self) -> usize {
        self.values.first().map_or(0, Vec::len)
    }

    /// Prints the table of every variant under `title`, then `ratios`.
    pub fn print<'n>(
        &self,
        title: &str,
        name: impl Fn(K) -> &'n str,
        unit: Unit,
        ratios: &[Ratio<K>],
    ) {
        self.print_table(title, &self.variants, name, unit);
        self.print_ratios(ratios);
    }

    /// Prints the median, lowest and highest round of each of `variants`
    /// under `title`.
    pub fn print_table<'n>(
        &self,
        title: &str,
        variants: &[K],
        name: impl Fn(K) -> &'n str,
        unit: Unit,
    ) {
        print_table(
            &format!("{title}: medians of {} interleaved rounds", self.rounds()),
            variants.iter().map(|&v| (name(v), self.stats(v))),
            unit,
        );
    }

    /// Prints `ratios`: each the median of the rounds' ratios, with the
    /// lowest and highest round's.
    pub fn print_ratios(&self, ratios: &[Ratio<K>]) {
        print_ratios(
            &format!(
                "ratios (median of {} rounds' ratios; lowest .. highest round)",
                self.rounds()
            ),
            ratios,
            |a, b| self.ratio(a, b),
        );
    }
}

/// Prints `rows` (name, stats) as a table in `unit`; rows without stats are
/// left out.
pub fn print_table<'n>(
    title: &str,
    rows: impl IntoIterator<Item = (&'n str, Option<Stats>)>,
    unit: Unit,
) {
    let rows: Vec<(&str, Stats)> = rows
        .into_iter()
        .filter_map(|(n, s)| Some((n, s?)))
        .collect();
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0).max(8);
    println!();
    println!("{title}");
    println!(
        "{:<width$} {:>14} {:>14} {:>14}",
        "variant", "median", "min", "max"
    );
    for (name, s) in rows {
        println!(
            "{name:<width$} {:>14} {:>14} {:>14}",
            unit.format(s.median),
            unit.format(s.min),
            unit.format(s.max)
        );
    }
}

/// Prints each of `ratios` that `value` knows, with its goal's verdict.
pub fn print_ratios<K: Copy>(
    title: &str,
    ratios: &[Ratio<K>],
    value: impl Fn(K, K) -> Option<Stats>,
) {
    let width = ratios.iter().map(|r| r.label.len()).max().unwrap_or(0);
    println!("{title}");
    for r in ratios {
        let Some(s) = value(r.a, r.b) else { continue };
        let verdict = match r.goal {
            Goal::None => String::new(),
            Goal::AtMost(g) if s.median <= g => format!("   goal <= {g}: met"),
            Goal::AtMost(g) => format!("   goal <= {g}: MISSED"),
            Goal::AtLeast(g) if s.median >= g => format!("   goal >= {g}: met"),
            Goal::AtLeast(g) => format!("   goal >= {g}: MISSED"),
        };
        println!(
            "  {:<width$} {:>8.2}   ({:.2} .. {:.2}){verdict}",
            r.label, s.median, s.min, s.max
        );
    }
}

/// How a plain (`harness = false`) benchmark runs, read from its
/// arguments: `cargo bench` passes `--bench` (then `rounds` rounds, or one
/// with `--quick`); without it (`cargo test --benches`) it is a smoke run,
/// one tiny round that shows the benchmark still works.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlainRun {
    /// A smoke run: one round of a fraction of the work, no measurement.
    pub smoke: bool,
    /// The rounds to run.
    pub rounds: usize,
    /// The arguments that are not options (variant filters).
    pub filters: Vec<String>,
}

impl PlainRun {
    /// Reads this process's arguments; `rounds` is the full run's count.
    pub fn from_args(rounds: usize) -> Self {
        Self::parse(&std::env::args().skip(1).collect::<Vec<_>>(), rounds)
    }

    fn parse(args: &[String], rounds: usize) -> Self {
        let quick = args.iter().any(|a| a == "--quick");
        let smoke = !args.iter().any(|a| a == "--bench") && !quick;
        Self {
            smoke,
            rounds: if quick || smoke { 1 } else { rounds },
            filters: args
                .iter()
                .filter(|a| !a.starts_with('-'))
                .cloned()
                .collect(),
        }
    }

    /// Whether `name` passes the filters (all do without filters).
    pub fn selects(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }
}

/// How a criterion benchmark runs, read from the arguments criterion
/// parses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CriterionRun {
    /// Measuring (`--bench`, and not `--test`, `--list` or
    /// `--profile-time`).
    pub benchmarking: bool,
    /// The number of trailing `iter_custom` calls per variant that are the
    /// measured samples.
    pub measured: usize,
}

impl CriterionRun {
    /// Reads this process's arguments; `sample_size` is the configured
    /// sample count that `--sample-size` overrides.
    pub fn from_args(sample_size: usize) -> Self {
        Self::parse(&std::env::args().skip(1).collect::<Vec<_>>(), sample_size)
    }

    fn parse(args: &[String], sample_size: usize) -> Self {
        let has = |flag: &str| {
            args.iter()
                .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
        };
        let benchmarking =
            has("--bench") && !has("--test") && !has("--list") && !has("--profile-time");
        // `--quick` measures with doubling counts until two agree and keeps
        // the last two; otherwise criterion takes `sample_size` samples
        // after the warm-up calls.
        let mut measured = sample_size;
        for (i, a) in args.iter().enumerate() {
            let value = if a == "--sample-size" {
                args.get(i + 1).map(String::as_str)
            } else {
                a.strip_prefix("--sample-size=")
            };
            if let Some(v) = value.and_then(|v| v.parse().ok()) {
                measured = v;
            }
        }
        if has("--quick") {
            measured = 2;
        }
        Self {
            benchmarking,
            measured,
        }
    }
}

/// The value of every `iter_custom` call, per variant, in call order
/// (warm-up first, then the measured samples). Usable in a `static`.
pub struct Samples<K>(Mutex<Vec<(K, Vec<f64>)>>);

impl<K: Copy + PartialEq> Samples<K> {
    /// No samples yet.
    pub const fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }

    /// Appends one call's value for `variant`.
    pub fn record(&self, variant: K, value: f64) {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match all.iter_mut().find(|(v, _)| *v == variant) {
            Some((_, values)) => values.push(value),
            None => all.push((variant, vec![value])),
        }
    }

    /// The measured samples of `variant`: its last `run.measured` calls.
    pub fn measured(&self, variant: K, run: CriterionRun) -> Option<Vec<f64>> {
        let all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (_, values) = all.iter().find(|(v, _)| *v == variant)?;
        let tail = &values[values.len().saturating_sub(run.measured)..];
        (!tail.is_empty()).then(|| tail.to_vec())
    }

    /// The variants of `variants` that criterion ran, and the stats of their
    /// measured samples.
    pub fn stats(&self, variants: &[K], run: CriterionRun) -> Vec<(K, Stats)> {
        variants
            .iter()
            .filter_map(|&v| Some((v, Stats::of(&self.measured(v, run)?)?)))
            .collect()
    }

    /// Prints criterion's view: the table of the measured samples and the
    /// ratios of their medians (measured up to a minute apart: the
    /// interleaved ratios are the ones to trust on a shared machine).
    /// Returns the variants that ran, with their stats.
    pub fn print<'n>(
        &self,
        title: &str,
        variants: &[K],
        run: CriterionRun,
        name: impl Fn(K) -> &'n str,
        unit: Unit,
        ratios: &[Ratio<K>],
    ) -> Vec<(K, Stats)> {
        let stats = self.stats(variants, run);
        if stats.is_empty() {
            return stats;
        }
        print_table(
            &format!("{title}: {} criterion samples per variant", run.measured),
            stats.iter().map(|&(v, s)| (name(v), Some(s))),
            unit,
        );
        let of = |v: K| stats.iter().find(|(k, _)| *k == v).map(|(_, s)| s.median);
        print_ratios(
            "ratios of the criterion medians (measured apart; see the interleaved ones)",
            ratios,
            |a, b| {
                let r = of(a)? / of(b)?;
                Some(Stats {
                    median: r,
                    min: r,
                    max: r,
                })
            },
        );
        stats
    }
}

/// What a criterion benchmark's summary shows.
pub struct Summary<'a, K> {
    /// What is measured, e.g. `"SPSC u64 throughput, capacity 4096"`.
    pub title: String,
    /// Where the sides ran (see `pin::placement`).
    pub placement: String,
    /// The variants, in the order they print and run.
    pub variants: &'a [K],
    /// A variant's name.
    pub name: fn(K) -> &'static str,
    /// The unit of the values.
    pub unit: Unit,
    /// The ratios to report.
    pub ratios: &'a [Ratio<K>],
}

impl<K: Copy + PartialEq> Samples<K> {
    /// Prints criterion's view ([`Samples::print`]) and where the sides
    /// ran, then runs the variants criterion ran in turn for `rounds`
    /// rounds (`turn(variant, its criterion stats)` measures one turn),
    /// prints those and returns them; `None` if criterion ran nothing.
    pub fn summary<E>(
        &self,
        run: CriterionRun,
        s: &Summary<'_, K>,
        rounds: usize,
        mut turn: impl FnMut(K, Stats) -> Result<f64, E>,
    ) -> Result<Option<Rounds<K>>, E> {
        let ran = self.print(&s.title, s.variants, run, s.name, s.unit, s.ratios);
        if ran.is_empty() {
            return Ok(None);
        }
        println!("{}", s.placement);
        let variants: Vec<K> = ran.iter().map(|&(v, _)| v).collect();
        let of = |v: K| ran.iter().find(|r| r.0 == v).map(|r| r.1);
        let rounds = interleave(&variants, rounds, |v| {
            turn(v, of(v).expect("a variant that ran"))
        })?;
        rounds.print(&s.title, s.name, s.unit, s.ratios);
        Ok(Some(rounds))
    }
}

impl<K: Copy + PartialEq> Default for Samples<K> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_lengths() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn rounds_interleave_and_ratio_per_round() {
        // A slow spell (round 1 twice as slow for everyone) cancels in the
        // per-round ratio.
        let mut order = Vec::new();
        let mut round = 0usize;
        let slow = [1.0, 0.5, 1.0];
        let rounds = interleave(&['a', 'b'], 3, |v| {
            order.push(v);
            let r = round / 2;
            round += 1;
            Ok::<_, ()>(if v == 'a' { 30.0 } else { 10.0 } * slow[r])
        })
        .expect("no error");
        assert_eq!(order, ['a', 'b', 'a', 'b', 'a', 'b']);
        assert_eq!(rounds.values('a'), [30.0, 15.0, 30.0]);
        let a = rounds.stats('a').expect("ran");
        assert_eq!((a.median, a.min, a.max), (30.0, 15.0, 30.0));
        let r = rounds.ratio('a', 'b').expect("both ran");
        assert_eq!((r.median, r.min, r.max), (3.0, 3.0, 3.0));
        assert!(rounds.ratio('a', 'c').is_none());
    }

    #[test]
    fn interleave_stops_at_the_first_error() {
        let mut calls = 0;
        let r = interleave(&[1, 2], 5, |v| {
            calls += 1;
            if v == 2 { Err("boom") } else { Ok(1.0) }
        });
        assert_eq!(r.unwrap_err(), "boom");
        assert_eq!(calls, 2);
    }

    #[test]
    fn summary_runs_what_criterion_ran() {
        let samples = Samples::new();
        samples.record('a', 2.0);
        samples.record('b', 1.0);
        let run = CriterionRun {
            benchmarking: true,
            measured: 1,
        };
        let ratios = [Ratio::new("a / b", 'a', 'b')];
        let summary = Summary {
            title: "t".into(),
            placement: "p".into(),
            variants: &['a', 'b', 'c'],
            name: |_| "x",
            unit: Unit::PerSecond,
            ratios: &ratios,
        };
        let mut seen = Vec::new();
        let rounds = samples
            .summary(run, &summary, 2, |v, criterion| {
                seen.push(v);
                Ok::<_, ()>(criterion.median)
            })
            .expect("no error")
            .expect("criterion ran");
        assert_eq!(seen, ['a', 'b', 'a', 'b']);
        assert_eq!(rounds.ratio('a', 'b').map(|r| r.median), Some(2.0));
        let nothing = Samples::<char>::new().summary(run, &summary, 2, |_, _| Ok::<_, ()>(1.0));
        assert!(nothing.expect("no error").is_none());
    }

    #[test]
    fn plain_arguments() {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let run = PlainRun::parse(&args("--bench"), 7);
        assert_eq!((run.smoke, run.rounds), (false, 7));
        let run = PlainRun::parse(&args("--bench --quick"), 7);
        assert_eq!((run.smoke, run.rounds), (false, 1));
        let run = PlainRun::parse(&args("--quick"), 7);
        assert_eq!((run.smoke, run.rounds), (false, 1));
        let run = PlainRun::parse(&args("unix"), 7);
        assert_eq!((run.smoke, run.rounds), (true, 1));
        assert!(run.selects("unix stream") && !run.selects("pipe"));
        assert!(PlainRun::parse(&args("--bench"), 7).selects("pipe"));
    }

    #[test]
    fn criterion_arguments() {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let run = CriterionRun::parse(&args("--bench"), 20);
        assert_eq!((run.benchmarking, run.measured), (true, 20));
        let run = CriterionRun::parse(&args("--bench --quick"), 20);
        assert_eq!((run.benchmarking, run.measured), (true, 2));
        let run = CriterionRun::parse(&args("--bench --sample-size 10"), 20);
        assert_eq!(run.measured, 10);
        let run = CriterionRun::parse(&args("--bench --sample-size=12"), 20);
        assert_eq!(run.measured, 12);
        assert!(!CriterionRun::parse(&args("--bench --list"), 20).benchmarking);
        assert!(!CriterionRun::parse(&args(""), 20).benchmarking);
    }

    #[test]
    fn samples_keep_the_measured_tail() {
        let s = Samples::new();
        for v in [100.0, 1.0, 2.0, 3.0] {
            s.record('x', v);
        }
        let run = CriterionRun {
            benchmarking: true,
            measured: 3,
        };
        assert_eq!(s.measured('x', run), Some(vec![1.0, 2.0, 3.0]));
        assert_eq!(s.measured('y', run), None);
        let stats = s.stats(&['x', 'y'], run);
        assert_eq!(stats.len(), 1);
        assert_eq!(stats[0].1.median, 2.0);
    }

    #[test]
    fn units_format() {
        assert_eq!(Unit::PerSecond.format(12_345_678.0), "12.35 M/s");
        assert_eq!(Unit::PerSecond.format(4_321.0), "4.32 k/s");
        assert_eq!(Unit::PerSecond.format(12.0), "12.0 /s");
        assert_eq!(Unit::Nanos.format(950.4), "950 ns");
        assert_eq!(Unit::Nanos.format(12_500.0), "12.5 us");
        assert_eq!(Unit::MegabytesPerSecond.format(1234.4), "1234 MB/s");
    }
}

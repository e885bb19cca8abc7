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

mod criterion;

use std::borrow::Cow;

pub use criterion::{CriterionRun, Samples, Summary};

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

    /// [`Stats::of`] the finite values of `v` (a round that measured
    /// nothing, NaN, is left out); `None` if none is finite.
    pub fn of_finite(v: &[f64]) -> Option<Self> {
        let finite: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
        Self::of(&finite)
    }

    /// Whether the ranges `min..=max` of `self` and `other` share no value:
    /// a change between them is beyond both spreads.
    pub fn disjoint(&self, other: &Stats) -> bool {
        self.min > other.max || other.min > self.max
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

    /// The median over rounds of `variant`, and the lowest and highest; a
    /// round whose value is not finite (a measure that reports NaN for a
    /// turn it skipped) is left out.
    pub fn stats(&self, variant: K) -> Option<Stats> {
        Stats::of_finite(self.values(variant))
    }

    /// The median over rounds of `a / b` (each round's values divided), and
    /// the lowest and highest round's ratio; rounds where either value is
    /// not finite, or `b` is zero, are left out.
    pub fn ratio(&self, a: K, b: K) -> Option<Stats> {
        let per_round: Vec<f64> = self
            .values(a)
            .iter()
            .zip(self.values(b))
            .map(|(x, y)| x / y)
            .collect();
        Stats::of_finite(&per_round)
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

#[cfg(test)]
mod tests;

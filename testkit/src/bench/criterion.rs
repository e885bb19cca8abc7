//! The criterion benchmarks' side of the harness: which `iter_custom`
//! calls are the measured samples, criterion's view of them, and the
//! interleaved pass that follows.

use std::sync::Mutex;

use super::{Ratio, Rounds, Stats, Unit, interleave, print_ratios, print_table};

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

    pub(super) fn parse(args: &[String], sample_size: usize) -> Self {
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

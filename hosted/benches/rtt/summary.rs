//! The summary after criterion's report: criterion's view, then the
//! interleaved pass with each turn's percentiles.

use std::time::{Duration, Instant};

use ipckit_testkit::bench::{CriterionRun, Stats, Summary, Unit};
use ipckit_testkit::pin;

use crate::session::Session;
use crate::{RATIOS, SAMPLES, Variant, spins};

/// Rounds of the interleaved pass, and the length of one variant's turn.
const ROUNDS: usize = 7;
const TURN: Duration = Duration::from_millis(150);
/// Untimed round trips at the start of each turn.
const TURN_WARM_UP: u32 = 200;

/// The `q` quantile (0..=1) of sorted `v`, nearest rank.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[i - 1]
}

/// Percentiles of one turn: p50, p90, p99, p99.9, max (ns).
const QUANTILES: [f64; 5] = [0.5, 0.9, 0.99, 0.999, 1.0];

/// Criterion's view, then every variant criterion ran in turn, [`ROUNDS`]
/// times, a fresh child per turn, each round trip timed on its own: the
/// turns' medians and the ratios between them in the harness's format, then
/// per variant the median over rounds of each turn's percentiles (a fast
/// turn holds more round trips than a slow one, so pooling them would weigh
/// the fast turns more).
pub fn print_summary(run: CriterionRun) {
    let summary = Summary {
        title: format!(
            "cross-process round trip of a u64 (interleaved: p50 of each {TURN:?} turn), \
             adaptive spins {}",
            spins()
        ),
        placement: pin::placement("parent", "child"),
        variants: &Variant::ALL,
        name: Variant::name,
        unit: Unit::Nanos,
        ratios: &RATIOS,
    };
    // Per variant: each turn's percentiles, and the round trips timed.
    let mut turns: Vec<(Variant, Vec<[f64; 5]>, usize)> = Vec::new();
    let mut laps = Vec::with_capacity(1 << 20);
    let pass = SAMPLES.summary(run, &summary, ROUNDS, |v, _| {
        let mut s = Session::start(v)?;
        s.run(u64::from(TURN_WARM_UP))?;
        laps.clear();
        let end = Instant::now() + TURN;
        while Instant::now() < end {
            s.laps(100, &mut laps)?;
        }
        s.stop()?;
        laps.sort_by(f64::total_cmp);
        let q = QUANTILES.map(|q| quantile(&laps, q));
        match turns.iter_mut().find(|t| t.0 == v) {
            Some(t) => {
                t.1.push(q);
                t.2 += laps.len();
            }
            None => turns.push((v, vec![q], laps.len())),
        }
        Ok::<_, String>(q[0])
    });
    if let Err(e) = pass {
        println!("interleaved pass failed: {e}");
        return;
    }
    if turns.is_empty() {
        return;
    }
    println!("percentiles of each turn, medians over the rounds");
    println!(
        "{:<16} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "variant", "trips", "p50", "p90", "p99", "p99.9", "max"
    );
    for (v, t, trips) in &turns {
        // The median over rounds of quantile `i`.
        let over_rounds = |i: usize| {
            let x: Vec<f64> = t.iter().map(|t| t[i]).collect();
            Stats::of(&x).map_or(f64::NAN, |s| s.median)
        };
        let max = t.iter().map(|t| t[4]).fold(0.0, f64::max);
        println!(
            "{:<16} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10}",
            v.name(),
            trips,
            Unit::Nanos.format(over_rounds(0)),
            Unit::Nanos.format(over_rounds(1)),
            Unit::Nanos.format(over_rounds(2)),
            Unit::Nanos.format(over_rounds(3)),
            Unit::Nanos.format(max),
        );
    }
}

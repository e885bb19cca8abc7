//! The interleaved schedule: every job measured once per round, in the
//! plan's order, round after round (A B C A B C ...), with the testkit's
//! [`interleave`], so that a slow spell of a shared or virtual machine hits
//! a row and its reference alike and the median over rounds shrugs it off.
//!
//! Each turn is a whole measurement: the mechanism set up, the peer forked
//! (or spawned), warmed up, measured for one turn's time, stopped and
//! reaped. Setting up per turn costs a few hundred microseconds against a
//! turn of 20 ms or more, and every turn then lands its ring on a fresh
//! mapping: the luck of one placement (the page colour of a ring, where its
//! lines fall) is sampled across rounds, not frozen into one run, which is
//! what makes two runs agree. A long-lived peer would need a protocol to
//! pause and resume every mechanism for no gain in agreement.
//!
//! A job that fails is not measured again (its later turns are NaN, which
//! the harness leaves out), and after Ctrl-C every remaining turn is.

use ipckit_testkit::bench::{Rounds, Stats, interleave};

use super::harness::{Sample, new_hist};

/// What the rounds of one job produced.
pub struct Outcome {
    /// All its turns' samples merged (for percentiles, counts, rates).
    pub all: Sample,
    /// Its first error, after which it was not measured again.
    pub failure: Option<String>,
}

/// The rounds of every job: values per round (NaN where not measured) and
/// each job's outcome.
pub struct Measured {
    pub rounds: Rounds<usize>,
    pub outcomes: Vec<Outcome>,
}

impl Measured {
    /// Job `i`'s median over rounds and spread; `None` if no turn measured.
    pub fn stats(&self, i: usize) -> Option<Stats> {
        self.rounds.stats(i)
    }

    /// The rounds that measured job `i`.
    pub fn measured_rounds(&self, i: usize) -> usize {
        self.rounds
            .values(i)
            .iter()
            .filter(|v| v.is_finite())
            .count()
    }

    /// The median over rounds of job `a`'s value / job `b`'s, and spread.
    pub fn ratio(&self, a: usize, b: usize) -> Option<Stats> {
        self.rounds.ratio(a, b)
    }
}

/// Runs `jobs` for `rounds` rounds: `turn(job)` measures one turn, `value`
/// is the turn's figure (its median); `stop()` says to measure nothing
/// more (Ctrl-C).
pub fn run<J>(
    jobs: &[J],
    rounds: usize,
    mut turn: impl FnMut(&J) -> Result<Sample, String>,
    value: impl Fn(&J, &Sample) -> f64,
    stop: impl Fn() -> bool,
) -> Measured {
    let mut outcomes: Vec<Outcome> = jobs
        .iter()
        .map(|_| Outcome {
            all: Sample {
                hist: new_hist(),
                count: 0,
                elapsed: std::time::Duration::ZERO,
            },
            failure: None,
        })
        .collect();
    let indices: Vec<usize> = (0..jobs.len()).collect();
    let rounds = interleave(&indices, rounds, |i| {
        let out = &mut outcomes[i];
        if out.failure.is_some() || stop() {
            return Ok::<_, std::convert::Infallible>(f64::NAN);
        }
        Ok(match turn(&jobs[i]) {
            Ok(s) => {
                let v = value(&jobs[i], &s);
                // Same bounds on both: adding cannot fail.
                let _ = out.all.hist.add(&s.hist);
                out.all.count += s.count;
                out.all.elapsed += s.elapsed;
                v
            }
            Err(e) => {
                out.failure = Some(e);
                f64::NAN
            }
        })
    });
    let rounds = match rounds {
        Ok(r) => r,
        Err(never) => match never {},
    };
    Measured { rounds, outcomes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::time::Duration;

    fn sample(v: u64) -> Sample {
        let mut hist = new_hist();
        hist.record(v).expect("in bounds");
        Sample {
            hist,
            count: 1,
            elapsed: Duration::from_millis(1),
        }
    }

    #[test]
    fn jobs_take_turns_round_after_round() {
        let order = RefCell::new(Vec::new());
        let m = run(
            &['a', 'b', 'c'],
            3,
            |&j| {
                order.borrow_mut().push(j);
                Ok(sample(if j == 'a' { 10 } else { 20 }))
            },
            |_, s| s.hist.value_at_quantile(0.5) as f64,
            || false,
        );
        assert_eq!(
            order.into_inner(),
            ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']
        );
        assert_eq!(m.stats(0).map(|s| s.median), Some(10.0));
        assert_eq!(m.measured_rounds(2), 3);
        assert_eq!(m.outcomes[1].all.count, 3);
        assert_eq!(m.ratio(1, 0).map(|r| r.median), Some(2.0));
    }

    #[test]
    fn a_slow_spell_cancels_in_the_ratio() {
        // Round 2 is three times as slow for everyone.
        let turns = Cell::new(0);
        let m = run(
            &[1u64, 2],
            3,
            |&j| {
                let slow = if turns.get() / 2 == 1 { 3 } else { 1 };
                turns.set(turns.get() + 1);
                Ok(sample(100 * j * slow))
            },
            |_, s| s.hist.value_at_quantile(0.5) as f64,
            || false,
        );
        let r = m.ratio(1, 0).expect("both measured");
        assert_eq!((r.median, r.min, r.max), (2.0, 2.0, 2.0));
        let s = m.stats(0).expect("measured");
        assert_eq!((s.median, s.min, s.max), (100.0, 100.0, 300.0));
    }

    #[test]
    fn a_failed_job_is_not_measured_again_and_stop_ends_all() {
        let order = RefCell::new(Vec::new());
        let m = run(
            &['a', 'b'],
            3,
            |&j| {
                order.borrow_mut().push(j);
                if j == 'b' {
                    Err("boom".to_string())
                } else {
                    Ok(sample(5))
                }
            },
            |_, s| s.hist.value_at_quantile(0.5) as f64,
            || false,
        );
        assert_eq!(order.into_inner(), ['a', 'b', 'a', 'a']);
        assert_eq!(m.outcomes[1].failure.as_deref(), Some("boom"));
        assert!(m.stats(1).is_none() && m.ratio(0, 1).is_none());
        assert_eq!(m.measured_rounds(0), 3);

        let calls = Cell::new(0);
        let m = run(
            &['a', 'b'],
            3,
            |_| {
                calls.set(calls.get() + 1);
                Ok(sample(5))
            },
            |_, s| s.hist.value_at_quantile(0.5) as f64,
            || calls.get() >= 3,
        );
        assert_eq!(calls.get(), 3);
        assert_eq!((m.measured_rounds(0), m.measured_rounds(1)), (2, 1));
    }
}

use super::criterion::*;
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

#[test]
fn rounds_leave_out_turns_that_measured_nothing() {
    let mut calls = 0;
    let rounds = interleave(&['a', 'b'], 3, |v| {
        calls += 1;
        // 'b' fails to measure in the second round.
        Ok::<_, ()>(if v == 'b' && calls == 4 {
            f64::NAN
        } else if v == 'a' {
            4.0
        } else {
            2.0
        })
    })
    .expect("no error");
    let b = rounds.stats('b').expect("two rounds measured");
    assert_eq!((b.median, b.min, b.max), (2.0, 2.0, 2.0));
    assert_eq!(rounds.ratio('a', 'b').map(|r| r.median), Some(2.0));
    let never = interleave(&['c'], 2, |_| Ok::<_, ()>(f64::NAN)).expect("no error");
    assert!(never.stats('c').is_none());
}

#[test]
fn spreads_are_disjoint_only_without_a_shared_value() {
    let s = |min, max| Stats {
        median: min,
        min,
        max,
    };
    assert!(s(1.0, 2.0).disjoint(&s(2.5, 3.0)));
    assert!(s(2.5, 3.0).disjoint(&s(1.0, 2.0)));
    assert!(!s(1.0, 2.0).disjoint(&s(2.0, 3.0)));
    assert!(!s(1.0, 4.0).disjoint(&s(2.0, 3.0)));
}

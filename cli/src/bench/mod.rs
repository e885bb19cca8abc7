//! `ipckit bench`: every mechanism side by side, across two processes
//! pinned to different CPUs.
//!
//! For each selected mechanism and message size it measures the round-trip
//! latency (we send, the peer echoes; median, p99, p99.9 from an HDR
//! histogram) and the one-way throughput (the peer sends as fast as it
//! can; batches of 64 messages timed). Every byte mechanism goes through
//! the same two generic functions over the message interface
//! ([`harness::ping_pong`], [`harness::throughput`]); the peer is a child
//! forked from the single-threaded main thread (threads for the in-process
//! peers rtrb and crossbeam); batched rows ([`batch`]) have their own
//! loops. The raw floors (cache-line ping-pong, raw futex, memcpy) are
//! measured like the rows. Every measurement takes one turn per round, in
//! turn with the others ([`rounds`]); a row is the median over rounds with
//! its spread, and carries the median of the rounds' ratios to its
//! reference ([`report::reference_of`]). `--save` / `--compare` ([`saved`])
//! keep a run with its machine ([`machine`]) and compare with it.

mod batch;
mod cleanup;
mod floors;
mod harness;
mod machine;
mod mechanisms;
mod peer;
mod plan;
mod report;
mod rounds;
mod saved;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::fail::{Fail, Result};
use ipckit_testkit::pin;
use machine::Machine;
use mechanisms::{Mech, Metric, SIZES};
use plan::Job;
use report::Row;

/// Arguments of `ipckit bench`.
#[derive(clap::Args, Debug)]
#[command(after_help = mechanisms_help())]
pub struct Args {
    /// Short measurements (under a minute in all on two cores).
    #[arg(long)]
    pub quick: bool,
    /// Measured time of one turn of each measurement, e.g. `50ms`, `1s`
    /// (default 60ms; 20ms with --quick).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Rounds: every measurement takes one turn per round, in turn with
    /// the others (default 7); rows report the median over rounds and its
    /// spread.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub rounds: Option<u32>,
    /// Mechanisms to measure, comma-separated (default: all; see below).
    /// Their references are measured too.
    #[arg(long, short, value_delimiter = ',')]
    pub mechanisms: Vec<String>,
    /// Message sizes, comma-separated: 8, 64, 4k (4096), 64k (65536).
    #[arg(long, short, value_delimiter = ',')]
    pub sizes: Vec<String>,
    /// Print the rows as JSON (an array of objects) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write a bar chart of the round trips (log scale) to this SVG file.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Write the run (rows and the machine) to this JSON file, for
    /// --compare later.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Compare each row with the run saved in this file (--save): its
    /// change, marked where beyond both runs' spreads (repeatable).
    #[arg(long)]
    pub compare: Vec<PathBuf>,
}

fn mechanisms_help() -> String {
    let mut s = String::from("Mechanisms:\n");
    for m in Mech::ALL {
        s.push_str(&format!("  {:<15} {}\n", m.name(), m.describe()));
    }
    s.push_str(
        "\nRatios: shared-memory round trips against cache-line (the hardware's floor), the \
         kernel's against futex, throughput against memcpy of the same size (cost / reference \
         cost, the median of the rounds' ratios). `xN` rows move N items per call.\n\
         \nOn a virtual machine the round trips move with where the host runs the two vCPUs: \
         the cache-line floor itself reads about 60 ns in one spell and 400 ns in the next. \
         And a busy neighbour on the peer's CPU costs blocking rows their round trip (the \
         woken peer waits for the CPU) and busy-polling rows their throughput. Compare a \
         row's ratio to its reference (same rounds), not medians from different spells. \
         `cargo bench -p ipckit --bench vs_core` compares the channels with their core rings.\n\
         \nBefore and after a change: `ipckit bench --quick --save before.json`, change, \
         rebuild, `ipckit bench --quick --compare before.json`.",
    );
    s
}

fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let (num, scale) = if let Some(v) = s.strip_suffix("ms") {
        (v, 1e-3)
    } else if let Some(v) = s.strip_suffix("us") {
        (v, 1e-6)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (e.g. 300ms, 1s)"))?;
    if !(v > 0.0 && v * scale <= 600.0) {
        return Err(format!(
            "duration {s:?} out of range (above 0, at most 600 s)"
        ));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

fn parse_size(s: &str) -> Option<usize> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.trim_end_matches("ib").trim_end_matches('b');
    let v = if let Some(k) = t.strip_suffix('k') {
        k.trim().parse::<usize>().ok()? * 1024
    } else {
        t.trim().parse().ok()?
    };
    SIZES.contains(&v).then_some(v)
}

/// Runs `ipckit bench`.
pub fn run(args: Args) -> Result<()> {
    let mechs: Vec<Mech> = if args.mechanisms.is_empty() {
        Mech::ALL.to_vec()
    } else {
        args.mechanisms
            .iter()
            .map(|s| {
                Mech::parse(s.trim()).ok_or_else(|| {
                    let known: Vec<&str> = Mech::ALL.iter().map(|m| m.name()).collect();
                    Fail::usage(format!(
                        "unknown mechanism {s:?}; known: {}",
                        known.join(", ")
                    ))
                })
            })
            .collect::<Result<_>>()?
    };
    let sizes: Vec<usize> = if args.sizes.is_empty() {
        SIZES.to_vec()
    } else {
        args.sizes
            .iter()
            .map(|s| {
                parse_size(s).ok_or_else(|| {
                    Fail::usage(format!("unknown size {s:?}; known: 8, 64, 4k, 64k"))
                })
            })
            .collect::<Result<_>>()?
    };
    let turn = args.duration.unwrap_or(if args.quick {
        Duration::from_millis(20)
    } else {
        Duration::from_millis(60)
    });
    let rounds = args.rounds.unwrap_or(7) as usize;
    let warm_up = (turn / 4).min(Duration::from_millis(100));
    if let Some(path) = &args.svg {
        // Fail before measuring, not after.
        std::fs::File::create(path).map_err(|e| Fail::new(format!("{}: {e}", path.display())))?;
    }
    let compare_with = args
        .compare
        .iter()
        .map(|path| saved::load(path).map_err(Fail::new))
        .collect::<Result<Vec<_>>>()?;

    if mechs.contains(&Mech::Signal) {
        // Blocked before any thread exists (the Ctrl-C handler's), so that
        // every thread inherits the mask and the signal only ever reaches
        // the signalfd.
        mechanisms::block_bench_signal().map_err(Fail::new)?;
    }
    cleanup::install();
    let machine = Machine::this(pin::pin_main());
    let (jobs, skipped) = plan::plan(&mechs, &sizes);
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new((jobs.len() * rounds) as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let header = format!(
        "ipckit bench: {}; kernel {}; {rounds} interleaved rounds of {turn:?} per measurement; \
         round trips timed one by one are net of the clock ({} ns per reading pair)",
        machine.placement(),
        machine.kernel,
        harness::clock_pair_ns(),
    );
    let mut copy_bufs = if jobs.iter().any(|j| j.mech == Mech::Memcpy) {
        floors::copy_buffers()
    } else {
        (Vec::new(), Vec::new())
    };
    let started = Instant::now();
    let measured = rounds::run(
        &jobs,
        rounds,
        |job| {
            bar.set_message(job.label());
            let r = measure(job, turn, warm_up, &mut copy_bufs);
            if let Err(e) = &r {
                bar.suspend(|| eprintln!("ipckit bench: {}: {e}", job.label()));
            }
            bar.inc(1);
            r
        },
        |job, s| {
            let scale = if job.metric == Metric::Throughput {
                1000.0
            } else {
                1.0
            };
            s.hist.value_at_quantile(0.5) as f64 / scale
        },
        cleanup::interrupted,
    );
    bar.finish_and_clear();
    cleanup::clean();
    let failures: Vec<String> = jobs
        .iter()
        .zip(&measured.outcomes)
        .filter_map(|(j, o)| Some(format!("{}: {}", j.label(), o.failure.as_ref()?)))
        .collect();
    let mut rows = rows_of(&jobs, &measured);
    report::sort(&mut rows);

    let mut text = if args.json {
        for s in &skipped {
            eprintln!("ipckit bench: not measured: {s}");
        }
        report::json(&rows) + "\n"
    } else {
        let mut t = format!("{header}\n\n{}", report::table(&rows));
        if !skipped.is_empty() {
            t.push_str("\nnot measured:\n");
            for s in &skipped {
                t.push_str(&format!("  {s}\n"));
            }
        }
        t.push('\n');
        let versus = |a: Mech, b: Mech, size: usize| {
            let at = |mech| {
                jobs.iter().position(|j| {
                    *j == Job {
                        mech,
                        metric: Metric::Rtt,
                        size,
                        batch: None,
                    }
                })
            };
            measured.ratio(at(a)?, at(b)?)
        };
        let goals = report::goals(&rows, versus);
        let notes = floors::winners().into_iter().chain(goals);
        for line in notes.chain(report::below_floor(&rows)) {
            t.push_str(&format!("{line}\n"));
        }
        t.push_str(&format!(
            "{} rows in {:.1} s. Median: over the rounds of each round's median; spread: the \
             lowest and highest round's. Ratio: cost / reference cost, the median of the rounds' \
             ratios (round trips: ns / ns; throughput: ns per message / ns per message).\n",
            rows.len(),
            started.elapsed().as_secs_f64()
        ));
        t
    };
    for (saved, path) in compare_with.iter().zip(&args.compare) {
        let cmp = saved::compare(saved, &path.display().to_string(), &machine, &rows);
        if args.json {
            eprint!("{cmp}");
        } else {
            text.push('\n');
            text.push_str(&cmp);
        }
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    if let Some(path) = &args.save {
        let json = saved::to_json(&machine, rounds, turn.as_secs_f64() * 1e3, &rows);
        saved::save(path, &json).map_err(Fail::new)?;
    }
    if let Some(path) = &args.svg {
        let title = format!("ipckit bench: median round trip ({})", machine.cpu_model);
        report::svg(&rows, path, &title).map_err(Fail::new)?;
    }
    if cleanup::interrupted() {
        return Err(Fail::new("interrupted"));
    }
    if !failures.is_empty() {
        return Err(Fail::new(format!(
            "{} measurement(s) failed: {}",
            failures.len(),
            failures.join("; ")
        )));
    }
    Ok(())
}

/// One turn of `job`.
fn measure(
    job: &Job,
    turn: Duration,
    warm_up: Duration,
    copy_bufs: &mut (Vec<u8>, Vec<u8>),
) -> std::result::Result<harness::Sample, String> {
    match (job.mech, job.metric, job.batch) {
        (m, _, Some(_)) => batch::throughput(m, job.size, turn),
        (Mech::CacheLine, ..) => floors::cache_line(turn, warm_up),
        (Mech::Futex, ..) => floors::futex(turn, warm_up),
        (Mech::Memcpy, ..) => Ok(floors::memcpy(job.size, turn, copy_bufs)),
        (m, metric, None) => mechanisms::setup(m, job.size).and_then(|setup| match metric {
            Metric::Rtt => harness::ping_pong(setup, job.size, turn, warm_up),
            Metric::Throughput => harness::throughput(setup, job.size, turn),
        }),
    }
}

/// The rows of the jobs that measured, with their ratios to their
/// references (per round, then the median).
fn rows_of(jobs: &[Job], measured: &rounds::Measured) -> Vec<Row> {
    let mut rows = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let Some(stats) = measured.stats(i) else {
            continue;
        };
        let mut row = Row::new(
            job,
            stats,
            measured.measured_rounds(i),
            &measured.outcomes[i].all,
        );
        let (mech, size) = report::reference_of(job.mech, job.metric, job.size);
        let reference = Job {
            mech,
            size,
            metric: if mech == Mech::Memcpy {
                Metric::Throughput
            } else {
                Metric::Rtt
            },
            batch: None,
        };
        let ratio = jobs
            .iter()
            .position(|j| *j == reference)
            .and_then(|r| measured.ratio(i, r));
        row.set_ratio(&reference, ratio);
        rows.push(row);
    }
    rows
}

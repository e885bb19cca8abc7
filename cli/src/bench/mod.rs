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
//! peers rtrb and crossbeam). The raw floors (cache-line ping-pong, raw
//! futex, memcpy) run in the same run, and every row carries its ratio to
//! its reference ([`report::reference_of`]).

mod cleanup;
mod floors;
mod harness;
mod mechanisms;
mod peer;
mod report;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::fail::{Fail, Result};
use ipckit_testkit::pin;
use mechanisms::{Mech, Metric, SIZES};
use report::Row;

/// Arguments of `ipckit bench`.
#[derive(clap::Args, Debug)]
#[command(after_help = mechanisms_help())]
pub struct Args {
    /// Short measurements (under 30 s in all on two cores).
    #[arg(long)]
    pub quick: bool,
    /// Time of each measurement, e.g. `300ms`, `1s` (default 400ms; 40ms
    /// with --quick).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
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
}

fn mechanisms_help() -> String {
    let mut s = String::from("Mechanisms:\n");
    for m in Mech::ALL {
        s.push_str(&format!("  {:<15} {}\n", m.name(), m.describe()));
    }
    s.push_str(
        "\nRatios: busy-polling round trips against cache-line, sleeping ones against futex, \
         throughput against memcpy of the same size (cost / reference cost).",
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

/// One measurement to make.
#[derive(Clone, Copy, Debug)]
struct Job {
    mech: Mech,
    metric: Metric,
    size: usize,
}

fn plan(mechs: &[Mech], sizes: &[usize]) -> (Vec<Job>, Vec<String>) {
    let mut jobs: Vec<Job> = Vec::new();
    let mut skipped = Vec::new();
    let add = |jobs: &mut Vec<Job>, mech: Mech, metric: Metric, size: usize| {
        if !jobs
            .iter()
            .any(|j| j.mech == mech && j.metric == metric && j.size == size)
        {
            jobs.push(Job { mech, metric, size });
        }
    };
    // References first.
    for &m in mechs {
        for metric in [Metric::Rtt, Metric::Throughput] {
            for &size in sizes {
                let size = m.fixed_size().unwrap_or(size);
                if mechanisms::why_not(m, metric, size).is_none() {
                    let (r, rs) = report::reference_of(m, metric, size);
                    add(&mut jobs, r, metric, rs);
                }
            }
        }
    }
    for &size in sizes {
        for &m in mechs {
            for metric in [Metric::Rtt, Metric::Throughput] {
                let size = m.fixed_size().unwrap_or(size);
                match mechanisms::why_not(m, metric, size) {
                    None => add(&mut jobs, m, metric, size),
                    // The floors' own gaps are plain (no round trip for a copy).
                    Some(_) if matches!(m, Mech::Memcpy | Mech::CacheLine | Mech::Futex) => {}
                    Some(why) => {
                        let line = format!(
                            "{} {} {}: {why}",
                            m.name(),
                            metric.name(),
                            report::size_label(size)
                        );
                        if !skipped.contains(&line) {
                            skipped.push(line);
                        }
                    }
                }
            }
        }
    }
    (jobs, skipped)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
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
    let duration = args.duration.unwrap_or(if args.quick {
        Duration::from_millis(40)
    } else {
        Duration::from_millis(400)
    });
    let warm_up = (duration / 4).min(Duration::from_millis(100));
    if let Some(path) = &args.svg {
        // Fail before measuring, not after.
        std::fs::File::create(path).map_err(|e| Fail::new(format!("{}: {e}", path.display())))?;
    }

    if mechs.contains(&Mech::Signal) {
        // Blocked before any thread exists (the Ctrl-C handler's), so that
        // every thread inherits the mask and the signal only ever reaches
        // the signalfd.
        mechanisms::block_bench_signal().map_err(Fail::new)?;
    }
    cleanup::install();
    pin::pin_main();
    let (jobs, skipped) = plan(&mechs, &sizes);
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(jobs.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let header = format!(
        "ipckit bench: {}, {}; {duration:?} per measurement",
        cpu_model(),
        match pin::pair() {
            Some(p) => format!("measuring side on CPU {}, peer on CPU {}", p.main, p.peer),
            None => "one CPU: unpinned, peers share it".into(),
        },
    );
    let mut copy_bufs = if jobs.iter().any(|j| j.mech == Mech::Memcpy) {
        (vec![1u8; 64 << 20], vec![0u8; 64 << 20])
    } else {
        (Vec::new(), Vec::new())
    };
    let started = Instant::now();
    let mut rows: Vec<Row> = Vec::new();
    let mut failures = Vec::new();
    for job in &jobs {
        if cleanup::interrupted() {
            break;
        }
        bar.set_message(format!(
            "{} {} {}",
            job.mech.name(),
            job.metric.name(),
            report::size_label(job.size)
        ));
        let sample = match (job.mech, job.metric) {
            (Mech::CacheLine, _) => floors::ping_pong(false, duration, warm_up),
            (Mech::Futex, _) => floors::ping_pong(true, duration, warm_up),
            (Mech::Memcpy, _) => Ok(floors::memcpy(job.size, duration, &mut copy_bufs)),
            (m, metric) => mechanisms::setup(m, job.size).and_then(|setup| match metric {
                Metric::Rtt => harness::ping_pong(setup, job.size, duration, warm_up),
                Metric::Throughput => harness::throughput(setup, job.size, duration),
            }),
        };
        match sample {
            Ok(s) => rows.push(Row::new(job.mech, job.metric, job.size, &s)),
            Err(e) => {
                let line = format!(
                    "{} {} {}: {e}",
                    job.mech.name(),
                    job.metric.name(),
                    report::size_label(job.size)
                );
                bar.suspend(|| eprintln!("ipckit bench: {line}"));
                failures.push(line);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    cleanup::clean();
    report::add_ratios(&mut rows);
    report::sort(&mut rows);

    let mut out = std::io::stdout().lock();
    let text = if args.json {
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
        t.push_str(&format!(
            "\n{} measurements in {:.1} s. Ratio: cost / reference cost in the same run \
             (round trips: median / reference median; throughput: reference rate / rate).\n",
            rows.len(),
            started.elapsed().as_secs_f64()
        ));
        t
    };
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    if let Some(path) = &args.svg {
        let title = format!("ipckit bench: median round trip ({})", cpu_model());
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

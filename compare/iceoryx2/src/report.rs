//! What a run prints: the machine and its load, one table per message
//! length (median round trip over rounds, the lowest and highest round,
//! and the same-round ratios to the byte channel and to iceoryx2's busy
//! pub/sub), and the goals' verdicts.

use ipckit_testkit::bench::{Goal, Ratio, Rounds, Stats, Unit, print_ratios};
use ipckit_testkit::pin::CpuPair;

use crate::{Args, Job, Mechanism};

/// The iceoryx2 release this crate pins (Cargo.toml).
const ICEORYX2: &str = "0.10.0";

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn cpu_model() -> String {
    read("/proc/cpuinfo")
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// The 1, 5 and 15 minute load averages.
fn load() -> String {
    read("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// The run's header: machine, placement, load, settings.
pub fn header(pair: Option<CpuPair>, args: &Args) {
    println!("ipckit vs iceoryx2 {ICEORYX2}: ping-pong round trips between two processes");
    println!("cpu:   {} ({} online)", cpu_model(), online_cpus());
    match pair {
        Some(p) => println!(
            "pins:  measuring side on CPU {}, peer on CPU {} ({})",
            p.main,
            p.peer,
            p.relation()
        ),
        None => println!("pins:  none (fewer than two CPUs)"),
    }
    println!(
        "kernel {}; load average (1/5/15 min) at start: {}",
        read("/proc/sys/kernel/osrelease").map_or("unknown".into(), |s| s.trim().to_string()),
        load()
    );
    println!(
        "{} rounds; each round runs every row once, a fresh peer process each, timing \
         batches of {} round trips for {:?}",
        args.rounds,
        crate::harness::BATCH,
        args.turn
    );
}

fn online_cpus() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

/// The load at the end of the run.
pub fn footer() {
    println!("\nload average (1/5/15 min) at end: {}", load());
}

fn size_name(words: usize) -> String {
    match words * 8 {
        b if b >= 1024 => format!("{} KiB", b / 1024),
        b => format!("{b} B"),
    }
}

fn ratio_cell(s: Option<Stats>) -> String {
    s.map_or_else(
        || "-".into(),
        |s| format!("{:.2} ({:.2}..{:.2})", s.median, s.min, s.max),
    )
}

/// One table per message length, then the goals.
pub fn tables(rounds: &Rounds<Job>, sizes: &[usize]) {
    for &bytes in sizes {
        let words = bytes / 8;
        let job = |mechanism| Job { mechanism, words };
        let channel = job(Mechanism::Channel);
        let iceoryx = job(Mechanism::IceoryxBusy);
        println!(
            "\n{} round trip: median of {} rounds (a round's value: the median of its \
             batches); min..max of the rounds; ratios: median of the rounds' ratios",
            size_name(words),
            rounds.rounds()
        );
        let width = Mechanism::ALL
            .iter()
            .map(|m| m.label().len())
            .max()
            .unwrap_or(0);
        println!(
            "{:<width$} {:>9} {:>21} {:>21} {:>21}",
            "mechanism", "median", "spread (min..max)", "/ byte channel", "/ iceoryx2 busy"
        );
        for mechanism in Mechanism::ALL {
            let Some(s) = rounds.stats(job(mechanism)) else {
                continue;
            };
            println!(
                "{:<width$} {:>9} {:>21} {:>21} {:>21}",
                mechanism.label(),
                Unit::Nanos.format(s.median),
                format!(
                    "{}..{}",
                    Unit::Nanos.format(s.min),
                    Unit::Nanos.format(s.max)
                ),
                ratio_cell(rounds.ratio(job(mechanism), channel)),
                ratio_cell(rounds.ratio(job(mechanism), iceoryx)),
            );
        }
        let pubsub = job(Mechanism::PubSub);
        let mut ratios = vec![
            Ratio::new(
                "ipckit pub/sub busy / iceoryx2 busy",
                job(Mechanism::PubSubBusy),
                iceoryx,
            ),
            Ratio::new(
                "ipckit pub/sub sleep / iceoryx2 + event",
                job(Mechanism::PubSubSleep),
                job(Mechanism::IceoryxEvent),
            ),
        ];
        if bytes == 64 {
            ratios.insert(
                0,
                Ratio::new("ipckit pub/sub blocking / byte channel", pubsub, channel)
                    .goal(Goal::AtMost(1.5)),
            );
            ratios.insert(
                1,
                Ratio::new("ipckit pub/sub blocking / iceoryx2 busy", pubsub, iceoryx)
                    .goal(Goal::AtMost(1.0)),
            );
        }
        print_ratios(
            &format!(
                "goals and like-for-like ratios ({}, same rounds)",
                size_name(words)
            ),
            &ratios,
            |a, b| rounds.ratio(a, b),
        );
    }
}

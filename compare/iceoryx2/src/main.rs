//! ipckit's byte channel and pub/sub against iceoryx2's publish/subscribe,
//! in one run: 64 B (and 64 KiB) ping-pong round trips between two
//! processes on two CPUs, every mechanism in turn, round after round, so a
//! slow spell of a shared machine hits every row alike. See README.md.
//!
//! ```text
//! ipckit-compare-iceoryx2 [--rounds N] [--turn-ms MS] [--sizes 64,65536] [FILTER...]
//! ```
//!
//! A FILTER keeps the mechanisms whose name contains it (the byte channel
//! and iceoryx2's busy pub/sub always run: the ratios need them). The
//! program starts itself as the peer (`peer MECHANISM WORDS NAME CPU`).

mod channel;
mod harness;
mod iceoryx;
mod pubsub;
mod report;

use std::time::Duration;

use ipckit_testkit::bench::interleave;
use ipckit_testkit::pin;

use harness::{PeerSpec, drive, peer_setup, serve};

/// The mechanisms, in the order each round runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    Channel,
    PubSub,
    PubSubSleep,
    PubSubBusy,
    IceoryxBusy,
    IceoryxEvent,
}

impl Mechanism {
    const ALL: [Mechanism; 6] = [
        Mechanism::Channel,
        Mechanism::PubSub,
        Mechanism::PubSubSleep,
        Mechanism::PubSubBusy,
        Mechanism::IceoryxBusy,
        Mechanism::IceoryxEvent,
    ];

    /// The name on the command line (and of the peer's argument).
    fn arg(self) -> &'static str {
        match self {
            Mechanism::Channel => "channel",
            Mechanism::PubSub => "pubsub",
            Mechanism::PubSubSleep => "pubsub-sleep",
            Mechanism::PubSubBusy => "pubsub-busy",
            Mechanism::IceoryxBusy => "iceoryx2-busy",
            Mechanism::IceoryxEvent => "iceoryx2-event",
        }
    }

    /// The name in the table.
    pub fn label(self) -> &'static str {
        match self {
            Mechanism::Channel => "ipckit byte channel, blocking",
            Mechanism::PubSub => "ipckit pub/sub, blocking",
            Mechanism::PubSubSleep => "ipckit pub/sub, sleep at once",
            Mechanism::PubSubBusy => "ipckit pub/sub, busy poll",
            Mechanism::IceoryxBusy => "iceoryx2 pub/sub, busy poll",
            Mechanism::IceoryxEvent => "iceoryx2 pub/sub + event, blocking",
        }
    }

    fn from_arg(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.arg() == s)
    }

    /// One turn of the measuring side.
    fn measure(self, spec: &PeerSpec<'_>) -> Result<f64, String> {
        let (name, words) = (spec.name, spec.words);
        let f = |link: &mut dyn harness::Link| drive(link, spec);
        match self {
            Mechanism::Channel => channel::parent(name, words, f),
            Mechanism::PubSub => pubsub::parent(name, words, pubsub::Wait::Blocking, f),
            Mechanism::PubSubSleep => pubsub::parent(name, words, pubsub::Wait::Sleep, f),
            Mechanism::PubSubBusy => pubsub::parent(name, words, pubsub::Wait::Busy, f),
            Mechanism::IceoryxBusy => iceoryx::parent(name, words, iceoryx::Wait::Busy, f),
            Mechanism::IceoryxEvent => iceoryx::parent(name, words, iceoryx::Wait::Event, f),
        }
    }

    /// The peer's side.
    fn serve(self, name: &str, words: usize) -> Result<(), String> {
        let f = |link: &mut dyn harness::Link| serve(link, words);
        match self {
            Mechanism::Channel => channel::peer(name, words, f),
            Mechanism::PubSub => pubsub::peer(name, words, pubsub::Wait::Blocking, f),
            Mechanism::PubSubSleep => pubsub::peer(name, words, pubsub::Wait::Sleep, f),
            Mechanism::PubSubBusy => pubsub::peer(name, words, pubsub::Wait::Busy, f),
            Mechanism::IceoryxBusy => iceoryx::peer(name, words, iceoryx::Wait::Busy, f),
            Mechanism::IceoryxEvent => iceoryx::peer(name, words, iceoryx::Wait::Event, f),
        }
    }
}

/// One row of a run: a mechanism at a message length (in `u64`s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Job {
    pub mechanism: Mechanism,
    pub words: usize,
}

struct Args {
    rounds: usize,
    turn: Duration,
    sizes: Vec<usize>,
    filters: Vec<String>,
}

const USAGE: &str = "usage: ipckit-compare-iceoryx2 [--rounds N] [--turn-ms MS] \
                     [--sizes 64,65536] [FILTER...]";

fn parse(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args {
        rounds: 7,
        turn: Duration::from_millis(40),
        sizes: vec![64, 65536],
        filters: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value\n{USAGE}"));
        match a.as_str() {
            "--rounds" => parsed.rounds = value()?.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--turn-ms" => {
                let ms = value()?.parse().map_err(|e| format!("--turn-ms: {e}"))?;
                parsed.turn = Duration::from_millis(ms);
            }
            "--sizes" => {
                parsed.sizes = value()?
                    .split(',')
                    .map(|s| match s.trim() {
                        "64" => Ok(64),
                        "65536" | "64k" | "64K" => Ok(65536),
                        other => Err(format!("--sizes: {other} (64 or 65536)")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "-h" | "--help" => return Err(USAGE.into()),
            f if f.starts_with('-') => return Err(format!("unknown option {f}\n{USAGE}")),
            f => parsed.filters.push(f.to_string()),
        }
    }
    if parsed.rounds == 0 {
        return Err("--rounds must be at least 1".into());
    }
    Ok(parsed)
}

fn peer_main(args: &[String]) -> Result<(), String> {
    let [mechanism, words, name, cpu] = args else {
        return Err("peer MECHANISM WORDS NAME CPU".into());
    };
    let mechanism =
        Mechanism::from_arg(mechanism).ok_or(format!("unknown mechanism {mechanism}"))?;
    let words: usize = words.parse().map_err(|e| format!("words: {e}"))?;
    peer_setup(cpu.parse().ok());
    mechanism.serve(name, words)
}

fn main_side(args: Args) -> Result<(), String> {
    let pair = pin::pair();
    report::header(pair, &args);
    let pinned = pin::pin_main();
    if pinned.is_none() {
        println!("(not pinned: fewer than two CPUs, or pinning failed)");
    }
    let mut jobs = Vec::new();
    for &bytes in &args.sizes {
        for mechanism in Mechanism::ALL {
            let always = matches!(mechanism, Mechanism::Channel | Mechanism::IceoryxBusy);
            let chosen = args.filters.is_empty()
                || args
                    .filters
                    .iter()
                    .any(|f| mechanism.arg().contains(f.as_str()));
            if always || chosen {
                jobs.push(Job {
                    mechanism,
                    words: bytes / 8,
                });
            }
        }
    }
    let pid = std::process::id();
    let mut turn = 0u32;
    let rounds = interleave(&jobs, args.rounds, |job| {
        turn += 1;
        let name = format!("ipckit-cmp-{pid}-{turn}");
        let spec = PeerSpec {
            mechanism: job.mechanism.arg(),
            words: job.words,
            name: &name,
            cpu: pinned.map(|p| p.peer),
            turn: args.turn,
        };
        job.mechanism
            .measure(&spec)
            .map_err(|e| format!("{} ({} B): {e}", job.mechanism.label(), job.words * 8))
    })?;
    report::tables(&rounds, &args.sizes);
    report::footer();
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("peer") => peer_main(&args[1..]),
        _ => parse(&args).and_then(main_side),
    };
    if let Err(e) = result {
        eprintln!("ipckit-compare-iceoryx2: {e}");
        std::process::exit(1);
    }
}

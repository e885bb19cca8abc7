//! Cross-process round-trip latency: a parent process (pinned to the first
//! allowed CPU) sends a `u64` to a `fork()`ed child (pinned to the second),
//! which sends it straight back. Seven ways of doing that, measured in the
//! same run:
//!
//! | variant            | what moves the message, and how each side waits |
//! |--------------------|--------------------------------------------------|
//! | `spsc/futex`       | two waking SPSC rings, blocking `push`/`pop` with `Futex::new()`: sleep in the kernel at once |
//! | `spsc/adaptive`    | the same with `Futex::adaptive(SPINS)`: spin first, then sleep |
//! | `spsc/spin`        | two non-waking rings, blocking `push`/`pop` with the core's `Spin` notifier |
//! | `spsc/busy_poll`   | two non-waking rings, `try_push`/`try_pop` loops |
//! | `raw/futex`        | two shared words, `FUTEX_WAIT`/`FUTEX_WAKE` (shared, not private): the kernel floor |
//! | `raw/eventfd`      | two eventfds inherited across `fork`, blocking `read`/`write` |
//! | `raw/cache_line`   | two `AtomicU32` on separate 128-byte lines, each side spinning until its word changes: the hardware floor |
//!
//! Run with `cargo bench -p ipckit --bench rtt` (add a filter such as
//! `-- spsc/` to run some variants only). `IPCKIT_RTT_SPINS=<n>` overrides
//! the adaptive variant's spin budget, for tuning on another machine.
//!
//! # How it is measured
//! Each benchmark forks its child once (on its first sample) and keeps it
//! for all of criterion's warm-up and measurement calls; `iter_custom(n)`
//! times `n` round trips. The child runs an echo loop on the same channel and
//! leaves it on a stop message, after which the parent reaps it. Every
//! request carries a fresh sequence number and the reply is checked.
//!
//! Blocking calls take a timeout of [`WAIT_SLICE`] (as a real caller that
//! must notice a dead peer would), so the SPSC variants read the clock once
//! per blocking call and, while spinning, once per spin; the raw futex waits
//! take the same timeout. When a slice passes without a reply, the parent
//! looks at its child with `waitpid(WNOHANG)`: a dead child fails the
//! benchmark at once, a silent live one after [`STALL_LIMIT`](child::STALL_LIMIT). Eventfd reads
//! have no timeout; a `SIGALRM` (unblocked only while an eventfd sample runs)
//! interrupts them for the same check. The child dies with the parent
//! (`PR_SET_PDEATHSIG`) and is SIGKILLed and reaped if the parent fails.
//!
//! After criterion's report, a summary prints the median round trip of each
//! variant (over the `ns/iter` of criterion's own measured samples) and the
//! ratios that the targets are stated in, then an interleaved pass: every
//! variant in turn, for several rounds, a fresh child each turn, each round
//! trip timed on its own. It gives percentiles, and ratios that a slow spell
//! of the (shared, virtual) machine cannot skew, because both sides of each
//! ratio are measured within a second of each other.
//!
//! The child may be forked while criterion's analysis threads exist, so it
//! only makes async-signal-safe calls: atomics, system calls, `_exit`; no
//! allocation, no panic, no I/O beyond the channel.
//!
//! # Modules
//! [`child`] forks and watches the echo child; [`session`] keeps one
//! variant's channel and child across criterion's calls and times the round
//! trips; [`spsc`], [`words`] (raw futex and cache line) and [`eventfd`] are
//! the channels; [`summary`] prints what follows criterion's report.

mod child;
mod eventfd;
mod session;
mod spsc;
mod summary;
mod words;

use std::sync::OnceLock;
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use ipckit_testkit::bench::{CriterionRun, Goal, Ratio, Samples};
use ipckit_testkit::pin;

use eventfd::watchdog;
use session::Session;
use summary::print_summary;

/// Criterion's sample count, also used to pick the measured samples out of
/// everything `iter_custom` saw.
const SAMPLE_SIZE: usize = 20;
/// Criterion's measurement time per variant.
const MEASUREMENT: Duration = Duration::from_millis(2500);
/// Criterion's warm-up time per variant.
const WARM_UP: Duration = Duration::from_secs(1);
/// The adaptive variant's spin budget. Tuned on the 2-vCPU KVM machine
/// (AMD EPYC) this was written on: one spin costs about 31 ns (about 54 ns
/// when the call has a timeout, which reads the clock on every spin), so 1000
/// spins last about as long as one futex sleep and wake-up (a `raw/futex`
/// round trip is about 40 us there), the classic break-even point. In an
/// interleaved sweep every budget from 100 up answered the busy echo peer
/// within 1.4x of busy-polling at the median; 100 fell asleep on small
/// hiccups (p99.9 about 40 us, against about 4 us from 1000 up), and 2000 or
/// 5000 were no better than 1000 while burning more CPU before sleeping.
const SPINS: u32 = 1000;
/// The request that makes a child leave its echo loop (`u64::MAX` is not a
/// value an eventfd accepts).
const STOP: u64 = u64::MAX - 1;
/// The timeout of every blocking call of the parent and the child.
const WAIT_SLICE: Duration = Duration::from_millis(200);

/// The variants, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Variant {
    SpscFutex,
    SpscAdaptive,
    SpscSpin,
    SpscBusy,
    RawFutex,
    Eventfd,
    CacheLine,
}

impl Variant {
    const ALL: [Variant; 7] = [
        Variant::SpscFutex,
        Variant::SpscAdaptive,
        Variant::SpscSpin,
        Variant::SpscBusy,
        Variant::RawFutex,
        Variant::Eventfd,
        Variant::CacheLine,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::SpscFutex => "spsc/futex",
            Variant::SpscAdaptive => "spsc/adaptive",
            Variant::SpscSpin => "spsc/spin",
            Variant::SpscBusy => "spsc/busy_poll",
            Variant::RawFutex => "raw/futex",
            Variant::Eventfd => "raw/eventfd",
            Variant::CacheLine => "raw/cache_line",
        }
    }
}

/// The ratios the summary reports (of round-trip times: lower is better).
const RATIOS: [Ratio<Variant>; 5] = [
    Ratio::new(
        "futex SPSC / raw futex",
        Variant::SpscFutex,
        Variant::RawFutex,
    )
    .goal(Goal::AtMost(1.2)),
    Ratio::new(
        "adaptive SPSC / busy-poll SPSC",
        Variant::SpscAdaptive,
        Variant::SpscBusy,
    )
    .goal(Goal::AtMost(3.0)),
    Ratio::new(
        "busy-poll SPSC / cache line",
        Variant::SpscBusy,
        Variant::CacheLine,
    )
    .goal(Goal::AtMost(2.0)),
    Ratio::new("eventfd / raw futex", Variant::Eventfd, Variant::RawFutex),
    Ratio::new(
        "spin SPSC / busy-poll SPSC",
        Variant::SpscSpin,
        Variant::SpscBusy,
    ),
];

/// `ns` per round trip of every `iter_custom` call, per variant.
static SAMPLES: Samples<Variant> = Samples::new();

/// The adaptive spin budget in use: [`SPINS`] or `IPCKIT_RTT_SPINS`.
fn spins() -> u32 {
    static SPINS_IN_USE: OnceLock<u32> = OnceLock::new();
    *SPINS_IN_USE.get_or_init(|| {
        std::env::var("IPCKIT_RTT_SPINS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(SPINS)
    })
}

// ---- criterion ----------------------------------------------------------

fn bench_rtt(c: &mut Criterion) {
    pin::pin_main();
    let mut group = c.benchmark_group("rtt_u64");
    for variant in Variant::ALL {
        let mut session: Option<Session> = None;
        group.bench_function(variant.name(), |b| {
            b.iter_custom(|iters| {
                if session.is_none() {
                    session = Some(Session::start(variant).unwrap_or_else(|e| panic!("{e}")));
                }
                let s = session.as_mut().expect("started above");
                let elapsed = s.run(iters).unwrap_or_else(|e| panic!("{e}"));
                SAMPLES.record(variant, elapsed.as_nanos() as f64 / iters.max(1) as f64);
                elapsed
            });
        });
        if let Some(s) = session.take() {
            s.stop().unwrap_or_else(|e| panic!("{e}"));
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .sample_size(SAMPLE_SIZE);
    targets = bench_rtt
}

fn main() {
    watchdog::install();
    let run = CriterionRun::from_args(SAMPLE_SIZE);
    benches();
    Criterion::default().configure_from_args().final_summary();
    if run.benchmarking {
        print_summary(run);
    }
}

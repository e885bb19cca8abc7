//! The hostile-peer suite (issue 13): for every object kind (typed SPSC,
//! MPMC, byte SPSC, MPSC bytes, the core semaphore on a named object, and
//! `pubsub` topics of `u64` (issue 17): `pubsub`, the lossy policy with
//! and without a subscriber table, and `pubsub_reliable`, the reliable
//! policy with a table of 1, 2 or 4 entries), live endpoints keep calling
//! the public API, every form that takes a timeout and every `try_` form,
//! plus opens, take-overs and drops, while an adversary writes into the
//! shared object: random bytes at random offsets, and targeted values at
//! the control words of the documented layouts (see `hostile/forge.rs`;
//! for topics `hostile/forge_topics.rs`: `tail`, `first`, the publisher
//! claim, the waiting counter and flag, `table_len`, `progress`, the slot
//! stamps and items, the table entries' `state` and `position`; the
//! rounds are in `hostile/topics.rs`).
//!
//! Two modes per kind:
//! - **between**: the endpoint process itself forges the object (through
//!   its own mapping, atomic stores) between calls, with an intensity that
//!   changes every round (from a write every few hundred calls to several
//!   after each call);
//! - **concurrent**: a second forked process maps the object by name and
//!   writes into it for the whole run, also while each round's object is
//!   being created and while new endpoints open it, following one plan per
//!   round (`hostile/adversary.rs`): chaos, a header flipper that races
//!   opens, a hammer (a control word rewritten without pause, or an MPSC
//!   ring flooded with discarded records), or a liar.
//!
//! The endpoints run in a forked child, so that a signal (SIGSEGV, SIGBUS,
//! an abort) is a reported failure, not the end of the test binary. Each
//! run is a sequence of rounds: a fresh object, endpoints opened (while
//! forged), random calls for up to 250 ms, everything dropped.
//!
//! Pass criteria, checked for every call: no panic and no signal; no call
//! returns more than 20 ms after its bound (its timeout; zero for calls
//! that never wait; 2 s for an open), less the time the kernel kept the
//! thread waiting for a CPU (see `hostile/probe.rs`); no receive reports
//! more bytes or items than the caller's buffer holds or writes past it;
//! resident memory grows by less than 16 MiB; no call is still running 5 s
//! past its bound (a hang: the child is killed and the call named). A
//! topic's receive never reports `Lagged(0)` or a lag past 2^31 items, and
//! a subscriber's `len` never exceeds its capacity (values are not
//! checked: a forger may publish items of its own).
//!
//! Output: per sub-test, the hostile writes tried, the calls made and
//! their outcomes (Ok and each error), per call and in all, and the worst
//! lateness; at the end the totals. A failure prints the seed, the call in
//! flight, the last hostile writes (offset, value, and the call or time at
//! which each was made) and the object's control words.
//!
//! Environment: `IPCKIT_HOSTILE_SECS` sets the seconds each of the 14
//! sub-tests runs (default 2.5); `IPCKIT_HOSTILE_SEED` repeats a run's
//! random choices (printed at the start; the concurrent mode also depends
//! on timing); `IPCKIT_HOSTILE_PLAN` (`chaos`, `flipper`, `hammer`,
//! `liar`) gives the concurrent adversary one plan for every round.
//! Sub-tests are selected by name like the other process tests
//! (`cargo test -p ipckit --test hostile -- mpmc`).
//!
//! Built with `harness = false`: children are forked from the
//! single-threaded main thread.

mod support;

#[path = "hostile/adversary.rs"]
mod adversary;
#[path = "hostile/board.rs"]
mod board;
#[path = "hostile/forge.rs"]
mod forge;
#[path = "hostile/forge_topics.rs"]
mod forge_topics;
#[path = "hostile/kinds.rs"]
mod kinds;
#[path = "hostile/layout.rs"]
mod layout;
#[path = "hostile/probe.rs"]
mod probe;
#[path = "hostile/report.rs"]
mod report;
#[path = "hostile/topics.rs"]
mod topics;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use support::{ShmGuard, Suite, fork_child, fork_main};

/// The kinds under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `channel::spsc` of `u64`.
    Spsc,
    /// `channel::mpmc` of `u64`.
    Mpmc,
    /// `channel::bytes`.
    Bytes,
    /// `channel::mpsc_bytes`.
    MpscBytes,
    /// The core semaphore on a named shared-memory object.
    Semaphore,
    /// `pubsub` topic of `u64`, lossy policy, with or without a
    /// subscriber table.
    Pubsub,
    /// `pubsub` topic of `u64`, reliable policy (a table of a few
    /// entries).
    PubsubReliable,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Spsc,
        Kind::Mpmc,
        Kind::Bytes,
        Kind::MpscBytes,
        Kind::Semaphore,
        Kind::Pubsub,
        Kind::PubsubReliable,
    ];

    /// A `pubsub` topic (either policy).
    pub fn is_topic(self) -> bool {
        matches!(self, Kind::Pubsub | Kind::PubsubReliable)
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Spsc => "spsc",
            Kind::Mpmc => "mpmc",
            Kind::Bytes => "bytes",
            Kind::MpscBytes => "mpsc_bytes",
            Kind::Semaphore => "semaphore",
            Kind::Pubsub => "pubsub",
            Kind::PubsubReliable => "pubsub_reliable",
        }
    }
}

/// Who forges, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The endpoint process, between its calls.
    Between,
    /// Another process, all the time.
    Concurrent,
}

/// Totals over the sub-tests run: writes tried, calls.
static WRITES: AtomicU64 = AtomicU64::new(0);
static CALLS: AtomicU64 = AtomicU64::new(0);
/// The run's seed, for the repeat line of a failure.
pub static RUN_SEED: AtomicU64 = AtomicU64::new(0);

fn secs_per_test() -> Duration {
    let secs = std::env::var("IPCKIT_HOSTILE_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(2.5);
    Duration::from_secs_f64(secs)
}

fn base_seed() -> u64 {
    let given = std::env::var("IPCKIT_HOSTILE_SEED").ok().and_then(|s| {
        let s = s.trim();
        match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => s.parse().ok(),
        }
    });
    given.unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        (t.as_nanos() as u64) ^ u64::from(std::process::id()).rotate_left(32)
    })
}

/// One sub-test: `kind` forged in `mode` for [`secs_per_test`].
fn run(kind: Kind, mode: Mode, label: &str, seed: u64) -> Result<String, String> {
    let secs = secs_per_test();
    let guard = ShmGuard::new(kind.name());
    let b = board::Board::new()?;
    let name = guard.0.clone();
    let end = ipckit::futex::monotonic_now() + secs;
    let mut child = fork_main(|| probe::endpoint_main(kind, mode, &b, &name, seed, end))?;
    let mut adversary = match mode {
        Mode::Between => None,
        Mode::Concurrent => {
            let adv_seed = seed.rotate_left(29) ^ 0x5eed;
            Some(fork_child(|| {
                b.set(board::ADV_PID, u64::from(std::process::id()));
                adversary::adversary(kind, &b, &name, adv_seed, end + Duration::from_secs(1))
            })?)
        }
    };
    let verdict = report::watch(&mut child, &b, end);
    b.set(board::STOP, 1);
    let adversary_exit = adversary
        .as_mut()
        .map(|a| a.wait(std::time::Instant::now() + Duration::from_secs(10)));
    let figures = report::Figures::read(&b);
    WRITES.fetch_add(figures.writes_local + figures.writes_remote, Relaxed);
    CALLS.fetch_add(figures.calls, Relaxed);
    figures.print(label, seed, secs, &b);
    let failure = match (verdict, adversary_exit) {
        (Err(e), _) => Some(e),
        (Ok(()), Some(Err(e))) => Some(format!("adversary: {e}")),
        (Ok(()), Some(Ok(exit))) if exit != support::Exit::Code(0) => {
            Some(format!("adversary ended with {exit}"))
        }
        _ => None,
    };
    match failure {
        None => Ok(figures.note()),
        Some(e) => Err(report::failure(&e, kind, mode, label, seed, &b, &name)),
    }
}

fn main() {
    let seed = base_seed();
    RUN_SEED.store(seed, Relaxed);
    println!(
        "hostile: seed {seed:#x} (IPCKIT_HOSTILE_SEED to repeat), {:.1} s per sub-test \
         (IPCKIT_HOSTILE_SECS)",
        secs_per_test().as_secs_f64()
    );
    type Test = Box<dyn Fn() -> Result<String, String>>;
    let mut tests: Vec<(String, Test)> = Vec::new();
    for (i, kind) in Kind::ALL.into_iter().enumerate() {
        for (j, mode) in [Mode::Between, Mode::Concurrent].into_iter().enumerate() {
            let label = format!("{} {}", kind.name(), format!("{mode:?}").to_lowercase());
            let sub_seed = seed ^ (2 * i as u64 + j as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let l = label.clone();
            tests.push((label, Box::new(move || run(kind, mode, &l, sub_seed))));
        }
    }
    let conclusion = Suite::new().tests(tests).leftovers_checked().run();
    println!(
        "hostile: hostile writes tried {} in all, {} calls checked, in {} sub-tests",
        WRITES.load(Relaxed),
        CALLS.load(Relaxed),
        conclusion.num_passed + conclusion.num_failed
    );
    conclusion.exit();
}

//! Blocking SPSC rings between two processes: a parent and a `fork()`ed
//! child that sleep in the kernel on shared futexes ([`Futex`]) in the rings'
//! own words.
//!
//! Built with `harness = false`: the test harness runs tests on threads, and
//! a child forked from a multi-threaded process may only make
//! async-signal-safe calls. Here `main` is the only thread (checked before
//! every fork), so the child can allocate, print and use the whole ring API.
//!
//! Every ring is created with `Options::waking(true)` in an anonymous shared
//! mapping before the fork, with its indices next to `u32::MAX` so that they
//! wrap during the run. Sub-tests:
//! - `ping-pong`: 100 000 round trips over two rings (ping parent → child,
//!   pong child → parent), every value checked on both sides; once with
//!   `Futex::new()` (sleep at once) on both ends, once with
//!   `Futex::adaptive(2000)`, and a shorter mixed run (one end of each kind).
//!   Runs with a spinning (adaptive) end pin the two processes to different
//!   CPUs: see "CPU placement" below for why.
//! - `blocking stream`: items through a ring of capacity 4 with blocking
//!   `push` and `pop` on both ends, so that the producer sleeps on a full ring
//!   and the consumer on an empty one, over and over (100 000 items, with
//!   sleeping ends and with adaptive ones).
//! - `timeouts`: `pop_timeout(Some(50 ms))` on an empty ring and
//!   `push_timeout(Some(50 ms))` on a full one return `CoreError::TimedOut` after
//!   at least 50 ms and well under a second; a zero timeout returns at once.
//! - `idle wake`: the child is asleep in the kernel (announced in the ring's
//!   waiting word, in state `S` in `/proc`) inside `pop`; the parent waits
//!   100 ms, pushes, and the child's reply must arrive within a second. The
//!   mirror case wakes a child blocked in `push` on a full ring with a `pop`.
//! - `hostile tail`: a child that plays by no rule keeps rewriting the
//!   producer's `tail` word (offset 128) with garbage, with and without
//!   futex wake-ups, flipping it between valid and invalid, or writing it
//!   once while the parent sleeps. The parent's blocked `pop_timeout` must
//!   return `CoreError::Corrupted` or `CoreError::TimedOut` within its timeout (plus
//!   scheduling slack), never an item and never hang.
//!
//! Every wait has a deadline; a failing parent SIGKILLs and reaps its child.
//! The child never returns into the parent's code: it runs a function that
//! yields an exit code, then `_exit`s. A blocking call that times out in the
//! ping-pong is diagnosed (ring words, child state) to tell a lost wake-up
//! from a dead or slow peer. The binary prints one line per sub-test and
//! exits 1 if any failed.

mod support;

#[path = "spsc_blocking_process/hostile.rs"]
mod hostile;
#[path = "spsc_blocking_process/placement.rs"]
mod placement;
#[path = "spsc_blocking_process/traffic.rs"]
mod traffic;
#[path = "spsc_blocking_process/wakes.rs"]
mod wakes;

use hostile::*;
use placement::*;
use traffic::*;
use wakes::*;

use support::*;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ipckit::CoreError;
use ipckit::futex::Futex;
use ipckit::shm::SharedMapping;
use ipckit::spsc::{Options, Ring};

/// Round trips of each full ping-pong run.
const ROUND_TRIPS: u64 = 100_000;
/// Round trips of the mixed (one sleeping, one adaptive end) run.
const MIXED_ROUND_TRIPS: u64 = 20_000;
/// Items through the capacity-4 blocking stream.
const STREAM_ITEMS: u64 = 100_000;
/// Capacity of the ping-pong rings.
const CAPACITY: u32 = 8;
/// Both indices of every ring start here, so they wrap early in each run.
const START: u32 = u32::MAX - 100;
/// The spin budget of the adaptive notifier.
const SPINS: u32 = 2000;
/// The longest one blocking call of a healthy run may take. Far above any
/// wake-up latency; reaching it means a lost wake-up or a dead peer.
const OP_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest any sub-test waits for its child to finish.
const CHILD_DEADLINE: Duration = Duration::from_secs(30);
/// How late a timed-out call may return (scheduling on a loaded machine).
const SLACK: Duration = Duration::from_millis(500);

// Layout of an SPSC region (table in `ipckit::spsc`).
const TAIL_OFFSET: usize = 128;
const CONSUMER_WAITING_OFFSET: usize = 136;
const HEAD_OFFSET: usize = 256;
const PRODUCER_WAITING_OFFSET: usize = 264;

// ---------------------------------------------------------------------------
// Values: a sequence number in the low half and a tag derived from it in the
// high half; the reply is the bitwise complement of the request, so neither
// side can pass a check by echoing stale or zeroed slots.

fn item(seq: u64) -> u64 {
    let seq = seq as u32;
    let tag = seq.wrapping_mul(0x9E37_79B9) ^ 0x5A5A_5A5A;
    (u64::from(tag) << 32) | u64::from(seq)
}

fn reply(request: u64) -> u64 {
    !request
}

fn ring_err(what: &str, e: CoreError) -> ChildFail {
    let code = if e == CoreError::TimedOut {
        EXIT_TIMEOUT
    } else {
        EXIT_RING_ERROR
    };
    fail(code, format!("{what}: {e}"))
}

// ---------------------------------------------------------------------------
// Shared memory.

/// A 32-bit word of a mapping, accessed atomically.
fn word(mapping: &SharedMapping, offset: usize) -> &AtomicU32 {
    assert!(offset % 4 == 0 && offset + 4 <= mapping.len());
    // SAFETY: in bounds and 4-aligned (the base is page-aligned). Words of a
    // ring are atomics in the ring's own layout, and the tests touch every
    // other word only atomically; the mapping outlives the reference.
    unsafe { AtomicU32::from_ptr(mapping.as_ptr().add(offset).cast()) }
}

/// A mapping holding one waking ring of `u64`, created (not yet claimed).
fn waking_ring(capacity: u32) -> Result<SharedMapping, String> {
    let len = Ring::<u64>::region_len(capacity).map_err(|_| "bad capacity")?;
    let mapping = SharedMapping::anonymous(len).map_err(|e| format!("mmap: {e}"))?;
    let options = Options::new(capacity).start_at(START).waking(true);
    Ring::<u64>::init_with(mapping.region(), options).map_err(|e| format!("init: {e}"))?;
    Ok(mapping)
}

fn attach(mapping: &SharedMapping) -> Result<Ring<'_, u64>, CoreError> {
    Ring::<u64>::attach(mapping.region())
}

/// The shared words of a ring, for diagnostics.
fn ring_words(name: &str, m: &SharedMapping) -> String {
    let w = |off| word(m, off).load(Ordering::SeqCst);
    let (tail, head) = (w(TAIL_OFFSET), w(HEAD_OFFSET));
    format!(
        "{name}: tail {tail:#x} head {head:#x} (items {}), consumer waiting {}, producer waiting {}",
        tail.wrapping_sub(head),
        w(CONSUMER_WAITING_OFFSET),
        w(PRODUCER_WAITING_OFFSET)
    )
}

/// Polls `cond` every millisecond until it holds or `limit` passes.
fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn notifier_name(n: Futex) -> String {
    use ipckit::wait::Notify;
    match n.spin_budget() {
        0 => "Futex::new()".to_string(),
        s => format!("Futex::adaptive({s})"),
    }
}

// ---------------------------------------------------------------------------

fn main() {
    type Test = Box<dyn Fn() -> Result<String, String>>;
    let adaptive = Futex::adaptive(SPINS);
    let sleep = Futex::new();
    let mut tests: Vec<(String, Test)> = vec![
        ("timeouts".into(), Box::new(timeouts)),
        (
            "idle wake (consumer, Futex::new)".into(),
            Box::new(move || idle_wake(sleep)),
        ),
        (
            "idle wake (consumer, adaptive)".into(),
            Box::new(move || idle_wake(adaptive)),
        ),
        (
            "idle wake (producer, Futex::new)".into(),
            Box::new(move || idle_wake_producer(sleep)),
        ),
        (
            "idle wake (producer, adaptive)".into(),
            Box::new(move || idle_wake_producer(adaptive)),
        ),
    ];
    for mode in [
        Hostility::Garbage,
        Hostility::GarbageAndWake,
        Hostility::Flip,
        Hostility::QuietWhileAsleep,
    ] {
        for notify in [sleep, adaptive] {
            tests.push((
                format!("hostile tail ({mode:?}, {})", notifier_name(notify)),
                Box::new(move || hostile_tail(mode, notify)),
            ));
        }
    }
    tests.extend([
        (
            "ping-pong (Futex::new)".to_string(),
            Box::new(move || ping_pong(sleep, sleep, ROUND_TRIPS)) as Test,
        ),
        (
            "ping-pong (adaptive)".to_string(),
            Box::new(move || ping_pong(adaptive, adaptive, ROUND_TRIPS)),
        ),
        (
            "ping-pong (mixed)".to_string(),
            Box::new(move || ping_pong(adaptive, sleep, MIXED_ROUND_TRIPS)),
        ),
        (
            "blocking stream (Futex::new)".to_string(),
            Box::new(move || blocking_stream(sleep, STREAM_ITEMS)),
        ),
        (
            "blocking stream (adaptive)".to_string(),
            Box::new(move || blocking_stream(adaptive, STREAM_ITEMS)),
        ),
    ]);
    Suite::new().tests(tests).run().exit();
}

//! The MPMC ring between processes: `fork()`ed producers and consumers
//! sharing one anonymous `MAP_SHARED` mapping.
//!
//! Built with `harness = false`: the test harness runs tests on threads, and
//! a child forked from a multi-threaded process may only make
//! async-signal-safe calls. Here `main` is the only thread (checked before
//! every fork), so the children can allocate, print and use the whole API.
//!
//! Sub-tests:
//! - `stream`: 2 producer processes and 2 consumer processes move 10 million
//!   tagged items (producer id and a check value in the high bits, the
//!   sequence number in the low 32) through a ring of 1024 slots whose
//!   positions start next to `u32::MAX`, so they wrap during the run. The
//!   ring is created for sleeping waiters: one producer and one consumer use
//!   the blocking calls on shared futexes, the others `try_push`/`try_pop`
//!   with a yielding backoff (their publications still wake the sleepers).
//!   Each consumer checks every item's tag and that each producer's items
//!   reach it in increasing order, and records every sequence number in its
//!   own bitmap per producer, and counts and sums, in a results mapping. The
//!   parent then checks that every item arrived exactly once: the bitmaps of
//!   the two consumers are disjoint and together complete, and counts and
//!   sums match.
//! - `dead producer`: a child pushes a few items, then claims a position
//!   (announces it in its intent, in a mapping shared with the parent, and
//!   moves `tail`, as the first half of a push does) and dies by SIGKILL
//!   before publishing it. The parent gets the items before it, then
//!   `Busy` (no spin), `Ring::stalled` names the position, and a blocking
//!   pop times out; nothing hangs. Then the parent, which saw the child die
//!   and its intent name the position, skips the hole
//!   (`Consumer::skip_unpublished`) and gets the item a live producer
//!   pushed behind it.
//! - `hostile peer`: a child writes garbage into `tail`, `head` and every
//!   stamp; every parent call returns an error or a flow condition in
//!   bounded time, never a panic.
//!
//! Every wait has a deadline. Children never return into the parent's code:
//! they run a function that yields an exit code, then `_exit`. The binary
//! prints one line per sub-test and exits 1 if any failed.

mod support;

use support::*;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipckit::futex::{Futex, monotonic_now};
use ipckit::intent::Intent;
use ipckit::mpmc::{Options, Ring, Skip, Stall};
use ipckit::shm::SharedMapping;
use ipckit::wait::Spin;
use ipckit::{CoreError, ObjectKind, region};

/// Processes on each side of the stream.
const PRODUCERS: usize = 2;
const CONSUMERS: usize = 2;
/// Items per producer: 10 million in all.
const PER_PRODUCER: u64 = 5_000_000;
const TOTAL: u64 = PER_PRODUCER * PRODUCERS as u64;
/// Small, so that the ring is full or empty often.
const CAPACITY: u32 = 1024;
/// Positions start here; the stream wraps them after 1001 items.
const START: u32 = u32::MAX - 1000;

// Child exit codes.

// ---------------------------------------------------------------------------
// Items: producer id in the top 2 bits, a check value derived from the
// sequence number in the next 30, the sequence number in the low 32. A
// reordered or duplicated item has a valid tag; a corrupted one does not.

fn check_value(seq: u32) -> u64 {
    u64::from((seq.wrapping_mul(0x9E37_79B9) ^ 0x5A5A_5A5A) & 0x3FFF_FFFF)
}

fn item(producer: usize, seq: u64) -> u64 {
    ((producer as u64) << 62) | (check_value(seq as u32) << 32) | (seq & 0xFFFF_FFFF)
}

/// `(producer, seq)` of a well-formed item.
fn decode(v: u64) -> Option<(usize, u64)> {
    let (producer, seq) = ((v >> 62) as usize, v & 0xFFFF_FFFF);
    let ok = producer < PRODUCERS
        && seq < PER_PRODUCER
        && (v >> 32) & 0x3FFF_FFFF == check_value(seq as u32);
    ok.then_some((producer, seq))
}

fn ring_err(what: &str, e: CoreError) -> ChildFail {
    fail(EXIT_RING_ERROR, format!("{what}: {e}"))
}

// ---------------------------------------------------------------------------
// Processes.

fn mapping_for(capacity: u32) -> Result<SharedMapping, String> {
    let len = Ring::<u64>::region_len(capacity).map_err(|_| "bad capacity")?;
    SharedMapping::anonymous(len).map_err(|e| format!("mmap: {e}"))
}

fn expect_exit(got: Exit, want: Exit) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("child ended with {got}, expected {want}"))
    }
}

// ---------------------------------------------------------------------------
// (a) The stream.

/// 64-bit words of one bitmap of `PER_PRODUCER` bits.
const BITMAP_WORDS: usize = PER_PRODUCER.div_ceil(64) as usize;

/// A shared mapping where the children report: a word of finished
/// producers, per (consumer, producer) a count and a sum, and per (consumer,
/// producer) a bitmap of the sequence numbers received.
///
/// | word (u64) | meaning |
/// |---|---|
/// | 0 | producers finished |
/// | 8 + 2 × (c × P + p) | count of items of producer p at consumer c |
/// | 9 + 2 × (c × P + p) | their sum of sequence numbers |
/// | 512 + (c × P + p) × BITMAP_WORDS … | bitmap of consumer c, producer p |
struct Results(SharedMapping);

impl Results {
    const BITMAPS: usize = 512;

    fn new() -> Result<Self, String> {
        let words = Self::BITMAPS + CONSUMERS * PRODUCERS * BITMAP_WORDS;
        SharedMapping::anonymous(8 * words)
            .map(Results)
            .map_err(|e| format!("mmap: {e}"))
    }

    fn word(&self, i: usize) -> &AtomicU64 {
        assert!(8 * (i + 1) <= self.0.len());
        // SAFETY: in bounds (checked) and 8-aligned on a page-aligned
        // mapping that is accessed only through these atomics and outlives
        // the reference.
        unsafe { AtomicU64::from_ptr(self.0.as_ptr().add(8 * i).cast()) }
    }

    fn producers_done(&self) -> &AtomicU64 {
        self.word(0)
    }

    fn count(&self, c: usize, p: usize) -> &AtomicU64 {
        self.word(8 + 2 * (c * PRODUCERS + p))
    }

    fn sum(&self, c: usize, p: usize) -> &AtomicU64 {
        self.word(9 + 2 * (c * PRODUCERS + p))
    }

    fn bitmap(&self, c: usize, p: usize, w: usize) -> &AtomicU64 {
        assert!(w < BITMAP_WORDS);
        self.word(Self::BITMAPS + (c * PRODUCERS + p) * BITMAP_WORDS + w)
    }
}

fn stream() -> Result<String, String> {
    let mapping = mapping_for(CAPACITY)?;
    // Initialised before the forks: the children attach to a ready ring.
    let options = Options::new(CAPACITY).start_at(START).waking(true);
    let ring =
        Ring::<u64>::init_with(mapping.region(), options).map_err(|e| format!("init: {e}"))?;
    let results = Results::new()?;
    let started = Instant::now();
    let mut children = Vec::new();
    for c in 0..CONSUMERS {
        children.push((
            format!("consumer {c}"),
            fork_child(|| child_main(|| consume(c, &mapping, &results)))?,
        ));
    }
    for p in 0..PRODUCERS {
        children.push((
            format!("producer {p}"),
            fork_child(|| child_main(|| produce(p, &mapping, &results)))?,
        ));
    }
    let deadline = started + DEADLINE + Duration::from_secs(10);
    for (name, child) in &mut children {
        let exit = child.wait(deadline).map_err(|e| format!("{name}: {e}"))?;
        expect_exit(exit, Exit::Code(EXIT_OK)).map_err(|e| format!("{name}: {e}"))?;
    }
    let elapsed = started.elapsed();

    // Exactly once: per producer, the consumers' bitmaps are disjoint and
    // together hold every sequence number; counts and sums agree.
    let mut shares = [0u64; CONSUMERS];
    for p in 0..PRODUCERS {
        for w in 0..BITMAP_WORDS {
            let bits = (PER_PRODUCER - 64 * w as u64).min(64);
            let full = if bits == 64 {
                u64::MAX
            } else {
                (1u64 << bits) - 1
            };
            let mut union = 0u64;
            for c in 0..CONSUMERS {
                let b = results.bitmap(c, p, w).load(Ordering::Relaxed);
                if union & b != 0 {
                    return Err(format!(
                        "producer {p}: item(s) {:#x} << {} received twice",
                        union & b,
                        64 * w
                    ));
                }
                union |= b;
            }
            if union != full {
                return Err(format!(
                    "producer {p}: item(s) {:#x} << {} never received",
                    full & !union,
                    64 * w
                ));
            }
        }
        let (mut count, mut sum) = (0u64, 0u64);
        for (c, share) in shares.iter_mut().enumerate() {
            let n = results.count(c, p).load(Ordering::Relaxed);
            *share += n;
            count += n;
            sum = sum.wrapping_add(results.sum(c, p).load(Ordering::Relaxed));
        }
        let expected_sum = PER_PRODUCER * (PER_PRODUCER - 1) / 2;
        if count != PER_PRODUCER || sum != expected_sum {
            return Err(format!(
                "producer {p}: {count} items with sum {sum}, expected {PER_PRODUCER} and {expected_sum}"
            ));
        }
    }
    // The ring is empty, its positions wrapped and agree, and it still works.
    if !ring.is_empty() {
        return Err(format!("len after the stream: {}", ring.len()));
    }
    let tx = ring
        .producer_with(Futex::new())
        .map_err(|e| format!("producer: {e}"))?;
    let rx = ring
        .consumer_with(Futex::new())
        .map_err(|e| format!("consumer: {e}"))?;
    if rx.try_pop() != Err(CoreError::Empty) {
        return Err("items left after the stream".into());
    }
    tx.try_push(item(1, 7))
        .map_err(|e| format!("push after the stream: {e}"))?;
    match rx.pop_timeout(Some(Duration::from_secs(1))) {
        Ok(v) if v == item(1, 7) => {}
        other => return Err(format!("pop after the stream: {other:?}")),
    }
    let secs = elapsed.as_secs_f64();
    Ok(format!(
        "{TOTAL} items, {PRODUCERS} producer and {CONSUMERS} consumer processes, in {secs:.2} s \
         ({:.1} M items/s), positions wrapped after 1001; consumer shares {shares:?}",
        TOTAL as f64 / secs / 1e6
    ))
}

/// Producer `p`: pushes its `PER_PRODUCER` items. Producer 0 uses the
/// blocking call (sleeping on a futex while full), the others `try_push`
/// with a backoff.
fn produce(p: usize, mapping: &SharedMapping, results: &Results) -> Result<(), ChildFail> {
    let ring = Ring::<u64>::attach(mapping.region()).map_err(|e| ring_err("attach", e))?;
    let tx = ring
        .producer_with(Futex::adaptive(200))
        .map_err(|e| ring_err("producer", e))?;
    let mut backoff = Backoff::new();
    for seq in 0..PER_PRODUCER {
        let v = item(p, seq);
        if p == 0 {
            match tx.push_timeout(v, Some(DEADLINE)) {
                Ok(()) => {}
                Err(CoreError::TimedOut) => {
                    return Err(fail(EXIT_TIMEOUT, format!("push timed out at {seq}")));
                }
                Err(e) => return Err(ring_err(&format!("push at {seq}"), e)),
            }
            continue;
        }
        loop {
            match tx.try_push(v) {
                Ok(()) => {
                    backoff.progress();
                    break;
                }
                Err(CoreError::Full | CoreError::Busy) => {
                    if !backoff.idle() {
                        return Err(fail(EXIT_TIMEOUT, format!("producer timed out at {seq}")));
                    }
                }
                Err(e) => return Err(ring_err(&format!("try_push at {seq}"), e)),
            }
        }
    }
    results.producers_done().fetch_add(1, Ordering::AcqRel);
    Ok(())
}

/// Consumer `c`: pops until every producer has finished and the ring is
/// drained. Consumer 0 uses the blocking call (with a short timeout, to look
/// at the finish condition now and then), the others `try_pop` with a
/// backoff. Checks every item, and each producer's order.
fn consume(c: usize, mapping: &SharedMapping, results: &Results) -> Result<(), ChildFail> {
    let ring = Ring::<u64>::attach(mapping.region()).map_err(|e| ring_err("attach", e))?;
    if ring.capacity() != CAPACITY {
        return Err(fail(EXIT_CHECK, "attached capacity differs"));
    }
    let rx = ring
        .consumer_with(Futex::adaptive(200))
        .map_err(|e| ring_err("consumer", e))?;
    let mut last: [Option<u64>; PRODUCERS] = [None; PRODUCERS];
    let mut counts = [0u64; PRODUCERS];
    let mut sums = [0u64; PRODUCERS];
    let mut bitmaps = vec![vec![0u64; BITMAP_WORDS]; PRODUCERS];
    let mut backoff = Backoff::new();
    loop {
        let got = if c == 0 {
            rx.pop_timeout(Some(Duration::from_millis(20)))
        } else {
            rx.try_pop()
        };
        match got {
            Ok(v) => {
                backoff.progress();
                let Some((p, seq)) = decode(v) else {
                    return Err(fail(EXIT_CORRUPTED_ITEM, format!("item {v:#018x}")));
                };
                if let Some(prev) = last[p] {
                    if seq <= prev {
                        return Err(fail(
                            EXIT_OUT_OF_ORDER,
                            format!("producer {p}: item {seq} after {prev}"),
                        ));
                    }
                }
                last[p] = Some(seq);
                counts[p] += 1;
                sums[p] += seq;
                bitmaps[p][(seq / 64) as usize] |= 1 << (seq % 64);
            }
            Err(CoreError::Empty | CoreError::Busy | CoreError::TimedOut) => {
                // Done once every producer has finished and every position
                // was claimed by a consumer (`head == tail`).
                if results.producers_done().load(Ordering::Acquire) == PRODUCERS as u64
                    && ring.is_empty()
                {
                    break;
                }
                if !backoff.idle() {
                    let stalled = ring.stalled();
                    return Err(fail(
                        EXIT_TIMEOUT,
                        format!("consumer timed out after {counts:?} items; stalled: {stalled:?}"),
                    ));
                }
            }
            Err(e) => return Err(ring_err(&format!("pop after {counts:?} items"), e)),
        }
    }
    for p in 0..PRODUCERS {
        results.count(c, p).store(counts[p], Ordering::Relaxed);
        results.sum(c, p).store(sums[p], Ordering::Relaxed);
        for (w, &bits) in bitmaps[p].iter().enumerate() {
            results.bitmap(c, p, w).store(bits, Ordering::Relaxed);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// (b) A producer that dies between claiming a position and publishing it.

fn dead_producer() -> Result<String, String> {
    const CAP: u32 = 64;
    const PUSHED: u64 = 5;
    let mapping = mapping_for(CAP)?;
    let ring = Ring::<u64>::init_at(mapping.region(), CAP, u32::MAX - 2)
        .map_err(|e| format!("init: {e}"))?;
    let tail_offset = 128;
    let base = mapping.as_ptr();
    // The dead producer's intent, where the parent can read it.
    let intents = SharedMapping::anonymous(4096).map_err(|e| format!("mmap: {e}"))?;
    // SAFETY: the first 8 bytes of a live, page-aligned mapping that
    // outlives `intent` and is only accessed through its atomics.
    let intent: &Intent = unsafe { &*intents.as_ptr().cast::<Intent>() };
    let mut child = fork_child(|| {
        child_main(|| {
            let ring = Ring::<u64>::attach(mapping.region()).map_err(|e| ring_err("attach", e))?;
            let tx = ring.producer().map_err(|e| ring_err("producer", e))?;
            for seq in 0..PUSHED {
                tx.try_push(item(0, seq))
                    .map_err(|e| ring_err("try_push", e))?;
            }
            // The first half of a push: claim the next position...
            // SAFETY: `tail` is the 4-aligned word at offset 128 of the
            // mapping (layout table in `ipckit::mpmc`), accessed atomically
            // as ring handles do.
            let tail = unsafe { AtomicU32::from_ptr(base.add(tail_offset).cast()) };
            let t = tail.load(Ordering::Acquire);
            intent.announce(t, 1);
            if tail
                .compare_exchange(t, t.wrapping_add(1), Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                return Err(fail(EXIT_CHECK, "tail moved under the only producer"));
            }
            // ... and die before the second half.
            // SAFETY: sends a signal to this very process.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            Err(fail(EXIT_UNREACHABLE, "still alive after SIGKILL"))
        })
    })?;
    let exit = child.wait(Instant::now() + DEADLINE)?;
    expect_exit(exit, Exit::Signal(libc::SIGKILL))?;

    let claimed = (u32::MAX - 2).wrapping_add(PUSHED as u32);
    let rx = ring
        .consumer_with(Spin::with_clock(monotonic_now))
        .map_err(|e| format!("consumer: {e}"))?;
    for seq in 0..PUSHED {
        match rx.try_pop() {
            Ok(v) if v == item(0, seq) => {}
            other => return Err(format!("pop {seq}: {other:?}")),
        }
    }
    // A live producer publishes behind the dead one's claim.
    let tx = ring.producer().map_err(|e| format!("producer: {e}"))?;
    tx.try_push(item(1, 0))
        .map_err(|e| format!("push after the death: {e}"))?;
    if ring.len() != 2 {
        return Err(format!("len: {}", ring.len()));
    }
    if ring.stalled() != Some(Stall::Unpublished { position: claimed }) {
        return Err(format!("stalled: {:?}", ring.stalled()));
    }
    let t0 = Instant::now();
    if rx.try_pop() != Err(CoreError::Busy) {
        return Err("try_pop behind the unpublished slot was not Busy".into());
    }
    let try_pop_time = t0.elapsed();
    let t0 = Instant::now();
    match rx.pop_timeout(Some(Duration::from_millis(50))) {
        Err(CoreError::TimedOut) => {}
        other => return Err(format!("pop_timeout: {other:?}")),
    }
    let waited = t0.elapsed();
    if waited < Duration::from_millis(50) || waited > Duration::from_secs(5) {
        return Err(format!("pop_timeout took {waited:?}"));
    }
    // The header is intact.
    let info = region::inspect(mapping.region()).map_err(|e| format!("inspect: {e}"))?;
    if info.kind != Some(ObjectKind::Mpmc) {
        return Err(format!("header after the death: {info:?}"));
    }
    // The claimant is dead (reaped above) and its intent names the hole:
    // skip it; the live producer's item behind it comes next.
    if intent.read() != (claimed, 1) || ring.unpublished() != Some(claimed) {
        return Err(format!("intent {:?} for the hole {claimed}", intent.read()));
    }
    match rx.skip_unpublished(claimed) {
        Ok(Skip::Skipped) => {}
        other => return Err(format!("skip: {other:?}")),
    }
    match rx.try_pop() {
        Ok(v) if v == item(1, 0) => {}
        other => return Err(format!("pop behind the hole: {other:?}")),
    }
    if ring.stalled().is_some() || ring.recoveries().skipped != 1 {
        return Err(format!(
            "after the skip: {:?}, {:?}",
            ring.stalled(),
            ring.recoveries()
        ));
    }
    Ok(format!(
        "try_pop Busy in {try_pop_time:?}, pop_timeout(50 ms) TimedOut after {waited:?}, \
         stalled at position {claimed}, then skipped"
    ))
}

// ---------------------------------------------------------------------------
// (c) A hostile peer.

fn hostile_peer() -> Result<String, String> {
    const CAP: u32 = 64;
    let mapping = mapping_for(CAP)?;
    let ring = Ring::<u64>::init_at(mapping.region(), CAP, u32::MAX - 10)
        .map_err(|e| format!("init: {e}"))?;
    let tx = ring.producer().map_err(|e| format!("producer: {e}"))?;
    let rx = ring.consumer().map_err(|e| format!("consumer: {e}"))?;
    for seq in 0..20 {
        tx.try_push(item(0, seq))
            .map_err(|e| format!("fill: {e}"))?;
    }
    let base = mapping.as_ptr();
    let len = mapping.len();
    let mut child = fork_child(|| {
        // A hostile peer plays by no rule: no attach; it scribbles on the
        // control words and on every slot.
        let mut x = 0x2545_F491u32;
        for off in (128..len).step_by(4) {
            if (140..256).contains(&off) || (268..384).contains(&off) {
                continue; // reserved bytes: nobody reads them
            }
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            // SAFETY: 4-aligned and in bounds of the page-aligned mapping; no
            // ipckit handle of this (child) process uses the mapping.
            let w = unsafe { AtomicU32::from_ptr(base.add(off).cast()) };
            w.store(x, Ordering::Relaxed);
        }
        EXIT_OK
    })?;
    let exit = child.wait(Instant::now() + DEADLINE)?;
    expect_exit(exit, Exit::Code(EXIT_OK))?;

    let started = Instant::now();
    let (mut corrupted, mut flow, mut ok) = (0, 0, 0);
    for i in 0..1000 {
        for r in [tx.try_push(i).map(drop), rx.try_pop().map(drop)] {
            match r {
                Ok(()) => ok += 1,
                Err(CoreError::Full | CoreError::Empty | CoreError::Busy) => flow += 1,
                Err(CoreError::Corrupted(_)) => corrupted += 1,
                Err(e) => return Err(format!("unexpected error {e}")),
            }
        }
        let _ = ring.len();
        let _ = ring.stalled();
    }
    let elapsed = started.elapsed();
    if corrupted == 0 {
        return Err("garbage everywhere, yet no call reported Corrupted".into());
    }
    // The header was not touched: attaching still validates.
    Ring::<u64>::attach(mapping.region()).map_err(|e| format!("attach: {e}"))?;
    Ok(format!(
        "2000 calls in {elapsed:?}: {corrupted} Corrupted, {flow} Full/Empty/Busy, {ok} Ok"
    ))
}

// ---------------------------------------------------------------------------

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: [(&str, Test); 3] = [
        ("dead producer", dead_producer),
        ("hostile peer", hostile_peer),
        ("stream", stream),
    ];
    Suite::new().tests(tests).run().exit();
}

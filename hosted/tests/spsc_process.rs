//! The SPSC ring between two processes: a parent and a `fork()`ed child
//! sharing one anonymous `MAP_SHARED` mapping.
//!
//! Built with `harness = false`: the test harness runs tests on threads, and
//! a child forked from a multi-threaded process may only make
//! async-signal-safe calls. Here `main` is the only thread (checked before
//! every fork), so the child can allocate, print and use the whole ring API.
//!
//! Sub-tests:
//! - `stream`: 10 million items, parent producer and child consumer, every
//!   API of both ends, capacity 1024 (full and empty all the time), indices
//!   starting next to `u32::MAX` so they wrap during the run; the child
//!   checks every item, in order.
//! - `dead consumer`: a child claims the consumer role and dies (SIGKILL or
//!   `_exit`) without giving it back. The parent does not hang and the ring
//!   stays valid; the role stays taken (liveness detection comes later).
//! - `hostile head`: a child writes garbage into the consumer's `head`
//!   word; the parent producer gets `CoreError::Corrupted`, never a panic.
//!
//! Every wait has a deadline. The child never returns into the parent's
//! code: it runs a function that yields an exit code, then `_exit`s. The
//! binary prints one line per sub-test and exits 1 if any failed.

mod support;

use support::*;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use ipckit::shm::SharedMapping;
use ipckit::spsc::{Producer, Ring};
use ipckit::{CoreError, ObjectKind, Role, region};

/// Items moved by the stream test.
const TOTAL: u64 = 10_000_000;
/// Small, so that the ring is full or empty often.
const CAPACITY: u32 = 1024;
/// Both indices start here; the stream wraps them after 1001 items.
const START: u32 = u32::MAX - 1000;
/// Offset of the consumer's `head` word (layout table in `ipckit::spsc`).
const HEAD_OFFSET: usize = 256;

// Child exit codes.

// ---------------------------------------------------------------------------
// Items: the sequence number in the low half, a tag derived from it in the
// high half, so that the consumer tells a reordered item (valid tag, wrong
// number) from a corrupted one (invalid tag).

/// A batch length: mostly short, sometimes near or above the capacity.
fn batch(rng: &mut Rng, remaining: u64) -> u64 {
    let n = match rng.next() % 20 {
        0..=9 => rng.upto(16),
        10..=16 => rng.upto(512),
        _ => rng.upto(1536),
    };
    n.min(remaining)
}

fn tag(seq: u32) -> u32 {
    seq.wrapping_mul(0x9E37_79B9) ^ 0x5A5A_5A5A
}

fn item(seq: u64) -> u64 {
    let seq = seq as u32;
    (u64::from(tag(seq)) << 32) | u64::from(seq)
}

fn ring_err(what: &str, e: CoreError) -> ChildFail {
    fail(EXIT_RING_ERROR, format!("{what}: {e}"))
}

/// Checks that `value` is item number `*expected` and advances.
#[inline]
fn check(expected: &mut u64, value: u64) -> Result<(), ChildFail> {
    if value != item(*expected) {
        let seq = value as u32;
        return Err(if (value >> 32) as u32 == tag(seq) {
            fail(
                EXIT_OUT_OF_ORDER,
                format!("item {seq} where {expected} was expected"),
            )
        } else {
            fail(
                EXIT_CORRUPTED_ITEM,
                format!("corrupted item {value:#018x} where {expected} was expected"),
            )
        });
    }
    *expected += 1;
    Ok(())
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

fn stream() -> Result<String, String> {
    let mapping = mapping_for(CAPACITY)?;
    // Initialised before the fork: the child attaches to a ready ring.
    let ring = Ring::<u64>::init_at(mapping.region(), CAPACITY, START)
        .map_err(|e| format!("init: {e}"))?;
    let stats = Stats::new()?;
    let started = Instant::now();
    let mut child = fork_child(|| child_main(|| consume_stream(&mapping, &stats)))?;

    let mut tx = ring.producer().map_err(|e| format!("producer: {e}"))?;
    let full = produce_stream(&mut tx, &mut child)?;
    let exit = child.wait(started + DEADLINE)?;
    let elapsed = started.elapsed();
    expect_exit(exit, Exit::Code(EXIT_OK))?;

    // Everything was consumed, and the child dropped its consumer before
    // `_exit`, which gave the role back: a new consumer resumes at the
    // child's last published `head` (past the wrap) and finds nothing.
    match tx.free_slots() {
        n if n == CAPACITY as usize => {}
        other => return Err(format!("free slots after the stream: {other:?}")),
    }
    let mut rx = ring
        .consumer()
        .map_err(|e| format!("consumer claim after the child: {e}"))?;
    if rx.try_pop() != Err(CoreError::Empty) {
        return Err("items left after the stream".into());
    }
    tx.try_push(item(TOTAL))
        .map_err(|e| format!("push after the stream: {e}"))?;
    match rx.try_pop() {
        Ok(v) if v == item(TOTAL) => {}
        other => return Err(format!("pop after the stream: {other:?}")),
    }
    let secs = elapsed.as_secs_f64();
    let empty = stats.word(0).load(Ordering::Relaxed);
    Ok(format!(
        "{TOTAL} items in {secs:.2} s ({:.1} M items/s), index wrap after 1001, \
         ring full {full} times, empty {empty} times",
        TOTAL as f64 / secs / 1e6
    ))
}

/// A page for the child to report counters in.
struct Stats(SharedMapping);

impl Stats {
    fn new() -> Result<Self, String> {
        SharedMapping::anonymous(4096)
            .map(Stats)
            .map_err(|e| format!("mmap: {e}"))
    }

    fn word(&self, i: usize) -> &AtomicU32 {
        assert!(i < 1024);
        // SAFETY: in bounds and 4-aligned on a page-aligned mapping that is
        // accessed only through these atomics and outlives the reference.
        unsafe { AtomicU32::from_ptr(self.0.as_ptr().add(4 * i).cast()) }
    }
}

/// The parent: pushes items `0..TOTAL`, cycling through every way of
/// writing. Returns how often the ring was full.
fn produce_stream(tx: &mut Producer<'_, u64>, child: &mut Child) -> Result<u64, String> {
    let mut full = 0u64;
    let mut rng = Rng(0x0123_4567_89AB_CDEF);
    let mut buf: Vec<u64> = Vec::with_capacity(2 * CAPACITY as usize);
    let mut backoff = Backoff::new();
    let mut next = 0u64;
    let mut step = 0u64;
    let err = |what: &str, at: u64, e: CoreError| format!("producer {what} at item {at}: {e}");
    while next < TOTAL {
        let remaining = TOTAL - next;
        let n = batch(&mut rng, remaining);
        let pushed = match step % 5 {
            0 => match tx.try_push(item(next)) {
                Ok(()) => 1,
                Err(CoreError::Full) => 0,
                Err(e) => return Err(err("try_push", next, e)),
            },
            1 => {
                buf.clear();
                buf.extend((next..next + n).map(item));
                tx.push_partial_slice(&buf)
                    .map_err(|e| err("push_partial_slice", next, e))?
            }
            2 => {
                let chunk = tx
                    .write_chunk_up_to(n as usize)
                    .map_err(|e| err("write_chunk", next, e))?;
                chunk.fill_from_iter((next..).map(item))
            }
            3 => {
                buf.clear();
                buf.extend((next..next + n).map(item));
                let chunk = tx
                    .write_chunk_up_to(n as usize)
                    .map_err(|e| err("write_chunk", next, e))?;
                chunk.copy_partial_from_slice(&buf)
            }
            _ => {
                let mut chunk = tx
                    .write_chunk_up_to(n as usize)
                    .map_err(|e| err("write_chunk", next, e))?;
                let len = chunk.len();
                // SAFETY: the consumer is our own child, which follows the
                // protocol and never touches reserved, unpublished slots.
                let (a, b) = unsafe { chunk.as_mut_slices() };
                for (i, slot) in a.iter_mut().chain(b.iter_mut()).enumerate() {
                    *slot = item(next + i as u64);
                }
                // Publish a prefix; the rest is written again next time.
                let keep = if len == 0 {
                    0
                } else {
                    rng.upto(len as u64) as usize
                };
                if keep == len {
                    chunk.commit_all();
                } else {
                    chunk.commit(keep).map_err(|e| err("commit", next, e))?;
                }
                keep
            }
        };
        step += 1;
        next += pushed as u64;
        if pushed > 0 {
            backoff.progress();
        } else {
            full += 1;
            if !backoff.idle() {
                return Err(format!("producer timed out at item {next}"));
            }
            if backoff.idle % 4096 == 0 {
                // The consumer died early: report how, rather than wait.
                if let Some(exit) = child.try_wait()? {
                    return Err(format!("child ended at item {next} with {exit}"));
                }
            }
        }
    }
    Ok(full)
}

/// The child: pops items, cycling through every way of reading, and checks
/// each one.
fn consume_stream(mapping: &SharedMapping, stats: &Stats) -> Result<(), ChildFail> {
    let mut empty = 0u32;
    let ring = Ring::<u64>::attach(mapping.region()).map_err(|e| ring_err("attach", e))?;
    if ring.capacity() != CAPACITY {
        return Err(fail(EXIT_CHECK, "attached capacity differs"));
    }
    let mut rx = ring.consumer().map_err(|e| ring_err("consumer", e))?;
    let mut rng = Rng(0xFEDC_BA98_7654_3210);
    let mut buf = vec![0u64; 2 * CAPACITY as usize];
    let mut backoff = Backoff::new();
    let mut expected = 0u64;
    let mut step = 0u64;
    while expected < TOTAL {
        let before = expected;
        let n = batch(&mut rng, TOTAL - expected) as usize;
        let e = expected;
        let err = |what: &str, error: CoreError| ring_err(&format!("{what} at item {e}"), error);
        match step % 5 {
            0 => match rx.try_pop() {
                Ok(v) => check(&mut expected, v)?,
                Err(CoreError::Empty) => {}
                Err(error) => return Err(err("try_pop", error)),
            },
            1 => {
                let got = rx
                    .pop_partial_slice(&mut buf[..n])
                    .map_err(|x| err("pop_partial_slice", x))?;
                for &v in &buf[..got] {
                    check(&mut expected, v)?;
                }
            }
            2 => {
                let chunk = rx.read_chunk_up_to(n).map_err(|x| err("read_chunk", x))?;
                // Check and hand back a prefix; the rest is read again.
                let keep = if chunk.is_empty() {
                    0
                } else {
                    rng.upto(chunk.len() as u64) as usize
                };
                for v in chunk.iter().take(keep) {
                    check(&mut expected, v)?;
                }
                chunk.commit(keep).map_err(|x| err("commit", x))?;
            }
            3 => {
                let chunk = rx.read_chunk_up_to(n).map_err(|x| err("read_chunk", x))?;
                let got = chunk.copy_partial_to_slice(&mut buf);
                if got != chunk.len() || chunk.get(got).is_some() {
                    return Err(fail(EXIT_CHECK, "read chunk length disagrees"));
                }
                if got > 0 && chunk.get(got - 1) != Some(buf[got - 1]) {
                    return Err(fail(EXIT_CHECK, "ReadChunk::get disagrees with copy"));
                }
                for &v in &buf[..got] {
                    check(&mut expected, v)?;
                }
                chunk.commit_all();
            }
            _ => {
                let chunk = rx.read_chunk_up_to(n).map_err(|x| err("read_chunk", x))?;
                // SAFETY: the producer is our own parent, which follows the
                // protocol and never writes published, unreleased slots.
                let (a, b) = unsafe { chunk.as_slices() };
                for &v in a.iter().chain(b) {
                    check(&mut expected, v)?;
                }
                chunk.commit_all();
            }
        }
        step += 1;
        if expected > before {
            backoff.progress();
        } else {
            empty = empty.saturating_add(1);
            if !backoff.idle() {
                return Err(fail(
                    EXIT_TIMEOUT,
                    format!("consumer timed out at item {expected}"),
                ));
            }
        }
    }
    stats.word(0).store(empty, Ordering::Relaxed);
    Ok(())
}

// ---------------------------------------------------------------------------
// (b) A consumer that dies holding its role.

#[derive(Clone, Copy)]
enum Death {
    Sigkill,
    Exit,
}

fn dead_consumer(death: Death) -> Result<String, String> {
    const CAP: u32 = 64;
    const POPPED: u64 = 10;
    let mapping = mapping_for(CAP)?;
    let ring =
        Ring::<u64>::init_at(mapping.region(), CAP, START).map_err(|e| format!("init: {e}"))?;
    let mut tx = ring.producer().map_err(|e| format!("producer: {e}"))?;
    for i in 0..u64::from(CAP) {
        tx.try_push(item(i)).map_err(|e| format!("fill: {e}"))?;
    }

    let mut child = fork_child(|| {
        child_main(|| {
            let ring = Ring::<u64>::attach(mapping.region()).map_err(|e| ring_err("attach", e))?;
            // The parent holds the producer role.
            if !matches!(ring.producer(), Err(CoreError::RoleTaken(Role::Producer))) {
                return Err(fail(EXIT_CHECK, "second producer claim was not refused"));
            }
            let mut rx = ring.consumer().map_err(|e| ring_err("consumer", e))?;
            let mut expected = 0;
            for _ in 0..POPPED {
                let v = rx.try_pop().map_err(|e| ring_err("try_pop", e))?;
                check(&mut expected, v)?;
            }
            match death {
                Death::Sigkill => {
                    // SAFETY: sends a signal to this very process.
                    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
                    Err(fail(EXIT_UNREACHABLE, "still alive after SIGKILL"))
                }
                Death::Exit => {
                    // SAFETY: ends this process at once; `rx` is never
                    // dropped, so its claim is never given back.
                    unsafe { libc::_exit(EXIT_OK) }
                }
            }
        })
    })?;
    let exit = child.wait(Instant::now() + DEADLINE)?;
    expect_exit(
        exit,
        match death {
            Death::Sigkill => Exit::Signal(libc::SIGKILL),
            Death::Exit => Exit::Code(EXIT_OK),
        },
    )?;

    // The ring is still valid and shows the dead consumer's progress.
    let info = region::inspect(mapping.region()).map_err(|e| format!("inspect: {e}"))?;
    if info.kind != Some(ObjectKind::Spsc) || info.capacity != CAP {
        return Err(format!("header after the child died: {info:?}"));
    }
    let again = Ring::<u64>::attach(mapping.region()).map_err(|e| format!("attach: {e}"))?;
    if again.capacity() != CAP {
        return Err("capacity changed".into());
    }
    match tx.free_slots() {
        n if n as u64 == POPPED => {}
        other => return Err(format!("free slots after the child: {other:?}")),
    }
    // Documented behaviour today: a dead holder's claim is not detected, so
    // the consumer role stays taken (`CoreError::PeerGone` comes with liveness
    // detection).
    for r in [&ring, &again] {
        match r.consumer() {
            Err(CoreError::RoleTaken(Role::Consumer)) => {}
            other => return Err(format!("consumer claim after the child died: {other:?}")),
        }
    }
    // The producer fills the freed slots, then gets `Full`, without hanging.
    for i in 0..POPPED {
        tx.try_push(item(u64::from(CAP) + i))
            .map_err(|e| format!("push after the child died: {e}"))?;
    }
    if tx.try_push(0) != Err(CoreError::Full) {
        return Err("ring not full after refilling".into());
    }
    match (
        tx.push_partial_slice(&[1, 2, 3]),
        tx.write_chunk_up_to(3).map(|c| c.len()),
    ) {
        (Ok(0), Ok(0)) => {}
        other => return Err(format!("batch writes on a full ring: {other:?}")),
    }
    Ok(format!(
        "child ended with {exit}; ring valid, role stays taken"
    ))
}

// ---------------------------------------------------------------------------
// (c) A hostile peer.

fn hostile_head() -> Result<String, String> {
    const CAP: u32 = 64;
    // Not within a capacity of the producer's tail, whatever that is here.
    const GARBAGE: u32 = 0xDEAD_BEEF;
    let mapping = mapping_for(CAP)?;
    // Start so that the tail wraps while the ring is filled.
    let ring = Ring::<u64>::init_at(mapping.region(), CAP, u32::MAX - 10)
        .map_err(|e| format!("init: {e}"))?;
    let mut tx = ring.producer().map_err(|e| format!("producer: {e}"))?;
    for i in 0..u64::from(CAP) {
        tx.try_push(item(i)).map_err(|e| format!("fill: {e}"))?;
    }
    if tx.try_push(0) != Err(CoreError::Full) {
        return Err("ring not full after filling".into());
    }

    let base = mapping.as_ptr();
    let mut child = fork_child(|| {
        // A hostile peer plays by no rule: no attach, no claim; it scribbles
        // on the head word and on every slot.
        let len = Ring::<u64>::region_len(CAP).unwrap_or(0);
        // SAFETY: `HEAD_OFFSET + 4 <= len` (layout table) and the word is
        // 4-aligned on a page-aligned mapping; no ipckit handle of this
        // (child) process uses the mapping.
        let head = unsafe { AtomicU32::from_ptr(base.add(HEAD_OFFSET).cast()) };
        head.store(GARBAGE, Ordering::Release);
        for off in (ipckit::spsc::DATA_OFFSET..len).step_by(4) {
            // SAFETY: as above, for each 4-aligned word of the slot array.
            let w = unsafe { AtomicU32::from_ptr(base.add(off).cast()) };
            w.store(0xA5A5_A5A5, Ordering::Relaxed);
        }
        EXIT_OK
    })?;
    let exit = child.wait(Instant::now() + DEADLINE)?;
    expect_exit(exit, Exit::Code(EXIT_OK))?;

    // SAFETY: the parent reads back the word the child wrote, atomically,
    // as ring handles do; in bounds and aligned as in the child.
    let head = unsafe { AtomicU32::from_ptr(base.add(HEAD_OFFSET).cast()) }.load(Ordering::Acquire);
    if head != GARBAGE {
        return Err(format!(
            "head word reads {head:#x}, not the child's garbage"
        ));
    }
    // The ring looks full, so every write reloads `head` and refuses it.
    let corrupted = |what: &str, r: Result<usize, CoreError>| match r {
        Err(CoreError::Corrupted(_)) => Ok(()),
        other => Err(format!("{what} with a garbage head: {other:?}")),
    };
    corrupted("try_push", tx.try_push(1).map(|()| 0))?;
    corrupted("push_partial_slice", tx.push_partial_slice(&[1, 2, 3]))?;
    corrupted("write_chunk", tx.write_chunk_up_to(1).map(|c| c.len()))?;
    // The query reads the garbage as a full ring.
    if tx.free_slots() != 0 {
        return Err(format!(
            "free slots with a garbage head: {}",
            tx.free_slots()
        ));
    }
    corrupted("try_push again", tx.try_push(2).map(|()| 0))?;
    // A new consumer is refused as well, and the refused claim is given back
    // (so the answer is `Corrupted` again, not `RoleTaken`).
    for _ in 0..2 {
        corrupted("consumer claim", ring.consumer().map(|_| 0))?;
    }
    // The header was not touched: attaching still validates.
    Ring::<u64>::attach(mapping.region()).map_err(|e| format!("attach: {e}"))?;
    drop(tx);
    Ok("every producer call returned Corrupted".into())
}

// ---------------------------------------------------------------------------

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: [(&str, Test); 4] = [
        ("dead consumer (SIGKILL)", || dead_consumer(Death::Sigkill)),
        ("dead consumer (_exit)", || dead_consumer(Death::Exit)),
        ("hostile head", hostile_head),
        ("stream", stream),
    ];
    Suite::new().tests(tests).run().exit();
}

//! The core's latest-value slot between processes: a parent and `fork()`ed
//! children sharing one anonymous `MAP_SHARED` mapping.
//!
//! Built with `harness = false`: a child forked from a multi-threaded
//! process may only make async-signal-safe calls; here `main` is the only
//! thread (checked before every fork).
//!
//! Sub-tests:
//! - `torn reads`: the parent writes 300,000 values of 64 `u64` words, all
//!   equal to a counter, without pause; two reader children read until
//!   they see the last, checking every value they get is whole (all words
//!   equal), labelled with its version (`2 × counter`) and never older than
//!   the one before.
//! - `killed writer`: a child writer writes 4 KiB values without pause and
//!   is SIGKILLed after a pseudo-random delay, 30 times; a reader child
//!   checks every value it reads throughout. After each kill the parent
//!   reads (whole value or `Busy` when the kill left `seq` odd, never a torn
//!   value), releases the dead writer's claim, writes one value as the new
//!   writer and reads it back. It reports how many kills landed mid-write.
//! - `sleeping reader`: a slot created waking; a reader child blocks in
//!   `read_changed_timeout` on a shared futex between the parent's writes
//!   (1,000 values, 50 µs apart), and must see them in order up to the
//!   last, each wake-up crossing the process boundary.
//!
//! Every wait has a deadline; a failing parent SIGKILLs and reaps its
//! children. The binary prints one line per sub-test and exits 1 if any
//! failed.

mod support;

use support::*;

use std::time::{Duration, Instant};

use ipckit::CoreError;
use ipckit::futex::Futex;
use ipckit::latest::{Options, Reader, Slot};
use ipckit::shm::SharedMapping;

/// Offset of `seq` (layout table in `ipckit::latest`).
const SEQ_OFFSET: usize = 128;

fn mapping<T: ipckit::Pod>() -> Result<SharedMapping, String> {
    let len = Slot::<T>::region_len().map_err(|e| format!("region_len: {e}"))?;
    SharedMapping::anonymous(len).map_err(|e| format!("mmap: {e}"))
}

/// Reads until `stop(k)` says so for a value `[k; N]`, checking every value
/// whole, not older than the last, and (if `labelled`: one writer from the
/// start) carrying the version `2k`. Returns the last `k`.
fn read_until<const N: usize>(
    r: &mut Reader<'_, [u64; N]>,
    labelled: bool,
    stop: impl Fn(u64) -> bool,
    deadline: Instant,
) -> Result<u64, ChildFail> {
    let mut last = 0;
    let mut n = 0u64;
    loop {
        match r.try_read() {
            Ok(v) => {
                let k = v[0];
                if v.iter().any(|&x| x != k) {
                    return Err(fail(EXIT_CORRUPTED_ITEM, format!("torn value at {k}")));
                }
                if labelled && u64::from(r.version()) != (2 * k) & u64::from(u32::MAX) {
                    let msg = format!("value {k} with version {}", r.version());
                    return Err(fail(EXIT_BAD_VALUE, msg));
                }
                if k < last {
                    return Err(fail(EXIT_OUT_OF_ORDER, format!("{last}, then {k}")));
                }
                last = k;
                if stop(k) {
                    return Ok(k);
                }
            }
            Err(CoreError::Empty | CoreError::Busy) => {}
            Err(e) => return Err(fail(EXIT_RING_ERROR, format!("try_read: {e}"))),
        }
        n += 1;
        if n % 1024 == 0 && Instant::now() > deadline {
            return Err(fail(EXIT_TIMEOUT, format!("stuck at {last}")));
        }
    }
}

fn torn_reads() -> Result<String, String> {
    const WRITES: u64 = 300_000;
    type Value = [u64; 64];
    let map = mapping::<Value>()?;
    let slot = Slot::<Value>::init(map.region()).map_err(|e| format!("init: {e}"))?;
    let mut readers = Vec::new();
    for _ in 0..2 {
        readers.push(fork_main(|| {
            let slot = Slot::<Value>::attach(map.region())
                .map_err(|e| fail(EXIT_RING_ERROR, format!("attach: {e}")))?;
            let mut r = slot.reader();
            read_until(&mut r, true, |k| k == WRITES, Instant::now() + DEADLINE).map(drop)
        })?);
    }
    let mut w = slot.writer().map_err(|e| format!("writer: {e}"))?;
    for k in 1..=WRITES {
        w.write([k; 64]);
    }
    for mut child in readers {
        child.expect_ok(Instant::now() + DEADLINE)?;
    }
    Ok(format!("{WRITES} writes of 512 B, 2 reader processes"))
}

fn killed_writer() -> Result<String, String> {
    const KILLS: u64 = 30;
    type Value = [u64; 512];
    let map = mapping::<Value>()?;
    let slot = Slot::<Value>::init(map.region()).map_err(|e| format!("init: {e}"))?;
    let reader = fork_main(|| {
        let mut r = slot.reader();
        // The parent's last value is `u64::MAX`.
        read_until(&mut r, false, |k| k == u64::MAX, Instant::now() + DEADLINE).map(drop)
    })?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut odd, mut next) = (0u32, 1u64);
    for _ in 0..KILLS {
        // Each writer continues from the parent's last value.
        let start = next;
        let mut writer = fork_main(|| {
            let mut w = slot
                .writer()
                .map_err(|e| fail(EXIT_RING_ERROR, format!("writer: {e}")))?;
            for k in start.. {
                w.write([k; 512]);
            }
            Ok(())
        })?;
        std::thread::sleep(Duration::from_micros(200 + rng.upto(3000)));
        writer.kill();
        // Whatever the kill left, no torn value is ever read.
        let seq = map_word(&map, SEQ_OFFSET);
        let mut r = slot.reader();
        // The next value must exceed every value the dead writer wrote,
        // including one it died writing: its last, or past all it could.
        match r.try_read() {
            Ok(v) if v.iter().all(|&x| x == v[0]) => next = v[0] + 1,
            Ok(v) => return Err(format!("torn value after a kill: {}, {}", v[0], v[511])),
            Err(CoreError::Busy) if seq % 2 == 1 => {
                odd += 1;
                next = start + (1 << 32);
            }
            // Killed before its first write.
            Err(CoreError::Empty) if seq == 0 => {}
            Err(e) => return Err(format!("read after a kill (seq {seq}): {e}")),
        }
        // SAFETY: the killed writer is reaped and never runs again.
        unsafe { slot.release_writer_claim() };
        let mut w = slot.writer().map_err(|e| format!("writer: {e}"))?;
        w.write([next; 512]);
        if r.try_read() != Ok([next; 512]) {
            return Err(format!("the new writer's value {next} was not read back"));
        }
        next += 1;
    }
    slot.writer()
        .map_err(|e| format!("writer: {e}"))?
        .write([u64::MAX; 512]);
    let mut reader = reader;
    reader.expect_ok(Instant::now() + DEADLINE)?;
    Ok(format!(
        "{KILLS} writers killed, {odd} of them mid-write, recovered"
    ))
}

fn sleeping_reader() -> Result<String, String> {
    const WRITES: u64 = 1000;
    type Value = [u64; 4];
    let map = mapping::<Value>()?;
    let options = Options::new().waking(true);
    let slot = Slot::<Value>::init_with(map.region(), options).map_err(|e| format!("init: {e}"))?;
    let mut reader = fork_main(|| {
        let mut r = slot
            .reader_with(Futex::new())
            .map_err(|e| fail(EXIT_RING_ERROR, format!("reader: {e}")))?;
        let mut last = 0;
        while last < WRITES {
            let v = r
                .read_changed_timeout(Some(Duration::from_secs(3)))
                .map_err(|e| fail(EXIT_TIMEOUT, format!("read_changed after {last}: {e}")))?;
            if v.iter().any(|&x| x != v[0]) || v[0] <= last {
                return Err(fail(EXIT_BAD_VALUE, format!("{v:?} after {last}")));
            }
            last = v[0];
        }
        Ok(())
    })?;
    let mut w = slot
        .writer_with(Futex::new())
        .map_err(|e| format!("writer: {e}"))?;
    for k in 1..=WRITES {
        std::thread::sleep(Duration::from_micros(50));
        w.write([k; 4]);
    }
    // Woken by the last write, the reader is done at once; one that was
    // never woken sleeps out its timeout first.
    let last_write = Instant::now();
    reader.expect_ok(last_write + DEADLINE)?;
    let late = last_write.elapsed();
    if late > Duration::from_secs(1) {
        return Err(format!("the reader ended {late:?} after the last write"));
    }
    Ok(format!(
        "{WRITES} writes 50 us apart, read in order by a reader process asleep between them"
    ))
}

/// The `u32` at `offset` of `map`, as a peer sees it.
fn map_word(map: &SharedMapping, offset: usize) -> u32 {
    // SAFETY: in bounds and aligned (the mapping is page-aligned), and every
    // access to the word is atomic.
    let word = unsafe {
        &*map
            .as_ptr()
            .add(offset)
            .cast::<std::sync::atomic::AtomicU32>()
    };
    word.load(std::sync::atomic::Ordering::SeqCst)
}

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: [(&str, Test); 3] = [
        ("torn reads", torn_reads),
        ("killed writer", killed_writer),
        ("sleeping reader", sleeping_reader),
    ];
    Suite::new().tests(tests).run().exit();
}

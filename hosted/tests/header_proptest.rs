//! Channel objects with hostile headers and liveness blocks: every `open`,
//! `take_over`, `inspect`, `list` and `remove_stale` path must answer with
//! an error value (naming the object) or a working endpoint, never a panic,
//! a signal or an access outside the mapping.
//!
//! Built with `harness = false`: each check runs in a forked child, so that
//! a `SIGSEGV` or `SIGBUS` fails the check instead of killing the runner.
//!
//! Cleanup: every name is `ipckit-test-<pid>-<n>-<what>` of the parent's
//! pid, removed by a drop guard in the parent; at the end the binary fails
//! if anything of this run is left in `/dev/shm`.

#[path = "header_proptest/paths.rs"]
mod paths;
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ipckit::channel::{self, bytes, mpmc, mpsc_bytes, spsc};
use ipckit::error::Error;
use ipckit::shm::{SharedMemory, ShmObject};
use paths::{StopOnDrop, every_open, every_path, in_child, prop_in_child, word};
use proptest::prelude::*;
use support::{Ctx, SharedWords, ShmGuard, Suite};

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

// Header word offsets (core/src/region.rs).
const MAGIC: usize = 0;
const VERSION: usize = 4;
const KIND: usize = 8;
const ELEM_SIZE: usize = 20;
const ELEM_ALIGN: usize = 24;
const CAPACITY: usize = 28;
const DATA_OFFSET: usize = 32;
/// The MPMC ring's `head` (core/src/mpmc.rs).
const MPMC_HEAD: usize = 256;

// ---------------------------------------------------------------------------
// Hole 1 of issue 13: sizes from a crafted header.

/// MPMC sizes whose region length is `2^64 - 1`: `data_offset + capacity ×
/// stride` with the stride `round_up(4 + elem_size, 4) = 2^32`.
fn craft_wrapping_mpmc(obj: &ShmObject) {
    word(obj, ELEM_SIZE).store(0xFFFF_FFFC, Ordering::Relaxed);
    word(obj, ELEM_ALIGN).store(4, Ordering::Relaxed);
    word(obj, CAPACITY).store(u32::MAX, Ordering::Relaxed);
    word(obj, DATA_OFFSET).store(u32::MAX, Ordering::Relaxed);
}

fn crafted_sizes() -> Result<String, String> {
    let g = ShmGuard::new("crafted");
    drop(mpmc::Sender::<u32>::create(&g.0, 64).ctx("create")?);
    craft_wrapping_mpmc(&ShmObject::open(&g.0).ctx("open object")?);
    let name = g.0.clone();
    in_child("crafted MPMC sizes", || {
        for (what, r) in every_open(&name, 8192)? {
            match r {
                Ok(()) => return Err(format!("{what} opened a channel with crafted sizes")),
                Err(e) => ensure!(
                    e.to_string().contains(&name),
                    "{what}: the error does not name the object: {e}"
                ),
            }
        }
        let info = channel::inspect(&name).map_err(|e| format!("inspect: {e}"))?;
        ensure!(
            matches!(info.status, channel::ChannelStatus::Unknown(_)),
            "inspect: {:?}",
            info.status
        );
        channel::list().map_err(|e| format!("list: {e}"))?;
        Ok(())
    })?;
    Ok("every open refuses it, naming the object; inspect and list answer".into())
}

/// A header state the flipper writes: `(offset, value)` pairs.
type State = &'static [(usize, u32)];

fn flip_between_reads() -> Result<String, String> {
    const ROUNDS: u32 = 20_000;
    let g = ShmGuard::new("flip");
    // 64 slots of u32: an object of 8 KiB.
    drop(mpmc::Sender::<u32>::create(&g.0, 64).ctx("create")?);
    let name = g.0.clone();
    in_child("header flipped between reads", || {
        let obj = ShmObject::open(&name).map_err(|e| e.to_string())?;
        let len = obj.len();
        // What each read of the unfixed code needed to see: sizes whose
        // liveness offset wraps to 0; then a liveness block at offset 0
        // ("IPCL", version 2, 64 slots); then a valid header of 2^30 slots,
        // with `head` far past the mapping.
        const S1: State = &[
            (MAGIC, u32::from_le_bytes(*b"IPCK")),
            (VERSION, 1),
            (KIND, 2),
            (ELEM_SIZE, 0xFFFF_FFFC),
            (ELEM_ALIGN, 4),
            (CAPACITY, u32::MAX),
            (DATA_OFFSET, u32::MAX),
        ];
        const S2: State = &[
            (MAGIC, u32::from_le_bytes(*b"IPCL")),
            (VERSION, 2),
            (KIND, 64),
        ];
        const S3: State = &[
            (MAGIC, u32::from_le_bytes(*b"IPCK")),
            (VERSION, 1),
            (KIND, 2),
            (ELEM_SIZE, 4),
            (ELEM_ALIGN, 4),
            (CAPACITY, 1 << 30),
            (DATA_OFFSET, 384),
            (MPMC_HEAD, 1 << 29),
        ];
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut spins = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    for state in [S1, S2, S3] {
                        for &(off, v) in state {
                            word(&obj, off).store(v, Ordering::Relaxed);
                        }
                        // Dwell a varying while in each state.
                        spins = spins.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                        for _ in 0..(spins >> 20) % 200 {
                            std::hint::spin_loop();
                        }
                    }
                }
            });
            // Stops the flipper also when the loop below panics.
            let _stop = StopOnDrop(&stop);
            let until = Instant::now() + Duration::from_secs(3);
            (|| {
                for _ in 0..ROUNDS {
                    if Instant::now() > until {
                        break;
                    }
                    let Ok(rx) = mpmc::Receiver::<u32>::open(&name) else {
                        continue;
                    };
                    // Before the fix: a SIGSEGV here (`head` is 4 GiB past
                    // the mapping), or the check after it.
                    let _ = rx.try_recv();
                    let fits = mpmc::Receiver::<u32>::object_len(rx.capacity())
                        .is_some_and(|need| need <= len);
                    ensure!(
                        fits,
                        "opened with {} slots on a {len}-byte object",
                        rx.capacity()
                    );
                }
                Ok(())
            })()
        })
    })?;
    Ok(format!(
        "up to {ROUNDS} opens (3 s) while a thread flips the header: none beyond the mapping"
    ))
}

// ---------------------------------------------------------------------------
// Arbitrary headers and liveness blocks.

/// The channel kinds a case starts from (then overwritten).
const KINDS: [&str; 4] = ["spsc", "mpmc", "bytes", "mpsc_bytes"];

/// Creates a small channel of kind `k` (an 8 KiB object: the core region
/// ends below 4096, the liveness block is at 4096).
fn create(k: usize, name: &str) -> Result<(), Error> {
    match k {
        0 => spsc::Sender::<u32>::create(name, 8).map(drop),
        1 => mpmc::Sender::<u32>::create(name, 8).map(drop),
        2 => bytes::Sender::create(name, 64).map(drop),
        _ => mpsc_bytes::Sender::create(name, 64).map(drop),
    }
}

const OBJECT_LEN: usize = 8192;
const BLOCK: usize = 4096;
const STATE: usize = 16;

/// The header's ten words (`magic` .. `flags`).
fn header_offset() -> impl Strategy<Value = usize> {
    (0..10usize).prop_map(|i| i * 4)
}

/// A liveness word: magic, version, slot count, a slot's state word or
/// reserved word, or an intent word.
fn liveness_offset() -> impl Strategy<Value = usize> {
    prop_oneof![
        1 => (0..3usize).prop_map(|i| i * 4),
        6 => (0..128usize, 0..2usize).prop_map(|(slot, w)| 64 + slot * 16 + w * 4),
        3 => (0..256usize).prop_map(|i| 2112 + i * 4),
    ]
}

/// Values a hostile peer tries first.
const SPECIAL: [u32; 22] = [
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    8,
    64,
    128,
    384,
    512,
    4096,
    0x7fff_ffff,
    0x8000_0000,
    1 << 30,
    u32::MAX,
    u32::MAX - 3,
    u32::from_le_bytes(*b"IPCK"),
    u32::from_le_bytes(*b"IPCL"),
    0x0102_0304,
    0x0403_0201,
];

/// Values a hostile peer tries, and any other.
fn value() -> impl Strategy<Value = u32> {
    prop_oneof![prop::sample::select(SPECIAL.to_vec()), any::<u32>()]
}

/// MPMC sizes (kind 2 written in half the cases) whose region length is
/// `2^64 - 1 - back`: capacity `u32::MAX`, a power-of-two alignment `A`, an
/// element of `2^32 - A` bytes (stride `2^32`) and the data offset making up
/// the rest. With `back < 4096` rounding up to the liveness block wraps.
fn near_wrap() -> impl Strategy<Value = Vec<(usize, u32)>> {
    (2u32..32, 0u32..8192, any::<bool>()).prop_map(|(a_log, back, mpmc)| {
        let align = 1u32 << a_log;
        let mut writes = vec![
            (ELEM_SIZE, 0u32.wrapping_sub(align)),
            (ELEM_ALIGN, align),
            (CAPACITY, u32::MAX),
            (DATA_OFFSET, u32::MAX - back),
        ];
        if mpmc {
            writes.push((KIND, 2));
        }
        writes
    })
}

/// A slot state word naming a pid: garbage, init (alive), or nobody.
fn slot_word() -> impl Strategy<Value = u32> {
    (
        0..4u32,
        prop_oneof![Just(0u32), Just(1), 2..(1u32 << 22)],
        any::<u8>(),
    )
        .prop_map(|(state, pid, generation)| (u32::from(generation) << 24) | (pid << 2) | state)
}

/// One case: a channel kind, then word writes over its header, liveness
/// block (state words, start times) and control lines and data.
#[derive(Debug, Clone)]
struct Case {
    kind: usize,
    header: Vec<(usize, u32)>,
    liveness: Vec<(usize, u32)>,
    slots: Vec<(usize, u32, u64)>,
    control: Vec<(usize, u32)>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        0..KINDS.len(),
        // Many cases keep a valid header, to reach the liveness block and
        // the endpoints behind it.
        prop_oneof![
            2 => Just(Vec::new()),
            2 => prop::collection::vec((header_offset(), value()), 1..6),
            1 => near_wrap(),
        ],
        prop::collection::vec((liveness_offset(), value()), 0..6),
        prop::collection::vec((0..128usize, slot_word(), any::<u64>()), 0..4),
        prop::collection::vec(((32..1024usize).prop_map(|i| i * 4), value()), 0..4),
    )
        .prop_map(|(kind, header, liveness, slots, control)| Case {
            kind,
            header,
            liveness,
            slots,
            control,
        })
}

/// Writes the case over a fresh channel. A header state of 0 or 1 (a
/// creator still initialising) is written as 2 or 3: every open would wait
/// for it (2 s); `not_initialised` checks that path once.
fn apply(case: &Case, obj: &ShmObject) {
    for &(off, mut v) in &case.header {
        if off == STATE && v < 2 {
            v += 2;
        }
        word(obj, off).store(v, Ordering::Relaxed);
    }
    for &(off, v) in &case.liveness {
        word(obj, BLOCK + off).store(v, Ordering::Relaxed);
    }
    for &(slot, w, start) in &case.slots {
        let at = BLOCK + 64 + slot * 16;
        // SAFETY: in bounds and 8-aligned; touched only atomically.
        let start_word =
            unsafe { std::sync::atomic::AtomicU64::from_ptr(obj.as_ptr().add(at + 8).cast()) };
        start_word.store(start, Ordering::Relaxed);
        word(obj, at).store(w, Ordering::Release);
    }
    for &(off, v) in &case.control {
        word(obj, off).store(v, Ordering::Relaxed);
    }
}

fn arbitrary_headers() -> Result<String, String> {
    const CASES: u32 = 512;
    let g = ShmGuard::new("prop");
    let name = g.0.clone();
    // Counted in the child: cases, opens that succeeded, `remove_stale` calls.
    let stats = SharedWords::new();
    prop_in_child("arbitrary headers", CASES, case(), |c| {
        let nth = stats.word(0).fetch_add(1, Ordering::Relaxed);
        let _ = ShmObject::remove(&name);
        create(c.kind, &name).map_err(|e| format!("create: {e}"))?;
        let obj = ShmObject::open(&name).map_err(|e| e.to_string())?;
        apply(c, &obj);
        let n = every_path(&name, OBJECT_LEN)?;
        stats.word(1).fetch_add(n as u64, Ordering::Relaxed);
        // `remove_stale` looks at every channel of the machine: every 32nd
        // case only, to leave other tests' objects alone.
        if nth % 32 == 0 {
            stats.word(2).fetch_add(1, Ordering::Relaxed);
            channel::remove_stale().map_err(|e| format!("remove_stale: {e}"))?;
        }
        let _ = ShmObject::remove(&name);
        Ok(())
    })?;
    let [cases, opened, removals] = [0, 1, 2].map(|i| stats.word(i).load(Ordering::Relaxed));
    Ok(format!(
        "{cases} cases x 13 opens ({opened} opened and worked), inspect, list, \
         {removals} remove_stale: errors name the object"
    ))
}

/// A case of the concurrent test: a channel kind and the seed of the
/// thread that rewrites its words while every path opens it.
#[derive(Debug, Clone)]
struct Flips {
    kind: usize,
    seed: u64,
}

/// Rewrites words of `obj` until `stop`: header words (each field, the
/// state word included), liveness words (magic, version, slot count, state
/// words, start times) and control words, with a special value, a random
/// one or the original (so that opens also get through).
fn flipper(obj: &ShmObject, original: &[u32], seed: u64, stop: &AtomicBool) -> u64 {
    let mut rng = support::Rng(seed | 1);
    let mut writes = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let r = rng.next();
        let off = match r % 8 {
            0..=3 => (r >> 8) as usize % 10 * 4,
            4 => BLOCK + (r >> 8) as usize % 3 * 4,
            5 | 6 => BLOCK + 64 + (r >> 8) as usize % 128 * 16 + (r >> 20) as usize % 4 * 4,
            _ => 128 + (r >> 8) as usize % 96 * 4,
        };
        let v = match (r >> 32) % 4 {
            0 | 1 => original[off / 4],
            2 => SPECIAL[(r >> 40) as usize % SPECIAL.len()],
            _ => (r >> 16) as u32,
        };
        word(obj, off).store(v, Ordering::Relaxed);
        writes += 1;
        if writes % 64 == 0 {
            std::thread::yield_now();
        }
    }
    writes
}

fn concurrent_headers() -> Result<String, String> {
    const CASES: u32 = 64;
    const ROUNDS: u32 = 4;
    let g = ShmGuard::new("flips");
    let name = g.0.clone();
    let stats = SharedWords::new();
    let strategy = (0..KINDS.len(), any::<u64>()).prop_map(|(kind, seed)| Flips { kind, seed });
    prop_in_child("concurrent headers", CASES, strategy, |c| {
        let _ = ShmObject::remove(&name);
        create(c.kind, &name).map_err(|e| format!("create: {e}"))?;
        let obj = ShmObject::open(&name).map_err(|e| e.to_string())?;
        let original: Vec<u32> = (0..OBJECT_LEN / 4)
            .map(|i| word(&obj, i * 4).load(Ordering::Relaxed))
            .collect();
        let stop = AtomicBool::new(false);
        let result = std::thread::scope(|s| {
            let flips = s.spawn(|| flipper(&obj, &original, c.seed, &stop));
            let result = {
                let _stop = StopOnDrop(&stop);
                (0..ROUNDS).try_fold(0, |n, _| {
                    Ok::<_, String>(n + every_path(&name, OBJECT_LEN)?)
                })
            };
            let writes = flips.join().map_err(|_| "flipper panicked".to_string())?;
            stats.word(2).fetch_add(writes, Ordering::Relaxed);
            result
        })?;
        stats.word(0).fetch_add(1, Ordering::Relaxed);
        stats.word(1).fetch_add(result as u64, Ordering::Relaxed);
        let _ = ShmObject::remove(&name);
        Ok(())
    })?;
    let [cases, opened, writes] = [0, 1, 2].map(|i| stats.word(i).load(Ordering::Relaxed));
    Ok(format!(
        "{cases} cases x {ROUNDS} rounds x 13 opens, inspect, list while a thread rewrote \
         {writes} words: {opened} opened and worked, every error names the object"
    ))
}

fn not_initialised() -> Result<String, String> {
    let g = ShmGuard::new("uninit");
    drop(spsc::Sender::<u32>::create(&g.0, 8).ctx("create")?);
    let obj = ShmObject::open(&g.0).ctx("open object")?;
    word(&obj, STATE).store(1, Ordering::Relaxed);
    match spsc::Receiver::<u32>::open(&g.0) {
        Err(e) if e.core() == Some(ipckit::error::CoreError::NotInitialized) => {
            ensure!(e.to_string().contains(&g.0), "{e}");
        }
        other => return Err(format!("open of an initialising object: {other:?}")),
    }
    let info = channel::inspect(&g.0).ctx("inspect")?;
    ensure!(
        matches!(info.status, channel::ChannelStatus::Unknown(_)),
        "{:?}",
        info.status
    );
    Ok("an object whose creator never finished: NotInitialized after the wait, naming it".into())
}

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: &[(&str, Test)] = &[
        ("crafted header sizes", crafted_sizes),
        ("header flipped between reads", flip_between_reads),
        ("arbitrary headers and liveness blocks", arbitrary_headers),
        ("headers changing while opened", concurrent_headers),
        ("header of an unfinished creator", not_initialised),
    ];
    Suite::new()
        .tests(tests.iter().copied())
        .leftovers_checked()
        .run()
        .exit();
}

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

mod support;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ipckit::channel::{self, bytes, mpmc, mpsc_bytes, spsc};
use ipckit::error::Error;
use ipckit::shm::{SharedMemory, ShmObject};
use support::{
    Ctx, EXIT_CHECK, EXIT_OK, Exit, ShmGuard, child_main, fail, fork_child, run_tests,
};

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

const PATIENCE: Duration = Duration::from_secs(60);

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

/// Word `offset` of a mapping.
fn word(mem: &impl SharedMemory, offset: usize) -> &AtomicU32 {
    assert!(offset % 4 == 0 && offset + 4 <= mem.len());
    // SAFETY: in bounds and 4-aligned (page-aligned base); these tests touch
    // such words only atomically, and the mapping outlives the reference.
    unsafe { AtomicU32::from_ptr(mem.as_ptr().add(offset).cast()) }
}

/// Runs `body` in a forked child; `Ok` if it exits 0, else what happened
/// (a signal included).
fn in_child(what: &str, body: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let mut child = fork_child(|| child_main(|| body().map_err(|e| fail(EXIT_CHECK, e))))?;
    match child.wait(Instant::now() + PATIENCE)? {
        Exit::Code(EXIT_OK) => Ok(()),
        other => Err(format!("{what}: child ended with {other}")),
    }
}

/// Every open path of every kind on `name`, each expected to fail; an
/// endpoint that opens must work (its `try_` calls return).
fn every_open(name: &str) -> Vec<(&'static str, Result<(), Error>)> {
    let mut buf = [0u8; 64];
    vec![
        (
            "spsc::Sender::open",
            spsc::Sender::<u32>::open(name).map(|mut e| drop(e.try_send(1))),
        ),
        (
            "spsc::Receiver::take_over",
            spsc::Receiver::<u32>::take_over(name).map(|mut e| drop(e.try_recv())),
        ),
        (
            "mpmc::Sender::open",
            mpmc::Sender::<u32>::open(name).map(|e| drop(e.try_send(1))),
        ),
        (
            "mpmc::Receiver::open",
            mpmc::Receiver::<u32>::open(name).map(|e| drop(e.try_recv())),
        ),
        (
            "bytes::Sender::take_over",
            bytes::Sender::take_over(name).map(|mut e| drop(e.try_send(b"x"))),
        ),
        (
            "bytes::Receiver::open",
            bytes::Receiver::open(name).map(|mut e| drop(e.try_recv(&mut buf))),
        ),
        (
            "mpsc_bytes::Sender::open",
            mpsc_bytes::Sender::open(name).map(|e| drop(e.try_send(b"x"))),
        ),
        (
            "mpsc_bytes::Receiver::take_over",
            mpsc_bytes::Receiver::take_over(name).map(|mut e| drop(e.try_recv(&mut buf))),
        ),
    ]
}

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
        for (what, r) in every_open(&name) {
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

/// Raises the flag when dropped (also while unwinding).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
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
            let result = (|| {
                for _ in 0..ROUNDS {
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
            })();
            result
        })
    })?;
    Ok(format!(
        "{ROUNDS} opens while a thread flips the header: none beyond the mapping"
    ))
}

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: &[(&str, Test)] = &[
        ("crafted header sizes", crafted_sizes),
        ("header flipped between reads", flip_between_reads),
    ];
    let mut tally = run_tests("header_proptest", tests);
    tally.check_leftovers("header_proptest");
    tally.finish("header_proptest");
}

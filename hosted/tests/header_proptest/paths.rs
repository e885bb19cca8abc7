//! The paths under test and the scaffolding of `header_proptest`: every
//! open of every kind, `inspect` and `list` on one object; forked children
//! that run a check or a whole proptest run.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ipckit::channel::{self, bytes, mpmc, mpsc_bytes, spsc};
use ipckit::error::Error;
use ipckit::shm::SharedMemory;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};

use crate::support::{EXIT_CHECK, EXIT_OK, Exit, SharedWords, child_main, fail, fork_child};

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// The longest a child may take.
const PATIENCE: Duration = Duration::from_secs(60);

/// Word `offset` of a mapping.
pub fn word(mem: &impl SharedMemory, offset: usize) -> &AtomicU32 {
    assert!(offset % 4 == 0 && offset + 4 <= mem.len());
    // SAFETY: in bounds and 4-aligned (page-aligned base); these tests touch
    // such words only atomically, and the mapping outlives the reference.
    unsafe { AtomicU32::from_ptr(mem.as_ptr().add(offset).cast()) }
}

/// Runs `body` in a forked child; `Ok` if it exits 0, else what happened
/// (a signal included).
pub fn in_child(what: &str, body: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let mut child = fork_child(|| child_main(|| body().map_err(|e| fail(EXIT_CHECK, e))))?;
    match child.wait(Instant::now() + PATIENCE)? {
        Exit::Code(EXIT_OK) => Ok(()),
        other => Err(format!("{what}: child ended with {other}")),
    }
}

/// The bytes an endpoint that opened may claim as its ring: `object_len`
/// of its capacity, or for a byte channel twice its largest message (the
/// frame rings' capacity is at least that).
fn fits(need: Option<usize>, len: usize) -> Result<(), String> {
    match need {
        Some(n) if n <= len => Ok(()),
        other => Err(format!(
            "an endpoint claims {other:?} bytes of a {len}-byte object"
        )),
    }
}

/// What each open path returned.
pub type Outcomes = Vec<(&'static str, Result<(), Error>)>;

/// Every open path of every kind on `name` (a `len`-byte object): each
/// either fails or yields an endpoint that fits the object and whose `try_`
/// calls return. `Err` for an endpoint that does not fit.
pub fn every_open(name: &str, len: usize) -> Result<Outcomes, String> {
    let mut buf = [0u8; 64];
    let frame = |max: u32| Some(2 * max as usize);
    let mut all = Vec::new();
    macro_rules! try_open {
        ($what:expr, $open:expr, |$e:ident| $need:expr, $use:expr) => {
            let r = $open;
            let r = match r {
                #[allow(unused_mut)] // only some endpoints' `try_` take `&mut`
                Ok(mut $e) => {
                    fits($need, len).map_err(|m| format!("{}: {m}", $what))?;
                    $use;
                    $use;
                    Ok(())
                }
                Err(e) => Err(e),
            };
            all.push(($what, r));
        };
    }
    type S = spsc::Sender<u32>;
    type R = spsc::Receiver<u32>;
    type MS = mpmc::Sender<u32>;
    type MR = mpmc::Receiver<u32>;
    try_open!(
        "spsc::Sender::open",
        S::open(name),
        |e| S::object_len(e.capacity()),
        {
            let _ = e.try_send(1);
        }
    );
    try_open!(
        "spsc::Sender::take_over",
        S::take_over(name),
        |e| S::object_len(e.capacity()),
        {
            let _ = e.try_send(1);
        }
    );
    try_open!(
        "spsc::Receiver::open",
        R::open(name),
        |e| R::object_len(e.capacity()),
        {
            let _ = e.try_recv();
        }
    );
    try_open!(
        "spsc::Receiver::take_over",
        R::take_over(name),
        |e| R::object_len(e.capacity()),
        {
            let _ = e.try_recv();
        }
    );
    try_open!(
        "mpmc::Sender::open",
        MS::open(name),
        |e| MS::object_len(e.capacity()),
        {
            let _ = e.try_send(1);
        }
    );
    try_open!(
        "mpmc::Receiver::open",
        MR::open(name),
        |e| MR::object_len(e.capacity()),
        {
            let _ = e.try_recv();
        }
    );
    try_open!(
        "bytes::Sender::open",
        bytes::Sender::open(name),
        |e| frame(e.max_frame_len()),
        {
            let _ = e.try_send(b"x");
        }
    );
    try_open!(
        "bytes::Sender::take_over",
        bytes::Sender::take_over(name),
        |e| frame(e.max_frame_len()),
        {
            let _ = e.try_send(b"x");
        }
    );
    try_open!(
        "bytes::Receiver::open",
        bytes::Receiver::open(name),
        |e| frame(e.max_frame_len()),
        {
            let _ = e.try_recv(&mut buf);
        }
    );
    try_open!(
        "bytes::Receiver::take_over",
        bytes::Receiver::take_over(name),
        |e| frame(e.max_frame_len()),
        {
            let _ = e.try_recv(&mut buf);
        }
    );
    try_open!(
        "mpsc_bytes::Sender::open",
        mpsc_bytes::Sender::open(name),
        |e| frame(e.max_frame_len()),
        {
            let _ = e.try_send(b"x");
        }
    );
    try_open!(
        "mpsc_bytes::Receiver::open",
        mpsc_bytes::Receiver::open(name),
        |e| frame(e.max_frame_len()),
        {
            let _ = e.try_recv(&mut buf);
        }
    );
    try_open!(
        "mpsc_bytes::Receiver::take_over",
        mpsc_bytes::Receiver::take_over(name),
        |e| frame(e.max_frame_len()),
        {
            let _ = e.try_recv(&mut buf);
        }
    );
    Ok(all)
}

/// [`every_open`], then `inspect` and `list`: errors must name the object.
/// `Ok(number of opens that succeeded)`.
pub fn every_path(name: &str, len: usize) -> Result<usize, String> {
    let mut opened = 0;
    for (what, r) in every_open(name, len)? {
        match r {
            Ok(()) => opened += 1,
            Err(e) => ensure!(
                e.to_string().contains(name),
                "{what}: the error does not name the object: {e}"
            ),
        }
    }
    channel::inspect(name).map_err(|e| format!("inspect: {e}"))?;
    let listed = channel::list().map_err(|e| format!("list: {e}"))?;
    ensure!(
        listed.iter().any(|c| c.name == name),
        "list does not show {name}"
    );
    Ok(opened)
}

/// Raises the flag when dropped (also while unwinding).
pub struct StopOnDrop<'a>(pub &'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs `cases` proptest cases of `check` in a forked child; the case being
/// run is kept in shared memory, so that one that kills the child with a
/// signal is still shown.
pub fn prop_in_child<C: std::fmt::Debug>(
    what: &str,
    cases: u32,
    strategy: impl Strategy<Value = C>,
    check: impl Fn(&C) -> Result<(), String>,
) -> Result<(), String> {
    let current = SharedWords::new();
    let show = |c: &C| {
        let text = format!("{c:?}");
        let bytes = text.as_bytes();
        let n = bytes.len().min(8 * 500);
        for (i, chunk) in bytes[..n].chunks(8).enumerate() {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            current
                .word(i + 1)
                .store(u64::from_le_bytes(w), Ordering::Relaxed);
        }
        current.word(0).store(n as u64, Ordering::Release);
    };
    let result = in_child(what, || {
        let config = ProptestConfig {
            cases,
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        TestRunner::new(config)
            .run(&strategy, |c| {
                show(&c);
                check(&c).map_err(TestCaseError::fail)
            })
            .map_err(|e| e.to_string())
    });
    result.map_err(|e| {
        let n = current.word(0).load(Ordering::Acquire) as usize;
        let bytes: Vec<u8> = (0..n.div_ceil(8))
            .flat_map(|i| current.word(i + 1).load(Ordering::Relaxed).to_le_bytes())
            .take(n)
            .collect();
        format!("{e}; last case: {}", String::from_utf8_lossy(&bytes))
    })
}

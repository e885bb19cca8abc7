//! The `1p1c` runs of the MPMC bench (its module docs): one producer and
//! one consumer pinned to two CPUs, from an empty or a full queue, run
//! again when a thread lost its CPU.

use std::hint::{black_box, spin_loop};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{CAPACITY, Idle, Padded, Pop, Push, Variant, expected_sum, pin_on};

/// How a `1p1c` run starts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// With an empty queue.
    Empty,
    /// With a full queue: the producer pushes `CAPACITY` items (counted in
    /// the `n`) before the consumer starts (module docs, `1p1c_full`).
    Full,
}

impl Start {
    pub fn of(variant: Variant) -> Self {
        match variant {
            Variant::Ipckit1p1cFull | Variant::Crossbeam1p1cFull => Start::Full,
            _ => Start::Empty,
        }
    }

    /// The items a run of `n` moves.
    pub fn items(self, n: u64) -> u64 {
        match self {
            Start::Empty => n,
            Start::Full => n.max(u64::from(CAPACITY)),
        }
    }
}

/// One producer (this thread) and one consumer (a new thread on the second
/// CPU) move `0..n`; returns the time from the consumer's start (after the
/// producer filled the queue, for `Start::Full`) to its last pop.
pub fn one_to_one<Tx: Push, Rx: Pop + Sync>(
    name: &str,
    n: u64,
    from: Start,
    tx: &Padded<Tx>,
    rx: &Padded<Rx>,
) -> Duration {
    for _ in 0..PREEMPTED_RETRIES {
        let (elapsed, preempted) = one_to_one_once(name, n, from, tx, rx);
        if !preempted {
            return elapsed;
        }
        REPEATED.fetch_add(1, Ordering::Relaxed);
    }
    one_to_one_once(name, n, from, tx, rx).0
}

/// How many times a `1p1c` run in which a thread lost its CPU is run
/// again before its time is taken anyway (module docs).
const PREEMPTED_RETRIES: usize = 3;

/// `1p1c` runs repeated because a thread lost its CPU.
pub static REPEATED: AtomicUsize = AtomicUsize::new(0);

/// Involuntary context switches of the calling thread so far.
fn preemptions() -> libc::c_long {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `getrusage` fills the struct it is given, and a zeroed
    // `rusage` is valid if it fails.
    unsafe {
        libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr());
        usage.assume_init().ru_nivcsw
    }
}

/// One run of [`one_to_one`], and whether either thread lost its CPU
/// during it.
fn one_to_one_once<Tx: Push, Rx: Pop + Sync>(
    name: &str,
    n: u64,
    from: Start,
    tx: &Padded<Tx>,
    rx: &Padded<Rx>,
) -> (Duration, bool) {
    let n = from.items(n);
    let ready = AtomicBool::new(false);
    let go = AtomicBool::new(false);
    let (start, end, sum) = std::thread::scope(|s| {
        let consumer = s.spawn(|| {
            pin_on(1);
            ready.store(true, Ordering::Release);
            while !go.load(Ordering::Acquire) {
                spin_loop();
            }
            let before = preemptions();
            let sum = rx.0.pop_n(n, Idle::Spin);
            (Instant::now(), sum, preemptions() != before)
        });
        while !ready.load(Ordering::Acquire) {
            spin_loop();
        }
        let first = match from {
            Start::Empty => 0,
            Start::Full => u64::from(CAPACITY),
        };
        tx.0.push_all(0..first, Idle::Spin);
        let before = preemptions();
        let start = Instant::now();
        go.store(true, Ordering::Release);
        tx.0.push_all(first..n, Idle::Spin);
        let preempted = preemptions() != before;
        let (end, sum, consumer_preempted) = consumer.join().expect("consumer thread panicked");
        (start, end, (sum, preempted || consumer_preempted))
    });
    let (sum, preempted) = sum;
    assert_eq!(sum, expected_sum(n), "{name}: consumer saw wrong items");
    black_box(sum);
    (end.saturating_duration_since(start), preempted)
}

//! The core's counting semaphore between processes: a parent and
//! `fork()`ed children sharing anonymous `MAP_SHARED` mappings, sleeping in
//! the kernel on shared futexes ([`Futex`]) in the semaphore's count word.
//!
//! Built with `harness = false`: the test harness runs tests on threads, and
//! a child forked from a multi-threaded process may only make
//! async-signal-safe calls. Here `main` is the only thread (checked before
//! every fork), so the children can allocate, print and use the whole API.
//!
//! Every semaphore is created with `Options::waking(true)` before the fork.
//! Sub-tests:
//! - `mutex`: a semaphore of initial count 1 and maximum 1 used as a mutex
//!   by two children, each adding 1 to a plain `u64` counter in another
//!   shared page 500 000 times with a non-atomic read and write through a
//!   raw pointer; the parent checks that the counter is exactly 1 000 000.
//!   Once with `Futex::new()` (sleep at once), once with
//!   `Futex::adaptive(2000)` in one child and `Futex::new()` in the other.
//! - `blocked child`: the child is asleep in the kernel in `wait()`
//!   (announced in `waiters`, in state `S` in `/proc`); the parent waits
//!   100 ms, posts, and the child must wake within a second of the post (it
//!   writes the time it woke on `CLOCK_MONOTONIC`, which both processes
//!   share).
//! - `blocked parent`: the mirror case: the parent sleeps in `wait()` and a
//!   child posts after 100 ms.
//! - `timeout`: a child's `wait_timeout(Some(100 ms))` on a count of 0
//!   returns `CoreError::TimedOut` after at least 100 ms and well under a second,
//!   and withdraws its announcement.
//! - `hostile count`: while the parent sleeps in `wait_timeout`, a child
//!   writes a count above the maximum into the region and wakes the futex:
//!   the parent gets `CoreError::Corrupted` at once, never a hang; if the child
//!   writes the garbage without a wake, the parent sleeps until its timeout,
//!   and its last re-check then reports `CoreError::Corrupted`.
//!
//! Every wait has a deadline; a failing parent SIGKILLs and reaps its
//! children. A child never returns into the parent's code: it runs a function
//! that yields an exit code, then `_exit`s. The binary prints one line per
//! sub-test and exits 1 if any failed.

mod support;

use support::*;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipckit::CoreError;
use ipckit::futex::{Futex, monotonic_now};
use ipckit::semaphore::{COUNT_OFFSET, Options, Semaphore};
use ipckit::shm::SharedMapping;

/// Increments of the shared counter by each mutex child.
const ROUNDS: u64 = 500_000;
/// Children in each mutex run.
const CHILDREN: u64 = 2;
/// The spin budget of the adaptive notifier.
const SPINS: u32 = 2000;
/// The longest one `wait` of a healthy run may take. Far above any wake-up
/// latency; reaching it means a lost wake-up or a dead holder.
const OP_TIMEOUT: Duration = Duration::from_secs(5);
/// How late a woken or timed-out call may return (a loaded machine).
const SLACK: Duration = Duration::from_millis(900);
/// The delay before a post to a sleeping waiter.
const DELAY: Duration = Duration::from_millis(100);

/// The data page's slot of the mutex children's start signal.
const GO: usize = 100;

// Layout of a semaphore region (table in `ipckit::semaphore`).
const COUNT: usize = COUNT_OFFSET;
const WAITERS: usize = COUNT_OFFSET + 4;

fn sem_err(what: &str, e: CoreError) -> ChildFail {
    let code = if e == CoreError::TimedOut {
        EXIT_TIMEOUT
    } else {
        EXIT_SEM_ERROR
    };
    fail(code, format!("{what}: {e}"))
}

// ---------------------------------------------------------------------------
// Shared memory.

/// A semaphore's mapping plus a page of plain data beside it.
struct Shared {
    sem: SharedMapping,
    data: SharedMapping,
}

impl Shared {
    /// A fresh waking semaphore with `initial` units of at most `max`.
    fn new(initial: u32, max: u32) -> Result<Self, String> {
        let sem =
            SharedMapping::anonymous(Semaphore::region_len()).map_err(|e| format!("mmap: {e}"))?;
        let data = SharedMapping::anonymous(4096).map_err(|e| format!("mmap: {e}"))?;
        Semaphore::init_with(
            sem.region(),
            Options::new(max).initial(initial).waking(true),
        )
        .map_err(|e| format!("init: {e}"))?;
        Ok(Self { sem, data })
    }

    fn semaphore(&self) -> Result<Semaphore<'_>, CoreError> {
        Semaphore::attach(self.sem.region())
    }

    /// A `u32` word of the semaphore region, as a peer sees it.
    fn word(&self, offset: usize) -> &AtomicU32 {
        assert!(offset % 4 == 0 && offset + 4 <= Semaphore::region_len());
        // SAFETY: in bounds and 4-aligned on a page-aligned mapping that
        // outlives the reference; every access to these words, by ipckit or
        // by this test, is atomic.
        unsafe { AtomicU32::from_ptr(self.sem.as_ptr().add(offset).cast()) }
    }

    /// The plain (non-atomic) counter at the start of the data page.
    fn counter(&self) -> *mut u64 {
        self.data.as_ptr().cast()
    }

    /// An atomic `u64` slot of the data page (after the counter).
    fn stat(&self, i: usize) -> &AtomicU64 {
        assert!((1..512).contains(&i));
        // SAFETY: in bounds and 8-aligned on a page-aligned mapping that
        // outlives the reference; slot `i > 0` is only accessed atomically.
        unsafe { AtomicU64::from_ptr(self.data.as_ptr().add(8 * i).cast()) }
    }
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

// ---------------------------------------------------------------------------
// (a) A mutex between two processes.

/// Which notifier each mutex child uses.
#[derive(Clone, Copy)]
enum Mode {
    Sleeping,
    Mixed,
}

fn mutex(mode: Mode) -> Result<String, String> {
    let shared = Shared::new(1, 1)?;
    let started = Instant::now();
    let mut children = Vec::new();
    for i in 0..CHILDREN {
        let futex = match (mode, i) {
            (Mode::Mixed, 0) => Futex::adaptive(SPINS),
            _ => Futex::new(),
        };
        let shared = &shared;
        children.push(fork_main(move || mutex_child(shared, futex, i as usize))?);
    }
    // Start together, so that the children's rounds overlap.
    shared.stat(GO).store(1, Ordering::SeqCst);
    for child in &mut children {
        child.expect_ok(started + DEADLINE)?;
    }
    let elapsed = started.elapsed();
    // SAFETY: every child has exited; the counter is in bounds and aligned.
    let total = unsafe { shared.counter().read() };
    if total != CHILDREN * ROUNDS {
        return Err(format!(
            "counter is {total}, expected {}: mutual exclusion failed",
            CHILDREN * ROUNDS
        ));
    }
    let sem = shared.semaphore().map_err(|e| format!("attach: {e}"))?;
    if sem.value() != Ok(1) || shared.word(WAITERS).load(Ordering::SeqCst) != 0 {
        return Err(format!(
            "after the run: count {:?}, waiters {}",
            sem.value(),
            shared.word(WAITERS).load(Ordering::SeqCst)
        ));
    }
    let contended: u64 = (0..CHILDREN as usize)
        .map(|i| shared.stat(1 + i).load(Ordering::Relaxed))
        .sum();
    Ok(format!(
        "counter {total} exact, {:.2} s, {contended} of {total} entries found the lock taken",
        elapsed.as_secs_f64()
    ))
}

fn mutex_child(shared: &Shared, futex: Futex, index: usize) -> Result<(), ChildFail> {
    let sem = shared.semaphore().map_err(|e| sem_err("attach", e))?;
    let lock = sem.handle_with(futex).map_err(|e| sem_err("handle", e))?;
    let counter = shared.counter();
    let deadline = Instant::now() + DEADLINE;
    while shared.stat(GO).load(Ordering::SeqCst) == 0 {
        if Instant::now() > deadline {
            return Err(fail(EXIT_TIMEOUT, "the parent never said go"));
        }
        std::thread::yield_now();
    }
    let mut contended = 0u64;
    for round in 0..ROUNDS {
        match lock.try_wait() {
            Ok(()) => {}
            Err(CoreError::Empty) => {
                contended += 1;
                let t0 = Instant::now();
                lock.wait_timeout(Some(OP_TIMEOUT))
                    .map_err(|e| sem_err(&format!("wait in round {round}"), e))?;
                // A wait that lasted its whole timeout succeeded only by its
                // last re-check: the post's wake-up was lost.
                let took = t0.elapsed();
                if took >= OP_TIMEOUT {
                    return Err(fail(
                        EXIT_TIMEOUT,
                        format!("wait in round {round} took {took:?}: a lost wake-up"),
                    ));
                }
            }
            Err(e) => return Err(sem_err("try_wait", e)),
        }
        // SAFETY: this process holds the semaphore's only unit, so no other
        // process reads or writes the counter now; its accesses are ordered
        // by the semaphore's Release post and Acquire take. In bounds and
        // aligned (start of a page).
        unsafe { counter.write(counter.read() + 1) };
        lock.post().map_err(|e| sem_err("post", e))?;
    }
    shared.stat(1 + index).store(contended, Ordering::Relaxed);
    Ok(())
}

// ---------------------------------------------------------------------------
// (b) A child asleep in `wait()`, woken by the parent's post.

fn blocked_child() -> Result<String, String> {
    let shared = Shared::new(0, 1)?;
    let started = Instant::now();
    let mut child = fork_main(|| {
        let sem = shared.semaphore().map_err(|e| sem_err("attach", e))?;
        let h = sem
            .handle_with(Futex::new())
            .map_err(|e| sem_err("handle", e))?;
        h.wait_timeout(Some(OP_TIMEOUT))
            .map_err(|e| sem_err("wait", e))?;
        shared
            .stat(1)
            .store(nanos(monotonic_now()), Ordering::SeqCst);
        Ok(())
    })?;

    // The child announces itself, then sleeps in the kernel.
    wait_until("the child to announce itself", &mut child, || {
        shared.word(WAITERS).load(Ordering::SeqCst) == 1
    })?;
    std::thread::sleep(DELAY);
    let state = child
        .state()
        .ok_or_else(|| format!("no state in /proc/{}/stat", child.pid))?;
    if state != 'S' {
        return Err(format!("child in state {state}, not asleep (S)"));
    }
    let sem = shared.semaphore().map_err(|e| format!("attach: {e}"))?;
    let h = sem
        .handle_with(Futex::new())
        .map_err(|e| format!("handle: {e}"))?;
    let posted = monotonic_now();
    h.post().map_err(|e| format!("post: {e}"))?;
    child.expect_ok(started + DEADLINE)?;
    let woke = Duration::from_nanos(shared.stat(1).load(Ordering::SeqCst));
    let latency = woke
        .checked_sub(posted)
        .ok_or("the child woke before the post")?;
    if latency > SLACK {
        return Err(format!("the child woke {latency:?} after the post"));
    }
    if sem.value() != Ok(0) || shared.word(WAITERS).load(Ordering::SeqCst) != 0 {
        return Err("unit or announcement left after the wake".into());
    }
    Ok(format!(
        "child slept (state S), woke {} us after the post",
        latency.as_micros()
    ))
}

/// Polls `cond` until it holds; fails if the child ends first or a deadline
/// passes.
fn wait_until(what: &str, child: &mut Child, cond: impl Fn() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        if let Some(exit) = child.try_wait()? {
            return Err(format!("child ended with {exit} while waiting for {what}"));
        }
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// (c) The parent asleep in `wait()`, woken by a child's post.

fn blocked_parent() -> Result<String, String> {
    let shared = Shared::new(0, 1)?;
    let sem = shared.semaphore().map_err(|e| format!("attach: {e}"))?;
    let h = sem
        .handle_with(Futex::new())
        .map_err(|e| format!("handle: {e}"))?;
    let started = Instant::now();
    let mut child = fork_main(|| {
        std::thread::sleep(DELAY);
        let sem = shared.semaphore().map_err(|e| sem_err("attach", e))?;
        let h = sem
            .handle_with(Futex::new())
            .map_err(|e| sem_err("handle", e))?;
        shared
            .stat(1)
            .store(nanos(monotonic_now()), Ordering::SeqCst);
        h.post().map_err(|e| sem_err("post", e))
    })?;
    h.wait_timeout(Some(OP_TIMEOUT))
        .map_err(|e| format!("parent wait: {e}"))?;
    let woke = monotonic_now();
    child.expect_ok(started + DEADLINE)?;
    let posted = Duration::from_nanos(shared.stat(1).load(Ordering::SeqCst));
    let latency = woke
        .checked_sub(posted)
        .ok_or("the parent woke before the post")?;
    if latency > SLACK {
        return Err(format!("the parent woke {latency:?} after the post"));
    }
    Ok(format!(
        "parent woke {} us after the child's post",
        latency.as_micros()
    ))
}

// ---------------------------------------------------------------------------
// (d) A timeout in a child.

fn timeout() -> Result<String, String> {
    const TIMEOUT: Duration = Duration::from_millis(100);
    let shared = Shared::new(0, 1)?;
    let started = Instant::now();
    let mut child = fork_main(|| {
        let sem = shared.semaphore().map_err(|e| sem_err("attach", e))?;
        let h = sem
            .handle_with(Futex::new())
            .map_err(|e| sem_err("handle", e))?;
        let t0 = Instant::now();
        match h.wait_timeout(Some(TIMEOUT)) {
            Err(CoreError::TimedOut) => {}
            other => return Err(fail(EXIT_CHECK, format!("wait_timeout: {other:?}"))),
        }
        shared.stat(1).store(nanos(t0.elapsed()), Ordering::SeqCst);
        // A zero timeout returns at once.
        match h.wait_timeout(Some(Duration::ZERO)) {
            Err(CoreError::TimedOut) => Ok(()),
            other => Err(fail(EXIT_CHECK, format!("zero timeout: {other:?}"))),
        }
    })?;
    child.expect_ok(started + DEADLINE)?;
    let took = Duration::from_nanos(shared.stat(1).load(Ordering::SeqCst));
    if took < TIMEOUT || took > TIMEOUT + SLACK {
        return Err(format!("a {TIMEOUT:?} timeout took {took:?}"));
    }
    if shared.word(WAITERS).load(Ordering::SeqCst) != 0 {
        return Err("the timed-out waiter left its announcement".into());
    }
    Ok(format!("TimedOut after {} ms", took.as_millis()))
}

// ---------------------------------------------------------------------------
// (e) A hostile child writes the count while the parent sleeps.

fn hostile_count(wake: bool) -> Result<String, String> {
    const GARBAGE: u32 = 0xDEAD_BEEF;
    const TIMEOUT: Duration = Duration::from_millis(300);
    let shared = Shared::new(0, 1)?;
    let sem = shared.semaphore().map_err(|e| format!("attach: {e}"))?;
    let h = sem
        .handle_with(Futex::new())
        .map_err(|e| format!("handle: {e}"))?;
    let started = Instant::now();
    let mut child = fork_main(|| {
        // A hostile peer plays by no rule: no attach, no handle.
        std::thread::sleep(DELAY);
        let count = shared.word(COUNT);
        count.store(GARBAGE, Ordering::Release);
        if wake {
            ipckit::wait::Notify::wake_all(&Futex::new(), count);
        }
        Ok(())
    })?;
    let result = h.wait_timeout(Some(TIMEOUT));
    let took = started.elapsed();
    child.expect_ok(started + DEADLINE)?;
    match (wake, result) {
        (true, Err(CoreError::Corrupted(_))) if took < DELAY + SLACK => {}
        // Without a wake the sleeper learns nothing until its timeout; its
        // last re-check then finds the garbage.
        (false, Err(CoreError::Corrupted(_))) if took >= TIMEOUT && took < TIMEOUT + SLACK => {}
        (_, other) => {
            return Err(format!(
                "wait with a garbage count ({}) returned {other:?} after {took:?}",
                if wake { "woken" } else { "silent" }
            ));
        }
    }
    // Every later call refuses the garbage.
    for (what, r) in [
        ("try_wait", h.try_wait()),
        ("post", h.post()),
        ("value", h.value().map(|_| ())),
    ] {
        if !matches!(r, Err(CoreError::Corrupted(_))) {
            return Err(format!("{what} with a garbage count: {r:?}"));
        }
    }
    if shared.word(COUNT).load(Ordering::SeqCst) != GARBAGE {
        return Err("the garbage count was changed".into());
    }
    Ok(format!("{:?} after {} ms", result, took.as_millis()))
}

// ---------------------------------------------------------------------------

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: [(&str, Test); 7] = [
        ("blocked child", blocked_child),
        ("blocked parent", blocked_parent),
        ("timeout", timeout),
        ("hostile count (woken)", || hostile_count(true)),
        ("hostile count (silent)", || hostile_count(false)),
        ("mutex (sleeping)", || mutex(Mode::Sleeping)),
        ("mutex (adaptive + sleeping)", || mutex(Mode::Mixed)),
    ];
    Suite::new().tests(tests).run().exit();
}

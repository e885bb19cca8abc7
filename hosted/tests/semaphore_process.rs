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
//!   returns `Error::TimedOut` after at least 100 ms and well under a second,
//!   and withdraws its announcement.
//! - `hostile count`: while the parent sleeps in `wait_timeout`, a child
//!   writes a count above the maximum into the region and wakes the futex:
//!   the parent gets `Error::Corrupted` at once, never a hang; if the child
//!   writes the garbage without a wake, the parent sleeps until its timeout,
//!   and its last re-check then reports `Error::Corrupted`.
//!
//! Every wait has a deadline; a failing parent SIGKILLs and reaps its
//! children. A child never returns into the parent's code: it runs a function
//! that yields an exit code, then `_exit`s. The binary prints one line per
//! sub-test and exits 1 if any failed.

use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipckit::Error;
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
/// The longest any sub-test waits for its children to finish.
const CHILD_DEADLINE: Duration = Duration::from_secs(120);
/// How late a woken or timed-out call may return (a loaded machine).
const SLACK: Duration = Duration::from_millis(900);
/// The delay before a post to a sleeping waiter.
const DELAY: Duration = Duration::from_millis(100);

/// The data page's slot of the mutex children's start signal.
const GO: usize = 100;

// Layout of a semaphore region (table in `ipckit::semaphore`).
const COUNT: usize = COUNT_OFFSET;
const WAITERS: usize = COUNT_OFFSET + 4;

// Child exit codes.
const EXIT_OK: i32 = 0;
const EXIT_TIMEOUT: i32 = 10;
const EXIT_SEM_ERROR: i32 = 11;
const EXIT_PANIC: i32 = 12;
const EXIT_CHECK: i32 = 13;

fn exit_code_name(code: i32) -> &'static str {
    match code {
        EXIT_OK => "ok",
        EXIT_TIMEOUT => "wait timed out (lost wake-up or dead holder)",
        EXIT_SEM_ERROR => "semaphore error",
        EXIT_PANIC => "panic",
        EXIT_CHECK => "check failed",
        _ => "unknown",
    }
}

/// Why a child gave up: an exit code and a message for stderr.
struct ChildFail {
    code: i32,
    msg: String,
}

fn fail(code: i32, msg: impl Into<String>) -> ChildFail {
    ChildFail {
        code,
        msg: msg.into(),
    }
}

fn sem_err(what: &str, e: Error) -> ChildFail {
    let code = if e == Error::TimedOut {
        EXIT_TIMEOUT
    } else {
        EXIT_SEM_ERROR
    };
    fail(code, format!("{what}: {e}"))
}

// ---------------------------------------------------------------------------
// Processes.

/// The exit status of a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    fn from_status(status: libc::c_int) -> Self {
        if libc::WIFEXITED(status) {
            Exit::Code(libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            Exit::Signal(libc::WTERMSIG(status))
        } else {
            Exit::Code(-1)
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Exit::Code(c) => write!(f, "exit code {c} ({})", exit_code_name(c)),
            Exit::Signal(s) => write!(f, "signal {s}"),
        }
    }
}

/// A forked child. Dropping it before it was reaped kills it (SIGKILL) and
/// reaps it, so a failing parent leaves no process behind.
struct Child {
    pid: libc::pid_t,
    reaped: bool,
}

impl Child {
    /// Reaps the child if it has ended; does not block.
    fn try_wait(&mut self) -> Result<Option<Exit>, String> {
        self.wait_inner(libc::WNOHANG)
    }

    fn wait_inner(&mut self, flags: libc::c_int) -> Result<Option<Exit>, String> {
        if self.reaped {
            return Err("child already reaped".into());
        }
        let mut status = 0;
        loop {
            // SAFETY: `pid` is our unreaped child; `status` is a valid
            // out-pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, flags) };
            if r == self.pid {
                self.reaped = true;
                return Ok(Some(Exit::from_status(status)));
            }
            if r == 0 {
                return Ok(None);
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(format!("waitpid: {err}"));
            }
        }
    }

    /// Waits for the child to end, at most until `deadline`; past it, kills
    /// the child and fails.
    fn wait(&mut self, deadline: Instant) -> Result<Exit, String> {
        loop {
            if let Some(exit) = self.try_wait()? {
                return Ok(exit);
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!(
                    "child {} did not finish before the deadline; killed it",
                    self.pid
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Waits for a clean exit (code 0) before `deadline`.
    fn expect_ok(&mut self, deadline: Instant) -> Result<(), String> {
        match self.wait(deadline)? {
            Exit::Code(EXIT_OK) => Ok(()),
            other => Err(format!("child {} ended with {other}", self.pid)),
        }
    }

    /// The process state letter from `/proc/<pid>/stat` (`S`: sleeping).
    fn state(&self) -> Result<char, String> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .map_err(|e| format!("/proc/{}/stat: {e}", self.pid))?;
        // The command name is in parentheses and may contain spaces.
        stat.rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .ok_or_else(|| format!("unexpected /proc/{}/stat: {stat}", self.pid))
    }

    fn kill(&mut self) {
        if self.reaped {
            return;
        }
        // SAFETY: `pid` is our unreaped child, so the pid cannot have been
        // reused by another process.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        let _ = self.wait_inner(0);
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The number of threads of this process, from `/proc/self/status`.
fn thread_count() -> Result<usize, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| "no Threads: line in /proc/self/status".to_string())
}

/// Forks; the child runs `body` and `_exit`s with the code it returns (or
/// [`EXIT_PANIC`]). It never returns into the caller.
fn fork_child(body: impl FnOnce() -> Result<(), ChildFail>) -> Result<Child, String> {
    let threads = thread_count()?;
    if threads != 1 {
        return Err(format!("{threads} threads at fork; the child needs 1"));
    }
    // Nothing buffered may be written twice (once by each process).
    let _ = io::stdout().flush();
    // SAFETY: plain call; the parent's pid is needed below.
    let parent = unsafe { libc::getpid() };
    // SAFETY: this process is single-threaded (checked above), so the child
    // inherits a consistent heap, stdio and every lock, and may run any code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", io::Error::last_os_error()));
    }
    if pid > 0 {
        return Ok(Child { pid, reaped: false });
    }
    // The child. If the test process dies, so does the child.
    // SAFETY: `prctl(PR_SET_PDEATHSIG)` only sets a property of this process;
    // `getppid` is a plain query.
    let orphaned = unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0
            || libc::getppid() != parent
    };
    let code = if orphaned {
        EXIT_CHECK
    } else {
        match panic::catch_unwind(AssertUnwindSafe(body)) {
            Ok(Ok(())) => EXIT_OK,
            Ok(Err(f)) => {
                eprintln!("  child {}: {}", std::process::id(), f.msg);
                f.code
            }
            Err(_) => EXIT_PANIC,
        }
    };
    // SAFETY: ends the child at once: no destructor, no exit handler and no
    // stdio flush of the parent's state runs twice.
    unsafe { libc::_exit(code) }
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

    fn semaphore(&self) -> Result<Semaphore<'_>, Error> {
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
        children.push(fork_child(move || mutex_child(shared, futex, i as usize))?);
    }
    // Start together, so that the children's rounds overlap.
    shared.stat(GO).store(1, Ordering::SeqCst);
    for child in &mut children {
        child.expect_ok(started + CHILD_DEADLINE)?;
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
    let deadline = Instant::now() + CHILD_DEADLINE;
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
            Err(Error::Empty) => {
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
    let mut child = fork_child(|| {
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
    let state = child.state()?;
    if state != 'S' {
        return Err(format!("child in state {state}, not asleep (S)"));
    }
    let sem = shared.semaphore().map_err(|e| format!("attach: {e}"))?;
    let h = sem
        .handle_with(Futex::new())
        .map_err(|e| format!("handle: {e}"))?;
    let posted = monotonic_now();
    h.post().map_err(|e| format!("post: {e}"))?;
    child.expect_ok(started + CHILD_DEADLINE)?;
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
    let deadline = Instant::now() + CHILD_DEADLINE;
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
    let mut child = fork_child(|| {
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
    child.expect_ok(started + CHILD_DEADLINE)?;
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
    let mut child = fork_child(|| {
        let sem = shared.semaphore().map_err(|e| sem_err("attach", e))?;
        let h = sem
            .handle_with(Futex::new())
            .map_err(|e| sem_err("handle", e))?;
        let t0 = Instant::now();
        match h.wait_timeout(Some(TIMEOUT)) {
            Err(Error::TimedOut) => {}
            other => return Err(fail(EXIT_CHECK, format!("wait_timeout: {other:?}"))),
        }
        shared.stat(1).store(nanos(t0.elapsed()), Ordering::SeqCst);
        // A zero timeout returns at once.
        match h.wait_timeout(Some(Duration::ZERO)) {
            Err(Error::TimedOut) => Ok(()),
            other => Err(fail(EXIT_CHECK, format!("zero timeout: {other:?}"))),
        }
    })?;
    child.expect_ok(started + CHILD_DEADLINE)?;
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
    let mut child = fork_child(|| {
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
    child.expect_ok(started + CHILD_DEADLINE)?;
    match (wake, result) {
        (true, Err(Error::Corrupted(_))) if took < DELAY + SLACK => {}
        // Without a wake the sleeper learns nothing until its timeout; its
        // last re-check then finds the garbage.
        (false, Err(Error::Corrupted(_))) if took >= TIMEOUT && took < TIMEOUT + SLACK => {}
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
        if !matches!(r, Err(Error::Corrupted(_))) {
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
    let mut failed = 0;
    for (name, test) in tests {
        let started = Instant::now();
        let result =
            panic::catch_unwind(test).unwrap_or_else(|_| Err("panicked in the parent".to_string()));
        let secs = started.elapsed().as_secs_f64();
        match result {
            Ok(note) => println!("semaphore_process: {name} ... ok ({secs:.2} s): {note}"),
            Err(msg) => {
                failed += 1;
                println!("semaphore_process: {name} ... FAILED ({secs:.2} s): {msg}");
            }
        }
    }
    if failed > 0 {
        println!("semaphore_process: {failed} failed");
        std::process::exit(1);
    }
    println!("semaphore_process: all passed");
}

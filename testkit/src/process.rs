//! Child processes for the cross-process tests and benchmarks: `fork` with
//! a single-threaded check, children that `_exit` and die with the parent,
//! reaping with deadlines, exit codes that say what a child found, a
//! spin-then-yield backoff with a deadline, and a page of words shared with
//! the children.
//!
//! A forked child of a multi-threaded process may only call
//! async-signal-safe functions until it `exec`s; the children here run test
//! code (allocation, formatting, ipckit), so [`fork_child`] refuses to fork
//! unless this process has one thread. That is why the tests run under
//! [`runner`](crate::runner) on the main thread.
//! [`fork_async_signal_safe`] forks without that check, for a child that
//! makes only async-signal-safe calls (a criterion benchmark's echo child).
//!
//! ```no_run
//! use ipckit_testkit::process::{DEADLINE, EXIT_CHECK, fail, fork_main};
//! use std::time::Instant;
//!
//! let mut child = fork_main(|| {
//!     // Runs in the child; an `Err` becomes its exit code and a line on stderr.
//!     if 2 + 2 != 4 {
//!         return Err(fail(EXIT_CHECK, "arithmetic"));
//!     }
//!     Ok(())
//! })?;
//! child.expect_ok(Instant::now() + DEADLINE)?;
//! # Ok::<(), String>(())
//! ```

use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// The longest any side waits before it gives up.
pub const DEADLINE: Duration = Duration::from_secs(120);
/// The least time a child is given to exit once the parent is done with it
/// (see [`Child::expect_ok`]).
pub const GRACE: Duration = Duration::from_secs(5);

// Child exit codes.
/// The child finished its work.
pub const EXIT_OK: i32 = 0;
/// An item or frame arrived out of order.
pub const EXIT_OUT_OF_ORDER: i32 = 10;
/// An item or frame arrived corrupted.
pub const EXIT_CORRUPTED_ITEM: i32 = 11;
/// The child gave up at its deadline.
pub const EXIT_TIMEOUT: i32 = 12;
/// A ring operation returned an unexpected error.
pub const EXIT_RING_ERROR: i32 = 13;
/// The child panicked.
pub const EXIT_PANIC: i32 = 14;
/// A check of the child failed.
pub const EXIT_CHECK: i32 = 15;
/// The child survived what should have killed it.
pub const EXIT_UNREACHABLE: i32 = 16;
/// A semaphore operation returned an unexpected error.
pub const EXIT_SEM_ERROR: i32 = 17;
/// A value arrived that is not the one expected (a wrong reply).
pub const EXIT_BAD_VALUE: i32 = 18;
/// A system call on a descriptor (read, write) failed.
pub const EXIT_IO_ERROR: i32 = 19;

/// A readable name for a child's exit code.
pub fn exit_code_name(code: i32) -> &'static str {
    match code {
        EXIT_OK => "ok",
        EXIT_OUT_OF_ORDER => "item out of order",
        EXIT_CORRUPTED_ITEM => "corrupted item",
        EXIT_TIMEOUT => "timeout",
        EXIT_RING_ERROR => "ring error",
        EXIT_PANIC => "panic",
        EXIT_CHECK => "check failed",
        EXIT_UNREACHABLE => "survived its own SIGKILL",
        EXIT_SEM_ERROR => "semaphore error",
        EXIT_BAD_VALUE => "wrong value",
        EXIT_IO_ERROR => "I/O error",
        _ => "unknown",
    }
}

/// Why a child gave up: an exit code and a message for stderr.
pub struct ChildFail {
    /// The exit code.
    pub code: i32,
    /// What went wrong.
    pub msg: String,
}

/// A [`ChildFail`].
pub fn fail(code: i32, msg: impl Into<String>) -> ChildFail {
    ChildFail {
        code,
        msg: msg.into(),
    }
}

/// Counts fruitless attempts; every 256th one looks at the clock (and runs
/// `poll`), and lets the other process have the CPU.
pub struct Backoff {
    /// Fruitless attempts since the last progress.
    pub idle: u32,
    deadline: Instant,
}

impl Backoff {
    /// Gives up `DEADLINE` from now.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self {
            idle: 0,
            deadline: Instant::now() + DEADLINE,
        }
    }

    /// An attempt succeeded.
    pub fn progress(&mut self) {
        self.idle = 0;
    }

    /// `true` on the attempts where [`idle`](Self::idle) looks at the
    /// clock: the moment for other periodic checks too.
    pub fn is_polling_time(&self) -> bool {
        self.idle % 256 == 0
    }

    /// Returns `false` once the deadline has passed.
    pub fn idle(&mut self) -> bool {
        self.idle = self.idle.wrapping_add(1);
        if self.idle % 256 == 0 {
            if Instant::now() > self.deadline {
                return false;
            }
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
        true
    }
}

// ---------------------------------------------------------------------------
// Processes.

/// The exit status of a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl Exit {
    /// Decodes a `waitpid` status.
    pub fn from_status(status: libc::c_int) -> Self {
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
pub struct Child {
    /// The child's pid.
    pub pid: libc::pid_t,
    reaped: Option<Exit>,
}

impl Child {
    /// Reaps the child if it has ended (or returns how it ended, if reaped
    /// already); does not block.
    pub fn try_wait(&mut self) -> Result<Option<Exit>, String> {
        self.wait_inner(libc::WNOHANG)
    }

    fn wait_inner(&mut self, flags: libc::c_int) -> Result<Option<Exit>, String> {
        if let Some(exit) = self.reaped {
            return Ok(Some(exit));
        }
        let mut status = 0;
        loop {
            // SAFETY: `pid` is our unreaped child; `status` is a valid
            // out-pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, flags) };
            if r == self.pid {
                let exit = Exit::from_status(status);
                self.reaped = Some(exit);
                return Ok(Some(exit));
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
    pub fn wait(&mut self, deadline: Instant) -> Result<Exit, String> {
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

    /// Waits for the child (until `deadline`, but at least [`GRACE`] from
    /// now: a parent that itself ran late must not kill a child that is
    /// about to exit) and requires a clean exit.
    pub fn expect_ok(&mut self, deadline: Instant) -> Result<(), String> {
        match self.wait(deadline.max(Instant::now() + GRACE))? {
            Exit::Code(EXIT_OK) => Ok(()),
            other => Err(format!("child {} ended with {other}", self.pid)),
        }
    }

    /// Waits (until [`DEADLINE`] from now) for the child to exit with
    /// `code`.
    pub fn expect_exit(&mut self, code: i32) -> Result<(), String> {
        match self.wait(Instant::now() + DEADLINE)? {
            Exit::Code(c) if c == code => Ok(()),
            other => Err(format!("child: {other}, exit code {code} expected")),
        }
    }

    /// Kills (SIGKILL) and reaps the child, if not reaped yet.
    pub fn kill(&mut self) {
        if self.reaped.is_some() {
            return;
        }
        // SAFETY: `pid` is our unreaped child, so the pid cannot have been
        // reused by another process.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        let _ = self.wait_inner(0);
    }

    /// The scheduler state of the (live) child, from `/proc/<pid>/stat`:
    /// `'S'` while it sleeps in the kernel, `'R'` while it runs.
    pub fn state(&self) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        // The command name (in parentheses) may contain spaces; the state is
        // the first field after its closing parenthesis.
        let rest = &stat[stat.rfind(')')? + 1..];
        rest.split_whitespace().next()?.chars().next()
    }

    /// The kernel function the child sleeps in, where the kernel shows it.
    pub fn wchan(&self) -> String {
        std::fs::read_to_string(format!("/proc/{}/wchan", self.pid))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// One line about the child, for a failure message.
    pub fn describe(&mut self) -> String {
        match self.try_wait() {
            Ok(Some(exit)) => format!("child ended with {exit}"),
            Ok(None) => format!(
                "child alive, state {:?}, wchan {:?}",
                self.state(),
                self.wchan()
            ),
            Err(e) => e,
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The number of threads of this process, from `/proc/self/status`.
pub fn thread_count() -> Result<usize, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| "no Threads: line in /proc/self/status".to_string())
}

/// Forks; the child runs `body` and `_exit`s with the code it returns (or
/// [`EXIT_PANIC`]). It never returns into the caller.
pub fn fork_child(body: impl FnOnce() -> i32) -> Result<Child, String> {
    // A thread that was just joined (the channels' death watcher, which
    // lives only while a call sleeps) may be counted for a few more
    // microseconds: the kernel clears the joiner's futex before it removes
    // the thread. Give it a moment.
    let mut threads = thread_count()?;
    for _ in 0..1000 {
        if threads == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
        threads = thread_count()?;
    }
    if threads != 1 {
        return Err(format!("{threads} threads at fork; the child needs 1"));
    }
    // Nothing buffered may be written twice (once by each process).
    let _ = io::stdout().flush();
    // SAFETY: this process is single-threaded (checked above), so the child
    // inherits a consistent heap, stdio and every lock, and may run any code.
    unsafe {
        fork_async_signal_safe(|| panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or(EXIT_PANIC))
    }
}

/// Forks without [`fork_child`]'s single-thread check, for a process that
/// may have other threads (a criterion benchmark's): the child dies with
/// the parent, runs `body` and `_exit`s with the code it returns
/// ([`EXIT_CHECK`] if it was orphaned before it could start).
///
/// # Safety
/// If this process has other threads, `body` may only make
/// async-signal-safe calls (atomics, system calls): the child is a copy
/// whose heap, stdio and locks may be held by threads it does not have.
pub unsafe fn fork_async_signal_safe(body: impl FnOnce() -> i32) -> Result<Child, String> {
    // SAFETY: plain call; the parent's pid is needed below.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the child runs only `body` (async-signal-safe, or this process
    // is single-threaded: the caller's contract) and the async-signal-safe
    // calls below, then `_exit`s; it never returns into the caller.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", io::Error::last_os_error()));
    }
    if pid > 0 {
        return Ok(Child { pid, reaped: None });
    }
    // The child. If the test process dies, so does the child (no orphan
    // spinning for the rest of its deadline).
    // SAFETY: `prctl(PR_SET_PDEATHSIG)` only sets a property of this process;
    // `getppid` is a plain query.
    let orphaned = unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0
            || libc::getppid() != parent
    };
    let code = if orphaned { EXIT_CHECK } else { body() };
    // SAFETY: ends the child at once: no destructor, no exit handler and no
    // stdio flush of the parent's state runs twice. Ring handles the child
    // inherited from the parent are never dropped here, so they never give
    // back the parent's roles.
    unsafe { libc::_exit(code) }
}

/// Runs a child body that reports failure as `ChildFail`: prints the message
/// to stderr and turns it into the exit code.
pub fn child_main(body: impl FnOnce() -> Result<(), ChildFail>) -> i32 {
    match body() {
        Ok(()) => EXIT_OK,
        Err(f) => {
            eprintln!("  child {}: {}", std::process::id(), f.msg);
            f.code
        }
    }
}

/// [`fork_child`] with a body run by [`child_main`].
pub fn fork_main(body: impl FnOnce() -> Result<(), ChildFail>) -> Result<Child, String> {
    fork_child(|| child_main(body))
}

// ---------------------------------------------------------------------------
// Words shared with the children, and error context.

/// A page of `u64` words shared with forked children (flags, counters,
/// results), in an anonymous shared mapping made before the fork.
pub struct SharedWords(ipckit::shm::SharedMapping);

impl SharedWords {
    /// 512 zeroed words.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self(ipckit::shm::SharedMapping::anonymous(4096).expect("anonymous mapping"))
    }

    /// Word `i` (< 512).
    pub fn word(&self, i: usize) -> &std::sync::atomic::AtomicU64 {
        assert!(i < 512);
        // SAFETY: the mapping is 4096 bytes, page-aligned, lives as long as
        // `self`, and its words are only accessed atomically.
        unsafe {
            &*self
                .0
                .region()
                .as_ptr()
                .cast::<std::sync::atomic::AtomicU64>()
                .add(i)
        }
    }

    /// Waits until word `i` is at least `value`, at most until `deadline`.
    pub fn wait_for(&self, i: usize, value: u64, deadline: Duration) -> bool {
        let until = Instant::now() + deadline;
        while self.word(i).load(std::sync::atomic::Ordering::Acquire) < value {
            if Instant::now() > until {
                return false;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        true
    }

    /// Waits until each word of `words` is at least 1 (a child's "ready"
    /// flag), within `patience` each: `Err(i)` names the first that never
    /// was.
    pub fn wait_all(
        &self,
        words: impl IntoIterator<Item = usize>,
        patience: Duration,
    ) -> Result<(), usize> {
        for i in words {
            if !self.wait_for(i, 1, patience) {
                return Err(i);
            }
        }
        Ok(())
    }

    /// The count in word `i` once it has not moved for 100 ms (a child
    /// held back), within `patience`.
    pub fn settled(&self, i: usize, patience: Duration) -> Result<u64, String> {
        let until = Instant::now() + patience;
        let load = || self.word(i).load(std::sync::atomic::Ordering::Acquire);
        let mut last = load();
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let now = load();
            if now == last {
                return Ok(now);
            }
            if Instant::now() >= until {
                return Err(format!("word {i} still moving after {patience:?}"));
            }
            last = now;
        }
    }
}

/// Adds what was being done to an error, as a `String`.
pub trait Ctx<T> {
    /// `Err(e)` becomes `Err("<what>: <e>")`.
    fn ctx(self, what: &str) -> Result<T, String>;
}

impl<T, E: std::fmt::Display> Ctx<T> for Result<T, E> {
    fn ctx(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

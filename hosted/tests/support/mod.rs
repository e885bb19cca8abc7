//! Process scaffolding shared by the cross-process tests: `fork` with a
//! single-threaded check, children that `_exit` and die with the parent,
//! reaping with deadlines, exit codes, and a spin-then-yield backoff.
//!
//! Each test binary includes this with `mod support;` and uses what it
//! needs.
#![allow(dead_code)]

use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// The longest any side waits before it gives up.
pub const DEADLINE: Duration = Duration::from_secs(120);

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

/// xorshift64*: a deterministic stream of lengths and batch sizes.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `1..=max` (`max >= 1`).
    pub fn upto(&mut self, max: u64) -> u64 {
        1 + self.next() % max
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
    reaped: bool,
}

impl Child {
    /// Reaps the child if it has ended; does not block.
    pub fn try_wait(&mut self) -> Result<Option<Exit>, String> {
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
    pub fn wait(&mut self, deadline: Instant) -> Result<Exit, String> {
        loop {
            if let Some(exit) = self.try_wait()? {
                return Ok(exit);
            }
            if Instant::now() > deadline {
                self.kill();
                return Err("child did not finish before the deadline; killed it".into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Kills (SIGKILL) and reaps the child, if not reaped yet.
    pub fn kill(&mut self) {
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
    // The child. If the test process dies, so does the child (no orphan
    // spinning for the rest of its deadline).
    // SAFETY: `prctl(PR_SET_PDEATHSIG)` only sets a property of this process;
    // `getppid` is a plain query.
    let orphaned = unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0
            || libc::getppid() != parent
    };
    let code = if orphaned {
        EXIT_CHECK
    } else {
        panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or(EXIT_PANIC)
    };
    // SAFETY: ends the child at once: no destructor, no exit handler and no
    // stdio flush of the parent's state runs twice.
    unsafe { libc::_exit(code) }
}

/// Runs a child body that reports failure as `ChildFail`: prints the message
/// to stderr and turns it into the exit code.
pub fn child_main(body: impl FnOnce() -> Result<(), ChildFail>) -> i32 {
    match body() {
        Ok(()) => EXIT_OK,
        Err(f) => {
            eprintln!("  child: {}", f.msg);
            f.code
        }
    }
}

// ---------------------------------------------------------------------------
// Names, cleanup and shared flags.

static NAME_COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The prefix of every name this test process creates:
/// `ipckit-test-<pid>-`.
pub fn run_prefix() -> String {
    format!("ipckit-test-{}-", std::process::id())
}

/// A name unique to this run and call: `ipckit-test-<pid>-<n>-<what>`.
pub fn unique_name(what: &str) -> String {
    let n = NAME_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}{n}-{what}", run_prefix())
}

/// A unique shared-memory name, removed when the guard drops (in the
/// parent: forked children leave by `_exit` and never drop it).
pub struct ShmGuard(pub String);

impl ShmGuard {
    /// A guard for a fresh [`unique_name`].
    pub fn new(what: &str) -> Self {
        Self(unique_name(what))
    }
}

impl Drop for ShmGuard {
    fn drop(&mut self) {
        let _ = ipckit::shm::ShmObject::remove(&self.0);
    }
}

/// Everything of this run still in `/dev/shm` or the temp directory.
pub fn leftovers() -> Vec<std::path::PathBuf> {
    let prefix = run_prefix();
    let mut found = Vec::new();
    for dir in [std::path::PathBuf::from("/dev/shm"), std::env::temp_dir()] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    found.push(entry.path());
                }
            }
        }
    }
    found
}

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
}

// ---------------------------------------------------------------------------
// Kernel queues and semaphores: leftovers and guards.

/// Ids of System V objects of `kind` (`"msg"`, `"sem"`, `"shm"`) that exist
/// now, from `/proc/sysvipc/<kind>` (what `ipcs` reads).
pub fn sysv_ids(kind: &str) -> Vec<i32> {
    let Ok(text) = std::fs::read_to_string(format!("/proc/sysvipc/{kind}")) else {
        return Vec::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect()
}

/// POSIX message queues and named semaphores of this run still present:
/// `/dev/mqueue/<prefix>*` (when mqueue is mounted there) and
/// `/dev/shm/sem.<prefix>*`.
pub fn queue_leftovers() -> Vec<std::path::PathBuf> {
    let prefix = run_prefix();
    let mut found = Vec::new();
    for (dir, lead) in [("/dev/mqueue", ""), ("/dev/shm", "sem.")] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name
                    .strip_prefix(lead)
                    .is_some_and(|n| n.starts_with(&prefix))
                {
                    found.push(entry.path());
                }
            }
        }
    }
    found
}

/// Removes a System V object by id when dropped (in the parent).
pub struct SysvGuard {
    /// The object's id.
    pub id: i32,
    /// `true` for a semaphore set, `false` for a message queue.
    pub sem: bool,
}

impl Drop for SysvGuard {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID takes no buffer; a removed id fails harmlessly.
        unsafe {
            if self.sem {
                libc::semctl(self.id, 0, libc::IPC_RMID);
            } else {
                libc::msgctl(self.id, libc::IPC_RMID, std::ptr::null_mut());
            }
        }
    }
}

/// A unique name for a POSIX queue or named semaphore, unlinked (both
/// kinds tried) when the guard drops in the parent.
pub struct QueueNameGuard(pub String);

impl QueueNameGuard {
    /// A guard for a fresh [`unique_name`].
    pub fn new(what: &str) -> Self {
        Self(unique_name(what))
    }
}

impl Drop for QueueNameGuard {
    fn drop(&mut self) {
        if let Ok(c) = std::ffi::CString::new(format!("/{}", self.0)) {
            // SAFETY: `c` is a NUL-terminated name; a missing one fails
            // harmlessly.
            unsafe {
                libc::mq_unlink(c.as_ptr());
                libc::sem_unlink(c.as_ptr());
            }
        }
    }
}

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
    let code = if orphaned {
        EXIT_CHECK
    } else {
        panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or(EXIT_PANIC)
    };
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

/// A fresh [`unique_name`] in the temp directory.
pub fn temp_path(what: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(unique_name(what))
}

/// A file removed when the guard drops.
pub struct FileGuard(pub std::path::PathBuf);

impl FileGuard {
    /// A guard for a fresh [`temp_path`].
    pub fn new(what: &str) -> Self {
        Self(temp_path(what))
    }
}

impl Drop for FileGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
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

// ---------------------------------------------------------------------------
// Messages of the order tests of the transports (transport_shm,
// transport_streams): random lengths, 0 and the maximum included, each byte
// derived from the message's number and position.

/// Message contents and the errors of the scenarios that send them.
pub mod messages {
    use super::{
        ChildFail, EXIT_CORRUPTED_ITEM, EXIT_OUT_OF_ORDER, EXIT_RING_ERROR, EXIT_TIMEOUT, Rng, fail,
    };
    use ipckit::error::Error;

    /// The length of message `i` (of at most `max`): 0 and `max` regularly,
    /// else mostly short with some long.
    pub fn msg_len(rng: &mut Rng, i: u64, max: usize) -> usize {
        match i % 1000 {
            0 => max,
            1 => 0,
            _ => match rng.next() % 16 {
                0 => (rng.next() % (max as u64 + 1)) as usize,
                _ => (rng.next() % 257).min(max as u64) as usize,
            },
        }
    }

    /// The byte at `j` of message `i`.
    pub fn byte(i: u64, j: usize) -> u8 {
        (i.wrapping_mul(131) as usize ^ j.wrapping_mul(7)) as u8
    }

    /// Message `i` of `len` bytes, in `buf`.
    pub fn fill(buf: &mut Vec<u8>, i: u64, len: usize) {
        buf.clear();
        buf.extend((0..len).map(|j| byte(i, j)));
    }

    /// Checks that `buf` is message `i` of `expected_len` bytes.
    pub fn check(buf: &[u8], i: u64, expected_len: usize) -> Result<(), ChildFail> {
        if buf.len() != expected_len {
            return Err(fail(
                EXIT_OUT_OF_ORDER,
                format!("message {i}: {} bytes, {expected_len} expected", buf.len()),
            ));
        }
        if let Some(j) = (0..buf.len()).find(|&j| buf[j] != byte(i, j)) {
            return Err(fail(
                EXIT_CORRUPTED_ITEM,
                format!("message {i}: byte {j} is {}", buf[j]),
            ));
        }
        Ok(())
    }

    /// A child's error for an unexpected transport or channel result:
    /// [`EXIT_TIMEOUT`] for a timeout, else [`EXIT_RING_ERROR`].
    pub fn ferr(what: &str, e: Error) -> ChildFail {
        let code = if e.is_timeout() {
            EXIT_TIMEOUT
        } else {
            EXIT_RING_ERROR
        };
        fail(code, format!("{what}: {e}"))
    }

    /// The parent's error for an unexpected transport result.
    pub fn serr(what: &str, e: Error) -> String {
        format!("{what}: {e}")
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

// ---------------------------------------------------------------------------
// Running sub-tests (binaries built with `harness = false`).

/// What a passing sub-test reports: nothing, or a note for its line.
pub trait Note {
    /// The note (empty: none).
    fn note(self) -> String;
}

impl Note for () {
    fn note(self) -> String {
        String::new()
    }
}

impl Note for String {
    fn note(self) -> String {
        self
    }
}

/// A sub-test: `Ok` with a note (or `()`), or `Err` with what failed.
pub type TestFn<T = String> = fn() -> Result<T, String>;

/// The counts of a run of sub-tests.
#[derive(Debug)]
pub struct Tally {
    /// Sub-tests run (not filtered out).
    pub ran: usize,
    /// Sub-tests (and checks after them) that failed.
    pub failed: usize,
    started: Instant,
}

/// Runs the sub-tests whose names contain one of the command line's
/// arguments that do not start with `-` (every one, without such an
/// argument), in order, a panic in the parent counting as a failure. Prints
/// one line each: `<bin>: <name> ... ok (<secs> s): <note>` or `... FAILED`.
pub fn run_tests<T: Note>(
    bin: &str,
    tests: &[(impl AsRef<str>, impl Fn() -> Result<T, String>)],
) -> Tally {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut tally = Tally {
        ran: 0,
        failed: 0,
        started: Instant::now(),
    };
    for (name, test) in tests {
        let name = name.as_ref();
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        tally.ran += 1;
        let started = Instant::now();
        let result = panic::catch_unwind(AssertUnwindSafe(test))
            .unwrap_or_else(|_| Err("panicked in the parent".to_string()));
        let secs = started.elapsed().as_secs_f64();
        match result {
            Ok(note) => {
                let note = note.note();
                let sep = if note.is_empty() { "" } else { ": " };
                println!("{bin}: {name} ... ok ({secs:.2} s){sep}{note}");
            }
            Err(msg) => {
                tally.failed += 1;
                println!("{bin}: {name} ... FAILED ({secs:.2} s): {msg}");
            }
        }
    }
    tally
}

impl Tally {
    /// Counts a failure, and removes them, if files of this run are left in
    /// `/dev/shm` or the temp directory ([`leftovers`]).
    pub fn check_leftovers(&mut self, bin: &str) {
        let left = leftovers();
        if !left.is_empty() {
            self.failed += 1;
            println!("{bin}: left behind (now removed): {left:?}");
            for path in left {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// Prints the last line; exits with status 1 if anything failed.
    pub fn finish(self, bin: &str) {
        let secs = self.started.elapsed().as_secs_f64();
        if self.failed > 0 {
            println!(
                "{bin}: {} of {} failed ({secs:.2} s)",
                self.failed, self.ran
            );
            std::process::exit(1);
        }
        println!("{bin}: all {} passed ({secs:.2} s)", self.ran);
    }
}

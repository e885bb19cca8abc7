//! Cross-process round-trip latency: a parent process (pinned to the first
//! allowed CPU) sends a `u64` to a `fork()`ed child (pinned to the second),
//! which sends it straight back. Seven ways of doing that, measured in the
//! same run:
//!
//! | variant            | what moves the message, and how each side waits |
//! |--------------------|--------------------------------------------------|
//! | `spsc/futex`       | two waking SPSC rings, blocking `push`/`pop` with `Futex::new()`: sleep in the kernel at once |
//! | `spsc/adaptive`    | the same with `Futex::adaptive(SPINS)`: spin first, then sleep |
//! | `spsc/spin`        | two non-waking rings, blocking `push`/`pop` with the core's `Spin` notifier |
//! | `spsc/busy_poll`   | two non-waking rings, `try_push`/`try_pop` loops |
//! | `raw/futex`        | two shared words, `FUTEX_WAIT`/`FUTEX_WAKE` (shared, not private): the kernel floor |
//! | `raw/eventfd`      | two eventfds inherited across `fork`, blocking `read`/`write` |
//! | `raw/cache_line`   | two `AtomicU32` on separate 128-byte lines, each side spinning until its word changes: the hardware floor |
//!
//! Run with `cargo bench -p ipckit --bench rtt` (add a filter such as
//! `-- spsc/` to run some variants only). `IPCKIT_RTT_SPINS=<n>` overrides
//! the adaptive variant's spin budget, for tuning on another machine.
//!
//! # How it is measured
//! Each benchmark forks its child once (on its first sample) and keeps it
//! for all of criterion's warm-up and measurement calls; `iter_custom(n)`
//! times `n` round trips. The child runs an echo loop on the same channel and
//! leaves it on a stop message, after which the parent reaps it. Every
//! request carries a fresh sequence number and the reply is checked.
//!
//! Blocking calls take a timeout of [`WAIT_SLICE`] (as a real caller that
//! must notice a dead peer would), so the SPSC variants read the clock once
//! per blocking call and, while spinning, once per spin; the raw futex waits
//! take the same timeout. When a slice passes without a reply, the parent
//! looks at its child with `waitpid(WNOHANG)`: a dead child fails the
//! benchmark at once, a silent live one after [`STALL_LIMIT`]. Eventfd reads
//! have no timeout; a `SIGALRM` (unblocked only while an eventfd sample runs)
//! interrupts them for the same check. The child dies with the parent
//! (`PR_SET_PDEATHSIG`) and is SIGKILLed and reaped if the parent fails.
//!
//! After criterion's report, a summary prints the median round trip of each
//! variant (over the `ns/iter` of criterion's own measured samples) and the
//! ratios that the targets are stated in, then an interleaved pass: every
//! variant in turn, for several rounds, a fresh child each turn, each round
//! trip timed on its own. It gives percentiles, and ratios that a slow spell
//! of the (shared, virtual) machine cannot skew, because both sides of each
//! ratio are measured within a second of each other.
//!
//! The child may be forked while criterion's analysis threads exist, so it
//! only makes async-signal-safe calls: atomics, system calls, `_exit`; no
//! allocation, no panic, no I/O beyond the channel.

use std::hint::spin_loop;
use std::io;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ipckit_testkit::bench::{CriterionRun, Goal, Ratio, Samples, Stats, Summary, Unit};
use ipckit_testkit::pin;

use criterion::{Criterion, criterion_group};
use ipckit::CoreError;
use ipckit::futex::{Futex, monotonic_now};
use ipckit::shm::SharedMapping;
use ipckit::spsc::{Consumer, Options, Producer, Ring};
use ipckit::wait::{Notify, Spin};

/// Criterion's sample count, also used to pick the measured samples out of
/// everything `iter_custom` saw.
const SAMPLE_SIZE: usize = 20;
/// Criterion's measurement time per variant.
const MEASUREMENT: Duration = Duration::from_millis(2500);
/// Criterion's warm-up time per variant.
const WARM_UP: Duration = Duration::from_secs(1);
/// The adaptive variant's spin budget. Tuned on the 2-vCPU KVM machine
/// (AMD EPYC) this was written on: one spin costs about 31 ns (about 54 ns
/// when the call has a timeout, which reads the clock on every spin), so 1000
/// spins last about as long as one futex sleep and wake-up (a `raw/futex`
/// round trip is about 40 us there), the classic break-even point. In an
/// interleaved sweep every budget from 100 up answered the busy echo peer
/// within 1.4x of busy-polling at the median; 100 fell asleep on small
/// hiccups (p99.9 about 40 us, against about 4 us from 1000 up), and 2000 or
/// 5000 were no better than 1000 while burning more CPU before sleeping.
const SPINS: u32 = 1000;
/// Slots of every ring (one message is in flight at a time).
const CAPACITY: u32 = 8;
/// The request that makes a child leave its echo loop (`u64::MAX` is not a
/// value an eventfd accepts).
const STOP: u64 = u64::MAX - 1;
/// The timeout of every blocking call of the parent and the child.
const WAIT_SLICE: Duration = Duration::from_millis(200);
/// A live child that does not answer for this long fails the benchmark.
const STALL_LIMIT: Duration = Duration::from_secs(10);
/// The period of the eventfd watchdog.
const WATCHDOG_PERIOD: Duration = Duration::from_secs(1);
/// Fruitless polls between two looks at the clock in spinning loops.
const POLLS_PER_CHECK: u32 = 1 << 16;
/// Offsets of the two words of the raw futex and cache-line variants:
/// requests (parent → child) and replies (child → parent), a [`LINE`] apart.
///
/// [`LINE`]: ipckit::region::LINE
const REQUEST_WORD: usize = 0;
const REPLY_WORD: usize = ipckit::region::LINE;
/// Rounds of the interleaved pass, and the length of one variant's turn.
const ROUNDS: usize = 7;
const TURN: Duration = Duration::from_millis(150);
/// Untimed round trips at the start of each turn.
const TURN_WARM_UP: u32 = 200;

/// The variants, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Variant {
    SpscFutex,
    SpscAdaptive,
    SpscSpin,
    SpscBusy,
    RawFutex,
    Eventfd,
    CacheLine,
}

impl Variant {
    const ALL: [Variant; 7] = [
        Variant::SpscFutex,
        Variant::SpscAdaptive,
        Variant::SpscSpin,
        Variant::SpscBusy,
        Variant::RawFutex,
        Variant::Eventfd,
        Variant::CacheLine,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::SpscFutex => "spsc/futex",
            Variant::SpscAdaptive => "spsc/adaptive",
            Variant::SpscSpin => "spsc/spin",
            Variant::SpscBusy => "spsc/busy_poll",
            Variant::RawFutex => "raw/futex",
            Variant::Eventfd => "raw/eventfd",
            Variant::CacheLine => "raw/cache_line",
        }
    }
}

/// The ratios the summary reports (of round-trip times: lower is better).
const RATIOS: [Ratio<Variant>; 5] = [
    Ratio::new(
        "futex SPSC / raw futex",
        Variant::SpscFutex,
        Variant::RawFutex,
    )
    .goal(Goal::AtMost(1.2)),
    Ratio::new(
        "adaptive SPSC / busy-poll SPSC",
        Variant::SpscAdaptive,
        Variant::SpscBusy,
    )
    .goal(Goal::AtMost(3.0)),
    Ratio::new(
        "busy-poll SPSC / cache line",
        Variant::SpscBusy,
        Variant::CacheLine,
    )
    .goal(Goal::AtMost(2.0)),
    Ratio::new("eventfd / raw futex", Variant::Eventfd, Variant::RawFutex),
    Ratio::new(
        "spin SPSC / busy-poll SPSC",
        Variant::SpscSpin,
        Variant::SpscBusy,
    ),
];

/// `ns` per round trip of every `iter_custom` call, per variant.
static SAMPLES: Samples<Variant> = Samples::new();

/// The adaptive spin budget in use: [`SPINS`] or `IPCKIT_RTT_SPINS`.
fn spins() -> u32 {
    static SPINS_IN_USE: OnceLock<u32> = OnceLock::new();
    *SPINS_IN_USE.get_or_init(|| {
        std::env::var("IPCKIT_RTT_SPINS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(SPINS)
    })
}

// ---- processes ----------------------------------------------------------

/// A forked child. Dropping it before it was reaped kills (SIGKILL) and
/// reaps it, so a failing benchmark leaves no process behind.
struct Child {
    pid: libc::pid_t,
    /// The wait status, once reaped.
    status: Option<libc::c_int>,
}

fn describe_status(status: libc::c_int) -> String {
    if libc::WIFEXITED(status) {
        format!("exit code {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("signal {}", libc::WTERMSIG(status))
    } else {
        format!("wait status {status:#x}")
    }
}

impl Child {
    /// Reaps the child if it has ended; never blocks unless `flags` is 0.
    fn reap(&mut self, flags: libc::c_int) -> Option<libc::c_int> {
        if self.status.is_some() {
            return self.status;
        }
        let mut status = 0;
        loop {
            // SAFETY: `pid` is our unreaped child; `status` is a valid
            // out-pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, flags) };
            if r == self.pid {
                self.status = Some(status);
                return self.status;
            }
            if r == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return None;
            }
        }
    }

    /// `Err` if the child has ended (it must echo until told to stop).
    fn check_alive(&mut self) -> Result<(), String> {
        match self.reap(libc::WNOHANG) {
            Some(status) => Err(format!("the child died ({})", describe_status(status))),
            None => Ok(()),
        }
    }

    /// Waits up to `limit` for the child to exit by itself, then kills it.
    /// `Ok` only for a clean exit.
    fn finish(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.reap(libc::WNOHANG) {
                return if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
                    Ok(())
                } else {
                    Err(format!("the child ended with {}", describe_status(status)))
                };
            }
            if Instant::now() > deadline {
                self.kill();
                return Err("the child did not stop; killed it".into());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn kill(&mut self) {
        if self.status.is_some() {
            return;
        }
        // SAFETY: `pid` is our unreaped child, so the pid cannot have been
        // reused by another process.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        self.reap(0);
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Forks a child that pins itself to the child CPU, runs `body` and
/// `_exit`s with the code it returns. `body` must be async-signal-safe (see
/// the module docs): it runs in a copy of a possibly multi-threaded process.
fn fork_child(body: impl FnOnce() -> i32) -> Result<Child, String> {
    // SAFETY: plain call; the parent's pid is needed below.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the child runs only `body` and the async-signal-safe calls
    // below, then `_exit`s; it never returns into the caller.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", io::Error::last_os_error()));
    }
    if pid > 0 {
        return Ok(Child { pid, status: None });
    }
    // SAFETY: `prctl(PR_SET_PDEATHSIG)` only sets a property of this process;
    // `getppid` is a plain query. The child dies with the benchmark.
    let orphaned = unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0
            || libc::getppid() != parent
    };
    let code = if orphaned {
        CHILD_ORPHANED
    } else {
        // Unpinned is still correct, only slower and noisier. The pair was
        // chosen before the first fork, so this allocates nothing.
        pin::pin_peer();
        body()
    };
    // SAFETY: ends the child at once: no destructor, no exit handler, no
    // stdio flush of the parent's state. Ring handles inherited from the
    // parent are never dropped here, so the parent's roles stay claimed.
    unsafe { libc::_exit(code) }
}

// Child exit codes.
const CHILD_OK: i32 = 0;
const CHILD_SETUP: i32 = 10;
const CHILD_RING_ERROR: i32 = 11;
const CHILD_IO_ERROR: i32 = 12;
const CHILD_ORPHANED: i32 = 13;

/// Counts fruitless polls; every [`POLLS_PER_CHECK`]th one (or every call,
/// for blocking loops) looks at the child and the clock.
struct Stall {
    polls: u32,
    since: Option<Instant>,
}

impl Stall {
    fn new() -> Self {
        Self {
            polls: 0,
            since: None,
        }
    }

    /// For spinning loops: a spin hint, and now and then a check.
    #[inline(always)]
    fn poll(&mut self, child: &mut Child) -> Result<(), String> {
        self.polls = self.polls.wrapping_add(1);
        if self.polls % POLLS_PER_CHECK != 0 {
            spin_loop();
            return Ok(());
        }
        self.check(child)
    }

    /// For blocking loops, after a wait that timed out.
    #[cold]
    fn check(&mut self, child: &mut Child) -> Result<(), String> {
        child.check_alive()?;
        let now = Instant::now();
        let since = *self.since.get_or_insert(now);
        if now - since > STALL_LIMIT {
            return Err(format!("no reply for {STALL_LIMIT:?} from a live child"));
        }
        Ok(())
    }
}

// ---- raw system calls ---------------------------------------------------

/// A relative timeout of [`WAIT_SLICE`] for `FUTEX_WAIT`.
const SLICE_TIMESPEC: libc::timespec = libc::timespec {
    tv_sec: 0,
    tv_nsec: WAIT_SLICE.as_nanos() as libc::c_long,
};

/// `FUTEX_WAIT` (shared) while `word` holds `expected`, at most
/// [`WAIT_SLICE`]. `false` when it timed out.
fn futex_wait(word: &AtomicU32, expected: u32) -> bool {
    // SAFETY: `word` is a live, aligned word of a shared mapping; the kernel
    // only reads it; the timeout points to a constant `timespec`.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &SLICE_TIMESPEC as *const libc::timespec,
        )
    };
    r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ETIMEDOUT)
}

/// `FUTEX_WAKE` (shared) of one waiter of `word`.
fn futex_wake(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned word of a shared mapping; the kernel
    // only uses its address as a key.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1) };
}

/// Writes `value` to an eventfd (blocking; never blocks here, as at most one
/// value is pending). Async-signal-safe.
fn eventfd_write(fd: libc::c_int, value: u64) -> io::Result<()> {
    loop {
        // SAFETY: writes 8 bytes from a live `u64` to a file descriptor we
        // own.
        let n = unsafe { libc::write(fd, (&value as *const u64).cast(), 8) };
        if n == 8 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Reads an eventfd (blocking). `Ok(None)` when a signal interrupted the
/// read. Async-signal-safe.
fn eventfd_read(fd: libc::c_int) -> io::Result<Option<u64>> {
    let mut value = 0u64;
    // SAFETY: reads 8 bytes into a live `u64` from a file descriptor we own.
    let n = unsafe { libc::read(fd, (&mut value as *mut u64).cast(), 8) };
    if n == 8 {
        return Ok(Some(value));
    }
    let err = io::Error::last_os_error();
    if err.kind() == io::ErrorKind::Interrupted {
        Ok(None)
    } else {
        Err(err)
    }
}

/// The watchdog for blocking eventfd reads: a periodic `SIGALRM` (every
/// [`WATCHDOG_PERIOD`]) with a handler that does nothing, installed without
/// `SA_RESTART` so that it interrupts a `read`. Periodic, so that a signal
/// that lands between two reads cannot leave the next one unguarded. Blocked
/// in every thread except while an eventfd sample runs on the main thread
/// (criterion's threads inherit the blocked mask from it); interval timers
/// are not inherited by a forked child.
mod watchdog {
    use std::time::Duration;

    extern "C" fn on_alarm(_: libc::c_int) {}

    fn mask(how: libc::c_int) {
        // SAFETY: `set` is initialised by `sigemptyset` before use; the
        // calls only change this thread's signal mask.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGALRM);
            libc::pthread_sigmask(how, &set, std::ptr::null_mut());
        }
    }

    /// Installs the handler and blocks the signal. Call first in `main`,
    /// before any thread exists.
    pub fn install() {
        mask(libc::SIG_BLOCK);
        // SAFETY: a zeroed `sigaction` with a handler that is async-signal-
        // safe (it does nothing); no `SA_RESTART`, so blocking calls return
        // `EINTR`.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_alarm as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut());
        }
    }

    fn set_timer(period: Duration) {
        let tv = libc::timeval {
            tv_sec: period.as_secs() as libc::time_t,
            tv_usec: period.subsec_micros() as libc::suseconds_t,
        };
        let timer = libc::itimerval {
            it_interval: tv,
            it_value: tv,
        };
        // SAFETY: `timer` is a valid `itimerval`; the call only sets this
        // process's real-time interval timer.
        unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) };
    }

    /// Unblocks the signal on this thread and starts the periodic timer.
    pub fn arm() {
        mask(libc::SIG_UNBLOCK);
        set_timer(super::WATCHDOG_PERIOD);
    }

    /// Stops the timer and blocks the signal again.
    pub fn disarm() {
        set_timer(Duration::ZERO);
        mask(libc::SIG_BLOCK);
    }
}

// ---- shared memory ------------------------------------------------------

/// A mapping that lives for the rest of the run, so that ring endpoints
/// built on it are `'static` and can be kept across criterion's calls. A few
/// pages per benchmark.
fn leaked_mapping(len: usize) -> Result<&'static SharedMapping, String> {
    let mapping = SharedMapping::anonymous(len).map_err(|e| format!("mmap: {e}"))?;
    Ok(Box::leak(Box::new(mapping)))
}

/// A 32-bit word of a mapping, accessed atomically.
fn word(mapping: &SharedMapping, offset: usize) -> &AtomicU32 {
    assert!(offset % 4 == 0 && offset + 4 <= mapping.len());
    // SAFETY: in bounds and 4-aligned (the base is page-aligned); the bytes
    // are only ever accessed through atomics, by both processes, and the
    // mapping outlives the reference.
    unsafe { AtomicU32::from_ptr(mapping.as_ptr().add(offset).cast()) }
}

fn ring_on(mapping: &'static SharedMapping, wakes: bool) -> Result<Ring<'static, u64>, String> {
    let options = Options::new(CAPACITY).waking(wakes);
    Ring::<u64>::init_with(mapping.region(), options).map_err(|e| format!("ring init: {e}"))
}

// ---- the channels -------------------------------------------------------

/// The parent's end of one variant: a round trip, and the stop message.
trait Pinger {
    /// Sends `seq` (never 0 or [`STOP`]) and waits for it to come back.
    fn round_trip(&mut self, seq: u64, child: &mut Child) -> Result<(), String>;
    /// Tells the child to leave its loop.
    fn stop(&mut self) -> Result<(), String>;
}

/// Two SPSC rings: the parent's producer of `ping`, consumer of `pong`.
struct SpscPinger<N: Notify> {
    tx: Producer<'static, u64, N>,
    rx: Consumer<'static, u64, N>,
    /// Blocking `push`/`pop` (with [`WAIT_SLICE`] timeouts), or `try_` loops.
    blocking: bool,
}

/// The child's side of the SPSC variants.
fn spsc_echo<N: Notify + Copy>(
    ping: &Ring<'static, u64>,
    pong: &Ring<'static, u64>,
    notify: N,
    blocking: bool,
) -> i32 {
    let (Ok(mut rx), Ok(mut tx)) = (ping.consumer_with(notify), pong.producer_with(notify)) else {
        return CHILD_SETUP;
    };
    loop {
        let v = if blocking {
            match rx.pop_timeout(Some(WAIT_SLICE)) {
                Ok(v) => v,
                // The parent is alive (or this process would be dead): it is
                // between samples.
                Err(CoreError::TimedOut) => continue,
                Err(_) => return CHILD_RING_ERROR,
            }
        } else {
            match rx.try_pop() {
                Ok(v) => v,
                Err(CoreError::Empty) => {
                    spin_loop();
                    continue;
                }
                Err(_) => return CHILD_RING_ERROR,
            }
        };
        if v == STOP {
            return CHILD_OK;
        }
        let pushed = if blocking {
            tx.push_timeout(v, Some(WAIT_SLICE))
        } else {
            tx.try_push(v)
        };
        if pushed.is_err() {
            return CHILD_RING_ERROR;
        }
    }
}

impl<N: Notify + Copy> SpscPinger<N> {
    fn start(notify: N, wakes: bool, blocking: bool) -> Result<(Self, Child), String> {
        let len = Ring::<u64>::region_len(CAPACITY).map_err(|_| "bad capacity")?;
        let ping = ring_on(leaked_mapping(len)?, wakes)?;
        let pong = ring_on(leaked_mapping(len)?, wakes)?;
        let tx = ping
            .producer_with(notify)
            .map_err(|e| format!("ping producer: {e}"))?;
        let rx = pong
            .consumer_with(notify)
            .map_err(|e| format!("pong consumer: {e}"))?;
        let child = fork_child(|| spsc_echo(&ping, &pong, notify, blocking))?;
        Ok((Self { tx, rx, blocking }, child))
    }
}

impl<N: Notify> Pinger for SpscPinger<N> {
    #[inline]
    fn round_trip(&mut self, seq: u64, child: &mut Child) -> Result<(), String> {
        let mut stall = Stall::new();
        let v = if self.blocking {
            // Never full: one message is in flight at a time.
            self.tx
                .push_timeout(seq, Some(WAIT_SLICE))
                .map_err(|e| format!("push: {e}"))?;
            loop {
                match self.rx.pop_timeout(Some(WAIT_SLICE)) {
                    Ok(v) => break v,
                    Err(CoreError::TimedOut) => stall.check(child)?,
                    Err(e) => return Err(format!("pop: {e}")),
                }
            }
        } else {
            self.tx.try_push(seq).map_err(|e| format!("push: {e}"))?;
            loop {
                match self.rx.try_pop() {
                    Ok(v) => break v,
                    Err(CoreError::Empty) => stall.poll(child)?,
                    Err(e) => return Err(format!("pop: {e}")),
                }
            }
        };
        check_reply(seq, v)
    }

    fn stop(&mut self) -> Result<(), String> {
        self.tx
            .try_push(STOP)
            .map_err(|e| format!("push stop: {e}"))
    }
}

#[inline(always)]
fn check_reply<T: PartialEq + std::fmt::Debug>(sent: T, got: T) -> Result<(), String> {
    if got == sent {
        Ok(())
    } else {
        Err(format!("sent {sent:?}, got back {got:?}"))
    }
}

/// The request word of the word-based variants for sequence number `seq`:
/// never 0 (the initial value) nor `u32::MAX` (stop).
#[inline(always)]
fn seq_word(seq: u64) -> u32 {
    (seq % u64::from(u32::MAX - 1)) as u32 + 1
}
const STOP_WORD: u32 = u32::MAX;

/// Two words in one mapping; with `futex`, each side sleeps on its word.
struct WordPinger {
    request: &'static AtomicU32,
    reply: &'static AtomicU32,
    futex: bool,
}

/// The child's side of the word variants.
fn words_echo(request: &AtomicU32, reply: &AtomicU32, futex: bool) -> i32 {
    let mut last = 0;
    loop {
        let r = request.load(Ordering::Acquire);
        if r == last {
            if futex {
                futex_wait(request, r);
            } else {
                spin_loop();
            }
            continue;
        }
        reply.store(r, Ordering::Release);
        if futex {
            futex_wake(reply);
        }
        if r == STOP_WORD {
            return CHILD_OK;
        }
        last = r;
    }
}

impl WordPinger {
    fn start(futex: bool) -> Result<(Self, Child), String> {
        let mapping = leaked_mapping(4096)?;
        let (request, reply) = (word(mapping, REQUEST_WORD), word(mapping, REPLY_WORD));
        let child = fork_child(|| words_echo(request, reply, futex))?;
        Ok((
            Self {
                request,
                reply,
                futex,
            },
            child,
        ))
    }
}

impl Pinger for WordPinger {
    #[inline]
    fn round_trip(&mut self, seq: u64, child: &mut Child) -> Result<(), String> {
        let w = seq_word(seq);
        let mut stall = Stall::new();
        self.request.store(w, Ordering::Release);
        if self.futex {
            futex_wake(self.request);
            loop {
                let got = self.reply.load(Ordering::Acquire);
                if got == w {
                    return Ok(());
                }
                if !futex_wait(self.reply, got) {
                    stall.check(child)?;
                }
            }
        } else {
            loop {
                let got = self.reply.load(Ordering::Acquire);
                if got == w {
                    return Ok(());
                }
                stall.poll(child)?;
            }
        }
    }

    fn stop(&mut self) -> Result<(), String> {
        self.request.store(STOP_WORD, Ordering::Release);
        if self.futex {
            futex_wake(self.request);
        }
        Ok(())
    }
}

/// Two eventfds: requests to the child, replies to the parent.
struct EventfdPinger {
    request: libc::c_int,
    reply: libc::c_int,
}

impl Drop for EventfdPinger {
    fn drop(&mut self) {
        // SAFETY: both descriptors are ours and closed exactly once.
        unsafe {
            libc::close(self.request);
            libc::close(self.reply);
        }
    }
}

fn eventfd() -> Result<libc::c_int, String> {
    // SAFETY: plain system call; the descriptor is owned by the caller.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        Err(format!("eventfd: {}", io::Error::last_os_error()))
    } else {
        Ok(fd)
    }
}

/// The child's side of the eventfd variant (the parent's death kills it, so
/// its blocking reads need no timeout).
fn eventfd_echo(request: libc::c_int, reply: libc::c_int) -> i32 {
    loop {
        let v = match eventfd_read(request) {
            Ok(Some(v)) => v,
            Ok(None) => continue,
            Err(_) => return CHILD_IO_ERROR,
        };
        if v == STOP {
            return CHILD_OK;
        }
        if eventfd_write(reply, v).is_err() {
            return CHILD_IO_ERROR;
        }
    }
}

impl EventfdPinger {
    fn start() -> Result<(Self, Child), String> {
        let request = eventfd()?;
        let pinger = Self {
            request,
            reply: eventfd().inspect_err(|_| {
                // SAFETY: ours, not closed anywhere else.
                unsafe { libc::close(request) };
            })?,
        };
        let child = fork_child(|| eventfd_echo(pinger.request, pinger.reply))?;
        Ok((pinger, child))
    }
}

impl Pinger for EventfdPinger {
    #[inline]
    fn round_trip(&mut self, seq: u64, child: &mut Child) -> Result<(), String> {
        eventfd_write(self.request, seq).map_err(|e| format!("eventfd write: {e}"))?;
        let mut stall = Stall::new();
        loop {
            match eventfd_read(self.reply) {
                Ok(Some(v)) => return check_reply(seq, v),
                // The watchdog went off: look at the child.
                Ok(None) => stall.check(child)?,
                Err(e) => return Err(format!("eventfd read: {e}")),
            }
        }
    }

    fn stop(&mut self) -> Result<(), String> {
        eventfd_write(self.request, STOP).map_err(|e| format!("eventfd write: {e}"))
    }
}

// ---- sessions -----------------------------------------------------------

/// One variant's parent end.
enum Channel {
    Futex(SpscPinger<Futex>),
    Spin(SpscPinger<Spin>),
    Words(WordPinger),
    Eventfd(EventfdPinger),
}

/// A child process and the channel to it, kept across criterion's calls.
struct Session {
    variant: Variant,
    channel: Channel,
    child: Child,
    seq: u64,
}

impl Session {
    fn start(variant: Variant) -> Result<Self, String> {
        let spin = Spin::with_clock(monotonic_now);
        let (channel, child) = match variant {
            Variant::SpscFutex => {
                let (p, c) = SpscPinger::start(Futex::new(), true, true)?;
                (Channel::Futex(p), c)
            }
            Variant::SpscAdaptive => {
                let (p, c) = SpscPinger::start(Futex::adaptive(spins()), true, true)?;
                (Channel::Futex(p), c)
            }
            Variant::SpscSpin => {
                let (p, c) = SpscPinger::start(spin, false, true)?;
                (Channel::Spin(p), c)
            }
            Variant::SpscBusy => {
                let (p, c) = SpscPinger::start(spin, false, false)?;
                (Channel::Spin(p), c)
            }
            Variant::RawFutex => {
                let (p, c) = WordPinger::start(true)?;
                (Channel::Words(p), c)
            }
            Variant::CacheLine => {
                let (p, c) = WordPinger::start(false)?;
                (Channel::Words(p), c)
            }
            Variant::Eventfd => {
                let (p, c) = EventfdPinger::start()?;
                (Channel::Eventfd(p), c)
            }
        };
        Ok(Self {
            variant,
            channel,
            child,
            seq: 0,
        })
    }

    /// `n` round trips; the time they took.
    fn run(&mut self, n: u64) -> Result<Duration, String> {
        self.each::<false>(n, &mut Vec::new())
    }

    /// `n` round trips, each timed on its own (in ns, appended to `laps`).
    fn laps(&mut self, n: u64, laps: &mut Vec<f64>) -> Result<(), String> {
        self.each::<true>(n, laps).map(drop)
    }

    fn each<const TIMED: bool>(&mut self, n: u64, laps: &mut Vec<f64>) -> Result<Duration, String> {
        let (seq, child) = (&mut self.seq, &mut self.child);
        let eventfd = matches!(self.channel, Channel::Eventfd(_));
        if eventfd {
            watchdog::arm();
        }
        let r = match &mut self.channel {
            Channel::Futex(p) => round_trips::<_, TIMED>(p, n, seq, child, laps),
            Channel::Spin(p) => round_trips::<_, TIMED>(p, n, seq, child, laps),
            Channel::Words(p) => round_trips::<_, TIMED>(p, n, seq, child, laps),
            Channel::Eventfd(p) => round_trips::<_, TIMED>(p, n, seq, child, laps),
        };
        if eventfd {
            watchdog::disarm();
        }
        r.map_err(|e| format!("{}: {e}", self.variant.name()))
    }

    /// Stops the child and reaps it.
    fn stop(mut self) -> Result<(), String> {
        let sent = match &mut self.channel {
            Channel::Futex(p) => p.stop(),
            Channel::Spin(p) => p.stop(),
            Channel::Words(p) => p.stop(),
            Channel::Eventfd(p) => p.stop(),
        };
        let finished = self.child.finish(Duration::from_secs(5));
        sent.and(finished)
            .map_err(|e| format!("{}: stopping the child: {e}", self.variant.name()))
    }
}

/// The timed loop, monomorphised per channel. With `TIMED`, each round
/// trip's time goes to `laps` (one clock read per round trip: the end of one
/// is the start of the next).
#[inline(never)]
fn round_trips<P: Pinger, const TIMED: bool>(
    p: &mut P,
    n: u64,
    seq: &mut u64,
    child: &mut Child,
    laps: &mut Vec<f64>,
) -> Result<Duration, String> {
    let start = Instant::now();
    let mut last = start;
    for _ in 0..n {
        *seq += 1;
        p.round_trip(*seq, child)?;
        if TIMED {
            let now = Instant::now();
            laps.push((now - last).as_nanos() as f64);
            last = now;
        }
    }
    Ok(start.elapsed())
}

// ---- criterion ----------------------------------------------------------

fn bench_rtt(c: &mut Criterion) {
    pin::pin_main();
    let mut group = c.benchmark_group("rtt_u64");
    for variant in Variant::ALL {
        let mut session: Option<Session> = None;
        group.bench_function(variant.name(), |b| {
            b.iter_custom(|iters| {
                if session.is_none() {
                    session = Some(Session::start(variant).unwrap_or_else(|e| panic!("{e}")));
                }
                let s = session.as_mut().expect("started above");
                let elapsed = s.run(iters).unwrap_or_else(|e| panic!("{e}"));
                SAMPLES.record(variant, elapsed.as_nanos() as f64 / iters.max(1) as f64);
                elapsed
            });
        });
        if let Some(s) = session.take() {
            s.stop().unwrap_or_else(|e| panic!("{e}"));
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .sample_size(SAMPLE_SIZE);
    targets = bench_rtt
}

// ---- summary ------------------------------------------------------------

/// The `q` quantile (0..=1) of sorted `v`, nearest rank.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[i - 1]
}

/// Percentiles of one turn: p50, p90, p99, p99.9, max (ns).
const QUANTILES: [f64; 5] = [0.5, 0.9, 0.99, 0.999, 1.0];

/// Criterion's view, then every variant criterion ran in turn, [`ROUNDS`]
/// times, a fresh child per turn, each round trip timed on its own: the
/// turns' medians and the ratios between them in the harness's format, then
/// per variant the median over rounds of each turn's percentiles (a fast
/// turn holds more round trips than a slow one, so pooling them would weigh
/// the fast turns more).
fn print_summary(run: CriterionRun) {
    let summary = Summary {
        title: format!(
            "cross-process round trip of a u64 (interleaved: p50 of each {TURN:?} turn), \
             adaptive spins {}",
            spins()
        ),
        placement: pin::placement("parent", "child"),
        variants: &Variant::ALL,
        name: Variant::name,
        unit: Unit::Nanos,
        ratios: &RATIOS,
    };
    // Per variant: each turn's percentiles, and the round trips timed.
    let mut turns: Vec<(Variant, Vec<[f64; 5]>, usize)> = Vec::new();
    let mut laps = Vec::with_capacity(1 << 20);
    let pass = SAMPLES.summary(run, &summary, ROUNDS, |v, _| {
        let mut s = Session::start(v)?;
        s.run(u64::from(TURN_WARM_UP))?;
        laps.clear();
        let end = Instant::now() + TURN;
        while Instant::now() < end {
            s.laps(100, &mut laps)?;
        }
        s.stop()?;
        laps.sort_by(f64::total_cmp);
        let q = QUANTILES.map(|q| quantile(&laps, q));
        match turns.iter_mut().find(|t| t.0 == v) {
            Some(t) => {
                t.1.push(q);
                t.2 += laps.len();
            }
            None => turns.push((v, vec![q], laps.len())),
        }
        Ok::<_, String>(q[0])
    });
    if let Err(e) = pass {
        println!("interleaved pass failed: {e}");
        return;
    }
    if turns.is_empty() {
        return;
    }
    println!("percentiles of each turn, medians over the rounds");
    println!(
        "{:<16} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "variant", "trips", "p50", "p90", "p99", "p99.9", "max"
    );
    for (v, t, trips) in &turns {
        // The median over rounds of quantile `i`.
        let over_rounds = |i: usize| {
            let x: Vec<f64> = t.iter().map(|t| t[i]).collect();
            Stats::of(&x).map_or(f64::NAN, |s| s.median)
        };
        let max = t.iter().map(|t| t[4]).fold(0.0, f64::max);
        println!(
            "{:<16} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10}",
            v.name(),
            trips,
            Unit::Nanos.format(over_rounds(0)),
            Unit::Nanos.format(over_rounds(1)),
            Unit::Nanos.format(over_rounds(2)),
            Unit::Nanos.format(over_rounds(3)),
            Unit::Nanos.format(max),
        );
    }
}

fn main() {
    watchdog::install();
    let run = CriterionRun::from_args(SAMPLE_SIZE);
    benches();
    Criterion::default().configure_from_args().final_summary();
    if run.benchmarking {
        print_summary(run);
    }
}

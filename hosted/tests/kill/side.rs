//! The side channel: one anonymous `MAP_SHARED` mapping made before the
//! first fork of a kind's run. Every child writes its phase and progress
//! into it, the harness reads them, and since no process owns it, it
//! survives every SIGKILL. It is not the channel under test: the library
//! never sees it.
//!
//! Layout (`u64` words, then bits):
//! - words `0..64`: global flags ([`G_STOP`], [`G_DRAIN`]);
//! - `64` words per worker (a worker is one producer or consumer position,
//!   held by a succession of child processes), fields `W_*` below;
//! - from byte [`BITS_AT`]: per producer, one bit per sequence number,
//!   set by the consumer that received it (`fetch_or`: a bit found set
//!   already is a duplicate).

use std::sync::atomic::{AtomicU64, Ordering};

use ipckit::shm::SharedMapping;

/// The most workers (producers plus consumers) of one run.
pub const MAX_WORKERS: usize = 8;
/// The most producers of one run.
pub const MAX_PRODUCERS: usize = 4;
/// Sequence numbers per producer that the received bits cover (16 MiB of
/// bits each, touched only as far as used).
pub const MAX_SEQ: u64 = 1 << 27;

/// The bits of a topic run that mark its publisher's numbers left
/// uncertain by a kill (its bits array: a topic has one producer). The
/// harness sets them before it restarts the publisher.
pub const UNCERTAIN: usize = MAX_PRODUCERS - 1;

const GLOBAL_WORDS: usize = 64;
const WORKER_WORDS: usize = 64;
const BITS_AT: usize = 8192;
const BITS_BYTES: usize = (MAX_SEQ / 8) as usize;

/// Global: producers finish their message, drop their endpoint and exit;
/// consumers stop dropping on their budget.
pub const G_STOP: usize = 0;
/// Global: every producer has exited cleanly; consumers drain until the
/// channel reports `PeerGone` (semaphore: `Empty`), then wait to be killed.
pub const G_DRAIN: usize = 1;

/// The phase the child is in ([`Phase`] code), written before the phase.
pub const W_PHASE: usize = 0;
/// When it entered the phase (monotonic ns; not for `Run`/`Call`).
pub const W_PHASE_AT: usize = 1;
/// The child's pid.
pub const W_PID: usize = 2;
/// 1 from a successful claim until a clean drop finished: a successor
/// finding it set knows a dead process may hold the role.
pub const W_HELD: usize = 3;
/// Operations after which the child drops its endpoint and exits (the
/// harness lowers it to 0 to make a child drop now).
pub const W_BUDGET: usize = 4;
/// Operations completed by every child of the worker (progress).
pub const W_OPS: usize = 5;
/// When the last send or receive call of the library started (monotonic
/// ns).
pub const W_CALL_AT: usize = 6;
/// Endpoints taken over from a dead holder.
pub const W_TAKE_OVERS: usize = 7;
/// The phase (code) in which the child arms a timer that SIGKILLs it
/// [`W_AIM_NS`] later (0: none); the harness sets it.
pub const W_AIM: usize = 8;
/// The timer's delay in ns.
pub const W_AIM_NS: usize = 9;
/// 1 once the child armed its timer: its SIGKILL is expected.
pub const W_ARMED: usize = 10;
/// Topic subscriber: `1 << 32 |` the next ring position it expects (its
/// position after the join, advanced by one per item and by `n` per
/// `Lagged(n)`).
pub const W_POS: usize = 11;
/// Topic subscriber: the topic's `tail` read right after the join, and
/// `1 << 32` if it joined at `Start::Next`.
pub const W_JOIN: usize = 12;
/// Topic subscriber: items reported lost (`Lagged(n)`: the sum of `n`).
pub const W_LAGS: usize = 13;
/// Topic subscriber: `Lagged` reports.
pub const W_LAG_EVENTS: usize = 14;
/// Topic subscriber: messages the policy promised and did not deliver: a
/// reliable topic's lag past the join, or a number whose publish
/// returned `Ok` missing between two consecutive positions.
pub const W_LOST: usize = 15;
/// Topic subscriber: positions skipped with no `Lagged` report (or a
/// drained subscriber short of `tail`).
pub const W_SILENT: usize = 23;
/// Topic subscriber: 1 after a `Lagged` report until the next item.
pub const W_JUST_LAGGED: usize = 28;
/// Reliable topic subscriber: lags after the join with its table entry
/// freed under it (a judge's late release: what the entries' tickets rule
/// out, LAYOUT.md section 17.1); fails the run.
pub const W_FREED: usize = 29;
/// Producer: sequence numbers handed out; the one in flight is
/// `SENT - 1` while `SENT > COMMITTED`.
pub const W_SENT: usize = 16;
/// Producer: the send of every sequence number below this returned `Ok`.
pub const W_COMMITTED: usize = 17;
/// Consumer: semaphore units taken (recorded after `Ok`); a topic
/// subscriber's items received.
pub const W_TAKEN: usize = 16;
/// Consumer: messages received a second time.
pub const W_DUPS: usize = 17;
/// Consumer: messages received after a later one of the same sender.
pub const W_DISORDER: usize = 18;
/// Consumer: messages with a bad checksum, length, sender or number.
pub const W_CORRUPT: usize = 19;
/// Consumer (MPSC bytes): records the ring counts as skipped (dead
/// senders' unfinished records).
pub const W_SKIPPED: usize = 20;
/// Consumer: the tag of the message its receive call just returned,
/// valid while [`W_PENDING`] is 1.
pub const W_PENDING_TAG: usize = 21;
/// Consumer: 1 from right after a receive call returned a message until
/// the message is recorded (its bit set): a killed consumer's message is
/// then recorded by the harness.
pub const W_PENDING: usize = 22;
/// Consumer: `1 + ` the last sequence number received from producer `p`
/// is at `W_LAST + p` (0: none), stored before the message's bit.
pub const W_LAST: usize = 24;
/// How long the worker's last child spent in phase `c` (ns) is at
/// `W_DUR + c`, `c` a [`Phase`] code (for `Call`: its last send or receive
/// call): what timer delays are drawn from.
pub const W_DUR: usize = 32;

/// Where a child is. The harness reads it after the kill, so it is the
/// phase at the instant of the kill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Forked, nothing opened yet (written by the harness before the fork).
    Start = 1,
    /// Opening the shared-memory object.
    Open = 2,
    /// Attaching: validating the object and claiming the endpoint.
    Claim = 3,
    /// Taking the endpoint over from a dead holder.
    TakeOver = 4,
    /// Between send or receive calls (recording a result included).
    Run = 5,
    /// Inside a send or receive call, until its result is recorded.
    Call = 6,
    /// Dropping the endpoint.
    Drop = 7,
    /// Dropped; about to exit.
    Done = 8,
    /// Drained at the end; holding the endpoint until killed.
    Finished = 9,
}

impl Phase {
    pub fn from_code(code: u64) -> Option<Self> {
        Some(match code {
            1 => Phase::Start,
            2 => Phase::Open,
            3 => Phase::Claim,
            4 => Phase::TakeOver,
            5 => Phase::Run,
            6 => Phase::Call,
            7 => Phase::Drop,
            8 => Phase::Done,
            9 => Phase::Finished,
            _ => return None,
        })
    }

    /// The column a kill in this phase is counted in ([`COLUMNS`]).
    pub fn column(self) -> usize {
        match self {
            Phase::Start => 0,
            Phase::Open => 1,
            Phase::Claim => 2,
            Phase::TakeOver => 3,
            Phase::Run | Phase::Call => 4,
            Phase::Drop => 5,
            Phase::Done | Phase::Finished => 6,
        }
    }
}

/// The kill-count columns of the report.
pub const COLUMNS: [&str; 7] = [
    "start",
    "open",
    "claim",
    "take-over",
    "send/recv",
    "drop",
    "exit",
];

/// Monotonic time in ns (`CLOCK_MONOTONIC`: the same clock in every
/// process).
pub fn now_ns() -> u64 {
    ipckit::futex::monotonic_now().as_nanos() as u64
}

/// The mapping.
pub struct Side(SharedMapping);

impl Side {
    /// A zeroed side channel.
    pub fn new() -> Result<Self, String> {
        let len = BITS_AT + MAX_PRODUCERS * BITS_BYTES;
        SharedMapping::anonymous(len)
            .map(Side)
            .map_err(|e| format!("side channel mmap: {e}"))
    }

    fn word(&self, i: usize) -> &AtomicU64 {
        assert!(i < BITS_AT / 8);
        // SAFETY: `i * 8 + 8 <= BITS_AT <= len`, 8-aligned on a page-aligned
        // mapping that outlives the reference; every process accesses these
        // words only atomically.
        unsafe { AtomicU64::from_ptr(self.0.as_ptr().cast::<u64>().add(i)) }
    }

    /// Global word `g`.
    pub fn global(&self, g: usize) -> &AtomicU64 {
        assert!(g < GLOBAL_WORDS);
        self.word(g)
    }

    /// Whether global flag `g` is raised.
    pub fn flag(&self, g: usize) -> bool {
        self.global(g).load(Ordering::Acquire) != 0
    }

    /// Raises global flag `g`.
    pub fn raise(&self, g: usize) {
        self.global(g).store(1, Ordering::Release);
    }

    /// Field `f` of worker `w`.
    pub fn w(&self, w: usize, f: usize) -> &AtomicU64 {
        assert!(w < MAX_WORKERS && f < WORKER_WORDS);
        self.word(GLOBAL_WORDS + w * WORKER_WORDS + f)
    }

    /// Loads field `f` of worker `w`.
    pub fn get(&self, w: usize, f: usize) -> u64 {
        self.w(w, f).load(Ordering::Acquire)
    }

    /// Stores field `f` of worker `w`.
    pub fn put(&self, w: usize, f: usize, v: u64) {
        self.w(w, f).store(v, Ordering::Release);
    }

    /// Adds to field `f` of worker `w`.
    pub fn add(&self, w: usize, f: usize, v: u64) {
        self.w(w, f).fetch_add(v, Ordering::AcqRel);
    }

    /// The phase of worker `w`'s child.
    pub fn phase(&self, w: usize) -> Option<Phase> {
        Phase::from_code(self.get(w, W_PHASE))
    }

    /// In the harness, before a fork: the child starts in `Start`, with
    /// `aim` (phase, delay in ns) for its timer.
    pub fn start(&self, w: usize, aim: Option<(Phase, u64)>) {
        let (phase, ns) = aim.map_or((0, 0), |(p, ns)| (p as u64, ns));
        self.put(w, W_AIM, phase);
        self.put(w, W_AIM_NS, ns);
        self.put(w, W_ARMED, 0);
        self.put(w, W_CALL_AT, 0);
        self.put(w, W_PHASE_AT, now_ns());
        self.put(w, W_PHASE, Phase::Start as u64);
    }

    /// In a child: enters `phase`, with its start time (and records how
    /// long the last phase took); arms the SIGKILL timer if the harness
    /// aimed it at `phase`.
    pub fn enter(&self, w: usize, phase: Phase) {
        let now = now_ns();
        let (old, at) = (self.get(w, W_PHASE), self.get(w, W_PHASE_AT));
        if Phase::from_code(old).is_some() && at != 0 {
            self.put(w, W_DUR + old as usize, now.saturating_sub(at));
        }
        self.put(w, W_PHASE_AT, now);
        self.put(w, W_PHASE, phase as u64);
        if self.get(w, W_AIM) == phase as u64 && self.get(w, W_ARMED) == 0 {
            self.put(w, W_ARMED, 1);
            arm_kill_timer(self.get(w, W_AIM_NS));
        }
    }

    /// Enters `phase` without a time (the per-message `Run`/`Call` steps).
    pub fn step(&self, w: usize, phase: Phase) {
        self.put(w, W_PHASE, phase as u64);
    }

    /// In a child: enters `Call` (a send or receive is next); arms the
    /// SIGKILL timer if the harness aimed it at `Call`.
    pub fn call(&self, w: usize) {
        self.put(w, W_PHASE, Phase::Call as u64);
        if self.get(w, W_AIM) == Phase::Call as u64 && self.get(w, W_ARMED) == 0 {
            self.put(w, W_ARMED, 1);
            arm_kill_timer(self.get(w, W_AIM_NS));
        }
    }

    fn bits(&self, p: usize, s: u64) -> (&AtomicU64, u64) {
        assert!(p < MAX_PRODUCERS && s < MAX_SEQ);
        let word = BITS_AT / 8 + p * BITS_BYTES / 8 + (s / 64) as usize;
        // SAFETY: `word` lies inside producer `p`'s bits, inside the
        // mapping; 8-aligned; accessed only atomically.
        let a = unsafe { AtomicU64::from_ptr(self.0.as_ptr().cast::<u64>().add(word)) };
        (a, 1 << (s % 64))
    }

    /// Whether message `s` of producer `p` was received.
    pub fn bit(&self, p: usize, s: u64) -> bool {
        let (a, m) = self.bits(p, s);
        a.load(Ordering::Acquire) & m != 0
    }

    /// Marks message `s` of producer `p` received; returns whether it was
    /// marked already.
    pub fn set_bit(&self, p: usize, s: u64) -> bool {
        let (a, m) = self.bits(p, s);
        a.fetch_or(m, Ordering::AcqRel) & m != 0
    }

    /// The 64 bits of producer `p` from `64 * i`.
    pub fn bit_word(&self, p: usize, i: u64) -> u64 {
        self.bits(p, i * 64).0.load(Ordering::Acquire)
    }
}

/// Arms a one-shot `CLOCK_MONOTONIC` timer that sends this process SIGKILL
/// `ns` from now: a kill that lands `ns` into a phase however the
/// harness is scheduled. Exits the child if the kernel refuses.
fn arm_kill_timer(ns: u64) {
    // SAFETY: `sigevent` is a plain C struct; all zeroes is valid, and the
    // fields set below are the ones `timer_create` reads for
    // `SIGEV_SIGNAL`.
    let mut ev: libc::sigevent = unsafe { std::mem::zeroed() };
    ev.sigev_notify = libc::SIGEV_SIGNAL;
    ev.sigev_signo = libc::SIGKILL;
    let mut timer: libc::timer_t = std::ptr::null_mut();
    // SAFETY: both pointers are valid for the call; the timer lives until
    // the process ends (which it is meant to do).
    let created = unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &mut ev, &mut timer) };
    // A zero `it_value` would disarm the timer: at least 1 ns.
    let ns = ns.max(1);
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: (ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (ns % 1_000_000_000) as libc::c_long,
        },
    };
    // SAFETY: `timer` was just created (checked); `spec` is valid; no old
    // value is asked for.
    if created != 0 || unsafe { libc::timer_settime(timer, 0, &spec, std::ptr::null_mut()) } != 0 {
        eprintln!("  kill: timer: {}", std::io::Error::last_os_error());
        // SAFETY: ends the child at once, as `fork_child` does.
        unsafe { libc::_exit(crate::support::EXIT_CHECK) };
    }
}

//! The endpoint child's side: every call of the API goes through
//! [`Ctx::call`], which times it against its bound, counts its outcome on
//! the board and leaves its name there while it runs; between calls the
//! child forges the object itself (between-operations mode).
//!
//! # The time bound, and what it excuses
//! A call may return at most [`SLACK`] (20 ms) after its bound: its timeout
//! (zero for `try_` calls, drops and the like), or the 2 s that `open`
//! waits for an uninitialised header. The machine running the suite is
//! shared (2 cores, several jobs), so the wall-clock overrun of a call is
//! charged to ipckit only after subtracting the time the kernel kept this
//! thread waiting for a CPU during the call: the `run_delay` field of
//! `/proc/thread-self/schedstat` (without schedstats the full overrun
//! counts). A call that spins, sleeps too long or loops over peer data is
//! charged in full; one that was merely preempted is not. Both figures are
//! reported.

use std::fs::File;
use std::ops::RangeInclusive;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use ipckit::error::Error;
use ipckit::futex::monotonic_now;
use ipckit::region::{ENDIAN_MARKER, LAYOUT_VERSION, MAGIC};
use ipckit::shm::{SharedMemory, ShmObject};

use crate::board::{self, Board, OP_NAMES, OUTCOME_NAMES, Op, classify};
use crate::forge::Forger;
use crate::support::{ChildFail, EXIT_CHECK, EXIT_TIMEOUT, Rng, fail};
use crate::{Kind, Mode, kinds, topics};

/// How far past its bound a call may return.
pub const SLACK: Duration = Duration::from_millis(20);
/// The bound of an open: the channels wait up to 2 s for a creator to
/// publish the header (`OPEN_PATIENCE` in `ipckit::channel`).
pub const OPEN: Duration = Duration::from_secs(2);
/// The bound of a call that never waits.
pub const ZERO: Duration = Duration::ZERO;
/// The most resident memory may grow over a run.
pub const RSS_GROWTH: u64 = 16 * 1024; // kB

/// Nanoseconds, saturating.
pub fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Milliseconds, for messages.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// `VmRSS` of this process, in kB.
pub fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// What the endpoint child carries from call to call.
pub struct Ctx<'b> {
    /// The shared board.
    pub b: &'b Board,
    /// Its random stream (seeded: the printed seed repeats a run).
    pub rng: Rng,
    /// The object's name (the same every round).
    pub name: String,
    mode: Mode,
    /// The in-process forger of this round (between-operations mode).
    forger: Option<Forger>,
    /// Chance (of 1024) of a burst of hostile writes after each call.
    intensity: u64,
    /// Chance (of 100) that a call is on the sending side (see
    /// [`choose`](Self::choose)).
    send_share: u64,
    /// When the run ends (monotonic).
    pub end: Duration,
    sched: Option<File>,
    seq: u64,
    round: u64,
    /// Errors shown once by text, to explain the counts: (op, class).
    shown: Vec<(Op, usize, String)>,
}

impl<'b> Ctx<'b> {
    fn new(b: &'b Board, name: &str, mode: Mode, seed: u64, end: Duration) -> Self {
        Self {
            b,
            rng: Rng(seed | 1),
            name: name.to_owned(),
            mode,
            forger: None,
            intensity: 0,
            send_share: 50,
            end,
            sched: File::open("/proc/thread-self/schedstat").ok(),
            seq: 0,
            round: 0,
            shown: Vec::new(),
        }
    }

    /// Time this thread spent waiting for a CPU, so far.
    fn run_delay(&self) -> Duration {
        let mut buf = [0u8; 96];
        let Some(f) = &self.sched else {
            return Duration::ZERO;
        };
        let n = f.read_at(&mut buf, 0).unwrap_or(0);
        std::str::from_utf8(&buf[..n])
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse().ok())
            .map_or(Duration::ZERO, Duration::from_nanos)
    }

    /// One element of `from`.
    pub fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[(self.rng.next() % from.len() as u64) as usize]
    }

    /// A call to make, by its number in a kind's list: one of `send` (the
    /// producing side) with the round's sending share, else one of `recv`,
    /// and one of `misc` (liveness, opens, take-overs, drops) one time in
    /// eight. The share varies by round, so that rings are full in some
    /// rounds, empty in others, and in between.
    pub fn choose(
        &mut self,
        send: RangeInclusive<u64>,
        recv: RangeInclusive<u64>,
        misc: RangeInclusive<u64>,
    ) -> u64 {
        let from = if self.rng.next() % 8 == 0 {
            misc
        } else if self.rng.next() % 100 < self.send_share {
            send
        } else {
            recv
        };
        from.start() + self.rng.next() % (from.end() - from.start() + 1)
    }

    /// A timeout for a `_timeout` call: mostly 1 to 3 ms, some up to 20 ms,
    /// some under a millisecond.
    pub fn timeout(&mut self) -> Duration {
        match self.rng.next() % 10 {
            0 => Duration::from_micros(100 + self.rng.next() % 900),
            1 | 2 => Duration::from_millis(4 + self.rng.next() % 17),
            _ => Duration::from_millis(1 + self.rng.next() % 3),
        }
    }

    /// Runs one API call `f` of kind `op` whose bound is `bound`: counts
    /// its outcome and fails the run if it returned more than [`SLACK`]
    /// late. `Ok(None)` for an error result (counted, not a failure).
    pub fn call<R>(
        &mut self,
        op: Op,
        bound: Duration,
        f: impl FnOnce() -> Result<R, Error>,
    ) -> Result<Option<R>, ChildFail> {
        let b = self.b;
        if matches!(op, Op::Open | Op::TakeOver) && self.rng.next() % 8 != 0 {
            if let Some(f) = &mut self.forger {
                f.ready(b);
            }
        }
        self.seq += 1;
        b.set(board::OP_SEQ, self.seq);
        b.set(board::CUR_BOUND, ns(bound));
        let d0 = self.run_delay();
        let t0 = monotonic_now();
        b.set(board::CUR_START, ns(t0));
        b.set(board::CUR_OP, op as u64);
        let r = f();
        let took = monotonic_now().saturating_sub(t0);
        b.set(board::CUR_OP, 0);
        let delay = self.run_delay().saturating_sub(d0);
        b.add(board::OPS, 1);
        let class = classify(&r);
        b.count(op, class);
        let raw = took.saturating_sub(bound);
        let own = raw.saturating_sub(delay);
        b.max(board::LATE_RAW, ns(raw));
        if ns(own) > b.get(board::LATE_OWN) {
            b.set(board::LATE_OWN, ns(own));
            b.set(board::LATE_OP, op as u64);
            b.set(board::LATE_OUTCOME, class as u64);
        }
        b.max(board::DELAY_MAX, ns(delay));
        if let Err(e) = &r {
            let text = e.to_string();
            if class >= board::OS && !self.shown.iter().any(|s| s.0 == op && s.1 == class) {
                self.shown.push((op, class, text));
            }
        }
        if own > SLACK {
            let what = match &r {
                Ok(_) => "Ok".to_string(),
                Err(e) => format!("{} ({e})", OUTCOME_NAMES[class]),
            };
            return Err(fail(
                EXIT_TIMEOUT,
                format!(
                    "{} returned {} past its bound of {} (took {}, of which {} waiting \
                     for a CPU) with {what}; round {}, op #{}",
                    OP_NAMES[op as usize],
                    ms(own),
                    ms(bound),
                    ms(took),
                    ms(delay),
                    self.round,
                    self.seq
                ),
            ));
        }
        Ok(r.ok())
    }

    /// [`call`](Self::call) for a drop: dropping an endpoint must not wait.
    pub fn drop_it<T>(&mut self, what: Option<T>) -> Result<(), ChildFail> {
        if let Some(x) = what {
            self.call(Op::Drop, ZERO, move || {
                drop(x);
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Fails the run if a receive of `n` items or bytes into room for
    /// `room` reported more than fits, or wrote past it (`canary`: the
    /// bytes after the buffer, which must still be `0xA5`).
    pub fn check_len(&self, op: Op, n: usize, room: usize, canary: &[u8]) -> Result<(), ChildFail> {
        if n > room || canary.iter().any(|&c| c != 0xA5) {
            return Err(fail(
                EXIT_CHECK,
                format!(
                    "{} returned {n} into a buffer of {room} (bytes after it: {:?}); round {}, op #{}",
                    OP_NAMES[op as usize], canary, self.round, self.seq
                ),
            ));
        }
        Ok(())
    }

    /// A fresh round: a new forging intensity, the old object removed, the
    /// round bumped on the board (the adversary then maps the new object
    /// as soon as it exists, also while it is being created).
    fn begin_round(&mut self) {
        self.round += 1;
        self.forger = None;
        self.intensity = self.pick(&[2, 8, 32, 128, 512, 1024]);
        self.send_share = self.pick(&[20, 50, 80]);
        let _ = ShmObject::remove(&self.name);
        self.b.set(board::OP_ROUND, self.round);
        self.b.set(board::ROUND, self.round);
    }

    /// The round's object was created: publishes its honest header for the
    /// adversary and, between operations, maps it to forge it here, maybe
    /// before the other endpoints open.
    pub fn created(&mut self, mem: &impl SharedMemory, kind: Kind) {
        let Ok(info) = mem.inspect() else { return };
        // The ready state is 2 (module docs of `ipckit::region`).
        let h = [
            MAGIC,
            LAYOUT_VERSION,
            info.kind_code,
            ENDIAN_MARKER,
            2,
            info.elem_size,
            info.elem_align,
            info.capacity,
            info.data_offset,
            info.flags,
        ];
        for (i, w) in h.iter().enumerate() {
            self.b.set(board::HEADER + i, u64::from(*w));
        }
        self.b.set(board::HEADER_ROUND, self.round);
        if self.mode == Mode::Between {
            let seed = self.rng.next();
            self.forger = Forger::open(&self.name, kind, seed, self.b, false);
            if let Some(f) = &mut self.forger {
                f.lay.header = Some(h);
                f.lay.table_len = f.load(144);
            }
            if self.rng.next() % 2 == 0 {
                let n = 1 + self.rng.next() % 8;
                self.forge(n);
            }
        }
    }

    /// `n` hostile actions through the in-process forger.
    fn forge(&mut self, n: u64) {
        if let Some(f) = &mut self.forger {
            f.tag = self.seq;
            for _ in 0..n {
                f.forge(self.b, false);
            }
        }
    }

    /// Runs `step` (one random call) until the round is over (a random
    /// number of calls, at most 250 ms, or the end of the run), forging
    /// after each call with the round's intensity (between operations).
    pub fn round_loop(
        &mut self,
        mut step: impl FnMut(&mut Self) -> Result<(), ChildFail>,
    ) -> Result<(), ChildFail> {
        let calls = 50 + self.rng.next() % 2000;
        let until = (monotonic_now() + Duration::from_millis(250)).min(self.end);
        for _ in 0..calls {
            if monotonic_now() >= until {
                break;
            }
            step(self)?;
            if self.rng.next() % 1024 < self.intensity {
                let n = 1 + self.rng.next() % 3;
                self.forge(n);
            }
        }
        Ok(())
    }

    fn check_rss(&self) -> Result<(), ChildFail> {
        let now = rss_kb();
        self.b.max(board::RSS_MAX, now);
        let start = self.b.get(board::RSS_START);
        if now.saturating_sub(start) >= RSS_GROWTH {
            return Err(fail(
                EXIT_CHECK,
                format!(
                    "resident memory grew from {start} kB to {now} kB by round {}",
                    self.round
                ),
            ));
        }
        Ok(())
    }
}

/// The endpoint child: rounds of a fresh `kind` object with live
/// endpoints, until `end`.
pub fn endpoint_main(
    kind: Kind,
    mode: Mode,
    b: &Board,
    name: &str,
    seed: u64,
    end: Duration,
) -> Result<(), ChildFail> {
    b.set(board::CHILD_PID, u64::from(std::process::id()));
    let mut ctx = Ctx::new(b, name, mode, seed, end);
    let start = rss_kb();
    b.set(board::RSS_START, start);
    b.set(board::RSS_MAX, start);
    while monotonic_now() < end {
        ctx.begin_round();
        match kind {
            Kind::Spsc => kinds::spsc(&mut ctx)?,
            Kind::Mpmc => kinds::mpmc(&mut ctx)?,
            Kind::Bytes => kinds::bytes(&mut ctx)?,
            Kind::MpscBytes => kinds::mpsc_bytes(&mut ctx)?,
            Kind::Semaphore => kinds::semaphore(&mut ctx)?,
            Kind::Pubsub => topics::pubsub(&mut ctx)?,
            Kind::PubsubReliable => topics::pubsub_reliable(&mut ctx)?,
        }
        ctx.forger = None;
        ctx.check_rss()?;
    }
    let _ = ShmObject::remove(name);
    for (op, class, text) in &ctx.shown {
        println!(
            "    first {} of {}: {text}",
            OUTCOME_NAMES[*class], OP_NAMES[*op as usize]
        );
    }
    Ok(())
}

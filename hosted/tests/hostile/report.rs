//! The parent's side: watching the endpoint child for hangs, reading the
//! figures off the board, and describing a failure well enough to repeat
//! it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ipckit::futex::monotonic_now;
use ipckit::shm::ShmObject;

use crate::board::{self, Board, OP_NAMES, OUTCOME_NAMES, OUTCOMES};
use crate::probe::ms;
use crate::support::{Child, Exit};
use crate::{Kind, Mode};

/// A call still running this long past its bound is a hang.
const HANG: Duration = Duration::from_secs(5);
/// The endpoint child must be done this long after the run's end.
const LATE_EXIT: Duration = Duration::from_secs(60);

fn signal_name(s: i32) -> &'static str {
    match s {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGABRT => "SIGABRT",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTRAP => "SIGTRAP",
        _ => "?",
    }
}

/// The call in flight, as the board shows it; `running`: the child still
/// runs (say for how long the call has).
fn in_flight(b: &Board, running: bool) -> String {
    let op = b.get(board::CUR_OP) as usize;
    let (round, seq) = (b.get(board::OP_ROUND), b.get(board::OP_SEQ));
    if op == 0 {
        return format!("between calls (round {round}, after call #{seq})");
    }
    let since = monotonic_now().saturating_sub(Duration::from_nanos(b.get(board::CUR_START)));
    let since = if running {
        format!(", running for {}", ms(since))
    } else {
        String::new()
    };
    format!(
        "in {} (round {round}, call #{seq}, bound {}{since})",
        OP_NAMES.get(op).unwrap_or(&"?"),
        ms(Duration::from_nanos(b.get(board::CUR_BOUND)))
    )
}

/// Waits for the endpoint child to end, killing it if a call hangs
/// ([`HANG`] past its bound) or it outlives the run by [`LATE_EXIT`].
/// `Ok` only for a clean exit.
pub fn watch(child: &mut Child, b: &Board, end: Duration) -> Result<(), String> {
    loop {
        if let Some(exit) = child.try_wait()? {
            return match exit {
                Exit::Code(0) => Ok(()),
                Exit::Signal(s) => Err(format!(
                    "endpoint child killed by signal {s} ({}) {}",
                    signal_name(s),
                    in_flight(b, false)
                )),
                other => Err(format!(
                    "endpoint child ended with {other} {} (its message is above)",
                    in_flight(b, false)
                )),
            };
        }
        let seq = b.get(board::OP_SEQ);
        let op = b.get(board::CUR_OP);
        let start = Duration::from_nanos(b.get(board::CUR_START));
        let bound = Duration::from_nanos(b.get(board::CUR_BOUND));
        let now = monotonic_now();
        let hung = op != 0 && seq == b.get(board::OP_SEQ) && now > start + bound + HANG;
        if hung || now > end + LATE_EXIT {
            let what = in_flight(b, true);
            child.kill();
            return Err(format!("endpoint child hung {what}; killed it"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What a sub-test did.
pub struct Figures {
    pub writes_local: u64,
    pub writes_remote: u64,
    pub calls: u64,
    rounds: u64,
    late_own: Duration,
    late_op: &'static str,
    late_outcome: &'static str,
    late_raw: Duration,
    delay_max: Duration,
    rss_start: u64,
    rss_max: u64,
    outcomes: [u64; OUTCOMES],
}

impl Figures {
    pub fn read(b: &Board) -> Self {
        let mut outcomes = [0; OUTCOMES];
        for (k, o) in outcomes.iter_mut().enumerate() {
            *o = (1..OP_NAMES.len()).map(|op| b.counted(op, k)).sum();
        }
        Self {
            writes_local: b.get(board::WRITES_LOCAL),
            writes_remote: b.get(board::WRITES_REMOTE),
            calls: b.get(board::OPS),
            rounds: b.get(board::OP_ROUND),
            late_own: Duration::from_nanos(b.get(board::LATE_OWN)),
            late_op: OP_NAMES.get(b.get(board::LATE_OP) as usize).unwrap_or(&"?"),
            late_outcome: OUTCOME_NAMES
                .get(b.get(board::LATE_OUTCOME) as usize)
                .unwrap_or(&"?"),
            late_raw: Duration::from_nanos(b.get(board::LATE_RAW)),
            delay_max: Duration::from_nanos(b.get(board::DELAY_MAX)),
            rss_start: b.get(board::RSS_START),
            rss_max: b.get(board::RSS_MAX),
            outcomes,
        }
    }

    fn counts(counts: impl Iterator<Item = (usize, u64)>) -> String {
        counts
            .filter(|&(_, n)| n > 0)
            .map(|(k, n)| format!("{} {n}", OUTCOME_NAMES[k]))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The block printed for a sub-test.
    pub fn print(&self, label: &str, seed: u64, secs: Duration, b: &Board) {
        println!(
            "  {label}: seed {seed:#x}, {:.1} s, {} rounds",
            secs.as_secs_f64(),
            self.rounds
        );
        println!(
            "    hostile writes tried: {} between calls, {} concurrently",
            self.writes_local, self.writes_remote
        );
        println!(
            "    calls: {}; worst return past a bound: {} charged to ipckit ({} returning {}; \
             {} wall clock; at most {} of one call spent waiting for a CPU); VmRSS {} kB, at \
             most {} kB",
            self.calls,
            ms(self.late_own),
            self.late_op,
            self.late_outcome,
            ms(self.late_raw),
            ms(self.delay_max),
            self.rss_start,
            self.rss_max
        );
        println!(
            "    outcomes: {}",
            Self::counts(self.outcomes.iter().copied().enumerate())
        );
        for (op, name) in OP_NAMES.iter().enumerate().skip(1) {
            let line = Self::counts((0..OUTCOMES).map(|k| (k, b.counted(op, k))));
            if !line.is_empty() {
                println!("      {name}: {line}");
            }
        }
    }

    /// The note on the sub-test's result line.
    pub fn note(&self) -> String {
        format!(
            "{} hostile writes, {} calls, worst {} past a bound",
            self.writes_local + self.writes_remote,
            self.calls,
            ms(self.late_own)
        )
    }
}

/// The words of the object that are not zero: its header and control
/// lines, and the liveness block's header and first slots.
fn object_words(name: &str, kind: Kind) -> String {
    let Ok(obj) = ShmObject::open(name) else {
        return "(object gone)".into();
    };
    let len = obj.len();
    let mut offsets: Vec<usize> = (0..512.min(len)).step_by(4).collect();
    if kind != Kind::Semaphore && len >= 8192 {
        let live = len - 4096;
        offsets.extend((live..live + 12).step_by(4));
        for side in [64, 1088] {
            offsets.extend((live + side..live + side + 48).step_by(4));
        }
    }
    let base = obj.region().as_ptr();
    offsets
        .into_iter()
        .filter_map(|off| {
            // SAFETY: `off` is 4-aligned and below the mapped length; the
            // object's words are only accessed atomically here.
            let v = unsafe { AtomicU32::from_ptr(base.add(off).cast()) }.load(Ordering::Relaxed);
            (v != 0).then(|| format!("@{off:#x}={v:#x}"))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The failure text: what happened, how to repeat it, the last hostile
/// writes and the object as it was left.
pub fn failure(
    what: &str,
    kind: Kind,
    mode: Mode,
    label: &str,
    seed: u64,
    b: &Board,
    name: &str,
) -> String {
    let (log, n, tag) = match mode {
        Mode::Between => (board::LOG_LOCAL, b.get(board::WRITES_LOCAL), "after call #"),
        Mode::Concurrent => (board::LOG_REMOTE, b.get(board::WRITES_REMOTE), "at ns "),
    };
    let writes = b.last_writes(log, n, tag);
    format!(
        "{what}\n      {label}: sub-test seed {seed:#x}; repeat with IPCKIT_HOSTILE_SEED={:#x} \
         cargo test [--release] -p ipckit --test hostile -- '{label}'\n      \
         last {} hostile writes, oldest first:\n        {}\n      object words now: {}",
        crate::RUN_SEED.load(std::sync::atomic::Ordering::Relaxed),
        writes.len(),
        writes.join("\n        "),
        object_words(name, kind)
    )
}

//! The board: one anonymous shared page set made before the forks, where
//! the endpoint child and the adversary count what they do and leave the
//! context of what they are doing, so that the parent can report it even
//! after a child died by a signal.
//!
//! Every word is an `AtomicU64`, written by one child (or the parent for
//! [`STOP`]) and read by the others.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use ipckit::error::{CoreError, Error};
use ipckit::shm::SharedMapping;

/// Words on the board.
const WORDS: usize = 2048;

// Scalars.
/// Set by the parent: the adversary stops.
pub const STOP: usize = 0;
/// The endpoint child's round: bumped before each fresh object is created.
pub const ROUND: usize = 1;
/// Hostile writes tried by the endpoint child itself (between operations).
pub const WRITES_LOCAL: usize = 2;
/// Hostile writes tried by the concurrent adversary process.
pub const WRITES_REMOTE: usize = 3;
/// Operations done (calls of the API, including opens and drops).
pub const OPS: usize = 4;
/// The operation in flight (an [`Op`] code; 0: none).
pub const CUR_OP: usize = 5;
/// When it started (`CLOCK_MONOTONIC`, ns).
pub const CUR_START: usize = 6;
/// Its time bound (its timeout, or the open patience), ns.
pub const CUR_BOUND: usize = 7;
/// Resident memory of the endpoint child at its start, kB.
pub const RSS_START: usize = 8;
/// The most resident memory seen since, kB.
pub const RSS_MAX: usize = 9;
/// The most time any call took past its bound, less the run-queue delay
/// during the call (what the library itself is charged with), ns.
pub const LATE_OWN: usize = 10;
/// The same without the excuse (wall clock only), ns.
pub const LATE_RAW: usize = 11;
/// The largest run-queue delay excused in one call, ns.
pub const DELAY_MAX: usize = 12;
/// Pid of the adversary process (for forged liveness slots).
pub const ADV_PID: usize = 13;
/// Pid of the endpoint child.
pub const CHILD_PID: usize = 14;
/// Round for which [`HEADER`] holds the honest header words.
pub const HEADER_ROUND: usize = 15;
/// The honest header words (10 `u32`s, one per board word) of the round.
pub const HEADER: usize = 16;
/// Sequence number of the operation in flight (or last done).
pub const OP_SEQ: usize = 26;
/// Round of the operation in flight.
pub const OP_ROUND: usize = 27;
/// The [`Op`] code of the call with the worst [`LATE_OWN`].
pub const LATE_OP: usize = 28;
/// Its outcome class.
pub const LATE_OUTCOME: usize = 29;

// Write logs: the last `LOG_LEN` hostile writes of each writer, two words
// per entry ([`encode`]d write, then the op sequence (local) or the
// monotonic time in ns (remote) at which it was made).
/// Entries per log.
pub const LOG_LEN: usize = 32;
/// The endpoint child's own writes.
pub const LOG_LOCAL: usize = 64;
/// The adversary's writes.
pub const LOG_REMOTE: usize = LOG_LOCAL + 2 * LOG_LEN;

/// The outcome matrix: `MATRIX + op * OUTCOMES + outcome`.
const MATRIX: usize = 256;

/// The operations counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    Create = 1,
    Open,
    TakeOver,
    Drop,
    TrySend,
    SendTimeout,
    TrySendSlice,
    TryRecv,
    RecvTimeout,
    TryRecvSlice,
    MsgSend,
    MsgRecv,
    TryGrant,
    GrantTimeout,
    Commit,
    Stalled,
    SkipDead,
    PeerGone,
    Post,
    PostN,
    TryWait,
    WaitTimeout,
    Value,
    Publish,
    TryPublish,
    PublishTimeout,
    Subscribe,
    TryClone,
}

/// Names of the [`Op`] codes (index = code).
pub const OP_NAMES: [&str; 29] = [
    "-",
    "create",
    "open",
    "take_over",
    "drop",
    "try_send",
    "send_timeout",
    "try_send_slice",
    "try_recv",
    "recv_timeout",
    "try_recv_slice",
    "msg send_timeout",
    "msg recv_timeout",
    "try_grant",
    "grant_timeout",
    "commit",
    "stalled",
    "skip_dead",
    "peer_gone",
    "post",
    "post_n",
    "try_wait",
    "wait_timeout",
    "value",
    "publish",
    "try_publish",
    "publish_timeout",
    "subscribe",
    "try_clone",
];

/// The result classes counted.
pub const OUTCOME_NAMES: [&str; 18] = [
    "Ok",
    "Empty",
    "Full",
    "TimedOut",
    "Corrupted",
    "PeerGone",
    "BufferTooSmall",
    "FrameTooLarge/OutOfRange",
    "RoleTaken",
    "NotInitialized",
    "BadHeader",
    "TooSmall",
    "InvalidCapacity",
    "AlreadyInitialized",
    "Busy",
    "Lagged",
    "Os",
    "Other",
];
/// Number of result classes.
pub const OUTCOMES: usize = OUTCOME_NAMES.len();
/// Index of "Other" (an error this suite does not expect by name).
pub const OTHER: usize = OUTCOMES - 1;
/// Index of "Os".
pub const OS: usize = OUTCOMES - 2;

/// The class of a result.
pub fn classify<R>(r: &Result<R, Error>) -> usize {
    let Err(e) = r else { return 0 };
    match e {
        Error::Empty => 1,
        Error::Full => 2,
        Error::TimedOut => 3,
        Error::Busy => 14,
        Error::Lagged(_) => 15,
        // A channel's set-up names the object around the core's finding.
        Error::Core(_) | Error::Channel { .. } => match e.core().expect("a core error") {
            CoreError::Corrupted(_) => 4,
            CoreError::BufferTooSmall { .. } => 6,
            CoreError::FrameTooLarge { .. } | CoreError::OutOfRange { .. } => 7,
            CoreError::RoleTaken(_) => 8,
            CoreError::NotInitialized => 9,
            CoreError::BadMagic
            | CoreError::ForeignEndian
            | CoreError::VersionMismatch { .. }
            | CoreError::KindMismatch { .. }
            | CoreError::ElementMismatch { .. }
            | CoreError::Misaligned { .. }
            | CoreError::NotifyMismatch
            // A topic's forged policy flag.
            | CoreError::PolicyMismatch => 10,
            CoreError::TooSmall { .. } => 11,
            CoreError::InvalidCapacity => 12,
            CoreError::AlreadyInitialized => 13,
            _ => OTHER,
        },
        Error::PeerGone { .. } => 5,
        Error::TooSmall { .. } => 11,
        Error::NotFound(_)
        | Error::AlreadyExists(_)
        | Error::PermissionDenied(_)
        | Error::Os(_) => OS,
        _ => OTHER,
    }
}

/// A hostile write as one word: width in bits 60..64 (1 or 4 bytes),
/// offset in bits 32..60, value in bits 0..32.
pub fn encode(offset: usize, width: u8, value: u32) -> u64 {
    (u64::from(width) << 60) | ((offset as u64 & 0x0fff_ffff) << 32) | u64::from(value)
}

/// The text of an [`encode`]d write.
pub fn describe(entry: u64) -> String {
    let width = entry >> 60;
    let offset = (entry >> 32) & 0x0fff_ffff;
    let value = entry as u32;
    if width == 1 {
        format!("u8 @{offset:#x} <- {value:#04x}")
    } else {
        format!("u32 @{offset:#x} <- {value:#x}")
    }
}

/// The shared words.
pub struct Board(SharedMapping);

impl Board {
    /// A zeroed board, to be made before the forks.
    pub fn new() -> Result<Self, String> {
        SharedMapping::anonymous(WORDS * 8)
            .map(Self)
            .map_err(|e| format!("board mapping: {e}"))
    }

    /// Word `i`.
    pub fn word(&self, i: usize) -> &AtomicU64 {
        assert!(i < WORDS);
        // SAFETY: the mapping is `WORDS * 8` bytes, page-aligned, lives as
        // long as `self`, and its words are only ever accessed atomically
        // (by this process and by the forked children sharing it).
        unsafe { AtomicU64::from_ptr(self.0.as_ptr().cast::<u64>().add(i)) }
    }

    /// Loads word `i`.
    pub fn get(&self, i: usize) -> u64 {
        self.word(i).load(Acquire)
    }

    /// Stores word `i`.
    pub fn set(&self, i: usize, v: u64) {
        self.word(i).store(v, Release);
    }

    /// Adds to word `i`.
    pub fn add(&self, i: usize, v: u64) {
        self.word(i).fetch_add(v, Relaxed);
    }

    /// Raises word `i` to at least `v`.
    pub fn max(&self, i: usize, v: u64) {
        self.word(i).fetch_max(v, Relaxed);
    }

    /// Counts one result of `op`.
    pub fn count(&self, op: Op, outcome: usize) {
        self.add(MATRIX + op as usize * OUTCOMES + outcome, 1);
    }

    /// The count of `outcome` for the op code `op`.
    pub fn counted(&self, op: usize, outcome: usize) -> u64 {
        self.get(MATRIX + op * OUTCOMES + outcome)
    }

    /// Appends a write to the log at `log` ([`LOG_LOCAL`] or
    /// [`LOG_REMOTE`]); `n` is the writer's count of writes so far, `tag`
    /// the op sequence or the time.
    pub fn log(&self, log: usize, n: u64, entry: u64, tag: u64) {
        let at = log + 2 * (n as usize % LOG_LEN);
        self.set(at, entry);
        self.set(at + 1, tag);
    }

    /// The last writes of a log (oldest first), `n` being the writer's
    /// count of writes: one line each, `tag_name` naming the tag.
    pub fn last_writes(&self, log: usize, n: u64, tag_name: &str) -> Vec<String> {
        let kept = (n as usize).min(LOG_LEN);
        (0..kept)
            .map(|k| {
                let i = (n as usize - kept + k) % LOG_LEN;
                let (entry, tag) = (self.get(log + 2 * i), self.get(log + 2 * i + 1));
                format!("{} ({tag_name}{tag})", describe(entry))
            })
            .collect()
    }
}

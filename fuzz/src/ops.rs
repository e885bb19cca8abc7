//! What the structure-aware targets (`ops_*`) share: the forged writes of
//! the hostile peer and the oracle's two regimes.
//!
//! Each `ops_*` target runs a sequence of operations, decoded from the
//! fuzzer's bytes, on live endpoints of one ring kind, next to a model (a
//! `VecDeque` of what must come out). Some operations are forged writes:
//! a word or byte of the region overwritten with a value the input picks,
//! aimed at a control word or a record header by name, or at a raw offset,
//! between two calls, while a grant, chunk or view is open, or inside a
//! blocking call while it waits (the forger is the endpoints' notifier).
//!
//! - Until a forged write changes a byte, every call must return exactly
//!   what the model says: the same frames or items, `Full` and `Empty`
//!   exactly when the model says, the same errors.
//! - After one has, the model no longer binds: every call must still
//!   return, with an error value the call documents or a result within
//!   bounds (no frame longer than the ring's largest or the caller's
//!   buffer, no count above the capacity), never a panic, and the
//!   endpoints must stay safe to drop.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt::Debug;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ipckit_core::frame::{BUSY, PAD};
use ipckit_core::wait::{Notify, WaitStatus};
use ipckit_core::{Error, Result};

use crate::frame_ring::Input;
use crate::shared::{Shared, advance_clock, fake_clock, fake_now};

/// Operations per input at most: a long input cannot make one run slow.
pub(crate) const MAX_STEPS: usize = 256;

/// The header words every region starts with (`magic`, `version`, `kind`,
/// `endian`, `state`, `elem_size`, `elem_align`, `capacity`,
/// `data_offset`, `flags`).
pub(crate) const HEADER_WORDS: [usize; 10] = [0, 4, 8, 12, 16, 20, 24, 28, 32, 36];

/// Where a forged write may land, by name, and the numbers its values are
/// made from.
pub(crate) struct Targets {
    /// Byte offsets (multiples of 4) of named words: header fields,
    /// control words, record headers and slot stamps the model knows of.
    pub(crate) words: Vec<usize>,
    /// Positions the ring uses now (`head`, `tail`, record positions), so
    /// that forged values are near-misses rather than noise.
    pub(crate) positions: Vec<u32>,
    /// The ring's capacity (bytes or slots) or the semaphore's maximum.
    pub(crate) capacity: u32,
}

/// One forged write, decoded but not yet applied.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Write {
    /// The `u32` at a byte offset (a multiple of 4).
    Word(usize, u32),
    /// One byte.
    Byte(usize, u8),
}

struct ForgeState {
    tainted: Cell<bool>,
    armed: bool,
    /// Writes the peer makes while the next blocking call waits.
    pending: RefCell<VecDeque<Write>>,
}

/// The hostile peer: applies forged writes and remembers whether any
/// changed a byte.
///
/// It is also the notifier of every endpoint of the run ([`Notify`], not
/// waking, like [`Spin`](ipckit_core::wait::Spin)): a blocking call that
/// waits gives the peer its turn, which applies one queued write
/// ([`queue`](Self::queue)) and wakes the call, so that writes land
/// *inside* the call, between its re-checks; with nothing queued, nobody
/// else can change the word (one thread), so the wait sleeps out its
/// timeout at once on the fake clock ([`fake_clock`]).
#[derive(Clone)]
pub(crate) struct Forger<'s> {
    mem: &'s Shared,
    state: Rc<ForgeState>,
}

impl<'s> Forger<'s> {
    /// A forger of `mem`'s bytes; `armed: false` skips every write, so
    /// that the generated inputs of `cargo test` also reach long honest
    /// runs (the fuzzer finds those by itself, steered by coverage).
    pub(crate) fn new(mem: &'s Shared, armed: bool) -> Self {
        let state = ForgeState {
            tainted: Cell::new(false),
            armed,
            pending: RefCell::new(VecDeque::new()),
        };
        Self {
            mem,
            state: Rc::new(state),
        }
    }

    /// `true` once a forged write has changed a byte of the region.
    pub(crate) fn tainted(&self) -> bool {
        self.state.tainted.get()
    }

    /// Decodes one forged write from `input` and applies it.
    pub(crate) fn forge(&self, input: &mut Input, targets: &Targets) {
        if let Some(write) = self.plan(input, targets) {
            self.apply(write);
        }
    }

    /// Decodes up to two forged writes from `input` for the peer to make
    /// while the next blocking call waits (see [`Forger`]).
    pub(crate) fn queue(&self, input: &mut Input, targets: &Targets) {
        let mut pending = self.state.pending.borrow_mut();
        pending.clear();
        for _ in 0..input.byte() % 3 {
            pending.extend(self.plan(input, targets));
        }
    }

    /// Forgets the writes a blocking call did not wait for.
    pub(crate) fn clear(&self) {
        self.state.pending.borrow_mut().clear();
    }

    /// Decodes one forged write: `None` when disarmed.
    ///
    /// A selector byte picks a named word of `targets` (half the time), a
    /// raw word or a raw byte anywhere in the region; a value byte picks a
    /// value: 0, 1, the capacity and its neighbours, the sign-bit values,
    /// `u32::MAX`, the word's value plus a small delta or with one bit
    /// flipped, a position of the ring plus a delta or a lap, record
    /// flags, raw bits, or the value already there.
    fn plan(&self, input: &mut Input, targets: &Targets) -> Option<Write> {
        let len = self.mem.len();
        let selector = input.byte();
        if !self.state.armed {
            // Consume what an armed write would, roughly: the selector
            // and a value byte.
            input.byte();
            return None;
        }
        let offset = match selector % 4 {
            0 | 1 if !targets.words.is_empty() => {
                targets.words[usize::from(selector / 4) % targets.words.len()]
            }
            3 => {
                let at = usize::from(input.u16()) % len;
                let before = self.mem.load_byte(at);
                return Some(Write::Byte(at, before ^ input.byte()));
            }
            _ => (usize::from(input.u16()) % len) & !3,
        };
        let value = forged_value(input, self.mem.load(offset), targets);
        Some(Write::Word(offset, value))
    }

    fn apply(&self, write: Write) {
        let changed = match write {
            Write::Word(at, value) => {
                let before = self.mem.load(at);
                self.mem.store(at, value);
                value != before
            }
            Write::Byte(at, value) => {
                let before = self.mem.load_byte(at);
                self.mem.store_byte(at, value);
                value != before
            }
        };
        if changed {
            self.state.tainted.set(true);
        }
    }
}

impl Notify for Forger<'_> {
    const WAKES: bool = false;

    fn wait(
        &self,
        word: &AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
    ) -> Result<WaitStatus> {
        if word.load(Ordering::Acquire) != expected {
            return Ok(WaitStatus::Woken);
        }
        let next = self.state.pending.borrow_mut().pop_front();
        if let Some(write) = next {
            self.apply(write);
            return Ok(WaitStatus::Woken);
        }
        match timeout {
            Some(t) => {
                advance_clock(t);
                Ok(WaitStatus::TimedOut)
            }
            // Every call here has a timeout; a spurious wake-up is allowed.
            None => Ok(WaitStatus::Woken),
        }
    }

    fn wake_one(&self, _word: &AtomicU32) {}

    fn wake_all(&self, _word: &AtomicU32) {}

    fn now(&self) -> Option<Duration> {
        Some(fake_clock())
    }
}

/// A value for a forged write over a word holding `current`.
fn forged_value(input: &mut Input, current: u32, targets: &Targets) -> u32 {
    let cap = targets.capacity;
    let delta = |input: &mut Input| i32::from(input.byte() as i8);
    let position = |input: &mut Input| match targets.positions.len() {
        0 => current,
        n => targets.positions[usize::from(input.byte()) % n],
    };
    match input.byte() % 16 {
        0 => 0,
        1 => 1,
        2 => cap,
        3 => cap.wrapping_add(1),
        4 => cap.wrapping_sub(1),
        5 => 0x7fff_ffff,
        6 => 0x8000_0000,
        7 => u32::MAX,
        8 => current.wrapping_add_signed(delta(input)),
        9 => current.wrapping_add_signed(delta(input) * 8),
        10 => current ^ (1 << (input.byte() % 32)),
        11 => position(input).wrapping_add_signed(delta(input) * 8),
        12 => {
            let lap = if input.byte() & 1 == 0 {
                cap
            } else {
                cap.wrapping_neg()
            };
            position(input).wrapping_add(lap)
        }
        13 => [BUSY, PAD, BUSY | PAD, 0][usize::from(input.byte() % 4)] | u32::from(input.u16()),
        14 => input.u32(),
        _ => current,
    }
}

/// Before any forged write, `got` must be `want`; after one, `got` must be
/// `Ok` or one of the errors in `allowed`.
#[track_caller]
pub(crate) fn expect<T: PartialEq + Debug>(
    tainted: bool,
    what: &str,
    got: &Result<T>,
    want: &Result<T>,
    allowed: fn(&Error) -> bool,
) {
    if !tainted {
        assert_eq!(got, want, "{what}");
    } else if let Err(e) = got {
        assert!(allowed(e), "{what}: {e:?} after a forged write");
    }
}

/// The errors of a non-blocking call on a ring (or the semaphore) that a
/// hostile peer may provoke: flow control and `Corrupted`, plus the
/// caller-side refusals that do not depend on the region.
pub(crate) fn flow_or_corrupted(e: &Error) -> bool {
    matches!(
        e,
        Error::Full
            | Error::Empty
            | Error::Busy
            | Error::Corrupted(_)
            | Error::FrameTooLarge { .. }
            | Error::BufferTooSmall { .. }
    )
}

/// As [`flow_or_corrupted`], for a call with a timeout.
pub(crate) fn timed_flow_or_corrupted(e: &Error) -> bool {
    matches!(e, Error::TimedOut) || flow_or_corrupted(e)
}

/// The errors of `attach` and of claiming a role on a region whose bytes a
/// peer may have rewritten.
pub(crate) fn refused_region(e: &Error) -> bool {
    !matches!(
        e,
        Error::NoClock | Error::WaitFailed(_) | Error::Truncated { .. } | Error::PeerGone
    )
}

/// A timeout for a blocking call, in microseconds of the fake clock.
pub(crate) fn timeout(input: &mut Input) -> Duration {
    Duration::from_micros([0, 1, 2, 3, 8, 40, 1000, 1_000_000][usize::from(input.byte() % 8)])
}

/// How far past its deadline a blocking call may return on the fake clock:
/// each read advances it by a microsecond, and a call reads it a few times
/// around the deadline (to start, to compute what is left, to find it
/// passed). A call that restarts its wait, or waits a multiple of its
/// timeout, overshoots by far more.
const SLACK: Duration = Duration::from_micros(16);

/// Runs a blocking call with `timeout` on the fake clock and checks that
/// it returned by the deadline, give or take [`SLACK`].
#[track_caller]
pub(crate) fn timed<T>(timeout: Duration, call: impl FnOnce() -> T) -> T {
    let start = fake_now();
    let result = call();
    let waited = fake_now() - start;
    assert!(
        waited <= timeout + SLACK,
        "a call with a timeout of {timeout:?} waited {waited:?}"
    );
    result
}

/// What a blocking call with a timeout must return where the
/// non-blocking one returns `want`: the same, except `TimedOut` for
/// `Full` and `Empty`.
pub(crate) fn timed_out<T: Clone>(want: &Result<T>) -> Result<T> {
    match want {
        Err(Error::Full | Error::Empty) => Err(Error::TimedOut),
        other => other.clone(),
    }
}

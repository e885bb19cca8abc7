//! Futex-shaped blocking: the [`Notify`] trait, the spinning default
//! [`Spin`], and the event count that keeps wake-ups off the fast path.
//!
//! The core never calls an operating system. A blocking operation waits on a
//! 32-bit word *in the region* while it holds an expected value, exactly like
//! Linux's `FUTEX_WAIT`, and the other side wakes it after changing the word.
//! Who actually sleeps is the [`Notify`] implementation's business: the hosted
//! crate uses shared futexes, an RTOS user their kernel's primitives, a
//! dual-core part `WFE`/`SEV`, and [`Spin`] simply spins.
//!
//! # Event count: no system call when nobody waits
//! Which word each ring sleeps on, the announcement words and their values, for
//! a peer in another language:
//! [`docs/LAYOUT.md`](https://github.com/ipckit/ipckit/blob/main/docs/LAYOUT.md#4-the-waiting-protocol-event-count).
//!
//! Each waitable word has an *announcement* word next to the waker's other
//! words. The waiter announces itself, issues a `SeqCst` fence, re-checks its
//! condition, and only then sleeps on the word with the value it saw; the
//! waker stores the word, issues a `SeqCst` fence and reads the announcement,
//! calling `wake` only when a waiter is there. The two fences make this a
//! Dekker pair: either the waiter's re-check sees the waker's store, or the
//! waker sees the announcement, so no wake-up is lost; and a waiter that
//! announced after the waker looked will find the word changed, so
//! `FUTEX_WAIT` returns at once. loom proves this on the shipping source.
//!
//! An async task takes the waiter's half with its `Waker` instead of a
//! sleep: [`AtomicWaker`] and [`WakerNotify`] (bare metal, one core or one
//! process; the protocol is in [`waker`]; needs compare-and-swap).
//!
//! When the notifier's [`Notify::WAKES`] is `false` (spinning waiters, which
//! re-check the word themselves), the waker skips the fence and the check
//! entirely: busy-polling costs nothing extra.

use core::time::Duration;

#[cfg(ipckit_cas)]
pub mod waker;
#[cfg(ipckit_cas)]
pub use waker::{AsyncNotify, AtomicWaker, WakerNotify, WakerPair};

use crate::error::{Error, Result};
use crate::sync::{Ordering, fence, spin_hint};

/// The atomic type of the words a [`Notify`] waits on:
/// `core::sync::atomic::AtomicU32` on every target with atomics, and
/// `portable_atomic::AtomicU32` (the same 4 bytes) on a target without
/// compare-and-swap built with the `critical-section` feature.
pub use crate::sync::AtomicU32;

/// What one [`Notify::wait`] call ended with.
///
/// ```
/// use ipckit_core::wait::WaitStatus;
/// assert_ne!(WaitStatus::Woken, WaitStatus::TimedOut);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStatus {
    /// Woken, or the word no longer held the expected value, or a spurious
    /// return: the caller re-checks its condition.
    Woken,
    /// The timeout elapsed.
    TimedOut,
}

/// A futex-shaped way to block on a 32-bit word of a shared region.
///
/// Implementations may return from [`wait`](Self::wait) spuriously; callers
/// always re-check. They must not return `WaitStatus::TimedOut` before the
/// timeout elapsed.
///
/// ```
/// use core::time::Duration;
/// use ipckit_core::wait::{Notify, Spin, WaitStatus};
/// use ipckit_core::Result;
/// use std::sync::atomic::AtomicU32;
///
/// /// A notifier that only counts the wake calls it gets.
/// struct Counting(std::cell::Cell<u32>);
/// impl Notify for Counting {
///     fn wait(&self, word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> Result<WaitStatus> {
///         Spin::new().wait(word, expected, timeout)
///     }
///     fn wake_one(&self, _word: &AtomicU32) { self.0.set(self.0.get() + 1) }
///     fn wake_all(&self, _word: &AtomicU32) { self.0.set(self.0.get() + 1) }
/// }
/// let n = Counting(Default::default());
/// n.wake_one(&AtomicU32::new(0));
/// assert_eq!(n.0.get(), 1);
/// ```
pub trait Notify {
    /// `true` if waiters sleep and must be woken. `false` for notifiers whose
    /// waiters re-check the word on their own ([`Spin`]): wakers then skip
    /// the event-count check, and the fast path has no fence.
    const WAKES: bool = true;

    /// Blocks while `word` holds `expected`, for at most `timeout` (`None`:
    /// no limit). Returns at once if the word already differs.
    fn wait(
        &self,
        word: &AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
    ) -> Result<WaitStatus>;

    /// Wakes at least one waiter of `word`, if any.
    fn wake_one(&self, word: &AtomicU32);

    /// Wakes every waiter of `word`.
    fn wake_all(&self, word: &AtomicU32);

    /// A monotonic clock, for deadlines that span several waits. `None`
    /// (the default) means this notifier cannot time out: a blocking call
    /// with a timeout then fails with [`Error::NoClock`] instead of hanging
    /// past it.
    fn now(&self) -> Option<Duration> {
        None
    }

    /// How many times a blocking call re-tries (with a spin hint) before it
    /// sleeps. Spinning briefly answers a busy peer without a system call on
    /// either side; sleeping costs nothing while idle.
    fn spin_budget(&self) -> u32 {
        0
    }

    /// One step of the spin phase; `iteration` counts from 0. The default
    /// is a CPU spin hint. An implementation that can yield the processor
    /// should do so now and then: a peer that shares this CPU cannot make
    /// progress while we spin (the hosted futex yields every 64 steps).
    fn spin_relax(&self, iteration: u32) {
        let _ = iteration;
        spin_hint();
    }
}

/// The default notifier: waiters spin on the word (with a CPU spin hint)
/// until it changes. Needs no operating system and no wake-ups, so wakers pay
/// nothing; a timeout needs a clock ([`Spin::with_clock`]).
///
/// ```
/// use core::time::Duration;
/// use ipckit_core::wait::{Notify, Spin, WaitStatus};
/// use std::sync::atomic::AtomicU32;
///
/// let word = AtomicU32::new(1);
/// // The word already differs from 0: returns at once.
/// assert_eq!(Spin::new().wait(&word, 0, None)?, WaitStatus::Woken);
///
/// fn clock() -> Duration {
///     static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
///     START.get_or_init(std::time::Instant::now).elapsed()
/// }
/// let timed = Spin::with_clock(clock);
/// assert_eq!(timed.wait(&word, 1, Some(Duration::from_millis(1)))?, WaitStatus::TimedOut);
/// # Ok::<(), ipckit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Spin {
    clock: Option<fn() -> Duration>,
}

impl Spin {
    /// A spinning notifier without a clock (blocking calls with a timeout
    /// fail with [`Error::NoClock`]).
    ///
    /// ```
    /// use ipckit_core::wait::{Notify, Spin};
    /// assert_eq!(Spin::new().now(), None);
    /// ```
    pub const fn new() -> Self {
        Self { clock: None }
    }

    /// A spinning notifier that reads time from `clock` (any monotonic
    /// source: a hardware timer, `std::time::Instant`).
    ///
    /// ```
    /// use core::time::Duration;
    /// use ipckit_core::wait::{Notify, Spin};
    /// assert_eq!(Spin::with_clock(|| Duration::from_secs(7)).now(), Some(Duration::from_secs(7)));
    /// ```
    pub const fn with_clock(clock: fn() -> Duration) -> Self {
        Self { clock: Some(clock) }
    }
}

impl Notify for Spin {
    const WAKES: bool = false;

    fn wait(
        &self,
        word: &AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
    ) -> Result<WaitStatus> {
        let deadline = deadline(self, timeout)?;
        loop {
            // Check the clock only every few iterations: it may be slow.
            for _ in 0..64 {
                if word.load(Ordering::Acquire) != expected {
                    return Ok(WaitStatus::Woken);
                }
                spin_hint();
            }
            if let Some(deadline) = deadline {
                if remaining(self, deadline)?.is_none() {
                    return Ok(WaitStatus::TimedOut);
                }
            }
        }
    }

    fn wake_one(&self, _word: &AtomicU32) {}

    fn wake_all(&self, _word: &AtomicU32) {}

    fn now(&self) -> Option<Duration> {
        self.clock.map(|clock| clock())
    }
}

/// The absolute deadline for `timeout`, on the notifier's clock.
pub(crate) fn deadline<N: Notify + ?Sized>(
    notify: &N,
    timeout: Option<Duration>,
) -> Result<Option<Duration>> {
    match timeout {
        None => Ok(None),
        Some(t) => {
            let now = notify.now().ok_or(Error::NoClock)?;
            Ok(Some(now.saturating_add(t)))
        }
    }
}

/// Time left until `deadline`, or `None` if it has passed.
fn remaining<N: Notify + ?Sized>(notify: &N, deadline: Duration) -> Result<Option<Duration>> {
    let now = notify.now().ok_or(Error::NoClock)?;
    Ok(deadline.checked_sub(now).filter(|d| !d.is_zero()))
}

/// How waiters announce themselves on an announcement word.
#[derive(Clone, Copy)]
pub(crate) enum Announce {
    /// At most one waiter (an SPSC endpoint): a flag, set with a store, so it
    /// works without read-modify-write atomics (`thumbv6m`).
    Single,
    /// Any number of waiters: a counter.
    #[allow(dead_code)] // used by the multi-waiter structures
    Counter,
}

impl Announce {
    /// Counts this waiter in (`entering`) or out of `waiters`.
    fn count(self, waiters: &AtomicU32, entering: bool) {
        match self {
            Announce::Single => waiters.store(u32::from(entering), Ordering::Relaxed),
            #[cfg(ipckit_cas)]
            Announce::Counter if entering => {
                waiters.fetch_add(1, Ordering::Relaxed);
            }
            #[cfg(ipckit_cas)]
            Announce::Counter => {
                waiters.fetch_sub(1, Ordering::Relaxed);
            }
            #[cfg(not(ipckit_cas))]
            Announce::Counter => {
                if entering {
                    waiters.store(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// The waker's half of the event count: call right after the store that may
/// let a waiter proceed. No fence and no load at all when `N` does not wake.
#[inline(always)]
pub(crate) fn wake_waiters<N: Notify>(
    notify: &N,
    word: &AtomicU32,
    waiters: &AtomicU32,
    all: bool,
) {
    if !N::WAKES {
        return;
    }
    fence(Ordering::SeqCst);
    if waiters.load(Ordering::Relaxed) != 0 {
        wake_slow(notify, word, all);
    }
}

#[cold]
fn wake_slow<N: Notify>(notify: &N, word: &AtomicU32, all: bool) {
    if all {
        notify.wake_all(word);
    } else {
        notify.wake_one(word);
    }
}

/// The waiter's half of the event count, as a small state machine so that
/// the caller's retry (which needs `&mut` access to its endpoint) runs
/// between its steps:
///
/// ```text
/// let mut blocker = Blocker::new(&notify, timeout, Announce::Single)?;
/// loop {
///     match attempt() { would_block => {}, done => { blocker.finish(waiters); return done } }
///     blocker.sleep(&notify, word, waiters)?;   // only once announced
///     blocker.prepare(&notify, word, waiters);  // spin, or announce + fence
/// }
/// ```
///
/// `word` must change (followed by [`wake_waiters`] on `waiters`) whenever
/// a blocked attempt may have become possible.
pub(crate) struct Blocker {
    deadline: Option<Duration>,
    spins_left: u32,
    spun: u32,
    announce: Announce,
    /// The word's value read after the spin phase; `None` while spinning.
    seen: Option<u32>,
    /// Whether this waiter is announced in the waiters word (only for
    /// notifiers that wake: spinning waiters need no wake-up).
    announced: bool,
    /// The next [`sleep`](Blocker::sleep) must read the clock even while
    /// spinning: the last attempt did work ([`retry`](Blocker::retry)).
    clock_due: bool,
}

/// During the spin phase the deadline is checked every this many spins:
/// a clock read costs about as much as a spin.
const SPINS_PER_CLOCK_READ: u32 = 64;

impl Blocker {
    pub(crate) fn new<N: Notify>(
        notify: &N,
        timeout: Option<Duration>,
        announce: Announce,
    ) -> Result<Self> {
        Ok(Self {
            deadline: deadline(notify, timeout)?,
            spins_left: notify.spin_budget(),
            spun: 0,
            announce,
            seen: None,
            announced: false,
            clock_due: false,
        })
    }

    /// Before the next attempt: spin while the budget lasts, then announce,
    /// fence, and read the word (before the attempt re-checks: a change
    /// after this load makes the wait return at once).
    pub(crate) fn prepare<N: Notify>(&mut self, notify: &N, word: &AtomicU32, waiters: &AtomicU32) {
        if self.spins_left > 0 {
            self.spins_left -= 1;
            notify.spin_relax(self.spun);
            self.spun = self.spun.wrapping_add(1);
            return;
        }
        if N::WAKES {
            self.announce.count(waiters, true);
            self.announced = true;
            fence(Ordering::SeqCst);
        }
        // A spinning waiter (no wake-ups) needs no announcement and no
        // fence: its wait re-reads the word itself, and the re-check's own
        // loads come after this one in program order.
        self.seen = Some(word.load(Ordering::Relaxed));
    }

    /// After an attempt that would still block: make the next
    /// [`sleep`](Self::sleep) wait only while the word holds `value`,
    /// instead of the value [`prepare`](Self::prepare) read. For a word that
    /// can return to an earlier value (a semaphore's count, which posts and
    /// takes move up and down), the value read before the re-check may be
    /// stale and equal the word again later, and a sleep on it would hide a
    /// wake-up; the value that blocks the caller (a count of 0) cannot.
    /// Does nothing while not announced.
    #[cfg_attr(not(ipckit_cas), allow(dead_code))]
    pub(crate) fn expect(&mut self, value: u32) {
        if let Some(seen) = &mut self.seen {
            *seen = value;
        }
    }

    /// After an attempt that would still block: sleep on the word if
    /// announced (else return at once), honouring the deadline.
    pub(crate) fn sleep<N: Notify>(
        &mut self,
        notify: &N,
        word: &AtomicU32,
        waiters: &AtomicU32,
    ) -> Result<()> {
        let spinning = self.seen.is_none();
        // Skip the clock only inside the spin phase, between attempts that
        // did no work: past it (`spun` then stays put), or after an attempt
        // that a peer can make arbitrarily long, a skipped read could be
        // skipped forever.
        let clock_due = core::mem::take(&mut self.clock_due)
            || self.spins_left == 0
            || self.spun % SPINS_PER_CLOCK_READ == 0;
        if spinning && !clock_due {
            return Ok(());
        }
        let left = match self.deadline {
            None => None,
            Some(deadline) => match remaining(notify, deadline) {
                Ok(Some(left)) => Some(left),
                Ok(None) => {
                    self.finish(waiters);
                    return Err(Error::TimedOut);
                }
                Err(e) => {
                    self.finish(waiters);
                    return Err(e);
                }
            },
        };
        let Some(seen) = self.seen else { return Ok(()) };
        let status = notify.wait(word, seen, left);
        self.finish(waiters);
        status.map(|_| ())
    }

    /// After an attempt that did work but must be repeated without
    /// sleeping (a budget of skipped records ran out, or it blocked on
    /// another word than the one announced on): withdraw the announcement
    /// and read the clock at the next [`sleep`](Self::sleep), so that a
    /// peer that keeps the caller busy cannot hold it past its deadline.
    pub(crate) fn retry(&mut self, waiters: &AtomicU32) {
        self.finish(waiters);
        self.clock_due = true;
    }

    /// After an attempt that completed (or failed): withdraw the
    /// announcement, if any.
    pub(crate) fn finish(&mut self, waiters: &AtomicU32) {
        self.seen = None;
        if self.announced {
            self.announced = false;
            self.announce.count(waiters, false);
        }
    }
}

/// What one attempt of a [`block_on`] loop found.
pub(crate) enum Attempt<'w, R> {
    /// Done: `block_on` returns this.
    Ready(R),
    /// Would block until `word` changes: announce on it, try once more,
    /// then sleep on it.
    Wait(&'w AtomicU32),
    /// Would block while `word` holds `value`: for a word that can return to
    /// an earlier value (a semaphore's count), where the value read before
    /// the re-check may be stale ([`Blocker::expect`]).
    #[cfg_attr(not(ipckit_cas), allow(dead_code))] // the semaphore's
    WaitWhile(&'w AtomicU32, u32),
    /// Did work but is not done (a budget of skipped records ran out): go
    /// again at once, the deadline still honoured.
    #[cfg_attr(not(ipckit_cas), allow(dead_code))] // the MPSC frame ring's
    Again,
}

/// The one blocking loop of the core, in the manner of crossbeam's
/// `push_or_else`: `attempt` runs once without any set-up (the fast path: no
/// clock read, no announcement; with a zero timeout also the only attempt:
/// [`Error::TimedOut`], still no clock read), and while it says it would block, the
/// event count's waiter half runs around it: announce on the word it names,
/// fence, attempt again, sleep on the word, until the attempt is
/// [`Ready`](Attempt::Ready), fails, or the deadline passes
/// ([`Error::TimedOut`]). A word that differs from the one announced on is
/// announced on first instead of slept on.
///
/// `end` is the endpoint that `attempt` works on and `notify` reads its
/// notifier from it (the attempt needs `&mut` access while the loop needs
/// the notifier between attempts). `waiters` is the announcement word of
/// every word the attempts name.
#[inline]
pub(crate) fn block_on<'w, E, N: Notify, R>(
    end: &mut E,
    notify: impl Fn(&E) -> &N,
    timeout: Option<Duration>,
    announce: Announce,
    waiters: &'w AtomicU32,
    mut attempt: impl FnMut(&mut E) -> Result<Attempt<'w, R>>,
) -> Result<R> {
    let mut next = attempt(end)?;
    if let Attempt::Ready(r) = next {
        return Ok(r);
    }
    if timeout == Some(Duration::ZERO) {
        // Nothing to wait for: the answer the deadline would give, without
        // reading the clock (the hosted channels' first attempt).
        return Err(Error::TimedOut);
    }
    let mut blocker = Blocker::new(notify(end), timeout, announce)?;
    // The word announced on, once there is one.
    let mut announced: Option<&'w AtomicU32> = None;
    loop {
        let word = match next {
            Attempt::Ready(r) => {
                blocker.finish(waiters);
                return Ok(r);
            }
            Attempt::Wait(word) | Attempt::WaitWhile(word, _) => {
                if announced.is_some_and(|a| core::ptr::eq(a, word)) {
                    if let Attempt::WaitWhile(_, value) = next {
                        blocker.expect(value);
                    }
                } else {
                    // Not announced on this word: announce before sleeping.
                    blocker.retry(waiters);
                    announced = Some(word);
                }
                word
            }
            Attempt::Again => {
                blocker.retry(waiters);
                announced.unwrap_or(waiters)
            }
        };
        // Sleeps only when announced on `word` before the last attempt;
        // otherwise only checks the deadline.
        blocker.sleep(notify(end), word, waiters)?;
        if let Some(word) = announced {
            blocker.prepare(notify(end), word, waiters);
        }
        next = match attempt(end) {
            Ok(next) => next,
            Err(e) => {
                blocker.finish(waiters);
                return Err(e);
            }
        };
    }
}

#[cfg(test)]
mod tests;

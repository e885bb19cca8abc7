//! A subscriber: the reader's half of the seqlock slots, its own position
//! and its lag accounting.

use core::fmt;
use core::time::Duration;

use bytemuck::Pod;

use super::access::Access;
use super::{FIRST, Ring, SUBSCRIBERS_WAITING, TAIL};
use crate::error::{Error, Result};
use crate::sync::{Ordering, SeqCell, fence};
use crate::wait::{Announce, Attempt, Notify, Spin, block_on};

/// Where a new [`Subscriber`] starts reading.
///
/// ```
/// use ipckit_core::broadcast::{Start, StaticRing};
///
/// let ring = StaticRing::<u8, 4>::new();
/// let mut tx = ring.publisher()?;
/// tx.publish(1);
/// tx.publish(2);
/// let ring = ring.ring();
/// assert_eq!(ring.subscriber_from(Start::Oldest)?.try_recv(), Ok(1));
/// assert_eq!(ring.subscriber_from(Start::Latest)?.try_recv(), Ok(2));
/// assert!(ring.subscriber_from(Start::Next)?.try_recv().unwrap_err().is_empty());
/// # Ok::<(), ipckit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At the next item published (the items already in the ring are not
    /// received).
    Next,
    /// At the newest item already published (if any), then onwards.
    Latest,
    /// At the oldest item still in the ring.
    Oldest,
}

/// A subscriber of a broadcast ring: it reads every item the publisher
/// publishes, in order, unless it falls a lap behind, in which case a
/// receive returns [`Error::Lagged`]`(n)` once, with `n` the items lost,
/// and the next one the oldest item still in the ring.
///
/// Its position lives in this handle only: any number of subscribers can
/// exist, in any number of threads and processes, and a clone is a second
/// subscriber at the same position. Nothing is shared to give back.
///
/// ```
/// use ipckit_core::{broadcast, AlignedBytes, Error, Region};
///
/// let mut bytes = AlignedBytes::<512>::new();
/// let ring = broadcast::Ring::<u32>::init(Region::from_slice(&mut bytes[..]), 2)?;
/// let mut tx = ring.publisher()?;
/// let mut rx = ring.subscriber()?;
/// assert_eq!(rx.try_recv(), Err(Error::Empty));
/// tx.publish(1);
/// let mut copy = rx.clone();
/// assert_eq!((rx.try_recv()?, copy.try_recv()?), (1, 1));
/// for v in 2..=4 {
///     tx.publish(v);
/// }
/// assert_eq!(rx.try_recv(), Err(Error::Lagged(1))); // 2 was overwritten
/// assert_eq!((rx.try_recv()?, rx.try_recv()?), (3, 4));
/// # Ok::<(), Error>(())
/// ```
pub struct Subscriber<'a, T, N = Spin> {
    pub(super) cur: Cursor<Ring<'a, T>>,
    pub(super) notify: N,
}

// SAFETY: a subscriber holds a ring handle (shared atomics), two local
// numbers and its notifier; items of `T` cross threads (`T: Send`).
unsafe impl<T: Send, N: Send> Send for Subscriber<'_, T, N> {}

impl<T, N: Clone> Clone for Subscriber<'_, T, N> {
    /// A second subscriber at the same position.
    fn clone(&self) -> Self {
        Self {
            cur: self.cur.clone(),
            notify: self.notify.clone(),
        }
    }
}

impl<T, N> fmt::Debug for Subscriber<'_, T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("position", &self.cur.pos)
            .field("capacity", &self.cur.ring.capacity())
            .finish_non_exhaustive()
    }
}

/// How far ahead of a subscriber `tail` may be read as ahead (a lag); a
/// larger distance is a `tail` behind the subscriber.
pub(super) const MAX_AHEAD: u32 = 1 << 31;

impl<'a, T: Pod, N: Notify> Subscriber<'a, T, N> {
    /// A subscriber of `ring` at `start`.
    pub(super) fn new(ring: Ring<'a, T>, notify: N, start: Start) -> Self {
        Self {
            cur: Cursor::new(ring, start),
            notify,
        }
    }

    /// Receives the next item without waiting: [`Error::Empty`] if the
    /// publisher has not published it yet, [`Error::Lagged`]`(n)` if it
    /// was overwritten (the subscriber then moved past the `n` items lost,
    /// to the oldest item still in the ring), [`Error::Corrupted`] if the
    /// ring holds what no publisher writes. A bounded number of loads,
    /// whatever the publisher does.
    #[inline]
    pub fn try_recv(&mut self) -> Result<T> {
        self.cur.try_read(|ring, pos| {
            let slot = ring.slot(pos);
            // SAFETY: the slot is inside the ring; the copy may race the
            // publisher's next lap by design, and is checked after.
            move |_: &_| Ok(unsafe { SeqCell::read(&raw const (*slot).value) })
        })
    }

    /// Receives the next item, waiting while there is none (sleeping
    /// through the notifier, or spinning with [`Spin`]); a lag is returned
    /// as by [`try_recv`](Self::try_recv).
    pub fn recv(&mut self) -> Result<T> {
        self.wait(None)
    }

    /// [`recv`](Self::recv) for at most `timeout` ([`Error::TimedOut`];
    /// [`Error::NoClock`] for a notifier without a clock).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T> {
        self.wait(Some(timeout))
    }

    fn wait(&mut self, timeout: Option<Duration>) -> Result<T> {
        let ring = self.cur.ring.clone();
        recv_blocking(self, &ring, |s| &s.notify, timeout, Self::try_recv)
    }

    position_accessors!(cur);

    /// The number of slots.
    #[must_use]
    pub fn capacity(&self) -> u32 {
        self.cur.ring.capacity()
    }

    /// The ring this subscriber reads.
    pub fn ring(&self) -> &Ring<'a, T> {
        &self.cur.ring
    }
}

/// `position`, `len` and `is_empty` of a reader (a subscriber or a
/// member, of items or frames) whose [`Cursor`] is at `self.$cur`: one
/// set of docs for the four.
macro_rules! position_accessors {
    ($($cur:ident).+) => {
        /// The next position this reader reads.
        #[must_use]
        pub fn position(&self) -> u32 {
            self.$($cur).+.pos
        }

        /// Positions published and not yet read, as far as they are still
        /// in the ring (at most a lap; 0 for a `tail` behind us, which the
        /// next receive reports).
        #[must_use]
        pub fn len(&self) -> usize {
            self.$($cur).+.len()
        }

        /// `true` if nothing is published that this reader has not read.
        #[must_use]
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }
    };
}
pub(crate) use position_accessors;

/// A reader's position in a ring of any [`Access`]: the seqlock read of a
/// slot and the lag accounting (module docs, "Lag"), shared by the Pod and
/// the frame subscribers and members.
#[derive(Clone)]
pub(crate) struct Cursor<R> {
    pub(super) ring: R,
    /// The next position to read.
    pub(super) pos: u32,
    /// `tail` as last loaded and validated: `pos..tail` were published.
    pub(super) tail: u32,
}

impl<R: Access> Cursor<R> {
    /// A reader of `ring` at `start`.
    pub(super) fn new(ring: R, start: Start) -> Self {
        let tail = ring.word(TAIL).load(Ordering::Acquire);
        let first = ring.word(FIRST).load(Ordering::Relaxed);
        // Positions published so far (wrapping after 2^32 of them, when
        // "oldest" may start up to a lap late: still a published item). A
        // peer's `first` cannot move the start outside the last lap.
        let published = tail.wrapping_sub(first);
        let pos = match start {
            Start::Next => tail,
            Start::Latest => tail.wrapping_sub(published.min(1)),
            Start::Oldest if published < ring.slots() => first,
            Start::Oldest => oldest(&ring, tail),
        };
        Self { ring, pos, tail }
    }

    /// Reads the slot of the next position between the two stamp loads of
    /// the seqlock: `locate` (given the ring and the position) runs before
    /// the first load and returns the copy, which runs between them, given
    /// the ring again (it may see torn data and must not act on it). Locating first keeps the
    /// slot's address arithmetic out from behind the Acquire load, where the
    /// compiler would redo it (one item cost 6 instructions more). The
    /// copy's result is returned only if the second load still says
    /// complete: an `Ok` moves the cursor past the slot, an `Err` (the
    /// caller's buffer is too small, a length no publisher writes) leaves it
    /// there. A torn read takes the lag path, the copy's result discarded.
    #[inline(always)]
    pub(super) fn try_read<V, C>(&mut self, locate: impl FnOnce(&R, u32) -> C) -> Result<V>
    where
        C: FnOnce(&R) -> Result<V>,
    {
        if self.pos == self.tail {
            self.refresh()?;
        }
        let pos = self.pos;
        let copy = locate(&self.ring, pos);
        let stamp = self.ring.stamp(pos);
        let done = pos.wrapping_add(1);
        if stamp.load(Ordering::Acquire) == done {
            let value = copy(&self.ring);
            // Orders the copy's loads before the re-check (module docs).
            fence(Ordering::Acquire);
            if stamp.load(Ordering::Relaxed) == done {
                let value = value?;
                self.pos = done;
                return Ok(value);
            }
        }
        Err(self.overrun())
    }

    /// Reloads `tail` when the cached copy says empty: [`Error::Empty`],
    /// or a lag if `tail` is more than a lap ahead, or `Ok` with items to
    /// read.
    #[cold]
    fn refresh(&mut self) -> Result<()> {
        let tail = self.ring.word(TAIL).load(Ordering::Acquire);
        let ahead = tail.wrapping_sub(self.pos);
        if ahead == 0 {
            return Err(Error::Empty);
        }
        if ahead > MAX_AHEAD {
            return Err(Error::Corrupted("broadcast tail is behind a subscriber"));
        }
        self.tail = tail;
        if ahead > self.ring.slots() {
            // The publisher wrote `pos + capacity`: our item is gone.
            return Err(self.skip(tail));
        }
        Ok(())
    }

    /// The stamp of `pos` was not "complete for `pos`" at one of the two
    /// loads: the publisher lapped us, which `tail` must confirm.
    #[cold]
    fn overrun(&mut self) -> Error {
        // Makes the (possibly Relaxed) stamp load that saw a newer lap
        // synchronise with its Release store, which came after the store of
        // `tail` at least a lap past `pos`.
        fence(Ordering::Acquire);
        let tail = self.ring.word(TAIL).load(Ordering::Acquire);
        let ahead = tail.wrapping_sub(self.pos);
        if ahead < self.ring.slots() || ahead > MAX_AHEAD {
            return Error::Corrupted("broadcast slot stamp contradicts tail");
        }
        self.tail = tail;
        self.skip(tail)
    }

    /// Moves past what the publisher overwrote, given a `tail` at least a
    /// lap ahead of `pos` (whose item is gone): to the oldest item still in
    /// the ring, or one past `pos` at least. The lag is the positions
    /// skipped, never 0.
    fn skip(&mut self, tail: u32) -> Error {
        let target = oldest(&self.ring, tail);
        let next = if target == self.pos {
            target.wrapping_add(1)
        } else {
            target
        };
        let lost = next.wrapping_sub(self.pos);
        self.pos = next;
        Error::Lagged(u64::from(lost))
    }

    /// Published positions not yet read, as far as they are still in the
    /// ring (0 for a `tail` behind us).
    pub(super) fn len(&self) -> usize {
        let ahead = self.ring.tail().wrapping_sub(self.pos);
        if ahead > MAX_AHEAD {
            return 0;
        }
        ahead.min(self.ring.slots()) as usize
    }
}

/// The blocking receive of a subscriber or a member `end`: `try_recv`
/// until it finds an item (or fails otherwise than empty), sleeping on
/// `tail` with the subscribers' event count in between.
pub(super) fn recv_blocking<E, V, R: Access, N: Notify>(
    end: &mut E,
    ring: &R,
    notify: impl Fn(&E) -> &N,
    timeout: Option<Duration>,
    mut try_recv: impl FnMut(&mut E) -> Result<V>,
) -> Result<V> {
    let (tail, waiters) = (ring.word(TAIL), ring.word(SUBSCRIBERS_WAITING));
    block_on(
        end,
        notify,
        timeout,
        Announce::Counter,
        waiters,
        |s| match try_recv(s) {
            Err(Error::Empty) => Ok(Attempt::Wait(tail)),
            done => done.map(Attempt::Ready),
        },
    )
}

/// The oldest position still in the ring for a publisher at `tail` (a full
/// ring): `tail - capacity`, or one later if its slot is already being
/// rewritten (a hint: the receive checks it again).
fn oldest<R: Access>(ring: &R, tail: u32) -> u32 {
    let oldest = tail.wrapping_sub(ring.slots());
    let complete = ring.stamp(oldest).load(Ordering::Acquire) == oldest.wrapping_add(1);
    if complete {
        oldest
    } else {
        oldest.wrapping_add(1)
    }
}

//! The publisher: the writer's half of the seqlock slots.

use core::fmt;

use bytemuck::Pod;

use super::access::Access;
use super::{Ring, SUBSCRIBERS_WAITING, Slots, TAIL};
use crate::place::Claim;
use crate::sync::{Ordering, SeqCell, fence};
use crate::wait::{Notify, Spin, wake_waiters};

/// The one publisher of a broadcast ring: [`publish`](Self::publish) never
/// waits and never fails; subscribers that fall a lap behind lose the
/// oldest items and are told how many ([`Error::Lagged`]).
///
/// It holds the publisher role, given back when it is dropped.
///
/// ```
/// use ipckit_core::{broadcast, AlignedBytes, Error, Region};
///
/// let mut bytes = AlignedBytes::<512>::new();
/// let ring = broadcast::Ring::<u64>::init(Region::from_slice(&mut bytes[..]), 8)?;
/// let mut tx = ring.publisher()?;
/// assert_eq!(ring.publisher().unwrap_err(), Error::RoleTaken(ipckit_core::Role::Producer));
/// let mut rx = ring.subscriber()?;
/// tx.publish(42);
/// assert_eq!((tx.position(), rx.try_recv()?), (1, 42));
/// # Ok::<(), Error>(())
/// ```
///
/// [`Error::Lagged`]: crate::Error::Lagged
pub struct Publisher<'a, T, N = Spin> {
    claim: Claim<'a, Slots<T>>,
    /// The next position to write (`tail` as this side published it).
    pos: u32,
    pub(super) notify: N,
}

// SAFETY: the publisher is the one writer of the ring; moving it to another
// thread moves the role with it. Items of `T` cross threads (`T: Send`),
// and the notifier moves along (`N: Send`).
unsafe impl<T: Send, N: Send> Send for Publisher<'_, T, N> {}

impl<T, N> fmt::Debug for Publisher<'_, T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.debug_fields(&mut f.debug_struct("Publisher"))
            .finish_non_exhaustive()
    }
}

impl<T, N> Publisher<'_, T, N> {
    /// What `Debug` shows of a publisher, plain or reliable.
    pub(super) fn debug_fields<'d, 'a, 'b>(
        &self,
        d: &'d mut fmt::DebugStruct<'a, 'b>,
    ) -> &'d mut fmt::DebugStruct<'a, 'b> {
        d.field("position", &self.pos)
            .field("capacity", &self.claim.ring().capacity())
    }
}

impl<'a, T: Pod, N: Notify> Publisher<'a, T, N> {
    /// The publisher of a claimed ring, resuming at the published `tail`.
    pub(super) fn new(claim: Claim<'a, Slots<T>>, notify: N) -> Self {
        // The claim's Acquire orders this load after the previous holder's
        // release; a dead holder's `tail` is what it last published. Any
        // value is a valid position: nothing to validate.
        let pos = claim.ring().word(TAIL).load(Ordering::Relaxed);
        Self { claim, pos, notify }
    }

    /// Publishes `value` at the next position: subscribers that are a whole
    /// lap behind lose the oldest item. Never waits; wakes sleeping
    /// subscribers (only when one announced itself).
    #[inline]
    pub fn publish(&mut self, value: T) {
        self.begin(value);
        self.pos = commit(self.claim.ring(), self.pos, &self.notify);
    }

    /// The first half of [`publish`](Self::publish): the slot opened
    /// ([`open`]) and the item written, not yet complete.
    #[inline(always)]
    fn begin(&mut self, value: T) {
        let ring = self.claim.ring();
        open(ring, self.pos);
        let slot = ring.slot(self.pos);
        // SAFETY: the slot is inside the ring, and the claim makes us its
        // one writer; readers copy it concurrently by design (`SeqCell`).
        unsafe { SeqCell::write(&raw const (*slot).value, value) };
    }

    /// The next position this publisher writes (the ring's `tail`).
    #[must_use]
    pub fn position(&self) -> u32 {
        self.pos
    }

    /// The number of slots.
    #[must_use]
    pub fn capacity(&self) -> u32 {
        self.claim.ring().capacity()
    }

    /// The ring this publisher writes (for more subscribers).
    pub fn ring(&self) -> &Ring<'a, T> {
        self.claim.ring()
    }

    crate::place::test_hook! {
        /// For tests and loom models: starts to publish `value` and dies
        /// half-way, as a publisher killed mid-write: the slot's stamp says
        /// "being written" and holds the item, `tail` is unmoved, and the
        /// role stays claimed (nothing is dropped).
        #[doc(hidden)]
        pub fn publish_and_die(mut self, value: T) {
            self.begin(value);
            core::mem::forget(self);
        }
    }
}

/// Opens the slot of `pos` for writing: stamp `pos` (being written;
/// Release, so that a subscriber that sees it also sees `tail` at least a
/// lap past the item it destroys), then a Release fence (the data's stores
/// stay after that stamp). Shared by the Pod and the frame publishers.
#[inline(always)]
pub(super) fn open<R: Access>(ring: &R, pos: u32) {
    ring.stamp(pos).store(pos, Ordering::Release);
    fence(Ordering::Release);
}

/// Completes the slot of `pos` after its data: stamp `pos + 1` (Release:
/// the data is complete), `tail = pos + 1` (Release), and wakes sleeping
/// subscribers (only when one announced itself). Returns `pos + 1`.
#[inline(always)]
pub(super) fn commit<R: Access, N: Notify>(ring: &R, pos: u32, notify: &N) -> u32 {
    let next = pos.wrapping_add(1);
    ring.stamp(pos).store(next, Ordering::Release);
    let tail = ring.word(TAIL);
    tail.store(next, Ordering::Release);
    wake_waiters(notify, tail, ring.word(SUBSCRIBERS_WAITING), true);
    next
}

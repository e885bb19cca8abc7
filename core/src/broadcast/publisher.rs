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

    /// Opens the slot of the next position for an item written in place
    /// through the [`Loan`] and made visible by its
    /// [`publish`](Loan::publish). The slot's old item is destroyed now:
    /// subscribers a lap behind lag past it, whether the loan is published
    /// or dropped (which publishes nothing).
    #[inline]
    pub fn loan(&mut self) -> Loan<'_, 'a, T, N> {
        open(self.claim.ring(), self.pos);
        Loan { publisher: self }
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

/// The slot of the next position of a broadcast ring, opened for an item
/// written in place: [`write`](Self::write) it whole, or its bytes
/// ([`write_at`](Self::write_at)), then [`publish`](Self::publish). What
/// is not written holds the slot's item of a lap ago. Dropped
/// unpublished, it publishes nothing and the ring stays consistent (the
/// slot says "being written", which no subscriber returns; the next
/// publication rewrites it at the same position).
///
/// [`write`](Self::write) and [`write_at`](Self::write_at) are always
/// sound; stores through [`as_mut_ptr`](Self::as_mut_ptr) race the copies
/// of subscribers that lag a whole lap in a lossy ring (they discard those
/// copies, but a plain store racing a read is a data race in Rust's
/// model): use it with the reliable policy or trusted subscribers.
///
/// ```
/// use ipckit_core::broadcast::StaticRing;
///
/// static TOPIC: StaticRing<[u32; 4], 8> = StaticRing::new();
/// let mut tx = TOPIC.publisher()?;
/// let mut rx = TOPIC.subscriber()?;
/// let mut loan = tx.loan();
/// loan.write([1, 2, 3, 4]);
/// loan.write_at(8, &9u32.to_ne_bytes())?; // the third element
/// loan.publish();
/// drop(tx.loan()); // nothing published
/// assert_eq!(rx.try_recv(), Ok([1, 2, 9, 4]));
/// assert!(rx.try_recv().unwrap_err().is_empty());
/// # Ok::<(), ipckit_core::Error>(())
/// ```
#[must_use = "a loan publishes nothing unless `publish` is called"]
pub struct Loan<'p, 'a, T: Pod, N: Notify = Spin> {
    publisher: &'p mut Publisher<'a, T, N>,
}

impl<T: Pod, N: Notify> fmt::Debug for Loan<'_, '_, T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loan")
            .field("position", &self.publisher.pos)
            .finish()
    }
}

impl<T: Pod, N: Notify> Loan<'_, '_, T, N> {
    /// The open slot's value cell.
    fn cell(&self) -> *const SeqCell<T> {
        let slot = self.publisher.claim.ring().slot(self.publisher.pos);
        // SAFETY: the slot is inside the ring (masked position).
        unsafe { &raw const (*slot).value }
    }

    /// Writes the whole item (race-free: relaxed atomic stores).
    #[inline]
    pub fn write(&mut self, value: T) {
        // SAFETY: the open slot is inside the ring and ours alone to write;
        // readers copy it concurrently by design (`SeqCell`).
        unsafe { SeqCell::write(self.cell(), value) };
    }

    /// Writes `bytes` at byte `offset` of the item (race-free):
    /// [`Error::OutOfRange`](crate::Error::OutOfRange) past its size,
    /// nothing written.
    #[inline]
    pub fn write_at(&mut self, offset: usize, bytes: &[u8]) -> crate::Result<()> {
        let (end, len) = (offset.saturating_add(bytes.len()), size_of::<T>());
        if end > len {
            return Err(crate::Error::OutOfRange { end, len });
        }
        // SAFETY: in bounds of the open slot's item, which is ours alone
        // to write, at the grain its readers use.
        unsafe { SeqCell::write_bytes(self.cell(), offset, bytes) };
        Ok(())
    }

    /// The item in the region, for writes by other means (see the type
    /// docs for when plain stores through it are sound). Null under the
    /// loom models.
    #[must_use]
    pub fn as_mut_ptr(&mut self) -> *mut T {
        SeqCell::as_ptr(self.cell())
    }

    /// Publishes the item: the slot complete, `tail` moved, sleeping
    /// subscribers woken.
    #[inline]
    pub fn publish(self) {
        let p = self.publisher;
        p.pos = commit(p.claim.ring(), p.pos, &p.notify);
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

//! The reliable publisher: the lossy publisher's writes, gated by the
//! slowest member of the table.

use core::fmt;
use core::time::Duration;

use bytemuck::Pod;

use super::access::Access;
use super::table::slowest;
use super::{Loan, PROGRESS, PUBLISHER_WAITING, Publisher, Ring};
use crate::error::Result;
use crate::sync::spin_hint;
use crate::wait::{Announce, Attempt, Notify, Spin, block_on};

/// The one publisher of a [reliable](super::Policy::Reliable) broadcast
/// ring: it never overwrites an item an active [`Member`](super::Member)
/// has not read. [`try_publish`](Self::try_publish) fails with
/// [`Error::Full`](crate::Error::Full) while the slowest member is a whole
/// ring behind; [`publish`](Self::publish) waits for it (sleeping through
/// the notifier, woken by the member that reads).
///
/// It holds the publisher role, given back when it is dropped.
///
/// ```
/// use ipckit_core::broadcast::{Options, Policy, Ring, Start};
/// use ipckit_core::{AlignedBytes, Error, Region};
///
/// let options = Options::new(8).subscribers(3).policy(Policy::Reliable);
/// let mut bytes = AlignedBytes::<2048>::new();
/// let ring = Ring::<u64>::init_with(Region::from_slice(&mut bytes[..]), options)?;
/// let mut tx = ring.reliable_publisher()?;
/// let members = [ring.join(Start::Next)?, ring.join(Start::Next)?];
/// std::thread::scope(|s| {
///     for mut rx in members {
///         s.spawn(move || {
///             for i in 0..1000 {
///                 assert_eq!(rx.recv(), Ok(i)); // every item, in order
///             }
///         });
///     }
///     for i in 0..1000 {
///         tx.publish(i).unwrap(); // waits for the slower member
///     }
/// });
/// # Ok::<(), Error>(())
/// ```
pub struct ReliablePublisher<'a, T, N = Spin> {
    inner: Publisher<'a, T, N>,
    gate: Gate,
}

impl<T, N> fmt::Debug for ReliablePublisher<'_, T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner
            .debug_fields(&mut f.debug_struct("ReliablePublisher"))
            .field("slowest", &self.gate.slowest)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Pod, N: Notify> ReliablePublisher<'a, T, N> {
    /// The reliable publisher over a claimed publisher.
    pub(super) fn new(inner: Publisher<'a, T, N>) -> Self {
        let gate = Gate::new(inner.position(), inner.capacity());
        Self { inner, gate }
    }

    /// Publishes `value` if every active member has read the item it
    /// overwrites: [`Error::Full`](crate::Error::Full) if not (nothing
    /// written), [`Error::Corrupted`](crate::Error::Corrupted) for a table
    /// entry no member writes. Scans the table only when the cached
    /// slowest position says full.
    #[inline]
    pub fn try_publish(&mut self, value: T) -> Result<()> {
        if !self.room()? {
            return Err(crate::Error::Full);
        }
        self.inner.publish(value);
        Ok(())
    }

    /// Publishes `value`, waiting while the slowest member is a ring
    /// behind (a dead member holds the publisher until
    /// [`Ring::release_member`]).
    pub fn publish(&mut self, value: T) -> Result<()> {
        self.wait(None)?;
        self.inner.publish(value);
        Ok(())
    }

    /// [`publish`](Self::publish) for at most `timeout`
    /// ([`Error::TimedOut`](crate::Error::TimedOut), nothing written;
    /// [`Error::NoClock`](crate::Error::NoClock) without a clock).
    pub fn publish_timeout(&mut self, value: T, timeout: Duration) -> Result<()> {
        self.wait(Some(timeout))?;
        self.inner.publish(value);
        Ok(())
    }

    /// [`Publisher::loan`] if every active member has read the item the
    /// slot holds: [`Error::Full`](crate::Error::Full) if not. With this
    /// policy no honest member reads the open slot, so
    /// [`Loan::as_mut_ptr`] may be written through plainly.
    ///
    /// ```
    /// use ipckit_core::broadcast::{Options, Policy, Ring, Start};
    /// use ipckit_core::{AlignedBytes, Error, Region};
    ///
    /// let options = Options::new(2).subscribers(1).policy(Policy::Reliable);
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = Ring::<[u8; 64]>::init_with(Region::from_slice(&mut bytes[..]), options)?;
    /// let mut tx = ring.reliable_publisher()?;
    /// let mut rx = ring.join(Start::Next)?;
    /// let mut loan = tx.try_loan()?;
    /// // SAFETY: reliable policy, honest members: nobody reads the open slot.
    /// unsafe { loan.as_mut_ptr().write([7; 64]) };
    /// loan.publish();
    /// assert_eq!(rx.try_recv(), Ok([7; 64]));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn try_loan(&mut self) -> Result<Loan<'_, 'a, T, N>> {
        if !self.room()? {
            return Err(crate::Error::Full);
        }
        Ok(self.inner.loan())
    }

    /// [`try_loan`](Self::try_loan), waiting while the ring is full.
    pub fn loan(&mut self) -> Result<Loan<'_, 'a, T, N>> {
        self.wait(None)?;
        Ok(self.inner.loan())
    }

    /// [`loan`](Self::loan) for at most `timeout`
    /// ([`Error::TimedOut`](crate::Error::TimedOut)).
    pub fn loan_timeout(&mut self, timeout: Duration) -> Result<Loan<'_, 'a, T, N>> {
        self.wait(Some(timeout))?;
        Ok(self.inner.loan())
    }

    /// Waits until the next position may be written.
    fn wait(&mut self, timeout: Option<Duration>) -> Result<()> {
        let ring = self.inner.ring().clone();
        wait_for_room(self, &ring, |s| &s.inner.notify, timeout, Self::room)
    }

    /// `true` if the position to write is less than a ring ahead of the
    /// slowest member (cached, then scanned).
    #[inline(always)]
    fn room(&mut self) -> Result<bool> {
        self.gate.room(self.inner.ring(), self.inner.position())
    }

    /// The next position this publisher writes (the ring's `tail`).
    #[must_use]
    pub fn position(&self) -> u32 {
        self.inner.position()
    }

    /// The number of slots.
    #[must_use]
    pub fn capacity(&self) -> u32 {
        self.inner.capacity()
    }

    /// The ring this publisher writes (for more members).
    pub fn ring(&self) -> &Ring<'a, T> {
        self.inner.ring()
    }
}

/// The reliable publisher's bound, shared by the Pod and the frame
/// publishers: the slowest member's position at the last scan (positions
/// before `slowest + capacity` may be written without another scan).
pub(crate) struct Gate {
    pub(super) slowest: u32,
}

impl Gate {
    /// A gate for a publisher at `pos`: a lap behind, so that the first
    /// publication scans the table.
    pub(super) fn new(pos: u32, slots: u32) -> Self {
        Self {
            slowest: pos.wrapping_sub(slots),
        }
    }

    /// `true` if `pos` is less than a ring ahead of the slowest member
    /// (cached, then scanned).
    #[inline(always)]
    pub(super) fn room<R: Access>(&mut self, ring: &R, pos: u32) -> Result<bool> {
        if pos.wrapping_sub(self.slowest) < ring.slots() {
            return Ok(true);
        }
        self.scan(ring, pos)
    }

    #[cold]
    fn scan<R: Access>(&mut self, ring: &R, pos: u32) -> Result<bool> {
        self.slowest = slowest(ring, pos)?;
        Ok(pos.wrapping_sub(self.slowest) < ring.slots())
    }
}

/// Waits until `room(end)` says the next position may be written: sleeps
/// on `PROGRESS` with the event count (module docs, "The reliable
/// policy"), or re-scans with spinning notifiers.
pub(super) fn wait_for_room<E, R: Access, N: Notify>(
    end: &mut E,
    ring: &R,
    notify: impl Fn(&E) -> &N,
    timeout: Option<Duration>,
    mut room: impl FnMut(&mut E) -> Result<bool>,
) -> Result<()> {
    let (progress, waiting) = (ring.word(PROGRESS), ring.word(PUBLISHER_WAITING));
    block_on(end, notify, timeout, Announce::Single, waiting, |s| {
        if room(s)? {
            Ok(Attempt::Ready(()))
        } else if N::WAKES {
            // Members bump `PROGRESS` after they move, once they see us
            // announced.
            Ok(Attempt::Wait(progress))
        } else {
            // Spinning members bump nothing: scan again.
            spin_hint();
            Ok(Attempt::Again)
        }
    })
}

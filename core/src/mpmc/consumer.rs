//! The reading endpoint.

use core::time::Duration;

use bytemuck::Pod;

use super::Ring;
use super::layout::CONSUMERS_WAITING;
use super::ring::Endpoint;
use super::step::entire;
#[cfg(doc)]
use super::{BUSY_SPINS, Producer};
use crate::error::{Error, Result};
use crate::intent::Intent;
use crate::wait::{Notify, Spin};

/// A reading endpoint of an MPMC ring. Any number of consumers may pop
/// concurrently; each item goes to exactly one of them.
///
/// ```
/// use ipckit_core::{mpmc, AlignedBytes, Error, Region};
///
/// let mut bytes = AlignedBytes::<512>::new();
/// let ring = mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 2)?;
/// let rx = ring.consumer()?;
/// assert_eq!(rx.try_pop(), Err(Error::Empty));
/// # Ok::<(), Error>(())
/// ```
pub struct Consumer<'a, T, N = Spin>(pub(super) Endpoint<'a, T, N>);

super::ring::endpoint_handle!(Consumer, "mpmc::Consumer", pop_step);

impl<'a, T: Pod, N: Notify> Consumer<'a, T, N> {
    /// Removes and returns the oldest item, or [`Error::Empty`] when the ring
    /// holds none, or [`Error::Busy`] when the producer that claimed the
    /// oldest position is still writing it (waited for during at most
    /// [`BUSY_SPINS`] spin hints), or died doing so ([`Ring::stalled`];
    /// module docs).
    ///
    /// Returns [`Error::Corrupted`] for a stamp or a `head` that the
    /// protocol cannot produce (module docs); nothing is taken then.
    #[inline]
    pub fn try_pop(&self) -> Result<T> {
        let mut one = [T::zeroed()];
        self.pop_run(&mut one, false)?;
        Ok(one[0])
    }

    /// Removes the oldest items into the front of `out`, as many as are
    /// published in a row at `head` (at most the capacity), claimed with
    /// one compare-and-swap, and returns how many (0 only for an empty
    /// `out`). When the oldest is not published: [`Error::Empty`] or
    /// [`Error::Busy`], as [`try_pop`](Self::try_pop) says.
    ///
    /// ```
    /// use ipckit_core::{mpmc, AlignedBytes, Error, Region};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?;
    /// let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// tx.push_partial_slice(&[1, 2, 3])?;
    /// let mut out = [0; 2];
    /// assert_eq!(rx.pop_partial_slice(&mut out)?, 2);
    /// assert_eq!(out, [1, 2]);
    /// // The exact form takes all or nothing.
    /// assert_eq!(rx.pop_entire_slice(&mut out), Err(Error::TooFewSlots { requested: 2, available: 1 }));
    /// assert_eq!(rx.pop_partial_slice(&mut out)?, 1);
    /// assert_eq!(rx.pop_partial_slice(&mut out), Err(Error::Empty));
    /// # Ok::<(), Error>(())
    /// ```
    #[inline]
    pub fn pop_partial_slice(&self, out: &mut [T]) -> Result<usize> {
        let n = out.len().min(self.capacity() as usize);
        if n == 0 {
            return Ok(0);
        }
        self.pop_run(&mut out[..n], false)
    }

    /// Fills all of `out` with the oldest items, claimed with one
    /// compare-and-swap, or takes nothing: [`Error::TooFewSlots`] when
    /// fewer are published in a row at `head` (`available`: those seen;
    /// the capacity when `out` is longer than that), [`Error::Empty`] or
    /// [`Error::Busy`] when not even the oldest is (as
    /// [`try_pop`](Self::try_pop)).
    #[inline]
    pub fn pop_entire_slice(&self, out: &mut [T]) -> Result<()> {
        if !entire(out.len(), self.capacity())? {
            return Ok(());
        }
        self.pop_run(out, true).map(drop)
    }

    /// One attempt to pop into `out` (1 to capacity items; `exact` as in
    /// the ring's step), as the `try_` forms answer.
    #[inline(always)]
    fn pop_run(&self, out: &mut [T], exact: bool) -> Result<usize> {
        let e = &self.0;
        e.pop_step::<false>(out, exact)?.answer(Error::Empty)
    }

    /// Removes and returns the oldest item, waiting while the ring is empty.
    pub fn pop(&self) -> Result<T> {
        self.pop_timeout(None)
    }

    /// Removes and returns the oldest item, waiting at most `timeout`
    /// (`None`: no limit) while the ring is empty; [`Error::TimedOut`] when it
    /// stays empty. A waiting consumer sleeps on the stamp of the slot of the
    /// item it waits for (module docs), so a producer that died before
    /// publishing costs a timeout, not a busy loop.
    pub fn pop_timeout(&self, timeout: Option<Duration>) -> Result<T> {
        self.0.block(timeout, CONSUMERS_WAITING, |e| {
            let mut one = [T::zeroed()];
            Ok((e.pop_step::<false>(&mut one, false)?, one[0]))
        })
    }

    /// This consumer, announcing every claim in `intent` before it makes
    /// it (see [`Producer::with_intent`]): a producer that finds a slot
    /// claimed and never released can then tell whether this consumer holds
    /// it.
    #[must_use]
    pub fn with_intent(self, intent: &'a Intent) -> Self {
        Self(self.0.with_intent(intent))
    }
}

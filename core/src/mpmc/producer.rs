//! The writing endpoint.

use core::time::Duration;

use bytemuck::Pod;

use super::Ring;
use super::layout::PRODUCERS_WAITING;
use super::ring::Endpoint;
use super::step::entire;
#[cfg(doc)]
use super::{BUSY_SPINS, recovery};
use crate::error::{Error, Result};
use crate::intent::Intent;
use crate::wait::{Notify, Spin};

/// A writing endpoint of an MPMC ring. Any number of producers may push
/// concurrently, through clones or through one producer shared by
/// reference.
///
/// ```
/// use ipckit_core::{mpmc, AlignedBytes, Error, Region};
///
/// let mut bytes = AlignedBytes::<512>::new();
/// let ring = mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 2)?;
/// let tx = ring.producer()?;
/// tx.try_push(1)?;
/// tx.try_push(2)?;
/// assert_eq!(tx.try_push(3), Err(Error::Full));
/// # Ok::<(), Error>(())
/// ```
pub struct Producer<'a, T, N = Spin>(pub(super) Endpoint<'a, T, N>);

super::ring::endpoint_handle!(Producer, "mpmc::Producer", push_step);

impl<'a, T: Pod, N: Notify> Producer<'a, T, N> {
    /// Appends one item, or returns [`Error::Full`] when the ring holds
    /// `capacity` items, or [`Error::Busy`] when it holds fewer but the slot
    /// the next item goes to is still being read by a consumer (waited for
    /// during at most [`BUSY_SPINS`] spin hints; module docs).
    ///
    /// Returns [`Error::Corrupted`] for a stamp or a `tail` that the
    /// protocol cannot produce (module docs); nothing is written then.
    #[inline]
    pub fn try_push(&self, value: T) -> Result<()> {
        self.push_run(core::slice::from_ref(&value), false)
            .map(drop)
    }

    /// Appends the first items of `items`, as many as there are free slots
    /// in a row at `tail` (at most the capacity), claimed with one
    /// compare-and-swap, and returns how many (0 only for an empty
    /// `items`). Each item is published as soon as it is written, so
    /// consumers may take the first while the last are being written.
    /// When no slot is free: [`Error::Full`] or [`Error::Busy`], as
    /// [`try_push`](Self::try_push) says (where the SPSC ring's form
    /// returns 0: this ring has two reasons).
    ///
    /// ```
    /// use ipckit_core::{mpmc, AlignedBytes, Error, Region};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?;
    /// let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// assert_eq!(tx.push_partial_slice(&[1, 2, 3, 4, 5, 6])?, 4);
    /// assert_eq!(tx.push_partial_slice(&[5]), Err(Error::Full));
    /// // The exact form takes all or nothing.
    /// rx.try_pop()?;
    /// assert_eq!(tx.push_entire_slice(&[7, 8]), Err(Error::TooFewSlots { requested: 2, available: 1 }));
    /// tx.push_entire_slice(&[7])?;
    /// # Ok::<(), Error>(())
    /// ```
    #[inline]
    pub fn push_partial_slice(&self, items: &[T]) -> Result<usize> {
        let n = items.len().min(self.capacity() as usize);
        if n == 0 {
            return Ok(0);
        }
        self.push_run(&items[..n], false)
    }

    /// Appends all of `items`, claimed with one compare-and-swap, or
    /// appends nothing: [`Error::TooFewSlots`] when fewer free slots follow
    /// `tail` (`available`: those seen free in a row; the capacity when
    /// `items` is longer than that), [`Error::Full`] or [`Error::Busy`]
    /// when not even the first is free (as [`try_push`](Self::try_push)).
    #[inline]
    pub fn push_entire_slice(&self, items: &[T]) -> Result<()> {
        if !entire(items.len(), self.capacity())? {
            return Ok(());
        }
        self.push_run(items, true).map(drop)
    }

    /// One attempt to push `items` (1 to capacity of them; `exact` as in
    /// the ring's step), as the `try_` forms answer.
    #[inline(always)]
    fn push_run(&self, items: &[T], exact: bool) -> Result<usize> {
        let e = &self.0;
        e.push_step::<false>(items, exact)?.answer(Error::Full)
    }

    /// Appends one item, waiting while the ring is full.
    pub fn push(&self, value: T) -> Result<()> {
        self.push_timeout(value, None)
    }

    /// Appends one item, waiting at most `timeout` (`None`: no limit) while
    /// the ring is full; [`Error::TimedOut`] when it stays full. A waiting
    /// producer sleeps on the stamp of the slot it needs (module docs).
    pub fn push_timeout(&self, value: T, timeout: Option<Duration>) -> Result<()> {
        let one = core::slice::from_ref(&value);
        self.0.block(timeout, PRODUCERS_WAITING, |e| {
            Ok((e.push_step::<false>(one, false)?, ()))
        })
    }

    /// This producer, announcing every claim in `intent` before it makes
    /// it, so that a survivor can tell whether the claim of a position that
    /// stays unpublished is this producer's ([`crate::intent`], and
    /// [`recovery`] for what a survivor does with
    /// it). One intent serves one operation at a time: give each thread
    /// that pushes its own producer and intent (clones share the intent).
    /// The intent is placed where survivors can read it, next to this
    /// endpoint's liveness record (the hosted channels do this).
    #[must_use]
    pub fn with_intent(self, intent: &'a Intent) -> Self {
        Self(self.0.with_intent(intent))
    }
}

//! The writing endpoint.

use core::fmt;
use core::time::Duration;

use bytemuck::Pod;

use super::Ring;
use super::layout::PRODUCERS_WAITING;
use super::ring::Endpoint;
use super::step::Step;
#[cfg(doc)]
use super::{BUSY_SPINS, recovery};
use crate::error::{Error, Result};
use crate::intent::Intent;
use crate::wait::{Announce, Attempt, Notify, Spin, block_on};

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

impl<T, N: Clone> Clone for Producer<'_, T, N> {
    /// A producer on the same ring, with the same notifier and the same
    /// intent (if any): mind that one intent serves one operation at a time
    /// ([`with_intent`](Producer::with_intent)).
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T, N> fmt::Debug for Producer<'_, T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpmc::Producer")
            .field("capacity", &self.0.ring.capacity())
            .finish_non_exhaustive()
    }
}

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
        match self
            .0
            .ring
            .push_step::<N, false>(value, &self.0.notify, self.0.intent)?
        {
            Step::Done(()) => Ok(()),
            Step::Blocked(_) => Err(Error::Full),
            Step::Busy(_) => Err(Error::Busy),
        }
    }

    /// Appends one item, waiting while the ring is full.
    pub fn push(&self, value: T) -> Result<()> {
        self.push_timeout(value, None)
    }

    /// Appends one item, waiting at most `timeout` (`None`: no limit) while
    /// the ring is full; [`Error::TimedOut`] when it stays full. A waiting
    /// producer sleeps on the stamp of the slot it needs (module docs).
    pub fn push_timeout(&self, value: T, timeout: Option<Duration>) -> Result<()> {
        let waiters = &self.0.ring.word(PRODUCERS_WAITING);
        // Sleep on the stamp of the slot the last attempt found busy (only
        // once announced on that stamp before that attempt).
        block_on(
            &mut &*self,
            |p| &p.0.notify,
            timeout,
            Announce::Counter,
            waiters,
            |p| {
                Ok(
                    match p
                        .0
                        .ring
                        .push_step::<N, false>(value, &p.0.notify, p.0.intent)?
                    {
                        Step::Done(()) => Attempt::Ready(()),
                        Step::Blocked(at) | Step::Busy(at) => Attempt::Wait(p.0.ring.stamp(at)),
                    },
                )
            },
        )
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
        let mut end = self;
        end.0.intent = Some(intent);
        end
    }

    crate::place::test_hook! {
        /// For tests and loom models: announces and claims the position at
        /// `tail` with one compare-and-swap and stops there, as a producer
        /// killed right after that compare-and-swap: nothing written, nothing
        /// published, and after a lost compare-and-swap the announcement is not
        /// withdrawn. `true` if the claim succeeded; `false` if it lost or the
        /// ring was full.
        #[doc(hidden)]
        pub fn claim_and_die(&self) -> Result<bool> {
            let step = self
                .0
                .ring
                .push_step::<N, true>(T::zeroed(), &self.0.notify, self.0.intent)?;
            Ok(matches!(step, Step::Done(())))
        }
    }

    /// The number of slots.
    #[must_use]
    pub fn capacity(&self) -> u32 {
        self.0.ring.capacity()
    }

    /// The ring this producer writes to (for [`Ring::len`],
    /// [`Ring::stalled`], or more endpoints).
    pub fn ring(&self) -> &Ring<'a, T> {
        &self.0.ring
    }
}

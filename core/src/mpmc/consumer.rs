//! The reading endpoint.

use core::fmt;
use core::time::Duration;

use bytemuck::Pod;

use super::Ring;
use super::layout::CONSUMERS_WAITING;
use super::ring::Endpoint;
use super::step::Step;
#[cfg(doc)]
use super::{BUSY_SPINS, Producer};
use crate::error::{Error, Result};
use crate::intent::Intent;
use crate::wait::{Announce, Attempt, Notify, Spin, block_on};

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

impl<T, N: Clone> Clone for Consumer<'_, T, N> {
    /// A consumer on the same ring, with the same notifier and intent (see
    /// [`Producer`]'s `clone`).
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T, N> fmt::Debug for Consumer<'_, T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpmc::Consumer")
            .field("capacity", &self.0.ring.capacity())
            .finish_non_exhaustive()
    }
}

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
        match self
            .0
            .ring
            .pop_step::<N, false>(&self.0.notify, self.0.intent)?
        {
            Step::Done(v) => Ok(v),
            Step::Blocked(_) => Err(Error::Empty),
            Step::Busy(_) => Err(Error::Busy),
        }
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
        let waiters = &self.0.ring.word(CONSUMERS_WAITING);
        // As in `Producer::push_timeout`.
        block_on(
            &mut &*self,
            |c| &c.0.notify,
            timeout,
            Announce::Counter,
            waiters,
            |c| {
                Ok(
                    match c.0.ring.pop_step::<N, false>(&c.0.notify, c.0.intent)? {
                        Step::Done(v) => Attempt::Ready(v),
                        Step::Blocked(at) | Step::Busy(at) => Attempt::Wait(c.0.ring.stamp(at)),
                    },
                )
            },
        )
    }

    /// This consumer, announcing every claim in `intent` before it makes
    /// it (see [`Producer::with_intent`]): a producer that finds a slot
    /// claimed and never released can then tell whether this consumer holds
    /// it.
    #[must_use]
    pub fn with_intent(self, intent: &'a Intent) -> Self {
        let mut end = self;
        end.0.intent = Some(intent);
        end
    }

    crate::place::test_hook! {
        /// For tests and loom models: announces and claims the item at `head`
        /// with one compare-and-swap and stops there, as a consumer killed right
        /// after that compare-and-swap: the item is neither read nor released.
        /// `true` if the claim succeeded; `false` if it lost or the ring was
        /// empty.
        #[doc(hidden)]
        pub fn claim_and_die(&self) -> Result<bool> {
            let step = self
                .0
                .ring
                .pop_step::<N, true>(&self.0.notify, self.0.intent)?;
            Ok(matches!(step, Step::Done(_)))
        }
    }

    /// The number of slots.
    #[must_use]
    pub fn capacity(&self) -> u32 {
        self.0.ring.capacity()
    }

    /// The ring this consumer reads from (for [`Ring::len`],
    /// [`Ring::stalled`], or more endpoints).
    pub fn ring(&self) -> &Ring<'a, T> {
        &self.0.ring
    }
}

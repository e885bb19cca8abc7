//! The ring handle: the placed ring's queries that read its control words,
//! and the endpoints made from it.

use bytemuck::Pod;

use super::layout::Stamps;
use super::{Consumer, Producer, RETRY_LIMIT};
#[cfg(doc)]
use super::{Options, recovery};
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::intent::Intent;
use crate::place::{HEAD, Placed, TAIL};
use crate::sync::Ordering;
use crate::wait::{Notify, Spin};

/// What holds a ring up, as [`Ring::stalled`] saw it at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// A producer claimed `position` (moved `tail` past it) but has not
    /// published the slot yet; consumers wait behind it.
    Unpublished {
        /// The position claimed and not yet published.
        position: u32,
    },
    /// A consumer claimed `position` (moved `head` past it) but has not
    /// released the slot yet; the producer of the same slot one lap later
    /// waits behind it. (Also a consumer that claimed an unpublished
    /// position to skip it and has not released its slot yet: see
    /// [`recovery`].)
    Unreleased {
        /// The position claimed and not yet released.
        position: u32,
    },
}

/// An MPMC ring placed on a region: the handle from which producers and
/// consumers are made. Its placement methods (`region_len`, `init`,
/// `init_with`, `attach`, `capacity`, `wakes`) are those of [`Placed`].
///
/// `Ring` itself moves no items; it is cheap to clone and may be shared
/// between threads.
///
/// ```
/// use ipckit_core::{mpmc, AlignedBytes, Region};
///
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = mpmc::Ring::<u16>::init(Region::from_slice(&mut bytes[..]), 32)?;
/// let (tx1, tx2, rx) = (ring.producer()?, ring.producer()?, ring.consumer()?);
/// tx1.try_push(7)?;
/// tx2.try_push(8)?;
/// assert_eq!((rx.try_pop()?, rx.try_pop()?), (7, 8));
/// # Ok::<(), ipckit_core::Error>(())
/// ```
pub type Ring<'a, T> = Placed<'a, Stamps<T>>;

/// What every producer and consumer holds: the ring, its notifier, and the
/// intent it announces its claims in (if any).
pub(super) struct Endpoint<'a, T, N> {
    pub(super) ring: Ring<'a, T>,
    pub(super) notify: N,
    pub(super) intent: Option<&'a Intent>,
}

impl<T, N: Clone> Clone for Endpoint<'_, T, N> {
    fn clone(&self) -> Self {
        Self {
            ring: self.ring.clone(),
            notify: self.notify.clone(),
            intent: self.intent,
        }
    }
}

impl<'a, T, N> Endpoint<'a, T, N> {
    /// This endpoint, announcing its claims in `intent`.
    pub(super) fn with_intent(mut self, intent: &'a Intent) -> Self {
        self.intent = Some(intent);
        self
    }
}

/// What [`Producer`] and [`Consumer`] share, whichever end they work at:
/// `Clone` (same notifier, same intent: one intent serves one operation at
/// a time, see [`Producer::with_intent`]), `Debug`, `capacity` and `ring`.
macro_rules! endpoint_handle {
    ($handle:ident, $debug_name:literal, $step:ident) => {
        impl<T, N: Clone> Clone for $handle<'_, T, N> {
            /// An endpoint on the same ring, with the same notifier and the
            /// same intent (if any): mind that one intent serves one
            /// operation at a time (`with_intent`).
            fn clone(&self) -> Self {
                Self(self.0.clone())
            }
        }

        impl<T, N> core::fmt::Debug for $handle<'_, T, N> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct($debug_name)
                    .field("capacity", &self.0.ring.capacity())
                    .finish_non_exhaustive()
            }
        }

        impl<'a, T: bytemuck::Pod, N: crate::wait::Notify> $handle<'a, T, N> {
            /// The number of slots.
            #[must_use]
            pub fn capacity(&self) -> u32 {
                self.0.ring.capacity()
            }

            /// The ring this endpoint works on (for [`Ring::len`],
            /// [`Ring::stalled`], or more endpoints).
            pub fn ring(&self) -> &Ring<'a, T> {
                &self.0.ring
            }

            crate::place::test_hook! {
                /// For tests and loom models: announces and claims one position
                /// (at `tail` for a producer, at `head` for a consumer) with one
                /// compare-and-swap and stops there, as an endpoint killed right
                /// after that compare-and-swap: nothing written or read, nothing
                /// published or released, and after a lost compare-and-swap the
                /// announcement is not withdrawn. `true` if the claim succeeded;
                /// `false` if it lost or the ring was full (empty).
                #[doc(hidden)]
                pub fn claim_and_die(&self) -> crate::error::Result<bool> {
                    let e = &self.0;
                    let mut one = [T::zeroed()];
                    let step = e.$step::<true>(&mut one, false)?;
                    Ok(matches!(step, super::step::Step::Done(_)))
                }
            }
        }
    };
}
pub(super) use endpoint_handle;

impl<'a, T: Pod> Ring<'a, T> {
    /// A snapshot of the number of items in the ring: claimed positions
    /// between `head` and `tail`, including items still being written or
    /// read. Exact when no endpoint is active; under concurrency it was true
    /// at some instant during the call.
    ///
    /// A peer's garbage cannot make it exceed the capacity: a `tail` more
    /// than a capacity ahead of `head` (or a `head` that keeps moving for
    /// [`RETRY_LIMIT`] loads) reads as `capacity`, and the next push or pop
    /// that meets the corrupted word reports [`Error::Corrupted`].
    #[must_use]
    pub fn len(&self) -> usize {
        let mut head = self.word(HEAD).load(Ordering::Acquire);
        for _ in 0..RETRY_LIMIT {
            let tail = self.word(TAIL).load(Ordering::Acquire);
            let again = self.word(HEAD).load(Ordering::Acquire);
            // `head` did not move around the load of `tail`: the pair
            // existed at the instant `tail` was read.
            if again == head {
                return tail.wrapping_sub(head).min(self.capacity()) as usize;
            }
            head = again;
        }
        self.capacity() as usize
    }

    /// `true` if no position is claimed ([`len`](Self::len) is 0): a
    /// `try_pop` now would answer [`Error::Empty`] (module docs).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `true` if every slot's position is claimed ([`len`](Self::len) is
    /// the capacity): a `try_push` now would answer [`Error::Full`].
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity() as usize
    }

    /// Reports a position that an endpoint claimed but has not finished, as
    /// seen at one instant: a producer that has not published the item at
    /// `head` ([`Stall::Unpublished`]), or a consumer that has not released
    /// the slot that `tail` needs ([`Stall::Unreleased`]). `None` when
    /// neither holds the ring up.
    ///
    /// A slow endpoint shows here for a moment; a dead one until a survivor
    /// recovers the position ([`recovery`]). Consumers care about the
    /// first kind only ([`unpublished`](Self::unpublished)), producers about
    /// the second ([`unreleased`](Self::unreleased)); this reports the
    /// first if both hold.
    #[must_use]
    pub fn stalled(&self) -> Option<Stall> {
        if let Some(position) = self.unpublished() {
            return Some(Stall::Unpublished { position });
        }
        self.unreleased()
            .map(|position| Stall::Unreleased { position })
    }

    /// A producer with the spinning notifier [`Spin`]; see
    /// [`producer_with`](Self::producer_with). Any number may exist.
    pub fn producer(&self) -> Result<Producer<'a, T>> {
        self.producer_with(Spin::new())
    }

    /// A producer whose blocking calls sleep through `notify` and whose
    /// publications wake sleeping consumers through it. `N::WAKES` must match
    /// the ring ([`Error::NotifyMismatch`]).
    pub fn producer_with<N: Notify>(&self, notify: N) -> Result<Producer<'a, T, N>> {
        self.endpoint(notify).map(Producer)
    }

    /// A consumer with the spinning notifier [`Spin`]; see
    /// [`consumer_with`](Self::consumer_with). Any number may exist.
    pub fn consumer(&self) -> Result<Consumer<'a, T>> {
        self.consumer_with(Spin::new())
    }

    /// A consumer whose blocking calls sleep through `notify` and whose
    /// releases wake sleeping producers through it; see
    /// [`producer_with`](Self::producer_with).
    pub fn consumer_with<N: Notify>(&self, notify: N) -> Result<Consumer<'a, T, N>> {
        self.endpoint(notify).map(Consumer)
    }

    /// What either endpoint holds, once `notify` is checked against the
    /// ring's wake mode.
    fn endpoint<N: Notify>(&self, notify: N) -> Result<Endpoint<'a, T, N>> {
        self.check_notify(N::WAKES)?;
        Ok(Endpoint {
            ring: self.clone(),
            notify,
            intent: None,
        })
    }
}

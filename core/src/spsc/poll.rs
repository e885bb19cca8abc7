//! Async forms of the SPSC ring's `push` and `pop`, for a notifier that
//! implements [`AsyncNotify`] (the protocol, and what a `Pending` leaves
//! behind, are in [`crate::wait::waker`]).

use core::future::poll_fn;
use core::task::{Context, Poll};

use bytemuck::Pod;

use super::{Consumer, Producer};
use crate::error::Result;
use crate::wait::AsyncNotify;
#[cfg(doc)]
use crate::{Error, wait::WakerNotify};

impl<T: Pod, N: AsyncNotify> Consumer<'_, T, N> {
    /// Removes the oldest item (`Ready(Ok(item))`), or, while the ring is
    /// empty, registers the task's waker and returns `Pending`; the
    /// producer's notifier wakes the task when it publishes. Any other
    /// error ([`Error::Corrupted`]) is `Ready(Err(..))`.
    ///
    /// Cancellation: `Pending` removes nothing, so a caller that stops
    /// polling loses no item.
    ///
    /// ```
    /// use core::task::{Context, Poll, Waker};
    /// use ipckit_core::spsc::StaticRing;
    /// use ipckit_core::wait::WakerPair;
    ///
    /// static RING: StaticRing<u8, 4> = StaticRing::with_wakes(true);
    /// static WAKERS: WakerPair = WakerPair::new();
    /// let mut rx = RING.ring().consumer_with(WAKERS.consumer())?;
    /// let mut tx = RING.ring().producer_with(WAKERS.producer())?;
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(rx.poll_pop(&mut cx).is_pending());
    /// tx.try_push(3)?;
    /// assert_eq!(rx.poll_pop(&mut cx), Poll::Ready(Ok(3)));
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn poll_pop(&mut self, cx: &mut Context<'_>) -> Poll<Result<T>> {
        self.poll_with(cx, |c| c.try_pop())
    }

    /// Removes the oldest item, awaiting one while the ring is empty: the
    /// future of [`poll_pop`](Self::poll_pop). Cancellation safe: dropped
    /// before it completes, it has removed nothing.
    pub async fn pop_async(&mut self) -> Result<T> {
        poll_fn(|cx| self.poll_pop(cx)).await
    }
}

impl<T: Pod, N: AsyncNotify> Producer<'_, T, N> {
    /// Appends `value` (`Ready(Ok(()))`), or, while the ring is full,
    /// registers the task's waker and returns `Pending` without appending;
    /// the consumer's notifier wakes the task when it frees a slot.
    ///
    /// Cancellation: `Pending` appends nothing, and `value` is a copy the
    /// caller still has.
    pub fn poll_push(&mut self, cx: &mut Context<'_>, value: T) -> Poll<Result<()>> {
        self.poll_with(cx, |p| p.try_push(value))
    }

    /// Appends `value`, awaiting a free slot while the ring is full: the
    /// future of [`poll_push`](Self::poll_push). Cancellation safe: dropped
    /// before it completes, it has appended nothing.
    pub async fn push_async(&mut self, value: T) -> Result<()> {
        poll_fn(|cx| self.poll_push(cx, value)).await
    }
}

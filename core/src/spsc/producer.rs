//! The writing end of the SPSC ring: [`Producer`].

use core::time::Duration;

use bytemuck::Pod;

use super::{Producer, WriteChunk};
use crate::error::{Error, Result};
use crate::sync::SlotCell;
use crate::wait::Notify;

impl<'a, T: Pod, N: Notify> Producer<'a, T, N> {
    /// Appends one item, or returns [`Error::Full`].
    ///
    /// Returns [`Error::Corrupted`] if the consumer's `head`, reloaded
    /// because the ring looked full, is not within a capacity of `tail`.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Error, Region};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, _rx) = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 2)?.split()?;
    /// tx.try_push(1)?;
    /// tx.try_push(2)?;
    /// assert_eq!(tx.try_push(3), Err(Error::Full));
    /// # Ok::<(), Error>(())
    /// ```
    #[inline]
    pub fn try_push(&mut self, value: T) -> Result<()> {
        if self.room_cached() == 0 && self.refresh()? == 0 {
            return Err(Error::Full);
        }
        // SAFETY: the slot at `tail` is free (fewer than `capacity` items
        // are in flight), so the consumer does not read it until we publish.
        unsafe { SlotCell::write(self.slot(self.pos), value) };
        self.advance(1);
        Ok(())
    }

    /// Appends one item, waiting while the ring is full.
    pub fn push(&mut self, value: T) -> Result<()> {
        self.push_timeout(value, None)
    }

    /// Appends one item, waiting at most `timeout` (`None`: no limit) while
    /// the ring is full; [`Error::TimedOut`] when it stays full, and
    /// [`Error::NoClock`] for a timeout with a notifier that has no clock.
    ///
    /// ```
    /// use core::time::Duration;
    /// use ipckit_core::{spsc, wait::Spin, AlignedBytes, Error, Region};
    ///
    /// fn clock() -> Duration {
    ///     static T0: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ///     T0.get_or_init(std::time::Instant::now).elapsed()
    /// }
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 1)?;
    /// let mut tx = ring.producer_with(Spin::with_clock(clock))?;
    /// tx.push(1)?;
    /// assert_eq!(tx.push_timeout(2, Some(Duration::from_millis(5))), Err(Error::TimedOut));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn push_timeout(&mut self, value: T, timeout: Option<Duration>) -> Result<()> {
        self.wait(timeout, |p| p.try_push(value))
    }

    /// Appends as many items of `items` as there are free slots, with one
    /// index publication, and returns how many (0 when the ring is full).
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Error, Region};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?.split()?;
    /// assert_eq!(tx.push_partial_slice(&[1, 2, 3, 4, 5, 6])?, 4);
    /// // The exact form takes all or nothing.
    /// rx.pop()?;
    /// assert_eq!(tx.push_entire_slice(&[7, 8]), Err(Error::TooFewSlots { requested: 2, available: 1 }));
    /// tx.push_entire_slice(&[7])?;
    /// # Ok::<(), Error>(())
    /// ```
    #[inline]
    pub fn push_partial_slice(&mut self, items: &[T]) -> Result<usize> {
        let n = self.room_up_to(items.len())?;
        self.write_slots(&items[..n as usize]);
        Ok(n as usize)
    }

    /// Appends all of `items` with one index publication, or returns
    /// [`Error::TooFewSlots`] and appends nothing.
    #[inline]
    pub fn push_entire_slice(&mut self, items: &[T]) -> Result<()> {
        self.room_exact(items.len())?;
        self.write_slots(items);
        Ok(())
    }

    /// Copies `items` (at most the free slots) into the slots from `tail`
    /// on and publishes them.
    #[inline(always)]
    pub(super) fn write_slots(&mut self, items: &[T]) {
        self.store_slots(items);
        self.advance(items.len() as u32);
    }

    /// Reserves exactly `n` free slots for writing in place, or returns
    /// [`Error::TooFewSlots`]; see [`WriteChunk`]. Nothing is visible to the
    /// consumer until the chunk is committed.
    #[inline]
    pub fn write_chunk(&mut self, n: usize) -> Result<WriteChunk<'_, 'a, T, N>> {
        let n = self.room_exact(n)?;
        Ok(WriteChunk::new(self, n))
    }

    /// Reserves up to `max` free slots for writing in place: the chunk may
    /// be shorter (empty when the ring is full).
    #[inline]
    pub fn write_chunk_up_to(&mut self, max: usize) -> Result<WriteChunk<'_, 'a, T, N>> {
        let n = self.room_up_to(max)?;
        Ok(WriteChunk::new(self, n))
    }
}

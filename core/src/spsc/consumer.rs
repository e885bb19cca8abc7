//! The reading end of the SPSC ring: [`Consumer`].

use core::time::Duration;

use bytemuck::Pod;

use super::{Consumer, ReadChunk};
use crate::error::{Error, Result};
use crate::sync::SlotCell;
use crate::wait::Notify;

impl<'a, T: Pod, N: Notify> Consumer<'a, T, N> {
    /// Removes and returns the oldest item, or [`Error::Empty`].
    ///
    /// Returns [`Error::Corrupted`] if the producer's `tail`, reloaded because
    /// the ring looked empty, is not within a capacity of `head`.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Error, Region};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?.split()?;
    /// assert_eq!(rx.try_pop(), Err(Error::Empty));
    /// tx.try_push(9)?;
    /// assert_eq!(rx.try_pop(), Ok(9));
    /// # Ok::<(), Error>(())
    /// ```
    #[inline]
    pub fn try_pop(&mut self) -> Result<T> {
        if self.room_cached() == 0 && self.refresh()? == 0 {
            return Err(Error::Empty);
        }
        // SAFETY: the slot at `head` was published (`head != tail`), and the
        // producer does not write it again until we release it.
        let value = unsafe { SlotCell::read(self.slot(self.pos)) };
        self.advance(1);
        Ok(value)
    }

    /// Removes and returns the oldest item, waiting while the ring is empty.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 1)?.split()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| for i in 0..100 { tx.push(i).unwrap() });
    ///     for i in 0..100 { assert_eq!(rx.pop().unwrap(), i) }
    /// });
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn pop(&mut self) -> Result<T> {
        self.pop_timeout(None)
    }

    /// Removes and returns the oldest item, waiting at most `timeout`
    /// (`None`: no limit) while the ring is empty; [`Error::TimedOut`] when it
    /// stays empty.
    pub fn pop_timeout(&mut self, timeout: Option<Duration>) -> Result<T> {
        self.wait(timeout, |c| c.try_pop())
    }

    /// A copy of the oldest item, which stays in the ring, or
    /// [`Error::Empty`].
    #[inline]
    pub fn peek(&mut self) -> Result<T> {
        if self.room_cached() == 0 && self.refresh()? == 0 {
            return Err(Error::Empty);
        }
        // SAFETY: as in `try_pop`; nothing is released.
        Ok(unsafe { SlotCell::read(self.slot(self.pos)) })
    }

    /// Moves as many items as are available (up to `out.len()`) into `out`,
    /// with one index publication, and returns how many (0 when empty).
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Error, Region};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?.split()?;
    /// tx.push_entire_slice(&[1, 2, 3])?;
    /// let mut out = [0; 2];
    /// assert_eq!(rx.pop_partial_slice(&mut out)?, 2);
    /// assert_eq!(out, [1, 2]);
    /// // The exact form fills all of `out` or takes nothing.
    /// assert_eq!(rx.pop_entire_slice(&mut out), Err(Error::TooFewSlots { requested: 2, available: 1 }));
    /// # Ok::<(), Error>(())
    /// ```
    #[inline]
    pub fn pop_partial_slice(&mut self, out: &mut [T]) -> Result<usize> {
        let n = self.room_up_to(out.len())?;
        self.read_slots(&mut out[..n as usize]);
        Ok(n as usize)
    }

    /// Fills all of `out` with one index publication, or returns
    /// [`Error::TooFewSlots`] and takes nothing.
    #[inline]
    pub fn pop_entire_slice(&mut self, out: &mut [T]) -> Result<()> {
        self.room_exact(out.len())?;
        self.read_slots(out);
        Ok(())
    }

    /// Moves `out.len()` (at most the available) items from `head` on into
    /// `out` and hands their slots back.
    #[inline(always)]
    fn read_slots(&mut self, out: &mut [T]) {
        self.load_slots(out);
        self.advance(out.len() as u32);
    }

    /// Borrows exactly `n` available items for reading in place, or returns
    /// [`Error::TooFewSlots`]; see [`ReadChunk`]. The slots go back to the
    /// producer when the chunk is committed.
    #[inline]
    pub fn read_chunk(&mut self, n: usize) -> Result<ReadChunk<'_, 'a, T, N>> {
        let n = self.room_exact(n)?;
        Ok(ReadChunk::new(self, n))
    }

    /// Borrows up to `max` available items for reading in place: the chunk
    /// may be shorter (empty when the ring is empty).
    #[inline]
    pub fn read_chunk_up_to(&mut self, max: usize) -> Result<ReadChunk<'_, 'a, T, N>> {
        let n = self.room_up_to(max)?;
        Ok(ReadChunk::new(self, n))
    }
}

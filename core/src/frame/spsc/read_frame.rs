//! The oldest frame, read in place: [`ReadFrame`].

use super::Frame;
use crate::error::{Error, Result};
use crate::wait::{Notify, Spin};

/// The oldest frame, borrowed in place by [`Consumer::try_read`](super::Consumer::try_read).
///
/// The safe readers copy through word-wise atomics, so a producer that
/// scribbles on the bytes can make them wrong but never make this process
/// unsound; [`as_slice`](Self::as_slice) is for a trusted peer. Dropped
/// without a [`release`](Self::release), the frame stays queued.
///
/// ```
/// use ipckit_core::{frame, AlignedBytes, Error, Region};
/// let mut bytes = AlignedBytes::<512>::new();
/// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
/// tx.try_send(b"abcdef")?;
/// let frame = rx.try_read()?;
/// let mut two = [0; 2];
/// frame.read_at(4, &mut two)?; // exact: all of `two`, or an error
/// assert_eq!(&two, b"ef");
/// assert_eq!(frame.read_at(5, &mut two), Err(Error::OutOfRange { end: 7, len: 6 }));
/// assert_eq!(frame.read_partial(5, &mut two), 1); // what there is
/// frame.release();
/// assert_eq!(rx.try_read().unwrap_err(), Error::Empty);
/// # Ok::<(), Error>(())
/// ```
pub type ReadFrame<'c, 'a, N = Spin> = Frame<'c, 'a, N, false>;

impl<N: Notify> ReadFrame<'_, '_, N> {
    /// Copies the whole frame into the start of `dst` and returns its
    /// length, or [`Error::BufferTooSmall`] if `dst` is shorter.
    pub fn copy_to(&self, dst: &mut [u8]) -> Result<usize> {
        let len = self.len();
        let Some(dst) = dst.get_mut(..len) else {
            return Err(Error::BufferTooSmall { required: len });
        };
        // SAFETY: the whole validated, published payload.
        unsafe { self.end.load_data(self.span.payload(), dst) };
        Ok(len)
    }

    /// Fills all of `dst` from byte `offset` of the frame, or returns
    /// [`Error::OutOfRange`] if the frame is shorter.
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) -> Result<()> {
        super::super::check_range(offset, dst.len(), self.len())?;
        // SAFETY: `offset + dst.len() <= len`: inside the validated payload.
        unsafe { self.end.load_data(self.span.payload() + offset as u32, dst) };
        Ok(())
    }

    /// Copies as many bytes as fit in `dst` and exist from byte `offset` of
    /// the frame; returns how many (0 at or past the end).
    pub fn read_partial(&self, offset: usize, dst: &mut [u8]) -> usize {
        let n = self.len().saturating_sub(offset).min(dst.len());
        if n > 0 {
            // SAFETY: `offset + n <= len`: inside the validated payload.
            unsafe {
                self.end
                    .load_data(self.span.payload() + offset as u32, &mut dst[..n])
            };
        }
        n
    }

    /// The address of the frame's first byte (8-byte aligned), for a
    /// caller that hands it to a system call, say `write(2)`.
    pub fn as_ptr(&self) -> *const u8 {
        self.end.byte_ptr(self.span.payload())
    }

    /// The frame as a slice, for a caller who trusts the producer.
    ///
    /// # Safety
    /// Nothing writes these bytes while the slice lives: the producer
    /// follows the protocol (it does not touch published bytes until they
    /// are released). A hostile producer writing them would be a data race.
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: `len` validated, published bytes; the caller vouches that
        // nobody writes them while the slice lives.
        unsafe { core::slice::from_raw_parts(self.as_ptr(), self.len()) }
    }

    /// Removes the frame from the ring: its bytes go back to the producer.
    pub fn release(self) {
        self.end.advance(self.span.advance(self.span.len));
    }
}

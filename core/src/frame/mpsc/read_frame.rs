//! A committed frame read in place.

use super::*;

/// A committed frame at the front of the ring, read in place
/// ([`Consumer::try_read`]); the method set of
/// [`frame::spsc::ReadFrame`](crate::frame::spsc::ReadFrame), plus the
/// [`claimant`](Self::claimant). [`release`](Self::release) consumes it;
/// dropping the view without releasing leaves the frame queued.
///
/// The safe readers copy through raw pointers, so a peer that scribbles on
/// the frame can make the copy wrong, never this process unsound. The exact
/// readers fail rather than truncate; [`read_partial`](Self::read_partial)
/// takes what there is.
///
/// ```
/// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region};
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
/// let (tx, mut rx) = (ring.producer()?.with_id(7)?, ring.consumer()?);
/// tx.try_send(b"header:body")?;
/// let frame = rx.try_read()?;
/// assert_eq!((frame.len(), frame.claimant()), (11, 7));
/// let mut head = [0; 6];
/// frame.read_at(0, &mut head)?;
/// assert_eq!(&head, b"header");
/// assert_eq!(frame.read_at(7, &mut [0; 6]), Err(Error::OutOfRange { end: 13, len: 11 }));
/// let mut tail = [0; 6];
/// assert_eq!(frame.read_partial(7, &mut tail), 4);
/// frame.release();
/// assert_eq!(rx.try_read().unwrap_err(), Error::Empty);
/// # Ok::<(), Error>(())
/// ```
#[must_use = "a frame dropped without `release` stays queued"]
pub struct ReadFrame<'c, 'a, N: Notify = Spin> {
    pub(super) consumer: &'c mut Consumer<'a, N>,
    pub(super) frame: Ready,
}

frame_view!(ReadFrame<N: Notify> "frame::mpsc::ReadFrame", frame { "len": len, "claimant": claimant });

impl<N: Notify> ReadFrame<'_, '_, N> {
    /// The claimant id the producer wrote into the record
    /// ([`Producer::with_id`]); peer data, not proof of identity.
    pub fn claimant(&self) -> u32 {
        self.frame.claimant
    }

    /// Copies the whole frame to the start of `dst` and returns its length:
    /// exact, so [`Error::BufferTooSmall`] if `dst` is shorter.
    pub fn copy_to(&self, dst: &mut [u8]) -> Result<usize> {
        let len = self.len();
        let dst = dst
            .get_mut(..len)
            .ok_or(Error::BufferTooSmall { required: len })?;
        // SAFETY: `len` bytes: the whole frame.
        unsafe { self.payload_read(0, dst) };
        Ok(len)
    }

    /// Fills all of `dst` from byte `offset` of the frame: exact, so
    /// [`Error::OutOfRange`] (and nothing read) if the frame is shorter.
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) -> Result<()> {
        super::super::check_range(offset, dst.len(), self.len())?;
        // SAFETY: `offset + dst.len() <= len`.
        unsafe { self.payload_read(offset, dst) };
        Ok(())
    }

    /// Copies frame bytes from `offset` on into `dst`, as many as fit and
    /// exist; returns how many (0 for an `offset` at or past the end).
    pub fn read_partial(&self, offset: usize, dst: &mut [u8]) -> usize {
        let n = self.len().saturating_sub(offset).min(dst.len());
        // SAFETY: `offset + n <= len` (for `n > 0`; 0 bytes touch nothing).
        unsafe { self.payload_read(offset.min(self.len()), &mut dst[..n]) };
        n
    }

    /// # Safety
    /// `offset + dst.len() <= self.len()`.
    #[inline(always)]
    unsafe fn payload_read(&self, offset: usize, dst: &mut [u8]) {
        if dst.is_empty() {
            return;
        }
        // SAFETY: inside the committed record (caller contract), which lies
        // in the data area and which its producer no longer writes.
        unsafe {
            self.consumer
                .ring()
                .copy_out(self.frame.off + 8 + offset as u32, dst)
        };
    }

    /// The address of the frame's first byte (8-byte aligned), for a caller
    /// that hands it to a system call, say `write(2)`. Reading through it
    /// is the caller's `unsafe`: at most [`len`](Self::len) bytes, while the
    /// frame is held; the bytes are peer data.
    pub fn as_ptr(&self) -> *const u8 {
        self.consumer.ring().byte_ptr(self.frame.off + 8)
    }

    /// The frame as a slice in shared memory, without a copy.
    ///
    /// # Safety
    /// Nothing writes these bytes while the slice lives. Peers that follow
    /// the protocol do not touch a committed frame before it is released; a
    /// faulty or hostile peer could, and would then race with this `&[u8]`.
    /// Use it only with trusted peers; otherwise [`copy_to`](Self::copy_to)
    /// or [`read_at`](Self::read_at).
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: `len` bytes from this address lie in the data area; the
        // record stays unconsumed while `self` lives (release takes
        // `self`); the absence of writers is the caller's promise.
        unsafe { core::slice::from_raw_parts(self.as_ptr(), self.len()) }
    }

    /// Consumes the frame: its space goes back to the producers.
    pub fn release(self) {
        self.consumer.erase(self.frame.total, false);
    }
}

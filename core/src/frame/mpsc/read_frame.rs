//! A committed frame read in place.

use super::*;

/// A committed frame at the front of the ring, read in place
/// ([`Consumer::try_read`]). [`release`](Self::release) consumes it;
/// dropping the view without releasing leaves the frame queued.
///
/// The safe readers copy through raw pointers, so a peer that scribbles on
/// the frame can make the copy wrong, never this process unsound.
///
/// ```
/// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
/// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
/// tx.try_send(b"header:body")?;
/// let frame = rx.try_read()?;
/// let mut head = [0; 6];
/// assert_eq!(frame.read_at(0, &mut head), 6);
/// assert_eq!(&head, b"header");
/// frame.release();
/// # Ok::<(), ipckit_core::Error>(())
/// ```
pub struct ReadFrame<'c, 'a, N: Notify = Spin> {
    pub(super) consumer: &'c mut Consumer<'a, N>,
    pub(super) frame: Ready,
}

impl<N: Notify> fmt::Debug for ReadFrame<'_, '_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("frame::mpsc::ReadFrame")
            .field("len", &self.frame.len)
            .field("claimant", &self.frame.claimant)
            .finish()
    }
}

impl<N: Notify> ReadFrame<'_, '_, N> {
    /// The frame's length in bytes.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// tx.try_send(&[1, 2, 3])?;
    /// assert_eq!(rx.try_read()?.len(), 3);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.frame.len as usize
    }

    /// `true` for an empty frame.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// tx.try_send(&[])?;
    /// assert!(rx.try_read()?.is_empty());
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.frame.len == 0
    }

    /// The claimant id the producer wrote into the record
    /// ([`Producer::with_id`]); peer data, not proof of identity.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?.with_id(9)?, ring.consumer()?);
    /// tx.try_send(b"x")?;
    /// assert_eq!(rx.try_read()?.claimant(), 9);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn claimant(&self) -> u32 {
        self.frame.claimant
    }

    /// Copies the whole frame to the start of `dst` and returns its length;
    /// [`Error::BufferTooSmall`] if `dst` is shorter.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// tx.try_send(b"abc")?;
    /// let frame = rx.try_read()?;
    /// assert_eq!(frame.copy_to(&mut [0; 2]), Err(Error::BufferTooSmall { required: 3 }));
    /// assert_eq!(frame.copy_to(&mut [0; 9])?, 3);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn copy_to(&self, dst: &mut [u8]) -> Result<usize> {
        let len = self.len();
        match dst.get_mut(..len) {
            Some(dst) => {
                self.read_at(0, dst);
                Ok(len)
            }
            None => Err(Error::BufferTooSmall { required: len }),
        }
    }

    /// Copies frame bytes from `offset` on into `dst`, as many as fit and
    /// exist; returns how many (0 for an `offset` at or past the end).
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// tx.try_send(b"abcdef")?;
    /// let frame = rx.try_read()?;
    /// let mut buf = [0; 4];
    /// assert_eq!(frame.read_at(4, &mut buf), 2);
    /// assert_eq!(&buf[..2], b"ef");
    /// assert_eq!(frame.read_at(6, &mut buf), 0);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) -> usize {
        let n = self.len().saturating_sub(offset).min(dst.len());
        if n > 0 {
            // SAFETY: `offset + n <= len`: inside the committed record, which
            // lies in the data area and which its producer no longer writes.
            unsafe {
                self.consumer
                    .ring
                    .data
                    .copy_out(self.frame.off + 8 + offset as u32, &mut dst[..n])
            };
        }
        n
    }

    /// The frame as a slice in shared memory, without a copy.
    ///
    /// # Safety
    /// Nobody may write these bytes while the slice lives. Honest producers
    /// do not, but a faulty or hostile peer could, and would then race with
    /// this `&[u8]`: use it only with trusted peers, otherwise
    /// [`copy_to`](Self::copy_to) / [`read_at`](Self::read_at).
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// tx.try_send(b"abc")?;
    /// let frame = rx.try_read()?;
    /// // SAFETY: both ends are in this process.
    /// assert_eq!(unsafe { frame.as_slice() }, b"abc");
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    #[cfg(not(ipckit_loom))]
    pub unsafe fn as_slice(&self) -> &[u8] {
        let ptr = self.consumer.ring.data.ptr(self.frame.off + 8);
        // SAFETY: `len` bytes from `ptr` lie in the data area; the record
        // stays unconsumed while `self` lives (release takes `self`); the
        // absence of writers is the caller's promise.
        unsafe { core::slice::from_raw_parts(ptr, self.len()) }
    }

    /// Consumes the frame: its space goes back to the producers.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// tx.try_send(b"abc")?;
    /// rx.try_read()?.release();
    /// assert!(matches!(rx.try_read(), Err(Error::Empty)));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn release(self) {
        self.consumer.erase(self.frame.total, false);
    }
}

//! Grants: claimed space written in place, committed, shrunk or discarded.

use super::*;

/// Space for one frame, claimed by [`Producer::try_grant`] and written in
/// place.
///
/// The safe writers copy through raw pointers: no Rust reference to shared
/// memory is created, so a peer that scribbles on the space can make the
/// frame wrong, never this process unsound. Bytes not written before the
/// commit are zero (the consumer zeroes consumed space).
///
/// Dropping a grant without committing discards the space: the consumer
/// skips it and never waits for it.
///
/// ```
/// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region};
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
/// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
/// drop(tx.try_grant(40)?); // discarded
/// let grant = tx.try_grant(100)?;
/// assert_eq!(grant.len(), 100);
/// grant.commit(2)?; // a 2-byte frame; the rest of the space is discarded
/// assert_eq!(rx.try_recv(&mut [0; 8])?, 2);
/// assert_eq!(rx.try_recv(&mut [0; 8]), Err(Error::Empty));
/// # Ok::<(), Error>(())
/// ```
pub struct Grant<'p, 'a, N: Notify = Spin> {
    producer: &'p Producer<'a, N>,
    claim: Claim,
    done: bool,
}

impl<N: Notify> fmt::Debug for Grant<'_, '_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("frame::mpsc::Grant")
            .field("position", &self.claim.pos)
            .field("len", &self.claim.len)
            .finish()
    }
}

impl<'p, 'a, N: Notify> Grant<'p, 'a, N> {
    pub(super) fn new(producer: &'p Producer<'a, N>, claim: Claim) -> Self {
        Self {
            producer,
            claim,
            done: false,
        }
    }

    /// Byte offset of the record header in the data area.
    fn off(&self) -> u32 {
        self.claim.pos & (self.producer.ring.capacity - 1)
    }

    /// The number of bytes granted.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// assert_eq!(ring.producer()?.try_grant(7)?.len(), 7);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.claim.len as usize
    }

    /// `true` for a grant of an empty frame.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// assert!(ring.producer()?.try_grant(0)?.is_empty());
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.claim.len == 0
    }

    /// Copies `src` to the start of the grant; [`Error::FrameTooLarge`] (and
    /// nothing written) if it is longer than the grant.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let tx = ring.producer()?;
    /// let mut grant = tx.try_grant(2)?;
    /// assert_eq!(grant.copy_from_slice(b"abc"), Err(Error::FrameTooLarge { len: 3, max: 2 }));
    /// grant.copy_from_slice(b"ab")?;
    /// grant.commit(2)?;
    /// # Ok::<(), Error>(())
    /// ```
    pub fn copy_from_slice(&mut self, src: &[u8]) -> Result<()> {
        self.write_at(0, src)
    }

    /// Copies `src` to byte `offset` of the grant; [`Error::FrameTooLarge`]
    /// (and nothing written) if it does not fit.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// let mut grant = tx.try_grant(4)?;
    /// grant.write_at(2, b"cd")?;
    /// assert!(grant.write_at(3, b"xy").is_err());
    /// grant.commit(4)?;
    /// let mut buf = [9; 4];
    /// rx.try_recv(&mut buf)?;
    /// assert_eq!(&buf, b"\0\0cd");
    /// # Ok::<(), Error>(())
    /// ```
    pub fn write_at(&mut self, offset: usize, src: &[u8]) -> Result<()> {
        let end = offset.checked_add(src.len());
        match end {
            Some(end) if end <= self.len() => {}
            _ => {
                return Err(Error::FrameTooLarge {
                    len: len_u32(end.unwrap_or(usize::MAX)),
                    max: self.claim.len,
                });
            }
        }
        // SAFETY: the record (header and `len` payload bytes) lies inside
        // the data area (the claim placed it before the end), this grant
        // owns it until the commit, and `offset + src.len() <= len`.
        unsafe {
            self.producer
                .ring
                .data
                .copy_in(self.off() + 8 + offset as u32, src)
        };
        Ok(())
    }

    /// The granted bytes as a mutable slice in shared memory, for writing
    /// in place (serialising straight into the ring).
    ///
    /// # Safety
    /// No other process or thread may access these bytes while the slice
    /// lives: the consumer and other producers do not, but a faulty or
    /// hostile peer could, and would then race with this `&mut [u8]`. Use it
    /// only with trusted peers; otherwise use [`write_at`](Self::write_at).
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// let mut grant = tx.try_grant(3)?;
    /// // SAFETY: both ends are in this process.
    /// unsafe { grant.as_mut_slice() }.copy_from_slice(b"xyz");
    /// grant.commit(3)?;
    /// let mut buf = [0; 3];
    /// rx.try_recv(&mut buf)?;
    /// assert_eq!(&buf, b"xyz");
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    #[cfg(not(ipckit_loom))]
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        let ptr = self.producer.ring.data.ptr(self.off() + 8);
        // SAFETY: `len` bytes from `ptr` lie in the data area and belong to
        // this grant until its commit (which takes `self`, ending the
        // borrow); exclusivity against peers is the caller's promise.
        unsafe { core::slice::from_raw_parts_mut(ptr, self.len()) }
    }

    /// Commits the first `n` bytes as one frame (`n <= len()`) and wakes a
    /// sleeping consumer. Space left over (8 bytes or more) becomes a
    /// discarded record.
    ///
    /// `n > len()` is [`Error::FrameTooLarge`]: no frame is delivered, and
    /// the whole grant is discarded (the consumer never waits for it).
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// let grant = tx.try_grant(4)?;
    /// assert_eq!(grant.commit(5), Err(Error::FrameTooLarge { len: 5, max: 4 }));
    /// assert_eq!(rx.try_recv(&mut [0; 8]), Err(Error::Empty));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn commit(mut self, n: usize) -> Result<()> {
        self.done = true;
        let granted = self.claim.len;
        let Some(n) = u32::try_from(n).ok().filter(|&n| n <= granted) else {
            self.discard();
            return Err(Error::FrameTooLarge {
                len: len_u32(n),
                max: granted,
            });
        };
        let ring = &self.producer.ring;
        let off = self.off();
        let (used, claimed) = (record_len(n), record_len(granted));
        if used < claimed {
            // The rest becomes a discarded record; the Release of our commit
            // below publishes its header along with our frame.
            let rest = claimed - used;
            ring.data
                .word(off + used, 1)
                .store(DISCARDED, Ordering::Relaxed);
            ring.data
                .word(off + used, 0)
                .store(frame_word(rest - 8), Ordering::Relaxed);
        }
        ring.data
            .word(off, 0)
            .store(frame_word(n), Ordering::Release);
        ring.ring_doorbell(&self.producer.notify);
        Ok(())
    }

    /// Copies `frame` (which fits) and commits it.
    pub(super) fn finish_copy(mut self, frame: &[u8]) {
        self.done = true;
        let ring = &self.producer.ring;
        let off = self.off();
        // SAFETY: as in `write_at`; `frame.len() == len`.
        unsafe { ring.data.copy_in(off + 8, frame) };
        ring.data
            .word(off, 0)
            .store(frame_word(self.claim.len), Ordering::Release);
        ring.ring_doorbell(&self.producer.notify);
    }

    /// Turns the whole record into a discarded record.
    fn discard(&mut self) {
        let ring = &self.producer.ring;
        let off = self.off();
        ring.data.word(off, 1).store(DISCARDED, Ordering::Relaxed);
        ring.data
            .word(off, 0)
            .store(frame_word(self.claim.len), Ordering::Release);
        ring.ring_doorbell(&self.producer.notify);
    }
}

impl<N: Notify> Drop for Grant<'_, '_, N> {
    fn drop(&mut self) {
        if !self.done {
            self.discard();
        }
    }
}

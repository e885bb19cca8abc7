//! Grants: claimed space written in place, committed, shrunk or discarded.

use super::*;

/// Space for one frame, claimed by [`Producer::try_grant`] and written in
/// place; the method set of [`frame::spsc::Grant`](crate::frame::spsc::Grant).
///
/// The safe writers copy through raw pointers: no Rust reference to shared
/// memory is created, so a peer that scribbles on the space can make the
/// frame wrong, never this process unsound. Bytes not written before the
/// commit are zero (the consumer zeroes consumed space). Nothing truncates:
/// a write or commit past [`len`](Self::len) is [`Error::OutOfRange`].
///
/// Dropping a grant without committing discards the space (module docs,
/// "Discarded records"): the consumer skips it and never waits for it.
///
/// ```
/// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region};
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
/// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
/// drop(tx.try_grant(40)?); // discarded
/// let mut grant = tx.try_grant(100)?;
/// grant.write_at(0, b"hi")?;
/// assert_eq!(grant.write_at(99, b"xy"), Err(Error::OutOfRange { end: 101, len: 100 }));
/// grant.commit(2)?; // a 2-byte frame; the rest of the space is discarded
/// let mut buf = [0; 8];
/// assert_eq!(rx.try_recv(&mut buf)?, 2);
/// assert_eq!(&buf[..2], b"hi");
/// assert_eq!(rx.try_recv(&mut buf), Err(Error::Empty));
/// # Ok::<(), Error>(())
/// ```
#[must_use = "a grant dropped without a commit is discarded"]
pub struct Grant<'p, 'a, N: Notify = Spin> {
    producer: &'p Producer<'a, N>,
    claim: Claim,
    done: bool,
}

frame_view!(Grant<N: Notify> "frame::mpsc::Grant", claim { "position": pos, "len": len });

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
        self.claim.pos & (self.producer.ring.capacity() - 1)
    }

    /// Copies `src` to byte `offset` of the grant: exact, so
    /// [`Error::OutOfRange`] (and nothing written) if it does not fit.
    pub fn write_at(&mut self, offset: usize, src: &[u8]) -> Result<()> {
        super::super::check_range(offset, src.len(), self.len())?;
        // SAFETY: the record (header and `len` payload bytes) lies inside
        // the data area (the claim placed it before the end), this grant
        // owns it until the commit, and `offset + src.len() <= len`.
        unsafe {
            self.producer
                .ring
                .copy_in(self.off() + 8 + offset as u32, src)
        };
        Ok(())
    }

    /// Copies `src` to the start of the grant: [`write_at`](Self::write_at)`(0, src)`.
    pub fn copy_from_slice(&mut self, src: &[u8]) -> Result<()> {
        self.write_at(0, src)
    }

    /// The address of the grant's first byte (8-byte aligned), for a writer
    /// that fills it in place (a system call, a serialiser). Writing through
    /// it is the caller's `unsafe`: at most [`len`](Self::len) bytes, before
    /// the grant is committed or dropped. Other producers and the consumer
    /// do not touch these bytes until the commit; a hostile peer may, so
    /// what the consumer finds there is peer data once committed.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.producer.ring.byte_ptr(self.off() + 8)
    }

    /// The granted bytes as a mutable slice in shared memory, for writing
    /// in place (serialising straight into the ring).
    ///
    /// # Safety
    /// Nothing else writes or reads these bytes while the slice lives. Peers
    /// that follow the protocol do not touch uncommitted bytes; a faulty or
    /// hostile peer could, and would then race with this `&mut [u8]`. Use
    /// it only with trusted peers; otherwise [`write_at`](Self::write_at).
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        let len = self.len();
        // SAFETY: `len` bytes from this address lie in the data area and
        // belong to this grant until its commit (which takes `self`, ending
        // the borrow); exclusivity against peers is the caller's promise.
        unsafe { core::slice::from_raw_parts_mut(self.as_mut_ptr(), len) }
    }

    /// Publishes the first `n` bytes as one frame and wakes a sleeping
    /// consumer. Space left over (8 bytes or more) becomes a discarded
    /// record.
    ///
    /// `n > len()` is [`Error::OutOfRange`]: no frame is delivered, and the
    /// whole grant is discarded as a dropped one is (the consumer never
    /// waits for it).
    pub fn commit(mut self, n: usize) -> Result<()> {
        self.done = true;
        let granted = self.claim.len;
        let Some(n) = u32::try_from(n).ok().filter(|&n| n <= granted) else {
            self.discard();
            return Err(Error::OutOfRange {
                end: n,
                len: granted as usize,
            });
        };
        let ring = &self.producer.ring;
        let off = self.off();
        let (used, claimed) = (record_len(n), record_len(granted));
        if used < claimed {
            // The rest becomes a discarded record; the Release of our commit
            // below publishes its header along with our frame.
            let rest = claimed - used;
            ring.record_word(off + used, 1)
                .store(DISCARDED, Ordering::Relaxed);
            ring.record_word(off + used, 0)
                .store(frame_word(rest - 8), Ordering::Relaxed);
        }
        self.publish(n);
        Ok(())
    }

    /// Publishes the whole grant as one frame.
    pub fn commit_all(mut self) {
        self.done = true;
        self.publish(self.claim.len);
    }

    /// Copies `frame` (which fits) and commits it.
    pub(super) fn finish_copy(mut self, frame: &[u8]) {
        self.done = true;
        // SAFETY: as in `write_at`; `frame.len() == len`.
        unsafe { self.producer.ring.copy_in(self.off() + 8, frame) };
        self.publish(self.claim.len);
    }

    /// The commit: the first header word as a frame of `n` bytes, with
    /// Release (the payload and any discarded record behind it become
    /// visible with it), then the doorbell.
    #[inline(always)]
    fn publish(&self, n: u32) {
        let ring = &self.producer.ring;
        ring.record_word(self.off(), 0)
            .store(frame_word(n), Ordering::Release);
        ring.ring_doorbell(&self.producer.notify);
    }

    /// Turns the whole record into a discarded record.
    fn discard(&mut self) {
        let ring = &self.producer.ring;
        let off = self.off();
        ring.record_word(off, 1).store(DISCARDED, Ordering::Relaxed);
        self.publish(self.claim.len);
    }
}

impl<N: Notify> Drop for Grant<'_, '_, N> {
    fn drop(&mut self) {
        if !self.done {
            self.discard();
        }
    }
}

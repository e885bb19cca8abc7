//! Room for one frame, written in place: [`Grant`].

use super::Frame;
use crate::error::{Error, Result};
use crate::wait::{Notify, Spin};

/// Room for one frame, reserved by [`Producer::try_grant`](super::Producer::try_grant): write the frame
/// in place, then [`commit`](Self::commit) it.
///
/// The safe writers copy through word-wise atomics, so a consumer that
/// scribbles on the bytes can make them wrong but never make this process
/// unsound; [`as_mut_slice`](Self::as_mut_slice) is for a trusted peer. Bytes
/// left unwritten carry whatever the ring held before. Dropped without a
/// commit, a grant publishes nothing and its room is free again.
///
/// ```
/// use ipckit_core::{frame, AlignedBytes, Error, Region};
/// let mut bytes = AlignedBytes::<512>::new();
/// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 128)?.split()?;
/// let mut grant = tx.try_grant(16)?;
/// grant.write_at(0, &7u64.to_le_bytes())?;
/// grant.write_at(8, &9u64.to_le_bytes())?;
/// // Exact: what does not fit is refused, and nothing is written.
/// assert_eq!(grant.write_at(12, &[0; 8]), Err(Error::OutOfRange { end: 20, len: 16 }));
/// grant.commit_all();
/// let mut buf = [0; 16];
/// rx.try_recv(&mut buf)?;
/// assert_eq!(buf[8], 9);
/// # Ok::<(), Error>(())
/// ```
pub type Grant<'p, 'a, N = Spin> = Frame<'p, 'a, N, true>;

impl<N: Notify> Grant<'_, '_, N> {
    /// Copies `src` to byte `offset` of the grant, or returns
    /// [`Error::OutOfRange`] (writing nothing) if it does not fit.
    pub fn write_at(&mut self, offset: usize, src: &[u8]) -> Result<()> {
        super::super::check_range(offset, src.len(), self.len())?;
        let at = self.span.payload() + offset as u32;
        // SAFETY: `offset + src.len() <= len`: inside the reserved payload,
        // which starts after the record header at `span.offset`, is
        // inside the data area and free.
        unsafe { self.end.store_data(at, src) };
        Ok(())
    }

    /// Copies `src` to the start of the grant: [`write_at`](Self::write_at)`(0, src)`.
    pub fn copy_from_slice(&mut self, src: &[u8]) -> Result<()> {
        self.write_at(0, src)
    }

    /// The address of the grant's first byte (8-byte aligned), for writing
    /// with a system call (say, `read(2)` straight from a socket into the
    /// ring). Writing through it is the caller's `unsafe`: at most
    /// [`len`](Self::len) bytes, before the grant is committed or dropped.
    /// The consumer can be hostile only to bytes already committed, so
    /// these bytes are the producer's alone until then.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.end.byte_ptr(self.span.payload())
    }

    /// The granted bytes as a slice, for a caller who trusts the consumer.
    ///
    /// # Safety
    /// Nothing else writes or reads these bytes while the slice lives: the
    /// consumer follows the protocol (it does not touch unpublished bytes).
    /// A hostile consumer writing them concurrently would be a data race.
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        let len = self.len();
        // SAFETY: `len` reserved bytes from this address are inside the data
        // area and owned by this grant; the caller vouches for the peer.
        unsafe { core::slice::from_raw_parts_mut(self.as_mut_ptr(), len) }
    }

    /// Publishes the first `n` bytes as one frame. An `n` beyond the grant
    /// is [`Error::OutOfRange`]: the grant is then dropped, publishing
    /// nothing.
    pub fn commit(self, n: usize) -> Result<()> {
        if n > self.len() {
            return Err(Error::OutOfRange {
                end: n,
                len: self.len(),
            });
        }
        self.end.commit(self.span, n as u32);
        Ok(())
    }

    /// Publishes the whole grant as one frame.
    pub fn commit_all(self) {
        let len = self.span.len;
        self.end.commit(self.span, len);
    }
}

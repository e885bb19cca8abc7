//! The writing end of the SPSC frame ring: reserving room, grants, commits.

use core::time::Duration;

use super::super::{PAD, frame_word, record_len};
use super::{Grant, Producer, Span};
use crate::error::{Error, Result};
use crate::wait::Notify;

impl<'a, N: Notify> Producer<'a, N> {
    /// Finds room for a `len`-byte frame, or [`Error::Full`].
    #[inline]
    fn reserve(&mut self, len: usize) -> Result<Span> {
        let max = self.max_frame_len();
        if len > max as usize {
            let len = u32::try_from(len).unwrap_or(u32::MAX);
            return Err(Error::FrameTooLarge { len, max });
        }
        let len = len as u32;
        let capacity = self.capacity();
        let total = record_len(len);
        let at = self.pos & (capacity - 1);
        let until_end = capacity - at;
        // A record never straddles the end: pad to the end and start at 0.
        let (pad, offset) = if total > until_end {
            (until_end, 0)
        } else {
            (0, at)
        };
        let needed = pad + total;
        if self.room_cached() < needed && self.refresh()? < needed {
            return Err(Error::Full);
        }
        Ok(Span { pad, offset, len })
    }

    /// Reserves `len` contiguous bytes for a frame, or returns
    /// [`Error::Full`] (try again later) or [`Error::FrameTooLarge`] (never
    /// fits). Nothing is visible to the consumer until the grant is
    /// committed; dropping the grant gives the room back.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 128)?.split()?;
    /// let mut grant = tx.try_grant(10)?;
    /// grant.copy_from_slice(b"0123456789")?;
    /// grant.commit_all();
    /// assert_eq!(rx.try_recv(&mut [0; 16])?, 10);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    #[inline]
    pub fn try_grant(&mut self, len: usize) -> Result<Grant<'_, 'a, N>> {
        let reservation = self.reserve(len)?;
        Ok(Grant {
            end: self,
            span: reservation,
        })
    }

    /// Like [`try_grant`](Self::try_grant), waiting while the ring is full.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         for i in 0..100u8 {
    ///             let mut grant = tx.grant(20).unwrap();
    ///             grant.copy_from_slice(&[i; 20]).unwrap();
    ///             grant.commit_all();
    ///         }
    ///     });
    ///     let mut buf = [0; 24];
    ///     for i in 0..100u8 {
    ///         assert_eq!(rx.recv(&mut buf).unwrap(), 20);
    ///         assert_eq!(buf[..20], [i; 20]);
    ///     }
    /// });
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn grant(&mut self, len: usize) -> Result<Grant<'_, 'a, N>> {
        self.grant_timeout(len, None)
    }

    /// Like [`grant`](Self::grant), waiting at most `timeout` (`None`: no
    /// limit); [`Error::TimedOut`] when the ring stays full.
    pub fn grant_timeout(
        &mut self,
        len: usize,
        timeout: Option<Duration>,
    ) -> Result<Grant<'_, 'a, N>> {
        let reservation = self.wait(timeout, |p| p.reserve(len))?;
        Ok(Grant {
            end: self,
            span: reservation,
        })
    }

    /// Copies `frame` into the ring as one frame, or returns [`Error::Full`]
    /// or [`Error::FrameTooLarge`]. Empty frames are frames too.
    #[inline]
    pub fn try_send(&mut self, frame: &[u8]) -> Result<()> {
        let reservation = self.reserve(frame.len())?;
        self.write_and_commit(reservation, frame);
        Ok(())
    }

    /// Copies `frame` into the ring, waiting while it is full.
    pub fn send(&mut self, frame: &[u8]) -> Result<()> {
        self.send_timeout(frame, None)
    }

    /// Copies `frame` into the ring, waiting at most `timeout` while it is
    /// full; [`Error::TimedOut`] when it stays full.
    pub fn send_timeout(&mut self, frame: &[u8], timeout: Option<Duration>) -> Result<()> {
        let reservation = self.wait(timeout, |p| p.reserve(frame.len()))?;
        self.write_and_commit(reservation, frame);
        Ok(())
    }

    #[inline(always)]
    fn write_and_commit(&mut self, reservation: Span, frame: &[u8]) {
        // SAFETY: `reserve` found `len = frame.len()` bytes of payload room
        // after the record header at `offset`, inside the data area and free.
        unsafe { self.store_data(reservation.payload(), frame) };
        self.commit(reservation, reservation.len);
    }

    /// Writes the padding and record headers of `reservation` for a frame of
    /// `len <= reservation.len` bytes and publishes them with one `Release`
    /// store of `tail`, then wakes a sleeping consumer.
    #[inline(always)]
    pub(super) fn commit(&mut self, reservation: Span, len: u32) {
        if reservation.pad > 0 {
            let at = self.pos & (self.capacity() - 1);
            // SAFETY: the padding covers `at..capacity`, reserved and free;
            // a header needs 8 bytes and `pad >= 8` (positions are multiples
            // of 8).
            unsafe { self.store_header(at, PAD | reservation.pad) };
        }
        // SAFETY: the record's header is the first 8 reserved bytes at
        // `offset`.
        unsafe { self.store_header(reservation.offset, frame_word(len)) };
        self.advance(reservation.advance(len));
    }

    /// Stores a record header at `offset`: `word` and a zero claimant, as
    /// one unit of the grain on a 64-bit target (published with `tail`).
    ///
    /// # Safety
    /// `offset` is a multiple of 8 with `offset + 8 <= capacity`, and the
    /// index protocol gives the caller those bytes for writing.
    #[inline(always)]
    unsafe fn store_header(&self, offset: u32, word: u32) {
        let w = word.to_ne_bytes();
        let header = [w[0], w[1], w[2], w[3], 0, 0, 0, 0];
        // SAFETY: 8 aligned bytes in bounds and owned (caller contract); the
        // data area is 8-aligned (checked when the ring was placed).
        unsafe { super::bytes::store8(self.ring().data(), offset, header, super::GRAIN) }
    }
}

#[cfg(ipckit_cas)]
impl<N: crate::wait::AsyncNotify> Producer<'_, N> {
    /// Copies `frame` into the ring (`Ready(Ok(()))`), or, while it is
    /// full, registers the task's waker and returns `Pending`
    /// ([`crate::wait::waker`]). [`Error::FrameTooLarge`] is
    /// `Ready(Err(..))`. Cancellation: `Pending` sends nothing.
    pub fn poll_send(
        &mut self,
        cx: &mut core::task::Context<'_>,
        frame: &[u8],
    ) -> core::task::Poll<Result<()>> {
        self.poll_with(cx, |p| p.try_send(frame))
    }

    /// The future of [`poll_send`](Self::poll_send). Cancellation safe:
    /// dropped before it completes, it has sent nothing.
    pub async fn send_async(&mut self, frame: &[u8]) -> Result<()> {
        core::future::poll_fn(|cx| self.poll_send(cx, frame)).await
    }
}

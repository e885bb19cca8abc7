//! The reading end of the SPSC frame ring: locating, reading and releasing
//! frames.

use core::time::Duration;

use super::super::{Record, parse_record};
use super::{Consumer, ReadFrame, Span};
use crate::error::{Error, Result};
use crate::wait::Notify;

impl<'a, N: Notify> Consumer<'a, N> {
    /// The record header word at data offset `offset`.
    #[inline(always)]
    fn header_word(&self, offset: u32) -> u32 {
        // SAFETY: `offset` is a multiple of 8 below `capacity` (a local
        // invariant: `head` is 8-aligned and masked) in the 8-aligned data
        // area; the bytes are published (the caller saw `tail` beyond them).
        let h = unsafe { super::bytes::load8(self.ring().data(), offset, super::GRAIN) };
        u32::from_ne_bytes([h[0], h[1], h[2], h[3]])
    }

    /// Finds the oldest frame, skipping a padding record before it, or
    /// returns [`Error::Empty`]. Every header is validated once; after a
    /// bad one the cached `tail` is dropped, so that the next call reloads
    /// what may be a repaired index rather than trust the old one.
    #[inline]
    fn locate(&mut self) -> Result<Span> {
        let located = self.locate_validated();
        if located.is_err() {
            self.cached = self.pos;
        }
        located
    }

    #[inline(always)]
    fn locate_validated(&mut self) -> Result<Span> {
        let mut available = self.room_cached();
        if available == 0 {
            available = self.refresh()?;
            if available == 0 {
                return Err(Error::Empty);
            }
        }
        let capacity = self.capacity();
        let offset = self.pos & (capacity - 1);
        let (skipped, offset, readable) =
            match parse_record(self.header_word(offset), offset, capacity, available)? {
                Record::Frame { len, .. } => {
                    return Ok(Span {
                        pad: 0,
                        offset,
                        len,
                    });
                }
                Record::Padding { total } => (total, 0, available - total),
                Record::Busy { .. } => {
                    return Err(Error::Corrupted("busy record in an SPSC frame ring"));
                }
            };
        // A padding record is always followed by a frame at offset 0.
        match parse_record(self.header_word(offset), offset, capacity, readable)? {
            Record::Frame { len, .. } => Ok(Span {
                pad: skipped,
                offset,
                len,
            }),
            _ => Err(Error::Corrupted(
                "padding record is not followed by a frame",
            )),
        }
    }

    /// Borrows the oldest frame in place, or returns [`Error::Empty`]. The
    /// frame leaves the ring when the [`ReadFrame`] is
    /// [`release`](ReadFrame::release)d; dropped unreleased, it stays.
    #[inline]
    pub fn try_read(&mut self) -> Result<ReadFrame<'_, 'a, N>> {
        let located = self.locate()?;
        Ok(ReadFrame {
            end: self,
            span: located,
        })
    }

    /// Like [`try_read`](Self::try_read), waiting while the ring is empty.
    pub fn read(&mut self) -> Result<ReadFrame<'_, 'a, N>> {
        self.read_timeout(None)
    }

    /// Like [`read`](Self::read), waiting at most `timeout`; [`Error::TimedOut`]
    /// when the ring stays empty.
    pub fn read_timeout(&mut self, timeout: Option<Duration>) -> Result<ReadFrame<'_, 'a, N>> {
        let located = self.wait(timeout, |c| c.locate())?;
        Ok(ReadFrame {
            end: self,
            span: located,
        })
    }

    /// Copies the oldest frame into `buf` and removes it; returns its
    /// length, [`Error::Empty`], or [`Error::BufferTooSmall`] (the frame
    /// stays queued).
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// tx.try_send(b"0123456789")?;
    /// assert_eq!(rx.try_recv(&mut [0; 4]), Err(Error::BufferTooSmall { required: 10 }));
    /// assert_eq!(rx.try_recv(&mut [0; 10]), Ok(10)); // the frame stayed queued
    /// # Ok::<(), Error>(())
    /// ```
    #[inline]
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        let located = self.locate()?;
        self.copy_out(located, buf)
    }

    /// Like [`try_recv`](Self::try_recv), waiting while the ring is empty.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.recv_timeout(buf, None)
    }

    /// Like [`recv`](Self::recv), waiting at most `timeout`.
    pub fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        let located = self.wait(timeout, |c| c.locate())?;
        self.copy_out(located, buf)
    }

    #[inline(always)]
    fn copy_out(&mut self, located: Span, buf: &mut [u8]) -> Result<usize> {
        let len = located.len as usize;
        let Some(dst) = buf.get_mut(..len) else {
            return Err(Error::BufferTooSmall { required: len });
        };
        // SAFETY: `locate` validated the record: `len` payload bytes at
        // `offset` lie inside the data area and within the published range.
        unsafe { self.load_data(located.payload(), dst) };
        self.advance(located.advance(located.len));
        Ok(len)
    }
}

#[cfg(ipckit_cas)]
impl<N: crate::wait::AsyncNotify> Consumer<'_, N> {
    /// Copies the oldest frame into `buf` and removes it
    /// (`Ready(Ok(len))`), or, while the ring is empty, registers the
    /// task's waker and returns `Pending` ([`crate::wait::waker`]).
    /// [`Error::BufferTooSmall`] is `Ready(Err(..))` with the frame still
    /// queued. Cancellation: `Pending` removes nothing.
    ///
    /// ```
    /// use core::task::{Context, Poll, Waker};
    /// use ipckit_core::frame::spsc::StaticRing;
    /// use ipckit_core::wait::WakerPair;
    ///
    /// static RING: StaticRing<64> = StaticRing::with_wakes(true);
    /// static WAKERS: WakerPair = WakerPair::new();
    /// let mut rx = RING.ring().consumer_with(WAKERS.consumer())?;
    /// let mut tx = RING.ring().producer_with(WAKERS.producer())?;
    /// let mut cx = Context::from_waker(Waker::noop());
    /// let mut buf = [0; 8];
    /// assert!(rx.poll_recv(&mut cx, &mut buf).is_pending());
    /// tx.try_send(b"hi")?;
    /// assert_eq!(rx.poll_recv(&mut cx, &mut buf), Poll::Ready(Ok(2)));
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn poll_recv(
        &mut self,
        cx: &mut core::task::Context<'_>,
        buf: &mut [u8],
    ) -> core::task::Poll<Result<usize>> {
        self.poll_with(cx, |c| c.try_recv(buf))
    }

    /// The future of [`poll_recv`](Self::poll_recv). Cancellation safe:
    /// dropped before it completes, it has removed nothing.
    pub async fn recv_async(&mut self, buf: &mut [u8]) -> Result<usize> {
        core::future::poll_fn(|cx| self.poll_recv(cx, buf)).await
    }
}

//! The frame subscribers and members, and the in-place view of a frame:
//! the reader's half of the slots, through the shared cursor and seat.

use core::fmt;
use core::time::Duration;

use super::{FrameRing, SLOT_HEADER_LEN, in_frame};
use crate::broadcast::Start;
use crate::broadcast::subscriber::{Cursor, recv_blocking};
use crate::broadcast::table::Seat;
use crate::error::{Error, Result};
use crate::place::records::Width;
use crate::sync::Ordering;
use crate::wait::{Notify, Spin};

/// A subscriber of a lossy broadcast frame ring: every frame, in order,
/// unless it falls a lap behind ([`Error::Lagged`]); see
/// [`Subscriber`](crate::broadcast::Subscriber), whose position rules it
/// shares. A frame is copied out ([`try_recv_into`](Self::try_recv_into))
/// or read in place ([`try_read_with`](Self::try_read_with)). A clone is
/// a second subscriber at the same position.
///
/// ```
/// use ipckit_core::broadcast::frames::FrameRing;
/// use ipckit_core::{AlignedBytes, Error, Region};
///
/// let mut bytes = AlignedBytes::<512>::new();
/// let ring = FrameRing::init(Region::from_slice(&mut bytes[..]), 64, 32)?;
/// let mut tx = ring.publisher()?;
/// let mut rx = ring.subscriber()?;
/// tx.publish(b"abc")?;
/// assert_eq!(rx.try_recv_into(&mut [0; 2]), Err(Error::BufferTooSmall { required: 3 }));
/// let sum = rx.try_read_with(|frame| {
///     let mut b = [0u8; 3];
///     frame.copy_to(&mut b).map(|()| b.iter().map(|&x| u32::from(x)).sum::<u32>())
/// })?;
/// assert_eq!(sum, Ok(97 + 98 + 99)); // the closure's result, validated
/// for _ in 0..3 {
///     tx.publish(b"x")?; // two slots: "abc" was read, one "x" is lost
/// }
/// assert_eq!(rx.try_recv_into(&mut [0; 24]), Err(Error::Lagged(1)));
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone)]
pub struct FrameSubscriber<'a, N = Spin> {
    cur: Cursor<FrameRing<'a>>,
    notify: N,
}

// SAFETY: a ring handle (shared atomics), two local numbers, the notifier.
unsafe impl<N: Send> Send for FrameSubscriber<'_, N> {}

impl<'a, N: Notify> FrameSubscriber<'a, N> {
    /// A subscriber of `ring` at `start`.
    pub(super) fn new(ring: FrameRing<'a>, notify: N, start: Start) -> Self {
        Self {
            cur: Cursor::new(ring, start),
            notify,
        }
    }

    /// Copies the next frame into `buf` and returns its length, without
    /// waiting: [`Error::BufferTooSmall`] naming the frame's length if it
    /// does not fit (the frame stays next), [`Error::Empty`],
    /// [`Error::Lagged`], [`Error::Corrupted`] as for
    /// [`Subscriber::try_recv`](crate::broadcast::Subscriber::try_recv),
    /// and for a length word above the largest frame.
    #[inline]
    pub fn try_recv_into(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.cur.try_read(|_, pos| {
            move |ring: &FrameRing<'_>| {
                let frame = SharedFrame::of(ring, pos)?;
                let len = frame.len();
                let Some(dst) = buf.get_mut(..len) else {
                    return Err(Error::BufferTooSmall { required: len });
                };
                frame.copy_to(dst)?;
                Ok(len)
            }
        })
    }

    /// Reads the next frame in place: calls `read` with a view of it in
    /// the slot, and returns its result once the slot is checked to hold
    /// that frame still. `read` may see a torn frame (the publisher
    /// rewriting the slot a lap later): it must not act on what it reads
    /// before this call returns `Ok`; a torn read returns
    /// [`Error::Lagged`] and drops `read`'s result. Errors as
    /// [`try_recv_into`](Self::try_recv_into) (no `BufferTooSmall`).
    #[inline]
    pub fn try_read_with<R>(&mut self, read: impl FnOnce(&SharedFrame<'_>) -> R) -> Result<R> {
        self.cur.try_read(|_, pos| {
            move |ring: &FrameRing<'_>| SharedFrame::of(ring, pos).map(|frame| read(&frame))
        })
    }

    /// [`try_recv_into`](Self::try_recv_into), waiting while there is no
    /// frame (sleeping through the notifier, or spinning).
    pub fn recv_into(&mut self, buf: &mut [u8]) -> Result<usize> {
        let ring = self.cur.ring.clone();
        recv_blocking(self, &ring, |s| &s.notify, None, |s| s.try_recv_into(buf))
    }

    /// [`recv_into`](Self::recv_into) for at most `timeout`
    /// ([`Error::TimedOut`]).
    pub fn recv_into_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize> {
        let ring = self.cur.ring.clone();
        recv_blocking(
            self,
            &ring,
            |s| &s.notify,
            Some(timeout),
            |s| s.try_recv_into(buf),
        )
    }

    crate::broadcast::subscriber::position_accessors!(cur);

    /// The ring this subscriber reads.
    pub fn ring(&self) -> &FrameRing<'a> {
        &self.cur.ring
    }
}

impl<N> fmt::Debug for FrameSubscriber<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameSubscriber")
            .field("position", &self.cur.pos)
            .field("slots", &self.cur.ring.slots())
            .field("slot_size", &self.cur.ring.slot_size())
            .finish_non_exhaustive()
    }
}

/// A frame in its slot, as [`FrameSubscriber::try_read_with`] shows it:
/// its length and race-free copies of its bytes (relaxed atomic loads).
/// What it reads is checked only when `try_read_with` returns.
///
/// ```
/// use ipckit_core::broadcast::frames::FrameRing;
/// use ipckit_core::{AlignedBytes, Error, Region};
///
/// let mut bytes = AlignedBytes::<512>::new();
/// let ring = FrameRing::init(Region::from_slice(&mut bytes[..]), 64, 32)?;
/// let mut tx = ring.publisher()?;
/// let mut rx = ring.subscriber()?;
/// tx.publish(b"header:body")?;
/// let got = rx.try_read_with(|frame| {
///     let mut tag = [0u8; 4];
///     frame.read_at(7, &mut tag)?; // just the bytes wanted
///     Ok::<_, Error>((frame.len(), tag))
/// })??;
/// assert_eq!(got, (11, *b"body"));
/// # Ok::<(), Error>(())
/// ```
pub struct SharedFrame<'r> {
    ring: &'r FrameRing<'r>,
    /// Byte offset of the frame in the data area.
    off: u32,
    len: u32,
}

impl fmt::Debug for SharedFrame<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedFrame")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl<'r> SharedFrame<'r> {
    /// The frame in the slot of `pos`: its length loaded once and checked
    /// against the largest frame ([`Error::Corrupted`]).
    #[inline(always)]
    fn of(ring: &'r FrameRing<'r>, pos: u32) -> Result<Self> {
        let len = ring.length(pos).load(Ordering::Relaxed);
        if len > ring.max_frame() {
            return Err(Error::Corrupted("broadcast frame length exceeds its slot"));
        }
        Ok(Self {
            ring,
            off: ring.slot_offset(pos) + SLOT_HEADER_LEN,
            len,
        })
    }

    /// The frame's length in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// `true` for an empty frame.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies the whole frame to the start of `dst`:
    /// [`Error::BufferTooSmall`] if it is shorter than the frame.
    #[inline]
    pub fn copy_to(&self, dst: &mut [u8]) -> Result<()> {
        let Some(dst) = dst.get_mut(..self.len()) else {
            return Err(Error::BufferTooSmall {
                required: self.len(),
            });
        };
        self.read_at(0, dst)
    }

    /// Copies `dst.len()` bytes of the frame from `offset`:
    /// [`Error::OutOfRange`] past its end (nothing read).
    #[inline]
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) -> Result<()> {
        let offset = in_frame(offset, dst.len(), self.len())?;
        // SAFETY: `off + offset + dst.len() <= slot + slot_size <=
        // capacity` (the length was checked against the largest frame);
        // the loads may race the publisher's next lap, at the width it
        // writes with, and the caller's stamp re-check decides.
        unsafe { self.ring.copy_out_as(self.off + offset, dst, Width::Word) };
        Ok(())
    }
}

/// A member of a broadcast frame ring's subscriber table: it reads like a
/// [`FrameSubscriber`] and publishes its position, so that a
/// [`ReliableFramePublisher`](super::ReliableFramePublisher) never
/// overwrites a frame it has not read; see
/// [`Member`](crate::broadcast::Member). Dropping it frees its entry.
///
/// ```
/// use ipckit_core::broadcast::frames::FrameRing;
/// use ipckit_core::broadcast::{Options, Policy, Start};
/// use ipckit_core::{AlignedBytes, Error, Region};
///
/// let options = Options::new(128).slot_size(32).subscribers(2).policy(Policy::Reliable);
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = FrameRing::init_with(Region::from_slice(&mut bytes[..]), options)?;
/// let mut tx = ring.reliable_publisher()?;
/// let mut rx = ring.join(Start::Next)?;
/// std::thread::scope(|s| {
///     s.spawn(move || {
///         let mut buf = [0u8; 24];
///         for i in 0..100u8 {
///             let len = rx.recv_into(&mut buf).unwrap(); // every frame
///             assert_eq!(&buf[..len], &[i; 24][..usize::from(i % 25)]);
///         }
///     });
///     for i in 0..100u8 {
///         tx.publish(&[i; 24][..usize::from(i % 25)]).unwrap(); // waits for rx
///     }
/// });
/// # Ok::<(), Error>(())
/// ```
pub struct FrameMember<'a, N: Notify = Spin> {
    sub: FrameSubscriber<'a, N>,
    seat: Seat,
}

// SAFETY: as for `FrameSubscriber`; the entry index is a local number.
unsafe impl<N: Notify + Send> Send for FrameMember<'_, N> {}

impl<N: Notify> fmt::Debug for FrameMember<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.seat
            .debug(&mut f.debug_struct("FrameMember"), self.sub.position())
            .finish_non_exhaustive()
    }
}

impl<'a, N: Notify> FrameMember<'a, N> {
    /// Joins `ring` (module docs of [`crate::broadcast`], "Joining").
    pub(super) fn join(ring: &FrameRing<'a>, notify: N, start: Start) -> Result<Self> {
        let (seat, cur) = Seat::join(ring, &notify, start)?;
        Ok(Self {
            sub: FrameSubscriber { cur, notify },
            seat,
        })
    }

    /// [`FrameSubscriber::try_recv_into`], publishing the position.
    #[inline]
    pub fn try_recv_into(&mut self, buf: &mut [u8]) -> Result<usize> {
        let got = self.sub.try_recv_into(buf);
        self.seat.after(&self.sub.cur, &self.sub.notify, &got);
        got
    }

    /// [`FrameSubscriber::try_read_with`], publishing the position.
    #[inline]
    pub fn try_read_with<R>(&mut self, read: impl FnOnce(&SharedFrame<'_>) -> R) -> Result<R> {
        let got = self.sub.try_read_with(read);
        self.seat.after(&self.sub.cur, &self.sub.notify, &got);
        got
    }

    /// [`try_recv_into`](Self::try_recv_into), waiting while there is no
    /// frame.
    pub fn recv_into(&mut self, buf: &mut [u8]) -> Result<usize> {
        let ring = self.sub.cur.ring.clone();
        recv_blocking(
            self,
            &ring,
            |m| &m.sub.notify,
            None,
            |m| m.try_recv_into(buf),
        )
    }

    /// [`recv_into`](Self::recv_into) for at most `timeout`.
    pub fn recv_into_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize> {
        let ring = self.sub.cur.ring.clone();
        recv_blocking(
            self,
            &ring,
            |m| &m.sub.notify,
            Some(timeout),
            |m| m.try_recv_into(buf),
        )
    }

    /// This member's entry in the table.
    #[must_use]
    pub fn index(&self) -> u32 {
        self.seat.index
    }

    crate::broadcast::subscriber::position_accessors!(sub.cur);

    /// The ring this member reads.
    pub fn ring(&self) -> &FrameRing<'a> {
        self.sub.ring()
    }
}

impl<N: Notify> Drop for FrameMember<'_, N> {
    fn drop(&mut self) {
        self.seat.leave(self.sub.ring(), &self.sub.notify);
    }
}

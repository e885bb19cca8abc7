//! A subscriber of a byte topic: the core frame subscriber or member with
//! the shared record, join and receive loop of the topic internals.

use std::time::{Duration, Instant};

use ipckit_core::broadcast::frames::{FrameRing, SharedFrame};

use super::BytesTopic;
use crate::channel::until;
use crate::error::{CoreError, Error, Result};
use crate::pubsub::Start;
use crate::pubsub::base::{Reader, Reading, reader};

/// A subscriber of a [byte topic](mod@crate::pubsub#byte-messages): every frame published after its
/// start, in order, unless it falls a lap behind ([`Error::Lagged`]`(n)`
/// once, then the oldest frame left); [`Error::PeerGone`] once the
/// publisher is gone and every frame is read, as the typed
/// [`Subscriber`](crate::pubsub::Subscriber).
///
/// A frame is copied out ([`try_recv_into`](Self::try_recv_into),
/// [`recv_into`](Self::recv_into), [`recv`](Self::recv) into a `Vec`) or
/// read in place ([`try_read_with`](Self::try_read_with)). A buffer too
/// small for the next frame is an error naming the topic and the length
/// needed ([`CoreError::BufferTooSmall`](crate::CoreError::BufferTooSmall));
/// the frame stays next.
///
/// ```
/// use ipckit::pubsub;
///
/// let name = format!("doc-bytes-subscriber-{}", std::process::id());
/// let topic = pubsub::bytes(&name).capacity(64).max_frame(24).create()?;
/// let mut tx = topic.publisher()?;
/// let mut rx = topic.subscriber()?;
/// tx.publish(b"abc")?;
/// let err = rx.try_recv_into(&mut [0; 2]).unwrap_err();
/// assert!(err.to_string().contains("needs 3 bytes"));
/// let sum = rx.try_read_with(|frame| {
///     let mut b = [0u8; 3];
///     frame.copy_to(&mut b).map(|()| b.iter().map(|&x| u32::from(x)).sum::<u32>())
/// })?;
/// assert_eq!(sum, Ok(97 + 98 + 99)); // the closure's result, validated
/// for _ in 0..3 {
///     tx.publish(b"x")?; // two slots: one "x" is lost
/// }
/// assert!(matches!(rx.try_recv_into(&mut [0; 24]), Err(ipckit::Error::Lagged(1))));
/// drop(tx);
/// let mut buf = Vec::new();
/// assert_eq!((rx.recv(&mut buf)?, rx.recv(&mut buf)?), (1, 1)); // the two left
/// assert!(rx.recv(&mut buf).unwrap_err().is_peer_gone());
/// pubsub::remove(&name)?;
/// # Ok::<(), ipckit::Error>(())
/// ```
pub struct BytesSubscriber {
    // Drop order: the core end, its record and liveness slot, then the
    // mapping goes.
    inner: Reading<FrameRing<'static>>,
    topic: BytesTopic,
}

impl std::fmt::Debug for BytesSubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("pubsub::BytesSubscriber")
            .field("topic", &self.topic)
            .field("position", &self.position())
            .finish_non_exhaustive()
    }
}

/// The frame receives of either core end.
impl Reader<FrameRing<'static>> {
    fn try_recv_into(&mut self, buf: &mut [u8]) -> ipckit_core::Result<usize> {
        reader!(self, e => e.try_recv_into(buf))
    }
    fn recv_into_for(&mut self, buf: &mut [u8], t: Option<Duration>) -> ipckit_core::Result<usize> {
        match t {
            None => reader!(self, e => e.recv_into(buf)),
            Some(t) => reader!(self, e => e.recv_into_timeout(buf, t)),
        }
    }
    fn position(&self) -> u32 {
        reader!(self, e => e.position())
    }
    fn len(&self) -> usize {
        reader!(self, e => e.len())
    }
}

impl BytesSubscriber {
    pub(super) fn new(topic: BytesTopic, start: Start) -> Result<Self> {
        let inner = Reading::new(&topic.base, start)?;
        Ok(Self { inner, topic })
    }

    /// The error `e`, naming the topic unless it is a flow condition.
    fn named(&self, e: Error) -> Error {
        self.topic.base.named(e)
    }

    /// Copies the next frame into `buf` and returns its length, at once:
    /// [`Error::Empty`], [`Error::Lagged`], [`Error::PeerGone`] as
    /// [`Subscriber::try_recv`](crate::pubsub::Subscriber::try_recv); a
    /// `buf` too short for the frame is an error naming the topic and the
    /// length needed (nothing lost).
    #[inline]
    pub fn try_recv_into(&mut self, buf: &mut [u8]) -> Result<usize> {
        let got = self.inner.try_with(|e| e.try_recv_into(buf));
        got.map_err(|e| self.named(e))
    }

    /// [`try_recv_into`](Self::try_recv_into), waiting while there is no
    /// frame (a short spin, then a sleep the next publication ends).
    pub fn recv_into(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.recv_into_within(buf, None)
    }

    /// [`recv_into`](Self::recv_into), waiting at most `timeout`
    /// ([`Error::TimedOut`]).
    pub fn recv_into_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize> {
        self.recv_into_within(buf, Some(timeout))
    }

    /// [`recv_into`](Self::recv_into) until `deadline` at the latest.
    pub fn recv_into_deadline(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize> {
        self.recv_into_timeout(buf, until(deadline))
    }

    fn recv_into_within(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        let got = self
            .inner
            .wait_with(timeout, |e, t| e.recv_into_for(buf, t));
        got.map_err(|e| self.named(e))
    }

    /// The next frame into `buf` (its old contents replaced; grown to the
    /// largest frame once, so no allocation after the first call), waiting
    /// as [`recv_into`](Self::recv_into): the frame's length.
    pub fn recv(&mut self, buf: &mut Vec<u8>) -> Result<usize> {
        buf.resize(self.topic.max_frame() as usize, 0);
        let got = self.recv_into(buf);
        buf.truncate(*got.as_ref().unwrap_or(&0));
        got
    }

    /// Reads the next frame in place, at once: calls `read` (once) with a view
    /// of it in its slot and returns its result once the slot is checked
    /// to hold that frame still. `read` may see a torn frame (the
    /// publisher a lap ahead): it must not act on what it reads before
    /// this returns `Ok`; a torn read is [`Error::Lagged`]. Errors as
    /// [`try_recv_into`](Self::try_recv_into) (no short buffer).
    #[inline]
    pub fn try_read_with<R>(&mut self, mut read: impl FnMut(&Frame<'_>) -> R) -> Result<R> {
        // `read` runs at most once: a second look (the publisher closed)
        // follows only a first that found nothing.
        let got = self
            .inner
            .try_with(|e| reader!(e, e => e.try_read_with(|f| read(&Frame(Some(f))))));
        got.map_err(|e| self.named(e))
    }

    /// [`try_read_with`](Self::try_read_with), waiting at most `timeout`
    /// while there is no frame ([`Error::TimedOut`]; `PeerGone` as
    /// [`recv_into`](Self::recv_into)). `read` runs once, on the frame in
    /// its slot (an empty frame: on an empty [`Frame`]).
    pub fn read_with_timeout<R>(
        &mut self,
        timeout: Duration,
        mut read: impl FnMut(&Frame<'_>) -> R,
    ) -> Result<R> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            match self.try_read_with(&mut read) {
                Err(Error::Empty) => {}
                other => return other,
            }
            let left = deadline.map_or(timeout, until);
            if left.is_zero() {
                return Err(Error::TimedOut);
            }
            // Waits for a frame without taking it: a non-empty one is too
            // long for no bytes (it stays next); an empty one is taken.
            let waited = self
                .inner
                .wait_with(Some(left), |e, t| e.recv_into_for(&mut [], t));
            match waited {
                Ok(_) => return Ok(read(&Frame(None))),
                Err(Error::Core(CoreError::BufferTooSmall { .. })) => {}
                Err(e) => return Err(self.named(e)),
            }
        }
    }

    /// The largest frame of the topic.
    pub fn max_frame(&self) -> u32 {
        self.topic.max_frame()
    }

    crate::pubsub::accessors::subscriber_accessors!(BytesTopic);
}

/// A frame in its slot, as [`BytesSubscriber::try_read_with`] and
/// [`read_with_timeout`](BytesSubscriber::read_with_timeout) show it: its
/// length and race-free copies of its bytes (the core's
/// [`SharedFrame`]). What it reads is checked only when the read returns.
///
/// ```
/// use std::time::Duration;
/// use ipckit::pubsub;
///
/// let name = format!("doc-bytes-frame-{}", std::process::id());
/// let topic = pubsub::bytes(&name).max_frame(56).create()?;
/// let mut tx = topic.publisher()?;
/// let mut rx = topic.subscriber()?;
/// tx.publish(b"header:body")?;
/// tx.publish(b"")?;
/// let got = rx.read_with_timeout(Duration::from_secs(1), |frame| {
///     let mut tag = [0u8; 4];
///     frame.read_at(7, &mut tag).map(|()| (frame.len(), tag))
/// })?;
/// assert_eq!(got?, (11, *b"body"));
/// assert_eq!(rx.read_with_timeout(Duration::from_secs(1), |f| f.len())?, 0);
/// pubsub::remove(&name)?;
/// # Ok::<(), ipckit::Error>(())
/// ```
pub struct Frame<'f>(Option<&'f SharedFrame<'f>>);

impl std::fmt::Debug for Frame<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("pubsub::Frame")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl Frame<'_> {
    /// The frame's length in bytes.
    pub fn len(&self) -> usize {
        self.0.map_or(0, SharedFrame::len)
    }

    /// `true` for an empty frame.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies the whole frame to the start of `dst`:
    /// [`CoreError::BufferTooSmall`] if it is shorter than the frame.
    pub fn copy_to(&self, dst: &mut [u8]) -> ipckit_core::Result<()> {
        self.0.map_or(Ok(()), |f| f.copy_to(dst))
    }

    /// Copies `dst.len()` bytes of the frame from `offset`:
    /// [`CoreError::OutOfRange`] past its end (nothing read).
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) -> ipckit_core::Result<()> {
        match self.0 {
            Some(f) => f.read_at(offset, dst),
            None => match offset.saturating_add(dst.len()) {
                0 => Ok(()),
                end => Err(CoreError::OutOfRange { end, len: 0 }),
            },
        }
    }
}

//! The publishers of a byte topic and their loans: the core's frame
//! publishers with the liveness record, the names in errors and (reliable
//! policy) the release of dead subscribers, all from the shared topic
//! internals.

use std::time::{Duration, Instant};

use ipckit_core::broadcast::frames::{FrameLoan, FramePublisher, ReliableFramePublisher};

use super::BytesTopic;
use crate::channel::liveness::Membership;
use crate::channel::until;
use crate::error::{CoreError, Result};
use crate::futex::Futex;
use crate::pubsub::base::{Judge, publish_waiting};

/// The one publisher of a lossy [byte topic](mod@crate::pubsub#byte-messages): publications never
/// wait; subscribers a lap behind lose the oldest frames and are told
/// how many.
///
/// ```
/// use ipckit::pubsub;
///
/// let name = format!("doc-bytes-publisher-{}", std::process::id());
/// let topic = pubsub::bytes(&name).max_frame(56).create()?;
/// let mut tx = topic.publisher()?;
/// let mut rx = topic.subscriber()?;
/// tx.publish(&[1, 2, 3])?;
/// let err = tx.publish(&[0; 57]).unwrap_err(); // too long: nothing published
/// assert!(err.to_string().contains("doc-bytes-publisher"));
/// let mut buf = [0u8; 56];
/// assert_eq!(rx.try_recv_into(&mut buf)?, 3);
/// assert!(rx.try_recv_into(&mut buf).unwrap_err().is_empty());
/// pubsub::remove(&name)?;
/// # Ok::<(), ipckit::Error>(())
/// ```
pub struct BytesPublisher {
    // Field order is drop order, as for the typed publisher.
    end: FramePublisher<'static, Futex>,
    member: Membership,
    topic: BytesTopic,
}

impl std::fmt::Debug for BytesPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("pubsub::BytesPublisher")
            .field("topic", &self.topic)
            .field("position", &self.end.position())
            .finish_non_exhaustive()
    }
}

impl BytesPublisher {
    pub(super) fn new(topic: BytesTopic, take_over: bool) -> Result<Self> {
        let (end, member) = topic
            .base
            .claim_publisher(take_over, |r, n| r.publisher_with(n))?;
        Ok(Self { end, member, topic })
    }

    /// Publishes `frame` (a copy into its slot): an error naming the topic
    /// ([`CoreError::FrameTooLarge`]) if it is longer than
    /// [`max_frame`](Self::max_frame), nothing published. Never waits.
    #[inline]
    pub fn publish(&mut self, frame: &[u8]) -> Result<()> {
        let published = self.end.publish(frame);
        published.map_err(|e| self.topic.base.named(e.into()))
    }

    /// Opens the next slot for a frame of `len` bytes, written in place
    /// through the [`Loan`] and published by [`Loan::publish`]. The
    /// slot's old frame is lost now (subscribers a lap behind lag past it),
    /// whether the loan is published or dropped.
    #[inline]
    pub fn loan(&mut self, len: usize) -> Result<Loan<'_>> {
        let inner = self.end.loan(len);
        Loan::of(inner, &self.topic)
    }

    /// The largest frame.
    pub fn max_frame(&self) -> u32 {
        self.end.max_frame()
    }

    crate::pubsub::accessors::publisher_accessors!(BytesTopic);
}

/// The one publisher of a [reliable](crate::pubsub::Policy::Reliable) byte
/// topic: it never overwrites a frame a live subscriber has not read; as
/// the typed [`ReliablePublisher`](crate::pubsub::ReliablePublisher)
/// (dead subscribers released when seen, free publication with none).
/// A [`try_loan`](Self::try_loan) that finds the ring full judges the
/// table on the next call (at most once a millisecond).
///
/// ```
/// use ipckit::pubsub::{self, Policy};
///
/// let name = format!("doc-bytes-reliable-{}", std::process::id());
/// let topic = pubsub::bytes(&name).capacity(64).max_frame(24).subscribers(2)
///     .policy(Policy::Reliable).create()?;
/// let mut tx = topic.reliable_publisher()?;
/// let mut rx = topic.subscriber()?;
/// tx.try_publish(b"one")?;
/// let mut loan = tx.try_loan(3)?;
/// // SAFETY: reliable: no honest subscriber reads an open slot (trusted peers).
/// unsafe { loan.as_mut_slice() }.copy_from_slice(b"two");
/// loan.publish();
/// assert!(tx.try_publish(b"three").unwrap_err().is_full()); // two slots
/// let mut buf = Vec::new();
/// assert_eq!(rx.recv(&mut buf)?, 3);
/// tx.publish(b"three")?; // room again
/// pubsub::remove(&name)?;
/// # Ok::<(), ipckit::Error>(())
/// ```
pub struct ReliableBytesPublisher {
    // Field order is drop order, as for the typed publisher.
    end: ReliableFramePublisher<'static, Futex>,
    member: Membership,
    topic: BytesTopic,
    judge: Judge,
    /// The last `try_loan` found the ring full.
    full: bool,
}

impl std::fmt::Debug for ReliableBytesPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("pubsub::ReliableBytesPublisher")
            .field("topic", &self.topic)
            .field("position", &self.end.position())
            .finish_non_exhaustive()
    }
}

impl ReliableBytesPublisher {
    pub(super) fn new(topic: BytesTopic, take_over: bool) -> Result<Self> {
        let (end, member) = topic
            .base
            .claim_publisher(take_over, |r, n| r.reliable_publisher_with(n))?;
        Ok(Self {
            end,
            member,
            topic,
            judge: Judge::default(),
            full: false,
        })
    }

    /// Publishes `frame` if every live subscriber has read the frame it
    /// overwrites; [`Error::Full`](crate::Error::Full) if not, or too long
    /// (nothing written either way).
    pub fn try_publish(&mut self, frame: &[u8]) -> Result<()> {
        let (end, base) = (&mut self.end, &self.topic.base);
        self.judge
            .try_twice(base, &self.member, || end.try_publish(frame))
    }

    /// Publishes `frame`, waiting while the slowest live subscriber is a
    /// whole ring behind.
    pub fn publish(&mut self, frame: &[u8]) -> Result<()> {
        self.publish_within(frame, None)
    }

    /// [`publish`](Self::publish) for at most `timeout`
    /// ([`Error::TimedOut`](crate::Error::TimedOut), nothing written).
    pub fn publish_timeout(&mut self, frame: &[u8], timeout: Duration) -> Result<()> {
        self.publish_within(frame, Some(timeout))
    }

    fn publish_within(&mut self, frame: &[u8], timeout: Option<Duration>) -> Result<()> {
        let published = publish_waiting(
            self,
            timeout,
            |s, t| match t {
                None => s.end.publish(frame),
                Some(t) => s.end.publish_timeout(frame, t),
            },
            |s| s.topic.base.release_dead(&s.member),
        );
        published.map_err(|e| self.topic.base.named(e))
    }

    /// [`BytesPublisher::loan`] if every live subscriber has read the
    /// frame the slot holds: [`Error::Full`](crate::Error::Full) if not.
    pub fn try_loan(&mut self, len: usize) -> Result<Loan<'_>> {
        if self.full {
            self.judge.release_if_due(&self.topic.base, &self.member)?;
        }
        let inner = self.end.try_loan(len);
        self.full = matches!(inner, Err(CoreError::Full));
        Loan::of(inner, &self.topic)
    }

    /// [`try_loan`](Self::try_loan), waiting while the ring is full.
    pub fn loan(&mut self, len: usize) -> Result<Loan<'_>> {
        self.loan_within(len, None)
    }

    /// [`loan`](Self::loan) for at most `timeout`
    /// ([`Error::TimedOut`](crate::Error::TimedOut)).
    pub fn loan_timeout(&mut self, len: usize, timeout: Duration) -> Result<Loan<'_>> {
        self.loan_within(len, Some(timeout))
    }

    /// Waits for room with the shared loop (a loan opened and dropped:
    /// the slot's frame was read by every member, so nothing is lost but
    /// the old frame a subscriber joining at the oldest might have read),
    /// then loans; a subscriber that joined meanwhile and holds the ring
    /// full again is waited for by the core alone.
    fn loan_within(&mut self, len: usize, timeout: Option<Duration>) -> Result<Loan<'_>> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let room = publish_waiting(
            self,
            timeout,
            |s, t| match t {
                None => s.end.loan(len).map(drop),
                Some(t) => s.end.loan_timeout(len, t).map(drop),
            },
            |s| s.topic.base.release_dead(&s.member),
        );
        room.map_err(|e| self.topic.base.named(e))?;
        let inner = match deadline {
            None => self.end.loan(len),
            Some(d) => self.end.loan_timeout(len, until(d)),
        };
        Loan::of(inner, &self.topic)
    }

    /// The largest frame.
    pub fn max_frame(&self) -> u32 {
        self.end.max_frame()
    }

    crate::pubsub::accessors::publisher_accessors!(BytesTopic);
}

/// A slot of a byte topic opened for one frame of [`len`](Self::len)
/// bytes: write the frame in place, then [`publish`](Self::publish) it (or
/// [`publish_first`](Self::publish_first) of its bytes). Dropped
/// unpublished, it publishes nothing. [`write_at`](Self::write_at) is
/// always sound; the raw views are for the reliable policy or
/// subscribers trusted to keep up (the core's
/// [`FrameLoan`](ipckit_core::broadcast::frames::FrameLoan) has the rule).
///
/// ```
/// use ipckit::pubsub;
///
/// let name = format!("doc-bytes-loan-{}", std::process::id());
/// let topic = pubsub::bytes(&name).max_frame(56).create()?;
/// let mut tx = topic.publisher()?;
/// let mut rx = topic.subscriber()?;
/// drop(tx.loan(8)?); // nothing published
/// let mut loan = tx.loan(56)?;
/// loan.write_at(0, b"head")?;
/// assert!(loan.write_at(55, b"xy").is_err()); // past the frame: nothing written
/// loan.publish_first(4)?;
/// let mut buf = Vec::new();
/// assert_eq!(rx.recv(&mut buf)?, 4);
/// assert_eq!(buf, b"head");
/// pubsub::remove(&name)?;
/// # Ok::<(), ipckit::Error>(())
/// ```
#[must_use = "a loan publishes nothing unless `publish` is called"]
pub struct Loan<'p> {
    inner: FrameLoan<'p, 'static, Futex>,
    topic: &'p BytesTopic,
}

impl std::fmt::Debug for Loan<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("pubsub::Loan")
            .field("loan", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<'p> Loan<'p> {
    /// The loan of a core loan, its error naming `topic`.
    fn of(
        inner: ipckit_core::Result<FrameLoan<'p, 'static, Futex>>,
        topic: &'p BytesTopic,
    ) -> Result<Self> {
        match inner {
            Ok(inner) => Ok(Self { inner, topic }),
            Err(e) => Err(topic.base.named(e.into())),
        }
    }

    /// The frame's length: the bytes this loan may write.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// `true` for a loan of an empty frame.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Copies `bytes` into the frame at `offset` (atomic word stores):
    /// [`CoreError::OutOfRange`] naming the topic past [`len`](Self::len),
    /// nothing written.
    #[inline]
    pub fn write_at(&mut self, offset: usize, bytes: &[u8]) -> Result<()> {
        let written = self.inner.write_at(offset, bytes);
        written.map_err(|e| self.topic.base.named(e.into()))
    }

    /// [`write_at`](Self::write_at)`(0, bytes)`.
    pub fn copy_from_slice(&mut self, bytes: &[u8]) -> Result<()> {
        self.write_at(0, bytes)
    }

    /// The frame's first byte in the mapping, for writes by other means;
    /// plain stores through it race lagging subscribers' copies on a lossy
    /// topic (see the type docs).
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.inner.as_mut_ptr()
    }

    /// The frame as a mutable slice of the mapping.
    ///
    /// # Safety
    /// As the core's [`FrameLoan::as_mut_slice`]: no other side may read
    /// the slot while the slice lives (sound on a reliable topic with
    /// honest subscribers, or with subscribers trusted to keep up).
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the caller's contract is the core's.
        unsafe { self.inner.as_mut_slice() }
    }

    /// Publishes the frame: all [`len`](Self::len) bytes.
    #[inline]
    pub fn publish(self) {
        self.inner.publish();
    }

    /// Publishes the first `len` bytes only: [`CoreError::OutOfRange`]
    /// naming the topic past [`len`](Self::len) (nothing published).
    pub fn publish_first(self, len: usize) -> Result<()> {
        let topic = self.topic;
        self.inner
            .publish_first(len)
            .map_err(|e| topic.base.named(e.into()))
    }
}

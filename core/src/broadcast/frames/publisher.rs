//! The frame publishers and their loans: the writer's half of the slots,
//! through the shared `open` / `commit` of the Pod publisher.

use core::fmt;
use core::time::Duration;

use super::{FrameRing, FrameSlots, SLOT_HEADER_LEN, fits, in_frame};
use crate::broadcast::access::Access;
use crate::broadcast::publisher::{commit, open};
use crate::broadcast::reliable::{Gate, wait_for_room};
use crate::error::{Error, Result};
use crate::place::Claim;
use crate::place::records::Width;
use crate::sync::Ordering;
use crate::wait::{Notify, Spin};

/// The one publisher of a lossy broadcast frame ring: publications never
/// wait; subscribers a lap behind lose the oldest frames and are told how
/// many. It holds the publisher role, given back when it is dropped.
///
/// ```
/// use ipckit_core::broadcast::frames::FrameRing;
/// use ipckit_core::{AlignedBytes, Error, Region};
///
/// let mut bytes = AlignedBytes::<512>::new();
/// let ring = FrameRing::init(Region::from_slice(&mut bytes[..]), 256, 32)?;
/// let mut tx = ring.publisher()?;
/// let mut rx = ring.subscriber()?;
/// // In place: loan a slot, write the frame into it, publish.
/// let mut loan = tx.loan(5)?;
/// loan.write_at(0, b"he")?;
/// loan.write_at(2, b"llo")?;
/// loan.publish();
/// let mut buf = [0u8; 24];
/// assert_eq!(rx.try_recv_into(&mut buf), Ok(5));
/// assert_eq!(&buf[..5], b"hello");
/// # Ok::<(), Error>(())
/// ```
pub struct FramePublisher<'a, N = Spin> {
    ring: FrameRing<'a>,
    /// Holds the role; given back on drop.
    _claim: Claim<'a, FrameSlots>,
    /// The next position to write (`tail` as this side published it).
    pos: u32,
    notify: N,
}

// SAFETY: the publisher is the one writer of the ring; moving it to another
// thread moves the role with it, and the notifier moves along.
unsafe impl<N: Send> Send for FramePublisher<'_, N> {}

impl<N> fmt::Debug for FramePublisher<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FramePublisher")
            .field("position", &self.pos)
            .field("ring", &self.ring)
            .finish_non_exhaustive()
    }
}

impl<'a, N: Notify> FramePublisher<'a, N> {
    /// The publisher of a claimed ring, resuming at the published `tail`.
    pub(super) fn new(ring: FrameRing<'a>, claim: Claim<'a, FrameSlots>, notify: N) -> Self {
        // The claim's Acquire orders this load after the previous holder's
        // release; any value is a valid position.
        let pos = ring.word(crate::place::TAIL).load(Ordering::Relaxed);
        Self {
            ring,
            _claim: claim,
            pos,
            notify,
        }
    }

    /// Publishes `frame` at the next position (a copy into the slot):
    /// [`Error::FrameTooLarge`] if it is longer than
    /// [`max_frame`](Self::max_frame) (nothing written). Never waits.
    #[inline]
    pub fn publish(&mut self, frame: &[u8]) -> Result<()> {
        fill(self.loan(frame.len())?, frame)
    }

    /// Opens the slot of the next position for a frame of `len` bytes,
    /// written in place through the [`FrameLoan`] and made visible by its
    /// [`publish`](FrameLoan::publish). [`Error::FrameTooLarge`] if `len`
    /// is more than [`max_frame`](Self::max_frame). The slot's old frame
    /// is destroyed now: subscribers a lap behind lag past it, whether the
    /// loan is published or dropped.
    #[inline]
    pub fn loan(&mut self, len: usize) -> Result<FrameLoan<'_, 'a, N>> {
        let len = fits(len, self.max_frame())?;
        open(&self.ring, self.pos);
        Ok(FrameLoan {
            publisher: self,
            len,
        })
    }

    /// The largest frame: `slot_size - 8` bytes.
    #[must_use]
    pub fn max_frame(&self) -> u32 {
        self.ring.max_frame()
    }

    /// The next position this publisher writes (the ring's `tail`).
    #[must_use]
    pub fn position(&self) -> u32 {
        self.pos
    }

    /// The ring this publisher writes (for more subscribers).
    pub fn ring(&self) -> &FrameRing<'a> {
        &self.ring
    }

    crate::place::test_hook! {
        /// For tests and loom models: loans a slot for `frame`, writes it
        /// and dies before publishing, as a publisher killed mid-write:
        /// the slot says "being written", `tail` is unmoved and the role
        /// stays claimed.
        #[doc(hidden)]
        pub fn publish_and_die(mut self, frame: &[u8]) {
            if let Ok(mut loan) = self.loan(frame.len()) {
                let _ = loan.write_at(0, frame);
            }
            core::mem::forget(self);
        }
    }
}

/// A slot of a broadcast frame ring opened for one frame of
/// [`len`](Self::len) bytes: write the frame in place, then
/// [`publish`](Self::publish) it (or [`publish_first`](Self::publish_first)
/// of its bytes). Dropped unpublished, it publishes nothing and the ring
/// stays consistent: the slot says "being written", which no subscriber
/// returns, and the next loan rewrites it at the same position.
///
/// [`write_at`](Self::write_at) is always sound. The raw views
/// ([`as_mut_ptr`](Self::as_mut_ptr), [`as_mut_slice`](Self::as_mut_slice))
/// are for the reliable policy or trusted subscribers: in a lossy ring a
/// subscriber that lags a whole lap may copy the slot while it is written
/// (and then discard the copy), which races plain stores.
///
/// ```
/// use ipckit_core::broadcast::frames::FrameRing;
/// use ipckit_core::{AlignedBytes, Error, Region};
///
/// let mut bytes = AlignedBytes::<512>::new();
/// let ring = FrameRing::init(Region::from_slice(&mut bytes[..]), 256, 64)?;
/// let mut tx = ring.publisher()?;
/// let mut rx = ring.subscriber()?;
/// drop(tx.loan(8)?); // nothing published
/// assert_eq!(rx.try_recv_into(&mut [0; 56]), Err(Error::Empty));
/// let mut loan = tx.loan(56)?;
/// loan.copy_from_slice(b"short")?;
/// loan.publish_first(5)?; // only the bytes written
/// let mut buf = [0u8; 56];
/// assert_eq!(rx.try_recv_into(&mut buf), Ok(5));
/// assert_eq!(&buf[..5], b"short");
/// # Ok::<(), Error>(())
/// ```
#[must_use = "a loan publishes nothing unless `publish` is called"]
pub struct FrameLoan<'p, 'a, N = Spin> {
    publisher: &'p mut FramePublisher<'a, N>,
    len: u32,
}

impl<N> fmt::Debug for FrameLoan<'_, '_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameLoan")
            .field("position", &self.publisher.pos)
            .field("len", &self.len)
            .finish()
    }
}

impl<N: Notify> FrameLoan<'_, '_, N> {
    /// `true` for a loan of an empty frame.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The frame's length: the bytes this loan may write.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Byte offset of the frame in the data area.
    fn payload(&self) -> u32 {
        let ring = &self.publisher.ring;
        ring.slot_offset(self.publisher.pos) + SLOT_HEADER_LEN
    }

    /// Copies `bytes` into the frame at `offset` (race-free: atomic stores
    /// of machine words): [`Error::OutOfRange`] past [`len`](Self::len),
    /// nothing written.
    #[inline]
    pub fn write_at(&mut self, offset: usize, bytes: &[u8]) -> Result<()> {
        let offset = in_frame(offset, bytes.len(), self.len())?;
        let ring = &self.publisher.ring;
        // SAFETY: `payload + offset + bytes.len() <= slot + slot_size <=
        // capacity` (`len` is at most the largest frame); the open slot is
        // ours alone to write, and subscribers read it through atomics of
        // the same width.
        unsafe {
            ring.copy_in_as(self.payload() + offset, bytes, Width::Word);
        }
        Ok(())
    }

    /// Copies `bytes` to the start of the frame: [`write_at`](Self::write_at)`(0, bytes)`.
    pub fn copy_from_slice(&mut self, bytes: &[u8]) -> Result<()> {
        self.write_at(0, bytes)
    }

    /// The frame's first byte in the region, for writes by other means
    /// (a DMA engine, a serializer). Plain stores through it race the
    /// copies of lagging subscribers in a lossy ring (see the type docs).
    /// Null under the loom models.
    #[must_use]
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.publisher.ring.byte_ptr(self.payload())
    }

    /// The frame as a mutable slice of the region.
    ///
    /// # Safety
    /// No other side may read the slot while the slice is alive: in a
    /// lossy ring a subscriber that lags a whole lap may copy it
    /// concurrently (it discards that copy, but the access is a data race
    /// in Rust's model). Sound with the reliable policy and honest members
    /// (no member reads a slot before it is published), or when the
    /// subscribers are trusted to keep up. Not under the loom models.
    #[must_use]
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the frame's bytes are inside the region and the open
        // slot is ours alone to write; no reader races it (caller
        // contract).
        unsafe { core::slice::from_raw_parts_mut(self.as_mut_ptr(), self.len()) }
    }

    /// Publishes the frame: all [`len`](Self::len) bytes (what was not
    /// written holds the slot's old bytes).
    #[inline]
    pub fn publish(self) {
        let len = self.len;
        self.commit(len);
    }

    /// Publishes the first `len` bytes of the frame only:
    /// [`Error::OutOfRange`] past [`len`](Self::len) (nothing published;
    /// the loan is dropped).
    pub fn publish_first(self, len: usize) -> Result<()> {
        let len = in_frame(len, 0, self.len())?;
        self.commit(len);
        Ok(())
    }

    /// Stores the length (relaxed: before the completing stamp's Release)
    /// and completes the slot.
    fn commit(self, len: u32) {
        let publisher = self.publisher;
        publisher
            .ring
            .length(publisher.pos)
            .store(len, Ordering::Relaxed);
        publisher.pos = commit(&publisher.ring, publisher.pos, &publisher.notify);
    }
}

/// The one publisher of a [reliable](crate::broadcast::Policy::Reliable)
/// broadcast frame ring: it never overwrites a frame an active
/// [`FrameMember`](super::FrameMember) has not read; see
/// [`ReliablePublisher`](crate::broadcast::ReliablePublisher).
///
/// ```
/// use ipckit_core::broadcast::frames::FrameRing;
/// use ipckit_core::broadcast::{Options, Policy, Start};
/// use ipckit_core::{AlignedBytes, Error, Region};
///
/// let options = Options::new(64).slot_size(32).subscribers(1).policy(Policy::Reliable);
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = FrameRing::init_with(Region::from_slice(&mut bytes[..]), options)?;
/// let mut tx = ring.reliable_publisher()?;
/// let mut rx = ring.join(Start::Next)?;
/// tx.try_publish(b"one")?;
/// let mut loan = tx.try_loan(3)?;
/// // SAFETY: with the reliable policy no honest member reads an open slot.
/// unsafe { loan.as_mut_slice() }.copy_from_slice(b"two");
/// loan.publish();
/// assert_eq!(tx.try_publish(b"three").unwrap_err(), Error::Full); // two slots
/// let mut buf = [0u8; 24];
/// assert_eq!(rx.try_recv_into(&mut buf), Ok(3));
/// assert_eq!(rx.try_read_with(|f| f.len()), Ok(3));
/// tx.try_publish(b"three")?;
/// # Ok::<(), Error>(())
/// ```
pub struct ReliableFramePublisher<'a, N = Spin> {
    inner: FramePublisher<'a, N>,
    gate: Gate,
}

impl<N> fmt::Debug for ReliableFramePublisher<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReliableFramePublisher")
            .field("position", &self.inner.pos)
            .field("slowest", &self.gate.slowest)
            .finish_non_exhaustive()
    }
}

impl<'a, N: Notify> ReliableFramePublisher<'a, N> {
    /// The reliable publisher over a claimed publisher.
    pub(super) fn new(inner: FramePublisher<'a, N>) -> Self {
        let gate = Gate::new(inner.pos, inner.ring.slots());
        Self { inner, gate }
    }

    /// Publishes `frame` if every active member has read the frame it
    /// overwrites: [`Error::Full`] if not, [`Error::FrameTooLarge`]
    /// (nothing written either way).
    pub fn try_publish(&mut self, frame: &[u8]) -> Result<()> {
        fill(self.try_loan(frame.len())?, frame)
    }

    /// Publishes `frame`, waiting while the slowest member is a ring
    /// behind; see [`ReliablePublisher::publish`](crate::broadcast::ReliablePublisher::publish).
    pub fn publish(&mut self, frame: &[u8]) -> Result<()> {
        fill(self.loan(frame.len())?, frame)
    }

    /// [`publish`](Self::publish) for at most `timeout`
    /// ([`Error::TimedOut`], nothing written).
    pub fn publish_timeout(&mut self, frame: &[u8], timeout: Duration) -> Result<()> {
        fill(self.loan_timeout(frame.len(), timeout)?, frame)
    }

    /// [`FramePublisher::loan`] if every active member has read the frame
    /// the slot holds: [`Error::Full`] if not.
    pub fn try_loan(&mut self, len: usize) -> Result<FrameLoan<'_, 'a, N>> {
        self.check(len)?;
        if !self.room()? {
            return Err(Error::Full);
        }
        self.inner.loan(len)
    }

    /// [`try_loan`](Self::try_loan), waiting while the ring is full.
    pub fn loan(&mut self, len: usize) -> Result<FrameLoan<'_, 'a, N>> {
        self.check(len)?;
        self.wait(None)?;
        self.inner.loan(len)
    }

    /// [`loan`](Self::loan) for at most `timeout` ([`Error::TimedOut`]).
    pub fn loan_timeout(&mut self, len: usize, timeout: Duration) -> Result<FrameLoan<'_, 'a, N>> {
        self.check(len)?;
        self.wait(Some(timeout))?;
        self.inner.loan(len)
    }

    /// [`Error::FrameTooLarge`] before any wait.
    fn check(&self, len: usize) -> Result<()> {
        fits(len, self.inner.max_frame()).map(drop)
    }

    fn wait(&mut self, timeout: Option<Duration>) -> Result<()> {
        let ring = self.inner.ring.clone();
        wait_for_room(self, &ring, |s| &s.inner.notify, timeout, Self::room)
    }

    #[inline(always)]
    fn room(&mut self) -> Result<bool> {
        self.gate.room(&self.inner.ring, self.inner.pos)
    }

    /// The largest frame.
    #[must_use]
    pub fn max_frame(&self) -> u32 {
        self.inner.max_frame()
    }

    /// The next position this publisher writes (the ring's `tail`).
    #[must_use]
    pub fn position(&self) -> u32 {
        self.inner.pos
    }

    /// The ring this publisher writes (for more members).
    pub fn ring(&self) -> &FrameRing<'a> {
        &self.inner.ring
    }
}

/// Writes `frame` into a loan of its length and publishes it.
#[inline(always)]
fn fill<N: Notify>(mut loan: FrameLoan<'_, '_, N>, frame: &[u8]) -> Result<()> {
    loan.write_at(0, frame)?;
    loan.publish();
    Ok(())
}

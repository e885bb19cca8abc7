//! A broadcast ring of variable-length byte frames: one publisher, any
//! number of subscribers, each reading every frame, with the protocol of
//! the [ring of `T: Pod` items](super) (seqlock slots with per-slot stamps,
//! lag accounting, the subscriber table and the reliable policy), written
//! once for both. Only a slot's contents differ: a length word and up to
//! [`max_frame`](FrameRing::max_frame) bytes instead of an item.
//!
//! Frames are written in place: a [`FramePublisher::loan`] opens the slot
//! of the next position, the caller writes the frame into shared memory
//! ([`FrameLoan::write_at`], or a raw slice for trusted subscribers), and
//! [`FrameLoan::publish`] makes it visible. Subscribers copy a frame out
//! ([`FrameSubscriber::try_recv_into`]) or read it in place
//! ([`FrameSubscriber::try_read_with`]), validated by the stamps either
//! way.
//!
//! # Layout (layout version 1, kind 8)
//! For a peer in another language, the whole protocol is in
//! [`docs/LAYOUT.md`](https://github.com/ipckit/ipckit/blob/main/docs/LAYOUT.md#172-broadcast-frame-ring-kind-8).
//! The control block is the [Pod ring's](super#layout-layout-version-1-kind-7)
//! (`tail`, publisher claim, subscribers waiting, `first`, `table_len`,
//! publisher waiting, `progress`) plus one word:
//!
//! | offset | width | field | meaning | written by |
//! |-------:|------:|-------|---------|------------|
//! | 0      | 128 B | header | kind [`ObjectKind::BroadcastFrames`] (8), element size 1 and alignment 8, `capacity` (bytes of data area), data offset 256, flags | creator |
//! | 128..156 | | as kind 7 | | |
//! | 156    | u32   | `slot_size` | bytes per slot (fixed at creation): a power of two, `16 <= slot_size <= capacity / 2` | creator |
//! | 160    | 96 B  | reserved, zero | | nobody |
//! | 256    | `capacity` | slots: `capacity / slot_size` of `slot_size` bytes | see below | publisher |
//! | round_up(256 + `capacity`, 128) | `table_len × 128` | the subscriber table, as kind 7 | | members |
//!
//! The slot of position `p` starts at byte `(p & (slots - 1)) × slot_size`
//! of the data area:
//!
//! | offset in slot | width | field |
//! |---------------:|------:|-------|
//! | 0 | u32 | stamp: `p` being written, `p + 1` complete (as kind 7) |
//! | 4 | u32 | the frame's length, at most `slot_size - 8` |
//! | 8 | `slot_size - 8` | the frame's bytes |
//!
//! The publisher writes position `p`: stamp `p` (Release), a Release fence,
//! the payload and the length (relaxed atomics), stamp `p + 1` (Release),
//! `tail = p + 1` (Release). A subscriber reads as for kind 7: stamp
//! (Acquire) `== p + 1`, the length and the payload, an Acquire fence,
//! the stamp again (`== p + 1`), and only then trusts what it read.
//!
//! # The peer is untrusted
//! What the [Pod ring](super#the-peer-is-untrusted) says of its peers
//! holds here too. Besides: the slot size is read once at
//! attach, checked and kept in the handle ([`Error::Corrupted`] otherwise);
//! a length word above the largest frame, under a stamp that says
//! complete, is [`Error::Corrupted`], never a read outside the slot. An
//! in-place reader's closure may see a torn frame (bytes and length of two
//! laps, or forged ones); it must not act on them before
//! [`try_read_with`](FrameSubscriber::try_read_with) returns `Ok`.
//!
//! # A loan that is dropped, a publisher that dies
//! A loan opens its slot (stamp `p`) and leaves `tail` alone until it is
//! published. Dropped unpublished (or its publisher killed), the slot keeps
//! stamp `p`: subscribers never return it, a subscriber a lap behind lags
//! past it, and the next loan or publication (of this publisher, or of the
//! next one after [`release_producer_claim`](crate::place::Placed::release_producer_claim))
//! rewrites it at the same position.
//!
//! # Speed
//! The payload moves in relaxed atomic machine words (the `sync` grain
//! rule: every side accesses a payload byte at that width), 8 at a time
//! unrolled, where a Pod item of `[u8; N]` moves byte by byte. Measured
//! once (one thread, release build, a shared 2-vCPU x86-64 VM): a 64 KiB
//! frame published and copied out takes 2.5 to 4 µs, the Pod ring's
//! `[u8; 65536]` 22 to 35 µs, and two plain `memcpy`s of 64 KiB 1.6 µs.
//!
//! # Availability
//! Placing frames in a byte area needs the record area of the placement
//! layer, built on targets with compare-and-swap only (not `thumbv6m`).
//!
//! # Example: frames of every length, one subscriber thread
//! ```
//! use ipckit_core::broadcast::frames::FrameRing;
//! use ipckit_core::{AlignedBytes, Error, Region};
//!
//! let mut bytes = AlignedBytes::<{ 256 + 1024 }>::new();
//! // 1024 bytes in 16 slots of 64: frames of up to 56 bytes.
//! let ring = FrameRing::init(Region::from_slice(&mut bytes[..]), 1024, 64)?;
//! let mut tx = ring.publisher()?;
//! let mut rx = ring.subscriber()?;
//! std::thread::scope(|s| {
//!     s.spawn(move || {
//!         let (mut next, mut lost, mut buf) = (0u64, 0u64, [0u8; 56]);
//!         while next + lost < 100 {
//!             match rx.try_recv_into(&mut buf) {
//!                 Ok(len) => {
//!                     assert_eq!(len as u64, (next + lost) % 57); // in order
//!                     next += 1;
//!                 }
//!                 Err(Error::Lagged(n)) => lost += n,
//!                 Err(Error::Empty) => std::hint::spin_loop(),
//!                 Err(e) => panic!("{e}"),
//!             }
//!         }
//!     });
//!     for i in 0..100usize {
//!         tx.publish(&[7; 56][..i % 57]).unwrap(); // never waits
//!     }
//! });
//! # Ok::<(), Error>(())
//! ```

mod publisher;
mod subscriber;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_reliable;

use core::ops::Deref;

pub use publisher::{FrameLoan, FramePublisher, ReliableFramePublisher};
pub use subscriber::{FrameMember, FrameSubscriber, SharedFrame};

use super::access::Access;
use super::{FIRST, MAX_TABLE, PUBLISHER_CLAIM, Policy, Start, TABLE_LEN, table};
#[cfg(doc)]
use crate::error::Error;
use crate::error::{Result, Role};
use crate::place::{
    self, Control, FLAG_RELIABLE, Layout, Line, Options, Placed, SingleProducer, TAIL, Word,
    records,
};
use crate::region::ObjectKind;
#[cfg(not(ipckit_loom))]
use crate::region::Region;
use crate::sync::{AtomicU32, Ordering};
use crate::wait::{Notify, Spin};

/// The smallest slot: the stamp, the length and 8 bytes of frame.
pub const MIN_SLOT_SIZE: u32 = 16;

/// The bytes of a slot before its frame: the stamp and the length.
pub const SLOT_HEADER_LEN: u32 = 8;

place::words! {
    /// Bytes per slot, fixed at creation.
    pub(crate) SLOT_SIZE = (0, 7) at 156;
}

/// `true` if `slot_size` is a valid slot size for a data area of
/// `capacity` bytes: a power of two, at least [`MIN_SLOT_SIZE`], at most
/// half the capacity (two slots at least).
pub const fn valid_slot_size(slot_size: u32, capacity: u32) -> bool {
    slot_size.is_power_of_two() && slot_size >= MIN_SLOT_SIZE && slot_size <= capacity / 2
}

/// `offset` as a byte offset into a frame of `len` bytes, if `n` bytes
/// from it are inside the frame; else [`Error::OutOfRange`].
fn in_frame(offset: usize, n: usize, len: usize) -> Result<u32> {
    let end = offset.saturating_add(n);
    if end > len {
        return Err(crate::Error::OutOfRange { end, len });
    }
    // `offset <= len`, at most the largest frame (a `u32`).
    Ok(offset as u32)
}

/// `len` as a frame length, if a frame of it fits a slot of `max`
/// bytes; else [`Error::FrameTooLarge`].
fn fits(len: usize, max: u32) -> Result<u32> {
    match u32::try_from(len) {
        Ok(len) if len <= max => Ok(len),
        _ => Err(crate::Error::FrameTooLarge {
            len: u32::try_from(len).unwrap_or(u32::MAX),
            max,
        }),
    }
}

/// The layout of a broadcast frame ring (the
/// [table](self#layout-layout-version-1-kind-8)): a byte area of
/// `capacity` bytes cut into slots.
///
/// ```
/// use ipckit_core::broadcast::frames::FrameRing;
///
/// assert_eq!(FrameRing::region_len(4096), Ok(256 + 4096));
/// ```
pub struct FrameSlots;

impl place::sealed::Sealed for FrameSlots {}

/// Zeroed is empty: zero stamps are never read (a subscriber reads only
/// positions below `tail`, which the publisher wrote).
impl Layout for FrameSlots {
    const KIND: ObjectKind = ObjectKind::BroadcastFrames;
    const ELEMENT: Result<(u32, u32)> = Ok((1, 8));
    const MIN_CAPACITY: u32 = 2 * MIN_SLOT_SIZE;
    const MAX_CAPACITY: u32 = 1 << 30;
    const BASE_ALIGN: usize = 8;
    type Control = Control<1>;
    type Unit = records::SeqUnit;
    const POSITIONS: &'static [Word] = &[TAIL, FIRST];
    const FLAGS: u32 = FLAG_RELIABLE;
    const TABLE: Option<Word> = Some(TABLE_LEN);
    const MAX_TABLE: u32 = MAX_TABLE;
    const SLOT_SIZE: Option<place::SlotSize> = Some((SLOT_SIZE, valid_slot_size));
}

impl SingleProducer for FrameSlots {
    const PRODUCER_CLAIM: Word = PUBLISHER_CLAIM;
}

/// A broadcast frame ring placed on a region: the handle from which the
/// publisher is claimed and subscribers are made. It dereferences to its
/// [`Placed`] ring for `capacity` (bytes of data area), `wakes`,
/// `table_len` and `release_producer_claim`; the slot size is read once
/// when it is placed, and kept.
///
/// ```
/// use ipckit_core::broadcast::frames::FrameRing;
/// use ipckit_core::{AlignedBytes, Error, Region};
///
/// let mut bytes = AlignedBytes::<{ 256 + 256 }>::new();
/// let ring = FrameRing::init(Region::from_slice(&mut bytes[..]), 256, 64)?;
/// assert_eq!((ring.capacity(), ring.slots(), ring.max_frame()), (256, 4, 56));
/// let mut tx = ring.publisher()?;
/// let mut rx = ring.subscriber()?;
/// tx.publish(b"hello")?;
/// assert_eq!(tx.publish(&[0; 57]), Err(Error::FrameTooLarge { len: 57, max: 56 }));
/// let mut buf = [0u8; 56];
/// let len = rx.try_recv_into(&mut buf)?;
/// assert_eq!(&buf[..len], b"hello");
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone)]
pub struct FrameRing<'a> {
    ring: Placed<'a, FrameSlots>,
    /// `log2(slot_size)`, validated once.
    shift: u32,
    /// `capacity / slot_size`.
    slots: u32,
}

impl core::fmt::Debug for FrameRing<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FrameRing")
            .field("capacity", &self.ring.capacity())
            .field("slot_size", &self.slot_size())
            .finish_non_exhaustive()
    }
}

impl<'a> Deref for FrameRing<'a> {
    type Target = Placed<'a, FrameSlots>;

    fn deref(&self) -> &Self::Target {
        &self.ring
    }
}

impl<'a> FrameRing<'a> {
    /// The bytes a region needs for a ring of `capacity` bytes of slots
    /// (whatever the slot size); see [`Placed::region_len`].
    pub const fn region_len(capacity: u32) -> Result<usize> {
        Placed::<FrameSlots>::region_len(capacity)
    }

    /// The bytes a region needs for a ring created with `options`; see
    /// [`Placed::region_len_with`].
    pub const fn region_len_with(options: Options) -> Result<usize> {
        Placed::<FrameSlots>::region_len_with(options)
    }

    place::region_only! {
        /// Creates a lossy ring of `capacity` bytes in slots of `slot_size`
        /// bytes (frames of up to `slot_size - 8`); see [`Placed::init`].
        /// [`Error::InvalidCapacity`] unless both are powers of two with
        /// `16 <= slot_size <= capacity / 2`.
        pub fn init(region: Region<'a>, capacity: u32, slot_size: u32) -> Result<Self> {
            Self::init_with(region, Options::new(capacity).slot_size(slot_size))
        }
    }

    place::region_only! {
        /// Creates a ring as `options` say (its
        /// [`slot_size`](Options::slot_size) is required); see
        /// [`Placed::init_with`].
        pub fn init_with(region: Region<'a>, options: Options) -> Result<Self> {
            Self::on(Placed::init_with(region, options)?)
        }
    }

    place::region_only! {
        /// Attaches to a ring another side created, validating the header
        /// as [`Placed::attach`] does and the slot size
        /// ([`Error::Corrupted`]).
        pub fn attach(region: Region<'a>) -> Result<Self> {
            Self::on(Placed::attach(region)?)
        }
    }

    place::model_only! {
        /// A ring on the heap for the loom models.
        #[doc(hidden)]
        pub fn new_modelled_with(options: Options) -> Result<FrameRing<'static>> {
            FrameRing::on(Placed::new_modelled_with(options)?)
        }
    }

    /// The handle for a placed ring: reads its slot size once (ordered
    /// after the creator's store by the header's Acquire) and checks it.
    fn on(ring: Placed<'a, FrameSlots>) -> Result<Self> {
        let slot_size = ring.word(SLOT_SIZE).load(Ordering::Relaxed);
        if !valid_slot_size(slot_size, ring.capacity()) {
            return Err(crate::Error::Corrupted(
                "broadcast frame slot size in control block",
            ));
        }
        Ok(Self {
            slots: ring.capacity() / slot_size,
            shift: slot_size.trailing_zeros(),
            ring,
        })
    }

    /// Bytes per slot.
    #[must_use]
    pub fn slot_size(&self) -> u32 {
        1 << self.shift
    }

    /// The number of slots: frames a subscriber may fall behind before it
    /// lags.
    #[must_use]
    pub fn slots(&self) -> u32 {
        self.slots
    }

    /// The largest frame: `slot_size - 8` bytes.
    #[must_use]
    pub fn max_frame(&self) -> u32 {
        self.slot_size() - SLOT_HEADER_LEN
    }

    /// The ring's policy, as its header records it.
    #[must_use]
    pub fn policy(&self) -> Policy {
        Access::policy(self)
    }

    /// The publisher's position (`tail`) now; see
    /// [`Ring::tail`](super::Ring::tail).
    #[must_use]
    pub fn tail(&self) -> u32 {
        Access::tail(self)
    }

    /// Claims the publisher role of a lossy ring, with [`Spin`]; see
    /// [`Ring::publisher`](super::Ring::publisher).
    pub fn publisher(&self) -> Result<FramePublisher<'a>> {
        self.publisher_with(Spin::new())
    }

    /// Claims the publisher role with `notify`, through which every
    /// publication wakes sleeping subscribers.
    pub fn publisher_with<N: Notify>(&self, notify: N) -> Result<FramePublisher<'a, N>> {
        self.expect_policy(Policy::Lossy)?;
        self.claim_publisher(notify)
    }

    fn claim_publisher<N: Notify>(&self, notify: N) -> Result<FramePublisher<'a, N>> {
        self.ring.check_notify(N::WAKES)?;
        let claim = self.ring.claim(PUBLISHER_CLAIM, Role::Producer)?;
        Ok(FramePublisher::new(self.clone(), claim, notify))
    }

    /// Claims the publisher role of a reliable ring, with [`Spin`]; see
    /// [`ReliableFramePublisher`] ([`Error::PolicyMismatch`] on a lossy
    /// ring).
    pub fn reliable_publisher(&self) -> Result<ReliableFramePublisher<'a>> {
        self.reliable_publisher_with(Spin::new())
    }

    /// Claims the publisher role of a reliable ring with `notify`.
    pub fn reliable_publisher_with<N: Notify>(
        &self,
        notify: N,
    ) -> Result<ReliableFramePublisher<'a, N>> {
        self.expect_policy(Policy::Reliable)?;
        Ok(ReliableFramePublisher::new(self.claim_publisher(notify)?))
    }

    /// A subscriber of the frames published from now on, with [`Spin`];
    /// see [`Ring::subscriber`](super::Ring::subscriber).
    pub fn subscriber(&self) -> Result<FrameSubscriber<'a>> {
        self.subscriber_with(Spin::new(), Start::Next)
    }

    /// A subscriber that starts where `start` says.
    pub fn subscriber_from(&self, start: Start) -> Result<FrameSubscriber<'a>> {
        self.subscriber_with(Spin::new(), start)
    }

    /// A subscriber that starts where `start` says and sleeps through
    /// `notify`.
    pub fn subscriber_with<N: Notify>(
        &self,
        notify: N,
        start: Start,
    ) -> Result<FrameSubscriber<'a, N>> {
        self.ring.check_notify(N::WAKES)?;
        self.expect_policy(Policy::Lossy)?;
        Ok(FrameSubscriber::new(self.clone(), notify, start))
    }

    /// Joins the subscriber table at `start`, with [`Spin`]; see
    /// [`Ring::join`](super::Ring::join).
    pub fn join(&self, start: Start) -> Result<FrameMember<'a>> {
        self.join_with(Spin::new(), start)
    }

    /// [`join`](Self::join) with `notify`.
    pub fn join_with<N: Notify>(&self, notify: N, start: Start) -> Result<FrameMember<'a, N>> {
        self.ring.check_notify(N::WAKES)?;
        FrameMember::join(self, notify, start)
    }

    /// Table entry `index` as it is now; see
    /// [`Ring::table_entry`](super::Ring::table_entry).
    pub fn table_entry(&self, index: u32) -> Result<(u32, u32)> {
        table::table_entry(self, index)
    }

    /// Frees table entry `index` of a member that died holding it; see
    /// [`Ring::release_member`](super::Ring::release_member).
    ///
    /// # Safety
    /// As [`Ring::release_member`](super::Ring::release_member): the
    /// member of that entry is never used again.
    pub unsafe fn release_member<N: Notify>(&self, index: u32, notify: &N) -> Result<()> {
        table::release_member(self, index, notify)
    }

    /// Byte offset of the slot of `pos` in the data area.
    #[inline(always)]
    pub(crate) fn slot_offset(&self, pos: u32) -> u32 {
        (pos & (self.slots - 1)) << self.shift
    }

    /// The length word of the slot of `pos`.
    #[inline(always)]
    pub(crate) fn length(&self, pos: u32) -> &AtomicU32 {
        self.ring.record_word(self.slot_offset(pos), 1)
    }
}

impl Access for FrameRing<'_> {
    #[inline(always)]
    fn word(&self, word: Word) -> &AtomicU32 {
        self.ring.word(word)
    }

    #[inline(always)]
    fn slots(&self) -> u32 {
        self.slots
    }

    #[inline(always)]
    fn stamp(&self, pos: u32) -> &AtomicU32 {
        self.ring.record_word(self.slot_offset(pos), 0)
    }

    fn table_len(&self) -> u32 {
        self.ring.table_len()
    }

    fn table_line(&self, index: u32) -> Option<&Line> {
        self.ring.table_line(index)
    }

    fn flags(&self) -> u32 {
        self.ring.flags()
    }
}

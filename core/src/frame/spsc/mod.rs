//! A single-producer single-consumer ring of variable-length byte frames on
//! a shared region, with zero-copy grants.
//!
//! # Algorithm
//! The SPSC ring of [`crate::spsc`] with bytes instead of slots: the producer
//! owns `tail`, the consumer owns `head`, both free-running `u32` byte
//! positions; each frame is one record of the [format](super#records) shared
//! by the frame rings. In the manner of bbqueue, the producer asks for a
//! [`Grant`] of `len` contiguous bytes, writes the frame in place, and
//! [`commit`](Grant::commit)s it: the record header is written and `tail`
//! published with one `Release` store. The consumer gets a [`ReadFrame`]
//! borrowing the oldest frame in place and [`release`](ReadFrame::release)s
//! it: `head` is published with one `Release` store. A frame that would
//! straddle the end of the data area goes to offset 0 behind a padding
//! record, written in the same commit.
//!
//! Only atomic loads and stores: valid between two cores of a `thumbv6m`
//! part, like the SPSC ring. Each side keeps a cached copy of the other's
//! index and reloads it only when the cache says full (producer) or empty
//! (consumer).
//!
//! # Layout (layout version 1, kind 4)
//! For a peer in another language, the whole protocol is in
//! [`docs/LAYOUT.md`](https://github.com/ipckit/ipckit/blob/main/docs/LAYOUT.md#7-spsc-frame-ring-kind-4).
//!
//! The control block of [`crate::spsc`], then the data area:
//!
//! | offset | width | field            | written by |
//! |-------:|------:|------------------|------------|
//! | 0      | 128 B | [`Header`](crate::Header): `elem_size` 1, `elem_align` 8, `capacity` = data bytes | creator |
//! | 128    | u32   | `tail` (byte position after the last committed record) | producer |
//! | 132    | u32   | producer claim   | producer |
//! | 136    | u32   | consumer waiting | consumer |
//! | 256    | u32   | `head` (byte position of the oldest unreleased record) | consumer |
//! | 260    | u32   | consumer claim   | consumer |
//! | 264    | u32   | producer waiting | producer |
//! | 384    | `capacity` bytes | records | producer |
//!
//! # Validation
//! The consumer validates `tail` (within a capacity of `head`) when it
//! reloads it and every record header before it touches the record
//! ([`parse_record`]); the producer validates `head` when it reloads it.
//! Header words are atomic loads; frames are copied out by the safe
//! accessors with word-wise atomic copies, so a peer writing the bytes
//! concurrently (even a thread of this process) can make them wrong, never
//! make the copy a data race. No Rust reference into the region is created
//! unless the caller asks for one with an `unsafe` method.
//!
//! # Grants and read frames
//! A [`Grant`] and a [`ReadFrame`] have the methods of the MPSC frame
//! ring's, meaning the same: `write_at`, `read_at` and `copy_to` are exact
//! ([`Error::OutOfRange`], [`Error::BufferTooSmall`]; nothing truncates
//! silently), `read_partial` takes what there is. A grant dropped without
//! a commit publishes nothing; a read frame dropped without a release stays
//! queued.
//!
//! # Example
//! A ring that owns its memory ([`StaticRing`], usable in a `static`), or
//! one on a region ([`Ring::init`]; [`Ring::region_len`] gives its size):
//!
//! ```
//! use ipckit_core::{frame, Error};
//!
//! static FRAMES: frame::spsc::StaticRing<1024> = frame::spsc::StaticRing::new();
//! let (mut tx, mut rx) = FRAMES.split()?;
//!
//! // Copying:
//! tx.try_send(b"hello")?;
//! let mut buf = [0; 64];
//! let n = rx.try_recv(&mut buf)?;
//! assert_eq!(&buf[..n], b"hello");
//!
//! // Zero-copy: write in place, commit, read in place, release.
//! let mut grant = tx.try_grant(32)?;
//! grant.write_at(0, b"in place")?;
//! grant.commit(8)?;
//! let frame = rx.try_read()?;
//! assert_eq!(frame.len(), 8);
//! let mut out = [0; 8];
//! frame.copy_to(&mut out)?;
//! frame.release();
//! assert_eq!(&out, b"in place");
//! assert_eq!(rx.try_recv(&mut buf), Err(Error::Empty));
//! # Ok::<(), Error>(())
//! ```

mod consumer;
mod grant;
mod producer;
mod read_frame;

pub use crate::place::Options;
pub use crate::spsc::Endpoint;
pub use grant::Grant;
pub use read_frame::ReadFrame;

use core::fmt;

#[cfg(doc)]
use super::parse_record;
use super::{RECORD_HEADER_LEN, record_len};
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::place::bytes::{self, Grain};
use crate::place::{self, Control, Layout, Placed, SingleRoles, Word};
use crate::region::{LINE, ObjectKind};
use crate::spsc::SpscLayout;
use crate::spsc::endpoint::{CONSUMER_CLAIM, PRODUCER_CLAIM};
use crate::sync::SlotCell;
use crate::wait::Spin;

/// Offset of the data area from the region base.
pub const DATA_OFFSET: usize = 3 * LINE;

/// The grain of the data area (the crate's `sync` docs): machine words. A
/// record header (length word and zero claimant) is one unit on a 64-bit
/// target; on a 32-bit one the words are 4 bytes, as the header's fields.
const GRAIN: Grain = Grain::Word;

/// Where one frame's record lies: `pad` bytes of padding from the end's
/// position to the end of the data area (0 if none; the record then starts
/// at 0), the record at data offset `offset`, `len` bytes of payload. A
/// producer's reservation and a consumer's located frame alike.
#[derive(Clone, Copy)]
pub(super) struct Span {
    pub(super) pad: u32,
    pub(super) offset: u32,
    pub(super) len: u32,
}

impl Span {
    /// The data offset of the payload, after the record header.
    #[inline(always)]
    fn payload(self) -> u32 {
        self.offset + RECORD_HEADER_LEN
    }

    /// Bytes from the end's position past the padding and a record of
    /// `len <= self.len` payload bytes: what the producer's commit and the
    /// consumer's release (of all `self.len`) advance by.
    #[inline(always)]
    fn advance(self, len: u32) -> u32 {
        self.pad + record_len(len)
    }
}

/// One frame's record borrowed in place from an end of the ring: a
/// [`Grant`] of room from the producer (`P = true`) or a [`ReadFrame`]
/// from the consumer. What the two share (the end, the record's place,
/// the length) is written once here; see each alias for the rest.
#[must_use = "a grant publishes nothing until it is committed, a read frame stays queued until it is released"]
pub struct Frame<'e, 'a, N, const P: bool> {
    pub(super) end: &'e mut Endpoint<'a, Frames, N, P>,
    pub(super) span: Span,
}

impl<N, const P: bool> fmt::Debug for Frame<'_, '_, N, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = ["frame::spsc::ReadFrame", "frame::spsc::Grant"][P as usize];
        f.debug_struct(name).field("len", &self.span.len).finish()
    }
}

impl<N, const P: bool> Frame<'_, '_, N, P> {
    /// The length in bytes: of the frame, or granted.
    pub fn len(&self) -> usize {
        self.span.len as usize
    }

    /// `true` for an empty frame (or a grant of 0 bytes).
    pub fn is_empty(&self) -> bool {
        self.span.len == 0
    }
}

/// The layout of an SPSC frame ring (the [table](self#layout-layout-version-1-kind-4)):
/// what [`Ring`] is placed by.
pub struct Frames(());

impl place::sealed::Sealed for Frames {}

impl Layout for Frames {
    const KIND: ObjectKind = ObjectKind::FrameSpsc;
    record_layout!();
    type Control = Control<2>;
    type Unit = SlotCell<u8>;
    const POSITIONS: &'static [Word] = place::TAIL_AND_HEAD;
}

impl SingleRoles for Frames {
    const PRODUCER_CLAIM: Word = PRODUCER_CLAIM;
    const CONSUMER_CLAIM: Word = CONSUMER_CLAIM;
}

impl SpscLayout for Frames {
    const BAD_HEAD: &'static str = "consumer head is misaligned or not within a capacity of tail";
    const BAD_TAIL: &'static str = "producer tail is misaligned or not within a capacity of head";
}

/// An SPSC frame ring placed on a region: the handle from which the one
/// [`Producer`] and the one [`Consumer`] are claimed. Cheap to clone; its
/// methods are those of [`Placed`].
pub type Ring<'a> = Placed<'a, Frames>;

/// An SPSC frame ring with a data area of `N` bytes that owns its memory,
/// usable in a `static` (the [example](self#example)).
pub type StaticRing<const N: usize> = place::Owned<Frames, N>;

/// The writing end of an SPSC frame ring; see [`Producer::try_grant`].
pub type Producer<'a, N = Spin> = Endpoint<'a, Frames, N, true>;

/// The reading end of an SPSC frame ring; see [`Consumer::try_read`].
pub type Consumer<'a, N = Spin> = Endpoint<'a, Frames, N, false>;

impl Ring<'_> {
    /// The largest frame this ring carries: half the data area less a
    /// record header ([`max_frame_len`](super::max_frame_len)).
    pub fn max_frame_len(&self) -> u32 {
        max_frame(self.capacity())
    }
}

/// The largest frame of a data area of `capacity` bytes (a capacity the
/// ring was placed with).
#[inline(always)]
fn max_frame(capacity: u32) -> u32 {
    capacity / 2 - RECORD_HEADER_LEN
}

impl<N, const P: bool> Endpoint<'_, Frames, N, P> {
    /// The largest frame this ring carries.
    pub fn max_frame_len(&self) -> u32 {
        max_frame(self.capacity())
    }

    /// The bytes published and not yet released, records and padding
    /// included (reloads the peer's index; one out of range reads as a full
    /// ring, and the next operation that reloads it reports
    /// [`Error::Corrupted`](crate::Error::Corrupted)).
    pub fn pending_bytes(&self) -> usize {
        self.occupied_now() as usize
    }

    /// The free bytes now (as [`pending_bytes`](Self::pending_bytes)). A
    /// frame of `len` bytes needs
    /// [`frame::record_len`](super::record_len)`(len)` of them, and
    /// contiguous.
    pub fn free_bytes(&self) -> usize {
        (self.capacity() - self.occupied_now()) as usize
    }

    /// Copies `src` into the data area at `offset`.
    ///
    /// # Safety
    /// `offset + src.len() <= capacity`, and the index protocol gives the
    /// caller those bytes for writing, and the rest of the aligned words
    /// that hold them (true of any range inside one record: records are
    /// 8-byte aligned and padded to 8).
    #[inline(always)]
    unsafe fn store_data(&self, offset: u32, src: &[u8]) {
        // SAFETY: the caller's contract.
        unsafe { bytes::store(self.ring().data(), offset, src, GRAIN) }
    }

    /// Copies bytes of the data area at `offset` into `dst`.
    ///
    /// # Safety
    /// `offset + dst.len() <= capacity`, and the index protocol lets the
    /// caller read those bytes and the rest of the aligned words that hold
    /// them (any range inside one record).
    #[inline(always)]
    unsafe fn load_data(&self, offset: u32, dst: &mut [u8]) {
        // SAFETY: the caller's contract.
        unsafe { bytes::load(self.ring().data(), offset, dst, GRAIN) }
    }

    /// The raw address of data byte `offset` (`offset <= capacity`).
    #[inline(always)]
    fn byte_ptr(&self, offset: u32) -> *mut u8 {
        debug_assert!(offset <= self.capacity());
        bytes::ptr(self.ring().data(), offset)
    }
}

#[cfg(test)]
mod tests;

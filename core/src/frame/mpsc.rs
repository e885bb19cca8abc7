//! A multi-producer single-consumer ring of variable-length byte frames on a
//! shared region, with out-of-order commit.
//!
//! # Endpoints
//! A [`Ring`] on a region makes any number of [`Producer`]s and one
//! [`Consumer`] at a time (a claimed role). A producer copies a frame in
//! ([`Producer::try_send`]) or claims a [`Grant`] and writes it in place;
//! the consumer copies the oldest frame out ([`Consumer::try_recv`]) or
//! reads it in place as a [`ReadFrame`]. Both carry the method set of the
//! SPSC frame ring's ([`frame::spsc`](crate::frame::spsc)): exact forms
//! fail instead of truncating ([`Error::OutOfRange`],
//! [`Error::BufferTooSmall`]), the partial form says so in its name
//! ([`ReadFrame::read_partial`]). `try_` calls never wait; the plain forms
//! wait, the `_timeout` forms at most a [`Duration`] ("Blocking" below).
//! [`Producer::free_bytes`] and [`Consumer::pending_bytes`] answer on
//! `&self` from the shared indices as they are now.
//!
//! # Algorithm
//! Aeron's `ManyToOneRingBuffer`, on the record format of [`crate::frame`]
//! and free-running `u32` byte positions. `tail` is the next byte position
//! to claim, `head` the next to read; both are multiples of
//! [`RECORD_ALIGN`], and the record at position `p` starts at byte
//! `p & (capacity - 1)` of the data area.
//!
//! - A **producer** claims the bytes of one record with one
//!   compare-and-swap on `tail`. A record that would straddle the end of the
//!   data area claims the rest of the area as a padding record too and goes
//!   to offset 0. A producer with an [`Intent`] ([`Producer::with_intent`])
//!   announces the position and the bytes it is about to claim before every
//!   compare-and-swap attempt (see "A producer that dies mid-record"). It
//!   then writes the record header as *busy*
//!   ([`BUSY`]` | `[`frame_word`]`(len)`, claimant id in the second word) with
//!   `Release` (then the padding header, if any, so that an unwritten
//!   header at the claimed position always means "nothing written yet"),
//!   clears its intent, issues a `Release` fence (so no payload byte can
//!   become visible without its header), writes the payload, and
//!   **commits** by storing [`frame_word`]`(len)` with `Release`. Producers
//!   commit in any order: a fast producer does not wait for a slow one that
//!   claimed first.
//! - The **consumer** (one at a time, a claimed role) reads records in
//!   position order. At `head` it loads the first header word (`Acquire`):
//!   0 means claimed but not written yet (or nothing claimed, if
//!   `tail == head`); busy means in progress; a committed frame is delivered;
//!   padding and discarded records are skipped. After a record is consumed
//!   the consumer **erases** it, zeroing all its bytes, before it publishes
//!   the new `head` (`Release`), so that every header of the next lap reads
//!   0 until its producer writes it, and no stale payload word can pass for
//!   a header. The erase is journaled so that a consumer killed in the
//!   middle of it leaves a state its successor recognises (see "A consumer
//!   that dies mid-erase").
//!
//! The commit is a plain `Release` store, not a compare-and-swap from the
//! busy value: a producer whose record the consumer has skipped (believing
//! it dead, see below) has already written its payload into space that is no
//! longer its own by the time it commits, so a failed compare-and-swap could
//! only report the damage, not prevent it, and would cost an exclusive
//! read-modify-write on every frame.
//!
//! # Layout (layout version 1, kind 5)
//! For a peer in another language, the whole protocol (claim, commit, erase
//! journal, waiting, recovery) is in
//! [`docs/LAYOUT.md`](https://github.com/ipckit/ipckit/blob/main/docs/LAYOUT.md#8-mpsc-frame-ring-kind-5).
//!
//! | offset | width | field | meaning | written by |
//! |-------:|------:|-------|---------|------------|
//! | 0      | 128 B | [`Header`](crate::Header) | kind [`ObjectKind::FrameMpsc`], element size 1, element alignment 8, capacity (data bytes), data offset 512, flags | creator |
//! | 128    | u32   | `tail` | next byte position to claim | producers (compare-and-swap) |
//! | 132    | u32   | consumer waiting | event count: 1 while the consumer is about to sleep on the doorbell | consumer |
//! | 136    | u32   | doorbell | bumped (and woken) by a producer that committed while the consumer waits | producers (add) |
//! | 140    | 116 B | reserved, zero | | nobody |
//! | 256    | u32   | `head` | next byte position to read | consumer |
//! | 260    | u32   | consumer claim (0 free, 1 taken) | | consumer |
//! | 264    | u32   | producers waiting | event count: producers about to sleep on `head` | producers (add / subtract) |
//! | 268    | u32   | erasing: position | the position of the record being erased (the erase journal) | consumer |
//! | 272    | u32   | erasing: span | its bytes; bit 31 set for a counted skip; 0: nothing | consumer |
//! | 276    | 108 B | reserved, zero | | nobody |
//! | 384    | u32   | skipped records | records of stalled producers skipped ([`Consumer::skip_stalled`]), wrapping | consumer |
//! | 388    | u32   | skipped bytes, low half | bytes of those records (a `u64` in two halves) | consumer |
//! | 392    | u32   | skipped bytes, high half | | consumer |
//! | 396    | 116 B | reserved, zero | | nobody |
//! | 512    | `capacity` bytes | data area | records ([`crate::frame`]) | producers, zeroed by the consumer |
//!
//! `tail` and `head` live on separate [`LINE`]s. The consumer's
//! announcement sits on the producers' line (producers check it after every
//! commit), the producers' announcements on the consumer's line.
//!
//! # Discarded records
//! A producer that claimed more than it commits, or drops a [`Grant`]
//! without committing, cannot give claimed space back (other producers may
//! have claimed behind it). It turns the space into a **discarded record**:
//! a committed frame record whose claimant word is [`DISCARDED`]
//! (`u32::MAX`, reserved: no producer may use it as its id). The consumer
//! skips such records silently. A [`Grant::commit`] of fewer bytes than
//! granted writes the frame and, when the record shrinks by 8 bytes or more,
//! a discarded record over the rest.
//!
//! # Blocking
//! Blocking calls go through the endpoint's [`Notify`] with the event count
//! of [`crate::wait`]. With a waking notifier (futex), the consumer sleeps on
//! the **doorbell**: it announces itself, issues a `SeqCst` fence, reads the
//! doorbell, issues an `Acquire` fence, re-checks the record at `head`, and
//! sleeps while the doorbell holds the value read. A producer, after every
//! commit (or discard), issues a `SeqCst` fence and reads the announcement;
//! only if the consumer waits does it bump the doorbell (`Release`) and wake
//! it. The fast path therefore costs one fence and no system call, and
//! nothing at all with a non-waking notifier ([`Spin`]), where the consumer
//! instead polls the header word at `head`. Producers waiting for space sleep
//! on `head`, which the consumer stores (and wakes all sleepers of, when any
//! announced themselves) after every record it consumes.
//!
//! # The peer is untrusted
//! Every record header is loaded once and checked by
//! [`parse_record`](crate::frame::parse_record) against the capacity and the
//! published range (`tail`, reloaded once before a header is refused, so a
//! stale copy is never mistaken for a corruption) before any byte of the
//! record is touched. `tail` must be within a capacity of `head` and a
//! multiple of 8; `head` as well. Anything else is [`Error::Corrupted`]:
//! frames before the bad record have been delivered, the bad one is not
//! skipped, and both endpoints stay safe to drop. Every offset is masked into
//! the data area and every copy is bounded by it. Payload bytes are moved
//! with raw-pointer copies; no Rust reference to shared bytes is created
//! outside the `unsafe` slice views.
//!
//! Work on peer data is bounded. One look at `head` (every `try_` call)
//! consumes at most a capacity of padding and discarded records, then
//! reports [`Error::Empty`] (the blocking calls look again at once, within
//! their timeout): a live producer that keeps discarding cannot keep a call
//! from returning. The skip scan ([`Consumer::skip_stalled`]) reads at most
//! [`SCAN_PASSES`] passes over the published range.
//!
//! A producer gives up with [`Error::Corrupted`] after [`RETRY_LIMIT`]
//! lost compare-and-swaps in a row, which only a peer rewriting `tail`
//! continuously can cause. A `tail` more than a capacity ahead of `head` is
//! a corruption at once: producers load `tail`, then `head`, and claim with
//! `Release`, so an honest ring never shows them further apart.
//!
//! # Positions, wrap-around and the ABA bound
//! Positions wrap at 2^32, so the capacity is at most 2^31
//! ([`MAX_CAPACITY`](crate::frame::MAX_CAPACITY)). **ABA bound:** a producer's compare-and-swap on
//! `tail` could succeed on a stale view of the free space only if, between
//! its load of `tail` and its compare-and-swap, the other producers claimed
//! a multiple of 2^32 bytes. At 10 GB/s that takes a producer stalled for
//! 0.43 s between two adjacent instructions of one claim; it would then
//! overwrite unread records. (Aeron uses 64-bit positions; a 64-bit `tail`
//! needs 64-bit compare-and-swap, which 32-bit targets lack.)
//!
//! # A producer that dies mid-record
//! A producer that dies between its claim and its commit leaves a record
//! that never completes, and the consumer, which reads in order, waits behind
//! it. [`Consumer::stalled`] reports such a record ([`Stall`]): its
//! position, and, once its header is written, the claimant id and the frame
//! length. [`Consumer::skip_stalled`] skips it and counts it
//! ([`Consumer::skipped`]): a busy record by its announced length; a record
//! whose header was never written by scanning forward, 8 bytes at a time, to
//! the first non-zero header word (sound because consumed space is zeroed
//! and a payload byte is never visible before its header; the scan re-reads
//! the words before a hit after an `Acquire` fence, so that a payload word of
//! a record whose header it read as 0 is never taken for a header), or, when
//! no later header is written, up to `tail` if `tail` has not moved since the
//! stall was observed. [`Consumer::set_stall_timeout`] makes the blocking
//! reads do this by themselves for a record that stays stalled longer than
//! the timeout (measured with [`Notify::now`]).
//!
//! A record whose header was never written names nobody, but its claimant
//! can still be found: a producer made with an intent
//! ([`Producer::with_intent`]) announced the position and the bytes it
//! claims there before its compare-and-swap, and withdraws the
//! announcement only after its header is written ([`crate::intent`]).
//! Whoever keeps the producers' intents and liveness (the hosted crate, in
//! the channel's liveness block) attributes the claim; when its claimant is
//! dead, [`Consumer::skip_unwritten`] skips exactly the bytes it claimed,
//! checked against the ring: a multiple of 8 within the published range,
//! and, if they run past the end of the data area, exactly a padding record
//! plus a record at offset 0 that did not fit before the end. Unlike the
//! scan, this never covers another producer's claim.
//!
//! **Skipping a record whose producer is in fact alive is unsound for the
//! ring's contents** (never for memory safety): that producer goes on
//! writing payload and header into space the consumer has released, which
//! other producers may have claimed since, and the consumer may then deliver
//! garbage or report [`Error::Corrupted`]. A skip of an unwritten record may
//! also cover later records whose producers have claimed but not yet written
//! their headers. Skip only records of producers known to be dead: the hosted
//! crate checks the claimant's process id; a stall timeout must be far longer
//! than any producer can be descheduled between its claim and its commit.
//!
//! # A consumer that dies mid-erase
//! Before the consumer erases a record (or the bytes of a skipped claim) it
//! writes their length, then their position, to the erase journal on its
//! line; then it zeroes the bytes, the first header word last, counts a
//! skip, and publishes `head`. Between two erases the journal names the
//! previous one, whose position is behind `head`, so a consumer killed
//! between the two journal stores leaves a journal that names nothing (and
//! the record intact). A consumer killed at any later step leaves `head` at
//! the record and the journal naming it, the record intact, partly zeroed
//! (first header word still written) or all zero. The
//! next consumer ([`Ring::release_consumer_claim`], then
//! [`Ring::consumer_with`]) finds the journal naming `head` and, before
//! anything else, finishes the erase (the length validated: a multiple of 8
//! within the published range). The record counts as consumed by the dead
//! consumer: it is never delivered again half zeroed, and no scan ever
//! reads its half-erased bytes. A skip interrupted after it was counted is
//! counted again. A consumer killed before the journal names the record
//! (while copying it out, or holding it as a [`ReadFrame`]) leaves it
//! intact, and the next consumer delivers it again. So a consumer's death
//! loses at most the one frame it had copied out and not returned, and
//! delivers again at most the one it had not released.
//!
//! # Availability
//! The ring needs compare-and-swap: it exists where the target has 32-bit
//! compare-and-swap (`cfg(target_has_atomic = "32")`), and on `thumbv6m`
//! with the `critical-section` feature, for one core only (an interrupt
//! handler and `main`), never between cores or processes.
//!
//! # Example: two producer threads, one consumer
//! ```
//! use ipckit_core::{frame::mpsc, AlignedBytes, Region};
//!
//! let mut bytes = AlignedBytes::<{ 512 + 1024 }>::new();
//! let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 1024)?;
//! let mut rx = ring.consumer()?;
//! std::thread::scope(|s| {
//!     for id in 1..=2u8 {
//!         let tx = ring.producer().unwrap().with_id(u32::from(id)).unwrap();
//!         s.spawn(move || {
//!             for n in 0..100u8 {
//!                 tx.send(&[id; 3][..usize::from(n % 4)]).unwrap(); // spins while full
//!             }
//!         });
//!     }
//!     let mut buf = [0u8; 16];
//!     for _ in 0..200 {
//!         let n = rx.recv(&mut buf).unwrap();
//!         assert!(n < 4 && buf[..n].iter().all(|&b| b == buf[0]));
//!     }
//! });
//! # Ok::<(), ipckit_core::Error>(())
//! ```

use core::fmt;
use core::time::Duration;

use super::{BUSY, PAD, RECORD_ALIGN, Record, frame_word, record_len};
use crate::error::{Error, Result, Role};
use crate::intent::Intent;
pub use crate::place::Options;
use crate::place::{self, Control, Layout, Placed, SingleConsumer, Word, records};
pub(super) use crate::place::{HEAD, TAIL};
use crate::region::{LINE, ObjectKind};
use crate::sync::{AtomicU32, Ordering, fence};
use crate::wait::{Announce, Attempt, Notify, Spin, block_on, wake_waiters};

/// Offset of the data area from the region base.
pub const DATA_OFFSET: usize = 4 * LINE;

/// The claimant word of a discarded record: space a producer claimed and
/// gave up (module docs). Reserved: no producer may use it as its id.
pub const DISCARDED: u32 = u32::MAX;

/// How many times one claim retries after losing the compare-and-swap on
/// `tail` before it reports [`Error::Corrupted`]: only a peer that rewrites `tail`
/// continuously gets there.
pub const RETRY_LIMIT: u32 = 1 << 16;

/// How many passes the skip scan of [`Consumer::skip_stalled`] makes over
/// the published range at most: each pass after the first re-reads the
/// words before the header it found (module docs), and a peer that keeps
/// writing words there could otherwise keep it going. When the passes run
/// out the scan skips nothing (the call returns 0: look again later).
pub const SCAN_PASSES: u32 = 4;

/// The erase journal's flag on a span: the erase is a counted skip.
const ERASE_SKIP: u32 = 1 << 31;

// The words of the control block (the layout table): the producers' line,
// the consumer's line, the statistics line. `place::TAIL`: the next byte
// position to claim; `place::HEAD`: the next byte position to read.
place::words! {
    /// The consumer's announcement that it is about to sleep on the doorbell.
    CONSUMER_WAITING = (0, 1) at 132;
    /// Bumped (and woken) by a producer that committed while the consumer waits.
    DOORBELL = (0, 2) at 136;
    /// The consumer claim (0 free, 1 taken).
    CONSUMER_CLAIM = (1, 1) at 260;
    /// Producers about to sleep on `head`.
    PRODUCERS_WAITING = (1, 2) at 264;
    /// The erase journal (module docs): the position of the bytes being (or
    /// last) erased ...
    ERASING_POSITION = (1, 3) at 268;
    /// ... and their number, with [`ERASE_SKIP`] for a counted skip; 0: none.
    ERASING_SPAN = (1, 4) at 272;
    /// Records of stalled producers skipped, wrapping.
    SKIPPED_RECORDS = (2, 0) at 384;
    /// Bytes of those records, a `u64` in two halves: the low half ...
    SKIPPED_BYTES_LO = (2, 1) at 388;
    /// ... and the high half.
    SKIPPED_BYTES_HI = (2, 2) at 392;
}

const _: () = assert!(4 * LINE == DATA_OFFSET);

/// The layout of an MPSC frame ring (the [table](self#layout-layout-version-1-kind-5)):
/// what [`Ring`] is placed by.
pub struct Frames(());

impl place::sealed::Sealed for Frames {}

impl Layout for Frames {
    const KIND: ObjectKind = ObjectKind::FrameMpsc;
    record_layout!();
    type Control = Control<3>;
    type Unit = records::Unit;

    const POSITIONS: &'static [Word] = place::TAIL_AND_HEAD;

    /// Every header of the first lap must read "not written".
    unsafe fn clear_data(data: *mut records::Unit, capacity: u32) {
        // SAFETY: the whole area, ours alone (the caller's contract).
        unsafe { records::zero(data, 0, capacity) }
    }
}

impl SingleConsumer for Frames {
    const CONSUMER_CLAIM: Word = CONSUMER_CLAIM;
}

/// An MPSC frame ring placed on a region: the handle from which any number
/// of [`Producer`]s and the one [`Consumer`] are made ([example](self#example-two-producer-threads-one-consumer)).
/// Cheap to clone; its methods are those of [`Placed`]. After a consumer
/// was killed, `release_consumer_claim` lets the next one finish its erase
/// (module docs, "A consumer that dies mid-erase"); producers never wait
/// for a consumer claim.
pub type Ring<'a> = Placed<'a, Frames>;

/// An MPSC frame ring with a data area of `N` bytes that owns its memory,
/// usable in a `static`.
pub type StaticRing<const N: usize> = place::Owned<Frames, N>;

/// A `usize` length as a `u32` for [`Error::FrameTooLarge`].
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

// ---------------------------------------------------------------------------
// The parts: the ring's endpoints and doorbell (`ring`), producers
// (`producer`) and their grants (`grant`), the consumer (`consumer`), its
// journaled erase (`erase`), stalled records and skips (`stall`), frames
// read in place (`read_frame`). This file keeps the layout they share; the
// data area's accessors are the placement layer's record area.

mod consumer;
mod erase;
mod grant;
mod producer;
mod read_frame;
mod ring;
mod stall;

pub use consumer::Consumer;
use consumer::{Ready, Scan, Step};
pub use grant::Grant;
use producer::Claim;
pub use producer::Producer;
pub use read_frame::ReadFrame;
#[cfg(test)]
use stall::scan_words;
pub use stall::{Skipped, Stall};

#[cfg(test)]
mod api_tests;
#[cfg(test)]
mod crash_tests;
#[cfg(test)]
mod tests;

//! A multi-producer single-consumer ring of variable-length byte frames on a
//! shared region, with out-of-order commit.
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
//!   to offset 0. It then writes the record header as *busy*
//!   ([`BUSY`]` | `[`frame_word`]`(len)`, claimant id in the second word) with
//!   `Release`, issues a `Release` fence (so no payload byte can become
//!   visible without its header), writes the payload, and **commits** by
//!   storing [`frame_word`]`(len)` with `Release`. Producers commit in any
//!   order: a fast producer does not wait for a slow one that claimed first.
//! - The **consumer** (one at a time, a claimed role) reads records in
//!   position order. At `head` it loads the first header word (`Acquire`):
//!   0 means claimed but not written yet (or nothing claimed, if
//!   `tail == head`); busy means in progress; a committed frame is delivered;
//!   padding and discarded records are skipped. After a record is consumed
//!   the consumer **zeroes all its bytes** before it publishes the new `head`
//!   (`Release`), so that every header of the next lap reads 0 until its
//!   producer writes it, and no stale payload word can pass for a header.
//!
//! The commit is a plain `Release` store, not a compare-and-swap from the
//! busy value: a producer whose record the consumer has skipped (believing
//! it dead, see below) has already written its payload into space that is no
//! longer its own by the time it commits, so a failed compare-and-swap could
//! only report the damage, not prevent it, and would cost an exclusive
//! read-modify-write on every frame.
//!
//! # Layout (layout version 1, kind 5)
//! | offset | width | field | meaning | written by |
//! |-------:|------:|-------|---------|------------|
//! | 0      | 128 B | [`Header`] | kind [`ObjectKind::FrameMpsc`], element size 1, element alignment 8, capacity (data bytes), data offset 512, flags | creator |
//! | 128    | u32   | `tail` | next byte position to claim | producers (compare-and-swap) |
//! | 132    | u32   | consumer waiting | event count: 1 while the consumer is about to sleep on the doorbell | consumer |
//! | 136    | u32   | doorbell | bumped (and woken) by a producer that committed while the consumer waits | producers (add) |
//! | 140    | 116 B | reserved, zero | | nobody |
//! | 256    | u32   | `head` | next byte position to read | consumer |
//! | 260    | u32   | consumer claim (0 free, 1 taken) | | consumer |
//! | 264    | u32   | producers waiting | event count: producers about to sleep on `head` | producers (add / subtract) |
//! | 268    | 116 B | reserved, zero | | nobody |
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
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::time::Duration;

use super::{BUSY, PAD, RECORD_ALIGN, Record, frame_word, record_len};
use crate::error::{Error, Result, Role};
#[cfg(not(feature = "loom"))]
use crate::region::Region;
use crate::region::{FLAG_WAKES, Header, LINE, ObjectKind, Reserved, claim, release_claim};
use crate::sync::{AtomicU32, Ordering, fence};
use crate::wait::{Announce, Blocker, Notify, Spin, wake_waiters};

/// Offset of the data area from the region base.
///
/// ```
/// assert_eq!(ipckit_core::frame::mpsc::DATA_OFFSET, 512);
/// ```
pub const DATA_OFFSET: usize = 4 * LINE;

/// The claimant word of a discarded record: space a producer claimed and
/// gave up (module docs). Reserved: no producer may use it as its id.
///
/// ```
/// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region};
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?;
/// assert_eq!(mpsc::DISCARDED, u32::MAX);
/// assert_eq!(ring.producer()?.with_id(mpsc::DISCARDED).unwrap_err(), Error::InvalidCapacity);
/// # Ok::<(), Error>(())
/// ```
pub const DISCARDED: u32 = u32::MAX;

/// How many times one claim retries after losing the compare-and-swap on
/// `tail` before it reports [`Error::Corrupted`]: only a peer that rewrites `tail`
/// continuously gets there.
///
/// ```
/// assert_eq!(ipckit_core::frame::mpsc::RETRY_LIMIT, 65_536);
/// ```
pub const RETRY_LIMIT: u32 = 1 << 16;

/// The producers' line.
#[repr(C)]
pub(crate) struct ProducerLine {
    pub(crate) tail: AtomicU32,
    pub(crate) consumer_waiting: AtomicU32,
    pub(crate) doorbell: AtomicU32,
    _reserved: Reserved<{ LINE - 12 }>,
}

/// The consumer's line.
#[repr(C)]
pub(crate) struct ConsumerLine {
    pub(crate) head: AtomicU32,
    pub(crate) claim: AtomicU32,
    pub(crate) producers_waiting: AtomicU32,
    _reserved: Reserved<{ LINE - 12 }>,
}

/// What the consumer skipped.
#[repr(C)]
pub(crate) struct StatsLine {
    pub(crate) skipped_records: AtomicU32,
    pub(crate) skipped_bytes_lo: AtomicU32,
    pub(crate) skipped_bytes_hi: AtomicU32,
    _reserved: Reserved<{ LINE - 12 }>,
}

/// Everything of an MPSC frame region before the data area.
#[repr(C)]
pub(crate) struct Control {
    pub(crate) header: Header,
    pub(crate) producer: ProducerLine,
    pub(crate) consumer: ConsumerLine,
    pub(crate) stats: StatsLine,
}

#[cfg(not(feature = "loom"))]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(offset_of!(Control, header) == 0);
    assert!(offset_of!(Control, producer) + offset_of!(ProducerLine, tail) == 128);
    assert!(offset_of!(Control, producer) + offset_of!(ProducerLine, consumer_waiting) == 132);
    assert!(offset_of!(Control, producer) + offset_of!(ProducerLine, doorbell) == 136);
    assert!(offset_of!(Control, consumer) + offset_of!(ConsumerLine, head) == 256);
    assert!(offset_of!(Control, consumer) + offset_of!(ConsumerLine, claim) == 260);
    assert!(offset_of!(Control, consumer) + offset_of!(ConsumerLine, producers_waiting) == 264);
    assert!(offset_of!(Control, stats) + offset_of!(StatsLine, skipped_records) == 384);
    assert!(offset_of!(Control, stats) + offset_of!(StatsLine, skipped_bytes_lo) == 388);
    assert!(offset_of!(Control, stats) + offset_of!(StatsLine, skipped_bytes_hi) == 392);
    assert!(size_of::<Control>() == DATA_OFFSET);
    assert!(align_of::<Control>() == 4);
};

/// `true` for a capacity this ring supports.
const fn capacity_ok(capacity: u32) -> bool {
    super::max_frame_len(capacity).is_some()
}

/// A `usize` length as a `u32` for [`Error::FrameTooLarge`].
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

// ---------------------------------------------------------------------------
// The data area: raw bytes in production, loom-tracked words under loom.

/// Access to the data area. In production a pointer to `capacity` bytes;
/// header words are atomics on those bytes, payload moves by raw copies.
#[cfg(not(feature = "loom"))]
#[derive(Clone, Copy)]
struct Data {
    base: NonNull<u8>,
}

/// Under loom, every 8-byte unit of the data area is two atomic header words
/// and one cell for the payload bytes: loom reports a payload access that is
/// not ordered by the header protocol as a data race. (Header and payload
/// bytes are separate storage here, unlike production; the placement is the
/// only difference.)
#[cfg(feature = "loom")]
pub(crate) struct Unit {
    w0: AtomicU32,
    w1: AtomicU32,
    bytes: crate::sync::SlotCell<u64>,
}

#[cfg(feature = "loom")]
#[derive(Clone, Copy)]
struct Data {
    base: NonNull<Unit>,
}

impl Data {
    /// Header word `which` (0: length and flags, 1: claimant) of the record
    /// at byte `off` of the data area.
    ///
    /// Callers hold `off` as a multiple of 8 below the capacity (a masked
    /// position), never as peer data.
    #[inline(always)]
    fn word(&self, off: u32, which: u32) -> &AtomicU32 {
        #[cfg(not(feature = "loom"))]
        {
            // SAFETY: `off + 4 * which + 4 <= capacity` (caller invariant),
            // the data area is valid for the region's lifetime and 8-aligned
            // (checked in `init`/`attach`), and an atomic reference stays
            // sound while peers write the word.
            unsafe {
                &*self
                    .base
                    .as_ptr()
                    .add((off + 4 * which) as usize)
                    .cast::<AtomicU32>()
            }
        }
        #[cfg(feature = "loom")]
        {
            // SAFETY: `off / 8` is below the number of units (caller
            // invariant), and the backing outlives the handle.
            let unit = unsafe { &*self.base.as_ptr().add((off / 8) as usize) };
            if which == 0 { &unit.w0 } else { &unit.w1 }
        }
    }

    /// Copies `src` to byte `off` of the data area.
    ///
    /// # Safety
    /// `off + src.len() <= capacity`, and the protocol gives the caller those
    /// bytes for writing.
    #[inline(always)]
    unsafe fn copy_in(&self, off: u32, src: &[u8]) {
        #[cfg(not(feature = "loom"))]
        // SAFETY: in bounds and owned (caller contract); `src` is a separate
        // Rust slice, so the ranges do not overlap.
        unsafe {
            crate::sync::copy_to_shared(
                self.base.as_ptr().add(off as usize),
                src,
                super::MPSC_GRAIN,
            )
        }
        #[cfg(feature = "loom")]
        {
            let mut i = 0;
            while i < src.len() {
                let b = off as usize + i;
                let (unit, start) = (b / 8, b % 8);
                let n = (8 - start).min(src.len() - i);
                // SAFETY: the unit is in bounds and owned (caller contract).
                let cell = unsafe { core::ptr::addr_of!((*self.base.as_ptr().add(unit)).bytes) };
                // SAFETY: as above; the producer owns the whole unit.
                let mut v = unsafe { crate::sync::SlotCell::read(cell) }.to_ne_bytes();
                v[start..start + n].copy_from_slice(&src[i..i + n]);
                // SAFETY: as above.
                unsafe { crate::sync::SlotCell::write(cell, u64::from_ne_bytes(v)) };
                i += n;
            }
        }
    }

    /// Copies bytes from byte `off` of the data area into `dst`.
    ///
    /// # Safety
    /// `off + dst.len() <= capacity`, and the protocol lets the caller read
    /// those bytes.
    #[inline(always)]
    unsafe fn copy_out(&self, off: u32, dst: &mut [u8]) {
        #[cfg(not(feature = "loom"))]
        // SAFETY: in bounds and readable (caller contract); `dst` is a
        // separate exclusive slice.
        unsafe {
            crate::sync::copy_from_shared(
                self.base.as_ptr().add(off as usize),
                dst,
                super::MPSC_GRAIN,
            )
        }
        #[cfg(feature = "loom")]
        {
            let mut i = 0;
            while i < dst.len() {
                let b = off as usize + i;
                let (unit, start) = (b / 8, b % 8);
                let n = (8 - start).min(dst.len() - i);
                // SAFETY: the unit is in bounds and readable (caller contract).
                let cell = unsafe { core::ptr::addr_of!((*self.base.as_ptr().add(unit)).bytes) };
                // SAFETY: as above.
                let v = unsafe { crate::sync::SlotCell::read(cell) }.to_ne_bytes();
                dst[i..i + n].copy_from_slice(&v[start..start + n]);
                i += n;
            }
        }
    }

    /// Zeroes `len` bytes from byte `off`.
    ///
    /// # Safety
    /// `off` and `len` are multiples of 8, `off + len <= capacity`, and the
    /// bytes belong to the consumer (consumed, not yet released).
    #[inline(always)]
    unsafe fn zero(&self, off: u32, len: u32) {
        #[cfg(not(feature = "loom"))]
        // SAFETY: in bounds and owned (caller contract).
        unsafe {
            crate::sync::zero_shared(
                self.base.as_ptr().add(off as usize),
                len as usize,
                super::MPSC_GRAIN,
            )
        }
        #[cfg(feature = "loom")]
        for unit in (off / 8)..((off + len) / 8) {
            // SAFETY: the unit is in bounds and owned (caller contract).
            let u = unsafe { &*self.base.as_ptr().add(unit as usize) };
            u.w0.store(0, Ordering::Relaxed);
            u.w1.store(0, Ordering::Relaxed);
            // SAFETY: as above.
            unsafe { crate::sync::SlotCell::write(core::ptr::addr_of!(u.bytes), 0) };
        }
    }

    /// The address of byte `off`, for the `unsafe` slice views.
    #[cfg(not(feature = "loom"))]
    #[inline(always)]
    fn ptr(&self, off: u32) -> *mut u8 {
        // SAFETY: callers pass `off <= capacity`: in bounds or one past.
        unsafe { self.base.as_ptr().add(off as usize) }
    }
}

// ---------------------------------------------------------------------------
// Options, stalls, statistics.

/// How a ring is created: capacity, start position and wake mode.
///
/// ```
/// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
///
/// let mut bytes = AlignedBytes::<1024>::new();
/// let options = mpsc::Options::new(256).start_at(u32::MAX - 63).waking(false);
/// let ring = mpsc::Ring::init_with(Region::from_slice(&mut bytes[..]), options)?;
/// assert_eq!(ring.capacity(), 256);
/// # Ok::<(), ipckit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    capacity: u32,
    position: u32,
    wakes: bool,
}

impl Options {
    /// A ring of `capacity` data bytes (a power of two in
    /// [`MIN_CAPACITY`](crate::frame::MIN_CAPACITY)`..=`[`MAX_CAPACITY`](crate::frame::MAX_CAPACITY)), positions starting at 0,
    /// spinning waiters.
    ///
    /// ```
    /// use ipckit_core::frame::mpsc::Options;
    /// assert_eq!(Options::new(64), Options::new(64).start_at(0).waking(false));
    /// ```
    pub const fn new(capacity: u32) -> Self {
        Self {
            capacity,
            position: 0,
            wakes: false,
        }
    }

    /// Starts `tail` and `head` at byte position `position`, which must be a
    /// multiple of [`RECORD_ALIGN`] (`init` refuses others with
    /// [`Error::InvalidCapacity`]). Tests start next to `u32::MAX`.
    ///
    /// ```
    /// use ipckit_core::frame::mpsc::Options;
    /// let _ = Options::new(64).start_at(u32::MAX - 7);
    /// ```
    pub const fn start_at(self, position: u32) -> Self {
        Self { position, ..self }
    }

    /// `true`: waiters sleep (futex, RTOS) and endpoints must use a waking
    /// [`Notify`]; `false` (the default): waiters spin.
    ///
    /// ```
    /// use ipckit_core::frame::mpsc::Options;
    /// let _ = Options::new(64).waking(true);
    /// ```
    pub const fn waking(self, wakes: bool) -> Self {
        Self { wakes, ..self }
    }
}

/// A record that holds the consumer up, as [`Consumer::stalled`] saw it.
///
/// ```
/// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 256)?;
/// let (tx, mut rx) = (ring.producer()?.with_id(42)?, ring.consumer()?);
/// let grant = tx.try_grant(5)?;
/// let stall = rx.stalled()?.expect("a grant in progress");
/// assert_eq!((stall.position, stall.claimant, stall.len), (0, Some(42), Some(5)));
/// drop(grant);
/// assert_eq!(rx.stalled()?, None);
/// # Ok::<(), ipckit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    /// The byte position of the record (the consumer's `head`).
    pub position: u32,
    /// The claimant id from the record header, once the header is written
    /// (`None`: claimed, header not written yet).
    pub claimant: Option<u32>,
    /// The frame length announced in the header, once written.
    pub len: Option<u32>,
    /// The first header word as seen (0 or busy).
    word: u32,
    /// `tail` as seen.
    tail: u32,
}

/// What [`Consumer::skip_stalled`] has skipped over the ring's life.
///
/// ```
/// use ipckit_core::frame::mpsc::Skipped;
/// assert_eq!(Skipped::default(), Skipped { records: 0, bytes: 0 });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Stalled records skipped (wrapping; one skip of several unwritten
    /// records counts one).
    pub records: u32,
    /// Their bytes, headers and padding included.
    pub bytes: u64,
}

// ---------------------------------------------------------------------------
// The ring.

/// An MPSC frame ring placed on a region: the handle from which producers and
/// the consumer are made.
///
/// ```
/// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
///
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
/// let (a, b, mut rx) = (ring.producer()?, ring.producer()?, ring.consumer()?);
/// a.try_send(b"one")?;
/// b.try_send(b"two")?;
/// let mut buf = [0; 8];
/// let n = rx.try_recv(&mut buf)?;
/// assert_eq!(&buf[..n], b"one");
/// let n = rx.try_recv(&mut buf)?;
/// assert_eq!(&buf[..n], b"two");
/// # Ok::<(), ipckit_core::Error>(())
/// ```
pub struct Ring<'a> {
    control: NonNull<Control>,
    data: Data,
    capacity: u32,
    wakes: bool,
    #[cfg(feature = "loom")]
    backing: std::sync::Arc<dyn core::any::Any>,
    _region: PhantomData<&'a Control>,
}

// SAFETY: the handle points into a region valid for `'a` that is built for
// use from several threads, processes and cores: every shared word is an
// atomic, and payload bytes are accessed only by the endpoint that the
// protocol gives them to.
unsafe impl Send for Ring<'_> {}
// SAFETY: as above; `&Ring` offers only atomic operations and claims.
unsafe impl Sync for Ring<'_> {}

impl Clone for Ring<'_> {
    fn clone(&self) -> Self {
        Self {
            control: self.control,
            data: self.data,
            capacity: self.capacity,
            wakes: self.wakes,
            #[cfg(feature = "loom")]
            backing: self.backing.clone(),
            _region: PhantomData,
        }
    }
}

impl fmt::Debug for Ring<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("frame::mpsc::Ring")
            .field("capacity", &self.capacity)
            .field("wakes", &self.wakes)
            .finish_non_exhaustive()
    }
}

impl<'a> Ring<'a> {
    /// The number of bytes a region needs for a data area of `capacity`
    /// bytes: `512 + capacity`, or `None` if `capacity` is not a power of
    /// two in [`MIN_CAPACITY`](crate::frame::MIN_CAPACITY)`..=`[`MAX_CAPACITY`](crate::frame::MAX_CAPACITY).
    ///
    /// ```
    /// use ipckit_core::frame::mpsc::Ring;
    /// assert_eq!(Ring::region_len(1024), Some(512 + 1024));
    /// assert_eq!(Ring::region_len(1000), None);
    /// ```
    pub const fn region_len(capacity: u32) -> Option<usize> {
        if capacity_ok(capacity) {
            Some(DATA_OFFSET + capacity as usize)
        } else {
            None
        }
    }

    /// Creates a ring with a data area of `capacity` bytes in `region` and
    /// publishes its header; positions start at 0. On a region from
    /// [`Region::from_slice`] a stale header is reset first; on a raw region
    /// exactly one of several racing creators succeeds
    /// ([`Error::AlreadyInitialized`]). The region's base must be 8-aligned.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// assert!(mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512).is_ok());
    /// for bad in [0, 8, 48, 1024] {
    ///     assert!(mpsc::Ring::init(Region::from_slice(&mut bytes[..]), bad).is_err());
    /// }
    /// # Ok::<(), Error>(())
    /// ```
    #[cfg(not(feature = "loom"))]
    pub fn init(region: Region<'a>, capacity: u32) -> Result<Self> {
        Self::init_with(region, Options::new(capacity))
    }

    /// Like [`init`](Self::init), positions starting at `position` (a
    /// multiple of 8).
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init_at(Region::from_slice(&mut bytes[..]), 64, u32::MAX - 15)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// let mut buf = [0; 24];
    /// for i in 0..20u8 {
    ///     tx.try_send(&[i; 20])?;
    ///     assert_eq!(rx.try_recv(&mut buf)?, 20);
    ///     assert_eq!(buf[..20], [i; 20]);
    /// }
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    #[cfg(not(feature = "loom"))]
    pub fn init_at(region: Region<'a>, capacity: u32, position: u32) -> Result<Self> {
        Self::init_with(region, Options::new(capacity).start_at(position))
    }

    /// Creates a ring as `options` say; see [`init`](Self::init).
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, wait::Spin, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let options = mpsc::Options::new(256).waking(true);
    /// let ring = mpsc::Ring::init_with(Region::from_slice(&mut bytes[..]), options)?;
    /// assert_eq!(ring.producer_with(Spin::new()).unwrap_err(), Error::NotifyMismatch);
    /// let bad = mpsc::Options::new(256).start_at(3);
    /// assert_eq!(mpsc::Ring::init_with(Region::from_slice(&mut bytes[..]), bad).unwrap_err(), Error::InvalidCapacity);
    /// # Ok::<(), Error>(())
    /// ```
    #[cfg(not(feature = "loom"))]
    pub fn init_with(region: Region<'a>, options: Options) -> Result<Self> {
        let len = Self::region_len(options.capacity).ok_or(Error::InvalidCapacity)?;
        if options.position % RECORD_ALIGN != 0 {
            return Err(Error::InvalidCapacity);
        }
        region.check(len, RECORD_ALIGN as usize)?;
        let ring = Self::on_region(region, options.capacity, options.wakes);
        ring.write_fresh(region.is_exclusive(), options)?;
        Ok(ring)
    }

    /// Attaches to a ring another side created in `region`, after validating
    /// every header field and the region's length and alignment.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, mpmc, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 256)?;
    /// let ring = mpsc::Ring::attach(Region::from_slice(&mut bytes[..]))?;
    /// assert_eq!(ring.capacity(), 256);
    /// let err = mpmc::Ring::<u8>::attach(Region::from_slice(&mut bytes[..])).unwrap_err();
    /// assert_eq!(err, Error::KindMismatch { found: 5, expected: 2 });
    /// # Ok::<(), Error>(())
    /// ```
    #[cfg(not(feature = "loom"))]
    pub fn attach(region: Region<'a>) -> Result<Self> {
        let info = region.header()?.read_info()?;
        info.expect(ObjectKind::FrameMpsc, 1, RECORD_ALIGN)?;
        let capacity = info.capacity;
        let len = Self::region_len(capacity).ok_or(Error::Corrupted("capacity in header"))?;
        if info.data_offset as usize != DATA_OFFSET {
            return Err(Error::Corrupted("data offset in header"));
        }
        region.check(len, RECORD_ALIGN as usize)?;
        let wakes = match info.flags {
            0 => false,
            FLAG_WAKES => true,
            _ => return Err(Error::Corrupted("flags in header")),
        };
        Ok(Self::on_region(region, capacity, wakes))
    }

    #[cfg(not(feature = "loom"))]
    fn on_region(region: Region<'a>, capacity: u32, wakes: bool) -> Self {
        let base = region.as_ptr();
        Self {
            // SAFETY: the region's base is non-null.
            control: unsafe { NonNull::new_unchecked(base.cast::<Control>()) },
            data: Data {
                // SAFETY: `region.check` proved `DATA_OFFSET + capacity`
                // bytes, so this in-bounds offset of a non-null base is
                // non-null.
                base: unsafe { NonNull::new_unchecked(base.add(DATA_OFFSET)) },
            },
            capacity,
            wakes,
            _region: PhantomData,
        }
    }

    /// The init protocol of [`crate::region`]; the data area must be zero
    /// (fresh memory) or is zeroed here for an exclusive region.
    fn write_fresh(&self, exclusive: bool, options: Options) -> Result<()> {
        let c = self.control();
        c.header.begin_init(exclusive)?;
        let flags = if options.wakes { FLAG_WAKES } else { 0 };
        c.header.write_fields(
            ObjectKind::FrameMpsc,
            1,
            RECORD_ALIGN,
            options.capacity,
            DATA_OFFSET as u32,
            flags,
        );
        let p = options.position;
        c.producer.tail.store(p, Ordering::Relaxed);
        c.producer.consumer_waiting.store(0, Ordering::Relaxed);
        c.producer.doorbell.store(0, Ordering::Relaxed);
        c.consumer.head.store(p, Ordering::Relaxed);
        c.consumer.claim.store(0, Ordering::Relaxed);
        c.consumer.producers_waiting.store(0, Ordering::Relaxed);
        c.stats.skipped_records.store(0, Ordering::Relaxed);
        c.stats.skipped_bytes_lo.store(0, Ordering::Relaxed);
        c.stats.skipped_bytes_hi.store(0, Ordering::Relaxed);
        // Every header of the first lap must read "not written". A region
        // that only we can see may hold old bytes: clear it. A shared region
        // is fresh memory (the `Region::from_raw` contract: zeroed).
        if exclusive {
            // SAFETY: nobody else can see the region; the whole data area is
            // in bounds.
            unsafe { self.data.zero(0, self.capacity) };
        }
        c.header.publish();
        Ok(())
    }

    /// A ring on the heap for the loom models: the same control block and
    /// algorithm, the data area as loom-tracked units.
    #[cfg(feature = "loom")]
    #[doc(hidden)]
    pub fn new_modelled(capacity: u32, position: u32) -> Result<Ring<'static>> {
        Self::new_modelled_with(Options::new(capacity).start_at(position))
    }

    /// [`new_modelled`](Self::new_modelled) with all [`Options`].
    #[cfg(feature = "loom")]
    #[doc(hidden)]
    pub fn new_modelled_with(options: Options) -> Result<Ring<'static>> {
        use std::boxed::Box;
        use std::sync::Arc;
        use std::vec::Vec;

        if !capacity_ok(options.capacity) || options.position % RECORD_ALIGN != 0 {
            return Err(Error::InvalidCapacity);
        }
        let control = Box::new(Control {
            header: Header::new(),
            producer: ProducerLine {
                tail: AtomicU32::new(0),
                consumer_waiting: AtomicU32::new(0),
                doorbell: AtomicU32::new(0),
                _reserved: Reserved::new(),
            },
            consumer: ConsumerLine {
                head: AtomicU32::new(0),
                claim: AtomicU32::new(0),
                producers_waiting: AtomicU32::new(0),
                _reserved: Reserved::new(),
            },
            stats: StatsLine {
                skipped_records: AtomicU32::new(0),
                skipped_bytes_lo: AtomicU32::new(0),
                skipped_bytes_hi: AtomicU32::new(0),
                _reserved: Reserved::new(),
            },
        });
        let mut units: Box<[Unit]> = (0..options.capacity / 8)
            .map(|_| Unit {
                w0: AtomicU32::new(0),
                w1: AtomicU32::new(0),
                bytes: crate::sync::SlotCell::new(0),
            })
            .collect::<Vec<_>>()
            .into_boxed_slice();
        let ring = Ring {
            control: NonNull::from(&*control),
            data: Data {
                base: NonNull::new(units.as_mut_ptr()).expect("boxed slice is non-null"),
            },
            capacity: options.capacity,
            wakes: options.wakes,
            // Only kept alive here; every access goes through the handle's
            // pointers (the ring is `Send + Sync` by its own contract).
            #[allow(clippy::arc_with_non_send_sync)]
            backing: Arc::new((control, units)),
            _region: PhantomData,
        };
        // Fresh units are zero already: no need to zero them (`exclusive`
        // false skips that, and loom then has fewer operations to explore).
        ring.write_fresh(false, options)?;
        Ok(ring)
    }

    fn control(&self) -> &Control {
        // SAFETY: `control` points to the start of a region valid for `'a`
        // (or to the loom backing this handle keeps alive), long and aligned
        // enough for `Control` (checked in `init`/`attach`). Every field is
        // an atomic or an `UnsafeCell`.
        unsafe { self.control.as_ref() }
    }

    /// The size of the data area in bytes.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// assert_eq!(mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?.capacity(), 512);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// The largest frame this ring carries:
    /// [`max_frame_len`](crate::frame::max_frame_len)`(capacity)`.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// assert_eq!(mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?.max_frame_len(), 248);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn max_frame_len(&self) -> u32 {
        self.capacity / 2 - super::RECORD_HEADER_LEN
    }

    /// `true` if the ring was created for sleeping waiters
    /// ([`Options::waking`]).
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// assert!(!mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?.wakes());
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn wakes(&self) -> bool {
        self.wakes
    }

    /// A producer with the spinning notifier [`Spin`] and claimant id 0;
    /// see [`producer_with`](Self::producer_with). Any number may exist.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let tx = ring.producer()?;
    /// assert_eq!(tx.id(), 0);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn producer(&self) -> Result<Producer<'a>> {
        self.producer_with(Spin::new())
    }

    /// A producer whose blocking calls sleep through `notify`, and whose
    /// commits wake a sleeping consumer through it. `N::WAKES` must match the
    /// ring ([`Error::NotifyMismatch`]). Its claimant id is 0 until set with
    /// [`Producer::with_id`].
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, wait::Spin, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// ring.producer_with(Spin::new())?.send(b"x")?;
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn producer_with<N: Notify>(&self, notify: N) -> Result<Producer<'a, N>> {
        if N::WAKES != self.wakes {
            return Err(Error::NotifyMismatch);
        }
        Ok(Producer {
            ring: self.clone(),
            notify,
            id: 0,
        })
    }

    /// Claims the consumer role with the spinning notifier [`Spin`]; see
    /// [`consumer_with`](Self::consumer_with).
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region, Role};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let rx = ring.consumer()?;
    /// assert_eq!(ring.consumer().unwrap_err(), Error::RoleTaken(Role::Consumer));
    /// drop(rx);
    /// assert!(ring.consumer().is_ok());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn consumer(&self) -> Result<Consumer<'a>> {
        self.consumer_with(Spin::new())
    }

    /// Claims the consumer role (one at a time: [`Error::RoleTaken`]) with
    /// the notifier `notify`. Validates `head` and `tail` first
    /// ([`Error::Corrupted`], and the role is given back).
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, wait::Spin, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let mut rx = ring.consumer_with(Spin::new())?;
    /// assert_eq!(rx.try_recv(&mut [0; 8]), Err(Error::Empty));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn consumer_with<N: Notify>(&self, notify: N) -> Result<Consumer<'a, N>> {
        if N::WAKES != self.wakes {
            return Err(Error::NotifyMismatch);
        }
        let c = self.control();
        claim(&c.consumer.claim, Role::Consumer)?;
        // Our own index as the previous holder published it (the claim's
        // Acquire orders this load after that holder's release).
        let head = c.consumer.head.load(Ordering::Relaxed);
        let tail = c.producer.tail.load(Ordering::Acquire);
        if (head | tail) % RECORD_ALIGN != 0 || tail.wrapping_sub(head) > self.capacity {
            release_claim(&c.consumer.claim);
            return Err(Error::Corrupted(
                "head is not a record position within a capacity of tail",
            ));
        }
        Ok(Consumer {
            ring: self.clone(),
            notify,
            head,
            cached_tail: tail,
            stall_timeout: None,
        })
    }

    /// Frees the consumer role in the shared header **without** a
    /// [`Consumer`] being dropped: the recovery step for a holder that died
    /// holding it. The next consumer resumes at the published `head`: a
    /// frame the dead holder read but never released is delivered again.
    ///
    /// A holder killed while it was consuming a record (zeroing its bytes,
    /// between reading it and publishing the new `head`) leaves that record
    /// partly zeroed: it is delivered again with some bytes zero, or, if its
    /// header was zeroed already, it shows as a record whose header was never
    /// written ([`Consumer::stalled`] with no claimant), which only
    /// [`Consumer::skip_stalled`] gets past (and whose forward scan may then
    /// take a payload word of it for a header: wrong frames or
    /// [`Error::Corrupted`], never undefined behaviour). Producers are not
    /// affected: they never wait for a consumer claim.
    ///
    /// # Safety
    /// No [`Consumer`] of this ring may be used again after this call, in
    /// any thread or process (two consumers zeroing and publishing the same
    /// bytes would hand space to producers twice). Releasing the claim of a
    /// process known to have died fulfils this.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region, Role};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 256)?;
    /// ring.producer()?.try_send(b"kept")?;
    /// core::mem::forget(ring.consumer()?); // the holder "dies"
    /// assert_eq!(ring.consumer().unwrap_err(), Error::RoleTaken(Role::Consumer));
    /// // SAFETY: the forgotten consumer is never used again.
    /// unsafe { ring.release_consumer_claim() };
    /// let mut rx = ring.consumer()?;
    /// assert_eq!(rx.try_recv(&mut [0; 8])?, 4);
    /// # Ok::<(), Error>(())
    /// ```
    pub unsafe fn release_consumer_claim(&self) {
        release_claim(&self.control().consumer.claim);
    }

    /// Wakes a sleeping consumer after a commit or discard: the waker's half
    /// of the event count, on the doorbell (module docs).
    #[inline(always)]
    fn ring_doorbell<N: Notify>(&self, notify: &N) {
        if !N::WAKES {
            return;
        }
        let c = self.control();
        fence(Ordering::SeqCst);
        if c.producer.consumer_waiting.load(Ordering::Relaxed) != 0 {
            doorbell_slow(notify, &c.producer.doorbell);
        }
    }
}

#[cold]
fn doorbell_slow<N: Notify>(notify: &N, doorbell: &AtomicU32) {
    // Release: a consumer whose doorbell read sees this bump (then an
    // Acquire fence) sees our commit in its re-check.
    doorbell.fetch_add(1, Ordering::Release);
    notify.wake_one(doorbell);
}

// ---------------------------------------------------------------------------
// Producers.

/// A writing endpoint of an MPSC frame ring. Any number of producers may
/// send concurrently, through clones or one producer shared by reference;
/// each carries a claimant id (say, its process id) that a stalled record
/// names.
///
/// ```
/// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region};
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?;
/// let tx = ring.producer()?;
/// tx.try_send(&[1; 24])?; // a 32-byte record
/// tx.try_send(&[2; 24])?;
/// assert_eq!(tx.try_send(&[3; 24]), Err(Error::Full));
/// assert_eq!(tx.try_send(&[0; 25]), Err(Error::FrameTooLarge { len: 25, max: 24 }));
/// # Ok::<(), Error>(())
/// ```
pub struct Producer<'a, N = Spin> {
    ring: Ring<'a>,
    notify: N,
    id: u32,
}

impl<N: Clone> Clone for Producer<'_, N> {
    fn clone(&self) -> Self {
        Self {
            ring: self.ring.clone(),
            notify: self.notify.clone(),
            id: self.id,
        }
    }
}

impl<N> fmt::Debug for Producer<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("frame::mpsc::Producer")
            .field("capacity", &self.ring.capacity)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A claim: the record's position (after any padding) and its length.
#[derive(Clone, Copy)]
struct Claim {
    pos: u32,
    len: u32,
}

impl<'a, N: Notify> Producer<'a, N> {
    /// This producer with claimant id `id` (e.g. its process id), written
    /// into every record it claims so that a stalled record names its owner.
    /// [`DISCARDED`] (`u32::MAX`) is reserved: [`Error::InvalidCapacity`].
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// assert_eq!(ring.producer()?.with_id(1234)?.id(), 1234);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn with_id(self, id: u32) -> Result<Self> {
        if id == DISCARDED {
            return Err(Error::InvalidCapacity);
        }
        Ok(Self { id, ..self })
    }

    /// The claimant id ([`with_id`](Self::with_id)).
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// assert_eq!(ring.producer()?.id(), 0);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The ring this producer writes to.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// assert_eq!(ring.producer()?.ring().capacity(), 512);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn ring(&self) -> &Ring<'a> {
        &self.ring
    }

    /// Checks `len` against the largest frame.
    fn check_len(&self, len: usize) -> Result<u32> {
        let max = self.ring.max_frame_len();
        match u32::try_from(len) {
            Ok(l) if l <= max => Ok(l),
            _ => Err(Error::FrameTooLarge {
                len: len_u32(len),
                max,
            }),
        }
    }

    /// One attempt to claim a record of `len` payload bytes: `None` when the
    /// free space is too small.
    #[inline]
    fn claim(&self, len: u32) -> Result<Option<Claim>> {
        self.claim_inner(len, true)
    }

    /// For the loom models: claims space for a frame of `len` bytes and
    /// writes nothing, as a producer that dies right after its
    /// compare-and-swap on `tail`. `false` when the ring was full.
    #[cfg(feature = "loom")]
    #[doc(hidden)]
    pub fn claim_and_die(&self, len: usize) -> Result<bool> {
        let len = self.check_len(len)?;
        Ok(self.claim_inner(len, false)?.is_some())
    }

    #[inline(always)]
    fn claim_inner(&self, len: u32, write: bool) -> Result<Option<Claim>> {
        let ring = &self.ring;
        let c = ring.control();
        let cap = ring.capacity;
        let mask = cap - 1;
        let total = record_len(len);
        let mut retries = 0;
        loop {
            // `tail`, then `head`, both Acquire, and claims with Release:
            // whoever claimed up to `tail` had seen a `head` of at least
            // `tail - capacity`, and our `head` load comes after its
            // claim (synchronised), so `tail - head <= capacity` holds in an
            // honest ring and anything more is a corruption. `head` can be
            // past our `tail` (the consumer read records claimed after our
            // load): then `tail` is stale, and a reload, ordered after the
            // consumer's `head` store, is at least `head`.
            let mut tail = c.producer.tail.load(Ordering::Acquire);
            let head = c.consumer.head.load(Ordering::Acquire);
            if (tail.wrapping_sub(head) as i32) < 0 {
                tail = c.producer.tail.load(Ordering::Acquire);
            }
            let used = tail.wrapping_sub(head);
            if used > cap || (tail | head) % RECORD_ALIGN != 0 {
                return Err(Error::Corrupted(
                    "tail is not a record position within a capacity of head",
                ));
            }
            let until_end = cap - (tail & mask);
            let need = if total <= until_end {
                total
            } else {
                until_end + total
            };
            if need > cap - used {
                return Ok(None);
            }
            // Release: orders our `head` load before any later claimant's
            // `tail` load (see above). The payload is published by the
            // record header's Release stores, not by this.
            match c.producer.tail.compare_exchange_weak(
                tail,
                tail.wrapping_add(need),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if !write {
                        return Ok(Some(Claim { pos: tail, len }));
                    }
                    let mut pos = tail;
                    if need != total {
                        // Padding up to the end, then the record at 0.
                        let off = tail & mask;
                        ring.data.word(off, 1).store(self.id, Ordering::Relaxed);
                        ring.data
                            .word(off, 0)
                            .store(PAD | until_end, Ordering::Release);
                        pos = tail.wrapping_add(until_end);
                    }
                    let off = pos & mask;
                    ring.data.word(off, 1).store(self.id, Ordering::Relaxed);
                    ring.data
                        .word(off, 0)
                        .store(BUSY | frame_word(len), Ordering::Release);
                    // No payload byte may become visible before the header
                    // that covers it (the consumer's skip scan relies on it).
                    fence(Ordering::Release);
                    return Ok(Some(Claim { pos, len }));
                }
                Err(_) => {
                    retries += 1;
                    if retries >= RETRY_LIMIT {
                        return Err(Error::Corrupted("tail kept moving: retry limit reached"));
                    }
                }
            }
        }
    }

    /// Claims space for a frame of `len` bytes and returns it for writing in
    /// place, or [`Error::Full`]; [`Error::FrameTooLarge`] for a frame
    /// longer than [`Ring::max_frame_len`] (nothing claimed).
    ///
    /// The record is in progress until [`Grant::commit`]; the consumer
    /// waits for it (frames claimed later may be committed earlier and wait
    /// behind it). Dropping the grant uncommitted discards it.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// let mut grant = tx.try_grant(10)?;
    /// grant.write_at(0, b"hello")?;
    /// grant.write_at(5, b"world")?;
    /// grant.commit(10)?;
    /// let mut buf = [0; 16];
    /// let n = rx.try_recv(&mut buf)?;
    /// assert_eq!(&buf[..n], b"helloworld");
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn try_grant(&self, len: usize) -> Result<Grant<'_, 'a, N>> {
        let len = self.check_len(len)?;
        match self.claim(len)? {
            Some(claim) => Ok(Grant::new(self, claim)),
            None => Err(Error::Full),
        }
    }

    /// Like [`try_grant`](Self::try_grant), waiting while the ring is full.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let tx = ring.producer()?;
    /// let mut grant = tx.grant(3)?;
    /// grant.copy_from_slice(b"abc")?;
    /// grant.commit(3)?;
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn grant(&self, len: usize) -> Result<Grant<'_, 'a, N>> {
        self.grant_timeout(len, None)
    }

    /// Like [`try_grant`](Self::try_grant), waiting at most `timeout`
    /// (`None`: no limit) while the ring is full ([`Error::TimedOut`]).
    /// Waiting producers sleep on `head`.
    ///
    /// ```
    /// use core::time::Duration;
    /// use ipckit_core::{frame::mpsc, wait::Spin, AlignedBytes, Error, Region};
    /// fn clock() -> Duration {
    ///     static T0: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ///     T0.get_or_init(std::time::Instant::now).elapsed()
    /// }
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?;
    /// let tx = ring.producer_with(Spin::with_clock(clock))?;
    /// tx.send(&[0; 24])?;
    /// tx.send(&[0; 24])?;
    /// let err = tx.grant_timeout(24, Some(Duration::from_millis(5))).unwrap_err();
    /// assert_eq!(err, Error::TimedOut);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn grant_timeout(&self, len: usize, timeout: Option<Duration>) -> Result<Grant<'_, 'a, N>> {
        let len = self.check_len(len)?;
        let claim = self.claim_blocking(len, timeout)?;
        Ok(Grant::new(self, claim))
    }

    fn claim_blocking(&self, len: u32, timeout: Option<Duration>) -> Result<Claim> {
        if let Some(claim) = self.claim(len)? {
            return Ok(claim);
        }
        let c = self.ring.control();
        let (word, waiters) = (&c.consumer.head, &c.consumer.producers_waiting);
        let mut blocker = Blocker::new(&self.notify, timeout, Announce::Counter)?;
        loop {
            blocker.sleep(&self.notify, word, waiters)?;
            blocker.prepare(&self.notify, word, waiters);
            match self.claim(len) {
                Ok(None) => {}
                Ok(Some(claim)) => {
                    blocker.finish(waiters);
                    return Ok(claim);
                }
                Err(e) => {
                    blocker.finish(waiters);
                    return Err(e);
                }
            }
        }
    }

    /// Sends a copy of `frame`, or [`Error::Full`] /
    /// [`Error::FrameTooLarge`] (nothing claimed).
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// tx.try_send(b"")?; // empty frames are frames
    /// assert_eq!(rx.try_recv(&mut [])?, 0);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn try_send(&self, frame: &[u8]) -> Result<()> {
        let grant = self.try_grant(frame.len())?;
        grant.finish_copy(frame);
        Ok(())
    }

    /// Sends a copy of `frame`, waiting while the ring is full.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| for i in 0..100u8 { tx.send(&[i; 20]).unwrap() });
    ///     let mut buf = [0; 24];
    ///     for i in 0..100u8 {
    ///         assert_eq!(rx.recv(&mut buf).unwrap(), 20);
    ///         assert_eq!(buf[..20], [i; 20]);
    ///     }
    /// });
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn send(&self, frame: &[u8]) -> Result<()> {
        self.send_timeout(frame, None)
    }

    /// Sends a copy of `frame`, waiting at most `timeout` (`None`: no limit)
    /// while the ring is full ([`Error::TimedOut`]).
    ///
    /// ```
    /// use core::time::Duration;
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?;
    /// let tx = ring.producer()?;
    /// tx.send_timeout(b"fits", Some(Duration::from_millis(1)))?;
    /// // Spin has no clock: a timeout that would have to be waited out is refused.
    /// tx.send(&[0; 24])?;
    /// assert_eq!(tx.send_timeout(&[0; 24], Some(Duration::from_millis(1))), Err(Error::NoClock));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn send_timeout(&self, frame: &[u8], timeout: Option<Duration>) -> Result<()> {
        let grant = self.grant_timeout(frame.len(), timeout)?;
        grant.finish_copy(frame);
        Ok(())
    }

    /// The size of the data area in bytes.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// assert_eq!(ring.producer()?.capacity(), 512);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn capacity(&self) -> u32 {
        self.ring.capacity
    }
}

/// Space for one frame, claimed by [`Producer::try_grant`] and written in
/// place.
///
/// The safe writers copy through raw pointers: no Rust reference to shared
/// memory is created, so a peer that scribbles on the space can make the
/// frame wrong, never this process unsound. Bytes not written before the
/// commit are zero (the consumer zeroes consumed space).
///
/// Dropping a grant without committing discards the space: the consumer
/// skips it and never waits for it.
///
/// ```
/// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region};
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
/// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
/// drop(tx.try_grant(40)?); // discarded
/// let grant = tx.try_grant(100)?;
/// assert_eq!(grant.len(), 100);
/// grant.commit(2)?; // a 2-byte frame; the rest of the space is discarded
/// assert_eq!(rx.try_recv(&mut [0; 8])?, 2);
/// assert_eq!(rx.try_recv(&mut [0; 8]), Err(Error::Empty));
/// # Ok::<(), Error>(())
/// ```
pub struct Grant<'p, 'a, N: Notify = Spin> {
    producer: &'p Producer<'a, N>,
    claim: Claim,
    done: bool,
}

impl<N: Notify> fmt::Debug for Grant<'_, '_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("frame::mpsc::Grant")
            .field("position", &self.claim.pos)
            .field("len", &self.claim.len)
            .finish()
    }
}

impl<'p, 'a, N: Notify> Grant<'p, 'a, N> {
    fn new(producer: &'p Producer<'a, N>, claim: Claim) -> Self {
        Self {
            producer,
            claim,
            done: false,
        }
    }

    /// Byte offset of the record header in the data area.
    fn off(&self) -> u32 {
        self.claim.pos & (self.producer.ring.capacity - 1)
    }

    /// The number of bytes granted.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// assert_eq!(ring.producer()?.try_grant(7)?.len(), 7);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.claim.len as usize
    }

    /// `true` for a grant of an empty frame.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// assert!(ring.producer()?.try_grant(0)?.is_empty());
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.claim.len == 0
    }

    /// Copies `src` to the start of the grant; [`Error::FrameTooLarge`] (and
    /// nothing written) if it is longer than the grant.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let tx = ring.producer()?;
    /// let mut grant = tx.try_grant(2)?;
    /// assert_eq!(grant.copy_from_slice(b"abc"), Err(Error::FrameTooLarge { len: 3, max: 2 }));
    /// grant.copy_from_slice(b"ab")?;
    /// grant.commit(2)?;
    /// # Ok::<(), Error>(())
    /// ```
    pub fn copy_from_slice(&mut self, src: &[u8]) -> Result<()> {
        self.write_at(0, src)
    }

    /// Copies `src` to byte `offset` of the grant; [`Error::FrameTooLarge`]
    /// (and nothing written) if it does not fit.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// let mut grant = tx.try_grant(4)?;
    /// grant.write_at(2, b"cd")?;
    /// assert!(grant.write_at(3, b"xy").is_err());
    /// grant.commit(4)?;
    /// let mut buf = [9; 4];
    /// rx.try_recv(&mut buf)?;
    /// assert_eq!(&buf, b"\0\0cd");
    /// # Ok::<(), Error>(())
    /// ```
    pub fn write_at(&mut self, offset: usize, src: &[u8]) -> Result<()> {
        let end = offset.checked_add(src.len());
        match end {
            Some(end) if end <= self.len() => {}
            _ => {
                return Err(Error::FrameTooLarge {
                    len: len_u32(end.unwrap_or(usize::MAX)),
                    max: self.claim.len,
                });
            }
        }
        // SAFETY: the record (header and `len` payload bytes) lies inside
        // the data area (the claim placed it before the end), this grant
        // owns it until the commit, and `offset + src.len() <= len`.
        unsafe {
            self.producer
                .ring
                .data
                .copy_in(self.off() + 8 + offset as u32, src)
        };
        Ok(())
    }

    /// The granted bytes as a mutable slice in shared memory, for writing
    /// in place (serialising straight into the ring).
    ///
    /// # Safety
    /// No other process or thread may access these bytes while the slice
    /// lives: the consumer and other producers do not, but a faulty or
    /// hostile peer could, and would then race with this `&mut [u8]`. Use it
    /// only with trusted peers; otherwise use [`write_at`](Self::write_at).
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// let mut grant = tx.try_grant(3)?;
    /// // SAFETY: both ends are in this process.
    /// unsafe { grant.as_mut_slice() }.copy_from_slice(b"xyz");
    /// grant.commit(3)?;
    /// let mut buf = [0; 3];
    /// rx.try_recv(&mut buf)?;
    /// assert_eq!(&buf, b"xyz");
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    #[cfg(not(feature = "loom"))]
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        let ptr = self.producer.ring.data.ptr(self.off() + 8);
        // SAFETY: `len` bytes from `ptr` lie in the data area and belong to
        // this grant until its commit (which takes `self`, ending the
        // borrow); exclusivity against peers is the caller's promise.
        unsafe { core::slice::from_raw_parts_mut(ptr, self.len()) }
    }

    /// Commits the first `n` bytes as one frame (`n <= len()`) and wakes a
    /// sleeping consumer. Space left over (8 bytes or more) becomes a
    /// discarded record.
    ///
    /// `n > len()` is [`Error::FrameTooLarge`]: no frame is delivered, and
    /// the whole grant is discarded (the consumer never waits for it).
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// let grant = tx.try_grant(4)?;
    /// assert_eq!(grant.commit(5), Err(Error::FrameTooLarge { len: 5, max: 4 }));
    /// assert_eq!(rx.try_recv(&mut [0; 8]), Err(Error::Empty));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn commit(mut self, n: usize) -> Result<()> {
        self.done = true;
        let granted = self.claim.len;
        let Some(n) = u32::try_from(n).ok().filter(|&n| n <= granted) else {
            self.discard();
            return Err(Error::FrameTooLarge {
                len: len_u32(n),
                max: granted,
            });
        };
        let ring = &self.producer.ring;
        let off = self.off();
        let (used, claimed) = (record_len(n), record_len(granted));
        if used < claimed {
            // The rest becomes a discarded record; the Release of our commit
            // below publishes its header along with our frame.
            let rest = claimed - used;
            ring.data
                .word(off + used, 1)
                .store(DISCARDED, Ordering::Relaxed);
            ring.data
                .word(off + used, 0)
                .store(frame_word(rest - 8), Ordering::Relaxed);
        }
        ring.data
            .word(off, 0)
            .store(frame_word(n), Ordering::Release);
        ring.ring_doorbell(&self.producer.notify);
        Ok(())
    }

    /// Copies `frame` (which fits) and commits it.
    fn finish_copy(mut self, frame: &[u8]) {
        self.done = true;
        let ring = &self.producer.ring;
        let off = self.off();
        // SAFETY: as in `write_at`; `frame.len() == len`.
        unsafe { ring.data.copy_in(off + 8, frame) };
        ring.data
            .word(off, 0)
            .store(frame_word(self.claim.len), Ordering::Release);
        ring.ring_doorbell(&self.producer.notify);
    }

    /// Turns the whole record into a discarded record.
    fn discard(&mut self) {
        let ring = &self.producer.ring;
        let off = self.off();
        ring.data.word(off, 1).store(DISCARDED, Ordering::Relaxed);
        ring.data
            .word(off, 0)
            .store(frame_word(self.claim.len), Ordering::Release);
        ring.ring_doorbell(&self.producer.notify);
    }
}

impl<N: Notify> Drop for Grant<'_, '_, N> {
    fn drop(&mut self) {
        if !self.done {
            self.discard();
        }
    }
}

// ---------------------------------------------------------------------------
// The consumer.

/// A committed frame found at `head`.
#[derive(Clone, Copy)]
struct Ready {
    /// Data offset of the record header.
    off: u32,
    /// Payload bytes.
    len: u32,
    /// Record bytes.
    total: u32,
    /// The claimant word of the record.
    claimant: u32,
}

/// What one look at `head` found (after skipping padding and discarded
/// records).
enum Step {
    Ready(Ready),
    /// Nothing claimed: `tail == head`.
    Empty,
    /// A record is claimed at `head` but not committed (header not written,
    /// or busy).
    InProgress,
}

/// The reading endpoint of an MPSC frame ring: one at a time, a claimed
/// role (dropping it gives the role back).
///
/// ```
/// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region};
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
/// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
/// tx.try_send(b"abc")?;
/// let frame = rx.try_read()?; // zero-copy view of the frame
/// assert_eq!(frame.len(), 3);
/// let mut buf = [0; 3];
/// frame.copy_to(&mut buf)?;
/// frame.release();
/// assert_eq!(&buf, b"abc");
/// assert!(matches!(rx.try_read(), Err(Error::Empty)));
/// # Ok::<(), Error>(())
/// ```
pub struct Consumer<'a, N = Spin> {
    ring: Ring<'a>,
    notify: N,
    /// Our own index (the shared word is only ever stored from this copy).
    head: u32,
    /// `tail` as last loaded and validated; reloaded only when needed.
    cached_tail: u32,
    stall_timeout: Option<Duration>,
}

impl<N> fmt::Debug for Consumer<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("frame::mpsc::Consumer")
            .field("capacity", &self.ring.capacity)
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl<N> Drop for Consumer<'_, N> {
    fn drop(&mut self) {
        release_claim(&self.ring.control().consumer.claim);
    }
}

impl<'a, N: Notify> Consumer<'a, N> {
    /// Reloads `tail` and returns the published bytes from `head`.
    fn refresh_tail(&mut self) -> Result<u32> {
        let tail = self.ring.control().producer.tail.load(Ordering::Acquire);
        let readable = tail.wrapping_sub(self.head);
        if readable > self.ring.capacity || tail % RECORD_ALIGN != 0 {
            return Err(Error::Corrupted(
                "tail is not a record position within a capacity of head",
            ));
        }
        self.cached_tail = tail;
        Ok(readable)
    }

    /// Consumes the `total` bytes at `head` (offset `off`): zeroes them,
    /// publishes the new `head` and wakes waiting producers.
    fn consume(&mut self, off: u32, total: u32) {
        // SAFETY: `parse_record` (or the skip logic) placed the record inside
        // the data area; it is ours until `head` moves past it.
        unsafe { self.ring.data.zero(off, total) };
        self.publish_head(total);
    }

    fn publish_head(&mut self, n: u32) {
        self.head = self.head.wrapping_add(n);
        let c = self.ring.control();
        c.consumer.head.store(self.head, Ordering::Release);
        wake_waiters(
            &self.notify,
            &c.consumer.head,
            &c.consumer.producers_waiting,
            true,
        );
    }

    /// One look at `head`: skips padding and discarded records, and reports
    /// a committed frame (left in place), or why there is none.
    fn step(&mut self) -> Result<Step> {
        let cap = self.ring.capacity;
        loop {
            let off = self.head & (cap - 1);
            // Acquire: pairs with the producer's Release stores of the
            // header (busy, then committed), so the claim of `tail` and the
            // payload are visible after it.
            let word = self.ring.data.word(off, 0).load(Ordering::Acquire);
            if word == 0 {
                if self.cached_tail == self.head && self.refresh_tail()? == 0 {
                    return Ok(Step::Empty);
                }
                return Ok(Step::InProgress);
            }
            let readable = self.cached_tail.wrapping_sub(self.head);
            let record = match super::parse_record(word, off, cap, readable) {
                Ok(record) => record,
                // Our copy of `tail` may be stale: judge with a fresh one.
                Err(_) => {
                    let readable = self.refresh_tail()?;
                    super::parse_record(word, off, cap, readable)?
                }
            };
            match record {
                Record::Busy { .. } => return Ok(Step::InProgress),
                Record::Padding { total } => self.consume(off, total),
                Record::Frame { len, total } => {
                    let claimant = self.ring.data.word(off, 1).load(Ordering::Relaxed);
                    if claimant == DISCARDED {
                        self.consume(off, total);
                    } else {
                        return Ok(Step::Ready(Ready {
                            off,
                            len,
                            total,
                            claimant,
                        }));
                    }
                }
            }
        }
    }

    /// Waits for a committed frame at `head` (module docs, "Blocking"),
    /// skipping records stalled longer than the stall timeout.
    fn wait_ready(&mut self, timeout: Option<Duration>) -> Result<Ready> {
        if let Step::Ready(r) = self.step()? {
            return Ok(r);
        }
        let deadline = crate::wait::deadline(&self.notify, timeout)?;
        let ring = self.ring.clone();
        let c = ring.control();
        let waiters = &c.producer.consumer_waiting;
        let mask = ring.capacity - 1;
        // The stall being watched, and when it was first seen.
        let mut watch: Option<(Stall, Duration)> = None;
        loop {
            let mut limit = deadline;
            if let Some(patience) = self.stall_timeout {
                let now = self.now()?;
                match (self.stalled()?, watch) {
                    (Some(s), Some((w, since))) if s.same_record(&w) => {
                        if now.saturating_sub(since) >= patience {
                            let skipped = self.skip_stalled(&w)?;
                            watch = if skipped > 0 { None } else { Some((s, now)) };
                            if let Step::Ready(r) = self.step()? {
                                return Ok(r);
                            }
                            continue;
                        }
                    }
                    (Some(s), _) => watch = Some((s, now)),
                    (None, _) => watch = None,
                }
                if let Some((_, since)) = watch {
                    let at = since.saturating_add(patience);
                    limit = Some(limit.map_or(at, |l| l.min(at)));
                }
            }
            let relative = match limit {
                None => None,
                Some(l) => Some(l.saturating_sub(self.now()?)),
            };
            let mut blocker = Blocker::new(&self.notify, relative, Announce::Single)?;
            loop {
                // A waking notifier sleeps on the doorbell; a spinning one
                // polls the header at `head`, which changes on every write.
                let word = if N::WAKES {
                    &c.producer.doorbell
                } else {
                    ring.data.word(self.head & mask, 0)
                };
                match blocker.sleep(&self.notify, word, waiters) {
                    Ok(()) => {}
                    Err(Error::TimedOut) => {
                        let expired = match deadline {
                            Some(d) => self.now()? >= d,
                            None => false,
                        };
                        if expired {
                            return Err(Error::TimedOut);
                        }
                        break; // the stall deadline: look at the stall
                    }
                    Err(e) => return Err(e),
                }
                blocker.prepare(&self.notify, word, waiters);
                // The doorbell was loaded Relaxed: a producer's bump seen
                // there must make its commit visible to the re-check.
                fence(Ordering::Acquire);
                match self.step() {
                    Ok(Step::Ready(r)) => {
                        blocker.finish(waiters);
                        return Ok(r);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        blocker.finish(waiters);
                        return Err(e);
                    }
                }
            }
        }
    }

    fn now(&self) -> Result<Duration> {
        self.notify.now().ok_or(Error::NoClock)
    }

    /// The oldest frame, as a zero-copy view that [`ReadFrame::release`]
    /// consumes; [`Error::Empty`] if no frame is committed at the front of
    /// the ring (none is claimed, or the oldest claimed one is still being
    /// written: see [`stalled`](Self::stalled)).
    ///
    /// Returns [`Error::Corrupted`] for a record header or `tail` the
    /// protocol cannot produce (frames before it have been delivered).
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?.with_id(7)?, ring.consumer()?);
    /// tx.try_send(b"xy")?;
    /// let frame = rx.try_read()?;
    /// assert_eq!((frame.len(), frame.claimant()), (2, 7));
    /// drop(frame); // not released: stays queued
    /// assert_eq!(rx.try_read()?.len(), 2);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn try_read(&mut self) -> Result<ReadFrame<'_, 'a, N>> {
        match self.step()? {
            Step::Ready(frame) => Ok(ReadFrame {
                consumer: self,
                frame,
            }),
            Step::Empty | Step::InProgress => Err(Error::Empty),
        }
    }

    /// Like [`try_read`](Self::try_read), waiting while there is no frame.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| tx.send(b"late").unwrap());
    ///     assert_eq!(rx.read().unwrap().len(), 4);
    /// });
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn read(&mut self) -> Result<ReadFrame<'_, 'a, N>> {
        self.read_timeout(None)
    }

    /// Like [`try_read`](Self::try_read), waiting at most `timeout` (`None`:
    /// no limit) while there is no frame ([`Error::TimedOut`]).
    ///
    /// ```
    /// use core::time::Duration;
    /// use ipckit_core::{frame::mpsc, wait::Spin, AlignedBytes, Error, Region};
    /// fn clock() -> Duration {
    ///     static T0: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ///     T0.get_or_init(std::time::Instant::now).elapsed()
    /// }
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let mut rx = ring.consumer_with(Spin::with_clock(clock))?;
    /// assert!(matches!(rx.read_timeout(Some(Duration::from_millis(5))), Err(Error::TimedOut)));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn read_timeout(&mut self, timeout: Option<Duration>) -> Result<ReadFrame<'_, 'a, N>> {
        let frame = self.wait_ready(timeout)?;
        Ok(ReadFrame {
            consumer: self,
            frame,
        })
    }

    /// Copies the oldest frame into `buf` and consumes it; returns its
    /// length. [`Error::Empty`] as for [`try_read`](Self::try_read);
    /// [`Error::BufferTooSmall`] if `buf` is shorter than the frame, which
    /// then stays queued.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// tx.try_send(b"hello")?;
    /// assert_eq!(rx.try_recv(&mut [0; 4]), Err(Error::BufferTooSmall { required: 5 }));
    /// let mut buf = [0; 5];
    /// assert_eq!(rx.try_recv(&mut buf)?, 5);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        match self.step()? {
            Step::Ready(frame) => self.copy_and_consume(frame, buf),
            Step::Empty | Step::InProgress => Err(Error::Empty),
        }
    }

    /// Like [`try_recv`](Self::try_recv), waiting while there is no frame.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// tx.send(b"abc")?;
    /// assert_eq!(rx.recv(&mut [0; 8])?, 3);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.recv_timeout(buf, None)
    }

    /// Like [`try_recv`](Self::try_recv), waiting at most `timeout` (`None`:
    /// no limit) while there is no frame ([`Error::TimedOut`]).
    ///
    /// ```
    /// use core::time::Duration;
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// tx.send(b"abc")?;
    /// // A frame is there: no wait, so no clock needed.
    /// assert_eq!(rx.recv_timeout(&mut [0; 8], Some(Duration::from_secs(1)))?, 3);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        let frame = self.wait_ready(timeout)?;
        self.copy_and_consume(frame, buf)
    }

    fn copy_and_consume(&mut self, frame: Ready, buf: &mut [u8]) -> Result<usize> {
        let len = frame.len as usize;
        let Some(dst) = buf.get_mut(..len) else {
            return Err(Error::BufferTooSmall { required: len });
        };
        // SAFETY: the committed record lies in the data area (parsed), and
        // its producer no longer writes it.
        unsafe { self.ring.data.copy_out(frame.off + 8, dst) };
        self.consume(frame.off, frame.total);
        Ok(len)
    }

    /// The record that holds the consumer up, if any: a record claimed at
    /// the front of the ring and not committed (after skipping padding and
    /// discarded records there). A slow producer shows here for a moment, a
    /// dead one forever; see [`skip_stalled`](Self::skip_stalled).
    ///
    /// Returns [`Error::Corrupted`] as [`try_read`](Self::try_read) does.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// assert_eq!(rx.stalled()?, None);
    /// let g = tx.try_grant(1)?;
    /// assert!(rx.stalled()?.is_some());
    /// g.commit(1)?;
    /// assert_eq!(rx.stalled()?, None); // a frame is ready
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn stalled(&mut self) -> Result<Option<Stall>> {
        match self.step()? {
            Step::Ready(_) | Step::Empty => return Ok(None),
            Step::InProgress => {}
        }
        let cap = self.ring.capacity;
        let off = self.head & (cap - 1);
        let word = self.ring.data.word(off, 0).load(Ordering::Acquire);
        let readable = self.refresh_tail()?;
        let mut stall = Stall {
            position: self.head,
            claimant: None,
            len: None,
            word,
            tail: self.cached_tail,
        };
        if word != 0 {
            match super::parse_record(word, off, cap, readable)? {
                Record::Busy { len, .. } => {
                    stall.len = Some(len);
                    stall.claimant = Some(self.ring.data.word(off, 1).load(Ordering::Relaxed));
                }
                // Committed meanwhile.
                Record::Frame { .. } | Record::Padding { .. } => return Ok(None),
            }
        }
        Ok(Some(stall))
    }

    /// Skips the stalled record `stall` (from [`stalled`](Self::stalled)) if
    /// it is still there, unchanged, and returns the bytes skipped (0 if the
    /// record moved on, or if an unwritten record has no written record
    /// after it and `tail` moved since `stall` was taken: too young to
    /// judge). The skip is counted in [`skipped`](Self::skipped).
    ///
    /// **Only for records of producers known to be dead** (module docs): a
    /// live producer whose record is skipped writes into released space.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// let dead = tx.try_grant(10)?;
    /// tx.try_send(b"after")?;
    /// core::mem::forget(dead); // as if its process died mid-write
    /// let stall = rx.stalled()?.expect("stalled");
    /// assert_eq!(rx.skip_stalled(&stall)?, 24);
    /// assert_eq!(rx.try_recv(&mut [0; 8])?, 5);
    /// assert_eq!(rx.skipped().records, 1);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn skip_stalled(&mut self, stall: &Stall) -> Result<u32> {
        if stall.position != self.head {
            return Ok(0);
        }
        let cap = self.ring.capacity;
        let off = self.head & (cap - 1);
        let word = self.ring.data.word(off, 0).load(Ordering::Acquire);
        if word != stall.word {
            return Ok(0);
        }
        let readable = self.refresh_tail()?;
        let skip = if word != 0 {
            let claimant = self.ring.data.word(off, 1).load(Ordering::Relaxed);
            if Some(claimant) != stall.claimant {
                return Ok(0);
            }
            match super::parse_record(word, off, cap, readable)? {
                Record::Busy { total, .. } => total,
                Record::Frame { .. } | Record::Padding { .. } => return Ok(0),
            }
        } else {
            match self.scan(readable) {
                Some(n) => n,
                None if readable > 0 && self.cached_tail == stall.tail => readable,
                None => return Ok(0),
            }
        };
        // Zero the skipped bytes (possibly around the end of the data area).
        let first = skip.min(cap - off);
        // SAFETY: `off + first <= cap`, `skip - first < cap`, both multiples
        // of 8, and the bytes are published (`skip <= readable`) and ours.
        unsafe {
            self.ring.data.zero(off, first);
            self.ring.data.zero(0, skip - first);
        }
        let stats = &self.ring.control().stats;
        let records = stats.skipped_records.load(Ordering::Relaxed);
        stats
            .skipped_records
            .store(records.wrapping_add(1), Ordering::Relaxed);
        let bytes = self.skipped().bytes.wrapping_add(u64::from(skip));
        stats
            .skipped_bytes_lo
            .store(bytes as u32, Ordering::Relaxed);
        stats
            .skipped_bytes_hi
            .store((bytes >> 32) as u32, Ordering::Relaxed);
        self.publish_head(skip);
        Ok(skip)
    }

    /// The distance from `head` of the first written record header after
    /// the unwritten one at `head`, within `readable` bytes.
    fn scan(&self, readable: u32) -> Option<u32> {
        let mask = self.ring.capacity - 1;
        let first_written = |to: u32| {
            (8..to).step_by(8).find(|&d| {
                let off = self.head.wrapping_add(d) & mask;
                self.ring.data.word(off, 0).load(Ordering::Relaxed) != 0
            })
        };
        let mut found = first_written(readable)?;
        loop {
            // If `found` was a payload word of a record whose header we read
            // as 0, that header was written before the payload (Release
            // fence on the producer's side); after this fence a second look
            // sees it.
            fence(Ordering::Acquire);
            match first_written(found) {
                Some(earlier) => found = earlier,
                None => return Some(found),
            }
        }
    }

    /// Records and bytes skipped by [`skip_stalled`](Self::skip_stalled)
    /// (also automatically, see [`set_stall_timeout`](Self::set_stall_timeout)),
    /// by every consumer of this ring so far.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// assert_eq!(ring.consumer()?.skipped(), mpsc::Skipped::default());
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn skipped(&self) -> Skipped {
        let stats = &self.ring.control().stats;
        let lo = stats.skipped_bytes_lo.load(Ordering::Relaxed);
        let hi = stats.skipped_bytes_hi.load(Ordering::Relaxed);
        Skipped {
            records: stats.skipped_records.load(Ordering::Relaxed),
            bytes: u64::from(hi) << 32 | u64::from(lo),
        }
    }

    /// Makes the blocking reads ([`read`](Self::read),
    /// [`recv`](Self::recv) and their `_timeout` forms) skip a record that
    /// stays stalled, unchanged, for `timeout`, as
    /// [`skip_stalled`](Self::skip_stalled) does. `None` (the default): wait
    /// for it forever. Needs a notifier with a clock ([`Error::NoClock`]
    /// from the blocking calls otherwise). Read the module docs on skipping
    /// live producers before choosing a timeout.
    ///
    /// ```
    /// use core::time::Duration;
    /// use ipckit_core::{frame::mpsc, wait::Spin, AlignedBytes, Region};
    /// fn clock() -> Duration {
    ///     static T0: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ///     T0.get_or_init(std::time::Instant::now).elapsed()
    /// }
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer_with(Spin::with_clock(clock))?);
    /// core::mem::forget(tx.try_grant(3)?); // a producer that died
    /// tx.try_send(b"ok")?;
    /// rx.set_stall_timeout(Some(Duration::from_millis(10)));
    /// assert_eq!(rx.recv(&mut [0; 4])?, 2);
    /// assert_eq!(rx.skipped().records, 1);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn set_stall_timeout(&mut self, timeout: Option<Duration>) {
        self.stall_timeout = timeout;
    }

    /// The size of the data area in bytes.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// assert_eq!(ring.consumer()?.capacity(), 512);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn capacity(&self) -> u32 {
        self.ring.capacity
    }

    /// The ring this consumer reads.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let rx = ring.consumer()?;
    /// rx.ring().producer()?.try_send(b"x")?;
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn ring(&self) -> &Ring<'a> {
        &self.ring
    }
}

impl Stall {
    /// The same record in the same state (the tail may differ).
    fn same_record(&self, other: &Stall) -> bool {
        self.position == other.position
            && self.word == other.word
            && self.claimant == other.claimant
    }
}

/// A committed frame at the front of the ring, read in place
/// ([`Consumer::try_read`]). [`release`](Self::release) consumes it;
/// dropping the view without releasing leaves the frame queued.
///
/// The safe readers copy through raw pointers, so a peer that scribbles on
/// the frame can make the copy wrong, never this process unsound.
///
/// ```
/// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
/// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
/// tx.try_send(b"header:body")?;
/// let frame = rx.try_read()?;
/// let mut head = [0; 6];
/// assert_eq!(frame.read_at(0, &mut head), 6);
/// assert_eq!(&head, b"header");
/// frame.release();
/// # Ok::<(), ipckit_core::Error>(())
/// ```
pub struct ReadFrame<'c, 'a, N: Notify = Spin> {
    consumer: &'c mut Consumer<'a, N>,
    frame: Ready,
}

impl<N: Notify> fmt::Debug for ReadFrame<'_, '_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("frame::mpsc::ReadFrame")
            .field("len", &self.frame.len)
            .field("claimant", &self.frame.claimant)
            .finish()
    }
}

impl<N: Notify> ReadFrame<'_, '_, N> {
    /// The frame's length in bytes.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// tx.try_send(&[1, 2, 3])?;
    /// assert_eq!(rx.try_read()?.len(), 3);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.frame.len as usize
    }

    /// `true` for an empty frame.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// tx.try_send(&[])?;
    /// assert!(rx.try_read()?.is_empty());
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.frame.len == 0
    }

    /// The claimant id the producer wrote into the record
    /// ([`Producer::with_id`]); peer data, not proof of identity.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?.with_id(9)?, ring.consumer()?);
    /// tx.try_send(b"x")?;
    /// assert_eq!(rx.try_read()?.claimant(), 9);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn claimant(&self) -> u32 {
        self.frame.claimant
    }

    /// Copies the whole frame to the start of `dst` and returns its length;
    /// [`Error::BufferTooSmall`] if `dst` is shorter.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// tx.try_send(b"abc")?;
    /// let frame = rx.try_read()?;
    /// assert_eq!(frame.copy_to(&mut [0; 2]), Err(Error::BufferTooSmall { required: 3 }));
    /// assert_eq!(frame.copy_to(&mut [0; 9])?, 3);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn copy_to(&self, dst: &mut [u8]) -> Result<usize> {
        let len = self.len();
        match dst.get_mut(..len) {
            Some(dst) => {
                self.read_at(0, dst);
                Ok(len)
            }
            None => Err(Error::BufferTooSmall { required: len }),
        }
    }

    /// Copies frame bytes from `offset` on into `dst`, as many as fit and
    /// exist; returns how many (0 for an `offset` at or past the end).
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// tx.try_send(b"abcdef")?;
    /// let frame = rx.try_read()?;
    /// let mut buf = [0; 4];
    /// assert_eq!(frame.read_at(4, &mut buf), 2);
    /// assert_eq!(&buf[..2], b"ef");
    /// assert_eq!(frame.read_at(6, &mut buf), 0);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) -> usize {
        let n = self.len().saturating_sub(offset).min(dst.len());
        if n > 0 {
            // SAFETY: `offset + n <= len`: inside the committed record, which
            // lies in the data area and which its producer no longer writes.
            unsafe {
                self.consumer
                    .ring
                    .data
                    .copy_out(self.frame.off + 8 + offset as u32, &mut dst[..n])
            };
        }
        n
    }

    /// The frame as a slice in shared memory, without a copy.
    ///
    /// # Safety
    /// Nobody may write these bytes while the slice lives. Honest producers
    /// do not, but a faulty or hostile peer could, and would then race with
    /// this `&[u8]`: use it only with trusted peers, otherwise
    /// [`copy_to`](Self::copy_to) / [`read_at`](Self::read_at).
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// tx.try_send(b"abc")?;
    /// let frame = rx.try_read()?;
    /// // SAFETY: both ends are in this process.
    /// assert_eq!(unsafe { frame.as_slice() }, b"abc");
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    #[cfg(not(feature = "loom"))]
    pub unsafe fn as_slice(&self) -> &[u8] {
        let ptr = self.consumer.ring.data.ptr(self.frame.off + 8);
        // SAFETY: `len` bytes from `ptr` lie in the data area; the record
        // stays unconsumed while `self` lives (release takes `self`); the
        // absence of writers is the caller's promise.
        unsafe { core::slice::from_raw_parts(ptr, self.len()) }
    }

    /// Consumes the frame: its space goes back to the producers.
    ///
    /// ```
    /// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
    /// tx.try_send(b"abc")?;
    /// rx.try_read()?.release();
    /// assert!(matches!(rx.try_read(), Err(Error::Empty)));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn release(self) {
        self.consumer.consume(self.frame.off, self.frame.total);
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests;

//! A bounded multi-producer multi-consumer ring of `T: Pod` items on a shared
//! region.
//!
//! # Algorithm
//! Dmitry Vyukov's bounded MPMC queue
//! (<https://www.1024cores.net/home/lock-free-algorithms/queues/bounded-mpmc-queue>),
//! the algorithm behind crossbeam's `ArrayQueue`, on free-running `u32`
//! positions. `tail` is the next position to write and `head` the next to
//! read; the slot of position `p` is `p & (capacity - 1)`. Every slot carries
//! a *stamp* that says what the slot is ready for:
//!
//! | stamp of the slot of `p` | meaning | next step |
//! |---|---|---|
//! | `p`            | free for position `p`             | a producer claims `p` by moving `tail` from `p` to `p + 1` (compare-and-swap), writes the item, and publishes the stamp `p + 1` (`Release`) |
//! | `p + 1`        | the item of position `p` is ready | a consumer claims `p` by moving `head` from `p` to `p + 1`, copies the item out, and releases the slot with the stamp `p + capacity` (`Release`): free for position `p + capacity`, one lap later |
//!
//! Whoever wins the compare-and-swap owns the slot until it stores the next
//! stamp; the loser retries at the position it found. The stamp (loaded with
//! `Acquire`) is what orders a slot's item between its writer and its reader.
//! The positions are claimed with `Release` and loaded with `Acquire` for
//! validation's sake: having read `head = h` then orders the claim of
//! `h - capacity`, and the publication that claim saw, before the stamp load,
//! so an honest ring can only show the few stamps listed under "The peer is
//! untrusted" below (with `Relaxed`, loom finds honest but stale stamps
//! outside that set). On x86 this costs nothing; on Arm it is the difference
//! between plain and acquire/release exclusives. A capacity of
//! one is impossible in this scheme (the stamps "published for `p`" and "free
//! for `p + 1`" would be the same number), so the smallest ring has two
//! slots.
//!
//! Each endpoint keeps no state of its own: [`Producer`] and [`Consumer`] are
//! cheap handles that can be cloned, shared between threads by reference,
//! and created from the [`Ring`] any number of times, in any number of
//! processes. There is no role to claim. (An endpoint given an
//! [`Intent`] for crash recovery runs one operation
//! at a time: see [`Producer::with_intent`].)
//!
//! # Layout (layout version 1, kind 2)
//! | offset | width | field | meaning | written by |
//! |-------:|------:|-------|---------|------------|
//! | 0      | 128 B | [`Header`] | kind [`ObjectKind::Mpmc`], element size and alignment of `T`, capacity, data offset 384, flags | creator |
//! | 128    | u32   | `tail`  | next position to claim for writing | producers (compare-and-swap) |
//! | 132    | u32   | consumers waiting | event count: consumers about to sleep on a slot stamp | consumers (add / subtract) |
//! | 136    | u32   | lost    | items lost with dead consumers ([`recovery`]) | producers that release their slots |
//! | 140    | 116 B | reserved, zero | | nobody |
//! | 256    | u32   | `head`  | next position to claim for reading | consumers (compare-and-swap) |
//! | 260    | u32   | producers waiting | event count: producers about to sleep on a slot stamp | producers (add / subtract) |
//! | 264    | u32   | skipped | holes of dead producers skipped ([`recovery`]) | consumers that skip them (producers, for a dead skipper's) |
//! | 268    | 116 B | reserved, zero | | nobody |
//! | 384    | `capacity × stride` | slots | see below | |
//!
//! Every slot is a `#[repr(C)]` pair of a stamp and an item, `stride` bytes
//! long:
//!
//! | offset in the slot | width | field | written by |
//! |---:|---:|---|---|
//! | 0 | u32 | `stamp` | the producer that publishes the slot, the consumer that releases it |
//! | `A = max(4, align_of::<T>())` | `size_of::<T>()` | the item | the producer that claimed the slot's position |
//!
//! with `stride = round_up(A + size_of::<T>(), A)`: 8 bytes for `u32`, 16
//! for `u64`, 8 for `[u8; 3]`. Both follow from the element size and
//! alignment in the header, which `attach` checks against the caller's `T`,
//! so a 32-bit and a 64-bit peer that accept the same header agree on every
//! offset. (Beware `u64` on `i686` Linux, where it is 4-aligned: such a peer
//! is refused with [`Error::ElementMismatch`]; use `[u32; 2]` there, or a
//! `#[repr(C, align(8))]` wrapper on both sides.) Until the first write the
//! slot of position `p` (for `p` in `start..start + capacity`) holds the stamp
//! `p`.
//!
//! `tail` and `head` live on separate [`LINE`]s, so producers and consumers
//! contend only among themselves. Each "waiting" counter sits on the line of
//! the side that *checks* it after every publication or release, and is
//! written by the other side only when that side is about to sleep.
//!
//! # Blocking
//! [`Producer::push`] and [`Consumer::pop`] (and their `_timeout` forms)
//! block through the endpoint's [`Notify`] with the event count of
//! [`crate::wait`], as the SPSC ring does, with two differences:
//!
//! - Waiters sleep on the **stamp of the slot they wait for**, not on `tail`
//!   or `head`. What lets a consumer proceed is the producer's stamp store,
//!   which comes *after* that producer moved `tail`: a consumer that had read
//!   the moved `tail` and then slept on it would miss the wake-up (its futex
//!   word never changes again). The stamp is the word that changes at the
//!   very moment the waiter's condition becomes true, and it changes from the
//!   value the waiter saw at most once before that (a slot being released
//!   before it is written), so sleeping "while the stamp holds the value I
//!   saw" never sleeps past the event. A producer waits on the stamp of the
//!   slot of `tail` for the consumer of the previous lap to release it.
//! - Waiters announce themselves with a counter (any number of them), and a
//!   publication or release wakes **all** sleepers of that slot's stamp
//!   (only when the counter says someone sleeps at all). Waking one would be
//!   wrong: every consumer asleep on a slot waits for the same position, one
//!   of them gets it, and the others must move on to the next position. A
//!   sleeper left behind on the taken slot would sleep through every later
//!   publication (they go to other slots), with items in the ring.
//!
//! A ring is created for sleeping or for spinning waiters
//! ([`Options::waking`]); each endpoint's notifier must match
//! ([`Error::NotifyMismatch`]).
//!
//! # The peer is untrusted
//! Every `tail`, `head` and stamp this side loads is used only through a
//! local copy, every slot index is masked into the slot array, and a stamp
//! must be one of the few values the protocol can produce relative to the
//! position just loaded (free, published, or an earlier or later lap of the
//! same slot). Anything else is [`Error::Corrupted`]. A stamp that claims
//! that the position was already taken is checked against a fresh load of
//! the position word: if that did not move, the stamp lies
//! ([`Error::Corrupted`]). A position word that moves backwards is
//! [`Error::Corrupted`] too. Retries (a lost compare-and-swap, a position
//! that moved) are normal under contention, but each retry means that
//! another endpoint made progress; a peer that rewrites a position word
//! continuously could keep that up forever, so one call gives up after
//! [`RETRY_LIMIT`] retries with [`Error::Corrupted`] (losing that many races
//! in a row to honest endpoints would take them ~65 000 operations while
//! this call's thread completes none, and never happens in practice). No
//! call spins on a stamp without bound: a slot that another endpoint has
//! claimed and is still writing (reading) is waited for during at most
//! [`BUSY_SPINS`] spin hints, then it is [`Error::Busy`] for `try_pop`
//! (`try_push`), and a sleep for the blocking forms.
//!
//! # `Empty`, `Full` and `Busy`
//! A position belongs to the queue from the compare-and-swap that claims
//! it, but its slot is usable only after the claimant's stamp store. The
//! answers of the `try_` calls keep the two apart, so that each means what
//! it says (crossbeam's `ArrayQueue` waits for the claimant without bound
//! instead; a peer here may be dead, so the wait is bounded):
//!
//! | `try_pop` answers | when | `try_push` answers | when |
//! |---|---|---|---|
//! | [`Error::Empty`] | no position is claimed (`tail == head`): empty at that instant | [`Error::Full`] | `capacity` positions are claimed (`tail == head + capacity`): full at that instant |
//! | [`Error::Busy`] | a producer claimed the position at `head` and has not published it within [`BUSY_SPINS`] spin hints | [`Error::Busy`] | a consumer claimed the previous lap's item in the slot `tail` needs and has not released it within [`BUSY_SPINS`] spin hints |
//!
//! `Busy` is a flow condition like the other two: retry, or use the
//! blocking forms, which sleep on the slot's stamp for all three. A claim
//! that stays `Busy` may belong to an endpoint that died ([`Ring::stalled`],
//! [`recovery`]). So a thread that pushed an item and then pops never sees
//! `Empty` before it gets an item, and one that popped and then pushes
//! never sees `Full` (the tests `empty_means_empty` and `full_means_full`,
//! in the shape of crossbeam-queue's `linearizable`, and two loom models).
//!
//! # Positions, wrap-around and the ABA bound
//! Positions wrap at 2^32 and are compared with wrapping arithmetic; a
//! stamp's distance to a position is read as a signed 32-bit number. This is
//! sound while two things hold:
//! - no endpoint sees a position more than 2^31 − capacity positions stale,
//!   which is why the capacity is at most [`MAX_CAPACITY`] (2^30); a thread
//!   stalled mid-call for longer gets a spurious `Full`, `Empty` or
//!   `Corrupted` from that call, never unsafety;
//! - **ABA bound**: a compare-and-swap on `tail` (`head`) could succeed on a
//!   stale view only if, between this endpoint's load of the position and
//!   its compare-and-swap, the other producers (consumers) completed a
//!   multiple of 2^32 operations. At 100 million operations per second that
//!   takes a thread stalled for 43 seconds in the middle of one `try_push`.
//!
//! # A peer that dies mid-operation
//! A producer that dies between claiming a position (moving `tail`) and
//! publishing its stamp leaves a *hole*: a slot that looks *not yet
//! written*, with every later item queued behind it. A consumer that dies
//! between claiming a position and releasing its slot holds that slot, and
//! producers are [`Error::Busy`] one lap later. By itself the ring cannot
//! tell either from a slow endpoint: consumers return [`Error::Busy`] for
//! the hole (after at most [`BUSY_SPINS`] spin hints), blocking calls sleep
//! and honour their timeouts. [`Ring::stalled`] reports both.
//!
//! Endpoints that announce their claims in an
//! [`Intent`] ([`Producer::with_intent`],
//! [`Consumer::with_intent`]) make every such claim attributable: a
//! survivor that judged (from the intents and the endpoints' liveness)
//! that the claimant is dead skips the hole
//! ([`Consumer::skip_unpublished`]) or releases the slot
//! ([`Producer::release_unreleased`]), with compare-and-swaps that
//! racing survivors and a late honest endpoint cannot be hurt by. The
//! dead producer's item was never committed and is not delivered; the
//! item a dead consumer held was committed and is lost, and counted. See
//! [`recovery`] for the states, the proof sketch and the counters; the
//! hosted channels (`ipckit::channel::mpmc`) do the judging.
//!
//! A waiter that dies asleep leaves its announcement counted: every later
//! publication (release) then issues a wake call, with a futex a system
//! call, until the counter is repaired; slower, still correct.
//!
//! # Availability
//! The ring needs compare-and-swap. It exists on every target that has
//! 32-bit compare-and-swap (`cfg(target_has_atomic = "32")`). On `thumbv6m`
//! (Cortex-M0/M0+) it exists only with the `critical-section` feature, whose
//! compare-and-swap masks interrupts: valid between an interrupt handler and
//! `main` of one core, never between two cores or processes (a lock-based
//! atomic excludes nothing there; see [`crate::region`]).
//!
//! # Example: two producer threads and two consumer threads
//! ```
//! use ipckit_core::{mpmc, AlignedBytes, Error, Region};
//!
//! let mut bytes = AlignedBytes::<{ 384 + 64 * 8 }>::new();
//! let ring = mpmc::Ring::<u32>::init(Region::from_slice(&mut bytes[..]), 64)?;
//! let total = std::sync::atomic::AtomicU64::new(0);
//! std::thread::scope(|s| {
//!     for id in 0..2u32 {
//!         let tx = ring.producer().unwrap();
//!         s.spawn(move || {
//!             for i in 0..1000 {
//!                 tx.push(id * 1000 + i).unwrap(); // spins while full
//!             }
//!         });
//!     }
//!     for _ in 0..2 {
//!         let rx = ring.consumer().unwrap();
//!         let total = &total;
//!         s.spawn(move || {
//!             for _ in 0..1000 {
//!                 let v = rx.pop().unwrap();
//!                 total.fetch_add(u64::from(v), std::sync::atomic::Ordering::Relaxed);
//!             }
//!         });
//!     }
//! });
//! assert_eq!(total.into_inner(), (0..2000u64).sum());
//! assert_eq!(ring.consumer()?.try_pop(), Err(Error::Empty));
//! # Ok::<(), Error>(())
//! ```
#![cfg(ipckit_cas)]

use core::fmt;
use core::marker::PhantomData;
use core::mem::{align_of, size_of};
use core::ptr::{NonNull, addr_of};
use core::time::Duration;

use bytemuck::Pod;

use crate::error::{Error, Result};
use crate::intent::Intent;
#[cfg(not(ipckit_loom))]
use crate::region::Region;
use crate::region::{FLAG_WAKES, Header, LINE, ObjectKind, Reserved};
use crate::sync::{AtomicU32, Ordering, SlotCell, spin_hint};
use crate::wait::{Announce, Attempt, Notify, Spin, block_on, wake_waiters};

/// Offset of slot 0 from the region base.
///
/// ```
/// assert_eq!(ipckit_core::mpmc::DATA_OFFSET, 384);
/// ```
pub const DATA_OFFSET: usize = 3 * LINE;

/// The smallest capacity: with one slot, "published for position `p`" and
/// "free for position `p + 1`" would be the same stamp.
///
/// ```
/// use ipckit_core::mpmc;
/// assert_eq!(mpmc::Ring::<u8>::region_len(mpmc::MIN_CAPACITY - 1), None);
/// ```
pub const MIN_CAPACITY: u32 = 2;

/// The largest capacity: stamps are compared with positions as signed
/// 32-bit distances, which needs a lap to be well below 2^31 (module docs).
///
/// ```
/// use ipckit_core::mpmc;
/// assert!(mpmc::Ring::<u8>::region_len(mpmc::MAX_CAPACITY).is_some());
/// assert_eq!(mpmc::Ring::<u8>::region_len(mpmc::MAX_CAPACITY * 2), None);
/// ```
pub const MAX_CAPACITY: u32 = 1 << 30;

/// How many times one operation retries after losing a race (a failed
/// compare-and-swap, a position that moved) before it reports
/// [`Error::Corrupted`]: only a peer that rewrites a position word
/// continuously gets there (module docs).
///
/// ```
/// assert_eq!(ipckit_core::mpmc::RETRY_LIMIT, 65_536);
/// ```
pub const RETRY_LIMIT: u32 = 1 << 16;

/// How many spin hints an operation waits, at most, for a slot that another
/// endpoint has claimed and is in the middle of writing (for a pop) or of
/// reading (for a push), before it reports [`Error::Busy`]. An endpoint is normally inside that window for a few
/// nanoseconds; answering `Busy` at once would send a caller that backs off
/// by yielding into a context switch instead. The wait is bounded, so an
/// endpoint that died in the window costs microseconds, not a hang. (loom
/// models one spin: each is a scheduling point there.)
///
/// ```
/// assert!(ipckit_core::mpmc::BUSY_SPINS > 0);
/// ```
pub const BUSY_SPINS: u32 = if cfg!(ipckit_loom) { 1 } else { 64 };

/// The producers' line: `tail`, the consumers' announcements, and the
/// count of items lost with dead consumers (written by the producers that
/// release their slots, see [`recovery`]).
#[repr(C)]
pub(crate) struct EnqueueLine {
    pub(crate) tail: AtomicU32,
    pub(crate) consumers_waiting: AtomicU32,
    pub(crate) lost: AtomicU32,
    _reserved: Reserved<{ LINE - 12 }>,
}

/// The consumers' line: `head`, the producers' announcements, and the count
/// of holes skipped (written by the consumers that skip them).
#[repr(C)]
pub(crate) struct DequeueLine {
    pub(crate) head: AtomicU32,
    pub(crate) producers_waiting: AtomicU32,
    pub(crate) skipped: AtomicU32,
    _reserved: Reserved<{ LINE - 12 }>,
}

/// Everything of an MPMC region before the slots.
#[repr(C)]
pub(crate) struct Control {
    pub(crate) header: Header,
    pub(crate) enqueue: EnqueueLine,
    pub(crate) dequeue: DequeueLine,
}

/// One slot: the stamp, then the item at `max(4, align_of::<T>())`.
/// `repr(C)` pads the item to its alignment and the slot to a multiple of it,
/// which is exactly the documented stride (asserted at compile time).
#[repr(C)]
pub(crate) struct Slot<T> {
    pub(crate) stamp: AtomicU32,
    pub(crate) value: SlotCell<T>,
}

#[cfg(not(ipckit_loom))]
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(Control, header) == 0);
    assert!(offset_of!(Control, enqueue) + offset_of!(EnqueueLine, tail) == 128);
    assert!(offset_of!(Control, enqueue) + offset_of!(EnqueueLine, consumers_waiting) == 132);
    assert!(offset_of!(Control, enqueue) + offset_of!(EnqueueLine, lost) == 136);
    assert!(offset_of!(Control, dequeue) + offset_of!(DequeueLine, head) == 256);
    assert!(offset_of!(Control, dequeue) + offset_of!(DequeueLine, skipped) == 264);
    assert!(offset_of!(Control, dequeue) + offset_of!(DequeueLine, producers_waiting) == 260);
    assert!(size_of::<Control>() == DATA_OFFSET);
    assert!(align_of::<Control>() == 4);
    // The slot table of the module docs, for a few shapes of `T`.
    assert!(offset_of!(Slot<u8>, stamp) == 0);
    assert!(offset_of!(Slot<u8>, value) == 4 && size_of::<Slot<u8>>() == 8);
    assert!(offset_of!(Slot<u16>, value) == 4 && size_of::<Slot<u16>>() == 8);
    assert!(offset_of!(Slot<u32>, value) == 4 && size_of::<Slot<u32>>() == 8);
    assert!(offset_of!(Slot<[u8; 3]>, value) == 4 && size_of::<Slot<[u8; 3]>>() == 8);
    assert!(offset_of!(Slot<[u8; 5]>, value) == 4 && size_of::<Slot<[u8; 5]>>() == 12);
    assert!(offset_of!(Slot<[u32; 3]>, value) == 4 && size_of::<Slot<[u32; 3]>>() == 16);
    assert!(offset_of!(Slot<u64>, value) == value_offset::<u64>());
    assert!(size_of::<Slot<u64>>() == stride::<u64>());
    assert!(stride::<u8>() == 8 && stride::<[u8; 5]>() == 12);
};

/// `max(4, align_of::<T>())`: the alignment of a slot and the offset of its
/// item.
const fn slot_align<T>() -> usize {
    let t = align_of::<T>();
    if t > 4 { t } else { 4 }
}

/// Offset of the item inside a slot.
const fn value_offset<T>() -> usize {
    slot_align::<T>()
}

/// Bytes from one slot to the next: `round_up(A + size_of::<T>(), A)`.
/// Cannot overflow: `size_of::<T>() <= isize::MAX` and `A <= LINE` for every
/// type [`element`] accepts.
const fn stride<T>() -> usize {
    let a = slot_align::<T>();
    (value_offset::<T>() + size_of::<T>()).div_ceil(a) * a
}

/// `(size, align)` of `T` as header words, if `T` can live in a region.
const fn element<T>() -> Result<(u32, u32)> {
    let (size, align) = (size_of::<T>(), align_of::<T>());
    if size == 0 || size > u32::MAX as usize || align > LINE {
        return Err(Error::UnsupportedType);
    }
    Ok((size as u32, align as u32))
}

/// `true` for a capacity this ring supports.
const fn capacity_ok(capacity: u32) -> bool {
    capacity >= MIN_CAPACITY && capacity <= MAX_CAPACITY && capacity.is_power_of_two()
}

/// Bytes a ring of `capacity` items of `T` occupies.
const fn layout_len<T>(capacity: u32) -> Result<usize> {
    if let Err(e) = element::<T>() {
        return Err(e);
    }
    if !capacity_ok(capacity) {
        return Err(Error::InvalidCapacity);
    }
    match stride::<T>().checked_mul(capacity as usize) {
        Some(data) => match data.checked_add(DATA_OFFSET) {
            Some(total) => Ok(total),
            None => Err(Error::InvalidCapacity),
        },
        None => Err(Error::InvalidCapacity),
    }
}

/// The alignment a region's base needs for a ring of `T`.
#[cfg_attr(ipckit_loom, allow(dead_code))] // only `init`/`attach` use it
const fn base_align<T>() -> usize {
    slot_align::<T>()
}

/// How a ring is created: capacity, start position and wake mode.
///
/// ```
/// use ipckit_core::{mpmc, AlignedBytes, Region};
///
/// let mut bytes = AlignedBytes::<1024>::new();
/// let options = mpmc::Options::new(16).start_at(u32::MAX - 3).waking(false);
/// let ring = mpmc::Ring::<u32>::init_with(Region::from_slice(&mut bytes[..]), options)?;
/// assert_eq!(ring.capacity(), 16);
/// assert!(!ring.wakes());
/// # Ok::<(), ipckit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    capacity: u32,
    position: u32,
    wakes: bool,
}

impl Options {
    /// A ring of `capacity` slots (a power of two in
    /// [`MIN_CAPACITY`]`..=`[`MAX_CAPACITY`]), positions starting at 0,
    /// spinning waiters.
    ///
    /// ```
    /// use ipckit_core::mpmc::Options;
    /// assert_eq!(Options::new(8), Options::new(8).start_at(0).waking(false));
    /// ```
    pub const fn new(capacity: u32) -> Self {
        Self {
            capacity,
            position: 0,
            wakes: false,
        }
    }

    /// Starts `tail`, `head` and the stamps at `position`: tests start next
    /// to `u32::MAX` so that the wrap is exercised rather than assumed.
    ///
    /// ```
    /// use ipckit_core::mpmc::Options;
    /// let _ = Options::new(8).start_at(u32::MAX);
    /// ```
    pub const fn start_at(self, position: u32) -> Self {
        Self { position, ..self }
    }

    /// `true`: waiters sleep (futex, RTOS) and endpoints must use a waking
    /// [`Notify`] (`N::WAKES`); `false` (the default): waiters spin, and
    /// endpoints use a non-waking notifier such as [`Spin`].
    ///
    /// ```
    /// use ipckit_core::mpmc::Options;
    /// let _ = Options::new(8).waking(true);
    /// ```
    pub const fn waking(self, wakes: bool) -> Self {
        Self { wakes, ..self }
    }
}

/// What holds a ring up, as [`Ring::stalled`] saw it at one instant.
///
/// ```
/// use ipckit_core::mpmc::Stall;
/// let s = Stall::Unpublished { position: 7 };
/// assert_ne!(s, Stall::Unreleased { position: 7 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// A producer claimed `position` (moved `tail` past it) but has not
    /// published the slot yet; consumers wait behind it.
    Unpublished {
        /// The position claimed and not yet published.
        position: u32,
    },
    /// A consumer claimed `position` (moved `head` past it) but has not
    /// released the slot yet; the producer of the same slot one lap later
    /// waits behind it. (Also a consumer that claimed an unpublished
    /// position to skip it and has not released its slot yet: see
    /// [`recovery`].)
    Unreleased {
        /// The position claimed and not yet released.
        position: u32,
    },
}

/// An MPMC ring placed on a region: the handle from which producers and
/// consumers are made.
///
/// `Ring` itself moves no items; it is cheap to clone and may be shared
/// between threads.
///
/// ```
/// use ipckit_core::{mpmc, AlignedBytes, Region};
///
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = mpmc::Ring::<u16>::init(Region::from_slice(&mut bytes[..]), 32)?;
/// let (tx1, tx2, rx) = (ring.producer()?, ring.producer()?, ring.consumer()?);
/// tx1.try_push(7)?;
/// tx2.try_push(8)?;
/// assert_eq!((rx.try_pop()?, rx.try_pop()?), (7, 8));
/// # Ok::<(), ipckit_core::Error>(())
/// ```
pub struct Ring<'a, T> {
    control: NonNull<Control>,
    slots: NonNull<Slot<T>>,
    capacity: u32,
    wakes: bool,
    #[cfg(ipckit_loom)]
    backing: std::sync::Arc<dyn core::any::Any>,
    _region: PhantomData<(&'a Control, T)>,
}

// SAFETY: the handle points into a region that is valid for `'a` and is
// designed to be used from several threads, processes and cores: every
// shared word is an atomic, and each slot's item is accessed only by the
// endpoint that owns the slot (by the compare-and-swap on its position).
// Items of type `T` cross threads, hence `T: Send`.
unsafe impl<T: Send> Send for Ring<'_, T> {}
// SAFETY: as above; every operation through `&Ring` (and through the
// endpoints, which hold a `Ring`) is an atomic or an owned slot access.
unsafe impl<T: Send> Sync for Ring<'_, T> {}

impl<T> Clone for Ring<'_, T> {
    fn clone(&self) -> Self {
        Self {
            control: self.control,
            slots: self.slots,
            capacity: self.capacity,
            wakes: self.wakes,
            #[cfg(ipckit_loom)]
            backing: self.backing.clone(),
            _region: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Ring<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpmc::Ring")
            .field("capacity", &self.capacity)
            .field("wakes", &self.wakes)
            .finish_non_exhaustive()
    }
}

/// What one attempt of an operation ended with.
enum Step<T> {
    /// Done; the value popped (or `()` for a push).
    Done(T),
    /// The slot of this position is not ready and no other endpoint is
    /// working on it: the ring is full (for a push) or empty (for a pop).
    /// `Full` / `Empty`, or sleep on its stamp.
    Blocked(u32),
    /// The slot of this position is claimed by another endpoint that has
    /// not finished with it (a producer still writing the item at `head`, a
    /// consumer still reading the previous lap's item out of the slot at
    /// `tail`): the ring is neither empty nor full, but this position
    /// cannot be taken now. [`Error::Busy`], or sleep on its stamp.
    Busy(u32),
}

/// Spins (at most [`BUSY_SPINS`] hints) while `stamp` holds `seen`: for a
/// slot that another endpoint has claimed and is about to publish or
/// release. Polls only the stamp, the line that endpoint writes next, so
/// the wait does not pull that endpoint's other lines away from it. `true`
/// if the stamp changed.
#[inline]
fn wait_for_change(stamp: &AtomicU32, seen: u32) -> bool {
    for _ in 0..BUSY_SPINS {
        spin_hint();
        if stamp.load(Ordering::Relaxed) != seen {
            return true;
        }
    }
    false
}

/// Withdraws `intent` (if any) after a lost compare-and-swap: see
/// [`Intent::withdraw`]. Off the fast path.
#[cold]
fn withdraw(intent: Option<&Intent>) {
    if let Some(intent) = intent {
        intent.clear();
    }
}

/// `now` as the new position if it did not move backwards from `old`.
#[inline(always)]
fn advanced(old: u32, now: u32, what: &'static str) -> Result<u32> {
    if (now.wrapping_sub(old) as i32) < 0 {
        Err(Error::Corrupted(what))
    } else {
        Ok(now)
    }
}

impl<'a, T: Pod> Ring<'a, T> {
    /// The number of bytes a region needs for a ring of `capacity` items of
    /// `T`: `384 + capacity × stride` (see the module docs for the stride),
    /// or `None` if `capacity` is not a power of two in
    /// [`MIN_CAPACITY`]`..=`[`MAX_CAPACITY`] or `T` cannot be placed in a
    /// region (zero-sized, or aligned to more than [`LINE`]). Usable in
    /// `const` context to size a static buffer.
    ///
    /// ```
    /// use ipckit_core::{mpmc, AlignedBytes};
    ///
    /// const LEN: usize = match mpmc::Ring::<u64>::region_len(256) {
    ///     Some(len) => len,
    ///     None => panic!("bad capacity"),
    /// };
    /// static mut RING: AlignedBytes<LEN> = AlignedBytes::new();
    /// assert_eq!(LEN, 384 + 256 * 16);
    /// assert_eq!(mpmc::Ring::<u32>::region_len(4), Some(384 + 4 * 8));
    /// assert_eq!(mpmc::Ring::<u64>::region_len(100), None);
    /// ```
    pub const fn region_len(capacity: u32) -> Option<usize> {
        match layout_len::<T>(capacity) {
            Ok(len) => Some(len),
            Err(_) => None,
        }
    }

    /// Creates a ring of `capacity` items in `region` and publishes its
    /// header. Positions start at 0.
    ///
    /// On a region from [`Region::from_slice`] any stale header is reset
    /// first. On a raw region the header must be uninitialised (zeroed); of
    /// several creators racing on one region exactly one succeeds and the
    /// others get [`Error::AlreadyInitialized`].
    ///
    /// ```
    /// use ipckit_core::{mpmc, AlignedBytes, Error, Region};
    ///
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// assert!(mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 64).is_ok());
    /// for bad in [0, 1, 48] {
    ///     assert_eq!(
    ///         mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), bad).unwrap_err(),
    ///         Error::InvalidCapacity,
    ///     );
    /// }
    /// ```
    #[cfg(not(ipckit_loom))]
    pub fn init(region: Region<'a>, capacity: u32) -> Result<Self> {
        Self::init_at(region, capacity, 0)
    }

    /// Like [`init`](Self::init), but positions start at `position` instead
    /// of 0. Tests use it to start next to `u32::MAX`.
    ///
    /// ```
    /// use ipckit_core::{mpmc, AlignedBytes, Region};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = mpmc::Ring::<u8>::init_at(Region::from_slice(&mut bytes[..]), 4, u32::MAX - 1)?;
    /// let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// for i in 0..10 {
    ///     tx.try_push(i)?;
    ///     assert_eq!(rx.try_pop()?, i);
    /// }
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    #[cfg(not(ipckit_loom))]
    pub fn init_at(region: Region<'a>, capacity: u32, position: u32) -> Result<Self> {
        Self::init_with(region, Options::new(capacity).start_at(position))
    }

    /// Creates a ring as `options` say; see [`init`](Self::init) and
    /// [`Options`].
    ///
    /// ```
    /// use ipckit_core::{mpmc, wait::Spin, AlignedBytes, Error, Region};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let options = mpmc::Options::new(4).waking(true);
    /// let ring = mpmc::Ring::<u8>::init_with(Region::from_slice(&mut bytes[..]), options)?;
    /// // A spinning endpoint would never wake a sleeping peer: refused.
    /// assert_eq!(ring.producer_with(Spin::new()).unwrap_err(), Error::NotifyMismatch);
    /// # Ok::<(), Error>(())
    /// ```
    #[cfg(not(ipckit_loom))]
    pub fn init_with(region: Region<'a>, options: Options) -> Result<Self> {
        let elem = element::<T>()?;
        let len = layout_len::<T>(options.capacity)?;
        region.check(len, base_align::<T>())?;
        let exclusive = region.is_exclusive();
        let ring = Self::on_region(region, options.capacity, options.wakes);
        ring.write_fresh(exclusive, elem, options)?;
        Ok(ring)
    }

    /// Attaches to a ring that another side created in `region`, after
    /// validating every header field: state, byte order, magic, layout
    /// version, kind, element size and alignment, capacity, data offset,
    /// flags and the region's length and alignment.
    ///
    /// ```
    /// use ipckit_core::{mpmc, spsc, AlignedBytes, Error, Region};
    ///
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// mpmc::Ring::<u32>::init(Region::from_slice(&mut bytes[..]), 8)?;
    /// let ring = mpmc::Ring::<u32>::attach(Region::from_slice(&mut bytes[..]))?;
    /// assert_eq!(ring.capacity(), 8);
    /// // The wrong element type, or the wrong kind of ring, is refused.
    /// let err = mpmc::Ring::<u64>::attach(Region::from_slice(&mut bytes[..])).unwrap_err();
    /// assert_eq!(err, Error::ElementMismatch { size: 4, align: 4 });
    /// let err = spsc::Ring::<u32>::attach(Region::from_slice(&mut bytes[..])).unwrap_err();
    /// assert_eq!(err, Error::KindMismatch { found: 2, expected: 1 });
    /// # Ok::<(), Error>(())
    /// ```
    #[cfg(not(ipckit_loom))]
    pub fn attach(region: Region<'a>) -> Result<Self> {
        let (size, align) = element::<T>()?;
        let info = region.header()?.read_info()?;
        info.expect(ObjectKind::Mpmc, size, align)?;
        let capacity = info.capacity;
        if !capacity_ok(capacity) {
            return Err(Error::Corrupted("capacity in header"));
        }
        if info.data_offset as usize != DATA_OFFSET {
            return Err(Error::Corrupted("data offset in header"));
        }
        let len = layout_len::<T>(capacity).map_err(|_| Error::Corrupted("capacity in header"))?;
        region.check(len, base_align::<T>())?;
        let wakes = match info.flags {
            0 => false,
            FLAG_WAKES => true,
            _ => return Err(Error::Corrupted("flags in header")),
        };
        Ok(Self::on_region(region, capacity, wakes))
    }

    /// The handle for a region already checked to hold `capacity` slots.
    #[cfg(not(ipckit_loom))]
    fn on_region(region: Region<'a>, capacity: u32, wakes: bool) -> Self {
        // The layout of the module docs, for this `T`.
        const {
            assert!(size_of::<Slot<T>>() == stride::<T>());
            assert!(core::mem::offset_of!(Slot<T>, value) == value_offset::<T>());
            assert!(align_of::<Slot<T>>() == slot_align::<T>());
        }
        let base = region.as_ptr();
        // SAFETY: `region.check` proved that `DATA_OFFSET + capacity * stride`
        // bytes are in the region, so the slot array starts inside it.
        let slots = unsafe { base.add(DATA_OFFSET) }.cast::<Slot<T>>();
        Self {
            // SAFETY: the region's base is non-null (it is a `NonNull`).
            control: unsafe { NonNull::new_unchecked(base.cast::<Control>()) },
            // SAFETY: an in-bounds offset from a non-null base is non-null.
            slots: unsafe { NonNull::new_unchecked(slots) },
            capacity,
            wakes,
            _region: PhantomData,
        }
    }

    /// The init protocol of [`crate::region`]: claim the header, write every
    /// field, the control words and the first lap's stamps, then publish.
    fn write_fresh(&self, exclusive: bool, elem: (u32, u32), options: Options) -> Result<()> {
        let c = self.control();
        c.header.begin_init(exclusive)?;
        let flags = if options.wakes { FLAG_WAKES } else { 0 };
        c.header.write_fields(
            ObjectKind::Mpmc,
            elem.0,
            elem.1,
            options.capacity,
            DATA_OFFSET as u32,
            flags,
        );
        let start = options.position;
        c.enqueue.tail.store(start, Ordering::Relaxed);
        c.enqueue.consumers_waiting.store(0, Ordering::Relaxed);
        c.enqueue.lost.store(0, Ordering::Relaxed);
        c.dequeue.head.store(start, Ordering::Relaxed);
        c.dequeue.producers_waiting.store(0, Ordering::Relaxed);
        c.dequeue.skipped.store(0, Ordering::Relaxed);
        // Positions `start..start + capacity` cover every slot once; each
        // slot starts free for its position in the first lap.
        for i in 0..self.capacity {
            let p = start.wrapping_add(i);
            self.stamp(p).store(p, Ordering::Relaxed);
        }
        c.header.publish();
        Ok(())
    }

    /// A ring on the heap for the loom models: the same control block,
    /// slots and algorithm, placed in loom-tracked memory instead of raw
    /// bytes.
    #[cfg(ipckit_loom)]
    #[doc(hidden)]
    pub fn new_modelled(capacity: u32, position: u32) -> Result<Ring<'static, T>> {
        Self::new_modelled_with(Options::new(capacity).start_at(position))
    }

    /// [`new_modelled`](Self::new_modelled) with all [`Options`].
    #[cfg(ipckit_loom)]
    #[doc(hidden)]
    pub fn new_modelled_with(options: Options) -> Result<Ring<'static, T>> {
        use std::boxed::Box;
        use std::sync::Arc;
        use std::vec::Vec;

        let elem = element::<T>()?;
        layout_len::<T>(options.capacity)?;
        let control = Box::new(Control {
            header: Header::new(),
            enqueue: EnqueueLine {
                tail: AtomicU32::new(0),
                consumers_waiting: AtomicU32::new(0),
                lost: AtomicU32::new(0),
                _reserved: Reserved::new(),
            },
            dequeue: DequeueLine {
                head: AtomicU32::new(0),
                producers_waiting: AtomicU32::new(0),
                skipped: AtomicU32::new(0),
                _reserved: Reserved::new(),
            },
        });
        let mut slots: Box<[Slot<T>]> = (0..options.capacity)
            .map(|_| Slot {
                stamp: AtomicU32::new(0),
                value: SlotCell::new(T::zeroed()),
            })
            .collect::<Vec<_>>()
            .into_boxed_slice();
        let control_ptr = NonNull::from(&*control);
        let slots_ptr = NonNull::new(slots.as_mut_ptr()).expect("boxed slice is non-null");
        let ring = Ring {
            control: control_ptr,
            slots: slots_ptr,
            capacity: options.capacity,
            wakes: options.wakes,
            backing: Arc::new((control, slots)),
            _region: PhantomData,
        };
        ring.write_fresh(true, elem, options)?;
        Ok(ring)
    }

    /// The number of slots.
    ///
    /// ```
    /// use ipckit_core::{mpmc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<4096>::new();
    /// let ring = mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 128)?;
    /// assert_eq!(ring.capacity(), 128);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// `true` if the ring was created for sleeping waiters
    /// ([`Options::waking`]).
    ///
    /// ```
    /// use ipckit_core::{mpmc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?;
    /// assert!(!ring.wakes());
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn wakes(&self) -> bool {
        self.wakes
    }

    fn control(&self) -> &Control {
        // SAFETY: `control` points to the start of a region valid for `'a`
        // (or to the loom backing this handle keeps alive), long and aligned
        // enough for `Control` (checked in `init`/`attach`). All of
        // `Control`'s fields are atomics or `UnsafeCell`s, so a shared
        // reference is sound while peers write the bytes.
        unsafe { self.control.as_ref() }
    }

    /// The slot of position `pos`: always inside the slot array.
    #[inline(always)]
    fn slot(&self, pos: u32) -> *const Slot<T> {
        let index = (pos & (self.capacity - 1)) as usize;
        // SAFETY: `index < capacity`, and the region (or the loom backing)
        // holds `capacity` slots from `slots` on (checked in `init`/`attach`).
        unsafe { self.slots.as_ptr().add(index) }
    }

    /// The stamp of the slot of position `pos`.
    #[inline(always)]
    fn stamp(&self, pos: u32) -> &AtomicU32 {
        // SAFETY: `slot` is in bounds and aligned, and lives as long as the
        // region; the stamp is an atomic, so a shared reference stays sound
        // while other endpoints and peers write it.
        unsafe { &(*self.slot(pos)).stamp }
    }

    /// One attempt to push: claims the slot at `tail` and publishes `value`,
    /// or reports the position whose slot is not free yet.
    ///
    /// `intent`, if any, is announced before every compare-and-swap on
    /// `tail`, and withdrawn when the call ends without a claim after it lost
    /// one ([`crate::intent`]). `DIE` (tests and loom models only) stops
    /// right after the first compare-and-swap, won or lost, as a producer
    /// killed there would: nothing written, nothing withdrawn.
    #[inline]
    fn push_step<N: Notify, const DIE: bool>(
        &self,
        value: T,
        notify: &N,
        intent: Option<&Intent>,
    ) -> Result<Step<()>> {
        let mut lost = false;
        let step = self.push_claim::<N, DIE>(value, notify, intent, &mut lost);
        if lost && !matches!(step, Ok(Step::Done(()))) {
            withdraw(intent);
        }
        step
    }

    /// [`push_step`](Self::push_step) but for the withdrawal: sets `lost`
    /// when a compare-and-swap it announced for failed.
    #[inline(always)]
    fn push_claim<N: Notify, const DIE: bool>(
        &self,
        value: T,
        notify: &N,
        intent: Option<&Intent>,
        lost: &mut bool,
    ) -> Result<Step<()>> {
        let c = self.control();
        let tail_word = &c.enqueue.tail;
        let cap = self.capacity;
        let mask = cap - 1;
        // Acquire on every load of `tail` and Release on the claim: the
        // claims form one release sequence, so having read `tail = t` means
        // that the claim of position `t - capacity`, and the stamp its
        // producer read before it, happened before our stamp load. That is
        // what bounds the stamps a valid ring can show us from below (see
        // `lag` below); with Relaxed, a stale stamp could look like garbage.
        let mut tail = tail_word.load(Ordering::Acquire);
        let (mut retries, mut waited) = (0, false);
        loop {
            let slot = self.slot(tail);
            let stamp = self.stamp(tail);
            // Acquire: pairs with the Release of the consumer that freed the
            // slot, so its copy-out happens before our write.
            let lag = stamp.load(Ordering::Acquire).wrapping_sub(tail);
            if lag == 0 {
                // Free for `tail`: announce, then claim it. The Release of
                // the claim orders the announcement before it for every
                // survivor that reads `tail` with Acquire.
                if let Some(intent) = intent {
                    intent.announce(tail, 1);
                }
                match tail_word.compare_exchange_weak(
                    tail,
                    tail.wrapping_add(1),
                    Ordering::Release,
                    Ordering::Acquire,
                ) {
                    Ok(_) if DIE => return Ok(Step::Done(())),
                    // A lost race ends a dying claim; a spurious failure
                    // of the weak compare-and-swap (miri makes them) retries.
                    Err(now) if DIE && now != tail => return Ok(Step::Blocked(tail)),
                    Ok(_) => {
                        // SAFETY: the compare-and-swap made this endpoint the
                        // only owner of position `tail`, and the stamp said
                        // that the slot's previous reader is done with it; no
                        // one else touches the item until we publish.
                        unsafe { SlotCell::write(addr_of!((*slot).value), value) };
                        stamp.store(tail.wrapping_add(1), Ordering::Release);
                        wake_waiters(notify, stamp, &c.enqueue.consumers_waiting, true);
                        return Ok(Step::Done(()));
                    }
                    Err(now) => {
                        *lost = true;
                        tail = advanced(tail, now, "tail moved backwards")?;
                    }
                }
            } else if lag == cap.wrapping_neg() || lag == 1u32.wrapping_sub(cap) {
                // The slot still belongs to position `tail - capacity`. Its
                // item is being written or waits to be read: every position
                // from it to `tail` is claimed, full. Or a consumer has
                // claimed it (`head` is past it) and is still copying it out
                // (or skipping it: [`recovery`]): fewer than `capacity`
                // positions are claimed, the ring is not full, but the slot
                // is not free yet. Wait a moment for its release, then
                // report `Busy`.
                let previous = tail.wrapping_sub(cap);
                let head = c.dequeue.head.load(Ordering::Acquire);
                let taken = head.wrapping_sub(previous);
                if taken == 0 {
                    return Ok(Step::Blocked(tail));
                }
                if taken <= cap {
                    if !waited {
                        waited = true;
                        if wait_for_change(stamp, tail.wrapping_add(lag)) {
                            continue;
                        }
                    }
                    return Ok(Step::Busy(tail));
                }
                // `head` past `tail`: our `tail` is stale, or a peer forged
                // a position word.
                let now = tail_word.load(Ordering::Acquire);
                if now == tail {
                    return Err(Error::Corrupted("head is not within a capacity of tail"));
                }
                tail = advanced(tail, now, "tail moved backwards")?;
            } else if (lag as i32) > 0 && lag & mask <= 1 {
                // Position `tail` was taken already: our `tail` is stale, and
                // the position word must have moved.
                let now = tail_word.load(Ordering::Acquire);
                if now == tail {
                    return Err(Error::Corrupted("slot stamp is ahead of tail"));
                }
                tail = advanced(tail, now, "tail moved backwards")?;
            } else {
                return Err(Error::Corrupted(
                    "slot stamp is not a value the protocol produces at tail",
                ));
            }
            retries += 1;
            if retries == RETRY_LIMIT {
                return Err(Error::Corrupted("tail kept moving: retry limit reached"));
            }
        }
    }

    /// One attempt to pop: claims the slot at `head` and copies its item
    /// out, or reports the position whose item is not published yet.
    /// `intent` and `DIE` as in [`push_step`](Self::push_step) (a dying
    /// consumer claims the item and neither reads nor releases it).
    #[inline]
    fn pop_step<N: Notify, const DIE: bool>(
        &self,
        notify: &N,
        intent: Option<&Intent>,
    ) -> Result<Step<T>> {
        let mut lost = false;
        let step = self.pop_claim::<N, DIE>(notify, intent, &mut lost);
        if lost && !matches!(step, Ok(Step::Done(_))) {
            withdraw(intent);
        }
        step
    }

    /// [`pop_step`](Self::pop_step) but for the withdrawal.
    #[inline(always)]
    fn pop_claim<N: Notify, const DIE: bool>(
        &self,
        notify: &N,
        intent: Option<&Intent>,
        lost: &mut bool,
    ) -> Result<Step<T>> {
        let c = self.control();
        let head_word = &c.dequeue.head;
        let cap = self.capacity;
        let mask = cap - 1;
        // Acquire / Release for the reason given in `push_step`: having read
        // `head = h` orders the claim of `h - capacity` (and the publication
        // it saw) before our stamp load.
        let mut head = head_word.load(Ordering::Acquire);
        let (mut retries, mut waited) = (0, false);
        loop {
            let slot = self.slot(head);
            let stamp = self.stamp(head);
            // Acquire: pairs with the producer's publishing Release, so its
            // item is visible to the copy below.
            let lag = stamp.load(Ordering::Acquire).wrapping_sub(head);
            if lag == 1 {
                // Published for `head`: announce, then claim it (Release, as
                // in `push_claim`: a producer that finds the slot unreleased
                // and has read `head` with Acquire sees the announcement).
                if let Some(intent) = intent {
                    intent.announce(head, 1);
                }
                match head_word.compare_exchange_weak(
                    head,
                    head.wrapping_add(1),
                    Ordering::Release,
                    Ordering::Acquire,
                ) {
                    Ok(_) if DIE => return Ok(Step::Done(T::zeroed())),
                    // As in `push_claim`: only a lost race ends it.
                    Err(now) if DIE && now != head => return Ok(Step::Blocked(head)),
                    Ok(_) => {
                        // SAFETY: the compare-and-swap made this endpoint the
                        // only reader of position `head`, whose item is
                        // published; no producer writes the slot until we
                        // release it. The copy goes straight into a local.
                        let value = unsafe { SlotCell::read(addr_of!((*slot).value)) };
                        stamp.store(head.wrapping_add(cap), Ordering::Release);
                        wake_waiters(notify, stamp, &c.dequeue.producers_waiting, true);
                        return Ok(Step::Done(value));
                    }
                    Err(now) => {
                        *lost = true;
                        head = advanced(head, now, "head moved backwards")?;
                    }
                }
            } else if lag == 0 || lag == 1u32.wrapping_sub(cap) || lag == cap.wrapping_neg() {
                // Not yet written for `head` (0), or the slot still belongs
                // to the previous lap: its item is being read, or its hole
                // skipped ([`recovery`]). Empty if no producer claimed
                // `head`: `tail` is `head` (Acquire, so that a push that
                // completed before this call is seen).
                let claimed = c.enqueue.tail.load(Ordering::Acquire).wrapping_sub(head);
                if claimed == 0 {
                    return Ok(Step::Blocked(head));
                }
                if claimed > cap {
                    // `tail` more than a lap ahead: our `head` is stale, or
                    // a peer forged a position word.
                    let now = head_word.load(Ordering::Acquire);
                    if now == head {
                        return Err(Error::Corrupted("tail is not within a capacity of head"));
                    }
                    head = advanced(head, now, "head moved backwards")?;
                } else if lag == 0 {
                    // A producer claimed `head` and has not published yet:
                    // not empty, but its item cannot be taken now. Wait a
                    // moment for the publication, then report `Busy`, never
                    // `Empty` (module docs).
                    if !waited {
                        waited = true;
                        if wait_for_change(stamp, head) {
                            continue;
                        }
                    }
                    return Ok(Step::Busy(head));
                }
                // Otherwise the slot was released and `head` claimed since
                // the stamp load: look again.
            } else if (lag as i32) > 1 && lag & mask <= 1 {
                // Position `head` was taken already: our `head` is stale.
                let now = head_word.load(Ordering::Acquire);
                if now == head {
                    return Err(Error::Corrupted("slot stamp is ahead of head"));
                }
                head = advanced(head, now, "head moved backwards")?;
            } else {
                return Err(Error::Corrupted(
                    "slot stamp is not a value the protocol produces at head",
                ));
            }
            retries += 1;
            if retries == RETRY_LIMIT {
                return Err(Error::Corrupted("head kept moving: retry limit reached"));
            }
        }
    }

    /// A snapshot of the number of items in the ring: claimed positions
    /// between `head` and `tail`, including items still being written or
    /// read. Exact when no endpoint is active; under concurrency it was true
    /// at some instant during the call.
    ///
    /// Returns [`Error::Corrupted`] if `tail` is more than a capacity ahead
    /// of `head` (retrying first: the two words are loaded separately).
    ///
    /// ```
    /// use ipckit_core::{mpmc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?;
    /// ring.producer()?.try_push(1)?;
    /// assert_eq!(ring.len()?, 1);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    #[allow(clippy::len_without_is_empty)] // `len` can fail; `is_empty` would hide that
    pub fn len(&self) -> Result<usize> {
        let c = self.control();
        let mut head = c.dequeue.head.load(Ordering::Acquire);
        for _ in 0..RETRY_LIMIT {
            let tail = c.enqueue.tail.load(Ordering::Acquire);
            let again = c.dequeue.head.load(Ordering::Acquire);
            // `head` did not move around the load of `tail`: the pair
            // existed at the instant `tail` was read.
            if again == head {
                let used = tail.wrapping_sub(head);
                if used <= self.capacity {
                    return Ok(used as usize);
                }
                return Err(Error::Corrupted("tail is not within a capacity of head"));
            }
            head = again;
        }
        Err(Error::Corrupted("head kept moving: retry limit reached"))
    }

    /// Reports a position that an endpoint claimed but has not finished, as
    /// seen at one instant: a producer that has not published the item at
    /// `head` ([`Stall::Unpublished`]), or a consumer that has not released
    /// the slot that `tail` needs ([`Stall::Unreleased`]). `None` when
    /// neither holds the ring up.
    ///
    /// A slow endpoint shows here for a moment; a dead one until a survivor
    /// recovers the position ([`recovery`]). Consumers care about the
    /// first kind only ([`unpublished`](Self::unpublished)), producers about
    /// the second ([`unreleased`](Self::unreleased)); this reports the
    /// first if both hold.
    ///
    /// ```
    /// use ipckit_core::{mpmc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?;
    /// ring.producer()?.try_push(1)?;
    /// assert_eq!(ring.stalled(), None);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn stalled(&self) -> Option<Stall> {
        if let Some(position) = self.unpublished() {
            return Some(Stall::Unpublished { position });
        }
        self.unreleased()
            .map(|position| Stall::Unreleased { position })
    }

    /// A producer with the spinning notifier [`Spin`]; see
    /// [`producer_with`](Self::producer_with). Any number may exist.
    ///
    /// ```
    /// use ipckit_core::{mpmc, AlignedBytes, Region};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 8)?;
    /// let a = ring.producer()?;
    /// let b = a.clone();
    /// a.try_push(1)?;
    /// b.try_push(2)?;
    /// assert_eq!(ring.len()?, 2);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn producer(&self) -> Result<Producer<'a, T>> {
        self.producer_with(Spin::new())
    }

    /// A producer whose blocking calls sleep through `notify` and whose
    /// publications wake sleeping consumers through it. `N::WAKES` must match
    /// the ring ([`Error::NotifyMismatch`]).
    ///
    /// ```
    /// use ipckit_core::{mpmc, wait::Spin, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?;
    /// let tx = ring.producer_with(Spin::new())?;
    /// tx.push(1)?;
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn producer_with<N: Notify>(&self, notify: N) -> Result<Producer<'a, T, N>> {
        if N::WAKES != self.wakes {
            return Err(Error::NotifyMismatch);
        }
        Ok(Producer {
            ring: self.clone(),
            notify,
            intent: None,
        })
    }

    /// A consumer with the spinning notifier [`Spin`]; see
    /// [`consumer_with`](Self::consumer_with). Any number may exist.
    ///
    /// ```
    /// use ipckit_core::{mpmc, AlignedBytes, Error, Region};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 8)?;
    /// let (a, b) = (ring.consumer()?, ring.consumer()?);
    /// ring.producer()?.try_push(5)?;
    /// assert_eq!(a.try_pop(), Ok(5));
    /// assert_eq!(b.try_pop(), Err(Error::Empty));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn consumer(&self) -> Result<Consumer<'a, T>> {
        self.consumer_with(Spin::new())
    }

    /// A consumer whose blocking calls sleep through `notify` and whose
    /// releases wake sleeping producers through it; see
    /// [`producer_with`](Self::producer_with).
    ///
    /// ```
    /// use ipckit_core::{mpmc, wait::Spin, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?;
    /// let rx = ring.consumer_with(Spin::new())?;
    /// assert_eq!(rx.try_pop(), Err(Error::Empty));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn consumer_with<N: Notify>(&self, notify: N) -> Result<Consumer<'a, T, N>> {
        if N::WAKES != self.wakes {
            return Err(Error::NotifyMismatch);
        }
        Ok(Consumer {
            ring: self.clone(),
            notify,
            intent: None,
        })
    }
}

/// A writing endpoint of an MPMC ring. Any number of producers may push
/// concurrently, through clones or through one producer shared by
/// reference.
///
/// ```
/// use ipckit_core::{mpmc, AlignedBytes, Error, Region};
///
/// let mut bytes = AlignedBytes::<512>::new();
/// let ring = mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 2)?;
/// let tx = ring.producer()?;
/// tx.try_push(1)?;
/// tx.try_push(2)?;
/// assert_eq!(tx.try_push(3), Err(Error::Full));
/// # Ok::<(), Error>(())
/// ```
pub struct Producer<'a, T, N = Spin> {
    ring: Ring<'a, T>,
    notify: N,
    intent: Option<&'a Intent>,
}

impl<T, N: Clone> Clone for Producer<'_, T, N> {
    /// A producer on the same ring, with the same notifier and the same
    /// intent (if any): mind that one intent serves one operation at a time
    /// ([`with_intent`](Producer::with_intent)).
    fn clone(&self) -> Self {
        Self {
            ring: self.ring.clone(),
            notify: self.notify.clone(),
            intent: self.intent,
        }
    }
}

impl<T, N> fmt::Debug for Producer<'_, T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpmc::Producer")
            .field("capacity", &self.ring.capacity)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Pod, N: Notify> Producer<'a, T, N> {
    /// Appends one item, or returns [`Error::Full`] when the ring holds
    /// `capacity` items, or [`Error::Busy`] when it holds fewer but the slot
    /// the next item goes to is still being read by a consumer (waited for
    /// during at most [`BUSY_SPINS`] spin hints; module docs).
    ///
    /// Returns [`Error::Corrupted`] for a stamp or a `tail` that the
    /// protocol cannot produce (module docs); nothing is written then.
    ///
    /// ```
    /// use ipckit_core::{mpmc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = mpmc::Ring::<u64>::init(Region::from_slice(&mut bytes[..]), 4)?;
    /// ring.producer()?.try_push(u64::MAX)?;
    /// assert_eq!(ring.consumer()?.try_pop()?, u64::MAX);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    #[inline]
    pub fn try_push(&self, value: T) -> Result<()> {
        match self
            .ring
            .push_step::<N, false>(value, &self.notify, self.intent)?
        {
            Step::Done(()) => Ok(()),
            Step::Blocked(_) => Err(Error::Full),
            Step::Busy(_) => Err(Error::Busy),
        }
    }

    /// Appends one item, waiting while the ring is full.
    ///
    /// ```
    /// use ipckit_core::{mpmc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 2)?;
    /// let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| for i in 0..100 { tx.push(i).unwrap() });
    ///     for i in 0..100 { assert_eq!(rx.pop().unwrap(), i) }
    /// });
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn push(&self, value: T) -> Result<()> {
        self.push_timeout(value, None)
    }

    /// Appends one item, waiting at most `timeout` (`None`: no limit) while
    /// the ring is full; [`Error::TimedOut`] when it stays full. A waiting
    /// producer sleeps on the stamp of the slot it needs (module docs).
    ///
    /// ```
    /// use core::time::Duration;
    /// use ipckit_core::{mpmc, wait::Spin, AlignedBytes, Error, Region};
    ///
    /// fn clock() -> Duration {
    ///     static T0: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ///     T0.get_or_init(std::time::Instant::now).elapsed()
    /// }
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 2)?;
    /// let tx = ring.producer_with(Spin::with_clock(clock))?;
    /// tx.push(1)?;
    /// tx.push(2)?;
    /// assert_eq!(tx.push_timeout(3, Some(Duration::from_millis(5))), Err(Error::TimedOut));
    /// // Without a clock a timeout cannot be honoured: an error, not a hang.
    /// let tx = ring.producer()?;
    /// assert_eq!(tx.push_timeout(3, Some(Duration::from_millis(5))), Err(Error::NoClock));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn push_timeout(&self, value: T, timeout: Option<Duration>) -> Result<()> {
        let waiters = &self.ring.control().dequeue.producers_waiting;
        // Sleep on the stamp of the slot the last attempt found busy (only
        // once announced on that stamp before that attempt).
        block_on(
            &mut &*self,
            |p| &p.notify,
            timeout,
            Announce::Counter,
            waiters,
            |p| {
                Ok(
                    match p.ring.push_step::<N, false>(value, &p.notify, p.intent)? {
                        Step::Done(()) => Attempt::Ready(()),
                        Step::Blocked(at) | Step::Busy(at) => Attempt::Wait(p.ring.stamp(at)),
                    },
                )
            },
        )
    }

    /// This producer, announcing every claim in `intent` before it makes
    /// it, so that a survivor can tell whether the claim of a position that
    /// stays unpublished is this producer's ([`crate::intent`], and
    /// [`recovery`] for what a survivor does with
    /// it). One intent serves one operation at a time: give each thread
    /// that pushes its own producer and intent (clones share the intent).
    /// The intent is placed where survivors can read it, next to this
    /// endpoint's liveness record (the hosted channels do this).
    ///
    /// ```
    /// use ipckit_core::{intent::Intent, mpmc, AlignedBytes, Region};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let intent = Intent::new();
    /// let ring = mpmc::Ring::<u8>::init_at(Region::from_slice(&mut bytes[..]), 4, 10)?;
    /// let tx = ring.producer()?.with_intent(&intent);
    /// tx.try_push(1)?;
    /// assert_eq!(intent.read(), (10, 1)); // the position it claimed last
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn with_intent(self, intent: &'a Intent) -> Self {
        Self {
            intent: Some(intent),
            ..self
        }
    }

    /// For tests and loom models: announces and claims the position at
    /// `tail` with one compare-and-swap and stops there, as a producer
    /// killed right after that compare-and-swap: nothing written, nothing
    /// published, and after a lost compare-and-swap the announcement is not
    /// withdrawn. `true` if the claim succeeded; `false` if it lost or the
    /// ring was full.
    #[cfg(any(test, ipckit_loom))]
    #[doc(hidden)]
    pub fn claim_and_die(&self) -> Result<bool> {
        let step = self
            .ring
            .push_step::<N, true>(T::zeroed(), &self.notify, self.intent)?;
        Ok(matches!(step, Step::Done(())))
    }

    /// The number of slots.
    ///
    /// ```
    /// use ipckit_core::{mpmc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let tx = mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?.producer()?;
    /// assert_eq!(tx.capacity(), 4);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn capacity(&self) -> u32 {
        self.ring.capacity
    }

    /// The ring this producer writes to (for [`Ring::len`],
    /// [`Ring::stalled`], or more endpoints).
    ///
    /// ```
    /// use ipckit_core::{mpmc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let tx = mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?.producer()?;
    /// tx.try_push(3)?;
    /// assert_eq!(tx.ring().consumer()?.try_pop()?, 3);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn ring(&self) -> &Ring<'a, T> {
        &self.ring
    }
}

/// A reading endpoint of an MPMC ring. Any number of consumers may pop
/// concurrently; each item goes to exactly one of them.
///
/// ```
/// use ipckit_core::{mpmc, AlignedBytes, Error, Region};
///
/// let mut bytes = AlignedBytes::<512>::new();
/// let ring = mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 2)?;
/// let rx = ring.consumer()?;
/// assert_eq!(rx.try_pop(), Err(Error::Empty));
/// # Ok::<(), Error>(())
/// ```
pub struct Consumer<'a, T, N = Spin> {
    ring: Ring<'a, T>,
    notify: N,
    intent: Option<&'a Intent>,
}

impl<T, N: Clone> Clone for Consumer<'_, T, N> {
    /// A consumer on the same ring, with the same notifier and intent (see
    /// [`Producer`]'s `clone`).
    fn clone(&self) -> Self {
        Self {
            ring: self.ring.clone(),
            notify: self.notify.clone(),
            intent: self.intent,
        }
    }
}

impl<T, N> fmt::Debug for Consumer<'_, T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpmc::Consumer")
            .field("capacity", &self.ring.capacity)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Pod, N: Notify> Consumer<'a, T, N> {
    /// Removes and returns the oldest item, or [`Error::Empty`] when the ring
    /// holds none, or [`Error::Busy`] when the producer that claimed the
    /// oldest position is still writing it (waited for during at most
    /// [`BUSY_SPINS`] spin hints), or died doing so ([`Ring::stalled`];
    /// module docs).
    ///
    /// Returns [`Error::Corrupted`] for a stamp or a `head` that the
    /// protocol cannot produce (module docs); nothing is taken then.
    ///
    /// ```
    /// use ipckit_core::{mpmc, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?;
    /// let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// tx.try_push(9)?;
    /// assert_eq!(rx.try_pop(), Ok(9));
    /// assert_eq!(rx.try_pop(), Err(Error::Empty));
    /// # Ok::<(), Error>(())
    /// ```
    #[inline]
    pub fn try_pop(&self) -> Result<T> {
        match self.ring.pop_step::<N, false>(&self.notify, self.intent)? {
            Step::Done(v) => Ok(v),
            Step::Blocked(_) => Err(Error::Empty),
            Step::Busy(_) => Err(Error::Busy),
        }
    }

    /// Removes and returns the oldest item, waiting while the ring is empty.
    ///
    /// ```
    /// use ipckit_core::{mpmc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = mpmc::Ring::<u32>::init(Region::from_slice(&mut bytes[..]), 2)?;
    /// let (tx, rx) = (ring.producer()?, ring.consumer()?);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| tx.push(5).unwrap());
    ///     assert_eq!(rx.pop().unwrap(), 5);
    /// });
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn pop(&self) -> Result<T> {
        self.pop_timeout(None)
    }

    /// Removes and returns the oldest item, waiting at most `timeout`
    /// (`None`: no limit) while the ring is empty; [`Error::TimedOut`] when it
    /// stays empty. A waiting consumer sleeps on the stamp of the slot of the
    /// item it waits for (module docs), so a producer that died before
    /// publishing costs a timeout, not a busy loop.
    ///
    /// ```
    /// use core::time::Duration;
    /// use ipckit_core::{mpmc, wait::Spin, AlignedBytes, Error, Region};
    ///
    /// fn clock() -> Duration {
    ///     static T0: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ///     T0.get_or_init(std::time::Instant::now).elapsed()
    /// }
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 2)?;
    /// let rx = ring.consumer_with(Spin::with_clock(clock))?;
    /// assert_eq!(rx.pop_timeout(Some(Duration::from_millis(5))), Err(Error::TimedOut));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn pop_timeout(&self, timeout: Option<Duration>) -> Result<T> {
        let waiters = &self.ring.control().enqueue.consumers_waiting;
        // As in `Producer::push_timeout`.
        block_on(
            &mut &*self,
            |c| &c.notify,
            timeout,
            Announce::Counter,
            waiters,
            |c| {
                Ok(match c.ring.pop_step::<N, false>(&c.notify, c.intent)? {
                    Step::Done(v) => Attempt::Ready(v),
                    Step::Blocked(at) | Step::Busy(at) => Attempt::Wait(c.ring.stamp(at)),
                })
            },
        )
    }

    /// This consumer, announcing every claim in `intent` before it makes
    /// it (see [`Producer::with_intent`]): a producer that finds a slot
    /// claimed and never released can then tell whether this consumer holds
    /// it.
    ///
    /// ```
    /// use ipckit_core::{intent::Intent, mpmc, AlignedBytes, Region};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let intent = Intent::new();
    /// let ring = mpmc::Ring::<u8>::init_at(Region::from_slice(&mut bytes[..]), 4, 10)?;
    /// let rx = ring.consumer()?.with_intent(&intent);
    /// ring.producer()?.try_push(5)?;
    /// assert_eq!(rx.try_pop()?, 5);
    /// assert_eq!(intent.read(), (10, 1));
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn with_intent(self, intent: &'a Intent) -> Self {
        Self {
            intent: Some(intent),
            ..self
        }
    }

    /// For tests and loom models: announces and claims the item at `head`
    /// with one compare-and-swap and stops there, as a consumer killed right
    /// after that compare-and-swap: the item is neither read nor released.
    /// `true` if the claim succeeded; `false` if it lost or the ring was
    /// empty.
    #[cfg(any(test, ipckit_loom))]
    #[doc(hidden)]
    pub fn claim_and_die(&self) -> Result<bool> {
        let step = self.ring.pop_step::<N, true>(&self.notify, self.intent)?;
        Ok(matches!(step, Step::Done(_)))
    }

    /// The number of slots.
    ///
    /// ```
    /// use ipckit_core::{mpmc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let rx = mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?.consumer()?;
    /// assert_eq!(rx.capacity(), 4);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn capacity(&self) -> u32 {
        self.ring.capacity
    }

    /// The ring this consumer reads from (for [`Ring::len`],
    /// [`Ring::stalled`], or more endpoints).
    ///
    /// ```
    /// use ipckit_core::{mpmc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let rx = mpmc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?.consumer()?;
    /// assert_eq!(rx.ring().len()?, 0);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn ring(&self) -> &Ring<'a, T> {
        &self.ring
    }
}

pub mod recovery;
pub use recovery::{Recoveries, Skip};

#[cfg(all(test, not(ipckit_loom)))]
mod tests;

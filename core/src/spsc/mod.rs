//! A wait-free single-producer single-consumer ring of `T: Pod` items on a
//! shared region.
//!
//! # Algorithm
//! The classic bounded SPSC queue (Lamport; the cached-index refinement as in
//! rtrb and folly's `ProducerConsumerQueue`): the producer owns `tail`, the
//! consumer owns `head`, both are free-running `u32` counters compared with
//! wrapping arithmetic, and the slot of position `p` is `p & (capacity - 1)`.
//! The producer writes a slot, then publishes `tail` with `Release`; the
//! consumer loads `tail` with `Acquire`, reads the slot, then publishes
//! `head` with `Release`, which hands the slot back. Each side keeps a local
//! copy of its own index and a *cached* copy of the other's, and reloads the
//! other's only when the cache says full (producer) or empty (consumer), so a
//! busy ring costs one shared-line transfer per batch rather than per item.
//!
//! Only atomic loads and stores are used: no compare-and-swap on the data
//! path, so the ring is valid between two cores of a `thumbv6m` part (Cortex-M0+,
//! such as the dual-core RP2040). Claiming a role uses a CAS where the target
//! has one; without it, roles are fixed by construction (see
//! [`region`](crate::region)).
//!
//! # Layout (layout version 1, kind 1)
//! For a peer in another language, every offset, value, ordering and protocol
//! step (the waiting protocol too) is in
//! [`docs/LAYOUT.md`](https://github.com/ipckit/ipckit/blob/main/docs/LAYOUT.md#5-spsc-ring-of-slots-kind-1).
//!
//! | offset | width | field            | written by |
//! |-------:|------:|------------------|------------|
//! | 0      | 128 B | [`Header`] | creator |
//! | 128    | u32   | `tail` (next position to write) | producer |
//! | 132    | u32   | producer claim (0 free, 1 taken) | producer |
//! | 136    | u32   | consumer waiting (event count: set by a consumer about to sleep on `tail`) | consumer |
//! | 140    | 116 B | reserved, zero   | nobody     |
//! | 256    | u32   | `head` (next position to read) | consumer |
//! | 260    | u32   | consumer claim   | consumer   |
//! | 264    | u32   | producer waiting (set by a producer about to sleep on `head`) | producer |
//! | 268    | 116 B | reserved, zero   | nobody     |
//! | 384    | `capacity × size_of::<T>()` | slots | producer |
//!
//! `tail` and `head` live on separate [`LINE`]s so that the two sides never
//! write the same cache line on the fast path. Each "waiting" flag sits on
//! the line of the side that *checks* it (after every publication), so the
//! check reads a line that is already in the checker's cache; it is written
//! by the other side only when that side is about to sleep.
//!
//! # Blocking
//! [`Producer::push`] and [`Consumer::pop`] (and their `_timeout` forms)
//! block through the endpoint's [`Notify`]: a spinning [`Spin`] by default,
//! a futex in the hosted crate. A ring is created for one of the two modes
//! ([`Options::waking`]); each endpoint's notifier must match it
//! ([`Error::NotifyMismatch`] otherwise), because an endpoint whose notifier
//! does not wake would leave a sleeping peer asleep. With [`Spin`] the fast
//! path has no fence and no extra load; with a waking notifier every
//! publication adds one `SeqCst` fence and a load of a line the publisher
//! already holds, and a system call only when the peer is asleep.
//!
//! # Validation
//! The other side's index is loaded once into a local and accepted only if
//! `tail - head <= capacity` (wrapping). Anything else is
//! [`Error::Corrupted`]; the slot of a position is always masked into the
//! slot array, so even an accepted-but-wrong index cannot reach outside the
//! region. Items are copied out of their slots before the caller sees them.
//!
//! Validation is lazy by design: the producer reloads `head` only when its
//! cached copy says the ring is full (the consumer reloads `tail` only when
//! its copy says empty), so a garbage index is reported on the first
//! operation that needs it, not the moment the peer writes it. Items this side
//! already saw published are still delivered before the error.
//!
//! # Queries
//! [`Consumer::len`], [`Producer::free_slots`], `is_empty`, `is_full` and
//! `capacity` take `&self` and return plain numbers: they reload the peer's
//! index, and an index out of range reads as a clamped value (a full
//! ring); the next operation that reloads it reports [`Error::Corrupted`].
//!
//! # Processes and `fork`
//! Dropping a [`Producer`] or [`Consumer`] gives its role back in the shared
//! header. A child that inherits a claimed handle across `fork` and drops it
//! gives back the *parent's* role: in the child, leave such handles to
//! `_exit` (or `mem::forget` them). A holder that dies without dropping keeps
//! its role claimed; reclaiming the role of a dead process comes with the
//! liveness records of the hosted crate.
//!
//! # Where a ring lives
//! A [`StaticRing`] owns its memory and can be a `static`; a [`Ring`] is
//! placed on a [`Region`](crate::Region) (a shared mapping, a RAM section)
//! with [`Ring::init`], or found there with [`Ring::attach`]. A region of
//! the wrong size is refused with [`Error::TooSmall`], which names the
//! length [`Ring::region_len`] gives.
//!
//! ```
//! use ipckit_core::spsc;
//!
//! static QUEUE: spsc::StaticRing<u64, 16> = spsc::StaticRing::new();
//!
//! let (mut tx, mut rx) = QUEUE.split()?;
//! tx.try_push(7)?;
//! assert_eq!(rx.try_pop()?, 7);
//! # Ok::<(), ipckit_core::Error>(())
//! ```
//!
//! # Example: a producer thread and a consumer thread
//! ```
//! use ipckit_core::{spsc, AlignedBytes, Error, Region};
//!
//! const LEN: usize = match spsc::Ring::<u32>::region_len(64) {
//!     Ok(len) => len,
//!     Err(_) => panic!("bad capacity"),
//! };
//! let mut bytes = AlignedBytes::<LEN>::new();
//! let ring = spsc::Ring::<u32>::init(Region::from_slice(&mut bytes[..]), 64)?;
//! let (mut tx, mut rx) = ring.split()?;
//! std::thread::scope(|s| {
//!     s.spawn(move || {
//!         for i in 0..1000u32 {
//!             while let Err(Error::Full) = tx.try_push(i) {
//!                 std::hint::spin_loop();
//!             }
//!         }
//!     });
//!     let mut expected = 0;
//!     while expected < 1000 {
//!         match rx.try_pop() {
//!             Ok(v) => { assert_eq!(v, expected); expected += 1; }
//!             Err(Error::Empty) => std::hint::spin_loop(),
//!             Err(e) => panic!("{e}"),
//!         }
//!     }
//! });
//! # Ok::<(), Error>(())
//! ```

mod chunk;
mod consumer;
pub(crate) mod endpoint;
#[cfg(ipckit_cas)]
mod poll;
mod producer;

pub use crate::place::Options;
pub use chunk::{ReadChunk, WriteChunk};
pub use endpoint::{Endpoint, SpscLayout};

use core::marker::PhantomData;
use core::ops::Range;

use bytemuck::Pod;

use crate::error::{Error, Result};
use crate::place::{self, Control, Layout, Placed, SingleRoles, Word};
use crate::region::{LINE, ObjectKind};
use crate::sync::SlotCell;
use crate::wait::Spin;
#[cfg(doc)]
use crate::{region::Header, wait::Notify};

/// Offset of slot 0 from the region base.
pub const DATA_OFFSET: usize = 3 * LINE;

/// The largest capacity: free-running `u32` indices tell full from empty only
/// while `capacity <= 2^31`.
pub const MAX_CAPACITY: u32 = 1 << 31;

/// The layout of an SPSC ring of `T` (the [table](self#layout-layout-version-1-kind-1)):
/// what [`Ring`] is placed by.
pub struct Slots<T>(PhantomData<T>);

impl<T> place::sealed::Sealed for Slots<T> {}

impl<T> Layout for Slots<T> {
    const KIND: ObjectKind = ObjectKind::Spsc;
    const MAX_CAPACITY: u32 = MAX_CAPACITY;
    type Control = Control<2>;
    type Unit = SlotCell<T>;
    const POSITIONS: &'static [Word] = place::TAIL_AND_HEAD;
}

impl<T> SingleRoles for Slots<T> {
    const PRODUCER_CLAIM: Word = endpoint::PRODUCER_CLAIM;
    const CONSUMER_CLAIM: Word = endpoint::CONSUMER_CLAIM;
}

impl<T> SpscLayout for Slots<T> {
    const BAD_HEAD: &'static str = "consumer head is not within a capacity of tail";
    const BAD_TAIL: &'static str = "producer tail is not within a capacity of head";
}

/// An SPSC ring placed on a region: the handle from which the one
/// [`Producer`] and the one [`Consumer`] are claimed. It moves no items
/// itself; it is cheap to clone and may be shared between threads. Its
/// methods are those of [`Placed`].
pub type Ring<'a, T> = Placed<'a, Slots<T>>;

/// An SPSC ring of `N` items of `T` that owns its memory, usable in a
/// `static` (the [example](self#where-a-ring-lives)); an `N` that is not a
/// power of two fails to compile. Its methods are those of
/// [`Owned`](place::Owned).
pub type StaticRing<T, const N: usize> = place::Owned<Slots<T>, N>;

/// The writing end of an SPSC ring; see [`Producer::try_push`].
pub type Producer<'a, T, N = Spin> = Endpoint<'a, Slots<T>, N, true>;

/// The reading end of an SPSC ring; see [`Consumer::try_pop`].
pub type Consumer<'a, T, N = Spin> = Endpoint<'a, Slots<T>, N, false>;

/// `(first, second)` with `first + second = n`, `first` ending at or before
/// the end of the slot array (`mask + 1` slots).
#[inline(always)]
fn split_range(pos: u32, n: u32, mask: u32) -> (u32, u32) {
    let start = pos & mask;
    // `mask - start + 1` cannot overflow: `start <= mask < u32::MAX`.
    let until_end = mask - start + 1;
    let first = n.min(until_end);
    (first, n - first)
}

impl<T, N, const P: bool> Endpoint<'_, Slots<T>, N, P> {
    /// The number of items in the ring now (reloads the peer's index; see
    /// [Queries](self#queries)).
    pub fn len(&self) -> usize {
        self.occupied_now() as usize
    }

    /// `true` when every slot holds an item.
    pub fn is_full(&self) -> bool {
        self.occupied_now() == self.capacity()
    }

    /// The number of free slots now.
    pub fn free_slots(&self) -> usize {
        (self.capacity() - self.occupied_now()) as usize
    }

    /// The slot of position `pos`.
    #[inline(always)]
    fn slot(&self, pos: u32) -> *mut SlotCell<T> {
        let mask = self.ring().capacity() - 1;
        // SAFETY: `pos & mask < capacity`, and the ring holds `capacity`
        // slots from `data` on (checked when it was placed).
        unsafe { self.ring().data().add((pos & mask) as usize) }
    }

    /// The slots of the `n` positions from our own on, as one or two
    /// contiguous runs `(first slot, length)`: the second is empty unless
    /// they wrap past the end of the slot array.
    #[inline(always)]
    fn runs(&self, n: u32) -> [(*mut SlotCell<T>, u32); 2] {
        let (first, second) = split_range(self.pos, n, self.ring().capacity() - 1);
        let wrapped = self.pos.wrapping_add(first);
        [(self.slot(self.pos), first), (self.slot(wrapped), second)]
    }

    /// Exactly `n` of this side's room (free slots for the producer, items
    /// for the consumer), or [`Error::TooFewSlots`].
    #[inline(always)]
    fn room_exact(&mut self, n: usize) -> Result<u32> {
        let wanted = n.min(self.capacity() as usize) as u32;
        let room = self.room_for(wanted)?;
        if n > room as usize {
            return Err(Error::TooFewSlots {
                requested: n,
                available: room as usize,
            });
        }
        Ok(n as u32)
    }

    /// As much of this side's room as there is, up to `max`.
    #[inline(always)]
    fn room_up_to(&mut self, max: usize) -> Result<u32> {
        let wanted = max.min(self.capacity() as usize) as u32;
        Ok(self.room_for(wanted)?.min(wanted))
    }
}

impl<T: Pod, N, const P: bool> Endpoint<'_, Slots<T>, N, P> {
    /// Calls `copy(run, range)` for each non-empty run of the `n` slots from
    /// our own position on, `range` being the part of the caller's slice
    /// that goes with it: the wrap at the end of the slot array, once.
    #[inline(always)]
    fn each_run(&self, n: usize, mut copy: impl FnMut(*mut SlotCell<T>, Range<usize>)) {
        let [(a, first), (b, second)] = self.runs(n as u32);
        copy(a, 0..first as usize);
        if second > 0 {
            copy(b, first as usize..n);
        }
    }

    /// Copies `items` into the slots from our own position on (the
    /// producer's free slots; the caller checked there are enough).
    #[inline(always)]
    fn store_slots(&self, items: &[T]) {
        self.each_run(items.len(), |run, range| {
            // SAFETY: the slots are free and ours until published (the
            // callers checked the room); each run lies inside the slot array.
            unsafe { SlotCell::write_slice(run, &items[range]) }
        });
    }

    /// Copies the items from our own position on into `out` (the
    /// consumer's published items; the caller checked there are enough).
    #[inline(always)]
    fn load_slots(&self, out: &mut [T]) {
        self.each_run(out.len(), |run, range| {
            // SAFETY: the slots are published and not yet released (the
            // callers checked the room); each run lies inside the slot array.
            unsafe { SlotCell::read_slice(run, &mut out[range]) }
        });
    }
}

#[cfg(test)]
mod tests;

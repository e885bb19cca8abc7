//! A broadcast ring of `T: Pod` items on a shared region: one publisher,
//! any number of subscribers, each reading every item. Lossy by default
//! (the publisher never waits; a subscriber reads every item it keeps up
//! with and learns how many it lost); with [`Policy::Reliable`] and a
//! [subscriber table](#the-subscriber-table), back-pressure (the publisher
//! waits for the slowest registered [`Member`]).
//!
//! Variable-length byte frames, written and read in place, travel on the
//! [`frames`] ring (kind 8): the same protocol, written once for both
//! (a private trait over "slot access": the slot count, a position's
//! stamp, the control words and the table).
//!
//! # Algorithm
//! A ring of seqlock slots, in the manner of Aeron's broadcast buffer
//! (`BroadcastTransmitter` / `BroadcastReceiver`) and of the Linux kernel's
//! seqcount, with per-slot sequence words as in crossbeam's `ArrayQueue`
//! stamps. `tail` is the next position the publisher writes, a
//! free-running `u32`; the slot of position `p` is `p & (capacity - 1)`.
//! Every slot carries a *stamp*:
//!
//! | stamp of the slot | meaning |
//! |---|---|
//! | `p`     | the publisher is writing the item of position `p` (the item of `p - capacity` is being destroyed) |
//! | `p + 1` | the item of position `p` is complete |
//!
//! The two never collide for one slot: its positions differ by multiples
//! of the capacity, which is at least 2. The publisher writes position
//! `p`: stamp `p` (**Release**), a **Release fence**, the item (relaxed
//! atomic stores), stamp `p + 1` (**Release**), then `tail = p + 1`
//! (**Release**) and, for sleeping subscribers, the waker's half of the
//! event count. It never reads anything a subscriber writes but the
//! waiting counter.
//!
//! A subscriber keeps its own position `pos` and a cached copy of `tail`
//! in local memory; it claims nothing and writes nothing (but the waiting
//! counter, when it sleeps). To read `pos` (with `pos` behind its cached
//! `tail`): load the stamp (**Acquire**); it must be `pos + 1`; copy the
//! item out (relaxed atomic loads); an **Acquire fence**; load the stamp
//! again; it must still be `pos + 1`. Only then is the copy returned.
//!
//! ## Why a torn copy is never returned
//! The first stamp load reads the `pos + 1` that the publisher stored
//! (Release) after the item, so every item load reads that write or a later
//! one. If any item load read a later write (a newer lap of the slot), that
//! write comes after the publisher's Release fence, which comes after its
//! store of the stamp `pos + capacity`; with our Acquire fence after the
//! item loads, the fences synchronise, and the second stamp load must see
//! `pos + capacity` or later: a mismatch. So equal stamps mean every item
//! load read the item of `pos` (Boehm, "Can seqlocks get along with
//! programming language memory models?", 2012, the fence variant). The
//! stamps repeat after 2^32 positions: a subscriber preempted *between its
//! two stamp loads* while the publisher writes 2^32 items (at 100 million
//! items per second, 43 seconds) could accept a torn copy; no other
//! schedule can.
//!
//! ## Lag
//! A stamp other than `pos + 1` (at either load) means the publisher has
//! lapped the subscriber. Every honest stamp other than `pos + 1` was
//! stored (Release) after `tail` reached `pos + capacity`, so after an
//! Acquire fence the reload of `tail` shows `tail - pos >= capacity`; less
//! is a stamp no honest publisher wrote ([`Error::Corrupted`]). The
//! subscriber then skips to the oldest position still in the ring,
//! `tail - capacity` (or one later, if that slot is already being
//! rewritten or `pos` is that position), and the call returns
//! [`Error::Lagged`]`(n)` with `n` the positions skipped; the next receive
//! returns the item there. A `tail` found more than a capacity ahead
//! (without reading a slot) is a lag too. Every receive is a bounded number
//! of loads, whatever the publisher does: a subscriber lapped continuously
//! gets `Lagged` again and again, never a hang. So over any run,
//! `received + sum of lags == items published since the subscriber's start`
//! (the test `threads_account_for_every_item`).
//!
//! ## The price of race-free copies
//! The item is copied through relaxed atomics of its alignment (up to a
//! machine word; `crate::sync`'s shared-bytes rule), because a plain or
//! volatile copy that races the writer is undefined behaviour in Rust's
//! model, even if the copy is then thrown away. On x86-64 and AArch64 a
//! relaxed load is a plain `mov`/`ldr`, but the compiler may not merge or
//! vectorise them: an item of a `u8` array moves byte by byte (prefer
//! items aligned to 4 or 8). The two fences are free on x86 (compiler
//! fences) and one `dmb ishld` per side on Arm.
//!
//! # Layout (layout version 1, kind 7)
//! For a peer in another language (a C subscriber), the whole protocol is
//! in
//! [`docs/LAYOUT.md`](https://github.com/ipckit/ipckit/blob/main/docs/LAYOUT.md#17-broadcast-ring-kind-7).
//!
//! | offset | width | field | meaning | written by |
//! |-------:|------:|-------|---------|------------|
//! | 0      | 128 B | [`Header`] | kind [`ObjectKind::Broadcast`] (7), element size and alignment of `T`, capacity, data offset 256, flags | creator |
//! | 128    | u32   | `tail`  | next position the publisher writes | publisher |
//! | 132    | u32   | publisher claim (0 free, 1 taken) | | publisher |
//! | 136    | u32   | subscribers waiting | event count: subscribers about to sleep on `tail` | subscribers (add / subtract) |
//! | 140    | u32   | `first` | the start position (fixed at creation): where "oldest" starts before the first lap | creator |
//! | 144    | u32   | `table_len` | subscriber-table entries (fixed at creation; 0: none) | creator |
//! | 148    | u32   | publisher waiting | reliable policy: a flag, the publisher asleep for room | publisher |
//! | 152    | u32   | `progress` | reliable policy: what a waiting publisher sleeps on | members |
//! | 156    | 100 B | reserved, zero | | nobody |
//! | 256    | `capacity × stride` | slots | see below | publisher |
//! | `T` = round_up(256 + `capacity × stride`, 128) | `table_len × 128` | the subscriber table (below) | members |
//!
//! The header's `flags` hold bit 0 ([`FLAG_WAKES`](crate::region::FLAG_WAKES))
//! and bit 1 ([`FLAG_RELIABLE`]: the reliable policy, which needs a
//! table); a build refuses a ring with a flag it does not know (another
//! policy). A lossy ring without a table has the bytes of layout version
//! 1 before the table existed.
//!
//! Every slot is a `#[repr(C)]` pair of a stamp and an item, `stride` bytes
//! long, exactly as in the MPMC ring: the `u32` stamp at 0, the item at
//! `A = max(4, align_of::<T>())`, `stride = round_up(A + size_of::<T>(), A)`
//! (8 bytes for `u32`, 16 for `u64`). A fresh ring is all zeros but for the
//! header, `tail` and `first` (both the start position), so a
//! [`StaticRing`] is built at compile time.
//!
//! # The peer is untrusted
//! Subscribers load `tail` and the stamps once into locals; the slot of a
//! position is always masked into the slot array. A `tail` behind the
//! subscriber (by up to 2^31) or a stamp that contradicts `tail` is
//! [`Error::Corrupted`]; a `tail` ahead reads as a lag. A peer that forges
//! a stamp *and* the item can deliver a wrong item (as any writer of the
//! region can), never an access outside the region, a panic or a hang. The
//! publisher reads nothing a peer writes but the waiting counter (a wrong
//! one costs a wake call).
//!
//! # A publisher that dies
//! A publisher killed mid-write leaves the stamp `p` (being written) in the
//! slot of `p = tail`, and `tail` unmoved: subscribers never return that
//! item (it was not published: it is lost, never counted as received), and
//! a subscriber a lap behind finds its slot overwritten and lags past it.
//! Once the holder is known to be dead, [`Ring::release_producer_claim`]
//! frees the role; the next [`publisher`](Ring::publisher) resumes at
//! `tail` and rewrites that slot in full. Subscribers hold no shared state,
//! so one that dies leaves nothing behind (but, if it died asleep, its
//! count in "subscribers waiting": every later publication then makes a
//! wake call, slower but correct).
//!
//! # Blocking
//! [`Subscriber::recv`] and [`Subscriber::recv_timeout`] sleep on `tail`
//! through the subscriber's [`Notify`] with the event count of
//! [`crate::wait`] (a counter of sleepers; every publication that finds it
//! non-zero wakes all of them). With a non-waking notifier ([`Spin`]) the
//! publisher pays no fence and no load for it; with a waking one, one
//! `SeqCst` fence and one load per publication, and a system call only
//! when a subscriber sleeps. The ring is created for one mode
//! ([`Options::waking`]); every endpoint's notifier must match it
//! ([`Error::NotifyMismatch`]).
//!
//! # Availability
//! The data path uses only atomic loads, stores and fences, so the ring
//! works between two cores of a `thumbv6m` part; there, the publisher claim
//! (a compare-and-swap elsewhere) must be fixed by construction, and the
//! waiting counter is a flag that is never withdrawn (wake calls after the
//! first sleep).
//!
//! The subscriber table and the reliable policy need compare-and-swap
//! (claiming an entry): they exist only on targets with it.
//!
//! # The subscriber table
//! A ring created with [`Options::subscribers`]`(n)` has `n` entries of
//! one [`LINE`] each (two members never share a cache line), after the
//! slots:
//!
//! | offset in entry | width | field | written by |
//! |----------------:|------:|-------|------------|
//! | 0 | u32 | `state`: [`FREE`] 0, [`JOINING`] 1, [`ACTIVE`] 2 | members |
//! | 4 | u32 | `position`: every item before it is read | the member |
//! | 8 | 120 B | reserved, zero | nobody |
//!
//! A [`Member`] ([`Ring::join`]) claims a free entry (compare-and-swap
//! `FREE -> JOINING`), reads like a [`Subscriber`], and stores its
//! position (Release, after its reads) every quarter ring of items and
//! whenever a receive finds nothing new; dropping it stores `FREE`. In a
//! lossy ring the table only reports positions; claim-free subscribers
//! work there as before.
//!
//! ## The reliable policy
//! With [`Policy::Reliable`] the publisher is a [`ReliablePublisher`]: it
//! writes position `p` only if `p - slowest < capacity`, where `slowest`
//! is the oldest position an active member still needs. It caches
//! `slowest` and scans the table only when the cache says full: a
//! **SeqCst fence**, then each entry's state (Acquire) and, if active, its
//! position (Acquire; the member's reads happen before the rewrite). A
//! joining entry counts as a whole ring behind. No member: `slowest = p`.
//! A position outside `[p - capacity, p]`, or an unknown state, is
//! [`Error::Corrupted`] and nothing is written: a forger can hold the
//! publisher back (until the caller's timeout), never make it overwrite an
//! item another member has not read. So an honest member of a reliable
//! ring never lags (but see "Joining").
//!
//! A full publisher sleeps with the event count of [`crate::wait`]: it
//! announces itself in "publisher waiting", fences, reads `progress`,
//! scans again and sleeps on `progress`; a member, after storing its
//! position (or `FREE`), fences and, only if the publisher is announced,
//! bumps `progress` (Release) and wakes it. No system call while nobody
//! sleeps; with spinning notifiers the publisher re-scans instead.
//!
//! ## Joining
//! A joiner claims its entry (`JOINING`), issues a **SeqCst fence**, loads
//! `tail = t`, stores `position = t`, then `state = ACTIVE` (Release). The
//! two SeqCst fences (the joiner's, the publisher's before a scan) are
//! ordered one way or the other:
//! - the joiner's first: the scan sees the entry: joining (no write until
//!   it is active) or active at `t`, and `t` is at most a ring behind;
//! - the scan's first: the joiner's load of `tail` sees at least that
//!   scan's `p`; the writes that scan allows (`< slowest + capacity <= p +
//!   capacity`) destroy only positions before `t`.
//!
//! So a member receives every item from `t` (its start at [`Start::Next`])
//! on. A member that starts at [`Start::Latest`] or [`Start::Oldest`] also
//! gets the items before `t` that are still there; one that a publisher
//! racing the join overwrote is reported as [`Error::Lagged`] before any
//! item at or after `t`. The loom models (`loom-tests/tests/broadcast_reliable.rs`)
//! check this with either fence removed.
//!
//! ## A member that dies
//! Its entry stays active and holds the publisher back at its last
//! published position. Whoever knows it died observes the entry's ticket
//! ([`Ring::table_ticket`]) and calls [`Ring::release_entry`] with its
//! [`Member::index`] and that ticket: the entry is freed and a waiting
//! publisher woken, unless the ticket changed (a new member joined). Each
//! entry has a **ticket**, a generation word that makes every transition
//! to `FREE` (a leave, a release) a compare-and-swap, so that a judge late
//! with its release never frees a newer member (the protocol and its
//! argument: `core/src/broadcast/ticket.rs`).
//!
//! # Example: one publisher, two subscriber threads
//! ```
//! use ipckit_core::{broadcast, AlignedBytes, Error, Region};
//!
//! let mut bytes = AlignedBytes::<{ 256 + 64 * 8 }>::new();
//! let ring = broadcast::Ring::<u32>::init(Region::from_slice(&mut bytes[..]), 64)?;
//! let mut tx = ring.publisher()?;
//! let subscribers = [ring.subscriber()?, ring.subscriber()?];
//! std::thread::scope(|s| {
//!     for mut rx in subscribers {
//!         s.spawn(move || {
//!             let (mut next, mut lost) = (0u32, 0u64);
//!             while u64::from(next) + lost < 1000 {
//!                 match rx.try_recv() {
//!                     Ok(v) => {
//!                         assert_eq!(v, next + lost as u32); // in order
//!                         next += 1;
//!                     }
//!                     Err(Error::Lagged(n)) => lost += n, // overwritten
//!                     Err(Error::Empty) => std::hint::spin_loop(),
//!                     Err(e) => panic!("{e}"),
//!                 }
//!             }
//!         });
//!     }
//!     for i in 0..1000 {
//!         tx.publish(i); // never waits
//!     }
//! });
//! # Ok::<(), Error>(())
//! ```

mod access;
#[cfg(ipckit_cas)]
pub mod frames;
mod publisher;
#[cfg(ipckit_cas)]
mod reliable;
mod subscriber;
#[cfg(ipckit_cas)]
mod table;
#[cfg(test)]
mod tests;
#[cfg(all(test, ipckit_cas))]
mod tests_reliable;
#[cfg(all(test, ipckit_cas))]
mod tests_ticket;
#[cfg(ipckit_cas)]
mod ticket;

use core::marker::PhantomData;

pub use publisher::{Loan, Publisher};
#[cfg(ipckit_cas)]
pub use reliable::ReliablePublisher;
pub use subscriber::{Start, Subscriber};
#[cfg(ipckit_cas)]
pub use table::{ACTIVE, FREE, JOINING, Member};
#[cfg(ipckit_cas)]
pub use ticket::{FREED, RELEASED};

#[cfg(doc)]
use crate::error::Error;
use crate::error::{Result, Role};
use crate::place::{self, Control, Layout, Owned, Placed, SingleProducer, Stamped, TAIL, Word};
pub use crate::place::{FLAG_RELIABLE, Options, Policy};
#[cfg(doc)]
use crate::region::Header;
use crate::region::{LINE, ObjectKind};
use crate::sync::{Ordering, SeqCell};
use crate::wait::{Notify, Spin};

/// Offset of slot 0 from the region base.
pub const DATA_OFFSET: usize = 2 * LINE;

/// The smallest capacity: with one slot, "writing position `p + 1`" and
/// "position `p` complete" would be the same stamp.
pub const MIN_CAPACITY: u32 = 2;

/// The largest capacity: a subscriber tells "behind" from "ahead" by a
/// signed 32-bit distance, which needs a lap well below 2^31.
pub const MAX_CAPACITY: u32 = 1 << 30;

// `place::TAIL`: the next position the publisher writes.
place::words! {
    /// The publisher's claim word.
    pub(crate) PUBLISHER_CLAIM = (0, 1) at 132;
    /// Subscribers about to sleep on `tail` (a counter; the publisher
    /// checks it after every publication).
    pub(crate) SUBSCRIBERS_WAITING = (0, 2) at 136;
    /// The start position, fixed at creation.
    pub(crate) FIRST = (0, 3) at 140;
    /// The subscriber table's entries, fixed at creation (0: no table).
    pub(crate) TABLE_LEN = (0, 4) at 144;
    /// A reliable publisher waiting for room (a flag: 1 while announced).
    #[cfg_attr(not(ipckit_cas), allow(dead_code))] // the reliable policy's
    pub(crate) PUBLISHER_WAITING = (0, 5) at 148;
    /// What a waiting publisher sleeps on: members bump it after they
    /// move, when they see it waiting.
    #[cfg_attr(not(ipckit_cas), allow(dead_code))] // the reliable policy's
    pub(crate) PROGRESS = (0, 6) at 152;
}

/// The most subscriber-table entries (one [`LINE`] each).
pub const MAX_TABLE: u32 = 1024;

/// One slot: the stamp, then the item.
pub(crate) type Slot<T> = Stamped<SeqCell<T>>;

// The slot table: `place::Stamped`'s, checked there.
place::layout_asserts! {
    assert!(core::mem::size_of::<Control<1>>() == DATA_OFFSET);
}

/// The layout of a broadcast ring of `T` (the
/// [table](self#layout-layout-version-1-kind-7)): what [`Ring`] is placed
/// by.
///
/// ```
/// use ipckit_core::{broadcast, place};
///
/// // 256 bytes of control block, then 16-byte slots (stamp, padding, u64).
/// assert_eq!(place::region_len::<broadcast::Slots<u64>>(8), Ok(256 + 8 * 16));
/// ```
pub struct Slots<T>(PhantomData<T>);

impl<T> place::sealed::Sealed for Slots<T> {}

/// Zeroed is empty (the default): zero stamps are never read, as a
/// subscriber reads only positions below `tail`, which the publisher wrote.
impl<T> Layout for Slots<T> {
    const KIND: ObjectKind = ObjectKind::Broadcast;
    const MIN_CAPACITY: u32 = MIN_CAPACITY;
    const MAX_CAPACITY: u32 = MAX_CAPACITY;
    type Control = Control<1>;
    type Unit = Slot<T>;
    const POSITIONS: &'static [Word] = &[TAIL, FIRST];
    const FLAGS: u32 = FLAG_RELIABLE;
    const TABLE: Option<Word> = Some(TABLE_LEN);
    const MAX_TABLE: u32 = MAX_TABLE;
}

impl<T> SingleProducer for Slots<T> {
    const PRODUCER_CLAIM: Word = PUBLISHER_CLAIM;
}

/// A broadcast ring placed on a region: the handle from which the
/// publisher is claimed and subscribers are made. Its placement methods
/// (`region_len`, `init`, `init_with`, `attach`, `capacity`, `wakes`,
/// `release_producer_claim`) are those of [`Placed`].
///
/// ```
/// use ipckit_core::{broadcast, AlignedBytes, Error, Region};
///
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = broadcast::Ring::<u16>::init(Region::from_slice(&mut bytes[..]), 4)?;
/// let mut tx = ring.publisher()?;
/// let mut early = ring.subscriber()?;
/// for v in 1..=6 {
///     tx.publish(v);
/// }
/// // Four slots: 1 and 2 were overwritten before `early` read them.
/// assert_eq!(early.try_recv(), Err(Error::Lagged(2)));
/// assert_eq!(early.try_recv(), Ok(3));
/// // A late subscriber can start at the oldest item still in the ring.
/// let mut late = ring.subscriber_from(broadcast::Start::Oldest)?;
/// assert_eq!(late.try_recv(), Ok(3));
/// # Ok::<(), Error>(())
/// ```
pub type Ring<'a, T> = Placed<'a, Slots<T>>;

/// A broadcast ring of `N` slots that owns its memory (usable in a
/// `static`; its header is published at compile time).
///
/// ```
/// use ipckit_core::broadcast::StaticRing;
///
/// static TOPIC: StaticRing<[u32; 2], 8> = StaticRing::new();
/// let mut tx = TOPIC.publisher()?;
/// let mut rx = TOPIC.subscriber()?;
/// tx.publish([1, 2]);
/// assert_eq!(rx.try_recv(), Ok([1, 2]));
/// # Ok::<(), ipckit_core::Error>(())
/// ```
pub type StaticRing<T, const N: usize> = Owned<Slots<T>, N>;

impl<'a, T: bytemuck::Pod> Ring<'a, T> {
    /// The publisher's position (`tail`) now: the number of items published
    /// since the start position, wrapping. What a subscriber compares its
    /// own [`position`](Subscriber::position) with.
    #[must_use]
    pub fn tail(&self) -> u32 {
        self.word(TAIL).load(Ordering::Acquire)
    }

    /// Claims the publisher role of a lossy ring, with the spinning
    /// notifier [`Spin`]. One publisher exists at a time
    /// ([`Error::RoleTaken`]); the role is given back when it is dropped,
    /// and the next one resumes at `tail`. A reliable ring's publisher is
    /// [`reliable_publisher`](Self::reliable_publisher)
    /// ([`Error::PolicyMismatch`]).
    pub fn publisher(&self) -> Result<Publisher<'a, T>> {
        self.publisher_with(Spin::new())
    }

    /// Claims the publisher role with `notify`, through which every
    /// publication wakes sleeping subscribers. `N::WAKES` must match the
    /// ring ([`Error::NotifyMismatch`]).
    pub fn publisher_with<N: Notify>(&self, notify: N) -> Result<Publisher<'a, T, N>> {
        access::Access::expect_policy(self, Policy::Lossy)?;
        self.claim_publisher(notify)
    }

    fn claim_publisher<N: Notify>(&self, notify: N) -> Result<Publisher<'a, T, N>> {
        self.check_notify(N::WAKES)?;
        let claim = self.claim(PUBLISHER_CLAIM, Role::Producer)?;
        Ok(Publisher::new(claim, notify))
    }

    /// The ring's policy, as its header records it.
    #[must_use]
    pub fn policy(&self) -> Policy {
        access::Access::policy(self)
    }

    /// Claims the publisher role of a reliable ring, with [`Spin`]; see
    /// [`ReliablePublisher`] ([`Error::PolicyMismatch`] on a lossy ring).
    #[cfg(ipckit_cas)]
    pub fn reliable_publisher(&self) -> Result<ReliablePublisher<'a, T>> {
        self.reliable_publisher_with(Spin::new())
    }

    /// Claims the publisher role of a reliable ring with `notify`, through
    /// which it sleeps while the ring is full and wakes subscribers.
    #[cfg(ipckit_cas)]
    pub fn reliable_publisher_with<N: Notify>(
        &self,
        notify: N,
    ) -> Result<ReliablePublisher<'a, T, N>> {
        access::Access::expect_policy(self, Policy::Reliable)?;
        Ok(ReliablePublisher::new(self.claim_publisher(notify)?))
    }

    /// Joins the subscriber table at `start`, with [`Spin`]: a [`Member`]
    /// whose position holds a reliable publisher back (module docs,
    /// "Joining", for what it receives). [`Error::Full`] if no entry is
    /// free (or the ring has no table).
    #[cfg(ipckit_cas)]
    pub fn join(&self, start: Start) -> Result<Member<'a, T>> {
        self.join_with(Spin::new(), start)
    }

    /// [`join`](Self::join) with `notify` for blocking receives (and to
    /// wake a waiting publisher).
    #[cfg(ipckit_cas)]
    pub fn join_with<N: Notify>(&self, notify: N, start: Start) -> Result<Member<'a, T, N>> {
        self.check_notify(N::WAKES)?;
        Member::join(self, notify, start)
    }

    /// A subscriber that receives the items published from now on
    /// ([`Start::Next`], as tokio's `subscribe`), with the spinning
    /// notifier. Any number may exist; they claim nothing. A reliable ring
    /// has members only ([`join`](Self::join); [`Error::PolicyMismatch`]).
    pub fn subscriber(&self) -> Result<Subscriber<'a, T>> {
        self.subscriber_with(Spin::new(), Start::Next)
    }

    /// A subscriber that starts where `start` says; see
    /// [`subscriber`](Self::subscriber).
    pub fn subscriber_from(&self, start: Start) -> Result<Subscriber<'a, T>> {
        self.subscriber_with(Spin::new(), start)
    }

    /// A subscriber that starts where `start` says and whose blocking
    /// receives sleep through `notify` ([`Error::NotifyMismatch`] unless
    /// `N::WAKES` matches the ring).
    pub fn subscriber_with<N: Notify>(
        &self,
        notify: N,
        start: Start,
    ) -> Result<Subscriber<'a, T, N>> {
        self.check_notify(N::WAKES)?;
        access::Access::expect_policy(self, Policy::Lossy)?;
        Ok(Subscriber::new(self.clone(), notify, start))
    }
}

impl<T: bytemuck::Pod, const N: usize> StaticRing<T, N> {
    /// Claims the publisher role; see [`Ring::publisher`].
    pub fn publisher(&self) -> Result<Publisher<'_, T>> {
        self.ring().publisher()
    }

    /// A subscriber of the items published from now on; see
    /// [`Ring::subscriber`].
    pub fn subscriber(&self) -> Result<Subscriber<'_, T>> {
        self.ring().subscriber()
    }
}

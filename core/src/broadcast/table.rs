//! The subscriber table: registered subscribers ([`Member`]s) that publish
//! their positions, the publisher's scan of it, and the release of a dead
//! member's entry. The protocol is in the [module docs](super#the-subscriber-table).

use core::fmt;
use core::time::Duration;

use bytemuck::Pod;

use super::access::Access;
use super::frames::FrameRing;
use super::subscriber::{Cursor, MAX_AHEAD, recv_blocking};
use super::ticket;
use super::{PROGRESS, PUBLISHER_WAITING, Ring, Start, Subscriber};
use crate::error::{Error, Result};
use crate::place::Line;
use crate::sync::{Ordering, fence};
use crate::wait::{Notify, Spin};

/// Entry word 0: the entry's state.
pub(crate) const STATE: usize = 0;
/// Entry word 1: the member's published position (every item before it
/// is read).
pub(crate) const POSITION: usize = 1;

/// State: nobody holds the entry.
pub const FREE: u32 = 0;
/// State: a subscriber claimed the entry and is choosing its start; the
/// publisher treats the ring as full until it is [`ACTIVE`].
pub const JOINING: u32 = 1;
/// State: the entry's position holds the publisher back (reliable policy).
pub const ACTIVE: u32 = 2;

/// A subscriber registered in the ring's table: it reads like a
/// [`Subscriber`] and publishes its position in its entry, so that the
/// publisher of a [reliable](crate::broadcast::Policy::Reliable) ring never
/// overwrites an item it has not read. Made by [`Ring::join`]; dropping it
/// frees the entry (and wakes a publisher waiting for room).
///
/// The position is published once every quarter ring of items, and
/// whenever a receive finds nothing new (before it would wait), so a
/// reader that keeps up costs one comparison per item and a store every
/// `capacity / 4` items.
///
/// ```
/// use ipckit_core::broadcast::{Options, Policy, Ring, Start};
/// use ipckit_core::{AlignedBytes, Error, Region};
///
/// let options = Options::new(4).subscribers(2).policy(Policy::Reliable);
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = Ring::<u32>::init_with(Region::from_slice(&mut bytes[..]), options)?;
/// let mut tx = ring.reliable_publisher()?;
/// let mut rx = ring.join(Start::Next)?;
/// for v in 0..4 {
///     tx.try_publish(v)?;
/// }
/// assert_eq!(tx.try_publish(4), Err(Error::Full)); // rx has read nothing
/// assert_eq!(rx.try_recv(), Ok(0));
/// assert_eq!(rx.try_recv(), Ok(1)); // a quarter ring read: published
/// tx.try_publish(4)?;
/// drop(rx); // the entry is freed: nothing holds the publisher back
/// for v in 5..20 {
///     tx.try_publish(v)?;
/// }
/// # Ok::<(), Error>(())
/// ```
pub struct Member<'a, T: Pod, N: Notify = Spin> {
    sub: Subscriber<'a, T, N>,
    seat: Seat,
}

// SAFETY: as for `Subscriber`; the entry index is a local number.
unsafe impl<T: Pod + Send, N: Notify + Send> Send for Member<'_, T, N> {}

impl<T: Pod, N: Notify> fmt::Debug for Member<'_, T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.seat
            .debug(&mut f.debug_struct("Member"), self.sub.position())
            .finish_non_exhaustive()
    }
}

impl<'a, T: Pod, N: Notify> Member<'a, T, N> {
    /// Joins `ring` (module docs, "Joining"): claims a free entry, then
    /// chooses the start.
    pub(super) fn join(ring: &Ring<'a, T>, notify: N, start: Start) -> Result<Self> {
        let (seat, cur) = Seat::join(ring, &notify, start)?;
        Ok(Self {
            sub: Subscriber { cur, notify },
            seat,
        })
    }

    /// Receives the next item without waiting, as
    /// [`Subscriber::try_recv`]. In a reliable ring an honest publisher
    /// never makes it lag, but for items published before the join took
    /// effect ([`Start::Latest`] / [`Start::Oldest`]; module docs).
    #[inline]
    pub fn try_recv(&mut self) -> Result<T> {
        let got = self.sub.try_recv();
        self.seat.after(&self.sub.cur, &self.sub.notify, &got);
        got
    }

    /// Receives the next item, waiting while there is none; see
    /// [`Subscriber::recv`].
    pub fn recv(&mut self) -> Result<T> {
        let ring = self.sub.ring().clone();
        recv_blocking(self, &ring, |m| &m.sub.notify, None, Self::try_recv)
    }

    /// [`recv`](Self::recv) for at most `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T> {
        let ring = self.sub.ring().clone();
        recv_blocking(
            self,
            &ring,
            |m| &m.sub.notify,
            Some(timeout),
            Self::try_recv,
        )
    }

    crate::place::test_hook! {
        /// For tests and loom models: the member "dies": its handle goes
        /// away without freeing its entry (as a killed process's), and
        /// without leaking this process's resources. Returns its index.
        #[doc(hidden)]
        pub fn die(self) -> u32 {
            let index = self.seat.index;
            let this = core::mem::ManuallyDrop::new(self);
            // SAFETY: `this` is never used or dropped again: the
            // subscriber (ring handle, notifier) is dropped once, here.
            drop(unsafe { core::ptr::read(&this.sub) });
            index
        }
    }

    /// This member's entry in the table (what
    /// [`Ring::release_member`] takes if it dies).
    #[must_use]
    pub fn index(&self) -> u32 {
        self.seat.index
    }

    super::subscriber::position_accessors!(sub.cur);

    /// The number of slots.
    #[must_use]
    pub fn capacity(&self) -> u32 {
        self.sub.capacity()
    }

    /// The ring this member reads.
    pub fn ring(&self) -> &Ring<'a, T> {
        self.sub.ring()
    }
}

impl<T: Pod, N: Notify> Drop for Member<'_, T, N> {
    fn drop(&mut self) {
        self.seat.leave(self.sub.ring(), &self.sub.notify);
    }
}

/// A member's entry in the table and the publication of its position,
/// shared by the Pod and the frame members (module docs, "The subscriber
/// table").
pub(crate) struct Seat {
    pub(super) index: u32,
    /// The entry's ticket this member joined with (its generation).
    ticket: u32,
    /// The position last stored in the entry.
    published: u32,
    /// Items read between two publications of the position.
    batch: u32,
    /// The ring is reliable: publications may have to wake the publisher.
    reliable: bool,
}

impl Seat {
    /// Joins `ring` (module docs, "Joining"): claims a free entry, then
    /// chooses the start; the reader's cursor.
    pub(super) fn join<R: Access, N: Notify>(
        ring: &R,
        notify: &N,
        start: Start,
    ) -> Result<(Self, Cursor<R>)> {
        let (index, entry, ticket) = claim(ring)?;
        // Orders the claim before the load of `tail` against the
        // publisher's fence before its scan (the join argument).
        fence(Ordering::SeqCst);
        let cur = Cursor::new(ring.clone(), start);
        // The start this member is guaranteed: the publisher may have
        // computed its bound before the claim was visible, which lets it
        // overwrite positions before this `tail` only.
        let floor = cur.tail;
        entry.word(POSITION).store(floor, Ordering::Relaxed);
        entry.word(STATE).store(ACTIVE, Ordering::Release);
        let seat = Self {
            batch: (ring.slots() / 4).max(1),
            index,
            ticket,
            published: floor,
            reliable: ring.reliable(),
        };
        seat.wake_publisher(ring, notify);
        Ok((seat, cur))
    }

    /// After a receive that returned `got`: publishes the position every
    /// `batch` items, or at once when the ring had nothing new, never a
    /// position before the one published (the start of a
    /// [`Start::Oldest`] member).
    #[inline(always)]
    pub(super) fn after<R: Access, N: Notify, V>(
        &mut self,
        cur: &Cursor<R>,
        notify: &N,
        got: &Result<V>,
    ) {
        let idle = match got {
            Ok(_) | Err(Error::Lagged(_)) => false,
            Err(Error::Empty) => true,
            Err(_) => return,
        };
        let ahead = cur.pos.wrapping_sub(self.published);
        if ahead == 0 || ahead > MAX_AHEAD || (!idle && ahead < self.batch) {
            return;
        }
        self.publish(cur, notify);
    }

    /// Stores the position in the entry (Release: our reads of the slots
    /// before it happen before the publisher's rewrites) and wakes a
    /// publisher waiting for room.
    #[cold]
    fn publish<R: Access, N: Notify>(&mut self, cur: &Cursor<R>, notify: &N) {
        if let Some(entry) = cur.ring.table_line(self.index) {
            entry.word(POSITION).store(cur.pos, Ordering::Release);
        }
        self.published = cur.pos;
        self.wake_publisher(&cur.ring, notify);
    }

    /// The waker's half of the event count the publisher sleeps in
    /// (`PUBLISHER_WAITING`, then `PROGRESS`): nothing without a waking
    /// notifier or in a lossy ring.
    fn wake_publisher<R: Access, N: Notify>(&self, ring: &R, notify: &N) {
        if self.reliable {
            wake_publisher(ring, notify);
        }
    }

    /// Frees the entry (a member dropped; nothing is stored if a judge
    /// released it already: module docs of `ticket`) and wakes a waiting
    /// publisher.
    pub(super) fn leave<R: Access, N: Notify>(&self, ring: &R, notify: &N) {
        let Some(entry) = ring.table_line(self.index) else {
            return;
        };
        if ticket::leave(entry, self.ticket) {
            self.wake_publisher(ring, notify);
        }
    }

    /// What `Debug` shows of a member at `position`.
    pub(super) fn debug<'d, 'a, 'b>(
        &self,
        d: &'d mut fmt::DebugStruct<'a, 'b>,
        position: u32,
    ) -> &'d mut fmt::DebugStruct<'a, 'b> {
        d.field("index", &self.index)
            .field("position", &position)
            .field("published", &self.published)
    }
}

/// Claims the first free entry: compare-and-swap `FREE -> JOINING`
/// (Acquire: after the previous holder's release), then a fresh ticket (an
/// entry whose claim a release took away meanwhile is left alone).
/// [`Error::Full`] if none is free (or the ring has no table).
fn claim<R: Access>(ring: &R) -> Result<(u32, &Line, u32)> {
    for index in 0..ring.table_len() {
        let Some(entry) = ring.table_line(index) else {
            break;
        };
        let state = entry.word(STATE);
        if state.load(Ordering::Relaxed) == FREE
            && state
                .compare_exchange(FREE, JOINING, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            if let Some(ticket) = ticket::join(entry) {
                return Ok((index, entry, ticket));
            }
        }
    }
    Err(Error::Full)
}

/// The waker's half of the publisher's event count: after a store that may
/// give the publisher room (a position, a freed entry), with `notify`'s
/// `SeqCst` fence; a bump of `PROGRESS` and a wake call only when the
/// publisher announced itself.
pub(super) fn wake_publisher<R: Access, N: Notify>(ring: &R, notify: &N) {
    if !N::WAKES {
        return;
    }
    fence(Ordering::SeqCst);
    if ring.word(PUBLISHER_WAITING).load(Ordering::Relaxed) != 0 {
        let progress = ring.word(PROGRESS);
        // Release: a publisher whose wait read this bump sees our store.
        progress.fetch_add(1, Ordering::Release);
        notify.wake_one(progress);
    }
}

/// The publisher's scan at its position `pos`: the oldest position an
/// active member still needs (`pos` if none), or `pos - capacity` while
/// an entry is joining. A position outside `[pos - capacity, pos]` or an
/// unknown state is [`Error::Corrupted`]; each word is loaded once.
pub(super) fn slowest<R: Access>(ring: &R, pos: u32) -> Result<u32> {
    // Pairs with a joiner's fence (module docs, "Joining"), and with the
    // Release of a `PROGRESS` bump the publisher's wait read.
    fence(Ordering::SeqCst);
    let capacity = ring.slots();
    let mut behind = 0;
    for index in 0..ring.table_len() {
        let Some(entry) = ring.table_line(index) else {
            break;
        };
        match entry.word(STATE).load(Ordering::Acquire) {
            FREE => {}
            JOINING => behind = capacity,
            ACTIVE => {
                let position = entry.word(POSITION).load(Ordering::Acquire);
                let distance = pos.wrapping_sub(position);
                if distance > capacity {
                    return Err(Error::Corrupted(
                        "broadcast subscriber position outside the ring",
                    ));
                }
                behind = behind.max(distance);
            }
            _ => return Err(Error::Corrupted("broadcast subscriber table entry state")),
        }
    }
    Ok(pos.wrapping_sub(behind))
}

/// Table entry `index` as it is now (`Ring::table_entry`).
pub(super) fn table_entry<R: Access>(ring: &R, index: u32) -> Result<(u32, u32)> {
    let entry = ring.entry(index)?;
    Ok((
        entry.word(STATE).load(Ordering::Acquire),
        entry.word(POSITION).load(Ordering::Acquire),
    ))
}

/// Table entry `index`'s state and ticket (`Ring::table_ticket`).
pub(super) fn table_ticket<R: Access>(ring: &R, index: u32) -> Result<Option<(u32, u32)>> {
    Ok(ticket::observe(ring.entry(index)?))
}

/// Releases the generation of entry `index` that had ticket `observed`,
/// and wakes a waiting publisher (`Ring::release_entry`).
pub(super) fn release_entry<R: Access, N: Notify>(
    ring: &R,
    index: u32,
    observed: u32,
    notify: &N,
) -> Result<bool> {
    let entry = ring.entry(index)?;
    let released = ticket::release_to(observed).is_some_and(|to| ticket::free(entry, observed, to));
    if released && ring.reliable() {
        wake_publisher(ring, notify);
    }
    Ok(released)
}

/// Releases whatever generation holds entry `index` now
/// (`Ring::release_member`; its safety contract is the caller's): a few
/// observations, each released unless it is a pending release.
pub(super) fn release_member<R: Access, N: Notify>(ring: &R, index: u32, notify: &N) -> Result<()> {
    for _ in 0..4 {
        if let Some((state, observed)) = table_ticket(ring, index)? {
            if state == FREE || release_entry(ring, index, observed, notify)? {
                return Ok(());
            }
        }
    }
    Ok(())
}

impl<T: Pod> Ring<'_, T> {
    /// Table entry `index` as it is now: its state ([`FREE`], [`JOINING`],
    /// [`ACTIVE`], or any value a peer wrote) and its position, each loaded
    /// once (for a survivor deciding what to release, and for inspection).
    /// [`Error::OutOfRange`] for an index past the table.
    ///
    /// ```
    /// use ipckit_core::broadcast::{Options, Ring, Start, ACTIVE, FREE};
    /// use ipckit_core::{AlignedBytes, Region};
    ///
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = Ring::<u8>::init_with(Region::from_slice(&mut bytes[..]), Options::new(4).subscribers(2))?;
    /// let rx = ring.join(Start::Next)?;
    /// assert_eq!(ring.table_entry(rx.index())?, (ACTIVE, 0));
    /// drop(rx);
    /// assert_eq!(ring.table_entry(0)?.0, FREE);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn table_entry(&self, index: u32) -> Result<(u32, u32)> {
        table_entry(self, index)
    }

    /// Frees table entry `index` of a member that died holding it (a killed
    /// process never runs its destructors), so that it no longer holds the
    /// publisher back, and wakes a publisher waiting for room through
    /// `notify`. Deciding that the holder is dead is the caller's business
    /// (the hosted crate records pids). [`Error::OutOfRange`] for an index
    /// past the table.
    ///
    /// It releases whatever generation holds the entry when it looks (a
    /// release already under way is left to finish): a judge that may be
    /// late should observe with [`table_ticket`](Self::table_ticket) when
    /// it judges and release with [`release_entry`](Self::release_entry),
    /// which frees nothing if a new member joined since.
    ///
    /// # Safety
    /// The member of that entry may not be used again (nor dropped: it
    /// would free an entry someone else may hold by then), in any thread or
    /// process. Releasing the entry of a process known to have died
    /// fulfils this. A joiner killed inside [`Ring::join`] (a few
    /// instructions) leaves its entry [`JOINING`], which no member handle
    /// names: a survivor that finds an entry joining, and not among the
    /// members it knows to be alive, releases it the same way.
    ///
    /// ```
    /// use ipckit_core::broadcast::{Options, Policy, Ring, Start};
    /// use ipckit_core::{wait::Spin, AlignedBytes, Error, Region};
    ///
    /// let options = Options::new(2).subscribers(1).policy(Policy::Reliable);
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = Ring::<u8>::init_with(Region::from_slice(&mut bytes[..]), options)?;
    /// let mut tx = ring.reliable_publisher()?;
    /// let dead = ring.join(Start::Next)?;
    /// let index = dead.index();
    /// core::mem::forget(dead); // its process "dies"
    /// tx.try_publish(1)?;
    /// tx.try_publish(2)?;
    /// assert_eq!(tx.try_publish(3), Err(Error::Full));
    /// // SAFETY: the forgotten member is never used again.
    /// unsafe { ring.release_member(index, &Spin::new())? };
    /// tx.try_publish(3)?;
    /// # Ok::<(), Error>(())
    /// ```
    pub unsafe fn release_member<N: Notify>(&self, index: u32, notify: &N) -> Result<()> {
        release_member(self, index, notify)
    }

    /// Table entry `index`'s state and ticket, for a judge that decides
    /// what to release ([`release_entry`](Self::release_entry)): the
    /// ticket, the state, the ticket again (Acquire each); `None` if the
    /// ticket changed in between (the entry is being joined or freed: look
    /// again later). [`Error::OutOfRange`] for an index past the table.
    ///
    /// ```
    /// use ipckit_core::broadcast::{Options, Ring, Start, ACTIVE, FREE};
    /// use ipckit_core::{AlignedBytes, Region};
    ///
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = Ring::<u8>::init_with(Region::from_slice(&mut bytes[..]), Options::new(4).subscribers(2))?;
    /// assert_eq!(ring.table_ticket(0)?, Some((FREE, 0))); // never joined
    /// let rx = ring.join(Start::Next)?;
    /// assert_eq!(ring.table_ticket(rx.index())?, Some((ACTIVE, 4))); // a first generation
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn table_ticket(&self, index: u32) -> Result<Option<(u32, u32)>> {
        table_ticket(self, index)
    }

    /// Releases table entry `index` for a member that died holding it, if
    /// the entry's ticket is still `observed` (what
    /// [`table_ticket`](Self::table_ticket) returned when the caller judged
    /// the member dead): one compare-and-swap on the ticket, then `FREE`,
    /// then a wake of a publisher waiting for room through `notify`.
    /// `Ok(true)` if it released the entry; `Ok(false)` if the ticket
    /// changed since (the member left, another judge released it, a new
    /// member joined) or `observed` is a release still under way: nothing
    /// is stored. [`Error::OutOfRange`] for an index past the table.
    ///
    /// Not `unsafe`: a stale observation releases nothing (a new member's
    /// ticket differs from every older one: `ticket` module docs in
    /// `core/src/broadcast/ticket.rs`), and a wrong judgement (a live
    /// member's ticket) only takes that member's protection away, its
    /// entry freed under it (it may then lag, its later leave stores
    /// nothing), as a peer writing the table could; no memory is at stake.
    ///
    /// ```
    /// use ipckit_core::broadcast::{Options, Policy, Ring, Start, ACTIVE};
    /// use ipckit_core::{wait::Spin, AlignedBytes, Error, Region};
    ///
    /// let options = Options::new(2).subscribers(1).policy(Policy::Reliable);
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// let ring = Ring::<u8>::init_with(Region::from_slice(&mut bytes[..]), options)?;
    /// let mut tx = ring.reliable_publisher()?;
    /// let dead = ring.join(Start::Next)?;
    /// let index = dead.index();
    /// core::mem::forget(dead); // its process "dies"
    /// let Some((ACTIVE, observed)) = ring.table_ticket(index)? else { unreachable!() };
    /// tx.try_publish(1)?;
    /// tx.try_publish(2)?;
    /// assert_eq!(tx.try_publish(3), Err(Error::Full));
    /// assert!(ring.release_entry(index, observed, &Spin::new())?);
    /// assert!(!ring.release_entry(index, observed, &Spin::new())?); // once
    /// tx.try_publish(3)?;
    /// # Ok::<(), Error>(())
    /// ```
    pub fn release_entry<N: Notify>(&self, index: u32, observed: u32, notify: &N) -> Result<bool> {
        release_entry(self, index, observed, notify)
    }
}

impl FrameRing<'_> {
    /// Table entry `index`'s state and ticket; see
    /// [`Ring::table_ticket`](super::Ring::table_ticket).
    pub fn table_ticket(&self, index: u32) -> Result<Option<(u32, u32)>> {
        table_ticket(self, index)
    }

    /// Releases table entry `index` if its ticket is still `observed`; see
    /// [`Ring::release_entry`](super::Ring::release_entry).
    pub fn release_entry<N: Notify>(&self, index: u32, observed: u32, notify: &N) -> Result<bool> {
        release_entry(self, index, observed, notify)
    }
}

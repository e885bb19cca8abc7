//! One attempt of a push or a pop: the fast path of Vyukov's algorithm
//! with the validation of every stamp and position it reads (module docs:
//! "The peer is untrusted", "`Empty`, `Full` and `Busy`"), for one item or
//! a run of items claimed with one compare-and-swap ("Batches").
//!
//! Both ends run the same claim ([`Ring::claim_run`]): they differ only in the
//! position word they move, the stamp that makes a slot ready for them,
//! and how far the other end's word says the ring is occupied. [`End`]
//! holds those differences.

use core::ptr::addr_of;
use core::time::Duration;

use bytemuck::Pod;

use super::layout::{CONSUMERS_WAITING, PRODUCERS_WAITING};
use super::ring::Endpoint;
use super::{BUSY_SPINS, RETRY_LIMIT, Ring};
use crate::error::{Error, Result};
use crate::intent::Intent;
use crate::place::{HEAD, TAIL, Word, stamped_stride};
use crate::sync::{AtomicU32, Ordering, SlotCell, fence, spin_hint};
use crate::wait::{Announce, Attempt, Notify, block_on};

/// What one attempt of an operation ended with.
pub(super) enum Step<T> {
    /// Done: how many items moved (at least one), or what was claimed.
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

impl Step<u32> {
    /// What a `try_` call answers: how many items moved, or `blocked`
    /// ([`Error::Full`] for a push, [`Error::Empty`] for a pop), or
    /// [`Error::Busy`].
    #[inline(always)]
    pub(super) fn answer(self, blocked: Error) -> Result<usize> {
        match self {
            Step::Done(n) => Ok(n as usize),
            Step::Blocked(_) => Err(blocked),
            Step::Busy(_) => Err(Error::Busy),
        }
    }
}

impl<T> Step<T> {
    /// What a blocking call does with this step: done with `ready`, or
    /// wait on the stamp of the position that blocked it (module docs).
    #[inline(always)]
    pub(super) fn attempt<'r, R, E: Pod>(self, ring: &'r Ring<'_, E>, ready: R) -> Attempt<'r, R> {
        match self {
            Step::Done(_) => Attempt::Ready(ready),
            Step::Blocked(at) | Step::Busy(at) => Attempt::Wait(ring.stamp(at)),
        }
    }
}

impl Step<Run> {
    /// A claimed run handed to `moved` (which moves the items and returns
    /// how many), or the position that blocked the claim, passed on.
    #[inline(always)]
    fn then(self, moved: impl FnOnce(Run) -> u32) -> Step<u32> {
        match self {
            Step::Done(run) => Step::Done(moved(run)),
            Step::Blocked(at) => Step::Blocked(at),
            Step::Busy(at) => Step::Busy(at),
        }
    }
}

/// Whether an all-or-nothing call of `len` items on a ring of `cap`
/// slots has anything to claim: [`Error::TooFewSlots`] when `len` exceeds
/// the capacity (no run can be that long), `false` for no items.
#[inline(always)]
pub(super) fn entire(len: usize, cap: u32) -> Result<bool> {
    if len > cap as usize {
        return Err(Error::TooFewSlots {
            requested: len,
            available: cap as usize,
        });
    }
    Ok(len != 0)
}

/// Positions `first..first + len` claimed by one compare-and-swap.
#[derive(Clone, Copy)]
pub(super) struct Run {
    pub(super) first: u32,
    pub(super) len: u32,
}

/// One end of the ring: what a push and a pop do differently in a claim.
/// `lag` is always "the slot's stamp minus the position asked for".
pub(super) trait End {
    /// The position word this end claims positions from.
    const OWN: Word;
    /// The other end's position word.
    const OTHER: Word;
    /// The lag of a slot ready for this end: free (0) for a push, published
    /// (1) for a pop.
    const READY: u32;
    /// The counter of the waiters this end's finishing stores may wake.
    const WAKES: Word;
    /// Whether this end, having waited for another endpoint to finish
    /// the slot it needs, also waits a moment for the rest of that slot's
    /// cache line ([`Ring::wait_for_line`]).
    const WAIT_FOR_LINE: bool;
    /// Messages of [`Error::Corrupted`]: own word backwards, the other word
    /// more than a lap away, a stamp ahead of the own word, a stamp no
    /// protocol step produces, the retry limit.
    const BACKWARDS: &'static str;
    const TOO_FAR: &'static str;
    const AHEAD: &'static str;
    const GARBAGE: &'static str;
    const RETRIES: &'static str;

    /// `true` if `lag` says that the slot is not ready yet for this lap:
    /// the previous lap still holds it, or (for a pop) it is not written.
    fn pending(lag: u32, cap: u32) -> bool;
    /// How many positions the other end has claimed that this end's
    /// position `pos` waits for (`other` is the other end's word): 0 is
    /// full (push) or empty (pop); more than `cap` is a stale or forged
    /// word.
    fn occupied(other: u32, pos: u32, cap: u32) -> u32;
    /// `true` if a `pending` lag at an `occupied` position means that
    /// another endpoint claimed the slot and has not finished with it
    /// (`Busy`); otherwise the slot changed since the stamp load: look
    /// again.
    fn busy(lag: u32) -> bool;
}

/// An end's words, and its [`Error::Corrupted`] messages in one wording
/// for both ends (`own` and `other` name the words).
macro_rules! end_words {
    ($own:ident $own_name:literal, $other:ident $other_name:literal, wakes $wakes:ident) => {
        const OWN: Word = $own;
        const OTHER: Word = $other;
        const WAKES: Word = $wakes;
        const BACKWARDS: &'static str = concat!($own_name, " moved backwards");
        const TOO_FAR: &'static str =
            concat!($other_name, " is not within a capacity of ", $own_name);
        const AHEAD: &'static str = concat!("slot stamp is ahead of ", $own_name);
        const GARBAGE: &'static str = concat!(
            "slot stamp is not a value the protocol produces at ",
            $own_name
        );
        const RETRIES: &'static str = concat!($own_name, " kept moving: retry limit reached");
    };
}

/// The producers' end.
pub(super) struct Push;
/// The consumers' end.
pub(super) struct Pop;

impl End for Push {
    const READY: u32 = 0;
    /// A push that found its slot still being read is one lap behind a
    /// consumer, on the line that consumer is reading: handing lines over
    /// whole costs it nothing (the ring is full), and spares the consumer
    /// a transfer per item.
    const WAIT_FOR_LINE: bool = true;
    end_words!(TAIL "tail", HEAD "head", wakes CONSUMERS_WAITING);

    /// The slot still belongs to position `pos - capacity`: its item is
    /// being written or waits to be read (every position from it to `pos`
    /// is claimed: full), or a consumer claimed it and is still copying it
    /// out (or skipping it: [`recovery`](super::recovery)).
    #[inline(always)]
    fn pending(lag: u32, cap: u32) -> bool {
        lag == cap.wrapping_neg() || lag == 1u32.wrapping_sub(cap)
    }

    /// Positions of the previous lap taken by consumers: `head - (pos -
    /// capacity)`.
    #[inline(always)]
    fn occupied(head: u32, pos: u32, cap: u32) -> u32 {
        head.wrapping_sub(pos.wrapping_sub(cap))
    }

    /// A consumer took the previous lap's position and has not released
    /// its slot.
    #[inline(always)]
    fn busy(_lag: u32) -> bool {
        true
    }
}

impl End for Pop {
    const READY: u32 = 1;
    /// A pop that found its item being written may be the only item for a
    /// while (a request in a round trip): waiting for more would add to its
    /// latency.
    const WAIT_FOR_LINE: bool = false;
    end_words!(HEAD "head", TAIL "tail", wakes PRODUCERS_WAITING);

    /// Not yet written for `pos` (0), or the slot still belongs to the
    /// previous lap: its item is being read, or its hole skipped.
    #[inline(always)]
    fn pending(lag: u32, cap: u32) -> bool {
        lag == 0 || lag == 1u32.wrapping_sub(cap) || lag == cap.wrapping_neg()
    }

    /// Positions claimed by producers from `pos` on: `tail - pos`.
    #[inline(always)]
    fn occupied(tail: u32, pos: u32, _cap: u32) -> u32 {
        tail.wrapping_sub(pos)
    }

    /// A producer claimed `pos` and has not published it (0); a previous
    /// lap's stamp with `pos` claimed means the slot was released and `pos`
    /// written since the stamp load.
    #[inline(always)]
    fn busy(lag: u32) -> bool {
        lag == 0
    }
}

/// Bytes of a hardware cache line on the targets that matter here (x86-64,
/// most Arm cores), for [`Ring::wait_for_line`]'s hint only: the layout's
/// own unit is [`LINE`](crate::region::LINE), a pair of these.
const CACHE_LINE: usize = 64;

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
pub(super) fn withdraw(intent: Option<&Intent>) {
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

/// A fresh load of a position word that must have moved past `pos`
/// (something this endpoint read says `pos` is stale): the new position,
/// or [`Error::Corrupted`] with `why` if the word did not move.
#[inline(always)]
fn moved_on(word: &AtomicU32, pos: u32, why: &'static str, backwards: &'static str) -> Result<u32> {
    let now = word.load(Ordering::Acquire);
    if now == pos {
        return Err(Error::Corrupted(why));
    }
    advanced(pos, now, backwards)
}

impl<T: Pod> Ring<'_, T> {
    /// One attempt to claim up to `max` (≥ 1, at most the capacity)
    /// consecutive positions at end `E`, all ready, with one
    /// compare-and-swap; or the position whose slot is not ready. With
    /// `exact`, a run of fewer than `max` ready slots is claimed not at all:
    /// [`Error::TooFewSlots`].
    ///
    /// `intent`, if any, is announced (first position, count) before every
    /// compare-and-swap, and `lost` set when one fails ([`crate::intent`]).
    /// `DIE` (tests and loom models only): a lost race ends the attempt
    /// (`Blocked`) instead of a retry; nothing is withdrawn.
    ///
    /// Every slot of the run was seen ready (stamp `p + E::READY`, loaded
    /// with `Acquire`) before the compare-and-swap: a ready stamp changes
    /// only when the claimant of `p` finishes, and the successful
    /// compare-and-swap makes this endpoint that claimant, so the whole run
    /// is still ready and owned (module docs, "Batches").
    #[inline(always)]
    pub(super) fn claim_run<E: End, const DIE: bool>(
        &self,
        max: u32,
        exact: bool,
        intent: Option<&Intent>,
        lost: &mut bool,
    ) -> Result<Step<Run>> {
        let own = self.word(E::OWN);
        let cap = self.capacity();
        let mask = cap - 1;
        // Acquire on every load of the position word and Release on the
        // claim: the claims form one release sequence, so having read `pos`
        // means that the claim of position `pos - capacity`, and the stamp
        // its claimant read before it, happened before our stamp load. That
        // bounds the stamps a valid ring can show us from below; with
        // Relaxed, a stale stamp could look like garbage.
        let mut pos = own.load(Ordering::Acquire);
        let (mut retries, mut waited) = (0, false);
        loop {
            let stamp = self.stamp(pos);
            // Acquire: pairs with the Release of the endpoint that made the
            // slot ready (a consumer's copy-out before our write, a
            // producer's write before our copy-out).
            let lag = stamp.load(Ordering::Acquire).wrapping_sub(pos);
            if lag == E::READY {
                let len = self.ready_run::<E>(pos, max);
                if exact && len < max {
                    // Too few only if our position is current (then it was
                    // all along the scan: position words only move forward);
                    // from a stale one the scan may have met a slot that
                    // the real claimant of its position has finished.
                    let now = own.load(Ordering::Acquire);
                    if now == pos {
                        return Err(Error::TooFewSlots {
                            requested: max as usize,
                            available: len as usize,
                        });
                    }
                    pos = advanced(pos, now, E::BACKWARDS)?;
                } else {
                    // Announce, then claim. The Release of the claim orders
                    // the announcement before it for every survivor that
                    // reads the position word with Acquire.
                    if let Some(intent) = intent {
                        intent.announce(pos, len);
                    }
                    match own.compare_exchange_weak(
                        pos,
                        pos.wrapping_add(len),
                        Ordering::Release,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => return Ok(Step::Done(Run { first: pos, len })),
                        // A lost race ends a dying claim; a spurious failure
                        // of the weak compare-and-swap (miri makes them)
                        // retries.
                        Err(now) if DIE && now != pos => return Ok(Step::Blocked(pos)),
                        Err(now) => {
                            *lost = true;
                            pos = advanced(pos, now, E::BACKWARDS)?;
                        }
                    }
                }
            } else if E::pending(lag, cap) {
                // Blocked if the other end has not claimed what this
                // position waits for (Acquire, so that an operation that
                // completed before this call is seen).
                let occupied = E::occupied(self.word(E::OTHER).load(Ordering::Acquire), pos, cap);
                if occupied == 0 {
                    return Ok(Step::Blocked(pos));
                }
                if occupied > cap {
                    // Our position is stale, or a peer forged a word.
                    pos = moved_on(own, pos, E::TOO_FAR, E::BACKWARDS)?;
                } else if E::busy(lag) {
                    // Not full (empty), but the slot is another endpoint's
                    // until it finishes: wait a moment, then report `Busy`,
                    // never `Full` (`Empty`) (module docs).
                    if !waited {
                        waited = true;
                        if wait_for_change(stamp, pos.wrapping_add(lag)) {
                            if E::WAIT_FOR_LINE {
                                let _ = self.wait_for_line::<E>(pos);
                            }
                            continue;
                        }
                    }
                    return Ok(Step::Busy(pos));
                }
                // Otherwise the slot changed since the stamp load: look
                // again.
            } else if (lag as i32) > E::READY as i32 && lag & mask <= 1 {
                // Position `pos` was taken already: our position is stale,
                // and the position word must have moved.
                pos = moved_on(own, pos, E::AHEAD, E::BACKWARDS)?;
            } else {
                return Err(Error::Corrupted(E::GARBAGE));
            }
            retries += 1;
            if retries == RETRY_LIMIT {
                return Err(Error::Corrupted(E::RETRIES));
            }
        }
    }

    /// Spins (at most [`BUSY_SPINS`] hints, looking at growing intervals)
    /// while the last slot on the same hardware cache line as the slot of
    /// `pos` is still pending for end `E` (the other end's previous lap has
    /// not finished it). Called after this end waited for the other end to
    /// finish the slot of `pos` itself: the two ends are then working one
    /// lap apart on one line, and without this wait they would pass it back
    /// and forth once or twice per item (each store of one end takes the
    /// line from the other, whose next slot is on it), where the other end
    /// finishing the line first costs one hand-over per line. Only a hint:
    /// nothing is decided from the stamp loaded here (the claim loop loads
    /// and validates its own), so a peer's garbage costs at most the bound.
    /// Returns the spin hints spent (for the tests).
    #[cold]
    #[inline(never)]
    pub(super) fn wait_for_line<E: End>(&self, pos: u32) -> u32 {
        let cap = self.capacity();
        let index = pos & (cap - 1);
        // Where the slot starts in its line, for a slot array that starts
        // on a line (every region from a page or an `AlignedBytes`, slots
        // at `DATA_OFFSET`); from the index, not the address, so that loom
        // explores the same choices in every execution.
        let stride = stamped_stride::<T>();
        let offset = index as usize * stride % CACHE_LINE;
        // Slots after this one that start on its line, within the array.
        let rest = ((CACHE_LINE - 1 - offset) / stride) as u32;
        let rest = rest.min(cap - 1 - index);
        if rest == 0 {
            return 0;
        }
        let last = pos.wrapping_add(rest);
        let stamp = self.stamp(last);
        let (mut spun, mut gap) = (0, 1);
        while spun < BUSY_SPINS && E::pending(stamp.load(Ordering::Relaxed).wrapping_sub(last), cap)
        {
            // Growing gaps: every look takes the line from the other end
            // for a moment.
            let hints = gap.min(BUSY_SPINS - spun);
            for _ in 0..hints {
                spin_hint();
            }
            spun += hints;
            gap *= 2;
        }
        spun
    }

    /// How many slots from position `pos` on (whose slot is ready for end
    /// `E`) are ready in a row, at most `max`.
    #[inline(always)]
    fn ready_run<E: End>(&self, pos: u32, max: u32) -> u32 {
        let mut len = 1;
        while len < max {
            let p = pos.wrapping_add(len);
            if self.stamp(p).load(Ordering::Acquire).wrapping_sub(p) != E::READY {
                break;
            }
            len += 1;
        }
        len
    }

    /// Wakes the sleepers of every stamp of `run` (end `E` just finished
    /// it), if the counter says anyone sleeps: one fence for the run. No
    /// fence and no load at all when `N` does not wake.
    #[inline(always)]
    fn wake_run<E: End, N: Notify>(&self, notify: &N, run: Run) {
        if !N::WAKES {
            return;
        }
        fence(Ordering::SeqCst);
        if self.word(E::WAKES).load(Ordering::Relaxed) != 0 {
            self.wake_slow(notify, run);
        }
    }

    #[cold]
    fn wake_slow<N: Notify>(&self, notify: &N, run: Run) {
        for i in 0..run.len {
            notify.wake_all(self.stamp(run.first.wrapping_add(i)));
        }
    }
}

impl<T: Pod, N: Notify> Endpoint<'_, T, N> {
    /// [`claim_run`](Ring::claim_run), withdrawing the intent when the attempt
    /// ends without a claim after it lost a compare-and-swap.
    #[inline(always)]
    fn claim<E: End, const DIE: bool>(&self, max: u32, exact: bool) -> Result<Step<Run>> {
        let mut lost = false;
        let step = self
            .ring
            .claim_run::<E, DIE>(max, exact, self.intent, &mut lost);
        if lost && !matches!(step, Ok(Step::Done(_))) {
            withdraw(self.intent);
        }
        step
    }

    /// Waits (the event count's [`block_on`]) until `step` moves something
    /// (its second value is what the call then returns), sleeping on the
    /// stamp of the position that blocked the last step, announced in this
    /// end's `waiters` counter (module docs).
    pub(super) fn block<R>(
        &self,
        timeout: Option<Duration>,
        waiters: Word,
        mut step: impl FnMut(&Self) -> Result<(Step<u32>, R)>,
    ) -> Result<R> {
        let waiters = self.ring.word(waiters);
        block_on(
            &mut &*self,
            |e| &e.notify,
            timeout,
            Announce::Counter,
            waiters,
            |e| {
                let (step, ready) = step(e)?;
                Ok(step.attempt(&e.ring, ready))
            },
        )
    }

    /// One attempt to push `items` (1 to capacity of them): claims the run
    /// of free slots at `tail`, at most `items.len()` long (with `exact`,
    /// exactly that long or none), writes and publishes the first items
    /// into it, and returns how many; or reports the position whose slot is
    /// not free yet.
    ///
    /// `DIE` (tests and loom models only) stops right after the first
    /// compare-and-swap, won or lost, as a producer killed there would:
    /// nothing written, nothing withdrawn.
    #[inline(always)]
    pub(super) fn push_step<const DIE: bool>(&self, items: &[T], exact: bool) -> Result<Step<u32>> {
        let ring = &self.ring;
        let claimed = self.claim::<Push, DIE>(items.len() as u32, exact)?;
        Ok(claimed.then(|run| {
            if DIE {
                return run.len;
            }
            for (i, item) in items.iter().take(run.len as usize).enumerate() {
                let pos = run.first.wrapping_add(i as u32);
                let slot = ring.slot(pos);
                // SAFETY: the compare-and-swap made this endpoint the only
                // owner of position `pos`, and its stamp said that the
                // slot's previous reader is done with it; no one else
                // touches the item until we publish.
                unsafe { SlotCell::write(addr_of!((*slot).value), *item) };
                ring.stamp(pos)
                    .store(pos.wrapping_add(1), Ordering::Release);
            }
            ring.wake_run::<Push, N>(&self.notify, run);
            run.len
        }))
    }

    /// One attempt to pop into `out` (1 to capacity items long): claims the
    /// run of published slots at `head`, at most `out.len()` long (`exact`
    /// as for a push), copies
    /// the items out and releases the slots, and returns how many; or
    /// reports the position whose item is not published yet. `DIE` as in
    /// [`push_step`](Self::push_step) (a dying consumer claims and neither
    /// reads nor releases).
    #[inline(always)]
    pub(super) fn pop_step<const DIE: bool>(
        &self,
        out: &mut [T],
        exact: bool,
    ) -> Result<Step<u32>> {
        let ring = &self.ring;
        let claimed = self.claim::<Pop, DIE>(out.len() as u32, exact)?;
        Ok(claimed.then(|run| {
            if DIE {
                return run.len;
            }
            let cap = ring.capacity();
            for (i, item) in out.iter_mut().take(run.len as usize).enumerate() {
                let pos = run.first.wrapping_add(i as u32);
                let slot = ring.slot(pos);
                // SAFETY: the compare-and-swap made this endpoint the only
                // reader of position `pos`, whose item is published; no
                // producer writes the slot until we release it. The copy
                // goes straight into a private slot of `out`.
                *item = unsafe { SlotCell::read(addr_of!((*slot).value)) };
                ring.stamp(pos)
                    .store(pos.wrapping_add(cap), Ordering::Release);
            }
            ring.wake_run::<Pop, N>(&self.notify, run);
            run.len
        }))
    }
}

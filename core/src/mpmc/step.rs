//! One attempt of a push or a pop: the fast path of Vyukov's algorithm
//! with the validation of every stamp and position it reads (module docs:
//! "The peer is untrusted", "`Empty`, `Full` and `Busy`").

use core::ptr::addr_of;

use bytemuck::Pod;

use super::layout::{CONSUMERS_WAITING, HEAD, PRODUCERS_WAITING, TAIL};
use super::{BUSY_SPINS, RETRY_LIMIT, Ring};
use crate::error::{Error, Result};
use crate::intent::Intent;
use crate::sync::{AtomicU32, Ordering, SlotCell, spin_hint};
use crate::wait::{Notify, wake_waiters};

/// What one attempt of an operation ended with.
pub(super) enum Step<T> {
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

impl<T: Pod> Ring<'_, T> {
    /// One attempt to push: claims the slot at `tail` and publishes `value`,
    /// or reports the position whose slot is not free yet.
    ///
    /// `intent`, if any, is announced before every compare-and-swap on
    /// `tail`, and withdrawn when the call ends without a claim after it lost
    /// one ([`crate::intent`]). `DIE` (tests and loom models only) stops
    /// right after the first compare-and-swap, won or lost, as a producer
    /// killed there would: nothing written, nothing withdrawn.
    #[inline]
    pub(super) fn push_step<N: Notify, const DIE: bool>(
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
        let tail_word = self.word(TAIL);
        let cap = self.capacity();
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
                        wake_waiters(notify, stamp, self.word(CONSUMERS_WAITING), true);
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
                let head = self.word(HEAD).load(Ordering::Acquire);
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
    pub(super) fn pop_step<N: Notify, const DIE: bool>(
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
        let head_word = self.word(HEAD);
        let cap = self.capacity();
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
                        wake_waiters(notify, stamp, self.word(PRODUCERS_WAITING), true);
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
                let claimed = self.word(TAIL).load(Ordering::Acquire).wrapping_sub(head);
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
}

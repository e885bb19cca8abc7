//! Crash recovery: a survivor finishes the claim of an endpoint that died
//! in the middle of an operation.
//!
//! # What a kill leaves
//! An operation is a claim (one compare-and-swap on `tail` or `head`) and a
//! finishing stamp store. A process killed between the two leaves a claimed
//! position that nobody will ever finish:
//!
//! | killed between | ring state (position `p`) | who is held up | recovery, by a survivor |
//! |---|---|---|---|
//! | a producer's `tail` compare-and-swap and its publication | `tail` past `p`, stamp `p` (a *hole*) | every consumer, once `head` reaches `p` ([`Ring::unpublished`]) | a consumer [skips](Consumer::skip_unpublished) it |
//! | a consumer's `head` compare-and-swap and its release | `head` past `p`, stamp `p + 1` | the producer of `p + capacity`, one lap later ([`Ring::unreleased`]) | a producer [releases](Producer::release_unreleased) the slot |
//! | a skipping consumer's `head` compare-and-swap and its release | `head` past `p`, stamp `p` | as above | as above |
//!
//! A kill anywhere else leaves no claimed position: before the claim nothing
//! happened; after the finishing store the operation is complete.
//!
//! # Who may recover, and when
//! Only the claim of an endpoint that will never write again may be
//! recovered: a slow but live producer whose hole was skipped would publish
//! later into a slot that already belongs to the next lap (its item is lost
//! and that slot's stamps are out of sequence: [`Error::Corrupted`] or a
//! stall for the endpoints that meet it; never an access outside the
//! region). The core cannot tell a dead endpoint from a slow one. Each
//! endpoint therefore [announces](crate::intent) every claim in its
//! [`Intent`] before it makes it ([`Producer::with_intent`],
//! [`Consumer::with_intent`]), and whoever keeps the endpoints' liveness
//! records judges a stalled position: a dead endpoint's intent names it and
//! no live endpoint's does. The hosted channels do that between the slices
//! of a blocked call; see `ipckit::channel::mpmc`. Every endpoint whose
//! claims may be recovered must announce intents: an endpoint without one
//! is invisible to that judgement.
//!
//! Each recovery re-validates the state with its own loads and changes it
//! only with compare-and-swaps, never a blind store, so survivors that race
//! each other, and an endpoint that finishes its claim after all, cannot be
//! hurt:
//!
//! - **Skip** (`p` at `head`, unpublished): checks that `head` is `p`,
//!   that `tail` is past `p` and that the stamp is still `p`; announces
//!   `p` in the skipping consumer's own intent; claims `p` as a consumer
//!   (compare-and-swap `head` from `p` to `p + 1`: of racing survivors, and
//!   of a consumer that takes a just-published item, exactly one wins);
//!   then releases the slot for the next lap without reading it
//!   (compare-and-swap of the stamp from `p` to `p + capacity`). If the
//!   item was published meanwhile (its producer finished right after the
//!   judgement), that compare-and-swap fails on `p + 1`, and the survivor
//!   takes the item as an ordinary pop would ([`Skip::Item`]): nothing is
//!   lost.
//! - **Release** (`p` claimed by a consumer and never released): checks
//!   that `head` is past `p` by at most a lap and that the stamp is `p + 1`
//!   (or `p`, a dead skipper's), then compare-and-swaps it to
//!   `p + capacity`; that fails if anyone released the slot first.
//!
//! The judgement itself needs the announcements to be visible: the claim's
//! compare-and-swap is `Release` and the survivor loads the moved position
//! word with `Acquire` ([`unpublished`](Ring::unpublished),
//! [`unreleased`](Ring::unreleased) do) before it reads the intents; see
//! [`crate::intent`] for why an announcement's own `Release` is needed too.
//!
//! # What happens to the items
//! - An item whose producer died between its claim and its publication was
//!   never committed (`push` never returned `Ok`): it is not delivered. Its
//!   position is skipped, and counted ([`Recoveries::skipped`]).
//! - An item that a consumer claimed and then died holding was committed
//!   (its `push` returned `Ok`) and was never returned to anybody: `pop`
//!   returns only after the release, which the dead consumer did not reach.
//!   It is **lost**: its slot is released without being read again, and
//!   counted ([`Recoveries::lost`]). One consumer holds at most one item at
//!   a time, so each dead consumer loses at most one (a batch pop holds its
//!   whole run, up to its length: see "Batches" in the [module
//!   docs](super), and [`Intent::covers`] for attributing a position inside
//!   a run).
//! - Every other committed item is delivered exactly once, in each
//!   producer's order; the items behind a hole are delivered once it is
//!   skipped.
//!
//! # Counters (layout)
//! | offset | width | field | written by |
//! |-------:|------:|-------|------------|
//! | 136 | u32 | `lost`: slots of dead consumers released that held a committed item (wrapping) | producers that release them |
//! | 264 | u32 | `skipped`: holes skipped, including those whose skipper died and whose slot a producer released (wrapping) | consumers that skip, producers that release |
//!
//! Each count is incremented after the compare-and-swap that recovered the
//! position: a survivor killed between the two leaves the count one short.
//! The words were reserved (zero, unused) before, so the layout version
//! stays 1: a peer that ignores them keeps working, and recovery creates no
//! state it would misread (it sees a released slot, or a full ring).
//!
//! ```
//! use ipckit_core::intent::Intent;
//! use ipckit_core::mpmc::{self, Skip};
//! use ipckit_core::{AlignedBytes, Error, Region};
//! use std::sync::atomic::{AtomicU32, Ordering};
//!
//! let bytes = Box::leak(Box::new(AlignedBytes::<512>::new()));
//! let base = core::ptr::NonNull::new(bytes.as_mut_ptr()).unwrap();
//! // SAFETY: leaked, so live for the program; the ring's words are only
//! // touched through atomics (here, the forged claim).
//! let region = unsafe { Region::from_raw(base, 512) };
//! let ring = mpmc::Ring::<u32>::init(region, 4)?;
//! let (dead, survivor, reader) = (Intent::new(), Intent::new(), Intent::new());
//! // A producer announces position 0 and claims it (moves `tail`), then is
//! // killed before it writes the slot.
//! dead.announce(0, 1);
//! // SAFETY: offset 128 (`tail`) of the live, aligned region.
//! let tail = unsafe { &*base.as_ptr().add(128).cast::<AtomicU32>() };
//! tail.fetch_add(1, Ordering::Release);
//! let tx = ring.producer()?.with_intent(&survivor);
//! tx.try_push(7)?; // committed behind the hole
//! let rx = ring.consumer()?.with_intent(&reader);
//! assert_eq!(rx.try_pop(), Err(Error::Busy));
//! assert_eq!(ring.unpublished(), Some(0));
//! // The liveness records say: `dead` names 0 and its process is dead.
//! assert_eq!(rx.skip_unpublished(0)?, Skip::Skipped);
//! assert_eq!(rx.try_pop(), Ok(7));
//! assert_eq!(ring.recoveries().skipped, 1);
//! # Ok::<(), Error>(())
//! ```

use core::ptr::addr_of;

use bytemuck::Pod;

use super::layout::{CONSUMERS_WAITING, LOST, PRODUCERS_WAITING, SKIPPED};
use super::{Consumer, Producer, Ring, withdraw};
use crate::error::{Error, Result, Role};
#[cfg(doc)]
use crate::intent::Intent;
use crate::place::{HEAD, TAIL};
use crate::sync::{Ordering, SlotCell};
use crate::wait::{Notify, wake_waiters};

/// What [`Consumer::skip_unpublished`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip<T> {
    /// The hole was skipped: `head` moved past it and its slot was released
    /// for the next lap. Counted in [`Recoveries::skipped`].
    Skipped,
    /// The position was published after all (its producer finished right
    /// after it was judged dead): its item, taken by this consumer.
    Item(T),
    /// Nothing done: the position is no longer an unpublished hole at
    /// `head` (published, taken, skipped by another survivor, or never
    /// claimed).
    Moved,
}

/// What survivors recovered over the ring's life (module docs), read from
/// the region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recoveries {
    /// Holes skipped: positions whose producers died before publishing
    /// (their items were never committed). Wrapping.
    pub skipped: u32,
    /// Committed items lost with consumers that died holding them. Wrapping.
    pub lost: u32,
}

impl<T: Pod> Ring<'_, T> {
    /// The position at `head` if a producer claimed it and has not published
    /// it ([`Stall::Unpublished`](super::Stall::Unpublished)), as seen at one
    /// instant: a slow producer, or a dead one's hole. Loads `tail` with
    /// `Acquire` after `head` and the stamp, so the claimant's announcement
    /// is visible to a judgement made after this call (module docs).
    #[must_use]
    pub fn unpublished(&self) -> Option<u32> {
        let head = self.word(HEAD).load(Ordering::Acquire);
        let at_head = self.stamp(head).load(Ordering::Acquire);
        let tail = self.word(TAIL).load(Ordering::Acquire);
        let claimed = tail.wrapping_sub(head);
        (at_head == head && claimed != 0 && claimed <= self.capacity()).then_some(head)
    }

    /// The position one lap behind `tail` if a consumer claimed it and has
    /// not released its slot, which the next push needs
    /// ([`Stall::Unreleased`](super::Stall::Unreleased)), as seen at one
    /// instant: a slow consumer, or a dead one's slot (also a dead skipper's:
    /// stamp still unpublished, `head` past it). Loads `head` with `Acquire`
    /// last, for the judgement that follows (module docs).
    #[must_use]
    pub fn unreleased(&self) -> Option<u32> {
        let cap = self.capacity();
        let tail = self.word(TAIL).load(Ordering::Acquire);
        let previous = tail.wrapping_sub(cap);
        let at_tail = self.stamp(tail).load(Ordering::Acquire);
        let head = self.word(HEAD).load(Ordering::Acquire);
        let taken = head.wrapping_sub(previous);
        let held = at_tail == previous || at_tail == previous.wrapping_add(1);
        (held && taken != 0 && taken <= cap).then_some(previous)
    }

    /// `true` if `position` is, as seen now, claimed by an endpoint of
    /// `role` and not finished: a producer's hole (claimed, unpublished,
    /// not yet skipped), or a consumer's unreleased slot. For whoever reuses
    /// a dead endpoint's intent: while this holds for the position the
    /// intent names, the intent is the only record of who made the claim.
    /// `position` may be peer data: any value is safe.
    #[must_use]
    pub fn unfinished(&self, role: Role, position: u32) -> bool {
        let cap = self.capacity();
        let stamp = self.stamp(position).load(Ordering::Acquire);
        let head = self.word(HEAD).load(Ordering::Acquire);
        match role {
            Role::Producer => {
                let tail = self.word(TAIL).load(Ordering::Acquire);
                let claimed = tail.wrapping_sub(position);
                // `head` not past `position`: a skipper that claimed it
                // took the claim over (its own intent names it now).
                let ahead = position.wrapping_sub(head);
                stamp == position && claimed != 0 && claimed <= cap && ahead < cap
            }
            Role::Consumer => {
                let taken = head.wrapping_sub(position);
                let held = stamp == position || stamp == position.wrapping_add(1);
                held && taken != 0 && taken <= cap
            }
        }
    }

    /// The recovery counts stored in the region (module docs). Peer data:
    /// any value a peer wrote.
    #[must_use]
    pub fn recoveries(&self) -> Recoveries {
        Recoveries {
            skipped: self.word(SKIPPED).load(Ordering::Relaxed),
            lost: self.word(LOST).load(Ordering::Relaxed),
        }
    }
}

impl<T: Pod, N: Notify> Consumer<'_, T, N> {
    /// Skips the hole at `position`, which must be the position at `head`
    /// that a producer claimed and will never publish: **only for a
    /// claimant known to be dead** (module docs). Re-validates the hole,
    /// claims it as a consumer (announced in this consumer's intent, if
    /// any), and releases its slot for the next lap without reading it;
    /// wakes the consumers asleep on the hole and the producer waiting for
    /// the slot. Returns [`Skip::Item`] if the item turned out published
    /// after all, [`Skip::Moved`] if there was nothing to skip.
    ///
    /// [`Error::Corrupted`] if `tail` is more than a lap ahead of
    /// `position`, or the slot's stamp changed to a value no endpoint
    /// writes while this consumer held the position.
    pub fn skip_unpublished(&self, position: u32) -> Result<Skip<T>> {
        let ring = &self.0.ring;
        let cap = ring.capacity();
        let head_word = ring.word(HEAD);
        if head_word.load(Ordering::Acquire) != position {
            return Ok(Skip::Moved);
        }
        let claimed = ring
            .word(TAIL)
            .load(Ordering::Acquire)
            .wrapping_sub(position);
        if claimed == 0 {
            return Ok(Skip::Moved); // not claimed by any producer: no hole
        }
        if claimed > cap {
            return Err(Error::Corrupted("tail is not within a capacity of head"));
        }
        let stamp = ring.stamp(position);
        if stamp.load(Ordering::Acquire) != position {
            return Ok(Skip::Moved); // published (or taken) meanwhile
        }
        // Claim the position as a consumer would, announced first: if this
        // survivor dies before the release below, a producer finds the slot
        // unreleased and this consumer's intent naming it.
        if let Some(intent) = self.0.intent {
            intent.announce(position, 1);
        }
        if head_word
            .compare_exchange(
                position,
                position.wrapping_add(1),
                Ordering::Release,
                Ordering::Acquire,
            )
            .is_err()
        {
            withdraw(self.0.intent);
            return Ok(Skip::Moved);
        }
        let next_lap = position.wrapping_add(cap);
        match stamp.compare_exchange(position, next_lap, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                ring.word(SKIPPED).fetch_add(1, Ordering::Relaxed);
                // Consumers asleep on the hole's stamp move on to the next
                // position; a producer waiting for the slot may take it.
                wake_waiters(&self.0.notify, stamp, ring.word(CONSUMERS_WAITING), true);
                wake_waiters(&self.0.notify, stamp, ring.word(PRODUCERS_WAITING), true);
                Ok(Skip::Skipped)
            }
            Err(now) if now == position.wrapping_add(1) => {
                // SAFETY: the compare-and-swap on `head` made this consumer
                // the only reader of `position`, and the stamp (Acquire,
                // pairing with the producer's publication) says the item is
                // written; no producer touches the slot until we release it.
                let value = unsafe { SlotCell::read(addr_of!((*ring.slot(position)).value)) };
                stamp.store(next_lap, Ordering::Release);
                wake_waiters(&self.0.notify, stamp, ring.word(PRODUCERS_WAITING), true);
                Ok(Skip::Item(value))
            }
            Err(_) => Err(Error::Corrupted(
                "slot stamp changed under a position being skipped",
            )),
        }
    }
}

impl<T: Pod, N: Notify> Producer<'_, T, N> {
    /// Releases the slot of `position`, which a consumer claimed and will
    /// never release: **only for a claimant known to be dead** (module
    /// docs). `position` is what [`Ring::unreleased`] reported. Re-validates
    /// the state and releases the slot with a compare-and-swap; counts the
    /// item it held as lost ([`Recoveries::lost`]; a dead skipper's slot,
    /// which held none, as a skipped hole), and wakes the producers waiting
    /// for it. `false` if there was nothing to release (released meanwhile,
    /// or not claimed by a consumer).
    pub fn release_unreleased(&self, position: u32) -> Result<bool> {
        let ring = &self.0.ring;
        let cap = ring.capacity();
        let taken = ring
            .word(HEAD)
            .load(Ordering::Acquire)
            .wrapping_sub(position);
        if taken == 0 || taken > cap {
            return Ok(false); // not claimed by a consumer, or a lap gone by
        }
        let stamp = ring.stamp(position);
        let seen = stamp.load(Ordering::Acquire);
        let lost = if seen == position.wrapping_add(1) {
            true
        } else if seen == position {
            false // a skipper's claim: the hole held no item
        } else {
            return Ok(false); // released (or later) meanwhile
        };
        // The compare-and-swap, not a store: a racing survivor, or the
        // consumer itself if it was slow after all, may have released the
        // slot, and a producer may already have reused it.
        if stamp
            .compare_exchange(
                seen,
                position.wrapping_add(cap),
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return Ok(false);
        }
        if lost {
            ring.word(LOST).fetch_add(1, Ordering::Relaxed);
        } else {
            ring.word(SKIPPED).fetch_add(1, Ordering::Relaxed);
        }
        wake_waiters(&self.0.notify, stamp, ring.word(PRODUCERS_WAITING), true);
        Ok(true)
    }
}

#[cfg(test)]
mod tests;

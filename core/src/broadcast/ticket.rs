//! The ticket of a subscriber-table entry: a generation word that makes
//! every transition to `FREE` a compare-and-swap, so that a judge that
//! judged an old member dead can never free a newer member's entry.
//!
//! # The word
//! Entry word 2 (byte 8 of the entry, reserved zero before; zero is "never
//! joined by a ticketed build"). Bit 0 is **R** (released), bit 1 is **F**
//! (freed); the rest is the generation (a multiple of 4):
//!
//! | low bits | meaning |
//! |---|---|
//! | `00` (R clear) | a member's generation: the member that joined with it holds the entry (or an old build's member, ticket untouched) |
//! | `01` (R, not F) | that generation's release is claimed: its `FREE` store is pending (the releaser is between its compare-and-swap and its store) |
//! | `11` (R and F) | released and freed: the next joiner takes a fresh generation |
//!
//! # The steps
//! - **Join**: compare-and-swap `state` `FREE -> JOINING` (the claim), load
//!   the ticket `t`, compare-and-swap it `t -> next(t)` (`next(t) = (t & !3)
//!   + 4`: a fresh generation, R clear); on failure with a value whose low
//!   bits are `01` a release took the claim away (its `FREE` store is
//!   pending or done): the joiner leaves the entry alone, storing nothing,
//!   and tries the next one; on any other value it retries from that value
//!   (at most [`TRIES`] times). Then position, `ACTIVE`, as before.
//! - **Leave** (the member, ticket `g`): load the ticket; if it is not `g`
//!   a judge released the entry already: store nothing. Else store `FREE`,
//!   then compare-and-swap `g -> g | 3` (a joiner that claimed meanwhile
//!   took `g -> next(g)` first: then it fails, as it should). No
//!   compare-and-swap before the `FREE` store, so a member killed while
//!   leaving leaves no release under way behind (`g` and its state: a judge
//!   releases it, or `g` and `FREE`: a joiner takes `next(g)`); the load
//!   guards against a release that came before, not one racing the leave,
//!   which only a judgement of a live member (a caller's error) makes.
//! - **Release** by a judge that observed ticket `o` with the entry not
//!   `FREE` ([`observe`]: ticket, state, ticket again): R clear: `o -> o |
//!   1`; low bits `11` (a joiner died between its claim and its ticket, or an
//!   old build joined): `o -> next(o) | 1`; low bits `01`: a release is
//!   pending, nothing to do. Only on success: `FREE`, then `| 2` as a leave.
//!
//! # Why a stale judge frees nothing
//! Every release of a generation by a judge is one successful
//! compare-and-swap from its value (R clear, or `11` for a joiner that
//! died before its ticket), and the entry becomes `FREE` only after such a
//! compare-and-swap, by its winner, once (or by the generation's own member
//! leaving, which nobody judges: its slot names the entry while it lives).
//! A joiner's claim needs `FREE`, so it follows that store, and its fresh
//! generation `next(t)` (a compare-and-swap from what it loaded, so a
//! stale release racing it makes one of the two fail) differs from every
//! value a judge can hold from before: values only grow
//! by 4 per generation (`2^30` generations before a value comes back). A
//! judge that observed an older value fails its compare-and-swap and
//! releases nothing. An observation of a pending release (`01`) is never
//! acted on: its winner's `FREE` store is still to come, and a second
//! `FREE` store could land on the entry of a joiner that claimed after the
//! first. The price: a judge killed between its compare-and-swap and its
//! `FREE` store (two adjacent instructions) leaves the entry held for
//! good (the publisher's timeout reports it), never freed under a member.
//!
//! A build that ignores the ticket (before it existed) joins and leaves
//! with plain stores: its members keep whatever ticket the entry had, which
//! a ticketed judge releases as above (`00` or `11`); a plain `FREE` store
//! by such a build can still free a newer member, as before.

use super::FREE;
use super::table::STATE;
use crate::place::Line;
use crate::sync::Ordering;

/// Entry word 2: the ticket.
pub(crate) const TICKET: usize = 2;
/// Ticket bit 0: the generation's release is claimed.
pub const RELEASED: u32 = 1;
/// Ticket bit 1: the released generation's `FREE` is stored.
pub const FREED: u32 = 2;
/// How often a joiner retries its ticket against concurrent marks.
const TRIES: u32 = 4;

/// A fresh generation after ticket `t`, R and F clear.
pub(crate) fn next(t: u32) -> u32 {
    (t & !(RELEASED | FREED)).wrapping_add(4)
}

/// The joiner's ticket step after its claim of `entry` (module docs): its
/// generation, or `None` when a release took the claim away (nothing
/// stored) or a forger keeps changing the word.
pub(crate) fn join(entry: &Line) -> Option<u32> {
    let ticket = entry.word(TICKET);
    // Acquire: after the releaser's compare-and-swap (its `FREE` store,
    // which our claim read, came after it). A pending mark (`01`) here is
    // that release's, its `FREE` stored: a fresh generation from it.
    let mut t = ticket.load(Ordering::Acquire);
    for _ in 0..TRIES {
        match ticket.compare_exchange(t, next(t), Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Some(next(t)),
            // A release of our claim (a judge that judged it dead).
            Err(now) if now & (RELEASED | FREED) == RELEASED => return None,
            // The releaser's mark `| 2` (or a forger): again from it.
            Err(now) => t = now,
        }
    }
    None
}

/// A member of generation `own` leaves `entry` (module docs, "Leave"):
/// `false` (nothing stored) if its generation was released already.
pub(crate) fn leave(entry: &Line, own: u32) -> bool {
    let ticket = entry.word(TICKET);
    if ticket.load(Ordering::Acquire) != own {
        return false;
    }
    entry.word(STATE).store(FREE, Ordering::Release);
    // A joiner that claimed since moves the ticket on first: then this fails.
    let _ = ticket.compare_exchange(
        own,
        own | RELEASED | FREED,
        Ordering::Release,
        Ordering::Relaxed,
    );
    true
}

/// Frees `entry` for the holder of generation `from`, moving the ticket to
/// `to` (R set): the compare-and-swap, then `FREE`, then the mark. `false`
/// (nothing stored) if the ticket is no longer `from`.
pub(crate) fn free(entry: &Line, from: u32, to: u32) -> bool {
    let ticket = entry.word(TICKET);
    if ticket
        .compare_exchange(from, to, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return false;
    }
    entry.word(STATE).store(FREE, Ordering::Release);
    // A joiner that claimed since moves the ticket on first: then this fails.
    let _ = ticket.compare_exchange(to, to | FREED, Ordering::Release, Ordering::Relaxed);
    true
}

/// What a judge that observed ticket `observed` compare-and-swaps it to,
/// or `None` for a pending release (module docs, "Release").
pub(crate) fn release_to(observed: u32) -> Option<u32> {
    match observed & (RELEASED | FREED) {
        0 | FREED => Some(observed | RELEASED),
        RELEASED => None,
        _ => Some(next(observed) | RELEASED),
    }
}

/// The entry's state and ticket, if the ticket did not change across the
/// load of the state (ticket, state, ticket: Acquire each).
pub(crate) fn observe(entry: &Line) -> Option<(u32, u32)> {
    let ticket = entry.word(TICKET);
    let before = ticket.load(Ordering::Acquire);
    let state = entry.word(STATE).load(Ordering::Acquire);
    (ticket.load(Ordering::Acquire) == before).then_some((state, before))
}

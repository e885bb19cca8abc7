//! Unit tests of MPMC crash recovery: the ring is put in the exact state a
//! kill leaves (with the test hooks `claim_and_die`, or by writing the
//! words a killed endpoint would have written), then a survivor judges the
//! stalled position from the intents, as the hosted channels do, and
//! recovers it.

use std::sync::atomic::AtomicU32 as StdAtomicU32;
use std::sync::atomic::Ordering::SeqCst;
use std::vec::Vec;

use super::super::{DATA_OFFSET, Options, Ring, Stall};
use super::{Recoveries, Skip};
use crate::error::{Error, Role};
use crate::intent::{Attribution, Intent};
use crate::place::stamped_stride as stride;
use crate::test_support::{PeerMemory, xorshift};

const TAIL: usize = 128;
const LOST: usize = 136;
const HEAD: usize = 256;
const SKIPPED: usize = 264;

fn stamp_at(capacity: u32, pos: u32) -> usize {
    DATA_OFFSET + (pos & (capacity - 1)) as usize * stride::<u32>()
}

/// One endpoint as the liveness records show it: its intent, and whether
/// its process lives.
struct Endpoint {
    intent: Intent,
    alive: bool,
}

impl Endpoint {
    /// An endpoint whose process lives.
    fn live() -> Self {
        Self {
            intent: Intent::new(),
            alive: true,
        }
    }

    /// An endpoint whose process was killed.
    fn dead() -> Self {
        Self {
            intent: Intent::new(),
            alive: false,
        }
    }
}

/// A new `$end` of `$ring` (`producer` or `consumer`) claims a position,
/// naming it in the intent of the [`Endpoint`] `$who`, and dies before it
/// finishes.
macro_rules! dies_claiming {
    ($who:expr, $ring:ident.$end:ident()) => {
        assert!(
            $ring
                .$end()
                .unwrap()
                .with_intent(&$who.intent)
                .claim_and_die()
                .unwrap()
        )
    };
}

/// The hosted judgement (`Block::attribute`) over plain endpoints: `Dead` if
/// only dead endpoints name `position`, `Live` if a live one does.
fn attribute(endpoints: &[&Endpoint], position: u32) -> Attribution {
    let mut dead = None;
    for e in endpoints {
        let (announced, span) = e.intent.read();
        if announced != position || span == 0 {
            continue;
        }
        if e.alive {
            return Attribution::Live;
        }
        dead = Some(span);
    }
    dead.map_or(Attribution::Unknown, |span| Attribution::Dead { span })
}

/// Checks that `ring` is stalled at `stall`, unfinished there for the role
/// of the stall, and that the records of `endpoints` blame a dead one.
fn stalled_by_the_dead(ring: &Ring<'_, u32>, stall: Stall, endpoints: &[&Endpoint]) {
    let (role, position) = match stall {
        Stall::Unpublished { position } => (Role::Producer, position),
        Stall::Unreleased { position } => (Role::Consumer, position),
    };
    assert_eq!(ring.stalled(), Some(stall));
    assert!(ring.unfinished(role, position));
    assert_eq!(
        attribute(endpoints, position),
        Attribution::Dead { span: 1 }
    );
}

#[test]
fn a_dead_producers_hole_is_skipped_and_the_items_behind_it_delivered() {
    const CAP: u32 = 4;
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init_at(mem.region(), CAP, u32::MAX - 1).unwrap();
    let (dead, live, reader) = (Endpoint::dead(), Endpoint::live(), Endpoint::live());
    let tx_dead = ring.producer().unwrap().with_intent(&dead.intent);
    let tx = ring.producer().unwrap().with_intent(&live.intent);
    let rx = ring.consumer().unwrap().with_intent(&reader.intent);
    tx.try_push(1).unwrap();
    // Killed between its claim of u32::MAX and the publication.
    assert!(tx_dead.claim_and_die().unwrap());
    assert_eq!(dead.intent.read(), (u32::MAX, 1));
    // Committed behind the hole, across the wrap of the positions.
    tx.try_push(2).unwrap();
    tx.try_push(3).unwrap();
    assert_eq!(rx.try_pop(), Ok(1));
    assert_eq!(rx.try_pop(), Err(Error::Busy));
    assert_eq!(ring.unpublished(), Some(u32::MAX));
    stalled_by_the_dead(
        &ring,
        Stall::Unpublished { position: u32::MAX },
        &[&dead, &live],
    );
    assert_eq!(rx.skip_unpublished(u32::MAX), Ok(Skip::Skipped));
    assert!(!ring.unfinished(Role::Producer, u32::MAX));
    assert_eq!(rx.try_pop(), Ok(2));
    assert_eq!(rx.try_pop(), Ok(3));
    assert_eq!(rx.try_pop(), Err(Error::Empty));
    assert_eq!(ring.stalled(), None);
    assert_eq!(
        ring.recoveries(),
        Recoveries {
            skipped: 1,
            lost: 0
        }
    );
    assert_eq!(mem.word(SKIPPED).load(SeqCst), 1);
    // The skipped slot serves the next laps as usual.
    for i in 10..30 {
        tx.try_push(i).unwrap();
        assert_eq!(rx.try_pop(), Ok(i));
    }
    assert_eq!(ring.len(), 0);
}

#[test]
fn a_hole_named_by_a_live_claimant_is_waited_for() {
    const CAP: u32 = 4;
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init(mem.region(), CAP).unwrap();
    // Two producers claim 0 and 1 and stop there: the first is slow (alive),
    // the second was killed.
    let (slow, dead) = (Endpoint::live(), Endpoint::dead());
    let rx = ring.consumer().unwrap();
    dies_claiming!(slow, ring.producer());
    dies_claiming!(dead, ring.producer());
    let producers = [&slow, &dead];
    assert_eq!(ring.unpublished(), Some(0));
    assert_eq!(attribute(&producers, 0), Attribution::Live);
    // The slow producer publishes after all.
    let slot = stamp_at(CAP, 0);
    mem.word(slot + 4).store(77, SeqCst);
    mem.word(slot).store(1, SeqCst);
    assert_eq!(rx.try_pop(), Ok(77));
    // Now the dead one's hole is at `head`.
    assert_eq!(ring.unpublished(), Some(1));
    assert_eq!(attribute(&producers, 1), Attribution::Dead { span: 1 });
    assert_eq!(rx.skip_unpublished(1), Ok(Skip::Skipped));
    assert_eq!(ring.unpublished(), None);
    assert_eq!(ring.len(), 0);
}

#[test]
fn a_dead_consumers_slot_is_released_and_its_item_counted_lost() {
    const CAP: u32 = 2;
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init_at(mem.region(), CAP, u32::MAX).unwrap();
    let (dead, reader, writer) = (Endpoint::dead(), Endpoint::live(), Endpoint::live());
    let tx = ring.producer().unwrap().with_intent(&writer.intent);
    let rx = ring.consumer().unwrap().with_intent(&reader.intent);
    tx.try_push(1).unwrap();
    tx.try_push(2).unwrap();
    // Killed between its claim of item 1 and the release of its slot.
    dies_claiming!(dead, ring.consumer());
    assert_eq!(dead.intent.read(), (u32::MAX, 1));
    assert_eq!(rx.try_pop(), Ok(2));
    // One lap later the producer needs the held slot.
    assert_eq!(tx.try_push(3), Err(Error::Busy));
    assert_eq!(ring.unpublished(), None);
    assert_eq!(ring.unreleased(), Some(u32::MAX));
    stalled_by_the_dead(
        &ring,
        Stall::Unreleased { position: u32::MAX },
        &[&reader, &dead],
    );
    assert_eq!(tx.release_unreleased(u32::MAX), Ok(true));
    assert!(!ring.unfinished(Role::Consumer, u32::MAX));
    assert_eq!(tx.release_unreleased(u32::MAX), Ok(false)); // done already
    assert_eq!(
        ring.recoveries(),
        Recoveries {
            skipped: 0,
            lost: 1
        }
    );
    assert_eq!(mem.word(LOST).load(SeqCst), 1);
    // Producers continue past the lap; item 1 is gone, nothing else is.
    let mut got = Vec::new();
    for i in 3..20 {
        tx.try_push(i).unwrap();
        got.push(rx.try_pop().unwrap());
    }
    assert_eq!(got, (3..20).collect::<Vec<_>>());
    assert_eq!(ring.stalled(), None);
}

#[test]
fn a_skipper_killed_mid_skip_leaves_a_slot_a_producer_releases() {
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init(mem.region(), 2).unwrap();
    let (dead_producer, dead_skipper) = (Endpoint::dead(), Endpoint::dead());
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    dies_claiming!(dead_producer, ring.producer());
    tx.try_push(5).unwrap();
    // A consumer judged the hole dead, announced it, claimed it, and was
    // killed before it released the slot.
    dead_skipper.intent.announce(0, 1);
    mem.word(HEAD)
        .compare_exchange(0, 1, SeqCst, SeqCst)
        .unwrap();
    assert_eq!(rx.try_pop(), Ok(5));
    assert_eq!(tx.try_push(6), Err(Error::Busy));
    assert_eq!(ring.unreleased(), Some(0));
    assert!(ring.unfinished(Role::Consumer, 0));
    // The producer's claim was taken over by the skipper: no longer the
    // dead producer's to answer for.
    assert!(!ring.unfinished(Role::Producer, 0));
    assert_eq!(
        attribute(&[&dead_skipper], 0),
        Attribution::Dead { span: 1 }
    );
    assert_eq!(tx.release_unreleased(0), Ok(true));
    assert_eq!(
        ring.recoveries(),
        Recoveries {
            skipped: 1,
            lost: 0
        }
    );
    tx.try_push(6).unwrap();
    assert_eq!(rx.try_pop(), Ok(6));
    assert_eq!(ring.stalled(), None);
}

#[test]
fn recovery_revalidates_and_never_undoes_progress() {
    const CAP: u32 = 4;
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init(mem.region(), CAP).unwrap();
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    // Nothing claimed: nothing to skip or release.
    assert_eq!(rx.skip_unpublished(0), Ok(Skip::Moved));
    assert_eq!(tx.release_unreleased(0), Ok(false));
    assert_eq!(tx.release_unreleased(u32::MAX - 3), Ok(false));
    // A published item is not a hole, and a position not at `head` is not
    // skipped even when it is one.
    tx.try_push(1).unwrap();
    assert_eq!(rx.skip_unpublished(0), Ok(Skip::Moved));
    assert!(tx.claim_and_die().unwrap()); // position 1
    assert_eq!(rx.skip_unpublished(1), Ok(Skip::Moved));
    assert_eq!(rx.try_pop(), Ok(1));
    // Two survivors skip the same hole: one does it.
    let other = ring.consumer().unwrap();
    assert_eq!(rx.skip_unpublished(1), Ok(Skip::Skipped));
    assert_eq!(other.skip_unpublished(1), Ok(Skip::Moved));
    assert_eq!(ring.recoveries().skipped, 1);
    // A slot its consumer released after all (slow, not dead) stays
    // released, and one that a producer reused is not touched.
    tx.try_push(2).unwrap(); // position 2
    let slow = ring.consumer().unwrap();
    assert!(slow.claim_and_die().unwrap());
    mem.word(stamp_at(CAP, 2)).store(2 + CAP, SeqCst); // its late release
    assert_eq!(tx.release_unreleased(2), Ok(false));
    for i in 0..CAP {
        tx.try_push(10 + i).unwrap(); // positions 3..=6 reuse slot of 2
    }
    assert_eq!(tx.release_unreleased(2), Ok(false));
    assert_eq!(
        ring.recoveries(),
        Recoveries {
            skipped: 1,
            lost: 0
        }
    );
    for i in 0..CAP {
        assert_eq!(rx.try_pop(), Ok(10 + i));
    }
    // `tail` more than a lap ahead of the hole: a lie, refused.
    assert!(tx.claim_and_die().unwrap()); // position 7
    mem.word(TAIL).store(7 + CAP + 1, SeqCst);
    assert!(matches!(rx.skip_unpublished(7), Err(Error::Corrupted(_))));
}

#[test]
fn announcements_name_the_claimed_position_and_survive_a_kill() {
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init_at(mem.region(), 2, 40).unwrap();
    let (pi, ci) = (Intent::new(), Intent::new());
    let tx = ring.producer().unwrap().with_intent(&pi);
    let rx = ring.consumer().unwrap().with_intent(&ci);
    assert_eq!((pi.read(), ci.read()), ((0, 0), (0, 0)));
    tx.try_push(1).unwrap();
    assert_eq!(pi.read(), (40, 1));
    // Full or empty without an attempt: the last announcement stays (it
    // names a finished claim, which no survivor asks about).
    tx.try_push(2).unwrap();
    assert_eq!(tx.try_push(3), Err(Error::Full));
    assert_eq!(pi.read(), (41, 1));
    assert_eq!(rx.try_pop(), Ok(1));
    assert_eq!(rx.try_pop(), Ok(2));
    assert_eq!(rx.try_pop(), Err(Error::Empty));
    assert_eq!(ci.read(), (41, 1));
    // A clone shares the intent (one operation at a time per intent).
    let clone = tx.clone();
    clone.try_push(4).unwrap();
    assert_eq!(pi.read(), (42, 1));
}

#[test]
fn recovery_calls_on_garbage_never_panic() {
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init_with(mem.region(), Options::new(8)).unwrap();
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    let words: Vec<usize> = [TAIL, HEAD, LOST, SKIPPED]
        .into_iter()
        .chain((0..8).map(|p| stamp_at(8, p)))
        .collect();
    for x in xorshift(0x2545_F491u32).take(if cfg!(miri) { 200 } else { 20_000 }) {
        let word: &StdAtomicU32 = mem.word(words[(x as usize >> 9) % words.len()]);
        word.store(if x & 1 == 0 { x >> 3 } else { x & 15 }, SeqCst);
        let position = x.rotate_left(7) & 31;
        let _ = rx.skip_unpublished(position);
        let _ = tx.release_unreleased(position);
        let _ = ring.unfinished(Role::Producer, position);
        let _ = ring.unfinished(Role::Consumer, position);
        let _ = (ring.unpublished(), ring.unreleased(), ring.recoveries());
        let _ = tx.try_push(x);
        let _ = rx.try_pop();
    }
}

/// What the queries and recoveries answer on a healthy ring (the examples
/// that stood in their docs).
#[test]
fn queries_and_recoveries_on_a_healthy_ring() {
    let outcomes: [Skip<u32>; 3] = [Skip::Skipped, Skip::Item(5), Skip::Moved];
    assert_ne!(outcomes[0], outcomes[2]);
    let mem = PeerMemory::new();
    let ring = Ring::<u8>::init(mem.region(), 2).unwrap();
    assert_eq!(
        ring.recoveries(),
        Recoveries {
            skipped: 0,
            lost: 0
        }
    );
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    assert_eq!(rx.skip_unpublished(0), Ok(Skip::Moved)); // nothing claimed
    tx.try_push(1).unwrap();
    assert_eq!(ring.unpublished(), None); // published
    assert!(!ring.unfinished(Role::Producer, 0)); // published
    assert!(!ring.unfinished(Role::Consumer, 0)); // nobody took it yet
    assert_eq!(rx.skip_unpublished(0), Ok(Skip::Moved)); // published: pop it
    assert!(!tx.release_unreleased(0).unwrap()); // not taken by any consumer
    tx.try_push(2).unwrap();
    assert_eq!(rx.try_pop(), Ok(1));
    assert_eq!(ring.unreleased(), None); // released
    assert_eq!(ring.recoveries().lost, 0);
}

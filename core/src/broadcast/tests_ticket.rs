//! Tests of the table entries' tickets (`ticket.rs`): a release names the
//! generation it judged, so a late judge frees nothing.

use super::frames::FrameRing;
use std::sync::atomic::Ordering::SeqCst;

use super::tests_reliable::{entry_at, reliable};
use super::*;
use crate::Error;
use crate::test_support::PeerMemory;

/// The observation a judge makes of entry `index` (not changing).
fn observe(ring: &Ring<'_, u32>, index: u32) -> (u32, u32) {
    ring.table_ticket(index)
        .unwrap()
        .expect("the ticket is stable")
}

/// Two judges saw the same dead member: the first frees it, a newcomer
/// joins into the entry, the second (late) judge frees nothing.
#[test]
fn a_release_with_a_stale_ticket_releases_nothing() {
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init_with(mem.region(), reliable(4, 1)).unwrap();
    let mut tx = ring.reliable_publisher().unwrap();
    let dead = ring.join(Start::Next).unwrap().die();
    let (state, seen) = observe(&ring, dead);
    assert_eq!((state, seen), (ACTIVE, 4));
    assert_eq!(ring.release_entry(dead, seen, &Spin::new()), Ok(true));
    let mut newcomer = ring.join(Start::Next).unwrap();
    assert_eq!(newcomer.index(), dead);
    let (state, mine) = observe(&ring, dead);
    assert_eq!(state, ACTIVE);
    assert_ne!(mine, seen, "a fresh generation");
    // The late judge.
    assert_eq!(ring.release_entry(dead, seen, &Spin::new()), Ok(false));
    assert_eq!(observe(&ring, dead), (ACTIVE, mine));
    // The newcomer still holds the publisher back, and never lags.
    for v in 0..4 {
        tx.try_publish(v).unwrap();
    }
    assert_eq!(tx.try_publish(4), Err(Error::Full));
    assert_eq!(newcomer.try_recv(), Ok(0));
    assert_eq!(
        ring.release_entry(1, mine, &Spin::new()),
        Err(Error::OutOfRange { end: 2, len: 1 })
    );
}

/// A joiner killed between its claim and its ticket leaves the entry
/// `JOINING` with the previous generation's freed ticket (`R` and `F`):
/// a judge releases it with a fresh generation; a release still under way
/// (`R` alone) is left alone.
#[test]
fn a_dead_joiners_entry_is_released_and_a_pending_release_is_not() {
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init_with(mem.region(), reliable(4, 1)).unwrap();
    let mut tx = ring.reliable_publisher().unwrap();
    drop(ring.join(Start::Next).unwrap()); // generation 4, left
    assert_eq!(observe(&ring, 0), (FREE, 4 | RELEASED | FREED));
    let entry = entry_at::<u32>(4, 0);
    mem.word(entry).store(JOINING, SeqCst); // a joiner claims, then dies
    assert_eq!(tx.try_publish(0), Err(Error::Full));
    let (state, seen) = observe(&ring, 0);
    assert_eq!((state, seen), (JOINING, 7));
    // The same entry while its release is under way: nothing.
    mem.word(entry + 8).store(8 | RELEASED, SeqCst);
    assert_eq!(ring.release_entry(0, 8 | RELEASED, &Spin::new()), Ok(false));
    assert_eq!(observe(&ring, 0), (JOINING, 8 | RELEASED));
    mem.word(entry + 8).store(seen, SeqCst);
    assert_eq!(ring.release_entry(0, seen, &Spin::new()), Ok(true));
    assert_eq!(observe(&ring, 0), (FREE, 8 | RELEASED | FREED));
    assert_eq!(ring.release_entry(0, seen, &Spin::new()), Ok(false));
    tx.try_publish(0).unwrap();
    let rx = ring.join(Start::Next).unwrap();
    assert_eq!(observe(&ring, rx.index()), (ACTIVE, 12));
}

/// A member whose entry a judge released (wrongly: it was alive) stores
/// nothing when it leaves, so the member that joined since keeps it.
#[test]
fn a_leave_after_a_release_stores_nothing() {
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init_with(mem.region(), reliable(4, 1)).unwrap();
    let judged = ring.join(Start::Next).unwrap();
    let (_, seen) = observe(&ring, 0);
    assert_eq!(ring.release_entry(0, seen, &Spin::new()), Ok(true));
    let newcomer = ring.join(Start::Next).unwrap();
    let (_, mine) = observe(&ring, 0);
    drop(judged);
    assert_eq!(observe(&ring, 0), (ACTIVE, mine));
    drop(newcomer);
    assert_eq!(observe(&ring, 0), (FREE, mine | RELEASED | FREED));
    // The deprecated-style release frees whatever holds the entry now.
    let again = ring.join(Start::Next).unwrap().die();
    // SAFETY: the dead member is never used again.
    unsafe { ring.release_member(again, &Spin::new()).unwrap() };
    assert_eq!(ring.table_entry(again).unwrap().0, FREE);
}

/// A fresh table's tickets are zero (the golden layout is unchanged) and
/// the frame ring shares the protocol.
#[test]
fn the_frame_ring_releases_by_ticket_too() {
    let mem = PeerMemory::new();
    let options = Options::new(128)
        .slot_size(32)
        .subscribers(2)
        .policy(Policy::Reliable);
    let ring = FrameRing::init_with(mem.region(), options).unwrap();
    assert_eq!(ring.table_ticket(1), Ok(Some((FREE, 0))));
    let dead = ring.join(Start::Next).unwrap();
    let index = dead.index();
    core::mem::forget(dead);
    let Ok(Some((ACTIVE, seen))) = ring.table_ticket(index) else {
        panic!("not active");
    };
    assert_eq!(ring.release_entry(index, seen, &Spin::new()), Ok(true));
    let _newcomer = ring.join(Start::Next).unwrap();
    assert_eq!(ring.release_entry(index, seen, &Spin::new()), Ok(false));
    assert_eq!(ring.table_entry(index).unwrap().0, ACTIVE);
}

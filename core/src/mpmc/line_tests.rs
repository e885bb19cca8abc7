//! Unit tests of a push's hand-over wait ([`Ring::wait_for_line`]): after
//! waiting for its own slot, a push waits for the rest of that slot's
//! cache line only while the line is still the consumers', and never
//! longer than its bound.

use super::step::Push;
use super::*;
use crate::test_support::PeerMemory;

/// A full ring of `capacity` `u64`s (16-byte slots, four to a 64-byte line
/// from slot 0 on), holding positions `0..capacity`.
fn full_ring(mem: &PeerMemory, capacity: u32) -> Ring<'_, u64> {
    let ring = Ring::<u64>::init(mem.region(), capacity).unwrap();
    let tx = ring.producer().unwrap();
    for i in 0..u64::from(capacity) {
        tx.try_push(i).unwrap();
    }
    ring
}

#[test]
fn waits_while_the_line_is_unread_and_never_past_its_bound() {
    let mem = PeerMemory::new();
    let ring = full_ring(&mem, 8);
    // Position 8 is slot 0; slot 3, the last on its line, still holds the
    // unread item of position 3: the whole bound, and no more.
    assert_eq!(ring.wait_for_line::<Push>(8), BUSY_SPINS);
    // Slots 1..=3 read and released: the line is done, no wait at all.
    let rx = ring.consumer().unwrap();
    for i in 0..4 {
        assert_eq!(rx.try_pop(), Ok(i));
    }
    assert_eq!(ring.wait_for_line::<Push>(8), 0);
    assert_eq!(ring.wait_for_line::<Push>(9), 0);
    // The next line (slots 4..=7) is still unread.
    assert_eq!(ring.wait_for_line::<Push>(12), BUSY_SPINS);
}

#[test]
fn the_last_slot_of_a_line_or_of_the_array_waits_for_nothing() {
    let mem = PeerMemory::new();
    let ring = full_ring(&mem, 8);
    // Slots 3 and 7 end their lines (and 7 the array): nothing after them
    // to wait for, although the ring is full.
    assert_eq!(ring.wait_for_line::<Push>(11), 0);
    assert_eq!(ring.wait_for_line::<Push>(15), 0);
}

#[test]
fn the_line_ends_with_the_array() {
    // Two slots share a line that would hold four: position 2 (slot 0)
    // waits for slot 1, never for slots past the array (whose positions
    // would alias other slots).
    let mem = PeerMemory::new();
    let ring = full_ring(&mem, 2);
    assert_eq!(ring.wait_for_line::<Push>(2), BUSY_SPINS);
    assert_eq!(ring.wait_for_line::<Push>(3), 0);
}

#[test]
fn a_stamp_no_honest_ring_shows_ends_the_wait() {
    // The wait is a hint: garbage in the stamp it watches ends it (the
    // claim loop then judges the slot it needs as always).
    let mem = PeerMemory::new();
    let ring = full_ring(&mem, 8);
    let last = tests::stamp_at::<u64>(8, 3);
    mem.word(last)
        .store(0xdead_beef, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(ring.wait_for_line::<Push>(8), 0);
}

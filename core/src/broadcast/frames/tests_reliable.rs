//! Tests of the broadcast frame ring's subscriber table and reliable
//! policy: the shared protocol (join, position publication, the scan and
//! the wait) on frame slots, loans held back by the slowest member, and
//! blocking on both sides with a waking notifier.

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use super::*;
use crate::Error;
use crate::broadcast::{ACTIVE, FREE};
use crate::region::LINE;
use crate::test_support::{CondvarFutex, PeerMemory};

/// A reliable ring of 4 slots of 32 bytes (frames of up to 24) with a
/// table of `entries`.
fn reliable(entries: u32) -> Options {
    Options::new(128)
        .slot_size(32)
        .subscribers(entries)
        .policy(Policy::Reliable)
}

#[test]
fn the_slowest_member_holds_publications_and_loans_back() {
    let mem = PeerMemory::new();
    let ring = FrameRing::init_with(mem.region(), reliable(2)).unwrap();
    assert_eq!(ring.policy(), Policy::Reliable);
    assert_eq!(ring.publisher().unwrap_err(), Error::PolicyMismatch);
    assert_eq!(ring.subscriber().unwrap_err(), Error::PolicyMismatch);
    let mut tx = ring.reliable_publisher().unwrap();
    let mut slow = ring.join(Start::Next).unwrap();
    let mut fast = ring.join(Start::Next).unwrap();
    assert_eq!(ring.table_entry(slow.index()), Ok((ACTIVE, 0)));
    for i in 0..4u8 {
        tx.try_publish(&[i; 3]).unwrap();
    }
    assert_eq!(tx.try_publish(b"x"), Err(Error::Full));
    assert_eq!(tx.try_loan(1).unwrap_err(), Error::Full);
    assert_eq!(
        tx.try_loan(25).unwrap_err(),
        Error::FrameTooLarge { len: 25, max: 24 }
    );
    let mut buf = [0u8; 24];
    for i in 0..4u8 {
        assert_eq!(fast.try_recv_into(&mut buf), Ok(3));
        assert_eq!(buf[..3], [i; 3]);
    }
    assert_eq!(tx.try_publish(b"x"), Err(Error::Full), "slow read nothing");
    // In place, with the position published a quarter ring (1) at a time.
    assert_eq!(slow.try_read_with(|f| f.len()), Ok(3));
    let mut loan = tx.try_loan(2).unwrap();
    // SAFETY: the reliable policy: no honest member reads an open slot.
    unsafe { loan.as_mut_slice() }.copy_from_slice(b"yz");
    loan.publish();
    assert_eq!(tx.try_publish(b"x"), Err(Error::Full));
    drop(slow); // frees its entry
    assert_eq!(ring.table_entry(0), Ok((FREE, 1)));
    tx.try_publish(b"x").unwrap();
    assert_eq!(fast.try_recv_into(&mut buf), Ok(2));
    assert_eq!(&buf[..2], b"yz");
    assert_eq!(fast.try_recv_into(&mut buf), Ok(1));
}

#[test]
fn a_dead_member_is_released_and_a_full_table_refuses() {
    let mem = PeerMemory::new();
    let ring = FrameRing::init_with(mem.region(), reliable(1)).unwrap();
    let mut tx = ring.reliable_publisher().unwrap();
    let dead = ring.join(Start::Next).unwrap();
    assert_eq!(ring.join(Start::Next).unwrap_err(), Error::Full);
    let index = dead.index();
    core::mem::forget(dead); // its process "dies"
    for _ in 0..4 {
        tx.try_publish(b"f").unwrap();
    }
    assert_eq!(tx.try_publish(b"f"), Err(Error::Full));
    // SAFETY: the forgotten member is never used again.
    unsafe { ring.release_member(index, &crate::wait::Spin::new()) }.unwrap();
    tx.try_publish(b"f").unwrap();
    let mut late = ring.join(Start::Oldest).unwrap();
    assert_eq!(late.try_recv_into(&mut [0; 24]), Ok(1));
}

#[test]
fn a_forged_table_entry_is_corrupted_and_nothing_is_written() {
    let mem = PeerMemory::new();
    let ring = FrameRing::init_with(mem.region(), reliable(1)).unwrap();
    let mut tx = ring.reliable_publisher().unwrap();
    let mut rx = ring.join(Start::Next).unwrap();
    let entry = (256 + 128usize).div_ceil(LINE) * LINE;
    tx.try_publish(b"f").unwrap(); // scans: the member at 0
    mem.word(entry + 4).store(1000, SeqCst); // a position outside the ring
    for _ in 1..4 {
        tx.try_publish(b"f").unwrap(); // the cache says room: no scan
    }
    assert_eq!(
        tx.try_publish(b"g"),
        Err(Error::Corrupted(
            "broadcast subscriber position outside the ring"
        ))
    );
    assert_eq!(tx.position(), 4);
    assert_eq!(rx.try_recv_into(&mut [0; 24]), Ok(1));
}

/// Both sides block with a waking notifier: the publisher on the slowest
/// member, the members on `tail`; every frame reaches every member, in
/// order.
#[test]
fn threads_block_on_both_sides_and_deliver_every_frame() {
    let (futex, mem) = (CondvarFutex::default(), PeerMemory::new());
    let ring = FrameRing::init_with(mem.region(), reliable(2).waking(true)).unwrap();
    let mut tx = ring.reliable_publisher_with(futex.clone()).unwrap();
    let total: u32 = if cfg!(miri) { 50 } else { 5_000 };
    std::thread::scope(|s| {
        for id in 0..2 {
            let mut rx = ring.join_with(futex.clone(), Start::Next).unwrap();
            s.spawn(move || {
                let mut buf = [0u8; 24];
                for i in 0..total {
                    let len = rx
                        .recv_into_timeout(&mut buf, Duration::from_secs(10))
                        .unwrap();
                    let want = i.to_le_bytes().repeat(6);
                    assert_eq!(buf[..len], want[..i as usize % 25], "member {id}");
                }
            });
        }
        for i in 0..total {
            let frame = i.to_le_bytes().repeat(6);
            let mut loan = tx
                .loan_timeout(i as usize % 25, Duration::from_secs(10))
                .unwrap();
            loan.copy_from_slice(&frame[..i as usize % 25]).unwrap();
            loan.publish();
        }
    });
}

/// In a lossy ring a table member reads as a subscriber does, lags when
/// lapped, and reports its position; claim-free subscribers work beside it.
#[test]
fn a_lossy_ring_with_a_table_has_members_that_lag() {
    let mem = PeerMemory::new();
    let options = Options::new(128).slot_size(32).subscribers(1);
    let ring = FrameRing::init_with(mem.region(), options).unwrap();
    let mut tx = ring.publisher().unwrap();
    let mut member = ring.join(Start::Next).unwrap();
    let mut plain = ring.subscriber().unwrap();
    for i in 0..6u8 {
        tx.publish(&[i; 5]).unwrap(); // never waits
    }
    let mut buf = [0u8; 24];
    assert_eq!(member.try_recv_into(&mut buf), Err(Error::Lagged(2)));
    assert_eq!(plain.try_recv_into(&mut buf), Err(Error::Lagged(2)));
    assert_eq!(member.try_read_with(|f| f.len()), Ok(5));
    assert_eq!(ring.table_entry(member.index()), Ok((ACTIVE, 3)));
    assert_eq!(member.len(), 3);
}

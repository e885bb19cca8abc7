use std::sync::atomic::Ordering::SeqCst;
use std::vec::Vec;

use super::*;
use crate::Error;
use crate::place::stamped_stride;
use crate::region::MAGIC;
use crate::test_support::{
    CondvarFutex, Golden, PeerMemory, refuses_flags, under_forger, xorshift,
};

/// Item of position `p`: its halves must agree (a torn copy shows up as a
/// mismatch) and it names its position (order and lag are checked).
type Item = [u64; 4];

fn item(p: u32) -> Item {
    let p = u64::from(p);
    [
        p,
        !p,
        p.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        p ^ 0x5555_AAAA_5555_AAAA,
    ]
}

/// The position an untorn item names; panics on a torn one.
fn position_of(v: Item) -> u32 {
    assert_eq!(v, item(v[0] as u32), "torn item {v:x?}");
    v[0] as u32
}

/// A ring of `T` in `mem` as `options` say, its publisher and a
/// subscriber at the next position.
fn ends<T: bytemuck::Pod>(
    mem: &PeerMemory,
    options: Options,
) -> (Ring<'_, T>, Publisher<'_, T>, Subscriber<'_, T>) {
    let ring = Ring::<T>::init_with(mem.region(), options).unwrap();
    let (tx, rx) = (ring.publisher().unwrap(), ring.subscriber().unwrap());
    (ring, tx, rx)
}

/// A full ring of 4 `Item`s from `start`, its publisher, a subscriber
/// at `start` (a lap behind the next publication) and one at the next.
type Lapped<'m> = (
    Ring<'m, Item>,
    Publisher<'m, Item>,
    Subscriber<'m, Item>,
    Subscriber<'m, Item>,
);

fn lapped(mem: &PeerMemory, start: u32) -> Lapped<'_> {
    let (ring, mut tx, behind) = ends::<Item>(mem, Options::new(4).start_at(start));
    for _ in 0..4 {
        tx.publish(item(tx.position()));
    }
    let current = ring.subscriber().unwrap();
    (ring, tx, behind, current)
}

/// Byte offset of the stamp of position `p` in a ring of `Item`s.
fn stamp_at(capacity: u32, p: u32) -> usize {
    DATA_OFFSET + (p & (capacity - 1)) as usize * stamped_stride::<Item>()
}

#[test]
fn publishes_to_every_subscriber_in_order() {
    let mem = PeerMemory::new();
    let (ring, mut tx, mut a) = ends::<u32>(&mem, Options::new(8));
    let mut b = ring.subscriber().unwrap();
    assert_eq!(a.try_recv(), Err(Error::Empty));
    assert!(a.is_empty());
    for v in 10..15 {
        tx.publish(v);
    }
    assert_eq!(a.len(), 5);
    for v in 10..15 {
        assert_eq!(a.try_recv(), Ok(v));
    }
    assert_eq!(a.try_recv(), Err(Error::Empty));
    assert_eq!((b.try_recv(), b.position()), (Ok(10), 1));
    assert_eq!((tx.position(), ring.tail()), (5, 5));
}

/// Lags are exact across the wrap of the positions, for every amount the
/// publisher gets ahead by, and the subscriber resumes at the oldest item.
#[test]
fn lag_is_exact_and_resumes_at_the_oldest() {
    for cap in [2u32, 4, 8] {
        for ahead in 0..3 * cap {
            let mem = PeerMemory::new();
            let start = u32::MAX - cap;
            let (_, mut tx, mut rx) = ends::<Item>(&mem, Options::new(cap).start_at(start));
            for k in 0..ahead {
                tx.publish(item(start.wrapping_add(k)));
            }
            let (mut received, mut lost) = (0u32, 0u64);
            loop {
                match rx.try_recv() {
                    Ok(v) => {
                        let expected = start.wrapping_add(received).wrapping_add(lost as u32);
                        assert_eq!(position_of(v), expected);
                        received += 1;
                    }
                    Err(Error::Lagged(n)) => {
                        assert_eq!(received, 0, "a lag after an item");
                        assert_eq!(n, u64::from(ahead - cap), "cap {cap} ahead {ahead}");
                        lost += n;
                    }
                    Err(Error::Empty) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            assert_eq!(u64::from(received) + lost, u64::from(ahead));
            assert_eq!(received, ahead.min(cap));
        }
    }
}

#[test]
fn subscribers_start_next_latest_or_oldest() {
    let mem = PeerMemory::new();
    let start = u32::MAX - 1;
    let ring = Ring::<u32>::init_with(mem.region(), Options::new(4).start_at(start)).unwrap();
    let mut tx = ring.publisher().unwrap();
    let from = |s| ring.subscriber_from(s).unwrap();
    // Nothing published: every start is empty, and then reads the first.
    let mut waiting = [Start::Next, Start::Latest, Start::Oldest].map(from);
    for rx in &mut waiting {
        assert_eq!(rx.try_recv(), Err(Error::Empty));
    }
    tx.publish(100);
    for mut rx in waiting {
        assert_eq!(rx.try_recv(), Ok(100));
    }
    // Part of a lap published (across the wrap): oldest is the first.
    for v in 101..103 {
        tx.publish(v);
    }
    assert_eq!(from(Start::Oldest).try_recv(), Ok(100));
    assert_eq!(from(Start::Latest).try_recv(), Ok(102));
    assert_eq!(from(Start::Next).try_recv(), Err(Error::Empty));
    // Several laps: oldest is a lap behind `tail`.
    for v in 103..110 {
        tx.publish(v);
    }
    let mut oldest = from(Start::Oldest);
    for v in 106..110 {
        assert_eq!(oldest.try_recv(), Ok(v));
    }
    assert_eq!(oldest.try_recv(), Err(Error::Empty));
    assert_eq!(from(Start::Latest).try_recv(), Ok(109));
}

#[test]
fn static_ring_and_region_share_a_layout() {
    static RING: StaticRing<u64, 4> = StaticRing::new();
    let mut tx = RING.publisher().unwrap();
    let mut rx = RING.subscriber().unwrap();
    tx.publish(7);
    assert_eq!(rx.try_recv(), Ok(7));
    assert_eq!(RING.ring().capacity(), 4);
    assert_eq!(Ring::<u64>::region_len(4), Ok(256 + 4 * 16));
    assert_eq!(Ring::<u8>::region_len(1), Err(Error::InvalidCapacity));
    assert_eq!(Ring::<u8>::region_len(6), Err(Error::InvalidCapacity));
}

#[test]
fn attach_checks_the_header() {
    let mem = PeerMemory::new();
    Ring::<u32>::init_with(mem.region(), Options::new(8).waking(true)).unwrap();
    let attached = Ring::<u32>::attach(mem.region()).unwrap();
    assert!(attached.wakes());
    assert_eq!(attached.capacity(), 8);
    assert_eq!(
        crate::mpmc::Ring::<u32>::attach(mem.region()).unwrap_err(),
        Error::KindMismatch {
            found: 7,
            expected: 2
        }
    );
    assert_eq!(
        Ring::<u64>::attach(mem.region()).unwrap_err(),
        Error::ElementMismatch { size: 4, align: 4 }
    );
    // A waking ring refuses spinning endpoints.
    assert_eq!(attached.publisher().unwrap_err(), Error::NotifyMismatch);
    assert_eq!(attached.subscriber().unwrap_err(), Error::NotifyMismatch);
    // An unknown flag (another policy) is refused.
    refuses_flags::<Slots<u32>>(&mem, 1 | 4);
    // The reliable policy needs a table.
    mem.word(36).store(1 | FLAG_RELIABLE, SeqCst);
    assert_eq!(
        Ring::<u32>::attach(mem.region()).unwrap_err(),
        Error::Corrupted("reliable broadcast ring without a table")
    );
}

#[test]
fn golden_header_bytes() {
    const CAP: u32 = 4;
    let mem = PeerMemory::new();
    let futex = CondvarFutex::default();
    let options = Options::new(CAP).start_at(0x0A0B_0C0D).waking(true);
    let ring = Ring::<u64>::init_with(mem.region(), options).unwrap();
    let mut tx = ring.publisher_with(futex).unwrap();
    tx.publish(0x11);
    tx.publish(0x22);
    // Slots of 16 bytes (stamp, 4 bytes padding, u64); 0x0A0B0C0D & 3 == 1.
    Golden::ready(DATA_OFFSET + CAP as usize * 16, 7, (8, 8), CAP, 256) // kind: broadcast
        .word(36, 1) // flags: waking
        .word(128, 0x0A0B_0C0F) // tail: start + 2
        .word(132, 1) // publisher claim
        .word(140, 0x0A0B_0C0D) // first: start
        .word(256 + 16, 0x0A0B_0C0E) // slot 1 stamp: start complete
        .word(256 + 16 + 8, 0x11) // slot 1 item
        .word(256 + 32, 0x0A0B_0C0F) // slot 2 stamp: start + 1 complete
        .word(256 + 32 + 8, 0x22) // slot 2 item
        .check(&mem);
    assert_eq!(mem.word(0).load(SeqCst), MAGIC);
    drop(tx);
    assert_eq!(mem.word(132).load(SeqCst), 0, "the claim is given back");
}

/// A publisher killed mid-write: the half-written item is never returned,
/// a subscriber a lap behind lags past it, and after the role is released
/// the next publisher rewrites the slot in full.
#[test]
fn a_publisher_that_dies_mid_write_is_taken_over() {
    let mem = PeerMemory::new();
    let (ring, tx, mut behind, mut current) = lapped(&mem, u32::MAX - 2);
    let p = tx.position();
    tx.publish_and_die(item(p));
    assert_eq!(mem.word(stamp_at(4, p)).load(SeqCst), p, "being written");
    assert_eq!(current.try_recv(), Err(Error::Empty));
    assert_eq!(behind.try_recv(), Err(Error::Lagged(1)));
    for k in 1..4 {
        assert_eq!(
            position_of(behind.try_recv().unwrap()),
            (u32::MAX - 2).wrapping_add(k)
        );
    }
    assert_eq!(behind.try_recv(), Err(Error::Empty));
    assert_eq!(
        ring.publisher().unwrap_err(),
        Error::RoleTaken(crate::Role::Producer)
    );
    // SAFETY: the dead publisher is never used again.
    unsafe { ring.release_producer_claim() };
    let mut tx = ring.publisher().unwrap();
    assert_eq!(tx.position(), p);
    tx.publish(item(p));
    assert_eq!(position_of(current.try_recv().unwrap()), p);
    assert_eq!(position_of(behind.try_recv().unwrap()), p);
}

#[test]
fn blocking_receive_sleeps_and_is_woken() {
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init_with(mem.region(), Options::new(8).waking(true)).unwrap();
    let futex = CondvarFutex::default();
    let mut tx = ring.publisher_with(futex.clone()).unwrap();
    let count = if cfg!(miri) { 20 } else { 2000 };
    let timeout = core::time::Duration::from_millis(5);
    let mut rx = ring.subscriber_with(futex.clone(), Start::Next).unwrap();
    assert_eq!(rx.recv_timeout(timeout), Err(Error::TimedOut));
    assert_eq!(mem.word(136).load(SeqCst), 0, "announcement withdrawn");
    let wakes = futex.wakes();
    tx.publish(0);
    assert_eq!(futex.wakes(), wakes, "no wake call while nobody sleeps");
    assert_eq!(rx.recv(), Ok(0));
    std::thread::scope(|s| {
        let subscribers: Vec<_> = (0..2)
            .map(|_| {
                let mut rx = ring.subscriber_with(futex.clone(), Start::Next).unwrap();
                s.spawn(move || {
                    let (mut got, mut lost) = (0u32, 0u64);
                    while u64::from(got) + lost < count {
                        match rx.recv() {
                            Ok(v) => {
                                assert_eq!(u64::from(v), u64::from(got) + lost + 1);
                                got += 1;
                            }
                            Err(Error::Lagged(n)) => lost += n,
                            Err(e) => panic!("{e}"),
                        }
                    }
                })
            })
            .collect();
        // Both subscribers exist at position 1: publish 1..=count.
        for v in 1..=count as u32 {
            tx.publish(v);
            if v % 64 == 0 {
                std::thread::yield_now();
            }
        }
        for t in subscribers {
            t.join().unwrap();
        }
    });
    assert_eq!(mem.word(136).load(SeqCst), 0);
}

/// One publisher, three subscriber threads (one of them slow): every
/// subscriber sees its items in order, untorn, and accounts for every item
/// published since it started: received + lagged == published.
#[test]
fn threads_account_for_every_item() {
    let mem = PeerMemory::new();
    let cap = 8;
    let start = u32::MAX - 100;
    let ring = Ring::<Item>::init_with(mem.region(), Options::new(cap).start_at(start)).unwrap();
    let total: u32 = if cfg!(miri) { 300 } else { 200_000 };
    let mut tx = ring.publisher().unwrap();
    // Set once everything is published: a subscriber that then finds the
    // ring empty must have accounted for every item (a miscount fails
    // instead of waiting forever).
    let done = std::sync::atomic::AtomicBool::new(false);
    let done = &done;
    let lags = std::thread::scope(|s| {
        let subscribers: Vec<_> = (0..3)
            .map(|id| {
                let mut rx = ring.subscriber().unwrap();
                s.spawn(move || {
                    let (mut received, mut lost, mut lags) = (0u64, 0u64, 0u32);
                    let mut expected = start;
                    while received + lost < u64::from(total) {
                        let finished = done.load(SeqCst);
                        match rx.try_recv() {
                            Ok(v) => {
                                assert_eq!(position_of(v), expected, "subscriber {id}");
                                expected = expected.wrapping_add(1);
                                received += 1;
                                if id == 2 {
                                    // The slow one.
                                    for _ in 0..50 {
                                        core::hint::spin_loop();
                                    }
                                }
                            }
                            Err(Error::Lagged(n)) => {
                                assert!(n > 0);
                                lost += n;
                                lags += 1;
                                expected = expected.wrapping_add(n as u32);
                                assert_eq!(rx.position(), expected);
                            }
                            Err(Error::Empty) if finished => break,
                            Err(Error::Empty) => std::thread::yield_now(),
                            Err(e) => panic!("subscriber {id}: {e}"),
                        }
                    }
                    assert_eq!(received + lost, u64::from(total));
                    lags
                })
            })
            .collect();
        for k in 0..total {
            tx.publish(item(start.wrapping_add(k)));
        }
        done.store(true, SeqCst);
        subscribers
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect::<Vec<_>>()
    });
    std::println!("lag reports per subscriber: {lags:?}");
}

// ---------------------------------------------------------------------------
// A hostile peer
// ---------------------------------------------------------------------------

#[test]
fn a_tail_behind_or_far_ahead() {
    let mem = PeerMemory::new();
    let ring = Ring::<Item>::init(mem.region(), 4).unwrap();
    let mut tx = ring.publisher().unwrap();
    tx.publish(item(0));
    let mut rx = ring.subscriber_from(Start::Oldest).unwrap();
    assert_eq!(position_of(rx.try_recv().unwrap()), 0);
    // Behind the subscriber.
    for behind in [1u32, 2, 1 << 30, (1 << 31) - 1] {
        mem.word(128).store(1u32.wrapping_sub(behind), SeqCst);
        assert_eq!(
            rx.try_recv(),
            Err(Error::Corrupted("broadcast tail is behind a subscriber"))
        );
        assert_eq!(rx.len(), 0);
    }
    // Far ahead: a lag (the slots say nothing to the contrary we could
    // check), never an item from a slot that was not written for it.
    mem.word(128).store(1 + 1000, SeqCst);
    match rx.try_recv() {
        Err(Error::Lagged(n)) => assert!((996..=997).contains(&n), "{n}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(rx.try_recv(), Err(Error::Corrupted(_))));
}

#[test]
fn stamps_that_contradict_tail_are_errors() {
    let mem = PeerMemory::new();
    let (_, mut tx, mut rx) = ends::<Item>(&mem, Options::new(4));
    tx.publish(item(0));
    tx.publish(item(1));
    let stamp = mem.word(stamp_at(4, 0));
    // Earlier laps, "being written" for our own position, garbage: tail
    // (2) says position 0 is complete and not yet overwritten.
    for garbage in [0, 1u32.wrapping_sub(4), 2, 0xDEAD_BEEF, 4, 5] {
        stamp.store(garbage, SeqCst);
        assert_eq!(
            rx.try_recv(),
            Err(Error::Corrupted("broadcast slot stamp contradicts tail")),
            "stamp {garbage:#x}"
        );
        assert_eq!(rx.position(), 0);
    }
    stamp.store(1, SeqCst);
    assert_eq!(position_of(rx.try_recv().unwrap()), 0);
}

/// A peer that writes random words into the control line and the slots
/// while a subscriber receives (in this thread, between receives, and from
/// another thread during them): every answer is an item, `Empty`, `Lagged`
/// or `Corrupted`; no panic, no hang, no access outside the region (miri).
#[test]
fn random_peer_words_never_panic_or_hang() {
    let mem = PeerMemory::new();
    let cap = 4;
    let len = Ring::<Item>::region_len(cap).unwrap();
    let ring = Ring::<Item>::init(mem.region(), cap).unwrap();
    let rounds = if cfg!(miri) { 200 } else { 20_000 };
    let mut rx = ring.subscriber_from(Start::Oldest).unwrap();
    let forge = |rng: &mut dyn Iterator<Item = u32>| {
        let word = 128 + (rng.next().unwrap() as usize % ((len - 128) / 4)) * 4;
        let value = match rng.next().unwrap() % 4 {
            0 => rng.next().unwrap(),
            1 => rng.next().unwrap() % 16,
            _ => mem
                .word(128)
                .load(SeqCst)
                .wrapping_add(rng.next().unwrap() % 9),
        };
        mem.word(word).store(value, SeqCst);
    };
    let mut rng = xorshift(0x1234_5678);
    let answers = under_forger(rounds, forge, |_| {
        forge(&mut rng);
        rx.try_recv()
    });
    std::println!("items, empty, lagged, corrupted: {answers:?}");
}

#[test]
fn loans_write_in_place_and_a_dropped_loan_publishes_nothing() {
    let mem = PeerMemory::new();
    let (ring, mut tx, mut behind, mut current) = lapped(&mem, u32::MAX - 1);
    let p = tx.position();
    let mut loan = tx.loan();
    loan.write(item(p.wrapping_add(100)));
    assert_eq!(
        loan.write_at(30, &[0; 3]),
        Err(Error::OutOfRange { end: 33, len: 32 })
    );
    drop(loan);
    assert_eq!(mem.word(stamp_at(4, p)).load(SeqCst), p, "being written");
    assert_eq!((ring.tail(), tx.position()), (p, p));
    assert_eq!(current.try_recv(), Err(Error::Empty));
    assert_eq!(
        behind.try_recv(),
        Err(Error::Lagged(1)),
        "its slot destroyed"
    );
    // The next loan rewrites the slot at the same position, part by part.
    let mut loan = tx.loan();
    loan.write(item(p));
    loan.write_at(8, &(!u64::from(p)).to_ne_bytes()).unwrap();
    loan.publish();
    assert_eq!(position_of(current.try_recv().unwrap()), p);
    for _ in 0..4 {
        behind.try_recv().unwrap();
    }
    assert_eq!(behind.try_recv(), Err(Error::Empty));
    let mut loan = tx.loan();
    // SAFETY: no subscriber reads the open slot (this thread owns them).
    unsafe { loan.as_mut_ptr().write(item(p.wrapping_add(1))) };
    loan.publish();
    assert_eq!(position_of(current.try_recv().unwrap()), p.wrapping_add(1));
}

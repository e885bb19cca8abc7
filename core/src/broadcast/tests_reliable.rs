//! Tests of the subscriber table and the reliable policy.

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use super::*;
use crate::Error;
use crate::place::stamped_stride;
use crate::test_support::{CondvarFutex, Golden, PeerMemory, std_clock, xorshift};

/// Byte offset of table entry `i` for a ring of `capacity` items of `T`.
pub(super) fn entry_at<T>(capacity: u32, i: u32) -> usize {
    let end = DATA_OFFSET + capacity as usize * stamped_stride::<T>();
    end.div_ceil(LINE) * LINE + i as usize * LINE
}

/// The options of a reliable ring with a table of `entries`.
pub(super) fn reliable(capacity: u32, entries: u32) -> Options {
    Options::new(capacity)
        .subscribers(entries)
        .policy(Policy::Reliable)
}

#[test]
fn options_are_recorded_and_checked() {
    // No table, lossy: today's length; a table adds whole lines.
    assert_eq!(Ring::<u32>::region_len(8), Ok(256 + 64));
    assert_eq!(
        Ring::<u32>::region_len_with(Options::new(8).subscribers(3)),
        Ok(384 + 3 * 128)
    );
    assert_eq!(
        Ring::<u32>::region_len_with(Options::new(8).subscribers(MAX_TABLE + 1)),
        Err(Error::InvalidCapacity)
    );
    let mem = PeerMemory::new();
    // A reliable ring needs a table; other rings have none.
    let no_table = Options::new(8).policy(Policy::Reliable);
    assert_eq!(
        Ring::<u32>::init_with(mem.region(), no_table).unwrap_err(),
        Error::InvalidCapacity
    );
    assert_eq!(
        crate::spsc::Ring::<u32>::init_with(mem.region(), Options::new(8).subscribers(1))
            .unwrap_err(),
        Error::InvalidCapacity
    );
    assert_eq!(
        Ring::<u32>::init_with(mem.region_at(0, 384 + 127), reliable(8, 1)).unwrap_err(),
        Error::TooSmall {
            required: 512,
            actual: 511
        }
    );
    let ring = Ring::<u32>::init_with(mem.region(), reliable(8, 2)).unwrap();
    assert_eq!((ring.policy(), ring.table_len()), (Policy::Reliable, 2));
    let attached = Ring::<u32>::attach(mem.region()).unwrap();
    assert_eq!(
        (attached.policy(), attached.table_len()),
        (Policy::Reliable, 2)
    );
    // The wrong endpoints for the policy.
    assert_eq!(ring.publisher().unwrap_err(), Error::PolicyMismatch);
    assert_eq!(ring.subscriber().unwrap_err(), Error::PolicyMismatch);
    // A region too short for the table a peer claims.
    assert_eq!(
        Ring::<u32>::attach(mem.region_at(0, 511)).unwrap_err(),
        Error::TooSmall {
            required: 640,
            actual: 511
        }
    );
    mem.word(144).store(MAX_TABLE + 1, SeqCst);
    assert_eq!(
        Ring::<u32>::attach(mem.region()).unwrap_err(),
        Error::Corrupted("subscriber table length in header")
    );
    mem.word(144).store(0, SeqCst);
    assert_eq!(
        Ring::<u32>::attach(mem.region()).unwrap_err(),
        Error::Corrupted("reliable broadcast ring without a table")
    );
    // A lossy ring refuses the reliable publisher.
    let mem = PeerMemory::new();
    let lossy = Ring::<u32>::init(mem.region(), 8).unwrap();
    assert_eq!(
        lossy.reliable_publisher().unwrap_err(),
        Error::PolicyMismatch
    );
    assert_eq!(lossy.join(Start::Next).unwrap_err(), Error::Full); // no table
}

#[test]
fn golden_bytes_of_a_reliable_ring() {
    const CAP: u32 = 4;
    let mem = PeerMemory::new();
    let options = reliable(CAP, 2).start_at(0x0A0B_0C0D);
    let ring = Ring::<u64>::init_with(mem.region(), options).unwrap();
    let mut tx = ring.reliable_publisher().unwrap();
    let mut rx = ring.join(Start::Next).unwrap();
    tx.try_publish(0x11).unwrap();
    assert_eq!(rx.try_recv(), Ok(0x11)); // a quarter ring: published
    // Slots of 16 bytes end at 320; the table starts at 384.
    Golden::ready(384 + 2 * 128, 7, (8, 8), CAP, 256)
        .word(36, FLAG_RELIABLE) // flags: reliable, spinning
        .word(128, 0x0A0B_0C0E) // tail
        .word(132, 1) // publisher claim
        .word(140, 0x0A0B_0C0D) // first
        .word(144, 2) // table entries
        .word(256 + 16, 0x0A0B_0C0E) // slot 1 stamp: start complete
        .word(256 + 16 + 8, 0x11) // slot 1 item
        .word(384, ACTIVE) // entry 0: state
        .word(384 + 4, 0x0A0B_0C0E) // entry 0: position
        .word(384 + 8, 4) // entry 0: ticket (a first generation)
        .check(&mem);
    drop(rx);
    assert_eq!(mem.word(384).load(SeqCst), FREE);
    assert_eq!(mem.word(384 + 8).load(SeqCst), 4 | RELEASED | FREED);
}

/// `try_publish` is `Full` exactly while the slowest member is a ring
/// behind, across the wrap, and each member reads every item.
#[test]
fn the_slowest_member_holds_the_publisher() {
    for cap in [2u32, 4, 8] {
        let mem = PeerMemory::new();
        let start = u32::MAX - cap;
        let ring = Ring::<u32>::init_with(mem.region(), reliable(cap, 3).start_at(start)).unwrap();
        let mut tx = ring.reliable_publisher().unwrap();
        let mut fast = ring.join(Start::Next).unwrap();
        let mut slow = ring.join(Start::Oldest).unwrap();
        let mut next = start;
        for _ in 0..4 * cap {
            // Fill until full (at most a ring); `fast` keeps up.
            let mut filled = 0;
            while tx.try_publish(next).is_ok() {
                assert_eq!(fast.try_recv(), Ok(next));
                next = next.wrapping_add(1);
                filled += 1;
                assert!(filled <= cap, "more than a ring past the slowest");
            }
            assert_eq!(tx.try_publish(next), Err(Error::Full));
            assert_eq!(slow.len(), cap as usize);
            // One read is not always a publication; a quarter ring is.
            for _ in 0..(cap / 4).max(1) {
                let v = slow.try_recv().unwrap();
                assert_eq!(v, slow.position().wrapping_sub(1));
            }
        }
        // Every item in order, never a lag.
        while let Ok(v) = slow.try_recv() {
            assert_eq!(v, slow.position().wrapping_sub(1));
        }
        assert_eq!(slow.position(), next);
    }
}

/// `Debug` shows what a plain publisher's shows, then the cached scan.
#[test]
fn debug_of_a_reliable_publisher() {
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init_with(mem.region(), reliable(4, 1)).unwrap();
    let tx = ring.reliable_publisher().unwrap();
    assert_eq!(
        std::format!("{tx:?}"),
        "ReliablePublisher { position: 0, capacity: 4, slowest: 4294967292, .. }"
    );
}

#[test]
fn a_lossy_ring_with_a_table_keeps_claim_free_subscribers() {
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init_with(mem.region(), Options::new(2).subscribers(1)).unwrap();
    let mut tx = ring.publisher().unwrap();
    let mut free = ring.subscriber().unwrap();
    let mut member = ring.join(Start::Next).unwrap();
    assert_eq!(ring.join(Start::Next).unwrap_err(), Error::Full);
    for v in 0..5 {
        tx.publish(v); // never waits
    }
    assert_eq!(free.try_recv(), Err(Error::Lagged(3)));
    assert_eq!(member.try_recv(), Err(Error::Lagged(3)));
    assert_eq!((free.try_recv(), member.try_recv()), (Ok(3), Ok(3)));
}

/// A waking reliable ring of four `u32`s in `mem` with `entries` table
/// entries, its reliable publisher and one member, published full: the
/// publisher has no room until the member reads (or is released).
fn full_waking<'m>(
    mem: &'m PeerMemory,
    futex: &CondvarFutex,
    entries: u32,
) -> (
    Ring<'m, u32>,
    ReliablePublisher<'m, u32, CondvarFutex>,
    Member<'m, u32, CondvarFutex>,
) {
    let ring = Ring::<u32>::init_with(mem.region(), reliable(4, entries).waking(true)).unwrap();
    let mut tx = ring.reliable_publisher_with(futex.clone()).unwrap();
    let member = ring.join_with(futex.clone(), Start::Next).unwrap();
    for v in 0..4 {
        tx.try_publish(v).unwrap();
    }
    (ring, tx, member)
}

/// Has `tx` publish `value` into its full ring in a thread, runs `free`
/// once it sleeps, and checks that `free` woke it (without a wake it would
/// sleep out its timeout).
fn woken_by(
    futex: &CondvarFutex,
    tx: &mut ReliablePublisher<'_, u32, CondvarFutex>,
    value: u32,
    free: impl FnOnce(),
) {
    std::thread::scope(|s| {
        s.spawn(|| {
            let started = std::time::Instant::now();
            tx.publish_timeout(value, Duration::from_secs(10)).unwrap();
            assert!(started.elapsed() < Duration::from_secs(5), "not woken");
        });
        while futex.sleepers() == 0 {
            std::thread::yield_now();
        }
        free();
    });
}

#[test]
fn releasing_a_dead_member_unblocks_the_publisher() {
    let (futex, mem) = (CondvarFutex::default(), PeerMemory::new());
    let (ring, mut tx, dead) = full_waking(&mem, &futex, 2);
    let index = dead.die(); // its process dies: the entry stays active
    assert_eq!(
        // SAFETY: (not called: an index past the table.)
        unsafe { ring.release_member(2, &futex) },
        Err(Error::OutOfRange { end: 3, len: 2 })
    );
    woken_by(&futex, &mut tx, 4, || {
        // SAFETY: the forgotten member is never used again.
        unsafe { ring.release_member(index, &futex).unwrap() };
    });
    assert_eq!(tx.position(), 5);
}

/// A publisher asleep for room is woken by the member that reads, and the
/// member makes no wake call while nobody sleeps.
#[test]
fn a_sleeping_publisher_is_woken_by_a_reader() {
    let (futex, mem) = (CondvarFutex::default(), PeerMemory::new());
    let (_ring, mut tx, mut rx) = full_waking(&mem, &futex, 1);
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(futex.wakes(), 0, "a wake call while nobody slept");
    assert_eq!(tx.try_publish(4), Ok(())); // the one read was published
    woken_by(&futex, &mut tx, 5, || assert_eq!(rx.recv(), Ok(1)));
    assert!(futex.wakes() >= 1);
    let timed = Spin::with_clock(std_clock);
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init_with(mem.region(), reliable(2, 1)).unwrap();
    let mut tx = ring.reliable_publisher_with(timed).unwrap();
    let _rx = ring.join(Start::Next).unwrap();
    tx.try_publish(0).unwrap();
    tx.try_publish(1).unwrap();
    assert_eq!(
        tx.publish_timeout(2, Duration::from_millis(5)),
        Err(Error::TimedOut)
    );
}

/// One publisher, three members (two sleeping, one spinning) in threads:
/// every item in order, no lag, no loss.
#[test]
fn threads_deliver_every_item_to_every_member() {
    const ITEMS: u32 = if cfg!(miri) { 200 } else { 50_000 };
    let futex = CondvarFutex::default();
    let mem = PeerMemory::new();
    let start = u32::MAX - 100;
    let ring =
        Ring::<u64>::init_with(mem.region(), reliable(8, 3).start_at(start).waking(true)).unwrap();
    let mut tx = ring.reliable_publisher_with(futex.clone()).unwrap();
    let members = [0, 1, 2].map(|_| ring.join_with(futex.clone(), Start::Next).unwrap());
    std::thread::scope(|s| {
        for (k, mut rx) in members.into_iter().enumerate() {
            s.spawn(move || {
                for i in 0..ITEMS {
                    let got = if k == 2 {
                        loop {
                            match rx.try_recv() {
                                Err(Error::Empty) => std::thread::yield_now(),
                                got => break got,
                            }
                        }
                    } else {
                        rx.recv()
                    };
                    assert_eq!(got, Ok(u64::from(start.wrapping_add(i))), "member {k}");
                }
            });
        }
        for i in 0..ITEMS {
            tx.publish(u64::from(start.wrapping_add(i))).unwrap();
        }
    });
}

/// Members join (at every start) and leave while the publisher publishes:
/// a member never lags from its join's `tail` on, and reads a contiguous
/// run of items.
#[test]
fn joins_racing_publications_never_lose_an_item() {
    const ITEMS: u32 = if cfg!(miri) { 100 } else { 20_000 };
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init_with(mem.region(), reliable(4, 2)).unwrap();
    let mut tx = ring.reliable_publisher().unwrap();
    std::thread::scope(|s| {
        let ring = &ring;
        s.spawn(move || {
            let mut rounds = 0;
            while ring.tail() < ITEMS {
                let start = [Start::Next, Start::Latest, Start::Oldest][rounds % 3];
                rounds += 1;
                let Ok(mut rx) = ring.join(start) else {
                    continue;
                };
                // At least the `tail` the join chose its start from.
                let floor = ring.tail();
                let mut expected = rx.position();
                for _ in 0..8 {
                    match rx.try_recv() {
                        Ok(v) => {
                            assert_eq!(v, expected);
                            expected += 1;
                        }
                        Err(Error::Lagged(n)) => {
                            // Only items from before the join are lost.
                            assert!(start != Start::Next, "a Next member lagged");
                            expected += n as u32;
                            assert!(expected <= floor, "lagged past the join");
                        }
                        Err(Error::Empty) => std::thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        });
        let mut i = 0;
        while i < ITEMS + 8 {
            match tx.try_publish(i) {
                Ok(()) => i += 1,
                Err(Error::Full) => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
    });
}

/// A member position or state no member writes is `Corrupted`, and the
/// publisher writes nothing then.
#[test]
fn forged_table_entries_are_errors() {
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init_with(mem.region(), reliable(4, 2)).unwrap();
    let mut tx = ring.reliable_publisher().unwrap();
    let _rx = ring.join(Start::Next).unwrap();
    let entry = entry_at::<u32>(4, 0);
    for v in 0..4 {
        tx.try_publish(v).unwrap();
    }
    for (position, expected) in [
        (
            5,
            Err(Error::Corrupted(
                "broadcast subscriber position outside the ring",
            )),
        ),
        (
            u32::MAX,
            Err(Error::Corrupted(
                "broadcast subscriber position outside the ring",
            )),
        ),
        (0, Err(Error::Full)),
        (1, Ok(())),
    ] {
        mem.word(entry + 4).store(position, SeqCst);
        assert_eq!(tx.try_publish(4), expected, "position {position}");
    }
    mem.word(entry).store(7, SeqCst);
    assert_eq!(
        tx.try_publish(5),
        Err(Error::Corrupted("broadcast subscriber table entry state"))
    );
    assert_eq!(ring.tail(), 5, "nothing written after an error");
}

/// A thread scribbles random words over the table while the publisher
/// publishes with a timeout and members read: no panic, no hang past the
/// timeout, only the errors the protocol defines.
#[test]
fn a_forger_scribbling_the_table_never_panics_or_hangs() {
    const ROUNDS: u32 = if cfg!(miri) { 50 } else { 20_000 };
    let mem = PeerMemory::new();
    let timed = Spin::with_clock(std_clock);
    let ring = Ring::<u32>::init_with(mem.region(), reliable(4, 3)).unwrap();
    let mut tx = ring.reliable_publisher_with(timed).unwrap();
    let mut rx = ring.join(Start::Next).unwrap();
    let table = entry_at::<u32>(4, 0);
    let done = std::sync::atomic::AtomicBool::new(false);
    /// Stops the forger however the test ends (a panic included).
    struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, SeqCst);
        }
    }
    let (mut published, mut errors) = (0u32, 0u32);
    let forged = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            for x in xorshift(7) {
                if done.load(SeqCst) {
                    break;
                }
                forged.fetch_add(1, SeqCst);
                // The state or position word of an entry, mostly; now and
                // then a reserved one.
                let entry = table + (x as usize % 3) * LINE;
                let word = match (x >> 2) & 7 {
                    0..=2 => entry,
                    3..=6 => entry + 4,
                    _ => (entry + 8 + (x as usize >> 8) % (LINE - 8)) & !3,
                };
                let value = if word == entry { x >> 30 } else { x >> 3 };
                mem.word(word).store(value, SeqCst);
            }
        });
        let _stop = Stop(&done);
        // Rounds while the forger runs (it may start late).
        let mut i = 0;
        while i < ROUNDS || forged.load(SeqCst) < ROUNDS {
            i += 1;
            match tx.publish_timeout(i, Duration::from_micros(100)) {
                Ok(()) => published += 1,
                Err(Error::TimedOut | Error::Corrupted(_)) => errors += 1,
                Err(e) => panic!("publish: {e}"),
            }
            // Read every other round: the publisher finds the ring full
            // (and scans the table) half the time.
            if i % 2 == 0 {
                match rx.try_recv() {
                    Ok(_) | Err(Error::Empty | Error::Lagged(_)) => {}
                    Err(e) => panic!("receive: {e}"),
                }
            }
        }
    });
    // The forger was noticed (how often it let the publisher through
    // depends on the schedule).
    assert!(errors > 0, "{published} published, no error");
}

/// A member stores its position every quarter ring of items, and at once
/// when a receive finds nothing new.
#[test]
fn a_member_publishes_its_position_in_batches_and_when_idle() {
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init_with(mem.region(), reliable(8, 1)).unwrap();
    let mut tx = ring.reliable_publisher().unwrap();
    let mut rx = ring.join(Start::Next).unwrap();
    let position = mem.word(entry_at::<u32>(8, 0) + 4);
    for v in 0..5 {
        tx.try_publish(v).unwrap();
    }
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(position.load(SeqCst), 0, "one item is less than a batch");
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(position.load(SeqCst), 2, "a quarter ring");
    for v in 2..5 {
        assert_eq!(rx.try_recv(), Ok(v));
    }
    assert_eq!(position.load(SeqCst), 4);
    assert_eq!(rx.try_recv(), Err(Error::Empty));
    assert_eq!(position.load(SeqCst), 5, "idle: published at once");
}

#[test]
fn reliable_loans_wait_for_the_slowest_member() {
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init_with(mem.region(), reliable(2, 1)).unwrap();
    let mut tx = ring.reliable_publisher().unwrap();
    let mut rx = tx.ring().join(Start::Next).unwrap();
    for v in 0..2 {
        let mut loan = tx.loan().unwrap();
        loan.write(v);
        loan.publish();
    }
    assert_eq!(tx.try_loan().unwrap_err(), Error::Full);
    assert_eq!(
        tx.loan_timeout(Duration::from_millis(1)).unwrap_err(),
        Error::NoClock,
        "a spinning notifier has no clock"
    );
    assert_eq!(rx.try_recv(), Ok(0));
    drop(tx.try_loan().unwrap()); // opened and dropped: nothing published
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(Error::Empty));
    tx.try_publish(2).unwrap();
    assert_eq!(rx.try_recv(), Ok(2));
}

//! Unit tests of the SPSC ring: behaviour, wrap, roles, and every kind of bad
//! index a peer can produce (the header's checks, which every ring shares,
//! are tested once in `place/tests.rs`).

use std::boxed::Box;
use std::sync::atomic::Ordering::SeqCst;
use std::vec::Vec;

use super::*;
use crate::region::MAGIC;
use crate::test_support::{CondvarFutex, Golden, PeerMemory, waking_ends, xorshift};
use core::time::Duration;

use crate::{AlignedBytes, Error, Region, Role};

const TAIL: usize = 128;
const PRODUCER_CLAIM: usize = 132;
const HEAD: usize = 256;

#[test]
fn fifo_full_and_empty() {
    let mem = PeerMemory::new();
    let (mut tx, mut rx) = Ring::<u32>::init(mem.region(), 4).unwrap().split().unwrap();
    assert_eq!(rx.try_pop(), Err(Error::Empty));
    for i in 0..4 {
        tx.try_push(i).unwrap();
    }
    assert_eq!(tx.try_push(99), Err(Error::Full));
    assert_eq!(rx.len(), 4);
    for i in 0..4 {
        assert_eq!(rx.try_pop(), Ok(i));
    }
    assert_eq!(rx.try_pop(), Err(Error::Empty));
    assert_eq!(tx.free_slots(), 4);
}

#[test]
fn wrap_around_u32_max() {
    for start in [u32::MAX - 5, u32::MAX, 0, (1 << 31) - 1] {
        let mem = PeerMemory::new();
        let (mut tx, mut rx) = Ring::<u64>::init_at(mem.region(), 4, start)
            .unwrap()
            .split()
            .unwrap();
        let mut next_in = 0u64;
        let mut next_out = 0u64;
        for round in 0..20 {
            for _ in 0..(round % 4 + 1) {
                if tx.try_push(next_in).is_ok() {
                    next_in += 1;
                }
            }
            while let Ok(v) = rx.try_pop() {
                assert_eq!(v, next_out);
                next_out += 1;
            }
        }
        assert_eq!(next_in, next_out);
        assert!(next_in > 20);
        assert_eq!(
            mem.word(TAIL).load(SeqCst),
            start.wrapping_add(next_in as u32)
        );
    }
}

#[test]
fn batches_across_the_wrap() {
    let mem = PeerMemory::new();
    let ring = Ring::<u16>::init_at(mem.region(), 8, u32::MAX - 2).unwrap();
    let (mut tx, mut rx) = ring.split().unwrap();
    // Move the slot index to 5 so batches straddle the end of the array.
    assert_eq!(tx.push_partial_slice(&[0; 5]).unwrap(), 5);
    assert_eq!(rx.pop_partial_slice(&mut [0; 5]).unwrap(), 5);

    assert_eq!(
        tx.push_partial_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
            .unwrap(),
        8
    );
    assert_eq!(
        tx.push_partial_slice(&[11]).unwrap(),
        0,
        "full ring takes nothing"
    );
    let mut out = [0; 3];
    assert_eq!(rx.pop_partial_slice(&mut out).unwrap(), 3);
    assert_eq!(out, [1, 2, 3]);

    let chunk = tx.write_chunk_up_to(10).unwrap();
    assert_eq!(chunk.len(), 3);
    assert_eq!(chunk.fill_from_iter([9, 10, 11, 12]), 3);

    let chunk = rx.read_chunk_up_to(100).unwrap();
    assert_eq!(chunk.len(), 8);
    assert!(chunk.iter().eq([4, 5, 6, 7, 8, 9, 10, 11]));
    let mut copy = [0; 8];
    assert_eq!(chunk.copy_partial_to_slice(&mut copy), 8);
    assert_eq!(copy, [4, 5, 6, 7, 8, 9, 10, 11]);
    // SAFETY: our producer follows the protocol.
    let (a, b) = unsafe { chunk.as_slices() };
    assert_eq!(a.len() + b.len(), 8);
    assert!(!b.is_empty(), "this run wraps the slot array");
    assert!(a.iter().chain(b).copied().eq([4, 5, 6, 7, 8, 9, 10, 11]));
    assert_eq!(chunk.get(8), None);
    assert_eq!(chunk.commit(2), Ok(()));
    assert_eq!(rx.try_pop(), Ok(6));

    // A chunk dropped without commit neither publishes nor consumes.
    let _ = tx.write_chunk_up_to(4).unwrap();
    let _ = rx.read_chunk_up_to(4).unwrap();
    assert_eq!(rx.len(), 5);
    let mut chunk = tx.write_chunk_up_to(3).unwrap();
    // SAFETY: our consumer follows the protocol.
    let (a, b) = unsafe { chunk.as_mut_slices() };
    assert_eq!(a.len() + b.len(), 3);
    a[0] = 77;
    assert_eq!(chunk.commit(1), Ok(()));
    let mut rest = [0; 6];
    assert_eq!(rx.pop_partial_slice(&mut rest).unwrap(), 6);
    assert_eq!(rest, [7, 8, 9, 10, 11, 77]);
    assert_eq!(
        tx.write_chunk_up_to(3)
            .unwrap()
            .copy_partial_from_slice(&[1, 2]),
        2
    );
    rx.read_chunk_up_to(8).unwrap().commit_all();
    tx.write_chunk_up_to(2).unwrap().commit_all();
    assert_eq!(rx.len(), 2);
}

#[test]
fn exact_chunk_methods_do_all_or_nothing() {
    let mem = PeerMemory::new();
    let (mut tx, mut rx) = Ring::<u8>::init(mem.region(), 4).unwrap().split().unwrap();
    let too_few = |requested, available| {
        Err(Error::TooFewSlots {
            requested,
            available,
        })
    };
    // Past the chunk's end: nothing is published or handed back.
    assert_eq!(tx.write_chunk(2).unwrap().commit(3), too_few(3, 2));
    assert_eq!(
        tx.write_chunk(2).unwrap().copy_from_slice(&[1, 2, 3]),
        too_few(3, 2)
    );
    assert_eq!(rx.len(), 0);
    // Within it: exactly what was asked.
    assert_eq!(tx.write_chunk(3).unwrap().copy_from_slice(&[1, 2]), Ok(()));
    assert_eq!(rx.len(), 2);
    let chunk = rx.read_chunk(2).unwrap();
    let mut out = [0; 3];
    assert_eq!(chunk.copy_to_slice(&mut out), too_few(3, 2));
    assert_eq!(out, [0; 3]);
    assert_eq!(chunk.copy_to_slice(&mut out[..1]), Ok(()));
    assert_eq!(out, [1, 0, 0]);
    assert_eq!(chunk.commit(3), too_few(3, 2));
    assert_eq!(rx.len(), 2);
    assert_eq!(rx.read_chunk(2).unwrap().commit(1), Ok(()));
    assert_eq!(rx.try_pop(), Ok(2));
    // The partial forms on an empty and a full ring: empty chunks.
    let chunk = rx.read_chunk_up_to(1).unwrap();
    assert!(chunk.is_empty());
    assert_eq!(chunk.len(), 0);
    tx.push_entire_slice(&[0; 4]).unwrap();
    let chunk = tx.write_chunk_up_to(1).unwrap();
    assert!(chunk.is_empty());
    assert_eq!(chunk.len(), 0);
}

#[test]
fn roles_are_exclusive_and_resume_where_the_last_holder_stopped() {
    let mem = PeerMemory::new();
    let ring = Ring::<u8>::init(mem.region(), 8).unwrap();
    let tx = ring.producer().unwrap();
    assert_eq!(
        ring.producer().unwrap_err(),
        Error::RoleTaken(Role::Producer)
    );
    assert_eq!(ring.split().unwrap_err(), Error::RoleTaken(Role::Producer));
    let rx = ring.consumer().unwrap();
    assert_eq!(
        ring.consumer().unwrap_err(),
        Error::RoleTaken(Role::Consumer)
    );
    // A second handle attached to the same bytes sees the same claims.
    let other = Ring::<u8>::attach(mem.region()).unwrap();
    assert_eq!(
        other.producer().unwrap_err(),
        Error::RoleTaken(Role::Producer)
    );
    drop((tx, rx));

    let mut tx = other.producer().unwrap();
    tx.push_partial_slice(&[1, 2, 3]).unwrap();
    drop(tx);
    let mut tx = ring.producer().unwrap();
    tx.try_push(4).unwrap();
    let mut rx = ring.consumer().unwrap();
    assert_eq!(rx.try_pop(), Ok(1));
    drop(rx);
    let mut rx = other.consumer().unwrap();
    let mut out = [0; 4];
    assert_eq!(rx.pop_partial_slice(&mut out).unwrap(), 3);
    assert_eq!(out[..3], [2, 3, 4]);
}

#[test]
fn golden_header_bytes() {
    let mem = PeerMemory::new();
    Ring::<u64>::init_at(mem.region(), 16, 0x0A0B_0C0D).unwrap();
    Golden::ready(DATA_OFFSET, 1, (8, 8), 16, 384) // kind: SPSC
        .word(128, 0x0A0B_0C0D) // tail
        .word(256, 0x0A0B_0C0D) // head
        .check(&mem);
    assert_eq!(mem.word(0).load(SeqCst), MAGIC);
}

#[test]
fn corrupted_indices_are_errors_and_accepted_items_survive() {
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init(mem.region(), 4).unwrap();
    let (mut tx, mut rx) = ring.split().unwrap();
    tx.push_partial_slice(&[1, 2, 3, 4]).unwrap();
    assert_eq!(rx.try_pop(), Ok(1)); // the consumer now caches tail = 4

    // The peer moves `head` ahead of `tail`: the full producer must reload
    // it, and refuses it.
    mem.word(HEAD).store(9, SeqCst);
    assert_eq!(
        tx.try_push(5),
        Err(Error::Corrupted(
            "consumer head is not within a capacity of tail"
        ))
    );
    assert!(matches!(tx.write_chunk_up_to(4), Err(Error::Corrupted(_))));
    assert!(matches!(
        tx.push_partial_slice(&[5, 5]),
        Err(Error::Corrupted(_))
    ));
    assert_eq!(tx.free_slots(), 0, "a bad index reads as a full ring");

    // The peer moves `tail` more than a capacity ahead of `head`. The items
    // the consumer already saw published are still delivered.
    mem.word(TAIL).store(1000, SeqCst);
    assert_eq!(rx.try_pop(), Ok(2));
    assert_eq!(rx.try_pop(), Ok(3));
    assert_eq!(rx.try_pop(), Ok(4));
    assert!(matches!(rx.try_pop(), Err(Error::Corrupted(_))));
    assert!(matches!(
        rx.pop_partial_slice(&mut [0; 2]),
        Err(Error::Corrupted(_))
    ));
    assert!(matches!(rx.read_chunk_up_to(1), Err(Error::Corrupted(_))));
    assert_eq!(
        rx.len(),
        rx.capacity() as usize,
        "a bad index reads as full"
    );

    // `tail` behind `head` is just as wrong.
    mem.word(TAIL).store(2, SeqCst);
    assert!(matches!(rx.try_pop(), Err(Error::Corrupted(_))));

    // Claims validate the indices too, and give the role back on failure.
    drop((tx, rx));
    assert!(matches!(ring.producer(), Err(Error::Corrupted(_))));
    assert_eq!(mem.word(PRODUCER_CLAIM).load(SeqCst), 0);
    assert!(matches!(ring.consumer(), Err(Error::Corrupted(_))));

    // Once the words are sane again the ring works (the peer repaired it).
    mem.store_each(&[TAIL, HEAD], 4);
    let (mut tx, mut rx) = ring.split().unwrap();
    tx.try_push(6).unwrap();
    assert_eq!(rx.try_pop(), Ok(6));
}

#[test]
fn garbage_everywhere_never_panics() {
    // A peer that writes arbitrary values into every control word: each
    // operation returns a value or an error, never a panic or a stray access.
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init(mem.region(), 8).unwrap();
    let (mut tx, mut rx) = ring.split().unwrap();
    for x in xorshift(0x9E37_79B9u32).take(if cfg!(miri) { 200 } else { 2000 }) {
        mem.word(if x & 1 == 0 { TAIL } else { HEAD })
            .store(x >> 3, SeqCst);
        let _ = tx.try_push(x);
        let _ = tx.push_partial_slice(&[x; 5]);
        let _ = rx.try_pop();
        let _ = rx.pop_partial_slice(&mut [0; 5]);
        if let Ok(c) = rx.read_chunk_up_to(9) {
            assert!(c.len() <= 8);
            let _ = c.iter().count();
            c.commit_all();
        }
        if let Ok(c) = tx.write_chunk_up_to(9) {
            assert!(c.len() <= 8);
            c.fill_from_iter(0..);
        }
    }
}

#[test]
fn two_threads_move_every_item_in_order() {
    let count: u64 = if cfg!(miri) { 500 } else { 1_000_000 };
    let mut bytes = Box::new(AlignedBytes::<{ 384 + 64 * 8 }>::new());
    let ring =
        Ring::<u64>::init_at(Region::from_slice(&mut bytes[..]), 64, u32::MAX - 100).unwrap();
    let (mut tx, mut rx) = ring.split().unwrap();
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut next = 0u64;
            while next < count {
                let pushed = match next % 3 {
                    0 => tx.try_push(next).map(|_| 1).unwrap_or(0),
                    1 => {
                        let batch: Vec<u64> = (next..(next + 7).min(count)).collect();
                        tx.push_partial_slice(&batch).unwrap()
                    }
                    _ => tx.write_chunk_up_to(5).unwrap().fill_from_iter(next..count),
                };
                next += pushed as u64;
                if pushed == 0 {
                    std::thread::yield_now();
                }
            }
        });
        let mut expected = 0u64;
        let mut buf = [0u64; 6];
        while expected < count {
            let got = match expected % 3 {
                0 => match rx.try_pop() {
                    Ok(v) => {
                        assert_eq!(v, expected);
                        1
                    }
                    Err(e) => {
                        assert_eq!(e, Error::Empty);
                        0
                    }
                },
                1 => {
                    let n = rx.pop_partial_slice(&mut buf).unwrap();
                    for (i, v) in buf[..n].iter().enumerate() {
                        assert_eq!(*v, expected + i as u64);
                    }
                    n
                }
                _ => {
                    let chunk = rx.read_chunk_up_to(4).unwrap();
                    let n = chunk.len();
                    assert!(chunk.iter().eq(expected..expected + n as u64));
                    chunk.commit_all();
                    n
                }
            };
            expected += got as u64;
            if got == 0 {
                std::thread::yield_now();
            }
        }
        assert_eq!(rx.try_pop(), Err(Error::Empty));
    });
}

#[test]
fn every_error_displays() {
    let all = [
        Error::Full,
        Error::Empty,
        Error::TooSmall {
            required: 2,
            actual: 1,
        },
        Error::Misaligned { required: 4 },
        Error::InvalidCapacity,
        Error::UnsupportedType,
        Error::NotInitialized,
        Error::AlreadyInitialized,
        Error::BadMagic,
        Error::ForeignEndian,
        Error::VersionMismatch {
            found: 2,
            expected: 1,
        },
        Error::KindMismatch {
            found: 2,
            expected: 1,
        },
        Error::ElementMismatch { size: 1, align: 1 },
        Error::RoleTaken(Role::Consumer),
        Error::TimedOut,
        Error::NoClock,
        Error::WaitFailed(4),
        Error::NotifyMismatch,
        Error::Corrupted("x"),
    ];
    for e in all {
        assert!(!std::format!("{e}").is_empty());
        assert_eq!(
            e.is_flow(),
            matches!(e, Error::Full | Error::Empty | Error::Busy)
        );
    }
}

#[test]
fn blocking_push_and_pop_with_sleeping_waiters() {
    let count: u32 = if cfg!(miri) { 200 } else { 100_000 };
    let mem = PeerMemory::new();
    let options = Options::new(2).start_at(u32::MAX - 7).waking(true);
    let ring = Ring::<u32>::init_with(mem.region(), options).unwrap();
    let (mut tx, mut rx) = waking_ends(&ring);
    std::thread::scope(|s| {
        s.spawn(move || {
            for i in 0..count {
                tx.push(i).unwrap();
            }
        });
        for i in 0..count {
            assert_eq!(rx.pop().unwrap(), i);
        }
        assert_eq!(
            rx.pop_timeout(Some(Duration::from_millis(5))),
            Err(Error::TimedOut)
        );
    });
    // An attacher sees the wake mode from the header.
    let again = Ring::<u32>::attach(mem.region()).unwrap();
    assert!(again.wakes());
    assert_eq!(
        again.consumer_with(crate::wait::Spin::new()).unwrap_err(),
        Error::NotifyMismatch
    );
    let mut tx = again.producer_with(CondvarFutex::default()).unwrap();
    tx.push_partial_slice(&[1, 2]).unwrap();
    assert_eq!(
        tx.push_timeout(3, Some(Duration::from_millis(5))),
        Err(Error::TimedOut)
    );
}

#[test]
fn blocking_calls_report_faults_and_missing_clocks() {
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init(mem.region(), 2).unwrap();
    let (mut tx, mut rx) = ring.split().unwrap();
    // No clock: a timeout cannot be honoured, so it is refused up front.
    assert_eq!(
        rx.pop_timeout(Some(Duration::from_millis(1))),
        Err(Error::NoClock)
    );
    // A corrupted index ends a blocking call with an error, not a hang.
    mem.word(TAIL).store(1000, SeqCst);
    assert!(matches!(rx.pop(), Err(Error::Corrupted(_))));
    mem.word(TAIL).store(2, SeqCst);
    tx.push_partial_slice(&[0; 2]).ok();
    mem.word(HEAD).store(77, SeqCst);
    assert!(matches!(tx.push(5), Err(Error::Corrupted(_))));
    // Flags the layout does not define are refused at attach.
    crate::test_support::refuses_flags::<Slots<u32>>(&mem, 6);
}

#[test]
fn exact_forms_take_all_or_nothing() {
    let mem = PeerMemory::new();
    let (mut tx, mut rx) = Ring::<u16>::init_at(mem.region(), 4, u32::MAX - 1)
        .unwrap()
        .split()
        .unwrap();
    let too_few = |requested, available| {
        Err(Error::TooFewSlots {
            requested,
            available,
        })
    };
    assert_eq!(tx.push_entire_slice(&[1, 2, 3]), Ok(()));
    assert_eq!(tx.push_entire_slice(&[4, 5]), too_few(2, 1));
    assert!(matches!(tx.write_chunk(2), Err(Error::TooFewSlots { .. })));
    assert_eq!(tx.write_chunk(1).unwrap().len(), 1); // dropped: nothing published
    assert_eq!(rx.len(), 3, "a failed exact form writes nothing");
    let mut out = [0; 4];
    assert_eq!(rx.pop_entire_slice(&mut out), too_few(4, 3));
    assert!(matches!(rx.read_chunk(4), Err(Error::TooFewSlots { .. })));
    assert_eq!(rx.pop_entire_slice(&mut out[..2]), Ok(()));
    assert_eq!(out[..2], [1, 2]);
    let chunk = rx.read_chunk(1).unwrap();
    assert_eq!(chunk.get(0), Some(3));
    chunk.commit_all();
    // More than the capacity is never there.
    assert_eq!(tx.push_entire_slice(&[0; 5]), too_few(5, 4));
    assert_eq!(rx.pop_entire_slice(&mut [0; 5]), too_few(5, 0));
    assert_eq!(tx.push_entire_slice(&[6, 7, 8, 9]), Ok(()));
    assert_eq!(rx.pop_entire_slice(&mut out), Ok(()));
    assert_eq!(
        out,
        [6, 7, 8, 9],
        "across the end of the slots and the wrap"
    );
}

#[test]
fn peek_copies_the_oldest_without_taking_it() {
    let mem = PeerMemory::new();
    let (mut tx, mut rx) = Ring::<u32>::init(mem.region(), 2).unwrap().split().unwrap();
    assert_eq!(rx.peek(), Err(Error::Empty));
    tx.try_push(7).unwrap();
    tx.try_push(8).unwrap();
    assert_eq!((rx.peek(), rx.peek()), (Ok(7), Ok(7)));
    assert_eq!(rx.try_pop(), Ok(7));
    assert_eq!(rx.peek(), Ok(8));
    assert!(tx.is_empty() == rx.is_empty() && !rx.is_empty());
}

#[test]
fn queries_on_both_ends_clamp_a_bad_index() {
    let mem = PeerMemory::new();
    let (mut tx, mut rx) = Ring::<u8>::init(mem.region(), 4).unwrap().split().unwrap();
    assert!(tx.is_empty() && rx.is_empty() && !tx.is_full());
    tx.push_entire_slice(&[1, 2, 3, 4]).unwrap();
    assert_eq!((tx.len(), tx.is_full(), tx.free_slots()), (4, true, 0));
    assert_eq!((rx.len(), rx.is_full(), rx.free_slots()), (4, true, 0));
    assert_eq!((tx.capacity(), rx.capacity()), (4, 4));
    // A `tail` far ahead reads as a full ring; the next reload refuses it.
    rx.pop_entire_slice(&mut [0; 4]).unwrap();
    mem.word(TAIL).store(1000, SeqCst);
    assert_eq!(rx.len(), 4);
    assert!(matches!(rx.try_pop(), Err(Error::Corrupted(_))));
    mem.word(TAIL).store(4, SeqCst);
    mem.word(HEAD).store(9, SeqCst);
    assert_eq!((tx.len(), tx.free_slots()), (4, 0));
}

#[test]
fn getters() {
    let mem = PeerMemory::new();
    let ring = Ring::<u8>::init(mem.region(), 128).unwrap();
    assert_eq!(ring.capacity(), 128);
    assert!(!ring.wakes());
    let (tx, rx) = ring.split().unwrap();
    assert_eq!((tx.capacity(), rx.capacity()), (128, 128));
    drop((tx, rx));
    core::mem::forget(ring.consumer().unwrap());
    assert_eq!(
        ring.consumer().unwrap_err(),
        Error::RoleTaken(Role::Consumer)
    );
    // SAFETY: the forgotten consumer is never used again.
    unsafe { ring.release_consumer_claim() };
    assert!(ring.consumer().is_ok());
}

/// The bytes a ring published at compile time are the bytes `init` writes
/// in a zeroed region: a peer cannot tell an owned ring from a placed one.
#[test]
fn a_static_ring_is_byte_for_byte_an_initialised_region() {
    static RING: StaticRing<u64, 8> = StaticRing::new();
    const LEN: usize = 384 + 8 * 8;
    assert!(core::mem::size_of::<StaticRing<u64, 8>>() >= LEN);
    let mem = PeerMemory::new();
    let placed = Ring::<u64>::init(mem.region(), 8).unwrap();
    let owned_bytes = |ring: &StaticRing<u64, 8>| {
        // SAFETY: the static is `LEN` bytes; nobody writes it meanwhile.
        unsafe {
            core::slice::from_raw_parts((ring as *const StaticRing<u64, 8>).cast::<u8>(), LEN)
        }
        .to_vec()
    };
    assert_eq!(owned_bytes(&RING), mem.bytes(LEN));
    let waking = StaticRing::<u64, 8>::with_wakes(true);
    assert!(waking.ring().wakes());
    assert_eq!(owned_bytes(&waking)[36], 1, "the wake flag");

    let (mut tx, mut rx) = RING.split().unwrap();
    assert_eq!(
        RING.producer().unwrap_err(),
        Error::RoleTaken(Role::Producer)
    );
    tx.push_entire_slice(&[1, 2, 3]).unwrap();
    assert_eq!(rx.try_pop(), Ok(1));
    drop((tx, rx, placed));
    // A peer attaches to the owned ring's bytes as to any region.
    // SAFETY: valid for the test; endpoints are dropped, the ring's own
    // accesses are atomics.
    let region = unsafe { Region::from_raw(core::ptr::NonNull::from(&RING).cast(), LEN) };
    let mut rx = Ring::<u64>::attach(region).unwrap().consumer().unwrap();
    assert_eq!((rx.try_pop(), rx.try_pop()), (Ok(2), Ok(3)));
}

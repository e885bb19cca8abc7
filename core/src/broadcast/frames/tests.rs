//! Tests of the broadcast frame ring: frames of every length across the
//! wrap, exact lag with a lapping publisher, loans, in-place reads, and a
//! hostile peer's slot size, lengths and stamps.

use std::sync::atomic::Ordering::SeqCst;
use std::vec::Vec;

use super::*;
use crate::Error;
use crate::broadcast::DATA_OFFSET;
use crate::test_support::{Golden, MEM, PeerMemory, under_forger, xorshift};

/// Capacity and slot size of most tests: 8 slots, frames of up to 56.
const CAP: u32 = 512;
const SLOT: u32 = 64;
const MAX: usize = (SLOT - 8) as usize;

/// The length of the frame of position `p`: every length in turn.
fn len_of(p: u32) -> usize {
    p as usize % (MAX + 1)
}

/// The frame of position `p`: each byte names `p` and its index, so that
/// a torn frame (bytes of two laps, or a length of another) shows.
fn frame(p: u32) -> Vec<u8> {
    (0..len_of(p))
        .map(|i| (p as u8).wrapping_mul(31) ^ (i as u8).wrapping_mul(7))
        .collect()
}

/// Checks that `bytes` is the frame of `p`.
fn check(p: u32, bytes: &[u8]) {
    assert_eq!(bytes, &frame(p)[..], "frame of position {p}");
}

fn ring_in(mem: &PeerMemory, options: Options) -> FrameRing<'_> {
    FrameRing::init_with(mem.region(), options.slot_size(SLOT)).unwrap()
}

/// A ring in `mem` as `options` say (with slots of [`SLOT`]), its
/// publisher and a subscriber at the next position.
fn ends(
    mem: &PeerMemory,
    options: Options,
) -> (FrameRing<'_>, FramePublisher<'_>, FrameSubscriber<'_>) {
    let ring = ring_in(mem, options);
    let (tx, rx) = (ring.publisher().unwrap(), ring.subscriber().unwrap());
    (ring, tx, rx)
}

/// Byte offset of word `which` (0 stamp, 1 length) of the slot of `p`.
fn slot_word(p: u32, which: usize) -> usize {
    DATA_OFFSET + (p & (CAP / SLOT - 1)) as usize * SLOT as usize + 4 * which
}

#[test]
fn frames_of_every_length_across_the_wrap() {
    let mem = PeerMemory::new();
    let start = u32::MAX - 20;
    let (ring, mut tx, mut rx) = ends(&mem, Options::new(CAP).start_at(start));
    let mut inplace = ring.subscriber().unwrap();
    let mut buf = [0u8; MAX];
    for k in 0..3 * (MAX as u32 + 1) {
        let p = start.wrapping_add(k);
        assert_eq!(tx.position(), p);
        tx.publish(&frame(p)).unwrap();
        let len = rx.try_recv_into(&mut buf).unwrap();
        check(p, &buf[..len]);
        let copy = inplace
            .try_read_with(|f| {
                let mut v = std::vec![0; f.len()];
                f.copy_to(&mut v).unwrap();
                v
            })
            .unwrap();
        check(p, &copy);
    }
    assert_eq!(rx.try_recv_into(&mut buf), Err(Error::Empty));
    assert_eq!(
        tx.publish(&[0; MAX + 1]),
        Err(Error::FrameTooLarge {
            len: MAX as u32 + 1,
            max: MAX as u32
        })
    );
    assert_eq!(
        rx.try_recv_into(&mut buf),
        Err(Error::Empty),
        "nothing written"
    );
}

#[test]
fn lag_is_exact_and_resumes_at_the_oldest() {
    let mem = PeerMemory::new();
    let (ring, mut tx, mut rx) = ends(&mem, Options::new(CAP).start_at(u32::MAX - 3));
    let first = tx.position();
    for k in 0..8 + 3 {
        tx.publish(&frame(first.wrapping_add(k))).unwrap();
    }
    let mut buf = [0u8; MAX];
    assert_eq!(rx.try_recv_into(&mut buf), Err(Error::Lagged(3)));
    for k in 3..11 {
        let len = rx.try_recv_into(&mut buf).unwrap();
        check(first.wrapping_add(k), &buf[..len]);
    }
    let oldest = ring.subscriber_from(Start::Oldest).unwrap();
    assert_eq!(oldest.position(), first.wrapping_add(3));
}

#[test]
fn a_small_buffer_names_the_length_and_keeps_the_frame() {
    let mem = PeerMemory::new();
    let (_, mut tx, mut rx) = ends(&mem, Options::new(CAP));
    tx.publish(&[9; 40]).unwrap();
    assert_eq!(
        rx.try_recv_into(&mut [0; 39]),
        Err(Error::BufferTooSmall { required: 40 })
    );
    assert_eq!(rx.position(), 0);
    assert_eq!(rx.try_recv_into(&mut [0; 40]), Ok(40));
    // In place: reads past the end are refused, nothing read.
    tx.publish(&[1, 2, 3]).unwrap();
    let got = rx.try_read_with(|f| {
        let mut two = [0u8; 2];
        (f.read_at(2, &mut two), f.read_at(1, &mut two).map(|()| two))
    });
    assert_eq!(
        got,
        Ok((Err(Error::OutOfRange { end: 4, len: 3 }), Ok([2, 3])))
    );
}

#[test]
fn loans_write_in_place_and_a_dropped_loan_publishes_nothing() {
    let mem = PeerMemory::new();
    let ring = ring_in(&mem, Options::new(CAP).start_at(u32::MAX));
    let mut tx = ring.publisher().unwrap();
    let mut behind = ring.subscriber().unwrap();
    for k in 0..8u32 {
        tx.publish(&frame(u32::MAX.wrapping_add(k))).unwrap();
    }
    let mut current = ring.subscriber().unwrap();
    let p = tx.position();
    let mut loan = tx.loan(10).unwrap();
    assert_eq!(loan.len(), 10);
    assert_eq!(
        loan.write_at(5, &[0; 6]),
        Err(Error::OutOfRange { end: 11, len: 10 })
    );
    loan.write_at(2, b"cdefghij").unwrap();
    loan.copy_from_slice(b"ab").unwrap();
    drop(loan);
    assert_eq!(mem.word(slot_word(p, 0)).load(SeqCst), p, "being written");
    assert_eq!(ring.tail(), p);
    let mut buf = [0u8; MAX];
    assert_eq!(current.try_recv_into(&mut buf), Err(Error::Empty));
    // The slot's old frame is destroyed: the subscriber a lap behind lags.
    assert_eq!(behind.try_recv_into(&mut buf), Err(Error::Lagged(1)));
    // The next loan rewrites the slot at the same position.
    let mut loan = tx.loan(10).unwrap();
    loan.copy_from_slice(b"abcdefghij").unwrap();
    assert_eq!(
        loan.publish_first(11).unwrap_err(),
        Error::OutOfRange { end: 11, len: 10 }
    );
    let mut loan = tx.loan(10).unwrap();
    // SAFETY: no subscriber reads this slot now (this thread owns them).
    unsafe { loan.as_mut_slice() }.copy_from_slice(b"0123456789");
    loan.publish_first(4).unwrap();
    assert_eq!(current.try_recv_into(&mut buf), Ok(4));
    assert_eq!(&buf[..4], b"0123");
    for k in 1..8 {
        let len = behind.try_recv_into(&mut buf).unwrap();
        check(u32::MAX.wrapping_add(k), &buf[..len]);
    }
    assert_eq!(behind.try_recv_into(&mut buf), Ok(4));
}

#[test]
fn a_publisher_that_dies_mid_loan_is_taken_over() {
    let mem = PeerMemory::new();
    let (ring, mut tx, mut rx) = ends(&mem, Options::new(CAP).start_at(u32::MAX - 1));
    tx.publish(b"before").unwrap();
    let p = tx.position();
    tx.publish_and_die(b"never published");
    let mut buf = [0u8; MAX];
    assert_eq!(rx.try_recv_into(&mut buf), Ok(6));
    assert_eq!(rx.try_recv_into(&mut buf), Err(Error::Empty));
    assert_eq!(mem.word(slot_word(p, 0)).load(SeqCst), p);
    // SAFETY: the dead publisher is never used again.
    unsafe { ring.release_producer_claim() };
    let mut tx = ring.publisher().unwrap();
    assert_eq!(tx.position(), p);
    tx.publish(b"after").unwrap();
    assert_eq!(rx.try_recv_into(&mut buf), Ok(5));
    assert_eq!(&buf[..5], b"after");
}

/// The re-check after an in-place read decides: a slot rewritten while the
/// closure ran (a peer here) gives `Lagged` and drops the closure's result.
#[test]
fn a_torn_in_place_read_is_never_returned() {
    let mem = PeerMemory::new();
    let (_, mut tx, mut rx) = ends(&mem, Options::new(CAP));
    tx.publish(&frame(0)).unwrap();
    tx.publish(&frame(1)).unwrap();
    let got = rx.try_read_with(|f| {
        // The publisher laps us while we read: slot 0 is rewritten for
        // position 8 (stamp 8 = being written), tail at 9.
        mem.word(slot_word(0, 0)).store(8, SeqCst);
        mem.word(128).store(9, SeqCst);
        f.len()
    });
    // Oldest in the ring at tail 9: position 1.
    assert_eq!(got, Err(Error::Lagged(1)), "position 0 lost");
    assert_eq!(rx.position(), 1);
    let mut buf = [0u8; MAX];
    let len = rx.try_recv_into(&mut buf).unwrap();
    check(1, &buf[..len]);
}

#[test]
fn threads_account_for_every_frame() {
    let mem = PeerMemory::new();
    let start = u32::MAX - 100;
    let ring = ring_in(&mem, Options::new(CAP).start_at(start));
    let total: u32 = if cfg!(miri) { 200 } else { 100_000 };
    let mut tx = ring.publisher().unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let done = &done;
    std::thread::scope(|s| {
        for id in 0..2 {
            let mut rx = ring.subscriber().unwrap();
            s.spawn(move || {
                let (mut received, mut lost) = (0u64, 0u64);
                let mut expected = start;
                let mut buf = [0u8; MAX];
                while received + lost < u64::from(total) {
                    let finished = done.load(SeqCst);
                    // Alternately copied out and read in place.
                    let got = if received % 2 == 0 {
                        rx.try_recv_into(&mut buf).map(|len| buf[..len].to_vec())
                    } else {
                        rx.try_read_with(|f| {
                            let mut v = std::vec![0; f.len()];
                            f.copy_to(&mut v).map(|()| v)
                        })
                        .and_then(|r| r)
                    };
                    match got {
                        Ok(bytes) => {
                            check(expected, &bytes);
                            expected = expected.wrapping_add(1);
                            received += 1;
                        }
                        Err(Error::Lagged(n)) => {
                            lost += n;
                            expected = expected.wrapping_add(n as u32);
                            assert_eq!(rx.position(), expected, "subscriber {id}");
                        }
                        Err(Error::Empty) if finished => break,
                        Err(Error::Empty) => std::thread::yield_now(),
                        Err(e) => panic!("subscriber {id}: {e}"),
                    }
                }
                assert_eq!(received + lost, u64::from(total), "subscriber {id}");
            });
        }
        for k in 0..total {
            tx.publish(&frame(start.wrapping_add(k))).unwrap();
        }
        done.store(true, SeqCst);
    });
}

// ---------------------------------------------------------------------------
// Placement and a hostile peer
// ---------------------------------------------------------------------------

#[test]
fn slot_sizes_are_checked_at_init() {
    let mem = PeerMemory::new();
    for bad in [0, 8, 24, 512, 1024] {
        assert_eq!(
            FrameRing::init(mem.region(), 512, bad).unwrap_err(),
            Error::InvalidCapacity,
            "slot size {bad}"
        );
    }
    assert_eq!(
        FrameRing::init(mem.region(), 48, 16).unwrap_err(),
        Error::InvalidCapacity
    );
    // Other rings refuse a slot size.
    assert_eq!(
        crate::broadcast::Ring::<u32>::init_with(mem.region(), Options::new(8).slot_size(16))
            .unwrap_err(),
        Error::InvalidCapacity
    );
    let ring = FrameRing::init(mem.region(), 32, 16).unwrap();
    assert_eq!((ring.slots(), ring.max_frame()), (2, 8));
}

#[test]
fn attach_checks_the_slot_size() {
    let mem = PeerMemory::new();
    ring_in(&mem, Options::new(CAP).waking(true));
    let attached = FrameRing::attach(mem.region()).unwrap();
    assert_eq!((attached.slot_size(), attached.slots()), (SLOT, 8));
    assert!(attached.wakes());
    assert_eq!(
        crate::broadcast::Ring::<u8>::attach(mem.region()).unwrap_err(),
        Error::KindMismatch {
            found: 8,
            expected: 7
        }
    );
    for bad in [0, 8, 48, CAP, 1 << 31] {
        mem.word(156).store(bad, SeqCst);
        assert_eq!(
            FrameRing::attach(mem.region()).unwrap_err(),
            Error::Corrupted("broadcast frame slot size in control block"),
            "slot size {bad}"
        );
    }
    // The handle kept the size it validated.
    assert_eq!(attached.slot_size(), SLOT);
}

#[test]
fn golden_header_bytes() {
    let mem = PeerMemory::new();
    let ring =
        FrameRing::init_with(mem.region(), Options::new(64).slot_size(32).start_at(5)).unwrap();
    ring.publisher().unwrap().publish(b"ab").unwrap();
    Golden::ready(256 + 64, 8, (1, 8), 64, 256)
        .word(128, 6) // tail
        .word(140, 5) // first
        .word(156, 32) // slot size
        .word(256 + 32, 6) // slot 1: stamp of position 5, complete
        .word(256 + 36, 2) // its length
        .word(256 + 40, u32::from_le_bytes(*b"ab\0\0"))
        .check(&mem);
}

#[test]
fn corrupted_lengths_and_stamps_are_errors() {
    let mem = PeerMemory::new();
    let (_, mut tx, mut rx) = ends(&mem, Options::new(CAP));
    tx.publish(b"abc").unwrap();
    tx.publish(b"def").unwrap();
    let mut buf = [0u8; MAX];
    for garbage in [MAX as u32 + 1, SLOT, u32::MAX] {
        mem.word(slot_word(0, 1)).store(garbage, SeqCst);
        let corrupted = Err(Error::Corrupted("broadcast frame length exceeds its slot"));
        assert_eq!(rx.try_recv_into(&mut buf), corrupted);
        assert_eq!(rx.try_read_with(|f| f.len()), corrupted);
        assert_eq!(rx.position(), 0);
    }
    mem.word(slot_word(0, 1)).store(3, SeqCst);
    for garbage in [0, 2, 0xDEAD_BEEF, 8, 9] {
        mem.word(slot_word(0, 0)).store(garbage, SeqCst);
        assert_eq!(
            rx.try_recv_into(&mut buf),
            Err(Error::Corrupted("broadcast slot stamp contradicts tail")),
            "stamp {garbage:#x}"
        );
    }
    mem.word(slot_word(0, 0)).store(1, SeqCst);
    assert_eq!(rx.try_recv_into(&mut buf), Ok(3));
    assert_eq!(&buf[..3], b"abc");
}

/// A peer that writes random words into the control line and the slots'
/// stamps and lengths while subscribers receive, in this thread
/// between receives and from another during them: every answer is a frame
/// no longer than the largest, `Empty`, `Lagged` or `Corrupted`; no panic,
/// no hang, no access outside the region (miri). A frame ring at the end
/// of the region: a length read past its slot would leave it.
#[test]
fn random_peer_words_never_panic_or_hang() {
    let mem = PeerMemory::new();
    let len = FrameRing::region_len(128).unwrap();
    let region = mem.region_at(MEM - len, len);
    let ring = FrameRing::init(region, 128, 32).unwrap();
    let rounds = if cfg!(miri) { 200 } else { 20_000 };
    let mut rx = ring.subscriber_from(Start::Oldest).unwrap();
    let mut inplace = ring.subscriber_from(Start::Oldest).unwrap();
    let mut tx = ring.publisher().unwrap();
    let base = MEM - len;
    let forge = |rng: &mut dyn Iterator<Item = u32>| {
        // A control word, or a slot's stamp or length (the payload is
        // accessed in machine words: a forger's `u32` stores there would
        // be mixed-size atomics in one process, which miri refuses; a
        // forged payload is only wrong bytes anyway).
        let word = if rng.next().unwrap() % 2 == 0 {
            base + 128 + (rng.next().unwrap() as usize % 32) * 4
        } else {
            let (slot, which) = (
                rng.next().unwrap() as usize % 4,
                rng.next().unwrap() as usize % 2,
            );
            base + 256 + slot * 32 + 4 * which
        };
        let value = match rng.next().unwrap() % 4 {
            0 => rng.next().unwrap(),
            1 => rng.next().unwrap() % 40,
            _ => mem
                .word(base + 128)
                .load(SeqCst)
                .wrapping_add(rng.next().unwrap() % 9),
        };
        mem.word(word).store(value, SeqCst);
    };
    let mut buf = [0u8; 24];
    let mut rng = xorshift(0x1234_5678);
    let answers = under_forger(rounds, forge, |round| {
        tx.publish(&[7; 24][..round % 25]).unwrap();
        if round % 4 == 0 {
            forge(&mut rng);
        }
        let got = if round % 2 == 0 {
            rx.try_recv_into(&mut buf)
        } else {
            // Reads as much as the length says (up to a page): a length
            // past the slot would read outside the region.
            inplace
                .try_read_with(|f| {
                    let mut page = [0u8; 4096];
                    let n = f.len().min(page.len());
                    f.read_at(0, &mut page[..n]).map(|()| f.len())
                })
                .and_then(|r| r)
        };
        assert!(got.as_ref().map_or(true, |&n| n <= 24));
        got
    });
    std::println!("frames, empty, lagged, corrupted: {answers:?}");
}

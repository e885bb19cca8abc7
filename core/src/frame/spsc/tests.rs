//! Unit tests of the SPSC frame ring: framing, padding and wrap, grants,
//! roles, and every kind of bad record or index a peer can produce (the
//! header's checks, which every ring shares, are tested once in
//! `place/tests.rs`).

use std::sync::atomic::Ordering::SeqCst;
use std::vec::Vec;

use super::*;
use core::time::Duration;

use crate::frame::{BUSY, LEN_MASK, PAD, frame_word, max_frame_len};
use crate::test_support::{
    CondvarFutex, Golden, MEM, PeerMemory, std_clock, waking_ends, xorshift,
};
use crate::{AlignedBytes, Region};
use crate::{Error, Role};

const TAIL: usize = 128;
const PRODUCER_CLAIM: usize = 132;
const HEAD: usize = 256;
const DATA: usize = DATA_OFFSET;

/// A frame whose bytes say which frame it is.
fn pattern(seq: u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seq as usize * 31 + i * 7) as u8)
        .collect()
}

#[test]
fn frames_keep_their_boundaries_and_order() {
    let mem = PeerMemory::new();
    let (mut tx, mut rx) = Ring::init(mem.region(), 512).unwrap().split().unwrap();
    let lens = [0, 1, 7, 8, 9, 63, 100, 0, 3];
    for (i, &len) in lens.iter().enumerate() {
        tx.try_send(&pattern(i as u32, len)).unwrap();
    }
    let mut buf = [0u8; 128];
    for (i, &len) in lens.iter().enumerate() {
        assert_eq!(rx.try_recv(&mut buf), Ok(len));
        assert_eq!(buf[..len], pattern(i as u32, len)[..]);
    }
    assert_eq!(rx.try_recv(&mut buf), Err(Error::Empty));
    assert_eq!(rx.pending_bytes(), 0);
    assert_eq!(tx.free_bytes(), 512);
}

#[test]
fn full_means_no_contiguous_room_and_space_comes_back() {
    let mem = PeerMemory::new();
    let (mut tx, mut rx) = Ring::init(mem.region(), 64).unwrap().split().unwrap();
    // 64 bytes: three 16-byte records and two of 8 fill it exactly.
    for i in 0..3 {
        tx.try_send(&pattern(i, 8)).unwrap();
    }
    tx.try_send(&[]).unwrap();
    tx.try_send(&[]).unwrap();
    assert_eq!(tx.free_bytes(), 0);
    assert_eq!(tx.try_send(&[]), Err(Error::Full));
    assert!(matches!(tx.try_grant(1), Err(Error::Full)));
    let mut buf = [0; 8];
    assert_eq!(rx.try_recv(&mut buf), Ok(8));
    tx.try_send(&pattern(9, 8)).unwrap();
    assert_eq!(tx.try_send(&[]), Err(Error::Full));
}

#[test]
fn a_frame_that_would_straddle_the_end_goes_to_offset_0_behind_padding() {
    let mem = PeerMemory::new();
    let (mut tx, mut rx) = Ring::init(mem.region(), 64).unwrap().split().unwrap();
    tx.try_send(&pattern(0, 24)).unwrap(); // record 0..32
    tx.try_send(&pattern(1, 8)).unwrap(); // record 32..48
    let mut buf = [0; 64];
    assert_eq!(rx.try_recv(&mut buf), Ok(24)); // head 32, 48 free
    // A 24-byte frame needs 32 contiguous bytes: 16 remain before the end,
    // so 16 bytes of padding and the record at 0, 48 bytes in all.
    tx.try_send(&pattern(2, 24)).unwrap();
    assert_eq!(mem.word(DATA + 48).load(SeqCst), PAD | 16, "padding record");
    assert_eq!(mem.word(DATA).load(SeqCst), frame_word(24));
    assert_eq!(mem.word(TAIL).load(SeqCst), 48 + 16 + 32);
    assert_eq!(rx.try_recv(&mut buf), Ok(8));
    assert_eq!(buf[..8], pattern(1, 8)[..]);
    assert_eq!(rx.try_recv(&mut buf), Ok(24));
    assert_eq!(buf[..24], pattern(2, 24)[..]);
    assert_eq!(rx.try_recv(&mut buf), Err(Error::Empty));
    assert_eq!(mem.word(HEAD).load(SeqCst), 96);
}

#[test]
fn the_largest_frame_fits_an_empty_ring_wherever_it_stands() {
    for start in (0..64).step_by(8) {
        let mem = PeerMemory::new();
        let options = Options::new(64).start_at(u32::MAX - 63 + start);
        let (mut tx, mut rx) = Ring::init_with(mem.region(), options)
            .unwrap()
            .split()
            .unwrap();
        let max = max_frame_len(64).unwrap() as usize;
        for round in 0..5u32 {
            tx.try_send(&pattern(round, max)).unwrap();
            let mut buf = [0; 24];
            assert_eq!(rx.try_recv(&mut buf), Ok(max));
            assert_eq!(buf[..], pattern(round, max)[..]);
            tx.try_send(&pattern(round, round as usize)).unwrap();
            assert_eq!(rx.try_recv(&mut buf), Ok(round as usize));
        }
        assert_eq!(
            tx.try_send(&[0; 25]),
            Err(Error::FrameTooLarge { len: 25, max: 24 })
        );
    }
}

#[test]
fn wrap_around_u32_max_with_random_sizes() {
    for start in [u32::MAX - 7, u32::MAX - 255, 0, (1 << 31) - 8] {
        let mem = PeerMemory::new();
        let options = Options::new(128).start_at(start);
        let (mut tx, mut rx) = Ring::init_with(mem.region(), options)
            .unwrap()
            .split()
            .unwrap();
        let max = tx.max_frame_len() as usize;
        let (mut sent, mut received) = (0u32, 0u32);
        let mut buf = [0; 64];
        // Miri runs this about a thousand times slower: fewer rounds still
        // cross the wrap (the start is next to it) and pad several times.
        for x in xorshift(0x2545_F491u32 ^ start).take(if cfg!(miri) { 120 } else { 3000 }) {
            let len = x as usize % (max + 1);
            if tx.try_send(&pattern(sent, len)).is_ok() {
                sent += 1;
            }
            if x & 0x300 != 0 {
                if let Ok(n) = rx.try_recv(&mut buf) {
                    assert_eq!(buf[..n], pattern(received, n)[..]);
                    received += 1;
                }
            }
        }
        while let Ok(n) = rx.try_recv(&mut buf) {
            assert_eq!(buf[..n], pattern(received, n)[..]);
            received += 1;
        }
        assert_eq!(sent, received);
        assert!(sent > if cfg!(miri) { 30 } else { 1000 }, "{sent}");
    }
}

#[test]
fn grants_commit_shorter_refuse_longer_and_drop_to_nothing() {
    let mem = PeerMemory::new();
    let (mut tx, mut rx) = Ring::init(mem.region(), 128).unwrap().split().unwrap();
    let mut buf = [0; 64];

    let mut grant = tx.try_grant(40).unwrap();
    assert_eq!(grant.len(), 40);
    assert_eq!(grant.copy_from_slice(&pattern(1, 40)), Ok(()));
    grant.commit(10).unwrap();
    assert_eq!(rx.try_recv(&mut buf), Ok(10));
    assert_eq!(buf[..10], pattern(1, 40)[..10]);

    // A commit longer than the grant publishes nothing.
    let grant = tx.try_grant(8).unwrap();
    assert_eq!(grant.commit(9), Err(Error::OutOfRange { end: 9, len: 8 }));
    assert_eq!(rx.try_recv(&mut buf), Err(Error::Empty));
    assert_eq!(
        tx.try_grant(8).unwrap().commit(usize::MAX),
        Err(Error::OutOfRange {
            end: usize::MAX,
            len: 8
        })
    );

    // A dropped grant publishes nothing and gives its room back.
    let _ = tx.try_grant(56).unwrap();
    assert_eq!(rx.try_recv(&mut buf), Err(Error::Empty));
    assert_eq!(tx.free_bytes(), 128);

    // Writes outside the grant are refused, inside are placed.
    let mut grant = tx.try_grant(4).unwrap();
    assert_eq!(
        grant.write_at(usize::MAX, b"x"),
        Err(Error::OutOfRange {
            end: usize::MAX,
            len: 4
        })
    );
    grant.write_at(1, b"bcd").unwrap();
    grant.write_at(0, b"a").unwrap();
    grant.commit_all();
    let frame = rx.try_read().unwrap();
    let mut out = [0; 4];
    assert_eq!(frame.copy_to(&mut out), Ok(4));
    assert_eq!(&out, b"abcd");
    assert_eq!(
        frame.read_at(usize::MAX, &mut out),
        Err(Error::OutOfRange {
            end: usize::MAX,
            len: 4
        })
    );
    frame.release();

    // A grant that needed padding, committed shorter, still reads back.
    assert_eq!(mem.word(TAIL).load(SeqCst), 40);
    tx.try_send(&pattern(2, 40)).unwrap(); // record 40..88
    rx.try_recv(&mut buf).unwrap();
    let mut grant = tx.try_grant(40).unwrap(); // padding 88..128, record at 0
    grant.copy_from_slice(&pattern(4, 40)).unwrap();
    grant.commit(2).unwrap();
    tx.try_send(&pattern(5, 3)).unwrap();
    assert_eq!(rx.try_recv(&mut buf), Ok(2));
    assert_eq!(buf[..2], pattern(4, 2)[..]);
    assert_eq!(mem.word(DATA + 88).load(SeqCst), PAD | 40);
    assert_eq!(rx.try_recv(&mut buf), Ok(3));
    assert_eq!(buf[..3], pattern(5, 3)[..]);
}

#[test]
fn a_buffer_too_small_leaves_the_frame_queued() {
    let mem = PeerMemory::new();
    let (mut tx, mut rx) = Ring::init(mem.region(), 64).unwrap().split().unwrap();
    tx.try_send(&pattern(0, 20)).unwrap();
    assert_eq!(
        rx.try_recv(&mut [0; 19]),
        Err(Error::BufferTooSmall { required: 20 })
    );
    let mut buf = [0; 20];
    assert_eq!(rx.try_recv(&mut buf), Ok(20));
    assert_eq!(buf[..], pattern(0, 20)[..]);
}

#[test]
fn unreleased_frames_stay_and_raw_views_point_at_the_payload() {
    let mem = PeerMemory::new();
    let (mut tx, mut rx) = Ring::init(mem.region(), 64).unwrap().split().unwrap();
    let mut grant = tx.try_grant(5).unwrap();
    assert_eq!(grant.as_mut_ptr() as usize % 8, 0);
    // SAFETY: both ends are in this test and follow the protocol.
    unsafe { grant.as_mut_slice() }.copy_from_slice(b"hello");
    grant.commit_all();
    for _ in 0..3 {
        let frame = rx.try_read().unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { frame.as_slice() }, b"hello");
        assert!(!frame.is_empty());
    }
    rx.try_read().unwrap().release();
    assert_eq!(rx.try_read().unwrap_err(), Error::Empty);
}

#[test]
fn roles_are_exclusive_and_resume_where_the_last_holder_stopped() {
    let mem = PeerMemory::new();
    let ring = Ring::init(mem.region(), 64).unwrap();
    let mut tx = ring.producer().unwrap();
    assert_eq!(
        ring.producer().unwrap_err(),
        Error::RoleTaken(Role::Producer)
    );
    tx.try_send(b"first").unwrap();
    drop(tx);
    let mut tx = ring.producer().unwrap();
    tx.try_send(b"second").unwrap();
    let mut rx = ring.consumer().unwrap();
    assert_eq!(
        ring.consumer().unwrap_err(),
        Error::RoleTaken(Role::Consumer)
    );
    let mut buf = [0; 8];
    assert_eq!(rx.try_recv(&mut buf), Ok(5));
    drop(rx);
    let mut rx = ring.consumer().unwrap();
    assert_eq!(rx.try_recv(&mut buf), Ok(6));
    assert_eq!(&buf[..6], b"second");
}

#[test]
fn golden_header_bytes() {
    let mem = PeerMemory::new();
    let options = Options::new(512).start_at(0x0A0B_0C08);
    Ring::init_with(mem.region(), options).unwrap();
    // Elements: bytes, aligned as records; capacity: 512 bytes.
    Golden::ready(DATA_OFFSET, 4, (1, 8), 512, 384) // kind: SPSC frame ring
        .word(128, 0x0A0B_0C08) // tail
        .word(256, 0x0A0B_0C08) // head
        .check(&mem);
}

/// A ring of 256 bytes in `mem` with three frames of 8 bytes committed;
/// the test then corrupts something as a faulty peer.
fn three_frames(mem: &PeerMemory) -> Ring<'_> {
    let ring = Ring::init(mem.region(), 256).unwrap();
    let mut tx = ring.producer().unwrap();
    for i in 0..3 {
        tx.try_send(&pattern(i, 8)).unwrap();
    }
    ring
}

#[test]
fn frames_before_a_corrupt_record_are_delivered_then_it_is_an_error() {
    let cases: [(&str, usize, u32); 8] = [
        ("longer than the ring carries", 32, frame_word(121)),
        ("past the published range", 32, frame_word(16)),
        ("shorter than a header", 32, 3),
        ("zeroed", 32, 0),
        ("padding short of the end", 32, PAD | 16),
        ("padding at the wrong place", 32, PAD | 224),
        ("busy in an SPSC ring", 32, BUSY | frame_word(8)),
        ("all flags", 32, u32::MAX),
    ];
    for (what, offset, word) in cases {
        let mem = PeerMemory::new();
        let ring = three_frames(&mem);
        let mut rx = ring.consumer().unwrap();
        mem.word(DATA + offset).store(word, SeqCst);
        let mut buf = [0; 256];
        assert_eq!(rx.try_recv(&mut buf), Ok(8), "{what}");
        assert_eq!(buf[..8], pattern(0, 8)[..], "{what}");
        assert_eq!(rx.try_recv(&mut buf), Ok(8), "{what}");
        assert!(
            matches!(rx.try_recv(&mut buf), Err(Error::Corrupted(_))),
            "{what}"
        );
        // The error is sticky while the record is bad, and not skipped.
        assert!(matches!(rx.try_read(), Err(Error::Corrupted(_))), "{what}");
        assert_eq!(mem.word(HEAD).load(SeqCst), 32, "{what}");
    }
}

#[test]
fn a_padding_record_must_be_followed_by_a_frame() {
    let mem = PeerMemory::new();
    let (mut tx, mut rx) = Ring::init(mem.region(), 64).unwrap().split().unwrap();
    tx.try_send(&pattern(0, 24)).unwrap();
    tx.try_send(&pattern(1, 8)).unwrap();
    let mut buf = [0; 64];
    rx.try_recv(&mut buf).unwrap();
    tx.try_send(&pattern(2, 24)).unwrap(); // padding at 48, frame at 0
    assert_eq!(rx.try_recv(&mut buf), Ok(8));
    // The peer turns the frame at 0 into another padding record.
    mem.word(DATA).store(PAD | 64, SeqCst);
    assert!(matches!(rx.try_recv(&mut buf), Err(Error::Corrupted(_))));
    // Or into a frame longer than the published range behind the padding.
    mem.word(DATA).store(frame_word(24 + 8), SeqCst);
    assert!(matches!(rx.try_recv(&mut buf), Err(Error::Corrupted(_))));
    // Repaired, it reads.
    mem.word(DATA).store(frame_word(24), SeqCst);
    assert_eq!(rx.try_recv(&mut buf), Ok(24));
}

#[test]
fn corrupted_indices_are_errors() {
    let mem = PeerMemory::new();
    let ring = three_frames(&mem);
    let (mut tx, mut rx) = ring.split().unwrap();
    let mut buf = [0; 64];
    assert_eq!(rx.try_recv(&mut buf), Ok(8));
    // `tail` more than a capacity ahead of `head`: the frames already seen
    // published are delivered, then the reload is refused.
    mem.word(TAIL).store(10_000, SeqCst);
    assert_eq!(rx.try_recv(&mut buf), Ok(8));
    assert_eq!(rx.try_recv(&mut buf), Ok(8));
    assert!(matches!(rx.try_recv(&mut buf), Err(Error::Corrupted(_))));
    // The query reads the bad index as a full ring.
    assert_eq!(rx.pending_bytes(), rx.capacity() as usize);
    // A misaligned `tail` leaves less than a record: refused, not read.
    mem.word(TAIL).store(48 + 4, SeqCst);
    assert!(matches!(rx.try_recv(&mut buf), Err(Error::Corrupted(_))));
    mem.word(TAIL).store(48, SeqCst);
    assert_eq!(rx.try_recv(&mut buf), Err(Error::Empty));

    // `head` ahead of `tail`: the producer's reload is refused.
    for _ in 0..10 {
        let _ = tx.try_send(&[0; 100]);
    }
    mem.word(HEAD).store(7777, SeqCst);
    assert!(matches!(tx.try_send(&[0; 100]), Err(Error::Corrupted(_))));
    assert_eq!(tx.free_bytes(), 0, "a bad index reads as a full ring");

    // Claims validate too, and give the role back on failure.
    drop((tx, rx));
    assert!(matches!(ring.producer(), Err(Error::Corrupted(_))));
    assert_eq!(mem.word(PRODUCER_CLAIM).load(SeqCst), 0);
    mem.word(HEAD)
        .store(mem.word(TAIL).load(SeqCst) - 4, SeqCst);
    assert!(matches!(ring.consumer(), Err(Error::Corrupted(_))));
}

#[test]
fn garbage_everywhere_never_panics() {
    let mem = PeerMemory::new();
    let ring = Ring::init(mem.region(), 256).unwrap();
    let (mut tx, mut rx) = ring.split().unwrap();
    let mut buf = [0u8; 256];
    let rounds = if cfg!(miri) { 100 } else { 20_000 };
    for x in xorshift(0x9E37_79B9u32).take(rounds) {
        let target = match x % 5 {
            0 => TAIL,
            1 => HEAD,
            _ => DATA + (x as usize >> 8) % 256 / 4 * 4,
        };
        let value = match x >> 29 {
            0 => x >> 3,
            1 => PAD | (x >> 20),
            2 => (x >> 20) & LEN_MASK,
            _ => x.rotate_left(7),
        };
        mem.word(target).store(value, SeqCst);
        let _ = tx.try_send(&buf[..(x as usize >> 4) % 130]);
        match rx.try_recv(&mut buf) {
            Ok(n) => assert!(n <= 120),
            Err(e) => assert!(
                matches!(
                    e,
                    Error::Empty | Error::Corrupted(_) | Error::BufferTooSmall { .. }
                ),
                "{e}"
            ),
        }
        if let Ok(frame) = rx.try_read() {
            assert!(frame.len() <= 120);
            let mut tmp = [0; 130];
            frame.copy_to(&mut tmp).unwrap();
            frame.release();
        }
        if let Ok(mut grant) = tx.try_grant((x as usize >> 9) % 121) {
            let n = grant.len();
            grant.copy_from_slice(&[0xAB; 121][..n]).unwrap();
            grant.commit_all();
        }
    }
}

#[test]
fn two_threads_move_every_frame_in_order() {
    let count: u32 = if cfg!(miri) { 50 } else { 200_000 };
    let mut bytes = std::boxed::Box::new(AlignedBytes::<{ 384 + 1024 }>::new());
    let options = Options::new(1024).start_at(u32::MAX - 511);
    let ring = Ring::init_with(Region::from_slice(&mut bytes[..]), options).unwrap();
    let (mut tx, mut rx) = ring.split().unwrap();
    std::thread::scope(|s| {
        s.spawn(move || {
            for seq in 0..count {
                let len = (seq as usize * 37) % 300;
                let frame = pattern(seq, len);
                loop {
                    match tx.try_send(&frame) {
                        Ok(()) => break,
                        Err(Error::Full) => std::thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        });
        let mut buf = [0; 512];
        for seq in 0..count {
            let n = loop {
                match rx.try_recv(&mut buf) {
                    Ok(n) => break n,
                    Err(Error::Empty) => std::thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            };
            assert_eq!(n, (seq as usize * 37) % 300);
            assert_eq!(buf[..n], pattern(seq, n)[..], "frame {seq}");
        }
    });
}

#[test]
fn blocking_send_and_recv_with_sleeping_waiters() {
    let count: u32 = if cfg!(miri) { 100 } else { 50_000 };
    let mem = PeerMemory::new();
    let options = Options::new(64).start_at(u32::MAX - 15).waking(true);
    let ring = Ring::init_with(mem.region(), options).unwrap();
    let (mut tx, mut rx) = waking_ends(&ring);
    std::thread::scope(|s| {
        s.spawn(move || {
            for seq in 0..count {
                let len = seq as usize % 25;
                if seq % 2 == 0 {
                    tx.send(&pattern(seq, len)).unwrap();
                } else {
                    let mut grant = tx.grant(len).unwrap();
                    grant.copy_from_slice(&pattern(seq, len)).unwrap();
                    grant.commit_all();
                }
            }
        });
        let mut buf = [0; 24];
        for seq in 0..count {
            let len = seq as usize % 25;
            if seq % 2 == 0 {
                assert_eq!(rx.recv(&mut buf).unwrap(), len);
                assert_eq!(buf[..len], pattern(seq, len)[..]);
            } else {
                let frame = rx.read().unwrap();
                assert_eq!(frame.len(), len);
                frame.copy_to(&mut buf).unwrap();
                frame.release();
                assert_eq!(buf[..len], pattern(seq, len)[..]);
            }
        }
        assert_eq!(
            rx.recv_timeout(&mut buf, Some(Duration::from_millis(5))),
            Err(Error::TimedOut)
        );
    });
    let again = Ring::attach(mem.region()).unwrap();
    assert!(again.wakes());
    let mut tx = again.producer_with(CondvarFutex::default()).unwrap();
    tx.send(&[0; 24]).unwrap();
    tx.send(&[0; 24]).unwrap();
    assert_eq!(
        tx.send_timeout(&[0; 1], Some(Duration::from_millis(5))),
        Err(Error::TimedOut)
    );
    assert_eq!(
        tx.grant_timeout(1, Some(Duration::from_millis(5)))
            .unwrap_err(),
        Error::TimedOut
    );
    // Too large never fits: an error at once, not a wait.
    assert_eq!(
        tx.send(&[0; 25]),
        Err(Error::FrameTooLarge { len: 25, max: 24 })
    );
}

#[test]
fn blocking_calls_report_faults_and_missing_clocks() {
    let mem = PeerMemory::new();
    let ring = Ring::init(mem.region(), 64).unwrap();
    let (mut tx, mut rx) = ring.split().unwrap();
    assert_eq!(
        rx.recv_timeout(&mut [0; 8], Some(Duration::from_millis(1))),
        Err(Error::NoClock)
    );
    mem.word(TAIL).store(1000, SeqCst);
    assert!(matches!(rx.recv(&mut [0; 8]), Err(Error::Corrupted(_))));
    assert!(matches!(rx.read(), Err(Error::Corrupted(_))));
    mem.word(TAIL).store(0, SeqCst);
    tx.try_send(&[0; 24]).unwrap();
    tx.try_send(&[0; 24]).unwrap();
    mem.word(HEAD).store(777, SeqCst);
    assert!(matches!(tx.send(&[0; 8]), Err(Error::Corrupted(_))));
    let _ = std_clock();
    assert_eq!(MEM, 4096);
}

#[test]
fn getters_and_queries() {
    let mem = PeerMemory::new();
    let ring = Ring::init(mem.region(), 64).unwrap();
    assert_eq!((ring.capacity(), ring.max_frame_len()), (64, 24));
    assert!(!ring.wakes());
    let other = PeerMemory::new();
    assert_eq!(Ring::init(other.region(), 128).unwrap().max_frame_len(), 56);
    let (mut tx, mut rx) = ring.split().unwrap();
    assert_eq!((tx.max_frame_len(), rx.max_frame_len()), (24, 24));
    assert!(tx.is_empty() && rx.is_empty());
    tx.try_send(&[0; 3]).unwrap();
    assert_eq!(rx.pending_bytes(), 16);
    assert_eq!(tx.free_bytes(), 48);
    let mut grant = tx.try_grant(2).unwrap();
    assert_eq!(grant.as_mut_ptr() as usize % 8, 0);
    assert!(!grant.is_empty());
    drop(grant);
    assert!(tx.try_grant(0).unwrap().is_empty());
    let frame = rx.try_read().unwrap();
    assert_eq!((frame.len(), frame.is_empty()), (3, false));
    assert_eq!(frame.as_ptr() as usize % 8, 0);
    // SAFETY: the producer is ours and follows the protocol.
    assert_eq!(unsafe { frame.as_slice() }, &[0; 3]);
    let mut short = [9; 2];
    assert_eq!(
        frame.copy_to(&mut short),
        Err(Error::BufferTooSmall { required: 3 })
    );
    assert_eq!(frame.read_partial(1, &mut short), 2);
    assert_eq!(frame.read_partial(3, &mut short), 0);
    assert_eq!(frame.read_partial(usize::MAX, &mut short), 0);
    drop(frame);
    assert_eq!(rx.pending_bytes(), 16, "an unreleased frame stays");
}

#[test]
fn a_static_frame_ring_carries_frames() {
    static FRAMES: StaticRing<256> = StaticRing::new();
    let (mut tx, mut rx) = FRAMES.split().unwrap();
    assert_eq!(tx.max_frame_len(), 120);
    let mut buf = [0; 120];
    for seq in 0..100u32 {
        let frame = pattern(seq, seq as usize % 121);
        tx.try_send(&frame).unwrap();
        assert_eq!(rx.try_recv(&mut buf), Ok(frame.len()));
        assert_eq!(buf[..frame.len()], frame[..]);
    }
}

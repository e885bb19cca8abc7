//! Unit tests of the MPSC frame ring: behaviour, out-of-order commit, wrap,
//! grants, stalls, blocking, and every kind of bad header, position or
//! region a peer can produce.

use std::sync::atomic::Ordering::SeqCst;
use std::vec;
use std::vec::Vec;

use super::*;
use crate::frame::{LEN_MASK, RECORD_HEADER_LEN, max_frame_len};
use crate::region::{ENDIAN_MARKER, LAYOUT_VERSION, MAGIC};
use crate::test_support::{CondvarFutex, PeerMemory, std_clock, xorshift};
use crate::{AlignedBytes, Region};

pub(super) const TAIL: usize = 128;
const CONSUMER_WAITING: usize = 132;
const DOORBELL: usize = 136;
pub(super) const HEAD: usize = 256;
const CLAIM: usize = 260;
pub(super) const DATA: usize = 512;

/// Offset in the region of byte `byte` of the record at position `pos`.
pub(super) fn at(cap: u32, pos: u32, byte: u32) -> usize {
    DATA + ((pos & (cap - 1)) + byte) as usize
}

/// Offset in the region of the header word `which` of position `pos`.
fn hdr(cap: u32, pos: u32, which: u32) -> usize {
    at(cap, pos, 4 * which)
}

fn frame(tag: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| tag.wrapping_mul(31).wrapping_add(i as u8))
        .collect()
}

pub(super) fn recv_vec<N: Notify>(rx: &mut Consumer<'_, N>) -> Result<Vec<u8>> {
    let mut buf = vec![0; 4096];
    let n = rx.try_recv(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// Sends and receives `count` frames of `len` bytes, each in turn: the
/// ring goes on working.
pub(super) fn round_trips<N: Notify>(
    tx: &Producer<'_, N>,
    rx: &mut Consumer<'_, N>,
    count: u8,
    len: usize,
) {
    for i in 0..count {
        tx.try_send(&frame(i, len)).unwrap();
        assert_eq!(recv_vec(rx).unwrap(), frame(i, len));
    }
}

fn clocked() -> Spin {
    Spin::with_clock(std_clock)
}

#[test]
fn layout_and_golden_header() {
    let mut bytes = AlignedBytes::<{ 512 + 64 }>::new();
    let options = Options::new(64).start_at(u32::MAX - 15).waking(true);
    let ring = Ring::init_with(Region::from_slice(&mut bytes[..]), options).unwrap();
    assert_eq!(ring.capacity(), 64);
    assert_eq!(ring.max_frame_len(), 24);
    let _ = ring;
    let word = |o: usize| u32::from_ne_bytes(bytes[o..o + 4].try_into().unwrap());
    let expected = [
        (0, MAGIC),
        (4, LAYOUT_VERSION),
        (8, 5),
        (12, ENDIAN_MARKER),
        (16, 2),
        (20, 1),
        (24, 8),
        (28, 64),
        (32, 512),
        (36, 1),
        (TAIL, u32::MAX - 15),
        (HEAD, u32::MAX - 15),
    ];
    for (offset, value) in expected {
        assert_eq!(word(offset), value, "offset {offset}");
    }
    assert_eq!(Ring::region_len(64), Ok(576));
    for bad in [0, 8, 24, 1 << 31 | 1] {
        assert_eq!(Ring::region_len(bad), Err(Error::InvalidCapacity));
    }
}

#[test]
fn init_and_attach_refuse_bad_regions() {
    let mut bytes = AlignedBytes::<1024>::new();
    let err = Ring::init(Region::from_slice(&mut bytes[..600]), 128).unwrap_err();
    assert_eq!(
        err,
        Error::TooSmall {
            required: 640,
            actual: 600
        }
    );
    let err = Ring::init(Region::from_slice(&mut bytes[4..]), 64).unwrap_err();
    assert_eq!(err, Error::Misaligned { required: 8 });
    assert_eq!(
        Ring::init_at(Region::from_slice(&mut bytes[..]), 64, 4).unwrap_err(),
        Error::InvalidCapacity
    );
    assert_eq!(
        Ring::attach(Region::from_slice(&mut bytes[..])).unwrap_err(),
        Error::NotInitialized
    );
    Ring::init(Region::from_slice(&mut bytes[..]), 256).unwrap();
    assert!(Ring::attach(Region::from_slice(&mut bytes[..])).is_ok());
    assert_eq!(
        Ring::attach(Region::from_slice(&mut bytes[..700])).unwrap_err(),
        Error::TooSmall {
            required: 768,
            actual: 700
        }
    );
    let patch = |bytes: &mut AlignedBytes<1024>, o: usize, v: u32| {
        bytes[o..o + 4].copy_from_slice(&v.to_ne_bytes());
    };
    for (offset, value) in [(28, 100), (28, 8), (32, 384), (36, 2), (20, 2), (24, 4)] {
        let mut copy = bytes.clone();
        patch(&mut copy, offset, value);
        let err = Ring::attach(Region::from_slice(&mut copy[..])).unwrap_err();
        assert!(
            matches!(err, Error::Corrupted(_) | Error::ElementMismatch { .. }),
            "{offset}: {err:?}"
        );
    }
}

#[test]
fn frames_of_every_size_round_trip_across_the_wrap() {
    let cap = 128;
    let max = max_frame_len(cap).unwrap() as usize;
    let rounds = if cfg!(miri) { 40 } else { 600 };
    let mut bytes = AlignedBytes::<{ 512 + 128 }>::new();
    let ring = Ring::init_at(Region::from_slice(&mut bytes[..]), cap, u32::MAX - 63).unwrap();
    let (tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    for i in 0..rounds {
        let f = frame(i as u8, i * 7 % (max + 1));
        tx.try_send(&f).unwrap();
        assert_eq!(recv_vec(&mut rx).unwrap(), f, "round {i}");
        assert_eq!(recv_vec(&mut rx), Err(Error::Empty));
    }
}

#[test]
fn an_empty_ring_takes_the_largest_frame_at_every_offset() {
    for cap in [16u32, 32, 64, 256] {
        let max = max_frame_len(cap).unwrap() as usize;
        for start in (0..cap).step_by(8) {
            let mut bytes = AlignedBytes::<{ 512 + 256 }>::new();
            let ring = Ring::init_at(Region::from_slice(&mut bytes[..]), cap, start).unwrap();
            let (tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
            for round in 0..3u8 {
                let f = frame(round, max);
                tx.try_send(&f).unwrap();
                assert_eq!(recv_vec(&mut rx).unwrap(), f, "cap {cap} start {start}");
            }
        }
    }
}

#[test]
fn fills_up_then_drains_in_order() {
    let mut bytes = AlignedBytes::<{ 512 + 256 }>::new();
    let ring = Ring::init_at(Region::from_slice(&mut bytes[..]), 256, u32::MAX - 39).unwrap();
    let (tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    let mut sent = Vec::new();
    for i in 0.. {
        let f = frame(i, (i as usize * 5) % 40);
        match tx.try_send(&f) {
            Ok(()) => sent.push(f),
            Err(Error::Full) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(sent.len() > 5);
    for f in &sent {
        assert_eq!(&recv_vec(&mut rx).unwrap(), f);
    }
    assert_eq!(recv_vec(&mut rx), Err(Error::Empty));
    assert_eq!(
        tx.try_send(&[0; 121]),
        Err(Error::FrameTooLarge { len: 121, max: 120 })
    );
    assert!(matches!(
        tx.try_grant(usize::MAX),
        Err(Error::FrameTooLarge {
            len: u32::MAX,
            max: 120
        })
    ));
}

#[test]
fn out_of_order_commit_is_delivered_in_claim_order() {
    let mut bytes = AlignedBytes::<{ 512 + 256 }>::new();
    let ring = Ring::init(Region::from_slice(&mut bytes[..]), 256).unwrap();
    let a = ring.producer().unwrap().with_id(1).unwrap();
    let b = ring.producer().unwrap().with_id(2).unwrap();
    let mut rx = ring.consumer().unwrap();
    let mut ga = a.try_grant(5).unwrap();
    let mut gb = b.try_grant(3).unwrap();
    gb.copy_from_slice(b"bbb").unwrap();
    gb.commit(3).unwrap();
    // The first claim holds the second back.
    assert!(matches!(rx.try_read(), Err(Error::Empty)));
    let stall = rx.stalled().unwrap().unwrap();
    assert_eq!(
        (stall.position, stall.claimant, stall.len),
        (0, Some(1), Some(5))
    );
    ga.copy_from_slice(b"aaaaa").unwrap();
    ga.commit(5).unwrap();
    let f = rx.try_read().unwrap();
    assert_eq!((f.len(), f.claimant()), (5, 1));
    f.release();
    assert_eq!(recv_vec(&mut rx).unwrap(), b"bbb");
}

#[test]
fn grant_commit_shrink_drop_and_oversize() {
    let mut bytes = AlignedBytes::<{ 512 + 256 }>::new();
    let ring = Ring::init_at(Region::from_slice(&mut bytes[..]), 256, u32::MAX - 7).unwrap();
    let (tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    // Shrinks by less than a record unit, and by more.
    for (granted, used) in [(7, 5), (100, 1), (100, 0), (64, 56), (120, 120)] {
        let mut g = tx.try_grant(granted).unwrap();
        g.copy_from_slice(&frame(1, granted)).unwrap();
        g.commit(used).unwrap();
        assert_eq!(
            recv_vec(&mut rx).unwrap(),
            frame(1, granted)[..used],
            "{granted} {used}"
        );
        assert_eq!(recv_vec(&mut rx), Err(Error::Empty));
    }
    // Committing more than granted commits nothing, and the space is not
    // lost: the consumer moves on.
    let g = tx.try_grant(10).unwrap();
    assert_eq!(g.commit(11), Err(Error::OutOfRange { end: 11, len: 10 }));
    tx.try_send(b"next").unwrap();
    assert_eq!(recv_vec(&mut rx).unwrap(), b"next");
    // A dropped grant never holds the consumer up.
    let g = tx.try_grant(50).unwrap();
    tx.try_send(b"behind").unwrap();
    assert_eq!(recv_vec(&mut rx), Err(Error::Empty));
    drop(g);
    assert_eq!(recv_vec(&mut rx).unwrap(), b"behind");
    assert_eq!(rx.skipped(), Skipped::default());
    // Out-of-range writes write nothing.
    let mut g = tx.try_grant(4).unwrap();
    assert!(g.write_at(usize::MAX, b"x").is_err());
    assert!(g.write_at(4, b"x").is_err());
    g.write_at(4, b"").unwrap();
    g.write_at(1, b"yz").unwrap();
    g.commit(4).unwrap();
    assert_eq!(recv_vec(&mut rx).unwrap(), b"\0yz\0");
}

#[test]
fn buffer_too_small_leaves_the_frame_queued() {
    let owned = StaticRing::<64>::new();
    let ring = owned.ring();
    let (tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    tx.try_send(b"12345").unwrap();
    assert_eq!(
        rx.try_recv(&mut [0; 4]),
        Err(Error::BufferTooSmall { required: 5 })
    );
    let f = rx.try_read().unwrap();
    assert_eq!(
        f.copy_to(&mut [0; 1]),
        Err(Error::BufferTooSmall { required: 5 })
    );
    let mut part = [0; 3];
    assert_eq!(f.read_partial(3, &mut part), 2);
    assert_eq!(&part[..2], b"45");
    assert_eq!(f.read_partial(usize::MAX, &mut part), 0);
    // SAFETY: both ends are in this test.
    assert_eq!(unsafe { f.as_slice() }, b"12345");
    drop(f);
    assert_eq!(recv_vec(&mut rx).unwrap(), b"12345");
}

#[test]
fn consumed_space_is_zeroed() {
    let mut bytes = AlignedBytes::<{ 512 + 64 }>::new();
    {
        let ring = Ring::init(Region::from_slice(&mut bytes[..]), 64).unwrap();
        let (tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
        tx.try_send(&[0xff; 24]).unwrap();
        tx.try_send(&[0xee; 20]).unwrap();
        recv_vec(&mut rx).unwrap();
        recv_vec(&mut rx).unwrap();
    }
    assert!(bytes[DATA..].iter().all(|&b| b == 0));
}

#[test]
fn the_consumer_role_is_claimed_and_handed_over() {
    let owned = StaticRing::<64>::new();
    let ring = owned.ring();
    let (tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    assert_eq!(
        ring.consumer().unwrap_err(),
        Error::RoleTaken(Role::Consumer)
    );
    tx.try_send(b"1").unwrap();
    tx.try_send(b"2").unwrap();
    assert_eq!(recv_vec(&mut rx).unwrap(), b"1");
    drop(rx);
    let mut rx = ring.consumer().unwrap();
    assert_eq!(recv_vec(&mut rx).unwrap(), b"2");
    let waking = StaticRing::<64>::with_wakes(true);
    assert_eq!(waking.ring().consumer().unwrap_err(), Error::NotifyMismatch);
}

// ---------------------------------------------------------------------------
// Bad input from a peer.

/// A ring on raw peer memory with frames `0..n` sent (not read), the
/// consumer claimed; returns (memory, tail after them).
fn peer_ring(cap: u32, start: u32, sent: usize) -> (PeerMemory, u32) {
    let mem = PeerMemory::new();
    let ring = Ring::init_at(mem.region(), cap, start).unwrap();
    let tx = ring.producer().unwrap();
    for i in 0..sent {
        tx.try_send(&frame(i as u8, 5)).unwrap();
    }
    let tail = mem.word(TAIL).load(SeqCst);
    (mem, tail)
}

/// A ring of `cap` bytes from `start` with frames `0..sent`, then a record
/// a peer forged at `tail`: `claim` bytes claimed the way a producer does,
/// `word` as the first header word (claimant 0). The consumer gets the good
/// frames, then `Corrupted`, and stays so (the bad record is not skipped).
fn forged_is_corrupted(cap: u32, start: u32, sent: usize, word: u32, claim: u32) {
    let (mem, tail) = peer_ring(cap, start, sent);
    mem.word(hdr(cap, tail, 1)).store(0, SeqCst);
    mem.word(hdr(cap, tail, 0)).store(word, SeqCst);
    mem.word(TAIL).store(tail.wrapping_add(claim), SeqCst);
    let ring = Ring::attach(mem.region()).unwrap();
    let mut rx = ring.consumer().unwrap();
    for i in 0..sent {
        assert_eq!(recv_vec(&mut rx).unwrap(), frame(i as u8, 5), "frame {i}");
    }
    for _ in 0..2 {
        assert!(
            matches!(recv_vec(&mut rx), Err(Error::Corrupted(_))),
            "expected Corrupted"
        );
        assert!(matches!(rx.try_read(), Err(Error::Corrupted(_))));
        assert!(matches!(rx.stalled(), Err(Error::Corrupted(_))));
    }
}

#[test]
fn a_frame_longer_than_the_ring_is_corrupted() {
    let cap = 128;
    for word in [
        frame_word(max_frame_len(cap).unwrap() + 1),
        LEN_MASK,
        BUSY | LEN_MASK,
    ] {
        forged_is_corrupted(cap, u32::MAX - 23, 2, word, 16);
    }
}

#[test]
fn a_header_past_the_end_or_past_tail_is_corrupted() {
    let cap = 128;
    // Three 16-byte frames from 64: the next record starts at offset 112,
    // 16 bytes before the end; a 20-byte frame there runs past it.
    forged_is_corrupted(cap, 64, 3, frame_word(20), 32);
    // A frame longer than what `tail` published.
    forged_is_corrupted(cap, 0, 1, frame_word(30), 16);
    // Shorter than a header, flags both set.
    for word in [4, PAD | BUSY | 16] {
        forged_is_corrupted(cap, 0, 1, word, 16);
    }
}

#[test]
fn padding_in_the_wrong_place_is_corrupted() {
    let cap = 128;
    // Padding that does not reach the end.
    forged_is_corrupted(cap, 0, 2, PAD | 16, 32);
    // Padding that runs past the end.
    forged_is_corrupted(cap, 64, 2, PAD | 64, 96);
    // Padding at offset 0.
    forged_is_corrupted(cap, 128, 0, PAD | 128, 128);
    // Padding with no frame after it (tail at the end of the padding).
    forged_is_corrupted(cap, 64, 2, PAD | 32, 32);
}

#[test]
fn bad_positions_are_corrupted_for_both_sides() {
    let cap = 128;
    for (head, tail) in [(0, 136), (0, 4), (8, 0), (0, u32::MAX - 7), (3, 3)] {
        let mem = PeerMemory::new();
        let ring = Ring::init(mem.region(), cap).unwrap();
        let tx = ring.producer().unwrap();
        mem.word(HEAD).store(head, SeqCst);
        mem.word(TAIL).store(tail, SeqCst);
        assert!(
            matches!(tx.try_send(b"x"), Err(Error::Corrupted(_))),
            "{head} {tail}"
        );
        assert!(matches!(tx.try_grant(1), Err(Error::Corrupted(_))));
        match ring.consumer() {
            Err(Error::Corrupted(_)) => {
                // The role was given back.
                assert_eq!(mem.word(CLAIM).load(SeqCst), 0);
            }
            other => panic!("{head} {tail}: {other:?}"),
        }
    }
    // A tail that goes bad after the consumer attached.
    let (mem, tail) = peer_ring(cap, 0, 2);
    let ring = Ring::attach(mem.region()).unwrap();
    let mut rx = ring.consumer().unwrap();
    recv_vec(&mut rx).unwrap();
    recv_vec(&mut rx).unwrap();
    mem.word(TAIL).store(tail + 1000, SeqCst);
    assert!(matches!(recv_vec(&mut rx), Err(Error::Corrupted(_))));
}

#[test]
fn garbage_headers_never_panic_or_escape() {
    let cap = 256;
    let rounds = if cfg!(miri) { 3 } else { 300 };
    let mut random = xorshift(0x2545_F491);
    let mut next = move || random.next().unwrap();
    let (mut frames, mut corrupted) = (0, 0);
    for round in 0..rounds {
        let (mem, tail) = peer_ring(cap, (round as u32) << 3, 3);
        // Scribble over the record after the good ones and some beyond.
        for i in 0..16 {
            let pos = tail.wrapping_add(4 * i);
            let w = match next() % 4 {
                0 => next() & (PAD | BUSY | 0xff),
                1 => next() & 0x1ff,
                _ => next(),
            };
            mem.word(DATA + (pos & (cap - 1)) as usize).store(w, SeqCst);
        }
        mem.word(TAIL)
            .store(tail.wrapping_add(8 * (next() % 26)), SeqCst);
        let ring = Ring::attach(mem.region()).unwrap();
        let Ok(mut rx) = ring.consumer() else {
            corrupted += 1;
            continue;
        };
        for _ in 0..10 {
            match recv_vec(&mut rx) {
                Ok(_) => frames += 1,
                Err(Error::Empty) => {}
                Err(Error::Corrupted(_)) => corrupted += 1,
                Err(e) => panic!("{e}"),
            }
            if let Ok(Some(stall)) = rx.stalled() {
                let _ = rx.skip_stalled(&stall);
            }
        }
    }
    assert!(frames >= 3 * rounds && corrupted > 0);
}

// ---------------------------------------------------------------------------
// Stalled producers.

#[test]
fn a_busy_record_is_skipped_by_its_length() {
    let mut bytes = AlignedBytes::<{ 512 + 128 }>::new();
    let ring = Ring::init_at(Region::from_slice(&mut bytes[..]), 128, u32::MAX - 31).unwrap();
    let dead = ring.producer().unwrap().with_id(77).unwrap();
    let tx = ring.producer().unwrap().with_id(5).unwrap();
    let mut rx = ring.consumer().unwrap();
    tx.try_send(b"before").unwrap();
    let mut g = dead.try_grant(30).unwrap();
    g.copy_from_slice(&[9; 30]).unwrap();
    core::mem::forget(g);
    tx.try_send(b"after").unwrap();
    assert_eq!(recv_vec(&mut rx).unwrap(), b"before");
    assert_eq!(recv_vec(&mut rx), Err(Error::Empty));
    let stall = rx.stalled().unwrap().unwrap();
    assert_eq!(
        (stall.position, stall.claimant, stall.len),
        (0, Some(77), Some(30))
    );
    // A stall of another position, or a changed record, skips nothing.
    let mut other = stall;
    other.position += 8;
    assert_eq!(rx.skip_stalled(&other), Ok(0));
    other = stall;
    other.claimant = Some(1);
    assert_eq!(rx.skip_stalled(&other), Ok(0));
    assert_eq!(rx.skip_stalled(&stall), Ok(40));
    assert_eq!(rx.skip_stalled(&stall), Ok(0));
    assert_eq!(recv_vec(&mut rx).unwrap(), b"after");
    assert_eq!(
        rx.skipped(),
        Skipped {
            records: 1,
            bytes: 40
        }
    );
    // The ring goes on working across the wrap, skipped space zeroed.
    round_trips(&tx, &mut rx, 20, 40);
}

#[test]
fn an_unwritten_record_is_skipped_to_the_next_header() {
    let mem = PeerMemory::new();
    let ring = Ring::init_at(mem.region(), 256, 160).unwrap();
    let (tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    tx.try_send(b"first").unwrap();
    // A producer claims 48 bytes (a record of 40 payload bytes) and dies
    // before writing its header.
    let tail = mem.word(TAIL).load(SeqCst);
    mem.word(TAIL).store(tail + 48, SeqCst);
    tx.try_send(&[1; 60]).unwrap(); // pads the ring end and goes to 0
    assert_eq!(recv_vec(&mut rx).unwrap(), b"first");
    assert_eq!(recv_vec(&mut rx), Err(Error::Empty));
    let stall = rx.stalled().unwrap().unwrap();
    assert_eq!(
        (stall.position, stall.claimant, stall.len),
        (tail, None, None)
    );
    assert_eq!(rx.skip_stalled(&stall), Ok(48));
    assert_eq!(recv_vec(&mut rx).unwrap(), [1; 60]);
    assert_eq!(rx.skipped().bytes, 48);
}

#[test]
fn an_unwritten_record_at_the_end_is_skipped_only_if_tail_did_not_move() {
    let mem = PeerMemory::new();
    let ring = Ring::init_at(mem.region(), 128, u32::MAX - 15).unwrap();
    let (tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    // Dead claimant: claim only.
    mem.word(TAIL)
        .store((u32::MAX - 15).wrapping_add(24), SeqCst);
    let stall = rx.stalled().unwrap().unwrap();
    assert_eq!(stall.position, u32::MAX - 15);
    // Another claim, also not written yet: the stall is too young to skip.
    mem.word(TAIL)
        .store((u32::MAX - 15).wrapping_add(40), SeqCst);
    assert_eq!(rx.skip_stalled(&stall), Ok(0));
    let stall = rx.stalled().unwrap().unwrap();
    assert_eq!(rx.skip_stalled(&stall), Ok(40));
    assert_eq!(recv_vec(&mut rx), Err(Error::Empty));
    assert_eq!(rx.stalled(), Ok(None));
    tx.try_send(b"alive").unwrap();
    assert_eq!(recv_vec(&mut rx).unwrap(), b"alive");
}

#[test]
fn a_dead_claim_with_padding_is_skipped() {
    let cap = 128;
    let mem = PeerMemory::new();
    let ring = Ring::init_at(mem.region(), cap, 96).unwrap();
    let (tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    // A claim of 32 bytes of padding plus a 48-byte record at 0, nothing
    // written; then a live frame behind it.
    mem.word(TAIL).store(96 + 32 + 48, SeqCst);
    tx.try_send(b"live").unwrap();
    let stall = rx.stalled().unwrap().unwrap();
    assert_eq!(rx.skip_stalled(&stall), Ok(80));
    assert_eq!(recv_vec(&mut rx).unwrap(), b"live");
    // The padding was written, the record header not.
    let (mem, tail) = peer_ring(cap, 96, 0);
    mem.word(hdr(cap, tail, 0)).store(PAD | 32, SeqCst);
    mem.word(TAIL).store(tail + 32 + 48, SeqCst);
    let ring = Ring::attach(mem.region()).unwrap();
    let mut rx = ring.consumer().unwrap();
    assert_eq!(recv_vec(&mut rx), Err(Error::Empty));
    let stall = rx.stalled().unwrap().unwrap();
    assert_eq!(stall.position, tail + 32);
    assert_eq!(rx.skip_stalled(&stall), Ok(48));
}

#[test]
fn blocking_reads_skip_a_record_stalled_past_the_timeout() {
    let mut bytes = AlignedBytes::<{ 512 + 256 }>::new();
    let ring = Ring::init(Region::from_slice(&mut bytes[..]), 256).unwrap();
    let tx = ring.producer().unwrap();
    let mut rx = ring.consumer_with(clocked()).unwrap();
    core::mem::forget(tx.try_grant(12).unwrap());
    tx.try_send(b"one").unwrap();
    // Without a stall timeout: a timeout.
    assert_eq!(
        rx.recv_timeout(&mut [0; 8], Some(Duration::from_millis(20))),
        Err(Error::TimedOut)
    );
    rx.set_stall_timeout(Some(Duration::from_millis(20)));
    let started = std::time::Instant::now();
    assert_eq!(rx.recv(&mut [0; 8]), Ok(3));
    assert!(started.elapsed() >= Duration::from_millis(20));
    assert_eq!(rx.skipped().records, 1);
    // Without a clock, a stall timeout cannot be honoured.
    drop(rx);
    let mut rx = ring.consumer().unwrap();
    rx.set_stall_timeout(Some(Duration::from_millis(1)));
    core::mem::forget(tx.try_grant(1).unwrap());
    assert_eq!(rx.recv(&mut [0; 8]), Err(Error::NoClock));
}

// ---------------------------------------------------------------------------
// Threads and blocking.

/// Frame `seq` of producer `p`: producer, sequence and a checksum.
fn tagged(p: u8, seq: u32) -> Vec<u8> {
    let len = (seq as usize * 13 + p as usize) % 48;
    let mut f = vec![p];
    f.extend_from_slice(&seq.to_le_bytes());
    f.extend((0..len).map(|i| (seq as u8).wrapping_add(i as u8) ^ p));
    f
}

fn run_threads<N: Notify + Clone + Send + Sync>(options: Options, notify: N, per: u32) {
    let mem = PeerMemory::new();
    let ring = Ring::init_with(mem.region(), options).unwrap();
    let mut rx = ring.consumer_with(notify.clone()).unwrap();
    std::thread::scope(|s| {
        for p in 0..3u8 {
            let tx = ring
                .producer_with(notify.clone())
                .unwrap()
                .with_id(u32::from(p))
                .unwrap();
            s.spawn(move || {
                for seq in 0..per {
                    let f = tagged(p, seq);
                    if seq % 3 == 0 {
                        let mut g = tx.grant(f.len() + 2).unwrap();
                        g.copy_from_slice(&f).unwrap();
                        g.commit(f.len()).unwrap();
                    } else {
                        tx.send(&f).unwrap();
                    }
                }
            });
        }
        let mut next = [0u32; 3];
        let mut buf = [0u8; 64];
        for _ in 0..3 * per {
            let n = rx.recv(&mut buf).unwrap();
            let p = buf[0];
            let seq = u32::from_le_bytes(buf[1..5].try_into().unwrap());
            assert_eq!(seq, next[p as usize]);
            assert_eq!(&buf[..n], &tagged(p, seq)[..]);
            next[p as usize] += 1;
        }
    });
    drop(rx);
    assert_eq!(mem.word(CONSUMER_WAITING).load(SeqCst), 0);
}

#[test]
fn three_spinning_producer_threads() {
    let per = if cfg!(miri) { 30 } else { 5000 };
    run_threads(Options::new(256).start_at(u32::MAX - 255), Spin::new(), per);
}

#[test]
fn three_sleeping_producer_threads_and_a_sleeping_consumer() {
    let per = if cfg!(miri) { 30 } else { 5000 };
    let options = Options::new(128).start_at(u32::MAX - 127).waking(true);
    run_threads(options, CondvarFutex::default(), per);
}

#[test]
fn a_sleeping_consumer_is_woken_by_the_doorbell() {
    let mem = PeerMemory::new();
    let ring = Ring::init_with(mem.region(), Options::new(64).waking(true)).unwrap();
    let futex = CondvarFutex::default();
    let (tx, mut rx) = (
        ring.producer_with(futex.clone()).unwrap(),
        ring.consumer_with(futex).unwrap(),
    );
    std::thread::scope(|s| {
        s.spawn(|| {
            while mem.word(CONSUMER_WAITING).load(SeqCst) == 0 {
                std::thread::yield_now();
            }
            tx.send(b"ding").unwrap();
        });
        assert_eq!(rx.recv(&mut [0; 8]), Ok(4));
    });
    assert_eq!(mem.word(DOORBELL).load(SeqCst), 1);
    // No waiter: no doorbell.
    ring.producer_with(CondvarFutex::default())
        .unwrap()
        .send(b"x")
        .unwrap();
    assert_eq!(mem.word(DOORBELL).load(SeqCst), 1);
    let _ = RECORD_HEADER_LEN;
}

//! One check per public method and constant (formerly one doctest each): the
//! getters, the exact and partial forms of the grant and frame methods,
//! the queries, and the documented errors.

use std::sync::atomic::Ordering::SeqCst;
use std::vec::Vec;

use super::*;
use crate::intent::Intent;
use crate::test_support::{PeerMemory, refuses_spinning_ends, std_clock};
use crate::{AlignedBytes, Region, Role};

type Bytes = AlignedBytes<1024>;

fn ring(bytes: &mut Bytes, capacity: u32) -> Ring<'_> {
    Ring::init(Region::from_slice(&mut bytes[..]), capacity).unwrap()
}

fn clocked() -> Spin {
    Spin::with_clock(std_clock)
}

#[test]
fn constants() {
    assert_eq!(DATA_OFFSET, 512);
    assert_eq!(DISCARDED, u32::MAX);
    assert_eq!(RETRY_LIMIT, 65_536);
    assert_eq!(SCAN_PASSES, 4);
    assert_eq!(
        Skipped::default(),
        Skipped {
            records: 0,
            bytes: 0
        }
    );
}

#[test]
fn options_default_to_position_0_and_spinning() {
    assert_eq!(Options::new(64), Options::new(64).start_at(0).waking(false));
    assert_ne!(Options::new(64), Options::new(64).start_at(u32::MAX - 7));
    assert_ne!(Options::new(64), Options::new(64).waking(true));
}

#[test]
fn ring_getters_and_region_len() {
    assert_eq!(Ring::region_len(1024), Ok(512 + 1024));
    assert_eq!(Ring::region_len(1000), Err(Error::InvalidCapacity));
    let mut bytes = Bytes::new();
    let ring = ring(&mut bytes, 512);
    assert_eq!(ring.capacity(), 512);
    assert_eq!(ring.max_frame_len(), 248);
    assert!(!ring.wakes());
}

#[test]
fn init_clears_a_stale_data_area_of_an_exclusive_region() {
    let mut bytes = Bytes::new();
    bytes[..].fill(0xab);
    let ring = ring(&mut bytes, 256);
    let mut rx = ring.consumer().unwrap();
    assert_eq!(rx.try_recv(&mut [0; 8]), Err(Error::Empty));
    drop((rx, ring));
    assert!(
        bytes[DATA_OFFSET..DATA_OFFSET + 256]
            .iter()
            .all(|&b| b == 0)
    );
    // Beyond the ring: left alone.
    assert_eq!(bytes[DATA_OFFSET + 256], 0xab);
}

#[test]
fn a_static_ring_owns_its_memory() {
    static FRAMES: StaticRing<256> = StaticRing::new();
    let ring = FRAMES.ring();
    assert_eq!((ring.capacity(), ring.max_frame_len()), (256, 120));
    let (tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    tx.try_send(b"owned").unwrap();
    let mut buf = [0; 8];
    assert_eq!(rx.try_recv(&mut buf), Ok(5));
    assert_eq!(&buf[..5], b"owned");
    assert!(ring.consumer().is_err());
}

#[test]
fn init_refuses_bad_capacities_and_positions() {
    let mut bytes = Bytes::new();
    for bad in [0, 8, 48, 1024] {
        assert!(Ring::init(Region::from_slice(&mut bytes[..]), bad).is_err());
    }
    let bad = Options::new(256).start_at(3);
    assert_eq!(
        Ring::init_with(Region::from_slice(&mut bytes[..]), bad).unwrap_err(),
        Error::InvalidCapacity
    );
}

#[test]
fn init_at_wraps_positions() {
    let mut bytes = Bytes::new();
    let ring = Ring::init_at(Region::from_slice(&mut bytes[..]), 64, u32::MAX - 15).unwrap();
    let (tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    let mut buf = [0; 24];
    for i in 0..20u8 {
        tx.try_send(&[i; 20]).unwrap();
        assert_eq!(rx.try_recv(&mut buf), Ok(20));
        assert_eq!(buf[..20], [i; 20]);
    }
}

#[test]
fn a_waking_ring_refuses_a_spinning_notifier() {
    let mut bytes = Bytes::new();
    let options = Options::new(256).waking(true);
    let ring = Ring::init_with(Region::from_slice(&mut bytes[..]), options).unwrap();
    refuses_spinning_ends!(ring);
}

#[test]
fn attach_reads_the_header_and_refuses_other_kinds() {
    let mut bytes = Bytes::new();
    ring(&mut bytes, 256);
    let attached = Ring::attach(Region::from_slice(&mut bytes[..])).unwrap();
    assert_eq!(attached.capacity(), 256);
    let err = crate::mpmc::Ring::<u8>::attach(Region::from_slice(&mut bytes[..])).unwrap_err();
    assert_eq!(
        err,
        Error::KindMismatch {
            found: 5,
            expected: 2
        }
    );
}

#[test]
fn producer_getters() {
    let mut bytes = Bytes::new();
    let ring = ring(&mut bytes, 512);
    let tx = ring.producer().unwrap();
    assert_eq!(tx.id(), 0);
    assert_eq!(tx.capacity(), 512);
    assert_eq!(tx.max_frame_len(), 248);
    assert_eq!(tx.ring().capacity(), 512);
    assert_eq!(tx.clone().with_id(1234).unwrap().id(), 1234);
    assert_eq!(tx.with_id(DISCARDED).unwrap_err(), Error::InvalidCapacity);
}

#[test]
fn an_intent_is_withdrawn_once_the_header_names_the_claim() {
    let mut bytes = Bytes::new();
    let ring = ring(&mut bytes, 512);
    let intent = Intent::new();
    let tx = ring.producer().unwrap().with_intent(&intent);
    let grant = tx.try_grant(5).unwrap();
    assert_eq!(intent.read(), (0, 0));
    grant.commit(5).unwrap();
}

#[test]
fn sends_and_grants() {
    let mut bytes = Bytes::new();
    let ring = ring(&mut bytes, 512);
    let (tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    tx.try_send(b"").unwrap(); // empty frames are frames
    assert_eq!(rx.try_recv(&mut []), Ok(0));
    let mut grant = tx.try_grant(10).unwrap();
    grant.write_at(0, b"hello").unwrap();
    grant.write_at(5, b"world").unwrap();
    grant.commit(10).unwrap();
    let mut grant = tx.grant(3).unwrap();
    grant.copy_from_slice(b"abc").unwrap();
    grant.commit_all();
    tx.send(b"x").unwrap();
    tx.send_timeout(b"y", None).unwrap();
    let mut buf = [0; 16];
    assert_eq!(rx.try_recv(&mut buf), Ok(10));
    assert_eq!(&buf[..10], b"helloworld");
    assert_eq!(rx.recv(&mut buf), Ok(3));
    assert_eq!(&buf[..3], b"abc");
    assert_eq!(rx.recv_timeout(&mut buf, None), Ok(1));
    // A frame is there: no wait, so no clock needed.
    assert_eq!(
        rx.recv_timeout(&mut buf, Some(Duration::from_secs(1))),
        Ok(1)
    );
    assert_eq!(&buf[..1], b"y");
}

#[test]
fn send_waits_for_the_consumer() {
    let mut bytes = Bytes::new();
    let ring = ring(&mut bytes, 64);
    let (tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..100u8 {
                tx.send(&[i; 20]).unwrap();
            }
        });
        let mut buf = [0; 24];
        for i in 0..100u8 {
            assert_eq!(rx.recv(&mut buf), Ok(20));
            assert_eq!(buf[..20], [i; 20]);
        }
    });
}

#[test]
fn blocking_calls_time_out_with_a_clock_and_refuse_without_one() {
    let mut bytes = Bytes::new();
    let ring = ring(&mut bytes, 64);
    let tx = ring.producer_with(clocked()).unwrap();
    tx.send(&[0; 24]).unwrap();
    tx.send(&[0; 24]).unwrap();
    let short = Some(Duration::from_millis(5));
    assert_eq!(tx.grant_timeout(24, short).unwrap_err(), Error::TimedOut);
    // Spin has no clock: a timeout that would have to be waited out is refused.
    let plain = ring.producer().unwrap();
    assert_eq!(plain.send_timeout(&[0; 24], short), Err(Error::NoClock));
    let mut rx = ring.consumer_with(clocked()).unwrap();
    rx.try_recv(&mut [0; 24]).unwrap();
    rx.try_recv(&mut [0; 24]).unwrap();
    assert_eq!(rx.read_timeout(short).unwrap_err(), Error::TimedOut);
    assert_eq!(rx.recv_timeout(&mut [0; 24], short), Err(Error::TimedOut));
}

#[test]
fn full_and_too_large() {
    let mut bytes = Bytes::new();
    let ring = ring(&mut bytes, 64);
    let tx = ring.producer().unwrap();
    tx.try_send(&[1; 24]).unwrap(); // a 32-byte record
    tx.try_send(&[2; 24]).unwrap();
    assert_eq!(tx.try_send(&[3; 24]), Err(Error::Full));
    assert_eq!(tx.try_grant(0).unwrap_err(), Error::Full);
    assert_eq!(
        tx.try_send(&[0; 25]),
        Err(Error::FrameTooLarge { len: 25, max: 24 })
    );
}

#[test]
fn consumer_getters_and_reads() {
    let mut bytes = Bytes::new();
    let ring = ring(&mut bytes, 512);
    let (tx, mut rx) = (
        ring.producer().unwrap().with_id(7).unwrap(),
        ring.consumer().unwrap(),
    );
    assert_eq!(rx.capacity(), 512);
    assert_eq!(rx.max_frame_len(), 248);
    rx.ring().producer().unwrap().try_send(b"xy").unwrap();
    let frame = rx.try_read().unwrap();
    assert_eq!(
        (frame.len(), frame.claimant(), frame.is_empty()),
        (2, 0, false)
    );
    drop(frame); // not released: stays queued
    assert_eq!(rx.try_read().unwrap().len(), 2);
    rx.read().unwrap().release();
    tx.try_send(b"hello").unwrap();
    assert_eq!(
        rx.try_recv(&mut [0; 4]),
        Err(Error::BufferTooSmall { required: 5 })
    );
    assert_eq!(rx.read_timeout(None).unwrap().claimant(), 7);
    assert_eq!(rx.try_recv(&mut [0; 5]), Ok(5));
    assert_eq!(rx.try_read().unwrap_err(), Error::Empty);
    std::thread::scope(|s| {
        s.spawn(|| tx.send(b"late").unwrap());
        assert_eq!(rx.read().unwrap().len(), 4);
    });
}

#[test]
fn the_consumer_role_is_exclusive_and_recoverable() {
    let mut bytes = Bytes::new();
    let ring = ring(&mut bytes, 256);
    let rx = ring.consumer().unwrap();
    assert_eq!(
        ring.consumer().unwrap_err(),
        Error::RoleTaken(Role::Consumer)
    );
    drop(rx);
    let mut rx = ring.consumer_with(Spin::new()).unwrap();
    assert_eq!(rx.try_recv(&mut [0; 8]), Err(Error::Empty));
    ring.producer().unwrap().try_send(b"kept").unwrap();
    core::mem::forget(rx); // the holder "dies"
    assert_eq!(
        ring.consumer().unwrap_err(),
        Error::RoleTaken(Role::Consumer)
    );
    // SAFETY: the forgotten consumer is never used again.
    unsafe { ring.release_consumer_claim() };
    assert_eq!(ring.consumer().unwrap().try_recv(&mut [0; 8]), Ok(4));
}

#[test]
fn grant_exact_forms_fail_and_write_nothing() {
    let mut bytes = Bytes::new();
    let ring = ring(&mut bytes, 512);
    let (tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    assert!(tx.try_grant(0).unwrap().is_empty());
    let grant = tx.try_grant(7).unwrap();
    assert_eq!((grant.len(), grant.is_empty()), (7, false));
    drop(grant);
    let mut grant = tx.try_grant(2).unwrap();
    assert_eq!(
        grant.copy_from_slice(b"abc"),
        Err(Error::OutOfRange { end: 3, len: 2 })
    );
    assert_eq!(
        grant.write_at(usize::MAX, b"x"),
        Err(Error::OutOfRange {
            end: usize::MAX,
            len: 2
        })
    );
    grant.copy_from_slice(b"ab").unwrap();
    grant.commit(2).unwrap();
    let mut grant = tx.try_grant(4).unwrap();
    grant.write_at(2, b"cd").unwrap();
    assert_eq!(
        grant.write_at(3, b"xy"),
        Err(Error::OutOfRange { end: 5, len: 4 })
    );
    grant.commit(4).unwrap();
    let grant = tx.try_grant(4).unwrap();
    assert_eq!(grant.commit(5), Err(Error::OutOfRange { end: 5, len: 4 }));
    let mut buf = [9; 4];
    assert_eq!(rx.try_recv(&mut buf), Ok(2));
    assert_eq!(&buf[..2], b"ab");
    assert_eq!(rx.try_recv(&mut buf), Ok(4));
    assert_eq!(&buf, b"\0\0cd");
    // The over-long commit was discarded: nothing more.
    assert_eq!(rx.try_recv(&mut buf), Err(Error::Empty));
}

#[test]
fn grant_raw_forms_write_in_place() {
    let mut bytes = Bytes::new();
    let ring = ring(&mut bytes, 512);
    let (tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    let mut grant = tx.try_grant(3).unwrap();
    // SAFETY: both ends are in this test.
    unsafe { grant.as_mut_slice() }.copy_from_slice(b"xyz");
    grant.commit_all();
    let mut grant = tx.try_grant(2).unwrap();
    assert_eq!(grant.as_mut_ptr() as usize % 8, 0);
    // SAFETY: two bytes are granted and nobody else writes them.
    unsafe {
        grant
            .as_mut_ptr()
            .copy_from_nonoverlapping([1u8, 2].as_ptr(), 2)
    };
    grant.commit_all();
    let mut buf = [0; 3];
    assert_eq!(rx.try_recv(&mut buf), Ok(3));
    assert_eq!(&buf, b"xyz");
    assert_eq!(rx.try_recv(&mut buf), Ok(2));
    assert_eq!(buf[..2], [1, 2]);
}

#[test]
fn read_frame_exact_and_partial_forms() {
    let mut bytes = Bytes::new();
    let ring = ring(&mut bytes, 512);
    let (tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    tx.try_send(&[]).unwrap();
    assert!(rx.try_read().unwrap().is_empty());
    rx.try_read().unwrap().release();
    tx.try_send(b"abcdef").unwrap();
    let frame = rx.try_read().unwrap();
    assert_eq!(
        frame.copy_to(&mut [0; 2]),
        Err(Error::BufferTooSmall { required: 6 })
    );
    assert_eq!(frame.copy_to(&mut [0; 9]), Ok(6));
    let mut two = [0; 2];
    frame.read_at(4, &mut two).unwrap();
    assert_eq!(&two, b"ef");
    let mut untouched = [7; 2];
    assert_eq!(
        frame.read_at(5, &mut untouched),
        Err(Error::OutOfRange { end: 7, len: 6 })
    );
    assert_eq!(untouched, [7; 2]);
    assert_eq!(
        frame.read_at(usize::MAX, &mut two),
        Err(Error::OutOfRange {
            end: usize::MAX,
            len: 6
        })
    );
    frame.read_at(6, &mut []).unwrap();
    let mut buf = [0; 4];
    assert_eq!(frame.read_partial(4, &mut buf), 2);
    assert_eq!(&buf[..2], b"ef");
    assert_eq!(frame.read_partial(6, &mut buf), 0);
    assert_eq!(frame.read_partial(usize::MAX, &mut buf), 0);
    assert_eq!(frame.as_ptr() as usize % 8, 0);
    // SAFETY: six bytes were committed and are held by `frame`.
    assert_eq!(unsafe { frame.as_ptr().read() }, b'a');
    // SAFETY: both ends are in this test.
    assert_eq!(unsafe { frame.as_slice() }, b"abcdef");
    frame.release();
    assert_eq!(rx.try_read().unwrap_err(), Error::Empty);
}

#[test]
fn free_and_pending_bytes() {
    let mut bytes = Bytes::new();
    let ring = ring(&mut bytes, 256);
    let (tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    assert_eq!((tx.free_bytes(), rx.pending_bytes()), (256, 0));
    tx.try_send(b"abc").unwrap(); // 16 bytes
    let grant = tx.try_grant(8).unwrap(); // 16 more, in progress
    assert_eq!((tx.free_bytes(), rx.pending_bytes()), (224, 32));
    drop(grant);
    rx.try_recv(&mut [0; 4]).unwrap();
    assert_eq!((tx.free_bytes(), rx.pending_bytes()), (240, 16));
    assert_eq!(rx.try_recv(&mut [0; 4]), Err(Error::Empty)); // the discard
    assert_eq!((tx.free_bytes(), rx.pending_bytes()), (256, 0));
}

#[test]
fn corrupted_indices_clamp_the_queries_and_fail_the_next_operation() {
    const TAIL: usize = 128;
    let mem = PeerMemory::new();
    let ring = Ring::init(mem.region(), 256).unwrap();
    let (tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    tx.try_send(b"abc").unwrap();
    rx.try_recv(&mut [0; 4]).unwrap();
    for forged in [16 + 256 + 8, 20] {
        mem.word(TAIL).store(forged, SeqCst);
        assert_eq!((tx.free_bytes(), rx.pending_bytes()), (0, 256), "{forged}");
        assert!(matches!(tx.try_send(b"x"), Err(Error::Corrupted(_))));
        assert!(matches!(rx.try_recv(&mut [0; 4]), Err(Error::Corrupted(_))));
    }
    mem.word(TAIL).store(16, SeqCst);
    assert_eq!((tx.free_bytes(), rx.pending_bytes()), (256, 0));
}

#[test]
fn stalled_and_skip_stalled() {
    let mut bytes = Bytes::new();
    let ring = ring(&mut bytes, 512);
    let (tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    assert_eq!(rx.stalled(), Ok(None));
    let g = tx.try_grant(1).unwrap();
    assert!(rx.stalled().unwrap().is_some());
    g.commit(1).unwrap();
    assert_eq!(rx.stalled(), Ok(None)); // a frame is ready
    rx.try_recv(&mut [0; 1]).unwrap();
    let dead = tx.try_grant(10).unwrap();
    tx.try_send(b"after").unwrap();
    core::mem::forget(dead); // as if its process died mid-write
    let stall = rx.stalled().unwrap().expect("stalled");
    assert_eq!(rx.skip_stalled(&stall), Ok(24));
    assert_eq!(rx.skip_stalled(&stall), Ok(0)); // moved on
    assert_eq!(rx.try_recv(&mut [0; 8]), Ok(5));
    assert_eq!(
        rx.skipped(),
        Skipped {
            records: 1,
            bytes: 24
        }
    );
}

#[test]
fn an_unwritten_claim_is_skipped_by_its_intent() {
    const TAIL: usize = 128;
    let mem = PeerMemory::new();
    let ring = Ring::init(mem.region(), 256).unwrap();
    let mut rx = ring.consumer().unwrap();
    // A producer announces a claim of 24 bytes at 0, moves `tail` and dies
    // before writing its header.
    let dead = Intent::new();
    dead.announce(0, 24);
    mem.word(TAIL).store(24, SeqCst);
    ring.producer().unwrap().try_send(b"behind").unwrap();
    let stall = rx.stalled().unwrap().expect("stalled");
    assert_eq!((stall.position, stall.claimant, stall.len), (0, None, None));
    assert!(rx.is_pending(0).unwrap() && rx.is_pending(32).unwrap());
    assert!(!rx.is_pending(40).unwrap());
    // Attributed to the dead producer (the caller knows it is dead):
    let span = dead.names(stall.position).expect("named");
    assert!(matches!(rx.skip_unwritten(0, 12), Err(Error::Corrupted(_))));
    assert_eq!(rx.skip_unwritten(8, span), Ok(0)); // not the front
    assert_eq!(rx.skip_unwritten(stall.position, span), Ok(24));
    assert!(!rx.is_pending(0).unwrap());
    assert_eq!(rx.try_recv(&mut [0; 8]), Ok(6));
    assert_eq!(rx.skipped().bytes, 24);
}

#[test]
fn a_stall_timeout_skips_a_dead_grant_in_a_blocking_read() {
    let mut bytes = Bytes::new();
    let ring = ring(&mut bytes, 512);
    let (tx, mut rx) = (
        ring.producer().unwrap(),
        ring.consumer_with(clocked()).unwrap(),
    );
    core::mem::forget(tx.try_grant(3).unwrap()); // a producer that died
    tx.try_send(b"ok").unwrap();
    rx.set_stall_timeout(Some(Duration::from_millis(10)));
    assert_eq!(rx.recv(&mut [0; 4]), Ok(2));
    assert_eq!(rx.skipped().records, 1);
    // The caller's deadline still holds while a stall is watched.
    core::mem::forget(tx.try_grant(3).unwrap());
    rx.set_stall_timeout(Some(Duration::from_secs(60)));
    let got: Vec<_> = (0..2)
        .map(|_| rx.recv_timeout(&mut [0; 4], Some(Duration::from_millis(5))))
        .collect();
    assert_eq!(got, [Err(Error::TimedOut), Err(Error::TimedOut)]);
}

//! loom models of the broadcast frame ring (`ipckit_core::broadcast::frames`),
//! run against the shipping source through the core's `loom` sync facade.
//!
//! Run with
//! `RUSTFLAGS="--cfg ipckit_loom" CARGO_TARGET_DIR=target/loom cargo test -p ipckit-loom-tests --release --test broadcast_frames`.
//! Without `--cfg ipckit_loom` this file compiles to nothing.
//!
//! What the models cover (a ring of two 16-byte slots, frames of up to 8
//! bytes, whose payload is two loom atomics per 8 bytes read `Relaxed`, so
//! loom lets every word of a racing copy see the old or the new lap):
//! - a subscriber copies frames out (`try_recv_into`) while the publisher
//!   overwrites them across the `u32` wrap: each frame's length and bytes
//!   name its position, so an accepted torn frame (length or bytes of two
//!   laps) fails the model, and `received + lagged` comes out exact;
//! - the same with in-place reads (`try_read_with`): the closure's view
//!   may be torn, but a result is returned only if the stamp re-check
//!   passes (shown failing once with the re-check removed);
//! - a loan dropped unpublished while a subscriber a lap behind reads:
//!   its bytes are never returned, the subscriber lags past the slot it
//!   destroyed, and the next publication rewrites the slot.
//!
//! Each model sets a preemption bound, unless `LOOM_MAX_PREEMPTIONS` is set
//! in the environment, which then wins.
#![cfg(ipckit_loom)]

use ipckit_core::Error;
use ipckit_core::broadcast::frames::{FrameRing, FrameSubscriber};
use ipckit_core::broadcast::{Options, Start};
use ipckit_loom_tests::model;
use loom::thread;

/// The frame of position `p`: 4 or 8 bytes (by position), each 4 of them
/// naming `p`, so that a length or bytes of another lap show.
fn frame(p: u32) -> Vec<u8> {
    let n = if p % 2 == 0 { 1 } else { 2 };
    p.to_le_bytes().repeat(n)
}

/// A two-slot ring (32 bytes, slots of 16) started at `start`, with
/// `before` frames published, its publisher and a subscriber at the oldest.
fn ring_with(
    start: u32,
    before: u32,
) -> (
    FrameRing<'static>,
    ipckit_core::broadcast::frames::FramePublisher<'static>,
    FrameSubscriber<'static>,
) {
    let options = Options::new(32).slot_size(16).start_at(start);
    let ring = FrameRing::new_modelled_with(options).unwrap();
    let mut tx = ring.publisher().unwrap();
    for k in 0..before {
        tx.publish(&frame(start.wrapping_add(k))).unwrap();
    }
    let rx = ring.subscriber_from(Start::Oldest).unwrap();
    (ring, tx, rx)
}

/// Receives until `published` frames are accounted for (received or
/// lagged), copying out or reading in place; checks every frame against
/// its position. Returns (received, lagged).
fn account(rx: &mut FrameSubscriber<'_>, published: u32, in_place: bool) -> (u32, u64) {
    let mut expected = rx.position();
    let (mut received, mut lagged) = (0u32, 0u64);
    while u64::from(received) + lagged < u64::from(published) {
        let got = if in_place {
            rx.try_read_with(|f| {
                let mut v = vec![0; f.len()];
                f.copy_to(&mut v).map(|()| v)
            })
            .and_then(|r| r)
        } else {
            let mut buf = [0u8; 8];
            rx.try_recv_into(&mut buf).map(|len| buf[..len].to_vec())
        };
        match got {
            Ok(bytes) => {
                assert_eq!(bytes, frame(expected), "torn or misplaced frame");
                expected = expected.wrapping_add(1);
                received += 1;
            }
            Err(Error::Lagged(n)) => {
                assert!(n > 0);
                lagged += n;
                expected = expected.wrapping_add(n as u32);
                assert_eq!(rx.position(), expected);
            }
            Err(Error::Empty) => thread::yield_now(),
            Err(e) => panic!("receive: {e:?}"),
        }
    }
    assert_eq!(u64::from(received) + lagged, u64::from(published));
    (received, lagged)
}

/// Two frames are in the ring; a subscriber starts at the oldest and
/// copies frames out while the publisher overwrites both slots across the
/// wrap (positions MAX, 0, then 1, 2). Bound 3: 280,000 executions, 35 s.
#[test]
fn a_torn_frame_is_never_copied_out() {
    model(3, || {
        let start = u32::MAX;
        let (_ring, mut tx, mut rx) = ring_with(start, 2);
        let publisher = thread::spawn(move || {
            tx.publish(&frame(start.wrapping_add(2))).unwrap();
            tx.publish(&frame(start.wrapping_add(3))).unwrap();
        });
        account(&mut rx, 4, false);
        publisher.join().unwrap();
    });
}

/// The same race with in-place reads: what the closure saw is returned
/// only if the slot still held that frame afterwards. Bound 2 (21,000
/// executions, 3 s); bound 3 passes too (280,000, 35 s, by hand).
#[test]
fn a_torn_in_place_read_is_never_returned() {
    model(2, || {
        let start = u32::MAX;
        let (_ring, mut tx, mut rx) = ring_with(start, 2);
        let publisher = thread::spawn(move || {
            tx.publish(&frame(start.wrapping_add(2))).unwrap();
            tx.publish(&frame(start.wrapping_add(3))).unwrap();
        });
        account(&mut rx, 4, true);
        publisher.join().unwrap();
    });
}

/// A loan opens the slot of the oldest frame, writes bytes no frame holds
/// and is dropped, while the subscriber reads; then a frame is published
/// at that position. The loan's bytes are never returned and the count is
/// exact: received + lagged == 3.
#[test]
fn a_dropped_loan_publishes_nothing() {
    model(3, || {
        let start = u32::MAX - 1;
        let (_ring, mut tx, mut rx) = ring_with(start, 2);
        let publisher = thread::spawn(move || {
            let mut loan = tx.loan(8).unwrap();
            loan.write_at(0, &[0xEE; 8]).unwrap();
            drop(loan);
            assert_eq!(tx.position(), start.wrapping_add(2));
            tx.publish(&frame(start.wrapping_add(2))).unwrap();
        });
        account(&mut rx, 3, false);
        publisher.join().unwrap();
    });
}

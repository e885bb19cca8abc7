//! loom models of the MPSC frame ring (`ipckit_core::frame::mpsc`), run
//! against the shipping algorithm through the core's `loom` sync facade.
//! Under loom the data area is 8-byte units of two atomic header words and
//! one `UnsafeCell` of payload bytes, so a payload access that the header
//! protocol does not order is reported as a data race.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p ipckit-loom-tests --release --test frame_mpsc`.
//! Without `--cfg loom` this file compiles to nothing.
//!
//! What the models cover:
//! - two producers claiming on the `tail` compare-and-swap, the second
//!   committing before the first (forced): the consumer delivers in claim
//!   order, waits for the first, never reads a payload before its commit;
//! - a claim that pads the end of the data area and wraps to offset 0, with
//!   positions crossing `u32::MAX`, racing a second producer and the
//!   consumer; and the consumer's zeroing of consumed space against the
//!   next lap's producer;
//! - a consumer asleep on the doorbell (the [`LoomFutex`] emulation) while
//!   two producers commit: a lost wake-up is a loom deadlock;
//! - skipping a stalled record: a busy record of a dead producer, and an
//!   unwritten one (the producer died right after its claim) whose skip
//!   scans to the next header while that header's producer is still writing
//!   its payload.
#![cfg(loom)]

use ipckit_core::Error;
use ipckit_core::frame::mpsc::{Consumer, Options, Ring};
use ipckit_core::wait::Notify;
use ipckit_loom_tests::{LoomFutex, model};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicU32, Ordering};
use loom::thread;

/// Frame of `len` bytes from producer `tag`: never zero (the space starts
/// zeroed, so a read before the write shows), distinct per producer.
fn frame(tag: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| tag * 16 + i as u8 + 1).collect()
}

/// Counts producer threads that have published everything, so that a
/// consumer still finding the ring empty after all of them fails with a
/// clear message (a frame was lost) instead of spinning until loom's branch
/// limit.
#[derive(Clone)]
struct Finished(Arc<AtomicU32>);

impl Finished {
    fn new() -> Self {
        Self(Arc::new(AtomicU32::new(0)))
    }

    fn one(&self) {
        self.0.fetch_add(1, Ordering::Release);
    }

    /// The consumer's side of an empty ring: yield while producers run;
    /// once `all` finished, allow one more look, then fail.
    fn empty(&self, all: u32, last_chance: &mut bool) {
        assert!(
            !*last_chance,
            "all producers finished, the ring stays empty"
        );
        if self.0.load(Ordering::Acquire) == all {
            *last_chance = true;
        } else {
            thread::yield_now();
        }
    }
}

/// Receives one frame, yielding while the ring is empty.
fn recv_one<N: Notify>(rx: &mut Consumer<'_, N>, finished: &Finished, all: u32) -> Vec<u8> {
    let mut buf = [0u8; 16];
    let mut last_chance = false;
    loop {
        match rx.try_recv(&mut buf) {
            Ok(n) => return buf[..n].to_vec(),
            Err(Error::Empty) => finished.empty(all, &mut last_chance),
            Err(e) => panic!("{e}"),
        }
    }
}

/// A value that outlives the model's threads (a producer, so that a grant
/// claimed on one thread can be committed on another).
fn leak<T>(t: T) -> &'static T {
    Box::leak(Box::new(t))
}

/// A, then B claim (in that order, on the main thread); each writes and
/// commits on its own thread, so both commit orders are explored, B's first
/// among them. The consumer gets A's frame, then B's, intact: it waits for
/// A's commit even when B's is there.
#[test]
fn out_of_order_commit() {
    model(2, || {
        let ring = Ring::new_modelled(32, 0).unwrap();
        let a = leak(ring.producer().unwrap().with_id(1).unwrap());
        let b = leak(ring.producer().unwrap().with_id(2).unwrap());
        let mut rx = ring.consumer().unwrap();
        let mut ga = a.try_grant(3).unwrap();
        let mut gb = b.try_grant(5).unwrap();
        let finished = Finished::new();
        let (fa, fb) = (finished.clone(), finished.clone());
        let ta = thread::spawn(move || {
            ga.copy_from_slice(&frame(1, 3)).unwrap();
            ga.commit(3).unwrap();
            fa.one();
        });
        let tb = thread::spawn(move || {
            gb.copy_from_slice(&frame(2, 5)).unwrap();
            gb.commit(5).unwrap();
            fb.one();
        });
        assert_eq!(recv_one(&mut rx, &finished, 2), frame(1, 3));
        assert_eq!(recv_one(&mut rx, &finished, 2), frame(2, 5));
        ta.join().unwrap();
        tb.join().unwrap();
    });
}

/// Positions start at `u32::MAX - 7` (offset 24 of 32): a 4-byte frame
/// pads the last 8 bytes and goes to offset 0, racing another producer that
/// claims an empty frame (before it, at the end of the area, or after it)
/// and the consumer. The positions cross `u32::MAX`.
#[test]
fn wrap_with_padding() {
    model(2, || {
        let ring = Ring::new_modelled(32, u32::MAX - 7).unwrap();
        let a = ring.producer().unwrap();
        let b = ring.producer().unwrap();
        let mut rx = ring.consumer().unwrap();
        let finished = Finished::new();
        let (fa, fb) = (finished.clone(), finished.clone());
        let ta = thread::spawn(move || {
            a.try_send(&frame(1, 4)).unwrap();
            fa.one();
        });
        let tb = thread::spawn(move || {
            b.try_send(&frame(2, 0)).unwrap();
            fb.one();
        });
        let mut got = vec![
            recv_one(&mut rx, &finished, 2),
            recv_one(&mut rx, &finished, 2),
        ];
        got.sort();
        assert_eq!(got, [frame(2, 0), frame(1, 4)]);
        ta.join().unwrap();
        tb.join().unwrap();
    });
}

/// Space reuse: the ring starts with a frame that padded the end and
/// wrapped (`u32::MAX - 7`); two producers send into the space the consumer
/// is zeroing, sleeping (futex emulation) while it is full. Every frame
/// arrives intact, per producer in order; a producer that wrote before the
/// zeroing was ordered, or a lost wake-up, fails the model.
#[test]
fn producers_reuse_space_the_consumer_zeroes() {
    model(2, || {
        let options = Options::new(32).start_at(u32::MAX - 7).waking(true);
        let ring = Ring::new_modelled_with(options).unwrap();
        let futex = LoomFutex::new();
        let a = ring.producer_with(futex.clone()).unwrap();
        let b = ring.producer_with(futex.clone()).unwrap();
        let mut rx = ring.consumer_with(futex).unwrap();
        // Padding over offsets 24..32, the frame at 0..16.
        a.try_send(&frame(0, 8)).unwrap();
        let ta = thread::spawn(move || a.send(&frame(1, 4)).unwrap());
        let tb = thread::spawn(move || b.send(&frame(2, 0)).unwrap());
        let mut buf = [0u8; 8];
        let mut got = Vec::new();
        for _ in 0..3 {
            let n = rx.recv(&mut buf).unwrap();
            got.push(buf[..n].to_vec());
        }
        assert_eq!(got[0], frame(0, 8));
        got.sort();
        assert_eq!(got, [frame(2, 0), frame(0, 8), frame(1, 4)]);
        ta.join().unwrap();
        tb.join().unwrap();
    });
}

/// The consumer sleeps (doorbell, sleeping futex emulation) while two
/// producers commit one frame each: it must wake for both.
#[test]
fn sleeping_consumer_is_woken_by_commits() {
    model(2, || {
        let ring = Ring::new_modelled_with(Options::new(32).waking(true)).unwrap();
        let futex = LoomFutex::new();
        let a = ring.producer_with(futex.clone()).unwrap();
        let b = ring.producer_with(futex.clone()).unwrap();
        let mut rx = ring.consumer_with(futex).unwrap();
        let ta = thread::spawn(move || a.send(&frame(1, 1)).unwrap());
        let tb = thread::spawn(move || b.send(&frame(2, 2)).unwrap());
        let mut buf = [0u8; 8];
        let mut got = Vec::new();
        for _ in 0..2 {
            let n = rx.recv(&mut buf).unwrap();
            got.push(buf[..n].to_vec());
        }
        got.sort();
        assert_eq!(got, [frame(1, 1), frame(2, 2)]);
        ta.join().unwrap();
        tb.join().unwrap();
    });
}

/// A producer died holding a grant (header busy); another sends
/// concurrently. The consumer skips the dead record by its length and gets
/// the live frame.
#[test]
fn skip_a_busy_record_of_a_dead_producer() {
    model(2, || {
        let ring = Ring::new_modelled(32, 0).unwrap();
        let dead = ring.producer().unwrap().with_id(66).unwrap();
        let live = ring.producer().unwrap().with_id(7).unwrap();
        let mut rx = ring.consumer().unwrap();
        thread::spawn(move || {
            let mut g = dead.try_grant(6).unwrap();
            g.copy_from_slice(&frame(6, 6)).unwrap();
            std::mem::forget(g);
        })
        .join()
        .unwrap();
        let finished = Finished::new();
        let f = finished.clone();
        let t = thread::spawn(move || {
            live.try_send(&frame(1, 2)).unwrap();
            f.one();
        });
        let mut buf = [0u8; 8];
        let mut last_chance = false;
        let got = loop {
            match rx.try_recv(&mut buf) {
                Ok(n) => break buf[..n].to_vec(),
                Err(Error::Empty) => {
                    if let Some(stall) = rx.stalled().unwrap() {
                        if stall.claimant == Some(66) {
                            assert_eq!(rx.skip_stalled(&stall).unwrap(), 16);
                            continue;
                        }
                    }
                    finished.empty(1, &mut last_chance);
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(got, frame(1, 2));
        assert_eq!(rx.skipped().records, 1);
        t.join().unwrap();
    });
}

/// A producer died right after its claim (no header); the next producer has
/// written its header and is still writing its payload and committing while
/// the consumer scans to that header, skips, and reads.
#[test]
fn skip_an_unwritten_record_while_the_next_is_written() {
    model(2, || {
        let ring = Ring::new_modelled(32, 24).unwrap();
        let dead = ring.producer().unwrap();
        let live = leak(ring.producer().unwrap().with_id(7).unwrap());
        let mut rx = ring.consumer().unwrap();
        // 8 bytes of claim at offset 24: the live record goes to offset 0.
        assert!(dead.claim_and_die(0).unwrap());
        let mut g = live.try_grant(3).unwrap();
        let finished = Finished::new();
        let f = finished.clone();
        let t = thread::spawn(move || {
            g.copy_from_slice(&frame(1, 3)).unwrap();
            g.commit(3).unwrap();
            f.one();
        });
        let stall = rx.stalled().unwrap().expect("stalled");
        assert_eq!((stall.position, stall.claimant), (24, None));
        assert_eq!(rx.skip_stalled(&stall).unwrap(), 8);
        assert_eq!(recv_one(&mut rx, &finished, 1), frame(1, 3));
        assert_eq!(rx.skipped().bytes, 8);
        t.join().unwrap();
    });
}

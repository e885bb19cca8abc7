//! loom models of the MPSC frame ring (`ipckit_core::frame::mpsc`), run
//! against the shipping algorithm through the core's `loom` sync facade.
//! Under loom the data area is 8-byte units of two atomic header words and
//! one `UnsafeCell` of payload bytes, so a payload access that the header
//! protocol does not order is reported as a data race.
//!
//! Run with
//! `RUSTFLAGS="--cfg ipckit_loom" CARGO_TARGET_DIR=target/loom cargo test -p ipckit-loom-tests --release --test frame_mpsc`.
//! Without `--cfg ipckit_loom` this file compiles to nothing.
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
//!   its payload;
//! - a consumer killed at every step of its erase of a record (journal,
//!   zeroing, header word, `head`) while a producer waits for the space it
//!   frees, and the consumer that takes over: the record is delivered again
//!   only if the kill came before the journal, every later frame once;
//! - a producer that announces its claim in its intent, wins the
//!   compare-and-swap and dies before writing a header, racing a live
//!   producer that claims before or after it, with padding and a wrap: the
//!   consumer, judging death before the dead producer's last intent, skips
//!   exactly the dead claim and delivers the live frame.
#![cfg(ipckit_loom)]

use ipckit_core::Error;
use ipckit_core::frame::mpsc::{Consumer, Options, Ring};
use ipckit_core::intent::Intent;
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
    let mut buf = [0u8; 32];
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

/// Sends `f`, yielding while the ring is full.
fn send_spinning(tx: &ipckit_core::frame::mpsc::Producer<'_>, f: &[u8]) {
    loop {
        match tx.try_send(f) {
            Ok(()) => return,
            Err(Error::Full) => thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
}

/// A consumer has consumed frame Z (24 bytes), so its journal names that
/// erase; it reads frame A (16 bytes) and is killed after `steps` steps of
/// A's erase (0: before its journal entry, 1: between the entry's two
/// stores, 6: after `head`), on its own thread. A producer sends B behind
/// A and then C, which needs A's space, so it waits for whichever consumer
/// frees it. After the death (joined), a new consumer takes over: A again
/// only for a kill before the journal names it, then B and C, intact, once.
/// C's writes into A's space race the zeroing of both consumers: loom
/// reports any that is not ordered after it.
#[test]
fn a_consumer_killed_mid_erase_is_taken_over() {
    for steps in 0..=6u32 {
        model(2, move || {
            let ring = Ring::new_modelled(64, 0).unwrap();
            let tx = ring.producer().unwrap();
            let mut dying = ring.consumer().unwrap();
            tx.try_send(&frame(0, 10)).unwrap(); // Z: 0..24
            let mut buf = [0u8; 32];
            assert_eq!(dying.try_recv(&mut buf), Ok(10));
            tx.try_send(&frame(1, 3)).unwrap(); // A: 24..40
            let finished = Finished::new();
            let f = finished.clone();
            let tp = thread::spawn(move || {
                tx.try_send(&frame(2, 10)).unwrap(); // B: 40..64
                send_spinning(&tx, &frame(3, 20)); // C: 0..32, over A's start
                f.one();
            });
            let tc = thread::spawn(move || {
                let mut buf = [0u8; 8];
                let (n, done) = dying.recv_and_die(&mut buf, steps).unwrap();
                assert_eq!(buf[..n], frame(1, 3));
                std::mem::forget(dying);
                done
            });
            assert_eq!(tc.join().unwrap(), steps >= 6);
            // SAFETY: the killed consumer is never used again (joined).
            unsafe { ring.release_consumer_claim() };
            let mut rx = ring.consumer().unwrap();
            if steps <= 1 {
                assert_eq!(recv_one(&mut rx, &finished, 1), frame(1, 3));
            }
            assert_eq!(recv_one(&mut rx, &finished, 1), frame(2, 10));
            assert_eq!(recv_one(&mut rx, &finished, 1), frame(3, 20));
            tp.join().unwrap();
            assert_eq!(rx.try_recv(&mut [0; 32]), Err(Error::Empty));
            assert_eq!(rx.skipped().records, 0);
        });
    }
}

/// Positions start at offset 56 of 64. The dead producer announces a claim
/// in its intent, wins the compare-and-swap on `tail` and dies (no
/// header); the live one (its own intent) claims and commits a frame,
/// before or after it, either of them padding the end and wrapping. The
/// consumer attributes an unwritten claim as the hosted receiver does:
/// a live producer's intent naming it means wait; the dead one's counts
/// only once its death is established (then its intent is read again). It
/// must skip exactly the dead claim, never the live one, and get the live
/// frame once.
#[test]
fn a_dead_claim_is_attributed_and_skipped() {
    model(2, || {
        let ring = Ring::new_modelled(64, 56).unwrap();
        let dead_intent = leak(Intent::new());
        let live_intent = leak(Intent::new());
        let dead = ring.producer().unwrap().with_intent(dead_intent);
        let live = ring
            .producer()
            .unwrap()
            .with_id(7)
            .unwrap()
            .with_intent(live_intent);
        let mut rx = ring.consumer().unwrap();
        let died = Arc::new(AtomicU32::new(0));
        let finished = Finished::new();
        let (d, fd, fl) = (died.clone(), finished.clone(), finished.clone());
        let td = thread::spawn(move || {
            assert!(dead.claim_and_die(3).unwrap()); // 16 bytes (+8 if it pads)
            d.store(1, Ordering::Release);
            fd.one();
        });
        let tl = thread::spawn(move || {
            live.try_send(&frame(2, 1)).unwrap();
            fl.one();
        });
        let mut buf = [0u8; 8];
        let mut got = None;
        let mut skipped = 0;
        let mut last_chance = false;
        while got.is_none() || skipped == 0 {
            match rx.try_recv(&mut buf) {
                Ok(n) => {
                    assert!(got.is_none(), "a second frame");
                    got = Some(buf[..n].to_vec());
                    continue;
                }
                Err(Error::Empty) => {}
                Err(e) => panic!("{e}"),
            }
            let mut unnamed = None;
            if let Some(stall) = rx.stalled().unwrap() {
                if stall.claimant.is_none() {
                    let position = stall.position;
                    // Death first, then the dead producer's intent.
                    let dead_now = died.load(Ordering::Acquire) == 1;
                    let live_names = live_intent.names(position).is_some();
                    match dead_intent.names(position) {
                        Some(span) if dead_now && !live_names => {
                            let n = rx.skip_unwritten(position, span).unwrap();
                            assert!(n == 16 || n == 24, "skipped {n}");
                            skipped += n;
                            continue;
                        }
                        Some(_) => {}
                        // Nobody, for now: the claim may have been finished
                        // since `stalled` looked. Look again.
                        None if !live_names => unnamed = Some(position),
                        None => {}
                    }
                }
            }
            if let (true, Some(position)) = (last_chance, unnamed) {
                panic!("every producer finished; the claim at {position} is named by no intent");
            }
            finished.empty(2, &mut last_chance);
        }
        assert_eq!(got.unwrap(), frame(2, 1));
        assert_eq!(rx.skipped().bytes, u64::from(skipped));
        assert_eq!(rx.try_recv(&mut buf), Err(Error::Empty));
        assert_eq!(rx.stalled().unwrap(), None);
        td.join().unwrap();
        tl.join().unwrap();
    });
}

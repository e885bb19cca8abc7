//! loom models of the SPSC frame ring (`ipckit_core::frame::spsc`), run
//! against the shipping algorithm through the core's `loom` sync facade.
//!
//! Run with `RUSTFLAGS="--cfg ipckit_loom" cargo test -p ipckit-loom-tests --release --test frame_spsc`.
//!
//! Every data byte of the ring is a loom `UnsafeCell`, so a record header or
//! payload byte read before the producer's `Release` of `tail` made it
//! visible (or written again before the consumer's `Release` of `head`
//! handed it back) is reported as a race. Frame contents are checked byte
//! for byte, so a stale, torn, lost or duplicated frame fails too.
#![cfg(ipckit_loom)]

use ipckit_core::Error;
use ipckit_core::frame::spsc::{Consumer, Options, Producer, Ring};
use ipckit_loom_tests::{Done, LoomFutex, Waiter, model};
use loom::thread;

/// The bytes of frame `seq`, `len` long (never all zero: the data area
/// starts zeroed).
fn frame(seq: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| seq.wrapping_mul(16) + i as u8 + 1)
        .collect()
}

fn send(tx: &mut Producer<'_>, bytes: &[u8]) {
    loop {
        match tx.try_send(bytes) {
            Ok(()) => return,
            Err(Error::Full) => thread::yield_now(),
            Err(e) => panic!("try_send: {e:?}"),
        }
    }
}

fn recv(rx: &mut Consumer<'_>, waiter: &mut Waiter) -> Vec<u8> {
    let mut buf = [0u8; 64];
    loop {
        match rx.try_recv(&mut buf) {
            Ok(n) => return buf[..n].to_vec(),
            Err(Error::Empty) => waiter.empty("try_recv"),
            Err(e) => panic!("try_recv: {e:?}"),
        }
    }
}

/// A 32-byte ring (largest frame 8) starting at offset 16: records of 16,
/// 8, 16 and 16 bytes, so the third lands at offset 8 and the fourth needs
/// a padding record at 24 and goes to offset 0, with the positions wrapping
/// past `u32::MAX` on the way. The producer finds the ring full and waits
/// for bytes the consumer hands back.
#[test]
fn copying_frames_wrap_behind_a_padding_record() {
    model(3, || {
        let options = Options::new(32).start_at(u32::MAX - 15);
        let ring = Ring::new_modelled_with(options).unwrap();
        let (mut tx, mut rx) = ring.split().unwrap();
        let lens = [8usize, 0, 8, 3];
        let done = Done::new();
        let mut waiter = done.waiter();
        let producer = thread::spawn(move || {
            for (seq, &len) in lens.iter().enumerate() {
                send(&mut tx, &frame(seq as u8, len));
            }
            done.set();
        });
        for (seq, &len) in lens.iter().enumerate() {
            assert_eq!(recv(&mut rx, &mut waiter), frame(seq as u8, len));
        }
        producer.join().unwrap();
        assert_eq!(rx.try_recv(&mut [0; 8]), Err(Error::Empty));
        assert_eq!(rx.pending_bytes(), 0);
    });
}

/// Zero-copy on both sides: the producer writes each frame in place through
/// a grant larger than the frame and commits it shorter; the consumer
/// borrows each frame, copies it out in two reads, then releases it. The
/// second frame wraps behind padding.
#[test]
fn grants_and_read_frames_in_place() {
    model(3, || {
        let options = Options::new(32).start_at(8);
        let ring = Ring::new_modelled_with(options).unwrap();
        let (mut tx, mut rx) = ring.split().unwrap();
        let done = Done::new();
        let mut waiter = done.waiter();
        let producer = thread::spawn(move || {
            for seq in 0..3u8 {
                let bytes = frame(seq, 5);
                let mut grant = loop {
                    match tx.try_grant(8) {
                        Ok(g) => break g,
                        Err(Error::Full) => thread::yield_now(),
                        Err(e) => panic!("try_grant: {e:?}"),
                    }
                };
                grant.write_at(2, &bytes[2..]).unwrap();
                grant.write_at(0, &bytes[..2]).unwrap();
                grant.commit(5).unwrap();
            }
            done.set();
        });
        for seq in 0..3u8 {
            let read = loop {
                match rx.try_read() {
                    Ok(f) => break f,
                    Err(Error::Empty) => waiter.empty("try_read"),
                    Err(e) => panic!("try_read: {e:?}"),
                }
            };
            assert_eq!(read.len(), 5);
            let mut out = [0u8; 5];
            read.read_at(3, &mut out[3..]).unwrap();
            assert_eq!(read.read_partial(0, &mut out[..3]), 3);
            read.release();
            assert_eq!(out.to_vec(), frame(seq, 5));
        }
        producer.join().unwrap();
    });
}

/// Blocking `send` and `recv` on a waking ring with sleeping waiters: a
/// 16-byte ring (largest frame 0 bytes) holds two 8-byte records, so the
/// third send may block until the consumer releases, and every recv may
/// block until a commit. A lost wake-up leaves both asleep, which loom
/// reports as a deadlock.
#[test]
fn blocking_send_and_recv_never_lose_a_wake_up() {
    model(3, || {
        let options = Options::new(16).waking(true);
        let ring = Ring::new_modelled_with(options).unwrap();
        let futex = LoomFutex::new();
        let mut tx = ring.producer_with(futex.clone()).unwrap();
        let mut rx = ring.consumer_with(futex).unwrap();
        let producer = thread::spawn(move || {
            for _ in 0..3 {
                tx.send(&[]).unwrap();
            }
        });
        for _ in 0..3 {
            assert_eq!(rx.recv(&mut []).unwrap(), 0);
        }
        producer.join().unwrap();
    });
}

/// Role claims race like the SPSC ring's: of two `producer()` calls exactly
/// one wins, and the winner resumes at the published `tail`.
#[test]
fn racing_producer_claims_have_one_winner() {
    model(3, || {
        let ring = Ring::new_modelled_with(Options::new(32)).unwrap();
        let (a, b) = (ring.clone(), ring.clone());
        let ta = thread::spawn(move || a.producer().map(|mut tx| tx.try_send(&[1]).is_ok()));
        let tb = thread::spawn(move || b.producer().map(|mut tx| tx.try_send(&[2]).is_ok()));
        let (ra, rb) = (ta.join().unwrap(), tb.join().unwrap());
        assert!(ra.is_ok() || rb.is_ok());
        let mut rx = ring.consumer().unwrap();
        let mut buf = [0u8; 8];
        let mut frames = 0;
        while rx.try_recv(&mut buf).is_ok() {
            frames += 1;
        }
        // Both may win one after the other (the first dropped its role),
        // never at the same time.
        assert_eq!(frames, ra.is_ok() as usize + rb.is_ok() as usize);
    });
}

//! loom models of the MPMC ring's batch claims (`push_partial_slice`,
//! `push_entire_slice`, `pop_partial_slice`, `pop_entire_slice`): one
//! compare-and-swap claims a run of slots, each of which was seen ready
//! (free, published) before it.
//!
//! Run with
//! `RUSTFLAGS="--cfg ipckit_loom" CARGO_TARGET_DIR=target/loom cargo test -p ipckit-loom-tests --release --test mpmc_batch`.
//!
//! What they cover: a run never includes a slot that is not ready (an item
//! not yet read from the previous lap, a position another producer claimed
//! and has not published): every item is a loom `UnsafeCell`, so a write
//! over an unread item, or a read of an unwritten one, is a reported race,
//! and the logs are checked for loss, duplication and per-producer order.
//! The wake-ups of a batch (one fence, every changed stamp) are checked
//! with a consumer that really sleeps.
//!
//! Shown failing when broken: a run counted without checking the stamps
//! after its first slot makes all three models fail (a producer writes over
//! an item the consumer has not read, a consumer reads a slot before its
//! item: loom's causality check, or wrong items); an exact claim that
//! answers `TooFewSlots` from a stale position word (without checking that
//! the word still reads the position it scanned from) made
//! `two_batch_producers_and_two_consumers` fail, which is how that bug was
//! found.
#![cfg(ipckit_loom)]

use ipckit_loom_tests::{LoomFutex, model};

use ipckit_core::Error;
use ipckit_core::mpmc::{Options, Ring};
use loom::thread;

/// Item `k` (from 1) of producer `id`: never zero, halves that must agree.
fn item(id: u32, k: u32) -> [u32; 2] {
    let v = id * 100 + k;
    [v, !v]
}

/// Checks one item as read: written, not torn.
fn check(v: [u32; 2]) -> [u32; 2] {
    assert_ne!(v, [0, 0], "observed a slot before its item");
    assert_eq!(v[1], !v[0], "torn item {v:?}");
    v
}

/// Two producers claim runs (one exact, one partial) while a consumer
/// takes runs (spinning) and another single items (sleeping), capacity 4
/// from `u32::MAX - 1` (positions and stamps wrap). No producer ever waits:
/// four slots hold the four items.
#[test]
fn two_batch_producers_and_two_consumers() {
    model(1, || {
        let options = Options::new(4).start_at(u32::MAX - 1).waking(true);
        let ring = Ring::<[u32; 2]>::new_modelled_with(options).unwrap();
        let futex = LoomFutex::new();
        let p1 = ring.producer_with(futex.clone()).unwrap();
        let p2 = ring.producer_with(futex.clone()).unwrap();
        let c2 = ring.consumer_with(futex.clone()).unwrap();
        let t1 = thread::spawn(move || {
            p1.push_entire_slice(&[item(1, 1), item(1, 2)]).unwrap();
        });
        let t2 = thread::spawn(move || {
            assert_eq!(p2.push_partial_slice(&[item(2, 1), item(2, 2)]), Ok(2));
        });
        let t3 = thread::spawn(move || check(c2.pop().unwrap()));
        let rx = ring.consumer_with(futex).unwrap();
        let mut log = Vec::new();
        let mut out = [[0u32; 2]; 4];
        while log.len() < 3 {
            match rx.pop_partial_slice(&mut out[..3 - log.len()]) {
                Ok(n) => log.extend(out[..n].iter().map(|&v| check(v))),
                Err(Error::Empty | Error::Busy) => thread::yield_now(),
                Err(e) => panic!("pop_partial_slice: {e:?}"),
            }
        }
        t1.join().unwrap();
        t2.join().unwrap();
        let other = t3.join().unwrap();
        // Each producer's items in order in the batch consumer's log.
        for id in [1, 2] {
            let ks: Vec<u32> = log
                .iter()
                .filter(|v| v[0] / 100 == id)
                .map(|v| v[0] % 100)
                .collect();
            assert!(ks.windows(2).all(|w| w[0] < w[1]), "order {log:?}");
        }
        log.push(other);
        let mut all: Vec<u32> = log.iter().map(|v| v[0]).collect();
        all.sort_unstable();
        assert_eq!(all, vec![101, 102, 201, 202], "lost or duplicated");
        assert_eq!(rx.try_pop(), Err(Error::Empty));
    });
}

/// One producer pushes four items in runs through two slots (it spins on
/// `Full` and `Busy`), while the consumer sleeps in `pop`: every run must
/// stop at the slot whose previous item is unread (or being read), and
/// every publication of a run must wake the sleeper of its stamp.
#[test]
fn batch_producer_laps_a_sleeping_consumer() {
    model(3, || {
        let options = Options::new(2).start_at(u32::MAX).waking(true);
        let ring = Ring::<[u32; 2]>::new_modelled_with(options).unwrap();
        let futex = LoomFutex::new();
        let tx = ring.producer_with(futex.clone()).unwrap();
        let producer = thread::spawn(move || {
            let items = [item(1, 1), item(1, 2), item(1, 3), item(1, 4)];
            let mut sent = 0;
            while sent < items.len() {
                match tx.push_partial_slice(&items[sent..]) {
                    Ok(n) => sent += n,
                    Err(Error::Full | Error::Busy) => thread::yield_now(),
                    Err(e) => panic!("push_partial_slice: {e:?}"),
                }
            }
        });
        let rx = ring.consumer_with(futex).unwrap();
        let got: Vec<[u32; 2]> = (0..4).map(|_| check(rx.pop().unwrap())).collect();
        producer.join().unwrap();
        assert_eq!(got, vec![item(1, 1), item(1, 2), item(1, 3), item(1, 4)]);
        assert_eq!(ring.len(), 0);
    });
}

/// The consumer's side of the same: it takes runs (spinning) from a
/// producer that sleeps in `push` on a full ring of two; a run must stop at
/// the first unpublished position, and each release must wake the
/// producer.
#[test]
fn batch_consumer_drains_a_sleeping_producer() {
    model(3, || {
        let options = Options::new(2).start_at(u32::MAX - 1).waking(true);
        let ring = Ring::<[u32; 2]>::new_modelled_with(options).unwrap();
        let futex = LoomFutex::new();
        let tx = ring.producer_with(futex.clone()).unwrap();
        let producer = thread::spawn(move || {
            for k in 1..=3 {
                tx.push(item(1, k)).unwrap();
            }
        });
        let rx = ring.consumer_with(futex).unwrap();
        let mut got = Vec::new();
        let mut out = [[0u32; 2]; 2];
        while got.len() < 3 {
            match rx.pop_partial_slice(&mut out) {
                Ok(n) => got.extend(out[..n].iter().map(|&v| check(v))),
                Err(Error::Empty | Error::Busy) => thread::yield_now(),
                Err(e) => panic!("pop_partial_slice: {e:?}"),
            }
        }
        producer.join().unwrap();
        assert_eq!(got, vec![item(1, 1), item(1, 2), item(1, 3)]);
    });
}

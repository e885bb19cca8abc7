//! loom models of the event count (`ipckit_core::wait`) through the blocking
//! SPSC ring: a waiter that really sleeps (the [`LoomFutex`] emulation) must
//! always be released. A lost wake-up leaves every thread blocked, which
//! loom reports as a deadlock, so these models fail if the announcement, the
//! fences or the re-check were wrong.
//!
//! Run with `RUSTFLAGS="--cfg ipckit_loom" cargo test -p ipckit-loom-tests --release --test wait`.
#![cfg(ipckit_loom)]

use ipckit_core::spsc::{Options, Ring};
use ipckit_loom_tests::LoomFutex;
use ipckit_loom_tests::model;
use loom::thread;

/// The consumer sleeps on an empty ring while the producer pushes: the
/// waker/waiter race of the event count.
#[test]
fn sleeping_consumer_is_always_woken() {
    model(3, || {
        let ring = Ring::<u32>::new_modelled_with(Options::new(2).waking(true)).unwrap();
        let futex = LoomFutex::new();
        let mut tx = ring.producer_with(futex.clone()).unwrap();
        let mut rx = ring.consumer_with(futex).unwrap();
        let producer = thread::spawn(move || {
            tx.push(1).unwrap();
            tx.push(2).unwrap();
        });
        assert_eq!(rx.pop().unwrap(), 1);
        assert_eq!(rx.pop().unwrap(), 2);
        producer.join().unwrap();
    });
}

/// The producer sleeps on a full ring (capacity 1) while the consumer pops,
/// and the consumer sleeps on the empty ring: both directions of the event
/// count in one model, across the `u32` wrap.
#[test]
fn both_sides_sleep_and_are_woken() {
    model(2, || {
        let options = Options::new(1).start_at(u32::MAX).waking(true);
        let ring = Ring::<u32>::new_modelled_with(options).unwrap();
        let futex = LoomFutex::new();
        let mut tx = ring.producer_with(futex.clone()).unwrap();
        let mut rx = ring.consumer_with(futex).unwrap();
        let producer = thread::spawn(move || {
            for i in 1..=3 {
                tx.push(i).unwrap();
            }
        });
        for i in 1..=3 {
            assert_eq!(rx.pop().unwrap(), i);
        }
        producer.join().unwrap();
    });
}

/// Spinning waiters (`Spin`, no wake-ups at all) still see every item: the
/// non-waking mode skips the fence but not the data.
#[test]
fn spinning_waiters_need_no_wake() {
    model(3, || {
        let ring = Ring::<u32>::new_modelled(1, u32::MAX).unwrap();
        let (mut tx, mut rx) = ring.split().unwrap();
        let producer = thread::spawn(move || {
            tx.push(7).unwrap();
            tx.push(8).unwrap();
        });
        assert_eq!(rx.pop().unwrap(), 7);
        assert_eq!(rx.pop().unwrap(), 8);
        producer.join().unwrap();
    });
}

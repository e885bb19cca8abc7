//! loom models of the async waker (`ipckit_core::wait::waker`) through the
//! SPSC ring: a task awaiting the ring with `pop_async` / `push_async`
//! (under loom's `block_on`, which really parks until its waker is woken)
//! must always be woken. A lost wake-up leaves the task parked for ever,
//! which loom reports as a deadlock, so these models fail if the register,
//! the announcement, the fence or the re-check were wrong.
//!
//! Run with `RUSTFLAGS="--cfg ipckit_loom" cargo test -p ipckit-loom-tests --release --test waker`.
#![cfg(ipckit_loom)]

use ipckit_core::spsc::{Options, Ring};
use ipckit_core::wait::{AsyncNotify, AtomicWaker, WakerPair};
use ipckit_loom_tests::{leak, model};
use loom::future::block_on;
use loom::sync::atomic::{AtomicU32, Ordering};
use loom::thread;

/// Drops the wakers left registered at the end of a model (loom counts a
/// waker still held as a leak).
fn clear(pair: &WakerPair) {
    drop(pair.consumer().waker_slot().take());
    drop(pair.producer().waker_slot().take());
}

/// The consumer task awaits an empty ring while a producer thread (an
/// interrupt handler's stand-in) pushes: register and announce against the
/// producer's publication.
#[test]
fn awaiting_consumer_is_always_woken() {
    model(4, || {
        let ring = Ring::<u32>::new_modelled_with(Options::new(2).waking(true)).unwrap();
        let pair = leak(WakerPair::new());
        let mut tx = ring.producer_with(pair.producer()).unwrap();
        let mut rx = ring.consumer_with(pair.consumer()).unwrap();
        let producer = thread::spawn(move || {
            tx.try_push(1).unwrap();
            tx.try_push(2).unwrap();
        });
        assert_eq!(block_on(rx.pop_async()), Ok(1));
        assert_eq!(block_on(rx.pop_async()), Ok(2));
        producer.join().unwrap();
        drop(rx);
        clear(pair);
    });
}

/// Both ends are tasks on a one-slot ring: the producer awaits room, the
/// consumer awaits items, each woken by the other's publication.
#[test]
fn both_tasks_await_and_are_woken() {
    model(2, || {
        let ring = Ring::<u32>::new_modelled_with(Options::new(1).waking(true)).unwrap();
        let pair = leak(WakerPair::new());
        let mut tx = ring.producer_with(pair.producer()).unwrap();
        let mut rx = ring.consumer_with(pair.consumer()).unwrap();
        let producer = thread::spawn(move || {
            for i in 1..=2 {
                block_on(tx.push_async(i)).unwrap();
            }
        });
        for i in 1..=2 {
            assert_eq!(block_on(rx.pop_async()), Ok(i));
        }
        producer.join().unwrap();
        drop(rx);
        clear(pair);
    });
}

/// The slot alone, as `futures`' `AtomicWaker` is used: a task registers,
/// then checks a counter; another thread bumps the counter and wakes, twice.
/// Whatever the interleaving (a wake before, during or after a register),
/// the task sees both bumps or is woken: a lost wake parks it for ever. Two
/// rounds, because a wake that lands inside a register must leave the task
/// registered (or woken) for the *next* wake too, not only for this one.
#[test]
fn register_then_check_never_misses_a_wake() {
    model(4, || {
        let slot = leak(AtomicWaker::new());
        let count = leak(AtomicU32::new(0));
        let waker = thread::spawn(move || {
            for _ in 0..2 {
                count.fetch_add(1, Ordering::Release);
                slot.wake();
            }
        });
        block_on(core::future::poll_fn(|cx| {
            slot.register(cx.waker());
            if count.load(Ordering::Acquire) == 2 {
                core::task::Poll::Ready(())
            } else {
                core::task::Poll::Pending
            }
        }));
        waker.join().unwrap();
        drop(slot.take());
    });
}

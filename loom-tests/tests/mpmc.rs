//! loom models of the MPMC ring (`ipckit_core::mpmc`), run against the
//! shipping algorithm through the core's `loom` sync facade.
//!
//! Run with
//! `RUSTFLAGS="--cfg ipckit_loom" CARGO_TARGET_DIR=target/loom cargo test -p ipckit-loom-tests --release --test mpmc`.
//! Without `--cfg ipckit_loom` this file compiles to nothing.
//!
//! What the models cover:
//! - exactly-once delivery with several producers and several consumers
//!   racing on the `tail` and `head` compare-and-swaps: 2 × 2, 2 × 1 and
//!   1 × 2, capacity 2, positions starting at `u32::MAX - 1` or `u32::MAX`
//!   so that they and the stamps wrap inside every model, and more items
//!   than slots (except in the deepest 2 × 2 model) so that slots are reused
//!   (a stamp from the previous lap is seen), including the short bounded
//!   wait for a slot that another endpoint is publishing or releasing
//!   (`mpmc::BUSY_SPINS`, one spin under loom);
//! - slot causality: every item is a loom `UnsafeCell`, so a copy-out that is
//!   not ordered after its write, or a write that is not ordered after the
//!   previous lap's copy-out, is reported as a race;
//! - FIFO per producer at each consumer;
//! - `Empty` and `Full` mean what they say: behind a claim that is not
//!   finished (a producer's unpublished item, a consumer's unreleased slot)
//!   `try_pop` and `try_push` answer `Busy` (shown failing with the old
//!   answers, `Empty` and `Full`);
//! - blocking `pop` and `push` with waiters that really sleep, on a futex
//!   emulation that wakes only the word it is given ([`KeyedFutex`]): a
//!   lost wake-up, or a wake-up on the wrong stamp, leaves a thread asleep
//!   forever, which loom reports as a deadlock.
//!
//! - crash recovery: in `mpmc_recovery.rs`.
//!
//! Each model sets a preemption bound, unless `LOOM_MAX_PREEMPTIONS` is set
//! in the environment, which then wins (to run a deeper check by hand).
#![cfg(ipckit_loom)]

use ipckit_loom_tests::{finished, leak, model};
use std::collections::HashMap;
use std::time::Duration;

use ipckit_core::mpmc::{Consumer, Options, Producer, Ring};
use ipckit_core::wait::{Notify, WaitStatus};
use ipckit_core::{Error, Result};
use loom::sync::atomic::{AtomicU32, Ordering};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

/// A futex emulation that, like the kernel's, wakes only the waiters of the
/// word it is given, and `wake_one` exactly one of them. `wait` checks the
/// word under the lock, queues a ticket for its word and sleeps until a wake
/// of that word takes the ticket. (The shared `LoomFutex` wakes every waiter
/// of every word, which would hide a wake-up sent to the wrong slot stamp, or
/// one waiter too few.)
#[derive(Clone)]
struct KeyedFutex(Arc<(Mutex<Queues>, Condvar)>);

/// Per word (by address): the tickets of its sleeping waiters, oldest first;
/// and the tickets that a wake has taken.
#[derive(Default)]
struct Queues {
    next: u64,
    sleeping: HashMap<usize, Vec<u64>>,
    woken: Vec<u64>,
}

impl KeyedFutex {
    fn new() -> Self {
        Self(Arc::new((Mutex::new(Queues::default()), Condvar::new())))
    }

    fn key(word: &AtomicU32) -> usize {
        word as *const AtomicU32 as usize
    }

    fn wake(&self, word: &AtomicU32, all: bool) {
        let mut q = self.0.0.lock().unwrap();
        let sleeping = q.sleeping.entry(Self::key(word)).or_default();
        let n = if all {
            sleeping.len()
        } else {
            sleeping.len().min(1)
        };
        let taken: Vec<u64> = sleeping.drain(..n).collect();
        q.woken.extend(taken);
        self.0.1.notify_all();
    }
}

impl Notify for KeyedFutex {
    const WAKES: bool = true;

    fn wait(
        &self,
        word: &AtomicU32,
        expected: u32,
        _timeout: Option<Duration>,
    ) -> Result<WaitStatus> {
        let mut q = self.0.0.lock().unwrap();
        if word.load(Ordering::Relaxed) != expected {
            return Ok(WaitStatus::Woken);
        }
        let ticket = q.next;
        q.next += 1;
        q.sleeping.entry(Self::key(word)).or_default().push(ticket);
        loop {
            q = self.0.1.wait(q).unwrap();
            if let Some(i) = q.woken.iter().position(|&t| t == ticket) {
                q.woken.swap_remove(i);
                return Ok(WaitStatus::Woken);
            }
        }
    }

    fn wake_one(&self, word: &AtomicU32) {
        self.wake(word, false);
    }

    fn wake_all(&self, word: &AtomicU32) {
        self.wake(word, true);
    }
}

/// Item `k` (from 1) of producer `id`: never zero (slots start zeroed, so a
/// read before the write shows up as 0), and its two halves must agree (a
/// torn read shows up as a mismatch).
fn item(id: u32, k: u32) -> [u32; 2] {
    let v = id * 100 + k;
    [v, !v]
}

type Item = [u32; 2];

/// How a thread of a model waits. loom copes with one thread that spins
/// (yields in a loop) at a time; with several it can switch among them at
/// every yield without spending a preemption and the model never ends. So
/// every model has at most one spinning thread, and the others sleep in the
/// blocking calls (on the [`KeyedFutex`]), which also puts the event count
/// into every model.
#[derive(Clone, Copy, Debug)]
enum Wait {
    /// `try_push` / `try_pop`, yielding while full / empty.
    Spin,
    /// `push` / `pop`.
    Sleep,
}

fn push(tx: &Producer<'_, Item, KeyedFutex>, value: Item, how: Wait) {
    match how {
        Wait::Sleep => tx.push(value).unwrap(),
        Wait::Spin => loop {
            match tx.try_push(value) {
                Ok(()) => return,
                // Busy: the slot's previous reader has not released it.
                Err(Error::Full | Error::Busy) => thread::yield_now(),
                Err(e) => panic!("try_push: {e:?}"),
            }
        },
    }
}

fn pop(rx: &Consumer<'_, Item, KeyedFutex>, how: Wait) -> Item {
    let v = match how {
        Wait::Sleep => rx.pop().unwrap(),
        Wait::Spin => loop {
            match rx.try_pop() {
                Ok(v) => break v,
                // Busy: the oldest item's producer has not published it.
                Err(Error::Empty | Error::Busy) => thread::yield_now(),
                Err(e) => panic!("try_pop: {e:?}"),
            }
        },
    };
    assert_ne!(v, [0, 0], "observed a slot before its item");
    assert_eq!(v[1], !v[0], "torn item {v:?}");
    v
}

/// Checks that the consumers' logs hold every item of `sent` (per producer:
/// `1..=count`) exactly once, each producer's items in increasing order
/// within every log.
fn check_exactly_once(logs: &[Vec<Item>], sent: &[(u32, u32)]) {
    let mut all: Vec<u32> = Vec::new();
    for log in logs {
        let mut last: HashMap<u32, u32> = HashMap::new();
        for v in log {
            let (id, k) = (v[0] / 100, v[0] % 100);
            if let Some(prev) = last.insert(id, k) {
                assert!(k > prev, "producer {id}: item {k} after {prev} in {log:?}");
            }
            all.push(v[0]);
        }
    }
    all.sort_unstable();
    let mut expected: Vec<u32> = sent
        .iter()
        .flat_map(|&(id, count)| (1..=count).map(move |k| item(id, k)[0]))
        .collect();
    expected.sort_unstable();
    assert_eq!(all, expected, "items lost or duplicated: {logs:?}");
}

/// Producer thread `i` pushes `producers[i].0` items, waiting as
/// `producers[i].1` says; consumer `j` pops `consumers[j].0` items (the
/// first consumer runs on the model's main thread). Every item must arrive
/// exactly once, each producer's in order at every consumer, through a ring
/// of `capacity` from `start`.
fn exactly_once(
    producers: &'static [(u32, Wait)],
    consumers: &'static [(usize, Wait)],
    capacity: u32,
    start: u32,
    bound: usize,
) {
    model(bound, move || {
        let options = Options::new(capacity).start_at(start).waking(true);
        let ring = Ring::<Item>::new_modelled_with(options).unwrap();
        let futex = KeyedFutex::new();

        let producer_threads: Vec<_> = producers
            .iter()
            .enumerate()
            .map(|(id, &(count, how))| {
                let tx = ring.producer_with(futex.clone()).unwrap();
                thread::spawn(move || {
                    for k in 1..=count {
                        push(&tx, item(id as u32, k), how);
                    }
                })
            })
            .collect();
        let consumer_threads: Vec<_> = consumers[1..]
            .iter()
            .map(|&(count, how)| {
                let rx = ring.consumer_with(futex.clone()).unwrap();
                thread::spawn(move || (0..count).map(|_| pop(&rx, how)).collect::<Vec<_>>())
            })
            .collect();
        let rx = ring.consumer_with(futex.clone()).unwrap();
        let (count, how) = consumers[0];
        let mut logs = vec![(0..count).map(|_| pop(&rx, how)).collect::<Vec<_>>()];
        for p in producer_threads {
            p.join().unwrap();
        }
        logs.extend(consumer_threads.into_iter().map(|c| c.join().unwrap()));

        let sent: Vec<(u32, u32)> = producers
            .iter()
            .enumerate()
            .map(|(id, &(c, _))| (id as u32, c))
            .collect();
        check_exactly_once(&logs, &sent);
        // Nothing left, and the positions agree after the wrap.
        assert_eq!(rx.try_pop(), Err(Error::Empty));
        assert_eq!(ring.len(), 0);
        assert_eq!(ring.stalled(), None);
    });
}

// ---------------------------------------------------------------------------
// 1. Exactly once, many producers and consumers
// ---------------------------------------------------------------------------

/// Two producers (two items and one, sleeping when full) and two consumers
/// (the main thread spins with `try_pop` for two items, the other sleeps for
/// one), capacity 2 from `u32::MAX - 1`: positions MAX-1, MAX, 0, so the
/// third item reuses a slot and wraps the position; both compare-and-swaps
/// are contended. Preemption bound 1: bound 2 explores 3.1 million
/// executions (about ten minutes); run it by hand with
/// `LOOM_MAX_PREEMPTIONS=2`.
#[test]
fn two_producers_two_consumers() {
    exactly_once(
        &[(2, Wait::Sleep), (1, Wait::Sleep)],
        &[(2, Wait::Spin), (1, Wait::Sleep)],
        2,
        u32::MAX - 1,
        1,
    );
}

/// Two producers and two consumers with one item each, at preemption bound
/// 2: deeper interleavings of both compare-and-swap races, with the
/// positions and stamps wrapping (MAX-1, MAX, then 0), and a producer that
/// spins while the other consumer sleeps.
#[test]
fn two_producers_two_consumers_one_item_each() {
    exactly_once(
        &[(1, Wait::Spin), (1, Wait::Sleep)],
        &[(1, Wait::Sleep), (1, Wait::Sleep)],
        2,
        u32::MAX - 1,
        2,
    );
}

/// Two producers with two items each (one spins with `try_push`, one
/// sleeps) and one sleeping consumer: the producers race for `tail` across
/// the wrap, and each slot is written twice.
#[test]
fn two_producers_one_consumer() {
    exactly_once(
        &[(2, Wait::Spin), (2, Wait::Sleep)],
        &[(4, Wait::Sleep)],
        2,
        u32::MAX - 1,
        2,
    );
}

/// One producer spinning three items in with `try_push`, two sleeping
/// consumers (two items and one) racing for `head`, capacity 2 from
/// `u32::MAX`: positions MAX, 0, 1, so the third item reuses the first slot
/// after either consumer read it, and the position wraps at once.
#[test]
fn one_producer_two_consumers() {
    exactly_once(
        &[(3, Wait::Spin)],
        &[(2, Wait::Sleep), (1, Wait::Sleep)],
        2,
        u32::MAX,
        2,
    );
}

/// `Empty` means empty: this thread pushes one item and then pops, while
/// another producer claims a position and stops there (`claim_and_die`: a
/// claimant that never publishes, so that the window between a claim and
/// its publication stays open; a live one always publishes within the
/// bounded wait that loom models as one yield). This thread's item stays in
/// the ring until one of its own pops succeeds, so no `try_pop` may answer
/// `Empty`: behind the unpublished claim the answer is `Busy`, for good
/// once the claimant is gone.
///
/// Catches: `Empty` for a slot claimed by a producer that has not published
/// it (the answer before `Error::Busy` existed; shown failing once).
#[test]
fn a_claimed_unpublished_item_is_busy_not_empty() {
    model(2, || {
        let ring = Ring::<Item>::new_modelled(2, u32::MAX).unwrap();
        let done = leak(AtomicU32::new(0));
        let claimant = ring.producer().unwrap();
        let dying = thread::spawn(move || {
            claimant.claim_and_die().unwrap();
            done.store(1, Ordering::Release);
        });
        ring.producer().unwrap().try_push(item(0, 1)).unwrap();
        let rx = ring.consumer().unwrap();
        loop {
            let last_look = finished(done, 1);
            match rx.try_pop() {
                Ok(v) => {
                    assert_eq!(v, item(0, 1));
                    break;
                }
                Err(Error::Busy) if last_look => break,
                Err(Error::Busy) => thread::yield_now(),
                Err(e) => panic!("try_pop with an item in the ring: {e:?}"),
            }
        }
        dying.join().unwrap();
    });
}

/// `Full` means full: a full ring; another consumer claims the oldest item
/// and stops there (`claim_and_die`, holding its slot), while this thread
/// pops one item and then pushes one. This thread's pop freed a position,
/// so no `try_push` may answer `Full`: while the other consumer holds the
/// slot the push needs, the answer is `Busy`.
///
/// Catches: `Full` for a slot held by a consumer that has not released it.
#[test]
fn a_slot_still_being_read_is_busy_not_full() {
    model(2, || {
        let ring = Ring::<Item>::new_modelled(2, u32::MAX).unwrap();
        let tx = ring.producer().unwrap();
        tx.try_push(item(0, 1)).unwrap();
        tx.try_push(item(0, 2)).unwrap();
        let done = leak(AtomicU32::new(0));
        let holder = ring.consumer().unwrap();
        let dying = thread::spawn(move || {
            holder.claim_and_die().unwrap();
            done.store(1, Ordering::Release);
        });
        // Two items, one claim: this pop always finds the other item.
        ring.consumer().unwrap().try_pop().unwrap();
        loop {
            let last_look = finished(done, 1);
            match tx.try_push(item(0, 3)) {
                Ok(()) => break,
                Err(Error::Busy) if last_look => break,
                Err(Error::Busy) => thread::yield_now(),
                Err(e) => panic!("try_push with a free position: {e:?}"),
            }
        }
        dying.join().unwrap();
    });
}

// ---------------------------------------------------------------------------
// 2. Blocking with sleeping waiters: no lost wake-up
// ---------------------------------------------------------------------------

fn waking_ring(capacity: u32, start: u32) -> Ring<'static, u32> {
    let options = Options::new(capacity).start_at(start).waking(true);
    Ring::<u32>::new_modelled_with(options).unwrap()
}

/// A consumer sleeps on an empty ring (on the stamp of the slot it needs)
/// while the producer pushes two items across the wrap.
#[test]
fn sleeping_consumer_is_always_woken() {
    model(3, || {
        let ring = waking_ring(2, u32::MAX);
        let futex = KeyedFutex::new();
        let tx = ring.producer_with(futex.clone()).unwrap();
        let rx = ring.consumer_with(futex).unwrap();
        let producer = thread::spawn(move || {
            tx.push(1).unwrap();
            tx.push(2).unwrap();
        });
        assert_eq!(rx.pop().unwrap(), 1);
        assert_eq!(rx.pop().unwrap(), 2);
        producer.join().unwrap();
    });
}

/// Two consumers sleep on the same empty slot; one producer pushes two
/// items. The first publication must wake *both* (one takes the item, the
/// other moves on to the next slot); with a wake-one the loser would sleep
/// on the taken slot while the second item waits in the next one.
#[test]
fn two_sleeping_consumers_are_both_released() {
    model(2, || {
        let ring = waking_ring(2, u32::MAX - 1);
        let futex = KeyedFutex::new();
        let tx = ring.producer_with(futex.clone()).unwrap();
        let other = ring.consumer_with(futex.clone()).unwrap();
        let rx = ring.consumer_with(futex).unwrap();
        let consumer = thread::spawn(move || other.pop().unwrap());
        let producer = thread::spawn(move || {
            tx.push(1).unwrap();
            tx.push(2).unwrap();
        });
        let mine = rx.pop().unwrap();
        let theirs = consumer.join().unwrap();
        producer.join().unwrap();
        let mut both = [mine, theirs];
        both.sort_unstable();
        assert_eq!(both, [1, 2]);
    });
}

/// The producer sleeps on a full ring (capacity 2, three items) until the
/// consumer releases the slot it needs, and the consumer sleeps on the empty
/// ring: both directions of the event count, across the wrap.
#[test]
fn both_sides_sleep_and_are_woken() {
    model(2, || {
        let ring = waking_ring(2, u32::MAX);
        let futex = KeyedFutex::new();
        let tx = ring.producer_with(futex.clone()).unwrap();
        let rx = ring.consumer_with(futex).unwrap();
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

/// Two producers sleep on a full ring and race for the slot one release
/// frees; the consumer pops everything.
#[test]
fn two_sleeping_producers_are_both_released() {
    model(2, || {
        let ring = waking_ring(2, u32::MAX);
        let futex = KeyedFutex::new();
        let rx = ring.consumer_with(futex.clone()).unwrap();
        let first = ring.producer_with(futex.clone()).unwrap();
        first.try_push(1).unwrap();
        first.try_push(2).unwrap();
        let second = ring.producer_with(futex).unwrap();
        let a = thread::spawn(move || first.push(3).unwrap());
        let b = thread::spawn(move || second.push(4).unwrap());
        let mut got: Vec<u32> = (0..4).map(|_| rx.pop().unwrap()).collect();
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(got[..2], [1, 2]);
        got.sort_unstable();
        assert_eq!(got, [1, 2, 3, 4]);
    });
}

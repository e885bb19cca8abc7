//! loom models of the SPSC ring (`ipckit_core::spsc`), run against the
//! shipping algorithm through the core's `loom` sync facade.
//!
//! Run with `RUSTFLAGS="--cfg ipckit_loom" cargo test -p ipckit-loom-tests --release`.
//! Without `--cfg ipckit_loom` this file compiles to nothing.
//!
//! What the models cover:
//! - FIFO delivery with single-item `try_push`/`try_pop`, capacities 2 and 4,
//!   with the free-running `u32` indices wrapping inside the model;
//! - batch publication (`push_partial_slice`, `WriteChunk::fill_from_iter`,
//!   `WriteChunk::copy_partial_from_slice`) and batch consumption (`pop_partial_slice`,
//!   `ReadChunk::get`/`iter`/`commit`), across the end of the slot array and
//!   the `u32` wrap;
//! - slot causality: every slot is a loom `UnsafeCell`, so a read of a slot
//!   that is not ordered after its write (or a write that is not ordered
//!   after the previous read) is reported as a race; capacities 1 and 2
//!   force slots to be reused;
//! - role claims: of two racing `producer()` (or `consumer()`) calls exactly
//!   one wins, and the next holder resumes at the published `tail` (`head`).
//!
//! Items are distinct and non-zero (slots start zeroed), so a stale, early,
//! lost or duplicated item fails a value check even where loom's cell
//! tracking would not flag it. A producer thread raises a [`Done`] flag when
//! it has published everything, so a consumer missing an item fails with a
//! message instead of spinning until loom's branch limit.
//!
//! Each model sets a preemption bound, unless `LOOM_MAX_PREEMPTIONS` is set
//! in the environment, which then wins (to run a deeper check by hand). The
//! number of executions explored is printed on stderr (`--nocapture`).
#![cfg(ipckit_loom)]

use ipckit_core::spsc::{Consumer, Producer, Ring};
use ipckit_core::{Error, Pod, Role};
use ipckit_loom_tests::{Done, Waiter, model};
use loom::thread;
use std::fmt::Debug;

/// Pushes `value`, yielding to the scheduler while the ring is full.
fn push<T: Pod + Debug>(tx: &mut Producer<'_, T>, value: T) {
    loop {
        match tx.try_push(value) {
            Ok(()) => return,
            Err(Error::Full) => thread::yield_now(),
            Err(e) => panic!("try_push: {e:?}"),
        }
    }
}

/// Pops one item, waiting while the ring is empty.
fn pop<T: Pod + Debug>(rx: &mut Consumer<'_, T>, waiter: &mut Waiter) -> T {
    loop {
        match rx.try_pop() {
            Ok(v) => return v,
            Err(Error::Empty) => waiter.empty("try_pop"),
            Err(e) => panic!("try_pop: {e:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// 1. FIFO with single-item operations
// ---------------------------------------------------------------------------

/// A producer thread pushes `1..=items` with `try_push`; the consumer (the
/// model's main thread) pops them with `try_pop` and checks that each arrives
/// once, in order, and that nothing follows.
fn fifo_single(capacity: u32, start: u32, items: u32, bound: usize) {
    model(bound, move || {
        let ring = Ring::<u32>::new_modelled(capacity, start).unwrap();
        let (mut tx, mut rx) = ring.split().unwrap();
        let done = Done::new();
        let mut waiter = done.waiter();

        let producer = thread::spawn(move || {
            for v in 1..=items {
                push(&mut tx, v);
            }
            done.set();
        });

        for expected in 1..=items {
            assert_eq!(pop(&mut rx, &mut waiter), expected);
        }
        producer.join().unwrap();
        // Exactly once: the producer is gone and nothing is left.
        assert_eq!(rx.try_pop(), Err(Error::Empty));
        assert_eq!(rx.len(), 0);
        // The indices wrapped inside the model and still agree.
        drop(rx);
        let tx = ring.producer().unwrap();
        assert_eq!(tx.free_slots(), capacity as usize);
    });
}

/// Capacity 2, 3 items from `u32::MAX - 1`: positions MAX-1, MAX, 0, so the
/// index wraps and slot 0 is reused after the ring was full.
#[test]
fn fifo_capacity_2_wraps() {
    fifo_single(2, u32::MAX - 1, 3, 4);
}

/// Capacity 2, 4 items, wrap in the middle: every slot is reused once, and the
/// producer can find the ring full twice.
#[test]
fn fifo_capacity_2_four_items() {
    fifo_single(2, u32::MAX - 1, 4, 4);
}

/// Capacity 4, 4 items across the wrap (never full; the consumer's cached
/// `tail` is refreshed at every step).
#[test]
fn fifo_capacity_4_wraps() {
    fifo_single(4, u32::MAX - 1, 4, 4);
}

/// Capacity 4, 5 items from `u32::MAX - 2` (slots 1, 2, 3, 0, 1): the
/// producer fills the ring and waits for a slot that the consumer hands back
/// across the wrap.
#[test]
fn fifo_capacity_4_full_across_wrap() {
    fifo_single(4, u32::MAX - 2, 5, 3);
}

// ---------------------------------------------------------------------------
// 2. Batch publication and consumption
// ---------------------------------------------------------------------------

/// The producer publishes `1..=7` in three batches of different kinds, each
/// retried until fully published:
/// `push_partial_slice([1, 2, 3])`, `write_chunk(2).fill_from_iter(4..=5)`,
/// `write_chunk(2).copy_partial_from_slice([6, 7])`. The consumer takes the first
/// four with `pop_partial_slice` (up to three at a time) and the rest with
/// `read_chunk(2)`, cross-checking `get` against `iter` and committing one
/// item at a time. From `u32::MAX - 1` with capacity 4 the batches straddle
/// both the end of the slot array and the `u32` wrap.
fn batches(start: u32, bound: usize) {
    const N: u32 = 7;
    model(bound, move || {
        let ring = Ring::<u32>::new_modelled(4, start).unwrap();
        let (mut tx, mut rx) = ring.split().unwrap();
        let done = Done::new();
        let mut waiter = done.waiter();

        let producer = thread::spawn(move || {
            let first = [1u32, 2, 3];
            let mut sent = 0;
            while sent < first.len() {
                let n = tx.push_partial_slice(&first[sent..]).unwrap();
                if n == 0 {
                    thread::yield_now();
                }
                sent += n;
            }

            let mut next = 4u32;
            while next <= 5 {
                let chunk = tx.write_chunk_up_to((6 - next) as usize).unwrap();
                if chunk.is_empty() {
                    thread::yield_now();
                    continue;
                }
                let n = chunk.fill_from_iter(next..=5);
                assert!(n > 0);
                next += n as u32;
            }

            let last = [6u32, 7];
            let mut sent = 0;
            while sent < last.len() {
                let chunk = tx.write_chunk_up_to(last.len() - sent).unwrap();
                if chunk.is_empty() {
                    thread::yield_now();
                    continue;
                }
                sent += chunk.copy_partial_from_slice(&last[sent..]);
            }
            done.set();
        });

        let mut got = Vec::new();
        while got.len() < 4 {
            let mut buf = [0u32; 3];
            let want = (4 - got.len()).min(buf.len());
            let n = rx.pop_partial_slice(&mut buf[..want]).unwrap();
            if n == 0 {
                waiter.empty(&got);
            }
            got.extend_from_slice(&buf[..n]);
        }
        while got.len() < N as usize {
            let chunk = rx.read_chunk_up_to(2).unwrap();
            if chunk.is_empty() {
                waiter.empty(&got);
                continue;
            }
            let seen: Vec<u32> = chunk.iter().collect();
            assert_eq!(seen.len(), chunk.len());
            for (i, v) in seen.iter().enumerate() {
                assert_eq!(chunk.get(i), Some(*v));
            }
            assert_eq!(chunk.get(seen.len()), None);
            // Hand back only the first item: the rest must be offered again.
            got.push(seen[0]);
            chunk.commit(1).unwrap();
        }
        producer.join().unwrap();

        assert_eq!(got, (1..=N).collect::<Vec<_>>());
        assert_eq!(rx.try_pop(), Err(Error::Empty));
    });
}

/// Batches across the end of the slot array and the `u32` wrap.
#[test]
fn batches_across_wrap() {
    batches(u32::MAX - 1, 4);
}

/// Batches from position 0: the runs split at other places of the slot array
/// (no `u32` wrap), so other `split_range` segments are exercised.
#[test]
fn batches_from_zero() {
    batches(0, 3);
}

// ---------------------------------------------------------------------------
// 3. A consumer never observes a slot before its data
// ---------------------------------------------------------------------------

/// An item whose two halves must agree: a torn or stale read shows up as a
/// mismatch or as the zero the slots start with.
fn item(v: u32) -> [u32; 2] {
    [v, !v]
}

/// Items `1..=items` (never zero; the slots start zeroed) through a ring of
/// `capacity` slots, so every slot is written several times. Besides the
/// value checks, every slot access goes through a loom `UnsafeCell`, and loom
/// fails the model if a read is not ordered after the write it should see
/// (missing Release/Acquire on `tail`), or a write after the read of the
/// item it replaces (missing Release/Acquire on `head`).
fn causality(capacity: u32, start: u32, items: u32, bound: usize) {
    model(bound, move || {
        let ring = Ring::<[u32; 2]>::new_modelled(capacity, start).unwrap();
        let (mut tx, mut rx) = ring.split().unwrap();
        let done = Done::new();
        let mut waiter = done.waiter();

        let producer = thread::spawn(move || {
            for v in 1..=items {
                push(&mut tx, item(v));
            }
            done.set();
        });

        let mut last = 0;
        while last < items {
            let v = pop(&mut rx, &mut waiter);
            assert_ne!(v, [0, 0], "observed a slot before its data");
            assert_eq!(v[1], !v[0], "torn item {v:?}");
            assert!(v[0] > last, "stale item {} after {last}", v[0]);
            assert_eq!(v[0], last + 1, "lost item {}", last + 1);
            last = v[0];
        }
        producer.join().unwrap();
        assert_eq!(rx.try_pop(), Err(Error::Empty));
    });
}

/// Capacity 1: the one slot is handed back and forth for every item.
#[test]
fn causality_capacity_1() {
    causality(1, u32::MAX - 1, 4, 4);
}

/// Capacity 2: the producer can run one slot ahead while the consumer reads
/// the other.
#[test]
fn causality_capacity_2() {
    causality(2, u32::MAX, 4, 4);
}

/// The same through the in-place chunk API: the consumer reads each slot in
/// place (`ReadChunk::get`) before handing it back, and the producer writes
/// in place (`WriteChunk::fill_from_iter`).
#[test]
fn causality_chunks_capacity_1() {
    const N: u32 = 3;
    model(3, || {
        let ring = Ring::<[u32; 2]>::new_modelled(1, u32::MAX).unwrap();
        let (mut tx, mut rx) = ring.split().unwrap();
        let done = Done::new();
        let mut waiter = done.waiter();

        let producer = thread::spawn(move || {
            let mut v = 1;
            while v <= N {
                let chunk = tx.write_chunk_up_to(1).unwrap();
                if chunk.fill_from_iter([item(v)]) == 1 {
                    v += 1;
                } else {
                    thread::yield_now();
                }
            }
            done.set();
        });

        let mut expected = 1;
        while expected <= N {
            let chunk = rx.read_chunk_up_to(1).unwrap();
            match chunk.get(0) {
                Some(v) => {
                    assert_eq!(v, item(expected), "stale or early read");
                    chunk.commit_all();
                    expected += 1;
                }
                None => waiter.empty(expected),
            }
        }
        producer.join().unwrap();
    });
}

// ---------------------------------------------------------------------------
// 4. Role claims
// ---------------------------------------------------------------------------

// Two properties of loom 0.7 shaped the claim models:
// - With two threads spinning on `yield_now` and a third one needed for
//   progress, loom may switch between the spinners at every yield without
//   spending a preemption; a first version (a consumer spinning while both
//   contenders ran) exceeded the branch limit. So at most one thread spins at
//   a time here: the first race has no spinner (the winner hands its endpoint
//   back through `join`, which also keeps the role held until the loser has
//   tried), and the hand-over has one (the next claimant).
// - loom's DPOR can miss interleavings when the thread that stores an atomic
//   loaded it first (tokio-rs/loom#166, #392), as a new holder does with
//   `tail` in `producer()`: a poll in the main thread concurrent with the
//   contenders never saw item 1 in any of 6,032 executions. The consumer is
//   therefore a thread spawned after the contenders, which loom's first
//   schedule runs after the pushes; backtracking then covers earlier polls
//   (across executions it sees 0, 1, 2 or 3 items).

/// Claims the producer role, yielding while it is taken.
fn claim_producer(ring: &Ring<'static, u32>) -> Producer<'static, u32> {
    loop {
        match ring.producer() {
            Ok(tx) => return tx,
            Err(Error::RoleTaken(Role::Producer)) => thread::yield_now(),
            Err(e) => panic!("claim: {e:?}"),
        }
    }
}

/// Claims the consumer role, yielding while it is taken.
fn claim_consumer(ring: &Ring<'static, u32>) -> Consumer<'static, u32> {
    loop {
        match ring.consumer() {
            Ok(rx) => return rx,
            Err(Error::RoleTaken(Role::Consumer)) => thread::yield_now(),
            Err(e) => panic!("claim: {e:?}"),
        }
    }
}

/// Pops without waiting: the item, or `None` when the ring is empty.
fn poll(rx: &mut Consumer<'_, u32>) -> Option<u32> {
    match rx.try_pop() {
        Ok(v) => Some(v),
        Err(Error::Empty) => None,
        Err(e) => panic!("try_pop: {e:?}"),
    }
}

/// The producer role: racing claims and the hand-over to a next holder.
///
/// Two threads race `producer()`. The winner pushes 1 and hands its producer
/// back through `join` (so it holds the role until both have tried): exactly
/// one claim succeeds, the other gets `RoleTaken`. Then the main thread
/// pushes 2 with the winner's producer and drops it, while another thread
/// claims the role as soon as it is free and pushes 3. The new holder must
/// resume at the published `tail`: a stale `tail` would write the slot of 2
/// again (a loom race on that slot) and lose an item. A consumer thread polls
/// a few times throughout (without waiting); the main thread drains the rest
/// at the end: 1, 2, 3, once each, in order. Capacity 4 from `u32::MAX - 1`,
/// so the three positions wrap the index.
#[test]
fn producer_claim_race() {
    model(3, || {
        let ring = Ring::<u32>::new_modelled(4, u32::MAX - 1).unwrap();
        let mut rx = ring.consumer().unwrap();
        assert_eq!(
            ring.consumer().unwrap_err(),
            Error::RoleTaken(Role::Consumer)
        );

        let contenders: Vec<_> = (0..2)
            .map(|_| {
                let ring = ring.clone();
                thread::spawn(move || match ring.producer() {
                    Ok(mut tx) => {
                        tx.try_push(1).unwrap();
                        Some(tx)
                    }
                    Err(e) => {
                        assert_eq!(e, Error::RoleTaken(Role::Producer));
                        None
                    }
                })
            })
            .collect();
        // Spawned last, so that loom's first schedule runs it after the
        // pushes it can observe.
        let poller = thread::spawn(move || {
            let got: Vec<u32> = (0..3).filter_map(|_| poll(&mut rx)).collect();
            (rx, got)
        });

        let mut winners: Vec<_> = contenders
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect();
        assert_eq!(winners.len(), 1, "exactly one claim succeeds");
        let mut first = winners.pop().unwrap();

        let next = {
            let ring = ring.clone();
            // Three items at most in a ring of four: never full.
            thread::spawn(move || claim_producer(&ring).try_push(3).unwrap())
        };
        first.try_push(2).unwrap();
        drop(first);
        next.join().unwrap();

        let (mut rx, mut got) = poller.join().unwrap();
        while let Some(v) = poll(&mut rx) {
            got.push(v);
        }
        assert_eq!(got, [1, 2, 3], "items lost, duplicated or reordered");
        // Yet another holder still agrees on the indices.
        assert_eq!(claim_producer(&ring).free_slots(), 4);
    });
}

/// The consumer role, symmetrically: two threads race `consumer()` on a ring
/// holding 1 and 2; exactly one wins and pops 1. Then the main thread pushes
/// 3; one thread takes the winner's consumer, pops 2 and drops it, while
/// another claims the role as soon as it is free and pops. The new holder
/// must resume at the published `head`: it gets 3 (a stale `head` would give
/// 2 again).
#[test]
fn consumer_claim_race() {
    model(4, || {
        let ring = Ring::<u32>::new_modelled(2, u32::MAX).unwrap();
        let mut tx = ring.producer().unwrap();
        tx.try_push(1).unwrap();
        tx.try_push(2).unwrap();

        let contenders: Vec<_> = (0..2)
            .map(|_| {
                let ring = ring.clone();
                thread::spawn(move || match ring.consumer() {
                    Ok(mut rx) => {
                        assert_eq!(rx.try_pop(), Ok(1));
                        Some(rx)
                    }
                    Err(e) => {
                        assert_eq!(e, Error::RoleTaken(Role::Consumer));
                        None
                    }
                })
            })
            .collect();
        let mut winners: Vec<_> = contenders
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect();
        assert_eq!(winners.len(), 1, "exactly one claim succeeds");
        let mut first = winners.pop().unwrap();
        tx.try_push(3).unwrap();

        let holder = thread::spawn(move || {
            assert_eq!(first.try_pop(), Ok(2));
            drop(first);
        });
        let next = {
            let ring = ring.clone();
            thread::spawn(move || poll(&mut claim_consumer(&ring)))
        };
        holder.join().unwrap();
        assert_eq!(
            next.join().unwrap(),
            Some(3),
            "next consumer resumed wrongly"
        );
        assert_eq!(poll(&mut claim_consumer(&ring)), None);
    });
}

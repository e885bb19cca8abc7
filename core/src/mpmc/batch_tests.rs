//! Tests of the batch calls (`push_partial_slice`, `push_entire_slice`,
//! `pop_partial_slice`, `pop_entire_slice`): one compare-and-swap claims a
//! run of ready slots, never a slot that is not ready.

use std::sync::Mutex;
use std::sync::atomic::Ordering::SeqCst;
use std::vec;
use std::vec::Vec;

use core::time::Duration;

use super::*;
use crate::error::{Error, Result};
use crate::intent::Intent;
use crate::sync::AtomicU32;
use crate::test_support::PeerMemory;
use crate::wait::{Notify, WaitStatus};

use super::tests::{CONSUMERS_WAITING, HEAD, PRODUCERS_WAITING, TAIL, stamp_at};

#[test]
fn partial_and_entire_slices_fill_and_drain_in_order() {
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init(mem.region(), 8).unwrap();
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    assert_eq!(tx.push_partial_slice(&[]), Ok(0));
    assert_eq!(tx.push_entire_slice(&[]), Ok(()));
    assert_eq!(rx.pop_partial_slice(&mut []), Ok(0));
    assert_eq!(rx.pop_entire_slice(&mut []), Ok(()));
    let mut out = [0u32; 16];
    assert_eq!(rx.pop_partial_slice(&mut out), Err(Error::Empty));
    assert_eq!(rx.pop_entire_slice(&mut out[..1]), Err(Error::Empty));

    // Ten offered, eight fit; one compare-and-swap moved `tail` by 8.
    let items: Vec<u32> = (1..=10).collect();
    assert_eq!(tx.push_partial_slice(&items), Ok(8));
    assert_eq!(mem.word(TAIL).load(SeqCst), 8);
    assert_eq!(tx.push_partial_slice(&items), Err(Error::Full));
    assert_eq!(tx.push_entire_slice(&items[..1]), Err(Error::Full));
    assert_eq!(ring.len(), 8);

    // Exact pops take all or nothing.
    assert_eq!(
        rx.pop_entire_slice(&mut out[..9]),
        Err(Error::TooFewSlots {
            requested: 9,
            available: 8
        })
    );
    assert_eq!(rx.pop_entire_slice(&mut out[..3]), Ok(()));
    assert_eq!(out[..3], [1, 2, 3]);
    assert_eq!(mem.word(HEAD).load(SeqCst), 3);

    // Exact pushes too: 3 free slots, in a row across the end of the
    // slot array (positions 8, 9, 10 are slots 0, 1, 2).
    assert_eq!(
        tx.push_entire_slice(&[20, 21, 22, 23]),
        Err(Error::TooFewSlots {
            requested: 4,
            available: 3
        })
    );
    assert_eq!(mem.word(TAIL).load(SeqCst), 8, "nothing claimed");
    assert_eq!(tx.push_entire_slice(&[20, 21, 22]), Ok(()));

    // A partial pop stops at the end of what was published and wraps
    // around the slot array.
    assert_eq!(rx.pop_partial_slice(&mut out), Ok(8));
    assert_eq!(out[..8], [4, 5, 6, 7, 8, 20, 21, 22]);
    assert_eq!(rx.pop_partial_slice(&mut out), Err(Error::Empty));
    assert!(ring.is_empty());

    // Longer than the ring: an exact call can never succeed.
    let long = [0u32; 9];
    assert_eq!(
        tx.push_entire_slice(&long),
        Err(Error::TooFewSlots {
            requested: 9,
            available: 8
        })
    );
    assert_eq!(
        rx.pop_entire_slice(&mut out[..9]),
        Err(Error::TooFewSlots {
            requested: 9,
            available: 8
        })
    );
}

#[test]
fn single_and_batch_calls_mix_across_the_u32_wrap() {
    let mem = PeerMemory::new();
    let options = Options::new(4).start_at(u32::MAX - 5);
    let ring = Ring::<u64>::init_with(mem.region(), options).unwrap();
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    let mut next = 0u64;
    let mut expect = 0u64;
    let mut out = [0u64; 4];
    for round in 0..40u64 {
        let want = (round % 4 + 1) as usize;
        let items: Vec<u64> = (next..next + want as u64).collect();
        if round % 3 == 0 {
            tx.try_push(items[0]).unwrap();
            next += 1;
        } else {
            next += tx.push_partial_slice(&items).unwrap() as u64;
        }
        let got = if round % 2 == 0 {
            rx.pop_partial_slice(&mut out).unwrap()
        } else {
            out[0] = rx.try_pop().unwrap();
            1
        };
        for v in &out[..got] {
            assert_eq!(*v, expect);
            expect += 1;
        }
    }
    while let Ok(n) = rx.pop_partial_slice(&mut out) {
        for v in &out[..n] {
            assert_eq!(*v, expect);
            expect += 1;
        }
    }
    assert_eq!(expect, next);
}

/// A run ends at the first slot that is not ready: a producer's claimed,
/// unpublished position (a pop takes what comes before it, then answers
/// `Busy`), and a slot a consumer claimed and has not released (a push
/// fills up to it, then answers `Busy`).
#[test]
fn a_run_stops_at_an_unfinished_claim() {
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init(mem.region(), 8).unwrap();
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    tx.push_entire_slice(&[1, 2]).unwrap();
    assert!(tx.claim_and_die().unwrap()); // position 2: a hole
    tx.push_entire_slice(&[4, 5]).unwrap();
    let mut out = [0u32; 8];
    assert_eq!(rx.pop_partial_slice(&mut out), Ok(2));
    assert_eq!(out[..2], [1, 2]);
    assert_eq!(rx.pop_partial_slice(&mut out), Err(Error::Busy));
    assert_eq!(rx.pop_entire_slice(&mut out[..1]), Err(Error::Busy));
    assert_eq!(mem.word(HEAD).load(SeqCst), 2, "the hole is not claimed");
    // The hole's producer publishes after all (as a late honest one would).
    mem.word(stamp_at::<u32>(8, 2)).store(3, SeqCst);
    assert_eq!(rx.pop_partial_slice(&mut out), Ok(3));
    assert_eq!(out[..3], [0, 4, 5]);

    // Positions 5..8 free, then slot 0 (position 8) still being read by a
    // consumer that claimed position 0... forged: stamp 1 with `head` past.
    mem.word(stamp_at::<u32>(8, 0)).store(1, SeqCst);
    assert_eq!(tx.push_partial_slice(&[9; 8]), Ok(3));
    assert_eq!(mem.word(TAIL).load(SeqCst), 8);
    assert_eq!(tx.push_partial_slice(&[9; 8]), Err(Error::Busy));
    assert_eq!(tx.push_entire_slice(&[9]), Err(Error::Busy));
}

/// The intent names the whole run (first position, length) before the
/// compare-and-swap; a call that claims nothing leaves it as it was.
#[test]
fn a_batch_claim_announces_its_whole_run() {
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init(mem.region(), 8).unwrap();
    let (pi, ci) = (Intent::new(), Intent::new());
    let tx = ring.producer().unwrap().with_intent(&pi);
    let rx = ring.consumer().unwrap().with_intent(&ci);
    assert_eq!(tx.push_partial_slice(&[1, 2, 3, 4, 5]), Ok(5));
    assert_eq!(pi.read(), (0, 5));
    tx.try_push(6).unwrap();
    assert_eq!(pi.read(), (5, 1));
    let mut out = [0u32; 4];
    rx.pop_entire_slice(&mut out).unwrap();
    assert_eq!(ci.read(), (0, 4));
    assert_eq!(rx.pop_partial_slice(&mut out), Ok(2));
    assert_eq!(ci.read(), (4, 2));
    assert_eq!(rx.pop_partial_slice(&mut out), Err(Error::Empty));
    assert_eq!(ci.read(), (4, 2));
}

/// A peer's garbage in any slot of a run is never claimed: the stamp after
/// the first ends the run (it is not ready), and the next call meets it
/// first and reports it.
#[test]
fn garbage_inside_a_run_ends_it_and_is_reported() {
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init(mem.region(), 8).unwrap();
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    mem.word(stamp_at::<u32>(8, 3)).store(0xdead_beef, SeqCst);
    assert_eq!(tx.push_partial_slice(&[1; 8]), Ok(3));
    assert!(matches!(
        tx.push_partial_slice(&[1; 8]),
        Err(Error::Corrupted(_))
    ));
    let mut out = [0u32; 8];
    assert_eq!(rx.pop_partial_slice(&mut out), Ok(3));
    // Forged `tail` a lap ahead: the consumer reports it, takes nothing.
    mem.word(TAIL).store(3 + 9, SeqCst);
    assert!(matches!(
        rx.pop_partial_slice(&mut out),
        Err(Error::Corrupted(_))
    ));
    assert_eq!(mem.word(HEAD).load(SeqCst), 3);
}

/// A notifier that records every word it is asked to wake.
#[derive(Default)]
struct Recorder(Mutex<Vec<usize>>);

impl Notify for &Recorder {
    fn wait(&self, _: &AtomicU32, _: u32, _: Option<Duration>) -> Result<WaitStatus> {
        Ok(WaitStatus::Woken)
    }
    fn wake_one(&self, word: &AtomicU32) {
        self.0
            .lock()
            .unwrap()
            .push(word as *const AtomicU32 as usize);
    }
    fn wake_all(&self, word: &AtomicU32) {
        self.wake_one(word);
    }
}

/// With a waiter announced, a batch wakes the sleepers of every stamp it
/// changed (each may have its own); without one, it makes no wake call.
#[test]
fn a_batch_wakes_every_stamp_it_changed() {
    let mem = PeerMemory::new();
    let ring = Ring::<u32>::init_with(mem.region(), Options::new(8).waking(true)).unwrap();
    let recorder = Recorder::default();
    let tx = ring.producer_with(&recorder).unwrap();
    let rx = ring.consumer_with(&recorder).unwrap();
    let base = mem.word(0) as *const _ as usize;
    let stamps = |from: u32, n: u32| -> Vec<usize> {
        (from..from + n)
            .map(|p| base + stamp_at::<u32>(8, p))
            .collect()
    };
    tx.push_entire_slice(&[1, 2]).unwrap();
    assert!(recorder.0.lock().unwrap().is_empty());
    mem.word(CONSUMERS_WAITING).store(1, SeqCst);
    tx.push_entire_slice(&[3, 4, 5]).unwrap();
    assert_eq!(*recorder.0.lock().unwrap(), stamps(2, 3));
    recorder.0.lock().unwrap().clear();
    mem.word(PRODUCERS_WAITING).store(1, SeqCst);
    let mut out = [0u32; 4];
    assert_eq!(rx.pop_partial_slice(&mut out), Ok(4));
    assert_eq!(*recorder.0.lock().unwrap(), stamps(0, 4));
}

/// Two producers pushing runs and two consumers popping runs, on a small
/// ring: every item arrives exactly once, each producer's in order at each
/// consumer.
#[test]
fn batches_from_two_producers_to_two_consumers_arrive_once_in_order() {
    // Miri runs a few hundred (each step is interpreted, and slow).
    const PER_PRODUCER: u32 = if cfg!(miri) { 300 } else { 20_000 };
    let mem = PeerMemory::new();
    let ring = Ring::<[u32; 2]>::init(mem.region(), 16).unwrap();
    let total = std::sync::atomic::AtomicU32::new(0);
    let logs: Vec<Vec<[u32; 2]>> = std::thread::scope(|s| {
        for id in 0..2u32 {
            let tx = ring.producer().unwrap();
            s.spawn(move || {
                let mut k = 0;
                while k < PER_PRODUCER {
                    let n = (k % 7 + 1).min(PER_PRODUCER - k);
                    let items: Vec<[u32; 2]> = (k..k + n).map(|i| [id, i]).collect();
                    match tx.push_partial_slice(&items) {
                        Ok(sent) => k += sent as u32,
                        Err(Error::Full | Error::Busy) => std::thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        }
        let consumers: Vec<_> = (0..2)
            .map(|c| {
                let rx = ring.consumer().unwrap();
                let total = &total;
                s.spawn(move || {
                    let mut log = Vec::new();
                    let mut out = [[0u32; 2]; 5];
                    while total.load(SeqCst) < 2 * PER_PRODUCER {
                        let got = if c == 0 {
                            rx.pop_partial_slice(&mut out)
                        } else {
                            rx.pop_entire_slice(&mut out[..3]).map(|()| 3)
                        };
                        match got {
                            Ok(n) => {
                                log.extend_from_slice(&out[..n]);
                                total.fetch_add(n as u32, SeqCst);
                            }
                            Err(Error::Empty | Error::Busy | Error::TooFewSlots { .. }) => {
                                // The exact consumer leaves the tail end to
                                // the other one.
                                std::thread::yield_now();
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                    log
                })
            })
            .collect();
        consumers.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let mut seen = vec![vec![false; PER_PRODUCER as usize]; 2];
    for log in &logs {
        let mut last = [None::<u32>; 2];
        for &[id, k] in log {
            let id = id as usize;
            assert!(last[id].is_none_or(|l| l < k), "out of order: {id} {k}");
            last[id] = Some(k);
            assert!(!seen[id][k as usize], "duplicate {id} {k}");
            seen[id][k as usize] = true;
        }
    }
    assert!(seen.iter().flatten().all(|&s| s), "items lost");
}

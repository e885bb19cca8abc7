//! loom models of the MPMC ring's crash recovery (`ipckit_core::mpmc`), run
//! against the shipping algorithm through the core's `loom` sync facade: a
//! producer killed right after its claim of `tail` (won or lost) while a
//! live producer pushes, the consumer skipping only the claim that the
//! intents attribute to the dead one; a consumer killed holding a slot,
//! released exactly once by racing producers (the `claim_and_die` hooks stop
//! the shipping code right after its compare-and-swap). The ring's other
//! models are in `mpmc.rs`.
//!
//! Run with
//! `RUSTFLAGS="--cfg ipckit_loom" CARGO_TARGET_DIR=target/loom cargo test -p ipckit-loom-tests --release --test mpmc_recovery`.
//! Without `--cfg ipckit_loom` this file compiles to nothing.
//!
//! Each model sets a preemption bound, unless `LOOM_MAX_PREEMPTIONS` is set
//! in the environment, which then wins (to run a deeper check by hand).

#![cfg(ipckit_loom)]

use ipckit_loom_tests::{finished, leak, model};

use ipckit_core::Error;
use ipckit_core::intent::{Attribution, Intent};
use ipckit_core::mpmc::{Ring, Skip};
use loom::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use loom::thread;

/// Item `k` (from 1) of producer `id`, as in `mpmc.rs`: never zero, its
/// halves complementary (a torn read shows as a mismatch).
fn item(id: u32, k: u32) -> Item {
    let v = id * 100 + k;
    [v, !v]
}

type Item = [u32; 2];

// ---------------------------------------------------------------------------
// 3. Crash recovery: claims of dead endpoints, judged from their intents
// ---------------------------------------------------------------------------

/// An endpoint as its liveness record shows it: an intent, and whether its
/// process lives (a model "kills" it by setting `dead` once its last store
/// is done; the survivor reads the flag with Acquire, as a process's death
/// is observed only after everything it did).
#[derive(Clone, Copy)]
struct Endpoint {
    intent: &'static Intent,
    dead: &'static AtomicBool,
}

impl Endpoint {
    fn new() -> Self {
        Self {
            intent: leak(Intent::new()),
            dead: leak(AtomicBool::new(false)),
        }
    }
}

/// The hosted judgement (`Block::attribute`): liveness first, then the
/// intent; `Dead` only if dead endpoints alone name `position`.
fn attribute(endpoints: &[Endpoint], position: u32) -> Attribution {
    let mut dead = None;
    for e in endpoints {
        let is_dead = e.dead.load(Ordering::Acquire);
        let (announced, span) = e.intent.read();
        if announced != position || span == 0 {
            continue;
        }
        if !is_dead {
            return Attribution::Live;
        }
        dead = Some(span);
    }
    dead.map_or(Attribution::Unknown, |span| Attribution::Dead { span })
}

/// A producer is killed right after its compare-and-swap on `tail` (won or
/// lost: `claim_and_die`), while a live producer pushes one item; one item
/// was pushed before, so the live producer can also find the ring full
/// after losing a race, and give up. The consumer spins with `try_pop`, and
/// on `Empty` or `Busy` skips the stalled position at `head` only if the intents say
/// that the dead producer alone made that claim. Every pushed item arrives
/// once; the dead claim, if it won, is skipped (and only it); nothing stays
/// stalled.
///
/// Catches: an announcement after the compare-and-swap (the live claim is
/// skipped and its item lost), and a live producer that keeps naming a
/// position it lost (its stale intent makes the dead hole look live: the
/// ring stays stalled).
#[test]
fn a_dead_producers_claim_is_skipped_and_only_it() {
    model(2, || {
        let ring = Ring::<Item>::new_modelled(2, u32::MAX).unwrap();
        let (dead, live, reader) = (Endpoint::new(), Endpoint::new(), Endpoint::new());
        let done = leak(AtomicU32::new(0));
        let first = ring.producer().unwrap();
        first.try_push(item(0, 1)).unwrap();
        let tx_dead = ring.producer().unwrap().with_intent(dead.intent);
        let dying = thread::spawn(move || {
            let won = tx_dead.claim_and_die().unwrap();
            dead.dead.store(true, Ordering::Release);
            done.fetch_add(1, Ordering::Release);
            won
        });
        let tx = ring.producer().unwrap().with_intent(live.intent);
        let pusher = thread::spawn(move || {
            let pushed = match tx.try_push(item(1, 1)) {
                Ok(()) => true,
                Err(Error::Full | Error::Busy) => false,
                Err(e) => panic!("try_push: {e:?}"),
            };
            done.fetch_add(1, Ordering::Release);
            pushed
        });
        let rx = ring.consumer().unwrap().with_intent(reader.intent);
        let producers = [dead, live];
        let (mut got, mut skipped) = (Vec::new(), 0);
        loop {
            let last_look = finished(done, 2);
            match rx.try_pop() {
                Ok(v) => {
                    got.push(v);
                    continue;
                }
                Err(Error::Empty | Error::Busy) => {}
                Err(e) => panic!("try_pop: {e:?}"),
            }
            if let Some(p) = ring.unpublished() {
                if let Attribution::Dead { .. } = attribute(&producers, p) {
                    match rx.skip_unpublished(p).unwrap() {
                        Skip::Skipped => skipped += 1,
                        Skip::Item(v) => got.push(v),
                        Skip::Moved => {}
                    }
                    continue;
                }
            }
            if last_look {
                break;
            }
            thread::yield_now();
        }
        let won = dying.join().unwrap();
        let pushed = pusher.join().unwrap();
        assert_eq!(ring.stalled(), None, "left stalled; got {got:?}");
        assert_eq!(ring.len(), 0);
        let mut expected = vec![item(0, 1)];
        if pushed {
            expected.push(item(1, 1));
        }
        assert_eq!(got, expected, "dead claim won: {won}");
        assert_eq!(skipped, u32::from(won));
        assert_eq!(ring.recoveries().skipped, u32::from(won));
    });
}

/// A consumer was killed holding the first of two items (claimed, never
/// released). Two producers run at once, each releasing the slot the next
/// push needs if the intents say the dead consumer holds it; the first then
/// pushes an item into it, while the consumer takes the second item.
/// Exactly one release happens, the held item is counted lost, the pushed
/// one arrives, and nothing stays stalled.
///
/// Catches a release by a blind store instead of a compare-and-swap (the
/// second survivor's store frees the slot again after the first survivor's
/// push published into it: that item is lost and the ring stalls).
#[test]
fn a_dead_consumers_slot_is_released_once_while_producers_run() {
    model(2, || {
        let ring = Ring::<Item>::new_modelled(2, u32::MAX).unwrap();
        let (dead, reader) = (Endpoint::new(), Endpoint::new());
        let first = ring.producer().unwrap();
        first.try_push(item(0, 1)).unwrap();
        first.try_push(item(0, 2)).unwrap();
        let held = ring.consumer().unwrap().with_intent(dead.intent);
        assert!(held.claim_and_die().unwrap());
        dead.dead.store(true, Ordering::Release);
        let consumers = [dead, reader];
        let survivors: Vec<_> = (1..=2)
            .map(|id| {
                let tx = ring.producer().unwrap().with_intent(leak(Intent::new()));
                thread::spawn(move || {
                    let mut released = false;
                    if let Some(p) = tx.ring().unreleased() {
                        if let Attribution::Dead { .. } = attribute(&consumers, p) {
                            released = tx.release_unreleased(p).unwrap();
                        }
                    }
                    let pushed = id == 1 && tx.try_push(item(id, 1)).is_ok();
                    (released, pushed)
                })
            })
            .collect();
        let rx = ring.consumer().unwrap().with_intent(reader.intent);
        let mut got = vec![rx.try_pop().unwrap()];
        let outcomes: Vec<_> = survivors.into_iter().map(|p| p.join().unwrap()).collect();
        got.extend(std::iter::from_fn(|| rx.try_pop().ok()));
        let releases = outcomes.iter().filter(|o| o.0).count();
        assert_eq!(releases, 1, "{outcomes:?}");
        assert!(
            outcomes[0].1,
            "the push after the release failed: {outcomes:?}"
        );
        assert_eq!(
            ring.stalled(),
            None,
            "left stalled; got {got:?}, {outcomes:?}"
        );
        assert_eq!(ring.len(), 0);
        assert_eq!(got, [item(0, 2), item(1, 1)], "{outcomes:?}");
        assert_eq!(ring.recoveries().lost, 1);
    });
}

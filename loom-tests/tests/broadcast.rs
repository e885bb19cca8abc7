//! loom models of the lossy broadcast ring (`ipckit_core::broadcast`), run
//! against the shipping algorithm through the core's `loom` sync facade.
//!
//! Run with
//! `RUSTFLAGS="--cfg ipckit_loom" CARGO_TARGET_DIR=target/loom cargo test -p ipckit-loom-tests --release --test broadcast`.
//! Without `--cfg ipckit_loom` this file compiles to nothing.
//!
//! What the models cover:
//! - one publisher and two subscribers across the `u32` wrap, capacity 2,
//!   more items than slots: each subscriber gets its items in order and
//!   accounts for every item published since it started (`received +
//!   lagged == published`), one subscriber spinning with `try_recv`, the
//!   other sleeping in `recv` on a futex emulation (a lost wake-up is a
//!   loom deadlock);
//! - overrun detection and torn reads: a subscriber copies the oldest item
//!   out while the publisher overwrites that very slot. The item lives in
//!   loom `AtomicU32`s read with `Relaxed` (the production copy), so loom
//!   lets each word read the old or the new lap; the two halves of every
//!   item must agree and name its position, so an accepted torn or stale
//!   copy fails the model (shown failing once with the stamp re-check
//!   removed);
//! - a publisher killed mid-write: its half-written item is never
//!   returned, and the publisher that takes over rewrites the slot.
//!
//! Each model sets a preemption bound, unless `LOOM_MAX_PREEMPTIONS` is set
//! in the environment, which then wins.
#![cfg(ipckit_loom)]

use ipckit_core::Error;
use ipckit_core::broadcast::{Options, Ring, Start, Subscriber};
use ipckit_core::wait::Notify;
use ipckit_loom_tests::{LoomFutex, model};
use loom::thread;

/// Item of position `p`: its halves must agree (a torn copy shows up as a
/// mismatch) and it names its position.
type Item = [u32; 2];

fn item(p: u32) -> Item {
    [p, !p]
}

/// Receives until the subscriber has accounted for `published` items
/// (received or lagged), spinning (`sleep` false) or sleeping in `recv`;
/// checks every item against its position. Returns (received, lagged).
fn account<N: Notify>(rx: &mut Subscriber<'_, Item, N>, published: u32, sleep: bool) -> (u32, u64) {
    let mut expected = rx.position();
    let (mut received, mut lagged) = (0u32, 0u64);
    while u64::from(received) + lagged < u64::from(published) {
        let got = if sleep { rx.recv() } else { rx.try_recv() };
        match got {
            Ok(v) => {
                assert_eq!(v, item(v[0]), "torn item {v:x?}");
                assert_eq!(v[0], expected, "out of order");
                expected = expected.wrapping_add(1);
                received += 1;
            }
            Err(Error::Lagged(n)) => {
                assert!(n > 0);
                lagged += n;
                expected = expected.wrapping_add(n as u32);
                assert_eq!(rx.position(), expected);
            }
            Err(Error::Empty) if !sleep => thread::yield_now(),
            Err(e) => panic!("receive: {e:?}"),
        }
    }
    assert_eq!(u64::from(received) + lagged, u64::from(published));
    (received, lagged)
}

/// A publisher thread publishes three items into two slots from
/// `u32::MAX - 1` (positions MAX-1, MAX, 0: the wrap, and the first slot
/// overwritten); two subscribers that started before it, one spinning on
/// the main thread and one asleep in `recv`, each account for all three.
/// Preemption bound 1 (193,000 executions, about 20 s); bound 2 runs for
/// many minutes (`LOOM_MAX_PREEMPTIONS=2` by hand).
#[test]
fn one_publisher_two_subscribers_across_the_wrap() {
    model(1, || {
        let start = u32::MAX - 1;
        let options = Options::new(2).start_at(start).waking(true);
        let ring = Ring::<Item>::new_modelled_with(options).unwrap();
        let futex = LoomFutex::new();
        let mut tx = ring.publisher_with(futex.clone()).unwrap();
        let mut spinning = ring.subscriber_with(futex.clone(), Start::Next).unwrap();
        let mut sleeping = ring.subscriber_with(futex, Start::Next).unwrap();

        let publisher = thread::spawn(move || {
            for k in 0..3 {
                tx.publish(item(start.wrapping_add(k)));
            }
        });
        let sleeper = thread::spawn(move || account(&mut sleeping, 3, true));
        account(&mut spinning, 3, false);
        publisher.join().unwrap();
        sleeper.join().unwrap();
    });
}

/// The same with one subscriber, asleep in `recv`, at preemption bound 3:
/// deeper interleavings of the publisher's stores with the event count.
#[test]
fn one_publisher_one_sleeping_subscriber() {
    model(3, || {
        let start = u32::MAX - 1;
        let options = Options::new(2).start_at(start).waking(true);
        let ring = Ring::<Item>::new_modelled_with(options).unwrap();
        let futex = LoomFutex::new();
        let mut tx = ring.publisher_with(futex.clone()).unwrap();
        let mut sleeping = ring.subscriber_with(futex, Start::Next).unwrap();
        let publisher = thread::spawn(move || {
            for k in 0..3 {
                tx.publish(item(start.wrapping_add(k)));
            }
        });
        account(&mut sleeping, 3, true);
        publisher.join().unwrap();
    });
}

/// Two items are in a ring of two slots; a subscriber starts at the oldest
/// and reads while the publisher overwrites both slots (two more items). Any
/// copy that raced an overwrite must be refused (a lag), and the count must
/// come out exact: received + lagged == 4.
#[test]
fn a_torn_or_overwritten_copy_is_never_accepted() {
    model(3, || {
        let start = u32::MAX;
        let ring = Ring::<Item>::new_modelled(2, start).unwrap();
        let mut tx = ring.publisher().unwrap();
        tx.publish(item(start));
        tx.publish(item(start.wrapping_add(1)));
        let mut rx = ring.subscriber_from(Start::Oldest).unwrap();
        let publisher = thread::spawn(move || {
            tx.publish(item(start.wrapping_add(2)));
            tx.publish(item(start.wrapping_add(3)));
        });
        account(&mut rx, 4, false);
        publisher.join().unwrap();
    });
}

/// A publisher dies half-way through writing the third item (its stamp
/// says "being written", `tail` unmoved) while a subscriber a lap behind
/// reads; then the role is released and a new publisher rewrites the slot.
/// The subscriber never returns the half-written copy, lags past the slot
/// it destroyed, and receives the rewritten item: received + lagged == 3.
#[test]
fn a_publisher_that_dies_mid_write_is_taken_over() {
    model(3, || {
        let start = u32::MAX - 1;
        let ring = Ring::<Item>::new_modelled(2, start).unwrap();
        let mut tx = ring.publisher().unwrap();
        tx.publish(item(start));
        tx.publish(item(start.wrapping_add(1)));
        let mut rx = ring.subscriber_from(Start::Oldest).unwrap();
        let dying = thread::spawn(move || {
            // A different item than the one rewritten below: if the
            // subscriber returned the half-written copy, its check fails.
            tx.publish_and_die([start.wrapping_add(2), 0]);
        });
        // Read what can be read while the publisher is dying.
        let mut expected = start;
        let mut accounted = 0u64;
        for _ in 0..2 {
            match rx.try_recv() {
                Ok(v) => {
                    assert_eq!(v, item(expected));
                    expected = expected.wrapping_add(1);
                    accounted += 1;
                }
                Err(Error::Lagged(n)) => {
                    expected = expected.wrapping_add(n as u32);
                    accounted += n;
                }
                Err(Error::Empty) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        dying.join().unwrap();
        // SAFETY: the dead publisher is never used again.
        unsafe { ring.release_producer_claim() };
        let mut tx = ring.publisher().unwrap();
        assert_eq!(tx.position(), start.wrapping_add(2));
        tx.publish(item(start.wrapping_add(2)));
        let left = 3 - accounted as u32;
        let (received, _) = account(&mut rx, left, false);
        assert!(received >= 1, "the rewritten item is received");
    });
}

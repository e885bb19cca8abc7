//! loom models of the broadcast ring's subscriber table and reliable
//! policy (`ipckit_core::broadcast::{Member, ReliablePublisher}`), run
//! against the shipping source through the core's `loom` sync facade.
//!
//! Run with
//! `RUSTFLAGS="--cfg ipckit_loom" CARGO_TARGET_DIR=target/loom cargo test -p ipckit-loom-tests --release --test broadcast_reliable`.
//! Without `--cfg ipckit_loom` this file compiles to nothing.
//!
//! What the models cover:
//! - a reliable publisher never overwrites an item an active member has
//!   not read, across the `u32` wrap and several laps of a two-slot ring:
//!   the member gets every item in order, never a lag, and the items are
//!   loom atomics read `Relaxed`, so an overwrite shows up as a lag or a
//!   torn item;
//! - a join racing publications: the member joins at `Next` while the
//!   publisher publishes (the publisher may have computed its bound before
//!   the join); from the position the join returns it receives every
//!   item, never a lag;
//! - a join at `Oldest` racing a spinning publisher's blocking `publish`:
//!   a lag only for items before the join's `tail`;
//! - releasing a dead member wakes the publisher asleep for room (a lost
//!   wake-up is a loom deadlock);
//! - a publisher asleep for room is woken by the member that reads, which
//!   sleeps itself in `recv` (both halves of both event counts).
#![cfg(ipckit_loom)]

use ipckit_core::Error;
use ipckit_core::broadcast::{Member, Options, Policy, Ring, Start};
use ipckit_core::wait::Notify;
use ipckit_loom_tests::{LoomFutex, model};
use loom::thread;

/// Item of position `p`: halves that must agree, naming the position.
type Item = [u32; 2];

fn item(p: u32) -> Item {
    [p, !p]
}

fn reliable(capacity: u32, entries: u32, start: u32) -> Options {
    Options::new(capacity)
        .subscribers(entries)
        .policy(Policy::Reliable)
        .start_at(start)
}

/// Receives `count` items, spinning (`sleep` false) or sleeping in `recv`:
/// every one in order from the member's position, never a lag.
fn receive_all<N: Notify>(rx: &mut Member<'_, Item, N>, count: u32, sleep: bool) {
    let mut expected = rx.position();
    let mut received = 0;
    while received < count {
        let got = if sleep { rx.recv() } else { rx.try_recv() };
        match got {
            Ok(v) => {
                assert_eq!(v, item(expected), "torn, overwritten or out of order");
                expected = expected.wrapping_add(1);
                received += 1;
            }
            Err(Error::Empty) if !sleep => thread::yield_now(),
            Err(e) => panic!("receive: {e:?}"),
        }
    }
}

/// Capacity 2, four items from `u32::MAX - 1` (two laps, the wrap): the
/// publisher retries `try_publish` on `Full`; the member reads all four.
/// Shown failing (a lag) with the publisher's `room` check always true.
#[test]
fn a_reliable_publisher_never_overwrites_an_unread_item() {
    model(4, || {
        let start = u32::MAX - 1;
        let ring = Ring::<Item>::new_modelled_with(reliable(2, 1, start)).unwrap();
        let mut tx = ring.reliable_publisher().unwrap();
        let mut rx = ring.join(Start::Next).unwrap();
        let publisher = thread::spawn(move || {
            for k in 0..4 {
                let p = start.wrapping_add(k);
                loop {
                    match tx.try_publish(item(p)) {
                        Ok(()) => break,
                        Err(Error::Full) => thread::yield_now(),
                        Err(e) => panic!("publish: {e:?}"),
                    }
                }
            }
        });
        receive_all(&mut rx, 4, false);
        publisher.join().unwrap();
    });
}

/// A member joins at `Next` while the publisher publishes three items
/// into two slots (no member before it: the publisher's first bound lets
/// it write a whole ring). The member receives every item from the position
/// its join returned. Shown failing with the joiner's `JOINING` state
/// ignored by the publisher's scan.
#[test]
fn a_join_racing_publications_loses_nothing_after_its_start() {
    model(4, || {
        let start = u32::MAX;
        let ring = Ring::<Item>::new_modelled_with(reliable(2, 1, start)).unwrap();
        let mut tx = ring.reliable_publisher().unwrap();
        let publisher = thread::spawn(move || {
            for k in 0..3 {
                let p = start.wrapping_add(k);
                loop {
                    match tx.try_publish(item(p)) {
                        Ok(()) => break,
                        Err(Error::Full) => thread::yield_now(),
                        Err(e) => panic!("publish: {e:?}"),
                    }
                }
            }
        });
        let mut rx = ring.join(Start::Next).unwrap();
        let left = start.wrapping_add(3).wrapping_sub(rx.position());
        assert!(left <= 3, "joined past the publisher");
        receive_all(&mut rx, left, false);
        publisher.join().unwrap();
    });
}

/// A member joins at `Oldest` (one item already published) while a
/// spinning publisher publishes three more into two slots with the blocking
/// `publish` (its re-scan loop). The member may lose only items from before
/// its join (a lag that ends no later than the `tail` it joined at), then
/// receives everything in order.
#[test]
fn an_oldest_join_lags_only_before_its_start() {
    model(3, || {
        let start = u32::MAX;
        let ring = Ring::<Item>::new_modelled_with(reliable(2, 1, start)).unwrap();
        let mut tx = ring.reliable_publisher().unwrap();
        tx.try_publish(item(start)).unwrap();
        let publisher = thread::spawn(move || {
            for k in 1..4 {
                tx.publish(item(start.wrapping_add(k))).unwrap();
            }
        });
        let mut rx = ring.join(Start::Oldest).unwrap();
        // At least the `tail` the join chose its start from.
        let floor = ring.tail();
        let end = start.wrapping_add(4);
        let mut expected = rx.position();
        while expected != end {
            match rx.try_recv() {
                Ok(v) => {
                    assert_eq!(v, item(expected), "torn, overwritten or out of order");
                    expected = expected.wrapping_add(1);
                }
                Err(Error::Lagged(n)) => {
                    expected = expected.wrapping_add(n as u32);
                    assert!(floor.wrapping_sub(expected) <= 2, "lagged past the join");
                }
                Err(Error::Empty) => thread::yield_now(),
                Err(e) => panic!("receive: {e:?}"),
            }
        }
        publisher.join().unwrap();
    });
}

/// A member dies holding the ring full while a live member reads, asleep
/// in `recv`; the publisher sleeps in `publish`; a survivor releases the
/// dead member's entry, which must wake the publisher. Shown deadlocking
/// without the release's wake.
#[test]
fn releasing_a_dead_member_wakes_the_publisher() {
    model(3, || {
        let ring = Ring::<Item>::new_modelled_with(reliable(2, 2, 0).waking(true)).unwrap();
        // The reader sleeps on `tail`, the publisher on `progress`.
        let futex = LoomFutex::for_several_words();
        let mut tx = ring.reliable_publisher_with(futex.clone()).unwrap();
        let dead = ring.join_with(futex.clone(), Start::Next).unwrap();
        let mut live = ring.join_with(futex.clone(), Start::Next).unwrap();
        let index = dead.die();
        tx.try_publish(item(0)).unwrap();
        tx.try_publish(item(1)).unwrap();
        let publisher = thread::spawn(move || {
            tx.publish(item(2)).unwrap();
        });
        let reader = thread::spawn(move || receive_all(&mut live, 3, true));
        // SAFETY: the dead member is never used again.
        unsafe { ring.release_member(index, &futex).unwrap() };
        publisher.join().unwrap();
        reader.join().unwrap();
        assert_eq!(ring.tail(), 3);
    });
}

/// The publisher publishes three items into two slots with the blocking
/// `publish` while the member receives them asleep in `recv`: each side
/// sleeps on the other's event count. Shown deadlocking with the member's
/// wake of the publisher removed.
#[test]
fn a_sleeping_publisher_is_woken_by_the_member() {
    model(3, || {
        let start = u32::MAX;
        let options = reliable(2, 1, start).waking(true);
        let ring = Ring::<Item>::new_modelled_with(options).unwrap();
        let futex = LoomFutex::new();
        let mut tx = ring.reliable_publisher_with(futex.clone()).unwrap();
        let mut rx = ring.join_with(futex, Start::Next).unwrap();
        let publisher = thread::spawn(move || {
            for k in 0..3 {
                tx.publish(item(start.wrapping_add(k))).unwrap();
            }
        });
        receive_all(&mut rx, 3, true);
        publisher.join().unwrap();
    });
}

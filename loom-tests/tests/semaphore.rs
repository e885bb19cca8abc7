//! loom models of the counting semaphore (`ipckit_core::semaphore`), run
//! against the shipping algorithm through the core's `loom` sync facade.
//!
//! Run with `RUSTFLAGS="--cfg ipckit_loom" cargo test -p ipckit-loom-tests --release --test semaphore`.
//! Without `--cfg ipckit_loom` this file compiles to nothing.
//!
//! What the models cover:
//! - mutual exclusion and ordering: two threads use a semaphore of maximum 1
//!   as a mutex around a loom `UnsafeCell` counter; loom reports any access
//!   to the cell that the `Release` post and the `Acquire` take do not order
//!   as a race, and the final count must be exact (spinning and sleeping
//!   waiters);
//! - the event count with sleeping waiters ([`LoomFutex`]): a waiter
//!   blocked in `wait()` is always released by a `post()`; two waiters and
//!   two racing posts are all released (wake-one per post, counter
//!   announcement); a waiter whose re-check saw the count taken by a third
//!   thread is still released by the post that follows (it sleeps only while
//!   the count is 0, never on a stale value). A lost wake-up leaves every
//!   thread blocked, which loom reports as a deadlock.
//!
//! Each model sets a preemption bound, unless `LOOM_MAX_PREEMPTIONS` is set
//! in the environment, which then wins (to run a deeper check by hand). The
//! two-thread models are explored exhaustively (their execution counts stop
//! growing below the bound of 12); the three- and four-thread models use the
//! largest bounds that keep each under about ten seconds (4 and 2). Deeper
//! runs by hand passed too: `stale_value_does_not_hide_a_post` at bound 6
//! (2.1 million executions, two and a half minutes) and
//! `two_waiters_two_posts` at bound 3 (1.6 million, three minutes).
#![cfg(ipckit_loom)]

use ipckit_core::Error;
use ipckit_core::semaphore::{Options, Semaphore};
use ipckit_core::wait::Notify;
use ipckit_loom_tests::LoomFutex;
use ipckit_loom_tests::model;
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;

/// Two threads each take the semaphore (maximum 1), add 1 to a plain
/// counter, and post. The counter cell is loom's: an unordered access is a
/// reported race, so this checks mutual exclusion *and* that the critical
/// sections are ordered by the post/take pair.
/// `notify` makes the notifier inside the model (loom objects cannot be
/// created outside it).
fn mutex<N>(options: Options, notify: fn() -> N, bound: usize)
where
    N: Notify + Clone + Send + Sync + 'static,
{
    model(bound, move || {
        let sem = Semaphore::new_modelled_with(options).unwrap();
        let notify = notify();
        let counter = Arc::new(UnsafeCell::new(0u32));

        let lock = sem.handle_with(notify.clone()).unwrap();
        let other_counter = counter.clone();
        let other = thread::spawn(move || {
            lock.wait().unwrap();
            other_counter.with_mut(|p| {
                // SAFETY: loom checks that no other access is concurrent.
                unsafe { *p += 1 }
            });
            lock.post().unwrap();
        });

        let lock = sem.handle_with(notify.clone()).unwrap();
        lock.wait().unwrap();
        counter.with_mut(|p| {
            // SAFETY: as above.
            unsafe { *p += 1 }
        });
        lock.post().unwrap();

        other.join().unwrap();
        // SAFETY: both threads are done with the cell.
        assert_eq!(counter.with(|p| unsafe { *p }), 2);
        assert_eq!(sem.value(), Ok(1));
    });
}

/// (a) The mutex with spinning waiters (no wake-ups at all).
#[test]
fn mutex_spinning() {
    mutex(Options::new(1).initial(1), ipckit_core::wait::Spin::new, 12);
}

/// (a) The mutex with sleeping waiters: the loser of the race sleeps on the
/// count and must be woken by the winner's post.
#[test]
fn mutex_sleeping() {
    mutex(Options::new(1).initial(1).waking(true), LoomFutex::new, 12);
}

/// (b) One thread blocks in `wait()` on a count of 0, another posts: the
/// waiter is always released, whatever the interleaving of its
/// announcement, fence and re-check with the post's swap, fence and check.
#[test]
fn blocked_waiter_is_released_by_post() {
    model(12, || {
        let sem = Semaphore::new_modelled_with(Options::new(1).waking(true)).unwrap();
        let futex = LoomFutex::new();
        let poster = sem.handle_with(futex.clone()).unwrap();
        let post = thread::spawn(move || poster.post().unwrap());

        sem.handle_with(futex).unwrap().wait().unwrap();
        post.join().unwrap();
        assert_eq!(sem.value(), Ok(0));
    });
}

/// (c) Two waiters and two racing posts, one wake-one each: both waiters
/// are released (a post's wake can reach a waiter that has not slept yet,
/// or one that another post already woke; neither may strand the other).
#[test]
fn two_waiters_two_posts() {
    model(2, || {
        let sem = Semaphore::new_modelled_with(Options::new(2).waking(true)).unwrap();
        let futex = LoomFutex::new();

        let waiter = sem.handle_with(futex.clone()).unwrap();
        let other_waiter = thread::spawn(move || waiter.wait().unwrap());
        let posters: Vec<_> = (0..2)
            .map(|_| {
                let poster = sem.handle_with(futex.clone()).unwrap();
                thread::spawn(move || poster.post().unwrap())
            })
            .collect();

        sem.handle_with(futex).unwrap().wait().unwrap();
        other_waiter.join().unwrap();
        for p in posters {
            p.join().unwrap();
        }
        assert_eq!(sem.value(), Ok(0));
    });
}

/// (d) The count returns to a value the waiter read before its re-check:
/// a post makes it 1 and the waiter reads 1 after announcing itself, a
/// third thread takes that unit so the waiter's re-check finds 0, and a
/// second post makes it 1 again before the waiter sleeps. Had the waiter
/// slept while the count held the value it read first (1), it would sleep
/// through the very post it needs. It sleeps only while the count is 0, so
/// it is always released.
#[test]
fn stale_value_does_not_hide_a_post() {
    model(4, || {
        let sem = Semaphore::new_modelled_with(Options::new(2).waking(true)).unwrap();
        let futex = LoomFutex::new();

        let taker = sem.handle_with(futex.clone()).unwrap();
        let take = thread::spawn(move || match taker.try_wait() {
            Ok(()) => 1,
            Err(Error::Empty) => 0,
            Err(e) => panic!("try_wait: {e:?}"),
        });
        let poster = sem.handle_with(futex.clone()).unwrap();
        let post = thread::spawn(move || {
            poster.post().unwrap();
            poster.post().unwrap();
        });

        sem.handle_with(futex).unwrap().wait().unwrap();
        let taken = take.join().unwrap();
        post.join().unwrap();
        // Two units posted; the waiter took one, the taker maybe the other.
        assert_eq!(sem.value(), Ok(1 - taken));
    });
}

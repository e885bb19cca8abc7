//! Unit tests of the counting semaphore: counting, limits, timeouts, wake
//! calls, every kind of bad header or count a peer can produce, and threads
//! using it as a mutex (miri checks the mutual exclusion with its data-race
//! detector).

use std::cell::UnsafeCell;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Instant;

use core::time::Duration;

use super::*;
use crate::test_support::{CondvarFutex, Golden, PeerMemory, std_clock, xorshift};

const COUNT: usize = 128;
const WAITERS: usize = 132;
use crate::region::MAGIC;
use crate::{AlignedBytes, ObjectKind, Region};

fn timed() -> Spin {
    Spin::with_clock(std_clock)
}

/// Waits (yielding, with a generous deadline) until `cond` holds.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

#[test]
fn semaphore_counts_between_zero_and_the_maximum() {
    let mem = PeerMemory::new();
    let sem = Semaphore::init(mem.region(), 0, 3).unwrap();
    let h = sem.handle().unwrap();
    assert_eq!(h.try_wait(), Err(Error::Empty));
    for i in 1..=3 {
        h.post().unwrap();
        assert_eq!(h.value(), Ok(i));
    }
    assert_eq!(h.post(), Err(Error::Full), "count at its maximum");
    assert_eq!(h.value(), Ok(3));
    for i in (0..3).rev() {
        h.try_wait().unwrap();
        assert_eq!(sem.value(), Ok(i));
    }
    assert_eq!(h.try_wait(), Err(Error::Empty));
    assert_eq!(mem.word(COUNT).load(SeqCst), 0);

    // `post_n` gives all units or none.
    h.post_n(2).unwrap();
    assert_eq!(h.post_n(2), Err(Error::Full));
    assert_eq!(h.post_n(u32::MAX), Err(Error::Full), "no overflow");
    assert_eq!(h.value(), Ok(2));
    h.post_n(0).unwrap();
    h.post_n(1).unwrap();
    assert_eq!((h.value(), h.max()), (Ok(3), 3));

    // The largest maximum.
    let mem = PeerMemory::new();
    let h = Semaphore::init(mem.region(), u32::MAX - 1, u32::MAX)
        .unwrap()
        .handle()
        .unwrap();
    h.post().unwrap();
    assert_eq!(h.post(), Err(Error::Full));
    assert_eq!(h.post_n(u32::MAX), Err(Error::Full));
    h.try_wait().unwrap();
    assert_eq!(h.value(), Ok(u32::MAX - 1));

    // Handles are plentiful and share the count.
    let other = h.semaphore().handle().unwrap();
    let cloned = other.clone();
    cloned.try_wait().unwrap();
    assert_eq!(h.value(), Ok(u32::MAX - 2));
    assert!(std::format!("{cloned:?} {:?}", h.semaphore()).contains("max"));
}

#[test]
fn semaphore_init_refuses_bad_requests() {
    let mem = PeerMemory::new();
    for (initial, max) in [(0, 0), (1, 0), (2, 1), (u32::MAX, 7)] {
        assert_eq!(
            Semaphore::init(mem.region(), initial, max).unwrap_err(),
            Error::InvalidCapacity,
            "initial {initial}, max {max}"
        );
    }
    assert_eq!(
        Semaphore::init(mem.region_at(0, REGION_LEN - 1), 0, 1).unwrap_err(),
        Error::TooSmall {
            required: 256,
            actual: 255
        }
    );
    assert_eq!(
        Semaphore::init(mem.region_at(2, 512), 0, 1).unwrap_err(),
        Error::Misaligned { required: 4 }
    );
    assert_eq!(mem.word(16).load(SeqCst), 0, "header untouched");

    // The exact length is enough; a second creator on raw memory loses.
    Semaphore::init(mem.region_at(0, REGION_LEN), 1, 1).unwrap();
    assert_eq!(
        Semaphore::init(mem.region(), 1, 1).unwrap_err(),
        Error::AlreadyInitialized
    );
    // A region this process owns exclusively is simply reset.
    let mut bytes = AlignedBytes::<256>::new();
    Semaphore::init(Region::from_slice(&mut bytes[..]), 1, 1).unwrap();
    let sem = Semaphore::init(Region::from_slice(&mut bytes[..]), 2, 9).unwrap();
    assert_eq!((sem.value(), sem.max()), (Ok(2), 9));
}

/// Initialises a semaphore (count 2 of 5, waking), lets `poke` play the
/// faulty peer, and returns what `attach` says: (count, max, wakes).
fn attach_after(poke: impl FnOnce(&PeerMemory)) -> Result<(u32, u32, bool)> {
    let mem = PeerMemory::new();
    Semaphore::init_with(mem.region(), Options::new(5).initial(2).waking(true)).unwrap();
    poke(&mem);
    let sem = Semaphore::attach(mem.region())?;
    Ok((sem.value()?, sem.max(), sem.wakes()))
}

#[test]
fn semaphore_attach_validates_every_header_field() {
    assert_eq!(attach_after(|_| {}), Ok((2, 5, true)));
    // The header checks every ring shares are the placement layer's,
    // tested once with the SPSC ring; here: the semaphore's kind, element,
    // maximum (a count, not a power of two) and count.
    let cases: [(usize, u32, Error); 5] = [
        (
            8,
            ObjectKind::Spsc.code(),
            Error::KindMismatch {
                found: 1,
                expected: 3,
            },
        ),
        (20, 8, Error::ElementMismatch { size: 8, align: 4 }),
        (28, 0, Error::Corrupted("capacity in header")),
        (32, 256, Error::Corrupted("data offset in header")),
        (
            COUNT,
            6,
            Error::Corrupted("semaphore count above its maximum"),
        ),
    ];
    for (offset, value, expected) in cases {
        let got = attach_after(|m| m.word(offset).store(value, SeqCst)).unwrap_err();
        assert_eq!(got, expected, "word at {offset} = {value:#x}");
    }
    // Values the layout allows are taken as written.
    assert_eq!(
        attach_after(|m| m.word(36).store(0, SeqCst)),
        Ok((2, 5, false))
    );
    assert_eq!(
        attach_after(|m| m.word(28).store(u32::MAX, SeqCst)),
        Ok((2, u32::MAX, true))
    );
    assert_eq!(
        attach_after(|m| m.word(COUNT).store(5, SeqCst)),
        Ok((5, 5, true))
    );
    // `waiters` is a hint only: any value is accepted.
    assert_eq!(
        attach_after(|m| m.word(WAITERS).store(u32::MAX, SeqCst)),
        Ok((2, 5, true))
    );

    // A region too short for the count line.
    let mem = PeerMemory::new();
    Semaphore::init(mem.region(), 0, 1).unwrap();
    assert_eq!(
        Semaphore::attach(mem.region_at(0, 200)).unwrap_err(),
        Error::TooSmall {
            required: 256,
            actual: 200
        }
    );
}

#[test]
fn semaphore_golden_header_bytes() {
    let mem = PeerMemory::new();
    Semaphore::init_with(mem.region(), Options::new(5).initial(3).waking(true)).unwrap();
    // Elements: the u32 count word; capacity: the maximum count; data: the
    // count line.
    Golden::ready(REGION_LEN, 3, (4, 4), 5, 128) // kind: semaphore
        .word(36, 1) // flags: FLAG_WAKES
        .word(128, 3) // count; waiters (132..136) and the rest stay zero
        .check(&mem);
    assert_eq!(mem.word(0).load(SeqCst), MAGIC);
    assert_eq!(
        crate::region::inspect(mem.region()).unwrap().kind,
        Some(ObjectKind::Semaphore)
    );
}

#[test]
fn semaphore_corrupted_count_is_an_error_not_a_loop() {
    let mem = PeerMemory::new();
    let sem = Semaphore::init(mem.region(), 1, 2).unwrap();
    let h = sem.handle_with(timed()).unwrap();
    for garbage in [3, 1000, u32::MAX] {
        mem.word(COUNT).store(garbage, SeqCst);
        let corrupted = Err(Error::Corrupted("semaphore count above its maximum"));
        assert_eq!(h.try_wait(), corrupted);
        assert_eq!(h.post(), corrupted);
        assert_eq!(h.post_n(1), corrupted);
        assert_eq!(h.wait(), corrupted);
        assert_eq!(h.wait_timeout(Some(Duration::from_secs(60))), corrupted);
        assert_eq!(h.value().map_err(|_| ()), Err(()));
        assert!(matches!(sem.value(), Err(Error::Corrupted(_))));
        // Nothing was changed: the garbage is still there.
        assert_eq!(mem.word(COUNT).load(SeqCst), garbage);
        assert_eq!(mem.word(WAITERS).load(SeqCst), 0);
    }
    // Once the peer repairs the word, the semaphore works again.
    mem.word(COUNT).store(2, SeqCst);
    h.wait().unwrap();
    assert_eq!(h.value(), Ok(1));
}

#[test]
fn semaphore_sleeping_waiter_sees_corruption() {
    for waking in [false, true] {
        let mem = PeerMemory::new();
        let sem = Semaphore::init_with(mem.region(), Options::new(1).waking(waking)).unwrap();
        let futex = CondvarFutex::default();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                if waking {
                    sem.handle_with(futex.clone()).unwrap().wait()
                } else {
                    sem.handle().unwrap().wait()
                }
            });
            if waking {
                eventually("the waiter to announce itself", || {
                    mem.word(WAITERS).load(SeqCst) != 0
                });
            } else {
                // A spinning waiter needs no wake-up, so it does not
                // announce itself: give it time to reach its spin.
                std::thread::sleep(Duration::from_millis(if cfg!(miri) { 1 } else { 20 }));
            }
            mem.word(COUNT).store(77, SeqCst);
            // The peer wrote garbage; a futex waiter is woken by whatever
            // comes next (here, a wake of the peer's own).
            futex.wake_all(mem.word(COUNT));
            assert_eq!(
                waiter.join().unwrap(),
                Err(Error::Corrupted("semaphore count above its maximum"))
            );
        });
        assert_eq!(mem.word(WAITERS).load(SeqCst), 0, "announcement withdrawn");
    }
}

#[test]
fn semaphore_timeouts() {
    let wait = Duration::from_millis(if cfg!(miri) { 1 } else { 20 });
    let mem = PeerMemory::new();
    let sem = Semaphore::init(mem.region(), 0, 1).unwrap();
    let h = sem.handle_with(timed()).unwrap();
    let started = Instant::now();
    assert_eq!(h.wait_timeout(Some(wait)), Err(Error::TimedOut));
    assert!(started.elapsed() >= wait);
    assert_eq!(h.wait_timeout(Some(Duration::ZERO)), Err(Error::TimedOut));
    assert_eq!(mem.word(WAITERS).load(SeqCst), 0, "announcement withdrawn");
    // A unit that is there is taken whatever the timeout, clock or not.
    h.post().unwrap();
    assert_eq!(h.wait_timeout(Some(Duration::ZERO)), Ok(()));
    let no_clock = sem.handle().unwrap();
    no_clock.post().unwrap();
    assert_eq!(no_clock.wait_timeout(Some(wait)), Ok(()));
    // Without a clock a timeout cannot be honoured: refused, not a hang.
    assert_eq!(no_clock.wait_timeout(Some(wait)), Err(Error::NoClock));

    // The same with sleeping waiters.
    let mem = PeerMemory::new();
    let sem = Semaphore::init_with(mem.region(), Options::new(1).waking(true)).unwrap();
    let futex = CondvarFutex::default();
    let h = sem.handle_with(futex.clone()).unwrap();
    let started = Instant::now();
    assert_eq!(h.wait_timeout(Some(wait)), Err(Error::TimedOut));
    assert!(started.elapsed() >= wait);
    assert_eq!(mem.word(WAITERS).load(SeqCst), 0, "announcement withdrawn");
    assert_eq!(futex.wakes(), 0);
}

#[test]
fn semaphore_notifier_must_match_the_wake_mode() {
    let mem = PeerMemory::new();
    let sem = Semaphore::init(mem.region(), 0, 1).unwrap();
    assert!(!sem.wakes());
    assert_eq!(
        sem.handle_with(CondvarFutex::default()).unwrap_err(),
        Error::NotifyMismatch
    );
    let mem = PeerMemory::new();
    let sem = Semaphore::init_with(mem.region(), Options::new(1).waking(true)).unwrap();
    assert!(sem.wakes());
    assert_eq!(sem.handle().unwrap_err(), Error::NotifyMismatch);
    // An attacher sees the mode in the header.
    let again = Semaphore::attach(mem.region()).unwrap();
    assert!(again.wakes());
    assert_eq!(
        again.handle_with(timed()).unwrap_err(),
        Error::NotifyMismatch
    );
    assert!(again.handle_with(CondvarFutex::default()).is_ok());
}

#[test]
fn semaphore_wakes_only_announced_waiters() {
    let mem = PeerMemory::new();
    let sem = Semaphore::init_with(mem.region(), Options::new(4).waking(true)).unwrap();
    let futex = CondvarFutex::default();
    let h = sem.handle_with(futex.clone()).unwrap();
    // Nobody waits: the fast paths make no wake call.
    for _ in 0..10 {
        h.post().unwrap();
        h.try_wait().unwrap();
        h.post_n(2).unwrap();
        h.wait().unwrap();
        h.wait().unwrap();
    }
    assert_eq!(futex.wakes(), 0);

    // One sleeping waiter: one post, one wake. (Wait until it is really
    // asleep: a waiter that is merely announced may still find the post in
    // its re-check and take the unit without any wake.)
    std::thread::scope(|s| {
        let waiter = s.spawn(|| h.wait());
        eventually("the waiter to fall asleep", || futex.sleepers() == 1);
        h.post().unwrap();
        assert_eq!(waiter.join().unwrap(), Ok(()));
    });
    assert!(futex.wakes() >= 1);
    assert_eq!(mem.word(WAITERS).load(SeqCst), 0);

    // Two sleeping waiters and `post_n(2)`: both released by one wake-all.
    std::thread::scope(|s| {
        let a = s.spawn(|| h.wait());
        let b = s.spawn(|| h.wait());
        eventually("both waiters to fall asleep", || futex.sleepers() == 2);
        h.post_n(2).unwrap();
        assert_eq!(a.join().unwrap(), Ok(()));
        assert_eq!(b.join().unwrap(), Ok(()));
    });
    assert_eq!(h.value(), Ok(0));
}

/// A plain counter that only a holder of the semaphore touches.
struct Guarded(UnsafeCell<u64>);

// SAFETY: every access happens between `wait` and `post` of a semaphore of
// maximum 1 (miri's data-race detector checks this).
unsafe impl Sync for Guarded {}

/// `threads` threads each add 1 to a plain (non-atomic) counter `rounds`
/// times, holding the semaphore (initial 1, maximum 1) around each
/// read-modify-write.
fn mutex_run<N: Notify + Clone + Send + Sync>(
    options: Options,
    notify: N,
    threads: u64,
    rounds: u64,
) {
    let mem = PeerMemory::new();
    let sem = Semaphore::init_with(mem.region(), options).unwrap();
    let counter = Guarded(UnsafeCell::new(0));
    std::thread::scope(|s| {
        for t in 0..threads {
            let lock = sem.handle_with(notify.clone()).unwrap();
            let counter = &counter;
            s.spawn(move || {
                for i in 0..rounds {
                    // Mix the blocking and the non-blocking entry.
                    if (i + t) % 3 == 0 {
                        while let Err(e) = lock.try_wait() {
                            assert_eq!(e, Error::Empty);
                            std::thread::yield_now();
                        }
                    } else {
                        lock.wait().unwrap();
                    }
                    // SAFETY: this thread holds the only unit.
                    unsafe {
                        let p = counter.0.get();
                        p.write(p.read() + 1);
                    }
                    lock.post().unwrap();
                }
            });
        }
    });
    assert_eq!(counter.0.into_inner(), threads * rounds);
    assert_eq!(sem.value(), Ok(1));
    assert_eq!(mem.word(WAITERS).load(SeqCst), 0);
}

#[test]
fn semaphore_as_a_mutex_spinning() {
    let rounds = if cfg!(miri) { 30 } else { 100_000 };
    mutex_run(Options::new(1).initial(1), Spin::new(), 2, rounds);
}

#[test]
fn semaphore_as_a_mutex_sleeping() {
    let (threads, rounds) = if cfg!(miri) { (3, 20) } else { (4, 50_000) };
    let options = Options::new(1).initial(1).waking(true);
    mutex_run(options, CondvarFutex::default(), threads, rounds);
}

/// Waiters sleep on a semaphore of small maximum while posters give units
/// back one by one (retrying on `Full`): every waiter gets every unit it
/// waits for, with a notifier whose `wake_one` releases exactly one thread.
#[test]
fn semaphore_many_waiters_many_posters() {
    let (waiters, posters, per_waiter) = if cfg!(miri) {
        (3, 2, 4)
    } else {
        (4, 2, 20_000)
    };
    let total = waiters * per_waiter;
    let mem = PeerMemory::new();
    let sem = Semaphore::init_with(mem.region(), Options::new(2).waking(true)).unwrap();
    let futex = CondvarFutex::default();
    std::thread::scope(|s| {
        for _ in 0..waiters {
            let h = sem.handle_with(futex.clone()).unwrap();
            s.spawn(move || {
                for _ in 0..per_waiter {
                    // A lost wake-up fails the test instead of hanging it.
                    assert_eq!(h.wait_timeout(Some(Duration::from_secs(60))), Ok(()));
                }
            });
        }
        for p in 0..posters {
            let h = sem.handle_with(futex.clone()).unwrap();
            s.spawn(move || {
                let mine = total / posters + u32::from(p < total % posters);
                for _ in 0..mine {
                    while let Err(e) = h.post() {
                        assert_eq!(e, Error::Full);
                        std::thread::yield_now();
                    }
                }
            });
        }
    });
    assert_eq!(sem.value(), Ok(0));
    assert_eq!(mem.word(WAITERS).load(SeqCst), 0);
}

#[test]
fn semaphore_hostile_peer_never_causes_a_panic() {
    // A peer that writes arbitrary values into the count and the waiters
    // word while this side uses every operation: each returns a value or an
    // error, and the loop ends.
    let rounds = if cfg!(miri) { 50 } else { 20_000 };
    let mem = PeerMemory::new();
    let sem = Semaphore::init(mem.region(), 1, 4).unwrap();
    let h = sem.handle_with(timed()).unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            for x in xorshift(0x9E37_79B9) {
                if stop.load(SeqCst) {
                    break;
                }
                let value = if x & 4 == 0 { x >> 29 } else { x };
                let word = if x & 1 == 0 { COUNT } else { WAITERS };
                mem.word(word).store(value, SeqCst);
                std::thread::yield_now();
            }
        });
        for i in 0..rounds {
            let _ = h.try_wait();
            let _ = h.post();
            let _ = h.post_n(i % 5);
            let _ = h.value();
            let _ = h.wait_timeout(Some(Duration::ZERO));
        }
        stop.store(true, SeqCst);
    });
}

/// Loads and CAS failures on an ordinary contended count stay far below the
/// retry bound: four threads hammering one word never see `Corrupted`.
#[test]
fn semaphore_contention_is_not_corruption() {
    let rounds = if cfg!(miri) { 20 } else { 200_000 };
    let mem = PeerMemory::new();
    let sem = Semaphore::init(mem.region(), 8, 16).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            let h = sem.handle().unwrap();
            s.spawn(move || {
                for _ in 0..rounds {
                    match h.try_wait() {
                        Ok(()) => h.post().unwrap(),
                        Err(e) => assert_eq!(e, Error::Empty),
                    }
                }
            });
        }
    });
    assert_eq!(sem.value(), Ok(8));
}

/// What the constants, getters and calls promise (the examples that stood
/// in their docs).
#[test]
fn constants_getters_and_calls() {
    assert_eq!(COUNT_OFFSET, 128);
    assert_eq!(REGION_LEN, 256);
    assert_eq!(Semaphore::region_len(), REGION_LEN);
    assert_eq!(MAX_RETRIES, 1 << 20);
    assert_eq!(Options::new(4), Options::new(4).initial(0).waking(false));

    let mut bytes = AlignedBytes::<256>::new();
    let sem = Semaphore::init(Region::from_slice(&mut bytes[..]), 2, 3).unwrap();
    assert_eq!((sem.value(), sem.max(), sem.wakes()), (Ok(2), 3, false));
    let (a, b) = (sem.handle().unwrap(), sem.handle().unwrap());
    assert_eq!(a.try_wait(), Ok(()));
    b.post().unwrap();
    b.post().unwrap();
    assert_eq!(a.post(), Err(Error::Full)); // count at its maximum
    assert_eq!((a.value(), a.max()), (Ok(3), 3));
    let another = a.semaphore().handle().unwrap();
    another.wait().unwrap();
    assert_eq!(a.value(), Ok(2));

    let mut bytes = AlignedBytes::<256>::new();
    let h = Semaphore::init(Region::from_slice(&mut bytes[..]), 1, 4)
        .unwrap()
        .handle()
        .unwrap();
    h.post_n(0).unwrap();
    h.post_n(3).unwrap();
    assert_eq!(h.post_n(1), Err(Error::Full));
    assert_eq!(h.value(), Ok(4));

    // Blocking: a post from another thread, a timeout with and without a
    // clock.
    let mut bytes = AlignedBytes::<256>::new();
    let sem = Semaphore::init(Region::from_slice(&mut bytes[..]), 0, 2).unwrap();
    let (taker, giver) = (sem.handle().unwrap(), sem.handle().unwrap());
    std::thread::scope(|s| {
        s.spawn(move || giver.post_n(2).unwrap());
        taker.wait().unwrap();
        taker.wait().unwrap();
    });
    let h = sem.handle_with(timed()).unwrap();
    let ms = Some(Duration::from_millis(1));
    assert_eq!(h.wait_timeout(ms), Err(Error::TimedOut));
    h.post().unwrap();
    assert_eq!(h.wait_timeout(ms), Ok(()));
    assert_eq!(sem.handle().unwrap().wait_timeout(ms), Err(Error::NoClock));
}

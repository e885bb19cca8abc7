//! Unit tests of the waiting layer.

use super::*;
use core::cell::Cell;

/// A notifier whose clock advances 1 ms per read and whose waits return
/// at once: what matters is how often a blocker reads the clock.
struct Ticking {
    now: Cell<u64>,
    spins: u32,
}

impl Notify for Ticking {
    fn wait(&self, _: &AtomicU32, _: u32, _: Option<Duration>) -> Result<WaitStatus> {
        Ok(WaitStatus::Woken)
    }
    fn wake_one(&self, _: &AtomicU32) {}
    fn wake_all(&self, _: &AtomicU32) {}
    fn now(&self) -> Option<Duration> {
        self.now.set(self.now.get() + 1);
        Some(Duration::from_millis(self.now.get()))
    }
    fn spin_budget(&self) -> u32 {
        self.spins
    }
    fn spin_relax(&self, _: u32) {}
}

/// Attempts that keep doing work and never finish (a peer that keeps
/// feeding skippable records) end at the deadline, whether the caller
/// withdraws with `retry` or `finish`, inside or past the spin phase.
/// Regression: past a spin budget that is not a multiple of 64, a
/// blocker whose announcement was withdrawn never read the clock again.
#[test]
fn busy_attempts_end_at_the_deadline() {
    for spins in [0, 5, 2000, u32::MAX] {
        for use_retry in [true, false] {
            let notify = Ticking {
                now: Cell::new(0),
                spins,
            };
            let (word, waiters) = (AtomicU32::new(0), AtomicU32::new(0));
            let timeout = Some(Duration::from_millis(10));
            let mut blocker = Blocker::new(&notify, timeout, Announce::Single).unwrap();
            let mut attempts = 0u32;
            let end = loop {
                if let Err(e) = blocker.sleep(&notify, &word, &waiters) {
                    break e;
                }
                blocker.prepare(&notify, &word, &waiters);
                attempts += 1;
                assert!(
                    attempts < 100_000,
                    "spins {spins}, retry {use_retry}: never timed out"
                );
                if use_retry {
                    blocker.retry(&waiters);
                } else {
                    blocker.finish(&waiters);
                }
            };
            assert_eq!(end, Error::TimedOut);
            // With `retry` every attempt reads the clock once; with
            // `finish` the spin phase reads it every 64 spins.
            if use_retry {
                assert!(attempts <= 12, "spins {spins}: {attempts} attempts");
            } else if spins < u32::MAX {
                assert!(attempts <= spins + 12, "spins {spins}: {attempts}");
            }
        }
    }
}

/// A zero timeout is one attempt and no clock read, whatever the
/// attempt says (the hosted channels' blocking calls start with one).
#[test]
fn zero_timeout_reads_no_clock() {
    let (word, waiters) = (AtomicU32::new(0), AtomicU32::new(0));
    for again in [false, true] {
        let mut notify = Ticking {
            now: Cell::new(0),
            spins: 2000,
        };
        let mut attempts = 0;
        let end = block_on(
            &mut notify,
            |n| n,
            Some(Duration::ZERO),
            Announce::Single,
            &waiters,
            |_| -> Result<Attempt<'_, ()>> {
                attempts += 1;
                Ok(if again {
                    Attempt::Again
                } else {
                    Attempt::Wait(&word)
                })
            },
        );
        assert_eq!((end, attempts), (Err(Error::TimedOut), 1));
        assert_eq!(notify.now.get(), 0, "the clock was read");
    }
}

/// `block_on` ends at the deadline when every attempt does work
/// (`Again`) or names another word than the last (a peer that keeps
/// moving the slot it blocks on), with the channels' spin budget.
#[test]
fn block_on_honours_the_deadline_for_busy_attempts() {
    let words = [AtomicU32::new(0), AtomicU32::new(0)];
    let waiters = AtomicU32::new(0);
    for alternate in [false, true] {
        let mut notify = Ticking {
            now: Cell::new(0),
            spins: 2000,
        };
        let mut attempts = 0u32;
        let timeout = Some(Duration::from_millis(10));
        let end = block_on(
            &mut notify,
            |n| n,
            timeout,
            Announce::Counter,
            &waiters,
            |_| -> Result<Attempt<'_, ()>> {
                attempts += 1;
                assert!(attempts < 100_000, "never timed out");
                Ok(if alternate {
                    Attempt::Wait(&words[attempts as usize % 2])
                } else {
                    Attempt::Again
                })
            },
        );
        assert_eq!(end, Err(Error::TimedOut));
        assert_eq!(waiters.load(Ordering::Relaxed), 0, "announcement left");
    }
}

//! Test helpers shared by the unit tests of every region kind.

use std::boxed::Box;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU32 as StdAtomicU32;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;
use std::vec::Vec;

use crate::{AlignedBytes, Region};

/// Bytes of every [`PeerMemory`].
pub(crate) const MEM: usize = 4096;

/// Heap memory handed out as a *raw* region, so that a test can act as a
/// faulty peer and write words while ring handles are alive.
pub(crate) struct PeerMemory {
    bytes: NonNull<AlignedBytes<MEM>>,
}

impl PeerMemory {
    pub(crate) fn new() -> Self {
        let bytes = NonNull::from(Box::leak(Box::new(AlignedBytes::<MEM>::new())));
        Self { bytes }
    }

    pub(crate) fn region(&self) -> Region<'_> {
        self.region_at(0, MEM)
    }

    pub(crate) fn region_at(&self, offset: usize, len: usize) -> Region<'_> {
        assert!(offset + len <= MEM);
        // SAFETY: in-bounds offset of a live allocation.
        let base = unsafe { self.bytes.cast::<u8>().add(offset) };
        // SAFETY: the allocation lives as long as `self`, is zero-initialised,
        // and is only accessed through rings and `word` (atomics).
        unsafe { Region::from_raw(base, len) }
    }

    /// The `u32` at `offset`, as the peer sees it.
    pub(crate) fn word(&self, offset: usize) -> &StdAtomicU32 {
        assert!(offset % 4 == 0 && offset + 4 <= MEM);
        // SAFETY: aligned, in bounds, and only ever accessed atomically.
        unsafe {
            self.bytes
                .cast::<u8>()
                .add(offset)
                .cast::<StdAtomicU32>()
                .as_ref()
        }
    }

    pub(crate) fn bytes(&self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| {
                let w = self.word(i & !3).load(SeqCst);
                w.to_ne_bytes()[i & 3]
            })
            .collect()
    }
}

// SAFETY: the memory is only accessed through atomics and ring handles, which
// are built for concurrent use.
unsafe impl Sync for PeerMemory {}

impl Drop for PeerMemory {
    fn drop(&mut self) {
        // SAFETY: `bytes` came from `Box::leak` and every region borrowed
        // from `self` has ended.
        drop(unsafe { Box::from_raw(self.bytes.as_ptr()) });
    }
}

/// A monotonic clock for notifiers in tests (`Spin::with_clock`).
pub(crate) fn std_clock() -> Duration {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

/// The tests' futex: a std mutex and condition variable that behaves like
/// the real one, so that the core's own tests (and miri) exercise sleeping
/// waiters without an OS futex. Each word has its own sleepers and wake
/// tokens: a waiter returns only when its own word is woken (waking the
/// wrong word shows up as a hang), and `wake_one` releases exactly one
/// sleeper of the word (wake-one reasoning is tested, not papered over). It
/// counts the wake calls it gets and the threads asleep in it.
#[derive(Clone, Default)]
pub(crate) struct CondvarFutex(std::sync::Arc<FutexInner>);

#[derive(Default)]
struct FutexInner {
    words: std::sync::Mutex<std::collections::HashMap<usize, Sleepers>>,
    cond: std::sync::Condvar,
    wakes: StdAtomicU32,
    sleepers: StdAtomicU32,
}

/// One word's sleepers, and the wake-ups granted to them not yet taken.
#[derive(Default)]
struct Sleepers {
    asleep: u32,
    tokens: u32,
}

impl CondvarFutex {
    fn key(word: &crate::sync::AtomicU32) -> usize {
        word as *const crate::sync::AtomicU32 as usize
    }

    /// The wake calls so far.
    #[allow(dead_code)] // not every test module asks
    pub(crate) fn wakes(&self) -> u32 {
        self.0.wakes.load(SeqCst)
    }

    /// The threads asleep now (counted under the lock: a waker that sees
    /// the count can only take the lock once they are inside the condition
    /// variable).
    #[allow(dead_code)] // not every test module asks
    pub(crate) fn sleepers(&self) -> u32 {
        self.0.sleepers.load(SeqCst)
    }

    /// Grants `n(asleep, tokens)` more wake-ups to the sleepers of `word`.
    fn wake(&self, word: &crate::sync::AtomicU32, n: impl Fn(&Sleepers) -> u32) {
        let mut words = self.0.words.lock().unwrap();
        self.0.wakes.fetch_add(1, SeqCst);
        if let Some(s) = words.get_mut(&Self::key(word)) {
            s.tokens += n(s);
        }
        self.0.cond.notify_all();
    }
}

impl crate::wait::Notify for CondvarFutex {
    fn wait(
        &self,
        word: &crate::sync::AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
    ) -> crate::Result<crate::wait::WaitStatus> {
        use crate::wait::WaitStatus;
        let key = Self::key(word);
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let mut words = self.0.words.lock().unwrap();
        if word.load(crate::sync::Ordering::Relaxed) != expected {
            return Ok(WaitStatus::Woken);
        }
        words.entry(key).or_default().asleep += 1;
        self.0.sleepers.fetch_add(1, SeqCst);
        let status = loop {
            let s = words.get_mut(&key).unwrap();
            if s.tokens > 0 {
                s.tokens -= 1;
                break WaitStatus::Woken;
            }
            words = match deadline {
                None => self.0.cond.wait(words).unwrap(),
                Some(deadline) => {
                    let now = std::time::Instant::now();
                    if now >= deadline {
                        break WaitStatus::TimedOut;
                    }
                    self.0.cond.wait_timeout(words, deadline - now).unwrap().0
                }
            };
        };
        let s = words.get_mut(&key).unwrap();
        s.asleep -= 1;
        // A wake-up granted to a sleeper that timed out is not kept for
        // the next one.
        s.tokens = s.tokens.min(s.asleep);
        self.0.sleepers.fetch_sub(1, SeqCst);
        Ok(status)
    }

    fn wake_one(&self, word: &crate::sync::AtomicU32) {
        self.wake(word, |s| u32::from(s.asleep > s.tokens));
    }

    fn wake_all(&self, word: &crate::sync::AtomicU32) {
        self.wake(word, |s| s.asleep - s.tokens);
    }

    fn now(&self) -> Option<Duration> {
        Some(std_clock())
    }
}

/// Both ends of a waking SPSC-family ring, sleeping through one
/// [`CondvarFutex`], after checking that spinning ends are refused
/// ([`Error::NotifyMismatch`](crate::Error::NotifyMismatch)).
#[allow(clippy::type_complexity)]
pub(crate) fn waking_ends<'a, L: crate::spsc::SpscLayout>(
    ring: &crate::place::Placed<'a, L>,
) -> (
    crate::spsc::Endpoint<'a, L, CondvarFutex, true>,
    crate::spsc::Endpoint<'a, L, CondvarFutex, false>,
) {
    use crate::Error::NotifyMismatch;
    assert!(ring.wakes());
    assert_eq!(ring.producer().err(), Some(NotifyMismatch));
    assert_eq!(ring.consumer().err(), Some(NotifyMismatch));
    let futex = CondvarFutex::default();
    let tx = ring.producer_with(futex.clone()).unwrap();
    (tx, ring.consumer_with(futex).unwrap())
}

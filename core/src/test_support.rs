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

/// A futex made of a std mutex and condition variable, so that the core's
/// own tests (and miri) exercise sleeping waiters without an OS futex.
#[derive(Clone, Default)]
pub(crate) struct CondvarFutex(std::sync::Arc<(std::sync::Mutex<()>, std::sync::Condvar)>);

impl crate::wait::Notify for CondvarFutex {
    fn wait(
        &self,
        word: &crate::sync::AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
    ) -> crate::Result<crate::wait::WaitStatus> {
        let guard = self.0.0.lock().unwrap();
        if word.load(crate::sync::Ordering::Relaxed) != expected {
            return Ok(crate::wait::WaitStatus::Woken);
        }
        match timeout {
            None => drop(self.0.1.wait(guard).unwrap()),
            Some(t) => drop(self.0.1.wait_timeout(guard, t).unwrap()),
        }
        Ok(crate::wait::WaitStatus::Woken)
    }
    fn wake_one(&self, _word: &crate::sync::AtomicU32) {
        let _guard = self.0.0.lock().unwrap();
        self.0.1.notify_all();
    }
    fn wake_all(&self, _word: &crate::sync::AtomicU32) {
        let _guard = self.0.0.lock().unwrap();
        self.0.1.notify_all();
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

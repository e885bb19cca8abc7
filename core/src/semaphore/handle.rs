//! A handle: one side's access to a semaphore, and its blocking wait.

use core::fmt;
use core::time::Duration;

use super::Semaphore;
use crate::error::{Error, Result};
use crate::sync::AtomicU32;
use crate::wait::{Announce, Attempt, Notify, Spin, block_on, wake_waiters};

/// One side's access to a [`Semaphore`]: takes and gives units, and blocks
/// through its notifier `N`.
///
/// Handles claim no role: any number of them, in any number of threads,
/// processes or cores, use one semaphore. Every method takes `&self`, so a
/// handle may also be shared between threads when `N` is `Sync`.
///
/// ```
/// use ipckit_core::{semaphore::Semaphore, AlignedBytes, Region};
///
/// let mut bytes = AlignedBytes::<256>::new();
/// let sem = Semaphore::init(Region::from_slice(&mut bytes[..]), 0, 1)?;
/// let h = sem.handle()?;
/// std::thread::scope(|s| {
///     s.spawn(|| h.post().unwrap());
///     h.wait().unwrap(); // spins until the other thread posts
/// });
/// # Ok::<(), ipckit_core::Error>(())
/// ```
pub struct Handle<'a, N = Spin> {
    pub(super) sem: Semaphore<'a>,
    pub(super) notify: N,
}

impl<N: Clone> Clone for Handle<'_, N> {
    fn clone(&self) -> Self {
        Self {
            sem: self.sem.clone(),
            notify: self.notify.clone(),
        }
    }
}

impl<N> fmt::Debug for Handle<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("semaphore::Handle")
            .field("max", &self.sem.max())
            .field("wakes", &self.sem.wakes())
            .finish_non_exhaustive()
    }
}

impl<'a, N: Notify> Handle<'a, N> {
    /// The count word and the announcement word.
    fn words(&self) -> (&AtomicU32, &AtomicU32) {
        self.sem.0.words()
    }

    /// Gives one unit back, waking one sleeping waiter if any announced
    /// itself (see the [module docs](super) for why one is enough).
    ///
    /// [`Error::Full`] if the count is already at its maximum (nothing
    /// changes); [`Error::Corrupted`] if the count read is above it.
    pub fn post(&self) -> Result<()> {
        self.post_n(1)
    }

    /// Gives `n` units back at once, or none: [`Error::Full`] if the count
    /// would exceed its maximum. Wakes every sleeping waiter when `n > 1`
    /// (one notifier call; those that find no unit left sleep again).
    /// `post_n(0)` does nothing.
    pub fn post_n(&self, n: u32) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.sem.0.release(n)?;
        let (count, waiters) = self.words();
        // The waker's half of the event count: a `SeqCst` fence, then the
        // announcement check (nothing at all with a non-waking notifier).
        wake_waiters(&self.notify, count, waiters, n > 1);
        Ok(())
    }

    /// Takes one unit, or returns [`Error::Empty`] when the count is 0.
    ///
    /// [`Error::Corrupted`] if the count read is above the maximum.
    pub fn try_wait(&self) -> Result<()> {
        self.sem.0.try_acquire()
    }

    /// Takes one unit, waiting while the count is 0.
    pub fn wait(&self) -> Result<()> {
        self.wait_timeout(None)
    }

    /// Takes one unit, waiting at most `timeout` (`None`: no limit) while the
    /// count is 0; [`Error::TimedOut`] when it stays 0. A timeout needs a
    /// notifier with a clock ([`Error::NoClock`] otherwise, once the call
    /// would have to wait).
    pub fn wait_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        let (count, waiters) = self.words();
        block_on(
            &mut &*self,
            |h| &h.notify,
            timeout,
            Announce::Counter,
            waiters,
            |h| {
                match h.try_wait() {
                    // Sleep only while the count is 0: a value read before the
                    // re-check may be stale, and the count can return to it.
                    Err(Error::Empty) => Ok(Attempt::WaitWhile(count, 0)),
                    done => done.map(Attempt::Ready),
                }
            },
        )
    }

    /// The count now; see [`Semaphore::value`].
    pub fn value(&self) -> Result<u32> {
        self.sem.value()
    }

    /// The maximum count; see [`Semaphore::max`].
    #[must_use]
    pub fn max(&self) -> u32 {
        self.sem.max()
    }

    /// The semaphore this handle uses.
    pub fn semaphore(&self) -> &Semaphore<'a> {
        &self.sem
    }
}

//! Kernel semaphores across processes: POSIX named semaphores
//! (`sem_overview(7)`) and System V semaphore sets (`semget(2)`), next to
//! the core's shared-memory [`semaphore`](crate::semaphore).
//!
//! All three count units with the same verbs, gathered in the
//! [`CountingSemaphore`] trait: `post` adds a unit, `wait` takes one
//! (waiting for it), `try_wait` takes one if there is one
//! ([`Empty`](Error::Empty) otherwise), `wait_timeout` waits at most a
//! while ([`TimedOut`](Error::TimedOut)). A post above the maximum is
//! [`Full`](Error::Full).
//!
//! | | [`NamedSemaphore`] | [`SysvSemaphoreSet`] | core [`Semaphore`](crate::semaphore::Semaphore) |
//! |---|---|---|---|
//! | named by | `/name` (in `/dev/shm` as `sem.name`) | key or id | the shared mapping it lives in |
//! | maximum | `SEM_VALUE_MAX` (2^31 - 1) | `SEMVMX` (32767) | chosen at `init` |
//! | killed holder | its units are lost | given back with `SEM_UNDO` | its units are lost |
//! | timeout clock | `CLOCK_REALTIME` (absolute) | relative (`semtimedop`) | monotonic |
//! | uncontended cost | no system call (futex in glibc) | one system call | no system call |
//!
//! # `SEM_UNDO`
//! With `SEM_UNDO` the kernel records each process's adjustments to a
//! System V semaphore and reverses them when the process exits, however it
//! exits, so a process killed while holding units gives them back. That is
//! right for a lock, where the same process takes and gives back: its
//! adjustment returns to 0 with every pair. For signalling (one process
//! posts, another waits) it is wrong twice over: the poster's units vanish
//! when it exits, and the kernel bounds each process's adjustment to
//! -32,768..=32,767, so a process that only waits (or only posts) fails
//! after 32,767 operations ([`Error::UndoRange`]).
//!
//! A [`SysvSemaphoreSet`] therefore operates **without** `SEM_UNDO` unless
//! told otherwise: [`SysvSemaphoreSet::set_undo`]`(true)` for lock use.
//!
//! # Errors that name the set
//! A post above [`SEMVMX`] is [`Full`](Error::Full); an operation beyond
//! the `SEM_UNDO` range is [`Error::UndoRange`] (both are `ERANGE` to the
//! kernel; a post with `SEM_UNDO` that gets `ERANGE` reads the value to tell
//! them apart). A set removed (`IPC_RMID`) under a waiter, or before a later
//! call, is [`Error::Removed`] naming `semid N`; an argument the kernel
//! refuses (`EINVAL` while the set exists) is [`Error::Os`] with `EINVAL`
//! and the set named.

use std::time::Duration;

#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::wait::Notify;

mod named;
mod sysv;

pub use named::{NamedSemaphore, SEM_VALUE_MAX};
pub use sysv::{SEMVMX, SysvSemaphore, SysvSemaphoreSet};

/// The verbs every semaphore of ipckit has.
pub trait CountingSemaphore {
    /// Adds a unit, waking a waiter.
    fn post(&self) -> Result<()>;

    /// Takes a unit, waiting at most `timeout` for one (`None`: as long as
    /// it takes; zero: [`Empty`](Error::Empty) if none is there now).
    fn wait_timeout(&self, timeout: Option<Duration>) -> Result<()>;

    /// Takes a unit, waiting as long as it takes.
    fn wait(&self) -> Result<()> {
        self.wait_timeout(None)
    }

    /// Takes a unit if there is one now.
    fn try_wait(&self) -> Result<()> {
        self.wait_timeout(Some(Duration::ZERO))
    }
}

/// The core's shared-memory semaphore under the same verbs.
impl<N: Notify> CountingSemaphore for crate::semaphore::Handle<'_, N> {
    fn post(&self) -> Result<()> {
        Ok(crate::semaphore::Handle::post(self)?)
    }

    fn wait_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        Ok(crate::semaphore::Handle::wait_timeout(self, timeout)?)
    }
}

// ---------------------------------------------------------------------------
// POSIX named semaphores.

#[cfg(test)]
mod tests;

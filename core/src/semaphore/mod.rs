//! A counting semaphore on a shared region: any number of threads,
//! processes or cores take ([`Handle::wait`]) and give back
//! ([`Handle::post`]) units of one shared count that never exceeds a
//! maximum.
//!
//! # Algorithm
//! The count is one `u32` word. Taking a unit is a compare-and-swap loop
//! from `c` to `c - 1` (`Acquire`), refused with [`Error::Empty`] at 0;
//! giving one back is a compare-and-swap loop from `c` to `c + 1`
//! (`Release`), refused with [`Error::Full`] at the maximum. The
//! `Release`/`Acquire` pair orders everything a poster did before its post
//! ahead of everything the taker of that unit does after its wait, so a
//! semaphore of maximum 1 is a mutex between processes.
//!
//! A taker that finds the count at 0 blocks through its handle's
//! [`Notify`], with the event count of [`crate::wait`]: it announces itself
//! in the `waiters` counter, issues a `SeqCst` fence, re-checks the count,
//! and sleeps on the count word while it holds 0; a poster issues a `SeqCst`
//! fence after its compare-and-swap and calls the notifier only when
//! `waiters` is non-zero, so an uncontended post makes no system call.
//!
//! A waiter sleeps while the count is **0**, never on another value it read
//! earlier: other takers and posters move the count down and up again, and a
//! sleep on a stale non-zero value that the count returned to would miss
//! every post made meanwhile (loom model `stale_value_does_not_hide_a_post`).
//!
//! ## Wake one per post
//! [`Handle::post`] wakes **one** sleeper, [`Handle::post_n`] with `n > 1`
//! wakes all of them. One unit lets at most one waiter proceed, so waking
//! more would only send the others back to sleep (a thundering herd of
//! system calls).
//!
//! Why one wake per post loses nothing, even when two posts race with two
//! waiters: a waiter goes to sleep only while the count is 0 (the notifier
//! checks the word atomically with queueing the waiter, like `FUTEX_WAIT`).
//! Once it is queued, the count leaves 0 only by a post, and that post sees
//! the announcement (the two fences) and wakes one *queued* waiter, which
//! the wake removes from the queue. Take the last moment the count was 0:
//! every later post dequeues a different sleeper, and none of those sleeps
//! again (the count is never 0 again, so its re-check takes a unit; a woken
//! waiter re-checks once more even when its timeout has passed). So as many
//! sleepers wake as units were posted, and one left asleep would mean that
//! every unit was taken, that is, a count of 0 again. A waiter stays asleep
//! only while the count is 0.
//!
//! This needs the notifier's [`wake_one`](Notify::wake_one) to wake a thread
//! that is blocked at the time of the call, not one that an earlier wake
//! already released: the semantics of `FUTEX_WAKE`, of condition variables,
//! and of the loom emulation with which `two_waiters_two_posts` checks two
//! waiters against two racing posts.
//!
//! # Layout (layout version 1, kind 3)
//! For a peer in another language, the whole protocol is in
//! [`docs/LAYOUT.md`](https://github.com/ipckit/ipckit/blob/main/docs/LAYOUT.md#10-semaphore-kind-3).
//!
//! | offset | width | field     | meaning                                          | written by |
//! |-------:|------:|-----------|--------------------------------------------------|------------|
//! | 0      | 128 B | [`Header`] | kind 3; `elem_size` 4 and `elem_align` 4 (the count word, a `u32`); `capacity` = the maximum count (at least 1); `data_offset` 128 (the count line); `flags` [`FLAG_WAKES`] or 0 | creator |
//! | 128    | u32   | `count`   | units available now, `0..=maximum`               | every handle (compare-and-swap) |
//! | 132    | u32   | `waiters` | event count: handles announced as about to sleep on `count` | waiters (atomic add and subtract) |
//! | 136    | 120 B | reserved  | zero                                             | nobody     |
//!
//! [`REGION_LEN`] is 256 bytes. `count` and `waiters` share one [`LINE`]:
//! every side writes both, so separate lines would gain nothing, and a
//! poster checks `waiters` on the line its compare-and-swap just brought
//! into its cache.
//!
//! # The peer is untrusted
//! The maximum is read from the header once, at [`Semaphore::attach`], and
//! kept. A count above it, read from the region at any time, is
//! [`Error::Corrupted`]: the operation changes nothing. Every
//! compare-and-swap loop gives up after [`MAX_RETRIES`] failed attempts
//! with [`Error::Corrupted`]: honest contention never comes near 2^20
//! consecutive failures, while a peer that rewrites the word without pause
//! cannot keep a caller spinning forever. A peer that writes `waiters` can
//! only cause needless wake calls (a large value) or make posters skip the
//! wake (zero), which strands a sleeper no worse than a peer that never
//! posts: a waiter that must not depend on its peers uses
//! [`Handle::wait_timeout`].
//!
//! # Targets without compare-and-swap
//! The semaphore needs compare-and-swap on `u32`. On a target without it
//! (`thumbv6m`, Cortex-M0+) this module is not compiled for now; a version
//! for one core (interrupt handler and `main`, through `portable-atomic`'s
//! `critical-section` feature) may follow. A critical section would not
//! exclude a second core or process.
//!
//! # Example: a mutex between two threads
//! ```
//! use ipckit_core::{semaphore::Semaphore, AlignedBytes, Region};
//! use std::sync::atomic::{AtomicU64, Ordering};
//!
//! let mut bytes = AlignedBytes::<{ Semaphore::region_len() }>::new();
//! let sem = Semaphore::init(Region::from_slice(&mut bytes[..]), 1, 1)?;
//! let total = AtomicU64::new(0);
//! std::thread::scope(|s| {
//!     for _ in 0..2 {
//!         let lock = sem.handle().unwrap();
//!         let total = &total;
//!         s.spawn(move || {
//!             for _ in 0..100 {
//!                 lock.wait().unwrap();
//!                 // Inside the critical section: a load and a store that
//!                 // would lose updates without the semaphore.
//!                 let v = total.load(Ordering::Relaxed);
//!                 total.store(v + 1, Ordering::Relaxed);
//!                 lock.post().unwrap();
//!             }
//!         });
//!     }
//! });
//! assert_eq!(total.into_inner(), 200);
//! # Ok::<(), ipckit_core::Error>(())
//! ```
#![cfg(ipckit_cas)]

mod control;
mod handle;

pub use control::Count;
pub use handle::Handle;

use core::fmt;

use crate::error::{Error, Result};
use crate::place::{self, Placed};
use crate::region::LINE;
#[cfg(doc)]
use crate::region::Region;
#[cfg(doc)]
use crate::region::{FLAG_WAKES, Header};
use crate::wait::{Notify, Spin};

/// Offset of the count line from the region base (the header's
/// `data_offset`).
pub const COUNT_OFFSET: usize = LINE;

/// Bytes a semaphore region occupies: the header and the count line.
pub const REGION_LEN: usize = 2 * LINE;

/// Failed compare-and-swap attempts after which an operation gives up with
/// [`Error::Corrupted`]: a count that changes between every load and every
/// swap, 2^20 times in a row, is a peer writing garbage, not contention.
pub const MAX_RETRIES: u32 = 1 << 20;

/// How a semaphore is created: initial count, maximum and wake mode.
///
/// ```
/// use ipckit_core::{semaphore::{Options, Semaphore}, AlignedBytes, Region};
///
/// let mut bytes = AlignedBytes::<256>::new();
/// let options = Options::new(8).initial(3).waking(false);
/// let sem = Semaphore::init_with(Region::from_slice(&mut bytes[..]), options)?;
/// assert_eq!((sem.value()?, sem.max()), (3, 8));
/// # Ok::<(), ipckit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    initial: u32,
    max: u32,
    wakes: bool,
}

impl Options {
    /// A semaphore whose count never exceeds `max` (at least 1), starting at
    /// 0, with spinning waiters.
    pub const fn new(max: u32) -> Self {
        Self {
            initial: 0,
            max,
            wakes: false,
        }
    }

    /// The count to start with (at most the maximum).
    pub const fn initial(self, initial: u32) -> Self {
        Self { initial, ..self }
    }

    /// `true`: waiters sleep (futex, RTOS) and every handle must use a
    /// waking [`Notify`] (`N::WAKES`); `false` (the default): waiters spin,
    /// and handles use a non-waking notifier such as [`Spin`].
    pub const fn waking(self, wakes: bool) -> Self {
        Self { wakes, ..self }
    }

    /// Checks the request (the maximum is at least 1 and the initial count
    /// does not exceed it) and says it as the placement layer's options:
    /// the maximum is the capacity, the initial count the start position.
    const fn placed(&self) -> Result<place::Options> {
        if self.max == 0 || self.initial > self.max {
            return Err(Error::InvalidCapacity);
        }
        Ok(place::Options::new(self.max)
            .start_at(self.initial)
            .waking(self.wakes))
    }
}

/// A counting semaphore placed on a region: the object from which
/// [`Handle`]s are made.
///
/// `Semaphore` is cheap to clone and may be shared between threads; it
/// takes and gives no units itself.
///
/// ```
/// use ipckit_core::{semaphore::Semaphore, AlignedBytes, Error, Region};
///
/// let mut bytes = AlignedBytes::<256>::new();
/// let sem = Semaphore::init(Region::from_slice(&mut bytes[..]), 2, 2)?;
/// let h = sem.handle()?;
/// h.try_wait()?;
/// h.try_wait()?;
/// assert_eq!(h.try_wait(), Err(Error::Empty));
/// h.post()?;
/// assert_eq!(sem.value()?, 1);
/// # Ok::<(), Error>(())
/// ```
pub struct Semaphore<'a>(Placed<'a, Count>);

impl Clone for Semaphore<'_> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl fmt::Debug for Semaphore<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("semaphore::Semaphore")
            .field("max", &self.max())
            .field("wakes", &self.wakes())
            .finish_non_exhaustive()
    }
}

impl<'a> Semaphore<'a> {
    /// The number of bytes a semaphore region needs: [`REGION_LEN`]. Usable
    /// in `const` context to size a static buffer.
    ///
    /// ```
    /// use ipckit_core::{semaphore::Semaphore, AlignedBytes};
    /// static mut SEM: AlignedBytes<{ Semaphore::region_len() }> = AlignedBytes::new();
    /// assert_eq!(Semaphore::region_len(), 256);
    /// ```
    #[must_use]
    pub const fn region_len() -> usize {
        REGION_LEN
    }

    place::region_only! {
        /// Creates a semaphore with `initial` units that never holds more than
        /// `max`, with spinning waiters, and publishes its header.
        ///
        /// [`Error::InvalidCapacity`] if `max` is 0 or `initial > max`. On a
        /// region from [`Region::from_slice`] any stale header is reset first;
        /// on a raw region the header must be uninitialised (zeroed), and of
        /// several creators racing on one region exactly one succeeds, the
        /// others get [`Error::AlreadyInitialized`].
        pub fn init(region: crate::Region<'a>, initial: u32, max: u32) -> Result<Self> {
            Self::init_with(region, Options::new(max).initial(initial))
        }
    }

    place::region_only! {
        /// Creates a semaphore as `options` say; see [`init`](Self::init) and
        /// [`Options`].
        pub fn init_with(region: crate::Region<'a>, options: Options) -> Result<Self> {
            Placed::init_with(region, options.placed()?).map(Self)
        }
    }

    place::region_only! {
        /// Attaches to a semaphore that another side created in `region`, after
        /// validating every header field (as every ring does: [`Placed::attach`])
        /// and the count against the maximum.
        pub fn attach(region: crate::Region<'a>) -> Result<Self> {
            let sem = Self(Placed::attach(region)?);
            sem.value()?;
            Ok(sem)
        }
    }

    place::model_only! {
        /// A semaphore on the heap for the loom models: the same control
        /// block and algorithm, placed in loom-tracked memory instead of raw
        /// bytes.
        #[doc(hidden)]
        pub fn new_modelled(initial: u32, max: u32) -> Result<Semaphore<'static>> {
            Self::new_modelled_with(Options::new(max).initial(initial))
        }
    }

    place::model_only! {
        /// [`new_modelled`](Self::new_modelled) with all [`Options`].
        #[doc(hidden)]
        pub fn new_modelled_with(options: Options) -> Result<Semaphore<'static>> {
            Placed::new_modelled_with(options.placed()?).map(Semaphore)
        }
    }

    /// The maximum count, as the header said at `init`/`attach`.
    #[must_use]
    pub fn max(&self) -> u32 {
        self.0.capacity()
    }

    /// `true` if the semaphore was created for sleeping waiters
    /// ([`Options::waking`]).
    #[must_use]
    pub fn wakes(&self) -> bool {
        self.0.wakes()
    }

    /// The count now (a snapshot: other sides may change it at once), or
    /// [`Error::Corrupted`] if it is above the maximum.
    pub fn value(&self) -> Result<u32> {
        self.0.load()
    }

    /// A handle with the spinning notifier [`Spin`], for a semaphore created
    /// without [`Options::waking`] ([`Error::NotifyMismatch`] otherwise).
    pub fn handle(&self) -> Result<Handle<'a, Spin>> {
        self.handle_with(Spin::new())
    }

    /// A handle with the notifier `notify`, which its blocking calls sleep
    /// through and its posts wake sleepers through. `N::WAKES` must match
    /// the semaphore ([`Error::NotifyMismatch`]): a handle that does not wake
    /// would leave sleeping waiters asleep.
    pub fn handle_with<N: Notify>(&self, notify: N) -> Result<Handle<'a, N>> {
        self.0.check_notify(N::WAKES)?;
        Ok(Handle {
            sem: self.clone(),
            notify,
        })
    }
}

#[cfg(test)]
mod tests;

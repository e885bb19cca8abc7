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

use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::time::Duration;

use crate::error::{Error, Result};
#[cfg(not(ipckit_loom))]
use crate::region::Region;
use crate::region::{FLAG_WAKES, Header, LINE, ObjectKind, Reserved};
use crate::sync::{AtomicU32, Ordering};
use crate::wait::{Announce, Attempt, Notify, Spin, block_on, wake_waiters};

/// Offset of the count line from the region base (the header's
/// `data_offset`).
///
/// ```
/// assert_eq!(ipckit_core::semaphore::COUNT_OFFSET, 128);
/// ```
pub const COUNT_OFFSET: usize = LINE;

/// Bytes a semaphore region occupies: the header and the count line.
///
/// ```
/// use ipckit_core::semaphore::{Semaphore, REGION_LEN};
/// assert_eq!(REGION_LEN, 256);
/// assert_eq!(Semaphore::region_len(), REGION_LEN);
/// ```
pub const REGION_LEN: usize = 2 * LINE;

/// Failed compare-and-swap attempts after which an operation gives up with
/// [`Error::Corrupted`]: a count that changes between every load and every
/// swap, 2^20 times in a row, is a peer writing garbage, not contention.
///
/// ```
/// assert_eq!(ipckit_core::semaphore::MAX_RETRIES, 1 << 20);
/// ```
pub const MAX_RETRIES: u32 = 1 << 20;

/// The header's element size and alignment: the count word, a `u32`.
const COUNT_SIZE: u32 = 4;

/// The line every handle writes.
#[repr(C)]
pub(crate) struct CountLine {
    pub(crate) count: AtomicU32,
    pub(crate) waiters: AtomicU32,
    _reserved: Reserved<{ LINE - 8 }>,
}

/// Everything of a semaphore region.
#[repr(C)]
pub(crate) struct Control {
    pub(crate) header: Header,
    pub(crate) line: CountLine,
}

#[cfg(not(ipckit_loom))]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(offset_of!(Control, header) == 0);
    assert!(offset_of!(Control, line) == COUNT_OFFSET);
    assert!(offset_of!(Control, line) + offset_of!(CountLine, count) == 128);
    assert!(offset_of!(Control, line) + offset_of!(CountLine, waiters) == 132);
    assert!(size_of::<Control>() == REGION_LEN);
    assert!(align_of::<Control>() == 4);
    assert!(size_of::<AtomicU32>() == COUNT_SIZE as usize);
};

impl Control {
    /// Writes a fresh semaphore and publishes it (the init protocol of
    /// [`crate::region`]).
    fn init(&self, exclusive: bool, options: Options) -> Result<()> {
        self.header.begin_init(exclusive)?;
        let flags = if options.wakes { FLAG_WAKES } else { 0 };
        self.header.write_fields(
            ObjectKind::Semaphore,
            COUNT_SIZE,
            COUNT_SIZE,
            options.max,
            COUNT_OFFSET as u32,
            flags,
        );
        self.line.count.store(options.initial, Ordering::Relaxed);
        self.line.waiters.store(0, Ordering::Relaxed);
        self.header.publish();
        Ok(())
    }

    /// The count, validated against `max`.
    fn load(&self, max: u32) -> Result<u32> {
        let count = self.line.count.load(Ordering::Relaxed);
        if count > max {
            return Err(Error::Corrupted("semaphore count above its maximum"));
        }
        Ok(count)
    }

    /// Moves the count from `c` to `next(c)` with one compare-and-swap
    /// (`success` ordering on the winning swap), retrying while other sides
    /// change it. `next` sees only validated counts (`c <= max`) and may
    /// refuse with an error, which is returned unchanged.
    fn update(&self, max: u32, success: Ordering, next: impl Fn(u32) -> Result<u32>) -> Result<()> {
        let word = &self.line.count;
        let mut current = word.load(Ordering::Relaxed);
        for _ in 0..MAX_RETRIES {
            if current > max {
                return Err(Error::Corrupted("semaphore count above its maximum"));
            }
            let new = next(current)?;
            match word.compare_exchange_weak(current, new, success, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
        Err(Error::Corrupted(
            "semaphore count changed on every attempt (MAX_RETRIES)",
        ))
    }

    /// Takes one unit, or [`Error::Empty`]. `Acquire`: the taker sees
    /// everything the poster of the unit did before posting.
    fn try_acquire(&self, max: u32) -> Result<()> {
        self.update(max, Ordering::Acquire, |c| {
            c.checked_sub(1).ok_or(Error::Empty)
        })
    }

    /// Gives `n` units back, or [`Error::Full`] if the count would exceed
    /// `max` (nothing is given back then). `Release`: pairs with the
    /// taker's `Acquire`.
    fn release(&self, n: u32, max: u32) -> Result<()> {
        self.update(max, Ordering::Release, |c| match c.checked_add(n) {
            Some(new) if new <= max => Ok(new),
            _ => Err(Error::Full),
        })
    }
}

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
    ///
    /// ```
    /// use ipckit_core::semaphore::Options;
    /// assert_eq!(Options::new(4), Options::new(4).initial(0).waking(false));
    /// ```
    pub const fn new(max: u32) -> Self {
        Self {
            initial: 0,
            max,
            wakes: false,
        }
    }

    /// The count to start with (at most the maximum).
    ///
    /// ```
    /// use ipckit_core::semaphore::Options;
    /// let _ = Options::new(4).initial(4);
    /// ```
    pub const fn initial(self, initial: u32) -> Self {
        Self { initial, ..self }
    }

    /// `true`: waiters sleep (futex, RTOS) and every handle must use a
    /// waking [`Notify`] (`N::WAKES`); `false` (the default): waiters spin,
    /// and handles use a non-waking notifier such as [`Spin`].
    ///
    /// ```
    /// use ipckit_core::semaphore::Options;
    /// let _ = Options::new(1).waking(true);
    /// ```
    pub const fn waking(self, wakes: bool) -> Self {
        Self { wakes, ..self }
    }

    /// Checks the request: the maximum is at least 1 and the initial count
    /// does not exceed it.
    const fn check(&self) -> Result<()> {
        if self.max == 0 || self.initial > self.max {
            return Err(Error::InvalidCapacity);
        }
        Ok(())
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
pub struct Semaphore<'a> {
    control: NonNull<Control>,
    max: u32,
    wakes: bool,
    #[cfg(ipckit_loom)]
    backing: std::sync::Arc<dyn core::any::Any>,
    _region: PhantomData<&'a Control>,
}

// SAFETY: the handle points into a region that is valid for `'a` and is
// designed to be used from several threads, processes and cores; every word
// it touches is an atomic.
unsafe impl Send for Semaphore<'_> {}
// SAFETY: `&Semaphore` only offers atomic operations on the region and reads
// of immutable local fields.
unsafe impl Sync for Semaphore<'_> {}

impl Clone for Semaphore<'_> {
    fn clone(&self) -> Self {
        Self {
            control: self.control,
            max: self.max,
            wakes: self.wakes,
            #[cfg(ipckit_loom)]
            backing: self.backing.clone(),
            _region: PhantomData,
        }
    }
}

impl fmt::Debug for Semaphore<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("semaphore::Semaphore")
            .field("max", &self.max)
            .field("wakes", &self.wakes)
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
    pub const fn region_len() -> usize {
        REGION_LEN
    }

    /// Creates a semaphore with `initial` units that never holds more than
    /// `max`, with spinning waiters, and publishes its header.
    ///
    /// [`Error::InvalidCapacity`] if `max` is 0 or `initial > max`. On a
    /// region from [`Region::from_slice`] any stale header is reset first;
    /// on a raw region the header must be uninitialised (zeroed), and of
    /// several creators racing on one region exactly one succeeds, the
    /// others get [`Error::AlreadyInitialized`].
    ///
    /// ```
    /// use ipckit_core::{semaphore::Semaphore, AlignedBytes, Error, Region};
    ///
    /// let mut bytes = AlignedBytes::<256>::new();
    /// let sem = Semaphore::init(Region::from_slice(&mut bytes[..]), 0, 5)?;
    /// assert_eq!(sem.value()?, 0);
    /// assert_eq!(
    ///     Semaphore::init(Region::from_slice(&mut bytes[..]), 6, 5).unwrap_err(),
    ///     Error::InvalidCapacity,
    /// );
    /// # Ok::<(), Error>(())
    /// ```
    #[cfg(not(ipckit_loom))]
    pub fn init(region: Region<'a>, initial: u32, max: u32) -> Result<Self> {
        Self::init_with(region, Options::new(max).initial(initial))
    }

    /// Creates a semaphore as `options` say; see [`init`](Self::init) and
    /// [`Options`].
    ///
    /// ```
    /// use ipckit_core::{semaphore::{Options, Semaphore}, wait::Spin, AlignedBytes, Error, Region};
    ///
    /// let mut bytes = AlignedBytes::<256>::new();
    /// let options = Options::new(1).initial(1).waking(true);
    /// let sem = Semaphore::init_with(Region::from_slice(&mut bytes[..]), options)?;
    /// // A spinning handle would never wake a sleeping waiter: refused.
    /// assert_eq!(sem.handle_with(Spin::new()).unwrap_err(), Error::NotifyMismatch);
    /// # Ok::<(), Error>(())
    /// ```
    #[cfg(not(ipckit_loom))]
    pub fn init_with(region: Region<'a>, options: Options) -> Result<Self> {
        options.check()?;
        region.check(REGION_LEN, core::mem::align_of::<Control>())?;
        let exclusive = region.is_exclusive();
        let sem = Self::on_region(region, options.max, options.wakes);
        sem.control().init(exclusive, options)?;
        Ok(sem)
    }

    /// Attaches to a semaphore that another side created in `region`, after
    /// validating every header field: state, byte order, magic, layout
    /// version, kind, element size and alignment, maximum, data offset,
    /// flags and the region's length, and the count against the maximum.
    ///
    /// ```
    /// use ipckit_core::{semaphore::Semaphore, spsc, AlignedBytes, Error, Region};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// Semaphore::init(Region::from_slice(&mut bytes[..]), 3, 4)?;
    /// let sem = Semaphore::attach(Region::from_slice(&mut bytes[..]))?;
    /// assert_eq!((sem.value()?, sem.max()), (3, 4));
    /// // Another kind of object is refused.
    /// spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?;
    /// let err = Semaphore::attach(Region::from_slice(&mut bytes[..])).unwrap_err();
    /// assert_eq!(err, Error::KindMismatch { found: 1, expected: 3 });
    /// # Ok::<(), Error>(())
    /// ```
    #[cfg(not(ipckit_loom))]
    pub fn attach(region: Region<'a>) -> Result<Self> {
        let info = region.header()?.read_info()?;
        info.expect(ObjectKind::Semaphore, COUNT_SIZE, COUNT_SIZE)?;
        let max = info.capacity;
        if max == 0 {
            return Err(Error::Corrupted("maximum count in header"));
        }
        if info.data_offset as usize != COUNT_OFFSET {
            return Err(Error::Corrupted("data offset in header"));
        }
        region.check(REGION_LEN, core::mem::align_of::<Control>())?;
        let wakes = match info.flags {
            0 => false,
            FLAG_WAKES => true,
            _ => return Err(Error::Corrupted("flags in header")),
        };
        let sem = Self::on_region(region, max, wakes);
        sem.control().load(max)?;
        Ok(sem)
    }

    /// The handle for a region already checked to hold a semaphore.
    #[cfg(not(ipckit_loom))]
    fn on_region(region: Region<'a>, max: u32, wakes: bool) -> Self {
        Self {
            // SAFETY: the region's base is non-null (it is a `NonNull`).
            control: unsafe { NonNull::new_unchecked(region.as_ptr().cast::<Control>()) },
            max,
            wakes,
            _region: PhantomData,
        }
    }

    /// A semaphore on the heap for the loom models: the same control block
    /// and algorithm, placed in loom-tracked memory instead of raw bytes.
    #[cfg(ipckit_loom)]
    #[doc(hidden)]
    pub fn new_modelled(initial: u32, max: u32) -> Result<Semaphore<'static>> {
        Self::new_modelled_with(Options::new(max).initial(initial))
    }

    /// [`new_modelled`](Self::new_modelled) with all [`Options`].
    #[cfg(ipckit_loom)]
    #[doc(hidden)]
    pub fn new_modelled_with(options: Options) -> Result<Semaphore<'static>> {
        use std::boxed::Box;
        use std::sync::Arc;

        options.check()?;
        let control = Box::new(Control {
            header: Header::new(),
            line: CountLine {
                count: AtomicU32::new(0),
                waiters: AtomicU32::new(0),
                _reserved: Reserved::new(),
            },
        });
        control.init(true, options)?;
        // The `Arc` only keeps the control block alive while handles exist;
        // sharing it between threads is what `Semaphore`'s `Send`/`Sync`
        // impls state (its reserved bytes are an `UnsafeCell` nobody touches).
        let control_ptr = NonNull::from(&*control);
        #[allow(clippy::arc_with_non_send_sync)]
        let backing = Arc::new(control);
        Ok(Semaphore {
            control: control_ptr,
            max: options.max,
            wakes: options.wakes,
            backing,
            _region: PhantomData,
        })
    }

    fn control(&self) -> &Control {
        // SAFETY: `control` points to the start of a region valid for `'a`
        // (or to the loom backing this handle keeps alive), long and aligned
        // enough for `Control` (checked in `init`/`attach`). All of
        // `Control`'s fields are atomics or `UnsafeCell`s, so a shared
        // reference is sound while peers write the bytes.
        unsafe { self.control.as_ref() }
    }

    /// The maximum count, as the header said at `init`/`attach`.
    ///
    /// ```
    /// use ipckit_core::{semaphore::Semaphore, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<256>::new();
    /// let sem = Semaphore::init(Region::from_slice(&mut bytes[..]), 0, 10)?;
    /// assert_eq!(sem.max(), 10);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn max(&self) -> u32 {
        self.max
    }

    /// `true` if the semaphore was created for sleeping waiters
    /// ([`Options::waking`]).
    ///
    /// ```
    /// use ipckit_core::{semaphore::Semaphore, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<256>::new();
    /// let sem = Semaphore::init(Region::from_slice(&mut bytes[..]), 0, 1)?;
    /// assert!(!sem.wakes());
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn wakes(&self) -> bool {
        self.wakes
    }

    /// The count now (a snapshot: other sides may change it at once), or
    /// [`Error::Corrupted`] if it is above the maximum.
    ///
    /// ```
    /// use ipckit_core::{semaphore::Semaphore, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<256>::new();
    /// let sem = Semaphore::init(Region::from_slice(&mut bytes[..]), 2, 3)?;
    /// assert_eq!(sem.value()?, 2);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn value(&self) -> Result<u32> {
        self.control().load(self.max)
    }

    /// A handle with the spinning notifier [`Spin`], for a semaphore created
    /// without [`Options::waking`] ([`Error::NotifyMismatch`] otherwise).
    ///
    /// ```
    /// use ipckit_core::{semaphore::Semaphore, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<256>::new();
    /// let sem = Semaphore::init(Region::from_slice(&mut bytes[..]), 1, 1)?;
    /// let (a, b) = (sem.handle()?, sem.handle()?); // any number of handles
    /// a.wait()?;
    /// b.post()?;
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn handle(&self) -> Result<Handle<'a, Spin>> {
        self.handle_with(Spin::new())
    }

    /// A handle with the notifier `notify`, which its blocking calls sleep
    /// through and its posts wake sleepers through. `N::WAKES` must match
    /// the semaphore ([`Error::NotifyMismatch`]): a handle that does not wake
    /// would leave sleeping waiters asleep.
    ///
    /// ```
    /// use core::time::Duration;
    /// use ipckit_core::{semaphore::Semaphore, wait::Spin, AlignedBytes, Error, Region};
    ///
    /// fn clock() -> Duration {
    ///     static T0: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ///     T0.get_or_init(std::time::Instant::now).elapsed()
    /// }
    /// let mut bytes = AlignedBytes::<256>::new();
    /// let sem = Semaphore::init(Region::from_slice(&mut bytes[..]), 0, 1)?;
    /// let h = sem.handle_with(Spin::with_clock(clock))?;
    /// assert_eq!(h.wait_timeout(Some(Duration::from_millis(1))), Err(Error::TimedOut));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn handle_with<N: Notify>(&self, notify: N) -> Result<Handle<'a, N>> {
        if N::WAKES != self.wakes {
            return Err(Error::NotifyMismatch);
        }
        Ok(Handle {
            sem: self.clone(),
            notify,
        })
    }
}

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
    sem: Semaphore<'a>,
    notify: N,
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
            .field("max", &self.sem.max)
            .field("wakes", &self.sem.wakes)
            .finish_non_exhaustive()
    }
}

impl<'a, N: Notify> Handle<'a, N> {
    /// The count word and the announcement word.
    fn words(&self) -> (&AtomicU32, &AtomicU32) {
        let line = &self.sem.control().line;
        (&line.count, &line.waiters)
    }

    /// Gives one unit back, waking one sleeping waiter if any announced
    /// itself (see the [module docs](self) for why one is enough).
    ///
    /// [`Error::Full`] if the count is already at its maximum (nothing
    /// changes); [`Error::Corrupted`] if the count read is above it.
    ///
    /// ```
    /// use ipckit_core::{semaphore::Semaphore, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<256>::new();
    /// let h = Semaphore::init(Region::from_slice(&mut bytes[..]), 0, 1)?.handle()?;
    /// h.post()?;
    /// assert_eq!(h.post(), Err(Error::Full)); // count at its maximum
    /// # Ok::<(), Error>(())
    /// ```
    pub fn post(&self) -> Result<()> {
        self.post_n(1)
    }

    /// Gives `n` units back at once, or none: [`Error::Full`] if the count
    /// would exceed its maximum. Wakes every sleeping waiter when `n > 1`
    /// (one notifier call; those that find no unit left sleep again).
    /// `post_n(0)` does nothing.
    ///
    /// ```
    /// use ipckit_core::{semaphore::Semaphore, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<256>::new();
    /// let h = Semaphore::init(Region::from_slice(&mut bytes[..]), 1, 4)?.handle()?;
    /// h.post_n(3)?;
    /// assert_eq!(h.post_n(1), Err(Error::Full));
    /// assert_eq!(h.value()?, 4);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn post_n(&self, n: u32) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.sem.control().release(n, self.sem.max)?;
        let (count, waiters) = self.words();
        // The waker's half of the event count: a `SeqCst` fence, then the
        // announcement check (nothing at all with a non-waking notifier).
        wake_waiters(&self.notify, count, waiters, n > 1);
        Ok(())
    }

    /// Takes one unit, or returns [`Error::Empty`] when the count is 0.
    ///
    /// [`Error::Corrupted`] if the count read is above the maximum.
    ///
    /// ```
    /// use ipckit_core::{semaphore::Semaphore, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<256>::new();
    /// let h = Semaphore::init(Region::from_slice(&mut bytes[..]), 1, 1)?.handle()?;
    /// assert_eq!(h.try_wait(), Ok(()));
    /// assert_eq!(h.try_wait(), Err(Error::Empty));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn try_wait(&self) -> Result<()> {
        self.sem.control().try_acquire(self.sem.max)
    }

    /// Takes one unit, waiting while the count is 0.
    ///
    /// ```
    /// use ipckit_core::{semaphore::Semaphore, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<256>::new();
    /// let sem = Semaphore::init(Region::from_slice(&mut bytes[..]), 0, 2)?;
    /// let (taker, giver) = (sem.handle()?, sem.handle()?);
    /// std::thread::scope(|s| {
    ///     s.spawn(move || giver.post_n(2).unwrap());
    ///     taker.wait().unwrap();
    ///     taker.wait().unwrap();
    /// });
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn wait(&self) -> Result<()> {
        self.wait_timeout(None)
    }

    /// Takes one unit, waiting at most `timeout` (`None`: no limit) while the
    /// count is 0; [`Error::TimedOut`] when it stays 0. A timeout needs a
    /// notifier with a clock ([`Error::NoClock`] otherwise, once the call
    /// would have to wait).
    ///
    /// ```
    /// use core::time::Duration;
    /// use ipckit_core::{semaphore::Semaphore, wait::Spin, AlignedBytes, Error, Region};
    ///
    /// fn clock() -> Duration {
    ///     static T0: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ///     T0.get_or_init(std::time::Instant::now).elapsed()
    /// }
    /// let mut bytes = AlignedBytes::<256>::new();
    /// let sem = Semaphore::init(Region::from_slice(&mut bytes[..]), 1, 1)?;
    /// let h = sem.handle_with(Spin::with_clock(clock))?;
    /// assert_eq!(h.wait_timeout(Some(Duration::from_millis(1))), Ok(()));
    /// assert_eq!(h.wait_timeout(Some(Duration::from_millis(1))), Err(Error::TimedOut));
    /// // Without a clock a timeout cannot be honoured: an error, not a hang.
    /// let h = sem.handle()?;
    /// assert_eq!(h.wait_timeout(Some(Duration::from_millis(1))), Err(Error::NoClock));
    /// # Ok::<(), Error>(())
    /// ```
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
    ///
    /// ```
    /// use ipckit_core::{semaphore::Semaphore, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<256>::new();
    /// let h = Semaphore::init(Region::from_slice(&mut bytes[..]), 1, 2)?.handle()?;
    /// h.post()?;
    /// assert_eq!(h.value()?, 2);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn value(&self) -> Result<u32> {
        self.sem.value()
    }

    /// The maximum count; see [`Semaphore::max`].
    ///
    /// ```
    /// use ipckit_core::{semaphore::Semaphore, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<256>::new();
    /// let h = Semaphore::init(Region::from_slice(&mut bytes[..]), 1, 2)?.handle()?;
    /// assert_eq!(h.max(), 2);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn max(&self) -> u32 {
        self.sem.max
    }

    /// The semaphore this handle uses.
    ///
    /// ```
    /// use ipckit_core::{semaphore::Semaphore, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<256>::new();
    /// let h = Semaphore::init(Region::from_slice(&mut bytes[..]), 0, 1)?.handle()?;
    /// let another = h.semaphore().handle()?;
    /// another.post()?;
    /// assert_eq!(h.value()?, 1);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn semaphore(&self) -> &Semaphore<'a> {
        &self.sem
    }
}

#[cfg(all(test, not(ipckit_loom)))]
mod tests;

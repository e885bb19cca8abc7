//! The slot handle, its owned form, and the writer and reader ends: the
//! seqlock of the [module docs](super).

use core::fmt;
use core::time::Duration;

use bytemuck::Pod;

use super::{Options, READ_RETRIES, SEQ, Value, WAITERS, WRITER_CLAIM, next_version};
use crate::error::{Error, Result, Role};
use crate::place::{self, Claim, Placed};
use crate::sync::{AtomicU32, Ordering, WordCell, fence, spin_hint};
use crate::wait::{Announce, Attempt, Notify, Spin, block_on, wake_waiters};

/// A latest-value slot of `T` placed in memory: the handle from which the
/// one [`Writer`] is claimed and [`Reader`]s are made. It is cheap to clone
/// and may be shared between threads.
///
/// ```
/// use ipckit_core::{latest::Slot, AlignedBytes, Error, Region, Role};
///
/// let mut bytes = AlignedBytes::<512>::new();
/// let slot = Slot::<u64>::init(Region::from_slice(&mut bytes[..]))?;
/// let mut w = slot.writer()?;
/// assert_eq!(slot.writer().unwrap_err(), Error::RoleTaken(Role::Producer));
/// assert_eq!(slot.version(), 0); // never written
/// assert_eq!(w.write(7), 2);     // the version of the value written
/// assert_eq!(slot.reader().try_read()?, 7);
/// # Ok::<(), Error>(())
/// ```
pub struct Slot<'a, T>(pub(super) Placed<'a, Value<T>>);

impl<T> Clone for Slot<'_, T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> fmt::Debug for Slot<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("latest::Slot")
            .field("version", &self.0.word(SEQ).load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<'a, T: Pod> Slot<'a, T> {
    /// The bytes a region needs for a slot of `T` (`256 + size_of::<T>()`),
    /// or [`Error::UnsupportedType`] for a `T` that cannot live in a
    /// region. Usable in `const` context to size a buffer.
    pub const fn region_len() -> Result<usize> {
        place::region_len::<Value<T>>(1)
    }

    place::region_only! {
        /// Creates an empty slot (never written) in `region` and publishes
        /// its header. On a region from
        /// [`Region::from_slice`](crate::Region::from_slice) any stale header
        /// is reset first; on a raw region the header must be uninitialised
        /// (zeroed), and of several creators racing exactly one succeeds, the
        /// others get [`Error::AlreadyInitialized`].
        pub fn init(region: crate::Region<'a>) -> Result<Self> {
            Self::init_with(region, Options::new())
        }
    }

    place::region_only! {
        /// Creates a slot as `options` say (sleeping readers, a first
        /// version); see [`init`](Self::init).
        pub fn init_with(region: crate::Region<'a>, options: Options) -> Result<Self> {
            Placed::init_with(region, options.placed()).map(Self)
        }
    }

    place::region_only! {
        /// Attaches to a slot that another side created in `region`, after
        /// validating every header field once (as every ring does:
        /// [`Placed::attach`]).
        pub fn attach(region: crate::Region<'a>) -> Result<Self> {
            Placed::attach(region).map(Self)
        }
    }

    place::model_only! {
        /// A slot on the heap for the loom models: the same control block
        /// and algorithm, placed in loom-tracked memory.
        #[doc(hidden)]
        pub fn new_modelled(options: Options) -> Result<Slot<'static, T>> {
            Placed::new_modelled_with(options.placed()).map(Slot)
        }
    }

    /// Claims the one writer ([`Error::RoleTaken`]`(`[`Role::Producer`]`)`
    /// while another holds it), with the spinning notifier [`Spin`], for a
    /// slot created without [`Options::waking`] ([`Error::NotifyMismatch`]
    /// otherwise); dropping the writer gives the role back. A writer that
    /// takes over a slot whose last writer died mid-write finishes it with
    /// its first write (module docs).
    pub fn writer(&self) -> Result<Writer<'a, T>> {
        self.writer_with(Spin::new())
    }

    /// Claims the one writer with the notifier `notify`, through which it
    /// wakes sleeping readers after each write. `N::WAKES` must match the
    /// slot ([`Error::NotifyMismatch`]).
    pub fn writer_with<N: Notify>(&self, notify: N) -> Result<Writer<'a, T, N>> {
        self.0.check_notify(N::WAKES)?;
        let claim = self.0.claim(WRITER_CLAIM, Role::Producer)?;
        // The claim's `Acquire` ordered the last holder's stores before
        // this load, when that holder gave the role back itself.
        let seq = claim.ring().word(SEQ).load(Ordering::Relaxed);
        Ok(Writer { claim, seq, notify })
    }

    /// A reader: readers hold no claim, any number of them read at once.
    /// It starts as one that has read nothing ([`Reader::version`] 0). Its
    /// blocking reads spin ([`Spin`]), on any slot.
    pub fn reader(&self) -> Reader<'a, T> {
        Reader {
            slot: self.clone(),
            seen: 0,
            retries: READ_RETRIES,
            notify: Spin::new(),
        }
    }

    /// A reader whose blocking reads sleep through `notify`: only on a
    /// slot created with [`Options::waking`], whose writer wakes them
    /// ([`Error::NotifyMismatch`] otherwise: nobody would wake it).
    pub fn reader_with<N: Notify>(&self, notify: N) -> Result<Reader<'a, T, N>> {
        if N::WAKES && !self.0.wakes() {
            return Err(Error::NotifyMismatch);
        }
        Ok(Reader {
            slot: self.clone(),
            seen: 0,
            retries: READ_RETRIES,
            notify,
        })
    }

    /// `true` if the slot was created for sleeping readers
    /// ([`Options::waking`]).
    pub fn wakes(&self) -> bool {
        self.0.wakes()
    }

    /// The sequence word now: 0 never written, odd while a write is in
    /// progress (or its writer died in it), else the version of the value.
    pub fn version(&self) -> u32 {
        self.seq().load(Ordering::Acquire)
    }

    /// Frees the writer role **without** its [`Writer`] being dropped: the
    /// recovery step for a writer that died holding it (a killed process
    /// runs no destructors). The next writer's first write repairs a slot
    /// left mid-write. Deciding that the holder is dead is the caller's
    /// business.
    ///
    /// # Safety
    /// The old writer is never used again, in any thread or process (two
    /// writers would interleave their sequence numbers).
    ///
    /// ```
    /// use ipckit_core::{latest::Slot, AlignedBytes, Region};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let slot = Slot::<u32>::init(Region::from_slice(&mut bytes[..]))?;
    /// core::mem::forget(slot.writer()?); // the holder "dies" without dropping
    /// assert!(slot.writer().is_err());
    /// // SAFETY: the forgotten writer is never used again.
    /// unsafe { slot.release_writer_claim() };
    /// slot.writer()?.write(5);
    /// assert_eq!(slot.reader().try_read()?, 5);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub unsafe fn release_writer_claim(&self) {
        // SAFETY: the caller's contract is this one.
        unsafe { self.0.release_producer_claim() }
    }

    /// The sequence word.
    fn seq(&self) -> &AtomicU32 {
        self.0.word(SEQ)
    }

    /// The value's cell.
    fn cell(&self) -> *const WordCell<T> {
        self.0.data()
    }

    /// One seqlock read of at most `attempts` attempts: the value and its
    /// version, or `None` if the version is `unchanged` (no copy then). [`Error::Empty`] if
    /// never written, [`Error::Busy`] if no attempt found a quiet slot.
    fn read_since(&self, unchanged: u32, attempts: u32) -> Result<Option<(T, u32)>> {
        let seq = self.seq();
        for _ in 0..attempts {
            // Acquire: pairs with the `Release` store that ended the write
            // of this version, so the copy sees that write's bytes or later.
            let before = seq.load(Ordering::Acquire);
            if before == 0 {
                return Err(Error::Empty);
            }
            if before & 1 == 0 {
                if before == unchanged {
                    return Ok(None);
                }
                // SAFETY: the slot's value cell lies in the region (checked
                // when it was placed), aligned to 4 (`BASE_ALIGN`, a data
                // offset of 256); the copy moves through relaxed atomics.
                let value = unsafe { WordCell::load(self.cell()) };
                // Acquire fence: if the copy read a byte of a later write,
                // that writer's odd `seq` store happens before the load
                // below (module docs), which then differs from `before`.
                fence(Ordering::Acquire);
                if seq.load(Ordering::Relaxed) == before {
                    return Ok(Some((value, before)));
                }
            }
            spin_hint();
        }
        Err(Error::Busy)
    }
}

/// The one writing end of a latest-value slot; see [`Writer::write`].
///
/// It holds the writer role, given back when it is dropped.
pub struct Writer<'a, T, N = Spin> {
    claim: Claim<'a, Value<T>>,
    /// `seq` as this writer last stored it (or found it when claiming).
    seq: u32,
    notify: N,
}

impl<T, N> fmt::Debug for Writer<'_, T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("latest::Writer")
            .field("version", &self.seq)
            .finish_non_exhaustive()
    }
}

impl<T: Pod, N: Notify> Writer<'_, T, N> {
    /// Publishes `value` as the newest, overwriting the last, and returns
    /// its version. Never waits and cannot fail: readers copy concurrently
    /// and discard what this write tore. Wakes readers asleep in
    /// [`Reader::read_changed`] (one `SeqCst` fence and a load per write on
    /// a waking slot; a system call only when one sleeps).
    ///
    /// ```
    /// use ipckit_core::latest::StaticSlot;
    ///
    /// static CONFIG: StaticSlot<[u16; 3]> = StaticSlot::new();
    /// let mut w = CONFIG.writer()?;
    /// assert_eq!(w.write([1, 2, 3]), 2);
    /// assert_eq!(w.write([4, 5, 6]), 4);
    /// assert_eq!(CONFIG.reader().try_read()?, [4, 5, 6]);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn write(&mut self, value: T) -> u32 {
        // Odd: a write in progress. A `seq` left odd by a writer that died
        // mid-write stays odd (stored again), and this write finishes it.
        let writing = self.seq | 1;
        let ring = self.claim.ring();
        let seq = ring.word(SEQ);
        seq.store(writing, Ordering::Relaxed);
        // Release fence: orders the odd store before every byte below, for
        // a reader whose copy reads one of them (module docs).
        fence(Ordering::Release);
        // SAFETY: the value cell lies in the region, aligned to 4 (as in
        // `Slot::read_since`); its bytes move through relaxed atomics.
        unsafe { WordCell::store(ring.data(), &value) };
        let version = next_version(writing);
        // Release: a reader that loads this version sees every byte above.
        seq.store(version, Ordering::Release);
        self.seq = version;
        // The waker's half of the event count: a `SeqCst` fence and a load
        // of `waiters` with a waking notifier, nothing with `Spin`.
        wake_waiters(&self.notify, seq, ring.word(WAITERS), true);
        version
    }

    /// The version of the last value this writer wrote (what it found when
    /// claiming the slot, before its first write; odd if the last writer
    /// died mid-write).
    pub fn version(&self) -> u32 {
        self.seq
    }

    place::test_hook! {
        /// Dies in the middle of writing `value`: stores the odd `seq` and
        /// the first `words` `u32` words of the value, then stops, keeping
        /// the writer role claimed (as a killed process would).
        #[doc(hidden)]
        pub fn write_and_die(self, value: T, words: usize) {
            let ring = self.claim.ring();
            ring.word(SEQ).store(self.seq | 1, Ordering::Relaxed);
            fence(Ordering::Release);
            // SAFETY: as in `write`.
            unsafe { WordCell::store_prefix(ring.data(), &value, words) };
            // The claim stays taken, as a killed process leaves it; the
            // notifier (process-local) goes.
            let Writer { claim, notify, .. } = self;
            core::mem::forget(claim);
            drop(notify);
        }
    }
}

/// A reading end of a latest-value slot; see [`Reader::try_read`]. Readers
/// claim nothing: make as many as needed ([`Slot::reader`], `clone`).
pub struct Reader<'a, T, N = Spin> {
    slot: Slot<'a, T>,
    /// The version this reader last read (0: none).
    seen: u32,
    /// Attempts per read before `Busy`.
    retries: u32,
    notify: N,
}

impl<T, N: Clone> Clone for Reader<'_, T, N> {
    fn clone(&self) -> Self {
        Self {
            slot: self.slot.clone(),
            seen: self.seen,
            retries: self.retries,
            notify: self.notify.clone(),
        }
    }
}

impl<T, N> fmt::Debug for Reader<'_, T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("latest::Reader")
            .field("seen", &self.seen)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Pod, N: Notify> Reader<'a, T, N> {
    /// This reader, making at most `attempts` attempts per read (at least
    /// one) instead of [`READ_RETRIES`]. An interrupt handler that reads a
    /// value written by `main` on the same core wants one attempt: the
    /// write it interrupted cannot finish while the handler spins.
    ///
    /// ```
    /// use ipckit_core::{latest::StaticSlot, Error};
    ///
    /// let slot = StaticSlot::<u32>::new();
    /// let mut r = slot.reader().with_retries(1);
    /// assert_eq!(r.try_read(), Err(Error::Empty));
    /// # Ok::<(), Error>(())
    /// ```
    #[must_use]
    pub fn with_retries(mut self, attempts: u32) -> Self {
        self.retries = attempts.max(1);
        self
    }

    /// A copy of the newest complete value. [`Error::Empty`] if nothing was
    /// ever written; [`Error::Busy`] if every attempt ([`READ_RETRIES`], or
    /// as [`with_retries`](Self::with_retries) says) overlapped a write
    /// (retry; a `Busy` that persists means the writer died mid-write:
    /// module docs).
    ///
    /// ```
    /// use ipckit_core::{latest::StaticSlot, Error};
    ///
    /// let slot = StaticSlot::<f64>::new();
    /// let mut r = slot.reader();
    /// assert_eq!(r.try_read(), Err(Error::Empty));
    /// slot.writer()?.write(21.5);
    /// assert_eq!(r.try_read()?, 21.5);
    /// assert_eq!(r.version(), 2);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn try_read(&mut self) -> Result<T> {
        let (value, version) = self.slot.read_since(0, self.retries)?.ok_or(Error::Empty)?;
        self.seen = version;
        Ok(value)
    }

    /// The newest complete value if its version differs from the one this
    /// reader last read, else `None` (without copying); errors as
    /// [`try_read`](Self::try_read).
    pub fn try_read_changed(&mut self) -> Result<Option<T>> {
        let Some((value, version)) = self.slot.read_since(self.seen, self.retries)? else {
            return Ok(None);
        };
        self.seen = version;
        Ok(Some(value))
    }

    /// Waits for a value newer than the one this reader last read (or for
    /// the first value) and returns it; see
    /// [`read_changed_timeout`](Self::read_changed_timeout).
    pub fn read_changed(&mut self) -> Result<T> {
        self.read_changed_timeout(None)
    }

    /// Waits at most `timeout` (`None`: no limit) for a value newer than
    /// the one this reader last read, and returns it: [`Error::TimedOut`]
    /// if none came (a writer that died mid-write leaves the reader here,
    /// never with a torn value). It sleeps through the reader's notifier on
    /// `seq`, announced in `waiters` (the event count of [`crate::wait`]);
    /// a timeout needs a notifier with a clock ([`Error::NoClock`]).
    ///
    /// ```
    /// use ipckit_core::latest::StaticSlot;
    ///
    /// static TEMPERATURE: StaticSlot<f32> = StaticSlot::new();
    /// let mut r = TEMPERATURE.reader();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| TEMPERATURE.writer().unwrap().write(21.5));
    ///     assert_eq!(r.read_changed(), Ok(21.5)); // spins until written
    /// });
    /// ```
    pub fn read_changed_timeout(&mut self, timeout: Option<Duration>) -> Result<T> {
        let slot = self.slot.clone();
        let (seq, waiters) = (slot.0.word(SEQ), slot.0.word(WAITERS));
        block_on(
            self,
            |r| &r.notify,
            timeout,
            Announce::Counter,
            waiters,
            |r| match r.try_read_changed() {
                Ok(Some(value)) => Ok(Attempt::Ready(value)),
                // Nothing new, nothing yet, or mid-write: `seq` changes
                // when the next write ends.
                Ok(None) | Err(Error::Empty | Error::Busy) => Ok(Attempt::Wait(seq)),
                Err(e) => Err(e),
            },
        )
    }

    /// `true` if a write began or ended since this reader last read (one
    /// load; nothing is copied).
    pub fn has_changed(&self) -> bool {
        self.slot.version() != self.seen
    }

    /// The version of the value this reader last read (0: none yet).
    pub fn version(&self) -> u32 {
        self.seen
    }

    /// The slot this reader reads.
    pub fn slot(&self) -> &Slot<'a, T> {
        &self.slot
    }
}

/// A latest-value slot of `T` that owns its memory, usable in a `static`:
/// no region to size, no `init` to call. Its bytes are those
/// [`Slot::init`] writes, so a peer can attach to it like to any region.
///
/// ```
/// use ipckit_core::latest::StaticSlot;
///
/// static SETPOINT: StaticSlot<i32> = StaticSlot::new();
///
/// let mut w = SETPOINT.writer()?;       // say, in the control task
/// let mut r = SETPOINT.reader();        // and in an interrupt handler
/// w.write(-40);
/// assert_eq!(r.try_read()?, -40);
/// # Ok::<(), ipckit_core::Error>(())
/// ```
pub struct StaticSlot<T>(place::Owned<Value<T>, 1>);

impl<T: Pod> StaticSlot<T> {
    place::region_only! {
        /// The slot, never written. A `T` that cannot live in a region fails
        /// to compile.
        pub const fn new() -> Self {
            Self(place::Owned::new())
        }
    }

    place::region_only! {
        /// The slot, never written; `wakes` as [`Options::waking`] (its
        /// writer then needs a waking notifier: [`Slot::writer_with`]).
        pub const fn with_wakes(wakes: bool) -> Self {
            Self(place::Owned::with_wakes(wakes))
        }
    }

    /// The handle of the slot.
    pub fn slot(&self) -> Slot<'_, T> {
        Slot(self.0.ring())
    }

    /// Claims the one writer; see [`Slot::writer`].
    pub fn writer(&self) -> Result<Writer<'_, T>> {
        self.slot().writer()
    }

    /// A reader; see [`Slot::reader`].
    pub fn reader(&self) -> Reader<'_, T> {
        self.slot().reader()
    }
}

place::region_only! {
    impl<T: Pod> Default for StaticSlot<T> {
        fn default() -> Self {
            Self::new()
        }
    }
}

impl<T> fmt::Debug for StaticSlot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("latest::StaticSlot").finish_non_exhaustive()
    }
}

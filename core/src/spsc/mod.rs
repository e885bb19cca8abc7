//! A wait-free single-producer single-consumer ring of `T: Pod` items on a
//! shared region.
//!
//! # Algorithm
//! The classic bounded SPSC queue (Lamport; the cached-index refinement as in
//! rtrb and folly's `ProducerConsumerQueue`): the producer owns `tail`, the
//! consumer owns `head`, both are free-running `u32` counters compared with
//! wrapping arithmetic, and the slot of position `p` is `p & (capacity - 1)`.
//! The producer writes a slot, then publishes `tail` with `Release`; the
//! consumer loads `tail` with `Acquire`, reads the slot, then publishes
//! `head` with `Release`, which hands the slot back. Each side keeps a local
//! copy of its own index and a *cached* copy of the other's, and reloads the
//! other's only when the cache says full (producer) or empty (consumer), so a
//! busy ring costs one shared-line transfer per batch rather than per item.
//!
//! Only atomic loads and stores are used: no compare-and-swap on the data
//! path, so the ring is valid between two cores of a `thumbv6m` part (Cortex-M0+,
//! such as the dual-core RP2040). Claiming a role uses a CAS where the target
//! has one; without it, roles are fixed by construction (see
//! [`region`](crate::region)).
//!
//! # Layout (layout version 1, kind 1)
//! | offset | width | field            | written by |
//! |-------:|------:|------------------|------------|
//! | 0      | 128 B | [`Header`] | creator |
//! | 128    | u32   | `tail` (next position to write) | producer |
//! | 132    | u32   | producer claim (0 free, 1 taken) | producer |
//! | 136    | u32   | consumer waiting (event count: set by a consumer about to sleep on `tail`) | consumer |
//! | 140    | 116 B | reserved, zero   | nobody     |
//! | 256    | u32   | `head` (next position to read) | consumer |
//! | 260    | u32   | consumer claim   | consumer   |
//! | 264    | u32   | producer waiting (set by a producer about to sleep on `head`) | producer |
//! | 268    | 116 B | reserved, zero   | nobody     |
//! | 384    | `capacity × size_of::<T>()` | slots | producer |
//!
//! `tail` and `head` live on separate [`LINE`]s so that the two sides never
//! write the same cache line on the fast path. Each "waiting" flag sits on
//! the line of the side that *checks* it (after every publication), so the
//! check reads a line that is already in the checker's cache; it is written
//! by the other side only when that side is about to sleep.
//!
//! # Blocking
//! [`Producer::push`] and [`Consumer::pop`] (and their `_timeout` forms)
//! block through the endpoint's [`Notify`]: a spinning [`Spin`] by default,
//! a futex in the hosted crate. A ring is created for one of the two modes
//! ([`Options::waking`]); each endpoint's notifier must match it
//! ([`Error::NotifyMismatch`] otherwise), because an endpoint whose notifier
//! does not wake would leave a sleeping peer asleep. With [`Spin`] the fast
//! path has no fence and no extra load; with a waking notifier every
//! publication adds one `SeqCst` fence and a load of a line the publisher
//! already holds, and a system call only when the peer is asleep.
//!
//! # Validation
//! The other side's index is loaded once into a local and accepted only if
//! `tail - head <= capacity` (wrapping). Anything else is
//! [`Error::Corrupted`]; the slot of a position is always masked into the
//! slot array, so even an accepted-but-wrong index cannot reach outside the
//! region. Items are copied out of their slots before the caller sees them.
//!
//! Validation is lazy by design: the producer reloads `head` only when its
//! cached copy says the ring is full (the consumer reloads `tail` only when
//! its copy says empty), so a garbage index is reported on the first
//! operation that needs it, not the moment the peer writes it. Items this side
//! already saw published are still delivered before the error.
//!
//! # Processes and `fork`
//! Dropping a [`Producer`] or [`Consumer`] gives its role back in the shared
//! header. A child that inherits a claimed handle across `fork` and drops it
//! gives back the *parent's* role: in the child, leave such handles to
//! `_exit` (or `mem::forget` them). A holder that dies without dropping keeps
//! its role claimed; reclaiming the role of a dead process comes with the
//! liveness records of the hosted crate.
//!
//! # Example: a producer thread and a consumer thread
//! ```
//! use ipckit_core::{spsc, AlignedBytes, Error, Region};
//!
//! let mut bytes = AlignedBytes::<{ 384 + 64 * 4 }>::new();
//! let ring = spsc::Ring::<u32>::init(Region::from_slice(&mut bytes[..]), 64)?;
//! let (mut tx, mut rx) = ring.split()?;
//! std::thread::scope(|s| {
//!     s.spawn(move || {
//!         for i in 0..1000u32 {
//!             while let Err(Error::Full) = tx.try_push(i) {
//!                 std::hint::spin_loop();
//!             }
//!         }
//!     });
//!     let mut expected = 0;
//!     while expected < 1000 {
//!         match rx.try_pop() {
//!             Ok(v) => { assert_eq!(v, expected); expected += 1; }
//!             Err(Error::Empty) => std::hint::spin_loop(),
//!             Err(e) => panic!("{e}"),
//!         }
//!     }
//! });
//! # Ok::<(), Error>(())
//! ```

mod chunk;

pub use chunk::{ReadChunk, WriteChunk};

use core::fmt;
use core::marker::PhantomData;
use core::mem::{align_of, size_of};
use core::ptr::NonNull;
use core::time::Duration;

use bytemuck::Pod;

use crate::error::{Error, Result, Role};
#[cfg(not(ipckit_loom))]
use crate::region::Region;
use crate::region::{FLAG_WAKES, Header, LINE, ObjectKind, Reserved, claim, release_claim};
use crate::sync::{AtomicU32, Ordering, SlotCell};
use crate::wait::{Announce, Attempt, Notify, Spin, block_on, wake_waiters};

/// Offset of slot 0 from the region base.
pub const DATA_OFFSET: usize = 3 * LINE;

/// The largest capacity: free-running `u32` indices tell full from empty only
/// while `capacity <= 2^31`.
pub const MAX_CAPACITY: u32 = 1 << 31;

/// The producer's line: only the producer writes it.
#[repr(C)]
pub(crate) struct ProducerLine {
    pub(crate) tail: AtomicU32,
    pub(crate) claim: AtomicU32,
    pub(crate) consumer_waiting: AtomicU32,
    _reserved: Reserved<{ LINE - 12 }>,
}

/// The consumer's line: only the consumer writes it.
#[repr(C)]
pub(crate) struct ConsumerLine {
    pub(crate) head: AtomicU32,
    pub(crate) claim: AtomicU32,
    pub(crate) producer_waiting: AtomicU32,
    _reserved: Reserved<{ LINE - 12 }>,
}

/// Everything of an SPSC region before the slots.
#[repr(C)]
pub(crate) struct Control {
    pub(crate) header: Header,
    pub(crate) producer: ProducerLine,
    pub(crate) consumer: ConsumerLine,
}

#[cfg(not(ipckit_loom))]
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(Control, header) == 0);
    assert!(offset_of!(Control, producer) + offset_of!(ProducerLine, tail) == 128);
    assert!(offset_of!(Control, producer) + offset_of!(ProducerLine, claim) == 132);
    assert!(offset_of!(Control, consumer) + offset_of!(ConsumerLine, head) == 256);
    assert!(offset_of!(Control, consumer) + offset_of!(ConsumerLine, claim) == 260);
    assert!(offset_of!(Control, producer) + offset_of!(ProducerLine, consumer_waiting) == 136);
    assert!(offset_of!(Control, consumer) + offset_of!(ConsumerLine, producer_waiting) == 264);
    assert!(size_of::<Control>() == DATA_OFFSET);
    assert!(align_of::<Control>() == 4);
};

impl Control {
    /// Writes a fresh SPSC control block and publishes it (the init protocol
    /// of [`crate::region`]).
    fn init(&self, exclusive: bool, elem: (u32, u32), options: Options) -> Result<()> {
        self.init_as(
            exclusive,
            ObjectKind::Spsc,
            elem,
            DATA_OFFSET as u32,
            (options.capacity, options.position, options.wakes),
        )
    }

    /// Writes a control block of this layout for `kind` (the SPSC frame ring
    /// shares it): header fields, both indices at `position`, no claims, no
    /// waiters; then publishes the header.
    pub(crate) fn init_as(
        &self,
        exclusive: bool,
        kind: ObjectKind,
        elem: (u32, u32),
        data_offset: u32,
        (capacity, position, wakes): (u32, u32, bool),
    ) -> Result<()> {
        self.header.begin_init(exclusive)?;
        let flags = if wakes { FLAG_WAKES } else { 0 };
        self.header
            .write_fields(kind, elem.0, elem.1, capacity, data_offset, flags);
        self.producer.tail.store(position, Ordering::Relaxed);
        self.producer.claim.store(0, Ordering::Relaxed);
        self.producer.consumer_waiting.store(0, Ordering::Relaxed);
        self.consumer.head.store(position, Ordering::Relaxed);
        self.consumer.claim.store(0, Ordering::Relaxed);
        self.consumer.producer_waiting.store(0, Ordering::Relaxed);
        self.header.publish();
        Ok(())
    }

    /// An all-zero control block on the heap, for the loom models.
    #[cfg(ipckit_loom)]
    pub(crate) fn new_modelled() -> std::boxed::Box<Self> {
        use crate::region::Reserved;
        std::boxed::Box::new(Control {
            header: Header::new(),
            producer: ProducerLine {
                tail: AtomicU32::new(0),
                claim: AtomicU32::new(0),
                consumer_waiting: AtomicU32::new(0),
                _reserved: Reserved::new(),
            },
            consumer: ConsumerLine {
                head: AtomicU32::new(0),
                claim: AtomicU32::new(0),
                producer_waiting: AtomicU32::new(0),
                _reserved: Reserved::new(),
            },
        })
    }
}

/// `(size, align)` of `T` as header words, if `T` can live in a region.
const fn element<T>() -> Result<(u32, u32)> {
    let (size, align) = (size_of::<T>(), align_of::<T>());
    if size == 0 || size > u32::MAX as usize || align > LINE {
        return Err(Error::UnsupportedType);
    }
    Ok((size as u32, align as u32))
}

/// Bytes a ring of `capacity` items of `T` occupies.
const fn layout_len<T>(capacity: u32) -> Result<usize> {
    if let Err(e) = element::<T>() {
        return Err(e);
    }
    if capacity == 0 || !capacity.is_power_of_two() || capacity > MAX_CAPACITY {
        return Err(Error::InvalidCapacity);
    }
    match size_of::<T>().checked_mul(capacity as usize) {
        Some(data) => match data.checked_add(DATA_OFFSET) {
            Some(total) => Ok(total),
            None => Err(Error::InvalidCapacity),
        },
        None => Err(Error::InvalidCapacity),
    }
}

/// The alignment a region's base needs for a ring of `T`.
#[cfg_attr(ipckit_loom, allow(dead_code))] // only `init`/`attach` use it
const fn base_align<T>() -> usize {
    let t = align_of::<T>();
    if t > align_of::<Control>() {
        t
    } else {
        align_of::<Control>()
    }
}

/// How a ring is created: capacity, start position and wake mode.
///
/// ```
/// use ipckit_core::{spsc, AlignedBytes, Region};
///
/// let mut bytes = AlignedBytes::<1024>::new();
/// let options = spsc::Options::new(16).start_at(u32::MAX - 3).waking(false);
/// let ring = spsc::Ring::<u32>::init_with(Region::from_slice(&mut bytes[..]), options)?;
/// assert_eq!(ring.capacity(), 16);
/// assert!(!ring.wakes());
/// # Ok::<(), ipckit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    capacity: u32,
    position: u32,
    wakes: bool,
}

impl Options {
    /// A ring of `capacity` slots, indices starting at 0, spinning waiters.
    ///
    /// ```
    /// use ipckit_core::spsc::Options;
    /// assert_eq!(Options::new(8), Options::new(8).start_at(0).waking(false));
    /// ```
    pub const fn new(capacity: u32) -> Self {
        Self {
            capacity,
            position: 0,
            wakes: false,
        }
    }

    /// Starts both indices at `position`: tests start next to `u32::MAX` so
    /// that the index wrap is exercised rather than assumed.
    ///
    /// ```
    /// use ipckit_core::spsc::Options;
    /// let _ = Options::new(8).start_at(u32::MAX);
    /// ```
    pub const fn start_at(self, position: u32) -> Self {
        Self { position, ..self }
    }

    /// `true`: waiters sleep (futex, RTOS) and endpoints must use a waking
    /// [`Notify`] (`N::WAKES`); `false` (the default): waiters spin, and
    /// endpoints use a non-waking notifier such as [`Spin`].
    ///
    /// ```
    /// use ipckit_core::spsc::Options;
    /// let _ = Options::new(8).waking(true);
    /// ```
    pub const fn waking(self, wakes: bool) -> Self {
        Self { wakes, ..self }
    }
}

/// An SPSC ring placed on a region: the handle from which the one
/// [`Producer`] and the one [`Consumer`] are claimed.
///
/// `Ring` itself moves no items; it is cheap to clone and may be shared
/// between threads.
///
/// ```
/// use ipckit_core::{spsc, AlignedBytes, Region};
///
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = spsc::Ring::<u16>::init(Region::from_slice(&mut bytes[..]), 32)?;
/// assert_eq!(ring.capacity(), 32);
/// let mut tx = ring.producer()?;
/// let mut rx = ring.consumer()?;
/// tx.try_push(7)?;
/// assert_eq!(rx.try_pop()?, 7);
/// # Ok::<(), ipckit_core::Error>(())
/// ```
pub struct Ring<'a, T> {
    control: NonNull<Control>,
    slots: NonNull<SlotCell<T>>,
    capacity: u32,
    wakes: bool,
    #[cfg(ipckit_loom)]
    backing: std::sync::Arc<dyn core::any::Any>,
    _region: PhantomData<(&'a Control, T)>,
}

// SAFETY: the handle points into a region that is valid for `'a` and is
// designed to be used from several threads, processes and cores; all shared
// words are atomics. Items of type `T` cross threads, hence `T: Send`.
unsafe impl<T: Send> Send for Ring<'_, T> {}
// SAFETY: `&Ring` only offers claims (atomic operations) and reads of
// immutable local fields.
unsafe impl<T: Send> Sync for Ring<'_, T> {}

impl<T> Clone for Ring<'_, T> {
    fn clone(&self) -> Self {
        Self {
            control: self.control,
            slots: self.slots,
            capacity: self.capacity,
            wakes: self.wakes,
            #[cfg(ipckit_loom)]
            backing: self.backing.clone(),
            _region: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Ring<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("spsc::Ring")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Pod> Ring<'a, T> {
    /// The number of bytes a region needs for a ring of `capacity` items of
    /// `T`, or `None` if `capacity` is not a power of two in `1..=2^31` or `T`
    /// cannot be placed in a region (zero-sized, or aligned to more than
    /// [`LINE`]). Usable in `const` context to size a static buffer.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes};
    ///
    /// const LEN: usize = match spsc::Ring::<u64>::region_len(256) {
    ///     Some(len) => len,
    ///     None => panic!("bad capacity"),
    /// };
    /// static mut RING: AlignedBytes<LEN> = AlignedBytes::new();
    /// assert_eq!(LEN, 384 + 256 * 8);
    /// assert_eq!(spsc::Ring::<u64>::region_len(100), None);
    /// ```
    pub const fn region_len(capacity: u32) -> Option<usize> {
        match layout_len::<T>(capacity) {
            Ok(len) => Some(len),
            Err(_) => None,
        }
    }

    /// Creates a ring of `capacity` items in `region` and publishes its
    /// header. Both indices start at 0.
    ///
    /// On a region from [`Region::from_slice`] any stale header is reset
    /// first. On a raw region the header must be uninitialised (zeroed); of
    /// several creators racing on one region exactly one succeeds and the
    /// others get [`Error::AlreadyInitialized`].
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Error, Region};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// assert!(spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 64).is_ok());
    /// assert_eq!(
    ///     spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 48).unwrap_err(),
    ///     Error::InvalidCapacity,
    /// );
    /// ```
    #[cfg(not(ipckit_loom))]
    pub fn init(region: Region<'a>, capacity: u32) -> Result<Self> {
        Self::init_at(region, capacity, 0)
    }

    /// Like [`init`](Self::init), but both indices start at `position`
    /// instead of 0. Tests use it to start next to `u32::MAX` so that the
    /// index wrap is exercised rather than assumed.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = spsc::Ring::<u8>::init_at(Region::from_slice(&mut bytes[..]), 4, u32::MAX - 1)?;
    /// let (mut tx, mut rx) = ring.split()?;
    /// for i in 0..10 {
    ///     tx.try_push(i)?;
    ///     assert_eq!(rx.try_pop()?, i);
    /// }
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    #[cfg(not(ipckit_loom))]
    pub fn init_at(region: Region<'a>, capacity: u32, position: u32) -> Result<Self> {
        Self::init_with(region, Options::new(capacity).start_at(position))
    }

    /// Creates a ring as `options` say; see [`init`](Self::init) and
    /// [`Options`].
    ///
    /// ```
    /// use ipckit_core::{spsc, wait::Spin, AlignedBytes, Error, Region};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let options = spsc::Options::new(4).waking(true);
    /// let ring = spsc::Ring::<u8>::init_with(Region::from_slice(&mut bytes[..]), options)?;
    /// // A spinning endpoint would never wake a sleeping peer: refused.
    /// assert_eq!(ring.producer_with(Spin::new()).unwrap_err(), Error::NotifyMismatch);
    /// # Ok::<(), Error>(())
    /// ```
    #[cfg(not(ipckit_loom))]
    pub fn init_with(region: Region<'a>, options: Options) -> Result<Self> {
        let elem = element::<T>()?;
        let len = layout_len::<T>(options.capacity)?;
        region.check(len, base_align::<T>())?;
        let exclusive = region.is_exclusive();
        let ring = Self::on_region(region, options.capacity, options.wakes);
        ring.control().init(exclusive, elem, options)?;
        Ok(ring)
    }

    /// Attaches to a ring that another side created in `region`, after
    /// validating every header field: state, byte order, magic, layout
    /// version, kind, element size and alignment, capacity, data offset and
    /// the region's length.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Error, Region};
    ///
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// spsc::Ring::<u32>::init(Region::from_slice(&mut bytes[..]), 8)?;
    /// let ring = spsc::Ring::<u32>::attach(Region::from_slice(&mut bytes[..]))?;
    /// assert_eq!(ring.capacity(), 8);
    /// // The wrong element type is refused.
    /// let err = spsc::Ring::<u64>::attach(Region::from_slice(&mut bytes[..])).unwrap_err();
    /// assert_eq!(err, Error::ElementMismatch { size: 4, align: 4 });
    /// # Ok::<(), Error>(())
    /// ```
    #[cfg(not(ipckit_loom))]
    pub fn attach(region: Region<'a>) -> Result<Self> {
        let (size, align) = element::<T>()?;
        let info = region.header()?.read_info()?;
        info.expect(ObjectKind::Spsc, size, align)?;
        let capacity = info.capacity;
        if capacity == 0 || !capacity.is_power_of_two() || capacity > MAX_CAPACITY {
            return Err(Error::Corrupted("capacity in header"));
        }
        if info.data_offset as usize != DATA_OFFSET {
            return Err(Error::Corrupted("data offset in header"));
        }
        let len = layout_len::<T>(capacity).map_err(|_| Error::Corrupted("capacity in header"))?;
        region.check(len, base_align::<T>())?;
        let wakes = match info.flags {
            0 => false,
            FLAG_WAKES => true,
            _ => return Err(Error::Corrupted("flags in header")),
        };
        Ok(Self::on_region(region, capacity, wakes))
    }

    /// The handle for a region already checked to hold `capacity` slots.
    #[cfg(not(ipckit_loom))]
    fn on_region(region: Region<'a>, capacity: u32, wakes: bool) -> Self {
        let base = region.as_ptr();
        // SAFETY: `region.check` proved that `DATA_OFFSET + capacity * size`
        // bytes are in the region, so the slot array starts inside it.
        let slots = unsafe { base.add(DATA_OFFSET) }.cast::<SlotCell<T>>();
        Self {
            // SAFETY: the region's base is non-null (it is a `NonNull`).
            control: unsafe { NonNull::new_unchecked(base.cast::<Control>()) },
            // SAFETY: an in-bounds offset from a non-null base is non-null.
            slots: unsafe { NonNull::new_unchecked(slots) },
            capacity,
            wakes,
            _region: PhantomData,
        }
    }

    /// A ring on the heap for the loom models: the same control block and
    /// algorithm, placed in loom-tracked memory instead of raw bytes.
    #[cfg(ipckit_loom)]
    #[doc(hidden)]
    pub fn new_modelled(capacity: u32, position: u32) -> Result<Ring<'static, T>> {
        Self::new_modelled_with(Options::new(capacity).start_at(position))
    }

    /// [`new_modelled`](Self::new_modelled) with all [`Options`].
    #[cfg(ipckit_loom)]
    #[doc(hidden)]
    pub fn new_modelled_with(options: Options) -> Result<Ring<'static, T>> {
        let capacity = options.capacity;
        use std::boxed::Box;
        use std::sync::Arc;
        use std::vec::Vec;

        let elem = element::<T>()?;
        layout_len::<T>(capacity)?;
        let control = Control::new_modelled();
        let mut slots: Box<[SlotCell<T>]> = (0..capacity)
            .map(|_| SlotCell::new(T::zeroed()))
            .collect::<Vec<_>>()
            .into_boxed_slice();
        control.init(true, elem, options)?;
        let control_ptr = NonNull::from(&*control);
        let slots_ptr = NonNull::new(slots.as_mut_ptr()).expect("boxed slice is non-null");
        Ok(Ring {
            control: control_ptr,
            slots: slots_ptr,
            capacity,
            wakes: options.wakes,
            backing: Arc::new((control, slots)),
            _region: PhantomData,
        })
    }

    /// The number of slots.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 128)?;
    /// assert_eq!(ring.capacity(), 128);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    fn control(&self) -> &Control {
        // SAFETY: `control` points to the start of a region valid for `'a`
        // (or to the loom backing this handle keeps alive), long and aligned
        // enough for `Control` (checked in `init`/`attach`). All of
        // `Control`'s fields are atomics or `UnsafeCell`s, so a shared
        // reference is sound while peers write the bytes.
        unsafe { self.control.as_ref() }
    }

    /// Claims the producer role. Only one producer exists at a time; it is
    /// given back when the [`Producer`] is dropped, and the next one resumes
    /// at the published `tail`.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Error, Region, Role};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 8)?;
    /// let tx = ring.producer()?;
    /// assert_eq!(ring.producer().unwrap_err(), Error::RoleTaken(Role::Producer));
    /// drop(tx);
    /// assert!(ring.producer().is_ok());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn producer(&self) -> Result<Producer<'a, T>> {
        self.producer_with(Spin::new())
    }

    /// `true` if the ring was created for sleeping waiters
    /// ([`Options::waking`]).
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?;
    /// assert!(!ring.wakes());
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn wakes(&self) -> bool {
        self.wakes
    }

    /// Claims the producer role with the notifier `notify`, which blocking
    /// calls sleep through and every publication wakes a sleeping consumer
    /// through. `N::WAKES` must match the ring ([`Error::NotifyMismatch`]).
    ///
    /// ```
    /// use ipckit_core::{spsc, wait::Spin, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?;
    /// let mut tx = ring.producer_with(Spin::new())?;
    /// tx.push(1)?;
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn producer_with<N: Notify>(&self, notify: N) -> Result<Producer<'a, T, N>> {
        if N::WAKES != self.wakes {
            return Err(Error::NotifyMismatch);
        }
        let c = self.control();
        claim(&c.producer.claim, Role::Producer)?;
        // Our own index, as the previous holder published it (the claim's
        // Acquire orders this load after that holder's release).
        let tail = c.producer.tail.load(Ordering::Relaxed);
        let head = c.consumer.head.load(Ordering::Acquire);
        if tail.wrapping_sub(head) > self.capacity {
            release_claim(&c.producer.claim);
            return Err(Error::Corrupted(
                "consumer head is not within a capacity of tail",
            ));
        }
        Ok(Producer {
            tail,
            cached_head: head,
            mask: self.capacity - 1,
            capacity: self.capacity,
            ring: self.clone(),
            notify,
        })
    }

    /// Claims the consumer role; see [`producer`](Self::producer).
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Error, Region, Role};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 8)?;
    /// let _rx = ring.consumer()?;
    /// assert_eq!(ring.consumer().unwrap_err(), Error::RoleTaken(Role::Consumer));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn consumer(&self) -> Result<Consumer<'a, T>> {
        self.consumer_with(Spin::new())
    }

    /// Claims the consumer role with the notifier `notify`; see
    /// [`producer_with`](Self::producer_with).
    ///
    /// ```
    /// use ipckit_core::{spsc, wait::Spin, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?;
    /// let mut rx = ring.consumer_with(Spin::new())?;
    /// assert_eq!(rx.try_pop(), Err(Error::Empty));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn consumer_with<N: Notify>(&self, notify: N) -> Result<Consumer<'a, T, N>> {
        if N::WAKES != self.wakes {
            return Err(Error::NotifyMismatch);
        }
        let c = self.control();
        claim(&c.consumer.claim, Role::Consumer)?;
        let head = c.consumer.head.load(Ordering::Relaxed);
        let tail = c.producer.tail.load(Ordering::Acquire);
        if tail.wrapping_sub(head) > self.capacity {
            release_claim(&c.consumer.claim);
            return Err(Error::Corrupted(
                "producer tail is not within a capacity of head",
            ));
        }
        Ok(Consumer {
            head,
            cached_tail: tail,
            mask: self.capacity - 1,
            capacity: self.capacity,
            ring: self.clone(),
            notify,
        })
    }

    /// Frees the producer role in the shared header **without** a
    /// [`Producer`] being dropped: the recovery step for a holder that died
    /// holding it (a killed process never runs its destructors). The next
    /// [`producer`](Self::producer) claim succeeds and resumes at the
    /// published `tail`; items the dead holder wrote but never published are
    /// not in the ring.
    ///
    /// Deciding that the holder is dead is the caller's business (the hosted
    /// crate records each endpoint's pid and process start time for this).
    ///
    /// # Safety
    /// No [`Producer`] of this ring may be used again after this call, in
    /// any thread or process: a second producer writing the same slots as a
    /// live one is a data race. Releasing the claim of a process that is
    /// known to have died fulfils this.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 8)?;
    /// let mut tx = ring.producer()?;
    /// tx.try_push(1)?;
    /// core::mem::forget(tx); // the holder "dies" without dropping
    /// assert!(ring.producer().is_err());
    /// // SAFETY: the forgotten producer is never used again.
    /// unsafe { ring.release_producer_claim() };
    /// let mut tx = ring.producer()?;
    /// tx.try_push(2)?;
    /// let mut rx = ring.consumer()?;
    /// assert_eq!((rx.try_pop()?, rx.try_pop()?), (1, 2));
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub unsafe fn release_producer_claim(&self) {
        release_claim(&self.control().producer.claim);
    }

    /// Frees the consumer role of a holder that died holding it; see
    /// [`release_producer_claim`](Self::release_producer_claim). The next
    /// consumer resumes at the published `head`: an item the dead holder
    /// read but never released is delivered again.
    ///
    /// # Safety
    /// No [`Consumer`] of this ring may be used again after this call, in
    /// any thread or process.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 8)?;
    /// core::mem::forget(ring.consumer()?);
    /// // SAFETY: the forgotten consumer is never used again.
    /// unsafe { ring.release_consumer_claim() };
    /// assert!(ring.consumer().is_ok());
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub unsafe fn release_consumer_claim(&self) {
        release_claim(&self.control().consumer.claim);
    }

    /// Claims both roles, for a ring whose two ends live in one process.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = spsc::Ring::<i32>::init(Region::from_slice(&mut bytes[..]), 4)?.split()?;
    /// tx.try_push(-1)?;
    /// assert_eq!(rx.try_pop()?, -1);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn split(&self) -> Result<(Producer<'a, T>, Consumer<'a, T>)> {
        let producer = self.producer()?;
        let consumer = self.consumer()?;
        Ok((producer, consumer))
    }
}

/// The writing end of an SPSC ring.
///
/// Keeps its own `tail` and a cached copy of the consumer's `head`, which it
/// reloads (and validates) only when the cache says the ring is full.
///
/// ```
/// use ipckit_core::{spsc, AlignedBytes, Error, Region};
///
/// let mut bytes = AlignedBytes::<512>::new();
/// let (mut tx, _rx) = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 2)?.split()?;
/// tx.try_push(1)?;
/// tx.try_push(2)?;
/// assert_eq!(tx.try_push(3), Err(Error::Full));
/// # Ok::<(), Error>(())
/// ```
pub struct Producer<'a, T, N = Spin> {
    tail: u32,
    cached_head: u32,
    mask: u32,
    capacity: u32,
    ring: Ring<'a, T>,
    notify: N,
}

// SAFETY: a producer is one endpoint; moving it to another thread moves the
// role with it. Items of type `T` are sent, hence `T: Send`; the notifier
// moves with it, hence `N: Send`.
unsafe impl<T: Send, N: Send> Send for Producer<'_, T, N> {}

impl<T, N> fmt::Debug for Producer<'_, T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("spsc::Producer")
            .field("tail", &self.tail)
            .field("cached_head", &self.cached_head)
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl<T, N> Drop for Producer<'_, T, N> {
    fn drop(&mut self) {
        // SAFETY: as in `Ring::control`: the region outlives the handle.
        let c = unsafe { self.ring.control.as_ref() };
        release_claim(&c.producer.claim);
    }
}

impl<'a, T: Pod, N: Notify> Producer<'a, T, N> {
    #[inline(always)]
    fn tail_word(&self) -> &AtomicU32 {
        // SAFETY: see `Ring::control`.
        unsafe { &self.ring.control.as_ref().producer.tail }
    }

    #[inline(always)]
    fn head_word(&self) -> &AtomicU32 {
        // SAFETY: see `Ring::control`.
        unsafe { &self.ring.control.as_ref().consumer.head }
    }

    /// The slot of position `pos`.
    #[inline(always)]
    fn slot(&self, pos: u32) -> *const SlotCell<T> {
        // SAFETY: `pos & mask < capacity`, and the region holds `capacity`
        // slots from `slots` on (checked in `init`/`attach`).
        unsafe { self.ring.slots.as_ptr().add((pos & self.mask) as usize) }
    }

    /// Reloads the consumer's `head` and validates it: `tail - head` must not
    /// exceed the capacity. Returns the number of free slots.
    #[cold]
    fn refresh_head(&mut self) -> Result<u32> {
        let head = self.head_word().load(Ordering::Acquire);
        let used = self.tail.wrapping_sub(head);
        if used > self.capacity {
            return Err(Error::Corrupted(
                "consumer head is not within a capacity of tail",
            ));
        }
        self.cached_head = head;
        Ok(self.capacity - used)
    }

    /// Free slots, at least `wanted` if the ring has them: the cache is
    /// trusted while it promises enough, and refreshed otherwise.
    #[inline(always)]
    fn free_for(&mut self, wanted: u32) -> Result<u32> {
        let free = self.capacity - self.tail.wrapping_sub(self.cached_head);
        if free >= wanted {
            Ok(free)
        } else {
            self.refresh_head()
        }
    }

    /// The flag a consumer sets before it sleeps on `tail`.
    #[inline(always)]
    fn consumer_waiting(&self) -> &AtomicU32 {
        // SAFETY: see `Ring::control`.
        unsafe { &self.ring.control.as_ref().producer.consumer_waiting }
    }

    /// Makes `n` written slots visible to the consumer with one `Release`
    /// store, then wakes a sleeping consumer (the waker's half of the event
    /// count; nothing at all with a non-waking notifier).
    #[inline(always)]
    fn publish(&mut self, n: u32) {
        self.tail = self.tail.wrapping_add(n);
        self.tail_word().store(self.tail, Ordering::Release);
        wake_waiters(
            &self.notify,
            self.tail_word(),
            self.consumer_waiting(),
            false,
        );
    }

    /// Appends one item, waiting while the ring is full.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 1)?.split()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| for i in 0..100 { tx.push(i).unwrap() });
    ///     for i in 0..100 { assert_eq!(rx.pop().unwrap(), i) }
    /// });
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn push(&mut self, value: T) -> Result<()> {
        self.push_timeout(value, None)
    }

    /// Appends one item, waiting at most `timeout` (`None`: no limit) while
    /// the ring is full; [`Error::TimedOut`] when it stays full.
    ///
    /// ```
    /// use core::time::Duration;
    /// use ipckit_core::{spsc, wait::Spin, AlignedBytes, Error, Region};
    ///
    /// fn clock() -> Duration {
    ///     static T0: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ///     T0.get_or_init(std::time::Instant::now).elapsed()
    /// }
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 1)?;
    /// let mut tx = ring.producer_with(Spin::with_clock(clock))?;
    /// tx.push(1)?;
    /// assert_eq!(tx.push_timeout(2, Some(Duration::from_millis(5))), Err(Error::TimedOut));
    /// // Without a clock a timeout cannot be honoured: an error, not a hang.
    /// drop(tx);
    /// let mut tx = ring.producer()?;
    /// assert_eq!(tx.push_timeout(2, Some(Duration::from_millis(5))), Err(Error::NoClock));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn push_timeout(&mut self, value: T, timeout: Option<Duration>) -> Result<()> {
        // SAFETY: see `Ring::control`; the words outlive this call.
        let c = unsafe { self.ring.control.as_ref() };
        let waiters = &c.consumer.producer_waiting;
        block_on(
            self,
            |p| &p.notify,
            timeout,
            Announce::Single,
            waiters,
            |p| match p.try_push(value) {
                Err(Error::Full) => Ok(Attempt::Wait(&c.consumer.head)),
                done => done.map(Attempt::Ready),
            },
        )
    }

    /// Appends one item, or returns [`Error::Full`].
    ///
    /// Returns [`Error::Corrupted`] if the consumer's `head`, reloaded
    /// because the ring looked full, is not within a capacity of `tail`.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = spsc::Ring::<u64>::init(Region::from_slice(&mut bytes[..]), 4)?.split()?;
    /// tx.try_push(u64::MAX)?;
    /// assert_eq!(rx.try_pop()?, u64::MAX);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    #[inline]
    pub fn try_push(&mut self, value: T) -> Result<()> {
        if self.tail.wrapping_sub(self.cached_head) == self.capacity && self.refresh_head()? == 0 {
            return Err(Error::Full);
        }
        // SAFETY: the slot at `tail` is free (fewer than `capacity` items
        // are in flight), so the consumer does not read it until we publish.
        unsafe { SlotCell::write(self.slot(self.tail), value) };
        self.publish(1);
        Ok(())
    }

    /// Appends as many items of `items` as there are free slots, with one
    /// index publication, and returns how many (0 when the ring is full).
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?.split()?;
    /// assert_eq!(tx.push_slice(&[1, 2, 3, 4, 5, 6])?, 4);
    /// let mut out = [0; 8];
    /// assert_eq!(rx.pop_slice(&mut out)?, 4);
    /// assert_eq!(out[..4], [1, 2, 3, 4]);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    #[inline]
    pub fn push_slice(&mut self, items: &[T]) -> Result<usize> {
        let wanted = items.len().min(self.capacity as usize) as u32;
        let n = self.free_for(wanted)?.min(wanted);
        let (first, second) = self.split_range(self.tail, n);
        let (a, b) = items[..n as usize].split_at(first as usize);
        // SAFETY: the `n` slots from `tail` on are free (`free_for`), and
        // `split_range` keeps each segment inside the slot array.
        unsafe {
            SlotCell::write_slice(self.slot(self.tail), a);
            if second > 0 {
                SlotCell::write_slice(self.slot(self.tail.wrapping_add(first)), b);
            }
        }
        self.publish(n);
        Ok(n as usize)
    }

    /// Reserves up to `max` free slots for writing in place; see
    /// [`WriteChunk`]. The chunk may be shorter than `max` (empty when the
    /// ring is full); nothing is visible to the consumer until it is
    /// committed.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = spsc::Ring::<u32>::init(Region::from_slice(&mut bytes[..]), 8)?.split()?;
    /// let chunk = tx.write_chunk(5)?;
    /// assert_eq!(chunk.len(), 5);
    /// assert_eq!(chunk.fill_from_iter(10..), 5);
    /// assert_eq!(rx.try_pop()?, 10);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    #[inline]
    pub fn write_chunk(&mut self, max: usize) -> Result<WriteChunk<'_, 'a, T, N>> {
        let wanted = max.min(self.capacity as usize) as u32;
        let n = self.free_for(wanted)?.min(wanted);
        Ok(WriteChunk::new(self, n))
    }

    /// The number of free slots now (reloads the consumer's `head`).
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, _rx) = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?.split()?;
    /// tx.try_push(0)?;
    /// assert_eq!(tx.free_slots()?, 3);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn free_slots(&mut self) -> Result<usize> {
        self.refresh_head().map(|n| n as usize)
    }

    /// The number of slots.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let tx = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?.producer()?;
    /// assert_eq!(tx.capacity(), 4);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Splits `n` positions from `pos` into the part before the end of the
    /// slot array and the part that wraps to slot 0.
    #[inline(always)]
    fn split_range(&self, pos: u32, n: u32) -> (u32, u32) {
        split_range(pos, n, self.mask)
    }
}

/// `(first, second)` with `first + second = n`, `first` ending at or before
/// the end of the slot array.
#[inline(always)]
fn split_range(pos: u32, n: u32, mask: u32) -> (u32, u32) {
    let start = pos & mask;
    // `mask - start + 1` cannot overflow: `start <= mask < u32::MAX`.
    let until_end = mask - start + 1;
    let first = n.min(until_end);
    (first, n - first)
}

/// The reading end of an SPSC ring.
///
/// Keeps its own `head` and a cached copy of the producer's `tail`, which it
/// reloads (and validates) only when the cache says the ring is empty.
///
/// ```
/// use ipckit_core::{spsc, AlignedBytes, Error, Region};
///
/// let mut bytes = AlignedBytes::<512>::new();
/// let (_tx, mut rx) = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 2)?.split()?;
/// assert_eq!(rx.try_pop(), Err(Error::Empty));
/// # Ok::<(), Error>(())
/// ```
pub struct Consumer<'a, T, N = Spin> {
    head: u32,
    cached_tail: u32,
    mask: u32,
    capacity: u32,
    ring: Ring<'a, T>,
    notify: N,
}

// SAFETY: as for `Producer`.
unsafe impl<T: Send, N: Send> Send for Consumer<'_, T, N> {}

impl<T, N> fmt::Debug for Consumer<'_, T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("spsc::Consumer")
            .field("head", &self.head)
            .field("cached_tail", &self.cached_tail)
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl<T, N> Drop for Consumer<'_, T, N> {
    fn drop(&mut self) {
        // SAFETY: as in `Ring::control`: the region outlives the handle.
        let c = unsafe { self.ring.control.as_ref() };
        release_claim(&c.consumer.claim);
    }
}

impl<'a, T: Pod, N: Notify> Consumer<'a, T, N> {
    #[inline(always)]
    fn tail_word(&self) -> &AtomicU32 {
        // SAFETY: see `Ring::control`.
        unsafe { &self.ring.control.as_ref().producer.tail }
    }

    #[inline(always)]
    fn head_word(&self) -> &AtomicU32 {
        // SAFETY: see `Ring::control`.
        unsafe { &self.ring.control.as_ref().consumer.head }
    }

    #[inline(always)]
    fn slot(&self, pos: u32) -> *const SlotCell<T> {
        // SAFETY: `pos & mask < capacity`, and the region holds `capacity`
        // slots from `slots` on (checked in `init`/`attach`).
        unsafe { self.ring.slots.as_ptr().add((pos & self.mask) as usize) }
    }

    /// Reloads the producer's `tail` and validates it. Returns the number of
    /// items available.
    #[cold]
    fn refresh_tail(&mut self) -> Result<u32> {
        let tail = self.tail_word().load(Ordering::Acquire);
        let available = tail.wrapping_sub(self.head);
        if available > self.capacity {
            return Err(Error::Corrupted(
                "producer tail is not within a capacity of head",
            ));
        }
        self.cached_tail = tail;
        Ok(available)
    }

    #[inline(always)]
    fn available_for(&mut self, wanted: u32) -> Result<u32> {
        let available = self.cached_tail.wrapping_sub(self.head);
        if available >= wanted {
            Ok(available)
        } else {
            self.refresh_tail()
        }
    }

    /// The flag a producer sets before it sleeps on `head`.
    #[inline(always)]
    fn producer_waiting(&self) -> &AtomicU32 {
        // SAFETY: see `Ring::control`.
        unsafe { &self.ring.control.as_ref().consumer.producer_waiting }
    }

    /// Hands `n` read slots back to the producer with one `Release` store,
    /// then wakes a sleeping producer (nothing at all with a non-waking
    /// notifier).
    #[inline(always)]
    fn release(&mut self, n: u32) {
        self.head = self.head.wrapping_add(n);
        self.head_word().store(self.head, Ordering::Release);
        wake_waiters(
            &self.notify,
            self.head_word(),
            self.producer_waiting(),
            false,
        );
    }

    /// Removes and returns the oldest item, waiting while the ring is empty.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = spsc::Ring::<u32>::init(Region::from_slice(&mut bytes[..]), 2)?.split()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| tx.push(5).unwrap());
    ///     assert_eq!(rx.pop().unwrap(), 5);
    /// });
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn pop(&mut self) -> Result<T> {
        self.pop_timeout(None)
    }

    /// Removes and returns the oldest item, waiting at most `timeout`
    /// (`None`: no limit) while the ring is empty; [`Error::TimedOut`] when it
    /// stays empty.
    ///
    /// ```
    /// use core::time::Duration;
    /// use ipckit_core::{spsc, wait::Spin, AlignedBytes, Error, Region};
    ///
    /// fn clock() -> Duration {
    ///     static T0: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ///     T0.get_or_init(std::time::Instant::now).elapsed()
    /// }
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 1)?;
    /// let mut rx = ring.consumer_with(Spin::with_clock(clock))?;
    /// assert_eq!(rx.pop_timeout(Some(Duration::from_millis(5))), Err(Error::TimedOut));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn pop_timeout(&mut self, timeout: Option<Duration>) -> Result<T> {
        // SAFETY: see `Ring::control`; the words outlive this call.
        let c = unsafe { self.ring.control.as_ref() };
        let waiters = &c.producer.consumer_waiting;
        block_on(
            self,
            |p| &p.notify,
            timeout,
            Announce::Single,
            waiters,
            |p| match p.try_pop() {
                Err(Error::Empty) => Ok(Attempt::Wait(&c.producer.tail)),
                done => done.map(Attempt::Ready),
            },
        )
    }

    /// Removes and returns the oldest item, or [`Error::Empty`].
    ///
    /// Returns [`Error::Corrupted`] if the producer's `tail`, reloaded because
    /// the ring looked empty, is not within a capacity of `head`.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?.split()?;
    /// tx.try_push(9)?;
    /// assert_eq!(rx.try_pop(), Ok(9));
    /// assert_eq!(rx.try_pop(), Err(Error::Empty));
    /// # Ok::<(), Error>(())
    /// ```
    #[inline]
    pub fn try_pop(&mut self) -> Result<T> {
        if self.head == self.cached_tail && self.refresh_tail()? == 0 {
            return Err(Error::Empty);
        }
        // SAFETY: the slot at `head` was published (`head != tail`), and the
        // producer does not write it again until we release it.
        let value = unsafe { SlotCell::read(self.slot(self.head)) };
        self.release(1);
        Ok(value)
    }

    /// Moves as many items as are available (up to `out.len()`) into `out`,
    /// with one index publication, and returns how many (0 when empty).
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?.split()?;
    /// tx.push_slice(&[1, 2, 3])?;
    /// let mut out = [0; 2];
    /// assert_eq!(rx.pop_slice(&mut out)?, 2);
    /// assert_eq!(out, [1, 2]);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    #[inline]
    pub fn pop_slice(&mut self, out: &mut [T]) -> Result<usize> {
        let wanted = out.len().min(self.capacity as usize) as u32;
        let n = self.available_for(wanted)?.min(wanted);
        let (first, second) = split_range(self.head, n, self.mask);
        let (a, b) = out[..n as usize].split_at_mut(first as usize);
        // SAFETY: the `n` slots from `head` on are published and not yet
        // released; `split_range` keeps each segment inside the slot array.
        unsafe {
            SlotCell::read_slice(self.slot(self.head), a);
            if second > 0 {
                SlotCell::read_slice(self.slot(self.head.wrapping_add(first)), b);
            }
        }
        self.release(n);
        Ok(n as usize)
    }

    /// Borrows up to `max` available items for reading in place; see
    /// [`ReadChunk`]. The chunk may be shorter than `max` (empty when the ring
    /// is empty); the slots go back to the producer when it is committed.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = spsc::Ring::<u32>::init(Region::from_slice(&mut bytes[..]), 8)?.split()?;
    /// tx.push_slice(&[1, 2, 3])?;
    /// let chunk = rx.read_chunk(8)?;
    /// assert_eq!(chunk.iter().sum::<u32>(), 6);
    /// chunk.commit_all();
    /// assert_eq!(rx.len()?, 0);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    #[inline]
    pub fn read_chunk(&mut self, max: usize) -> Result<ReadChunk<'_, 'a, T, N>> {
        let wanted = max.min(self.capacity as usize) as u32;
        let n = self.available_for(wanted)?.min(wanted);
        Ok(ReadChunk::new(self, n))
    }

    /// The number of items available now (reloads the producer's `tail`).
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?.split()?;
    /// tx.push_slice(&[1, 2])?;
    /// assert_eq!(rx.len()?, 2);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    #[allow(clippy::len_without_is_empty)] // `len` can fail; `is_empty` would hide that
    pub fn len(&mut self) -> Result<usize> {
        self.refresh_tail().map(|n| n as usize)
    }

    /// The number of slots.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let rx = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?.consumer()?;
    /// assert_eq!(rx.capacity(), 4);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn capacity(&self) -> u32 {
        self.capacity
    }
}

#[cfg(all(test, not(ipckit_loom)))]
mod tests;

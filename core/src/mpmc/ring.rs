//! The ring handle: creating a ring in a region or attaching to one, its
//! options, and the queries that read its control words.

use core::fmt;
use core::marker::PhantomData;
#[cfg(not(ipckit_loom))]
use core::mem::{align_of, size_of};
use core::ptr::NonNull;

use bytemuck::Pod;

use super::layout::{Control, Slot, element, layout_len};
#[cfg(ipckit_loom)]
use super::layout::{DequeueLine, EnqueueLine};
#[cfg(not(ipckit_loom))]
use super::layout::{base_align, capacity_ok, slot_align, stride, value_offset};
use super::{Consumer, DATA_OFFSET, Producer, RETRY_LIMIT};
#[cfg(doc)]
use super::{MAX_CAPACITY, MIN_CAPACITY, recovery};
use crate::error::{Error, Result};
use crate::intent::Intent;
#[cfg(doc)]
use crate::region::LINE;
#[cfg(not(ipckit_loom))]
use crate::region::Region;
use crate::region::{FLAG_WAKES, ObjectKind};
#[cfg(ipckit_loom)]
use crate::region::{Header, Reserved};
#[cfg(ipckit_loom)]
use crate::sync::SlotCell;
use crate::sync::{AtomicU32, Ordering};
use crate::wait::{Notify, Spin};

/// How a ring is created: capacity, start position and wake mode.
///
/// ```
/// use ipckit_core::{mpmc, AlignedBytes, Region};
///
/// let mut bytes = AlignedBytes::<1024>::new();
/// let options = mpmc::Options::new(16).start_at(u32::MAX - 3).waking(false);
/// let ring = mpmc::Ring::<u32>::init_with(Region::from_slice(&mut bytes[..]), options)?;
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
    /// A ring of `capacity` slots (a power of two in
    /// [`MIN_CAPACITY`]`..=`[`MAX_CAPACITY`]), positions starting at 0,
    /// spinning waiters.
    pub const fn new(capacity: u32) -> Self {
        Self {
            capacity,
            position: 0,
            wakes: false,
        }
    }

    /// Starts `tail`, `head` and the stamps at `position`: tests start next
    /// to `u32::MAX` so that the wrap is exercised rather than assumed.
    pub const fn start_at(self, position: u32) -> Self {
        Self { position, ..self }
    }

    /// `true`: waiters sleep (futex, RTOS) and endpoints must use a waking
    /// [`Notify`] (`N::WAKES`); `false` (the default): waiters spin, and
    /// endpoints use a non-waking notifier such as [`Spin`].
    pub const fn waking(self, wakes: bool) -> Self {
        Self { wakes, ..self }
    }
}

/// What holds a ring up, as [`Ring::stalled`] saw it at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// A producer claimed `position` (moved `tail` past it) but has not
    /// published the slot yet; consumers wait behind it.
    Unpublished {
        /// The position claimed and not yet published.
        position: u32,
    },
    /// A consumer claimed `position` (moved `head` past it) but has not
    /// released the slot yet; the producer of the same slot one lap later
    /// waits behind it. (Also a consumer that claimed an unpublished
    /// position to skip it and has not released its slot yet: see
    /// [`recovery`].)
    Unreleased {
        /// The position claimed and not yet released.
        position: u32,
    },
}

/// An MPMC ring placed on a region: the handle from which producers and
/// consumers are made.
///
/// `Ring` itself moves no items; it is cheap to clone and may be shared
/// between threads.
///
/// ```
/// use ipckit_core::{mpmc, AlignedBytes, Region};
///
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = mpmc::Ring::<u16>::init(Region::from_slice(&mut bytes[..]), 32)?;
/// let (tx1, tx2, rx) = (ring.producer()?, ring.producer()?, ring.consumer()?);
/// tx1.try_push(7)?;
/// tx2.try_push(8)?;
/// assert_eq!((rx.try_pop()?, rx.try_pop()?), (7, 8));
/// # Ok::<(), ipckit_core::Error>(())
/// ```
pub struct Ring<'a, T> {
    control: NonNull<Control>,
    slots: NonNull<Slot<T>>,
    pub(super) capacity: u32,
    wakes: bool,
    #[cfg(ipckit_loom)]
    backing: std::sync::Arc<dyn core::any::Any>,
    _region: PhantomData<(&'a Control, T)>,
}

// SAFETY: the handle points into a region that is valid for `'a` and is
// designed to be used from several threads, processes and cores: every
// shared word is an atomic, and each slot's item is accessed only by the
// endpoint that owns the slot (by the compare-and-swap on its position).
// Items of type `T` cross threads, hence `T: Send`.
unsafe impl<T: Send> Send for Ring<'_, T> {}
// SAFETY: as above; every operation through `&Ring` (and through the
// endpoints, which hold a `Ring`) is an atomic or an owned slot access.
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

/// What every producer and consumer holds: the ring, its notifier, and the
/// intent it announces its claims in (if any).
pub(super) struct Endpoint<'a, T, N> {
    pub(super) ring: Ring<'a, T>,
    pub(super) notify: N,
    pub(super) intent: Option<&'a Intent>,
}

impl<T, N: Clone> Clone for Endpoint<'_, T, N> {
    fn clone(&self) -> Self {
        Self {
            ring: self.ring.clone(),
            notify: self.notify.clone(),
            intent: self.intent,
        }
    }
}

impl<T> fmt::Debug for Ring<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpmc::Ring")
            .field("capacity", &self.capacity)
            .field("wakes", &self.wakes)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Pod> Ring<'a, T> {
    /// The number of bytes a region needs for a ring of `capacity` items of
    /// `T`: `384 + capacity × stride` (see the module docs for the stride),
    /// or `None` if `capacity` is not a power of two in
    /// [`MIN_CAPACITY`]`..=`[`MAX_CAPACITY`] or `T` cannot be placed in a
    /// region (zero-sized, or aligned to more than [`LINE`]). Usable in
    /// `const` context to size a static buffer.
    ///
    /// ```
    /// use ipckit_core::{mpmc, AlignedBytes};
    ///
    /// const LEN: usize = match mpmc::Ring::<u64>::region_len(256) {
    ///     Some(len) => len,
    ///     None => panic!("bad capacity"),
    /// };
    /// static mut RING: AlignedBytes<LEN> = AlignedBytes::new();
    /// assert_eq!(LEN, 384 + 256 * 16);
    /// assert_eq!(mpmc::Ring::<u32>::region_len(4), Some(384 + 4 * 8));
    /// assert_eq!(mpmc::Ring::<u64>::region_len(100), None);
    /// ```
    #[must_use]
    pub const fn region_len(capacity: u32) -> Option<usize> {
        match layout_len::<T>(capacity) {
            Ok(len) => Some(len),
            Err(_) => None,
        }
    }

    /// Creates a ring of `capacity` items in `region` and publishes its
    /// header. Positions start at 0.
    ///
    /// On a region from [`Region::from_slice`] any stale header is reset
    /// first. On a raw region the header must be uninitialised (zeroed); of
    /// several creators racing on one region exactly one succeeds and the
    /// others get [`Error::AlreadyInitialized`].
    #[cfg(not(ipckit_loom))]
    pub fn init(region: Region<'a>, capacity: u32) -> Result<Self> {
        Self::init_at(region, capacity, 0)
    }

    /// Like [`init`](Self::init), but positions start at `position` instead
    /// of 0. Tests use it to start next to `u32::MAX`.
    #[cfg(not(ipckit_loom))]
    pub fn init_at(region: Region<'a>, capacity: u32, position: u32) -> Result<Self> {
        Self::init_with(region, Options::new(capacity).start_at(position))
    }

    /// Creates a ring as `options` say; see [`init`](Self::init) and
    /// [`Options`].
    #[cfg(not(ipckit_loom))]
    pub fn init_with(region: Region<'a>, options: Options) -> Result<Self> {
        let elem = element::<T>()?;
        let len = layout_len::<T>(options.capacity)?;
        region.check(len, base_align::<T>())?;
        let exclusive = region.is_exclusive();
        let ring = Self::on_region(region, options.capacity, options.wakes);
        ring.write_fresh(exclusive, elem, options)?;
        Ok(ring)
    }

    /// Attaches to a ring that another side created in `region`, after
    /// validating every header field: state, byte order, magic, layout
    /// version, kind, element size and alignment, capacity, data offset,
    /// flags and the region's length and alignment.
    #[cfg(not(ipckit_loom))]
    pub fn attach(region: Region<'a>) -> Result<Self> {
        let (size, align) = element::<T>()?;
        let info = region.header()?.read_info()?;
        info.expect(ObjectKind::Mpmc, size, align)?;
        let capacity = info.capacity;
        if !capacity_ok(capacity) {
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
        // The layout of the module docs, for this `T`.
        const {
            assert!(size_of::<Slot<T>>() == stride::<T>());
            assert!(core::mem::offset_of!(Slot<T>, value) == value_offset::<T>());
            assert!(align_of::<Slot<T>>() == slot_align::<T>());
        }
        let base = region.as_ptr();
        // SAFETY: `region.check` proved that `DATA_OFFSET + capacity * stride`
        // bytes are in the region, so the slot array starts inside it.
        let slots = unsafe { base.add(DATA_OFFSET) }.cast::<Slot<T>>();
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

    /// The init protocol of [`crate::region`]: claim the header, write every
    /// field, the control words and the first lap's stamps, then publish.
    fn write_fresh(&self, exclusive: bool, elem: (u32, u32), options: Options) -> Result<()> {
        let c = self.control();
        c.header.begin_init(exclusive)?;
        let flags = if options.wakes { FLAG_WAKES } else { 0 };
        c.header.write_fields(
            ObjectKind::Mpmc,
            elem.0,
            elem.1,
            options.capacity,
            DATA_OFFSET as u32,
            flags,
        );
        let start = options.position;
        c.enqueue.tail.store(start, Ordering::Relaxed);
        c.enqueue.consumers_waiting.store(0, Ordering::Relaxed);
        c.enqueue.lost.store(0, Ordering::Relaxed);
        c.dequeue.head.store(start, Ordering::Relaxed);
        c.dequeue.producers_waiting.store(0, Ordering::Relaxed);
        c.dequeue.skipped.store(0, Ordering::Relaxed);
        // Positions `start..start + capacity` cover every slot once; each
        // slot starts free for its position in the first lap.
        for i in 0..self.capacity {
            let p = start.wrapping_add(i);
            self.stamp(p).store(p, Ordering::Relaxed);
        }
        c.header.publish();
        Ok(())
    }

    /// A ring on the heap for the loom models: the same control block,
    /// slots and algorithm, placed in loom-tracked memory instead of raw
    /// bytes.
    #[cfg(ipckit_loom)]
    #[doc(hidden)]
    pub fn new_modelled(capacity: u32, position: u32) -> Result<Ring<'static, T>> {
        Self::new_modelled_with(Options::new(capacity).start_at(position))
    }

    /// [`new_modelled`](Self::new_modelled) with all [`Options`].
    #[cfg(ipckit_loom)]
    #[doc(hidden)]
    pub fn new_modelled_with(options: Options) -> Result<Ring<'static, T>> {
        use std::boxed::Box;
        use std::sync::Arc;
        use std::vec::Vec;

        let elem = element::<T>()?;
        layout_len::<T>(options.capacity)?;
        let control = Box::new(Control {
            header: Header::new(),
            enqueue: EnqueueLine {
                tail: AtomicU32::new(0),
                consumers_waiting: AtomicU32::new(0),
                lost: AtomicU32::new(0),
                _reserved: Reserved::new(),
            },
            dequeue: DequeueLine {
                head: AtomicU32::new(0),
                producers_waiting: AtomicU32::new(0),
                skipped: AtomicU32::new(0),
                _reserved: Reserved::new(),
            },
        });
        let mut slots: Box<[Slot<T>]> = (0..options.capacity)
            .map(|_| Slot {
                stamp: AtomicU32::new(0),
                value: SlotCell::new(T::zeroed()),
            })
            .collect::<Vec<_>>()
            .into_boxed_slice();
        let control_ptr = NonNull::from(&*control);
        let slots_ptr = NonNull::new(slots.as_mut_ptr()).expect("boxed slice is non-null");
        let ring = Ring {
            control: control_ptr,
            slots: slots_ptr,
            capacity: options.capacity,
            wakes: options.wakes,
            backing: Arc::new((control, slots)),
            _region: PhantomData,
        };
        ring.write_fresh(true, elem, options)?;
        Ok(ring)
    }

    /// The number of slots.
    #[must_use]
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// `true` if the ring was created for sleeping waiters
    /// ([`Options::waking`]).
    #[must_use]
    pub fn wakes(&self) -> bool {
        self.wakes
    }

    pub(super) fn control(&self) -> &Control {
        // SAFETY: `control` points to the start of a region valid for `'a`
        // (or to the loom backing this handle keeps alive), long and aligned
        // enough for `Control` (checked in `init`/`attach`). All of
        // `Control`'s fields are atomics or `UnsafeCell`s, so a shared
        // reference is sound while peers write the bytes.
        unsafe { self.control.as_ref() }
    }

    /// The slot of position `pos`: always inside the slot array.
    #[inline(always)]
    pub(super) fn slot(&self, pos: u32) -> *const Slot<T> {
        let index = (pos & (self.capacity - 1)) as usize;
        // SAFETY: `index < capacity`, and the region (or the loom backing)
        // holds `capacity` slots from `slots` on (checked in `init`/`attach`).
        unsafe { self.slots.as_ptr().add(index) }
    }

    /// The stamp of the slot of position `pos`.
    #[inline(always)]
    pub(super) fn stamp(&self, pos: u32) -> &AtomicU32 {
        // SAFETY: `slot` is in bounds and aligned, and lives as long as the
        // region; the stamp is an atomic, so a shared reference stays sound
        // while other endpoints and peers write it.
        unsafe { &(*self.slot(pos)).stamp }
    }

    /// A snapshot of the number of items in the ring: claimed positions
    /// between `head` and `tail`, including items still being written or
    /// read. Exact when no endpoint is active; under concurrency it was true
    /// at some instant during the call.
    ///
    /// A peer's garbage cannot make it exceed the capacity: a `tail` more
    /// than a capacity ahead of `head` (or a `head` that keeps moving for
    /// [`RETRY_LIMIT`] loads) reads as `capacity`, and the next push or pop
    /// that meets the corrupted word reports [`Error::Corrupted`].
    #[must_use]
    pub fn len(&self) -> usize {
        let c = self.control();
        let mut head = c.dequeue.head.load(Ordering::Acquire);
        for _ in 0..RETRY_LIMIT {
            let tail = c.enqueue.tail.load(Ordering::Acquire);
            let again = c.dequeue.head.load(Ordering::Acquire);
            // `head` did not move around the load of `tail`: the pair
            // existed at the instant `tail` was read.
            if again == head {
                return tail.wrapping_sub(head).min(self.capacity) as usize;
            }
            head = again;
        }
        self.capacity as usize
    }

    /// `true` if no position is claimed ([`len`](Self::len) is 0): a
    /// `try_pop` now would answer [`Error::Empty`] (module docs).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `true` if every slot's position is claimed ([`len`](Self::len) is
    /// the capacity): a `try_push` now would answer [`Error::Full`].
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.len() == self.capacity as usize
    }

    /// Reports a position that an endpoint claimed but has not finished, as
    /// seen at one instant: a producer that has not published the item at
    /// `head` ([`Stall::Unpublished`]), or a consumer that has not released
    /// the slot that `tail` needs ([`Stall::Unreleased`]). `None` when
    /// neither holds the ring up.
    ///
    /// A slow endpoint shows here for a moment; a dead one until a survivor
    /// recovers the position ([`recovery`]). Consumers care about the
    /// first kind only ([`unpublished`](Self::unpublished)), producers about
    /// the second ([`unreleased`](Self::unreleased)); this reports the
    /// first if both hold.
    #[must_use]
    pub fn stalled(&self) -> Option<Stall> {
        if let Some(position) = self.unpublished() {
            return Some(Stall::Unpublished { position });
        }
        self.unreleased()
            .map(|position| Stall::Unreleased { position })
    }

    /// A producer with the spinning notifier [`Spin`]; see
    /// [`producer_with`](Self::producer_with). Any number may exist.
    pub fn producer(&self) -> Result<Producer<'a, T>> {
        self.producer_with(Spin::new())
    }

    /// A producer whose blocking calls sleep through `notify` and whose
    /// publications wake sleeping consumers through it. `N::WAKES` must match
    /// the ring ([`Error::NotifyMismatch`]).
    pub fn producer_with<N: Notify>(&self, notify: N) -> Result<Producer<'a, T, N>> {
        self.endpoint(notify).map(Producer)
    }

    /// A consumer with the spinning notifier [`Spin`]; see
    /// [`consumer_with`](Self::consumer_with). Any number may exist.
    pub fn consumer(&self) -> Result<Consumer<'a, T>> {
        self.consumer_with(Spin::new())
    }

    /// A consumer whose blocking calls sleep through `notify` and whose
    /// releases wake sleeping producers through it; see
    /// [`producer_with`](Self::producer_with).
    pub fn consumer_with<N: Notify>(&self, notify: N) -> Result<Consumer<'a, T, N>> {
        self.endpoint(notify).map(Consumer)
    }

    /// What either endpoint holds, once `notify` is checked against the
    /// ring's wake mode.
    fn endpoint<N: Notify>(&self, notify: N) -> Result<Endpoint<'a, T, N>> {
        if N::WAKES != self.wakes {
            return Err(Error::NotifyMismatch);
        }
        Ok(Endpoint {
            ring: self.clone(),
            notify,
            intent: None,
        })
    }
}

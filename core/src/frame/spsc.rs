//! A single-producer single-consumer ring of variable-length byte frames on
//! a shared region, with zero-copy grants.
//!
//! # Algorithm
//! The SPSC ring of [`crate::spsc`] with bytes instead of slots: the producer
//! owns `tail`, the consumer owns `head`, both free-running `u32` byte
//! positions; each frame is one record of the [format](super#records) shared
//! by the frame rings. In the manner of bbqueue, the producer asks for a
//! [`Grant`] of `len` contiguous bytes, writes the frame in place, and
//! [`commit`](Grant::commit)s it: the record header is written and `tail`
//! published with one `Release` store. The consumer gets a [`ReadFrame`]
//! borrowing the oldest frame in place and [`release`](ReadFrame::release)s
//! it: `head` is published with one `Release` store. A frame that would
//! straddle the end of the data area goes to offset 0 behind a padding
//! record, written in the same commit.
//!
//! Only atomic loads and stores: valid between two cores of a `thumbv6m`
//! part, like the SPSC ring. Each side keeps a cached copy of the other's
//! index and reloads it only when the cache says full (producer) or empty
//! (consumer).
//!
//! # Layout (layout version 1, kind 4)
//! The control block of [`crate::spsc`], then the data area:
//!
//! | offset | width | field            | written by |
//! |-------:|------:|------------------|------------|
//! | 0      | 128 B | [`Header`](crate::Header): `elem_size` 1, `elem_align` 8, `capacity` = data bytes | creator |
//! | 128    | u32   | `tail` (byte position after the last committed record) | producer |
//! | 132    | u32   | producer claim   | producer |
//! | 136    | u32   | consumer waiting | consumer |
//! | 256    | u32   | `head` (byte position of the oldest unreleased record) | consumer |
//! | 260    | u32   | consumer claim   | consumer |
//! | 264    | u32   | producer waiting | producer |
//! | 384    | `capacity` bytes | records | producer |
//!
//! # Validation
//! The consumer validates `tail` (within a capacity of `head`) when it
//! reloads it and every record header before it touches the record
//! ([`parse_record`]); the producer validates `head` when it reloads it.
//! Header words are atomic loads; frames are copied out by the safe
//! accessors with word-wise atomic copies, so a peer writing the bytes
//! concurrently (even a thread of this process) can make them wrong, never
//! make the copy a data race. No Rust reference into the region is created
//! unless the caller asks for one with an `unsafe` method.
//!
//! # Example
//! ```
//! use ipckit_core::{frame, AlignedBytes, Error, Region};
//!
//! let mut bytes = AlignedBytes::<{ 384 + 1024 }>::new();
//! let ring = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 1024)?;
//! let (mut tx, mut rx) = ring.split()?;
//!
//! // Copying:
//! tx.try_send(b"hello")?;
//! let mut buf = [0; 64];
//! let n = rx.try_recv(&mut buf)?;
//! assert_eq!(&buf[..n], b"hello");
//!
//! // Zero-copy: write in place, commit, read in place, release.
//! let mut grant = tx.try_grant(32)?;
//! grant.write_at(0, b"in place")?;
//! grant.commit(8)?;
//! let frame = rx.try_read()?;
//! assert_eq!(frame.len(), 8);
//! let mut out = [0; 8];
//! frame.copy_to(&mut out);
//! frame.release();
//! assert_eq!(&out, b"in place");
//! assert_eq!(rx.try_recv(&mut buf), Err(Error::Empty));
//! # Ok::<(), Error>(())
//! ```

use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::time::Duration;

use super::{PAD, RECORD_ALIGN, RECORD_HEADER_LEN, Record, frame_word, parse_record, record_len};
use crate::error::{Error, Result, Role};
#[cfg(not(ipckit_loom))]
use crate::region::{FLAG_WAKES, Region};
use crate::region::{ObjectKind, claim, release_claim};
use crate::spsc::Control;
use crate::sync::{Ordering, SlotCell};
use crate::wait::{Announce, Blocker, Notify, Spin, wake_waiters};

/// Offset of the data area from the region base.
pub const DATA_OFFSET: usize = crate::spsc::DATA_OFFSET;

/// The grain of the data area (the crate's `sync` docs): machine words. A
/// record header (length word and zero claimant) is one unit on a 64-bit
/// target; on a 32-bit one the words are 4 bytes, as the header's fields.
#[cfg(not(ipckit_loom))]
const GRAIN: crate::sync::Grain = crate::sync::Grain::Word;

/// The alignment the region base needs: records are 8-byte aligned.
#[cfg_attr(ipckit_loom, allow(dead_code))]
const BASE_ALIGN: usize = RECORD_ALIGN as usize;

/// Checks a data-area capacity and start position; returns the largest frame.
fn check_options(capacity: u32, position: u32) -> Result<u32> {
    let max = super::max_frame_len(capacity).ok_or(Error::InvalidCapacity)?;
    if position % RECORD_ALIGN != 0 {
        return Err(Error::InvalidCapacity);
    }
    Ok(max)
}

/// How a frame ring is created: data-area capacity, start position, wake
/// mode.
///
/// ```
/// use ipckit_core::{frame, AlignedBytes, Region};
///
/// let mut bytes = AlignedBytes::<{ 384 + 256 }>::new();
/// let options = frame::spsc::Options::new(256).start_at(u32::MAX - 7).waking(false);
/// let ring = frame::spsc::Ring::init_with(Region::from_slice(&mut bytes[..]), options)?;
/// assert_eq!(ring.capacity(), 256);
/// # Ok::<(), ipckit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    capacity: u32,
    position: u32,
    wakes: bool,
}

impl Options {
    /// A data area of `capacity` bytes (a power of two in
    /// [`MIN_CAPACITY`](super::MIN_CAPACITY)`..=`[`MAX_CAPACITY`](super::MAX_CAPACITY)),
    /// positions starting at 0, spinning waiters.
    ///
    /// ```
    /// use ipckit_core::frame::spsc::Options;
    /// assert_eq!(Options::new(64), Options::new(64).start_at(0).waking(false));
    /// ```
    pub const fn new(capacity: u32) -> Self {
        Self {
            capacity,
            position: 0,
            wakes: false,
        }
    }

    /// Starts both positions at `position`, which must be a multiple of
    /// [`RECORD_ALIGN`] ([`Error::InvalidCapacity`] otherwise). Tests start
    /// next to `u32::MAX` so that the wrap is exercised rather than assumed.
    ///
    /// ```
    /// use ipckit_core::frame::spsc::Options;
    /// let _ = Options::new(64).start_at(u32::MAX - 7);
    /// ```
    pub const fn start_at(self, position: u32) -> Self {
        Self { position, ..self }
    }

    /// `true`: waiters sleep and endpoints must use a waking
    /// [`Notify`]; `false` (the default): waiters spin.
    ///
    /// ```
    /// use ipckit_core::frame::spsc::Options;
    /// let _ = Options::new(64).waking(true);
    /// ```
    pub const fn waking(self, wakes: bool) -> Self {
        Self { wakes, ..self }
    }
}

/// An SPSC frame ring placed on a region: the handle from which the one
/// [`Producer`] and the one [`Consumer`] are claimed. Cheap to clone.
///
/// ```
/// use ipckit_core::{frame, AlignedBytes, Region};
///
/// let mut bytes = AlignedBytes::<{ 384 + 128 }>::new();
/// let ring = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 128)?;
/// assert_eq!(ring.max_frame_len(), 56);
/// # Ok::<(), ipckit_core::Error>(())
/// ```
pub struct Ring<'a> {
    control: NonNull<Control>,
    data: NonNull<SlotCell<u8>>,
    capacity: u32,
    max_frame: u32,
    wakes: bool,
    #[cfg(ipckit_loom)]
    backing: std::sync::Arc<dyn core::any::Any>,
    _region: PhantomData<&'a Control>,
}

// SAFETY: the handle points into a region valid for `'a` that is designed to
// be shared between threads, processes and cores; the control words are
// atomics and the data bytes are only touched under the index protocol.
unsafe impl Send for Ring<'_> {}
// SAFETY: `&Ring` offers claims (atomics) and reads of immutable locals.
unsafe impl Sync for Ring<'_> {}

impl Clone for Ring<'_> {
    fn clone(&self) -> Self {
        Self {
            control: self.control,
            data: self.data,
            capacity: self.capacity,
            max_frame: self.max_frame,
            wakes: self.wakes,
            #[cfg(ipckit_loom)]
            backing: self.backing.clone(),
            _region: PhantomData,
        }
    }
}

impl fmt::Debug for Ring<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("frame::spsc::Ring")
            .field("capacity", &self.capacity)
            .field("max_frame", &self.max_frame)
            .finish_non_exhaustive()
    }
}

impl<'a> Ring<'a> {
    /// The bytes a region needs for a data area of `capacity` bytes, or
    /// `None` if `capacity` is not a power of two in
    /// [`MIN_CAPACITY`](super::MIN_CAPACITY)`..=`[`MAX_CAPACITY`](super::MAX_CAPACITY).
    ///
    /// ```
    /// use ipckit_core::frame;
    /// assert_eq!(frame::spsc::Ring::region_len(4096), Some(384 + 4096));
    /// assert_eq!(frame::spsc::Ring::region_len(1000), None);
    /// ```
    pub const fn region_len(capacity: u32) -> Option<usize> {
        match super::max_frame_len(capacity) {
            Some(_) => Some(DATA_OFFSET + capacity as usize),
            None => None,
        }
    }

    /// Creates a frame ring with a data area of `capacity` bytes in `region`
    /// and publishes its header; see [`crate::spsc::Ring::init`] for the
    /// rules on fresh and raw regions.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// assert!(frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 128).is_ok());
    /// assert_eq!(
    ///     frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 100).unwrap_err(),
    ///     Error::InvalidCapacity,
    /// );
    /// ```
    #[cfg(not(ipckit_loom))]
    pub fn init(region: Region<'a>, capacity: u32) -> Result<Self> {
        Self::init_with(region, Options::new(capacity))
    }

    /// Creates a frame ring as `options` say; see [`init`](Self::init).
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let options = frame::spsc::Options::new(128).start_at(3);
    /// assert_eq!(
    ///     frame::spsc::Ring::init_with(Region::from_slice(&mut bytes[..]), options).unwrap_err(),
    ///     Error::InvalidCapacity,
    /// );
    /// ```
    #[cfg(not(ipckit_loom))]
    pub fn init_with(region: Region<'a>, options: Options) -> Result<Self> {
        let max_frame = check_options(options.capacity, options.position)?;
        region.check(DATA_OFFSET + options.capacity as usize, BASE_ALIGN)?;
        let exclusive = region.is_exclusive();
        let ring = Self::on_region(region, options.capacity, max_frame, options.wakes);
        ring.control().init_as(
            exclusive,
            ObjectKind::FrameSpsc,
            (1, RECORD_ALIGN),
            DATA_OFFSET as u32,
            (options.capacity, options.position, options.wakes),
        )?;
        Ok(ring)
    }

    /// Attaches to a frame ring another side created, after validating
    /// every header field and the region's length.
    ///
    /// ```
    /// use ipckit_core::{frame, spsc, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<1024>::new();
    /// frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
    /// let ring = frame::spsc::Ring::attach(Region::from_slice(&mut bytes[..]))?;
    /// assert_eq!(ring.capacity(), 512);
    /// // An SPSC ring of items is another kind of object.
    /// spsc::Ring::<u64>::init(Region::from_slice(&mut bytes[..]), 8)?;
    /// let err = frame::spsc::Ring::attach(Region::from_slice(&mut bytes[..])).unwrap_err();
    /// assert_eq!(err, Error::KindMismatch { found: 1, expected: 4 });
    /// # Ok::<(), Error>(())
    /// ```
    #[cfg(not(ipckit_loom))]
    pub fn attach(region: Region<'a>) -> Result<Self> {
        let info = region.header()?.read_info()?;
        info.expect(ObjectKind::FrameSpsc, 1, RECORD_ALIGN)?;
        let capacity = info.capacity;
        let max_frame =
            super::max_frame_len(capacity).ok_or(Error::Corrupted("capacity in header"))?;
        if info.data_offset as usize != DATA_OFFSET {
            return Err(Error::Corrupted("data offset in header"));
        }
        region.check(DATA_OFFSET + capacity as usize, BASE_ALIGN)?;
        let wakes = match info.flags {
            0 => false,
            FLAG_WAKES => true,
            _ => return Err(Error::Corrupted("flags in header")),
        };
        Ok(Self::on_region(region, capacity, max_frame, wakes))
    }

    #[cfg(not(ipckit_loom))]
    fn on_region(region: Region<'a>, capacity: u32, max_frame: u32, wakes: bool) -> Self {
        let base = region.as_ptr();
        // SAFETY: `region.check` proved `DATA_OFFSET + capacity` bytes.
        let data = unsafe { base.add(DATA_OFFSET) }.cast::<SlotCell<u8>>();
        Self {
            // SAFETY: the region's base is non-null.
            control: unsafe { NonNull::new_unchecked(base.cast::<Control>()) },
            // SAFETY: an in-bounds offset from a non-null base is non-null.
            data: unsafe { NonNull::new_unchecked(data) },
            capacity,
            max_frame,
            wakes,
            _region: PhantomData,
        }
    }

    /// A ring on the heap for the loom models: the same control block and
    /// algorithm, with every data byte a loom-tracked cell.
    #[cfg(ipckit_loom)]
    #[doc(hidden)]
    pub fn new_modelled_with(options: Options) -> Result<Ring<'static>> {
        use std::boxed::Box;
        use std::vec::Vec;
        let max_frame = check_options(options.capacity, options.position)?;
        let control = Control::new_modelled();
        let mut data: Box<[SlotCell<u8>]> = (0..options.capacity)
            .map(|_| SlotCell::new(0))
            .collect::<Vec<_>>()
            .into_boxed_slice();
        control.init_as(
            true,
            ObjectKind::FrameSpsc,
            (1, RECORD_ALIGN),
            DATA_OFFSET as u32,
            (options.capacity, options.position, options.wakes),
        )?;
        let control_ptr = NonNull::from(&*control);
        let data_ptr = NonNull::new(data.as_mut_ptr()).expect("boxed slice is non-null");
        // The backing is only kept alive (never accessed through the `Arc`),
        // so its lack of `Sync` does not matter.
        #[allow(clippy::arc_with_non_send_sync)]
        let backing = std::sync::Arc::new((control, data));
        Ok(Ring {
            control: control_ptr,
            data: data_ptr,
            capacity: options.capacity,
            max_frame,
            wakes: options.wakes,
            backing,
            _region: PhantomData,
        })
    }

    /// The data area's size in bytes.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?;
    /// assert_eq!(ring.capacity(), 64);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// The largest frame this ring carries: half the data area less a
    /// record header.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?;
    /// assert_eq!(ring.max_frame_len(), 24);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn max_frame_len(&self) -> u32 {
        self.max_frame
    }

    /// `true` if the ring was created for sleeping waiters.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?;
    /// assert!(!ring.wakes());
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn wakes(&self) -> bool {
        self.wakes
    }

    fn control(&self) -> &Control {
        // SAFETY: `control` points to the start of a region valid for `'a`
        // (or to the loom backing this handle keeps alive), checked long and
        // aligned enough; all of `Control` is atomics or cells.
        unsafe { self.control.as_ref() }
    }

    /// Copies `src` into the data area at `offset`, in aligned atomic
    /// machine words ([`GRAIN`]).
    ///
    /// # Safety
    /// `offset + src.len() <= capacity`, and the index protocol gives the
    /// caller those bytes for writing, and the rest of the aligned words
    /// that hold them (true of any range inside one record: records are
    /// 8-byte aligned and padded to 8).
    #[inline(always)]
    unsafe fn store_data(&self, offset: u32, src: &[u8]) {
        #[cfg(not(ipckit_loom))]
        // SAFETY: in bounds and owned, whole words included, as the caller
        // guarantees.
        unsafe {
            crate::sync::copy_to_shared(self.byte_ptr(offset), src, GRAIN)
        }
        #[cfg(ipckit_loom)]
        // SAFETY: in bounds and owned, as the caller guarantees.
        unsafe {
            SlotCell::write_slice(self.data.as_ptr().add(offset as usize), src)
        }
    }

    /// Copies bytes of the data area at `offset` into `dst`, in aligned
    /// atomic machine words.
    ///
    /// # Safety
    /// `offset + dst.len() <= capacity`, and the index protocol lets the
    /// caller read those bytes and the rest of the aligned words that hold
    /// them (any range inside one record).
    #[inline(always)]
    unsafe fn load_data(&self, offset: u32, dst: &mut [u8]) {
        #[cfg(not(ipckit_loom))]
        // SAFETY: in bounds and readable, whole words included, as the
        // caller guarantees.
        unsafe {
            crate::sync::copy_from_shared(self.byte_ptr(offset), dst, GRAIN)
        }
        #[cfg(ipckit_loom)]
        // SAFETY: in bounds and readable, as the caller guarantees.
        unsafe {
            SlotCell::read_slice(self.data.as_ptr().add(offset as usize), dst)
        }
    }

    /// The address of the record header at `offset`, which the compiler
    /// may take as 8-aligned (so a header moves as one or two `mov`s).
    ///
    /// # Safety
    /// `offset` is a multiple of 8 with `offset + 8 <= capacity`.
    #[cfg(not(ipckit_loom))]
    #[inline(always)]
    unsafe fn header_ptr(&self, offset: u32) -> *mut u8 {
        let p = self.byte_ptr(offset);
        debug_assert!(p.addr() % RECORD_ALIGN as usize == 0);
        // SAFETY: the data area is 8-aligned (checked when the ring was
        // placed) and `offset` a multiple of 8 (caller contract).
        unsafe { core::hint::assert_unchecked(p.addr() % RECORD_ALIGN as usize == 0) };
        p
    }

    /// Loads the record header at `offset` (one unit of the data area's
    /// grain: the length word and the zero claimant together on a 64-bit
    /// target, two atomic loads on a 32-bit one); returns the length word.
    ///
    /// # Safety
    /// `offset` is a multiple of 8 below `capacity` whose bytes the index
    /// protocol lets the caller read.
    #[inline(always)]
    unsafe fn load_header(&self, offset: u32) -> u32 {
        let mut header = [0; RECORD_HEADER_LEN as usize];
        #[cfg(not(ipckit_loom))]
        // SAFETY: 8 aligned bytes in bounds (caller contract: records fit
        // the data area) and readable.
        unsafe {
            crate::sync::copy_from_shared(self.header_ptr(offset), &mut header, GRAIN)
        };
        #[cfg(ipckit_loom)]
        // SAFETY: 8 bytes in bounds and readable (caller contract).
        unsafe {
            self.load_data(offset, &mut header)
        };
        u32::from_ne_bytes([header[0], header[1], header[2], header[3]])
    }

    /// Stores a record header at `offset`: `word` and a zero claimant, as
    /// one unit of the grain on a 64-bit target (the caller publishes it
    /// with `tail`).
    ///
    /// # Safety
    /// `offset` is a multiple of 8 with `offset + 8 <= capacity`, and the
    /// index protocol gives the caller those bytes for writing.
    #[inline(always)]
    unsafe fn store_header(&self, offset: u32, word: u32) {
        let w = word.to_ne_bytes();
        let header = [w[0], w[1], w[2], w[3], 0, 0, 0, 0];
        #[cfg(not(ipckit_loom))]
        // SAFETY: 8 aligned bytes in bounds and owned (caller contract).
        unsafe {
            crate::sync::copy_to_shared(self.header_ptr(offset), &header, GRAIN)
        }
        #[cfg(ipckit_loom)]
        // SAFETY: 8 bytes in bounds and owned (caller contract).
        unsafe {
            self.store_data(offset, &header)
        }
    }

    /// The raw address of data byte `offset` (`offset <= capacity`).
    #[inline(always)]
    fn byte_ptr(&self, offset: u32) -> *mut u8 {
        debug_assert!(offset <= self.capacity);
        #[cfg(not(ipckit_loom))]
        {
            // SAFETY: `offset <= capacity`: within (or one past) the data area.
            SlotCell::as_ptr(unsafe { self.data.as_ptr().add(offset as usize) })
        }
        #[cfg(ipckit_loom)]
        {
            // Loom models never take raw views of the data.
            let _ = offset;
            core::ptr::null_mut()
        }
    }

    /// Claims the producer role (spinning waits); see
    /// [`producer_with`](Self::producer_with).
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Error, Region, Role};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?;
    /// let tx = ring.producer()?;
    /// assert_eq!(ring.producer().unwrap_err(), Error::RoleTaken(Role::Producer));
    /// drop(tx);
    /// assert!(ring.producer().is_ok());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn producer(&self) -> Result<Producer<'a>> {
        self.producer_with(Spin::new())
    }

    /// Claims the producer role with the notifier `notify` (its `WAKES` must
    /// match the ring: [`Error::NotifyMismatch`]).
    ///
    /// ```
    /// use ipckit_core::{frame, wait::Spin, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?;
    /// let mut tx = ring.producer_with(Spin::new())?;
    /// tx.send(b"blocking send")?;
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn producer_with<N: Notify>(&self, notify: N) -> Result<Producer<'a, N>> {
        if N::WAKES != self.wakes {
            return Err(Error::NotifyMismatch);
        }
        let c = self.control();
        claim(&c.producer.claim, Role::Producer)?;
        let tail = c.producer.tail.load(Ordering::Relaxed);
        let head = c.consumer.head.load(Ordering::Acquire);
        if tail.wrapping_sub(head) > self.capacity || tail % RECORD_ALIGN != 0 {
            release_claim(&c.producer.claim);
            return Err(Error::Corrupted(
                "frame ring tail is misaligned or not within a capacity of head",
            ));
        }
        Ok(Producer {
            tail,
            cached_head: head,
            ring: self.clone(),
            notify,
        })
    }

    /// Claims the consumer role (spinning waits); see
    /// [`consumer_with`](Self::consumer_with).
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Error, Region, Role};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?;
    /// let _rx = ring.consumer()?;
    /// assert_eq!(ring.consumer().unwrap_err(), Error::RoleTaken(Role::Consumer));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn consumer(&self) -> Result<Consumer<'a>> {
        self.consumer_with(Spin::new())
    }

    /// Claims the consumer role with the notifier `notify`.
    ///
    /// ```
    /// use ipckit_core::{frame, wait::Spin, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?;
    /// let mut rx = ring.consumer_with(Spin::new())?;
    /// assert_eq!(rx.try_recv(&mut [0; 8]), Err(Error::Empty));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn consumer_with<N: Notify>(&self, notify: N) -> Result<Consumer<'a, N>> {
        if N::WAKES != self.wakes {
            return Err(Error::NotifyMismatch);
        }
        let c = self.control();
        claim(&c.consumer.claim, Role::Consumer)?;
        let head = c.consumer.head.load(Ordering::Relaxed);
        let tail = c.producer.tail.load(Ordering::Acquire);
        if tail.wrapping_sub(head) > self.capacity || head % RECORD_ALIGN != 0 {
            release_claim(&c.consumer.claim);
            return Err(Error::Corrupted(
                "frame ring head is misaligned or not within a capacity of tail",
            ));
        }
        Ok(Consumer {
            head,
            cached_tail: tail,
            ring: self.clone(),
            notify,
        })
    }

    /// Frees the producer role in the shared header **without** a
    /// [`Producer`] being dropped: the recovery step for a holder that died
    /// holding it. The next producer resumes at the published `tail`; a
    /// grant the dead holder never committed is not in the ring.
    ///
    /// # Safety
    /// No [`Producer`] of this ring may be used again after this call, in
    /// any thread or process (two producers writing the same bytes is a data
    /// race). Releasing the claim of a process known to have died fulfils
    /// this.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?;
    /// core::mem::forget(ring.producer()?); // the holder "dies"
    /// assert!(ring.producer().is_err());
    /// // SAFETY: the forgotten producer is never used again.
    /// unsafe { ring.release_producer_claim() };
    /// assert!(ring.producer().is_ok());
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub unsafe fn release_producer_claim(&self) {
        release_claim(&self.control().producer.claim);
    }

    /// Frees the consumer role of a holder that died holding it; see
    /// [`release_producer_claim`](Self::release_producer_claim). A frame the
    /// dead holder read but never released is delivered again.
    ///
    /// # Safety
    /// No [`Consumer`] of this ring may be used again after this call, in
    /// any thread or process.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?;
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
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// tx.try_send(&[1, 2, 3])?;
    /// assert_eq!(rx.try_recv(&mut [0; 8])?, 3);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn split(&self) -> Result<(Producer<'a>, Consumer<'a>)> {
        let producer = self.producer()?;
        let consumer = self.consumer()?;
        Ok((producer, consumer))
    }
}

/// Where a granted frame goes: `pad` bytes of padding at the current tail
/// (0 if none), then the record at data offset `offset`, room for `len`
/// payload bytes.
#[derive(Clone, Copy)]
struct Reservation {
    pad: u32,
    offset: u32,
    len: u32,
}

/// The writing end of an SPSC frame ring.
///
/// ```
/// use ipckit_core::{frame, AlignedBytes, Error, Region};
/// let mut bytes = AlignedBytes::<512>::new();
/// let (mut tx, _rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
/// tx.try_send(&[0; 24])?;
/// tx.try_send(&[0; 16])?;
/// assert_eq!(tx.try_send(&[0; 24]), Err(Error::Full));
/// assert_eq!(tx.try_send(&[0; 25]), Err(Error::FrameTooLarge { len: 25, max: 24 }));
/// # Ok::<(), Error>(())
/// ```
pub struct Producer<'a, N = Spin> {
    tail: u32,
    cached_head: u32,
    ring: Ring<'a>,
    notify: N,
}

// SAFETY: one endpoint; moving it moves the role. The notifier moves too.
unsafe impl<N: Send> Send for Producer<'_, N> {}

impl<N> fmt::Debug for Producer<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("frame::spsc::Producer")
            .field("tail", &self.tail)
            .field("cached_head", &self.cached_head)
            .field("capacity", &self.ring.capacity)
            .finish()
    }
}

impl<N> Drop for Producer<'_, N> {
    fn drop(&mut self) {
        // SAFETY: as in `Ring::control`: the region outlives the handle.
        let c = unsafe { self.ring.control.as_ref() };
        release_claim(&c.producer.claim);
    }
}

impl<'a, N: Notify> Producer<'a, N> {
    /// Reloads and validates the consumer's `head`; returns the free bytes.
    #[cold]
    fn refresh_head(&mut self) -> Result<u32> {
        let head = self.ring.control().consumer.head.load(Ordering::Acquire);
        let used = self.tail.wrapping_sub(head);
        if used > self.ring.capacity || used % RECORD_ALIGN != 0 {
            return Err(Error::Corrupted(
                "consumer head is misaligned or not within a capacity of tail",
            ));
        }
        self.cached_head = head;
        Ok(self.ring.capacity - used)
    }

    /// Finds room for a `len`-byte frame, or [`Error::Full`].
    #[inline]
    fn reserve(&mut self, len: usize) -> Result<Reservation> {
        let max = self.ring.max_frame;
        if len > max as usize {
            let len = u32::try_from(len).unwrap_or(u32::MAX);
            return Err(Error::FrameTooLarge { len, max });
        }
        let len = len as u32;
        let capacity = self.ring.capacity;
        let total = record_len(len);
        let at = self.tail & (capacity - 1);
        let until_end = capacity - at;
        // A record never straddles the end: pad to the end and start at 0.
        let (pad, offset) = if total > until_end {
            (until_end, 0)
        } else {
            (0, at)
        };
        let needed = pad + total;
        let free = capacity - self.tail.wrapping_sub(self.cached_head);
        if free < needed && self.refresh_head()? < needed {
            return Err(Error::Full);
        }
        Ok(Reservation { pad, offset, len })
    }

    /// Waits for room for a `len`-byte frame, at most `timeout`.
    fn reserve_blocking(&mut self, len: usize, timeout: Option<Duration>) -> Result<Reservation> {
        match self.reserve(len) {
            Err(Error::Full) => {}
            done => return done,
        }
        // SAFETY: see `Ring::control`; the words outlive this call.
        let c = unsafe { self.ring.control.as_ref() };
        let (word, waiters) = (&c.consumer.head, &c.consumer.producer_waiting);
        let mut blocker = Blocker::new(&self.notify, timeout, Announce::Single)?;
        loop {
            blocker.sleep(&self.notify, word, waiters)?;
            blocker.prepare(&self.notify, word, waiters);
            match self.reserve(len) {
                Err(Error::Full) => {}
                done => {
                    blocker.finish(waiters);
                    return done;
                }
            }
        }
    }

    /// Reserves `len` contiguous bytes for a frame, or returns
    /// [`Error::Full`] (try again later) or [`Error::FrameTooLarge`] (never
    /// fits). Nothing is visible to the consumer until the grant is
    /// committed; dropping the grant gives the room back.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 128)?.split()?;
    /// let mut grant = tx.try_grant(10)?;
    /// assert_eq!(grant.copy_from_slice(b"0123456789"), 10);
    /// grant.commit_all();
    /// assert_eq!(rx.try_recv(&mut [0; 16])?, 10);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    #[inline]
    pub fn try_grant(&mut self, len: usize) -> Result<Grant<'_, 'a, N>> {
        let reservation = self.reserve(len)?;
        Ok(Grant {
            producer: self,
            reservation,
        })
    }

    /// Like [`try_grant`](Self::try_grant), waiting while the ring is full.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         for i in 0..100u8 {
    ///             let mut grant = tx.grant(20).unwrap();
    ///             grant.copy_from_slice(&[i; 20]);
    ///             grant.commit_all();
    ///         }
    ///     });
    ///     let mut buf = [0; 24];
    ///     for i in 0..100u8 {
    ///         assert_eq!(rx.recv(&mut buf).unwrap(), 20);
    ///         assert_eq!(buf[..20], [i; 20]);
    ///     }
    /// });
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn grant(&mut self, len: usize) -> Result<Grant<'_, 'a, N>> {
        self.grant_timeout(len, None)
    }

    /// Like [`grant`](Self::grant), waiting at most `timeout` (`None`: no
    /// limit); [`Error::TimedOut`] when the ring stays full.
    ///
    /// ```
    /// use core::time::Duration;
    /// use ipckit_core::{frame, wait::Spin, AlignedBytes, Error, Region};
    /// fn clock() -> Duration {
    ///     static T0: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ///     T0.get_or_init(std::time::Instant::now).elapsed()
    /// }
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?;
    /// let mut tx = ring.producer_with(Spin::with_clock(clock))?;
    /// tx.try_send(&[0; 24])?;
    /// tx.try_send(&[0; 24])?;
    /// let err = tx.grant_timeout(24, Some(Duration::from_millis(5))).unwrap_err();
    /// assert_eq!(err, Error::TimedOut);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn grant_timeout(
        &mut self,
        len: usize,
        timeout: Option<Duration>,
    ) -> Result<Grant<'_, 'a, N>> {
        let reservation = self.reserve_blocking(len, timeout)?;
        Ok(Grant {
            producer: self,
            reservation,
        })
    }

    /// Copies `frame` into the ring as one frame, or returns [`Error::Full`]
    /// or [`Error::FrameTooLarge`].
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// tx.try_send(b"")?; // empty frames are frames too
    /// assert_eq!(rx.try_recv(&mut [])?, 0);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    #[inline]
    pub fn try_send(&mut self, frame: &[u8]) -> Result<()> {
        let reservation = self.reserve(frame.len())?;
        self.write_and_commit(reservation, frame);
        Ok(())
    }

    /// Copies `frame` into the ring, waiting while it is full.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// tx.send(b"abc")?;
    /// assert_eq!(rx.recv(&mut [0; 3])?, 3);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn send(&mut self, frame: &[u8]) -> Result<()> {
        self.send_timeout(frame, None)
    }

    /// Copies `frame` into the ring, waiting at most `timeout` while it is
    /// full.
    ///
    /// ```
    /// use core::time::Duration;
    /// use ipckit_core::{frame, wait::Spin, AlignedBytes, Error, Region};
    /// fn clock() -> Duration {
    ///     static T0: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ///     T0.get_or_init(std::time::Instant::now).elapsed()
    /// }
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?;
    /// let mut tx = ring.producer_with(Spin::with_clock(clock))?;
    /// tx.send(&[1; 24])?;
    /// tx.send(&[2; 24])?;
    /// assert_eq!(tx.send_timeout(&[3; 8], Some(Duration::from_millis(5))), Err(Error::TimedOut));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn send_timeout(&mut self, frame: &[u8], timeout: Option<Duration>) -> Result<()> {
        let reservation = self.reserve_blocking(frame.len(), timeout)?;
        self.write_and_commit(reservation, frame);
        Ok(())
    }

    #[inline(always)]
    fn write_and_commit(&mut self, reservation: Reservation, frame: &[u8]) {
        // SAFETY: `reserve` found `len = frame.len()` bytes of payload room
        // after the record header at `offset`, inside the data area and free.
        unsafe {
            self.ring
                .store_data(reservation.offset + RECORD_HEADER_LEN, frame)
        };
        self.commit(reservation, reservation.len);
    }

    /// Writes the padding and record headers of `reservation` for a frame of
    /// `len <= reservation.len` bytes and publishes them with one `Release`
    /// store of `tail`, then wakes a sleeping consumer.
    #[inline(always)]
    fn commit(&mut self, reservation: Reservation, len: u32) {
        let ring = &self.ring;
        if reservation.pad > 0 {
            let at = self.tail & (ring.capacity - 1);
            // SAFETY: the padding covers `at..capacity`, reserved and free;
            // a header needs 8 bytes and `pad >= 8` (positions are multiples
            // of 8).
            unsafe { ring.store_header(at, PAD | reservation.pad) };
        }
        // SAFETY: the record's header is the first 8 reserved bytes at
        // `offset`.
        unsafe { ring.store_header(reservation.offset, frame_word(len)) };
        self.tail = self.tail.wrapping_add(reservation.pad + record_len(len));
        let c = ring.control();
        c.producer.tail.store(self.tail, Ordering::Release);
        wake_waiters(
            &self.notify,
            &c.producer.tail,
            &c.producer.consumer_waiting,
            false,
        );
    }

    /// The free bytes now (reloads the consumer's `head`). A frame of `len`
    /// bytes needs [`frame::record_len`](super::record_len)`(len)` of them, and
    /// contiguous.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, _rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// tx.try_send(&[0; 8])?;
    /// assert_eq!(tx.free_bytes()?, 48);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn free_bytes(&mut self) -> Result<usize> {
        self.refresh_head().map(|n| n as usize)
    }

    /// The largest frame this ring carries.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let tx = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.producer()?;
    /// assert_eq!(tx.max_frame_len(), 24);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn max_frame_len(&self) -> u32 {
        self.ring.max_frame
    }
}

/// Room for one frame, reserved by [`Producer::try_grant`]: write the frame
/// in place, then [`commit`](Self::commit) it.
///
/// The safe writers copy through word-wise atomics, so a consumer that
/// scribbles on the bytes can make them wrong but never make this process
/// unsound; [`as_mut_slice`](Self::as_mut_slice) is for a trusted peer. Bytes left
/// unwritten carry whatever the ring held before. Dropping the grant commits
/// nothing.
///
/// ```
/// use ipckit_core::{frame, AlignedBytes, Region};
/// let mut bytes = AlignedBytes::<512>::new();
/// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 128)?.split()?;
/// let mut grant = tx.try_grant(16)?;
/// grant.write_at(0, &7u64.to_le_bytes())?;
/// grant.write_at(8, &9u64.to_le_bytes())?;
/// grant.commit_all();
/// let mut buf = [0; 16];
/// rx.try_recv(&mut buf)?;
/// assert_eq!(buf[8], 9);
/// # Ok::<(), ipckit_core::Error>(())
/// ```
pub struct Grant<'p, 'a, N = Spin> {
    producer: &'p mut Producer<'a, N>,
    reservation: Reservation,
}

impl<N> fmt::Debug for Grant<'_, '_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("frame::spsc::Grant")
            .field("len", &self.reservation.len)
            .finish()
    }
}

impl<N: Notify> Grant<'_, '_, N> {
    /// The granted bytes.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let mut tx = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.producer()?;
    /// assert_eq!(tx.try_grant(5)?.len(), 5);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.reservation.len as usize
    }

    /// `true` for a grant of 0 bytes (an empty frame).
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let mut tx = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.producer()?;
    /// assert!(tx.try_grant(0)?.is_empty());
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.reservation.len == 0
    }

    /// Copies as much of `src` as fits to the start of the grant; returns
    /// how many bytes.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let mut tx = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.producer()?;
    /// let mut grant = tx.try_grant(3)?;
    /// assert_eq!(grant.copy_from_slice(b"abcdef"), 3);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn copy_from_slice(&mut self, src: &[u8]) -> usize {
        let n = src.len().min(self.len());
        // SAFETY: `n <= len`: inside the reserved payload.
        unsafe { self.payload_write(0, &src[..n]) };
        n
    }

    /// Copies `src` to byte `offset` of the grant, or returns
    /// [`Error::BufferTooSmall`] (writing nothing) if it does not fit.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let mut tx = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.producer()?;
    /// let mut grant = tx.try_grant(4)?;
    /// grant.write_at(2, b"ok")?;
    /// assert_eq!(grant.write_at(3, b"no"), Err(Error::BufferTooSmall { required: 5 }));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn write_at(&mut self, offset: usize, src: &[u8]) -> Result<()> {
        let end = offset.saturating_add(src.len());
        if end > self.len() {
            return Err(Error::BufferTooSmall { required: end });
        }
        // SAFETY: `offset + src.len() <= len`: inside the reserved payload.
        unsafe { self.payload_write(offset as u32, src) };
        Ok(())
    }

    /// # Safety
    /// `offset + src.len() <= self.len()`.
    #[inline(always)]
    unsafe fn payload_write(&mut self, offset: u32, src: &[u8]) {
        let at = self.reservation.offset + RECORD_HEADER_LEN + offset;
        // SAFETY: the reserved payload starts after the record header at
        // `reservation.offset`, is inside the data area and free; the caller
        // keeps the write within it.
        unsafe { self.producer.ring.store_data(at, src) }
    }

    /// The address of the grant's first byte, for writing with a system
    /// call (say, `read(2)` straight from a socket into the ring). Writing
    /// through it is the caller's `unsafe`: at most [`len`](Self::len)
    /// bytes, before the grant is committed or dropped. The address is
    /// 8-byte aligned.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// let mut grant = tx.try_grant(2)?;
    /// assert_eq!(grant.as_mut_ptr() as usize % 8, 0);
    /// // SAFETY: two bytes are granted and nobody else writes them.
    /// unsafe { grant.as_mut_ptr().copy_from_nonoverlapping([1u8, 2].as_ptr(), 2) };
    /// grant.commit_all();
    /// let mut out = [0; 2];
    /// rx.try_recv(&mut out)?;
    /// assert_eq!(out, [1, 2]);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.producer
            .ring
            .byte_ptr(self.reservation.offset + RECORD_HEADER_LEN)
    }

    /// The granted bytes as a slice, for a caller who trusts the consumer.
    ///
    /// # Safety
    /// Nothing else writes or reads these bytes while the slice lives: the
    /// consumer follows the protocol (it does not touch unpublished bytes).
    /// A hostile consumer writing them concurrently would be a data race.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// let mut grant = tx.try_grant(3)?;
    /// // SAFETY: the consumer is in this process and follows the protocol.
    /// unsafe { grant.as_mut_slice() }.copy_from_slice(b"xyz");
    /// grant.commit_all();
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        let len = self.len();
        // SAFETY: `len` reserved bytes from this address are inside the data
        // area and owned by this grant; the caller vouches for the peer.
        unsafe { core::slice::from_raw_parts_mut(self.as_mut_ptr(), len) }
    }

    /// Publishes the first `len` bytes as one frame. A `len` beyond the
    /// grant is [`Error::FrameTooLarge`] and publishes nothing.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// let mut grant = tx.try_grant(8)?;
    /// grant.copy_from_slice(b"shorter!");
    /// grant.commit(7)?;
    /// assert_eq!(rx.try_recv(&mut [0; 8])?, 7);
    /// let grant = tx.try_grant(8)?;
    /// assert_eq!(grant.commit(9), Err(Error::FrameTooLarge { len: 9, max: 8 }));
    /// assert_eq!(rx.try_recv(&mut [0; 8]), Err(Error::Empty));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn commit(self, len: usize) -> Result<()> {
        let granted = self.reservation.len;
        if len > granted as usize {
            let len = u32::try_from(len).unwrap_or(u32::MAX);
            return Err(Error::FrameTooLarge { len, max: granted });
        }
        self.producer.commit(self.reservation, len as u32);
        Ok(())
    }

    /// Publishes the whole grant as one frame.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// tx.try_grant(4)?.commit_all();
    /// assert_eq!(rx.try_recv(&mut [0; 4])?, 4);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn commit_all(self) {
        let len = self.reservation.len;
        self.producer.commit(self.reservation, len);
    }
}

/// Where the oldest frame lies: payload at data offset `offset`, `len`
/// bytes; releasing it advances `head` by `advance` (padding included).
#[derive(Clone, Copy)]
struct Located {
    offset: u32,
    len: u32,
    advance: u32,
}

/// The reading end of an SPSC frame ring.
///
/// ```
/// use ipckit_core::{frame, AlignedBytes, Error, Region};
/// let mut bytes = AlignedBytes::<512>::new();
/// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
/// tx.try_send(b"0123456789")?;
/// assert_eq!(rx.try_recv(&mut [0; 4]), Err(Error::BufferTooSmall { required: 10 }));
/// assert_eq!(rx.try_recv(&mut [0; 10]), Ok(10)); // the frame stayed queued
/// # Ok::<(), Error>(())
/// ```
pub struct Consumer<'a, N = Spin> {
    head: u32,
    cached_tail: u32,
    ring: Ring<'a>,
    notify: N,
}

// SAFETY: one endpoint; moving it moves the role. The notifier moves too.
unsafe impl<N: Send> Send for Consumer<'_, N> {}

impl<N> fmt::Debug for Consumer<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("frame::spsc::Consumer")
            .field("head", &self.head)
            .field("cached_tail", &self.cached_tail)
            .field("capacity", &self.ring.capacity)
            .finish()
    }
}

impl<N> Drop for Consumer<'_, N> {
    fn drop(&mut self) {
        // SAFETY: as in `Ring::control`: the region outlives the handle.
        let c = unsafe { self.ring.control.as_ref() };
        release_claim(&c.consumer.claim);
    }
}

impl<'a, N: Notify> Consumer<'a, N> {
    /// Reloads and validates the producer's `tail`; returns the published
    /// bytes not yet released.
    #[cold]
    fn refresh_tail(&mut self) -> Result<u32> {
        let tail = self.ring.control().producer.tail.load(Ordering::Acquire);
        let available = tail.wrapping_sub(self.head);
        if available > self.ring.capacity || available % RECORD_ALIGN != 0 {
            return Err(Error::Corrupted(
                "producer tail is misaligned or not within a capacity of head",
            ));
        }
        self.cached_tail = tail;
        Ok(available)
    }

    /// The record header word at data offset `offset`.
    #[inline(always)]
    fn header_word(&self, offset: u32) -> u32 {
        // SAFETY: `offset` is a multiple of 8 below `capacity` (a local
        // invariant: `head` is 8-aligned and masked); the bytes are
        // published (the caller saw `tail` beyond them).
        unsafe { self.ring.load_header(offset) }
    }

    /// Finds the oldest frame, skipping a padding record before it, or
    /// returns [`Error::Empty`]. Every header is validated once; after a
    /// bad one the cached `tail` is dropped, so that the next call reloads
    /// what may be a repaired index rather than trust the old one.
    #[inline]
    fn locate(&mut self) -> Result<Located> {
        let located = self.locate_validated();
        if located.is_err() {
            self.cached_tail = self.head;
        }
        located
    }

    #[inline(always)]
    fn locate_validated(&mut self) -> Result<Located> {
        let mut available = self.cached_tail.wrapping_sub(self.head);
        if available == 0 {
            available = self.refresh_tail()?;
            if available == 0 {
                return Err(Error::Empty);
            }
        }
        let capacity = self.ring.capacity;
        let offset = self.head & (capacity - 1);
        let (skipped, offset, readable) =
            match parse_record(self.header_word(offset), offset, capacity, available)? {
                Record::Frame { len, total } => {
                    return Ok(Located {
                        offset: offset + RECORD_HEADER_LEN,
                        len,
                        advance: total,
                    });
                }
                Record::Padding { total } => (total, 0, available - total),
                Record::Busy { .. } => {
                    return Err(Error::Corrupted("busy record in an SPSC frame ring"));
                }
            };
        // A padding record is always followed by a frame at offset 0.
        match parse_record(self.header_word(offset), offset, capacity, readable)? {
            Record::Frame { len, total } => Ok(Located {
                offset: offset + RECORD_HEADER_LEN,
                len,
                advance: skipped + total,
            }),
            _ => Err(Error::Corrupted(
                "padding record is not followed by a frame",
            )),
        }
    }

    /// Waits for a frame, at most `timeout`.
    fn locate_blocking(&mut self, timeout: Option<Duration>) -> Result<Located> {
        match self.locate() {
            Err(Error::Empty) => {}
            done => return done,
        }
        // SAFETY: see `Ring::control`; the words outlive this call.
        let c = unsafe { self.ring.control.as_ref() };
        let (word, waiters) = (&c.producer.tail, &c.producer.consumer_waiting);
        let mut blocker = Blocker::new(&self.notify, timeout, Announce::Single)?;
        loop {
            blocker.sleep(&self.notify, word, waiters)?;
            blocker.prepare(&self.notify, word, waiters);
            match self.locate() {
                Err(Error::Empty) => {}
                done => {
                    blocker.finish(waiters);
                    return done;
                }
            }
        }
    }

    /// Hands `advance` bytes back to the producer with one `Release` store
    /// of `head`, then wakes a sleeping producer.
    #[inline(always)]
    fn release(&mut self, advance: u32) {
        self.head = self.head.wrapping_add(advance);
        let c = self.ring.control();
        c.consumer.head.store(self.head, Ordering::Release);
        wake_waiters(
            &self.notify,
            &c.consumer.head,
            &c.consumer.producer_waiting,
            false,
        );
    }

    /// Borrows the oldest frame in place, or returns [`Error::Empty`]. The
    /// frame leaves the ring when the [`ReadFrame`] is
    /// [`release`](ReadFrame::release)d; dropped unreleased, it stays.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// tx.try_send(b"peek")?;
    /// drop(rx.try_read()?); // not released: still there
    /// let frame = rx.try_read()?;
    /// assert_eq!(frame.len(), 4);
    /// frame.release();
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    #[inline]
    pub fn try_read(&mut self) -> Result<ReadFrame<'_, 'a, N>> {
        let located = self.locate()?;
        Ok(ReadFrame {
            consumer: self,
            located,
        })
    }

    /// Like [`try_read`](Self::try_read), waiting while the ring is empty.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| tx.send(b"later").unwrap());
    ///     assert_eq!(rx.read().unwrap().len(), 5);
    /// });
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn read(&mut self) -> Result<ReadFrame<'_, 'a, N>> {
        self.read_timeout(None)
    }

    /// Like [`read`](Self::read), waiting at most `timeout`; [`Error::TimedOut`]
    /// when the ring stays empty.
    ///
    /// ```
    /// use core::time::Duration;
    /// use ipckit_core::{frame, wait::Spin, AlignedBytes, Error, Region};
    /// fn clock() -> Duration {
    ///     static T0: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ///     T0.get_or_init(std::time::Instant::now).elapsed()
    /// }
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?;
    /// let mut rx = ring.consumer_with(Spin::with_clock(clock))?;
    /// assert_eq!(rx.read_timeout(Some(Duration::from_millis(5))).unwrap_err(), Error::TimedOut);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn read_timeout(&mut self, timeout: Option<Duration>) -> Result<ReadFrame<'_, 'a, N>> {
        let located = self.locate_blocking(timeout)?;
        Ok(ReadFrame {
            consumer: self,
            located,
        })
    }

    /// Copies the oldest frame into `buf` and removes it; returns its
    /// length, [`Error::Empty`], or [`Error::BufferTooSmall`] (the frame
    /// stays queued).
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// tx.try_send(b"one")?;
    /// tx.try_send(b"two")?;
    /// let mut buf = [0; 8];
    /// let n = rx.try_recv(&mut buf)?;
    /// assert_eq!(&buf[..n], b"one");
    /// let n = rx.try_recv(&mut buf)?;
    /// assert_eq!(&buf[..n], b"two");
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    #[inline]
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        let located = self.locate()?;
        self.copy_out(located, buf)
    }

    /// Like [`try_recv`](Self::try_recv), waiting while the ring is empty.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// tx.send(b"x")?;
    /// assert_eq!(rx.recv(&mut [0; 1])?, 1);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.recv_timeout(buf, None)
    }

    /// Like [`recv`](Self::recv), waiting at most `timeout`.
    ///
    /// ```
    /// use core::time::Duration;
    /// use ipckit_core::{frame, wait::Spin, AlignedBytes, Error, Region};
    /// fn clock() -> Duration {
    ///     static T0: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ///     T0.get_or_init(std::time::Instant::now).elapsed()
    /// }
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let ring = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?;
    /// let mut rx = ring.consumer_with(Spin::with_clock(clock))?;
    /// assert_eq!(rx.recv_timeout(&mut [0; 8], Some(Duration::from_millis(5))), Err(Error::TimedOut));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        let located = self.locate_blocking(timeout)?;
        self.copy_out(located, buf)
    }

    #[inline(always)]
    fn copy_out(&mut self, located: Located, buf: &mut [u8]) -> Result<usize> {
        let len = located.len as usize;
        let Some(dst) = buf.get_mut(..len) else {
            return Err(Error::BufferTooSmall { required: len });
        };
        // SAFETY: `locate` validated the record: `len` payload bytes at
        // `offset` lie inside the data area and within the published range.
        unsafe { self.ring.load_data(located.offset, dst) };
        self.release(located.advance);
        Ok(len)
    }

    /// The bytes published and not yet released, records and padding
    /// included (reloads the producer's `tail`).
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// tx.try_send(&[0; 3])?;
    /// assert_eq!(rx.pending_bytes()?, 16);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn pending_bytes(&mut self) -> Result<usize> {
        self.refresh_tail().map(|n| n as usize)
    }

    /// The largest frame this ring carries.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let rx = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 128)?.consumer()?;
    /// assert_eq!(rx.max_frame_len(), 56);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn max_frame_len(&self) -> u32 {
        self.ring.max_frame
    }
}

/// The oldest frame, borrowed in place by [`Consumer::try_read`].
///
/// The safe readers copy through word-wise atomics, so a producer that
/// scribbles on the bytes can make them wrong but never make this process
/// unsound; [`as_slice`](Self::as_slice) is for a trusted peer.
///
/// ```
/// use ipckit_core::{frame, AlignedBytes, Region};
/// let mut bytes = AlignedBytes::<512>::new();
/// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
/// tx.try_send(&42u32.to_le_bytes())?;
/// let frame = rx.try_read()?;
/// let mut word = [0; 4];
/// frame.read_at(0, &mut word)?;
/// frame.release();
/// assert_eq!(u32::from_le_bytes(word), 42);
/// # Ok::<(), ipckit_core::Error>(())
/// ```
pub struct ReadFrame<'c, 'a, N = Spin> {
    consumer: &'c mut Consumer<'a, N>,
    located: Located,
}

impl<N> fmt::Debug for ReadFrame<'_, '_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("frame::spsc::ReadFrame")
            .field("len", &self.located.len)
            .finish()
    }
}

impl<N: Notify> ReadFrame<'_, '_, N> {
    /// The frame's length in bytes.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// tx.try_send(b"12345")?;
    /// assert_eq!(rx.try_read()?.len(), 5);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.located.len as usize
    }

    /// `true` for an empty frame.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// tx.try_send(b"")?;
    /// assert!(rx.try_read()?.is_empty());
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.located.len == 0
    }

    /// Copies as much of the frame as fits into `dst`; returns how many
    /// bytes.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// tx.try_send(b"abcdef")?;
    /// let mut head = [0; 2];
    /// assert_eq!(rx.try_read()?.copy_to(&mut head), 2);
    /// assert_eq!(&head, b"ab");
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn copy_to(&self, dst: &mut [u8]) -> usize {
        let n = dst.len().min(self.len());
        // SAFETY: `n <= len`: inside the validated, published payload.
        unsafe {
            self.consumer
                .ring
                .load_data(self.located.offset, &mut dst[..n])
        };
        n
    }

    /// Copies `dst.len()` bytes from byte `offset` of the frame, or returns
    /// [`Error::BufferTooSmall`] if the frame is shorter.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// tx.try_send(b"abcdef")?;
    /// let frame = rx.try_read()?;
    /// let mut two = [0; 2];
    /// frame.read_at(4, &mut two)?;
    /// assert_eq!(&two, b"ef");
    /// assert_eq!(frame.read_at(5, &mut two), Err(Error::BufferTooSmall { required: 7 }));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) -> Result<()> {
        let end = offset.saturating_add(dst.len());
        if end > self.len() {
            return Err(Error::BufferTooSmall { required: end });
        }
        // SAFETY: `offset + dst.len() <= len`: inside the validated payload.
        unsafe {
            self.consumer
                .ring
                .load_data(self.located.offset + offset as u32, dst)
        };
        Ok(())
    }

    /// The address of the frame's first byte (8-byte aligned), for a
    /// caller that hands it to a system call, say `write(2)`.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// tx.try_send(b"z")?;
    /// let frame = rx.try_read()?;
    /// // SAFETY: one byte was published and validated.
    /// assert_eq!(unsafe { frame.as_ptr().read() }, b'z');
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn as_ptr(&self) -> *const u8 {
        self.consumer.ring.byte_ptr(self.located.offset)
    }

    /// The frame as a slice, for a caller who trusts the producer.
    ///
    /// # Safety
    /// Nothing writes these bytes while the slice lives: the producer
    /// follows the protocol (it does not touch published bytes until they
    /// are released). A hostile producer writing them would be a data race.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// tx.try_send(b"trusted")?;
    /// let frame = rx.try_read()?;
    /// // SAFETY: the producer is in this process and follows the protocol.
    /// assert_eq!(unsafe { frame.as_slice() }, b"trusted");
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: `len` validated, published bytes; the caller vouches that
        // nobody writes them while the slice lives.
        unsafe { core::slice::from_raw_parts(self.as_ptr(), self.len()) }
    }

    /// Removes the frame from the ring: its bytes go back to the producer.
    ///
    /// ```
    /// use ipckit_core::{frame, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = frame::spsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?.split()?;
    /// tx.try_send(b"once")?;
    /// rx.try_read()?.release();
    /// assert_eq!(rx.try_read().unwrap_err(), Error::Empty);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn release(self) {
        self.consumer.release(self.located.advance);
    }
}

#[cfg(all(test, not(ipckit_loom)))]
mod tests;

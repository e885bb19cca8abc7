//! Regions and the header every region starts with.
//!
//! A *region* is a range of bytes that two sides share: a `MAP_SHARED`
//! mapping seen by two processes, a RAM section seen by two cores, or a plain
//! buffer seen by two threads. Every object ipckit places in a region starts
//! with a [`Header`] of one [`LINE`] (128 bytes):
//!
//! | offset | width | field        | meaning                                      | written by |
//! |-------:|------:|--------------|----------------------------------------------|------------|
//! | 0      | u32   | `magic`      | [`MAGIC`], `"IPCK"` in the writer's byte order | creator  |
//! | 4      | u32   | `version`    | [`LAYOUT_VERSION`]                             | creator  |
//! | 8      | u32   | `kind`       | [`ObjectKind`] code                            | creator  |
//! | 12     | u32   | `endian`     | [`ENDIAN_MARKER`] in the writer's byte order   | creator  |
//! | 16     | u32   | `state`      | 0 uninitialised, 1 initialising, 2 ready       | creator  |
//! | 20     | u32   | `elem_size`  | `size_of::<T>()`; 1 for frame rings, 4 for the semaphore | creator  |
//! | 24     | u32   | `elem_align` | `align_of::<T>()`; 8 for frame rings, 4 for the semaphore | creator  |
//! | 28     | u32   | `capacity`   | slots (a power of two, at most 2^31); bytes of the data area for frame rings; the maximum count for the semaphore; 1 for the latest-value slot | creator  |
//! | 32     | u32   | `data_offset`| offset of slot 0 from the region base          | creator  |
//! | 36     | u32   | `flags`      | bit 0 [`FLAG_WAKES`]; other bits zero          | creator  |
//! | 40     | 88 B  | reserved     | zero                                           | nobody   |
//!
//! All fields are fixed-width and the same on 32- and 64-bit peers; offsets
//! are relative to the region base, never addresses, so every process may map
//! the region at a different address.
//!
//! # Init protocol
//! The header, every region kind, the waiting protocol and the channel object,
//! for a peer in another language:
//! [`docs/LAYOUT.md`](https://github.com/ipckit/ipckit/blob/main/docs/LAYOUT.md#2-the-region-header).
//!
//! The creator claims the header by moving `state` from 0 to 1 (one
//! compare-and-swap: of several racing creators exactly one wins, the others
//! get [`Error::AlreadyInitialized`]), writes every field, then publishes
//! `state = 2` with `Release`. Attachers load `state` with `Acquire` and
//! validate every field before they use any of them, then keep their own copy:
//! a header rewritten later by a faulty peer is never read again.
//!
//! On a target without compare-and-swap (`thumbv6m`), `init` cannot arbitrate
//! a race: there, exactly one side must call `init`, by construction (the
//! firmware of one core creates, the other attaches).
//!
//! # Region kinds and their layouts
//! Each kind documents its full layout (offset, width, meaning, writer) in
//! its module: [`spsc`](crate::spsc#layout-layout-version-1-kind-1) (kind 1),
//! [`mpmc`](crate::mpmc) (kind 2), [`semaphore`](crate::semaphore) (kind 3),
//! [`frame::spsc`](crate::frame::spsc) (kind 4) and
//! [`frame::mpsc`](crate::frame::mpsc) (kind 5) and
//! [`latest`](crate::latest) (kind 6); records of the frame rings
//! [`broadcast`](crate::broadcast#layout-layout-version-1-kind-7) (kind 7); records of the frame rings
//! in [`frame`](crate::frame#records).
//!
//! | kind | control lines (offset) | data offset | data |
//! |-----:|------------------------|------------:|------|
//! | 1 SPSC | producer 128, consumer 256 | 384 | `capacity` slots of `size_of::<T>()` |
//! | 2 MPMC | producers 128 (lost-item count 136), consumers 256 (skipped-hole count 264) | 384 | `capacity` slots: `u32` stamp, item at `max(4, align_of::<T>())` |
//! | 3 semaphore | count 128 | 128 | (none beyond the count line) |
//! | 4 SPSC frames | producer 128, consumer 256 | 384 | `capacity` bytes of records |
//! | 5 MPSC frames | producers 128, consumer 256, skip counters 384 | 512 | `capacity` bytes of records |
//! | 6 latest value | writer 128 (sequence, claim) | 256 | one value of `size_of::<T>()` bytes (`capacity` 1) |
//! | 7 broadcast | publisher 128 (`tail`, claim, subscribers waiting, first position) | 256 | `capacity` slots: `u32` stamp, item at `max(4, align_of::<T>())` |
//!
//! The same bytes on every word size: `core/tests/layout_golden.rs` pins a
//! region of each kind, byte for byte, and CI checks the same golden bytes
//! on x86_64, on i686 and in a Cortex-M3 firmware under QEMU, and drains
//! regions written by the 32-bit builds on the 64-bit one (`.ci/embedded`).
//! One caveat is the item type's own ABI: `elem_align` records
//! `align_of::<T>()`, which for `u64`/`f64` is 4 on `i686` Linux and 8 on
//! x86_64, ARM and RISC-V. A 64-bit peer then refuses an i686 peer's ring of
//! `u64` with [`Error::ElementMismatch`] (never misreads it); use
//! `#[repr(C, align(8))]` item types, or `u32` pairs, where i686 takes part.

use core::cell::UnsafeCell;

use crate::error::{Error, Result, Role};
use crate::sync::{AtomicU32, Ordering};

/// The fixed spacing, in bytes, between words written by different sides.
///
/// 128 rather than 64: x86's adjacent-line prefetcher pulls 64-byte lines in
/// pairs, and Apple M-series and POWER cores have 128-byte lines. The value is
/// part of the layout, identical on every target, so a Cortex-M core and a
/// Linux process agree on every offset.
pub const LINE: usize = 128;

/// `"IPCK"` read as a little-endian `u32`.
pub const MAGIC: u32 = u32::from_le_bytes(*b"IPCK");

/// The layout version this build writes and accepts. Any change to an offset,
/// a width or a meaning in any region kind increments it.
pub const LAYOUT_VERSION: u32 = 1;

/// Written in the writer's native byte order; a reader of the other order
/// sees `0x0403_0201` and refuses the region with [`Error::ForeignEndian`].
pub const ENDIAN_MARKER: u32 = 0x0102_0304;

/// Header flag: waiters on this object sleep (a futex, an RTOS primitive)
/// and every endpoint must wake them; see [`crate::wait`]. Without it,
/// waiters spin and wakers skip the wake check.
pub const FLAG_WAKES: u32 = 1;

pub(crate) const STATE_UNINIT: u32 = 0;
pub(crate) const STATE_INITIALISING: u32 = 1;
pub(crate) const STATE_READY: u32 = 2;

/// What a region holds: the `kind` code of its header.
///
/// ```
/// use ipckit_core::ObjectKind;
/// assert_eq!(ObjectKind::Spsc.code(), 1);
/// assert_eq!(ObjectKind::from_code(1), Some(ObjectKind::Spsc));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ObjectKind {
    /// A single-producer single-consumer ring of fixed-size items.
    Spsc,
    /// A multi-producer multi-consumer ring of fixed-size items.
    Mpmc,
    /// A counting semaphore.
    Semaphore,
    /// A single-producer single-consumer ring of variable-length byte frames.
    FrameSpsc,
    /// A multi-producer single-consumer ring of variable-length byte frames.
    FrameMpsc,
    /// A latest-value slot: one writer overwrites a value that any number
    /// of readers copy out (a seqlock, [`crate::latest`]).
    Latest,
    /// A lossy broadcast ring of fixed-size items: one publisher, any
    /// number of subscribers that each read every item they keep up with.
    Broadcast,
    /// A broadcast ring of variable-length byte frames in fixed-size
    /// slots ([`crate::broadcast::frames`]).
    BroadcastFrames,
}

impl ObjectKind {
    /// The code stored in the header.
    pub const fn code(self) -> u32 {
        match self {
            ObjectKind::Spsc => 1,
            ObjectKind::Mpmc => 2,
            ObjectKind::Semaphore => 3,
            ObjectKind::FrameSpsc => 4,
            ObjectKind::FrameMpsc => 5,
            ObjectKind::Latest => 6,
            ObjectKind::Broadcast => 7,
            ObjectKind::BroadcastFrames => 8,
        }
    }

    /// The kind for a header code, if this build knows it.
    pub const fn from_code(code: u32) -> Option<Self> {
        match code {
            1 => Some(ObjectKind::Spsc),
            2 => Some(ObjectKind::Mpmc),
            3 => Some(ObjectKind::Semaphore),
            4 => Some(ObjectKind::FrameSpsc),
            5 => Some(ObjectKind::FrameMpsc),
            6 => Some(ObjectKind::Latest),
            7 => Some(ObjectKind::Broadcast),
            8 => Some(ObjectKind::BroadcastFrames),
            _ => None,
        }
    }
}

/// Bytes that no side reads or writes through a typed field; the cell makes a
/// shared reference to a header sound even if a faulty peer writes them.
#[repr(transparent)]
pub(crate) struct Reserved<const N: usize>(UnsafeCell<[u8; N]>);

impl<const N: usize> Reserved<N> {
    pub(crate) const fn new() -> Self {
        Self(UnsafeCell::new([0; N]))
    }
}

/// The first [`LINE`] of every region (see the [module docs](self) for the
/// table). Every field is an atomic: a peer may write any of them at any time,
/// and this side only ever loads them.
///
/// The type is public for documentation and for tools; a region is read with
/// [`inspect`] or through a ring's `attach`.
#[repr(C)]
pub struct Header {
    pub(crate) magic: AtomicU32,
    pub(crate) version: AtomicU32,
    pub(crate) kind: AtomicU32,
    pub(crate) endian: AtomicU32,
    pub(crate) state: AtomicU32,
    pub(crate) elem_size: AtomicU32,
    pub(crate) elem_align: AtomicU32,
    pub(crate) capacity: AtomicU32,
    pub(crate) data_offset: AtomicU32,
    pub(crate) flags: AtomicU32,
    _reserved: Reserved<{ LINE - 40 }>,
}

crate::place::layout_asserts! {
    use core::mem::{align_of, offset_of, size_of};
    assert!(offset_of!(Header, magic) == 0);
    assert!(offset_of!(Header, version) == 4);
    assert!(offset_of!(Header, kind) == 8);
    assert!(offset_of!(Header, endian) == 12);
    assert!(offset_of!(Header, state) == 16);
    assert!(offset_of!(Header, elem_size) == 20);
    assert!(offset_of!(Header, elem_align) == 24);
    assert!(offset_of!(Header, capacity) == 28);
    assert!(offset_of!(Header, data_offset) == 32);
    assert!(offset_of!(Header, flags) == 36);
    assert!(size_of::<Header>() == LINE);
    assert!(align_of::<Header>() == 4);
}

/// The values a header holds, as this side read (and validated) them.
///
/// ```
/// use ipckit_core::{region, spsc, AlignedBytes, ObjectKind, Region};
///
/// let mut bytes = AlignedBytes::<1024>::new();
/// spsc::Ring::<u64>::init(Region::from_slice(&mut bytes[..]), 8)?;
/// let info = region::inspect(Region::from_slice(&mut bytes[..]))?;
/// assert_eq!(info.kind, Some(ObjectKind::Spsc));
/// assert_eq!((info.elem_size, info.capacity), (8, 8));
/// # Ok::<(), ipckit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeaderInfo {
    /// The object kind, if this build knows its code.
    pub kind: Option<ObjectKind>,
    /// The raw kind code.
    pub kind_code: u32,
    /// Element size in bytes.
    pub elem_size: u32,
    /// Element alignment in bytes.
    pub elem_align: u32,
    /// Number of slots.
    pub capacity: u32,
    /// Offset of slot 0 from the region base.
    pub data_offset: u32,
    /// Flag bits ([`FLAG_WAKES`]).
    pub flags: u32,
}

impl Header {
    crate::place::model_only! {
        pub(crate) fn new() -> Self {
            Self {
                magic: AtomicU32::new(0),
                version: AtomicU32::new(0),
                kind: AtomicU32::new(0),
                endian: AtomicU32::new(0),
                state: AtomicU32::new(0),
                elem_size: AtomicU32::new(0),
                elem_align: AtomicU32::new(0),
                capacity: AtomicU32::new(0),
                data_offset: AtomicU32::new(0),
                flags: AtomicU32::new(0),
                _reserved: Reserved::new(),
            }
        }
    }

    crate::place::region_only! {
        /// A header already published (state ready), for a ring built at
        /// compile time; the same fields as [`write_fields`](Self::write_fields)
        /// then [`publish`](Self::publish) leave in a region.
        pub(crate) const fn published(
            kind: ObjectKind,
            (elem_size, elem_align): (u32, u32),
            capacity: u32,
            data_offset: u32,
            flags: u32,
        ) -> Self {
            Self {
                magic: AtomicU32::new(MAGIC),
                version: AtomicU32::new(LAYOUT_VERSION),
                kind: AtomicU32::new(kind.code()),
                endian: AtomicU32::new(ENDIAN_MARKER),
                state: AtomicU32::new(STATE_READY),
                elem_size: AtomicU32::new(elem_size),
                elem_align: AtomicU32::new(elem_align),
                capacity: AtomicU32::new(capacity),
                data_offset: AtomicU32::new(data_offset),
                flags: AtomicU32::new(flags),
                _reserved: Reserved::new(),
            }
        }
    }

    /// Step 1 of `init`: take the header from uninitialised to initialising.
    ///
    /// `exclusive` says that nobody else can see the region (it came from
    /// `&mut [u8]`), so stale bytes of an earlier use are simply reset.
    pub(crate) fn begin_init(&self, exclusive: bool) -> Result<()> {
        if exclusive {
            self.state.store(STATE_UNINIT, Ordering::Relaxed);
        }
        #[cfg(ipckit_cas)]
        {
            self.state
                .compare_exchange(
                    STATE_UNINIT,
                    STATE_INITIALISING,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .map(|_| ())
                .map_err(|_| Error::AlreadyInitialized)
        }
        #[cfg(not(ipckit_cas))]
        {
            // No CAS on this target: the single creator is fixed by
            // construction (module docs), so a load and a store suffice.
            if self.state.load(Ordering::Acquire) != STATE_UNINIT {
                return Err(Error::AlreadyInitialized);
            }
            self.state.store(STATE_INITIALISING, Ordering::Relaxed);
            Ok(())
        }
    }

    /// Step 2 of `init`: write every field (`state` stays initialising).
    pub(crate) fn write_fields(
        &self,
        kind: ObjectKind,
        elem_size: u32,
        elem_align: u32,
        capacity: u32,
        data_offset: u32,
        flags: u32,
    ) {
        self.magic.store(MAGIC, Ordering::Relaxed);
        self.version.store(LAYOUT_VERSION, Ordering::Relaxed);
        self.kind.store(kind.code(), Ordering::Relaxed);
        self.endian.store(ENDIAN_MARKER, Ordering::Relaxed);
        self.elem_size.store(elem_size, Ordering::Relaxed);
        self.elem_align.store(elem_align, Ordering::Relaxed);
        self.capacity.store(capacity, Ordering::Relaxed);
        self.data_offset.store(data_offset, Ordering::Relaxed);
        self.flags.store(flags, Ordering::Relaxed);
    }

    /// Step 3 of `init`: publish. The `Release` store orders every field and
    /// every control word written before it ahead of an attacher's `Acquire`.
    pub(crate) fn publish(&self) {
        self.state.store(STATE_READY, Ordering::Release);
    }

    /// Loads and checks the fields every kind shares: state, byte order,
    /// magic, version. Each field is loaded exactly once.
    ///
    /// A header not yet published is "not initialised" whatever its other
    /// words hold (they may be half written). Otherwise the byte order and
    /// the magic come before the state's value: a big-endian writer leaves
    /// the state word byte-swapped too, and that region is foreign, not
    /// corrupt.
    pub(crate) fn read_info(&self) -> Result<HeaderInfo> {
        // Acquire pairs with `publish`: the fields below are the creator's.
        let state = self.state.load(Ordering::Acquire);
        if state == STATE_UNINIT || state == STATE_INITIALISING {
            return Err(Error::NotInitialized);
        }
        match self.endian.load(Ordering::Relaxed) {
            ENDIAN_MARKER => {}
            m if m == ENDIAN_MARKER.swap_bytes() => return Err(Error::ForeignEndian),
            _ => return Err(Error::BadMagic),
        }
        if self.magic.load(Ordering::Relaxed) != MAGIC {
            return Err(Error::BadMagic);
        }
        if state != STATE_READY {
            return Err(Error::Corrupted("header state"));
        }
        let version = self.version.load(Ordering::Relaxed);
        if version != LAYOUT_VERSION {
            return Err(Error::VersionMismatch {
                found: version,
                expected: LAYOUT_VERSION,
            });
        }
        let kind_code = self.kind.load(Ordering::Relaxed);
        Ok(HeaderInfo {
            kind: ObjectKind::from_code(kind_code),
            kind_code,
            elem_size: self.elem_size.load(Ordering::Relaxed),
            elem_align: self.elem_align.load(Ordering::Relaxed),
            capacity: self.capacity.load(Ordering::Relaxed),
            data_offset: self.data_offset.load(Ordering::Relaxed),
            flags: self.flags.load(Ordering::Relaxed),
        })
    }
}

// Only `attach` uses it.
crate::place::region_only! {
    impl HeaderInfo {
        /// Checks that the header describes `kind` with elements of the given
        /// size and alignment.
        pub(crate) fn expect(&self, kind: ObjectKind, elem_size: u32, elem_align: u32) -> Result<()> {
            if self.kind_code != kind.code() {
                return Err(Error::KindMismatch {
                    found: self.kind_code,
                    expected: kind.code(),
                });
            }
            if self.elem_size != elem_size || self.elem_align != elem_align {
                return Err(Error::ElementMismatch {
                    size: self.elem_size,
                    align: self.elem_align,
                });
            }
            Ok(())
        }
    }
}

/// Claims an endpoint word: 0 means free, anything else claimed.
///
/// With compare-and-swap, of several racing claimants exactly one wins. On a
/// target without it (`thumbv6m`), roles are fixed by construction and the
/// check only catches a claim made earlier, not a concurrent one.
pub(crate) fn claim(word: &AtomicU32, role: Role) -> Result<()> {
    const CLAIMED: u32 = 1;
    #[cfg(ipckit_cas)]
    {
        // Acquire pairs with the previous holder's Release in `release_claim`,
        // so its last index store is visible to the new holder.
        word.compare_exchange(0, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
            .map(|_| ())
            .map_err(|_| Error::RoleTaken(role))
    }
    #[cfg(not(ipckit_cas))]
    {
        if word.load(Ordering::Acquire) != 0 {
            return Err(Error::RoleTaken(role));
        }
        word.store(CLAIMED, Ordering::Relaxed);
        Ok(())
    }
}

/// Gives an endpoint back (on drop of the handle that claimed it).
pub(crate) fn release_claim(word: &AtomicU32) {
    word.store(0, Ordering::Release);
}

mod memory;
#[cfg(test)]
mod tests;

pub use memory::{AlignedBytes, Region};

/// Validates the common header of a region and returns what it says.
///
/// This is what a tool uses to list or inspect objects of any kind; a ring's
/// `attach` does the same and then checks its own kind.
pub fn inspect(region: Region<'_>) -> Result<HeaderInfo> {
    region.header()?.read_info()
}

//! Where a ring lives and how it is opened, written once for every ring.
//!
//! Every ring of this crate is two things: *where it lives* (the region's
//! length, the header, `init` / `attach`, [`Options`], role claims and their
//! release, the loom placement, memory it owns) and *how it works* (its
//! control words and its fast path). This module is the first, generic over
//! a small [`Layout`] trait; each ring module holds only the second.
//!
//! - [`Placed`] is a ring placed somewhere: on a caller's [`Region`]
//!   ([`Placed::init_with`], [`Placed::attach`]), in memory it owns
//!   ([`Owned`], usable in a `static`), or, under loom, on the heap. The
//!   rings' handles are aliases of it (`spsc::Ring<'a, T>`,
//!   `frame::spsc::Ring<'a>`), and its methods are theirs.
//! - [`Layout`] is what a ring tells the layer: its [`ObjectKind`], the
//!   header's element words, the bytes of data per unit of capacity, the
//!   capacity range, the data offset and base alignment, its control block
//!   (`Control<K>`: the header and `K` lines of `u32` words) and how to
//!   initialise its control words.
//!
//! # How a ring adopts the layer
//! 1. Declare a marker type (`pub struct Slots<T>(PhantomData<T>)`), give it
//!    `impl place::sealed::Sealed` and implement [`Layout`]: the kind, the
//!    largest capacity and any other constant that differs from its
//!    default, `type Control = Control<K>` for `K` control lines, `type
//!    Unit` (what the data area is an array of, a [`DataUnit`]:
//!    `SlotCell<T>`, `SlotCell<u8>` for bytes, or a stamped slot; the
//!    element, stride and base alignment follow from it), `POSITIONS`, the
//!    control words a fresh ring sets to its start position (the layer clears every other one), and, if the
//!    ring needs it, `init_data` (MPMC stamps), which the layer calls
//!    between the header's fields and its publication.
//! 2. Name the ring's words with `place::words!` (`WAITERS = (0, 1) at 132;`:
//!    line, index, and the byte offset of the layout table, checked at
//!    compile time). The positions are every ring's: `TAIL` (line 0, word
//!    0) and `HEAD` (line 1, word 0), `POSITIONS` then `TAIL_AND_HEAD`.
//! 3. `pub type Ring<'a, T> = Placed<'a, Slots<T>>;` and put the ring's
//!    endpoints in an `impl<'a, T> Placed<'a, Slots<T>>` block: they read
//!    their words through `Placed::word` and their data through
//!    `Placed::data`.
//! 4. A role held by one endpoint at a time implements [`SingleRoles`] (its
//!    claim words): the endpoint holds a `Claim` guard (given back on drop)
//!    and the ring gets `release_producer_claim` / `release_consumer_claim`.
//!    A ring of many producers and one consumer implements
//!    [`SingleConsumer`] instead (the consumer's claim only), and one of
//!    one writer or publisher and claim-free readers [`SingleProducer`]
//!    (the latest-value slot, the broadcast ring).
//!
//! A ring with per-endpoint state of its own (the broadcast ring's
//! subscriber table) sets [`Layout::TABLE`]: the layer then places
//! [`Options::subscribers`] lines after the data area, records their
//! number in that control word, validates it on attach, and hands them out
//! through `Placed::table_line`. Layout-specific header flags (a policy)
//! are declared in [`Layout::FLAGS`].
//!
//! Counters beside the indices (lost items, skipped records), several
//! producers, or a data area of records rather than slots need nothing
//! else from the layer: they are words and a unit type of the ring's own.
//! A byte area whose record headers are atomics (polled by a consumer, not
//! ordered by an index) takes its unit and accessors from `records`; a
//! ring whose fresh data must read zero implements [`Layout::clear_data`].
//! Anything under `cfg(ipckit_loom)` belongs here or in `sync`, never in a
//! ring module.

pub(crate) mod bytes;
#[cfg(ipckit_cas)]
pub(crate) mod records;

mod claim;
mod control;
mod options;
mod owned;
mod placed;
mod stamped;
mod switch;
#[cfg(all(test, not(ipckit_loom)))]
mod tests;

pub(crate) use claim::Claim;
pub use control::{Block, Control, Line, Word};
pub(crate) use control::{HEAD, TAIL, TAIL_AND_HEAD, words};
pub use options::{FLAG_RELIABLE, Options, Policy};
pub use owned::Owned;
pub use placed::Placed;
pub use stamped::Stamped;
// Used by the MPMC ring and tests, both built with compare-and-swap only.
#[cfg_attr(not(ipckit_cas), allow(unused_imports))]
pub(crate) use stamped::stamped_stride;
// `test_hook` serves the rings that need compare-and-swap only.
#[cfg_attr(not(ipckit_cas), allow(unused_imports))]
pub(crate) use switch::{layout_asserts, model_only, production_or_model, region_only, test_hook};

#[cfg(not(ipckit_loom))]
use crate::Region;
use crate::error::{Error, Result};
use crate::region::{FLAG_WAKES, LINE, ObjectKind};
use crate::sync::SlotCell;

/// Keeps [`Layout`] and [`Block`] implemented by this crate only.
pub(crate) mod sealed {
    /// The seal.
    pub trait Sealed {}
}

/// What a ring tells the placement layer about its layout (sealed: the
/// rings of this crate implement it; see the [module docs](self) for how).
///
/// A ring of plain-data slots names only its kind, capacity range, control
/// block, unit and positions: the element words, the stride and the base
/// alignment follow from its [`DataUnit`], the data offset from its
/// control block, and the rest has the common value by default.
pub trait Layout: sealed::Sealed + Sized {
    /// The header's `kind`.
    const KIND: ObjectKind;
    /// The header's `elem_size` and `elem_align`, or why the element cannot
    /// live in a region: by default those of the unit's item.
    const ELEMENT: Result<(u32, u32)> = element::<<Self::Unit as DataUnit>::Item>();
    /// Bytes of data area per unit of capacity: by default the unit's
    /// [`STRIDE`](DataUnit::STRIDE).
    const STRIDE: usize = <Self::Unit as DataUnit>::STRIDE;
    /// The smallest capacity (capacities are powers of two, unless
    /// [`POWER_OF_TWO`](Self::POWER_OF_TWO) says otherwise): 1 by default.
    const MIN_CAPACITY: u32 = 1;
    /// The largest capacity.
    const MAX_CAPACITY: u32;
    /// `false` for an object whose capacity is a count rather than a number
    /// of slots addressed by a mask (the semaphore's maximum).
    const POWER_OF_TWO: bool = true;
    /// Offset of the data area from the region base (the header's
    /// `data_offset`): by default right after the control block.
    const DATA_OFFSET: usize = <Self::Control as Block>::LEN;
    /// The alignment the region base needs: by default the control words'
    /// (4), or the unit's item's if larger.
    const BASE_ALIGN: usize = word_align::<<Self::Unit as DataUnit>::Item>();
    /// Start positions must be multiples of this ([`Options::start_at`]):
    /// 1 by default.
    const POSITION_ALIGN: u32 = 1;
    /// `true` (the default) if a zeroed control block and data area under a
    /// published header is an empty ring at position 0 (so that
    /// [`Owned::new`] can build it at compile time); `false` for a ring
    /// whose `init` writes more than zeros (the MPMC ring's stamps).
    const ZEROED_IS_EMPTY: bool = true;
    /// The control block: `Control<K>` for `K` control lines.
    type Control: Block + 'static;
    /// One unit of the data area, which holds `capacity` of them (none if
    /// `STRIDE` is 0). Atomics and cells of plain data only: all-zero bytes
    /// are a valid value, as in a fresh mapping.
    type Unit: DataUnit;

    /// The control words a fresh ring sets to its start position
    /// ([`Options::start_at`]); the layer stores 0 in every other one.
    const POSITIONS: &'static [Word];

    /// Header `flags` bits this layout accepts besides `FLAG_WAKES` (the
    /// broadcast ring's [`FLAG_RELIABLE`]); attach refuses any other bit.
    const FLAGS: u32 = 0;

    /// The control word that records the entries of a table of
    /// [`Line`]s after the data area ([`Options::subscribers`]), if the
    /// layout has one; `None`: a table is refused.
    const TABLE: Option<Word> = None;

    /// The most table entries.
    const MAX_TABLE: u32 = 0;

    /// The control word that records the slot size of a ring whose data
    /// area is cut into slots of a size chosen at creation
    /// ([`Options::slot_size`]: the broadcast frame ring), and the check of
    /// a size against the capacity; `None`: a slot size is refused.
    const SLOT_SIZE: Option<SlotSize> = None;

    /// Writes what a fresh ring holds beyond its control words (the MPMC
    /// ring's first-lap stamps), after the layer wrote them and before it
    /// publishes the header. Nothing by default.
    fn init_data(data: *const Self::Unit, options: &Options) {
        let _ = (data, options);
    }

    /// Clears a data area of `capacity` units that may hold stale bytes (a
    /// region only its creator can see), for a ring whose fresh data must
    /// read zero (the MPSC frame ring's record headers). Called after
    /// [`init_data`](Self::init_data); a shared region is fresh memory
    /// and is left alone. Nothing by default.
    ///
    /// # Safety
    /// `data` points to `capacity` units that nobody else can see.
    unsafe fn clear_data(data: *mut Self::Unit, capacity: u32) {
        let _ = (data, capacity);
    }
}

/// A [`Layout`]'s slot-size word and the check of a size against the
/// capacity ([`Layout::SLOT_SIZE`]).
pub type SlotSize = (Word, fn(slot_size: u32, capacity: u32) -> bool);

/// A [`Layout`] whose producer and consumer roles are each held by one
/// endpoint at a time, claimed in a word of the control block.
pub trait SingleRoles: Layout {
    /// The producer's claim word (0 free, 1 taken).
    const PRODUCER_CLAIM: Word;
    /// The consumer's claim word.
    const CONSUMER_CLAIM: Word;
}

/// A [`Layout`] whose producer role alone is held by one endpoint at a time
/// (one writer or publisher, any number of readers that claim nothing: the
/// latest-value slot, the broadcast ring); every [`SingleRoles`] layout is
/// one. The ring gets
/// `release_producer_claim`.
pub trait SingleProducer: Layout {
    /// The producer's claim word (0 free, 1 taken).
    const PRODUCER_CLAIM: Word;
}

impl<L: SingleRoles> SingleProducer for L {
    const PRODUCER_CLAIM: Word = <L as SingleRoles>::PRODUCER_CLAIM;
}

/// A [`Layout`] whose consumer role alone is held by one endpoint at a time
/// (many producers, one consumer: the MPSC frame ring); every
/// [`SingleRoles`] layout is one. The ring gets `release_consumer_claim`.
pub trait SingleConsumer: Layout {
    /// The consumer's claim word (0 free, 1 taken).
    const CONSUMER_CLAIM: Word;
}

impl<L: SingleRoles> SingleConsumer for L {
    const CONSUMER_CLAIM: Word = <L as SingleRoles>::CONSUMER_CLAIM;
}

/// One unit of a [`Layout`]'s data area, and what it implies for the
/// layout's defaults (sealed): the slot cells hold one item each, a
/// [`Stamped`] slot a stamp and an item.
pub trait DataUnit: sealed::Sealed {
    /// The item a unit holds: the header's element.
    type Item;
    /// Bytes from one unit to the next in a region (the production layout:
    /// loom's cells are larger): by default the item's size.
    const STRIDE: usize = core::mem::size_of::<Self::Item>();
}

impl<T> sealed::Sealed for SlotCell<T> {}
impl<T> DataUnit for SlotCell<T> {
    type Item = T;
}

impl<T> sealed::Sealed for crate::sync::SeqCell<T> {}
impl<T> DataUnit for crate::sync::SeqCell<T> {
    type Item = T;
}

impl<T> sealed::Sealed for crate::sync::WordCell<T> {}
impl<T> DataUnit for crate::sync::WordCell<T> {
    type Item = T;
}

/// No data area (the semaphore's count is a control word).
impl sealed::Sealed for () {}
impl DataUnit for () {
    type Item = ();
}

/// A unit of a data area that the loom placement can build.
#[cfg(ipckit_loom)]
pub trait Modelled: 'static {
    /// Units of capacity one modelled unit stands for: 1, or 8 for the
    /// 8-byte units of a record area (`records`).
    const COVERS: usize = 1;

    /// A zero unit.
    fn modelled() -> Self;
}

/// No data area (the semaphore's count is a control word).
#[cfg(ipckit_loom)]
impl Modelled for () {
    fn modelled() -> Self {}
}

#[cfg(ipckit_loom)]
impl<T: bytemuck::Pod + 'static> Modelled for SlotCell<T> {
    fn modelled() -> Self {
        SlotCell::new(T::zeroed())
    }
}

#[cfg(ipckit_loom)]
impl<T: bytemuck::Pod + 'static> Modelled for crate::sync::SeqCell<T> {
    fn modelled() -> Self {
        crate::sync::SeqCell::new()
    }
}

#[cfg(ipckit_loom)]
impl<T: 'static> Modelled for crate::sync::WordCell<T> {
    fn modelled() -> Self {
        crate::sync::WordCell::new()
    }
}

/// The raw address of a slot's value, for the `unsafe` slice views. The
/// loom models take no raw views (their cells have none): there it panics.
#[inline(always)]
pub(crate) fn raw<T>(slot: *const SlotCell<T>) -> *mut T {
    #[cfg(not(ipckit_loom))]
    {
        SlotCell::as_ptr(slot)
    }
    #[cfg(ipckit_loom)]
    {
        let _ = slot;
        unreachable!("loom models take no raw views of the data")
    }
}

/// The bytes a region needs for a ring of layout `L` and `capacity`: why
/// not, if `capacity` is not a power of two in the layout's range
/// ([`Error::InvalidCapacity`]) or the element cannot live in a region
/// ([`Error::UnsupportedType`]). Checked arithmetic; usable in `const`.
pub const fn region_len<L: Layout>(capacity: u32) -> Result<usize> {
    if let Err(e) = L::ELEMENT {
        return Err(e);
    }
    if capacity < L::MIN_CAPACITY
        || capacity > L::MAX_CAPACITY
        || (L::POWER_OF_TWO && !capacity.is_power_of_two())
    {
        return Err(Error::InvalidCapacity);
    }
    let Some(data) = L::STRIDE.checked_mul(capacity as usize) else {
        return Err(Error::InvalidCapacity);
    };
    let Some(end) = L::DATA_OFFSET.checked_add(data) else {
        return Err(Error::InvalidCapacity);
    };
    // A ring whose data area overlaps its last control line (the
    // semaphore's count line is its data) still needs the whole block.
    let control = core::mem::size_of::<L::Control>();
    Ok(if end > control { end } else { control })
}

/// `max(4, align_of::<T>())`: the alignment of data of `T` that follows
/// `u32` control words (a region's base, a stamped slot and its value).
pub(crate) const fn word_align<T>() -> usize {
    let t = core::mem::align_of::<T>();
    if t > 4 { t } else { 4 }
}

/// The offset of the table ([`Layout::TABLE`]) from the region base: the
/// end of the data area, rounded up to a [`LINE`]; `None` on overflow.
const fn checked_table_offset<L: Layout>(capacity: u32) -> Option<usize> {
    let Some(data) = L::STRIDE.checked_mul(capacity as usize) else {
        return None;
    };
    let Some(end) = L::DATA_OFFSET.checked_add(data) else {
        return None;
    };
    end.checked_next_multiple_of(LINE)
}

/// [`checked_table_offset`] of a ring already placed (its
/// [`region_len_with`] was computed, so there is no overflow).
#[cfg(not(ipckit_loom))]
pub(crate) const fn table_offset<L: Layout>(capacity: u32) -> usize {
    match checked_table_offset::<L>(capacity) {
        Some(offset) => offset,
        None => 0,
    }
}

/// The bytes a region needs for a ring of layout `L` created with
/// `options`: [`region_len`] plus, for a table of `n > 0` entries, the
/// padding to a [`LINE`] and `n` lines. Usable in `const`.
pub const fn region_len_with<L: Layout>(options: &Options) -> Result<usize> {
    let len = match region_len::<L>(options.capacity) {
        Ok(len) => len,
        Err(e) => return Err(e),
    };
    if options.table == 0 {
        return Ok(len);
    }
    if L::TABLE.is_none() || options.table > L::MAX_TABLE {
        return Err(Error::InvalidCapacity);
    }
    let Some(offset) = checked_table_offset::<L>(options.capacity) else {
        return Err(Error::InvalidCapacity);
    };
    match (options.table as usize).checked_mul(LINE) {
        Some(table) => match offset.checked_add(table) {
            Some(end) => Ok(end),
            None => Err(Error::InvalidCapacity),
        },
        None => Err(Error::InvalidCapacity),
    }
}

/// `(size, align)` of `T` as header words, if `T` can live in a region: not
/// zero-sized, at most `u32::MAX` bytes, aligned to at most [`LINE`].
pub(crate) const fn element<T>() -> Result<(u32, u32)> {
    let (size, align) = (core::mem::size_of::<T>(), core::mem::align_of::<T>());
    if size == 0 || size > u32::MAX as usize || align > LINE {
        return Err(Error::UnsupportedType);
    }
    Ok((size as u32, align as u32))
}

/// Checks what `init` must refuse before it writes anything.
fn check_options<L: Layout>(options: &Options) -> Result<usize> {
    let len = region_len_with::<L>(options)?;
    let reliable_without_table = matches!(options.policy, Policy::Reliable) && options.table == 0;
    let slot_size_ok = match L::SLOT_SIZE {
        None => options.slot_size == 0,
        Some((_, valid)) => valid(options.slot_size, options.capacity),
    };
    if options.position % L::POSITION_ALIGN != 0
        || !slot_size_ok
        || options.flags() & !(FLAG_WAKES | L::FLAGS) != 0
        || reliable_without_table
    {
        return Err(Error::InvalidCapacity);
    }
    Ok(len)
}

/// The region length and alignment `L` needs for `capacity`, for `init`.
#[cfg(not(ipckit_loom))]
fn check_region<L: Layout>(region: &Region<'_>, options: &Options) -> Result<()> {
    let len = check_options::<L>(options)?;
    region.check(len, L::BASE_ALIGN)
}

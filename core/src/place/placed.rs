//! The generic handle of a placed ring: init, attach, the loom placement,
//! claims.

use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;

use super::{Block, Claim, Layout, Line, Options, SingleConsumer, SingleProducer, Word};
use crate::error::{Error, Result, Role};
#[cfg(not(ipckit_loom))]
use crate::region::{FLAG_WAKES, Region};
use crate::sync::{AtomicU32, Ordering};

/// A ring placed in memory: the handle from which its endpoints are
/// claimed. Each ring names it (`spsc::Ring<'a, T>`,
/// `frame::spsc::Ring<'a>`); see the ring's module for a worked example.
///
/// It moves no data itself; it is cheap to clone and may be shared between
/// threads. `'a` is the lifetime of the memory it lives in.
pub struct Placed<'a, L: Layout> {
    control: NonNull<L::Control>,
    data: NonNull<L::Unit>,
    capacity: u32,
    wakes: bool,
    /// The table of lines after the data ([`Layout::TABLE`]; dangling when
    /// `entries` is 0) and its length, validated once when placed.
    table: NonNull<Line>,
    entries: u32,
    /// The header's `flags`, validated once when placed.
    flags: u32,
    /// The loom placement's heap objects, kept alive by every handle.
    #[cfg(ipckit_loom)]
    backing: crate::sync::heap::Arc<dyn core::any::Any>,
    _memory: PhantomData<(&'a L::Control, L)>,
}

// SAFETY: the handle points into memory valid for `'a` that is designed to
// be used from several threads, processes and cores: every shared word is an
// atomic and the data is only touched under the ring's protocol. Data of the
// layout's element type crosses threads, hence `L: Send` (a ring's layout
// marker is `Send` exactly when its element is).
unsafe impl<L: Layout + Send> Send for Placed<'_, L> {}
// SAFETY: `&Placed` offers claims (atomics) and reads of immutable locals.
unsafe impl<L: Layout + Send> Sync for Placed<'_, L> {}

impl<L: Layout> Clone for Placed<'_, L> {
    fn clone(&self) -> Self {
        Self {
            control: self.control,
            data: self.data,
            capacity: self.capacity,
            wakes: self.wakes,
            table: self.table,
            entries: self.entries,
            flags: self.flags,
            #[cfg(ipckit_loom)]
            backing: self.backing.clone(),
            _memory: PhantomData,
        }
    }
}

impl<L: Layout> fmt::Debug for Placed<'_, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("kind", &L::KIND)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<'a, L: Layout> Placed<'a, L> {
    /// The bytes a region needs for a ring of `capacity`, or why there is no
    /// such ring ([`Error::InvalidCapacity`], [`Error::UnsupportedType`]).
    /// Usable in `const` context to size a buffer:
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes};
    ///
    /// const LEN: usize = match spsc::Ring::<u64>::region_len(256) {
    ///     Ok(len) => len,
    ///     Err(_) => panic!("bad capacity"),
    /// };
    /// static mut RING: AlignedBytes<LEN> = AlignedBytes::new();
    /// ```
    pub const fn region_len(capacity: u32) -> Result<usize> {
        super::region_len::<L>(capacity)
    }

    /// The bytes a region needs for a ring created with `options`: more
    /// than [`region_len`](Self::region_len) only for a broadcast ring with
    /// a subscriber table ([`Options::subscribers`]).
    pub const fn region_len_with(options: Options) -> Result<usize> {
        super::region_len_with::<L>(&options)
    }

    /// Creates a ring of `capacity` in `region` and publishes its header;
    /// positions start at 0 and waiters spin. [`Error::TooSmall`] names
    /// the length the region needs.
    ///
    /// On a region from [`Region::from_slice`] any stale header is reset
    /// first. On a raw region the header must be uninitialised (zeroed); of
    /// several creators racing on one region exactly one succeeds and the
    /// others get [`Error::AlreadyInitialized`].
    #[cfg(not(ipckit_loom))]
    pub fn init(region: Region<'a>, capacity: u32) -> Result<Self> {
        Self::init_with(region, Options::new(capacity))
    }

    /// [`init`](Self::init) with both positions at `position`: tests start
    /// next to `u32::MAX`, so that the wrap is exercised.
    #[cfg(not(ipckit_loom))]
    pub fn init_at(region: Region<'a>, capacity: u32, position: u32) -> Result<Self> {
        Self::init_with(region, Options::new(capacity).start_at(position))
    }

    /// Creates a ring as `options` say; see [`init`](Self::init).
    #[cfg(not(ipckit_loom))]
    pub fn init_with(region: Region<'a>, options: Options) -> Result<Self> {
        super::check_region::<L>(&region, &options)?;
        let exclusive = region.is_exclusive();
        let ring = Self::on_region(region, options.capacity, options.flags(), options.table);
        // A region only we can see may hold old bytes: the layout clears
        // what must read zero. A shared region is fresh memory (the
        // `Region::from_raw` contract: zeroed).
        ring.write_fresh(exclusive, exclusive, &options)?;
        Ok(ring)
    }

    /// Attaches to a ring that another side created in `region`, after
    /// validating every header field once: state, byte order, magic, layout
    /// version, kind, element size and alignment, capacity, data offset,
    /// flags, and the region's length and alignment.
    #[cfg(not(ipckit_loom))]
    pub fn attach(region: Region<'a>) -> Result<Self> {
        let (size, align) = L::ELEMENT?;
        let info = region.header()?.read_info()?;
        info.expect(L::KIND, size, align)?;
        let capacity = info.capacity;
        let len =
            super::region_len::<L>(capacity).map_err(|_| Error::Corrupted("capacity in header"))?;
        region.check(len, L::BASE_ALIGN)?;
        if info.data_offset as usize != L::DATA_OFFSET {
            return Err(Error::Corrupted("data offset in header"));
        }
        let flags = info.flags;
        if flags & !(FLAG_WAKES | L::FLAGS) != 0 {
            return Err(Error::Corrupted("flags in header"));
        }
        // The table's length: a control word the creator wrote before it
        // published the header (ordered by the header's Acquire), read once.
        let entries = match L::TABLE {
            None => 0,
            Some(word) => {
                let control = region.as_ptr().cast::<L::Control>();
                // SAFETY: the region was checked to hold `region_len`
                // bytes, which cover the control block at its base, aligned
                // (every field of a block is an atomic).
                let block = unsafe { &*control };
                block.word(word).load(Ordering::Relaxed)
            }
        };
        let options = Options::new(capacity).subscribers(entries).policy(
            if flags & super::FLAG_RELIABLE != 0 {
                super::Policy::Reliable
            } else {
                super::Policy::Lossy
            },
        );
        let len = super::region_len_with::<L>(&options)
            .map_err(|_| Error::Corrupted("subscriber table length in header"))?;
        if L::FLAGS & super::FLAG_RELIABLE != 0 && flags & super::FLAG_RELIABLE != 0 && entries == 0
        {
            return Err(Error::Corrupted("reliable broadcast ring without a table"));
        }
        region.check(len, L::BASE_ALIGN)?;
        Ok(Self::on_region(region, capacity, flags, entries))
    }

    /// The handle for a region already checked to hold the ring.
    #[cfg(not(ipckit_loom))]
    fn on_region(region: Region<'a>, capacity: u32, flags: u32, entries: u32) -> Self {
        let base = region.as_ptr();
        // SAFETY: the region was checked to hold `region_len` bytes, which
        // include the data offset.
        let data = unsafe { base.add(L::DATA_OFFSET) }.cast::<L::Unit>();
        let table = if entries == 0 {
            NonNull::dangling()
        } else {
            // SAFETY: the region was checked to hold `region_len_with`
            // bytes, which include the table after its offset; its base
            // alignment (at least 4) and the LINE-multiple offset align the
            // lines (4-aligned words).
            unsafe { NonNull::new_unchecked(base.add(super::table_offset::<L>(capacity)).cast()) }
        };
        Self {
            // SAFETY: the region's base is non-null (it is a `NonNull`).
            control: unsafe { NonNull::new_unchecked(base.cast()) },
            // SAFETY: an in-bounds offset from a non-null base is non-null.
            data: unsafe { NonNull::new_unchecked(data) },
            capacity,
            wakes: flags & FLAG_WAKES != 0,
            table,
            entries,
            flags,
            _memory: PhantomData,
        }
    }

    /// A handle on memory that holds a published ring (an [`Owned`]).
    ///
    /// # Safety
    /// `control` and `data` point to a control block and `capacity` units
    /// valid for `'a`, checked as `attach` checks a region.
    ///
    /// [`Owned`]: super::Owned
    pub(crate) unsafe fn on_parts(
        control: NonNull<L::Control>,
        data: NonNull<L::Unit>,
        capacity: u32,
        wakes: bool,
    ) -> Self {
        Self {
            control,
            data,
            capacity,
            wakes,
            table: NonNull::dangling(),
            entries: 0,
            flags: super::Options::new(capacity).waking(wakes).flags(),
            #[cfg(ipckit_loom)]
            backing: crate::sync::heap::Arc::new(()),
            _memory: PhantomData,
        }
    }

    /// The init protocol of [`crate::region`]: claim the header, write its
    /// fields and the ring's words (and clear its data if `clear`), publish.
    fn write_fresh(&self, exclusive: bool, clear: bool, options: &Options) -> Result<()> {
        let (size, align) = L::ELEMENT?;
        let header = self.control().header();
        header.begin_init(exclusive)?;
        header.write_fields(
            L::KIND,
            size,
            align,
            options.capacity,
            L::DATA_OFFSET as u32,
            options.flags(),
        );
        let control = self.control();
        control.clear_words();
        for &word in L::POSITIONS {
            control
                .word(word)
                .store(options.position, Ordering::Relaxed);
        }
        if let Some(word) = L::TABLE {
            control.word(word).store(options.table, Ordering::Relaxed);
        }
        if let Some((word, _)) = L::SLOT_SIZE {
            control
                .word(word)
                .store(options.slot_size, Ordering::Relaxed);
        }
        for entry in self.table_lines() {
            entry.clear();
        }
        L::init_data(self.data.as_ptr(), options);
        if clear {
            // SAFETY: the data area holds `capacity` units, and nobody else
            // can see it before the header is published.
            unsafe { L::clear_data(self.data.as_ptr(), options.capacity) };
        }
        header.publish();
        Ok(())
    }

    /// A ring on the heap for the loom models: the same control block and
    /// algorithm, placed in loom-tracked memory instead of raw bytes.
    #[cfg(ipckit_loom)]
    #[doc(hidden)]
    pub fn new_modelled(capacity: u32, position: u32) -> Result<Placed<'static, L>>
    where
        L::Unit: super::Modelled,
    {
        Self::new_modelled_with(Options::new(capacity).start_at(position))
    }

    /// [`new_modelled`](Self::new_modelled) with all [`Options`].
    #[cfg(ipckit_loom)]
    #[doc(hidden)]
    pub fn new_modelled_with(options: Options) -> Result<Placed<'static, L>>
    where
        L::Unit: super::Modelled,
    {
        use crate::sync::heap::{Box, Vec};

        super::check_options::<L>(&options)?;
        let control = L::Control::modelled();
        let mut table: Box<[Line]> = (0..options.table)
            .map(|_| Line::modelled())
            .collect::<Vec<_>>()
            .into_boxed_slice();
        let units =
            options.capacity as usize * L::STRIDE.min(1) / <L::Unit as super::Modelled>::COVERS;
        let mut data: Box<[L::Unit]> = (0..units)
            .map(|_| <L::Unit as super::Modelled>::modelled())
            .collect::<Vec<_>>()
            .into_boxed_slice();
        let ring = Placed {
            control: NonNull::from(&*control),
            data: NonNull::new(data.as_mut_ptr()).expect("boxed slice is non-null"),
            capacity: options.capacity,
            wakes: options.wakes,
            table: NonNull::new(table.as_mut_ptr()).expect("boxed slice is non-null"),
            entries: options.table,
            flags: options.flags(),
            // The backing is only kept alive (never accessed through the
            // `Arc`), so its lack of `Sync` does not matter.
            #[allow(clippy::arc_with_non_send_sync)]
            backing: crate::sync::heap::Arc::new((control, data, table)),
            _memory: PhantomData,
        };
        // Fresh units are zero: no clearing (fewer operations for loom).
        ring.write_fresh(true, false, &options)?;
        Ok(ring)
    }

    /// The capacity, in the ring's units (items, or bytes of data area).
    #[inline(always)]
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// `true` if the ring was created for sleeping waiters
    /// ([`Options::waking`]).
    pub fn wakes(&self) -> bool {
        self.wakes
    }

    /// The header's `flags` (validated when placed).
    #[inline(always)]
    pub(crate) fn flags(&self) -> u32 {
        self.flags
    }

    /// The entries of the table after the data (the broadcast ring's
    /// subscriber table, [`Options::subscribers`]; 0: none).
    #[inline(always)]
    pub fn table_len(&self) -> u32 {
        self.entries
    }

    /// Table entry `index`, if there is one.
    #[inline(always)]
    pub(crate) fn table_line(&self, index: u32) -> Option<&Line> {
        if index >= self.entries {
            return None;
        }
        // SAFETY: `table` points to `entries` lines valid for `'a` (checked
        // when placed); every field of a line is an atomic.
        Some(unsafe { &*self.table.as_ptr().add(index as usize) })
    }

    /// Every table entry.
    pub(crate) fn table_lines(&self) -> impl Iterator<Item = &Line> {
        (0..self.entries).filter_map(|i| self.table_line(i))
    }

    /// The control block.
    #[inline(always)]
    pub(crate) fn control(&self) -> &L::Control {
        // SAFETY: `control` points to the start of memory valid for `'a`
        // (or to the loom backing this handle keeps alive), long and aligned
        // enough for the block (checked when the ring was placed). Every
        // field of a block is an atomic, so a shared reference is sound
        // while peers write the bytes.
        unsafe { self.control.as_ref() }
    }

    /// The atomic at `word` of the control block.
    #[inline(always)]
    pub(crate) fn word(&self, word: Word) -> &AtomicU32 {
        self.control().word(word)
    }

    /// The first unit of the data area (`capacity` units long, or
    /// `capacity * STRIDE` bytes for a byte area).
    #[inline(always)]
    pub(crate) fn data(&self) -> *mut L::Unit {
        self.data.as_ptr()
    }

    /// Checks that the endpoint's notifier matches the ring's wake mode: an
    /// endpoint that does not wake would leave a sleeping peer asleep.
    pub(crate) fn check_notify(&self, wakes: bool) -> Result<()> {
        if wakes != self.wakes {
            return Err(Error::NotifyMismatch);
        }
        Ok(())
    }

    /// Claims the role whose claim word is `word`; the claim is given back
    /// when the returned guard drops.
    pub(crate) fn claim(&self, word: Word, role: Role) -> Result<Claim<'a, L>> {
        Claim::take(self.clone(), word, role)
    }
}

impl<L: SingleProducer> Placed<'_, L> {
    /// Frees the producer role in the shared header **without** its
    /// endpoint being dropped: the recovery step for a holder that died
    /// holding it (a killed process never runs its destructors). The next
    /// producer resumes at the published position; what the dead holder
    /// wrote but never published is not in the ring.
    ///
    /// Deciding that the holder is dead is the caller's business (the hosted
    /// crate records each endpoint's pid and process start time for this).
    ///
    /// # Safety
    /// No producer of this ring may be used again after this call, in any
    /// thread or process: a second producer writing the same data as a live
    /// one is a data race. Releasing the claim of a process that is known to
    /// have died fulfils this.
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
        super::claim::release(self.word(L::PRODUCER_CLAIM));
    }
}

impl<L: SingleConsumer> Placed<'_, L> {
    /// Frees the consumer role of a holder that died holding it, without
    /// its endpoint being dropped (a killed process never runs its
    /// destructors); deciding that the holder is dead is the caller's
    /// business. The next consumer resumes at the published position: what
    /// the dead holder read but never released is delivered again (the
    /// ring's module docs say what else it finds).
    ///
    /// # Safety
    /// No consumer of this ring may be used again after this call, in any
    /// thread or process.
    pub unsafe fn release_consumer_claim(&self) {
        super::claim::release(self.word(L::CONSUMER_CLAIM));
    }
}

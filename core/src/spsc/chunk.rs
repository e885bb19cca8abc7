//! Zero-copy access to runs of slots, in the manner of rtrb's chunks.
//!
//! A [`WriteChunk`] is a run of free slots that the producer fills in place
//! and then publishes with one index store; a [`ReadChunk`] is a run of
//! published items that the consumer reads in place and then hands back with
//! one index store.
//!
//! As elsewhere in the crate, the name says exact or partial: `commit(n)`,
//! [`Chunk::copy_from_slice`] and [`Chunk::copy_to_slice`] do all
//! of what they are asked or fail with [`Error::TooFewSlots`] and do
//! nothing; the `_partial_` forms do what fits and say how much.
//!
//! The safe methods move each item through a raw pointer (a copy, which the
//! compiler turns into a plain memory copy): no Rust reference to shared
//! memory is ever created, so a peer that scribbles on the slots can only make
//! the data wrong, never make this process unsound. The `unsafe` slice views
//! are there for callers who trust their peer and want `&[T]` / `&mut [T]`.

use core::fmt;

use bytemuck::Pod;

use super::{Endpoint, Slots};
use crate::error::{Error, Result};
use crate::place::raw;
use crate::sync::SlotCell;
use crate::wait::{Notify, Spin};

/// A run of slots borrowed from one end of the ring: a [`WriteChunk`] of
/// free slots (`P = true`) or a [`ReadChunk`] of published items. What the
/// two share (length, commit) is written once here; see each alias for the
/// rest.
#[must_use = "a chunk publishes or hands back nothing until it is committed"]
pub struct Chunk<'e, 'a, T, N, const P: bool> {
    end: &'e mut Endpoint<'a, Slots<T>, N, P>,
    len: u32,
}

/// A run of free slots reserved by [`Producer::write_chunk`](super::Producer::write_chunk).
///
/// Slots that are committed without being written carry whatever bytes they
/// held before (any bit pattern is a valid `T: Pod`, so this is wrong data,
/// not undefined behaviour). Dropping the chunk without committing publishes
/// nothing.
///
/// ```
/// use ipckit_core::{spsc, AlignedBytes, Region};
/// let mut bytes = AlignedBytes::<512>::new();
/// let (mut tx, mut rx) = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 8)?.split()?;
/// let chunk = tx.write_chunk_up_to(3)?;
/// chunk.copy_from_slice(b"abc")?;
/// let mut out = [0; 3];
/// rx.pop_partial_slice(&mut out)?;
/// assert_eq!(&out, b"abc");
/// # Ok::<(), ipckit_core::Error>(())
/// ```
pub type WriteChunk<'p, 'a, T, N = Spin> = Chunk<'p, 'a, T, N, true>;

/// A run of published items borrowed by [`Consumer::read_chunk`](super::Consumer::read_chunk).
///
/// Reading does not consume: the items go back to the producer only when the
/// chunk is committed. Dropping it without committing leaves them in the ring.
///
/// ```
/// use ipckit_core::{spsc, AlignedBytes, Region};
/// let mut bytes = AlignedBytes::<512>::new();
/// let (mut tx, mut rx) = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?.split()?;
/// tx.push_partial_slice(&[1, 2, 3])?;
/// let chunk = rx.read_chunk_up_to(2)?;
/// assert_eq!(chunk.get(1), Some(2));
/// chunk.commit_all();
/// assert_eq!(rx.try_pop()?, 3);
/// # Ok::<(), ipckit_core::Error>(())
/// ```
pub type ReadChunk<'c, 'a, T, N = Spin> = Chunk<'c, 'a, T, N, false>;

impl<T, N, const P: bool> fmt::Debug for Chunk<'_, '_, T, N, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if P {
            "spsc::WriteChunk"
        } else {
            "spsc::ReadChunk"
        };
        f.debug_struct(name).field("len", &self.len).finish()
    }
}

impl<'e, 'a, T: Pod, N: Notify, const P: bool> Chunk<'e, 'a, T, N, P> {
    pub(super) fn new(end: &'e mut Endpoint<'a, Slots<T>, N, P>, len: u32) -> Self {
        Self { end, len }
    }

    /// The number of slots: reserved free slots, or borrowed items.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// `true` when the ring had no room (no free slot, or no item).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Gives the first `n` slots to the peer with one index store (a write
    /// chunk publishes them, a read chunk hands them back to the producer),
    /// or returns [`Error::TooFewSlots`] if the chunk is shorter, giving
    /// nothing.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?.split()?;
    /// let mut chunk = tx.write_chunk_up_to(4)?;
    /// // SAFETY: our consumer `rx` follows the protocol; it does not touch
    /// // reserved slots.
    /// let (a, _b) = unsafe { chunk.as_mut_slices() };
    /// (a[0], a[1]) = (42, 43);
    /// chunk.commit(2)?;
    /// rx.read_chunk(2)?.commit(1)?;
    /// assert_eq!(rx.try_pop()?, 43);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn commit(self, n: usize) -> Result<()> {
        let n = exact(n, self.len)?;
        self.end.advance(n);
        Ok(())
    }

    /// Gives every slot of the chunk to the peer.
    pub fn commit_all(self) {
        let n = self.len;
        self.end.advance(n);
    }
}

impl<T: Pod, N: Notify> WriteChunk<'_, '_, T, N> {
    /// Writes the items of `iter` into the chunk's slots, in order, until the
    /// chunk or the iterator ends, then publishes the slots written. Returns
    /// how many.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = spsc::Ring::<u16>::init(Region::from_slice(&mut bytes[..]), 4)?.split()?;
    /// assert_eq!(tx.write_chunk_up_to(4)?.fill_from_iter([5, 6]), 2);
    /// assert_eq!(rx.len(), 2);
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn fill_from_iter<I: IntoIterator<Item = T>>(self, iter: I) -> usize {
        let mut iter = iter.into_iter();
        let mut written = 0u32;
        // Walk the two contiguous runs by pointer (no per-item masking), so
        // the compiler can vectorise the copy.
        for (base, run) in self.end.runs(self.len) {
            for i in 0..run as usize {
                let Some(value) = iter.next() else {
                    self.end.advance(written);
                    return written as usize;
                };
                // SAFETY: `i < run`, and the run lies inside the slot array
                // and inside this chunk's reserved free slots.
                unsafe { SlotCell::write(base.add(i), value) };
                written += 1;
            }
        }
        self.end.advance(written);
        written as usize
    }

    /// Copies all of `items` into the first slots of the chunk and publishes
    /// them (the rest of the chunk is not), or returns
    /// [`Error::TooFewSlots`] if the chunk is shorter, publishing nothing.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let mut tx = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 2)?.producer()?;
    /// let too_many = tx.write_chunk_up_to(2)?.copy_from_slice(&[1, 2, 3]);
    /// assert_eq!(too_many, Err(Error::TooFewSlots { requested: 3, available: 2 }));
    /// // The partial form copies what fits.
    /// assert_eq!(tx.write_chunk_up_to(2)?.copy_partial_from_slice(&[1, 2, 3]), 2);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn copy_from_slice(self, items: &[T]) -> Result<()> {
        exact(items.len(), self.len)?;
        self.copy_partial_from_slice(items);
        Ok(())
    }

    /// Copies as many items of `items` as fit into the chunk, then publishes
    /// them. Returns how many.
    pub fn copy_partial_from_slice(self, items: &[T]) -> usize {
        let n = (self.len as usize).min(items.len());
        // The chunk's slots are free and reserved for it.
        self.end.write_slots(&items[..n]);
        n
    }

    /// The reserved slots as two mutable slices (the second is non-empty when
    /// the run wraps past the end of the slot array).
    ///
    /// # Safety
    /// While the slices live, nothing else may read or write these slots: no
    /// other process or core, which holds when the consumer follows the
    /// protocol (it never touches unpublished slots). Use the copying methods
    /// when the peer is untrusted.
    pub unsafe fn as_mut_slices(&mut self) -> (&mut [T], &mut [T]) {
        let [(a, first), (b, second)] = self.end.runs(self.len);
        // SAFETY: each run is of initialised, aligned slots inside the slot
        // array, reserved by this chunk, and the two do not overlap. The
        // caller promises that nobody else accesses them meanwhile.
        unsafe {
            (
                core::slice::from_raw_parts_mut(raw(a), first as usize),
                core::slice::from_raw_parts_mut(raw(b), second as usize),
            )
        }
    }
}

impl<T: Pod, N: Notify> ReadChunk<'_, '_, T, N> {
    /// A copy of item `i` of the chunk, or `None` past its end.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?.split()?;
    /// tx.try_push(5)?;
    /// let chunk = rx.read_chunk_up_to(4)?;
    /// assert_eq!((chunk.get(0), chunk.get(1)), (Some(5), None));
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn get(&self, i: usize) -> Option<T> {
        if i >= self.len as usize {
            return None;
        }
        let pos = self.end.pos.wrapping_add(i as u32);
        // SAFETY: `i < len`, so the slot holds a published, unreleased item.
        Some(unsafe { SlotCell::read(self.end.slot(pos)) })
    }

    /// Copies of the chunk's items, oldest first.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?.split()?;
    /// tx.push_partial_slice(&[1, 2, 3])?;
    /// let chunk = rx.read_chunk_up_to(4)?;
    /// assert!(chunk.iter().eq([1, 2, 3]));
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        let [(a, first), (b, second)] = self.end.runs(self.len);
        // Two contiguous runs walked by pointer: no per-item masking.
        let run = move |base: *const SlotCell<T>, n: u32| {
            (0..n as usize).map(move |i| {
                // SAFETY: `i < n`, and the run lies inside the slot array and
                // inside this chunk's published, unreleased items.
                unsafe { SlotCell::read(base.add(i)) }
            })
        };
        run(a, first).chain(run(b, second))
    }

    /// Fills all of `out` with the chunk's first items (oldest first), or
    /// returns [`Error::TooFewSlots`] if the chunk is shorter, copying
    /// nothing. Does not consume them.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Error, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?.split()?;
    /// tx.push_partial_slice(&[7, 8])?;
    /// let chunk = rx.read_chunk_up_to(4)?;
    /// let mut out = [0; 4];
    /// assert_eq!(chunk.copy_to_slice(&mut out), Err(Error::TooFewSlots { requested: 4, available: 2 }));
    /// // The partial form copies what there is.
    /// assert_eq!(chunk.copy_partial_to_slice(&mut out), 2);
    /// assert_eq!(out, [7, 8, 0, 0]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn copy_to_slice(&self, out: &mut [T]) -> Result<()> {
        exact(out.len(), self.len)?;
        self.copy_partial_to_slice(out);
        Ok(())
    }

    /// Copies as many items as fit into `out` (oldest first) and returns how
    /// many. Does not consume them.
    pub fn copy_partial_to_slice(&self, out: &mut [T]) -> usize {
        let n = (self.len as usize).min(out.len());
        // The chunk's items are published and not yet released.
        self.end.load_slots(&mut out[..n]);
        n
    }

    /// The borrowed items as two slices (the second is non-empty when the run
    /// wraps past the end of the slot array).
    ///
    /// # Safety
    /// While the slices live, nothing may write these slots: no other process
    /// or core, which holds when the producer follows the protocol (it never
    /// writes published, unreleased slots). Use the copying methods when the
    /// peer is untrusted.
    ///
    /// ```
    /// use ipckit_core::{spsc, AlignedBytes, Region};
    /// let mut bytes = AlignedBytes::<512>::new();
    /// let (mut tx, mut rx) = spsc::Ring::<u8>::init(Region::from_slice(&mut bytes[..]), 4)?.split()?;
    /// tx.push_partial_slice(&[1, 2])?;
    /// let chunk = rx.read_chunk_up_to(2)?;
    /// // SAFETY: the producer `tx` is ours and follows the protocol.
    /// let (a, b) = unsafe { chunk.as_slices() };
    /// assert_eq!((a, b), (&[1, 2][..], &[][..]));
    /// # Ok::<(), ipckit_core::Error>(())
    /// ```
    pub unsafe fn as_slices(&self) -> (&[T], &[T]) {
        let [(a, first), (b, second)] = self.end.runs(self.len);
        // SAFETY: each run is of initialised, aligned, published slots
        // inside the slot array; the caller promises nobody writes them
        // while the slices live.
        unsafe {
            (
                core::slice::from_raw_parts(raw(a), first as usize),
                core::slice::from_raw_parts(raw(b), second as usize),
            )
        }
    }
}

/// `n` as a count of a chunk's `len` slots, or [`Error::TooFewSlots`] if the
/// chunk is shorter: the check of every exact chunk method.
fn exact(n: usize, len: u32) -> Result<u32> {
    if n > len as usize {
        return Err(Error::TooFewSlots {
            requested: n,
            available: len as usize,
        });
    }
    Ok(n as u32)
}

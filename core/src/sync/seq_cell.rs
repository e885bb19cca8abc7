//! [`SeqCell`]: the payload of a seqlock slot, copied out by readers while
//! its one writer may rewrite it.

#[cfg(ipckit_loom)]
use super::{AtomicU32, Ordering, heap};
#[cfg(not(ipckit_loom))]
use super::{Grain, SlotCell, copy_to_shared};

/// A value that its one writer may overwrite while readers copy it out:
/// the payload of a seqlock slot (the broadcast ring). Readers do not own
/// it; they copy it out at any time and then check, through the slot's
/// stamp, whether the copy raced a write (and throw it away if it did).
///
/// In production it is a [`SlotCell`] (`#[repr(transparent)]`, the layout
/// of `T`), whose copies already move every byte through relaxed atomics of
/// the slot's [`Grain`]: a copy that races the writer is a *wrong value*,
/// never a data race (module docs, "Shared bytes"). Under loom it is a row
/// of loom `AtomicU32`s, so the model explores relaxed loads that read
/// stale or newer words and checks that the stamp protocol rejects every
/// such copy (a loom `UnsafeCell` would instead report the race that the
/// seqlock is designed to tolerate).
#[cfg(not(ipckit_loom))]
#[repr(transparent)]
pub struct SeqCell<T>(SlotCell<T>);

#[cfg(not(ipckit_loom))]
impl<T: bytemuck::Pod> SeqCell<T> {
    /// Copies the value out; a concurrent write makes it a mix of old and
    /// new units, which the caller must detect (stamp re-check).
    ///
    /// # Safety
    /// `this` points to a cell inside a live region.
    #[inline(always)]
    pub(crate) unsafe fn read(this: *const Self) -> T {
        // SAFETY: a live cell (caller contract); the copy is made of relaxed
        // atomic loads of the slot's grain, so a writer racing it (ours or
        // a peer's) is not a data race, whatever the protocol says.
        unsafe { SlotCell::read(this.cast::<SlotCell<T>>()) }
    }

    /// Writes the value (the writer's side of the seqlock).
    ///
    /// # Safety
    /// `this` points to a cell inside a live region, which the caller is
    /// the one writer of.
    #[inline(always)]
    pub(crate) unsafe fn write(this: *const Self, value: T) {
        // SAFETY: a live cell, one writer (caller contract); relaxed atomic
        // stores of the slot's grain, so racing readers are no data race.
        unsafe { SlotCell::write(this.cast::<SlotCell<T>>(), value) }
    }

    /// Writes `bytes` at byte `offset` of the value (the writer's side, in
    /// units of the slot's grain; partial units at either end are merged
    /// with what the cell holds).
    ///
    /// # Safety
    /// As [`write`](Self::write), and `offset + bytes.len() <= size_of::<T>()`.
    #[inline(always)]
    pub(crate) unsafe fn write_bytes(this: *const Self, offset: usize, bytes: &[u8]) {
        // SAFETY: in bounds of a live cell that the caller is the one
        // writer of; relaxed atomic units of the grain every side uses for
        // this slot, so racing readers are no data race.
        unsafe {
            let base = SlotCell::as_ptr(this.cast::<SlotCell<T>>()).cast::<u8>();
            copy_to_shared(base.add(offset), bytes, Grain::of::<T>());
        }
    }

    /// The raw address of the value, for writes by other means.
    pub(crate) fn as_ptr(this: *const Self) -> *mut T {
        SlotCell::as_ptr(this.cast::<SlotCell<T>>())
    }
}

/// See the production version: the value as loom `AtomicU32`s.
#[cfg(ipckit_loom)]
pub struct SeqCell<T> {
    words: heap::Box<[AtomicU32]>,
    _value: core::marker::PhantomData<T>,
}

#[cfg(ipckit_loom)]
impl<T: bytemuck::Pod> SeqCell<T> {
    /// A zeroed cell.
    pub(crate) fn new() -> Self {
        let words = (0..size_of::<T>().div_ceil(4))
            .map(|_| AtomicU32::new(0))
            .collect::<heap::Vec<_>>()
            .into_boxed_slice();
        Self {
            words,
            _value: core::marker::PhantomData,
        }
    }

    /// See the production version.
    ///
    /// # Safety
    /// As in production.
    pub(crate) unsafe fn read(this: *const Self) -> T {
        let mut value = T::zeroed();
        let bytes = bytemuck::bytes_of_mut(&mut value);
        // SAFETY: a live cell (caller contract); its words are atomics.
        let words = unsafe { &(*this).words };
        for (chunk, word) in bytes.chunks_mut(4).zip(words.iter()) {
            let w = word.load(Ordering::Relaxed).to_ne_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
        value
    }

    /// See the production version.
    ///
    /// # Safety
    /// As in production.
    pub(crate) unsafe fn write(this: *const Self, value: T) {
        let bytes = bytemuck::bytes_of(&value);
        // SAFETY: a live cell (caller contract); its words are atomics.
        let words = unsafe { &(*this).words };
        for (chunk, word) in bytes.chunks(4).zip(words.iter()) {
            let mut w = [0u8; 4];
            w[..chunk.len()].copy_from_slice(chunk);
            word.store(u32::from_ne_bytes(w), Ordering::Relaxed);
        }
    }

    /// See the production version: the value read, patched and written
    /// whole (the caller is its one writer).
    ///
    /// # Safety
    /// As in production.
    pub(crate) unsafe fn write_bytes(this: *const Self, offset: usize, bytes: &[u8]) {
        // SAFETY: the caller's contract.
        let mut value = unsafe { Self::read(this) };
        bytemuck::bytes_of_mut(&mut value)[offset..offset + bytes.len()].copy_from_slice(bytes);
        // SAFETY: the caller's contract.
        unsafe { Self::write(this, value) };
    }

    /// No raw address under loom (the models take none): null.
    pub(crate) fn as_ptr(this: *const Self) -> *mut T {
        let _ = this;
        core::ptr::null_mut()
    }
}

//! The data area: raw bytes in production, loom-tracked words under loom.

use super::*;

/// Under loom: a unit's payload cell.
#[cfg(ipckit_loom)]
type Cell = *const crate::sync::SlotCell<u64>;
#[cfg(ipckit_loom)]
use core::ops::Range;

/// Access to the data area. In production a pointer to `capacity` bytes;
/// header words are atomics on those bytes, payload moves by raw copies.
#[cfg(not(ipckit_loom))]
#[derive(Clone, Copy)]
pub(super) struct Data {
    pub(super) base: NonNull<u8>,
}

/// Under loom, every 8-byte unit of the data area is two atomic header words
/// and one cell for the payload bytes: loom reports a payload access that is
/// not ordered by the header protocol as a data race. (Header and payload
/// bytes are separate storage here, unlike production; the placement is the
/// only difference.)
#[cfg(ipckit_loom)]
pub(super) struct Unit {
    pub(super) w0: AtomicU32,
    pub(super) w1: AtomicU32,
    pub(super) bytes: crate::sync::SlotCell<u64>,
}

#[cfg(ipckit_loom)]
#[derive(Clone, Copy)]
pub(super) struct Data {
    pub(super) base: NonNull<Unit>,
}

impl Data {
    /// Header word `which` (0: length and flags, 1: claimant) of the record
    /// at byte `off` of the data area.
    ///
    /// Callers hold `off` as a multiple of 8 below the capacity (a masked
    /// position), never as peer data.
    #[inline(always)]
    pub(super) fn word(&self, off: u32, which: u32) -> &AtomicU32 {
        #[cfg(not(ipckit_loom))]
        {
            // SAFETY: `off + 4 * which + 4 <= capacity` (caller invariant),
            // the data area is valid for the region's lifetime and 8-aligned
            // (checked in `init`/`attach`), and an atomic reference stays
            // sound while peers write the word.
            unsafe {
                &*self
                    .base
                    .as_ptr()
                    .add((off + 4 * which) as usize)
                    .cast::<AtomicU32>()
            }
        }
        #[cfg(ipckit_loom)]
        {
            // SAFETY: `off / 8` is below the number of units (caller
            // invariant), and the backing outlives the handle.
            let unit = unsafe { &*self.base.as_ptr().add((off / 8) as usize) };
            if which == 0 { &unit.w0 } else { &unit.w1 }
        }
    }

    /// Copies `src` to byte `off` of the data area.
    ///
    /// # Safety
    /// `off + src.len() <= capacity`, and the protocol gives the caller those
    /// bytes for writing.
    #[inline(always)]
    pub(super) unsafe fn copy_in(&self, off: u32, src: &[u8]) {
        #[cfg(not(ipckit_loom))]
        // SAFETY: in bounds and owned (caller contract); `src` is a separate
        // Rust slice, so the ranges do not overlap.
        unsafe {
            crate::sync::copy_to_shared(
                self.base.as_ptr().add(off as usize),
                src,
                crate::frame::MPSC_GRAIN,
            )
        }
        #[cfg(ipckit_loom)]
        {
            let write = |cell: Cell, bytes: Range<usize>, at: Range<usize>| {
                // SAFETY: the cell is in bounds and owned (caller contract);
                // the producer owns the whole unit.
                let mut v = unsafe { crate::sync::SlotCell::read(cell) }.to_ne_bytes();
                v[bytes].copy_from_slice(&src[at]);
                // SAFETY: as above.
                unsafe { crate::sync::SlotCell::write(cell, u64::from_ne_bytes(v)) };
            };
            // SAFETY: in bounds (caller contract).
            unsafe { self.each_unit(off, src.len(), write) }
        }
    }

    /// Copies bytes from byte `off` of the data area into `dst`.
    ///
    /// # Safety
    /// `off + dst.len() <= capacity`, and the protocol lets the caller read
    /// those bytes.
    #[inline(always)]
    pub(super) unsafe fn copy_out(&self, off: u32, dst: &mut [u8]) {
        #[cfg(not(ipckit_loom))]
        // SAFETY: in bounds and readable (caller contract); `dst` is a
        // separate exclusive slice.
        unsafe {
            crate::sync::copy_from_shared(
                self.base.as_ptr().add(off as usize),
                dst,
                crate::frame::MPSC_GRAIN,
            )
        }
        #[cfg(ipckit_loom)]
        {
            let len = dst.len();
            let read = |cell: Cell, bytes: Range<usize>, at: Range<usize>| {
                // SAFETY: the cell is in bounds and readable (caller contract).
                let v = unsafe { crate::sync::SlotCell::read(cell) }.to_ne_bytes();
                dst[at].copy_from_slice(&v[bytes]);
            };
            // SAFETY: in bounds (caller contract).
            unsafe { self.each_unit(off, len, read) }
        }
    }

    /// Under loom: calls `each(cell, bytes, at)` for every unit that the
    /// `len` bytes from byte `off` touch, with the unit's payload cell, the
    /// range of its bytes they cover and the matching range of the caller's
    /// slice.
    ///
    /// # Safety
    /// `off + len <= capacity`.
    #[cfg(ipckit_loom)]
    unsafe fn each_unit(
        &self,
        off: u32,
        len: usize,
        mut each: impl FnMut(
            *const crate::sync::SlotCell<u64>,
            core::ops::Range<usize>,
            core::ops::Range<usize>,
        ),
    ) {
        let mut i = 0;
        while i < len {
            let b = off as usize + i;
            let (unit, start) = (b / 8, b % 8);
            let n = (8 - start).min(len - i);
            // SAFETY: `unit` is below the number of units (caller contract).
            let cell = unsafe { core::ptr::addr_of!((*self.base.as_ptr().add(unit)).bytes) };
            each(cell, start..start + n, i..i + n);
            i += n;
        }
    }

    /// Zeroes `len` bytes from byte `off`.
    ///
    /// # Safety
    /// `off` and `len` are multiples of 8, `off + len <= capacity`, and the
    /// bytes belong to the consumer (consumed, not yet released).
    #[inline(always)]
    pub(super) unsafe fn zero(&self, off: u32, len: u32) {
        #[cfg(not(ipckit_loom))]
        // SAFETY: in bounds and owned (caller contract).
        unsafe {
            crate::sync::zero_shared(
                self.base.as_ptr().add(off as usize),
                len as usize,
                crate::frame::MPSC_GRAIN,
            )
        }
        #[cfg(ipckit_loom)]
        for unit in (off / 8)..((off + len) / 8) {
            // SAFETY: the unit is in bounds and owned (caller contract).
            let u = unsafe { &*self.base.as_ptr().add(unit as usize) };
            u.w0.store(0, Ordering::Relaxed);
            u.w1.store(0, Ordering::Relaxed);
            // SAFETY: as above.
            unsafe { crate::sync::SlotCell::write(core::ptr::addr_of!(u.bytes), 0) };
        }
    }

    /// Zeroes the 8 bytes at `off` except the first header word there (the
    /// claimant word; under loom also the unit's payload cell).
    ///
    /// # Safety
    /// As [`zero`](Self::zero) for `off..off + 8`.
    #[inline(always)]
    pub(super) unsafe fn zero_but_first_word(&self, off: u32) {
        self.word(off, 1).store(0, Ordering::Relaxed);
        #[cfg(ipckit_loom)]
        {
            // SAFETY: the unit is in bounds and owned (caller contract).
            let u = unsafe { &*self.base.as_ptr().add((off / 8) as usize) };
            // SAFETY: as above.
            unsafe { crate::sync::SlotCell::write(core::ptr::addr_of!(u.bytes), 0) };
        }
    }

    /// The address of byte `off`, for the `unsafe` slice views.
    #[cfg(not(ipckit_loom))]
    #[inline(always)]
    pub(super) fn ptr(&self, off: u32) -> *mut u8 {
        // SAFETY: callers pass `off <= capacity`: in bounds or one past.
        unsafe { self.base.as_ptr().add(off as usize) }
    }
}

//! A record area: a byte data area whose records start with two atomic
//! `u32` header words at 8-aligned offsets, which a consumer polls instead
//! of an index (the MPSC frame ring's). In production the words are atomics
//! on the bytes and everything else moves through the race-free copies of
//! [`crate::sync`] in aligned `u32` units; under the model checker every
//! 8-byte unit is two loom atomics and one loom cell for its bytes, so loom
//! reports a payload access that the header protocol does not order as a
//! data race (or, for [`SeqUnit`], a seqlock's area, two loom atomics).
//! That difference lives here only: a ring whose `Layout::Unit` is [`Unit`]
//! or [`SeqUnit`] gets the accessors below on its [`Placed`] handle.

use super::{Layout, Placed};
#[cfg(ipckit_loom)]
use core::ops::Range;

use crate::sync::{AtomicU32, Ordering, SlotCell};

/// One unit of a record area: a byte (8 of them per record unit).
#[cfg(not(ipckit_loom))]
pub type Unit = SlotCell<u8>;

/// The grain of a record area (the `sync` docs): aligned `u32` words, as
/// the header words that producers compare-and-swap.
#[cfg(not(ipckit_loom))]
const GRAIN: crate::sync::Grain = crate::sync::Grain::U32;

/// The units a copy moves the payload bytes in: [`Width::U32`] for an
/// area whose header words may sit anywhere (the MPSC ring's), or
/// [`Width::Word`] (machine words) for payload bytes at fixed 8-aligned
/// offsets that are never header words (the broadcast frame ring's slots).
/// Every side must access a byte at one width (the `sync` grain rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Width {
    /// Aligned `u32` words.
    U32,
    /// Machine words.
    #[cfg_attr(ipckit_loom, allow(dead_code))] // loom moves 8-byte cells
    Word,
}

#[cfg(not(ipckit_loom))]
impl Width {
    const fn grain(self) -> crate::sync::Grain {
        match self {
            Width::U32 => GRAIN,
            Width::Word => crate::sync::Grain::Word,
        }
    }
}

/// A unit of a record area (crate-private: the two below). In production
/// both are bytes; under loom each 8-byte unit is two header atomics and
/// its payload, in a cell ([`Unit`]: loom reports a payload access the
/// header protocol does not order) or in atomics ([`SeqUnit`]: payload
/// read while it may be rewritten, as a seqlock does).
pub trait RecordUnit: super::DataUnit + Sized {
    /// The first byte of the area at `data` (production only).
    #[cfg(not(ipckit_loom))]
    fn bytes(data: *mut Self) -> *mut u8;
    /// Header word `which` of this unit.
    #[cfg(ipckit_loom)]
    fn word(&self, which: u32) -> &AtomicU32;
    /// The unit's 8 payload bytes.
    ///
    /// # Safety
    /// The protocol lets the caller read them (a cell's rule).
    #[cfg(ipckit_loom)]
    unsafe fn load(&self) -> u64;
    /// Stores the unit's 8 payload bytes.
    ///
    /// # Safety
    /// The protocol gives the caller the bytes for writing.
    #[cfg(ipckit_loom)]
    unsafe fn store(&self, value: u64);
}

/// A record area whose payload is read only after the header protocol
/// orders it (the MPSC frame ring's): bytes in production.
#[cfg(not(ipckit_loom))]
impl RecordUnit for SlotCell<u8> {
    fn bytes(data: *mut Self) -> *mut u8 {
        SlotCell::as_ptr(data)
    }
}

/// One unit of a record area whose payload may be read while it is
/// rewritten (the broadcast frame ring's seqlock slots): in production the
/// same bytes as [`Unit`].
#[cfg(not(ipckit_loom))]
pub type SeqUnit = SlotCell<u8>;

/// Under loom, one 8-byte unit of a record area: its two header words and
/// a cell for its bytes. (Header and payload bytes are separate storage
/// here, unlike production; the placement is the only difference.)
#[cfg(ipckit_loom)]
pub struct Unit {
    w0: AtomicU32,
    w1: AtomicU32,
    bytes: SlotCell<u64>,
}

/// Under loom, one 8-byte unit of a seqlock record area: its header words
/// and its bytes as two relaxed atomics, so that a racing copy is a torn
/// value loom explores, not a data race.
#[cfg(ipckit_loom)]
pub struct SeqUnit {
    w0: AtomicU32,
    w1: AtomicU32,
    bytes: [AtomicU32; 2],
}

#[cfg(ipckit_loom)]
macro_rules! model_unit {
    ($unit:ident, $new:expr) => {
        impl super::sealed::Sealed for $unit {}

        /// Bytes, as the production unit's.
        impl super::DataUnit for $unit {
            type Item = u8;
        }

        impl super::Modelled for $unit {
            const COVERS: usize = 8;

            fn modelled() -> Self {
                Self {
                    w0: AtomicU32::new(0),
                    w1: AtomicU32::new(0),
                    bytes: $new,
                }
            }
        }
    };
}
#[cfg(ipckit_loom)]
model_unit!(Unit, SlotCell::new(0));
#[cfg(ipckit_loom)]
model_unit!(SeqUnit, [AtomicU32::new(0), AtomicU32::new(0)]);

#[cfg(ipckit_loom)]
impl RecordUnit for Unit {
    fn word(&self, which: u32) -> &AtomicU32 {
        if which == 0 { &self.w0 } else { &self.w1 }
    }

    unsafe fn load(&self) -> u64 {
        // SAFETY: readable (caller contract).
        unsafe { SlotCell::read(&raw const self.bytes) }
    }

    unsafe fn store(&self, value: u64) {
        // SAFETY: writable (caller contract).
        unsafe { SlotCell::write(&raw const self.bytes, value) }
    }
}

#[cfg(ipckit_loom)]
impl RecordUnit for SeqUnit {
    fn word(&self, which: u32) -> &AtomicU32 {
        if which == 0 { &self.w0 } else { &self.w1 }
    }

    unsafe fn load(&self) -> u64 {
        let lo = self.bytes[0].load(Ordering::Relaxed);
        let hi = self.bytes[1].load(Ordering::Relaxed);
        u64::from(lo) | u64::from(hi) << 32
    }

    unsafe fn store(&self, value: u64) {
        self.bytes[0].store(value as u32, Ordering::Relaxed);
        self.bytes[1].store((value >> 32) as u32, Ordering::Relaxed);
    }
}

/// Zeroes `len` bytes from byte `off` of the record area at `data`.
///
/// # Safety
/// `off` and `len` are multiples of 8, `off + len` is within the area, and
/// the bytes belong to the caller.
#[inline(always)]
pub(crate) unsafe fn zero<U: RecordUnit>(data: *mut U, off: u32, len: u32) {
    #[cfg(not(ipckit_loom))]
    // SAFETY: in bounds and owned (caller contract).
    unsafe {
        crate::sync::zero_shared(U::bytes(data).add(off as usize), len as usize, GRAIN)
    }
    #[cfg(ipckit_loom)]
    for unit in (off / 8)..((off + len) / 8) {
        // SAFETY: the unit is in bounds and owned (caller contract).
        let u = unsafe { &*data.add(unit as usize) };
        u.word(0).store(0, Ordering::Relaxed);
        u.word(1).store(0, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { u.store(0) };
    }
}

/// Under loom: calls `each(unit, bytes, at)` for every unit that the `len`
/// bytes from byte `off` touch, with the unit, the range of its bytes they
/// cover and the matching range of the caller's slice.
///
/// # Safety
/// `off + len` is within the area at `data`, which lives as long as `'u`.
#[cfg(ipckit_loom)]
unsafe fn each_unit<'u, U: RecordUnit + 'u>(
    data: *mut U,
    off: u32,
    len: usize,
    mut each: impl FnMut(&'u U, Range<usize>, Range<usize>),
) {
    let mut i = 0;
    while i < len {
        let b = off as usize + i;
        let (unit, start) = (b / 8, b % 8);
        let n = (8 - start).min(len - i);
        // SAFETY: `unit` is below the number of units (caller contract).
        let unit = unsafe { &*data.add(unit) };
        each(unit, start..start + n, i..i + n);
        i += n;
    }
}

impl<L: Layout> Placed<'_, L>
where
    L::Unit: RecordUnit,
{
    /// Header word `which` (0: length and flags, 1: claimant) of the record
    /// at byte `off`. Callers hold `off` as a multiple of 8 below the
    /// capacity (a masked position), never as peer data.
    #[inline(always)]
    pub(crate) fn record_word(&self, off: u32, which: u32) -> &AtomicU32 {
        debug_assert!(off % 8 == 0 && off < self.capacity() && which < 2);
        #[cfg(not(ipckit_loom))]
        // SAFETY: `off + 4 * which + 4 <= capacity` (caller invariant), the
        // area is valid while `self` is and 8-aligned (checked when the
        // ring was placed), and an atomic reference stays sound while peers
        // write the word.
        unsafe {
            &*self.byte_ptr(off + 4 * which).cast::<AtomicU32>()
        }
        #[cfg(ipckit_loom)]
        {
            // SAFETY: `off / 8` is below the number of units (caller
            // invariant), and the backing lives as long as the handle.
            let unit = unsafe { &*self.data().add((off / 8) as usize) };
            unit.word(which)
        }
    }

    /// Copies `src` to byte `off` of the area.
    ///
    /// # Safety
    /// `off + src.len() <= capacity`, and the protocol gives the caller
    /// those bytes for writing, and the rest of the `u32` words that hold
    /// them (under loom, the rest of their 8-byte units).
    #[inline(always)]
    pub(crate) unsafe fn copy_in(&self, off: u32, src: &[u8]) {
        // SAFETY: the caller's contract.
        unsafe { self.copy_in_as(off, src, Width::U32) }
    }

    /// [`copy_in`](Self::copy_in) in units of `width`.
    ///
    /// # Safety
    /// As [`copy_in`](Self::copy_in), for the units of `width` that hold
    /// the bytes.
    #[inline(always)]
    pub(crate) unsafe fn copy_in_as(&self, off: u32, src: &[u8], width: Width) {
        #[cfg(not(ipckit_loom))]
        // SAFETY: in bounds and owned (caller contract); `src` is a separate
        // Rust slice, so the ranges do not overlap.
        unsafe {
            crate::sync::copy_to_shared(self.byte_ptr(off), src, width.grain())
        }
        #[cfg(ipckit_loom)]
        {
            let _ = width;
            let write = |unit: &L::Unit, bytes: Range<usize>, at: Range<usize>| {
                // SAFETY: the unit is in bounds and owned (caller contract).
                let mut v = unsafe { unit.load() }.to_ne_bytes();
                v[bytes].copy_from_slice(&src[at]);
                // SAFETY: as above.
                unsafe { unit.store(u64::from_ne_bytes(v)) };
            };
            // SAFETY: in bounds (caller contract).
            unsafe { each_unit(self.data(), off, src.len(), write) }
        }
    }

    /// Copies bytes from byte `off` of the area into `dst`.
    ///
    /// # Safety
    /// `off + dst.len() <= capacity`, and the protocol lets the caller read
    /// those bytes (and the rest of the words that hold them).
    #[inline(always)]
    pub(crate) unsafe fn copy_out(&self, off: u32, dst: &mut [u8]) {
        // SAFETY: the caller's contract.
        unsafe { self.copy_out_as(off, dst, Width::U32) }
    }

    /// [`copy_out`](Self::copy_out) in units of `width`.
    ///
    /// # Safety
    /// As [`copy_out`](Self::copy_out), for the units of `width` that hold
    /// the bytes.
    #[inline(always)]
    pub(crate) unsafe fn copy_out_as(&self, off: u32, dst: &mut [u8], width: Width) {
        #[cfg(not(ipckit_loom))]
        // SAFETY: in bounds and readable (caller contract); `dst` is a
        // separate exclusive slice.
        unsafe {
            crate::sync::copy_from_shared(self.byte_ptr(off), dst, width.grain())
        }
        #[cfg(ipckit_loom)]
        {
            let _ = width;
            let len = dst.len();
            let read = |unit: &L::Unit, bytes: Range<usize>, at: Range<usize>| {
                // SAFETY: the unit is in bounds and readable (caller
                // contract).
                let v = unsafe { unit.load() }.to_ne_bytes();
                dst[at].copy_from_slice(&v[bytes]);
            };
            // SAFETY: in bounds (caller contract).
            unsafe { each_unit(self.data(), off, len, read) }
        }
    }

    /// Zeroes `len` bytes from byte `off`.
    ///
    /// # Safety
    /// As [`zero`]: multiples of 8, within the area, the caller's bytes.
    #[inline(always)]
    pub(crate) unsafe fn zero(&self, off: u32, len: u32) {
        // SAFETY: the caller's contract, on this handle's area.
        unsafe { zero(self.data(), off, len) }
    }

    /// Zeroes the 8 bytes at `off` except the first header word there.
    ///
    /// # Safety
    /// As [`zero`](Self::zero) for `off..off + 8`.
    #[inline(always)]
    pub(crate) unsafe fn zero_but_first_word(&self, off: u32) {
        self.record_word(off, 1).store(0, Ordering::Relaxed);
        #[cfg(ipckit_loom)]
        {
            // SAFETY: the unit is in bounds and owned (caller contract).
            let u = unsafe { &*self.data().add((off / 8) as usize) };
            // SAFETY: as above.
            unsafe { u.store(0) };
        }
    }

    /// The raw address of byte `off` (`off <= capacity`), for the `unsafe`
    /// slice views. Under loom, where the bytes are cells on the heap,
    /// there is none: the models never take one, and this returns null.
    #[inline(always)]
    pub(crate) fn byte_ptr(&self, off: u32) -> *mut u8 {
        debug_assert!(off <= self.capacity());
        #[cfg(not(ipckit_loom))]
        {
            L::Unit::bytes(self.data()).wrapping_add(off as usize)
        }
        #[cfg(ipckit_loom)]
        {
            let _ = off;
            core::ptr::null_mut()
        }
    }
}

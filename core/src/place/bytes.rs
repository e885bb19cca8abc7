//! The data area of a byte ring (the frame rings'): its bytes move through
//! the race-free copies of [`crate::sync`] in production, and through
//! loom-tracked cells, one per byte, under the model checker. The only
//! difference between the two is here, so the frame rings carry none.

use super::production_or_model;
use crate::sync::SlotCell;

/// The aligned unit every byte of a data area moves in (the grain rule of
/// the `sync` module docs).
#[cfg(not(ipckit_loom))]
pub(crate) use crate::sync::Grain;

/// Under loom every byte is its own cell; the grain names no unit.
#[cfg(ipckit_loom)]
#[derive(Clone, Copy)]
pub(crate) enum Grain {
    /// Machine words.
    Word,
}

/// The raw address of byte `offset` of the data area at `data`.
///
/// Under loom, where the bytes are cells on the heap, there is no raw view:
/// the models never take one, and this returns null.
#[inline(always)]
pub(crate) fn ptr(data: *mut SlotCell<u8>, offset: u32) -> *mut u8 {
    production_or_model!(
        SlotCell::as_ptr(data.wrapping_add(offset as usize)),
        model: core::ptr::null_mut(),
        unused: data, offset
    )
}

/// Copies `src` into the data area at `offset`, in units of `grain`.
///
/// # Safety
/// `offset + src.len()` is within the data area, and the ring's protocol
/// gives the caller those bytes for writing, and the rest of the units of
/// `grain` that hold them.
#[inline(always)]
pub(crate) unsafe fn store(data: *mut SlotCell<u8>, offset: u32, src: &[u8], grain: Grain) {
    // SAFETY: in bounds and owned, whole units included (caller contract);
    // under loom each byte is its own cell and the grain names no unit.
    unsafe {
        production_or_model!(
            crate::sync::copy_to_shared(ptr(data, offset), src, grain),
            model: SlotCell::write_slice(data.add(offset as usize), src),
            unused: grain
        )
    }
}

/// Copies bytes of the data area at `offset` into `dst`, in units of
/// `grain`.
///
/// # Safety
/// `offset + dst.len()` is within the data area, and the ring's protocol
/// lets the caller read those bytes and the rest of the units that hold
/// them.
#[inline(always)]
pub(crate) unsafe fn load(data: *mut SlotCell<u8>, offset: u32, dst: &mut [u8], grain: Grain) {
    // SAFETY: in bounds and readable, whole units included (caller
    // contract); under loom each byte is its own cell.
    unsafe {
        production_or_model!(
            crate::sync::copy_from_shared(ptr(data, offset), dst, grain),
            model: SlotCell::read_slice(data.add(offset as usize), dst),
            unused: grain
        )
    }
}

/// The address of the 8-aligned unit at `offset`, which the compiler may
/// take as 8-aligned (so a record header moves as one or two `mov`s).
///
/// # Safety
/// The data area is 8-aligned and `offset` is a multiple of 8 within it.
#[cfg(not(ipckit_loom))]
#[inline(always)]
unsafe fn aligned8(data: *mut SlotCell<u8>, offset: u32) -> *mut u8 {
    let p = ptr(data, offset);
    debug_assert!(p.addr() % 8 == 0);
    // SAFETY: the caller's contract.
    unsafe { core::hint::assert_unchecked(p.addr() % 8 == 0) };
    p
}

/// Loads the 8 bytes at `offset` (one unit of a machine-word grain on a
/// 64-bit target, two `u32` units on a 32-bit one).
///
/// # Safety
/// As [`load`] for 8 bytes, and `offset` is a multiple of 8 in an 8-aligned
/// data area.
#[inline(always)]
pub(crate) unsafe fn load8(data: *mut SlotCell<u8>, offset: u32, grain: Grain) -> [u8; 8] {
    let mut unit = [0; 8];
    // SAFETY: 8 aligned, readable bytes in bounds (caller contract).
    unsafe {
        production_or_model!(
            crate::sync::copy_from_shared(aligned8(data, offset), &mut unit, grain),
            model: load(data, offset, &mut unit, grain)
        )
    };
    unit
}

/// Stores 8 bytes at `offset`; see [`load8`].
///
/// # Safety
/// As [`store`] for 8 bytes, and `offset` is a multiple of 8 in an
/// 8-aligned data area.
#[inline(always)]
pub(crate) unsafe fn store8(data: *mut SlotCell<u8>, offset: u32, unit: [u8; 8], grain: Grain) {
    // SAFETY: 8 aligned, owned bytes in bounds (caller contract).
    unsafe {
        production_or_model!(
            crate::sync::copy_to_shared(aligned8(data, offset), &unit, grain),
            model: store(data, offset, &unit, grain)
        )
    }
}

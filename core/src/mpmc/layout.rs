//! Where everything of an MPMC ring lies in its region: the control lines,
//! the slots and the sizes that follow from the element type (the layout
//! table of the [module docs](super)).

use core::mem::{align_of, size_of};

use super::{DATA_OFFSET, MAX_CAPACITY, MIN_CAPACITY};
use crate::error::{Error, Result};
use crate::region::{Header, LINE, Reserved};
use crate::sync::{AtomicU32, SlotCell};

/// The producers' line: `tail`, the consumers' announcements, and the
/// count of items lost with dead consumers (written by the producers that
/// release their slots, see [`recovery`]).
#[repr(C)]
pub(crate) struct EnqueueLine {
    pub(crate) tail: AtomicU32,
    pub(crate) consumers_waiting: AtomicU32,
    pub(crate) lost: AtomicU32,
    pub(super) _reserved: Reserved<{ LINE - 12 }>,
}

/// The consumers' line: `head`, the producers' announcements, and the count
/// of holes skipped (written by the consumers that skip them).
#[repr(C)]
pub(crate) struct DequeueLine {
    pub(crate) head: AtomicU32,
    pub(crate) producers_waiting: AtomicU32,
    pub(crate) skipped: AtomicU32,
    pub(super) _reserved: Reserved<{ LINE - 12 }>,
}

/// Everything of an MPMC region before the slots.
#[repr(C)]
pub(crate) struct Control {
    pub(crate) header: Header,
    pub(crate) enqueue: EnqueueLine,
    pub(crate) dequeue: DequeueLine,
}

/// One slot: the stamp, then the item at `max(4, align_of::<T>())`.
/// `repr(C)` pads the item to its alignment and the slot to a multiple of it,
/// which is exactly the documented stride (asserted at compile time).
#[repr(C)]
pub(crate) struct Slot<T> {
    pub(crate) stamp: AtomicU32,
    pub(crate) value: SlotCell<T>,
}

#[cfg(not(ipckit_loom))]
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(Control, header) == 0);
    assert!(offset_of!(Control, enqueue) + offset_of!(EnqueueLine, tail) == 128);
    assert!(offset_of!(Control, enqueue) + offset_of!(EnqueueLine, consumers_waiting) == 132);
    assert!(offset_of!(Control, enqueue) + offset_of!(EnqueueLine, lost) == 136);
    assert!(offset_of!(Control, dequeue) + offset_of!(DequeueLine, head) == 256);
    assert!(offset_of!(Control, dequeue) + offset_of!(DequeueLine, skipped) == 264);
    assert!(offset_of!(Control, dequeue) + offset_of!(DequeueLine, producers_waiting) == 260);
    assert!(size_of::<Control>() == DATA_OFFSET);
    assert!(align_of::<Control>() == 4);
    // The slot table of the module docs, for a few shapes of `T`.
    assert!(offset_of!(Slot<u8>, stamp) == 0);
    assert!(offset_of!(Slot<u8>, value) == 4 && size_of::<Slot<u8>>() == 8);
    assert!(offset_of!(Slot<u16>, value) == 4 && size_of::<Slot<u16>>() == 8);
    assert!(offset_of!(Slot<u32>, value) == 4 && size_of::<Slot<u32>>() == 8);
    assert!(offset_of!(Slot<[u8; 3]>, value) == 4 && size_of::<Slot<[u8; 3]>>() == 8);
    assert!(offset_of!(Slot<[u8; 5]>, value) == 4 && size_of::<Slot<[u8; 5]>>() == 12);
    assert!(offset_of!(Slot<[u32; 3]>, value) == 4 && size_of::<Slot<[u32; 3]>>() == 16);
    assert!(offset_of!(Slot<u64>, value) == value_offset::<u64>());
    assert!(size_of::<Slot<u64>>() == stride::<u64>());
    assert!(stride::<u8>() == 8 && stride::<[u8; 5]>() == 12);
};

/// `max(4, align_of::<T>())`: the alignment of a slot and the offset of its
/// item.
pub(super) const fn slot_align<T>() -> usize {
    let t = align_of::<T>();
    if t > 4 { t } else { 4 }
}

/// Offset of the item inside a slot.
pub(super) const fn value_offset<T>() -> usize {
    slot_align::<T>()
}

/// Bytes from one slot to the next: `round_up(A + size_of::<T>(), A)`.
/// Cannot overflow: `size_of::<T>() <= isize::MAX` and `A <= LINE` for every
/// type [`element`] accepts.
pub(super) const fn stride<T>() -> usize {
    let a = slot_align::<T>();
    (value_offset::<T>() + size_of::<T>()).div_ceil(a) * a
}

/// `(size, align)` of `T` as header words, if `T` can live in a region.
pub(super) const fn element<T>() -> Result<(u32, u32)> {
    let (size, align) = (size_of::<T>(), align_of::<T>());
    if size == 0 || size > u32::MAX as usize || align > LINE {
        return Err(Error::UnsupportedType);
    }
    Ok((size as u32, align as u32))
}

/// `true` for a capacity this ring supports.
pub(super) const fn capacity_ok(capacity: u32) -> bool {
    capacity >= MIN_CAPACITY && capacity <= MAX_CAPACITY && capacity.is_power_of_two()
}

/// Bytes a ring of `capacity` items of `T` occupies.
pub(super) const fn layout_len<T>(capacity: u32) -> Result<usize> {
    if let Err(e) = element::<T>() {
        return Err(e);
    }
    if !capacity_ok(capacity) {
        return Err(Error::InvalidCapacity);
    }
    match stride::<T>().checked_mul(capacity as usize) {
        Some(data) => match data.checked_add(DATA_OFFSET) {
            Some(total) => Ok(total),
            None => Err(Error::InvalidCapacity),
        },
        None => Err(Error::InvalidCapacity),
    }
}

/// The alignment a region's base needs for a ring of `T`.
#[cfg_attr(ipckit_loom, allow(dead_code))] // only `init`/`attach` use it
pub(super) const fn base_align<T>() -> usize {
    slot_align::<T>()
}

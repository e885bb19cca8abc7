//! A data unit with a stamp word: for rings whose slots say, each in its own
//! word, what they are ready for (the MPMC ring's sequence numbers).

use crate::sync::{AtomicU32, SeqCell, SlotCell};

/// One slot: the stamp, then the item at `max(4, align_of::<T>())`.
/// `repr(C)` pads the item to its alignment and the slot to a multiple of
/// it (each ring asserts the stride its layout table gives).
#[repr(C)]
pub struct Stamped<T> {
    pub(crate) stamp: AtomicU32,
    pub(crate) value: SlotCell<T>,
}

#[cfg(ipckit_loom)]
impl<T: bytemuck::Pod + 'static> super::Modelled for Stamped<T> {
    fn modelled() -> Self {
        Stamped {
            stamp: AtomicU32::new(0),
            value: SlotCell::new(T::zeroed()),
        }
    }
}

/// One seqlock slot: the stamp, then a value that readers copy out while
/// its writer may be overwriting it (a seqlock cell); the same bytes as
/// [`Stamped`]. The broadcast ring's unit.
#[repr(C)]
pub struct SeqStamped<T> {
    pub(crate) stamp: AtomicU32,
    pub(crate) value: SeqCell<T>,
}

#[cfg(ipckit_loom)]
impl<T: bytemuck::Pod + 'static> super::Modelled for SeqStamped<T> {
    fn modelled() -> Self {
        SeqStamped {
            stamp: AtomicU32::new(0),
            value: SeqCell::new(),
        }
    }
}

/// `max(4, align_of::<T>())`: the alignment of a stamped slot and the
/// offset of its value.
pub(crate) const fn stamped_align<T>() -> usize {
    let t = core::mem::align_of::<T>();
    if t > 4 { t } else { 4 }
}

/// Bytes from one stamped slot to the next:
/// `round_up(A + size_of::<T>(), A)` with `A = stamped_align::<T>()`.
/// Cannot overflow for any type [`element`](super::element) accepts.
pub(crate) const fn stamped_stride<T>() -> usize {
    let a = stamped_align::<T>();
    (a + core::mem::size_of::<T>()).div_ceil(a) * a
}

//! A data unit with a stamp word: for rings whose slots say, each in its own
//! word, what they are ready for (the MPMC ring's sequence numbers).

use super::{Layout, Placed};
use crate::sync::AtomicU32;

/// One slot: the stamp, then the value cell `V` (a `SlotCell<T>` for the
/// MPMC ring, a `SeqCell<T>` for the broadcast ring, whose readers copy a
/// value out while its writer may overwrite it) at
/// `max(4, align_of::<T>())`. `repr(C)` pads the value to its alignment and
/// the slot to a multiple of it (each ring asserts the stride its layout
/// table gives).
#[repr(C)]
pub struct Stamped<V> {
    pub(crate) stamp: AtomicU32,
    pub(crate) value: V,
}

#[cfg(ipckit_loom)]
impl<V: super::Modelled> super::Modelled for Stamped<V> {
    fn modelled() -> Self {
        Stamped {
            stamp: AtomicU32::new(0),
            value: V::modelled(),
        }
    }
}

/// The slots of a ring of stamped slots.
impl<L, V> Placed<'_, L>
where
    L: Layout<Unit = Stamped<V>>,
{
    /// The slot of position `pos`: always inside the slot array.
    #[inline(always)]
    pub(crate) fn slot(&self, pos: u32) -> *const Stamped<V> {
        let index = (pos & (self.capacity() - 1)) as usize;
        // SAFETY: `index < capacity` (capacities are powers of two), and
        // the ring holds `capacity` slots from `data` on (checked when it
        // was placed).
        unsafe { self.data().add(index) }
    }

    /// The stamp of the slot of position `pos`.
    #[inline(always)]
    pub(crate) fn stamp(&self, pos: u32) -> &AtomicU32 {
        // SAFETY: `slot` is in bounds and aligned and lives as long as the
        // region; the stamp is an atomic, so a shared reference stays sound
        // while other endpoints and peers write it.
        unsafe { &(*self.slot(pos)).stamp }
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

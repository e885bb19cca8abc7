//! A data unit with a stamp word: for rings whose slots say, each in its own
//! word, what they are ready for (the MPMC ring's sequence numbers).

use super::{DataUnit, Layout, Placed, sealed};
use crate::sync::{AtomicU32, MODELLED};

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

impl<V> sealed::Sealed for Stamped<V> {}

/// A stamped slot of `T` is `stamped_stride::<T>()` bytes, its value at
/// `stamped_align::<T>()` (checked for each `T` a ring is placed with).
impl<V: DataUnit> DataUnit for Stamped<V> {
    type Item = V::Item;
    const STRIDE: usize = {
        let (stride, align) = (stamped_stride::<V::Item>(), stamped_align::<V::Item>());
        // The slot table of the rings' docs, for this `T` (loom's atomics
        // and cells have other sizes).
        assert!(MODELLED || core::mem::size_of::<Self>() == stride);
        assert!(MODELLED || core::mem::align_of::<Self>() == align);
        assert!(MODELLED || core::mem::offset_of!(Self, value) == align);
        stride
    };
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

// The slot table of the MPMC and broadcast rings' docs, for a few shapes
// of `T` (with either value cell): the stamp at 0, the value at
// `max(4, align_of::<T>())`, the stride a multiple of that alignment.
// `DataUnit::STRIDE` checks the size, alignment and value offset of every
// `T` a ring is placed with.
super::layout_asserts! {
    use crate::sync::{SeqCell, SlotCell};
    const fn stride<T>() -> usize {
        let stride = <Stamped<SlotCell<T>> as DataUnit>::STRIDE;
        assert!(stride == <Stamped<SeqCell<T>> as DataUnit>::STRIDE);
        stride
    }
    assert!(core::mem::offset_of!(Stamped<SlotCell<u8>>, stamp) == 0);
    assert!(stride::<u8>() == 8 && stride::<u16>() == 8 && stride::<u32>() == 8);
    assert!(stride::<[u8; 3]>() == 8 && stride::<[u8; 5]>() == 12);
    assert!(stride::<[u32; 3]>() == 16);
    assert!(stride::<u64>() == stamped_align::<u64>() + 8); // 12 on i686
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
    super::word_align::<T>()
}

/// Bytes from one stamped slot to the next:
/// `round_up(A + size_of::<T>(), A)` with `A = stamped_align::<T>()`.
/// Cannot overflow for any type [`element`](super::element) accepts.
pub(crate) const fn stamped_stride<T>() -> usize {
    let a = stamped_align::<T>();
    (a + core::mem::size_of::<T>()).div_ceil(a) * a
}

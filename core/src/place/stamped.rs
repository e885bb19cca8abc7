//! A data unit with a stamp word: for rings whose slots say, each in its own
//! word, what they are ready for (the MPMC ring's sequence numbers).

use crate::sync::{AtomicU32, SlotCell};

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

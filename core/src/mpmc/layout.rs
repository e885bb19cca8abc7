//! Where everything of an MPMC ring lies in its region: the control words,
//! the slots and the sizes that follow from the element type (the layout
//! table of the [module docs](super)), as the [`Layout`] the placement
//! layer places the ring by.

use core::marker::PhantomData;

use super::{MAX_CAPACITY, MIN_CAPACITY};
use crate::place::{self, Control, Layout, Options, Stamped, Word};
use crate::region::ObjectKind;
use crate::sync::{AtomicU32, Ordering, SlotCell};

// The producers' line starts with `place::TAIL`, the consumers' line with
// `place::HEAD`.
place::words! {
    /// Consumers about to sleep on a stamp (producers check it).
    pub(super) CONSUMERS_WAITING = (0, 1) at 132;
    /// Items lost with dead consumers (written by the producers that release
    /// their slots, see [`recovery`](super::recovery)).
    pub(super) LOST = (0, 2) at 136;
    /// Producers about to sleep on a stamp (consumers check it).
    pub(super) PRODUCERS_WAITING = (1, 1) at 260;
    /// Holes of dead producers skipped.
    pub(super) SKIPPED = (1, 2) at 264;
}

/// One slot: the stamp, then the item.
pub(crate) type Slot<T> = Stamped<SlotCell<T>>;

// The slot table of the module docs: `place::Stamped`'s, checked there.
place::layout_asserts! {
    assert!(core::mem::size_of::<Control<2>>() == super::DATA_OFFSET);
}

/// The layout of an MPMC ring of `T` (the
/// [table](super#layout-layout-version-1-kind-2)): what [`Ring`](super::Ring)
/// is placed by.
pub struct Stamps<T>(PhantomData<T>);

impl<T> place::sealed::Sealed for Stamps<T> {}

impl<T> Layout for Stamps<T> {
    const KIND: ObjectKind = ObjectKind::Mpmc;
    const MIN_CAPACITY: u32 = MIN_CAPACITY;
    const MAX_CAPACITY: u32 = MAX_CAPACITY;
    const ZEROED_IS_EMPTY: bool = false;
    type Control = Control<2>;
    type Unit = Slot<T>;

    const POSITIONS: &'static [Word] = place::TAIL_AND_HEAD;

    /// The first lap's stamps: positions `start..start + capacity` cover
    /// every slot once, each free for its position.
    // The trait is sealed and only the placement layer calls this, with the
    // data area of `capacity` slots it has just placed.
    #[allow(clippy::not_unsafe_ptr_arg_deref)]
    fn init_data(slots: *const Slot<T>, options: &Options) {
        let start = options.position;
        let mask = options.capacity - 1;
        for i in 0..options.capacity {
            let p = start.wrapping_add(i);
            // SAFETY: `p & mask < capacity`, and the layer placed
            // `capacity` slots from `slots` on (`Layout::init_words`); the
            // stamp is an atomic, so a shared reference is sound.
            let stamp: &AtomicU32 = unsafe { &(*slots.add((p & mask) as usize)).stamp };
            stamp.store(p, Ordering::Relaxed);
        }
    }
}

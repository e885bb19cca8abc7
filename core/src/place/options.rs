//! How a ring is created: the one `Options` every ring re-exports.

/// How a ring is created: capacity, start position and wake mode.
///
/// The capacity counts the ring's units: items for [`spsc`](crate::spsc),
/// bytes of the data area for [`frame::spsc`](crate::frame::spsc).
///
/// ```
/// use ipckit_core::{spsc, AlignedBytes, Region};
///
/// let mut bytes = AlignedBytes::<1024>::new();
/// let options = spsc::Options::new(16).start_at(u32::MAX - 3).waking(false);
/// let ring = spsc::Ring::<u32>::init_with(Region::from_slice(&mut bytes[..]), options)?;
/// assert_eq!(ring.capacity(), 16);
/// assert!(!ring.wakes());
/// # Ok::<(), ipckit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub(crate) capacity: u32,
    pub(crate) position: u32,
    pub(crate) wakes: bool,
}

impl Options {
    /// A ring of `capacity` units, positions starting at 0, spinning
    /// waiters.
    pub const fn new(capacity: u32) -> Self {
        Self {
            capacity,
            position: 0,
            wakes: false,
        }
    }

    /// Starts both positions at `position`: tests start next to `u32::MAX`
    /// so that the wrap is exercised rather than assumed. A frame ring
    /// needs a multiple of its record alignment
    /// ([`Error::InvalidCapacity`](crate::Error::InvalidCapacity)
    /// otherwise).
    pub const fn start_at(self, position: u32) -> Self {
        Self { position, ..self }
    }

    /// `true`: waiters sleep (futex, RTOS) and endpoints must use a waking
    /// [`Notify`](crate::wait::Notify) (`N::WAKES`); `false` (the default):
    /// waiters spin, and endpoints use a non-waking notifier such as
    /// [`Spin`](crate::wait::Spin).
    pub const fn waking(self, wakes: bool) -> Self {
        Self { wakes, ..self }
    }

    /// The capacity asked for.
    pub const fn capacity(&self) -> u32 {
        self.capacity
    }

    /// The header's `flags` word for these options.
    pub(crate) const fn flags(&self) -> u32 {
        if self.wakes {
            crate::region::FLAG_WAKES
        } else {
            0
        }
    }
}

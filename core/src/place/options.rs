//! How a ring is created: the one `Options` every ring re-exports.

/// How a ring is created: capacity, start position and wake mode (and,
/// for the [`broadcast`](crate::broadcast) ring only, its subscriber table
/// and [`Policy`]).
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
    /// Entries of the subscriber table (broadcast ring only; 0: none).
    pub(crate) table: u32,
    pub(crate) policy: Policy,
    /// Bytes per slot (broadcast frame ring only; 0: none).
    pub(crate) slot_size: u32,
}

/// What a [`broadcast`](crate::broadcast) publisher does when the slowest
/// subscriber is a whole ring behind, recorded in the header's `flags`
/// ([`FLAG_RELIABLE`]): a build that does not know a policy refuses the
/// ring on attach.
///
/// ```
/// use ipckit_core::broadcast::{Options, Policy};
///
/// let options = Options::new(8).subscribers(4).policy(Policy::Reliable);
/// assert_eq!(options.get_policy(), Policy::Reliable);
/// assert_eq!(Options::new(8).get_policy(), Policy::Lossy);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// The publisher never waits; a subscriber a lap behind loses the
    /// oldest items and is told how many (`Error::Lagged`).
    #[default]
    Lossy,
    /// Back-pressure: the publisher waits (or fails with `Error::Full`)
    /// until the slowest active table member has read the oldest item.
    Reliable,
}

/// The header `flags` bit of a [`Policy::Reliable`] broadcast ring.
pub const FLAG_RELIABLE: u32 = 1 << 1;

impl Options {
    /// A ring of `capacity` units, positions starting at 0, spinning
    /// waiters.
    pub const fn new(capacity: u32) -> Self {
        Self {
            capacity,
            position: 0,
            wakes: false,
            table: 0,
            policy: Policy::Lossy,
            slot_size: 0,
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

    /// Broadcast ring only: a table of `entries` subscriber entries (one
    /// [`LINE`](crate::region::LINE) each, after the slots), fixed at
    /// creation; 0 (the default) for none. Other rings refuse a table
    /// ([`Error::InvalidCapacity`](crate::Error::InvalidCapacity)).
    pub const fn subscribers(self, entries: u32) -> Self {
        Self {
            table: entries,
            ..self
        }
    }

    /// Broadcast ring only: the [`Policy`] (lossy by default). A reliable
    /// ring needs a table ([`subscribers`](Self::subscribers)).
    pub const fn policy(self, policy: Policy) -> Self {
        Self { policy, ..self }
    }

    /// Broadcast frame ring only: bytes per slot (a power of two, at least
    /// 16 and at most half the capacity; a frame holds up to `slot_size -
    /// 8` bytes). Other rings refuse it
    /// ([`Error::InvalidCapacity`](crate::Error::InvalidCapacity)).
    pub const fn slot_size(self, slot_size: u32) -> Self {
        Self { slot_size, ..self }
    }

    /// The slot size asked for (0: none).
    pub const fn get_slot_size(&self) -> u32 {
        self.slot_size
    }

    /// The policy asked for.
    pub const fn get_policy(&self) -> Policy {
        self.policy
    }

    /// The subscriber-table entries asked for.
    pub const fn table(&self) -> u32 {
        self.table
    }

    /// The capacity asked for.
    pub const fn capacity(&self) -> u32 {
        self.capacity
    }

    /// The header's `flags` word for these options.
    pub(crate) const fn flags(&self) -> u32 {
        let wakes = if self.wakes {
            crate::region::FLAG_WAKES
        } else {
            0
        };
        match self.policy {
            Policy::Lossy => wakes,
            Policy::Reliable => wakes | FLAG_RELIABLE,
        }
    }
}

//! What the broadcast protocol needs of a ring, so that it is written once
//! for the ring of `T: Pod` items and the ring of byte frames: the number
//! of slots, the stamp of a position's slot, the control words and the
//! subscriber table. The data itself (an item, a frame) is each ring's.

use super::{FLAG_RELIABLE, Policy, Ring, TAIL};
use crate::error::{Error, Result};
use crate::place::{Line, Word};
use crate::sync::{AtomicU32, Ordering};

/// A broadcast ring as the shared protocol sees it (sealed by being
/// crate-private): the Pod ring and the frame ring implement it. (The
/// table's methods serve the table, which needs compare-and-swap.)
#[cfg_attr(not(ipckit_cas), allow(dead_code))]
pub(crate) trait Access: Clone {
    /// Control word `word`.
    fn word(&self, word: Word) -> &AtomicU32;
    /// The number of slots (a power of two, at least 2): a lap.
    fn slots(&self) -> u32;
    /// The stamp of the slot of position `pos` (masked into the ring).
    fn stamp(&self, pos: u32) -> &AtomicU32;
    /// Subscriber-table entries (validated when the ring was placed).
    fn table_len(&self) -> u32;
    /// Table entry `index`, if it exists.
    fn table_line(&self, index: u32) -> Option<&Line>;
    /// The header's `flags` (validated when the ring was placed).
    fn flags(&self) -> u32;

    /// `true` for a [`Policy::Reliable`] ring.
    fn reliable(&self) -> bool {
        self.flags() & FLAG_RELIABLE != 0
    }

    /// The ring's policy, as its header records it.
    fn policy(&self) -> Policy {
        if self.reliable() {
            Policy::Reliable
        } else {
            Policy::Lossy
        }
    }

    /// [`Error::PolicyMismatch`] unless the ring has `policy`.
    fn expect_policy(&self, policy: Policy) -> Result<()> {
        if self.policy() != policy {
            return Err(Error::PolicyMismatch);
        }
        Ok(())
    }

    /// The publisher's position now.
    fn tail(&self) -> u32 {
        self.word(TAIL).load(Ordering::Acquire)
    }

    /// Table entry `index`, or [`Error::OutOfRange`].
    fn entry(&self, index: u32) -> Result<&Line> {
        self.table_line(index).ok_or(Error::OutOfRange {
            end: index as usize + 1,
            len: self.table_len() as usize,
        })
    }
}

impl<T> Access for Ring<'_, T> {
    #[inline(always)]
    fn word(&self, word: Word) -> &AtomicU32 {
        Ring::word(self, word)
    }

    #[inline(always)]
    fn slots(&self) -> u32 {
        self.capacity()
    }

    #[inline(always)]
    fn stamp(&self, pos: u32) -> &AtomicU32 {
        Ring::stamp(self, pos)
    }

    fn table_len(&self) -> u32 {
        Ring::table_len(self)
    }

    fn table_line(&self, index: u32) -> Option<&Line> {
        Ring::table_line(self, index)
    }

    fn flags(&self) -> u32 {
        Ring::flags(self)
    }
}

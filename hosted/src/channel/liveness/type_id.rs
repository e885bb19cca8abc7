//! The message type id of the block ([`TYPE_ID_AT`]): stated by the first
//! typed endpoint, compared by every later one.

use std::sync::atomic::Ordering;

use super::{Block, TYPE_ID_AT};

impl Block {
    /// States `id` as the channel's message type id: stores it if the
    /// field is still 0 (compare-and-swap), accepts it if the field holds
    /// it already, and returns the different id found otherwise. `id` 0
    /// opts out: nothing is read or written.
    ///
    /// The field is peer-writable: it is loaded once (the compare-and-swap's
    /// result) and only compared, so a hostile value can make this side
    /// refuse the channel and nothing else.
    pub(crate) fn state_type_id(&self, id: u64) -> Result<(), u64> {
        if id == 0 {
            return Ok(());
        }
        match self
            .u64_at(TYPE_ID_AT)
            .compare_exchange(0, id, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok(()),
            Err(found) if found == id => Ok(()),
            Err(found) => Err(found),
        }
    }

    /// The message type id the channel records (0: none stated), as read
    /// now: for display, never trusted for anything else.
    pub(crate) fn type_id(&self) -> u64 {
        self.u64_at(TYPE_ID_AT).load(Ordering::Acquire)
    }
}

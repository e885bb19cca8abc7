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

/// 64-bit FNV-1a of `name`'s bytes, never 0 (a hash of 0 becomes 1, so a
/// name never opts out): an id to state in a typed channel's
/// `MessageType`, and a topic's id of its item type, which a C peer
/// computes alike (offset basis `0xcbf29ce484222325`, prime
/// `0x100000001b3`).
///
/// ```
/// use ipckit::channel::liveness::type_id_of;
/// assert_eq!(type_id_of(""), 0xcbf2_9ce4_8422_2325);
/// assert_eq!(type_id_of("a"), 0xaf63_dc4c_8601_ec8c);
/// ```
pub const fn type_id_of(name: &str) -> u64 {
    let bytes = name.as_bytes();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    if hash == 0 { 1 } else { hash }
}

/// The default id: [`type_id_of`] of [`std::any::type_name`] of `T`.
///
/// ```
/// use ipckit::channel::liveness::{type_id_of, type_path_id};
/// assert_eq!(type_path_id::<Vec<u8>>(), type_id_of(std::any::type_name::<Vec<u8>>()));
/// ```
pub fn type_path_id<T: ?Sized>() -> u64 {
    type_id_of(std::any::type_name::<T>())
}

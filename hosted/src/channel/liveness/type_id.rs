//! The message type id of the block ([`TYPE_ID_AT`]): stated by the first
//! typed endpoint, compared by every later one.

use std::sync::atomic::Ordering;

use super::{Block, TYPE_ID_AT};
use crate::error::{Error, Result};

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

    /// [`state_type_id`](Self::state_type_id), a different id found being
    /// [`Error::TypeMismatch`] naming `channel` and both ids.
    pub(crate) fn state_type_id_of(&self, id: u64, channel: impl FnOnce() -> String) -> Result<()> {
        self.state_type_id(id)
            .map_err(|theirs| Error::TypeMismatch {
                channel: channel(),
                ours: id,
                theirs,
            })
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
    let hash = fnv1a(FNV_OFFSET_BASIS, name.as_bytes());
    if hash == 0 { 1 } else { hash }
}

/// The 64-bit FNV-1a offset basis.
const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// 64-bit FNV-1a continued from `hash` over `bytes`.
pub(crate) const fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The default message type id of a channel or topic of the `Pod` type
/// `T` (the SPSC and MPMC item channels, pub/sub topics): the 64-bit
/// FNV-1a of [`std::any::type_name`] of `T` followed by `T`'s size and
/// alignment, each as 8 little-endian bytes; a result of 0 becomes 1.
/// `docs/LAYOUT.md` §12 spells it out for a C peer. A builder's
/// `type_id(id)` states another (0: none).
///
/// ```
/// use ipckit::channel::liveness::{pod_type_id, type_id_of};
/// // Same size and alignment, different paths: different ids.
/// assert_ne!(pod_type_id::<[u8; 8]>(), pod_type_id::<u64>());
/// assert_ne!(pod_type_id::<u64>(), type_id_of("u64"));
/// assert_eq!(pod_type_id::<u64>(), 0xaf4c_548b_cc96_4472);
/// ```
pub fn pod_type_id<T>() -> u64 {
    let size = (std::mem::size_of::<T>() as u64).to_le_bytes();
    let align = (std::mem::align_of::<T>() as u64).to_le_bytes();
    let hash = fnv1a(FNV_OFFSET_BASIS, std::any::type_name::<T>().as_bytes());
    fnv1a(fnv1a(hash, &size), &align).max(1)
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

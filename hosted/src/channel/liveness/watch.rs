//! Waiting that hears of a peer's close at once: a blocked endpoint sleeps
//! on the ring's word *and* on the state words of the other side's slots
//! (`futex_waitv`), and a closing endpoint wakes its state word.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ipckit_core::wait::WaitStatus;

use super::slot::SlotState;
use super::{Block, MAX_ENDPOINTS};
use crate::error::{CoreError, Role};
use crate::futex::{WaitEntry, plain_wait, wait_any};

/// The waits of one channel endpoint: the core ring's futex word, plus
/// the state word of every slot of the other side (`peer`).
///
/// A wait first reads the peer slots' state words: if at least one is
/// closed and none is claiming or active, every peer closed, and the wait
/// fails at once with [`CoreError::PeerGone`] (the hosted blocking loop
/// then drains what is queued before it reports `PeerGone`). Otherwise it
/// sleeps in `futex_waitv` on the ring's word and on each peer state word
/// with the value just read. A closing endpoint stores *closed* in its
/// state word and then wakes it ([`Block::close`]): either the store comes
/// before the kernel compares the words (the wait returns at once), or the
/// wake comes after the sleeper is queued. Either way the sleeper re-checks
/// within microseconds; no wake-up is lost.
///
/// A peer that dies without closing leaves its slot active: this wait does
/// not see that (the death watcher or the liveness slices do).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerWatch {
    block: Block,
    peer: Role,
}

/// Room for the ring's word, every peer slot, and one more word.
const ENTRIES: usize = MAX_ENDPOINTS as usize + 2;

impl PeerWatch {
    /// Watches the slots of `peer` in `block`.
    pub(crate) fn new(block: Block, peer: Role) -> Self {
        Self { block, peer }
    }

    /// Blocks while `word` holds `expected` and no peer slot changes, for
    /// at most `timeout`; `Err(PeerGone)` at once if every peer closed.
    pub(crate) fn wait(
        &self,
        word: &AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
    ) -> ipckit_core::Result<WaitStatus> {
        let mut entries = [WaitEntry::EMPTY; ENTRIES];
        entries[0] = WaitEntry::shared(word, expected);
        let mut n = 1;
        let (mut closed, mut held) = (false, false);
        // `slots` is this build's constant for the kind (1 or 64), never
        // read from the region.
        for i in 0..self.block.slots().min(MAX_ENDPOINTS) {
            let state = self.block.u32_at(self.block.slot_at(self.peer, i));
            let seen = state.load(Ordering::Acquire);
            match SlotState::from_word(seen) {
                SlotState::Free => {}
                SlotState::Closed => closed = true,
                SlotState::Claiming | SlotState::Active => held = true,
            }
            entries[n] = WaitEntry::shared(state, seen);
            n += 1;
        }
        if closed && !held {
            return Err(CoreError::PeerGone);
        }
        // SAFETY: every entry names a live, aligned atomic: `word` is
        // borrowed for this call, and the state words lie in the liveness
        // block, which the endpoint owning this notifier keeps mapped.
        match unsafe { wait_any(&entries[..n], timeout) } {
            Some(status) => status,
            // No `futex_waitv`: a close is noticed at the next slice.
            None => plain_wait(word, expected, timeout),
        }
    }
}

//! The block: a view of the shared words, its header, and the slots'
//! claims, closes and judgements.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

use super::slot::{GENERATION_SHIFT, STATE_MASK, SlotSnapshot, SlotState, word, word_pid};
use super::{
    CONSUMERS_AT, LIVENESS_LEN, LIVENESS_MAGIC, LIVENESS_VERSION, MAX_ENDPOINTS, PRODUCERS_AT,
    ProcessId, SLOT_LEN,
};
use crate::channel::process::pid_runs;
use crate::error::{CoreError, Result, Role};

/// A view of a liveness block inside a mapping.
///
/// Holds a raw pointer: whoever keeps a `Block` keeps the mapping alive for
/// as long (every channel endpoint owns both; a clone, for an endpoint's
/// `try_clone`, is kept under the same rule). A copy is another view of
/// the same words; closing a slot is [`Membership`]'s business.
///
/// [`Membership`]: super::Membership
#[derive(Debug, Clone, Copy)]
pub(crate) struct Block {
    pub(super) base: NonNull<u8>,
    pub(super) slots: u32,
}

// SAFETY: the block is shared memory accessed only through atomics.
unsafe impl Send for Block {}
// SAFETY: as above.
unsafe impl Sync for Block {}

impl Block {
    /// # Safety
    /// `base..base + LIVENESS_LEN` is a live, 8-byte-aligned mapping for as
    /// long as the `Block` (and everything borrowed from it) is used.
    pub(crate) unsafe fn new(base: NonNull<u8>, slots: u32) -> Self {
        Self { base, slots }
    }

    #[inline]
    pub(super) fn u32_at(&self, off: usize) -> &AtomicU32 {
        debug_assert!(off + 4 <= LIVENESS_LEN && off % 4 == 0);
        // SAFETY: `off` is an aligned offset inside the block (all callers
        // use the constants of the layout), which is live while `self` is
        // (constructor contract); shared memory is only accessed atomically.
        unsafe { &*self.base.as_ptr().add(off).cast::<AtomicU32>() }
    }

    pub(super) fn u64_at(&self, off: usize) -> &AtomicU64 {
        debug_assert!(off + 8 <= LIVENESS_LEN && off % 8 == 0);
        // SAFETY: as in `u32_at`; the block base is page-aligned, `off` a
        // multiple of 8.
        unsafe { &*self.base.as_ptr().add(off).cast::<AtomicU64>() }
    }

    /// Writes a fresh block. Called by the creator before it publishes the
    /// ring's header, whose `Release` publication orders these stores before
    /// any opener's `Acquire` validation of that header.
    pub(crate) fn init(&self) {
        self.u32_at(0).store(LIVENESS_MAGIC, Ordering::Relaxed);
        self.u32_at(4).store(LIVENESS_VERSION, Ordering::Relaxed);
        self.u32_at(8).store(self.slots, Ordering::Relaxed);
    }

    /// Checks magic, version and the number of slots a kind needs.
    pub(crate) fn validate(&self) -> Result<()> {
        let magic = self.u32_at(0).load(Ordering::Acquire);
        let version = self.u32_at(4).load(Ordering::Relaxed);
        let slots = self.u32_at(8).load(Ordering::Relaxed);
        if magic != LIVENESS_MAGIC {
            return Err(CoreError::Corrupted("liveness block magic").into());
        }
        if version != LIVENESS_VERSION {
            return Err(CoreError::VersionMismatch {
                found: version,
                expected: LIVENESS_VERSION,
            }
            .into());
        }
        if slots != self.slots {
            return Err(CoreError::Corrupted("liveness block slot count").into());
        }
        Ok(())
    }

    /// The slots per side recorded in the block (for tools), if valid.
    pub(crate) fn recorded_slots(&self) -> Option<u32> {
        (self.u32_at(0).load(Ordering::Acquire) == LIVENESS_MAGIC
            && self.u32_at(4).load(Ordering::Relaxed) == LIVENESS_VERSION)
            .then(|| self.u32_at(8).load(Ordering::Relaxed))
            .filter(|&n| n == 1 || n == MAX_ENDPOINTS)
    }

    pub(crate) fn slots(&self) -> u32 {
        self.slots
    }

    #[inline]
    pub(super) fn slot_at(&self, role: Role, i: u32) -> usize {
        debug_assert!(i < self.slots);
        let side = match role {
            Role::Producer => PRODUCERS_AT,
            Role::Consumer => CONSUMERS_AT,
        };
        side + i as usize * SLOT_LEN
    }

    pub(crate) fn snapshot(&self, role: Role, i: u32) -> SlotSnapshot {
        let at = self.slot_at(role, i);
        let word = self.u32_at(at).load(Ordering::Acquire);
        let start_time = self.u64_at(at + 8).load(Ordering::Relaxed);
        // A seqlock read: the fence keeps the start time's load before the
        // second load of the word, which pairs with the claimant's fence
        // after its compare-and-swap (`claim_from`).
        fence(Ordering::Acquire);
        let again = self.u32_at(at).load(Ordering::Relaxed);
        SlotSnapshot {
            word,
            state: Some(SlotState::from_word(word)),
            holder: ProcessId {
                pid: word_pid(word),
                start_time,
            },
            torn: again != word,
        }
    }

    /// Records `me` in slot `i` if its state word still is `seen`; returns
    /// the new active word, or `None` if someone else changed it. `me.pid`
    /// is below [`PID_LIMIT`](super::slot::PID_LIMIT) (the callers check).
    ///
    /// From the compare-and-swap on, the word names `me`: a kill between
    /// any two of these stores leaves a slot judged by our pid.
    pub(super) fn claim_from(&self, role: Role, i: u32, seen: u32, me: ProcessId) -> Option<u32> {
        let at = self.slot_at(role, i);
        let generation = (seen >> GENERATION_SHIFT).wrapping_add(1) & 0xff;
        let claiming = word(generation, me.pid, SlotState::Claiming);
        self.u32_at(at)
            .compare_exchange(seen, claiming, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        // Orders the claiming word before the start time (the writer's half
        // of the seqlock read in `snapshot`).
        fence(Ordering::Release);
        self.u32_at(at + 4).store(0, Ordering::Relaxed);
        self.u64_at(at + 8).store(me.start_time, Ordering::Relaxed);
        let active = word(generation, me.pid, SlotState::Active);
        self.u32_at(at).store(active, Ordering::Release);
        // A peer asleep with no one to watch learns of us (and watches us
        // from now on: see `PeerWatch`).
        crate::futex::wake_all_shared(self.u32_at(at));
        Some(active)
    }

    /// Closes slot `i` if it still holds our `active` word (pid and
    /// generation stay, for `ls`), then wakes every waiter of the state
    /// word: a peer blocked in the channel watches it (see
    /// [`PeerWatch`](super::PeerWatch)) and returns `PeerGone` at once.
    pub(super) fn close(&self, role: Role, i: u32, active: u32) {
        let at = self.slot_at(role, i);
        let closed = (active & !STATE_MASK) | SlotState::Closed.code();
        let word = self.u32_at(at);
        if word
            .compare_exchange(active, closed, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            crate::futex::wake_all_shared(word);
        }
    }

    /// Whether every endpoint of `role` closed, judged from the state
    /// words alone (no `/proc`, no system call): `true` when at least one
    /// slot is closed and none is claiming or active. A holder that died
    /// without closing keeps its slot active: only [`gone`](Self::gone)
    /// tells that.
    #[inline]
    pub(crate) fn all_closed(&self, role: Role) -> bool {
        let mut closed = false;
        for i in 0..self.slots {
            let word = self.u32_at(self.slot_at(role, i)).load(Ordering::Acquire);
            match SlotState::from_word(word) {
                SlotState::Free => {}
                SlotState::Closed => closed = true,
                SlotState::Claiming | SlotState::Active => return false,
            }
        }
        closed
    }

    /// Whether every endpoint of `role` is gone: `Some(pid)` (a dead
    /// holder's pid, or `None` if all closed) when at least one endpoint of
    /// `role` ever existed and none is alive now; `None` while one lives or
    /// none ever came.
    pub(crate) fn gone(&self, role: Role) -> Option<Option<u32>> {
        let me = std::process::id();
        let mut seen_any = false;
        let mut dead_pid = None;
        for i in 0..self.slots {
            let s = self.snapshot(role, i);
            if s.alive(me) {
                return None;
            }
            match s.state {
                Some(SlotState::Active) | Some(SlotState::Claiming) => {
                    seen_any = true;
                    dead_pid = Some(s.holder.pid);
                }
                Some(SlotState::Closed) => seen_any = true,
                _ => {}
            }
        }
        seen_any.then_some(dead_pid)
    }

    /// How many slots of `role` ever held an endpoint (claiming, active or
    /// closed), from the state words alone: the endpoints of `role` that
    /// have joined the channel, at most the slots per side.
    pub(crate) fn joined(&self, role: Role) -> u32 {
        let held = |i: &u32| {
            let word = self.u32_at(self.slot_at(role, *i)).load(Ordering::Acquire);
            SlotState::from_word(word) != SlotState::Free
        };
        (0..self.slots).filter(held).count() as u32
    }

    /// `true` while an endpoint of `role` is counted alive (see
    /// [`SlotSnapshot::alive`]).
    pub(crate) fn any_alive(&self, role: Role) -> bool {
        let me = std::process::id();
        (0..self.slots).any(|i| self.snapshot(role, i).alive(me))
    }

    /// Whether the process `pid`, named as the writer of a record, may still
    /// write to the channel through an endpoint of `role`.
    ///
    /// `true` if a slot recording `pid` is counted alive, or if any slot was
    /// read torn or holds an unknown state (judge again later). `false` if
    /// slots record `pid` and all of them are closed or hold a dead process.
    /// If no slot records `pid` (its slot was reused after it closed or
    /// died, or the writer never registered), the process itself decides:
    /// alive while `/proc/<pid>` shows a running process or `kill(pid, 0)`
    /// finds one (a reused pid therefore counts as alive: never call a live
    /// writer dead).
    pub(crate) fn writer_alive(&self, role: Role, pid: u32) -> bool {
        let me = std::process::id();
        let mut recorded = false;
        for i in 0..self.slots {
            let s = self.snapshot(role, i);
            if s.torn || s.state.is_none() {
                return true;
            }
            if s.holder.pid == pid && s.state != Some(SlotState::Free) {
                if s.alive(me) {
                    return true;
                }
                recorded = true;
            }
        }
        !recorded && pid_runs(pid)
    }
}

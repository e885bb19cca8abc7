//! The liveness block: who holds each endpoint of a channel, and whether
//! that process still lives.
//!
//! # Layout (liveness version 2)
//! One 4096-byte block at [`liveness_offset`](super::liveness_offset) of
//! the channel object, after the core region (see the [channel
//! docs](super#object-layout)). All words are little-endian on every
//! platform ipckit supports, written with atomics.
//!
//! | offset | width | field | meaning |
//! |-------:|------:|-------|---------|
//! | 0      | u32   | magic | `"IPCL"` ([`LIVENESS_MAGIC`]) |
//! | 4      | u32   | version | [`LIVENESS_VERSION`] (2) |
//! | 8      | u32   | slots per side | 1 for SPSC kinds, [`MAX_ENDPOINTS`] (64) for MPMC and MPSC |
//! | 12     | 52 B  | reserved, zero | |
//! | 64     | 64 × 16 B | producer slots | senders |
//! | 1088   | 64 × 16 B | consumer slots | receivers |
//! | 2112   | 64 × 8 B | producer intents | one [`Intent`] per producer slot |
//! | 2624   | 64 × 8 B | consumer intents | one [`Intent`] per consumer slot |
//! | 3136   | 960 B | reserved, zero | |
//!
//! A slot is 16 bytes:
//!
//! | offset | width | field |
//! |-------:|------:|-------|
//! | 0      | u32   | state word (below) |
//! | 4      | u32   | reserved, zero |
//! | 8      | u64   | the holder's start time: field 22 of `/proc/<pid>/stat`, clock ticks since boot |
//!
//! The state word names the slot's state *and* its holder, so that no
//! instant exists at which a slot is taken by nobody-knows-who:
//!
//! | bits | field |
//! |-----:|-------|
//! | 0..2   | the [`SlotState`]: 0 free, 1 claiming, 2 active, 3 closed |
//! | 2..24  | the holder's pid (Linux pids are below `pid_max` ≤ 2^22); kept after it closes, for `ls` |
//! | 24..32 | a generation that every claim increments (wrapping), so that a compare-and-swap on the word cannot succeed on a slot that was meanwhile claimed again (no ABA short of 256 claims by the same pid) |
//!
//! An intent (two `u32`: position, span) is where the endpoint of that slot
//! announces the position it is about to claim in the ring, before its
//! compare-and-swap (see [`ipckit_core::intent`]): a survivor that finds a
//! claimed, unfinished position reads the intents to learn whether a dead
//! endpoint made the claim (`Block::attribute`). Version 1 had no intents.
//! Where a survivor relies on them (the MPSC byte channel's receiver), a
//! dead holder's slot whose intent still announces a claim is not reused
//! until the survivor has resolved the claim and cleared the intent
//! (`Block::release_stale_intents`): a new holder would overwrite the
//! only record of who made it.
//!
//! # Why pid and start time, not a pidfd
//! The record must be readable by *any* process: the peer, a process that
//! takes over a role, `ipckit ls`. A pidfd is a descriptor, private to the
//! process that opened it; it cannot be stored in shared memory, and a
//! later process could only get one from the pid, which is exactly the pid
//! reuse problem again. The pair (pid, start time) names one process for the
//! lifetime of the boot: a reused pid has a later start time. A process is
//! alive if `/proc/<pid>/stat` exists, is not a zombie (`Z`, `X`), and shows
//! the recorded start time; if `/proc` hides it (`hidepid`) but `kill(pid,
//! 0)` finds it, it is counted alive (never declare a live peer dead).
//! Limit: pids are those of the reader's pid namespace; processes in
//! different pid namespaces cannot judge each other.
//!
//! # Protocol
//! Claiming a slot: compare-and-swap the state word from free or closed
//! (or, for a take-over, from active or claiming with a dead holder) to
//! *claiming* with our pid and the next generation; then store the start
//! time; then store *active* (same pid and generation) with `Release`.
//! Closing (drop): compare-and-swap from our exact active word to *closed*
//! (pid and generation kept). A reader loads the state word with
//! `Acquire`, then the start time, then (after an `Acquire` fence) the word
//! again, and counts a slot that changed meanwhile as alive.
//!
//! A slot is alive while its holder is: an *active* slot by pid and start
//! time (a reused pid has a later start time); a *claiming* slot, whose
//! start time may not be written yet, by pid alone (alive while some
//! process has that pid). A process killed between the two stores of a
//! claim therefore leaves a slot that is judged dead once the pid is gone,
//! and can be taken over.
//!
//! A single-endpoint role (the SPSC kinds' producer and consumer, the MPSC
//! byte channel's consumer) takes its slot *before* the core's claim of
//! the role and gives it back *after* it: a holder killed at any instant
//! is named by the slot (see the [channel docs](super#dead-peers)).

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

use ipckit_core::intent::{Attribution, Intent};

#[cfg(test)]
mod tests;

pub use super::process::ProcessId;
use super::process::pid_runs;
use crate::error::{CoreError, Error, Result, Role};

/// `"IPCL"`: the liveness block's magic number.
pub const LIVENESS_MAGIC: u32 = u32::from_le_bytes(*b"IPCL");
/// The liveness block layout this build writes and reads.
pub const LIVENESS_VERSION: u32 = 2;
/// The size of the liveness block in bytes.
pub const LIVENESS_LEN: usize = 4096;
/// The most endpoints of one side (senders or receivers) a multi-endpoint
/// channel records.
pub const MAX_ENDPOINTS: u32 = 64;

const SLOT_LEN: usize = 16;
const PRODUCERS_AT: usize = 64;
const CONSUMERS_AT: usize = PRODUCERS_AT + MAX_ENDPOINTS as usize * SLOT_LEN;
const INTENT_LEN: usize = 8;
const PRODUCER_INTENTS_AT: usize = CONSUMERS_AT + MAX_ENDPOINTS as usize * SLOT_LEN;
const CONSUMER_INTENTS_AT: usize = PRODUCER_INTENTS_AT + MAX_ENDPOINTS as usize * INTENT_LEN;
const _: () = {
    assert!(PRODUCER_INTENTS_AT == 2112);
    assert!(CONSUMER_INTENTS_AT == 2624);
    assert!(CONSUMER_INTENTS_AT + MAX_ENDPOINTS as usize * INTENT_LEN <= LIVENESS_LEN);
    assert!(core::mem::size_of::<Intent>() == INTENT_LEN);
};

/// What an endpoint slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlotState {
    /// Never used.
    Free,
    /// A process is recording itself: the state word names its pid, its
    /// start time may not be written yet (alive while the pid runs).
    Claiming,
    /// Held by the recorded process (alive or not: see
    /// [`EndpointInfo::alive`](super::EndpointInfo::alive)).
    Active,
    /// Its holder closed it (dropped the endpoint).
    Closed,
}

impl SlotState {
    fn from_word(word: u32) -> Self {
        match word & STATE_MASK {
            0 => SlotState::Free,
            1 => SlotState::Claiming,
            2 => SlotState::Active,
            _ => SlotState::Closed,
        }
    }

    fn code(self) -> u32 {
        match self {
            SlotState::Free => 0,
            SlotState::Claiming => 1,
            SlotState::Active => 2,
            SlotState::Closed => 3,
        }
    }
}

const STATE_MASK: u32 = 0b11;
const PID_SHIFT: u32 = 2;
/// Pids are below this (Linux: `pid_max` is at most 2^22).
const PID_LIMIT: u32 = 1 << 22;
const GENERATION_SHIFT: u32 = 24;

/// The state word of a slot (module docs): `pid < PID_LIMIT`, `generation`
/// taken modulo 256.
fn word(generation: u32, pid: u32, state: SlotState) -> u32 {
    debug_assert!(pid < PID_LIMIT);
    (generation << GENERATION_SHIFT) | (pid << PID_SHIFT) | state.code()
}

/// The pid a state word names.
fn word_pid(word: u32) -> u32 {
    (word >> PID_SHIFT) & (PID_LIMIT - 1)
}

/// One slot as read at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotSnapshot {
    pub(crate) word: u32,
    pub(crate) state: Option<SlotState>,
    pub(crate) holder: ProcessId,
    /// The state word changed while pid and start time were read.
    pub(crate) torn: bool,
}

impl SlotSnapshot {
    /// Counted alive: torn, active with a live holder (pid and start time),
    /// or claiming with a running pid (its start time may not be written
    /// yet). `me` is this process's pid, alive by definition.
    pub(crate) fn alive(&self, me: u32) -> bool {
        if self.torn {
            return true;
        }
        match self.state {
            Some(SlotState::Free) | Some(SlotState::Closed) => false,
            Some(SlotState::Active) => self.holder.pid == me || self.holder.is_alive(),
            Some(SlotState::Claiming) | None => self.holder.pid == me || pid_runs(self.holder.pid),
        }
    }

    /// Held (active or claiming) by a process found dead: what a take-over
    /// may take.
    pub(crate) fn held_by_dead(&self, me: u32) -> bool {
        matches!(
            self.state,
            Some(SlotState::Active) | Some(SlotState::Claiming)
        ) && !self.alive(me)
    }
}

/// A view of a liveness block inside a mapping.
///
/// Holds a raw pointer: whoever keeps a `Block` keeps the mapping alive for
/// as long (every channel endpoint owns both).
#[derive(Debug)]
pub(crate) struct Block {
    base: NonNull<u8>,
    slots: u32,
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

    fn u32_at(&self, off: usize) -> &AtomicU32 {
        debug_assert!(off + 4 <= LIVENESS_LEN && off % 4 == 0);
        // SAFETY: `off` is an aligned offset inside the block (all callers
        // use the constants of the layout), which is live while `self` is
        // (constructor contract); shared memory is only accessed atomically.
        unsafe { &*self.base.as_ptr().add(off).cast::<AtomicU32>() }
    }

    fn u64_at(&self, off: usize) -> &AtomicU64 {
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

    fn slot_at(&self, role: Role, i: u32) -> usize {
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

    /// The intent of slot `i` of `role`.
    pub(crate) fn intent(&self, role: Role, i: u32) -> &Intent {
        debug_assert!(i < self.slots);
        let side = match role {
            Role::Producer => PRODUCER_INTENTS_AT,
            Role::Consumer => CONSUMER_INTENTS_AT,
        };
        let off = side + i as usize * INTENT_LEN;
        // SAFETY: `off` is a 4-aligned offset inside the block (the layout
        // constants, `i < slots <= MAX_ENDPOINTS`), which is live while
        // `self` is; `Intent` is two atomics, sound to share with peers.
        unsafe { &*self.base.as_ptr().add(off).cast::<Intent>() }
    }

    /// Who made the claim of `position` that a survivor found unfinished in
    /// the ring of `role`'s endpoints (see [`ipckit_core::intent`]): `Dead`
    /// if only closed or dead endpoints announce it (with one span), `Live`
    /// if a live one does (or a slot changed while read), `Unknown` if none
    /// does, or dead ones announce different spans.
    ///
    /// The caller must have loaded the ring's position word (which showed
    /// `position` claimed) with `Acquire` before this call.
    ///
    /// A dead endpoint's intent is read again after its death was
    /// established (the `/proc` read): an endpoint still alive at the first
    /// read may have finished its claim and died since, and only the
    /// second read is sure to see that.
    pub(crate) fn attribute(&self, role: Role, position: u32) -> Attribution {
        let me = std::process::id();
        let mut dead_span = None;
        let mut conflict = false;
        for i in 0..self.slots {
            let s = self.snapshot(role, i);
            if s.state == Some(SlotState::Free) {
                continue; // never held: its intent is the zeroed initial one
            }
            let intent = self.intent(role, i);
            if intent.names(position).is_none() {
                continue;
            }
            if s.torn || s.alive(me) {
                return Attribution::Live;
            }
            let span = intent.names(position);
            // The intent belongs to the holder the snapshot saw only if the
            // slot did not change hands around the reads.
            if self.u32_at(self.slot_at(role, i)).load(Ordering::Acquire) != s.word {
                return Attribution::Live;
            }
            let Some(span) = span else { continue };
            match dead_span {
                None => dead_span = Some(span),
                Some(other) if other != span => conflict = true,
                Some(_) => {}
            }
        }
        match dead_span {
            Some(span) if !conflict => Attribution::Dead { span },
            _ => Attribution::Unknown,
        }
    }

    /// Clears the intents of dead endpoints of `role` that announce a
    /// position `pending` says holds no unfinished claim any more (it was
    /// skipped or consumed, or never claimed), so that their slots can be
    /// reused ([`Membership::claim_any_keeping_intents`]). For the one
    /// survivor that attributes the claims of `role`. `pending` must load
    /// the ring's position word anew on every call: it is asked again once
    /// the endpoint is found dead, about the intent read again then.
    pub(crate) fn release_stale_intents(&self, role: Role, mut pending: impl FnMut(u32) -> bool) {
        let me = std::process::id();
        for i in 0..self.slots {
            let intent = self.intent(role, i);
            let (position, span) = intent.read();
            if span == 0 || pending(position) {
                continue; // cheap checks first: no `/proc` read
            }
            let s = self.snapshot(role, i);
            if s.state != Some(SlotState::Active) || s.torn || s.alive(me) {
                continue;
            }
            // Dead: its intent is final now. Judge it again (and `tail`
            // anew): it may have claimed and died after the first look.
            let (position, span) = intent.read();
            if span == 0 || pending(position) {
                continue;
            }
            // A dead holder's slot is not reclaimed while its intent is
            // open, so nobody else writes this intent meanwhile.
            if self.u32_at(self.slot_at(role, i)).load(Ordering::Acquire) == s.word {
                intent.clear();
            }
        }
    }

    /// Records `me` in slot `i` if its state word still is `seen`; returns
    /// the new active word, or `None` if someone else changed it. `me.pid`
    /// is below [`PID_LIMIT`] (the callers check).
    ///
    /// From the compare-and-swap on, the word names `me`: a kill between
    /// any two of these stores leaves a slot judged by our pid.
    fn claim_from(&self, role: Role, i: u32, seen: u32, me: ProcessId) -> Option<u32> {
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
        Some(active)
    }

    /// Closes slot `i` if it still holds our `active` word (pid and
    /// generation stay, for `ls`).
    fn close(&self, role: Role, i: u32, active: u32) {
        let at = self.slot_at(role, i);
        let closed = (active & !STATE_MASK) | SlotState::Closed.code();
        let _ =
            self.u32_at(at)
                .compare_exchange(active, closed, Ordering::Release, Ordering::Relaxed);
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

/// This process's record in one slot; closes it on drop.
#[derive(Debug)]
pub(crate) struct Membership {
    block: Block,
    role: Role,
    index: u32,
    active: u32,
}

/// `me`, if its pid fits the state word (Linux guarantees it).
fn recordable(me: ProcessId) -> Result<ProcessId> {
    if me.pid == 0 || me.pid >= PID_LIMIT {
        return Err(Error::os(
            "getpid",
            "liveness slot",
            std::io::Error::other(format!("pid {} does not fit in 22 bits", me.pid)),
        ));
    }
    Ok(me)
}

/// `RoleTaken` for a slot seen held; names the holder if it is dead.
fn role_taken(role: Role, held: &SlotSnapshot, me: u32) -> Error {
    match held.held_by_dead(me) {
        true => Error::Channel {
            name: String::new(), // filled in by `set_up`
            error: CoreError::RoleTaken(role),
            dead_holder: Some(held.holder.pid),
        },
        false => CoreError::RoleTaken(role).into(),
    }
}

impl Membership {
    /// Records `me` (this process) in the one slot of `role`
    /// (single-endpoint kinds), which must be free or closed: the slot
    /// arbitrates the role, before the core's claim is taken. `RoleTaken`
    /// if another process holds it (naming it if it is dead: see
    /// [`take_over_single`](Self::take_over_single)).
    pub(crate) fn claim_single(block: Block, role: Role, me: ProcessId) -> Result<Self> {
        let me = recordable(me)?;
        // A bounded number of retries: each failed compare-and-swap means
        // another claimant changed the word meanwhile.
        for _ in 0..64 {
            let s = block.snapshot(role, 0);
            match s.state {
                Some(SlotState::Free) | Some(SlotState::Closed) if !s.torn => {}
                Some(SlotState::Free) | Some(SlotState::Closed) => continue,
                _ => return Err(role_taken(role, &s, me.pid)),
            }
            if let Some(active) = block.claim_from(role, 0, s.word, me) {
                return Ok(Self {
                    block,
                    role,
                    index: 0,
                    active,
                });
            }
        }
        Err(CoreError::RoleTaken(role).into())
    }

    /// Takes the one slot of `role` over from a dead holder (active, or
    /// killed while claiming): succeeds only if its process is dead, and
    /// only for one of several racing takers. `Ok(Err(block))` when the
    /// slot is not held by a dead process (free, closed, or alive).
    pub(crate) fn take_over_single(
        block: Block,
        role: Role,
        me: ProcessId,
    ) -> Result<Result<Self, Block>> {
        let me = recordable(me)?;
        let s = block.snapshot(role, 0);
        if !s.held_by_dead(me.pid) {
            return Ok(Err(block));
        }
        match block.claim_from(role, 0, s.word, me) {
            Some(active) => Ok(Ok(Self {
                block,
                role,
                index: 0,
                active,
            })),
            None => Ok(Err(block)),
        }
    }

    /// Records this process in a free, closed or dead slot of `role` among
    /// the block's slots (multi-endpoint kinds). `RoleTaken` when all
    /// [`MAX_ENDPOINTS`] are held by live processes.
    #[allow(dead_code)] // kinds without intents; every multi-endpoint kind has them now
    pub(crate) fn claim_any(block: Block, role: Role) -> Result<Self> {
        Self::claim_any_announcing(block, role, |_, _| true)
    }

    /// [`claim_any`](Self::claim_any), except that a dead holder's slot
    /// whose intent still announces a claim is not reused: a survivor may
    /// need that intent to attribute the claim, until it clears it
    /// ([`Block::release_stale_intents`]).
    pub(crate) fn claim_any_keeping_intents(block: Block, role: Role) -> Result<Self> {
        Self::claim_any_announcing(block, role, |_, span| span == 0)
    }

    /// [`claim_any`](Self::claim_any) for a kind whose endpoints announce
    /// their claims in intents. A dead holder's slot is reused only if
    /// `settled(position, span)` says that its intent names no claim that
    /// is still unfinished in the ring: reusing the slot overwrites that
    /// intent, the only record that attributes such a claim to a dead
    /// endpoint (a survivor could then never skip it). The new holder's
    /// intent starts out cleared (naming nothing), so that a stale one
    /// cannot make a survivor wait for this live process.
    pub(crate) fn claim_any_announcing(
        block: Block,
        role: Role,
        settled: impl Fn(u32, u32) -> bool,
    ) -> Result<Self> {
        let me = recordable(ProcessId::current()?)?;
        for reclaim_dead in [false, true] {
            for i in 0..block.slots() {
                let s = block.snapshot(role, i);
                let usable = match s.state {
                    Some(SlotState::Free) | Some(SlotState::Closed) => !s.torn,
                    _ => {
                        reclaim_dead && s.held_by_dead(me.pid) && {
                            let (position, span) = block.intent(role, i).read();
                            settled(position, span)
                        }
                    }
                };
                if usable {
                    if let Some(active) = block.claim_from(role, i, s.word, me) {
                        block.intent(role, i).clear();
                        return Ok(Self {
                            block,
                            role,
                            index: i,
                            active,
                        });
                    }
                }
            }
        }
        Err(CoreError::RoleTaken(role).into())
    }

    /// The liveness block this membership is recorded in.
    pub(crate) fn block(&self) -> &Block {
        &self.block
    }

    /// This endpoint's intent (see [`ipckit_core::intent`]), for the core
    /// endpoint to announce its claims in. `'static` only in name, like the
    /// channel's core region: the endpoint that holds this membership keeps
    /// the mapping alive longer than the core endpoint using the intent.
    pub(crate) fn intent(&self) -> &'static Intent {
        let intent: *const Intent = self.block.intent(self.role, self.index);
        // SAFETY: the intent lies in the liveness block of a mapping that
        // every channel endpoint keeps (its `mem` field) until after its
        // core endpoint, the only user of this reference, is dropped.
        unsafe { &*intent }
    }

    /// [`Block::gone`] for the other side, as a hosted error.
    pub(crate) fn peer_gone(&self) -> Option<Error> {
        let peer = match self.role {
            Role::Producer => Role::Consumer,
            Role::Consumer => Role::Producer,
        };
        self.block.gone(peer).map(|pid| Error::PeerGone {
            peer: Some(peer),
            pid,
        })
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.block.close(self.role, self.index, self.active);
    }
}

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
//! | 0      | u32   | state word: bits 0..8 the [`SlotState`] (0 free, 1 claiming, 2 active, 3 closed), bits 8..32 a generation that every claim increments (so a compare-and-swap on the word cannot succeed on a slot that was meanwhile released and claimed again: no ABA) |
//! | 4      | u32   | pid of the holder (kept after it closes, for `ls`) |
//! | 8      | u64   | the holder's start time: field 22 of `/proc/<pid>/stat`, clock ticks since boot |
//!
//! An intent (two `u32`: position, span) is where the endpoint of that slot
//! announces the position it is about to claim in the ring, before its
//! compare-and-swap (see [`ipckit_core::intent`]): a survivor that finds a
//! claimed, unfinished position reads the intents to learn whether a dead
//! endpoint made the claim ([`Block::attribute`]). Version 1 had no intents.
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
//! Claiming a slot: compare-and-swap the state word from free/closed (or
//! from *active with a dead holder*, for a take-over) to *claiming* with the
//! next generation, store pid and start time, then store *active* with
//! `Release`. Closing (drop): compare-and-swap from our exact active word to
//! *closed*. A reader loads the state with `Acquire`, then pid and start
//! time, then the state again, and counts a slot that changed meanwhile as
//! alive. A *claiming* slot counts as alive: a process killed in the few
//! instructions between the two stores leaves it so (remove such an object
//! by name).

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use ipckit_core::intent::{Attribution, Intent};

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
    /// A process is recording itself (counted alive).
    Claiming,
    /// Held by the recorded process (alive or not: see
    /// [`EndpointInfo::alive`](super::EndpointInfo::alive)).
    Active,
    /// Its holder closed it (dropped the endpoint).
    Closed,
}

impl SlotState {
    fn from_word(word: u32) -> Option<Self> {
        match word & 0xff {
            0 => Some(SlotState::Free),
            1 => Some(SlotState::Claiming),
            2 => Some(SlotState::Active),
            3 => Some(SlotState::Closed),
            _ => None,
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

fn word(generation: u32, state: SlotState) -> u32 {
    (generation << 8) | state.code()
}

/// A process, named so that pid reuse is told apart: pid and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcessId {
    /// The pid.
    pub pid: u32,
    /// Field 22 of `/proc/<pid>/stat`: start time in clock ticks after boot.
    pub start_time: u64,
}

impl ProcessId {
    /// This process.
    ///
    /// ```
    /// let me = ipckit::channel::ProcessId::current()?;
    /// assert_eq!(me.pid, std::process::id());
    /// assert!(me.is_alive());
    /// # Ok::<(), ipckit::error::Error>(())
    /// ```
    pub fn current() -> Result<Self> {
        let pid = std::process::id();
        match read_stat(pid) {
            Ok(Some((_, start_time))) => Ok(Self { pid, start_time }),
            Ok(None) => Err(Error::os(
                "read",
                "/proc/self/stat",
                std::io::Error::new(std::io::ErrorKind::InvalidData, "unparsable"),
            )),
            Err(e) => Err(Error::os("read", format!("/proc/{pid}/stat"), e)),
        }
    }

    /// `true` if this process still runs: `/proc/<pid>/stat` exists, is not
    /// a zombie, and shows the same start time (a reused pid does not).
    ///
    /// ```
    /// use ipckit::channel::ProcessId;
    /// let gone = ProcessId { pid: std::process::id(), start_time: 1 };
    /// assert!(!gone.is_alive()); // same pid, other start time: another process
    /// ```
    pub fn is_alive(&self) -> bool {
        if self.pid == 0 || self.pid > i32::MAX as u32 {
            return false;
        }
        match read_stat(self.pid) {
            Ok(Some((state, start))) => !matches!(state, 'Z' | 'X') && start == self.start_time,
            Ok(None) => true, // unparsable: never call a process dead on a guess
            Err(_) => {
                // No readable /proc entry: gone, unless /proc hides it from us.
                // SAFETY: `kill` with signal 0 only checks existence and
                // permission; it sends nothing.
                let r = unsafe { libc::kill(self.pid as libc::pid_t, 0) };
                r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
            }
        }
    }
}

/// `(state, start time)` from `/proc/<pid>/stat`; `Ok(None)` if unparsable.
fn read_stat(pid: u32) -> std::io::Result<Option<(char, u64)>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
    // split after the last ')'. Field 3 is the state, field 22 the start
    // time.
    let Some(close) = text.rfind(')') else {
        return Ok(None);
    };
    let mut fields = text[close + 1..].split_whitespace();
    let state = fields.next().and_then(|s| s.chars().next());
    let start = fields.nth(18).and_then(|s| s.parse().ok());
    Ok(state.zip(start))
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
    /// Counted alive: claiming, torn, unknown state, or active with a live
    /// holder.
    pub(crate) fn alive(&self, me: u32) -> bool {
        match self.state {
            Some(SlotState::Free) | Some(SlotState::Closed) => false,
            Some(SlotState::Active) if !self.torn => {
                self.holder.pid == me || self.holder.is_alive()
            }
            _ => true,
        }
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
        let pid = self.u32_at(at + 4).load(Ordering::Relaxed);
        let start_time = self.u64_at(at + 8).load(Ordering::Relaxed);
        let again = self.u32_at(at).load(Ordering::Acquire);
        SlotSnapshot {
            word,
            state: SlotState::from_word(word),
            holder: ProcessId { pid, start_time },
            torn: again != word,
        }
    }

    /// The intent of slot `i` of `role`.
    #[allow(dead_code)] // the MPMC and MPSC crash recovery use it (next commits)
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
    /// if only closed or dead endpoints announce it, `Live` if a live one
    /// does (or a slot changed while read), `Unknown` if none does.
    ///
    /// The caller must have loaded the ring's position word (which showed
    /// `position` claimed) with `Acquire` before this call.
    #[allow(dead_code)] // as `intent`
    pub(crate) fn attribute(&self, role: Role, position: u32) -> Attribution {
        let me = std::process::id();
        let mut dead_span = None;
        for i in 0..self.slots {
            let s = self.snapshot(role, i);
            if s.state == Some(SlotState::Free) {
                continue; // never held: its intent is the zeroed initial one
            }
            let (announced, span) = self.intent(role, i).read();
            // The intent belongs to the holder the snapshot saw only if the
            // slot did not change hands around the read.
            let again = self.u32_at(self.slot_at(role, i)).load(Ordering::Acquire);
            if announced != position || span == 0 {
                continue; // names another position, or none (withdrawn)
            }
            if s.torn || again != s.word || s.alive(me) {
                return Attribution::Live;
            }
            dead_span = Some(span);
        }
        match dead_span {
            Some(span) => Attribution::Dead { span },
            None => Attribution::Unknown,
        }
    }

    /// Records `me` in slot `i` if its state word still is `seen`; returns
    /// the new active word, or `None` if someone else changed it.
    fn claim_from(&self, role: Role, i: u32, seen: u32, me: ProcessId) -> Option<u32> {
        let at = self.slot_at(role, i);
        let generation = (seen >> 8).wrapping_add(1) & 0x00ff_ffff;
        let claiming = word(generation, SlotState::Claiming);
        self.u32_at(at)
            .compare_exchange(seen, claiming, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        self.u32_at(at + 4).store(me.pid, Ordering::Relaxed);
        self.u64_at(at + 8).store(me.start_time, Ordering::Relaxed);
        let active = word(generation, SlotState::Active);
        self.u32_at(at).store(active, Ordering::Release);
        Some(active)
    }

    /// Closes slot `i` if it still holds our `active` word.
    fn close(&self, role: Role, i: u32, active: u32) {
        let at = self.slot_at(role, i);
        let closed = (active & !0xff) | SlotState::Closed.code();
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
                Some(SlotState::Active) => {
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

/// `true` if some process has the pid `pid` now (not a zombie); no start
/// time to compare, so a reused pid counts.
fn pid_runs(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false; // not a process: 0 would address our process group
    }
    if pid == std::process::id() {
        return true;
    }
    match read_stat(pid) {
        Ok(Some((state, _))) => !matches!(state, 'Z' | 'X'),
        Ok(None) => true,
        Err(_) => {
            // SAFETY: `kill` with signal 0 only checks existence and
            // permission; it sends nothing. `pid` is positive.
            let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
            r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
        }
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

impl Membership {
    /// Records this process in the one slot of `role` (single-endpoint
    /// kinds). The caller holds the core's claim of the role, so nobody else
    /// writes the slot except a take-over of a dead holder, which the
    /// compare-and-swap loses against.
    pub(crate) fn claim_single(block: Block, role: Role) -> Result<Self> {
        let me = ProcessId::current()?;
        for _ in 0..64 {
            let seen = block.snapshot(role, 0).word;
            if let Some(active) = block.claim_from(role, 0, seen, me) {
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

    /// Takes the one slot of `role` over from a dead holder: succeeds only
    /// if the slot is active and its process is dead, and only for one of
    /// several racing takers. `Ok(None)` when the slot is not held by a dead
    /// process (free, closed, or alive: see the returned snapshot's caller).
    pub(crate) fn take_over_single(block: Block, role: Role) -> Result<Result<Self, Block>> {
        let me = ProcessId::current()?;
        let s = block.snapshot(role, 0);
        if s.state != Some(SlotState::Active) || s.torn || s.alive(me.pid) {
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
    pub(crate) fn claim_any(block: Block, role: Role) -> Result<Self> {
        let me = ProcessId::current()?;
        for reclaim_dead in [false, true] {
            for i in 0..block.slots() {
                let s = block.snapshot(role, i);
                let usable = match s.state {
                    Some(SlotState::Free) | Some(SlotState::Closed) => true,
                    Some(SlotState::Active) => reclaim_dead && !s.torn && !s.alive(me.pid),
                    _ => false,
                };
                if usable {
                    if let Some(active) = block.claim_from(role, i, s.word, me) {
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

    /// [`claim_any`](Self::claim_any) for a kind whose endpoints announce
    /// their claims in intents (MPMC). A dead holder's slot is reused only
    /// if `settled(position, span)` says that its intent names no claim
    /// that is still unfinished in the ring: reusing the slot overwrites
    /// that intent, the only record that attributes such a claim to a dead
    /// endpoint (a survivor could then never skip it). The new holder's
    /// intent starts out withdrawn (naming nothing), so that a stale one
    /// cannot make a survivor wait for this live process.
    pub(crate) fn claim_any_announcing(
        block: Block,
        role: Role,
        settled: impl Fn(u32, u32) -> bool,
    ) -> Result<Self> {
        let me = ProcessId::current()?;
        for reclaim_dead in [false, true] {
            for i in 0..block.slots() {
                let s = block.snapshot(role, i);
                let usable = match s.state {
                    Some(SlotState::Free) | Some(SlotState::Closed) => true,
                    Some(SlotState::Active) => {
                        reclaim_dead && !s.torn && !s.alive(me.pid) && {
                            let (position, span) = block.intent(role, i).read();
                            settled(position, span)
                        }
                    }
                    _ => false,
                };
                if usable {
                    if let Some(active) = block.claim_from(role, i, s.word, me) {
                        block.intent(role, i).withdraw();
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
    #[allow(dead_code)] // as `Block::intent`
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
        self.block
            .gone(peer)
            .map(|pid| Error::PeerGone { peer, pid })
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.block.close(self.role, self.index, self.active);
    }
}

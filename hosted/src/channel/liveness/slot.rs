//! A slot: its state word (state, holder's pid, generation) and what a
//! reader makes of it.

use super::ProcessId;
use crate::channel::process::pid_runs;

/// What an endpoint slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlotState {
    /// Never used.
    Free,
    /// A process is recording itself: the state word names its pid, its
    /// start time may not be written yet (alive while the pid runs).
    Claiming,
    /// Held by the recorded process (alive or not: see
    /// [`EndpointInfo::alive`](crate::channel::EndpointInfo::alive)).
    Active,
    /// Its holder closed it (dropped the endpoint).
    Closed,
}

impl SlotState {
    #[inline]
    pub(super) fn from_word(word: u32) -> Self {
        match word & STATE_MASK {
            0 => SlotState::Free,
            1 => SlotState::Claiming,
            2 => SlotState::Active,
            _ => SlotState::Closed,
        }
    }

    pub(super) fn code(self) -> u32 {
        match self {
            SlotState::Free => 0,
            SlotState::Claiming => 1,
            SlotState::Active => 2,
            SlotState::Closed => 3,
        }
    }
}

pub(super) const STATE_MASK: u32 = 0b11;
const PID_SHIFT: u32 = 2;
/// Pids are below this (Linux: `pid_max` is at most 2^22).
pub(super) const PID_LIMIT: u32 = 1 << 22;
pub(super) const GENERATION_SHIFT: u32 = 24;

/// The state word of a slot (module docs): `pid < PID_LIMIT`, `generation`
/// taken modulo 256.
pub(super) fn word(generation: u32, pid: u32, state: SlotState) -> u32 {
    debug_assert!(pid < PID_LIMIT);
    (generation << GENERATION_SHIFT) | (pid << PID_SHIFT) | state.code()
}

/// The pid a state word names.
pub(super) fn word_pid(word: u32) -> u32 {
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

//! The liveness block: who holds each endpoint of a channel, and whether
//! that process still lives.
//!
//! # Layout (liveness version 2)
//! For a peer in another language, the slot protocol is also in
//! [`docs/LAYOUT.md`](https://github.com/ipckit/ipckit/blob/main/docs/LAYOUT.md#12-the-channel-object).
//!
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
//! | 12     | 4 B   | reserved, zero | |
//! | 16     | u64   | message type id | 0: not stated; else the id of the messages: an item channel's or topic's `Pod` type ([`pod_type_id`] by default), a [typed channel](crate::channel::typed)'s serde type (see [`TYPE_ID_AT`]) |
//! | 24     | 40 B  | reserved, zero | |
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
//! A sleeper that wants the kernel to tell it of a death opens its own
//! pidfd from the record: `pidfd_open(pid)` first, then the start time
//! confirmed from `/proc` (if it matches, the recorded process held the
//! pid without a break from the recording to the check, so the pidfd names
//! it); see the [channel docs](super#dead-peers).
//!
//! # Protocol
//! Claiming a slot: compare-and-swap the state word from free or closed
//! (or, for a take-over, from active or claiming with a dead holder) to
//! *claiming* with our pid and the next generation; then store the start
//! time; then store *active* (same pid and generation) with `Release`.
//! Closing (drop): compare-and-swap from our exact active word to *closed*
//! (pid and generation kept), then `FUTEX_WAKE` of every waiter of the
//! state word: a blocked peer sleeps on it besides its ring word (see the
//! [channel docs](super#dead-peers)) and so hears of the close at once. A reader loads the state word with
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

use ipckit_core::intent::Intent;

mod block;
mod deaths;
mod intents;
mod membership;
mod slot;
#[cfg(test)]
mod tests;
mod type_id;
pub(crate) use type_id::fnv1a;
pub use type_id::{pod_type_id, type_id_of, type_path_id};
mod watch;

pub use super::process::ProcessId;
pub(crate) use block::Block;
pub(crate) use deaths::watchable;
pub(crate) use membership::Membership;
pub use slot::SlotState;
pub(crate) use watch::PeerWatch;

/// `"IPCL"`: the liveness block's magic number.
pub const LIVENESS_MAGIC: u32 = u32::from_le_bytes(*b"IPCL");
/// The liveness block layout this build writes and reads.
pub const LIVENESS_VERSION: u32 = 2;
/// The size of the liveness block in bytes.
pub const LIVENESS_LEN: usize = 4096;
/// The most endpoints of one side (senders or receivers) a multi-endpoint
/// channel records.
pub const MAX_ENDPOINTS: u32 = 64;

/// The offset of the message type id (a `u64`) in the liveness block: 0
/// while no side stated one (every block written before typed channels
/// existed), else the 64-bit id of the messages the channel carries. The
/// first typed endpoint stores it with a compare-and-swap from 0 (a typed
/// creator before it publishes the header); every later typed endpoint
/// compares it with its own and refuses a different one. An endpoint whose
/// id is 0 neither stores nor compares (it opts out).
pub const TYPE_ID_AT: usize = 16;

const SLOT_LEN: usize = 16;
const PRODUCERS_AT: usize = 64;
const CONSUMERS_AT: usize = PRODUCERS_AT + MAX_ENDPOINTS as usize * SLOT_LEN;
const INTENT_LEN: usize = 8;
const PRODUCER_INTENTS_AT: usize = CONSUMERS_AT + MAX_ENDPOINTS as usize * SLOT_LEN;
const CONSUMER_INTENTS_AT: usize = PRODUCER_INTENTS_AT + MAX_ENDPOINTS as usize * INTENT_LEN;
const _: () = {
    assert!(TYPE_ID_AT % 8 == 0 && TYPE_ID_AT + 8 <= PRODUCERS_AT);
    assert!(PRODUCER_INTENTS_AT == 2112);
    assert!(CONSUMER_INTENTS_AT == 2624);
    assert!(CONSUMER_INTENTS_AT + MAX_ENDPOINTS as usize * INTENT_LEN <= LIVENESS_LEN);
    assert!(core::mem::size_of::<Intent>() == INTENT_LEN);
};

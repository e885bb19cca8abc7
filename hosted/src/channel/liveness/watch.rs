//! Waiting that hears of a peer's close or death at once: a blocked
//! endpoint sleeps on the ring's word *and* on the state words of the
//! other side's slots (`futex_waitv`), a closing endpoint wakes its state
//! word, and a long sleep also watches the peers' pidfds ([`deaths`]).
//!
//! [`deaths`]: super::deaths

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ipckit_core::wait::WaitStatus;

use super::deaths::{self, Fate, Outcome};
use super::slot::SlotState;
use super::{Block, MAX_ENDPOINTS};
use crate::channel::LIVENESS_SLICE;
use crate::error::{CoreError, Role};
use crate::futex::{WaitEntry, monotonic_now, plain_wait, wait_any};

/// How long a wait sleeps on the words alone before it opens the peers'
/// pidfds and starts the helper that watches them: a channel whose peer
/// answers within this never pays for either. Also the longest a death
/// during this first sleep goes unnoticed.
pub(crate) const FIRST_SLEEP: Duration = Duration::from_millis(5);

/// The waits of one channel endpoint: the core ring's futex word, plus
/// the state word of every slot of the other side (`peer`).
///
/// A wait first reads the peer slots' state words: if at least one is
/// closed and none is claiming or active, every peer closed, and the wait
/// fails at once with [`CoreError::PeerGone`] (the hosted blocking loop
/// then drains what is queued before it reports `PeerGone`). Otherwise it
/// sleeps in `futex_waitv` on the ring's word and on the state word of
/// each claiming or active peer slot (of every peer slot while none is:
/// a newcomer's claim wakes its word) with the value just read. A closing endpoint stores *closed* in its
/// state word and then wakes it ([`Block::close`]): either the store comes
/// before the kernel compares the words (the wait returns at once), or the
/// wake comes after the sleeper is queued. Either way the sleeper re-checks
/// within microseconds; no wake-up is lost.
///
/// Death: after [`FIRST_SLEEP`] without a wake, the wait opens a pidfd per
/// claiming or active peer slot (confirmed by start time) and sleeps on,
/// with a helper thread polling them ([`deaths`](super::deaths)); an exit
/// ends the sleep with `PeerGone`, which to the hosted blocking loop means
/// "judge the peers now" (`/proc`, recovery of what the dead one left),
/// not necessarily the end of the call. Where pidfds cannot be used, or a
/// peer slot holds a process already dead (its leftovers may need the
/// loop's recovery), the sleep is cut into [`LIVENESS_SLICE`]s as before.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerWatch {
    block: Block,
    peer: Role,
}

/// Room for the ring's word, every peer slot, and the alarm word.
const ENTRIES: usize = MAX_ENDPOINTS as usize + 2;

/// What a sleep on the words ended with, made an answer for the core: a
/// wake or an early return re-checks; a timeout before `deadline` means
/// "look" (`PeerGone` to the hosted loop).
fn looked(
    status: ipckit_core::Result<WaitStatus>,
    deadline: Option<Duration>,
) -> ipckit_core::Result<WaitStatus> {
    match status? {
        WaitStatus::Woken => Ok(WaitStatus::Woken),
        WaitStatus::TimedOut if left(deadline).is_some_and(|l| l.is_zero()) => {
            Ok(WaitStatus::TimedOut)
        }
        WaitStatus::TimedOut => Err(CoreError::PeerGone),
    }
}

/// Time left until `deadline` (`None`: no deadline).
fn left(deadline: Option<Duration>) -> Option<Duration> {
    deadline.map(|d| d.saturating_sub(monotonic_now()))
}

/// `a.min(b)` for optional limits (`None`: no limit).
fn min(a: Option<Duration>, b: Duration) -> Duration {
    a.map_or(b, |a| a.min(b))
}

/// Sleeps on `entries` for at most `timeout`; the plain futex on the first
/// word where `futex_waitv` is missing.
fn sleep(
    entries: &[WaitEntry],
    word: &AtomicU32,
    expected: u32,
    timeout: Option<Duration>,
) -> ipckit_core::Result<WaitStatus> {
    // SAFETY: the entries name `word` and state words of the liveness
    // block, which the endpoint owning this notifier keeps mapped.
    match unsafe { wait_any(entries, timeout) } {
        Some(status) => status,
        None => plain_wait(word, expected, timeout),
    }
}

impl PeerWatch {
    /// Watches the slots of `peer` in `block`.
    pub(crate) fn new(block: Block, peer: Role) -> Self {
        Self { block, peer }
    }

    /// The peer slots this build records for the kind (1 or 64: our
    /// constant, never read from the region).
    fn slots(&self) -> u32 {
        self.block.slots().min(MAX_ENDPOINTS)
    }

    /// Blocks while `word` holds `expected` and no peer slot changes or
    /// dies, for at most `timeout`; `Err(PeerGone)` when every peer closed
    /// or one died (see the type's docs).
    pub(crate) fn wait(
        &self,
        word: &AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
    ) -> ipckit_core::Result<WaitStatus> {
        let deadline = timeout.map(|t| monotonic_now().saturating_add(t));
        let mut entries = [WaitEntry::EMPTY; ENTRIES];
        entries[0] = WaitEntry::shared(word, expected);
        // Watch the held slots (their close or death is what ends the
        // wait); while none is held (the peer never came), every slot, for
        // a newcomer's claim. A slot claimed meanwhile among held ones
        // needs no watching: the held ones' close wakes us to look again.
        let (mut n, mut closed, mut held) = (1, false, false);
        for i in 0..self.slots() {
            let state = self.block.u32_at(self.block.slot_at(self.peer, i));
            let seen = state.load(Ordering::Acquire);
            match SlotState::from_word(seen) {
                SlotState::Claiming | SlotState::Active => {
                    held = true;
                    entries[n] = WaitEntry::shared(state, seen);
                    n += 1;
                }
                SlotState::Closed => closed = true,
                SlotState::Free => {}
            }
        }
        if !held && !closed {
            for i in 0..self.slots() {
                let state = self.block.u32_at(self.block.slot_at(self.peer, i));
                entries[n] = WaitEntry::shared(state, state.load(Ordering::Acquire));
                n += 1;
            }
        }
        if closed && !held {
            return Err(CoreError::PeerGone);
        }
        if !deaths::watchable() {
            // The hosted loop cuts the wait into liveness slices.
            return sleep(&entries[..n], word, expected, timeout);
        }
        // A short sleep first: a busy channel never opens a pidfd.
        let first = min(timeout, FIRST_SLEEP);
        match sleep(&entries[..n], word, expected, Some(first))? {
            WaitStatus::Woken => return Ok(WaitStatus::Woken),
            WaitStatus::TimedOut if timeout.is_some_and(|t| t <= FIRST_SLEEP) => {
                return Ok(WaitStatus::TimedOut);
            }
            WaitStatus::TimedOut => {}
        }
        self.sleep_watching(&mut entries[..=n], word, expected, deadline)
    }

    /// The long sleep: pidfds for the held peer slots, watched by a helper
    /// thread while this thread sleeps on the words and the helper's alarm
    /// (the last entry, free).
    fn sleep_watching(
        &self,
        entries: &mut [WaitEntry],
        word: &AtomicU32,
        expected: u32,
        deadline: Option<Duration>,
    ) -> ipckit_core::Result<WaitStatus> {
        let me = std::process::id();
        let (mut pidfds, mut dead, mut alive, mut unknown) = (Vec::new(), false, false, false);
        for i in 0..self.slots() {
            let s = self.block.snapshot(self.peer, i);
            if !matches!(s.state, Some(SlotState::Active) | Some(SlotState::Claiming)) {
                continue;
            }
            match deaths::watch(&s, me) {
                Fate::Alive(fd) => {
                    pidfds.push(fd);
                    alive = true;
                }
                Fate::Me => alive = true,
                Fate::Dead => dead = true,
                Fate::Unknown => unknown = true,
            }
        }
        let words = entries.len() - 1;
        if dead && !alive && !unknown {
            return Err(CoreError::PeerGone); // every holder dead: judge now
        }
        if dead || unknown {
            // A dead holder beside live ones may have left work for the
            // loop's recovery; an unknown one needs `/proc`: look every
            // slice, as without pidfds.
            let slice = min(left(deadline), LIVENESS_SLICE);
            return looked(
                sleep(&entries[..words], word, expected, Some(slice)),
                deadline,
            );
        }
        if pidfds.is_empty() {
            // No other process to watch (the peer never came, or is this
            // process): a claimant wakes the slot's word (`Block::claim_from`).
            return sleep(&entries[..words], word, expected, left(deadline));
        }
        // SAFETY: every entry but the last names `word` or a state word of
        // the liveness block, live for the call (as in `sleep`).
        match unsafe { deaths::sleep_watching(entries, &pidfds, left(deadline)) } {
            Some(Outcome::Died) => Err(CoreError::PeerGone),
            Some(Outcome::Wait(status)) => status,
            None => {
                let slice = min(left(deadline), LIVENESS_SLICE);
                looked(
                    sleep(&entries[..words], word, expected, Some(slice)),
                    deadline,
                )
            }
        }
    }
}

//! Membership: this process's record in one slot, claimed for a role and
//! closed on drop.

use ipckit_core::intent::Intent;

use super::slot::{PID_LIMIT, SlotSnapshot, SlotState};
use super::{Block, ProcessId};
use crate::error::{CoreError, Error, Result, Role};

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
    /// [`MAX_ENDPOINTS`](super::MAX_ENDPOINTS) are held by live processes.
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

    /// The other side's role.
    #[inline]
    fn peer(&self) -> Role {
        match self.role {
            Role::Producer => Role::Consumer,
            Role::Consumer => Role::Producer,
        }
    }

    /// [`Block::gone`] for the other side, as a hosted error.
    pub(crate) fn peer_gone(&self) -> Option<Error> {
        let peer = self.peer();
        self.block.gone(peer).map(|pid| Error::PeerGone {
            peer: Some(peer),
            pid,
        })
    }

    /// How many endpoints of the other side have joined the channel
    /// ([`Block::joined`]).
    pub(crate) fn peers_joined(&self) -> u32 {
        self.block.joined(self.peer())
    }

    /// `PeerGone` if every endpoint of the other side closed, from the
    /// shared state words alone ([`Block::all_closed`]: no system call, a
    /// dead but unclosed peer not seen).
    #[inline]
    pub(crate) fn peer_closed(&self) -> Option<Error> {
        let peer = self.peer();
        // Built only when it is the answer: `then_some` would build it on
        // every look at a full or empty ring and drop it (a call to the
        // error's drop glue per look).
        if self.block.all_closed(peer) {
            Some(Error::PeerGone {
                peer: Some(peer),
                pid: None,
            })
        } else {
            None
        }
    }

    /// The channels' notifier for this endpoint: a spinning then sleeping
    /// futex whose waits also end when the other side closes (see
    /// [`PeerWatch`](super::PeerWatch)).
    pub(crate) fn notifier(&self) -> crate::futex::Futex {
        crate::futex::Futex::adaptive(crate::channel::SPIN_BUDGET)
            .watching(super::PeerWatch::new(self.block, self.peer()))
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.block.close(self.role, self.index, self.active);
    }
}

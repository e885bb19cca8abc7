//! Intents: where each endpoint announces the claim it is about to make,
//! and the attribution of an unfinished claim to a live or dead endpoint.

use std::sync::atomic::Ordering;

use ipckit_core::intent::{Attribution, Intent};

use super::slot::SlotState;
use super::{Block, CONSUMER_INTENTS_AT, INTENT_LEN, PRODUCER_INTENTS_AT};
use crate::error::Role;

impl Block {
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
    /// reused ([`Membership::claim_any_keeping_intents`](super::Membership::claim_any_keeping_intents)). For the one
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
}

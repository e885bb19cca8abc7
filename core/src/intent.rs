//! Claim intents: how a survivor attributes a half-done claim to the
//! endpoint that made it.
//!
//! The rings that need compare-and-swap ([`crate::mpmc`],
//! [`crate::frame::mpsc`]) hand out positions with one compare-and-swap on a
//! shared position word. Between that compare-and-swap and the store that
//! finishes the claim (a slot's stamp, a record's header) the claim is
//! anonymous: if the endpoint dies there, the ring holds a position that no
//! record names, and a survivor cannot tell it from the work in progress of
//! a live, slow endpoint. Waiting for it forever is a hang; skipping it on a
//! guess could skip a live endpoint's message.
//!
//! An [`Intent`] closes that window. Each endpoint owns one, placed where a
//! survivor can read it and next to the endpoint's liveness record (the
//! hosted crate keeps them in the channel's liveness block). Before every
//! compare-and-swap attempt, the endpoint [announces](Intent::announce) the
//! position it is about to claim and how many positions the claim spans.
//! The compare-and-swap that follows is a `Release` operation, so a survivor
//! that has read the moved position word with `Acquire` also sees the
//! announcement. The endpoint announces again before each retry, and only
//! starts its next claim after it finished this one. Hence:
//!
//! > while a claim of `position` is unfinished, its claimant's intent reads
//! > `position`.
//!
//! When the claim is finished (the record or slot now names its claimant
//! by itself), or when the endpoint gives up without claiming (the ring is
//! full), it [clears](Intent::clear) its intent: a span of 0 names nothing.
//! Announcements and the clear are `Release` stores, and a survivor reads
//! with `Acquire`: a survivor that finds an endpoint's intent no longer
//! naming `position` (cleared, or announcing a later claim) also sees
//! everything that endpoint wrote to finish its claim of `position`, so it
//! can re-check the claim and find it finished.
//!
//! A survivor that finds `position` claimed and unfinished reads every
//! intent. If a dead (or closed) endpoint's intent names `position` and no
//! live endpoint's does, the dead endpoint made the claim and will never
//! finish it: the survivor may finish or skip it. If a live endpoint's
//! intent names it, the claim may be that endpoint's: wait. Read a dead
//! endpoint's intent (again) *after* its death was established: its last
//! stores then are final, while an endpoint that was alive at the first
//! read may have finished its claim and died since.
//!
//! An endpoint that announced and then lost its compare-and-swap
//! re-announces before its next attempt, or clears when it gives up, so
//! its intent names another endpoint's claim only while it runs, unless it
//! is killed in those few instructions. Then two dead endpoints may name
//! one position: with equal spans either is right; with different spans
//! the survivor cannot tell the claimant ([`Attribution::Unknown`]).
//!
//! One intent serves one claim at a time: an endpoint that is used from
//! several threads at once needs one intent per thread (the hosted channels
//! give each endpoint handle its own, and are not `Sync`).
//!
//! # Layout
//! For a peer in another language: see
//! [`docs/LAYOUT.md`](https://github.com/ipckit/ipckit/blob/main/docs/LAYOUT.md#11-claim-intents).
//!
//! Two little-endian `u32` words, 8 bytes, 4-aligned:
//!
//! | offset | width | field |
//! |-------:|------:|-------|
//! | 0 | u32 | `position`: the position (slot position, or byte position for frame rings) the endpoint is about to claim or holds |
//! | 4 | u32 | `span`: how many positions the claim covers (1 for a slot; the bytes moved for a frame record, padding included); 0: no claim |
//!
//! A hostile peer can write any intent. The worst it achieves is to make a
//! survivor wait (an intent naming a position, held by a live process) or
//! skip a claim that a process it can write for (its own, dead) made: both
//! are denial of service on the channel it already shares.
//!
//! ```
//! use ipckit_core::intent::Intent;
//!
//! let intent = Intent::new();
//! intent.announce(4096, 72);
//! assert_eq!(intent.read(), (4096, 72));
//! assert_eq!(intent.names(4096), Some(72));
//! intent.clear();
//! assert_eq!(intent.names(4096), None);
//! ```

use crate::sync::{AtomicU32, Ordering};

/// Where one endpoint announces the claim it is about to make (module
/// docs). Placed in shared memory by whoever keeps the endpoints' liveness
/// records; all fields are atomics, so a `&Intent` into a peer-writable
/// mapping is sound.
#[repr(C)]
#[derive(Debug)]
pub struct Intent {
    position: AtomicU32,
    span: AtomicU32,
}

crate::place::layout_asserts! {
    assert!(core::mem::size_of::<Intent>() == 8);
    assert!(core::mem::align_of::<Intent>() == 4);
}

impl Default for Intent {
    fn default() -> Self {
        Self::new()
    }
}

impl Intent {
    crate::place::region_only! {
        /// An intent naming position 0 with span 0 (nothing claimed).
        pub const fn new() -> Self {
            Self {
                position: AtomicU32::new(0),
                span: AtomicU32::new(0),
            }
        }
    }

    crate::place::model_only! {
        /// An intent naming position 0 with span 0 (loom's atomics have no
        /// `const` constructor).
        pub fn new() -> Self {
            Self {
                position: AtomicU32::new(0),
                span: AtomicU32::new(0),
            }
        }
    }

    /// Announces that this endpoint is about to claim `span` positions from
    /// `position` on (`span` > 0). The claim that follows must be a
    /// `Release` read-modify-write of the position word, which orders these
    /// stores before it for any survivor that reads the position with
    /// `Acquire`.
    ///
    /// The position is stored first: an endpoint killed between the two
    /// stores leaves the span of its last [`clear`](Self::clear), 0, which
    /// names nothing (it had not claimed yet), provided it clears after
    /// every claim as the module docs say. Both stores are `Release`
    /// (module docs: a survivor that reads them sees the end of the
    /// endpoint's previous claim).
    ///
    /// ```
    /// use ipckit_core::intent::Intent;
    /// let intent = Intent::new();
    /// intent.announce(64, 16);
    /// assert_eq!(intent.names(64), Some(16));
    /// assert_eq!(intent.names(80), None);
    /// ```
    #[inline(always)]
    pub fn announce(&self, position: u32, span: u32) {
        self.position.store(position, Ordering::Release);
        self.span.store(span, Ordering::Release);
    }

    /// Withdraws the announcement: the claim is finished (what was claimed
    /// now names its claimant) or was never made. `Release`, so a survivor
    /// that reads the cleared span also sees the stores that finished the
    /// claim.
    ///
    /// ```
    /// use ipckit_core::intent::Intent;
    /// let intent = Intent::new();
    /// intent.announce(64, 16);
    /// intent.clear();
    /// assert_eq!(intent.read(), (64, 0));
    /// ```
    #[inline(always)]
    pub fn clear(&self) {
        self.span.store(0, Ordering::Release);
    }

    /// `(position, span)` as last announced (span 0: cleared). Peer data:
    /// validate before use. A survivor calls this after it loaded the
    /// claimed position word with `Acquire` (module docs).
    ///
    /// ```
    /// use ipckit_core::intent::Intent;
    /// assert_eq!(Intent::new().read(), (0, 0));
    /// ```
    #[inline]
    pub fn read(&self) -> (u32, u32) {
        let position = self.position.load(Ordering::Acquire);
        let span = self.span.load(Ordering::Acquire);
        (position, span)
    }

    /// The span announced for `position`, if this intent names it (a
    /// cleared intent names nothing). Peer data: validate the span.
    ///
    /// ```
    /// use ipckit_core::intent::Intent;
    /// let intent = Intent::new();
    /// assert_eq!(intent.names(0), None); // span 0: nothing
    /// intent.announce(0, 8);
    /// assert_eq!(intent.names(0), Some(8));
    /// ```
    #[inline]
    pub fn names(&self, position: u32) -> Option<u32> {
        match self.read() {
            (p, span) if p == position && span != 0 => Some(span),
            _ => None,
        }
    }

    /// `(first, span)` as announced, if this intent's claim covers
    /// `position`: `first <= position < first + span` in wrapping
    /// arithmetic. For rings whose claims span several positions that a
    /// survivor meets one by one (an MPMC batch: a stalled slot inside a
    /// run). Peer data: validate the span.
    ///
    /// ```
    /// use ipckit_core::intent::Intent;
    /// let intent = Intent::new();
    /// intent.announce(u32::MAX, 3); // u32::MAX, 0, 1
    /// assert_eq!(intent.covers(1), Some((u32::MAX, 3)));
    /// assert_eq!(intent.names(1), None);
    /// assert_eq!(intent.covers(2), None);
    /// intent.clear();
    /// assert_eq!(intent.covers(u32::MAX), None);
    /// ```
    #[inline]
    pub fn covers(&self, position: u32) -> Option<(u32, u32)> {
        let (first, span) = self.read();
        (position.wrapping_sub(first) < span).then_some((first, span))
    }
}

/// How a survivor judged a claimed, unfinished position from every
/// endpoint's [`Intent`] and liveness.
///
/// ```
/// use ipckit_core::intent::Attribution;
/// assert_ne!(Attribution::Dead { span: 8 }, Attribution::Live);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribution {
    /// Only endpoints that will never write again (dead or closed) name the
    /// position: the claim is theirs. `span` is what the claimant announced
    /// (peer data: validate it).
    Dead {
        /// The span the dead claimant announced.
        span: u32,
    },
    /// A live endpoint names the position (or a record was read while it
    /// changed): the claim may be in progress. Wait.
    Live,
    /// Nobody names the position (a claimant without an intent, or one whose
    /// intent was overwritten), or dead endpoints name it with different
    /// spans (module docs). Wait, or decide by other means.
    Unknown,
}

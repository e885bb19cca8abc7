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
//! The announcement's position store is itself `Release` (and
//! [`read`](Intent::read) `Acquire`): a survivor that reads an endpoint's
//! *next* announcement then also sees everything that endpoint did before
//! it, in particular the store that finished its previous claim. Without
//! that, a survivor on a weakly ordered machine could see the next
//! announcement before the finishing store, judge the previous claim
//! abandoned, and race the finishing store with its recovery.
//!
//! An endpoint that announced and then lost its compare-and-swap, and gives
//! up (the ring is full or empty), [withdraws](Intent::withdraw) the
//! announcement: an idle live endpoint must not go on naming a position
//! that another endpoint claimed, or a survivor would wait for it forever.
//! A span of 0 names no position (a fresh intent is `(0, 0)`).
//!
//! A survivor that finds `position` claimed and unfinished reads every
//! intent. If a dead (or closed) endpoint's intent names `position` and no
//! live endpoint's does, the dead endpoint made the claim and will never
//! finish it: the survivor may finish or skip it. If a live endpoint's
//! intent names it, the claim may be that endpoint's: wait. An endpoint that
//! announced and then lost its compare-and-swap re-announces before its next
//! attempt, so such ambiguity lasts only while it runs.
//!
//! One intent serves one claim at a time: an endpoint that is used from
//! several threads at once needs one intent per thread (the hosted channels
//! give each endpoint handle its own, and are not `Sync`).
//!
//! # Layout
//! Two little-endian `u32` words, 8 bytes, 4-aligned:
//!
//! | offset | width | field |
//! |-------:|------:|-------|
//! | 0 | u32 | `position`: the position (slot position, or byte position for frame rings) the endpoint is about to claim or holds |
//! | 4 | u32 | `span`: how many positions the claim covers (1 for a slot; the bytes moved for a frame record, padding included) |
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

#[cfg(not(feature = "loom"))]
const _: () = {
    assert!(core::mem::size_of::<Intent>() == 8);
    assert!(core::mem::align_of::<Intent>() == 4);
};

impl Default for Intent {
    fn default() -> Self {
        Self::new()
    }
}

impl Intent {
    /// An intent naming position 0 with span 0 (nothing claimed).
    #[cfg(not(feature = "loom"))]
    pub const fn new() -> Self {
        Self {
            position: AtomicU32::new(0),
            span: AtomicU32::new(0),
        }
    }

    /// See the production version.
    #[cfg(feature = "loom")]
    pub fn new() -> Self {
        Self {
            position: AtomicU32::new(0),
            span: AtomicU32::new(0),
        }
    }

    /// Announces that this endpoint is about to claim `span` positions from
    /// `position` on. The claim that follows must be a `Release`
    /// read-modify-write of the position word, which orders these stores
    /// before it for any survivor that reads the position with `Acquire`.
    ///
    /// The position store is `Release` (module docs): a reader that sees it
    /// sees this endpoint's earlier stores too, among them the one that
    /// finished its previous claim. On x86 that is a plain store.
    #[inline(always)]
    pub fn announce(&self, position: u32, span: u32) {
        self.span.store(span, Ordering::Relaxed);
        self.position.store(position, Ordering::Release);
    }

    /// Withdraws the last announcement (span 0: names no position). For an
    /// endpoint that announced, lost its compare-and-swap to another
    /// endpoint and then stops trying, and for a fresh holder of a reused
    /// intent. Never while the endpoint holds an unfinished claim.
    ///
    /// ```
    /// use ipckit_core::intent::Intent;
    ///
    /// let intent = Intent::new();
    /// intent.announce(7, 1);
    /// intent.withdraw();
    /// assert_eq!(intent.read(), (7, 0));
    /// ```
    #[inline]
    pub fn withdraw(&self) {
        self.span.store(0, Ordering::Release);
    }

    /// `(position, span)` as last announced. Peer data: validate before use.
    /// A span of 0 names no position. A survivor calls this after it loaded
    /// the claimed position word with `Acquire` (module docs).
    #[inline]
    pub fn read(&self) -> (u32, u32) {
        let position = self.position.load(Ordering::Acquire);
        let span = self.span.load(Ordering::Acquire);
        (position, span)
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
    /// Nobody names the position: a claimant without an intent, or one whose
    /// intent was overwritten (its record reused). Wait, or decide by other
    /// means.
    Unknown,
}

//! Role claims: taken in a word of the control block, given back by a guard.

use core::fmt;

use super::{Layout, Placed, Word};
use crate::error::{Result, Role};
use crate::sync::AtomicU32;

/// A claimed role of a ring: the endpoint that holds it holds this guard,
/// and dropping the guard gives the role back, so the endpoints need no
/// `Drop` of their own. It also keeps the ring handle the endpoint reads
/// its words and data through.
///
/// A child that inherits a claimed endpoint across `fork` and drops it
/// gives back the *parent's* role: in the child, leave such endpoints to
/// `_exit` (or `mem::forget` them).
pub(crate) struct Claim<'a, L: Layout> {
    ring: Placed<'a, L>,
    word: Word,
}

impl<'a, L: Layout> Claim<'a, L> {
    /// Claims `word` of `ring` for `role` ([`crate::region::claim`]).
    pub(crate) fn take(ring: Placed<'a, L>, word: Word, role: Role) -> Result<Self> {
        crate::region::claim(ring.word(word), role)?;
        Ok(Self { ring, word })
    }

    /// The ring this claim is of.
    #[inline(always)]
    pub(crate) fn ring(&self) -> &Placed<'a, L> {
        &self.ring
    }
}

impl<L: Layout> Drop for Claim<'_, L> {
    fn drop(&mut self) {
        release(self.ring.word(self.word));
    }
}

impl<L: Layout> fmt::Debug for Claim<'_, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim").field("word", &self.word).finish()
    }
}

/// Gives a claim word back ([`crate::region::release_claim`]).
pub(super) fn release(word: &AtomicU32) {
    crate::region::release_claim(word);
}

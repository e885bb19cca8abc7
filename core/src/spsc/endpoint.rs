//! The SPSC index logic, once: what the ring of slots ([`crate::spsc`]) and
//! the ring of frames ([`crate::frame::spsc`]) share, as bbqueue's framed
//! layer sits on its stream layer.
//!
//! Both rings have the control block of the [layout table](super#layout-layout-version-1-kind-1):
//! the producer owns `tail`, the consumer owns `head`, both free-running
//! `u32` positions. An [`Endpoint`] is one side: its own position, a cached
//! copy of the peer's (reloaded and validated only when the cache says full
//! or empty), the claim of its role, and its notifier. Publishing moves the
//! own position with one `Release` store and wakes a sleeping peer through
//! the event count of [`crate::wait`]. What the positions count (slots or
//! bytes) and how data is laid out between them is the ring's business.

use core::fmt;
use core::time::Duration;

use crate::error::{Error, Result, Role};
use crate::place::{self, Claim, HEAD, Placed, SingleRoles, TAIL, Word};
use crate::sync::Ordering;
#[cfg(ipckit_cas)]
use crate::sync::fence;
#[cfg(ipckit_cas)]
use crate::wait::AsyncNotify;
use crate::wait::{Announce, Attempt, Notify, Spin, block_on, wake_waiters};
#[cfg(ipckit_cas)]
use core::task::{Context, Poll};

// `place::TAIL`: the next position the producer writes; `place::HEAD`:
// the next position the consumer reads.
place::words! {
    /// The producer's claim word.
    pub(crate) PRODUCER_CLAIM = (0, 1) at 132;
    /// Set by a consumer about to sleep on `tail` (on the producer's line,
    /// which the producer checks after every publication).
    pub(crate) CONSUMER_WAITING = (0, 2) at 136;
    /// The consumer's claim word.
    pub(crate) CONSUMER_CLAIM = (1, 1) at 260;
    /// Set by a producer about to sleep on `head`.
    pub(crate) PRODUCER_WAITING = (1, 2) at 264;
}

/// A layout with the SPSC control block: what the index logic needs to
/// know of the ring on top of it.
pub trait SpscLayout: SingleRoles {
    /// What the producer reports for a `head` it cannot accept.
    const BAD_HEAD: &'static str;
    /// What the consumer reports for a `tail` it cannot accept.
    const BAD_TAIL: &'static str;
}

/// One end of an SPSC-family ring: the producer (`P = true`) or the
/// consumer. The rings name it: `spsc::Producer<'a, T, N>`,
/// `frame::spsc::Consumer<'a, N>`, and so on.
///
/// It holds its role's claim, given back when it is dropped.
pub struct Endpoint<'a, L: SpscLayout, N, const P: bool> {
    /// Our own position (`tail` for the producer, `head` for the consumer).
    pub(crate) pos: u32,
    /// The peer's position as last loaded and validated.
    pub(crate) cached: u32,
    claim: Claim<'a, L>,
    pub(crate) notify: N,
    /// Whether a `poll_` call left this side announced in its waiting flag
    /// (withdrawn at the next ready poll, or at drop).
    announced: bool,
}

// SAFETY: an endpoint is one side of the ring; moving it to another thread
// moves the role with it. Data of the layout's element type crosses
// threads (`L: Send`), and the notifier moves along (`N: Send`).
unsafe impl<L: SpscLayout + Send, N: Send, const P: bool> Send for Endpoint<'_, L, N, P> {}

impl<L: SpscLayout, N, const P: bool> fmt::Debug for Endpoint<'_, L, N, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(if P { "Producer" } else { "Consumer" })
            .field("kind", &L::KIND)
            .field("position", &self.pos)
            .field("cached_peer", &self.cached)
            .field("capacity", &self.claim.ring().capacity())
            .finish()
    }
}

impl<'a, L: SpscLayout> Placed<'a, L> {
    /// Claims the producer role, with spinning waits. Only one producer
    /// exists at a time ([`Error::RoleTaken`]); the role is given back when
    /// the producer is dropped, and the next one resumes at the published
    /// `tail`.
    pub fn producer(&self) -> Result<Endpoint<'a, L, Spin, true>> {
        Endpoint::claim(self, Spin::new())
    }

    /// Claims the producer role with the notifier `notify`, which blocking
    /// calls sleep through and every publication wakes a sleeping consumer
    /// through. `N::WAKES` must match the ring ([`Error::NotifyMismatch`]).
    pub fn producer_with<N: Notify>(&self, notify: N) -> Result<Endpoint<'a, L, N, true>> {
        Endpoint::claim(self, notify)
    }

    /// Claims the consumer role; see [`producer`](Self::producer).
    pub fn consumer(&self) -> Result<Endpoint<'a, L, Spin, false>> {
        Endpoint::claim(self, Spin::new())
    }

    /// Claims the consumer role with the notifier `notify`; see
    /// [`producer_with`](Self::producer_with).
    pub fn consumer_with<N: Notify>(&self, notify: N) -> Result<Endpoint<'a, L, N, false>> {
        Endpoint::claim(self, notify)
    }

    /// Claims both roles, for a ring whose two ends live in one process.
    #[allow(clippy::type_complexity)]
    pub fn split(&self) -> Result<(Endpoint<'a, L, Spin, true>, Endpoint<'a, L, Spin, false>)> {
        Ok((self.producer()?, self.consumer()?))
    }
}

impl<L: SpscLayout, const CAP: usize> crate::place::Owned<L, CAP> {
    /// Claims the producer role; see [`Placed::producer`].
    pub fn producer(&self) -> Result<Endpoint<'_, L, Spin, true>> {
        self.ring().producer()
    }

    /// Claims the consumer role; see [`Placed::consumer`].
    pub fn consumer(&self) -> Result<Endpoint<'_, L, Spin, false>> {
        self.ring().consumer()
    }

    /// Claims both roles; see [`Placed::split`].
    #[allow(clippy::type_complexity)]
    pub fn split(&self) -> Result<(Endpoint<'_, L, Spin, true>, Endpoint<'_, L, Spin, false>)> {
        self.ring().split()
    }
}

impl<'a, L: SpscLayout, N, const P: bool> Endpoint<'a, L, N, P> {
    /// Our position's word.
    const OWN: Word = if P { TAIL } else { HEAD };
    /// The peer's position's word.
    const PEER: Word = if P { HEAD } else { TAIL };
    /// The flag the peer sets before it sleeps on our position.
    const PEER_WAITING: Word = if P {
        CONSUMER_WAITING
    } else {
        PRODUCER_WAITING
    };
    /// The flag we set before we sleep on the peer's position.
    const OWN_WAITING: Word = if P {
        PRODUCER_WAITING
    } else {
        CONSUMER_WAITING
    };

    /// The ring this endpoint is of.
    #[inline(always)]
    pub(crate) fn ring(&self) -> &Placed<'a, L> {
        self.claim.ring()
    }

    /// The capacity, in the ring's units.
    #[inline(always)]
    pub fn capacity(&self) -> u32 {
        self.ring().capacity()
    }

    /// `tail - head` for the peer position `peer` (wrapping).
    #[inline(always)]
    fn occupied(&self, peer: u32) -> u32 {
        if P {
            self.pos.wrapping_sub(peer)
        } else {
            peer.wrapping_sub(self.pos)
        }
    }

    /// What this side can take for a `tail - head` of `occupied`: free room
    /// for the producer, published data for the consumer.
    #[inline(always)]
    fn room(&self, occupied: u32) -> u32 {
        if P {
            self.capacity() - occupied
        } else {
            occupied
        }
    }

    #[cold]
    fn corrupted(&self) -> Error {
        Error::Corrupted(if P { L::BAD_HEAD } else { L::BAD_TAIL })
    }

    /// Reloads the peer's position and validates it: `tail - head` must be
    /// within a capacity and a multiple of the position alignment. Returns
    /// this side's room.
    #[cold]
    pub(crate) fn refresh(&mut self) -> Result<u32> {
        let peer = self.ring().word(Self::PEER).load(Ordering::Acquire);
        let occupied = self.occupied(peer);
        if occupied > self.capacity() || occupied % L::POSITION_ALIGN != 0 {
            return Err(self.corrupted());
        }
        self.cached = peer;
        Ok(self.room(occupied))
    }

    /// This side's room by the cached peer position.
    #[inline(always)]
    pub(crate) fn room_cached(&self) -> u32 {
        self.room(self.occupied(self.cached))
    }

    /// This side's room, at least `wanted` if the ring has it: the cache is
    /// trusted while it promises enough, and refreshed otherwise.
    #[inline(always)]
    pub(crate) fn room_for(&mut self, wanted: u32) -> Result<u32> {
        let room = self.room_cached();
        if room >= wanted {
            Ok(room)
        } else {
            self.refresh()
        }
    }

    /// `tail - head` now, without validating into an error: a peer position
    /// out of range reads as a clamped value (a full ring), and the next
    /// operation that reloads it reports [`Error::Corrupted`].
    pub(crate) fn occupied_now(&self) -> u32 {
        let peer = self.ring().word(Self::PEER).load(Ordering::Acquire);
        self.occupied(peer).min(self.capacity())
    }

    /// `true` when nothing is published and not yet released (reloads the
    /// peer's position; see the queries of the ring's module docs).
    pub fn is_empty(&self) -> bool {
        self.occupied_now() == 0
    }
}

impl<'a, L: SpscLayout, N: Notify, const P: bool> Endpoint<'a, L, N, P> {
    /// Claims this side of `ring` and loads both positions, validated.
    fn claim(ring: &Placed<'a, L>, notify: N) -> Result<Self> {
        ring.check_notify(N::WAKES)?;
        let (word, role) = if P {
            (L::PRODUCER_CLAIM, Role::Producer)
        } else {
            (L::CONSUMER_CLAIM, Role::Consumer)
        };
        let claim = ring.claim(word, role)?;
        // Our own position, as the previous holder published it (the
        // claim's Acquire orders this load after that holder's release).
        let pos = ring.word(Self::OWN).load(Ordering::Relaxed);
        let mut end = Self {
            pos,
            cached: pos,
            claim,
            notify,
            announced: false,
        };
        if pos % L::POSITION_ALIGN != 0 {
            return Err(end.corrupted());
        }
        // On error the claim guard drops here and gives the role back.
        end.refresh()?;
        Ok(end)
    }

    /// Moves our position by `n` with one `Release` store (publishing `n`
    /// units to the peer, or handing them back), then wakes a sleeping peer
    /// (the waker's half of the event count; nothing at all with a
    /// non-waking notifier).
    #[inline(always)]
    pub(crate) fn advance(&mut self, n: u32) {
        self.pos = self.pos.wrapping_add(n);
        let ring = self.claim.ring();
        let own = ring.word(Self::OWN);
        own.store(self.pos, Ordering::Release);
        wake_waiters(&self.notify, own, ring.word(Self::PEER_WAITING), false);
    }

    /// Runs `attempt` until it does not fail with the flow error of this
    /// side ([`Error::Full`] for the producer, [`Error::Empty`] for the
    /// consumer), sleeping on the peer's position in between, at most
    /// `timeout` ([`Error::TimedOut`]).
    pub(crate) fn wait<R>(
        &mut self,
        timeout: Option<Duration>,
        mut attempt: impl FnMut(&mut Self) -> Result<R>,
    ) -> Result<R> {
        let ring = self.ring().clone();
        let (word, waiters) = (ring.word(Self::PEER), ring.word(Self::OWN_WAITING));
        let would_block = if P { Error::Full } else { Error::Empty };
        block_on(
            self,
            |e| &e.notify,
            timeout,
            Announce::Single,
            waiters,
            |e| match attempt(e) {
                Err(e) if e == would_block => Ok(Attempt::Wait(word)),
                done => done.map(Attempt::Ready),
            },
        )
    }
}

impl<L: SpscLayout, N, const P: bool> Endpoint<'_, L, N, P> {
    /// Takes this side's announcement back, if a `poll_` call left it up.
    #[inline(always)]
    fn withdraw(&mut self) {
        if self.announced {
            self.announced = false;
            self.ring()
                .word(Self::OWN_WAITING)
                .store(0, Ordering::Relaxed);
        }
    }
}

impl<L: SpscLayout, N, const P: bool> Drop for Endpoint<'_, L, N, P> {
    fn drop(&mut self) {
        // Before the claim goes: a stale flag would cost the peer a wake
        // per publication until the next holder of the role withdraws it.
        self.withdraw();
    }
}

#[cfg(ipckit_cas)]
impl<L: SpscLayout, N: AsyncNotify, const P: bool> Endpoint<'_, L, N, P> {
    /// The waiter's half of the event count for an async task
    /// ([`crate::wait::waker`]): runs `attempt`; if it fails with this
    /// side's flow error ([`Error::Full`] / [`Error::Empty`]), registers
    /// the task's waker in this end's slot, announces, fences and runs it
    /// once more, returning `Pending` only if it still would block. The
    /// announcement stays up after `Pending` (the waker may be needed) and
    /// is withdrawn by the next poll that returns `Ready`, or at drop.
    pub(crate) fn poll_with<R>(
        &mut self,
        cx: &mut Context<'_>,
        mut attempt: impl FnMut(&mut Self) -> Result<R>,
    ) -> Poll<Result<R>> {
        let would_block = if P { Error::Full } else { Error::Empty };
        match attempt(self) {
            Err(e) if e == would_block => {}
            done => {
                self.withdraw();
                return Poll::Ready(done);
            }
        }
        self.notify.waker_slot().register(cx.waker());
        // Stored on every pending poll, not only the first: a blocking call
        // in between (its `Blocker`) may have cleared the flag.
        self.ring()
            .word(Self::OWN_WAITING)
            .store(1, Ordering::Relaxed);
        self.announced = true;
        // The waiter's fence of the Dekker pair: the peer either sees the
        // flag after its publication, or our re-check sees the publication.
        fence(Ordering::SeqCst);
        match attempt(self) {
            Err(e) if e == would_block => Poll::Pending,
            done => {
                self.withdraw();
                Poll::Ready(done)
            }
        }
    }
}

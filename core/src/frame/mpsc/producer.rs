//! Producers: claims on `tail` (announced in an intent first) and sends.

use super::*;

/// A writing endpoint of an MPSC frame ring. Any number of producers may
/// send concurrently, through clones or one producer shared by reference;
/// each carries a claimant id (say, its process id) that a stalled record
/// names, and optionally an [`Intent`] that names its claims before their
/// headers are written ([`with_intent`](Self::with_intent)).
///
/// ```
/// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region};
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 64)?;
/// let tx = ring.producer()?;
/// tx.try_send(&[1; 24])?; // a 32-byte record
/// tx.try_send(&[2; 24])?;
/// assert_eq!(tx.try_send(&[3; 24]), Err(Error::Full));
/// assert_eq!(tx.try_send(&[0; 25]), Err(Error::FrameTooLarge { len: 25, max: 24 }));
/// # Ok::<(), Error>(())
/// ```
pub struct Producer<'a, N = Spin> {
    pub(super) ring: Ring<'a>,
    pub(super) notify: N,
    pub(super) id: u32,
    pub(super) intent: Option<&'a Intent>,
}

/// A clone shares the claimant id and the intent: do not claim through two
/// producers with one intent at the same time ([`Producer::with_intent`]).
impl<N: Clone> Clone for Producer<'_, N> {
    fn clone(&self) -> Self {
        Self {
            ring: self.ring.clone(),
            notify: self.notify.clone(),
            id: self.id,
            intent: self.intent,
        }
    }
}

impl<N> fmt::Debug for Producer<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("frame::mpsc::Producer")
            .field("capacity", &self.ring.capacity())
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A claim: the record's position (after any padding) and its length.
#[derive(Clone, Copy)]
pub(super) struct Claim {
    pub(super) pos: u32,
    pub(super) len: u32,
}

impl<'a, N: Notify> Producer<'a, N> {
    /// This producer with claimant id `id` (e.g. its process id), written
    /// into every record it claims so that a stalled record names its owner.
    /// [`DISCARDED`] (`u32::MAX`) is reserved: [`Error::InvalidCapacity`].
    pub fn with_id(self, id: u32) -> Result<Self> {
        if id == DISCARDED {
            return Err(Error::InvalidCapacity);
        }
        Ok(Self { id, ..self })
    }

    /// This producer announcing every claim in `intent` before its
    /// compare-and-swap on `tail`, and clearing it once the record header
    /// names the claim (or when it gives up: the ring is full). A survivor
    /// that finds a claimed record whose header was never written can then
    /// tell from the intents and the producers' liveness whether a dead
    /// producer made the claim, and skip exactly its bytes
    /// ([`Consumer::skip_unwritten`]; see [`crate::intent`]).
    ///
    /// The intent must belong to this producer alone, placed where the
    /// survivor reads it: claims of two threads through one intent (this
    /// producer shared by reference, or its clones) would overwrite each
    /// other's announcement, and a survivor could then skip a live claim.
    pub fn with_intent(self, intent: &'a Intent) -> Self {
        Self {
            intent: Some(intent),
            ..self
        }
    }

    /// The claimant id ([`with_id`](Self::with_id)).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The ring this producer writes to.
    pub fn ring(&self) -> &Ring<'a> {
        &self.ring
    }

    /// Checks `len` against the largest frame.
    fn check_len(&self, len: usize) -> Result<u32> {
        let max = self.ring.max_frame_len();
        match u32::try_from(len) {
            Ok(l) if l <= max => Ok(l),
            _ => Err(Error::FrameTooLarge {
                len: len_u32(len),
                max,
            }),
        }
    }

    /// One attempt to claim a record of `len` payload bytes: `None` when the
    /// free space is too small.
    #[inline]
    fn claim(&self, len: u32) -> Result<Option<Claim>> {
        self.claim_inner(len, true)
    }

    /// For the loom models: claims space for a frame of `len` bytes and
    /// writes nothing, as a producer that dies right after its
    /// compare-and-swap on `tail` (its intent, if any, still announcing the
    /// claim). `false` when the ring was full.
    #[doc(hidden)]
    pub fn claim_and_die(&self, len: usize) -> Result<bool> {
        let len = self.check_len(len)?;
        Ok(self.claim_inner(len, false)?.is_some())
    }

    /// Withdraws this producer's announcement, if it has an intent.
    #[inline(always)]
    fn clear_intent(&self) {
        if let Some(intent) = self.intent {
            intent.clear();
        }
    }

    #[inline(always)]
    fn claim_inner(&self, len: u32, write: bool) -> Result<Option<Claim>> {
        let ring = &self.ring;
        let cap = ring.capacity();
        let mask = cap - 1;
        let total = record_len(len);
        let mut retries = 0;
        loop {
            // `tail`, then `head`, both Acquire, and claims with Release:
            // whoever claimed up to `tail` had seen a `head` of at least
            // `tail - capacity`, and our `head` load comes after its
            // claim (synchronised), so `tail - head <= capacity` holds in an
            // honest ring and anything more is a corruption. `head` can be
            // past our `tail` (the consumer read records claimed after our
            // load): then `tail` is stale, and a reload, ordered after the
            // consumer's `head` store, is at least `head`.
            let mut tail = ring.word(TAIL).load(Ordering::Acquire);
            let head = ring.word(HEAD).load(Ordering::Acquire);
            if (tail.wrapping_sub(head) as i32) < 0 {
                tail = ring.word(TAIL).load(Ordering::Acquire);
            }
            let used = tail.wrapping_sub(head);
            if used > cap || (tail | head) % RECORD_ALIGN != 0 {
                // An announcement of a lost attempt must not outlive it.
                self.clear_intent();
                return Err(Error::Corrupted(
                    "tail is not a record position within a capacity of head",
                ));
            }
            let until_end = cap - (tail & mask);
            let need = if total <= until_end {
                total
            } else {
                until_end + total
            };
            if need > cap - used {
                self.clear_intent();
                return Ok(None);
            }
            // The intent first (module docs): from the compare-and-swap on,
            // the claim is ours and must be attributable to us.
            if let Some(intent) = self.intent {
                intent.announce(tail, need);
            }
            // Release: orders our `head` load before any later claimant's
            // `tail` load (see above), and the announcement before the
            // claim for a survivor that reads `tail` with Acquire. The
            // payload is published by the record header's Release stores,
            // not by this.
            match ring.word(TAIL).compare_exchange_weak(
                tail,
                tail.wrapping_add(need),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if !write {
                        return Ok(Some(Claim { pos: tail, len }));
                    }
                    // The record header, then the padding header before it
                    // (if any): until the header at `tail` is written, the
                    // whole claim is unwritten, and the intent covers it.
                    let pos = if need != total {
                        tail.wrapping_add(until_end)
                    } else {
                        tail
                    };
                    let off = pos & mask;
                    ring.record_word(off, 1).store(self.id, Ordering::Relaxed);
                    ring.record_word(off, 0)
                        .store(BUSY | frame_word(len), Ordering::Release);
                    if need != total {
                        let pad = tail & mask;
                        ring.record_word(pad, 1).store(self.id, Ordering::Relaxed);
                        ring.record_word(pad, 0)
                            .store(PAD | until_end, Ordering::Release);
                    }
                    // The headers name the claim now. Release: a survivor
                    // that reads the cleared intent sees them.
                    self.clear_intent();
                    // No payload byte may become visible before the header
                    // that covers it (the consumer's skip scan relies on it).
                    fence(Ordering::Release);
                    return Ok(Some(Claim { pos, len }));
                }
                Err(_) => {
                    retries += 1;
                    if retries >= RETRY_LIMIT {
                        self.clear_intent();
                        return Err(Error::Corrupted("tail kept moving: retry limit reached"));
                    }
                }
            }
        }
    }

    /// Claims space for a frame of `len` bytes and returns it for writing in
    /// place, or [`Error::Full`]; [`Error::FrameTooLarge`] for a frame
    /// longer than [`Ring::max_frame_len`] (nothing claimed).
    ///
    /// The record is in progress until [`Grant::commit`]; the consumer
    /// waits for it (frames claimed later may be committed earlier and wait
    /// behind it). Dropping the grant uncommitted discards it.
    pub fn try_grant(&self, len: usize) -> Result<Grant<'_, 'a, N>> {
        let len = self.check_len(len)?;
        match self.claim(len)? {
            Some(claim) => Ok(Grant::new(self, claim)),
            None => Err(Error::Full),
        }
    }

    /// Like [`try_grant`](Self::try_grant), waiting while the ring is full.
    pub fn grant(&self, len: usize) -> Result<Grant<'_, 'a, N>> {
        self.grant_timeout(len, None)
    }

    /// Like [`try_grant`](Self::try_grant), waiting at most `timeout`
    /// (`None`: no limit) while the ring is full ([`Error::TimedOut`]).
    /// Waiting producers sleep on `head`.
    pub fn grant_timeout(&self, len: usize, timeout: Option<Duration>) -> Result<Grant<'_, 'a, N>> {
        let len = self.check_len(len)?;
        let claim = self.claim_blocking(len, timeout)?;
        Ok(Grant::new(self, claim))
    }

    /// [`claim`](Self::claim) in the core's blocking loop: waiting
    /// producers sleep on `head`, which the consumer stores (and wakes them
    /// on) after every record it consumes.
    fn claim_blocking(&self, len: u32, timeout: Option<Duration>) -> Result<Claim> {
        let ring = &self.ring;
        let head = ring.word(HEAD);
        block_on(
            &mut &*self,
            |p| &p.notify,
            timeout,
            Announce::Counter,
            ring.word(PRODUCERS_WAITING),
            |p| {
                Ok(match p.claim(len)? {
                    Some(claim) => Attempt::Ready(claim),
                    None => Attempt::Wait(head),
                })
            },
        )
    }

    /// Sends a copy of `frame`, or [`Error::Full`] /
    /// [`Error::FrameTooLarge`] (nothing claimed).
    pub fn try_send(&self, frame: &[u8]) -> Result<()> {
        let grant = self.try_grant(frame.len())?;
        grant.finish_copy(frame);
        Ok(())
    }

    /// Sends a copy of `frame`, waiting while the ring is full.
    pub fn send(&self, frame: &[u8]) -> Result<()> {
        self.send_timeout(frame, None)
    }

    /// Sends a copy of `frame`, waiting at most `timeout` (`None`: no limit)
    /// while the ring is full ([`Error::TimedOut`]).
    pub fn send_timeout(&self, frame: &[u8], timeout: Option<Duration>) -> Result<()> {
        let grant = self.grant_timeout(frame.len(), timeout)?;
        grant.finish_copy(frame);
        Ok(())
    }

    /// The size of the data area in bytes.
    pub fn capacity(&self) -> u32 {
        self.ring.capacity()
    }

    /// The largest frame this ring carries ([`Ring::max_frame_len`]).
    pub fn max_frame_len(&self) -> u32 {
        self.ring.max_frame_len()
    }

    /// The bytes not claimed now (loads `tail` and `head`; other producers
    /// and the consumer move them at once). A frame of `len` bytes needs
    /// [`record_len`](crate::frame::record_len)`(len)` of them, contiguous
    /// or after padding to the end of the data area. Indices the protocol
    /// cannot produce (a corrupted peer) read as a full ring, 0, and the
    /// next claim reports [`Error::Corrupted`].
    pub fn free_bytes(&self) -> usize {
        let ring = &self.ring;
        let cap = ring.capacity();
        let mut tail = ring.word(TAIL).load(Ordering::Acquire);
        let head = ring.word(HEAD).load(Ordering::Acquire);
        if (tail.wrapping_sub(head) as i32) < 0 {
            tail = ring.word(TAIL).load(Ordering::Acquire); // stale: as `claim`
        }
        let used = tail.wrapping_sub(head);
        if used > cap || (tail | head) % RECORD_ALIGN != 0 {
            return 0;
        }
        (cap - used) as usize
    }
}

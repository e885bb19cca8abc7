//! The consumer: reading in position order, waiting, receiving.

use super::*;

/// A committed frame found at `head`.
#[derive(Clone, Copy)]
pub(super) struct Ready {
    /// Data offset of the record header.
    pub(super) off: u32,
    /// Payload bytes.
    pub(super) len: u32,
    /// Record bytes.
    pub(super) total: u32,
    /// The claimant word of the record.
    pub(super) claimant: u32,
}

/// What one look at `head` found (after skipping padding and discarded
/// records).
pub(super) enum Step {
    Ready(Ready),
    /// Nothing claimed: `tail == head`.
    Empty,
    /// A record is claimed at `head` but not committed (header not written,
    /// or busy).
    InProgress,
    /// This look consumed a capacity of padding and discarded records (its
    /// budget, module docs): look again.
    More,
}

/// What the skip scan found after an unwritten record header at `head`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scan {
    /// The first written header, this many bytes from `head`.
    Found(u32),
    /// No written header within the published range.
    Nothing,
    /// Words kept changing for [`SCAN_PASSES`] passes: no judgement.
    Unsure,
}

/// The reading endpoint of an MPSC frame ring: one at a time, a claimed
/// role (dropping it gives the role back).
///
/// ```
/// use ipckit_core::{frame::mpsc, AlignedBytes, Error, Region};
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 512)?;
/// let (tx, mut rx) = (ring.producer()?, ring.consumer()?);
/// tx.try_send(b"abc")?;
/// let frame = rx.try_read()?; // zero-copy view of the frame
/// assert_eq!(frame.len(), 3);
/// let mut buf = [0; 3];
/// frame.copy_to(&mut buf)?;
/// frame.release();
/// assert_eq!(&buf, b"abc");
/// assert!(matches!(rx.try_read(), Err(Error::Empty)));
/// # Ok::<(), Error>(())
/// ```
pub struct Consumer<'a, N = Spin> {
    /// The consumer role, given back on drop; holds the ring.
    pub(super) claim: place::Claim<'a, Frames>,
    pub(super) notify: N,
    /// Our own index (the shared word is only ever stored from this copy).
    pub(super) head: u32,
    /// `tail` as last loaded and validated; reloaded only when needed.
    pub(super) cached_tail: u32,
    pub(super) stall_timeout: Option<Duration>,
}

impl<N> fmt::Debug for Consumer<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("frame::mpsc::Consumer")
            .field("capacity", &self.claim.ring().capacity())
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl<'a, N: Notify> Consumer<'a, N> {
    /// Reloads `tail` and returns the published bytes from `head`.
    pub(super) fn refresh_tail(&mut self) -> Result<u32> {
        let tail = self.ring().word(TAIL).load(Ordering::Acquire);
        let readable = tail.wrapping_sub(self.head);
        if readable > self.ring().capacity() || tail % RECORD_ALIGN != 0 {
            return Err(Error::Corrupted(
                "tail is not a record position within a capacity of head",
            ));
        }
        self.cached_tail = tail;
        Ok(readable)
    }

    pub(super) fn publish_head(&mut self, n: u32) {
        self.head = self.head.wrapping_add(n);
        let ring = self.claim.ring();
        ring.word(HEAD).store(self.head, Ordering::Release);
        wake_waiters(
            &self.notify,
            ring.word(HEAD),
            ring.word(PRODUCERS_WAITING),
            true,
        );
    }

    /// One look at `head`: skips padding and discarded records (at most a
    /// capacity of them: module docs), and reports a committed frame (left
    /// in place), or why there is none.
    pub(super) fn step(&mut self) -> Result<Step> {
        let cap = self.ring().capacity();
        // Bytes of padding and discarded records consumed by this look.
        let mut skipped = 0;
        loop {
            let off = self.head & (cap - 1);
            // Acquire: pairs with the producer's Release stores of the
            // header (busy, then committed), so the claim of `tail` and the
            // payload are visible after it.
            let word = self.ring().record_word(off, 0).load(Ordering::Acquire);
            if word == 0 {
                if self.cached_tail == self.head && self.refresh_tail()? == 0 {
                    return Ok(Step::Empty);
                }
                return Ok(Step::InProgress);
            }
            let readable = self.cached_tail.wrapping_sub(self.head);
            let record = match crate::frame::parse_record(word, off, cap, readable) {
                Ok(record) => record,
                // Our copy of `tail` may be stale: judge with a fresh one.
                Err(_) => {
                    let readable = self.refresh_tail()?;
                    crate::frame::parse_record(word, off, cap, readable)?
                }
            };
            match record {
                Record::Busy { .. } => return Ok(Step::InProgress),
                Record::Padding { total } => {
                    if total > cap - skipped {
                        return Ok(Step::More);
                    }
                    skipped += total;
                    self.erase(total, false);
                }
                Record::Frame { len, total } => {
                    let claimant = self.ring().record_word(off, 1).load(Ordering::Relaxed);
                    if claimant == DISCARDED {
                        if total > cap - skipped {
                            return Ok(Step::More);
                        }
                        skipped += total;
                        self.erase(total, false);
                    } else {
                        return Ok(Step::Ready(Ready {
                            off,
                            len,
                            total,
                            claimant,
                        }));
                    }
                }
            }
        }
    }

    /// Waits for a committed frame at `head` (module docs, "Blocking"),
    /// skipping records stalled longer than the stall timeout: the stall
    /// watch runs around the blocking loop, which it gives the stall's
    /// deadline when that comes before the caller's.
    fn wait_ready(&mut self, timeout: Option<Duration>) -> Result<Ready> {
        let Some(patience) = self.stall_timeout else {
            return self.wait_step(timeout);
        };
        // A frame that is there needs no clock.
        if let Step::Ready(r) = self.step()? {
            return Ok(r);
        }
        let deadline = crate::wait::deadline(&self.notify, timeout)?;
        // The stall being watched, and when it was first seen.
        let mut watch: Option<(Stall, Duration)> = None;
        loop {
            let now = self.now()?;
            match (self.stalled()?, watch) {
                (Some(s), Some((w, since))) if s.same_record(&w) => {
                    if now.saturating_sub(since) >= patience {
                        let skipped = self.skip_stalled(&w)?;
                        watch = if skipped > 0 { None } else { Some((s, now)) };
                        if let Step::Ready(r) = self.step()? {
                            return Ok(r);
                        }
                        continue;
                    }
                }
                (Some(s), _) => watch = Some((s, now)),
                (None, _) => watch = None,
            }
            let mut limit = deadline;
            if let Some((_, since)) = watch {
                let at = since.saturating_add(patience);
                limit = Some(limit.map_or(at, |l| l.min(at)));
            }
            let relative = limit.map(|l| l.saturating_sub(now));
            match self.wait_step(relative) {
                Err(Error::TimedOut) => {
                    let expired = match deadline {
                        Some(d) => self.now()? >= d,
                        None => false,
                    };
                    if expired {
                        return Err(Error::TimedOut);
                    }
                    // The stall's deadline: look at the stall again.
                }
                done => return done,
            }
        }
    }

    /// The core's blocking loop around [`step`](Self::step), for at most
    /// `timeout`: the first look is the fast path; then a waking notifier
    /// sleeps on the doorbell, a spinning one polls the header word at
    /// `head`, which changes on every write.
    fn wait_step(&mut self, timeout: Option<Duration>) -> Result<Ready> {
        let ring = self.ring().clone();
        let mask = ring.capacity() - 1;
        let mut first = true;
        block_on(
            self,
            |s| &s.notify,
            timeout,
            Announce::Single,
            ring.word(CONSUMER_WAITING),
            |s| {
                if !core::mem::take(&mut first) {
                    // The doorbell was loaded Relaxed: a producer's bump
                    // seen there must make its commit visible to this look.
                    fence(Ordering::Acquire);
                }
                Ok(match s.step()? {
                    Step::Ready(r) => Attempt::Ready(r),
                    // The look's budget ran out with records left: no sleep
                    // (nobody may wake us for those), only the deadline.
                    Step::More => Attempt::Again,
                    Step::Empty | Step::InProgress if N::WAKES => {
                        Attempt::Wait(ring.word(DOORBELL))
                    }
                    Step::Empty | Step::InProgress => {
                        Attempt::Wait(ring.record_word(s.head & mask, 0))
                    }
                })
            },
        )
    }

    fn now(&self) -> Result<Duration> {
        self.notify.now().ok_or(Error::NoClock)
    }

    /// The oldest frame, as a zero-copy view that [`ReadFrame::release`]
    /// consumes; [`Error::Empty`] if no frame is committed at the front of
    /// the ring (none is claimed, or the oldest claimed one is still being
    /// written: see [`stalled`](Self::stalled)), or if this call consumed a
    /// capacity of padding and discarded records without reaching one (a
    /// producer that keeps discarding: call again).
    ///
    /// Returns [`Error::Corrupted`] for a record header or `tail` the
    /// protocol cannot produce (frames before it have been delivered).
    pub fn try_read(&mut self) -> Result<ReadFrame<'_, 'a, N>> {
        match self.step()? {
            Step::Ready(frame) => Ok(ReadFrame {
                consumer: self,
                frame,
            }),
            Step::Empty | Step::InProgress | Step::More => Err(Error::Empty),
        }
    }

    /// Like [`try_read`](Self::try_read), waiting while there is no frame.
    pub fn read(&mut self) -> Result<ReadFrame<'_, 'a, N>> {
        self.read_timeout(None)
    }

    /// Like [`try_read`](Self::try_read), waiting at most `timeout` (`None`:
    /// no limit) while there is no frame ([`Error::TimedOut`]).
    pub fn read_timeout(&mut self, timeout: Option<Duration>) -> Result<ReadFrame<'_, 'a, N>> {
        let frame = self.wait_ready(timeout)?;
        Ok(ReadFrame {
            consumer: self,
            frame,
        })
    }

    /// Copies the oldest frame into `buf` and consumes it; returns its
    /// length. [`Error::Empty`] as for [`try_read`](Self::try_read) (also
    /// after a capacity of padding and discarded records);
    /// [`Error::BufferTooSmall`] if `buf` is shorter than the frame, which
    /// then stays queued.
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        match self.step()? {
            Step::Ready(frame) => self.copy_and_consume(frame, buf),
            Step::Empty | Step::InProgress | Step::More => Err(Error::Empty),
        }
    }

    /// Like [`try_recv`](Self::try_recv), waiting while there is no frame.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.recv_timeout(buf, None)
    }

    /// Like [`try_recv`](Self::try_recv), waiting at most `timeout` (`None`:
    /// no limit) while there is no frame ([`Error::TimedOut`]).
    pub fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        let frame = self.wait_ready(timeout)?;
        self.copy_and_consume(frame, buf)
    }

    /// For the loom models: receives the oldest frame into `buf` as
    /// [`try_recv`](Self::try_recv) does, but dies after `steps` steps of
    /// its erase (journal, zeroing, header word, skip count, `head`: see
    /// `erase_steps`); the caller then forgets this consumer. Returns the
    /// frame's length and whether the erase finished.
    #[doc(hidden)]
    pub fn recv_and_die(&mut self, buf: &mut [u8], steps: u32) -> Result<(usize, bool)> {
        let Step::Ready(frame) = self.step()? else {
            return Err(Error::Empty);
        };
        let len = frame.len as usize;
        let dst = buf
            .get_mut(..len)
            .ok_or(Error::BufferTooSmall { required: len })?;
        // SAFETY: as in `copy_and_consume`.
        unsafe { self.ring().copy_out(frame.off + 8, dst) };
        let mut taken = 0;
        let done = self.erase_steps(frame.total, false, &mut || {
            taken += 1;
            taken <= steps
        });
        Ok((len, done))
    }

    fn copy_and_consume(&mut self, frame: Ready, buf: &mut [u8]) -> Result<usize> {
        let len = frame.len as usize;
        let Some(dst) = buf.get_mut(..len) else {
            return Err(Error::BufferTooSmall { required: len });
        };
        // SAFETY: the committed record lies in the data area (parsed), and
        // its producer no longer writes it.
        unsafe { self.ring().copy_out(frame.off + 8, dst) };
        self.erase(frame.total, false);
        Ok(len)
    }

    /// The size of the data area in bytes.
    pub fn capacity(&self) -> u32 {
        self.ring().capacity()
    }

    /// The largest frame this ring carries ([`Ring::max_frame_len`]).
    pub fn max_frame_len(&self) -> u32 {
        self.ring().max_frame_len()
    }

    /// The bytes claimed and not yet consumed: committed frames, records in
    /// progress, padding and discarded records (loads `tail`; producers
    /// move it at once). A `tail` the protocol cannot produce (a corrupted
    /// peer) reads as a full ring, the capacity, and the next read that
    /// reloads `tail` reports [`Error::Corrupted`].
    pub fn pending_bytes(&self) -> usize {
        let tail = self.ring().word(TAIL).load(Ordering::Acquire);
        let pending = tail.wrapping_sub(self.head);
        if pending > self.ring().capacity() || tail % RECORD_ALIGN != 0 {
            return self.ring().capacity() as usize;
        }
        pending as usize
    }

    /// The ring this consumer reads.
    pub fn ring(&self) -> &Ring<'a> {
        self.claim.ring()
    }
}

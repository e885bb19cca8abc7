//! Stalled records: what holds the consumer up, and skipping the records of
//! dead producers.

use super::*;

/// A record that holds the consumer up, as [`Consumer::stalled`] saw it.
///
/// ```
/// use ipckit_core::{frame::mpsc, AlignedBytes, Region};
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = mpsc::Ring::init(Region::from_slice(&mut bytes[..]), 256)?;
/// let (tx, mut rx) = (ring.producer()?.with_id(42)?, ring.consumer()?);
/// let grant = tx.try_grant(5)?;
/// let stall = rx.stalled()?.expect("a grant in progress");
/// assert_eq!((stall.position, stall.claimant, stall.len), (0, Some(42), Some(5)));
/// drop(grant);
/// assert_eq!(rx.stalled()?, None);
/// # Ok::<(), ipckit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    /// The byte position of the record (the consumer's `head`).
    pub position: u32,
    /// The claimant id from the record header, once the header is written
    /// (`None`: claimed, header not written yet).
    pub claimant: Option<u32>,
    /// The frame length announced in the header, once written.
    pub len: Option<u32>,
    /// The first header word as seen (0 or busy).
    pub(super) word: u32,
    /// `tail` as seen.
    pub(super) tail: u32,
}

/// What [`Consumer::skip_stalled`] has skipped over the ring's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Stalled records skipped (wrapping; one skip of several unwritten
    /// records counts one).
    pub records: u32,
    /// Their bytes, headers and padding included.
    pub bytes: u64,
}

impl<'a, N: Notify> Consumer<'a, N> {
    /// The record that holds the consumer up, if any: a record claimed at
    /// the front of the ring and not committed (after skipping padding and
    /// discarded records there). A slow producer shows here for a moment, a
    /// dead one forever; see [`skip_stalled`](Self::skip_stalled).
    ///
    /// Returns [`Error::Corrupted`] as [`try_read`](Self::try_read) does.
    pub fn stalled(&mut self) -> Result<Option<Stall>> {
        match self.step()? {
            Step::Ready(_) | Step::Empty | Step::More => return Ok(None),
            Step::InProgress => {}
        }
        let cap = self.ring().capacity();
        let off = self.head & (cap - 1);
        let word = self.ring().record_word(off, 0).load(Ordering::Acquire);
        let readable = self.refresh_tail()?;
        let mut stall = Stall {
            position: self.head,
            claimant: None,
            len: None,
            word,
            tail: self.cached_tail,
        };
        if word != 0 {
            match crate::frame::parse_record(word, off, cap, readable)? {
                Record::Busy { len, .. } => {
                    stall.len = Some(len);
                    stall.claimant = Some(self.ring().record_word(off, 1).load(Ordering::Relaxed));
                }
                // Committed meanwhile.
                Record::Frame { .. } | Record::Padding { .. } => return Ok(None),
            }
        }
        Ok(Some(stall))
    }

    /// Skips the stalled record `stall` (from [`stalled`](Self::stalled)) if
    /// it is still there, unchanged, and returns the bytes skipped (0 if the
    /// record moved on, or if an unwritten record has no written record
    /// after it and `tail` moved since `stall` was taken: too young to
    /// judge). The skip is counted in [`skipped`](Self::skipped).
    ///
    /// **Only for records of producers known to be dead** (module docs): a
    /// live producer whose record is skipped writes into released space.
    pub fn skip_stalled(&mut self, stall: &Stall) -> Result<u32> {
        if stall.position != self.head {
            return Ok(0);
        }
        let cap = self.ring().capacity();
        let off = self.head & (cap - 1);
        let word = self.ring().record_word(off, 0).load(Ordering::Acquire);
        if word != stall.word {
            return Ok(0);
        }
        let readable = self.refresh_tail()?;
        let skip = if word != 0 {
            let claimant = self.ring().record_word(off, 1).load(Ordering::Relaxed);
            if Some(claimant) != stall.claimant {
                return Ok(0);
            }
            match crate::frame::parse_record(word, off, cap, readable)? {
                Record::Busy { total, .. } => total,
                Record::Frame { .. } | Record::Padding { .. } => return Ok(0),
            }
        } else {
            match self.scan(readable) {
                Scan::Found(n) => n,
                Scan::Nothing if readable > 0 && self.cached_tail == stall.tail => readable,
                Scan::Nothing | Scan::Unsure => return Ok(0),
            }
        };
        // The skipped bytes (possibly around the end of the data area) are
        // published (`skip <= readable`), multiples of 8, and ours.
        self.erase(skip, true);
        Ok(skip)
    }

    /// The distance from `head` of the first written record header after
    /// the unwritten one at `head`, within `readable` bytes.
    fn scan(&self, readable: u32) -> Scan {
        let mask = self.ring().capacity() - 1;
        scan_words(readable, |d| {
            let off = self.head.wrapping_add(d) & mask;
            self.ring().record_word(off, 0).load(Ordering::Relaxed)
        })
    }

    /// Skips the claim at `position` whose header was never written and
    /// whose claimant is known dead: the `span` bytes its intent announced
    /// (module docs, "A producer that dies mid-record", and
    /// [`crate::intent`]), counted in [`skipped`](Self::skipped). Returns
    /// `span`, or 0 if `position` is not the front of the ring any more, or
    /// nothing is claimed there, or its header is written by now (a claim
    /// finished after the attribution: look again).
    ///
    /// `span` is peer data, checked against the ring before a byte is
    /// touched: [`Error::Corrupted`] unless some claim at `position` can
    /// have it (a multiple of 8 within the published range, one record of
    /// at most half the capacity, or a padding record to the end of the
    /// data area plus a record at offset 0 that did not fit before it).
    ///
    /// The attribution must have read the intents after this consumer
    /// loaded `tail` showing the claim ([`stalled`](Self::stalled) does),
    /// and must have judged the claimant dead before its final read of the
    /// claimant's intent. **Only for claims of producers known to be dead**,
    /// as [`skip_stalled`](Self::skip_stalled).
    pub fn skip_unwritten(&mut self, position: u32, span: u32) -> Result<u32> {
        if position != self.head {
            return Ok(0);
        }
        let cap = self.ring().capacity();
        let off = self.head & (cap - 1);
        // Loaded after the attribution: a claim its claimant finished since
        // shows here (the intent's Release clear, read with Acquire, orders
        // the header before it).
        if self.ring().record_word(off, 0).load(Ordering::Acquire) != 0 {
            return Ok(0);
        }
        let readable = self.refresh_tail()?;
        if readable == 0 {
            return Ok(0);
        }
        if !claim_fits(span, cap - off, cap, readable) {
            return Err(Error::Corrupted(
                "announced span does not fit a claim at head",
            ));
        }
        self.erase(span, true);
        Ok(span)
    }

    /// `true` if `position` lies in the part of the ring that is claimed
    /// and not consumed yet: from `head` on, before `tail` (loaded anew).
    /// A survivor uses it to tell a dead producer's intent that may still
    /// name an unfinished claim from one that names nothing any more.
    pub fn is_pending(&mut self, position: u32) -> Result<bool> {
        let readable = self.refresh_tail()?;
        Ok(position.wrapping_sub(self.head) < readable)
    }

    /// Records and bytes skipped by [`skip_stalled`](Self::skip_stalled)
    /// (also automatically, see [`set_stall_timeout`](Self::set_stall_timeout)),
    /// by every consumer of this ring so far.
    pub fn skipped(&self) -> Skipped {
        let ring = self.ring();
        let lo = ring.word(SKIPPED_BYTES_LO).load(Ordering::Relaxed);
        let hi = ring.word(SKIPPED_BYTES_HI).load(Ordering::Relaxed);
        Skipped {
            records: ring.word(SKIPPED_RECORDS).load(Ordering::Relaxed),
            bytes: u64::from(hi) << 32 | u64::from(lo),
        }
    }

    /// Makes the blocking reads ([`read`](Self::read),
    /// [`recv`](Self::recv) and their `_timeout` forms) skip a record that
    /// stays stalled, unchanged, for `timeout`, as
    /// [`skip_stalled`](Self::skip_stalled) does. `None` (the default): wait
    /// for it forever. Needs a notifier with a clock ([`Error::NoClock`]
    /// from the blocking calls otherwise). Read the module docs on skipping
    /// live producers before choosing a timeout.
    pub fn set_stall_timeout(&mut self, timeout: Option<Duration>) {
        self.stall_timeout = timeout;
    }
}

/// `true` if a producer's claim at a data offset `until_end` bytes before
/// the end of a data area of `cap` bytes can span `span` bytes, within
/// `readable` published bytes: one record of at most half the capacity
/// before the end, or padding to the end plus a record at offset 0 that did
/// not fit before it (module docs, "Algorithm").
fn claim_fits(span: u32, until_end: u32, cap: u32, readable: u32) -> bool {
    let largest = cap / 2; // record_len(max_frame_len(cap))
    let one = span <= until_end && span <= largest;
    let wrapped = span > until_end && {
        let record = span - until_end;
        record > until_end && record <= largest
    };
    span % RECORD_ALIGN == 0 && span >= RECORD_ALIGN && span <= readable && (one || wrapped)
}

/// The skip scan over the first header words `load(d)` at distances
/// `8, 16, ..` below `readable` from `head`: the first written one, found
/// again by a pass after an `Acquire` fence, within [`SCAN_PASSES`] passes.
pub(super) fn scan_words(readable: u32, load: impl Fn(u32) -> u32) -> Scan {
    let first_written = |to: u32| (8..to).step_by(8).find(|&d| load(d) != 0);
    let Some(mut found) = first_written(readable) else {
        return Scan::Nothing;
    };
    for _ in 1..SCAN_PASSES {
        // If `found` was a payload word of a record whose header we read
        // as 0, that header was written before the payload (Release fence
        // on the producer's side); after this fence another look sees it.
        fence(Ordering::Acquire);
        match first_written(found) {
            Some(earlier) => found = earlier,
            None => return Scan::Found(found),
        }
    }
    // Each pass found a word before the last one: a peer keeps writing
    // there. No judgement (bounded work instead of a pass per word).
    Scan::Unsure
}

impl Stall {
    /// The same record in the same state (the tail may differ).
    pub(super) fn same_record(&self, other: &Stall) -> bool {
        self.position == other.position
            && self.word == other.word
            && self.claimant == other.claimant
    }
}

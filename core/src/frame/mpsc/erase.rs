//! The consumer's journaled erase of consumed records, and its completion
//! by the next consumer (module docs, "A consumer that dies mid-erase").

use super::*;

impl<'a, N: Notify> Consumer<'a, N> {
    /// Erases the `span` bytes from `head` (a record, or the bytes of a
    /// skipped claim, which may run past the end of the data area) and
    /// publishes the new `head`, waking waiting producers: the journal, the
    /// bytes (the first header word last), the skip count for a `skip`,
    /// then `head` (module docs, "A consumer that dies mid-erase").
    ///
    /// Callers have validated `span`: a multiple of 8, at least 8, within
    /// the published range from `head`.
    #[inline(always)]
    pub(super) fn erase(&mut self, span: u32, skip: bool) {
        self.erase_steps(span, skip, &mut || true);
    }

    /// [`erase`](Self::erase), asking `go` before each step and stopping
    /// where it answers `false` (the tests' consumer killed there); returns
    /// whether it finished.
    #[inline(always)]
    pub(super) fn erase_steps(
        &mut self,
        span: u32,
        skip: bool,
        go: &mut impl FnMut() -> bool,
    ) -> bool {
        let cap = self.ring().capacity();
        let off = self.head & (cap - 1);
        let first = span.min(cap - off);
        if !go() {
            return false;
        }
        // The span first: until the position follows, the journal still
        // names the previous erase, behind `head` (module docs).
        let flagged = if skip { span | ERASE_SKIP } else { span };
        self.ring()
            .word(ERASING_SPAN)
            .store(flagged, Ordering::Relaxed);
        if !go() {
            return false;
        }
        self.ring()
            .word(ERASING_POSITION)
            .store(self.head, Ordering::Relaxed);
        if !go() {
            return false;
        }
        // SAFETY: `off..off + first` and `0..span - first` are the `span`
        // bytes from `head`, inside the data area (`off + first <= cap`,
        // `span - first < cap`), multiples of 8, published and not yet
        // released (caller contract): ours until `head` moves past them.
        unsafe {
            self.ring().zero_but_first_word(off);
            self.ring().zero(off + 8, first - 8);
        }
        if !go() {
            return false;
        }
        // SAFETY: as above.
        unsafe { self.ring().zero(0, span - first) };
        if !go() {
            return false;
        }
        // Last: until now the first header word said what these bytes are.
        self.ring().record_word(off, 0).store(0, Ordering::Relaxed);
        if skip {
            if !go() {
                return false;
            }
            self.count_skip(span);
        }
        if !go() {
            return false;
        }
        self.publish_head(span);
        true
    }

    /// Finishes the erase that a previous consumer was killed in: the
    /// journal names `head` (module docs). Runs once, at the claim.
    pub(super) fn finish_erase(&mut self) -> Result<()> {
        let ring = self.ring();
        let position = ring.word(ERASING_POSITION).load(Ordering::Relaxed);
        let journal = ring.word(ERASING_SPAN).load(Ordering::Relaxed);
        let span = journal & !ERASE_SKIP;
        if position != self.head || span == 0 {
            return Ok(());
        }
        let readable = self.cached_tail.wrapping_sub(self.head);
        if span % RECORD_ALIGN != 0 || span > readable {
            return Err(Error::Corrupted(
                "erase journal names more than the published range at head",
            ));
        }
        self.erase(span, journal & ERASE_SKIP != 0);
        Ok(())
    }

    /// Adds one skipped record of `bytes` to the statistics.
    fn count_skip(&self, bytes: u32) {
        let ring = self.ring();
        let records = ring.word(SKIPPED_RECORDS).load(Ordering::Relaxed);
        ring.word(SKIPPED_RECORDS)
            .store(records.wrapping_add(1), Ordering::Relaxed);
        let total = self.skipped().bytes.wrapping_add(u64::from(bytes));
        ring.word(SKIPPED_BYTES_LO)
            .store(total as u32, Ordering::Relaxed);
        ring.word(SKIPPED_BYTES_HI)
            .store((total >> 32) as u32, Ordering::Relaxed);
    }
}

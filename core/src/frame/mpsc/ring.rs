//! The ring handle's endpoints and the producers' doorbell; placement,
//! `init` / `attach`, [`Options`] and the claim's release are the placement
//! layer's ([`Placed`]).

use super::*;

impl<'a> Ring<'a> {
    /// The largest frame this ring carries:
    /// [`max_frame_len`](crate::frame::max_frame_len)`(capacity)`.
    pub fn max_frame_len(&self) -> u32 {
        self.capacity() / 2 - crate::frame::RECORD_HEADER_LEN
    }

    /// A producer with the spinning notifier [`Spin`] and claimant id 0;
    /// see [`producer_with`](Self::producer_with). Any number may exist.
    pub fn producer(&self) -> Result<Producer<'a>> {
        self.producer_with(Spin::new())
    }

    /// A producer whose blocking calls sleep through `notify`, and whose
    /// commits wake a sleeping consumer through it. `N::WAKES` must match the
    /// ring ([`Error::NotifyMismatch`]). Its claimant id is 0 until set with
    /// [`Producer::with_id`].
    pub fn producer_with<N: Notify>(&self, notify: N) -> Result<Producer<'a, N>> {
        self.check_notify(N::WAKES)?;
        Ok(Producer {
            ring: self.clone(),
            notify,
            id: 0,
            intent: None,
        })
    }

    /// Claims the consumer role with the spinning notifier [`Spin`]; see
    /// [`consumer_with`](Self::consumer_with).
    pub fn consumer(&self) -> Result<Consumer<'a>> {
        self.consumer_with(Spin::new())
    }

    /// Claims the consumer role (one at a time: [`Error::RoleTaken`]) with
    /// the notifier `notify`. Validates `head` and `tail` first
    /// ([`Error::Corrupted`], and the role is given back), then finishes the
    /// erase of a record that a previous holder was killed in (module docs,
    /// "A consumer that dies mid-erase"; [`Error::Corrupted`] if the erase
    /// journal names more than the published range).
    pub fn consumer_with<N: Notify>(&self, notify: N) -> Result<Consumer<'a, N>> {
        self.check_notify(N::WAKES)?;
        // On an error below, dropping the guard gives the role back.
        let claim = self.claim(CONSUMER_CLAIM, Role::Consumer)?;
        // Our own index as the previous holder published it (the claim's
        // Acquire orders this load after that holder's release).
        let head = self.word(HEAD).load(Ordering::Relaxed);
        let tail = self.word(TAIL).load(Ordering::Acquire);
        if (head | tail) % RECORD_ALIGN != 0 || tail.wrapping_sub(head) > self.capacity() {
            return Err(Error::Corrupted(
                "head is not a record position within a capacity of tail",
            ));
        }
        let mut consumer = Consumer {
            claim,
            notify,
            head,
            cached_tail: tail,
            stall_timeout: None,
        };
        // An erase the previous holder was killed in (module docs). On an
        // error, dropping `consumer` gives the role back.
        consumer.finish_erase()?;
        Ok(consumer)
    }

    /// Wakes a sleeping consumer after a commit or discard: the waker's half
    /// of the event count, on the doorbell (module docs).
    #[inline(always)]
    pub(super) fn ring_doorbell<N: Notify>(&self, notify: &N) {
        if !N::WAKES {
            return;
        }
        fence(Ordering::SeqCst);
        if self.word(CONSUMER_WAITING).load(Ordering::Relaxed) != 0 {
            doorbell_slow(notify, self.word(DOORBELL));
        }
    }
}

#[cold]
fn doorbell_slow<N: Notify>(notify: &N, doorbell: &AtomicU32) {
    // Release: a consumer whose doorbell read sees this bump (then an
    // Acquire fence) sees our commit in its re-check.
    doorbell.fetch_add(1, Ordering::Release);
    notify.wake_one(doorbell);
}

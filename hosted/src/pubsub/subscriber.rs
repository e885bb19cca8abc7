//! A subscriber of a topic: the core subscriber (its own position, no
//! claim) with a liveness record, and the channels' blocking loop.

use std::time::{Duration, Instant};

use ipckit_core::Pod;
use ipckit_core::broadcast::Ring;

use super::base::{Reader, Reading, reader};
use super::{Lossy, Start, Topic};
use crate::channel::builder::sealed;
use crate::channel::iter::source::Source;
use crate::channel::{Endpoint, Iter, Memory, Mode, TryIter, until};
#[cfg(doc)]
use crate::error::Error;
use crate::error::{CoreError, Result};

/// A subscriber of a [topic](super): it reads every item published after
/// its start, in order, unless it falls a lap behind; the receive that
/// finds out returns [`Error::Lagged`]`(n)` (the `n` items lost), and the
/// next one the oldest item still there.
///
/// Receives come in the channels' forms: [`try_recv`](Self::try_recv)
/// (never waits), [`recv`](Self::recv) (sleeps in a shared futex),
/// [`recv_timeout`](Self::recv_timeout) and
/// [`recv_deadline`](Self::recv_deadline); [`iter`](Self::iter) yields
/// `Lagged` as an item and ends once the publisher is gone and every item
/// is read. Example: the [module docs](super).
pub struct Subscriber<T: Pod> {
    // Drop order: the core end, its record and liveness slot, then the
    // mapping goes.
    inner: Reading<Ring<'static, T>>,
    topic: Topic<T>,
}

/// The typed receives of either core end.
impl<T: Pod> Reader<Ring<'static, T>> {
    fn try_recv(&mut self) -> ipckit_core::Result<T> {
        reader!(self, e => e.try_recv())
    }
    fn recv_for(&mut self, t: Option<Duration>) -> ipckit_core::Result<T> {
        match t {
            None => reader!(self, e => e.recv()),
            Some(t) => reader!(self, e => e.recv_timeout(t)),
        }
    }
    fn position(&self) -> u32 {
        reader!(self, e => e.position())
    }
    fn len(&self) -> usize {
        reader!(self, e => e.len())
    }
}

impl<T: Pod> std::fmt::Debug for Subscriber<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("pubsub::Subscriber")
            .field("topic", &self.topic)
            .field("position", &self.position())
            .finish_non_exhaustive()
    }
}

impl<T: Pod> Subscriber<T> {
    /// A subscriber of `topic` at `start`, recorded in a free, closed or
    /// dead subscriber slot; on a reliable topic also a member of the
    /// table, its entry recorded in the slot's intent.
    pub(super) fn new(topic: Topic<T>, start: Start) -> Result<Self> {
        let inner = Reading::new(&topic.base, start)?;
        Ok(Self { inner, topic })
    }

    /// A second subscriber at the same position, with its own record (on
    /// a reliable topic, its own table entry: it joins at the oldest item
    /// and reads up to this one's position, which holds the publisher
    /// back meanwhile).
    pub fn try_clone(&self) -> Result<Self> {
        let mut clone = Self::new(self.topic.clone(), Start::Oldest)?;
        match &self.inner.end {
            Reader::Lossy(end) => clone.inner.end = Reader::Lossy(end.clone()),
            Reader::Member(_) => {
                let target = self.position();
                // Bounded: at most a ring of items and lag reports.
                for _ in 0..=2 * u64::from(clone.capacity()) + 2 {
                    if clone.position() == target {
                        break;
                    }
                    match clone.inner.end.try_recv() {
                        Ok(_) | Err(CoreError::Lagged(_)) => {}
                        Err(e) => {
                            return Err(self.topic.base.named(e.into()));
                        }
                    }
                }
            }
        }
        Ok(clone)
    }

    /// The next item, or at once [`Error::Empty`] (nothing new),
    /// [`Error::Lagged`]`(n)` (`n` items overwritten unread: the next call
    /// returns the oldest one left), or [`Error::PeerGone`] instead of
    /// `Empty` once the publisher closed. No system call, no clock.
    #[inline]
    pub fn try_recv(&mut self) -> Result<T> {
        self.inner.try_with(|e| e.try_recv())
    }

    /// The next item, waiting while there is none (a short spin, then a
    /// sleep that the next publication ends); `Lagged` as
    /// [`try_recv`](Self::try_recv); [`Error::PeerGone`] once every item
    /// is read and the publisher closed or died.
    pub fn recv(&mut self) -> Result<T> {
        self.recv_within(None)
    }

    /// [`recv`](Self::recv), waiting at most `timeout`:
    /// [`Error::TimedOut`].
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T> {
        self.recv_within(Some(timeout))
    }

    /// [`recv`](Self::recv), waiting until `deadline` at the latest:
    /// [`Error::TimedOut`].
    pub fn recv_deadline(&mut self, deadline: Instant) -> Result<T> {
        self.recv_timeout(until(deadline))
    }

    /// [`recv`](Self::recv), waiting at most `timeout` (`None`: no limit).
    fn recv_within(&mut self, timeout: Option<Duration>) -> Result<T> {
        self.inner.wait_with(timeout, |e, t| e.recv_for(t))
    }

    /// A blocking iterator: items and `Lagged` reports, ending once the
    /// publisher is gone and every item is read ([`Iter`]).
    pub fn iter(&mut self) -> Iter<&mut Self> {
        Iter::new(self)
    }

    /// An iterator over what is published and unread now ([`TryIter`]).
    pub fn try_iter(&mut self) -> TryIter<&mut Self> {
        TryIter::new(self)
    }

    /// The number of slots.
    pub fn capacity(&self) -> u32 {
        self.topic.capacity()
    }

    super::accessors::subscriber_accessors!(Topic<T>);
}

impl<T: Pod> Source for Subscriber<T> {
    type Item = T;
    fn recv_item(&mut self) -> Result<T> {
        self.recv()
    }
    fn try_recv_item(&mut self) -> Result<T> {
        self.try_recv()
    }
}

/// [`Subscriber::iter`], owning the subscriber.
impl<T: Pod> IntoIterator for Subscriber<T> {
    type Item = Result<T>;
    type IntoIter = Iter<Self>;
    fn into_iter(self) -> Iter<Self> {
        Iter::new(self)
    }
}

/// [`Subscriber::iter`].
impl<'a, T: Pod> IntoIterator for &'a mut Subscriber<T> {
    type Item = Result<T>;
    type IntoIter = Iter<&'a mut Subscriber<T>>;
    fn into_iter(self) -> Self::IntoIter {
        Iter::new(self)
    }
}

impl<T: Pod> sealed::Endpoint for Subscriber<T> {
    fn set_up(mem: Memory, mode: Mode, capacity: u32, type_id: u64) -> Result<Self> {
        Topic::set_up(mem, mode, capacity, type_id)?.subscriber()
    }
}

impl<T: Pod> Endpoint for Subscriber<T> {
    type Kind = Lossy<T>;
}

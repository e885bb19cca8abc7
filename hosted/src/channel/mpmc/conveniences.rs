//! The conveniences of the MPMC channel's endpoints: sizes, batches,
//! iterators (see the [channel docs](super::super)).

use super::{Receiver, Sender};
use crate::channel::iter::source::Source;
use crate::channel::{Iter, TryIter};
use crate::error::{CoreError, Error, Result};
use ipckit_core::Pod;

impl<T: Pod> Sender<T> {
    /// The number of items queued now: positions claimed in the ring,
    /// items still being written or read included (a snapshot: other
    /// endpoints move it at once; a peer's garbage reads as a full
    /// channel).
    pub fn len(&self) -> usize {
        self.end.end.ring().len()
    }

    /// Sends as many of `items` as are free in a row now, claimed with one
    /// compare-and-swap; returns how many ([`Error::Full`] or
    /// [`Error::Busy`] as [`try_send`](Self::try_send) when not even the
    /// first fits).
    pub fn try_send_slice(&self, items: &[T]) -> Result<usize> {
        Ok(self.end.end.push_partial_slice(items)?)
    }

    /// Sends all of `items` in order, waiting for room as
    /// [`send`](Self::send) does (releasing a dead receiver's slot). Each
    /// run of items that fits is claimed with one compare-and-swap and
    /// published together; other senders' items may come between two
    /// runs, never inside one. [`Error::PeerGone`] if every receiver
    /// closed or died meanwhile: the items before were sent, the rest not.
    ///
    /// ```
    /// use ipckit::channel::mpmc::{Receiver, Sender};
    ///
    /// let name = format!("ipckit-doc-mpmc-many-{}", std::process::id());
    /// let tx = Sender::<u32>::create(&name, 8)?;
    /// let rx = Receiver::<u32>::open(&name)?;
    /// tx.send_many(&[1, 2, 3])?;
    /// let mut out = [0; 8];
    /// assert_eq!(rx.recv_many(&mut out)?, 3);
    /// assert_eq!(out[..3], [1, 2, 3]);
    /// ipckit::shm::ShmObject::remove(&name)?;
    /// # Ok::<(), ipckit::Error>(())
    /// ```
    pub fn send_many(&self, items: &[T]) -> Result<()> {
        let mut rest = items;
        while let Some((&first, after)) = rest.split_first() {
            rest = match self.end.end.push_partial_slice(rest) {
                Ok(0) | Err(CoreError::Full | CoreError::Busy) => {
                    // No room: wait for some as `send` does (with its
                    // liveness checks and recovery), then go on in runs.
                    self.send(first)?;
                    after
                }
                Ok(n) => &rest[n..],
                Err(e) => return Err(e.into()),
            };
        }
        Ok(())
    }
}

impl<T: Pod> Receiver<T> {
    /// The number of items queued now, as [`Sender::len`], plus the item
    /// this receiver holds for its next receive (see
    /// [`skip_dead`](Self::skip_dead)).
    pub fn len(&self) -> usize {
        let held = usize::from(self.end.held.get().is_some());
        self.end.end.ring().len().saturating_add(held)
    }

    /// A blocking iterator over the items this receiver gets: it ends once
    /// the channel is drained and every sender closed or died ([`Iter`]).
    pub fn iter(&self) -> Iter<&Self> {
        Iter::new(self)
    }

    /// An iterator over the items this receiver gets now, never waiting
    /// ([`TryIter`]; `Busy` ends a `next` as `Empty` does).
    pub fn try_iter(&self) -> TryIter<&Self> {
        TryIter::new(self)
    }

    /// Moves as many items as are published in a row now (up to
    /// `out.len()`) into `out`, claimed with one compare-and-swap; returns
    /// how many ([`Error::Empty`] or [`Error::Busy`] as
    /// [`try_recv`](Self::try_recv) when not even the oldest is there).
    pub fn try_recv_slice(&self, out: &mut [T]) -> Result<usize> {
        let Some((first, rest)) = out.split_first_mut() else {
            return Ok(0);
        };
        match self.end.held.take() {
            Some(v) => {
                *first = v;
                Ok(1 + self.end.end.pop_partial_slice(rest).unwrap_or(0))
            }
            None => Ok(self.end.end.pop_partial_slice(out)?),
        }
    }

    /// Moves the items published in a row (up to `out.len()`) into `out`,
    /// waiting as [`recv`](Self::recv) does while there is none (skipping
    /// dead senders' holes); returns how many (at least 1, unless `out` is
    /// empty). What is published in a row is claimed with one
    /// compare-and-swap (after a wait: the first item, then the rest).
    /// [`Error::PeerGone`] once the channel is drained and every sender
    /// closed or died. Example: [`Sender::send_many`].
    pub fn recv_many(&self, out: &mut [T]) -> Result<usize> {
        match self.try_recv_slice(out) {
            Err(Error::Empty | Error::Busy) => {}
            other => return other,
        }
        let Some((first, rest)) = out.split_first_mut() else {
            return Ok(0);
        };
        *first = self.recv()?;
        // The item is ours now: an error here waits for the next call.
        Ok(1 + self.end.end.pop_partial_slice(rest).unwrap_or(0))
    }
}

impl<T: Pod> Source for &Receiver<T> {
    type Item = T;
    fn recv_item(&mut self) -> Result<T> {
        self.recv()
    }
    fn try_recv_item(&mut self) -> Result<T> {
        self.try_recv()
    }
}

impl<T: Pod> Source for Receiver<T> {
    type Item = T;
    fn recv_item(&mut self) -> Result<T> {
        self.recv()
    }
    fn try_recv_item(&mut self) -> Result<T> {
        self.try_recv()
    }
}

/// [`Receiver::iter`], owning the receiver.
impl<T: Pod> IntoIterator for Receiver<T> {
    type Item = Result<T>;
    type IntoIter = Iter<Self>;
    fn into_iter(self) -> Iter<Self> {
        Iter::new(self)
    }
}

/// [`Receiver::iter`].
impl<'a, T: Pod> IntoIterator for &'a Receiver<T> {
    type Item = Result<T>;
    type IntoIter = Iter<&'a Receiver<T>>;
    fn into_iter(self) -> Self::IntoIter {
        Iter::new(self)
    }
}

/// [`Receiver::iter`].
impl<'a, T: Pod> IntoIterator for &'a mut Receiver<T> {
    type Item = Result<T>;
    type IntoIter = Iter<&'a mut Receiver<T>>;
    fn into_iter(self) -> Self::IntoIter {
        Iter::new(self)
    }
}

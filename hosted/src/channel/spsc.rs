//! A typed channel between two processes on the [SPSC ring](crate::spsc):
//! one [`Sender<T>`], one [`Receiver<T>`], items of any `T: Pod`.
//!
//! ```
//! use ipckit::channel::spsc::{Receiver, Sender};
//! use ipckit::Error;
//!
//! let name = format!("ipckit-doc-spsc-{}", std::process::id());
//! let mut tx = Sender::<u64>::create(&name, 1024)?;
//! // Another process would open it by name:
//! let mut rx = Receiver::<u64>::open(&name)?;
//! tx.send(7)?;
//! assert_eq!((rx.len(), rx.capacity()), (1, 1024));
//! assert_eq!(rx.recv()?, 7);
//! assert!(rx.is_empty());
//! assert!(matches!(rx.try_recv(), Err(Error::Empty)));
//! drop(tx);
//! // The sender is gone and nothing is queued: a blocked receiver learns it.
//! assert!(rx.recv().unwrap_err().is_peer_gone());
//! ipckit::shm::ShmObject::remove(&name)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::{Duration, Instant};

use ipckit_core::Pod;
use ipckit_core::Role;
use ipckit_core::spsc::{Consumer, Producer, Ring};

use super::iter::source::Source;
use super::liveness::Membership;
use super::{
    Iter, Memory, TryIter, blocking, empty_or_closed, full_or_closed, single_constructors, until,
};
#[cfg(doc)]
use crate::error::Error;
use crate::error::{CoreError, Result};
use crate::futex::Futex;

macro_rules! constructors {
    ($role:expr, $claim:expr) => {
        single_constructors! {
            role: $role, claim: $claim;
            object_len {
                /// The length of a channel object for `capacity` items (the core
                /// ring, padding, the liveness block): what a [`Memfd`] or
                /// [`MappedFile`] given to [`init_on`](Self::init_on) needs.
                /// `capacity` is rounded up to a power of two, as
                /// [`create`](Self::create) does; `None` for 0 or more than 2^31.
                ///
                /// [`Memfd`]: crate::shm::Memfd
                /// [`MappedFile`]: crate::shm::MappedFile
            }
            create {
                /// Creates the channel `name` (which must not exist:
                /// [`Error::AlreadyExists`]; of racing creators exactly one wins)
                /// with room for `capacity` items (rounded up to a power of two, the
                /// figure [`capacity`](Self::capacity) reports), and claims this end.
                /// [`Error::Channel`] with [`CoreError::InvalidCapacity`] for 0 or more
                /// than 2^31.
            }
            init_on {
                /// Creates a channel of `capacity` items on fresh, zeroed `mem` of
                /// at least [`object_len`](Self::object_len) bytes (a [`Memfd`] to
                /// hand to a child, a new [`MappedFile`]) and claims this end.
                ///
                /// [`Memfd`]: crate::shm::Memfd
                /// [`MappedFile`]: crate::shm::MappedFile
            }
        }

        /// The number of slots.
        pub fn capacity(&self) -> u32 {
            self.end.capacity()
        }

        /// The number of items queued now (a snapshot: the peer moves it at
        /// once). A peer's garbage reads as a full channel, and the next
        /// call that meets it reports [`CoreError::Corrupted`].
        pub fn len(&self) -> usize {
            self.end.len()
        }

        /// `true` when no item is queued ([`len`](Self::len) is 0).
        pub fn is_empty(&self) -> bool {
            self.end.is_empty()
        }

        /// `true` when every slot holds an item.
        pub fn is_full(&self) -> bool {
            self.end.is_full()
        }
    };
}

/// The sending end of a typed SPSC channel.
///
/// Dropping it marks it closed: a receiver blocked on an empty channel then
/// gets [`Error::PeerGone`].
pub struct Sender<T: Pod> {
    // Field order is drop order: the core claim goes, then the liveness
    // slot closes (it names the holder as long as the claim exists), then
    // the mapping.
    end: Producer<'static, T, Futex>,
    member: Membership,
    mem: Memory,
}

impl<T: Pod> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("spsc::Sender")
            .field("mem", &self.mem)
            .finish_non_exhaustive()
    }
}

impl<T: Pod> Sender<T> {
    constructors!(Role::Producer, |r: &Ring<'static, T>, n| r.producer_with(n));

    /// Sends `value`, or [`Error::Full`] at once; [`Error::PeerGone`]
    /// instead of `Full` if the receiver closed (see the [channel
    /// docs](super#dead-peers)).
    pub fn try_send(&mut self, value: T) -> Result<()> {
        match self.end.try_push(value) {
            Err(CoreError::Full) => Err(full_or_closed(&self.member)),
            other => Ok(other?),
        }
    }

    /// Sends `value`, waiting while the channel is full;
    /// [`Error::PeerGone`] if the receiver closed or died meanwhile (the
    /// value is then not sent).
    pub fn send(&mut self, value: T) -> Result<()> {
        self.send_within(value, None)
    }

    /// [`send`](Self::send), waiting at most `timeout`:
    /// [`Error::TimedOut`] (the value is then not sent).
    pub fn send_timeout(&mut self, value: T, timeout: Duration) -> Result<()> {
        self.send_within(value, Some(timeout))
    }

    /// [`send`](Self::send), waiting until `deadline` at the latest:
    /// [`Error::TimedOut`] (the value is then not sent).
    pub fn send_deadline(&mut self, value: T, deadline: Instant) -> Result<()> {
        self.send_timeout(value, until(deadline))
    }

    /// [`send`](Self::send), waiting at most `timeout` (`None`: no limit).
    fn send_within(&mut self, value: T, timeout: Option<Duration>) -> Result<()> {
        let (end, member) = (&mut self.end, &self.member);
        blocking(
            timeout,
            |t| end.push_timeout(value, t),
            || member.peer_gone(),
        )
    }

    /// Sends as many of `items` as fit now, with one index publication;
    /// returns how many.
    pub fn try_send_slice(&mut self, items: &[T]) -> Result<usize> {
        Ok(self.end.push_partial_slice(items)?)
    }

    /// Sends all of `items` in order, waiting for room as
    /// [`send`](Self::send) does. Each run of items that fits is published
    /// at once (one index publication and at most one wake per run, not per
    /// item). [`Error::PeerGone`] if the receiver closed or died meanwhile:
    /// the items before were sent, the rest not (use
    /// [`try_send_slice`](Self::try_send_slice) to count them).
    ///
    /// ```
    /// use ipckit::channel::spsc::{Receiver, Sender};
    ///
    /// let name = format!("ipckit-doc-spsc-many-{}", std::process::id());
    /// let mut tx = Sender::<u32>::create(&name, 4)?;
    /// let mut rx = Receiver::<u32>::open(&name)?;
    /// let reader = std::thread::spawn(move || {
    ///     let mut got = Vec::new();
    ///     let mut out = [0; 3];
    ///     while got.len() < 10 {
    ///         let n = rx.recv_many(&mut out)?; // 1 to 3 items
    ///         got.extend_from_slice(&out[..n]);
    ///     }
    ///     Ok::<_, ipckit::Error>(got)
    /// });
    /// tx.send_many(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9])?; // more than fit at once
    /// assert_eq!(reader.join().unwrap()?, (0..10).collect::<Vec<_>>());
    /// ipckit::shm::ShmObject::remove(&name)?;
    /// # Ok::<(), ipckit::Error>(())
    /// ```
    pub fn send_many(&mut self, items: &[T]) -> Result<()> {
        let mut rest = items;
        while let Some((&first, after)) = rest.split_first() {
            rest = match self.end.push_partial_slice(rest) {
                Ok(0) | Err(CoreError::Full) => {
                    // No room: wait for some as `send` does, with its
                    // liveness checks, then go on in runs.
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

/// The receiving end of a typed SPSC channel.
///
/// Dropping it marks it closed: a sender blocked on a full channel then gets
/// [`Error::PeerGone`].
pub struct Receiver<T: Pod> {
    // Drop order as for the sender.
    end: Consumer<'static, T, Futex>,
    member: Membership,
    mem: Memory,
}

impl<T: Pod> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("spsc::Receiver")
            .field("mem", &self.mem)
            .finish_non_exhaustive()
    }
}

impl<T: Pod> Receiver<T> {
    constructors!(Role::Consumer, |r: &Ring<'static, T>, n| r.consumer_with(n));

    /// The oldest item, or [`Error::Empty`] at once; [`Error::PeerGone`]
    /// instead of `Empty` if the sender closed (see the [channel
    /// docs](super#dead-peers)).
    pub fn try_recv(&mut self) -> Result<T> {
        match self.end.try_pop() {
            Err(CoreError::Empty) => empty_or_closed(&self.member, || self.end.try_pop()),
            other => Ok(other?),
        }
    }

    /// The oldest item, waiting while the channel is empty;
    /// [`Error::PeerGone`] once it is empty and the sender closed or died.
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
        let (end, member) = (&mut self.end, &self.member);
        blocking(timeout, |t| end.pop_timeout(t), || member.peer_gone())
    }

    /// A blocking iterator over the items: it ends once the channel is
    /// drained and the sender closed or died ([`Iter`]).
    pub fn iter(&mut self) -> Iter<&mut Self> {
        Iter::new(self)
    }

    /// An iterator over the items queued now, never waiting ([`TryIter`]).
    pub fn try_iter(&mut self) -> TryIter<&mut Self> {
        TryIter::new(self)
    }

    /// Moves as many items as are queued (up to `out.len()`) into `out`;
    /// returns how many.
    pub fn try_recv_slice(&mut self, out: &mut [T]) -> Result<usize> {
        Ok(self.end.pop_partial_slice(out)?)
    }

    /// Moves the items queued (up to `out.len()`) into `out`, waiting as
    /// [`recv`](Self::recv) does while there is none; returns how many (at
    /// least 1, unless `out` is empty). What is queued is taken with one
    /// index publication (after a wait: the first item, then the rest, in
    /// two). [`Error::PeerGone`] once the channel is drained and the
    /// sender closed or died. Example: [`Sender::send_many`].
    pub fn recv_many(&mut self, out: &mut [T]) -> Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        match self.end.pop_partial_slice(out) {
            Ok(0) | Err(CoreError::Empty) => {}
            other => return Ok(other?),
        }
        out[0] = self.recv()?;
        // The item is ours now: an error here waits for the next call.
        Ok(1 + self.end.pop_partial_slice(&mut out[1..]).unwrap_or(0))
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
impl<'a, T: Pod> IntoIterator for &'a mut Receiver<T> {
    type Item = Result<T>;
    type IntoIter = Iter<&'a mut Receiver<T>>;
    fn into_iter(self) -> Self::IntoIter {
        Iter::new(self)
    }
}

//! Iterators over what a receiver receives, in the manner of
//! crossbeam-channel and `std::sync::mpsc`: [`Iter`] blocks for each item
//! and ends when the channel is drained and every sender is gone
//! ([`Error::PeerGone`]); [`TryIter`] takes what is queued now and ends at
//! [`Error::Empty`] (or `PeerGone`). Every receiver has `iter()` and
//! `try_iter()`, and is [`IntoIterator`] owned and by `&mut` (an
//! [`mpmc`](mod@super::mpmc) receiver also by `&`, as its calls take `&self`).
//!
//! The items are `Result`s: a channel can fail in ways an in-process
//! channel cannot (a peer's garbage is [`CoreError::Corrupted`], say), and
//! an iterator that silently ended there would hide it. Such an error is
//! yielded once, and the iterator ends after it; [`Error::Lagged`] (a
//! [pub/sub subscriber](mod@crate::pubsub) lost items) is yielded and the
//! items after the loss follow. `collect::<Result<_>>()` gathers the items
//! or the first error.
//!
//! Typed receivers yield their `T`; byte receivers yield each message as a
//! `Vec<u8>` of its length (received into a small buffer first, grown to
//! the length the channel reports for a longer one: the message stays
//! queued meanwhile).
//!
//! ```
//! use ipckit::channel::spsc::{Receiver, Sender};
//!
//! let name = format!("ipckit-doc-iter-{}", std::process::id());
//! let mut tx = Sender::<u32>::create(&name, 8)?;
//! let mut rx = Receiver::<u32>::open(&name)?;
//! for v in [1, 2, 3] {
//!     tx.send(v)?;
//! }
//! // What is there now; more may come later.
//! let now: Vec<u32> = rx.try_iter().collect::<ipckit::Result<_>>()?;
//! assert_eq!(now, [1, 2, 3]);
//! tx.send(4)?;
//! drop(tx); // the sender leaves: the blocking iterator ends once drained
//! let rest: Vec<u32> = rx.iter().collect::<ipckit::Result<_>>()?;
//! assert_eq!(rest, [4]);
//! ipckit::shm::ShmObject::remove(&name)?;
//! # Ok::<(), ipckit::Error>(())
//! ```

use std::iter::FusedIterator;

use crate::error::{CoreError, Error, Result};

/// What an iterator takes items from: a receiver, owned or borrowed.
/// Unnameable outside this crate, so that only the channels' receivers
/// implement it.
pub(crate) mod source {
    use crate::error::Result;

    /// A receiver's blocking and non-waiting receive of one item.
    pub trait Source {
        /// What one receive returns.
        type Item;
        /// The blocking receive (`recv`).
        fn recv_item(&mut self) -> Result<Self::Item>;
        /// The non-waiting receive (`try_recv`).
        fn try_recv_item(&mut self) -> Result<Self::Item>;
    }

    impl<S: Source + ?Sized> Source for &mut S {
        type Item = S::Item;
        fn recv_item(&mut self) -> Result<S::Item> {
            (**self).recv_item()
        }
        fn try_recv_item(&mut self) -> Result<S::Item> {
            (**self).try_recv_item()
        }
    }
}
use source::Source;

/// A blocking iterator over a receiver's items: each `next` waits for one;
/// `None` once the channel is drained and every sender closed or died, or
/// after an error (yielded once). See the [module docs](self).
#[derive(Debug)]
#[must_use = "iterators are lazy"]
pub struct Iter<R> {
    rx: R,
    done: bool,
}

/// A non-waiting iterator over the items queued now: `None` when none is
/// (a later `next` looks again), for good once every sender is gone or
/// after an error (yielded once). See the [module docs](self).
#[derive(Debug)]
#[must_use = "iterators are lazy"]
pub struct TryIter<R> {
    rx: R,
    done: bool,
}

impl<R> Iter<R> {
    pub(crate) fn new(rx: R) -> Self {
        Self { rx, done: false }
    }

    /// The receiver, back from an iterator that owned it.
    pub fn into_inner(self) -> R {
        self.rx
    }
}

impl<R> TryIter<R> {
    pub(crate) fn new(rx: R) -> Self {
        Self { rx, done: false }
    }
}

/// The iterators' reading of one receive: an item, the end (`None`), or an
/// error to yield before ending; `quiet` says which errors end this
/// `next` without an item and without ending the iterator.
fn step<T>(got: Result<T>, done: &mut bool, quiet: impl Fn(&Error) -> bool) -> Option<Result<T>> {
    match got {
        Ok(v) => Some(Ok(v)),
        Err(e) if e.is_peer_gone() => {
            *done = true;
            None
        }
        Err(e) if quiet(&e) => None,
        // A subscriber's loss report: the items after it follow.
        Err(e) if e.is_lagged() => Some(Err(e)),
        Err(e) => {
            *done = true;
            Some(Err(e))
        }
    }
}

impl<R: Source> Iterator for Iter<R> {
    type Item = Result<R::Item>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        step(self.rx.recv_item(), &mut self.done, |_| false)
    }
}

impl<R: Source> FusedIterator for Iter<R> {}

impl<R: Source> Iterator for TryIter<R> {
    type Item = Result<R::Item>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        // `Busy` (an MPMC sender has claimed the oldest position and not
        // published it yet) is "nothing now", like `Empty`.
        step(self.rx.try_recv_item(), &mut self.done, |e| {
            e.is_empty() || e.is_busy()
        })
    }
}

/// A byte message as a `Vec` of its length: `recv` into a small buffer,
/// and again into one of the length the channel reports when the message
/// is longer (it stays queued meanwhile).
pub(super) fn recv_vec(mut recv: impl FnMut(&mut [u8]) -> Result<usize>) -> Result<Vec<u8>> {
    let mut buf = vec![0; 256];
    // Twice at most from a well-behaved channel; a bound in case the
    // message at the front changes between the calls.
    for _ in 0..8 {
        match recv(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(Error::Core(CoreError::BufferTooSmall { required })) if required > buf.len() => {
                buf.resize(required, 0);
            }
            Err(e) => return Err(e),
        }
    }
    Err(CoreError::Corrupted("message length keeps growing").into())
}

/// The iterators of a byte channel's `Receiver` (both byte kinds): one
/// `Vec<u8>` per message ([`recv_vec`]), [`Iter`] for the owned receiver
/// and for `&mut` it.
macro_rules! byte_receiver_iterators {
    ($receiver:ty) => {
        impl $crate::channel::iter::source::Source for $receiver {
            type Item = Vec<u8>;
            fn recv_item(&mut self) -> $crate::error::Result<Vec<u8>> {
                $crate::channel::iter::recv_vec(|buf| self.recv(buf))
            }
            fn try_recv_item(&mut self) -> $crate::error::Result<Vec<u8>> {
                $crate::channel::iter::recv_vec(|buf| self.try_recv(buf))
            }
        }

        /// [`Receiver::iter`], owning the receiver.
        impl IntoIterator for $receiver {
            type Item = $crate::error::Result<Vec<u8>>;
            type IntoIter = $crate::channel::Iter<Self>;
            fn into_iter(self) -> Self::IntoIter {
                $crate::channel::Iter::new(self)
            }
        }

        /// [`Receiver::iter`].
        impl<'a> IntoIterator for &'a mut $receiver {
            type Item = $crate::error::Result<Vec<u8>>;
            type IntoIter = $crate::channel::Iter<&'a mut $receiver>;
            fn into_iter(self) -> Self::IntoIter {
                $crate::channel::Iter::new(self)
            }
        }
    };
}
pub(super) use byte_receiver_iterators;

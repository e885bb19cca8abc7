//! The conveniences of the MPSC byte channel's endpoints: sizes, clones,
//! iterators (see the [channel docs](super::super)).

use std::sync::Arc;

use super::{Receiver, Sender, claim_sender};
use crate::channel::{Iter, TryIter};
use crate::error::Result;
#[cfg(doc)]
use crate::{
    channel::MAX_ENDPOINTS,
    error::{CoreError, Error},
};

impl Sender {
    /// The bytes claimed and not yet consumed now: queued messages, record
    /// headers, padding, and messages other senders are still writing (a
    /// snapshot; a peer's garbage reads as a full channel). There is no
    /// `len`: the ring does not count messages.
    pub fn pending_bytes(&self) -> usize {
        (self.end.capacity() as usize).saturating_sub(self.end.free_bytes())
    }

    /// `true` when nothing is queued or being written
    /// ([`pending_bytes`](Self::pending_bytes) is 0).
    pub fn is_empty(&self) -> bool {
        self.pending_bytes() == 0
    }

    /// Another sender in this process, on the same mapping: as
    /// [`open`](Self::open) would give, without the name (which may be gone
    /// or reused by now). It records itself in a liveness slot of its own,
    /// with its own intent (which names one claim at a time; a clone may
    /// send from another thread meanwhile): the receiver counts this
    /// process as a sender while any of its senders lives, so dropping one
    /// clone never makes it see [`Error::PeerGone`] while another lives.
    /// [`CoreError::RoleTaken`] when [`MAX_ENDPOINTS`] senders live: an
    /// error, never a panic.
    ///
    /// ```
    /// use ipckit::channel::mpsc_bytes::{Receiver, Sender};
    ///
    /// let name = format!("ipckit-doc-mpsc-clone-{}", std::process::id());
    /// let mut rx = Receiver::create(&name, 4096)?;
    /// let tx = Sender::open(&name)?;
    /// let tx2 = tx.try_clone()?;
    /// std::thread::spawn(move || tx2.send(b"from a thread")).join().unwrap()?;
    /// drop(tx); // the last sender of this process: the receiver may end
    /// let got: Vec<Vec<u8>> = rx.iter().collect::<ipckit::Result<_>>()?;
    /// assert_eq!(got, [b"from a thread".to_vec()]);
    /// ipckit::shm::ShmObject::remove(&name)?;
    /// # Ok::<(), ipckit::Error>(())
    /// ```
    pub fn try_clone(&self) -> Result<Self> {
        let ring = self.end.ring().clone();
        let (end, member) = claim_sender(&ring, *self.member.block())
            .map_err(|e| e.in_channel(|| self.mem.describe()))?;
        Ok(Self {
            member,
            end,
            mem: Arc::clone(&self.mem),
        })
    }
}

impl Receiver {
    /// A blocking iterator over the messages, each a `Vec` of its length:
    /// it ends once the channel is drained and the senders closed or died
    /// ([`Iter`]).
    pub fn iter(&mut self) -> Iter<&mut Self> {
        Iter::new(self)
    }

    /// An iterator over the messages queued now, never waiting
    /// ([`TryIter`]).
    pub fn try_iter(&mut self) -> TryIter<&mut Self> {
        TryIter::new(self)
    }

    /// The bytes claimed and not yet consumed now, as
    /// [`Sender::pending_bytes`]. There is no `len`: the ring does not count
    /// messages.
    pub fn pending_bytes(&self) -> usize {
        self.end.pending_bytes()
    }

    /// `true` when nothing is queued or being written
    /// ([`pending_bytes`](Self::pending_bytes) is 0).
    pub fn is_empty(&self) -> bool {
        self.pending_bytes() == 0
    }
}

crate::channel::iter::byte_receiver_iterators!(Receiver);

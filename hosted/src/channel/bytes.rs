//! A byte-message channel between two processes on the [SPSC frame
//! ring](crate::frame::spsc): one [`Sender`], one [`Receiver`], messages of
//! 0 to [`max_frame_len`](Sender::max_frame_len) bytes (half the capacity
//! less 8), delivered whole and in order.
//!
//! ```
//! use ipckit::channel::bytes::{Receiver, Sender};
//! use ipckit::{CoreError, Error};
//!
//! let name = format!("ipckit-doc-bytes-{}", std::process::id());
//! let mut tx = Sender::create(&name, 4096)?;
//! let mut rx = Receiver::open(&name)?;
//! tx.send(b"hello")?;
//! let mut buf = [0u8; 64];
//! let n = rx.recv(&mut buf)?;
//! assert_eq!(&buf[..n], b"hello");
//! // A too-small buffer is an error, and the message stays queued.
//! tx.send(b"a longer message")?;
//! assert!(matches!(rx.try_recv(&mut [0; 4]), Err(Error::Core(CoreError::BufferTooSmall { required: 16 }))));
//! assert_eq!(rx.try_recv(&mut buf)?, 16);
//! drop(tx);
//! assert!(rx.recv(&mut buf).unwrap_err().is_peer_gone());
//! ipckit::shm::ShmObject::remove(&name)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::Duration;

use ipckit_core::Role;
use ipckit_core::frame::spsc::{Consumer, Producer, Ring};

use super::liveness::Membership;
use super::zero_copy::{FrameRef, Loan, name_too_large};
use super::{Memory, blocking, notifier, single_constructors};
use crate::error::Result;
#[cfg(doc)]
use crate::error::{CoreError, Error};
use crate::futex::Futex;
use crate::message::{MessageReceiver, MessageSender};

macro_rules! constructors {
    ($role:expr, $claim:expr) => {
        single_constructors! {
            role: $role, claim: $claim, ring: Ring;
            object_len {
                /// The length of a channel object for a data area of `capacity`
                /// bytes (the core ring, padding, the liveness block): what a
                /// [`Memfd`] or [`MappedFile`] given to [`init_on`](Self::init_on)
                /// needs. `None` for a capacity the frame ring refuses (a power of
                /// two from 64 bytes on).
                ///
                /// [`Memfd`]: crate::shm::Memfd
                /// [`MappedFile`]: crate::shm::MappedFile
            }
            create {
                /// Creates the channel `name` (which must not exist:
                /// [`Error::AlreadyExists`]; of racing creators exactly one wins)
                /// with a data area of `capacity` bytes (a power of two), and claims this
                /// end.
            }
            init_on {
                /// Creates a channel of `capacity` bytes on fresh, zeroed `mem` of
                /// at least [`object_len`](Self::object_len) bytes (a [`Memfd`] to
                /// hand to a child, a new [`MappedFile`]) and claims this end.
                ///
                /// [`Memfd`]: crate::shm::Memfd
                /// [`MappedFile`]: crate::shm::MappedFile
            }
        }

        /// The largest message: half the data area less a record header.
        pub fn max_frame_len(&self) -> u32 {
            self.end.max_frame_len()
        }
    };
}

/// The sending end of a byte-message SPSC channel.
///
/// Dropping it marks it closed: a receiver blocked on an empty channel then
/// gets [`Error::PeerGone`].
pub struct Sender {
    // Field order is drop order: the core claim goes, then the liveness
    // slot closes (it names the holder as long as the claim exists), then
    // the mapping.
    end: Producer<'static, Futex>,
    member: Membership,
    mem: Memory,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("bytes::Sender")
            .field("mem", &self.mem)
            .finish_non_exhaustive()
    }
}

impl Sender {
    constructors!(Role::Producer, |r: &Ring<'static>| r
        .producer_with(notifier()));

    /// Sends `message`, or [`Error::Full`] at once;
    /// [`CoreError::FrameTooLarge`] for a message over
    /// [`max_frame_len`](Self::max_frame_len).
    pub fn try_send(&mut self, message: &[u8]) -> Result<()> {
        Ok(self.end.try_send(message)?)
    }

    /// Sends `message`, waiting while there is no room;
    /// [`Error::PeerGone`] if the receiver closed or died meanwhile (the
    /// message is then not sent).
    pub fn send(&mut self, message: &[u8]) -> Result<()> {
        self.send_timeout(message, None)
    }

    /// [`send`](Self::send), waiting at most `timeout` (`None`: no limit):
    /// [`Error::TimedOut`].
    pub fn send_timeout(&mut self, message: &[u8], timeout: Option<Duration>) -> Result<()> {
        let (end, member) = (&mut self.end, &self.member);
        blocking(
            timeout,
            |t| end.send_timeout(message, t),
            || member.peer_gone(),
        )
    }

    /// Lends room for a message of `len` bytes, to write in place and
    /// [`send`](Loan::send) ([`zero_copy`](super::zero_copy)), or
    /// [`Error::Full`] at once; [`Error::Channel`] naming the channel for a
    /// `len` over [`max_frame_len`](Self::max_frame_len).
    #[inline]
    pub fn try_loan(&mut self, len: usize) -> Result<Loan<'_>> {
        match self.end.try_grant(len) {
            Ok(grant) => Ok(Loan::spsc(grant)),
            Err(e) => Err(name_too_large(e.into(), &self.mem)),
        }
    }

    /// [`try_loan`](Self::try_loan), waiting while there is no room, as
    /// [`send`](Self::send) does ([`Error::PeerGone`] if the receiver
    /// closed or died meanwhile).
    pub fn loan(&mut self, len: usize) -> Result<Loan<'_>> {
        self.loan_timeout(len, None)
    }

    /// [`loan`](Self::loan), waiting at most `timeout` (`None`: no limit):
    /// [`Error::TimedOut`].
    pub fn loan_timeout(&mut self, len: usize, timeout: Option<Duration>) -> Result<Loan<'_>> {
        // A core grant borrows the producer while it lives, so the wait
        // returns none: it waits until a grant fits (one dropped unsent
        // gives its room back), and the loan is granted again, at once:
        // only this end takes room.
        let (end, member) = (&mut self.end, &self.member);
        blocking(
            timeout,
            |t| end.grant_timeout(len, t).map(drop),
            || member.peer_gone(),
        )
        .map_err(|e| name_too_large(e, &self.mem))?;
        self.try_loan(len)
    }
}

/// The receiving end of a byte-message SPSC channel.
///
/// Dropping it marks it closed: a sender blocked on a full channel then gets
/// [`Error::PeerGone`].
pub struct Receiver {
    // Drop order as for the sender.
    end: Consumer<'static, Futex>,
    member: Membership,
    mem: Memory,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("bytes::Receiver")
            .field("mem", &self.mem)
            .finish_non_exhaustive()
    }
}

impl Receiver {
    constructors!(Role::Consumer, |r: &Ring<'static>| r
        .consumer_with(notifier()));

    /// Copies the oldest message into `buf` and returns its length, or
    /// [`Error::Empty`] at once. [`CoreError::BufferTooSmall`] (with the
    /// length needed) leaves the message queued.
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        Ok(self.end.try_recv(buf)?)
    }

    /// [`try_recv`](Self::try_recv), waiting while the channel is empty;
    /// [`Error::PeerGone`] once it is empty and the sender closed or died.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.recv_timeout(buf, None)
    }

    /// [`recv`](Self::recv), waiting at most `timeout` (`None`: no limit):
    /// [`Error::TimedOut`].
    pub fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        let (end, member) = (&mut self.end, &self.member);
        blocking(timeout, |t| end.recv_timeout(buf, t), || member.peer_gone())
    }

    /// The oldest message, in place ([`zero_copy`](super::zero_copy)),
    /// released when the [`FrameRef`] drops, or [`Error::Empty`] at once.
    /// A receiver that dies holding it leaves it queued for the receiver
    /// that [takes over](Self::take_over): at least once.
    #[inline]
    pub fn try_recv_ref(&mut self) -> Result<FrameRef<'_>> {
        Ok(FrameRef::spsc(self.end.try_read()?))
    }

    /// [`try_recv_ref`](Self::try_recv_ref), waiting while the channel is
    /// empty; [`Error::PeerGone`] once it is empty and the sender closed or
    /// died.
    pub fn recv_ref(&mut self) -> Result<FrameRef<'_>> {
        self.recv_ref_timeout(None)
    }

    /// [`recv_ref`](Self::recv_ref), waiting at most `timeout` (`None`: no
    /// limit): [`Error::TimedOut`].
    pub fn recv_ref_timeout(&mut self, timeout: Option<Duration>) -> Result<FrameRef<'_>> {
        // As in `Sender::loan_timeout`: wait for a frame (one dropped
        // unreleased stays queued), then take it again.
        let (end, member) = (&mut self.end, &self.member);
        blocking(
            timeout,
            |t| end.read_timeout(t).map(drop),
            || member.peer_gone(),
        )?;
        self.try_recv_ref()
    }
}

/// The [message interface](crate::message): messages of up to
/// [`max_frame_len`](Sender::max_frame_len) bytes. `Some(Duration::ZERO)`
/// is [`try_send`](Sender::try_send) (`Full`, no liveness check); other
/// timeouts are [`send_timeout`](Sender::send_timeout) (futex waits after a
/// short spin, with the peer's liveness checked every
/// [`LIVENESS_SLICE`](super::LIVENESS_SLICE)).
impl MessageSender for Sender {
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        match timeout {
            Some(t) if t.is_zero() => Sender::try_send(self, msg),
            _ => Sender::send_timeout(self, msg, timeout),
        }
    }

    fn max_message_len(&self) -> usize {
        self.max_frame_len() as usize
    }
}

/// The [message interface](crate::message), as for [`Sender`]:
/// `Some(Duration::ZERO)` is [`try_recv`](Receiver::try_recv) (`Empty`).
impl MessageReceiver for Receiver {
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        match timeout {
            Some(t) if t.is_zero() => Receiver::try_recv(self, buf),
            _ => Receiver::recv_timeout(self, buf, timeout),
        }
    }

    fn max_message_len(&self) -> usize {
        self.max_frame_len() as usize
    }
}

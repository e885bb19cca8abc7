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
//!
//! There is no `send_many`: the frame ring publishes each message with the
//! commit of its own grant (one record, one `tail` store, one wake check),
//! and has no grant of several records. Publishing a batch at once would
//! need one in the core; until then a loop of [`send`](Sender::send) is
//! what a batch would cost, less one wake check per message.

use std::time::{Duration, Instant};

use ipckit_core::Role;
use ipckit_core::frame::spsc::{Consumer, Producer, Ring};

use super::liveness::Membership;
use super::zero_copy::{FrameRef, Loan, loan_error, name_too_large};
use super::{
    Iter, Memory, TryIter, blocking, empty_or_closed, flow_error, full_or_closed,
    single_constructors, until,
};
#[cfg(doc)]
use crate::error::Error;
use crate::error::{CoreError, Result};
use crate::futex::Futex;
use crate::message::{MessageReceiver, MessageSender};

macro_rules! constructors {
    ($role:expr, $claim:expr) => {
        single_constructors! {
            role: $role, claim: $claim;
            object_len {
                /// The length of a channel object for a data area of `capacity`
                /// bytes (the core ring, padding, the liveness block): what a
                /// [`Memfd`] or [`MappedFile`] given to [`init_on`](Self::init_on)
                /// needs. `capacity` is rounded up to a power of two of at least 16, as
                /// [`create`](Self::create) does; `None` for 0 or more than 2^31.
                ///
                /// [`Memfd`]: crate::shm::Memfd
                /// [`MappedFile`]: crate::shm::MappedFile
            }
            create {
                /// Creates the channel `name` (which must not exist:
                /// [`Error::AlreadyExists`]; of racing creators exactly one wins)
                /// with a data area of `capacity` bytes (rounded up to a power of two
                /// of at least 16, the figure [`capacity`](Self::capacity) reports), and
                /// claims this end. To size it by the largest message, see
                /// [`Builder::max_message`](crate::channel::Builder::max_message).
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

        /// The size of the data area in bytes.
        pub fn capacity(&self) -> u32 {
            self.end.capacity()
        }

        /// The bytes queued now, record headers and padding included (a
        /// snapshot; a peer's garbage reads as a full channel). There is no
        /// `len`: the ring does not count messages, and counting them would
        /// mean walking records the peer writes.
        pub fn pending_bytes(&self) -> usize {
            self.end.pending_bytes()
        }

        /// `true` when no message is queued.
        pub fn is_empty(&self) -> bool {
            self.end.is_empty()
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
    constructors!(Role::Producer, |r: &Ring<'static>, n| r.producer_with(n));

    /// Sends `message`, or [`Error::Full`] at once ([`Error::PeerGone`]
    /// instead if the receiver closed: [channel docs](super#dead-peers));
    /// [`CoreError::FrameTooLarge`] for a message over
    /// [`max_frame_len`](Self::max_frame_len).
    pub fn try_send(&mut self, message: &[u8]) -> Result<()> {
        match self.end.try_send(message) {
            Err(CoreError::Full) => Err(full_or_closed(&self.member)),
            other => Ok(other?),
        }
    }

    /// Sends `message`, waiting while there is no room;
    /// [`Error::PeerGone`] if the receiver closed or died meanwhile (the
    /// message is then not sent).
    pub fn send(&mut self, message: &[u8]) -> Result<()> {
        self.send_within(message, None)
    }

    /// [`send`](Self::send), waiting at most `timeout`:
    /// [`Error::TimedOut`] (the message is then not sent).
    pub fn send_timeout(&mut self, message: &[u8], timeout: Duration) -> Result<()> {
        self.send_within(message, Some(timeout))
    }

    /// [`send`](Self::send), waiting until `deadline` at the latest:
    /// [`Error::TimedOut`] (the message is then not sent).
    pub fn send_deadline(&mut self, message: &[u8], deadline: Instant) -> Result<()> {
        self.send_timeout(message, until(deadline))
    }

    /// [`send`](Self::send), waiting at most `timeout` (`None`: no limit).
    fn send_within(&mut self, message: &[u8], timeout: Option<Duration>) -> Result<()> {
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
            // As `try_send`: a full ring whose receivers all closed is
            // `PeerGone` (state words only).
            Err(CoreError::Full) => Err(full_or_closed(&self.member)),
            Err(e) => Err(loan_error(e, &self.mem)),
        }
    }

    /// [`try_loan`](Self::try_loan), waiting while there is no room, as
    /// [`send`](Self::send) does ([`Error::PeerGone`] if the receiver
    /// closed or died meanwhile).
    pub fn loan(&mut self, len: usize) -> Result<Loan<'_>> {
        self.loan_within(len, None)
    }

    /// [`loan`](Self::loan), waiting at most `timeout`: [`Error::TimedOut`].
    pub fn loan_timeout(&mut self, len: usize, timeout: Duration) -> Result<Loan<'_>> {
        self.loan_within(len, Some(timeout))
    }

    /// [`loan`](Self::loan), waiting until `deadline` at the latest.
    pub fn loan_deadline(&mut self, len: usize, deadline: Instant) -> Result<Loan<'_>> {
        self.loan_within(len, Some(until(deadline)))
    }

    /// The loan calls: `None` waits without a limit.
    pub(crate) fn loan_within(
        &mut self,
        len: usize,
        timeout: Option<Duration>,
    ) -> Result<Loan<'_>> {
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
    constructors!(Role::Consumer, |r: &Ring<'static>, n| r.consumer_with(n));

    /// Copies the oldest message into `buf` and returns its length, or
    /// [`Error::Empty`] at once ([`Error::PeerGone`] instead once the
    /// sender closed: [channel docs](super#dead-peers)).
    /// [`CoreError::BufferTooSmall`] (with the length needed) leaves the
    /// message queued.
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        match self.end.try_recv(buf) {
            Err(CoreError::Empty) => empty_or_closed(&self.member, || self.end.try_recv(buf)),
            other => Ok(other?),
        }
    }

    /// A blocking iterator over the messages, each a `Vec` of its length:
    /// it ends once the channel is drained and the sender closed or died
    /// ([`Iter`]).
    pub fn iter(&mut self) -> Iter<&mut Self> {
        Iter::new(self)
    }

    /// An iterator over the messages queued now, never waiting
    /// ([`TryIter`]).
    pub fn try_iter(&mut self) -> TryIter<&mut Self> {
        TryIter::new(self)
    }

    /// [`try_recv`](Self::try_recv), waiting while the channel is empty;
    /// [`Error::PeerGone`] once it is empty and the sender closed or died.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.recv_within(buf, None)
    }

    /// [`recv`](Self::recv), waiting at most `timeout`:
    /// [`Error::TimedOut`].
    pub fn recv_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize> {
        self.recv_within(buf, Some(timeout))
    }

    /// [`recv`](Self::recv), waiting until `deadline` at the latest:
    /// [`Error::TimedOut`].
    pub fn recv_deadline(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize> {
        self.recv_timeout(buf, until(deadline))
    }

    /// [`recv`](Self::recv), waiting at most `timeout` (`None`: no limit).
    fn recv_within(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        let (end, member) = (&mut self.end, &self.member);
        blocking(timeout, |t| end.recv_timeout(buf, t), || member.peer_gone())
    }

    /// The oldest message, in place ([`zero_copy`](super::zero_copy)),
    /// released when the [`FrameRef`] drops, or [`Error::Empty`] at once.
    /// A receiver that dies holding it leaves it queued for the receiver
    /// that [takes over](Self::take_over): at least once.
    #[inline]
    pub fn try_recv_ref(&mut self) -> Result<FrameRef<'_>> {
        match self.end.try_read() {
            Ok(frame) => Ok(FrameRef::spsc(frame)),
            Err(e) => Err(flow_error(e)),
        }
    }

    /// [`try_recv_ref`](Self::try_recv_ref), waiting while the channel is
    /// empty; [`Error::PeerGone`] once it is empty and the sender closed or
    /// died.
    pub fn recv_ref(&mut self) -> Result<FrameRef<'_>> {
        self.recv_ref_within(None)
    }

    /// [`recv_ref`](Self::recv_ref), waiting at most `timeout`:
    /// [`Error::TimedOut`].
    pub fn recv_ref_timeout(&mut self, timeout: Duration) -> Result<FrameRef<'_>> {
        self.recv_ref_within(Some(timeout))
    }

    /// [`recv_ref`](Self::recv_ref), waiting until `deadline` at the latest.
    pub fn recv_ref_deadline(&mut self, deadline: Instant) -> Result<FrameRef<'_>> {
        self.recv_ref_within(Some(until(deadline)))
    }

    /// The `recv_ref` calls: `None` waits without a limit.
    pub(crate) fn recv_ref_within(&mut self, timeout: Option<Duration>) -> Result<FrameRef<'_>> {
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
/// is [`try_send`](Sender::try_send) (`Full`, or `PeerGone` once the receiver closed), `None`
/// is [`send`](Sender::send), other timeouts are
/// [`send_timeout`](Sender::send_timeout) (futex waits after a short spin,
/// with the peer's liveness checked every
/// [`LIVENESS_SLICE`](super::LIVENESS_SLICE)).
impl MessageSender for Sender {
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        match timeout {
            Some(t) if t.is_zero() => Sender::try_send(self, msg),
            _ => Sender::send_within(self, msg, timeout),
        }
    }

    fn max_message_len(&self) -> usize {
        self.max_frame_len() as usize
    }
}

/// The [message interface](crate::message), as for [`Sender`]:
/// `Some(Duration::ZERO)` is [`try_recv`](Receiver::try_recv) (`Empty`),
/// `None` is [`recv`](Receiver::recv).
impl MessageReceiver for Receiver {
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        match timeout {
            Some(t) if t.is_zero() => Receiver::try_recv(self, buf),
            _ => Receiver::recv_within(self, buf, timeout),
        }
    }

    fn max_message_len(&self) -> usize {
        self.max_frame_len() as usize
    }
}

/// The liveness record (for the RPC layer and tests).
impl Sender {
    pub(crate) fn membership(&self) -> &Membership {
        &self.member
    }
}

super::iter::byte_receiver_iterators!(Receiver);

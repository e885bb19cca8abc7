//! Zero-copy messages on the byte channels ([`bytes`](mod@super::bytes),
//! [`mpsc_bytes`](mod@super::mpsc_bytes)): a [`Loan`] is room in the ring that
//! the sender writes in place and then [`send`](Loan::send)s; a
//! [`FrameRef`] is the oldest message, read in place by the receiver and
//! released when it drops. Both channels have the same calls with the same
//! meanings:
//!
//! | sender | receiver |
//! |--------|----------|
//! | `try_loan(len)` ([`Error::Full`] at once) | `try_recv_ref()` ([`Error::Empty`] at once) |
//! | `loan(len)` (waits for room, as `send`) | `recv_ref()` (waits for a message, as `recv`) |
//! | `loan_timeout(len, timeout)`, `loan_deadline(len, deadline)` | `recv_ref_timeout(timeout)`, `recv_ref_deadline(deadline)` |
//!
//! The blocking forms keep the channel's dead-peer rules: a `loan` gets
//! [`Error::PeerGone`] when the receiver closed or died while it waits for
//! room; a `recv_ref` gets it once the channel is drained and every sender
//! closed or died. A loan longer than the channel's largest message
//! (`max_frame_len`) is refused at once with [`Error::Channel`] naming the
//! channel ([`CoreError::FrameTooLarge`]).
//!
//! # The peer is untrusted
//! The bytes of a loan and of a frame lie in memory the peer process can
//! write. As in the core ([`crate::frame`]), no safe call hands out a Rust
//! reference into it: a [`Loan`] is written with [`write_at`](Loan::write_at)
//! / [`copy_from_slice`](Loan::copy_from_slice), a [`FrameRef`] is read with
//! [`copy_to`](FrameRef::copy_to), [`to_vec`](FrameRef::to_vec),
//! [`read_at`](FrameRef::read_at) and [`read_partial`](FrameRef::read_partial)
//! (copies through word-wise atomics: a peer scribbling on the bytes makes
//! them wrong, never this process unsound). For a trusted peer (say, to
//! serialise straight into the ring or deserialise straight out of it),
//! [`Loan::as_mut_slice`] and [`FrameRef::as_slice`] are `unsafe` views,
//! and [`Loan::as_mut_ptr`] / [`FrameRef::as_ptr`] give the address for a
//! system call (`read(2)` into a loan, `write(2)` from a frame).
//!
//! # Delivery when a receiver dies: at least once for `recv_ref`
//! A [`FrameRef`] leaves the message in the ring until it drops (or is
//! [`release`](FrameRef::release)d): the channel's published read position
//! moves past the message only then. A receiver killed while it holds one,
//! whatever it was doing with the bytes, leaves the message queued, and
//! the receiver that [takes the role over](super::bytes::Receiver::take_over)
//! gets it again. So a consumer that reads with `recv_ref`, processes the
//! message, and only then drops the frame gets every message processed
//! **at least once** across crashes: a message may be processed twice
//! (the dead receiver's work on it is not known to its successor), never
//! lost. A receiver killed inside the release itself (an `mpsc_bytes`
//! receiver erases the record there) counts the message as consumed: it
//! had finished with it.
//!
//! The copying `recv` releases the message before it returns: a receiver
//! that dies after `recv` returned, while processing the copy, loses that
//! message (it was delivered). Use `recv_ref` and drop the frame after the
//! work is done where a message must survive its consumer. Either way, a
//! receiver's death delivers again at most the one message it held.
//!
//! A panic that unwinds through a [`FrameRef`] drops it, and so releases
//! the message; with `panic = "abort"` it stays queued for the successor.
//!
//! # Example
//! ```
//! use ipckit::channel::bytes::{Receiver, Sender};
//!
//! let name = format!("ipckit-doc-zero-copy-{}", std::process::id());
//! let mut tx = Sender::create(&name, 4096)?;
//! let mut rx = Receiver::open(&name)?;
//!
//! let mut loan = tx.loan(11)?; // room for 11 bytes, in the ring
//! loan.write_at(0, b"hello")?;
//! loan.write_at(5, b" world")?;
//! loan.send(); // published: one message of 11 bytes
//!
//! let frame = rx.recv_ref()?; // the message, in the ring
//! let mut word = [0u8; 5];
//! frame.read_at(6, &mut word)?;
//! assert_eq!(&word, b"world");
//! assert_eq!(frame.to_vec(), b"hello world");
//! drop(frame); // released: the room goes back to the sender
//!
//! // Larger than any message the channel carries: refused, naming it.
//! let err = tx.try_loan(4096).unwrap_err();
//! assert!(err.to_string().contains(&name));
//! ipckit::shm::ShmObject::remove(&name)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::mem::ManuallyDrop;

use ipckit_core::frame::{mpsc, spsc};

use super::{Memory, flow_error};
use crate::error::{CoreError, Error, Result};
use crate::futex::Futex;

/// The core grant a loan holds: the SPSC ring's (room reserved by the one
/// producer; dropped, it gives the room back) or the MPSC ring's (space
/// claimed; dropped, it becomes a discarded record the receiver skips).
enum Grant<'a> {
    Spsc(spsc::Grant<'a, 'static, Futex>),
    Mpsc(mpsc::Grant<'a, 'static, Futex>),
}

/// The core read frame a [`FrameRef`] holds.
enum Frame<'a> {
    Spsc(spsc::ReadFrame<'a, 'static, Futex>),
    Mpsc(mpsc::ReadFrame<'a, 'static, Futex>),
}

/// `$body` with `$v` bound to the core value of either ring: the two cores
/// have the same method set.
macro_rules! either {
    ($enum:ident, $value:expr, $v:ident => $body:expr) => {
        match $value {
            $enum::Spsc($v) => $body,
            $enum::Mpsc($v) => $body,
        }
    };
}

/// A frame too large for the channel becomes [`Error::Channel`] naming
/// `mem`; other errors pass unchanged (flow conditions stay plain, so
/// `is_full()` and friends keep working).
pub(crate) fn name_too_large(e: Error, mem: &Memory) -> Error {
    match e {
        Error::Core(CoreError::FrameTooLarge { .. }) => named(e, mem),
        other => other,
    }
}

#[cold]
#[inline(never)]
fn named(e: Error, mem: &Memory) -> Error {
    e.in_channel(|| mem.describe())
}

/// The error of a `try_loan` whose core grant failed with `e`: `Full`
/// plain and built inline ([`flow_error`]: a sender spinning on a full
/// ring comes here once per look), the rest as [`name_too_large`].
#[inline(always)]
pub(crate) fn loan_error(e: CoreError, mem: &Memory) -> Error {
    match e {
        CoreError::Full => Error::Full,
        other => name_too_large(flow_error(other), mem),
    }
}

/// Room for one message in a byte channel's ring, written in place and
/// then [`send`](Self::send)t: from `loan`, `try_loan` or `loan_timeout`
/// of a [`bytes::Sender`](super::bytes::Sender) or an
/// [`mpsc_bytes::Sender`](super::mpsc_bytes::Sender) ([module
/// docs](self)).
///
/// The safe writers ([`write_at`](Self::write_at),
/// [`copy_from_slice`](Self::copy_from_slice)) are exact: what does not fit
/// is refused and nothing is written. Bytes left unwritten hold whatever
/// the ring held there (zeros on an `mpsc_bytes` channel); send only what
/// was written, with [`send_first`](Self::send_first).
///
/// Dropped without a send, a loan publishes nothing: on a `bytes` channel
/// its room is free again; on an `mpsc_bytes` channel it becomes a
/// discarded record that the receiver skips. On an `mpsc_bytes` channel,
/// the receiver waits for an open loan (messages claimed later by other
/// senders queue behind it): send or drop it soon.
///
/// ```
/// use ipckit::channel::mpsc_bytes::{Receiver, Sender};
///
/// let name = format!("ipckit-doc-loan-{}", std::process::id());
/// let mut rx = Receiver::create(&name, 4096)?;
/// let tx = Sender::open(&name)?;
/// let mut loan = tx.loan(64)?; // the most this message may need
/// let text = b"a message of unknown length";
/// loan.copy_from_slice(text)?;
/// assert!(loan.write_at(60, &[0; 8]).is_err()); // exact: past the end
/// loan.send_first(text.len())?; // only what was written
/// drop(tx.loan(16)?); // never sent: delivers nothing
/// let mut buf = [0u8; 64];
/// assert_eq!(rx.recv(&mut buf)?, text.len());
/// assert_eq!(&buf[..text.len()], text);
/// assert!(rx.try_recv(&mut buf).unwrap_err().is_empty());
/// ipckit::shm::ShmObject::remove(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a loan publishes nothing until it is sent"]
pub struct Loan<'a> {
    grant: Grant<'a>,
}

impl std::fmt::Debug for Loan<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loan").field("len", &self.len()).finish()
    }
}

impl<'a> Loan<'a> {
    #[inline]
    pub(crate) fn spsc(grant: spsc::Grant<'a, 'static, Futex>) -> Self {
        Self {
            grant: Grant::Spsc(grant),
        }
    }

    #[inline]
    pub(crate) fn mpsc(grant: mpsc::Grant<'a, 'static, Futex>) -> Self {
        Self {
            grant: Grant::Mpsc(grant),
        }
    }

    /// The bytes lent: the longest message this loan can send.
    #[inline]
    pub fn len(&self) -> usize {
        either!(Grant, &self.grant, g => g.len())
    }

    /// `true` for a loan of 0 bytes (it sends an empty message).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies `src` to byte `offset` of the loan, or returns
    /// [`CoreError::OutOfRange`] (writing nothing) if it does not fit.
    #[inline]
    pub fn write_at(&mut self, offset: usize, src: &[u8]) -> Result<()> {
        Ok(either!(Grant, &mut self.grant, g => g.write_at(offset, src))?)
    }

    /// Copies `src` to the start of the loan: [`write_at`](Self::write_at)`(0, src)`.
    #[inline]
    pub fn copy_from_slice(&mut self, src: &[u8]) -> Result<()> {
        self.write_at(0, src)
    }

    /// The address of the loan's first byte (8-byte aligned), for a writer
    /// that fills it in place (a system call such as `read(2)`, a
    /// serialiser). Writing through it is the caller's `unsafe`: at most
    /// [`len`](Self::len) bytes, while the loan lives. Peers that follow
    /// the protocol do not touch the bytes before the send.
    #[inline]
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        either!(Grant, &mut self.grant, g => g.as_mut_ptr())
    }

    /// The lent bytes as a mutable slice in shared memory, to serialise
    /// straight into the ring.
    ///
    /// # Safety
    /// Nothing else reads or writes these bytes while the slice lives.
    /// Peers that follow the protocol do not touch unsent bytes; a faulty
    /// or hostile peer could, and would then race with this `&mut [u8]`.
    /// Use it only with trusted peers; otherwise
    /// [`write_at`](Self::write_at).
    ///
    /// ```
    /// use ipckit::channel::bytes::{Receiver, Sender};
    /// use ipckit::shm::Memfd;
    ///
    /// let memfd = Memfd::create("doc", Sender::object_len(4096).unwrap())?;
    /// let fd = memfd.try_clone_fd()?;
    /// let mut tx = Sender::init_on(memfd, 4096)?;
    /// let mut rx = Receiver::attach(Memfd::from_fd(fd)?)?;
    /// let mut loan = tx.loan(8)?;
    /// // SAFETY: the receiver is this process's own, following the protocol.
    /// let bytes = unsafe { loan.as_mut_slice() };
    /// bytes.copy_from_slice(&42u64.to_le_bytes());
    /// loan.send();
    /// let frame = rx.recv_ref()?;
    /// let mut out = [0u8; 8];
    /// frame.copy_to(&mut out)?;
    /// assert_eq!(u64::from_le_bytes(out), 42);
    /// # Ok::<(), ipckit::Error>(())
    /// ```
    #[inline]
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the caller's promise, as for the core grant's.
        either!(Grant, &mut self.grant, g => unsafe { g.as_mut_slice() })
    }

    /// Publishes the whole loan as one message and wakes a waiting
    /// receiver.
    #[inline]
    pub fn send(self) {
        either!(Grant, self.grant, g => g.commit_all())
    }

    /// Publishes the first `n` bytes as one message (the rest goes back to
    /// the ring). An `n` beyond [`len`](Self::len) is
    /// [`CoreError::OutOfRange`] and publishes nothing, as a dropped loan.
    #[inline]
    pub fn send_first(self, n: usize) -> Result<()> {
        Ok(either!(Grant, self.grant, g => g.commit(n))?)
    }
}

/// The oldest message of a byte channel, read in place and released when
/// dropped: from `recv_ref`, `try_recv_ref` or `recv_ref_timeout` of a
/// [`bytes::Receiver`](super::bytes::Receiver) or an
/// [`mpsc_bytes::Receiver`](super::mpsc_bytes::Receiver) ([module
/// docs](self)).
///
/// While it lives, the message stays in the ring (its room is not free for
/// the senders yet), and a receiver that dies holding it has it delivered
/// again to its successor (at least once: [module
/// docs](self#delivery-when-a-receiver-dies-at-least-once-for-recv_ref)).
///
/// The bytes are the peer's: read them with the copying calls, exact
/// ([`copy_to`](Self::copy_to), [`read_at`](Self::read_at): an error rather
/// than a short read) or partial ([`read_partial`](Self::read_partial)), or
/// for a trusted peer through the `unsafe` [`as_slice`](Self::as_slice).
///
/// ```
/// use ipckit::channel::mpsc_bytes::{Receiver, Sender};
///
/// let name = format!("ipckit-doc-frame-ref-{}", std::process::id());
/// let mut rx = Receiver::create(&name, 4096)?;
/// let tx = Sender::open(&name)?;
/// tx.send(b"header:body")?;
/// tx.send(b"next")?;
/// {
///     let frame = rx.recv_ref()?;
///     assert_eq!(frame.len(), 11);
///     assert_eq!(frame.sender_id(), Some(std::process::id()));
///     let mut head = [0u8; 6];
///     frame.read_at(0, &mut head)?;
///     assert_eq!(&head, b"header");
///     let mut tail = [0u8; 8];
///     assert_eq!(frame.read_partial(7, &mut tail), 4); // what there is
///     assert!(frame.copy_to(&mut [0u8; 4]).is_err()); // exact
/// } // dropped: released
/// assert_eq!(rx.try_recv_ref()?.to_vec(), b"next");
/// assert!(rx.try_recv_ref().unwrap_err().is_empty());
/// ipckit::shm::ShmObject::remove(&name)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a frame is released (and gone) when it drops: read it first"]
pub struct FrameRef<'a> {
    // Taken out exactly once, by `drop`.
    frame: ManuallyDrop<Frame<'a>>,
}

impl std::fmt::Debug for FrameRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameRef")
            .field("len", &self.len())
            .field("sender_id", &self.sender_id())
            .finish()
    }
}

impl<'a> FrameRef<'a> {
    #[inline]
    pub(crate) fn spsc(frame: spsc::ReadFrame<'a, 'static, Futex>) -> Self {
        Self {
            frame: ManuallyDrop::new(Frame::Spsc(frame)),
        }
    }

    #[inline]
    pub(crate) fn mpsc(frame: mpsc::ReadFrame<'a, 'static, Futex>) -> Self {
        Self {
            frame: ManuallyDrop::new(Frame::Mpsc(frame)),
        }
    }

    /// The message's length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        either!(Frame, &*self.frame, f => f.len())
    }

    /// `true` for an empty message.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// On an `mpsc_bytes` channel, the id its sender wrote into the record
    /// (its pid: [`Sender::id`](super::mpsc_bytes::Sender::id)), peer data
    /// rather than proof of identity; `None` on a `bytes` channel.
    pub fn sender_id(&self) -> Option<u32> {
        match &*self.frame {
            Frame::Spsc(_) => None,
            Frame::Mpsc(f) => Some(f.claimant()),
        }
    }

    /// Copies the whole message to the start of `dst` and returns its
    /// length: exact, so [`CoreError::BufferTooSmall`] (with the length
    /// needed) if `dst` is shorter.
    #[inline]
    pub fn copy_to(&self, dst: &mut [u8]) -> Result<usize> {
        Ok(either!(Frame, &*self.frame, f => f.copy_to(dst))?)
    }

    /// The message, copied into a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; self.len()];
        let n = self.read_partial(0, &mut v);
        debug_assert_eq!(n, v.len());
        v
    }

    /// Fills all of `dst` from byte `offset` of the message, or returns
    /// [`CoreError::OutOfRange`] (reading nothing) if the message is
    /// shorter.
    #[inline]
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) -> Result<()> {
        Ok(either!(Frame, &*self.frame, f => f.read_at(offset, dst))?)
    }

    /// Copies as many bytes as fit in `dst` and exist from byte `offset` of
    /// the message; returns how many (0 at or past the end).
    #[inline]
    pub fn read_partial(&self, offset: usize, dst: &mut [u8]) -> usize {
        either!(Frame, &*self.frame, f => f.read_partial(offset, dst))
    }

    /// The address of the message's first byte (8-byte aligned), for a
    /// caller that hands it to a system call, say `write(2)`. Reading
    /// through it is the caller's `unsafe`: at most [`len`](Self::len)
    /// bytes, while the frame lives; the bytes are peer data.
    #[inline]
    pub fn as_ptr(&self) -> *const u8 {
        either!(Frame, &*self.frame, f => f.as_ptr())
    }

    /// The message as a slice in shared memory, without a copy.
    ///
    /// # Safety
    /// Nothing writes these bytes while the slice lives. Senders that
    /// follow the protocol do not touch a sent message before it is
    /// released; a faulty or hostile one could, and would then race with
    /// this `&[u8]`. Use it only with trusted peers; otherwise
    /// [`copy_to`](Self::copy_to) or [`read_at`](Self::read_at).
    ///
    /// ```
    /// use ipckit::channel::bytes::{Receiver, Sender};
    /// use ipckit::shm::Memfd;
    ///
    /// let memfd = Memfd::create("doc", Sender::object_len(4096).unwrap())?;
    /// let fd = memfd.try_clone_fd()?;
    /// let mut tx = Sender::init_on(memfd, 4096)?;
    /// let mut rx = Receiver::attach(Memfd::from_fd(fd)?)?;
    /// tx.send(b"trusted")?;
    /// let frame = rx.recv_ref()?;
    /// // SAFETY: the sender is this process's own, following the protocol.
    /// assert_eq!(unsafe { frame.as_slice() }, b"trusted");
    /// # Ok::<(), ipckit::Error>(())
    /// ```
    #[inline]
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: the caller's promise, as for the core read frame's; the
        // slice borrows `self`, so the frame is not released meanwhile.
        either!(Frame, &*self.frame, f => unsafe { f.as_slice() })
    }

    /// Releases the message (its room goes back to the senders), as
    /// dropping the frame does: for a reader who wants the end of the work
    /// on a message to be visible in the code.
    #[inline]
    pub fn release(self) {
        drop(self);
    }
}

impl Drop for FrameRef<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `frame` is taken here only, once, and never used after.
        let frame = unsafe { ManuallyDrop::take(&mut self.frame) };
        either!(Frame, frame, f => f.release())
    }
}

#[cfg(test)]
mod tests;

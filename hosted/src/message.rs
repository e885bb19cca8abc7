//! One message interface for every mechanism.
//!
//! [`MessageSender`] and [`MessageReceiver`] move byte messages, whatever
//! carries them: a shared-memory channel, a pipe, a socket, a message queue,
//! a file. A program written against these traits changes mechanism by
//! changing the line that opens the transport, and the benchmarks compare
//! mechanisms on the same work.
//!
//! Each transport implements two methods, [`send_timeout`] and
//! [`recv_timeout`]; the blocking, non-blocking and `Vec` forms are provided
//! on top of them:
//!
//! | timeout | meaning |
//! |---------|---------|
//! | `None` | wait as long as it takes |
//! | `Some(Duration::ZERO)` | do not wait: [`Full`]/[`Empty`] when the call would block |
//! | `Some(t)` | wait at most `t`: [`TimedOut`] after that |
//!
//! Message boundaries are kept: stream transports (pipes, stream sockets,
//! TCP, files) carry the core's length-prefixed frames
//! ([`frame::codec`](crate::frame::codec)) with a configurable maximum;
//! datagram and queue transports use their native boundaries. A message
//! longer than a transport's [`max_message_len`] is refused with
//! [`FrameTooLarge`] before anything is sent; a receive buffer too small for
//! the next message is [`BufferTooSmall`] and the message stays queued where
//! the mechanism allows (where it does not, the transport says so).
//! A peer that is gone is [`PeerGone`] once everything it sent was received.
//!
//! [`send_timeout`]: MessageSender::send_timeout
//! [`recv_timeout`]: MessageReceiver::recv_timeout
//! [`max_message_len`]: MessageSender::max_message_len
//! [`Full`]: crate::Error::Full
//! [`Empty`]: crate::Error::Empty
//! [`TimedOut`]: crate::Error::TimedOut
//! [`FrameTooLarge`]: crate::CoreError::FrameTooLarge
//! [`BufferTooSmall`]: crate::CoreError::BufferTooSmall
//! [`PeerGone`]: crate::Error::PeerGone

use std::time::Duration;

use crate::error::{Error, Result};

/// The sending end of a message transport.
///
/// ```
/// use std::time::Duration;
/// use ipckit::message::{MessageReceiver, MessageSender};
/// use ipckit::Result;
///
/// /// A transport in one process: a queue of messages.
/// #[derive(Default)]
/// struct Loopback(std::collections::VecDeque<Vec<u8>>);
///
/// impl MessageSender for Loopback {
///     fn send_timeout(&mut self, msg: &[u8], _: Option<Duration>) -> Result<()> {
///         self.0.push_back(msg.to_vec());
///         Ok(())
///     }
///     fn max_message_len(&self) -> usize {
///         usize::MAX
///     }
/// }
///
/// let mut tx = Loopback::default();
/// tx.send(b"one")?;
/// tx.try_send(b"two")?;
/// assert!(tx.flush(None)?); // nothing held back
/// assert_eq!(tx.0.len(), 2);
/// # Ok::<(), ipckit::Error>(())
/// ```
pub trait MessageSender {
    /// Sends `msg` as one message, waiting at most `timeout` for room (see
    /// the [module docs](self) for what `None` and zero mean).
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()>;

    /// The longest message this transport carries.
    fn max_message_len(&self) -> usize;

    /// Sends `msg`, waiting as long as it takes for room.
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        self.send_timeout(msg, None)
    }

    /// Sends `msg` if there is room now, else [`Full`](crate::Error::Full).
    fn try_send(&mut self, msg: &[u8]) -> Result<()> {
        self.send_timeout(msg, Some(Duration::ZERO))
    }

    /// Hands anything accepted but not yet passed on to the mechanism,
    /// waiting at most `timeout`; `Ok(true)` when nothing is pending (any
    /// more), `Ok(false)` when some is still buffered at the deadline.
    ///
    /// Only the stream transports keep anything back: when a deadline
    /// passes after part of a frame went out, they accept the message and
    /// buffer its rest (see [`stream`](crate::transport::stream)), which
    /// the next send, a drop, or this call finishes. The provided method
    /// has nothing to do and returns `Ok(true)`.
    fn flush(&mut self, timeout: Option<Duration>) -> Result<bool> {
        let _ = timeout;
        Ok(true)
    }
}

/// The receiving end of a message transport.
///
/// ```
/// use std::time::Duration;
/// use ipckit::message::MessageReceiver;
/// use ipckit::{Error, Result};
///
/// struct Canned(Vec<Vec<u8>>);
///
/// impl MessageReceiver for Canned {
///     fn recv_timeout(&mut self, buf: &mut [u8], _: Option<Duration>) -> Result<usize> {
///         let Some(msg) = self.0.pop() else { return Err(Error::Empty) };
///         buf[..msg.len()].copy_from_slice(&msg);
///         Ok(msg.len())
///     }
///     fn max_message_len(&self) -> usize {
///         16
///     }
/// }
///
/// let mut rx = Canned(vec![b"last".to_vec(), b"first".to_vec()]);
/// assert_eq!(rx.recv_vec()?, b"first");
/// let mut buf = [0; 16];
/// assert_eq!(rx.try_recv(&mut buf)?, 4);
/// assert!(rx.try_recv(&mut buf).unwrap_err().is_empty());
/// # Ok::<(), Error>(())
/// ```
pub trait MessageReceiver {
    /// Receives the next message into `buf`, waiting at most `timeout`, and
    /// returns its length.
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize>;

    /// The longest message this transport carries.
    fn max_message_len(&self) -> usize;

    /// Receives the next message into `buf`, waiting as long as it takes.
    fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.recv_timeout(buf, None)
    }

    /// Receives a message if one is there now, else
    /// [`Empty`](crate::Error::Empty).
    fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.recv_timeout(buf, Some(Duration::ZERO))
    }

    /// Receives the next message into a new `Vec`, waiting as long as it
    /// takes. The buffer is sized by [`max_message_len`](Self::max_message_len)
    /// (at most 16 MiB up front; a longer message grows it).
    fn recv_vec(&mut self) -> Result<Vec<u8>> {
        let mut buf = vec![0; self.max_message_len().min(16 << 20)];
        loop {
            match self.recv(&mut buf) {
                Ok(n) => {
                    buf.truncate(n);
                    return Ok(buf);
                }
                Err(Error::Core(crate::error::CoreError::BufferTooSmall { required })) => {
                    buf.resize(required, 0);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

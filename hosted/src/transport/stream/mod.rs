//! Length-prefixed frames over any byte stream: pipes, FIFOs, stream
//! sockets, TCP, a child's stdin/stdout.
//!
//! [`FramedWriter`] sends each message as one frame of the core's stream
//! codec ([`frame::codec`](crate::frame::codec): a 4-byte little-endian
//! length, then the payload); [`FramedReader`] takes them apart again;
//! [`Framed`] does both over one bidirectional descriptor (a socket).
//! Each is an owned value around any `F: AsFd` (an [`OwnedFd`](std::os::fd::OwnedFd),
//! a [`UnixStream`](std::os::unix::net::UnixStream), a
//! [`TcpStream`](std::net::TcpStream), a [`ChildStdin`](std::process::ChildStdin), ...)
//! and implements [`MessageSender`] and/or [`MessageReceiver`].
//!
//! # How it waits
//! The descriptor is switched to non-blocking mode (`O_NONBLOCK`, on the
//! open file description: a duplicate of it, or the same pipe end inherited
//! by a child, shares the flag). A call tries the system call first and,
//! on `EAGAIN`, waits in `ppoll(2)` until the descriptor is ready or the
//! deadline passes: `None` waits as long as it takes, `Some(ZERO)` does not
//! wait ([`Full`](crate::Error::Full)/[`Empty`](crate::Error::Empty)), and
//! `Some(t)` gives up after `t` ([`TimedOut`](crate::Error::TimedOut)).
//!
//! # Sending
//! The prefix and the payload go to the kernel in one `writev(2)` (or
//! `sendmsg(2)` with `MSG_NOSIGNAL` on a socket) without being copied, and
//! partial writes are continued. A message longer than the maximum is
//! refused with [`FrameTooLarge`](crate::CoreError::FrameTooLarge) before
//! anything is written.
//!
//! **A frame is never left half-written.** A byte stream cannot take back
//! bytes it accepted, so when a deadline (a `try_send` on a full pipe, say)
//! passes after *part* of a frame went out, the writer copies the unsent
//! rest into an internal buffer, reports the message as sent (`Ok`: it is
//! accepted and will arrive whole), and finishes the rest before the next
//! frame, at the start of the next call (or in [`MessageSender::flush`]). If
//! it cannot finish that rest before the next call's deadline, the next
//! message is refused with `Full`/`TimedOut`, never interleaved. When no
//! byte of a frame could be written, the call fails with
//! `Full`/`TimedOut` and nothing was accepted. A writer dropped with a
//! rest still buffered tries to finish it for at most [`DROP_LINGER`].
//!
//! # Receiving
//! The reader reads up to 256 KiB per `read(2)` and decodes frames with the
//! core's [`Decoder`]; a frame that lies wholly in one read is copied once,
//! into the caller's buffer. The length prefix is looked at before a frame
//! is taken: a buffer too small for it is
//! [`BufferTooSmall`](crate::CoreError::BufferTooSmall) and the frame stays
//! queued; a prefix above the maximum is
//! [`FrameTooLarge`](crate::CoreError::FrameTooLarge) and final (the stream
//! cannot be resynchronised). When the writer closes its end, the reader
//! first delivers every complete frame, then reports a clean end between
//! frames as [`Error::PeerGone`] and a stream cut inside a frame as
//! [`Truncated`](crate::CoreError::Truncated); both are final.
//!
//! # `SIGPIPE`
//! Writes to a socket pass `MSG_NOSIGNAL`. Writes to a pipe or FIFO whose
//! reader is gone raise `SIGPIPE`; Rust programs ignore it (the standard
//! library sets it to `SIG_IGN` before `main`), so the write fails with
//! `EPIPE` and the writer returns [`Error::PeerGone`]. A program that
//! restored the default action is killed instead, as with any pipe.
//!
//! ```
//! use ipckit::message::{MessageReceiver, MessageSender};
//! use ipckit::transport::pipe::raw_pipe;
//! use ipckit::transport::stream::{FramedReader, FramedWriter};
//!
//! let (r, w) = raw_pipe()?;
//! let mut tx = FramedWriter::new(w, 1024)?;
//! let mut rx = FramedReader::new(r, 1024)?;
//! tx.send(b"hello")?;
//! tx.send(b"")?;
//! let mut buf = [0u8; 1024];
//! assert_eq!(rx.recv(&mut buf)?, 5);
//! assert_eq!(&buf[..5], b"hello");
//! assert_eq!(rx.recv(&mut buf)?, 0);
//! drop(tx);
//! assert!(rx.recv(&mut buf).unwrap_err().is_peer_gone());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(doc)]
use crate::error::Error;
#[cfg(doc)]
use crate::frame::codec::Decoder;
#[cfg(doc)]
use crate::message::{MessageReceiver, MessageSender};

mod fd;
mod framed;
mod reader;
#[cfg(test)]
mod tests;
mod wait;
mod writer;

use std::time::Duration;

pub(crate) use fd::{consumer_gone, fd_name, is_gone, is_socket, producer_gone, set_nonblocking};
pub use framed::Framed;
pub use reader::FramedReader;
pub(crate) use wait::{Deadline, wait_fd};
pub use writer::FramedWriter;

/// The maximum frame length of the constructors that take none: 1 MiB.
pub const DEFAULT_MAX_FRAME_LEN: u32 = 1 << 20;

/// How long a dropped writer tries to finish a frame it already accepted.
pub const DROP_LINGER: Duration = Duration::from_secs(1);

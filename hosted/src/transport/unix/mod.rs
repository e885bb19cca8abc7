//! Unix domain sockets: stream (framed), datagram and seqpacket (native
//! message boundaries), at filesystem or abstract addresses, with the
//! peer's credentials.
//!
//! | type | socket | boundaries | a peer that is gone |
//! |------|--------|------------|---------------------|
//! | [`Framed<UnixStream>`](Framed) (from [`UnixStreamListener`], [`connect_stream`], [`stream_pair`]) | `SOCK_STREAM` | [frames](super::stream) | `PeerGone` at a frame boundary, `Truncated` inside a frame |
//! | [`SeqPacket`] (from [`SeqPacketListener`], [`SeqPacket::connect`], [`SeqPacket::pair`]) | `SOCK_SEQPACKET` | the kernel's | `PeerGone` once its messages are received |
//! | [`Datagram`] ([`Datagram::bind`], [`Datagram::connect`], [`Datagram::pair`]) | `SOCK_DGRAM` | the kernel's | `PeerGone` for a sender; a receiver cannot tell (a datagram socket has no connection to lose): it times out |
//!
//! **Addresses** ([`UnixAddr`]): a filesystem path (the socket file is
//! created by `bind` with mode 0600, or exactly the mode given to
//! `bind_with_mode`, whatever the umask; connecting needs write
//! permission; it is removed when the listener or bound datagram socket
//! that created it drops, in the process that created it) or an abstract
//! name (Linux: no file, no mode, gone with the last socket; any process
//! of the network namespace may connect). Who is at the other end is told
//! by [`peer_cred`], not by the owner of a socket file.
//!
//! # Who is at the other end
//! A name in `/tmp` or an abstract name can be taken by any user before
//! the real server binds it, so a client judges whom it reached with a
//! [`Trust`](crate::shm::Trust) level, as `open` does for shared memory:
//! `connect` accepts only a server of this user ([`Trust::Owner`](crate::shm::Trust::Owner)),
//! `connect_with` takes the level (`Group`: also a server under one of our
//! groups; `Anyone`: every server). A connection (stream, seqpacket) is
//! judged by the credentials the kernel recorded for the listening server
//! (`SO_PEERCRED`, read from the connected socket itself: no race); a
//! datagram socket has none, so the owner of its socket file is judged
//! (read just after `connect`: a file replaced in between would be judged
//! instead), and an abstract datagram address, which has no owner, is not
//! judged. A refused server is [`Error::Untrusted`](crate::Error::Untrusted)
//! naming the address.
//!
//! **Message sockets** refuse a message longer than their
//! [`max_message_len`](MessageSender::max_message_len)
//! ([`DEFAULT_MAX_MESSAGE_LEN`] unless set; the kernel's limit is about the
//! socket's send buffer, `/proc/sys/net/core/wmem_default`, and a message
//! it refuses with `EMSGSIZE` is also `FrameTooLarge`). A receive buffer
//! shorter than the maximum makes the receiver look at the next message's
//! length first (`MSG_PEEK | MSG_TRUNC`), so that a message that does not
//! fit is [`BufferTooSmall`](crate::CoreError::BufferTooSmall) and stays
//! queued. With a buffer of at least the maximum that peek is skipped; a
//! message longer than the maximum (sent by a peer with a larger one) is
//! then cut by the kernel, and reported as
//! [`FrameTooLarge`](crate::CoreError::FrameTooLarge) (its rest is lost, as
//! the kernel drops it).
//!
//! **Credentials**: [`peer_cred`] reads `SO_PEERCRED`: the pid, uid and gid
//! of the process that connected (or made the pair). Descriptors travel
//! with [`send_fd_timeout`] / [`recv_fd_timeout`], the waiting forms of
//! [`send_fd`](crate::shm::send_fd) / [`recv_fd`](crate::shm::recv_fd) for
//! the non-blocking socket of a [`Framed<UnixStream>`] (reach it with
//! [`Framed::get_ref`]; send a descriptor between frames, not while the
//! peer is in the middle of receiving one).
//!
//! ```
//! use ipckit::message::{MessageReceiver, MessageSender};
//! use ipckit::transport::unix::{SeqPacket, peer_cred, stream_pair};
//!
//! let (mut a, mut b) = stream_pair(1024)?;
//! a.send(b"framed")?;
//! assert_eq!(b.recv_vec()?, b"framed");
//! assert_eq!(peer_cred(b.get_ref())?.pid, std::process::id());
//!
//! let (mut a, mut b) = SeqPacket::pair(1024)?;
//! a.send(b"")?;
//! a.send(b"packet")?;
//! let mut buf = [0u8; 1024];
//! assert_eq!(b.recv(&mut buf)?, 0);
//! assert_eq!(b.recv(&mut buf)?, 6);
//! drop(a);
//! assert!(b.recv(&mut buf).unwrap_err().is_peer_gone());
//! # Ok::<(), ipckit::Error>(())
//! ```

#[cfg(doc)]
use crate::message::MessageSender;
#[cfg(doc)]
use crate::transport::stream::Framed;

mod addr;
mod cred;
mod datagram;
mod message;
mod seqpacket;
mod socket;
mod stream;
#[cfg(test)]
mod tests;

pub use addr::UnixAddr;
pub use cred::{PeerCred, peer_cred};
pub use datagram::Datagram;
pub use seqpacket::{SeqPacket, SeqPacketListener};
pub use stream::{
    UnixStreamListener, connect_stream, connect_stream_with, default_stream_pair, recv_fd_timeout,
    send_fd_timeout, stream_pair,
};

/// The maximum message length of datagram and seqpacket sockets made
/// without one: 64 KiB.
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 64 << 10;

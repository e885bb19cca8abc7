//! `SOCK_SEQPACKET`: connected, reliable messages.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use super::UnixAddr;
use super::cred::pass_cred;
use super::message::{recv_message, send_message};
use super::socket::{Listening, connect_trusting, socket, socketpair};
use crate::error::Result;
use crate::message::{MessageReceiver, MessageSender};
use crate::object::DEFAULT_MODE;
use crate::shm::Trust;
use crate::transport::stream::Deadline;

/// A connected `SOCK_SEQPACKET` socket: reliable, ordered messages with
/// the kernel's boundaries, in both directions.
#[derive(Debug)]
pub struct SeqPacket {
    fd: OwnedFd,
    max: usize,
}

impl SeqPacket {
    fn new(fd: OwnedFd, max: usize) -> Result<Self> {
        pass_cred(fd.as_fd())?;
        Ok(Self { fd, max })
    }

    /// Connects to the [`SeqPacketListener`] at `addr`; messages of at most
    /// `max_message_len` bytes. The server must be this user's
    /// ([`Trust::Owner`]; see [`connect_with`](Self::connect_with)).
    pub fn connect(addr: &UnixAddr, max_message_len: usize) -> Result<Self> {
        Self::connect_with(addr, max_message_len, Trust::Owner)
    }

    /// [`connect`](Self::connect) to a server that `trust` accepts, judged
    /// by its credentials (see the [module docs](super#who-is-at-the-other-end)):
    /// another user's is [`Error::Untrusted`](crate::Error::Untrusted)
    /// unless `trust` is [`Trust::Anyone`] (or [`Trust::Group`] and the
    /// server runs under a group of ours).
    pub fn connect_with(addr: &UnixAddr, max_message_len: usize, trust: Trust) -> Result<Self> {
        let fd = socket(libc::SOCK_SEQPACKET)?;
        pass_cred(fd.as_fd())?;
        connect_trusting(fd.as_fd(), addr, trust, true)?;
        Ok(Self {
            fd,
            max: max_message_len,
        })
    }

    /// A connected pair (`socketpair`), to share with a forked child.
    pub fn pair(max_message_len: usize) -> Result<(Self, Self)> {
        let (a, b) = socketpair(libc::SOCK_SEQPACKET)?;
        Ok((
            Self::new(a, max_message_len)?,
            Self::new(b, max_message_len)?,
        ))
    }

    /// Changes the maximum message length.
    pub fn set_max_message_len(&mut self, max: usize) {
        self.max = max;
    }
}

impl MessageSender for SeqPacket {
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        send_message(self.fd.as_fd(), msg, self.max, Deadline::new(timeout))
    }

    fn max_message_len(&self) -> usize {
        self.max
    }
}

impl MessageReceiver for SeqPacket {
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        recv_message(self.fd.as_fd(), buf, self.max, true, Deadline::new(timeout))
    }

    fn max_message_len(&self) -> usize {
        self.max
    }
}

impl AsFd for SeqPacket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A listening `SOCK_SEQPACKET` socket (see [`UnixStreamListener`](super::UnixStreamListener) for
/// the socket file's life).
#[derive(Debug)]
pub struct SeqPacketListener {
    inner: Listening,
    max: usize,
}

impl SeqPacketListener {
    /// Binds and listens at `addr`; connections carry messages of at most
    /// `max_message_len` bytes.
    ///
    /// A socket file gets mode 0600 (only this user may connect), whatever
    /// the umask; [`bind_with_mode`](Self::bind_with_mode) sets another.
    pub fn bind(addr: &UnixAddr, max_message_len: usize) -> Result<Self> {
        Self::bind_with_mode(addr, max_message_len, DEFAULT_MODE)
    }

    /// [`bind`](Self::bind) with the socket file's permission bits `mode`
    /// (at most `0o777`), set exactly. An abstract address ignores it.
    pub fn bind_with_mode(addr: &UnixAddr, max_message_len: usize, mode: u32) -> Result<Self> {
        Ok(Self {
            inner: Listening::bind(addr, libc::SOCK_SEQPACKET, mode)?,
            max: max_message_len,
        })
    }

    /// The address it listens at.
    pub fn addr(&self) -> &UnixAddr {
        &self.inner.addr
    }

    /// Accepts the next connection, waiting at most `timeout`.
    pub fn accept(&self, timeout: Option<Duration>) -> Result<SeqPacket> {
        let fd = self.inner.accept(Deadline::new(timeout))?;
        SeqPacket::new(fd, self.max)
    }
}

impl AsFd for SeqPacketListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.fd.as_fd()
    }
}

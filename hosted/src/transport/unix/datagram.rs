//! `SOCK_DGRAM`: messages to a bound address.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

use super::UnixAddr;
use super::message::{recv_message, send_message};
use super::socket::{bind, connect_trusting, remove_socket_file, socket, socket_file, socketpair};
use crate::error::Result;
use crate::message::{MessageReceiver, MessageSender};
use crate::object::DEFAULT_MODE;
use crate::shm::Trust;
use crate::transport::stream::Deadline;

/// A `SOCK_DGRAM` Unix socket: messages with the kernel's boundaries.
///
/// A receiver [`bind`](Self::bind)s an address; a sender
/// [`connect`](Self::connect)s to it; a [`pair`](Self::pair) is connected
/// both ways. Delivery between local sockets is reliable and ordered, and
/// a sender waits while the receiver's queue is full. A sender whose
/// receiver is gone gets [`Error::PeerGone`](crate::error::Error::PeerGone); a receiver cannot learn that
/// its senders are gone (no connection) and waits out its timeout.
#[derive(Debug)]
pub struct Datagram {
    fd: OwnedFd,
    max: usize,
    owned_path: Option<(PathBuf, u32)>,
}

impl Datagram {
    /// A socket bound to `addr`, to receive at (a socket file it creates is
    /// removed when it drops in this process).
    ///
    /// A socket file gets mode 0600 (only this user may connect), whatever
    /// the umask; [`bind_with_mode`](Self::bind_with_mode) sets another.
    pub fn bind(addr: &UnixAddr, max_message_len: usize) -> Result<Self> {
        Self::bind_with_mode(addr, max_message_len, DEFAULT_MODE)
    }

    /// [`bind`](Self::bind) with the socket file's permission bits `mode`
    /// (at most `0o777`; say `0o620` to let the group send), set exactly.
    /// An abstract address has no file and ignores it.
    pub fn bind_with_mode(addr: &UnixAddr, max_message_len: usize, mode: u32) -> Result<Self> {
        let fd = socket(libc::SOCK_DGRAM)?;
        bind(fd.as_fd(), addr, mode)?;
        let owned_path = socket_file(addr);
        Ok(Self {
            fd,
            max: max_message_len,
            owned_path,
        })
    }

    /// An unbound socket connected to `addr`, to send to. A socket file
    /// must be this user's ([`Trust::Owner`]; see
    /// [`connect_with`](Self::connect_with)).
    pub fn connect(addr: &UnixAddr, max_message_len: usize) -> Result<Self> {
        Self::connect_with(addr, max_message_len, Trust::Owner)
    }

    /// [`connect`](Self::connect) to a socket that `trust` accepts, judged
    /// by the owner of its socket file (a datagram socket has no
    /// credentials to read; an abstract address, no owner: it is not
    /// judged). See the [module docs](super#who-is-at-the-other-end).
    pub fn connect_with(addr: &UnixAddr, max_message_len: usize, trust: Trust) -> Result<Self> {
        let fd = socket(libc::SOCK_DGRAM)?;
        connect_trusting(fd.as_fd(), addr, trust, false)?;
        Ok(Self {
            fd,
            max: max_message_len,
            owned_path: None,
        })
    }

    /// A pair connected to each other (`socketpair`).
    pub fn pair(max_message_len: usize) -> Result<(Self, Self)> {
        let (a, b) = socketpair(libc::SOCK_DGRAM)?;
        let mk = |fd| Self {
            fd,
            max: max_message_len,
            owned_path: None,
        };
        Ok((mk(a), mk(b)))
    }

    /// Changes the maximum message length.
    pub fn set_max_message_len(&mut self, max: usize) {
        self.max = max;
    }
}

impl MessageSender for Datagram {
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        send_message(self.fd.as_fd(), msg, self.max, Deadline::new(timeout))
    }

    fn max_message_len(&self) -> usize {
        self.max
    }
}

impl MessageReceiver for Datagram {
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        recv_message(
            self.fd.as_fd(),
            buf,
            self.max,
            false,
            Deadline::new(timeout),
        )
    }

    fn max_message_len(&self) -> usize {
        self.max
    }
}

impl AsFd for Datagram {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Datagram {
    fn drop(&mut self) {
        remove_socket_file(&self.owned_path);
    }
}

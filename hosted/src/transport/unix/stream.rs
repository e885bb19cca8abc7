//! Stream sockets: they carry [frames](crate::transport::stream), and
//! descriptors between frames.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::UnixAddr;
use super::socket::{Listening, connect_trusting, socket, socketpair};
use crate::error::{OsError, Result};
use crate::object::DEFAULT_MODE;
use crate::shm::Trust;
use crate::transport::stream::{DEFAULT_MAX_FRAME_LEN, Deadline, Framed, wait_fd};

/// [`send_fd`](crate::shm::send_fd) on a socket that may be non-blocking
/// (as a [`Framed`] socket is): waits at most `timeout` for room.
pub fn send_fd_timeout(
    sock: &UnixStream,
    fd: BorrowedFd<'_>,
    timeout: Option<Duration>,
) -> Result<()> {
    let deadline = Deadline::new(timeout);
    loop {
        match crate::shm::send_fd(sock, fd) {
            Err(e) if e.os_error().and_then(OsError::errno) == Some(libc::EAGAIN) => {
                if wait_fd(sock.as_fd(), libc::POLLOUT, deadline)?.is_none() {
                    return Err(deadline.expired(true));
                }
            }
            other => return other,
        }
    }
}

/// [`recv_fd`](crate::shm::recv_fd) on a socket that may be non-blocking
/// (as a [`Framed`] socket is): waits at most `timeout` for the message.
pub fn recv_fd_timeout(sock: &UnixStream, timeout: Option<Duration>) -> Result<OwnedFd> {
    let deadline = Deadline::new(timeout);
    loop {
        match crate::shm::recv_fd(sock) {
            Err(e) if e.os_error().and_then(OsError::errno) == Some(libc::EAGAIN) => {
                if wait_fd(sock.as_fd(), libc::POLLIN, deadline)?.is_none() {
                    return Err(deadline.expired(false));
                }
            }
            other => return other,
        }
    }
}

/// A listening Unix stream socket; accepted connections carry frames.
///
/// A filesystem socket file is created by [`bind`](Self::bind) (an
/// existing file is [`Error::AlreadyExists`](crate::error::Error::AlreadyExists)) and removed when the
/// listener drops in the process that bound it (a forked child's copy
/// leaves it alone).
#[derive(Debug)]
pub struct UnixStreamListener {
    inner: Listening,
    max_frame_len: u32,
}

impl UnixStreamListener {
    /// Binds and listens at `addr`; connections carry frames of at most
    /// `max_frame_len` bytes.
    ///
    /// A socket file gets mode 0600 (only this user may connect), whatever
    /// the umask; [`bind_with_mode`](Self::bind_with_mode) sets another.
    pub fn bind(addr: &UnixAddr, max_frame_len: u32) -> Result<Self> {
        Self::bind_with_mode(addr, max_frame_len, DEFAULT_MODE)
    }

    /// [`bind`](Self::bind) with the socket file's permission bits `mode`
    /// (at most `0o777`; say `0o660` to let the group connect), set
    /// exactly. An abstract address has no file and ignores it.
    ///
    /// ```
    /// use std::os::unix::fs::PermissionsExt;
    /// use ipckit::transport::unix::{UnixAddr, UnixStreamListener};
    ///
    /// let path = std::env::temp_dir().join(format!("ipckit-doc-sock-{}", std::process::id()));
    /// let listener = UnixStreamListener::bind_with_mode(&UnixAddr::path(&path), 1024, 0o660)?;
    /// assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o660);
    /// drop(listener); // removes the socket file
    /// assert!(!path.exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bind_with_mode(addr: &UnixAddr, max_frame_len: u32, mode: u32) -> Result<Self> {
        Ok(Self {
            inner: Listening::bind(addr, libc::SOCK_STREAM, mode)?,
            max_frame_len,
        })
    }

    /// The address it listens at.
    pub fn addr(&self) -> &UnixAddr {
        &self.inner.addr
    }

    /// Accepts the next connection, waiting at most `timeout`.
    pub fn accept(&self, timeout: Option<Duration>) -> Result<Framed<UnixStream>> {
        let fd = self.inner.accept(Deadline::new(timeout))?;
        Framed::new(UnixStream::from(fd), self.max_frame_len)
    }
}

impl AsFd for UnixStreamListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.fd.as_fd()
    }
}

/// Connects to the stream listener at `addr`; frames of at most
/// `max_frame_len` bytes. The server must be this user's
/// ([`Trust::Owner`]; another user's is [`Error::Untrusted`](crate::Error::Untrusted):
/// see [`connect_stream_with`]).
pub fn connect_stream(addr: &UnixAddr, max_frame_len: u32) -> Result<Framed<UnixStream>> {
    connect_stream_with(addr, max_frame_len, Trust::Owner)
}

/// [`connect_stream`], accepting a server that `trust` accepts (judged by
/// its credentials, see the [module docs](super#who-is-at-the-other-end)):
/// [`Trust::Anyone`] to reach another user's server.
pub fn connect_stream_with(
    addr: &UnixAddr,
    max_frame_len: u32,
    trust: Trust,
) -> Result<Framed<UnixStream>> {
    let fd = socket(libc::SOCK_STREAM)?;
    connect_trusting(fd.as_fd(), addr, trust, true)?;
    Framed::new(UnixStream::from(fd), max_frame_len)
}

/// A connected pair of framed Unix stream sockets (`socketpair`), to share
/// with a forked child.
pub fn stream_pair(max_frame_len: u32) -> Result<(Framed<UnixStream>, Framed<UnixStream>)> {
    let (a, b) = socketpair(libc::SOCK_STREAM)?;
    Ok((
        Framed::new(UnixStream::from(a), max_frame_len)?,
        Framed::new(UnixStream::from(b), max_frame_len)?,
    ))
}

/// [`stream_pair`] with [`DEFAULT_MAX_FRAME_LEN`].
pub fn default_stream_pair() -> Result<(Framed<UnixStream>, Framed<UnixStream>)> {
    stream_pair(DEFAULT_MAX_FRAME_LEN)
}

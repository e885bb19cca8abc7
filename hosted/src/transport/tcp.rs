//! TCP carrying the same frames as every stream transport: the path
//! between two machines.
//!
//! [`TcpListener::bind`] and [`connect`] give a [`Framed<TcpStream>`]
//! (see the [stream module](super::stream) for frames, timeouts and the
//! end of a connection) with `TCP_NODELAY` set, so that a small message
//! leaves at once instead of waiting for Nagle's algorithm. A connection
//! reset by the peer (`ECONNRESET`) counts as its end: `PeerGone` between
//! frames, `Truncated` inside one.
//!
//! ```
//! use std::time::Duration;
//! use ipckit::message::{MessageReceiver, MessageSender};
//! use ipckit::transport::tcp::{TcpListener, connect};
//!
//! let listener = TcpListener::bind("127.0.0.1:0", 1024)?;
//! let mut client = connect(listener.local_addr()?, 1024, Some(Duration::from_secs(5)))?;
//! let mut server = listener.accept(Some(Duration::from_secs(5)))?;
//! client.send(b"over tcp")?;
//! assert_eq!(server.recv_vec()?, b"over tcp");
//! # Ok::<(), ipckit::Error>(())
//! ```

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use super::stream::{Deadline, Framed, wait_fd};
use crate::error::{Error, Result};

/// Frames over `stream`, with `TCP_NODELAY` set.
pub fn from_stream(stream: TcpStream, max_frame_len: u32) -> Result<Framed<TcpStream>> {
    stream
        .set_nodelay(true)
        .map_err(|e| Error::os("setsockopt(TCP_NODELAY)", peer_name(&stream), e))?;
    Framed::new(stream, max_frame_len)
}

fn peer_name(stream: &TcpStream) -> String {
    stream
        .peer_addr()
        .map_or_else(|_| "tcp".to_string(), |a| a.to_string())
}

/// Connects to `addr` (each address it resolves to in turn, each given
/// `timeout` at most), for frames of at most `max_frame_len` bytes.
pub fn connect(
    addr: impl ToSocketAddrs,
    max_frame_len: u32,
    timeout: Option<Duration>,
) -> Result<Framed<TcpStream>> {
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| Error::os("getaddrinfo", "tcp", e))?
        .collect();
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to");
    let mut target = String::from("tcp");
    for a in addrs {
        let r = match timeout {
            Some(t) if !t.is_zero() => TcpStream::connect_timeout(&a, t),
            _ => TcpStream::connect(a),
        };
        match r {
            Ok(s) => return from_stream(s, max_frame_len),
            Err(e) => {
                last = e;
                target = a.to_string();
            }
        }
    }
    Err(Error::os("connect", target, last))
}

/// A listening TCP socket whose connections carry frames.
#[derive(Debug)]
pub struct TcpListener {
    inner: std::net::TcpListener,
    max_frame_len: u32,
}

impl TcpListener {
    /// Binds and listens at `addr` (port 0: the kernel picks one, see
    /// [`local_addr`](Self::local_addr)); connections carry frames of at
    /// most `max_frame_len` bytes.
    pub fn bind(addr: impl ToSocketAddrs, max_frame_len: u32) -> Result<Self> {
        let inner = std::net::TcpListener::bind(addr).map_err(|e| Error::os("bind", "tcp", e))?;
        inner
            .set_nonblocking(true)
            .map_err(|e| Error::os("fcntl(O_NONBLOCK)", "tcp listener", e))?;
        Ok(Self {
            inner,
            max_frame_len,
        })
    }

    /// The address it listens at.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.inner
            .local_addr()
            .map_err(|e| Error::os("getsockname", "tcp listener", e))
    }

    /// Accepts the next connection, waiting at most `timeout`.
    pub fn accept(&self, timeout: Option<Duration>) -> Result<Framed<TcpStream>> {
        let deadline = Deadline::new(timeout);
        loop {
            match self.inner.accept() {
                Ok((s, _)) => return from_stream(s, self.max_frame_len),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if wait_fd(self.inner.as_fd(), libc::POLLIN, deadline)?.is_none() {
                        return Err(deadline.expired(false));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::os("accept", "tcp listener", e)),
            }
        }
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

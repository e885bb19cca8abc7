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
//! created by `bind` with the process's umask and removed when the listener
//! or bound datagram socket that created it drops, in the process that
//! created it) or an abstract name (Linux: no file, gone with the last
//! socket).
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

use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::stream::{
    DEFAULT_MAX_FRAME_LEN, Deadline, Framed, consumer_gone, fd_name, is_gone, producer_gone,
    wait_fd,
};
use crate::error::{CoreError, Error, OsError, Result};
use crate::message::{MessageReceiver, MessageSender};

/// The maximum message length of datagram and seqpacket sockets made
/// without one: 64 KiB.
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 64 << 10;

/// The address of a Unix domain socket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UnixAddr {
    /// A socket file in the filesystem (at most 107 bytes of path).
    Path(PathBuf),
    /// A name in Linux's abstract namespace (at most 107 bytes; no file;
    /// visible to every process of the network namespace).
    Abstract(Vec<u8>),
}

impl UnixAddr {
    /// A filesystem address.
    pub fn path(path: impl AsRef<Path>) -> Self {
        UnixAddr::Path(path.as_ref().to_path_buf())
    }

    /// An abstract address.
    pub fn abstract_name(name: impl AsRef<[u8]>) -> Self {
        UnixAddr::Abstract(name.as_ref().to_vec())
    }

    fn describe(&self) -> String {
        match self {
            UnixAddr::Path(p) => p.display().to_string(),
            UnixAddr::Abstract(n) => format!("@{}", String::from_utf8_lossy(n)),
        }
    }

    /// The `sockaddr_un` and its length.
    fn to_sockaddr(&self) -> Result<(libc::sockaddr_un, libc::socklen_t)> {
        // SAFETY: `sockaddr_un` is plain data; all-zero is a valid value.
        let mut sa: libc::sockaddr_un = unsafe { mem::zeroed() };
        sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let (bytes, offset) = match self {
            UnixAddr::Path(p) => (p.as_os_str().as_bytes(), 0),
            UnixAddr::Abstract(n) => (&n[..], 1),
        };
        // A path needs a terminating NUL; an abstract name a leading one.
        let room = sa.sun_path.len() - 1;
        if bytes.is_empty() || bytes.len() > room || bytes.contains(&0) && offset == 0 {
            return Err(Error::InvalidName {
                name: self.describe(),
                reason: "a socket address has 1 to 107 bytes (and a path no NUL)",
            });
        }
        for (dst, &src) in sa.sun_path[offset..].iter_mut().zip(bytes) {
            *dst = src as libc::c_char;
        }
        let base = mem::size_of::<libc::sa_family_t>();
        let len = base + offset + bytes.len() + (1 - offset);
        Ok((sa, len as libc::socklen_t))
    }
}

/// The pid, uid and gid of the process at the other end of a connected
/// Unix socket, as the kernel recorded them at `connect` (or
/// `socketpair`) time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCred {
    /// The peer's process id.
    pub pid: u32,
    /// Its effective user id.
    pub uid: u32,
    /// Its effective group id.
    pub gid: u32,
}

/// Reads the credentials of the peer of the connected Unix socket `sock`
/// (`SO_PEERCRED`).
pub fn peer_cred(sock: &impl AsFd) -> Result<PeerCred> {
    let fd = sock.as_fd();
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid out-pointers of the sizes passed.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if r < 0 {
        return Err(Error::last_os("getsockopt(SO_PEERCRED)", fd_name(fd)));
    }
    Ok(PeerCred {
        pid: cred.pid as u32,
        uid: cred.uid,
        gid: cred.gid,
    })
}

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

/// A new Unix socket of `kind` (`SOCK_CLOEXEC`).
fn socket(kind: libc::c_int) -> Result<OwnedFd> {
    // SAFETY: plain call; no memory is passed.
    let fd = unsafe { libc::socket(libc::AF_UNIX, kind | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Error::last_os("socket", "AF_UNIX"));
    }
    // SAFETY: `socket` succeeded: the descriptor is new and ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A connected pair of Unix sockets of `kind`.
fn socketpair(kind: libc::c_int) -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors written.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            kind | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(Error::last_os("socketpair", "AF_UNIX"));
    }
    // SAFETY: `socketpair` succeeded: both descriptors are new and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `bind` (`EADDRINUSE` is [`Error::AlreadyExists`]).
fn bind(fd: BorrowedFd<'_>, addr: &UnixAddr) -> Result<()> {
    let (sa, len) = addr.to_sockaddr()?;
    // SAFETY: `sa` is a valid `sockaddr_un` of `len` bytes.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_un).cast(),
            len,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EADDRINUSE) {
            return Err(Error::AlreadyExists(OsError::new(
                "bind",
                addr.describe(),
                e,
            )));
        }
        return Err(Error::os("bind", addr.describe(), e));
    }
    Ok(())
}

/// `connect`, retried on `EINTR` (a socket in blocking mode).
fn connect(fd: BorrowedFd<'_>, addr: &UnixAddr) -> Result<()> {
    let (sa, len) = addr.to_sockaddr()?;
    // SAFETY: `sa` is a valid `sockaddr_un` of `len` bytes.
    let r = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_un).cast(),
            len,
        )
    };
    if r < 0 {
        return Err(Error::last_os("connect", addr.describe()));
    }
    Ok(())
}

/// Enables `SO_PASSCRED`: every received message then carries an
/// `SCM_CREDENTIALS` message, which tells an empty seqpacket message
/// (carries one) from the end of the connection (carries none).
fn pass_cred(fd: BorrowedFd<'_>) -> Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a valid int option value of the size passed.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PASSCRED,
            (&on as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(Error::last_os("setsockopt(SO_PASSCRED)", fd_name(fd)));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Listeners.

/// A listening socket; removes the socket file it created when dropped in
/// the creating process.
#[derive(Debug)]
struct Listening {
    fd: OwnedFd,
    addr: UnixAddr,
    /// The socket file to remove, and the pid that created it.
    owned_path: Option<(PathBuf, u32)>,
}

impl Listening {
    fn bind(addr: &UnixAddr, kind: libc::c_int) -> Result<Self> {
        let fd = socket(kind | libc::SOCK_NONBLOCK)?;
        bind(fd.as_fd(), addr)?;
        let owned_path = match addr {
            UnixAddr::Path(p) => Some((p.clone(), std::process::id())),
            UnixAddr::Abstract(_) => None,
        };
        let me = Self {
            fd,
            addr: addr.clone(),
            owned_path,
        };
        // SAFETY: plain call on our socket.
        if unsafe { libc::listen(me.fd.as_raw_fd(), 128) } < 0 {
            return Err(Error::last_os("listen", addr.describe()));
        }
        Ok(me)
    }

    fn accept(&self, deadline: Deadline) -> Result<OwnedFd> {
        loop {
            // SAFETY: null address pointers are allowed (address not wanted).
            let fd = unsafe {
                libc::accept4(
                    self.fd.as_raw_fd(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_CLOEXEC,
                )
            };
            if fd >= 0 {
                // SAFETY: `accept4` succeeded: the descriptor is ours alone.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::WouldBlock => {
                    if wait_fd(self.fd.as_fd(), libc::POLLIN, deadline)?.is_none() {
                        return Err(deadline.expired(false));
                    }
                }
                _ => return Err(Error::os("accept4", self.addr.describe(), e)),
            }
        }
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        if let Some((path, pid)) = &self.owned_path {
            if *pid == std::process::id() {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// A listening Unix stream socket; accepted connections carry frames.
///
/// A filesystem socket file is created by [`bind`](Self::bind) (an
/// existing file is [`Error::AlreadyExists`]) and removed when the
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
    pub fn bind(addr: &UnixAddr, max_frame_len: u32) -> Result<Self> {
        Ok(Self {
            inner: Listening::bind(addr, libc::SOCK_STREAM)?,
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
/// `max_frame_len` bytes.
pub fn connect_stream(addr: &UnixAddr, max_frame_len: u32) -> Result<Framed<UnixStream>> {
    let fd = socket(libc::SOCK_STREAM)?;
    connect(fd.as_fd(), addr)?;
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

// ---------------------------------------------------------------------------
// Message sockets.

/// Sends `msg` as one message on a connected datagram or seqpacket socket.
fn send_message(fd: BorrowedFd<'_>, msg: &[u8], max: usize, deadline: Deadline) -> Result<()> {
    let too_large = || {
        Error::from(CoreError::FrameTooLarge {
            len: u32::try_from(msg.len()).unwrap_or(u32::MAX),
            max: u32::try_from(max).unwrap_or(u32::MAX),
        })
    };
    if msg.len() > max {
        return Err(too_large());
    }
    loop {
        // SAFETY: `msg` is a live, readable buffer of the length passed.
        let n = unsafe {
            libc::send(
                fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            )
        };
        if n >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => {}
            io::ErrorKind::WouldBlock => {
                if wait_fd(fd, libc::POLLOUT, deadline)?.is_none() {
                    return Err(deadline.expired(true));
                }
            }
            _ if e.raw_os_error() == Some(libc::EMSGSIZE) => return Err(too_large()),
            _ if is_gone(&e) => return Err(consumer_gone()),
            _ => return Err(Error::os("send", fd_name(fd), e)),
        }
    }
}

/// Receives one message into `buf`. `seqpacket`: a zero-length read
/// without credentials is the end of the connection.
fn recv_message(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    max: usize,
    seqpacket: bool,
    deadline: Deadline,
) -> Result<usize> {
    loop {
        let r = if buf.len() < max {
            // Learn the next message's length without taking it.
            // SAFETY: a zero-length buffer; the kernel writes nothing.
            let n = unsafe {
                libc::recv(
                    fd.as_raw_fd(),
                    std::ptr::null_mut(),
                    0,
                    libc::MSG_PEEK | libc::MSG_TRUNC | libc::MSG_DONTWAIT,
                )
            };
            if n > 0 && n as usize > buf.len() {
                return Err(CoreError::BufferTooSmall {
                    required: n as usize,
                }
                .into());
            }
            if n >= 0 {
                receive(fd, buf, seqpacket)
            } else {
                Err(io::Error::last_os_error())
            }
        } else {
            receive(fd, buf, seqpacket)
        };
        match r {
            Ok(Some(n)) if n > buf.len() => {
                return Err(CoreError::FrameTooLarge {
                    len: u32::try_from(n).unwrap_or(u32::MAX),
                    max: u32::try_from(max).unwrap_or(u32::MAX),
                }
                .into());
            }
            Ok(Some(n)) => return Ok(n),
            Ok(None) => return Err(producer_gone()),
            Err(e) => match e.kind() {
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::WouldBlock => {
                    if wait_fd(fd, libc::POLLIN, deadline)?.is_none() {
                        return Err(deadline.expired(false));
                    }
                }
                _ if is_gone(&e) => return Err(producer_gone()),
                _ => return Err(Error::os("recvmsg", fd_name(fd), e)),
            },
        }
    }
}

/// One `recvmsg(MSG_TRUNC)`: `Some(real length)`, or `None` at the end of a
/// seqpacket connection.
fn receive(fd: BorrowedFd<'_>, buf: &mut [u8], seqpacket: bool) -> io::Result<Option<usize>> {
    // Room for one SCM_CREDENTIALS message, in `u64` words for alignment.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `msghdr` is plain data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if seqpacket {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = mem::size_of_val(&control) as _;
    }
    // SAFETY: `msg` points to live, writable buffers of the sizes stated.
    let n = unsafe {
        libc::recvmsg(
            fd.as_raw_fd(),
            &mut msg,
            libc::MSG_TRUNC | libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n == 0 && seqpacket && msg.msg_controllen == 0 {
        return Ok(None);
    }
    Ok(Some(n as usize))
}

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
    /// `max_message_len` bytes.
    pub fn connect(addr: &UnixAddr, max_message_len: usize) -> Result<Self> {
        let fd = socket(libc::SOCK_SEQPACKET)?;
        pass_cred(fd.as_fd())?;
        connect(fd.as_fd(), addr)?;
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

/// A listening `SOCK_SEQPACKET` socket (see [`UnixStreamListener`] for
/// the socket file's life).
#[derive(Debug)]
pub struct SeqPacketListener {
    inner: Listening,
    max: usize,
}

impl SeqPacketListener {
    /// Binds and listens at `addr`; connections carry messages of at most
    /// `max_message_len` bytes.
    pub fn bind(addr: &UnixAddr, max_message_len: usize) -> Result<Self> {
        Ok(Self {
            inner: Listening::bind(addr, libc::SOCK_SEQPACKET)?,
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

/// A `SOCK_DGRAM` Unix socket: messages with the kernel's boundaries.
///
/// A receiver [`bind`](Self::bind)s an address; a sender
/// [`connect`](Self::connect)s to it; a [`pair`](Self::pair) is connected
/// both ways. Delivery between local sockets is reliable and ordered, and
/// a sender waits while the receiver's queue is full. A sender whose
/// receiver is gone gets [`Error::PeerGone`]; a receiver cannot learn that
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
    pub fn bind(addr: &UnixAddr, max_message_len: usize) -> Result<Self> {
        let fd = socket(libc::SOCK_DGRAM)?;
        bind(fd.as_fd(), addr)?;
        let owned_path = match addr {
            UnixAddr::Path(p) => Some((p.clone(), std::process::id())),
            UnixAddr::Abstract(_) => None,
        };
        Ok(Self {
            fd,
            max: max_message_len,
            owned_path,
        })
    }

    /// An unbound socket connected to `addr`, to send to.
    pub fn connect(addr: &UnixAddr, max_message_len: usize) -> Result<Self> {
        let fd = socket(libc::SOCK_DGRAM)?;
        connect(fd.as_fd(), addr)?;
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
        if let Some((path, pid)) = &self.owned_path {
            if *pid == std::process::id() {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seqpacket_small_buffer_and_oversize() {
        let (mut a, mut b) = SeqPacket::pair(100).unwrap();
        assert_eq!(
            a.send(&[0; 101]).unwrap_err().core(),
            Some(CoreError::FrameTooLarge { len: 101, max: 100 })
        );
        a.send(&[1; 50]).unwrap();
        let mut small = [0u8; 10];
        assert_eq!(
            b.recv(&mut small).unwrap_err().core(),
            Some(CoreError::BufferTooSmall { required: 50 })
        );
        let mut buf = [0u8; 100];
        assert_eq!(b.recv(&mut buf).unwrap(), 50);
        assert!(b.try_recv(&mut buf).unwrap_err().is_empty());
    }

    #[test]
    fn datagram_abstract_and_path() {
        let name = format!("ipckit-unit-{}", std::process::id());
        let rx_addr = UnixAddr::abstract_name(&name);
        let mut rx = Datagram::bind(&rx_addr, 64).unwrap();
        let mut tx = Datagram::connect(&rx_addr, 64).unwrap();
        tx.send(b"").unwrap();
        tx.send(b"abc").unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(rx.recv(&mut buf).unwrap(), 0);
        assert_eq!(rx.recv(&mut buf).unwrap(), 3);
        drop(rx);
        assert!(tx.send(b"x").unwrap_err().is_peer_gone());

        let path = std::env::temp_dir().join(format!("{name}.sock"));
        let l = UnixStreamListener::bind(&UnixAddr::path(&path), 64).unwrap();
        assert!(matches!(
            UnixStreamListener::bind(&UnixAddr::path(&path), 64),
            Err(Error::AlreadyExists(_))
        ));
        let mut c = connect_stream(l.addr(), 64).unwrap();
        let mut s = l.accept(Some(Duration::from_secs(5))).unwrap();
        c.send(b"hi").unwrap();
        assert_eq!(s.recv(&mut buf).unwrap(), 2);
        assert_eq!(peer_cred(s.get_ref()).unwrap().pid, std::process::id());
        drop(l);
        assert!(!path.exists());
    }
}

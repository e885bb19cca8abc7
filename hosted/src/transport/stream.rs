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

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use crate::error::{CoreError, Error, Result, Role};
use crate::frame::codec::{Decoder, Encoder, PREFIX_LEN};
use crate::message::{MessageReceiver, MessageSender};

/// The maximum frame length of the constructors that take none: 1 MiB.
pub const DEFAULT_MAX_FRAME_LEN: u32 = 1 << 20;

/// How long a dropped writer tries to finish a frame it already accepted.
pub const DROP_LINGER: Duration = Duration::from_secs(1);

/// Bytes the reader asks for per `read(2)`: more than a default pipe
/// holds, so that from an enlarged pipe or a socket a 64 KiB frame lies
/// wholly in one read and is copied once. (`calloc`ed: pages that no read
/// reached cost no memory.)
const CHUNK_LEN: usize = 256 << 10;

// ---------------------------------------------------------------------------
// Deadlines and waiting.

/// When a call gives up.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Deadline {
    /// Never (`timeout: None`).
    Never,
    /// At once (`Some(Duration::ZERO)`): a try.
    Now,
    /// At this instant.
    At(Instant),
}

impl Deadline {
    /// The deadline of a call given `timeout`.
    pub(crate) fn new(timeout: Option<Duration>) -> Self {
        match timeout {
            None => Deadline::Never,
            Some(t) if t.is_zero() => Deadline::Now,
            Some(t) => Instant::now()
                .checked_add(t)
                .map_or(Deadline::Never, Deadline::At),
        }
    }

    /// The error of a call that reached this deadline: `Full` (`Empty`
    /// for a receiver, `full == false`) for a try, `TimedOut` otherwise.
    pub(crate) fn expired(self, full: bool) -> Error {
        match self {
            Deadline::Now if full => Error::Full,
            Deadline::Now => Error::Empty,
            _ => Error::TimedOut,
        }
    }

    /// The time left, `None` for no limit; zero once passed.
    pub(crate) fn remaining(self) -> Option<Duration> {
        match self {
            Deadline::Never => None,
            Deadline::Now => Some(Duration::ZERO),
            Deadline::At(at) => Some(at.saturating_duration_since(Instant::now())),
        }
    }

    /// `true` once the deadline has passed (always for `Now`).
    pub(crate) fn passed(self) -> bool {
        self.remaining().is_some_and(|d| d.is_zero())
    }
}

/// Waits until `fd` reports one of `events` (or an error or hang-up), at
/// most until `deadline`. Returns the reported events, or `None` when the
/// deadline passed first. Interrupted waits resume with the time left.
pub(crate) fn wait_fd(
    fd: BorrowedFd<'_>,
    events: libc::c_short,
    deadline: Deadline,
) -> Result<Option<libc::c_short>> {
    loop {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events,
            revents: 0,
        };
        let remaining = deadline.remaining();
        let ts = remaining.map(|d| libc::timespec {
            tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: d.subsec_nanos() as libc::c_long,
        });
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `pfd` is one valid pollfd; `ts_ptr` is null or points to a
        // live timespec; a null signal mask leaves the mask unchanged.
        let r = unsafe { libc::ppoll(&mut pfd, 1, ts_ptr, std::ptr::null()) };
        if r > 0 {
            return Ok(Some(pfd.revents));
        }
        if r == 0 {
            if deadline.passed() {
                return Ok(None);
            }
            continue;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(Error::os("ppoll", fd_name(fd), e));
        }
    }
}

/// `fd <n>`, for error messages.
pub(crate) fn fd_name(fd: BorrowedFd<'_>) -> String {
    format!("fd {}", fd.as_raw_fd())
}

/// Sets or clears `O_NONBLOCK` on the open file description of `fd`.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: F_GETFL on a descriptor we borrow; no memory is passed.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags < 0 {
        return Err(Error::last_os("fcntl(F_GETFL)", fd_name(fd)));
    }
    let new = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: as above, with F_SETFL and an int argument.
    if new != flags && unsafe { libc::fcntl(raw, libc::F_SETFL, new) } < 0 {
        return Err(Error::last_os("fcntl(F_SETFL)", fd_name(fd)));
    }
    Ok(())
}

/// `true` if `fd` is a socket (`fstat`).
pub(crate) fn is_socket(fd: BorrowedFd<'_>) -> Result<bool> {
    // SAFETY: `stat` is plain data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer for the borrowed descriptor.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } < 0 {
        return Err(Error::last_os("fstat", fd_name(fd)));
    }
    Ok(st.st_mode & libc::S_IFMT == libc::S_IFSOCK)
}

/// The error of a writer whose reader is gone.
pub(crate) fn consumer_gone() -> Error {
    Error::PeerGone {
        peer: Some(Role::Consumer),
        pid: None,
    }
}

/// The error of a reader whose writer is gone.
pub(crate) fn producer_gone() -> Error {
    Error::PeerGone {
        peer: Some(Role::Producer),
        pid: None,
    }
}

/// `true` for the `errno` values that mean the other end is closed.
pub(crate) fn is_gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN | libc::ECONNREFUSED)
    )
}

// ---------------------------------------------------------------------------
// The writing half.

/// The state of a framed writer, apart from its descriptor.
#[derive(Debug)]
struct WriteState {
    encoder: Encoder,
    /// The unsent rest of the last accepted frame.
    pending: Vec<u8>,
    /// Use `sendmsg(MSG_NOSIGNAL)` rather than `writev`.
    socket: bool,
}

impl WriteState {
    fn new(fd: BorrowedFd<'_>, max_frame_len: u32) -> Result<Self> {
        set_nonblocking(fd, true)?;
        Ok(Self {
            encoder: Encoder::new(max_frame_len),
            pending: Vec::new(),
            socket: is_socket(fd)?,
        })
    }

    /// One `writev`/`sendmsg` of `bufs`, retried on `EINTR`.
    fn write_once(&self, fd: BorrowedFd<'_>, bufs: &[&[u8]]) -> io::Result<usize> {
        let mut iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; 2];
        let count = bufs.len().min(2);
        for (slot, b) in iov.iter_mut().zip(bufs) {
            *slot = libc::iovec {
                iov_base: b.as_ptr().cast_mut().cast(),
                iov_len: b.len(),
            };
        }
        loop {
            let n = if self.socket {
                // SAFETY: `msghdr` is plain data; all-zero is a valid value.
                let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
                msg.msg_iov = iov.as_mut_ptr();
                msg.msg_iovlen = count as _;
                // SAFETY: `msg` points to `count` iovecs describing live,
                // readable buffers; the kernel only reads them.
                unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) }
            } else {
                // SAFETY: `iov` holds `count` iovecs describing live,
                // readable buffers; the kernel only reads them.
                unsafe { libc::writev(fd.as_raw_fd(), iov.as_ptr(), count as libc::c_int) }
            };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    fn call(&self) -> &'static str {
        if self.socket { "sendmsg" } else { "writev" }
    }

    /// Writes `bufs` (`total` bytes, from offset `done`) until all went out
    /// or `deadline` passed; returns the bytes written in all.
    fn write_until(
        &self,
        fd: BorrowedFd<'_>,
        bufs: [&[u8]; 2],
        mut done: usize,
        deadline: Deadline,
    ) -> Result<usize> {
        let total = bufs[0].len() + bufs[1].len();
        while done < total {
            let (a, b) = if done < bufs[0].len() {
                (&bufs[0][done..], bufs[1])
            } else {
                (&bufs[1][done - bufs[0].len()..], &[][..])
            };
            let parts: &[&[u8]] = if b.is_empty() { &[a] } else { &[a, b] };
            match self.write_once(fd, parts) {
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if wait_fd(fd, libc::POLLOUT, deadline)?.is_none() {
                        return Ok(done);
                    }
                }
                Err(e) if is_gone(&e) => return Err(consumer_gone()),
                Err(e) => return Err(Error::os(self.call(), fd_name(fd), e)),
            }
        }
        Ok(done)
    }

    /// Finishes the buffered rest of an accepted frame; `Ok(false)` if the
    /// deadline passed first (what is left stays buffered).
    fn flush(&mut self, fd: BorrowedFd<'_>, deadline: Deadline) -> Result<bool> {
        if self.pending.is_empty() {
            return Ok(true);
        }
        let done = self.write_until(fd, [&self.pending, &[]], 0, deadline)?;
        self.pending.drain(..done);
        Ok(self.pending.is_empty())
    }

    fn send(&mut self, fd: BorrowedFd<'_>, msg: &[u8], deadline: Deadline) -> Result<()> {
        let prefix = self.encoder.encode_prefix(msg.len())?;
        if !self.flush(fd, deadline)? {
            return Err(deadline.expired(true));
        }
        let total = PREFIX_LEN + msg.len();
        let done = self.write_until(fd, [&prefix, msg], 0, deadline)?;
        if done == 0 {
            return Err(deadline.expired(true));
        }
        if done < total {
            // Accepted in part: keep the rest, so that the frame arrives
            // whole (see the module docs).
            let mut rest = Vec::with_capacity(total - done);
            if done < PREFIX_LEN {
                rest.extend_from_slice(&prefix[done..]);
                rest.extend_from_slice(msg);
            } else {
                rest.extend_from_slice(&msg[done - PREFIX_LEN..]);
            }
            self.pending = rest;
        }
        Ok(())
    }

    fn write_raw(&mut self, fd: BorrowedFd<'_>, data: &[u8], deadline: Deadline) -> Result<usize> {
        if !self.flush(fd, deadline)? {
            return Err(deadline.expired(true));
        }
        if data.is_empty() {
            return Ok(0);
        }
        loop {
            match self.write_once(fd, &[data]) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if wait_fd(fd, libc::POLLOUT, deadline)?.is_none() {
                        return Err(deadline.expired(true));
                    }
                }
                Err(e) if is_gone(&e) => return Err(consumer_gone()),
                Err(e) => return Err(Error::os(self.call(), fd_name(fd), e)),
            }
        }
    }

    fn linger(&mut self, fd: BorrowedFd<'_>) {
        if !self.pending.is_empty() {
            let _ = self.flush(fd, Deadline::new(Some(DROP_LINGER)));
        }
    }
}

// ---------------------------------------------------------------------------
// The reading half.

/// The state of a framed reader, apart from its descriptor.
struct ReadState {
    decoder: Decoder<Vec<u8>>,
    chunk: Box<[u8]>,
    /// The unconsumed bytes are `chunk[start..end]`.
    start: usize,
    end: usize,
    /// The length of the frame the decoder is in the middle of.
    cur_len: usize,
    /// `read` returned 0 (or the connection was reset).
    eof: bool,
    /// A FIFO: `read` returns 0 before any writer opened it too; only a
    /// hang-up (a writer came and went) is an end.
    fifo: bool,
}

impl ReadState {
    fn new(fd: BorrowedFd<'_>, max_frame_len: u32) -> Result<Self> {
        set_nonblocking(fd, true)?;
        // `vec![0; n]` is `calloc`: large buffers are mapped lazily, so only
        // the pages that a frame spanning reads touches cost memory.
        let decoder = Decoder::new(vec![0u8; max_frame_len as usize]);
        Ok(Self {
            decoder,
            chunk: vec![0u8; CHUNK_LEN].into_boxed_slice(),
            start: 0,
            end: 0,
            cur_len: 0,
            eof: false,
            fifo: false,
        })
    }

    fn max(&self) -> usize {
        self.decoder.max_frame_len() as usize
    }

    /// Moves the unconsumed bytes to the front of the chunk buffer.
    fn compact(&mut self) {
        if self.start > 0 {
            self.chunk.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// Reads more of the stream into the chunk buffer, waiting at most until
    /// `deadline`. Sets `eof` at the end of the stream.
    fn fill(&mut self, fd: BorrowedFd<'_>, deadline: Deadline) -> Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.chunk.len() {
            self.compact();
        }
        loop {
            let space = &mut self.chunk[self.end..];
            // SAFETY: `space` is a live, writable buffer of the length passed.
            let n = unsafe { libc::read(fd.as_raw_fd(), space.as_mut_ptr().cast(), space.len()) };
            if n > 0 {
                self.end += n as usize;
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if n == 0 || is_gone(&e) {
                if n == 0 && self.fifo {
                    // A FIFO nobody opened for writing yet reads as empty;
                    // only POLLHUP (a writer came and went) ends it.
                    match wait_fd(fd, libc::POLLIN, Deadline::Now)? {
                        Some(ev) if ev & libc::POLLHUP != 0 && ev & libc::POLLIN == 0 => {}
                        Some(_) => continue,
                        None => {
                            if wait_fd(fd, libc::POLLIN, deadline)?.is_none() {
                                return Err(deadline.expired(false));
                            }
                            continue;
                        }
                    }
                }
                self.eof = true;
                return Ok(());
            }
            match e.kind() {
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::WouldBlock => {
                    if wait_fd(fd, libc::POLLIN, deadline)?.is_none() {
                        return Err(deadline.expired(false));
                    }
                }
                _ => return Err(Error::os("read", fd_name(fd), e)),
            }
        }
    }

    fn recv(&mut self, fd: BorrowedFd<'_>, buf: &mut [u8], deadline: Deadline) -> Result<usize> {
        loop {
            let avail = self.end - self.start;
            if self.decoder.is_between_frames() {
                if avail >= PREFIX_LEN {
                    let mut prefix = [0u8; PREFIX_LEN];
                    prefix.copy_from_slice(&self.chunk[self.start..self.start + PREFIX_LEN]);
                    let len = u32::from_le_bytes(prefix) as usize;
                    if len <= self.max() && len > buf.len() {
                        return Err(CoreError::BufferTooSmall { required: len }.into());
                    }
                    // (Above the maximum, `decode` fails with FrameTooLarge.)
                    self.cur_len = len;
                } else if !self.eof {
                    // Look at a whole prefix before taking a frame.
                    self.compact();
                    self.fill(fd, deadline)?;
                    continue;
                }
            } else if self.cur_len > buf.len() {
                return Err(CoreError::BufferTooSmall {
                    required: self.cur_len,
                }
                .into());
            }
            if avail > 0 {
                let mut input = &self.chunk[self.start..self.end];
                let frame = self.decoder.decode(&mut input)?;
                let rest = input.len();
                if let Some(frame) = frame {
                    let n = frame.len();
                    buf[..n].copy_from_slice(frame);
                    self.start = self.end - rest;
                    return Ok(n);
                }
                self.start = self.end;
            }
            if self.eof {
                self.decoder.finish()?;
                return Err(producer_gone());
            }
            self.fill(fd, deadline)?;
        }
    }

    fn read_raw(
        &mut self,
        fd: BorrowedFd<'_>,
        buf: &mut [u8],
        deadline: Deadline,
    ) -> Result<usize> {
        if !self.decoder.is_between_frames() {
            // Raw bytes cannot be taken from inside a frame.
            return Err(CoreError::Corrupted("raw read inside a frame").into());
        }
        if buf.is_empty() {
            return Ok(0);
        }
        if self.start == self.end {
            if self.eof {
                return Ok(0);
            }
            self.fill(fd, deadline)?;
            if self.eof {
                return Ok(0);
            }
        }
        let n = (self.end - self.start).min(buf.len());
        buf[..n].copy_from_slice(&self.chunk[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

impl std::fmt::Debug for ReadState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadState")
            .field("decoder", &self.decoder)
            .field("buffered", &(self.end - self.start))
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------
// The public types.

/// Sends messages as length-prefixed frames into a byte stream (see the
/// [module docs](self)).
#[derive(Debug)]
pub struct FramedWriter<F: AsFd> {
    fd: F,
    w: WriteState,
}

impl<F: AsFd> FramedWriter<F> {
    /// A writer of frames of at most `max_frame_len` bytes into `fd`, which
    /// it switches to non-blocking mode.
    pub fn new(fd: F, max_frame_len: u32) -> Result<Self> {
        let w = WriteState::new(fd.as_fd(), max_frame_len)?;
        Ok(Self { fd, w })
    }

    /// The descriptor.
    pub fn get_ref(&self) -> &F {
        &self.fd
    }

    /// Finishes the rest of a frame accepted in part (see the
    /// [module docs](self)), waiting at most `timeout`: `Ok(true)` when
    /// nothing is left buffered.
    pub fn flush(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.w.flush(self.fd.as_fd(), Deadline::new(timeout))
    }

    /// Bytes of an accepted frame not yet handed to the kernel.
    pub fn pending(&self) -> usize {
        self.w.pending.len()
    }

    /// Writes raw bytes, without a frame, after any buffered rest of a
    /// frame; returns how many were written (at least 1 unless `data` is
    /// empty), waiting at most `timeout` for room.
    pub fn write_raw(&mut self, data: &[u8], timeout: Option<Duration>) -> Result<usize> {
        self.w
            .write_raw(self.fd.as_fd(), data, Deadline::new(timeout))
    }
}

impl<F: AsFd> MessageSender for FramedWriter<F> {
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.w.send(self.fd.as_fd(), msg, Deadline::new(timeout))
    }

    fn max_message_len(&self) -> usize {
        self.w.encoder.max_frame_len() as usize
    }

    fn flush(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.w.flush(self.fd.as_fd(), Deadline::new(timeout))
    }
}

impl<F: AsFd> Drop for FramedWriter<F> {
    fn drop(&mut self) {
        self.w.linger(self.fd.as_fd());
    }
}

/// Receives length-prefixed frames from a byte stream (see the
/// [module docs](self)).
#[derive(Debug)]
pub struct FramedReader<F: AsFd> {
    fd: F,
    r: ReadState,
}

impl<F: AsFd> FramedReader<F> {
    /// A reader of frames of at most `max_frame_len` bytes from `fd`, which
    /// it switches to non-blocking mode.
    pub fn new(fd: F, max_frame_len: u32) -> Result<Self> {
        let r = ReadState::new(fd.as_fd(), max_frame_len)?;
        Ok(Self { fd, r })
    }

    /// A reader of a FIFO: `read` returning 0 before any writer opened the
    /// FIFO is not an end; only a writer that came and went is.
    pub(crate) fn new_fifo(fd: F, max_frame_len: u32) -> Result<Self> {
        let mut reader = Self::new(fd, max_frame_len)?;
        reader.r.fifo = true;
        Ok(reader)
    }

    /// The descriptor.
    pub fn get_ref(&self) -> &F {
        &self.fd
    }

    /// Reads raw bytes, without a frame: first those already read ahead,
    /// then from the stream, waiting at most `timeout`. Returns 0 at the end
    /// of the stream. Only between frames (else
    /// [`Corrupted`](crate::CoreError::Corrupted)).
    pub fn read_raw(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        self.r
            .read_raw(self.fd.as_fd(), buf, Deadline::new(timeout))
    }
}

impl<F: AsFd> MessageReceiver for FramedReader<F> {
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        self.r.recv(self.fd.as_fd(), buf, Deadline::new(timeout))
    }

    fn max_message_len(&self) -> usize {
        self.r.max()
    }
}

/// Frames in both directions over one descriptor (a stream socket): a
/// [`FramedWriter`] and a [`FramedReader`] in one value.
#[derive(Debug)]
pub struct Framed<F: AsFd> {
    fd: F,
    w: WriteState,
    r: ReadState,
}

impl<F: AsFd> Framed<F> {
    /// Frames of at most `max_frame_len` bytes each way over `fd`, which it
    /// switches to non-blocking mode.
    pub fn new(fd: F, max_frame_len: u32) -> Result<Self> {
        let w = WriteState::new(fd.as_fd(), max_frame_len)?;
        let r = ReadState::new(fd.as_fd(), max_frame_len)?;
        Ok(Self { fd, w, r })
    }

    /// The descriptor (for [`peer_cred`](super::unix::peer_cred), socket
    /// options, addresses).
    pub fn get_ref(&self) -> &F {
        &self.fd
    }

    /// See [`FramedWriter::flush`].
    pub fn flush(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.w.flush(self.fd.as_fd(), Deadline::new(timeout))
    }

    /// See [`FramedWriter::write_raw`].
    pub fn write_raw(&mut self, data: &[u8], timeout: Option<Duration>) -> Result<usize> {
        self.w
            .write_raw(self.fd.as_fd(), data, Deadline::new(timeout))
    }

    /// See [`FramedReader::read_raw`].
    pub fn read_raw(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        self.r
            .read_raw(self.fd.as_fd(), buf, Deadline::new(timeout))
    }
}

impl<F: AsFd> MessageSender for Framed<F> {
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.w.send(self.fd.as_fd(), msg, Deadline::new(timeout))
    }

    fn max_message_len(&self) -> usize {
        self.w.encoder.max_frame_len() as usize
    }

    fn flush(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.w.flush(self.fd.as_fd(), Deadline::new(timeout))
    }
}

impl<F: AsFd> MessageReceiver for Framed<F> {
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        self.r.recv(self.fd.as_fd(), buf, Deadline::new(timeout))
    }

    fn max_message_len(&self) -> usize {
        self.r.max()
    }
}

impl<F: AsFd> Drop for Framed<F> {
    fn drop(&mut self) {
        self.w.linger(self.fd.as_fd());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::transport::pipe::raw_pipe;
    use std::os::fd::OwnedFd;

    fn pair(max: u32) -> (FramedWriter<OwnedFd>, FramedReader<OwnedFd>) {
        let (r, w) = raw_pipe().unwrap();
        (
            FramedWriter::new(w, max).unwrap(),
            FramedReader::new(r, max).unwrap(),
        )
    }

    #[test]
    fn flush_through_the_trait_reports_a_pending_rest() {
        let (tx, mut rx) = pair(200_000);
        let mut tx: Box<dyn MessageSender> = Box::new(tx);
        assert!(tx.flush(Some(Duration::ZERO)).unwrap()); // nothing pending
        tx.try_send(&vec![3u8; 150_000]).unwrap(); // accepted in part
        assert!(!tx.flush(Some(Duration::ZERO)).unwrap()); // the pipe is full
        let mut buf = vec![0u8; 200_000];
        let mut got = None;
        while got.is_none() {
            let done = tx.flush(Some(Duration::from_millis(1))).unwrap();
            match rx.try_recv(&mut buf) {
                Ok(n) => got = Some(n),
                Err(Error::Empty) => {}
                Err(e) => panic!("{e}"),
            }
            if got.is_some() {
                assert!(done || tx.flush(None).unwrap());
            }
        }
        assert_eq!(got, Some(150_000));
        assert!(buf[..150_000].iter().all(|&b| b == 3));
        assert!(tx.flush(Some(Duration::ZERO)).unwrap());
    }

    #[test]
    fn try_send_on_full_pipe_never_leaves_half_a_frame() {
        let (mut tx, mut rx) = pair(200_000);
        let big = vec![7u8; 150_000];
        // The first frame goes out in part (a pipe holds 64 KiB) and is
        // accepted; the second is refused while the rest is pending.
        tx.try_send(&big).unwrap();
        assert!(tx.pending() > 0);
        assert!(tx.try_send(b"x").unwrap_err().is_full());
        let mut buf = vec![0u8; 200_000];
        let mut got = Vec::new();
        while got.len() < 2 {
            let _ = tx.flush(Some(Duration::ZERO));
            if got.is_empty() && tx.pending() == 0 {
                tx.try_send(b"y").unwrap();
            }
            match rx.try_recv(&mut buf) {
                Ok(n) => got.push(buf[..n].to_vec()),
                Err(e) => assert!(e.is_empty()),
            }
        }
        assert_eq!(got[0], big);
        assert_eq!(got[1], b"y");
    }

    #[test]
    fn small_buffer_keeps_the_frame_and_oversize_is_refused() {
        let (mut tx, mut rx) = pair(16);
        assert_eq!(
            tx.send(&[0; 17]).unwrap_err().core(),
            Some(CoreError::FrameTooLarge { len: 17, max: 16 })
        );
        tx.send(b"0123456789").unwrap();
        let mut small = [0u8; 4];
        assert_eq!(
            rx.recv(&mut small).unwrap_err().core(),
            Some(CoreError::BufferTooSmall { required: 10 })
        );
        let mut buf = [0u8; 16];
        assert_eq!(rx.recv(&mut buf).unwrap(), 10);
        assert!(
            rx.recv_timeout(&mut buf, Some(Duration::from_millis(20)))
                .unwrap_err()
                .is_timeout()
        );
    }

    #[test]
    fn cut_inside_a_frame_is_truncated() {
        let (r, w) = raw_pipe().unwrap();
        use std::io::Write;
        std::fs::File::from(w)
            .write_all(&[5, 0, 0, 0, 1, 2])
            .unwrap();
        let mut rx = FramedReader::new(r, 64).unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(
            rx.recv(&mut buf).unwrap_err().core(),
            Some(CoreError::Truncated { missing: 3 })
        );
    }
}

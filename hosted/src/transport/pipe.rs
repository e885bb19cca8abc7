//! Anonymous pipes (`pipe2(2)` with `O_CLOEXEC`) carrying framed messages,
//! between forked processes or handed to a spawned child.
//!
//! [`pipe`] makes a [`PipeSender`] (the write end) and a [`PipeReceiver`]
//! (the read end), which frame messages as the [stream module](super::stream)
//! module describes. To give one end to a child spawned with
//! [`Command`], [`PipeSender::into_child`] / [`PipeReceiver::into_child`]
//! register it for inheritance and return its number in the child, which
//! rebuilds it with [`from_fd`](PipeReceiver::from_fd). After a `fork` both
//! processes hold both ends: each closes (drops) the end it does not use,
//! or the reader never sees the end of the stream.
//!
//! A pipe buffers 64 KiB by default. [`set_capacity`](PipeSender::set_capacity)
//! (`F_SETPIPE_SZ`) enlarges it, up to `/proc/sys/fs/pipe-max-size` (1 MiB
//! by default) for an unprivileged process; fewer wake-ups per byte make
//! large messages faster.
//!
//! ```
//! use ipckit::message::{MessageReceiver, MessageSender};
//! use ipckit::transport::pipe::pipe;
//!
//! let (mut tx, mut rx) = pipe()?;
//! assert!(tx.set_capacity(256 << 10)? >= 256 << 10);
//! tx.send(b"through the pipe")?;
//! assert_eq!(rx.recv_vec()?, b"through the pipe");
//! # Ok::<(), ipckit::Error>(())
//! ```

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::process::Command;
use std::time::Duration;

use super::stream::{self, DEFAULT_MAX_FRAME_LEN, FramedReader, FramedWriter, fd_name};
use crate::error::{Error, Result};
use crate::message::{MessageReceiver, MessageSender};

/// Creates a pipe (`pipe2(O_CLOEXEC)`) as its two raw ends: `(read, write)`.
pub fn raw_pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors `pipe2` writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(Error::last_os("pipe2", "O_CLOEXEC"));
    }
    // SAFETY: `pipe2` succeeded: both descriptors are new and ours alone.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A pipe for frames of at most [`DEFAULT_MAX_FRAME_LEN`] bytes.
pub fn pipe() -> Result<(PipeSender, PipeReceiver)> {
    pipe_with_max(DEFAULT_MAX_FRAME_LEN)
}

/// A pipe for frames of at most `max_frame_len` bytes.
pub fn pipe_with_max(max_frame_len: u32) -> Result<(PipeSender, PipeReceiver)> {
    let (r, w) = raw_pipe()?;
    Ok((
        PipeSender::from_fd(w, max_frame_len)?,
        PipeReceiver::from_fd(r, max_frame_len)?,
    ))
}

/// The pipe's buffer size (`F_GETPIPE_SZ`).
fn capacity(fd: BorrowedFd<'_>) -> Result<usize> {
    // SAFETY: F_GETPIPE_SZ takes no argument and touches no memory.
    let n = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETPIPE_SZ) };
    if n < 0 {
        return Err(Error::last_os("fcntl(F_GETPIPE_SZ)", fd_name(fd)));
    }
    Ok(n as usize)
}

/// The largest pipe an unprivileged process may make, from
/// `/proc/sys/fs/pipe-max-size`.
pub fn max_pipe_capacity() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Sets the buffer size (`F_SETPIPE_SZ`); a request above
/// `pipe-max-size` that the kernel refuses (`EPERM`) is retried at that
/// maximum. Returns the size the kernel chose (a power of two of pages).
fn set_capacity(fd: BorrowedFd<'_>, bytes: usize) -> Result<usize> {
    let set = |bytes: usize| {
        let arg = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        // SAFETY: F_SETPIPE_SZ takes an int and touches no memory.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, arg) }
    };
    let mut n = set(bytes);
    if n < 0 {
        let e = std::io::Error::last_os_error();
        match max_pipe_capacity() {
            Some(max) if e.raw_os_error() == Some(libc::EPERM) && bytes > max => n = set(max),
            _ => return Err(Error::os("fcntl(F_SETPIPE_SZ)", fd_name(fd), e)),
        }
        if n < 0 {
            return Err(Error::last_os("fcntl(F_SETPIPE_SZ)", fd_name(fd)));
        }
    }
    Ok(n as usize)
}

/// Registers `fd` (back in blocking mode, as a child expects of an
/// inherited pipe) for inheritance by the children `cmd` spawns.
fn into_child(fd: OwnedFd, cmd: &mut Command) -> Result<RawFd> {
    stream::set_nonblocking(fd.as_fd(), false)?;
    crate::shm::inherit_fd(cmd, fd.as_fd())
}

/// The write end of a pipe: sends framed messages.
#[derive(Debug)]
pub struct PipeSender(FramedWriter<OwnedFd>);

impl PipeSender {
    /// The write end `fd` of a pipe (say, inherited from a parent), for
    /// frames of at most `max_frame_len` bytes.
    pub fn from_fd(fd: OwnedFd, max_frame_len: u32) -> Result<Self> {
        FramedWriter::new(fd, max_frame_len).map(Self)
    }

    /// The pipe's buffer size in bytes (`F_GETPIPE_SZ`).
    pub fn capacity(&self) -> Result<usize> {
        capacity(self.0.get_ref().as_fd())
    }

    /// Enlarges (or shrinks) the pipe's buffer (`F_SETPIPE_SZ`): the
    /// kernel rounds `bytes` up to a power of two of pages. Above
    /// `/proc/sys/fs/pipe-max-size` an unprivileged process gets that
    /// maximum instead. Returns the new size. Shrinking below the bytes
    /// buffered fails with `EBUSY`.
    pub fn set_capacity(&self, bytes: usize) -> Result<usize> {
        set_capacity(self.0.get_ref().as_fd(), bytes)
    }

    /// See [`FramedWriter::flush`].
    pub fn flush(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.0.flush(timeout)
    }

    /// Hands this end to the children `cmd` spawns and returns the
    /// descriptor number it has in them (pass it in an argument or the
    /// environment). The end is put back in blocking mode; this process
    /// keeps a duplicate only as long as `cmd` lives: drop `cmd` after
    /// spawning, so that the reader sees the end of the stream when the
    /// child exits.
    pub fn into_child(self, cmd: &mut Command) -> Result<RawFd> {
        into_child(self.into_fd()?, cmd)
    }

    /// The write end, after finishing any frame accepted in part (waiting
    /// at most [`DROP_LINGER`](super::stream::DROP_LINGER)).
    pub fn into_fd(mut self) -> Result<OwnedFd> {
        if !self.0.flush(Some(stream::DROP_LINGER))? {
            return Err(Error::TimedOut);
        }
        let fd = self.0.get_ref().try_clone().map_err(|e| {
            Error::os(
                "fcntl(F_DUPFD_CLOEXEC)",
                fd_name(self.0.get_ref().as_fd()),
                e,
            )
        })?;
        Ok(fd)
    }
}

impl MessageSender for PipeSender {
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.0.send_timeout(msg, timeout)
    }

    fn max_message_len(&self) -> usize {
        MessageSender::max_message_len(&self.0)
    }

    fn flush(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.0.flush(timeout)
    }
}

impl AsFd for PipeSender {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.get_ref().as_fd()
    }
}

/// The read end of a pipe: receives framed messages.
#[derive(Debug)]
pub struct PipeReceiver(FramedReader<OwnedFd>);

impl PipeReceiver {
    /// The read end `fd` of a pipe (say, inherited from a parent), for
    /// frames of at most `max_frame_len` bytes.
    pub fn from_fd(fd: OwnedFd, max_frame_len: u32) -> Result<Self> {
        FramedReader::new(fd, max_frame_len).map(Self)
    }

    /// The pipe's buffer size in bytes (`F_GETPIPE_SZ`).
    pub fn capacity(&self) -> Result<usize> {
        capacity(self.0.get_ref().as_fd())
    }

    /// See [`PipeSender::set_capacity`].
    pub fn set_capacity(&self, bytes: usize) -> Result<usize> {
        set_capacity(self.0.get_ref().as_fd(), bytes)
    }

    /// Hands this end to the children `cmd` spawns; see
    /// [`PipeSender::into_child`]. Bytes this reader already read ahead are
    /// lost: hand an end over before using it.
    pub fn into_child(self, cmd: &mut Command) -> Result<RawFd> {
        let fd = self
            .0
            .get_ref()
            .try_clone()
            .map_err(|e| Error::os("fcntl(F_DUPFD_CLOEXEC)", "pipe read end", e))?;
        into_child(fd, cmd)
    }
}

impl MessageReceiver for PipeReceiver {
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        self.0.recv_timeout(buf, timeout)
    }

    fn max_message_len(&self) -> usize {
        MessageReceiver::max_message_len(&self.0)
    }
}

impl AsFd for PipeReceiver {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.get_ref().as_fd()
    }
}

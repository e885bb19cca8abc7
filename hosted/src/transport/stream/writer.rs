//! The writing half: frames into a byte stream, never half-written.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

use super::{
    DROP_LINGER, Deadline, consumer_gone, fd_name, is_gone, is_socket, set_nonblocking, wait_fd,
};
use crate::error::{Error, Result};
use crate::frame::codec::{Encoder, PREFIX_LEN};
use crate::message::MessageSender;

/// The state of a framed writer, apart from its descriptor.
#[derive(Debug)]
pub(super) struct WriteState {
    pub(super) encoder: Encoder,
    /// The unsent rest of the last accepted frame.
    pending: Vec<u8>,
    /// Use `sendmsg(MSG_NOSIGNAL)` rather than `writev`.
    socket: bool,
}

impl WriteState {
    pub(super) fn new(fd: BorrowedFd<'_>, max_frame_len: u32) -> Result<Self> {
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
    pub(super) fn flush(&mut self, fd: BorrowedFd<'_>, deadline: Deadline) -> Result<bool> {
        if self.pending.is_empty() {
            return Ok(true);
        }
        let done = self.write_until(fd, [&self.pending, &[]], 0, deadline)?;
        self.pending.drain(..done);
        Ok(self.pending.is_empty())
    }

    pub(super) fn send(
        &mut self,
        fd: BorrowedFd<'_>,
        msg: &[u8],
        deadline: Deadline,
    ) -> Result<()> {
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

    pub(super) fn write_raw(
        &mut self,
        fd: BorrowedFd<'_>,
        data: &[u8],
        deadline: Deadline,
    ) -> Result<usize> {
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

    pub(super) fn linger(&mut self, fd: BorrowedFd<'_>) {
        if !self.pending.is_empty() {
            let _ = self.flush(fd, Deadline::new(Some(DROP_LINGER)));
        }
    }
}

/// Sends messages as length-prefixed frames into a byte stream (see the
/// [module docs](super)).
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
    /// [module docs](super)), waiting at most `timeout`: `Ok(true)` when
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

/// The descriptor, for readiness ([`WaitSet`](crate::waitset::WaitSet),
/// `AsyncFd`).
impl<F: AsFd> AsFd for FramedWriter<F> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

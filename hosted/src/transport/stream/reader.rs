//! The reading half: frames out of a byte stream, read ahead in chunks.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

use super::{Deadline, fd_name, is_gone, producer_gone, set_nonblocking, wait_fd};
use crate::error::{CoreError, Error, Result};
use crate::frame::codec::{Decoder, PREFIX_LEN};
use crate::message::MessageReceiver;

/// Bytes the reader asks for per `read(2)`: more than a default pipe
/// holds, so that from an enlarged pipe or a socket a 64 KiB frame lies
/// wholly in one read and is copied once. (`calloc`ed: pages that no read
/// reached cost no memory.)
const CHUNK_LEN: usize = 256 << 10;

/// The state of a framed reader, apart from its descriptor.
pub(super) struct ReadState {
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
    pub(super) fn new(fd: BorrowedFd<'_>, max_frame_len: u32) -> Result<Self> {
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

    pub(super) fn max(&self) -> usize {
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

    pub(super) fn recv(
        &mut self,
        fd: BorrowedFd<'_>,
        buf: &mut [u8],
        deadline: Deadline,
    ) -> Result<usize> {
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

    pub(super) fn read_raw(
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

/// Receives length-prefixed frames from a byte stream (see the
/// [module docs](super)).
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

/// The descriptor, for readiness ([`WaitSet`](crate::waitset::WaitSet),
/// `AsyncFd`): frames read ahead sit in the buffer, so drain with
/// `try_recv` after a readable report.
impl<F: AsFd> AsFd for FramedReader<F> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

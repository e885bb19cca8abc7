//! Both halves over one descriptor (a stream socket).

use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use super::Deadline;
use super::reader::ReadState;
use super::writer::FramedWriter;
use crate::error::Result;
use crate::message::{MessageReceiver, MessageSender};

/// Frames in both directions over one descriptor (a stream socket): a
/// [`FramedWriter`] and a [`FramedReader`](super::FramedReader) in one value.
#[derive(Debug)]
pub struct Framed<F: AsFd> {
    /// The descriptor and the writing half (whose drop finishes a
    /// buffered rest of a frame, as [`FramedWriter`]'s does).
    w: FramedWriter<F>,
    r: ReadState,
}

impl<F: AsFd> Framed<F> {
    /// Frames of at most `max_frame_len` bytes each way over `fd`, which it
    /// switches to non-blocking mode.
    pub fn new(fd: F, max_frame_len: u32) -> Result<Self> {
        let w = FramedWriter::new(fd, max_frame_len)?;
        let r = ReadState::new(w.get_ref().as_fd(), max_frame_len)?;
        Ok(Self { w, r })
    }

    /// The descriptor (for [`peer_cred`](crate::transport::unix::peer_cred), socket
    /// options, addresses).
    pub fn get_ref(&self) -> &F {
        self.w.get_ref()
    }

    /// See [`FramedWriter::flush`].
    pub fn flush(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.w.flush(timeout)
    }

    /// See [`FramedWriter::write_raw`].
    pub fn write_raw(&mut self, data: &[u8], timeout: Option<Duration>) -> Result<usize> {
        self.w.write_raw(data, timeout)
    }

    /// See [`FramedReader::read_raw`](super::FramedReader::read_raw).
    pub fn read_raw(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        self.r
            .read_raw(self.w.get_ref().as_fd(), buf, Deadline::new(timeout))
    }
}

impl<F: AsFd> MessageSender for Framed<F> {
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.w.send_timeout(msg, timeout)
    }

    fn max_message_len(&self) -> usize {
        MessageSender::max_message_len(&self.w)
    }

    fn flush(&mut self, timeout: Option<Duration>) -> Result<bool> {
        MessageSender::flush(&mut self.w, timeout)
    }
}

impl<F: AsFd> MessageReceiver for Framed<F> {
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        self.r
            .recv(self.w.get_ref().as_fd(), buf, Deadline::new(timeout))
    }

    fn max_message_len(&self) -> usize {
        self.r.max()
    }
}

/// The descriptor, for readiness ([`WaitSet`](crate::waitset::WaitSet),
/// `AsyncFd`): frames read ahead sit in the reader's buffer, so drain with
/// `try_recv` after a readable report.
impl<F: AsFd> AsFd for Framed<F> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.w.get_ref().as_fd()
    }
}

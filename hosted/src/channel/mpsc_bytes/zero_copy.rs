//! Zero-copy on the MPSC byte channel: loans written in place and frames
//! read in place (see [`channel::zero_copy`](crate::channel::zero_copy)).

use std::time::{Duration, Instant};

use super::{Receiver, Sender, look_for_dead};
use crate::channel::zero_copy::{FrameRef, Loan, loan_error, name_too_large};
use crate::channel::{blocking_recovering, flow_error, full_or_closed, until};
use crate::error::CoreError;
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;

impl Sender {
    /// Lends room for a message of `len` bytes, to write in place and
    /// [`send`](Loan::send) ([`zero_copy`](crate::channel::zero_copy)), or
    /// [`Error::Full`] at once; [`Error::Channel`] naming the channel for a
    /// `len` over [`max_frame_len`](Self::max_frame_len). The receiver
    /// waits for an open loan, as for a [grant](Self::try_grant).
    #[inline]
    pub fn try_loan(&self, len: usize) -> Result<Loan<'_>> {
        match self.end.try_grant(len) {
            Ok(grant) => Ok(Loan::mpsc(grant)),
            // As `try_send`: a full ring whose receivers all closed is
            // `PeerGone` (state words only).
            Err(CoreError::Full) => Err(full_or_closed(&self.member)),
            Err(e) => Err(loan_error(e, &self.mem)),
        }
    }

    /// [`try_loan`](Self::try_loan), waiting while there is no room, as
    /// [`send`](Self::send) does ([`Error::PeerGone`] if the receiver
    /// closed or died meanwhile).
    pub fn loan(&self, len: usize) -> Result<Loan<'_>> {
        self.loan_within(len, None)
    }

    /// [`loan`](Self::loan), waiting at most `timeout`: [`Error::TimedOut`].
    pub fn loan_timeout(&self, len: usize, timeout: Duration) -> Result<Loan<'_>> {
        self.loan_within(len, Some(timeout))
    }

    /// [`loan`](Self::loan), waiting until `deadline` at the latest.
    pub fn loan_deadline(&self, len: usize, deadline: Instant) -> Result<Loan<'_>> {
        self.loan_within(len, Some(until(deadline)))
    }

    /// The loan calls: `None` waits without a limit.
    pub(crate) fn loan_within(&self, len: usize, timeout: Option<Duration>) -> Result<Loan<'_>> {
        match self.grant_within(len, timeout) {
            Ok(grant) => Ok(Loan::mpsc(grant)),
            Err(e) => Err(name_too_large(e, &self.mem)),
        }
    }
}

impl Receiver {
    /// The oldest message, in place ([`zero_copy`](crate::channel::zero_copy)),
    /// released when the [`FrameRef`] drops, or [`Error::Empty`] at once
    /// (as [`try_recv`](Self::try_recv)). A receiver that dies holding it
    /// leaves it queued for the receiver that [takes
    /// over](Self::take_over): at least once.
    #[inline]
    pub fn try_recv_ref(&mut self) -> Result<FrameRef<'_>> {
        match self.end.try_read() {
            Ok(frame) => Ok(FrameRef::mpsc(frame)),
            Err(e) => Err(flow_error(e)),
        }
    }

    /// [`try_recv_ref`](Self::try_recv_ref), waiting while there is no
    /// message, and skipping records of senders that died writing them, as
    /// [`recv`](Self::recv); [`Error::PeerGone`] once the channel is
    /// drained and every sender closed or died.
    pub fn recv_ref(&mut self) -> Result<FrameRef<'_>> {
        self.recv_ref_within(None)
    }

    /// [`recv_ref`](Self::recv_ref), waiting at most `timeout`:
    /// [`Error::TimedOut`].
    pub fn recv_ref_timeout(&mut self, timeout: Duration) -> Result<FrameRef<'_>> {
        self.recv_ref_within(Some(timeout))
    }

    /// [`recv_ref`](Self::recv_ref), waiting until `deadline` at the latest.
    pub fn recv_ref_deadline(&mut self, deadline: Instant) -> Result<FrameRef<'_>> {
        self.recv_ref_within(Some(until(deadline)))
    }

    /// The `recv_ref` calls: `None` waits without a limit.
    pub(crate) fn recv_ref_within(&mut self, timeout: Option<Duration>) -> Result<FrameRef<'_>> {
        // A core read frame borrows the consumer while it lives, so the
        // wait returns none: it waits for a frame (one dropped unreleased
        // stays queued), which is then taken again, at once.
        blocking_recovering(
            self,
            timeout,
            |rx, t| rx.end.read_timeout(t).map(drop),
            |rx| rx.member.peer_gone(),
            look_for_dead,
        )?;
        self.try_recv_ref()
    }
}

//! Sending and receiving typed messages: the `mtype` word, then the text,
//! copied through the queue's scratch buffer.

use std::io;
use std::time::Duration;

use super::queue::{SysvMq, invalid};
use super::{MSGMAX_PATH, QBYTES_LIMIT};
use crate::error::{CoreError, Error, Result};
use crate::message::{MessageReceiver, MessageSender};
use crate::transport::deadline::Poller;
use crate::transport::limits::LimitExceeded;

impl SysvMq {
    /// Sends `msg` with type `mtype` (above 0), waiting at most `timeout`
    /// for room (see the [module docs](super) on timeouts). A message longer
    /// than the queue's capacity is a [`LimitExceeded`] of
    /// [`QBYTES_LIMIT`], found when the queue has no room for it.
    pub fn send_typed(&mut self, mtype: i64, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        if msg.len() > self.msgmax {
            // msgmax may have been raised since we read it.
            self.refresh_msgmax()?;
            if msg.len() > self.msgmax {
                return Err(CoreError::FrameTooLarge {
                    len: u32::try_from(msg.len()).unwrap_or(u32::MAX),
                    max: u32::try_from(self.msgmax).unwrap_or(u32::MAX),
                }
                .into());
            }
        }
        let mtype = libc::c_long::try_from(mtype).unwrap_or(0);
        if mtype < 1 {
            return Err(invalid(
                "msgsnd",
                self.target(),
                "a message type is above 0",
            ));
        }
        self.scratch[0] = mtype;
        // SAFETY: the scratch holds `1 + ceil(longest / LONG)` longs (one at
        // least), so `msg.len() <= msgmax <= longest` bytes fit after the
        // first; the regions do not overlap (one is ours, one the caller's).
        unsafe {
            std::ptr::copy_nonoverlapping(
                msg.as_ptr(),
                self.scratch.as_mut_ptr().add(1).cast::<u8>(),
                msg.len(),
            );
        }
        let mut poller = Poller::new(timeout, Duration::from_millis(1));
        loop {
            // SAFETY: the scratch starts with the type and holds the text.
            let r = unsafe {
                libc::msgsnd(
                    self.id,
                    self.scratch.as_ptr().cast(),
                    msg.len(),
                    libc::IPC_NOWAIT,
                )
            };
            if r == 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN) => {
                    self.check_fits(msg.len())?;
                    poller.pause(Error::Full)?;
                }
                Some(libc::EINVAL) => {
                    // The kernel checks the length against msgmax first:
                    // lowered since we read it?
                    self.refresh_msgmax()?;
                    if msg.len() > self.msgmax {
                        return Err(LimitExceeded::new(
                            MSGMAX_PATH,
                            msg.len() as u64,
                            self.msgmax as u64,
                        )
                        .into_error("msgsnd", self.target()));
                    }
                    return Err(self.os_error("msgsnd", err));
                }
                _ => return Err(self.os_error("msgsnd", err)),
            }
        }
    }

    /// The queue has no room for `len` bytes now: reads its capacity and
    /// refuses a message that can never fit. A capacity this user cannot
    /// read (neither `IPC_STAT` nor `MSG_STAT_ANY`) lets the send wait.
    fn check_fits(&self, len: usize) -> Result<()> {
        match self.stat() {
            #[allow(clippy::unnecessary_cast)] // `msglen_t` is narrower on 32-bit targets
            Ok(ds) if len as u64 > ds.msg_qbytes as u64 => {
                Err(
                    LimitExceeded::new(QBYTES_LIMIT, len as u64, ds.msg_qbytes as u64)
                        .into_error("msgsnd", self.target()),
                )
            }
            Err(e @ Error::Removed { .. }) => Err(e),
            _ => Ok(()),
        }
    }

    /// Receives the next message of type `mtype` (0: any; `t > 0`: type
    /// `t`; `t < 0`: lowest type up to `|t|`) into `buf`, waiting at most
    /// `timeout`; returns its length and type. A message longer than `buf`
    /// stays queued: [`BufferTooSmall`](CoreError::BufferTooSmall).
    pub fn recv_typed(
        &mut self,
        mtype: i64,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<(usize, i64)> {
        let mtype = libc::c_long::try_from(mtype)
            .map_err(|_| invalid("msgrcv", self.target(), "type out of range"))?;
        let mut poller = Poller::new(timeout, Duration::from_millis(1));
        let flags = if timeout.is_some() {
            libc::IPC_NOWAIT
        } else {
            0
        };
        let mut regrown = false;
        loop {
            let size = buf.len().min(self.longest);
            // SAFETY: the scratch holds a long and `longest >= size` bytes.
            let r = unsafe {
                libc::msgrcv(
                    self.id,
                    self.scratch.as_mut_ptr().cast(),
                    size,
                    mtype,
                    flags,
                )
            };
            if let Ok(n) = usize::try_from(r) {
                // SAFETY: the kernel wrote `n <= size <= buf.len()` bytes of
                // text after the type; the regions do not overlap.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        self.scratch.as_ptr().add(1).cast::<u8>(),
                        buf.as_mut_ptr(),
                        n,
                    );
                }
                #[allow(clippy::unnecessary_cast)] // `c_long` is `i32` on 32-bit targets
                let mtype = self.scratch[0] as i64;
                return Ok((n, mtype));
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::ENOMSG | libc::EAGAIN) => poller.pause(Error::Empty)?,
                // The scratch is as long as msgmax was: if msgmax grew
                // since, try again (once) with a longer scratch.
                Some(libc::E2BIG) if buf.len() > size && !regrown && self.refresh_msgmax()? => {
                    regrown = true;
                }
                Some(libc::E2BIG) => {
                    return Err(CoreError::BufferTooSmall {
                        required: self.longest,
                    }
                    .into());
                }
                _ => return Err(self.os_error("msgrcv", err)),
            }
        }
    }
}

impl MessageSender for SysvMq {
    /// Sends with the default send type ([`DEFAULT_TYPE`](super::DEFAULT_TYPE) unless set).
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.send_typed(self.send_type, msg, timeout)
    }

    fn max_message_len(&self) -> usize {
        self.msgmax
    }
}

impl MessageReceiver for SysvMq {
    /// Receives by the default receive type (0, any, unless set).
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        self.recv_typed(self.recv_type, buf, timeout)
            .map(|(n, _)| n)
    }

    fn max_message_len(&self) -> usize {
        self.msgmax
    }
}

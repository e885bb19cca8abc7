//! eventfd notifications (`eventfd(2)`): a 64-bit counter in the kernel
//! behind a file descriptor, for waking a peer.
//!
//! [`EventFd::notify`] adds to the counter; a wait takes from it:
//! - [`EventFdMode::Counter`]: a wait returns the whole counter and resets
//!   it to 0 (notifications coalesce: three `notify(1)` before a wait are
//!   one wake with value 3);
//! - [`EventFdMode::Semaphore`]: a wait takes 1 and returns 1 (three
//!   `notify(1)` are three wakes).
//!
//! The descriptor is non-blocking and close-on-exec; waits `ppoll` it, so
//! a timeout is exact to the nanosecond of `ppoll`. A forked child inherits
//! it; for a child that `exec`s, clear close-on-exec with
//! [`EventFd::set_inheritable`], pass the number (say as an argument), and
//! take it back with [`EventFd::from_fd`].
//!
//! # As a message transport
//! An eventfd moves no bytes, but it implements the
//! [message traits](crate::message) with an 8-byte message: the counter
//! value in native byte order. Sending adds the value (exactly 8 bytes, not
//! `u64::MAX`); receiving returns the value a wait took (coalesced in
//! counter mode, always 1 in semaphore mode), so message counts are not
//! kept, only the sum. A send that would overflow the counter waits
//! ([`Full`](Error::Full) for a zero timeout).
//!
//! ```
//! use std::time::Duration;
//! use ipckit::transport::eventfd::{EventFd, EventFdMode};
//!
//! let efd = EventFd::new(0, EventFdMode::Counter)?;
//! efd.notify(2)?;
//! efd.notify(3)?;
//! assert_eq!(efd.wait()?, 5);
//! assert!(efd.wait_timeout(Some(Duration::from_millis(1))).is_err()); // TimedOut
//! # Ok::<(), ipckit::Error>(())
//! ```

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::deadline::Deadline;
use crate::error::{CoreError, Error, OsError, Result};
use crate::message::{MessageReceiver, MessageSender};

/// How a wait takes from the counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFdMode {
    /// A wait takes the whole counter (notifications coalesce).
    Counter,
    /// A wait takes 1 (`EFD_SEMAPHORE`).
    Semaphore,
}

/// The largest value the counter holds (`u64::MAX - 1`).
pub const MAX_COUNT: u64 = u64::MAX - 1;

/// An eventfd: a counter to notify and wait on, across threads and
/// processes.
#[derive(Debug)]
pub struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    /// A new eventfd with counter `initial` (non-blocking, close-on-exec).
    pub fn new(initial: u32, mode: EventFdMode) -> Result<Self> {
        let mut flags = libc::EFD_NONBLOCK | libc::EFD_CLOEXEC;
        if mode == EventFdMode::Semaphore {
            flags |= libc::EFD_SEMAPHORE;
        }
        // SAFETY: plain system call.
        let fd = unsafe { libc::eventfd(initial, flags) };
        if fd < 0 {
            return Err(Error::last_os("eventfd", ""));
        }
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self { fd })
    }

    /// Takes ownership of `fd`, an eventfd (inherited, or received over a
    /// socket). It is made non-blocking, as the waits require.
    pub fn from_fd(fd: OwnedFd) -> Result<Self> {
        let raw = fd.as_raw_fd();
        // SAFETY: `raw` is the open descriptor `fd` owns.
        let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
        // SAFETY: as above.
        if flags < 0 || unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(Error::last_os("fcntl", format!("fd {raw}")));
        }
        Ok(Self { fd })
    }

    /// Lets the descriptor survive `exec` (clears `FD_CLOEXEC`) or not.
    pub fn set_inheritable(&self, inheritable: bool) -> Result<()> {
        let raw = self.fd.as_raw_fd();
        let flags = if inheritable { 0 } else { libc::FD_CLOEXEC };
        // SAFETY: `raw` is our open descriptor.
        if unsafe { libc::fcntl(raw, libc::F_SETFD, flags) } < 0 {
            return Err(Error::last_os("fcntl", format!("fd {raw}")));
        }
        Ok(())
    }

    /// Adds `n` to the counter, waking waiters. If the sum would exceed
    /// [`MAX_COUNT`], waits until a waiter takes enough (use
    /// [`notify_timeout`](Self::notify_timeout) to bound that).
    pub fn notify(&self, n: u64) -> Result<()> {
        self.notify_timeout(n, None)
    }

    /// [`notify`](Self::notify) waiting at most `timeout` for room:
    /// [`Full`](Error::Full) for a zero timeout, else
    /// [`TimedOut`](Error::TimedOut). `n` above [`MAX_COUNT`] is refused
    /// with an `InvalidInput` [`Error::Os`].
    pub fn notify_timeout(&self, n: u64, timeout: Option<Duration>) -> Result<()> {
        if n > MAX_COUNT {
            return Err(Error::Os(OsError::new(
                "eventfd write",
                self.target(),
                io::Error::new(io::ErrorKind::InvalidInput, "value above u64::MAX - 1"),
            )));
        }
        let deadline = Deadline::after(timeout);
        let bytes = n.to_ne_bytes();
        loop {
            // SAFETY: our descriptor; `bytes` is valid for 8 bytes.
            let r = unsafe { libc::write(self.fd.as_raw_fd(), bytes.as_ptr().cast(), 8) };
            if r == 8 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => self.poll(libc::POLLOUT, &deadline, timeout, Error::Full)?,
                _ => return Err(Error::os("eventfd write", self.target(), err)),
            }
        }
    }

    /// Waits until the counter is non-zero and takes from it (see
    /// [`EventFdMode`]); returns what it took.
    pub fn wait(&self) -> Result<u64> {
        self.wait_timeout(None)
    }

    /// Takes from the counter if it is non-zero now, else
    /// [`Empty`](Error::Empty).
    pub fn try_wait(&self) -> Result<u64> {
        self.wait_timeout(Some(Duration::ZERO))
    }

    /// [`wait`](Self::wait) for at most `timeout`: then
    /// [`TimedOut`](Error::TimedOut) (or [`Empty`](Error::Empty) for
    /// a zero timeout).
    pub fn wait_timeout(&self, timeout: Option<Duration>) -> Result<u64> {
        let deadline = Deadline::after(timeout);
        loop {
            let mut bytes = [0u8; 8];
            // SAFETY: our descriptor; `bytes` is valid for 8 bytes.
            let r = unsafe { libc::read(self.fd.as_raw_fd(), bytes.as_mut_ptr().cast(), 8) };
            if r == 8 {
                return Ok(u64::from_ne_bytes(bytes));
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                // Another waiter may take the count between our poll and
                // our read: then poll again.
                Some(libc::EAGAIN) => self.poll(libc::POLLIN, &deadline, timeout, Error::Empty)?,
                _ => return Err(Error::os("eventfd read", self.target(), err)),
            }
        }
    }

    /// Waits for `events` until the deadline; `flow` for a zero timeout.
    fn poll(
        &self,
        events: libc::c_short,
        deadline: &Deadline,
        timeout: Option<Duration>,
        flow: Error,
    ) -> Result<()> {
        if timeout == Some(Duration::ZERO) {
            return Err(flow);
        }
        if deadline.expired() {
            return Err(Error::TimedOut);
        }
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events,
            revents: 0,
        };
        let ts = deadline.remaining_timespec();
        let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
        // SAFETY: one valid `pollfd`; `ts_ptr` is null or a valid timespec;
        // no signal mask is changed.
        let r = unsafe { libc::ppoll(&mut pfd, 1, ts_ptr, std::ptr::null()) };
        if r < 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(Error::os("ppoll", self.target(), err));
            }
        }
        // Ready, timed out or interrupted: the caller retries, and the
        // next pause sees an expired deadline.
        Ok(())
    }

    fn target(&self) -> String {
        format!("eventfd {}", self.fd.as_raw_fd())
    }
}

impl AsFd for EventFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl IntoRawFd for EventFd {
    fn into_raw_fd(self) -> RawFd {
        self.fd.into_raw_fd()
    }
}

impl From<EventFd> for OwnedFd {
    fn from(e: EventFd) -> Self {
        e.fd
    }
}

impl MessageSender for EventFd {
    /// Adds the 8-byte native-endian value `msg` to the counter. Another
    /// length is refused: longer with
    /// [`FrameTooLarge`](CoreError::FrameTooLarge), shorter with an
    /// `InvalidInput` [`Error::Os`].
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        let Ok(bytes) = <[u8; 8]>::try_from(msg) else {
            if msg.len() > 8 {
                return Err(CoreError::FrameTooLarge {
                    len: u32::try_from(msg.len()).unwrap_or(u32::MAX),
                    max: 8,
                }
                .into());
            }
            return Err(Error::Os(OsError::new(
                "eventfd write",
                self.target(),
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "an eventfd message is exactly 8 bytes",
                ),
            )));
        };
        self.notify_timeout(u64::from_ne_bytes(bytes), timeout)
    }

    fn max_message_len(&self) -> usize {
        8
    }
}

impl MessageReceiver for EventFd {
    /// Waits and writes the value taken (8 bytes, native-endian) to `buf`,
    /// which must hold 8 bytes ([`BufferTooSmall`](CoreError::BufferTooSmall)
    /// before any wait otherwise).
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        let Some(out) = buf.get_mut(..8) else {
            return Err(CoreError::BufferTooSmall { required: 8 }.into());
        };
        let v = self.wait_timeout(timeout)?;
        out.copy_from_slice(&v.to_ne_bytes());
        Ok(8)
    }

    fn max_message_len(&self) -> usize {
        8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_and_semaphore() {
        let c = EventFd::new(1, EventFdMode::Counter).unwrap();
        c.notify(4).unwrap();
        assert_eq!(c.try_wait().unwrap(), 5);
        assert!(c.try_wait().unwrap_err().is_empty());
        let s = EventFd::new(2, EventFdMode::Semaphore).unwrap();
        assert_eq!(s.wait().unwrap(), 1);
        assert_eq!(s.wait().unwrap(), 1);
        assert!(
            s.wait_timeout(Some(Duration::from_millis(5)))
                .unwrap_err()
                .is_timeout()
        );
    }

    #[test]
    fn overflow_and_messages() {
        let mut c = EventFd::new(0, EventFdMode::Counter).unwrap();
        c.notify(MAX_COUNT).unwrap();
        assert!(
            c.notify_timeout(1, Some(Duration::ZERO))
                .unwrap_err()
                .is_full()
        );
        assert!(c.notify(u64::MAX).is_err());
        let mut buf = [0; 8];
        assert_eq!(c.recv(&mut buf).unwrap(), 8);
        assert_eq!(u64::from_ne_bytes(buf), MAX_COUNT);
        c.send(&7u64.to_ne_bytes()).unwrap();
        assert_eq!(c.recv_vec().unwrap(), 7u64.to_ne_bytes());
        assert!(c.send(&[1; 4]).is_err());
        assert_eq!(
            c.send(&[1; 9]).unwrap_err().core(),
            Some(CoreError::FrameTooLarge { len: 9, max: 8 })
        );
        assert_eq!(
            c.recv(&mut [0; 7]).unwrap_err().core(),
            Some(CoreError::BufferTooSmall { required: 8 })
        );
    }
}

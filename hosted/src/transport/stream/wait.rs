//! Deadlines, and waiting for a descriptor until one.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use super::fd_name;
use crate::error::{Error, Result};

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

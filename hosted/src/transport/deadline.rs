//! Deadlines for the transports' timeouts: monotonic for our own loops,
//! `CLOCK_REALTIME` absolute for the calls that take one
//! (`mq_timedsend`, `sem_timedwait`), and a sleeping poller for the
//! mechanisms that cannot wait with a timeout at all.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// When a wait ends: never (`None`) or at an instant.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    /// The deadline of `timeout` from now (`None`, or one too far to
    /// represent, is never).
    pub(crate) fn after(timeout: Option<Duration>) -> Self {
        Self(timeout.and_then(|t| Instant::now().checked_add(t)))
    }

    /// The time left: `None` for never, zero once passed.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        self.0
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// `true` once the deadline has passed.
    pub(crate) fn expired(&self) -> bool {
        self.remaining() == Some(Duration::ZERO)
    }

    /// The time left as a `timespec` for `ppoll`/`semtimedop` (`None`:
    /// never).
    pub(crate) fn remaining_timespec(&self) -> Option<libc::timespec> {
        self.remaining().map(relative_timespec)
    }
}

/// A relative `timespec` of `d`, saturating at `time_t::MAX` seconds.
pub(crate) fn relative_timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: d.subsec_nanos().into(),
    }
}

/// The absolute `CLOCK_REALTIME` deadline `timeout` from now, for the calls
/// that take one (`mq_timedsend`, `mq_timedreceive`, `sem_timedwait`).
///
/// `Duration::ZERO` gives the epoch: already passed, so such a call returns
/// `ETIMEDOUT` at once when it would block (a "try"). `None` means a deadline
/// too far to represent (wait forever instead). The nanoseconds carry into
/// the seconds, so `tv_nsec` stays below 10^9 as the kernel requires.
///
/// Being on the wall clock, such a deadline moves when the clock is set: a
/// step backwards lengthens the wait. Our loops retry after `EINTR` with the
/// same absolute deadline, so a signal does not restart the timeout.
pub(crate) fn realtime_deadline(timeout: Duration) -> Option<libc::timespec> {
    if timeout.is_zero() {
        return Some(libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        });
    }
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid out-pointer; CLOCK_REALTIME always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
    #[allow(clippy::unnecessary_cast)] // `c_long` is `i32` on 32-bit targets
    let mut nsec = now.tv_nsec as i64 + i64::from(timeout.subsec_nanos());
    let mut carry = 0;
    if nsec >= 1_000_000_000 {
        nsec -= 1_000_000_000;
        carry = 1;
    }
    let secs = libc::time_t::try_from(timeout.as_secs()).ok()?;
    let tv_sec = now.tv_sec.checked_add(secs)?.checked_add(carry)?;
    Some(libc::timespec {
        tv_sec,
        // Below 10^9, so it fits every `c_long`.
        tv_nsec: nsec as libc::c_long,
    })
}

/// Sleeps between attempts of an operation that cannot wait in the kernel
/// with a timeout (a System V queue with `IPC_NOWAIT`, a signal queue, the
/// end of a log file): first yields, then sleeps from 20 µs doubling up to
/// `max_sleep`, never past the deadline.
#[derive(Debug)]
pub(crate) struct Poller {
    deadline: Deadline,
    zero: bool,
    attempts: u32,
    sleep: Duration,
    max_sleep: Duration,
}

impl Poller {
    /// A poller for `timeout` (see the message module for its meaning).
    pub(crate) fn new(timeout: Option<Duration>, max_sleep: Duration) -> Self {
        Self {
            deadline: Deadline::after(timeout),
            zero: timeout == Some(Duration::ZERO),
            attempts: 0,
            sleep: Duration::from_micros(20),
            max_sleep,
        }
    }

    /// Waits before the next attempt; `Err(flow)` when the deadline has
    /// passed: `flow` (`Full`/`Empty`) for a zero timeout, else `TimedOut`.
    pub(crate) fn pause(&mut self, flow: Error) -> Result<()> {
        if self.zero {
            return Err(flow);
        }
        let remaining = self.deadline.remaining();
        if remaining == Some(Duration::ZERO) {
            return Err(Error::TimedOut);
        }
        self.attempts += 1;
        if self.attempts <= 4 {
            std::thread::yield_now();
            return Ok(());
        }
        let nap = remaining.map_or(self.sleep, |r| r.min(self.sleep));
        std::thread::sleep(nap);
        self.sleep = (self.sleep * 2).min(self.max_sleep);
        Ok(())
    }
}

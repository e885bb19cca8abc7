//! The `raw/eventfd` variant: two eventfds inherited across `fork`, blocking
//! `read`/`write`, and the `SIGALRM` watchdog that interrupts a read so the
//! parent can look at a silent child.

use std::io;
use std::time::Duration;

use crate::STOP;
use crate::child::{Child, EXIT_IO_ERROR, EXIT_OK, Stall, fork_pinned};
use crate::session::{Pinger, check_reply};

/// The period of the eventfd watchdog.
const WATCHDOG_PERIOD: Duration = Duration::from_secs(1);

/// Writes `value` to an eventfd (blocking; never blocks here, as at most one
/// value is pending). Async-signal-safe.
fn eventfd_write(fd: libc::c_int, value: u64) -> io::Result<()> {
    loop {
        // SAFETY: writes 8 bytes from a live `u64` to a file descriptor we
        // own.
        let n = unsafe { libc::write(fd, (&value as *const u64).cast(), 8) };
        if n == 8 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Reads an eventfd (blocking). `Ok(None)` when a signal interrupted the
/// read. Async-signal-safe.
fn eventfd_read(fd: libc::c_int) -> io::Result<Option<u64>> {
    let mut value = 0u64;
    // SAFETY: reads 8 bytes into a live `u64` from a file descriptor we own.
    let n = unsafe { libc::read(fd, (&mut value as *mut u64).cast(), 8) };
    if n == 8 {
        return Ok(Some(value));
    }
    let err = io::Error::last_os_error();
    if err.kind() == io::ErrorKind::Interrupted {
        Ok(None)
    } else {
        Err(err)
    }
}

/// The watchdog for blocking eventfd reads: a periodic `SIGALRM` (every
/// [`WATCHDOG_PERIOD`]) with a handler that does nothing, installed without
/// `SA_RESTART` so that it interrupts a `read`. Periodic, so that a signal
/// that lands between two reads cannot leave the next one unguarded. Blocked
/// in every thread except while an eventfd sample runs on the main thread
/// (criterion's threads inherit the blocked mask from it); interval timers
/// are not inherited by a forked child.
pub mod watchdog {
    use std::time::Duration;

    extern "C" fn on_alarm(_: libc::c_int) {}

    fn mask(how: libc::c_int) {
        // SAFETY: `set` is initialised by `sigemptyset` before use; the
        // calls only change this thread's signal mask.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGALRM);
            libc::pthread_sigmask(how, &set, std::ptr::null_mut());
        }
    }

    /// Installs the handler and blocks the signal. Call first in `main`,
    /// before any thread exists.
    pub fn install() {
        mask(libc::SIG_BLOCK);
        // SAFETY: a zeroed `sigaction` with a handler that is async-signal-
        // safe (it does nothing); no `SA_RESTART`, so blocking calls return
        // `EINTR`.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_alarm as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut());
        }
    }

    fn set_timer(period: Duration) {
        let tv = libc::timeval {
            tv_sec: period.as_secs() as libc::time_t,
            tv_usec: period.subsec_micros() as libc::suseconds_t,
        };
        let timer = libc::itimerval {
            it_interval: tv,
            it_value: tv,
        };
        // SAFETY: `timer` is a valid `itimerval`; the call only sets this
        // process's real-time interval timer.
        unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) };
    }

    /// Unblocks the signal on this thread and starts the periodic timer.
    pub fn arm() {
        mask(libc::SIG_UNBLOCK);
        set_timer(super::WATCHDOG_PERIOD);
    }

    /// Stops the timer and blocks the signal again.
    pub fn disarm() {
        set_timer(Duration::ZERO);
        mask(libc::SIG_BLOCK);
    }
}

/// Two eventfds: requests to the child, replies to the parent.
pub struct EventfdPinger {
    request: libc::c_int,
    reply: libc::c_int,
}

impl Drop for EventfdPinger {
    fn drop(&mut self) {
        // SAFETY: both descriptors are ours and closed exactly once.
        unsafe {
            libc::close(self.request);
            libc::close(self.reply);
        }
    }
}

fn eventfd() -> Result<libc::c_int, String> {
    // SAFETY: plain system call; the descriptor is owned by the caller.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        Err(format!("eventfd: {}", io::Error::last_os_error()))
    } else {
        Ok(fd)
    }
}

/// The child's side of the eventfd variant (the parent's death kills it, so
/// its blocking reads need no timeout).
fn eventfd_echo(request: libc::c_int, reply: libc::c_int) -> i32 {
    loop {
        let v = match eventfd_read(request) {
            Ok(Some(v)) => v,
            Ok(None) => continue,
            Err(_) => return EXIT_IO_ERROR,
        };
        if v == STOP {
            return EXIT_OK;
        }
        if eventfd_write(reply, v).is_err() {
            return EXIT_IO_ERROR;
        }
    }
}

impl EventfdPinger {
    pub fn start() -> Result<(Self, Child), String> {
        let request = eventfd()?;
        let pinger = Self {
            request,
            reply: eventfd().inspect_err(|_| {
                // SAFETY: ours, not closed anywhere else.
                unsafe { libc::close(request) };
            })?,
        };
        // SAFETY: `eventfd_echo` makes `read` and `write` system calls only.
        let child = unsafe { fork_pinned(|| eventfd_echo(pinger.request, pinger.reply))? };
        Ok((pinger, child))
    }
}

impl Pinger for EventfdPinger {
    #[inline]
    fn round_trip(&mut self, seq: u64, child: &mut Child) -> Result<(), String> {
        eventfd_write(self.request, seq).map_err(|e| format!("eventfd write: {e}"))?;
        let mut stall = Stall::new();
        loop {
            match eventfd_read(self.reply) {
                Ok(Some(v)) => return check_reply(seq, v),
                // The watchdog went off: look at the child.
                Ok(None) => stall.check(child)?,
                Err(e) => return Err(format!("eventfd read: {e}")),
            }
        }
    }

    fn stop(&mut self) -> Result<(), String> {
        eventfd_write(self.request, STOP).map_err(|e| format!("eventfd write: {e}"))
    }
}

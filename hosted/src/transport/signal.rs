//! Signals with a payload: `sigqueue(3)` sends an integer with a real-time
//! signal to a process, which receives it synchronously through
//! `signalfd(2)`, with the sender's pid. No signal handler runs, so no
//! code of ours ever runs in signal context.
//!
//! # Blocking the signal first
//! A signal read through a signalfd must be *blocked* in every thread of the
//! receiving process: a thread that does not block it would take it with
//! its default action, which for a real-time signal terminates the
//! process. [`SignalReceiver::new`] blocks it in the calling thread
//! (`pthread_sigmask`); threads started afterwards inherit that mask, threads
//! started before do not. So create the receiver (or call [`block_signal`])
//! in `main` *before* spawning threads, and before the sender can send
//! (before forking or announcing the pid). A forked child inherits the
//! mask too.
//!
//! # Queue limits
//! Real-time signals queue (standard ones coalesce), in order, each
//! holding a kernel `sigqueue` entry charged to the *receiving* user's
//! `RLIMIT_SIGPENDING` (`ulimit -i`, typically a few thousand to some
//! tens of thousands, shared by every process of that user). When it is
//! exhausted `sigqueue` fails with `EAGAIN`: [`SignalSender`] reports
//! [`Full`](Error::Full) for a zero timeout and otherwise retries,
//! sleeping (there is no way to wait for room), until its deadline. A
//! signal is a notification with a word attached, not a bulk transport.
//!
//! # As a message transport
//! The [message traits](crate::message) carry a 4-byte message: the `i32`
//! payload in native byte order. A sender to a process that no longer
//! exists gets [`PeerGone`](Error::PeerGone) (`ESRCH`); a receiver cannot
//! tell that its sender died, so give it a timeout.
//!
//! (A doctest of its own process: merged doctests run on several threads,
//! which would not all block the signal.)
//!
//! ```standalone_crate
//! use std::time::Duration;
//! use ipckit::transport::signal::{SignalReceiver, SignalSender, rt_signal};
//!
//! let signo = rt_signal(3)?;
//! let mut rx = SignalReceiver::new(signo)?; // blocks it in this thread
//! let tx = SignalSender::new(std::process::id(), signo);
//! tx.send_value(42, None)?;
//! let info = rx.recv_signal(Some(Duration::from_secs(5)))?;
//! assert_eq!((info.value, info.pid), (42, std::process::id()));
//! # Ok::<(), ipckit::Error>(())
//! ```

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::deadline::{Deadline, Poller};
use crate::error::{CoreError, Error, OsError, Result, Role};
use crate::message::{MessageReceiver, MessageSender};

/// Real-time signal `SIGRTMIN + n`: an error if above `SIGRTMAX`.
pub fn rt_signal(n: u32) -> Result<libc::c_int> {
    let max = libc::SIGRTMAX();
    let signo = i64::from(libc::SIGRTMIN()) + i64::from(n);
    if signo > i64::from(max) {
        return Err(Error::Os(OsError::new(
            "rt_signal",
            format!("SIGRTMIN+{n}"),
            io::Error::new(io::ErrorKind::InvalidInput, "above SIGRTMAX"),
        )));
    }
    Ok(signo as libc::c_int)
}

fn sigset_of(signo: libc::c_int) -> Result<libc::sigset_t> {
    // SAFETY: a zeroed `sigset_t` is a valid value; `sigemptyset` sets it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset.
    let r = unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signo)
    };
    if r != 0 {
        return Err(Error::last_os("sigaddset", format!("signal {signo}")));
    }
    Ok(set)
}

/// Blocks `signo` in the calling thread (`pthread_sigmask(SIG_BLOCK)`).
/// Threads spawned afterwards inherit the mask: call this in `main` before
/// spawning any, for every signal read through a [`SignalReceiver`].
pub fn block_signal(signo: libc::c_int) -> Result<()> {
    let set = sigset_of(signo)?;
    // SAFETY: `set` is a valid sigset; the old mask is not wanted.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if r != 0 {
        return Err(Error::os(
            "pthread_sigmask",
            format!("signal {signo}"),
            io::Error::from_raw_os_error(r),
        ));
    }
    Ok(())
}

/// One received signal: its payload and who sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalInfo {
    /// The signal number.
    pub signo: libc::c_int,
    /// The payload (`sival_int`); 0 for a signal sent with `kill`.
    pub value: i32,
    /// The sender's pid.
    pub pid: u32,
    /// The sender's real uid.
    pub uid: u32,
    /// How it was sent: `SI_QUEUE` (-1) for `sigqueue`, `SI_USER` (0) for
    /// `kill`.
    pub code: i32,
}

/// Receives one real-time signal synchronously through a signalfd.
#[derive(Debug)]
pub struct SignalReceiver {
    fd: OwnedFd,
    signo: libc::c_int,
}

impl SignalReceiver {
    /// Blocks `signo` in the calling thread (see the
    /// [module docs](self) on threads) and opens a non-blocking,
    /// close-on-exec signalfd for it.
    ///
    /// Dropping the receiver closes the signalfd but leaves the signal
    /// blocked: signals that arrive later stay pending instead of killing
    /// the process.
    pub fn new(signo: libc::c_int) -> Result<Self> {
        block_signal(signo)?;
        let set = sigset_of(signo)?;
        // SAFETY: -1 asks for a new signalfd; `set` is a valid sigset.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        if fd < 0 {
            return Err(Error::last_os("signalfd", format!("signal {signo}")));
        }
        // SAFETY: `fd` is a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self { fd, signo })
    }

    /// The signal this receiver takes.
    pub fn signal(&self) -> libc::c_int {
        self.signo
    }

    /// Takes the next queued signal, waiting at most `timeout`.
    pub fn recv_signal(&mut self, timeout: Option<Duration>) -> Result<SignalInfo> {
        let deadline = Deadline::after(timeout);
        loop {
            // SAFETY: all-zero is a valid `signalfd_siginfo`.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            // SAFETY: our descriptor; `info` is valid for `size` bytes.
            let r = unsafe { libc::read(self.fd.as_raw_fd(), (&raw mut info).cast(), size) };
            if r == size as isize {
                return Ok(SignalInfo {
                    signo: info.ssi_signo as libc::c_int,
                    value: info.ssi_int,
                    pid: info.ssi_pid,
                    uid: info.ssi_uid,
                    code: info.ssi_code,
                });
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => {}
                _ => return Err(Error::os("read", self.target(), err)),
            }
            if timeout == Some(Duration::ZERO) {
                return Err(Error::Empty);
            }
            if deadline.expired() {
                return Err(Error::TimedOut);
            }
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ts = deadline.remaining_timespec();
            let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
            // SAFETY: one valid `pollfd`; `ts_ptr` is null or valid.
            let r = unsafe { libc::ppoll(&mut pfd, 1, ts_ptr, std::ptr::null()) };
            if r < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return Err(Error::last_os("ppoll", self.target()));
            }
        }
    }

    fn target(&self) -> String {
        format!("signalfd {} (signal {})", self.fd.as_raw_fd(), self.signo)
    }
}

impl AsFd for SignalReceiver {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for SignalReceiver {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Sends a real-time signal with an integer payload to one process.
#[derive(Debug, Clone, Copy)]
pub struct SignalSender {
    pid: u32,
    signo: libc::c_int,
}

impl SignalSender {
    /// A sender of `signo` to process `pid`. Nothing is checked until the
    /// first send.
    pub fn new(pid: u32, signo: libc::c_int) -> Self {
        Self { pid, signo }
    }

    /// The receiving process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Queues the signal with payload `value`. When the receiver's queue is
    /// full (`EAGAIN`), retries with short sleeps for at most `timeout`:
    /// [`Full`](Error::Full) for a zero timeout, else
    /// [`TimedOut`](Error::TimedOut). A process that does not exist is
    /// [`PeerGone`](Error::PeerGone).
    pub fn send_value(&self, value: i32, timeout: Option<Duration>) -> Result<()> {
        let mut val = libc::sigval {
            sival_ptr: std::ptr::null_mut(),
        };
        // SAFETY: `sigval` is a C union of `int` and `void *`, both at
        // offset 0; writing the `int` member this way is what C does on
        // either byte order.
        unsafe { (&raw mut val).cast::<libc::c_int>().write(value) };
        let pid = libc::pid_t::try_from(self.pid).unwrap_or(-1);
        let mut poller = Poller::new(timeout, Duration::from_millis(1));
        loop {
            // SAFETY: plain system call with a valid sigval.
            if unsafe { libc::sigqueue(pid, self.signo, val) } == 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN) => poller.pause(Error::Full)?,
                Some(libc::ESRCH) => {
                    return Err(Error::PeerGone {
                        peer: Some(Role::Consumer),
                        pid: Some(self.pid),
                    });
                }
                _ => {
                    return Err(Error::os(
                        "sigqueue",
                        format!("pid {} signal {}", self.pid, self.signo),
                        err,
                    ));
                }
            }
        }
    }
}

impl MessageSender for SignalSender {
    /// Sends the 4-byte native-endian `i32` `msg`; another length is
    /// refused (longer: [`FrameTooLarge`](CoreError::FrameTooLarge)).
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        let Ok(bytes) = <[u8; 4]>::try_from(msg) else {
            if msg.len() > 4 {
                return Err(CoreError::FrameTooLarge {
                    len: u32::try_from(msg.len()).unwrap_or(u32::MAX),
                    max: 4,
                }
                .into());
            }
            return Err(Error::Os(OsError::new(
                "sigqueue",
                format!("pid {}", self.pid),
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a signal message is exactly 4 bytes",
                ),
            )));
        };
        self.send_value(i32::from_ne_bytes(bytes), timeout)
    }

    fn max_message_len(&self) -> usize {
        4
    }
}

impl MessageReceiver for SignalReceiver {
    /// Writes the payload (4 bytes, native-endian) to `buf`, which must hold
    /// 4 bytes ([`BufferTooSmall`](CoreError::BufferTooSmall) before any
    /// wait otherwise).
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        if buf.len() < 4 {
            return Err(CoreError::BufferTooSmall { required: 4 }.into());
        }
        let info = self.recv_signal(timeout)?;
        buf[..4].copy_from_slice(&info.value.to_ne_bytes());
        Ok(4)
    }

    fn max_message_len(&self) -> usize {
        4
    }
}

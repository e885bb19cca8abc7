//! Waiting on many: a [`WaitSet`] blocks one thread on many descriptors and
//! timers, and reports which are ready, for programs that do not want an
//! async runtime (iceoryx2's `WaitSet` does the same job).
//!
//! Underneath is one `epoll` instance, level-triggered: a source stays
//! ready, and is reported by every [`wait`](WaitSet::wait), until the caller
//! consumes what made it ready (reads the message, drains the eventfd).
//! Timers are `timerfd`s on `CLOCK_MONOTONIC` that the set owns and reads
//! itself: a tick is reported once, with the number of periods that elapsed
//! since the last report ([`Readiness::timer_ticks`], more than 1 when the
//! caller was late).
//!
//! ```
//! use std::time::Duration;
//! use ipckit::message::{MessageReceiver, MessageSender};
//! use ipckit::transport::pipe;
//! use ipckit::waitset::{Interest, Timer, WaitSet};
//!
//! let (mut tx, mut rx) = pipe::pipe()?;
//! let mut set = WaitSet::new()?;
//! let pipe_token = set.add(&rx, Interest::READABLE)?;
//! let timer_token = set.add_timer(Timer::every(Duration::from_millis(5)))?;
//!
//! tx.send(b"hello")?;
//! let (mut got_message, mut got_tick) = (false, false);
//! while !(got_message && got_tick) {
//!     for (token, readiness) in &set.wait(Some(Duration::from_secs(5)))? {
//!         if token == pipe_token && readiness.readable {
//!             let mut buf = [0; 16];
//!             let n = rx.recv(&mut buf)?;
//!             assert_eq!(&buf[..n], b"hello");
//!             got_message = true;
//!         } else if token == timer_token {
//!             assert!(readiness.timer_ticks >= 1);
//!             got_tick = true;
//!         }
//!     }
//! }
//! # Ok::<(), ipckit::Error>(())
//! ```
//!
//! # What a set accepts
//! - **Today**: anything with a descriptor ([`AsFd`]): every kernel
//!   transport of [`transport`](crate::transport) that has one (pipes,
//!   FIFOs, Unix stream connections and TCP connections as their
//!   [`Framed`](crate::transport::stream::Framed) value, Unix datagram and
//!   seqpacket sockets, the listeners, POSIX message queues, eventfd,
//!   signalfd; not yet a [`Popen`](crate::transport::popen::Popen), which
//!   keeps its two pipes to itself), any other pollable descriptor of the
//!   program, and another `WaitSet` (an epoll descriptor is itself
//!   pollable: `WaitSet` implements `AsFd`, so it nests in tokio's
//!   `AsyncFd` or any other loop); and timers ([`WaitSet::add_timer`]).
//! - **Coming**: shared-memory endpoints ([`channel`](crate::channel),
//!   [`pubsub`](mod@crate::pubsub)). They sleep on futexes, which epoll
//!   cannot watch; each will get a readiness descriptor (a doorbell, issue
//!   18 item 1; `docs/WAKING.md`), and the set will then *arm and re-check*
//!   each such endpoint before `epoll_wait` (a message that arrived before
//!   the arm is found by the re-check, not lost) and withdraw the arm after.
//! - **Never directly**: the mechanisms the kernel gives no descriptor for:
//!   System V message queues and semaphores, POSIX named semaphores, and the
//!   file log (OFD locks). They need a helper thread that waits on them and
//!   notifies an [`EventFd`](crate::transport::eventfd::EventFd) in the set,
//!   or timed polling (a periodic timer in the set and a `try_` call on each
//!   tick); the set does not accept them (they do not implement `AsFd`).
//!
//! # Framed streams: drain after a report
//! Pipes, FIFOs, Unix stream sockets and TCP carry frames through a reader
//! that reads ahead: one `read` may take several frames into its buffer, and
//! a frame waiting there does not make the descriptor readable. After a
//! readable report, receive with
//! [`try_recv`](crate::message::MessageReceiver::try_recv) until
//! [`Empty`](Error::Empty) (as with any level-triggered loop over buffered
//! readers). Datagram, seqpacket and queue transports and eventfd keep no
//! buffer: one receive per report is enough, draining is harmless.
//!
//! # The caller's duty: remove before closing
//! The set does not own the sources it watches; it holds their numbers.
//! [`remove`](WaitSet::remove) a source before closing its descriptor. The
//! kernel drops a registration only when the *last* reference to the open
//! file goes: a source closed while a duplicate of it lives (a `dup`, a
//! forked child's copy) stays registered and keeps being reported under its
//! token, which `remove` can no longer withdraw: its reports are dropped
//! while other sources are ready, and a wait that finds nothing else ready
//! fails with an error saying so (rather than spinning on it).
//!
//! Tokens are never reused by one set: a stale token is reported as
//! unknown, never mistaken for a newer source.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::error::{Error, OsError, Result};
use crate::transport::deadline::{Deadline, relative_timespec};

mod readiness;
#[cfg(test)]
mod tests;

pub use readiness::{Interest, Readiness, Ready, Timer, Token};

/// Why a wait fails when a removed source is still reported.
const STALE: &str = "a removed source is still registered and ready (its descriptor was \
     closed before `remove` while a duplicate of it lives); the set cannot drop it";

/// The most events one `epoll_wait` returns; more ready sources are
/// reported by the next [`WaitSet::wait`] (level-triggered, none is lost).
const MAX_EVENTS: usize = 1024;

/// A source of a set: a borrowed descriptor's number, or a timer it owns.
#[derive(Debug)]
enum Source {
    Fd(RawFd),
    Timer(OwnedFd),
}

impl Source {
    fn raw(&self) -> RawFd {
        match self {
            Source::Fd(fd) => *fd,
            Source::Timer(fd) => fd.as_raw_fd(),
        }
    }
}

/// One thread's wait on many descriptors and timers (see the
/// [module docs](self)): [`add`](Self::add) sources, [`wait`](Self::wait),
/// handle what is ready, repeat.
///
/// ```
/// use std::time::Duration;
/// use ipckit::transport::eventfd::{EventFd, EventFdMode};
/// use ipckit::waitset::{Interest, WaitSet};
///
/// let efd = EventFd::new(0, EventFdMode::Counter)?;
/// let mut set = WaitSet::new()?;
/// let token = set.add(&efd, Interest::READABLE)?;
/// assert!(set.wait(Some(Duration::from_millis(1)))?.is_empty()); // timed out
///
/// efd.notify(1)?;
/// assert!(set.wait(None)?.get(token).is_some_and(|r| r.readable));
/// set.remove(token)?; // before `efd` is closed
/// # Ok::<(), ipckit::Error>(())
/// ```
#[derive(Debug)]
pub struct WaitSet {
    epoll: OwnedFd,
    sources: HashMap<u64, Source>,
    next_token: u64,
    /// Removes whose `EPOLL_CTL_DEL` failed (the descriptor was closed):
    /// registrations that may linger, counted so that they cannot crowd
    /// the live sources out of a wait's buffer.
    leftovers: usize,
    events: Vec<libc::epoll_event>,
    ready: Vec<(Token, Readiness)>,
}

impl WaitSet {
    /// An empty set (`epoll_create1(EPOLL_CLOEXEC)`).
    pub fn new() -> Result<Self> {
        // SAFETY: plain system call.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(Error::last_os("epoll_create1", "waitset"));
        }
        Ok(Self {
            // SAFETY: `fd` is a new descriptor that nothing else owns.
            epoll: unsafe { OwnedFd::from_raw_fd(fd) },
            sources: HashMap::new(),
            next_token: 0,
            leftovers: 0,
            events: Vec::new(),
            ready: Vec::new(),
        })
    }

    /// Watches `source` for `interest` (level-triggered) and returns its
    /// token. The set borrows the descriptor's number only: remove it
    /// before closing the descriptor (module docs). The same open file
    /// twice is refused ([`Error::AlreadyExists`]).
    pub fn add(&mut self, source: &impl AsFd, interest: Interest) -> Result<Token> {
        let raw = source.as_fd().as_raw_fd();
        self.register(Source::Fd(raw), interest.epoll_events())
    }

    /// Adds a timer (a `timerfd` on `CLOCK_MONOTONIC` that the set owns)
    /// and returns its token. A one-shot timer stays in the set after its
    /// tick, silent; [`remove`](Self::remove) it to free its descriptor. A
    /// zero period is refused.
    pub fn add_timer(&mut self, timer: Timer) -> Result<Token> {
        if timer.period == Some(Duration::ZERO) {
            return Err(invalid(
                "timerfd_settime",
                "a periodic timer needs a period above zero",
            ));
        }
        // SAFETY: plain system call.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(Error::last_os("timerfd_create", "waitset timer"));
        }
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // A zero `it_value` would disarm the timer: "at once" is 1 ns.
        let first = timer.first.max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: relative_timespec(timer.period.unwrap_or(Duration::ZERO)),
            it_value: relative_timespec(first),
        };
        // SAFETY: our descriptor; `spec` is a valid itimerspec; no old value
        // is asked for.
        if unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) } < 0 {
            return Err(Error::last_os(
                "timerfd_settime",
                format!("timerfd {}", fd.as_raw_fd()),
            ));
        }
        self.register(Source::Timer(fd), libc::EPOLLIN as u32)
    }

    fn register(&mut self, source: Source, events: u32) -> Result<Token> {
        let token = self.next_token;
        let mut event = libc::epoll_event { events, u64: token };
        let raw = source.raw();
        // SAFETY: our epoll descriptor; `raw` is open (borrowed by the
        // caller or owned by `source`); `event` is a valid epoll_event.
        if unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, raw, &mut event) }
            < 0
        {
            return Err(Error::last_os(
                "waitset add (epoll_ctl)",
                format!("fd {raw}"),
            ));
        }
        self.next_token += 1;
        self.sources.insert(token, source);
        Ok(Token(token))
    }

    /// Stops watching `token`'s source (a timer's descriptor is closed).
    /// A token this set does not hold (never given, or removed) is an
    /// [`Error::NotFound`] naming it. A descriptor already closed is
    /// forgotten all the same.
    pub fn remove(&mut self, token: Token) -> Result<()> {
        let source = self
            .sources
            .remove(&token.0)
            .ok_or_else(|| unknown(token))?;
        let raw = source.raw();
        // SAFETY: our epoll descriptor; a null event is allowed for DEL.
        let r = unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                raw,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let err = io::Error::last_os_error();
            // EBADF: closed; ENOENT: closed and the number reused. Either
            // way the token is gone; late reports of it are filtered.
            if !matches!(err.raw_os_error(), Some(libc::EBADF | libc::ENOENT)) {
                return Err(Error::os(
                    "waitset remove (epoll_ctl)",
                    format!("{token}, fd {raw}"),
                    err,
                ));
            }
            self.leftovers = self.leftovers.saturating_add(1);
        }
        Ok(())
    }

    /// How many sources the set watches.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// `true` if it watches none.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Waits until at least one source is ready or `timeout` passes
    /// (`None`: no limit), and returns the ready ones (empty on timeout).
    /// A signal does not end the wait early: it is resumed for the time
    /// left. Timers are read (cleared) here and report their elapsed
    /// periods; descriptors stay ready until the caller consumes them.
    ///
    /// An empty set without a timeout would sleep forever: refused with an
    /// `InvalidInput` [`Error::Os`].
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<Ready<'_>> {
        if self.sources.is_empty() && timeout.is_none() {
            return Err(invalid(
                "epoll_wait",
                "the set is empty and there is no timeout",
            ));
        }
        let deadline = Deadline::after(timeout);
        // One more than the registrations that may exist: a batch of
        // leftovers alone is then never full (below MAX_EVENTS).
        let registrations = self.sources.len().saturating_add(self.leftovers);
        let capacity = registrations.saturating_add(1).min(MAX_EVENTS);
        self.events.clear();
        self.events
            .resize(capacity, libc::epoll_event { events: 0, u64: 0 });
        self.ready.clear();
        loop {
            let ms = epoll_timeout_ms(deadline.remaining());
            // SAFETY: our epoll descriptor; `events` has room for `capacity`
            // (≤ MAX_EVENTS, fits in c_int) entries.
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    self.events.as_mut_ptr(),
                    capacity as libc::c_int,
                    ms,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.raw_os_error() == Some(libc::EINTR) && !deadline.expired() {
                    continue;
                }
                if err.raw_os_error() == Some(libc::EINTR) {
                    return Ok(Ready { items: &[] });
                }
                return Err(Error::os("epoll_wait", "waitset", err));
            }
            let n = usize::try_from(n).unwrap_or(0).min(capacity);
            let mut stale = None;
            for event in &self.events[..n] {
                let (bits, token) = (event.events, event.u64);
                let Some(source) = self.sources.get(&token) else {
                    // Removed, but the kernel kept the registration: its
                    // descriptor was closed first and its file lives on.
                    stale = Some(Token(token));
                    continue;
                };
                let readiness = match source {
                    Source::Fd(_) => Readiness::from_epoll(bits),
                    Source::Timer(fd) => match read_ticks(fd)? {
                        0 => continue,
                        ticks => Readiness {
                            timer_ticks: ticks,
                            ..Readiness::default()
                        },
                    },
                };
                self.ready.push((Token(token), readiness));
            }
            if self.ready.is_empty() {
                // Nothing but a leftover registration: it stays ready and
                // cannot be dropped, so waiting on would spin. Say so.
                // (A full buffer may have crowded live ones out: then the
                // next call, round-robin, gets them.)
                if let (Some(token), true) = (stale, n < capacity) {
                    return Err(Error::Os(OsError::new(
                        "epoll_wait",
                        format!("waitset, removed {token}"),
                        io::Error::other(STALE),
                    )));
                }
                // A timer another thread read first, or a full buffer of
                // leftovers: wait again for the time left.
                if n > 0 && !deadline.expired() {
                    continue;
                }
            }
            return Ok(Ready { items: &self.ready });
        }
    }
}

impl AsFd for WaitSet {
    /// The epoll descriptor: readable when a source is ready, so a set
    /// nests in another loop (tokio's `AsyncFd`, another `WaitSet`).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }
}

/// `epoll_wait`'s timeout: -1 for none, else milliseconds rounded up (so
/// the wait never ends before the deadline), at most `c_int::MAX`.
fn epoll_timeout_ms(remaining: Option<Duration>) -> libc::c_int {
    let Some(d) = remaining else { return -1 };
    let ms = d.as_nanos().div_ceil(1_000_000);
    libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
}

/// Reads a timerfd's expiry count; 0 if it has none now.
fn read_ticks(fd: &OwnedFd) -> Result<u64> {
    let mut bytes = [0u8; 8];
    // SAFETY: our open timerfd; `bytes` is valid for 8 bytes.
    let r = unsafe { libc::read(fd.as_raw_fd(), bytes.as_mut_ptr().cast(), 8) };
    if r == 8 {
        return Ok(u64::from_ne_bytes(bytes));
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EAGAIN | libc::EINTR) => Ok(0),
        _ => Err(Error::os(
            "timerfd read",
            format!("timerfd {}", fd.as_raw_fd()),
            err,
        )),
    }
}

fn invalid(call: &'static str, why: &'static str) -> Error {
    Error::Os(OsError::new(
        call,
        "waitset",
        io::Error::new(io::ErrorKind::InvalidInput, why),
    ))
}

fn unknown(token: Token) -> Error {
    Error::NotFound(OsError::new(
        "waitset remove",
        token.to_string(),
        io::Error::new(io::ErrorKind::NotFound, "token unknown to this set"),
    ))
}

//! The values a [`WaitSet`](super::WaitSet) takes and reports: tokens,
//! interests, timers and readiness.

use std::fmt;
use std::ops::BitOr;
use std::time::Duration;

#[cfg(doc)]
use super::WaitSet;

/// The name of a source in a [`WaitSet`], returned by
/// [`add`](WaitSet::add) and [`add_timer`](WaitSet::add_timer) and reported
/// by [`wait`](WaitSet::wait). Unique for the life of the set.
///
/// ```
/// use ipckit::transport::eventfd::{EventFd, EventFdMode};
/// use ipckit::waitset::{Interest, WaitSet};
///
/// let mut set = WaitSet::new()?;
/// let a = set.add(&EventFd::new(0, EventFdMode::Counter)?, Interest::READABLE)?;
/// let b = set.add_timer(ipckit::waitset::Timer::after(std::time::Duration::from_secs(60)))?;
/// assert_ne!(a, b);
/// assert_eq!(a.to_string(), format!("token {}", a.get()));
/// # Ok::<(), ipckit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub(super) u64);

impl Token {
    /// The token's number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token {}", self.0)
    }
}

/// What a descriptor is watched for: [`READABLE`](Self::READABLE),
/// [`WRITABLE`](Self::WRITABLE), or both (`READABLE | WRITABLE`). Hang-ups
/// and errors are always reported.
///
/// ```
/// use ipckit::waitset::Interest;
///
/// let both = Interest::READABLE | Interest::WRITABLE;
/// assert!(both.is_readable() && both.is_writable());
/// assert!(!Interest::READABLE.is_writable());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interest {
    readable: bool,
    writable: bool,
}

impl Interest {
    /// Data to read (`EPOLLIN`, with `EPOLLPRI` and `EPOLLRDHUP`).
    pub const READABLE: Self = Self {
        readable: true,
        writable: false,
    };
    /// Room to write (`EPOLLOUT`).
    pub const WRITABLE: Self = Self {
        readable: false,
        writable: true,
    };

    /// `true` if reading is watched.
    pub fn is_readable(self) -> bool {
        self.readable
    }

    /// `true` if writing is watched.
    pub fn is_writable(self) -> bool {
        self.writable
    }

    pub(super) fn epoll_events(self) -> u32 {
        let mut events = 0;
        if self.readable {
            events |= libc::EPOLLIN | libc::EPOLLPRI | libc::EPOLLRDHUP;
        }
        if self.writable {
            events |= libc::EPOLLOUT;
        }
        events as u32
    }
}

impl BitOr for Interest {
    type Output = Self;
    fn bitor(self, other: Self) -> Self {
        Self {
            readable: self.readable || other.readable,
            writable: self.writable || other.writable,
        }
    }
}

/// A timer for [`WaitSet::add_timer`]: once after a delay, or every period
/// (the first tick one period from now). On `CLOCK_MONOTONIC`: setting the
/// wall clock does not move it.
///
/// ```
/// use std::time::Duration;
/// use ipckit::waitset::Timer;
///
/// let once = Timer::after(Duration::from_millis(100));
/// let tick = Timer::every(Duration::from_secs(1));
/// assert_eq!(tick.period(), Some(Duration::from_secs(1)));
/// assert_eq!(once.period(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    pub(super) first: Duration,
    pub(super) period: Option<Duration>,
}

impl Timer {
    /// One tick, `delay` from when it is added (`Duration::ZERO`: at once).
    pub fn after(delay: Duration) -> Self {
        Self {
            first: delay,
            period: None,
        }
    }

    /// A tick every `period`, the first one `period` from when it is added.
    /// A zero period is refused by [`WaitSet::add_timer`].
    pub fn every(period: Duration) -> Self {
        Self {
            first: period,
            period: Some(period),
        }
    }

    /// The period of a periodic timer, `None` for a one-shot one.
    pub fn period(&self) -> Option<Duration> {
        self.period
    }
}

/// Why a source was reported by [`WaitSet::wait`].
///
/// For a descriptor: `readable`, `writable`, `hangup` and `error` as epoll
/// reported them (`hangup`: `EPOLLHUP` or `EPOLLRDHUP`, the peer closed; a
/// read then returns what is left, then end of file or `PeerGone`; `error`:
/// `EPOLLERR`, such as a pipe's write end whose readers are all gone), and
/// `timer_ticks` 0. For a timer: `timer_ticks` ≥ 1, the periods elapsed
/// since it was last reported, and the other fields `false`.
///
/// ```
/// use ipckit::waitset::Readiness;
///
/// let r = Readiness::default();
/// assert!(!r.readable && !r.writable && !r.hangup && !r.error && r.timer_ticks == 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Data to read (or end of file to read).
    pub readable: bool,
    /// Room to write.
    pub writable: bool,
    /// The peer closed (`EPOLLHUP` / `EPOLLRDHUP`).
    pub hangup: bool,
    /// An error condition (`EPOLLERR`).
    pub error: bool,
    /// A timer's elapsed periods since its last report (0 for descriptors).
    pub timer_ticks: u64,
}

impl Readiness {
    pub(super) fn from_epoll(events: u32) -> Self {
        let has = |bits: libc::c_int| events & bits as u32 != 0;
        Self {
            readable: has(libc::EPOLLIN | libc::EPOLLPRI),
            writable: has(libc::EPOLLOUT),
            hangup: has(libc::EPOLLHUP | libc::EPOLLRDHUP),
            error: has(libc::EPOLLERR),
            timer_ticks: 0,
        }
    }
}

/// The sources one [`WaitSet::wait`] found ready, in no particular order;
/// iterate `&ready` (or call [`iter`](Self::iter)) for `(Token, Readiness)`.
/// Empty when the wait timed out.
///
/// ```
/// use std::time::Duration;
/// use ipckit::waitset::{Timer, WaitSet};
///
/// let mut set = WaitSet::new()?;
/// let t = set.add_timer(Timer::after(Duration::ZERO))?;
/// let ready = set.wait(Some(Duration::from_secs(5)))?;
/// assert_eq!(ready.len(), 1);
/// assert_eq!(ready.get(t).map(|r| r.timer_ticks), Some(1));
/// # Ok::<(), ipckit::Error>(())
/// ```
#[derive(Debug)]
pub struct Ready<'a> {
    pub(super) items: &'a [(Token, Readiness)],
}

impl<'a> Ready<'a> {
    /// The ready sources with their readiness.
    pub fn iter(&self) -> impl Iterator<Item = (Token, Readiness)> + 'a {
        self.items.iter().copied()
    }

    /// How many sources are ready.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// `true` if none is (the wait timed out).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The readiness of `token`, if it was reported.
    pub fn get(&self, token: Token) -> Option<Readiness> {
        self.items
            .iter()
            .find(|(t, _)| *t == token)
            .map(|(_, r)| *r)
    }
}

impl<'a> IntoIterator for &Ready<'a> {
    type Item = (Token, Readiness);
    type IntoIter = std::iter::Copied<std::slice::Iter<'a, (Token, Readiness)>>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter().copied()
    }
}

impl<'a> IntoIterator for Ready<'a> {
    type Item = (Token, Readiness);
    type IntoIter = std::iter::Copied<std::slice::Iter<'a, (Token, Readiness)>>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter().copied()
    }
}

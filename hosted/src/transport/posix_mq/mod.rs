//! POSIX message queues (`mq_overview(7)`): kernel-held queues of whole
//! messages with priorities, named like shared memory (`/name`).
//!
//! [`PosixMq::create`] makes a queue with `O_CREAT | O_EXCL` and mode 0600
//! (exactly one of several racing creators wins, the others get
//! [`Error::AlreadyExists`]); [`PosixMq::create_with_mode`] with another
//! mode, set exactly (the umask does not reduce it). [`PosixMq::open`]
//! opens an existing one for sending and receiving, if it is this user's
//! and nobody else may write it; [`PosixMq::open_with`] opens it read-only
//! or write-only ([`Access`]: a user with write permission alone can send)
//! and with another [`Trust`] (see the [object module](crate::object)).
//! Dropping a [`PosixMq`] closes its descriptor; the queue itself lives on
//! until [`PosixMq::unlink`] removes its name (and the last descriptor
//! closes), or a [`RemoveOnDrop`](crate::object::RemoveOnDrop) guard does.
//! Names follow the rules of [`ShmName`]: `"jobs"` and `"/jobs"` are the
//! same queue.
//!
//! # Messages and priorities
//! Each message keeps its boundaries. [`PosixMq::send_with_priority`] sends
//! with a priority below [`MQ_PRIO_MAX`]; a receive takes the oldest message
//! of the highest priority and [`PosixMq::recv_with_priority`] reports it.
//! The [message traits](crate::message) send with priority 0 and receive
//! any.
//!
//! # Sizes
//! - A message longer than the queue's `message_size` is refused with
//!   [`FrameTooLarge`](CoreError::FrameTooLarge) before any call.
//! - The kernel refuses a receive buffer shorter than the queue's
//!   `message_size`, whatever the next message's length (`EMSGSIZE`), and
//!   leaves the message queued. A receive with such a buffer is refused
//!   with [`BufferTooSmall`](CoreError::BufferTooSmall) whose `required` is
//!   `message_size`, before any call: nothing is lost.
//!
//! # Limits
//! [`PosixMq::create`] checks its [`MqAttr`] against
//! `/proc/sys/fs/mqueue/msg_max` and `msgsize_max` (see [`MqLimits`]) and
//! refuses a queue above them with a [`LimitExceeded`] naming the file,
//! where `mq_open` would fail with a bare `EINVAL`. (A process with
//! `CAP_SYS_RESOURCE` could exceed them; ipckit keeps to the unprivileged
//! limits so that a program tested as root also runs as a user.) The sum of
//! one user's queues is capped by `RLIMIT_MSGQUEUE` (`EMFILE` from
//! `mq_open`; a single queue above it is refused up front), and the number
//! of queues by `queues_max` (`ENOSPC`, reported as a [`LimitExceeded`]).
//!
//! # Timeouts
//! `mq_timedsend`/`mq_timedreceive` take an absolute `CLOCK_REALTIME`
//! deadline. It is computed once per call, from the wall clock now plus the
//! timeout (nanoseconds carried), and reused when a signal interrupts the
//! call, so `EINTR` does not restart the timeout; setting the wall clock
//! during a wait shifts it. A zero timeout passes a deadline in the past:
//! the call returns at once, [`Full`](Error::Full) or
//! [`Empty`](Error::Empty).
//!
//! A queue has no notion of a peer: a receiver whose sender died sees an
//! empty queue, so give it a timeout.
//!
//! ```
//! use std::time::Duration;
//! use ipckit::message::{MessageReceiver, MessageSender};
//! use ipckit::transport::posix_mq::{MqAttr, PosixMq};
//!
//! let name = format!("ipckit-doc-mq-{}", std::process::id());
//! let mut q = PosixMq::create(&name, MqAttr { max_messages: 4, message_size: 64 })?;
//! q.send_with_priority(b"low", 1, None)?;
//! q.send_with_priority(b"high", 9, None)?;
//! let mut buf = [0; 64];
//! assert_eq!(q.recv_with_priority(&mut buf, None)?, (4, 9));
//! assert_eq!(q.recv(&mut buf)?, 3);
//! assert!(q.recv_timeout(&mut buf, Some(Duration::ZERO)).is_err()); // Empty
//! PosixMq::unlink(&name)?;
//! # Ok::<(), ipckit::Error>(())
//! ```

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use super::deadline::realtime_deadline;
use super::limits::{LimitExceeded, read_proc_limit, soft_rlimit};
use crate::error::{CoreError, Error, OsError, Result};
use crate::message::{MessageReceiver, MessageSender};
use crate::object::{Access, DEFAULT_MODE, Remove, check_mode, fd_mode};
use crate::shm::{ShmName, Trust};

/// Priorities are below this (Linux: 32768).
pub const MQ_PRIO_MAX: u32 = 32768;

/// The file holding the largest `max_messages` of a queue.
pub const MSG_MAX_PATH: &str = "/proc/sys/fs/mqueue/msg_max";
/// The file holding the largest `message_size` of a queue.
pub const MSGSIZE_MAX_PATH: &str = "/proc/sys/fs/mqueue/msgsize_max";
/// The file holding the most queues the system holds at once.
pub const QUEUES_MAX_PATH: &str = "/proc/sys/fs/mqueue/queues_max";

/// The system's limits on POSIX message queues, from `/proc/sys/fs/mqueue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MqLimits {
    /// The largest `max_messages` (`msg_max`).
    pub msg_max: u64,
    /// The largest `message_size` (`msgsize_max`).
    pub msgsize_max: u64,
    /// The most queues in the system (`queues_max`).
    pub queues_max: u64,
}

impl MqLimits {
    /// Reads the three files.
    pub fn read() -> Result<Self> {
        Ok(Self {
            msg_max: read_proc_limit(MSG_MAX_PATH)?,
            msgsize_max: read_proc_limit(MSGSIZE_MAX_PATH)?,
            queues_max: read_proc_limit(QUEUES_MAX_PATH)?,
        })
    }
}

/// The shape of a queue: how many messages it holds, how long each may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MqAttr {
    /// Messages the queue holds before a sender waits (`mq_maxmsg`).
    pub max_messages: usize,
    /// The longest message in bytes (`mq_msgsize`).
    pub message_size: usize,
}

/// An open POSIX message queue: send and receive end in one.
#[derive(Debug)]
pub struct PosixMq {
    mqd: libc::mqd_t,
    name: ShmName,
    attr: MqAttr,
    access: Access,
}

fn invalid_input(call: &'static str, target: &ShmName, msg: &'static str) -> Error {
    Error::Os(OsError::new(
        call,
        target.as_str(),
        io::Error::new(io::ErrorKind::InvalidInput, msg),
    ))
}

impl PosixMq {
    /// Creates queue `name` (`O_CREAT | O_EXCL`, mode 0600) of shape `attr`,
    /// open for sending and receiving.
    ///
    /// Refused before any call: an invalid name ([`Error::InvalidName`]),
    /// zero sizes, and sizes above the [`MqLimits`] or the
    /// `RLIMIT_MSGQUEUE` resource limit ([`LimitExceeded`]). A name that
    /// exists is [`Error::AlreadyExists`].
    pub fn create(name: &str, attr: MqAttr) -> Result<Self> {
        Self::create_with_mode(name, attr, DEFAULT_MODE)
    }

    /// [`create`](Self::create) with the permission bits `mode` (at most
    /// `0o777`; say `0o620` to let the group send). The queue gets exactly
    /// `mode`: it is set with `fchmod` after creation, so the umask does not
    /// reduce it. Openers of a queue the group or others may write opt in
    /// with [`open_with`](Self::open_with) and a [`Trust`] that accepts it.
    pub fn create_with_mode(name: &str, attr: MqAttr, mode: u32) -> Result<Self> {
        let name = ShmName::new(name)?;
        check_mode(mode, "mq_open", name.as_str())?;
        if attr.max_messages == 0 || attr.message_size == 0 {
            return Err(invalid_input(
                "mq_open",
                &name,
                "max_messages and message_size must be at least 1",
            ));
        }
        let limits = MqLimits::read()?;
        let exceeds = |limit, requested: usize, max| {
            LimitExceeded::new(limit, requested as u64, max).into_error("mq_open", name.as_str())
        };
        if attr.max_messages as u64 > limits.msg_max {
            return Err(exceeds(MSG_MAX_PATH, attr.max_messages, limits.msg_max));
        }
        if attr.message_size as u64 > limits.msgsize_max {
            return Err(exceeds(
                MSGSIZE_MAX_PATH,
                attr.message_size,
                limits.msgsize_max,
            ));
        }
        let bytes = attr.max_messages.saturating_mul(attr.message_size);
        // Not a let chain: those need Rust 1.88, the crate declares 1.85.
        if let Some(rlimit) = soft_rlimit(libc::RLIMIT_MSGQUEUE).filter(|&r| bytes as u64 > r) {
            return Err(exceeds(
                "RLIMIT_MSGQUEUE (bytes of all queues of this user)",
                bytes,
                rlimit,
            ));
        }
        // SAFETY: all-zero is a valid `mq_attr` (plain integers).
        let mut raw: libc::mq_attr = unsafe { std::mem::zeroed() };
        // Both fit: they are at most the /proc limits, which are `int`s.
        raw.mq_maxmsg = attr.max_messages as _;
        raw.mq_msgsize = attr.message_size as _;
        // SAFETY: the name is a NUL-terminated C string; with O_CREAT the
        // variadic arguments are the mode (promoted to `c_uint`) and a
        // pointer to a valid `mq_attr` that outlives the call.
        let mqd = unsafe {
            libc::mq_open(
                name.as_c().as_ptr(),
                libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                mode as libc::c_uint,
                &raw const raw,
            )
        };
        if mqd < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ENOSPC) {
                return Err(LimitExceeded::new(
                    QUEUES_MAX_PATH,
                    limits.queues_max + 1,
                    limits.queues_max,
                )
                .into_error("mq_open", name.as_str()));
            }
            return Err(Error::os("mq_open", name.as_str(), err));
        }
        // Owns `mqd` from here: closed on the error path too.
        let q = Self {
            mqd,
            name,
            attr,
            access: Access::ReadWrite,
        };
        if let Err(e) = crate::object::fchmod(q.fd(), mode, q.name()) {
            // The name is ours (O_EXCL): do not leave a queue of a wrong mode.
            let _ = PosixMq::unlink(q.name());
            return Err(e);
        }
        Ok(q)
    }

    /// Opens the existing queue `name` for sending and receiving, if it is
    /// this user's own and nobody else may write it ([`Trust::Owner`]); its
    /// shape is read with `mq_getattr`. [`Error::NotFound`] if nobody
    /// created it, [`Error::PermissionDenied`] if its mode does not allow
    /// us, [`Error::Untrusted`] if another user owns it or others may write
    /// it (they could fill it with forged messages).
    pub fn open(name: &str) -> Result<Self> {
        Self::open_with(name, Access::ReadWrite, Trust::Owner)
    }

    /// [`open`](Self::open) asking the kernel only for `access` (a queue
    /// this user may only write is opened [`Access::WriteOnly`]) and
    /// accepting the owners and modes `trust` accepts (checked with `fstat`
    /// on the opened descriptor). The handle refuses the direction it did
    /// not ask for with [`Error::PermissionDenied`] naming the queue.
    pub fn open_with(name: &str, access: Access, trust: Trust) -> Result<Self> {
        let name = ShmName::new(name)?;
        // SAFETY: the name is a NUL-terminated C string; without O_CREAT no
        // variadic argument is read.
        let mqd = unsafe { libc::mq_open(name.as_c().as_ptr(), access.flags() | libc::O_CLOEXEC) };
        if mqd < 0 {
            return Err(Error::last_os("mq_open", name.as_str()));
        }
        // Owns `mqd` from here: closed on the error path too.
        let mut q = Self {
            mqd,
            name,
            attr: MqAttr {
                max_messages: 0,
                message_size: 0,
            },
            access,
        };
        trust.check(q.fd(), q.name())?;
        let raw = q.raw_attr()?;
        q.attr = MqAttr {
            max_messages: usize::try_from(raw.mq_maxmsg).unwrap_or(0),
            message_size: usize::try_from(raw.mq_msgsize).unwrap_or(0),
        };
        Ok(q)
    }

    /// Removes queue `name`: nobody can open it any more; it is destroyed
    /// when the last descriptor closes. [`Error::NotFound`] if it does not
    /// exist.
    pub fn unlink(name: &str) -> Result<()> {
        let name = ShmName::new(name)?;
        // SAFETY: the name is a NUL-terminated C string.
        if unsafe { libc::mq_unlink(name.as_c().as_ptr()) } != 0 {
            return Err(Error::last_os("mq_unlink", name.as_str()));
        }
        Ok(())
    }

    /// The queue's name in canonical `/name` form.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The queue's shape.
    pub fn attr(&self) -> MqAttr {
        self.attr
    }

    /// The directions this handle was opened for.
    pub fn access(&self) -> Access {
        self.access
    }

    /// The queue's permission bits now (`fstat`).
    pub fn mode(&self) -> Result<u32> {
        fd_mode(self.fd(), self.name())
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.as_fd()
    }

    /// The messages queued now (`mq_curmsgs`).
    pub fn pending(&self) -> Result<usize> {
        Ok(usize::try_from(self.raw_attr()?.mq_curmsgs).unwrap_or(0))
    }

    fn raw_attr(&self) -> Result<libc::mq_attr> {
        // SAFETY: all-zero is a valid `mq_attr`.
        let mut raw: libc::mq_attr = unsafe { std::mem::zeroed() };
        // SAFETY: `mqd` is our open queue; `raw` a valid out-pointer.
        if unsafe { libc::mq_getattr(self.mqd, &mut raw) } != 0 {
            return Err(Error::last_os("mq_getattr", self.name.as_str()));
        }
        Ok(raw)
    }

    /// Sends `msg` with `priority` (below [`MQ_PRIO_MAX`]), waiting at most
    /// `timeout` for room (see the [message module](crate::message)).
    pub fn send_with_priority(
        &self,
        msg: &[u8],
        priority: u32,
        timeout: Option<Duration>,
    ) -> Result<()> {
        self.access.check(true, "mq_send", self.name())?;
        if msg.len() > self.attr.message_size {
            return Err(CoreError::FrameTooLarge {
                len: u32::try_from(msg.len()).unwrap_or(u32::MAX),
                max: u32::try_from(self.attr.message_size).unwrap_or(u32::MAX),
            }
            .into());
        }
        if priority >= MQ_PRIO_MAX {
            return Err(LimitExceeded::new(
                "MQ_PRIO_MAX - 1",
                priority.into(),
                (MQ_PRIO_MAX - 1).into(),
            )
            .into_error("mq_send", self.name.as_str()));
        }
        let deadline = timeout.and_then(realtime_deadline);
        loop {
            let r = match &deadline {
                // SAFETY: `mqd` is open; `msg` is valid for its length;
                // the deadline is a valid timespec.
                Some(at) => unsafe {
                    libc::mq_timedsend(self.mqd, msg.as_ptr().cast(), msg.len(), priority, at)
                },
                // SAFETY: as above, without a deadline.
                None => unsafe {
                    libc::mq_send(self.mqd, msg.as_ptr().cast(), msg.len(), priority)
                },
            };
            if r == 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ETIMEDOUT | libc::EAGAIN) => {
                    return Err(flow(timeout, Error::Full));
                }
                _ => return Err(Error::os("mq_send", self.name.as_str(), err)),
            }
        }
    }

    /// Receives the oldest message of the highest priority into `buf`,
    /// waiting at most `timeout`; returns its length and priority.
    ///
    /// `buf` must hold the queue's `message_size` bytes (the kernel's rule),
    /// else [`BufferTooSmall`](CoreError::BufferTooSmall) with nothing
    /// received.
    pub fn recv_with_priority(
        &self,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<(usize, u32)> {
        self.access.check(false, "mq_receive", self.name())?;
        if buf.len() < self.attr.message_size {
            return Err(CoreError::BufferTooSmall {
                required: self.attr.message_size,
            }
            .into());
        }
        let deadline = timeout.and_then(realtime_deadline);
        let mut priority = 0;
        loop {
            let r = match &deadline {
                // SAFETY: `mqd` is open; `buf` is valid for writes of its
                // length; `priority` is a valid out-pointer.
                Some(at) => unsafe {
                    libc::mq_timedreceive(
                        self.mqd,
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        &mut priority,
                        at,
                    )
                },
                // SAFETY: as above, without a deadline.
                None => unsafe {
                    libc::mq_receive(self.mqd, buf.as_mut_ptr().cast(), buf.len(), &mut priority)
                },
            };
            if let Ok(n) = usize::try_from(r) {
                return Ok((n, priority));
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::ETIMEDOUT | libc::EAGAIN) => {
                    return Err(flow(timeout, Error::Empty));
                }
                Some(libc::EMSGSIZE) => {
                    return Err(CoreError::BufferTooSmall {
                        required: self.attr.message_size,
                    }
                    .into());
                }
                _ => return Err(Error::os("mq_receive", self.name.as_str(), err)),
            }
        }
    }
}

/// The error of a wait that ended without success: `flow` for a zero
/// timeout, `TimedOut` otherwise.
fn flow(timeout: Option<Duration>, flow: Error) -> Error {
    if timeout == Some(Duration::ZERO) {
        flow
    } else {
        Error::TimedOut
    }
}

impl Drop for PosixMq {
    fn drop(&mut self) {
        // SAFETY: `mqd` is our open queue descriptor, closed only here.
        unsafe { libc::mq_close(self.mqd) };
    }
}

/// On Linux an `mqd_t` is a file descriptor: `poll`/`epoll` report it
/// readable when a message is queued and writable when there is room.
impl AsFd for PosixMq {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: `mqd` is our open queue descriptor, closed only in `Drop`,
        // which cannot run while `self` is borrowed.
        unsafe { BorrowedFd::borrow_raw(self.mqd) }
    }
}

impl Remove for PosixMq {
    /// [`PosixMq::unlink`] of this queue's name.
    fn remove_object(&self) -> Result<()> {
        PosixMq::unlink(self.name())
    }
}

impl MessageSender for PosixMq {
    /// Sends with priority 0.
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.send_with_priority(msg, 0, timeout)
    }

    fn max_message_len(&self) -> usize {
        self.attr.message_size
    }
}

impl MessageReceiver for PosixMq {
    /// Receives the next message of the highest priority; `buf` must hold
    /// `message_size` bytes (see [`PosixMq::recv_with_priority`]).
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        self.recv_with_priority(buf, timeout).map(|(n, _)| n)
    }

    fn max_message_len(&self) -> usize {
        self.attr.message_size
    }
}

#[cfg(test)]
mod tests;

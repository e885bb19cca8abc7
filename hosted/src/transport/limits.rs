//! System limits of the kernel's queues, read from `/proc`, and the error
//! that names the limit a request exceeds.
//!
//! `mq_open(3)` answers a queue larger than `/proc/sys/fs/mqueue/msg_max`
//! with a bare `EINVAL`, and `msgsnd(2)` a message longer than
//! `/proc/sys/kernel/msgmax` with another `EINVAL`. The transports check a
//! request against these limits first and refuse it with a
//! [`LimitExceeded`], which names the file (or resource limit) to raise.
//!
//! A [`LimitExceeded`] reaches the caller inside the hosted error as
//! [`Error::Os`] with the call it prevented (say
//! `mq_open`), an `errno`-less [`std::io::Error`] of kind
//! [`InvalidInput`](std::io::ErrorKind::InvalidInput), and the
//! [`LimitExceeded`] as that error's inner value:
//!
//! ```
//! use ipckit::transport::limits::LimitExceeded;
//!
//! let e = LimitExceeded::new("/proc/sys/fs/mqueue/msg_max", 20, 10).into_error("mq_open", "/q");
//! let detail = LimitExceeded::find(&e).expect("a limit error");
//! assert_eq!((detail.requested, detail.max), (20, 10));
//! assert!(e.to_string().contains("/proc/sys/fs/mqueue/msg_max"), "{e}");
//! ```

use std::fmt;
use std::io;

use crate::error::{Error, OsError, Result};

/// A request above a limit of the system: which limit, what was asked, what
/// it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    /// The limit: a file under `/proc/sys` or a resource limit such as
    /// `RLIMIT_MSGQUEUE`.
    pub limit: &'static str,
    /// The value requested.
    pub requested: u64,
    /// The largest value the limit allows.
    pub max: u64,
}

impl LimitExceeded {
    /// `requested` is above `max`, the value of `limit`.
    pub fn new(limit: &'static str, requested: u64, max: u64) -> Self {
        Self {
            limit,
            requested,
            max,
        }
    }

    /// Wraps this into the hosted error of `call` on `target`: an
    /// [`Error::Os`] whose [`io::Error`] holds `self`.
    pub fn into_error(self, call: &'static str, target: impl Into<String>) -> Error {
        Error::Os(OsError::new(
            call,
            target,
            io::Error::new(io::ErrorKind::InvalidInput, self),
        ))
    }

    /// The [`LimitExceeded`] inside `error`, if it is one.
    pub fn find(error: &Error) -> Option<&LimitExceeded> {
        error
            .os_error()?
            .source
            .get_ref()?
            .downcast_ref::<LimitExceeded>()
    }
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} exceeds the system limit {} = {}",
            self.requested, self.limit, self.max
        )
    }
}

impl std::error::Error for LimitExceeded {}

/// Reads one number from a file under `/proc/sys`.
pub fn read_proc_limit(path: &'static str) -> Result<u64> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::os("read", path, e))?;
    let first = text.split_whitespace().next().unwrap_or("");
    first.parse().map_err(|_| {
        Error::os(
            "read",
            path,
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not a number: {first:?}"),
            ),
        )
    })
}

/// The soft limit of resource `resource` (`RLIMIT_*`), `None` if unlimited.
pub(crate) fn soft_rlimit(resource: libc::__rlimit_resource_t) -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid out-pointer for one `rlimit`.
    let r = unsafe { libc::getrlimit(resource, &mut limit) };
    if r != 0 || limit.rlim_cur == libc::RLIM_INFINITY {
        None
    } else {
        Some(limit.rlim_cur)
    }
}

//! System V message queues (`msgget(2)`, `msgsnd(2)`, `msgrcv(2)`):
//! kernel queues of typed messages, named by a numeric key or anonymous.
//!
//! [`SysvMq::create`] makes a queue for a key with `IPC_CREAT | IPC_EXCL`
//! and mode 0600 ([`Error::AlreadyExists`] if the key is taken);
//! [`SysvMq::create_private`] an anonymous one (`IPC_PRIVATE`) whose id is
//! handed to a forked child or passed as a number ([`SysvMq::from_id`]);
//! [`SysvMq::open`] opens a key's queue; [`key_from_path`] derives a key
//! from a file with `ftok(3)`.
//!
//! A System V queue is not a file descriptor: dropping a [`SysvMq`] closes
//! nothing, and the queue lives (in `/proc/sysvipc/msg`, `ipcs -q`) until
//! [`SysvMq::remove`] (`IPC_RMID`) or a reboot. Remove what you create.
//!
//! # Message types
//! Every message carries a type, an integer above 0. [`SysvMq::send_typed`]
//! sends with a type; [`SysvMq::recv_typed`] receives by type: 0 takes the
//! oldest message, `t > 0` the oldest of type `t`, `t < 0` the oldest of
//! the lowest type up to `|t|`. The [message traits](crate::message) use
//! the endpoint's default types, [`DEFAULT_TYPE`] to send and 0 (any) to
//! receive, set with [`SysvMq::set_default_types`]. Types let several
//! readers share one queue (one type per reader, say its pid).
//!
//! # Sizes and limits
//! A message holds at most [`SysvMq::max_message_len`] bytes:
//! `/proc/sys/kernel/msgmax`, read at open, and again when a message to
//! send (or one waiting in the queue) is longer than the value read; a
//! longer one is refused with [`FrameTooLarge`](CoreError::FrameTooLarge)
//! before any call.
//!
//! The queue's byte capacity (`msg_qbytes`, initially
//! `/proc/sys/kernel/msgmnb`) can be changed at any time by its owner
//! (`IPC_SET`, [`SysvMq::set_capacity`]), so it is read when it matters,
//! never cached: a send that finds no room reads it, and a message longer
//! than the capacity (it can never fit) is refused with a [`LimitExceeded`]
//! naming [`QBYTES_LIMIT`] and the queue, not left waiting. A queue enlarged
//! by another process takes longer messages at once. [`SysvMq::capacity`]
//! reads it; [`SysvMq::set_capacity`] checks against `msgmnb`
//! ([`LimitExceeded`]; a privileged process could go beyond).
//!
//! A receive buffer shorter than the next message is
//! [`BufferTooSmall`](CoreError::BufferTooSmall): `msgrcv` is called
//! without `MSG_NOERROR`, so it fails with `E2BIG` and the kernel *leaves
//! the message queued* (it would otherwise truncate it silently). `E2BIG`
//! does not tell the message's length, so `required` is
//! [`max_message_len`](SysvMq::max_message_len), enough for any message
//! (or the highest `msgmax` seen, if it was lowered since).
//!
//! # Permissions
//! Opening asks for no access: `msgget(key, 0)`, and a check that the id
//! exists which succeeds without read permission. Sending needs write
//! permission only and receiving read permission only, so a process that
//! may only write a queue (mode 0602 of another user, say) opens it and
//! sends; its receive is [`Error::PermissionDenied`]. Where reading the
//! queue's state (`IPC_STAT`) is not allowed, `MSG_STAT_ANY` (Linux 4.17)
//! reads the capacity instead.
//!
//! # Timeouts
//! System V queues have no timed send or receive. A receive with `None`
//! blocks in the kernel; a zero timeout is one `IPC_NOWAIT` attempt
//! ([`Full`](Error::Full)/[`Empty`](Error::Empty)); any other
//! timeout retries `IPC_NOWAIT` attempts with sleeps growing from 20 µs to
//! 1 ms, so a message that arrives during a timed wait is seen up to 1 ms
//! late. A send always waits that way, `None` included: a sender blocked in
//! the kernel could not notice a capacity shrunk below its message, and
//! would wait forever.
//!
//! # Removal
//! A queue removed (`IPC_RMID`) under a caller, or before a later call, is
//! [`Error::Removed`] naming `msqid N`; for the message interface that is
//! the end of the conversation ([`Error::is_peer_gone`] matches it). An
//! argument the kernel refuses while the queue exists (`EINVAL`) is an
//! [`Error::Os`] naming the queue; a message above a `msgmax` lowered after
//! open is a [`LimitExceeded`] naming [`MSGMAX_PATH`].
//!
//! ```
//! use ipckit::message::{MessageReceiver, MessageSender};
//! use ipckit::transport::sysv_mq::SysvMq;
//!
//! let mut q = SysvMq::create_private()?;
//! q.send_typed(2, b"two", None)?;
//! q.send_typed(1, b"one", None)?;
//! let mut buf = vec![0; q.max_message_len()];
//! assert_eq!(q.recv_typed(1, &mut buf, None)?, (3, 1)); // by type
//! assert_eq!(q.recv(&mut buf)?, 3); // any type: "two"
//! q.remove()?;
//! # Ok::<(), ipckit::Error>(())
//! ```

mod key;
mod message;
mod queue;
#[cfg(test)]
mod tests;

#[cfg(doc)]
use super::limits::LimitExceeded;
use super::limits::read_proc_limit;
use crate::error::Result;
#[cfg(doc)]
use crate::error::{CoreError, Error};

pub use key::key_from_path;
pub use queue::SysvMq;

/// The largest message the system allows.
pub const MSGMAX_PATH: &str = "/proc/sys/kernel/msgmax";
/// The default (and, unprivileged, largest) byte capacity of a queue.
pub const MSGMNB_PATH: &str = "/proc/sys/kernel/msgmnb";
/// The most queues in the system.
pub const MSGMNI_PATH: &str = "/proc/sys/kernel/msgmni";

/// The type the message traits send with, unless changed.
pub const DEFAULT_TYPE: i64 = 1;

/// The system's limits on System V message queues, from `/proc/sys/kernel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysvMqLimits {
    /// The longest message (`msgmax`).
    pub msgmax: u64,
    /// The default byte capacity of a queue (`msgmnb`).
    pub msgmnb: u64,
    /// The most queues (`msgmni`).
    pub msgmni: u64,
}

impl SysvMqLimits {
    /// Reads the three files.
    pub fn read() -> Result<Self> {
        Ok(Self {
            msgmax: read_proc_limit(MSGMAX_PATH)?,
            msgmnb: read_proc_limit(MSGMNB_PATH)?,
            msgmni: read_proc_limit(MSGMNI_PATH)?,
        })
    }
}

/// The [`LimitExceeded::limit`] of a message longer than the queue's byte
/// capacity.
pub const QBYTES_LIMIT: &str = "msg_qbytes (the queue's capacity)";

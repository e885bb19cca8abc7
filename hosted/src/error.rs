//! The one error type of the hosted crate, [`ipckit::Error`](Error).
//!
//! [`Error`] is what every operation of this crate returns. Its variants come
//! in three groups:
//!
//! - **Flow conditions**, plain variants with a predicate each, the same
//!   whether a shared-memory ring, a pipe or a System V queue found them:
//!   [`Error::Full`] ([`is_full`](Error::is_full)), [`Error::Empty`]
//!   ([`is_empty`](Error::is_empty)), [`Error::TimedOut`]
//!   ([`is_timeout`](Error::is_timeout)), [`Error::PeerGone`]
//!   ([`is_peer_gone`](Error::is_peer_gone)), for the MPMC ring
//!   [`Error::Busy`] ([`is_busy`](Error::is_busy)), and for a
//!   [pub/sub subscriber](mod@crate::pubsub) [`Error::Lagged`]
//!   ([`is_lagged`](Error::is_lagged)).
//! - **Findings of the core** that are not flow: a header that does not
//!   validate, a peer that wrote garbage, a request the object cannot take
//!   ([`Error::Core`]; [`Error::Channel`] when a channel's open names the
//!   object).
//! - **What only the operating system knows**: a failed system call with
//!   its context (which call, on which object, and the `errno` as a
//!   [`std::io::Error`]), and the pid of a peer found dead.
//!
//! The system-call errors a caller typically handles get their own variants,
//! so that they can be matched without looking at `errno`:
//!
//! | variant                    | `errno`           | typical cause                                   |
//! |----------------------------|-------------------|-------------------------------------------------|
//! | [`Error::NotFound`]        | `ENOENT`          | `open` of a name nobody created (or removed)    |
//! | [`Error::AlreadyExists`]   | `EEXIST`          | `create` of a name that exists: another creator won |
//! | [`Error::PermissionDenied`]| `EACCES`          | the object's mode does not let this user open it |
//! | [`Error::Os`]              | anything else     | `ENOMEM`, `EMFILE`, `EPERM` (a seal refused an operation), ... |
//!
//! Errors this crate finds itself, without an `errno`, are
//! [`Error::InvalidName`], [`Error::TooSmall`], [`Error::NotSealed`] and
//! [`Error::Untrusted`]. Kernel objects removed under their users are
//! [`Error::Removed`], and a System V semaphore operation beyond this
//! process's `SEM_UNDO` range is [`Error::UndoRange`]. A channel that
//! refuses an `open` is [`Error::Channel`], the core's finding with the
//! object's name.
//!
//! The core's error converts with `?` (`From<ipckit_core::Error>`): its flow
//! conditions become the flow variants above (never `Error::Core(Full)`),
//! everything else [`Error::Core`]. So code that mixes core calls
//! (`Ring::attach`, `try_push`) and OS calls (`ShmObject::open`) returns one
//! type and matches one shape.
//!
//! ```
//! use ipckit::Error;
//! use ipckit::shm::ShmObject;
//!
//! match ShmObject::open("ipckit-doc-surely-missing") {
//!     Err(Error::NotFound(e)) => assert_eq!(e.call, "shm_open"),
//!     other => panic!("unexpected: {other:?}"),
//! }
//! ```
//!
//! The core's own error, which its rings return before any conversion,
//! is re-exported as [`CoreError`] (also at the crate root).

use std::fmt;
use std::io;

/// The core's error type, under a name that does not clash with [`Error`].
pub use ipckit_core::error::Error as CoreError;
pub use ipckit_core::error::Role;

/// A failed system call, with what it was called on.
///
/// ```
/// use ipckit::error::OsError;
///
/// let e = OsError::new("shm_open", "/demo", std::io::Error::from_raw_os_error(libc::ENOENT));
/// assert_eq!(e.errno(), Some(libc::ENOENT));
/// assert!(e.to_string().starts_with("shm_open(/demo): "));
/// ```
#[derive(Debug)]
pub struct OsError {
    /// The call that failed (`"shm_open"`, `"ftruncate"`, `"mmap"`, ...).
    pub call: &'static str,
    /// The object it concerned: a shm name, a path, `fd 7`; may be empty.
    pub target: String,
    /// The operating system's error (`errno`).
    pub source: io::Error,
}

impl OsError {
    /// Wraps `source`, the error of `call` on `target`.
    pub fn new(call: &'static str, target: impl Into<String>, source: io::Error) -> Self {
        Self {
            call,
            target: target.into(),
            source,
        }
    }

    /// The `errno` value, if the error came from the operating system.
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

impl fmt::Display for OsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({}): {}", self.call, self.target, self.source)
    }
}

/// Everything that can go wrong in `ipckit` (the hosted crate).
///
/// See the [module docs](self) for the groups of variants and which `errno`
/// becomes which variant.
///
/// A ring's flow condition, met through `?`, is a top-level variant:
///
/// ```
/// use ipckit::{AlignedBytes, CoreError, Error, Region, spsc};
///
/// fn pop(rx: &mut spsc::Consumer<'_, u32>) -> ipckit::Result<u32> {
///     Ok(rx.try_pop()?)
/// }
///
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = spsc::Ring::<u32>::init(Region::from_slice(&mut bytes[..]), 4)?;
/// let (_tx, mut rx) = ring.split()?;
/// assert!(matches!(pop(&mut rx), Err(Error::Empty)));
/// assert!(Error::from(CoreError::Full).is_full());
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// No room: a ring, queue or pipe is full, or a count is at its
    /// maximum; retry after the other side made progress (for a blocking
    /// call: only with a zero timeout).
    Full,
    /// Nothing available: a ring, queue or pipe holds nothing, or a count
    /// is 0; retry after the other side made progress (for a blocking call:
    /// only with a zero timeout).
    Empty,
    /// A blocking call's timeout elapsed before it could proceed.
    TimedOut,
    /// Not full and not empty, but the slot needed is held by another
    /// endpoint mid-operation (the MPMC ring: a sender claimed the oldest
    /// position and has not published it, or a receiver still holds the
    /// slot a send needs); retry. One that stays is a dead endpoint's, which
    /// the channel recovers.
    Busy,
    /// A [subscriber](crate::pubsub::Subscriber) fell a lap behind its
    /// publisher: this many items were overwritten before it read them
    /// (lost to it, counted exactly); the next receive returns the oldest
    /// item still there. [`Error::is_lagged`] matches it.
    Lagged(u64),
    /// The other side is gone: every endpoint of the `peer` role closed, or
    /// its process died (checked by pid and process start time), or a
    /// region records its endpoint as gone (the core's
    /// [`CoreError::PeerGone`]). A blocked call returns this instead of
    /// waiting forever, and a receiver only after it has drained every item
    /// already queued. [`Error::is_peer_gone`] matches it.
    PeerGone {
        /// The role that is gone: [`Role::Consumer`] when a sender finds no
        /// receiver left, [`Role::Producer`] when a receiver finds no
        /// sender; `None` where the core reported it without naming a role.
        peer: Option<Role>,
        /// The pid of a peer found dead, `None` if every peer closed (or the
        /// pid is unknown).
        pid: Option<u32>,
    },
    /// Any other finding of the core: header validation, corruption written
    /// by a peer, a request the object cannot take (`FrameTooLarge`,
    /// `BufferTooSmall`, `OutOfRange`, ...). Never a flow condition: the
    /// conversion from [`CoreError`] puts `Full`, `Empty`, `TimedOut`,
    /// `Busy`, `Lagged` and `PeerGone` at the top level.
    Core(CoreError),
    /// The object does not exist (`ENOENT`).
    NotFound(OsError),
    /// The object exists already (`EEXIST`): of several racing creators,
    /// exactly one succeeds and the others get this.
    AlreadyExists(OsError),
    /// The object's permissions do not allow the requested access
    /// (`EACCES`).
    PermissionDenied(OsError),
    /// Any other failed system call.
    Os(OsError),
    /// A shared-memory name that `shm_open` would reject or misinterpret;
    /// nothing was called.
    InvalidName {
        /// The name as given (possibly shortened for display).
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The object is shorter than needed. `size` 0 usually means its creator
    /// has not sized it yet, or died between creating and sizing it.
    TooSmall {
        /// The object's name, path or fd.
        target: String,
        /// Its size in bytes (from `fstat`).
        size: u64,
        /// The bytes needed (at least a region header, or the mapped length
        /// when the object shrank under a mapping).
        required: u64,
    },
    /// A received memfd lacks seals that make sharing it safe: whoever holds
    /// an unsealed descriptor can shrink the object under our mapping, and
    /// our next access past its new end kills this process with `SIGBUS`.
    NotSealed {
        /// The seals (`F_SEAL_*` bits) that are required but absent.
        missing: u32,
    },
    /// An object opened by name whose owner or mode the `open` does not
    /// accept (see [`Trust`](crate::shm::Trust) and the
    /// [object module](crate::object)): another user owns it, or users
    /// other than us may write it, so they could shrink shared memory under
    /// our mapping (`SIGBUS`), or forge what a queue, semaphore or FIFO
    /// holds. Checked with `fstat` on the opened descriptor (`IPC_STAT` for
    /// System V objects); nothing was mapped or used.
    Untrusted {
        /// The object's name or path.
        target: String,
        /// Its owner (`st_uid`).
        uid: u32,
        /// Its group (`st_gid`).
        gid: u32,
        /// Its permission bits (`st_mode & 0o7777`).
        mode: u32,
        /// Why the level refuses it.
        reason: &'static str,
        /// The level that refused it.
        trust: crate::shm::Trust,
    },
    /// A kernel object (a System V queue or semaphore set) was removed
    /// (`IPC_RMID`) while this handle used it: a waiting call was woken with
    /// `EIDRM`, or a later call found the id gone. Where removal is how the
    /// other side ends the conversation, [`Error::is_peer_gone`] matches it
    /// too.
    Removed {
        /// The object, such as `msqid 5` or `semid 7`.
        target: String,
    },
    /// A System V semaphore operation with `SEM_UNDO` would move this
    /// process's adjustment for the semaphore beyond the kernel's range
    /// (-32,768 to 32,767; `SEMAEM` is 32,767): a process that only posts, or only waits, with
    /// `SEM_UNDO` reaches it after 32,767 operations. The semaphore is
    /// unchanged. `SEM_UNDO` suits a lock (the same process takes and gives
    /// back); signal without it.
    UndoRange {
        /// The semaphore, such as `semid 7 index 0`.
        target: String,
    },
    /// A [channel](crate::channel) object refused an `open`, `attach`,
    /// `take_over` or `create`: its header or liveness block does not
    /// validate, its sizes do not fit, or the role is held. Names the
    /// object; [`Error::core`] returns `error` too, so that
    /// `e.core() == Some(CoreError::RoleTaken(role))` matches a held role.
    Channel {
        /// The object: a channel name, a file path, `memfd (fd N)`.
        name: String,
        /// What was found.
        error: CoreError,
        /// For [`CoreError::RoleTaken`]: the pid recorded as the role's
        /// holder when that process is dead (`take_over` takes the role
        /// over); `None` when it lives or for other errors.
        dead_holder: Option<u32>,
    },
    /// A [typed channel](crate::channel::typed) records a message type id
    /// other than this endpoint's: the two sides would exchange different
    /// types. Nothing was sent or received; the endpoint was not opened.
    TypeMismatch {
        /// The channel: a name, a file path, `memfd (fd N)`.
        channel: String,
        /// This endpoint's id (`T::message_type_id()` for a typed channel,
        /// the builder's stated id for an item channel or topic).
        ours: u64,
        /// The id the channel records.
        theirs: u64,
    },
    /// A typed message's encoding is longer than the channel's largest
    /// frame: it was not sent (send something smaller, or create the
    /// channel with a larger capacity).
    MessageTooLarge {
        /// The channel.
        channel: String,
        /// The largest frame the channel takes, in bytes.
        max: u32,
    },
    /// A typed message could not be encoded (its `Serialize` failed, or
    /// postcard cannot express it, such as a sequence of unknown length):
    /// nothing was sent.
    Encode {
        /// The channel.
        channel: String,
        /// What postcard or the `Serialize` implementation reported.
        reason: String,
    },
    /// A received message is not a postcard encoding of the receiver's
    /// type (a sender of another type that opted out of type ids, a raw
    /// byte sender, a corrupting peer). The message was consumed: the next
    /// call receives the next one.
    Decode {
        /// The channel.
        channel: String,
        /// The message's length in bytes.
        len: usize,
        /// What postcard reported.
        reason: String,
    },
    /// A [request/response](crate::rpc) peer sent a message that breaks
    /// the protocol (shorter than its header, of an unknown kind, a hello
    /// that names no reply channel). The message was consumed; the link
    /// stays usable.
    Protocol {
        /// The service or link.
        peer: String,
        /// What was wrong.
        reason: String,
    },
    /// A [request/response](crate::rpc) server answered this call with a
    /// failure (its handler's error message) instead of a response.
    Failed {
        /// The service.
        service: String,
        /// The server's message.
        reason: String,
    },
}

impl Error {
    /// Sorts a failed call's `errno` into [`Error::NotFound`],
    /// [`Error::AlreadyExists`], [`Error::PermissionDenied`] or
    /// [`Error::Os`].
    ///
    /// ```
    /// use ipckit::Error;
    ///
    /// let e = Error::os("shm_open", "/x", std::io::Error::from_raw_os_error(libc::EEXIST));
    /// assert!(matches!(e, Error::AlreadyExists(_)));
    /// ```
    pub fn os(call: &'static str, target: impl Into<String>, source: io::Error) -> Self {
        let code = source.raw_os_error();
        let e = OsError::new(call, target, source);
        match code {
            Some(libc::ENOENT) => Error::NotFound(e),
            Some(libc::EEXIST) => Error::AlreadyExists(e),
            Some(libc::EACCES) => Error::PermissionDenied(e),
            _ => Error::Os(e),
        }
    }

    /// [`Error::os`] with the calling thread's current `errno`.
    pub(crate) fn last_os(call: &'static str, target: impl Into<String>) -> Self {
        Self::os(call, target, io::Error::last_os_error())
    }

    /// The core's finding, for [`Error::Core`] and [`Error::Channel`];
    /// `None` for everything else, the flow conditions included (match
    /// those by variant or predicate).
    ///
    /// ```
    /// use ipckit::{CoreError, Error};
    /// assert_eq!(Error::from(CoreError::BadMagic).core(), Some(CoreError::BadMagic));
    /// assert_eq!(Error::from(CoreError::Empty).core(), None);
    /// ```
    pub fn core(&self) -> Option<CoreError> {
        match self {
            Error::Core(e) | Error::Channel { error: e, .. } => Some(*e),
            _ => None,
        }
    }

    /// A core error met while setting up the channel object `name` becomes
    /// [`Error::Channel`] naming it (also one made without a name); other
    /// errors name their object already and pass unchanged.
    pub(crate) fn in_channel(self, name: impl FnOnce() -> String) -> Self {
        match self {
            Error::Core(error) => Error::Channel {
                name: name(),
                error,
                dead_holder: None,
            },
            Error::Channel {
                name: n,
                error,
                dead_holder,
            } if n.is_empty() => Error::Channel {
                name: name(),
                error,
                dead_holder,
            },
            other => other,
        }
    }

    /// `true` for [`Error::Full`].
    pub const fn is_full(&self) -> bool {
        matches!(self, Error::Full)
    }

    /// `true` for [`Error::Empty`].
    pub const fn is_empty(&self) -> bool {
        matches!(self, Error::Empty)
    }

    /// `true` for [`Error::TimedOut`].
    pub const fn is_timeout(&self) -> bool {
        matches!(self, Error::TimedOut)
    }

    /// `true` for [`Error::Busy`].
    pub const fn is_busy(&self) -> bool {
        matches!(self, Error::Busy)
    }

    /// `true` for [`Error::Lagged`], whatever the count.
    ///
    /// ```
    /// use ipckit::{CoreError, Error};
    /// assert!(Error::from(CoreError::Lagged(3)).is_lagged());
    /// assert!(matches!(Error::from(CoreError::Lagged(3)), Error::Lagged(3)));
    /// ```
    pub const fn is_lagged(&self) -> bool {
        matches!(self, Error::Lagged(_))
    }

    /// `true` for [`Error::PeerGone`] and [`Error::Removed`] (a kernel
    /// object removed under its users: the System V transports document
    /// removal as the end of the conversation).
    pub const fn is_peer_gone(&self) -> bool {
        matches!(self, Error::PeerGone { .. } | Error::Removed { .. })
    }

    /// The failed system call, if this is one.
    pub fn os_error(&self) -> Option<&OsError> {
        match self {
            Error::NotFound(e)
            | Error::AlreadyExists(e)
            | Error::PermissionDenied(e)
            | Error::Os(e) => Some(e),
            _ => None,
        }
    }
}

/// Flow conditions become the top-level variants, so that `?` on a core
/// call and a hosted call give the same shape; every other finding is
/// [`Error::Core`].
impl From<CoreError> for Error {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Full => Error::Full,
            CoreError::Empty => Error::Empty,
            CoreError::TimedOut => Error::TimedOut,
            CoreError::Busy => Error::Busy,
            CoreError::Lagged(n) => Error::Lagged(n),
            CoreError::PeerGone => Error::PeerGone {
                peer: None,
                pid: None,
            },
            other => Error::Core(other),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Full => CoreError::Full.fmt(f),
            Error::Empty => CoreError::Empty.fmt(f),
            Error::TimedOut => CoreError::TimedOut.fmt(f),
            Error::Busy => CoreError::Busy.fmt(f),
            Error::Lagged(n) => CoreError::Lagged(*n).fmt(f),
            Error::Core(e) => e.fmt(f),
            Error::NotFound(e) => write!(f, "not found: {e}"),
            Error::AlreadyExists(e) => write!(f, "already exists: {e}"),
            Error::PermissionDenied(e) => write!(f, "permission denied: {e}"),
            Error::Os(e) => e.fmt(f),
            Error::InvalidName { name, reason } => {
                write!(f, "invalid shared-memory name {name:?}: {reason}")
            }
            Error::TooSmall {
                target,
                size,
                required,
            } => write!(
                f,
                "{target} is {size} bytes, at least {required} are needed{}",
                if *size == 0 {
                    " (created but never sized?)"
                } else {
                    ""
                }
            ),
            Error::NotSealed { missing } => write!(
                f,
                "memfd lacks seals {missing:#x} (F_SEAL_SHRINK=2, F_SEAL_GROW=4): its holders \
                 could shrink it under our mapping"
            ),
            Error::Untrusted {
                target,
                uid,
                gid,
                mode,
                reason,
                trust,
            } => write!(
                f,
                "{target} refused: {reason} (owner uid {uid}, gid {gid}, mode {mode:04o}); \
                 whoever else may write it can forge what it holds (and shrink shared \
                 memory under our mapping: SIGBUS). If you trust them, open it with {}; \
                 memory can be shared as a sealed Memfd instead, which needs no trust",
                match trust {
                    crate::shm::Trust::Owner => "Trust::Group or Trust::Anyone (open_with)",
                    _ => "Trust::Anyone (open_with)",
                }
            ),
            Error::Removed { target } => {
                write!(f, "{target} was removed (IPC_RMID) while in use")
            }
            Error::UndoRange { target } => write!(
                f,
                "{target}: this process's SEM_UNDO adjustment would leave the kernel's range \
                 of -32768..=32767 (a process that only posts or only waits with SEM_UNDO \
                 reaches it after 32,767 operations); use SEM_UNDO only where the same \
                 process takes and gives back units, and signal without it"
            ),
            Error::PeerGone { peer, pid } => match (peer, pid) {
                (Some(peer), Some(pid)) => write!(f, "peer gone: the {peer} (pid {pid}) died"),
                (Some(peer), None) => write!(f, "peer gone: no {peer} is left"),
                (None, Some(pid)) => write!(f, "peer gone: the peer (pid {pid}) died"),
                (None, None) => CoreError::PeerGone.fmt(f),
            },
            Error::Channel {
                name,
                error,
                dead_holder,
            } => {
                write!(f, "channel {name}: {error}")?;
                match dead_holder {
                    Some(pid) => write!(
                        f,
                        " by pid {pid}, which died: `take_over` takes the role over"
                    ),
                    None => Ok(()),
                }
            }
            Error::TypeMismatch {
                channel,
                ours,
                theirs,
            } => write!(
                f,
                "channel {channel}: carries messages of type id {theirs:#018x}, this endpoint's \
                 type has id {ours:#018x} (a sender and a receiver of different types)"
            ),
            Error::MessageTooLarge { channel, max } => write!(
                f,
                "channel {channel}: the encoded message is longer than the largest frame \
                 ({max} bytes); not sent"
            ),
            Error::Encode { channel, reason } => {
                write!(f, "channel {channel}: cannot encode the message: {reason}")
            }
            Error::Decode {
                channel,
                len,
                reason,
            } => write!(
                f,
                "channel {channel}: a message of {len} bytes does not decode as this \
                 receiver's type ({reason}); it was consumed"
            ),
            Error::Protocol { peer, reason } => {
                write!(
                    f,
                    "{peer}: a message breaks the request/response protocol: {reason}"
                )
            }
            Error::Failed { service, reason } => write!(f, "service {service} failed: {reason}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Core(e) | Error::Channel { error: e, .. } => Some(e),
            Error::NotFound(e)
            | Error::AlreadyExists(e)
            | Error::PermissionDenied(e)
            | Error::Os(e) => Some(&e.source),
            _ => None,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;

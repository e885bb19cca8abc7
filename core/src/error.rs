//! The one error type of the core.
//!
//! Every fallible operation returns [`Error`]. Two groups of variants exist:
//! *flow* conditions that a caller retries ([`Error::Full`], [`Error::Empty`])
//! and *faults* that say what is wrong with a region or a request. A fault that
//! comes from bytes a peer wrote ([`Error::Corrupted`] and the header
//! mismatches) leaves the endpoint safe to drop; nothing this side already
//! accepted is lost.

use core::fmt;

/// Which endpoint of a ring an operation or a claim concerns.
///
/// ```
/// use ipckit_core::Role;
/// assert_eq!(Role::Producer.to_string(), "producer");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The side that writes items.
    Producer,
    /// The side that reads items.
    Consumer,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Producer => "producer",
            Role::Consumer => "consumer",
        })
    }
}

/// Everything that can go wrong in `ipckit-core`.
///
/// ```
/// use ipckit_core::{spsc, AlignedBytes, Error, Region};
///
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = spsc::Ring::<u32>::init(Region::from_slice(&mut bytes[..]), 4)?;
/// let (_tx, mut rx) = ring.split()?;
/// assert_eq!(rx.try_pop(), Err(Error::Empty));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// No room: a ring has no free slot, or a semaphore's count is at its
    /// maximum; retry after the other side made progress.
    Full,
    /// Nothing available: a ring holds no item, or a semaphore's count is 0;
    /// retry after the other side made progress.
    Empty,
    /// The region is shorter than the layout needs.
    TooSmall {
        /// Bytes the layout needs.
        required: usize,
        /// Bytes the caller provided.
        actual: usize,
    },
    /// The region's base address is not aligned as the layout needs.
    Misaligned {
        /// The alignment in bytes that the base address must have.
        required: usize,
    },
    /// A capacity or count the object cannot have: for a ring, not a power
    /// of two in its allowed range (SPSC `1..=2^31`, MPMC `2..=2^30`); for a
    /// semaphore, a maximum of 0 or an initial count above the maximum.
    InvalidCapacity,
    /// The element type cannot be placed in a region: zero-sized, or aligned
    /// to more than [`region::LINE`](crate::region::LINE) bytes.
    UnsupportedType,
    /// The region's header is not (yet) published as ready: nobody called
    /// `init`, or the creator is still writing it.
    NotInitialized,
    /// `init` found a region that another creator initialised or is
    /// initialising: exactly one of several racing creators wins.
    AlreadyInitialized,
    /// The magic number is not ipckit's: this is not an ipckit region.
    BadMagic,
    /// The region was written by a peer of the other byte order.
    ForeignEndian,
    /// The region uses a layout version this build does not understand.
    VersionMismatch {
        /// The version in the header.
        found: u32,
        /// The version this build writes and reads.
        expected: u32,
    },
    /// The region holds another kind of object (say, an MPMC ring where an
    /// SPSC ring was expected).
    KindMismatch {
        /// The kind code in the header.
        found: u32,
        /// The kind code the caller expected.
        expected: u32,
    },
    /// The region's element size or alignment differs from the caller's `T`.
    ElementMismatch {
        /// Element size in the header.
        size: u32,
        /// Element alignment in the header.
        align: u32,
    },
    /// The endpoint is already claimed by another handle, thread, process or
    /// core: a ring has one producer and one consumer.
    RoleTaken(Role),
    /// A blocking call's timeout elapsed before it could proceed.
    TimedOut,
    /// A blocking call was given a timeout, but its notifier has no clock
    /// (see [`Notify::now`](crate::wait::Notify::now)).
    NoClock,
    /// The operating system's wait primitive failed; the value is its error
    /// number (`errno` on Linux).
    WaitFailed(i32),
    /// The endpoint's notifier does not match the ring: the ring was created
    /// for sleeping waiters and the endpoint would never wake them, or the
    /// other way round.
    NotifyMismatch,
    /// A word that the peer writes holds a value the protocol cannot produce
    /// (an index more than a capacity ahead, a header field out of range).
    /// The operation did nothing; the endpoint is safe to drop.
    Corrupted(&'static str),
    /// A frame is longer than the object carries: a frame ring's largest
    /// frame ([`frame::max_frame_len`](crate::frame::max_frame_len)), or a
    /// stream decoder's configured maximum. Returned before anything is
    /// written, claimed or buffered.
    FrameTooLarge {
        /// The frame's length in bytes.
        len: u32,
        /// The largest length accepted.
        max: u32,
    },
    /// The caller's buffer cannot hold the next frame, which stays queued:
    /// retry with a buffer of at least `required` bytes.
    BufferTooSmall {
        /// The length of the waiting frame.
        required: usize,
    },
    /// A byte stream ended inside a frame: `missing` more bytes were due.
    Truncated {
        /// Bytes of the frame (prefix included) that never arrived.
        missing: usize,
    },
    /// The other endpoint is gone: its process died or it closed, so a
    /// blocked call will never be satisfied.
    PeerGone,
    /// A grant or a frame was accessed past its end: bytes up to `end` were
    /// asked for, it holds `len`. Nothing was written or read.
    OutOfRange {
        /// One past the last byte asked for.
        end: usize,
        /// Bytes the grant or frame holds.
        len: usize,
    },
    /// An exact request for `requested` slots found only `available` (the
    /// partial forms take what there is instead).
    TooFewSlots {
        /// Slots asked for.
        requested: usize,
        /// Slots there were.
        available: usize,
    },
    /// The oldest item is claimed by another endpoint that has not
    /// published it yet: the ring is not empty, but nothing can be taken
    /// now. For a push: the slot the next item goes to is still being read
    /// by a consumer that claimed it, so the ring is not full, but nothing
    /// can be put now. For a latest-value slot's reader: every attempt of
    /// a read overlapped a write, so no whole value could be copied. Retry;
    /// a claim (or a write) that stays unfinished belongs to an endpoint
    /// that may have died (the hosted crate recovers it; a slot's next
    /// writer finishes a dead writer's write).
    Busy,
    /// A broadcast subscriber fell behind: the publisher overwrote this
    /// many items before the subscriber read them. They are lost (counted
    /// exactly, never delivered torn); the subscriber has moved on to the
    /// oldest item still in the ring, which its next receive returns
    /// (tokio's `RecvError::Lagged`).
    Lagged(u64),
    /// The operation does not fit the broadcast ring's policy: the lossy
    /// publisher or a claim-free subscriber of a reliable ring (use its
    /// reliable publisher and `join`), or the reliable publisher of a lossy
    /// one.
    PolicyMismatch,
}

impl Error {
    /// `true` for [`Error::Full`], [`Error::Empty`] and [`Error::Busy`], the
    /// conditions that go away by themselves when the other side makes
    /// progress.
    ///
    /// ```
    /// use ipckit_core::Error;
    /// assert!(Error::Full.is_flow());
    /// assert!(!Error::Corrupted("head").is_flow());
    /// ```
    pub const fn is_flow(&self) -> bool {
        matches!(self, Error::Full | Error::Empty | Error::Busy)
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
    /// use ipckit_core::Error;
    /// assert!(Error::Lagged(3).is_lagged());
    /// ```
    pub const fn is_lagged(&self) -> bool {
        matches!(self, Error::Lagged(_))
    }

    /// `true` for [`Error::PeerGone`].
    pub const fn is_peer_gone(&self) -> bool {
        matches!(self, Error::PeerGone)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Full => f.write_str("full (no free slot, or count at its maximum)"),
            Error::Empty => f.write_str("empty (no item, or count is 0)"),
            Error::TooSmall { required, actual } => {
                write!(
                    f,
                    "region too small: {actual} bytes, layout needs {required}"
                )
            }
            Error::Misaligned { required } => {
                write!(f, "region base address is not aligned to {required} bytes")
            }
            Error::InvalidCapacity => f.write_str("invalid capacity or count for this object"),
            Error::UnsupportedType => {
                f.write_str("element type is zero-sized or aligned to more than a layout line")
            }
            Error::NotInitialized => f.write_str("region header is not published as ready"),
            Error::AlreadyInitialized => f.write_str("region is already initialised"),
            Error::BadMagic => f.write_str("not an ipckit region (bad magic number)"),
            Error::ForeignEndian => f.write_str("region was written with the other byte order"),
            Error::VersionMismatch { found, expected } => {
                write!(
                    f,
                    "layout version {found} is not the supported version {expected}"
                )
            }
            Error::KindMismatch { found, expected } => {
                write!(f, "object kind {found} where kind {expected} was expected")
            }
            Error::ElementMismatch { size, align } => write!(
                f,
                "region holds elements of size {size} and alignment {align}, not the caller's type"
            ),
            Error::RoleTaken(role) => write!(f, "the {role} endpoint is already claimed"),
            Error::TimedOut => f.write_str("timed out"),
            Error::NoClock => f.write_str("a timeout needs a notifier with a clock"),
            Error::WaitFailed(code) => write!(f, "waiting failed with OS error {code}"),
            Error::NotifyMismatch => {
                f.write_str("the endpoint's notifier does not match the ring's wake mode")
            }
            Error::Corrupted(what) => write!(f, "region corrupted: {what}"),
            Error::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the maximum of {max}")
            }
            Error::BufferTooSmall { required } => {
                write!(f, "buffer too small: the next frame needs {required} bytes")
            }
            Error::Truncated { missing } => {
                write!(f, "stream ended inside a frame ({missing} bytes missing)")
            }
            Error::PeerGone => f.write_str("the peer endpoint is gone"),
            Error::OutOfRange { end, len } => {
                write!(f, "bytes up to {end} asked of a grant or frame of {len}")
            }
            Error::TooFewSlots {
                requested,
                available,
            } => write!(f, "{requested} slots asked for, {available} available"),
            Error::Busy => f.write_str(
                "the slot needed is claimed by another endpoint that has not finished with it \
                 (or is being written)",
            ),
            Error::Lagged(n) => write!(
                f,
                "broadcast subscriber lagged: {n} items overwritten before they were read"
            ),
            Error::PolicyMismatch => {
                f.write_str("the operation does not fit the broadcast ring's policy")
            }
        }
    }
}

impl core::error::Error for Error {}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;

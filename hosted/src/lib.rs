//! `ipckit`: inter-process communication for Linux.
//!
//! This is the Linux side of ipckit. The [`ipckit_core`] crate lays its
//! primitives (the region [`Header`], the [`spsc`] ring, its error
//! [`CoreError`]) out on raw bytes and never calls the operating system;
//! this crate supplies what only the operating system can: memory that
//! several processes share, futex waiting, process channels and the shims
//! for pipes, sockets, message queues and signals.
//!
//! Everything of the core is re-exported at the root, so `ipckit::spsc::Ring`
//! is `ipckit_core::spsc::Ring` and a user depends on this crate alone. The
//! one exception is the error: [`ipckit::Error`](Error) and
//! [`ipckit::Result`](Result) are this crate's, whose flow conditions
//! ([`Error::Full`], [`Error::Empty`], [`Error::TimedOut`],
//! [`Error::PeerGone`]) are plain variants with `is_…()` predicates; the
//! core's error, which its rings return, is [`CoreError`] and converts with
//! `?`.
//!
//! # Example: a ring shared with a child process
//! ```
//! use ipckit::shm::SharedMapping;
//! use ipckit::spsc::Ring;
//!
//! let len = Ring::<u32>::region_len(256).expect("valid capacity");
//! let mapping = SharedMapping::anonymous(len)?;
//! // Initialise before `fork()`, so that the child finds a ready ring.
//! let ring = Ring::<u32>::init(mapping.region(), 256)?;
//!
//! // After `fork()` the child would run this on the same pages:
//! let child_view = Ring::<u32>::attach(mapping.region())?;
//! let mut rx = child_view.consumer()?;
//!
//! let mut tx = ring.producer()?;
//! assert_eq!(tx.push_partial_slice(&[1, 2, 3])?, 3);
//! let mut out = [0; 3];
//! assert_eq!(rx.pop_partial_slice(&mut out)?, 3);
//! assert_eq!(out, [1, 2, 3]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Modules
//! - [`shm`]: shared memory to place rings on: anonymous mappings, named
//!   POSIX objects, sealed memfds, mapped files, and handing descriptors to
//!   other processes.
//! - [`channel`]: process channels by name or on a memfd or file: typed
//!   SPSC and MPMC, byte messages on the SPSC frame ring; blocking with
//!   timeouts, `PeerGone` instead of a hang when the peer dies, take-over
//!   of a dead endpoint, listing and removing stale channels.
//! - [`futex`]: shared Linux futexes as the core's [`wait::Notify`], for
//!   blocking across processes.
//! - [`message`]: the one message interface ([`message::MessageSender`],
//!   [`message::MessageReceiver`]) that every transport implements.
//! - [`error`]: this crate's [`Error`]: the flow conditions, the core's
//!   other findings, and failed system calls with their context.
//! - everything of [`ipckit_core`]: [`region`], [`spsc`], ...
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub use ipckit_core::*;
// Named imports shadow the glob's: `ipckit::Error` and `ipckit::Result` are
// this crate's, and the core's error is `ipckit::CoreError`.
pub use error::{CoreError, Error, Result};

pub mod channel;
pub mod error;
pub mod futex;
pub mod heap;
pub mod message;
pub mod shm;
pub mod transport;

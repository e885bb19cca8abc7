//! `ipckit`: inter-process communication for Linux.
//!
//! This is the Linux side of ipckit. The [`ipckit_core`] crate lays its
//! rings out on raw bytes and never calls the operating system; this crate
//! supplies what only the operating system can: memory that several
//! processes share, futex waiting, channels between processes by name, and
//! the shims for pipes, sockets, message queues and signals. Everything of
//! the core is re-exported at the root (`ipckit::spsc::Ring` is
//! `ipckit_core::spsc::Ring`), so a user depends on this crate alone; the
//! one exception is the error (below).
//!
//! # Tutorial
//!
//! ## Channels by name
//! A [`channel`] is a core ring in a named POSIX shared-memory object, with
//! a record of which process holds each end: an options builder
//! ([`channel::bytes()`](fn@channel::bytes), [`channel::spsc()`](fn@channel::spsc), ...)
//! sizes it and makes the end you ask for, by name or on a memfd for a
//! child process ([`pair_for_child`](channel::Builder::pair_for_child)).
//! Calls come in
//! four forms: `try_` (never waits), blocking, `_timeout(Duration)` and
//! `_deadline(Instant)`. Blocked calls sleep in a shared futex, and return
//! [`Error::PeerGone`] instead of hanging when the other side closes or
//! dies.
//!
//! ```
//! use std::time::Duration;
//! use ipckit::channel::{self, bytes};
//!
//! let name = format!("ipckit-doc-tour-{}", std::process::id());
//! let mut tx: bytes::Sender = channel::bytes().max_message(64).create(&name)?;
//! // Another process would run this line:
//! let mut rx: bytes::Receiver = channel::bytes().open(&name)?;
//!
//! tx.send(b"hello")?;
//! let mut buf = [0; 64];
//! let n = rx.recv_timeout(&mut buf, Duration::from_secs(1))?;
//! assert_eq!(&buf[..n], b"hello");
//!
//! drop(tx); // the sender closes (or its process dies)
//! assert!(rx.recv(&mut buf).unwrap_err().is_peer_gone());
//! ipckit::shm::ShmObject::remove(&name)?;
//! # Ok::<(), ipckit::Error>(())
//! ```
//!
//! [`channel::spsc`](mod@channel::spsc) and
//! [`channel::mpmc`](mod@channel::mpmc) carry typed `T: Pod` items;
//! [`channel::bytes`](mod@channel::bytes) and
//! [`channel::mpsc_bytes`](mod@channel::mpsc_bytes) carry byte messages, and
//! implement the [`message`] interface every transport implements;
//! `channel::typed` (feature `serde`, on by default) carries serde values
//! over them as postcard messages, the message type checked when the sides
//! meet.
//!
//! ## Rings on the heap, or on a mapping of your own
//! Two threads of one process need no name: a [`heap`] ring owns one
//! aligned allocation, with nothing to size by hand (and the core's
//! [`spsc::StaticRing`] owns its memory in a `static`).
//!
//! ```
//! use ipckit::heap;
//!
//! let ring = heap::Spsc::<u64>::new(1024)?;
//! let (mut tx, mut rx) = ring.split()?;
//! std::thread::scope(|s| {
//!     s.spawn(move || (0..1000).try_for_each(|i| tx.push(i)));
//!     let mut sum = 0;
//!     for _ in 0..1000 {
//!         sum += rx.pop()?;
//!     }
//!     assert_eq!(sum, 999 * 1000 / 2);
//!     Ok::<(), ipckit::Error>(())
//! })?;
//!
//! let frames = heap::FrameSpsc::new(4096)?;
//! let (mut tx, mut rx) = frames.split()?;
//! tx.try_send(b"a frame")?;
//! assert_eq!(rx.try_recv(&mut [0; 16])?, 7);
//! # Ok::<(), ipckit::Error>(())
//! ```
//!
//! The core's rings work on any [`shm`] mapping too; the ring's
//! `region_len` says how many bytes to map:
//!
//! ```
//! use ipckit::shm::SharedMapping;
//! use ipckit::spsc::Ring;
//!
//! let mapping = SharedMapping::anonymous(Ring::<u32>::region_len(256)?)?;
//! // Initialise before `fork()`, so that the child finds a ready ring.
//! let ring = Ring::<u32>::init(mapping.region(), 256)?;
//!
//! // After `fork()` the child would run this on the same pages:
//! let child_view = Ring::<u32>::attach(mapping.region())?;
//! let mut rx = child_view.consumer()?;
//!
//! let mut tx = ring.producer()?;
//! tx.push_entire_slice(&[1, 2, 3])?;
//! let mut out = [0; 3];
//! rx.pop_entire_slice(&mut out)?;
//! assert_eq!(out, [1, 2, 3]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The one error
//! [`ipckit::Error`](Error) and [`ipckit::Result`](Result) are this crate's,
//! returned by every call. What a caller retries or ends on is a plain
//! variant with a predicate, the same for a shared-memory channel, a pipe or
//! a message queue: [`Error::Full`], [`Error::Empty`], [`Error::TimedOut`],
//! [`Error::Busy`], [`Error::PeerGone`] (`is_full()`, `is_empty()`,
//! `is_timeout()`, `is_busy()`, `is_peer_gone()`). The core's error,
//! [`CoreError`], converts with `?`: its flow conditions become those
//! variants, its other findings [`Error::Core`]. Failed system calls keep
//! the call, the object and the `errno` ([`error`]).
//!
//! ```
//! use ipckit::{heap, CoreError, Error, Role};
//!
//! /// The oldest item, if the consumer's role is free.
//! fn first(ring: &heap::Spsc<u64>) -> ipckit::Result<u64> {
//!     let mut rx = ring.consumer()?; // a `CoreError`, converted by `?`
//!     Ok(rx.try_pop()?)
//! }
//!
//! let ring = heap::Spsc::<u64>::new(8)?;
//! assert!(matches!(first(&ring), Err(Error::Empty))); // not nested in `Core`
//! let _held = ring.consumer()?;
//! assert!(matches!(
//!     first(&ring),
//!     Err(Error::Core(CoreError::RoleTaken(Role::Consumer)))
//! ));
//! # Ok::<(), Error>(())
//! ```
//!
//! # Modules
//! - [`shm`]: shared memory to place rings on: anonymous mappings, named
//!   POSIX objects, sealed memfds, mapped files, and handing descriptors to
//!   other processes.
//! - [`channel`]: process channels by name or on a memfd or file: typed
//!   SPSC and MPMC, byte messages on the SPSC and MPSC frame rings;
//!   blocking with timeouts, `PeerGone` instead of a hang when the peer
//!   dies, take-over of a dead endpoint, listing and removing stale
//!   channels.
//! - [`heap`]: the core's rings in a heap allocation they own, for threads
//!   of one process.
//! - [`futex`]: shared Linux futexes as the core's [`wait::Notify`], for
//!   blocking across processes.
//! - [`message`]: the one message interface ([`message::MessageSender`],
//!   [`message::MessageReceiver`]) that every transport implements.
//! - [`transport`]: pipes, sockets, message queues, eventfd, signals and
//!   semaphores behind that interface.
//! - [`pubsub`](mod@pubsub): publish/subscribe by name: one publisher that
//!   never waits, subscribers that join and leave at run time and are told
//!   exactly what they lost.
//! - [`waitset`]: one thread waiting on many descriptors and timers
//!   (epoll), without an async runtime.
//! - [`object`]: managing the named ones: the mode they are created with,
//!   read-only and write-only opens, whom an open trusts, and
//!   [`RemoveOnDrop`](object::RemoveOnDrop) for their creator.
//! - [`error`]: this crate's [`Error`]: the flow conditions, the core's
//!   other findings, and failed system calls with their context.
//! - everything of [`ipckit_core`]: [`region`], [`place`], [`spsc`],
//!   [`mpmc`], [`frame`], [`wait`], ...
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
pub mod object;
pub mod pubsub;
/// The issue's spelling of [`pubsub::topic`]: `ipckit::pubsub::<T>(name)`
/// starts a [`TopicBuilder`](pubsub::TopicBuilder) (a function beside the
/// module of the same name).
///
/// ```
/// let name = format!("doc-pubsub-fn-{}", std::process::id());
/// let topic = ipckit::pubsub::<u64>(&name).capacity(8).open_or_create()?;
/// assert_eq!(topic.capacity(), 8);
/// ipckit::pubsub::remove(&name)?;
/// # Ok::<(), ipckit::Error>(())
/// ```
pub fn pubsub<T: Pod>(name: &str) -> pubsub::TopicBuilder<T> {
    pubsub::topic(name)
}
pub mod rpc;
pub mod shm;
pub mod transport;
pub mod waitset;

/// The README's Rust snippets, compiled and run with the doctests (so they
/// follow the API). Shell and text blocks there are fenced `sh` / `text`.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

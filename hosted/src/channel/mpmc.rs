//! A typed channel between many processes on the [MPMC ring](crate::mpmc):
//! up to [`MAX_ENDPOINTS`] (64) [`Sender`]s and as many [`Receiver`]s at a
//! time, each item delivered to exactly one receiver.
//!
//! Each endpoint records its process in a free slot of its side's table in
//! the liveness block (a closed slot, or one whose process died, is reused).
//! A blocked receiver gets [`Error::PeerGone`] once the channel is empty and
//! every sender that ever opened it closed or died; a blocked sender once
//! every receiver did.
//!
//! A sender that dies in the middle of a `send` (between claiming a position
//! and publishing its item) leaves a hole that holds up every later item:
//! receivers wait on it (and get `PeerGone` when no sender is left). See
//! the core's [`Ring::stalled`](crate::mpmc::Ring::stalled) for spotting it.
//!
//! ```
//! use ipckit::channel::mpmc::{Receiver, Sender};
//!
//! let name = format!("ipckit-doc-mpmc-{}", std::process::id());
//! let tx = Sender::<u32>::create(&name, 64)?;
//! let tx2 = Sender::<u32>::open(&name)?;
//! let (rx, rx2) = (Receiver::<u32>::open(&name)?, Receiver::<u32>::open(&name)?);
//! tx.send(1)?;
//! tx2.send(2)?;
//! let mut got = [rx.recv()?, rx2.recv()?];
//! got.sort();
//! assert_eq!(got, [1, 2]);
//! drop((tx, tx2));
//! assert!(rx.recv().unwrap_err().is_peer_gone());
//! ipckit::shm::ShmObject::remove(&name)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::Duration;

use ipckit_core::Pod;
use ipckit_core::Role;
use ipckit_core::mpmc::{Consumer, Options, Producer, Ring};

use super::liveness::{MAX_ENDPOINTS, Membership};
use super::{Memory, Mode, blocking, core_ring, endpoint_constructors, notifier, set_up};
use crate::error::Result;
#[cfg(doc)]
use crate::error::{CoreError, Error};
use crate::futex::Futex;

core_ring!([T: Pod] Ring<'static, T>, Mpmc, MAX_ENDPOINTS, Options);

/// Sets up the ring on `mem`, makes an endpoint and records it.
fn open<T: Pod, E>(
    mem: Memory,
    mode: Mode,
    capacity: u32,
    role: Role,
    make: impl Fn(&Ring<'static, T>) -> ipckit_core::Result<E>,
) -> Result<(Memory, E, Membership)> {
    set_up(mem, mode, capacity, |ring, block| {
        let endpoint = make(ring)?;
        let member = Membership::claim_any(block, role)?;
        Ok((endpoint, member))
    })
}

macro_rules! constructors {
    ($role:expr, $make:expr) => {
        endpoint_constructors! {
            open: |mem, mode, capacity| open::<T, _>(mem, mode, capacity, $role, $make),
            ring: Ring<T>;
            object_len {
                /// The length of a channel object for `capacity` items: what a
                /// [`Memfd`](crate::shm::Memfd) or
                /// [`MappedFile`](crate::shm::MappedFile) given to
                /// [`init_on`](Self::init_on) needs. `None` for a capacity that is
                /// not a power of two in `2..=2^30`.
            }
            create {
                /// Creates the channel `name` (which must not exist:
                /// [`Error::AlreadyExists`]) with room for `capacity` items, and
                /// opens this endpoint.
            }
            open {
                /// Opens the existing channel `name`. [`CoreError::RoleTaken`] if
                /// all 64 slots of this side are held by live processes.
            }
            init_on {
                /// Creates a channel of `capacity` items on fresh, zeroed `mem` of
                /// at least [`object_len`](Self::object_len) bytes.
            }
            attach {
                /// Attaches to the channel in `mem`.
            }
            memory {
                /// The memory the channel lives in.
            }
            peer_gone {
                /// `Some(error)` ([`Error::PeerGone`]) if endpoints of the other
                /// side came and all of them closed or died since; `None` otherwise.
            }
        }

        /// The number of slots.
        pub fn capacity(&self) -> u32 {
            self.end.capacity()
        }
    };
}

/// A sending endpoint of a typed MPMC channel; shareable between threads
/// (`&self` methods).
pub struct Sender<T: Pod> {
    member: Membership,
    end: Producer<'static, T, Futex>,
    mem: Memory,
}

impl<T: Pod> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("mpmc::Sender")
            .field("mem", &self.mem)
            .finish_non_exhaustive()
    }
}

impl<T: Pod> Sender<T> {
    constructors!(Role::Producer, |r: &Ring<'static, T>| r
        .producer_with(notifier()));

    /// Sends `value`, or [`CoreError::Full`] at once.
    pub fn try_send(&self, value: T) -> Result<()> {
        Ok(self.end.try_push(value)?)
    }

    /// Sends `value`, waiting while the channel is full;
    /// [`Error::PeerGone`] if every receiver closed or died.
    pub fn send(&self, value: T) -> Result<()> {
        self.send_timeout(value, None)
    }

    /// [`send`](Self::send), waiting at most `timeout`.
    pub fn send_timeout(&self, value: T, timeout: Option<Duration>) -> Result<()> {
        blocking(
            timeout,
            |t| self.end.push_timeout(value, t),
            || self.member.peer_gone(),
        )
    }
}

/// A receiving endpoint of a typed MPMC channel; shareable between threads.
pub struct Receiver<T: Pod> {
    member: Membership,
    end: Consumer<'static, T, Futex>,
    mem: Memory,
}

impl<T: Pod> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("mpmc::Receiver")
            .field("mem", &self.mem)
            .finish_non_exhaustive()
    }
}

impl<T: Pod> Receiver<T> {
    constructors!(Role::Consumer, |r: &Ring<'static, T>| r
        .consumer_with(notifier()));

    /// An item, or [`CoreError::Empty`] at once.
    pub fn try_recv(&self) -> Result<T> {
        Ok(self.end.try_pop()?)
    }

    /// An item, waiting while the channel is empty; [`Error::PeerGone`]
    /// once it is empty and every sender closed or died.
    pub fn recv(&self) -> Result<T> {
        self.recv_timeout(None)
    }

    /// [`recv`](Self::recv), waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Option<Duration>) -> Result<T> {
        blocking(
            timeout,
            |t| self.end.pop_timeout(t),
            || self.member.peer_gone(),
        )
    }
}

//! A typed channel between two processes on the [SPSC ring](crate::spsc):
//! one [`Sender<T>`], one [`Receiver<T>`], items of any `T: Pod`.
//!
//! ```
//! use ipckit::channel::spsc::{Receiver, Sender};
//! use ipckit::error::{CoreError, Error};
//!
//! let name = format!("ipckit-doc-spsc-{}", std::process::id());
//! let mut tx = Sender::<u64>::create(&name, 1024)?;
//! // Another process would open it by name:
//! let mut rx = Receiver::<u64>::open(&name)?;
//! tx.send(7)?;
//! assert_eq!(rx.recv()?, 7);
//! assert!(matches!(rx.try_recv(), Err(Error::Core(CoreError::Empty))));
//! drop(tx);
//! // The sender is gone and nothing is queued: a blocked receiver learns it.
//! assert!(rx.recv().unwrap_err().is_peer_gone());
//! ipckit::shm::ShmObject::remove(&name)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::Duration;

use ipckit_core::Pod;
use ipckit_core::spsc::{Consumer, Options, Producer, Ring};
use ipckit_core::{ObjectKind, Role};

use super::liveness::Membership;
use super::{
    Memory, Mode, Parts, blocking, claim_single, created_name, named, notifier, object_len,
    undo_on_error,
};
use crate::error::{CoreError, Error, Result};
use crate::futex::Futex;

/// Sets up the ring on `mem` and claims `role`.
fn open<T: Pod, E>(
    mem: Memory,
    mode: Mode,
    capacity: u32,
    role: Role,
    claim: impl Fn(&Ring<'static, T>) -> ipckit_core::Result<E>,
) -> Result<(Memory, E, Membership)> {
    let created = mode == Mode::Init;
    let cleanup = created_name(&mem, mode);
    let set_up = (|| {
        let (parts, ring) = if created {
            let core_len = Ring::<T>::region_len(capacity).ok_or(CoreError::InvalidCapacity)?;
            let parts = Parts::fresh(mem, core_len, 1)?;
            let ring = Ring::<T>::init_with(parts.core, Options::new(capacity).waking(true))?;
            (parts, ring)
        } else {
            let parts = Parts::existing(mem, ObjectKind::Spsc, 1)?;
            let ring = Ring::<T>::attach(parts.core)?;
            (parts, ring)
        };
        let Parts { mem, block, .. } = parts;
        let (endpoint, member) =
            claim_single(block, role, mode == Mode::TakeOver, &ring, claim, |r| {
                // SAFETY: `claim_single` calls this only after it found the
                // role's recorded holder dead (pid and start time) and won
                // its liveness slot: the dead process never uses its
                // endpoint again, and this process had no endpoint of the
                // role (it would have recorded our own, live, pid).
                unsafe {
                    match role {
                        Role::Producer => r.release_producer_claim(),
                        Role::Consumer => r.release_consumer_claim(),
                    }
                }
            })?;
        Ok((mem, endpoint, member))
    })();
    undo_on_error(set_up, cleanup)
}

macro_rules! constructors {
    ($role:expr, $claim:expr) => {
        /// The length of a channel object for `capacity` items (the core
        /// ring, padding, the liveness block): what a [`Memfd`] or
        /// [`MappedFile`] given to [`init_on`](Self::init_on) needs.
        /// `None` for a capacity that is not a power of two in `1..=2^31`.
        ///
        /// [`Memfd`]: crate::shm::Memfd
        /// [`MappedFile`]: crate::shm::MappedFile
        pub fn object_len(capacity: u32) -> Option<usize> {
            Ring::<T>::region_len(capacity).map(object_len)
        }

        /// Creates the channel `name` (which must not exist:
        /// [`Error::AlreadyExists`]; of racing creators exactly one wins)
        /// with room for `capacity` items (a power of two), and claims this
        /// end.
        pub fn create(name: &str, capacity: u32) -> Result<Self> {
            let len = Self::object_len(capacity).ok_or(CoreError::InvalidCapacity)?;
            let (mem, mode) = named(name, len, true, false)?;
            Self::on(mem, mode, capacity)
        }

        /// Opens the existing channel `name` and claims this end
        /// ([`CoreError::RoleTaken`] if another endpoint holds it; see
        /// [`take_over`](Self::take_over) for a dead holder).
        pub fn open(name: &str) -> Result<Self> {
            let (mem, mode) = named(name, 0, false, true)?;
            Self::on(mem, mode, 0)
        }

        /// Opens `name`, or creates it with `capacity` if it does not exist
        /// (`capacity` only matters when creating).
        pub fn open_or_create(name: &str, capacity: u32) -> Result<Self> {
            let len = Self::object_len(capacity).ok_or(CoreError::InvalidCapacity)?;
            let (mem, mode) = named(name, len, true, true)?;
            Self::on(mem, mode, capacity)
        }

        /// Opens the existing channel `name` and claims this end, taking it
        /// over if its recorded holder is a dead process (checked by pid
        /// and start time). The new endpoint resumes at the published
        /// position. [`CoreError::RoleTaken`] if the holder lives.
        pub fn take_over(name: &str) -> Result<Self> {
            let (mem, _) = named(name, 0, false, true)?;
            Self::on(mem, Mode::TakeOver, 0)
        }

        /// Creates a channel of `capacity` items on fresh, zeroed `mem` of
        /// at least [`object_len`](Self::object_len) bytes (a [`Memfd`] to
        /// hand to a child, a new [`MappedFile`]) and claims this end.
        ///
        /// [`Memfd`]: crate::shm::Memfd
        /// [`MappedFile`]: crate::shm::MappedFile
        pub fn init_on(mem: impl Into<Memory>, capacity: u32) -> Result<Self> {
            Self::on(mem.into(), Mode::Init, capacity)
        }

        /// Attaches to the channel in `mem` (validating header, sizes and
        /// liveness block) and claims this end.
        pub fn attach(mem: impl Into<Memory>) -> Result<Self> {
            Self::on(mem.into(), Mode::Attach, 0)
        }

        /// [`take_over`](Self::take_over) on memory the caller opened.
        pub fn take_over_on(mem: impl Into<Memory>) -> Result<Self> {
            Self::on(mem.into(), Mode::TakeOver, 0)
        }

        fn on(mem: Memory, mode: Mode, capacity: u32) -> Result<Self> {
            let (mem, end, member) = open::<T, _>(mem, mode, capacity, $role, $claim)?;
            Ok(Self { member, end, mem })
        }

        /// The memory the channel lives in (to pass a memfd on, to flush a
        /// file).
        pub fn memory(&self) -> &Memory {
            &self.mem
        }

        /// The number of slots.
        pub fn capacity(&self) -> u32 {
            self.end.capacity()
        }

        /// `Some(error)` ([`Error::PeerGone`]) if the other end was opened
        /// once and has since closed or died; `None` while it lives or
        /// before it first came. Reads `/proc` for a recorded peer.
        pub fn peer_gone(&self) -> Option<Error> {
            self.member.peer_gone()
        }
    };
}

/// The sending end of a typed SPSC channel.
///
/// Dropping it marks it closed: a receiver blocked on an empty channel then
/// gets [`Error::PeerGone`].
pub struct Sender<T: Pod> {
    // Field order is drop order: the liveness slot closes, then the core
    // claim goes, then the mapping.
    member: Membership,
    end: Producer<'static, T, Futex>,
    mem: Memory,
}

impl<T: Pod> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("spsc::Sender")
            .field("mem", &self.mem)
            .finish_non_exhaustive()
    }
}

impl<T: Pod> Sender<T> {
    constructors!(Role::Producer, |r: &Ring<'static, T>| r
        .producer_with(notifier()));

    /// Sends `value`, or [`CoreError::Full`] at once.
    pub fn try_send(&mut self, value: T) -> Result<()> {
        Ok(self.end.try_push(value)?)
    }

    /// Sends `value`, waiting while the channel is full;
    /// [`Error::PeerGone`] if the receiver closed or died meanwhile (the
    /// value is then not sent).
    pub fn send(&mut self, value: T) -> Result<()> {
        self.send_timeout(value, None)
    }

    /// [`send`](Self::send), waiting at most `timeout` (`None`: no limit):
    /// [`CoreError::TimedOut`].
    pub fn send_timeout(&mut self, value: T, timeout: Option<Duration>) -> Result<()> {
        let (end, member) = (&mut self.end, &self.member);
        blocking(
            timeout,
            |t| end.push_timeout(value, t),
            || member.peer_gone(),
        )
    }

    /// Sends as many of `items` as fit now, with one index publication;
    /// returns how many.
    pub fn try_send_slice(&mut self, items: &[T]) -> Result<usize> {
        Ok(self.end.push_slice(items)?)
    }
}

/// The receiving end of a typed SPSC channel.
///
/// Dropping it marks it closed: a sender blocked on a full channel then gets
/// [`Error::PeerGone`].
pub struct Receiver<T: Pod> {
    member: Membership,
    end: Consumer<'static, T, Futex>,
    mem: Memory,
}

impl<T: Pod> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("spsc::Receiver")
            .field("mem", &self.mem)
            .finish_non_exhaustive()
    }
}

impl<T: Pod> Receiver<T> {
    constructors!(Role::Consumer, |r: &Ring<'static, T>| r
        .consumer_with(notifier()));

    /// The oldest item, or [`CoreError::Empty`] at once.
    pub fn try_recv(&mut self) -> Result<T> {
        Ok(self.end.try_pop()?)
    }

    /// The oldest item, waiting while the channel is empty;
    /// [`Error::PeerGone`] once it is empty and the sender closed or died.
    pub fn recv(&mut self) -> Result<T> {
        self.recv_timeout(None)
    }

    /// [`recv`](Self::recv), waiting at most `timeout` (`None`: no limit):
    /// [`CoreError::TimedOut`].
    pub fn recv_timeout(&mut self, timeout: Option<Duration>) -> Result<T> {
        let (end, member) = (&mut self.end, &self.member);
        blocking(timeout, |t| end.pop_timeout(t), || member.peer_gone())
    }

    /// Moves as many items as are queued (up to `out.len()`) into `out`;
    /// returns how many.
    pub fn try_recv_slice(&mut self, out: &mut [T]) -> Result<usize> {
        Ok(self.end.pop_slice(out)?)
    }
}

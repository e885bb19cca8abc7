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
//! # Endpoints that die in the middle of an operation
//! Every endpoint announces each claim it makes in the ring in its liveness
//! slot's intent before it makes it ([`ipckit_core::intent`]), so a
//! survivor can tell a dead endpoint's unfinished claim from a live one's
//! (see the core's [`recovery`](crate::mpmc::recovery) for the states and
//! why recovering them is safe):
//!
//! - **A sender killed in `send`** between claiming its position and
//!   publishing the item leaves a *hole* that holds up every later item. A
//!   blocked [`recv`](Receiver::recv) looks at the front of the ring
//!   when a sender dies (see [Dead peers](super#dead-peers)), and then
//!   every [`LIVENESS_SLICE`] (50 ms) while a dead sender's slot is left, and
//!   skips a hole whose claim only dead or closed senders' intents name (or
//!   any hole once no sender is alive), before it ever reports `PeerGone`:
//!   the items committed behind the hole are delivered, by the other
//!   senders while they keep sending. The dead sender's item is **not
//!   delivered**: it was never committed (that `send` never returned
//!   `Ok`). A live sender, however slow, is never skipped. (A sender killed
//!   after its publication but before `send` returned had its item
//!   committed: it is delivered, though the sender never learnt.)
//! - **A receiver killed in `recv`** between claiming an item and releasing
//!   its slot holds that slot; one lap later every send would be `Full`. A
//!   blocked [`send`](Sender::send) releases such a slot between its
//!   slices when only dead or closed receivers' intents name the claim. The
//!   item the dead receiver held is **lost**: it was committed (its `send`
//!   returned `Ok`) and never returned to anyone (`recv` returns only after
//!   the release). It is counted ([`Receiver::recoveries`]); each dead
//!   receiver loses at most that one item.
//!
//! Every other committed item is delivered exactly once, each sender's in
//! order. `try_send` and `try_recv` never look at liveness (no system call
//! on the fast path): call [`Receiver::skip_dead`] and
//! [`Sender::release_dead`] when polling. A dead endpoint's liveness slot
//! is not reused while its intent names an unfinished claim, since the
//! intent is the only record of it. The judgement relies on every endpoint
//! announcing its claims: do not attach plain core endpoints to a
//! channel's region.
//!
//! One intent serves one operation at a time, so an endpoint is `Send` but
//! not `Sync`: open one per thread, or [`try_clone`](Sender::try_clone)
//! one (a clone records itself in a liveness slot of its own, with its own
//! intent; this process stays alive to the peer until its last endpoint of
//! the side drops).
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

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipckit_core::Pod;
use ipckit_core::Role;
use ipckit_core::intent::{Attribution, Intent};
use ipckit_core::mpmc::{Consumer, Producer, Recoveries, Ring, Skip};

#[cfg(doc)]
use super::LIVENESS_SLICE;
#[cfg(doc)]
use super::liveness::MAX_ENDPOINTS;
use super::liveness::{Block, Membership};
use super::{
    Look, Memory, Mode, blocking_recovering, empty_or_closed, endpoint_constructors,
    full_or_closed, set_up, until,
};
#[cfg(doc)]
use crate::error::Error;
use crate::error::{CoreError, Result};
use crate::futex::Futex;

mod conveniences;

/// The most holes one look skips (each skip moves `head` on; this only
/// bounds the work a hostile peer can make one call do).
const SKIPS_PER_LOOK: u32 = 1024;

/// Sets up the ring on `mem`, records this process in a slot of `role`'s
/// side, and makes the endpoint announcing its claims in that slot's
/// intent. A dead endpoint's slot whose intent names an unfinished claim
/// is not reused (module docs).
fn open<T: Pod, E>(
    mem: Memory,
    mode: Mode,
    capacity: u32,
    type_id: u64,
    role: Role,
    make: impl Fn(&Ring<'static, T>, &'static Intent, Futex) -> ipckit_core::Result<E>,
) -> Result<(Memory, E, Membership)> {
    set_up(
        mem,
        mode,
        capacity,
        type_id,
        |ring: &Ring<'static, T>, block| claim(ring, block, role, make),
    )
}

/// Records this process in a slot of `role`'s side of `block` and makes
/// the endpoint with `make`, announcing its claims in that slot's intent
/// and sleeping through its notifier (which watches the peers' slots):
/// what [`open`] does once the ring is set up, and what `try_clone` does
/// on the ring of the endpoint it clones.
fn claim<T: Pod, E>(
    ring: &Ring<'static, T>,
    block: Block,
    role: Role,
    make: impl Fn(&Ring<'static, T>, &'static Intent, Futex) -> ipckit_core::Result<E>,
) -> Result<(E, Membership)> {
    let member = Membership::claim_any_announcing(block, role, |position, span| {
        span == 0 || !ring.unfinished(role, position)
    })?;
    let endpoint = make(ring, member.intent(), member.notifier())?;
    Ok((endpoint, member))
}

/// The core producer of a sender, announcing in `intent`.
fn make_tx<T: Pod>(
    r: &Ring<'static, T>,
    intent: &'static Intent,
    notify: Futex,
) -> ipckit_core::Result<Tx<T>> {
    Ok(Tx {
        end: r.producer_with(notify)?.with_intent(intent),
        _one_at_a_time: PhantomData,
    })
}

/// The core consumer of a receiver, announcing in `intent`.
fn make_rx<T: Pod>(
    r: &Ring<'static, T>,
    intent: &'static Intent,
    notify: Futex,
) -> ipckit_core::Result<Rx<T>> {
    Ok(Rx {
        end: r.consumer_with(notify)?.with_intent(intent),
        held: Cell::new(None),
    })
}

/// The core producer of a [`Sender`]. Not `Sync`: its one intent serves one
/// operation at a time.
struct Tx<T: Pod> {
    end: Producer<'static, T, Futex>,
    _one_at_a_time: PhantomData<Cell<()>>,
}

/// The core consumer of a [`Receiver`], and the item a skip found
/// published after all, kept for the next receive. Not `Sync`, as [`Tx`].
struct Rx<T: Pod> {
    end: Consumer<'static, T, Futex>,
    held: Cell<Option<T>>,
}

/// Skips holes at the front of the ring whose claims only dead or closed
/// senders name (any hole once `no_sender` holds: no sender is alive);
/// returns how many, and the item of a hole found published after all.
fn skip_dead<T: Pod>(rx: &Rx<T>, block: &Block, no_sender: bool) -> Result<(u32, Option<T>)> {
    let mut skipped = 0;
    while skipped < SKIPS_PER_LOOK {
        // `unpublished` loads `tail` with Acquire, which makes the
        // claimant's announcement visible to `attribute`.
        let Some(position) = rx.end.ring().unpublished() else {
            break;
        };
        let abandoned = match block.attribute(Role::Producer, position) {
            Attribution::Dead { .. } => true,
            Attribution::Unknown => no_sender || !block.any_alive(Role::Producer),
            Attribution::Live => false,
        };
        if !abandoned {
            break;
        }
        match rx.end.skip_unpublished(position)? {
            Skip::Skipped => skipped += 1,
            Skip::Item(v) => return Ok((skipped, Some(v))),
            Skip::Moved => break,
        }
    }
    Ok((skipped, None))
}

/// Releases the slot the next send needs if a consumer claimed it and only
/// dead or closed receivers name that claim.
fn release_dead<T: Pod>(tx: &Tx<T>, block: &Block) -> Result<bool> {
    // `unreleased` loads `head` with Acquire, for `attribute`.
    let Some(position) = tx.end.ring().unreleased() else {
        return Ok(false);
    };
    match block.attribute(Role::Consumer, position) {
        Attribution::Dead { .. } => Ok(tx.end.release_unreleased(position)?),
        Attribution::Live | Attribution::Unknown => Ok(false),
    }
}

macro_rules! constructors {
    ($role:expr, $make:expr) => {
        endpoint_constructors! {
            open: |mem, mode, capacity, type_id| {
                open::<T, _>(mem, mode, capacity, type_id, $role, $make)
            };
            object_len {
                /// The length of a channel object for `capacity` items: what a
                /// [`Memfd`](crate::shm::Memfd) or
                /// [`MappedFile`](crate::shm::MappedFile) given to
                /// [`init_on`](Self::init_on) needs. `capacity` is rounded up to a
                /// power of two of at least 2, as [`create`](Self::create) does; `None`
                /// for 0 or more than 2^30.
            }
            create {
                /// Creates the channel `name` (which must not exist:
                /// [`Error::AlreadyExists`]) with room for `capacity` items (rounded
                /// up to a power of two of at least 2, the figure
                /// [`capacity`](Self::capacity) reports), and opens this endpoint.
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
            self.end.end.capacity()
        }

        /// `true` when no item is queued ([`len`](Self::len) is 0).
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        /// `true` when every slot's position is claimed: a
        /// [`try_send`](Sender::try_send) now would be [`Error::Full`].
        pub fn is_full(&self) -> bool {
            self.end.end.ring().is_full()
        }

        /// Another endpoint of this side in this process, on the same
        /// mapping: as [`open`](Self::open) would give, without the name
        /// (which may be gone or reused by now). It records itself in a
        /// liveness slot of its own, because a slot's intent names one claim
        /// at a time and a clone may be used from another thread meanwhile
        /// (see the module docs): this process counts as alive on this side
        /// while any of its endpoints lives, so dropping one clone never
        /// makes the peer see [`Error::PeerGone`] while another lives.
        /// [`CoreError::RoleTaken`] when all [`MAX_ENDPOINTS`] slots of this
        /// side are held by live endpoints: an error, never a panic.
        ///
        /// ```
        /// use ipckit::channel::mpmc::{Receiver, Sender};
        ///
        /// let name = format!("ipckit-doc-mpmc-clone-{}", std::process::id());
        /// let rx = Receiver::<u32>::create(&name, 64)?;
        /// let tx = Sender::<u32>::open(&name)?;
        /// let workers: Vec<_> = (0..3)
        ///     .map(|i| {
        ///         let tx = tx.try_clone()?;
        ///         Ok(std::thread::spawn(move || tx.send(i)))
        ///     })
        ///     .collect::<ipckit::Result<_>>()?;
        /// drop(tx); // the clones keep this process a sender
        /// for w in workers {
        ///     w.join().unwrap()?;
        /// }
        /// let mut got: Vec<u32> = rx.iter().collect::<ipckit::Result<_>>()?;
        /// got.sort();
        /// assert_eq!(got, [0, 1, 2]);
        /// ipckit::shm::ShmObject::remove(&name)?;
        /// # Ok::<(), ipckit::Error>(())
        /// ```
        pub fn try_clone(&self) -> Result<Self> {
            let ring = self.end.end.ring().clone();
            let block = *self.member.block();
            let (end, member) = claim(&ring, block, $role, $make)
                .map_err(|e| e.in_channel(|| self.mem.describe()))?;
            Ok(Self {
                member,
                end,
                mem: Arc::clone(&self.mem),
            })
        }

        /// What survivors recovered on this channel so far: holes of
        /// senders that died mid-send skipped, items lost with receivers
        /// that died holding them (module docs). Read from the shared
        /// region (a peer can write any value there).
        pub fn recoveries(&self) -> Recoveries {
            self.end.end.ring().recoveries()
        }
    };
}

/// A sending endpoint of a typed MPMC channel. `Send`, not `Sync`: one
/// endpoint runs one operation at a time (its claims are announced in one
/// intent); open one per thread.
///
/// ```
/// fn moved<T: Send>() {}
/// moved::<ipckit::channel::mpmc::Sender<u64>>();
/// moved::<ipckit::channel::mpmc::Receiver<u64>>();
/// ```
///
/// ```compile_fail
/// fn shared<T: Sync>() {}
/// shared::<ipckit::channel::mpmc::Sender<u64>>();
/// ```
pub struct Sender<T: Pod> {
    member: Membership,
    end: Tx<T>,
    // Shared with the clones of this endpoint (`try_clone`).
    mem: Arc<Memory>,
}

impl<T: Pod> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("mpmc::Sender")
            .field("mem", &self.mem)
            .finish_non_exhaustive()
    }
}

impl<T: Pod> Sender<T> {
    constructors!(Role::Producer, make_tx::<T>);

    /// Sends `value`, or [`Error::Full`] at once, or [`Error::Busy`] when the
    /// channel is not full but a receiver still holds the slot the item
    /// needs (also a dead receiver: see
    /// [`release_dead`](Self::release_dead)).
    ///
    /// [`Error::PeerGone`] instead of `Full` if every receiver closed
    /// ([channel docs](super#dead-peers)).
    pub fn try_send(&self, value: T) -> Result<()> {
        match self.end.end.try_push(value) {
            Err(CoreError::Full) => Err(full_or_closed(&self.member)),
            other => Ok(other?),
        }
    }

    /// Sends `value`, waiting while the channel is full and releasing a
    /// slot that a dead receiver held (module docs); [`Error::PeerGone`] if
    /// every receiver closed or died.
    pub fn send(&self, value: T) -> Result<()> {
        self.send_within(value, None)
    }

    /// [`send`](Self::send), waiting at most `timeout`:
    /// [`Error::TimedOut`] (the value is then not sent).
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<()> {
        self.send_within(value, Some(timeout))
    }

    /// [`send`](Self::send), waiting until `deadline` at the latest:
    /// [`Error::TimedOut`] (the value is then not sent).
    pub fn send_deadline(&self, value: T, deadline: Instant) -> Result<()> {
        self.send_timeout(value, until(deadline))
    }

    /// [`send`](Self::send), waiting at most `timeout` (`None`: no limit).
    fn send_within(&self, value: T, timeout: Option<Duration>) -> Result<()> {
        blocking_recovering(
            &mut (),
            timeout,
            |_, t| self.end.end.push_timeout(value, t),
            |_| self.member.peer_gone(),
            |_, _| {
                Ok(match release_dead(&self.end, self.member.block())? {
                    true => Look::Recovered,
                    false => Look::Nothing,
                })
            },
        )
    }

    /// Releases the slot the next send needs if a receiver claimed it and
    /// died (or closed) before releasing it, counting its item lost (module
    /// docs); `true` if it did. A blocked [`send`](Self::send) does this by
    /// itself; this is for a caller that polls with
    /// [`try_send`](Self::try_send). Reads `/proc`.
    ///
    /// ```
    /// use ipckit::channel::mpmc::Sender;
    ///
    /// let name = format!("ipckit-doc-mpmc-release-{}", std::process::id());
    /// let tx = Sender::<u32>::create(&name, 4)?;
    /// assert!(!tx.release_dead()?); // nobody holds a slot
    /// ipckit::shm::ShmObject::remove(&name)?;
    /// # Ok::<(), ipckit::Error>(())
    /// ```
    pub fn release_dead(&self) -> Result<bool> {
        release_dead(&self.end, self.member.block())
    }
}

/// A receiving endpoint of a typed MPMC channel. `Send`, not `Sync` (as
/// [`Sender`]); open one per thread.
///
/// ```compile_fail
/// fn shared<T: Sync>() {}
/// shared::<ipckit::channel::mpmc::Receiver<u64>>();
/// ```
pub struct Receiver<T: Pod> {
    member: Membership,
    end: Rx<T>,
    // Shared with the clones of this endpoint (`try_clone`).
    mem: Arc<Memory>,
}

impl<T: Pod> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("mpmc::Receiver")
            .field("mem", &self.mem)
            .finish_non_exhaustive()
    }
}

impl<T: Pod> Receiver<T> {
    constructors!(Role::Consumer, make_rx::<T>);

    /// An item, or [`Error::Empty`] at once when the channel holds none, or
    /// [`Error::Busy`] when a sender claimed the oldest position and has not
    /// published its item (also a dead sender's hole: see
    /// [`skip_dead`](Self::skip_dead)). [`Error::PeerGone`] instead of
    /// `Empty` once every sender closed ([channel docs](super#dead-peers)).
    pub fn try_recv(&self) -> Result<T> {
        if let Some(v) = self.end.held.take() {
            return Ok(v);
        }
        match self.end.end.try_pop() {
            Err(CoreError::Empty) => empty_or_closed(&self.member, || self.end.end.try_pop()),
            other => Ok(other?),
        }
    }

    /// An item, waiting while the channel is empty and skipping the holes
    /// of senders that died mid-send (module docs); [`Error::PeerGone`]
    /// once it is empty and every sender closed or died.
    pub fn recv(&self) -> Result<T> {
        self.recv_within(None)
    }

    /// [`recv`](Self::recv), waiting at most `timeout`:
    /// [`Error::TimedOut`].
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T> {
        self.recv_within(Some(timeout))
    }

    /// [`recv`](Self::recv), waiting until `deadline` at the latest:
    /// [`Error::TimedOut`].
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T> {
        self.recv_timeout(until(deadline))
    }

    /// [`recv`](Self::recv), waiting at most `timeout` (`None`: no limit).
    fn recv_within(&self, timeout: Option<Duration>) -> Result<T> {
        if let Some(v) = self.end.held.take() {
            return Ok(v);
        }
        blocking_recovering(
            &mut (),
            timeout,
            |_, t| self.end.end.pop_timeout(t),
            |_| self.member.peer_gone(),
            |_, no_sender| {
                Ok(
                    match skip_dead(&self.end, self.member.block(), no_sender)? {
                        (_, Some(v)) => Look::Item(v),
                        (0, None) => Look::Nothing,
                        (_, None) => Look::Recovered,
                    },
                )
            },
        )
    }

    /// Skips the holes at the front of the channel that senders which died
    /// mid-send left (module docs) and returns how many. A blocked
    /// [`recv`](Self::recv) does this by itself; this is for a caller that
    /// polls with [`try_recv`](Self::try_recv). Reads `/proc`.
    ///
    /// (A hole that turns out published as it is skipped, which only a
    /// sender judged dead that then publishes can cause, is taken as an
    /// item: it is kept for the next receive, and lost if this receiver is
    /// dropped first.)
    ///
    /// ```
    /// use ipckit::channel::mpmc::Receiver;
    ///
    /// let name = format!("ipckit-doc-mpmc-skip-{}", std::process::id());
    /// let rx = Receiver::<u32>::create(&name, 4)?;
    /// assert_eq!(rx.skip_dead()?, 0); // no hole
    /// assert_eq!(rx.recoveries().skipped, 0);
    /// ipckit::shm::ShmObject::remove(&name)?;
    /// # Ok::<(), ipckit::Error>(())
    /// ```
    pub fn skip_dead(&self) -> Result<u32> {
        if self.end.held.get().is_some() {
            return Ok(0); // an item waits for the next receive: look later
        }
        let (skipped, item) = skip_dead(&self.end, self.member.block(), false)?;
        if item.is_some() {
            self.end.held.set(item);
        }
        Ok(skipped)
    }
}

//! A byte-message channel from many processes to one on the [MPSC frame
//! ring](crate::frame::mpsc): up to [`MAX_ENDPOINTS`] (64) [`Sender`]s at a
//! time and one [`Receiver`], messages of 0 to
//! [`max_frame_len`](Sender::max_frame_len) bytes (half the capacity less
//! 8), each delivered whole; the messages of one sender arrive in the order
//! it sent them.
//!
//! Each sender records its process in a free slot of the senders' table in
//! the liveness block (a closed slot, or one whose process died, is reused)
//! and writes its pid as the claimant id of every record it claims
//! ([`Sender::id`]). The receiver holds the one receiver slot; a dead
//! receiver's role can be [taken over](Receiver::take_over).
//!
//! A blocked receiver gets [`Error::PeerGone`] once the channel is drained
//! and every sender that ever opened it closed or died; a blocked sender
//! once the receiver closed or died.
//!
//! # A sender that dies in the middle of a message
//! Senders claim space in the ring in order and commit in any order; the
//! receiver reads in order, so a record whose sender dies between its claim
//! and its commit would hold up every message behind it. A blocked
//! [`recv`](Receiver::recv) looks at such a stalled record when a sender
//! dies (see [Dead peers](super#dead-peers)), and then every
//! [`LIVENESS_SLICE`] (50 ms) while a dead sender's slot is left, and
//! skips it only when its writer is known not to write any more:
//!
//! - **Header written** (the record names its claimant, the sender's pid):
//!   skipped ([`Consumer::skip_stalled`](crate::frame::mpsc::Consumer::skip_stalled),
//!   by the length in the header) when every liveness slot recording that
//!   pid is closed or holds a dead process (pid and start time); if no slot
//!   records the pid any more (reused after the sender closed or died),
//!   when no process with that pid runs. A live sender, however slow, is
//!   never skipped: the receiver keeps waiting for it. (A sender closes its
//!   slot only after its last grant ended, so a closed slot has nothing in
//!   flight.)
//! - **Header not written yet** (the sender was between its claim of
//!   `tail` and its header store, a window of a few instructions): the
//!   record names nobody, but the sender's intent does. Before every
//!   compare-and-swap on `tail` a sender announces the position and the
//!   bytes it claims in the intent next to its liveness slot, and withdraws
//!   it once its header is written ([`ipckit_core::intent`]). The receiver
//!   reads every sender's intent: if a dead (or closed) sender's names the
//!   stalled position and no live sender's does, it skips exactly the bytes
//!   announced
//!   ([`Consumer::skip_unwritten`](crate::frame::mpsc::Consumer::skip_unwritten),
//!   which checks them against the ring), while the other senders go on;
//!   if a live sender's names it, it waits. A claim no intent accounts for
//!   (two senders killed within those few instructions, one of them just
//!   after losing the compare-and-swap for that position, and their intents
//!   disagree) is skipped only when no sender is alive at all (then nothing
//!   can be in flight: the core's forward scan to the next header is
//!   sound).
//!
//! A dead sender's liveness slot is reused by a new sender only after the
//! receiver has resolved the claim its intent announces (the receiver
//! releases such intents once their position is behind it).
//!
//! A receiver that dies is [taken over](Receiver::take_over): a message it
//! was reading is delivered again to the new receiver, unless it had begun
//! to erase it (after copying it out), in which case the new receiver
//! finishes that erase and the message is lost with the dead receiver: at
//! most one message per receiver death, never one twice.
//!
//! The core's [`set_stall_timeout`](crate::frame::mpsc::Consumer::set_stall_timeout)
//! (skip after a time, whoever the writer) is not used: it would skip live
//! senders. Skips are counted in the ring ([`Receiver::skipped`]).
//!
//! Each [`Sender`] announces its claims in its own intent, so a sender is
//! used by one thread at a time: it is `Send`, not `Sync`; threads that
//! send open one sender each, or [`try_clone`](Sender::try_clone) one
//! (a slot and an intent of its own).
//! `try_recv` reads no `/proc` (no system call; it reports `PeerGone` only
//! once every sender *closed*: see the [channel docs](super#dead-peers));
//! call [`Receiver::skip_dead`] when polling.
//!
//! The pid in a record is the pid in the sender's pid namespace: senders
//! and the receiver must share one (as for all liveness checks). A pid
//! reused by an unrelated process while a record of the dead sender waits
//! keeps the record waiting until that process ends or a later look finds
//! the dead sender's slot (only when the slot was reused meanwhile).
//!
//! ```
//! use ipckit::channel::mpsc_bytes::{Receiver, Sender};
//!
//! let name = format!("ipckit-doc-mpsc-bytes-{}", std::process::id());
//! let mut rx = Receiver::create(&name, 4096)?;
//! let (a, b) = (Sender::open(&name)?, Sender::open(&name)?);
//! assert_eq!(a.id(), std::process::id());
//! a.send(b"from a")?;
//! b.send(b"from b")?;
//! let mut buf = [0u8; 64];
//! let n = rx.recv(&mut buf)?;
//! assert_eq!(&buf[..n], b"from a");
//! let n = rx.recv(&mut buf)?;
//! assert_eq!(&buf[..n], b"from b");
//! drop((a, b));
//! assert!(rx.recv(&mut buf).unwrap_err().is_peer_gone());
//! ipckit::shm::ShmObject::remove(&name)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! There is no `send_many`: a sender claims each record with its own
//! compare-and-swap on `tail` (announced in its intent, which names one
//! claim at a time) and commits it on its own, so a batch would not
//! publish at once anyway; see also [`bytes`](mod@super::bytes).

use std::cell::Cell;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipckit_core::Role;
use ipckit_core::frame::mpsc::{Consumer, Grant, Producer, Ring, Skipped, Stall};
use ipckit_core::intent::Attribution;

#[cfg(doc)]
use super::LIVENESS_SLICE;
#[cfg(doc)]
use super::liveness::MAX_ENDPOINTS;
use super::liveness::{Block, Membership};
use super::{
    Look, Memory, Mode, blocking, blocking_recovering, claim_single, empty_or_closed,
    endpoint_constructors, full_or_closed, set_up, until,
};
#[cfg(doc)]
use crate::error::Error;
use crate::error::{CoreError, Result};
use crate::futex::Futex;
use crate::message::{MessageReceiver, MessageSender};

mod conveniences;
mod zero_copy;

/// The most stalled records one look skips (each skip moves `head` on, so
/// this only bounds the work a hostile peer can make one call do).
const SKIPS_PER_LOOK: u32 = 1024;

/// A value used from one thread at a time: `Send` (if `T` is), never
/// `Sync`. A sender's producer is one, for its one intent.
struct Unshared<T>(T, PhantomData<Cell<()>>);

impl<T> Deref for Unshared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// A sender: records this process in a senders' slot first, then makes the
/// producer with our pid as its claimant id and the slot's intent (so that
/// a record naming a pid always had a slot recording it while it was
/// written, and a claim is announced next to that slot before it is made).
fn open_sender(
    mem: Memory,
    mode: Mode,
    capacity: u32,
    type_id: u64,
) -> Result<(Memory, Unshared<Producer<'static, Futex>>, Membership)> {
    set_up(mem, mode, capacity, type_id, claim_sender)
}

/// What [`open_sender`] does once the ring is set up, and
/// [`Sender::try_clone`] on the ring of the sender it clones.
fn claim_sender(
    ring: &Ring<'static>,
    block: Block,
) -> Result<(Unshared<Producer<'static, Futex>>, Membership)> {
    let member = Membership::claim_any_keeping_intents(block, Role::Producer)?;
    // A closed slot's intent is withdrawn already; make sure.
    member.intent().clear();
    let end = ring
        .producer_with(member.notifier())?
        .with_id(std::process::id())?
        .with_intent(member.intent());
    Ok((Unshared(end, PhantomData), member))
}

/// The receiver: claims the core's consumer role and the receiver slot
/// (taking both over from a dead holder for `Mode::TakeOver`).
fn open_receiver(
    mem: Memory,
    mode: Mode,
    capacity: u32,
    type_id: u64,
) -> Result<(Memory, Consumer<'static, Futex>, Membership)> {
    set_up(mem, mode, capacity, type_id, |ring, block| {
        claim_single(
            block,
            Role::Consumer,
            mode == Mode::TakeOver,
            ring,
            |r: &Ring<'static>, n| r.consumer_with(n),
            |r| {
                // SAFETY: `claim_single` calls this only after it found the
                // receiver slot's recorded holder dead (pid and start time)
                // and won that slot: the dead process never uses its
                // consumer again, and this process had none (its slot
                // would record our own, live, pid).
                unsafe { r.release_consumer_claim() }
            },
        )
    })
}

macro_rules! constructors {
    ($open:ident $(, $($take_over:tt)+)?) => {
        endpoint_constructors! {
            open: $open;
            object_len {
                /// The length of a channel object for a data area of `capacity`
                /// bytes (the core ring, padding, the liveness block): what a
                /// [`Memfd`] or [`MappedFile`] given to [`init_on`](Self::init_on)
                /// needs. `capacity` is rounded up to a power of two of at least 16, as
                /// [`create`](Self::create) does; `None` for 0 or more than 2^31.
                ///
                /// [`Memfd`]: crate::shm::Memfd
                /// [`MappedFile`]: crate::shm::MappedFile
            }
            create {
                /// Creates the channel `name` (which must not exist:
                /// [`Error::AlreadyExists`]; of racing creators exactly one wins)
                /// with a data area of `capacity` bytes (rounded up to a power of two
                /// of at least 16, the figure [`capacity`](Self::capacity) reports), and
                /// opens this endpoint. To size it by the largest message, see
                /// [`Builder::max_message`](crate::channel::Builder::max_message).
            }
            open {
                /// Opens the existing channel `name` and this endpoint
                /// ([`CoreError::RoleTaken`] when its side is full: the receiver
                /// is held, or 64 senders live).
            }
            $($($take_over)+)?
            init_on {
                /// Creates a channel of `capacity` bytes on fresh, zeroed `mem` of
                /// at least [`object_len`](Self::object_len) bytes (a [`Memfd`] to
                /// hand to a child, a new [`MappedFile`]) and opens this endpoint.
                ///
                /// [`Memfd`]: crate::shm::Memfd
                /// [`MappedFile`]: crate::shm::MappedFile
            }
            attach {
                /// Attaches to the channel in `mem` (validating header, sizes and
                /// liveness block) and opens this endpoint.
            }
            memory {
                /// The memory the channel lives in (to pass a memfd on, to flush a
                /// file).
            }
            peer_gone {
                /// `Some(error)` ([`Error::PeerGone`]) if endpoints of the other
                /// side came and all of them closed or died since; `None` while one
                /// lives or before the first came. Reads `/proc` for recorded
                /// peers.
            }
        }

        /// The size of the data area in bytes.
        pub fn capacity(&self) -> u32 {
            self.end.capacity()
        }

        /// The largest message: half the data area less a record header.
        pub fn max_frame_len(&self) -> u32 {
            self.end.ring().max_frame_len()
        }
    };
}

/// A sending endpoint of a byte-message MPSC channel.
///
/// `Send`, not `Sync`: it announces its claims in one intent (module docs),
/// so one thread at a time sends through it. Threads that send open one
/// sender each (up to [`MAX_ENDPOINTS`] per channel).
///
/// ```compile_fail
/// fn shared<T: Sync>() {}
/// shared::<ipckit::channel::mpsc_bytes::Sender>();
/// ```
///
/// Dropping it marks its slot closed: once every sender is closed or dead,
/// a receiver blocked on a drained channel gets [`Error::PeerGone`].
pub struct Sender {
    // Field order is drop order: the liveness slot closes, then the
    // producer goes, then the mapping.
    member: Membership,
    end: Unshared<Producer<'static, Futex>>,
    // Shared with the clones of this sender (`try_clone`).
    mem: Arc<Memory>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("mpsc_bytes::Sender")
            .field("id", &self.end.id())
            .field("mem", &self.mem)
            .finish_non_exhaustive()
    }
}

impl Sender {
    constructors!(open_sender);

    /// The claimant id this sender writes into every record: its process
    /// id.
    pub fn id(&self) -> u32 {
        self.end.id()
    }

    /// Sends `message`, or [`Error::Full`] at once;
    /// [`CoreError::FrameTooLarge`] for a message over
    /// [`max_frame_len`](Self::max_frame_len).
    ///
    /// [`Error::PeerGone`] instead of `Full` if the receiver closed
    /// ([channel docs](super#dead-peers)).
    pub fn try_send(&self, message: &[u8]) -> Result<()> {
        match self.end.try_send(message) {
            Err(CoreError::Full) => Err(full_or_closed(&self.member)),
            other => Ok(other?),
        }
    }

    /// Sends `message`, waiting while there is no room;
    /// [`Error::PeerGone`] if the receiver closed or died meanwhile (the
    /// message is then not sent).
    pub fn send(&self, message: &[u8]) -> Result<()> {
        self.send_within(message, None)
    }

    /// [`send`](Self::send), waiting at most `timeout`:
    /// [`Error::TimedOut`] (the message is then not sent).
    pub fn send_timeout(&self, message: &[u8], timeout: Duration) -> Result<()> {
        self.send_within(message, Some(timeout))
    }

    /// [`send`](Self::send), waiting until `deadline` at the latest:
    /// [`Error::TimedOut`] (the message is then not sent).
    pub fn send_deadline(&self, message: &[u8], deadline: Instant) -> Result<()> {
        self.send_timeout(message, until(deadline))
    }

    /// [`send`](Self::send), waiting at most `timeout` (`None`: no limit).
    fn send_within(&self, message: &[u8], timeout: Option<Duration>) -> Result<()> {
        blocking(
            timeout,
            |t| self.end.send_timeout(message, t),
            || self.member.peer_gone(),
        )
    }

    /// Claims room for a message of `len` bytes to write in place, or
    /// [`Error::Full`] at once. The message is delivered when the
    /// [`Grant`] is committed; dropping it uncommitted discards the room.
    /// While a grant is open the receiver waits for it (messages claimed
    /// later by other senders queue behind it); if this process dies
    /// holding it, the receiver skips it (module docs).
    ///
    /// ```
    /// use ipckit::channel::mpsc_bytes::{Receiver, Sender};
    ///
    /// let name = format!("ipckit-doc-mpsc-grant-{}", std::process::id());
    /// let tx = Sender::create(&name, 4096)?;
    /// let mut rx = Receiver::open(&name)?;
    /// let mut grant = tx.try_grant(11)?;
    /// grant.write_at(0, b"hello")?;
    /// grant.write_at(5, b" world")?;
    /// assert!(rx.stalled()?.is_some_and(|s| s.claimant == Some(tx.id())));
    /// grant.commit(11)?;
    /// let mut buf = [0u8; 16];
    /// assert_eq!(rx.try_recv(&mut buf)?, 11);
    /// assert_eq!(&buf[..11], b"hello world");
    /// ipckit::shm::ShmObject::remove(&name)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_grant(&self, len: usize) -> Result<Grant<'_, 'static, Futex>> {
        Ok(self.end.try_grant(len)?)
    }

    /// [`try_grant`](Self::try_grant), waiting while there is no room;
    /// [`Error::PeerGone`] if the receiver closed or died meanwhile.
    pub fn grant(&self, len: usize) -> Result<Grant<'_, 'static, Futex>> {
        self.grant_within(len, None)
    }

    /// [`grant`](Self::grant), waiting at most `timeout`:
    /// [`Error::TimedOut`].
    pub fn grant_timeout(
        &self,
        len: usize,
        timeout: Duration,
    ) -> Result<Grant<'_, 'static, Futex>> {
        self.grant_within(len, Some(timeout))
    }

    /// [`grant`](Self::grant), waiting until `deadline` at the latest:
    /// [`Error::TimedOut`].
    pub fn grant_deadline(
        &self,
        len: usize,
        deadline: Instant,
    ) -> Result<Grant<'_, 'static, Futex>> {
        self.grant_timeout(len, until(deadline))
    }

    /// [`grant`](Self::grant), waiting at most `timeout` (`None`: no limit).
    fn grant_within(
        &self,
        len: usize,
        timeout: Option<Duration>,
    ) -> Result<Grant<'_, 'static, Futex>> {
        let end = &self.end;
        blocking(
            timeout,
            |t| end.grant_timeout(len, t),
            || self.member.peer_gone(),
        )
    }
}

/// The receiving end of a byte-message MPSC channel.
///
/// Dropping it marks it closed: a sender blocked on a full channel then
/// gets [`Error::PeerGone`].
pub struct Receiver {
    // Drop order: the core claim goes before the liveness slot closes.
    end: Consumer<'static, Futex>,
    member: Membership,
    mem: Memory,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("mpsc_bytes::Receiver")
            .field("mem", &self.mem)
            .finish_non_exhaustive()
    }
}

/// How many bytes of the stalled record `stall` to skip because its
/// writer will never finish it (module docs), or 0 to wait for it.
fn skip_abandoned_one(
    end: &mut Consumer<'static, Futex>,
    block: &Block,
    stall: &Stall,
) -> Result<u32> {
    let skipped = match stall.claimant {
        Some(pid) if block.writer_alive(Role::Producer, pid) => 0,
        Some(_) => end.skip_stalled(stall)?,
        // `stalled` loaded `tail` (Acquire) after the claim: the intents
        // announced before it are visible.
        None => match block.attribute(Role::Producer, stall.position) {
            Attribution::Dead { span } => end.skip_unwritten(stall.position, span)?,
            Attribution::Live => 0,
            Attribution::Unknown if block.any_alive(Role::Producer) => 0,
            Attribution::Unknown => end.skip_stalled(stall)?,
        },
    };
    Ok(skipped)
}

/// Skips stalled records at the front whose writers are gone, then
/// releases the intents of dead senders that name nothing unresolved;
/// returns how many records it skipped.
fn skip_abandoned(end: &mut Consumer<'static, Futex>, block: &Block) -> Result<u32> {
    let mut skipped = 0;
    while skipped < SKIPS_PER_LOOK {
        let Some(stall) = end.stalled()? else { break };
        if skip_abandoned_one(end, block, &stall)? == 0 {
            break;
        }
        skipped += 1;
    }
    block.release_stale_intents(Role::Producer, |position| {
        end.is_pending(position).unwrap_or(true)
    });
    Ok(skipped)
}

/// One look of a blocked receive between two slices: skips the records of
/// senders that died writing them (a stall seen after every sender is gone
/// is final).
fn look_for_dead<R>(rx: &mut Receiver, _all_gone: bool) -> Result<Look<R>> {
    Ok(match skip_abandoned(&mut rx.end, rx.member.block())? {
        0 => Look::Nothing,
        _ => Look::Recovered,
    })
}

impl Receiver {
    constructors!(
        open_receiver,
        take_over {
            /// Opens the existing channel `name` as its receiver, taking the role
            /// over if its recorded holder is a dead process (checked by pid and
            /// start time). The new receiver resumes at the published position: a
            /// message the dead one was reading is delivered again, unless it had
            /// begun to erase it (then it is lost with the dead receiver: module
            /// docs). [`CoreError::RoleTaken`] if the holder lives.
        }
    );

    /// Copies the oldest message into `buf` and returns its length, or
    /// [`Error::Empty`] at once (also while the oldest claimed message
    /// is still being written: see [`stalled`](Self::stalled)).
    /// [`CoreError::BufferTooSmall`] (with the length needed) leaves the
    /// message queued. [`Error::PeerGone`] instead of `Empty` once every
    /// sender closed ([channel docs](super#dead-peers)).
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        match self.end.try_recv(buf) {
            Err(CoreError::Empty) => empty_or_closed(&self.member, || self.end.try_recv(buf)),
            other => Ok(other?),
        }
    }

    /// [`try_recv`](Self::try_recv), waiting while there is no message,
    /// and skipping records of senders that died writing them (module
    /// docs); [`Error::PeerGone`] once the channel is drained and every
    /// sender closed or died.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize> {
        self.recv_within(buf, None)
    }

    /// [`recv`](Self::recv), waiting at most `timeout`:
    /// [`Error::TimedOut`].
    pub fn recv_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize> {
        self.recv_within(buf, Some(timeout))
    }

    /// [`recv`](Self::recv), waiting until `deadline` at the latest:
    /// [`Error::TimedOut`].
    pub fn recv_deadline(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize> {
        self.recv_timeout(buf, until(deadline))
    }

    /// [`recv`](Self::recv), waiting at most `timeout` (`None`: no limit).
    fn recv_within(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        // Between slices: skip the records of senders that died writing
        // them (a stall seen after every sender is gone is final).
        blocking_recovering(
            self,
            timeout,
            |rx, t| rx.end.recv_timeout(buf, t),
            |rx| rx.member.peer_gone(),
            look_for_dead,
        )
    }

    /// The record that holds the receiver up, if any: claimed at the front
    /// of the ring and not committed. Its [`claimant`](Stall::claimant) is
    /// the writing sender's pid once the record header is written.
    pub fn stalled(&mut self) -> Result<Option<Stall>> {
        Ok(self.end.stalled()?)
    }

    /// Skips stalled records at the front whose senders are gone (the rules
    /// of the module docs; a blocked [`recv`](Self::recv) does this by
    /// itself) and returns how many it skipped. Reads `/proc`: for a caller
    /// that polls with [`try_recv`](Self::try_recv).
    ///
    /// ```
    /// use ipckit::channel::mpsc_bytes::{Receiver, Sender};
    /// use ipckit::Error;
    /// use ipckit::shm::Memfd;
    ///
    /// let memfd = Memfd::create("doc", Receiver::object_len(4096).unwrap())?;
    /// let fd = memfd.try_clone_fd()?;
    /// let mut rx = Receiver::init_on(memfd, 4096)?;
    /// let tx = Sender::attach(Memfd::from_fd(fd)?)?;
    /// std::mem::forget(tx.try_grant(10)?); // never committed
    /// tx.send(b"behind it")?;
    /// let mut buf = [0u8; 16];
    /// assert!(matches!(rx.try_recv(&mut buf), Err(Error::Empty)));
    /// assert_eq!(rx.skip_dead()?, 0); // its sender is open: it may still commit
    /// drop(tx); // closed: the record can never be finished
    /// assert_eq!(rx.skip_dead()?, 1);
    /// assert_eq!(rx.try_recv(&mut buf)?, 9);
    /// assert_eq!(rx.skipped().records, 1);
    /// # Ok::<(), ipckit::Error>(())
    /// ```
    pub fn skip_dead(&mut self) -> Result<u32> {
        skip_abandoned(&mut self.end, self.member.block())
    }

    /// The records (and their bytes) skipped so far because their senders
    /// died writing them, by every receiver of this channel (the count
    /// lives in the ring).
    pub fn skipped(&self) -> Skipped {
        self.end.skipped()
    }
}

/// The [message interface](crate::message): messages of up to
/// [`max_frame_len`](Sender::max_frame_len) bytes. `Some(Duration::ZERO)`
/// is [`try_send`](Sender::try_send) (`Full`, or `PeerGone` once the receiver closed), `None`
/// is [`send`](Sender::send), other timeouts are
/// [`send_timeout`](Sender::send_timeout).
impl MessageSender for Sender {
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        match timeout {
            Some(t) if t.is_zero() => Sender::try_send(self, msg),
            _ => Sender::send_within(self, msg, timeout),
        }
    }

    fn max_message_len(&self) -> usize {
        self.max_frame_len() as usize
    }
}

/// The [message interface](crate::message): `Some(Duration::ZERO)` is
/// [`try_recv`](Receiver::try_recv) (`Empty`; it neither checks liveness
/// nor skips a dead sender's record: see
/// [`skip_dead`](Receiver::skip_dead)); `None` is [`recv`](Receiver::recv)
/// and other timeouts are [`recv_timeout`](Receiver::recv_timeout), which
/// do both.
impl MessageReceiver for Receiver {
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        match timeout {
            Some(t) if t.is_zero() => Receiver::try_recv(self, buf),
            _ => Receiver::recv_within(self, buf, timeout),
        }
    }

    fn max_message_len(&self) -> usize {
        self.max_frame_len() as usize
    }
}

//! Process channels on shared memory, with dead-peer detection.
//!
//! | module | ring | endpoints | messages |
//! |--------|------|-----------|----------|
//! | [`spsc`](mod@spsc) | [`crate::spsc`] | one [`spsc::Sender`], one [`spsc::Receiver`] | `T: Pod` items |
//! | [`mpmc`](mod@mpmc) | [`crate::mpmc`] | up to 64 [`mpmc::Sender`]s and 64 [`mpmc::Receiver`]s | `T: Pod` items; a sender or receiver that dies mid-operation is recovered |
//! | [`bytes`](mod@bytes) | [`crate::frame::spsc`] | one [`bytes::Sender`], one [`bytes::Receiver`] | byte messages up to [`max_frame_len`](bytes::Sender::max_frame_len) |
//! | [`mpsc_bytes`](mod@mpsc_bytes) | [`crate::frame::mpsc`] | up to 64 [`mpsc_bytes::Sender`]s, one [`mpsc_bytes::Receiver`] | byte messages up to [`max_frame_len`](mpsc_bytes::Sender::max_frame_len); a sender that dies mid-message is skipped |
//! | `typed` (feature `serde`) | [`bytes`](mod@bytes) or [`mpsc_bytes`](mod@mpsc_bytes) | theirs | `T: Serialize` values as postcard messages, the type's id checked when the sides meet |
//!
//! Both byte channels also send and receive in place, without a copy:
//! `loan` → write → [`Loan::send`], and `recv_ref` → read → drop the
//! [`FrameRef`], which gives a message whose receiver dies before the drop
//! to the next receiver again (at least once: [`zero_copy`]).
//!
//! # Making a channel
//! A [`Builder`] makes every endpoint: start it with [`spsc()`],
//! [`mpmc()`], [`bytes()`] or [`mpsc_bytes()`], give the settings
//! (`capacity`, `max_message` for the byte kinds, `mode`), then say where
//! the channel lives and which end you want, by its type:
//!
//! ```
//! use ipckit::channel::{self, spsc};
//!
//! let name = format!("ipckit-doc-channel-{}", std::process::id());
//! // Process A:
//! let mut tx: spsc::Sender<u64> = channel::spsc().capacity(1024).create(&name)?;
//! // Process B (any unrelated process of this user):
//! let mut rx: spsc::Receiver<u64> = channel::spsc().open(&name)?;
//! tx.send(42)?;
//! assert_eq!(rx.recv()?, 42);
//! ipckit::shm::ShmObject::remove(&name)?;
//!
//! // Threads, as std::sync::mpsc::channel():
//! let (mut tx, mut rx) = channel::bytes().max_message(1500).pair()?;
//! tx.send(b"hello")?;
//! assert_eq!(rx.recv(&mut [0; 1500])?, 5);
//! # Ok::<(), ipckit::Error>(())
//! ```
//!
//! By name (`create`: the name must not exist; `open`: it must;
//! `open_or_create`; `take_over` from a dead holder), on memory you
//! mapped ([`Memory`]: `init_on` / `attach`), in a file
//! ([`on_file`](Builder::on_file), a [`MappedFile`] that persists), or on
//! a sealed anonymous [`Memfd`]: [`pair`](Builder::pair) for threads,
//! [`pair_for_child`](Builder::pair_for_child) and
//! [`pair_from_child`](Builder::pair_from_child) for a child process,
//! forked or spawned ([`ChildEnd`]). The [`builder`] module has the
//! sizing rules (any capacity of at least 1 is rounded up to what the ring
//! needs; `capacity()` reports it). The endpoints' own constructors
//! (`spsc::Sender::create(name, capacity)`, `open`, `init_on`, ...) are
//! the same calls with the default settings.
//!
//! Sending and receiving come in the forms of crossbeam-channel and
//! `std::sync::mpsc`: `try_` (never waits: `Full`/`Empty`), blocking,
//! `_timeout(Duration)` and `_deadline(Instant)` (both
//! [`Error::TimedOut`] when the time is up). Waiters sleep in shared
//! futexes ([`crate::futex::Futex`], after a short spin).
//!
//! Every receiver has `iter()` (blocking, ends once the channel is drained
//! and the senders are gone), `try_iter()` (what is queued now) and is
//! [`IntoIterator`] ([`iter`]).
//!
//! # The message interface
//! The byte channels ([`bytes`](mod@bytes), [`mpsc_bytes`](mod@mpsc_bytes)) implement
//! [`MessageSender`](crate::message::MessageSender) and
//! [`MessageReceiver`](crate::message::MessageReceiver), like every
//! transport: a program written against those traits moves to shared
//! memory by changing the line that opens the channel. The largest message
//! is the ring's [`max_frame_len`](bytes::Sender::max_frame_len); the
//! trait's timeout of `Some(Duration::ZERO)` is the `try_` call, `None` the
//! blocking call, any other the `_timeout` call (see [Dead peers](#dead-peers)
//! for what each reports).
//!
//! The typed channels ([`spsc`](mod@spsc), [`mpmc`](mod@mpmc)) do not: they carry one `T: Pod`
//! per slot, not byte messages of varying length. Carrying those would
//! need a length in every slot and messages cut to the slot size (or
//! refused), which is what the frame ring does properly; use [`bytes`](mod@bytes) for
//! bytes, the typed channels for fixed records.
//!
//! # Names
//! A channel is named as a service is, `"jobs"` or `"robot/arm/state"`;
//! its object is [`NAME_PREFIX`] (`"ipckit-"`) followed by the name, with
//! `/` and `%` escaped ([`object_name`]): `/dev/shm/ipckit-jobs` is the
//! channel `"jobs"`. The prefix is added for you (a name that already has
//! it is the same channel), and it is how [`list`] and [`remove_stale`]
//! (and `ipckit ls` / `ipckit rm --stale`) find channels among other
//! shared-memory objects; [`ChannelInfo::channel`] and `ipckit ls` show
//! the name you gave.
//!
//! # Object layout
//! For a peer in another language (naming, creation order, liveness, recovery):
//! [`docs/LAYOUT.md`](https://github.com/ipckit/ipckit/blob/main/docs/LAYOUT.md#12-the-channel-object).
//!
//! `[core region][padding to 4096][liveness block, 4096 bytes]`.
//!
//! The core region is the ring exactly as [`ipckit_core`] lays it out
//! (unchanged: a plain core peer can attach to the first part), always
//! created with [`FLAG_WAKES`](crate::region::FLAG_WAKES): every endpoint
//! sleeps in shared futexes and must wake a sleeping peer after each
//! publication, and an endpoint refuses a channel ring without the flag. Its length
//! follows from the header ([`core_region_len`]), so the liveness block's
//! offset is computable by anyone who reads the header:
//!
//! `liveness_offset = round_up(data_offset + capacity × slot_bytes, 4096)`
//!
//! with `slot_bytes` = `elem_size` (SPSC), the MPMC stride
//! `round_up(A + elem_size, A)` with `A = max(4, elem_align)` (MPMC, and
//! the broadcast ring of a [topic](mod@crate::pubsub)), or 1
//! (frame rings: `capacity` is in bytes). The object is
//! [`object_len`] = `liveness_offset + 4096` bytes. The block's own layout
//! (magic `"IPCL"`, version, the message type id of the items or messages, one
//! 16-byte slot per endpoint: a state word that names the holder's pid, its
//! process start time; the claim intents) is in [`liveness`].
//!
//! The creator writes the liveness block *before* the ring's header is
//! published (`Release`), so an opener that validated the header
//! (`Acquire`) finds a valid block.
//!
//! An opener reads the header once: the core ring attaches over the whole
//! mapping (its `attach` loads every header field once, validates them and
//! checks that the ring fits the mapping), and the liveness offset is then
//! computed, with checked arithmetic, from the attached ring's capacity and
//! the element type, and bounded by the mapped length. A peer that rewrites
//! the header meanwhile changes nothing this side decided.
//!
//! # Dead peers
//! Each endpoint records its pid and process start time in its slot when it
//! opens, and marks the slot closed when dropped. When every endpoint of
//! the other side closed or died, a blocked call returns
//! [`Error::PeerGone`]. A receiver first drains everything already queued:
//! `PeerGone` means "empty, and nobody left to send". A side whose peer
//! never came (no slot ever used) keeps waiting.
//!
//! - **A peer that closes** (drops its endpoint) wakes the other side at
//!   once: it marks its slot closed and wakes the slot's state word, on
//!   which a blocked call sleeps besides the ring's word (`futex_waitv`;
//!   see [`docs/LAYOUT.md`](https://github.com/ipckit/ipckit/blob/main/docs/LAYOUT.md#liveness-block)).
//!   The blocked call returns `PeerGone` within microseconds (after the
//!   queued messages). On a kernel without `futex_waitv` (before 5.16) it
//!   is noticed at the next liveness slice, as a death is.
//! - **A peer that dies** without closing is noticed through a pidfd: a
//!   blocked call that has slept 5 ms without a wake opens a pidfd for
//!   every live peer (`pidfd_open` on the recorded pid, then the recorded
//!   start time confirmed from `/proc`, so the pidfd names the recorded
//!   process) and sleeps on; a helper thread, alive only while the call
//!   sleeps, polls the pidfds and wakes it when one becomes readable. The
//!   call then judges the peers (`/proc`) and returns `PeerGone` (after the
//!   queued messages) if none is left, or recovers what the dead one left
//!   ([`mpmc`](mod@mpmc), [`mpsc_bytes`](mod@mpsc_bytes)) and waits on. Measured: `PeerGone` well
//!   under 1 ms after a `SIGKILL`; at most 5 ms more for a death during
//!   the first 5 ms of a sleep. An idle blocked call makes no wake-up at
//!   all (0 voluntary context switches in 5 s) after those 5 ms.
//! - **Without pidfds or `futex_waitv`** (Linux before 5.16, a seccomp
//!   filter that refuses them) a blocked call checks `/proc` between
//!   slices of [`LIVENESS_SLICE`] (50 ms), as it does while a dead
//!   endpoint's slot is left beside live ones in a multi-endpoint channel
//!   (its leftovers may need recovery): `PeerGone` within about 50 ms of
//!   the death plus the `/proc` read, and 20 wake-ups a second.
//! - **`try_` calls** report `PeerGone` from the shared state words only,
//!   with no system call and only when they would otherwise fail: a
//!   `try_recv` that finds the channel empty once every sender closed
//!   (after one more attempt, so that the last messages a sender published
//!   before closing are still delivered), a `try_send` that finds it full
//!   once every receiver closed. A successful `try_` call reads nothing
//!   more than before. A peer that died without closing is not seen by a
//!   `try_` call (that takes `/proc`): ask [`spsc::Sender::peer_gone`] and
//!   friends. A `try_send` with room succeeds even when every receiver
//!   closed (its message is never read), as the blocking `send` does.
//!
//! What is left of the design note (`docs/WAKING.md`): the doorbell
//! (an endpoint's descriptor that async tasks and a `WaitSet` can poll);
//! caching pidfds across sleeps (each long sleep opens them anew: one
//! `pidfd_open` and one `/proc` read per peer, after the first 5 ms); a
//! sleep on the pidfds themselves instead of through a helper thread (a
//! futex cannot be polled: that is what the doorbell gives).
//!
//! A single-endpoint role (the producer or consumer of an SPSC channel,
//! the receiver of an [`mpsc_bytes`](mod@mpsc_bytes) channel) is recorded before it is
//! taken: an endpoint first claims the role's liveness slot, whose state
//! word names its pid (see [`liveness`]), then the core's claim; it gives
//! them back in the reverse order (the core's claim, then the slot). So
//! whatever instruction a holder dies at, the slot names it: a plain `open`
//! gets [`CoreError::RoleTaken`] (its error names the dead pid and points
//! to `take_over`), and `take_over` hands the role to a new process after
//! checking the holder is dead (pid and start time), whether or not the
//! dead one had reached the core's claim: the new endpoint resumes at the
//! published positions. A sender of [`mpsc_bytes`](mod@mpsc_bytes) that dies in the middle
//! of a message is skipped by the receiver (see there); so is an [`mpmc`](mod@mpmc)
//! sender's unfinished item, and a slot an [`mpmc`](mod@mpmc) receiver died holding
//! is released by the senders (see there).
//!
//! # Stale objects
//! [`list`] shows every channel in `/dev/shm` with its endpoints;
//! [`remove_stale`] removes those whose endpoints are all gone and at least
//! one died (see there for what stays and for the remaining race).
//!
//! # Removing the name
//! A channel's name stays in `/dev/shm` until someone removes it. Once the
//! endpoints that will come have opened the channel, the creator calls
//! `remove_name_after(peers, timeout)` on its endpoint: it waits until
//! `peers` endpoints of the other side have joined, then removes the name,
//! and the kernel frees the memory when the last endpoint leaves, however
//! its holders end. From then on nobody can open the channel by name (no
//! late joiner, no `take_over` by name).
//!
//! ```
//! use std::time::Duration;
//! use ipckit::channel::spsc::{Receiver, Sender};
//! use ipckit::Error;
//!
//! let name = format!("doc-remove-name-{}", std::process::id());
//! let mut tx = Sender::<u64>::create(&name, 8)?;
//! let mut rx = Receiver::<u64>::open(&name)?; // in another process, usually
//! tx.remove_name_after(1, Duration::from_secs(5))?;
//! assert!(matches!(Receiver::<u64>::open(&name), Err(Error::NotFound(_))));
//! tx.send(7)?; // the channel itself lives on
//! assert_eq!(rx.recv()?, 7);
//! # Ok::<(), ipckit::Error>(())
//! ```
//!
//! # Processes and `fork`
//! An endpoint belongs to the process that opened it. A child that inherits
//! one across `fork` must not use or drop it (leave it to `_exit`): open the
//! channel again in the child, or give the child an end it claims itself:
//! [`Builder::pair_for_child`] / [`Builder::pair_from_child`] make one end
//! here and a [`ChildEnd`] that the child claims (forked) or inherits and
//! claims with `from_inherited` (spawned).

pub mod builder;
pub mod bytes;
pub mod iter;
pub(crate) mod lifetime;
pub mod liveness;
pub mod mpmc;
pub mod mpsc_bytes;
mod names;
pub use names::{channel_name, object_name};
mod pair;
mod process;
pub mod spsc;
mod stale;
#[cfg(test)]
mod tests;
#[cfg(feature = "serde")]
pub mod typed;
pub mod zero_copy;

pub use builder::{
    Builder, ByteKind, Bytes, DEFAULT_BYTES, DEFAULT_ITEMS, Endpoint, Kind, Mpmc, MpscBytes, Spsc,
    TakeOver, bytes, mpmc, mpsc_bytes, spsc,
};
pub use iter::{Iter, TryIter};
pub use liveness::{
    LIVENESS_LEN, LIVENESS_MAGIC, LIVENESS_VERSION, MAX_ENDPOINTS, ProcessId, SlotState, TYPE_ID_AT,
};
pub use pair::ChildEnd;
pub use stale::{ChannelInfo, ChannelStatus, EndpointInfo, inspect, list, remove_stale};
pub use zero_copy::{FrameRef, Loan};

mod setup;
pub(crate) use setup::{
    Mode, Object, Placement, claim_single, created_name, endpoint_constructors, named_with,
    open_single, placed_and_block, set_up, single_constructors, undo_on_error,
};

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use ipckit_core::{HeaderInfo, ObjectKind, Region};

use crate::error::{CoreError, Error, Result};
use crate::futex::monotonic_now;
use crate::shm::{MappedFile, Memfd, SharedMemory, ShmName, ShmObject};

/// The prefix every channel name starts with.
pub const NAME_PREFIX: &str = "ipckit-";

/// How long a blocked call sleeps before it checks the peer's liveness,
/// where it cannot watch the peers' pidfds (see [Dead peers](self#dead-peers)).
pub const LIVENESS_SLICE: Duration = Duration::from_millis(50);

/// Spins before a blocked call sleeps in the kernel (see
/// [`Futex::adaptive`](crate::futex::Futex::adaptive)).
pub const SPIN_BUDGET: u32 = 2000;

/// How long `open` waits for a creator that is still sizing or initialising
/// the object.
const OPEN_PATIENCE: Duration = Duration::from_secs(2);

/// The memory a channel lives in.
#[derive(Debug)]
pub enum Memory {
    /// A named POSIX object: how unrelated processes meet.
    Shm(ShmObject),
    /// A sealed memfd: handed to a child or sent over a socket.
    Memfd(Memfd),
    /// A mapped file: persists across restarts.
    File(MappedFile),
}

impl SharedMemory for Memory {
    fn region(&self) -> Region<'_> {
        match self {
            Memory::Shm(m) => m.region(),
            Memory::Memfd(m) => m.region(),
            Memory::File(m) => m.region(),
        }
    }
}

impl Memory {
    /// The object, for error messages: a channel name, a path, a memfd.
    pub(crate) fn describe(&self) -> String {
        match self {
            Memory::Shm(m) => m.name().as_str()[1..].to_owned(),
            Memory::Memfd(m) => format!("memfd (fd {})", m.as_fd().as_raw_fd()),
            Memory::File(m) => m.path().display().to_string(),
        }
    }
}

impl AsFd for Memory {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Memory::Shm(m) => m.as_fd(),
            Memory::Memfd(m) => m.as_fd(),
            Memory::File(m) => m.as_fd(),
        }
    }
}

impl From<ShmObject> for Memory {
    fn from(m: ShmObject) -> Self {
        Memory::Shm(m)
    }
}

impl From<Memfd> for Memory {
    fn from(m: Memfd) -> Self {
        Memory::Memfd(m)
    }
}

impl From<MappedFile> for Memory {
    fn from(m: MappedFile) -> Self {
        Memory::File(m)
    }
}

/// The length of the core region a header describes (module docs), or
/// `None` for a kind without a channel or sizes that overflow.
///
/// ```
/// use ipckit::channel::core_region_len;
/// use ipckit::shm::{Memfd, SharedMemory};
/// use ipckit::spsc::Ring;
///
/// let memfd = Memfd::create("doc", 8192)?;
/// Ring::<u64>::init(memfd.region(), 64)?;
/// assert_eq!(core_region_len(&memfd.inspect()?), Ring::<u64>::region_len(64).ok());
/// # Ok::<(), ipckit::Error>(())
/// ```
pub fn core_region_len(info: &HeaderInfo) -> Option<usize> {
    let cap = u64::from(info.capacity);
    let slot_bytes = match info.kind? {
        ObjectKind::Spsc => u64::from(info.elem_size),
        ObjectKind::Mpmc | ObjectKind::Broadcast => {
            let a = u64::from(info.elem_align.max(4));
            (a + u64::from(info.elem_size)).div_ceil(a) * a
        }
        ObjectKind::FrameSpsc | ObjectKind::FrameMpsc | ObjectKind::BroadcastFrames => 1,
        _ => return None,
    };
    let len = u64::from(info.data_offset).checked_add(cap.checked_mul(slot_bytes)?)?;
    usize::try_from(len).ok()
}

/// The offset of the liveness block: the core region's length rounded up to
/// 4096, or `None` if that overflows (a length no mapping has).
///
/// ```
/// use ipckit::channel::liveness_offset;
/// assert_eq!(liveness_offset(384 + 64 * 8), Some(4096));
/// assert_eq!(liveness_offset(4096), Some(4096));
/// assert_eq!(liveness_offset(usize::MAX), None);
/// ```
pub const fn liveness_offset(core_len: usize) -> Option<usize> {
    core_len.checked_next_multiple_of(LIVENESS_LEN)
}

/// The channel object's length for a core region of `core_len` bytes: the
/// liveness offset plus the block, or `None` if that overflows.
///
/// ```
/// use ipckit::channel::object_len;
/// assert_eq!(object_len(384 + 64 * 8), Some(8192));
/// assert_eq!(object_len(usize::MAX - 4096), None);
/// ```
pub const fn object_len(core_len: usize) -> Option<usize> {
    match liveness_offset(core_len) {
        Some(at) => at.checked_add(LIVENESS_LEN),
        None => None,
    }
}

/// The object of the channel `name`: [`object_name`] (kept under its old
/// name; the prefix is now added for the caller).
///
/// ```
/// use ipckit::channel::check_name;
/// assert_eq!(check_name("jobs")?.as_str(), "/ipckit-jobs");
/// assert!(check_name("").is_err());
/// # Ok::<(), ipckit::Error>(())
/// ```
pub fn check_name(name: &str) -> Result<ShmName> {
    object_name(name)
}

/// The answer of a `try_` receive whose first attempt found the channel
/// empty: `PeerGone` if every sender closed (read from the shared state
/// words, no system call) and a second attempt, made after that read, still
/// finds nothing (a sender's last messages, published before its close,
/// are visible to it); otherwise `Empty`, or what the second attempt got.
/// A sender that died without closing is not seen here (that takes
/// `/proc`: [`liveness`], the blocking calls, `peer_gone`).
#[inline]
pub(crate) fn empty_or_closed<R>(
    member: &liveness::Membership,
    again: impl FnOnce() -> ipckit_core::Result<R>,
) -> Result<R> {
    match member.peer_closed() {
        None => Err(Error::Empty),
        Some(gone) => match again() {
            Err(CoreError::Empty) => Err(gone),
            other => Ok(other?),
        },
    }
}

/// A core error as the hosted one, with the flow conditions (`Full`,
/// `Empty`) built inline and the rest converted out of line: the `try_`
/// calls return a flow condition once per look at a full or empty ring,
/// and a spinning caller's look should cost what the core's does (a call
/// there, or an error built and dropped, slows the loop that watches the
/// peer's index, and with it the pair).
#[inline(always)]
pub(crate) fn flow_error(e: CoreError) -> Error {
    match e {
        CoreError::Full => Error::Full,
        CoreError::Empty => Error::Empty,
        other => other_error(other),
    }
}

#[cold]
#[inline(never)]
fn other_error(e: CoreError) -> Error {
    e.into()
}

/// The answer of a `try_` send that found the channel full: `PeerGone` if
/// every receiver closed (state words only, as [`empty_or_closed`]), else
/// `Full`.
#[inline]
pub(crate) fn full_or_closed(member: &liveness::Membership) -> Error {
    member.peer_closed().unwrap_or(Error::Full)
}

/// The time left until `deadline` (zero once it passed): how the
/// `_deadline` calls become `_timeout` calls.
pub(crate) fn until(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// What one look for dead peers' leftovers between two slices of
/// [`blocking_recovering`] did.
pub(crate) enum Look<R> {
    /// Nothing to recover (or not yet: a live endpoint's claim).
    Nothing,
    /// A dead endpoint's leftover recovered: try again at once.
    Recovered,
    /// The recovery found what the call waits for (an MPMC hole turned out
    /// published): the result.
    Item(R),
}

/// Runs a blocking core call, checking `gone` whenever the call's notifier
/// ends a wait for a peer's close or death (`CoreError::PeerGone`), or,
/// without pidfds, between slices of [`LIVENESS_SLICE`]; after `gone`
/// reports, one last non-waiting attempt (so queued items are delivered
/// first), then the error.
#[inline(always)]
pub(crate) fn blocking<R>(
    timeout: Option<Duration>,
    mut op: impl FnMut(Option<Duration>) -> ipckit_core::Result<R>,
    gone: impl Fn() -> Option<Error>,
) -> Result<R> {
    blocking_recovering(
        &mut (),
        timeout,
        |_, t| op(t),
        |_| gone(),
        |_, _| Ok(Look::Nothing),
    )
}

/// The one blocking loop of the channels: [`blocking`], and between slices
/// `recover` looks for what dead peers left behind (told whether every peer
/// is gone). `end` is what the three closures work on (the call's
/// endpoint), so that each can borrow it mutably in turn.
///
/// The fast path costs what the core's costs: one attempt that cannot wait,
/// so reads no clock (a zero timeout; see the core's `block_on`) and makes
/// no system call, inlined into the caller; only a call that has to wait
/// goes on to the loop (out of line) and reads the clock for its deadline.
#[inline(always)]
pub(crate) fn blocking_recovering<S, R>(
    end: &mut S,
    timeout: Option<Duration>,
    mut op: impl FnMut(&mut S, Option<Duration>) -> ipckit_core::Result<R>,
    gone: impl Fn(&S) -> Option<Error>,
    recover: impl FnMut(&mut S, bool) -> Result<Look<R>>,
) -> Result<R> {
    match op(end, Some(Duration::ZERO)) {
        Err(CoreError::TimedOut) | Err(CoreError::PeerGone) => {}
        other => return other.map_err(Error::from),
    }
    wait_recovering(end, timeout, op, gone, recover)
}

/// The waiting part of [`blocking_recovering`], after its first attempt.
#[inline(never)]
fn wait_recovering<S, R>(
    end: &mut S,
    timeout: Option<Duration>,
    mut op: impl FnMut(&mut S, Option<Duration>) -> ipckit_core::Result<R>,
    gone: impl Fn(&S) -> Option<Error>,
    mut recover: impl FnMut(&mut S, bool) -> Result<Look<R>>,
) -> Result<R> {
    let deadline = timeout.map(|t| monotonic_now().saturating_add(t));
    let expired = || deadline.is_some_and(|d| monotonic_now() >= d);
    // With pidfds, the notifier itself ends a wait when a peer closes or
    // dies (`PeerGone`: look now); without, look every slice.
    let slice = match liveness::watchable() {
        true => Duration::MAX,
        false => LIVENESS_SLICE,
    };
    // The first slice's time left is the whole timeout: the clock was just
    // read.
    let mut first = timeout;
    loop {
        let left = first
            .take()
            .or_else(|| deadline.map(|d| d.saturating_sub(monotonic_now())));
        let slice = match left {
            None if slice == Duration::MAX => None,
            None => Some(slice),
            Some(left) => Some(left.min(slice)),
        };
        match op(end, slice) {
            // `PeerGone` from the notifier: every peer closed (judged
            // below, after which queued items are still delivered).
            Err(CoreError::TimedOut) | Err(CoreError::PeerGone) => {}
            other => return other.map_err(Error::from),
        }
        // Liveness first: a claim or stall seen after every peer is gone
        // is final.
        let gone = gone(end);
        match recover(end, gone.is_some())? {
            Look::Item(v) => return Ok(v),
            // Try again at once, unless the time is up (a peer that keeps
            // leaving leftovers must not keep this call past its timeout).
            Look::Recovered if !expired() => continue,
            Look::Recovered | Look::Nothing => {}
        }
        if let Some(e) = gone {
            return match op(end, Some(Duration::ZERO)) {
                Err(CoreError::TimedOut) | Err(CoreError::PeerGone) => Err(e),
                other => other.map_err(Error::from),
            };
        }
        if expired() {
            return Err(Error::TimedOut);
        }
    }
}

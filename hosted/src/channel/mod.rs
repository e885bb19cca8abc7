//! Process channels on shared memory, with dead-peer detection.
//!
//! | module | ring | endpoints | messages |
//! |--------|------|-----------|----------|
//! | [`spsc`] | [`crate::spsc`] | one [`spsc::Sender`], one [`spsc::Receiver`] | `T: Pod` items |
//! | [`mpmc`] | [`crate::mpmc`] | up to 64 [`mpmc::Sender`]s and 64 [`mpmc::Receiver`]s | `T: Pod` items; a sender or receiver that dies mid-operation is recovered |
//! | [`bytes`] | [`crate::frame::spsc`] | one [`bytes::Sender`], one [`bytes::Receiver`] | byte messages up to [`max_frame_len`](bytes::Sender::max_frame_len) |
//! | [`mpsc_bytes`] | [`crate::frame::mpsc`] | up to 64 [`mpsc_bytes::Sender`]s, one [`mpsc_bytes::Receiver`] | byte messages up to [`max_frame_len`](mpsc_bytes::Sender::max_frame_len); a sender that dies mid-message is skipped |
//!
//! Both byte channels also send and receive in place, without a copy:
//! `loan` → write → [`Loan::send`], and `recv_ref` → read → drop the
//! [`FrameRef`], which gives a message whose receiver dies before the drop
//! to the next receiver again (at least once: [`zero_copy`]).
//!
//! Every endpoint is opened by name on a POSIX shared-memory object
//! (`create`: the name must not exist; `open`: it must; `open_or_create`),
//! or on memory the caller provides ([`Memory`]: a sealed [`Memfd`] handed
//! to a child, a [`MappedFile`] that persists), with `init_on` / `attach`.
//! Sending and receiving come in three forms: `try_` (never waits:
//! `Full`/`Empty`), blocking, and `_timeout`. Waiters sleep in shared
//! futexes ([`crate::futex::Futex`], after a short spin).
//!
//! # The message interface
//! The byte channels ([`bytes`], [`mpsc_bytes`]) implement
//! [`MessageSender`](crate::message::MessageSender) and
//! [`MessageReceiver`](crate::message::MessageReceiver), like every
//! transport: a program written against those traits moves to shared
//! memory by changing the line that opens the channel. The largest message
//! is the ring's [`max_frame_len`](bytes::Sender::max_frame_len); a
//! timeout of `Some(Duration::ZERO)` is the `try_` call, any other the
//! `_timeout` call (with its liveness checks).
//!
//! The typed channels ([`spsc`], [`mpmc`]) do not: they carry one `T: Pod`
//! per slot, not byte messages of varying length. Carrying those would
//! need a length in every slot and messages cut to the slot size (or
//! refused), which is what the frame ring does properly; use [`bytes`] for
//! bytes, the typed channels for fixed records.
//!
//! # Names
//! Channel names start with [`NAME_PREFIX`] (`"ipckit-"`), and are
//! otherwise [`ShmName`]s: `/dev/shm/ipckit-jobs` is the channel
//! `"ipckit-jobs"`. The prefix is required, not added: it is how [`list`]
//! and [`remove_stale`] (and `ipckit ls` / `ipckit rm --stale`) find
//! channels among other shared-memory objects.
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
//! `round_up(A + elem_size, A)` with `A = max(4, elem_align)` (MPMC), or 1
//! (frame rings: `capacity` is in bytes). The object is
//! [`object_len`] = `liveness_offset + 4096` bytes. The block's own layout
//! (magic `"IPCL"`, version, one 16-byte slot per endpoint: a state word
//! that names the holder's pid, its process start time; the claim intents)
//! is in [`liveness`].
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
//! opens, and marks the slot closed when dropped. A blocked call sleeps in
//! slices of [`LIVENESS_SLICE`] (50 ms) through the core's `_timeout` calls
//! and checks the peer's slots between slices: when every endpoint of the
//! other side closed or died, it returns [`Error::PeerGone`], within about
//! 50 ms of the death plus the `/proc` read. A receiver first drains
//! everything already queued: `PeerGone` means "empty, and nobody left to
//! send". A side whose peer never came (no slot ever used) keeps waiting.
//! `try_` calls never check liveness (no system call on the fast path); ask
//! [`spsc::Sender::peer_gone`] and friends.
//!
//! A single-endpoint role (the producer or consumer of an SPSC channel,
//! the receiver of an [`mpsc_bytes`] channel) is recorded before it is
//! taken: an endpoint first claims the role's liveness slot, whose state
//! word names its pid (see [`liveness`]), then the core's claim; it gives
//! them back in the reverse order (the core's claim, then the slot). So
//! whatever instruction a holder dies at, the slot names it: a plain `open`
//! gets [`CoreError::RoleTaken`] (its error names the dead pid and points
//! to `take_over`), and `take_over` hands the role to a new process after
//! checking the holder is dead (pid and start time), whether or not the
//! dead one had reached the core's claim: the new endpoint resumes at the
//! published positions. A sender of [`mpsc_bytes`] that dies in the middle
//! of a message is skipped by the receiver (see there); so is an [`mpmc`]
//! sender's unfinished item, and a slot an [`mpmc`] receiver died holding
//! is released by the senders (see there).
//!
//! # Stale objects
//! [`list`] shows every channel in `/dev/shm` with its endpoints;
//! [`remove_stale`] removes those whose endpoints are all gone and at least
//! one died (see there for what stays and for the remaining race).
//!
//! # Processes and `fork`
//! An endpoint belongs to the process that opened it. A child that inherits
//! one across `fork` must not use or drop it (leave it to `_exit`): open the
//! channel again in the child.

pub mod bytes;
pub mod liveness;
pub mod mpmc;
pub mod mpsc_bytes;
mod process;
pub mod spsc;
mod stale;
pub mod zero_copy;

pub use liveness::{
    LIVENESS_LEN, LIVENESS_MAGIC, LIVENESS_VERSION, MAX_ENDPOINTS, ProcessId, SlotState,
};
pub use stale::{ChannelInfo, ChannelStatus, EndpointInfo, inspect, list, remove_stale};
pub use zero_copy::{FrameRef, Loan};

mod setup;
pub(crate) use setup::{
    Mode, claim_single, endpoint_constructors, named, open_single, set_up, single_constructors,
};

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

use ipckit_core::{HeaderInfo, ObjectKind, Region};

use crate::error::{CoreError, Error, Result};
use crate::futex::{Futex, monotonic_now};
use crate::shm::{MappedFile, Memfd, SharedMemory, ShmName, ShmObject};

/// The prefix every channel name starts with.
pub const NAME_PREFIX: &str = "ipckit-";

/// How long a blocked call sleeps before it checks the peer's liveness.
pub const LIVENESS_SLICE: Duration = Duration::from_millis(50);

/// Spins before a blocked call sleeps in the kernel (see
/// [`Futex::adaptive`]).
pub const SPIN_BUDGET: u32 = 2000;

/// How long `open` waits for a creator that is still sizing or initialising
/// the object.
const OPEN_PATIENCE: Duration = Duration::from_secs(2);

fn notifier() -> Futex {
    Futex::adaptive(SPIN_BUDGET)
}

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
        ObjectKind::Mpmc => {
            let a = u64::from(info.elem_align.max(4));
            (a + u64::from(info.elem_size)).div_ceil(a) * a
        }
        ObjectKind::FrameSpsc | ObjectKind::FrameMpsc => 1,
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

/// Validates a channel name: [`NAME_PREFIX`], then the rules of
/// [`ShmName`].
///
/// ```
/// use ipckit::channel::check_name;
/// assert!(check_name("ipckit-jobs").is_ok());
/// assert!(check_name("/ipckit-jobs").is_ok());
/// assert!(check_name("jobs").is_err());
/// ```
pub fn check_name(name: &str) -> Result<ShmName> {
    let valid = ShmName::new(name)?;
    if !valid.as_str()[1..].starts_with(NAME_PREFIX) {
        return Err(Error::InvalidName {
            name: name.chars().take(64).collect(),
            reason: "channel names start with \"ipckit-\" (so that `ipckit ls` finds them)",
        });
    }
    Ok(valid)
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

/// Runs a blocking core call in slices of [`LIVENESS_SLICE`], checking
/// `gone` between slices; after `gone` reports, one last non-waiting
/// attempt (so queued items are delivered first), then the error.
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
pub(crate) fn blocking_recovering<S, R>(
    end: &mut S,
    timeout: Option<Duration>,
    mut op: impl FnMut(&mut S, Option<Duration>) -> ipckit_core::Result<R>,
    gone: impl Fn(&S) -> Option<Error>,
    mut recover: impl FnMut(&mut S, bool) -> Result<Look<R>>,
) -> Result<R> {
    let deadline = timeout.map(|t| monotonic_now().saturating_add(t));
    let expired = || deadline.is_some_and(|d| monotonic_now() >= d);
    loop {
        let slice = match deadline {
            None => LIVENESS_SLICE,
            Some(d) => d.saturating_sub(monotonic_now()).min(LIVENESS_SLICE),
        };
        match op(end, Some(slice)) {
            Err(CoreError::TimedOut) => {}
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
                Err(CoreError::TimedOut) => Err(e),
                other => other.map_err(Error::from),
            };
        }
        if expired() {
            return Err(Error::TimedOut);
        }
    }
}

//! Process channels on shared memory, with dead-peer detection.
//!
//! | module | ring | endpoints | messages |
//! |--------|------|-----------|----------|
//! | [`spsc`] | [`crate::spsc`] | one [`spsc::Sender`], one [`spsc::Receiver`] | `T: Pod` items |
//! | [`mpmc`] | [`crate::mpmc`] | up to 64 [`mpmc::Sender`]s and 64 [`mpmc::Receiver`]s | `T: Pod` items; a sender or receiver that dies mid-operation is recovered |
//! | [`bytes`] | [`crate::frame::spsc`] | one [`bytes::Sender`], one [`bytes::Receiver`] | byte messages up to [`max_frame_len`](bytes::Sender::max_frame_len) |
//! | [`mpsc_bytes`] | [`crate::frame::mpsc`] | up to 64 [`mpsc_bytes::Sender`]s, one [`mpsc_bytes::Receiver`] | byte messages up to [`max_frame_len`](mpsc_bytes::Sender::max_frame_len); a sender that dies mid-message is skipped |
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
//! `[core region][padding to 4096][liveness block, 4096 bytes]`.
//!
//! The core region is the ring exactly as [`ipckit_core`] lays it out
//! (unchanged: a plain core peer can attach to the first part). Its length
//! follows from the header ([`core_region_len`]), so the liveness block's
//! offset is computable by anyone who reads the header:
//!
//! `liveness_offset = round_up(data_offset + capacity × slot_bytes, 4096)`
//!
//! with `slot_bytes` = `elem_size` (SPSC), the MPMC stride
//! `round_up(A + elem_size, A)` with `A = max(4, elem_align)` (MPMC), or 1
//! (frame rings: `capacity` is in bytes). The object is
//! [`object_len`] = `liveness_offset + 4096` bytes. The block's own layout
//! (magic `"IPCL"`, version, one 16-byte slot per endpoint: state word, pid,
//! process start time) is in [`liveness`].
//!
//! The creator writes the liveness block *before* the ring's header is
//! published (`Release`), so an opener that validated the header
//! (`Acquire`) finds a valid block.
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
//! A process that dies holding the producer or consumer role of an SPSC
//! channel (or the receiver role of an [`mpsc_bytes`] channel) keeps the
//! core's claim; `take_over` hands it to a new process after checking the
//! holder is dead (pid and start time): the new endpoint resumes at the
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
pub mod spsc;
mod stale;

pub use liveness::{
    LIVENESS_LEN, LIVENESS_MAGIC, LIVENESS_VERSION, MAX_ENDPOINTS, ProcessId, SlotState,
};
pub use stale::{ChannelInfo, ChannelStatus, EndpointInfo, inspect, list, remove_stale};

use std::os::fd::{AsFd, BorrowedFd};
use std::ptr::NonNull;
use std::time::Duration;

use ipckit_core::{HeaderInfo, ObjectKind, Region};

use crate::error::{CoreError, Error, Result};
use crate::futex::{Futex, monotonic_now};
use crate::shm::{MappedFile, Memfd, SharedMemory, ShmName, ShmObject};
use liveness::Block;

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
/// assert_eq!(core_region_len(&memfd.inspect()?), Ring::<u64>::region_len(64));
/// # Ok::<(), ipckit::error::Error>(())
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
/// 4096.
///
/// ```
/// assert_eq!(ipckit::channel::liveness_offset(384 + 64 * 8), 4096);
/// assert_eq!(ipckit::channel::liveness_offset(4096), 4096);
/// ```
pub const fn liveness_offset(core_len: usize) -> usize {
    core_len.div_ceil(LIVENESS_LEN) * LIVENESS_LEN
}

/// The channel object's length for a core region of `core_len` bytes: the
/// liveness offset plus the block.
///
/// ```
/// assert_eq!(ipckit::channel::object_len(384 + 64 * 8), 8192);
/// ```
pub const fn object_len(core_len: usize) -> usize {
    liveness_offset(core_len) + LIVENESS_LEN
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

/// Creates the object `name` of `len` bytes (must not exist).
fn create_object(name: &str, len: usize) -> Result<ShmObject> {
    check_name(name)?;
    ShmObject::create(name, len)
}

/// Opens the object `name`, waiting a little for a creator that has not
/// sized it yet.
fn open_object(name: &str) -> Result<ShmObject> {
    check_name(name)?;
    let until = monotonic_now() + OPEN_PATIENCE;
    loop {
        match ShmObject::open(name) {
            Err(Error::TooSmall { size: 0, .. }) if monotonic_now() < until => {
                std::thread::sleep(Duration::from_millis(1));
            }
            other => return other,
        }
    }
}

/// A channel's memory, split into the core region and the liveness block.
pub(crate) struct Parts {
    pub(crate) mem: Memory,
    /// The core region, `'static` only in name: every endpoint keeps `mem`
    /// (the mapping) in a field that drops after the ring endpoint borrowing
    /// this region.
    pub(crate) core: Region<'static>,
    pub(crate) block: Block,
}

impl Parts {
    fn split(mem: Memory, core_len: usize, slots: u32) -> Result<Self> {
        let need = object_len(core_len);
        let len = mem.len();
        if len < need {
            return Err(Error::TooSmall {
                target: "channel object".into(),
                size: len as u64,
                required: need as u64,
            });
        }
        let base = mem.region().as_ptr();
        // SAFETY: `base` is the start of `mem`'s live mapping (non-null),
        // `core_len <= len`; the mapping stays valid as long as `mem`, and
        // every user of this region keeps `mem` (see the field doc). Other
        // processes writing the bytes is what `from_raw` allows.
        let core = unsafe { Region::from_raw(NonNull::new_unchecked(base), core_len) };
        // SAFETY: `liveness_offset + LIVENESS_LEN <= len` (checked), the
        // offset is a multiple of 4096 from a page-aligned base, and the
        // block lives as long as `mem`, which its users keep.
        let block = unsafe {
            Block::new(
                NonNull::new_unchecked(base.add(liveness_offset(core_len))),
                slots,
            )
        };
        Ok(Self { mem, core, block })
    }

    /// Fresh (zeroed) memory: writes the liveness block; the caller then
    /// initialises the ring, whose header publication makes both visible.
    pub(crate) fn fresh(mem: Memory, core_len: usize, slots: u32) -> Result<Self> {
        let parts = Self::split(mem, core_len, slots)?;
        if parts.mem.inspect().is_ok() {
            return Err(CoreError::AlreadyInitialized.into());
        }
        parts.block.init();
        Ok(parts)
    }

    /// Memory holding a channel of `kind`: waits (bounded) for its header
    /// to be published, then validates the sizes and the liveness block.
    pub(crate) fn existing(mem: Memory, kind: ObjectKind, slots: u32) -> Result<Self> {
        let until = monotonic_now() + OPEN_PATIENCE;
        let info = loop {
            match mem.expect_kind(kind) {
                Err(Error::Core(CoreError::NotInitialized)) if monotonic_now() < until => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                other => break other?,
            }
        };
        let core_len = core_region_len(&info).ok_or(CoreError::Corrupted("sizes in header"))?;
        let parts = Self::split(mem, core_len, slots)?;
        parts.block.validate()?;
        Ok(parts)
    }
}

/// Creates or opens by name: `Ok((memory, created))`.
fn create_or_open(name: &str, len: usize, create: bool, open: bool) -> Result<(Memory, bool)> {
    for _ in 0..100 {
        if create {
            match create_object(name, len) {
                Ok(m) => return Ok((m.into(), true)),
                Err(Error::AlreadyExists(_)) if open => {}
                Err(e) => return Err(e),
            }
        }
        match open_object(name) {
            Ok(m) => return Ok((m.into(), false)),
            // Removed between our attempts: create it again.
            Err(Error::NotFound(_)) if create => {}
            Err(e) => return Err(e),
        }
    }
    Err(Error::os(
        "shm_open",
        name,
        std::io::Error::other("created and removed by others 100 times in a row"),
    ))
}

/// The name of an object this call is about to initialise, to remove it if
/// the set-up fails.
pub(crate) fn created_name(mem: &Memory, mode: Mode) -> Option<String> {
    match (mem, mode) {
        (Memory::Shm(obj), Mode::Init) if obj.was_created() => Some(obj.name().as_str().to_owned()),
        _ => None,
    }
}

/// Passes `result` on; on error first removes the name `cleanup` (an
/// object this process created and failed to set up).
pub(crate) fn undo_on_error<R>(result: Result<R>, cleanup: Option<String>) -> Result<R> {
    if result.is_err() {
        if let Some(name) = cleanup {
            let _ = ShmObject::remove(&name);
        }
    }
    result
}

/// Runs a blocking core call in slices of [`LIVENESS_SLICE`], checking
/// `gone` between slices; after `gone` reports, one last non-waiting
/// attempt (so queued items are delivered first), then the error.
pub(crate) fn blocking<R>(
    timeout: Option<Duration>,
    mut op: impl FnMut(Option<Duration>) -> ipckit_core::Result<R>,
    gone: impl Fn() -> Option<Error>,
) -> Result<R> {
    let deadline = timeout.map(|t| monotonic_now().saturating_add(t));
    loop {
        let slice = match deadline {
            None => LIVENESS_SLICE,
            Some(d) => d.saturating_sub(monotonic_now()).min(LIVENESS_SLICE),
        };
        match op(Some(slice)) {
            Err(CoreError::TimedOut) => {}
            other => return other.map_err(Error::from),
        }
        if let Some(e) = gone() {
            return match op(Some(Duration::ZERO)) {
                Err(CoreError::TimedOut) => Err(e),
                other => other.map_err(Error::from),
            };
        }
        if deadline.is_some_and(|d| monotonic_now() >= d) {
            return Err(CoreError::TimedOut.into());
        }
    }
}

/// How an endpoint comes to its memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Fresh memory: write the liveness block and initialise the ring.
    Init,
    /// An existing channel: validate and attach.
    Attach,
    /// An existing channel whose role a dead process may hold: take it.
    TakeOver,
}

/// Memory for a channel by name: created (`Mode::Init`) or opened.
pub(crate) fn named(name: &str, len: usize, create: bool, open: bool) -> Result<(Memory, Mode)> {
    let (mem, created) = create_or_open(name, len, create, open)?;
    Ok((mem, if created { Mode::Init } else { Mode::Attach }))
}

/// Claims a single-endpoint role (SPSC kinds) in the core and records it in
/// the liveness block; with `take_over`, first takes the slot from a dead
/// holder and frees the core's claim with `release`.
///
/// `release` must free the core claim of `role` on `ring`; it is called
/// only after the slot's recorded holder was found dead (pid and start
/// time) and this process won the slot.
pub(crate) fn claim_single<R, E>(
    block: Block,
    role: ipckit_core::Role,
    take_over: bool,
    ring: &R,
    claim: impl Fn(&R) -> ipckit_core::Result<E>,
    release: impl FnOnce(&R),
) -> Result<(E, liveness::Membership)> {
    if take_over {
        match liveness::Membership::take_over_single(block, role)? {
            Ok(member) => {
                release(ring);
                let endpoint = claim(ring)?;
                return Ok((endpoint, member));
            }
            Err(block) => return claim_single(block, role, false, ring, claim, release),
        }
    }
    let endpoint = claim(ring)?;
    let member = liveness::Membership::claim_single(block, role)?;
    Ok((endpoint, member))
}

/// A core ring a channel is built on: its kind, the liveness slots of each
/// side, and how to size, initialise (with waking on) and attach it.
pub(crate) trait CoreRing: Sized {
    const KIND: ObjectKind;
    const SLOTS: u32;
    fn core_len(capacity: u32) -> Option<usize>;
    fn init_core(core: Region<'static>, capacity: u32) -> ipckit_core::Result<Self>;
    fn attach_core(core: Region<'static>) -> ipckit_core::Result<Self>;
}

/// A [`CoreRing`] whose producer and consumer roles are each held by one
/// endpoint (the SPSC kinds).
pub(crate) trait SingleRoles: CoreRing {
    /// Frees the core's claim of `role`.
    ///
    /// # Safety
    /// As the core's `release_producer_claim` / `release_consumer_claim`:
    /// the holder of the claim never uses its endpoint again.
    unsafe fn release_claim(&self, role: ipckit_core::Role);
}

/// Implements [`CoreRing`] (and with `single`, [`SingleRoles`], one slot a
/// side) for a core ring type: `core_ring!([generics] Type, ObjectKind
/// variant, slots, its Options type)`.
macro_rules! core_ring {
    ([$($g:tt)*] $ring:ty, $kind:ident, $slots:expr, $options:ident) => {
        impl<$($g)*> $crate::channel::CoreRing for $ring {
            const KIND: ipckit_core::ObjectKind = ipckit_core::ObjectKind::$kind;
            const SLOTS: u32 = $slots;
            fn core_len(capacity: u32) -> Option<usize> {
                <$ring>::region_len(capacity)
            }
            fn init_core(
                core: ipckit_core::Region<'static>,
                capacity: u32,
            ) -> ipckit_core::Result<Self> {
                <$ring>::init_with(core, $options::new(capacity).waking(true))
            }
            fn attach_core(core: ipckit_core::Region<'static>) -> ipckit_core::Result<Self> {
                <$ring>::attach(core)
            }
        }
    };
    (single [$($g:tt)*] $ring:ty, $kind:ident, $options:ident) => {
        $crate::channel::core_ring!([$($g)*] $ring, $kind, 1, $options);
        impl<$($g)*> $crate::channel::SingleRoles for $ring {
            unsafe fn release_claim(&self, role: ipckit_core::Role) {
                // SAFETY: passed on to the caller.
                unsafe {
                    match role {
                        ipckit_core::Role::Producer => self.release_producer_claim(),
                        ipckit_core::Role::Consumer => self.release_consumer_claim(),
                    }
                }
            }
        }
    };
}
pub(crate) use core_ring;

/// Sets up the ring of `mem` (initialised for `Mode::Init`, else validated
/// and attached), then makes the endpoint and records it in the liveness
/// block with `claim`. On error, removes an object this call created.
pub(crate) fn set_up<R: CoreRing, E>(
    mem: Memory,
    mode: Mode,
    capacity: u32,
    claim: impl FnOnce(&R, Block) -> Result<(E, liveness::Membership)>,
) -> Result<(Memory, E, liveness::Membership)> {
    let cleanup = created_name(&mem, mode);
    let set_up = (|| {
        let (parts, ring) = if mode == Mode::Init {
            let core_len = R::core_len(capacity).ok_or(CoreError::InvalidCapacity)?;
            let parts = Parts::fresh(mem, core_len, R::SLOTS)?;
            let ring = R::init_core(parts.core, capacity)?;
            (parts, ring)
        } else {
            let parts = Parts::existing(mem, R::KIND, R::SLOTS)?;
            let ring = R::attach_core(parts.core)?;
            (parts, ring)
        };
        let Parts { mem, block, .. } = parts;
        let (endpoint, member) = claim(&ring, block)?;
        Ok((mem, endpoint, member))
    })();
    undo_on_error(set_up, cleanup)
}

/// [`set_up`] for a single-endpoint role (SPSC kinds): claims `role` with
/// `claim`, taking it over from a dead holder for `Mode::TakeOver`.
pub(crate) fn open_single<R: SingleRoles, E>(
    mem: Memory,
    mode: Mode,
    capacity: u32,
    role: ipckit_core::Role,
    claim: impl Fn(&R) -> ipckit_core::Result<E>,
) -> Result<(Memory, E, liveness::Membership)> {
    set_up(mem, mode, capacity, |ring: &R, block| {
        claim_single(block, role, mode == Mode::TakeOver, ring, claim, |r| {
            // SAFETY: `claim_single` calls this only after it found the
            // role's recorded holder dead (pid and start time) and won its
            // liveness slot: the dead process never uses its endpoint
            // again, and this process had no endpoint of the role (it would
            // have recorded our own, live, pid).
            unsafe { r.release_claim(role) }
        })
    })
}

/// The constructors every channel endpoint has, and `memory` and
/// `peer_gone`; each method's doc comments come from the invocation, in a
/// section `name { /// docs }`.
/// `open` makes `(memory, endpoint, membership)` from `(memory, mode,
/// capacity)`; `ring` is the core ring type (for `object_len`). The
/// optional `take_over` section adds `take_over` and `take_over_on`.
macro_rules! endpoint_constructors {
    (
        open: $open:expr, ring: $ring:ty;
        object_len { $(#[$object_len:meta])* }
        create { $(#[$create:meta])* }
        open { $(#[$open_name:meta])* }
        $(take_over { $(#[$take_over:meta])* })?
        init_on { $(#[$init_on:meta])* }
        attach { $(#[$attach:meta])* }
        memory { $(#[$memory:meta])* }
        peer_gone { $(#[$peer_gone:meta])* }
    ) => {
        $(#[$object_len])*
        pub fn object_len(capacity: u32) -> Option<usize> {
            <$ring>::region_len(capacity).map($crate::channel::object_len)
        }

        $(#[$create])*
        pub fn create(name: &str, capacity: u32) -> $crate::error::Result<Self> {
            let len = Self::object_len(capacity)
                .ok_or($crate::error::CoreError::InvalidCapacity)?;
            let (mem, mode) = $crate::channel::named(name, len, true, false)?;
            Self::on(mem, mode, capacity)
        }

        $(#[$open_name])*
        pub fn open(name: &str) -> $crate::error::Result<Self> {
            let (mem, mode) = $crate::channel::named(name, 0, false, true)?;
            Self::on(mem, mode, 0)
        }

        /// Opens `name`, or creates it with `capacity` if it does not exist
        /// (`capacity` only matters when creating).
        pub fn open_or_create(name: &str, capacity: u32) -> $crate::error::Result<Self> {
            let len = Self::object_len(capacity)
                .ok_or($crate::error::CoreError::InvalidCapacity)?;
            let (mem, mode) = $crate::channel::named(name, len, true, true)?;
            Self::on(mem, mode, capacity)
        }

        $(
            $(#[$take_over])*
            pub fn take_over(name: &str) -> $crate::error::Result<Self> {
                let (mem, _) = $crate::channel::named(name, 0, false, true)?;
                Self::on(mem, $crate::channel::Mode::TakeOver, 0)
            }

            /// [`take_over`](Self::take_over) on memory the caller opened.
            pub fn take_over_on(
                mem: impl Into<$crate::channel::Memory>,
            ) -> $crate::error::Result<Self> {
                Self::on(mem.into(), $crate::channel::Mode::TakeOver, 0)
            }
        )?

        $(#[$init_on])*
        pub fn init_on(
            mem: impl Into<$crate::channel::Memory>,
            capacity: u32,
        ) -> $crate::error::Result<Self> {
            Self::on(mem.into(), $crate::channel::Mode::Init, capacity)
        }

        $(#[$attach])*
        pub fn attach(mem: impl Into<$crate::channel::Memory>) -> $crate::error::Result<Self> {
            Self::on(mem.into(), $crate::channel::Mode::Attach, 0)
        }

        fn on(
            mem: $crate::channel::Memory,
            mode: $crate::channel::Mode,
            capacity: u32,
        ) -> $crate::error::Result<Self> {
            let (mem, end, member) = ($open)(mem, mode, capacity)?;
            Ok(Self { member, end, mem })
        }

        $(#[$memory])*
        pub fn memory(&self) -> &$crate::channel::Memory {
            &self.mem
        }

        $(#[$peer_gone])*
        pub fn peer_gone(&self) -> Option<$crate::error::Error> {
            self.member.peer_gone()
        }
    };
}
pub(crate) use endpoint_constructors;

//! How a channel endpoint comes to be: the object created or opened by
//! name, the core ring initialised or attached (reading the header once),
//! the liveness block found (checked arithmetic, bounded by the mapping),
//! and the endpoint's role claimed and recorded (see the [channel
//! docs](super#dead-peers) for the order). The constructors every endpoint
//! type shares are the macro at the end.

use std::ptr::NonNull;
use std::time::Duration;

use ipckit_core::Region;

use super::liveness::{self, Block};
use super::{
    LIVENESS_LEN, Memory, OPEN_PATIENCE, ProcessId, check_name, liveness_offset, object_len,
};
use crate::error::{CoreError, Error, Result};
use crate::futex::monotonic_now;
use crate::shm::{SharedMemory, ShmObject};

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

/// The whole mapping of `mem` as a region, `'static` only in name: every
/// endpoint keeps `mem` (the mapping) in a field that drops after the ring
/// endpoint borrowing this region.
fn whole(mem: &Memory) -> Region<'static> {
    // SAFETY: the pointer and length are `mem`'s live mapping (non-null),
    // valid as long as `mem`, which every user of this region keeps (see
    // above). Other processes writing the bytes is what `from_raw` allows;
    // this process touches them only through ipckit (rings, the liveness
    // block's atomics).
    unsafe { Region::from_raw(NonNull::new_unchecked(mem.as_ptr()), mem.len()) }
}

/// The liveness block of a channel whose core region is `core_len` bytes:
/// `TooSmall` unless the mapping holds it (checked arithmetic).
fn block_of(mem: &Memory, core_len: usize, slots: u32) -> Result<Block> {
    let len = mem.len();
    let too_small = || Error::TooSmall {
        target: mem.describe(),
        size: len as u64,
        required: object_len(core_len).map_or(u64::MAX, |n| n as u64),
    };
    let at = liveness_offset(core_len)
        .filter(|at| at.checked_add(LIVENESS_LEN).is_some_and(|end| end <= len))
        .ok_or_else(too_small)?;
    // SAFETY: `at + LIVENESS_LEN <= len` (checked above), `at` is a multiple
    // of 4096 from the page-aligned base of `mem`'s mapping, and the block
    // lives as long as `mem`, which its users keep.
    Ok(unsafe { Block::new(NonNull::new_unchecked(mem.as_ptr().add(at)), slots) })
}

/// Attaches the core ring over the whole mapping of `mem`, waiting
/// (bounded) for a creator that has not published the header yet.
fn attach_published<R: CoreRing>(mem: &Memory) -> Result<R> {
    let until = monotonic_now() + OPEN_PATIENCE;
    loop {
        match R::attach_core(whole(mem)) {
            Err(CoreError::NotInitialized) if monotonic_now() < until => {
                std::thread::sleep(Duration::from_millis(1));
            }
            other => return Ok(other?),
        }
    }
}

/// The ring and liveness block of `mem`: initialised (`Mode::Init`: the
/// block first, then the ring, whose header publication makes both
/// visible) or attached and validated.
///
/// An attach reads the header exactly once, inside the core's `attach`
/// (which validates it and checks the ring fits the mapping); the liveness
/// block's place follows from the attached ring's capacity and the element
/// type, never from a second read of the header.
fn ring_and_block<R: CoreRing>(mem: &Memory, mode: Mode, capacity: u32) -> Result<(R, Block)> {
    if mode == Mode::Init {
        let core_len = R::core_len(capacity).ok_or(CoreError::InvalidCapacity)?;
        let block = block_of(mem, core_len, R::SLOTS)?;
        if mem.inspect().is_ok() {
            return Err(CoreError::AlreadyInitialized.into());
        }
        block.init();
        let ring = R::init_core(whole(mem), capacity)?;
        return Ok((ring, block));
    }
    let ring = attach_published::<R>(mem)?;
    let core_len =
        R::core_len(ring.capacity()).ok_or(CoreError::Corrupted("capacity in header"))?;
    let block = block_of(mem, core_len, R::SLOTS)?;
    block.validate()?;
    Ok((ring, block))
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

/// Claims a single-endpoint role (SPSC kinds): records this process in the
/// role's liveness slot first, then takes the core's claim with `claim`
/// (module docs: the slot names the holder at every instant). With
/// `take_over`, the slot is taken from a dead holder (active, or killed
/// while claiming), and the core's claim it may have reached is freed with
/// `release` before ours is taken.
///
/// `release` must free the core claim of `role` on `ring`; it is called
/// only after the slot's recorded holder was found dead and this process
/// won the slot. The endpoint `claim` returns must be dropped before the
/// membership (the endpoint structs declare it first), so that the core's
/// claim is given back while the slot still names its holder.
pub(crate) fn claim_single<R, E>(
    block: Block,
    role: ipckit_core::Role,
    take_over: bool,
    ring: &R,
    claim: impl Fn(&R) -> ipckit_core::Result<E>,
    release: impl FnOnce(&R),
) -> Result<(E, liveness::Membership)> {
    // Before any claim: a failure here leaves nothing behind.
    let me = ProcessId::current()?;
    let member = if take_over {
        match liveness::Membership::take_over_single(block, role, me)? {
            Ok(member) => {
                release(ring);
                member
            }
            Err(block) => liveness::Membership::claim_single(block, role, me)?,
        }
    } else {
        liveness::Membership::claim_single(block, role, me)?
    };
    // On failure `member` drops here and closes the slot again.
    let endpoint = claim(ring)?;
    Ok((endpoint, member))
}

/// A core ring a channel is built on: the liveness slots of each side, how
/// to size, initialise (with waking on) and attach it, and the capacity it
/// was validated with.
pub(crate) trait CoreRing: Sized {
    const SLOTS: u32;
    fn core_len(capacity: u32) -> Option<usize>;
    fn init_core(core: Region<'static>, capacity: u32) -> ipckit_core::Result<Self>;
    fn attach_core(core: Region<'static>) -> ipckit_core::Result<Self>;
    /// The capacity the ring was validated with.
    fn capacity(&self) -> u32;
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
/// variant, slots, its Options type)`. The kind is for the reader: the
/// core's `attach` checks it.
macro_rules! core_ring {
    ([$($g:tt)*] $ring:ty, $kind:ident, $slots:expr, $options:ident) => {
        impl<$($g)*> $crate::channel::CoreRing for $ring {
            const SLOTS: u32 = $slots;
            fn core_len(capacity: u32) -> Option<usize> {
                // `Option` or `Result`, until every ring is placed by
                // `ipckit_core::place` (then `Result`).
                <$ring>::region_len(capacity).into_iter().next()
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
            fn capacity(&self) -> u32 {
                <$ring>::capacity(self)
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
/// block with `claim`. On error, removes an object this call created; a
/// core error comes back as [`Error::Channel`], naming the object.
pub(crate) fn set_up<R: CoreRing, E>(
    mem: Memory,
    mode: Mode,
    capacity: u32,
    claim: impl FnOnce(&R, Block) -> Result<(E, liveness::Membership)>,
) -> Result<(Memory, E, liveness::Membership)> {
    let cleanup = created_name(&mem, mode);
    let set_up = ring_and_block::<R>(&mem, mode, capacity)
        .and_then(|(ring, block)| claim(&ring, block))
        .map_err(|e| e.in_channel(|| mem.describe()));
    undo_on_error(
        set_up.map(|(endpoint, member)| (mem, endpoint, member)),
        cleanup,
    )
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
            // role's recorded holder dead (pid and start time; a holder
            // killed while claiming by its pid, which no process has any
            // more) and won its liveness slot: the dead process never uses
            // its endpoint again, and this process had no endpoint of the
            // role (it would have recorded our own, live, pid). Every
            // endpoint takes the slot before the core's claim, so nobody
            // else holds that claim.
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
            <$ring>::region_len(capacity)
                .into_iter()
                .next()
                .and_then($crate::channel::object_len)
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

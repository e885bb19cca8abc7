//! How a channel endpoint comes to be: the object created or opened by
//! name, the core ring initialised or attached (reading the header once),
//! the liveness block found (checked arithmetic, bounded by the mapping),
//! and the endpoint's role claimed and recorded (see the [channel
//! docs](super#dead-peers) for the order). The constructors every endpoint
//! type shares are the macro at the end.

use std::ptr::NonNull;
use std::time::Duration;

use ipckit_core::place::{self, Layout, Options, Placed, SingleRoles};
use ipckit_core::{ObjectKind, Region, Role};

use super::liveness::{self, Block, MAX_ENDPOINTS};
use super::{
    LIVENESS_LEN, Memory, OPEN_PATIENCE, ProcessId, check_name, liveness_offset, object_len,
};
use crate::error::{CoreError, Error, Result};
use crate::futex::{Futex, monotonic_now};
use crate::shm::{SharedMemory, ShmObject};

/// Creates the object `name` of `len` bytes (must not exist).
fn create_object(name: &str, len: usize) -> Result<ShmObject> {
    ShmObject::create(check_name(name)?.as_str(), len)
}

/// Opens the object `name`, waiting a little for a creator that has not
/// sized it yet.
fn open_object(name: &str) -> Result<ShmObject> {
    let object = check_name(name)?;
    let until = monotonic_now() + OPEN_PATIENCE;
    loop {
        match ShmObject::open(object.as_str()) {
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
pub(super) fn block_of(mem: &Memory, core_len: usize, slots: u32) -> Result<Block> {
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

/// The liveness slots a side of a channel of `kind` has: one for the SPSC
/// kinds (each role is held by one endpoint), [`MAX_ENDPOINTS`] for the
/// others (the liveness docs' table).
pub(super) const fn slots_per_side(kind: ObjectKind) -> u32 {
    match kind {
        ObjectKind::Spsc | ObjectKind::FrameSpsc => 1,
        _ => MAX_ENDPOINTS,
    }
}

/// Attaches the core ring over the whole mapping of `mem` with `attach`,
/// waiting (bounded) for a creator that has not published the header yet.
fn attach_published<R>(
    mem: &Memory,
    attach: impl Fn(Region<'static>) -> ipckit_core::Result<R>,
) -> Result<R> {
    let until = monotonic_now() + OPEN_PATIENCE;
    loop {
        match attach(whole(mem)) {
            Err(CoreError::NotInitialized) if monotonic_now() < until => {
                std::thread::sleep(Duration::from_millis(1));
            }
            other => return Ok(other?),
        }
    }
}

/// The liveness block of fresh memory for a core region of `core_len`
/// bytes, written before the ring's header, whose publication makes both
/// visible: [`CoreError::AlreadyInitialized`] if the memory holds a header.
fn fresh_block(mem: &Memory, core_len: usize, slots: u32) -> Result<Block> {
    let block = block_of(mem, core_len, slots)?;
    if mem.inspect().is_ok() {
        return Err(CoreError::AlreadyInitialized.into());
    }
    block.init();
    Ok(block)
}

/// The liveness block behind an attached ring, validated: its place follows
/// from `core_len`, the core region's length for the capacity and element
/// type the ring was validated with, never from a second read of the
/// header.
fn attached_block(mem: &Memory, core_len: Option<usize>, slots: u32) -> Result<Block> {
    let core_len = core_len.ok_or(CoreError::Corrupted("capacity in header"))?;
    let block = block_of(mem, core_len, slots)?;
    block.validate()?;
    Ok(block)
}

/// The ring of layout `L` and the liveness block of `mem`: initialised
/// (`Mode::Init`: the block first, then the ring, waking) or attached and
/// validated. An attach reads the header exactly once, inside the core's
/// [`Placed::attach`] (which validates it and checks the ring fits the
/// mapping).
pub(super) fn ring_and_block<L: Layout>(
    mem: &Memory,
    mode: Mode,
    capacity: u32,
) -> Result<(Placed<'static, L>, Block)> {
    let slots = slots_per_side(L::KIND);
    if mode == Mode::Init {
        let block = fresh_block(mem, place::region_len::<L>(capacity)?, slots)?;
        let ring = Placed::init_with(whole(mem), Options::new(capacity).waking(true))?;
        return Ok((ring, block));
    }
    let ring = attach_published(mem, Placed::<L>::attach)?;
    let core_len = place::region_len::<L>(ring.capacity()).ok();
    Ok((ring, attached_block(mem, core_len, slots)?))
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
    role: Role,
    take_over: bool,
    ring: &R,
    claim: impl Fn(&R, Futex) -> ipckit_core::Result<E>,
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
    let endpoint = claim(ring, member.notifier())?;
    Ok((endpoint, member))
}

/// Sets up the ring of layout `L` on `mem` (initialised for `Mode::Init`,
/// else validated and attached), then makes the endpoint and records it in
/// the liveness block with `claim`. On error, removes an object this call
/// created; a core error comes back as [`Error::Channel`], naming the
/// object.
pub(crate) fn set_up<L: Layout, E>(
    mem: Memory,
    mode: Mode,
    capacity: u32,
    claim: impl FnOnce(&Placed<'static, L>, Block) -> Result<(E, liveness::Membership)>,
) -> Result<(Memory, E, liveness::Membership)> {
    finish(
        mem,
        mode,
        |mem| ring_and_block::<L>(mem, mode, capacity),
        claim,
    )
}

/// The frame of [`set_up`]: the ring and block from `ring_and_block`, the
/// endpoint from `claim`, errors naming the object, and the clean-up.
fn finish<R, E>(
    mem: Memory,
    mode: Mode,
    ring_and_block: impl FnOnce(&Memory) -> Result<(R, Block)>,
    claim: impl FnOnce(&R, Block) -> Result<(E, liveness::Membership)>,
) -> Result<(Memory, E, liveness::Membership)> {
    let cleanup = created_name(&mem, mode);
    let set_up = ring_and_block(&mem)
        .and_then(|(ring, block)| claim(&ring, block))
        .map_err(|e| e.in_channel(|| mem.describe()));
    undo_on_error(
        set_up.map(|(endpoint, member)| (mem, endpoint, member)),
        cleanup,
    )
}

/// [`set_up`] for a single-endpoint role (SPSC kinds): claims `role` with
/// `claim`, taking it over from a dead holder for `Mode::TakeOver`.
pub(crate) fn open_single<L: SingleRoles, E>(
    mem: Memory,
    mode: Mode,
    capacity: u32,
    role: Role,
    claim: impl Fn(&Placed<'static, L>, Futex) -> ipckit_core::Result<E>,
) -> Result<(Memory, E, liveness::Membership)> {
    set_up(mem, mode, capacity, |ring, block| {
        claim_single(block, role, mode == Mode::TakeOver, ring, claim, |r| {
            // SAFETY: `claim_single` calls this only after it found the
            // role's recorded holder dead (pid and start time; a holder
            // killed while claiming by its pid, which no process has any
            // more) and won its liveness slot: the dead process never uses
            // its endpoint again, and this process had no endpoint of the
            // role (it would have recorded our own, live, pid). Every
            // endpoint takes the slot before the core's claim, so nobody
            // else holds that claim.
            unsafe {
                match role {
                    Role::Producer => r.release_producer_claim(),
                    Role::Consumer => r.release_consumer_claim(),
                }
            }
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
                .ok()
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
            // `.into()`: an `Arc<Memory>` for kinds whose endpoints
            // `try_clone`.
            Ok(Self {
                member,
                end,
                mem: mem.into(),
            })
        }

        $(#[$memory])*
        pub fn memory(&self) -> &$crate::channel::Memory {
            &self.mem
        }

        $(#[$peer_gone])*
        pub fn peer_gone(&self) -> Option<$crate::error::Error> {
            self.member.peer_gone()
        }

        /// Waits (at most `timeout`) until `peers` endpoints of the other
        /// side have joined the channel, then removes its name (the object
        /// in `/dev/shm`, or the file; nothing for a memfd): the kernel
        /// frees the memory when the last endpoint leaves, whether it drops,
        /// exits or is killed, and nobody can open the channel by name any
        /// more. [`Error::TimedOut`](crate::Error::TimedOut) leaves the name
        /// in place. See the [channel docs](crate::channel#removing-the-name).
        pub fn remove_name_after(
            &self,
            peers: u32,
            timeout: std::time::Duration,
        ) -> $crate::error::Result<()> {
            $crate::channel::lifetime::remove_name_after(&self.mem, &self.member, peers, timeout)
        }
    };
}
pub(crate) use endpoint_constructors;

/// [`endpoint_constructors`] for an endpoint of an SPSC kind (one holder a
/// role, claimed with [`open_single`], taken over from a dead holder): the
/// sections every such endpoint documents alike are here, the three that
/// name the capacity's unit come from the invocation.
macro_rules! single_constructors {
    (
        role: $role:expr, claim: $claim:expr, ring: $ring:ty;
        object_len { $(#[$object_len:meta])* }
        create { $(#[$create:meta])* }
        init_on { $(#[$init_on:meta])* }
    ) => {
        $crate::channel::endpoint_constructors! {
            open: |mem, mode, capacity| {
                $crate::channel::open_single(mem, mode, capacity, $role, $claim)
            },
            ring: $ring;
            object_len { $(#[$object_len])* }
            create { $(#[$create])* }
            open {
                /// Opens the existing channel `name` and claims this end
                /// ([`CoreError::RoleTaken`] if another endpoint holds it; see
                /// [`take_over`](Self::take_over) for a dead holder).
            }
            take_over {
                /// Opens the existing channel `name` and claims this end, taking it
                /// over if its recorded holder is a dead process (checked by pid
                /// and start time). The new endpoint resumes at the published
                /// position. [`CoreError::RoleTaken`] if the holder lives.
            }
            init_on { $(#[$init_on])* }
            attach {
                /// Attaches to the channel in `mem` (validating header, sizes and
                /// liveness block) and claims this end.
            }
            memory {
                /// The memory the channel lives in (to pass a memfd on, to flush a
                /// file).
            }
            peer_gone {
                /// `Some(error)` ([`Error::PeerGone`]) if the other end was opened
                /// once and has since closed or died; `None` while it lives or
                /// before it first came. Reads `/proc` for a recorded peer.
            }
        }
    };
}
pub(crate) use single_constructors;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{bytes, core_region_len, mpmc, mpsc_bytes, spsc};
    use crate::shm::Memfd;

    /// The slots per side that the liveness block of a channel records.
    fn recorded_slots(mem: &Memory) -> Option<u32> {
        let core_len = core_region_len(&mem.inspect().ok()?)?;
        block_of(mem, core_len, 0).ok()?.recorded_slots()
    }

    /// A memfd for a channel object of `len` bytes.
    fn memfd(len: Option<usize>) -> Result<Memfd> {
        Memfd::create("setup-test", len.expect("a capacity the ring takes"))
    }

    /// Each kind's liveness block records the slots of the liveness docs'
    /// table (1 for the SPSC kinds, `MAX_ENDPOINTS` for the others): a peer
    /// from another release validates the block against it.
    #[test]
    fn each_kind_records_its_slots_per_side() -> Result<()> {
        let tx = spsc::Sender::<u64>::init_on(memfd(spsc::Sender::<u64>::object_len(64))?, 64)?;
        assert_eq!(recorded_slots(tx.memory()), Some(1));
        let tx = bytes::Sender::init_on(memfd(bytes::Sender::object_len(4096))?, 4096)?;
        assert_eq!(recorded_slots(tx.memory()), Some(1));
        let tx = mpmc::Sender::<u64>::init_on(memfd(mpmc::Sender::<u64>::object_len(64))?, 64)?;
        assert_eq!(recorded_slots(tx.memory()), Some(MAX_ENDPOINTS));
        let len = mpsc_bytes::Sender::object_len(4096);
        let tx = mpsc_bytes::Sender::init_on(memfd(len)?, 4096)?;
        assert_eq!(recorded_slots(tx.memory()), Some(MAX_ENDPOINTS));
        Ok(())
    }
}

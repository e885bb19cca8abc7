//! How a channel endpoint comes to be: the object created or opened by
//! name, the core ring initialised or attached (reading the header once),
//! the liveness block found (checked arithmetic, bounded by the mapping),
//! and the endpoint's role claimed and recorded (see the [channel
//! docs](super#dead-peers) for the order). The constructors every endpoint
//! type shares are the macros of [`constructors`].

use std::path::{Path, PathBuf};
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
use crate::shm::{DEFAULT_MODE, MappedFile, SharedMemory, ShmObject, Trust};

/// How a channel's object is made and met: the mode a created object or
/// file gets, and the owners and modes an open accepts (the builder's
/// [`mode`](super::Builder::mode) and [`trust`](super::Builder::trust)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Object {
    /// Permission bits of a created object or file (exactly these).
    pub mode: u32,
    /// What an open accepts.
    pub trust: Trust,
}

impl Default for Object {
    fn default() -> Self {
        Self {
            mode: DEFAULT_MODE,
            trust: Trust::Owner,
        }
    }
}

/// Opens with `open`, waiting a little for a creator that has not sized
/// the object yet (`TooSmall` with size 0).
fn patiently<M>(open: impl Fn() -> Result<M>) -> Result<M> {
    let until = monotonic_now() + OPEN_PATIENCE;
    loop {
        match open() {
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
pub(crate) fn block_of(mem: &Memory, core_len: usize, slots: u32) -> Result<Block> {
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
pub(crate) const fn slots_per_side(kind: ObjectKind) -> u32 {
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
///
/// The message type id `type_id` is stated in the block (0: not at all):
/// by a creator before the header's publication, by an opener before any
/// role is claimed, so a refused opener leaves no trace
/// ([`Error::TypeMismatch`]).
pub(crate) fn ring_and_block<L: Layout>(
    mem: &Memory,
    mode: Mode,
    capacity: u32,
    type_id: u64,
) -> Result<(Placed<'static, L>, Block)> {
    placed_and_block(mem, mode, Options::new(capacity), type_id)
}

/// A handle over a placed ring of layout [`Self::Layout`]: the core's
/// `Placed` itself, or a handle that reads more of the control block once
/// when it is placed (the broadcast frame ring's slot size).
pub(crate) trait Placement: Sized {
    /// The ring's layout.
    type Layout: Layout;
    /// Initialises the ring on `region` as `options` say.
    fn init_with(region: Region<'static>, options: Options) -> ipckit_core::Result<Self>;
    /// Attaches to the ring on `region`, validating it.
    fn attach(region: Region<'static>) -> ipckit_core::Result<Self>;
    /// The placed ring under the handle.
    fn placed(&self) -> &Placed<'static, Self::Layout>;
}

impl<L: Layout> Placement for Placed<'static, L> {
    type Layout = L;
    fn init_with(region: Region<'static>, options: Options) -> ipckit_core::Result<Self> {
        Placed::init_with(region, options)
    }
    fn attach(region: Region<'static>) -> ipckit_core::Result<Self> {
        Placed::attach(region)
    }
    fn placed(&self) -> &Placed<'static, L> {
        self
    }
}

/// [`ring_and_block`] for any [`Placement`] handle, with the core's
/// creation `options` (a broadcast ring's subscriber table, policy and
/// slot size; waking is forced). The liveness block follows the whole core
/// region, the table included: an attach places it from the table length
/// the ring recorded.
pub(crate) fn placed_and_block<P: Placement>(
    mem: &Memory,
    mode: Mode,
    options: Options,
    type_id: u64,
) -> Result<(P, Block)> {
    let slots = slots_per_side(P::Layout::KIND);
    let describe = || mem.describe();
    if mode == Mode::Init {
        let core_len = place::region_len_with::<P::Layout>(&options)?;
        let block = fresh_block(mem, core_len, slots)?;
        block.state_type_id_of(type_id, describe)?;
        let ring = P::init_with(whole(mem), options.waking(true))?;
        return Ok((ring, block));
    }
    let ring = attach_published(mem, P::attach)?;
    let placed = ring.placed();
    let recorded = Options::new(placed.capacity()).subscribers(placed.table_len());
    let core_len = place::region_len_with::<P::Layout>(&recorded).ok();
    let block = attached_block(mem, core_len, slots)?;
    block.state_type_id_of(type_id, describe)?;
    Ok((ring, block))
}

/// Creates with `create` (unless `None`) or opens with `open` (unless
/// `None`): the memory and `Mode::Init` for a created one, `Mode::Attach`
/// for an opened one. An object removed between the attempts is created
/// again (bounded); an opened one not sized yet is waited for.
fn create_or_open<M: Into<Memory>>(
    target: &str,
    create: Option<&dyn Fn() -> Result<M>>,
    open: Option<&dyn Fn() -> Result<M>>,
) -> Result<(Memory, Mode)> {
    for _ in 0..100 {
        if let Some(create) = create {
            match create() {
                Ok(m) => return Ok((m.into(), Mode::Init)),
                Err(Error::AlreadyExists(_)) if open.is_some() => {}
                Err(e) => return Err(e),
            }
        }
        let Some(open) = open else { break };
        match patiently(open) {
            Ok(m) => return Ok((m.into(), Mode::Attach)),
            // Removed between our attempts: create it again.
            Err(Error::NotFound(_)) if create.is_some() => {}
            Err(e) => return Err(e),
        }
    }
    Err(Error::os(
        "open",
        target,
        std::io::Error::other("created and removed by others 100 times in a row"),
    ))
}

/// What a failed set-up removes: the object or file this call created.
#[derive(Debug)]
pub(crate) enum Created {
    /// A named object (its name).
    Shm(String),
    /// A mapped file (its path).
    File(PathBuf),
}

/// The object or file this call is about to initialise, to remove it if
/// the set-up fails.
pub(crate) fn created_name(mem: &Memory, mode: Mode) -> Option<Created> {
    match (mem, mode) {
        (Memory::Shm(obj), Mode::Init) if obj.was_created() => {
            Some(Created::Shm(obj.name().as_str().to_owned()))
        }
        (Memory::File(file), Mode::Init) if file.was_created() => {
            Some(Created::File(file.path().to_owned()))
        }
        _ => None,
    }
}

/// Passes `result` on; on error first removes `cleanup` (an object or file
/// this process created and failed to set up).
pub(crate) fn undo_on_error<R>(result: Result<R>, cleanup: Option<Created>) -> Result<R> {
    if result.is_err() {
        match cleanup {
            Some(Created::Shm(name)) => {
                let _ = ShmObject::remove(&name);
            }
            Some(Created::File(path)) => {
                let _ = MappedFile::remove(&path);
            }
            None => {}
        }
    }
    result
}

/// How an endpoint comes to its memory (`pub` in this private module only
/// for the sealed [`Endpoint`](super::builder::sealed::Endpoint) trait).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Fresh memory: write the liveness block and initialise the ring.
    Init,
    /// An existing channel: validate and attach.
    Attach,
    /// An existing channel whose role a dead process may hold: take it.
    TakeOver,
}

/// Memory for a channel by name: created (`Mode::Init`) with `len` bytes
/// or opened, with the object's mode and trust.
pub(crate) fn named_with(
    name: &str,
    len: usize,
    create: bool,
    open: bool,
    object: Object,
) -> Result<(Memory, Mode)> {
    let shm = check_name(name)?;
    let make = || ShmObject::create_with_mode(shm.as_str(), len, object.mode);
    let meet = || ShmObject::open_with(shm.as_str(), object.trust);
    create_or_open(
        name,
        create.then_some(&make as &dyn Fn() -> Result<ShmObject>),
        open.then_some(&meet as &dyn Fn() -> Result<ShmObject>),
    )
}

/// Memory for a channel in the file `path`: created (`Mode::Init`) with
/// `len` bytes if it does not exist, else opened.
pub(crate) fn file(path: &Path, len: usize, object: Object) -> Result<(Memory, Mode)> {
    let make = || MappedFile::create_with_mode(path, len, object.mode);
    let meet = || MappedFile::open_with(path, object.trust);
    create_or_open(&path.display().to_string(), Some(&make), Some(&meet))
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
/// else validated and attached; `type_id` stated as [`ring_and_block`]
/// does), then makes the endpoint and records it in the liveness block
/// with `claim`. On error, removes an object this call created; a core
/// error comes back as [`Error::Channel`], naming the object.
pub(crate) fn set_up<L: Layout, E>(
    mem: Memory,
    mode: Mode,
    capacity: u32,
    type_id: u64,
    claim: impl FnOnce(&Placed<'static, L>, Block) -> Result<(E, liveness::Membership)>,
) -> Result<(Memory, E, liveness::Membership)> {
    finish(
        mem,
        mode,
        |mem| ring_and_block::<L>(mem, mode, capacity, type_id),
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
    type_id: u64,
    role: Role,
    claim: impl Fn(&Placed<'static, L>, Futex) -> ipckit_core::Result<E>,
) -> Result<(Memory, E, liveness::Membership)> {
    set_up(mem, mode, capacity, type_id, |ring, block| {
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

mod constructors;
pub(crate) use constructors::{endpoint_constructors, single_constructors};

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

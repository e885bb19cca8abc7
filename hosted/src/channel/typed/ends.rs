//! The byte endpoints a typed endpoint wraps, and how a typed endpoint
//! comes to be: the type id stated (before the role is claimed), then the
//! byte endpoint made.

use std::time::Duration;

use ipckit_core::place::{self, Layout};

use super::super::setup::{block_of, ring_and_block, slots_per_side};
use super::super::{Memory, Mode, bytes, mpsc_bytes, named};
use crate::error::{CoreError, Error, Result};
use crate::shm::SharedMemory;

pub(super) mod sealed {
    use super::*;

    /// What a typed endpoint needs of a byte endpoint. Sealed: the byte
    /// endpoints of this crate implement it.
    pub trait Bytes: Sized {
        /// The core layout of the ring (to find the liveness block before
        /// the role is claimed).
        type Ring: Layout;
        /// The endpoint's name, for `Debug`.
        const WHAT: &'static str;
        /// `object_len` of the byte endpoint.
        fn object_len(capacity: u32) -> Option<usize>;
        /// `init_on` of the byte endpoint.
        fn init_on(mem: Memory, capacity: u32) -> Result<Self>;
        /// `attach` of the byte endpoint.
        fn attach(mem: Memory) -> Result<Self>;
        /// `memory` of the byte endpoint.
        fn memory(&self) -> &Memory;
        /// `max_frame_len` of the byte endpoint.
        fn max_frame_len(&self) -> u32;
        /// States the type id in the endpoint's liveness block
        /// (`Block::state_type_id`).
        fn state_type_id(&self, id: u64) -> std::result::Result<(), u64>;
    }

    /// A byte endpoint that sends.
    pub trait SendBytes: Bytes {
        /// `try_send` of the byte endpoint.
        fn try_send(&mut self, message: &[u8]) -> Result<()>;
        /// `send_timeout` of the byte endpoint (`None`: no limit).
        fn send_for(&mut self, message: &[u8], timeout: Option<Duration>) -> Result<()>;
    }

    /// A byte endpoint whose role a new process can take over from a dead
    /// holder.
    pub trait TakeOverBytes: Bytes {
        /// `take_over_on` of the byte endpoint.
        fn take_over_on(mem: Memory) -> Result<Self>;
    }

    /// A byte endpoint that receives.
    pub trait RecvBytes: Bytes {
        /// `try_recv` of the byte endpoint.
        fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize>;
        /// `recv_timeout` of the byte endpoint (`None`: no limit).
        fn recv_for(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize>;
    }
}

use sealed::{Bytes, RecvBytes, SendBytes, TakeOverBytes};

/// A byte endpoint that a typed [`Sender`](super::Sender) can wrap:
/// [`bytes::Sender`] and [`mpsc_bytes::Sender`] (sealed).
///
/// ```
/// fn wraps<B: ipckit::channel::typed::ByteSender>() {}
/// wraps::<ipckit::channel::bytes::Sender>();
/// wraps::<ipckit::channel::mpsc_bytes::Sender>();
/// ```
pub trait ByteSender: SendBytes {}

/// A byte endpoint that a typed [`Receiver`](super::Receiver) can wrap:
/// [`bytes::Receiver`] and [`mpsc_bytes::Receiver`] (sealed).
///
/// ```
/// fn wraps<B: ipckit::channel::typed::ByteReceiver>() {}
/// wraps::<ipckit::channel::bytes::Receiver>();
/// wraps::<ipckit::channel::mpsc_bytes::Receiver>();
/// ```
pub trait ByteReceiver: RecvBytes {}

/// A byte endpoint of a single-holder role, which a typed endpoint can
/// take over from a dead process (`take_over`): both ends of
/// [`bytes`](mod@bytes) and the [`mpsc_bytes::Receiver`] (sealed).
///
/// ```
/// fn takes_over<B: ipckit::channel::typed::ByteTakeOver>() {}
/// takes_over::<ipckit::channel::bytes::Sender>();
/// takes_over::<ipckit::channel::bytes::Receiver>();
/// takes_over::<ipckit::channel::mpsc_bytes::Receiver>();
/// ```
pub trait ByteTakeOver: TakeOverBytes {}

macro_rules! take_over_impl {
    ($($t:ty),*) => {
        $(impl TakeOverBytes for $t {
            fn take_over_on(mem: Memory) -> Result<Self> {
                <$t>::take_over_on(mem)
            }
        }
        impl ByteTakeOver for $t {})*
    };
}
take_over_impl!(bytes::Sender, bytes::Receiver, mpsc_bytes::Receiver);

macro_rules! bytes_impl {
    ($t:ty, $ring:ty, $what:literal) => {
        impl Bytes for $t {
            type Ring = $ring;
            const WHAT: &'static str = $what;
            fn object_len(capacity: u32) -> Option<usize> {
                <$t>::object_len(capacity)
            }
            fn init_on(mem: Memory, capacity: u32) -> Result<Self> {
                <$t>::init_on(mem, capacity)
            }
            fn attach(mem: Memory) -> Result<Self> {
                <$t>::attach(mem)
            }
            fn memory(&self) -> &Memory {
                <$t>::memory(self)
            }
            fn max_frame_len(&self) -> u32 {
                <$t>::max_frame_len(self)
            }
            fn state_type_id(&self, id: u64) -> std::result::Result<(), u64> {
                self.membership().block().state_type_id(id)
            }
        }
    };
}

bytes_impl!(
    bytes::Sender,
    ipckit_core::frame::spsc::Frames,
    "typed::Sender"
);
bytes_impl!(
    bytes::Receiver,
    ipckit_core::frame::spsc::Frames,
    "typed::Receiver"
);
bytes_impl!(
    mpsc_bytes::Sender,
    ipckit_core::frame::mpsc::Frames,
    "typed::MpscSender"
);
bytes_impl!(
    mpsc_bytes::Receiver,
    ipckit_core::frame::mpsc::Frames,
    "typed::MpscReceiver"
);

macro_rules! send_impl {
    ($t:ty) => {
        impl SendBytes for $t {
            fn try_send(&mut self, message: &[u8]) -> Result<()> {
                <$t>::try_send(self, message)
            }
            fn send_for(&mut self, message: &[u8], timeout: Option<Duration>) -> Result<()> {
                match timeout {
                    None => <$t>::send(self, message),
                    Some(t) => <$t>::send_timeout(self, message, t),
                }
            }
        }
        impl ByteSender for $t {}
    };
}
send_impl!(bytes::Sender);
send_impl!(mpsc_bytes::Sender);

macro_rules! recv_impl {
    ($t:ty) => {
        impl RecvBytes for $t {
            fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize> {
                <$t>::try_recv(self, buf)
            }
            fn recv_for(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
                match timeout {
                    None => <$t>::recv(self, buf),
                    Some(t) => <$t>::recv_timeout(self, buf, t),
                }
            }
        }
        impl ByteReceiver for $t {}
    };
}
recv_impl!(bytes::Receiver);
recv_impl!(mpsc_bytes::Receiver);

/// The mismatch error for the channel in `mem`.
fn mismatch(mem: &Memory, ours: u64, theirs: u64) -> Error {
    Error::TypeMismatch {
        channel: mem.describe(),
        ours,
        theirs,
    }
}

/// States `id` in the channel of `mem` before its byte endpoint is made:
/// for fresh memory (`Mode::Init`) in the block the creator is about to
/// publish, for an existing channel in its attached, validated block. The
/// role is not claimed yet, so a refused endpoint leaves no trace a peer
/// could take for a departure.
fn state_first<B: Bytes>(mem: &Memory, mode: Mode, capacity: u32, id: u64) -> Result<()> {
    if id == 0 {
        return Ok(());
    }
    let slots = slots_per_side(B::Ring::KIND);
    let stated = if mode == Mode::Init {
        // Memory holding a header is not fresh: `init_on` refuses it.
        if mem.inspect().is_ok() {
            return Ok(());
        }
        let core_len = place::region_len::<B::Ring>(capacity)?;
        block_of(mem, core_len, slots)?.state_type_id(id)
    } else {
        let (_ring, block) = ring_and_block::<B::Ring>(mem, Mode::Attach, 0)?;
        block.state_type_id(id)
    };
    stated.map_err(|theirs| mismatch(mem, id, theirs))
}

/// The byte endpoint `B` on `mem` for a typed endpoint of type id `id`:
/// the id stated first (see [`state_first`]), then the endpoint made, then
/// the id stated again in the endpoint's own block (two initialisers racing
/// on one memory: the block that won is checked). A created object is
/// removed again if its endpoint is refused.
pub(super) fn open_on<B: Bytes>(mem: Memory, mode: Mode, capacity: u32, id: u64) -> Result<B> {
    open_with(mem, mode, capacity, id, |mem| match mode {
        Mode::Init => B::init_on(mem, capacity),
        _ => B::attach(mem),
    })
}

/// The byte endpoint `B` of the channel `name`, taken over from a dead
/// holder (the type id checked first, as for an open).
pub(super) fn take_over_named<B: TakeOverBytes>(name: &str, id: u64) -> Result<B> {
    let (mem, _) = named(name, 0, false, true)?;
    open_with(mem, Mode::TakeOver, 0, id, B::take_over_on)
}

/// [`open_on`] with the byte endpoint made by `make`.
fn open_with<B: Bytes>(
    mem: Memory,
    mode: Mode,
    capacity: u32,
    id: u64,
    make: impl FnOnce(Memory) -> Result<B>,
) -> Result<B> {
    if let Err(e) = state_first::<B>(&mem, mode, capacity, id) {
        let cleanup = super::super::setup::created_name(&mem, mode);
        return super::super::setup::undo_on_error(Err(e.in_channel(|| mem.describe())), cleanup);
    }
    let end = make(mem)?;
    end.state_type_id(id)
        .map_err(|theirs| mismatch(end.memory(), id, theirs))?;
    Ok(end)
}

/// `B` by name: created (`create`), opened (`open`), or either.
pub(super) fn open_named<B: Bytes>(
    name: &str,
    capacity: u32,
    create: bool,
    open: bool,
    id: u64,
) -> Result<B> {
    let len = match create {
        true => B::object_len(capacity).ok_or(CoreError::InvalidCapacity)?,
        false => 0,
    };
    let (mem, mode) = named(name, len, create, open)?;
    open_on::<B>(mem, mode, capacity, id)
}

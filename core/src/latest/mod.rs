//! A latest-value slot ("blackboard") on a shared region: one [`Writer`]
//! overwrites a `T: Pod` value, any number of [`Reader`]s copy out the
//! newest complete one. The writer never waits for readers and readers
//! never block it; a torn value is never returned. For sensor state and
//! configuration: readers want the current value, not every value.
//!
//! # Algorithm
//! A sequence lock (seqlock; Lameter's Linux `seqcount_t`, with the C++/Rust
//! memory-model formulation of Boehm, "Can seqlocks get along with
//! programming language memory models?", MSPC 2012). One `u32` sequence word
//! `seq` guards the value:
//!
//! - **Write**: `seq` to the next odd number (`Relaxed` store), a `Release`
//!   fence, the value's bytes (`Relaxed` atomic stores), `seq` to the next
//!   even number (`Release` store).
//! - **Read**: load `seq` (`Acquire`); 0 is [`Error::Empty`] (never
//!   written), odd is a write in progress (retry); else copy the value out
//!   (`Relaxed` atomic loads), an `Acquire` fence, load `seq` again
//!   (`Relaxed`): unchanged means the copy is exactly the value of that
//!   even sequence number, anything else means a write overlapped (retry).
//!
//! Why a torn copy is always caught: if the copy read any byte that a later
//! write stored, the reader's `Acquire` fence synchronises with that
//! writer's `Release` fence (fence-to-fence through the byte), so the
//! writer's odd store, sequenced before its fence, happens before the
//! re-load, which must then read it or a later value, never the first
//! load's. If instead the re-load reads the first load's value, every store
//! the copy read was made by the write that ended with that value (whose
//! `Release` the first load's `Acquire` synchronised with) or by no later
//! one: the copy is whole. The value moves through relaxed atomics
//! (`sync::WordCell`: `u32` words, then `u8`s for a tail of fewer
//! than four bytes), so a read that races a write is a discarded torn value
//! in Rust's memory model too, never a data race (undefined behaviour) as a
//! plain or volatile copy would be.
//!
//! The cost: a read is two loads of `seq`, a fence (nothing on x86-64,
//! `dmb ishld` on AArch64) and one relaxed load per four bytes of value,
//! which the compiler may not merge into wider moves or vectorise; a write
//! is the mirror image. `hosted/benches/latest.rs` (one thread, the value
//! hot in L1, an AMD EPYC VM, medians of 15 interleaved rounds): a 64 B
//! value reads in 13 ns and writes in 6 ns, against 1 ns for a plain copy;
//! a 4 KiB value reads in 409 ns and writes in 314 ns, against 76 ns for
//! `memcpy` (5x: about one 4-byte move per cycle). `seq` and the value sit
//! on separate [`LINE`]s, so a read of a small value touches two cache
//! lines.

//! # Bounded reads, dead writers
//! A reader retries at most [`READ_RETRIES`] times, with a spin hint each,
//! and then returns [`Error::Busy`]: a writer that writes without pause, one
//! that was preempted mid-write, or one that died mid-write (leaving `seq`
//! odd forever) cannot hang a reader. `Busy` is a flow condition: retry;
//! one that persists means the writer died mid-write. Then, once the
//! writer's death is known, [`Slot::release_writer_claim`] frees its role
//! and the next [`Writer`] recovers the slot: its first write starts from
//! the odd `seq` left behind (storing it again), writes a whole value and
//! ends even.
//!
//! # Waiting for a new value
//! [`Reader::read_changed`] (and `_timeout`) blocks until a value newer
//! than the reader's last one is there, through the reader's
//! [`Notify`](crate::wait::Notify): it spins by default; on a slot created
//! with [`Options::waking`] it may sleep (a futex in the hosted crate),
//! announced in the `waiters` word, and the writer (with a waking notifier
//! of its own) wakes all sleepers after a write, with the event count of
//! [`crate::wait`]: one `SeqCst` fence and one load per write, a system
//! call only when a reader sleeps. A sleeping reader writes `waiters`;
//! one that never blocks writes nothing.
//!
//! Versions: each complete value has the even `seq` it was published with
//! ([`Reader::version`], [`Writer::version`]); the number after
//! `0xffff_fffe` is 2 (0 stays "never written"). A reader tells a new value
//! from the one it last read by the version, which is wrong only if exactly
//! a multiple of 2^31 writes happened in between (ABA on a `u32`).
//!
//! # Layout (layout version 1, kind 6)
//! For a peer in another language:
//! [`docs/LAYOUT.md`](https://github.com/ipckit/ipckit/blob/main/docs/LAYOUT.md#15-latest-value-slot-kind-6).
//!
//! | offset | width | field | written by |
//! |-------:|------:|-------|------------|
//! | 0      | 128 B | [`Header`]: kind 6, `elem_size`/`elem_align` of `T`, `capacity` 1, `data_offset` 256, `flags` [`FLAG_WAKES`] or 0 | creator |
//! | 128    | u32   | `seq`: 0 never written, odd while a write is in progress, even = version of the value | writer |
//! | 132    | u32   | writer claim (0 free, 1 taken) | writer |
//! | 136    | u32   | `waiters`: readers announced as about to sleep on `seq` (waking slots) | sleeping readers (add, subtract) |
//! | 140    | 116 B | reserved, zero | nobody |
//! | 256    | `size_of::<T>()` | the value, accessed as `u32` words then single bytes | writer |
//!
//! [`Slot::region_len`] is `256 + size_of::<T>()`. Readers hold no claim,
//! and write nothing to the region unless they sleep.
//!
//! # The peer is untrusted
//! A peer can write any `seq`: an odd one makes reads [`Error::Busy`]
//! (bounded), 0 makes them [`Error::Empty`], an even one makes them return
//! whatever bytes the value holds (a wrong value, never a torn read of an
//! honest write, never an access outside the region). The value is copied
//! out before the caller sees it and `T: Pod` accepts any bytes. The
//! header is validated once at [`Slot::attach`]. A writer keeps its own
//! copy of `seq`, so a peer's garbage is overwritten by the next write. A
//! peer that writes `waiters` causes needless wake calls (a large value) or
//! makes the writer skip them (zero): a sleeping reader then wakes only at
//! its timeout, which is why [`Reader::read_changed_timeout`] has one.
//!
//! # Example
//! ```
//! use ipckit_core::{latest, AlignedBytes, Error, Region};
//!
//! #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
//! #[repr(C)]
//! struct Pose { x: f32, y: f32, heading: f32 }
//!
//! const LEN: usize = match latest::Slot::<Pose>::region_len() {
//!     Ok(len) => len,
//!     Err(_) => panic!("Pose cannot live in a region"),
//! };
//! let mut bytes = AlignedBytes::<LEN>::new();
//! let slot = latest::Slot::<Pose>::init(Region::from_slice(&mut bytes[..]))?;
//! let mut writer = slot.writer()?;
//! let mut reader = slot.reader();
//! assert_eq!(reader.try_read(), Err(Error::Empty)); // nothing written yet
//!
//! writer.write(Pose { x: 1.0, y: 2.0, heading: 0.5 });
//! writer.write(Pose { x: 1.5, y: 2.0, heading: 0.5 }); // overwrites
//! assert_eq!(reader.try_read()?.x, 1.5); // only the newest
//! assert!(!reader.has_changed());
//! assert_eq!(reader.try_read_changed()?, None); // nothing new
//! writer.write(Pose { x: 3.0, y: 2.0, heading: 0.5 });
//! assert_eq!(reader.try_read_changed()?.map(|p| p.x), Some(3.0));
//! # Ok::<(), Error>(())
//! ```
//!
//! [`Header`]: crate::Header
//! [`LINE`]: crate::region::LINE
//! [`FLAG_WAKES`]: crate::region::FLAG_WAKES
//! [`Error::Empty`]: crate::Error::Empty
//! [`Error::Busy`]: crate::Error::Busy

mod slot;

pub use slot::{Reader, Slot, StaticSlot, Writer};

use core::marker::PhantomData;

use crate::place::{self, Control, Layout, SingleProducer, Word};
use crate::region::{LINE, ObjectKind};
use crate::sync::WordCell;

/// Offset of the value from the region base.
pub const DATA_OFFSET: usize = 2 * LINE;

/// Attempts a read makes before it gives up with
/// [`Error::Busy`](crate::Error::Busy): 2^16 in production (milliseconds of
/// spinning, far longer than an honest write of a value that fits a
/// region's cache), 3 in the loom models.
pub const READ_RETRIES: u32 = if crate::sync::MODELLED { 3 } else { 1 << 16 };

place::words! {
    /// `seq`: 0 never written, odd while a write is in progress, else the
    /// version of the value.
    SEQ = (0, 0) at 128;
    /// The writer's claim word.
    WRITER_CLAIM = (0, 1) at 132;
    /// Readers announced as about to sleep on `seq` (a counter).
    WAITERS = (0, 2) at 136;
}

/// How a slot is created: its wake mode (and, for tests, its first
/// version).
///
/// ```
/// use ipckit_core::{latest::{Options, Slot}, AlignedBytes, Region};
///
/// let mut bytes = AlignedBytes::<512>::new();
/// let slot = Slot::<u32>::init_with(Region::from_slice(&mut bytes[..]), Options::new().waking(true))?;
/// assert!(slot.wakes());
/// assert!(slot.writer().is_err()); // a spinning writer would wake nobody
/// # Ok::<(), ipckit_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    wakes: bool,
    version: u32,
}

impl Options {
    /// A slot never written, whose readers spin.
    pub const fn new() -> Self {
        Self {
            wakes: false,
            version: 0,
        }
    }

    /// `true`: blocked readers sleep (futex, RTOS), and the writer must use
    /// a waking [`Notify`](crate::wait::Notify) (`N::WAKES`); `false` (the
    /// default): readers spin, and the writer uses a non-waking notifier
    /// such as [`Spin`](crate::wait::Spin).
    pub const fn waking(self, wakes: bool) -> Self {
        Self { wakes, ..self }
    }

    /// Starts `seq` at the even `version`, as if a zero value had been
    /// written with it: tests start next to `u32::MAX`, so that the wrap
    /// is exercised. An odd one is refused
    /// ([`Error::InvalidCapacity`](crate::Error::InvalidCapacity)).
    pub const fn start_at(self, version: u32) -> Self {
        Self { version, ..self }
    }

    /// The placement layer's options: capacity 1, `seq` the start position.
    const fn placed(&self) -> place::Options {
        place::Options::new(1)
            .start_at(self.version)
            .waking(self.wakes)
    }
}

/// The layout of a latest-value slot of `T` (the
/// [table](self#layout-layout-version-1-kind-6)): what [`Slot`] is placed
/// by. Its capacity is 1 (one value).
pub struct Value<T>(PhantomData<T>);

impl<T> place::sealed::Sealed for Value<T> {}

impl<T> Layout for Value<T> {
    const KIND: ObjectKind = ObjectKind::Latest;
    const MAX_CAPACITY: u32 = 1;
    /// The start "position" is `seq`, which starts even.
    const POSITION_ALIGN: u32 = 2;
    type Control = Control<1>;
    type Unit = WordCell<T>;
    const POSITIONS: &'static [Word] = &[SEQ];
}

impl<T> SingleProducer for Value<T> {
    const PRODUCER_CLAIM: Word = WRITER_CLAIM;
}

place::layout_asserts! {
    assert!(core::mem::size_of::<Control<1>>() == DATA_OFFSET);
    assert!(core::mem::size_of::<WordCell<[u8; 3]>>() == 3);
}

/// The even sequence number after the odd `writing`: 0 is skipped, it means
/// "never written".
#[inline(always)]
const fn next_version(writing: u32) -> u32 {
    match writing.wrapping_add(1) {
        0 => 2,
        v => v,
    }
}

#[cfg(test)]
mod tests;

//! The one synchronisation facade of the core.
//!
//! Every atomic and every slot cell that an algorithm of this crate touches is
//! imported from here, never from `core::sync` directly. Normally these are the
//! `core` atomics, which the compiler lowers to the target's native lock-free
//! instructions; under `RUSTFLAGS="--cfg ipckit_loom"` (a crate-specific
//! cfg, never a cargo feature; the `loom-tests` crate runs under it) they are loom's modelled versions, so the
//! model checker explores the *shipping* algorithm, not a copy.
//!
//! Only the placement differs between the two: in production the control block
//! is overlaid on the caller's bytes; under loom it is a heap object (loom
//! atomics carry bookkeeping and cannot live in raw bytes).
//!
//! With the `critical-section` feature on a target without compare-and-swap
//! (`thumbv6m`), `AtomicU32` is portable-atomic's, whose compare-and-swap
//! masks interrupts: valid between an interrupt handler and `main` of one
//! core, never between cores or processes.
//!
//! # Shared bytes
//! A region is memory that another party writes whenever it likes: a peer
//! process, another core, or a thread of this process that does not follow
//! the protocol (a test's forger, or a bug). In Rust's memory model two
//! conflicting accesses not ordered by happens-before are a data race, and
//! undefined behaviour, unless both are atomic; two racing atomic accesses
//! must moreover cover the same bytes with the same size, unless both are
//! reads (the "mixed-size" rule of `core::sync::atomic`). A plain
//! `copy_nonoverlapping` out of a region that a thread of ours writes at the
//! same time is therefore undefined behaviour, whatever we do with the bytes
//! afterwards: the compiler may assume they do not change during the copy.
//!
//! So the core touches region bytes only through atomics:
//! - control words (the header block, indices, claims, stamps, record
//!   headers) are `AtomicU32` loads, stores and read-modify-writes;
//! - bulk bytes (slots, frame payloads) move through [`copy_from_shared`],
//!   [`copy_to_shared`] and [`zero_shared`]: loops of relaxed atomic loads
//!   and stores of one [`Grain`].
//!
//! **The grain rule.** Every shared object fixes, for each of its bytes, the
//! aligned unit through which that byte is accessed, and the core never
//! accesses it at another size, not even at the ragged ends of a copy: a
//! partial unit is loaded whole (and the wanted bytes picked out) or loaded,
//! merged and stored whole. The units are:
//! - 4 bytes for control words, and for the whole data area of the MPSC
//!   frame ring, whose `u32` record headers (compare-and-swapped alone)
//!   occupy at other times the bytes that payloads occupy;
//! - a machine word for the data area of the SPSC frame ring, whose 8-byte
//!   record headers are read and written as one unit on a 64-bit target;
//! - `min(align_of::<T>(), size_of::<usize>())` bytes for a slot of `T`
//!   (slots are aligned to `T` and a multiple of its alignment long, so a
//!   slot never has a partial unit and never shares one with a neighbour).
//!
//! The layouts make the merge sound: a partial unit at either end of a
//! frame payload lies inside the same record (records are 8-byte aligned
//! and padded to 8), which the writer owns.
//!
//! Consequently a concurrent writer that accesses a region at its grain
//! (every writer the hardware offers: a peer's plain aligned stores are
//! single-copy atomic per unit) races with us only through same-size atomic
//! accesses: no data race and no mixed-size race, in any interleaving. What
//! it can still do is change the values we read, even between two units of
//! one copy (a torn frame or item); that is a wrong value, which the
//! validation of every control word and the bounds on every length turn into
//! an error or a wrong message, never into an access outside the region.
//! `tests/forging.rs` checks this under miri, with a forging thread writing
//! a region while endpoints operate on it.
//!
//! The price: a relaxed atomic load or store compiles to one plain `mov`
//! (x86-64, AArch64, Arm, RISC-V), but the compiler may neither merge nor
//! vectorise atomics, so a long copy moves one unit per instruction on the
//! shared side instead of 16 or 32 bytes. The loops move eight machine
//! words per iteration and touch private memory in whole words (a 4-byte
//! grain costs two loads but one store per word out of a region). In a
//! single-thread test on x86-64 (issue 13) a machine-word grain copied at
//! 0.8-1.3x the speed of `memcpy` and a 4-byte grain at 0.6-0.9x; the SPSC
//! frame ring's 64 KiB throughput across two processes did not drop.
//! `volatile` copies would not help: they are not atomic in Rust's model.
//! If Rust gains an atomic `memcpy` (RFC 3301) it can replace the loops
//! here, in one place.
//!
//! Why no lock-based fallback: a shared region is touched by several processes
//! or cores. A fallback lock lives in one process's private memory and would
//! exclude nothing, so only native atomics may reach a region. `AtomicU32` from
//! `core` exists only on targets with native 32-bit atomic loads and stores,
//! which makes that a compile-time guarantee for everything in this crate.

/// The heap the loom models place their objects on (loom runs on `std`):
/// the placement layer's `Box`, `Vec` and `Arc`.
#[cfg(ipckit_loom)]
pub(crate) mod heap {
    extern crate std;
    pub(crate) use std::{boxed::Box, sync::Arc, vec::Vec};
}

#[cfg(not(any(ipckit_loom, ipckit_cs)))]
pub use core::sync::atomic::AtomicU32;
#[cfg(not(ipckit_loom))]
pub(crate) use core::sync::atomic::{Ordering, fence};
#[cfg(ipckit_loom)]
pub use loom::sync::atomic::AtomicU32;
#[cfg(ipckit_loom)]
pub(crate) use loom::sync::atomic::{Ordering, fence};
/// On a target without compare-and-swap, with the `critical-section`
/// feature: portable-atomic's `AtomicU32`, the same 4 bytes with the same
/// native load and store, whose read-modify-write operations mask interrupts
/// around a load and a store. That excludes an interrupt handler on this
/// core, and nothing else: valid for one core only (documented on the
/// feature). Mixed with the plain loads and stores of the data path it is
/// consistent, because on these targets those are the same instructions.
#[cfg(all(not(ipckit_loom), ipckit_cs))]
pub use portable_atomic::AtomicU32;

/// `true` in the loom models, where every spin is a scheduling point (so
/// bounded spins are kept short there).
#[cfg_attr(not(ipckit_cas), allow(dead_code))] // the MPMC ring's
pub(crate) const MODELLED: bool = cfg!(ipckit_loom);

/// Busy-wait hint for spin loops. Under loom it yields, so the model checker
/// can schedule the thread that will end the wait.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(not(ipckit_loom))]
    core::hint::spin_loop();
    #[cfg(ipckit_loom)]
    loom::thread::yield_now();
}

/// One slot of a ring: a `T` that is written by one side and read by the
/// other, ordered by an index publication (Release/Acquire), never by its own
/// atomics.
///
/// In production it is `#[repr(transparent)]` over `UnsafeCell<T>`, so an
/// array of slots has exactly the layout of `[T]` in the region. Under loom it
/// is loom's `UnsafeCell`, which reports any access that is not ordered by
/// the index protocol as a data race: this is what proves that a consumer
/// never observes a slot before its data.
///
/// Against a *hostile* peer that writes a slot while we copy it, the copy
/// is still race-free: every byte moves through [`load_bytes`] and
/// [`copy_to_shared`], relaxed atomics of the slot's [`Grain`] (see the
/// module docs). The peer can make the value wrong, never the access
/// undefined.
#[cfg(not(ipckit_loom))]
#[repr(transparent)]
pub struct SlotCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(ipckit_loom))]
impl<T> SlotCell<T> {
    /// Reads the slot through a raw pointer (a copy; no reference to shared
    /// memory outlives this call), in units of the slot's [`Grain`].
    ///
    /// # Safety
    /// `this` points to a slot inside a live region, and the index protocol
    /// gives the caller the right to read it.
    #[inline(always)]
    pub(crate) unsafe fn read(this: *const Self) -> T
    where
        T: bytemuck::Pod,
    {
        let mut value = core::mem::MaybeUninit::<T>::uninit();
        // SAFETY: a slot of `T` (caller contract).
        unsafe { assume_slot_aligned(this) };
        // SAFETY: the slot is aligned to `T` and `size_of::<T>()` long, so it
        // is whole units of `Grain::of::<T>()`, readable (caller contract);
        // the destination is a private local of the same size.
        unsafe {
            load_bytes(
                this.cast::<u8>(),
                value.as_mut_ptr().cast::<u8>(),
                size_of::<T>(),
                Grain::of::<T>(),
            )
        };
        // SAFETY: every byte was written above, and `T: Pod` accepts any
        // bytes.
        unsafe { value.assume_init() }
    }

    /// Writes the slot through a raw pointer, in units of the slot's
    /// [`Grain`].
    ///
    /// # Safety
    /// `this` points to a slot inside a live region, and the index protocol
    /// gives the caller the right to write it.
    #[inline(always)]
    pub(crate) unsafe fn write(this: *const Self, value: T)
    where
        T: bytemuck::Pod,
    {
        // SAFETY: one slot is a run of one, owned for writing (caller
        // contract).
        unsafe { Self::write_slice(this, core::slice::from_ref(&value)) }
    }

    /// Copies `src` into `len = src.len()` consecutive slots starting at `dst`.
    ///
    /// # Safety
    /// `dst..dst + src.len()` are slots of one live region that the caller
    /// owns for writing.
    #[inline(always)]
    pub(crate) unsafe fn write_slice(dst: *const Self, src: &[T])
    where
        T: bytemuck::Pod,
    {
        // SAFETY: slots of `T` (caller contract).
        unsafe { assume_slot_aligned(dst) };
        // SAFETY: consecutive slots are whole units of the grain, owned by
        // the caller; `src` is a separate Rust slice.
        unsafe {
            copy_to_shared(
                UnsafeCellExt::get(dst).cast::<u8>(),
                bytemuck::cast_slice(src),
                Grain::of::<T>(),
            )
        }
    }

    /// Copies `dst.len()` consecutive slots starting at `src` into `dst`.
    ///
    /// # Safety
    /// `src..src + dst.len()` are slots of one live region that the caller
    /// may read.
    #[inline(always)]
    pub(crate) unsafe fn read_slice(src: *const Self, dst: &mut [T])
    where
        T: bytemuck::Pod,
    {
        // SAFETY: slots of `T` (caller contract).
        unsafe { assume_slot_aligned(src) };
        // SAFETY: consecutive readable slots, whole units of the grain;
        // `dst` is a separate exclusive slice.
        unsafe {
            copy_from_shared(
                src.cast::<u8>(),
                bytemuck::cast_slice_mut(dst),
                Grain::of::<T>(),
            )
        }
    }

    /// The raw address of the value, for the `unsafe` slice views.
    #[inline(always)]
    pub(crate) fn as_ptr(this: *const Self) -> *mut T {
        UnsafeCellExt::get(this)
    }
}

/// Tells the compiler that a slot of `T` is aligned to `T`, so that the
/// grain copies lose their ragged-edge branches and a `u64` slot moves with
/// one `mov`.
///
/// # Safety
/// `p` points to a slot of `T`, which the region layout aligns to `T`.
#[cfg(not(ipckit_loom))]
#[inline(always)]
unsafe fn assume_slot_aligned<T>(p: *const SlotCell<T>) {
    debug_assert!(p.addr() % align_of::<T>() == 0);
    // SAFETY: the caller's contract.
    unsafe { core::hint::assert_unchecked(p.addr() % align_of::<T>() == 0) }
}

#[cfg(not(ipckit_loom))]
struct UnsafeCellExt;
#[cfg(not(ipckit_loom))]
impl UnsafeCellExt {
    /// `UnsafeCell::raw_get` without creating a reference to the cell.
    #[inline(always)]
    fn get<T>(this: *const SlotCell<T>) -> *mut T {
        core::cell::UnsafeCell::raw_get(this.cast::<core::cell::UnsafeCell<T>>())
    }
}

#[cfg(ipckit_loom)]
pub struct SlotCell<T>(loom::cell::UnsafeCell<T>);

#[cfg(ipckit_loom)]
impl<T> SlotCell<T> {
    /// A slot holding `value` (loom builds the slot array on the heap).
    pub(crate) fn new(value: T) -> Self {
        Self(loom::cell::UnsafeCell::new(value))
    }

    /// See the production version.
    ///
    /// # Safety
    /// As in production.
    pub(crate) unsafe fn read(this: *const Self) -> T {
        // SAFETY: the caller guarantees the slot is live and readable; loom
        // checks that the read is ordered after the matching write.
        unsafe { (*this).0.with(|p| p.read()) }
    }

    /// See the production version.
    ///
    /// # Safety
    /// As in production.
    pub(crate) unsafe fn write(this: *const Self, value: T) {
        // SAFETY: the caller owns the slot for writing; loom checks that no
        // read of it is concurrent.
        unsafe { (*this).0.with_mut(|p| p.write(value)) }
    }

    /// See the production version; loom checks each slot separately.
    ///
    /// # Safety
    /// As in production.
    pub(crate) unsafe fn write_slice(dst: *const Self, src: &[T])
    where
        T: Copy,
    {
        for (i, v) in src.iter().enumerate() {
            // SAFETY: slot `i` is within the caller's owned range.
            unsafe { Self::write(dst.add(i), *v) }
        }
    }

    /// See the production version; loom checks each slot separately.
    ///
    /// # Safety
    /// As in production.
    pub(crate) unsafe fn read_slice(src: *const Self, dst: &mut [T])
    where
        T: Copy,
    {
        for (i, v) in dst.iter_mut().enumerate() {
            // SAFETY: slot `i` is within the caller's readable range.
            *v = unsafe { Self::read(src.add(i)) };
        }
    }
}

/// A value that its one writer may overwrite while readers copy it out
/// (the seqlock slots of the broadcast ring).
mod seq_cell;
pub use seq_cell::SeqCell;

/// Race-free byte moves between a region and private memory (module docs,
/// "Shared bytes").
#[cfg(not(ipckit_loom))]
mod shared;
#[cfg(all(ipckit_cas, not(ipckit_loom)))]
pub(crate) use shared::zero_shared;
#[cfg(not(ipckit_loom))]
pub(crate) use shared::{Grain, copy_from_shared, copy_to_shared, load_bytes};

/// A value of `T` in shared memory that is read while it may be written
/// (the latest-value slot's seqlock, [`crate::latest`]): every byte moves
/// through a relaxed atomic, `u32` words for the first
/// `size_of::<T>() / 4 * 4` bytes and `u8`s for the rest, so a read that
/// races a write is a torn value (which the seqlock then discards), never
/// a data race. Each byte is always accessed at the same size, by both
/// sides (the grain rule of the module docs).
///
/// In production it is `#[repr(transparent)]` over `UnsafeCell<T>`: the
/// bytes of `T` in the region, which the layout aligns to at least 4.
/// Under loom it holds loom atomics, one per unit, so the model checker
/// sees every word of a torn read.
#[cfg(not(ipckit_loom))]
#[repr(transparent)]
pub struct WordCell<T>(core::cell::UnsafeCell<T>);

#[cfg(ipckit_loom)]
pub struct WordCell<T> {
    words: heap::Vec<AtomicU32>,
    tail: heap::Vec<loom::sync::atomic::AtomicU8>,
    _value: core::marker::PhantomData<T>,
}

#[cfg(ipckit_loom)]
impl<T> WordCell<T> {
    /// A cell of zero bytes (loom builds it on the heap).
    pub(crate) fn new() -> Self {
        let words = size_of::<T>() / 4;
        Self {
            words: (0..words).map(|_| AtomicU32::new(0)).collect(),
            tail: (0..size_of::<T>() % 4)
                .map(|_| loom::sync::atomic::AtomicU8::new(0))
                .collect(),
            _value: core::marker::PhantomData,
        }
    }
}

impl<T> WordCell<T> {
    /// Whole `u32` words of `T`.
    const WORDS: usize = size_of::<T>() / 4;

    /// Word `i < WORDS` of the cell.
    ///
    /// # Safety
    /// `this` points to a live cell aligned to 4.
    #[inline(always)]
    unsafe fn word<'c>(this: *const Self, i: usize) -> &'c impl UnitAtomic<u32> {
        #[cfg(not(ipckit_loom))]
        {
            // SAFETY: `4 * i + 4 <= size_of::<T>()`: inside the cell, which
            // is aligned to 4 (caller contract), so the word is aligned; an
            // atomic view of memory others write concurrently is sound, and
            // every access to these bytes is a `u32` atomic.
            unsafe { core::sync::atomic::AtomicU32::from_ptr(this.cast::<u32>().add(i).cast_mut()) }
        }
        #[cfg(ipckit_loom)]
        {
            // SAFETY: a live cell (caller contract).
            unsafe { &(&(*this).words)[i] }
        }
    }

    /// Byte `j < size_of::<T>() % 4` after the whole words.
    ///
    /// # Safety
    /// `this` points to a live cell.
    #[inline(always)]
    unsafe fn tail<'c>(this: *const Self, j: usize) -> &'c impl UnitAtomic<u8> {
        #[cfg(not(ipckit_loom))]
        {
            // SAFETY: inside the cell (`4 * WORDS + j < size_of::<T>()`);
            // every access to this byte is a `u8` atomic.
            unsafe {
                core::sync::atomic::AtomicU8::from_ptr(
                    this.cast::<u8>().add(4 * Self::WORDS + j).cast_mut(),
                )
            }
        }
        #[cfg(ipckit_loom)]
        {
            // SAFETY: a live cell (caller contract).
            unsafe { &(&(*this).tail)[j] }
        }
    }

    /// Copies the cell out with relaxed loads, words first, then the tail
    /// bytes. A concurrent writer can make the copy torn, never undefined.
    ///
    /// # Safety
    /// `this` points to a live cell aligned to 4.
    #[inline]
    pub(crate) unsafe fn load(this: *const Self) -> T
    where
        T: bytemuck::Pod,
    {
        let mut value = T::zeroed();
        let bytes = bytemuck::bytes_of_mut(&mut value);
        let (words, tail) = bytes.split_at_mut(4 * Self::WORDS);
        for (i, out) in words.chunks_exact_mut(4).enumerate() {
            // SAFETY: `i < WORDS`, a live aligned cell (caller contract).
            let w = unsafe { Self::word(this, i) }.load_relaxed();
            out.copy_from_slice(&w.to_ne_bytes());
        }
        for (j, out) in tail.iter_mut().enumerate() {
            // SAFETY: `j < size_of::<T>() % 4`, a live cell.
            *out = unsafe { Self::tail(this, j) }.load_relaxed();
        }
        value
    }

    /// Copies `value` into the cell with relaxed stores, in the units
    /// [`load`](Self::load) reads.
    ///
    /// # Safety
    /// `this` points to a live cell aligned to 4.
    #[inline]
    pub(crate) unsafe fn store(this: *const Self, value: &T)
    where
        T: bytemuck::Pod,
    {
        // SAFETY: the caller's contract.
        unsafe { Self::store_prefix(this, value, usize::MAX) }
    }

    /// [`store`](Self::store) of the first `units` units only (words, then
    /// tail bytes): a writer killed mid-write, for the tests and models.
    ///
    /// # Safety
    /// As for [`store`](Self::store).
    #[inline(always)]
    pub(crate) unsafe fn store_prefix(this: *const Self, value: &T, units: usize)
    where
        T: bytemuck::Pod,
    {
        let bytes = bytemuck::bytes_of(value);
        let (words, tail) = bytes.split_at(4 * Self::WORDS);
        let tail = &tail[..tail.len().min(units.saturating_sub(Self::WORDS))];
        for (i, w) in words.chunks_exact(4).take(units).enumerate() {
            let w = u32::from_ne_bytes([w[0], w[1], w[2], w[3]]);
            // SAFETY: `i < WORDS`, a live aligned cell (caller contract).
            unsafe { Self::word(this, i) }.store_relaxed(w);
        }
        for (j, &b) in tail.iter().enumerate() {
            // SAFETY: `j < size_of::<T>() % 4`, a live cell.
            unsafe { Self::tail(this, j) }.store_relaxed(b);
        }
    }
}

/// A relaxed load and store of one unit of a [`WordCell`]: the same code
/// over `core`'s atomics and loom's.
trait UnitAtomic<V> {
    fn load_relaxed(&self) -> V;
    fn store_relaxed(&self, v: V);
}

macro_rules! unit_atomic {
    ($($atomic:ty => $v:ty),*) => {$(
        impl UnitAtomic<$v> for $atomic {
            #[inline(always)]
            fn load_relaxed(&self) -> $v {
                self.load(Ordering::Relaxed)
            }
            #[inline(always)]
            fn store_relaxed(&self, v: $v) {
                self.store(v, Ordering::Relaxed)
            }
        }
    )*};
}

#[cfg(not(ipckit_loom))]
unit_atomic!(core::sync::atomic::AtomicU32 => u32, core::sync::atomic::AtomicU8 => u8);
#[cfg(ipckit_loom)]
unit_atomic!(AtomicU32 => u32, loom::sync::atomic::AtomicU8 => u8);

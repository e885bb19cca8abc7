//! The one synchronisation facade of the core.
//!
//! Every atomic and every slot cell that an algorithm of this crate touches is
//! imported from here, never from `core::sync` directly. Normally these are the
//! `core` atomics, which the compiler lowers to the target's native lock-free
//! instructions; with the crate-private `loom` feature (switched on only by
//! `loom-tests` under `--cfg loom`) they are loom's modelled versions, so the
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
//! Why no lock-based fallback: a shared region is touched by several processes
//! or cores. A fallback lock lives in one process's private memory and would
//! exclude nothing, so only native atomics may reach a region. `AtomicU32` from
//! `core` exists only on targets with native 32-bit atomic loads and stores,
//! which makes that a compile-time guarantee for everything in this crate.

#[cfg(not(any(feature = "loom", ipckit_cs)))]
pub use core::sync::atomic::AtomicU32;
#[cfg(not(feature = "loom"))]
pub(crate) use core::sync::atomic::{Ordering, fence};
#[cfg(feature = "loom")]
pub use loom::sync::atomic::AtomicU32;
#[cfg(feature = "loom")]
pub(crate) use loom::sync::atomic::{Ordering, fence};
/// On a target without compare-and-swap, with the `critical-section`
/// feature: portable-atomic's `AtomicU32`, the same 4 bytes with the same
/// native load and store, whose read-modify-write operations mask interrupts
/// around a load and a store. That excludes an interrupt handler on this
/// core, and nothing else: valid for one core only (documented on the
/// feature). Mixed with the plain loads and stores of the data path it is
/// consistent, because on these targets those are the same instructions.
#[cfg(all(not(feature = "loom"), ipckit_cs))]
pub use portable_atomic::AtomicU32;

/// Busy-wait hint for spin loops. Under loom it yields, so the model checker
/// can schedule the thread that will end the wait.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(not(feature = "loom"))]
    core::hint::spin_loop();
    #[cfg(feature = "loom")]
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
/// Against a *hostile* peer that writes a slot while we copy it, the copy is a
/// plain (non-volatile, non-atomic) memory copy. Rust's abstract machine calls
/// a racing access from outside the program a data race; what the compiler can
/// do with it here is limited to the copied value (the copy goes straight into
/// a local the caller owns, no reference to the slot survives it, and no
/// decision of ours depends on slot bytes), so the practical outcome is torn,
/// wrong data. This is the same stance as the Linux kernel's `copy_from_user`
/// and every shared-memory ring we know of; a word-wise atomic copy would make
/// it formally clean at a measurable cost and can be switched in here, in one
/// place, if Rust gains an atomic memcpy (RFC 3301).
#[cfg(not(feature = "loom"))]
#[repr(transparent)]
pub(crate) struct SlotCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(feature = "loom"))]
impl<T> SlotCell<T> {
    /// Reads the slot through a raw pointer (a copy; no reference to shared
    /// memory outlives this call).
    ///
    /// # Safety
    /// `this` points to a slot inside a live region, and the index protocol
    /// gives the caller the right to read it.
    #[inline(always)]
    pub(crate) unsafe fn read(this: *const Self) -> T {
        // SAFETY: the caller guarantees `this` is a valid, aligned slot that it
        // may read; `SlotCell<T>` is `repr(transparent)` over `T`.
        unsafe { this.cast::<T>().read() }
    }

    /// Writes the slot through a raw pointer.
    ///
    /// # Safety
    /// `this` points to a slot inside a live region, and the index protocol
    /// gives the caller the right to write it.
    #[inline(always)]
    pub(crate) unsafe fn write(this: *const Self, value: T) {
        // SAFETY: the caller guarantees `this` is a valid, aligned slot that it
        // owns for writing; the cell makes writing through `*const` legal.
        unsafe { UnsafeCellExt::get(this).write(value) }
    }

    /// Copies `src` into `len = src.len()` consecutive slots starting at `dst`.
    ///
    /// # Safety
    /// `dst..dst + src.len()` are slots of one live region that the caller
    /// owns for writing.
    #[inline(always)]
    pub(crate) unsafe fn write_slice(dst: *const Self, src: &[T])
    where
        T: Copy,
    {
        // SAFETY: the caller owns the destination slots; `src` is a separate
        // Rust slice, so the ranges cannot overlap.
        unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), UnsafeCellExt::get(dst), src.len()) }
    }

    /// Copies `dst.len()` consecutive slots starting at `src` into `dst`.
    ///
    /// # Safety
    /// `src..src + dst.len()` are slots of one live region that the caller
    /// may read.
    #[inline(always)]
    pub(crate) unsafe fn read_slice(src: *const Self, dst: &mut [T])
    where
        T: Copy,
    {
        // SAFETY: the caller may read the source slots; `dst` is a separate
        // exclusive Rust slice, so the ranges cannot overlap.
        unsafe { core::ptr::copy_nonoverlapping(src.cast::<T>(), dst.as_mut_ptr(), dst.len()) }
    }

    /// The raw address of the value, for the `unsafe` slice views.
    #[inline(always)]
    pub(crate) fn as_ptr(this: *const Self) -> *mut T {
        UnsafeCellExt::get(this)
    }
}

#[cfg(not(feature = "loom"))]
struct UnsafeCellExt;
#[cfg(not(feature = "loom"))]
impl UnsafeCellExt {
    /// `UnsafeCell::raw_get` without creating a reference to the cell.
    #[inline(always)]
    fn get<T>(this: *const SlotCell<T>) -> *mut T {
        core::cell::UnsafeCell::raw_get(this.cast::<core::cell::UnsafeCell<T>>())
    }
}

#[cfg(feature = "loom")]
pub(crate) struct SlotCell<T>(loom::cell::UnsafeCell<T>);

#[cfg(feature = "loom")]
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

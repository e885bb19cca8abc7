//! Region memory that the fuzzer writes while ring endpoints are alive,
//! and a clock that advances only when it is read.
//!
//! The structure-aware targets need to overwrite region bytes *between*
//! operations of live endpoints, the way a hostile peer in another process
//! would. A region made from a `&mut [u8]` forbids that (the endpoints hold
//! the borrow), so the memory here is a raw heap allocation handed to the
//! core as a raw region, and every write of ours goes through an atomic, as
//! [`Region::from_raw`] requires of anything that shares the bytes. This is
//! the only module of the crate with `unsafe` code.
#![allow(unsafe_code)]

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering::Relaxed};
use std::time::Duration;

use ipckit_core::Region;
use ipckit_core::region::LINE;

/// Zeroed, [`LINE`]-aligned heap bytes shared by the endpoints of one ring
/// and by the fuzzer playing the hostile peer.
pub(crate) struct Shared {
    base: NonNull<u8>,
    layout: Layout,
}

impl Shared {
    /// `len` zeroed bytes (`len > 0`).
    pub(crate) fn new(len: usize) -> Self {
        let layout = Layout::from_size_align(len.max(4), LINE).expect("a small layout");
        // SAFETY: the layout has a non-zero size.
        let base = unsafe { alloc_zeroed(layout) };
        let base = NonNull::new(base).expect("out of memory");
        Self { base, layout }
    }

    /// The length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.layout.size()
    }

    /// A region over all of the bytes, for as long as `self` is borrowed.
    pub(crate) fn region(&self) -> Region<'_> {
        // SAFETY: `base..base + len` is one live, zero-initialised
        // allocation that outlives the borrow of `self`; this crate creates
        // no reference to the bytes and accesses them only through the
        // atomics below (several regions over the same bytes are allowed).
        unsafe { Region::from_raw(self.base, self.len()) }
    }

    fn word(&self, offset: usize) -> &AtomicU32 {
        assert!(offset % 4 == 0 && offset + 4 <= self.len(), "word {offset}");
        // SAFETY: in bounds (checked), 4-aligned (the base is 128-aligned),
        // initialised, and only ever accessed atomically or by the core's
        // raw copies, never through a reference to plain bytes.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(offset).cast()) }
    }

    fn byte(&self, offset: usize) -> &AtomicU8 {
        assert!(offset < self.len(), "byte {offset}");
        // SAFETY: in bounds (checked), as for `word`.
        unsafe { AtomicU8::from_ptr(self.base.as_ptr().add(offset)) }
    }

    /// The `u32` at `offset` (a multiple of 4), in native byte order.
    pub(crate) fn load(&self, offset: usize) -> u32 {
        self.word(offset).load(Relaxed)
    }

    /// Writes the `u32` at `offset` (a multiple of 4).
    pub(crate) fn store(&self, offset: usize, value: u32) {
        self.word(offset).store(value, Relaxed);
    }

    /// The byte at `offset`.
    pub(crate) fn load_byte(&self, offset: usize) -> u8 {
        self.byte(offset).load(Relaxed)
    }

    /// Writes the byte at `offset`.
    pub(crate) fn store_byte(&self, offset: usize, value: u8) {
        self.byte(offset).store(value, Relaxed);
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; every region and
        // endpoint borrowed from `self` has ended (they borrow `self`).
        unsafe { dealloc(self.base.as_ptr(), self.layout) };
    }
}

thread_local! {
    static NOW: Cell<u64> = const { Cell::new(0) };
}

/// A deterministic clock for the endpoints' notifier ([`crate::ops::Forger`]):
/// each read advances it by one microsecond, and a wait that sleeps out
/// its timeout moves it on by that much ([`advance_clock`]). A blocking
/// call with a timeout therefore ends the same way on every run, and one
/// that never looks at the clock hangs (libFuzzer's `-timeout` reports it).
pub(crate) fn fake_clock() -> Duration {
    NOW.with(|now| {
        let t = now.get() + 1;
        now.set(t);
        Duration::from_micros(t)
    })
}

/// Moves the fake clock on by `by` (a wait that slept out its timeout).
pub(crate) fn advance_clock(by: Duration) {
    let micros = u64::try_from(by.as_micros()).unwrap_or(u64::MAX);
    NOW.with(|now| now.set(now.get().saturating_add(micros)));
}

/// The fake clock now, without advancing it.
pub(crate) fn fake_now() -> Duration {
    NOW.with(|now| Duration::from_micros(now.get()))
}

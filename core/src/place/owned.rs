//! Rings that own their memory, in the manner of heapless: usable in a
//! `static`, with the header published at compile time.

use core::marker::PhantomData;
use core::ptr::NonNull;

use super::{Layout, Placed};

/// A ring of layout `L` with a data area of `N` units, owning its memory:
/// no region to size, no `init` to call. `new` is `const`, so the ring can
/// be a `static`; its header is published at compile time, and the bytes
/// are those `init` writes in a zeroed region (positions 0, no claims), so
/// a peer can attach to it like to any region.
///
/// Each ring names it (`spsc::StaticRing<T, N>`,
/// `frame::spsc::StaticRing<N>`); see there for an example. An invalid `N`
/// (not a power of two in the ring's range) fails to compile.
#[repr(C, align(128))]
pub struct Owned<L: Layout, const N: usize> {
    control: L::Control,
    data: [L::Unit; N],
    /// The wake mode, kept here rather than read back from the header.
    wakes: bool,
    _layout: PhantomData<L>,
}

// SAFETY: as for `Placed`: every shared word is an atomic and the data is
// only touched under the ring's protocol, through the endpoints.
unsafe impl<L: Layout + Send, const N: usize> Sync for Owned<L, N> {}

/// The compile-time placement: not under loom, whose atomics are not
/// plain bytes.
#[cfg(not(ipckit_loom))]
impl<L: Layout, const N: usize> Owned<L, N> {
    /// The ring, empty, its waiters spinning.
    pub const fn new() -> Self {
        Self::with_wakes(false)
    }

    /// The ring, empty; `wakes` as [`Options::waking`](super::Options::waking).
    pub const fn with_wakes(wakes: bool) -> Self {
        assert!(L::ZEROED_IS_EMPTY, "this ring needs `init` to start empty");
        assert!(core::mem::size_of::<L::Control>() == L::DATA_OFFSET);
        assert!(N <= u32::MAX as usize, "capacity above u32::MAX");
        let Ok(element) = L::ELEMENT else {
            panic!("this element type cannot live in a region")
        };
        if super::region_len::<L>(N as u32).is_err() {
            panic!("invalid capacity");
        }
        let flags = super::Options::new(0).waking(wakes).flags();
        let header = crate::region::Header::published(
            L::KIND,
            element,
            N as u32,
            L::DATA_OFFSET as u32,
            flags,
        );
        // SAFETY: the control block and the units are atomics and cells of
        // plain data (the `Layout` contract), for which all-zero bytes are
        // a valid value.
        let mut ring: Self = unsafe { core::mem::zeroed() };
        // SAFETY: every control block starts with its header (`Block`), at
        // offset 0 of this `repr(C)` struct.
        unsafe {
            (&raw mut ring)
                .cast::<crate::region::Header>()
                .write(header)
        };
        ring.wakes = wakes;
        ring
    }
}

impl<L: Layout, const N: usize> Owned<L, N> {
    /// The handle of the ring, from which its endpoints are claimed.
    pub fn ring(&self) -> Placed<'_, L> {
        // SAFETY: the control block and `N` units live as long as `self`;
        // `new` checked the layout as `attach` checks a region.
        unsafe {
            Placed::on_parts(
                NonNull::from(&self.control),
                NonNull::from(&self.data).cast(),
                N as u32,
                self.wakes,
            )
        }
    }
}

#[cfg(not(ipckit_loom))]
impl<L: Layout, const N: usize> Default for Owned<L, N> {
    fn default() -> Self {
        Self::new()
    }
}

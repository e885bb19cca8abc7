//! Rings on the heap: one aligned allocation, owned by the handle, for two
//! threads of one process (the core's `StaticRing` is the form for a
//! `static`; a [`shm`](crate::shm) mapping, for processes).
//!
//! ```
//! use ipckit::heap;
//!
//! let ring = heap::Spsc::<u64>::new(1024)?;
//! let (mut tx, mut rx) = ring.split()?;
//! tx.try_push(7)?;
//! assert_eq!(rx.try_pop()?, 7);
//!
//! let frames = heap::FrameSpsc::new(4096)?;
//! let (mut tx, mut rx) = frames.split()?;
//! tx.try_send(b"hello")?;
//! assert_eq!(rx.try_recv(&mut [0; 16])?, 5);
//! # Ok::<(), ipckit_core::Error>(())
//! ```
//!
//! The endpoints borrow the ring, so it cannot be freed under them:
//!
//! ```compile_fail,E0505
//! use ipckit::heap;
//!
//! let ring = heap::Spsc::<u64>::new(8)?;
//! let (mut tx, _rx) = ring.split()?;
//! drop(ring);
//! tx.try_push(1)?;
//! # Ok::<(), ipckit_core::Error>(())
//! ```

use std::alloc::{Layout as Alloc, alloc_zeroed, dealloc, handle_alloc_error};
use std::ptr::NonNull;

use ipckit_core::place::{Layout, Options, Placed};
use ipckit_core::spsc::SpscLayout;
use ipckit_core::wait::Spin;
use ipckit_core::{Region, frame, region::LINE, spsc};

/// A ring of layout `L` in a zeroed heap allocation aligned to a [`LINE`].
/// [`ring`](Self::ring) is its handle ([`Placed`]); the endpoints borrow the
/// `Heap`, which frees the allocation when dropped.
pub struct Heap<L: Layout> {
    ring: Placed<'static, L>,
    bytes: NonNull<u8>,
    alloc: Alloc,
}

/// An SPSC ring of `T` on the heap.
pub type Spsc<T> = Heap<spsc::Slots<T>>;

/// An SPSC frame ring on the heap.
pub type FrameSpsc = Heap<frame::spsc::Frames>;

// SAFETY: the allocation is owned by the handle and reached only through
// the ring, which is itself `Send` and `Sync` for `L: Send`.
unsafe impl<L: Layout + Send> Send for Heap<L> {}
// SAFETY: as above.
unsafe impl<L: Layout + Send> Sync for Heap<L> {}

impl<L: Layout> Heap<L> {
    /// A ring of `capacity` units (items, or data bytes of a frame ring),
    /// positions at 0, spinning waiters.
    pub fn new(capacity: u32) -> ipckit_core::Result<Self> {
        Self::with_options(Options::new(capacity))
    }

    /// A ring as `options` say.
    pub fn with_options(options: Options) -> ipckit_core::Result<Self> {
        let len = Placed::<L>::region_len(options.capacity())?;
        let alloc =
            Alloc::from_size_align(len, LINE).map_err(|_| ipckit_core::Error::InvalidCapacity)?;
        // SAFETY: `len` is at least the header's size, so not zero.
        let Some(bytes) = NonNull::new(unsafe { alloc_zeroed(alloc) }) else {
            handle_alloc_error(alloc)
        };
        // SAFETY: `len` zeroed bytes, owned by this handle until `drop`,
        // which runs only when no borrow of the handle (hence no endpoint)
        // is left; nothing else in this process refers to them.
        let region = unsafe { Region::from_raw(bytes, len) };
        match Placed::init_with(region, options) {
            Ok(ring) => Ok(Self { ring, bytes, alloc }),
            Err(e) => {
                // SAFETY: allocated above with `alloc`, not handed out.
                unsafe { dealloc(bytes.as_ptr(), alloc) };
                Err(e)
            }
        }
    }
}

impl<L: Layout> Heap<L> {
    /// The ring's handle, borrowing the allocation.
    pub fn ring(&self) -> Placed<'_, L> {
        self.ring.clone()
    }
}

impl<L: SpscLayout> Heap<L> {
    /// Claims the producer role; see [`Placed::producer`].
    pub fn producer(&self) -> ipckit_core::Result<spsc::Endpoint<'_, L, Spin, true>> {
        self.ring().producer()
    }

    /// Claims the consumer role; see [`Placed::consumer`].
    pub fn consumer(&self) -> ipckit_core::Result<spsc::Endpoint<'_, L, Spin, false>> {
        self.ring().consumer()
    }

    /// Claims both roles; see [`Placed::split`].
    #[allow(clippy::type_complexity)]
    pub fn split(
        &self,
    ) -> ipckit_core::Result<(
        spsc::Endpoint<'_, L, Spin, true>,
        spsc::Endpoint<'_, L, Spin, false>,
    )> {
        self.ring().split()
    }
}

impl<L: Layout> Drop for Heap<L> {
    fn drop(&mut self) {
        // SAFETY: allocated in `with_options` with `self.alloc`; every
        // endpoint borrowed the handle, so none is left.
        unsafe { dealloc(self.bytes.as_ptr(), self.alloc) };
    }
}

impl<L: Layout> std::fmt::Debug for Heap<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Heap").field(&self.ring).finish()
    }
}

//! The memory a region is: [`Region`] (a pointer and a length with a
//! lifetime) and [`AlignedBytes`] (a buffer for one).

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ptr::NonNull;

use super::{Header, LINE};
use crate::error::{Error, Result};

/// A range of bytes that one object is placed on.
///
/// `Region` is a pointer and a length with a lifetime: build it safely from
/// `&mut [u8]` (one process, several threads), or with the `unsafe`
/// [`Region::from_raw`] from a shared mapping or a fixed address.
///
/// ```
/// use ipckit_core::{AlignedBytes, Region};
///
/// let mut bytes = AlignedBytes::<4096>::new();
/// let region = Region::from_slice(&mut bytes[..]);
/// assert_eq!(region.len(), 4096);
/// ```
///
/// # One region, one object
/// `Region` is neither `Copy` nor `Clone`: `init` and `attach` take it by
/// value. This matters for a region from [`from_slice`](Region::from_slice):
/// nobody else can see those bytes, so `init` resets any stale header
/// (claims included) instead of refusing it. The ring made on it keeps the
/// slice borrowed, through every endpoint, so no second region over live
/// rings can be built, and no second `init` can reset the claim of a live
/// producer (which would let two producers race on the slots in safe code).
///
/// A second `init` on the same region does not compile (the first moved
/// it):
///
/// ```compile_fail,E0382
/// use ipckit_core::{spsc, AlignedBytes, Region};
///
/// let mut bytes = AlignedBytes::<1024>::new();
/// let region = Region::from_slice(&mut bytes[..]);
/// let ring = spsc::Ring::<u64>::init(region, 8)?;
/// let mut tx = ring.producer()?;
/// let again = spsc::Ring::<u64>::init(region, 8)?; // `region` was moved
/// let mut tx2 = again.producer()?;
/// tx.try_push(1)?;
/// tx2.try_push(2)?;
/// # Ok::<(), ipckit_core::Error>(())
/// ```
///
/// nor does a new region over the bytes while an endpoint lives:
///
/// ```compile_fail,E0499
/// use ipckit_core::{spsc, AlignedBytes, Region};
///
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = spsc::Ring::<u64>::init(Region::from_slice(&mut bytes[..]), 8)?;
/// let mut tx = ring.producer()?;
/// let again = spsc::Ring::<u64>::init(Region::from_slice(&mut bytes[..]), 8)?;
/// let mut tx2 = again.producer()?;
/// tx.try_push(1)?;
/// tx2.try_push(2)?;
/// # Ok::<(), ipckit_core::Error>(())
/// ```
///
/// Once every endpoint is gone, the bytes can be used again:
///
/// ```
/// use ipckit_core::{spsc, AlignedBytes, Region};
///
/// let mut bytes = AlignedBytes::<1024>::new();
/// let ring = spsc::Ring::<u64>::init(Region::from_slice(&mut bytes[..]), 8)?;
/// ring.producer()?.try_push(1)?;
/// drop(ring);
/// let ring = spsc::Ring::<u64>::init(Region::from_slice(&mut bytes[..]), 8)?;
/// let (mut tx, mut rx) = ring.split()?;
/// tx.try_push(2)?;
/// assert_eq!(rx.try_pop()?, 2);
/// # Ok::<(), ipckit_core::Error>(())
/// ```
///
/// Memory that other processes or cores share has no such guarantee from
/// the borrow checker: regions from the `unsafe` [`from_raw`](Region::from_raw)
/// are not exclusive, and `init` on them claims the header with a
/// compare-and-swap, so a second `init` of a live object fails with
/// [`Error::AlreadyInitialized`].
#[derive(Debug)]
pub struct Region<'a> {
    base: NonNull<u8>,
    len: usize,
    exclusive: bool,
    _bytes: PhantomData<&'a UnsafeCell<[u8]>>,
}

// SAFETY: a `Region` is only a description of bytes; every access through it
// is an atomic or is ordered by the protocol of the object placed on it.
unsafe impl Send for Region<'_> {}
// SAFETY: as above; sharing the description shares no unsynchronised state.
unsafe impl Sync for Region<'_> {}

impl<'a> Region<'a> {
    /// A region over bytes that this process owns exclusively for `'a`.
    ///
    /// `init` on such a region resets any stale header left by an earlier
    /// use, since nobody else can be racing for it.
    pub fn from_slice(bytes: &'a mut [u8]) -> Self {
        let len = bytes.len();
        Self {
            base: NonNull::from(bytes).cast(),
            len,
            exclusive: true,
            _bytes: PhantomData,
        }
    }

    /// A region over raw memory, such as a `MAP_SHARED` mapping or a RAM
    /// section that another core sees.
    ///
    /// # Safety
    /// For all of `'a`:
    /// - `base..base + len` is valid for reads and writes, and its bytes are
    ///   initialised (zeroed fresh memory, as `mmap` or a `.bss` section gives);
    /// - inside this process, no `&`/`&mut` reference to those bytes exists
    ///   outside ipckit, and any other access (a tool, a test playing the
    ///   peer) goes through aligned atomics: `u32` words, or units of
    ///   `align_of::<T>()` (at most a machine word) in slots of `T`; several
    ///   regions over the same bytes are fine;
    /// - other processes or cores may write the bytes at any time: that is
    ///   what ipckit is built for, and such writes can make an operation fail
    ///   with [`Error::Corrupted`] but never break memory safety here.
    pub const unsafe fn from_raw(base: NonNull<u8>, len: usize) -> Self {
        Self {
            base,
            len,
            exclusive: false,
            _bytes: PhantomData,
        }
    }

    /// Length in bytes.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// `true` for a zero-length region.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The base address.
    pub const fn as_ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// `true` for a region over bytes this process holds exclusively
    /// ([`from_slice`](Self::from_slice)): `init` on it resets whatever it
    /// held. `false` for shared memory ([`from_raw`](Self::from_raw)), where
    /// `init` claims the header and refuses a live object.
    ///
    /// ```
    /// use ipckit_core::{AlignedBytes, Region};
    ///
    /// let mut bytes = AlignedBytes::<512>::new();
    /// assert!(Region::from_slice(&mut bytes[..]).is_exclusive());
    /// ```
    pub const fn is_exclusive(&self) -> bool {
        self.exclusive
    }

    /// Checks that the region is at least `required` bytes long and its base
    /// is aligned to `align`.
    pub(crate) fn check(&self, required: usize, align: usize) -> Result<()> {
        if (self.base.as_ptr() as usize) % align != 0 {
            return Err(Error::Misaligned { required: align });
        }
        if self.len < required {
            return Err(Error::TooSmall {
                required,
                actual: self.len,
            });
        }
        Ok(())
    }

    /// The header at the base of the region, if the region can hold one.
    pub(crate) fn header(&self) -> Result<&'a Header> {
        self.check(
            core::mem::size_of::<Header>(),
            core::mem::align_of::<Header>(),
        )?;
        // SAFETY: the region is long enough and aligned for a `Header`
        // (checked above) and valid for `'a` (constructor contracts). Every
        // field of `Header` is an atomic or an `UnsafeCell`, so a shared
        // reference stays sound while peers write those bytes.
        Ok(unsafe { self.base.cast::<Header>().as_ref() })
    }
}

/// A byte array aligned to [`LINE`], for regions in statics, on the stack or
/// in a `Box`.
///
/// ```
/// use ipckit_core::AlignedBytes;
///
/// static mut SHARED: AlignedBytes<512> = AlignedBytes::new();
/// let bytes = AlignedBytes::<64>::new();
/// assert_eq!(bytes.as_ptr() as usize % 128, 0);
/// assert_eq!(bytes.len(), 64);
/// ```
#[derive(Clone)]
#[repr(C, align(128))]
pub struct AlignedBytes<const N: usize>(pub [u8; N]);

const _: () = assert!(core::mem::align_of::<AlignedBytes<1>>() == LINE);

impl<const N: usize> AlignedBytes<N> {
    /// `N` zero bytes.
    pub const fn new() -> Self {
        Self([0; N])
    }
}

impl<const N: usize> Default for AlignedBytes<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::ops::Deref for AlignedBytes<N> {
    type Target = [u8; N];
    fn deref(&self) -> &[u8; N] {
        &self.0
    }
}

impl<const N: usize> core::ops::DerefMut for AlignedBytes<N> {
    fn deref_mut(&mut self) -> &mut [u8; N] {
        &mut self.0
    }
}

//! Shared memory that other processes can see.
//!
//! A ring of [`ipckit_core`] lives on a [`Region`]; this module provides the
//! memory behind such a region, in four kinds:
//!
//! | type               | who can see it                         | lifetime                      | size fixed against others? |
//! |--------------------|----------------------------------------|-------------------------------|----------------------------|
//! | [`SharedMapping`]  | children `fork()`ed after it was made  | until the last process unmaps | yes (no descriptor exists) |
//! | [`ShmObject`]      | anyone who knows the name and may open it | until [`ShmObject::remove`] (or reboot) | **no**                 |
//! | [`Memfd`]          | whoever is handed its descriptor       | until the last descriptor and mapping go | yes: sealed       |
//! | [`MappedFile`]     | anyone who may open the file           | persistent, survives reboots  | **no**                     |
//!
//! Every type maps its object `MAP_SHARED`, readable and writable, unmaps and
//! closes it on drop, and hands its bytes out only as a [`Region`] (and a raw
//! pointer): never as a Rust reference, since another process may write them
//! at any time. Removing a name or file is explicit (`remove`); dropping a
//! handle never does it, so a crashed process leaves its objects behind for
//! inspection and for the next run to [`ShmObject::remove`].
//!
//! # Opening validates before any use
//! The `open` functions `fstat` the object before mapping it: a zero-length
//! object (created, never sized: its creator may have died in between) or one
//! shorter than a region header ([`MIN_LEN`]) is [`Error::TooSmall`], not a
//! mapping that faults later. The header itself is checked by
//! [`SharedMemory::inspect`] / [`SharedMemory::expect_kind`], and in full by
//! a ring's `attach`.
//!
//! # Truncation under a live mapping: why memfds are sealed
//! A mapping does not pin the size of the object behind it. If another
//! process with write access calls `ftruncate` to shrink a [`ShmObject`] or a
//! [`MappedFile`] while this process has it mapped, the mapping stays, but
//! every access to a page past the new end raises **`SIGBUS`**, which kills
//! this process (the kernel has no page to show). Nothing in a mapping can
//! prevent that for a plain shared-memory object or file; only trust in the
//! processes that may open it can (mode 0600 by default: the same user).
//! [`ShmObject::check_size`] and [`MappedFile::check_size`] detect a shrink
//! with one `fstat`, which helps between operations but cannot close the race.
//!
//! Which kinds can still raise `SIGBUS` here: every [`ShmObject`] and
//! [`MappedFile`] (and the channels and named semaphores built on such
//! objects), whenever a process with write access to it truncates it. Who
//! that can be is what [`Trust`] decides at `open` (below). A [`Memfd`]
//! (sealed) and a [`SharedMapping`] (no descriptor or name to truncate it
//! by) cannot. Where a peer is not trusted that far, share a sealed
//! [`Memfd`].
//!
//! # Objects someone else planted
//! Any user can create a name in `/dev/shm` or a file in `/tmp` before we
//! do, with any mode: a squatter's object of mode 0666 would let them
//! truncate it under us at will. The `open` functions therefore check the
//! owner and mode of the object they opened (`fstat` on that descriptor,
//! so it is the object that gets mapped) and, by default
//! ([`Trust::Owner`]), refuse with [`Error::Untrusted`] one that another
//! user owns or that users other than us may write (`mode & 0o022`). A
//! caller who shares objects on purpose opts in with
//! [`ShmObject::open_with`] / [`MappedFile::open_with`] and
//! [`Trust::Group`] or [`Trust::Anyone`]. Objects we create get mode 0600,
//! so our own objects pass.
//!
//! A [`Memfd`] is sealed with `F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`
//! right after it is sized: from then on the kernel refuses every
//! `ftruncate` on it (`EPERM`), for every holder of a descriptor, and nobody
//! can remove the seals. That is what makes it safe to map a memfd received
//! from a less trusted peer ([`Memfd::from_fd`] refuses one without the
//! seals).
//!
//! # Handing memory to another process
//! - a [`Memfd`] to a spawned child by an inherited descriptor:
//!   [`Memfd::pass_to_child`] and [`Memfd::from_env`];
//! - any descriptor to an unrelated process over a Unix socket:
//!   [`send_fd`] and [`recv_fd`] (`SCM_RIGHTS`);
//! - a [`ShmObject`] or [`MappedFile`] by its name or path.

mod anon;
mod file;
mod memfd;
mod name;
mod pass;
mod posix;
mod trust;

pub use anon::SharedMapping;
pub use file::MappedFile;
pub use memfd::Memfd;
pub use name::{MAX_NAME_LEN, ShmName};
pub use pass::{inherit_fd, recv_fd, send_fd, send_fds};
pub use posix::ShmObject;
pub use trust::Trust;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::{self, NonNull};

use ipckit_core::{HeaderInfo, ObjectKind, Region, region};

use crate::error::{CoreError, Error, Result};

/// The smallest object the `create` and `open` functions accept: one region
/// header ([`region::LINE`], 128 bytes).
pub const MIN_LEN: usize = region::LINE;

/// The default mode of created objects and files: read and write for the
/// owner only.
pub const DEFAULT_MODE: u32 = 0o600;

/// What every kind of shared memory here offers: its bytes as a [`Region`],
/// and a look at the header at their start.
///
/// Later process channels are generic over it, so a channel can live in any
/// of the four kinds.
///
/// ```
/// use ipckit::shm::{Memfd, SharedMemory};
/// use ipckit::spsc::Ring;
/// use ipckit::ObjectKind;
///
/// let memfd = Memfd::create("doc", Ring::<u32>::region_len(16).unwrap())?;
/// // Fresh memory holds no header yet:
/// assert!(memfd.inspect().is_err());
/// Ring::<u32>::init(memfd.region(), 16)?;
/// assert_eq!(memfd.expect_kind(ObjectKind::Spsc)?.capacity, 16);
/// assert!(memfd.expect_kind(ObjectKind::Mpmc).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[allow(clippy::len_without_is_empty)] // never empty: at least a header
pub trait SharedMemory {
    /// The mapped bytes as a [`Region`], borrowed from the handle, so the
    /// mapping outlives every ring built on it.
    fn region(&self) -> Region<'_>;

    /// The mapped length in bytes.
    fn len(&self) -> usize {
        self.region().len()
    }

    /// The base address (page-aligned). Access through it is `unsafe`; see
    /// [`SharedMapping::as_ptr`].
    fn as_ptr(&self) -> *mut u8 {
        self.region().as_ptr()
    }

    /// Validates the region header (state, magic, byte order, version) and
    /// returns what it says; [`Error::Core`] if it does not validate.
    fn inspect(&self) -> Result<HeaderInfo> {
        Ok(region::inspect(self.region())?)
    }

    /// [`inspect`](Self::inspect), and then checks that the region holds a
    /// `kind` object: [`CoreError::KindMismatch`] if not.
    fn expect_kind(&self, kind: ObjectKind) -> Result<HeaderInfo> {
        let info = self.inspect()?;
        if info.kind_code != kind.code() {
            return Err(Error::Core(CoreError::KindMismatch {
                found: info.kind_code,
                expected: kind.code(),
            }));
        }
        Ok(info)
    }
}

/// `fstat(fd).st_size`.
pub(crate) fn fstat_size(fd: BorrowedFd<'_>, target: &str) -> Result<u64> {
    // SAFETY: `libc::stat` is plain data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open for the call (borrowed); `st` is a valid
    // out-pointer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(Error::last_os("fstat", target));
    }
    Ok(st.st_size.max(0) as u64)
}

/// `ftruncate(fd, len)`, retried on `EINTR`.
pub(crate) fn set_len(fd: BorrowedFd<'_>, len: usize, target: &str) -> Result<()> {
    let len = libc::off_t::try_from(len).map_err(|_| {
        Error::os(
            "ftruncate",
            target,
            std::io::Error::from_raw_os_error(libc::EFBIG),
        )
    })?;
    loop {
        // SAFETY: plain call on an open descriptor.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), len) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(Error::os("ftruncate", target, e));
        }
    }
}

/// Refuses lengths below [`MIN_LEN`] for `create`.
pub(crate) fn check_create_len(len: usize, target: &str) -> Result<()> {
    if len < MIN_LEN {
        return Err(Error::TooSmall {
            target: target.into(),
            size: len as u64,
            required: MIN_LEN as u64,
        });
    }
    Ok(())
}

/// An open descriptor and a `MAP_SHARED` read-write mapping of the whole
/// object behind it; unmaps, then closes, on drop.
#[derive(Debug)]
pub(crate) struct FdMapping {
    base: NonNull<u8>,
    len: usize,
    fd: OwnedFd,
}

// SAFETY: the mapping and the descriptor belong to the whole process, not to
// a thread; `FdMapping` holds no thread-bound state.
unsafe impl Send for FdMapping {}
// SAFETY: `&FdMapping` only reads `base`, `len` and the descriptor number,
// and hands out a `Region` (itself `Sync`) or a raw pointer.
unsafe impl Sync for FdMapping {}

impl FdMapping {
    /// `fstat`s `fd`, refuses an object shorter than `max(min_len,
    /// MIN_LEN)` bytes, and maps all of it.
    pub(crate) fn map(fd: OwnedFd, target: &str, min_len: usize) -> Result<Self> {
        let size = fstat_size(fd.as_fd(), target)?;
        let required = min_len.max(MIN_LEN) as u64;
        if size < required {
            return Err(Error::TooSmall {
                target: target.into(),
                size,
                required,
            });
        }
        let len = usize::try_from(size).map_err(|_| {
            Error::os(
                "mmap",
                target,
                std::io::Error::from_raw_os_error(libc::EFBIG),
            )
        })?;
        // SAFETY: a new mapping at an address the kernel picks (no
        // `MAP_FIXED`), so no memory this process uses is replaced; `fd` is
        // open and `len` is at most the object's size, so every mapped page
        // has bytes behind it (as long as nobody shrinks the object: module
        // docs).
        let addr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(Error::last_os("mmap", target));
        }
        match NonNull::new(addr.cast::<u8>()) {
            Some(base) => Ok(Self { base, len, fd }),
            None => {
                // SAFETY: the mapping just created, unused.
                unsafe { libc::munmap(addr, len) };
                Err(Error::os(
                    "mmap",
                    target,
                    std::io::Error::new(
                        std::io::ErrorKind::AddrNotAvailable,
                        "mmap returned address 0",
                    ),
                ))
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub(crate) fn region(&self) -> Region<'_> {
        // SAFETY: the contract of `Region::from_raw`, for the lifetime of
        // `&self`, which the region carries:
        // - `base..base + len` is a read-write mapping of `len` bytes of the
        //   object (its size when mapped), initialised (object contents,
        //   zero where never written), and mapped until `drop`, which cannot
        //   run while the region borrows `self`. The one way the bytes can
        //   stop being readable is another process shrinking an unsealed
        //   object: accesses then raise SIGBUS, which ends the process
        //   rather than letting it observe invalid memory (module docs; a
        //   `Memfd` is sealed against it).
        // - `FdMapping` never reads or writes the bytes and creates no
        //   reference to them; other code reaches them only through raw
        //   pointers under its own `unsafe`.
        // - other processes writing the bytes at any time is allowed by
        //   `from_raw`; ipckit handles validate what they read.
        unsafe { Region::from_raw(self.base, self.len) }
    }

    /// `fstat`s again: [`Error::TooSmall`] if the object is now shorter than
    /// the mapping (someone truncated it), else its current size.
    pub(crate) fn check_size(&self, target: &str) -> Result<u64> {
        let size = fstat_size(self.fd(), target)?;
        if size < self.len as u64 {
            return Err(Error::TooSmall {
                target: target.into(),
                size,
                required: self.len as u64,
            });
        }
        Ok(size)
    }
}

impl Drop for FdMapping {
    fn drop(&mut self) {
        // SAFETY: the mapping created in `map`, owned by `self`; every
        // region borrowed from `self` has ended. The descriptor closes after
        // this, when the `fd` field drops.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

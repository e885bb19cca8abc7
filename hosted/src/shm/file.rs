//! Memory-mapped files: regions that persist on disk.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ipckit_core::Region;

use super::{DEFAULT_MODE, FdMapping, SharedMemory, Trust, check_create_len, set_len};
use crate::error::{Error, Result};
use crate::object::fchmod;

/// A regular file mapped `MAP_SHARED` read-write: a region that survives
/// every process using it (and a reboot), to be reopened later with
/// [`MappedFile::open`].
///
/// Writes through the mapping reach the page cache at once, so other
/// processes mapping the file see them immediately; [`flush`](Self::flush)
/// (`msync`) waits until they are on disk, for durability across a crash of
/// the machine.
///
/// Like a [`ShmObject`](super::ShmObject), a file can be truncated by any
/// process with write access while it is mapped, and an access past the new
/// end then raises `SIGBUS` (see the [module docs](super)); files cannot be
/// sealed. [`check_size`](Self::check_size) detects it between operations.
/// So [`open`](Self::open) refuses a file that another user owns or that
/// users other than us may write ([`Error::Untrusted`]);
/// [`open_with`](Self::open_with) takes a [`Trust`] level to accept more.
///
/// ```
/// use ipckit::shm::{MappedFile, SharedMemory};
/// use ipckit::spsc::Ring;
///
/// let path = std::env::temp_dir().join(format!("ipckit-doc-{}.ring", std::process::id()));
/// {
///     let file = MappedFile::create(&path, Ring::<u32>::region_len(8).unwrap())?;
///     let ring = Ring::<u32>::init(file.region(), 8)?;
///     ring.producer()?.try_push(7)?;
///     file.flush()?;
/// } // unmapped and closed; the file stays
/// let file = MappedFile::open(&path)?;
/// let ring = Ring::<u32>::attach(file.region())?;
/// assert_eq!(ring.consumer()?.try_pop()?, 7);
/// MappedFile::remove(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MappedFile {
    path: PathBuf,
    target: String,
    map: FdMapping,
    created: bool,
}

impl MappedFile {
    /// Creates the file `path` (it must not exist: `O_CREAT | O_EXCL`) with
    /// mode 0600 and `len` zero bytes, and maps it.
    ///
    /// The blocks are allocated up front (`posix_fallocate`, falling back to
    /// `ftruncate` where the file system cannot), so a full disk is an error
    /// here rather than a `SIGBUS` on a later write through the mapping. On
    /// any error after creation the file is removed again.
    pub fn create(path: impl AsRef<Path>, len: usize) -> Result<Self> {
        Self::create_with_mode(path, len, DEFAULT_MODE)
    }

    /// [`create`](Self::create) with exactly the permission bits `mode`
    /// (not reduced by the umask). A file that the group or others may
    /// write is opened with [`open_with`](Self::open_with) and a matching
    /// [`Trust`].
    pub fn create_with_mode(path: impl AsRef<Path>, len: usize, mode: u32) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let target = path.display().to_string();
        check_create_len(len, &target)?;
        crate::object::check_mode(mode, "open", &target)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .map_err(|e| Error::os("open", target.clone(), e))?;
        let fd = OwnedFd::from(file);
        let sized = fchmod(fd.as_fd(), mode, &target)
            .and_then(|()| allocate(fd.as_fd(), len, &target))
            .and_then(|()| FdMapping::map(fd, &target, len));
        match sized {
            Ok(map) => Ok(Self {
                path,
                target,
                map,
                created: true,
            }),
            Err(e) => {
                // We created it (O_EXCL): do not leave a half-made file.
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }

    /// Opens the existing file `path` read-write and maps all of it, if it
    /// is this user's own and nobody else may write it ([`Trust::Owner`]).
    ///
    /// [`Error::NotFound`], [`Error::PermissionDenied`],
    /// [`Error::Untrusted`] for a file of another user or one its group or
    /// others may write (see [`open_with`](Self::open_with)), or
    /// [`Error::TooSmall`] for a file shorter than a region header. The
    /// header is not checked here: see [`SharedMemory::expect_kind`] and a
    /// ring's `attach`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, Trust::Owner)
    }

    /// [`open`](Self::open), accepting what `trust` accepts (see
    /// [`Trust`]). Whoever else may write the file can truncate it under our
    /// mapping, and our next access past its end then raises `SIGBUS`.
    pub fn open_with(path: impl AsRef<Path>, trust: Trust) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let target = path.display().to_string();
        let file: File = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::os("open", target.clone(), e))?;
        trust.check(file.as_fd(), &target)?;
        let map = FdMapping::map(OwnedFd::from(file), &target, 0)?;
        Ok(Self {
            path,
            target,
            map,
            created: false,
        })
    }

    /// Deletes the file `path`. Mappings of it stay valid until they are
    /// dropped.
    pub fn remove(path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::remove_file(path).map_err(|e| Error::os("unlink", path.display().to_string(), e))
    }

    /// Writes the mapped bytes to disk and waits (`msync(MS_SYNC)`).
    pub fn flush(&self) -> Result<()> {
        self.msync(libc::MS_SYNC)
    }

    /// Starts writing the mapped bytes to disk without waiting
    /// (`msync(MS_ASYNC)`).
    pub fn flush_async(&self) -> Result<()> {
        self.msync(libc::MS_ASYNC)
    }

    fn msync(&self, flags: libc::c_int) -> Result<()> {
        let region = self.map.region();
        // SAFETY: `region` is exactly this handle's live mapping (page-
        // aligned base); msync reads no memory on our behalf.
        if unsafe { libc::msync(region.as_ptr().cast(), region.len(), flags) } != 0 {
            return Err(Error::last_os("msync", self.target.clone()));
        }
        Ok(())
    }

    /// The path as given when created or opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `true` if this handle created the file.
    pub fn was_created(&self) -> bool {
        self.created
    }

    /// The mapping as a [`Region`] (see [`SharedMemory::region`]).
    pub fn region(&self) -> Region<'_> {
        self.map.region()
    }

    /// The mapped length: the file's size when it was opened.
    #[allow(clippy::len_without_is_empty)] // never empty: at least a header
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// `fstat`s the file again: [`Error::TooSmall`] if someone truncated it
    /// below the mapped length, else its current size.
    pub fn check_size(&self) -> Result<u64> {
        self.map.check_size(&self.target)
    }
}

impl SharedMemory for MappedFile {
    fn region(&self) -> Region<'_> {
        self.map.region()
    }
}

impl AsFd for MappedFile {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.map.fd()
    }
}

/// Gives the file `len` bytes with its blocks allocated; `ftruncate` where
/// the file system does not support allocation.
fn allocate(fd: BorrowedFd<'_>, len: usize, target: &str) -> Result<()> {
    let Ok(off_len) = libc::off_t::try_from(len) else {
        return set_len(fd, len, target);
    };
    loop {
        // SAFETY: plain call on an open descriptor; returns the error number
        // instead of setting errno.
        let rc = unsafe { libc::posix_fallocate(fd.as_raw_fd(), 0, off_len) };
        match rc {
            0 => return Ok(()),
            libc::EINTR => continue,
            libc::EOPNOTSUPP | libc::EINVAL => return set_len(fd, len, target),
            code => {
                return Err(Error::os(
                    "posix_fallocate",
                    target,
                    std::io::Error::from_raw_os_error(code),
                ));
            }
        }
    }
}

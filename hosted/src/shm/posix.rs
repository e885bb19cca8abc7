//! Named POSIX shared memory (`shm_open`).

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

use ipckit_core::Region;

use super::{DEFAULT_MODE, FdMapping, SharedMemory, ShmName, Trust, check_create_len, set_len};
use crate::error::{Error, Result};
use crate::object::fchmod;

/// A named POSIX shared-memory object (`/dev/shm/<name>` on Linux), mapped
/// read-write.
///
/// Any process that knows the name and passes the permission check can open
/// it, so it is how unrelated processes meet. The object outlives every
/// process until [`ShmObject::remove`] (or [`ShmObject::unlink`]) removes
/// its name; dropping a handle unmaps and closes, nothing more.
///
/// Names are validated by [`ShmName`]: `"jobs"` and `"/jobs"` are the same
/// object.
///
/// Another process that may open the object read-write can also shrink it
/// under this mapping (see the [module docs](super) on `SIGBUS`); use a
/// [`Memfd`](super::Memfd) where that matters. So [`open`](Self::open)
/// refuses an object that another user owns or that users other than us may
/// write ([`Error::Untrusted`]); [`open_with`](Self::open_with) takes a
/// [`Trust`] level to accept more.
///
/// ```
/// use ipckit::Error;
/// use ipckit::shm::{SharedMemory, ShmObject};
/// use ipckit::spsc::Ring;
/// use ipckit::ObjectKind;
///
/// let name = format!("ipckit-doc-{}", std::process::id());
/// let len = Ring::<u64>::region_len(64).unwrap();
/// let created = ShmObject::create(&name, len)?;
/// assert!(created.was_created());
/// let ring = Ring::<u64>::init(created.region(), 64)?;
/// ring.producer()?.try_push(42)?;
///
/// // Another process would do this:
/// let opened = ShmObject::open(&name)?;
/// opened.expect_kind(ObjectKind::Spsc)?;
/// let peer = Ring::<u64>::attach(opened.region())?;
/// assert_eq!(peer.consumer()?.try_pop()?, 42);
///
/// // A second creator loses, and the name is removed explicitly.
/// assert!(matches!(ShmObject::create(&name, len), Err(Error::AlreadyExists(_))));
/// ShmObject::remove(&name)?;
/// assert!(matches!(ShmObject::open(&name), Err(Error::NotFound(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ShmObject {
    name: ShmName,
    map: FdMapping,
    created: bool,
}

/// How often, and how long apart, `open_or_create` retries an object that
/// exists but is not sized yet (its creator is between `shm_open` and
/// `ftruncate`): 200 x 1 ms.
const SIZING_RETRIES: u32 = 200;
const SIZING_PAUSE: Duration = Duration::from_millis(1);

impl ShmObject {
    /// Creates the object `name` with `len` bytes (zeroed) and mode 0600,
    /// and maps it.
    ///
    /// `shm_open(O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC)`: of several
    /// processes racing to create one name, exactly one succeeds and the
    /// others get [`Error::AlreadyExists`]. `len` must be at least
    /// [`MIN_LEN`](super::MIN_LEN). If sizing or mapping fails, the name is
    /// removed again.
    pub fn create(name: &str, len: usize) -> Result<Self> {
        Self::create_with_mode(name, len, DEFAULT_MODE)
    }

    /// [`create`](Self::create) with the permission bits `mode` (say `0o660`
    /// to let the group open it). The object gets exactly `mode`: it is set
    /// with `fchmod` after creation, so the process umask does not reduce
    /// it. Openers of an object that the group (or everyone) may write must
    /// say that they accept it: [`open_with`](Self::open_with) and
    /// [`Trust::Group`] (or [`Trust::Anyone`]).
    pub fn create_with_mode(name: &str, len: usize, mode: u32) -> Result<Self> {
        let name = ShmName::new(name)?;
        check_create_len(len, name.as_str())?;
        crate::object::check_mode(mode, "shm_open", name.as_str())?;
        let fd = shm_open(
            &name,
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
            mode,
        )?;
        let sized = fchmod(fd.as_fd(), mode, name.as_str())
            .and_then(|()| set_len(fd.as_fd(), len, name.as_str()))
            .and_then(|()| FdMapping::map(fd, name.as_str(), len));
        match sized {
            Ok(map) => Ok(Self {
                name,
                map,
                created: true,
            }),
            Err(e) => {
                // The name is ours (O_EXCL): do not leave a broken object.
                // SAFETY: plain call with a NUL-terminated name.
                unsafe { libc::shm_unlink(name.as_c().as_ptr()) };
                Err(e)
            }
        }
    }

    /// Opens the existing object `name` read-write and maps all of it, if
    /// it is this user's own and nobody else may write it
    /// ([`Trust::Owner`]).
    ///
    /// [`Error::NotFound`] if it does not exist, [`Error::PermissionDenied`]
    /// if its mode refuses this user, [`Error::Untrusted`] if another user
    /// owns it or its group or other users may write it (see
    /// [`open_with`](Self::open_with)), [`Error::TooSmall`] if it is shorter
    /// than a region header (size 0: its creator has not sized it yet, or
    /// died before it did). The header is not checked here: see
    /// [`SharedMemory::expect_kind`] and a ring's `attach`.
    pub fn open(name: &str) -> Result<Self> {
        Self::open_with(name, Trust::Owner)
    }

    /// [`open`](Self::open), accepting what `trust` accepts: the object of
    /// another user of one of our groups, or one its group may write, with
    /// [`Trust::Group`]; every object the kernel lets us open with
    /// [`Trust::Anyone`]. Whoever else may write the object can shrink it
    /// under our mapping, and our next access past its end then raises
    /// `SIGBUS` (see the [module docs](super)).
    pub fn open_with(name: &str, trust: Trust) -> Result<Self> {
        let name = ShmName::new(name)?;
        Self::open_valid(name, 0, trust)
    }

    fn open_valid(name: ShmName, min_len: usize, trust: Trust) -> Result<Self> {
        let fd = shm_open(&name, libc::O_RDWR | libc::O_CLOEXEC, 0)?;
        trust.check(fd.as_fd(), name.as_str())?;
        let map = FdMapping::map(fd, name.as_str(), min_len)?;
        Ok(Self {
            name,
            map,
            created: false,
        })
    }

    /// Opens `name` if it exists, else creates it with `len` bytes and mode
    /// 0600. [`was_created`](Self::was_created) tells which happened, so
    /// that exactly one process initialises the header (the core's `init`
    /// also arbitrates that race by itself).
    ///
    /// An existing object shorter than `len` is [`Error::TooSmall`]. An
    /// existing object of size 0 is retried for up to 200 ms (its creator is
    /// between creating and sizing it) before that error. A name removed
    /// between the two attempts is tried again. An existing object is
    /// checked as by [`open`](Self::open) ([`Error::Untrusted`]).
    pub fn open_or_create(name: &str, len: usize) -> Result<Self> {
        Self::open_or_create_with(name, len, DEFAULT_MODE, Trust::Owner)
    }

    /// [`open_or_create`](Self::open_or_create) that creates with `mode`
    /// (as [`create_with_mode`](Self::create_with_mode)) and opens with
    /// `trust` (as [`open_with`](Self::open_with)).
    pub fn open_or_create_with(name: &str, len: usize, mode: u32, trust: Trust) -> Result<Self> {
        let valid = ShmName::new(name)?;
        check_create_len(len, valid.as_str())?;
        let (mut unsized_seen, mut removed_seen) = (0, 0);
        loop {
            match Self::create_with_mode(name, len, mode) {
                Err(Error::AlreadyExists(_)) => {}
                other => return other,
            }
            match Self::open_valid(valid.clone(), len, trust) {
                // Removed between our two attempts: try again (bounded).
                Err(Error::NotFound(_)) if removed_seen < SIZING_RETRIES => removed_seen += 1,
                Err(Error::TooSmall { size: 0, .. }) if unsized_seen < SIZING_RETRIES => {
                    unsized_seen += 1;
                    std::thread::sleep(SIZING_PAUSE);
                }
                other => return other,
            }
        }
    }

    /// Removes the name `name` (`shm_unlink`). Processes that have it open
    /// keep their mappings; nobody can open it any more, and the memory is
    /// freed when the last mapping goes. [`Error::NotFound`] if no such
    /// object exists.
    pub fn remove(name: &str) -> Result<()> {
        let name = ShmName::new(name)?;
        // SAFETY: plain call with a NUL-terminated name.
        if unsafe { libc::shm_unlink(name.as_c().as_ptr()) } != 0 {
            return Err(Error::last_os("shm_unlink", name.as_str()));
        }
        Ok(())
    }

    /// Removes this object's name; the mapping stays valid. Same as
    /// [`ShmObject::remove`] with [`name`](Self::name); if another object
    /// was meanwhile created under the same name, that one is removed.
    pub fn unlink(&self) -> Result<()> {
        Self::remove(self.name.as_str())
    }

    /// The canonical name, with its leading `/`.
    pub fn name(&self) -> &ShmName {
        &self.name
    }

    /// `true` if this handle created the object, `false` if it opened an
    /// existing one.
    pub fn was_created(&self) -> bool {
        self.created
    }

    /// The mapping as a [`Region`] (see [`SharedMemory::region`]).
    pub fn region(&self) -> Region<'_> {
        self.map.region()
    }

    /// The mapped length: the object's size when it was opened.
    #[allow(clippy::len_without_is_empty)] // never empty: at least a header
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// `fstat`s the object again: [`Error::TooSmall`] if someone shrank it
    /// below the mapped length (an access past its new end would raise
    /// `SIGBUS`), else its current size. One system call; it narrows the
    /// window but cannot close it.
    pub fn check_size(&self) -> Result<u64> {
        self.map.check_size(self.name.as_str())
    }
}

impl SharedMemory for ShmObject {
    fn region(&self) -> Region<'_> {
        self.map.region()
    }
}

impl AsFd for ShmObject {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.map.fd()
    }
}

fn shm_open(name: &ShmName, flags: libc::c_int, mode: u32) -> Result<OwnedFd> {
    // SAFETY: plain call with a NUL-terminated name; `mode` is read only with
    // `O_CREAT`.
    let fd = unsafe { libc::shm_open(name.as_c().as_ptr(), flags, mode as libc::mode_t) };
    if fd < 0 {
        return Err(Error::last_os("shm_open", name.as_str()));
    }
    // SAFETY: `fd` was just returned by `shm_open`, is open, and nothing
    // else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

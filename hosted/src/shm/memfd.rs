//! Sealed anonymous files (`memfd_create`), shared by descriptor.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::process::Command;

use ipckit_core::Region;

use super::{FdMapping, SharedMemory, check_create_len, inherit_fd, set_len};
use crate::error::{Error, Result};

/// The seals [`Memfd::from_fd`] requires: the size can neither shrink nor
/// grow.
pub(crate) const REQUIRED_SEALS: libc::c_int = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW;

/// The seals [`Memfd::create`] sets: [`REQUIRED_SEALS`] and `F_SEAL_SEAL`,
/// so that nobody can add or remove seals afterwards.
const CREATE_SEALS: libc::c_int = REQUIRED_SEALS | libc::F_SEAL_SEAL;

/// The longest debug name `memfd_create` accepts (249 bytes).
const MAX_MEMFD_NAME: usize = 249;

/// An anonymous shared-memory file (`memfd_create`) of fixed, sealed size,
/// mapped read-write.
///
/// It has no name in any directory: only processes that are handed its
/// descriptor can map it, either a spawned child by inheritance
/// ([`pass_to_child`](Self::pass_to_child) / [`from_env`](Self::from_env))
/// or any process over a Unix socket ([`send_fd`](super::send_fd) /
/// [`recv_fd`](super::recv_fd) and [`from_fd`](Self::from_fd)). It is
/// freed when the last descriptor and mapping are gone, so nothing is left
/// behind after a crash.
///
/// [`create`](Self::create) seals the size with
/// `F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`: `ftruncate` fails with
/// `EPERM` for every holder, so no peer can shrink it under a mapping (which
/// would raise `SIGBUS` here; see the [module docs](super)).
///
/// ```
/// use std::os::fd::AsFd;
/// use ipckit::shm::Memfd;
///
/// let memfd = Memfd::create("doc", 4096)?;
/// assert_eq!(memfd.len(), 4096);
/// // The kernel refuses to shrink it, and the mapping stays valid.
/// // SAFETY: a plain system call on an open descriptor.
/// let rc = unsafe { libc::ftruncate(std::os::fd::AsRawFd::as_raw_fd(&memfd.as_fd()), 0) };
/// assert_eq!(rc, -1);
/// assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EPERM));
///
/// // What a receiver does with a descriptor it was sent:
/// let received = Memfd::from_fd(memfd.as_fd().try_clone_to_owned()?)?;
/// assert_eq!(received.len(), 4096);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Memfd {
    map: FdMapping,
    target: String,
}

impl Memfd {
    /// Creates a memfd of `len` zeroed bytes, seals its size and maps it.
    ///
    /// `debug_name` shows in `/proc/<pid>/fd` as `memfd:<debug_name>`; it
    /// need not be unique and must not contain a NUL byte or exceed 249
    /// bytes ([`Error::InvalidName`]). `len` must be at least
    /// [`MIN_LEN`](super::MIN_LEN). The descriptor is close-on-exec: hand it
    /// on explicitly.
    pub fn create(debug_name: &str, len: usize) -> Result<Self> {
        if debug_name.len() > MAX_MEMFD_NAME {
            return Err(Error::InvalidName {
                name: debug_name.chars().take(64).collect(),
                reason: "memfd names are at most 249 bytes",
            });
        }
        let c_name = CString::new(debug_name).map_err(|_| Error::InvalidName {
            name: debug_name.into(),
            reason: "contains a NUL byte",
        })?;
        let target = format!("memfd:{debug_name}");
        check_create_len(len, &target)?;
        // SAFETY: plain call with a NUL-terminated name.
        let raw = unsafe {
            libc::memfd_create(c_name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
        };
        if raw < 0 {
            return Err(Error::last_os("memfd_create", target));
        }
        // SAFETY: `raw` was just returned by `memfd_create`, is open and
        // owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        set_len(fd.as_fd(), len, &target)?;
        add_seals(fd.as_fd(), CREATE_SEALS, &target)?;
        let map = FdMapping::map(fd, &target, len)?;
        Ok(Self { map, target })
    }

    /// Maps a memfd received from another process (over a socket, or
    /// inherited), after checking that it is sealed against resizing.
    ///
    /// Refused with [`Error::NotSealed`]: a descriptor without
    /// `F_SEAL_SHRINK | F_SEAL_GROW` (`missing` says which), including any
    /// descriptor that cannot carry seals (a regular file, a pipe, a
    /// `shm_open` object). An unsealed descriptor means its sender, and
    /// everyone it shares it with, can still `ftruncate` the object: if they
    /// shrink it while we have it mapped, our next access past the new end
    /// kills this process with `SIGBUS`. Ask the sender to use
    /// [`Memfd::create`], which seals.
    ///
    /// Then, as for every object, [`Error::TooSmall`] if it is shorter than
    /// a region header. The descriptor is closed on every error.
    pub fn from_fd(fd: OwnedFd) -> Result<Self> {
        let target = format!("fd {}", fd.as_raw_fd());
        let seals = get_seals(fd.as_fd(), &target)?;
        let missing = REQUIRED_SEALS & !seals;
        if missing != 0 {
            return Err(Error::NotSealed {
                missing: missing as u32,
            });
        }
        let map = FdMapping::map(fd, &target, 0)?;
        Ok(Self { map, target })
    }

    /// The seals on the object (`F_GET_SEALS`): `F_SEAL_*` bits.
    ///
    /// ```
    /// let memfd = ipckit::shm::Memfd::create("doc", 4096)?;
    /// let seals = memfd.seals()?;
    /// assert_eq!(seals & (libc::F_SEAL_SHRINK | libc::F_SEAL_GROW) as u32,
    ///            (libc::F_SEAL_SHRINK | libc::F_SEAL_GROW) as u32);
    /// # Ok::<(), ipckit::Error>(())
    /// ```
    pub fn seals(&self) -> Result<u32> {
        Ok(get_seals(self.map.fd(), &self.target)? as u32)
    }

    /// Lets the child that `cmd` spawns inherit this memfd's descriptor, and
    /// tells it the descriptor's number in the environment variable
    /// `env_var`. The child maps it with [`Memfd::from_env`].
    ///
    /// Only children of `cmd` inherit it: a duplicate descriptor, owned by
    /// `cmd`, has `FD_CLOEXEC` cleared in the child between `fork` and
    /// `exec` (see [`inherit_fd`]); in this process it stays close-on-exec.
    /// Fails only if the descriptor cannot be duplicated (`EMFILE`).
    pub fn pass_to_child(&self, cmd: &mut Command, env_var: &str) -> Result<()> {
        let fd = inherit_fd(cmd, self.map.fd())?;
        cmd.env(env_var, fd.to_string());
        Ok(())
    }

    /// Maps the memfd whose descriptor number the parent put in `env_var`
    /// ([`Memfd::pass_to_child`]), with the checks of [`Memfd::from_fd`].
    /// The descriptor is made close-on-exec again, so it does not leak
    /// further. [`Error::NotFound`] if the variable is missing, [`Error::Os`]
    /// (`EBADF`) if the number is not an open descriptor.
    ///
    /// # Safety
    /// The descriptor named by `env_var` must be owned by nothing else in
    /// this process (the returned `Memfd` closes it); a child that got it
    /// from `pass_to_child` and calls this once fulfils that.
    pub unsafe fn from_env(env_var: &str) -> Result<Self> {
        let missing = |kind: std::io::ErrorKind, msg: &str| {
            Error::os(
                "getenv",
                env_var,
                std::io::Error::new(kind, msg.to_string()),
            )
        };
        let value = std::env::var(env_var).map_err(|_| {
            Error::NotFound(crate::error::OsError::new(
                "getenv",
                env_var,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such environment variable"),
            ))
        })?;
        let raw: RawFd = value
            .parse()
            .ok()
            .filter(|&fd: &RawFd| fd >= 0)
            .ok_or_else(|| missing(std::io::ErrorKind::InvalidData, "not a descriptor number"))?;
        // SAFETY: plain query of a descriptor number; fails with EBADF if it
        // is not open.
        if unsafe { libc::fcntl(raw, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
            return Err(Error::last_os("fcntl(F_SETFD)", format!("fd {raw}")));
        }
        // SAFETY: `raw` is open (checked above) and owned by nothing else in
        // this process (the caller's contract).
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Self::from_fd(fd)
    }

    /// The mapping as a [`Region`] (see [`SharedMemory::region`]).
    pub fn region(&self) -> Region<'_> {
        self.map.region()
    }

    /// The mapped length, which the seals fix.
    #[allow(clippy::len_without_is_empty)] // never empty: at least a header
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// A second descriptor for the same memfd (`F_DUPFD_CLOEXEC`), to send
    /// or keep independently of this handle.
    pub fn try_clone_fd(&self) -> Result<OwnedFd> {
        self.map
            .fd()
            .try_clone_to_owned()
            .map_err(|e| Error::os("fcntl(F_DUPFD_CLOEXEC)", self.target.clone(), e))
    }
}

impl SharedMemory for Memfd {
    fn region(&self) -> Region<'_> {
        self.map.region()
    }
}

impl AsFd for Memfd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.map.fd()
    }
}

fn add_seals(fd: BorrowedFd<'_>, seals: libc::c_int, target: &str) -> Result<()> {
    // SAFETY: plain call on an open descriptor.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(Error::last_os("fcntl(F_ADD_SEALS)", target));
    }
    Ok(())
}

/// `F_GET_SEALS`; a descriptor that cannot carry seals (`EINVAL`) reports
/// none.
fn get_seals(fd: BorrowedFd<'_>, target: &str) -> Result<libc::c_int> {
    // SAFETY: plain call on an open descriptor.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    if seals < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINVAL) {
            return Ok(0);
        }
        return Err(Error::os("fcntl(F_GET_SEALS)", target, e));
    }
    Ok(seals)
}

//! POSIX named semaphores (`sem_open`).

use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::ptr::NonNull;
use std::time::Duration;

use super::CountingSemaphore;
use crate::error::{Error, OsError, Result};
use crate::object::{DEFAULT_MODE, Remove, check_mode, fchmod, fd_mode};
use crate::shm::{ShmName, Trust};
use crate::transport::deadline::realtime_deadline;

/// A POSIX named semaphore (`sem_open`). Dropping it closes it
/// (`sem_close`); the name stays until [`NamedSemaphore::unlink`].
///
/// ```
/// use ipckit::transport::semaphore::{CountingSemaphore, NamedSemaphore};
///
/// let name = format!("ipckit-doc-sem-{}", std::process::id());
/// let sem = NamedSemaphore::create(&name, 1)?;
/// sem.wait()?;
/// assert!(sem.try_wait().is_err()); // Empty
/// sem.post()?;
/// assert_eq!(sem.value()?, 1);
/// NamedSemaphore::unlink(&name)?;
/// # Ok::<(), ipckit::Error>(())
/// ```
#[derive(Debug)]
pub struct NamedSemaphore {
    sem: NonNull<libc::sem_t>,
    name: ShmName,
}

// SAFETY: the `sem_t` lives in a shared mapping made by `sem_open` that
// stays until `sem_close` in `Drop`; every `sem_*` call on it is thread-safe.
unsafe impl Send for NamedSemaphore {}
// SAFETY: as above: all operations go through thread-safe `sem_*` calls.
unsafe impl Sync for NamedSemaphore {}

/// The largest value of a POSIX semaphore (`SEM_VALUE_MAX`).
pub const SEM_VALUE_MAX: u32 = i32::MAX as u32;

impl NamedSemaphore {
    /// Creates semaphore `name` (`O_CREAT | O_EXCL`, mode 0600) with
    /// `initial` units (at most [`SEM_VALUE_MAX`]). [`Error::AlreadyExists`]
    /// if the name is taken.
    pub fn create(name: &str, initial: u32) -> Result<Self> {
        Self::create_with_mode(name, initial, DEFAULT_MODE)
    }

    /// [`create`](Self::create) with the permission bits `mode` (at most
    /// `0o777`; say `0o660` for the group), set exactly: glibc creates the
    /// file with the umask applied, so it is `fchmod`ed after. Openers of a
    /// semaphore others may write opt in with [`open_with`](Self::open_with).
    pub fn create_with_mode(name: &str, initial: u32, mode: u32) -> Result<Self> {
        let name = ShmName::new(name)?;
        check_mode(mode, "sem_open", name.as_str())?;
        if initial > SEM_VALUE_MAX {
            return Err(Error::Os(OsError::new(
                "sem_open",
                name.as_str(),
                io::Error::new(io::ErrorKind::InvalidInput, "initial above SEM_VALUE_MAX"),
            )));
        }
        // SAFETY: the name is a C string; with O_CREAT the variadic
        // arguments are the mode and the initial value, both `c_uint`.
        let sem = unsafe {
            libc::sem_open(
                name.as_c().as_ptr(),
                libc::O_CREAT | libc::O_EXCL,
                mode as libc::c_uint,
                initial as libc::c_uint,
            )
        };
        let sem = Self::opened(sem, name)?;
        // The name is ours (O_EXCL): no other user can have replaced the
        // file in sticky `/dev/shm` since.
        if let Err(e) = sem.file().and_then(|f| fchmod(f.as_fd(), mode, sem.name())) {
            let _ = Self::unlink(sem.name());
            return Err(e);
        }
        Ok(sem)
    }

    /// The file glibc keeps the semaphore in, opened (`O_NOFOLLOW`) to read
    /// or change its owner and mode.
    fn file(&self) -> Result<std::fs::File> {
        Self::open_file(&self.name)
    }

    fn open_file(name: &ShmName) -> Result<std::fs::File> {
        let path = format!("/dev/shm/sem.{}", &name.as_str()[1..]);
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| Error::os("open", name.as_str(), e))
    }

    /// The semaphore's permission bits now (`fstat` of its file).
    pub fn mode(&self) -> Result<u32> {
        fd_mode(self.file()?.as_fd(), self.name())
    }

    /// Opens the existing semaphore `name`, if it is this user's own and
    /// nobody else may write it ([`Trust::Owner`]; [`Error::Untrusted`]
    /// otherwise).
    ///
    /// glibc keeps the semaphore in the file `/dev/shm/sem.<name>` and maps
    /// it: whoever may write that file can truncate it under the mapping,
    /// and our next `sem_*` call on it then dies of `SIGBUS` (see the
    /// [shm module](crate::shm)); a squatter could plant one with mode 0666.
    pub fn open(name: &str) -> Result<Self> {
        Self::open_with(name, Trust::Owner)
    }

    /// [`open`](Self::open), accepting the owners and modes `trust` accepts.
    ///
    /// The file is opened (`O_NOFOLLOW`) and checked with `fstat` before
    /// `sem_open` opens it again by name. That second open finds the same
    /// file: `/dev/shm` is sticky, so only the file's owner or root could
    /// remove or replace the name in between, and the check has just shown
    /// that the owner is trusted.
    pub fn open_with(name: &str, trust: Trust) -> Result<Self> {
        let name = ShmName::new(name)?;
        if trust != Trust::Anyone {
            let file = Self::open_file(&name)?;
            trust.check(file.as_fd(), name.as_str())?;
        }
        // SAFETY: the name is a C string; no variadic argument is read.
        let sem = unsafe { libc::sem_open(name.as_c().as_ptr(), 0) };
        Self::opened(sem, name)
    }

    fn opened(sem: *mut libc::sem_t, name: ShmName) -> Result<Self> {
        if sem == libc::SEM_FAILED {
            return Err(Error::last_os("sem_open", name.as_str()));
        }
        match NonNull::new(sem) {
            Some(sem) => Ok(Self { sem, name }),
            None => Err(Error::last_os("sem_open", name.as_str())),
        }
    }

    /// Removes the name; the semaphore lives until its last user closes it.
    pub fn unlink(name: &str) -> Result<()> {
        let name = ShmName::new(name)?;
        // SAFETY: the name is a C string.
        if unsafe { libc::sem_unlink(name.as_c().as_ptr()) } != 0 {
            return Err(Error::last_os("sem_unlink", name.as_str()));
        }
        Ok(())
    }

    /// The name in canonical `/name` form.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The units now (`sem_getvalue`).
    pub fn value(&self) -> Result<u32> {
        let mut v = 0;
        // SAFETY: `sem` is open; `v` is a valid out-pointer.
        if unsafe { libc::sem_getvalue(self.sem.as_ptr(), &mut v) } != 0 {
            return Err(Error::last_os("sem_getvalue", self.name.as_str()));
        }
        Ok(v.max(0) as u32)
    }
}

impl Remove for NamedSemaphore {
    /// [`NamedSemaphore::unlink`] of this semaphore's name.
    fn remove_object(&self) -> Result<()> {
        NamedSemaphore::unlink(self.name())
    }
}

impl CountingSemaphore for NamedSemaphore {
    fn post(&self) -> Result<()> {
        // SAFETY: `sem` is open.
        if unsafe { libc::sem_post(self.sem.as_ptr()) } != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EOVERFLOW) {
                return Err(Error::Full);
            }
            return Err(Error::os("sem_post", self.name.as_str(), err));
        }
        Ok(())
    }

    /// `sem_timedwait` with an absolute `CLOCK_REALTIME` deadline computed
    /// once (kept across `EINTR`); zero is `sem_trywait`.
    fn wait_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        let deadline = match timeout {
            Some(t) if t.is_zero() => None,
            Some(t) => realtime_deadline(t),
            None => None,
        };
        loop {
            let r = match (timeout, &deadline) {
                // SAFETY: `sem` is open.
                (Some(t), _) if t.is_zero() => unsafe { libc::sem_trywait(self.sem.as_ptr()) },
                // SAFETY: `sem` is open; `at` is a valid timespec.
                (_, Some(at)) => unsafe { libc::sem_timedwait(self.sem.as_ptr(), at) },
                // SAFETY: `sem` is open.
                _ => unsafe { libc::sem_wait(self.sem.as_ptr()) },
            };
            if r == 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => return Err(Error::Empty),
                Some(libc::ETIMEDOUT) => return Err(Error::TimedOut),
                _ => return Err(Error::os("sem_wait", self.name.as_str(), err)),
            }
        }
    }
}

impl Drop for NamedSemaphore {
    fn drop(&mut self) {
        // SAFETY: `sem` came from `sem_open` and is closed only here.
        unsafe { libc::sem_close(self.sem.as_ptr()) };
    }
}

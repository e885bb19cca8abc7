//! Kernel semaphores across processes: POSIX named semaphores
//! (`sem_overview(7)`) and System V semaphore sets (`semget(2)`), next to
//! the core's shared-memory [`semaphore`](crate::semaphore).
//!
//! All three count units with the same verbs, gathered in the
//! [`CountingSemaphore`] trait: `post` adds a unit, `wait` takes one
//! (waiting for it), `try_wait` takes one if there is one
//! ([`Empty`](Error::Empty) otherwise), `wait_timeout` waits at most a
//! while ([`TimedOut`](Error::TimedOut)). A post above the maximum is
//! [`Full`](Error::Full).
//!
//! | | [`NamedSemaphore`] | [`SysvSemaphoreSet`] | core [`Semaphore`](crate::semaphore::Semaphore) |
//! |---|---|---|---|
//! | named by | `/name` (in `/dev/shm` as `sem.name`) | key or id | the shared mapping it lives in |
//! | maximum | `SEM_VALUE_MAX` (2^31 - 1) | `SEMVMX` (32767) | chosen at `init` |
//! | killed holder | its units are lost | given back with `SEM_UNDO` | its units are lost |
//! | timeout clock | `CLOCK_REALTIME` (absolute) | relative (`semtimedop`) | monotonic |
//! | uncontended cost | no system call (futex in glibc) | one system call | no system call |
//!
//! # `SEM_UNDO`
//! With `SEM_UNDO` the kernel records each process's adjustments to a
//! System V semaphore and reverses them when the process exits, however it
//! exits, so a process killed while holding units gives them back. That is
//! right for a lock, where the same process takes and gives back: its
//! adjustment returns to 0 with every pair. For signalling (one process
//! posts, another waits) it is wrong twice over: the poster's units vanish
//! when it exits, and the kernel bounds each process's adjustment to
//! -32,768..=32,767, so a process that only waits (or only posts) fails
//! after 32,767 operations ([`Error::UndoRange`]).
//!
//! A [`SysvSemaphoreSet`] therefore operates **without** `SEM_UNDO` unless
//! told otherwise: [`SysvSemaphoreSet::set_undo`]`(true)` for lock use.
//!
//! # Errors that name the set
//! A post above [`SEMVMX`] is [`Full`](Error::Full); an operation beyond
//! the `SEM_UNDO` range is [`Error::UndoRange`] (both are `ERANGE` to the
//! kernel; a post with `SEM_UNDO` that gets `ERANGE` reads the value to tell
//! them apart). A set removed (`IPC_RMID`) under a waiter, or before a later
//! call, is [`Error::Removed`] naming `semid N`; an argument the kernel
//! refuses (`EINVAL` while the set exists) is [`Error::Os`] with `EINVAL`
//! and the set named.

use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::ptr::NonNull;
use std::time::Duration;

use super::deadline::{Deadline, realtime_deadline, relative_timespec};
use super::sysv_mq::key_from_path;
use crate::error::{Error, OsError, Result};
use crate::shm::{ShmName, Trust};
use crate::wait::Notify;

/// The verbs every semaphore of ipckit has.
pub trait CountingSemaphore {
    /// Adds a unit, waking a waiter.
    fn post(&self) -> Result<()>;

    /// Takes a unit, waiting at most `timeout` for one (`None`: as long as
    /// it takes; zero: [`Empty`](Error::Empty) if none is there now).
    fn wait_timeout(&self, timeout: Option<Duration>) -> Result<()>;

    /// Takes a unit, waiting as long as it takes.
    fn wait(&self) -> Result<()> {
        self.wait_timeout(None)
    }

    /// Takes a unit if there is one now.
    fn try_wait(&self) -> Result<()> {
        self.wait_timeout(Some(Duration::ZERO))
    }
}

/// The core's shared-memory semaphore under the same verbs.
impl<N: Notify> CountingSemaphore for crate::semaphore::Handle<'_, N> {
    fn post(&self) -> Result<()> {
        Ok(crate::semaphore::Handle::post(self)?)
    }

    fn wait_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        Ok(crate::semaphore::Handle::wait_timeout(self, timeout)?)
    }
}

// ---------------------------------------------------------------------------
// POSIX named semaphores.

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
        let name = ShmName::new(name)?;
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
                0o600 as libc::c_uint,
                initial as libc::c_uint,
            )
        };
        Self::opened(sem, name)
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
            let path = format!("/dev/shm/sem.{}", &name.as_str()[1..]);
            let file = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
                .map_err(|e| Error::os("open", name.as_str(), e))?;
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

// ---------------------------------------------------------------------------
// System V semaphore sets.

unsafe extern "C" {
    /// glibc's `semtimedop(2)` wrapper (the `libc` crate lacks it); it picks
    /// the 64-bit-time system call where there is one.
    fn semtimedop(
        semid: libc::c_int,
        sops: *mut libc::sembuf,
        nsops: libc::size_t,
        timeout: *const libc::timespec,
    ) -> libc::c_int;
}

/// The largest value of a System V semaphore on Linux (`SEMVMX`).
pub const SEMVMX: u32 = 32767;

/// A System V semaphore set (`semget`): `len` semaphores under one id.
///
/// Like a System V queue it is not a file descriptor: dropping the handle
/// closes nothing; [`remove`](Self::remove) (`IPC_RMID`) destroys the set,
/// and any waiter gets [`Error::Removed`].
///
/// Operations run without `SEM_UNDO` (signalling) unless
/// [`set_undo`](Self::set_undo) turns it on (a lock; see the
/// [module docs](self)). Opening needs no read permission (on Linux 4.17
/// and later, which show the set's length through `SEM_STAT_ANY`): a
/// process that may only alter the set (mode `0o622` for another user, say)
/// can post and wait.
///
/// ```
/// use ipckit::transport::semaphore::{CountingSemaphore, SysvSemaphoreSet};
///
/// let mut set = SysvSemaphoreSet::create_private(2)?;
/// // Semaphore 1 signals (no SEM_UNDO: the default).
/// set.get(1).post()?;
/// set.get(1).wait()?;
/// // Semaphore 0 is a lock: SEM_UNDO gives the unit back if we die
/// // holding it.
/// set.set_value(0, 1)?;
/// set.set_undo(true);
/// set.get(0).wait()?;
/// assert_eq!(set.value(0)?, 0);
/// set.get(0).post()?;
/// assert!(set.get(1).try_wait().is_err()); // Empty
/// set.remove()?;
/// # Ok::<(), ipckit::Error>(())
/// ```
#[derive(Debug)]
pub struct SysvSemaphoreSet {
    id: libc::c_int,
    len: usize,
    undo: bool,
}

impl SysvSemaphoreSet {
    /// Creates the set of `key` with `len` semaphores at 0 (`IPC_CREAT |
    /// IPC_EXCL`, mode 0600).
    pub fn create(key: libc::key_t, len: usize) -> Result<Self> {
        Self::semget(key, len, libc::IPC_CREAT | libc::IPC_EXCL | 0o600)
    }

    /// Creates an anonymous set (`IPC_PRIVATE`), reachable by its
    /// [`id`](Self::id).
    pub fn create_private(len: usize) -> Result<Self> {
        Self::semget(libc::IPC_PRIVATE, len, libc::IPC_CREAT | 0o600)
    }

    /// Opens the existing set of `key`.
    pub fn open(key: libc::key_t) -> Result<Self> {
        Self::semget(key, 0, 0)
    }

    /// A key from a file, as for [`open`](Self::open) (`ftok`).
    pub fn key_from_path(path: &std::path::Path, project: u8) -> Result<libc::key_t> {
        key_from_path(path, project)
    }

    /// Takes the set with id `id`; its length is read with `IPC_STAT`, or
    /// `SEM_STAT_ANY` where this user may not read the set.
    ///
    /// [`Error::NotFound`] if no set has this id (never created, or
    /// removed); [`Error::Os`] with `EINVAL` for an id below 0.
    pub fn from_id(id: i32) -> Result<Self> {
        let target = format!("semid {id}");
        if id < 0 {
            return Err(Error::os(
                "semctl(IPC_STAT)",
                target,
                io::Error::from_raw_os_error(libc::EINVAL),
            ));
        }
        let ds = sem_stat(id).map_err(|err| match err.raw_os_error() {
            Some(libc::EINVAL | libc::EIDRM) => Error::NotFound(OsError::new(
                "semctl(IPC_STAT)",
                target.clone(),
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "no semaphore set has this id (never created, or removed)",
                ),
            )),
            _ => Error::os("semctl(IPC_STAT)", target.clone(), err),
        })?;
        Ok(Self {
            id,
            len: ds.sem_nsems as usize,
            undo: false,
        })
    }

    fn semget(key: libc::key_t, len: usize, flags: libc::c_int) -> Result<Self> {
        let n = libc::c_int::try_from(len).unwrap_or(libc::c_int::MAX);
        // SAFETY: plain system call.
        let id = unsafe { libc::semget(key, n, flags) };
        if id < 0 {
            return Err(Error::last_os("semget", format!("key {key:#x}")));
        }
        Self::from_id(id)
    }

    /// The set's id (`/proc/sysvipc/sem`, `ipcs -s`).
    pub fn id(&self) -> i32 {
        self.id
    }

    /// The number of semaphores in the set.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` for a set of no semaphores (only `open` can give one).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether this handle's operations use `SEM_UNDO`: off by default
    /// (signalling); on for a lock, where the same process takes and gives
    /// back units (see the [module docs](self)).
    pub fn set_undo(&mut self, undo: bool) {
        self.undo = undo;
    }

    /// Sets semaphore `index` to `value` (`SETVAL`, at most [`SEMVMX`]).
    /// It also clears every process's pending undo for it.
    pub fn set_value(&self, index: usize, value: u32) -> Result<()> {
        let num = self.index(index)?;
        if value > SEMVMX {
            return Err(Error::Full);
        }
        // SAFETY: SETVAL's variadic argument is the union `semun`, whose
        // `val` member is an `int` at offset 0, passed here as an `int`.
        if unsafe { libc::semctl(self.id, num, libc::SETVAL, value as libc::c_int) } != 0 {
            return Err(self.os_error("semctl(SETVAL)", io::Error::last_os_error()));
        }
        Ok(())
    }

    /// The value of semaphore `index` (`GETVAL`).
    pub fn value(&self, index: usize) -> Result<u32> {
        let num = self.index(index)?;
        // SAFETY: GETVAL takes no variadic argument.
        let r = unsafe { libc::semctl(self.id, num, libc::GETVAL) };
        if r < 0 {
            return Err(self.os_error("semctl(GETVAL)", io::Error::last_os_error()));
        }
        Ok(r as u32)
    }

    /// Semaphore `index` of the set, as a [`CountingSemaphore`]; an index
    /// out of range fails on first use.
    pub fn get(&self, index: usize) -> SysvSemaphore<'_> {
        SysvSemaphore { set: self, index }
    }

    /// Adds `delta` to semaphore `index` (negative: takes, waiting for the
    /// units at most `timeout`) with `SEM_UNDO` if set. One `semop` or
    /// `semtimedop`, retried with the remaining time after `EINTR`.
    ///
    /// [`Full`](Error::Full) for a value that would pass [`SEMVMX`],
    /// [`Error::UndoRange`] for a `SEM_UNDO` adjustment that would leave its
    /// range, [`Error::Removed`] for a removed set.
    pub fn op(&self, index: usize, delta: i16, timeout: Option<Duration>) -> Result<()> {
        let num = self.index(index)?;
        let mut flags = if self.undo { libc::SEM_UNDO } else { 0 };
        if timeout == Some(Duration::ZERO) {
            flags |= libc::IPC_NOWAIT;
        }
        let deadline = Deadline::after(timeout);
        loop {
            let mut op = libc::sembuf {
                sem_num: num as libc::c_ushort,
                sem_op: delta,
                sem_flg: flags as libc::c_short,
            };
            let r = match deadline.remaining() {
                Some(left) if !left.is_zero() => {
                    let ts = relative_timespec(left);
                    // SAFETY: one valid `sembuf`; `ts` is a valid timespec.
                    unsafe { semtimedop(self.id, &mut op, 1, &ts) }
                }
                // SAFETY: one valid `sembuf`; no timeout (or IPC_NOWAIT).
                _ => unsafe { semtimedop(self.id, &mut op, 1, std::ptr::null()) },
            };
            if r == 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => {
                    if timeout.is_some() && deadline.expired() {
                        return Err(Error::TimedOut);
                    }
                }
                Some(libc::EAGAIN) if timeout == Some(Duration::ZERO) => {
                    return Err(Error::Empty);
                }
                Some(libc::EAGAIN) => return Err(Error::TimedOut),
                Some(libc::ERANGE) => return Err(self.range_error(index, delta)),
                _ => return Err(self.os_error("semop", err)),
            }
        }
    }

    /// Sorts an `ERANGE` of `semop`. The kernel checks the value first (a
    /// result above `SEMVMX`) and then, with `SEM_UNDO`, this process's
    /// adjustment. A take cannot raise the value, and without `SEM_UNDO`
    /// there is no adjustment, so only a post with `SEM_UNDO` is ambiguous:
    /// the value read now decides (if it cannot be read, or moved in
    /// between, `Full` is the answer, which a caller retries).
    fn range_error(&self, index: usize, delta: i16) -> Error {
        let undo_range = Error::UndoRange {
            target: format!("semid {} index {index}", self.id),
        };
        if !self.undo {
            return Error::Full;
        }
        if delta <= 0 {
            return undo_range;
        }
        match self.value(index) {
            Ok(v) if v + delta as u32 <= SEMVMX => undo_range,
            _ => Error::Full,
        }
    }

    /// Removes the set (`IPC_RMID`).
    pub fn remove(self) -> Result<()> {
        Self::remove_id(self.id)
    }

    /// Removes the set with id `id`.
    pub fn remove_id(id: i32) -> Result<()> {
        // SAFETY: IPC_RMID takes no variadic argument.
        if unsafe { libc::semctl(id, 0, libc::IPC_RMID) } != 0 {
            return Err(Error::last_os("semctl(IPC_RMID)", format!("semid {id}")));
        }
        Ok(())
    }

    fn index(&self, index: usize) -> Result<libc::c_int> {
        if index >= self.len {
            return Err(Error::Os(OsError::new(
                "semop",
                format!("semid {} index {index}", self.id),
                io::Error::new(io::ErrorKind::InvalidInput, "index beyond the set"),
            )));
        }
        Ok(index as libc::c_int)
    }

    /// `EIDRM` is a set removed while we waited. `EINVAL` is a set removed
    /// before the call, or an argument the kernel refuses: the set is looked
    /// up again to tell which.
    fn os_error(&self, call: &'static str, err: io::Error) -> Error {
        let target = format!("semid {}", self.id);
        let gone = match err.raw_os_error() {
            Some(libc::EIDRM) => true,
            Some(libc::EINVAL) => sem_stat(self.id)
                .is_err_and(|e| matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EIDRM))),
            _ => false,
        };
        if gone {
            Error::Removed { target }
        } else {
            Error::os(call, target, err)
        }
    }
}

/// `IPC_STAT` of the set `id`; where this user may not read it (`EACCES`),
/// `SEM_STAT_ANY` (Linux 4.17), which shows any set without that check.
fn sem_stat(id: libc::c_int) -> io::Result<libc::semid_ds> {
    // SAFETY: all-zero is a valid `semid_ds`.
    let mut ds: libc::semid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: IPC_STAT's variadic argument is the union `semun`, whose
    // `buf` member is a pointer to a valid `semid_ds`.
    if unsafe { libc::semctl(id, 0, libc::IPC_STAT, &mut ds as *mut libc::semid_ds) } == 0 {
        return Ok(ds);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::EACCES) {
        return Err(err);
    }
    // SEM_STAT_ANY takes the kernel's index of the set, which is the id's
    // low 15 bits (24 with the `ipcmni_extend` boot option), and returns
    // the id found there: it must be ours.
    for bits in [15, 24] {
        let index = id & ((1 << bits) - 1);
        // SAFETY: as for IPC_STAT.
        let r =
            unsafe { libc::semctl(index, 0, libc::SEM_STAT_ANY, &mut ds as *mut libc::semid_ds) };
        if r == id {
            return Ok(ds);
        }
    }
    Err(err)
}

/// One semaphore of a [`SysvSemaphoreSet`].
#[derive(Debug, Clone, Copy)]
pub struct SysvSemaphore<'a> {
    set: &'a SysvSemaphoreSet,
    index: usize,
}

impl CountingSemaphore for SysvSemaphore<'_> {
    fn post(&self) -> Result<()> {
        self.set.op(self.index, 1, None)
    }

    fn wait_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        self.set.op(self.index, -1, timeout)
    }
}

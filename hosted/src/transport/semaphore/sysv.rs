//! System V semaphore sets (`semget`).

use std::io;
use std::time::Duration;

use super::CountingSemaphore;
use crate::error::{Error, OsError, Result};
use crate::object::{DEFAULT_MODE, Remove, check_mode};
use crate::shm::Trust;
use crate::transport::deadline::{Deadline, relative_timespec};
use crate::transport::sysv_mq::key_from_path;

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
/// [module docs](super)). Opening needs no read permission (on Linux 4.17
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
        Self::create_with_mode(key, len, DEFAULT_MODE)
    }

    /// [`create`](Self::create) with the permission bits `mode` (at most
    /// `0o777`; no umask applies to System V objects). `libc::IPC_PRIVATE`
    /// as `key` makes an anonymous set. Openers of a set others may write
    /// opt in with [`open_with`](Self::open_with).
    pub fn create_with_mode(key: libc::key_t, len: usize, mode: u32) -> Result<Self> {
        check_mode(mode, "semget", &format!("key {key:#x}"))?;
        // At most 0o777: fits in a `c_int`.
        Self::semget(
            key,
            len,
            libc::IPC_CREAT | libc::IPC_EXCL | mode as libc::c_int,
        )
    }

    /// Creates an anonymous set (`IPC_PRIVATE`), reachable by its
    /// [`id`](Self::id).
    pub fn create_private(len: usize) -> Result<Self> {
        Self::semget(libc::IPC_PRIVATE, len, libc::IPC_CREAT | 0o600)
    }

    /// Opens the existing set of `key`, if it is this user's and writable
    /// by nobody else ([`Trust::Owner`]; else [`Error::Untrusted`]: anyone
    /// else who may alter it can steal or forge units, or remove it).
    pub fn open(key: libc::key_t) -> Result<Self> {
        Self::open_with(key, Trust::Owner)
    }

    /// [`open`](Self::open), accepting the owners and modes `trust`
    /// accepts (judged on the set's owner and, if another, its creator).
    /// [`from_id`](Self::from_id) takes an id as given, with no check.
    pub fn open_with(key: libc::key_t, trust: Trust) -> Result<Self> {
        let set = Self::semget(key, 0, 0)?;
        if trust != Trust::Anyone {
            let perm = set.stat()?.sem_perm;
            let target = format!("semid {}", set.id);
            trust.check_owner(perm.uid, perm.gid, perm.mode.into(), &target)?;
            if perm.cuid != perm.uid {
                trust.check_owner(perm.cuid, perm.cgid, perm.mode.into(), &target)?;
            }
        }
        Ok(set)
    }

    /// The set's permission bits now (`sem_perm.mode & 0o777`).
    pub fn mode(&self) -> Result<u32> {
        Ok(u32::from(self.stat()?.sem_perm.mode) & 0o777)
    }

    fn stat(&self) -> Result<libc::semid_ds> {
        sem_stat(self.id)
            .map_err(|e| Error::os("semctl(IPC_STAT)", format!("semid {}", self.id), e))
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
    /// back units (see the [module docs](super)).
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

impl Remove for SysvSemaphoreSet {
    /// `IPC_RMID` of this set.
    fn remove_object(&self) -> Result<()> {
        SysvSemaphoreSet::remove_id(self.id)
    }
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

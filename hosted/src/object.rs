//! Named objects people can manage: the mode they are created with, the
//! direction an open asks for, whom an open trusts, and removal by the
//! creator.
//!
//! Every kind of named object here follows the same four rules:
//!
//! | rule | how |
//! |---|---|
//! | **mode** | `create` gives mode [`DEFAULT_MODE`] (0600); a `create_with_mode` / `bind_with_mode` gives exactly the bits asked for, the process umask notwithstanding (set with `fchmod` after creation where the umask applies). Bits outside `0o777` are refused before any call. |
//! | **direction** | where the kernel has read-only and write-only opens (POSIX queues: [`Access`]; FIFOs: one type per end; System V queues: decided per call), an open asks only for what it uses, so a user with write permission alone can send; a send on a read-only handle is [`Error::PermissionDenied`] naming the object, before any call. |
//! | **trust** | an open by name refuses an object another user owns or that group or others may write, unless the caller opts in with a [`Trust`] level (`open_with`). |
//! | **removal** | a creator that wants the name gone when it is done wraps the object in [`RemoveOnDrop`] (or calls [`.remove_on_drop()`](Remove::remove_on_drop)); only the process that made the guard removes, so a forked child's copy does not. |
//!
//! | kind | create with a mode | open with trust | direction |
//! |---|---|---|---|
//! | shared memory | [`ShmObject::create_with_mode`](crate::shm::ShmObject::create_with_mode), [`MappedFile::create_with_mode`](crate::shm::MappedFile::create_with_mode) | `open_with` | read-write |
//! | POSIX queue | [`PosixMq::create_with_mode`](crate::transport::posix_mq::PosixMq::create_with_mode) | [`PosixMq::open_with`](crate::transport::posix_mq::PosixMq::open_with) | [`Access`] |
//! | System V queue | [`SysvMq::create_with_mode`](crate::transport::sysv_mq::SysvMq::create_with_mode) | [`SysvMq::open_with`](crate::transport::sysv_mq::SysvMq::open_with) | per call |
//! | named semaphore | [`NamedSemaphore::create_with_mode`](crate::transport::semaphore::NamedSemaphore::create_with_mode) | `open_with` | read-write |
//! | System V semaphores | [`SysvSemaphoreSet::create_with_mode`](crate::transport::semaphore::SysvSemaphoreSet::create_with_mode) | [`SysvSemaphoreSet::open_with`](crate::transport::semaphore::SysvSemaphoreSet::open_with) | read-write |
//! | FIFO | [`Fifo::create_with_mode`](crate::transport::fifo::Fifo::create_with_mode) | `FifoSender::open_with`, `FifoReceiver::open_with` | one type per end |
//! | Unix socket path | `bind_with_mode` of the listeners and [`Datagram`](crate::transport::unix::Datagram) | (the peer's credentials: [`peer_cred`](crate::transport::unix::peer_cred)) | both |
//!
//! ```
//! use ipckit::object::{Remove, RemoveOnDrop};
//! use ipckit::shm::ShmObject;
//!
//! let name = format!("ipckit-doc-object-{}", std::process::id());
//! {
//!     let obj = ShmObject::create_with_mode(&name, 4096, 0o640)?.remove_on_drop();
//!     assert_eq!(obj.len(), 4096); // the guard derefs to the object
//! } // removed here
//! assert!(ShmObject::open(&name).is_err());
//! # Ok::<(), ipckit::Error>(())
//! ```

use std::io;
use std::ops::{Deref, DerefMut};
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::error::{Error, OsError, Result};
#[cfg(doc)]
use crate::shm::Trust;

pub use crate::shm::DEFAULT_MODE;

/// Which directions an open asks the kernel for.
///
/// Asking only for what is used lets a user with write permission alone
/// open a queue to send (and one with read permission alone to receive);
/// the handle then refuses the other direction with
/// [`Error::PermissionDenied`] naming the object, before any call.
///
/// ```
/// use ipckit::message::MessageSender;
/// use ipckit::object::Access;
/// use ipckit::shm::Trust;
/// use ipckit::transport::posix_mq::{MqAttr, PosixMq};
///
/// let name = format!("ipckit-doc-access-{}", std::process::id());
/// let q = PosixMq::create(&name, MqAttr { max_messages: 2, message_size: 8 })?;
/// let mut reader = PosixMq::open_with(&name, Access::ReadOnly, Trust::Owner)?;
/// let e = reader.try_send(b"no").unwrap_err();
/// assert!(matches!(e, ipckit::Error::PermissionDenied(_)));
/// assert!(e.to_string().contains(q.name()), "{e}");
/// PosixMq::unlink(&name)?;
/// # Ok::<(), ipckit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Access {
    /// Send and receive (`O_RDWR`): the default.
    #[default]
    ReadWrite,
    /// Receive only (`O_RDONLY`): read permission suffices.
    ReadOnly,
    /// Send only (`O_WRONLY`): write permission suffices.
    WriteOnly,
}

impl Access {
    /// `true` if this access may send (write).
    pub fn can_write(self) -> bool {
        self != Access::ReadOnly
    }

    /// `true` if this access may receive (read).
    pub fn can_read(self) -> bool {
        self != Access::WriteOnly
    }

    /// The `open(2)` access flag.
    pub(crate) fn flags(self) -> libc::c_int {
        match self {
            Access::ReadWrite => libc::O_RDWR,
            Access::ReadOnly => libc::O_RDONLY,
            Access::WriteOnly => libc::O_WRONLY,
        }
    }

    /// Refuses `call` on `target` unless this access allows writing
    /// (`write`) or reading (`!write`).
    pub(crate) fn check(self, write: bool, call: &'static str, target: &str) -> Result<()> {
        let (ok, msg) = if write {
            (
                self.can_write(),
                "opened read-only (Access::ReadOnly): cannot send",
            )
        } else {
            (
                self.can_read(),
                "opened write-only (Access::WriteOnly): cannot receive",
            )
        };
        if ok {
            return Ok(());
        }
        Err(Error::PermissionDenied(OsError::new(
            call,
            target,
            io::Error::new(io::ErrorKind::PermissionDenied, msg),
        )))
    }
}

/// Refuses a creation `mode` with bits outside `0o777` (set-id, sticky,
/// file type) before any call.
pub(crate) fn check_mode(mode: u32, call: &'static str, target: &str) -> Result<()> {
    if mode & !0o777 == 0 {
        return Ok(());
    }
    Err(Error::Os(OsError::new(
        call,
        target,
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("mode {mode:#o} has bits outside 0o777"),
        ),
    )))
}

/// Sets the permission bits of the object behind `fd` to exactly `mode`
/// (the umask applies at creation only).
pub(crate) fn fchmod(fd: BorrowedFd<'_>, mode: u32, target: &str) -> Result<()> {
    // SAFETY: plain call on an open descriptor.
    if unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) } != 0 {
        return Err(Error::last_os("fchmod", target));
    }
    Ok(())
}

/// The permission bits (`st_mode & 0o7777`) of the object behind `fd`.
pub(crate) fn fd_mode(fd: BorrowedFd<'_>, target: &str) -> Result<u32> {
    // SAFETY: `libc::stat` is plain data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open for the call (borrowed); `st` a valid out-pointer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(Error::last_os("fstat", target));
    }
    Ok(st.st_mode & 0o7777)
}

/// A named object its creator can remove: shared memory, queues,
/// semaphores, or a bare name of one (such as [`ShmName`](crate::shm::ShmName)
/// for a channel's object, or a [`PathBuf`](std::path::PathBuf) for a
/// file another process of ours creates).
pub trait Remove {
    /// Removes the object's name (or the kernel object) now. Open handles
    /// keep working where the kind allows it (POSIX names), or see the
    /// object gone (System V: [`Error::Removed`]).
    fn remove_object(&self) -> Result<()>;

    /// Wraps `self` in a guard that removes the object when dropped.
    fn remove_on_drop(self) -> RemoveOnDrop<Self>
    where
        Self: Sized,
    {
        RemoveOnDrop::new(self)
    }
}

/// Removes a named object when dropped, in the process that made the guard
/// (a forked child's copy leaves it alone); derefs to the object.
///
/// Dropping cannot report an error: call [`remove`](Self::remove) to see
/// it, or [`keep`](Self::keep) to disarm the guard.
///
/// ```
/// use ipckit::message::{MessageReceiver, MessageSender};
/// use ipckit::object::RemoveOnDrop;
/// use ipckit::transport::posix_mq::{MqAttr, PosixMq};
///
/// let name = format!("ipckit-doc-guard-{}", std::process::id());
/// let attr = MqAttr { max_messages: 2, message_size: 8 };
/// {
///     let mut q = RemoveOnDrop::new(PosixMq::create(&name, attr)?);
///     q.send(b"hi")?; // the guard derefs to the queue
///     assert_eq!(q.recv_vec()?, b"hi");
/// }
/// assert!(PosixMq::open(&name).is_err()); // unlinked by the guard
///
/// let kept = RemoveOnDrop::new(PosixMq::create(&name, attr)?).keep();
/// drop(kept);
/// PosixMq::unlink(&name)?; // still there: removed by hand
/// # Ok::<(), ipckit::Error>(())
/// ```
#[derive(Debug)]
pub struct RemoveOnDrop<T: Remove> {
    /// `None` only after `keep` or `remove` took it.
    value: Option<T>,
    /// The process that made the guard, the only one whose drop removes.
    pid: u32,
}

impl<T: Remove> RemoveOnDrop<T> {
    /// Guards `value`: its object is removed when the guard drops.
    pub fn new(value: T) -> Self {
        Self {
            value: Some(value),
            pid: std::process::id(),
        }
    }

    /// Disarms the guard: the object stays; returns it.
    pub fn keep(mut self) -> T {
        self.take()
    }

    /// Removes the object now, reporting a failure; returns the (still
    /// open) handle.
    pub fn remove(mut self) -> Result<T> {
        let value = self.take();
        value.remove_object()?;
        Ok(value)
    }

    fn take(&mut self) -> T {
        match self.value.take() {
            Some(v) => v,
            // `value` is `Some` from `new` until `keep`/`remove`, which
            // consume the guard.
            None => unreachable!("a guard's value is taken only once"),
        }
    }
}

impl<T: Remove> Deref for RemoveOnDrop<T> {
    type Target = T;

    fn deref(&self) -> &T {
        match &self.value {
            Some(v) => v,
            None => unreachable!("a guard's value is taken only by consuming it"),
        }
    }
}

impl<T: Remove> DerefMut for RemoveOnDrop<T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.value {
            Some(v) => v,
            None => unreachable!("a guard's value is taken only by consuming it"),
        }
    }
}

/// A guarded path (or name) passes where the path itself would.
impl<T: Remove + AsRef<U>, U: ?Sized> AsRef<U> for RemoveOnDrop<T> {
    fn as_ref(&self) -> &U {
        (**self).as_ref()
    }
}

impl<T: Remove> Drop for RemoveOnDrop<T> {
    fn drop(&mut self) {
        if let Some(v) = &self.value {
            if self.pid == std::process::id() {
                let _ = v.remove_object();
            }
        }
    }
}

impl Remove for crate::shm::ShmName {
    /// `shm_unlink` of the name (say, of a channel's object).
    fn remove_object(&self) -> Result<()> {
        crate::shm::ShmObject::remove(self.as_str())
    }
}

impl Remove for std::path::PathBuf {
    /// Removes the file at this path (a mapped file, a FIFO or a socket
    /// file that another process of ours created, say).
    fn remove_object(&self) -> Result<()> {
        std::fs::remove_file(self).map_err(|e| Error::os("unlink", self.display().to_string(), e))
    }
}

impl Remove for crate::shm::ShmObject {
    fn remove_object(&self) -> Result<()> {
        crate::shm::ShmObject::remove(self.name().as_str())
    }
}

impl Remove for crate::shm::MappedFile {
    fn remove_object(&self) -> Result<()> {
        crate::shm::MappedFile::remove(self.path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::{ShmName, ShmObject};

    #[test]
    fn modes_outside_rwx_are_refused() {
        let e = check_mode(0o4600, "shm_open", "/x").unwrap_err();
        assert!(e.to_string().contains("/x"), "{e}");
        assert!(e.to_string().contains("0o4600"), "{e}");
        check_mode(0o777, "shm_open", "/x").unwrap();
    }

    #[test]
    fn guard_removes_only_in_its_process_and_not_when_kept() {
        let name = format!("ipckit-unit-guard-{}", std::process::id());
        let obj = ShmObject::create(&name, 4096).unwrap();
        let guard = ShmName::new(&name).unwrap().remove_on_drop();
        // A guard that another process made (as after fork) leaves it.
        let mut foreign = ShmName::new(&name).unwrap().remove_on_drop();
        foreign.pid = foreign.pid.wrapping_add(1);
        drop(foreign);
        assert!(ShmObject::open(&name).is_ok());
        let name_back = guard.keep();
        assert!(ShmObject::open(&name).is_ok());
        let guard = RemoveOnDrop::new(name_back);
        drop(guard);
        assert!(matches!(ShmObject::open(&name), Err(Error::NotFound(_))));
        // Removing again reports the missing name instead of panicking.
        let e = RemoveOnDrop::new(obj).remove().unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{e}");
        assert!(e.to_string().contains(&name), "{e}");
    }

    #[test]
    fn a_guarded_path_is_a_path_and_goes_on_drop() {
        let path = std::env::temp_dir().join(format!("ipckit-unit-guard-{}", std::process::id()));
        std::fs::write(&path, b"x").unwrap();
        let guard = path.clone().remove_on_drop();
        let as_path: &std::path::Path = guard.as_ref();
        assert_eq!(std::fs::read(as_path).unwrap(), b"x");
        drop(guard);
        assert!(!path.exists());
        let e = path.clone().remove_on_drop().remove().unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{e}");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    }
}

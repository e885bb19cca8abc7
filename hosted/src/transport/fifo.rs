//! Named pipes (FIFOs, `mkfifo(3)`) carrying framed messages between
//! processes that share nothing but a path.
//!
//! [`Fifo::create`] makes the FIFO (mode 0600, `EEXIST` is
//! [`Error::AlreadyExists`]; [`Fifo::create_with_mode`] with exactly
//! another mode, the umask notwithstanding) and is its drop guard: dropping
//! it in the process that created it removes the path, unless
//! [`Fifo::keep`] was called; [`Fifo::unlink`] / [`Fifo::remove`] remove it
//! explicitly.
//!
//! Each end opens only its direction (`O_RDONLY` / `O_WRONLY`), so a user
//! allowed only to write a FIFO can send. The `open` functions accept a
//! FIFO of this user that nobody else may write ([`Trust::Owner`]); another
//! user's, or one that others may write (where they could interleave forged
//! frames), is [`Error::Untrusted`] unless the caller opts in with
//! `open_with` and a [`Trust`] that accepts it.
//!
//! # No open deadlock
//! A plain `open` of a FIFO blocks until the other side opens it too, so
//! two processes that open their ends in the wrong order wait for each
//! other forever. Here neither side blocks in `open`:
//! - [`FifoReceiver::open`] opens `O_RDONLY | O_NONBLOCK`, which always
//!   succeeds at once. Until a writer opens the FIFO, a receive waits (up
//!   to its timeout) as for an empty stream; after a writer has come and
//!   gone, the receiver reports [`Error::PeerGone`] (or `Truncated`, when
//!   it left inside a frame), once everything it wrote is received.
//! - [`FifoSender::open`] opens `O_WRONLY | O_NONBLOCK`, which fails with
//!   `ENXIO` while there is no reader; it retries (every millisecond) until
//!   a reader appears or its timeout passes
//!   ([`TimedOut`](crate::Error::TimedOut)).
//!
//! Frames, timeouts and `SIGPIPE` are as in the [stream module](super::stream)
//! module: a sender whose reader is gone gets `PeerGone`. Several senders
//! may share one FIFO; a frame of at most `PIPE_BUF` (4096) bytes, prefix
//! included, is written atomically, larger ones may interleave, so give
//! each writer its own FIFO when messages are larger.
//!
//! ```
//! use ipckit::message::{MessageReceiver, MessageSender};
//! use ipckit::transport::fifo::{Fifo, FifoReceiver, FifoSender};
//!
//! let path = std::env::temp_dir().join(format!("ipckit-doc-fifo-{}", std::process::id()));
//! let fifo = Fifo::create(&path)?; // removed when `fifo` drops
//! let mut rx = FifoReceiver::open(fifo.path(), 1024)?;
//! let mut tx = FifoSender::open(fifo.path(), 1024, None)?;
//! tx.send(b"by name")?;
//! assert_eq!(rx.recv_vec()?, b"by name");
//! # Ok::<(), ipckit::Error>(())
//! ```

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::stream::{Deadline, FramedReader, FramedWriter};
use crate::error::{Error, OsError, Result};
use crate::message::{MessageReceiver, MessageSender};
use crate::object::{DEFAULT_MODE, check_mode, fchmod, fd_mode};
use crate::shm::Trust;

fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::InvalidName {
        name: path.display().to_string(),
        reason: "a path contains no NUL byte",
    })
}

/// Opens `path` with `flags | O_NONBLOCK | O_CLOEXEC` and checks that it
/// is a FIFO; the caller checks its [`Trust`].
fn open(path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = c_path(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `c` is a NUL-terminated path that lives across the call.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_NONBLOCK | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `open` succeeded: the descriptor is new and ours alone.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let meta = std::fs::File::from(fd.try_clone()?).metadata()?;
    use std::os::unix::fs::FileTypeExt;
    if !meta.file_type().is_fifo() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a FIFO"));
    }
    Ok(fd)
}

/// A FIFO this process created: the drop guard of its path.
#[derive(Debug)]
pub struct Fifo {
    path: PathBuf,
    /// The creating process, the only one whose drop removes the path.
    owner: Option<u32>,
}

impl Fifo {
    /// Creates a FIFO at `path` with mode 0600.
    /// [`Error::AlreadyExists`] if anything exists at `path`.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        Self::create_with_mode(path, DEFAULT_MODE)
    }

    /// [`create`](Self::create) with exactly the permission bits `mode` (at
    /// most `0o777`; say `0o620` to let the group write): `mkfifo` applies
    /// the umask, so the FIFO is opened (`O_NOFOLLOW`, without waiting) and
    /// `fchmod`ed after. Openers of a FIFO others may write opt in with a
    /// [`Trust`] (`open_with`).
    pub fn create_with_mode(path: impl AsRef<Path>, mode: u32) -> Result<Self> {
        let path = path.as_ref();
        let target = path.display().to_string();
        let c = c_path(path)?;
        check_mode(mode, "mkfifo", &target)?;
        // SAFETY: `c` is a NUL-terminated path that lives across the call.
        if unsafe { libc::mkfifo(c.as_ptr(), mode as libc::mode_t) } < 0 {
            return Err(Error::last_os("mkfifo", target));
        }
        // The guard from here: an error below removes the path again.
        let fifo = Self {
            path: path.to_path_buf(),
            owner: Some(std::process::id()),
        };
        // Not by path (`chmod`): the FIFO we made is what gets the mode.
        let fd = open(path, libc::O_RDONLY | libc::O_NOFOLLOW)
            .map_err(|e| Error::os("open", target.clone(), e))?;
        fchmod(fd.as_fd(), mode, &target)?;
        Ok(fifo)
    }

    /// The FIFO's permission bits now (`stat` of the path).
    pub fn mode(&self) -> Result<u32> {
        let target = self.path.display().to_string();
        let fd = open(&self.path, libc::O_RDONLY | libc::O_NOFOLLOW)
            .map_err(|e| Error::os("open", target.clone(), e))?;
        fd_mode(fd.as_fd(), &target)
    }

    /// The FIFO's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Disarms the drop guard: the FIFO stays in the filesystem.
    pub fn keep(mut self) -> PathBuf {
        self.owner = None;
        std::mem::take(&mut self.path)
    }

    /// Removes the FIFO now (open ends keep working).
    pub fn unlink(mut self) -> Result<()> {
        self.owner = None;
        Self::remove(&self.path)
    }

    /// Removes the FIFO (any file) at `path`.
    pub fn remove(path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::remove_file(path).map_err(|e| Error::os("unlink", path.display().to_string(), e))
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        if self.owner == Some(std::process::id()) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The writing end of a FIFO: sends framed messages.
#[derive(Debug)]
pub struct FifoSender(FramedWriter<OwnedFd>);

impl FifoSender {
    /// Opens the FIFO at `path` for writing frames of at most
    /// `max_frame_len` bytes, waiting at most `timeout` for a reader to
    /// open it ([`TimedOut`](crate::Error::TimedOut) after that, also for a
    /// zero timeout). The FIFO must be this user's and writable by nobody
    /// else ([`Trust::Owner`]), else [`Error::Untrusted`].
    pub fn open(
        path: impl AsRef<Path>,
        max_frame_len: u32,
        timeout: Option<Duration>,
    ) -> Result<Self> {
        Self::open_with(path, max_frame_len, timeout, Trust::Owner)
    }

    /// [`open`](Self::open), accepting the owners and modes `trust` accepts
    /// (checked with `fstat` on the opened descriptor).
    pub fn open_with(
        path: impl AsRef<Path>,
        max_frame_len: u32,
        timeout: Option<Duration>,
        trust: Trust,
    ) -> Result<Self> {
        let path = path.as_ref();
        let deadline = Deadline::new(timeout);
        loop {
            match open(path, libc::O_WRONLY) {
                Ok(fd) => {
                    trust.check(fd.as_fd(), &path.display().to_string())?;
                    return FramedWriter::new(fd, max_frame_len).map(Self);
                }
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                    if deadline.passed() {
                        return Err(Error::TimedOut);
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) if e.raw_os_error().is_none() => {
                    return Err(Error::Os(OsError::new(
                        "open",
                        path.display().to_string(),
                        e,
                    )));
                }
                Err(e) => return Err(Error::os("open", path.display().to_string(), e)),
            }
        }
    }

    /// See [`FramedWriter::flush`].
    pub fn flush(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.0.flush(timeout)
    }
}

impl MessageSender for FifoSender {
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.0.send_timeout(msg, timeout)
    }

    fn max_message_len(&self) -> usize {
        MessageSender::max_message_len(&self.0)
    }

    fn flush(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.0.flush(timeout)
    }
}

impl AsFd for FifoSender {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.get_ref().as_fd()
    }
}

/// The reading end of a FIFO: receives framed messages.
#[derive(Debug)]
pub struct FifoReceiver(FramedReader<OwnedFd>);

impl FifoReceiver {
    /// Opens the FIFO at `path` for reading frames of at most
    /// `max_frame_len` bytes; never waits for a writer. The FIFO must be
    /// this user's and writable by nobody else ([`Trust::Owner`]), else
    /// [`Error::Untrusted`].
    pub fn open(path: impl AsRef<Path>, max_frame_len: u32) -> Result<Self> {
        Self::open_with(path, max_frame_len, Trust::Owner)
    }

    /// [`open`](Self::open), accepting the owners and modes `trust` accepts
    /// (checked with `fstat` on the opened descriptor).
    pub fn open_with(path: impl AsRef<Path>, max_frame_len: u32, trust: Trust) -> Result<Self> {
        let path = path.as_ref();
        let fd = open(path, libc::O_RDONLY).map_err(|e| {
            if e.raw_os_error().is_none() {
                Error::Os(OsError::new("open", path.display().to_string(), e))
            } else {
                Error::os("open", path.display().to_string(), e)
            }
        })?;
        trust.check(fd.as_fd(), &path.display().to_string())?;
        FramedReader::new_fifo(fd, max_frame_len).map(Self)
    }
}

impl MessageReceiver for FifoReceiver {
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        self.0.recv_timeout(buf, timeout)
    }

    fn max_message_len(&self) -> usize {
        MessageReceiver::max_message_len(&self.0)
    }
}

impl AsFd for FifoReceiver {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.get_ref().as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(what: &str) -> PathBuf {
        std::env::temp_dir().join(format!("ipckit-unit-fifo-{}-{what}", std::process::id()))
    }

    #[test]
    fn mode_is_exact_and_others_writable_needs_an_opt_in() {
        let path = temp("mode");
        let fifo = Fifo::create(&path).unwrap();
        assert_eq!(fifo.mode().unwrap(), 0o600);
        drop(fifo);
        assert!(!path.exists());
        // 0o666 is what a umask of 022 would cut to 0o644.
        let fifo = Fifo::create_with_mode(&path, 0o666).unwrap();
        assert_eq!(fifo.mode().unwrap(), 0o666);
        let e = FifoReceiver::open(&path, 64).unwrap_err();
        assert!(matches!(e, Error::Untrusted { mode: 0o666, .. }), "{e}");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        let mut rx = FifoReceiver::open_with(&path, 64, Trust::Anyone).unwrap();
        let e = FifoSender::open(&path, 64, Some(Duration::ZERO)).unwrap_err();
        assert!(matches!(e, Error::Untrusted { .. }), "{e}");
        let mut tx = FifoSender::open_with(&path, 64, None, Trust::Anyone).unwrap();
        tx.send(b"opted in").unwrap();
        assert_eq!(rx.recv_vec().unwrap(), b"opted in");
    }

    #[test]
    fn bad_modes_and_non_fifos_are_named_errors() {
        let path = temp("bad");
        let e = Fifo::create_with_mode(&path, 0o1600).unwrap_err();
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        assert!(!path.exists());
        std::fs::write(&path, b"plain").unwrap();
        let e = FifoReceiver::open(&path, 64).unwrap_err();
        assert!(e.to_string().contains("not a FIFO"), "{e}");
        Fifo::remove(&path).unwrap();
    }
}

//! File-based messaging: an append-only log of length-prefixed records that
//! several writer processes append to and readers follow (`tail -f`).
//!
//! # Format
//! The file is a sequence of records, each the core codec's frame
//! ([`frame::codec`](crate::frame::codec)): a [`PREFIX_LEN`]-byte
//! little-endian length, then that many payload bytes. Nothing else: a log
//! written by one program can be read by any other that knows the codec.
//!
//! # Writers: whole records, never interleaved
//! A [`LogWriter`] opens the file with `O_APPEND` and appends each record
//! while holding an *open file description* lock (`F_OFD_SETLKW`, a write
//! lock on the whole file). OFD locks belong to the open file, not the
//! process, so they also exclude two writers in one process (threads) and
//! are not dropped when the process closes another descriptor of the file,
//! unlike classic `F_SETLK` locks. Under the lock the prefix and payload go
//! out in one `writev` (repeated if the kernel writes less); if a write
//! fails (`ENOSPC`, say) the file is cut back to its length before the
//! record, so a failed append leaves no partial record behind. A writer
//! killed in the middle of a record can still leave one; see below.
//!
//! A zero timeout tries the lock once ([`Full`](Error::Full) if another
//! writer holds it); other timeouts retry with short sleeps
//! ([`TimedOut`](Error::TimedOut)).
//!
//! # Readers: following the log
//! A [`LogReader`] reads records from an offset (0, or where a previous
//! reader stopped: [`LogReader::offset`]). At the end of the file it waits
//! by polling: yields, then sleeps from 20 µs doubling to 1 ms between
//! looks (simple and portable; no inotify, so a record is seen up to 1 ms
//! after it lands while the log is idle). At the end it tells apart:
//! - a clean end (no byte after the last record): wait;
//! - a record begun but not complete, while a writer holds the lock: it is
//!   being written, wait;
//! - a record begun but not complete while *no* writer holds the lock: its
//!   writer died mid-record; [`Truncated`](CoreError::Truncated) with the
//!   bytes missing (re-checked after seeing the lock free, so a writer that
//!   just finished is not mistaken for a dead one);
//! - a length above the reader's maximum: the log is corrupt (or written
//!   with a larger maximum): [`FrameTooLarge`](CoreError::FrameTooLarge).
//!
//! After an error the reader stays at the record's offset, so nothing is
//! skipped silently; a caller may [`seek`](LogReader::seek) past it. A
//! buffer shorter than the next record is
//! [`BufferTooSmall`](CoreError::BufferTooSmall) with the record's length,
//! and the record stays unread. A reader cannot know whether writers are
//! gone: give it a timeout.
//!
//! ```
//! use std::time::Duration;
//! use ipckit::message::{MessageReceiver, MessageSender};
//! use ipckit::transport::file_log::{LogReader, LogWriter};
//!
//! let path = std::env::temp_dir().join(format!("ipckit-doc-log-{}", std::process::id()));
//! let mut w = LogWriter::create(&path, 1024)?;
//! w.send(b"first")?;
//! w.send(b"second")?;
//! let mut r = LogReader::open(&path, 1024)?;
//! assert_eq!(r.recv_vec()?, b"first");
//! assert_eq!(r.recv_vec()?, b"second");
//! let mut buf = [0; 1024];
//! assert!(r.recv_timeout(&mut buf, Some(Duration::from_millis(5))).is_err()); // TimedOut
//! LogWriter::remove(&path)?;
//! # Ok::<(), ipckit::Error>(())
//! ```

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::deadline::Poller;
use crate::error::{CoreError, Error, Result};
use crate::frame::codec::{Encoder, PREFIX_LEN};
use crate::message::{MessageReceiver, MessageSender};

/// The longest sleep between looks at the end of the log or at a held
/// lock.
const MAX_POLL_SLEEP: Duration = Duration::from_millis(1);

fn whole_file_lock(kind: libc::c_int) -> libc::flock {
    // SAFETY: all-zero is a valid `flock`; OFD locks require `l_pid` 0.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = 0;
    lock.l_len = 0; // to the end of the file, however long it grows
    lock
}

/// Appends records to a log file.
#[derive(Debug)]
pub struct LogWriter {
    file: File,
    path: PathBuf,
    encoder: Encoder,
}

impl LogWriter {
    /// Creates the log at `path` (`O_EXCL`, mode 0600) for records of at
    /// most `max_record_len` bytes. [`Error::AlreadyExists`] if it exists.
    pub fn create(path: impl AsRef<Path>, max_record_len: u32) -> Result<Self> {
        Self::open_with(path.as_ref(), max_record_len, true)
    }

    /// Opens the existing log at `path` for appending.
    pub fn open(path: impl AsRef<Path>, max_record_len: u32) -> Result<Self> {
        Self::open_with(path.as_ref(), max_record_len, false)
    }

    fn open_with(path: &Path, max_record_len: u32, create: bool) -> Result<Self> {
        let file = OpenOptions::new()
            .append(true)
            .create_new(create)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| Error::os("open", path.display().to_string(), e))?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            encoder: Encoder::new(max_record_len),
        })
    }

    /// Removes the log file (readers and writers that have it open keep
    /// it until they close).
    pub fn remove(path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::remove_file(path).map_err(|e| Error::os("unlink", path.display().to_string(), e))
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn target(&self) -> String {
        self.path.display().to_string()
    }

    /// Takes the whole-file write lock, waiting at most `timeout`.
    fn lock(&self, timeout: Option<Duration>) -> Result<()> {
        let fd = self.file.as_raw_fd();
        let lock = whole_file_lock(libc::F_WRLCK);
        let mut poller = Poller::new(timeout, MAX_POLL_SLEEP);
        let cmd = if timeout.is_none() {
            libc::F_OFD_SETLKW
        } else {
            libc::F_OFD_SETLK
        };
        loop {
            // SAFETY: our descriptor; `lock` is a valid `flock`.
            if unsafe { libc::fcntl(fd, cmd, &lock) } == 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN | libc::EACCES) => poller.pause(Error::Full)?,
                _ => return Err(Error::os("fcntl(F_OFD_SETLK)", self.target(), err)),
            }
        }
    }

    fn unlock(&self) {
        let lock = whole_file_lock(libc::F_UNLCK);
        // SAFETY: our descriptor; `lock` is a valid `flock`. Unlocking a
        // lock we hold cannot fail in a way we could act on.
        unsafe { libc::fcntl(self.file.as_raw_fd(), libc::F_OFD_SETLK, &lock) };
    }

    /// Appends `msg` as one record, waiting at most `timeout` for the lock.
    /// A record longer than the maximum is refused with
    /// [`FrameTooLarge`](CoreError::FrameTooLarge) before anything is
    /// locked or written.
    pub fn append(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        let prefix = self.encoder.encode_prefix(msg.len())?;
        self.lock(timeout)?;
        let result = self.write_record(&prefix, msg);
        self.unlock();
        result
    }

    /// Writes prefix and payload under the lock; on failure cuts the file
    /// back to where the record began.
    fn write_record(&mut self, prefix: &[u8; PREFIX_LEN], msg: &[u8]) -> Result<()> {
        let start = self
            .file
            .metadata()
            .map_err(|e| Error::os("fstat", self.target(), e))?
            .len();
        let total = PREFIX_LEN + msg.len();
        let mut done = 0;
        while done < total {
            let (p, m) = if done < PREFIX_LEN {
                (&prefix[done..], msg)
            } else {
                (&prefix[..0], &msg[done - PREFIX_LEN..])
            };
            let iov = [
                libc::iovec {
                    iov_base: p.as_ptr() as *mut libc::c_void,
                    iov_len: p.len(),
                },
                libc::iovec {
                    iov_base: m.as_ptr() as *mut libc::c_void,
                    iov_len: m.len(),
                },
            ];
            // SAFETY: our descriptor; both iovecs point at live slices of
            // their lengths, which the kernel only reads.
            let r = unsafe { libc::writev(self.file.as_raw_fd(), iov.as_ptr(), 2) };
            if r < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                let _ = self.file.set_len(start);
                return Err(Error::os("writev", self.target(), err));
            }
            done += r as usize;
        }
        Ok(())
    }
}

impl MessageSender for LogWriter {
    /// [`append`](LogWriter::append); the timeout bounds the wait for the
    /// lock.
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.append(msg, timeout)
    }

    fn max_message_len(&self) -> usize {
        self.encoder.max_frame_len() as usize
    }
}

/// Follows a log file from an offset, record by record.
#[derive(Debug)]
pub struct LogReader {
    file: File,
    path: PathBuf,
    offset: u64,
    max: u32,
}

/// What the bytes at a reader's offset hold.
enum Next {
    Record(usize),
    /// No byte after the offset.
    End,
    /// A record begun with this many bytes (prefix included) missing.
    Partial(usize),
}

impl LogReader {
    /// Opens the log at `path` to read from its start, records of at most
    /// `max_record_len` bytes.
    pub fn open(path: impl AsRef<Path>, max_record_len: u32) -> Result<Self> {
        Self::open_at(path, 0, max_record_len)
    }

    /// Opens the log to read from byte `offset`, which must be the start
    /// of a record (0, or an [`offset`](Self::offset) of an earlier reader).
    pub fn open_at(path: impl AsRef<Path>, offset: u64, max_record_len: u32) -> Result<Self> {
        let path = path.as_ref();
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| Error::os("open", path.display().to_string(), e))?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            offset,
            max: max_record_len,
        })
    }

    /// The offset of the next record.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Moves to `offset` (the start of a record), for a caller that skips
    /// a damaged one after an error.
    pub fn seek(&mut self, offset: u64) {
        self.offset = offset;
    }

    fn target(&self) -> String {
        self.path.display().to_string()
    }

    /// Reads as much of `buf` as the file holds at `at`; returns the count.
    fn read_at(&self, buf: &mut [u8], at: u64) -> Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            match self.file.read_at(&mut buf[got..], at + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::os("pread", self.target(), e)),
            }
        }
        Ok(got)
    }

    fn peek(&mut self, buf: &mut [u8]) -> Result<Next> {
        let mut prefix = [0u8; PREFIX_LEN];
        let got = self.read_at(&mut prefix, self.offset)?;
        if got == 0 {
            return Ok(Next::End);
        }
        if got < PREFIX_LEN {
            return Ok(Next::Partial(PREFIX_LEN - got));
        }
        let len = u32::from_le_bytes(prefix);
        if len > self.max {
            return Err(CoreError::FrameTooLarge { len, max: self.max }.into());
        }
        let len = len as usize;
        let Some(out) = buf.get_mut(..len) else {
            return Err(CoreError::BufferTooSmall { required: len }.into());
        };
        let got = self.read_at(out, self.offset + PREFIX_LEN as u64)?;
        if got < len {
            return Ok(Next::Partial(len - got));
        }
        Ok(Next::Record(len))
    }

    /// `true` while some writer holds the log's lock.
    fn writer_active(&self) -> Result<bool> {
        let mut lock = whole_file_lock(libc::F_WRLCK);
        // SAFETY: our descriptor; `lock` is a valid in/out `flock`.
        if unsafe { libc::fcntl(self.file.as_raw_fd(), libc::F_OFD_GETLK, &mut lock) } != 0 {
            return Err(Error::last_os("fcntl(F_OFD_GETLK)", self.target()));
        }
        Ok(lock.l_type != libc::F_UNLCK as libc::c_short)
    }

    /// Reads the next record into `buf` if it is complete now: `Ok(None)`
    /// at the end of the log or inside a record being written.
    pub fn try_next(&mut self, buf: &mut [u8]) -> Result<Option<usize>> {
        let next = match self.peek(buf)? {
            Next::Partial(_) => {
                if self.writer_active()? {
                    return Ok(None);
                }
                // No writer held the lock just now, so every record begun
                // before (ours was) is complete, unless its writer died
                // mid-record. (Records begun since come after ours.)
                match self.peek(buf)? {
                    Next::Partial(missing) => {
                        return Err(CoreError::Truncated { missing }.into());
                    }
                    other => other,
                }
            }
            other => other,
        };
        match next {
            Next::Record(len) => {
                self.offset += (PREFIX_LEN + len) as u64;
                Ok(Some(len))
            }
            Next::End | Next::Partial(_) => Ok(None),
        }
    }
}

impl MessageReceiver for LogReader {
    /// Waits (polling, see the [module docs](self)) for the next complete
    /// record.
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        let mut poller = Poller::new(timeout, MAX_POLL_SLEEP);
        loop {
            if let Some(n) = self.try_next(buf)? {
                return Ok(n);
            }
            poller.pause(Error::Empty)?;
        }
    }

    fn max_message_len(&self) -> usize {
        self.max as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn path(what: &str) -> PathBuf {
        std::env::temp_dir().join(format!("ipckit-unit-log-{}-{what}", std::process::id()))
    }

    #[test]
    fn torn_and_corrupt_records() {
        let p = path("torn");
        let mut w = LogWriter::create(&p, 64).unwrap();
        assert!(matches!(
            LogWriter::create(&p, 64),
            Err(Error::AlreadyExists(_))
        ));
        w.send(b"ok").unwrap();
        assert_eq!(
            w.send(&[0; 65]).unwrap_err().core(),
            Some(CoreError::FrameTooLarge { len: 65, max: 64 })
        );
        // A writer that died after 3 of 10 payload bytes.
        let mut raw = OpenOptions::new().append(true).open(&p).unwrap();
        raw.write_all(&[10, 0, 0, 0, 1, 2, 3]).unwrap();
        let mut r = LogReader::open(&p, 64).unwrap();
        let mut buf = [0; 64];
        assert_eq!(r.try_recv(&mut buf).unwrap(), 2);
        let at = r.offset();
        assert_eq!(
            r.try_recv(&mut buf).unwrap_err().core(),
            Some(CoreError::Truncated { missing: 7 })
        );
        assert_eq!(r.offset(), at);
        // The rest arrives: the record completes.
        raw.write_all(&[4, 5, 6, 7, 8, 9, 10]).unwrap();
        assert_eq!(r.try_recv(&mut buf).unwrap(), 10);
        assert!(r.try_recv(&mut [0; 1]).unwrap_err().is_empty());
        raw.write_all(&[0xff, 0xff, 0xff, 0xff]).unwrap();
        assert_eq!(
            r.try_recv(&mut buf).unwrap_err().core(),
            Some(CoreError::FrameTooLarge {
                len: u32::MAX,
                max: 64
            })
        );
        w.send(b"x").unwrap();
        let mut r2 = LogReader::open(&p, 64).unwrap();
        assert_eq!(
            r2.try_recv(&mut [0; 1]).unwrap_err().core(),
            Some(CoreError::BufferTooSmall { required: 2 })
        );
        LogWriter::remove(&p).unwrap();
    }
}

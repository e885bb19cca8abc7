//! System V message queues (`msgget(2)`, `msgsnd(2)`, `msgrcv(2)`):
//! kernel queues of typed messages, named by a numeric key or anonymous.
//!
//! [`SysvMq::create`] makes a queue for a key with `IPC_CREAT | IPC_EXCL`
//! and mode 0600 ([`Error::AlreadyExists`] if the key is taken);
//! [`SysvMq::create_private`] an anonymous one (`IPC_PRIVATE`) whose id is
//! handed to a forked child or passed as a number ([`SysvMq::from_id`]);
//! [`SysvMq::open`] opens a key's queue; [`key_from_path`] derives a key
//! from a file with `ftok(3)`.
//!
//! A System V queue is not a file descriptor: dropping a [`SysvMq`] closes
//! nothing, and the queue lives (in `/proc/sysvipc/msg`, `ipcs -q`) until
//! [`SysvMq::remove`] (`IPC_RMID`) or a reboot. Remove what you create.
//!
//! # Message types
//! Every message carries a type, an integer above 0. [`SysvMq::send_typed`]
//! sends with a type; [`SysvMq::recv_typed`] receives by type: 0 takes the
//! oldest message, `t > 0` the oldest of type `t`, `t < 0` the oldest of
//! the lowest type up to `|t|`. The [message traits](crate::message) use
//! the endpoint's default types, [`DEFAULT_TYPE`] to send and 0 (any) to
//! receive, set with [`SysvMq::set_default_types`]. Types let several
//! readers share one queue (one type per reader, say its pid).
//!
//! # Sizes and limits
//! A message holds at most [`SysvMq::max_message_len`] bytes:
//! `/proc/sys/kernel/msgmax`, read at open, and again when a message to
//! send (or one waiting in the queue) is longer than the value read; a
//! longer one is refused with [`FrameTooLarge`](CoreError::FrameTooLarge)
//! before any call.
//!
//! The queue's byte capacity (`msg_qbytes`, initially
//! `/proc/sys/kernel/msgmnb`) can be changed at any time by its owner
//! (`IPC_SET`, [`SysvMq::set_capacity`]), so it is read when it matters,
//! never cached: a send that finds no room reads it, and a message longer
//! than the capacity (it can never fit) is refused with a [`LimitExceeded`]
//! naming [`QBYTES_LIMIT`] and the queue, not left waiting. A queue enlarged
//! by another process takes longer messages at once. [`SysvMq::capacity`]
//! reads it; [`SysvMq::set_capacity`] checks against `msgmnb`
//! ([`LimitExceeded`]; a privileged process could go beyond).
//!
//! A receive buffer shorter than the next message is
//! [`BufferTooSmall`](CoreError::BufferTooSmall): `msgrcv` is called
//! without `MSG_NOERROR`, so it fails with `E2BIG` and the kernel *leaves
//! the message queued* (it would otherwise truncate it silently). `E2BIG`
//! does not tell the message's length, so `required` is
//! [`max_message_len`](SysvMq::max_message_len), enough for any message
//! (or the highest `msgmax` seen, if it was lowered since).
//!
//! # Permissions
//! Opening asks for no access: `msgget(key, 0)`, and a check that the id
//! exists which succeeds without read permission. Sending needs write
//! permission only and receiving read permission only, so a process that
//! may only write a queue (mode 0602 of another user, say) opens it and
//! sends; its receive is [`Error::PermissionDenied`]. Where reading the
//! queue's state (`IPC_STAT`) is not allowed, `MSG_STAT_ANY` (Linux 4.17)
//! reads the capacity instead.
//!
//! # Timeouts
//! System V queues have no timed send or receive. A receive with `None`
//! blocks in the kernel; a zero timeout is one `IPC_NOWAIT` attempt
//! ([`Full`](Error::Full)/[`Empty`](Error::Empty)); any other
//! timeout retries `IPC_NOWAIT` attempts with sleeps growing from 20 µs to
//! 1 ms, so a message that arrives during a timed wait is seen up to 1 ms
//! late. A send always waits that way, `None` included: a sender blocked in
//! the kernel could not notice a capacity shrunk below its message, and
//! would wait forever.
//!
//! # Removal
//! A queue removed (`IPC_RMID`) under a caller, or before a later call, is
//! [`Error::Removed`] naming `msqid N`; for the message interface that is
//! the end of the conversation ([`Error::is_peer_gone`] matches it). An
//! argument the kernel refuses while the queue exists (`EINVAL`) is an
//! [`Error::Os`] naming the queue; a message above a `msgmax` lowered after
//! open is a [`LimitExceeded`] naming [`MSGMAX_PATH`].
//!
//! ```
//! use ipckit::message::{MessageReceiver, MessageSender};
//! use ipckit::transport::sysv_mq::SysvMq;
//!
//! let mut q = SysvMq::create_private()?;
//! q.send_typed(2, b"two", None)?;
//! q.send_typed(1, b"one", None)?;
//! let mut buf = vec![0; q.max_message_len()];
//! assert_eq!(q.recv_typed(1, &mut buf, None)?, (3, 1)); // by type
//! assert_eq!(q.recv(&mut buf)?, 3); // any type: "two"
//! q.remove()?;
//! # Ok::<(), ipckit::Error>(())
//! ```

use std::ffi::CString;
use std::io;
use std::path::Path;
use std::time::Duration;

use super::deadline::Poller;
use super::limits::{LimitExceeded, read_proc_limit};
use crate::error::{CoreError, Error, OsError, Result};
use crate::message::{MessageReceiver, MessageSender};

/// The largest message the system allows.
pub const MSGMAX_PATH: &str = "/proc/sys/kernel/msgmax";
/// The default (and, unprivileged, largest) byte capacity of a queue.
pub const MSGMNB_PATH: &str = "/proc/sys/kernel/msgmnb";
/// The most queues in the system.
pub const MSGMNI_PATH: &str = "/proc/sys/kernel/msgmni";

/// The type the message traits send with, unless changed.
pub const DEFAULT_TYPE: i64 = 1;

/// The system's limits on System V message queues, from `/proc/sys/kernel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysvMqLimits {
    /// The longest message (`msgmax`).
    pub msgmax: u64,
    /// The default byte capacity of a queue (`msgmnb`).
    pub msgmnb: u64,
    /// The most queues (`msgmni`).
    pub msgmni: u64,
}

impl SysvMqLimits {
    /// Reads the three files.
    pub fn read() -> Result<Self> {
        Ok(Self {
            msgmax: read_proc_limit(MSGMAX_PATH)?,
            msgmnb: read_proc_limit(MSGMNB_PATH)?,
            msgmni: read_proc_limit(MSGMNI_PATH)?,
        })
    }
}

/// A key for `msgget`/`semget` derived from an existing file and a project
/// byte (`ftok(3)`): the same file and byte give the same key.
pub fn key_from_path(path: &Path, project: u8) -> Result<libc::key_t> {
    let shown = path.display().to_string();
    let c = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| {
        Error::Os(OsError::new(
            "ftok",
            shown.clone(),
            io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"),
        ))
    })?;
    if project == 0 {
        return Err(Error::Os(OsError::new(
            "ftok",
            shown,
            io::Error::new(io::ErrorKind::InvalidInput, "project byte 0 is reserved"),
        )));
    }
    // SAFETY: `c` is a NUL-terminated path.
    let key = unsafe { libc::ftok(c.as_ptr(), project.into()) };
    if key == -1 {
        return Err(Error::last_os("ftok", shown));
    }
    Ok(key)
}

/// The [`LimitExceeded::limit`] of a message longer than the queue's byte
/// capacity.
pub const QBYTES_LIMIT: &str = "msg_qbytes (the queue's capacity)";

/// `MSG_STAT_ANY` of `<linux/msg.h>` (absent from the `libc` crate).
const MSG_STAT_ANY: libc::c_int = 13;

/// A System V message queue, by id: send and receive end in one.
#[derive(Debug)]
pub struct SysvMq {
    id: libc::c_int,
    /// `msgmax` as last read.
    msgmax: usize,
    /// The highest `msgmax` read: the scratch holds a message this long
    /// (messages sent under a higher `msgmax` may still be queued).
    longest: usize,
    send_type: i64,
    recv_type: i64,
    /// `mtype` then `mtext`, as `msgsnd`/`msgrcv` want them.
    scratch: Vec<libc::c_long>,
}

const LONG: usize = std::mem::size_of::<libc::c_long>();

fn invalid(call: &'static str, target: String, msg: &'static str) -> Error {
    Error::Os(OsError::new(
        call,
        target,
        io::Error::new(io::ErrorKind::InvalidInput, msg),
    ))
}

impl SysvMq {
    /// Creates the queue of `key` (`IPC_CREAT | IPC_EXCL`, mode 0600).
    pub fn create(key: libc::key_t) -> Result<Self> {
        Self::get(key, libc::IPC_CREAT | libc::IPC_EXCL | 0o600)
    }

    /// Creates an anonymous queue (`IPC_PRIVATE`, mode 0600), reachable by
    /// its [`id`](Self::id).
    pub fn create_private() -> Result<Self> {
        Self::get(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600)
    }

    /// Opens the existing queue of `key`, for sending, receiving or both:
    /// no permission is needed to open (see the [module docs](self)).
    pub fn open(key: libc::key_t) -> Result<Self> {
        Self::get(key, 0)
    }

    /// Takes the queue with id `id` (from [`id`](Self::id) in another
    /// process), after checking that it exists.
    ///
    /// [`Error::NotFound`] if no queue has this id (never created, or
    /// removed); [`Error::Os`] with `EINVAL` for an id below 0.
    pub fn from_id(id: i32) -> Result<Self> {
        let target = format!("msqid {id}");
        if id < 0 {
            return Err(Error::os(
                "msgctl(IPC_STAT)",
                target,
                io::Error::from_raw_os_error(libc::EINVAL),
            ));
        }
        match msg_stat(id) {
            Ok(_) => {}
            // It exists, and this user may not read its state: a sender.
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EIDRM)) => {
                return Err(Error::NotFound(OsError::new(
                    "msgctl(IPC_STAT)",
                    target,
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        "no queue has this id (never created, or removed)",
                    ),
                )));
            }
            Err(e) => return Err(Error::os("msgctl(IPC_STAT)", target, e)),
        }
        let mut q = Self {
            id,
            msgmax: 0,
            longest: 0,
            send_type: DEFAULT_TYPE,
            recv_type: 0,
            // The type, and no text until `refresh_msgmax` grows it.
            scratch: vec![0; 1],
        };
        q.refresh_msgmax()?;
        Ok(q)
    }

    fn get(key: libc::key_t, flags: libc::c_int) -> Result<Self> {
        // SAFETY: plain system call.
        let id = unsafe { libc::msgget(key, flags) };
        if id < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ENOSPC) {
                let max = read_proc_limit(MSGMNI_PATH).unwrap_or(0);
                return Err(LimitExceeded::new(MSGMNI_PATH, max + 1, max)
                    .into_error("msgget", format!("key {key:#x}")));
            }
            return Err(Error::os("msgget", format!("key {key:#x}"), err));
        }
        Self::from_id(id)
    }

    fn stat(&self) -> Result<libc::msqid_ds> {
        msg_stat(self.id).map_err(|e| self.os_error("msgctl(IPC_STAT)", e))
    }

    /// Reads `msgmax` again and grows the scratch to hold a message that
    /// long (never shrinks it: messages sent under a higher `msgmax` may
    /// still be queued); `true` if the scratch grew.
    fn refresh_msgmax(&mut self) -> Result<bool> {
        let msgmax = usize::try_from(read_proc_limit(MSGMAX_PATH)?).unwrap_or(usize::MAX);
        self.msgmax = msgmax;
        if msgmax <= self.longest {
            return Ok(false);
        }
        let longs = msgmax
            .div_ceil(LONG)
            .checked_add(1)
            .ok_or_else(|| invalid("msgsnd", self.target(), "msgmax does not fit in memory"))?;
        self.scratch.resize(longs, 0);
        self.longest = msgmax;
        Ok(true)
    }

    /// The queue's id (`/proc/sysvipc/msg`, `ipcs -q`).
    pub fn id(&self) -> i32 {
        self.id
    }

    /// The longest message: `msgmax` as last read. The queue's
    /// [`capacity`](Self::capacity) may be smaller (then such a message is
    /// refused when it is sent).
    pub fn max_message_len(&self) -> usize {
        self.msgmax
    }

    /// The messages queued now (`msg_qnum`).
    pub fn pending(&self) -> Result<usize> {
        Ok(self.stat()?.msg_qnum as usize)
    }

    /// The queue's capacity in bytes now (`msg_qbytes`).
    pub fn capacity(&self) -> Result<usize> {
        Ok(self.stat()?.msg_qbytes as usize)
    }

    /// Sets the capacity in bytes (`IPC_SET` of `msg_qbytes`); above
    /// `/proc/sys/kernel/msgmnb` is refused with a [`LimitExceeded`]. Every
    /// process using the queue sees the change at once.
    pub fn set_capacity(&mut self, bytes: usize) -> Result<()> {
        let msgmnb = read_proc_limit(MSGMNB_PATH)?;
        if bytes as u64 > msgmnb {
            return Err(LimitExceeded::new(MSGMNB_PATH, bytes as u64, msgmnb)
                .into_error("msgctl(IPC_SET)", self.target()));
        }
        let mut ds = self.stat()?;
        ds.msg_qbytes = bytes as _;
        // SAFETY: `ds` is a valid `msqid_ds` from IPC_STAT.
        if unsafe { libc::msgctl(self.id, libc::IPC_SET, &mut ds) } != 0 {
            return Err(self.os_error("msgctl(IPC_SET)", io::Error::last_os_error()));
        }
        Ok(())
    }

    /// The types the message traits use: `send` (above 0) and `recv` (see
    /// [`recv_typed`](Self::recv_typed)).
    pub fn set_default_types(&mut self, send: i64, recv: i64) -> Result<()> {
        if send < 1 {
            return Err(invalid(
                "msgsnd",
                self.target(),
                "a message type is above 0",
            ));
        }
        if libc::c_long::try_from(send).is_err() || libc::c_long::try_from(recv).is_err() {
            return Err(invalid("msgsnd", self.target(), "type out of range"));
        }
        self.send_type = send;
        self.recv_type = recv;
        Ok(())
    }

    /// Removes the queue (`IPC_RMID`): waiting callers in every process get
    /// [`Error::Removed`], queued messages are discarded.
    pub fn remove(self) -> Result<()> {
        Self::remove_id(self.id)
    }

    /// Removes the queue with id `id`.
    pub fn remove_id(id: i32) -> Result<()> {
        // SAFETY: IPC_RMID takes no buffer.
        if unsafe { libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()) } != 0 {
            return Err(Error::last_os("msgctl(IPC_RMID)", format!("msqid {id}")));
        }
        Ok(())
    }

    /// Sends `msg` with type `mtype` (above 0), waiting at most `timeout`
    /// for room (see the [module docs](self) on timeouts). A message longer
    /// than the queue's capacity is a [`LimitExceeded`] of
    /// [`QBYTES_LIMIT`], found when the queue has no room for it.
    pub fn send_typed(&mut self, mtype: i64, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        if msg.len() > self.msgmax {
            // msgmax may have been raised since we read it.
            self.refresh_msgmax()?;
            if msg.len() > self.msgmax {
                return Err(CoreError::FrameTooLarge {
                    len: u32::try_from(msg.len()).unwrap_or(u32::MAX),
                    max: u32::try_from(self.msgmax).unwrap_or(u32::MAX),
                }
                .into());
            }
        }
        let mtype = libc::c_long::try_from(mtype).unwrap_or(0);
        if mtype < 1 {
            return Err(invalid(
                "msgsnd",
                self.target(),
                "a message type is above 0",
            ));
        }
        self.scratch[0] = mtype;
        // SAFETY: the scratch holds `1 + ceil(longest / LONG)` longs (one at
        // least), so `msg.len() <= msgmax <= longest` bytes fit after the
        // first; the regions do not overlap (one is ours, one the caller's).
        unsafe {
            std::ptr::copy_nonoverlapping(
                msg.as_ptr(),
                self.scratch.as_mut_ptr().add(1).cast::<u8>(),
                msg.len(),
            );
        }
        let mut poller = Poller::new(timeout, Duration::from_millis(1));
        loop {
            // SAFETY: the scratch starts with the type and holds the text.
            let r = unsafe {
                libc::msgsnd(
                    self.id,
                    self.scratch.as_ptr().cast(),
                    msg.len(),
                    libc::IPC_NOWAIT,
                )
            };
            if r == 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN) => {
                    self.check_fits(msg.len())?;
                    poller.pause(Error::Full)?;
                }
                Some(libc::EINVAL) => {
                    // The kernel checks the length against msgmax first:
                    // lowered since we read it?
                    self.refresh_msgmax()?;
                    if msg.len() > self.msgmax {
                        return Err(LimitExceeded::new(
                            MSGMAX_PATH,
                            msg.len() as u64,
                            self.msgmax as u64,
                        )
                        .into_error("msgsnd", self.target()));
                    }
                    return Err(self.os_error("msgsnd", err));
                }
                _ => return Err(self.os_error("msgsnd", err)),
            }
        }
    }

    /// The queue has no room for `len` bytes now: reads its capacity and
    /// refuses a message that can never fit. A capacity this user cannot
    /// read (neither `IPC_STAT` nor `MSG_STAT_ANY`) lets the send wait.
    fn check_fits(&self, len: usize) -> Result<()> {
        match self.stat() {
            #[allow(clippy::unnecessary_cast)] // `msglen_t` is narrower on 32-bit targets
            Ok(ds) if len as u64 > ds.msg_qbytes as u64 => {
                Err(
                    LimitExceeded::new(QBYTES_LIMIT, len as u64, ds.msg_qbytes as u64)
                        .into_error("msgsnd", self.target()),
                )
            }
            Err(e @ Error::Removed { .. }) => Err(e),
            _ => Ok(()),
        }
    }

    /// Receives the next message of type `mtype` (0: any; `t > 0`: type
    /// `t`; `t < 0`: lowest type up to `|t|`) into `buf`, waiting at most
    /// `timeout`; returns its length and type. A message longer than `buf`
    /// stays queued: [`BufferTooSmall`](CoreError::BufferTooSmall).
    pub fn recv_typed(
        &mut self,
        mtype: i64,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<(usize, i64)> {
        let mtype = libc::c_long::try_from(mtype)
            .map_err(|_| invalid("msgrcv", self.target(), "type out of range"))?;
        let mut poller = Poller::new(timeout, Duration::from_millis(1));
        let flags = if timeout.is_some() {
            libc::IPC_NOWAIT
        } else {
            0
        };
        let mut regrown = false;
        loop {
            let size = buf.len().min(self.longest);
            // SAFETY: the scratch holds a long and `longest >= size` bytes.
            let r = unsafe {
                libc::msgrcv(
                    self.id,
                    self.scratch.as_mut_ptr().cast(),
                    size,
                    mtype,
                    flags,
                )
            };
            if let Ok(n) = usize::try_from(r) {
                // SAFETY: the kernel wrote `n <= size <= buf.len()` bytes of
                // text after the type; the regions do not overlap.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        self.scratch.as_ptr().add(1).cast::<u8>(),
                        buf.as_mut_ptr(),
                        n,
                    );
                }
                #[allow(clippy::unnecessary_cast)] // `c_long` is `i32` on 32-bit targets
                let mtype = self.scratch[0] as i64;
                return Ok((n, mtype));
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::ENOMSG | libc::EAGAIN) => poller.pause(Error::Empty)?,
                // The scratch is as long as msgmax was: if msgmax grew
                // since, try again (once) with a longer scratch.
                Some(libc::E2BIG) if buf.len() > size && !regrown && self.refresh_msgmax()? => {
                    regrown = true;
                }
                Some(libc::E2BIG) => {
                    return Err(CoreError::BufferTooSmall {
                        required: self.longest,
                    }
                    .into());
                }
                _ => return Err(self.os_error("msgrcv", err)),
            }
        }
    }

    /// `EIDRM` is a queue removed while we waited. `EINVAL` is a queue
    /// removed before the call, or an argument the kernel refuses: the
    /// queue is looked up again to tell which.
    fn os_error(&self, call: &'static str, err: io::Error) -> Error {
        let gone = match err.raw_os_error() {
            Some(libc::EIDRM) => true,
            Some(libc::EINVAL) => msg_stat(self.id)
                .is_err_and(|e| matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EIDRM))),
            _ => false,
        };
        if gone {
            Error::Removed {
                target: self.target(),
            }
        } else {
            Error::os(call, self.target(), err)
        }
    }

    fn target(&self) -> String {
        format!("msqid {}", self.id)
    }
}

/// `IPC_STAT` of the queue `id`; where this user may not read it
/// (`EACCES`), `MSG_STAT_ANY` (Linux 4.17), which shows any queue without
/// that check.
fn msg_stat(id: libc::c_int) -> io::Result<libc::msqid_ds> {
    // SAFETY: all-zero is a valid `msqid_ds`.
    let mut ds: libc::msqid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: `ds` is a valid out-pointer for IPC_STAT.
    if unsafe { libc::msgctl(id, libc::IPC_STAT, &mut ds) } == 0 {
        return Ok(ds);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::EACCES) {
        return Err(err);
    }
    // MSG_STAT_ANY takes the kernel's index of the queue, which is the id's
    // low 15 bits (24 with the `ipcmni_extend` boot option), and returns
    // the id found there: it must be ours.
    for bits in [15, 24] {
        // SAFETY: `ds` is a valid out-pointer for MSG_STAT_ANY.
        if unsafe { libc::msgctl(id & ((1 << bits) - 1), MSG_STAT_ANY, &mut ds) } == id {
            return Ok(ds);
        }
    }
    Err(err)
}

impl MessageSender for SysvMq {
    /// Sends with the default send type ([`DEFAULT_TYPE`] unless set).
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.send_typed(self.send_type, msg, timeout)
    }

    fn max_message_len(&self) -> usize {
        self.msgmax
    }
}

impl MessageReceiver for SysvMq {
    /// Receives by the default receive type (0, any, unless set).
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        self.recv_typed(self.recv_type, buf, timeout)
            .map(|(n, _)| n)
    }

    fn max_message_len(&self) -> usize {
        self.msgmax
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_small_leaves_the_message_queued() {
        let mut q = SysvMq::create_private().unwrap();
        q.send_typed(5, &[7; 100], None).unwrap();
        let mut small = [0; 10];
        assert_eq!(
            q.try_recv(&mut small).unwrap_err().core(),
            Some(CoreError::BufferTooSmall {
                required: q.max_message_len()
            })
        );
        assert_eq!(q.pending().unwrap(), 1);
        let mut buf = [0; 100];
        assert_eq!(q.recv_typed(5, &mut buf, None).unwrap(), (100, 5));
        assert_eq!(buf, [7; 100]);
        assert!(q.try_recv(&mut buf).unwrap_err().is_empty());
        assert!(
            q.recv_timeout(&mut buf, Some(Duration::from_millis(5)))
                .unwrap_err()
                .is_timeout()
        );
        let big = vec![0; q.max_message_len() + 1];
        assert!(matches!(
            q.try_send(&big).unwrap_err().core(),
            Some(CoreError::FrameTooLarge { .. })
        ));
        assert!(q.send_typed(0, b"x", None).is_err());
        let id = q.id();
        q.remove().unwrap();
        assert!(matches!(SysvMq::from_id(id), Err(Error::NotFound(_))));
    }

    #[test]
    fn capacity_limit_is_named() {
        let mut q = SysvMq::create_private().unwrap();
        let limits = SysvMqLimits::read().unwrap();
        let e = q.set_capacity(limits.msgmnb as usize + 1).unwrap_err();
        assert_eq!(LimitExceeded::find(&e).unwrap().limit, MSGMNB_PATH);
        q.set_capacity(64).unwrap();
        assert_eq!(q.capacity().unwrap(), 64);
        q.try_send(&[1; 64]).unwrap();
        assert!(q.try_send(&[1; 1]).unwrap_err().is_full());
        let e = q.try_send(&[1; 65]).unwrap_err();
        assert_eq!(LimitExceeded::find(&e).unwrap().limit, QBYTES_LIMIT);
        assert!(e.to_string().contains(&format!("msqid {}", q.id())), "{e}");
        q.remove().unwrap();
    }
}

//! The queue: creating, opening, its state and capacity, removal.

use std::io;

use super::{DEFAULT_TYPE, MSGMAX_PATH, MSGMNB_PATH, MSGMNI_PATH};
use crate::error::{Error, OsError, Result};
use crate::object::{DEFAULT_MODE, Remove, check_mode};
use crate::shm::Trust;
use crate::transport::limits::{LimitExceeded, read_proc_limit};

/// `MSG_STAT_ANY` of `<linux/msg.h>` (absent from the `libc` crate).
const MSG_STAT_ANY: libc::c_int = 13;

/// A System V message queue, by id: send and receive end in one.
#[derive(Debug)]
pub struct SysvMq {
    pub(super) id: libc::c_int,
    /// `msgmax` as last read.
    pub(super) msgmax: usize,
    /// The highest `msgmax` read: the scratch holds a message this long
    /// (messages sent under a higher `msgmax` may still be queued).
    pub(super) longest: usize,
    pub(super) send_type: i64,
    pub(super) recv_type: i64,
    /// `mtype` then `mtext`, as `msgsnd`/`msgrcv` want them.
    pub(super) scratch: Vec<libc::c_long>,
}

const LONG: usize = std::mem::size_of::<libc::c_long>();

pub(super) fn invalid(call: &'static str, target: String, msg: &'static str) -> Error {
    Error::Os(OsError::new(
        call,
        target,
        io::Error::new(io::ErrorKind::InvalidInput, msg),
    ))
}

impl SysvMq {
    /// Creates the queue of `key` (`IPC_CREAT | IPC_EXCL`, mode 0600).
    pub fn create(key: libc::key_t) -> Result<Self> {
        Self::create_with_mode(key, DEFAULT_MODE)
    }

    /// [`create`](Self::create) with the permission bits `mode` (at most
    /// `0o777`; the umask does not apply to System V objects), say `0o620`
    /// to let the group send. `libc::IPC_PRIVATE` as `key` makes an
    /// anonymous queue. Openers of a queue others may write opt in with
    /// [`open_with`](Self::open_with).
    pub fn create_with_mode(key: libc::key_t, mode: u32) -> Result<Self> {
        check_mode(mode, "msgget", &format!("key {key:#x}"))?;
        // At most 0o777: fits in a `c_int`.
        Self::get(key, libc::IPC_CREAT | libc::IPC_EXCL | mode as libc::c_int)
    }

    /// Creates an anonymous queue (`IPC_PRIVATE`, mode 0600), reachable by
    /// its [`id`](Self::id).
    pub fn create_private() -> Result<Self> {
        Self::get(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600)
    }

    /// Opens the existing queue of `key`, for sending, receiving or both:
    /// no permission is needed to open (see the [module docs](super)). The
    /// queue must be this user's and writable by nobody else
    /// ([`Trust::Owner`]), else [`Error::Untrusted`]: anyone else who may
    /// write it can fill it with forged messages or remove it.
    pub fn open(key: libc::key_t) -> Result<Self> {
        Self::open_with(key, Trust::Owner)
    }

    /// [`open`](Self::open), accepting the owners and modes `trust`
    /// accepts (judged on the queue's owner and, if another, its creator:
    /// both may change or remove it). A queue of another user that we may
    /// only write (mode 0602) is opened with [`Trust::Anyone`].
    pub fn open_with(key: libc::key_t, trust: Trust) -> Result<Self> {
        let q = Self::get(key, 0)?;
        if trust != Trust::Anyone {
            let perm = q.stat()?.msg_perm;
            let target = q.target();
            trust.check_owner(perm.uid, perm.gid, perm.mode.into(), &target)?;
            if perm.cuid != perm.uid {
                trust.check_owner(perm.cuid, perm.cgid, perm.mode.into(), &target)?;
            }
        }
        Ok(q)
    }

    /// Takes the queue with id `id` (from [`id`](Self::id) in another
    /// process), after checking that it exists. An id is taken as given,
    /// like a descriptor handed over: no [`Trust`] check (see
    /// [`mode`](Self::mode) and [`open_with`](Self::open_with)).
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

    pub(super) fn stat(&self) -> Result<libc::msqid_ds> {
        msg_stat(self.id).map_err(|e| self.os_error("msgctl(IPC_STAT)", e))
    }

    /// Reads `msgmax` again and grows the scratch to hold a message that
    /// long (never shrinks it: messages sent under a higher `msgmax` may
    /// still be queued); `true` if the scratch grew.
    pub(super) fn refresh_msgmax(&mut self) -> Result<bool> {
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

    /// The queue's permission bits now (`msg_perm.mode & 0o777`).
    pub fn mode(&self) -> Result<u32> {
        Ok(u32::from(self.stat()?.msg_perm.mode) & 0o777)
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

    /// `EIDRM` is a queue removed while we waited. `EINVAL` is a queue
    /// removed before the call, or an argument the kernel refuses: the
    /// queue is looked up again to tell which.
    pub(super) fn os_error(&self, call: &'static str, err: io::Error) -> Error {
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

    pub(super) fn target(&self) -> String {
        format!("msqid {}", self.id)
    }
}

impl Remove for SysvMq {
    /// [`SysvMq::remove_id`] of this queue (`IPC_RMID`).
    fn remove_object(&self) -> Result<()> {
        SysvMq::remove_id(self.id)
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

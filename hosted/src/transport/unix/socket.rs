//! The system calls every Unix socket starts with (`socket`,
//! `socketpair`, `bind`, `connect`), and a listening socket.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::UnixAddr;
use crate::error::{Error, OsError, Result};
use crate::object::{check_mode, fchmod};
use crate::shm::Trust;
use crate::transport::stream::{Deadline, wait_fd};

/// A new Unix socket of `kind` (`SOCK_CLOEXEC`).
pub(super) fn socket(kind: libc::c_int) -> Result<OwnedFd> {
    // SAFETY: plain call; no memory is passed.
    let fd = unsafe { libc::socket(libc::AF_UNIX, kind | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Error::last_os("socket", "AF_UNIX"));
    }
    // SAFETY: `socket` succeeded: the descriptor is new and ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A connected pair of Unix sockets of `kind`.
pub(super) fn socketpair(kind: libc::c_int) -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors written.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            kind | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(Error::last_os("socketpair", "AF_UNIX"));
    }
    // SAFETY: `socketpair` succeeded: both descriptors are new and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `bind` (`EADDRINUSE` is [`Error::AlreadyExists`]); a socket file gets
/// exactly the permission bits `mode` (connecting needs write permission).
///
/// Linux creates the file with the socket's own mode less the umask, so
/// the socket is `fchmod`ed to `mode` first: the file never allows more
/// than `mode`. What the umask took away is given back after the bind by
/// [`chmod_socket_file`].
pub(super) fn bind(fd: BorrowedFd<'_>, addr: &UnixAddr, mode: u32) -> Result<()> {
    let (sa, len) = addr.to_sockaddr()?;
    if let UnixAddr::Path(_) = addr {
        check_mode(mode, "bind", &addr.describe())?;
        fchmod(fd, mode, &addr.describe())?;
    }
    // SAFETY: `sa` is a valid `sockaddr_un` of `len` bytes.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_un).cast(),
            len,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EADDRINUSE) {
            return Err(Error::AlreadyExists(OsError::new(
                "bind",
                addr.describe(),
                e,
            )));
        }
        return Err(Error::os("bind", addr.describe(), e));
    }
    if let UnixAddr::Path(path) = addr {
        if let Err(e) = chmod_socket_file(path, mode, &addr.describe()) {
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
    }
    Ok(())
}

/// Sets the socket file at `path`, just bound by us, to `mode`: opened
/// `O_PATH | O_NOFOLLOW` and checked to be a socket of ours (not something
/// swapped in by path), then changed through its `/proc/self/fd` link.
fn chmod_socket_file(path: &std::path::Path, mode: u32, target: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::os("open", target, e))?;
    let meta = file.metadata().map_err(|e| Error::os("fstat", target, e))?;
    // SAFETY: plain query.
    let ours = meta.uid() == unsafe { libc::geteuid() };
    if meta.mode() & libc::S_IFMT != libc::S_IFSOCK || !ours {
        return Err(Error::Os(OsError::new(
            "bind",
            target,
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the path no longer names the socket file we bound",
            ),
        )));
    }
    if meta.mode() & 0o777 == mode {
        return Ok(());
    }
    let link = format!("/proc/self/fd/{}", file.as_raw_fd());
    std::fs::set_permissions(link, std::os::unix::fs::PermissionsExt::from_mode(mode))
        .map_err(|e| Error::os("chmod", target, e))
}

/// `connect`, retried on `EINTR` (a socket in blocking mode).
pub(super) fn connect(fd: BorrowedFd<'_>, addr: &UnixAddr) -> Result<()> {
    let (sa, len) = addr.to_sockaddr()?;
    // SAFETY: `sa` is a valid `sockaddr_un` of `len` bytes.
    let r = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_un).cast(),
            len,
        )
    };
    if r < 0 {
        return Err(Error::last_os("connect", addr.describe()));
    }
    Ok(())
}

/// [`connect`], then `trust`'s judgement of who is at the other end (see
/// the [module docs](super#who-is-at-the-other-end)): for a connection
/// (`connection`: stream, seqpacket) the credentials the kernel recorded
/// for the listening server (`SO_PEERCRED`: the very socket reached, no
/// race); for a datagram socket, which has none, the owner of the socket
/// file. An abstract datagram address has neither and is not judged.
pub(super) fn connect_trusting(
    fd: BorrowedFd<'_>,
    addr: &UnixAddr,
    trust: Trust,
    connection: bool,
) -> Result<()> {
    connect(fd, addr)?;
    if trust == Trust::Anyone {
        return Ok(());
    }
    let target = addr.describe();
    let (uid, gid) = if connection {
        let cred = super::peer_cred(&fd)?;
        (cred.uid, cred.gid)
    } else {
        match addr {
            UnixAddr::Path(path) => {
                let meta = std::fs::symlink_metadata(path)
                    .map_err(|e| Error::os("lstat", target.clone(), e))?;
                (meta.uid(), meta.gid())
            }
            UnixAddr::Abstract(_) => return Ok(()),
        }
    };
    // Mode 0: who may connect to the server is the server's business; the
    // client judges only whose it is.
    trust.check_owner(uid, gid, 0, &target)
}

/// The socket file that binding `addr` creates, with this process's pid:
/// only the process that created it removes it ([`remove_socket_file`]).
pub(super) fn socket_file(addr: &UnixAddr) -> Option<(PathBuf, u32)> {
    match addr {
        UnixAddr::Path(p) => Some((p.clone(), std::process::id())),
        UnixAddr::Abstract(_) => None,
    }
}

/// Removes the socket file of [`socket_file`] if this process created it
/// (a forked child's copy leaves it alone).
pub(super) fn remove_socket_file(owned: &Option<(PathBuf, u32)>) {
    if let Some((path, pid)) = owned {
        if *pid == std::process::id() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A listening socket; removes the socket file it created when dropped in
/// the creating process.
#[derive(Debug)]
pub(super) struct Listening {
    pub(super) fd: OwnedFd,
    pub(super) addr: UnixAddr,
    /// The socket file to remove, and the pid that created it.
    owned_path: Option<(PathBuf, u32)>,
}

impl Listening {
    pub(super) fn bind(addr: &UnixAddr, kind: libc::c_int, mode: u32) -> Result<Self> {
        let fd = socket(kind | libc::SOCK_NONBLOCK)?;
        bind(fd.as_fd(), addr, mode)?;
        let owned_path = socket_file(addr);
        let me = Self {
            fd,
            addr: addr.clone(),
            owned_path,
        };
        // SAFETY: plain call on our socket.
        if unsafe { libc::listen(me.fd.as_raw_fd(), 128) } < 0 {
            return Err(Error::last_os("listen", addr.describe()));
        }
        Ok(me)
    }

    pub(super) fn accept(&self, deadline: Deadline) -> Result<OwnedFd> {
        loop {
            // SAFETY: null address pointers are allowed (address not wanted).
            let fd = unsafe {
                libc::accept4(
                    self.fd.as_raw_fd(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_CLOEXEC,
                )
            };
            if fd >= 0 {
                // SAFETY: `accept4` succeeded: the descriptor is ours alone.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::WouldBlock => {
                    if wait_fd(self.fd.as_fd(), libc::POLLIN, deadline)?.is_none() {
                        return Err(deadline.expired(false));
                    }
                }
                _ => return Err(Error::os("accept4", self.addr.describe(), e)),
            }
        }
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        remove_socket_file(&self.owned_path);
    }
}

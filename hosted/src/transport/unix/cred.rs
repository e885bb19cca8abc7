//! The peer's credentials: `SO_PEERCRED`, and `SO_PASSCRED` on every
//! received message.

use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use crate::error::{Error, Result};
use crate::transport::stream::fd_name;

/// The pid, uid and gid of the process at the other end of a connected
/// Unix socket, as the kernel recorded them at `connect` (or
/// `socketpair`) time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCred {
    /// The peer's process id.
    pub pid: u32,
    /// Its effective user id.
    pub uid: u32,
    /// Its effective group id.
    pub gid: u32,
}

/// Reads the credentials of the peer of the connected Unix socket `sock`
/// (`SO_PEERCRED`).
pub fn peer_cred(sock: &impl AsFd) -> Result<PeerCred> {
    let fd = sock.as_fd();
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid out-pointers of the sizes passed.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if r < 0 {
        return Err(Error::last_os("getsockopt(SO_PEERCRED)", fd_name(fd)));
    }
    Ok(PeerCred {
        pid: cred.pid as u32,
        uid: cred.uid,
        gid: cred.gid,
    })
}

/// Enables `SO_PASSCRED`: every received message then carries an
/// `SCM_CREDENTIALS` message, which tells an empty seqpacket message
/// (carries one) from the end of the connection (carries none).
pub(super) fn pass_cred(fd: BorrowedFd<'_>) -> Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a valid int option value of the size passed.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PASSCRED,
            (&on as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(Error::last_os("setsockopt(SO_PASSCRED)", fd_name(fd)));
    }
    Ok(())
}

//! Descriptor helpers: names for messages, non-blocking mode, the kind
//! of descriptor, and the errors of an end whose peer is gone.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::error::{Error, Result, Role};

/// `fd <n>`, for error messages.
pub(crate) fn fd_name(fd: BorrowedFd<'_>) -> String {
    format!("fd {}", fd.as_raw_fd())
}

/// Sets or clears `O_NONBLOCK` on the open file description of `fd`.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: F_GETFL on a descriptor we borrow; no memory is passed.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags < 0 {
        return Err(Error::last_os("fcntl(F_GETFL)", fd_name(fd)));
    }
    let new = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: as above, with F_SETFL and an int argument.
    if new != flags && unsafe { libc::fcntl(raw, libc::F_SETFL, new) } < 0 {
        return Err(Error::last_os("fcntl(F_SETFL)", fd_name(fd)));
    }
    Ok(())
}

/// `true` if `fd` is a socket (`fstat`).
pub(crate) fn is_socket(fd: BorrowedFd<'_>) -> Result<bool> {
    // SAFETY: `stat` is plain data; all-zero is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid out-pointer for the borrowed descriptor.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } < 0 {
        return Err(Error::last_os("fstat", fd_name(fd)));
    }
    Ok(st.st_mode & libc::S_IFMT == libc::S_IFSOCK)
}

/// The error of a writer whose reader is gone.
pub(crate) fn consumer_gone() -> Error {
    Error::PeerGone {
        peer: Some(Role::Consumer),
        pid: None,
    }
}

/// The error of a reader whose writer is gone.
pub(crate) fn producer_gone() -> Error {
    Error::PeerGone {
        peer: Some(Role::Producer),
        pid: None,
    }
}

/// `true` for the `errno` values that mean the other end is closed.
pub(crate) fn is_gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN | libc::ECONNREFUSED)
    )
}

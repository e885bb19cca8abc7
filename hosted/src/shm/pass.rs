//! Handing descriptors to other processes: `SCM_RIGHTS` over a Unix socket,
//! and inheritance by one spawned child.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::error::{Error, OsError, Result};

/// The most descriptors one message may carry (the kernel's `SCM_MAX_FD`).
const MAX_FDS: usize = 253;

/// Sends the descriptor `fd` to the process at the other end of `sock`
/// (`sendmsg` with one `SCM_RIGHTS` message and one data byte). The peer
/// receives a new descriptor for the same open file with [`recv_fd`]; `fd`
/// stays open here.
///
/// ```
/// use std::os::fd::AsFd;
/// use std::os::unix::net::UnixStream;
/// use ipckit::shm::{Memfd, recv_fd, send_fd};
///
/// let (a, b) = UnixStream::pair()?;
/// let memfd = Memfd::create("doc", 4096)?;
/// send_fd(&a, memfd.as_fd())?;
/// let received = Memfd::from_fd(recv_fd(&b)?)?; // checks the seals
/// assert_eq!(received.len(), 4096);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn send_fd(sock: &UnixStream, fd: BorrowedFd<'_>) -> Result<()> {
    send_fds(sock, &[fd])
}

/// Sends several descriptors in one message (at most 253). [`recv_fd`]
/// accepts exactly one, so this is mainly for protocols of one's own (and
/// for testing that `recv_fd` refuses more).
pub fn send_fds(sock: &UnixStream, fds: &[BorrowedFd<'_>]) -> Result<()> {
    if fds.is_empty() || fds.len() > MAX_FDS {
        return Err(Error::Os(OsError::new(
            "sendmsg",
            "SCM_RIGHTS",
            io::Error::new(io::ErrorKind::InvalidInput, "send 1 to 253 descriptors"),
        )));
    }
    let data_len = mem::size_of_val(fds) as u32;
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(data_len) } as usize;
    // `u64` words: aligned for `cmsghdr`, zeroed as the CMSG macros expect.
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: `msghdr` is plain data; all-zero is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: `msg` describes `control`, which has room for one header and
    // `data_len` bytes (CMSG_SPACE), so the first header and its data lie
    // inside it; the data pointer may be unaligned for `c_int`, hence
    // `write_unaligned`.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(data_len) as _;
        let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
        for (i, fd) in fds.iter().enumerate() {
            data.add(i).write_unaligned(fd.as_raw_fd());
        }
    }
    loop {
        // SAFETY: `msg` points to live buffers (`iov`, `byte`, `control`);
        // MSG_NOSIGNAL turns a closed peer into EPIPE instead of SIGPIPE.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(Error::os("sendmsg", "SCM_RIGHTS", e));
        }
    }
}

/// Receives one descriptor sent with [`send_fd`]; it is close-on-exec here
/// (`MSG_CMSG_CLOEXEC`).
///
/// Errors (as [`Error::Os`] with call `"recvmsg"`): the peer closed the
/// socket (`UnexpectedEof`), the message carried no descriptor or more than
/// one, or its control data was truncated (`MSG_CTRUNC`: the peer sent more
/// than one descriptor at once). Every descriptor that did arrive in a
/// refused message is closed, so nothing leaks. A received descriptor can be
/// anything the peer had open; [`Memfd::from_fd`](super::Memfd::from_fd)
/// checks that it is a sealed memfd.
pub fn recv_fd(sock: &UnixStream) -> Result<OwnedFd> {
    let bad = |msg: &str| {
        Error::Os(OsError::new(
            "recvmsg",
            "SCM_RIGHTS",
            io::Error::new(io::ErrorKind::InvalidData, msg.to_string()),
        ))
    };
    let one = mem::size_of::<RawFd>() as u32;
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(one) } as usize;
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: `msghdr` is plain data; all-zero is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    let n = loop {
        // SAFETY: `msg` points to live, writable buffers of the stated
        // sizes.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(Error::os("recvmsg", "SCM_RIGHTS", e));
        }
    };
    // Take ownership of every descriptor that arrived before judging the
    // message, so that a refused one closes them all.
    let mut received = Vec::new();
    // SAFETY: the CMSG macros walk the headers the kernel wrote into
    // `control`, bounded by `msg.msg_controllen`; each SCM_RIGHTS payload is
    // an array of descriptors that the kernel just installed in this
    // process and that nothing else owns.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let bytes = ((*cmsg).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for i in 0..bytes / mem::size_of::<RawFd>() {
                    received.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(bad(
            "control data truncated (the peer sent more than one descriptor); \
             those that arrived are closed",
        ));
    }
    if n == 0 && received.is_empty() {
        return Err(Error::Os(OsError::new(
            "recvmsg",
            "SCM_RIGHTS",
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed the socket without sending a descriptor",
            ),
        )));
    }
    if received.len() > 1 {
        return Err(bad("message carried more than one descriptor"));
    }
    received
        .pop()
        .ok_or_else(|| bad("message carried no descriptor"))
}

/// Lets the child that `cmd` spawns inherit `fd`, and returns the number
/// the descriptor has there (pass it to the child in an argument or an
/// environment variable).
///
/// Descriptors made by this crate and by `std` are close-on-exec, so a
/// child inherits none of them by default. This duplicates `fd`
/// (`F_DUPFD_CLOEXEC`; the duplicate lives as long as `cmd`, so `fd` itself
/// may be closed before the spawn) and registers a
/// [`pre_exec`](CommandExt::pre_exec) hook that clears `FD_CLOEXEC` on the
/// duplicate in the child only, after `fork` and before `exec`: in this
/// process the flag stays set, so children spawned by other threads
/// meanwhile do not inherit it. Every child spawned from `cmd` inherits it.
pub fn inherit_fd(cmd: &mut Command, fd: BorrowedFd<'_>) -> Result<RawFd> {
    let dup = fd.try_clone_to_owned().map_err(|e| {
        Error::os(
            "fcntl(F_DUPFD_CLOEXEC)",
            format!("fd {}", fd.as_raw_fd()),
            e,
        )
    })?;
    let raw = dup.as_raw_fd();
    // SAFETY: the hook runs in the forked child before `exec`, where only
    // async-signal-safe calls are allowed: it makes two `fcntl` calls on the
    // duplicate (kept open by the closure that owns it) and reads `errno`,
    // which allocate nothing and take no lock.
    unsafe {
        cmd.pre_exec(move || {
            let raw = dup.as_raw_fd();
            let flags = libc::fcntl(raw, libc::F_GETFD);
            if flags < 0 || libc::fcntl(raw, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(raw)
}

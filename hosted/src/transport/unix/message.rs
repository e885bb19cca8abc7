//! Sending and receiving one message on a datagram or seqpacket socket,
//! with the kernel's boundaries.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::error::{CoreError, Error, Result};
use crate::transport::stream::{Deadline, consumer_gone, fd_name, is_gone, producer_gone, wait_fd};

/// Sends `msg` as one message on a connected datagram or seqpacket socket.
pub(super) fn send_message(
    fd: BorrowedFd<'_>,
    msg: &[u8],
    max: usize,
    deadline: Deadline,
) -> Result<()> {
    let too_large = || {
        Error::from(CoreError::FrameTooLarge {
            len: u32::try_from(msg.len()).unwrap_or(u32::MAX),
            max: u32::try_from(max).unwrap_or(u32::MAX),
        })
    };
    if msg.len() > max {
        return Err(too_large());
    }
    loop {
        // SAFETY: `msg` is a live, readable buffer of the length passed.
        let n = unsafe {
            libc::send(
                fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            )
        };
        if n >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => {}
            io::ErrorKind::WouldBlock => {
                if wait_fd(fd, libc::POLLOUT, deadline)?.is_none() {
                    return Err(deadline.expired(true));
                }
            }
            _ if e.raw_os_error() == Some(libc::EMSGSIZE) => return Err(too_large()),
            _ if is_gone(&e) => return Err(consumer_gone()),
            _ => return Err(Error::os("send", fd_name(fd), e)),
        }
    }
}

/// Receives one message into `buf`. `seqpacket`: a zero-length read
/// without credentials is the end of the connection.
pub(super) fn recv_message(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    max: usize,
    seqpacket: bool,
    deadline: Deadline,
) -> Result<usize> {
    loop {
        let r = if buf.len() < max {
            // Learn the next message's length without taking it.
            // SAFETY: a zero-length buffer; the kernel writes nothing.
            let n = unsafe {
                libc::recv(
                    fd.as_raw_fd(),
                    std::ptr::null_mut(),
                    0,
                    libc::MSG_PEEK | libc::MSG_TRUNC | libc::MSG_DONTWAIT,
                )
            };
            if n > 0 && n as usize > buf.len() {
                return Err(CoreError::BufferTooSmall {
                    required: n as usize,
                }
                .into());
            }
            if n >= 0 {
                receive(fd, buf, seqpacket)
            } else {
                Err(io::Error::last_os_error())
            }
        } else {
            receive(fd, buf, seqpacket)
        };
        match r {
            Ok(Some(n)) if n > buf.len() => {
                return Err(CoreError::FrameTooLarge {
                    len: u32::try_from(n).unwrap_or(u32::MAX),
                    max: u32::try_from(max).unwrap_or(u32::MAX),
                }
                .into());
            }
            Ok(Some(n)) => return Ok(n),
            Ok(None) => return Err(producer_gone()),
            Err(e) => match e.kind() {
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::WouldBlock => {
                    if wait_fd(fd, libc::POLLIN, deadline)?.is_none() {
                        return Err(deadline.expired(false));
                    }
                }
                _ if is_gone(&e) => return Err(producer_gone()),
                _ => return Err(Error::os("recvmsg", fd_name(fd), e)),
            },
        }
    }
}

/// One `recvmsg(MSG_TRUNC)`: `Some(real length)`, or `None` at the end of a
/// seqpacket connection.
fn receive(fd: BorrowedFd<'_>, buf: &mut [u8], seqpacket: bool) -> io::Result<Option<usize>> {
    // Room for one SCM_CREDENTIALS message, in `u64` words for alignment.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `msghdr` is plain data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if seqpacket {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = mem::size_of_val(&control) as _;
    }
    // SAFETY: `msg` points to live, writable buffers of the sizes stated.
    let n = unsafe {
        libc::recvmsg(
            fd.as_raw_fd(),
            &mut msg,
            libc::MSG_TRUNC | libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n == 0 && seqpacket && msg.msg_controllen == 0 {
        return Ok(None);
    }
    Ok(Some(n as usize))
}

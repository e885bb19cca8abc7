//! The system side of the prototype: the shared page, descriptors
//! (eventfd, epoll, pidfd) and the doorbell.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use ipckit::channel::ProcessId;
use ipckit::futex::monotonic_now;

// The shared page: u32 words (futex words, flags), then u64 words.
pub const EVENT: usize = 0; // the event count the sleeper waits on
pub const WAITERS: usize = 1; // the announcement: nonzero while a sleeper is announced
pub const BELL: usize = 2; // the sleeper's doorbell nonce (0: none)
pub const READY: usize = 3; // the sleeper (or victim) is set up
pub const ACK: usize = 4; // the last iteration the sleeper saw
pub const GO: usize = 5; // the killer may kill
pub const WOKE_AT: usize = 0; // u64: the sleeper's clock at its return
pub const KILL_AT: usize = 1; // u64: the killer's clock just before `kill`
pub const VICTIM_PID: usize = 2;
pub const VICTIM_START: usize = 3;
pub const WAKER_START: usize = 4; // u64: the waker's recorded start time

/// How long the measuring side waits for any step of a child.
pub const WAIT_LIMIT: Duration = Duration::from_secs(5);
/// A sleeper's safety timeout (longer than any quiet spell measured).
pub const SLEEP_LIMIT: Duration = Duration::from_secs(60);

/// One page of `MAP_SHARED | MAP_ANONYMOUS` memory, made before any fork and
/// kept for the whole run, so every child maps it at the same address.
pub struct Page(*mut u8);

// SAFETY: the page is only accessed through atomics and never unmapped.
unsafe impl Sync for Page {}
// SAFETY: as above; the pointer is the only state.
unsafe impl Send for Page {}

pub fn page() -> &'static Page {
    static PAGE: OnceLock<Page> = OnceLock::new();
    PAGE.get_or_init(|| {
        // SAFETY: a fresh anonymous shared mapping; no address hint.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED, "mmap: {}", io::Error::last_os_error());
        Page(p.cast())
    })
}

impl Page {
    pub fn u32(&self, i: usize) -> &AtomicU32 {
        assert!(i < 512);
        // SAFETY: in bounds of the 4096-byte page (i * 4 < 2048), aligned,
        // mapped for the life of the process, only accessed atomically.
        unsafe { &*self.0.add(i * 4).cast::<AtomicU32>() }
    }

    pub fn u64(&self, i: usize) -> &AtomicU64 {
        assert!(i < 256);
        // SAFETY: as for `u32`: 2048 + i * 8 < 4096, 8-aligned.
        unsafe { &*self.0.add(2048 + i * 8).cast::<AtomicU64>() }
    }

    pub fn reset(&self) {
        (0..512).for_each(|i| self.u32(i).store(0, Ordering::SeqCst));
    }
}

pub fn now_ns() -> u64 {
    monotonic_now().as_nanos() as u64
}

pub fn cvt(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

pub fn owned(fd: libc::c_long) -> io::Result<OwnedFd> {
    let fd = cvt(fd)? as RawFd;
    // SAFETY: `fd` was just returned by the kernel and is owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `pidfd_open(pid)`, then the recorded start time confirmed: the pidfd
/// refers to the recorded process, not a later one with a reused pid.
pub fn pidfd_confirmed(who: ProcessId) -> io::Result<OwnedFd> {
    // SAFETY: plain system call with integer arguments.
    let fd = owned(unsafe { libc::syscall(libc::SYS_pidfd_open, who.pid as libc::pid_t, 0) })?;
    if !who.is_alive() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "start time differs",
        ));
    }
    Ok(fd)
}

pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain system call.
    owned(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) }.into())
}

pub fn eventfd_write(fd: RawFd) {
    let one = 1u64;
    // SAFETY: writes 8 bytes from a live u64; an error (EAGAIN at the
    // counter's limit) leaves the eventfd readable, which is all a wake needs.
    unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

pub fn eventfd_drain(fd: RawFd) {
    let mut v = 0u64;
    // SAFETY: reads at most 8 bytes into a live u64.
    unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
}

pub fn epoll_of(fds: &[RawFd]) -> io::Result<OwnedFd> {
    // SAFETY: plain system call.
    let ep = owned(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) }.into())?;
    for &fd in fds {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: fd as u64,
        };
        // SAFETY: `ep` and `fd` are open descriptors; `ev` is a live event.
        cvt(unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) }.into())?;
    }
    Ok(ep)
}

pub fn epoll_wait(ep: RawFd, timeout_ms: i32) {
    let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 4];
    // SAFETY: `evs` holds 4 events, as passed; `ep` is an epoll descriptor.
    unsafe { libc::epoll_wait(ep, evs.as_mut_ptr(), 4, timeout_ms) };
}

pub fn poll_in(fds: &[RawFd], timeout_ms: i32) -> i32 {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `p` holds `p.len()` live pollfd records.
    unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms) }
}

/// The doorbell's abstract address: `"\0ipckit-bell/<pid>/<nonce>"`. The
/// waker builds it from the sleeper's pid and the nonce the sleeper
/// published; the fixed prefix keeps a forged nonce inside ipckit's names.
pub fn bell_addr(pid: u32, nonce: u32) -> (libc::sockaddr_un, libc::socklen_t) {
    let name = format!("ipckit-bell/{pid}/{nonce:08x}");
    // SAFETY: `sockaddr_un` is plain data; all zeroes is valid.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, s) in addr.sun_path[1..].iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    let len = core::mem::offset_of!(libc::sockaddr_un, sun_path) + 1 + name.len();
    (addr, len as libc::socklen_t)
}

pub fn dgram_socket() -> io::Result<OwnedFd> {
    let ty = libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: plain system call.
    owned(unsafe { libc::socket(libc::AF_UNIX, ty, 0) }.into())
}

/// 32 random bits from the kernel.
pub fn random_u32() -> u32 {
    let mut v = 0u32;
    // SAFETY: fills at most 4 bytes of a live u32.
    unsafe { libc::getrandom((&mut v as *mut u32).cast(), 4, 0) };
    v
}

/// The sleeper's doorbell: bound under a fresh random 31-bit nonce (bit
/// 31 of the region's bell word is the armed flag), retried on a name
/// somebody else holds.
pub fn bind_bell() -> io::Result<(OwnedFd, u32)> {
    let sock = dgram_socket()?;
    for _ in 0..8 {
        let nonce = random_u32() & 0x7fff_ffff;
        if nonce == 0 {
            continue;
        }
        let (addr, len) = bell_addr(std::process::id(), nonce);
        // SAFETY: `addr` is a valid sockaddr_un of length `len`.
        let r = unsafe {
            libc::bind(
                sock.as_raw_fd(),
                (&addr as *const libc::sockaddr_un).cast(),
                len,
            )
        };
        if r == 0 {
            return Ok((sock, nonce));
        }
        if io::Error::last_os_error().raw_os_error() != Some(libc::EADDRINUSE) {
            return Err(io::Error::last_os_error());
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free doorbell name",
    ))
}

/// Empties the doorbell (bounded: a flood only makes more wake-ups).
pub fn drain_bell(fd: RawFd) {
    let mut buf = [0u8; 8];
    for _ in 0..64 {
        // SAFETY: reads at most 8 bytes into `buf`.
        let r = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), 8, libc::MSG_DONTWAIT) };
        if r < 0 {
            break;
        }
    }
}

/// The waker's handle on a doorbell: its own unbound socket and the address.
pub struct Ringer {
    sock: OwnedFd,
    addr: libc::sockaddr_un,
    len: libc::socklen_t,
}

impl Ringer {
    /// Connected once (`connect` resolves the name; each ring is then a
    /// plain `send`, with no name lookup).
    pub fn new(pid: u32, nonce: u32) -> io::Result<Self> {
        let (addr, len) = bell_addr(pid, nonce);
        let sock = dgram_socket()?;
        // SAFETY: `addr` is a valid sockaddr_un of length `len`.
        let r = unsafe {
            libc::connect(
                sock.as_raw_fd(),
                (&addr as *const libc::sockaddr_un).cast(),
                len,
            )
        };
        cvt(r.into())?;
        Ok(Self { sock, addr, len })
    }

    /// One byte; `EAGAIN` (the bell's queue is full) means it is readable
    /// already, `ECONNREFUSED` that nobody listens: both ignored.
    pub fn ring(&self) {
        // SAFETY: sends 1 byte from a live array on a connected socket.
        unsafe {
            libc::send(
                self.sock.as_raw_fd(),
                [1u8].as_ptr().cast(),
                1,
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
    }

    /// [`ring`](Self::ring) through `sendto` on an unconnected socket: the
    /// name is looked up at every call.
    pub fn ring_by_name(&self, unconnected: &OwnedFd) {
        // SAFETY: sends 1 byte from a live array to a valid address.
        unsafe {
            libc::sendto(
                unconnected.as_raw_fd(),
                [1u8].as_ptr().cast(),
                1,
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                (&self.addr as *const libc::sockaddr_un).cast(),
                self.len,
            )
        };
    }
}

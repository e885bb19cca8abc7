//! Waking and death notices across processes: the measured prototype behind
//! `docs/WAKING.md`. Every variant runs between two real processes (`fork`),
//! interleaved in rounds (the testkit harness), on one shared page that
//! stands for the channel region.
//!
//! | table | what is measured |
//! |-------|------------------|
//! | wake latency | a sleeper announces itself (waiters word, `SeqCst` fence), re-checks the event word, sleeps; once it is asleep (`/proc` state `S`) the waker stamps the clock, bumps the event word, fences, reads the waiters word and wakes; the sleeper stamps the clock on return. Latency = the two stamps' difference (one `CLOCK_MONOTONIC`) |
//! | waker cost | the waker's time from its stamp to the end of its wake call (store, fence, load, system call) |
//! | fast path | one publication when nobody waits: store, fence, load of the waiters word (no system call), against a plain store and against the system calls a wake would make |
//! | death notice | a victim (not the sleeper's child) is SIGKILLed by a third process; latency from just before `kill` to the sleeper's return |
//! | idle wake-ups | context switches of a blocked sleeper over a quiet spell (`/proc/<pid>/task/*/status`) |
//!
//! Sleepers: `futex` (today's `FUTEX_WAIT`), `bell/poll` (an abstract Unix
//! datagram socket, the doorbell, bound by the sleeper under a name derived
//! from its pid and a random nonce that it publishes; `poll` on it and on a
//! pidfd of the waker), `bell/epoll` (the same through `epoll_wait`),
//! `bell/nested` (an outer epoll holding the endpoint's epoll, as tokio or a
//! `WaitSet` would), `eventfd/epoll` (an eventfd the waker holds: inherited
//! here, it stands for one passed over `SCM_RIGHTS`), `thread/eventfd` (a
//! waker thread in the sleeper's process futex-waits and writes an eventfd
//! that the main thread epoll-waits on), `slices` (today's blocked
//! receiver: 50 ms futex slices with a `/proc` liveness check between).
//!
//! `cargo bench -p ipckit --bench waking` (`-- --quick` for one round, a
//! filter such as `death` to run one table); `cargo test --benches` runs a
//! smoke round.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
use std::time::{Duration, Instant};

use ipckit::channel::ProcessId;
use ipckit::futex::{Futex, monotonic_now};
use ipckit::wait::Notify;
use ipckit_testkit::bench::{PlainRun, Stats, Unit, interleave, print_table};
use ipckit_testkit::pin;
use ipckit_testkit::process::{Child, fork_child};

// The shared page: u32 words (futex words, flags), then u64 words.
const EVENT: usize = 0; // the event count the sleeper waits on
const WAITERS: usize = 1; // the announcement: nonzero while a sleeper is announced
const BELL: usize = 2; // the sleeper's doorbell nonce (0: none)
const READY: usize = 3; // the sleeper (or victim) is set up
const ACK: usize = 4; // the last iteration the sleeper saw
const GO: usize = 5; // the killer may kill
const WOKE_AT: usize = 0; // u64: the sleeper's clock at its return
const KILL_AT: usize = 1; // u64: the killer's clock just before `kill`
const VICTIM_PID: usize = 2;
const VICTIM_START: usize = 3;
const WAKER_START: usize = 4; // u64: the waker's recorded start time

const WAIT_LIMIT: Duration = Duration::from_secs(5);

/// One page of `MAP_SHARED | MAP_ANONYMOUS` memory, made before any fork and
/// kept for the whole run, so every child maps it at the same address.
struct Page(*mut u8);

// SAFETY: the page is only accessed through atomics and never unmapped.
unsafe impl Sync for Page {}
// SAFETY: as above; the pointer is the only state.
unsafe impl Send for Page {}

fn page() -> &'static Page {
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
    fn u32(&self, i: usize) -> &AtomicU32 {
        assert!(i < 512);
        // SAFETY: in bounds of the 4096-byte page (i * 4 < 2048), aligned,
        // mapped for the life of the process, only accessed atomically.
        unsafe { &*self.0.add(i * 4).cast::<AtomicU32>() }
    }

    fn u64(&self, i: usize) -> &AtomicU64 {
        assert!(i < 256);
        // SAFETY: as for `u32`: 2048 + i * 8 < 4096, 8-aligned.
        unsafe { &*self.0.add(2048 + i * 8).cast::<AtomicU64>() }
    }

    fn reset(&self) {
        (0..512).for_each(|i| self.u32(i).store(0, Ordering::SeqCst));
    }
}

fn now_ns() -> u64 {
    monotonic_now().as_nanos() as u64
}

fn cvt(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned(fd: libc::c_long) -> io::Result<OwnedFd> {
    let fd = cvt(fd)? as RawFd;
    // SAFETY: `fd` was just returned by the kernel and is owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `pidfd_open(pid)`, then the recorded start time confirmed: the pidfd
/// refers to the recorded process, not a later one with a reused pid.
fn pidfd_confirmed(who: ProcessId) -> io::Result<OwnedFd> {
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

fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain system call.
    owned(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) }.into())
}

fn eventfd_write(fd: RawFd) {
    let one = 1u64;
    // SAFETY: writes 8 bytes from a live u64; an error (EAGAIN at the
    // counter's limit) leaves the eventfd readable, which is all a wake needs.
    unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

fn eventfd_drain(fd: RawFd) {
    let mut v = 0u64;
    // SAFETY: reads at most 8 bytes into a live u64.
    unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
}

fn epoll_of(fds: &[RawFd]) -> io::Result<OwnedFd> {
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

fn epoll_wait(ep: RawFd, timeout_ms: i32) {
    let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 4];
    // SAFETY: `evs` holds 4 events, as passed; `ep` is an epoll descriptor.
    unsafe { libc::epoll_wait(ep, evs.as_mut_ptr(), 4, timeout_ms) };
}

fn poll_in(fds: &[RawFd], timeout_ms: i32) -> i32 {
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
fn bell_addr(pid: u32, nonce: u32) -> (libc::sockaddr_un, libc::socklen_t) {
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

fn dgram_socket() -> io::Result<OwnedFd> {
    let ty = libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: plain system call.
    owned(unsafe { libc::socket(libc::AF_UNIX, ty, 0) }.into())
}

/// The sleeper's doorbell: bound under a fresh random nonce (retried on a
/// name somebody else holds).
fn bind_bell() -> io::Result<(OwnedFd, u32)> {
    let sock = dgram_socket()?;
    for _ in 0..8 {
        let mut nonce = 0u32;
        // SAFETY: fills 4 bytes of a live u32.
        unsafe { libc::getrandom((&mut nonce as *mut u32).cast(), 4, 0) };
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
fn drain_bell(fd: RawFd) {
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
struct Ringer {
    sock: OwnedFd,
    addr: libc::sockaddr_un,
    len: libc::socklen_t,
}

impl Ringer {
    /// Connected once (`connect` resolves the name; each ring is then a
    /// plain `send`, with no name lookup).
    fn new(pid: u32, nonce: u32) -> io::Result<Self> {
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
    fn ring(&self) {
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
    fn ring_by_name(&self, unconnected: &OwnedFd) {
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

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Futex,
    BellPoll,
    BellEpoll,
    BellNested,
    EventfdEpoll,
    Thread,
    Slices,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Futex => "futex",
            Kind::BellPoll => "bell/poll [bell,pidfd]",
            Kind::BellEpoll => "bell/epoll [bell,pidfd]",
            Kind::BellNested => "bell/nested epoll",
            Kind::EventfdEpoll => "eventfd/epoll [efd,pidfd]",
            Kind::Thread => "thread/eventfd",
            Kind::Slices => "slices 50ms (today)",
        }
    }
}

/// A sleeper's means of sleeping, set up in the sleeper's process.
struct Sleeper {
    kind: Kind,
    /// The doorbell or eventfd to drain after a wake.
    drain: Option<RawFd>,
    /// What to wait on: a poll set or an epoll descriptor.
    fds: Vec<RawFd>,
    _keep: Vec<OwnedFd>,
    waker: ProcessId,
}

impl Sleeper {
    fn new(kind: Kind, efd: Option<RawFd>) -> io::Result<Self> {
        let me = page();
        let waker = ProcessId {
            // SAFETY: plain query.
            pid: unsafe { libc::getppid() } as u32,
            start_time: me.u64(WAKER_START).load(Ordering::Acquire),
        };
        let mut s = Sleeper {
            kind,
            drain: None,
            fds: Vec::new(),
            _keep: Vec::new(),
            waker,
        };
        if matches!(kind, Kind::Futex | Kind::Slices) {
            return Ok(s);
        }
        let pidfd = pidfd_confirmed(waker)?;
        let readiness = if let Some(efd) = efd {
            efd
        } else {
            let (bell, nonce) = bind_bell()?;
            me.u32(BELL).store(nonce, Ordering::Release);
            let fd = bell.as_raw_fd();
            s._keep.push(bell);
            fd
        };
        s.drain = Some(readiness);
        let pair = [readiness, pidfd.as_raw_fd()];
        s._keep.push(pidfd);
        match kind {
            Kind::BellPoll => s.fds = pair.to_vec(),
            Kind::BellEpoll | Kind::EventfdEpoll | Kind::Thread => {
                let ep = epoll_of(&pair)?;
                s.fds = vec![ep.as_raw_fd()];
                s._keep.push(ep);
            }
            Kind::BellNested => {
                let inner = epoll_of(&pair)?;
                let outer = epoll_of(&[inner.as_raw_fd()])?;
                s.fds = vec![outer.as_raw_fd()];
                s._keep.push(inner);
                s._keep.push(outer);
            }
            Kind::Futex | Kind::Slices => {}
        }
        if kind == Kind::Thread {
            // The watcher forwards every change it has not forwarded yet,
            // counted from a value read *before* it is spawned: a watcher
            // that waited on a value it loads itself (at its start, or
            // after each write) would lose a change made just before that
            // load. (The prototype lost wakes both ways.)
            let event = page().u32(EVENT);
            let mut forwarded = event.load(Ordering::Acquire);
            std::thread::spawn(move || {
                loop {
                    let _ = Futex::new().wait(event, forwarded, None);
                    let now = event.load(Ordering::Acquire);
                    if now != forwarded {
                        forwarded = now;
                        eventfd_write(readiness);
                    }
                }
            });
        }
        Ok(s)
    }

    /// Sleeps while the event word holds `seen` (or until the doorbell,
    /// eventfd or pidfd is ready). Bounded by a safety timeout.
    fn sleep(&self, seen: u32) {
        let event = page().u32(EVENT);
        match self.kind {
            Kind::Futex => {
                let _ = Futex::new().wait(event, seen, Some(WAIT_LIMIT));
            }
            Kind::Slices => {
                let _ = Futex::new().wait(event, seen, Some(Duration::from_millis(50)));
                let _ = self.waker.is_alive();
            }
            Kind::BellPoll => {
                poll_in(&self.fds, 20_000);
            }
            _ => epoll_wait(self.fds[0], 20_000),
        }
        match (self.kind, self.drain) {
            (Kind::EventfdEpoll | Kind::Thread, Some(fd)) => eventfd_drain(fd),
            (_, Some(fd)) => drain_bell(fd),
            _ => {}
        }
    }
}

/// The sleeper's loop: `n` times announce → check → sleep → withdraw, and
/// report the clock at each return.
fn sleeper(kind: Kind, n: u32, efd: Option<RawFd>) -> i32 {
    pin::pin_peer();
    let me = page();
    let Ok(s) = Sleeper::new(kind, efd) else {
        return 20;
    };
    me.u32(READY).store(1, Ordering::Release);
    let (event, waiters) = (me.u32(EVENT), me.u32(WAITERS));
    for i in 1..=n {
        waiters.store(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let mut sleeps = 0;
        loop {
            let seen = event.load(Ordering::Acquire);
            if seen >= i {
                break;
            }
            s.sleep(seen);
            sleeps += 1;
            if sleeps > 10_000 {
                return 21;
            }
        }
        let t = now_ns();
        waiters.store(0, Ordering::Relaxed);
        me.u64(WOKE_AT).store(t, Ordering::Relaxed);
        me.u32(ACK).store(i, Ordering::Release);
    }
    0
}

/// Spins (yielding) until `cond`, at most [`WAIT_LIMIT`].
fn await_cond(what: &str, mut cond: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + WAIT_LIMIT;
    while !cond() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::yield_now();
    }
    Ok(())
}

/// Waits until the child's main thread sleeps in the kernel.
fn await_asleep(child: &Child) -> Result<(), String> {
    for _ in 0..100_000 {
        if child.state() == Some('S') {
            return Ok(());
        }
        std::thread::sleep(Duration::from_micros(20));
    }
    Err("sleeper never slept".into())
}

/// Starts a sleeper of `kind` for `n` wakes; returns it, its eventfd (for
/// the eventfd kinds) and the doorbell handle (for the bell kinds).
fn start(kind: Kind, n: u32) -> Result<(Child, Option<OwnedFd>, Option<Ringer>), String> {
    let me = page();
    me.reset();
    let start = ProcessId::current().map_err(|e| e.to_string())?.start_time;
    me.u64(WAKER_START).store(start, Ordering::Release);
    let efd = match kind {
        Kind::EventfdEpoll | Kind::Thread => Some(eventfd().map_err(|e| e.to_string())?),
        _ => None,
    };
    let raw = efd.as_ref().map(|f| f.as_raw_fd());
    let child = fork_child(move || sleeper(kind, n, raw))?;
    let mut child = child;
    await_cond("the sleeper", || me.u32(READY).load(Ordering::Acquire) == 1)
        .map_err(|e| format!("{e}: {}", child.describe()))?;
    let ringer = match kind {
        Kind::BellPoll | Kind::BellEpoll | Kind::BellNested => {
            let nonce = me.u32(BELL).load(Ordering::Acquire);
            Some(Ringer::new(child.pid as u32, nonce).map_err(|e| e.to_string())?)
        }
        _ => None,
    };
    Ok((child, efd, ringer))
}

/// The waker's half: store, fence, look at the announcement, wake.
fn publish(kind: Kind, value: u32, efd: Option<&OwnedFd>, ringer: Option<&Ringer>) {
    let me = page();
    me.u32(EVENT).store(value, Ordering::Release);
    fence(Ordering::SeqCst);
    if me.u32(WAITERS).load(Ordering::Relaxed) == 0 {
        return;
    }
    match kind {
        Kind::Futex | Kind::Slices | Kind::Thread => Futex::new().wake_all(me.u32(EVENT)),
        Kind::EventfdEpoll => eventfd_write(efd.map_or(-1, |f| f.as_raw_fd())),
        Kind::BellPoll | Kind::BellEpoll | Kind::BellNested => {
            if let Some(r) = ringer {
                r.ring()
            }
        }
    }
}

/// One turn of `n` wakes: (median latency, median waker cost) in ns.
fn wake_turn(kind: Kind, n: u32) -> Result<(f64, f64), String> {
    let me = page();
    let (mut child, efd, ringer) = start(kind, n)?;
    let (mut lat, mut cost) = (Vec::new(), Vec::new());
    for i in 1..=n {
        await_cond("the announcement", || {
            me.u32(ACK).load(Ordering::Acquire) == i - 1
                && me.u32(WAITERS).load(Ordering::Relaxed) != 0
        })?;
        await_asleep(&child)?;
        let t0 = now_ns();
        publish(kind, i, efd.as_ref(), ringer.as_ref());
        let t1 = now_ns();
        await_cond("the wake", || me.u32(ACK).load(Ordering::Acquire) == i)
            .map_err(|e| format!("{} wake {i}: {e}: {}", kind.name(), child.describe()))?;
        lat.push(me.u64(WOKE_AT).load(Ordering::Relaxed).saturating_sub(t0) as f64);
        cost.push((t1 - t0) as f64);
    }
    child.expect_ok(Instant::now() + WAIT_LIMIT)?;
    let med = |v: &[f64]| Stats::of(v).map_or(f64::NAN, |s| s.median);
    Ok((med(&lat), med(&cost)))
}

/// Wake-ups per second of a sleeper left alone for `quiet`.
fn idle_turn(kind: Kind, quiet: Duration) -> Result<f64, String> {
    let (mut child, efd, ringer) = start(kind, 1)?;
    let me = page();
    await_cond("the announcement", || {
        me.u32(WAITERS).load(Ordering::Relaxed) != 0
    })?;
    await_asleep(&child)?;
    let before = switches(child.pid)?;
    std::thread::sleep(quiet);
    let after = switches(child.pid)?;
    publish(kind, 1, efd.as_ref(), ringer.as_ref());
    child.expect_ok(Instant::now() + WAIT_LIMIT)?;
    Ok(after.saturating_sub(before) as f64 / quiet.as_secs_f64())
}

/// Voluntary plus involuntary context switches of every thread of `pid`.
fn switches(pid: libc::pid_t) -> Result<u64, String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).map_err(|e| e.to_string())?;
    let mut sum = 0;
    for task in tasks.flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        for line in status.lines() {
            if let Some(v) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                sum += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    Ok(sum)
}

/// One death: a killer process forks a victim (not our child), we take a
/// confirmed pidfd on it (or, `slices`, today's 50 ms liveness checks),
/// the killer SIGKILLs it; ns from just before `kill` to our return, and
/// the ns the pidfd's open and confirmation took.
fn death_once(kind: Kind) -> Result<(f64, f64), String> {
    let me = page();
    me.reset();
    (0..8).for_each(|i| me.u64(i).store(0, Ordering::SeqCst));
    let mut killer = fork_child(|| {
        pin::pin_peer();
        let Ok(mut victim) = fork_child(|| {
            let Ok(id) = ProcessId::current() else {
                return 30;
            };
            me.u64(VICTIM_START).store(id.start_time, Ordering::Relaxed);
            me.u64(VICTIM_PID).store(id.pid.into(), Ordering::Relaxed);
            me.u32(READY).store(1, Ordering::Release);
            loop {
                // SAFETY: `pause` only sleeps until a signal.
                unsafe { libc::pause() };
            }
        }) else {
            return 31;
        };
        if await_cond("go", || me.u32(GO).load(Ordering::Acquire) == 1).is_err() {
            return 32;
        }
        std::thread::sleep(Duration::from_millis(3));
        me.u64(KILL_AT).store(now_ns(), Ordering::SeqCst);
        // SAFETY: `victim.pid` is our unreaped child.
        unsafe { libc::kill(victim.pid, libc::SIGKILL) };
        let _ = victim.wait(Instant::now() + WAIT_LIMIT);
        0
    })?;
    await_cond("the victim", || me.u32(READY).load(Ordering::Acquire) == 1)?;
    let victim = ProcessId {
        pid: me.u64(VICTIM_PID).load(Ordering::Relaxed) as u32,
        start_time: me.u64(VICTIM_START).load(Ordering::Relaxed),
    };
    let t = now_ns();
    let pidfd = match kind {
        Kind::Slices => None,
        _ => Some(pidfd_confirmed(victim).map_err(|e| format!("pidfd: {e}"))?),
    };
    let open_cost = (now_ns() - t) as f64;
    me.u32(GO).store(1, Ordering::Release);
    let idle = AtomicU32::new(0);
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        if Instant::now() > deadline {
            return Err("death not noticed".into());
        }
        match &pidfd {
            Some(fd) if poll_in(&[fd.as_raw_fd()], 20_000) > 0 => break,
            Some(_) => {}
            None => {
                let _ = Futex::new().wait(&idle, 0, Some(Duration::from_millis(50)));
                if !victim.is_alive() {
                    break;
                }
            }
        }
    }
    let woke = now_ns();
    await_cond("the kill stamp", || {
        me.u64(KILL_AT).load(Ordering::SeqCst) != 0
    })?;
    let at = me.u64(KILL_AT).load(Ordering::SeqCst);
    killer.expect_ok(Instant::now() + WAIT_LIMIT)?;
    Ok((woke.saturating_sub(at) as f64, open_cost))
}

/// Nanoseconds per publication over `n` publications (for the variants
/// that make a system call: the time inside the wake calls only, not the
/// doorbell's draining).
fn fast_path(variant: usize, n: u32) -> f64 {
    let me = page();
    me.reset();
    let (event, waiters) = (me.u32(EVENT), me.u32(WAITERS));
    let bell = bind_bell().expect("doorbell");
    let ringer = Ringer::new(std::process::id(), bell.1).expect("ringer");
    let unconnected = dgram_socket().expect("socket");
    let efd = eventfd().expect("eventfd");
    if variant < 2 {
        let t = Instant::now();
        for i in 0..n {
            event.store(i, Ordering::Release);
            if variant == 1 {
                fence(Ordering::SeqCst);
                if std::hint::black_box(waiters.load(Ordering::Relaxed)) != 0 {
                    Futex::new().wake_all(event);
                }
            }
        }
        return t.elapsed().as_nanos() as f64 / f64::from(n.max(1));
    }
    let n = n / 50;
    let mut inside = Duration::ZERO;
    for i in 0..n {
        event.store(i, Ordering::Release);
        let t = Instant::now();
        match variant {
            2 => Futex::new().wake_all(event),
            3 => ringer.ring(),
            4 => ringer.ring_by_name(&unconnected),
            _ => eventfd_write(efd.as_raw_fd()),
        }
        inside += t.elapsed();
        if i % 8 == 7 {
            drain_bell(bell.0.as_raw_fd());
            eventfd_drain(efd.as_raw_fd());
        }
    }
    inside.as_nanos() as f64 / f64::from(n.max(1))
}

const FAST: [&str; 6] = [
    "store only",
    "store+fence+load, nobody waits",
    "FUTEX_WAKE, no sleeper",
    "bell send (connected)",
    "bell sendto (by name)",
    "eventfd write",
];

fn table(title: &str, kinds: &[Kind], rows: &[Vec<f64>], unit: Unit) {
    print_table(
        title,
        kinds
            .iter()
            .zip(rows)
            .map(|(k, v)| (k.name(), Stats::of(v))),
        unit,
    );
}

fn main() -> Result<(), String> {
    let run = PlainRun::from_args(15);
    let cpu = pin::pin_main();
    println!(
        "waking: {}; kernel {}",
        pin::placement("waker", "sleeper"),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    let cpu_name = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| {
        c.lines()
            .find(|l| l.starts_with("model name"))
            .map(str::to_string)
    });
    println!(
        "{}; pinned: {}",
        cpu_name.unwrap_or_default(),
        cpu.is_some()
    );
    let (wakes, idle_for, deaths) = if run.smoke {
        (5, Duration::from_millis(200), 2)
    } else {
        (200, Duration::from_secs(5), 8)
    };

    if run.selects("wake") {
        let kinds = [
            Kind::Futex,
            Kind::BellPoll,
            Kind::BellEpoll,
            Kind::BellNested,
            Kind::EventfdEpoll,
            Kind::Thread,
        ];
        let mut cost = vec![Vec::new(); kinds.len()];
        let rounds = interleave(&kinds, run.rounds, |k| {
            let (lat, c) = wake_turn(k, wakes)?;
            cost[kinds.iter().position(|&x| x == k).unwrap_or(0)].push(c);
            Ok::<_, String>(lat)
        })?;
        rounds.print("wake latency (turn medians)", Kind::name, Unit::Nanos, &[]);
        table(
            "waker cost: store+fence+load+wake call (turn medians)",
            &kinds,
            &cost,
            Unit::Nanos,
        );
    }
    if run.selects("fast") {
        let idx: Vec<usize> = (0..FAST.len()).collect();
        let n = if run.smoke { 10_000 } else { 5_000_000 };
        let rounds = interleave(&idx, run.rounds, |v| Ok::<_, String>(fast_path(v, n)))?;
        rounds.print(
            "fast path: ns per publication",
            |v| FAST[v],
            Unit::Nanos,
            &[],
        );
    }
    if run.selects("death") {
        let kinds = [Kind::BellPoll, Kind::Slices];
        let mut open = Vec::new();
        let rounds = interleave(&kinds, run.rounds.min(5), |k| {
            let mut lat = Vec::new();
            for _ in 0..deaths {
                let (l, o) = death_once(k)?;
                lat.push(l);
                if k != Kind::Slices {
                    open.push(o);
                }
            }
            Ok::<_, String>(Stats::of(&lat).map_or(f64::NAN, |s| s.median))
        })?;
        let name = |k: Kind| {
            if k == Kind::Slices {
                k.name()
            } else {
                "pidfd poll"
            }
        };
        rounds.print(
            "death notice: kill -> sleeper returns",
            name,
            Unit::Nanos,
            &[],
        );
        print_table(
            "pidfd_open + start-time check",
            [("open+confirm", Stats::of(&open))],
            Unit::Nanos,
        );
    }
    if run.selects("idle") {
        let kinds = [
            Kind::Slices,
            Kind::Futex,
            Kind::BellPoll,
            Kind::BellEpoll,
            Kind::Thread,
        ];
        let rounds = interleave(&kinds, run.rounds.min(2), |k| idle_turn(k, idle_for))?;
        println!("\n(idle: a blocked sleeper left alone {idle_for:?} per turn)");
        rounds.print("idle wake-ups per second", Kind::name, Unit::PerSecond, &[]);
    }
    Ok(())
}

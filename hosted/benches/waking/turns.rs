//! The measured turns: a sleeper process of each kind, the waker's half,
//! and the death and idle measurements.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering, fence};
use std::time::{Duration, Instant};

use ipckit::channel::ProcessId;
use ipckit::futex::Futex;
use ipckit::wait::Notify;
use ipckit_testkit::bench::Stats;
use ipckit_testkit::pin;
use ipckit_testkit::process::{Child, fork_child};

use crate::Kind;
use crate::sys::*;

/// A sleeper's means of sleeping, set up in the sleeper's process.
pub struct Sleeper {
    kind: Kind,
    /// The doorbell or eventfd to drain after a wake.
    drain: Option<RawFd>,
    /// What to wait on: a poll set or an epoll descriptor.
    fds: Vec<RawFd>,
    _keep: Vec<OwnedFd>,
    waker: ProcessId,
}

impl Sleeper {
    pub fn new(kind: Kind, efd: Option<RawFd>) -> io::Result<Self> {
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
    pub fn sleep(&self, seen: u32) {
        let event = page().u32(EVENT);
        match self.kind {
            Kind::Futex => {
                let _ = Futex::new().wait(event, seen, Some(SLEEP_LIMIT));
            }
            Kind::Slices => {
                let _ = Futex::new().wait(event, seen, Some(Duration::from_millis(50)));
                let _ = self.waker.is_alive();
            }
            Kind::BellPoll => {
                poll_in(&self.fds, SLEEP_LIMIT.as_millis() as i32);
            }
            _ => epoll_wait(self.fds[0], SLEEP_LIMIT.as_millis() as i32),
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
pub fn sleeper(kind: Kind, n: u32, efd: Option<RawFd>) -> i32 {
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
pub fn await_cond(what: &str, mut cond: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + WAIT_LIMIT;
    while !cond() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::yield_now();
    }
    Ok(())
}

/// Waits until every thread of the child sleeps in the kernel.
pub fn await_asleep(child: &Child) -> Result<(), String> {
    for _ in 0..100_000 {
        if child.state() == Some('S') && all_threads_asleep(child.pid) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_micros(20));
    }
    Err("sleeper never slept".into())
}

/// Whether every thread of `pid` (a waker thread too) sleeps in the kernel.
fn all_threads_asleep(pid: libc::pid_t) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|task| {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next());
        state == Some("S")
    })
}

/// Starts a sleeper of `kind` for `n` wakes; returns it, its eventfd (for
/// the eventfd kinds) and the doorbell handle (for the bell kinds).
pub fn start(kind: Kind, n: u32) -> Result<(Child, Option<OwnedFd>, Option<Ringer>), String> {
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
pub fn publish(kind: Kind, value: u32, efd: Option<&OwnedFd>, ringer: Option<&Ringer>) {
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
pub fn wake_turn(kind: Kind, n: u32) -> Result<(f64, f64), String> {
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
pub fn idle_turn(kind: Kind, quiet: Duration) -> Result<f64, String> {
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
pub fn switches(pid: libc::pid_t) -> Result<u64, String> {
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
pub fn death_once(kind: Kind) -> Result<(f64, f64), String> {
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
        // A random instant within a liveness slice, so that `slices`
        // shows its average, not one phase of its 50 ms period.
        std::thread::sleep(Duration::from_micros(
            1000 + u64::from(random_u32() % 50_000),
        ));
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

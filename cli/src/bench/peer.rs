//! The peer of a measurement: a forked child process or a thread, and the
//! control block they share with the measuring side.
//!
//! Children are forked from the single-threaded main thread (the only other
//! thread that may exist is the Ctrl-C handler's, blocked in `read(2)`;
//! glibc's `fork` keeps `malloc` usable in the child). A child dies with
//! its parent (`PR_SET_PDEATHSIG`), takes SIGINT's default action, and ends
//! with `_exit`, so nothing of the parent's state is dropped or flushed in
//! it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ipckit::shm::SharedMapping;

use super::cleanup;

/// A page shared by the measuring side and its peer (across `fork` too).
pub struct Control(SharedMapping);

impl Control {
    pub fn new() -> Result<Self, String> {
        SharedMapping::anonymous(4096)
            .map(Self)
            .map_err(|e| format!("control mapping: {e}"))
    }

    fn word(&self, i: usize) -> &AtomicU32 {
        assert!(i < 1024);
        // SAFETY: the mapping is 4096 page-aligned bytes that live as long
        // as `self`; word `i` (< 1024) is in it, aligned, and only ever
        // accessed atomically.
        unsafe { &*self.0.as_ptr().cast::<AtomicU32>().add(i) }
    }

    /// Word 0: the measuring side tells a producing peer to stop.
    pub fn stop(&self) -> &AtomicU32 {
        self.word(0)
    }

    /// Word 1: the measuring side gave up (error): a thread peer leaves.
    pub fn abort(&self) -> &AtomicU32 {
        self.word(1)
    }

    /// Word 32 and 64 bytes on: spare words for the raw floors, on their
    /// own cache lines (128 bytes apart).
    pub fn line(&self, n: usize) -> &AtomicU32 {
        self.word(32 * (n + 1))
    }

    pub fn stopped(&self) -> bool {
        self.stop().load(Ordering::Acquire) != 0
    }

    pub fn aborted(&self) -> bool {
        self.abort().load(Ordering::Acquire) != 0
    }
}

/// A running peer.
pub enum Peer {
    Process {
        pid: libc::pid_t,
        status: Option<i32>,
    },
    Thread(Option<JoinHandle<Result<(), String>>>),
}

/// Exit codes of a child.
const CHILD_FAILED: i32 = 3;
const CHILD_ORPHANED: i32 = 4;

impl Peer {
    /// Forks a child that pins itself to the peer CPU and runs `body`.
    pub fn fork(body: impl FnOnce() -> Result<(), String>) -> Result<Self, String> {
        // SAFETY: plain query.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the child runs `body` and `_exit`s; it never returns into
        // the caller (see the module docs about threads).
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(format!("fork: {}", std::io::Error::last_os_error()));
        }
        if pid > 0 {
            cleanup::register_child(pid);
            return Ok(Peer::Process { pid, status: None });
        }
        // SAFETY: these calls only change properties of this process.
        let orphaned = unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0
                || libc::getppid() != parent
        };
        let code = if orphaned {
            CHILD_ORPHANED
        } else {
            ipckit_testkit::pin::pin_peer();
            match body() {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("ipckit bench: peer process: {e}");
                    CHILD_FAILED
                }
            }
        };
        // SAFETY: ends the child without running the parent's destructors
        // or exit handlers (the parent's objects are not ours to drop).
        unsafe { libc::_exit(code) }
    }

    /// Spawns a thread pinned to the peer CPU that runs `body`.
    pub fn thread(body: impl FnOnce() -> Result<(), String> + Send + 'static) -> Self {
        Peer::Thread(Some(std::thread::spawn(move || {
            ipckit_testkit::pin::pin_peer();
            body()
        })))
    }

    /// `Err` if the peer has ended (it should still be running).
    pub fn check_alive(&mut self) -> Result<(), String> {
        match self {
            Peer::Process { pid, status } => {
                if status.is_none() {
                    let mut st = 0;
                    // SAFETY: `pid` is our unreaped child.
                    if unsafe { libc::waitpid(*pid, &mut st, libc::WNOHANG) } == *pid {
                        *status = Some(st);
                        cleanup::unregister_child(*pid);
                    }
                }
                match status {
                    Some(st) => Err(format!("the peer process ended ({})", describe(*st))),
                    None => Ok(()),
                }
            }
            Peer::Thread(handle) => match handle {
                Some(h) if !h.is_finished() => Ok(()),
                _ => Err("the peer thread ended".into()),
            },
        }
    }

    /// Waits up to `limit` for the peer to end by itself; kills a process
    /// that does not. `Ok` only for a clean end.
    pub fn finish(mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        // A peer that was told to stop ends within tens of microseconds;
        // poll from 20 us, doubling to 1 ms (every turn of every round
        // ends here, so a flat 1 ms sleep was a large share of a run).
        let mut pause = Duration::from_micros(20);
        let mut wait = || {
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(1));
        };
        match &mut self {
            Peer::Process { pid, status } => loop {
                if status.is_none() {
                    let mut st = 0;
                    // SAFETY: `pid` is our unreaped child.
                    if unsafe { libc::waitpid(*pid, &mut st, libc::WNOHANG) } == *pid {
                        *status = Some(st);
                        cleanup::unregister_child(*pid);
                    }
                }
                if let Some(st) = *status {
                    return if libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0 {
                        Ok(())
                    } else {
                        Err(format!("the peer process ended with {}", describe(st)))
                    };
                }
                if Instant::now() > deadline {
                    return Err("the peer process did not stop; killed it".into());
                }
                wait();
            },
            Peer::Thread(handle) => {
                let h = handle.take().ok_or("peer thread already joined")?;
                while !h.is_finished() {
                    if Instant::now() > deadline {
                        return Err("the peer thread did not stop".into());
                    }
                    wait();
                }
                h.join()
                    .map_err(|_| "the peer thread panicked".to_string())?
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Peer::Process { pid, status: None } = self {
            // SAFETY: `pid` is our unreaped child, so it cannot have been
            // reused; kill and reap it.
            unsafe {
                libc::kill(*pid, libc::SIGKILL);
                libc::waitpid(*pid, std::ptr::null_mut(), 0);
            }
            cleanup::unregister_child(*pid);
        }
        // A thread that does not end is left behind (it watches `abort`).
    }
}

fn describe(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exit code {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("signal {}", libc::WTERMSIG(status))
    } else {
        format!("wait status {status:#x}")
    }
}

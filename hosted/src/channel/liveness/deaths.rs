//! Death notices without polling: a pidfd per live peer, confirmed to name
//! the recorded process, and a sleep that ends when one of them becomes
//! readable (the process exited).
//!
//! A futex cannot be polled together with a descriptor, so a long sleep
//! hands the pidfds to a short-lived helper thread that `poll`s them and
//! wakes the sleeper through a word of its own (a private futex, one more
//! entry of the sleeper's `futex_waitv`). The helper exists only while a
//! call sleeps past [`FIRST_SLEEP`](super::watch) and is joined before the
//! call goes on; it never touches the region.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::time::Duration;

use ipckit_core::wait::WaitStatus;

use super::slot::{SlotSnapshot, SlotState};
use crate::channel::process::pid_runs;
use crate::futex::{WaitEntry, wait_any};

/// What a sleep that watched the peers' pidfds ended with.
pub(crate) enum Outcome {
    /// Woken through a ring or slot word, or timed out: as the futex says.
    Wait(ipckit_core::Result<WaitStatus>),
    /// A watched process exited.
    Died,
}

/// What [`watch`] found for a slot's recorded holder.
pub(crate) enum Fate {
    /// Alive, and the pidfd names it (becomes readable when it exits).
    Alive(OwnedFd),
    /// This process: alive as long as the call runs.
    Me,
    /// Dead (or the pid now names another process).
    Dead,
    /// Cannot tell without polling (a torn read, pidfds refused).
    Unknown,
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn pidfd_open(pid: u32) -> std::result::Result<OwnedFd, i32> {
    if pid == 0 || pid > i32::MAX as u32 {
        return Err(libc::ESRCH);
    }
    // SAFETY: `pidfd_open(pid, 0)` takes two integers and returns a new
    // descriptor or -1; nothing of ours is touched.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0u32) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Whether this process can sleep watching pidfds: `pidfd_open` (Linux
/// 5.3) and `futex_waitv` (5.16) both work (probed once; a seccomp filter
/// may refuse either). Without them, blocked calls fall back to liveness
/// slices.
pub(crate) fn watchable() -> bool {
    static PROBED: AtomicU8 = AtomicU8::new(0);
    match PROBED.load(Ordering::Relaxed) {
        1 => return true,
        2 => return false,
        _ => {}
    }
    let pidfd = pidfd_open(std::process::id()).is_ok();
    let word = AtomicU32::new(1);
    // SAFETY: the one entry names `word`, live for the call. It differs
    // from the expected 0, so a working call returns at once (`EAGAIN`).
    let waitv = unsafe { wait_any(&[WaitEntry::shared(&word, 0)], Some(Duration::ZERO)) };
    let works = pidfd && waitv.is_some();
    PROBED.store(if works { 1 } else { 2 }, Ordering::Relaxed);
    works
}

/// A pidfd for the holder `s` names, confirmed to be that process:
/// `pidfd_open` first, then the recorded start time compared with `/proc`
/// (an active slot) or the pid checked to run (a claiming one, whose start
/// time may not be written yet). If the check passes, the recorded process
/// held the pid without a break from the recording to the check, so the
/// pidfd names it.
pub(crate) fn watch(s: &SlotSnapshot, me: u32) -> Fate {
    if s.torn {
        return Fate::Unknown;
    }
    if s.holder.pid == me {
        return Fate::Me;
    }
    let fd = match pidfd_open(s.holder.pid) {
        Ok(fd) => fd,
        Err(libc::ESRCH) => return Fate::Dead,
        Err(_) => return Fate::Unknown,
    };
    let alive = match s.state {
        Some(SlotState::Active) => s.holder.is_alive(),
        Some(SlotState::Claiming) => pid_runs(s.holder.pid),
        _ => false,
    };
    match alive {
        true => Fate::Alive(fd),
        false => Fate::Dead,
    }
}

/// Sleeps in `futex_waitv` on `entries` (the last one free for our alarm
/// word) for at most `timeout`, while a helper thread polls `pidfds`: a
/// readable one (its process exited) ends the sleep with
/// [`Outcome::Died`]. `None` if the helper thread cannot be started (the
/// caller sleeps without it).
///
/// # Safety
/// Every entry but the last names a live, aligned 32-bit word for the
/// duration of the call.
pub(crate) unsafe fn sleep_watching(
    entries: &mut [WaitEntry],
    pidfds: &[OwnedFd],
    timeout: Option<Duration>,
) -> Option<Outcome> {
    let alarm = AtomicU32::new(0);
    // SAFETY: plain call; returns a new descriptor or -1.
    let cancel = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if cancel < 0 {
        return None;
    }
    // SAFETY: a fresh descriptor nothing else owns.
    let cancel = unsafe { OwnedFd::from_raw_fd(cancel) };
    let last = entries.len().checked_sub(1)?;
    entries[last] = WaitEntry::private(&alarm, 0);
    std::thread::scope(|s| {
        let helper = std::thread::Builder::new()
            .name("ipckit-deaths".into())
            .stack_size(64 * 1024)
            .spawn_scoped(s, || watch_pidfds(&cancel, pidfds, &alarm));
        helper.ok()?;
        // SAFETY: the caller's contract for the other entries; the last
        // names `alarm`, alive until the scope ends.
        let status = unsafe { wait_any(entries, timeout) };
        // Stop the helper (it is joined when the scope ends).
        let one = 1u64;
        // SAFETY: writes 8 bytes from `one` to our own eventfd.
        unsafe { libc::write(cancel.as_raw_fd(), (&one as *const u64).cast(), 8) };
        if alarm.load(Ordering::Acquire) != 0 {
            return Some(Outcome::Died);
        }
        status.map(Outcome::Wait)
    })
}

/// The helper's body: polls `cancel` and `pidfds` until one is readable;
/// a readable pidfd raises `alarm` and wakes the sleeper.
fn watch_pidfds(cancel: &OwnedFd, pidfds: &[OwnedFd], alarm: &AtomicU32) {
    let mut fds: Vec<libc::pollfd> = std::iter::once(cancel)
        .chain(pidfds)
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        // SAFETY: `fds` is a live array of `fds.len()` pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if r > 0 || errno() != libc::EINTR {
            break;
        }
    }
    // A readable pidfd, or a poll that failed (the sleeper then looks at
    // the slots itself, through `/proc`).
    if fds[0].revents == 0 {
        alarm.store(1, Ordering::Release);
        crate::futex::wake_all_private(alarm);
    }
}

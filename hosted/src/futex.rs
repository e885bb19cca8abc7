//! Linux futexes as the core's [`Notify`]: blocking across processes on a
//! word of a `MAP_SHARED` mapping.
//!
//! [`Futex`] uses `FUTEX_WAIT` / `FUTEX_WAKE` **without**
//! `FUTEX_PRIVATE_FLAG`. A private futex is keyed by the process's own
//! address space, so a wake from another process never reaches it (the bug
//! behind the `atomic-wait` crate's issue 7); a shared futex is keyed by the
//! underlying page, which is what two processes mapping one region share.
//!
//! `EINTR` (a signal) and `EAGAIN` (the word already changed) are reported as
//! [`WaitStatus::Woken`], since every caller re-checks its condition and
//! recomputes its remaining time; `ETIMEDOUT` is [`WaitStatus::TimedOut`];
//! anything else is [`Error::WaitFailed`] with the errno.
//!
//! The notifier of a [channel](crate::channel) endpoint also watches the
//! other side's liveness slots: its waits sleep in `futex_waitv` on the
//! ring's word and those slots' state words, and end when a peer closes
//! or dies (see the channel docs' "Dead peers").

use core::time::Duration;
use std::sync::atomic::AtomicU32;

use ipckit_core::wait::{Notify, WaitStatus};
use ipckit_core::{Error, Result};

use crate::channel::liveness::PeerWatch;

/// Blocking through shared Linux futexes, with an optional spin phase.
///
/// ```
/// use ipckit::futex::Futex;
/// use ipckit::shm::SharedMapping;
/// use ipckit::spsc::{Options, Ring};
///
/// let mapping = SharedMapping::anonymous(Ring::<u64>::region_len(64).unwrap())?;
/// let ring = Ring::<u64>::init_with(mapping.region(), Options::new(64).waking(true))?;
/// let mut tx = ring.producer_with(Futex::new())?;
/// let mut rx = ring.consumer_with(Futex::adaptive(1000))?;
/// std::thread::scope(|s| {
///     s.spawn(move || tx.push(7).unwrap());
///     assert_eq!(rx.pop().unwrap(), 7); // sleeps in the kernel until pushed
/// });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Futex {
    spin_budget: u32,
    /// A channel endpoint's view of its peers' liveness slots: waits then
    /// also end when a peer closes (see [`PeerWatch`]).
    watch: Option<PeerWatch>,
}

impl Futex {
    /// Sleeps at once when a blocking call cannot proceed.
    ///
    /// ```
    /// use ipckit::futex::Futex;
    /// use ipckit::wait::Notify;
    /// assert_eq!(Futex::new().spin_budget(), 0);
    /// ```
    pub const fn new() -> Self {
        Self {
            spin_budget: 0,
            watch: None,
        }
    }

    /// Retries `spins` times (with a CPU spin hint) before sleeping. A cross-
    /// core kernel wake-up costs tens of microseconds on a VM; a few
    /// thousand spins answer a busy peer in well under that, while an idle
    /// waiter still sleeps.
    ///
    /// ```
    /// use ipckit::futex::Futex;
    /// use ipckit::wait::Notify;
    /// assert_eq!(Futex::adaptive(4000).spin_budget(), 4000);
    /// ```
    pub const fn adaptive(spins: u32) -> Self {
        Self {
            spin_budget: spins,
            watch: None,
        }
    }

    /// This notifier, with its waits also watching the other side's
    /// liveness slots of a channel (see [`PeerWatch`]).
    pub(crate) const fn watching(self, watch: PeerWatch) -> Self {
        Self {
            spin_budget: self.spin_budget,
            watch: Some(watch),
        }
    }
}

/// `syscall(SYS_futex, word, op, val, timeout, NULL, 0)`.
fn futex(word: &AtomicU32, op: libc::c_int, val: u32, timeout: *const libc::timespec) -> i64 {
    // SAFETY: `word` is a live, aligned 32-bit atomic (the futex word). The
    // kernel only reads it (FUTEX_WAIT) or uses its address as a key
    // (FUTEX_WAKE); `timeout` is null or points to a live `timespec`.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            op,
            val,
            timeout,
            core::ptr::null::<u32>(),
            0u32,
        )
    }
}

/// One entry of `futex_waitv` (`struct futex_waitv` of
/// `<linux/futex.h>`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct WaitEntry {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

/// `FUTEX2_SIZE_U32`: the entry's word is 32 bits.
const FUTEX2_SIZE_U32: u32 = 0x02;
/// `FUTEX2_PRIVATE`: keyed by this address space (`FUTEX_PRIVATE_FLAG`).
const FUTEX2_PRIVATE: u32 = 128;

impl WaitEntry {
    /// An unused entry (never passed to the kernel).
    pub(crate) const EMPTY: Self = Self {
        val: 0,
        uaddr: 0,
        flags: 0,
        reserved: 0,
    };

    /// Wait while `word` (in a shared mapping) holds `expected`: a shared
    /// futex, as [`Futex`] uses, which `FUTEX_WAKE` from any process wakes.
    pub(crate) fn shared(word: &AtomicU32, expected: u32) -> Self {
        Self {
            val: u64::from(expected),
            uaddr: word.as_ptr() as u64,
            flags: FUTEX2_SIZE_U32,
            reserved: 0,
        }
    }

    /// Wait while `word` (in this process's own memory) holds `expected`.
    pub(crate) fn private(word: &AtomicU32, expected: u32) -> Self {
        Self {
            flags: FUTEX2_SIZE_U32 | FUTEX2_PRIVATE,
            ..Self::shared(word, expected)
        }
    }
}

/// `futex_waitv` (Linux 5.16): blocks until one of `entries` is woken or
/// no longer holds its value, or `timeout` passes. `None` if the kernel
/// lacks the call (`ENOSYS`, or a seccomp filter's `EPERM`): the caller
/// waits on its first word alone.
///
/// # Safety
/// Every entry names a live, 4-aligned 32-bit atomic word for the duration
/// of the call.
pub(crate) unsafe fn wait_any(
    entries: &[WaitEntry],
    timeout: Option<Duration>,
) -> Option<Result<WaitStatus>> {
    static MISSING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if MISSING.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    // An absolute CLOCK_MONOTONIC deadline, as futex_waitv takes it.
    let deadline = timeout.map(|t| {
        let at = monotonic_now().saturating_add(t);
        libc::timespec {
            tv_sec: at.as_secs().min(i64::MAX as u64 / 2) as libc::time_t,
            tv_nsec: at.subsec_nanos() as libc::c_long,
        }
    });
    let ptr = deadline
        .as_ref()
        .map_or(core::ptr::null(), |ts| ts as *const libc::timespec);
    // SAFETY: `entries` is a live array of `struct futex_waitv` whose words
    // are live and aligned (caller's contract); `ptr` is null or a live
    // timespec; the kernel only reads the words and uses their addresses as
    // keys.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex_waitv,
            entries.as_ptr(),
            entries.len() as libc::c_uint,
            0u32,
            ptr,
            libc::CLOCK_MONOTONIC,
        )
    };
    if r >= 0 {
        return Some(Ok(WaitStatus::Woken));
    }
    Some(match errno() {
        libc::EAGAIN | libc::EINTR => Ok(WaitStatus::Woken),
        libc::ETIMEDOUT => Ok(WaitStatus::TimedOut),
        libc::ENOSYS | libc::EPERM => {
            MISSING.store(true, std::sync::atomic::Ordering::Relaxed);
            return None;
        }
        code => Err(Error::WaitFailed(code)),
    })
}

/// `FUTEX_WAKE` of every waiter of `word` (a shared futex).
pub(crate) fn wake_all_shared(word: &AtomicU32) {
    futex(word, libc::FUTEX_WAKE, i32::MAX as u32, core::ptr::null());
}

/// `FUTEX_WAIT` on a shared futex (module docs).
pub(crate) fn plain_wait(
    word: &AtomicU32,
    expected: u32,
    timeout: Option<Duration>,
) -> Result<WaitStatus> {
    let timespec = timeout.map(|t| libc::timespec {
        // Saturate: a timeout of centuries is "no limit" in practice.
        tv_sec: t.as_secs().min(i64::MAX as u64 / 2) as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let ptr = timespec
        .as_ref()
        .map_or(core::ptr::null(), |ts| ts as *const libc::timespec);
    // FUTEX_WAIT takes a *relative* timeout; not FUTEX_PRIVATE_FLAG.
    if futex(word, libc::FUTEX_WAIT, expected, ptr) == 0 {
        return Ok(WaitStatus::Woken);
    }
    match errno() {
        libc::EAGAIN | libc::EINTR => Ok(WaitStatus::Woken),
        libc::ETIMEDOUT => Ok(WaitStatus::TimedOut),
        code => Err(Error::WaitFailed(code)),
    }
}

/// `FUTEX_WAKE_PRIVATE` of every waiter of `word` (a word of this
/// process's own memory, waited on as [`WaitEntry::private`]).
pub(crate) fn wake_all_private(word: &AtomicU32) {
    futex(
        word,
        libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
        i32::MAX as u32,
        core::ptr::null(),
    );
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

impl Notify for Futex {
    const WAKES: bool = true;

    fn wait(
        &self,
        word: &AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
    ) -> Result<WaitStatus> {
        match &self.watch {
            Some(watch) => watch.wait(word, expected, timeout),
            None => plain_wait(word, expected, timeout),
        }
    }

    fn wake_one(&self, word: &AtomicU32) {
        // A wake can only fail for a bad address or operation (EFAULT,
        // EINVAL), which this type never passes; waiters re-check anyway.
        futex(word, libc::FUTEX_WAKE, 1, core::ptr::null());
    }

    fn wake_all(&self, word: &AtomicU32) {
        futex(word, libc::FUTEX_WAKE, i32::MAX as u32, core::ptr::null());
    }

    fn now(&self) -> Option<Duration> {
        Some(monotonic_now())
    }

    fn spin_budget(&self) -> u32 {
        self.spin_budget
    }

    /// A spin hint, and every 64th step a `sched_yield`: when the peer shares
    /// this CPU (an overloaded machine), spinning alone would burn the whole
    /// budget while the peer cannot run; the yield lets it.
    fn spin_relax(&self, iteration: u32) {
        core::hint::spin_loop();
        if iteration % 64 == 63 {
            // SAFETY: `sched_yield` has no arguments and no memory effects.
            unsafe { libc::sched_yield() };
        }
    }
}

#[cfg(test)]
thread_local! {
    /// This thread's [`monotonic_now`] calls (the unit tests' check that a
    /// call that need not wait reads no clock).
    pub(crate) static CLOCK_READS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// `CLOCK_MONOTONIC` as a `Duration` since an arbitrary epoch (boot).
///
/// ```
/// let a = ipckit::futex::monotonic_now();
/// let b = ipckit::futex::monotonic_now();
/// assert!(b >= a);
/// ```
pub fn monotonic_now() -> Duration {
    #[cfg(test)]
    CLOCK_READS.with(|n| n.set(n.get() + 1));
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC always exists on
    // Linux, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::time::Instant;

    #[test]
    fn wait_returns_at_once_when_the_word_differs() {
        let word = AtomicU32::new(5);
        assert_eq!(Futex::new().wait(&word, 4, None), Ok(WaitStatus::Woken));
    }

    #[test]
    fn wait_times_out() {
        let word = AtomicU32::new(0);
        let started = Instant::now();
        let status = Futex::new().wait(&word, 0, Some(Duration::from_millis(20)));
        assert_eq!(status, Ok(WaitStatus::TimedOut));
        assert!(started.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn wake_releases_a_sleeper() {
        let word = AtomicU32::new(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                while word.load(Ordering::SeqCst) == 0 {
                    // Bounded: the main thread's wait has a long timeout only
                    // as a safety net.
                    let _ = Futex::new().wait(&word, 0, Some(Duration::from_secs(10)));
                }
            });
            std::thread::sleep(Duration::from_millis(20));
            word.store(1, Ordering::SeqCst);
            Futex::new().wake_all(&word);
        });
    }

    #[test]
    fn a_bad_word_address_is_an_error_not_a_hang() {
        // A word the kernel cannot read (misaligned) makes FUTEX_WAIT fail
        // with EINVAL: reported as an error value.
        let words = [AtomicU32::new(0), AtomicU32::new(0)];
        let misaligned = (words.as_ptr() as usize + 1) as *const u32;
        // SAFETY: only the address reaches the kernel, which rejects it for
        // misalignment before touching it; no reference to it is created.
        let r = unsafe {
            libc::syscall(
                libc::SYS_futex,
                misaligned,
                libc::FUTEX_WAIT,
                0u32,
                core::ptr::null::<libc::timespec>(),
            )
        };
        assert_eq!(r, -1);
        assert_eq!(errno(), libc::EINVAL);
    }
}

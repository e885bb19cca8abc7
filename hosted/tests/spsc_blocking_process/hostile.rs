//! (c) A hostile peer rewriting the tail word.

use super::*;

// (c) A hostile peer rewriting the tail word.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hostility {
    /// Garbage, over and over, no futex wakes.
    Garbage,
    /// Garbage, each write followed by a `FUTEX_WAKE` of the tail word.
    GarbageAndWake,
    /// Alternately a valid empty ring (`tail == head`) and garbage, with
    /// wakes: the consumer may sleep on a valid value and wake to garbage.
    Flip,
    /// Waits until the consumer sleeps in the kernel, writes garbage once,
    /// and never wakes it: only the timeout can end that wait.
    QuietWhileAsleep,
}

/// Control words of a hostile sub-test, in their own page.
pub(super) const CTRL_STARTED: usize = 0;
pub(super) const CTRL_STOP: usize = 128;

/// A `tail` that is never within a capacity of `head`.
pub(super) fn garbage(head: u32, capacity: u32, n: u32) -> u32 {
    let far = capacity + 1 + (n.wrapping_mul(0x9E37_79B9) >> 2);
    head.wrapping_add(far)
}

/// The hostile child: no attach, no claim; it scribbles on the tail word
/// until the parent says stop (or 10 s pass).
pub(super) fn hostile(
    m: &SharedMapping,
    ctrl: &SharedMapping,
    mode: Hostility,
    capacity: u32,
) -> i32 {
    let tail = word(m, TAIL_OFFSET);
    let waiting = word(m, CONSUMER_WAITING_OFFSET);
    let started = word(ctrl, CTRL_STARTED);
    let stop = word(ctrl, CTRL_STOP);
    let head = word(m, HEAD_OFFSET).load(Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    let wake = |w: &AtomicU32| {
        // SAFETY: a shared FUTEX_WAKE on a live, aligned word of the mapping;
        // the kernel only uses its address as a key.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                w.as_ptr(),
                libc::FUTEX_WAKE,
                i32::MAX,
                core::ptr::null::<libc::timespec>(),
            )
        };
    };
    let mut n = 0u32;
    if mode == Hostility::QuietWhileAsleep {
        started.store(1, Ordering::SeqCst);
        // Announced, and asleep in the kernel: the parent's only sleep
        // after announcing is the futex wait on the tail word.
        // SAFETY: plain query.
        let parent = unsafe { libc::getppid() };
        let asleep = || {
            std::fs::read_to_string(format!("/proc/{parent}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .map(|(_, r)| r.trim_start().starts_with('S'))
                })
                .unwrap_or(false)
        };
        while waiting.load(Ordering::SeqCst) == 0 || !asleep() {
            if stop.load(Ordering::SeqCst) != 0 || Instant::now() > deadline {
                return EXIT_OK;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        tail.store(garbage(head, capacity, 1), Ordering::SeqCst);
        while stop.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        return EXIT_OK;
    }
    while stop.load(Ordering::Relaxed) == 0 {
        n = n.wrapping_add(1);
        let value = match mode {
            Hostility::Flip if n % 2 == 0 => head,
            _ => garbage(head, capacity, n),
        };
        tail.store(value, Ordering::Release);
        if n == 1 {
            started.store(1, Ordering::SeqCst);
        }
        if mode != Hostility::Garbage {
            wake(tail);
        }
        if n % 1024 == 0 && Instant::now() > deadline {
            break;
        }
    }
    EXIT_OK
}

pub(super) fn hostile_tail(mode: Hostility, notify: Futex) -> Result<String, String> {
    const CAP: u32 = 8;
    const T: Duration = Duration::from_millis(200);
    const CALLS: usize = 8;
    let name = notifier_name(notify);
    let m = waking_ring(CAP)?;
    let ctrl = SharedMapping::anonymous(4096).map_err(|e| format!("mmap: {e}"))?;
    let ring = attach(&m).map_err(|e| format!("attach: {e}"))?;
    let mut rx = ring
        .consumer_with(notify)
        .map_err(|e| format!("consumer: {e}"))?;
    let mut child = fork_child(|| hostile(&m, &ctrl, mode, CAP))?;
    if !wait_for(Duration::from_secs(5), || {
        word(&ctrl, CTRL_STARTED).load(Ordering::SeqCst) == 1
    }) {
        return Err(format!("hostile child never started: {}", child.describe()));
    }
    let (mut corrupted, mut timed_out) = (0, 0);
    let mut slowest = Duration::ZERO;
    for call in 0..CALLS {
        let t0 = Instant::now();
        let r = rx.pop_timeout(Some(T));
        let took = t0.elapsed();
        slowest = slowest.max(took);
        match r {
            Err(CoreError::Corrupted(_)) => corrupted += 1,
            Err(CoreError::TimedOut) if took >= T => timed_out += 1,
            other => {
                return Err(format!(
                    "call {call}: {other:?} after {took:?}; {}",
                    ring_words("ring", &m)
                ));
            }
        }
        if took >= T + SLACK {
            return Err(format!(
                "call {call}: returned {took:?} after a timeout of {T:?}"
            ));
        }
        // Garbage that is always there must be seen as such.
        if matches!(mode, Hostility::Garbage | Hostility::GarbageAndWake) && corrupted != call + 1 {
            return Err(format!("call {call}: {r:?} with a garbage tail"));
        }
        if mode == Hostility::QuietWhileAsleep && call == 0 {
            // Asleep with no wake coming: only the timeout ends this call
            // (with `TimedOut`, or `Corrupted` from the last look after it).
            if took < T {
                return Err(format!(
                    "call 0 returned {r:?} after {took:?}, before its timeout"
                ));
            }
            // The garbage is in place now: the next calls read it at once.
            if !wait_for(Duration::from_secs(5), || {
                word(&m, TAIL_OFFSET).load(Ordering::SeqCst) != START
            }) {
                return Err("hostile child never wrote the tail".into());
            }
        }
    }
    if mode == Hostility::QuietWhileAsleep && corrupted < CALLS - 1 {
        return Err(format!(
            "{corrupted} of {CALLS} calls saw a garbage tail that stayed in place"
        ));
    }
    word(&ctrl, CTRL_STOP).store(1, Ordering::SeqCst);
    child.expect_ok(Instant::now() + CHILD_DEADLINE)?;
    // The endpoint is still safe to use and drop.
    drop(rx);
    Ok(format!(
        "{name}: {CALLS} pop_timeout({} ms): {corrupted} Corrupted, {timed_out} TimedOut, slowest {:.1} ms",
        T.as_millis(),
        slowest.as_secs_f64() * 1e3
    ))
}

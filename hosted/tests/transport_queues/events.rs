//! eventfd and real-time signals.

use super::*;

// eventfd.

pub(super) fn eventfd_ping_pong_and_semaphore() -> Result<String, String> {
    let there = EventFd::new(0, EventFdMode::Counter).map_err(|e| e.to_string())?;
    let back = EventFd::new(0, EventFdMode::Counter).map_err(|e| e.to_string())?;
    let mut child = fork_child(|| {
        child_main(|| {
            for i in 1..=COUNT {
                let v = there
                    .wait_timeout(Some(STEP))
                    .map_err(|e| fail(EXIT_TIMEOUT, e.to_string()))?;
                if v != i {
                    return Err(fail(EXIT_OUT_OF_ORDER, format!("got {v}, expected {i}")));
                }
                back.notify(v)
                    .map_err(|e| fail(EXIT_RING_ERROR, e.to_string()))?;
            }
            Ok(())
        })
    })?;
    let started = Instant::now();
    for i in 1..=COUNT {
        there.notify(i).map_err(|e| e.to_string())?;
        let v = back.wait_timeout(Some(STEP)).map_err(|e| e.to_string())?;
        if v != i {
            return Err(format!("echo {v}, expected {i}"));
        }
    }
    let rtt = started.elapsed() / COUNT as u32;
    expect_exit(&mut child, "echo")?;

    // Semaphore mode: every notify(1) is one wake; the poster then exits.
    let sem = EventFd::new(0, EventFdMode::Semaphore).map_err(|e| e.to_string())?;
    let mut child = fork_child(|| {
        child_main(|| {
            for _ in 0..COUNT {
                sem.notify(1)
                    .map_err(|e| fail(EXIT_RING_ERROR, e.to_string()))?;
            }
            Ok(())
        })
    })?;
    let mut rx = sem;
    let mut buf = [0; 8];
    for i in 0..COUNT {
        rx.recv_timeout(&mut buf, Some(STEP))
            .map_err(|e| format!("wake {i}: {e}"))?;
        if u64::from_ne_bytes(buf) != 1 {
            return Err(format!(
                "semaphore-mode wake {i} took {}",
                u64::from_ne_bytes(buf)
            ));
        }
    }
    expect_exit(&mut child, "poster")?;
    match rx.recv_timeout(&mut buf, Some(Duration::from_millis(100))) {
        Err(Error::TimedOut) => {}
        other => return Err(format!("after the poster left: {other:?}")),
    }
    Ok(format!(
        "{COUNT} values echoed in order (RTT {rtt:.1?} incl. checks), {COUNT} semaphore wakes, poster gone: TimedOut"
    ))
}

// Signals.

/// Signals sent in the order test, and why not 100 000.
pub(super) const SIGNALS: u64 = 20_000;
pub(super) const SIGNAL_REASON: &str = "each queued real-time signal holds a kernel entry charged to the \
     user's RLIMIT_SIGPENDING, shared by every process of the user (a few thousand on many \
     systems); the sender retries on EAGAIN, so this shows order and payloads without \
     flooding a per-user resource";

pub(super) fn signals_order() -> Result<String, String> {
    let signo = rt_signal(1).map_err(|e| e.to_string())?;
    // Blocked before the fork: the child can only send after that.
    let mut rx = SignalReceiver::new(signo).map_err(|e| e.to_string())?;
    // SAFETY: plain query.
    let parent = unsafe { libc::getpid() } as u32;
    let mut child = fork_child(|| {
        child_main(|| {
            let mut tx = SignalSender::new(parent, signo);
            for i in 0..SIGNALS as i32 {
                tx.send_timeout(&i.to_ne_bytes(), Some(STEP))
                    .map_err(|e| fail(EXIT_RING_ERROR, format!("signal {i}: {e}")))?;
            }
            Ok(())
        })
    })?;
    for i in 0..SIGNALS as i32 {
        let info = rx.recv_signal(Some(STEP)).map_err(|e| e.to_string())?;
        if info.value != i || info.pid != child.pid as u32 || info.code != libc::SI_QUEUE {
            return Err(format!("signal {i}: {info:?} (sender {})", child.pid));
        }
    }
    expect_exit(&mut child, "sender")?;
    let mut buf = [0; 4];
    match rx.recv_timeout(&mut buf, Some(Duration::from_millis(100))) {
        Err(Error::TimedOut) => {}
        other => return Err(format!("after the sender left: {other:?}")),
    }
    // The sender is reaped: sending to it is PeerGone.
    let mut gone = SignalSender::new(child.pid as u32, signo);
    if !gone
        .send_timeout(&1i32.to_ne_bytes(), None)
        .is_err_and(|e| e.is_peer_gone())
    {
        return Err("a send to a reaped pid was not PeerGone".into());
    }
    Ok(format!(
        "{SIGNALS} payloads in order with the sender's pid, not {COUNT}: {SIGNAL_REASON}"
    ))
}

pub(super) fn signals_overflow() -> Result<String, String> {
    const LIMIT: u64 = 64;
    let signo = rt_signal(2).map_err(|e| e.to_string())?;
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid out-pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_SIGPENDING, &mut old) };
    let low = libc::rlimit {
        rlim_cur: LIMIT,
        rlim_max: old.rlim_max,
    };
    // SAFETY: lowering our own soft limit (the receiver's counts).
    if unsafe { libc::setrlimit(libc::RLIMIT_SIGPENDING, &low) } != 0 {
        return Err("setrlimit(RLIMIT_SIGPENDING)".into());
    }
    let result = (|| {
        let mut rx = SignalReceiver::new(signo).map_err(|e| e.to_string())?;
        let words = SharedWords::new();
        // SAFETY: plain query.
        let parent = unsafe { libc::getpid() } as u32;
        let mut child = fork_child(|| {
            child_main(|| {
                let mut tx = SignalSender::new(parent, signo);
                for i in 0..10 * LIMIT as i32 {
                    match tx.try_send(&i.to_ne_bytes()) {
                        Ok(()) => {}
                        Err(Error::Full) => {
                            words.word(0).store(i as u64, Ordering::Release);
                            words.word(1).store(1, Ordering::Release);
                            return Ok(());
                        }
                        Err(e) => return Err(fail(EXIT_RING_ERROR, e.to_string())),
                    }
                }
                Err(fail(EXIT_CHECK, "never Full"))
            })
        })?;
        expect_exit(&mut child, "sender")?;
        let sent = words.word(0).load(Ordering::Acquire);
        let mut buf = [0; 4];
        let mut got = 0;
        while rx.try_recv(&mut buf).is_ok() {
            if i32::from_ne_bytes(buf) as u64 != got {
                return Err(format!("payload {} at {got}", i32::from_ne_bytes(buf)));
            }
            got += 1;
        }
        if got != sent || sent > LIMIT {
            return Err(format!("sent {sent} before Full, received {got}"));
        }
        Ok(format!(
            "RLIMIT_SIGPENDING {LIMIT}: Full after {sent} signals, all {got} received, none lost"
        ))
    })();
    // SAFETY: restores our own limit.
    unsafe { libc::setrlimit(libc::RLIMIT_SIGPENDING, &old) };
    result
}

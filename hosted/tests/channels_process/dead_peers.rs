//! Dead peers: `PeerGone` within a bound, queued messages first.

use super::*;

// Dead peers.

/// Kills `pid` with SIGKILL from another thread after `delay`; the thread
/// returns the instant of the kill.
pub(super) fn kill_later(pid: libc::pid_t, delay: Duration) -> std::thread::JoinHandle<Instant> {
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        let at = Instant::now();
        // SAFETY: `pid` is our unreaped child (reaped later by its `Child`
        // in the main thread), so the pid cannot be reused meanwhile.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        at
    })
}

/// A child that runs `setup`, raises word 0, and then sleeps until killed.
pub(super) fn idle_child(
    words: &SharedWords,
    setup: impl FnOnce() -> Result<Box<dyn std::any::Any>, String>,
) -> Result<Child, String> {
    let child = fork_child(|| {
        child_main(|| {
            let _keep = setup().map_err(|e| fail(EXIT_RING_ERROR, e))?;
            words.word(0).store(1, Ordering::Release);
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    })?;
    ensure!(words.wait_for(0, 1, PATIENCE), "child never got ready");
    Ok(child)
}

/// Runs `blocked` (a blocking call expected to fail with PeerGone) while a
/// thread kills `child`; returns the time from the kill to the error, less
/// the time the blocked thread spent runnable without a CPU meanwhile (a
/// loaded machine, not the channel: a death noticed only by a later
/// liveness check would have kept the thread asleep, not runnable).
pub(super) fn measure_peer_gone<R: std::fmt::Debug>(
    child: &mut Child,
    blocked: impl FnOnce() -> Result<R, Error>,
) -> Result<Duration, String> {
    // The kill comes 105 ms into the call, well after the caller sleeps.
    let killer = kill_later(child.pid, Duration::from_millis(105));
    let waited = run_delay_ns();
    let result = blocked();
    let returned = Instant::now();
    let waited = Duration::from_nanos(run_delay_ns().saturating_sub(waited));
    let killed = killer.join().map_err(|_| "killer thread panicked")?;
    child.kill(); // reap
    match result {
        Err(e) if e.is_peer_gone() => {}
        other => return Err(format!("expected PeerGone, got {other:?}")),
    }
    ensure!(returned > killed, "returned before the kill");
    let took = returned - killed;
    ensure!(
        took.saturating_sub(waited) < PEER_GONE_BOUND,
        "PeerGone after {took:?}, {waited:?} of it waiting for a CPU (bound {PEER_GONE_BOUND:?})"
    );
    Ok(took)
}

pub(super) fn killed_sender_spsc() -> Result<String, String> {
    let g = ShmGuard::new("kill-spsc");
    let mut rx = spsc::Receiver::<u64>::create(&g.0, 64).ctx("create")?;
    let words = SharedWords::new();
    let name = g.0.clone();
    let mut child = idle_child(&words, || {
        let mut tx = spsc::Sender::<u64>::open(&name).map_err(|e| e.to_string())?;
        for i in 0..3 {
            tx.send(item(i)).map_err(|e| e.to_string())?;
        }
        Ok(Box::new(tx))
    })?;
    for i in 0..3 {
        ensure!(rx.recv().ctx("recv")? == item(i), "item {i}");
    }
    let took = measure_peer_gone(&mut child, || rx.recv())?;
    Ok(format!(
        "receiver blocked on empty: PeerGone {took:.1?} after SIGKILL"
    ))
}

pub(super) fn killed_receiver_bytes() -> Result<String, String> {
    let g = ShmGuard::new("kill-bytes");
    let mut tx = bytes::Sender::create(&g.0, 4096).ctx("create")?;
    let words = SharedWords::new();
    let name = g.0.clone();
    let mut child = idle_child(&words, || {
        Ok(Box::new(
            bytes::Receiver::open(&name).map_err(|e| e.to_string())?,
        ))
    })?;
    // Fill the channel, then block on a full one.
    while tx.try_send(&[7; 100]).is_ok() {}
    let took = measure_peer_gone(&mut child, || tx.send(&[8; 100]))?;
    Ok(format!(
        "sender blocked on full: PeerGone {took:.1?} after SIGKILL"
    ))
}

pub(super) fn killed_senders_mpmc() -> Result<String, String> {
    let g = ShmGuard::new("kill-mpmc");
    let rx = mpmc::Receiver::<u64>::create(&g.0, 64).ctx("create")?;
    let words = SharedWords::new();
    let name = g.0.clone();
    let mut child = idle_child(&words, || {
        Ok(Box::new(
            mpmc::Sender::<u64>::open(&name).map_err(|e| e.to_string())?,
        ))
    })?;
    let took = measure_peer_gone(&mut child, || rx.recv())?;
    Ok(format!(
        "receiver blocked on empty: PeerGone {took:.1?} after SIGKILL"
    ))
}

pub(super) fn drain_before_peer_gone() -> Result<String, String> {
    const QUEUED: u64 = 100;
    let g = ShmGuard::new("drain");
    let mut rx = bytes::Receiver::create(&g.0, 8192).ctx("create")?;
    let words = SharedWords::new();
    let name = g.0.clone();
    let mut child = idle_child(&words, || {
        let mut tx = bytes::Sender::open(&name).map_err(|e| e.to_string())?;
        for i in 0..QUEUED {
            tx.send(&i.to_le_bytes()).map_err(|e| e.to_string())?;
        }
        Ok(Box::new(tx))
    })?;
    child.kill();
    let mut buf = [0u8; 8];
    for i in 0..QUEUED {
        let n = rx.recv(&mut buf).ctx("recv after the sender died")?;
        ensure!(n == 8 && u64::from_le_bytes(buf) == i, "message {i}");
    }
    let r = rx.recv(&mut buf);
    ensure!(
        r.as_ref().is_err_and(Error::is_peer_gone),
        "after draining: {r:?}"
    );
    let pid = match r {
        Err(Error::PeerGone { peer, pid }) => {
            ensure!(peer == Some(Role::Producer), "peer {peer:?}");
            pid
        }
        _ => None,
    };
    ensure!(
        pid == Some(child.pid as u32),
        "PeerGone names pid {pid:?}, not {}",
        child.pid
    );
    Ok(format!(
        "{QUEUED} queued messages of a killed sender delivered, then PeerGone naming its pid"
    ))
}

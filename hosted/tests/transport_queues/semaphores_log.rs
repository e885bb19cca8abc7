//! Semaphores (named, System V with `SEM_UNDO`) and the file log.

use super::*;

// Semaphores.

pub(super) fn named_semaphore_ping_pong() -> Result<String, String> {
    const ROUNDS: u32 = 20_000;
    let ping = QueueNameGuard::new("sem-ping");
    let pong = QueueNameGuard::new("sem-pong");
    let a = NamedSemaphore::create(&ping.0, 0).map_err(|e| e.to_string())?;
    let b = NamedSemaphore::create(&pong.0, 0).map_err(|e| e.to_string())?;
    if !matches!(
        NamedSemaphore::create(&ping.0, 0),
        Err(Error::AlreadyExists(_))
    ) {
        return Err("a second create succeeded".into());
    }
    let mut child = fork_child(|| {
        child_main(|| {
            let a = NamedSemaphore::open(&ping.0).map_err(|e| fail(EXIT_CHECK, e.to_string()))?;
            let b = NamedSemaphore::open(&pong.0).map_err(|e| fail(EXIT_CHECK, e.to_string()))?;
            for _ in 0..ROUNDS {
                a.wait_timeout(Some(STEP))
                    .map_err(|e| fail(EXIT_TIMEOUT, e.to_string()))?;
                b.post().map_err(|e| fail(EXIT_RING_ERROR, e.to_string()))?;
            }
            Ok(())
        })
    })?;
    let started = Instant::now();
    for _ in 0..ROUNDS {
        a.post().map_err(|e| e.to_string())?;
        b.wait_timeout(Some(STEP)).map_err(|e| e.to_string())?;
    }
    let rtt = started.elapsed() / ROUNDS;
    expect_exit(&mut child, "ponger")?;
    if !b.try_wait().is_err_and(|e| e.is_empty()) {
        return Err("extra unit".into());
    }
    drop((a, b));
    NamedSemaphore::unlink(&ping.0).map_err(|e| e.to_string())?;
    NamedSemaphore::unlink(&pong.0).map_err(|e| e.to_string())?;
    Ok(format!("{ROUNDS} rounds, RTT {rtt:.1?}, unlinked"))
}

pub(super) fn sysv_sem_undo_after_sigkill() -> Result<String, String> {
    let mut set = SysvSemaphoreSet::create_private(2).map_err(|e| e.to_string())?;
    let _guard = track(set.id(), true);
    let words = SharedWords::new();
    let mut notes = Vec::new();
    for (index, undo) in [(0, true), (1, false)] {
        set.set_value(index, 1).map_err(|e| e.to_string())?;
        let id = set.id();
        let mut child = fork_child(|| {
            child_main(|| {
                let mut set =
                    SysvSemaphoreSet::from_id(id).map_err(|e| fail(EXIT_CHECK, e.to_string()))?;
                set.set_undo(undo);
                set.get(index)
                    .wait_timeout(Some(STEP))
                    .map_err(|e| fail(EXIT_TIMEOUT, e.to_string()))?;
                words.word(index).store(1, Ordering::Release);
                std::thread::sleep(support::DEADLINE);
                Err(fail(support::EXIT_UNREACHABLE, "not killed"))
            })
        })?;
        if !words.wait_for(index, 1, STEP) {
            return Err("the holder never took its unit".into());
        }
        if set.value(index).map_err(|e| e.to_string())? != 0 {
            return Err("the unit is not taken".into());
        }
        child.kill();
        set.set_undo(false);
        let after = set
            .get(index)
            .wait_timeout(Some(Duration::from_millis(500)));
        match (undo, after) {
            (true, Ok(())) => notes.push("SEM_UNDO: the killed holder's unit came back"),
            (false, Err(e)) if e.is_timeout() => {
                notes.push("without SEM_UNDO: lost (TimedOut), as documented")
            }
            (undo, other) => return Err(format!("undo {undo}: {other:?}")),
        }
    }
    let value = set.get(0);
    if !value.try_wait().is_err_and(|e| e.is_empty()) {
        return Err("extra unit".into());
    }
    set.remove().map_err(|e| e.to_string())?;
    Ok(notes.join("; "))
}

// File log.

pub(super) fn file_log_two_writers() -> Result<String, String> {
    const PER_WRITER: u64 = COUNT / 2;
    const MAX: u32 = 1 << 20;
    let path = support::temp_path("log");
    let _guard = FileGuard(path.clone());
    let w = LogWriter::create(&path, MAX).map_err(|e| e.to_string())?;
    drop(w);
    let mut children = Vec::new();
    for writer in 0..2u64 {
        let path = &path;
        children.push(fork_child(|| {
            child_main(|| {
                let mut w =
                    LogWriter::open(path, MAX).map_err(|e| fail(EXIT_CHECK, e.to_string()))?;
                let mut rng = Rng(writer + 1);
                let mut msg = Vec::new();
                for seq in 0..PER_WRITER {
                    message(seq, &mut rng, 200, &mut msg);
                    msg.push(writer as u8);
                    w.send_timeout(&msg, Some(STEP))
                        .map_err(|e| fail(EXIT_RING_ERROR, e.to_string()))?;
                }
                if writer == 0 {
                    let big: Vec<u8> = (0..MAX as usize).map(|i| (i % 241) as u8).collect();
                    w.send(&big)
                        .map_err(|e| fail(EXIT_RING_ERROR, e.to_string()))?;
                    match w.send(&vec![0; MAX as usize + 1]) {
                        Err(Error::Core(CoreError::FrameTooLarge { .. })) => {}
                        other => return Err(fail(EXIT_CHECK, format!("oversized: {other:?}"))),
                    }
                }
                Ok(())
            })
        })?);
    }
    // Follow the log while both append.
    let mut r = LogReader::open(&path, MAX).map_err(|e| e.to_string())?;
    let mut buf = vec![0; MAX as usize];
    let mut rngs = [Rng(1), Rng(2)];
    let mut next = [0u64; 2];
    let mut want = Vec::new();
    let mut big_seen = false;
    let started = Instant::now();
    while next[0] < PER_WRITER || next[1] < PER_WRITER || !big_seen {
        let n = r
            .recv_timeout(&mut buf, Some(STEP))
            .map_err(|e| format!("after {next:?}: {e}"))?;
        if n == MAX as usize {
            if buf.iter().enumerate().any(|(i, &b)| b != (i % 241) as u8) {
                return Err("max-size record corrupted".into());
            }
            big_seen = true;
            continue;
        }
        let writer = *buf[..n].last().ok_or("empty record")? as usize;
        if writer > 1 {
            return Err(format!("record of writer {writer}"));
        }
        message(next[writer], &mut rngs[writer], 200, &mut want);
        want.push(writer as u8);
        if buf[..n] != want[..] {
            return Err(format!(
                "writer {writer} record {}: torn or out of order",
                next[writer]
            ));
        }
        next[writer] += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    for child in &mut children {
        expect_exit(child, "writer")?;
    }
    let started = Instant::now();
    match r.recv_timeout(&mut buf, Some(Duration::from_millis(200))) {
        Err(Error::TimedOut) => {}
        other => return Err(format!("after the writers left: {other:?}")),
    }
    let waited = started.elapsed();
    LogWriter::remove(&path).map_err(|e| e.to_string())?;
    Ok(format!(
        "2 writers x {PER_WRITER} records interleaved whole and in order ({:.0} k rec/s), \
         a {MAX} B record, oversize refused, writers gone: TimedOut after {waited:.0?}",
        (2 * PER_WRITER) as f64 / secs / 1e3
    ))
}

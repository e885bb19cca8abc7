//! Pipes (forked and handed to a spawned child), FIFOs and child-process
//! pipes (popen).

use super::*;

pub(super) fn pipe(max: usize) -> Result<(PipeSender, PipeReceiver), String> {
    pipe_with_max(max as u32).map_err(|e| serr("pipe", e))
}

/// A FIFO with both ends open (the drop guard goes with the receiver's
/// test: returned separately).
pub(super) fn fifo(max: usize) -> Result<(Fifo, FifoSender, FifoReceiver), String> {
    let guard = Fifo::create(temp_path("fifo")).map_err(|e| serr("mkfifo", e))?;
    let rx = FifoReceiver::open(guard.path(), max as u32).map_err(|e| serr("open rx", e))?;
    let tx = FifoSender::open(guard.path(), max as u32, Some(Duration::from_secs(5)))
        .map_err(|e| serr("open tx", e))?;
    Ok((guard, tx, rx))
}

// --- pipe
pub(super) fn pipe_order() -> TestResult {
    order(pipe(ORDER_MAX)?, ORDER_MAX, End::PeerGone)
}
pub(super) fn pipe_max() -> TestResult {
    max_size(pipe(1 << 20)?)
}
pub(super) fn pipe_writer_exits() -> TestResult {
    writer_exits(pipe(1024)?, |t| t.as_fd(), &[], is_gone)?;
    writer_exits(pipe(1024)?, |t| t.as_fd(), &CUT, is_truncated)
}
pub(super) fn pipe_reader_exits() -> TestResult {
    reader_exits(pipe(1024)?)
}
pub(super) fn pipe_timeouts() -> TestResult {
    let flush = |t: &mut PipeSender| {
        let _ = t.flush(Some(Duration::ZERO));
    };
    // Frames larger than the pipe: accepted in part, finished later (small
    // messages and a small buffer: the message contract).
    timeouts(pipe(1 << 20)?, 100_000, flush)
}
pub(super) fn pipe_capacity() -> TestResult {
    let (tx, rx) = pipe(1024)?;
    let before = tx.capacity().map_err(|e| serr("capacity", e))?;
    let after = rx
        .set_capacity(1 << 20)
        .map_err(|e| serr("set_capacity", e))?;
    let now = tx.capacity().map_err(|e| serr("capacity", e))?;
    if now != after || after < before {
        return Err(format!("capacity {before} -> {after} (reads {now})"));
    }
    // Beyond pipe-max-size (unprivileged): clamped, not refused.
    let huge = tx.set_capacity(1 << 30);
    if let Ok(n) = huge {
        if n == 0 {
            return Err("set_capacity(1 GiB) gave 0".into());
        }
    }
    Ok(())
}
/// The read end handed to a spawned child (this binary, in mode
/// `pipe_reader`), which checks 100 000 messages.
pub(super) fn pipe_spawned_child() -> TestResult {
    let (mut tx, rx) = pipe(ORDER_MAX)?;
    let mut cmd = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
    let fd = rx.into_child(&mut cmd).map_err(|e| serr("into_child", e))?;
    cmd.env(CHILD_ENV, "pipe_reader")
        .env(FD_ENV, fd.to_string());
    let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
    drop(cmd); // our duplicate of the read end
    send_sequence(&mut tx, MESSAGES, ORDER_MAX).map_err(|f| f.msg)?;
    drop(tx);
    let status = wait_std(&mut child)?;
    if status.code() != Some(EXIT_OK) {
        return Err(format!("spawned reader: {status}"));
    }
    Ok(())
}

pub(super) fn wait_std(
    child: &mut std::process::Child,
) -> Result<std::process::ExitStatus, String> {
    let until = Instant::now() + DEADLINE;
    loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(s);
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            return Err("spawned child did not finish; killed".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

// --- FIFO
pub(super) fn fifo_order() -> TestResult {
    let (guard, tx, rx) = fifo(ORDER_MAX)?;
    order((tx, rx), ORDER_MAX, End::PeerGone)?;
    let path = guard.path().to_path_buf();
    drop(guard);
    if path.exists() {
        return Err(format!("{} left behind", path.display()));
    }
    Ok(())
}
pub(super) fn fifo_max() -> TestResult {
    let (_guard, tx, rx) = fifo(1 << 20)?;
    max_size((tx, rx))
}
pub(super) fn fifo_peers_exit() -> TestResult {
    let (_g, tx, rx) = fifo(1024)?;
    writer_exits((tx, rx), |t| t.as_fd(), &[], is_gone)?;
    let (_g, tx, rx) = fifo(1024)?;
    writer_exits((tx, rx), |t| t.as_fd(), &CUT, is_truncated)?;
    let (_g, tx, rx) = fifo(1024)?;
    reader_exits((tx, rx))
}
pub(super) fn fifo_open_rules() -> TestResult {
    let guard = Fifo::create(temp_path("fifo")).map_err(|e| serr("mkfifo", e))?;
    // A name that exists.
    match Fifo::create(guard.path()) {
        Err(Error::AlreadyExists(_)) => {}
        other => return Err(format!("second mkfifo: {other:?}")),
    }
    // No reader: the sender's open times out instead of blocking.
    let t0 = Instant::now();
    match FifoSender::open(guard.path(), 64, Some(Duration::from_millis(50))) {
        Err(e) if e.is_timeout() => {}
        other => return Err(format!("open without reader: {other:?}")),
    }
    if t0.elapsed() > Duration::from_secs(5) {
        return Err("open without reader hung".into());
    }
    // A reader before any writer: waits, no false end.
    let mut rx = FifoReceiver::open(guard.path(), 64).map_err(|e| serr("open rx", e))?;
    let mut buf = [0u8; 64];
    match rx.recv_timeout(&mut buf, Some(Duration::from_millis(30))) {
        Err(e) if e.is_timeout() => {}
        other => return Err(format!("recv before any writer: {other:?}")),
    }
    // A writer in another process that opens late.
    let path = guard.path().to_path_buf();
    let mut child = fork_child(|| {
        child_main(|| {
            std::thread::sleep(Duration::from_millis(50));
            let mut tx =
                FifoSender::open(&path, 64, Some(DEADLINE)).map_err(|e| ferr("open", e))?;
            tx.send(b"late").map_err(|e| ferr("send", e))
        })
    })?;
    let n = rx
        .recv_timeout(&mut buf, Some(DEADLINE))
        .map_err(|e| serr("recv", e))?;
    if &buf[..n] != b"late" {
        return Err("wrong message".into());
    }
    child.expect_exit(EXIT_OK)?;
    match rx.recv_timeout(&mut buf, Some(DEADLINE)) {
        Err(e) if e.is_peer_gone() => {}
        other => return Err(format!("after the writer left: {other:?}")),
    }
    // Missing path; explicit unlink.
    match FifoReceiver::open(temp_path("missing"), 64) {
        Err(Error::NotFound(_)) => {}
        other => return Err(format!("open of a missing FIFO: {other:?}")),
    }
    let p = guard.path().to_path_buf();
    guard.unlink().map_err(|e| serr("unlink", e))?;
    if p.exists() {
        return Err("unlink left the FIFO".into());
    }
    Ok(())
}
pub(super) fn fifo_timeouts() -> TestResult {
    let (_g, tx, rx) = fifo(1 << 20)?;
    timeouts((tx, rx), 5000, |t| {
        let _ = t.flush(Some(Duration::ZERO));
    })
}

// --- popen
pub(super) fn self_cmd(mode: &str) -> Result<Command, String> {
    let mut cmd = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
    cmd.env(CHILD_ENV, mode);
    Ok(cmd)
}

/// 100 000 messages to an echoing child and back, pumped without
/// blocking (so neither pipe can fill up both ways), checked on return.
pub(super) fn popen_order() -> TestResult {
    let mut p =
        Popen::spawn(&mut self_cmd("echo")?, ORDER_MAX as u32).map_err(|e| serr("spawn", e))?;
    let mut send_rng = Rng(0x5eed);
    let mut recv_rng = Rng(0x5eed);
    let (mut sent, mut received) = (0u64, 0u64);
    let mut msg = Vec::new();
    let mut have = false;
    let mut buf = vec![0u8; ORDER_MAX];
    let mut backoff = Backoff::new();
    while received < MESSAGES {
        let mut progress = false;
        if sent < MESSAGES {
            if !have {
                let len = msg_len(&mut send_rng, sent, ORDER_MAX);
                fill(&mut msg, sent, len);
                have = true;
            }
            match p.try_send(&msg) {
                Ok(()) => {
                    sent += 1;
                    have = false;
                    progress = true;
                }
                Err(e) if e.is_full() => {}
                Err(e) => return Err(serr("try_send", e)),
            }
        }
        match p.try_recv(&mut buf) {
            Ok(n) => {
                let len = msg_len(&mut recv_rng, received, ORDER_MAX);
                check(&buf[..n], received, len).map_err(|f| f.msg)?;
                received += 1;
                progress = true;
            }
            Err(e) if e.is_empty() => {}
            Err(e) => return Err(serr("try_recv", e)),
        }
        if progress {
            backoff.progress();
        } else if !backoff.idle() {
            return Err(format!("stalled at {sent} sent, {received} received"));
        }
    }
    p.close_stdin().map_err(|e| serr("close_stdin", e))?;
    match p.recv_timeout(&mut buf, Some(DEADLINE)) {
        Err(e) if e.is_peer_gone() => {}
        other => return Err(format!("after the echo: {other:?}")),
    }
    match p
        .wait_timeout(Some(DEADLINE))
        .map_err(|e| serr("wait", e))?
    {
        Some(s) if s.success() => Ok(()),
        other => Err(format!("echo child: {other:?}")),
    }
}
pub(super) fn popen_max_and_exit_status() -> TestResult {
    let max = 1 << 20;
    let mut p = Popen::spawn(&mut self_cmd("echo")?, max).map_err(|e| serr("spawn", e))?;
    let mut msg = Vec::new();
    fill(&mut msg, 7, max as usize);
    // Send and receive concurrently: 1 MiB does not fit in the pipes.
    let mut buf = vec![0u8; max as usize];
    let mut sent = false;
    let until = Instant::now() + DEADLINE;
    let n = loop {
        if Instant::now() > until {
            return Err("max-size echo stalled".into());
        }
        if !sent {
            match p.try_send(&msg) {
                Ok(()) => sent = true,
                Err(e) if e.is_full() => {}
                Err(e) => return Err(serr("send", e)),
            }
        } else {
            let _ = p.send_timeout(&[], Some(Duration::ZERO)); // flushes a partial frame
        }
        match p.recv_timeout(&mut buf, Some(Duration::from_millis(1))) {
            Ok(n) => break n,
            Err(e) if e.is_timeout() => {}
            Err(e) => return Err(serr("recv", e)),
        }
    };
    check(&buf[..n], 7, max as usize).map_err(|f| f.msg)?;
    match p.send(&vec![0u8; max as usize + 1]) {
        Err(Error::Core(CoreError::FrameTooLarge { .. })) => {}
        other => return Err(format!("oversized: {other:?}")),
    }
    drop(p);
    // Exit status: a child that exits with 7.
    let mut p = Popen::spawn(&mut self_cmd("exit7")?, 64).map_err(|e| serr("spawn", e))?;
    match p
        .wait_timeout(Some(DEADLINE))
        .map_err(|e| serr("wait", e))?
    {
        Some(s) if s.code() == Some(7) => {}
        other => return Err(format!("exit7 child: {other:?}")),
    }
    // Mid-frame end.
    let mut p = Popen::spawn(&mut self_cmd("truncate")?, 1024).map_err(|e| serr("spawn", e))?;
    match p.recv_timeout(&mut buf, Some(DEADLINE)) {
        Err(e) if is_truncated(&e) => {}
        other => return Err(format!("truncating child: {other:?}")),
    }
    Ok(())
}
/// A child that ignores its end of input is killed by the drop after the
/// grace, and reaped: no zombie.
pub(super) fn popen_drop_policy() -> TestResult {
    let mut p = Popen::spawn(&mut self_cmd("stubborn")?, 64).map_err(|e| serr("spawn", e))?;
    p.set_drop_grace(Duration::from_millis(100));
    let pid = p.pid() as libc::pid_t;
    let t0 = Instant::now();
    drop(p);
    if t0.elapsed() > Duration::from_secs(10) {
        return Err(format!("drop took {:?}", t0.elapsed()));
    }
    // SAFETY: a query of a pid we spawned: reaped, so ECHILD.
    let r = unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
    if r != -1 {
        return Err(format!("child {pid} not reaped by drop (waitpid {r})"));
    }
    // Raw bytes with a program that knows no frames.
    let mut p = Popen::spawn(Command::new("cat").arg("-"), 64).map_err(|e| serr("spawn cat", e))?;
    p.write_raw(b"raw bytes", None)
        .map_err(|e| serr("write_raw", e))?;
    p.close_stdin().map_err(|e| serr("close", e))?;
    let mut out = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        match p
            .read_raw(&mut buf, Some(DEADLINE))
            .map_err(|e| serr("read_raw", e))?
        {
            0 => break,
            n => out.extend_from_slice(&buf[..n]),
        }
    }
    if out != b"raw bytes" {
        return Err(format!("cat said {out:?}"));
    }
    Ok(())
}

//! The scenarios every stream transport runs, generic over the message
//! traits: order across processes, the maximum size, a writer or reader
//! that exits, timeouts with frames larger than the kernel's buffer.

use super::*;

/// How a receiver learns that its sender is gone.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// `PeerGone` (streams, seqpacket).
    PeerGone,
    /// Nothing: a datagram receiver waits out its timeout.
    TimesOut,
}

/// Receives `count` messages of the order test (lengths from `seed`) and
/// then checks the end of the stream.
pub(super) fn receive_all<R: MessageReceiver>(
    rx: &mut R,
    count: u64,
    max: usize,
    end: End,
) -> Result<(), ChildFail> {
    let mut buf = vec![0u8; max];
    receive_sequence(rx, &mut buf, count, max)?;
    match (
        end,
        rx.recv_timeout(&mut buf, Some(Duration::from_millis(200))),
    ) {
        (End::PeerGone, Err(e)) if e.is_peer_gone() => Ok(()),
        (End::TimesOut, Err(e)) if e.is_timeout() => Ok(()),
        (_, Ok(n)) => Err(fail(EXIT_CHECK, format!("an extra message of {n} bytes"))),
        (_, Err(e)) => Err(ferr("at the end", e)),
    }
}

/// 100 000 messages from this process to a forked child, in order and
/// intact, then the end of the stream.
pub(super) fn order<S: MessageSender, R: MessageReceiver>(
    (tx, rx): (S, R),
    max: usize,
    end: End,
) -> TestResult {
    let mut tx = Some(tx);
    let mut rx = Some(rx);
    let mut child = fork_child(|| {
        drop(tx.take());
        let mut rx = rx.take().expect("receiver");
        child_main(|| receive_all(&mut rx, MESSAGES, max, end))
    })?;
    drop(rx);
    let mut tx = tx.take().expect("sender");
    send_sequence(&mut tx, MESSAGES, max).map_err(|f| f.msg)?;
    drop(tx);
    child.expect_exit(EXIT_OK)
}

/// The maximum-size message (three of them, around an empty one), and one
/// byte more refused with nothing lost.
pub(super) fn max_size<S: MessageSender, R: MessageReceiver>((tx, rx): (S, R)) -> TestResult {
    let max = tx.max_message_len();
    let mut tx = Some(tx);
    let mut rx = Some(rx);
    let mut child = fork_child(|| {
        drop(tx.take());
        let mut rx = rx.take().expect("receiver");
        child_main(|| {
            let mut buf = vec![0u8; max];
            for (i, len) in [(0, max), (1, 0), (2, max), (3, 1)] {
                let n = rx
                    .recv_timeout(&mut buf, Some(DEADLINE))
                    .map_err(|e| ferr("recv", e))?;
                check(&buf[..n], i, len)?;
            }
            Ok(())
        })
    })?;
    drop(rx);
    let mut tx = tx.take().expect("sender");
    let mut buf = Vec::new();
    for (i, len) in [(0, max), (1, 0), (2, max)] {
        fill(&mut buf, i, len);
        tx.send_timeout(&buf, Some(DEADLINE))
            .map_err(|e| serr("send", e))?;
    }
    let big = vec![0u8; max + 1];
    match tx.send(&big) {
        Err(Error::Core(CoreError::FrameTooLarge { len, max: m }))
            if len as usize == max + 1 && m as usize == max => {}
        other => return Err(format!("oversized send: {other:?}")),
    }
    fill(&mut buf, 3, 1);
    tx.send(&buf).map_err(|e| serr("send after refusal", e))?;
    child.expect_exit(EXIT_OK)
}

/// A forked writer that sends 10 messages and exits, after writing `tail`
/// raw (part of a frame, or nothing): the reader gets the 10 messages, then
/// `expected`.
pub(super) fn writer_exits<S, R>(
    (tx, rx): (S, R),
    raw_fd: impl Fn(&S) -> BorrowedFd<'_>,
    tail: &[u8],
    expected: fn(&Error) -> bool,
) -> TestResult
where
    S: MessageSender,
    R: MessageReceiver,
{
    let mut rx = rx;
    let mut tx = Some(tx);
    let mut child = fork_child(|| {
        let mut tx = tx.take().expect("sender");
        child_main(|| {
            for i in 0..10u64 {
                let mut buf = Vec::new();
                fill(&mut buf, i, i as usize * 3);
                tx.send(&buf).map_err(|e| ferr("send", e))?;
            }
            if !tail.is_empty() {
                let fd = raw_fd(&tx);
                // SAFETY: a write of a live buffer to a descriptor we hold.
                let n = unsafe { libc::write(fd.as_raw_fd(), tail.as_ptr().cast(), tail.len()) };
                if n != tail.len() as isize {
                    return Err(fail(EXIT_CHECK, "raw write failed"));
                }
            }
            Ok(())
        })
    })?;
    drop(tx);
    let mut buf = vec![0u8; rx.max_message_len().min(1 << 20)];
    for i in 0..10u64 {
        let n = rx
            .recv_timeout(&mut buf, Some(DEADLINE))
            .map_err(|e| serr("recv", e))?;
        check(&buf[..n], i, i as usize * 3).map_err(|f| f.msg)?;
    }
    let e = match rx.recv_timeout(&mut buf, Some(DEADLINE)) {
        Ok(n) => return Err(format!("a message of {n} bytes after the writer left")),
        Err(e) => e,
    };
    if !expected(&e) {
        return Err(format!("after the writer left: {e:?}"));
    }
    // Final: the same again.
    let again = rx.recv_timeout(&mut buf, Some(Duration::ZERO));
    if !again.as_ref().is_err_and(expected) {
        return Err(format!("second call after the end: {again:?}"));
    }
    child.expect_exit(EXIT_OK)
}

pub(super) fn is_truncated(e: &Error) -> bool {
    matches!(e.core(), Some(CoreError::Truncated { .. }))
}

pub(super) fn is_gone(e: &Error) -> bool {
    e.is_peer_gone()
}

/// A forked reader that takes 10 messages and exits: the sender gets
/// `PeerGone` (before its deadline) instead of blocking.
pub(super) fn reader_exits<S: MessageSender, R: MessageReceiver>((tx, rx): (S, R)) -> TestResult {
    let mut tx = Some(tx);
    let mut rx = Some(rx);
    let mut child = fork_child(|| {
        drop(tx.take());
        let mut rx = rx.take().expect("receiver");
        child_main(|| {
            let mut buf = vec![0u8; rx.max_message_len()];
            for _ in 0..10 {
                rx.recv_timeout(&mut buf, Some(DEADLINE))
                    .map_err(|e| ferr("recv", e))?;
            }
            Ok(())
        })
    })?;
    drop(rx);
    let mut tx = tx.take().expect("sender");
    let msg = vec![1u8; 100];
    let until = Instant::now() + DEADLINE;
    let mut sent = 0u64;
    let gone = loop {
        if Instant::now() > until {
            return Err("the sender never saw the reader go".into());
        }
        match tx.send_timeout(&msg, Some(Duration::from_millis(50))) {
            Ok(()) => sent += 1,
            Err(e) if e.is_timeout() => {}
            Err(e) => break e,
        }
    };
    if !gone.is_peer_gone() {
        return Err(format!("after {sent} sends: {gone:?}"));
    }
    child.expect_exit(EXIT_OK)
}

/// In one process: a try on an empty receiver is `Empty`, a timed receive
/// `TimedOut` after about its timeout; a full sender gives `Full` and
/// `TimedOut`, and everything accepted before arrives whole and in order.
pub(super) fn timeouts<S: MessageSender, R: MessageReceiver>(
    (tx, rx): (S, R),
    msg_len: usize,
    flush: impl Fn(&mut S),
) -> TestResult {
    let (mut tx, mut rx) = (tx, rx);
    let mut buf = vec![0u8; rx.max_message_len()];
    match rx.try_recv(&mut buf) {
        Err(e) if e.is_empty() => {}
        other => return Err(format!("try_recv on empty: {other:?}")),
    }
    let t0 = Instant::now();
    match rx.recv_timeout(&mut buf, Some(Duration::from_millis(50))) {
        Err(e) if e.is_timeout() => {}
        other => return Err(format!("recv_timeout on empty: {other:?}")),
    }
    let waited = t0.elapsed();
    if waited < Duration::from_millis(50) || waited > Duration::from_secs(5) {
        return Err(format!("recv_timeout(50 ms) took {waited:?}"));
    }
    // Fill the sender up.
    let mut msg = Vec::new();
    let mut accepted = 0u64;
    loop {
        fill(&mut msg, accepted, msg_len);
        match tx.try_send(&msg) {
            Ok(()) => accepted += 1,
            Err(e) if e.is_full() => break,
            Err(e) => return Err(serr("try_send", e)),
        }
        if accepted > 10_000_000 {
            return Err("never full".into());
        }
    }
    fill(&mut msg, accepted, msg_len);
    let t0 = Instant::now();
    match tx.send_timeout(&msg, Some(Duration::from_millis(50))) {
        Err(e) if e.is_timeout() => {}
        other => return Err(format!("send_timeout on full: {other:?}")),
    }
    if t0.elapsed() < Duration::from_millis(50) {
        return Err(format!("send_timeout(50 ms) took {:?}", t0.elapsed()));
    }
    // Everything accepted arrives (a partly written frame is finished on
    // the next send or flush: push with `try_send` of the next message).
    let mut received = 0u64;
    let until = Instant::now() + DEADLINE;
    let mut next_send = accepted;
    while received < accepted || next_send == accepted {
        if Instant::now() > until {
            return Err(format!("drained {received} of {accepted}"));
        }
        flush(&mut tx);
        if next_send == accepted {
            fill(&mut msg, next_send, msg_len);
            match tx.try_send(&msg) {
                Ok(()) => next_send += 1,
                Err(e) if e.is_full() => {}
                Err(e) => return Err(serr("try_send while draining", e)),
            }
        }
        match rx.try_recv(&mut buf) {
            Ok(n) => {
                check(&buf[..n], received, msg_len).map_err(|f| f.msg)?;
                received += 1;
            }
            Err(e) if e.is_empty() => {}
            Err(e) => return Err(serr("try_recv while draining", e)),
        }
    }
    let n = loop {
        flush(&mut tx);
        match rx.recv_timeout(&mut buf, Some(Duration::from_millis(1))) {
            Err(e) if e.is_timeout() && Instant::now() < until => {}
            r => break r.map_err(|e| serr("last", e))?,
        }
    };
    check(&buf[..n], accepted, msg_len).map_err(|f| f.msg)
}

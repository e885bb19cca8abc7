//! POSIX and System V message queues.

use super::*;

// POSIX message queues.

pub(super) fn mq_order() -> Result<String, String> {
    let name = mq_name("mq-order");
    let attr = MqAttr {
        max_messages: 10,
        message_size: 512,
    };
    let mut rx = PosixMq::create(&name.0, attr).map_err(|e| e.to_string())?;
    let mut child = fork_child(|| {
        child_main(|| {
            let mut tx = PosixMq::open(&name.0).map_err(|e| fail(EXIT_CHECK, e.to_string()))?;
            send_all(&mut tx, COUNT, 512)
        })
    })?;
    let started = Instant::now();
    recv_all(&mut rx, COUNT, 512)?;
    let secs = started.elapsed().as_secs_f64();
    expect_exit(&mut child, "sender")?;
    PosixMq::unlink(&name.0).map_err(|e| e.to_string())?;
    Ok(format!(
        "{COUNT} messages of 8..=512 B in order, {:.0} k msg/s",
        COUNT as f64 / secs / 1e3
    ))
}

pub(super) fn mq_max_size_priorities_and_peer_exit() -> Result<String, String> {
    let limits = MqLimits::read().map_err(|e| e.to_string())?;
    let size = limits.msgsize_max as usize;
    let name = mq_name("mq-max");
    let attr = MqAttr {
        max_messages: 4,
        message_size: size,
    };
    let mut rx = PosixMq::create(&name.0, attr).map_err(|e| e.to_string())?;
    let mut child = fork_child(|| {
        child_main(|| {
            let tx = PosixMq::open(&name.0).map_err(|e| fail(EXIT_CHECK, e.to_string()))?;
            let big: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            tx.send_with_priority(&big, 0, Some(STEP))
                .map_err(|e| fail(EXIT_RING_ERROR, e.to_string()))?;
            let over = vec![0; size + 1];
            match tx.send_with_priority(&over, 0, Some(Duration::ZERO)) {
                Err(Error::Core(CoreError::FrameTooLarge { .. })) => {}
                other => return Err(fail(EXIT_CHECK, format!("oversized: {other:?}"))),
            }
            // Three with priorities, then leave mid-stream.
            for (msg, prio) in [(&b"low"[..], 1), (b"high", 7), (b"mid", 3)] {
                tx.send_with_priority(msg, prio, Some(STEP))
                    .map_err(|e| fail(EXIT_RING_ERROR, e.to_string()))?;
            }
            Ok(())
        })
    })?;
    let mut buf = vec![0; size];
    let n = rx
        .recv_timeout(&mut buf, Some(STEP))
        .map_err(|e| e.to_string())?;
    if n != size || buf.iter().enumerate().any(|(i, &b)| b != (i % 251) as u8) {
        return Err(format!("max-size message: {n} bytes or wrong content"));
    }
    expect_exit(&mut child, "sender")?;
    let mut got = Vec::new();
    for _ in 0..3 {
        let (n, prio) = rx
            .recv_with_priority(&mut buf, Some(STEP))
            .map_err(|e| e.to_string())?;
        got.push((String::from_utf8_lossy(&buf[..n]).into_owned(), prio));
    }
    let want = [("high", 7), ("mid", 3), ("low", 1)];
    if got.iter().map(|(s, p)| (s.as_str(), *p)).ne(want) {
        return Err(format!("priority order: {got:?}"));
    }
    let small = rx.try_recv(&mut buf[..16]).unwrap_err();
    if small.core() != Some(CoreError::BufferTooSmall { required: size }) {
        return Err(format!("short buffer: {small}"));
    }
    let started = Instant::now();
    match rx.recv_timeout(&mut buf, Some(Duration::from_millis(200))) {
        Err(Error::TimedOut) => {}
        other => return Err(format!("after the sender left: {other:?}")),
    }
    let waited = started.elapsed();
    PosixMq::unlink(&name.0).map_err(|e| e.to_string())?;
    Ok(format!(
        "{size} B message (msgsize_max), {} B refused, priorities 7,3,1, sender gone: TimedOut after {waited:.0?}",
        size + 1
    ))
}

pub(super) fn mq_limits() -> Result<String, String> {
    let limits = MqLimits::read().map_err(|e| e.to_string())?;
    let name = mq_name("mq-limit");
    let mut notes = Vec::new();
    for attr in [
        MqAttr {
            max_messages: limits.msg_max as usize + 1,
            message_size: 64,
        },
        MqAttr {
            max_messages: 1,
            message_size: limits.msgsize_max as usize + 1,
        },
    ] {
        let e = match PosixMq::create(&name.0, attr) {
            Ok(_) => return Err(format!("{attr:?} above the limits was created")),
            Err(e) => e,
        };
        let detail = LimitExceeded::find(&e).ok_or_else(|| format!("not a limit error: {e}"))?;
        if !detail.limit.starts_with("/proc/sys/fs/mqueue/") {
            return Err(format!("limit not named: {e}"));
        }
        notes.push(e.to_string());
    }
    if !matches!(PosixMq::open(&name.0), Err(Error::NotFound(_))) {
        return Err("a refused queue exists".into());
    }
    Ok(notes.join("; "))
}

// System V message queues.

pub(super) fn sysv_order_and_types() -> Result<String, String> {
    let mut rx = SysvMq::create_private().map_err(|e| e.to_string())?;
    let _guard = track(rx.id(), false);
    let id = rx.id();
    let mut child = fork_child(|| {
        child_main(|| {
            let mut tx = SysvMq::from_id(id).map_err(|e| fail(EXIT_CHECK, e.to_string()))?;
            send_all(&mut tx, COUNT, 512)?;
            // Typed: 2,1,2,1,... then the parent takes type 1 first.
            for i in 0..20u8 {
                tx.send_typed(2 - i64::from(i % 2), &[i], Some(STEP))
                    .map_err(|e| fail(EXIT_RING_ERROR, e.to_string()))?;
            }
            Ok(())
        })
    })?;
    let started = Instant::now();
    recv_all(&mut rx, COUNT, 512)?;
    let secs = started.elapsed().as_secs_f64();
    expect_exit(&mut child, "sender")?;
    let mut buf = vec![0; rx.max_message_len()];
    let mut order = Vec::new();
    for mtype in [1, 2] {
        for _ in 0..10 {
            let (n, t) = rx
                .recv_typed(mtype, &mut buf, Some(STEP))
                .map_err(|e| e.to_string())?;
            if n != 1 || t != mtype {
                return Err(format!("typed receive: {n} bytes of type {t}"));
            }
            order.push(buf[0]);
        }
    }
    let want: Vec<u8> = (0..20)
        .filter(|i| i % 2 == 1)
        .chain((0..20).filter(|i| i % 2 == 0))
        .collect();
    if order != want {
        return Err(format!("by type: {order:?}"));
    }
    Ok(format!(
        "{COUNT} messages in order ({:.0} k msg/s), 20 typed: type 1 first, each type in order",
        COUNT as f64 / secs / 1e3
    ))
}

pub(super) fn sysv_max_size_limits_and_removal() -> Result<String, String> {
    let limits = SysvMqLimits::read().map_err(|e| e.to_string())?;
    let mut rx = SysvMq::create_private().map_err(|e| e.to_string())?;
    let _guard = track(rx.id(), false);
    let id = rx.id();
    let max = rx.max_message_len();
    let mut child = fork_child(|| {
        child_main(|| {
            let mut tx = SysvMq::from_id(id).map_err(|e| fail(EXIT_CHECK, e.to_string()))?;
            let big: Vec<u8> = (0..max).map(|i| (i % 253) as u8).collect();
            tx.send_timeout(&big, Some(STEP))
                .map_err(|e| fail(EXIT_RING_ERROR, e.to_string()))?;
            match tx.try_send(&vec![0; max + 1]) {
                Err(Error::Core(CoreError::FrameTooLarge { .. })) => {}
                other => return Err(fail(EXIT_CHECK, format!("oversized: {other:?}"))),
            }
            // Then wait on the queue until the parent removes it.
            let mut buf = vec![0; max];
            match tx.recv_typed(99, &mut buf, None) {
                Err(e @ Error::Removed { .. }) if e.is_peer_gone() => Ok(()),
                other => Err(fail(EXIT_CHECK, format!("after IPC_RMID: {other:?}"))),
            }
        })
    })?;
    // A short buffer: E2BIG, and the message stays queued.
    let mut small = [0; 100];
    let mut tries = 0;
    loop {
        match rx.recv_timeout(&mut small, Some(STEP)) {
            Err(Error::Core(CoreError::BufferTooSmall { required })) if required == max => break,
            Err(Error::Empty | Error::TimedOut) if tries < 3 => tries += 1,
            other => return Err(format!("short buffer: {other:?}")),
        }
    }
    let mut buf = vec![0; max];
    let n = rx
        .recv_timeout(&mut buf, Some(STEP))
        .map_err(|e| e.to_string())?;
    if n != max || buf.iter().enumerate().any(|(i, &b)| b != (i % 253) as u8) {
        return Err(format!("max-size message: {n} bytes or wrong content"));
    }
    std::thread::sleep(Duration::from_millis(50));
    rx.remove().map_err(|e| e.to_string())?;
    expect_exit(&mut child, "waiter")?;
    Ok(format!(
        "{max} B message (msgmax {}, msgmnb {}), left queued on a 100 B buffer, {} B refused, \
         IPC_RMID wakes a blocked receiver with Removed (a PeerGone)",
        limits.msgmax,
        limits.msgmnb,
        max + 1
    ))
}

pub(super) fn sysv_peer_exit() -> Result<String, String> {
    let mut rx = SysvMq::create_private().map_err(|e| e.to_string())?;
    let _guard = track(rx.id(), false);
    let id = rx.id();
    let mut child = fork_child(|| {
        child_main(|| {
            let mut tx = SysvMq::from_id(id).map_err(|e| fail(EXIT_CHECK, e.to_string()))?;
            send_all(&mut tx, 500, 64)
        })
    })?;
    recv_all(&mut rx, 500, 64)?;
    expect_exit(&mut child, "sender")?;
    let mut buf = vec![0; rx.max_message_len()];
    let started = Instant::now();
    match rx.recv_timeout(&mut buf, Some(Duration::from_millis(200))) {
        Err(Error::TimedOut) => {}
        other => return Err(format!("after the sender left: {other:?}")),
    }
    Ok(format!(
        "500 received, sender gone: TimedOut after {:.0?}",
        started.elapsed()
    ))
}

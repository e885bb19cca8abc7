//! Kernel queue transports across real processes: POSIX and System V
//! message queues, eventfd, signals with payloads, named and System V
//! semaphores, and the file log.
//!
//! `cargo test -p ipckit --test transport_queues [filter]`. Every test forks
//! its peers (the harness is off, so the process is single-threaded at each
//! fork), every wait has a deadline, and every name is
//! `ipckit-test-<pid>-<n>-<what>` behind a guard. At the end the run checks
//! that no queue, semaphore, System V id or file of it is left.

mod support;

use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ipckit::error::{CoreError, Error};
use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::transport::eventfd::{EventFd, EventFdMode};
use ipckit::transport::file_log::{LogReader, LogWriter};
use ipckit::transport::limits::LimitExceeded;
use ipckit::transport::posix_mq::{MqAttr, MqLimits, PosixMq};
use ipckit::transport::semaphore::{CountingSemaphore, NamedSemaphore, SysvSemaphoreSet};
use ipckit::transport::signal::{SignalReceiver, SignalSender, rt_signal};
use ipckit::transport::sysv_mq::{SysvMq, SysvMqLimits};
use support::{
    ChildFail, EXIT_CHECK, EXIT_OK, EXIT_OUT_OF_ORDER, EXIT_RING_ERROR, EXIT_TIMEOUT, Exit,
    FileGuard, QueueNameGuard, Rng, SharedWords, Suite, SysvGuard, child_main, fail, fork_child,
};

/// How long one receive may wait before the test calls its peer stuck.
const STEP: Duration = Duration::from_secs(20);
/// Messages of the order-and-content tests.
const COUNT: u64 = 100_000;

/// System V ids this run created, checked at the end.
static SYSV_CREATED: Mutex<Vec<(bool, i32)>> = Mutex::new(Vec::new());

/// POSIX queue names this run created, checked at the end (where
/// `/dev/mqueue` is not mounted, `mq_open` is the only way to look).
static MQ_CREATED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn mq_name(what: &str) -> QueueNameGuard {
    let guard = QueueNameGuard::new(what);
    MQ_CREATED.lock().unwrap().push(guard.0.clone());
    guard
}

fn track(id: i32, sem: bool) -> SysvGuard {
    SYSV_CREATED.lock().unwrap().push((sem, id));
    SysvGuard { id, sem }
}

fn deadline() -> Instant {
    Instant::now() + support::DEADLINE
}

fn expect_exit(child: &mut support::Child, what: &str) -> Result<(), String> {
    match child.wait(deadline())? {
        Exit::Code(EXIT_OK) => Ok(()),
        other => Err(format!("{what}: {other}")),
    }
}

// ---------------------------------------------------------------------------
// Messages: sequence number, then bytes that depend on it and their index.

fn message(seq: u64, rng: &mut Rng, max: usize, out: &mut Vec<u8>) {
    let len = 8 + (rng.next() as usize % (max - 7));
    out.clear();
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend((8..len).map(|k| (seq as usize).wrapping_mul(7).wrapping_add(k) as u8));
}

fn send_all(tx: &mut impl MessageSender, count: u64, max: usize) -> Result<(), ChildFail> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut msg = Vec::new();
    for seq in 0..count {
        message(seq, &mut rng, max, &mut msg);
        tx.send_timeout(&msg, Some(STEP))
            .map_err(|e| fail(EXIT_RING_ERROR, format!("send {seq}: {e}")))?;
    }
    Ok(())
}

fn recv_all(rx: &mut impl MessageReceiver, count: u64, max: usize) -> Result<(), String> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut want = Vec::new();
    let mut buf = vec![0; rx.max_message_len()];
    for seq in 0..count {
        message(seq, &mut rng, max, &mut want);
        let n = rx
            .recv_timeout(&mut buf, Some(STEP))
            .map_err(|e| format!("receive {seq}: {e}"))?;
        if buf[..n] != want[..] {
            let got = buf
                .get(..8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap()));
            return Err(format!(
                "message {seq}: {n} bytes starting with seq {got:?}, expected {} bytes",
                want.len()
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// POSIX message queues.

fn mq_order() -> Result<String, String> {
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

fn mq_max_size_priorities_and_peer_exit() -> Result<String, String> {
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
        Err(Error::Core(CoreError::TimedOut)) => {}
        other => return Err(format!("after the sender left: {other:?}")),
    }
    let waited = started.elapsed();
    PosixMq::unlink(&name.0).map_err(|e| e.to_string())?;
    Ok(format!(
        "{size} B message (msgsize_max), {} B refused, priorities 7,3,1, sender gone: TimedOut after {waited:.0?}",
        size + 1
    ))
}

fn mq_limits() -> Result<String, String> {
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

// ---------------------------------------------------------------------------
// eventfd.

fn eventfd_ping_pong_and_semaphore() -> Result<String, String> {
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
        Err(Error::Core(CoreError::TimedOut)) => {}
        other => return Err(format!("after the poster left: {other:?}")),
    }
    Ok(format!(
        "{COUNT} values echoed in order (RTT {rtt:.1?} incl. checks), {COUNT} semaphore wakes, poster gone: TimedOut"
    ))
}

// ---------------------------------------------------------------------------
// Signals.

/// Signals sent in the order test, and why not 100 000.
const SIGNALS: u64 = 20_000;
const SIGNAL_REASON: &str = "each queued real-time signal holds a kernel entry charged to the \
     user's RLIMIT_SIGPENDING, shared by every process of the user (a few thousand on many \
     systems); the sender retries on EAGAIN, so this shows order and payloads without \
     flooding a per-user resource";

fn signals_order() -> Result<String, String> {
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
        Err(Error::Core(CoreError::TimedOut)) => {}
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

fn signals_overflow() -> Result<String, String> {
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
                        Err(Error::Core(CoreError::Full)) => {
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

// ---------------------------------------------------------------------------
// System V message queues.

fn sysv_order_and_types() -> Result<String, String> {
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

fn sysv_max_size_limits_and_removal() -> Result<String, String> {
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
            Err(Error::Core(CoreError::Empty | CoreError::TimedOut)) if tries < 3 => tries += 1,
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

fn sysv_peer_exit() -> Result<String, String> {
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
        Err(Error::Core(CoreError::TimedOut)) => {}
        other => return Err(format!("after the sender left: {other:?}")),
    }
    Ok(format!(
        "500 received, sender gone: TimedOut after {:.0?}",
        started.elapsed()
    ))
}

// ---------------------------------------------------------------------------
// Semaphores.

fn named_semaphore_ping_pong() -> Result<String, String> {
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
    if b.try_wait().map_err(|e| e.core()) != Err(Some(CoreError::Empty)) {
        return Err("extra unit".into());
    }
    drop((a, b));
    NamedSemaphore::unlink(&ping.0).map_err(|e| e.to_string())?;
    NamedSemaphore::unlink(&pong.0).map_err(|e| e.to_string())?;
    Ok(format!("{ROUNDS} rounds, RTT {rtt:.1?}, unlinked"))
}

fn sysv_sem_undo_after_sigkill() -> Result<String, String> {
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
            (false, Err(e)) if e.core() == Some(CoreError::TimedOut) => {
                notes.push("without SEM_UNDO: lost (TimedOut), as documented")
            }
            (undo, other) => return Err(format!("undo {undo}: {other:?}")),
        }
    }
    let value = set.get(0);
    if value.try_wait().map_err(|e| e.core()) != Err(Some(CoreError::Empty)) {
        return Err("extra unit".into());
    }
    set.remove().map_err(|e| e.to_string())?;
    Ok(notes.join("; "))
}

// ---------------------------------------------------------------------------
// File log.

fn file_log_two_writers() -> Result<String, String> {
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
        Err(Error::Core(CoreError::TimedOut)) => {}
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

// ---------------------------------------------------------------------------

fn cleanup() -> Result<String, String> {
    let mut left: Vec<String> = support::queue_leftovers()
        .into_iter()
        .chain(support::leftovers())
        .map(|p| p.display().to_string())
        .collect();
    let msg = support::sysv_ids("msg");
    let sem = support::sysv_ids("sem");
    let created = SYSV_CREATED.lock().unwrap().clone();
    for (is_sem, id) in &created {
        if (if *is_sem { &sem } else { &msg }).contains(id) {
            left.push(format!(
                "{} id {id}",
                if *is_sem { "semaphore set" } else { "queue" }
            ));
        }
    }
    let names = MQ_CREATED.lock().unwrap().clone();
    for name in &names {
        if !matches!(PosixMq::open(name), Err(Error::NotFound(_))) {
            left.push(format!("POSIX queue /{name}"));
        }
    }
    if !left.is_empty() {
        return Err(format!("left behind: {left:?}"));
    }
    let mqueue = if std::path::Path::new("/dev/mqueue").exists() {
        "/dev/mqueue"
    } else {
        "/dev/mqueue (not mounted here: every queue name checked with mq_open)"
    };
    Ok(format!(
        "nothing in {mqueue}, /dev/shm/sem.*, the temp dir; {} POSIX queues and {} System V ids removed",
        names.len(),
        created.len()
    ))
}

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: &[(&str, Test)] = &[
        ("posix mq: 100k in order", mq_order),
        (
            "posix mq: max size, priorities, peer exit",
            mq_max_size_priorities_and_peer_exit,
        ),
        ("posix mq: /proc limits", mq_limits),
        (
            "eventfd: ping-pong and semaphore mode",
            eventfd_ping_pong_and_semaphore,
        ),
        ("signal: order and payloads", signals_order),
        ("signal: queue overflow", signals_overflow),
        ("sysv mq: 100k in order, types", sysv_order_and_types),
        (
            "sysv mq: max size, E2BIG, IPC_RMID",
            sysv_max_size_limits_and_removal,
        ),
        ("sysv mq: peer exit", sysv_peer_exit),
        ("semaphore: named ping-pong", named_semaphore_ping_pong),
        (
            "semaphore: SEM_UNDO after SIGKILL",
            sysv_sem_undo_after_sigkill,
        ),
        ("file log: two writers, one reader", file_log_two_writers),
    ];
    Suite::new()
        .tests(tests.iter().copied())
        .after_each("cleanup", || cleanup().map(drop))
        .run()
        .exit();
}

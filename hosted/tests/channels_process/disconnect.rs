//! Disconnect at once: a peer that drops its endpoint wakes the blocked
//! side, which returns `PeerGone` within microseconds, after every queued
//! message; `try_` calls report it too.

use super::*;

/// The bound the tests assert on `PeerGone` after a clean drop (the
/// mechanism takes microseconds; this leaves room for a loaded machine,
/// and stays under what the 50 ms liveness slices it replaced took here).
const DROP_BOUND: Duration = Duration::from_millis(35);
/// How long after the parent blocked the child drops its endpoint: just
/// after a liveness check of the old 50 ms slices (as the kill tests do),
/// so that noticing the drop only at a slice's end (~45 ms) fails
/// [`DROP_BOUND`].
const MID_SLICE: Duration = Duration::from_millis(105);
/// Messages the sender queues right before it drops.
const QUEUED: u64 = 5;

/// A receive on an endpoint it owns: blocking (`true`) or `try_`.
pub(super) type Recv = Box<dyn FnMut(bool) -> Result<u64, Error>>;
/// A send on an endpoint it owns: blocking (`true`) or `try_`.
pub(super) type Send = Box<dyn FnMut(bool, u64) -> Result<(), Error>>;

/// `CLOCK_MONOTONIC` in nanoseconds: the same clock in every process.
pub(super) fn now_ns() -> u64 {
    ipckit::futex::monotonic_now().as_nanos() as u64
}

/// Nanoseconds the calling thread has spent runnable but waiting for a CPU
/// (`/proc/thread-self/schedstat`, second field): what a loaded machine
/// adds to a wake-up and no channel can help. 0 where the kernel does not
/// say.
pub(super) fn run_delay_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// The parent blocks in a receive; the child (a sender) waits until the
/// parent is asleep, queues `queued` messages, stamps the clock and drops
/// its sender. The parent must get every message, then `PeerGone` within
/// [`DROP_BOUND`] of the drop, from the blocking and the `try_` receive
/// alike; the time either process spent waiting for a CPU meanwhile (a
/// loaded machine, not the channel) is not counted: a wake that only came
/// with a liveness slice would have kept the parent asleep, not runnable. Run once with [`QUEUED`] messages (nothing accepted is lost)
/// and once with none (the receiver is asleep when the drop comes: queued
/// messages would wake it themselves).
pub(super) fn drop_wakes_receiver(
    what: &str,
    create: impl Fn(&str) -> Result<Recv, Error>,
    open: impl Fn(&str) -> Result<Send, Error>,
) -> Result<String, String> {
    let mut report = Vec::new();
    for queued in [QUEUED, 0] {
        let took = receiver_case(what, queued, &create, &open)?;
        report.push(format!("{queued} queued, then PeerGone {took:.1?}"));
    }
    Ok(format!(
        "blocked receive: {} after the drop",
        report.join("; ")
    ))
}

fn receiver_case(
    what: &str,
    queued: u64,
    create: impl Fn(&str) -> Result<Recv, Error>,
    open: impl Fn(&str) -> Result<Send, Error>,
) -> Result<Duration, String> {
    let g = ShmGuard::new(what);
    let mut recv = create(&g.0).ctx("create")?;
    let words = SharedWords::new();
    let name = g.0.clone();
    let mut child = fork_child(|| {
        child_main(|| {
            let mut send = cf(open(&name), "open")?;
            words.word(0).store(1, Ordering::Release);
            if !words.wait_for(1, 1, PATIENCE) {
                return Err(fail(EXIT_CHECK, "the parent never blocked"));
            }
            // The parent is asleep in the kernel by now, and the drop
            // lands just after a check of the old 50 ms liveness slices (a
            // check between slices alone would take ~45 ms).
            std::thread::sleep(MID_SLICE);
            for i in 0..queued {
                cf(send(true, item(i)), "send")?;
            }
            let waited = run_delay_ns();
            words.word(2).store(now_ns(), Ordering::Release);
            drop(send);
            words
                .word(4)
                .store(run_delay_ns().saturating_sub(waited), Ordering::Release);
            // Alive until the parent measured: only the close can wake it
            // (the child's exit would reach it through a pidfd).
            words.wait_for(3, 1, PATIENCE);
            Ok(())
        })
    })?;
    ensure!(words.wait_for(0, 1, PATIENCE), "the child never opened");
    words.word(1).store(1, Ordering::Release);
    let waited = run_delay_ns();
    let mut got = Vec::new();
    let end = loop {
        match recv(true) {
            Ok(v) if got.len() < queued as usize => got.push(v),
            Ok(v) => break Err(format!("an extra message {v:#x}")),
            Err(e) => break Ok(e),
        }
    };
    let returned = now_ns();
    let parent_waited = run_delay_ns().saturating_sub(waited);
    words.word(3).store(1, Ordering::Release);
    wait_ok(&mut child)?;
    let end = end?;
    ensure!(end.is_peer_gone(), "expected PeerGone, got {end:?}");
    let sent: Vec<u64> = (0..queued).map(item).collect();
    ensure!(got == sent, "received {got:x?}, sent {sent:x?}");
    let dropped = words.word(2).load(Ordering::Acquire);
    let took = Duration::from_nanos(returned.saturating_sub(dropped));
    let waited = Duration::from_nanos(parent_waited + words.word(4).load(Ordering::Acquire));
    ensure!(
        took.saturating_sub(waited) < DROP_BOUND,
        "PeerGone {took:?} after the drop, {waited:?} of it waiting for a CPU"
    );
    match recv(false) {
        Err(e) if e.is_peer_gone() => {}
        other => return Err(format!("try_ after the drop: {other:?}")),
    }
    Ok(took)
}

/// The parent fills the channel and blocks in a send; the child (a
/// receiver) waits until the parent is asleep, stamps the clock and drops
/// its receiver. `PeerGone` within [`DROP_BOUND`], from the blocking and
/// the `try_` send alike.
pub(super) fn drop_wakes_sender(
    what: &str,
    create: impl FnOnce(&str) -> Result<Send, Error>,
    open: impl FnOnce(&str) -> Result<Recv, Error>,
) -> Result<String, String> {
    let g = ShmGuard::new(what);
    let mut send = create(&g.0).ctx("create")?;
    let words = SharedWords::new();
    let name = g.0.clone();
    let mut child = fork_child(|| {
        child_main(|| {
            let recv = cf(open(&name), "open")?;
            words.word(0).store(1, Ordering::Release);
            if !words.wait_for(1, 1, PATIENCE) {
                return Err(fail(EXIT_CHECK, "the parent never blocked"));
            }
            std::thread::sleep(MID_SLICE);
            words.word(2).store(now_ns(), Ordering::Release);
            drop(recv);
            // Alive until the parent measured (see above).
            words.wait_for(3, 1, PATIENCE);
            Ok(())
        })
    })?;
    ensure!(words.wait_for(0, 1, PATIENCE), "the child never opened");
    let mut queued = 0u64;
    while send(false, item(queued)).is_ok() {
        queued += 1;
        ensure!(queued < 1 << 20, "the channel never filled");
    }
    words.word(1).store(1, Ordering::Release);
    let end = send(true, 0);
    let returned = now_ns();
    words.word(3).store(1, Ordering::Release);
    wait_ok(&mut child)?;
    ensure!(
        matches!(&end, Err(e) if e.is_peer_gone()),
        "expected PeerGone, got {end:?}"
    );
    let dropped = words.word(2).load(Ordering::Acquire);
    let took = Duration::from_nanos(returned.saturating_sub(dropped));
    ensure!(took < DROP_BOUND, "PeerGone {took:?} after the drop");
    match send(false, 1) {
        Err(e) if e.is_peer_gone() => {}
        other => return Err(format!("try_ on a full channel after the drop: {other:?}")),
    }
    Ok(format!(
        "blocked send ({queued} queued): PeerGone {took:.1?} after the drop"
    ))
}

fn u64_of(buf: &[u8], n: usize) -> Result<u64, Error> {
    let bytes: [u8; 8] = buf[..n.min(8)]
        .try_into()
        .map_err(|_| Error::from(CoreError::Corrupted("a test message is not 8 bytes")))?;
    Ok(u64::from_le_bytes(bytes))
}

pub(super) fn drop_wakes_spsc() -> Result<String, String> {
    drop_wakes_receiver(
        "drop-spsc",
        |name| {
            let mut rx = spsc::Receiver::<u64>::create(name, 64)?;
            Ok(Box::new(move |block| match block {
                true => rx.recv(),
                false => rx.try_recv(),
            }))
        },
        |name| {
            let mut tx = spsc::Sender::<u64>::open(name)?;
            Ok(Box::new(move |block, v| match block {
                true => tx.send(v),
                false => tx.try_send(v),
            }))
        },
    )
}

pub(super) fn drop_wakes_spsc_sender() -> Result<String, String> {
    drop_wakes_sender(
        "drop-spsc-tx",
        |name| {
            let mut tx = spsc::Sender::<u64>::create(name, 64)?;
            Ok(Box::new(move |block, v| match block {
                true => tx.send(v),
                false => tx.try_send(v),
            }))
        },
        |name| {
            let mut rx = spsc::Receiver::<u64>::open(name)?;
            Ok(Box::new(move |_| rx.try_recv()) as Recv)
        },
    )
}

pub(super) fn drop_wakes_bytes() -> Result<String, String> {
    drop_wakes_receiver(
        "drop-bytes",
        |name| {
            let mut rx = bytes::Receiver::create(name, 4096)?;
            let mut buf = [0u8; 64];
            Ok(Box::new(move |block| {
                let n = match block {
                    true => rx.recv(&mut buf)?,
                    false => rx.try_recv(&mut buf)?,
                };
                u64_of(&buf, n)
            }))
        },
        |name| {
            let mut tx = bytes::Sender::open(name)?;
            Ok(Box::new(move |block, v| match block {
                true => tx.send(&v.to_le_bytes()),
                false => tx.try_send(&v.to_le_bytes()),
            }))
        },
    )
}

pub(super) fn drop_wakes_bytes_sender() -> Result<String, String> {
    drop_wakes_sender(
        "drop-bytes-tx",
        |name| {
            let mut tx = bytes::Sender::create(name, 4096)?;
            Ok(Box::new(move |block, v| match block {
                true => tx.send(&v.to_le_bytes()),
                false => tx.try_send(&v.to_le_bytes()),
            }))
        },
        |name| {
            let rx = bytes::Receiver::open(name)?;
            let mut rx = Some(rx);
            Ok(Box::new(move |_| {
                rx.take();
                Err(Error::from(CoreError::Empty))
            }) as Recv)
        },
    )
}

pub(super) fn drop_wakes_mpmc() -> Result<String, String> {
    drop_wakes_receiver(
        "drop-mpmc",
        |name| {
            let rx = mpmc::Receiver::<u64>::create(name, 64)?;
            Ok(Box::new(move |block| match block {
                true => rx.recv(),
                false => rx.try_recv(),
            }))
        },
        |name| {
            let tx = mpmc::Sender::<u64>::open(name)?;
            Ok(Box::new(move |block, v| match block {
                true => tx.send(v),
                false => tx.try_send(v),
            }))
        },
    )
}

pub(super) fn drop_wakes_mpmc_sender() -> Result<String, String> {
    drop_wakes_sender(
        "drop-mpmc-tx",
        |name| {
            let tx = mpmc::Sender::<u64>::create(name, 64)?;
            Ok(Box::new(move |block, v| match block {
                true => tx.send(v),
                false => tx.try_send(v),
            }))
        },
        |name| {
            let rx = mpmc::Receiver::<u64>::open(name)?;
            Ok(Box::new(move |_| rx.try_recv()) as Recv)
        },
    )
}

pub(super) fn drop_wakes_mpsc_bytes() -> Result<String, String> {
    drop_wakes_receiver(
        "drop-mpsc-bytes",
        |name| {
            let mut rx = mpsc_bytes::Receiver::create(name, 4096)?;
            let mut buf = [0u8; 64];
            Ok(Box::new(move |block| {
                let n = match block {
                    true => rx.recv(&mut buf)?,
                    false => rx.try_recv(&mut buf)?,
                };
                u64_of(&buf, n)
            }))
        },
        |name| {
            let tx = mpsc_bytes::Sender::open(name)?;
            Ok(Box::new(move |block, v| match block {
                true => tx.send(&v.to_le_bytes()),
                false => tx.try_send(&v.to_le_bytes()),
            }))
        },
    )
}

pub(super) fn drop_wakes_mpsc_bytes_sender() -> Result<String, String> {
    drop_wakes_sender(
        "drop-mpsc-bytes-tx",
        |name| {
            let tx = mpsc_bytes::Sender::create(name, 4096)?;
            Ok(Box::new(move |block, v| match block {
                true => tx.send(&v.to_le_bytes()),
                false => tx.try_send(&v.to_le_bytes()),
            }))
        },
        |name| {
            let rx = mpsc_bytes::Receiver::open(name)?;
            let mut rx = Some(rx);
            Ok(Box::new(move |_| {
                rx.take();
                Err(Error::from(CoreError::Empty))
            }) as Recv)
        },
    )
}

/// Voluntary context switches of every thread of process `pid`, summed
/// (`/proc/<pid>/task/*/status`).
fn voluntary_switches(pid: u32) -> Result<u64, String> {
    let mut sum = 0;
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).map_err(|e| e.to_string())?;
    for task in tasks {
        let path = task.map_err(|e| e.to_string())?.path().join("status");
        // A thread that ended meanwhile: nothing to count.
        let Ok(status) = std::fs::read_to_string(path) else {
            continue;
        };
        sum += status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .ok_or("no voluntary_ctxt_switches line")?;
    }
    Ok(sum)
}

/// How long the idle receiver is watched, after it settled.
const IDLE: Duration = Duration::from_secs(5);

/// A receiver blocked on an empty channel whose sender lives but sends
/// nothing: the child (the sender) counts the parent's voluntary context
/// switches, all threads, over [`IDLE`] once the parent settled: goal 0
/// (the 50 ms liveness slices made about 100). Then it sends one item.
pub(super) fn idle_receiver_sleeps() -> Result<String, String> {
    let g = ShmGuard::new("idle-spsc");
    let mut rx = spsc::Receiver::<u64>::create(&g.0, 64).ctx("create")?;
    let words = SharedWords::new();
    let name = g.0.clone();
    let parent = std::process::id();
    let mut child = fork_child(|| {
        child_main(|| {
            let mut tx = cf(spsc::Sender::<u64>::open(&name), "open")?;
            words.word(0).store(1, Ordering::Release);
            if !words.wait_for(1, 1, PATIENCE) {
                return Err(fail(EXIT_CHECK, "the parent never blocked"));
            }
            std::thread::sleep(Duration::from_millis(500));
            let before = cf(voluntary_switches(parent), "count")?;
            std::thread::sleep(IDLE);
            let after = cf(voluntary_switches(parent), "count")?;
            words
                .word(2)
                .store(after.saturating_sub(before), Ordering::Release);
            words.word(3).store(1, Ordering::Release);
            cf(tx.send(item(1)), "send")?;
            Ok(())
        })
    })?;
    ensure!(words.wait_for(0, 1, PATIENCE), "the child never opened");
    words.word(1).store(1, Ordering::Release);
    let got = rx.recv_timeout(PATIENCE).ctx("recv")?;
    wait_ok(&mut child)?;
    ensure!(got == item(1), "received {got:#x}");
    ensure!(words.word(3).load(Ordering::Acquire) == 1, "no count");
    let switches = words.word(2).load(Ordering::Acquire);
    ensure!(
        switches <= 1,
        "{switches} voluntary context switches in {IDLE:?} of idleness"
    );
    Ok(format!(
        "blocked receiver, live idle sender: {switches} voluntary context switches in {IDLE:?}"
    ))
}

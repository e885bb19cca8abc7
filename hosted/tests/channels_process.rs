//! Process channels across real processes: every kind with a million
//! messages checked, peers killed with SIGKILL while the other side blocks,
//! a sender killed in the middle of a message (MPSC byte channel), taking
//! over a dead endpoint, racing creators, stale-object removal.
//!
//! Built with `harness = false`: children are `fork()`ed from a
//! single-threaded process (checked before every fork) and open the
//! channels by name, as unrelated processes would. Threads appear only
//! between forks (a killer thread in the dead-peer tests, joined before the
//! next fork).
//!
//! Cleanup: every name is `ipckit-test-<pid>-<n>-<what>` and removed by a
//! drop guard in the parent, also when a sub-test fails; at the end the
//! binary looks for anything of this run left in `/dev/shm`, removes it and
//! fails if it found any.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ipckit::ObjectKind;
use ipckit::channel::{self, ChannelStatus, bytes, mpmc, mpsc_bytes, spsc};
use ipckit::error::{CoreError, Error, Role};
use support::{
    Child, Ctx, EXIT_CHECK, EXIT_CORRUPTED_ITEM, EXIT_OUT_OF_ORDER, EXIT_RING_ERROR, Exit, Rng,
    SharedWords, ShmGuard, Suite, child_main, fail, fork_child,
};

const MILLION: u64 = 1_000_000;
/// The bound on noticing a dead peer that the tests assert (the design
/// target is ~100 ms; this leaves room for a loaded 2-core CI machine).
const PEER_GONE_BOUND: Duration = Duration::from_millis(500);
const PATIENCE: Duration = Duration::from_secs(60);

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// In a child: an error value becomes a [`support::ChildFail`].
fn cf<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> Result<T, support::ChildFail> {
    r.map_err(|e| fail(EXIT_RING_ERROR, format!("{what}: {e}")))
}

fn item(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xA5A5_0F0F
}

fn wait_ok(child: &mut Child) -> Result<(), String> {
    let exit = child.wait(Instant::now() + PATIENCE)?;
    ensure!(exit == Exit::Code(0), "child: {exit}");
    Ok(())
}

// ---------------------------------------------------------------------------
// A million messages per kind.

fn spsc_million() -> Result<String, String> {
    let g = ShmGuard::new("spsc");
    let mut rx = spsc::Receiver::<u64>::create(&g.0, 1024).ctx("create")?;
    let name = g.0.clone();
    let mut child = fork_child(|| {
        child_main(|| {
            let mut tx = cf(spsc::Sender::<u64>::open(&name), "open")?;
            for i in 0..MILLION {
                cf(tx.send_timeout(item(i), Some(PATIENCE)), "send")?;
            }
            Ok(())
        })
    })?;
    let started = Instant::now();
    for i in 0..MILLION {
        let v = rx.recv_timeout(Some(PATIENCE)).ctx("recv")?;
        ensure!(
            v == item(i),
            "item {i}: got {v:#x}, expected {:#x}",
            item(i)
        );
    }
    let elapsed = started.elapsed();
    wait_ok(&mut child)?;
    // The sender closed when its process ended: the drained channel says so.
    let r = rx.recv_timeout(Some(PATIENCE));
    ensure!(
        r.as_ref().is_err_and(Error::is_peer_gone),
        "after the sender closed: {r:?}"
    );
    Ok(format!("{MILLION} items in {elapsed:.2?}, then PeerGone"))
}

/// The length and bytes of message `seq` (lengths from `rng`).
fn message(seq: u64, rng: &mut Rng, max: usize, out: &mut Vec<u8>) {
    let len = (rng.next() % (max as u64 + 1)) as usize;
    out.clear();
    out.extend((0..len).map(|j| (seq as usize).wrapping_mul(31).wrapping_add(j) as u8));
    if len >= 8 {
        out[..8].copy_from_slice(&seq.to_le_bytes());
    }
}

fn bytes_million() -> Result<String, String> {
    const MAX: usize = 300;
    let g = ShmGuard::new("bytes");
    let mut rx = bytes::Receiver::create(&g.0, 64 << 10).ctx("create")?;
    let name = g.0.clone();
    let mut child = fork_child(|| {
        child_main(|| {
            let mut tx = cf(bytes::Sender::open(&name), "open")?;
            let (mut rng, mut msg) = (Rng(0x1234_5678), Vec::new());
            for seq in 0..MILLION {
                message(seq, &mut rng, MAX, &mut msg);
                cf(tx.send_timeout(&msg, Some(PATIENCE)), "send")?;
            }
            Ok(())
        })
    })?;
    let (mut rng, mut expected, mut buf) = (Rng(0x1234_5678), Vec::new(), vec![0u8; MAX]);
    let mut total = 0usize;
    let started = Instant::now();
    for seq in 0..MILLION {
        message(seq, &mut rng, MAX, &mut expected);
        let n = rx.recv_timeout(&mut buf, Some(PATIENCE)).ctx("recv")?;
        ensure!(
            buf[..n] == expected[..],
            "message {seq}: {n} bytes, expected {} (or content differs)",
            expected.len()
        );
        total += n;
    }
    let elapsed = started.elapsed();
    wait_ok(&mut child)?;
    let r = rx.recv_timeout(&mut buf, Some(PATIENCE));
    ensure!(
        r.as_ref().is_err_and(Error::is_peer_gone),
        "after close: {r:?}"
    );
    Ok(format!(
        "{MILLION} messages of 0..={MAX} B ({} MB) in {elapsed:.2?}",
        total / 1_000_000
    ))
}

/// `[sender << 32 | seq, check]`.
fn mpmc_item(sender: u64, seq: u64) -> [u64; 2] {
    [(sender << 32) | seq, item(sender * MILLION + seq)]
}

fn mpmc_million() -> Result<String, String> {
    const SENDERS: u64 = 2;
    const RECEIVERS: usize = 2;
    const PER_SENDER: u64 = MILLION / SENDERS;
    let g = ShmGuard::new("mpmc");
    // The parent holds a receiver that never receives, so that the senders
    // never see "no receiver left".
    let _holder = mpmc::Receiver::<[u64; 2]>::create(&g.0, 4096).ctx("create")?;
    let words = SharedWords::new();
    // Word 0: senders opened. Per receiver r: 8 + 4r: count, 9 + 4r: sum
    // of sequence numbers, 10 + 4r: done.
    let name = g.0.clone();
    let mut children = Vec::new();
    for r in 0..RECEIVERS {
        let (name, words) = (&name, &words);
        children.push(fork_child(move || {
            child_main(|| {
                let rx = cf(mpmc::Receiver::<[u64; 2]>::open(name), "open")?;
                let mut last = [None::<u64>; SENDERS as usize];
                let (mut count, mut sum) = (0u64, 0u64);
                loop {
                    match rx.recv_timeout(Some(PATIENCE)) {
                        Ok([tag, check]) => {
                            let (sender, seq) = (tag >> 32, tag & 0xffff_ffff);
                            if sender >= SENDERS || check != mpmc_item(sender, seq)[1] {
                                return Err(fail(EXIT_CORRUPTED_ITEM, format!("{tag:#x}")));
                            }
                            let prev = &mut last[sender as usize];
                            if prev.is_some_and(|p| p >= seq) {
                                return Err(fail(
                                    EXIT_OUT_OF_ORDER,
                                    format!("sender {sender}: {seq} after {prev:?}"),
                                ));
                            }
                            *prev = Some(seq);
                            count += 1;
                            sum += seq;
                        }
                        Err(e) if e.is_peer_gone() => break,
                        Err(e) => return Err(fail(EXIT_RING_ERROR, e.to_string())),
                    }
                }
                words.word(8 + 4 * r).store(count, Ordering::Release);
                words.word(9 + 4 * r).store(sum, Ordering::Release);
                words.word(10 + 4 * r).store(1, Ordering::Release);
                Ok(())
            })
        })?);
    }
    let started = Instant::now();
    for s in 0..SENDERS {
        let (name, words) = (&name, &words);
        children.push(fork_child(move || {
            child_main(|| {
                let tx = cf(mpmc::Sender::<[u64; 2]>::open(name), "open")?;
                // All senders open before any sends (and so before any
                // closes): receivers must not see "every sender gone" early.
                words.word(0).fetch_add(1, Ordering::AcqRel);
                if !words.wait_for(0, SENDERS, PATIENCE) {
                    return Err(fail(EXIT_CHECK, "other sender never opened"));
                }
                for seq in 0..PER_SENDER {
                    cf(tx.send_timeout(mpmc_item(s, seq), Some(PATIENCE)), "send")?;
                }
                Ok(())
            })
        })?);
    }
    for child in &mut children {
        wait_ok(child)?;
    }
    let elapsed = started.elapsed();
    let (mut count, mut sum) = (0, 0);
    let mut split = Vec::new();
    for r in 0..RECEIVERS {
        ensure!(
            words.word(10 + 4 * r).load(Ordering::Acquire) == 1,
            "receiver {r} not done"
        );
        let c = words.word(8 + 4 * r).load(Ordering::Acquire);
        split.push(c);
        count += c;
        sum += words.word(9 + 4 * r).load(Ordering::Acquire);
    }
    ensure!(count == MILLION, "{count} items received, {MILLION} sent");
    let expected_sum = SENDERS * (PER_SENDER * (PER_SENDER - 1) / 2);
    ensure!(
        sum == expected_sum,
        "sequence sum {sum}, expected {expected_sum}"
    );
    Ok(format!(
        "{SENDERS} sender and {RECEIVERS} receiver processes, {MILLION} items in {elapsed:.2?} \
         (split {split:?}), per-sender order and content checked, receivers ended by PeerGone"
    ))
}

// ---------------------------------------------------------------------------
// Dead peers.

/// Kills `pid` with SIGKILL from another thread after `delay`; the thread
/// returns the instant of the kill.
fn kill_later(pid: libc::pid_t, delay: Duration) -> std::thread::JoinHandle<Instant> {
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
fn idle_child(
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
/// thread kills `child`; returns the time from the kill to the error.
fn measure_peer_gone<R: std::fmt::Debug>(
    child: &mut Child,
    blocked: impl FnOnce() -> Result<R, Error>,
) -> Result<Duration, String> {
    // Blocked calls check liveness every 50 ms, counted from the call: a kill
    // 105 ms after it lands just after a check, the worst phase (~45 ms to
    // the next one).
    let killer = kill_later(child.pid, Duration::from_millis(105));
    let result = blocked();
    let returned = Instant::now();
    let killed = killer.join().map_err(|_| "killer thread panicked")?;
    child.kill(); // reap
    match result {
        Err(e) if e.is_peer_gone() => {}
        other => return Err(format!("expected PeerGone, got {other:?}")),
    }
    ensure!(returned > killed, "returned before the kill");
    let took = returned - killed;
    ensure!(
        took < PEER_GONE_BOUND,
        "PeerGone after {took:?} (bound {PEER_GONE_BOUND:?})"
    );
    Ok(took)
}

fn killed_sender_spsc() -> Result<String, String> {
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

fn killed_receiver_bytes() -> Result<String, String> {
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

fn killed_senders_mpmc() -> Result<String, String> {
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

fn drain_before_peer_gone() -> Result<String, String> {
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
            ensure!(peer == Role::Producer, "peer {peer}");
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

// ---------------------------------------------------------------------------
// Take-over.

fn take_over_receiver() -> Result<String, String> {
    const ITEMS: u64 = 50;
    let g = ShmGuard::new("takeover");
    let mut tx = spsc::Sender::<u64>::create(&g.0, 64).ctx("create")?;
    for i in 0..ITEMS {
        tx.send(item(i)).ctx("send")?;
    }
    let words = SharedWords::new();
    let name = g.0.clone();
    let mut child = idle_child(&words, || {
        let mut rx = spsc::Receiver::<u64>::open(&name).map_err(|e| e.to_string())?;
        for i in 0..5 {
            if rx.recv().map_err(|e| e.to_string())? != item(i) {
                return Err(format!("item {i}"));
            }
        }
        Ok(Box::new(rx))
    })?;
    let role_taken = |r: Result<spsc::Receiver<u64>, Error>| matches!(r, Err(e) if e.core() == Some(CoreError::RoleTaken(Role::Consumer)));
    ensure!(
        role_taken(spsc::Receiver::open(&g.0)),
        "open while the holder lives"
    );
    ensure!(
        role_taken(spsc::Receiver::take_over(&g.0)),
        "take_over while the holder lives"
    );
    child.kill();
    ensure!(
        role_taken(spsc::Receiver::open(&g.0)),
        "open after the holder died"
    );
    let mut rx = spsc::Receiver::<u64>::take_over(&g.0).ctx("take_over")?;
    for i in 5..ITEMS {
        ensure!(
            rx.recv().ctx("recv")? == item(i),
            "item {i} after take-over"
        );
    }
    // And the new receiver is a normal one: the sender still sees it.
    tx.send(item(ITEMS)).ctx("send")?;
    ensure!(rx.recv().ctx("recv")? == item(ITEMS), "new item");
    ensure!(
        tx.peer_gone().is_none(),
        "the sender thinks the receiver is gone"
    );

    // The same for the sender of a byte channel.
    let g2 = ShmGuard::new("takeover-bytes");
    let mut brx = bytes::Receiver::create(&g2.0, 4096).ctx("create bytes")?;
    let words = SharedWords::new();
    let name = g2.0.clone();
    let mut child = idle_child(&words, || {
        let mut tx = bytes::Sender::open(&name).map_err(|e| e.to_string())?;
        tx.send(b"before").map_err(|e| e.to_string())?;
        Ok(Box::new(tx))
    })?;
    child.kill();
    let mut btx = bytes::Sender::take_over(&g2.0).ctx("take_over bytes")?;
    btx.send(b"after").ctx("send")?;
    let mut buf = [0u8; 16];
    let n = brx.recv(&mut buf).ctx("recv")?;
    ensure!(&buf[..n] == b"before", "first message");
    let n = brx.recv(&mut buf).ctx("recv")?;
    ensure!(&buf[..n] == b"after", "second message");
    Ok(
        "a killed receiver's role taken over (items resume in order), refused while it lived; \
        same for a byte sender"
            .into(),
    )
}

// ---------------------------------------------------------------------------
// The MPSC byte channel: many sender processes, one receiver.

/// FNV-1a over `bytes`.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Message `seq` of sender `s`: `[s: u32][seq: u32][0..=max random bytes]
/// [FNV-1a of everything before: u64]`, lengths and bytes from `rng`.
fn mpsc_message(s: u32, seq: u32, rng: &mut Rng, max: usize, out: &mut Vec<u8>) {
    let len = (rng.next() % (max as u64 + 1)) as usize;
    let seed = rng.next();
    out.clear();
    out.extend_from_slice(&s.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend((0..len).map(|j| (seed >> ((j % 8) * 8)) as u8 ^ j as u8));
    let sum = fnv(out);
    out.extend_from_slice(&sum.to_le_bytes());
}

fn mpsc_seed(s: u32) -> u64 {
    0x5EED_0000 + u64::from(s) * 7919
}

fn mpsc_bytes_many() -> Result<String, String> {
    const SENDERS: u32 = 3;
    const PER_SENDER: u32 = 300_000;
    const MAX: usize = 300;
    let g = ShmGuard::new("mpsc-bytes");
    let mut rx = mpsc_bytes::Receiver::create(&g.0, 64 << 10).ctx("create")?;
    let words = SharedWords::new();
    let name = g.0.clone();
    let mut children = Vec::new();
    for s in 0..SENDERS {
        let (name, words) = (&name, &words);
        children.push(fork_child(move || {
            child_main(|| {
                let tx = cf(mpsc_bytes::Sender::open(name), "open")?;
                // All senders open before any sends (and so before any
                // closes): the receiver must not see "every sender gone"
                // early.
                words.word(0).fetch_add(1, Ordering::AcqRel);
                if !words.wait_for(0, u64::from(SENDERS), PATIENCE) {
                    return Err(fail(EXIT_CHECK, "other senders never opened"));
                }
                let (mut rng, mut msg) = (Rng(mpsc_seed(s)), Vec::new());
                for seq in 0..PER_SENDER {
                    mpsc_message(s, seq, &mut rng, MAX, &mut msg);
                    cf(tx.send_timeout(&msg, Some(PATIENCE)), "send")?;
                }
                Ok(())
            })
        })?);
    }
    let mut rngs: Vec<Rng> = (0..SENDERS).map(|s| Rng(mpsc_seed(s))).collect();
    let mut next = [0u32; SENDERS as usize];
    let (mut expected, mut buf) = (Vec::new(), vec![0u8; MAX + 16]);
    let mut bytes_total = 0usize;
    let total = u64::from(SENDERS) * u64::from(PER_SENDER);
    let started = Instant::now();
    for i in 0..total {
        let n = rx.recv_timeout(&mut buf, Some(PATIENCE)).ctx("recv")?;
        let m = &buf[..n];
        ensure!(n >= 16, "message {i}: only {n} bytes");
        let sum = u64::from_le_bytes(m[n - 8..].try_into().expect("8 bytes"));
        ensure!(fnv(&m[..n - 8]) == sum, "message {i}: checksum mismatch");
        let s = u32::from_le_bytes(m[..4].try_into().expect("4 bytes"));
        let seq = u32::from_le_bytes(m[4..8].try_into().expect("4 bytes"));
        ensure!(s < SENDERS, "message {i}: sender {s}");
        let want = next[s as usize];
        ensure!(
            seq == want,
            "sender {s}: message {seq} where {want} was due"
        );
        mpsc_message(s, seq, &mut rngs[s as usize], MAX, &mut expected);
        ensure!(
            m == &expected[..],
            "sender {s} message {seq}: content differs"
        );
        next[s as usize] += 1;
        bytes_total += n;
    }
    let elapsed = started.elapsed();
    for child in &mut children {
        wait_ok(child)?;
    }
    let r = rx.recv_timeout(&mut buf, Some(PATIENCE));
    ensure!(
        r.as_ref().is_err_and(Error::is_peer_gone),
        "after every sender closed: {r:?}"
    );
    ensure!(rx.skipped().records == 0, "skipped {:?}", rx.skipped());
    Ok(format!(
        "{SENDERS} sender processes x {PER_SENDER} messages of 16..={} B ({} MB) in \
         {elapsed:.2?}, content, checksums and per-sender order checked, then PeerGone",
        MAX + 16,
        bytes_total / 1_000_000
    ))
}

/// `[s, seq]` as 16 bytes.
fn tagged(s: u64, seq: u64) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[..8].copy_from_slice(&s.to_le_bytes());
    m[8..].copy_from_slice(&seq.to_le_bytes());
    m
}

fn untag(m: &[u8]) -> Result<(u64, u64), String> {
    ensure!(m.len() == 16, "a message of {} bytes", m.len());
    let s = u64::from_le_bytes(m[..8].try_into().expect("8 bytes"));
    let seq = u64::from_le_bytes(m[8..].try_into().expect("8 bytes"));
    Ok((s, seq))
}

/// Receives `count` tagged messages of senders `0..next.len()`, checking
/// each sender's order (`next[s]` is the sequence number due).
fn recv_tagged(rx: &mut mpsc_bytes::Receiver, count: u64, next: &mut [u64]) -> Result<(), String> {
    let mut buf = [0u8; 64];
    for i in 0..count {
        let n = rx.recv_timeout(&mut buf, Some(PATIENCE)).ctx("recv")?;
        let (s, seq) = untag(&buf[..n])?;
        ensure!((s as usize) < next.len(), "message {i}: sender {s}");
        ensure!(
            seq == next[s as usize],
            "sender {s}: message {seq} where {} was due",
            next[s as usize]
        );
        next[s as usize] += 1;
    }
    Ok(())
}

fn mpsc_sender_killed_mid_message() -> Result<String, String> {
    const PER_SENDER: u64 = 20_000;
    let g = ShmGuard::new("mpsc-mid-message");
    let mut rx = mpsc_bytes::Receiver::create(&g.0, 4096).ctx("create")?;
    let words = SharedWords::new();
    let name = g.0.clone();
    // The victim claims the first record of the ring and never commits it.
    let mut victim = fork_child(|| {
        child_main(|| {
            let tx = cf(mpsc_bytes::Sender::open(&name), "open")?;
            let mut grant = cf(tx.try_grant(100), "grant")?;
            cf(grant.write_at(0, &[0xEE; 50]), "write")?;
            words.word(0).store(1, Ordering::Release);
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    })?;
    ensure!(words.wait_for(0, 1, PATIENCE), "victim never got ready");
    // Two more senders queue behind it (and block on the full ring).
    let mut others = Vec::new();
    for s in 0..2u64 {
        let (name, words) = (&name, &words);
        others.push(fork_child(move || {
            child_main(|| {
                let tx = cf(mpsc_bytes::Sender::open(name), "open")?;
                words.word(1).fetch_add(1, Ordering::AcqRel);
                for seq in 0..PER_SENDER {
                    cf(tx.send_timeout(&tagged(s, seq), Some(PATIENCE)), "send")?;
                }
                Ok(())
            })
        })?);
    }
    ensure!(words.wait_for(1, 2, PATIENCE), "senders never opened");

    // A live sender holding its record is waited for, never skipped.
    let stall = rx
        .stalled()
        .ctx("stalled")?
        .ok_or("no stall at the front")?;
    ensure!(
        stall.claimant == Some(victim.pid as u32),
        "stall names {:?}, the victim is {}",
        stall.claimant,
        victim.pid
    );
    let mut buf = [0u8; 64];
    let waited = rx.recv_timeout(&mut buf, Some(Duration::from_millis(300)));
    ensure!(
        matches!(waited, Err(Error::Core(CoreError::TimedOut))),
        "while the victim lives: {waited:?}"
    );
    ensure!(
        rx.skip_dead().ctx("skip_dead")? == 0,
        "skipped a live sender"
    );
    ensure!(rx.skipped().records == 0, "skipped {:?}", rx.skipped());

    // Kill it while the receiver blocks; the first message behind it comes.
    let killer = kill_later(victim.pid, Duration::from_millis(105));
    let first = rx.recv_timeout(&mut buf, Some(PATIENCE));
    let returned = Instant::now();
    let killed = killer.join().map_err(|_| "killer thread panicked")?;
    victim.kill(); // reap
    let n = first.ctx("first recv after the kill")?;
    ensure!(returned > killed, "a message arrived before the kill");
    let took = returned - killed;
    ensure!(
        took < PEER_GONE_BOUND,
        "the dead record was skipped after {took:?} (bound {PEER_GONE_BOUND:?})"
    );
    let mut next = [0u64; 2];
    let (s, seq) = untag(&buf[..n])?;
    ensure!(s < 2 && seq == 0, "first message: sender {s} seq {seq}");
    next[s as usize] = 1;
    recv_tagged(&mut rx, 2 * PER_SENDER - 1, &mut next)?;
    let skipped = rx.skipped();
    ensure!(skipped.records == 1, "skipped {skipped:?}");
    for child in &mut others {
        wait_ok(child)?;
    }
    let r = rx.recv_timeout(&mut buf, Some(PATIENCE));
    ensure!(
        r.as_ref().is_err_and(Error::is_peer_gone),
        "after every sender ended: {r:?}"
    );
    Ok(format!(
        "victim killed holding the front record: skipped {took:.1?} after SIGKILL \
         ({} B), then 2 x {PER_SENDER} messages of the live senders in order; \
         a live holder was waited for (300 ms, no skip)",
        skipped.bytes
    ))
}

fn mpsc_all_senders_killed() -> Result<String, String> {
    const HALF: u64 = 50;
    let g = ShmGuard::new("mpsc-all-killed");
    let mut rx = mpsc_bytes::Receiver::create(&g.0, 64 << 10).ctx("create")?;
    let words = SharedWords::new();
    let name = g.0.clone();
    let mut children = Vec::new();
    for s in 0..2u64 {
        let (name, words) = (&name, &words);
        children.push(fork_child(move || {
            child_main(|| {
                let tx = cf(mpsc_bytes::Sender::open(name), "open")?;
                for seq in 0..HALF {
                    cf(tx.send(&tagged(s, seq)), "send")?;
                }
                // Sender 0 dies holding a record in the middle of its
                // messages: the receiver must get past it to drain.
                let _grant = if s == 0 {
                    Some(cf(tx.try_grant(40), "grant")?)
                } else {
                    None
                };
                for seq in HALF..2 * HALF {
                    cf(tx.send(&tagged(s, seq)), "send")?;
                }
                words.word(0).fetch_add(1, Ordering::AcqRel);
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
            })
        })?);
    }
    ensure!(words.wait_for(0, 2, PATIENCE), "senders never got ready");

    // `inspect` and `list` show the kind and every endpoint's pid.
    let info = channel::inspect(&g.0).ctx("inspect")?;
    ensure!(
        info.kind == Some(ObjectKind::FrameMpsc) && info.status == ChannelStatus::Live,
        "inspect: {:?} {:?}",
        info.kind,
        info.status
    );
    let mut senders: Vec<u32> = info
        .endpoints
        .iter()
        .filter(|e| e.role == Role::Producer && e.alive)
        .map(|e| e.process.pid)
        .collect();
    senders.sort();
    let mut pids: Vec<u32> = children.iter().map(|c| c.pid as u32).collect();
    pids.sort();
    ensure!(senders == pids, "senders {senders:?}, children {pids:?}");
    ensure!(
        info.endpoints
            .iter()
            .any(|e| e.role == Role::Consumer && e.alive && e.process.pid == std::process::id()),
        "receiver not listed: {:?}",
        info.endpoints
    );
    let listed = channel::list().ctx("list")?;
    ensure!(
        listed
            .iter()
            .any(|c| c.name == g.0 && c.kind == Some(ObjectKind::FrameMpsc)),
        "not in list()"
    );

    for child in &mut children {
        child.kill();
    }
    let mut next = [0u64; 2];
    recv_tagged(&mut rx, 4 * HALF, &mut next)?;
    let mut buf = [0u8; 64];
    let r = rx.recv_timeout(&mut buf, Some(PATIENCE));
    match r {
        Err(Error::PeerGone {
            peer: Role::Producer,
            pid: Some(pid),
        }) if pids.contains(&pid) => {}
        other => return Err(format!("after draining: {other:?}")),
    }
    ensure!(rx.skipped().records == 1, "skipped {:?}", rx.skipped());
    let after = channel::inspect(&g.0).ctx("inspect after")?;
    ensure!(
        after
            .endpoints
            .iter()
            .filter(|e| e.role == Role::Producer)
            .all(|e| !e.alive),
        "senders still alive: {:?}",
        after.endpoints
    );
    Ok(format!(
        "listed as FrameMpsc with 2 sender pids and the receiver; both senders killed \
         (one holding a record): {} messages drained past the dead record, then PeerGone",
        4 * HALF
    ))
}

fn mpsc_receiver_killed() -> Result<String, String> {
    let g = ShmGuard::new("mpsc-rx-killed");
    let tx = mpsc_bytes::Sender::create(&g.0, 4096).ctx("create")?;
    let message = |seq: u64| {
        let mut m = [0u8; 100];
        m[..8].copy_from_slice(&seq.to_le_bytes());
        m
    };
    let mut sent = 0u64;
    while tx.try_send(&message(sent)).is_ok() {
        sent += 1;
    }
    let words = SharedWords::new();
    let name = g.0.clone();
    let mut child = idle_child(&words, || {
        let mut rx = mpsc_bytes::Receiver::open(&name).map_err(|e| e.to_string())?;
        let mut buf = [0u8; 128];
        for seq in 0..5u64 {
            let n = rx.recv(&mut buf).map_err(|e| e.to_string())?;
            if n != 100 || buf[..8] != seq.to_le_bytes() {
                return Err(format!("message {seq}"));
            }
        }
        Ok(Box::new(rx))
    })?;
    while tx.try_send(&message(sent)).is_ok() {
        sent += 1;
    }
    let role_taken = |r: Result<mpsc_bytes::Receiver, Error>| matches!(r, Err(e) if e.core() == Some(CoreError::RoleTaken(Role::Consumer)));
    ensure!(
        role_taken(mpsc_bytes::Receiver::open(&g.0)),
        "open while the receiver lives"
    );
    ensure!(
        role_taken(mpsc_bytes::Receiver::take_over(&g.0)),
        "take_over while the receiver lives"
    );
    let took = measure_peer_gone(&mut child, || tx.send(&message(sent)))?;

    // A new receiver takes over and resumes after the 5 received.
    let mut rx = mpsc_bytes::Receiver::take_over(&g.0).ctx("take_over")?;
    let mut buf = [0u8; 128];
    for seq in 5..sent {
        let n = rx.try_recv(&mut buf).ctx("recv after take-over")?;
        ensure!(
            n == 100 && buf[..8] == seq.to_le_bytes(),
            "message {seq} after take-over"
        );
    }
    tx.send(&message(sent)).ctx("send to the new receiver")?;
    let n = rx.recv(&mut buf).ctx("recv")?;
    ensure!(n == 100 && buf[..8] == sent.to_le_bytes(), "new message");
    ensure!(
        tx.peer_gone().is_none(),
        "the sender thinks the receiver is gone"
    );
    Ok(format!(
        "sender blocked on full: PeerGone {took:.1?} after SIGKILL; the receiver role taken \
         over (refused while it lived), {} queued messages resumed in order",
        sent - 5
    ))
}

// ---------------------------------------------------------------------------
// Creators racing, stale objects.

fn creators_race() -> Result<String, String> {
    const RACERS: usize = 4;
    const WON: i32 = 0;
    const LOST: i32 = 20;
    let mut rounds = 0;
    for _ in 0..20 {
        let g = ShmGuard::new("race");
        let words = SharedWords::new();
        let mut children = Vec::new();
        for _ in 0..RACERS {
            let (name, words) = (&g.0, &words);
            children.push(fork_child(move || {
                words.word(1).fetch_add(1, Ordering::AcqRel);
                if !words.wait_for(0, 1, PATIENCE) {
                    return EXIT_CHECK;
                }
                match spsc::Sender::<u64>::create(name, 64) {
                    Ok(mut tx) => match tx.send(42) {
                        Ok(()) => WON,
                        Err(_) => EXIT_RING_ERROR,
                    },
                    Err(Error::AlreadyExists(_)) => LOST,
                    Err(e) => {
                        eprintln!("  child: {e}");
                        EXIT_RING_ERROR
                    }
                }
            })?);
        }
        ensure!(
            words.wait_for(1, RACERS as u64, PATIENCE),
            "racers not ready"
        );
        words.word(0).store(1, Ordering::Release);
        let mut won = 0;
        for child in &mut children {
            match child.wait(Instant::now() + PATIENCE)? {
                Exit::Code(WON) => won += 1,
                Exit::Code(LOST) => {}
                other => return Err(format!("racer: {other}")),
            }
        }
        ensure!(won == 1, "{won} creators won");
        let mut rx = spsc::Receiver::<u64>::open(&g.0).ctx("open the winner's channel")?;
        ensure!(rx.recv().ctx("recv")? == 42, "the winner's item");
        rounds += 1;
    }
    Ok(format!(
        "{rounds} rounds of {RACERS} racing creators: exactly one won each time"
    ))
}

fn stale_removal() -> Result<String, String> {
    let (dead, live, idle) = (
        ShmGuard::new("stale-dead"),
        ShmGuard::new("stale-live"),
        ShmGuard::new("stale-idle"),
    );
    // `dead`: created by a child that is then killed; nobody else opened it.
    // `live`: the same, but this process holds its receiver.
    let words = SharedWords::new();
    let (d, l) = (dead.0.clone(), live.0.clone());
    let mut child = idle_child(&words, || {
        let a = spsc::Sender::<u64>::create(&d, 8).map_err(|e| e.to_string())?;
        let b = bytes::Sender::create(&l, 64).map_err(|e| e.to_string())?;
        Ok(Box::new((a, b)))
    })?;
    let _live_rx = bytes::Receiver::open(&live.0).ctx("open live")?;
    drop(spsc::Sender::<u64>::create(&idle.0, 8).ctx("create idle")?);
    let before = channel::inspect(&dead.0).ctx("inspect")?;
    ensure!(
        before.status == ChannelStatus::Live,
        "dead before the kill: {:?}",
        before.status
    );
    child.kill();

    let status = |name: &str| {
        channel::inspect(name)
            .map(|i| i.status)
            .map_err(|e| e.to_string())
    };
    ensure!(
        status(&dead.0) == Ok(ChannelStatus::Stale),
        "dead: {:?}",
        status(&dead.0)
    );
    ensure!(
        status(&live.0) == Ok(ChannelStatus::Live),
        "live: {:?}",
        status(&live.0)
    );
    ensure!(
        status(&idle.0) == Ok(ChannelStatus::Idle),
        "idle: {:?}",
        status(&idle.0)
    );
    let listed = channel::list().ctx("list")?;
    let entry = listed
        .iter()
        .find(|c| c.name == dead.0)
        .ok_or("dead channel not listed")?;
    ensure!(
        entry.endpoints.len() == 1
            && entry.endpoints[0].process.pid == child.pid as u32
            && !entry.endpoints[0].alive,
        "endpoints of the dead channel: {:?}",
        entry.endpoints
    );

    let removed = channel::remove_stale().ctx("remove_stale")?;
    ensure!(removed.contains(&dead.0), "not removed: {removed:?}");
    ensure!(
        !removed.contains(&live.0) && !removed.contains(&idle.0),
        "removed too much: {removed:?}"
    );
    let exists = |name: &str| std::path::Path::new("/dev/shm").join(name).exists();
    ensure!(!exists(&dead.0), "the dead channel is still in /dev/shm");
    ensure!(
        exists(&live.0) && exists(&idle.0),
        "a kept channel vanished"
    );
    Ok(format!(
        "{} listed; stale one removed, live and idle ones kept",
        listed.len()
    ))
}

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: &[(&str, Test)] = &[
        ("spsc: 1M items", spsc_million),
        ("bytes: 1M messages", bytes_million),
        ("mpmc: 1M items, 2x2 processes", mpmc_million),
        ("spsc: sender killed", killed_sender_spsc),
        ("bytes: receiver killed", killed_receiver_bytes),
        ("mpmc: only sender killed", killed_senders_mpmc),
        ("bytes: drain before PeerGone", drain_before_peer_gone),
        ("mpsc_bytes: 3 senders x 300k messages", mpsc_bytes_many),
        (
            "mpsc_bytes: sender killed mid-message",
            mpsc_sender_killed_mid_message,
        ),
        ("mpsc_bytes: every sender killed", mpsc_all_senders_killed),
        (
            "mpsc_bytes: receiver killed, taken over",
            mpsc_receiver_killed,
        ),
        ("take-over of a dead endpoint", take_over_receiver),
        ("creators racing", creators_race),
        ("stale objects", stale_removal),
    ];
    Suite::new()
        .tests(tests.iter().copied())
        .leftovers_checked()
        .run()
        .exit();
}

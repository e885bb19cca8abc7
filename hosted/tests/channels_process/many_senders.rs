//! The MPSC byte channel: many sender processes, one receiver, some killed.

use super::*;

// The MPSC byte channel: many sender processes, one receiver.

/// FNV-1a over `bytes`.
pub(super) fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Message `seq` of sender `s`: `[s: u32][seq: u32][0..=max random bytes]
/// [FNV-1a of everything before: u64]`, lengths and bytes from `rng`.
pub(super) fn mpsc_message(s: u32, seq: u32, rng: &mut Rng, max: usize, out: &mut Vec<u8>) {
    let len = (rng.next() % (max as u64 + 1)) as usize;
    let seed = rng.next();
    out.clear();
    out.extend_from_slice(&s.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend((0..len).map(|j| (seed >> ((j % 8) * 8)) as u8 ^ j as u8));
    let sum = fnv(out);
    out.extend_from_slice(&sum.to_le_bytes());
}

pub(super) fn mpsc_seed(s: u32) -> u64 {
    0x5EED_0000 + u64::from(s) * 7919
}

pub(super) fn mpsc_bytes_many() -> Result<String, String> {
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
                    cf(tx.send_timeout(&msg, PATIENCE), "send")?;
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
        let n = rx.recv_timeout(&mut buf, PATIENCE).ctx("recv")?;
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
    let r = rx.recv_timeout(&mut buf, PATIENCE);
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
pub(super) fn tagged(s: u64, seq: u64) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[..8].copy_from_slice(&s.to_le_bytes());
    m[8..].copy_from_slice(&seq.to_le_bytes());
    m
}

pub(super) fn untag(m: &[u8]) -> Result<(u64, u64), String> {
    ensure!(m.len() == 16, "a message of {} bytes", m.len());
    let s = u64::from_le_bytes(m[..8].try_into().expect("8 bytes"));
    let seq = u64::from_le_bytes(m[8..].try_into().expect("8 bytes"));
    Ok((s, seq))
}

/// Receives `count` tagged messages of senders `0..next.len()`, checking
/// each sender's order (`next[s]` is the sequence number due).
pub(super) fn recv_tagged(
    rx: &mut mpsc_bytes::Receiver,
    count: u64,
    next: &mut [u64],
) -> Result<(), String> {
    let mut buf = [0u8; 64];
    for i in 0..count {
        let n = rx.recv_timeout(&mut buf, PATIENCE).ctx("recv")?;
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

pub(super) fn mpsc_sender_killed_mid_message() -> Result<String, String> {
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
                    cf(tx.send_timeout(&tagged(s, seq), PATIENCE), "send")?;
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
    let waited = rx.recv_timeout(&mut buf, Duration::from_millis(300));
    ensure!(
        matches!(waited, Err(Error::TimedOut)),
        "while the victim lives: {waited:?}"
    );
    ensure!(
        rx.skip_dead().ctx("skip_dead")? == 0,
        "skipped a live sender"
    );
    ensure!(rx.skipped().records == 0, "skipped {:?}", rx.skipped());

    // Kill it while the receiver blocks; the first message behind it comes.
    let killer = kill_later(victim.pid, Duration::from_millis(105));
    let waited = run_delay_ns();
    let first = rx.recv_timeout(&mut buf, PATIENCE);
    let returned = Instant::now();
    // Time runnable without a CPU is the machine's, not the channel's.
    let waited = Duration::from_nanos(run_delay_ns().saturating_sub(waited));
    let killed = killer.join().map_err(|_| "killer thread panicked")?;
    victim.kill(); // reap
    let n = first.ctx("first recv after the kill")?;
    ensure!(returned > killed, "a message arrived before the kill");
    let took = returned - killed;
    ensure!(
        took.saturating_sub(waited) < PEER_GONE_BOUND,
        "the dead record was skipped after {took:?}, {waited:?} of it waiting for a CPU (bound {PEER_GONE_BOUND:?})"
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
    let r = rx.recv_timeout(&mut buf, PATIENCE);
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

pub(super) fn mpsc_all_senders_killed() -> Result<String, String> {
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
    let r = rx.recv_timeout(&mut buf, PATIENCE);
    match r {
        Err(Error::PeerGone {
            peer: Some(Role::Producer),
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

pub(super) fn mpsc_receiver_killed() -> Result<String, String> {
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

//! A million messages per kind.

use super::*;

// A million messages per kind.

pub(super) fn spsc_million() -> Result<String, String> {
    let g = ShmGuard::new("spsc");
    let mut rx = spsc::Receiver::<u64>::create(&g.0, 1024).ctx("create")?;
    let name = g.0.clone();
    let mut child = fork_child(|| {
        child_main(|| {
            let mut tx = cf(spsc::Sender::<u64>::open(&name), "open")?;
            for i in 0..MILLION {
                cf(tx.send_timeout(item(i), PATIENCE), "send")?;
            }
            Ok(())
        })
    })?;
    let started = Instant::now();
    for i in 0..MILLION {
        let v = rx.recv_timeout(PATIENCE).ctx("recv")?;
        ensure!(
            v == item(i),
            "item {i}: got {v:#x}, expected {:#x}",
            item(i)
        );
    }
    let elapsed = started.elapsed();
    wait_ok(&mut child)?;
    // The sender closed when its process ended: the drained channel says so.
    let r = rx.recv_timeout(PATIENCE);
    ensure!(
        r.as_ref().is_err_and(Error::is_peer_gone),
        "after the sender closed: {r:?}"
    );
    Ok(format!("{MILLION} items in {elapsed:.2?}, then PeerGone"))
}

/// The length and bytes of message `seq` (lengths from `rng`).
pub(super) fn message(seq: u64, rng: &mut Rng, max: usize, out: &mut Vec<u8>) {
    let len = (rng.next() % (max as u64 + 1)) as usize;
    out.clear();
    out.extend((0..len).map(|j| (seq as usize).wrapping_mul(31).wrapping_add(j) as u8));
    if len >= 8 {
        out[..8].copy_from_slice(&seq.to_le_bytes());
    }
}

pub(super) fn bytes_million() -> Result<String, String> {
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
                cf(tx.send_timeout(&msg, PATIENCE), "send")?;
            }
            Ok(())
        })
    })?;
    let (mut rng, mut expected, mut buf) = (Rng(0x1234_5678), Vec::new(), vec![0u8; MAX]);
    let mut total = 0usize;
    let started = Instant::now();
    for seq in 0..MILLION {
        message(seq, &mut rng, MAX, &mut expected);
        let n = rx.recv_timeout(&mut buf, PATIENCE).ctx("recv")?;
        ensure!(
            buf[..n] == expected[..],
            "message {seq}: {n} bytes, expected {} (or content differs)",
            expected.len()
        );
        total += n;
    }
    let elapsed = started.elapsed();
    wait_ok(&mut child)?;
    let r = rx.recv_timeout(&mut buf, PATIENCE);
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
pub(super) fn mpmc_item(sender: u64, seq: u64) -> [u64; 2] {
    [(sender << 32) | seq, item(sender * MILLION + seq)]
}

pub(super) fn mpmc_million() -> Result<String, String> {
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
                    match rx.recv_timeout(PATIENCE) {
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
                    cf(tx.send_timeout(mpmc_item(s, seq), PATIENCE), "send")?;
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

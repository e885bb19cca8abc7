//! (a) Timeouts and (b) waking a peer that sleeps in the kernel.

use super::*;

// (a) Timeouts.

/// Checks that `f` returns `TimedOut` after at least `timeout` and before
/// `timeout + SLACK`; returns the time it took.
pub(super) fn expect_timeout(
    what: &str,
    timeout: Duration,
    f: impl FnOnce() -> Result<(), CoreError>,
) -> Result<Duration, String> {
    let t0 = Instant::now();
    let r = f();
    let took = t0.elapsed();
    if r != Err(CoreError::TimedOut) {
        return Err(format!("{what}: {r:?}, expected TimedOut"));
    }
    if took < timeout || took >= timeout + SLACK {
        return Err(format!("{what}: returned after {took:?}"));
    }
    Ok(took)
}

pub(super) fn timeouts() -> Result<String, String> {
    const CAP: u32 = 4;
    const T: Duration = Duration::from_millis(50);
    let mut notes = Vec::new();
    for notify in [Futex::new(), Futex::adaptive(SPINS)] {
        let name = notifier_name(notify);
        let m = waking_ring(CAP)?;
        let ring = attach(&m).map_err(|e| format!("attach: {e}"))?;
        let mut tx = ring
            .producer_with(notify)
            .map_err(|e| format!("producer: {e}"))?;
        let mut rx = ring
            .consumer_with(notify)
            .map_err(|e| format!("consumer: {e}"))?;
        let pop = expect_timeout(&format!("{name} pop_timeout(50 ms)"), T, || {
            rx.pop_timeout(Some(T)).map(drop)
        })?;
        // The consumer withdrew its announcement on the way out.
        if word(&m, CONSUMER_WAITING_OFFSET).load(Ordering::SeqCst) != 0 {
            return Err(format!("{name}: consumer still announced after timing out"));
        }
        for i in 0..u64::from(CAP) {
            tx.try_push(item(i)).map_err(|e| format!("fill: {e}"))?;
        }
        let push = expect_timeout(&format!("{name} push_timeout(50 ms)"), T, || {
            tx.push_timeout(item(99), Some(T))
        })?;
        if word(&m, PRODUCER_WAITING_OFFSET).load(Ordering::SeqCst) != 0 {
            return Err(format!("{name}: producer still announced after timing out"));
        }
        // A zero timeout never sleeps.
        let t0 = Instant::now();
        let r = tx.push_timeout(item(99), Some(Duration::ZERO));
        if r != Err(CoreError::TimedOut) || t0.elapsed() >= SLACK {
            return Err(format!(
                "{name}: push_timeout(0): {r:?} after {:?}",
                t0.elapsed()
            ));
        }
        // The ring still works: drain it, then time out on empty again.
        for i in 0..u64::from(CAP) {
            match rx.pop_timeout(Some(T)) {
                Ok(v) if v == item(i) => {}
                other => return Err(format!("{name}: drain item {i}: {other:?}")),
            }
        }
        let t0 = Instant::now();
        let r = rx.pop_timeout(Some(Duration::ZERO));
        if r != Err(CoreError::TimedOut) || t0.elapsed() >= SLACK {
            return Err(format!(
                "{name}: pop_timeout(0): {r:?} after {:?}",
                t0.elapsed()
            ));
        }
        notes.push(format!(
            "{name}: pop {:.1} ms, push {:.1} ms",
            pop.as_secs_f64() * 1e3,
            push.as_secs_f64() * 1e3
        ));
    }
    Ok(notes.join("; "))
}

// (b) Waking a peer that sleeps in the kernel.

/// The longest a sleeping peer may take to answer.
pub(super) const WAKE_BOUND: Duration = Duration::from_secs(1);
/// How long the parent lets the child sleep before it acts.
pub(super) const IDLE: Duration = Duration::from_millis(100);

/// Waits until the child has announced itself in `flag` and sleeps in the
/// kernel, then lets it sleep for [`IDLE`] and checks that it still does.
pub(super) fn until_asleep(
    child: &mut Child,
    flag: &AtomicU32,
    what: &str,
) -> Result<String, String> {
    let asleep = |c: &Child| flag.load(Ordering::SeqCst) == 1 && c.state() == Some('S');
    if !wait_for(Duration::from_secs(5), || asleep(child)) {
        return Err(format!("{what} never went to sleep: {}", child.describe()));
    }
    std::thread::sleep(IDLE);
    if !asleep(child) {
        return Err(format!("{what} woke up by itself: {}", child.describe()));
    }
    Ok(child.wchan())
}

pub(super) fn idle_wake(notify: Futex) -> Result<String, String> {
    const ROUNDS: u64 = 3;
    let name = notifier_name(notify);
    let pp = PingPong::new(CAPACITY)?;
    let mut child = fork_child(|| {
        child_main(|| {
            let ping = attach(&pp.ping).map_err(|e| ring_err("attach ping", e))?;
            let pong = attach(&pp.pong).map_err(|e| ring_err("attach pong", e))?;
            let mut rx = ping
                .consumer_with(notify)
                .map_err(|e| ring_err("ping consumer", e))?;
            let mut tx = pong
                .producer_with(notify)
                .map_err(|e| ring_err("pong producer", e))?;
            for i in 0..ROUNDS {
                // Sleeps in the kernel until the parent pushes.
                let v = rx
                    .pop_timeout(Some(Duration::from_secs(10)))
                    .map_err(|e| ring_err(&format!("pop {i}"), e))?;
                tx.push_timeout(reply(v), Some(OP_TIMEOUT))
                    .map_err(|e| ring_err(&format!("push {i}"), e))?;
            }
            Ok(())
        })
    })?;
    let ping = attach(&pp.ping).map_err(|e| format!("attach ping: {e}"))?;
    let pong = attach(&pp.pong).map_err(|e| format!("attach pong: {e}"))?;
    let mut tx = ping
        .producer_with(notify)
        .map_err(|e| format!("ping producer: {e}"))?;
    let mut rx = pong
        .consumer_with(notify)
        .map_err(|e| format!("pong consumer: {e}"))?;
    let flag = word(&pp.ping, CONSUMER_WAITING_OFFSET);
    let mut worst = Duration::ZERO;
    let mut wchan = String::new();
    for i in 0..ROUNDS {
        wchan = until_asleep(&mut child, flag, "the consumer child")?;
        let t0 = Instant::now();
        tx.push_timeout(item(i), Some(OP_TIMEOUT))
            .map_err(|e| format!("push {i}: {e}"))?;
        let r = rx.pop_timeout(Some(WAKE_BOUND + SLACK));
        let took = t0.elapsed();
        match r {
            Ok(v) if v == reply(item(i)) && took < WAKE_BOUND => {}
            other => {
                return Err(format!(
                    "round {i}: {other:?} after {took:?}; {}",
                    pp.diagnose(&mut child)
                ));
            }
        }
        worst = worst.max(took);
    }
    child.expect_ok(Instant::now() + CHILD_DEADLINE)?;
    Ok(format!(
        "{name}: sleeping consumer (wchan {wchan:?}) answered within {:.0} us (worst of {ROUNDS})",
        worst.as_secs_f64() * 1e6
    ))
}

/// The mirror case: the child blocks in `push` on a full ring; a `pop` in
/// the parent must let it finish.
pub(super) fn idle_wake_producer(notify: Futex) -> Result<String, String> {
    const CAP: u32 = 4;
    let name = notifier_name(notify);
    let m = waking_ring(CAP)?;
    let mut child = fork_child(|| {
        child_main(|| {
            let ring = attach(&m).map_err(|e| ring_err("attach", e))?;
            let mut tx = ring
                .producer_with(notify)
                .map_err(|e| ring_err("producer", e))?;
            // The last push finds the ring full and sleeps.
            for i in 0..=u64::from(CAP) {
                tx.push_timeout(item(i), Some(Duration::from_secs(10)))
                    .map_err(|e| ring_err(&format!("push {i}"), e))?;
            }
            Ok(())
        })
    })?;
    let ring = attach(&m).map_err(|e| format!("attach: {e}"))?;
    let mut rx = ring
        .consumer_with(notify)
        .map_err(|e| format!("consumer: {e}"))?;
    let wchan = until_asleep(
        &mut child,
        word(&m, PRODUCER_WAITING_OFFSET),
        "the producer child",
    )?;
    let t0 = Instant::now();
    for i in 0..=u64::from(CAP) {
        match rx.pop_timeout(Some(WAKE_BOUND + SLACK)) {
            Ok(v) if v == item(i) => {}
            other => {
                return Err(format!(
                    "item {i}: {other:?} after {:?}; {}; {}",
                    t0.elapsed(),
                    child.describe(),
                    ring_words("ring", &m)
                ));
            }
        }
    }
    let took = t0.elapsed();
    if took >= WAKE_BOUND {
        return Err(format!("the blocked producer took {took:?} to finish"));
    }
    child.expect_ok(Instant::now() + CHILD_DEADLINE)?;
    Ok(format!(
        "{name}: sleeping producer (wchan {wchan:?}) pushed within {:.0} us of the pop",
        took.as_secs_f64() * 1e6
    ))
}

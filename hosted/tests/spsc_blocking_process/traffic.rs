//! Ping-pong and a blocking stream through a tiny ring.

use super::*;

// Ping-pong.

/// Two rings: ping (parent → child) and pong (child → parent).
pub(super) struct PingPong {
    pub(super) ping: SharedMapping,
    pub(super) pong: SharedMapping,
}

impl PingPong {
    pub(super) fn new(capacity: u32) -> Result<Self, String> {
        Ok(Self {
            ping: waking_ring(capacity)?,
            pong: waking_ring(capacity)?,
        })
    }

    /// Both rings' words and the child's state: tells a lost wake-up (an
    /// item waits in a ring while its consumer sleeps) from a dead peer.
    pub(super) fn diagnose(&self, child: &mut Child) -> String {
        let child_line = child.describe();
        let ping = ring_words("ping", &self.ping);
        let pong = ring_words("pong", &self.pong);
        let pending = |m: &SharedMapping| {
            word(m, TAIL_OFFSET)
                .load(Ordering::SeqCst)
                .wrapping_sub(word(m, HEAD_OFFSET).load(Ordering::SeqCst))
                != 0
        };
        let lost = if pending(&self.pong) {
            "; LOST WAKE-UP? a reply waits in pong while the parent timed out"
        } else if pending(&self.ping) && child.state() == Some('S') {
            "; LOST WAKE-UP? a request waits in ping while the child sleeps"
        } else {
            ""
        };
        format!("{child_line}; {ping}; {pong}{lost}")
    }
}

/// The child of a ping-pong: answers `rounds` requests.
pub(super) fn echo(pp: &PingPong, notify: Futex, rounds: u64) -> Result<(), ChildFail> {
    let ping = attach(&pp.ping).map_err(|e| ring_err("attach ping", e))?;
    let pong = attach(&pp.pong).map_err(|e| ring_err("attach pong", e))?;
    let mut rx = ping
        .consumer_with(notify)
        .map_err(|e| ring_err("ping consumer", e))?;
    let mut tx = pong
        .producer_with(notify)
        .map_err(|e| ring_err("pong producer", e))?;
    for i in 0..rounds {
        let v = rx
            .pop_timeout(Some(OP_TIMEOUT))
            .map_err(|e| ring_err(&format!("pop of request {i}"), e))?;
        if v != item(i) {
            return Err(fail(
                EXIT_BAD_VALUE,
                format!("request {i}: got {v:#018x}, expected {:#018x}", item(i)),
            ));
        }
        tx.push_timeout(reply(v), Some(OP_TIMEOUT))
            .map_err(|e| ring_err(&format!("push of reply {i}"), e))?;
    }
    Ok(())
}

pub(super) fn ping_pong(parent: Futex, child_notify: Futex, rounds: u64) -> Result<String, String> {
    let pp = PingPong::new(CAPACITY)?;
    let place = placement(parent, child_notify);
    let started = Instant::now();
    let mut child = fork_child(|| {
        place.enter_child();
        child_main(|| echo(&pp, child_notify, rounds))
    })?;
    let ping = attach(&pp.ping).map_err(|e| format!("attach ping: {e}"))?;
    let pong = attach(&pp.pong).map_err(|e| format!("attach pong: {e}"))?;
    let mut tx = ping
        .producer_with(parent)
        .map_err(|e| format!("ping producer: {e}"))?;
    let mut rx = pong
        .consumer_with(parent)
        .map_err(|e| format!("pong consumer: {e}"))?;
    let mut slowest = Duration::ZERO;
    for i in 0..rounds {
        let t0 = Instant::now();
        if let Err(e) = tx.push_timeout(item(i), Some(OP_TIMEOUT)) {
            return Err(format!(
                "push of request {i}: {e}; {}",
                pp.diagnose(&mut child)
            ));
        }
        match rx.pop_timeout(Some(OP_TIMEOUT)) {
            Ok(v) if v == reply(item(i)) => {}
            Ok(v) => return Err(format!("reply {i}: got {v:#018x}")),
            Err(e) => {
                return Err(format!(
                    "pop of reply {i}: {e} after {:?}; {}",
                    t0.elapsed(),
                    pp.diagnose(&mut child)
                ));
            }
        }
        slowest = slowest.max(t0.elapsed());
    }
    let elapsed = started.elapsed();
    child.expect_ok(started + CHILD_DEADLINE)?;
    // Nothing is left over in either ring.
    for (name, m) in [("ping", &pp.ping), ("pong", &pp.pong)] {
        let (t, h) = (
            word(m, TAIL_OFFSET).load(Ordering::SeqCst),
            word(m, HEAD_OFFSET).load(Ordering::SeqCst),
        );
        if t != h || t != START.wrapping_add(rounds as u32) {
            return Err(format!(
                "{name} ring after the run: tail {t:#x}, head {h:#x}"
            ));
        }
    }
    Ok(format!(
        "{rounds} round trips (parent {}, child {}, {}) in {:.2} s: mean {:.1} us, slowest {:.1} us",
        notifier_name(parent),
        notifier_name(child_notify),
        place.note(),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / rounds as f64,
        slowest.as_secs_f64() * 1e6,
    ))
}

// A blocking stream through a tiny ring: both ends sleep, alternately.

pub(super) fn blocking_stream(notify: Futex, items: u64) -> Result<String, String> {
    const CAP: u32 = 4;
    let m = waking_ring(CAP)?;
    let place = placement(notify, notify);
    let started = Instant::now();
    let mut child = fork_child(|| {
        place.enter_child();
        child_main(|| {
            let ring = attach(&m).map_err(|e| ring_err("attach", e))?;
            let mut tx = ring
                .producer_with(notify)
                .map_err(|e| ring_err("producer", e))?;
            for i in 0..items {
                tx.push_timeout(item(i), Some(OP_TIMEOUT))
                    .map_err(|e| ring_err(&format!("push of item {i}"), e))?;
            }
            Ok(())
        })
    })?;
    let ring = attach(&m).map_err(|e| format!("attach: {e}"))?;
    let mut rx = ring
        .consumer_with(notify)
        .map_err(|e| format!("consumer: {e}"))?;
    for i in 0..items {
        match rx.pop_timeout(Some(OP_TIMEOUT)) {
            Ok(v) if v == item(i) => {}
            Ok(v) => return Err(format!("item {i}: got {v:#018x}")),
            Err(e) => {
                let lost = if word(&m, TAIL_OFFSET)
                    .load(Ordering::SeqCst)
                    .wrapping_sub(word(&m, HEAD_OFFSET).load(Ordering::SeqCst))
                    != 0
                {
                    "; LOST WAKE-UP? items wait while the consumer timed out"
                } else {
                    ""
                };
                return Err(format!(
                    "pop of item {i}: {e}; {}; {}{lost}",
                    child.describe(),
                    ring_words("ring", &m)
                ));
            }
        }
    }
    let elapsed = started.elapsed();
    child.expect_ok(started + CHILD_DEADLINE)?;
    Ok(format!(
        "{items} items, capacity {CAP}, {} on both ends, {}, in {:.2} s",
        notifier_name(notify),
        place.note(),
        elapsed.as_secs_f64()
    ))
}

//! Reliable pub/sub topics across real processes: subscriber processes
//! that open the topic by name (without restating the policy) and must
//! receive every item in order, never a lag: with a slow subscriber the
//! publisher waits; a subscriber joining mid-stream gets everything from
//! its start; a subscriber SIGKILLed while it holds the publisher back
//! stops holding it within a bound (its table entry released by the
//! publisher), and the others still get everything.
//!
//! `IPCKIT_PUBSUB_MESSAGES` sets the item count of the fan-out test
//! (default 1,000,000).
//!
//! Built with `harness = false`: children are `fork()`ed from the
//! single-threaded main process. Every wait has a deadline; a failing
//! parent SIGKILLs and reaps its children. Names are removed by guards;
//! the suite fails if anything of the run is left in `/dev/shm`.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ipckit::Error;
use ipckit::pubsub::{self, Policy, Topic};
use support::{
    Child, Ctx, DEADLINE, EXIT_CHECK, EXIT_OUT_OF_ORDER, EXIT_RING_ERROR, EXIT_TIMEOUT,
    SharedWords, ShmGuard, Suite, fail, fork_main,
};

/// The longest any single receive or publication may wait.
const PATIENCE: Duration = Duration::from_secs(60);
/// How soon after a subscriber's SIGKILL the publisher it held back must
/// go on: a pidfd notice takes well under a millisecond; the rest is room
/// for a loaded 2-vCPU machine (the test prints what it measured).
const RELEASE_BOUND: Duration = Duration::from_secs(2);

/// Words per subscriber in the shared page.
const STRIDE: usize = 16;
const READY: usize = 0;
const START: usize = 1;
const RECEIVED: usize = 2;
const NEXT: usize = 3;
/// Raised by the parent to let a late subscriber join.
const GO: usize = 4;
/// Raised by a subscriber that stopped reading (it then sleeps).
const STOPPED: usize = 5;
/// The publisher child's record (after the subscribers'): items published.
const PUBLISHED: usize = 8 * STRIDE;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn messages() -> u64 {
    std::env::var("IPCKIT_PUBSUB_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// How a subscriber child behaves.
#[derive(Clone, Copy, Default)]
struct Plan {
    slot: usize,
    /// Sleeps 1 ms every this many items (0: never).
    pause_every: u64,
    /// Waits for its `GO` word before it subscribes.
    late: bool,
    /// Stops reading once this position is read (0: never) and sleeps
    /// until killed.
    stop_at: u64,
}

/// A subscriber process: opens `name` (the policy as recorded), joins,
/// raises `READY`, then receives until `PeerGone`, checking that every
/// item is the position it expects and that nothing lags.
fn subscriber(name: &str, words: &SharedWords, plan: Plan) -> Result<Child, String> {
    let w = |i: usize| words.word(plan.slot * STRIDE + i);
    fork_main(|| {
        let err = |what: &str, e: Error| fail(EXIT_RING_ERROR, format!("{what}: {e}"));
        if plan.late && !words.wait_for(plan.slot * STRIDE + GO, 1, PATIENCE) {
            return Err(fail(EXIT_TIMEOUT, "never told to join"));
        }
        let topic = pubsub::topic::<u64>(name)
            .open()
            .map_err(|e| err("open", e))?;
        if topic.policy() != Policy::Reliable {
            return Err(fail(EXIT_CHECK, "the topic is not reliable"));
        }
        let mut rx = topic.subscriber().map_err(|e| err("subscribe", e))?;
        let start = u64::from(rx.position());
        w(START).store(start, Ordering::Release);
        w(READY).store(1, Ordering::Release);
        let (mut next, mut received) = (start, 0u64);
        loop {
            match rx.recv_timeout(PATIENCE) {
                Ok(v) if v == next => {
                    next += 1;
                    received += 1;
                    if next == plan.stop_at {
                        w(STOPPED).store(1, Ordering::Release);
                        std::thread::sleep(PATIENCE); // until killed
                        return Err(fail(EXIT_TIMEOUT, "never killed"));
                    }
                    if plan.pause_every > 0 && received % plan.pause_every == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                Ok(v) => {
                    let msg = format!("item {v} where {next} was due");
                    return Err(fail(EXIT_OUT_OF_ORDER, msg));
                }
                Err(Error::Lagged(n)) => {
                    let msg = format!("lagged {n} at {next} on a reliable topic");
                    return Err(fail(EXIT_CHECK, msg));
                }
                Err(e) if e.is_peer_gone() => break,
                Err(e) => return Err(err(&format!("recv after {next}"), e)),
            }
        }
        w(RECEIVED).store(received, Ordering::Release);
        w(NEXT).store(next, Ordering::Release);
        Ok(())
    })
}

/// Checks subscriber `slot` received every item from its start to
/// `published`, in order: its start.
fn everything(words: &SharedWords, slot: usize, published: u64) -> Result<u64, String> {
    let w = |i: usize| words.word(slot * STRIDE + i).load(Ordering::Acquire);
    let (start, received, next) = (w(START), w(RECEIVED), w(NEXT));
    ensure!(
        next == published && received == published - start,
        "subscriber {slot}: start {start}, received {received}, next {next}; {published} published"
    );
    Ok(start)
}

fn ready(words: &SharedWords, slots: impl IntoIterator<Item = usize>) -> Result<(), String> {
    let flags = slots.into_iter().map(|s| s * STRIDE + READY);
    let never = |i| format!("subscriber {} never came", i / STRIDE);
    words.wait_all(flags, PATIENCE).map_err(never)
}

fn topic(g: &ShmGuard, capacity: usize) -> Result<Topic<u64>, String> {
    pubsub::topic::<u64>(&g.0)
        .capacity(capacity)
        .subscribers(8)
        .policy(Policy::Reliable)
        .create()
        .ctx("create")
}

/// Publishes `from..to` as their own values, each within `PATIENCE`.
fn publish_range(
    tx: &mut pubsub::ReliablePublisher<u64>,
    from: u64,
    to: u64,
) -> Result<(), String> {
    for v in from..to {
        tx.publish_timeout(v, PATIENCE)
            .map_err(|e| format!("publish {v}: {e}"))?;
    }
    Ok(())
}

/// One publisher, two fast subscriber processes, a slow one (1 ms of
/// sleep every 1000 items: the publisher waits for it), and one joining
/// at half-way: every one receives every item from its start, in order.
fn fan_out() -> Result<String, String> {
    let n = messages();
    let g = ShmGuard::new("pubsub-reliable-fan-out");
    let topic = topic(&g, 1 << 12)?;
    let words = SharedWords::new();
    let plan = |slot| Plan {
        slot,
        ..Plan::default()
    };
    let mut subs = vec![
        subscriber(&g.0, &words, plan(0))?,
        subscriber(&g.0, &words, plan(1))?,
        subscriber(
            &g.0,
            &words,
            Plan {
                pause_every: 1000,
                ..plan(2)
            },
        )?,
        subscriber(
            &g.0,
            &words,
            Plan {
                late: true,
                ..plan(3)
            },
        )?,
    ];
    ready(&words, 0..3)?;
    let mut tx = topic.reliable_publisher().ctx("publisher")?;
    let started = Instant::now();
    publish_range(&mut tx, 0, n / 2)?;
    words.word(3 * STRIDE + GO).store(1, Ordering::Release);
    ready(&words, [3])?;
    publish_range(&mut tx, n / 2, n)?;
    let took = started.elapsed();
    drop(tx);
    for s in &mut subs {
        s.expect_ok(Instant::now() + DEADLINE)?;
    }
    for slot in 0..3 {
        ensure!(everything(&words, slot, n)? == 0, "subscriber {slot} late");
    }
    let late = everything(&words, 3, n)?;
    ensure!(late >= n / 2, "the late subscriber started at {late}");
    // The slow one sleeps 1 ms per 1000 items: the publisher waited for
    // all but the last ring of them.
    let floor = Duration::from_millis(n.saturating_sub(1 << 12) / 1000);
    ensure!(
        took >= floor,
        "{n} items in {took:?}: faster than the slow subscriber could read"
    );
    Ok(format!(
        "{n} items in {took:.0?} (the slow subscriber's sleeps alone: {floor:?}); \
         every item to each of 3 subscribers, {} to the one joining at {late}",
        n - late
    ))
}

/// Three subscribers; one stops reading (holding the publisher, a child
/// process, back) and is SIGKILLed: the publisher goes on within
/// [`RELEASE_BOUND`], and the other two get every item.
fn subscriber_killed() -> Result<String, String> {
    const N: u64 = 200_000;
    const STOP: u64 = 50_000;
    let g = ShmGuard::new("pubsub-reliable-killed");
    let topic = topic(&g, 1 << 10)?;
    let words = SharedWords::new();
    let mut subs = Vec::new();
    for slot in 0..2 {
        subs.push(subscriber(
            &g.0,
            &words,
            Plan {
                slot,
                ..Plan::default()
            },
        )?);
    }
    let mut stopper = subscriber(
        &g.0,
        &words,
        Plan {
            slot: 2,
            stop_at: STOP,
            ..Plan::default()
        },
    )?;
    ready(&words, 0..3)?;
    let name = g.0.clone();
    let published = words.word(PUBLISHED);
    let mut publisher = fork_main(|| {
        let err = |what: &str, e: Error| fail(EXIT_RING_ERROR, format!("{what}: {e}"));
        let topic = pubsub::topic::<u64>(&name)
            .open()
            .map_err(|e| err("open", e))?;
        let mut tx = topic
            .reliable_publisher()
            .map_err(|e| err("publisher", e))?;
        for v in 0..N {
            tx.publish_timeout(v, PATIENCE)
                .map_err(|e| err(&format!("publish {v}"), e))?;
            published.store(v + 1, Ordering::Release);
        }
        Ok(())
    })?;
    drop(topic);
    // The stopper stopped, and the publisher is held back: its count
    // stands still, at most a ring (and a quarter: the stopper's last
    // published position) past the stop.
    ensure!(
        words.wait_for(2 * STRIDE + STOPPED, 1, PATIENCE),
        "the stopper never stopped"
    );
    let held = words.settled(PUBLISHED, PATIENCE)?;
    ensure!(
        (STOP..=STOP + 1024).contains(&held),
        "the publisher at {held}, the stopper stopped at {STOP}"
    );
    let killed = Instant::now();
    stopper.kill();
    let until = killed + RELEASE_BOUND;
    while published.load(Ordering::Acquire) == held {
        ensure!(
            Instant::now() < until,
            "the publisher still held back at {held} {RELEASE_BOUND:?} after the kill"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    let released = killed.elapsed();
    publisher.expect_ok(Instant::now() + DEADLINE)?;
    for s in &mut subs {
        s.expect_ok(Instant::now() + DEADLINE)?;
    }
    for slot in 0..2 {
        everything(&words, slot, N)?;
    }
    Ok(format!(
        "held back at {held} by the stopper (stopped at {STOP}); going on {released:.1?} \
         after its SIGKILL; {N} items to each of the other two"
    ))
}

/// A publisher that only `try_publish`es (never sleeps, so no pidfd tells
/// it of a death): a stopped subscriber makes it `Full`; once the
/// subscriber is SIGKILLed, a `try_publish` finds it dead (`/proc`) within
/// [`RELEASE_BOUND`], and the other subscriber gets every item.
fn try_publish_after_kill() -> Result<String, String> {
    const N: u64 = 20_000;
    const STOP: u64 = 5_000;
    let g = ShmGuard::new("pubsub-reliable-try");
    let topic = topic(&g, 256)?;
    let words = SharedWords::new();
    let mut reader = subscriber(&g.0, &words, Plan::default())?;
    let stop = Plan {
        slot: 1,
        stop_at: STOP,
        ..Plan::default()
    };
    let mut stopper = subscriber(&g.0, &words, stop)?;
    ready(&words, 0..2)?;
    let mut tx = topic.reliable_publisher().ctx("publisher")?;
    let (mut killed, mut full_since, mut released) = (None, None, None);
    let until = Instant::now() + PATIENCE;
    for v in 0..N {
        loop {
            match tx.try_publish(v) {
                Ok(()) => break,
                Err(e) if e.is_full() => {}
                Err(e) => return Err(format!("try_publish {v}: {e}")),
            }
            ensure!(Instant::now() < until, "still full at {v}");
            let since = *full_since.get_or_insert_with(Instant::now);
            let stopped = words.word(STRIDE + STOPPED).load(Ordering::Acquire) == 1;
            if killed.is_none() && stopped && since.elapsed() > Duration::from_millis(20) {
                stopper.kill();
                killed = Some((Instant::now(), v));
            }
            std::thread::yield_now();
        }
        full_since = None;
        if let (Some((at, held)), None) = (killed, released) {
            if v == held {
                released = Some(at.elapsed());
            }
        }
    }
    drop(tx);
    reader.expect_ok(Instant::now() + DEADLINE)?;
    everything(&words, 0, N)?;
    let Some((_, held)) = killed else {
        return Err("the stopper never held the publisher back".into());
    };
    let released = released.unwrap_or_default();
    ensure!(
        released < RELEASE_BOUND,
        "try_publish went on {released:?} after the kill"
    );
    Ok(format!(
        "full at {held} (the stopper stopped at {STOP}); try_publish went on \
         {released:.1?} after the SIGKILL; {N} items to the other subscriber"
    ))
}

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: [(&str, Test); 3] = [
        (
            "reliable: 1 publisher, 3 subscriber processes and a joiner",
            fan_out,
        ),
        (
            "reliable: a subscriber killed mid-stream",
            subscriber_killed,
        ),
        ("reliable: try_publish after a kill", try_publish_after_kill),
    ];
    Suite::new().tests(tests).leftovers_checked().run().exit();
}

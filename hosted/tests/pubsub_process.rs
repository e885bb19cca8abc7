//! Named pub/sub topics across real processes: subscriber processes that
//! open the topic by name, as unrelated processes would, and account for
//! every item the publisher published (received + lost == published, every
//! item in order); subscribers joining mid-stream and killed mid-stream;
//! publishers SIGKILLed while the subscribers sleep (`PeerGone` within a
//! bound, through the pidfd, without polling) and mid-stream, each taken
//! over by a new publisher that the same subscribers go on reading; no
//! system call in publish / try_recv while nobody sleeps (seccomp strict
//! mode), and one publication waking every sleeping subscriber process.
//!
//! `IPCKIT_PUBSUB_MESSAGES` sets the item count of the fan-out and join
//! tests (default 1,000,000).
//!
//! Built with `harness = false`: children are `fork()`ed from the
//! single-threaded main process (checked before every fork). Every wait has
//! a deadline; a failing parent SIGKILLs and reaps its children (the
//! `Child` guards). Names are `ipckit-test-<pid>-<n>-<what>`, removed by
//! guards; the suite fails if anything of the run is left in `/dev/shm`.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ipckit::Error;
use ipckit::futex::monotonic_now;
use ipckit::pubsub::{self, Start, Topic};
use support::{
    Child, Ctx, DEADLINE, EXIT_CHECK, EXIT_OUT_OF_ORDER, EXIT_RING_ERROR, EXIT_TIMEOUT, Exit, Rng,
    SharedWords, ShmGuard, Suite, fail, fork_async_signal_safe, fork_main,
};

/// The bound on a sleeping subscriber's `PeerGone` after its publisher's
/// SIGKILL: a pidfd notice takes well under 1 ms; the rest is room for a
/// loaded 2-vCPU machine (the test prints what it measured).
const PEER_GONE_BOUND: Duration = Duration::from_millis(100);
/// The longest any single receive may wait.
const PATIENCE: Duration = Duration::from_secs(60);

/// Words per subscriber in the shared page.
const STRIDE: usize = 16;
/// Word offsets of a subscriber's record.
const READY: usize = 0;
const START: usize = 1;
const RECEIVED: usize = 2;
const LOST: usize = 3;
const NEXT: usize = 4;
const ROUNDS: usize = 5;
const GONE_AT: usize = 6;
const DRAINED: usize = 7;
/// A word the parent raises to let waiting children go on (subscriber `s`
/// waits for `GO` of its record).
const GO: usize = 8;
/// The rounds the parent has started (a new publisher in place): a
/// subscriber starts round `r + 1` once this is at least `r`.
const STARTED: usize = 9;

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

/// The monotonic clock in nanoseconds (the same clock in every process).
fn now_ns() -> u64 {
    monotonic_now().as_nanos() as u64
}

/// How a subscriber child behaves.
#[derive(Clone, Copy)]
struct Plan {
    /// Its record in the shared page.
    slot: usize,
    /// Where it starts.
    start: Start,
    /// Sleeps 1 ms every this many items (0: never): a slow subscriber.
    pause_every: u64,
    /// Waits for its `GO` word before it subscribes.
    late: bool,
    /// Publishers it reads to `PeerGone` before it exits.
    rounds: u64,
}

impl Plan {
    fn fast(slot: usize) -> Self {
        Self {
            slot,
            start: Start::Next,
            pause_every: 0,
            late: false,
            rounds: 1,
        }
    }
}

/// A subscriber process: opens `name`, subscribes, raises `READY`, then
/// receives until `PeerGone` `plan.rounds` times, checking that every item
/// is the position it expects (the publishers publish their position) and
/// recording received, lost and the next position after each round.
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
        let mut rx = topic
            .subscriber_from(plan.start)
            .map_err(|e| err("subscribe", e))?;
        let mut next = u64::from(rx.position());
        w(START).store(next, Ordering::Release);
        w(READY).store(1, Ordering::Release);
        let (mut received, mut lost) = (0u64, 0u64);
        for round in 1..=plan.rounds {
            // While no publisher lives, `recv` says `PeerGone` again: wait
            // for the parent's next one.
            let started = words.wait_for(plan.slot * STRIDE + STARTED, round - 1, PATIENCE);
            if !started {
                return Err(fail(EXIT_TIMEOUT, format!("round {round} never started")));
            }
            loop {
                match rx.recv_timeout(PATIENCE) {
                    Ok(v) if v == next => {
                        next += 1;
                        received += 1;
                        if rx.is_empty() {
                            w(DRAINED).store(next, Ordering::Release);
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
                        lost += n;
                        next += n;
                    }
                    Err(e) if e.is_peer_gone() => break,
                    Err(e) => return Err(err(&format!("recv after {next}"), e)),
                }
            }
            w(GONE_AT).store(now_ns(), Ordering::Release);
            if u64::from(rx.position()) != next {
                let msg = format!("position {} but {next} accounted", rx.position());
                return Err(fail(EXIT_CHECK, msg));
            }
            w(RECEIVED).store(received, Ordering::Release);
            w(LOST).store(lost, Ordering::Release);
            w(NEXT).store(next, Ordering::Release);
            w(ROUNDS).store(round, Ordering::Release);
        }
        Ok(())
    })
}

/// A subscriber's tally: (start, received, lost, next).
fn tally(words: &SharedWords, slot: usize) -> (u64, u64, u64, u64) {
    let w = |i: usize| words.word(slot * STRIDE + i).load(Ordering::Acquire);
    (w(START), w(RECEIVED), w(LOST), w(NEXT))
}

/// Checks subscriber `slot`'s accounting against `published` (the tail):
/// `received + lost == published - start` and its position is the tail.
fn accounted(words: &SharedWords, slot: usize, published: u64) -> Result<(u64, u64), String> {
    let (start, received, lost, next) = tally(words, slot);
    ensure!(
        next == published && received + lost == published - start,
        "subscriber {slot}: start {start}, received {received} + lost {lost}, next {next}; \
         {published} published"
    );
    Ok((received, lost))
}

/// Waits until every subscriber of `slots` raised `READY`.
fn all_ready(words: &SharedWords, slots: impl IntoIterator<Item = usize>) -> Result<(), String> {
    for s in slots {
        ensure!(
            words.wait_for(s * STRIDE + READY, 1, PATIENCE),
            "subscriber {s} never came"
        );
    }
    Ok(())
}

/// Publishes positions `from..to` as their own values, yielding the CPU
/// every 4096 items (two vCPUs: the subscribers need some).
fn publish_range(tx: &mut pubsub::Publisher<u64>, from: u64, to: u64) -> Result<(), String> {
    for v in from..to {
        ensure!(
            u64::from(tx.position()) == v,
            "publisher at {} for {v}",
            tx.position()
        );
        tx.publish(v);
        if v % 4096 == 4095 {
            std::thread::yield_now();
        }
    }
    Ok(())
}

fn topic(g: &ShmGuard, capacity: usize) -> Result<Topic<u64>, String> {
    pubsub::topic::<u64>(&g.0)
        .capacity(capacity)
        .create()
        .ctx("create")
}

/// One publisher, two fast subscriber processes and a slow one (1 ms of
/// sleep every 1000 items); the fast ones account for every item (in order
/// or counted lost), the slow one reports exactly how many it lost.
fn fan_out() -> Result<String, String> {
    let n = messages();
    let g = ShmGuard::new("pubsub-fan-out");
    let topic = topic(&g, 1 << 14)?;
    let words = SharedWords::new();
    let slow = Plan {
        pause_every: 1000,
        ..Plan::fast(2)
    };
    let mut subs = vec![
        subscriber(&g.0, &words, Plan::fast(0))?,
        subscriber(&g.0, &words, Plan::fast(1))?,
        subscriber(&g.0, &words, slow)?,
    ];
    all_ready(&words, 0..3)?;
    let mut tx = topic.publisher().ctx("publisher")?;
    let started = Instant::now();
    publish_range(&mut tx, 0, n)?;
    let took = started.elapsed();
    drop(tx);
    for s in &mut subs {
        s.expect_ok(Instant::now() + DEADLINE)?;
    }
    let mut report = Vec::new();
    for slot in 0..3 {
        let (received, lost) = accounted(&words, slot, n)?;
        report.push(format!("{received}+{lost}"));
    }
    // 1 ms of sleep per 1000 items is a second per million: far slower
    // than the publisher (a few counted items could keep up).
    ensure!(
        n < 100_000 || tally(&words, 2).2 > 0,
        "the slow subscriber lost nothing"
    );
    Ok(format!(
        "{n} items in {took:.0?}; received+lost per subscriber (fast, fast, slow): {}",
        report.join(", ")
    ))
}

/// Subscribers joining mid-stream, at the next item and at the oldest one
/// still in the ring, account for everything from their start.
fn joining_mid_stream() -> Result<String, String> {
    let n = messages();
    let g = ShmGuard::new("pubsub-join");
    let topic = topic(&g, 1 << 12)?;
    let words = SharedWords::new();
    let late = |slot, start| Plan {
        start,
        late: true,
        ..Plan::fast(slot)
    };
    let mut subs = vec![
        subscriber(&g.0, &words, Plan::fast(0))?,
        subscriber(&g.0, &words, late(1, Start::Next))?,
        subscriber(&g.0, &words, late(2, Start::Oldest))?,
    ];
    all_ready(&words, [0])?;
    let mut tx = topic.publisher().ctx("publisher")?;
    publish_range(&mut tx, 0, n / 2)?;
    for slot in [1, 2] {
        words.word(slot * STRIDE + GO).store(1, Ordering::Release);
    }
    all_ready(&words, [1, 2])?;
    publish_range(&mut tx, n / 2, n)?;
    drop(tx);
    for s in &mut subs {
        s.expect_ok(Instant::now() + DEADLINE)?;
    }
    let mut report = Vec::new();
    for slot in 0..3 {
        let (received, lost) = accounted(&words, slot, n)?;
        report.push(format!("from {}: {received}+{lost}", tally(&words, slot).0));
    }
    let (next_start, oldest_start) = (tally(&words, 1).0, tally(&words, 2).0);
    ensure!(
        next_start >= n / 2,
        "the late `Next` subscriber started at {next_start}"
    );
    ensure!(
        oldest_start + 4096 >= n / 2 && oldest_start < n / 2,
        "the late `Oldest` subscriber started at {oldest_start} ({} published)",
        n / 2
    );
    Ok(report.join(", "))
}

/// Three subscribers; one is SIGKILLed mid-stream while it sleeps in
/// `recv` (leaving its mark in the ring's sleeper count); the others
/// account for every item, and a new subscriber joins afterwards.
fn subscriber_killed() -> Result<String, String> {
    const N: u64 = 200_000;
    let g = ShmGuard::new("pubsub-sub-killed");
    let topic = topic(&g, 1 << 12)?;
    let words = SharedWords::new();
    let mut subs = Vec::new();
    for slot in 0..3 {
        subs.push(subscriber(&g.0, &words, Plan::fast(slot))?);
    }
    all_ready(&words, 0..3)?;
    let mut tx = topic.publisher().ctx("publisher")?;
    let mut rng = Rng(0x5eed_0017);
    let kill_at = N / 4 + rng.upto(N / 2);
    publish_range(&mut tx, 0, kill_at)?;
    // Killed asleep in `recv`: its mark stays in the sleeper count.
    let drained = words.wait_for(2 * STRIDE + DRAINED, kill_at, PATIENCE);
    ensure!(drained, "subscriber 2 never caught up");
    std::thread::sleep(Duration::from_millis(20));
    subs[2].kill();
    // The dead subscriber's record is reused; nobody else notices.
    let mut late = topic.subscriber().ctx("subscriber after the kill")?;
    publish_range(&mut tx, kill_at, N)?;
    drop(tx);
    for s in &mut subs[..2] {
        s.expect_ok(Instant::now() + DEADLINE)?;
    }
    for slot in 0..2 {
        accounted(&words, slot, N)?;
    }
    // The late subscriber in this process: everything after the kill that
    // is still in the ring, the rest counted.
    let (mut next, mut lost) = (kill_at, 0);
    loop {
        match late.try_recv() {
            Ok(v) if v == next => next += 1,
            Ok(v) => return Err(format!("late subscriber: {v} where {next} was due")),
            Err(Error::Lagged(k)) => (next, lost) = (next + k, lost + k),
            Err(e) if e.is_peer_gone() => break,
            Err(e) => return Err(format!("late subscriber: {e}")),
        }
    }
    ensure!(next == N, "late subscriber ended at {next}");
    Ok(format!(
        "killed one asleep after {kill_at} of {N}; late joiner lost {lost}"
    ))
}

/// In a forked child under seccomp strict mode (any system call but read,
/// write, exit and sigreturn kills it): runs `calls`, then exits with its
/// code without running a destructor. The child's `Exit`.
fn strict_child(calls: impl FnOnce() -> i32) -> Result<Exit, String> {
    let body = || {
        // SAFETY: plain prctl; from here on, any other system call kills
        // this process.
        if unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_STRICT) } != 0 {
            return 2;
        }
        let code = calls();
        // SAFETY: `exit` (strict mode kills `exit_group`): one thread, so
        // it ends the process, and no inherited end is dropped.
        unsafe { libc::syscall(libc::SYS_exit, code) };
        4 // unreachable
    };
    // SAFETY: this process is single-threaded here (no test spawns a
    // thread), so the child may run any code; `calls` allocates nothing.
    let mut child = unsafe { fork_async_signal_safe(body) }?;
    child.wait(Instant::now() + DEADLINE)
}

/// Waits until the children sleep in the kernel (state `S`).
fn asleep(children: &[Child]) -> Result<(), String> {
    let until = Instant::now() + PATIENCE;
    while children.iter().any(|c| c.state() != Some('S')) {
        ensure!(Instant::now() < until, "the subscribers never slept");
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Publishing and the subscribers' `try_recv` (items, `Empty`, `Lagged`)
/// make no system call while nobody sleeps (a child under seccomp strict
/// mode); a publication wakes every sleeping subscriber process at once
/// (three of them, asleep past their first 5 ms, when only the wake ends
/// their sleep); and with a subscriber asleep a publication does make a
/// system call (the strict child is killed): the check sees one.
fn wakes_only_sleepers() -> Result<String, String> {
    let g = ShmGuard::new("pubsub-syscalls");
    let topic = topic(&g, 64)?;
    let mut tx = topic.publisher().ctx("publisher")?;
    let mut rx = topic.subscriber().ctx("subscriber")?;
    let exit = strict_child(|| {
        for i in 0..1000 {
            tx.publish(i);
            if !matches!(rx.try_recv(), Ok(v) if v == i) {
                return 3;
            }
        }
        if !matches!(rx.try_recv(), Err(Error::Empty)) {
            return 5;
        }
        (1000..1200).for_each(|i| tx.publish(i));
        match (rx.try_recv(), rx.try_recv()) {
            (Err(Error::Lagged(136)), Ok(1136)) => 0,
            _ => 6,
        }
    })?;
    ensure!(
        exit == Exit::Code(0),
        "publish/try_recv without sleepers: {exit}"
    );
    drop((tx, rx)); // this process's copies are behind the child's

    let g = ShmGuard::new("pubsub-wake-all");
    let woken = self::topic(&g, 64)?;
    let words = SharedWords::new();
    let mut subs = Vec::new();
    for slot in 0..3 {
        subs.push(subscriber(&g.0, &words, Plan::fast(slot))?);
    }
    all_ready(&words, 0..3)?;
    let mut tx = woken.publisher().ctx("publisher")?;
    asleep(&subs)?;
    std::thread::sleep(Duration::from_millis(50)); // past the first sleep
    let published = Instant::now();
    tx.publish(0);
    for s in 0..3 {
        let woke = words.wait_for(s * STRIDE + DRAINED, 1, Duration::from_secs(2));
        ensure!(woke, "subscriber {s} was not woken by the publication");
    }
    let took = published.elapsed();
    // The control: a publication with a subscriber asleep makes the wake
    // call, which strict mode kills.
    asleep(&subs)?;
    let exit = strict_child(|| {
        tx.publish(1);
        0
    })?;
    ensure!(
        exit == Exit::Signal(libc::SIGKILL),
        "publish to a sleeper: {exit}"
    );
    drop(tx); // behind the child's copy; its close ends the subscribers
    for s in &mut subs {
        s.expect_ok(Instant::now() + DEADLINE)?;
    }
    for s in 0..3 {
        accounted(&words, s, 2)?;
    }
    Ok(format!(
        "no system call in 1,200 publications and receives; one publication woke 3 \
         sleeping processes within {took:.1?}; with a sleeper, a publication calls the kernel"
    ))
}

/// Tells subscribers 0 and 1 that round `r + 1`'s publisher is in place.
fn start_round(words: &SharedWords, r: u64) {
    for s in 0..2 {
        words.word(s * STRIDE + STARTED).store(r, Ordering::Release);
    }
}

/// A publisher process; publishes `0..k` (as positions), raises word 0 of
/// `flags`, then idles (`k` = `u64::MAX`: publishes without end) until
/// killed. Takes the role over from a dead holder.
fn publisher(name: &str, flags: &SharedWords, k: u64) -> Result<Child, String> {
    fork_main(|| {
        let err = |what: &str, e: Error| fail(EXIT_RING_ERROR, format!("{what}: {e}"));
        let topic = pubsub::topic::<u64>(name)
            .open()
            .map_err(|e| err("open", e))?;
        let mut tx = topic
            .take_over_publisher()
            .map_err(|e| err("take over", e))?;
        flags.word(1).store(1, Ordering::Release);
        let mut v = u64::from(tx.position());
        while v < k {
            tx.publish(v);
            v += 1;
        }
        flags.word(0).store(1, Ordering::Release);
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    })
}

/// Publishers SIGKILLed: first one idle while both subscriber processes
/// sleep in `recv` (`PeerGone` within the bound), then one killed
/// mid-stream; each time a new publisher takes the role over and the same
/// subscribers go on, accounting for every item.
fn publisher_killed() -> Result<String, String> {
    const K: u64 = 10_000;
    let g = ShmGuard::new("pubsub-pub-killed");
    let topic = topic(&g, 1 << 10)?;
    let words = SharedWords::new();
    let mut subs = Vec::new();
    for slot in 0..2 {
        let plan = Plan {
            rounds: 3,
            ..Plan::fast(slot)
        };
        subs.push(subscriber(&g.0, &words, plan)?);
    }
    all_ready(&words, 0..2)?;
    // Round 1: killed while the subscribers sleep (past the first 5 ms of
    // their sleep, when they watch its pidfd).
    let flags = SharedWords::new();
    let mut p1 = publisher(&g.0, &flags, K)?;
    ensure!(flags.wait_for(0, 1, PATIENCE), "publisher 1 never finished");
    for s in 0..2 {
        ensure!(
            words.wait_for(s * STRIDE + DRAINED, K, PATIENCE),
            "subscriber {s} never drained"
        );
    }
    std::thread::sleep(Duration::from_millis(50));
    let killed = now_ns();
    p1.kill();
    let mut took = Vec::new();
    for s in 0..2 {
        ensure!(
            words.wait_for(s * STRIDE + ROUNDS, 1, PATIENCE),
            "no PeerGone at {s}"
        );
        accounted(&words, s, K)?;
        let gone = words.word(s * STRIDE + GONE_AT).load(Ordering::Acquire);
        took.push(Duration::from_nanos(gone.saturating_sub(killed)));
    }
    let worst = took.iter().max().copied().unwrap_or_default();
    ensure!(
        worst < PEER_GONE_BOUND,
        "PeerGone {took:?} after the kill (bound {PEER_GONE_BOUND:?})"
    );
    // Round 2: a new publisher takes over and is killed mid-stream.
    let flags = SharedWords::new();
    let mut p2 = publisher(&g.0, &flags, u64::MAX)?;
    ensure!(
        flags.wait_for(1, 1, PATIENCE),
        "publisher 2 never took over"
    );
    start_round(&words, 1);
    std::thread::sleep(Duration::from_millis(2 + Rng(now_ns() | 1).upto(20)));
    p2.kill();
    let tail = u64::from(topic.tail());
    for s in 0..2 {
        ensure!(
            words.wait_for(s * STRIDE + ROUNDS, 2, PATIENCE),
            "no PeerGone at {s} (2)"
        );
        accounted(&words, s, tail)?;
    }
    // Round 3: this process takes over, publishes and leaves.
    let mut tx = topic.take_over_publisher().ctx("take over")?;
    ensure!(
        u64::from(tx.position()) == tail,
        "resumed at {} not {tail}",
        tx.position()
    );
    start_round(&words, 2);
    publish_range(&mut tx, tail, tail + K)?;
    drop(tx);
    for s in &mut subs {
        s.expect_ok(Instant::now() + DEADLINE)?;
    }
    for s in 0..2 {
        accounted(&words, s, tail + K)?;
    }
    Ok(format!(
        "PeerGone {took:.1?} after the kill of a sleeping subscriber's publisher; \
         the second killed after {tail} items; both taken over"
    ))
}

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: [(&str, Test); 5] = [
        ("1 publisher, 3 subscriber processes", fan_out),
        ("subscribers joining mid-stream", joining_mid_stream),
        ("a subscriber killed mid-stream", subscriber_killed),
        ("system calls only to wake sleepers", wakes_only_sleepers),
        ("publishers killed and taken over", publisher_killed),
    ];
    Suite::new().tests(tests).leftovers_checked().run().exit();
}

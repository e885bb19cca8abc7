//! Blocking SPSC rings between two processes: a parent and a `fork()`ed
//! child that sleep in the kernel on shared futexes ([`Futex`]) in the rings'
//! own words.
//!
//! Built with `harness = false`: the test harness runs tests on threads, and
//! a child forked from a multi-threaded process may only make
//! async-signal-safe calls. Here `main` is the only thread (checked before
//! every fork), so the child can allocate, print and use the whole ring API.
//!
//! Every ring is created with `Options::waking(true)` in an anonymous shared
//! mapping before the fork, with its indices next to `u32::MAX` so that they
//! wrap during the run. Sub-tests:
//! - `ping-pong`: 100 000 round trips over two rings (ping parent → child,
//!   pong child → parent), every value checked on both sides; once with
//!   `Futex::new()` (sleep at once) on both ends, once with
//!   `Futex::adaptive(2000)`, and a shorter mixed run (one end of each kind).
//!   Runs with a spinning (adaptive) end pin the two processes to different
//!   CPUs: see "CPU placement" below for why.
//! - `blocking stream`: items through a ring of capacity 4 with blocking
//!   `push` and `pop` on both ends, so that the producer sleeps on a full ring
//!   and the consumer on an empty one, over and over (100 000 items, with
//!   sleeping ends and with adaptive ones).
//! - `timeouts`: `pop_timeout(Some(50 ms))` on an empty ring and
//!   `push_timeout(Some(50 ms))` on a full one return `Error::TimedOut` after
//!   at least 50 ms and well under a second; a zero timeout returns at once.
//! - `idle wake`: the child is asleep in the kernel (announced in the ring's
//!   waiting word, in state `S` in `/proc`) inside `pop`; the parent waits
//!   100 ms, pushes, and the child's reply must arrive within a second. The
//!   mirror case wakes a child blocked in `push` on a full ring with a `pop`.
//! - `hostile tail`: a child that plays by no rule keeps rewriting the
//!   producer's `tail` word (offset 128) with garbage, with and without
//!   futex wake-ups, flipping it between valid and invalid, or writing it
//!   once while the parent sleeps. The parent's blocked `pop_timeout` must
//!   return `Error::Corrupted` or `Error::TimedOut` within its timeout (plus
//!   scheduling slack), never an item and never hang.
//!
//! Every wait has a deadline; a failing parent SIGKILLs and reaps its child.
//! The child never returns into the parent's code: it runs a function that
//! yields an exit code, then `_exit`s. A blocking call that times out in the
//! ping-pong is diagnosed (ring words, child state) to tell a lost wake-up
//! from a dead or slow peer. The binary prints one line per sub-test and
//! exits 1 if any failed.

mod support;

use support::*;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ipckit::Error;
use ipckit::futex::Futex;
use ipckit::shm::SharedMapping;
use ipckit::spsc::{Options, Ring};

/// Round trips of each full ping-pong run.
const ROUND_TRIPS: u64 = 100_000;
/// Round trips of the mixed (one sleeping, one adaptive end) run.
const MIXED_ROUND_TRIPS: u64 = 20_000;
/// Items through the capacity-4 blocking stream.
const STREAM_ITEMS: u64 = 100_000;
/// Capacity of the ping-pong rings.
const CAPACITY: u32 = 8;
/// Both indices of every ring start here, so they wrap early in each run.
const START: u32 = u32::MAX - 100;
/// The spin budget of the adaptive notifier.
const SPINS: u32 = 2000;
/// The longest one blocking call of a healthy run may take. Far above any
/// wake-up latency; reaching it means a lost wake-up or a dead peer.
const OP_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest any sub-test waits for its child to finish.
const CHILD_DEADLINE: Duration = Duration::from_secs(30);
/// How late a timed-out call may return (scheduling on a loaded machine).
const SLACK: Duration = Duration::from_millis(500);

// Layout of an SPSC region (table in `ipckit::spsc`).
const TAIL_OFFSET: usize = 128;
const CONSUMER_WAITING_OFFSET: usize = 136;
const HEAD_OFFSET: usize = 256;
const PRODUCER_WAITING_OFFSET: usize = 264;

// ---------------------------------------------------------------------------
// Values: a sequence number in the low half and a tag derived from it in the
// high half; the reply is the bitwise complement of the request, so neither
// side can pass a check by echoing stale or zeroed slots.

fn item(seq: u64) -> u64 {
    let seq = seq as u32;
    let tag = seq.wrapping_mul(0x9E37_79B9) ^ 0x5A5A_5A5A;
    (u64::from(tag) << 32) | u64::from(seq)
}

fn reply(request: u64) -> u64 {
    !request
}

fn ring_err(what: &str, e: Error) -> ChildFail {
    let code = if e == Error::TimedOut {
        EXIT_TIMEOUT
    } else {
        EXIT_RING_ERROR
    };
    fail(code, format!("{what}: {e}"))
}

// ---------------------------------------------------------------------------
// CPU placement.
//
// A spinning waiter only helps while its peer runs on another CPU. When the
// machine is busy and the scheduler puts both processes on one CPU, every
// blocked call of an adaptive end spins its whole budget while the peer it
// waits for cannot run (100 000 adaptive round trips took 33-40 s instead of
// about 1 s here, in a debug build). Runs with an adaptive end therefore pin
// the parent and the child to two different CPUs, when there are two.

/// This thread's CPU affinity mask.
fn affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: `cpu_set_t` is a plain bit array; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; `set` is a valid, writable
    // `cpu_set_t` of the size passed.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    (rc == 0).then_some(set)
}

fn set_affinity(set: &libc::cpu_set_t) -> bool {
    // SAFETY: pid 0 is the calling thread; `set` is a valid `cpu_set_t` of
    // the size passed.
    unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), set) == 0 }
}

fn only(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: as in `affinity`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below the number of bits in `set` (it came from one).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set
}

/// Pins the parent to one allowed CPU and names another for the child (see
/// above); puts the parent's mask back when dropped. Without two CPUs it
/// does nothing.
struct Placement {
    saved: Option<libc::cpu_set_t>,
    child_cpu: Option<usize>,
}

impl Placement {
    fn apart() -> Self {
        let none = Self {
            saved: None,
            child_cpu: None,
        };
        let Some(saved) = affinity() else { return none };
        let max = 8 * size_of::<libc::cpu_set_t>();
        // SAFETY: `cpu < max`, the number of bits in `saved`.
        let cpus: Vec<usize> = (0..max)
            .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &saved) })
            .collect();
        if cpus.len() < 2 || !set_affinity(&only(cpus[0])) {
            return none;
        }
        Self {
            saved: Some(saved),
            child_cpu: Some(cpus[1]),
        }
    }

    /// No placement: both processes go where the scheduler puts them.
    fn anywhere() -> Self {
        Self {
            saved: None,
            child_cpu: None,
        }
    }

    /// Called first thing in the child.
    fn enter_child(&self) {
        if let Some(cpu) = self.child_cpu {
            // Unpinned is still correct, only slower on a busy machine.
            set_affinity(&only(cpu));
        }
    }

    fn note(&self) -> &'static str {
        if self.child_cpu.is_some() {
            "pinned apart"
        } else {
            "unpinned"
        }
    }
}

impl Drop for Placement {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            set_affinity(saved);
        }
    }
}

/// [`Placement::apart`] if either end spins, else [`Placement::anywhere`].
fn placement(a: Futex, b: Futex) -> Placement {
    use ipckit::wait::Notify;
    if a.spin_budget() > 0 || b.spin_budget() > 0 {
        Placement::apart()
    } else {
        Placement::anywhere()
    }
}

// ---------------------------------------------------------------------------
// Shared memory.

/// A 32-bit word of a mapping, accessed atomically.
fn word(mapping: &SharedMapping, offset: usize) -> &AtomicU32 {
    assert!(offset % 4 == 0 && offset + 4 <= mapping.len());
    // SAFETY: in bounds and 4-aligned (the base is page-aligned). Words of a
    // ring are atomics in the ring's own layout, and the tests touch every
    // other word only atomically; the mapping outlives the reference.
    unsafe { AtomicU32::from_ptr(mapping.as_ptr().add(offset).cast()) }
}

/// A mapping holding one waking ring of `u64`, created (not yet claimed).
fn waking_ring(capacity: u32) -> Result<SharedMapping, String> {
    let len = Ring::<u64>::region_len(capacity).map_err(|_| "bad capacity")?;
    let mapping = SharedMapping::anonymous(len).map_err(|e| format!("mmap: {e}"))?;
    let options = Options::new(capacity).start_at(START).waking(true);
    Ring::<u64>::init_with(mapping.region(), options).map_err(|e| format!("init: {e}"))?;
    Ok(mapping)
}

fn attach(mapping: &SharedMapping) -> Result<Ring<'_, u64>, Error> {
    Ring::<u64>::attach(mapping.region())
}

/// The shared words of a ring, for diagnostics.
fn ring_words(name: &str, m: &SharedMapping) -> String {
    let w = |off| word(m, off).load(Ordering::SeqCst);
    let (tail, head) = (w(TAIL_OFFSET), w(HEAD_OFFSET));
    format!(
        "{name}: tail {tail:#x} head {head:#x} (items {}), consumer waiting {}, producer waiting {}",
        tail.wrapping_sub(head),
        w(CONSUMER_WAITING_OFFSET),
        w(PRODUCER_WAITING_OFFSET)
    )
}

/// Polls `cond` every millisecond until it holds or `limit` passes.
fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn notifier_name(n: Futex) -> String {
    use ipckit::wait::Notify;
    match n.spin_budget() {
        0 => "Futex::new()".to_string(),
        s => format!("Futex::adaptive({s})"),
    }
}

// ---------------------------------------------------------------------------
// Ping-pong.

/// Two rings: ping (parent → child) and pong (child → parent).
struct PingPong {
    ping: SharedMapping,
    pong: SharedMapping,
}

impl PingPong {
    fn new(capacity: u32) -> Result<Self, String> {
        Ok(Self {
            ping: waking_ring(capacity)?,
            pong: waking_ring(capacity)?,
        })
    }

    /// Both rings' words and the child's state: tells a lost wake-up (an
    /// item waits in a ring while its consumer sleeps) from a dead peer.
    fn diagnose(&self, child: &mut Child) -> String {
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
fn echo(pp: &PingPong, notify: Futex, rounds: u64) -> Result<(), ChildFail> {
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

fn ping_pong(parent: Futex, child_notify: Futex, rounds: u64) -> Result<String, String> {
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

// ---------------------------------------------------------------------------
// A blocking stream through a tiny ring: both ends sleep, alternately.

fn blocking_stream(notify: Futex, items: u64) -> Result<String, String> {
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

// ---------------------------------------------------------------------------
// (a) Timeouts.

/// Checks that `f` returns `TimedOut` after at least `timeout` and before
/// `timeout + SLACK`; returns the time it took.
fn expect_timeout(
    what: &str,
    timeout: Duration,
    f: impl FnOnce() -> Result<(), Error>,
) -> Result<Duration, String> {
    let t0 = Instant::now();
    let r = f();
    let took = t0.elapsed();
    if r != Err(Error::TimedOut) {
        return Err(format!("{what}: {r:?}, expected TimedOut"));
    }
    if took < timeout || took >= timeout + SLACK {
        return Err(format!("{what}: returned after {took:?}"));
    }
    Ok(took)
}

fn timeouts() -> Result<String, String> {
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
        if r != Err(Error::TimedOut) || t0.elapsed() >= SLACK {
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
        if r != Err(Error::TimedOut) || t0.elapsed() >= SLACK {
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

// ---------------------------------------------------------------------------
// (b) Waking a peer that sleeps in the kernel.

/// The longest a sleeping peer may take to answer.
const WAKE_BOUND: Duration = Duration::from_secs(1);
/// How long the parent lets the child sleep before it acts.
const IDLE: Duration = Duration::from_millis(100);

/// Waits until the child has announced itself in `flag` and sleeps in the
/// kernel, then lets it sleep for [`IDLE`] and checks that it still does.
fn until_asleep(child: &mut Child, flag: &AtomicU32, what: &str) -> Result<String, String> {
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

fn idle_wake(notify: Futex) -> Result<String, String> {
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
fn idle_wake_producer(notify: Futex) -> Result<String, String> {
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

// ---------------------------------------------------------------------------
// (c) A hostile peer rewriting the tail word.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hostility {
    /// Garbage, over and over, no futex wakes.
    Garbage,
    /// Garbage, each write followed by a `FUTEX_WAKE` of the tail word.
    GarbageAndWake,
    /// Alternately a valid empty ring (`tail == head`) and garbage, with
    /// wakes: the consumer may sleep on a valid value and wake to garbage.
    Flip,
    /// Waits until the consumer sleeps in the kernel, writes garbage once,
    /// and never wakes it: only the timeout can end that wait.
    QuietWhileAsleep,
}

/// Control words of a hostile sub-test, in their own page.
const CTRL_STARTED: usize = 0;
const CTRL_STOP: usize = 128;

/// A `tail` that is never within a capacity of `head`.
fn garbage(head: u32, capacity: u32, n: u32) -> u32 {
    let far = capacity + 1 + (n.wrapping_mul(0x9E37_79B9) >> 2);
    head.wrapping_add(far)
}

/// The hostile child: no attach, no claim; it scribbles on the tail word
/// until the parent says stop (or 10 s pass).
fn hostile(m: &SharedMapping, ctrl: &SharedMapping, mode: Hostility, capacity: u32) -> i32 {
    let tail = word(m, TAIL_OFFSET);
    let waiting = word(m, CONSUMER_WAITING_OFFSET);
    let started = word(ctrl, CTRL_STARTED);
    let stop = word(ctrl, CTRL_STOP);
    let head = word(m, HEAD_OFFSET).load(Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    let wake = |w: &AtomicU32| {
        // SAFETY: a shared FUTEX_WAKE on a live, aligned word of the mapping;
        // the kernel only uses its address as a key.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                w.as_ptr(),
                libc::FUTEX_WAKE,
                i32::MAX,
                core::ptr::null::<libc::timespec>(),
            )
        };
    };
    let mut n = 0u32;
    if mode == Hostility::QuietWhileAsleep {
        started.store(1, Ordering::SeqCst);
        // Announced, and asleep in the kernel: the parent's only sleep
        // after announcing is the futex wait on the tail word.
        // SAFETY: plain query.
        let parent = unsafe { libc::getppid() };
        let asleep = || {
            std::fs::read_to_string(format!("/proc/{parent}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .map(|(_, r)| r.trim_start().starts_with('S'))
                })
                .unwrap_or(false)
        };
        while waiting.load(Ordering::SeqCst) == 0 || !asleep() {
            if stop.load(Ordering::SeqCst) != 0 || Instant::now() > deadline {
                return EXIT_OK;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        tail.store(garbage(head, capacity, 1), Ordering::SeqCst);
        while stop.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        return EXIT_OK;
    }
    while stop.load(Ordering::Relaxed) == 0 {
        n = n.wrapping_add(1);
        let value = match mode {
            Hostility::Flip if n % 2 == 0 => head,
            _ => garbage(head, capacity, n),
        };
        tail.store(value, Ordering::Release);
        if n == 1 {
            started.store(1, Ordering::SeqCst);
        }
        if mode != Hostility::Garbage {
            wake(tail);
        }
        if n % 1024 == 0 && Instant::now() > deadline {
            break;
        }
    }
    EXIT_OK
}

fn hostile_tail(mode: Hostility, notify: Futex) -> Result<String, String> {
    const CAP: u32 = 8;
    const T: Duration = Duration::from_millis(200);
    const CALLS: usize = 8;
    let name = notifier_name(notify);
    let m = waking_ring(CAP)?;
    let ctrl = SharedMapping::anonymous(4096).map_err(|e| format!("mmap: {e}"))?;
    let ring = attach(&m).map_err(|e| format!("attach: {e}"))?;
    let mut rx = ring
        .consumer_with(notify)
        .map_err(|e| format!("consumer: {e}"))?;
    let mut child = fork_child(|| hostile(&m, &ctrl, mode, CAP))?;
    if !wait_for(Duration::from_secs(5), || {
        word(&ctrl, CTRL_STARTED).load(Ordering::SeqCst) == 1
    }) {
        return Err(format!("hostile child never started: {}", child.describe()));
    }
    let (mut corrupted, mut timed_out) = (0, 0);
    let mut slowest = Duration::ZERO;
    for call in 0..CALLS {
        let t0 = Instant::now();
        let r = rx.pop_timeout(Some(T));
        let took = t0.elapsed();
        slowest = slowest.max(took);
        match r {
            Err(Error::Corrupted(_)) => corrupted += 1,
            Err(Error::TimedOut) if took >= T => timed_out += 1,
            other => {
                return Err(format!(
                    "call {call}: {other:?} after {took:?}; {}",
                    ring_words("ring", &m)
                ));
            }
        }
        if took >= T + SLACK {
            return Err(format!(
                "call {call}: returned {took:?} after a timeout of {T:?}"
            ));
        }
        // Garbage that is always there must be seen as such.
        if matches!(mode, Hostility::Garbage | Hostility::GarbageAndWake) && corrupted != call + 1 {
            return Err(format!("call {call}: {r:?} with a garbage tail"));
        }
        if mode == Hostility::QuietWhileAsleep && call == 0 {
            // Asleep with no wake coming: only the timeout ends this call
            // (with `TimedOut`, or `Corrupted` from the last look after it).
            if took < T {
                return Err(format!(
                    "call 0 returned {r:?} after {took:?}, before its timeout"
                ));
            }
            // The garbage is in place now: the next calls read it at once.
            if !wait_for(Duration::from_secs(5), || {
                word(&m, TAIL_OFFSET).load(Ordering::SeqCst) != START
            }) {
                return Err("hostile child never wrote the tail".into());
            }
        }
    }
    if mode == Hostility::QuietWhileAsleep && corrupted < CALLS - 1 {
        return Err(format!(
            "{corrupted} of {CALLS} calls saw a garbage tail that stayed in place"
        ));
    }
    word(&ctrl, CTRL_STOP).store(1, Ordering::SeqCst);
    child.expect_ok(Instant::now() + CHILD_DEADLINE)?;
    // The endpoint is still safe to use and drop.
    drop(rx);
    Ok(format!(
        "{name}: {CALLS} pop_timeout({} ms): {corrupted} Corrupted, {timed_out} TimedOut, slowest {:.1} ms",
        T.as_millis(),
        slowest.as_secs_f64() * 1e3
    ))
}

// ---------------------------------------------------------------------------

fn main() {
    type Test = Box<dyn Fn() -> Result<String, String>>;
    let adaptive = Futex::adaptive(SPINS);
    let sleep = Futex::new();
    let mut tests: Vec<(String, Test)> = vec![
        ("timeouts".into(), Box::new(timeouts)),
        (
            "idle wake (consumer, Futex::new)".into(),
            Box::new(move || idle_wake(sleep)),
        ),
        (
            "idle wake (consumer, adaptive)".into(),
            Box::new(move || idle_wake(adaptive)),
        ),
        (
            "idle wake (producer, Futex::new)".into(),
            Box::new(move || idle_wake_producer(sleep)),
        ),
        (
            "idle wake (producer, adaptive)".into(),
            Box::new(move || idle_wake_producer(adaptive)),
        ),
    ];
    for mode in [
        Hostility::Garbage,
        Hostility::GarbageAndWake,
        Hostility::Flip,
        Hostility::QuietWhileAsleep,
    ] {
        for notify in [sleep, adaptive] {
            tests.push((
                format!("hostile tail ({mode:?}, {})", notifier_name(notify)),
                Box::new(move || hostile_tail(mode, notify)),
            ));
        }
    }
    tests.extend([
        (
            "ping-pong (Futex::new)".to_string(),
            Box::new(move || ping_pong(sleep, sleep, ROUND_TRIPS)) as Test,
        ),
        (
            "ping-pong (adaptive)".to_string(),
            Box::new(move || ping_pong(adaptive, adaptive, ROUND_TRIPS)),
        ),
        (
            "ping-pong (mixed)".to_string(),
            Box::new(move || ping_pong(adaptive, sleep, MIXED_ROUND_TRIPS)),
        ),
        (
            "blocking stream (Futex::new)".to_string(),
            Box::new(move || blocking_stream(sleep, STREAM_ITEMS)),
        ),
        (
            "blocking stream (adaptive)".to_string(),
            Box::new(move || blocking_stream(adaptive, STREAM_ITEMS)),
        ),
    ]);
    run_tests("spsc_blocking_process", &tests).finish("spsc_blocking_process");
}

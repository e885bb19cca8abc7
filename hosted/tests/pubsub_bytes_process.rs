//! Byte-message topics across real processes: a publisher process writes
//! variable-length frames in place through loans (each frame: its number,
//! a checksum of its body, and a body derived from its number, 0 to the
//! largest frame long), and subscriber processes that open the topic by
//! name check every frame they get:
//!
//! - reliable: three subscribers (copy-out, `Vec`, blocking in-place read)
//!   each get
//!   every frame in order;
//! - lossy, one subscriber slow: for each, frames received plus frames
//!   reported lost equals frames published, and every gap is a reported
//!   lag;
//! - reliable, a subscriber SIGKILLed while it holds the publisher back:
//!   the publisher goes on within a bound, the others get everything.
//!
//! `IPCKIT_PUBSUB_FRAMES` sets the frame count (default 100,000).
//! Built with `harness = false`: children are `fork()`ed from the
//! single-threaded main process; every wait has a deadline; the suite
//! fails if anything of the run is left in `/dev/shm`.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipckit::Error;
use ipckit::pubsub::{self, BytesSubscriber, Policy};
use support::messages::{byte, msg_len};
use support::{
    Child, DEADLINE, EXIT_CHECK, EXIT_CORRUPTED_ITEM, EXIT_OUT_OF_ORDER, EXIT_RING_ERROR,
    EXIT_TIMEOUT, Rng, SharedWords, ShmGuard, Suite, fail, fork_main,
};

/// The longest any single receive or publication may wait.
const PATIENCE: Duration = Duration::from_secs(60);
/// How soon after a subscriber's SIGKILL the publisher it held back must
/// go on (a pidfd notice takes well under a millisecond; the rest is room
/// for a loaded machine).
const RELEASE_BOUND: Duration = Duration::from_secs(2);
/// The largest frame (slots of 1 KiB) and the data area (64 slots).
const MAX_FRAME: usize = 1016;
const CAPACITY: usize = 64 * 1024;
/// A frame's header: its number and the checksum of its body.
const HEADER: usize = 12;

/// Words per subscriber in the shared page.
const STRIDE: usize = 8;
const READY: usize = 0;
const RECEIVED: usize = 1;
const LOST: usize = 2;
const NEXT: usize = 3;
const STOPPED: usize = 4;
/// The publisher's record (after the subscribers'): frames published.
const PUBLISHED: usize = 8 * STRIDE;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn frames() -> u64 {
    std::env::var("IPCKIT_PUBSUB_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// FNV-1a of `body`.
fn checksum(body: &[u8]) -> u32 {
    body.iter().fold(0x811c_9dc5, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Checks that `frame` is a whole, uncorrupted frame: its number.
fn frame_number(frame: &[u8]) -> Result<u64, String> {
    let (head, body) = frame
        .split_at_checked(HEADER)
        .ok_or_else(|| format!("a frame of {} bytes", frame.len()))?;
    let i = u64::from_le_bytes(head[..8].try_into().unwrap());
    let sum = u32::from_le_bytes(head[8..].try_into().unwrap());
    ensure!(checksum(body) == sum, "frame {i}: checksum");
    match (0..body.len()).find(|&j| body[j] != byte(i, j)) {
        Some(j) => Err(format!("frame {i}: byte {j} of the body")),
        None => Ok(i),
    }
}

/// How a process takes the next frame.
#[derive(Clone, Copy)]
enum Read {
    /// `recv_into_timeout` into a buffer.
    Into,
    /// `recv` into a `Vec`.
    Vec,
    /// `read_with_timeout`: the frame copied out in place and checked
    /// once the read is known whole.
    InPlace,
}

/// How a subscriber process behaves.
#[derive(Clone, Copy)]
struct Plan {
    slot: usize,
    read: Read,
    /// Sleeps 1 ms every this many frames (0: never).
    pause_every: u64,
    /// Stops reading once this many frames are read (0: never) and
    /// sleeps until killed.
    stop_at: u64,
}

impl Plan {
    fn new(slot: usize, read: Read) -> Self {
        Self {
            slot,
            read,
            pause_every: 0,
            stop_at: 0,
        }
    }
}

/// The next frame's number for `rx` (or what is wrong with the frame),
/// or the receive's error.
fn next_frame(
    rx: &mut BytesSubscriber,
    read: Read,
    buf: &mut Vec<u8>,
) -> Result<Result<u64, String>, Error> {
    Ok(match read {
        Read::Into => {
            buf.resize(MAX_FRAME, 0);
            let len = rx.recv_into_timeout(buf, PATIENCE)?;
            frame_number(&buf[..len])
        }
        Read::Vec => {
            rx.recv(buf)?;
            frame_number(buf)
        }
        Read::InPlace => {
            let got = rx.read_with_timeout(PATIENCE, |f| {
                buf.resize(f.len(), 0);
                f.copy_to(buf).map(|()| frame_number(buf))
            })?;
            got.expect("a buffer of the frame's length")
        }
    })
}

/// A subscriber process: opens `name`, subscribes, raises `READY`, then
/// receives until `PeerGone`, checking every frame and that every gap in
/// the numbers is a reported lag (none on a reliable topic).
fn subscriber(name: &str, words: &SharedWords, plan: Plan) -> Result<Child, String> {
    let w = |i: usize| words.word(plan.slot * STRIDE + i);
    fork_main(|| {
        let err = |what: &str, e: Error| fail(EXIT_RING_ERROR, format!("{what}: {e}"));
        let topic = pubsub::bytes(name).open().map_err(|e| err("open", e))?;
        let reliable = topic.policy() == Policy::Reliable;
        let mut rx = topic.subscriber().map_err(|e| err("subscribe", e))?;
        w(READY).store(1, Ordering::Release);
        let (mut next, mut received, mut lost) = (0u64, 0u64, 0u64);
        let mut buf = Vec::new();
        loop {
            match next_frame(&mut rx, plan.read, &mut buf) {
                Ok(Err(wrong)) => return Err(fail(EXIT_CORRUPTED_ITEM, wrong)),
                Ok(Ok(i)) if i == next => {
                    next += 1;
                    received += 1;
                    if received == plan.stop_at {
                        w(STOPPED).store(1, Ordering::Release);
                        std::thread::sleep(PATIENCE); // until killed
                        return Err(fail(EXIT_TIMEOUT, "never killed"));
                    }
                    if plan.pause_every > 0 && received % plan.pause_every == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                Ok(Ok(i)) => {
                    let msg = format!("frame {i} where {next} was due");
                    return Err(fail(EXIT_OUT_OF_ORDER, msg));
                }
                Err(Error::Lagged(n)) if !reliable => {
                    lost += n;
                    next += n;
                }
                Err(Error::Lagged(n)) => {
                    let msg = format!("lagged {n} at {next} on a reliable topic");
                    return Err(fail(EXIT_CHECK, msg));
                }
                Err(e) if e.is_peer_gone() => break,
                Err(e) => return Err(err(&format!("receive after {next}"), e)),
            }
        }
        w(RECEIVED).store(received, Ordering::Release);
        w(LOST).store(lost, Ordering::Release);
        w(NEXT).store(next, Ordering::Release);
        Ok(())
    })
}

/// The publisher process: frames `0..n` of random lengths, each through a
/// loan (reliable: waiting for room), counted in `published`.
fn publisher(name: &str, n: u64, published: &AtomicU64) -> Result<Child, String> {
    fork_main(|| {
        let err = |what: &str, e: Error| fail(EXIT_RING_ERROR, format!("{what}: {e}"));
        let topic = pubsub::bytes(name).open().map_err(|e| err("open", e))?;
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut body = Vec::with_capacity(MAX_FRAME);
        let mut lossy = None;
        let mut reliable = None;
        match topic.policy() {
            Policy::Lossy => lossy = Some(topic.publisher().map_err(|e| err("publisher", e))?),
            Policy::Reliable => {
                let tx = topic.reliable_publisher();
                reliable = Some(tx.map_err(|e| err("publisher", e))?);
            }
        }
        for i in 0..n {
            let len = msg_len(&mut rng, i, MAX_FRAME - HEADER);
            body.clear();
            body.extend((0..len).map(|j| byte(i, j)));
            let mut loan = match (&mut lossy, &mut reliable) {
                (Some(tx), _) => tx.loan(HEADER + len),
                (_, Some(tx)) => tx.loan_timeout(HEADER + len, PATIENCE),
                _ => unreachable!(),
            }
            .map_err(|e| err(&format!("loan {i}"), e))?;
            let written = loan
                .write_at(0, &i.to_le_bytes())
                .and_then(|()| loan.write_at(8, &checksum(&body).to_le_bytes()))
                .and_then(|()| loan.write_at(HEADER, &body));
            written.map_err(|e| err(&format!("write {i}"), e))?;
            loan.publish();
            published.store(i + 1, Ordering::Release);
        }
        Ok(())
    })
}

fn ready(words: &SharedWords, slots: impl IntoIterator<Item = usize>) -> Result<(), String> {
    let flags = slots.into_iter().map(|s| s * STRIDE + READY);
    let never = |i| format!("subscriber {} never came", i / STRIDE);
    words.wait_all(flags, PATIENCE).map_err(never)
}

/// Subscriber `slot`'s `(received, lost, next)`.
fn record(words: &SharedWords, slot: usize) -> (u64, u64, u64) {
    let w = |i: usize| words.word(slot * STRIDE + i).load(Ordering::Acquire);
    (w(RECEIVED), w(LOST), w(NEXT))
}

fn create(g: &ShmGuard, policy: Policy) -> Result<pubsub::BytesTopic, String> {
    pubsub::bytes(&g.0)
        .capacity(CAPACITY)
        .max_frame(MAX_FRAME)
        .subscribers(8)
        .policy(policy)
        .create()
        .map_err(|e| format!("create: {e}"))
}

/// Reliable: three subscriber processes, each reading its own way, get
/// every frame in order.
fn reliable_fan_out() -> Result<String, String> {
    let n = frames();
    let g = ShmGuard::new("pubsub-bytes-reliable");
    let _topic = create(&g, Policy::Reliable)?;
    let words = SharedWords::new();
    let reads = [Read::Into, Read::Vec, Read::InPlace];
    let mut subs = Vec::new();
    for (slot, read) in reads.into_iter().enumerate() {
        subs.push(subscriber(&g.0, &words, Plan::new(slot, read))?);
    }
    ready(&words, 0..3)?;
    let started = Instant::now();
    publisher(&g.0, n, words.word(PUBLISHED))?.expect_ok(Instant::now() + DEADLINE)?;
    let took = started.elapsed();
    for s in &mut subs {
        s.expect_ok(Instant::now() + DEADLINE)?;
    }
    for slot in 0..3 {
        let (received, lost, next) = record(&words, slot);
        ensure!(
            (received, lost, next) == (n, 0, n),
            "subscriber {slot}: received {received}, lost {lost}, next {next}; {n} published"
        );
    }
    Ok(format!(
        "{n} frames of 12 to {MAX_FRAME} bytes in {took:.0?}, every one to each of 3 subscribers"
    ))
}

/// Lossy with a slow subscriber: each subscriber's received plus lost
/// frames make the published count; the slow one lost some.
fn lossy_slow_subscriber() -> Result<String, String> {
    let n = frames();
    let g = ShmGuard::new("pubsub-bytes-lossy");
    let _topic = create(&g, Policy::Lossy)?;
    let words = SharedWords::new();
    let slow = Plan {
        pause_every: 100,
        ..Plan::new(2, Read::Into)
    };
    let mut subs = vec![
        subscriber(&g.0, &words, Plan::new(0, Read::Into))?,
        subscriber(&g.0, &words, Plan::new(1, Read::InPlace))?,
        subscriber(&g.0, &words, slow)?,
    ];
    ready(&words, 0..3)?;
    publisher(&g.0, n, words.word(PUBLISHED))?.expect_ok(Instant::now() + DEADLINE)?;
    for s in &mut subs {
        s.expect_ok(Instant::now() + DEADLINE)?;
    }
    let mut counts = Vec::new();
    for slot in 0..3 {
        let (received, lost, next) = record(&words, slot);
        ensure!(
            received + lost == n && next == n,
            "subscriber {slot}: received {received} + lost {lost} != {n} published"
        );
        counts.push(format!("{received}+{lost}"));
    }
    let (_, slow_lost, _) = record(&words, 2);
    ensure!(slow_lost > 0, "the slow subscriber lost nothing");
    Ok(format!(
        "{n} frames; received+lost per subscriber: {}",
        counts.join(", ")
    ))
}

/// Reliable: a subscriber stops reading (holding the publisher back) and
/// is SIGKILLed; the publisher goes on within [`RELEASE_BOUND`], the other
/// two get every frame.
fn subscriber_killed() -> Result<String, String> {
    let n = frames();
    let stop = n / 4;
    let g = ShmGuard::new("pubsub-bytes-killed");
    let _topic = create(&g, Policy::Reliable)?;
    let words = SharedWords::new();
    let mut subs = vec![
        subscriber(&g.0, &words, Plan::new(0, Read::Into))?,
        subscriber(&g.0, &words, Plan::new(1, Read::InPlace))?,
    ];
    let stopper = Plan {
        stop_at: stop,
        ..Plan::new(2, Read::Vec)
    };
    let mut stopper = subscriber(&g.0, &words, stopper)?;
    ready(&words, 0..3)?;
    let published = words.word(PUBLISHED);
    let mut tx = publisher(&g.0, n, published)?;
    ensure!(
        words.wait_for(2 * STRIDE + STOPPED, 1, PATIENCE),
        "the stopper never stopped"
    );
    let held = words.settled(PUBLISHED, PATIENCE)?;
    ensure!(
        (stop..=stop + 64).contains(&held),
        "the publisher at {held}, the stopper stopped at {stop}"
    );
    let killed = Instant::now();
    stopper.kill();
    while published.load(Ordering::Acquire) == held {
        ensure!(
            killed.elapsed() < RELEASE_BOUND,
            "the publisher still held back at {held} {RELEASE_BOUND:?} after the kill"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    let released = killed.elapsed();
    tx.expect_ok(Instant::now() + DEADLINE)?;
    for s in &mut subs {
        s.expect_ok(Instant::now() + DEADLINE)?;
    }
    for slot in 0..2 {
        let (received, lost, next) = record(&words, slot);
        ensure!(
            (received, lost, next) == (n, 0, n),
            "subscriber {slot}: received {received}, lost {lost}, next {next}; {n} published"
        );
    }
    Ok(format!(
        "held back at {held} by the stopper; going on {released:.1?} after its SIGKILL; \
         {n} frames to each of the other two"
    ))
}

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: [(&str, Test); 3] = [
        (
            "bytes, reliable: 1 publisher, 3 subscribers",
            reliable_fan_out,
        ),
        ("bytes, lossy: a slow subscriber", lossy_slow_subscriber),
        ("bytes, reliable: a subscriber killed", subscriber_killed),
    ];
    Suite::new().tests(tests).leftovers_checked().run().exit();
}

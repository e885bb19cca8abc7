//! The MPSC frame ring between processes: `fork()`ed producers and a
//! consumer (the parent) sharing one anonymous `MAP_SHARED` mapping.
//!
//! Built with `harness = false`: a child forked from a multi-threaded
//! process may only make async-signal-safe calls, so `main` stays the only
//! thread (checked before every fork) and the children can use the whole API.
//!
//! Sub-tests:
//! - `stream`: 3 producer processes send 300 000 frames each (900 000 in
//!   all) of random length (9 to 600 bytes, a few up to the largest frame)
//!   through a 16 KiB ring created for sleeping waiters, positions starting
//!   next to `u32::MAX` so they wrap many times. Each frame carries its
//!   producer, a sequence number and a checksum of its bytes; producer 0
//!   sends by copy with `send`, producer 1 through grants committed with
//!   fewer bytes than granted, producer 2 with `try_send` and a backoff. The
//!   parent receives with `recv_timeout` on a futex and checks every frame
//!   and each producer's order.
//! - `killed mid-grant`: a child holds a grant (header written, payload half
//!   written) and is killed with SIGKILL by the parent; another child sends
//!   frames behind it. The parent receives the frames before the dead one,
//!   finds the stall naming the dead child's pid, skips it, and receives all
//!   the frames behind it.
//!
//! Every wait has a deadline. Children never return into the parent's code:
//! they `_exit`. The binary prints one line per sub-test and exits 1 if any
//! failed.

mod support;

use support::*;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ipckit::CoreError;
use ipckit::frame::mpsc::{Options, Ring};
use ipckit::futex::{Futex, monotonic_now};
use ipckit::shm::SharedMapping;
use ipckit::wait::Spin;

const PRODUCERS: u8 = 3;
const PER_PRODUCER: u32 = 300_000;
const CAPACITY: u32 = 16 * 1024;
const START: u32 = u32::MAX - 4095;

/// Forks a child that runs `body`; an `Err` is printed and exits with
/// [`EXIT_CHECK`].
fn fork_producer(body: impl FnOnce() -> Result<(), String>) -> Result<Child, String> {
    fork_main(|| body().map_err(|msg| fail(EXIT_CHECK, msg)))
}

fn mapping(capacity: u32) -> Result<SharedMapping, String> {
    let len = Ring::region_len(capacity).map_err(|_| "bad capacity")?;
    SharedMapping::anonymous(len).map_err(|e| format!("mmap: {e}"))
}

// ---------------------------------------------------------------------------
// Frames: [producer][seq: u32][checksum: u32][payload], checksum over the
// payload and the first five bytes.

fn frame_len(rng: &mut Rng, max: usize) -> usize {
    let r = rng.next();
    if r % 64 == 0 {
        9 + (r >> 8) as usize % (max - 8)
    } else {
        9 + (r >> 8) as usize % 592
    }
}

fn checksum(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn fill(buf: &mut [u8], producer: u8, seq: u32) {
    buf[0] = producer;
    buf[1..5].copy_from_slice(&seq.to_le_bytes());
    for (i, b) in buf[9..].iter_mut().enumerate() {
        *b = (seq as u8).wrapping_mul(7).wrapping_add(i as u8) ^ producer;
    }
    let sum = checksum(&[&buf[..5], &buf[9..]].concat());
    buf[5..9].copy_from_slice(&sum.to_le_bytes());
}

/// `(producer, seq)` of a well-formed frame.
fn check(buf: &[u8]) -> Option<(u8, u32)> {
    if buf.len() < 9 {
        return None;
    }
    let seq = u32::from_le_bytes(buf[1..5].try_into().ok()?);
    let sum = u32::from_le_bytes(buf[5..9].try_into().ok()?);
    (sum == checksum(&[&buf[..5], &buf[9..]].concat())).then_some((buf[0], seq))
}

// ---------------------------------------------------------------------------
// (a) The stream.

fn produce(p: u8, map: &SharedMapping) -> Result<(), String> {
    let ring = Ring::attach(map.region()).map_err(|e| format!("attach: {e}"))?;
    // SAFETY: plain query.
    let pid = unsafe { libc::getpid() } as u32;
    let tx = ring
        .producer_with(Futex::adaptive(200))
        .and_then(|tx| tx.with_id(pid))
        .map_err(|e| format!("producer: {e}"))?;
    let max = ring.max_frame_len() as usize;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ u64::from(p) << 32);
    let mut buf = vec![0u8; max];
    let deadline = Instant::now() + DEADLINE;
    for seq in 0..PER_PRODUCER {
        let len = frame_len(&mut rng, max);
        fill(&mut buf[..len], p, seq);
        let frame = &buf[..len];
        match p {
            0 => tx
                .send_timeout(frame, Some(DEADLINE))
                .map_err(|e| format!("send {seq}: {e}"))?,
            1 => {
                let extra = (rng.next() % 40) as usize;
                let mut g = tx
                    .grant_timeout((len + extra).min(max), Some(DEADLINE))
                    .map_err(|e| format!("grant {seq}: {e}"))?;
                g.copy_from_slice(frame).map_err(|e| e.to_string())?;
                g.commit(len).map_err(|e| format!("commit {seq}: {e}"))?;
            }
            _ => {
                let mut idle = 0u32;
                loop {
                    match tx.try_send(frame) {
                        Ok(()) => break,
                        Err(CoreError::Full) => {
                            idle += 1;
                            if idle % 64 == 0 {
                                std::thread::yield_now();
                                if Instant::now() > deadline {
                                    return Err(format!("try_send {seq}: timed out"));
                                }
                            }
                        }
                        Err(e) => return Err(format!("try_send {seq}: {e}")),
                    }
                }
            }
        }
    }
    Ok(())
}

fn stream() -> Result<String, String> {
    let map = mapping(CAPACITY)?;
    let options = Options::new(CAPACITY).start_at(START).waking(true);
    let ring = Ring::init_with(map.region(), options).map_err(|e| format!("init: {e}"))?;
    let started = Instant::now();
    let mut children = Vec::new();
    for p in 0..PRODUCERS {
        children.push(fork_producer(|| produce(p, &map))?);
    }
    let mut rx = ring
        .consumer_with(Futex::adaptive(200))
        .map_err(|e| format!("consumer: {e}"))?;
    let mut next = [0u32; PRODUCERS as usize];
    let mut buf = vec![0u8; ring.max_frame_len() as usize];
    let (mut bytes, total) = (0u64, PRODUCERS as u32 * PER_PRODUCER);
    for i in 0..total {
        let n = rx
            .recv_timeout(&mut buf, Some(DEADLINE))
            .map_err(|e| format!("recv {i} (next {next:?}): {e}"))?;
        bytes += n as u64;
        let (p, seq) = check(&buf[..n]).ok_or_else(|| format!("frame {i} is corrupted"))?;
        let expected = next
            .get_mut(p as usize)
            .ok_or_else(|| format!("frame {i} from producer {p}"))?;
        if seq != *expected {
            return Err(format!(
                "producer {p}: frame {seq} where {expected} was due"
            ));
        }
        *expected += 1;
    }
    for mut child in children {
        child.expect_exit(EXIT_OK)?;
    }
    let secs = started.elapsed().as_secs_f64();
    if rx.try_recv(&mut buf) != Err(CoreError::Empty) {
        return Err("frames left after the stream".into());
    }
    if rx.skipped() != Default::default() {
        return Err(format!("skipped {:?}", rx.skipped()));
    }
    Ok(format!(
        "{total} frames ({:.1} MB) from {PRODUCERS} processes in {secs:.2} s ({:.2} M frames/s)",
        bytes as f64 / 1e6,
        f64::from(total) / secs / 1e6
    ))
}

// ---------------------------------------------------------------------------
// (b) A producer killed in the middle of a grant.

fn killed_mid_grant() -> Result<String, String> {
    const BEFORE: u32 = 5;
    const BEHIND: u32 = 40;
    let map = mapping(4096)?;
    let flags = SharedMapping::anonymous(4096).map_err(|e| format!("mmap: {e}"))?;
    // SAFETY: 4-aligned, in bounds of a page-aligned mapping accessed only
    // through this atomic; it outlives every use (children `_exit`).
    let granted = unsafe { AtomicU32::from_ptr(flags.as_ptr().cast()) };
    let ring =
        Ring::init_at(map.region(), 4096, u32::MAX - 255).map_err(|e| format!("init: {e}"))?;
    let mut dead = fork_producer(|| {
        let ring = Ring::attach(map.region()).map_err(|e| e.to_string())?;
        // SAFETY: plain query.
        let pid = unsafe { libc::getpid() } as u32;
        let tx = ring
            .producer()
            .and_then(|t| t.with_id(pid))
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 64];
        for seq in 0..BEFORE {
            fill(&mut buf, 0, seq);
            tx.try_send(&buf).map_err(|e| e.to_string())?;
        }
        let mut g = tx.try_grant(300).map_err(|e| e.to_string())?;
        g.write_at(0, &[0xAB; 150]).map_err(|e| e.to_string())?;
        granted.store(pid, Ordering::Release);
        loop {
            std::thread::sleep(Duration::from_secs(1)); // killed here
        }
    })?;
    let deadline = Instant::now() + DEADLINE;
    let dead_pid = loop {
        match granted.load(Ordering::Acquire) {
            0 if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(1)),
            0 => return Err("the child never took its grant".into()),
            pid => break pid,
        }
    };
    dead.kill();
    if !matches!(dead.try_wait(), Ok(Some(_))) {
        return Err("the killed child was not reaped".into());
    }
    let mut live = fork_producer(|| {
        let ring = Ring::attach(map.region()).map_err(|e| e.to_string())?;
        let tx = ring.producer().map_err(|e| e.to_string())?;
        let mut buf = [0u8; 40];
        for seq in 0..BEHIND {
            fill(&mut buf, 1, seq);
            tx.try_send(&buf).map_err(|e| format!("{seq}: {e}"))?;
        }
        Ok(())
    })?;
    live.expect_exit(EXIT_OK)
        .map_err(|e| format!("the live producer failed: {e}"))?;
    let mut rx = ring
        .consumer_with(Spin::with_clock(monotonic_now))
        .map_err(|e| format!("consumer: {e}"))?;
    let mut buf = [0u8; 512];
    for seq in 0..BEFORE {
        let n = rx
            .try_recv(&mut buf)
            .map_err(|e| format!("before {seq}: {e}"))?;
        if check(&buf[..n]) != Some((0, seq)) {
            return Err(format!("frame {seq} before the dead one is wrong"));
        }
    }
    if rx.try_recv(&mut buf) != Err(CoreError::Empty) {
        return Err("the dead grant did not hold the consumer up".into());
    }
    let stall = rx.stalled().map_err(|e| e.to_string())?.ok_or("no stall")?;
    if stall.claimant != Some(dead_pid) || stall.len != Some(300) {
        return Err(format!("stall {stall:?}, dead pid {dead_pid}"));
    }
    let skipped = rx.skip_stalled(&stall).map_err(|e| e.to_string())?;
    for seq in 0..BEHIND {
        let n = rx
            .try_recv(&mut buf)
            .map_err(|e| format!("behind {seq}: {e}"))?;
        if check(&buf[..n]) != Some((1, seq)) {
            return Err(format!("frame {seq} behind the dead one is wrong"));
        }
    }
    if rx.try_recv(&mut buf) != Err(CoreError::Empty) || rx.skipped().records != 1 {
        return Err(format!("after: skipped {:?}", rx.skipped()));
    }
    Ok(format!(
        "stall named pid {dead_pid}, skipped {skipped} bytes, {BEHIND} frames behind it delivered"
    ))
}

// ---------------------------------------------------------------------------

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: [(&str, Test); 2] = [("killed mid-grant", killed_mid_grant), ("stream", stream)];
    Suite::new().tests(tests).run().exit();
}

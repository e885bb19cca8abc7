//! The core's broadcast frame ring between processes: a parent and
//! `fork()`ed children sharing one anonymous `MAP_SHARED` mapping.
//!
//! Built with `harness = false`: a child forked from a multi-threaded
//! process may only make async-signal-safe calls; here `main` is the only
//! thread (checked before every fork).
//!
//! Sub-tests:
//! - `lapping publisher`: the parent publishes 200,000 frames of every
//!   length 0..=56 into 8 slots without pause; two subscriber children
//!   (one copying out, one reading in place) check that every frame they
//!   get is whole (its length and bytes name its position) and in order,
//!   and that `received + lagged` is exactly the number published.
//! - `killed publisher`: a child publishes frames through loans without
//!   pause and is SIGKILLed after a pseudo-random delay, 20 times; a
//!   subscriber child checks every frame throughout. After each kill the
//!   parent releases the dead publisher's claim and goes on at `tail` (the
//!   slot a loan was killed in is rewritten there).
//! - `sleeping members`: a reliable ring created waking; two member
//!   children block in `recv_into_timeout` on a shared futex while the
//!   parent blocks for room, and each must get all 20,000 frames in order.
//!
//! Every wait has a deadline; a failing parent SIGKILLs and reaps its
//! children. The binary prints one line per sub-test and exits 1 if any
//! failed.

mod support;

use support::*;

use std::time::{Duration, Instant};

use ipckit::CoreError;
use ipckit::broadcast::frames::{FrameRing, FrameSubscriber};
use ipckit::broadcast::{Options, Policy, Start};
use ipckit::futex::Futex;
use ipckit::shm::SharedMapping;

/// Slots of 64 bytes: frames of up to 56.
const SLOT: u32 = 64;
const MAX: usize = SLOT as usize - 8;

/// The frame of position `p`: every length in turn, each byte naming `p`
/// and its index, so that a frame of two laps (or a length of another)
/// shows.
fn frame(p: u32) -> Vec<u8> {
    let len = p as usize % (MAX + 1);
    (0..len)
        .map(|i| (p as u8).wrapping_mul(31) ^ (i as u8).wrapping_mul(7) ^ (p >> 8) as u8)
        .collect()
}

fn ring(options: Options) -> Result<(SharedMapping, Options), String> {
    let len = FrameRing::region_len_with(options).map_err(|e| format!("region_len: {e}"))?;
    let map = SharedMapping::anonymous(len).map_err(|e| format!("mmap: {e}"))?;
    Ok((map, options))
}

/// Receives until `total` frames from the subscriber's position on are
/// accounted for (received or lagged), checking each; copies out or reads
/// in place. Returns the frames received.
fn account(
    rx: &mut FrameSubscriber<'_>,
    total: u32,
    in_place: bool,
    deadline: Instant,
) -> Result<u32, ChildFail> {
    let mut expected = rx.position();
    let end = expected.wrapping_add(total);
    let (mut received, mut n) = (0u32, 0u64);
    let mut buf = [0u8; MAX];
    while expected != end {
        let got = if in_place {
            rx.try_read_with(|f| {
                let mut v = vec![0; f.len()];
                f.copy_to(&mut v).map(|()| v)
            })
            .and_then(|r| r)
        } else {
            rx.try_recv_into(&mut buf).map(|len| buf[..len].to_vec())
        };
        match got {
            Ok(bytes) => {
                if bytes != frame(expected) {
                    let msg = format!("frame of {expected}: {} bytes, torn", bytes.len());
                    return Err(fail(EXIT_CORRUPTED_ITEM, msg));
                }
                expected = expected.wrapping_add(1);
                received += 1;
            }
            Err(CoreError::Lagged(k)) => {
                expected = expected.wrapping_add(k as u32);
                if rx.position() != expected || end.wrapping_sub(expected) > total {
                    let msg = format!("lag of {k} to {} past {end}", rx.position());
                    return Err(fail(EXIT_OUT_OF_ORDER, msg));
                }
            }
            Err(CoreError::Empty) => std::hint::spin_loop(),
            Err(e) => return Err(fail(EXIT_RING_ERROR, format!("receive: {e}"))),
        }
        n += 1;
        if n % 1024 == 0 && Instant::now() > deadline {
            return Err(fail(EXIT_TIMEOUT, format!("stuck at {expected}")));
        }
    }
    Ok(received)
}

fn lapping_publisher() -> Result<String, String> {
    const FRAMES: u32 = 200_000;
    let start = u32::MAX - 1000;
    let (map, options) = ring(Options::new(8 * SLOT).slot_size(SLOT).start_at(start))?;
    let ring = FrameRing::init_with(map.region(), options).map_err(|e| format!("init: {e}"))?;
    let mut children = Vec::new();
    for in_place in [false, true] {
        // Made before the fork: the child starts at the first position.
        let mut rx = ring.subscriber().map_err(|e| format!("subscriber: {e}"))?;
        children.push(fork_main(move || {
            account(&mut rx, FRAMES, in_place, Instant::now() + DEADLINE).map(drop)
        })?);
    }
    let mut tx = ring.publisher().map_err(|e| format!("publisher: {e}"))?;
    for k in 0..FRAMES {
        tx.publish(&frame(start.wrapping_add(k)))
            .map_err(|e| format!("publish: {e}"))?;
    }
    for mut child in children {
        child.expect_ok(Instant::now() + DEADLINE)?;
    }
    Ok(format!(
        "{FRAMES} frames of 0..=56 B in 8 slots across the wrap, 2 subscriber processes"
    ))
}

fn killed_publisher() -> Result<String, String> {
    const KILLS: u32 = 20;
    let (map, options) = ring(Options::new(8 * SLOT).slot_size(SLOT))?;
    let ring = FrameRing::init_with(map.region(), options).map_err(|e| format!("init: {e}"))?;
    // The subscriber stops at the parent's last frame, `b"end"` (wherever
    // the kills leave `tail`).
    let mut rx = ring.subscriber().map_err(|e| format!("subscriber: {e}"))?;
    let mut reader = fork_main(move || {
        let deadline = Instant::now() + DEADLINE;
        let mut buf = [0u8; MAX];
        let mut expected = rx.position();
        loop {
            match rx.try_recv_into(&mut buf) {
                Ok(len) if &buf[..len] == b"end" => return Ok(()),
                Ok(len) if buf[..len] == frame(expected)[..] => {
                    expected = expected.wrapping_add(1);
                }
                Ok(len) => {
                    let msg = format!("frame of {expected}: {len} bytes, torn");
                    return Err(fail(EXIT_CORRUPTED_ITEM, msg));
                }
                Err(CoreError::Lagged(k)) => expected = expected.wrapping_add(k as u32),
                Err(CoreError::Empty) => std::hint::spin_loop(),
                Err(e) => return Err(fail(EXIT_RING_ERROR, format!("receive: {e}"))),
            }
            if Instant::now() > deadline {
                return Err(fail(EXIT_TIMEOUT, format!("stuck at {expected}")));
            }
        }
    })?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut mid_loan = 0;
    for _ in 0..KILLS {
        let mut publisher = fork_main(|| {
            let mut tx = ring
                .publisher()
                .map_err(|e| fail(EXIT_RING_ERROR, format!("publisher: {e}")))?;
            loop {
                let bytes = frame(tx.position());
                let mut loan = tx
                    .loan(bytes.len())
                    .map_err(|e| fail(EXIT_RING_ERROR, format!("loan: {e}")))?;
                // In two halves: a kill may land between them.
                let half = bytes.len() / 2;
                loan.write_at(0, &bytes[..half])
                    .map_err(|e| fail(EXIT_CHECK, e.to_string()))?;
                loan.write_at(half, &bytes[half..])
                    .map_err(|e| fail(EXIT_CHECK, e.to_string()))?;
                loan.publish();
            }
        })?;
        std::thread::sleep(Duration::from_micros(200 + rng.upto(3000)));
        publisher.kill();
        let tail = ring.tail();
        // The slot of `tail` says "being written" if the kill hit a loan.
        let slot = 256 + (tail % 8) as usize * SLOT as usize;
        if map_word(&map, slot) == tail {
            mid_loan += 1;
        }
        // SAFETY: the killed publisher is reaped and never runs again.
        unsafe { ring.release_producer_claim() };
        let mut tx = ring.publisher().map_err(|e| format!("publisher: {e}"))?;
        if tx.position() != tail {
            return Err(format!("resumed at {} for tail {tail}", tx.position()));
        }
        tx.publish(&frame(tail))
            .map_err(|e| format!("publish: {e}"))?;
    }
    ring.publisher()
        .map_err(|e| format!("publisher: {e}"))?
        .publish(b"end")
        .map_err(|e| format!("publish: {e}"))?;
    reader.expect_ok(Instant::now() + DEADLINE)?;
    Ok(format!(
        "{KILLS} publishers killed, {mid_loan} of them inside a loan, taken over"
    ))
}

fn sleeping_members() -> Result<String, String> {
    const FRAMES: u32 = 20_000;
    let options = Options::new(8 * SLOT)
        .slot_size(SLOT)
        .subscribers(2)
        .policy(Policy::Reliable)
        .waking(true);
    let (map, options) = ring(options)?;
    let ring = FrameRing::init_with(map.region(), options).map_err(|e| format!("init: {e}"))?;
    let mut members = Vec::new();
    for _ in 0..2 {
        // Joined before the fork: the parent cannot publish past them.
        let mut rx = ring
            .join_with(Futex::new(), Start::Next)
            .map_err(|e| format!("join: {e}"))?;
        members.push(fork_main(|| {
            let mut buf = [0u8; MAX];
            for p in 0..FRAMES {
                let len = rx
                    .recv_into_timeout(&mut buf, Duration::from_secs(10))
                    .map_err(|e| fail(EXIT_TIMEOUT, format!("recv_into at {p}: {e}")))?;
                if buf[..len] != frame(p)[..] {
                    return Err(fail(EXIT_CORRUPTED_ITEM, format!("frame {p}")));
                }
            }
            Ok(())
        })?);
        // The parent's copy of the member must not free the entry.
        std::mem::forget(rx);
    }
    let mut tx = ring
        .reliable_publisher_with(Futex::new())
        .map_err(|e| format!("publisher: {e}"))?;
    for p in 0..FRAMES {
        tx.publish_timeout(&frame(p), Duration::from_secs(10))
            .map_err(|e| format!("publish {p}: {e}"))?;
    }
    for mut child in members {
        child.expect_ok(Instant::now() + DEADLINE)?;
    }
    Ok(format!(
        "{FRAMES} frames to 2 member processes, both sides asleep on futexes in turn"
    ))
}

/// The `u32` at `offset` of `map`, as a peer sees it.
fn map_word(map: &SharedMapping, offset: usize) -> u32 {
    // SAFETY: in bounds and aligned (the mapping is page-aligned), and every
    // access to the word is atomic.
    let word = unsafe {
        &*map
            .as_ptr()
            .add(offset)
            .cast::<std::sync::atomic::AtomicU32>()
    };
    word.load(std::sync::atomic::Ordering::SeqCst)
}

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: [(&str, Test); 3] = [
        ("lapping publisher", lapping_publisher),
        ("killed publisher", killed_publisher),
        ("sleeping members", sleeping_members),
    ];
    Suite::new().tests(tests).run().exit();
}

//! The SPSC frame ring between two processes: a parent and a `fork()`ed
//! child sharing one anonymous `MAP_SHARED` mapping (`harness = false`: the
//! child of a fork may only do everything if the parent has one thread).
//!
//! Sub-tests:
//! - `spinning stream`: 1 million frames of random length (0 to 8 KiB, most
//!   short), parent producer alternating copying sends and in-place grants,
//!   child consumer alternating copying receives and in-place reads; a
//!   16 KiB data area, so the ring is full, empty and wrapping (positions
//!   start next to `u32::MAX`) all the time. Every frame carries its
//!   sequence number and an FNV-1a checksum of its bytes; the child also
//!   knows each length (both sides draw it from the same generator).
//! - `blocking stream`: the same with 1 million frames through the futex
//!   notifier, blocking `send`/`grant` and `recv`/`read` on both sides.
//! - `dead producer`: a child producer is killed with SIGKILL mid-stream;
//!   every frame it committed is still delivered intact, then the ring is
//!   empty (no hang, no torn frame).

mod support;

use std::sync::atomic::Ordering;
use std::time::Instant;

use ipckit::frame::spsc::{Consumer, Options, Producer, Ring};
use ipckit::futex::Futex;
use ipckit::shm::SharedMapping;
use ipckit::wait::{Notify, Spin};
use ipckit::{CoreError, region};
use support::*;

/// Frames per stream.
const FRAMES: u32 = 1_000_000;
/// Data-area bytes: the largest frame (8 KiB) is half of it less a header.
const CAPACITY: u32 = 16 * 1024;
/// The longest frame the streams send: the largest the ring carries.
const MAX_LEN: usize = 8 * 1024 - 8;
/// Positions start here, so they wrap early in each stream.
const START: u32 = u32::MAX - 4095;
/// The generator seed both sides share for frame lengths.
const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// The length of frame `n` of a stream: mostly short, sometimes up to 8 KiB.
fn next_len(rng: &mut Rng) -> usize {
    let r = rng.next();
    match r % 16 {
        0..=9 => (r >> 8) as usize % 65,
        10..=14 => (r >> 8) as usize % 1025,
        _ => (r >> 8) as usize % (MAX_LEN + 1),
    }
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811C_9DC5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Fills `frame` as frame `seq`: the sequence number in the first 4 bytes,
/// bytes from `fill` in the middle, the checksum of everything before it in
/// the last 4 (for frames of at least 8 bytes; shorter ones are
/// `seq`-derived bytes).
fn build(frame: &mut [u8], seq: u32, fill: &mut Rng) {
    let len = frame.len();
    if len < 8 {
        for (i, b) in frame.iter_mut().enumerate() {
            *b = (seq as u8).wrapping_add(i as u8);
        }
        return;
    }
    frame[..4].copy_from_slice(&seq.to_le_bytes());
    for chunk in frame[4..len - 4].chunks_mut(8) {
        let r = fill.next().to_le_bytes();
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
    let sum = fnv1a(&frame[..len - 4]);
    frame[len - 4..].copy_from_slice(&sum.to_le_bytes());
}

/// Checks that `frame` is frame `seq` of the expected length.
fn verify(frame: &[u8], seq: u32, expected_len: usize) -> Result<(), ChildFail> {
    if frame.len() != expected_len {
        return Err(fail(
            EXIT_CORRUPTED_ITEM,
            format!(
                "frame {seq}: {} bytes, {expected_len} expected",
                frame.len()
            ),
        ));
    }
    let len = frame.len();
    if len < 8 {
        let ok = frame
            .iter()
            .enumerate()
            .all(|(i, &b)| b == (seq as u8).wrapping_add(i as u8));
        return if ok {
            Ok(())
        } else {
            Err(fail(
                EXIT_CORRUPTED_ITEM,
                format!("short frame {seq} corrupted"),
            ))
        };
    }
    let got = u32::from_le_bytes(frame[..4].try_into().unwrap());
    let sum = u32::from_le_bytes(frame[len - 4..].try_into().unwrap());
    if sum != fnv1a(&frame[..len - 4]) {
        return Err(fail(
            EXIT_CORRUPTED_ITEM,
            format!("frame {seq} ({len} bytes) fails its checksum"),
        ));
    }
    if got != seq {
        return Err(fail(
            EXIT_OUT_OF_ORDER,
            format!("frame {got} where {seq} was expected"),
        ));
    }
    Ok(())
}

fn mapping() -> Result<SharedMapping, String> {
    let len = Ring::region_len(CAPACITY).map_err(|_| "bad capacity")?;
    SharedMapping::anonymous(len).map_err(|e| format!("mmap: {e}"))
}

fn ring_fail(what: &str, e: CoreError) -> ChildFail {
    fail(EXIT_RING_ERROR, format!("{what}: {e}"))
}

// ---------------------------------------------------------------------------
// Producer and consumer loops, generic over the notifier: `blocking` uses the
// blocking calls, otherwise the `try_` calls with a backoff.

fn produce<N: Notify>(
    tx: &mut Producer<'_, N>,
    frames: u32,
    blocking: bool,
    child: &mut Option<&mut Child>,
) -> Result<(), String> {
    let mut lens = Rng(SEED);
    let mut fill = Rng(SEED ^ 0xFFFF);
    let mut scratch = vec![0u8; MAX_LEN];
    let mut backoff = Backoff::new();
    for seq in 0..frames {
        let len = next_len(&mut lens);
        let frame = &mut scratch[..len];
        build(frame, seq, &mut fill);
        loop {
            let attempt = if seq % 2 == 0 {
                if blocking {
                    tx.send(frame)
                } else {
                    tx.try_send(frame)
                }
            } else {
                let grant = if blocking {
                    tx.grant(len)
                } else {
                    tx.try_grant(len)
                };
                grant.and_then(|mut g| {
                    // Write in two pieces, tail first, to use `write_at`.
                    g.write_at(len / 2, &frame[len / 2..])?;
                    g.write_at(0, &frame[..len / 2])?;
                    g.commit(len)
                })
            };
            match attempt {
                Ok(()) => {
                    backoff.progress();
                    break;
                }
                Err(CoreError::Full) if !blocking => {
                    if !backoff.idle() {
                        return Err(format!("producer timed out at frame {seq}"));
                    }
                    if let Some(child) = child.as_deref_mut() {
                        if backoff.is_polling_time() {
                            if let Some(exit) = child.try_wait()? {
                                return Err(format!("consumer ended early: {exit}"));
                            }
                        }
                    }
                }
                Err(e) => return Err(format!("send of frame {seq}: {e}")),
            }
        }
    }
    Ok(())
}

fn consume<N: Notify>(
    rx: &mut Consumer<'_, N>,
    frames: u32,
    blocking: bool,
) -> Result<(), ChildFail> {
    let mut lens = Rng(SEED);
    let mut buf = vec![0u8; MAX_LEN];
    let mut backoff = Backoff::new();
    for seq in 0..frames {
        let expected = next_len(&mut lens);
        loop {
            let got = if seq % 3 == 0 {
                let read = if blocking { rx.read() } else { rx.try_read() };
                read.and_then(|frame| {
                    let n = frame.copy_to(&mut buf)?;
                    frame.release();
                    Ok(n)
                })
            } else if blocking {
                rx.recv(&mut buf)
            } else {
                rx.try_recv(&mut buf)
            };
            match got {
                Ok(n) => {
                    verify(&buf[..n], seq, expected)?;
                    backoff.progress();
                    break;
                }
                Err(CoreError::Empty) if !blocking => {
                    if !backoff.idle() {
                        return Err(fail(
                            EXIT_TIMEOUT,
                            format!("no frame {seq} before the deadline"),
                        ));
                    }
                }
                Err(e) => return Err(ring_fail(&format!("receive of frame {seq}"), e)),
            }
        }
    }
    match rx.try_recv(&mut buf) {
        Err(CoreError::Empty) => Ok(()),
        other => Err(fail(EXIT_CHECK, format!("after the last frame: {other:?}"))),
    }
}

fn stream(blocking: bool) -> Result<String, String> {
    let mapping = mapping()?;
    let options = Options::new(CAPACITY).start_at(START).waking(blocking);
    let ring = Ring::init_with(mapping.region(), options).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = fork_child(|| {
        child_main(|| {
            let ring = Ring::attach(mapping.region()).map_err(|e| ring_fail("attach", e))?;
            if blocking {
                let mut rx = ring
                    .consumer_with(Futex::new())
                    .map_err(|e| ring_fail("claim", e))?;
                consume(&mut rx, FRAMES, true)
            } else {
                let mut rx = ring
                    .consumer_with(Spin::new())
                    .map_err(|e| ring_fail("claim", e))?;
                consume(&mut rx, FRAMES, false)
            }
        })
    })?;
    if blocking {
        let mut tx = ring
            .producer_with(Futex::new())
            .map_err(|e| e.to_string())?;
        produce(&mut tx, FRAMES, true, &mut None)?;
    } else {
        let mut tx = ring.producer().map_err(|e| e.to_string())?;
        produce(&mut tx, FRAMES, false, &mut Some(&mut child))?;
    }
    let exit = child.wait(Instant::now() + DEADLINE)?;
    if exit != Exit::Code(EXIT_OK) {
        return Err(format!("consumer: {exit}"));
    }
    let secs = started.elapsed().as_secs_f64();
    let tail = mapping_word(&mapping, 128);
    Ok(format!(
        "{FRAMES} frames in {secs:.2} s ({:.1} M frames/s), tail wrapped to {tail}",
        f64::from(FRAMES) / secs / 1e6
    ))
}

fn mapping_word(mapping: &SharedMapping, offset: usize) -> u32 {
    let region = mapping.region();
    // SAFETY: `offset` is a 4-aligned word of the control block inside the
    // mapping, which outlives the reference; it is only accessed atomically.
    let word = unsafe {
        &*region
            .as_ptr()
            .add(offset)
            .cast::<std::sync::atomic::AtomicU32>()
    };
    word.load(Ordering::Acquire)
}

fn dead_producer() -> Result<String, String> {
    let mapping = mapping()?;
    let options = Options::new(CAPACITY).start_at(START);
    let ring = Ring::init_with(mapping.region(), options).map_err(|e| e.to_string())?;
    let mut rx = ring.consumer().map_err(|e| e.to_string())?;
    let mut child = fork_child(|| {
        child_main(|| {
            let ring = Ring::attach(mapping.region()).map_err(|e| ring_fail("attach", e))?;
            let mut tx = ring.producer().map_err(|e| ring_fail("claim", e))?;
            // Sends forever: the parent kills it at some point.
            produce(&mut tx, u32::MAX, false, &mut None).map_err(|m| fail(EXIT_CHECK, m))?;
            Ok(())
        })
    })?;
    // Receive a while, then kill the producer mid-stream.
    let mut lens = Rng(SEED);
    let mut buf = vec![0u8; MAX_LEN];
    let mut seq = 0u32;
    let mut backoff = Backoff::new();
    let receive = |seq: &mut u32, lens: &mut Rng, buf: &mut [u8]| -> Result<bool, String> {
        match rx.try_recv(buf) {
            Ok(n) => {
                let expected = next_len(lens);
                verify(&buf[..n], *seq, expected).map_err(|f| f.msg)?;
                *seq += 1;
                Ok(true)
            }
            Err(CoreError::Empty) => Ok(false),
            Err(e) => Err(format!("receive after frame {seq}: {e}")),
        }
    };
    let mut receive = receive;
    while seq < 20_000 {
        if receive(&mut seq, &mut lens, &mut buf)? {
            backoff.progress();
        } else {
            if backoff.is_polling_time() {
                if let Some(exit) = child.try_wait()? {
                    return Err(format!("the producer ended early: {exit}"));
                }
            }
            if !backoff.idle() {
                return Err("the producer stalled".into());
            }
        }
    }
    child.kill();
    // Every frame committed before the death is delivered intact.
    let before = seq;
    while receive(&mut seq, &mut lens, &mut buf)? {}
    let tail = mapping_word(&mapping, 128);
    let info = region::inspect(mapping.region()).map_err(|e| e.to_string())?;
    Ok(format!(
        "killed after {before} frames received, {} more delivered intact, then empty (tail {tail}, kind {:?})",
        seq - before,
        info.kind
    ))
}

/// A sub-test: a name, and a body that describes its success or failure.
type SubTest = (&'static str, fn() -> Result<String, String>);

fn main() {
    let tests: [SubTest; 3] = [
        ("spinning stream", || stream(false)),
        ("blocking stream", || stream(true)),
        ("dead producer", dead_producer),
    ];
    Suite::new().tests(tests).run().exit();
}

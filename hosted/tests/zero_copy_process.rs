//! At-least-once delivery of `recv_ref` across real processes, on both
//! byte channels: a child opens the receiver, reads one message with
//! `recv_ref` and releases it (processed), reads the next with `recv_ref`
//! and is SIGKILLed while it holds the frame. The parent takes the
//! receiver role over (`take_over`) and must receive the held message
//! again, then the rest, in order, and never the released one.
//!
//! Then the same at random instants: receiver children, one after the
//! other, take the role over and process messages (`recv_ref`, record the
//! message, work on it for a while, drop the frame) until they are
//! SIGKILLed; at the end the parent takes over and drains the rest. Every
//! message must have been recorded at least once, and no more messages
//! twice than receivers were killed (each death repeats at most the one
//! message it held).
//!
//! Built with `harness = false`; children are `fork()`ed from the
//! single-threaded parent and open the channel by name. Names are
//! `ipckit-test-<pid>-…`, removed by guards; leftovers fail the run.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use ipckit::channel::{FrameRef, bytes, mpsc_bytes};
use support::{Ctx, EXIT_CHECK, Rng, SharedWords, ShmGuard, Suite, fail, fork_main};

const PATIENCE: Duration = Duration::from_secs(10);
const MESSAGES: u64 = 3;

// Shared words.
/// Set by the child once it holds the second message's frame.
const HOLDING: usize = 0;
/// The first 8 bytes of the messages the child read (released, held).
const READ: usize = 1;

/// Message `i`: 8 bytes of its number, then a body that depends on it.
fn message(i: u64) -> Vec<u8> {
    let mut m = i.to_le_bytes().to_vec();
    m.extend((0..100 + i).map(|b| (b as u8) ^ (i as u8)));
    m
}

/// The number a frame starts with.
fn number(frame: &FrameRef<'_>) -> Result<u64, String> {
    let mut n = [0u8; 8];
    frame.read_at(0, &mut n).ctx("read_at")?;
    Ok(u64::from_le_bytes(n))
}

/// The child's part: `recv_ref` reads the first message and drops it, then
/// the second and holds it until it is killed.
fn reader<R>(
    words: &SharedWords,
    open: impl FnOnce() -> ipckit::Result<R>,
    recv_ref: impl for<'r> Fn(&'r mut R) -> ipckit::Result<FrameRef<'r>>,
) -> Result<(), support::ChildFail> {
    let check = |r: Result<u64, String>| r.map_err(|e| fail(EXIT_CHECK, e));
    let mut rx = open().map_err(|e| fail(EXIT_CHECK, format!("open: {e}")))?;
    for i in 0..2 {
        let frame = recv_ref(&mut rx).map_err(|e| fail(EXIT_CHECK, format!("recv_ref: {e}")))?;
        let n = check(number(&frame))?;
        words.word(READ + i).store(n, Ordering::Release);
        if i == 1 {
            words.word(HOLDING).store(1, Ordering::Release);
            loop {
                std::thread::sleep(Duration::from_secs(1)); // until killed
            }
        }
        drop(frame); // processed: released
    }
    Ok(())
}

/// Sends the messages with `send`, forks the reader (opening the receiver
/// with `open`), kills it while it holds the second message, then takes
/// the role over with `take_over` and checks what arrives.
fn killed_holding_a_frame<R>(
    mut send: impl FnMut(&[u8]) -> ipckit::Result<()>,
    open: impl FnOnce() -> ipckit::Result<R>,
    take_over: impl FnOnce() -> ipckit::Result<R>,
    recv_ref: impl for<'r> Fn(&'r mut R) -> ipckit::Result<FrameRef<'r>>,
    sender_id: Option<u32>,
) -> Result<String, String> {
    for i in 0..MESSAGES {
        send(&message(i)).ctx("send")?;
    }
    let words = SharedWords::new();
    let mut child = fork_main(|| reader(&words, open, &recv_ref))?;
    if !words.wait_for(HOLDING, 1, PATIENCE) {
        return Err(format!(
            "the reader never held a frame: {}",
            child.describe()
        ));
    }
    child.kill();
    let read = [READ, READ + 1].map(|w| words.word(w).load(Ordering::Acquire));
    if read != [0, 1] {
        return Err(format!("the reader read messages {read:?}, not [0, 1]"));
    }
    let mut rx = take_over().ctx("take_over")?;
    for i in 1..MESSAGES {
        let frame = recv_ref(&mut rx).ctx("recv_ref after take_over")?;
        let got = number(&frame)?;
        if got != i {
            return Err(format!(
                "after take_over: message {got}, expected {i} (the one the dead reader held)"
            ));
        }
        if frame.to_vec() != message(i) {
            return Err(format!("message {i} arrived changed"));
        }
        if frame.sender_id() != sender_id {
            return Err(format!("sender id {:?}", frame.sender_id()));
        }
    }
    Ok("the held message came again".to_string())
}

fn bytes_receiver_killed_holding_a_frame() -> Result<String, String> {
    let name = ShmGuard::new("zc-bytes");
    let mut tx = bytes::Sender::create(&name.0, 4096).ctx("create")?;
    killed_holding_a_frame(
        |m| tx.send(m),
        || bytes::Receiver::open(&name.0),
        || bytes::Receiver::take_over(&name.0),
        |rx| rx.recv_ref_timeout(PATIENCE),
        None,
    )
}

fn mpsc_bytes_receiver_killed_holding_a_frame() -> Result<String, String> {
    let name = ShmGuard::new("zc-mpsc");
    let tx = mpsc_bytes::Sender::create(&name.0, 4096).ctx("create")?;
    killed_holding_a_frame(
        |m| tx.send(m),
        || mpsc_bytes::Receiver::open(&name.0),
        || mpsc_bytes::Receiver::take_over(&name.0),
        |rx| rx.recv_ref_timeout(PATIENCE),
        Some(std::process::id()),
    )
}

// ---------------------------------------------------------------------------
// Receivers killed at random instants.

/// Messages of the random-kill tests (one shared counter word each).
const MANY: u64 = 400;
/// Receivers killed while they work.
const KILLS: u32 = 25;
/// The shared word counting the deliveries of message `i`.
const fn seen(i: u64) -> usize {
    8 + i as usize
}

/// A receiver child's loop: take message `n` in place, count it, "process"
/// it for ~150 µs while holding the frame, then release it.
fn process_until_killed<R>(
    words: &SharedWords,
    take_over: impl FnOnce() -> ipckit::Result<R>,
    recv_ref: impl for<'r> Fn(&'r mut R) -> ipckit::Result<FrameRef<'r>>,
) -> Result<(), support::ChildFail> {
    let mut rx = take_over().map_err(|e| fail(EXIT_CHECK, format!("take_over: {e}")))?;
    loop {
        let frame = recv_ref(&mut rx).map_err(|e| fail(EXIT_CHECK, format!("recv_ref: {e}")))?;
        let n = number(&frame).map_err(|e| fail(EXIT_CHECK, e))?;
        if n >= MANY {
            return Err(fail(EXIT_CHECK, format!("message {n}")));
        }
        words.word(seen(n)).fetch_add(1, Ordering::AcqRel);
        let until = std::time::Instant::now() + Duration::from_micros(150);
        while std::time::Instant::now() < until {
            std::hint::spin_loop();
        }
        drop(frame);
    }
}

/// Sends `MANY` messages, lets `KILLS` receiver children work and kills
/// each at a random instant, drains the rest, and checks the counts.
fn killed_at_random<R>(
    mut send: impl FnMut(&[u8]) -> ipckit::Result<()>,
    take_over: impl Fn() -> ipckit::Result<R>,
    recv_ref: impl for<'r> Fn(&'r mut R) -> ipckit::Result<FrameRef<'r>>,
) -> Result<String, String> {
    for i in 0..MANY {
        send(&message(i)).ctx("send")?;
    }
    let words = SharedWords::new();
    let mut rng = Rng(0x5EED ^ u64::from(std::process::id()));
    for _ in 0..KILLS {
        let mut child = fork_main(|| process_until_killed(&words, &take_over, &recv_ref))?;
        std::thread::sleep(Duration::from_micros(200 + rng.upto(1500)));
        if let Some(exit) = child.try_wait()? {
            return Err(format!("a receiver ended by itself: {exit}"));
        }
        child.kill();
    }
    let mut rx = take_over().ctx("take_over")?;
    let mut drained = 0;
    loop {
        if drained > MANY + u64::from(KILLS) {
            return Err(format!(
                "the drain delivered {drained} messages and goes on"
            ));
        }
        let frame = match recv_ref(&mut rx) {
            Ok(frame) => frame,
            Err(e) if e.is_timeout() => break,
            Err(e) => return Err(format!("drain: {e}")),
        };
        let n = number(&frame)?;
        if n >= MANY {
            return Err(format!("drained message {n}"));
        }
        words.word(seen(n)).fetch_add(1, Ordering::AcqRel);
        drained += 1;
    }
    let counts: Vec<u64> = (0..MANY)
        .map(|i| words.word(seen(i)).load(Ordering::Acquire))
        .collect();
    if let Some(lost) = counts.iter().position(|&c| c == 0) {
        return Err(format!("message {lost} never arrived (lost)"));
    }
    let twice: u64 = counts.iter().map(|&c| c - 1).sum();
    if twice > u64::from(KILLS) {
        return Err(format!("{twice} deliveries again for {KILLS} deaths"));
    }
    Ok(format!(
        "{KILLS} kills, {twice} messages delivered again, {drained} drained by the parent"
    ))
}

fn bytes_receivers_killed_at_random() -> Result<String, String> {
    let name = ShmGuard::new("zc-bytes-random");
    let mut tx = bytes::Sender::create(&name.0, 1 << 18).ctx("create")?;
    killed_at_random(
        |m| tx.send(m),
        || bytes::Receiver::take_over(&name.0),
        |rx| rx.recv_ref_timeout(Duration::from_millis(200)),
    )
}

fn mpsc_bytes_receivers_killed_at_random() -> Result<String, String> {
    let name = ShmGuard::new("zc-mpsc-random");
    let tx = mpsc_bytes::Sender::create(&name.0, 1 << 18).ctx("create")?;
    killed_at_random(
        |m| tx.send(m),
        || mpsc_bytes::Receiver::take_over(&name.0),
        |rx| rx.recv_ref_timeout(Duration::from_millis(200)),
    )
}

fn main() {
    let tests: [(&str, support::TestFn); 4] = [
        (
            "bytes receivers killed at random",
            bytes_receivers_killed_at_random,
        ),
        (
            "mpsc_bytes receivers killed at random",
            mpsc_bytes_receivers_killed_at_random,
        ),
        (
            "bytes receiver killed holding a frame",
            bytes_receiver_killed_holding_a_frame,
        ),
        (
            "mpsc_bytes receiver killed holding a frame",
            mpsc_bytes_receiver_killed_holding_a_frame,
        ),
    ];
    Suite::new().tests(tests).leftovers_checked().run().exit();
}

//! The shared-memory byte channels ([`channel::bytes`] and
//! [`channel::mpsc_bytes`]) through the message interface
//! ([`MessageSender`]/[`MessageReceiver`], used as `&mut dyn`), across real
//! processes.
//!
//! For each channel: the order and content of 100 000 messages of random
//! lengths (0 and the maximum included) each way between two processes,
//! the maximum-size message and one byte more refused with
//! [`FrameTooLarge`](CoreError::FrameTooLarge) and nothing lost, a sender
//! that dies (its end never closed) and a receiver that dies: [`PeerGone`] within the
//! liveness slice instead of a hang, and cleanup (no object left in
//! `/dev/shm`). `try_`/timeouts/`flush`/a too-small buffer in one process:
//! the message contract (`message_contract.rs`).
//! Every wait has a deadline.
//!
//! A forked child never uses an endpoint it inherited: it opens the channel
//! again by name (the channels' rule for `fork`).
//!
//! `cargo test -p ipckit --test transport_shm [-- <filter>]`.
//!
//! [`channel::bytes`]: ipckit::channel::bytes
//! [`channel::mpsc_bytes`]: ipckit::channel::mpsc_bytes
//! [`PeerGone`]: ipckit::error::Error::PeerGone

mod support;

use std::time::{Duration, Instant};

use ipckit::channel::{bytes, mpsc_bytes};
use ipckit::error::{CoreError, Error};
use ipckit::message::{MessageReceiver, MessageSender};
use support::messages::{check, ferr, fill, receive_sequence, send_sequence, serr};
use support::{ChildFail, DEADLINE, EXIT_CHECK, EXIT_OK, ShmGuard, child_main, fail, fork_child};
use support::{Suite, TestFn};

type TestResult = Result<(), String>;

/// Messages of the order test.
const MESSAGES: u64 = 100_000;
/// The data area of every channel: the largest message is half of it less
/// 8 bytes (16 376).
const CAPACITY: u32 = 32 << 10;
/// How soon a dead peer must be noticed (the liveness slice is 50 ms; this
/// leaves room for a loaded machine).
const NOTICE: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// The two channels, opened as trait objects.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `channel::bytes`: the SPSC frame ring.
    Bytes,
    /// `channel::mpsc_bytes`: the MPSC frame ring.
    Mpsc,
}

type Tx = Box<dyn MessageSender>;
type Rx = Box<dyn MessageReceiver>;

impl Kind {
    fn create_tx(self, name: &str) -> Result<Tx, Error> {
        Ok(match self {
            Kind::Bytes => Box::new(bytes::Sender::create(name, CAPACITY)?),
            Kind::Mpsc => Box::new(mpsc_bytes::Sender::create(name, CAPACITY)?),
        })
    }

    fn open_tx(self, name: &str) -> Result<Tx, Error> {
        Ok(match self {
            Kind::Bytes => Box::new(bytes::Sender::open(name)?),
            Kind::Mpsc => Box::new(mpsc_bytes::Sender::open(name)?),
        })
    }

    fn create_rx(self, name: &str) -> Result<Rx, Error> {
        Ok(match self {
            Kind::Bytes => Box::new(bytes::Receiver::create(name, CAPACITY)?),
            Kind::Mpsc => Box::new(mpsc_bytes::Receiver::create(name, CAPACITY)?),
        })
    }

    fn open_rx(self, name: &str) -> Result<Rx, Error> {
        Ok(match self {
            Kind::Bytes => Box::new(bytes::Receiver::open(name)?),
            Kind::Mpsc => Box::new(mpsc_bytes::Receiver::open(name)?),
        })
    }
}

// ---------------------------------------------------------------------------
// The scenarios, over the traits.

/// Receives the `count` messages of the order test, then expects
/// `PeerGone` (the sender closed).
fn receive_all(rx: &mut dyn MessageReceiver, count: u64) -> Result<(), ChildFail> {
    let max = rx.max_message_len();
    let mut buf = vec![0u8; max];
    receive_sequence(rx, &mut buf, count, max)?;
    match rx.recv_timeout(&mut buf, Some(DEADLINE)) {
        Err(e) if e.is_peer_gone() => Ok(()),
        Ok(n) => Err(fail(EXIT_CHECK, format!("an extra message of {n} bytes"))),
        Err(e) => Err(ferr("at the end", e)),
    }
}

fn send_all(tx: &mut dyn MessageSender, count: u64) -> Result<(), ChildFail> {
    send_sequence(tx, count, tx.max_message_len())?;
    match tx.flush(Some(DEADLINE)) {
        Ok(true) => Ok(()),
        other => Err(fail(EXIT_CHECK, format!("flush: {other:?}"))),
    }
}

/// 100 000 messages from the parent to a child (`parent_sends`) or back,
/// in order and intact, then `PeerGone` at the receiver. The parent
/// creates the channel; the child opens the other end by name.
fn order(kind: Kind, parent_sends: bool) -> TestResult {
    let guard = ShmGuard::new("order");
    let name = guard.0.clone();
    if parent_sends {
        let mut tx = kind.create_tx(&name).map_err(|e| serr("create", e))?;
        let mut child = fork_child(|| {
            child_main(|| {
                let mut rx = kind.open_rx(&name).map_err(|e| ferr("open", e))?;
                receive_all(rx.as_mut(), MESSAGES)
            })
        })?;
        send_all(tx.as_mut(), MESSAGES).map_err(|f| f.msg)?;
        drop(tx);
        child.expect_exit(EXIT_OK)
    } else {
        let mut rx = kind.create_rx(&name).map_err(|e| serr("create", e))?;
        let mut child = fork_child(|| {
            child_main(|| {
                let mut tx = kind.open_tx(&name).map_err(|e| ferr("open", e))?;
                send_all(tx.as_mut(), MESSAGES)
            })
        })?;
        receive_all(rx.as_mut(), MESSAGES).map_err(|f| f.msg)?;
        child.expect_exit(EXIT_OK)
    }
}

/// The maximum-size message (twice, around an empty one), one byte more
/// refused with `FrameTooLarge` before anything is sent, and a message
/// after the refusal: the child receives exactly the four accepted ones.
fn max_size(kind: Kind) -> TestResult {
    let guard = ShmGuard::new("max");
    let name = guard.0.clone();
    let mut tx = kind.create_tx(&name).map_err(|e| serr("create", e))?;
    let max = tx.max_message_len();
    if max != (CAPACITY / 2 - 8) as usize {
        return Err(format!("max_message_len {max}"));
    }
    let mut child = fork_child(|| {
        child_main(|| {
            let mut rx = kind.open_rx(&name).map_err(|e| ferr("open", e))?;
            if rx.max_message_len() != max {
                return Err(fail(EXIT_CHECK, "receiver's max_message_len differs"));
            }
            let mut buf = vec![0u8; max];
            for (i, len) in [(0, max), (1, 0), (2, max), (3, 1)] {
                let n = rx
                    .recv_timeout(&mut buf, Some(DEADLINE))
                    .map_err(|e| ferr("recv", e))?;
                check(&buf[..n], i, len)?;
            }
            match rx.recv_timeout(&mut buf, Some(DEADLINE)) {
                Err(e) if e.is_peer_gone() => Ok(()),
                other => Err(fail(EXIT_CHECK, format!("after the last: {other:?}"))),
            }
        })
    })?;
    let mut buf = Vec::new();
    for (i, len) in [(0, max), (1, 0), (2, max)] {
        fill(&mut buf, i, len);
        tx.send_timeout(&buf, Some(DEADLINE))
            .map_err(|e| serr("send", e))?;
    }
    let big = vec![0u8; max + 1];
    for result in [tx.send(&big), tx.try_send(&big)] {
        match result {
            Err(Error::Core(CoreError::FrameTooLarge { len, max: m }))
                if len as usize == max + 1 && m as usize == max => {}
            other => return Err(format!("oversized send: {other:?}")),
        }
    }
    fill(&mut buf, 3, 1);
    tx.send(&buf).map_err(|e| serr("send after refusal", e))?;
    drop(tx);
    child.expect_exit(EXIT_OK)
}

/// A child sender sends 10 messages and dies without closing its end
/// (`_exit`, no drop): the parent receives the 10, then `PeerGone` within
/// [`NOTICE`] from a blocking receive with no timeout, and again after.
fn sender_dies(kind: Kind) -> TestResult {
    let guard = ShmGuard::new("sender-dies");
    let name = guard.0.clone();
    let mut rx = kind.create_rx(&name).map_err(|e| serr("create", e))?;
    let mut child = fork_child(|| {
        child_main(|| {
            let mut tx = kind.open_tx(&name).map_err(|e| ferr("open", e))?;
            let mut buf = Vec::new();
            for i in 0..10u64 {
                fill(&mut buf, i, i as usize * 100);
                tx.send(&buf).map_err(|e| ferr("send", e))?;
            }
            // Never closed: the child `_exit`s with its slot open, as
            // after a crash.
            std::mem::forget(tx);
            Ok(())
        })
    })?;
    let mut buf = vec![0u8; rx.max_message_len()];
    for i in 0..10u64 {
        let n = rx
            .recv_timeout(&mut buf, Some(DEADLINE))
            .map_err(|e| serr("recv", e))?;
        check(&buf[..n], i, i as usize * 100).map_err(|f| f.msg)?;
    }
    child.expect_exit(EXIT_OK)?;
    let t0 = Instant::now();
    match rx.recv(&mut buf) {
        Err(e) if e.is_peer_gone() => {}
        other => return Err(format!("after the sender died: {other:?}")),
    }
    if t0.elapsed() > NOTICE {
        return Err(format!("PeerGone after {:?}", t0.elapsed()));
    }
    match rx.try_recv(&mut buf) {
        Err(e) if e.is_empty() => {}
        other => return Err(format!("try_recv after PeerGone: {other:?}")),
    }
    match rx.recv_timeout(&mut buf, Some(DEADLINE)) {
        Err(e) if e.is_peer_gone() => Ok(()),
        other => Err(format!("second receive after the death: {other:?}")),
    }
}

/// A child receiver takes 10 messages and dies without closing its end:
/// the parent's blocking sends fill the ring, then fail with `PeerGone`
/// within [`NOTICE`] instead of blocking forever.
fn receiver_dies(kind: Kind) -> TestResult {
    let guard = ShmGuard::new("receiver-dies");
    let name = guard.0.clone();
    let mut tx = kind.create_tx(&name).map_err(|e| serr("create", e))?;
    let mut child = fork_child(|| {
        child_main(|| {
            let mut rx = kind.open_rx(&name).map_err(|e| ferr("open", e))?;
            let mut buf = vec![0u8; rx.max_message_len()];
            for _ in 0..10 {
                rx.recv_timeout(&mut buf, Some(DEADLINE))
                    .map_err(|e| ferr("recv", e))?;
            }
            // Never closed, as in `sender_dies`.
            std::mem::forget(rx);
            Ok(())
        })
    })?;
    let msg = vec![1u8; 1000];
    for _ in 0..10 {
        tx.send_timeout(&msg, Some(DEADLINE))
            .map_err(|e| serr("send", e))?;
    }
    child.expect_exit(EXIT_OK)?;
    let t0 = Instant::now();
    let mut sent = 0u64;
    let gone = loop {
        if t0.elapsed() > NOTICE {
            return Err(format!("still sending after {:?}", t0.elapsed()));
        }
        match tx.send(&msg) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
    };
    if !gone.is_peer_gone() {
        return Err(format!("after {sent} more sends: {gone:?}"));
    }
    if sent == 0 || sent > u64::from(CAPACITY) / 1000 {
        return Err(format!(
            "{sent} sends after the death, a ring's worth expected"
        ));
    }
    Ok(())
}

/// Names are removed: a created channel is in `/dev/shm` until its guard
/// removes it, and opening it then fails.
fn cleanup(kind: Kind) -> TestResult {
    let guard = ShmGuard::new("cleanup");
    let path = std::path::Path::new("/dev/shm").join(&guard.0);
    let tx = kind.create_tx(&guard.0).map_err(|e| serr("create", e))?;
    if !path.exists() {
        return Err(format!("{} missing while open", path.display()));
    }
    drop(tx);
    let name = guard.0.clone();
    drop(guard);
    if path.exists() {
        return Err(format!("{} left behind", path.display()));
    }
    match kind.open_rx(&name) {
        Err(_) => Ok(()),
        Ok(_) => Err("opened a removed channel".into()),
    }
}

// ---------------------------------------------------------------------------

fn bytes_order_to_child() -> TestResult {
    order(Kind::Bytes, true)
}
fn bytes_order_from_child() -> TestResult {
    order(Kind::Bytes, false)
}
fn bytes_max() -> TestResult {
    max_size(Kind::Bytes)
}
fn bytes_sender_dies() -> TestResult {
    sender_dies(Kind::Bytes)
}
fn bytes_receiver_dies() -> TestResult {
    receiver_dies(Kind::Bytes)
}
fn bytes_cleanup() -> TestResult {
    cleanup(Kind::Bytes)
}
fn mpsc_order_to_child() -> TestResult {
    order(Kind::Mpsc, true)
}
fn mpsc_order_from_child() -> TestResult {
    order(Kind::Mpsc, false)
}
fn mpsc_max() -> TestResult {
    max_size(Kind::Mpsc)
}
fn mpsc_sender_dies() -> TestResult {
    sender_dies(Kind::Mpsc)
}
fn mpsc_receiver_dies() -> TestResult {
    receiver_dies(Kind::Mpsc)
}
fn mpsc_cleanup() -> TestResult {
    cleanup(Kind::Mpsc)
}

fn main() {
    let tests: &[(&str, TestFn<()>)] = &[
        ("bytes_order_to_child", bytes_order_to_child),
        ("bytes_order_from_child", bytes_order_from_child),
        ("bytes_max", bytes_max),
        ("bytes_sender_dies", bytes_sender_dies),
        ("bytes_receiver_dies", bytes_receiver_dies),
        ("bytes_cleanup", bytes_cleanup),
        ("mpsc_order_to_child", mpsc_order_to_child),
        ("mpsc_order_from_child", mpsc_order_from_child),
        ("mpsc_max", mpsc_max),
        ("mpsc_sender_dies", mpsc_sender_dies),
        ("mpsc_receiver_dies", mpsc_receiver_dies),
        ("mpsc_cleanup", mpsc_cleanup),
    ];
    Suite::new()
        .tests(tests.iter().copied())
        .leftovers_checked()
        .run()
        .exit();
}

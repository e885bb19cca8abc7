//! The conveniences every channel endpoint has, in one process: timeouts
//! and deadlines. (Across processes: the `channels_process` test.)

use std::time::{Duration, Instant};

use super::{bytes, mpmc, mpsc_bytes, spsc};
use crate::error::{Error, Result};
use crate::shm::Memfd;

/// Short enough for a unit test, long enough to measure.
const WAIT: Duration = Duration::from_millis(30);

/// A fresh memfd for a channel object of `len` bytes, and a second handle
/// on it for the other endpoint.
fn memfds(len: Option<usize>) -> Result<(Memfd, Memfd)> {
    let memfd = Memfd::create("conveniences", len.expect("a capacity the ring takes"))?;
    let other = Memfd::from_fd(memfd.try_clone_fd()?)?;
    Ok((memfd, other))
}

pub(super) fn spsc_pair(capacity: u32) -> Result<(spsc::Sender<u64>, spsc::Receiver<u64>)> {
    let (a, b) = memfds(spsc::Sender::<u64>::object_len(capacity))?;
    Ok((
        spsc::Sender::init_on(a, capacity)?,
        spsc::Receiver::attach(b)?,
    ))
}

pub(super) fn mpmc_pair(capacity: u32) -> Result<(mpmc::Sender<u64>, mpmc::Receiver<u64>)> {
    let (a, b) = memfds(mpmc::Sender::<u64>::object_len(capacity))?;
    Ok((
        mpmc::Sender::init_on(a, capacity)?,
        mpmc::Receiver::attach(b)?,
    ))
}

pub(super) fn bytes_pair(capacity: u32) -> Result<(bytes::Sender, bytes::Receiver)> {
    let (a, b) = memfds(bytes::Sender::object_len(capacity))?;
    Ok((
        bytes::Sender::init_on(a, capacity)?,
        bytes::Receiver::attach(b)?,
    ))
}

pub(super) fn mpsc_bytes_pair(capacity: u32) -> Result<(mpsc_bytes::Sender, mpsc_bytes::Receiver)> {
    let (a, b) = memfds(mpsc_bytes::Sender::object_len(capacity))?;
    Ok((
        mpsc_bytes::Sender::init_on(a, capacity)?,
        mpsc_bytes::Receiver::attach(b)?,
    ))
}

/// `call` times out, after waiting at least [`WAIT`] and not much more.
fn times_out<R: std::fmt::Debug>(what: &str, call: impl FnOnce() -> Result<R>) {
    let start = Instant::now();
    let got = call();
    let took = start.elapsed();
    assert!(matches!(got, Err(Error::TimedOut)), "{what}: {got:?}");
    assert!(
        took >= WAIT,
        "{what}: returned after {took:?}, before {WAIT:?}"
    );
    assert!(took < WAIT * 20, "{what}: returned after {took:?}");
}

/// `call` with a deadline already past times out at once.
fn past_deadline<R: std::fmt::Debug>(what: &str, call: impl FnOnce(Instant) -> Result<R>) {
    let past = Instant::now().checked_sub(Duration::from_secs(1)).unwrap();
    let start = Instant::now();
    let got = call(past);
    assert!(matches!(got, Err(Error::TimedOut)), "{what}: {got:?}");
    assert!(start.elapsed() < Duration::from_secs(1), "{what}");
}

#[test]
fn spsc_timeouts_and_deadlines() -> Result<()> {
    let (mut tx, mut rx) = spsc_pair(2)?;
    times_out("recv_timeout", || rx.recv_timeout(WAIT));
    times_out("recv_deadline", || rx.recv_deadline(Instant::now() + WAIT));
    past_deadline("recv_deadline", |d| rx.recv_deadline(d));
    tx.send_timeout(1, WAIT)?;
    tx.send_deadline(2, Instant::now() + WAIT)?;
    times_out("send_timeout", || tx.send_timeout(3, WAIT));
    times_out("send_deadline", || {
        tx.send_deadline(3, Instant::now() + WAIT)
    });
    past_deadline("send_deadline", |d| tx.send_deadline(3, d));
    assert_eq!(rx.recv_timeout(WAIT)?, 1);
    assert_eq!(rx.recv_deadline(Instant::now() + WAIT)?, 2);
    Ok(())
}

#[test]
fn mpmc_timeouts_and_deadlines() -> Result<()> {
    let (tx, rx) = mpmc_pair(2)?;
    times_out("recv_timeout", || rx.recv_timeout(WAIT));
    times_out("recv_deadline", || rx.recv_deadline(Instant::now() + WAIT));
    past_deadline("recv_deadline", |d| rx.recv_deadline(d));
    tx.send_timeout(1, WAIT)?;
    tx.send_deadline(2, Instant::now() + WAIT)?;
    times_out("send_timeout", || tx.send_timeout(3, WAIT));
    times_out("send_deadline", || {
        tx.send_deadline(3, Instant::now() + WAIT)
    });
    past_deadline("send_deadline", |d| tx.send_deadline(3, d));
    assert_eq!(rx.recv_timeout(WAIT)?, 1);
    assert_eq!(rx.recv_deadline(Instant::now() + WAIT)?, 2);
    Ok(())
}

#[test]
fn bytes_timeouts_and_deadlines() -> Result<()> {
    let (mut tx, mut rx) = bytes_pair(64)?;
    let mut buf = [0u8; 32];
    times_out("recv_timeout", || rx.recv_timeout(&mut buf, WAIT));
    times_out("recv_deadline", || {
        rx.recv_deadline(&mut buf, Instant::now() + WAIT)
    });
    past_deadline("recv_deadline", |d| rx.recv_deadline(&mut buf, d));
    let big = [7u8; 24]; // max_frame_len of 64 bytes: two records fill it
    tx.send_timeout(&big, WAIT)?;
    tx.send_deadline(&big, Instant::now() + WAIT)?;
    times_out("send_timeout", || tx.send_timeout(&big, WAIT));
    times_out("send_deadline", || {
        tx.send_deadline(&big, Instant::now() + WAIT)
    });
    past_deadline("send_deadline", |d| tx.send_deadline(&big, d));
    assert_eq!(rx.recv_deadline(&mut buf, Instant::now() + WAIT)?, 24);
    assert_eq!(rx.recv_timeout(&mut buf, WAIT)?, 24);
    tx.send_deadline(b"x", Instant::now() + WAIT)?;
    assert_eq!(rx.recv_timeout(&mut buf, WAIT)?, 1);
    Ok(())
}

#[test]
fn mpsc_bytes_timeouts_and_deadlines() -> Result<()> {
    let (tx, mut rx) = mpsc_bytes_pair(64)?;
    let mut buf = [0u8; 32];
    times_out("recv_timeout", || rx.recv_timeout(&mut buf, WAIT));
    times_out("recv_deadline", || {
        rx.recv_deadline(&mut buf, Instant::now() + WAIT)
    });
    past_deadline("recv_deadline", |d| rx.recv_deadline(&mut buf, d));
    let big = [7u8; 24];
    tx.send_timeout(&big, WAIT)?;
    tx.send_deadline(&big, Instant::now() + WAIT)?;
    times_out("send_timeout", || tx.send_timeout(&big, WAIT));
    times_out("send_deadline", || {
        tx.send_deadline(&big, Instant::now() + WAIT)
    });
    past_deadline("send_deadline", |d| tx.send_deadline(&big, d));
    times_out("grant_timeout", || tx.grant_timeout(24, WAIT).map(drop));
    times_out("grant_deadline", || {
        tx.grant_deadline(24, Instant::now() + WAIT).map(drop)
    });
    assert_eq!(rx.recv_deadline(&mut buf, Instant::now() + WAIT)?, 24);
    assert_eq!(rx.recv_timeout(&mut buf, WAIT)?, 24);
    tx.send_deadline(b"x", Instant::now() + WAIT)?;
    assert_eq!(rx.recv_timeout(&mut buf, WAIT)?, 1);
    Ok(())
}

#[test]
fn typed_len_is_empty_capacity() -> Result<()> {
    let (mut tx, mut rx) = spsc_pair(4)?;
    assert_eq!((tx.capacity(), rx.capacity()), (4, 4));
    assert!(tx.is_empty() && rx.is_empty() && !tx.is_full());
    tx.send(1)?;
    tx.send(2)?;
    assert_eq!((tx.len(), rx.len()), (2, 2));
    assert!(!tx.is_empty() && !rx.is_empty());
    tx.send(3)?;
    tx.send(4)?;
    assert!(tx.is_full() && rx.is_full());
    rx.recv()?;
    assert_eq!((tx.len(), rx.len()), (3, 3));

    let (tx, rx) = mpmc_pair(4)?;
    assert_eq!((tx.capacity(), rx.capacity()), (4, 4));
    assert!(tx.is_empty() && rx.is_empty() && !rx.is_full());
    for v in 0..4 {
        tx.send(v)?;
    }
    assert_eq!((tx.len(), rx.len()), (4, 4));
    assert!(tx.is_full() && !tx.is_empty());
    rx.recv()?;
    assert_eq!((tx.len(), rx.len()), (3, 3));
    Ok(())
}

#[test]
fn bytes_pending_is_empty_capacity() -> Result<()> {
    let record = crate::frame::record_len(5) as usize;
    let (mut tx, mut rx) = bytes_pair(256)?;
    assert_eq!((tx.capacity(), rx.capacity()), (256, 256));
    assert!(tx.is_empty() && rx.is_empty());
    tx.send(b"hello")?;
    tx.send(b"world")?;
    assert_eq!(
        (tx.pending_bytes(), rx.pending_bytes()),
        (2 * record, 2 * record)
    );
    assert!(!tx.is_empty() && !rx.is_empty());
    let mut buf = [0u8; 8];
    rx.recv(&mut buf)?;
    assert_eq!((tx.pending_bytes(), rx.pending_bytes()), (record, record));

    let (tx, mut rx) = mpsc_bytes_pair(256)?;
    assert_eq!((tx.capacity(), rx.capacity()), (256, 256));
    assert!(tx.is_empty() && rx.is_empty());
    tx.send(b"hello")?;
    tx.send(b"world")?;
    assert_eq!(
        (tx.pending_bytes(), rx.pending_bytes()),
        (2 * record, 2 * record)
    );
    assert!(!tx.is_empty() && !rx.is_empty());
    rx.recv(&mut buf)?;
    rx.recv(&mut buf)?;
    assert!(tx.is_empty() && rx.is_empty());
    Ok(())
}

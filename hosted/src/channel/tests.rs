//! The conveniences every channel endpoint has, in one process: timeouts
//! and deadlines. (Across processes: the `channels_process` test.)

use std::time::{Duration, Instant};

use super::{bytes, mpmc, mpsc_bytes, spsc};
use crate::error::{Error, Result};

/// Short enough for a unit test, long enough to measure.
const WAIT: Duration = Duration::from_millis(30);

/// The two ends of a channel of `capacity` on a memfd.
pub(super) fn spsc_pair(capacity: u32) -> Result<(spsc::Sender<u64>, spsc::Receiver<u64>)> {
    super::spsc().capacity(capacity as usize).pair()
}

pub(super) fn mpmc_pair(capacity: u32) -> Result<(mpmc::Sender<u64>, mpmc::Receiver<u64>)> {
    super::mpmc().capacity(capacity as usize).pair()
}

pub(super) fn bytes_pair(capacity: u32) -> Result<(bytes::Sender, bytes::Receiver)> {
    super::bytes().capacity(capacity as usize).pair()
}

pub(super) fn mpsc_bytes_pair(capacity: u32) -> Result<(mpsc_bytes::Sender, mpsc_bytes::Receiver)> {
    super::mpsc_bytes().capacity(capacity as usize).pair()
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

/// A blocking call that need not wait costs what the core's costs: no
/// clock read (about 50 ns each on a KVM guest, as much as a message),
/// with or without a timeout; one that waits does read it.
#[test]
fn blocking_calls_that_need_not_wait_read_no_clock() -> Result<()> {
    let reads = || crate::futex::CLOCK_READS.with(|n| n.get());
    let (mut tx, mut rx) = spsc_pair(4)?;
    let (mut btx, mut brx) = bytes_pair(256)?;
    let mut buf = [0u8; 8];
    let before = reads();
    tx.send_timeout(1, WAIT)?;
    tx.send(2)?;
    assert_eq!(rx.recv_timeout(WAIT)?, 1);
    assert_eq!(rx.recv()?, 2);
    btx.send_timeout(b"a", WAIT)?;
    btx.send(b"b")?;
    assert_eq!(brx.recv_timeout(&mut buf, WAIT)?, 1);
    assert_eq!(brx.recv(&mut buf)?, 1);
    assert_eq!(reads(), before, "a call that did not wait read the clock");
    times_out("recv_timeout", || rx.recv_timeout(WAIT));
    assert!(reads() > before, "the counter counts");
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

/// Collects the `Ok` items of `iter`, failing the test on an error.
fn items<T>(iter: impl Iterator<Item = Result<T>>) -> Vec<T> {
    iter.collect::<Result<_>>().expect("no error")
}

#[test]
fn spsc_iterators() -> Result<()> {
    let (mut tx, mut rx) = spsc_pair(8)?;
    assert!(rx.try_iter().next().is_none());
    for v in [1, 2, 3] {
        tx.send(v)?;
    }
    let mut now = rx.try_iter();
    assert_eq!(now.next().transpose()?, Some(1));
    assert_eq!(items(now), [2, 3]);
    // A `TryIter` that found nothing looks again on the next call.
    let mut later = rx.try_iter();
    assert!(later.next().is_none());
    tx.send(4)?;
    assert_eq!(later.next().transpose()?, Some(4));
    tx.send(5)?;
    let mut got = Vec::new();
    for v in &mut rx {
        got.push(v?);
        if got == [5] {
            break;
        }
    }
    tx.send(6)?;
    tx.send(7)?;
    drop(tx);
    // Drained, and the sender is gone: the blocking iterator ends (owned).
    assert_eq!(items(rx.into_iter()), [6, 7]);
    Ok(())
}

#[test]
fn mpmc_iterators() -> Result<()> {
    let (tx, rx) = mpmc_pair(8)?;
    for v in [1, 2, 3] {
        tx.send(v)?;
    }
    assert_eq!(items(rx.try_iter()), [1, 2, 3]);
    tx.send(4)?;
    assert_eq!((&rx).into_iter().next().transpose()?, Some(4));
    tx.send(5)?;
    drop(tx);
    assert_eq!(items(rx.iter()), [5]);
    assert!(rx.iter().next().is_none());
    Ok(())
}

#[test]
fn byte_iterators() -> Result<()> {
    let long = vec![9u8; 1000]; // longer than the iterators' first buffer
    let (mut tx, mut rx) = bytes_pair(4096)?;
    tx.send(b"one")?;
    tx.send(&long)?;
    tx.send(b"")?;
    assert_eq!(
        items(rx.try_iter()),
        [b"one".to_vec(), long.clone(), vec![]]
    );
    tx.send(b"two")?;
    drop(tx);
    assert_eq!(items((&mut rx).into_iter()), [b"two".to_vec()]);

    let (tx, rx) = mpsc_bytes_pair(4096)?;
    tx.send(&long)?;
    tx.send(b"three")?;
    drop(tx);
    assert_eq!(items(rx.into_iter()), [long, b"three".to_vec()]);
    Ok(())
}

/// A receiver that replays canned results.
struct Canned(Vec<Result<u32>>);

impl super::iter::source::Source for Canned {
    type Item = u32;
    fn recv_item(&mut self) -> Result<u32> {
        self.0.pop().unwrap_or(Err(Error::Empty))
    }
    fn try_recv_item(&mut self) -> Result<u32> {
        self.recv_item()
    }
}

#[test]
fn iterators_yield_an_error_once_then_end() {
    let corrupted = || Err(crate::CoreError::Corrupted("canned").into());
    let mut iter = super::Iter::new(Canned(vec![Ok(2), corrupted(), Ok(1)]));
    assert!(matches!(iter.next(), Some(Ok(1))));
    assert!(matches!(iter.next(), Some(Err(Error::Core(_)))));
    assert!(iter.next().is_none());
    assert!(iter.next().is_none());
    let mut iter = super::TryIter::new(Canned(vec![Ok(2), corrupted(), Err(Error::Empty), Ok(1)]));
    assert!(matches!(iter.next(), Some(Ok(1))));
    assert!(iter.next().is_none()); // empty now
    assert!(matches!(iter.next(), Some(Err(Error::Core(_)))));
    assert!(iter.next().is_none());
}

#[test]
fn recv_vec_grows_to_the_reported_length() -> Result<()> {
    let mut calls = 0;
    let got = super::iter::recv_vec(|buf| {
        calls += 1;
        match buf.len() {
            n if n < 300 => Err(crate::CoreError::BufferTooSmall { required: 300 }.into()),
            _ => Ok(300),
        }
    })?;
    assert_eq!((got.len(), calls), (300, 2));
    // A length that keeps growing is refused, not chased forever.
    let mut want = 256;
    let refused = super::iter::recv_vec(|_| {
        want += 1;
        Err(crate::CoreError::BufferTooSmall { required: want }.into())
    });
    assert!(matches!(refused, Err(Error::Core(_))));
    Ok(())
}

/// Receives `total` items with `recv_many` into runs of at most `run`,
/// and how many calls it took.
fn drain_many(
    total: usize,
    run: usize,
    mut recv_many: impl FnMut(&mut [u64]) -> Result<usize>,
) -> Result<(Vec<u64>, usize)> {
    let (mut got, mut calls, mut out) = (Vec::new(), 0, vec![0; run]);
    while got.len() < total {
        let n = recv_many(&mut out)?;
        assert!((1..=run).contains(&n), "recv_many returned {n}");
        got.extend_from_slice(&out[..n]);
        calls += 1;
    }
    Ok((got, calls))
}

#[test]
fn spsc_send_many_recv_many() -> Result<()> {
    let (mut tx, mut rx) = spsc_pair(8)?;
    assert_eq!(rx.recv_many(&mut [])?, 0);
    tx.send_many(&[])?;
    // Fits at once: one run each way.
    tx.send_many(&[1, 2, 3, 4, 5])?;
    assert_eq!(tx.len(), 5);
    let mut out = [0; 8];
    assert_eq!(rx.recv_many(&mut out)?, 5);
    assert_eq!(out[..5], [1, 2, 3, 4, 5]);
    // More than the capacity, against a reader in runs of 3.
    let all: Vec<u64> = (0..1000).collect();
    let reader = std::thread::spawn(move || drain_many(1000, 3, |out| rx.recv_many(out)));
    tx.send_many(&all)?;
    drop(tx); // a lost item then ends the reader with `PeerGone`, not a hang
    let (got, calls) = reader.join().unwrap()?;
    assert_eq!(got, all);
    assert!(calls >= 1000 / 3);
    // The receiver gone: `send_many` ends with `PeerGone`, not a hang.
    let (mut tx, rx) = spsc_pair(8)?;
    drop(rx);
    tx.send_many(&all[..8])?;
    assert!(tx.send_many(&[1]).unwrap_err().is_peer_gone());
    Ok(())
}

#[test]
fn mpmc_send_many_recv_many() -> Result<()> {
    let (tx, rx) = mpmc_pair(8)?;
    assert_eq!(rx.recv_many(&mut [])?, 0);
    tx.send_many(&[1, 2, 3])?;
    assert_eq!(tx.len(), 3);
    let mut out = [0; 2];
    assert_eq!(rx.recv_many(&mut out)?, 2);
    assert_eq!(out, [1, 2]);
    assert_eq!(rx.try_recv_slice(&mut out)?, 1);
    assert_eq!(out[0], 3);
    assert!(matches!(rx.try_recv_slice(&mut out), Err(Error::Empty)));
    assert_eq!(tx.try_send_slice(&[0; 20])?, 8);
    assert!(matches!(tx.try_send_slice(&[0]), Err(Error::Full)));
    assert_eq!(rx.recv_many(&mut [0; 20])?, 8);
    let all: Vec<u64> = (0..1000).collect();
    let reader = std::thread::spawn(move || drain_many(1000, 5, |out| rx.recv_many(out)));
    tx.send_many(&all)?;
    drop(tx); // a lost item then ends the reader with `PeerGone`, not a hang
    let (got, _) = reader.join().unwrap()?;
    assert_eq!(got, all);
    let (tx, rx) = mpmc_pair(8)?;
    drop(rx);
    tx.send_many(&all[..8])?;
    assert!(tx.send_many(&[1]).unwrap_err().is_peer_gone());
    Ok(())
}

#[test]
fn recv_many_waits_and_ends_at_peer_gone() -> Result<()> {
    let (mut tx, mut rx) = spsc_pair(8)?;
    let writer = std::thread::spawn(move || {
        std::thread::sleep(WAIT);
        tx.send_many(&[7, 8])
    });
    let mut out = [0; 4];
    let n = rx.recv_many(&mut out)?; // waits for the writer
    assert!(n >= 1 && out[0] == 7);
    writer.join().unwrap()?;
    let rest = if n == 1 { rx.recv_many(&mut out)? } else { 0 };
    assert_eq!(n + rest, 2);
    assert!(rx.recv_many(&mut out).unwrap_err().is_peer_gone());
    Ok(())
}

/// Long enough for a blocked call to look at the peer's liveness twice.
const LOOKS: Duration = Duration::from_millis(150);

#[test]
fn mpmc_clones_keep_the_process_alive_until_the_last_drops() -> Result<()> {
    let (tx, rx) = mpmc_pair(2)?;
    let tx2 = tx.try_clone()?;
    drop(tx);
    // One sender of this process lives: the receiver waits, no `PeerGone`.
    assert!(matches!(rx.recv_timeout(LOOKS), Err(Error::TimedOut)));
    std::thread::spawn(move || tx2.send(5)).join().unwrap()?; // the clone, sent and dropped
    assert_eq!(rx.recv_timeout(LOOKS)?, 5);
    assert!(rx.recv_timeout(LOOKS).unwrap_err().is_peer_gone());

    // The same for receivers, seen by a sender blocked on a full channel.
    let (tx, rx) = mpmc_pair(2)?;
    let rx2 = rx.try_clone()?;
    tx.send_many(&[1, 2])?;
    drop(rx);
    assert!(matches!(tx.send_timeout(3, LOOKS), Err(Error::TimedOut)));
    assert_eq!(rx2.recv()?, 1);
    drop(rx2);
    tx.send(3)?; // room: a send does not look at receivers first
    assert!(tx.send_timeout(4, LOOKS).unwrap_err().is_peer_gone());
    Ok(())
}

#[test]
fn mpsc_bytes_clones_keep_the_process_alive_until_the_last_drops() -> Result<()> {
    let (tx, mut rx) = mpsc_bytes_pair(256)?;
    let tx2 = tx.try_clone()?;
    assert_eq!(tx2.id(), tx.id());
    drop(tx);
    let mut buf = [0u8; 16];
    assert!(matches!(
        rx.recv_timeout(&mut buf, LOOKS),
        Err(Error::TimedOut)
    ));
    std::thread::spawn(move || tx2.send(b"clone"))
        .join()
        .unwrap()?;
    assert_eq!(rx.recv_timeout(&mut buf, LOOKS)?, 5);
    assert!(rx.recv_timeout(&mut buf, LOOKS).unwrap_err().is_peer_gone());
    Ok(())
}

/// `true` for the error of a side whose slots are all held.
fn slots_exhausted(e: &Error) -> bool {
    matches!(e.core(), Some(crate::CoreError::RoleTaken(_)))
}

#[test]
fn running_out_of_slots_is_an_error() -> Result<()> {
    let (tx, _rx) = mpmc_pair(2)?;
    let mut clones = Vec::new();
    let refused = loop {
        match tx.try_clone() {
            Ok(c) => clones.push(c),
            Err(e) => break e,
        }
        assert!(
            clones.len() < super::MAX_ENDPOINTS as usize,
            "more clones than slots"
        );
    };
    assert!(slots_exhausted(&refused), "{refused:?}");
    assert_eq!(clones.len() + 1, super::MAX_ENDPOINTS as usize);
    clones.pop();
    let _again = tx.try_clone()?; // a closed slot is reused

    let (tx, _rx) = mpsc_bytes_pair(256)?;
    let clones: Vec<_> = (1..super::MAX_ENDPOINTS)
        .map(|_| tx.try_clone())
        .collect::<Result<_>>()?;
    let refused = clones[0].try_clone().unwrap_err();
    assert!(slots_exhausted(&refused), "{refused:?}");
    Ok(())
}

/// The inline conversion of the `try_` paths ([`super::flow_error`])
/// answers what `From<CoreError>` answers, for every core error: the flow
/// conditions stay plain (`is_full`, `is_empty`), the rest convert as
/// before.
#[test]
fn flow_error_is_the_conversion() {
    use crate::error::CoreError;
    use ipckit_core::Role;
    let all = [
        CoreError::Full,
        CoreError::Empty,
        CoreError::TimedOut,
        CoreError::Busy,
        CoreError::PeerGone,
        CoreError::InvalidCapacity,
        CoreError::NotInitialized,
        CoreError::RoleTaken(Role::Producer),
        CoreError::Corrupted("test"),
        CoreError::FrameTooLarge { len: 9, max: 8 },
        CoreError::BufferTooSmall { required: 4 },
        CoreError::Lagged(3),
    ];
    for e in all {
        let fast = format!("{:?}", super::flow_error(e));
        let from = format!("{:?}", Error::from(e));
        assert_eq!(fast, from, "{e:?}");
    }
    assert!(super::flow_error(CoreError::Full).is_full());
    assert!(super::flow_error(CoreError::Empty).is_empty());
}

/// The `try_` calls' flow answers on each byte channel, through the
/// inline paths: `Full` from a loan on a full channel, `Empty` from
/// `try_recv_ref` on an empty one, and `PeerGone` from `try_send` /
/// `try_recv` once the peer closed (the closed-peer look builds its error
/// only when it is the answer).
#[test]
fn try_flow_answers() -> Result<()> {
    let (mut tx, mut rx) = bytes_pair(64)?;
    assert!(rx.try_recv_ref().unwrap_err().is_empty());
    while tx.try_send(&[1; 8]).is_ok() {}
    assert!(tx.try_loan(8).unwrap_err().is_full());
    assert!(tx.try_send(&[1; 8]).unwrap_err().is_full());
    drop(rx);
    assert!(tx.try_send(&[1; 8]).unwrap_err().is_peer_gone());
    assert!(tx.try_loan(8).unwrap_err().is_peer_gone());
    let (tx, mut rx) = spsc_pair(4)?;
    assert!(rx.try_recv().unwrap_err().is_empty());
    drop(tx);
    assert!(rx.try_recv().unwrap_err().is_peer_gone());
    let (tx, mut rx) = mpsc_bytes_pair(256)?;
    assert!(rx.try_recv_ref().unwrap_err().is_empty());
    while tx.try_send(&[2; 8]).is_ok() {}
    assert!(tx.try_loan(8).unwrap_err().is_full());
    drop(rx);
    assert!(tx.try_send(&[2; 8]).unwrap_err().is_peer_gone());
    assert!(tx.try_loan(8).unwrap_err().is_peer_gone());
    Ok(())
}

//! The stream and socket transports across real processes: pipes (forked
//! and handed to a spawned child), child-process pipes (popen), FIFOs,
//! Unix stream, seqpacket and datagram sockets (filesystem, abstract and
//! socketpair), TCP.
//!
//! For each: the order and content of 100 000 messages of random lengths
//! (0 and the maximum included), the maximum-size message, a peer that
//! exits (at a frame boundary: `PeerGone`; inside a frame: `Truncated`; a
//! reader gone: the sender's `PeerGone`), an oversized message refused
//! with nothing lost, timeouts with frames larger than the kernel's buffer,
//! and cleanup (no FIFO or socket file left behind). Every wait has a
//! deadline. What every transport keeps in one process (small-message
//! timeouts, a full buffer, a too-small receive buffer, an empty message)
//! is the message contract's (`message_contract.rs`).
//!
//! `cargo test -p ipckit --test transport_streams [-- <filter>]`.
//!
//! The binary is also its own peer for the spawned-child tests: with
//! `IPCKIT_TS_CHILD=<mode>` in its environment it runs that child mode.

mod support;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::time::{Duration, Instant};

use ipckit::error::{CoreError, Error};
use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::transport::fifo::{Fifo, FifoReceiver, FifoSender};
use ipckit::transport::pipe::{PipeReceiver, PipeSender, pipe_with_max};
use ipckit::transport::popen::{Popen, child_stdio};
use ipckit::transport::tcp;
use ipckit::transport::unix::{
    self, Datagram, SeqPacket, SeqPacketListener, UnixAddr, UnixStreamListener,
};
use support::messages::{check, ferr, fill, msg_len, serr};
use support::{
    Backoff, ChildFail, DEADLINE, EXIT_CHECK, EXIT_OK, Rng, child_main, fail, fork_child,
    unique_name,
};
use support::{Suite, TestFn, temp_path};

type TestResult = Result<(), String>;

/// Messages of the order test.
const MESSAGES: u64 = 100_000;
/// The maximum message length of the order tests.
const ORDER_MAX: usize = 16 << 10;
/// The environment variable that selects a child mode.
const CHILD_ENV: &str = "IPCKIT_TS_CHILD";
/// The environment variable that carries an inherited descriptor number.
const FD_ENV: &str = "IPCKIT_TS_FD";

// ---------------------------------------------------------------------------
// The generic scenarios.

/// How a receiver learns that its sender is gone.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// `PeerGone` (streams, seqpacket).
    PeerGone,
    /// Nothing: a datagram receiver waits out its timeout.
    TimesOut,
}

/// Receives `count` messages of the order test (lengths from `seed`) and
/// then checks the end of the stream.
fn receive_all<R: MessageReceiver>(
    rx: &mut R,
    count: u64,
    max: usize,
    end: End,
) -> Result<(), ChildFail> {
    let mut rng = Rng(0x5eed);
    let mut buf = vec![0u8; max];
    for i in 0..count {
        let len = msg_len(&mut rng, i, max);
        let n = rx
            .recv_timeout(&mut buf, Some(DEADLINE))
            .map_err(|e| ferr(&format!("recv {i}"), e))?;
        check(&buf[..n], i, len)?;
    }
    match (
        end,
        rx.recv_timeout(&mut buf, Some(Duration::from_millis(200))),
    ) {
        (End::PeerGone, Err(e)) if e.is_peer_gone() => Ok(()),
        (End::TimesOut, Err(e)) if e.core() == Some(CoreError::TimedOut) => Ok(()),
        (_, Ok(n)) => Err(fail(EXIT_CHECK, format!("an extra message of {n} bytes"))),
        (_, Err(e)) => Err(ferr("at the end", e)),
    }
}

fn send_all<S: MessageSender>(tx: &mut S, count: u64, max: usize) -> TestResult {
    let mut rng = Rng(0x5eed);
    let mut buf = Vec::with_capacity(max);
    for i in 0..count {
        let len = msg_len(&mut rng, i, max);
        fill(&mut buf, i, len);
        tx.send_timeout(&buf, Some(DEADLINE))
            .map_err(|e| serr(&format!("send {i}"), e))?;
    }
    Ok(())
}

/// 100 000 messages from this process to a forked child, in order and
/// intact, then the end of the stream.
fn order<S: MessageSender, R: MessageReceiver>(
    (tx, rx): (S, R),
    max: usize,
    end: End,
) -> TestResult {
    let mut tx = Some(tx);
    let mut rx = Some(rx);
    let mut child = fork_child(|| {
        drop(tx.take());
        let mut rx = rx.take().expect("receiver");
        child_main(|| receive_all(&mut rx, MESSAGES, max, end))
    })?;
    drop(rx);
    let mut tx = tx.take().expect("sender");
    send_all(&mut tx, MESSAGES, max)?;
    drop(tx);
    child.expect_exit(EXIT_OK)
}

/// The maximum-size message (three of them, around an empty one), and one
/// byte more refused with nothing lost.
fn max_size<S: MessageSender, R: MessageReceiver>((tx, rx): (S, R)) -> TestResult {
    let max = tx.max_message_len();
    let mut tx = Some(tx);
    let mut rx = Some(rx);
    let mut child = fork_child(|| {
        drop(tx.take());
        let mut rx = rx.take().expect("receiver");
        child_main(|| {
            let mut buf = vec![0u8; max];
            for (i, len) in [(0, max), (1, 0), (2, max), (3, 1)] {
                let n = rx
                    .recv_timeout(&mut buf, Some(DEADLINE))
                    .map_err(|e| ferr("recv", e))?;
                check(&buf[..n], i, len)?;
            }
            Ok(())
        })
    })?;
    drop(rx);
    let mut tx = tx.take().expect("sender");
    let mut buf = Vec::new();
    for (i, len) in [(0, max), (1, 0), (2, max)] {
        fill(&mut buf, i, len);
        tx.send_timeout(&buf, Some(DEADLINE))
            .map_err(|e| serr("send", e))?;
    }
    let big = vec![0u8; max + 1];
    match tx.send(&big) {
        Err(Error::Core(CoreError::FrameTooLarge { len, max: m }))
            if len as usize == max + 1 && m as usize == max => {}
        other => return Err(format!("oversized send: {other:?}")),
    }
    fill(&mut buf, 3, 1);
    tx.send(&buf).map_err(|e| serr("send after refusal", e))?;
    child.expect_exit(EXIT_OK)
}

/// A forked writer that sends 10 messages and exits, after writing `tail`
/// raw (part of a frame, or nothing): the reader gets the 10 messages, then
/// `expected`.
fn writer_exits<S, R>(
    (tx, rx): (S, R),
    raw_fd: impl Fn(&S) -> BorrowedFd<'_>,
    tail: &[u8],
    expected: fn(&Error) -> bool,
) -> TestResult
where
    S: MessageSender,
    R: MessageReceiver,
{
    let mut rx = rx;
    let mut tx = Some(tx);
    let mut child = fork_child(|| {
        let mut tx = tx.take().expect("sender");
        child_main(|| {
            for i in 0..10u64 {
                let mut buf = Vec::new();
                fill(&mut buf, i, i as usize * 3);
                tx.send(&buf).map_err(|e| ferr("send", e))?;
            }
            if !tail.is_empty() {
                let fd = raw_fd(&tx);
                // SAFETY: a write of a live buffer to a descriptor we hold.
                let n = unsafe { libc::write(fd.as_raw_fd(), tail.as_ptr().cast(), tail.len()) };
                if n != tail.len() as isize {
                    return Err(fail(EXIT_CHECK, "raw write failed"));
                }
            }
            Ok(())
        })
    })?;
    drop(tx);
    let mut buf = vec![0u8; rx.max_message_len().min(1 << 20)];
    for i in 0..10u64 {
        let n = rx
            .recv_timeout(&mut buf, Some(DEADLINE))
            .map_err(|e| serr("recv", e))?;
        check(&buf[..n], i, i as usize * 3).map_err(|f| f.msg)?;
    }
    let e = match rx.recv_timeout(&mut buf, Some(DEADLINE)) {
        Ok(n) => return Err(format!("a message of {n} bytes after the writer left")),
        Err(e) => e,
    };
    if !expected(&e) {
        return Err(format!("after the writer left: {e:?}"));
    }
    // Final: the same again.
    let again = rx.recv_timeout(&mut buf, Some(Duration::ZERO));
    if !again.as_ref().is_err_and(expected) {
        return Err(format!("second call after the end: {again:?}"));
    }
    child.expect_exit(EXIT_OK)
}

fn is_truncated(e: &Error) -> bool {
    matches!(e.core(), Some(CoreError::Truncated { .. }))
}

fn is_gone(e: &Error) -> bool {
    e.is_peer_gone()
}

/// A forked reader that takes 10 messages and exits: the sender gets
/// `PeerGone` (before its deadline) instead of blocking.
fn reader_exits<S: MessageSender, R: MessageReceiver>((tx, rx): (S, R)) -> TestResult {
    let mut tx = Some(tx);
    let mut rx = Some(rx);
    let mut child = fork_child(|| {
        drop(tx.take());
        let mut rx = rx.take().expect("receiver");
        child_main(|| {
            let mut buf = vec![0u8; rx.max_message_len()];
            for _ in 0..10 {
                rx.recv_timeout(&mut buf, Some(DEADLINE))
                    .map_err(|e| ferr("recv", e))?;
            }
            Ok(())
        })
    })?;
    drop(rx);
    let mut tx = tx.take().expect("sender");
    let msg = vec![1u8; 100];
    let until = Instant::now() + DEADLINE;
    let mut sent = 0u64;
    let gone = loop {
        if Instant::now() > until {
            return Err("the sender never saw the reader go".into());
        }
        match tx.send_timeout(&msg, Some(Duration::from_millis(50))) {
            Ok(()) => sent += 1,
            Err(e) if e.core() == Some(CoreError::TimedOut) => {}
            Err(e) => break e,
        }
    };
    if !gone.is_peer_gone() {
        return Err(format!("after {sent} sends: {gone:?}"));
    }
    child.expect_exit(EXIT_OK)
}

/// In one process: a try on an empty receiver is `Empty`, a timed receive
/// `TimedOut` after about its timeout; a full sender gives `Full` and
/// `TimedOut`, and everything accepted before arrives whole and in order.
fn timeouts<S: MessageSender, R: MessageReceiver>(
    (tx, rx): (S, R),
    msg_len: usize,
    flush: impl Fn(&mut S),
) -> TestResult {
    let (mut tx, mut rx) = (tx, rx);
    let mut buf = vec![0u8; rx.max_message_len()];
    match rx.try_recv(&mut buf) {
        Err(e) if e.core() == Some(CoreError::Empty) => {}
        other => return Err(format!("try_recv on empty: {other:?}")),
    }
    let t0 = Instant::now();
    match rx.recv_timeout(&mut buf, Some(Duration::from_millis(50))) {
        Err(e) if e.core() == Some(CoreError::TimedOut) => {}
        other => return Err(format!("recv_timeout on empty: {other:?}")),
    }
    let waited = t0.elapsed();
    if waited < Duration::from_millis(50) || waited > Duration::from_secs(5) {
        return Err(format!("recv_timeout(50 ms) took {waited:?}"));
    }
    // Fill the sender up.
    let mut msg = Vec::new();
    let mut accepted = 0u64;
    loop {
        fill(&mut msg, accepted, msg_len);
        match tx.try_send(&msg) {
            Ok(()) => accepted += 1,
            Err(e) if e.core() == Some(CoreError::Full) => break,
            Err(e) => return Err(serr("try_send", e)),
        }
        if accepted > 10_000_000 {
            return Err("never full".into());
        }
    }
    fill(&mut msg, accepted, msg_len);
    let t0 = Instant::now();
    match tx.send_timeout(&msg, Some(Duration::from_millis(50))) {
        Err(e) if e.core() == Some(CoreError::TimedOut) => {}
        other => return Err(format!("send_timeout on full: {other:?}")),
    }
    if t0.elapsed() < Duration::from_millis(50) {
        return Err(format!("send_timeout(50 ms) took {:?}", t0.elapsed()));
    }
    // Everything accepted arrives (a partly written frame is finished on
    // the next send or flush: push with `try_send` of the next message).
    let mut received = 0u64;
    let until = Instant::now() + DEADLINE;
    let mut next_send = accepted;
    while received < accepted || next_send == accepted {
        if Instant::now() > until {
            return Err(format!("drained {received} of {accepted}"));
        }
        flush(&mut tx);
        if next_send == accepted {
            fill(&mut msg, next_send, msg_len);
            match tx.try_send(&msg) {
                Ok(()) => next_send += 1,
                Err(e) if e.core() == Some(CoreError::Full) => {}
                Err(e) => return Err(serr("try_send while draining", e)),
            }
        }
        match rx.try_recv(&mut buf) {
            Ok(n) => {
                check(&buf[..n], received, msg_len).map_err(|f| f.msg)?;
                received += 1;
            }
            Err(e) if e.core() == Some(CoreError::Empty) => {}
            Err(e) => return Err(serr("try_recv while draining", e)),
        }
    }
    let n = loop {
        flush(&mut tx);
        match rx.recv_timeout(&mut buf, Some(Duration::from_millis(1))) {
            Err(e) if e.core() == Some(CoreError::TimedOut) && Instant::now() < until => {}
            r => break r.map_err(|e| serr("last", e))?,
        }
    };
    check(&buf[..n], accepted, msg_len).map_err(|f| f.msg)
}

// ---------------------------------------------------------------------------
// The transports.

fn pipe(max: usize) -> Result<(PipeSender, PipeReceiver), String> {
    pipe_with_max(max as u32).map_err(|e| serr("pipe", e))
}

/// A FIFO with both ends open (the drop guard goes with the receiver's
/// test: returned separately).
fn fifo(max: usize) -> Result<(Fifo, FifoSender, FifoReceiver), String> {
    let guard = Fifo::create(temp_path("fifo")).map_err(|e| serr("mkfifo", e))?;
    let rx = FifoReceiver::open(guard.path(), max as u32).map_err(|e| serr("open rx", e))?;
    let tx = FifoSender::open(guard.path(), max as u32, Some(Duration::from_secs(5)))
        .map_err(|e| serr("open tx", e))?;
    Ok((guard, tx, rx))
}

type UStream = ipckit::transport::stream::Framed<std::os::unix::net::UnixStream>;

fn unix_stream_pair(max: usize) -> Result<(UStream, UStream), String> {
    unix::stream_pair(max as u32).map_err(|e| serr("socketpair", e))
}

/// A connection through a listener at `addr` (made and accepted here).
fn unix_stream_via(addr: &UnixAddr, max: usize) -> Result<(UStream, UStream), String> {
    let l = UnixStreamListener::bind(addr, max as u32).map_err(|e| serr("bind", e))?;
    let c = unix::connect_stream(addr, max as u32).map_err(|e| serr("connect", e))?;
    let s = l.accept(Some(DEADLINE)).map_err(|e| serr("accept", e))?;
    Ok((c, s))
}

fn seqpacket_via(addr: &UnixAddr, max: usize) -> Result<(SeqPacket, SeqPacket), String> {
    let l = SeqPacketListener::bind(addr, max).map_err(|e| serr("bind", e))?;
    let c = SeqPacket::connect(addr, max).map_err(|e| serr("connect", e))?;
    let s = l.accept(Some(DEADLINE)).map_err(|e| serr("accept", e))?;
    Ok((c, s))
}

fn datagram_via(addr: &UnixAddr, max: usize) -> Result<(Datagram, Datagram), String> {
    let rx = Datagram::bind(addr, max).map_err(|e| serr("bind", e))?;
    let tx = Datagram::connect(addr, max).map_err(|e| serr("connect", e))?;
    Ok((tx, rx))
}

type TStream = ipckit::transport::stream::Framed<std::net::TcpStream>;

fn tcp_pair(max: usize) -> Result<(TStream, TStream), String> {
    let l = tcp::TcpListener::bind("127.0.0.1:0", max as u32).map_err(|e| serr("bind", e))?;
    let addr = l.local_addr().map_err(|e| serr("local_addr", e))?;
    let c = tcp::connect(addr, max as u32, Some(DEADLINE)).map_err(|e| serr("connect", e))?;
    let s = l.accept(Some(DEADLINE)).map_err(|e| serr("accept", e))?;
    Ok((c, s))
}

/// Two framed stream socket pairs as one direction each, for tests that
/// need a sender and a receiver of different values (a `Framed` is both).
fn framed_fd<F: AsFd>(f: &ipckit::transport::stream::Framed<F>) -> BorrowedFd<'_> {
    f.get_ref().as_fd()
}

/// Finishes a partly written frame, without waiting.
fn framed_flush<F: AsFd>(f: &mut ipckit::transport::stream::Framed<F>) {
    let _ = f.flush(Some(Duration::ZERO));
}

/// A frame's start cut short: a prefix for 100 bytes and 10 of them.
const CUT: [u8; 14] = [100, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

fn abstract_addr(what: &str) -> UnixAddr {
    UnixAddr::abstract_name(unique_name(what))
}

// --- pipe
fn pipe_order() -> TestResult {
    order(pipe(ORDER_MAX)?, ORDER_MAX, End::PeerGone)
}
fn pipe_max() -> TestResult {
    max_size(pipe(1 << 20)?)
}
fn pipe_writer_exits() -> TestResult {
    writer_exits(pipe(1024)?, |t| t.as_fd(), &[], is_gone)?;
    writer_exits(pipe(1024)?, |t| t.as_fd(), &CUT, is_truncated)
}
fn pipe_reader_exits() -> TestResult {
    reader_exits(pipe(1024)?)
}
fn pipe_timeouts() -> TestResult {
    let flush = |t: &mut PipeSender| {
        let _ = t.flush(Some(Duration::ZERO));
    };
    // Frames larger than the pipe: accepted in part, finished later (small
    // messages and a small buffer: the message contract).
    timeouts(pipe(1 << 20)?, 100_000, flush)
}
fn pipe_capacity() -> TestResult {
    let (tx, rx) = pipe(1024)?;
    let before = tx.capacity().map_err(|e| serr("capacity", e))?;
    let after = rx
        .set_capacity(1 << 20)
        .map_err(|e| serr("set_capacity", e))?;
    let now = tx.capacity().map_err(|e| serr("capacity", e))?;
    if now != after || after < before {
        return Err(format!("capacity {before} -> {after} (reads {now})"));
    }
    // Beyond pipe-max-size (unprivileged): clamped, not refused.
    let huge = tx.set_capacity(1 << 30);
    if let Ok(n) = huge {
        if n == 0 {
            return Err("set_capacity(1 GiB) gave 0".into());
        }
    }
    Ok(())
}
/// The read end handed to a spawned child (this binary, in mode
/// `pipe_reader`), which checks 100 000 messages.
fn pipe_spawned_child() -> TestResult {
    let (mut tx, rx) = pipe(ORDER_MAX)?;
    let mut cmd = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
    let fd = rx.into_child(&mut cmd).map_err(|e| serr("into_child", e))?;
    cmd.env(CHILD_ENV, "pipe_reader")
        .env(FD_ENV, fd.to_string());
    let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
    drop(cmd); // our duplicate of the read end
    send_all(&mut tx, MESSAGES, ORDER_MAX)?;
    drop(tx);
    let status = wait_std(&mut child)?;
    if status.code() != Some(EXIT_OK) {
        return Err(format!("spawned reader: {status}"));
    }
    Ok(())
}

fn wait_std(child: &mut std::process::Child) -> Result<std::process::ExitStatus, String> {
    let until = Instant::now() + DEADLINE;
    loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(s);
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            return Err("spawned child did not finish; killed".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

// --- FIFO
fn fifo_order() -> TestResult {
    let (guard, tx, rx) = fifo(ORDER_MAX)?;
    order((tx, rx), ORDER_MAX, End::PeerGone)?;
    let path = guard.path().to_path_buf();
    drop(guard);
    if path.exists() {
        return Err(format!("{} left behind", path.display()));
    }
    Ok(())
}
fn fifo_max() -> TestResult {
    let (_guard, tx, rx) = fifo(1 << 20)?;
    max_size((tx, rx))
}
fn fifo_peers_exit() -> TestResult {
    let (_g, tx, rx) = fifo(1024)?;
    writer_exits((tx, rx), |t| t.as_fd(), &[], is_gone)?;
    let (_g, tx, rx) = fifo(1024)?;
    writer_exits((tx, rx), |t| t.as_fd(), &CUT, is_truncated)?;
    let (_g, tx, rx) = fifo(1024)?;
    reader_exits((tx, rx))
}
fn fifo_open_rules() -> TestResult {
    let guard = Fifo::create(temp_path("fifo")).map_err(|e| serr("mkfifo", e))?;
    // A name that exists.
    match Fifo::create(guard.path()) {
        Err(Error::AlreadyExists(_)) => {}
        other => return Err(format!("second mkfifo: {other:?}")),
    }
    // No reader: the sender's open times out instead of blocking.
    let t0 = Instant::now();
    match FifoSender::open(guard.path(), 64, Some(Duration::from_millis(50))) {
        Err(e) if e.core() == Some(CoreError::TimedOut) => {}
        other => return Err(format!("open without reader: {other:?}")),
    }
    if t0.elapsed() > Duration::from_secs(5) {
        return Err("open without reader hung".into());
    }
    // A reader before any writer: waits, no false end.
    let mut rx = FifoReceiver::open(guard.path(), 64).map_err(|e| serr("open rx", e))?;
    let mut buf = [0u8; 64];
    match rx.recv_timeout(&mut buf, Some(Duration::from_millis(30))) {
        Err(e) if e.core() == Some(CoreError::TimedOut) => {}
        other => return Err(format!("recv before any writer: {other:?}")),
    }
    // A writer in another process that opens late.
    let path = guard.path().to_path_buf();
    let mut child = fork_child(|| {
        child_main(|| {
            std::thread::sleep(Duration::from_millis(50));
            let mut tx =
                FifoSender::open(&path, 64, Some(DEADLINE)).map_err(|e| ferr("open", e))?;
            tx.send(b"late").map_err(|e| ferr("send", e))
        })
    })?;
    let n = rx
        .recv_timeout(&mut buf, Some(DEADLINE))
        .map_err(|e| serr("recv", e))?;
    if &buf[..n] != b"late" {
        return Err("wrong message".into());
    }
    child.expect_exit(EXIT_OK)?;
    match rx.recv_timeout(&mut buf, Some(DEADLINE)) {
        Err(e) if e.is_peer_gone() => {}
        other => return Err(format!("after the writer left: {other:?}")),
    }
    // Missing path; explicit unlink.
    match FifoReceiver::open(temp_path("missing"), 64) {
        Err(Error::NotFound(_)) => {}
        other => return Err(format!("open of a missing FIFO: {other:?}")),
    }
    let p = guard.path().to_path_buf();
    guard.unlink().map_err(|e| serr("unlink", e))?;
    if p.exists() {
        return Err("unlink left the FIFO".into());
    }
    Ok(())
}
fn fifo_timeouts() -> TestResult {
    let (_g, tx, rx) = fifo(1 << 20)?;
    timeouts((tx, rx), 5000, |t| {
        let _ = t.flush(Some(Duration::ZERO));
    })
}

// --- Unix stream
fn unix_stream_order() -> TestResult {
    order(unix_stream_pair(ORDER_MAX)?, ORDER_MAX, End::PeerGone)?;
    let path = temp_path("stream.sock");
    order(
        unix_stream_via(&UnixAddr::path(&path), ORDER_MAX)?,
        ORDER_MAX,
        End::PeerGone,
    )?;
    if path.exists() {
        return Err(format!("{} left behind", path.display()));
    }
    order(
        unix_stream_via(&abstract_addr("stream"), ORDER_MAX)?,
        ORDER_MAX,
        End::PeerGone,
    )
}
fn unix_stream_max() -> TestResult {
    max_size(unix_stream_pair(1 << 20)?)
}
fn unix_stream_peers_exit() -> TestResult {
    writer_exits(unix_stream_pair(1024)?, framed_fd, &[], is_gone)?;
    writer_exits(unix_stream_pair(1024)?, framed_fd, &CUT, is_truncated)?;
    reader_exits(unix_stream_pair(1024)?)
}
fn unix_stream_timeouts() -> TestResult {
    // Frames larger than the socket buffer (small messages and a small
    // buffer: the message contract).
    timeouts(unix_stream_pair(1 << 20)?, 300_000, framed_flush)?;
    // A reader with a smaller maximum than its writer refuses the frame,
    // for good.
    let (r, w) = std::os::unix::net::UnixStream::pair().map_err(|e| e.to_string())?;
    let mut tx = ipckit::transport::stream::FramedWriter::new(w, 1024).map_err(|e| serr("w", e))?;
    let mut rx = ipckit::transport::stream::FramedReader::new(r, 16).map_err(|e| serr("r", e))?;
    tx.send(&[0; 17]).map_err(|e| serr("send", e))?;
    let mut buf = [0u8; 1024];
    for _ in 0..2 {
        match rx.recv_timeout(&mut buf, Some(DEADLINE)) {
            Err(Error::Core(CoreError::FrameTooLarge { len: 17, max: 16 })) => {}
            other => return Err(format!("oversized frame received: {other:?}")),
        }
    }
    Ok(())
}
fn unix_credentials_and_fds() -> TestResult {
    let (a, b) = unix_stream_pair(1024)?;
    let mut a = Some(a);
    let mut b = Some(b);
    let mut child = fork_child(|| {
        drop(a.take());
        let b = b.take().expect("end");
        child_main(|| {
            // Hand a memfd over SCM_RIGHTS on the same socket.
            let memfd = ipckit::shm::Memfd::create("ts", 4096).map_err(|e| ferr("memfd", e))?;
            unix::send_fd_timeout(b.get_ref(), memfd.as_fd(), Some(DEADLINE))
                .map_err(|e| ferr("send_fd", e))
        })
    })?;
    let b_pid = child.pid as u32;
    drop(b);
    let a = a.take().expect("end");
    let cred = unix::peer_cred(a.get_ref()).map_err(|e| serr("peer_cred", e))?;
    // A socketpair's credentials are its creator's: this process.
    // SAFETY: plain queries.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if cred.pid != std::process::id() || cred.uid != uid || cred.gid != gid {
        return Err(format!("socketpair credentials {cred:?}"));
    }
    let fd = unix::recv_fd_timeout(a.get_ref(), Some(DEADLINE)).map_err(|e| serr("recv_fd", e))?;
    let memfd = ipckit::shm::Memfd::from_fd(fd).map_err(|e| serr("from_fd", e))?;
    if memfd.len() != 4096 {
        return Err("received memfd of the wrong size".into());
    }
    child.expect_exit(EXIT_OK)?;
    // Through a listener, the credentials are the connecting process's.
    let addr = abstract_addr("cred");
    let l = UnixStreamListener::bind(&addr, 64).map_err(|e| serr("bind", e))?;
    let addr2 = addr.clone();
    let mut child = fork_child(move || {
        child_main(|| {
            let mut c = unix::connect_stream(&addr2, 64).map_err(|e| ferr("connect", e))?;
            let mut buf = [0u8; 8];
            c.recv_timeout(&mut buf, Some(DEADLINE))
                .map(|_| ())
                .map_err(|e| ferr("recv", e))
        })
    })?;
    let mut s = l.accept(Some(DEADLINE)).map_err(|e| serr("accept", e))?;
    let cred = unix::peer_cred(s.get_ref()).map_err(|e| serr("peer_cred", e))?;
    if cred.pid != child.pid as u32 || b_pid == 0 {
        return Err(format!("peer pid {} != child {}", cred.pid, child.pid));
    }
    s.send(b"bye").map_err(|e| serr("send", e))?;
    child.expect_exit(EXIT_OK)
}
fn unix_addresses() -> TestResult {
    let path = temp_path("addr.sock");
    let addr = UnixAddr::path(&path);
    let l = UnixStreamListener::bind(&addr, 64).map_err(|e| serr("bind", e))?;
    match UnixStreamListener::bind(&addr, 64) {
        Err(Error::AlreadyExists(_)) => {}
        other => return Err(format!("second bind: {other:?}")),
    }
    let a = abstract_addr("dup");
    let _l2 = SeqPacketListener::bind(&a, 64).map_err(|e| serr("bind", e))?;
    match SeqPacketListener::bind(&a, 64) {
        Err(Error::AlreadyExists(_)) => {}
        other => return Err(format!("second abstract bind: {other:?}")),
    }
    match unix::connect_stream(&UnixAddr::path(temp_path("nobody.sock")), 64) {
        Err(Error::NotFound(_)) => {}
        other => return Err(format!("connect to nothing: {other:?}")),
    }
    match l.accept(Some(Duration::ZERO)) {
        Err(e) if e.core() == Some(CoreError::Empty) => {}
        other => return Err(format!("accept with nobody: {other:?}")),
    }
    match UnixStreamListener::bind(&UnixAddr::path("x".repeat(200)), 64) {
        Err(Error::InvalidName { .. }) => {}
        other => return Err(format!("long path: {other:?}")),
    }
    // A forked child's copy of the listener leaves the file alone.
    let mut child = fork_child(|| 0)?;
    child.expect_exit(EXIT_OK)?;
    drop(l);
    if path.exists() {
        return Err(format!("{} left behind", path.display()));
    }
    Ok(())
}

// --- seqpacket
fn seqpacket_order() -> TestResult {
    let max = 4096;
    order(
        SeqPacket::pair(max).map_err(|e| serr("pair", e))?,
        max,
        End::PeerGone,
    )?;
    let path = temp_path("seq.sock");
    order(
        seqpacket_via(&UnixAddr::path(&path), max)?,
        max,
        End::PeerGone,
    )?;
    if path.exists() {
        return Err(format!("{} left behind", path.display()));
    }
    Ok(())
}
fn seqpacket_max() -> TestResult {
    max_size(SeqPacket::pair(unix::DEFAULT_MAX_MESSAGE_LEN).map_err(|e| serr("pair", e))?)?;
    // Beyond what the kernel takes: refused locally as too large.
    let (mut a, _b) = SeqPacket::pair(64 << 20).map_err(|e| serr("pair", e))?;
    match a.send(&vec![0u8; 16 << 20]) {
        Err(Error::Core(CoreError::FrameTooLarge { .. })) => Ok(()),
        other => Err(format!("16 MiB seqpacket: {other:?}")),
    }
}
fn seqpacket_peers_exit() -> TestResult {
    let pair = || SeqPacket::pair(1024).map_err(|e| serr("pair", e));
    writer_exits(pair()?, |t| t.as_fd(), &[], is_gone)?;
    reader_exits(pair()?)
}

// --- datagram
fn datagram_order() -> TestResult {
    let max = 4096;
    order(
        Datagram::pair(max).map_err(|e| serr("pair", e))?,
        max,
        End::TimesOut,
    )?;
    let path = temp_path("dgram.sock");
    order(
        datagram_via(&UnixAddr::path(&path), max)?,
        max,
        End::TimesOut,
    )?;
    if path.exists() {
        return Err(format!("{} left behind", path.display()));
    }
    order(
        datagram_via(&abstract_addr("dgram"), max)?,
        max,
        End::TimesOut,
    )
}
fn datagram_max() -> TestResult {
    max_size(Datagram::pair(unix::DEFAULT_MAX_MESSAGE_LEN).map_err(|e| serr("pair", e))?)
}
fn datagram_peers_exit() -> TestResult {
    reader_exits(Datagram::pair(1024).map_err(|e| serr("pair", e))?)?;
    reader_exits(datagram_via(&abstract_addr("dgone"), 1024)?)
}

// --- TCP
fn tcp_order() -> TestResult {
    order(tcp_pair(ORDER_MAX)?, ORDER_MAX, End::PeerGone)
}
fn tcp_max() -> TestResult {
    max_size(tcp_pair(1 << 20)?)
}
fn tcp_peers_exit() -> TestResult {
    writer_exits(tcp_pair(1024)?, framed_fd, &[], is_gone)?;
    writer_exits(tcp_pair(1024)?, framed_fd, &CUT, is_truncated)?;
    reader_exits(tcp_pair(1024)?)
}
/// Timeouts and a small buffer: the message contract.
fn tcp_nodelay() -> TestResult {
    let (c, _s) = tcp_pair(64)?;
    let nodelay = c.get_ref().nodelay().map_err(|e| e.to_string())?;
    if !nodelay {
        return Err("TCP_NODELAY not set".into());
    }
    Ok(())
}

// --- popen
fn self_cmd(mode: &str) -> Result<Command, String> {
    let mut cmd = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
    cmd.env(CHILD_ENV, mode);
    Ok(cmd)
}

/// 100 000 messages to an echoing child and back, pumped without
/// blocking (so neither pipe can fill up both ways), checked on return.
fn popen_order() -> TestResult {
    let mut p =
        Popen::spawn(&mut self_cmd("echo")?, ORDER_MAX as u32).map_err(|e| serr("spawn", e))?;
    let mut send_rng = Rng(0x5eed);
    let mut recv_rng = Rng(0x5eed);
    let (mut sent, mut received) = (0u64, 0u64);
    let mut msg = Vec::new();
    let mut have = false;
    let mut buf = vec![0u8; ORDER_MAX];
    let mut backoff = Backoff::new();
    while received < MESSAGES {
        let mut progress = false;
        if sent < MESSAGES {
            if !have {
                let len = msg_len(&mut send_rng, sent, ORDER_MAX);
                fill(&mut msg, sent, len);
                have = true;
            }
            match p.try_send(&msg) {
                Ok(()) => {
                    sent += 1;
                    have = false;
                    progress = true;
                }
                Err(e) if e.core() == Some(CoreError::Full) => {}
                Err(e) => return Err(serr("try_send", e)),
            }
        }
        match p.try_recv(&mut buf) {
            Ok(n) => {
                let len = msg_len(&mut recv_rng, received, ORDER_MAX);
                check(&buf[..n], received, len).map_err(|f| f.msg)?;
                received += 1;
                progress = true;
            }
            Err(e) if e.core() == Some(CoreError::Empty) => {}
            Err(e) => return Err(serr("try_recv", e)),
        }
        if progress {
            backoff.progress();
        } else if !backoff.idle() {
            return Err(format!("stalled at {sent} sent, {received} received"));
        }
    }
    p.close_stdin().map_err(|e| serr("close_stdin", e))?;
    match p.recv_timeout(&mut buf, Some(DEADLINE)) {
        Err(e) if e.is_peer_gone() => {}
        other => return Err(format!("after the echo: {other:?}")),
    }
    match p
        .wait_timeout(Some(DEADLINE))
        .map_err(|e| serr("wait", e))?
    {
        Some(s) if s.success() => Ok(()),
        other => Err(format!("echo child: {other:?}")),
    }
}
fn popen_max_and_exit_status() -> TestResult {
    let max = 1 << 20;
    let mut p = Popen::spawn(&mut self_cmd("echo")?, max).map_err(|e| serr("spawn", e))?;
    let mut msg = Vec::new();
    fill(&mut msg, 7, max as usize);
    // Send and receive concurrently: 1 MiB does not fit in the pipes.
    let mut buf = vec![0u8; max as usize];
    let mut sent = false;
    let until = Instant::now() + DEADLINE;
    let n = loop {
        if Instant::now() > until {
            return Err("max-size echo stalled".into());
        }
        if !sent {
            match p.try_send(&msg) {
                Ok(()) => sent = true,
                Err(e) if e.core() == Some(CoreError::Full) => {}
                Err(e) => return Err(serr("send", e)),
            }
        } else {
            let _ = p.send_timeout(&[], Some(Duration::ZERO)); // flushes a partial frame
        }
        match p.recv_timeout(&mut buf, Some(Duration::from_millis(1))) {
            Ok(n) => break n,
            Err(e) if e.core() == Some(CoreError::TimedOut) => {}
            Err(e) => return Err(serr("recv", e)),
        }
    };
    check(&buf[..n], 7, max as usize).map_err(|f| f.msg)?;
    match p.send(&vec![0u8; max as usize + 1]) {
        Err(Error::Core(CoreError::FrameTooLarge { .. })) => {}
        other => return Err(format!("oversized: {other:?}")),
    }
    drop(p);
    // Exit status: a child that exits with 7.
    let mut p = Popen::spawn(&mut self_cmd("exit7")?, 64).map_err(|e| serr("spawn", e))?;
    match p
        .wait_timeout(Some(DEADLINE))
        .map_err(|e| serr("wait", e))?
    {
        Some(s) if s.code() == Some(7) => {}
        other => return Err(format!("exit7 child: {other:?}")),
    }
    // Mid-frame end.
    let mut p = Popen::spawn(&mut self_cmd("truncate")?, 1024).map_err(|e| serr("spawn", e))?;
    match p.recv_timeout(&mut buf, Some(DEADLINE)) {
        Err(e) if is_truncated(&e) => {}
        other => return Err(format!("truncating child: {other:?}")),
    }
    Ok(())
}
/// A child that ignores its end of input is killed by the drop after the
/// grace, and reaped: no zombie.
fn popen_drop_policy() -> TestResult {
    let mut p = Popen::spawn(&mut self_cmd("stubborn")?, 64).map_err(|e| serr("spawn", e))?;
    p.set_drop_grace(Duration::from_millis(100));
    let pid = p.pid() as libc::pid_t;
    let t0 = Instant::now();
    drop(p);
    if t0.elapsed() > Duration::from_secs(10) {
        return Err(format!("drop took {:?}", t0.elapsed()));
    }
    // SAFETY: a query of a pid we spawned: reaped, so ECHILD.
    let r = unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
    if r != -1 {
        return Err(format!("child {pid} not reaped by drop (waitpid {r})"));
    }
    // Raw bytes with a program that knows no frames.
    let mut p = Popen::spawn(Command::new("cat").arg("-"), 64).map_err(|e| serr("spawn cat", e))?;
    p.write_raw(b"raw bytes", None)
        .map_err(|e| serr("write_raw", e))?;
    p.close_stdin().map_err(|e| serr("close", e))?;
    let mut out = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        match p
            .read_raw(&mut buf, Some(DEADLINE))
            .map_err(|e| serr("read_raw", e))?
        {
            0 => break,
            n => out.extend_from_slice(&buf[..n]),
        }
    }
    if out != b"raw bytes" {
        return Err(format!("cat said {out:?}"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Child modes (spawned: this binary with IPCKIT_TS_CHILD set).

fn child_mode(mode: &str) -> i32 {
    child_main(|| match mode {
        "echo" => {
            let (mut rx, mut tx) = child_stdio(1 << 20).map_err(|e| ferr("stdio", e))?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                match rx.recv_timeout(&mut buf, Some(DEADLINE)) {
                    Ok(n) => tx
                        .send_timeout(&buf[..n], Some(DEADLINE))
                        .map_err(|e| ferr("echo send", e))?,
                    Err(e) if e.is_peer_gone() => return Ok(()),
                    Err(e) => return Err(ferr("echo recv", e)),
                }
            }
        }
        "exit7" => std::process::exit(7),
        "truncate" => {
            let (_rx, mut tx) = child_stdio(1024).map_err(|e| ferr("stdio", e))?;
            tx.write_raw(&CUT, Some(DEADLINE))
                .map(|_| ())
                .map_err(|e| ferr("write", e))
        }
        "stubborn" => {
            // Ignores the end of its input; only SIGKILL ends it.
            std::thread::sleep(DEADLINE);
            Ok(())
        }
        "pipe_reader" => {
            let fd: i32 = std::env::var(FD_ENV)
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| fail(EXIT_CHECK, "no fd"))?;
            // SAFETY: the parent handed this descriptor to us (into_child)
            // and nothing else in this process owns it.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let mut rx =
                PipeReceiver::from_fd(fd, ORDER_MAX as u32).map_err(|e| ferr("from_fd", e))?;
            receive_all(&mut rx, MESSAGES, ORDER_MAX, End::PeerGone)
        }
        _ => Err(fail(EXIT_CHECK, format!("unknown child mode {mode}"))),
    })
}

// ---------------------------------------------------------------------------

fn main() {
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        std::process::exit(child_mode(&mode));
    }
    let tests: &[(&str, TestFn<()>)] = &[
        ("pipe_order", pipe_order),
        ("pipe_max", pipe_max),
        ("pipe_writer_exits", pipe_writer_exits),
        ("pipe_reader_exits", pipe_reader_exits),
        ("pipe_timeouts", pipe_timeouts),
        ("pipe_capacity", pipe_capacity),
        ("pipe_spawned_child", pipe_spawned_child),
        ("fifo_order", fifo_order),
        ("fifo_max", fifo_max),
        ("fifo_peers_exit", fifo_peers_exit),
        ("fifo_open_rules", fifo_open_rules),
        ("fifo_timeouts", fifo_timeouts),
        ("unix_stream_order", unix_stream_order),
        ("unix_stream_max", unix_stream_max),
        ("unix_stream_peers_exit", unix_stream_peers_exit),
        ("unix_stream_timeouts", unix_stream_timeouts),
        ("unix_credentials_and_fds", unix_credentials_and_fds),
        ("unix_addresses", unix_addresses),
        ("seqpacket_order", seqpacket_order),
        ("seqpacket_max", seqpacket_max),
        ("seqpacket_peers_exit", seqpacket_peers_exit),
        ("datagram_order", datagram_order),
        ("datagram_max", datagram_max),
        ("datagram_peers_exit", datagram_peers_exit),
        ("tcp_order", tcp_order),
        ("tcp_max", tcp_max),
        ("tcp_peers_exit", tcp_peers_exit),
        ("tcp_nodelay", tcp_nodelay),
        ("popen_order", popen_order),
        ("popen_max_and_exit_status", popen_max_and_exit_status),
        ("popen_drop_policy", popen_drop_policy),
    ];
    Suite::new()
        .tests(tests.iter().copied())
        .leftovers_checked()
        .run()
        .exit();
}

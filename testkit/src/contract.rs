//! The contract every [`MessageSender`] / [`MessageReceiver`] pair keeps,
//! written once and run against each transport (in the manner of
//! iceoryx2's communication-channel tests).
//!
//! A [`Transport`] opens a fresh sender and receiver in this process and
//! says what it documents where transports differ (which end learns of the
//! other's drop, whether it
//! is [`bounded`](Transport::bounded), what a too-small buffer costs).
//! [`CASES`] checks, each on a fresh pair:
//!
//! | case | what it checks |
//! |---|---|
//! | round trip | one message arrives as sent |
//! | empty message | a 0-byte message is a message, and the next one keeps its boundary |
//! | order | 3 000 messages of random lengths (0 and the maximum included) in order and intact, sent in bursts up to a full buffer |
//! | max length | both ends agree on `max_message_len`; a message of that length arrives; one byte more is `FrameTooLarge` naming both lengths from `send` and `try_send`, and nothing of it arrives |
//! | timeouts | `try_recv` and a zero timeout are `Empty`, `recv_timeout(t)` is `TimedOut` after `t` and within a bound; on a full buffer `try_send` is `Full` and `send_timeout(t)` `TimedOut` likewise; once drained, `flush` has nothing pending |
//! | full buffer | every message accepted up to `Full` arrives, in order; the transport takes messages again once drained |
//! | small buffer | a receive buffer too small is `BufferTooSmall` with the length needed (the message's, or the mechanism's fixed receive size), and the message stays: `recv_vec` then receives it |
//! | sender gone | the receiver gets what was sent, then `PeerGone` (twice), or `TimedOut` where the transport documents that it cannot tell |
//! | receiver gone | the sender gets `PeerGone` within a buffer's worth of sends, or, where it cannot tell, `TimedOut` once the buffer is full (a log file takes every send) |
//!
//! Every wait is bounded; a case returns `Err` with what it saw.

use std::any::Any;
use std::time::{Duration, Instant};

use ipckit::error::{CoreError, Error};
use ipckit::message::{MessageReceiver, MessageSender};

use crate::messages::{Rng, check, fill, msg_len};

/// A sender and a receiver of one transport, connected to each other.
pub struct Pair {
    /// The sending end.
    pub tx: Box<dyn MessageSender>,
    /// The receiving end.
    pub rx: Box<dyn MessageReceiver>,
    /// Whatever must outlive the ends (name guards, a listener); dropped
    /// after them.
    pub keep: Box<dyn Any>,
}

/// One transport under the contract.
pub struct Transport {
    /// Its name in test names: `<name>: <case>`.
    pub name: &'static str,
    /// Opens a fresh, connected pair.
    pub open: fn() -> Result<Pair, String>,
    /// `true` if a receiver gets `PeerGone` once it has everything a
    /// dropped sender sent; `false` where it cannot tell (message queues
    /// that outlive their users, a log file, a datagram socket) and times
    /// out instead.
    pub receiver_sees_sender_gone: bool,
    /// `true` if a sender gets `PeerGone` within a buffer's worth of sends
    /// after the receiver's drop; `false` where it cannot tell, and its
    /// sends are taken until the buffer is full (then `TimedOut`).
    pub sender_sees_receiver_gone: bool,
    /// `true` if the transport fills up (`Full` from `try_send`); a log
    /// file grows instead.
    pub bounded: bool,
    /// `true` if the mechanism receives only into a buffer of
    /// `max_message_len` (`mq_receive`, `msgrcv`): `BufferTooSmall` then
    /// names that length, not the message's.
    pub fixed_receive_size: bool,
}

impl Transport {
    /// A transport with the contract's defaults: each end sees the other's
    /// drop, it fills up, and a too-small buffer is answered with the
    /// message's length.
    pub const fn new(name: &'static str, open: fn() -> Result<Pair, String>) -> Self {
        Self {
            name,
            open,
            receiver_sees_sender_gone: true,
            sender_sees_receiver_gone: true,
            bounded: true,
            fixed_receive_size: false,
        }
    }

    /// Neither end can tell that the other is gone.
    pub const fn ends_unaware(self) -> Self {
        Self {
            receiver_sees_sender_gone: false,
            sender_sees_receiver_gone: false,
            ..self
        }
    }

    /// The receiver cannot tell that the sender is gone.
    pub const fn receiver_unaware(self) -> Self {
        Self {
            receiver_sees_sender_gone: false,
            ..self
        }
    }

    /// It never fills up.
    pub const fn unbounded(self) -> Self {
        Self {
            bounded: false,
            ..self
        }
    }

    /// It receives only into a buffer of `max_message_len`.
    pub const fn fixed_receive_size(self) -> Self {
        Self {
            fixed_receive_size: true,
            ..self
        }
    }
}

/// What a call answered, in the terms of the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Success (a received length, or 0 for a send).
    Ok(usize),
    /// `Full`.
    Full,
    /// `Empty`.
    Empty,
    /// `TimedOut`.
    TimedOut,
    /// The peer is gone.
    PeerGone,
    /// `FrameTooLarge`: the message's length and the maximum.
    TooLarge {
        /// The refused message's length.
        len: usize,
        /// The maximum the error names.
        max: usize,
    },
    /// `BufferTooSmall` with the length needed.
    TooSmall(usize),
    /// Any other error.
    Other(String),
}

/// Classifies a result: the one place that knows the error's shape.
pub fn answer<T: Into<usize>>(result: Result<T, Error>) -> Answer {
    match result {
        Ok(n) => Answer::Ok(n.into()),
        Err(e) if e.is_peer_gone() => Answer::PeerGone,
        Err(e) if e.is_full() => Answer::Full,
        Err(e) if e.is_empty() => Answer::Empty,
        Err(e) if e.is_timeout() => Answer::TimedOut,
        Err(e) => match e.core() {
            Some(CoreError::FrameTooLarge { len, max }) => Answer::TooLarge {
                len: len as usize,
                max: max as usize,
            },
            Some(CoreError::BufferTooSmall { required }) => Answer::TooSmall(required),
            _ => Answer::Other(e.to_string()),
        },
    }
}

/// A send's [`Answer`].
fn sent(result: Result<(), Error>) -> Answer {
    answer(result.map(|()| 0usize))
}

/// The longest any step of a case waits before it calls the transport stuck.
const STEP: Duration = Duration::from_secs(10);
/// The timeout of the timed calls that must time out.
const SHORT: Duration = Duration::from_millis(80);
/// How late past [`SHORT`] a timed call may return.
const SLACK: Duration = Duration::from_secs(2);

/// A case of the contract.
pub type Case = fn(&Transport) -> Result<(), String>;

/// Every case, by name.
pub const CASES: &[(&str, Case)] = &[
    ("round trip", round_trip),
    ("empty message", empty_message),
    ("order", order),
    ("max length", max_length),
    ("timeouts", timeouts),
    ("full buffer", full_buffer),
    ("small buffer", small_buffer),
    ("sender gone", sender_gone),
    ("receiver gone", receiver_gone),
];

/// The receive buffer for a pair: the longest message.
fn buffer(p: &Pair) -> Vec<u8> {
    vec![0; p.rx.max_message_len()]
}

/// Receives message `i` of `len` bytes, waiting at most [`STEP`].
fn expect_msg(
    rx: &mut dyn MessageReceiver,
    buf: &mut [u8],
    i: u64,
    len: usize,
) -> Result<(), String> {
    match answer(rx.recv_timeout(buf, Some(STEP))) {
        Answer::Ok(n) => check(&buf[..n], i, len).map_err(|f| f.msg),
        other => Err(format!("receiving message {i}: {other:?}")),
    }
}

/// Sends message `i` of `len` bytes, waiting at most [`STEP`].
fn send_msg(tx: &mut dyn MessageSender, i: u64, len: usize) -> Result<(), String> {
    let mut msg = Vec::new();
    fill(&mut msg, i, len);
    match sent(tx.send_timeout(&msg, Some(STEP))) {
        Answer::Ok(_) => Ok(()),
        other => Err(format!("sending message {i} ({len} bytes): {other:?}")),
    }
}

/// Expects `Empty` from a receive that must not wait.
fn expect_empty(rx: &mut dyn MessageReceiver, buf: &mut [u8], when: &str) -> Result<(), String> {
    match answer(rx.try_recv(buf)) {
        Answer::Empty => Ok(()),
        other => Err(format!("try_recv {when}: {other:?}, Empty expected")),
    }
}

fn round_trip(t: &Transport) -> Result<(), String> {
    let mut p = (t.open)()?;
    let mut buf = buffer(&p);
    send_msg(p.tx.as_mut(), 7, 40)?;
    expect_msg(p.rx.as_mut(), &mut buf, 7, 40)?;
    expect_empty(p.rx.as_mut(), &mut buf, "after the one message")
}

fn empty_message(t: &Transport) -> Result<(), String> {
    let mut p = (t.open)()?;
    let mut buf = buffer(&p);
    send_msg(p.tx.as_mut(), 0, 0)?;
    send_msg(p.tx.as_mut(), 1, 5)?;
    expect_msg(p.rx.as_mut(), &mut buf, 0, 0)?;
    expect_msg(p.rx.as_mut(), &mut buf, 1, 5)?;
    expect_empty(p.rx.as_mut(), &mut buf, "after both")
}

/// Receives everything sent and not yet received (`*next..sent`), with
/// lengths from `lens`, letting a stream sender push out what it held back.
fn drain(p: &mut Pair, buf: &mut [u8], lens: &[usize], next: &mut u64) -> Result<(), String> {
    let until = Instant::now() + STEP;
    while (*next as usize) < lens.len() {
        match answer(p.rx.try_recv(buf)) {
            Answer::Ok(n) => {
                check(&buf[..n], *next, lens[*next as usize]).map_err(|f| f.msg)?;
                *next += 1;
            }
            Answer::Empty => {
                p.tx.flush(Some(Duration::ZERO))
                    .map_err(|e| format!("flush: {e}"))?;
                if Instant::now() > until {
                    return Err(format!("message {} of {} never arrived", next, lens.len()));
                }
            }
            other => return Err(format!("receiving message {next}: {other:?}")),
        }
    }
    Ok(())
}

fn order(t: &Transport) -> Result<(), String> {
    const MESSAGES: u64 = 3_000;
    let mut p = (t.open)()?;
    let mut buf = buffer(&p);
    let max = p.tx.max_message_len().min(buf.len());
    let mut rng = Rng(0x00c0_ffee);
    let mut lens = Vec::new();
    let mut msg = Vec::new();
    let mut next = 0;
    while (lens.len() as u64) < MESSAGES {
        // A burst: up to 64 messages, or fewer where the buffer fills.
        let burst = rng.upto(64);
        for _ in 0..burst {
            let i = lens.len() as u64;
            if i == MESSAGES {
                break;
            }
            let len = msg_len(&mut rng, i, max);
            fill(&mut msg, i, len);
            match sent(p.tx.try_send(&msg)) {
                Answer::Ok(_) => lens.push(len),
                // Not sent: the number is sent again after the drain.
                Answer::Full => break,
                other => return Err(format!("try_send of message {i}: {other:?}")),
            }
        }
        drain(&mut p, &mut buf, &lens, &mut next)?;
    }
    expect_empty(p.rx.as_mut(), &mut buf, "after every message")
}

fn max_length(t: &Transport) -> Result<(), String> {
    let mut p = (t.open)()?;
    let max = p.tx.max_message_len();
    if p.rx.max_message_len() != max {
        return Err(format!(
            "max_message_len: sender {max}, receiver {}",
            p.rx.max_message_len()
        ));
    }
    let mut buf = buffer(&p);
    send_msg(p.tx.as_mut(), 0, max)?;
    expect_msg(p.rx.as_mut(), &mut buf, 0, max)?;
    let big = vec![0x5a; max + 1];
    for (form, result) in [("send", p.tx.send(&big)), ("try_send", p.tx.try_send(&big))] {
        // The error names both lengths.
        match sent(result) {
            Answer::TooLarge { len, max: m } if len == max + 1 && m == max => {}
            other => return Err(format!("{form} of {} bytes: {other:?}", max + 1)),
        }
    }
    send_msg(p.tx.as_mut(), 1, 1)?;
    expect_msg(p.rx.as_mut(), &mut buf, 1, 1)?;
    expect_empty(p.rx.as_mut(), &mut buf, "after the refused message")
}

/// Checks that `call` answers `TimedOut` after [`SHORT`], within [`SLACK`].
fn times_out(what: &str, call: impl FnOnce(Option<Duration>) -> Answer) -> Result<(), String> {
    let t0 = Instant::now();
    let got = call(Some(SHORT));
    let took = t0.elapsed();
    if got != Answer::TimedOut {
        return Err(format!("{what}({SHORT:?}): {got:?}, TimedOut expected"));
    }
    if took < SHORT || took > SHORT + SLACK {
        return Err(format!("{what}({SHORT:?}) returned after {took:?}"));
    }
    Ok(())
}

/// Sends 300-byte messages with `try_send` until `Full`; returns their
/// lengths. Fails if the transport takes 100 000 without filling.
fn fill_up(p: &mut Pair) -> Result<Vec<usize>, String> {
    let mut msg = Vec::new();
    let mut lens = Vec::new();
    loop {
        let i = lens.len() as u64;
        fill(&mut msg, i, 300);
        match sent(p.tx.try_send(&msg)) {
            Answer::Ok(_) => lens.push(300),
            Answer::Full => return Ok(lens),
            other => return Err(format!("try_send of message {i}: {other:?}")),
        }
        if lens.len() > 100_000 {
            return Err("100 000 messages and never Full".into());
        }
    }
}

fn timeouts(t: &Transport) -> Result<(), String> {
    let mut p = (t.open)()?;
    let mut buf = buffer(&p);
    expect_empty(p.rx.as_mut(), &mut buf, "on empty")?;
    match answer(p.rx.recv_timeout(&mut buf, Some(Duration::ZERO))) {
        Answer::Empty => {}
        other => {
            return Err(format!(
                "recv_timeout(ZERO) on empty: {other:?}, Empty expected"
            ));
        }
    }
    times_out("recv_timeout", |d| answer(p.rx.recv_timeout(&mut buf, d)))?;
    if t.bounded {
        let lens = fill_up(&mut p)?;
        let msg = vec![1; 300];
        times_out("send_timeout on full", |d| sent(p.tx.send_timeout(&msg, d)))?;
        let mut next = 0;
        drain(&mut p, &mut buf, &lens, &mut next)?;
        // Everything arrived, so nothing is held back any more.
        match p.tx.flush(Some(Duration::ZERO)) {
            Ok(true) => {}
            other => {
                return Err(format!(
                    "flush after draining: {other:?}, Ok(true) expected"
                ));
            }
        }
    }
    Ok(())
}

fn full_buffer(t: &Transport) -> Result<(), String> {
    if !t.bounded {
        return Ok(());
    }
    let mut p = (t.open)()?;
    let mut buf = buffer(&p);
    let mut lens = fill_up(&mut p)?;
    if lens.is_empty() {
        return Err("Full before the first message".into());
    }
    let mut next = 0;
    drain(&mut p, &mut buf, &lens, &mut next)?;
    // Drained: the transport takes messages again.
    let i = lens.len() as u64;
    let mut msg = Vec::new();
    fill(&mut msg, i, 300);
    match sent(p.tx.try_send(&msg)) {
        Answer::Ok(_) => lens.push(300),
        other => return Err(format!("try_send after draining: {other:?}")),
    }
    drain(&mut p, &mut buf, &lens, &mut next)?;
    expect_empty(p.rx.as_mut(), &mut buf, "after the last")
}

fn small_buffer(t: &Transport) -> Result<(), String> {
    let mut p = (t.open)()?;
    let mut buf = buffer(&p);
    send_msg(p.tx.as_mut(), 0, 300)?;
    send_msg(p.tx.as_mut(), 1, 20)?;
    p.tx.flush(Some(STEP)).map_err(|e| format!("flush: {e}"))?;
    let mut small = [0u8; 10];
    let until = Instant::now() + STEP;
    let required = match t.fixed_receive_size {
        true => p.rx.max_message_len(),
        false => 300,
    };
    loop {
        match answer(p.rx.try_recv(&mut small)) {
            Answer::TooSmall(n) if n == required => break,
            Answer::Empty if Instant::now() < until => {}
            other => {
                return Err(format!(
                    "10-byte buffer for 300 bytes: {other:?}, TooSmall({required}) expected"
                ));
            }
        }
    }
    // The message stayed. `recv_vec` sizes its buffer by the maximum and
    // grows it on `BufferTooSmall`.
    let v = p.rx.recv_vec().map_err(|e| format!("recv_vec: {e}"))?;
    check(&v, 0, 300).map_err(|f| f.msg)?;
    expect_msg(p.rx.as_mut(), &mut buf, 1, 20)
}

fn sender_gone(t: &Transport) -> Result<(), String> {
    let Pair {
        mut tx,
        mut rx,
        keep,
    } = (t.open)()?;
    let mut buf = vec![0; rx.max_message_len()];
    send_msg(tx.as_mut(), 0, 10)?;
    send_msg(tx.as_mut(), 1, 0)?;
    drop(tx);
    expect_msg(rx.as_mut(), &mut buf, 0, 10)?;
    expect_msg(rx.as_mut(), &mut buf, 1, 0)?;
    let expected = match t.receiver_sees_sender_gone {
        true => Answer::PeerGone,
        false => Answer::TimedOut,
    };
    for attempt in ["first", "second"] {
        let got = answer(rx.recv_timeout(&mut buf, Some(SHORT)));
        if got != expected {
            return Err(format!(
                "{attempt} receive after the sender's drop: {got:?}, {expected:?} expected"
            ));
        }
    }
    drop((rx, keep));
    Ok(())
}

fn receiver_gone(t: &Transport) -> Result<(), String> {
    let Pair { mut tx, rx, keep } = (t.open)()?;
    drop(rx);
    let msg = vec![3; 300];
    if !t.bounded && !t.sender_sees_receiver_gone {
        // Nothing fills up and nothing tells: every send is taken.
        for i in 0..100 {
            match sent(tx.send_timeout(&msg, Some(SHORT))) {
                Answer::Ok(_) => {}
                other => return Err(format!("send {i} after the receiver's drop: {other:?}")),
            }
        }
        return Ok(());
    }
    let until = Instant::now() + STEP;
    let mut accepted = 0u64;
    let end = loop {
        match sent(tx.send_timeout(&msg, Some(SHORT))) {
            Answer::Ok(_) => accepted += 1,
            other => break other,
        }
        if Instant::now() > until || accepted > 100_000 {
            return Err(format!(
                "{accepted} sends accepted after the receiver's drop"
            ));
        }
    };
    let expected = match t.sender_sees_receiver_gone {
        true => Answer::PeerGone,
        false => Answer::TimedOut,
    };
    if end != expected {
        return Err(format!(
            "after {accepted} accepted sends: {end:?}, {expected:?} expected"
        ));
    }
    drop((tx, keep));
    Ok(())
}

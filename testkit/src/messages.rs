//! Messages of the order tests of the transports and of the contract
//! suite: random lengths, 0 and the maximum included, each byte derived
//! from the message's number and position, so a lost, repeated, reordered
//! or corrupted message is found at the first byte that differs.

use crate::process::{
    ChildFail, EXIT_CORRUPTED_ITEM, EXIT_OUT_OF_ORDER, EXIT_RING_ERROR, EXIT_TIMEOUT, fail,
};
use ipckit::error::Error;
use ipckit::message::{MessageReceiver, MessageSender};

use crate::process::DEADLINE;

/// xorshift64*: a deterministic stream of lengths and batch sizes.
pub struct Rng(pub u64);

impl Rng {
    /// The next number. (Not an `Iterator`: the stream never ends, and
    /// the tests call `next` and `upto` alternately.)
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `1..=max` (`max >= 1`).
    pub fn upto(&mut self, max: u64) -> u64 {
        1 + self.next() % max
    }
}

/// The length of message `i` (of at most `max`): 0 and `max` regularly,
/// else mostly short with some long.
pub fn msg_len(rng: &mut Rng, i: u64, max: usize) -> usize {
    match i % 1000 {
        0 => max,
        1 => 0,
        _ => match rng.next() % 16 {
            0 => (rng.next() % (max as u64 + 1)) as usize,
            _ => (rng.next() % 257).min(max as u64) as usize,
        },
    }
}

/// The byte at `j` of message `i`.
pub fn byte(i: u64, j: usize) -> u8 {
    (i.wrapping_mul(131) as usize ^ j.wrapping_mul(7)) as u8
}

/// Message `i` of `len` bytes, in `buf`.
pub fn fill(buf: &mut Vec<u8>, i: u64, len: usize) {
    buf.clear();
    buf.extend((0..len).map(|j| byte(i, j)));
}

/// Checks that `buf` is message `i` of `expected_len` bytes.
pub fn check(buf: &[u8], i: u64, expected_len: usize) -> Result<(), ChildFail> {
    if buf.len() != expected_len {
        return Err(fail(
            EXIT_OUT_OF_ORDER,
            format!("message {i}: {} bytes, {expected_len} expected", buf.len()),
        ));
    }
    if let Some(j) = (0..buf.len()).find(|&j| buf[j] != byte(i, j)) {
        return Err(fail(
            EXIT_CORRUPTED_ITEM,
            format!("message {i}: byte {j} is {}", buf[j]),
        ));
    }
    Ok(())
}

/// A child's error for an unexpected transport or channel result:
/// [`EXIT_TIMEOUT`] for a timeout, else [`EXIT_RING_ERROR`].
pub fn ferr(what: &str, e: Error) -> ChildFail {
    let code = if e.is_timeout() {
        EXIT_TIMEOUT
    } else {
        EXIT_RING_ERROR
    };
    fail(code, format!("{what}: {e}"))
}

/// The parent's error for an unexpected transport result.
pub fn serr(what: &str, e: Error) -> String {
    format!("{what}: {e}")
}

/// The seed of [`msg_len`]'s lengths in the order tests: sender and
/// receiver draw the same lengths.
pub const ORDER_SEED: u64 = 0x5eed;

/// Sends messages `0..count` of the order tests (lengths of at most `max`
/// from [`ORDER_SEED`]), each send waiting at most [`DEADLINE`].
pub fn send_sequence<S: MessageSender + ?Sized>(
    tx: &mut S,
    count: u64,
    max: usize,
) -> Result<(), ChildFail> {
    let mut rng = Rng(ORDER_SEED);
    let mut buf = Vec::with_capacity(max);
    for i in 0..count {
        let len = msg_len(&mut rng, i, max);
        fill(&mut buf, i, len);
        tx.send_timeout(&buf, Some(DEADLINE))
            .map_err(|e| ferr(&format!("send {i}"), e))?;
    }
    Ok(())
}

/// Receives messages `0..count` of [`send_sequence`] into `buf` (at least
/// `max` bytes) and checks each, every receive waiting at most
/// [`DEADLINE`].
pub fn receive_sequence<R: MessageReceiver + ?Sized>(
    rx: &mut R,
    buf: &mut [u8],
    count: u64,
    max: usize,
) -> Result<(), ChildFail> {
    let mut rng = Rng(ORDER_SEED);
    for i in 0..count {
        let len = msg_len(&mut rng, i, max);
        let n = rx
            .recv_timeout(buf, Some(DEADLINE))
            .map_err(|e| ferr(&format!("recv {i}"), e))?;
        check(&buf[..n], i, len)?;
    }
    Ok(())
}

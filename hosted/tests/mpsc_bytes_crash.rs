//! Crashes inside the MPSC byte channel's protocol, across real processes:
//!
//! - `receiver killed inside consume`: a sender child keeps the ring full
//!   of 60 KiB messages while receiver children, one after the other, take
//!   the receiver role over and are SIGKILLed at random instants (most of a
//!   receiver's time goes to copying and erasing records, so many kills land
//!   inside the erase of a record). Every new receiver must make progress
//!   (the sender lives, so nothing may wait for it), deliver each message
//!   at most once and in order, and lose at most the one message the killed
//!   receiver was handling; at the end the parent takes over and drains the
//!   rest.
//! - `sender killed between claim and header`: two sender children stream
//!   tagged messages while a third claims a record the way a sender does
//!   (announces its intent in its liveness slot, then moves `tail` with a
//!   compare-and-swap) and writes nothing more, as a sender killed between
//!   the compare-and-swap and its header store leaves it. While it lives
//!   the receiver waits for it; once it is SIGKILLed, its record is skipped
//!   and every message of the live senders arrives exactly once, in order.
//! - `dead claimant's slot kept until skipped`: the same dead claim, then
//!   63 senders that open and die: every liveness slot holds a dead
//!   process. New senders may reuse the dead slots, except the claimant's,
//!   whose intent is the only record of its claim; once the receiver has
//!   skipped that claim, its slot is free for a new sender too.
//!
//! Built with `harness = false`; children are `fork()`ed from the
//! single-threaded parent and open the channel by name. Names are
//! `ipckit-test-<pid>-…`, removed by guards; leftovers fail the run.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ipckit::channel::{self, mpsc_bytes};
use ipckit::error::{CoreError, Error};
use ipckit::frame::mpsc::Ring;
use ipckit::shm::SharedMemory;
use support::{Ctx, EXIT_CHECK, Rng, SharedWords, ShmGuard, Suite, child_main, fail, fork_child};

const PATIENCE: Duration = Duration::from_secs(10);

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// In a child: an error value becomes a [`support::ChildFail`].
fn cf<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> Result<T, support::ChildFail> {
    r.map_err(|e| fail(EXIT_CHECK, format!("{what}: {e}")))
}

// ---------------------------------------------------------------------------
// A receiver killed inside `consume`.

const BIG_CAP: u32 = 1 << 20;
const BIG: usize = 60 * 1024;
const ROUNDS: u32 = 100;

// Shared words of the first test.
/// The next sequence number due (messages reported received so far).
const NEXT: usize = 0;
/// A receiver's failure: 0 none, else a code (see `receive_until_killed`).
const FAILED: usize = 1;
/// The sequence number received and the one due, for a failure.
const GOT: usize = 2;
const DUE: usize = 3;
/// Messages lost with killed receivers.
const LOST: usize = 4;
/// Set by the parent: the sender stops.
const STOP: usize = 5;
/// The number of messages the sender sent.
const SENT: usize = 6;

/// The bytes of message `seq`: its sequence number at both ends, a fixed
/// pattern between, and a length that varies with `seq`.
fn big_message(seq: u64, template: &[u8]) -> Vec<u8> {
    let len = BIG - (seq % 512) as usize;
    let mut m = template[..len].to_vec();
    m[..8].copy_from_slice(&seq.to_le_bytes());
    m[len - 8..].copy_from_slice(&seq.to_le_bytes());
    m
}

fn template() -> Vec<u8> {
    (0..BIG).map(|i| (i as u8).wrapping_mul(13) | 1).collect()
}

/// The sequence number of a well-formed message (both ends agree, the
/// length fits, the first and last 64 pattern bytes are intact).
fn big_seq(m: &[u8], template: &[u8]) -> Option<u64> {
    let n = m.len();
    if !(BIG - 512..=BIG).contains(&n) {
        return None;
    }
    let seq = u64::from_le_bytes(m[..8].try_into().ok()?);
    let end = u64::from_le_bytes(m[n - 8..].try_into().ok()?);
    let intact = m[8..72] == template[8..72] && m[n - 72..n - 8] == template[n - 72..n - 8];
    (seq == end && n == BIG - (seq % 512) as usize && intact).then_some(seq)
}

/// A receiver child: takes the role over and receives until it is killed,
/// publishing the next sequence number due after each message. The first
/// message may be one past the due one (the previous receiver died holding
/// it: counted lost); anything else out of order, a duplicate, a damaged
/// message or an error is a failure, published in the shared words.
fn receive_until_killed(name: &str, words: &SharedWords, template: &[u8]) -> i32 {
    let mut rx = match mpsc_bytes::Receiver::take_over(name) {
        Ok(rx) => rx,
        Err(e) => {
            eprintln!("  receiver {}: take_over: {e}", std::process::id());
            report(words, 1, 0, 0)
        }
    };
    let mut buf = vec![0u8; BIG];
    let mut due = words.word(NEXT).load(Ordering::Acquire);
    let mut first = true;
    loop {
        let n = match rx.recv_timeout(&mut buf, PATIENCE) {
            Ok(n) => n,
            Err(e) => {
                eprintln!("  receiver {}: recv: {e}", std::process::id());
                report(words, 2, 0, due)
            }
        };
        let Some(seq) = big_seq(&buf[..n], template) else {
            report(words, 3, u64::MAX, due)
        };
        if first && seq == due + 1 {
            words.word(LOST).fetch_add(1, Ordering::AcqRel);
        } else if seq != due {
            report(words, 4, seq, due);
        }
        first = false;
        due = seq + 1;
        words.word(NEXT).store(due, Ordering::Release);
    }
}

/// Publishes a receiver's failure and waits to be killed.
fn report(words: &SharedWords, code: u64, got: u64, due: u64) -> ! {
    words.word(GOT).store(got, Ordering::Relaxed);
    words.word(DUE).store(due, Ordering::Relaxed);
    words.word(FAILED).store(code, Ordering::Release);
    loop {
        std::thread::sleep(Duration::from_secs(1)); // killed here
    }
}

/// The sender child: sends with `try_send` (which never asks whether the
/// receiver lives: receivers come and go) until told to stop.
fn send_until_stopped(name: &str, words: &SharedWords, template: &[u8]) -> i32 {
    child_main(|| {
        let tx = cf(mpsc_bytes::Sender::open(name), "open")?;
        let deadline = Instant::now() + 4 * PATIENCE * ROUNDS;
        let mut seq = 0u64;
        loop {
            let m = big_message(seq, template);
            loop {
                if words.word(STOP).load(Ordering::Acquire) != 0 {
                    words.word(SENT).store(seq, Ordering::Release);
                    return Ok(());
                }
                match tx.try_send(&m) {
                    Ok(()) => break,
                    Err(Error::Full) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_micros(20))
                    }
                    Err(e) => return Err(fail(EXIT_CHECK, format!("send {seq}: {e}"))),
                }
            }
            seq += 1;
        }
    })
}

fn receiver_killed_inside_consume() -> Result<String, String> {
    let g = ShmGuard::new("mpsc-rx-killed");
    let words = SharedWords::new();
    let template = template();
    // Create the channel; the creating sender closes at once.
    drop(mpsc_bytes::Sender::create(&g.0, BIG_CAP).ctx("create")?);
    let name = g.0.clone();
    let mut sender = fork_child(|| send_until_stopped(&name, &words, &template))?;
    let mut rng = Rng(0x5EED_0001);
    let mut delays = Vec::new();
    for round in 0..ROUNDS {
        let before = words.word(NEXT).load(Ordering::Acquire);
        let mut rx = fork_child(|| receive_until_killed(&name, &words, &template))?;
        // Progress first: a receiver stuck behind what its predecessor left
        // fails here.
        let progressed = words.wait_for(NEXT, before + 3, PATIENCE);
        let failed = words.word(FAILED).load(Ordering::Acquire);
        ensure!(
            failed == 0,
            "round {round}: receiver failed with code {failed} (got {}, due {})",
            words.word(GOT).load(Ordering::Relaxed),
            words.word(DUE).load(Ordering::Relaxed)
        );
        ensure!(
            progressed,
            "round {round}: the receiver made no progress in {PATIENCE:?} after taking over \
             (next due {}, {})",
            words.word(NEXT).load(Ordering::Relaxed),
            rx.describe()
        );
        let delay = Duration::from_micros(rng.next() % 3000);
        delays.push(delay);
        std::thread::sleep(delay);
        rx.kill();
        ensure!(
            words.word(FAILED).load(Ordering::Acquire) == 0,
            "round {round}: receiver failed (got {}, due {})",
            words.word(GOT).load(Ordering::Relaxed),
            words.word(DUE).load(Ordering::Relaxed)
        );
    }
    words.word(STOP).store(1, Ordering::Release);
    sender.expect_ok(Instant::now() + PATIENCE)?;
    let sent = words.word(SENT).load(Ordering::Acquire);
    // The parent takes over last and drains the channel.
    let mut rx = mpsc_bytes::Receiver::take_over(&g.0).ctx("final take_over")?;
    let mut buf = vec![0u8; BIG];
    let mut due = words.word(NEXT).load(Ordering::Acquire);
    let mut lost = words.word(LOST).load(Ordering::Acquire);
    let mut first = true;
    loop {
        match rx.recv_timeout(&mut buf, PATIENCE) {
            Ok(n) => {
                let seq = big_seq(&buf[..n], &template).ok_or("damaged message in the drain")?;
                if first && seq == due + 1 {
                    lost += 1;
                } else {
                    ensure!(seq == due, "drain: message {seq} where {due} was due");
                }
                first = false;
                due = seq + 1;
            }
            Err(e) if e.is_peer_gone() => break,
            Err(e) => return Err(format!("drain: {e} (due {due}, sent {sent})")),
        }
    }
    ensure!(due == sent, "drained up to {due}, {sent} sent");
    ensure!(
        lost <= u64::from(ROUNDS),
        "{lost} messages lost with {ROUNDS} receivers"
    );
    ensure!(rx.skipped().records == 0, "skipped {:?}", rx.skipped());
    Ok(format!(
        "{ROUNDS} receivers killed, {sent} messages of ~60 KiB, {} delivered, {lost} lost \
         with a killed receiver, 0 duplicated",
        sent - lost
    ))
}

// ---------------------------------------------------------------------------
// A sender killed between its claim and its header store.

const CAP: u32 = 64 << 10;
const PER_SENDER: u64 = 20_000;

fn tagged(s: u64, seq: u64) -> Vec<u8> {
    let len = 16 + (seq * 7 + s) as usize % 100;
    let mut m = vec![0u8; len];
    m[..8].copy_from_slice(&s.to_le_bytes());
    m[8..16].copy_from_slice(&seq.to_le_bytes());
    for (i, b) in m[16..].iter_mut().enumerate() {
        *b = (seq as u8) ^ (i as u8) ^ (s as u8);
    }
    m
}

fn untag(m: &[u8]) -> Result<(u64, u64), String> {
    let s = u64::from_le_bytes(m[..8].try_into().map_err(|_| "short message")?);
    let seq = u64::from_le_bytes(m[8..16].try_into().map_err(|_| "short message")?);
    ensure!(
        m == tagged(s, seq),
        "message {seq} of sender {s} is damaged"
    );
    Ok((s, seq))
}

// Layout offsets (core ring, liveness block) the victim writes at, as
// documented in `ipckit_core::frame::mpsc` and `channel::liveness`.
const TAIL_AT: usize = 128;
const HEAD_AT: usize = 256;
const SLOTS_AT: usize = 64;
const INTENTS_AT: usize = 2112;

/// In the victim: the `u32` at `offset` of the channel's mapping.
fn word_at(base: *mut u8, offset: usize) -> &'static AtomicU32 {
    // SAFETY: every offset used is a 4-aligned offset inside the channel
    // object (the ring's control block, or the liveness block), mapped for
    // as long as the victim lives (it never unmaps: it is killed); those
    // words are only ever accessed atomically.
    unsafe { AtomicU32::from_ptr(base.add(offset).cast()) }
}

/// The victim: opens a sender (its liveness slot), then claims a record of
/// `len` payload bytes as a sender does up to its compare-and-swap on
/// `tail`, intent first, and writes nothing more. Publishes the claimed
/// position and its span, then sleeps until killed.
fn claim_and_hang(name: &str, words: &SharedWords, len: u32) -> i32 {
    child_main(|| {
        let tx = cf(mpsc_bytes::Sender::open(name), "open")?;
        let base = tx.memory().as_ptr();
        let block = channel::liveness_offset(Ring::region_len(CAP).unwrap())
            .ok_or_else(|| fail(EXIT_CHECK, "no liveness offset"))?;
        let me = std::process::id();
        let slot = (0..64)
            .find(|i| {
                // The slot word (liveness layout version 2): bits 0..2 the
                // state (2: active), bits 2..24 the holder's pid.
                let word = word_at(base, block + SLOTS_AT + 16 * i).load(Ordering::Acquire);
                word & 0b11 == 2 && (word >> 2) & ((1 << 22) - 1) == me
            })
            .ok_or_else(|| fail(EXIT_CHECK, "no slot records the victim"))?;
        let intent = block + INTENTS_AT + 8 * slot;
        while words.word(10).load(Ordering::Acquire) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let total = (len + 8).div_ceil(8) * 8;
        loop {
            let tail = word_at(base, TAIL_AT).load(Ordering::Acquire);
            let head = word_at(base, HEAD_AT).load(Ordering::Acquire);
            let until_end = CAP - (tail & (CAP - 1));
            let need = if total <= until_end {
                total
            } else {
                until_end + total
            };
            if need > CAP - tail.wrapping_sub(head) {
                std::thread::sleep(Duration::from_micros(100));
                continue;
            }
            word_at(base, intent).store(tail, Ordering::Release);
            word_at(base, intent + 4).store(need, Ordering::Release);
            if word_at(base, TAIL_AT)
                .compare_exchange(tail, tail + need, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                words.word(11).store(u64::from(tail), Ordering::Relaxed);
                words.word(12).store(u64::from(need), Ordering::Relaxed);
                words.word(13).store(1, Ordering::Release);
                loop {
                    std::thread::sleep(Duration::from_secs(1)); // killed here
                }
            }
        }
    })
}

/// What the receiver got from the live senders: the sequence number due
/// per sender, and the count.
struct Received {
    next: [u64; 2],
    received: u64,
    buf: [u8; 256],
}

impl Default for Received {
    fn default() -> Self {
        Self {
            next: [0; 2],
            received: 0,
            buf: [0; 256],
        }
    }
}

impl Received {
    /// Receives one message within `timeout` and checks it: `Ok(false)`
    /// on a timeout.
    fn recv(&mut self, rx: &mut mpsc_bytes::Receiver, timeout: Duration) -> Result<bool, String> {
        match rx.recv_timeout(&mut self.buf, timeout) {
            Ok(n) => {
                let (s, seq) = untag(&self.buf[..n])?;
                ensure!(s < 2, "message from sender {s}");
                ensure!(
                    seq == self.next[s as usize],
                    "sender {s}: message {seq} where {} was due",
                    self.next[s as usize]
                );
                self.next[s as usize] += 1;
                self.received += 1;
                Ok(true)
            }
            Err(Error::TimedOut) => Ok(false),
            Err(e) => Err(format!("recv: {e}")),
        }
    }
}

fn sender_killed_between_claim_and_header() -> Result<String, String> {
    let g = ShmGuard::new("mpsc-tx-killed-claim");
    let mut rx = mpsc_bytes::Receiver::create(&g.0, CAP).ctx("create")?;
    let words = SharedWords::new();
    let name = g.0.clone();
    let mut victim = fork_child(|| claim_and_hang(&name, &words, 40))?;
    let mut live = Vec::new();
    for s in 0..2u64 {
        let (name, words) = (&name, &words);
        live.push(fork_child(move || {
            child_main(|| {
                let tx = cf(mpsc_bytes::Sender::open(name), "open")?;
                words.word(20).fetch_add(1, Ordering::AcqRel);
                for seq in 0..PER_SENDER {
                    // More patient than the receiver, so that a receiver
                    // stuck behind the dead claim fails first.
                    cf(tx.send_timeout(&tagged(s, seq), 6 * PATIENCE), "send")?;
                }
                Ok(())
            })
        })?);
    }
    ensure!(words.wait_for(20, 2, PATIENCE), "senders never opened");
    let mut got = Received::default();
    // Traffic first, then the victim claims in the middle of it.
    for _ in 0..2000 {
        ensure!(got.recv(&mut rx, PATIENCE)?, "no traffic");
    }
    words.word(10).store(1, Ordering::Release);
    let until = Instant::now() + PATIENCE;
    while words.word(13).load(Ordering::Acquire) == 0 {
        ensure!(Instant::now() < until, "the victim never claimed");
        got.recv(&mut rx, Duration::from_millis(1))?;
    }
    let (position, span) = (
        words.word(11).load(Ordering::Relaxed) as u32,
        words.word(12).load(Ordering::Relaxed) as u32,
    );
    // While the victim lives, its claim may still be written: the receiver
    // waits (several liveness slices), and skips nothing.
    let live_until = Instant::now() + Duration::from_millis(400);
    while Instant::now() < live_until {
        got.recv(&mut rx, Duration::from_millis(50))?;
    }
    let stall = rx
        .stalled()
        .ctx("stalled")?
        .ok_or("no stall at the front")?;
    ensure!(
        stall.position == position && stall.claimant.is_none(),
        "stall {stall:?}, the victim claimed {position}"
    );
    ensure!(rx.skipped().records == 0, "skipped a live claim");
    // Dead: skipped, and everything behind it arrives.
    victim.kill();
    let killed = Instant::now();
    ensure!(
        got.recv(&mut rx, PATIENCE)?,
        "nothing arrived in {PATIENCE:?} after the claimant died (next due {:?})",
        got.next
    );
    let took = killed.elapsed();
    while got.received < 2 * PER_SENDER {
        ensure!(
            got.recv(&mut rx, PATIENCE)?,
            "stuck after {} messages (next due {:?}, stall {:?})",
            got.received,
            got.next,
            rx.stalled()
        );
    }
    let skipped = rx.skipped();
    ensure!(
        skipped.records == 1 && skipped.bytes == u64::from(span),
        "skipped {skipped:?}, the dead claim was {span} bytes"
    );
    for child in &mut live {
        child.expect_ok(Instant::now() + PATIENCE)?;
    }
    let end = rx.recv_timeout(&mut got.buf, PATIENCE);
    ensure!(
        end.as_ref().is_err_and(|e| e.is_peer_gone()),
        "after the senders: {end:?}"
    );
    Ok(format!(
        "dead claim of {span} bytes at {position} skipped {took:?} after the kill; \
         {} messages of 2 live senders delivered once, in order",
        got.received
    ))
}

fn dead_claimants_slot_is_kept_until_skipped() -> Result<String, String> {
    let g = ShmGuard::new("mpsc-slot-kept");
    let mut rx = mpsc_bytes::Receiver::create(&g.0, CAP).ctx("create")?;
    let words = SharedWords::new();
    let name = g.0.clone();
    words.word(10).store(1, Ordering::Release); // claim at once
    let mut victim = fork_child(|| claim_and_hang(&name, &words, 8))?;
    ensure!(words.wait_for(13, 1, PATIENCE), "the victim never claimed");
    victim.kill();
    for _ in 0..63 {
        let mut child = fork_child(|| {
            child_main(|| {
                // Opens, and dies (`_exit`) holding its slot.
                cf(mpsc_bytes::Sender::open(&name), "open").map(std::mem::forget)
            })
        })?;
        child.expect_ok(Instant::now() + PATIENCE)?;
    }
    let mut held = Vec::new();
    let full = loop {
        match mpsc_bytes::Sender::open(&g.0) {
            Ok(tx) => held.push(tx),
            Err(e) => break e,
        }
        ensure!(held.len() <= 64, "more than 64 senders");
    };
    ensure!(
        held.len() == 63 && matches!(full.core(), Some(CoreError::RoleTaken(_))),
        "{} senders opened over 63 dead slots, then: {full}",
        held.len()
    );
    held[0].try_send(b"behind the dead claim").ctx("send")?;
    let mut buf = [0u8; 64];
    ensure!(
        matches!(rx.try_recv(&mut buf), Err(Error::Empty)),
        "delivered past the dead claim"
    );
    ensure!(
        rx.skip_dead().ctx("skip_dead")? == 1,
        "dead claim not skipped"
    );
    ensure!(rx.try_recv(&mut buf).ctx("recv")? == 21, "wrong message");
    held.push(mpsc_bytes::Sender::open(&g.0).ctx("open over the released slot")?);
    held[63].try_send(b"from the reused slot").ctx("send")?;
    ensure!(rx.try_recv(&mut buf).ctx("recv")? == 20, "wrong message");
    ensure!(rx.skipped().records == 1, "skipped {:?}", rx.skipped());
    Ok("63 dead slots reused, the dead claimant's only after its claim was skipped".into())
}

// ---------------------------------------------------------------------------

fn main() {
    let tests: [(&str, support::TestFn); 3] = [
        (
            "sender killed between claim and header",
            sender_killed_between_claim_and_header,
        ),
        (
            "receiver killed inside consume",
            receiver_killed_inside_consume,
        ),
        (
            "dead claimant's slot kept until skipped",
            dead_claimants_slot_is_kept_until_skipped,
        ),
    ];
    Suite::new().tests(tests).leftovers_checked().run().exit();
}

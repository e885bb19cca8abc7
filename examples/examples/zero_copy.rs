//! Zero-copy against copying on the byte channels, in one process: a quick
//! figure, not a benchmark (no pinning, no criterion; the same-run ratio is
//! what carries over).
//!
//! Each message is made by the sender (a byte pattern) and consumed by the
//! receiver (a sum of its bytes):
//! - copying: made in a local buffer, `try_send` copies it into the ring,
//!   `try_recv` copies it out into another, which is summed;
//! - zero-copy: made in place in a `try_loan` (`as_mut_slice`), summed in
//!   place in a `try_recv_ref` (`as_slice`): both peers are this process,
//!   so the `unsafe` views are sound.
//!
//! - loan + copies: the copying work through the zero-copy calls
//!   (`write_at` into a loan, `copy_to` out of a frame): what the safe
//!   calls cost against `send` / `recv`.
//!
//! Rounds alternate (copying, loan + copies, zero-copy, copying, ...); the
//! median per message of each is printed, with the ratio copying /
//! zero-copy.
//!
//! `cargo run --release -p ipckit-examples --example zero_copy`

use std::time::Instant;

use ipckit::channel::{self, bytes, mpsc_bytes};

const CAPACITY: u32 = 1 << 16;
const ROUNDS: usize = 7;
/// Messages in flight at once: sent in a burst, then received.
const BURST: usize = 8;

/// One side of the comparison: sends and receives `BURST` messages of
/// `len` bytes, returning a checksum (so nothing is optimised away).
trait Channel {
    fn copying(&mut self, len: usize, buf: &mut [u8], out: &mut [u8]) -> u64;
    fn zero_copy(&mut self, len: usize) -> u64;
    fn loan_copying(&mut self, len: usize, buf: &mut [u8], out: &mut [u8]) -> u64;
}

// Not inlined: both ways run the same code for the work itself.
#[inline(never)]
fn make(dst: &mut [u8], seed: usize) {
    for (i, b) in dst.iter_mut().enumerate() {
        *b = (i ^ seed) as u8;
    }
}

#[inline(never)]
fn consume(src: &[u8]) -> u64 {
    src.iter().map(|&b| u64::from(b)).sum()
}

macro_rules! channel_impl {
    ($tx:ty, $rx:ty) => {
        impl Channel for ($tx, $rx) {
            fn copying(&mut self, len: usize, buf: &mut [u8], out: &mut [u8]) -> u64 {
                let (tx, rx) = self;
                for k in 0..BURST {
                    make(&mut buf[..len], k);
                    tx.try_send(&buf[..len]).expect("room");
                }
                let mut sum = 0;
                for _ in 0..BURST {
                    let n = rx.try_recv(out).expect("a message");
                    sum += consume(&out[..n]);
                }
                sum
            }

            fn loan_copying(&mut self, len: usize, buf: &mut [u8], out: &mut [u8]) -> u64 {
                let (tx, rx) = self;
                for k in 0..BURST {
                    make(&mut buf[..len], k);
                    let mut loan = tx.try_loan(len).expect("room");
                    loan.copy_from_slice(&buf[..len]).expect("fits");
                    loan.send();
                }
                let mut sum = 0;
                for _ in 0..BURST {
                    let frame = rx.try_recv_ref().expect("a message");
                    let n = frame.copy_to(out).expect("fits");
                    drop(frame);
                    sum += consume(&out[..n]);
                }
                sum
            }

            fn zero_copy(&mut self, len: usize) -> u64 {
                let (tx, rx) = self;
                for k in 0..BURST {
                    let mut loan = tx.try_loan(len).expect("room");
                    // SAFETY: the receiver is this process's own and follows
                    // the protocol: nothing else touches the lent bytes.
                    make(unsafe { loan.as_mut_slice() }, k);
                    loan.send();
                }
                let mut sum = 0;
                for _ in 0..BURST {
                    let frame = rx.try_recv_ref().expect("a message");
                    // SAFETY: the sender is this process's own and follows
                    // the protocol: nothing writes a sent message.
                    sum += consume(unsafe { frame.as_slice() });
                }
                sum
            }
        }
    };
}

channel_impl!(bytes::Sender, bytes::Receiver);
channel_impl!(mpsc_bytes::Sender, mpsc_bytes::Receiver);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median nanoseconds per message, copying, loans with the safe copies,
/// and zero-copy, over interleaved rounds of `bursts` bursts.
fn measure(ch: &mut dyn Channel, len: usize, bursts: usize) -> [f64; 3] {
    let (mut buf, mut out) = (vec![0u8; len], vec![0u8; len]);
    let expected = ch.copying(len, &mut buf, &mut out);
    let mut times: [Vec<f64>; 3] = Default::default();
    for _ in 0..ROUNDS {
        for (way, time) in times.iter_mut().enumerate() {
            let t = Instant::now();
            for _ in 0..bursts {
                let sum = match way {
                    0 => ch.copying(len, &mut buf, &mut out),
                    1 => ch.loan_copying(len, &mut buf, &mut out),
                    _ => ch.zero_copy(len),
                };
                assert_eq!(sum, expected, "every way carries the same bytes");
            }
            time.push(t.elapsed().as_nanos() as f64 / (bursts * BURST) as f64);
        }
    }
    times.map(median)
}

fn main() -> ipckit::Result<()> {
    let mut spsc = channel::bytes().capacity(CAPACITY as usize).pair()?;
    let mut mpsc = channel::mpsc_bytes().capacity(CAPACITY as usize).pair()?;
    println!("channel     size   copying  loan+copies  zero-copy  (ns/msg)  copying/zero-copy");
    for (name, ch) in [
        ("bytes", &mut spsc as &mut dyn Channel),
        ("mpsc_bytes", &mut mpsc),
    ] {
        for (len, bursts) in [(64, 20_000), (4096, 2_000)] {
            let [copying, loans, zero] = measure(ch, len, bursts);
            println!(
                "{name:<10} {len:>5} B {copying:>9.1} {loans:>12.1} {zero:>10.1} {:>28.2}",
                copying / zero
            );
        }
    }
    Ok(())
}

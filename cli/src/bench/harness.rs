//! The two generic measurements, over the message interface: a ping-pong
//! (round-trip latency) and a one-way stream (throughput). Every byte
//! mechanism runs through these two functions; only its [`Setup`] differs.
//!
//! Messages are `size` bytes; the first four carry a sequence number
//! (little-endian, from 1), and [`STOP`] ends the peer's loop.

use std::any::Any;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ipckit::error::Error;
use ipckit::message::MessageReceiver;

use super::cleanup;
use super::peer::{Control, Peer};

/// The sequence number that tells the peer to stop.
pub const STOP: u32 = u32::MAX;
/// How long one blocking call waits before looking at the peer.
const SLICE: Duration = Duration::from_millis(100);
/// A live peer that does not answer for this long fails the measurement.
const STALL: Duration = Duration::from_secs(10);
/// Messages between two looks at the clock in the throughput measurement.
const BATCH: u64 = 16;
/// The throughput measurement records one rate per window of this length
/// (at least [`BATCH`] messages): a window smooths the bursts in which a
/// kernel hands over queued messages.
const WINDOW: Duration = Duration::from_millis(1);

pub use ipckit_testkit::mechanisms::{Ends, PeerOpen, Setup};

/// What one measurement produced.
pub struct Sample {
    /// Round trips in ns, or nanoseconds per message × 1000 (ps).
    pub hist: Histogram<u64>,
    /// Round trips or messages timed.
    pub count: u64,
    pub elapsed: Duration,
}

/// What a round trip timed alone carries of the clock: the median of many
/// `Instant::now()` → `elapsed()` pairs with nothing between, measured once
/// per run (here about 30 ns on a KVM guest, a third of a shared-memory
/// round trip). Every round trip timed alone is recorded net of it, so that
/// rows compare with the cache-line floor, which reads the clock once per
/// batch and carries none of it.
pub fn clock_pair_ns() -> u64 {
    static COST: OnceLock<u64> = OnceLock::new();
    *COST.get_or_init(|| {
        let mut pairs: Vec<u64> = (0..10_001)
            .map(|_| {
                let t0 = Instant::now();
                t0.elapsed().as_nanos() as u64
            })
            .collect();
        pairs.sort_unstable();
        pairs[pairs.len() / 2]
    })
}

/// A round trip timed from `t0`, net of the clock ([`clock_pair_ns`]),
/// at least 1 ns.
pub fn net_since(t0: Instant) -> u64 {
    (t0.elapsed().as_nanos() as u64)
        .saturating_sub(clock_pair_ns())
        .max(1)
}

pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 1 << 50, 3).expect("valid histogram bounds")
}

pub fn control() -> &'static Control {
    static CONTROL: OnceLock<Control> = OnceLock::new();
    CONTROL.get_or_init(|| Control::new().expect("a 4 KiB anonymous mapping"))
}

fn set_seq(msg: &mut [u8], seq: u32) {
    msg[..4].copy_from_slice(&seq.to_le_bytes());
}

fn seq(msg: &[u8]) -> u32 {
    msg.get(..4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn next(seq: u32) -> u32 {
    if seq >= STOP - 1 { 1 } else { seq + 1 }
}

fn is_wait(e: &Error) -> bool {
    matches!(e, Error::TimedOut | Error::Empty | Error::Busy)
}

/// Receives one message, in slices, checking the peer and Ctrl-C between.
/// A message that is there reads no clock here (a clock read costs about
/// as much as a shared-memory message: it would be charged to every row).
fn recv(rx: &mut dyn MessageReceiver, buf: &mut [u8], peer: &mut Peer) -> Result<usize, String> {
    let mut since = None;
    loop {
        match rx.recv_timeout(buf, Some(SLICE)) {
            Ok(n) => return Ok(n),
            Err(e) if is_wait(&e) => {
                let since = *since.get_or_insert_with(Instant::now);
                peer.check_alive()?;
                if cleanup::interrupted() {
                    return Err("interrupted".into());
                }
                if since.elapsed() > STALL {
                    return Err(format!("no message for {} s", STALL.as_secs()));
                }
            }
            Err(e) => return Err(format!("receive: {e}")),
        }
    }
}

/// The peer's receive: in slices, leaving when the measuring side aborts.
fn peer_recv(rx: &mut dyn MessageReceiver, buf: &mut [u8]) -> Result<usize, String> {
    loop {
        match rx.recv_timeout(buf, Some(SLICE)) {
            Ok(n) => return Ok(n),
            Err(e) if is_wait(&e) => {
                if control().aborted() {
                    return Err("aborted".into());
                }
            }
            Err(e) => return Err(format!("peer receive: {e}")),
        }
    }
}

/// Starts the peer running `body` on its ends; returns it and our ends.
fn start(
    setup: Setup,
    body: impl FnOnce(Ends) -> Result<(), String> + Send + 'static,
) -> Result<(Peer, Ends), String> {
    let ctl = control();
    ctl.stop().store(0, Ordering::Release);
    ctl.abort().store(0, Ordering::Release);
    // SAFETY: plain query.
    let me = unsafe { libc::getpid() } as u32;
    let (peer, peer_pid) = match setup.peer {
        PeerOpen::Process(open) => {
            let peer = Peer::fork(move || body(open(me).map_err(|e| format!("open: {e}"))?))?;
            let pid = match &peer {
                Peer::Process { pid, .. } => *pid as u32,
                Peer::Thread(_) => 0,
            };
            (peer, pid)
        }
        PeerOpen::Thread(open) => (
            Peer::thread(move || body(open().map_err(|e| format!("open: {e}"))?)),
            0,
        ),
    };
    let ends = (setup.mine)(peer_pid).map_err(|e| {
        ctl.abort().store(1, Ordering::Release);
        format!("open: {e}")
    })?;
    Ok((peer, ends))
}

/// Round-trip latency: we send, the peer echoes.
pub fn ping_pong(
    mut setup: Setup,
    size: usize,
    duration: Duration,
    warm_up: Duration,
) -> Result<Sample, String> {
    let budget = setup.budget.take().unwrap_or(u64::MAX);
    let guard = std::mem::replace(&mut setup.guard, Box::new(()));
    let (mut peer, mut ends) = start(setup, move |mut ends| {
        let mut buf = vec![0u8; size.max(8)];
        loop {
            let n = peer_recv(&mut *ends.rx, &mut buf)?;
            if seq(&buf[..n]) == STOP {
                return Ok(());
            }
            ends.tx
                .send(&buf[..n])
                .map_err(|e| format!("peer send: {e}"))?;
        }
    })?;
    let result = (|| {
        let mut msg = vec![0u8; size];
        let mut buf = vec![0u8; size.max(8)];
        let mut hist = new_hist();
        let mut s = 1u32;
        let mut moved = 0u64;
        let mut round_trip = |s: u32, peer: &mut Peer| -> Result<u64, String> {
            set_seq(&mut msg, s);
            let t0 = Instant::now();
            ends.tx.send(&msg).map_err(|e| format!("send: {e}"))?;
            let n = recv(&mut *ends.rx, &mut buf, peer)?;
            let ns = net_since(t0);
            if n != size || seq(&buf[..n]) != s {
                return Err(format!(
                    "reply {} of {n} bytes to request {s} of {size}",
                    seq(&buf[..n])
                ));
            }
            Ok(ns)
        };
        let warm_until = Instant::now() + warm_up;
        while Instant::now() < warm_until && moved < budget / 4 {
            round_trip(s, &mut peer)?;
            s = next(s);
            moved += size as u64;
        }
        let started = Instant::now();
        let mut count = 0u64;
        loop {
            let ns = round_trip(s, &mut peer)?;
            s = next(s);
            hist.saturating_record(ns.max(1));
            count += 1;
            moved += size as u64;
            if moved >= budget || (count % 16 == 0 && started.elapsed() >= duration) {
                break;
            }
        }
        let elapsed = started.elapsed();
        set_seq(&mut msg, STOP);
        ends.tx.send(&msg).map_err(|e| format!("send: {e}"))?;
        Ok(Sample {
            hist,
            count,
            elapsed,
        })
    })();
    finish(peer, ends, guard, result)
}

fn finish(
    peer: Peer,
    ends: Ends,
    guard: Box<dyn Any>,
    result: Result<Sample, String>,
) -> Result<Sample, String> {
    if result.is_err() {
        control().abort().store(1, Ordering::Release);
    }
    let ended = peer.finish(Duration::from_secs(5));
    drop(ends);
    drop(guard);
    let sample = result?;
    ended?;
    Ok(sample)
}

/// One-way throughput: the peer sends as fast as it can until told to
/// stop; we receive, and record the time per message of each [`WINDOW`].
pub fn throughput(mut setup: Setup, size: usize, duration: Duration) -> Result<Sample, String> {
    let budget = setup.budget.take().unwrap_or(u64::MAX);
    let guard = std::mem::replace(&mut setup.guard, Box::new(()));
    let (mut peer, mut ends) = start(setup, move |mut ends| {
        let mut msg = vec![7u8; size];
        let mut s = 1u32;
        let mut sent = 0u64;
        loop {
            let stop = control().stopped() || sent >= budget;
            set_seq(&mut msg, if stop { STOP } else { s });
            ends.tx.send(&msg).map_err(|e| format!("peer send: {e}"))?;
            if stop {
                return Ok(());
            }
            s = next(s);
            sent += size as u64;
        }
    })?;
    let result = (|| {
        let mut buf = vec![0u8; size.max(8)];
        let mut hist = new_hist();
        let n = recv(&mut *ends.rx, &mut buf, &mut peer)?;
        if seq(&buf[..n]) == STOP {
            return Err("the peer stopped at once".into());
        }
        let started = Instant::now();
        let mut window_start = started;
        let mut window_count = 0u64;
        let mut count = 0u64;
        let end = loop {
            let n = recv(&mut *ends.rx, &mut buf, &mut peer)?;
            if n != size {
                return Err(format!("message of {n} bytes, expected {size}"));
            }
            if seq(&buf[..n]) == STOP {
                break Instant::now();
            }
            count += 1;
            if count % BATCH == 0 {
                let now = Instant::now();
                if now - window_start >= WINDOW {
                    let ps = (now - window_start).as_nanos() as u64 * 1000 / (count - window_count);
                    hist.saturating_record(ps.max(1));
                    window_start = now;
                    window_count = count;
                }
                if now - started >= duration {
                    control().stop().store(1, Ordering::Release);
                    loop {
                        let n = recv(&mut *ends.rx, &mut buf, &mut peer)?;
                        if seq(&buf[..n]) == STOP {
                            break;
                        }
                    }
                    break now;
                }
            }
        };
        let elapsed = end - started;
        if hist.is_empty() && count > 0 {
            hist.saturating_record((elapsed.as_nanos() as u64 * 1000 / count).max(1));
        }
        Ok(Sample {
            hist,
            count,
            elapsed,
        })
    })();
    finish(peer, ends, guard, result)
}

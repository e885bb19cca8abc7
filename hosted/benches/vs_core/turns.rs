//! One turn of a measurement: fresh links, a forked child pinned to the
//! second CPU; the parent measures (round trips, or the stream it
//! receives) in windows.

use std::hint::spin_loop;
use std::time::Instant;

use ipckit_testkit::pin::CpuPair;

use crate::ends::{Res, Rx, Tx};
use crate::links::{Kind, Side, make};
use crate::support::{self, Child, Exit, fork_child};

// The measurements. The parent measures; the child echoes or produces.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Metric {
    /// Busy-polling round trip.
    Rtt,
    /// One-way, one message per `try_` call.
    One,
    /// One-way, batch calls (bytes: loans and grants).
    Batch,
    /// One-way, the blocking calls with a timeout (`send_timeout`,
    /// `recv_timeout`; the core's `push_timeout(Some(..))`, ...), as
    /// `ipckit bench` receives.
    Wait,
}

/// Spins on `op` until it moves something; every 2^20 spins looks at the
/// child (a dead child fails the turn instead of hanging it).
#[inline(always)]
pub(crate) fn until_moved<T>(
    child: Option<&mut Child>,
    mut op: impl FnMut() -> Res<T>,
    moved: impl Fn(&T) -> bool,
) -> Res<T> {
    let mut spins = 0u32;
    let mut child = child;
    loop {
        let r = op()?;
        if moved(&r) {
            return Ok(r);
        }
        spins = spins.wrapping_add(1);
        if spins % (1 << 20) == 0 {
            if let Some(c) = child.as_deref_mut() {
                if let Some(exit) = c.try_wait()? {
                    return Err(format!("child ended: {exit}"));
                }
            }
        }
        spin_loop();
    }
}

/// The child's side of a round trip: echo `count` messages.
pub(crate) fn echo(tx: &mut impl Tx, rx: &mut impl Rx, count: u64) -> Res<()> {
    for _ in 0..count {
        let (_, seq) = until_moved(None, || rx.take(false), |r| r.0 > 0)?;
        until_moved(None, || tx.put(seq, false), |n| *n > 0)?;
    }
    Ok(())
}

/// The parent's side of a round trip: `count` round trips; the median
/// over windows of [`WINDOW`] round trips of their mean, in ns (a window
/// in which either side was preempted does not move the median).
pub(crate) fn ping(tx: &mut impl Tx, rx: &mut impl Rx, count: u64, child: &mut Child) -> Res<f64> {
    let mut windows = Windows::new(count / 8);
    for i in 0..count {
        until_moved(Some(child), || tx.put(i + 1, false), |n| *n > 0)?;
        let (_, seq) = until_moved(Some(child), || rx.take(false), |r| r.0 > 0)?;
        if seq != i + 1 {
            return Err(format!("reply {seq} to {}", i + 1));
        }
        windows.record(i + 1);
    }
    windows.median(|ns, n| ns / n)
}

/// Messages (or round trips) per timed window.
pub(crate) const WINDOW: u64 = 1024;

/// The windows of one turn: after `warm_up` messages, the time of every
/// [`WINDOW`] more.
pub(crate) struct Windows {
    warm_up: u64,
    next: u64,
    last: Option<(Instant, u64)>,
    /// `(ns, messages)` of each window.
    done: Vec<(f64, f64)>,
}

impl Windows {
    fn new(warm_up: u64) -> Self {
        Self {
            warm_up,
            next: warm_up,
            last: None,
            done: Vec::new(),
        }
    }

    /// `moved` messages so far (checks the clock only at window ends).
    #[inline(always)]
    fn record(&mut self, moved: u64) {
        if moved < self.next {
            return;
        }
        let now = Instant::now();
        if let Some((at, from)) = self.last {
            self.done
                .push(((now - at).as_nanos() as f64, (moved - from) as f64));
        }
        self.last = Some((now, moved));
        self.next = moved.max(self.warm_up) + WINDOW;
    }

    /// The median over windows of `value(ns, messages)`.
    fn median(&self, value: impl Fn(f64, f64) -> f64) -> Res<f64> {
        let v: Vec<f64> = self.done.iter().map(|&(ns, n)| value(ns, n)).collect();
        ipckit_testkit::bench::median(&v).ok_or_else(|| "no window timed".into())
    }
}

/// The child's side of a stream: produce `count` sequence numbers.
pub(crate) fn produce(tx: &mut impl Tx, count: u64, metric: Metric) -> Res<()> {
    let mut next = 1;
    while next <= count {
        next += match metric {
            Metric::Wait => tx.put_wait(next).map(|()| 1)?,
            _ => until_moved(None, || tx.put(next, metric == Metric::Batch), |n| *n > 0)?,
        };
    }
    Ok(())
}

/// The parent's side of a stream: consume until `count`; the median over
/// windows of about [`WINDOW`] messages of their rate, messages/s.
pub(crate) fn consume(rx: &mut impl Rx, count: u64, metric: Metric, child: &mut Child) -> Res<f64> {
    let mut windows = Windows::new(count / 8);
    let (mut last, mut got) = (0, 0);
    let batch = metric == Metric::Batch;
    while last < count {
        let (n, seq) = match metric {
            Metric::Wait => (1, rx.take_wait()?),
            _ => until_moved(Some(child), || rx.take(batch), |r| r.0 > 0)?,
        };
        if seq != last + n {
            return Err(format!("sequence {seq} after {last} (+{n})"));
        }
        got += n;
        last = seq;
        windows.record(got);
    }
    windows.median(|ns, n| n * 1e9 / ns.max(1.0))
}

/// Round trips or messages of one turn.
pub(crate) fn count(kind: Kind, metric: Metric, scale: u64) -> u64 {
    let n = match (kind, metric) {
        (_, Metric::Rtt) => 20_000,
        (Kind::Pod, Metric::Batch) => 2_000_000,
        _ => 200_000,
    };
    (n / scale).max(16 * WINDOW)
}

/// One turn: fresh links, a fresh child; the parent's figure.
pub(crate) fn turn(
    kind: Kind,
    metric: Metric,
    side: Side,
    cpus: Option<CpuPair>,
    scale: u64,
) -> Res<f64> {
    let n = count(kind, metric, scale);
    // `to`: parent -> child (round trips only); `back`: child -> parent.
    let to = make(kind, side)?;
    let back = make(kind, side)?;
    let child_body = || {
        if let Some(p) = cpus {
            let _ = p.pin_peer();
        }
        let r: Res<()> = match metric {
            Metric::Rtt => with_end!(kind, &back, sender, |tx| {
                with_end!(kind, &to, receiver, |rx| echo(&mut tx, &mut rx, n))
            }),
            _ => with_end!(kind, &back, sender, |tx| produce(&mut tx, n, metric)),
        };
        match r {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("child: {e}");
                1
            }
        }
    };
    // The parent opens its ends before the fork, so that the child never
    // meets the channel as `make` left it: the creator's end given back,
    // its liveness slot closed. A child that filled the ring before the
    // parent reopened its end got `PeerGone` from `try_send` (the channel's
    // answer for a closed receiver) and ended the run; the core rings have
    // no such record, so only the channel rows could fail that way. The
    // child never drops the copies it inherits (it `_exit`s).
    match metric {
        Metric::Rtt => with_end!(kind, &to, sender, |tx| {
            with_end!(kind, &back, receiver, |rx| {
                let mut child = start(child_body, cpus)?;
                let measured = ping(&mut tx, &mut rx, n, &mut child);
                settle(child, measured)
            })
        }),
        _ => with_end!(kind, &back, receiver, |rx| {
            let mut child = start(child_body, cpus)?;
            let measured = consume(&mut rx, n, metric, &mut child);
            settle(child, measured)
        }),
    }
}

/// Forks the child running `body` and pins this process.
fn start(body: impl FnOnce() -> i32, cpus: Option<CpuPair>) -> Res<Child> {
    let child = fork_child(body)?;
    if let Some(p) = cpus {
        let _ = p.pin_main();
    }
    Ok(child)
}

/// The turn's figure once the child has ended (killed first if the
/// measurement failed); an error if the child failed.
fn settle(mut child: Child, measured: Res<f64>) -> Res<f64> {
    if measured.is_err() {
        child.kill();
    }
    let exit = child.wait(Instant::now() + support::DEADLINE)?;
    let value = measured?;
    if exit != Exit::Code(0) {
        return Err(format!("child: {exit}"));
    }
    Ok(value)
}

//! What a channel costs over the core ring it is built on, measured in one
//! run: the typed SPSC channel ([`spsc::Sender<u64>`](ipckit::channel::spsc))
//! against the core SPSC ring of `u64`, and the byte channel
//! ([`bytes::Sender`](ipckit::channel::bytes)) against the core frame ring,
//! 64 B messages.
//!
//! `cargo bench -p ipckit --bench vs_core` (`-- --quick` for one round, a
//! filter such as `-- "64 B"` or `-- loans` for some rows, `--raw` to
//! print every round's value;
//! `cargo test --benches` runs a tiny smoke round).
//!
//! Four measurements of each, channel and core in turn, round after round:
//!
//! - `rtt`: round trip, busy-polling: the parent sends with `try_send`
//!   (`try_push`), the child spins on `try_recv` (`try_pop`) and sends the
//!   message back on a second channel (ring).
//! - `one`: one-way throughput, one message per call: the child produces
//!   with `try_send`, the parent consumes with `try_recv`, both spinning on
//!   `Full` / `Empty`.
//! - `batch`: the same in batches: `try_send_slice` / `try_recv_slice` of
//!   up to 64 items against the core's `push_partial_slice` /
//!   `pop_partial_slice`; for bytes (the frame rings take one frame per
//!   grant) zero-copy loans (`try_loan`, `try_recv_ref`) against the core's
//!   grants (`try_grant`, `try_read`).
//! - `blocking`: one-way with the blocking calls and a timeout of one
//!   second (`send_timeout` / `recv_timeout` against the core's
//!   `*_timeout(Some(..))`), the calls `ipckit bench` receives with.
//!
//! Both sides of a comparison use the same notifier (the channels' spinning
//! then sleeping futex, `Futex::adaptive(SPIN_BUDGET)`, on a waking ring),
//! so the ratio is what the channel layer adds: its liveness look on
//! `Full`/`Empty`, its error mapping, its wrappers. The channels live on
//! named POSIX shared memory objects (the child opens them by name); the
//! core rings on an anonymous `MAP_SHARED` mapping the child inherits
//! (shmem pages both). Each turn makes fresh objects and forks a fresh
//! child, so each turn samples a new placement. Parent pinned to the first
//! allowed CPU, child to the second.
//!
//! `VS_CORE_COUNT=<variant>` (`pod-channel`, `pod-core`, `bytes-channel`,
//! `bytes-core`) and `VS_CORE_N=<n>` instead move `n` messages in one
//! thread (send, then receive; with `VS_CORE_BATCH=1` the batch calls,
//! with `VS_CORE_WAIT=1` the blocking calls with a timeout, on a message
//! that is there), for instruction counts:
//! `valgrind --tool=callgrind --toggle-collect='*count_loop*'
//! target/release/deps/vs_core-* ` (Ir / n = instructions per message,
//! both ends).

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::spin_loop;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ipckit::channel::{SPIN_BUDGET, bytes, spsc};
use ipckit::futex::Futex;
use ipckit::shm::{SharedMapping, ShmObject};
use ipckit::{CoreError, Error, frame};
use ipckit_testkit::bench::{Goal, PlainRun, Ratio, Unit, interleave};
use ipckit_testkit::pin::{self, CpuPair};
use support::{Child, Exit, fork_child};

/// Message size of the byte rows.
const SIZE: usize = 64;
/// Items per batch call.
const BATCH: usize = 64;
/// Slots of the `u64` rings.
const SLOTS: u32 = 1024;
/// Data bytes of the frame rings (as the frame benchmark).
const FRAME_BYTES: u32 = 64 << 10;

type Res<T> = Result<T, String>;

fn e2s(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The sending half of one link: `put` sends `seq` (a batch from `seq` on
/// if `batch`) and returns how many went, 0 when full.
trait Tx {
    fn put(&mut self, seq: u64, batch: bool) -> Res<u64>;
    /// The blocking send of one message (with a timeout of [`WAIT`]).
    fn put_wait(&mut self, seq: u64) -> Res<()>;
}

/// The receiving half: how many arrived (0 when empty) and the last one's
/// sequence number.
trait Rx {
    fn take(&mut self, batch: bool) -> Res<(u64, u64)>;
    /// The blocking receive of one message (with a timeout of [`WAIT`]).
    fn take_wait(&mut self) -> Res<u64>;
}

/// The timeout of the blocking calls of the count mode.
const WAIT: std::time::Duration = std::time::Duration::from_secs(1);

fn flow<T>(r: Result<T, Error>, none: T) -> Res<T> {
    match r {
        Ok(v) => Ok(v),
        Err(Error::Full | Error::Empty) => Ok(none),
        Err(e) => Err(e.to_string()),
    }
}

fn core_flow<T>(r: Result<T, CoreError>, none: T) -> Res<T> {
    match r {
        Ok(v) => Ok(v),
        Err(CoreError::Full | CoreError::Empty) => Ok(none),
        Err(e) => Err(e.to_string()),
    }
}

fn items(seq: u64) -> [u64; BATCH] {
    std::array::from_fn(|i| seq + i as u64)
}

fn message(seq: u64) -> [u8; SIZE] {
    let mut m = [7u8; SIZE];
    m[..8].copy_from_slice(&seq.to_le_bytes());
    m
}

fn seq_of(m: &[u8]) -> u64 {
    m.get(..8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
}

impl Tx for spsc::Sender<u64> {
    #[inline]
    fn put(&mut self, seq: u64, batch: bool) -> Res<u64> {
        if batch {
            flow(self.try_send_slice(&items(seq)).map(|n| n as u64), 0)
        } else {
            flow(self.try_send(seq).map(|()| 1), 0)
        }
    }
    fn put_wait(&mut self, seq: u64) -> Res<()> {
        self.send_timeout(seq, WAIT).map_err(e2s)
    }
}

impl Rx for spsc::Receiver<u64> {
    #[inline]
    fn take(&mut self, batch: bool) -> Res<(u64, u64)> {
        if batch {
            let mut out = [0u64; BATCH];
            let n = flow(self.try_recv_slice(&mut out), 0)?;
            Ok((n as u64, if n > 0 { out[n - 1] } else { 0 }))
        } else {
            flow(self.try_recv().map(|v| (1, v)), (0, 0))
        }
    }
    fn take_wait(&mut self) -> Res<u64> {
        self.recv_timeout(WAIT).map_err(e2s)
    }
}

impl Tx for ipckit::spsc::Producer<'static, u64, Futex> {
    #[inline]
    fn put(&mut self, seq: u64, batch: bool) -> Res<u64> {
        if batch {
            core_flow(self.push_partial_slice(&items(seq)).map(|n| n as u64), 0)
        } else {
            core_flow(self.try_push(seq).map(|()| 1), 0)
        }
    }
    fn put_wait(&mut self, seq: u64) -> Res<()> {
        self.push_timeout(seq, Some(WAIT)).map_err(e2s)
    }
}

impl Rx for ipckit::spsc::Consumer<'static, u64, Futex> {
    #[inline]
    fn take(&mut self, batch: bool) -> Res<(u64, u64)> {
        if batch {
            let mut out = [0u64; BATCH];
            let n = core_flow(self.pop_partial_slice(&mut out), 0)?;
            Ok((n as u64, if n > 0 { out[n - 1] } else { 0 }))
        } else {
            core_flow(self.try_pop().map(|v| (1, v)), (0, 0))
        }
    }
    fn take_wait(&mut self) -> Res<u64> {
        self.pop_timeout(Some(WAIT)).map_err(e2s)
    }
}

impl Tx for bytes::Sender {
    #[inline]
    fn put(&mut self, seq: u64, batch: bool) -> Res<u64> {
        let m = message(seq);
        if batch {
            match self.try_loan(SIZE) {
                Ok(mut loan) => {
                    loan.copy_from_slice(&m).map_err(e2s)?;
                    loan.send();
                    Ok(1)
                }
                Err(e) => flow(Err(e), 0),
            }
        } else {
            flow(self.try_send(&m).map(|()| 1), 0)
        }
    }
    fn put_wait(&mut self, seq: u64) -> Res<()> {
        self.send_timeout(&message(seq), WAIT).map_err(e2s)
    }
}

impl Rx for bytes::Receiver {
    #[inline]
    fn take(&mut self, batch: bool) -> Res<(u64, u64)> {
        let mut buf = [0u8; SIZE];
        let n = if batch {
            match self.try_recv_ref() {
                Ok(frame) => {
                    let n = frame.copy_to(&mut buf).map_err(e2s)?;
                    frame.release();
                    n
                }
                Err(e) => flow(Err(e), 0)?,
            }
        } else {
            flow(self.try_recv(&mut buf), 0)?
        };
        Ok(if n == 0 {
            (0, 0)
        } else {
            (1, seq_of(&buf[..n]))
        })
    }
    fn take_wait(&mut self) -> Res<u64> {
        let mut buf = [0u8; SIZE];
        let n = self.recv_timeout(&mut buf, WAIT).map_err(e2s)?;
        Ok(seq_of(&buf[..n]))
    }
}

impl Tx for frame::spsc::Producer<'static, Futex> {
    #[inline]
    fn put(&mut self, seq: u64, batch: bool) -> Res<u64> {
        let m = message(seq);
        if batch {
            match self.try_grant(SIZE) {
                Ok(mut grant) => {
                    grant.copy_from_slice(&m).map_err(e2s)?;
                    grant.commit_all();
                    Ok(1)
                }
                Err(e) => core_flow(Err(e), 0),
            }
        } else {
            core_flow(self.try_send(&m).map(|()| 1), 0)
        }
    }
    fn put_wait(&mut self, seq: u64) -> Res<()> {
        self.send_timeout(&message(seq), Some(WAIT)).map_err(e2s)
    }
}

impl Rx for frame::spsc::Consumer<'static, Futex> {
    #[inline]
    fn take(&mut self, batch: bool) -> Res<(u64, u64)> {
        let mut buf = [0u8; SIZE];
        let n = if batch {
            match self.try_read() {
                Ok(frame) => {
                    let n = frame.copy_to(&mut buf).map_err(e2s)?;
                    frame.release();
                    n
                }
                Err(e) => core_flow(Err(e), 0)?,
            }
        } else {
            core_flow(self.try_recv(&mut buf), 0)?
        };
        Ok(if n == 0 {
            (0, 0)
        } else {
            (1, seq_of(&buf[..n]))
        })
    }
    fn take_wait(&mut self) -> Res<u64> {
        let mut buf = [0u8; SIZE];
        let n = self.recv_timeout(&mut buf, Some(WAIT)).map_err(e2s)?;
        Ok(seq_of(&buf[..n]))
    }
}

// ---------------------------------------------------------------------------
// Opening the two kinds of links.

fn notifier() -> Futex {
    Futex::adaptive(SPIN_BUDGET)
}

/// Where a link lives: a channel object's name, or a core ring's mapping.
enum Place {
    Named(String),
    Mapped(&'static SharedMapping),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Pod,
    Bytes,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Channel,
    Core,
}

fn unique(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("ipckit-bench-vscore-{}-{n}-{tag}", std::process::id())
}

/// A mapping for a core ring, left mapped for the rest of the run (a few
/// hundred KiB over a whole run: the endpoints borrow it for `'static`).
fn leaked_ring_mapping(kind: Kind) -> Res<&'static SharedMapping> {
    let len = match kind {
        Kind::Pod => ipckit::spsc::Ring::<u64>::region_len(SLOTS),
        Kind::Bytes => frame::spsc::Ring::region_len(FRAME_BYTES),
    }
    .map_err(e2s)?;
    let mapping = SharedMapping::anonymous(len).map_err(e2s)?;
    let mapping: &'static SharedMapping = Box::leak(Box::new(mapping));
    match kind {
        Kind::Pod => {
            let options = ipckit::spsc::Options::new(SLOTS).waking(true);
            ipckit::spsc::Ring::<u64>::init_with(mapping.region(), options).map_err(e2s)?;
        }
        Kind::Bytes => {
            let options = frame::spsc::Options::new(FRAME_BYTES).waking(true);
            frame::spsc::Ring::init_with(mapping.region(), options).map_err(e2s)?;
        }
    }
    Ok(mapping)
}

/// Makes one link (before the fork): a channel object, or a core ring.
fn make(kind: Kind, side: Side) -> Res<Place> {
    match side {
        Side::Channel => {
            let name = unique("link");
            // The channel object is created here and opened by both ends;
            // the creator's claim is given back at once.
            match kind {
                Kind::Pod => drop(spsc::Receiver::<u64>::create(&name, SLOTS).map_err(e2s)?),
                Kind::Bytes => drop(bytes::Receiver::create(&name, FRAME_BYTES).map_err(e2s)?),
            }
            Ok(Place::Named(name))
        }
        Side::Core => Ok(Place::Mapped(leaked_ring_mapping(kind)?)),
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Place::Named(name) = self {
            let _ = ShmObject::remove(name);
        }
    }
}

/// Evaluates `$body` with `$end` bound to the end that `$open` makes of
/// kind `$kind` at `$at` (`$open`: `sender` or `receiver`).
macro_rules! with_end {
    ($kind:expr, $at:expr, $open:ident, |$end:ident| $body:expr) => {{
        // A closure, so that `?` in the openers ends only this block.
        (|| match ($kind, $at) {
            (Kind::Pod, Place::Named(name)) => {
                let mut $end = opener!(Pod channel $open, name);
                $body
            }
            (Kind::Pod, Place::Mapped(m)) => {
                let ring = ipckit::spsc::Ring::<u64>::attach(m.region()).map_err(e2s)?;
                let mut $end = opener!(core $open, ring);
                $body
            }
            (Kind::Bytes, Place::Named(name)) => {
                let mut $end = opener!(Bytes channel $open, name);
                $body
            }
            (Kind::Bytes, Place::Mapped(m)) => {
                let ring = frame::spsc::Ring::attach(m.region()).map_err(e2s)?;
                let mut $end = opener!(core $open, ring);
                $body
            }
        })()
    }};
}

/// Opens one end (`?` on failure).
macro_rules! opener {
    (Pod channel sender, $n:expr) => {
        spsc::Sender::<u64>::open($n).map_err(e2s)?
    };
    (Pod channel receiver, $n:expr) => {
        spsc::Receiver::<u64>::open($n).map_err(e2s)?
    };
    (Bytes channel sender, $n:expr) => {
        bytes::Sender::open($n).map_err(e2s)?
    };
    (Bytes channel receiver, $n:expr) => {
        bytes::Receiver::open($n).map_err(e2s)?
    };
    (core sender, $ring:expr) => {
        $ring.producer_with(notifier()).map_err(e2s)?
    };
    (core receiver, $ring:expr) => {
        $ring.consumer_with(notifier()).map_err(e2s)?
    };
}

// ---------------------------------------------------------------------------
// The measurements. The parent measures; the child echoes or produces.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Metric {
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
fn until_moved<T>(
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
fn echo(tx: &mut impl Tx, rx: &mut impl Rx, count: u64) -> Res<()> {
    for _ in 0..count {
        let (_, seq) = until_moved(None, || rx.take(false), |r| r.0 > 0)?;
        until_moved(None, || tx.put(seq, false), |n| *n > 0)?;
    }
    Ok(())
}

/// The parent's side of a round trip: `count` round trips; the median
/// over windows of [`WINDOW`] round trips of their mean, in ns (a window
/// in which either side was preempted does not move the median).
fn ping(tx: &mut impl Tx, rx: &mut impl Rx, count: u64, child: &mut Child) -> Res<f64> {
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
const WINDOW: u64 = 1024;

/// The windows of one turn: after `warm_up` messages, the time of every
/// [`WINDOW`] more.
struct Windows {
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
fn produce(tx: &mut impl Tx, count: u64, metric: Metric) -> Res<()> {
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
fn consume(rx: &mut impl Rx, count: u64, metric: Metric, child: &mut Child) -> Res<f64> {
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
fn count(kind: Kind, metric: Metric, scale: u64) -> u64 {
    let n = match (kind, metric) {
        (_, Metric::Rtt) => 20_000,
        (Kind::Pod, Metric::Batch) => 2_000_000,
        _ => 200_000,
    };
    (n / scale).max(16 * WINDOW)
}

/// One turn: fresh links, a fresh child; the parent's figure.
fn turn(kind: Kind, metric: Metric, side: Side, cpus: Option<CpuPair>, scale: u64) -> Res<f64> {
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
    let mut child = fork_child(child_body)?;
    if let Some(p) = cpus {
        let _ = p.pin_main();
    }
    let measured: Res<f64> = match metric {
        Metric::Rtt => with_end!(kind, &to, sender, |tx| {
            with_end!(kind, &back, receiver, |rx| ping(
                &mut tx, &mut rx, n, &mut child
            ))
        }),
        _ => with_end!(kind, &back, receiver, |rx| consume(
            &mut rx, n, metric, &mut child
        )),
    };
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

// ---------------------------------------------------------------------------
// Instruction counts: one thread, one link, `n` pairs.

#[inline(never)]
fn count_loop(tx: &mut impl Tx, rx: &mut impl Rx, n: u64, batch: bool) -> Res<u64> {
    if std::env::var("VS_CORE_WAIT").is_ok_and(|v| v == "1") {
        let mut sum = 0;
        for i in 0..n {
            tx.put_wait(i)?;
            sum += rx.take_wait()?;
        }
        return Ok(sum);
    }
    let (mut sent, mut got, mut sum) = (0, 0, 0);
    while got < n {
        if sent < n {
            sent += tx.put(sent, batch)?;
        }
        let (k, last) = rx.take(batch)?;
        got += k;
        sum += last;
    }
    Ok(sum)
}

fn count_mode(variant: &str, n: u64, batch: bool) -> Res<()> {
    let (kind, side) = match variant {
        "pod-channel" => (Kind::Pod, Side::Channel),
        "pod-core" => (Kind::Pod, Side::Core),
        "bytes-channel" => (Kind::Bytes, Side::Channel),
        "bytes-core" => (Kind::Bytes, Side::Core),
        _ => {
            return Err(format!(
                "VS_CORE_COUNT={variant}: pod-channel, pod-core, bytes-channel or bytes-core"
            ));
        }
    };
    let link = make(kind, side)?;
    let sum = with_end!(kind, &link, sender, |tx| {
        with_end!(kind, &link, receiver, |rx| count_loop(
            &mut tx, &mut rx, n, batch
        ))
    })?;
    println!("{variant}: {n} messages sent and received (sum {sum}, batch calls: {batch})");
    Ok(())
}

fn main() {
    if let Ok(variant) = std::env::var("VS_CORE_COUNT") {
        let n = std::env::var("VS_CORE_N")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1_000_000);
        let batch = std::env::var("VS_CORE_BATCH").is_ok_and(|v| !v.is_empty() && v != "0");
        if let Err(e) = count_mode(&variant, n, batch) {
            eprintln!("{e}");
            std::process::exit(1);
        }
        return;
    }
    let run = PlainRun::from_args(11);
    let PlainRun { smoke, rounds, .. } = run.clone();
    let scale = if smoke { 1000 } else { 1 };
    let cpus = pin::pair();
    println!("{}", pin::placement("parent (receiver, timer)", "child"));
    let name = |(kind, metric, side): (Kind, Metric, Side)| {
        let what = match (kind, metric) {
            (Kind::Pod, Metric::Rtt) => "u64 rtt (ns)",
            (Kind::Pod, Metric::One) => "u64 one per call (items/s)",
            (Kind::Pod, Metric::Batch) => "u64 x64 slices (items/s)",
            (Kind::Pod, Metric::Wait) => "u64 blocking, timeout (items/s)",
            (Kind::Bytes, Metric::Rtt) => "64 B rtt (ns)",
            (Kind::Bytes, Metric::One) => "64 B one per call (msgs/s)",
            (Kind::Bytes, Metric::Batch) => "64 B loans/grants (msgs/s)",
            (Kind::Bytes, Metric::Wait) => "64 B blocking, timeout (msgs/s)",
        };
        let side = match side {
            Side::Channel => "channel",
            Side::Core => "core ring",
        };
        format!("{what}: {side}")
    };
    let mut variants = Vec::new();
    for kind in [Kind::Pod, Kind::Bytes] {
        for metric in [Metric::Rtt, Metric::One, Metric::Batch, Metric::Wait] {
            for side in [Side::Channel, Side::Core] {
                if run.selects(&name((kind, metric, side))) {
                    variants.push((kind, metric, side));
                }
            }
        }
    }
    let rounds = interleave(&variants, rounds, |(kind, metric, side)| {
        turn(kind, metric, side, cpus, scale)
            .map_err(|e| format!("{kind:?} {metric:?} {side:?}: {e}"))
    })
    .unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1);
    });
    if smoke {
        println!(
            "vs_core bench: smoke run passed (`cargo bench -p ipckit --bench vs_core` measures)"
        );
        return;
    }
    if std::env::args().any(|a| a == "--raw") {
        // Every round's value, in the order measured.
        for &v in &variants {
            let values: Vec<String> = rounds
                .values(v)
                .iter()
                .map(|x| format!("{x:.3e}"))
                .collect();
            println!("{}: {}", name(v), values.join(" "));
        }
    }
    for kind in [Kind::Pod, Kind::Bytes] {
        let title = match kind {
            Kind::Pod => "spsc::Sender<u64> against the core SPSC ring",
            Kind::Bytes => "bytes::Sender (64 B) against the core frame ring",
        };
        let v = |metric, side| (kind, metric, side);
        let only: Vec<_> = variants.iter().copied().filter(|v| v.0 == kind).collect();
        // Round trips: core / channel (a time: >= 0.9 means the channel
        // takes at most 1/0.9 of the core's); rates: channel / core.
        let ratios = [
            Ratio::named(
                "rtt: core ns / channel ns".into(),
                v(Metric::Rtt, Side::Core),
                v(Metric::Rtt, Side::Channel),
            ),
            Ratio::named(
                "one per call: channel / core".into(),
                v(Metric::One, Side::Channel),
                v(Metric::One, Side::Core),
            ),
            Ratio::named(
                "batched: channel / core".into(),
                v(Metric::Batch, Side::Channel),
                v(Metric::Batch, Side::Core),
            ),
            Ratio::named(
                "blocking: channel / core".into(),
                v(Metric::Wait, Side::Channel),
                v(Metric::Wait, Side::Core),
            ),
        ]
        .map(|r| r.goal(Goal::AtLeast(0.9)));
        print_kind(&rounds, title, &only, &name, &ratios);
    }
}

fn print_kind(
    rounds: &ipckit_testkit::bench::Rounds<(Kind, Metric, Side)>,
    title: &str,
    only: &[(Kind, Metric, Side)],
    name: &dyn Fn((Kind, Metric, Side)) -> String,
    ratios: &[Ratio<(Kind, Metric, Side)>],
) {
    println!("\n{title}");
    for &v in only {
        if let Some(s) = rounds.stats(v) {
            let unit = if v.1 == Metric::Rtt {
                Unit::Nanos
            } else {
                Unit::PerSecond
            };
            println!(
                "  {:<40} {:>12}  ({} - {})",
                name(v),
                unit.format(s.median),
                unit.format(s.min),
                unit.format(s.max)
            );
        }
    }
    rounds.print_ratios(ratios);
}

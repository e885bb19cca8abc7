//! Throughput of the ipckit MPMC ring against crossbeam's `ArrayQueue` (the
//! same algorithm, Vyukov's bounded MPMC queue, on the heap with 64-bit
//! stamps), moving `u64` items, both with the same capacity:
//!
//! - `1p1c`: one producer (the benchmark thread, pinned to the first allowed
//!   CPU) and one consumer (pinned to the second); both spin while the queue
//!   is full or empty.
//! - `1p1c_full`: the same, but the producer fills the queue before the
//!   consumer starts, so the consumer starts one lap behind the producer.
//!   The plain `1p1c` run lands in this state by itself whenever the
//!   producer is the faster side or the consumer lost its CPU for a moment
//!   (a busy machine): from then on the producer waits one lap behind the
//!   consumer, on the cache line the consumer is reading, and the queue
//!   keeps that state to the end of the run. So the plain figure swings
//!   between the two states from sample to sample; this variant measures
//!   the full state on purpose (the ipckit ring hands such lines over
//!   whole: the ring's module docs, "Hand-over by the line").
//! - `1p1c_batch` (ipckit only; crossbeam has no batch calls, so its ratio
//!   is to crossbeam's `1p1c`): the same with `push_partial_slice` and
//!   `pop_partial_slice` of up to [`BATCH`] items, each call claiming its
//!   run of slots with one compare-and-swap.
//! - `2p2c_split` and `2p2c_paired`: two producers and two consumers,
//!   spawned for each sample. With four busy threads on two cores a thread
//!   that finds the queue full or empty yields its CPU (to the other thread
//!   on that core) instead of spinning. Four threads cannot all run on two
//!   cores, so the placement decides what is measured:
//!   - `split`: both producers on the first CPU, both consumers on the
//!     second. At any instant one producer and one consumer run, on
//!     different cores; the producers (consumers) take turns at time-slice
//!     ends and yields, including turns that begin while the other was
//!     preempted between claiming a slot and publishing it. Stable.
//!   - `paired`: a producer and a consumer on each CPU, so the producers
//!     (and the consumers) do race for their position from different cores.
//!     But throughput then depends mostly on the scheduler: while a producer
//!     runs on one core against the consumer on the other, every item
//!     crosses cores; after a full/empty yield, the two threads of one core
//!     hand batches to each other in that core's cache, several times
//!     faster. A queue that reports full or empty more often gets more of
//!     the fast mode. Expect this variant to swing between runs by several
//!     times, for either queue; read it as an oversubscription test, not as
//!     the queues' cost.
//!
//! Run with `cargo bench -p ipckit --bench mpmc` (add `-- --quick` for a fast
//! pass). After criterion's own report, a summary prints the median items/s
//! of each variant (from the same samples criterion measured), and the ratio
//! ipckit / crossbeam, once from those medians and once from a short
//! interleaved run (every variant in turn, repeatedly), which is robust to
//! the machine getting slower or faster between one benchmark and the next.
//!
//! The ipckit endpoints announce their claims in intents (two stores to the
//! endpoint's own intent per claim, for crash recovery), placed as a hosted
//! channel places them: 8 bytes apart, so the intents of up to eight
//! endpoints of a side share a cache line. `IPCKIT_MPMC_PADDED_INTENTS=1`
//! places them 128 bytes apart instead (a prototype, not a layout anyone
//! uses), to measure what that sharing costs when endpoints of one side
//! run on different cores (`2p2c_paired`).
//!
//! `IPCKIT_MPMC_COUNT=<variant>:<n>` (variant `ipckit`, `ipckit_bare`
//! (without intents), `ipckit_batch` or `crossbeam`) skips all that and moves `n` items on one thread (pushes of
//! 64 then pops of 64), for instruction counts per item under
//! `valgrind --tool=callgrind` (run it with two `n` and subtract).
//!
//! A `1p1c` run in which either thread was preempted (an involuntary
//! context switch, counted by `getrusage`) is run again, up to 3 times,
//! before its time is taken anyway: such a run measures the scheduler of a
//! busy machine, and leaves the queue in the full state of `1p1c_full`.
//! The summary says how many runs were repeated.
//!
//! Each sample moves `n` items; every consumer sums what it takes, and the
//! total is checked. The clock starts when every thread is ready and stops
//! when the last consumer has taken its last item. Each endpoint lives on its
//! own cache lines.

use std::convert::Infallible;
use std::hint::{black_box, spin_loop};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ipckit_testkit::bench::{CriterionRun, Ratio, Samples, Summary, Unit};
use ipckit_testkit::pin;

use criterion::{Criterion, Throughput, criterion_group};
use crossbeam_queue::ArrayQueue;
use ipckit_core::intent::Intent;
use ipckit_core::{AlignedBytes, Error, Region, mpmc};

/// Slots in every queue under test.
const CAPACITY: u32 = 4096;
/// Bytes of the ipckit region for `CAPACITY` items of `u64`.
const REGION_LEN: usize = match mpmc::Ring::<u64>::region_len(CAPACITY) {
    Ok(len) => len,
    Err(_) => panic!("invalid capacity"),
};
/// Criterion's sample count, also used to pick the measured samples out of
/// everything `iter_custom` saw.
const SAMPLE_SIZE: usize = 20;
/// Rounds of the interleaved run after criterion.
const PAIRED_ROUNDS: usize = 15;
/// Target duration of one variant's turn in the interleaved run.
const PAIRED_TURN: Duration = Duration::from_millis(30);
/// Items per call of the batched variant.
const BATCH: usize = 64;

/// The variants, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Variant {
    Ipckit1p1c,
    Crossbeam1p1c,
    Ipckit1p1cFull,
    Crossbeam1p1cFull,
    Ipckit1p1cBatch,
    Ipckit2p2cSplit,
    Crossbeam2p2cSplit,
    Ipckit2p2cPaired,
    Crossbeam2p2cPaired,
}

impl Variant {
    const ALL: [Variant; 9] = [
        Variant::Ipckit1p1c,
        Variant::Crossbeam1p1c,
        Variant::Ipckit1p1cFull,
        Variant::Crossbeam1p1cFull,
        Variant::Ipckit1p1cBatch,
        Variant::Ipckit2p2cSplit,
        Variant::Crossbeam2p2cSplit,
        Variant::Ipckit2p2cPaired,
        Variant::Crossbeam2p2cPaired,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::Ipckit1p1c => "ipckit/1p1c",
            Variant::Crossbeam1p1c => "crossbeam_array_queue/1p1c",
            Variant::Ipckit1p1cFull => "ipckit/1p1c_full",
            Variant::Crossbeam1p1cFull => "crossbeam_array_queue/1p1c_full",
            Variant::Ipckit1p1cBatch => "ipckit/1p1c_batch",
            Variant::Ipckit2p2cSplit => "ipckit/2p2c_split",
            Variant::Crossbeam2p2cSplit => "crossbeam_array_queue/2p2c_split",
            Variant::Ipckit2p2cPaired => "ipckit/2p2c_paired",
            Variant::Crossbeam2p2cPaired => "crossbeam_array_queue/2p2c_paired",
        }
    }
}

/// The ratios the summary reports.
const RATIOS: [Ratio<Variant>; 5] = [
    Ratio::new(
        "1p1c ipckit / crossbeam",
        Variant::Ipckit1p1c,
        Variant::Crossbeam1p1c,
    ),
    Ratio::new(
        "1p1c_full ipckit / crossbeam",
        Variant::Ipckit1p1cFull,
        Variant::Crossbeam1p1cFull,
    ),
    Ratio::new(
        "1p1c_batch ipckit / crossbeam 1p1c",
        Variant::Ipckit1p1cBatch,
        Variant::Crossbeam1p1c,
    ),
    Ratio::new(
        "2p2c_split ipckit / crossbeam",
        Variant::Ipckit2p2cSplit,
        Variant::Crossbeam2p2cSplit,
    ),
    Ratio::new(
        "2p2c_paired ipckit / crossbeam",
        Variant::Ipckit2p2cPaired,
        Variant::Crossbeam2p2cPaired,
    ),
];

/// Items per second of every `iter_custom` call, per variant.
static SAMPLES: Samples<Variant> = Samples::new();

/// Pins the calling thread to the first (`0`) or second (`1`) CPU of the
/// pair; unpinned (still correct, only noisier) where that fails.
fn pin_on(which: usize) {
    if let Some(p) = pin::pair() {
        let _ = pin::pin_to(if which == 0 { p.main } else { p.peer });
    }
}

// ---- the queues ---------------------------------------------------------

/// A value alone on its own pair of cache lines (adjacent-line prefetchers
/// pull lines in pairs), so that endpoints never share a line.
#[repr(C, align(128))]
struct Padded<T>(T);

/// What a benchmark thread does when the queue is full or empty.
#[derive(Clone, Copy)]
enum Idle {
    /// A CPU spin hint: the thread has its core to itself.
    Spin,
    /// Give the core to the other thread pinned to it.
    Yield,
}

impl Idle {
    #[inline]
    fn wait(self) {
        match self {
            Idle::Spin => spin_loop(),
            Idle::Yield => std::thread::yield_now(),
        }
    }
}

/// A producer endpoint that the benchmark drives.
trait Push: Send {
    fn push_all(&self, items: std::ops::Range<u64>, idle: Idle);
}

/// A consumer endpoint that the benchmark drives.
trait Pop: Send {
    /// Takes exactly `n` items and returns their sum.
    fn pop_n(&self, n: u64, idle: Idle) -> u64;
}

impl Push for mpmc::Producer<'static, u64> {
    fn push_all(&self, items: std::ops::Range<u64>, idle: Idle) {
        for i in items {
            loop {
                match self.try_push(i) {
                    Ok(()) => break,
                    Err(Error::Full | Error::Busy) => idle.wait(),
                    Err(e) => panic!("ipckit push: {e}"),
                }
            }
        }
    }
}

impl Pop for mpmc::Consumer<'static, u64> {
    fn pop_n(&self, n: u64, idle: Idle) -> u64 {
        let mut sum = 0u64;
        let mut left = n;
        while left > 0 {
            match self.try_pop() {
                Ok(v) => {
                    sum = sum.wrapping_add(v);
                    left -= 1;
                }
                Err(Error::Empty | Error::Busy) => idle.wait(),
                Err(e) => panic!("ipckit pop: {e}"),
            }
        }
        sum
    }
}

/// An ipckit endpoint driven with its slice calls, [`BATCH`] items at most
/// per call.
struct Batched<E>(E);

impl Push for Batched<mpmc::Producer<'static, u64>> {
    fn push_all(&self, items: std::ops::Range<u64>, idle: Idle) {
        let mut buf = [0u64; BATCH];
        let mut next = items.start;
        while next < items.end {
            let n = (items.end - next).min(BATCH as u64) as usize;
            for (slot, v) in buf[..n].iter_mut().zip(next..) {
                *slot = v;
            }
            let mut sent = 0;
            while sent < n {
                match self.0.push_partial_slice(&buf[sent..n]) {
                    Ok(k) => sent += k,
                    Err(Error::Full | Error::Busy) => idle.wait(),
                    Err(e) => panic!("ipckit push_partial_slice: {e}"),
                }
            }
            next += n as u64;
        }
    }
}

impl Pop for Batched<mpmc::Consumer<'static, u64>> {
    fn pop_n(&self, n: u64, idle: Idle) -> u64 {
        let mut buf = [0u64; BATCH];
        let mut sum = 0u64;
        let mut left = n;
        while left > 0 {
            let want = left.min(BATCH as u64) as usize;
            match self.0.pop_partial_slice(&mut buf[..want]) {
                Ok(k) => {
                    sum = buf[..k].iter().fold(sum, |s, &v| s.wrapping_add(v));
                    left -= k as u64;
                }
                Err(Error::Empty | Error::Busy) => idle.wait(),
                Err(e) => panic!("ipckit pop_partial_slice: {e}"),
            }
        }
        sum
    }
}

impl Push for &'static ArrayQueue<u64> {
    fn push_all(&self, items: std::ops::Range<u64>, idle: Idle) {
        for i in items {
            while self.push(i).is_err() {
                idle.wait();
            }
        }
    }
}

impl Pop for &'static ArrayQueue<u64> {
    fn pop_n(&self, n: u64, idle: Idle) -> u64 {
        let mut sum = 0u64;
        let mut left = n;
        while left > 0 {
            match self.pop() {
                Some(v) => {
                    sum = sum.wrapping_add(v);
                    left -= 1;
                }
                None => idle.wait(),
            }
        }
        sum
    }
}

/// The sum of `0..n`.
fn expected_sum(n: u64) -> u64 {
    (u128::from(n) * u128::from(n.saturating_sub(1)) / 2) as u64
}

/// Where the four threads of a `2p2c` variant run (module docs).
#[derive(Clone, Copy)]
enum Placement {
    /// Producers on the first CPU, consumers on the second.
    Split,
    /// Producer `i` and consumer `i` on CPU `i`.
    Paired,
}

impl Placement {
    fn of(variant: Variant) -> Self {
        match variant {
            Variant::Ipckit2p2cPaired | Variant::Crossbeam2p2cPaired => Placement::Paired,
            _ => Placement::Split,
        }
    }

    fn producer_cpu(self, i: usize) -> usize {
        match self {
            Placement::Split => 0,
            Placement::Paired => i,
        }
    }

    fn consumer_cpu(self, i: usize) -> usize {
        match self {
            Placement::Split => 1,
            Placement::Paired => i,
        }
    }
}

/// Two producers and two consumers, placed as `placement` says, move
/// `0..n` (`n` even): producer `i` pushes half of the range, consumer `i`
/// takes `n / 2` items. Returns the time from the start signal until the
/// last consumer is done.
fn two_to_two<Tx: Push + Sync, Rx: Pop + Sync>(
    name: &str,
    n: u64,
    placement: Placement,
    txs: &[Padded<Tx>; 2],
    rxs: &[Padded<Rx>; 2],
) -> Duration {
    let half = n / 2;
    let ready = AtomicUsize::new(0);
    let go = AtomicBool::new(false);
    let (start, ends, sum) = std::thread::scope(|s| {
        let wait_for_go = || {
            ready.fetch_add(1, Ordering::AcqRel);
            while !go.load(Ordering::Acquire) {
                std::thread::yield_now();
            }
        };
        let consumers: Vec<_> = (0..2)
            .map(|i| {
                let rx = &rxs[i].0;
                s.spawn(move || {
                    pin_on(placement.consumer_cpu(i));
                    wait_for_go();
                    let sum = rx.pop_n(half, Idle::Yield);
                    (Instant::now(), sum)
                })
            })
            .collect();
        let producers: Vec<_> = (0..2)
            .map(|i| {
                let tx = &txs[i].0;
                s.spawn(move || {
                    pin_on(placement.producer_cpu(i));
                    wait_for_go();
                    tx.push_all(i as u64 * half..(i as u64 + 1) * half, Idle::Yield);
                })
            })
            .collect();
        while ready.load(Ordering::Acquire) < 4 {
            std::thread::yield_now();
        }
        let start = Instant::now();
        go.store(true, Ordering::Release);
        for p in producers {
            p.join().expect("producer thread panicked");
        }
        let results: Vec<(Instant, u64)> = consumers
            .into_iter()
            .map(|c| c.join().expect("consumer thread panicked"))
            .collect();
        let sum = results.iter().fold(0u64, |s, r| s.wrapping_add(r.1));
        let end = results.iter().map(|r| r.0).max().expect("two consumers");
        (start, end, sum)
    });
    assert_eq!(
        sum,
        expected_sum(2 * half),
        "{name}: consumers saw wrong items"
    );
    black_box(sum);
    ends.saturating_duration_since(start)
}

fn items_per_sec(n: u64, elapsed: Duration) -> Option<f64> {
    let secs = elapsed.as_secs_f64();
    (secs > 0.0).then(|| n as f64 / secs)
}

/// The claim intents of a hosted channel's liveness block (64 a side,
/// 8 bytes apart), with room for the prototype of padded intents
/// ([`intent_stride`]).
struct Intents {
    producers: [Intent; 64 * PADDED_STRIDE],
    consumers: [Intent; 64 * PADDED_STRIDE],
}

/// Intents 128 bytes apart, as a padded liveness block would place them.
const PADDED_STRIDE: usize = 16;

/// How many intents apart the endpoints' intents are: 1 (8 bytes, the
/// hosted channels' layout: eight endpoints of a side share a cache line),
/// or with `IPCKIT_MPMC_PADDED_INTENTS=1`, a prototype that is not a
/// layout anyone uses, [`PADDED_STRIDE`] (each endpoint's intent on its own
/// line pair), to measure what the shared line costs.
fn intent_stride() -> usize {
    match std::env::var("IPCKIT_MPMC_PADDED_INTENTS").as_deref() {
        Ok("1") => PADDED_STRIDE,
        _ => 1,
    }
}

/// One instance of each queue, with two producer and two consumer endpoints
/// each on their own cache lines (crossbeam's endpoints are references to
/// the one queue).
struct Queues {
    ipckit_tx: [Padded<mpmc::Producer<'static, u64>>; 2],
    ipckit_rx: [Padded<mpmc::Consumer<'static, u64>>; 2],
    ipckit_batch_tx: Padded<Batched<mpmc::Producer<'static, u64>>>,
    ipckit_batch_rx: Padded<Batched<mpmc::Consumer<'static, u64>>>,
    crossbeam_tx: [Padded<&'static ArrayQueue<u64>>; 2],
    crossbeam_rx: [Padded<&'static ArrayQueue<u64>>; 2],
}

impl Queues {
    /// Builds the queues. The ipckit region and the `ArrayQueue` are leaked
    /// (some 64 KiB each, once or twice per run) so the endpoints can own
    /// `'static` borrows of them.
    fn new() -> Box<Self> {
        let bytes = Box::leak(Box::new(AlignedBytes::<REGION_LEN>::new()));
        let ring = mpmc::Ring::<u64>::init(Region::from_slice(&mut bytes[..]), CAPACITY)
            .expect("ipckit ring");
        let queue: &'static ArrayQueue<u64> =
            Box::leak(Box::new(ArrayQueue::new(CAPACITY as usize)));
        // Every endpoint announces its claims in its own intent, placed as
        // in a hosted channel's liveness block: one 8-byte intent per
        // endpoint, each side's side by side.
        let intents: &'static Intents = Box::leak(Box::new(Intents {
            producers: [const { Intent::new() }; 64 * PADDED_STRIDE],
            consumers: [const { Intent::new() }; 64 * PADDED_STRIDE],
        }));
        let stride = intent_stride();
        let tx = |i: usize| {
            let tx = ring.producer().expect("ipckit producer");
            Padded(tx.with_intent(&intents.producers[i * stride]))
        };
        let rx = |i: usize| {
            let rx = ring.consumer().expect("ipckit consumer");
            Padded(rx.with_intent(&intents.consumers[i * stride]))
        };
        Box::new(Self {
            ipckit_tx: [tx(0), tx(1)],
            ipckit_rx: [rx(0), rx(1)],
            ipckit_batch_tx: Padded(Batched(tx(2).0)),
            ipckit_batch_rx: Padded(Batched(rx(2).0)),
            crossbeam_tx: [Padded(queue), Padded(queue)],
            crossbeam_rx: [Padded(queue), Padded(queue)],
        })
    }

    /// Moves `n` items through `variant` and returns the elapsed time and
    /// the number of items actually moved (even for `2p2c`).
    fn run(&self, variant: Variant, n: u64) -> (Duration, u64) {
        let name = variant.name();
        match variant {
            Variant::Ipckit1p1c | Variant::Ipckit1p1cFull => {
                let from = Start::of(variant);
                let elapsed = one_to_one(name, n, from, &self.ipckit_tx[0], &self.ipckit_rx[0]);
                (elapsed, from.items(n))
            }
            Variant::Crossbeam1p1c | Variant::Crossbeam1p1cFull => {
                let from = Start::of(variant);
                let (tx, rx) = (&self.crossbeam_tx[0], &self.crossbeam_rx[0]);
                (one_to_one(name, n, from, tx, rx), from.items(n))
            }
            Variant::Ipckit1p1cBatch => (
                one_to_one(
                    name,
                    n,
                    Start::Empty,
                    &self.ipckit_batch_tx,
                    &self.ipckit_batch_rx,
                ),
                n,
            ),
            Variant::Ipckit2p2cSplit | Variant::Ipckit2p2cPaired => {
                let n = (n.max(2) / 2) * 2;
                let placement = Placement::of(variant);
                let elapsed = two_to_two(name, n, placement, &self.ipckit_tx, &self.ipckit_rx);
                (elapsed, n)
            }
            Variant::Crossbeam2p2cSplit | Variant::Crossbeam2p2cPaired => {
                let n = (n.max(2) / 2) * 2;
                let placement = Placement::of(variant);
                let elapsed =
                    two_to_two(name, n, placement, &self.crossbeam_tx, &self.crossbeam_rx);
                (elapsed, n)
            }
        }
    }
}

// ---- criterion ----------------------------------------------------------

fn bench_mpmc(c: &mut Criterion) {
    pin::pin_main();
    let queues = Queues::new();
    let mut group = c.benchmark_group("mpmc_u64");
    group.throughput(Throughput::Elements(1));
    for variant in Variant::ALL {
        group.bench_function(variant.name(), |b| {
            b.iter_custom(|n| {
                let (elapsed, moved) = queues.run(variant, n);
                if let Some(rate) = items_per_sec(moved, elapsed) {
                    SAMPLES.record(variant, rate);
                }
                // Criterion divides by `n`: report the time `n` items took.
                elapsed.mul_f64(n as f64 / moved as f64)
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(SAMPLE_SIZE);
    targets = bench_mpmc
}

// ---- summary ------------------------------------------------------------

/// Prints criterion's view, then runs every variant that criterion ran in
/// turn, `PAIRED_ROUNDS` times, each turn sized from its criterion median to
/// last about `PAIRED_TURN`, and prints that.
fn print_summary(run: CriterionRun) {
    let summary = Summary {
        title: format!(
            "MPMC u64 throughput, capacity {CAPACITY}{}",
            if intent_stride() == 1 {
                ""
            } else {
                ", padded intents (prototype)"
            }
        ),
        placement: pin::placement(
            "1p1c producer and 2p2c_split producers",
            "the consumers (2p2c_paired: one of each on each)",
        ),
        variants: &Variant::ALL,
        name: Variant::name,
        unit: Unit::PerSecond,
        ratios: &RATIOS,
    };
    let queues = Queues::new();
    let _ = SAMPLES.summary(run, &summary, PAIRED_ROUNDS, |v, criterion| {
        let n = (criterion.median * PAIRED_TURN.as_secs_f64()).clamp(1e4, 1e8) as u64;
        let (elapsed, moved) = queues.run(v, n);
        Ok::<_, Infallible>(items_per_sec(moved, elapsed).unwrap_or(f64::NAN))
    });
    println!(
        "1p1c runs repeated because a thread lost its CPU (criterion and interleaved): {}",
        REPEATED.load(Ordering::Relaxed)
    );
}

#[path = "mpmc/count.rs"]
mod count;
#[path = "mpmc/one_to_one.rs"]
mod one_to_one;
use one_to_one::{REPEATED, Start, one_to_one};

fn main() {
    if let Ok(spec) = std::env::var("IPCKIT_MPMC_COUNT") {
        count::count_instructions(&spec);
        return;
    }
    let run = CriterionRun::from_args(SAMPLE_SIZE);
    benches();
    Criterion::default().configure_from_args().final_summary();
    if run.benchmarking {
        print_summary(run);
    }
}

//! Throughput of moving `u64` items between two threads pinned to different
//! CPU cores: the ipckit SPSC ring (one item at a time, and in runs of 64)
//! against rtrb (single and chunks of 64) and crossbeam's `ArrayQueue`, all
//! with the same capacity.
//!
//! Run with `cargo bench -p ipckit --bench spsc` (add `-- --quick` for a fast
//! pass). After criterion's own report, a summary prints the median items/s
//! of each variant (from the same samples criterion measured) and the ratios
//! of ipckit to the others, once from those medians and once from a short
//! interleaved run (every variant in turn, repeatedly), which is robust to the
//! machine getting slower or faster between one benchmark and the next.
//!
//! Each sample moves `iters` items `0..iters` from the benchmark thread (the
//! producer, pinned to the first allowed CPU) to a consumer thread (pinned to
//! the second) spawned for the sample. The clock starts once the consumer is
//! spinning on the empty ring and stops when it has taken the last item. The
//! consumer sums every item, and the sum is checked. Each endpoint lives on
//! its own cache lines, so the two threads share only what the queue itself
//! shares.
//!
//! Two `prototype_stamped` variants measure a protocol the shipped layout
//! does not have (a stamp word per slot; see `spsc/stamped.rs`), to tell
//! whether a versioned layout would pay. Two other modes skip criterion
//! (`spsc/modes.rs`): `SPSC_COUNT=<items>` for per-item instruction counts
//! under `valgrind --tool=callgrind`, and `SPSC_RACE=<rounds>` for a quick
//! interleaved race that drops every turn in which a thread was preempted
//! and says which side waited (empty and full polls per item).

use std::convert::Infallible;
use std::hint::{black_box, spin_loop};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ipckit_testkit::bench::{CriterionRun, Ratio, Samples, Summary, Unit};
use ipckit_testkit::pin;

use criterion::{Criterion, Throughput, criterion_group};
use crossbeam_queue::ArrayQueue;
use ipckit_core::{AlignedBytes, Error, Region, spsc};

/// Slots in every ring and queue under test.
const CAPACITY: u32 = 4096;
/// Items per batch for the chunked variants.
const BATCH: usize = 64;
/// Bytes of the ipckit region for `CAPACITY` items of `u64`.
const REGION_LEN: usize = match spsc::Ring::<u64>::region_len(CAPACITY) {
    Ok(len) => len,
    Err(_) => panic!("invalid capacity"),
};
/// Criterion's sample count, also used to pick the measured samples out of
/// everything `iter_custom` saw.
const SAMPLE_SIZE: usize = 20;
/// Rounds of the interleaved run after criterion.
const PAIRED_ROUNDS: usize = 15;
/// Target duration of one variant's turn in the interleaved run.
const PAIRED_TURN: Duration = Duration::from_millis(20);

/// The variants, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Variant {
    IpckitSingle,
    IpckitBatch,
    RtrbSingle,
    RtrbChunk,
    CrossbeamSingle,
    StampedSingle,
    StampedTailSingle,
}

impl Variant {
    const ALL: [Variant; 7] = [
        Variant::IpckitSingle,
        Variant::IpckitBatch,
        Variant::RtrbSingle,
        Variant::RtrbChunk,
        Variant::CrossbeamSingle,
        Variant::StampedSingle,
        Variant::StampedTailSingle,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::IpckitSingle => "ipckit/single",
            Variant::IpckitBatch => "ipckit/batch64",
            Variant::RtrbSingle => "rtrb/single",
            Variant::RtrbChunk => "rtrb/chunk64",
            Variant::CrossbeamSingle => "crossbeam_array_queue/single",
            Variant::StampedSingle => "prototype_stamped/single",
            Variant::StampedTailSingle => "prototype_stamped_tail/single",
        }
    }
}

/// The ratios the summary reports.
const RATIOS: [Ratio<Variant>; 5] = [
    Ratio::new(
        "ipckit single / rtrb single",
        Variant::IpckitSingle,
        Variant::RtrbSingle,
    ),
    Ratio::new(
        "ipckit batch64 / rtrb chunk64",
        Variant::IpckitBatch,
        Variant::RtrbChunk,
    ),
    Ratio::new(
        "ipckit single / crossbeam ArrayQueue",
        Variant::IpckitSingle,
        Variant::CrossbeamSingle,
    ),
    Ratio::new(
        "prototype stamped / rtrb single",
        Variant::StampedSingle,
        Variant::RtrbSingle,
    ),
    Ratio::new(
        "prototype stamped+tail / rtrb single",
        Variant::StampedTailSingle,
        Variant::RtrbSingle,
    ),
];

/// Items per second of every `iter_custom` call, per variant.
static SAMPLES: Samples<Variant> = Samples::new();
/// Times a producer found the ring full (spin-loop turns), summed.
static FULL_SPINS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static EMPTY_SPINS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

// ---- the transfer -------------------------------------------------------

/// A value alone on its own pair of cache lines (adjacent-line prefetchers
/// pull lines in pairs), so that the producer's and the consumer's local
/// state never share a line. Without it the two endpoints, allocated side by
/// side, false-share and every variant runs an order of magnitude slower.
#[repr(C, align(128))]
struct Padded<T>(T);

fn padded<T>(value: T) -> Box<Padded<T>> {
    Box::new(Padded(value))
}

/// The sum of `0..n`, what the consumer must see.
fn expected_sum(n: u64) -> u64 {
    (u128::from(n) * u128::from(n.saturating_sub(1)) / 2) as u64
}

/// Moves `n` items from `tx` (this thread) to `rx` (a new thread on the
/// consumer CPU), checks the consumer's sum and returns the time from the
/// first push to the last pop.
fn transfer<Tx, Rx: Send>(
    name: &str,
    n: u64,
    tx: &mut Padded<Tx>,
    rx: &mut Padded<Rx>,
    produce: fn(&mut Tx, u64),
    consume: fn(&mut Rx, u64) -> u64,
) -> Duration {
    let ready = AtomicBool::new(false);
    let (start, end, sum) = std::thread::scope(|s| {
        let consumer = s.spawn(|| {
            pin::pin_peer();
            ready.store(true, Ordering::Release);
            let cpu = thread_cpu();
            let sum = consume(&mut rx.0, n);
            let end = Instant::now();
            CONSUMER_CPU.store((thread_cpu() - cpu).as_nanos() as u64, Ordering::Relaxed);
            (end, sum)
        });
        while !ready.load(Ordering::Acquire) {
            spin_loop();
        }
        let start = Instant::now();
        let cpu = thread_cpu();
        produce(&mut tx.0, n);
        PRODUCER_CPU.store((thread_cpu() - cpu).as_nanos() as u64, Ordering::Relaxed);
        let (end, sum) = consumer.join().expect("consumer thread panicked");
        (start, end, sum)
    });
    assert_eq!(sum, expected_sum(n), "{name}: consumer saw wrong items");
    black_box(sum);
    end.saturating_duration_since(start)
}

/// CPU time of the consumer and of the producer in the last transfer, in
/// nanoseconds: a transfer whose threads were preempted shows less CPU time
/// than elapsed time (both sides spin, so they use all of it otherwise).
static CONSUMER_CPU: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static PRODUCER_CPU: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The calling thread's time on its CPU (`CLOCK_THREAD_CPUTIME_ID`, which
/// Linux brings up to date when asked).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec` for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(
        ts.tv_sec.try_into().unwrap_or(0),
        ts.tv_nsec.try_into().unwrap_or(0),
    )
}

fn items_per_sec(n: u64, elapsed: Duration) -> Option<f64> {
    let secs = elapsed.as_secs_f64();
    (secs > 0.0).then(|| n as f64 / secs)
}

// ---- ipckit -------------------------------------------------------------

fn ipckit_push_single(tx: &mut spsc::Producer<'_, u64>, n: u64) {
    let mut spins = 0u64;
    for i in 0..n {
        loop {
            match tx.try_push(i) {
                Ok(()) => break,
                Err(Error::Full) => {
                    spins += 1;
                    spin_loop()
                }
                Err(e) => panic!("ipckit push: {e}"),
            }
        }
    }
    FULL_SPINS.fetch_add(spins, Ordering::Relaxed);
}

fn ipckit_pop_single(rx: &mut spsc::Consumer<'_, u64>, n: u64) -> u64 {
    let mut spins = 0u64;
    let mut sum = 0u64;
    let mut left = n;
    while left > 0 {
        match rx.try_pop() {
            Ok(v) => {
                sum = sum.wrapping_add(v);
                left -= 1;
            }
            Err(Error::Empty) => {
                spins += 1;
                spin_loop()
            }
            Err(e) => panic!("ipckit pop: {e}"),
        }
    }
    EMPTY_SPINS.fetch_add(spins, Ordering::Relaxed);
    sum
}

// The batch variant uses the chunk API on both sides, the same shape as
// rtrb's below. Measured against `push_partial_slice` (from a filled 64-item array)
// and `pop_partial_slice` (into one) in every combination, chunk + chunk was the
// fastest.

fn ipckit_push_batch(tx: &mut spsc::Producer<'_, u64>, n: u64) {
    let mut next = 0u64;
    while next < n {
        let want = (n - next).min(BATCH as u64) as usize;
        let chunk = tx.write_chunk_up_to(want).expect("ipckit write_chunk");
        if chunk.is_empty() {
            spin_loop();
            continue;
        }
        next += chunk.fill_from_iter(next..) as u64;
    }
}

fn ipckit_pop_batch(rx: &mut spsc::Consumer<'_, u64>, n: u64) -> u64 {
    let mut sum = 0u64;
    let mut left = n;
    while left > 0 {
        let chunk = rx.read_chunk_up_to(BATCH).expect("ipckit read_chunk");
        if chunk.is_empty() {
            spin_loop();
            continue;
        }
        left -= chunk.len() as u64;
        sum = chunk.iter().fold(sum, u64::wrapping_add);
        chunk.commit_all();
    }
    sum
}

// ---- rtrb ---------------------------------------------------------------

fn rtrb_push_single(tx: &mut rtrb::Producer<u64>, n: u64) {
    let mut spins = 0u64;
    for i in 0..n {
        while tx.push(i).is_err() {
            spins += 1;
            spin_loop();
        }
    }
    FULL_SPINS.fetch_add(spins, Ordering::Relaxed);
}

fn rtrb_pop_single(rx: &mut rtrb::Consumer<u64>, n: u64) -> u64 {
    let mut spins = 0u64;
    let mut sum = 0u64;
    let mut left = n;
    while left > 0 {
        match rx.pop() {
            Ok(v) => {
                sum = sum.wrapping_add(v);
                left -= 1;
            }
            Err(rtrb::PopError::Empty) => {
                spins += 1;
                spin_loop()
            }
        }
    }
    EMPTY_SPINS.fetch_add(spins, Ordering::Relaxed);
    sum
}

// rtrb's chunk calls fail unless all `n` slots are there. Like ipckit's,
// they trust the cached index when it promises `n` and reload it otherwise;
// the error carries the count found, which is then requested, so each side
// behaves exactly as ipckit's "up to 64" does (no extra `slots()` reload per
// chunk).

fn rtrb_push_chunk(tx: &mut rtrb::Producer<u64>, n: u64) {
    use rtrb::chunks::ChunkError::TooFewSlots;
    let mut next = 0u64;
    while next < n {
        let want = (n - next).min(BATCH as u64) as usize;
        let got = match tx.write_chunk_uninit(want) {
            Ok(chunk) => {
                next += chunk.fill_from_iter(next..) as u64;
                continue;
            }
            Err(TooFewSlots(0)) => {
                spin_loop();
                continue;
            }
            Err(TooFewSlots(got)) => got,
        };
        let chunk = tx.write_chunk_uninit(got).expect("rtrb write_chunk_uninit");
        next += chunk.fill_from_iter(next..) as u64;
    }
}

fn rtrb_pop_chunk(rx: &mut rtrb::Consumer<u64>, n: u64) -> u64 {
    use rtrb::chunks::ChunkError::TooFewSlots;
    let mut sum = 0u64;
    let mut left = n;
    while left > 0 {
        let got = match rx.read_chunk(BATCH) {
            Ok(_) => BATCH,
            Err(TooFewSlots(0)) => {
                spin_loop();
                continue;
            }
            Err(TooFewSlots(got)) => got,
        };
        let chunk = rx.read_chunk(got).expect("rtrb read_chunk");
        let (a, b) = chunk.as_slices();
        sum = a.iter().chain(b).fold(sum, |s, &v| s.wrapping_add(v));
        left -= got as u64;
        chunk.commit_all();
    }
    sum
}

// ---- crossbeam ----------------------------------------------------------

fn crossbeam_push(q: &mut &ArrayQueue<u64>, n: u64) {
    for i in 0..n {
        while q.push(i).is_err() {
            spin_loop();
        }
    }
}

fn crossbeam_pop(q: &mut &ArrayQueue<u64>, n: u64) -> u64 {
    let mut sum = 0u64;
    let mut left = n;
    while left > 0 {
        match q.pop() {
            Some(v) => {
                sum = sum.wrapping_add(v);
                left -= 1;
            }
            None => spin_loop(),
        }
    }
    sum
}

// ---- the stamped-slot prototype ------------------------------------------

#[path = "spsc/stamped.rs"]
mod stamped;

// ---- the queues under test ----------------------------------------------

type Pair<Tx, Rx> = (Box<Padded<Tx>>, Box<Padded<Rx>>);

/// One instance of every queue, each end on its own cache lines. The single
/// and batch variants of a queue share it (it is empty between transfers).
struct Queues {
    ipckit: Pair<spsc::Producer<'static, u64>, spsc::Consumer<'static, u64>>,
    rtrb: Pair<rtrb::Producer<u64>, rtrb::Consumer<u64>>,
    crossbeam: Pair<&'static ArrayQueue<u64>, &'static ArrayQueue<u64>>,
    stamped: Pair<stamped::Producer<false>, stamped::Consumer>,
    stamped_tail: Pair<stamped::Producer<true>, stamped::Consumer>,
}

impl Queues {
    /// Builds the queues. The ipckit region and the `ArrayQueue` are leaked
    /// (a few dozen KiB, once or twice per run) so the endpoints can own
    /// `'static` borrows of them.
    fn new() -> Self {
        // On the heap so that the ring outlives this frame; the 33 KiB pass
        // through the (8 MiB) main-thread stack at most once.
        let bytes = Box::leak(Box::new(AlignedBytes::<REGION_LEN>::new()));
        let ring = spsc::Ring::<u64>::init(Region::from_slice(&mut bytes[..]), CAPACITY)
            .expect("ipckit ring");
        let (tx, rx) = ring.split().expect("ipckit endpoints");
        let (rtx, rrx) = rtrb::RingBuffer::<u64>::new(CAPACITY as usize);
        let queue: &'static ArrayQueue<u64> =
            Box::leak(Box::new(ArrayQueue::new(CAPACITY as usize)));
        Self {
            ipckit: (padded(tx), padded(rx)),
            rtrb: (padded(rtx), padded(rrx)),
            crossbeam: (padded(queue), padded(queue)),
            stamped: {
                let (tx, rx) = stamped::new();
                (padded(tx), padded(rx))
            },
            stamped_tail: {
                let (tx, rx) = stamped::new();
                (padded(tx), padded(rx))
            },
        }
    }

    /// Moves `n` items through `variant` and returns the elapsed time.
    fn run(&mut self, variant: Variant, n: u64) -> Duration {
        let name = variant.name();
        match variant {
            Variant::IpckitSingle => {
                let (tx, rx) = &mut self.ipckit;
                transfer(name, n, tx, rx, ipckit_push_single, ipckit_pop_single)
            }
            Variant::IpckitBatch => {
                let (tx, rx) = &mut self.ipckit;
                transfer(name, n, tx, rx, ipckit_push_batch, ipckit_pop_batch)
            }
            Variant::RtrbSingle => {
                let (tx, rx) = &mut self.rtrb;
                transfer(name, n, tx, rx, rtrb_push_single, rtrb_pop_single)
            }
            Variant::RtrbChunk => {
                let (tx, rx) = &mut self.rtrb;
                transfer(name, n, tx, rx, rtrb_push_chunk, rtrb_pop_chunk)
            }
            Variant::CrossbeamSingle => {
                let (tx, rx) = &mut self.crossbeam;
                transfer(name, n, tx, rx, crossbeam_push, crossbeam_pop)
            }
            Variant::StampedSingle => {
                let (tx, rx) = &mut self.stamped;
                transfer(name, n, tx, rx, stamped::push_all, stamped::pop_all)
            }
            Variant::StampedTailSingle => {
                let (tx, rx) = &mut self.stamped_tail;
                transfer(name, n, tx, rx, stamped::push_all, stamped::pop_all)
            }
        }
    }
}

// ---- criterion ----------------------------------------------------------

fn bench_spsc(c: &mut Criterion) {
    pin::pin_main();
    let mut queues = Queues::new();
    let mut group = c.benchmark_group("spsc_u64");
    group.throughput(Throughput::Elements(1));
    for variant in Variant::ALL {
        group.bench_function(variant.name(), |b| {
            b.iter_custom(|n| {
                let elapsed = queues.run(variant, n);
                if let Some(rate) = items_per_sec(n, elapsed) {
                    SAMPLES.record(variant, rate);
                }
                elapsed
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
    targets = bench_spsc
}

// ---- summary ------------------------------------------------------------

/// Prints criterion's view, then runs every variant that criterion ran in
/// turn, `PAIRED_ROUNDS` times, each turn sized from its criterion median to
/// last about `PAIRED_TURN`, and prints that. Both sides of a ratio are
/// measured a few milliseconds apart, so a slow spell of the machine hits
/// both.
fn print_summary(run: CriterionRun) {
    let summary = Summary {
        title: format!("SPSC u64 throughput, capacity {CAPACITY}, batch {BATCH}"),
        placement: pin::placement("producer", "consumer"),
        variants: &Variant::ALL,
        name: Variant::name,
        unit: Unit::PerSecond,
        ratios: &RATIOS,
    };
    let mut queues = Queues::new();
    let _ = SAMPLES.summary(run, &summary, PAIRED_ROUNDS, |v, criterion| {
        let n = (criterion.median * PAIRED_TURN.as_secs_f64()).clamp(1e4, 1e8) as u64;
        Ok::<_, Infallible>(items_per_sec(n, queues.run(v, n)).unwrap_or(f64::NAN))
    });
}

// ---- instruction counts and quick races --------------------------------

#[path = "spsc/modes.rs"]
mod modes;

fn main() {
    if let Some(rounds) = std::env::var("SPSC_RACE").ok().and_then(|v| v.parse().ok()) {
        modes::race(rounds);
        return;
    }
    if let Some(items) = std::env::var("SPSC_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        modes::count_instructions(items);
        return;
    }
    let run = CriterionRun::from_args(SAMPLE_SIZE);
    benches();
    Criterion::default().configure_from_args().final_summary();
    if run.benchmarking {
        print_summary(run);
    }
}

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

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::hint::{black_box, spin_loop};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex, OnceLock};
use std::time::{Duration, Instant};
use support::{allowed_cpus, median, pin_to};

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
/// everything `iter_custom` saw (see [`measured_samples`]).
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
}

impl Variant {
    const ALL: [Variant; 5] = [
        Variant::IpckitSingle,
        Variant::IpckitBatch,
        Variant::RtrbSingle,
        Variant::RtrbChunk,
        Variant::CrossbeamSingle,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::IpckitSingle => "ipckit/single",
            Variant::IpckitBatch => "ipckit/batch64",
            Variant::RtrbSingle => "rtrb/single",
            Variant::RtrbChunk => "rtrb/chunk64",
            Variant::CrossbeamSingle => "crossbeam_array_queue/single",
        }
    }
}

/// The ratios the summary reports: label, numerator, denominator.
const RATIOS: [(&str, Variant, Variant); 3] = [
    (
        "ipckit single / rtrb single",
        Variant::IpckitSingle,
        Variant::RtrbSingle,
    ),
    (
        "ipckit batch64 / rtrb chunk64",
        Variant::IpckitBatch,
        Variant::RtrbChunk,
    ),
    (
        "ipckit single / crossbeam ArrayQueue",
        Variant::IpckitSingle,
        Variant::CrossbeamSingle,
    ),
];

/// Items per second of every `iter_custom` call, per variant, in call order
/// (warm-up first, then the measured samples).
static SAMPLES: LazyLock<Mutex<HashMap<Variant, Vec<f64>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The two CPUs used: producer, consumer. `None` when pinning is not possible.
static CPUS: OnceLock<Option<(usize, usize)>> = OnceLock::new();
/// Set once a failed pin has been reported, so the note prints only once.
static PIN_NOTE: AtomicBool = AtomicBool::new(false);

// ---- CPU pinning --------------------------------------------------------

fn pin_note(what: &str, err: &io::Error) {
    if !PIN_NOTE.swap(true, Ordering::Relaxed) {
        eprintln!("note: could not pin the {what} thread ({err}); continuing unpinned");
    }
}

/// Chooses the producer and consumer CPUs and pins the calling (producer)
/// thread. Runs once.
fn setup_cpus() -> Option<(usize, usize)> {
    *CPUS.get_or_init(|| {
        let cpus = match allowed_cpus() {
            Ok(cpus) => cpus,
            Err(e) => {
                pin_note("producer", &e);
                return None;
            }
        };
        if cpus.len() < 2 {
            eprintln!(
                "note: only {} CPU(s) available; the two threads run unpinned",
                cpus.len()
            );
            return None;
        }
        let (producer, consumer) = (cpus[0], cpus[1]);
        match pin_to(producer) {
            Ok(()) => {
                eprintln!("producer pinned to CPU {producer}, consumer to CPU {consumer}");
                Some((producer, consumer))
            }
            Err(e) => {
                pin_note("producer", &e);
                None
            }
        }
    })
}

fn pin_consumer() {
    if let Some(Some((_, cpu))) = CPUS.get() {
        if let Err(e) = pin_to(*cpu) {
            pin_note("consumer", &e);
        }
    }
}

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
            pin_consumer();
            ready.store(true, Ordering::Release);
            let sum = consume(&mut rx.0, n);
            (Instant::now(), sum)
        });
        while !ready.load(Ordering::Acquire) {
            spin_loop();
        }
        let start = Instant::now();
        produce(&mut tx.0, n);
        let (end, sum) = consumer.join().expect("consumer thread panicked");
        (start, end, sum)
    });
    assert_eq!(sum, expected_sum(n), "{name}: consumer saw wrong items");
    black_box(sum);
    end.saturating_duration_since(start)
}

fn items_per_sec(n: u64, elapsed: Duration) -> Option<f64> {
    let secs = elapsed.as_secs_f64();
    (secs > 0.0).then(|| n as f64 / secs)
}

// ---- ipckit -------------------------------------------------------------

fn ipckit_push_single(tx: &mut spsc::Producer<'_, u64>, n: u64) {
    for i in 0..n {
        loop {
            match tx.try_push(i) {
                Ok(()) => break,
                Err(Error::Full) => spin_loop(),
                Err(e) => panic!("ipckit push: {e}"),
            }
        }
    }
}

fn ipckit_pop_single(rx: &mut spsc::Consumer<'_, u64>, n: u64) -> u64 {
    let mut sum = 0u64;
    let mut left = n;
    while left > 0 {
        match rx.try_pop() {
            Ok(v) => {
                sum = sum.wrapping_add(v);
                left -= 1;
            }
            Err(Error::Empty) => spin_loop(),
            Err(e) => panic!("ipckit pop: {e}"),
        }
    }
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
    for i in 0..n {
        while tx.push(i).is_err() {
            spin_loop();
        }
    }
}

fn rtrb_pop_single(rx: &mut rtrb::Consumer<u64>, n: u64) -> u64 {
    let mut sum = 0u64;
    let mut left = n;
    while left > 0 {
        match rx.pop() {
            Ok(v) => {
                sum = sum.wrapping_add(v);
                left -= 1;
            }
            Err(rtrb::PopError::Empty) => spin_loop(),
        }
    }
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

// ---- the queues under test ----------------------------------------------

type Pair<Tx, Rx> = (Box<Padded<Tx>>, Box<Padded<Rx>>);

/// One instance of every queue, each end on its own cache lines. The single
/// and batch variants of a queue share it (it is empty between transfers).
struct Queues {
    ipckit: Pair<spsc::Producer<'static, u64>, spsc::Consumer<'static, u64>>,
    rtrb: Pair<rtrb::Producer<u64>, rtrb::Consumer<u64>>,
    crossbeam: Pair<&'static ArrayQueue<u64>, &'static ArrayQueue<u64>>,
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
        }
    }
}

// ---- criterion ----------------------------------------------------------

fn bench_spsc(c: &mut Criterion) {
    setup_cpus();
    let mut queues = Queues::new();
    let mut group = c.benchmark_group("spsc_u64");
    group.throughput(Throughput::Elements(1));
    for variant in Variant::ALL {
        group.bench_function(variant.name(), |b| {
            b.iter_custom(|n| {
                let elapsed = queues.run(variant, n);
                if let Some(rate) = items_per_sec(n, elapsed) {
                    SAMPLES
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(variant)
                        .or_default()
                        .push(rate);
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

/// How criterion runs, read from the same arguments it parses.
struct Args {
    /// Measuring (not `--test`, `--list` or `--profile-time`).
    benchmarking: bool,
    /// The number of trailing `iter_custom` calls per variant that are the
    /// measured samples.
    measured: usize,
}

fn parse_args() -> Args {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |flag: &str| {
        args.iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    let benchmarking = has("--bench") && !has("--test") && !has("--list") && !has("--profile-time");
    // `--quick` measures with doubling counts until two agree and keeps the
    // last two; otherwise criterion takes `sample_size` samples after the
    // warm-up calls.
    let measured = if has("--quick") {
        2
    } else {
        let mut size = SAMPLE_SIZE;
        for (i, a) in args.iter().enumerate() {
            let value = if a == "--sample-size" {
                args.get(i + 1).map(String::as_str)
            } else {
                a.strip_prefix("--sample-size=")
            };
            if let Some(v) = value.and_then(|v| v.parse().ok()) {
                size = v;
            }
        }
        size
    };
    Args {
        benchmarking,
        measured,
    }
}

/// The measured samples of `variant`: its last `measured` calls.
fn measured_samples(variant: Variant, measured: usize) -> Option<Vec<f64>> {
    let samples = SAMPLES.lock().unwrap_or_else(|e| e.into_inner());
    let all = samples.get(&variant)?;
    let tail = &all[all.len().saturating_sub(measured)..];
    (!tail.is_empty()).then(|| tail.to_vec())
}

/// Runs every variant that criterion ran, in turn, `PAIRED_ROUNDS` times,
/// each turn sized from its criterion median to last about `PAIRED_TURN`,
/// and returns the median over rounds of each ratio of [`RATIOS`]. Both sides
/// of a ratio are measured a few milliseconds apart, so a slow spell of the
/// machine hits both.
fn paired_ratios(medians: &HashMap<Variant, f64>) -> Vec<(&'static str, f64)> {
    let variants: Vec<Variant> = Variant::ALL
        .into_iter()
        .filter(|v| medians.contains_key(v))
        .collect();
    let mut queues = Queues::new();
    let mut rates: HashMap<Variant, Vec<f64>> = HashMap::new();
    for _ in 0..PAIRED_ROUNDS {
        for &v in &variants {
            let n = (medians[&v] * PAIRED_TURN.as_secs_f64()).clamp(1e4, 1e8) as u64;
            let rate = items_per_sec(n, queues.run(v, n)).unwrap_or(f64::NAN);
            rates.entry(v).or_default().push(rate);
        }
    }
    RATIOS
        .iter()
        .filter_map(|&(label, a, b)| {
            let (a, b) = (rates.get(&a)?, rates.get(&b)?);
            let mut per_round: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
            Some((label, median(&mut per_round)))
        })
        .collect()
}

fn print_summary(args: &Args) {
    let mut medians = HashMap::new();
    let mut spreads = HashMap::new();
    for v in Variant::ALL {
        if let Some(mut samples) = measured_samples(v, args.measured) {
            medians.insert(v, median(&mut samples));
            spreads.insert(v, (samples[0], samples[samples.len() - 1]));
        }
    }
    if medians.is_empty() {
        return;
    }
    println!();
    println!(
        "SPSC u64 throughput, capacity {CAPACITY}, batch {BATCH}, {} samples per variant",
        args.measured
    );
    match CPUS.get() {
        Some(Some((p, c))) => println!("producer on CPU {p}, consumer on CPU {c}"),
        _ => println!("threads not pinned"),
    }
    println!(
        "{:<30} {:>12} {:>12} {:>12}",
        "variant", "median M/s", "min M/s", "max M/s"
    );
    for v in Variant::ALL {
        if let (Some(m), Some((lo, hi))) = (medians.get(&v), spreads.get(&v)) {
            println!(
                "{:<30} {:>12.1} {:>12.1} {:>12.1}",
                v.name(),
                m / 1e6,
                lo / 1e6,
                hi / 1e6
            );
        }
    }
    println!();
    println!("{:<38} {:>10}", "ratio (of the medians above)", "");
    for (label, a, b) in RATIOS {
        if let (Some(a), Some(b)) = (medians.get(&a), medians.get(&b)) {
            println!("  {label:<36} {:>10.2}", a / b);
        }
    }
    println!("ratio (interleaved, median of {PAIRED_ROUNDS} rounds)");
    for (label, ratio) in paired_ratios(&medians) {
        println!("  {label:<36} {ratio:>10.2}");
    }
}

fn main() {
    let args = parse_args();
    benches();
    Criterion::default().configure_from_args().final_summary();
    if args.benchmarking {
        print_summary(&args);
    }
}

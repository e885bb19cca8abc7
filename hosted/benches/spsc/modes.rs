//! Two ways to run the SPSC bench besides criterion, chosen by environment
//! variables (see `main`): instruction counts under callgrind, and a quick
//! interleaved race that keeps only the rounds in which neither thread was
//! preempted.

use std::hint::black_box;
use std::sync::atomic::Ordering;

use super::{
    CONSUMER_CPU, EMPTY_SPINS, FULL_SPINS, PRODUCER_CPU, Pair, Queues, RATIOS, Variant,
    expected_sum, ipckit_pop_batch, ipckit_pop_single, ipckit_push_batch, ipckit_push_single,
    items_per_sec, pin, rtrb_pop_chunk, rtrb_pop_single, rtrb_push_chunk, rtrb_push_single,
    stamped,
};

/// Items per push run of [`count_instructions`] (then as many pops).
const COUNT_RUN: u64 = 1024;

/// `SPSC_COUNT=<items>`: moves that many items through every variant on one
/// thread (runs of `COUNT_RUN` pushes, then as many pops) with the very
/// loops the benchmark times, called through function pointers so that each
/// stays a function of its own. Under `valgrind --tool=callgrind`, each
/// loop's instruction count divided by the items gives the instructions per
/// push or pop, a figure that does not move with the load of the machine.
pub fn count_instructions(items: u64) {
    fn turns<Tx, Rx>(
        items: u64,
        (tx, rx): &mut Pair<Tx, Rx>,
        produce: fn(&mut Tx, u64),
        consume: fn(&mut Rx, u64) -> u64,
    ) {
        let (produce, consume) = (black_box(produce), black_box(consume));
        for _ in 0..items / COUNT_RUN {
            produce(&mut tx.0, COUNT_RUN);
            assert_eq!(consume(&mut rx.0, COUNT_RUN), expected_sum(COUNT_RUN));
        }
    }
    let mut q = Queues::new();
    turns(items, &mut q.ipckit, ipckit_push_single, ipckit_pop_single);
    turns(items, &mut q.ipckit, ipckit_push_batch, ipckit_pop_batch);
    turns(items, &mut q.rtrb, rtrb_push_single, rtrb_pop_single);
    turns(items, &mut q.rtrb, rtrb_push_chunk, rtrb_pop_chunk);
    turns(items, &mut q.stamped, stamped::push_all, stamped::pop_all);
    println!("moved {items} items through every variant on one thread");
}

/// Items per turn of the race.
const RACE_ITEMS: u64 = 4_000_000;
/// The least share of the elapsed time that both threads must have spent
/// on their CPUs for a turn to count.
const UNDISTURBED: f64 = 0.97;

/// `(median, min, max)` of the numbers of `v` (NaN when there are none).
fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.retain(|x| !x.is_nan());
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => (f64::NAN, f64::NAN, f64::NAN),
        n => (v[n / 2], v[0], v[n - 1]),
    }
}

/// `SPSC_RACE=<rounds>`: every variant in turn moving `RACE_ITEMS` items,
/// `rounds` times. A turn in which either thread spent less than
/// `UNDISTURBED` of the elapsed time on its CPU (it was preempted: on a
/// machine shared with other work, most turns are) is dropped; each
/// variant's median over the kept turns is printed, with the consumer's
/// empty polls per item (how often it found the ring empty: above 1, it
/// waits on the producer), and each ratio's median over the rounds in which
/// both of its turns were kept.
pub fn race(rounds: usize) {
    pin::pin_main();
    let mut queues = Queues::new();
    let mut rates = vec![Vec::new(); Variant::ALL.len()];
    let mut spins = vec![Vec::new(); Variant::ALL.len()];
    let mut shares = Vec::new();
    let mut fulls = vec![Vec::new(); Variant::ALL.len()];
    for _ in 0..rounds {
        for (i, v) in Variant::ALL.iter().enumerate() {
            let spins0 = EMPTY_SPINS.load(Ordering::Relaxed);
            let full0 = FULL_SPINS.load(Ordering::Relaxed);
            let elapsed = queues.run(*v, RACE_ITEMS);
            let cpu = CONSUMER_CPU
                .load(Ordering::Relaxed)
                .min(PRODUCER_CPU.load(Ordering::Relaxed));
            let share = cpu as f64 / elapsed.as_nanos() as f64;
            shares.push(share);
            let kept = share >= UNDISTURBED;
            let rate = items_per_sec(RACE_ITEMS, elapsed).filter(|_| kept);
            rates[i].push(rate.map_or(f64::NAN, |r| r / 1e6));
            let per_item = |polls: u64| {
                if kept {
                    polls as f64 / RACE_ITEMS as f64
                } else {
                    f64::NAN
                }
            };
            spins[i].push(per_item(EMPTY_SPINS.load(Ordering::Relaxed) - spins0));
            fulls[i].push(per_item(FULL_SPINS.load(Ordering::Relaxed) - full0));
        }
    }
    let (share, low, high) = median(shares);
    println!(
        "race: {rounds} rounds of {RACE_ITEMS} items; the less busy thread ran {:.0} % of a turn \
         (median; {:.0} .. {:.0} %); turns under {:.0} % dropped",
        share * 100.0,
        low * 100.0,
        high * 100.0,
        UNDISTURBED * 100.0
    );
    for (i, v) in Variant::ALL.iter().enumerate() {
        let (m, lo, hi) = median(rates[i].clone());
        let kept = rates[i].iter().filter(|x| !x.is_nan()).count();
        let (polls, _, _) = median(spins[i].clone());
        let (full, _, _) = median(fulls[i].clone());
        println!(
            "{:32} {m:8.1} M/s ({lo:.1} .. {hi:.1}), {kept} turns kept, {polls:.2} empty / {full:.2} full polls per item",
            v.name()
        );
    }
    let index = |k: Variant| Variant::ALL.iter().position(|v| *v == k).unwrap_or(0);
    for r in &RATIOS {
        let (a, b) = (&rates[index(r.a)], &rates[index(r.b)]);
        let (m, lo, hi) = median(a.iter().zip(b).map(|(x, y)| x / y).collect());
        println!("  {:40} {m:5.2} ({lo:.2} .. {hi:.2})", r.label);
    }
}

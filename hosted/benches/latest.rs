//! The cost of the latest-value slot's race-free seqlock copy, against a
//! plain copy of the same value, in one run.
//!
//! `cargo bench -p ipckit --bench latest` (add `-- --quick` for one round).
//!
//! One thread, no contention: what a read and a write cost on their own.
//! The slot moves the value through relaxed `u32` atomics (so that a read
//! racing a write is a discarded torn copy, not undefined behaviour) and
//! brackets it with the sequence word; the peer is `ptr::copy` of the same
//! value between private buffers, which the compiler vectorises. The
//! variants run interleaved, round after round; the table shows the median
//! of the rounds and each ratio is taken between the same round's values.

use std::hint::black_box;
use std::time::Instant;

use ipckit::latest::StaticSlot;
use ipckit_testkit::bench::{PlainRun, Ratio, Unit, interleave};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    Read64,
    Write64,
    Copy64,
    Read4k,
    Write4k,
    Copy4k,
}

const VARIANTS: [Variant; 6] = [
    Variant::Read64,
    Variant::Write64,
    Variant::Copy64,
    Variant::Read4k,
    Variant::Write4k,
    Variant::Copy4k,
];

fn name(v: Variant) -> &'static str {
    match v {
        Variant::Read64 => "slot try_read, 64 B",
        Variant::Write64 => "slot write, 64 B",
        Variant::Copy64 => "plain copy, 64 B",
        Variant::Read4k => "slot try_read, 4 KiB",
        Variant::Write4k => "slot write, 4 KiB",
        Variant::Copy4k => "plain copy, 4 KiB",
    }
}

/// Nanoseconds per call of `op`, over `n` calls.
fn per_op(n: u64, mut op: impl FnMut(u64)) -> f64 {
    let start = Instant::now();
    for i in 0..n {
        op(i);
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// Nanoseconds per read, write or plain copy of a `[u64; W]`.
fn measure<const W: usize>(slot: &StaticSlot<[u64; W]>, what: u8, n: u64) -> f64 {
    match what {
        0 => {
            let mut r = slot.reader();
            per_op(n, |_| {
                black_box(r.try_read().expect("read"));
            })
        }
        1 => {
            let mut w = slot.writer().expect("writer");
            per_op(n, |i| {
                black_box(w.write(black_box([i; W])));
            })
        }
        _ => {
            let src = Box::new([7u64; W]);
            let mut dst = Box::new([0u64; W]);
            per_op(n, |_| {
                // SAFETY: two distinct boxes of `W` words.
                unsafe { std::ptr::copy_nonoverlapping(black_box(&*src), &mut *dst, 1) };
                black_box(&mut dst);
            })
        }
    }
}

fn main() {
    let run = PlainRun::from_args(15);
    let n = if run.smoke { 1_000 } else { 2_000_000 };
    let small = Box::new(StaticSlot::<[u64; 8]>::new());
    let large = Box::new(StaticSlot::<[u64; 512]>::new());
    small.writer().expect("writer").write([1; 8]);
    large.writer().expect("writer").write([1; 512]);
    let rounds = interleave(&VARIANTS, run.rounds, |v| {
        Ok::<_, ()>(match v {
            Variant::Read64 => measure(&small, 0, n),
            Variant::Write64 => measure(&small, 1, n),
            Variant::Copy64 => measure(&small, 2, n),
            Variant::Read4k => measure(&large, 0, n / 16),
            Variant::Write4k => measure(&large, 1, n / 16),
            Variant::Copy4k => measure(&large, 2, n / 16),
        })
    })
    .expect("measure");
    if run.smoke {
        println!("latest: smoke run done");
        return;
    }
    rounds.print(
        "latest-value slot, one thread, ns per call",
        name,
        Unit::Nanos,
        &[
            Ratio::new("read / copy, 64 B", Variant::Read64, Variant::Copy64),
            Ratio::new("write / copy, 64 B", Variant::Write64, Variant::Copy64),
            Ratio::new("read / copy, 4 KiB", Variant::Read4k, Variant::Copy4k),
            Ratio::new("write / copy, 4 KiB", Variant::Write4k, Variant::Copy4k),
        ],
    );
}

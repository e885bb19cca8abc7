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

#[path = "../../tests/support/mod.rs"]
mod support;

mod ends;
#[macro_use]
mod links;
mod turns;

use ipckit_testkit::bench::{Goal, PlainRun, Ratio, Unit, interleave};
use ipckit_testkit::pin;

use ends::{Res, Rx, Tx};
use links::{Kind, Side, make};
use turns::{Metric, turn};

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

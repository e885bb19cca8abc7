//! Round-trip latency of every transport through the common message
//! interface, in one run, and the pipe-size throughput check.
//!
//! `cargo bench -p ipckit --bench transports` (add `-- --quick` for one
//! round, or filters such as `-- unix shm` to run some variants only).
//! Without `--bench` (as `cargo test --benches` runs it) it does one tiny
//! round of each as a smoke test.
//!
//! # Round trips
//! Each variant sends a 64-byte message from this process to a `fork()`ed
//! child (for popen, a spawned child: this program re-executed) that sends
//! it straight back. Every variant runs the same two functions, [`turn`]
//! and [`echo`], over `&mut dyn` [`MessageSender`] + [`MessageReceiver`]
//! (blocking with a 10 s deadline, so a dead peer fails the run instead of
//! hanging it); only the opening of the ends differs. Each direction has
//! its own object where the mechanism is one-way (two pipes, FIFOs, queues,
//! logs, eventfds, signals, shared-memory channels).
//!
//! | variant | message | how each side waits |
//! |---|---|---|
//! | `shm bytes`, `shm mpsc bytes` | 64 B | spins briefly, then sleeps in a futex on the shared mapping |
//! | pipe, FIFO, Unix stream / seqpacket / datagram, TCP, popen | 64 B | `ppoll` |
//! | `posix mq` | 64 B | `mq_timedreceive` |
//! | `sysv mq`, `file log` | 64 B | polling: yields, then sleeps 20 µs..1 ms |
//! | `eventfd` | 8 B (the counter, counter mode) | `ppoll` |
//! | `signal` | 4 B (the `sival_int`) | `ppoll` on a signalfd |
//!
//! The shared-memory channels' blocking calls spin for a moment before
//! they sleep (the core's futex waiter): with the two processes pinned to
//! different cores the answer usually arrives while the waiter spins, so
//! no system call is made on either side. That spinning is part of how the
//! channel blocks, not a benchmark trick, and it costs CPU time the kernel
//! mechanisms do not spend. eventfd and signals carry one word, not 64
//! bytes: their rows are the floor of a kernel wake-up, for comparison.
//!
//! # How it is measured
//! With two or more CPUs the parent is pinned to the first and the child
//! to the second. The variants run interleaved: every round, each variant
//! gets a fresh child for one turn (200 untimed round trips, then each
//! round trip timed on its own for [`TURN`]), so that a slow spell of the
//! machine hits all of them alike. The table, sorted by median, shows the
//! median of the per-round medians, the 99th percentile over all timed
//! round trips, and the median as a multiple of the **pipe's** (the classic
//! kernel mechanism; with the pipe filtered out, of the fastest row).
//!
//! # Pipe size
//! 64 KiB framed messages through a pipe of the default size (64 KiB) and
//! through one enlarged to 1 MiB with `F_SETPIPE_SZ`, interleaved the same
//! way; the child reads them and answers once at the end, so the time
//! covers the last byte arriving.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use ipckit::error::Result;
use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::transport::pipe::pipe_with_max;
use ipckit::transport::popen::{Popen, child_stdio};
use ipckit_testkit::bench::{PlainRun, Ratio, Unit, interleave, print_ratios};
use ipckit_testkit::mechanisms::{Ends, Mech, Naming, PeerOpen};
use ipckit_testkit::pin::{self, CpuPair};
use support::{Exit, fork_child};

/// The longest message of the round trips.
const SIZE: usize = 64;
/// The longest any call waits.
const WAIT: Option<Duration> = Some(Duration::from_secs(10));
/// Rounds of the interleaved pass, and the timed length of one turn.
const ROUNDS: usize = 7;
const TURN: Duration = Duration::from_millis(300);
const WARM_UP: u32 = 200;
/// The first four bytes of the last message of a turn: the echo child
/// sends it back and exits.
const STOP: [u8; 4] = u32::MAX.to_ne_bytes();
/// The environment variable that makes this program a popen echo child.
const CHILD_ENV: &str = "IPCKIT_BENCH_ECHO";

/// How long and how often to measure.
#[derive(Clone, Copy)]
struct Plan {
    rounds: usize,
    warm_up: u32,
    turn: Duration,
    /// 64 KiB messages per pipe-size measurement.
    pipe_messages: usize,
}

/// Both directions of a transport: what each process uses.
trait Endpoint: MessageSender + MessageReceiver {}
impl<T: MessageSender + MessageReceiver> Endpoint for T {}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    ShmBytes,
    ShmMpsc,
    Pipe,
    Fifo,
    UnixStream,
    SeqPacket,
    Datagram,
    Tcp,
    Popen,
    PosixMq,
    SysvMq,
    FileLog,
    EventFd,
    Signal,
}

impl Variant {
    const ALL: [Variant; 14] = [
        Variant::ShmBytes,
        Variant::ShmMpsc,
        Variant::Pipe,
        Variant::Fifo,
        Variant::UnixStream,
        Variant::SeqPacket,
        Variant::Datagram,
        Variant::Tcp,
        Variant::Popen,
        Variant::PosixMq,
        Variant::SysvMq,
        Variant::FileLog,
        Variant::EventFd,
        Variant::Signal,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::ShmBytes => "shm bytes",
            Variant::ShmMpsc => "shm mpsc bytes",
            Variant::Pipe => "pipe (two)",
            Variant::Fifo => "fifo (two)",
            Variant::UnixStream => "unix stream",
            Variant::SeqPacket => "unix seqpacket",
            Variant::Datagram => "unix datagram",
            Variant::Tcp => "tcp loopback",
            Variant::Popen => "popen (stdin/stdout)",
            Variant::PosixMq => "posix mq (two)",
            Variant::SysvMq => "sysv mq (two)",
            Variant::FileLog => "file log (two)",
            Variant::EventFd => "eventfd (8 B)",
            Variant::Signal => "signal (4 B)",
        }
    }

    /// The mechanism, as the CLI and every benchmark open it (popen is
    /// this benchmark's own: its child is this program re-executed).
    fn mech(self) -> Option<Mech> {
        Some(match self {
            Variant::ShmBytes => Mech::ShmBytes,
            Variant::ShmMpsc => Mech::ShmMpscBytes,
            Variant::Pipe => Mech::Pipe,
            Variant::Fifo => Mech::Fifo,
            Variant::UnixStream => Mech::UnixStream,
            Variant::SeqPacket => Mech::UnixSeqpacket,
            Variant::Datagram => Mech::UnixDgram,
            Variant::Tcp => Mech::Tcp,
            Variant::Popen => return None,
            Variant::PosixMq => Mech::PosixMq,
            Variant::SysvMq => Mech::SysvMq,
            Variant::FileLog => Mech::FileLog,
            Variant::EventFd => Mech::Eventfd,
            Variant::Signal => Mech::Signal,
        })
    }

    /// The message length.
    fn len(self) -> usize {
        self.mech().and_then(Mech::fixed_size).unwrap_or(SIZE)
    }
}

// ---------------------------------------------------------------------------
// The two functions every variant runs.

/// The echo loop of a child: sends back every message, until (and
/// including) the one that starts with [`STOP`].
fn echo(end: &mut dyn Endpoint) -> i32 {
    let mut buf = [0u8; SIZE];
    loop {
        let n = match end.recv_timeout(&mut buf, WAIT) {
            Ok(n) => n,
            Err(e) => {
                eprintln!("echo: receive: {e}");
                return 1;
            }
        };
        if let Err(e) = end.send_timeout(&buf[..n], WAIT) {
            eprintln!("echo: send: {e}");
            return 2;
        }
        if buf[..n.min(4)] == STOP {
            return 0;
        }
    }
}

/// One turn of `len`-byte round trips: [`Plan::warm_up`] untimed, then
/// each timed for [`Plan::turn`], in nanoseconds; then the stop message.
/// The first four bytes are a sequence number from 1 (never zero, for
/// eventfd's counter; an `i32` for a signal), the rest a pattern.
fn turn(end: &mut dyn Endpoint, len: usize, plan: &Plan) -> std::result::Result<Vec<u64>, String> {
    let mut msg = [0xa5u8; SIZE];
    msg[4..8].fill(0);
    let mut buf = [0u8; SIZE];
    let mut samples = Vec::with_capacity(200_000);
    let mut start = Instant::now();
    let mut i = 1u32;
    loop {
        msg[..4].copy_from_slice(&i.to_ne_bytes());
        let t0 = Instant::now();
        end.send_timeout(&msg[..len], WAIT)
            .map_err(|e| format!("send: {e}"))?;
        let n = end
            .recv_timeout(&mut buf, WAIT)
            .map_err(|e| format!("recv: {e}"))?;
        let rtt = t0.elapsed();
        if buf[..n] != msg[..len] {
            return Err(format!("round trip {i}: wrong reply"));
        }
        if i == plan.warm_up {
            start = Instant::now();
        } else if i > plan.warm_up {
            samples.push(rtt.as_nanos() as u64);
            if start.elapsed() > plan.turn {
                break;
            }
        }
        i += 1;
    }
    msg[..4].copy_from_slice(&STOP);
    end.send_timeout(&msg[..len], WAIT)
        .map_err(|e| format!("stop: {e}"))?;
    let n = end
        .recv_timeout(&mut buf, WAIT)
        .map_err(|e| format!("stop echo: {e}"))?;
    if buf[..n] != msg[..len] {
        return Err("wrong stop echo".into());
    }
    Ok(samples)
}

/// Forks an echo child that opens its ends with `open_child` (given this
/// process's pid) and times a turn on the ends `open_parent` opens (given
/// the child's pid). Ends made before the fork are moved into the closures:
/// the child's are closed here after the fork; the child leaves the
/// parent's alone (it `_exit`s).
fn forked(
    open_parent: impl FnOnce(u32) -> Result<Ends>,
    open_child: impl FnOnce(u32) -> Result<Ends>,
    len: usize,
    plan: &Plan,
    cpus: Option<CpuPair>,
) -> std::result::Result<Vec<u64>, String> {
    let parent_pid = std::process::id();
    let mut child = fork_child(move || {
        if let Some(p) = cpus {
            let _ = p.pin_peer();
        }
        match open_child(parent_pid) {
            Ok(mut end) => echo(&mut end),
            Err(e) => {
                eprintln!("echo child: opening: {e}");
                3
            }
        }
    })?;
    let mut end = open_parent(child.pid as u32).map_err(err)?;
    let samples = turn(&mut end, len, plan)?;
    drop(end);
    match child.wait(Instant::now() + Duration::from_secs(10))? {
        Exit::Code(0) => Ok(samples),
        other => Err(format!("echo child: {other}")),
    }
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// One turn of `variant`.
fn run(
    variant: Variant,
    plan: &Plan,
    cpus: Option<CpuPair>,
) -> std::result::Result<Vec<u64>, String> {
    let len = variant.len();
    let Some(mech) = variant.mech() else {
        let mut cmd = Command::new(std::env::current_exe().map_err(err)?);
        cmd.env(
            CHILD_ENV,
            cpus.map_or(String::new(), |p| p.peer.to_string()),
        );
        let mut p = Popen::spawn(&mut cmd, 4096).map_err(err)?;
        let samples = turn(&mut p, len, plan)?;
        return match p.wait_timeout(WAIT).map_err(err)? {
            Some(s) if s.success() => Ok(samples),
            other => Err(format!("popen echo child: {other:?}")),
        };
    };
    // Named as the tests name theirs, so `support::leftovers` sees them.
    let naming = Naming {
        prefix: support::unique_name(mech.name()),
        dir: std::env::temp_dir(),
        register: |_| {},
    };
    let setup = mech.setup(len, &naming)?;
    let PeerOpen::Process(peer) = setup.peer else {
        return Err(format!("{}: not a process peer", mech.name()));
    };
    let samples = forked(setup.mine, peer, len, plan, cpus);
    drop(setup.guard);
    samples
}

/// `count` 64 KiB framed messages through a pipe of `capacity` (None:
/// default): MB/s.
fn pipe_throughput(
    capacity: Option<usize>,
    count: usize,
    cpus: Option<CpuPair>,
) -> std::result::Result<f64, String> {
    const MSG: usize = 64 << 10;
    let (mut tx, rx) = pipe_with_max(MSG as u32).map_err(err)?;
    let (done_tx, done_rx) = pipe_with_max(16).map_err(err)?;
    if let Some(c) = capacity {
        tx.set_capacity(c).map_err(err)?;
    }
    let mut rx = Some(rx);
    let mut done_tx = Some(done_tx);
    let mut child = fork_child(|| {
        if let Some(p) = cpus {
            let _ = p.pin_peer();
        }
        let mut rx = rx.take().expect("rx");
        let mut done = done_tx.take().expect("done");
        let mut buf = vec![0u8; MSG];
        if done.send(b"r").is_err() {
            return 3;
        }
        for _ in 0..count {
            match rx.recv_timeout(&mut buf, WAIT) {
                Ok(MSG) => {}
                _ => return 2,
            }
        }
        if done.send(b"d").is_err() {
            return 3;
        }
        0
    })?;
    drop(rx);
    drop(done_tx);
    let mut done_rx = done_rx;
    let mut b = [0u8; 16];
    done_rx.recv_timeout(&mut b, WAIT).map_err(err)?;
    let msg = vec![7u8; MSG];
    let t0 = Instant::now();
    for _ in 0..count {
        tx.send_timeout(&msg, WAIT).map_err(err)?;
    }
    done_rx.recv_timeout(&mut b, WAIT).map_err(err)?;
    let secs = t0.elapsed().as_secs_f64();
    match child.wait(Instant::now() + Duration::from_secs(10))? {
        Exit::Code(0) => Ok((MSG * count) as f64 / secs / 1e6),
        other => Err(format!("pipe reader: {other}")),
    }
}

fn main() {
    // The popen echo child.
    if let Ok(cpu) = std::env::var(CHILD_ENV) {
        if let Ok(c) = cpu.parse() {
            let _ = pin::pin_to(c);
        }
        let code = match child_stdio(4096) {
            Ok((rx, tx)) => echo(&mut Ends::new(tx, rx)),
            Err(_) => 4,
        };
        std::process::exit(code);
    }
    let args = PlainRun::from_args(ROUNDS);
    let smoke = args.smoke;
    let plan = if smoke {
        Plan {
            rounds: 1,
            warm_up: 10,
            turn: Duration::from_millis(5),
            pipe_messages: 16,
        }
    } else {
        Plan {
            rounds: args.rounds,
            warm_up: WARM_UP,
            turn: TURN,
            pipe_messages: 4096, // 256 MiB
        }
    };
    let pinned = pin::pair();
    if let Some(p) = pinned {
        let _ = p.pin_main();
    }
    let variants: Vec<Variant> = Variant::ALL
        .into_iter()
        .filter(|v| args.selects(v.name()))
        .collect();
    // Every round trip timed, per variant, beside the turns' medians.
    let mut all: Vec<Vec<u64>> = vec![Vec::new(); variants.len()];
    let t0 = Instant::now();
    let rounds = interleave(&variants, plan.rounds, |v| {
        let mut s = run(v, &plan, pinned).map_err(|e| format!("{}: {e}", v.name()))?;
        if s.is_empty() {
            return Err(format!("{}: no samples", v.name()));
        }
        s.sort_unstable();
        let k = variants.iter().position(|&x| x == v).expect("a variant");
        all[k].extend_from_slice(&s);
        Ok(s[s.len() / 2] as f64)
    })
    .unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1);
    });
    let elapsed = t0.elapsed();

    println!(
        "transports: round trip through MessageSender/MessageReceiver, 64 B (eventfd 8 B, signal \
         4 B), {} interleaved round(s) of {} ms turns, {:.1} s; {}",
        plan.rounds,
        plan.turn.as_millis(),
        elapsed.as_secs_f64(),
        pin::placement("parent", "child")
    );
    if smoke {
        println!("(smoke run: numbers are not measurements)");
    }
    // Sorted by median; each as a multiple of the pipe's (the classic kernel
    // mechanism; with the pipe filtered out, of the fastest row).
    let mut sorted = variants.clone();
    let median = |v| rounds.stats(v).map_or(f64::NAN, |s| s.median);
    sorted.sort_by(|&a, &b| median(a).total_cmp(&median(b)));
    rounds.print_table(
        "round trip: median of each turn",
        &sorted,
        Variant::name,
        Unit::Nanos,
    );
    println!("round trip p99 over all timed round trips");
    for &v in &sorted {
        let s = &all[variants.iter().position(|&x| x == v).expect("a variant")];
        let p99 = s[(s.len() * 99 / 100).min(s.len() - 1)] as f64;
        println!(
            "  {:<22} {:>10}   ({} round trips)",
            v.name(),
            Unit::Nanos.format(p99),
            s.len()
        );
    }
    let base = if variants.contains(&Variant::Pipe) {
        Variant::Pipe
    } else {
        sorted[0]
    };
    let ratios: Vec<Ratio<Variant>> = sorted
        .iter()
        .filter(|&&v| v != base)
        .map(|&v| Ratio::named(format!("{} / {}", v.name(), base.name()), v, base))
        .collect();
    print_ratios(
        &format!(
            "round trip as a multiple of the {}'s (median of the rounds' ratios)",
            base.name()
        ),
        &ratios,
        |a, b| rounds.ratio(a, b),
    );

    if args.selects("pipe-size") {
        let caps = [None, Some(1 << 20)];
        let rounds = interleave(&caps, plan.rounds, |cap| {
            pipe_throughput(cap, plan.pipe_messages, pinned)
        })
        .unwrap_or_else(|e| {
            eprintln!("pipe throughput: {e}");
            std::process::exit(1);
        });
        let name = |cap: Option<usize>| match cap {
            None => "default pipe (64 KiB)",
            Some(_) => "1 MiB pipe",
        };
        rounds.print(
            &format!(
                "64 KiB framed messages through a pipe ({} MiB a turn)",
                plan.pipe_messages / 16
            ),
            name,
            Unit::MegabytesPerSecond,
            &[Ratio::new("1 MiB pipe / default pipe", caps[1], caps[0])],
        );
    }
    let left = support::leftovers();
    if !left.is_empty() {
        eprintln!("left behind: {left:?}");
        std::process::exit(1);
    }
}

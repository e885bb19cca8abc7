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

use std::os::fd::AsFd;
use std::process::Command;
use std::time::{Duration, Instant};

use ipckit::channel::{bytes, mpsc_bytes};
use ipckit::error::Result;
use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::transport::eventfd::{EventFd, EventFdMode};
use ipckit::transport::fifo::{Fifo, FifoReceiver, FifoSender};
use ipckit::transport::file_log::{LogReader, LogWriter};
use ipckit::transport::pipe::pipe_with_max;
use ipckit::transport::popen::{Popen, child_stdio};
use ipckit::transport::posix_mq::{MqAttr, PosixMq};
use ipckit::transport::signal::{SignalReceiver, SignalSender, block_signal, rt_signal};
use ipckit::transport::sysv_mq::SysvMq;
use ipckit::transport::{tcp, unix};
use support::{Exit, FileGuard, allowed_cpus, fork_child, median, pin_to, temp_path};

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
/// The data area of each shared-memory channel.
const SHM_CAPACITY: u32 = 64 << 10;
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

/// A sender and a receiver as one value, for the one-way transports.
struct Duplex<S, R>(S, R);

impl<S: MessageSender, R> MessageSender for Duplex<S, R> {
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.0.send_timeout(msg, timeout)
    }
    fn max_message_len(&self) -> usize {
        self.0.max_message_len()
    }
    fn flush(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.0.flush(timeout)
    }
}

impl<S, R: MessageReceiver> MessageReceiver for Duplex<S, R> {
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        self.1.recv_timeout(buf, timeout)
    }
    fn max_message_len(&self) -> usize {
        self.1.max_message_len()
    }
}

/// Both directions of a transport: what each process uses.
trait Endpoint: MessageSender + MessageReceiver {}
impl<T: MessageSender + MessageReceiver> Endpoint for T {}

/// One process's ends, opened.
type Ends = Box<dyn Endpoint>;

fn ends(e: impl Endpoint + 'static) -> Ends {
    Box::new(e)
}

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

    /// The message length.
    fn len(self) -> usize {
        match self {
            Variant::EventFd => 8,
            Variant::Signal => 4,
            _ => SIZE,
        }
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
    cpus: Option<(usize, usize)>,
) -> std::result::Result<Vec<u64>, String> {
    let parent_pid = std::process::id();
    let mut child = fork_child(move || {
        if let Some((_, c)) = cpus {
            let _ = pin_to(c);
        }
        match open_child(parent_pid) {
            Ok(mut end) => echo(end.as_mut()),
            Err(e) => {
                eprintln!("echo child: opening: {e}");
                3
            }
        }
    })?;
    let mut end = open_parent(child.pid as u32).map_err(err)?;
    let samples = turn(end.as_mut(), len, plan)?;
    drop(end);
    match child.wait(Instant::now() + Duration::from_secs(10))? {
        Exit::Code(0) => Ok(samples),
        other => Err(format!("echo child: {other}")),
    }
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// [`forked`] for ends opened before the fork: `parent`'s stay here,
/// `child`'s go to the echo child.
fn premade(
    parent: impl Endpoint + 'static,
    child: impl Endpoint + 'static,
    len: usize,
    plan: &Plan,
    cpus: Option<(usize, usize)>,
) -> std::result::Result<Vec<u64>, String> {
    forked(
        move |_| Ok(ends(parent)),
        move |_| Ok(ends(child)),
        len,
        plan,
        cpus,
    )
}

/// A channel end's `create(name, capacity)`.
type Create<T> = fn(&str, u32) -> Result<T>;
/// A channel end's `open(name)`.
type OpenByName<T> = fn(&str) -> Result<T>;

/// [`forked`] over a shared-memory channel each way: this process creates
/// both by name with `create_tx` / `create_rx`; the child opens its ends by
/// name after the fork with `open_tx` / `open_rx` (a channel endpoint
/// belongs to the process that opened it).
fn shm<S: MessageSender + 'static, R: MessageReceiver + 'static>(
    (create_tx, create_rx): (Create<S>, Create<R>),
    (open_tx, open_rx): (OpenByName<S>, OpenByName<R>),
    len: usize,
    plan: &Plan,
    cpus: Option<(usize, usize)>,
) -> std::result::Result<Vec<u64>, String> {
    let (there, back) = (
        support::ShmGuard::new("there"),
        support::ShmGuard::new("back"),
    );
    let a_tx = create_tx(&there.0, SHM_CAPACITY).map_err(err)?;
    let a_rx = create_rx(&back.0, SHM_CAPACITY).map_err(err)?;
    let (t, b) = (there.0.clone(), back.0.clone());
    forked(
        move |_| Ok(ends(Duplex(a_tx, a_rx))),
        move |_| Ok(ends(Duplex(open_tx(&b)?, open_rx(&t)?))),
        len,
        plan,
        cpus,
    )
}

/// One turn of `variant`.
fn run(
    variant: Variant,
    plan: &Plan,
    cpus: Option<(usize, usize)>,
) -> std::result::Result<Vec<u64>, String> {
    let max = 4096;
    let len = variant.len();
    match variant {
        Variant::ShmBytes => shm(
            (bytes::Sender::create, bytes::Receiver::create),
            (bytes::Sender::open, bytes::Receiver::open),
            len,
            plan,
            cpus,
        ),
        Variant::ShmMpsc => shm(
            (mpsc_bytes::Sender::create, mpsc_bytes::Receiver::create),
            (mpsc_bytes::Sender::open, mpsc_bytes::Receiver::open),
            len,
            plan,
            cpus,
        ),
        Variant::Pipe => {
            let (a_tx, b_rx) = pipe_with_max(max).map_err(err)?;
            let (b_tx, a_rx) = pipe_with_max(max).map_err(err)?;
            premade(Duplex(a_tx, a_rx), Duplex(b_tx, b_rx), len, plan, cpus)
        }
        Variant::Fifo => {
            let there = Fifo::create(temp_path("there")).map_err(err)?;
            let back = Fifo::create(temp_path("back")).map_err(err)?;
            let b_rx = FifoReceiver::open(there.path(), max).map_err(err)?;
            let a_tx = FifoSender::open(there.path(), max, WAIT).map_err(err)?;
            let a_rx = FifoReceiver::open(back.path(), max).map_err(err)?;
            let b_tx = FifoSender::open(back.path(), max, WAIT).map_err(err)?;
            premade(Duplex(a_tx, a_rx), Duplex(b_tx, b_rx), len, plan, cpus)
        }
        Variant::UnixStream => {
            let (a, b) = unix::stream_pair(max).map_err(err)?;
            premade(a, b, len, plan, cpus)
        }
        Variant::SeqPacket => {
            let (a, b) = unix::SeqPacket::pair(max as usize).map_err(err)?;
            premade(a, b, len, plan, cpus)
        }
        Variant::Datagram => {
            let (a, b) = unix::Datagram::pair(max as usize).map_err(err)?;
            premade(a, b, len, plan, cpus)
        }
        Variant::Tcp => {
            let l = tcp::TcpListener::bind("127.0.0.1:0", max).map_err(err)?;
            let a = tcp::connect(l.local_addr().map_err(err)?, max, WAIT).map_err(err)?;
            let b = l.accept(WAIT).map_err(err)?;
            premade(a, b, len, plan, cpus)
        }
        Variant::Popen => {
            let mut cmd = Command::new(std::env::current_exe().map_err(err)?);
            cmd.env(
                CHILD_ENV,
                cpus.map_or(String::new(), |(_, c)| c.to_string()),
            );
            let mut p = Popen::spawn(&mut cmd, max).map_err(err)?;
            let samples = turn(&mut p, len, plan)?;
            match p.wait_timeout(WAIT).map_err(err)? {
                Some(s) if s.success() => Ok(samples),
                other => Err(format!("popen echo child: {other:?}")),
            }
        }
        Variant::PosixMq => {
            let names = [support::unique_name("mq-a"), support::unique_name("mq-b")];
            let _guards = names.clone().map(support::QueueNameGuard);
            let attr = MqAttr {
                max_messages: 4,
                message_size: SIZE,
            };
            let a = PosixMq::create(&names[0], attr).map_err(err)?;
            let b = PosixMq::create(&names[1], attr).map_err(err)?;
            let a2 = PosixMq::open(&names[0]).map_err(err)?;
            let b2 = PosixMq::open(&names[1]).map_err(err)?;
            premade(Duplex(a, b), Duplex(b2, a2), len, plan, cpus)
        }
        Variant::SysvMq => {
            let a = SysvMq::create_private().map_err(err)?;
            let _ga = support::SysvGuard {
                id: a.id(),
                sem: false,
            };
            let b = SysvMq::create_private().map_err(err)?;
            let _gb = support::SysvGuard {
                id: b.id(),
                sem: false,
            };
            let a2 = SysvMq::from_id(a.id()).map_err(err)?;
            let b2 = SysvMq::from_id(b.id()).map_err(err)?;
            premade(Duplex(a, b), Duplex(b2, a2), len, plan, cpus)
        }
        Variant::FileLog => {
            let paths = [temp_path("log-a"), temp_path("log-b")];
            let _guards = paths.clone().map(FileGuard);
            let a = LogWriter::create(&paths[0], SIZE as u32).map_err(err)?;
            let b = LogWriter::create(&paths[1], SIZE as u32).map_err(err)?;
            let a_rx = LogReader::open(&paths[0], SIZE as u32).map_err(err)?;
            let b_rx = LogReader::open(&paths[1], SIZE as u32).map_err(err)?;
            premade(Duplex(a, b_rx), Duplex(b, a_rx), len, plan, cpus)
        }
        Variant::EventFd => {
            // Counter mode: one value in flight at a time, so it arrives
            // as sent.
            let a = EventFd::new(0, EventFdMode::Counter).map_err(err)?;
            let b = EventFd::new(0, EventFdMode::Counter).map_err(err)?;
            let dup = |e: &EventFd| -> std::result::Result<EventFd, String> {
                EventFd::from_fd(e.as_fd().try_clone_to_owned().map_err(err)?).map_err(err)
            };
            let (a2, b2) = (dup(&a)?, dup(&b)?);
            premade(Duplex(a, b), Duplex(b2, a2), len, plan, cpus)
        }
        Variant::Signal => {
            let there = rt_signal(4).map_err(err)?;
            let back = rt_signal(5).map_err(err)?;
            // Both blocked before the fork: the child inherits the mask,
            // so neither signal can arrive unblocked on either side.
            block_signal(there).map_err(err)?;
            block_signal(back).map_err(err)?;
            forked(
                move |child| {
                    Ok(ends(Duplex(
                        SignalSender::new(child, there),
                        SignalReceiver::new(back)?,
                    )))
                },
                move |parent| {
                    Ok(ends(Duplex(
                        SignalSender::new(parent, back),
                        SignalReceiver::new(there)?,
                    )))
                },
                len,
                plan,
                cpus,
            )
        }
    }
}

/// `count` 64 KiB framed messages through a pipe of `capacity` (None:
/// default): MB/s.
fn pipe_throughput(
    capacity: Option<usize>,
    count: usize,
    cpus: Option<(usize, usize)>,
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
        if let Some((_, c)) = cpus {
            let _ = pin_to(c);
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
            let _ = pin_to(c);
        }
        let code = match child_stdio(4096) {
            Ok((rx, tx)) => echo(&mut Duplex(tx, rx)),
            Err(_) => 4,
        };
        std::process::exit(code);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then
    // run one tiny round as a smoke test.
    let smoke = !args.iter().any(|a| a == "--bench") && !quick;
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let plan = if smoke {
        Plan {
            rounds: 1,
            warm_up: 10,
            turn: Duration::from_millis(5),
            pipe_messages: 16,
        }
    } else {
        Plan {
            rounds: if quick { 1 } else { ROUNDS },
            warm_up: WARM_UP,
            turn: TURN,
            pipe_messages: 4096, // 256 MiB
        }
    };
    let cpus = allowed_cpus().unwrap_or_default();
    let pinned = (cpus.len() >= 2).then(|| (cpus[0], cpus[1]));
    if let Some((p, _)) = pinned {
        let _ = pin_to(p);
    }
    let variants: Vec<Variant> = Variant::ALL
        .into_iter()
        .filter(|v| filters.is_empty() || filters.iter().any(|f| v.name().contains(f.as_str())))
        .collect();
    let mut medians: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let mut all: Vec<Vec<u64>> = vec![Vec::new(); variants.len()];
    let t0 = Instant::now();
    for round in 0..plan.rounds {
        for (k, &v) in variants.iter().enumerate() {
            match run(v, &plan, pinned) {
                Ok(mut s) if !s.is_empty() => {
                    s.sort_unstable();
                    medians[k].push(s[s.len() / 2] as f64);
                    all[k].extend_from_slice(&s);
                }
                Ok(_) => {
                    eprintln!("{} (round {round}): no samples", v.name());
                    std::process::exit(1);
                }
                Err(e) => {
                    eprintln!("{} (round {round}): {e}", v.name());
                    std::process::exit(1);
                }
            }
        }
    }
    let elapsed = t0.elapsed();

    // The table, sorted by median.
    struct Row {
        name: &'static str,
        median: f64,
        p99: u64,
        samples: usize,
        pipe: bool,
    }
    let mut rows: Vec<Row> = variants
        .iter()
        .enumerate()
        .map(|(k, v)| {
            let s = &mut all[k];
            s.sort_unstable();
            Row {
                name: v.name(),
                median: median(&mut medians[k]),
                p99: s[(s.len() * 99 / 100).min(s.len() - 1)],
                samples: s.len(),
                pipe: *v == Variant::Pipe,
            }
        })
        .collect();
    rows.sort_by(|a, b| a.median.total_cmp(&b.median));
    let (base, base_name) = match rows.iter().find(|r| r.pipe) {
        Some(r) => (r.median, "pipe"),
        None => (rows.first().map_or(1.0, |r| r.median), "fastest"),
    };
    println!(
        "transports: round trip through MessageSender/MessageReceiver, 64 B (eventfd 8 B, signal \
         4 B), {} interleaved round(s) of {} ms turns, {:.1} s; {}",
        plan.rounds,
        plan.turn.as_millis(),
        elapsed.as_secs_f64(),
        match pinned {
            Some((p, c)) => format!("parent on CPU {p}, child on CPU {c}"),
            None => "not pinned (fewer than 2 CPUs)".to_string(),
        }
    );
    if smoke {
        println!("(smoke run: numbers are not measurements)");
    }
    println!(
        "{:<22} {:>12} {:>12} {:>10} {:>10}",
        "transport",
        "median RTT",
        "p99",
        format!("x {base_name}"),
        "samples"
    );
    for r in &rows {
        println!(
            "{:<22} {:>9.2} us {:>9.2} us {:>9.2}x {:>10}",
            r.name,
            r.median / 1000.0,
            r.p99 as f64 / 1000.0,
            r.median / base,
            r.samples
        );
    }

    if filters.is_empty() || filters.iter().any(|f| "pipe-size".contains(f.as_str())) {
        let mut default = Vec::new();
        let mut big = Vec::new();
        for _ in 0..plan.rounds {
            for (cap, out) in [(None, &mut default), (Some(1 << 20), &mut big)] {
                match pipe_throughput(cap, plan.pipe_messages, pinned) {
                    Ok(mbs) => out.push(mbs),
                    Err(e) => {
                        eprintln!("pipe throughput: {e}");
                        std::process::exit(1);
                    }
                }
            }
        }
        let (d, b) = (median(&mut default), median(&mut big));
        println!(
            "\n64 KiB framed messages through a pipe ({} MiB, median of {})",
            plan.pipe_messages / 16,
            plan.rounds
        );
        println!("  default pipe (64 KiB): {d:>8.0} MB/s");
        println!("  1 MiB pipe:            {b:>8.0} MB/s   ({:.2}x)", b / d);
    }
    let left = support::leftovers();
    if !left.is_empty() {
        eprintln!("left behind: {left:?}");
        std::process::exit(1);
    }
}

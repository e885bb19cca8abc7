//! Round-trip latency of the stream and socket transports through the
//! common message interface, and the pipe-size throughput check.
//!
//! `cargo bench -p ipckit --bench transports` (add `-- --quick` for one
//! round, or a filter such as `-- unix` to run some variants only).
//!
//! # Round trips
//! Each variant sends a 64-byte message from this process to a `fork()`ed
//! child (or, for popen, a spawned child: this program re-executed) that
//! sends it straight back, through [`MessageSender::send_timeout`] and
//! [`MessageReceiver::recv_timeout`] on both sides (blocking with a 10 s
//! deadline, so a dead peer fails the run instead of hanging it). With two
//! or more CPUs the parent is pinned to the first and the child to the
//! second. The variants run interleaved: every round, each variant gets a
//! fresh child for one turn (200 untimed round trips, then each round trip
//! timed on its own for [`TURN`]), so that a slow spell of the machine hits
//! all of them alike. The table shows the median of the per-round medians
//! and the 99th percentile over all timed round trips.
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
use ipckit::transport::fifo::{Fifo, FifoReceiver, FifoSender};
use ipckit::transport::pipe::pipe_with_max;
use ipckit::transport::popen::{Popen, child_stdio};
use ipckit::transport::{tcp, unix};
use support::{Child, Exit, fork_child};

/// The message size of the round trips.
const SIZE: usize = 64;
/// The longest any call waits.
const WAIT: Option<Duration> = Some(Duration::from_secs(10));
/// Rounds of the interleaved pass, and the timed length of one turn.
const ROUNDS: usize = 7;
const TURN: Duration = Duration::from_millis(300);
const WARM_UP: u32 = 200;
/// The environment variable that makes this program a popen echo child.
const CHILD_ENV: &str = "IPCKIT_BENCH_ECHO";

/// A sender and a receiver as one value, for the one-way transports.
struct Duplex<S, R>(S, R);

impl<S: MessageSender, R> MessageSender for Duplex<S, R> {
    fn send_timeout(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<()> {
        self.0.send_timeout(msg, timeout)
    }
    fn max_message_len(&self) -> usize {
        self.0.max_message_len()
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

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    Pipe,
    Fifo,
    UnixStream,
    SeqPacket,
    Datagram,
    Tcp,
    Popen,
}

impl Variant {
    const ALL: [Variant; 7] = [
        Variant::Pipe,
        Variant::Fifo,
        Variant::UnixStream,
        Variant::SeqPacket,
        Variant::Datagram,
        Variant::Tcp,
        Variant::Popen,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::Pipe => "pipe (two)",
            Variant::Fifo => "fifo (two)",
            Variant::UnixStream => "unix stream",
            Variant::SeqPacket => "unix seqpacket",
            Variant::Datagram => "unix datagram",
            Variant::Tcp => "tcp loopback",
            Variant::Popen => "popen (stdin/stdout)",
        }
    }
}

fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed `cpu_set_t` is a valid empty set; the call fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid out-pointer of the size passed.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if r != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE; `set` is initialised.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

fn pin_to(cpu: usize) {
    // SAFETY: as in `allowed_cpus`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` comes from `allowed_cpus`, below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid set of the size passed; failure is harmless.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
}

/// The echo loop of a child: sends back every message until an empty one.
fn echo(end: &mut dyn Endpoint) -> i32 {
    let mut buf = [0u8; SIZE];
    loop {
        match end.recv_timeout(&mut buf, WAIT) {
            Ok(0) => return 0,
            Ok(n) => {
                if end.send_timeout(&buf[..n], WAIT).is_err() {
                    return 2;
                }
            }
            Err(_) => return 1,
        }
    }
}

/// One turn: round trips for [`TURN`], each timed, in nanoseconds.
fn turn(end: &mut dyn Endpoint) -> std::result::Result<Vec<u64>, String> {
    let mut msg = [0u8; SIZE];
    let mut buf = [0u8; SIZE];
    let mut samples = Vec::with_capacity(100_000);
    let start = Instant::now();
    let mut i = 0u64;
    loop {
        msg[..8].copy_from_slice(&i.to_le_bytes());
        let t0 = Instant::now();
        end.send_timeout(&msg, WAIT)
            .map_err(|e| format!("send: {e}"))?;
        let n = end
            .recv_timeout(&mut buf, WAIT)
            .map_err(|e| format!("recv: {e}"))?;
        let rtt = t0.elapsed();
        if n != SIZE || buf[..8] != i.to_le_bytes() {
            return Err(format!("round trip {i}: wrong reply"));
        }
        if i >= u64::from(WARM_UP) {
            samples.push(rtt.as_nanos() as u64);
            if start.elapsed() > TURN + Duration::from_millis(50) {
                break;
            }
        }
        i += 1;
    }
    end.send_timeout(&[], WAIT)
        .map_err(|e| format!("stop: {e}"))?;
    Ok(samples)
}

/// Forks an echo child on `theirs`, times a turn on `ours`.
fn forked<A: Endpoint, B: Endpoint>(
    ours: A,
    theirs: B,
    cpus: Option<(usize, usize)>,
) -> std::result::Result<Vec<u64>, String> {
    let mut ours = Some(ours);
    let mut theirs = Some(theirs);
    let mut child: Child = fork_child(|| {
        drop(ours.take());
        if let Some((_, c)) = cpus {
            pin_to(c);
        }
        let mut end = theirs.take().expect("child end");
        echo(&mut end)
    })?;
    drop(theirs);
    let mut ours = ours.take().expect("parent end");
    let samples = turn(&mut ours)?;
    match child.wait(Instant::now() + Duration::from_secs(10))? {
        Exit::Code(0) => Ok(samples),
        other => Err(format!("echo child: {other}")),
    }
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn unique(what: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(support::unique_name(what))
}

/// One turn of `variant`.
fn run(variant: Variant, cpus: Option<(usize, usize)>) -> std::result::Result<Vec<u64>, String> {
    let max = 4096;
    match variant {
        Variant::Pipe => {
            let (a_tx, b_rx) = pipe_with_max(max).map_err(err)?;
            let (b_tx, a_rx) = pipe_with_max(max).map_err(err)?;
            forked(Duplex(a_tx, a_rx), Duplex(b_tx, b_rx), cpus)
        }
        Variant::Fifo => {
            let there = Fifo::create(unique("there")).map_err(err)?;
            let back = Fifo::create(unique("back")).map_err(err)?;
            let b_rx = FifoReceiver::open(there.path(), max).map_err(err)?;
            let a_tx = FifoSender::open(there.path(), max, WAIT).map_err(err)?;
            let a_rx = FifoReceiver::open(back.path(), max).map_err(err)?;
            let b_tx = FifoSender::open(back.path(), max, WAIT).map_err(err)?;
            forked(Duplex(a_tx, a_rx), Duplex(b_tx, b_rx), cpus)
        }
        Variant::UnixStream => {
            let (a, b) = unix::stream_pair(max).map_err(err)?;
            forked(a, b, cpus)
        }
        Variant::SeqPacket => {
            let (a, b) = unix::SeqPacket::pair(max as usize).map_err(err)?;
            forked(a, b, cpus)
        }
        Variant::Datagram => {
            let (a, b) = unix::Datagram::pair(max as usize).map_err(err)?;
            forked(a, b, cpus)
        }
        Variant::Tcp => {
            let l = tcp::TcpListener::bind("127.0.0.1:0", max).map_err(err)?;
            let a = tcp::connect(l.local_addr().map_err(err)?, max, WAIT).map_err(err)?;
            let b = l.accept(WAIT).map_err(err)?;
            forked(a, b, cpus)
        }
        Variant::Popen => {
            let mut cmd = Command::new(std::env::current_exe().map_err(err)?);
            cmd.env(
                CHILD_ENV,
                cpus.map_or(String::new(), |(_, c)| c.to_string()),
            );
            let mut p = Popen::spawn(&mut cmd, max).map_err(err)?;
            let samples = turn(&mut p)?;
            match p.wait_timeout(WAIT).map_err(err)? {
                Some(s) if s.success() => Ok(samples),
                other => Err(format!("popen echo child: {other:?}")),
            }
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// 64 KiB framed messages through a pipe of `capacity` (None: default):
/// MB/s.
fn pipe_throughput(
    capacity: Option<usize>,
    cpus: Option<(usize, usize)>,
) -> std::result::Result<f64, String> {
    const MSG: usize = 64 << 10;
    const COUNT: usize = 4096; // 256 MiB
    let (mut tx, rx) = pipe_with_max(MSG as u32).map_err(err)?;
    let (done_tx, done_rx) = pipe_with_max(16).map_err(err)?;
    if let Some(c) = capacity {
        tx.set_capacity(c).map_err(err)?;
    }
    let mut rx = Some(rx);
    let mut done_tx = Some(done_tx);
    let mut child = fork_child(|| {
        if let Some((_, c)) = cpus {
            pin_to(c);
        }
        let mut rx = rx.take().expect("rx");
        let mut done = done_tx.take().expect("done");
        let mut buf = vec![0u8; MSG];
        if done.send(b"r").is_err() {
            return 3;
        }
        for _ in 0..COUNT {
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
    for _ in 0..COUNT {
        tx.send_timeout(&msg, WAIT).map_err(err)?;
    }
    done_rx.recv_timeout(&mut b, WAIT).map_err(err)?;
    let secs = t0.elapsed().as_secs_f64();
    match child.wait(Instant::now() + Duration::from_secs(10))? {
        Exit::Code(0) => Ok((MSG * COUNT) as f64 / secs / 1e6),
        other => Err(format!("pipe reader: {other}")),
    }
}

fn main() {
    // The popen echo child.
    if let Ok(cpu) = std::env::var(CHILD_ENV) {
        if let Ok(c) = cpu.parse() {
            pin_to(c);
        }
        let code = match child_stdio(4096) {
            Ok((rx, tx)) => echo(&mut Duplex(tx, rx)),
            Err(_) => 4,
        };
        std::process::exit(code);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let rounds = if quick { 1 } else { ROUNDS };
    let cpus = allowed_cpus();
    let pinned = (cpus.len() >= 2).then(|| (cpus[0], cpus[1]));
    match pinned {
        Some((p, c)) => println!("parent on CPU {p}, child on CPU {c}"),
        None => println!("fewer than 2 CPUs: not pinned"),
    }
    if let Some((p, _)) = pinned {
        pin_to(p);
    }
    let variants: Vec<Variant> = Variant::ALL
        .into_iter()
        .filter(|v| filters.is_empty() || filters.iter().any(|f| v.name().contains(f.as_str())))
        .collect();
    let mut medians: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let mut all: Vec<Vec<u64>> = vec![Vec::new(); variants.len()];
    for round in 0..rounds {
        for (k, &v) in variants.iter().enumerate() {
            match run(v, pinned) {
                Ok(mut s) => {
                    s.sort_unstable();
                    medians[k].push(s[s.len() / 2] as f64);
                    all[k].extend_from_slice(&s);
                }
                Err(e) => {
                    eprintln!("{} (round {round}): {e}", v.name());
                    std::process::exit(1);
                }
            }
        }
    }
    println!(
        "\n64 B round trip through MessageSender/MessageReceiver, {rounds} interleaved rounds"
    );
    println!(
        "{:<22} {:>12} {:>12} {:>12}",
        "transport", "median RTT", "p99", "samples"
    );
    for (k, v) in variants.iter().enumerate() {
        let s = &mut all[k];
        s.sort_unstable();
        let p99 = s[(s.len() * 99 / 100).min(s.len() - 1)];
        println!(
            "{:<22} {:>9.1} us {:>9.1} us {:>12}",
            v.name(),
            median(&mut medians[k]) / 1000.0,
            p99 as f64 / 1000.0,
            s.len()
        );
    }

    if filters.is_empty() || filters.iter().any(|f| "pipe-size".contains(f.as_str())) {
        let mut default = Vec::new();
        let mut big = Vec::new();
        for _ in 0..rounds {
            for (cap, out) in [(None, &mut default), (Some(1 << 20), &mut big)] {
                match pipe_throughput(cap, pinned) {
                    Ok(mbs) => out.push(mbs),
                    Err(e) => {
                        eprintln!("pipe throughput: {e}");
                        std::process::exit(1);
                    }
                }
            }
        }
        let (d, b) = (median(&mut default), median(&mut big));
        println!("\n64 KiB framed messages through a pipe (256 MiB, median of {rounds})");
        println!("  default pipe (64 KiB): {d:>8.0} MB/s");
        println!("  1 MiB pipe:            {b:>8.0} MB/s   ({:.2}x)", b / d);
    }
    let _ = support::leftovers();
}

//! Round-trip latency of the kernel queue transports through the common
//! message interface: a parent process sends a message, a forked child
//! receives it and sends it straight back, both through
//! [`MessageSender`]/[`MessageReceiver`] with a timeout (as a real caller that
//! must notice a dead peer would).
//!
//! `cargo bench -p ipckit --bench transports_queues` (add `-- --quick` for
//! fewer rounds, or a filter such as `-- posix`).
//!
//! | variant | message | how each side waits |
//! |---|---|---|
//! | `posix mq` | 64 B | `mq_timedreceive` (sleeps in the kernel) |
//! | `sysv mq` | 64 B | `IPC_NOWAIT` polling: yields, then sleeps 20 µs..1 ms |
//! | `file log` | 64 B | polling the end of the file, like `sysv mq` |
//! | `eventfd` | 8 B (the counter) | `ppoll` |
//! | `signal` | 4 B (the `sival_int`) | `ppoll` on a signalfd |
//!
//! eventfd and signals carry one word, not 64 bytes: their rows are the
//! floor of a kernel wake-up, for comparison. Each direction has its own
//! object (two queues, two logs, two eventfds, two signals).
//!
//! # How it is measured
//! With two or more CPUs the parent is pinned to one and the child to
//! another. The variants run interleaved, round after round (a fresh child
//! each turn), so a noisy neighbour hits all of them alike; each round warms
//! up, then times every round trip on its own. The table shows the median
//! and the 99th percentile over all rounds' samples, and the spread of the
//! per-round medians.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::transport::eventfd::{EventFd, EventFdMode};
use ipckit::transport::file_log::{LogReader, LogWriter};
use ipckit::transport::posix_mq::{MqAttr, PosixMq};
use ipckit::transport::signal::{SignalReceiver, SignalSender, block_signal, rt_signal};
use ipckit::transport::sysv_mq::SysvMq;
use support::{Exit, fork_child};

/// The longest any side waits for a message before it gives up.
const PATIENCE: Option<Duration> = Some(Duration::from_secs(10));
/// The message of the byte transports.
const MSG_LEN: usize = 64;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    PosixMq,
    SysvMq,
    FileLog,
    EventFd,
    Signal,
}

const VARIANTS: [Variant; 5] = [
    Variant::PosixMq,
    Variant::SysvMq,
    Variant::FileLog,
    Variant::EventFd,
    Variant::Signal,
];

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::PosixMq => "posix mq (64 B)",
            Variant::SysvMq => "sysv mq (64 B)",
            Variant::FileLog => "file log (64 B)",
            Variant::EventFd => "eventfd (8 B)",
            Variant::Signal => "signal (4 B)",
        }
    }
}

// ---------------------------------------------------------------------------
// CPUs (as in the frame bench).

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

// ---------------------------------------------------------------------------
// One round: fork an echo child, time `count` round trips after `warmup`.

/// The parent's ends and the child's ends of one variant.
struct Ends<'a> {
    parent_tx: &'a mut dyn MessageSender,
    parent_rx: &'a mut dyn MessageReceiver,
    child_tx: &'a mut dyn MessageSender,
    child_rx: &'a mut dyn MessageReceiver,
    len: usize,
}

fn round(
    ends: Ends<'_>,
    warmup: u32,
    count: u32,
    cpus: Option<(usize, usize)>,
) -> Result<Vec<u64>, String> {
    let Ends {
        parent_tx,
        parent_rx,
        child_tx,
        child_rx,
        len,
    } = ends;
    let total = warmup + count;
    let mut child = fork_child(|| {
        if let Some((_, cpu)) = cpus {
            pin_to(cpu);
        }
        let mut buf = [0u8; MSG_LEN];
        for _ in 0..total {
            let n = match child_rx.recv_timeout(&mut buf, PATIENCE) {
                Ok(n) => n,
                Err(e) => {
                    eprintln!("echo: {e}");
                    return 1;
                }
            };
            if let Err(e) = child_tx.send_timeout(&buf[..n], PATIENCE) {
                eprintln!("echo: {e}");
                return 1;
            }
        }
        0
    })?;
    if let Some((cpu, _)) = cpus {
        pin_to(cpu);
    }
    let mut msg = [0u8; MSG_LEN];
    let mut back = [0u8; MSG_LEN];
    let mut samples = Vec::with_capacity(count as usize);
    for i in 0..total {
        // A fresh, checkable payload (never zero, for eventfd's counter).
        let seq = (i + 1).to_ne_bytes();
        msg[..4].copy_from_slice(&seq);
        let started = Instant::now();
        parent_tx
            .send_timeout(&msg[..len], PATIENCE)
            .map_err(|e| format!("send {i}: {e}"))?;
        let n = parent_rx
            .recv_timeout(&mut back, PATIENCE)
            .map_err(|e| format!("receive {i}: {e}"))?;
        let elapsed = started.elapsed();
        if n != len || back[..4] != seq {
            return Err(format!("round trip {i}: wrong echo"));
        }
        if i >= warmup {
            samples.push(elapsed.as_nanos() as u64);
        }
    }
    match child.wait(Instant::now() + support::DEADLINE)? {
        Exit::Code(0) => Ok(samples),
        other => Err(format!("echo child: {other}")),
    }
}

fn measure(
    variant: Variant,
    warmup: u32,
    count: u32,
    cpus: Option<(usize, usize)>,
) -> Result<Vec<u64>, String> {
    let e = |e: ipckit::error::Error| e.to_string();
    match variant {
        Variant::PosixMq => {
            let names = [support::unique_name("mq-a"), support::unique_name("mq-b")];
            let _guards = names.clone().map(support::QueueNameGuard);
            let attr = MqAttr {
                max_messages: 4,
                message_size: MSG_LEN,
            };
            let mut a = PosixMq::create(&names[0], attr).map_err(e)?;
            let mut b = PosixMq::create(&names[1], attr).map_err(e)?;
            let mut a2 = PosixMq::open(&names[0]).map_err(e)?;
            let mut b2 = PosixMq::open(&names[1]).map_err(e)?;
            let ends = Ends {
                parent_tx: &mut a,
                parent_rx: &mut b,
                child_tx: &mut b2,
                child_rx: &mut a2,
                len: MSG_LEN,
            };
            round(ends, warmup, count, cpus)
        }
        Variant::SysvMq => {
            let mut a = SysvMq::create_private().map_err(e)?;
            let _ga = support::SysvGuard {
                id: a.id(),
                sem: false,
            };
            let mut b = SysvMq::create_private().map_err(e)?;
            let _gb = support::SysvGuard {
                id: b.id(),
                sem: false,
            };
            let mut a2 = SysvMq::from_id(a.id()).map_err(e)?;
            let mut b2 = SysvMq::from_id(b.id()).map_err(e)?;
            let ends = Ends {
                parent_tx: &mut a,
                parent_rx: &mut b,
                child_tx: &mut b2,
                child_rx: &mut a2,
                len: MSG_LEN,
            };
            round(ends, warmup, count, cpus)
        }
        Variant::FileLog => {
            let dir = std::env::temp_dir();
            let paths = [
                dir.join(support::unique_name("log-a")),
                dir.join(support::unique_name("log-b")),
            ];
            let _guards = paths.clone().map(FileGuard);
            let mut a = LogWriter::create(&paths[0], MSG_LEN as u32).map_err(e)?;
            let mut b = LogWriter::create(&paths[1], MSG_LEN as u32).map_err(e)?;
            let mut a_rx = LogReader::open(&paths[0], MSG_LEN as u32).map_err(e)?;
            let mut b_rx = LogReader::open(&paths[1], MSG_LEN as u32).map_err(e)?;
            let ends = Ends {
                parent_tx: &mut a,
                parent_rx: &mut b_rx,
                child_tx: &mut b,
                child_rx: &mut a_rx,
                len: MSG_LEN,
            };
            round(ends, warmup, count, cpus)
        }
        Variant::EventFd => {
            let mut a = EventFd::new(0, EventFdMode::Counter).map_err(e)?;
            let mut b = EventFd::new(0, EventFdMode::Counter).map_err(e)?;
            let mut a2 =
                EventFd::from_fd(a.as_fd_owned().map_err(|x| x.to_string())?).map_err(e)?;
            let mut b2 =
                EventFd::from_fd(b.as_fd_owned().map_err(|x| x.to_string())?).map_err(e)?;
            let ends = Ends {
                parent_tx: &mut a,
                parent_rx: &mut b,
                child_tx: &mut b2,
                child_rx: &mut a2,
                len: 8,
            };
            round(ends, warmup, count, cpus)
        }
        Variant::Signal => {
            let there = rt_signal(4).map_err(e)?;
            let back = rt_signal(5).map_err(e)?;
            // Both blocked before the fork: the child inherits the mask, so
            // neither signal can arrive unblocked on either side.
            block_signal(there).map_err(e)?;
            block_signal(back).map_err(e)?;
            let mut parent_rx = SignalReceiver::new(back).map_err(e)?;
            let mut child_rx = SignalReceiver::new(there).map_err(e)?;
            // SAFETY: plain query.
            let parent = unsafe { libc::getpid() } as u32;
            // The child's pid is known only after the fork: the parent
            // sends to it through a sender made then (see `round_signal`).
            round_signal(
                &mut parent_rx,
                &mut child_rx,
                there,
                back,
                parent,
                warmup,
                count,
                cpus,
            )
        }
    }
}

/// A file removed when dropped.
struct FileGuard(std::path::PathBuf);

impl Drop for FileGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `as_fd().try_clone_to_owned()` for an eventfd: a second descriptor of
/// the same counter.
trait CloneFd {
    fn as_fd_owned(&self) -> std::io::Result<std::os::fd::OwnedFd>;
}

impl CloneFd for EventFd {
    fn as_fd_owned(&self) -> std::io::Result<std::os::fd::OwnedFd> {
        use std::os::fd::AsFd;
        self.as_fd().try_clone_to_owned()
    }
}

/// Signals need the peer's pid to send: the child sends to the parent's,
/// the parent to the child's, which `fork` returns.
#[allow(clippy::too_many_arguments)]
fn round_signal(
    parent_rx: &mut SignalReceiver,
    child_rx: &mut SignalReceiver,
    there: libc::c_int,
    back: libc::c_int,
    parent: u32,
    warmup: u32,
    count: u32,
    cpus: Option<(usize, usize)>,
) -> Result<Vec<u64>, String> {
    let total = warmup + count;
    let mut child = fork_child(|| {
        if let Some((_, cpu)) = cpus {
            pin_to(cpu);
        }
        let mut tx = SignalSender::new(parent, back);
        let mut buf = [0u8; 4];
        for _ in 0..total {
            if child_rx.recv_timeout(&mut buf, PATIENCE).is_err()
                || tx.send_timeout(&buf, PATIENCE).is_err()
            {
                return 1;
            }
        }
        0
    })?;
    if let Some((cpu, _)) = cpus {
        pin_to(cpu);
    }
    let mut tx = SignalSender::new(child.pid as u32, there);
    let mut buf = [0u8; 4];
    let mut samples = Vec::with_capacity(count as usize);
    for i in 0..total {
        let seq = (i as i32).to_ne_bytes();
        let started = Instant::now();
        tx.send_timeout(&seq, PATIENCE)
            .map_err(|e| format!("send {i}: {e}"))?;
        parent_rx
            .recv_timeout(&mut buf, PATIENCE)
            .map_err(|e| format!("receive {i}: {e}"))?;
        let elapsed = started.elapsed();
        if buf != seq {
            return Err(format!("round trip {i}: wrong echo"));
        }
        if i >= warmup {
            samples.push(elapsed.as_nanos() as u64);
        }
    }
    match child.wait(Instant::now() + support::DEADLINE)? {
        Exit::Code(0) => Ok(samples),
        other => Err(format!("echo child: {other}")),
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    let (rounds, warmup, count) = if quick {
        (2, 200, 1000)
    } else {
        (7, 1000, 5000)
    };
    let cpus = allowed_cpus();
    let pinned = (cpus.len() >= 2).then(|| (cpus[0], cpus[1]));
    println!(
        "transports_queues: 64 B ping-pong RTT, {rounds} interleaved rounds x {count} round trips \
         (after {warmup} warm-up), {}",
        match pinned {
            Some((a, b)) => format!("parent on CPU {a}, child on CPU {b}"),
            None => "not pinned (fewer than 2 CPUs)".to_string(),
        }
    );
    let variants: Vec<Variant> = VARIANTS
        .into_iter()
        .filter(|v| {
            filter
                .as_ref()
                .is_none_or(|f| v.name().contains(f.as_str()))
        })
        .collect();
    let mut all: Vec<Vec<u64>> = vec![Vec::new(); variants.len()];
    let mut medians: Vec<Vec<u64>> = vec![Vec::new(); variants.len()];
    for r in 0..rounds {
        for (i, &v) in variants.iter().enumerate() {
            match measure(v, warmup, count, pinned) {
                Ok(mut samples) => {
                    samples.sort_unstable();
                    medians[i].push(percentile(&samples, 0.5));
                    all[i].extend(samples);
                }
                Err(e) => {
                    eprintln!("transports_queues: {} round {r}: {e}", v.name());
                    std::process::exit(1);
                }
            }
        }
    }
    println!(
        "{:<18} {:>10} {:>10} {:>22}",
        "transport", "median", "p99", "round medians min..max"
    );
    for (i, v) in variants.iter().enumerate() {
        all[i].sort_unstable();
        medians[i].sort_unstable();
        let us = |ns: u64| format!("{:.1} µs", ns as f64 / 1e3);
        println!(
            "{:<18} {:>10} {:>10} {:>22}",
            v.name(),
            us(percentile(&all[i], 0.5)),
            us(percentile(&all[i], 0.99)),
            format!(
                "{}..{}",
                us(*medians[i].first().unwrap_or(&0)),
                us(*medians[i].last().unwrap_or(&0))
            ),
        );
    }
}

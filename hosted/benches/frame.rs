//! Throughput of the SPSC frame ring across two processes, against a pipe, a
//! Unix stream socket and single-threaded `memcpy`, all measured in one run.
//!
//! `cargo bench -p ipckit --bench frame` (add `-- --quick` for one round).
//!
//! Each measurement forks a consumer process; the parent produces. With two
//! or more CPUs the producer is pinned to one and the consumer to another.
//! The consumer times the stream from its first message to its last, so
//! `fork` and start-up are not counted. The variants run interleaved, round
//! after round, so that a noisy neighbour hits all of them alike; the table
//! shows the median of the rounds, and each ratio is taken between medians
//! of the same run.
//!
//! - `frame ring`: `try_send` copies a frame in, `try_recv` copies it out (two
//!   copies, one on each core), spinning on full and empty.
//! - `pipe`, `unix stream`: one `write(2)` per message; the reader reads up
//!   to 1 MiB per `read(2)` and counts bytes (as generous to the kernel as a
//!   stream reader can be: no framing cost is charged).
//! - `memcpy`: one thread copies each message from a 64 MiB source to a
//!   64 MiB destination, moving through them, so the copy is cold as a
//!   message arriving from another core is.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ipckit::CoreError;
use ipckit::frame::spsc::Ring;
use ipckit::shm::SharedMapping;
use ipckit_testkit::bench::{Goal, PlainRun, Ratio, Unit, interleave};
use ipckit_testkit::pin::{self, CpuPair};
use support::{Child, Exit, fork_child};

/// One way to move messages of one size.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mechanism {
    FrameRing,
    Pipe,
    UnixStream,
    Memcpy,
}

impl Mechanism {
    fn name(self) -> &'static str {
        match self {
            Mechanism::FrameRing => "frame ring",
            Mechanism::Pipe => "pipe",
            Mechanism::UnixStream => "unix stream",
            Mechanism::Memcpy => "memcpy (1 thread)",
        }
    }
}

const MECHANISMS: [Mechanism; 4] = [
    Mechanism::FrameRing,
    Mechanism::Pipe,
    Mechanism::UnixStream,
    Mechanism::Memcpy,
];

/// Message sizes, and roughly how many bytes one measurement moves.
const SIZES: [(usize, usize); 2] = [(64, 256 << 20), (64 << 10, 4 << 30)];

/// The data area of the ring for a message size: room for several frames.
fn ring_capacity(size: usize) -> u32 {
    if size <= 1024 { 64 << 10 } else { 1 << 20 }
}

/// Messages one measurement moves for `mechanism` (fewer for the slow
/// kernel paths, so each measurement takes a fraction of a second).
fn messages(mechanism: Mechanism, size: usize, bytes: usize) -> u64 {
    let n = (bytes / size) as u64;
    match (mechanism, size) {
        (Mechanism::Pipe | Mechanism::UnixStream, 64) => n / 16,
        (Mechanism::Pipe | Mechanism::UnixStream, _) => n / 4,
        _ => n,
    }
}

// ---------------------------------------------------------------------------
// A measurement: the consumer writes its elapsed nanoseconds and the
// messages it counted into a shared result block.

struct Results(SharedMapping);

impl Results {
    fn new() -> io::Result<Self> {
        SharedMapping::anonymous(4096).map(Self)
    }

    fn word(&self, i: usize) -> &AtomicU64 {
        assert!(i < 2);
        // SAFETY: the mapping is 4096 bytes, page-aligned, and words 0 and 1
        // are only accessed atomically.
        unsafe { &*self.0.region().as_ptr().cast::<AtomicU64>().add(i) }
    }

    fn record(&self, started: Instant, count: u64) {
        self.word(0)
            .store(started.elapsed().as_nanos() as u64, Ordering::Release);
        self.word(1).store(count, Ordering::Release);
    }

    fn read(&self) -> (u64, u64) {
        (
            self.word(0).load(Ordering::Acquire),
            self.word(1).load(Ordering::Acquire),
        )
    }
}

/// Forks the consumer (pinned to `cpu`), runs the producer here, waits for
/// the consumer and returns its `(nanoseconds, messages)`.
fn with_consumer(
    cpus: Option<CpuPair>,
    results: &Results,
    consumer: impl FnOnce() -> Result<(Instant, u64), String>,
    producer: impl FnOnce(&mut Child) -> Result<(), String>,
) -> Result<(u64, u64), String> {
    results.word(0).store(0, Ordering::Relaxed);
    let mut child = fork_child(|| {
        if let Some(p) = cpus {
            let _ = p.pin_peer();
        }
        match consumer() {
            Ok((started, count)) => {
                results.record(started, count);
                0
            }
            Err(e) => {
                eprintln!("consumer: {e}");
                1
            }
        }
    })?;
    if let Some(p) = cpus {
        let _ = p.pin_main();
    }
    producer(&mut child)?;
    let exit = child.wait(Instant::now() + support::DEADLINE)?;
    if exit != Exit::Code(0) {
        return Err(format!("consumer: {exit}"));
    }
    Ok(results.read())
}

fn frame_ring(
    size: usize,
    count: u64,
    cpus: Option<CpuPair>,
    results: &Results,
) -> Result<(u64, u64), String> {
    let capacity = ring_capacity(size);
    let len = Ring::region_len(capacity).map_err(|_| "capacity")?;
    let mapping = SharedMapping::anonymous(len).map_err(|e| e.to_string())?;
    let ring = Ring::init(mapping.region(), capacity).map_err(|e| e.to_string())?;
    let consumer = || {
        let ring = Ring::attach(mapping.region()).map_err(|e| e.to_string())?;
        let mut rx = ring.consumer().map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; size];
        let mut started = None;
        let mut sum = 0u64;
        for _ in 0..count {
            loop {
                match rx.try_recv(&mut buf) {
                    Ok(n) => {
                        started.get_or_insert_with(Instant::now);
                        sum = sum.wrapping_add(u64::from(buf[n - 1]));
                        break;
                    }
                    Err(CoreError::Empty) => std::hint::spin_loop(),
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        std::hint::black_box(sum);
        Ok((started.unwrap_or_else(Instant::now), count - 1))
    };
    let producer = |child: &mut Child| {
        let mut tx = ring.producer().map_err(|e| e.to_string())?;
        let msg: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let mut spins = 0u32;
        for _ in 0..count {
            loop {
                match tx.try_send(&msg) {
                    Ok(()) => break,
                    Err(CoreError::Full) => {
                        spins = spins.wrapping_add(1);
                        if spins % (1 << 20) == 0 {
                            if let Some(exit) = child.try_wait()? {
                                return Err(format!("consumer ended: {exit}"));
                            }
                        }
                        std::hint::spin_loop();
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        Ok(())
    };
    with_consumer(cpus, results, consumer, producer)
}

/// A pipe (`socket == false`) or a Unix stream socket pair.
fn kernel_stream(
    socket: bool,
    size: usize,
    count: u64,
    cpus: Option<CpuPair>,
    results: &Results,
) -> Result<(u64, u64), String> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid out-array of two descriptors.
    let r = unsafe {
        if socket {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        } else {
            libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC)
        }
    };
    if r != 0 {
        return Err(format!("pipe/socketpair: {}", io::Error::last_os_error()));
    }
    let (read_fd, write_fd) = (fds[0], fds[1]);
    let total = count * size as u64;
    let consumer = || {
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0u64;
        let mut started = None;
        while got < total {
            // SAFETY: `buf` is valid for its length; `read_fd` is open.
            let n = unsafe { libc::read(read_fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return Err(format!("read: {}", io::Error::last_os_error()));
            }
            started.get_or_insert_with(Instant::now);
            got += n as u64;
        }
        // Messages timed: all but the first read's worth, approximately the
        // first message.
        Ok((started.unwrap_or_else(Instant::now), count - 1))
    };
    let producer = |_: &mut Child| {
        let msg = vec![7u8; size];
        for _ in 0..count {
            let mut off = 0;
            while off < size {
                // SAFETY: `msg[off..]` is valid for reading; `write_fd` is open.
                let n = unsafe { libc::write(write_fd, msg[off..].as_ptr().cast(), size - off) };
                if n <= 0 {
                    return Err(format!("write: {}", io::Error::last_os_error()));
                }
                off += n as usize;
            }
        }
        Ok(())
    };
    let result = with_consumer(cpus, results, consumer, producer);
    // SAFETY: both descriptors are ours and closed once.
    unsafe {
        libc::close(read_fd);
        libc::close(write_fd);
    }
    result
}

/// Single-threaded `memcpy` of `count` messages of `size` bytes, cold.
fn memcpy(size: usize, count: u64, src: &[u8], dst: &mut [u8]) -> (u64, u64) {
    let span = src.len() / size * size;
    let started = Instant::now();
    let mut at = 0;
    for _ in 0..count {
        dst[at..at + size].copy_from_slice(&src[at..at + size]);
        at += size;
        if at >= span {
            at = 0;
        }
    }
    std::hint::black_box(&dst[..]);
    (started.elapsed().as_nanos() as u64, count)
}

fn main() {
    let PlainRun { smoke, rounds, .. } = PlainRun::from_args(7);
    let scale = if smoke { 256 } else { 1 };

    let pinned = pin::pair();
    println!("{}", pin::placement("producer", "consumer"));
    let results = Results::new().expect("result mapping");
    let mut src = vec![0u8; 64 << 20];
    for (i, b) in src.iter_mut().enumerate() {
        *b = i as u8;
    }
    let mut dst = vec![0u8; 64 << 20];

    // Every (size, mechanism) in turn, round after round: messages/s.
    let variants: Vec<(usize, Mechanism)> = SIZES
        .iter()
        .flat_map(|&(size, _)| MECHANISMS.map(|m| (size, m)))
        .collect();
    let names: Vec<((usize, Mechanism), String)> = variants
        .iter()
        .map(|&(size, m)| ((size, m), format!("{} {size} B", m.name())))
        .collect();
    let name = |v| names.iter().find(|n| n.0 == v).map_or("", |n| n.1.as_str());
    let mut round = 0;
    let rounds = interleave(&variants, rounds, |(size, mechanism)| {
        let bytes = SIZES.iter().find(|s| s.0 == size).map_or(0, |s| s.1);
        let count = (messages(mechanism, size, bytes) / scale).max(2);
        let measured = match mechanism {
            Mechanism::FrameRing => frame_ring(size, count, pinned, &results),
            Mechanism::Pipe => kernel_stream(false, size, count, pinned, &results),
            Mechanism::UnixStream => kernel_stream(true, size, count, pinned, &results),
            Mechanism::Memcpy => Ok(memcpy(size, count, &src, &mut dst)),
        };
        if (size, mechanism) == variants[variants.len() - 1] {
            round += 1;
        }
        match measured {
            Ok((ns, n)) => Ok(n as f64 * 1e9 / ns.max(1) as f64),
            Err(e) => Err(format!("{} {size} B, round {round}: {e}", mechanism.name())),
        }
    })
    .unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1);
    });
    if smoke {
        println!(
            "frame bench: smoke run passed (run `cargo bench -p ipckit --bench frame` to measure)"
        );
        return;
    }

    let small = |m| (64, m);
    let large = |m| (64 << 10, m);
    use Mechanism::{FrameRing, Memcpy, Pipe, UnixStream};
    rounds.print(
        "frame ring throughput (messages/s)",
        name,
        Unit::PerSecond,
        &[
            Ratio::new("64 B: frame ring / pipe", small(FrameRing), small(Pipe)),
            Ratio::new(
                "64 B: frame ring / unix stream",
                small(FrameRing),
                small(UnixStream),
            ),
            Ratio::new("64 B: frame ring / memcpy", small(FrameRing), small(Memcpy)),
            Ratio::new(
                "64 KiB: frame ring / memcpy",
                large(FrameRing),
                large(Memcpy),
            )
            .goal(Goal::AtLeast(0.5)),
            Ratio::new(
                "64 KiB: frame ring / unix stream",
                large(FrameRing),
                large(UnixStream),
            )
            .goal(Goal::AtLeast(2.0)),
            Ratio::new("64 KiB: frame ring / pipe", large(FrameRing), large(Pipe)),
        ],
    );
    let median = |v| rounds.stats(v).map_or(0.0, |s| s.median);
    println!(
        "64 B: frame ring {:.1} M msgs/s (goal >= 10 M); 64 KiB: frame ring {:.2} GB/s",
        median(small(FrameRing)) / 1e6,
        median(large(FrameRing)) * 65536.0 / 1e9,
    );
}

//! Process channels against kernel mechanisms, measured in one run: round
//! trip latency (ping-pong, median and p99) and one-way throughput for 8 B,
//! 64 B and 4 KiB messages.
//!
//! `cargo bench -p ipckit --bench channel` (add `-- --quick` for one round;
//! `cargo test --benches` runs a tiny smoke round).
//!
//! - `shm channel`: [`ipckit::channel::bytes`] on a named object, blocking
//!   `send`/`recv` (futex after a 2000-step spin, liveness checks every
//!   50 ms while asleep).
//! - `pipe`: two pipes for the ping-pong, one for throughput.
//! - `unix stream`: a socket pair.
//! - `eventfd`: two eventfds for the ping-pong; carries no payload (an
//!   8-byte counter), so it is the floor of a kernel wake-up round trip.
//!
//! Each measurement forks the peer process; with two or more CPUs the two
//! are pinned to different CPUs. Variants run interleaved, round after
//! round, and the table shows medians over rounds; ratios are between
//! medians of the same run. Throughput readers of the byte streams read up
//! to 1 MiB per call (no framing cost charged to the kernel).

#[path = "../tests/support/mod.rs"]
mod support;

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ipckit::channel::bytes;
use ipckit_testkit::bench::{PlainRun, Ratio, Stats, Unit, interleave};
use ipckit_testkit::pin::{self, CpuPair};
use support::{Exit, SharedWords, ShmGuard, fork_child};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mech {
    Channel,
    Pipe,
    Unix,
    Eventfd,
}

impl Mech {
    fn name(self) -> &'static str {
        match self {
            Mech::Channel => "shm channel",
            Mech::Pipe => "pipe",
            Mech::Unix => "unix stream",
            Mech::Eventfd => "eventfd (no payload)",
        }
    }
}

const MECHS: [Mech; 4] = [Mech::Channel, Mech::Pipe, Mech::Unix, Mech::Eventfd];
const SIZES: [usize; 3] = [8, 64, 4096];
const CHANNEL_CAPACITY: u32 = 256 << 10;

fn write_all(fd: RawFd, buf: &[u8]) -> Result<(), String> {
    let mut off = 0;
    while off < buf.len() {
        // SAFETY: `buf[off..]` is valid for reading; `fd` is open.
        let n = unsafe { libc::write(fd, buf[off..].as_ptr().cast(), buf.len() - off) };
        if n <= 0 {
            return Err(format!("write: {}", io::Error::last_os_error()));
        }
        off += n as usize;
    }
    Ok(())
}

fn read_exact(fd: RawFd, buf: &mut [u8]) -> Result<(), String> {
    let mut off = 0;
    while off < buf.len() {
        // SAFETY: `buf[off..]` is valid for writing; `fd` is open.
        let n = unsafe { libc::read(fd, buf[off..].as_mut_ptr().cast(), buf.len() - off) };
        if n <= 0 {
            return Err(format!("read: {}", io::Error::last_os_error()));
        }
        off += n as usize;
    }
    Ok(())
}

/// Two descriptors: `(read end, write end)` of a pipe, two ends of a
/// socket pair, or two eventfds.
fn fd_pair(mech: Mech) -> Result<[RawFd; 2], String> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid out-array of two descriptors.
    let r = unsafe {
        match mech {
            Mech::Pipe => libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC),
            Mech::Unix => libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            ),
            _ => {
                fds[0] = libc::eventfd(0, libc::EFD_CLOEXEC);
                fds[1] = libc::eventfd(0, libc::EFD_CLOEXEC);
                if fds[0] < 0 || fds[1] < 0 { -1 } else { 0 }
            }
        }
    };
    if r != 0 {
        return Err(format!("{mech:?}: {}", io::Error::last_os_error()));
    }
    Ok(fds)
}

fn close_all(fds: &[RawFd]) {
    for &fd in fds {
        // SAFETY: each descriptor is ours and closed once.
        unsafe { libc::close(fd) };
    }
}

/// Runs `child` in a forked process pinned to `cpus.1` and `parent` here
/// (pinned to `cpus.0`); waits for the child.
fn pair<R>(
    cpus: Option<CpuPair>,
    child: impl FnOnce() -> Result<(), String>,
    parent: impl FnOnce() -> Result<R, String>,
) -> Result<R, String> {
    let mut c = fork_child(|| {
        if let Some(p) = cpus {
            let _ = p.pin_peer();
        }
        match child() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("child: {e}");
                1
            }
        }
    })?;
    if let Some(p) = cpus {
        let _ = p.pin_main();
    }
    let r = parent();
    if r.is_err() {
        c.kill();
    } else {
        let exit = c.wait(Instant::now() + support::DEADLINE)?;
        if exit != Exit::Code(0) {
            return Err(format!("child: {exit}"));
        }
    }
    r
}

/// Round-trip times in nanoseconds (`count` of them, after a warm-up).
fn rtt(mech: Mech, size: usize, count: usize, cpus: Option<CpuPair>) -> Result<Vec<u64>, String> {
    const WARM: usize = 200;
    let total = count + WARM;
    let msg = vec![0x5Au8; size];
    let mut samples = Vec::with_capacity(total);
    if mech == Mech::Channel {
        let (ping, pong) = (ShmGuard::new("bench-ping"), ShmGuard::new("bench-pong"));
        let mut tx = bytes::Sender::create(&ping.0, CHANNEL_CAPACITY).map_err(|e| e.to_string())?;
        let mut rx =
            bytes::Receiver::create(&pong.0, CHANNEL_CAPACITY).map_err(|e| e.to_string())?;
        let (a, b) = (ping.0.clone(), pong.0.clone());
        return pair(
            cpus,
            || {
                let mut rx = bytes::Receiver::open(&a).map_err(|e| e.to_string())?;
                let mut tx = bytes::Sender::open(&b).map_err(|e| e.to_string())?;
                let mut buf = vec![0u8; size];
                for _ in 0..total {
                    let n = rx.recv(&mut buf).map_err(|e| e.to_string())?;
                    tx.send(&buf[..n]).map_err(|e| e.to_string())?;
                }
                Ok(())
            },
            || {
                let mut buf = vec![0u8; size];
                for _ in 0..total {
                    let t = Instant::now();
                    tx.send(&msg).map_err(|e| e.to_string())?;
                    rx.recv(&mut buf).map_err(|e| e.to_string())?;
                    samples.push(t.elapsed().as_nanos() as u64);
                }
                Ok(samples.split_off(WARM))
            },
        );
    }
    // (parent → child, child → parent) descriptors.
    let (fds, to_child, from_parent, to_parent, from_child) = match mech {
        Mech::Unix => {
            let s = fd_pair(mech)?;
            (s.to_vec(), s[0], s[1], s[1], s[0])
        }
        Mech::Pipe => {
            let (down, up) = (fd_pair(mech)?, fd_pair(mech)?);
            (
                vec![down[0], down[1], up[0], up[1]],
                down[1],
                down[0],
                up[1],
                up[0],
            )
        }
        _ => {
            let e = fd_pair(mech)?;
            (e.to_vec(), e[0], e[0], e[1], e[1])
        }
    };
    let wire = if mech == Mech::Eventfd { 8 } else { size };
    let one = 1u64.to_ne_bytes();
    let out: &[u8] = if mech == Mech::Eventfd { &one } else { &msg };
    let r = pair(
        cpus,
        || {
            let mut buf = vec![0u8; wire];
            for _ in 0..total {
                read_exact(from_parent, &mut buf)?;
                let back: &[u8] = if mech == Mech::Eventfd { &one } else { &buf };
                write_all(to_parent, back)?;
            }
            Ok(())
        },
        || {
            let mut buf = vec![0u8; wire];
            for _ in 0..total {
                let t = Instant::now();
                write_all(to_child, out)?;
                read_exact(from_child, &mut buf)?;
                samples.push(t.elapsed().as_nanos() as u64);
            }
            Ok(samples.split_off(WARM))
        },
    );
    close_all(&fds);
    r
}

/// One-way messages per second, timed by the receiver.
fn throughput(
    mech: Mech,
    size: usize,
    count: u64,
    cpus: Option<CpuPair>,
    words: &SharedWords,
) -> Result<f64, String> {
    let msg = vec![0x5Au8; size];
    words.word(0).store(0, Ordering::Relaxed);
    let record = |started: Instant| {
        words
            .word(0)
            .store(started.elapsed().as_nanos() as u64, Ordering::Release);
    };
    if mech == Mech::Channel {
        let g = ShmGuard::new("bench-tput");
        let mut tx = bytes::Sender::create(&g.0, CHANNEL_CAPACITY).map_err(|e| e.to_string())?;
        let name = g.0.clone();
        pair(
            cpus,
            || {
                let mut rx = bytes::Receiver::open(&name).map_err(|e| e.to_string())?;
                let mut buf = vec![0u8; size];
                let mut started = None;
                for _ in 0..count {
                    rx.recv(&mut buf).map_err(|e| e.to_string())?;
                    started.get_or_insert_with(Instant::now);
                }
                record(started.unwrap_or_else(Instant::now));
                Ok(())
            },
            || {
                for _ in 0..count {
                    tx.send(&msg).map_err(|e| e.to_string())?;
                }
                Ok(())
            },
        )?;
    } else {
        let fds = fd_pair(mech)?;
        let total = count * size as u64;
        let r = pair(
            cpus,
            || {
                let mut buf = vec![0u8; 1 << 20];
                let (mut got, mut started) = (0u64, None);
                while got < total {
                    // SAFETY: `buf` is valid for its length; the fd is open.
                    let n = unsafe { libc::read(fds[0], buf.as_mut_ptr().cast(), buf.len()) };
                    if n <= 0 {
                        return Err(format!("read: {}", io::Error::last_os_error()));
                    }
                    started.get_or_insert_with(Instant::now);
                    got += n as u64;
                }
                record(started.unwrap_or_else(Instant::now));
                Ok(())
            },
            || {
                for _ in 0..count {
                    write_all(fds[1], &msg)?;
                }
                Ok(())
            },
        );
        close_all(&fds);
        r?;
    }
    let ns = words.word(0).load(Ordering::Acquire).max(1);
    // The clock starts at the first message: count - 1 are timed.
    Ok((count - 1) as f64 * 1e9 / ns as f64)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64
}

fn main() {
    let PlainRun { smoke, rounds, .. } = PlainRun::from_args(5);
    let scale = if smoke { 100 } else { 1 };
    let pinned = pin::pair();
    println!("{}", pin::placement("parent", "child"));
    let words = SharedWords::new();
    // Every (size, mechanism) in turn, round after round: its RTT (median of
    // the turn, ns), then its one-way throughput (msg/s; not for eventfd).
    let mut variants = Vec::new();
    for size in SIZES {
        for mech in MECHS {
            variants.push(Variant {
                size,
                mech,
                rtt: true,
            });
            if mech != Mech::Eventfd {
                variants.push(Variant {
                    size,
                    mech,
                    rtt: false,
                });
            }
        }
    }
    let names: Vec<(Variant, String)> = variants
        .iter()
        .map(|&v| (v, format!("{} {} B", v.mech.name(), v.size)))
        .collect();
    let name = |v| names.iter().find(|n| n.0 == v).map_or("", |n| n.1.as_str());
    // Each turn's RTT p99, beside the medians the harness keeps.
    let mut rtt99: Vec<(Variant, Vec<f64>)> = Vec::new();
    let rounds = interleave(&variants, rounds, |v| {
        let what = if v.rtt { "rtt" } else { "throughput" };
        let fail = |e: String| format!("{} {} B {what}: {e}", v.mech.name(), v.size);
        if v.rtt {
            let mut samples = rtt(v.mech, v.size, 20_000 / scale, pinned).map_err(fail)?;
            samples.sort_unstable();
            match rtt99.iter_mut().find(|r| r.0 == v) {
                Some(r) => r.1.push(percentile(&samples, 0.99)),
                None => rtt99.push((v, vec![percentile(&samples, 0.99)])),
            }
            Ok(percentile(&samples, 0.5))
        } else {
            let count = if v.size >= 4096 { 200_000 } else { 1_000_000 } / scale as u64;
            throughput(v.mech, v.size, count, pinned, &words).map_err(fail)
        }
    })
    .unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1);
    });
    if smoke {
        println!("channel bench: smoke run passed (run `cargo bench -p ipckit --bench channel`)");
        return;
    }
    let of = |size, mech, rtt| Variant { size, mech, rtt };
    let mut ratios = Vec::new();
    for size in SIZES {
        // Round trips: the other's time over the channel's (>1: channel faster).
        for (label, mech) in [
            ("pipe / channel", Mech::Pipe),
            ("unix / channel", Mech::Unix),
            ("eventfd / channel", Mech::Eventfd),
        ] {
            ratios.push((
                size,
                label,
                of(size, mech, true),
                of(size, Mech::Channel, true),
            ));
        }
        for (label, mech) in [
            ("channel / pipe", Mech::Pipe),
            ("channel / unix", Mech::Unix),
        ] {
            ratios.push((
                size,
                label,
                of(size, Mech::Channel, false),
                of(size, mech, false),
            ));
        }
    }
    let ratios: Vec<Ratio<Variant>> = ratios
        .into_iter()
        .map(|(size, label, a, b)| {
            let what = if a.rtt { "RTT p50" } else { "throughput" };
            Ratio::named(format!("{size:>5} B {what} {label}"), a, b)
        })
        .collect();
    rounds.print_table(
        "round trip p50 of each turn",
        &variants
            .iter()
            .copied()
            .filter(|v| v.rtt)
            .collect::<Vec<_>>(),
        name,
        Unit::Nanos,
    );
    ipckit_testkit::bench::print_table(
        "round trip p99 of each turn",
        rtt99.iter().map(|(v, p99)| (name(*v), Stats::of(p99))),
        Unit::Nanos,
    );
    rounds.print_table(
        "one-way throughput (messages/s)",
        &variants
            .iter()
            .copied()
            .filter(|v| !v.rtt)
            .collect::<Vec<_>>(),
        name,
        Unit::PerSecond,
    );
    rounds.print_ratios(&ratios);
}

/// One measurement of the interleaved run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Variant {
    size: usize,
    mech: Mech,
    /// Round trips (else one-way throughput).
    rtt: bool,
}

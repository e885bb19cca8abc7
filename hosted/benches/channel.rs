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
use support::{Exit, SharedWords, ShmGuard, allowed_cpus, fork_child, median, pin_to};

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
    cpus: Option<(usize, usize)>,
    child: impl FnOnce() -> Result<(), String>,
    parent: impl FnOnce() -> Result<R, String>,
) -> Result<R, String> {
    let mut c = fork_child(|| {
        if let Some((_, cpu)) = cpus {
            let _ = pin_to(cpu);
        }
        match child() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("child: {e}");
                1
            }
        }
    })?;
    if let Some((cpu, _)) = cpus {
        let _ = pin_to(cpu);
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
fn rtt(
    mech: Mech,
    size: usize,
    count: usize,
    cpus: Option<(usize, usize)>,
) -> Result<Vec<u64>, String> {
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
    cpus: Option<(usize, usize)>,
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
    let quick = std::env::args().any(|a| a == "--quick");
    let smoke = !std::env::args().any(|a| a == "--bench") && !quick;
    let rounds = if quick || smoke { 1 } else { 5 };
    let scale = if smoke { 100 } else { 1 };
    let cpus = allowed_cpus().unwrap_or_default();
    let pinned = (cpus.len() >= 2).then(|| (cpus[0], cpus[1]));
    match pinned {
        Some((a, b)) => println!("processes pinned to CPUs {a} and {b}"),
        None => println!("one CPU: both processes share it (numbers are not cross-core)"),
    }
    let words = SharedWords::new();
    // [size][mech] per round: median RTT, p99 RTT (ns), throughput (msg/s).
    let n = SIZES.len();
    let mut rtt50 = vec![vec![Vec::new(); MECHS.len()]; n];
    let mut rtt99 = vec![vec![Vec::new(); MECHS.len()]; n];
    let mut rate = vec![vec![Vec::new(); MECHS.len()]; n];
    for round in 0..rounds {
        for (s, &size) in SIZES.iter().enumerate() {
            for (m, &mech) in MECHS.iter().enumerate() {
                let fail = |what: &str, e: String| -> ! {
                    eprintln!("{} {size} B {what}, round {round}: {e}", mech.name());
                    std::process::exit(1);
                };
                let mut samples =
                    rtt(mech, size, 20_000 / scale, pinned).unwrap_or_else(|e| fail("rtt", e));
                samples.sort_unstable();
                rtt50[s][m].push(percentile(&samples, 0.5));
                rtt99[s][m].push(percentile(&samples, 0.99));
                if mech != Mech::Eventfd {
                    let count = if size >= 4096 { 200_000 } else { 1_000_000 } / scale as u64;
                    let r = throughput(mech, size, count, pinned, &words)
                        .unwrap_or_else(|e| fail("throughput", e));
                    rate[s][m].push(r);
                }
            }
        }
    }
    if smoke {
        println!("channel bench: smoke run passed (run `cargo bench -p ipckit --bench channel`)");
        return;
    }
    println!("\nmedians of {rounds} interleaved rounds (RTT p99: median of the rounds' p99)");
    println!(
        "{:<22} {:>7} {:>11} {:>11} {:>13} {:>9}",
        "mechanism", "message", "RTT p50", "RTT p99", "one-way msg/s", "MB/s"
    );
    let mut med = vec![vec![(0.0, 0.0, 0.0); MECHS.len()]; n];
    for (s, &size) in SIZES.iter().enumerate() {
        for (m, &mech) in MECHS.iter().enumerate() {
            let p50 = median(&mut rtt50[s][m]);
            let p99 = median(&mut rtt99[s][m]);
            let r = if rate[s][m].is_empty() {
                0.0
            } else {
                median(&mut rate[s][m])
            };
            med[s][m] = (p50, p99, r);
            let (tput, mbs) = if r > 0.0 {
                (
                    format!("{:.2} M", r / 1e6),
                    format!("{:.0}", r * size as f64 / 1e6),
                )
            } else {
                ("-".into(), "-".into())
            };
            println!(
                "{:<22} {:>5} B {:>8.2} us {:>8.2} us {:>13} {:>9}",
                mech.name(),
                size,
                p50 / 1e3,
                p99 / 1e3,
                tput,
                mbs
            );
        }
    }
    println!(
        "\nratios (same run): channel RTT p50 vs others (>1: channel faster); throughput vs others"
    );
    for (s, &size) in SIZES.iter().enumerate() {
        let (c50, _, cr) = med[s][0];
        let (p50, _, pr) = med[s][1];
        let (u50, _, ur) = med[s][2];
        let (e50, _, _) = med[s][3];
        println!(
            "{size:>5} B: RTT {:.1}x pipe, {:.1}x unix, {:.1}x eventfd; throughput {:.1}x pipe, {:.1}x unix",
            p50 / c50,
            u50 / c50,
            e50 / c50,
            cr / pr,
            cr / ur
        );
    }
}

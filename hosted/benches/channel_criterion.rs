//! Criterion view of the channel round trip: the shm byte channel against a
//! pipe pair and a Unix stream socket, 8 B, 64 B and 4 KiB, each through the
//! one message interface, echoed by a child process.
//!
//! `cargo bench -p ipckit --bench channel_criterion`. The plain-table bench
//! `channel` covers throughput and percentiles; this one gives criterion's
//! statistics (confidence intervals, change detection between runs) for the
//! round trip.
//!
//! Every echo child is forked before criterion starts (criterion may start
//! analysis threads later, and a child forked from a threaded process could
//! only make async-signal-safe calls). Each child echoes until it receives an
//! empty message. With two or more CPUs, the children run on one CPU and
//! this process on another.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use ipckit::channel::bytes;
use ipckit::message::{MessageReceiver, MessageSender};
use std::os::unix::net::UnixStream;

use ipckit::transport::pipe;
use ipckit::transport::stream::{self, FramedReader, FramedWriter};
use ipckit_testkit::pin;
use support::{Child, ShmGuard, fork_child};

const SIZES: [usize; 3] = [8, 64, 4096];
const CAPACITY: u32 = 64 << 10;

/// The parent's two ends of one echo peer.
struct Peer {
    name: &'static str,
    tx: Box<dyn MessageSender>,
    rx: Box<dyn MessageReceiver>,
    child: Child,
}

/// Echoes every message back until an empty one arrives.
fn echo(rx: &mut dyn MessageReceiver, tx: &mut dyn MessageSender) -> i32 {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match rx.recv(&mut buf) {
            Ok(0) => return 0,
            Ok(n) => {
                if tx.send(&buf[..n]).is_err() {
                    return 1;
                }
            }
            Err(_) => return 1,
        }
    }
}

fn fork_echo(
    name: &'static str,
    cpu: Option<usize>,
    parent: (Box<dyn MessageSender>, Box<dyn MessageReceiver>),
    child: impl FnOnce() -> Result<(Box<dyn MessageReceiver>, Box<dyn MessageSender>), String>,
) -> Result<Peer, String> {
    let child = fork_child(|| {
        if let Some(cpu) = cpu {
            let _ = pin::pin_to(cpu);
        }
        match child() {
            Ok((mut rx, mut tx)) => echo(rx.as_mut(), tx.as_mut()),
            Err(e) => {
                eprintln!("{name} echo: {e}");
                1
            }
        }
    })?;
    Ok(Peer {
        name,
        tx: parent.0,
        rx: parent.1,
        child,
    })
}

fn peers(cpu: Option<usize>, guards: &[ShmGuard; 2]) -> Result<Vec<Peer>, String> {
    let err = |e: ipckit::error::Error| e.to_string();
    let mut peers = Vec::new();

    let (ping, pong) = (guards[0].0.clone(), guards[1].0.clone());
    let tx = bytes::Sender::create(&ping, CAPACITY).map_err(err)?;
    let rx = bytes::Receiver::create(&pong, CAPACITY).map_err(err)?;
    peers.push(fork_echo(
        "shm byte channel",
        cpu,
        (Box::new(tx), Box::new(rx)),
        || {
            let rx = bytes::Receiver::open(&ping).map_err(err)?;
            let tx = bytes::Sender::open(&pong).map_err(err)?;
            Ok((Box::new(rx), Box::new(tx)))
        },
    )?);

    let (down_tx, down_rx) = pipe::pipe().map_err(err)?;
    let (up_tx, up_rx) = pipe::pipe().map_err(err)?;
    let mut child_ends = Some((down_rx, up_tx));
    peers.push(fork_echo(
        "pipe",
        cpu,
        (Box::new(down_tx), Box::new(up_rx)),
        move || {
            let (rx, tx) = child_ends.take().ok_or("taken")?;
            Ok((Box::new(rx), Box::new(tx)))
        },
    )?);

    let (near, far) = UnixStream::pair().map_err(|e| e.to_string())?;
    let clone = |s: &UnixStream| s.try_clone().map_err(|e| e.to_string());
    let (near_w, far_w) = (clone(&near)?, clone(&far)?);
    let max = stream::DEFAULT_MAX_FRAME_LEN;
    let near_tx = FramedWriter::new(near_w, max).map_err(err)?;
    let near_rx = FramedReader::new(near, max).map_err(err)?;
    let mut far_ends = Some((far, far_w));
    peers.push(fork_echo(
        "unix stream",
        cpu,
        (Box::new(near_tx), Box::new(near_rx)),
        move || {
            let (r, w) = far_ends.take().ok_or("taken")?;
            let rx = FramedReader::new(r, max).map_err(err)?;
            let tx = FramedWriter::new(w, max).map_err(err)?;
            Ok((Box::new(rx), Box::new(tx)))
        },
    )?);
    Ok(peers)
}

fn main() {
    // `cargo test --benches` runs this without `--bench`: nothing to time.
    if !std::env::args().any(|a| a == "--bench") {
        println!("channel_criterion: run `cargo bench -p ipckit --bench channel_criterion`");
        return;
    }
    let pair = pin::pair();
    let (mine, theirs) = (pair.map(|p| p.main), pair.map(|p| p.peer));
    let guards = [
        ShmGuard::new("criterion-ping"),
        ShmGuard::new("criterion-pong"),
    ];
    let mut peers = match peers(theirs, &guards) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("channel_criterion: {e}");
            std::process::exit(1);
        }
    };
    if let Some(cpu) = mine {
        let _ = pin::pin_to(cpu);
    }

    let mut criterion = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let mut group = criterion.benchmark_group("round trip");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let msg = vec![0x5Au8; size];
        let mut buf = vec![0u8; size];
        for peer in peers.iter_mut() {
            group.bench_function(BenchmarkId::new(peer.name, size), |b| {
                b.iter_custom(|iters| {
                    let started = Instant::now();
                    for _ in 0..iters {
                        peer.tx.send(&msg).expect("send");
                        peer.rx.recv(&mut buf).expect("recv");
                    }
                    started.elapsed()
                })
            });
        }
    }
    group.finish();

    for peer in peers.iter_mut() {
        let _ = peer.tx.send(&[]);
        let _ = peer.tx.flush(Some(Duration::from_secs(1)));
        let _ = peer.child.wait(Instant::now() + Duration::from_secs(10));
    }
    drop(guards);
}

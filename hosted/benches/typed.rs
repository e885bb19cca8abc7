//! What the typed layer costs over the byte channel it wraps: one
//! `try_send` + `try_recv` in one thread (no peer, no waiting), for a byte
//! message and for a typed value whose postcard encoding has the same
//! length (a struct with a string, a vector and an enum: 64 bytes
//! encoded), on the same kind of channel in the same run; and the typed
//! send with a byte receive, to tell encoding from decoding (which
//! allocates the job's string and vector).
//!
//! `cargo bench -p ipckit --bench typed`

use criterion::{Criterion, Throughput};
use ipckit::channel::bytes;
use ipckit::channel::typed::{MessageType, Receiver, Sender};
use ipckit::shm::Memfd;
use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::os::fd::AsFd;

const CAPACITY: u32 = 64 << 10;

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Kind {
    Resize { width: u32, height: u32 },
    Stop,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Job {
    id: u64,
    path: String,
    sizes: Vec<u16>,
    kind: Kind,
}
impl MessageType for Job {}

fn memfd() -> Memfd {
    Memfd::create("bench-typed", bytes::Sender::object_len(CAPACITY).unwrap()).unwrap()
}

fn again(mem: &ipckit::channel::Memory) -> Memfd {
    Memfd::from_fd(mem.as_fd().try_clone_to_owned().unwrap()).unwrap()
}

fn main() {
    let job = Job {
        id: 0x1234_5678,
        path: "/var/spool/jobs/2026/12/07/cat-picture.png".into(),
        sizes: vec![64, 128, 256, 512],
        kind: Kind::Resize {
            width: 1920,
            height: 1080,
        },
    };
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    let mut group = c.benchmark_group("send+recv, one thread");
    group.throughput(Throughput::Elements(1));

    // The encoded job, read raw off a typed channel: the byte case's
    // message (the same bytes on the same kind of ring).
    let mut encoded = vec![0u8; 256];
    {
        let mut tx = Sender::<Job>::init_on(memfd(), CAPACITY).unwrap();
        let mut raw = bytes::Receiver::attach(again(tx.as_bytes().memory())).unwrap();
        tx.send(&job).unwrap();
        let n = raw.try_recv(&mut encoded).unwrap();
        encoded.truncate(n);
    }
    let mut tx = Sender::<Job>::init_on(memfd(), CAPACITY).unwrap();
    let mut rx = Receiver::<Job>::attach(again(tx.as_bytes().memory())).unwrap();
    let mut raw_tx = bytes::Sender::init_on(memfd(), CAPACITY).unwrap();
    let mut raw_rx = bytes::Receiver::attach(again(raw_tx.memory())).unwrap();
    println!("encoded job: {} bytes", encoded.len());

    let mut buf = [0u8; 256];
    group.bench_function(format!("bytes {} B", encoded.len()), |b| {
        b.iter(|| {
            raw_tx.try_send(black_box(&encoded)).unwrap();
            black_box(raw_rx.try_recv(&mut buf).unwrap())
        })
    });
    let mut enc_tx = Sender::<Job>::init_on(memfd(), CAPACITY).unwrap();
    let mut enc_rx = bytes::Receiver::attach(again(enc_tx.as_bytes().memory())).unwrap();
    group.bench_function("typed send, bytes recv (encoding only)", |b| {
        b.iter(|| {
            enc_tx.try_send(black_box(&job)).unwrap();
            black_box(enc_rx.try_recv(&mut buf).unwrap())
        })
    });
    group.bench_function("typed Job", |b| {
        b.iter(|| {
            tx.try_send(black_box(&job)).unwrap();
            black_box(rx.try_recv().unwrap())
        })
    });
    group.finish();
    c.final_summary();
}

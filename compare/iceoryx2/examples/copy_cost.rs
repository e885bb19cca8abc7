//! Why ipckit's pub/sub is slower than its byte channel at 64 KiB: the
//! broadcast ring copies an item through relaxed atomic `u64` loads and
//! stores (race-free seqlock copies; see `core/src/broadcast/mod.rs`, "The
//! price of race-free copies"), which the compiler may not vectorise. This
//! times one publish and one receive of a 64 KiB item in one thread (no
//! other core involved) against a plain 64 KiB `memcpy`.
//!
//! Run: `cargo run --release --example copy_cost` (in `compare/iceoryx2/`).

use std::time::Instant;

use ipckit::shm::SharedMapping;
use ipckit_core::broadcast::{Options, Ring, Start};

type Item = [u64; 8192];
const TIMES: u32 = 20_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let len = Ring::<Item>::region_len(4)?;
    let mapping = SharedMapping::anonymous(len)?;
    let ring = Ring::<Item>::init_with(mapping.region(), Options::new(4))?;
    let mut tx = ring.publisher()?;
    let mut rx = ring.subscriber_from(Start::Next)?;
    let mut buf = vec![0u64; 8192];

    let started = Instant::now();
    for i in 0..TIMES {
        buf[0] = u64::from(i);
        let item: &Item = bytemuck::from_bytes(bytemuck::cast_slice(&buf));
        tx.publish(*item);
        let got = rx.try_recv()?;
        *bytemuck::from_bytes_mut::<Item>(bytemuck::cast_slice_mut(&mut buf)) = got;
    }
    let ring_cost = started.elapsed() / TIMES;

    let src = vec![1u64; 8192];
    let started = Instant::now();
    for i in 0..TIMES {
        buf.copy_from_slice(&src);
        buf[0] = u64::from(i);
        std::hint::black_box(&buf);
    }
    let memcpy_cost = started.elapsed() / TIMES;
    println!("64 KiB, one thread: publish + try_recv {ring_cost:?}, memcpy {memcpy_cost:?}");
    Ok(())
}

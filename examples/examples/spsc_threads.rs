//! Two threads, one SPSC ring in a plain buffer: the producer writes batches
//! in place (zero-copy chunks), the consumer reads them in place.
//!
//! Run: `cargo run -p ipckit-examples --example spsc_threads`

use ipckit::{AlignedBytes, Error, Region, spsc};

const CAPACITY: u32 = 1024;
const LEN: usize = match spsc::Ring::<u64>::region_len(CAPACITY) {
    Ok(len) => len,
    Err(_) => panic!("invalid capacity"),
};
const ITEMS: u64 = 10_000_000;

fn main() -> Result<(), Error> {
    let mut bytes = Box::new(AlignedBytes::<LEN>::new());
    let ring = spsc::Ring::<u64>::init(Region::from_slice(&mut bytes[..]), CAPACITY)?;
    let (mut tx, mut rx) = ring.split()?;

    let started = std::time::Instant::now();
    let sum = std::thread::scope(|s| {
        s.spawn(move || -> Result<(), Error> {
            let mut next = 0;
            while next < ITEMS {
                // Up to 64 free slots, filled in place, published with one store.
                let written = tx.write_chunk_up_to(64)?.fill_from_iter(next..ITEMS);
                next += written as u64;
                if written == 0 {
                    std::hint::spin_loop();
                }
            }
            Ok(())
        });
        let mut sum = 0u64;
        let mut seen = 0;
        while seen < ITEMS {
            let chunk = rx.read_chunk_up_to(64)?;
            seen += chunk.len() as u64;
            sum += chunk.iter().sum::<u64>();
            chunk.commit_all();
        }
        Ok::<u64, Error>(sum)
    })?;
    let elapsed = started.elapsed();
    assert_eq!(sum, ITEMS * (ITEMS - 1) / 2);
    println!(
        "moved {ITEMS} items in {elapsed:.2?} ({:.0} M items/s), checksum ok",
        ITEMS as f64 / elapsed.as_secs_f64() / 1e6
    );
    Ok(())
}

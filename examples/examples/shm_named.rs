//! Two unrelated processes over a named POSIX shared-memory object: this
//! program creates `/dev/shm/ipckit-example-<pid>`, places an SPSC ring in
//! it, and spawns itself as the consumer, which opens the object *by name*
//! (it inherits nothing). Both sides block in shared futexes when the ring is
//! full or empty. The producer removes the name at the end, also on error.
//!
//! Run: `cargo run --release -p ipckit-examples --example shm_named`

use std::process::Command;
use std::time::{Duration, Instant};

use ipckit::ObjectKind;
use ipckit::futex::Futex;
use ipckit::object::Remove;
use ipckit::shm::{SharedMemory, ShmObject};
use ipckit::spsc::{Options, Ring};

const CAPACITY: u32 = 4096;
const ITEMS: u64 = 5_000_000;
/// Neither side waits longer than this for the other: a dead peer ends the
/// example with an error instead of a hang.
const PATIENCE: Duration = Duration::from_secs(10);

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn producer() -> Result<()> {
    let name = format!("ipckit-example-{}", std::process::id());
    let len = Ring::<u64>::region_len(CAPACITY).map_err(|_| "bad capacity")?;
    // O_CREAT | O_EXCL, mode 0600: only this user can open it. The guard
    // removes the name when `object` drops, even if the producer fails
    // half-way, so nothing stays in /dev/shm.
    let object = ShmObject::create(&name, len)?.remove_on_drop();
    // `waking(true)`: waiters sleep in futexes, so both endpoints use Futex.
    let ring = Ring::<u64>::init_with(object.region(), Options::new(CAPACITY).waking(true))?;
    let mut tx = ring.producer_with(Futex::adaptive(2000))?;
    println!("producer: created {} ({len} bytes)", object.name());

    let mut child = Command::new(std::env::current_exe()?)
        .args(["consumer", &name])
        .spawn()?;
    let started = Instant::now();
    for i in 0..ITEMS {
        if let Err(e) = tx.push_timeout(i, Some(PATIENCE)) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("producer: push {i}: {e} (is the consumer alive?)").into());
        }
    }
    let status = child.wait()?;
    let elapsed = started.elapsed();
    if !status.success() {
        return Err(format!("consumer failed: {status}").into());
    }
    println!(
        "producer: {ITEMS} items in {elapsed:.2?} ({:.1} M items/s), all checked by the consumer",
        ITEMS as f64 / elapsed.as_secs_f64() / 1e6
    );
    Ok(())
}

fn consumer(name: &str) -> Result<()> {
    // Opening checks the size (fstat) before mapping; the header is checked
    // before any use.
    let object = ShmObject::open(name)?;
    let info = object.expect_kind(ObjectKind::Spsc)?;
    println!(
        "consumer: opened {} (SPSC ring of {} x {} bytes)",
        object.name(),
        info.capacity,
        info.elem_size
    );
    let ring = Ring::<u64>::attach(object.region())?;
    let mut rx = ring.consumer_with(Futex::adaptive(2000))?;
    for expected in 0..ITEMS {
        let value = rx.pop_timeout(Some(PATIENCE))?;
        if value != expected {
            return Err(format!("consumer: got {value}, expected {expected}").into());
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.as_slice() {
        [_] => producer(),
        [_, role, name] if role == "consumer" => consumer(name),
        _ => Err("usage: shm_named [consumer <name>]".into()),
    }
}

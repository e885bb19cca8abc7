//! Two processes, one SPSC ring in an anonymous shared mapping: the parent
//! creates the ring and produces, a `fork()`ed child attaches and consumes.
//!
//! Run: `cargo run --release -p ipckit-examples --example spsc_fork`

use std::time::Instant;

use ipckit::shm::SharedMapping;
use ipckit::spsc;

const CAPACITY: u32 = 4096;
const ITEMS: u64 = 20_000_000;

/// The child: attach, claim the consumer role, check every item. Returns the
/// process exit code.
fn consume(mapping: &SharedMapping) -> i32 {
    let Ok(ring) = spsc::Ring::<u64>::attach(mapping.region()) else {
        return 2;
    };
    let Ok(mut rx) = ring.consumer() else {
        return 3;
    };
    let mut expected = 0;
    while expected < ITEMS {
        let Ok(chunk) = rx.read_chunk_up_to(256) else {
            return 4;
        };
        for value in chunk.iter() {
            if value != expected {
                return 5;
            }
            expected += 1;
        }
        chunk.commit_all();
    }
    0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let len = spsc::Ring::<u64>::region_len(CAPACITY)?;
    let mapping = SharedMapping::anonymous(len)?;
    let ring = spsc::Ring::<u64>::init(mapping.region(), CAPACITY)?;

    // SAFETY: this program is single-threaded here, so the child may run
    // arbitrary code; it leaves through `_exit` without running destructors
    // (which would, for instance, give back the parent's roles).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    if pid == 0 {
        let code = consume(&mapping);
        // SAFETY: `_exit` ends the child immediately; nothing is unwound.
        unsafe { libc::_exit(code) };
    }

    let started = Instant::now();
    let mut tx = ring.producer()?;
    let mut next = 0;
    while next < ITEMS {
        let written = tx.write_chunk_up_to(256)?.fill_from_iter(next..ITEMS);
        next += written as u64;
        if written == 0 {
            std::hint::spin_loop();
        }
    }
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is a valid out-pointer.
    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
        return Err(std::io::Error::last_os_error().into());
    }
    let elapsed = started.elapsed();
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("consumer process failed: wait status {status:#x}").into());
    }
    println!(
        "{ITEMS} items parent -> child in {elapsed:.2?} ({:.0} M items/s), every item checked in order",
        ITEMS as f64 / elapsed.as_secs_f64() / 1e6
    );
    Ok(())
}

//! A channel in a memory-mapped file survives the processes that use it.
//!
//! This program spawns itself as a *writer* that creates
//! `$TMPDIR/ipckit-example-<pid>.ring`, sends a few records, flushes the
//! file and ends without closing anything (as a crash would: `_exit`, no
//! destructors). Then, as after a restart, it opens the file, reads every
//! record the writer left, and takes the dead writer's role over
//! (`Sender::take_over_on`: the recorded pid and start time prove it dead)
//! to continue the stream. The file is removed at the end.
//!
//! Run: `cargo run --release -p ipckit-examples --example persistent_ring`

use std::path::Path;
use std::process::Command;

use ipckit::channel::spsc::{Receiver, Sender};
use ipckit::object::Remove;
use ipckit::shm::MappedFile;

/// One record: a sequence number and a value.
type Record = [u64; 2];

const CAPACITY: u32 = 64;
const WRITTEN: u64 = 10;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn writer(path: &Path) -> Result<()> {
    let len = Sender::<Record>::object_len(CAPACITY).ok_or("bad capacity")?;
    let mut tx = Sender::<Record>::init_on(MappedFile::create(path, len)?, CAPACITY)?;
    for seq in 0..WRITTEN {
        tx.try_send([seq, seq * seq])?;
    }
    if let ipckit::channel::Memory::File(file) = tx.memory() {
        file.flush()?; // on disk, not only in the page cache
    }
    println!(
        "writer (pid {}): {WRITTEN} records written, now dying",
        std::process::id()
    );
    // SAFETY: ends the process at once, without closing the channel: the
    // state a crash leaves.
    unsafe { libc::_exit(0) }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, path] = args.as_slice() {
        if role == "writer" {
            return writer(Path::new(path));
        }
    }
    let path = std::env::temp_dir().join(format!("ipckit-example-{}.ring", std::process::id()));
    let path = path.remove_on_drop(); // the file goes when `path` drops
    let status = Command::new(std::env::current_exe()?)
        .arg("writer")
        .arg(&path)
        .status()?;
    if !status.success() {
        return Err(format!("writer failed: {status}").into());
    }

    // "After the restart": everything is still in the file.
    let mut rx = Receiver::<Record>::attach(MappedFile::open(&path)?)?;
    let mut read = 0;
    while let Ok([seq, value]) = rx.try_recv() {
        assert_eq!((seq, value), (read, read * read));
        read += 1;
    }
    println!("restart: read {read} records from {}", path.display());
    // The writer still holds its role on paper; it is dead, so take it over.
    let mut tx = Sender::<Record>::take_over_on(MappedFile::open(&path)?)?;
    tx.try_send([WRITTEN, 42])?;
    assert_eq!(rx.try_recv()?, [WRITTEN, 42]);
    println!("restart: took the dead writer's role over and continued the stream");
    Ok(())
}

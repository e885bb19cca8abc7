//! A named pipe (FIFO) between two unrelated processes that share only a
//! path: the parent creates it and reads, a child (this program,
//! re-executed with the path) writes.
//!
//! `cargo run -p ipckit-examples --example fifo`

use std::process::Command;
use std::time::Duration;

use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::transport::fifo::{Fifo, FifoReceiver, FifoSender};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The writer: open by path (waits up to 5 s for a reader; never
    // deadlocks in open).
    if let Some(path) = std::env::args().nth(1) {
        let mut tx = FifoSender::open(&path, 4096, Some(Duration::from_secs(5)))?;
        for i in 0..3 {
            tx.send(format!("message {i} by name").as_bytes())?;
        }
        return Ok(());
    }

    // The reader: create the FIFO (mode 0600); the guard removes it on drop.
    let path = std::env::temp_dir().join(format!("ipckit-example-fifo-{}", std::process::id()));
    let fifo = Fifo::create(&path)?;
    let mut rx = FifoReceiver::open(fifo.path(), 4096)?; // does not wait for a writer
    let mut child = Command::new(std::env::current_exe()?).arg(&path).spawn()?;
    let mut buf = [0u8; 4096];
    loop {
        match rx.recv_timeout(&mut buf, Some(Duration::from_secs(10))) {
            Ok(n) => println!("got {:?}", String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.is_peer_gone() => break, // the writer came and went
            Err(e) => return Err(e.into()),
        }
    }
    println!("writer exited: {}", child.wait()?);
    drop(fifo); // unlinks the path
    println!("{} removed: {}", path.display(), !path.exists());
    Ok(())
}

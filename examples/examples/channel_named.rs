//! Two unrelated processes over a named byte channel: this program creates
//! the channel, starts itself again as the receiver, which opens it *by
//! name*, and sends text lines. Dropping the sender closes the channel: the
//! receiver drains it and gets `PeerGone` (no end-of-stream message
//! needed; a killed sender is noticed the same way within milliseconds).
//! Once the receiver has joined, the name is removed: the kernel frees the
//! channel when both are done, however they end.
//!
//! Run: `cargo run --release -p ipckit-examples --example channel_named`

use std::process::Command;
use std::time::Duration;

use ipckit::channel::{self, bytes};

const LINES: u64 = 100_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Some(name) = std::env::args().nth(1) {
        // The receiver.
        let mut rx: bytes::Receiver = channel::bytes().open(&name)?;
        let mut buf = vec![0; rx.max_frame_len() as usize];
        let mut lines = 0;
        loop {
            match rx.recv(&mut buf) {
                Ok(n) => assert_eq!(&buf[..n], format!("line {lines}").as_bytes()),
                Err(e) if e.is_peer_gone() => break,
                Err(e) => return Err(e.into()),
            }
            lines += 1;
        }
        println!("receiver: {lines} lines in order, then the sender was gone");
        return Ok(());
    }
    let name = format!("example-named-{}", std::process::id());
    let mut tx: bytes::Sender = channel::bytes()
        .max_message(64)
        .messages(1000)
        .create(&name)?;
    let mut child = Command::new(std::env::current_exe()?).arg(&name).spawn()?;
    tx.remove_name_after(1, Duration::from_secs(10))?; // the receiver has opened it
    for i in 0..LINES {
        tx.send(format!("line {i}").as_bytes())?;
    }
    drop(tx);
    assert!(child.wait()?.success());
    Ok(())
}

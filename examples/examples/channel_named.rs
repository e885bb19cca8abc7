//! Two unrelated processes over a named byte-message channel: this program
//! creates the channel `/dev/shm/ipckit-example-chan-<pid>` and spawns itself
//! as the receiver, which opens it *by name*. The sender sends text messages
//! and closes; the receiver drains the channel and learns from
//! `Error::PeerGone` that nothing more will come (no end-of-stream message
//! needed), the moment the sender drops its end. Had the sender been killed
//! instead, the receiver would learn the same within a millisecond or so
//! (through a pidfd; ~50 ms on a kernel without one), not hang.
//!
//! Run: `cargo run --release -p ipckit-examples --example channel_named`

use std::process::Command;
use std::time::{Duration, Instant};

use ipckit::channel::bytes::{Receiver, Sender};
use ipckit::object::Remove;
use ipckit::shm::ShmName;

const MESSAGES: u64 = 1_000_000;
const PATIENCE: Duration = Duration::from_secs(10);

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Removes the channel's name when dropped, also on error.
fn sender() -> Result<()> {
    let name = format!("ipckit-example-chan-{}", std::process::id());
    // Fails if the name exists (another creator won): `open_or_create` would
    // join it instead.
    let mut tx = Sender::create(&name, 64 << 10)?;
    let _cleanup = ShmName::new(&name)?.remove_on_drop(); // unlinked on return
    println!(
        "sender: created /dev/shm/{name} (messages up to {} bytes)",
        tx.max_frame_len()
    );
    let mut child = Command::new(std::env::current_exe()?)
        .args(["receiver", &name])
        .spawn()?;
    let started = Instant::now();
    for i in 0..MESSAGES {
        let text = format!("message {i}");
        if let Err(e) = tx.send_timeout(text.as_bytes(), PATIENCE) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("sender: {text}: {e}").into());
        }
    }
    drop(tx); // closes: the receiver gets PeerGone once it has drained
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("receiver failed: {status}").into());
    }
    println!(
        "sender: {MESSAGES} messages in {:.2?}, all checked by the receiver",
        started.elapsed()
    );
    Ok(())
}

fn receiver(name: &str) -> Result<()> {
    let mut rx = Receiver::open(name)?;
    let mut buf = vec![0u8; rx.max_frame_len() as usize];
    let mut count = 0u64;
    loop {
        match rx.recv_timeout(&mut buf, PATIENCE) {
            Ok(n) => {
                let expected = format!("message {count}");
                if &buf[..n] != expected.as_bytes() {
                    return Err(
                        format!("receiver: got {:?}", String::from_utf8_lossy(&buf[..n])).into(),
                    );
                }
                count += 1;
            }
            Err(e) if e.is_peer_gone() => break,
            Err(e) => return Err(e.into()),
        }
    }
    println!("receiver: {count} messages in order, then the sender was gone");
    if count != MESSAGES {
        return Err(format!("receiver: expected {MESSAGES}").into());
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.as_slice() {
        [_] => sender(),
        [_, role, name] if role == "receiver" => receiver(name),
        _ => Err("usage: channel_named [receiver <name>]".into()),
    }
}

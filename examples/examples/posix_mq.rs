//! A POSIX message queue between two processes: this program creates
//! `/ipckit-example-mq-<pid>` (visible in `/dev/mqueue` where mounted),
//! spawns itself as the receiver, which opens the queue *by name*, and sends
//! a few messages with priorities. The receiver takes the most urgent first.
//! The sender removes the name at the end, also on error.
//!
//! Run: `cargo run -p ipckit-examples --example posix_mq`

use std::process::Command;
use std::time::Duration;

use ipckit::message::MessageSender;
use ipckit::object::{Access, Remove};
use ipckit::shm::Trust;
use ipckit::transport::posix_mq::{MqAttr, PosixMq};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn sender() -> Result<()> {
    let name = format!("ipckit-example-mq-{}", std::process::id());
    // At most 8 messages of 256 bytes; checked against /proc/sys/fs/mqueue.
    // Mode 0600; the guard unlinks the name when `q` drops, also on error.
    let mut q = PosixMq::create(
        &name,
        MqAttr {
            max_messages: 8,
            message_size: 256,
        },
    )?
    .remove_on_drop();
    // Queue everything first, so that priorities decide the order.
    q.send_with_priority(b"routine report", 1, None)?;
    q.send_with_priority(b"disk almost full", 5, None)?;
    q.send(b"hello")?; // the message trait: priority 0
    q.send_with_priority(b"CPU on fire", 9, None)?;
    q.send(b"bye")?;
    let status = Command::new(std::env::current_exe()?)
        .args(["receiver", &name])
        .status()?;
    println!("sender: receiver finished with {status}");
    Ok(())
}

fn receiver(name: &str) -> Result<()> {
    // Receive only: read permission would suffice; a send would be refused.
    let q = PosixMq::open_with(name, Access::ReadOnly, Trust::Owner)?;
    let mut buf = vec![0; q.attr().message_size]; // the kernel wants this much
    loop {
        // A timeout: a queue cannot tell that its sender is gone.
        let (n, prio) = q.recv_with_priority(&mut buf, Some(Duration::from_secs(5)))?;
        let text = String::from_utf8_lossy(&buf[..n]);
        println!("receiver: priority {prio}: {text}");
        if text == "bye" {
            return Ok(());
        }
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("receiver") => receiver(&args[2]),
        _ => sender(),
    }
}

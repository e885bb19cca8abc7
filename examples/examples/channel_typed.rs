//! Typed messages between two processes: this program creates a channel of
//! `Job`s, starts itself again as the sender, and prints what arrives.
//!
//! Run: `cargo run -p ipckit-examples --example channel_typed`

use std::time::Duration;

use ipckit::channel::typed::{MessageType, Receiver, Sender};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug)]
enum Job {
    Resize { path: String, sizes: Vec<u32> },
    Stop,
}
impl MessageType for Job {}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Some(name) = std::env::args().nth(1) {
        // The child: send two jobs; dropping the sender ends the channel.
        let mut tx = Sender::<Job>::open(&name)?;
        tx.send(&Job::Resize {
            path: "cat.png".into(),
            sizes: vec![64, 256],
        })?;
        return Ok(tx.send(&Job::Stop)?);
    }
    let name = format!("ipckit-example-typed-{}", std::process::id());
    let mut rx = Receiver::<Job>::create(&name, 4096)?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .arg(&name)
        .spawn()?;
    loop {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(job) => println!("{job:?}"),
            Err(e) if e.is_peer_gone() => break,
            Err(e) => return Err(e.into()),
        }
    }
    child.wait()?;
    Ok(ipckit::shm::ShmObject::remove(&name)?)
}

//! One producer process and three consumer processes over a named MPMC
//! channel: each item goes to exactly one consumer. The producer sends
//! 1..=N and drops its end; each consumer receives until `PeerGone` (the
//! channel drained and no sender left) and prints how many items it got
//! and their sum, which the producer checks.
//!
//! Run: `cargo run --release -p ipckit-examples --example channel_mpmc`

use std::process::{Command, Stdio};
use std::time::Duration;

use ipckit::channel::{self, mpmc};

const CONSUMERS: u32 = 3;
const ITEMS: u64 = 1_000_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Some(name) = std::env::args().nth(1) {
        // A consumer: the iterator ends when the producer is gone.
        let rx: mpmc::Receiver<u64> = channel::mpmc().open(&name)?;
        let (mut count, mut sum) = (0u64, 0u64);
        for item in &rx {
            (count, sum) = (count + 1, sum + item?);
        }
        println!("{count} {sum}");
        return Ok(());
    }
    let name = format!("example-mpmc-{}", std::process::id());
    let tx: mpmc::Sender<u64> = channel::mpmc().capacity(4096).create(&name)?;
    let consumers = (0..CONSUMERS)
        .map(|_| {
            Command::new(std::env::current_exe()?)
                .arg(&name)
                .stdout(Stdio::piped())
                .spawn()
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    tx.remove_name_after(CONSUMERS, Duration::from_secs(10))?; // all have joined
    for i in 1..=ITEMS {
        tx.send(i)?;
    }
    drop(tx);
    let (mut count, mut sum) = (0u64, 0u64);
    for consumer in consumers {
        let out = String::from_utf8(consumer.wait_with_output()?.stdout)?;
        let (c, s) = out.trim().split_once(' ').ok_or("bad consumer output")?;
        println!("a consumer got {c} items");
        (count, sum) = (count + c.parse::<u64>()?, sum + s.parse::<u64>()?);
    }
    assert_eq!(
        (count, sum),
        (ITEMS, ITEMS * (ITEMS + 1) / 2),
        "each item once"
    );
    println!("{ITEMS} items, each delivered to exactly one consumer");
    Ok(())
}

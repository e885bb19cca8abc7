//! One producer process and several consumer processes over a named MPMC
//! channel: each item goes to exactly one consumer. The producer creates
//! `/dev/shm/ipckit-example-mpmc-<pid>`, spawns three consumers (this
//! program again), sends the numbers 1..=N and closes; each consumer
//! receives until `PeerGone` (channel empty, no sender left) and reports
//! how many items it got and their sum, which the producer adds up.
//!
//! Run: `cargo run --release -p ipckit-examples --example channel_mpmc`

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ipckit::channel::mpmc::{Receiver, Sender};
use ipckit::object::Remove;
use ipckit::shm::ShmName;

const CONSUMERS: usize = 3;
const ITEMS: u64 = 2_000_000;
const PATIENCE: Duration = Duration::from_secs(10);

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn producer() -> Result<()> {
    let name = format!("ipckit-example-mpmc-{}", std::process::id());
    let tx = Sender::<u64>::create(&name, 4096)?;
    let _cleanup = ShmName::new(&name)?.remove_on_drop(); // unlinked on return
    let mut children = Vec::new();
    for _ in 0..CONSUMERS {
        children.push(
            Command::new(std::env::current_exe()?)
                .args(["consumer", &name])
                .stdout(Stdio::piped())
                .spawn()?,
        );
    }
    let started = Instant::now();
    for i in 1..=ITEMS {
        tx.send_timeout(i, PATIENCE)?;
    }
    drop(tx);
    let (mut count, mut sum) = (0u64, 0u64);
    for child in children {
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(format!("a consumer failed: {}", out.status).into());
        }
        let line = String::from_utf8(out.stdout)?;
        let mut words = line.split_whitespace();
        let (Some(pid), Some(c), Some(s)) = (words.next(), words.next(), words.next()) else {
            return Err(format!("unexpected consumer output {line:?}").into());
        };
        let (c, s): (u64, u64) = (c.parse()?, s.parse()?);
        println!("consumer {pid}: {c} items");
        count += c;
        sum += s;
    }
    let elapsed = started.elapsed();
    if count != ITEMS || sum != ITEMS * (ITEMS + 1) / 2 {
        return Err(format!("consumers got {count} items summing to {sum}").into());
    }
    println!(
        "producer: {ITEMS} items to {CONSUMERS} consumer processes in {elapsed:.2?}, each delivered once"
    );
    Ok(())
}

fn consumer(name: &str) -> Result<()> {
    let rx = Receiver::<u64>::open(name)?;
    let (mut count, mut sum) = (0u64, 0u64);
    loop {
        match rx.recv_timeout(PATIENCE) {
            Ok(v) => {
                count += 1;
                sum += v;
            }
            Err(e) if e.is_peer_gone() => break,
            Err(e) => return Err(e.into()),
        }
    }
    println!("{} {count} {sum}", std::process::id());
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.as_slice() {
        [_] => producer(),
        [_, role, name] if role == "consumer" => consumer(name),
        _ => Err("usage: channel_mpmc [consumer <name>]".into()),
    }
}

//! Several sender processes and one receiver over a named MPSC byte
//! channel, one sender dying in the middle of a message. The receiver
//! creates `/dev/shm/ipckit-example-mpsc-<pid>` and spawns three senders
//! (this program again): two send `LINES` text lines each, the third sends
//! three lines, claims room for a fourth, writes half of it and kills
//! itself with SIGKILL. The receiver gets every line of each sender in
//! order, skips the dead sender's unfinished record once it sees that its
//! process is gone (instead of waiting behind it forever), and ends with
//! `PeerGone` when no sender is left.
//!
//! Run: `cargo run --release -p ipckit-examples --example channel_mpsc`

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use ipckit::channel::{
    self,
    mpsc_bytes::{Receiver, Sender},
};
use ipckit::object::Remove;
use ipckit::shm::ShmName;

const LINES: u64 = 200_000;
const CRASHER_LINES: u64 = 3;
const PATIENCE: Duration = Duration::from_secs(10);

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn receiver() -> Result<()> {
    let name = format!("ipckit-example-mpsc-{}", std::process::id());
    let mut rx: Receiver = channel::mpsc_bytes().capacity(64 << 10).create(&name)?;
    let _cleanup = ShmName::new(&name)?.remove_on_drop(); // unlinked on return
    // A sender of our own, held until every child ended: without it, two
    // fast senders that finish before the third opens would leave "no
    // sender" for a moment, and `recv` would report `PeerGone` early.
    let keep_open: Sender = channel::mpsc_bytes().open(&name)?;
    let mut children = Vec::new();
    for role in ["sender", "sender", "crasher"] {
        children.push(
            Command::new(std::env::current_exe()?)
                .args([role, &name])
                .spawn()?,
        );
    }
    let started = Instant::now();
    let expected = 2 * LINES + CRASHER_LINES;
    // Lines per sender pid, checked to arrive in order.
    let mut per_sender: BTreeMap<u32, u64> = BTreeMap::new();
    let mut buf = vec![0u8; rx.max_frame_len() as usize];
    for _ in 0..expected {
        let n = rx.recv_timeout(&mut buf, PATIENCE)?;
        let line = std::str::from_utf8(&buf[..n])?;
        let mut words = line.split_whitespace();
        let (Some(pid), Some(seq)) = (words.next(), words.nth(1)) else {
            return Err(format!("unexpected line {line:?}").into());
        };
        let (pid, seq): (u32, u64) = (pid.parse()?, seq.parse()?);
        let due = per_sender.entry(pid).or_insert(0);
        if seq != *due {
            return Err(format!("sender {pid}: line {seq} where {due} was due").into());
        }
        *due += 1;
    }
    let elapsed = started.elapsed();
    for mut child in children {
        let status = child.wait()?;
        println!("sender process {}: {status}", child.id());
    }
    drop(keep_open);
    match rx.recv_timeout(&mut buf, PATIENCE) {
        Err(e) if e.is_peer_gone() => println!("receiver: {e}"),
        other => return Err(format!("expected PeerGone, got {other:?}").into()),
    }
    for (pid, lines) in &per_sender {
        println!("sender {pid}: {lines} lines, in order");
    }
    let skipped = rx.skipped();
    println!(
        "receiver: {expected} lines in {elapsed:.2?}; skipped {} unfinished record(s) \
         ({} bytes) of a dead sender",
        skipped.records, skipped.bytes
    );
    if skipped.records != 1 {
        return Err("the dead sender's record was not skipped once".into());
    }
    Ok(())
}

fn sender(name: &str, lines: u64) -> Result<Sender> {
    let tx: Sender = channel::mpsc_bytes().open(name)?;
    for seq in 0..lines {
        let line = format!("{} line {seq}", tx.id());
        tx.send_timeout(line.as_bytes(), PATIENCE)?;
    }
    Ok(tx)
}

fn crasher(name: &str) -> Result<()> {
    let tx = sender(name, CRASHER_LINES)?;
    let mut grant = tx.try_grant(64)?;
    grant.write_at(0, b"this line is never fini")?;
    // Die holding the grant, as a crash would.
    // SAFETY: sends a signal to this process; nothing else.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    unreachable!("SIGKILL is not survivable")
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.as_slice() {
        [_] => receiver(),
        [_, role, name] if role == "sender" => sender(name, LINES).map(drop),
        [_, role, name] if role == "crasher" => crasher(name),
        _ => Err("usage: channel_mpsc [sender|crasher <name>]".into()),
    }
}

//! Signals with a payload: the parent blocks `SIGRTMIN+1` *before* it
//! starts anything (so the signal can only ever be read, never kill us),
//! opens a signalfd for it and spawns itself as the sender, which
//! `sigqueue`s integers to it. The parent reads them synchronously, with
//! the sender's pid: no signal handler runs.
//!
//! Run: `cargo run -p ipckit-examples --example signal_payload`

use std::process::Command;
use std::time::Duration;

use ipckit::transport::signal::{SignalReceiver, SignalSender, rt_signal};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn receiver() -> Result<()> {
    let signo = rt_signal(1)?;
    // First thing in main, before any thread or peer exists.
    let mut rx = SignalReceiver::new(signo)?;
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "sender",
            &std::process::id().to_string(),
            &signo.to_string(),
        ])
        .spawn()?;
    loop {
        let info = rx.recv_signal(Some(Duration::from_secs(5)))?;
        println!("receiver: value {} from pid {}", info.value, info.pid);
        if info.value < 0 {
            break;
        }
    }
    child.wait()?;
    Ok(())
}

fn sender(pid: u32, signo: i32) -> Result<()> {
    let tx = SignalSender::new(pid, signo);
    for v in [7, 42, 1000, -1] {
        // Full (EAGAIN) if the receiver's RLIMIT_SIGPENDING is exhausted:
        // send_value then retries until its timeout.
        tx.send_value(v, Some(Duration::from_secs(1)))?;
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("sender") => sender(args[2].parse()?, args[3].parse()?),
        _ => receiver(),
    }
}

//! popen-style: spawn a child, talk to it over its stdin and stdout, in
//! framed messages (with a child that speaks them: this program,
//! re-executed) and in raw bytes (with `tr`, which does not).
//!
//! `cargo run -p ipckit-examples --example popen`

use std::process::Command;

use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::transport::popen::{Popen, child_stdio};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The child: answer each framed message with its reverse.
    if std::env::var_os("POPEN_CHILD").is_some() {
        let (mut rx, mut tx) = child_stdio(4096)?;
        loop {
            match rx.recv_vec() {
                Ok(mut msg) => {
                    msg.reverse();
                    tx.send(&msg)?;
                }
                Err(e) if e.is_peer_gone() => return Ok(()), // stdin closed
                Err(e) => return Err(e.into()),
            }
        }
    }

    // Framed messages with a child that speaks them.
    let mut child = Popen::spawn(
        Command::new(std::env::current_exe()?).env("POPEN_CHILD", "1"),
        4096,
    )?;
    for msg in ["stressed", "drawer", "live"] {
        child.send(msg.as_bytes())?;
        let reply = child.recv_vec()?;
        println!("{msg} -> {}", String::from_utf8_lossy(&reply));
    }
    child.close_stdin()?; // the child sees PeerGone and exits
    println!("framed child: {:?}", child.wait_timeout(None)?);

    // Raw bytes with a program that knows no frames.
    let mut tr = Popen::spawn(Command::new("tr").args(["a-z", "A-Z"]), 4096)?;
    tr.write_raw(b"raw bytes through tr\n", None)?;
    tr.close_stdin()?;
    let mut buf = [0u8; 256];
    let mut out = Vec::new();
    while let n @ 1.. = tr.read_raw(&mut buf, None)? {
        out.extend_from_slice(&buf[..n]);
    }
    print!("tr said: {}", String::from_utf8_lossy(&out));
    // Dropping a Popen reaps its child (killing it after a grace if needed).
    Ok(())
}

//! An anonymous pipe handed to a spawned child: the parent sends framed
//! messages, the child (this same program, re-executed) prints them.
//!
//! `cargo run -p ipckit-examples --example pipe_child`

use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Command;

use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::transport::pipe::{PipeReceiver, pipe};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The child: the read end's number arrives in an environment variable.
    if let Ok(fd) = std::env::var("PIPE_FD") {
        // SAFETY: the parent handed us this descriptor (`into_child`) and
        // nothing else in this process owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd.parse()?) };
        let mut rx = PipeReceiver::from_fd(fd, 1 << 20)?;
        loop {
            match rx.recv_vec() {
                Ok(msg) => println!("child got {:?}", String::from_utf8_lossy(&msg)),
                // The parent closed its end: every message is in.
                Err(e) if e.is_peer_gone() => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }

    // The parent: a pipe with a 1 MiB buffer (clamped to pipe-max-size).
    let (mut tx, rx) = pipe()?;
    println!("pipe buffer: {} bytes", tx.set_capacity(1 << 20)?);
    let mut cmd = Command::new(std::env::current_exe()?);
    let fd = rx.into_child(&mut cmd)?; // inherited by the child, as `fd`
    let mut child = cmd.env("PIPE_FD", fd.to_string()).spawn()?;
    drop(cmd); // close our copy of the read end

    for msg in ["hello", "", "from the parent"] {
        tx.send(msg.as_bytes())?;
    }
    drop(tx); // end of stream: the child's recv returns PeerGone
    println!("child exited: {}", child.wait()?);
    Ok(())
}

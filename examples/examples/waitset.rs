//! One thread waiting on a child's pipe and a periodic timer at once, with
//! a `WaitSet` (epoll) and no async runtime. The child (this program,
//! re-executed) sends a message every 30 ms and exits; the parent reports
//! each message and each timer tick, and ends when the pipe hangs up.
//!
//! Run: `cargo run -p ipckit-examples --example waitset`

use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Command;
use std::time::Duration;

use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::transport::pipe::{PipeSender, pipe};
use ipckit::waitset::{Interest, Timer, WaitSet};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn child(fd: &str) -> Result<()> {
    // SAFETY: the parent handed us this descriptor (`into_child`) and
    // nothing else in this process owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd.parse()?) };
    let mut tx = PipeSender::from_fd(fd, 1024)?;
    for i in 1..=3 {
        std::thread::sleep(Duration::from_millis(30));
        tx.send(format!("message {i}").as_bytes())?;
    }
    Ok(()) // exiting closes the pipe: the parent sees a hang-up
}

fn main() -> Result<()> {
    if let Ok(fd) = std::env::var("WAITSET_PIPE_FD") {
        return child(&fd);
    }
    let (tx, mut rx) = pipe()?;
    let mut cmd = Command::new(std::env::current_exe()?);
    let fd = tx.into_child(&mut cmd)?;
    let mut child = cmd.env("WAITSET_PIPE_FD", fd.to_string()).spawn()?;
    drop(cmd); // close our copy of the write end

    let mut set = WaitSet::new()?;
    let pipe_token = set.add(&rx, Interest::READABLE)?;
    let tick_token = set.add_timer(Timer::every(Duration::from_millis(25)))?;
    let mut open = true;
    while open {
        for (token, ready) in &set.wait(Some(Duration::from_secs(10)))? {
            if token == tick_token {
                println!("tick (x{})", ready.timer_ticks);
            } else if token == pipe_token {
                // A framed pipe reads ahead: drain until `Empty`.
                let mut buf = [0; 1024];
                loop {
                    match rx.try_recv(&mut buf) {
                        Ok(n) => println!("child: {}", String::from_utf8_lossy(&buf[..n])),
                        Err(e) if e.is_empty() => break,
                        Err(e) if e.is_peer_gone() => {
                            println!("child closed the pipe");
                            open = false;
                            break;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
    }
    set.remove(pipe_token)?; // before `rx` is closed
    println!("child exited: {}", child.wait()?);
    Ok(())
}

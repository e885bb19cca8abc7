//! Waking another process with an eventfd: the parent creates two
//! eventfds, lets them survive `exec`, and spawns itself with their
//! descriptor numbers. The child does "work" for each request and
//! notifies; in counter mode notifications add up, in semaphore mode
//! each is one wake.
//!
//! Run: `cargo run -p ipckit-examples --example eventfd`

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::time::Duration;

use ipckit::transport::eventfd::{EventFd, EventFdMode};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn parent() -> Result<()> {
    let requests = EventFd::new(0, EventFdMode::Semaphore)?; // one wake per request
    let done = EventFd::new(0, EventFdMode::Counter)?; // the child adds results up
    requests.set_inheritable(true)?;
    done.set_inheritable(true)?;
    let mut child = Command::new(std::env::current_exe()?)
        .arg("child")
        .arg(requests.as_raw_fd().to_string())
        .arg(done.as_raw_fd().to_string())
        .spawn()?;
    requests.notify(3)?; // three requests at once
    let mut total = 0;
    while total < 3 {
        // Counter mode: one wait may take several notifications at once.
        let n = done.wait_timeout(Some(Duration::from_secs(5)))?;
        total += n;
        println!("parent: {n} request(s) done, {total} in all");
    }
    child.wait()?;
    Ok(())
}

fn child(requests: i32, done: i32) -> Result<()> {
    // SAFETY: the parent passed these descriptors, open and ours alone.
    let requests = EventFd::from_fd(unsafe { OwnedFd::from_raw_fd(requests) })?;
    // SAFETY: as above.
    let done = EventFd::from_fd(unsafe { OwnedFd::from_raw_fd(done) })?;
    for i in 0..3 {
        requests.wait_timeout(Some(Duration::from_secs(5)))?; // takes 1
        println!("child: working on request {i}");
        done.notify(1)?;
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("child") => child(args[2].parse()?, args[3].parse()?),
        _ => parent(),
    }
}

//! `ipckit recv NAME`: messages from a byte channel to stdout.

use std::io::Write;

use ipckit::channel::bytes::Receiver;
use ipckit::error::{CoreError, Error};

use crate::cmd::send::{open_fail, timeout};
use crate::fail::{Fail, Result};

/// Arguments of `ipckit recv`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The channel (a name starting with `ipckit-`).
    pub name: String,
    /// Stop after this many messages (without it: when the sender is gone
    /// and everything it sent was received).
    #[arg(long, short)]
    pub count: Option<u64>,
    /// Wait at most this many seconds for each message (then fail).
    #[arg(long, short)]
    pub timeout: Option<f64>,
    /// Write the messages' bytes as they are, without a newline after each.
    #[arg(long)]
    pub raw: bool,
    /// Create the channel if it does not exist.
    #[arg(long)]
    pub create: bool,
    /// Data area in bytes when creating (a power of two, from 64).
    #[arg(long, default_value_t = 65536)]
    pub capacity: u32,
}

fn open(args: &Args) -> Result<Receiver> {
    let opened = if args.create {
        Receiver::open_or_create(&args.name, args.capacity)
    } else {
        Receiver::open(&args.name)
    };
    match opened {
        Err(e) if matches!(e.core(), Some(CoreError::RoleTaken(_))) => {
            Receiver::take_over(&args.name)
        }
        other => other,
    }
    .map_err(|e| open_fail(&args.name, e))
}

/// Runs `ipckit recv`.
pub fn run(args: Args) -> Result<()> {
    let timeout = timeout(args.timeout)?;
    let mut rx = open(&args)?;
    let mut buf = vec![0u8; rx.max_frame_len() as usize];
    let limit = args.count.unwrap_or(u64::MAX);
    let mut out = std::io::stdout().lock();
    let mut got = 0u64;
    while got < limit {
        let got_one = match timeout {
            Some(t) => rx.recv_timeout(&mut buf, t),
            None => rx.recv(&mut buf),
        };
        let n = match got_one {
            Ok(n) => n,
            Err(e) if e.is_peer_gone() => break,
            Err(Error::TimedOut) => {
                let _ = out.flush();
                return Err(Fail::new(format!(
                    "{}: timed out waiting for a message ({got} received)",
                    args.name
                )));
            }
            Err(e) => return Err(Fail::new(format!("{}: {e}", args.name))),
        };
        got += 1;
        let written = out.write_all(&buf[..n]).and_then(|()| {
            if args.raw {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        });
        match written {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            other => other?,
        }
        if timeout.is_some() || args.count.is_some() {
            out.flush()?;
        }
    }
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

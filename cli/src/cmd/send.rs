//! `ipckit send NAME`: messages from arguments, stdin lines or a file, onto
//! a byte channel (`channel::bytes`).

use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::time::Duration;

use ipckit::channel::bytes::Sender;
use ipckit::error::{CoreError, Error};

use crate::fail::{Fail, Result};

/// Arguments of `ipckit send`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The channel (a name starting with `ipckit-`).
    pub name: String,
    /// Messages to send; without any, stdin (or `--file`) is read, one
    /// message per line.
    pub messages: Vec<String>,
    /// Read the messages from this file instead of stdin.
    #[arg(long, short)]
    pub file: Option<PathBuf>,
    /// Send the whole input (stdin or `--file`) as one message, not one per
    /// line.
    #[arg(long)]
    pub whole: bool,
    /// Send at most this many messages.
    #[arg(long, short)]
    pub count: Option<u64>,
    /// Wait at most this many seconds for room for each message.
    #[arg(long, short)]
    pub timeout: Option<f64>,
    /// Create the channel if it does not exist.
    #[arg(long)]
    pub create: bool,
    /// Data area in bytes when creating (a power of two, from 64).
    #[arg(long, default_value_t = 65536)]
    pub capacity: u32,
}

/// Parses a timeout in seconds.
pub fn timeout(secs: Option<f64>) -> Result<Option<Duration>> {
    secs.map(|s| {
        Duration::try_from_secs_f64(s)
            .map_err(|_| Fail::usage(format!("invalid timeout {s}: seconds, 0 or more")))
    })
    .transpose()
}

/// Says what went wrong opening a channel, in one line.
pub fn open_fail(name: &str, e: Error) -> Fail {
    match e {
        Error::NotFound(_) => Fail::new(format!(
            "no channel named {name} (use --create to create it)"
        )),
        Error::Channel {
            error: CoreError::KindMismatch { found, .. },
            ..
        } => Fail::new(format!(
            "{name} is not a byte channel (its kind is {found}: {})",
            crate::objects::kind_name(ipckit::ObjectKind::from_code(found))
        )),
        Error::Channel {
            error: CoreError::RoleTaken(role),
            dead_holder: None,
            ..
        } => Fail::new(format!(
            "{name}: another live process holds the {} end",
            crate::objects::role_name(role)
        )),
        Error::PermissionDenied(_) => Fail::new(format!("{name}: permission denied")),
        e => Fail::new(format!("{name}: {e}")),
    }
}

fn open(args: &Args) -> Result<Sender> {
    let opened = if args.create {
        Sender::open_or_create(&args.name, args.capacity)
    } else {
        Sender::open(&args.name)
    };
    match opened {
        // A sender that died holding the end: take it over.
        Err(e) if matches!(e.core(), Some(CoreError::RoleTaken(_))) => {
            Sender::take_over(&args.name)
        }
        other => other,
    }
    .map_err(|e| open_fail(&args.name, e))
}

/// Runs `ipckit send`.
pub fn run(args: Args) -> Result<()> {
    let timeout = timeout(args.timeout)?;
    let mut tx = open(&args)?;
    let max = tx.max_frame_len() as usize;
    let limit = args.count.unwrap_or(u64::MAX);
    let mut sent = 0u64;
    let mut send = |msg: &[u8]| -> Result<bool> {
        if sent >= limit {
            return Ok(false);
        }
        if msg.len() > max {
            return Err(Fail::new(format!(
                "message {} is {} bytes; {} carries at most {max}",
                sent + 1,
                msg.len(),
                args.name
            )));
        }
        let sent_one = match timeout {
            Some(t) => tx.send_timeout(msg, t),
            None => tx.send(msg),
        };
        sent_one.map_err(|e| match e {
            Error::TimedOut => Fail::new(format!(
                "{}: timed out waiting for room (message {})",
                args.name,
                sent + 1
            )),
            e if e.is_peer_gone() => Fail::new(format!("{}: the receiver is gone", args.name)),
            e => Fail::new(format!("{}: {e}", args.name)),
        })?;
        sent += 1;
        Ok(true)
    };
    if !args.messages.is_empty() {
        for m in &args.messages {
            if !send(m.as_bytes())? {
                break;
            }
        }
        return Ok(());
    }
    let mut input: Box<dyn BufRead> = match &args.file {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).map_err(|e| Fail::new(format!("{}: {e}", path.display())))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    if args.whole {
        let mut all = Vec::new();
        input.read_to_end(&mut all)?;
        send(&all)?;
        return Ok(());
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if !send(&line)? {
            return Ok(());
        }
    }
}

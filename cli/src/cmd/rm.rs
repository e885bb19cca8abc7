//! `ipckit rm NAME` and `ipckit rm --stale`.

use ipckit::channel::{self, ChannelStatus};
use ipckit::shm::ShmObject;

use crate::fail::{Fail, Result};
use crate::objects::{Snapshot, Target, io_fail};

/// Arguments of `ipckit rm`.
#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["names", "stale"]))]
pub struct Args {
    /// Objects to remove: shm names or paths of mapped files.
    pub names: Vec<String>,
    /// Remove every channel whose endpoints are all gone and one of which
    /// died (never one with a live endpoint, nor an idle one).
    #[arg(long, conflicts_with = "names")]
    pub stale: bool,
    /// Remove even an object with a live endpoint, a foreign kind or a
    /// header that does not validate.
    #[arg(long)]
    pub force: bool,
}

/// Why `target` must not be removed without `--force`, if it must not.
fn refusal(target: &Target) -> Result<Option<String>> {
    let snap = Snapshot::read(target)?;
    if let Err(e) = snap.header() {
        return Ok(Some(format!(
            "not a valid ipckit object ({e}); use --force to remove it anyway"
        )));
    }
    if let Target::Shm(name) = target {
        if !name.starts_with(channel::NAME_PREFIX) {
            return Ok(None);
        }
        match channel::inspect(&crate::objects::channel_of(name)) {
            Ok(info) if info.status == ChannelStatus::Live => {
                let pids: Vec<String> = info
                    .endpoints
                    .iter()
                    .filter(|e| e.alive)
                    .map(|e| e.process.pid.to_string())
                    .collect();
                return Ok(Some(format!(
                    "has a live endpoint (pid {}); use --force to remove it anyway",
                    pids.join(", ")
                )));
            }
            Ok(info) => {
                if let ChannelStatus::Unknown(why) = info.status {
                    return Ok(Some(format!(
                        "not readable as a channel ({why}); use --force to remove it anyway"
                    )));
                }
            }
            Err(e) => return Err(Fail::new(format!("{name}: {e}"))),
        }
    }
    Ok(None)
}

fn remove(target: &Target) -> Result<()> {
    match target {
        Target::Shm(name) => ShmObject::remove(name).map_err(|e| match e {
            ipckit::error::Error::NotFound(_) => Fail::new(format!("no such object: {name}")),
            e => Fail::new(format!("{name}: {e}")),
        }),
        Target::File(path) => std::fs::remove_file(path).map_err(|e| io_fail(target, &e)),
    }
}

/// Runs `ipckit rm`.
pub fn run(args: Args) -> Result<()> {
    if args.stale {
        for name in channel::remove_stale()? {
            println!("removed {name}");
        }
        return Ok(());
    }
    let mut first_error = None;
    for arg in &args.names {
        let target = Target::parse(arg);
        let outcome = match refusal(&target) {
            Ok(Some(why)) if !args.force => Err(Fail::new(format!("{}: {why}", target.display()))),
            Err(e) if !args.force => Err(e),
            _ => remove(&target),
        };
        match outcome {
            Ok(()) => println!("removed {}", target.display()),
            Err(e) => {
                e.print();
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        // Already printed: exit with its code and print nothing more.
        Some(e) => Err(Fail {
            msg: String::new(),
            code: e.code,
        }),
        None => Ok(()),
    }
}

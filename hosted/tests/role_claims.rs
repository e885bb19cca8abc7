//! Single-endpoint roles (the SPSC kinds' sender and receiver, the MPSC
//! byte channel's receiver) across processes killed while they open, take
//! over or drop an endpoint: whatever instant the kill lands on, the role
//! can be taken over, and the channel is judged stale or idle (never alive
//! through a dead process).
//!
//! Built with `harness = false`: children are `fork()`ed from a
//! single-threaded process and killed with SIGKILL.
//!
//! Cleanup: names are `ipckit-test-<pid>-<n>-<what>`, removed by drop
//! guards; at the end the binary fails if anything of this run is left in
//! `/dev/shm`.

mod support;

use std::time::Duration;

use ipckit::channel::{self, ChannelStatus, bytes, mpsc_bytes, spsc};
use ipckit::error::{CoreError, Error};
use support::{Ctx, Rng, ShmGuard, fork_child, run_tests};

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Kills per role in the random-kill test.
const KILLS: u32 = 150;

fn role_taken(e: &Error) -> bool {
    matches!(e.core(), Some(CoreError::RoleTaken(_)))
}

/// `open`, or `take_over` when the role is held (by a dead process).
fn open_or_take<E>(
    open: impl Fn() -> Result<E, Error>,
    take_over: impl Fn() -> Result<E, Error>,
) -> Result<E, Error> {
    match open() {
        Err(e) if role_taken(&e) => take_over(),
        other => other,
    }
}

/// One role of one channel kind: how to make the channel and how to open
/// and take over the role.
struct Case {
    what: &'static str,
    create: fn(&str) -> Result<(), Error>,
    cycle: fn(&str) -> Result<(), Error>,
}

fn cases() -> [Case; 3] {
    [
        Case {
            what: "spsc receiver",
            create: |n| spsc::Sender::<u64>::create(n, 8).map(drop),
            cycle: |n| {
                open_or_take(
                    || spsc::Receiver::<u64>::open(n),
                    || spsc::Receiver::<u64>::take_over(n),
                )
                .map(drop)
            },
        },
        Case {
            what: "bytes sender",
            create: |n| bytes::Receiver::create(n, 64).map(drop),
            cycle: |n| {
                open_or_take(|| bytes::Sender::open(n), || bytes::Sender::take_over(n)).map(drop)
            },
        },
        Case {
            what: "mpsc_bytes receiver",
            create: |n| mpsc_bytes::Sender::create(n, 64).map(drop),
            cycle: |n| {
                open_or_take(
                    || mpsc_bytes::Receiver::open(n),
                    || mpsc_bytes::Receiver::take_over(n),
                )
                .map(drop)
            },
        },
    ]
}

/// A child opens (taking over when needed) and drops the role in a loop;
/// it is killed at a random instant, `KILLS` times. After each kill the
/// channel must not count as alive, and the role must be recoverable.
fn random_kills() -> Result<String, String> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut notes = Vec::new();
    for case in cases() {
        let g = ShmGuard::new("kills");
        (case.create)(&g.0).ctx("create")?;
        let (mut stale, mut idle) = (0, 0);
        for kill in 0..KILLS {
            let name = g.0.clone();
            let cycle = case.cycle;
            let mut child = fork_child(move || {
                loop {
                    if cycle(&name).is_err() {
                        return support::EXIT_RING_ERROR;
                    }
                }
            })?;
            std::thread::sleep(Duration::from_micros(rng.next() % 3000));
            child.kill();
            let info = channel::inspect(&g.0).ctx("inspect")?;
            match info.status {
                ChannelStatus::Stale => stale += 1,
                ChannelStatus::Idle => idle += 1,
                other => {
                    return Err(format!(
                        "{}, kill {kill}: {other:?} after the holder died: {:?}",
                        case.what, info.endpoints
                    ));
                }
            }
            (case.cycle)(&g.0).map_err(|e| {
                format!("{}, kill {kill}: no recovery: {e} ({info:?})", case.what)
            })?;
        }
        notes.push(format!("{}: {stale} stale, {idle} idle", case.what));
    }
    Ok(format!(
        "{KILLS} kills per role, each recovered ({})",
        notes.join("; ")
    ))
}

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: &[(&str, Test)] = &[("kills during open, take-over, drop", random_kills)];
    let mut tally = run_tests("role_claims", tests);
    tally.check_leftovers("role_claims");
    tally.finish("role_claims");
}

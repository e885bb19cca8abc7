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

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipckit::channel::{self, ChannelStatus, ProcessId, bytes, mpsc_bytes, spsc};
use ipckit::error::{CoreError, Error, Role};
use ipckit::shm::{SharedMemory, ShmObject};
use support::{Ctx, Exit, Rng, SharedWords, ShmGuard, Suite, fork_child};

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

/// Keeps an endpoint a little (in some rounds, so that kills also land
/// while the role is held), then drops it.
fn linger<E>(endpoint: E, hold: bool) {
    if hold {
        let until = Instant::now() + Duration::from_micros(100);
        while Instant::now() < until {
            std::hint::spin_loop();
        }
    }
    drop(endpoint);
}

type Step = fn(&str, bool) -> Result<(), Error>;

/// One role of one channel kind: how to make the channel, and how to open
/// and take over the role (then keep it a while, or not, and drop it).
struct Case {
    what: &'static str,
    create: fn(&str) -> Result<(), Error>,
    open: Step,
    take_over: Step,
}

impl Case {
    /// `open`, or `take_over` when the role is held (by a dead process).
    fn open_or_take(&self, name: &str, hold: bool) -> Result<(), Error> {
        match (self.open)(name, hold) {
            Err(e) if role_taken(&e) => (self.take_over)(name, hold),
            other => other,
        }
    }
}

fn cases() -> [Case; 3] {
    [
        Case {
            what: "spsc receiver",
            create: |n| spsc::Sender::<u64>::create(n, 8).map(drop),
            open: |n, h| spsc::Receiver::<u64>::open(n).map(|e| linger(e, h)),
            take_over: |n, h| spsc::Receiver::<u64>::take_over(n).map(|e| linger(e, h)),
        },
        Case {
            what: "bytes sender",
            create: |n| bytes::Receiver::create(n, 64).map(drop),
            open: |n, h| bytes::Sender::open(n).map(|e| linger(e, h)),
            take_over: |n, h| bytes::Sender::take_over(n).map(|e| linger(e, h)),
        },
        Case {
            what: "mpsc_bytes receiver",
            create: |n| mpsc_bytes::Sender::create(n, 64).map(drop),
            open: |n, h| mpsc_bytes::Receiver::open(n).map(|e| linger(e, h)),
            take_over: |n, h| mpsc_bytes::Receiver::take_over(n).map(|e| linger(e, h)),
        },
    ]
}

/// A child opens, takes over (which claims a free role too) and drops the
/// role in a loop, holding it a while every third round; it is killed at a
/// random instant, `KILLS` times. After each kill the channel must not
/// count as alive, and the role must be recoverable.
fn random_kills() -> Result<String, String> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut notes = Vec::new();
    for case in cases() {
        let g = ShmGuard::new("kills");
        (case.create)(&g.0).ctx("create")?;
        let (mut stale, mut idle) = (0, 0);
        for kill in 0..KILLS {
            let name = g.0.clone();
            let case = &case;
            let mut child = fork_child(move || {
                for round in 0u64.. {
                    let hold = round % 3 == 0;
                    let r = match round % 2 {
                        0 => case.open_or_take(&name, hold),
                        _ => (case.take_over)(&name, hold),
                    };
                    if r.is_err() {
                        return support::EXIT_RING_ERROR;
                    }
                }
                support::EXIT_UNREACHABLE
            })?;
            std::thread::sleep(Duration::from_micros(rng.next() % 3000));
            if let Some(exit) = child.try_wait()? {
                return Err(format!(
                    "{}: the child ended before the kill: {exit}",
                    case.what
                ));
            }
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
            case.open_or_take(&g.0, false)
                .map_err(|e| format!("{}, kill {kill}: no recovery: {e} ({info:?})", case.what))?;
        }
        notes.push(format!("{}: {stale} stale, {idle} idle", case.what));
    }
    Ok(format!(
        "{KILLS} kills per role, each recovered ({})",
        notes.join("; ")
    ))
}

// ---------------------------------------------------------------------------
// Every state a kill can leave, written into the block as a foreign peer
// would (the documented layout), then recovered.

/// The SPSC ring of `u64` with 8 slots: its core region ends at 448, so the
/// liveness block is at 4096; the consumer's slot 0 at 4096 + 1088; the
/// core's consumer claim word at 260.
const BLOCK_AT: usize = 4096;
const CONSUMER_SLOT: usize = BLOCK_AT + 1088;
const CONSUMER_CLAIM: usize = 260;

/// The liveness state word (channel::liveness docs): state in bits 0..2,
/// pid in bits 2..24, generation in bits 24..32.
fn slot_word(state: u32, pid: u32, generation: u32) -> u32 {
    (generation << 24) | (pid << 2) | state
}

fn u32_at(obj: &ShmObject, offset: usize) -> &AtomicU32 {
    assert!(offset % 4 == 0 && offset + 4 <= obj.len());
    // SAFETY: in bounds and aligned; touched only atomically; the mapping
    // outlives the reference.
    unsafe { AtomicU32::from_ptr(obj.as_ptr().add(offset).cast()) }
}

fn u64_at(obj: &ShmObject, offset: usize) -> &AtomicU64 {
    assert!(offset % 8 == 0 && offset + 8 <= obj.len());
    // SAFETY: as in `u32_at`.
    unsafe { AtomicU64::from_ptr(obj.as_ptr().add(offset).cast()) }
}

/// A process that has run and been reaped: pid and start time of a dead
/// process.
fn dead_process() -> Result<ProcessId, String> {
    let words = SharedWords::new();
    let mut child = fork_child(|| match ProcessId::current() {
        Ok(me) => {
            words.word(0).store(u64::from(me.pid), Ordering::Relaxed);
            words.word(1).store(me.start_time, Ordering::Release);
            0
        }
        Err(_) => 1,
    })?;
    let exit = child.wait(Instant::now() + Duration::from_secs(30))?;
    if exit != Exit::Code(0) {
        return Err(format!("child: {exit}"));
    }
    Ok(ProcessId {
        pid: words.word(0).load(Ordering::Relaxed) as u32,
        start_time: words.word(1).load(Ordering::Acquire),
    })
}

/// A leftover of a receiver killed at some step, as `(what, slot state,
/// start time written, core claim held)`.
const LEFTOVERS: [(&str, u32, bool, bool); 6] = [
    (
        "open: slot claiming, start time not written",
        1,
        false,
        false,
    ),
    ("open: slot claiming, start time written", 1, true, false),
    ("open: slot active, core not claimed yet", 2, true, false),
    (
        "holding the role (or drop: core claim not released yet)",
        2,
        true,
        true,
    ),
    (
        "take-over: slot claiming, the dead holder's core claim",
        1,
        false,
        true,
    ),
    ("drop: core released, slot not closed yet", 2, true, false),
];

fn leftover_states() -> Result<String, String> {
    let dead = dead_process()?;
    for (what, state, start_written, core_claimed) in LEFTOVERS {
        let g = ShmGuard::new("leftover");
        let mut tx = spsc::Sender::<u64>::create(&g.0, 8).ctx("create")?;
        tx.try_send(7).ctx("send")?;
        let obj = ShmObject::open(&g.0).ctx("open object")?;
        u64_at(&obj, CONSUMER_SLOT + 8).store(
            if start_written {
                dead.start_time
            } else {
                12345
            },
            Ordering::Relaxed,
        );
        u32_at(&obj, CONSUMER_SLOT).store(slot_word(state, dead.pid, 5), Ordering::Release);
        u32_at(&obj, CONSUMER_CLAIM).store(u32::from(core_claimed), Ordering::Release);

        let info = channel::inspect(&g.0).ctx("inspect")?;
        let rx = info.endpoints.iter().find(|e| e.role == Role::Consumer);
        ensure!(
            rx.is_some_and(|e| e.process.pid == dead.pid && !e.alive),
            "{what}: the slot does not name the dead holder: {rx:?}"
        );
        drop(tx);
        let status = channel::inspect(&g.0).ctx("inspect")?.status;
        ensure!(
            status == ChannelStatus::Stale,
            "{what}: {status:?}, not stale"
        );
        match spsc::Receiver::<u64>::open(&g.0) {
            Err(Error::Channel {
                ref name,
                error: CoreError::RoleTaken(Role::Consumer),
                dead_holder: Some(pid),
            }) if *name == g.0 && pid == dead.pid => {}
            Err(e) => return Err(format!("{what}: open: {e:?}")),
            Ok(_) => return Err(format!("{what}: open took a held role")),
        }
        let hint = spsc::Receiver::<u64>::open(&g.0)
            .err()
            .map(|e| e.to_string());
        ensure!(
            hint.as_ref()
                .is_some_and(|h| h.contains(&g.0) && h.contains("take_over")),
            "{what}: no hint in {hint:?}"
        );
        let mut rx = spsc::Receiver::<u64>::take_over(&g.0).ctx(what)?;
        ensure!(rx.try_recv().ctx("recv")? == 7, "{what}: item");
        drop(rx);
        let status = channel::inspect(&g.0).ctx("inspect")?.status;
        ensure!(
            status == ChannelStatus::Idle,
            "{what}: {status:?} after drop"
        );
        drop(spsc::Receiver::<u64>::open(&g.0).ctx("open after")?);
    }

    // And `remove_stale` removes such an object.
    let g = ShmGuard::new("leftover-rm");
    drop(spsc::Sender::<u64>::create(&g.0, 8).ctx("create")?);
    let obj = ShmObject::open(&g.0).ctx("open object")?;
    u32_at(&obj, CONSUMER_SLOT).store(slot_word(1, dead.pid, 1), Ordering::Release);
    let removed = channel::remove_stale().ctx("remove_stale")?;
    ensure!(removed.contains(&g.0), "not removed: {removed:?}");
    Ok(format!(
        "{} leftover states: each stale, refused by open with a hint, taken over",
        LEFTOVERS.len()
    ))
}

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: &[(&str, Test)] = &[
        ("kills during open, take-over, drop", random_kills),
        ("every leftover state recovered", leftover_states),
    ];
    Suite::new()
        .tests(tests.iter().copied())
        .leftovers_checked()
        .run()
        .exit();
}

//! Process channels across real processes: every kind with a million
//! messages checked, peers killed with SIGKILL while the other side blocks
//! (noticed through pidfds), peers that drop their endpoint while the other
//! side blocks (noticed at once, after the queued messages; `try_` calls
//! too), the wake-ups of an idle blocked receiver (none),
//! a sender killed in the middle of a message (MPSC byte channel), taking
//! over a dead endpoint, racing creators, stale-object removal, and a
//! sender's `try_clone` outliving the sender it was cloned from.
//!
//! Built with `harness = false`: children are `fork()`ed from a
//! single-threaded process (checked before every fork) and open the
//! channels by name, as unrelated processes would. Threads appear only
//! between forks (a killer thread in the dead-peer tests, joined before the
//! next fork).
//!
//! Cleanup: every name is `ipckit-test-<pid>-<n>-<what>` and removed by a
//! drop guard in the parent, also when a sub-test fails; at the end the
//! binary looks for anything of this run left in `/dev/shm`, removes it and
//! fails if it found any.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ipckit::ObjectKind;
use ipckit::channel::{self, ChannelStatus, bytes, mpmc, mpsc_bytes, spsc};
use ipckit::error::{CoreError, Error, Role};
use support::{
    Child, Ctx, EXIT_CHECK, EXIT_CORRUPTED_ITEM, EXIT_OUT_OF_ORDER, EXIT_RING_ERROR, Exit, Rng,
    SharedWords, ShmGuard, Suite, child_main, fail, fork_child,
};

const MILLION: u64 = 1_000_000;
/// The bound on noticing a dead peer that the tests assert: the design
/// target is 10 ms and a pidfd notice takes well under 1 ms; the bound
/// leaves room for a loaded 2-core CI machine (a test is no benchmark: the
/// tests print what they measured). The kills land just after a liveness
/// check of old, whose 50 ms slices then took ~45 ms: over the bound.
/// Needs `pidfd_open` and `futex_waitv` (Linux 5.16).
const PEER_GONE_BOUND: Duration = Duration::from_millis(35);
const PATIENCE: Duration = Duration::from_secs(60);

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// In a child: an error value becomes a [`support::ChildFail`].
fn cf<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> Result<T, support::ChildFail> {
    r.map_err(|e| fail(EXIT_RING_ERROR, format!("{what}: {e}")))
}

fn item(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xA5A5_0F0F
}

fn wait_ok(child: &mut Child) -> Result<(), String> {
    let exit = child.wait(Instant::now() + PATIENCE)?;
    ensure!(exit == Exit::Code(0), "child: {exit}");
    Ok(())
}

#[path = "channels_process/clones.rs"]
mod clones;
#[path = "channels_process/dead_peers.rs"]
mod dead_peers;
#[path = "channels_process/disconnect.rs"]
mod disconnect;
#[path = "channels_process/many_senders.rs"]
mod many_senders;
#[path = "channels_process/million.rs"]
mod million;
#[path = "channels_process/objects.rs"]
mod objects;

use clones::*;
use dead_peers::*;
use disconnect::*;
use many_senders::*;
use million::*;
use objects::*;

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: &[(&str, Test)] = &[
        ("spsc: 1M items", spsc_million),
        ("bytes: 1M messages", bytes_million),
        ("mpmc: 1M items, 2x2 processes", mpmc_million),
        ("spsc: sender killed", killed_sender_spsc),
        ("bytes: receiver killed", killed_receiver_bytes),
        ("mpmc: only sender killed", killed_senders_mpmc),
        ("bytes: drain before PeerGone", drain_before_peer_gone),
        ("spsc: drop wakes the receiver", drop_wakes_spsc),
        ("spsc: drop wakes the sender", drop_wakes_spsc_sender),
        ("bytes: drop wakes the receiver", drop_wakes_bytes),
        ("bytes: drop wakes the sender", drop_wakes_bytes_sender),
        ("mpmc: drop wakes the receiver", drop_wakes_mpmc),
        ("mpmc: drop wakes the sender", drop_wakes_mpmc_sender),
        ("mpsc_bytes: drop wakes the receiver", drop_wakes_mpsc_bytes),
        (
            "mpsc_bytes: drop wakes the sender",
            drop_wakes_mpsc_bytes_sender,
        ),
        (
            "spsc: an idle blocked receiver sleeps",
            idle_receiver_sleeps,
        ),
        ("mpsc_bytes: 3 senders x 300k messages", mpsc_bytes_many),
        (
            "mpsc_bytes: sender killed mid-message",
            mpsc_sender_killed_mid_message,
        ),
        ("mpsc_bytes: every sender killed", mpsc_all_senders_killed),
        (
            "mpsc_bytes: receiver killed, taken over",
            mpsc_receiver_killed,
        ),
        ("take-over of a dead endpoint", take_over_receiver),
        (
            "mpmc: try_clone across processes",
            mpmc_clones_across_processes,
        ),
        (
            "mpsc_bytes: try_clone across processes",
            mpsc_bytes_clones_across_processes,
        ),
        ("creators racing", creators_race),
        ("stale objects", stale_removal),
        (
            "mpmc: name removed once the peers joined",
            name_removed_after_peers_join,
        ),
    ];
    Suite::new()
        .tests(tests.iter().copied())
        .leftovers_checked()
        .run()
        .exit();
}

//! `Builder::pair_for_child` / `pair_from_child` across real processes:
//! a forked child claims its end (the liveness block then names the child,
//! not the parent: a child that dies is reported with its own pid), a
//! spawned child claims the end it inherited through `ChildEnd::pass_to`
//! and `from_inherited`, for a sender and for a receiver, and neither can
//! resize the memfd (`ftruncate` fails with `EPERM`: it is sealed).
//!
//! Built with `harness = false`: children are `fork()`ed from a
//! single-threaded process, or spawned as this binary again with
//! `IPCKIT_PAIR_TEST_ROLE` naming what they do. Memfds leave nothing
//! behind; the binary still checks `/dev/shm` after every test.

mod support;

use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::{Duration, Instant};

use ipckit::channel::{self, Memory, bytes, mpmc, spsc};
use ipckit::error::Error;
use support::{
    ChildFail, Ctx, EXIT_BAD_VALUE, EXIT_CHECK, EXIT_RING_ERROR, Suite, fail, fork_main,
};

const ROLE_VAR: &str = "IPCKIT_PAIR_TEST_ROLE";
const FD_VAR: &str = "IPCKIT_PAIR_TEST_FD";
const PATIENCE: Duration = Duration::from_secs(30);
const ITEMS: u64 = 10_000;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn cf<T>(r: Result<T, Error>, what: &str) -> Result<T, ChildFail> {
    r.map_err(|e| fail(EXIT_RING_ERROR, format!("{what}: {e}")))
}

/// `Ok` if `ftruncate` on the channel's memory fails with `EPERM` (sealed).
fn cannot_resize(mem: &Memory) -> Result<(), String> {
    for len in [0, 1 << 20] {
        // SAFETY: a plain call on an open descriptor.
        let rc = unsafe { libc::ftruncate(mem.as_fd().as_raw_fd(), len) };
        let errno = std::io::Error::last_os_error().raw_os_error();
        ensure!(
            rc == -1 && errno == Some(libc::EPERM),
            "ftruncate({len}): rc {rc}, errno {errno:?}"
        );
    }
    Ok(())
}

/// Receives `ITEMS` items in order, then `PeerGone`.
fn drain_items(rx: &mut spsc::Receiver<u64>) -> Result<(), String> {
    for i in 0..ITEMS {
        let got = rx.recv_timeout(PATIENCE).ctx("recv")?;
        ensure!(got == i, "item {i}: got {got}");
    }
    let end = rx.recv_timeout(PATIENCE);
    ensure!(
        matches!(&end, Err(e) if e.is_peer_gone()),
        "after the items: {end:?}"
    );
    Ok(())
}

/// A forked child claims the receiver, checks the seals, takes every item,
/// and dies without closing: the parent's sender then names the child's
/// pid as the dead peer (the claim recorded the child, not the parent).
fn fork_child_receives() -> Result<String, String> {
    let (mut tx, rx_end) = channel::spsc::<u64>()
        .capacity(64)
        .pair_for_child()
        .ctx("pair")?;
    let mut child = fork_main(move || {
        let mut rx = cf(rx_end.claim(), "claim")?;
        cannot_resize(rx.memory()).map_err(|m| fail(EXIT_CHECK, m))?;
        for i in 0..ITEMS {
            let got = cf(rx.recv_timeout(PATIENCE), "recv")?;
            if got != i {
                return Err(fail(EXIT_BAD_VALUE, format!("item {i}: got {got}")));
            }
        }
        // Die holding the end (the slot still names this process).
        std::mem::forget(rx);
        Ok(())
    })?;
    for i in 0..ITEMS {
        tx.send_timeout(i, PATIENCE).ctx("send")?;
    }
    child.expect_ok(Instant::now() + PATIENCE)?;
    let gone = tx.peer_gone();
    ensure!(
        matches!(gone, Some(Error::PeerGone { pid: Some(pid), .. }) if pid == child.pid as u32),
        "peer_gone after the child died: {gone:?} (child {})",
        child.pid
    );
    Ok(format!("{ITEMS} items to a forked child"))
}

/// A forked child claims the sender of an MPMC channel and sends; the
/// parent receives everything, then `PeerGone` once the child closed.
fn fork_child_sends() -> Result<String, String> {
    let (rx, tx_end) = channel::mpmc::<u64>()
        .capacity(16)
        .pair_from_child()
        .ctx("pair")?;
    let mut child = fork_main(move || {
        let tx = cf(tx_end.claim(), "claim")?;
        cannot_resize(tx.memory()).map_err(|m| fail(EXIT_CHECK, m))?;
        (0..ITEMS).try_for_each(|i| cf(tx.send_timeout(i, PATIENCE), "send"))
    })?;
    for i in 0..ITEMS {
        let got = rx.recv_timeout(PATIENCE).ctx("recv")?;
        ensure!(got == i, "item {i}: got {got}");
    }
    let end = rx.recv_timeout(PATIENCE);
    ensure!(
        matches!(&end, Err(e) if e.is_peer_gone()),
        "after the items: {end:?}"
    );
    child.expect_ok(Instant::now() + PATIENCE)?;
    Ok(format!("{ITEMS} items from a forked child"))
}

/// This binary again, playing `role`.
fn self_command(role: &str) -> Result<Command, String> {
    let mut cmd = Command::new(std::env::current_exe().ctx("current_exe")?);
    cmd.env(ROLE_VAR, role);
    Ok(cmd)
}

/// Waits for a spawned child (killing it at the deadline).
fn wait_spawned(mut child: std::process::Child) -> Result<(), String> {
    let until = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().ctx("try_wait")? {
            ensure!(
                status.success(),
                "spawned child: {status:?} (signal {:?})",
                status.signal()
            );
            return Ok(());
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            return Err("spawned child timed out".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A spawned child inherits the receiver of an SPSC channel and takes
/// every item; a child spawned without `pass_to` cannot claim it.
fn spawn_child_receives() -> Result<String, String> {
    let (mut tx, rx_end) = channel::spsc::<u64>()
        .capacity(64)
        .pair_for_child()
        .ctx("pair")?;
    let mut cmd = self_command("receive")?;
    rx_end.pass_to(&mut cmd, FD_VAR).ctx("pass_to")?;
    let child = cmd.spawn().ctx("spawn")?;
    drop(rx_end);
    for i in 0..ITEMS {
        tx.send_timeout(i, PATIENCE).ctx("send")?;
    }
    drop(tx);
    wait_spawned(child)?;
    Ok(format!("{ITEMS} items to a spawned child"))
}

/// A spawned child inherits the sender of a byte channel.
fn spawn_child_sends() -> Result<String, String> {
    let (mut rx, tx_end) = channel::bytes()
        .max_message(100)
        .pair_from_child()
        .ctx("pair")?;
    let mut cmd = self_command("send")?;
    tx_end.pass_to(&mut cmd, FD_VAR).ctx("pass_to")?;
    let child = cmd.spawn().ctx("spawn")?;
    drop(tx_end);
    let mut buf = [0; 100];
    for i in 0..ITEMS {
        let n = rx.recv_timeout(&mut buf, PATIENCE).ctx("recv")?;
        ensure!(buf[..n] == message(i)[..], "message {i}: {:?}", &buf[..n]);
    }
    let end = rx.recv_timeout(&mut buf, PATIENCE);
    ensure!(
        matches!(&end, Err(e) if e.is_peer_gone()),
        "after the messages: {end:?}"
    );
    wait_spawned(child)?;
    Ok(format!("{ITEMS} messages from a spawned child"))
}

/// Message `i`: 1 to 100 bytes.
fn message(i: u64) -> Vec<u8> {
    (0..=i % 100).map(|b| (b as u8) ^ (i as u8)).collect()
}

/// A descriptor number in the environment that is not a sealed memfd (a
/// child spawned without `pass_to`): refused, no mapping.
fn spawn_without_pass_to() -> Result<String, String> {
    let (_tx, rx_end) = channel::spsc::<u64>().pair_for_child().ctx("pair")?;
    let mut cmd = self_command("refused")?;
    cmd.env(FD_VAR, rx_end.memfd().as_fd().as_raw_fd().to_string());
    wait_spawned(cmd.spawn().ctx("spawn")?)?;
    Ok("a child without the descriptor is refused".into())
}

/// What a spawned child does.
fn run_role(role: &str) -> ! {
    let result = match role {
        "receive" => {
            // SAFETY: the parent passed this descriptor for us alone.
            let rx = unsafe { spsc::Receiver::<u64>::from_inherited(FD_VAR) };
            rx.ctx("from_inherited").and_then(|mut rx| {
                cannot_resize(rx.memory())?;
                drain_items(&mut rx)
            })
        }
        "send" => {
            // SAFETY: as above.
            let tx = unsafe { bytes::Sender::from_inherited(FD_VAR) };
            tx.ctx("from_inherited").and_then(|mut tx| {
                cannot_resize(tx.memory())?;
                (0..ITEMS).try_for_each(|i| tx.send_timeout(&message(i), PATIENCE).ctx("send"))
            })
        }
        "refused" => {
            // SAFETY: the number was close-on-exec in the parent: no
            // descriptor of ours, or one of this test's that it may close.
            match unsafe { mpmc::Receiver::<u64>::from_inherited(FD_VAR) } {
                Err(Error::Os(_) | Error::NotSealed { .. }) => Ok(()),
                other => Err(format!("not refused: {other:?}")),
            }
        }
        _ => Err(format!("unknown role {role:?}")),
    };
    if let Err(msg) = &result {
        eprintln!("  spawned child ({role}): {msg}");
    }
    std::process::exit(i32::from(result.is_err()))
}

fn main() {
    if let Ok(role) = std::env::var(ROLE_VAR) {
        run_role(&role);
    }
    type Test = fn() -> Result<String, String>;
    let tests: &[(&str, Test)] = &[
        (
            "pair_for_child: a forked child receives",
            fork_child_receives,
        ),
        ("pair_from_child: a forked child sends", fork_child_sends),
        (
            "pair_for_child: a spawned child receives",
            spawn_child_receives,
        ),
        ("pair_from_child: a spawned child sends", spawn_child_sends),
        (
            "pass_to: a child without it is refused",
            spawn_without_pass_to,
        ),
    ];
    Suite::new()
        .tests(tests.iter().copied())
        .leftovers_checked()
        .run()
        .exit();
}

//! Shared-memory objects across real processes: named POSIX objects, sealed
//! memfds, mapped files, and handing descriptors to other processes.
//!
//! Built with `harness = false`: the children are `fork()`ed from a
//! single-threaded process (checked before every fork), so they may allocate
//! and use the whole API; some sub-tests instead *spawn* this binary again,
//! with `IPCKIT_SHM_TEST_ROLE` naming what the child does, to be an
//! unrelated process that opens by name, receives over a socket or inherits
//! a descriptor.
//!
//! Cleanup: every name is unique (`ipckit-test-<pid>-<n>-<test>`), and a
//! drop guard in the parent removes it even when a sub-test fails or
//! panics. At the end the binary looks for anything of this run left in
//! `/dev/shm` or the temp directory, removes it, and fails if it found any.
//! Children never remove what the parent created.

mod support;

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ipckit::error::{CoreError, Error};
use ipckit::shm::{
    MIN_LEN, MappedFile, Memfd, SharedMapping, SharedMemory, ShmObject, recv_fd, send_fd, send_fds,
};
use ipckit::spsc::Ring;
use ipckit::{ObjectKind, mpmc};
use support::{Child, Ctx, Exit, FileGuard, ShmGuard, Suite, fork_child, temp_path, unique_name};

const ROLE_VAR: &str = "IPCKIT_SHM_TEST_ROLE";
const NAME_VAR: &str = "IPCKIT_SHM_TEST_NAME";
const MEMFD_VAR: &str = "IPCKIT_SHM_TEST_MEMFD";
const DEADLINE: Duration = Duration::from_secs(30);
const CAPACITY: u32 = 128;
const ITEMS: u64 = 100;

// ---------------------------------------------------------------------------
// Small helpers.

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn item(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xA5A5
}

fn ring_len() -> usize {
    Ring::<u64>::region_len(CAPACITY).expect("valid capacity")
}

/// Initialises an SPSC ring on `mem` and pushes `ITEMS` items.
fn fill_ring(mem: &impl SharedMemory) -> Result<(), String> {
    let ring = Ring::<u64>::init(mem.region(), CAPACITY).ctx("init")?;
    let mut tx = ring.producer().ctx("producer")?;
    for i in 0..ITEMS {
        tx.try_push(item(i)).ctx("push")?;
    }
    Ok(())
}

/// Attaches to the ring on `mem` and checks that it holds exactly the items
/// of [`fill_ring`].
fn drain_ring(mem: &impl SharedMemory) -> Result<(), String> {
    mem.expect_kind(ObjectKind::Spsc).ctx("expect_kind")?;
    let ring = Ring::<u64>::attach(mem.region()).ctx("attach")?;
    let mut rx = ring.consumer().ctx("consumer")?;
    for i in 0..ITEMS {
        let v = rx.try_pop().ctx("pop")?;
        ensure!(v == item(i), "item {i}: {v:#x}");
    }
    ensure!(
        rx.try_pop() == Err(CoreError::Empty),
        "more items than pushed"
    );
    Ok(())
}

/// The `u32` at `offset` of a mapping, accessed atomically.
fn word(mem: &impl SharedMemory, offset: usize) -> &AtomicU32 {
    assert!(offset % 4 == 0 && offset + 4 <= mem.len());
    // SAFETY: in bounds and 4-aligned (page-aligned base); these tests touch
    // such words only atomically, and the mapping outlives the reference.
    unsafe { AtomicU32::from_ptr(mem.as_ptr().add(offset).cast()) }
}

/// The permission bits of an open object.
fn mode_of(fd: std::os::fd::BorrowedFd<'_>) -> Result<u32, String> {
    // SAFETY: `libc::stat` is plain data; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: an open descriptor and a valid out-pointer.
    let rc = unsafe { libc::fstat(fd.as_raw_fd(), &mut st) };
    ensure!(rc == 0, "fstat: {}", io::Error::last_os_error());
    Ok(st.st_mode & 0o777)
}

// ---------------------------------------------------------------------------
// Processes.

/// Forks; the child `_exit`s with the code `body` returns (1, with the
/// message on stderr, for an `Err`). Never returns in the child.
fn fork_role(body: impl FnOnce() -> Result<i32, String>) -> Result<Child, String> {
    fork_child(|| {
        body().unwrap_or_else(|msg| {
            eprintln!("  child: {msg}");
            1
        })
    })
}

fn deadline() -> Instant {
    Instant::now() + DEADLINE
}

/// A spawned copy of this binary, killed if dropped while running.
struct Spawned(std::process::Child);

impl Spawned {
    fn wait(&mut self) -> Result<Exit, String> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.0.try_wait().ctx("try_wait")? {
                return Ok(match status.signal() {
                    Some(s) => Exit::Signal(s),
                    None => Exit::Code(status.code().unwrap_or(-1)),
                });
            }
            ensure!(Instant::now() < deadline, "spawned child timed out");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// This binary, with `role` to play.
fn self_command(role: &str) -> Result<Command, String> {
    let mut cmd = Command::new(std::env::current_exe().ctx("current_exe")?);
    cmd.env(ROLE_VAR, role);
    Ok(cmd)
}

fn spawn(mut cmd: Command) -> Result<Spawned, String> {
    cmd.spawn().map(Spawned).ctx("spawn")
}

fn expect_ok(exit: Exit, who: &str) -> Result<(), String> {
    ensure!(exit == Exit::Code(0), "{who} ended with {exit:?}");
    Ok(())
}

// ---------------------------------------------------------------------------

#[path = "shm_objects/handover.rs"]
mod handover;
#[path = "shm_objects/memfd_files.rs"]
mod memfd_files;
#[path = "shm_objects/named.rs"]
mod named;

use handover::*;
use memfd_files::*;
use named::*;

fn run_role(role: &str) -> ! {
    let result = match role {
        "open-named" => role_open_named(),
        "recv-scm" => role_recv_scm(),
        "inherited" => role_inherited(),
        "not-inherited" => role_not_inherited(),
        _ => Err(format!("unknown role {role:?}")),
    };
    let code = match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("  spawned child ({role}): {msg}");
            1
        }
    };
    std::process::exit(code)
}

fn main() {
    if let Ok(role) = std::env::var(ROLE_VAR) {
        run_role(&role);
    }
    type Test = fn() -> Result<String, String>;
    let tests: &[(&str, Test)] = &[
        ("named: create, open in a forked child", named_fork),
        ("named: open in a spawned process", named_spawn),
        ("named: creators racing", create_race),
        (
            "named: missing objects, invalid names",
            missing_and_bad_names,
        ),
        ("bad objects: size, kind, header", bad_objects),
        ("permissions", permissions),
        ("plain shm truncated under a mapping", plain_truncation),
        ("memfd: sealed against resizing", memfd_sealed),
        ("memfd: from_fd checks", memfd_from_fd_checks),
        (
            "mapped file: persists across processes",
            mapped_file_persists,
        ),
        ("SCM_RIGHTS to a forked child", scm_rights_fork),
        ("SCM_RIGHTS to an unrelated process", scm_rights_unrelated),
        ("inherited fd in a spawned child", inherited_fd),
    ];
    Suite::new()
        .tests(tests.iter().copied())
        .leftovers_checked()
        .run()
        .exit();
}

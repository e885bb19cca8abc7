//! Named objects another user planted or may write: `ShmObject`,
//! `MappedFile`, channels and named semaphores opened by name refuse an
//! object owned by another uid or writable by group or others, unless the
//! caller opts in with a [`Trust`] level.
//!
//! `cargo test -p ipckit --test foreign_objects [filter]`. Objects are made
//! with ipckit (mode 0600) and then changed with raw `fchmod`/`fchown`, the
//! way a squatter's or a careless creator's object looks. The owner cases
//! need root (to `fchown` to `nobody`); without root they are skipped with
//! the reason printed. Every name is unique to the run and removed by a
//! guard; the run fails if anything is left in `/dev/shm` or the temp dir.

mod support;

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;

use ipckit::error::Error;
use ipckit::shm::{MappedFile, SharedMemory, ShmObject};
use support::{Ctx, FileGuard, ShmGuard, run_tests, unique_name};

/// `nobody`'s uid and gid on Debian.
const NOBODY: u32 = 65534;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn is_root() -> bool {
    // SAFETY: plain query.
    unsafe { libc::geteuid() == 0 }
}

fn chmod(fd: BorrowedFd<'_>, mode: u32) -> Result<(), String> {
    // SAFETY: plain call on an open descriptor.
    let rc = unsafe { libc::fchmod(fd.as_raw_fd(), mode) };
    ensure!(rc == 0, "fchmod: {}", io::Error::last_os_error());
    Ok(())
}

fn chown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> Result<(), String> {
    // SAFETY: plain call on an open descriptor.
    let rc = unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) };
    ensure!(rc == 0, "fchown: {}", io::Error::last_os_error());
    Ok(())
}

/// Checks that `result` is a refusal that names `name`, the owner and the
/// mode, and says how to opt in.
fn refused<T: std::fmt::Debug>(
    result: Result<T, Error>,
    name: &str,
    owner: u32,
    mode: u32,
) -> Result<String, String> {
    let e = match result {
        Err(e) => e,
        Ok(v) => return Err(format!("{name} (uid {owner}, mode {mode:o}) was accepted: {v:?}")),
    };
    let text = e.to_string();
    for part in [name, &format!("uid {owner}"), &format!("{mode:04o}"), "Trust::"] {
        ensure!(text.contains(part), "{part:?} missing from \"{text}\"");
    }
    Ok(text)
}

// ---------------------------------------------------------------------------

/// A 0666 object (what a squatter plants, or `create_with_mode(.., 0o666)`)
/// and a 0620 one: refused by default.
fn shm_writable_by_others() -> Result<String, String> {
    let guard = ShmGuard::new("planted");
    let obj = ShmObject::create(&guard.0, 4096).ctx("create")?;
    // SAFETY: plain query.
    let me = unsafe { libc::geteuid() };
    chmod(obj.as_fd(), 0o666)?;
    let text = refused(ShmObject::open(&guard.0), &guard.0, me, 0o666)?;
    refused(ShmObject::open_or_create(&guard.0, 4096), &guard.0, me, 0o666)?;
    chmod(obj.as_fd(), 0o620)?;
    refused(ShmObject::open(&guard.0), &guard.0, me, 0o620)?;
    chmod(obj.as_fd(), 0o644)?;
    ShmObject::open(&guard.0).ctx("0644 (others read only)")?;
    Ok(format!("0666 and 0620 refused, 0644 accepted; \"{text}\""))
}

/// An object of another user (mode 0600): refused by default.
fn shm_owned_by_another_user() -> Result<String, String> {
    if !is_root() {
        println!("  (skipped: not root, cannot give an object to another user)");
        return Ok("SKIPPED: needs root to fchown".into());
    }
    let guard = ShmGuard::new("foreign");
    let obj = ShmObject::create(&guard.0, 4096).ctx("create")?;
    chown(obj.as_fd(), NOBODY, NOBODY)?;
    let text = refused(ShmObject::open(&guard.0), &guard.0, NOBODY, 0o600)?;
    Ok(format!("owned by nobody, 0600: refused; \"{text}\""))
}

/// The same for files.
fn files() -> Result<String, String> {
    let guard = FileGuard::new("planted.ring");
    let file = MappedFile::create(&guard.0, 4096).ctx("create")?;
    // SAFETY: plain query.
    let me = unsafe { libc::geteuid() };
    let shown = guard.0.display().to_string();
    chmod(file.as_fd(), 0o666)?;
    let text = refused(MappedFile::open(&guard.0), &shown, me, 0o666)?;
    if is_root() {
        chmod(file.as_fd(), 0o600)?;
        chown(file.as_fd(), NOBODY, NOBODY)?;
        refused(MappedFile::open(&guard.0), &shown, NOBODY, 0o600)?;
    }
    Ok(format!("0666 refused{}; \"{text}\"", if is_root() { ", nobody's refused" } else { "" }))
}

/// Channels open their objects through `ShmObject::open`: a planted
/// channel object is refused too (and listed as unknown, never removed).
fn channel_object() -> Result<String, String> {
    let name = unique_name("chan");
    let guard = ShmGuard(name.clone());
    let tx = ipckit::channel::spsc::Sender::<u64>::create(&guard.0, 8).ctx("create")?;
    let obj = ShmObject::open(&name).ctx("open own")?;
    // SAFETY: plain query.
    let me = unsafe { libc::geteuid() };
    chmod(obj.as_fd(), 0o666)?;
    let text = refused(
        ipckit::channel::spsc::Receiver::<u64>::open(&name),
        &name,
        me,
        0o666,
    )?;
    drop(tx);
    Ok(format!("spsc::Receiver::open refused a 0666 channel: \"{text}\""))
}

fn main() {
    let _ = Path::new(".");
    type Test = fn() -> Result<String, String>;
    let tests: &[(&str, Test)] = &[
        ("shm: writable by group or others", shm_writable_by_others),
        ("shm: owned by another user", shm_owned_by_another_user),
        ("mapped files", files),
        ("channel object", channel_object),
    ];
    let mut tally = run_tests("foreign_objects", tests);
    tally.check_leftovers("foreign_objects");
    tally.finish("foreign_objects");
}

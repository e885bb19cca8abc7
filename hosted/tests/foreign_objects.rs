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

use ipckit::error::Error;
use ipckit::shm::{MappedFile, ShmObject, Trust};
use ipckit::transport::semaphore::{CountingSemaphore, NamedSemaphore};
use support::{Ctx, FileGuard, QueueNameGuard, ShmGuard, Suite, unique_name};

/// `nobody`'s uid and gid on Debian.
const NOBODY: u32 = 65534;

fn me() -> u32 {
    // SAFETY: plain query.
    unsafe { libc::geteuid() }
}

fn my_gid() -> u32 {
    // SAFETY: plain query.
    unsafe { libc::getegid() }
}

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
        Ok(v) => {
            return Err(format!(
                "{name} (uid {owner}, mode {mode:o}) was accepted: {v:?}"
            ));
        }
    };
    let text = e.to_string();
    for part in [
        name,
        &format!("uid {owner}"),
        &format!("{mode:04o}"),
        "Trust::",
    ] {
        ensure!(text.contains(part), "{part:?} missing from \"{text}\"");
    }
    Ok(text)
}

// ---------------------------------------------------------------------------

/// A 0666 object (what a squatter plants, or `create_with_mode(.., 0o666)`)
/// and a 0620 one: refused by default, accepted with the opt-in.
fn shm_writable_by_others() -> Result<String, String> {
    let guard = ShmGuard::new("planted");
    let obj = ShmObject::create(&guard.0, 4096).ctx("create")?;
    chmod(obj.as_fd(), 0o666)?;
    let text = refused(ShmObject::open(&guard.0), &guard.0, me(), 0o666)?;
    refused(
        ShmObject::open_or_create(&guard.0, 4096),
        &guard.0,
        me(),
        0o666,
    )?;
    refused(
        ShmObject::open_with(&guard.0, Trust::Group),
        &guard.0,
        me(),
        0o666,
    )?;
    let opened = ShmObject::open_with(&guard.0, Trust::Anyone).ctx("0666 with Trust::Anyone")?;
    ensure!(opened.len() == 4096, "mapped {} bytes", opened.len());
    ShmObject::open_or_create_with(&guard.0, 4096, 0o600, Trust::Anyone)
        .ctx("open_or_create_with Trust::Anyone")?;
    chmod(obj.as_fd(), 0o620)?;
    refused(ShmObject::open(&guard.0), &guard.0, me(), 0o620)?;
    ShmObject::open_with(&guard.0, Trust::Group).ctx("0620 of our group, Trust::Group")?;
    chmod(obj.as_fd(), 0o644)?;
    ShmObject::open(&guard.0).ctx("0644 (others read only)")?;
    Ok(format!(
        "0666 refused (Owner, Group), accepted with Trust::Anyone; 0620 refused, accepted with \
         Trust::Group; 0644 accepted; \"{text}\""
    ))
}

/// An object of another user: refused by default (mode 0600) and under
/// `Trust::Group` unless its group is ours.
fn shm_owned_by_another_user() -> Result<String, String> {
    if !is_root() {
        println!("  (skipped: not root, cannot give an object to another user)");
        return Ok("SKIPPED: needs root to fchown".into());
    }
    let guard = ShmGuard::new("foreign");
    let obj = ShmObject::create(&guard.0, 4096).ctx("create")?;
    chown(obj.as_fd(), NOBODY, NOBODY)?;
    let text = refused(ShmObject::open(&guard.0), &guard.0, NOBODY, 0o600)?;
    refused(
        ShmObject::open_with(&guard.0, Trust::Group),
        &guard.0,
        NOBODY,
        0o600,
    )?;
    ShmObject::open_with(&guard.0, Trust::Anyone).ctx("nobody's with Trust::Anyone")?;
    chown(obj.as_fd(), NOBODY, my_gid())?;
    chmod(obj.as_fd(), 0o660)?;
    refused(ShmObject::open(&guard.0), &guard.0, NOBODY, 0o660)?;
    ShmObject::open_with(&guard.0, Trust::Group).ctx("nobody's, our group, Trust::Group")?;
    Ok(format!(
        "nobody's 0600 refused (Owner, Group), accepted with Trust::Anyone; nobody's 0660 of our \
         group accepted with Trust::Group; \"{text}\""
    ))
}

/// The same for files.
fn files() -> Result<String, String> {
    let guard = FileGuard::new("planted.ring");
    let file = MappedFile::create(&guard.0, 4096).ctx("create")?;
    let shown = guard.0.display().to_string();
    chmod(file.as_fd(), 0o666)?;
    let text = refused(MappedFile::open(&guard.0), &shown, me(), 0o666)?;
    refused(
        MappedFile::open_with(&guard.0, Trust::Group),
        &shown,
        me(),
        0o666,
    )?;
    MappedFile::open_with(&guard.0, Trust::Anyone).ctx("0666 with Trust::Anyone")?;
    if is_root() {
        chmod(file.as_fd(), 0o600)?;
        chown(file.as_fd(), NOBODY, NOBODY)?;
        refused(MappedFile::open(&guard.0), &shown, NOBODY, 0o600)?;
        MappedFile::open_with(&guard.0, Trust::Anyone).ctx("nobody's with Trust::Anyone")?;
    } else {
        println!("  (owner sub-case skipped: not root, cannot give a file to another user)");
    }
    Ok(format!(
        "0666 refused, accepted with Trust::Anyone{}; \"{text}\"",
        if is_root() {
            "; nobody's refused, accepted with Trust::Anyone"
        } else {
            "; owner SKIPPED"
        }
    ))
}

/// Channels open their objects through `ShmObject::open`: a planted
/// channel object is refused too.
fn channel_object() -> Result<String, String> {
    let name = unique_name("chan");
    let guard = ShmGuard(name.clone());
    let tx = ipckit::channel::spsc::Sender::<u64>::create(&guard.0, 8).ctx("create")?;
    let obj = ShmObject::open(&name).ctx("open own")?;
    chmod(obj.as_fd(), 0o666)?;
    let text = refused(
        ipckit::channel::spsc::Receiver::<u64>::open(&name),
        &name,
        me(),
        0o666,
    )?;
    drop(tx);
    Ok(format!(
        "spsc::Receiver::open refused a 0666 channel: \"{text}\""
    ))
}

/// glibc keeps a named semaphore in `/dev/shm/sem.<name>`: a 0666 one is
/// refused by default, accepted with the opt-in.
fn named_semaphore() -> Result<String, String> {
    let guard = QueueNameGuard::new("sem");
    let sem = NamedSemaphore::create(&guard.0, 1).ctx("create")?;
    let path = format!("/dev/shm/sem.{}", guard.0);
    let file = std::fs::File::open(&path).ctx("open the file")?;
    chmod(file.as_fd(), 0o666)?;
    let text = refused(NamedSemaphore::open(&guard.0), &guard.0, me(), 0o666)?;
    let opened = NamedSemaphore::open_with(&guard.0, Trust::Anyone).ctx("Trust::Anyone")?;
    opened.try_wait().ctx("wait on the opened one")?;
    drop((sem, opened));
    NamedSemaphore::unlink(&guard.0).ctx("unlink")?;
    Ok(format!(
        "0666 refused, accepted with Trust::Anyone; \"{text}\""
    ))
}

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: &[(&str, Test)] = &[
        ("shm: writable by group or others", shm_writable_by_others),
        ("shm: owned by another user", shm_owned_by_another_user),
        ("mapped files", files),
        ("channel object", channel_object),
        ("named semaphore", named_semaphore),
    ];
    Suite::new()
        .tests(tests.iter().copied())
        .leftovers_checked()
        .queue_leftovers_checked()
        .run()
        .exit();
}

//! Named objects another user planted or may write: `ShmObject`,
//! `MappedFile`, channels, named semaphores, POSIX and System V queues,
//! System V semaphore sets and FIFOs opened by name (or key, or path)
//! refuse an object owned by another uid or writable by group or others,
//! unless the caller opts in with a [`Trust`] level.
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
use std::time::{Duration, Instant};

use ipckit::error::Error;
use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::object::{Access, Remove};
use ipckit::shm::{MappedFile, ShmObject, Trust};
use ipckit::transport::fifo::{Fifo, FifoReceiver, FifoSender};
use ipckit::transport::posix_mq::{MqAttr, PosixMq};
use ipckit::transport::semaphore::{CountingSemaphore, NamedSemaphore, SysvSemaphoreSet};
use ipckit::transport::sysv_mq::SysvMq;
use support::{
    ChildFail, Ctx, EXIT_CHECK, FileGuard, QueueNameGuard, ShmGuard, Suite, fail, fork_main,
    unique_name,
};

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

/// A POSIX queue: 0622 (as made by `create_with_mode`) refused, accepted
/// with the opt-in; as root, nobody's 0600 queue (`fchown` of the queue
/// descriptor) refused, accepted with `Trust::Anyone`.
fn posix_queue() -> Result<String, String> {
    let guard = QueueNameGuard::new("mq");
    let attr = MqAttr {
        max_messages: 2,
        message_size: 8,
    };
    let q = PosixMq::create_with_mode(&guard.0, attr, 0o622).ctx("create")?;
    let text = refused(PosixMq::open(&guard.0), q.name(), me(), 0o622)?;
    refused(
        PosixMq::open_with(&guard.0, Access::WriteOnly, Trust::Group),
        q.name(),
        me(),
        0o622,
    )?;
    PosixMq::open_with(&guard.0, Access::WriteOnly, Trust::Anyone).ctx("0622 with Anyone")?;
    if is_root() {
        chmod(q.as_fd(), 0o600)?;
        chown(q.as_fd(), NOBODY, NOBODY)?;
        refused(PosixMq::open(&guard.0), q.name(), NOBODY, 0o600)?;
        PosixMq::open_with(&guard.0, Access::ReadWrite, Trust::Anyone)
            .ctx("nobody's with Trust::Anyone")?;
    }
    Ok(format!(
        "0622 refused, accepted with Trust::Anyone{}; \"{text}\"",
        owner_note()
    ))
}

fn owner_note() -> &'static str {
    if is_root() {
        "; nobody's 0600 refused, accepted with Trust::Anyone"
    } else {
        "; owner SKIPPED (not root)"
    }
}

/// `IPC_SET` of a System V object's owner, as its creator (root) may.
fn sysv_chown(id: i32, queue: bool) -> Result<(), String> {
    let rc = if queue {
        // SAFETY: all-zero is a valid `msqid_ds`; valid out-pointers.
        let mut ds: libc::msqid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        unsafe {
            libc::msgctl(id, libc::IPC_STAT, &mut ds);
            ds.msg_perm.uid = NOBODY;
            ds.msg_perm.gid = NOBODY;
            libc::msgctl(id, libc::IPC_SET, &mut ds)
        }
    } else {
        // SAFETY: all-zero is a valid `semid_ds`; valid out-pointers.
        let mut ds: libc::semid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: as above; IPC_STAT/IPC_SET take a `semid_ds` pointer.
        unsafe {
            libc::semctl(id, 0, libc::IPC_STAT, &mut ds);
            ds.sem_perm.uid = NOBODY;
            ds.sem_perm.gid = NOBODY;
            libc::semctl(id, 0, libc::IPC_SET, &mut ds)
        }
    };
    ensure!(rc == 0, "IPC_SET: {}", io::Error::last_os_error());
    Ok(())
}

/// System V queues and semaphore sets opened by key: 0622 / 0660 refused,
/// accepted with the opt-in; as root, nobody's (`IPC_SET`) refused.
fn sysv_by_key() -> Result<String, String> {
    let key = 0x6f00_0000 | (std::process::id() as libc::key_t & 0xffff);
    let q = SysvMq::create_with_mode(key, 0o622)
        .ctx("create queue")?
        .remove_on_drop();
    let target = format!("msqid {}", q.id());
    let text = refused(SysvMq::open(key), &target, me(), 0o622)?;
    SysvMq::open_with(key, Trust::Anyone).ctx("queue with Trust::Anyone")?;
    let set = SysvSemaphoreSet::create_with_mode(key, 1, 0o660)
        .ctx("create set")?
        .remove_on_drop();
    let set_target = format!("semid {}", set.id());
    refused(SysvSemaphoreSet::open(key), &set_target, me(), 0o660)?;
    SysvSemaphoreSet::open_with(key, Trust::Group).ctx("0660 set of our group, Trust::Group")?;
    if is_root() {
        sysv_chown(q.id(), true)?;
        refused(SysvMq::open(key), &target, NOBODY, 0o622)?;
        sysv_chown(set.id(), false)?;
        refused(SysvSemaphoreSet::open(key), &set_target, NOBODY, 0o660)?;
        SysvSemaphoreSet::open_with(key, Trust::Anyone).ctx("nobody's set, Trust::Anyone")?;
    }
    Ok(format!(
        "queue 0622 and set 0660 refused, accepted with the opt-in{}; \"{text}\"",
        owner_note()
    ))
}

/// FIFOs: 0666 refused at both ends, accepted with the opt-in; as root,
/// nobody's refused.
fn fifos() -> Result<String, String> {
    let guard = FileGuard::new("planted.fifo");
    let fifo = Fifo::create_with_mode(&guard.0, 0o666).ctx("mkfifo")?;
    let shown = guard.0.display().to_string();
    let text = refused(FifoReceiver::open(fifo.path(), 64), &shown, me(), 0o666)?;
    let _rx = FifoReceiver::open_with(fifo.path(), 64, Trust::Anyone).ctx("reader, Anyone")?;
    refused(FifoSender::open(fifo.path(), 64, None), &shown, me(), 0o666)?;
    FifoSender::open_with(fifo.path(), 64, None, Trust::Anyone).ctx("writer, Anyone")?;
    if is_root() {
        std::os::unix::fs::chown(fifo.path(), Some(NOBODY), Some(NOBODY)).ctx("chown")?;
        std::fs::set_permissions(
            fifo.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .ctx("chmod")?;
        refused(FifoReceiver::open(fifo.path(), 64), &shown, NOBODY, 0o600)?;
    }
    Ok(format!(
        "0666 refused at both ends, accepted with Trust::Anyone{}; \"{text}\"",
        owner_note()
    ))
}

/// A child that becomes `nobody` (root only).
fn become_nobody() -> Result<(), ChildFail> {
    // SAFETY: plain calls that change this child's credentials.
    let ok = unsafe { libc::setgid(NOBODY) == 0 && libc::setuid(NOBODY) == 0 };
    if ok {
        return Ok(());
    }
    Err(fail(
        EXIT_CHECK,
        format!("setuid(nobody): {}", io::Error::last_os_error()),
    ))
}

/// A POSIX queue and a FIFO that a user may write but not read (as root:
/// root's 0602 objects used by `nobody`; otherwise our own 0200 ones) used
/// from another process: a read-write open is `PermissionDenied`, a
/// write-only one sends, and a receive on it is refused naming the queue.
fn write_only_across_processes() -> Result<String, String> {
    let root = is_root();
    let (mode, who, trust) = if root {
        (0o602, "nobody on root's 0602", Trust::Anyone)
    } else {
        (0o200, "the owner of a 0200", Trust::Owner)
    };
    let guard = QueueNameGuard::new("wo");
    let attr = MqAttr {
        max_messages: 2,
        message_size: 16,
    };
    let mut q = PosixMq::create_with_mode(&guard.0, attr, mode).ctx("create queue")?;
    let fguard = FileGuard::new("wo.fifo");
    let fifo = Fifo::create(&fguard.0).ctx("mkfifo")?;
    let mut rx = FifoReceiver::open(fifo.path(), 64).ctx("open the FIFO's reader")?;
    let perms = std::os::unix::fs::PermissionsExt::from_mode(mode);
    std::fs::set_permissions(fifo.path(), perms).ctx("chmod the FIFO")?;
    let (name, path) = (q.name().to_string(), fguard.0.clone());
    let mut child = fork_main(move || {
        if root {
            become_nobody()?;
        }
        let bad = |what: &str, e: &dyn std::fmt::Debug| fail(EXIT_CHECK, format!("{what}: {e:?}"));
        match PosixMq::open_with(&name, Access::ReadWrite, trust) {
            Err(Error::PermissionDenied(_)) => {}
            other => return Err(bad("read-write open", &other)),
        }
        let mut tx = PosixMq::open_with(&name, Access::WriteOnly, trust)
            .map_err(|e| bad("write-only open", &e))?;
        tx.try_send(b"from a writer").map_err(|e| bad("send", &e))?;
        let mut buf = [0; 16];
        match tx.try_recv(&mut buf) {
            Err(Error::PermissionDenied(e)) if e.target == name => {}
            other => return Err(bad("receive on a write-only handle", &other)),
        }
        let mut ftx = FifoSender::open_with(&path, 64, Some(Duration::from_secs(5)), trust)
            .map_err(|e| bad("FIFO sender", &e))?;
        ftx.send(b"fifo writer").map_err(|e| bad("FIFO send", &e))?;
        Ok(())
    })?;
    child.expect_ok(Instant::now() + Duration::from_secs(20))?;
    let mut buf = [0; 16];
    let n = q.try_recv(&mut buf).ctx("receive the child's message")?;
    ensure!(&buf[..n] == b"from a writer", "queue gave {:?}", &buf[..n]);
    let got = rx.recv_vec().ctx("FIFO receive")?;
    ensure!(got == b"fifo writer", "FIFO gave {got:?}");
    Ok(format!(
        "{who} queue and FIFO: read-write open PermissionDenied, write-only open sent, receive \
         refused naming the queue"
    ))
}

/// A `RemoveOnDrop` guard copied into a forked child (which drops it)
/// leaves the object: only the process that made the guard removes it.
fn guard_across_fork() -> Result<String, String> {
    let guard = ShmGuard::new("guarded");
    let mut slot = Some(
        ShmObject::create(&guard.0, 4096)
            .ctx("create")?
            .remove_on_drop(),
    );
    let mut child = fork_main(|| {
        drop(slot.take()); // the child's copy of the guard
        Ok(())
    })?;
    child.expect_ok(Instant::now() + Duration::from_secs(20))?;
    ShmObject::open(&guard.0).ctx("open after the child dropped its copy")?;
    drop(slot.take());
    ensure!(
        matches!(ShmObject::open(&guard.0), Err(Error::NotFound(_))),
        "the creator's guard left the object"
    );
    Ok("a forked child's drop left it; the creator's drop removed it".into())
}

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: &[(&str, Test)] = &[
        ("shm: writable by group or others", shm_writable_by_others),
        ("shm: owned by another user", shm_owned_by_another_user),
        ("mapped files", files),
        ("channel object", channel_object),
        ("named semaphore", named_semaphore),
        ("POSIX queue", posix_queue),
        ("System V queue and set by key", sysv_by_key),
        ("FIFO", fifos),
        ("write-only across processes", write_only_across_processes),
        ("RemoveOnDrop across fork", guard_across_fork),
    ];
    Suite::new()
        .tests(tests.iter().copied())
        .leftovers_checked()
        .queue_leftovers_checked()
        .run()
        .exit();
}

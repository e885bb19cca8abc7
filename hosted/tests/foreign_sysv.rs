//! System V queues and semaphores against foreign clients: processes that
//! use plain libc calls (`semop`, `msgsnd`, `msgctl(IPC_SET)`,
//! `IPC_RMID`) on the objects ipckit handles use, and users with less
//! access than the creator.
//!
//! `cargo test -p ipckit --test foreign_sysv [filter]`. Every peer is a
//! forked process (the harness is off, so the process is single-threaded at
//! each fork), every wait has a deadline, and every id is removed by a
//! guard; the run fails if one of its ids is left. `IPCKIT_SEM_ROUNDS` sets
//! the rounds of the signalling test (default 100,000, three times the
//! kernel's per-process `SEM_UNDO` limit).

mod support;

use std::io;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ipckit::error::Error;
use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::transport::limits::LimitExceeded;
use ipckit::transport::semaphore::{CountingSemaphore, SEMVMX, SysvSemaphoreSet};
use ipckit::transport::sysv_mq::SysvMq;
use support::{
    Child, ChildFail, EXIT_CHECK, EXIT_OK, Exit, SharedWords, Suite, SysvGuard, fail, fork_main,
};

/// How long one step may wait before the test calls its peer stuck.
const STEP: Duration = Duration::from_secs(20);
/// How long a child that should return promptly gets before it counts as
/// blocked without end.
const HANG: Duration = Duration::from_secs(10);

/// System V ids this run created, checked at the end.
static CREATED: Mutex<Vec<(bool, i32)>> = Mutex::new(Vec::new());

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn track(id: i32, sem: bool) -> SysvGuard {
    CREATED.lock().unwrap().push((sem, id));
    SysvGuard { id, sem }
}

fn is_root() -> bool {
    // SAFETY: plain query.
    unsafe { libc::geteuid() == 0 }
}

fn check(cond: bool, msg: impl FnOnce() -> String) -> Result<(), ChildFail> {
    if cond {
        Ok(())
    } else {
        Err(fail(EXIT_CHECK, msg()))
    }
}

/// Waits for `child` to exit cleanly; one that is still running after
/// `limit` is killed and reported as blocked.
fn expect_exit_within(child: &mut Child, limit: Duration, what: &str) -> Result<(), String> {
    match child.wait(Instant::now() + limit) {
        Ok(Exit::Code(EXIT_OK)) => Ok(()),
        Ok(other) => Err(format!("{what}: child ended with {other}")),
        Err(_) => Err(format!("{what}: still blocked after {limit:?} (killed)")),
    }
}

// ---------------------------------------------------------------------------
// The foreign client: plain libc calls.

/// `semop` of one operation, retried on `EINTR`; the `errno` on failure.
fn raw_semop(id: i32, num: u16, op: i16, flags: i16) -> Result<(), i32> {
    loop {
        let mut sop = libc::sembuf {
            sem_num: num,
            sem_op: op,
            sem_flg: flags,
        };
        // SAFETY: one valid `sembuf`.
        if unsafe { libc::semop(id, &mut sop, 1) } == 0 {
            return Ok(());
        }
        match io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => {}
            code => return Err(code.unwrap_or(0)),
        }
    }
}

/// `msgsnd` of `text` with type 1 and `flags`; the `errno` on failure.
fn raw_msgsnd(id: i32, text: &[u8], flags: i32) -> Result<(), i32> {
    let mut buf: Vec<libc::c_long> = vec![0; 1 + text.len().div_ceil(size_of::<libc::c_long>())];
    buf[0] = 1;
    // SAFETY: `buf` has room for a long and `text.len()` bytes after it.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.as_mut_ptr().add(1).cast(), text.len())
    };
    // SAFETY: `buf` starts with the type and holds the text.
    if unsafe { libc::msgsnd(id, buf.as_ptr().cast(), text.len(), flags) } == 0 {
        return Ok(());
    }
    Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
}

/// Sets the queue's byte capacity with `IPC_STAT` + `IPC_SET`.
fn raw_set_qbytes(id: i32, bytes: usize) -> Result<(), String> {
    // SAFETY: all-zero is a valid `msqid_ds`.
    let mut ds: libc::msqid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: `ds` is a valid out-pointer.
    let rc = unsafe { libc::msgctl(id, libc::IPC_STAT, &mut ds) };
    ensure!(rc == 0, "IPC_STAT: {}", io::Error::last_os_error());
    ds.msg_qbytes = bytes as _;
    // SAFETY: `ds` is a valid `msqid_ds` from IPC_STAT.
    let rc = unsafe { libc::msgctl(id, libc::IPC_SET, &mut ds) };
    ensure!(rc == 0, "IPC_SET: {}", io::Error::last_os_error());
    Ok(())
}

/// A queue or semaphore set made with plain `msgget`/`semget` and `mode`.
fn raw_queue(mode: i32) -> Result<i32, String> {
    // SAFETY: plain system call.
    let id = unsafe { libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | mode) };
    ensure!(id >= 0, "msgget: {}", io::Error::last_os_error());
    Ok(id)
}

fn raw_remove(id: i32, sem: bool) -> Result<(), String> {
    // SAFETY: IPC_RMID takes no buffer.
    let rc = unsafe {
        if sem {
            libc::semctl(id, 0, libc::IPC_RMID)
        } else {
            libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut())
        }
    };
    ensure!(rc == 0, "IPC_RMID: {}", io::Error::last_os_error());
    Ok(())
}

/// Switches this (forked) process to `nobody`.
fn become_nobody() -> Result<(), ChildFail> {
    // SAFETY: plain calls that change this child's credentials.
    let ok = unsafe { libc::setgid(65534) == 0 && libc::setuid(65534) == 0 };
    check(ok, || {
        format!("setuid(nobody): {}", io::Error::last_os_error())
    })
}

// ---------------------------------------------------------------------------
// Semaphores.

/// Ping-pong between a default `SysvSemaphoreSet` and a foreign process
/// using plain `semop`, for three times the kernel's per-process
/// `SEM_UNDO` limit: signalling must not run out.
fn sem_signalling() -> Result<String, String> {
    let rounds: u64 = std::env::var("IPCKIT_SEM_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let set = SysvSemaphoreSet::create_private(2).map_err(|e| e.to_string())?;
    let _guard = track(set.id(), true);
    let id = set.id();
    let mut child = fork_main(|| {
        for i in 0..rounds {
            raw_semop(id, 0, 1, 0).map_err(|e| fail(EXIT_CHECK, format!("post {i}: errno {e}")))?;
            raw_semop(id, 1, -1, 0)
                .map_err(|e| fail(EXIT_CHECK, format!("wait {i}: errno {e}")))?;
        }
        Ok(())
    })?;
    let started = Instant::now();
    for i in 0..rounds {
        set.get(0)
            .wait_timeout(Some(STEP))
            .map_err(|e| format!("wait {i}: {e}"))?;
        set.get(1).post().map_err(|e| format!("post {i}: {e}"))?;
    }
    let secs = started.elapsed().as_secs_f64();
    expect_exit_within(&mut child, STEP, "foreign ponger")?;
    Ok(format!(
        "{rounds} rounds with a plain-semop process ({:.0} k rounds/s)",
        rounds as f64 / secs / 1e3
    ))
}

/// `ERANGE` told apart: a post above `SEMVMX` is `Full`; this process's
/// `SEM_UNDO` adjustment out of range (posts only, or waits only) is an
/// error of its own that names the set.
fn sem_erange() -> Result<String, String> {
    let set = SysvSemaphoreSet::create_private(1).map_err(|e| e.to_string())?;
    let _guard = track(set.id(), true);
    let mut undo = SysvSemaphoreSet::from_id(set.id()).map_err(|e| e.to_string())?;
    undo.set_undo(true);
    let mut plain_h = SysvSemaphoreSet::from_id(set.id()).map_err(|e| e.to_string())?;
    plain_h.set_undo(false);
    let semid = format!("semid {}", set.id());

    set.set_value(0, SEMVMX).map_err(|e| e.to_string())?;
    match plain_h.get(0).post() {
        Err(Error::Full) => {}
        other => return Err(format!("post at SEMVMX: {other:?}")),
    }

    let overflow = |what: &str, r: Result<(), Error>| -> Result<String, String> {
        let e = match r {
            Err(e) => e,
            Ok(()) => return Err(format!("{what}: accepted past the SEM_UNDO range")),
        };
        let text = e.to_string();
        ensure!(matches!(e, Error::UndoRange { .. }), "{what}: {e:?}");
        ensure!(
            text.contains(&semid) && text.contains("SEM_UNDO"),
            "{what}: \"{text}\" does not name {semid} and SEM_UNDO"
        );
        Ok(text)
    };
    // Posts with SEM_UNDO, taken back without: the adjustment sinks to
    // -32768, then the next post is out of range.
    set.set_value(0, 0).map_err(|e| e.to_string())?;
    for i in 0..32_768 {
        undo.get(0)
            .post()
            .map_err(|e| format!("undo post {i}: {e}"))?;
        plain_h
            .get(0)
            .try_wait()
            .map_err(|e| format!("wait {i}: {e}"))?;
    }
    let text = overflow("post", undo.get(0).post())?;
    ensure!(
        set.value(0).map_err(|e| e.to_string())? == 0,
        "value changed"
    );
    // Waits with SEM_UNDO on units posted without: +32767, then out of range.
    set.set_value(0, 0).map_err(|e| e.to_string())?;
    for i in 0..32_767 {
        plain_h
            .get(0)
            .post()
            .map_err(|e| format!("post {i}: {e}"))?;
        undo.get(0)
            .try_wait()
            .map_err(|e| format!("undo wait {i}: {e}"))?;
    }
    plain_h.get(0).post().map_err(|e| e.to_string())?;
    overflow("wait", undo.get(0).try_wait())?;
    ensure!(set.value(0).map_err(|e| e.to_string())? == 1, "unit taken");
    Ok(format!("post at SEMVMX: Full; SEM_UNDO range: \"{text}\""))
}

// ---------------------------------------------------------------------------
// Queue capacity changed by another process.

/// A queue shrunk to 64 bytes when our ends open it, then enlarged by a
/// foreign process: both ends take the bigger messages at once.
fn mq_enlarged() -> Result<String, String> {
    let id = raw_queue(0o600)?;
    let _guard = track(id, false);
    raw_set_qbytes(id, 64)?;
    let mut tx = SysvMq::from_id(id).map_err(|e| e.to_string())?;
    let mut rx = SysvMq::from_id(id).map_err(|e| e.to_string())?;
    let mut foreign = fork_main(|| {
        raw_set_qbytes(id, 16_384).map_err(|e| fail(EXIT_CHECK, e))?;
        raw_msgsnd(id, &[7; 1000], 0).map_err(|e| fail(EXIT_CHECK, format!("msgsnd: errno {e}")))
    })?;
    expect_exit_within(&mut foreign, STEP, "foreign enlarger")?;
    let mut buf = vec![0; 8192];
    let n = rx
        .recv_timeout(&mut buf, Some(STEP))
        .map_err(|e| format!("receive of the foreign 1000 B: {e}"))?;
    ensure!(
        n == 1000 && buf[..n] == [7; 1000],
        "foreign message: {n} bytes"
    );
    tx.send_timeout(&[9; 1000], Some(STEP))
        .map_err(|e| format!("send of 1000 B after enlarging: {e}"))?;
    let n = rx
        .recv_timeout(&mut buf, Some(STEP))
        .map_err(|e| e.to_string())?;
    ensure!(n == 1000 && buf[..n] == [9; 1000], "own message: {n} bytes");
    Ok("opened at 64 B, enlarged to 16384 B by another process: 1000 B sent and received".into())
}

/// A sender waiting for room with a 1000-byte message when another
/// process shrinks the queue to 512 bytes: a clear error naming the queue,
/// for a blocking send and for a timed one, instead of waiting forever (or
/// until the timeout).
fn mq_shrunk() -> Result<String, String> {
    let mut notes = Vec::new();
    for timeout in [None, Some(Duration::from_secs(60))] {
        let id = raw_queue(0o600)?;
        let _guard = track(id, false);
        raw_set_qbytes(id, 4096)?;
        for _ in 0..4 {
            raw_msgsnd(id, &[1; 1000], libc::IPC_NOWAIT).map_err(|e| format!("fill: {e}"))?;
        }
        let words = SharedWords::new();
        let words = &words;
        let mut sender = fork_main(|| {
            let mut tx = SysvMq::from_id(id).map_err(|e| fail(EXIT_CHECK, e.to_string()))?;
            words.word(0).store(1, Ordering::Release);
            let e = match tx.send_timeout(&[2; 1000], timeout) {
                Err(e) => e,
                Ok(()) => return Err(fail(EXIT_CHECK, "sent into a 512 B queue")),
            };
            let text = e.to_string();
            let limit = LimitExceeded::find(&e).map(|l| (l.requested, l.max));
            check(limit == Some((1000, 512)), || format!("error {e:?}"))?;
            check(text.contains(&format!("msqid {id}")), || {
                format!("\"{text}\" names no queue")
            })
        })?;
        ensure!(words.wait_for(0, 1, STEP), "the sender never started");
        std::thread::sleep(Duration::from_millis(100));
        // Another process (this one, with plain calls) shrinks the queue and
        // empties it: the message can never fit.
        raw_set_qbytes(id, 512)?;
        let mut buf = vec![0 as libc::c_long; 1 + 1000 / 8 + 1];
        for _ in 0..4 {
            // SAFETY: `buf` holds a long and 1000 bytes of text.
            let r = unsafe { libc::msgrcv(id, buf.as_mut_ptr().cast(), 1000, 0, libc::IPC_NOWAIT) };
            ensure!(r == 1000, "drain: {}", io::Error::last_os_error());
        }
        expect_exit_within(&mut sender, HANG, &format!("send with timeout {timeout:?}"))?;
        notes.push(format!("timeout {timeout:?}: LimitExceeded msg_qbytes"));
    }
    Ok(notes.join("; "))
}

// ---------------------------------------------------------------------------
// A sender with write permission only.

/// A queue this user may write but not read (0602 created by root, used
/// by `nobody`; as another user, its own queue with mode 0200): opened for
/// sending, sends, learns the capacity, and gets a clear refusal for a
/// receive.
fn mq_write_only() -> Result<String, String> {
    let (mode, who) = if is_root() {
        (0o602, "nobody on root's 0602 queue")
    } else {
        (0o200, "the owner of a 0200 queue")
    };
    let id = raw_queue(mode)?;
    let _guard = track(id, false);
    raw_set_qbytes(id, 2048)?;
    let root = is_root();
    let mut child = fork_main(|| {
        if root {
            become_nobody()?;
        }
        let mut tx = SysvMq::from_id(id).map_err(|e| fail(EXIT_CHECK, format!("from_id: {e}")))?;
        tx.send_timeout(b"from a writer", Some(STEP))
            .map_err(|e| fail(EXIT_CHECK, format!("send: {e}")))?;
        let e = tx
            .try_send(&[0; 4000])
            .err()
            .ok_or_else(|| fail(EXIT_CHECK, "4000 B into 2048 B"))?;
        let limit = LimitExceeded::find(&e).map(|l| (l.requested, l.max));
        check(limit == Some((4000, 2048)), || format!("4000 B: {e:?}"))?;
        let mut buf = [0; 64];
        match tx.try_recv(&mut buf) {
            Err(Error::PermissionDenied(e)) if e.target.contains(&id.to_string()) => Ok(()),
            other => Err(fail(EXIT_CHECK, format!("receive: {other:?}"))),
        }
    })?;
    expect_exit_within(&mut child, STEP, "write-only sender")?;
    let mut rx = SysvMq::from_id(id).map_err(|e| e.to_string())?;
    let mut buf = [0; 64];
    let n = rx.try_recv(&mut buf).map_err(|e| e.to_string())?;
    ensure!(&buf[..n] == b"from a writer", "received {:?}", &buf[..n]);
    Ok(format!(
        "{who}: opened, sent, capacity known, receive PermissionDenied"
    ))
}

/// A semaphore set this user may alter but not read (0602 of root, used
/// by `nobody`; as another user, its own set with mode 0200): opened,
/// posted and waited on.
fn sem_alter_only() -> Result<String, String> {
    let (mode, who) = if is_root() {
        (0o602, "nobody on root's 0602 set")
    } else {
        (0o200, "the owner of a 0200 set")
    };
    // SAFETY: plain system call.
    let id = unsafe { libc::semget(libc::IPC_PRIVATE, 1, libc::IPC_CREAT | mode) };
    ensure!(id >= 0, "semget: {}", io::Error::last_os_error());
    let _guard = track(id, true);
    let root = is_root();
    let mut child = fork_main(|| {
        if root {
            become_nobody()?;
        }
        let set =
            SysvSemaphoreSet::from_id(id).map_err(|e| fail(EXIT_CHECK, format!("from_id: {e}")))?;
        check(set.len() == 1, || format!("{} semaphores", set.len()))?;
        set.get(0)
            .post()
            .map_err(|e| fail(EXIT_CHECK, format!("post: {e}")))?;
        set.get(0)
            .post()
            .map_err(|e| fail(EXIT_CHECK, format!("post: {e}")))?;
        set.get(0)
            .wait_timeout(Some(STEP))
            .map_err(|e| fail(EXIT_CHECK, format!("wait: {e}")))
    })?;
    expect_exit_within(&mut child, STEP, "alter-only user")?;
    let set = SysvSemaphoreSet::from_id(id).map_err(|e| e.to_string())?;
    ensure!(
        set.value(0).map_err(|e| e.to_string())? == 1,
        "value after +2 -1"
    );
    Ok(format!(
        "{who}: opened (length from SEM_STAT_ANY), posted and waited"
    ))
}

// ---------------------------------------------------------------------------
// Removal and bad arguments.

/// Checks that `e` says the object `target` was removed.
fn says_removed(e: &Error, target: &str) -> Result<(), ChildFail> {
    let text = e.to_string();
    check(text.contains(target) && text.contains("removed"), || {
        format!("\"{text}\" does not say that {target} was removed")
    })?;
    check(
        matches!(e, Error::Removed { .. }) && e.is_peer_gone(),
        || format!("{e:?} is not Removed"),
    )
}

/// A semaphore set and a queue removed (plain `IPC_RMID`) under a blocked
/// waiter, and used after: errors that name the object and say it was
/// removed.
fn removal() -> Result<String, String> {
    let set = SysvSemaphoreSet::create_private(1).map_err(|e| e.to_string())?;
    let _sg = track(set.id(), true);
    let q = SysvMq::create_private().map_err(|e| e.to_string())?;
    let _qg = track(q.id(), false);
    let (semid, msqid) = (set.id(), q.id());
    let words = SharedWords::new();
    let words = &words;
    let mut waiters = Vec::new();
    waiters.push(fork_main(|| {
        let set = SysvSemaphoreSet::from_id(semid).map_err(|e| fail(EXIT_CHECK, e.to_string()))?;
        words.word(0).fetch_add(1, Ordering::AcqRel);
        let e = set
            .get(0)
            .wait()
            .err()
            .ok_or_else(|| fail(EXIT_CHECK, "got a unit"))?;
        says_removed(&e, &format!("semid {semid}"))?;
        let e = set
            .get(0)
            .post()
            .err()
            .ok_or_else(|| fail(EXIT_CHECK, "posted"))?;
        says_removed(&e, &format!("semid {semid}"))
    })?);
    waiters.push(fork_main(|| {
        let mut q = SysvMq::from_id(msqid).map_err(|e| fail(EXIT_CHECK, e.to_string()))?;
        words.word(0).fetch_add(1, Ordering::AcqRel);
        let mut buf = vec![0; q.max_message_len()];
        let e = q
            .recv(&mut buf)
            .err()
            .ok_or_else(|| fail(EXIT_CHECK, "received"))?;
        says_removed(&e, &format!("msqid {msqid}"))?;
        let e = q
            .try_send(b"x")
            .err()
            .ok_or_else(|| fail(EXIT_CHECK, "sent"))?;
        says_removed(&e, &format!("msqid {msqid}"))
    })?);
    ensure!(words.wait_for(0, 2, STEP), "the waiters never started");
    std::thread::sleep(Duration::from_millis(100));
    raw_remove(semid, true)?;
    raw_remove(msqid, false)?;
    for (child, what) in waiters
        .iter_mut()
        .zip(["semaphore waiter", "queue receiver"])
    {
        expect_exit_within(child, STEP, what)?;
    }
    ensure!(
        matches!(SysvSemaphoreSet::from_id(semid), Err(Error::NotFound(_))),
        "from_id of the removed set"
    );
    ensure!(
        matches!(SysvMq::from_id(msqid), Err(Error::NotFound(_))),
        "from_id of the removed queue"
    );
    Ok("blocked semaphore wait and queue receive, then a post and a send: each names the removed object".into())
}

/// `EINVAL` for a bad argument is not a removed peer: an id below 0.
fn invalid_arguments() -> Result<String, String> {
    for (what, r) in [
        ("semid -1", SysvSemaphoreSet::from_id(-1).map(drop)),
        ("msqid -1", SysvMq::from_id(-1).map(drop)),
    ] {
        let e = r.err().ok_or(format!("{what} accepted"))?;
        ensure!(!e.is_peer_gone(), "{what}: {e}");
        ensure!(
            e.os_error().and_then(|o| o.errno()) == Some(libc::EINVAL),
            "{what}: {e:?}"
        );
        ensure!(e.to_string().contains(what), "\"{e}\" does not name {what}");
    }
    Ok("id -1: EINVAL naming the id, not PeerGone".into())
}

/// `msgmax` raised and lowered under open queues (in a private IPC
/// namespace, so nothing else sees the change): a raised limit takes
/// longer messages at once on both ends; a lowered one refuses a message
/// above it with an error naming `msgmax` and the queue, not PeerGone (the
/// kernel's `EINVAL`).
fn msgmax_changes() -> Result<String, String> {
    if !is_root() {
        println!("  (skipped: not root, cannot unshare the IPC namespace)");
        return Ok("SKIPPED: needs root to unshare the IPC namespace".into());
    }
    let set_msgmax = |v: &str| {
        std::fs::write("/proc/sys/kernel/msgmax", v)
            .map_err(|e| fail(EXIT_CHECK, format!("msgmax {v}: {e}")))
    };
    let mut child = fork_main(|| {
        // SAFETY: plain call; this forked child is single-threaded.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWIPC) };
        check(rc == 0, || {
            format!("unshare: {}", io::Error::last_os_error())
        })?;
        set_msgmax("100")?;
        let mut tx = SysvMq::create_private().map_err(|e| fail(EXIT_CHECK, e.to_string()))?;
        let mut rx = SysvMq::from_id(tx.id()).map_err(|e| fail(EXIT_CHECK, e.to_string()))?;
        set_msgmax("4000")?;
        tx.try_send(&[3; 3000])
            .map_err(|e| fail(EXIT_CHECK, format!("3000 B after raising msgmax: {e}")))?;
        let mut buf = vec![0; 8192];
        let n = rx
            .try_recv(&mut buf)
            .map_err(|e| fail(EXIT_CHECK, format!("receive after raising msgmax: {e}")))?;
        check(n == 3000 && buf[..n] == [3; 3000], || format!("{n} bytes"))?;
        set_msgmax("100")?;
        let e = tx
            .try_send(&[0; 200])
            .err()
            .ok_or_else(|| fail(EXIT_CHECK, "sent 200 B"))?;
        let text = e.to_string();
        check(!e.is_peer_gone(), || format!("PeerGone: {text}"))?;
        check(
            text.contains("msgmax") && text.contains(&format!("msqid {}", tx.id())),
            || format!("\"{text}\" does not name msgmax and the queue"),
        )
    })?;
    expect_exit_within(&mut child, STEP, "msgmax changes")?;
    Ok(
        "opened at msgmax 100, raised to 4000: 3000 B sent and received; lowered to 100: \
        200 B refused naming msgmax and the queue"
            .into(),
    )
}

// ---------------------------------------------------------------------------

fn cleanup() -> Result<String, String> {
    let (msg, sem) = (support::sysv_ids("msg"), support::sysv_ids("sem"));
    let created = CREATED.lock().unwrap().clone();
    let left: Vec<_> = created
        .iter()
        .filter(|(is_sem, id)| (if *is_sem { &sem } else { &msg }).contains(id))
        .collect();
    ensure!(left.is_empty(), "left behind: {left:?}");
    Ok(format!("{} System V ids removed", created.len()))
}

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: &[(&str, Test)] = &[
        ("sem: signalling past the SEM_UNDO limit", sem_signalling),
        ("sem: ERANGE per operation", sem_erange),
        ("mq: capacity enlarged by another process", mq_enlarged),
        ("mq: capacity shrunk under a waiting sender", mq_shrunk),
        ("mq: write-only sender", mq_write_only),
        ("sem: alter-only user", sem_alter_only),
        ("removed objects are named", removal),
        ("invalid arguments are named", invalid_arguments),
        ("mq: msgmax changed under open queues", msgmax_changes),
    ];
    Suite::new()
        .tests(tests.iter().copied())
        .after_each("cleanup", || cleanup().map(drop))
        .run()
        .exit();
}

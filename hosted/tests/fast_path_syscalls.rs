//! The channels' non-waiting calls make no system call: a forked child
//! enters seccomp strict mode (`prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT)`:
//! only `read`, `write`, `exit` and `sigreturn` are allowed, any other
//! system call kills the process with `SIGKILL`) and then runs every
//! channel's `try_` calls through their fast paths and their flow answers
//! (`Full`, `Empty`, with the liveness look that decides between `Full` and
//! `PeerGone`). A system call anywhere in them (a futex wake, a `kill(pid,
//! 0)`, a clock read that falls back to `clock_gettime`) kills the child.
//!
//! What strict mode cannot see: a clock read served by the vDSO (no system
//! call with the `tsc` clock source). That one is checked by instruction
//! counts: `valgrind --tool=callgrind` on the `vs_core` bench's count mode
//! lists no `clock_gettime` (see `hosted/benches/vs_core/main.rs`).
//!
//! The endpoints are made in the parent (their set-up maps memory and
//! registers liveness, which are system calls); the child uses its inherited
//! copies and ends with a raw `exit` (strict mode forbids `exit_group`, and
//! dropping an end would publish its close, which may wake).

mod support;

use std::time::Instant;

use ipckit::Error;
use ipckit::channel::{bytes, mpmc, mpsc_bytes, spsc};
use ipckit::shm::ShmObject;
use support::{Exit, fork_async_signal_safe};

/// Room in every channel: small, so the calls meet `Full` and `Empty`.
const CAPACITY: u32 = 16;
/// The byte channels' data areas (bytes).
const BYTES: u32 = 1024;

/// Exit codes of the child for the checks that fail without a system call.
const WRONG_ANSWER: i32 = 3;

fn check(ok: bool, step: i32) -> Result<(), i32> {
    if ok {
        Ok(())
    } else {
        Err(WRONG_ANSWER * 100 + step)
    }
}

struct Ends {
    spsc: (spsc::Sender<u64>, spsc::Receiver<u64>),
    bytes: (bytes::Sender, bytes::Receiver),
    mpmc: (mpmc::Sender<u64>, mpmc::Receiver<u64>),
    mpsc: (mpsc_bytes::Sender, mpsc_bytes::Receiver),
}

/// Every `try_` call of every channel, past `Full` and `Empty`, twice
/// around each ring. No allocation, no system call.
fn exercise(e: &mut Ends) -> Result<(), i32> {
    let msg = [7u8; 40];
    let mut buf = [0u8; 64];
    for _ in 0..2 {
        let (tx, rx) = &mut e.spsc;
        for i in 0..u64::from(CAPACITY) {
            check(tx.try_send(i).is_ok(), 1)?;
        }
        check(matches!(tx.try_send(99), Err(Error::Full)), 2)?;
        for i in 0..u64::from(CAPACITY) {
            check(rx.try_recv().ok() == Some(i), 3)?;
        }
        check(matches!(rx.try_recv(), Err(Error::Empty)), 4)?;
        check(tx.try_send_slice(&[1, 2, 3]).ok() == Some(3), 5)?;
        let mut out = [0u64; 4];
        check(rx.try_recv_slice(&mut out).ok() == Some(3), 6)?;

        let (tx, rx) = &mut e.bytes;
        let mut sent = 0;
        while tx.try_send(&msg).is_ok() {
            sent += 1;
        }
        check(sent > 0 && matches!(tx.try_send(&msg), Err(Error::Full)), 7)?;
        for _ in 0..sent {
            check(rx.try_recv(&mut buf).ok() == Some(msg.len()), 8)?;
        }
        check(matches!(rx.try_recv(&mut buf), Err(Error::Empty)), 9)?;
        let mut loan = tx.try_loan(msg.len()).map_err(|_| 1000)?;
        check(loan.copy_from_slice(&msg).is_ok(), 10)?;
        loan.send();
        let frame = rx.try_recv_ref().map_err(|_| 1001)?;
        check(frame.len() == msg.len(), 11)?;
        frame.release();

        let (tx, rx) = &e.mpmc;
        for i in 0..u64::from(CAPACITY) {
            check(tx.try_send(i).is_ok(), 12)?;
        }
        check(matches!(tx.try_send(99), Err(Error::Full)), 13)?;
        for i in 0..u64::from(CAPACITY) {
            check(rx.try_recv().ok() == Some(i), 14)?;
        }
        check(matches!(rx.try_recv(), Err(Error::Empty)), 15)?;

        let (tx, rx) = &mut e.mpsc;
        let mut sent = 0;
        while tx.try_send(&msg).is_ok() {
            sent += 1;
        }
        check(
            sent > 0 && matches!(tx.try_send(&msg), Err(Error::Full)),
            16,
        )?;
        for _ in 0..sent {
            check(rx.try_recv(&mut buf).ok() == Some(msg.len()), 17)?;
        }
        check(matches!(rx.try_recv(&mut buf), Err(Error::Empty)), 18)?;
    }
    Ok(())
}

fn names() -> [String; 4] {
    let pid = std::process::id();
    ["spsc", "bytes", "mpmc", "mpsc"].map(|k| format!("ipckit-test-fastpath-{k}-{pid}"))
}

fn open(names: &[String; 4]) -> ipckit::Result<Ends> {
    Ok(Ends {
        spsc: (
            spsc::Sender::create(&names[0], CAPACITY)?,
            spsc::Receiver::open(&names[0])?,
        ),
        bytes: (
            bytes::Sender::create(&names[1], BYTES)?,
            bytes::Receiver::open(&names[1])?,
        ),
        mpmc: (
            mpmc::Sender::create(&names[2], CAPACITY)?,
            mpmc::Receiver::open(&names[2])?,
        ),
        mpsc: (
            mpsc_bytes::Sender::create(&names[3], BYTES)?,
            mpsc_bytes::Receiver::open(&names[3])?,
        ),
    })
}

#[test]
fn try_calls_make_no_system_call() {
    let names = names();
    let mut ends = open(&names).expect("channels");
    // The same calls in this process first: they work (so a failure in
    // the child is the sandbox's doing).
    exercise(&mut ends).expect("the calls themselves");
    let body = || {
        // SAFETY: plain prctl; from here on, any system call other than
        // read, write, exit and sigreturn kills this process.
        if unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_STRICT) } != 0 {
            return 2;
        }
        let code = match exercise(&mut ends) {
            Ok(()) => 0,
            Err(code) => code,
        };
        // SAFETY: `exit` (not `exit_group`, which strict mode kills): this
        // child has one thread, so it ends the process, and no destructor
        // of the inherited ends runs.
        unsafe { libc::syscall(libc::SYS_exit, code) };
        // Unreachable: strict mode lets `exit` through.
        4
    };
    // SAFETY: the child only makes raw system calls and runs `exercise`,
    // which neither allocates nor takes a lock (atomics and copies on the
    // inherited mappings): async-signal-safe.
    let child = unsafe { fork_async_signal_safe(body) };
    let exit = child
        .and_then(|mut c| c.wait(Instant::now() + support::DEADLINE))
        .expect("child");
    drop(ends);
    for n in &names {
        let _ = ShmObject::remove(n);
    }
    assert_eq!(
        exit,
        Exit::Code(0),
        "a try_ call made a system call (SIGKILL under seccomp strict mode) or answered wrongly (code 3xx: the step)"
    );
}

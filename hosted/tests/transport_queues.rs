//! Kernel queue transports across real processes: POSIX and System V
//! message queues, eventfd, signals with payloads, named and System V
//! semaphores, and the file log.
//!
//! `cargo test -p ipckit --test transport_queues [filter]`. Every test forks
//! its peers (the harness is off, so the process is single-threaded at each
//! fork), every wait has a deadline, and every name is
//! `ipckit-test-<pid>-<n>-<what>` behind a guard. At the end the run checks
//! that no queue, semaphore, System V id or file of it is left.

mod support;

use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ipckit::error::{CoreError, Error};
use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::transport::eventfd::{EventFd, EventFdMode};
use ipckit::transport::file_log::{LogReader, LogWriter};
use ipckit::transport::limits::LimitExceeded;
use ipckit::transport::posix_mq::{MqAttr, MqLimits, PosixMq};
use ipckit::transport::semaphore::{CountingSemaphore, NamedSemaphore, SysvSemaphoreSet};
use ipckit::transport::signal::{SignalReceiver, SignalSender, rt_signal};
use ipckit::transport::sysv_mq::{SysvMq, SysvMqLimits};
use support::{
    ChildFail, EXIT_CHECK, EXIT_OK, EXIT_OUT_OF_ORDER, EXIT_RING_ERROR, EXIT_TIMEOUT, Exit,
    FileGuard, QueueNameGuard, Rng, SharedWords, Suite, SysvGuard, child_main, fail, fork_child,
};

/// How long one receive may wait before the test calls its peer stuck.
const STEP: Duration = Duration::from_secs(20);
/// Messages of the order-and-content tests.
const COUNT: u64 = 100_000;

/// System V ids this run created, checked at the end.
static SYSV_CREATED: Mutex<Vec<(bool, i32)>> = Mutex::new(Vec::new());

/// POSIX queue names this run created, checked at the end (where
/// `/dev/mqueue` is not mounted, `mq_open` is the only way to look).
static MQ_CREATED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn mq_name(what: &str) -> QueueNameGuard {
    let guard = QueueNameGuard::new(what);
    MQ_CREATED.lock().unwrap().push(guard.0.clone());
    guard
}

fn track(id: i32, sem: bool) -> SysvGuard {
    SYSV_CREATED.lock().unwrap().push((sem, id));
    SysvGuard { id, sem }
}

fn deadline() -> Instant {
    Instant::now() + support::DEADLINE
}

fn expect_exit(child: &mut support::Child, what: &str) -> Result<(), String> {
    match child.wait(deadline())? {
        Exit::Code(EXIT_OK) => Ok(()),
        other => Err(format!("{what}: {other}")),
    }
}

// ---------------------------------------------------------------------------
// Messages: sequence number, then bytes that depend on it and their index.

fn message(seq: u64, rng: &mut Rng, max: usize, out: &mut Vec<u8>) {
    let len = 8 + (rng.next() as usize % (max - 7));
    out.clear();
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend((8..len).map(|k| (seq as usize).wrapping_mul(7).wrapping_add(k) as u8));
}

fn send_all(tx: &mut impl MessageSender, count: u64, max: usize) -> Result<(), ChildFail> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut msg = Vec::new();
    for seq in 0..count {
        message(seq, &mut rng, max, &mut msg);
        tx.send_timeout(&msg, Some(STEP))
            .map_err(|e| fail(EXIT_RING_ERROR, format!("send {seq}: {e}")))?;
    }
    Ok(())
}

fn recv_all(rx: &mut impl MessageReceiver, count: u64, max: usize) -> Result<(), String> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut want = Vec::new();
    let mut buf = vec![0; rx.max_message_len()];
    for seq in 0..count {
        message(seq, &mut rng, max, &mut want);
        let n = rx
            .recv_timeout(&mut buf, Some(STEP))
            .map_err(|e| format!("receive {seq}: {e}"))?;
        if buf[..n] != want[..] {
            let got = buf
                .get(..8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap()));
            return Err(format!(
                "message {seq}: {n} bytes starting with seq {got:?}, expected {} bytes",
                want.len()
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------

#[path = "transport_queues/events.rs"]
mod events;
#[path = "transport_queues/queues.rs"]
mod queues;
#[path = "transport_queues/semaphores_log.rs"]
mod semaphores_log;

use events::*;
use queues::*;
use semaphores_log::*;

fn cleanup() -> Result<String, String> {
    let mut left: Vec<String> = support::queue_leftovers()
        .into_iter()
        .chain(support::leftovers())
        .map(|p| p.display().to_string())
        .collect();
    let msg = support::sysv_ids("msg");
    let sem = support::sysv_ids("sem");
    let created = SYSV_CREATED.lock().unwrap().clone();
    for (is_sem, id) in &created {
        if (if *is_sem { &sem } else { &msg }).contains(id) {
            left.push(format!(
                "{} id {id}",
                if *is_sem { "semaphore set" } else { "queue" }
            ));
        }
    }
    let names = MQ_CREATED.lock().unwrap().clone();
    for name in &names {
        if !matches!(PosixMq::open(name), Err(Error::NotFound(_))) {
            left.push(format!("POSIX queue /{name}"));
        }
    }
    if !left.is_empty() {
        return Err(format!("left behind: {left:?}"));
    }
    let mqueue = if std::path::Path::new("/dev/mqueue").exists() {
        "/dev/mqueue"
    } else {
        "/dev/mqueue (not mounted here: every queue name checked with mq_open)"
    };
    Ok(format!(
        "nothing in {mqueue}, /dev/shm/sem.*, the temp dir; {} POSIX queues and {} System V ids removed",
        names.len(),
        created.len()
    ))
}

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: &[(&str, Test)] = &[
        ("posix mq: 100k in order", mq_order),
        (
            "posix mq: max size, priorities, peer exit",
            mq_max_size_priorities_and_peer_exit,
        ),
        ("posix mq: /proc limits", mq_limits),
        (
            "eventfd: ping-pong and semaphore mode",
            eventfd_ping_pong_and_semaphore,
        ),
        ("signal: order and payloads", signals_order),
        ("signal: queue overflow", signals_overflow),
        ("sysv mq: 100k in order, types", sysv_order_and_types),
        (
            "sysv mq: max size, E2BIG, IPC_RMID",
            sysv_max_size_limits_and_removal,
        ),
        ("sysv mq: peer exit", sysv_peer_exit),
        ("semaphore: named ping-pong", named_semaphore_ping_pong),
        (
            "semaphore: SEM_UNDO after SIGKILL",
            sysv_sem_undo_after_sigkill,
        ),
        ("file log: two writers, one reader", file_log_two_writers),
    ];
    Suite::new()
        .tests(tests.iter().copied())
        .after_each("cleanup", || cleanup().map(drop))
        .run()
        .exit();
}

//! The same messages over every ipckit mechanism, through the one message
//! interface.
//!
//! Each mechanism is opened by `ipckit_testkit::mechanisms`, the one place
//! where ipckit's tests, benchmarks, the `ipckit bench` command and this
//! example set mechanisms up (shared-memory channels, pipes, FIFOs, message
//! queues, sockets, TCP, eventfd, signals, the file log). This example is
//! about what comes after the opening: [`exchange`] and [`echo`] are written
//! once, over `dyn MessageSender` / `dyn MessageReceiver`, and run unchanged
//! on all of them. How to open each mechanism with its own API is in its own
//! example: `spsc_fork`, `channel_named`, `channel_mpmc`, `channel_mpsc`,
//! `pipe_child`, `popen`, `fifo`, `posix_mq`, `sysv_mq`, `unix_socket`,
//! `tcp`, `eventfd`, `signal_payload`, `file_log`.
//!
//! For each mechanism this process forks a peer that echoes every message
//! back, sends 1000 messages one at a time and checks every echo: lengths
//! from 0 to 4 KiB, both included, each byte derived from the message's
//! number and position (a lost, repeated, reordered or corrupted message is
//! found at its first wrong byte). Some mechanisms carry one size only: the
//! typed rings `[u8; 4096]` items, eventfd an 8-byte counter value, signals
//! the 4-byte `sigqueue` integer. One at a time, because eventfd writes add
//! up in one counter and every pending signal is a kernel queue entry.
//!
//! Every named object is removed when its setup's guard drops, also when a
//! mechanism fails; the last line checks that nothing is left.
//!
//! Run: `cargo run --release -p ipckit-examples --example every_transport`

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ipckit_testkit::mechanisms::{Ends, Mech, Naming, Object, Open, PeerOpen, block_bench_signal};
use ipckit_testkit::messages::{Rng, check, ferr, fill, msg_len};
use ipckit_testkit::objects::{leftovers, queue_leftovers, run_prefix, sysv_ids};
use ipckit_testkit::process::{ChildFail, EXIT_RING_ERROR, fail, fork_main};

/// Round trips per mechanism.
const COUNT: u64 = 1000;
/// The longest message (within the default 8 KiB limit of both kinds of
/// message queue).
const SIZE: usize = 4096;
/// The longest any call waits: a broken peer fails the run, never hangs it.
const WAIT: Option<Duration> = Some(Duration::from_secs(30));
/// The seed of the message lengths.
const SEED: u64 = 0x5eed;

/// The System V queues this run made (they have ids, not names).
static SYSV_QUEUES: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// This process's side: sends each message, waits for its echo and checks
/// it. Messages are 0 to [`SIZE`] bytes long, or all `fixed` bytes. Returns
/// the payload bytes sent.
fn exchange(ends: &mut Ends, count: u64, fixed: Option<usize>) -> Result<u64, String> {
    let max = SIZE.min(ends.tx.max_message_len());
    let mut buf = vec![0u8; ends.rx.max_message_len()];
    let (mut msg, mut rng, mut total) = (Vec::new(), Rng(SEED), 0);
    for i in 0..count {
        let len = fixed.unwrap_or_else(|| msg_len(&mut rng, i, max));
        fill(&mut msg, i, len);
        ends.tx
            .send_timeout(&msg, WAIT)
            .map_err(|e| format!("send {i}: {e}"))?;
        let n = ends
            .rx
            .recv_timeout(&mut buf, WAIT)
            .map_err(|e| format!("echo {i}: {e}"))?;
        check(&buf[..n], i, len).map_err(|f| f.msg)?;
        total += len as u64;
    }
    Ok(total)
}

/// The peer's side: opens its ends, then sends back what it receives.
fn echo(open: Open, parent: u32, count: u64) -> Result<(), ChildFail> {
    let mut ends = open(parent).map_err(|e| fail(EXIT_RING_ERROR, format!("open: {e}")))?;
    let mut buf = vec![0u8; ends.rx.max_message_len()];
    for i in 0..count {
        let n = ends
            .rx
            .recv_timeout(&mut buf, WAIT)
            .map_err(|e| ferr(&format!("recv {i}"), e))?;
        ends.tx
            .send_timeout(&buf[..n], WAIT)
            .map_err(|e| ferr(&format!("send {i}"), e))?;
    }
    Ok(())
}

/// One mechanism: `(messages, payload bytes each way, time)`.
fn run(mech: Mech, naming: &Naming) -> Result<(u64, u64, Duration), String> {
    let setup = mech.setup(SIZE, naming)?;
    let PeerOpen::Process(open_peer) = setup.peer else {
        return Err("not a process peer".into());
    };
    let fixed = mech.fixed_size().or(mech.pads().then_some(SIZE));
    // The file log grows on disk: its setup says how much it may take.
    let count = setup.budget.map_or(COUNT, |b| COUNT.min(b / SIZE as u64));
    let parent = std::process::id();
    // The peer's ends made before the fork (inherited descriptors) go with
    // `open_peer` into the child and are closed here.
    let mut child = fork_main(move || echo(open_peer, parent, count))?;
    let mut ends = (setup.mine)(child.pid as u32).map_err(|e| format!("open: {e}"))?;
    let t0 = Instant::now();
    let total = exchange(&mut ends, count, fixed)?;
    let time = t0.elapsed();
    drop(ends);
    child.expect_ok(Instant::now() + Duration::from_secs(10))?;
    // `setup.guard` drops on return: the mechanism's named objects go.
    Ok((count, total, time))
}

fn main() -> Result<(), String> {
    // The signal mechanism's signal is blocked before any fork, so a child
    // inherits the mask and no signal arrives before it listens.
    block_bench_signal()?;
    let naming = Naming {
        // `ipckit-test-<pid>`, where the leftover checks below look.
        prefix: run_prefix().trim_end_matches('-').to_owned(),
        dir: std::env::temp_dir(),
        register: |object| {
            if let Object::SysvMq(id) = object {
                SYSV_QUEUES.lock().unwrap().push(id);
            }
        },
    };

    println!(
        "{:<15} {:>8} {:>10} {:>10} {:>12}",
        "mechanism", "messages", "bytes", "time", "round trip"
    );
    let mut failed = 0;
    for mech in Mech::every().filter(|m| m.is_ipckit()) {
        match run(mech, &naming) {
            Ok((count, total, time)) => println!(
                "{:<15} {:>8} {:>10} {:>7.1} ms {:>9.1} us",
                mech.name(),
                count,
                total,
                time.as_secs_f64() * 1e3,
                time.as_secs_f64() * 1e6 / count as f64,
            ),
            Err(e) => {
                println!("{:<15} FAILED: {e}", mech.name());
                failed += 1;
            }
        }
    }

    let mut left = leftovers();
    left.extend(queue_leftovers());
    let live = sysv_ids("msg");
    let sysv: Vec<i32> = SYSV_QUEUES.lock().unwrap().clone();
    let sysv_left: Vec<i32> = sysv.into_iter().filter(|id| live.contains(id)).collect();
    if left.is_empty() && sysv_left.is_empty() {
        println!("cleanup: nothing left behind");
    } else {
        println!("cleanup: left behind {left:?}, System V queues {sysv_left:?}");
        failed += 1;
    }
    if failed > 0 {
        return Err(format!("{failed} failure(s)"));
    }
    Ok(())
}

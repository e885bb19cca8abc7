//! MPMC channels survive endpoints killed in the middle of an operation,
//! across real processes.
//!
//! A process is killed exactly between an endpoint's claim (the
//! compare-and-swap on `tail` or `head`) and the store that finishes it.
//! SIGKILL cannot be aimed at a window of a few instructions, so the child
//! performs the claim itself, as the ring does it (announce the position in
//! its own liveness slot's intent, then compare-and-swap the position
//! word), and raises SIGKILL before the finishing store: the state is
//! exactly the one a kill there leaves, made by a real, dead process that
//! holds a real liveness slot.
//!
//! Sub-tests:
//! - `hole, live senders`: a sender dies after its claim; two live senders
//!   keep sending (thousands of items, many laps of a 64-slot ring). The
//!   receiver gets every committed item exactly once, in each sender's
//!   order; the hole is skipped (counted) while the other senders live.
//! - `hole, every sender gone`: the same, but the other sender closes after
//!   its items: the receiver delivers everything behind the hole before it
//!   reports `PeerGone`.
//! - `receiver killed holding an item`: a receiver dies after claiming the
//!   first item; another receiver takes the rest while the sender sends a
//!   thousand more through an 8-slot ring (past the held slot on every
//!   lap): the held item is the only one lost, and it is counted.
//! - `random sender kills`: three senders at a time stream items through a
//!   16-slot channel; the parent SIGKILLs one at a random instant every few
//!   milliseconds (200 kills; `IPCKIT_MPMC_KILLS` for more) and starts a
//!   new one, while it receives with `try_recv` + `skip_dead` and with
//!   `recv_timeout`. Each sender records how many of its sends returned
//!   `Ok`; every sender's items must arrive in order, without a gap or a
//!   duplicate, and each sender's count must be what it recorded (or one
//!   more: killed after `send` returned, before the record). Kills land
//!   only after a sender opened (a kill during `open` is another matter).
//!
//! Built with `harness = false` (see `mpmc_process.rs`): children are
//! forked from a single-threaded parent.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ipckit::channel::{self, mpmc};
use ipckit::error::Role;
use ipckit::shm::SharedMemory;
use support::{
    ChildFail, Ctx, EXIT_CHECK, EXIT_CORRUPTED_ITEM, EXIT_OUT_OF_ORDER, EXIT_RING_ERROR, Exit,
    SharedWords, ShmGuard, Suite, child_main, fail, fork_child, fork_main,
};

/// Generous: nothing here should wait for more than a few liveness slices.
const PATIENCE: Duration = Duration::from_secs(10);

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn cf<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> Result<T, ChildFail> {
    r.map_err(|e| fail(EXIT_RING_ERROR, format!("{what}: {e}")))
}

/// Item `seq` of sender `id`.
fn item(id: u64, seq: u64) -> u64 {
    (id << 32) | seq
}

// ---------------------------------------------------------------------------
// The channel object's layout (`ipckit::channel`, `ipckit::mpmc`,
// `ipckit::channel::liveness`), for a channel of `u64`.

const TAIL: usize = 128;
const LOST: usize = 136;
const HEAD: usize = 256;
const SKIPPED: usize = 264;
const SLOTS: usize = 384;
const STRIDE: usize = 16;

/// Offset of the liveness block of a `u64` channel of `capacity`.
fn liveness(capacity: u32) -> usize {
    channel::liveness_offset(ipckit::mpmc::Ring::<u64>::region_len(capacity).unwrap())
        .expect("a channel of this capacity has a liveness block")
}

/// The `u32` at `offset` of the channel object mapped at `base`.
///
/// # Safety
/// `offset` is 4-aligned and inside the mapping, which outlives the result.
unsafe fn word<'m>(base: *mut u8, offset: usize) -> &'m AtomicU32 {
    // SAFETY: passed on to the caller; shared words are only used
    // atomically.
    unsafe { &*base.add(offset).cast::<AtomicU32>() }
}

/// In a child that holds an endpoint of `role` on the channel mapped at
/// `base`: claims the next position as the ring does (announces it in this
/// process's intent, then compare-and-swaps `tail` or `head`) and dies by
/// SIGKILL before writing, publishing or releasing anything.
fn claim_and_die(base: *mut u8, capacity: u32, role: Role) -> ChildFail {
    let block = liveness(capacity);
    let (position_at, slots_at, intents_at) = match role {
        Role::Producer => (TAIL, block + 64, block + 2112),
        Role::Consumer => (HEAD, block + 1088, block + 2624),
    };
    let me = std::process::id();
    let at = |offset: usize| -> &AtomicU32 {
        // SAFETY: every caller passes an offset of the documented layout
        // (4-aligned, inside the object for a `u64` channel of `capacity`),
        // and the endpoint the caller holds keeps the object mapped until
        // this process dies.
        unsafe { word(base, offset) }
    };
    let mine = (0..64).find(|&i| {
        // The slot word (liveness layout version 2): bits 0..2 the state
        // (2: active), bits 2..24 the holder's pid.
        let word = at(slots_at + 16 * i).load(Ordering::Acquire);
        word & 0b11 == 2 && (word >> 2) & ((1 << 22) - 1) == me
    });
    let Some(i) = mine else {
        return fail(EXIT_CHECK, "no active liveness slot records this process");
    };
    let (position, span) = (at(intents_at + 8 * i), at(intents_at + 8 * i + 4));
    let claim = at(position_at);
    let until = Instant::now() + PATIENCE;
    while Instant::now() < until {
        let p = claim.load(Ordering::Acquire);
        let stamp = at(SLOTS + (p & (capacity - 1)) as usize * STRIDE);
        let ready = match role {
            Role::Producer => p,                 // free for `p`
            Role::Consumer => p.wrapping_add(1), // published for `p`
        };
        if stamp.load(Ordering::Acquire) != ready {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        span.store(1, Ordering::Relaxed);
        position.store(p, Ordering::Release);
        if claim
            .compare_exchange(p, p.wrapping_add(1), Ordering::Release, Ordering::Acquire)
            .is_ok()
        {
            // SAFETY: ends this process; nothing after it runs.
            unsafe { libc::raise(libc::SIGKILL) };
        }
    }
    fail(EXIT_CHECK, "never found a position to claim")
}

fn expect_killed(child: &mut support::Child) -> Result<(), String> {
    let exit = child.wait(Instant::now() + PATIENCE)?;
    ensure!(
        exit == Exit::Signal(libc::SIGKILL),
        "the dying child ended with {exit}"
    );
    Ok(())
}

/// The recovery counts of the channel `rx` is on, read from the region.
fn counts(mem: &channel::Memory) -> (u32, u32) {
    let base = mem.region().as_ptr();
    // SAFETY: offsets 264 and 136 are inside the core region of the live
    // mapping `mem`.
    unsafe {
        (
            word(base, SKIPPED).load(Ordering::Relaxed),
            word(base, LOST).load(Ordering::Relaxed),
        )
    }
}

/// Receives until `total` items came, checking each sender's order and
/// that no item comes twice; returns the longest single wait.
fn receive_all(
    rx: &mpmc::Receiver<u64>,
    senders: u64,
    expected: &[u64],
) -> Result<Duration, String> {
    let total: u64 = expected.iter().sum();
    let mut next = vec![0u64; senders as usize];
    let mut longest = Duration::ZERO;
    for n in 0..total {
        let started = Instant::now();
        let v = rx.recv_timeout(PATIENCE).ctx(&format!(
            "recv after {n} of {total} items (per sender {next:?})"
        ))?;
        longest = longest.max(started.elapsed());
        let (id, seq) = (v >> 32, v & 0xffff_ffff);
        ensure!(id < senders, "item {v:#x} from no sender");
        ensure!(
            seq == next[id as usize],
            "sender {id}: item {seq}, expected {}",
            next[id as usize]
        );
        next[id as usize] += 1;
    }
    ensure!(next == expected, "received {next:?}, expected {expected:?}");
    Ok(longest)
}

/// A sender that dies mid-send: `ITEMS` committed first, then the claim.
fn dying_sender(name: &str, capacity: u32, items: u64) -> Result<support::Child, String> {
    let name = name.to_owned();
    fork_child(move || {
        child_main(|| {
            let tx = cf(mpmc::Sender::<u64>::open(&name), "open")?;
            for seq in 0..items {
                cf(tx.send_timeout(item(0, seq), PATIENCE), "send")?;
            }
            Err(claim_and_die(
                tx.memory().region().as_ptr(),
                capacity,
                Role::Producer,
            ))
        })
    })
}

fn hole_with_live_senders() -> Result<String, String> {
    const CAP: u32 = 64;
    const DEAD_ITEMS: u64 = 5;
    const PER_SENDER: u64 = 3000;
    let g = ShmGuard::new("mpmc-hole-live");
    let rx = mpmc::Receiver::<u64>::create(&g.0, CAP).ctx("create")?;
    expect_killed(&mut dying_sender(&g.0, CAP, DEAD_ITEMS)?)?;
    // Word 0: live senders done sending; word 1: the parent received all.
    let words = SharedWords::new();
    let mut senders = Vec::new();
    for id in 1..=2u64 {
        let (name, words) = (g.0.clone(), &words);
        senders.push(fork_main(move || {
            let tx = cf(mpmc::Sender::<u64>::open(&name), "open")?;
            for seq in 0..PER_SENDER {
                cf(tx.send_timeout(item(id, seq), PATIENCE), "send")?;
            }
            words.word(0).fetch_add(1, Ordering::AcqRel);
            // Stay alive (and open) until the receiver has everything.
            if !words.wait_for(1, 1, PATIENCE) {
                return Err(fail(EXIT_CHECK, "receiver never finished"));
            }
            Ok(())
        })?);
    }
    // On failure the senders are killed when `senders` drops.
    let longest = receive_all(&rx, 3, &[DEAD_ITEMS, PER_SENDER, PER_SENDER])?;
    words.word(1).store(1, Ordering::Release);
    for s in &mut senders {
        s.expect_ok(Instant::now() + PATIENCE)?;
    }
    ensure!(
        rx.try_recv().is_err_and(|e| e.is_empty()),
        "an item after all were received"
    );
    let (skipped, lost) = counts(rx.memory());
    ensure!(
        (skipped, lost) == (1, 0),
        "skipped {skipped}, lost {lost}: expected 1 hole skipped, nothing lost"
    );
    Ok(format!(
        "{} items, 1 hole skipped, longest recv {longest:.1?}",
        DEAD_ITEMS + 2 * PER_SENDER
    ))
}

fn hole_every_sender_gone() -> Result<String, String> {
    const CAP: u32 = 64;
    const DEAD_ITEMS: u64 = 5;
    const OTHER_ITEMS: u64 = 40;
    let g = ShmGuard::new("mpmc-hole-gone");
    let rx = mpmc::Receiver::<u64>::create(&g.0, CAP).ctx("create")?;
    expect_killed(&mut dying_sender(&g.0, CAP, DEAD_ITEMS)?)?;
    let name = g.0.clone();
    let mut other = fork_main(move || {
        let tx = cf(mpmc::Sender::<u64>::open(&name), "open")?;
        for seq in 0..OTHER_ITEMS {
            cf(tx.send_timeout(item(1, seq), PATIENCE), "send")?;
        }
        Ok(()) // closes
    })?;
    other.expect_ok(Instant::now() + PATIENCE)?;
    receive_all(&rx, 2, &[DEAD_ITEMS, OTHER_ITEMS])?;
    match rx.recv_timeout(PATIENCE) {
        Err(e) if e.is_peer_gone() => {}
        other => return Err(format!("expected PeerGone after the drain, got {other:?}")),
    }
    let (skipped, lost) = counts(rx.memory());
    ensure!((skipped, lost) == (1, 0), "skipped {skipped}, lost {lost}");
    Ok(format!(
        "{} items behind the hole delivered before PeerGone",
        OTHER_ITEMS
    ))
}

fn receiver_killed_holding_an_item() -> Result<String, String> {
    const CAP: u32 = 8;
    const ITEMS: u64 = 1000;
    let g = ShmGuard::new("mpmc-held");
    let tx = mpmc::Sender::<u64>::create(&g.0, CAP).ctx("create")?;
    // Word 0: the dying receiver opened; word 1: the other one opened;
    // words 2, 3: what the other one received (count, sum), 4: its verdict.
    let words = SharedWords::new();
    let (name, w) = (g.0.clone(), &words);
    let mut dying = fork_child(move || {
        child_main(|| {
            let rx = cf(mpmc::Receiver::<u64>::open(&name), "open")?;
            w.word(0).store(1, Ordering::Release);
            Err(claim_and_die(
                rx.memory().region().as_ptr(),
                CAP,
                Role::Consumer,
            ))
        })
    })?;
    ensure!(
        words.wait_for(0, 1, PATIENCE),
        "dying receiver never opened"
    );
    tx.send_timeout(item(0, 0), PATIENCE).ctx("send 0")?;
    expect_killed(&mut dying)?;
    let (name, w) = (g.0.clone(), &words);
    let mut receiver = fork_main(move || {
        let rx = cf(mpmc::Receiver::<u64>::open(&name), "open")?;
        w.word(1).store(1, Ordering::Release);
        let (mut count, mut sum, mut last) = (0u64, 0u64, 0u64);
        loop {
            match rx.recv_timeout(PATIENCE) {
                Ok(v) => {
                    if v >> 32 != 0 || v == 0 {
                        return Err(fail(EXIT_CORRUPTED_ITEM, format!("{v:#x}")));
                    }
                    if v <= last {
                        return Err(fail(EXIT_OUT_OF_ORDER, format!("{v} after {last}")));
                    }
                    (count, sum, last) = (count + 1, sum + v, v);
                }
                Err(e) if e.is_peer_gone() => break,
                Err(e) => return Err(fail(EXIT_RING_ERROR, format!("recv: {e}"))),
            }
        }
        w.word(2).store(count, Ordering::Release);
        w.word(3).store(sum, Ordering::Release);
        Ok(())
    })?;
    ensure!(words.wait_for(1, 1, PATIENCE), "receiver never opened");
    let started = Instant::now();
    for seq in 1..=ITEMS {
        tx.send_timeout(item(0, seq), PATIENCE)
            .ctx(&format!("send {seq} of {ITEMS}"))?;
    }
    let elapsed = started.elapsed();
    let (skipped, lost) = counts(tx.memory());
    drop(tx);
    receiver.expect_ok(Instant::now() + PATIENCE)?;
    let (count, sum) = (
        words.word(2).load(Ordering::Acquire),
        words.word(3).load(Ordering::Acquire),
    );
    ensure!(
        count == ITEMS && sum == ITEMS * (ITEMS + 1) / 2,
        "the live receiver got {count} items (sum {sum}); expected items 1..={ITEMS}"
    );
    ensure!(
        (skipped, lost) == (0, 1),
        "skipped {skipped}, lost {lost}: expected the held item counted lost"
    );
    Ok(format!(
        "{ITEMS} items past the held slot in {elapsed:.1?}; the held item counted lost"
    ))
}

fn random_sender_kills() -> Result<String, String> {
    const CAP: u32 = 16;
    const AT_ONCE: usize = 3;
    let kills: usize = std::env::var("IPCKIT_MPMC_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let incarnations = kills + AT_ONCE;
    let g = ShmGuard::new("mpmc-kills");
    let rx = mpmc::Receiver::<u64>::create(&g.0, CAP).ctx("create")?;
    // Per sender incarnation `id`: word 2 id = sends that returned Ok,
    // word 2 id + 1 = opened.
    let records = ipckit::shm::SharedMapping::anonymous((16 * incarnations).next_multiple_of(4096))
        .ctx("mmap")?;
    let record = |i: usize| {
        // SAFETY: `i < 2 × incarnations` words of the page-aligned mapping,
        // which outlives every use (children exit before it drops), only
        // accessed atomically.
        unsafe {
            &*records
                .as_ptr()
                .cast::<std::sync::atomic::AtomicU64>()
                .add(i)
        }
    };
    let spawn = |id: usize| {
        let name = g.0.clone();
        fork_main(move || {
            let tx = cf(mpmc::Sender::<u64>::open(&name), "open")?;
            record(2 * id + 1).store(1, Ordering::Release);
            for seq in 0.. {
                cf(tx.send_timeout(item(id as u64, seq), PATIENCE), "send")?;
                record(2 * id).store(seq + 1, Ordering::Release);
            }
            Ok(())
        })
    };
    let mut next = vec![0u64; incarnations];
    let mut check = |v: u64| -> Result<(), String> {
        let (id, seq) = ((v >> 32) as usize, v & 0xffff_ffff);
        ensure!(id < incarnations, "item {v:#x} from no sender");
        ensure!(
            seq == next[id],
            "sender {id}: item {seq}, expected {}",
            next[id]
        );
        next[id] += 1;
        Ok(())
    };
    let mut rng = support::Rng(0x9E37_79B9_7F4A_7C15 ^ u64::from(std::process::id()));
    let mut alive: Vec<(usize, support::Child)> = Vec::new();
    for id in 0..AT_ONCE {
        alive.push((id, spawn(id)?));
    }
    let (mut spawned, mut killed) = (AT_ONCE, 0);
    let started = Instant::now();
    let mut kill_at = Instant::now() + Duration::from_micros(rng.upto(4000));
    while killed < kills {
        ensure!(
            started.elapsed() < 20 * PATIENCE,
            "no progress: {killed} kills"
        );
        if rng.upto(2) == 1 {
            match rx.try_recv() {
                Ok(v) => check(v)?,
                // Busy: a hole, perhaps a dead sender's, at the front.
                Err(e) if e.is_empty() || e.is_busy() => {
                    rx.skip_dead().ctx("skip_dead")?;
                }
                Err(e) => return Err(format!("try_recv: {e}")),
            }
        } else {
            match rx.recv_timeout(Duration::from_millis(2)) {
                Ok(v) => check(v)?,
                Err(e) if e.is_timeout() => {}
                // Every sender that had opened is dead, and the new ones are
                // still opening: right, and not the end.
                Err(e) if e.is_peer_gone() => {}
                Err(e) => return Err(format!("recv_timeout: {e}")),
            }
        }
        if Instant::now() < kill_at {
            continue;
        }
        let victim = rng.upto(alive.len() as u64) as usize - 1;
        if record(2 * alive[victim].0 + 1).load(Ordering::Acquire) == 0 {
            continue; // still opening
        }
        let (_, mut child) = alive.swap_remove(victim);
        child.kill();
        killed += 1;
        alive.push((spawned, spawn(spawned)?));
        spawned += 1;
        kill_at = Instant::now() + Duration::from_micros(rng.upto(4000));
    }
    for (_, child) in &mut alive {
        child.kill();
    }
    // Every sender is gone: drain, skipping the holes the kills left.
    loop {
        match rx.recv_timeout(PATIENCE) {
            Ok(v) => check(v)?,
            Err(e) if e.is_peer_gone() => break,
            Err(e) => return Err(format!("final drain: {e}")),
        }
    }
    let mut items = 0;
    for (id, &got) in next.iter().enumerate().take(spawned) {
        let committed = record(2 * id).load(Ordering::Acquire);
        ensure!(
            got == committed || got == committed + 1,
            "sender {id}: {got} items received, {committed} sends returned Ok"
        );
        items += got;
    }
    let skipped = rx.recoveries().skipped;
    Ok(format!(
        "{killed} kills, {items} items checked, {skipped} holes skipped, {:.1?}",
        started.elapsed()
    ))
}

fn main() {
    type Test = fn() -> Result<String, String>;
    let tests: &[(&str, Test)] = &[
        ("random sender kills", random_sender_kills),
        ("hole, live senders", hole_with_live_senders),
        ("hole, every sender gone", hole_every_sender_gone),
        (
            "receiver killed holding an item",
            receiver_killed_holding_an_item,
        ),
    ];
    Suite::new()
        .tests(tests.iter().copied())
        .leftovers_checked()
        .run()
        .exit();
}

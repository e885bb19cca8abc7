//! The raw floors every row is compared with: a bare cache-line ping-pong
//! (the hardware's: the lower bound of every shared-memory round trip), a
//! raw futex ping-pong (the kernel's wake-up, the reference of the kernel
//! mechanisms), and single-threaded cold `memcpy` (the copy every message
//! costs).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::harness::{Sample, control, net_since, new_hist};
use super::peer::Peer;

/// The cache-line floor: the fastest of the ways two sides can bounce a
/// value between their CPUs through shared cache lines, so that nothing
/// that moves data between the two can beat it. Each turn measures every
/// [`VARIANTS`] way for a quarter of the turn and keeps the fastest: one
/// word on one line (written by both sides in turn) or two words on two
/// lines (one written by each side), each with and without a `pause`
/// (`spin_loop`) in the spin. Which wins depends on the CPU: on recent
/// Intel cores a `pause` lasts about 140 cycles, so a spin that pauses
/// notices the change up to that late, while on the AMD EPYC VM the
/// pausing spins were the faster (a bare spin's loads contend for the line
/// the other side is writing). Otherwise the spins are a bare load and
/// compare: no system call, no other shared word, no clock; a local count
/// bounds them, and only past it (the peer is not answering) does a side
/// look at its peer or the abort word. The clock is read once per
/// [`RTT_BATCH`] round trips and each batch's mean is one value of the
/// histogram (an `Instant::now` per round trip costs 20-40 ns on a VM).
pub fn cache_line(turn: Duration, warm_up: Duration) -> Result<Sample, String> {
    let part = turn / VARIANTS.len() as u32;
    let warm = warm_up / VARIANTS.len() as u32;
    let mut best: Option<(usize, Sample)> = None;
    for (i, &(two_lines, pause)) in VARIANTS.iter().enumerate() {
        let s = match (two_lines, pause) {
            (false, false) => bounce::<false, false>(part, warm)?,
            (false, true) => bounce::<false, true>(part, warm)?,
            (true, false) => bounce::<true, false>(part, warm)?,
            (true, true) => bounce::<true, true>(part, warm)?,
        };
        let median = |s: &Sample| s.hist.value_at_quantile(0.5);
        if best.as_ref().is_none_or(|(_, b)| median(&s) < median(b)) {
            best = Some((i, s));
        }
    }
    let (i, sample) = best.ok_or("no variant")?;
    WINNERS[i].fetch_add(1, Ordering::Relaxed);
    Ok(sample)
}

/// The ways [`cache_line`] measures: (two lines, pause).
pub const VARIANTS: [(bool, bool); 4] =
    [(false, false), (false, true), (true, false), (true, true)];

/// How often each of [`VARIANTS`] was the fastest in a turn.
pub static WINNERS: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];

/// A line for the report: which ways the floor's turns took.
pub fn winners() -> Option<String> {
    let parts: Vec<String> = VARIANTS
        .iter()
        .zip(&WINNERS)
        .filter_map(|(&(two, pause), n)| {
            let n = n.load(Ordering::Relaxed);
            (n > 0).then(|| {
                format!(
                    "{} {} ({n})",
                    if two { "two lines" } else { "one line" },
                    if pause { "with pause" } else { "no pause" }
                )
            })
        })
        .collect();
    (!parts.is_empty()).then(|| {
        format!(
            "cache-line floor: the fastest way per turn: {}",
            parts.join(", ")
        )
    })
}

/// Round trips: the measuring side writes an odd request to the request
/// word, the peer answers with request + 1 in the reply word (the same
/// word without `TWO_LINES`).
fn bounce<const TWO_LINES: bool, const PAUSE: bool>(
    turn: Duration,
    warm_up: Duration,
) -> Result<Sample, String> {
    let ctl = control();
    let request = ctl.line(0);
    let reply = if TWO_LINES { ctl.line(1) } else { request };
    request.store(0, Ordering::Release);
    reply.store(0, Ordering::Release);
    ctl.abort().store(0, Ordering::Release);
    let mut peer = Peer::fork(move || {
        let mut seen = 0u32;
        loop {
            let mut spins = 0u32;
            let v = loop {
                let v = request.load(Ordering::Acquire);
                if v != seen {
                    break v;
                }
                if PAUSE {
                    std::hint::spin_loop();
                }
                spins = spins.wrapping_add(1);
                if spins == SPIN_LIMIT {
                    spins = 0;
                    if control().aborted() {
                        return Err("aborted".into());
                    }
                }
            };
            if v == u32::MAX {
                return Ok(());
            }
            // Requests are odd and below u32::MAX: `v + 1` does not wrap.
            let answer = v.wrapping_add(1);
            // On one line the answer replaces the request: wait for a
            // change from the answer.
            seen = if TWO_LINES { v } else { answer };
            reply.store(answer, Ordering::Release);
        }
    })?;
    let result = (|| -> Result<Sample, String> {
        let mut hist = new_hist();
        let mut last = 0u32;
        // `RTT_BATCH` round trips; `Err` once the peer ended.
        let mut batch = |peer: &mut Peer| -> Result<Duration, String> {
            let t0 = Instant::now();
            for _ in 0..RTT_BATCH {
                // Odd requests, even answers; never u32::MAX (the stop).
                let r = if last >= u32::MAX - 1 { 1 } else { last + 1 };
                last = r + 1;
                request.store(r, Ordering::Release);
                let mut spins = 0u32;
                while reply.load(Ordering::Acquire) != last {
                    if PAUSE {
                        std::hint::spin_loop();
                    }
                    spins = spins.wrapping_add(1);
                    if spins == SPIN_LIMIT {
                        spins = 0;
                        peer.check_alive()?;
                    }
                }
            }
            Ok(t0.elapsed())
        };
        let warm_until = Instant::now() + warm_up;
        while Instant::now() < warm_until {
            batch(&mut peer)?;
        }
        let started = Instant::now();
        let mut count = 0u64;
        while count == 0 || started.elapsed() < turn {
            let t = batch(&mut peer)?;
            let ns = (t.as_nanos() as u64).div_ceil(RTT_BATCH as u64);
            hist.saturating_record(ns.max(1));
            count += RTT_BATCH as u64;
        }
        Ok(Sample {
            hist,
            count,
            elapsed: started.elapsed(),
        })
    })();
    if result.is_err() {
        ctl.abort().store(1, Ordering::Release);
    }
    request.store(u32::MAX, Ordering::Release);
    let ended = peer.finish(Duration::from_secs(5));
    let sample = result?;
    ended?;
    Ok(sample)
}

/// Round trips the cache-line floor times at once.
pub const RTT_BATCH: usize = 64;
/// Spins before a side looks whether its peer still runs (tens of ms).
const SPIN_LIMIT: u32 = 1 << 24;

/// Round trips through two words on their own cache lines, each side
/// sleeping in `FUTEX_WAIT` until its word changes and `FUTEX_WAKE`-ing the
/// other side's: the kernel's wake-up, the reference of the sleeping rows.
pub fn futex(duration: Duration, warm_up: Duration) -> Result<Sample, String> {
    let ctl = control();
    let (request, reply) = (ctl.line(2), ctl.line(3));
    request.store(0, Ordering::Release);
    reply.store(0, Ordering::Release);
    ctl.abort().store(0, Ordering::Release);
    let mut peer = Peer::fork(move || {
        let mut seen = 0u32;
        loop {
            let v = wait_change(request, seen, || control().aborted())?;
            if v == u32::MAX {
                return Ok(());
            }
            seen = v;
            reply.store(v, Ordering::Release);
            wake(reply);
        }
    })?;
    let result = (|| -> Result<Sample, String> {
        let mut hist = new_hist();
        let mut v = 0u32;
        let mut one = |peer: &mut Peer| -> Result<u64, String> {
            v += 1;
            let t0 = Instant::now();
            request.store(v, Ordering::Release);
            wake(request);
            let mut checks = 0u32;
            wait_change(reply, v - 1, || {
                checks += 1;
                checks % 64 == 0 && peer.check_alive().is_err()
            })?;
            Ok(net_since(t0))
        };
        let warm_until = Instant::now() + warm_up;
        while Instant::now() < warm_until {
            one(&mut peer)?;
        }
        let started = Instant::now();
        let mut count = 0u64;
        while count % 16 != 0 || started.elapsed() < duration {
            hist.saturating_record(one(&mut peer)?.max(1));
            count += 1;
        }
        Ok(Sample {
            hist,
            count,
            elapsed: started.elapsed(),
        })
    })();
    if result.is_err() {
        ctl.abort().store(1, Ordering::Release);
    }
    request.store(u32::MAX, Ordering::Release);
    wake(request);
    let ended = peer.finish(Duration::from_secs(5));
    let sample = result?;
    ended?;
    Ok(sample)
}

/// Waits in `FUTEX_WAIT` until `word` is no longer `old` and returns it;
/// `give_up` is asked every 100 ms asleep.
fn wait_change(
    word: &AtomicU32,
    old: u32,
    mut give_up: impl FnMut() -> bool,
) -> Result<u32, String> {
    loop {
        let v = word.load(Ordering::Acquire);
        if v != old {
            return Ok(v);
        }
        let ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 100_000_000,
        };
        // SAFETY: `word` is a valid, aligned u32 in a shared mapping;
        // FUTEX_WAIT (shared) only reads it; `ts` outlives the call.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT,
                old,
                &raw const ts,
                0usize,
                0u32,
            )
        };
        if word.load(Ordering::Acquire) == old && give_up() {
            return Err("the peer ended".into());
        }
    }
}

fn wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE (shared) on a valid, aligned word; wakes at most
    // one waiter and touches no memory.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            1,
            0usize,
            0usize,
            0u32,
        )
    };
}

/// Single-threaded `memcpy` of `size`-byte messages from a 64 MiB source to
/// a 64 MiB destination, moving through them (cold, as a message from
/// another core is), timed in 1 ms windows like the throughput rows.
pub fn memcpy(size: usize, duration: Duration, bufs: &mut (Vec<u8>, Vec<u8>)) -> Sample {
    let (src, dst) = bufs;
    let span = src.len() / size * size;
    let mut hist = new_hist();
    let mut at = 0;
    let started = Instant::now();
    let mut count = 0u64;
    let (mut window_start, mut window_count) = (started, 0u64);
    loop {
        for _ in 0..16 {
            dst[at..at + size].copy_from_slice(&src[at..at + size]);
            at += size;
            if at >= span {
                at = 0;
            }
        }
        std::hint::black_box(&mut dst[..]);
        count += 16;
        let now = Instant::now();
        if now - window_start >= Duration::from_millis(1) {
            let ps = (now - window_start).as_nanos() as u64 * 1000 / (count - window_count);
            hist.saturating_record(ps.max(1));
            (window_start, window_count) = (now, count);
        }
        if now - started >= duration {
            break;
        }
    }
    Sample {
        hist,
        count,
        elapsed: started.elapsed(),
    }
}

/// Two 64 MiB buffers for [`memcpy`], kept out of the forked peers
/// (`MADV_DONTFORK`): every turn of every round forks a peer, and copying
/// the page tables of 128 MiB that no peer touches made each fork slower.
pub fn copy_buffers() -> (Vec<u8>, Vec<u8>) {
    let bufs = (vec![1u8; 64 << 20], vec![0u8; 64 << 20]);
    for b in [&bufs.0, &bufs.1] {
        // The whole pages inside the buffer (malloc's header page stays).
        // SAFETY: plain query.
        let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
            p if p > 0 => p as usize,
            _ => 4096,
        };
        let start = (b.as_ptr() as usize).next_multiple_of(page);
        let end = (b.as_ptr() as usize + b.len()) / page * page;
        if end > start {
            // SAFETY: [start, end) is page-aligned and inside the buffer's
            // live allocation; MADV_DONTFORK only changes what a child
            // inherits, not the contents or the mapping in this process. A
            // peer child never touches these buffers: it runs its own
            // closure (which holds no reference to them) and `_exit`s
            // without returning into the frames that own them. A failure
            // (EINVAL) only leaves them inherited, as before.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTFORK) };
        }
    }
    bufs
}

//! The raw floors every row is compared with: a bare cache-line ping-pong
//! (the hardware's), a raw futex ping-pong (the kernel's wake-up), and
//! single-threaded cold `memcpy` (the copy every message costs).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::harness::{Sample, control, new_hist};
use super::peer::Peer;

/// Round trips between two words on their own cache lines: each side spins
/// until its word changes. `futex`: sleep in `FUTEX_WAIT` instead of
/// spinning, and `FUTEX_WAKE` the other side.
pub fn ping_pong(futex: bool, duration: Duration, warm_up: Duration) -> Result<Sample, String> {
    let ctl = control();
    let (request, reply) = (ctl.line(0), ctl.line(1));
    request.store(0, Ordering::Release);
    reply.store(0, Ordering::Release);
    ctl.abort().store(0, Ordering::Release);
    let mut peer = Peer::fork(move || {
        let mut seen = 0u32;
        loop {
            let v = wait_change(request, seen, futex, || control().aborted())?;
            if v == u32::MAX {
                return Ok(());
            }
            seen = v;
            reply.store(v, Ordering::Release);
            if futex {
                wake(reply);
            }
        }
    })?;
    let result = (|| -> Result<Sample, String> {
        let mut hist = new_hist();
        let mut v = 0u32;
        let mut one = |peer: &mut Peer| -> Result<u64, String> {
            v += 1;
            let t0 = Instant::now();
            request.store(v, Ordering::Release);
            if futex {
                wake(request);
            }
            let mut checks = 0u32;
            wait_change(reply, v - 1, futex, || {
                checks += 1;
                checks % 64 == 0 && peer.check_alive().is_err()
            })?;
            Ok(t0.elapsed().as_nanos() as u64)
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

/// Waits until `word` is no longer `old` and returns it; `give_up` is
/// asked now and then (every 100 ms asleep, every 2^16 spins).
fn wait_change(
    word: &AtomicU32,
    old: u32,
    futex: bool,
    mut give_up: impl FnMut() -> bool,
) -> Result<u32, String> {
    let mut spins = 0u32;
    loop {
        let v = word.load(Ordering::Acquire);
        if v != old {
            return Ok(v);
        }
        if futex {
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
        } else {
            spins = spins.wrapping_add(1);
            if spins % (1 << 16) == 0 && give_up() {
                return Err("the peer ended".into());
            }
            std::hint::spin_loop();
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

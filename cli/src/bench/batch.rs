//! Batched throughput: [`ITEMS`] items per call where a ring has a batch
//! call, beside the rows of one message per call, so the table shows what
//! batching buys. The SPSC channel's `try_send_slice` / `try_recv_slice`
//! (the ring's `push_partial_slice` / `pop_partial_slice`: as many as fit,
//! one index publication) and the MPMC channel's (one compare-and-swap per
//! run) across two processes, and rtrb's chunks
//! (`write_chunk_uninit` / `read_chunk`) between two threads; both sides
//! busy-poll. The peer produces; the measuring side consumes and records
//! nanoseconds per item over 1 ms windows, like [`harness::throughput`].
//!
//! [`harness::throughput`]: super::harness::throughput

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ipckit::channel::{mpmc, spsc};
use ipckit::error::Error;
use ipckit::shm::ShmObject;

use super::cleanup;
use super::harness::{Sample, control, new_hist};
use super::mechanisms::Mech;
use super::peer::Peer;

/// Items per call.
pub const ITEMS: usize = 64;
const WINDOW: Duration = Duration::from_millis(1);
/// Empty polls between two looks at the peer.
const POLLS: u32 = 1 << 16;

/// Why `mech` has no batched row at `size`, if it has none.
pub fn why_not(mech: Mech, size: usize) -> Option<String> {
    match mech {
        Mech::ShmSpscBusy | Mech::ShmMpmc | Mech::Rtrb if size <= 4096 => None,
        Mech::ShmSpscBusy | Mech::ShmMpmc | Mech::Rtrb => {
            Some("its ring holds 16 items of 64 KiB, fewer than a batch".into())
        }
        Mech::ShmBytes | Mech::ShmMpscBytes => {
            Some("the frame rings grant one frame per call (no batch call)".into())
        }
        Mech::Crossbeam => Some("ArrayQueue has no batch call".into()),
        _ => Some("no batch call".into()),
    }
}

/// Whether a missing batched row of `mech` is worth a "not measured" line
/// (the rings; not the kernel mechanisms or the floors).
pub fn worth_saying(mech: Mech) -> bool {
    matches!(
        mech,
        Mech::ShmSpscBusy
            | Mech::ShmMpmc
            | Mech::ShmBytes
            | Mech::ShmMpscBytes
            | Mech::Rtrb
            | Mech::Crossbeam
    )
}

/// One turn of `mech`'s batched throughput with `size`-byte items.
pub fn throughput(mech: Mech, size: usize, turn: Duration) -> Result<Sample, String> {
    match (mech, size) {
        (Mech::ShmSpscBusy, 8) => shm_spsc::<8>(turn),
        (Mech::ShmSpscBusy, 64) => shm_spsc::<64>(turn),
        (Mech::ShmSpscBusy, 4096) => shm_spsc::<4096>(turn),
        (Mech::ShmMpmc, 8) => shm_mpmc::<8>(turn),
        (Mech::ShmMpmc, 64) => shm_mpmc::<64>(turn),
        (Mech::ShmMpmc, 4096) => shm_mpmc::<4096>(turn),
        (Mech::Rtrb, 8) => rtrb_chunks::<8>(turn),
        (Mech::Rtrb, 64) => rtrb_chunks::<64>(turn),
        (Mech::Rtrb, 4096) => rtrb_chunks::<4096>(turn),
        _ => Err(why_not(mech, size).unwrap_or_else(|| "no batched row".into())),
    }
}

/// Slots for `n`-byte items: about 1 MiB, 16 to 1024 (as the one-per-call
/// rows' rings).
fn slots(n: usize) -> u32 {
    ((1usize << 20) / n).clamp(16, 1024) as u32
}

/// The SPSC channel's `try_send_slice` / `try_recv_slice`.
fn shm_spsc<const N: usize>(turn: Duration) -> Result<Sample, String> {
    channel_batches::<N, _, _>(
        turn,
        |name| spsc::Receiver::create(name, slots(N)),
        spsc::Sender::open,
        |tx, items| tx.try_send_slice(items),
        |rx, buf| rx.try_recv_slice(buf),
    )
}

/// The MPMC channel's `try_send_slice` / `try_recv_slice` (the ring's
/// partial slices: one compare-and-swap claims a run of slots).
fn shm_mpmc<const N: usize>(turn: Duration) -> Result<Sample, String> {
    channel_batches::<N, _, _>(
        turn,
        |name| mpmc::Receiver::create(name, slots(N)),
        mpmc::Sender::open,
        |tx, items| tx.try_send_slice(items),
        |rx, buf| rx.try_recv_slice(buf),
    )
}

/// One turn of a channel's batch calls: this process creates the channel
/// and receives, a forked peer opens it and sends runs of [`ITEMS`]. `Full`,
/// `Empty` and `Busy` (an MPMC slot at a run's end still being written or
/// read) are polled again.
fn channel_batches<const N: usize, Tx, Rx>(
    turn: Duration,
    create: impl FnOnce(&str) -> ipckit::Result<Rx>,
    open: impl FnOnce(&str) -> ipckit::Result<Tx>,
    send: impl Fn(&mut Tx, &[[u8; N]]) -> ipckit::Result<usize>,
    mut recv: impl FnMut(&mut Rx, &mut [[u8; N]]) -> ipckit::Result<usize>,
) -> Result<Sample, String> {
    let name = batch_name();
    cleanup::register_shm(&name);
    let result = (|| {
        let mut rx = create(&name).map_err(|e| format!("create: {e}"))?;
        let ctl = control();
        ctl.stop().store(0, Ordering::Release);
        ctl.abort().store(0, Ordering::Release);
        let peer_name = name.clone();
        let peer = Peer::fork(move || {
            let mut tx = open(&peer_name).map_err(|e| format!("peer open: {e}"))?;
            let items = vec![[7u8; N]; ITEMS];
            while !control().stopped() && !control().aborted() {
                match send(&mut tx, &items) {
                    Ok(0) | Err(Error::Full | Error::Busy) => std::hint::spin_loop(),
                    Ok(_) => {}
                    Err(e) => return Err(format!("peer send: {e}")),
                }
            }
            Ok(())
        })?;
        #[allow(clippy::useless_vec)] // 256 KiB at 4 KiB items: not on the stack
        let mut buf = vec![[0u8; N]; ITEMS];
        consume(peer, turn, move || match recv(&mut rx, &mut buf) {
            Ok(n) => Ok(n),
            Err(Error::Empty | Error::Busy) => Ok(0),
            Err(e) => Err(format!("receive: {e}")),
        })
    })();
    let _ = ShmObject::remove(&name);
    result
}

/// A fresh object name for one batched turn.
fn batch_name() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "{}-batch-{}",
        cleanup::prefix(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn rtrb_chunks<const N: usize>(turn: Duration) -> Result<Sample, String> {
    use rtrb::chunks::ChunkError::TooFewSlots;
    let (mut tx, mut rx) = rtrb::RingBuffer::<[u8; N]>::new(slots(N) as usize);
    let ctl = control();
    ctl.stop().store(0, Ordering::Release);
    ctl.abort().store(0, Ordering::Release);
    // As in the criterion bench: a chunk call fails unless all `n` slots
    // are there, and its error carries the count found, which is then
    // requested (as ipckit's "up to 64" does).
    let peer = Peer::thread(move || {
        while !control().stopped() && !control().aborted() {
            let n = match tx.write_chunk_uninit(ITEMS) {
                Ok(chunk) => {
                    chunk.fill_from_iter(std::iter::repeat([7u8; N]));
                    continue;
                }
                Err(TooFewSlots(0)) => {
                    std::hint::spin_loop();
                    continue;
                }
                Err(TooFewSlots(n)) => n,
            };
            if let Ok(chunk) = tx.write_chunk_uninit(n) {
                chunk.fill_from_iter(std::iter::repeat([7u8; N]));
            }
        }
        Ok(())
    });
    #[allow(clippy::useless_vec)] // 256 KiB at 4 KiB items: not on the stack
    let mut buf = vec![[0u8; N]; ITEMS];
    consume(peer, turn, move || {
        let n = match rx.read_chunk(ITEMS) {
            Ok(_) => ITEMS,
            Err(TooFewSlots(0)) => return Ok(0),
            Err(TooFewSlots(n)) => n,
        };
        let chunk = rx.read_chunk(n).map_err(|e| format!("read_chunk: {e}"))?;
        let (a, b) = chunk.as_slices();
        buf[..a.len()].copy_from_slice(a);
        buf[a.len()..a.len() + b.len()].copy_from_slice(b);
        chunk.commit_all();
        Ok(n)
    })
}

/// Calls `take` (items received, 0 when empty) for `turn` after the first
/// items arrive, recording ns per item × 1000 per [`WINDOW`]; then stops
/// the peer.
fn consume(
    mut peer: Peer,
    turn: Duration,
    mut take: impl FnMut() -> Result<usize, String>,
) -> Result<Sample, String> {
    let result = (|| -> Result<Sample, String> {
        let mut hist = new_hist();
        let mut polls = 0u32;
        let mut poll = |peer: &mut Peer| -> Result<usize, String> {
            loop {
                let n = take()?;
                if n > 0 {
                    return Ok(n);
                }
                polls = polls.wrapping_add(1);
                if polls % POLLS == 0 {
                    peer.check_alive()?;
                    if cleanup::interrupted() {
                        return Err("interrupted".into());
                    }
                }
                std::hint::spin_loop();
            }
        };
        poll(&mut peer)?;
        let started = Instant::now();
        let (mut window_start, mut window_count, mut count) = (started, 0u64, 0u64);
        loop {
            count += poll(&mut peer)? as u64;
            let now = Instant::now();
            if now - window_start >= WINDOW {
                let ps = (now - window_start).as_nanos() as u64 * 1000 / (count - window_count);
                hist.saturating_record(ps.max(1));
                (window_start, window_count) = (now, count);
            }
            if now - started >= turn {
                return Ok(Sample {
                    hist,
                    count,
                    elapsed: now - started,
                });
            }
        }
    })();
    let ctl = control();
    ctl.stop().store(1, Ordering::Release);
    if result.is_err() {
        ctl.abort().store(1, Ordering::Release);
    }
    let ended = peer.finish(Duration::from_secs(5));
    let sample = result?;
    ended?;
    Ok(sample)
}

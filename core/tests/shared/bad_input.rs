//! A peer that writes garbage: the corrupted-index, bad-header and
//! oversized-frame checks of the SPSC ring and the SPSC frame ring, in a
//! form that runs unchanged on the host and in the Cortex-M firmware. Each
//! operation returns an error for the bad word, never panics, never reads or
//! writes outside the region, and keeps delivering what it already accepted.

use core::sync::atomic::Ordering::SeqCst;

use ipckit_core::region::{ENDIAN_MARKER, LAYOUT_VERSION};
use ipckit_core::{AlignedBytes, Error, frame, latest, spsc};

use super::peer::{MEM, PeerMemory};
use super::{Outcome, ensure, must};

const TAIL: usize = 128;
const PRODUCER_CLAIM: usize = 132;
const HEAD: usize = 256;
const DATA: usize = 384;

/// One check: gets scratch memory for its regions.
pub type Check = fn(&mut AlignedBytes<MEM>) -> Outcome;

/// Every check, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("spsc: corrupted indices", spsc_corrupted_indices),
    (
        "spsc: attach validates the header",
        spsc_attach_validates_the_header,
    ),
    ("spsc: garbage everywhere", spsc_garbage_everywhere),
    ("frame: oversized frames and records", frame_oversized),
    ("frame: corrupted indices", frame_corrupted_indices),
    ("frame: garbage everywhere", frame_garbage_everywhere),
    ("latest: garbage everywhere", latest_garbage_everywhere),
];

fn is_corrupted<T>(r: ipckit_core::Result<T>) -> bool {
    matches!(r, Err(Error::Corrupted(_)))
}

fn xorshift(x: &mut u32) -> u32 {
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    *x
}

fn spsc_corrupted_indices(bytes: &mut AlignedBytes<MEM>) -> Outcome {
    let mem = PeerMemory::new(bytes);
    let ring = must!(spsc::Ring::<u32>::init(mem.region(MEM), 4), "init");
    let (mut tx, mut rx) = must!(ring.split(), "split");
    must!(tx.push_partial_slice(&[1, 2, 3, 4]), "push");
    ensure!(rx.try_pop() == Ok(1), "first item");

    // `head` ahead of `tail`: the full producer reloads it and refuses it.
    mem.word(HEAD).store(9, SeqCst);
    ensure!(
        is_corrupted(tx.try_push(5)),
        "try_push with head ahead of tail"
    );
    ensure!(
        is_corrupted(tx.push_partial_slice(&[5, 5])),
        "push_partial_slice with a bad head"
    );
    ensure!(
        is_corrupted(tx.write_chunk_up_to(4)),
        "write_chunk with a bad head"
    );
    ensure!(
        tx.free_slots() == 0,
        "free_slots reads a bad head as a full ring"
    );

    // `tail` more than a capacity ahead: what was seen published still
    // arrives, then the reload is refused.
    mem.word(TAIL).store(1000, SeqCst);
    for v in 2..=4 {
        ensure!(
            rx.try_pop() == Ok(v),
            "items accepted before the corruption"
        );
    }
    ensure!(is_corrupted(rx.try_pop()), "try_pop with tail far ahead");
    ensure!(
        is_corrupted(rx.pop_partial_slice(&mut [0; 2])),
        "pop_partial_slice with a bad tail"
    );
    ensure!(
        is_corrupted(rx.read_chunk_up_to(1)),
        "read_chunk with a bad tail"
    );
    mem.word(TAIL).store(2, SeqCst);
    ensure!(is_corrupted(rx.try_pop()), "try_pop with tail behind head");

    // Claims validate the indices and give the role back on failure.
    drop((tx, rx));
    ensure!(
        is_corrupted(ring.producer()),
        "producer claim on bad indices"
    );
    ensure!(
        mem.word(PRODUCER_CLAIM).load(SeqCst) == 0,
        "claim given back"
    );
    mem.word(TAIL).store(4, SeqCst);
    mem.word(HEAD).store(4, SeqCst);
    let (mut tx, mut rx) = must!(ring.split(), "split after the repair");
    must!(tx.try_push(6), "push after the repair");
    ensure!(rx.try_pop() == Ok(6), "item after the repair");
    Ok(())
}

fn spsc_attach_validates_the_header(bytes: &mut AlignedBytes<MEM>) -> Outcome {
    let cases: [(usize, u32, Error); 9] = [
        (0, 0x1234_5678, Error::BadMagic),
        (
            4,
            LAYOUT_VERSION + 1,
            Error::VersionMismatch {
                found: LAYOUT_VERSION + 1,
                expected: LAYOUT_VERSION,
            },
        ),
        (
            8,
            99,
            Error::KindMismatch {
                found: 99,
                expected: 1,
            },
        ),
        (12, ENDIAN_MARKER.swap_bytes(), Error::ForeignEndian),
        (16, 3, Error::Corrupted("header state")),
        (20, 8, Error::ElementMismatch { size: 8, align: 4 }),
        (28, 3, Error::Corrupted("capacity in header")),
        (28, u32::MAX, Error::Corrupted("capacity in header")),
        (32, 256, Error::Corrupted("data offset in header")),
    ];
    for (offset, value, expected) in cases {
        let mem = PeerMemory::new(bytes);
        must!(spsc::Ring::<u32>::init(mem.region(MEM), 8), "init");
        mem.word(offset).store(value, SeqCst);
        match spsc::Ring::<u32>::attach(mem.region(MEM)) {
            Err(e) => ensure!(
                e == expected,
                "attach refused a bad header with the wrong error"
            ),
            Ok(_) => ensure!(false, "attach accepted a bad header"),
        }
    }
    // A valid capacity that the region is too short for.
    let mem = PeerMemory::new(bytes);
    must!(spsc::Ring::<u32>::init(mem.region(MEM), 8), "init");
    mem.word(28).store(1 << 20, SeqCst);
    ensure!(
        matches!(
            spsc::Ring::<u32>::attach(mem.region(MEM)),
            Err(Error::TooSmall { .. })
        ),
        "attach accepted a capacity larger than the region"
    );
    Ok(())
}

fn spsc_garbage_everywhere(bytes: &mut AlignedBytes<MEM>) -> Outcome {
    let mem = PeerMemory::new(bytes);
    let ring = must!(spsc::Ring::<u32>::init(mem.region(MEM), 8), "init");
    let (mut tx, mut rx) = must!(ring.split(), "split");
    let mut x = 0x9E37_79B9u32;
    for _ in 0..if cfg!(miri) { 200 } else { 2000 } {
        let v = xorshift(&mut x);
        mem.word(if v & 1 == 0 { TAIL } else { HEAD })
            .store(v >> 3, SeqCst);
        let _ = tx.try_push(v);
        let _ = tx.push_partial_slice(&[v; 5]);
        let _ = rx.try_pop();
        let _ = rx.pop_partial_slice(&mut [0; 5]);
        if let Ok(c) = rx.read_chunk_up_to(9) {
            ensure!(c.len() <= 8, "read chunk longer than the ring");
            c.commit_all();
        }
        if let Ok(c) = tx.write_chunk_up_to(9) {
            ensure!(c.len() <= 8, "write chunk longer than the ring");
            c.fill_from_iter(0..);
        }
    }
    Ok(())
}

/// A 256-byte frame ring with three 8-byte frames committed.
fn three_frames<'m>(mem: &'m PeerMemory<'_>) -> Result<frame::spsc::Ring<'m>, super::Failure> {
    let ring = must!(
        frame::spsc::Ring::init(mem.region(DATA + 256), 256),
        "frame init"
    );
    let mut tx = must!(ring.producer(), "frame producer");
    for i in 0..3u8 {
        must!(tx.try_send(&[i; 8]), "frame send");
    }
    Ok(ring)
}

fn frame_oversized(bytes: &mut AlignedBytes<MEM>) -> Outcome {
    // Our own oversized frame is refused, before anything is written.
    {
        let mem = PeerMemory::new(bytes);
        let ring = must!(
            frame::spsc::Ring::init(mem.region(DATA + 64), 64),
            "frame init"
        );
        let (mut tx, mut rx) = must!(ring.split(), "frame split");
        let max = ring.max_frame_len() as usize;
        ensure!(max == 24, "largest frame of a 64-byte ring");
        ensure!(
            tx.try_send(&[0; 25]) == Err(Error::FrameTooLarge { len: 25, max: 24 }),
            "oversized send"
        );
        ensure!(
            matches!(tx.try_grant(25), Err(Error::FrameTooLarge { .. })),
            "oversized grant"
        );
        must!(tx.try_send(&[7; 24]), "largest frame");
        ensure!(
            matches!(rx.try_recv(&mut [0; 23]), Err(Error::BufferTooSmall { .. })),
            "short buffer"
        );
        ensure!(
            rx.try_recv(&mut [0; 24]) == Ok(24),
            "frame stays queued after a short buffer"
        );
    }
    // A record header the peer rewrote: the frames before it arrive, then
    // it is an error, sticky, and not skipped.
    let cases: [u32; 8] = [
        frame::frame_word(121),             // longer than the ring carries
        frame::frame_word(16),              // past the published range
        3,                                  // shorter than a header
        0,                                  // zeroed
        frame::PAD | 16,                    // padding short of the end
        frame::PAD | 224,                   // padding at the wrong place
        frame::BUSY | frame::frame_word(8), // busy in an SPSC ring
        u32::MAX,                           // all flags
    ];
    for word in cases {
        let mem = PeerMemory::new(bytes);
        let ring = three_frames(&mem)?;
        let mut rx = must!(ring.consumer(), "frame consumer");
        mem.word(DATA + 32).store(word, SeqCst);
        let mut buf = [0u8; 256];
        ensure!(
            rx.try_recv(&mut buf) == Ok(8),
            "first frame before a bad record"
        );
        ensure!(buf[..8] == [0; 8], "first frame's bytes");
        ensure!(
            rx.try_recv(&mut buf) == Ok(8),
            "second frame before a bad record"
        );
        ensure!(
            is_corrupted(rx.try_recv(&mut buf)),
            "bad record header accepted"
        );
        ensure!(is_corrupted(rx.try_read()), "bad record header skipped");
        ensure!(
            mem.word(HEAD).load(SeqCst) == 32,
            "head moved past a bad record"
        );
    }
    Ok(())
}

fn frame_corrupted_indices(bytes: &mut AlignedBytes<MEM>) -> Outcome {
    let mem = PeerMemory::new(bytes);
    let ring = three_frames(&mem)?;
    let (mut tx, mut rx) = must!(ring.split(), "frame split");
    let mut buf = [0u8; 64];
    ensure!(rx.try_recv(&mut buf) == Ok(8), "first frame");
    mem.word(TAIL).store(10_000, SeqCst);
    ensure!(
        rx.try_recv(&mut buf) == Ok(8),
        "frames seen before a bad tail"
    );
    ensure!(
        rx.try_recv(&mut buf) == Ok(8),
        "frames seen before a bad tail"
    );
    ensure!(
        is_corrupted(rx.try_recv(&mut buf)),
        "tail far ahead accepted"
    );
    mem.word(TAIL).store(48 + 4, SeqCst);
    ensure!(
        is_corrupted(rx.try_recv(&mut buf)),
        "misaligned tail accepted"
    );
    mem.word(TAIL).store(48, SeqCst);
    ensure!(rx.try_recv(&mut buf) == Err(Error::Empty), "repaired tail");
    for _ in 0..10 {
        let _ = tx.try_send(&[0; 100]);
    }
    mem.word(HEAD).store(7777, SeqCst);
    ensure!(
        is_corrupted(tx.try_send(&[0; 100])),
        "head ahead of tail accepted"
    );
    ensure!(
        tx.free_bytes() == 0,
        "free_bytes reads a bad head as a full ring"
    );
    Ok(())
}

fn frame_garbage_everywhere(bytes: &mut AlignedBytes<MEM>) -> Outcome {
    let mem = PeerMemory::new(bytes);
    let ring = must!(
        frame::spsc::Ring::init(mem.region(DATA + 256), 256),
        "frame init"
    );
    let (mut tx, mut rx) = must!(ring.split(), "frame split");
    let mut x = 0x9E37_79B9u32;
    let mut buf = [0u8; 256];
    for _ in 0..if cfg!(miri) { 200 } else { 3000 } {
        let v = xorshift(&mut x);
        let target = match v % 5 {
            0 => TAIL,
            1 => HEAD,
            _ => DATA + (v as usize >> 8) % 256 / 4 * 4,
        };
        let value = match v >> 29 {
            0 => v >> 3,
            1 => frame::PAD | (v >> 20),
            2 => (v >> 20) & frame::LEN_MASK,
            _ => v.rotate_left(7),
        };
        mem.word(target).store(value, SeqCst);
        let _ = tx.try_send(&buf[..(v as usize >> 4) % 130]);
        match rx.try_recv(&mut buf) {
            Ok(n) => ensure!(n <= 120, "frame longer than the ring carries"),
            Err(Error::Empty | Error::Corrupted(_) | Error::BufferTooSmall { .. }) => {}
            Err(e) => must!(Err(e), "unexpected error"),
        }
        if let Ok(f) = rx.try_read() {
            ensure!(f.len() <= 120, "frame longer than the ring carries");
            let mut tmp = [0u8; 130];
            must!(f.copy_to(&mut tmp), "frame copy");
            f.release();
        }
        if let Ok(mut grant) = tx.try_grant((v as usize >> 9) % 121) {
            let n = grant.len();
            must!(grant.copy_from_slice(&[0xAB; 121][..n]), "grant copy");
            grant.commit_all();
        }
    }
    Ok(())
}

/// A latest-value slot of `[u32; 3]` whose `seq` (128), writer claim (132)
/// and value words (256..268) a peer keeps rewriting: every read is a
/// value, `Empty` or `Busy` (bounded), and once the writer writes again
/// with nothing forged after it, the read is exactly what it wrote.
fn latest_garbage_everywhere(bytes: &mut AlignedBytes<MEM>) -> Outcome {
    let mem = PeerMemory::new(bytes);
    let slot = must!(
        latest::Slot::<[u32; 3]>::init(mem.region(DATA)),
        "latest init"
    );
    let mut w = must!(slot.writer(), "latest writer");
    let mut r = slot.reader().with_retries(4);
    let mut x = 0x9E37_79B9u32;
    for _ in 0..if cfg!(miri) { 200 } else { 3000 } {
        let v = xorshift(&mut x);
        let target = match v % 4 {
            0 => TAIL,
            1 => PRODUCER_CLAIM,
            _ => 256 + (v as usize >> 8) % 3 * 4,
        };
        mem.word(target).store(v >> 2, SeqCst);
        match r.try_read() {
            Ok(_) | Err(Error::Empty | Error::Busy) => {}
            Err(e) => must!(Err(e), "unexpected error"),
        }
        let mine = [v, !v, v.rotate_left(9)];
        w.write(mine);
        ensure!(
            must!(r.try_read(), "latest read after a write") == mine,
            "the writer's value, read back"
        );
    }
    Ok(())
}

//! One layout for every word size: each region kind, initialised with fixed
//! parameters and taken through a fixed sequence of operations, must give
//! exactly the bytes in its golden table, whether a 64-bit host, a 32-bit
//! host (`i686`) or a Cortex-M firmware built it. Each region can also be
//! *drained* by the other side: attached, its endpoints claimed, its
//! contents checked item by item.
//!
//! A golden table lists the non-zero 32-bit words of the region as
//! `(offset, value)`, the value as a little-endian `u32`; every other byte
//! is zero. A change to a table is a layout change: it comes with a new
//! [`LAYOUT_VERSION`](ipckit_core::region::LAYOUT_VERSION).

use ipckit_core::semaphore::Semaphore;
use ipckit_core::{Error, Region, broadcast, frame, latest, mpmc, spsc};

use super::peer::{MEM, PeerMemory};
use super::{Outcome, ensure, must};

/// One region kind under test.
pub struct Case {
    /// Also the file name (`<name>.bin`) of a region written for the peer.
    pub name: &'static str,
    /// Region bytes.
    pub len: usize,
    /// Creates the region and leaves it in the golden state.
    pub build: fn(Region<'_>) -> Outcome,
    /// Attaches to a region in the golden state and checks its contents.
    pub drain: fn(Region<'_>) -> Outcome,
    /// The non-zero words of the golden state.
    pub golden: &'static [(u32, u32)],
}

/// Every region kind.
pub const CASES: &[Case] = &[
    Case {
        name: "spsc_u32",
        len: 384 + 8 * 4,
        build: build_spsc_u32,
        drain: drain_spsc_u32,
        golden: SPSC_U32,
    },
    Case {
        name: "mpmc_u32",
        len: 384 + 4 * 8,
        build: build_mpmc_u32,
        drain: drain_mpmc_u32,
        golden: MPMC_U32,
    },
    Case {
        name: "frame_spsc",
        len: 384 + 64,
        build: build_frame_spsc,
        drain: drain_frame_spsc,
        golden: FRAME_SPSC,
    },
    Case {
        name: "frame_mpsc",
        len: 512 + 64,
        build: build_frame_mpsc,
        drain: drain_frame_mpsc,
        golden: FRAME_MPSC,
    },
    Case {
        name: "broadcast_u32",
        len: 256 + 4 * 8,
        build: build_broadcast_u32,
        drain: drain_broadcast_u32,
        golden: BROADCAST_U32,
    },
    Case {
        name: "semaphore",
        len: 256,
        build: build_semaphore,
        drain: drain_semaphore,
        golden: SEMAPHORE,
    },
    Case {
        name: "latest",
        len: 256 + 12, // 10 bytes of value, rounded up to a word
        build: build_latest,
        drain: drain_latest,
        golden: LATEST,
    },
    Case {
        name: "broadcast_frames",
        len: super::golden_frames::LEN,
        build: super::golden_frames::build,
        drain: super::golden_frames::drain,
        golden: super::golden_frames::GOLDEN,
    },
];

/// Where a region's bytes differ from its golden table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    /// Byte offset of the first differing word.
    pub offset: usize,
    /// The word found there (little-endian).
    pub found: u32,
    /// The golden word.
    pub expected: u32,
}

/// Compares `bytes` with a golden table.
pub fn compare(bytes: &[u8], golden: &[(u32, u32)]) -> Result<(), Mismatch> {
    let mut table = golden.iter().peekable();
    for (i, chunk) in bytes.chunks(4).enumerate() {
        let offset = 4 * i;
        let mut word = [0u8; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        let found = u32::from_le_bytes(word);
        let expected = match table.peek() {
            Some(&&(o, v)) if o as usize == offset => {
                table.next();
                v
            }
            _ => 0,
        };
        if found != expected {
            return Err(Mismatch {
                offset,
                found,
                expected,
            });
        }
    }
    match table.next() {
        Some(&(o, v)) => Err(Mismatch {
            offset: o as usize,
            found: 0,
            expected: v,
        }),
        None => Ok(()),
    }
}

/// Builds `case` in fresh memory and copies its bytes into `out` (at least
/// `case.len` long, rounded up to 4).
pub fn build_into(
    case: &Case,
    mem: &mut ipckit_core::AlignedBytes<MEM>,
    out: &mut [u8],
) -> Outcome {
    let peer = PeerMemory::new(mem);
    (case.build)(peer.region(case.len))?;
    peer.read(&mut out[..case.len]);
    Ok(())
}

/// Places `bytes` (a region another side wrote) in fresh memory and drains it.
pub fn drain_from(case: &Case, mem: &mut ipckit_core::AlignedBytes<MEM>, bytes: &[u8]) -> Outcome {
    ensure!(bytes.len() == case.len, "region file has the wrong length");
    let peer = PeerMemory::new(mem);
    peer.write(bytes);
    (case.drain)(peer.region(case.len))
}

// --- SPSC ring of u32: capacity 8, indices start at u32::MAX - 2, so the
// items in the golden state straddle the index wrap. Six pushed, two popped.

const SPSC_ITEM: u32 = 0xA000_0000;

fn build_spsc_u32(region: Region<'_>) -> Outcome {
    let ring = must!(
        spsc::Ring::<u32>::init_at(region, 8, u32::MAX - 2),
        "spsc init"
    );
    let (mut tx, mut rx) = must!(ring.split(), "spsc split");
    let items = [1, 2, 3, 4, 5, 6].map(|i| SPSC_ITEM + i);
    ensure!(
        must!(tx.push_partial_slice(&items), "spsc push") == 6,
        "spsc took fewer items"
    );
    ensure!(
        must!(rx.try_pop(), "spsc pop") == SPSC_ITEM + 1,
        "spsc first item"
    );
    ensure!(
        must!(rx.try_pop(), "spsc pop") == SPSC_ITEM + 2,
        "spsc second item"
    );
    Ok(())
}

fn drain_spsc_u32(region: Region<'_>) -> Outcome {
    let ring = must!(spsc::Ring::<u32>::attach(region), "spsc attach");
    ensure!(ring.capacity() == 8, "spsc capacity");
    let (mut tx, mut rx) = must!(ring.split(), "spsc claim both roles");
    for i in 3..=6 {
        ensure!(
            must!(rx.try_pop(), "spsc drain") == SPSC_ITEM + i,
            "spsc drained item"
        );
    }
    ensure!(
        rx.try_pop() == Err(Error::Empty),
        "spsc empty after the drain"
    );
    // The ring goes on working from where the other side left it.
    must!(tx.try_push(7), "spsc push after the drain");
    ensure!(
        must!(rx.try_pop(), "spsc pop") == 7,
        "spsc item after the drain"
    );
    Ok(())
}

// --- MPMC ring of u32: capacity 4, positions start at u32::MAX - 1. Three
// pushed, one popped.

const MPMC_ITEM: u32 = 0xB000_0000;

fn build_mpmc_u32(region: Region<'_>) -> Outcome {
    let ring = must!(
        mpmc::Ring::<u32>::init_at(region, 4, u32::MAX - 1),
        "mpmc init"
    );
    let tx = must!(ring.producer(), "mpmc producer");
    let rx = must!(ring.consumer(), "mpmc consumer");
    for i in 1..=3 {
        must!(tx.try_push(MPMC_ITEM + i), "mpmc push");
    }
    ensure!(
        must!(rx.try_pop(), "mpmc pop") == MPMC_ITEM + 1,
        "mpmc first item"
    );
    Ok(())
}

fn drain_mpmc_u32(region: Region<'_>) -> Outcome {
    let ring = must!(mpmc::Ring::<u32>::attach(region), "mpmc attach");
    let tx = must!(ring.producer(), "mpmc producer");
    let rx = must!(ring.consumer(), "mpmc consumer");
    for i in 2..=3 {
        ensure!(
            must!(rx.try_pop(), "mpmc drain") == MPMC_ITEM + i,
            "mpmc drained item"
        );
    }
    ensure!(
        rx.try_pop() == Err(Error::Empty),
        "mpmc empty after the drain"
    );
    for i in 4..=7 {
        must!(tx.try_push(MPMC_ITEM + i), "mpmc push after the drain");
    }
    ensure!(tx.try_push(0) == Err(Error::Full), "mpmc full after four");
    for i in 4..=7 {
        ensure!(
            must!(rx.try_pop(), "mpmc pop") == MPMC_ITEM + i,
            "mpmc item after the drain"
        );
    }
    Ok(())
}

// --- Broadcast ring of u32: capacity 4, positions start at u32::MAX - 1;
// six published (the positions wrap, the first two items are overwritten),
// the publisher dropped.

const BROADCAST_ITEM: u32 = 0xC000_0000;

fn build_broadcast_u32(region: Region<'_>) -> Outcome {
    let options = broadcast::Options::new(4).start_at(u32::MAX - 1);
    let ring = must!(
        broadcast::Ring::<u32>::init_with(region, options),
        "broadcast init"
    );
    let mut tx = must!(ring.publisher(), "broadcast publisher");
    let mut rx = must!(ring.subscriber(), "broadcast subscriber");
    for i in 1..=6 {
        tx.publish(BROADCAST_ITEM + i);
    }
    ensure!(
        rx.try_recv() == Err(Error::Lagged(2)),
        "broadcast lag of two"
    );
    ensure!(
        must!(rx.try_recv(), "broadcast recv") == BROADCAST_ITEM + 3,
        "broadcast oldest item"
    );
    Ok(())
}

fn drain_broadcast_u32(region: Region<'_>) -> Outcome {
    let ring = must!(broadcast::Ring::<u32>::attach(region), "broadcast attach");
    ensure!(ring.capacity() == 4, "broadcast capacity");
    let mut rx = must!(
        ring.subscriber_from(broadcast::Start::Oldest),
        "broadcast subscriber"
    );
    for i in 3..=6 {
        ensure!(
            must!(rx.try_recv(), "broadcast drain") == BROADCAST_ITEM + i,
            "broadcast drained item"
        );
    }
    ensure!(
        rx.try_recv() == Err(Error::Empty),
        "broadcast empty after the drain"
    );
    // The publisher role was given back: a new one goes on at `tail`.
    let mut tx = must!(ring.publisher(), "broadcast publisher after the drain");
    tx.publish(7);
    ensure!(
        must!(rx.try_recv(), "broadcast recv") == 7,
        "broadcast item after the drain"
    );
    Ok(())
}

// --- Semaphore: maximum 5, initial count 3, one unit taken.

fn build_semaphore(region: Region<'_>) -> Outcome {
    let sem = must!(Semaphore::init(region, 3, 5), "semaphore init");
    must!(
        must!(sem.handle(), "semaphore handle").try_wait(),
        "semaphore take"
    );
    Ok(())
}

fn drain_semaphore(region: Region<'_>) -> Outcome {
    let sem = must!(Semaphore::attach(region), "semaphore attach");
    ensure!(sem.max() == 5, "semaphore maximum");
    ensure!(
        must!(sem.value(), "semaphore value") == 2,
        "semaphore count"
    );
    let h = must!(sem.handle(), "semaphore handle");
    must!(h.try_wait(), "semaphore take");
    must!(h.try_wait(), "semaphore take");
    ensure!(h.try_wait() == Err(Error::Empty), "semaphore empty");
    for _ in 0..5 {
        must!(h.post(), "semaphore post");
    }
    ensure!(
        h.post() == Err(Error::Full),
        "semaphore full at its maximum"
    );
    Ok(())
}

// --- Latest-value slot of `[u16; 5]` (two words and a two-byte tail),
// written twice, the writer gone.

const POSE: [u16; 5] = [0x1111, 0x2222, 0x3333, 0x4444, 0x5555];

fn build_latest(region: Region<'_>) -> Outcome {
    let slot = must!(latest::Slot::<[u16; 5]>::init(region), "latest init");
    let mut w = must!(slot.writer(), "latest writer");
    w.write([9; 5]);
    ensure!(w.write(POSE) == 4, "latest version after two writes");
    Ok(())
}

fn drain_latest(region: Region<'_>) -> Outcome {
    let slot = must!(latest::Slot::<[u16; 5]>::attach(region), "latest attach");
    let mut r = slot.reader();
    ensure!(must!(r.try_read(), "latest read") == POSE, "latest value");
    ensure!(r.version() == 4, "latest version");
    let mut w = must!(slot.writer(), "latest writer");
    ensure!(w.write([7; 5]) == 6, "latest next version");
    ensure!(
        must!(r.try_read_changed(), "latest read") == Some([7; 5]),
        "latest value after a write"
    );
    Ok(())
}

// --- SPSC frame ring: a 64-byte data area, positions start at
// u32::MAX - 15 (offset 48). "abc" goes at 48 (the position wraps after it),
// ten bytes at 0, twenty (through a grant) at 24; the consumer takes the
// first two; five bytes do not fit before the end, so they go to offset 0
// behind an 8-byte padding record at 56.

const TWENTY: &[u8; 20] = b"twenty bytes, framed";

fn build_frame_spsc(region: Region<'_>) -> Outcome {
    let options = frame::spsc::Options::new(64).start_at(u32::MAX - 15);
    let ring = must!(frame::spsc::Ring::init_with(region, options), "frame init");
    let (mut tx, mut rx) = must!(ring.split(), "frame split");
    must!(tx.try_send(b"abc"), "frame send");
    must!(tx.try_send(b"0123456789"), "frame send");
    let mut buf = [0u8; 16];
    ensure!(
        must!(rx.try_recv(&mut buf), "frame recv") == 3,
        "frame first length"
    );
    ensure!(&buf[..3] == b"abc", "frame first bytes");
    let mut grant = must!(tx.try_grant(TWENTY.len()), "frame grant");
    must!(grant.copy_from_slice(TWENTY), "frame grant copy");
    must!(grant.commit(TWENTY.len()), "frame commit");
    ensure!(
        must!(rx.try_recv(&mut buf), "frame recv") == 10,
        "frame second length"
    );
    ensure!(&buf[..10] == b"0123456789", "frame second bytes");
    must!(tx.try_send(b"fives"), "frame send behind padding");
    Ok(())
}

fn drain_frame_spsc(region: Region<'_>) -> Outcome {
    let ring = must!(frame::spsc::Ring::attach(region), "frame attach");
    ensure!(ring.capacity() == 64, "frame capacity");
    let (mut tx, mut rx) = must!(ring.split(), "frame claim both roles");
    let mut buf = [0u8; 24];
    ensure!(
        must!(rx.try_recv(&mut buf), "frame drain") == 20,
        "frame drained length"
    );
    ensure!(&buf[..20] == TWENTY, "frame drained bytes");
    ensure!(
        must!(rx.try_recv(&mut buf), "frame drain") == 5,
        "frame drained length"
    );
    ensure!(&buf[..5] == b"fives", "frame drained bytes");
    ensure!(
        rx.try_recv(&mut buf) == Err(Error::Empty),
        "frame empty after the drain"
    );
    must!(tx.try_send(b"more"), "frame send after the drain");
    ensure!(
        must!(rx.try_recv(&mut buf), "frame recv") == 4,
        "frame after the drain"
    );
    Ok(())
}

// --- MPSC frame ring: a 64-byte data area, positions start at
// u32::MAX - 15 (offset 48); producer 7 sends "abc" (at 48) and ten bytes
// (at 0); the consumer takes "abc".

fn build_frame_mpsc(region: Region<'_>) -> Outcome {
    let ring = must!(
        frame::mpsc::Ring::init_at(region, 64, u32::MAX - 15),
        "mpsc frame init"
    );
    let tx = must!(
        must!(ring.producer(), "mpsc frame producer").with_id(7),
        "mpsc frame id"
    );
    let mut rx = must!(ring.consumer(), "mpsc frame consumer");
    must!(tx.try_send(b"abc"), "mpsc frame send");
    must!(tx.try_send(b"0123456789"), "mpsc frame send");
    let mut buf = [0u8; 16];
    ensure!(
        must!(rx.try_recv(&mut buf), "mpsc frame recv") == 3,
        "mpsc frame first length"
    );
    ensure!(&buf[..3] == b"abc", "mpsc frame first bytes");
    Ok(())
}

fn drain_frame_mpsc(region: Region<'_>) -> Outcome {
    let ring = must!(frame::mpsc::Ring::attach(region), "mpsc frame attach");
    ensure!(ring.capacity() == 64, "mpsc frame capacity");
    let tx = must!(ring.producer(), "mpsc frame producer");
    let mut rx = must!(ring.consumer(), "mpsc frame consumer");
    let mut buf = [0u8; 16];
    ensure!(
        must!(rx.try_recv(&mut buf), "mpsc frame drain") == 10,
        "mpsc frame drained length"
    );
    ensure!(&buf[..10] == b"0123456789", "mpsc frame drained bytes");
    ensure!(
        rx.try_recv(&mut buf) == Err(Error::Empty),
        "mpsc frame empty after the drain"
    );
    must!(tx.try_send(b"more"), "mpsc frame send after the drain");
    ensure!(
        must!(rx.try_recv(&mut buf), "mpsc frame recv") == 4,
        "mpsc frame after the drain"
    );
    Ok(())
}

// --- Golden tables (layout version 1). Regenerate with
// `IPCKIT_PRINT_GOLDEN=1 cargo test -p ipckit-core --test layout_golden -- --nocapture`
// and review every changed word.

const SPSC_U32: &[(u32, u32)] = &[
    (0x0000, 0x4b43_5049), // magic "IPCK"
    (0x0004, 0x0000_0001), // layout version 1
    (0x0008, 0x0000_0001), // kind
    (0x000c, 0x0102_0304), // endianness marker
    (0x0010, 0x0000_0002), // state: ready
    (0x0014, 0x0000_0004), // element size
    (0x0018, 0x0000_0004), // element alignment
    (0x001c, 0x0000_0008), // capacity
    (0x0020, 0x0000_0180), // data offset
    (0x0080, 0x0000_0003), // tail: u32::MAX - 2 + 6 pushed, wrapped
    (0x0100, 0xffff_ffff), // head: u32::MAX - 2 + 2 popped
    // (producer and consumer claims 0: released on drop)
    (0x0180, 0xa000_0004), // slot 0 = position 0
    (0x0184, 0xa000_0005),
    (0x0188, 0xa000_0006),
    (0x0194, 0xa000_0001), // slot 5 = position u32::MAX - 2 (popped)
    (0x0198, 0xa000_0002), // (popped)
    (0x019c, 0xa000_0003), // slot 7 = position u32::MAX
];

const BROADCAST_U32: &[(u32, u32)] = &[
    (0x0000, 0x4b43_5049), // magic "IPCK"
    (0x0004, 0x0000_0001), // layout version 1
    (0x0008, 0x0000_0007), // kind: broadcast
    (0x000c, 0x0102_0304), // endianness marker
    (0x0010, 0x0000_0002), // state: ready
    (0x0014, 0x0000_0004), // element size
    (0x0018, 0x0000_0004), // element alignment
    (0x001c, 0x0000_0004), // capacity
    (0x0020, 0x0000_0100), // data offset
    (0x0080, 0x0000_0004), // tail: u32::MAX - 1 + 6 published, wrapped
    // (publisher claim 0: released on drop; nobody waiting)
    (0x008c, 0xffff_fffe), // first: the start position
    (0x0100, 0x0000_0001), // slot 0 stamp: position 0 complete
    (0x0104, 0xc000_0003), // slot 0 item
    (0x0108, 0x0000_0002), // slot 1 stamp: position 1 complete
    (0x010c, 0xc000_0004),
    (0x0110, 0x0000_0003), // slot 2 stamp: position 2 (overwrote u32::MAX - 1)
    (0x0114, 0xc000_0005),
    (0x0118, 0x0000_0004), // slot 3 stamp: position 3 (overwrote u32::MAX)
    (0x011c, 0xc000_0006),
];

const MPMC_U32: &[(u32, u32)] = &[
    (0x0000, 0x4b43_5049), // magic "IPCK"
    (0x0004, 0x0000_0001), // layout version 1
    (0x0008, 0x0000_0002), // kind
    (0x000c, 0x0102_0304), // endianness marker
    (0x0010, 0x0000_0002), // state: ready
    (0x0014, 0x0000_0004), // element size
    (0x0018, 0x0000_0004), // element alignment
    (0x001c, 0x0000_0004), // capacity
    (0x0020, 0x0000_0180), // data offset
    (0x0080, 0x0000_0001), // tail: u32::MAX - 1 + 3 pushed, wrapped
    (0x0100, 0xffff_ffff), // head: u32::MAX - 1 + 1 popped
    // slots of 8 bytes: stamp, item
    (0x0180, 0x0000_0001), // slot 0: stamp = position 0 + 1 (published)
    (0x0184, 0xb000_0003),
    (0x0188, 0x0000_0001), // slot 1: stamp = position 1 (free for it)
    (0x0190, 0x0000_0002), // slot 2: stamp = position u32::MAX - 1 + 4 (freed)
    (0x0194, 0xb000_0001),
    // slot 3: stamp 0 = position u32::MAX + 1 (published)
    (0x019c, 0xb000_0002),
];

const FRAME_SPSC: &[(u32, u32)] = &[
    (0x0000, 0x4b43_5049), // magic "IPCK"
    (0x0004, 0x0000_0001), // layout version 1
    (0x0008, 0x0000_0004), // kind: SPSC frames
    (0x000c, 0x0102_0304), // endianness marker
    (0x0010, 0x0000_0002), // state: ready
    (0x0014, 0x0000_0001), // element size: bytes
    (0x0018, 0x0000_0008), // element alignment: records
    (0x001c, 0x0000_0040), // capacity: 64 data bytes
    (0x0020, 0x0000_0180), // data offset
    (0x0080, 0x0000_0050), // tail: u32::MAX - 15 + 16 + 24 + 32 + 8 + 16, wrapped
    (0x0100, 0x0000_0018), // head: offset 24, the twenty-byte frame
    (0x0180, 0x0000_000d), // data 0: record of "fives", 8 + 5 bytes
    (0x0188, 0x6576_6966), // "fives"; then stale bytes of the released ten-byte frame
    (0x018c, 0x3736_3573),
    (0x0190, 0x0000_3938),
    (0x0198, 0x0000_001c), // data 24: record of 8 + 20 bytes
    (0x01a0, 0x6e65_7774), // "twenty bytes, framed"
    (0x01a4, 0x6220_7974),
    (0x01a8, 0x7365_7479),
    (0x01ac, 0x7266_202c),
    (0x01b0, 0x6465_6d61),
    (0x01b8, 0x8000_0008), // data 56: padding record of 8 bytes to the end
];

const FRAME_MPSC: &[(u32, u32)] = &[
    (0x0000, 0x4b43_5049), // magic "IPCK"
    (0x0004, 0x0000_0001), // layout version 1
    (0x0008, 0x0000_0005), // kind: MPSC frames
    (0x000c, 0x0102_0304), // endianness marker
    (0x0010, 0x0000_0002), // state: ready
    (0x0014, 0x0000_0001), // element size: bytes
    (0x0018, 0x0000_0008), // element alignment: records
    (0x001c, 0x0000_0040), // capacity: 64 data bytes
    (0x0020, 0x0000_0200), // data offset 512
    (0x0080, 0x0000_0018), // tail: u32::MAX - 15 + 16 + 24, wrapped
    // head (0x0100) is 0: u32::MAX - 15 + 16
    (0x010c, 0xffff_fff0), // erase journal: the last record erased, at u32::MAX - 15
    (0x0110, 0x0000_0010), // erase journal: its 16 bytes
    // skipped counters (0x0180..) 0
    (0x0200, 0x0000_0012), // data 0: record of 8 + 10 bytes
    (0x0204, 0x0000_0007), // claimant: producer 7
    (0x0208, 0x3332_3130), // "0123456789"
    (0x020c, 0x3736_3534),
    (0x0210, 0x0000_3938),
    // (the consumer zeroed the record of "abc" at data 48 when it released it)
];

const SEMAPHORE: &[(u32, u32)] = &[
    (0x0000, 0x4b43_5049), // magic "IPCK"
    (0x0004, 0x0000_0001), // layout version 1
    (0x0008, 0x0000_0003), // kind
    (0x000c, 0x0102_0304), // endianness marker
    (0x0010, 0x0000_0002), // state: ready
    (0x0014, 0x0000_0004), // element size
    (0x0018, 0x0000_0004), // element alignment
    (0x001c, 0x0000_0005), // capacity
    (0x0020, 0x0000_0080), // data offset
    (0x0080, 0x0000_0002), // count: 3 - 1
];

const LATEST: &[(u32, u32)] = &[
    (0x0000, 0x4b43_5049), // magic "IPCK"
    (0x0004, 0x0000_0001), // layout version 1
    (0x0008, 0x0000_0006), // kind
    (0x000c, 0x0102_0304), // endianness marker
    (0x0010, 0x0000_0002), // state: ready
    (0x0014, 0x0000_000a), // element size
    (0x0018, 0x0000_0002), // element alignment
    (0x001c, 0x0000_0001), // capacity: one value
    (0x0020, 0x0000_0100), // data offset
    (0x0080, 0x0000_0004), // seq: the second version; the claim is free
    (0x0100, 0x2222_1111), // the value: two words...
    (0x0104, 0x4444_3333),
    (0x0108, 0x0000_5555), // ...and two tail bytes
];

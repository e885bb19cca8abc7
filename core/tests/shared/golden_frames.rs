//! The golden case of the broadcast frame ring (kind 8), beside the other
//! kinds' in `golden.rs`: a 64-byte data area in four 16-byte slots (frames
//! of up to 8 bytes), positions from `u32::MAX - 1`; `"abcdefgh"`, an empty
//! frame and the first 3 bytes of a loan of 5 published (the positions
//! wrap), then a loan that wrote `"zzzzzzzz"` dropped (its slot says "being
//! written"); the publisher dropped. The payload moves in machine words, 4
//! or 8 bytes: the same bytes either way.

use ipckit_core::Region;
use ipckit_core::broadcast::frames::FrameRing;
use ipckit_core::broadcast::{Options, Start};

use super::{Outcome, ensure, must};

/// Region bytes of the case.
pub const LEN: usize = 256 + 64;

pub fn build(region: Region<'_>) -> Outcome {
    let options = Options::new(64).slot_size(16).start_at(u32::MAX - 1);
    let ring = must!(FrameRing::init_with(region, options), "frames init");
    let mut tx = must!(ring.publisher(), "frames publisher");
    must!(tx.publish(b"abcdefgh"), "frames publish");
    must!(tx.publish(b""), "frames publish empty");
    let mut loan = must!(tx.loan(5), "frames loan");
    must!(loan.write_at(0, b"12345"), "frames loan write");
    must!(loan.publish_first(3), "frames publish_first");
    let mut dropped = must!(tx.loan(8), "frames loan");
    must!(dropped.copy_from_slice(b"zzzzzzzz"), "frames loan write");
    drop(dropped);
    Ok(())
}

pub fn drain(region: Region<'_>) -> Outcome {
    let ring = must!(FrameRing::attach(region), "frames attach");
    ensure!(ring.slot_size() == 16 && ring.slots() == 4, "frames slots");
    let mut rx = must!(ring.subscriber_from(Start::Oldest), "frames subscriber");
    let mut buf = [0u8; 8];
    for want in [&b"abcdefgh"[..], b"", b"123"] {
        let len = must!(rx.try_recv_into(&mut buf), "frames drain");
        ensure!(&buf[..len] == want, "frames drained frame");
    }
    ensure!(
        rx.try_recv_into(&mut buf) == Err(ipckit_core::Error::Empty),
        "frames: the dropped loan is not a frame"
    );
    // The publisher role was given back: a new one rewrites the slot the
    // dropped loan opened, at the same position.
    let mut tx = must!(ring.publisher(), "frames publisher after the drain");
    ensure!(tx.position() == 1, "frames resume at tail");
    must!(tx.publish(b"more"), "frames publish after the drain");
    ensure!(
        rx.try_read_with(|f| f.len()) == Ok(4),
        "frames frame after the drain"
    );
    Ok(())
}

/// The non-zero words of the golden state.
pub const GOLDEN: &[(u32, u32)] = &[
    (0x0000, 0x4b43_5049), // magic "IPCK"
    (0x0004, 1),           // layout version
    (0x0008, 8),           // kind: broadcast frames
    (0x000c, 0x0102_0304), // byte order
    (0x0010, 2),           // state: ready
    (0x0014, 1),           // element size
    (0x0018, 8),           // element alignment
    (0x001c, 64),          // capacity (bytes)
    (0x0020, 256),         // data offset
    (0x0080, 1),           // tail
    (0x008c, 0xffff_fffe), // first
    (0x009c, 16),          // slot size
    // Slot 0, position 0: complete, 3 bytes published of the loan's 5.
    (0x0100, 1),
    (0x0104, 3),
    (0x0108, 0x3433_3231),
    (0x010c, 0x0000_0035),
    // Slot 1, position 1: being written (the dropped loan), no length.
    (0x0110, 1),
    (0x0118, 0x7a7a_7a7a),
    (0x011c, 0x7a7a_7a7a),
    // Slot 2, position u32::MAX - 1: complete, "abcdefgh".
    (0x0120, 0xffff_ffff),
    (0x0124, 8),
    (0x0128, 0x6463_6261),
    (0x012c, 0x6867_6665),
    // Slot 3, position u32::MAX: complete (stamp 0, the wrap) and empty:
    // all zeros, as a slot never written (which no subscriber reads).
];

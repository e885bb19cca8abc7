//! Variable-length byte frames: frame rings in a shared region, and a codec
//! for byte streams.
//!
//! - [`spsc`]: one producer, one consumer, atomic loads and stores only (so it
//!   runs between two cores of a `thumbv6m` part), zero-copy grants in the
//!   manner of bbqueue.
//! - [`mpsc`]: many producers, one consumer, out-of-order commit in the manner
//!   of Aeron's many-to-one ring buffer; needs compare-and-swap.
//! - [`codec`]: length-prefixed frames for byte streams (pipes, sockets,
//!   files), with an incremental decoder.
//!
//! # Records
//! For a peer in another language, the records and both frame rings are
//! specified in
//! [`docs/LAYOUT.md`](https://github.com/ipckit/ipckit/blob/main/docs/LAYOUT.md#6-frame-records).
//!
//! Both rings store a frame as one *record* in a data area of `capacity`
//! bytes (a power of two): an 8-byte record header followed by the payload,
//! padded to a multiple of [`RECORD_ALIGN`], so every record header and every
//! payload starts 8-byte aligned. Positions are free-running `u32` byte
//! counters (multiples of 8); the offset of position `p` in the data area is
//! `p & (capacity - 1)`.
//!
//! | offset in record | width | field | meaning |
//! |-----------------:|------:|-------|---------|
//! | 0 | u32 | `len` | bits 0..=29: the record's length in bytes, header included, before rounding up to [`RECORD_ALIGN`] (8 + payload length for a frame; never 0, so a zeroed header reads as "not written"); bit 30 [`BUSY`]: written but not committed (MPSC only); bit 31 [`PAD`]: padding record |
//! | 4 | u32 | `claimant` | MPSC: the claiming producer's id (e.g. its pid), so a stalled record names its owner; SPSC: 0 |
//! | 8 | `len - 8` bytes (`len`: the length bits) | payload | the frame, contiguous; the record then ends at the next multiple of [`RECORD_ALIGN`] |
//!
//! A payload is never split: a record that would straddle the end of the
//! data area is placed at offset 0 and the space up to the end becomes a
//! padding record. A padding record therefore always ends exactly at the end
//! of the data area (its length bits are that extent, header included: `PAD |
//! (capacity - offset)`), and is always followed by a frame at offset 0. Its
//! claimant is 0 in the SPSC ring, the producer's id in the MPSC ring.
//!
//! Every byte of a data area is accessed through atomics, always as part of
//! the same aligned unit, its *grain*: payloads move by the word-wise
//! atomic copies of the crate's `sync` module (whose docs argue why that
//! makes a concurrent forging writer harmless), and record headers are
//! units of the same grain. The bytes that hold a header now hold a payload
//! later, so one grain for the whole area is what keeps every racing access
//! the same size. In [`spsc`] the grain is a machine word: on a 64-bit
//! target the 8-byte header is one unit. In [`mpsc`] it is 4 bytes, because
//! producers compare-and-swap the length word alone.
//!
//! The largest frame is [`max_frame_len`]`(capacity)`, half the data area
//! less a record header: padding is always shorter than the record that
//! caused it, so an empty ring can always take the largest frame, wherever
//! its positions stand.
//!
//! # The peer is untrusted
//! Every record header the consumer reads is loaded once and checked by
//! [`parse_record`] before any byte of the record is touched: a length past
//! the end of the data area or past the published range, a padding record
//! that does not end at the end, unknown flag bits: [`Error::Corrupted`].
//! Frames before the bad record have been delivered; the bad one is not
//! skipped silently.

/// What every frame view (a producer's grant, a consumer's read frame)
/// has alike: a `Debug` naming the view and the fields of its part
/// `self.$part` shown, and `len` / `is_empty` of `self.$part.len`.
// Its users are the MPSC frame ring's views, built with compare-and-swap only.
#[cfg_attr(not(ipckit_cas), allow(unused_macros))]
macro_rules! frame_view {
    ($view:ident<N $(: $bound:path)?> $name:literal, $part:ident { $($label:literal: $field:ident),* }) => {
        impl<N $(: $bound)?> core::fmt::Debug for $view<'_, '_, N> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct($name)
                    $(.field($label, &self.$part.$field))*
                    .finish()
            }
        }

        impl<N $(: $bound)?> $view<'_, '_, N> {
            /// The length in bytes: of the frame, or granted.
            pub fn len(&self) -> usize {
                self.$part.len as usize
            }

            /// `true` for an empty frame (or a grant of 0 bytes).
            pub fn is_empty(&self) -> bool {
                self.$part.len == 0
            }
        }
    };
}

/// The [`Layout`](crate::place::Layout) constants both frame rings share,
/// inside their `impl Layout`: a byte ring (element size 1, the stride of
/// its byte units) of records aligned to [`RECORD_ALIGN`] (the base, every
/// position), of a capacity the frame rings allow. (A macro: five constants
/// of a sealed trait, which a byte unit cannot supply, since its item would
/// need size 1 and alignment 8.)
macro_rules! record_layout {
    () => {
        const ELEMENT: Result<(u32, u32)> = Ok((1, $crate::frame::RECORD_ALIGN));
        const MIN_CAPACITY: u32 = $crate::frame::MIN_CAPACITY;
        const MAX_CAPACITY: u32 = $crate::frame::MAX_CAPACITY;
        const BASE_ALIGN: usize = $crate::frame::RECORD_ALIGN as usize;
        const POSITION_ALIGN: u32 = $crate::frame::RECORD_ALIGN;
    };
}

pub mod codec;
#[cfg(ipckit_cas)]
pub mod mpsc;
pub mod spsc;

use crate::error::{Error, Result};

/// Every record header and payload starts at a multiple of this many bytes
/// from the start of the data area.
pub const RECORD_ALIGN: u32 = 8;

/// The bytes of a record header.
pub const RECORD_HEADER_LEN: u32 = 8;

/// The smallest data area: room for two record headers.
pub const MIN_CAPACITY: u32 = 16;

/// The largest data area: free-running `u32` positions tell full from empty
/// only while the capacity is at most 2^31.
pub const MAX_CAPACITY: u32 = 1 << 31;

/// Record header flag: a padding record, skipped by the consumer.
pub const PAD: u32 = 1 << 31;

/// Record header flag: space claimed and header written, payload not yet
/// committed (MPSC rings only).
pub const BUSY: u32 = 1 << 30;

/// The length bits of a record header.
pub const LEN_MASK: u32 = BUSY - 1;

/// The first header word of a committed record of a `len`-byte frame (the
/// length bits count the header too, so the word is never 0). `len` must be
/// at most the ring's largest frame.
pub const fn frame_word(len: u32) -> u32 {
    len + RECORD_HEADER_LEN
}

/// The largest frame a ring with a data area of `capacity` bytes carries, or
/// `None` if `capacity` is not a power of two in
/// [`MIN_CAPACITY`]`..=`[`MAX_CAPACITY`].
pub const fn max_frame_len(capacity: u32) -> Option<u32> {
    if capacity < MIN_CAPACITY || capacity > MAX_CAPACITY || !capacity.is_power_of_two() {
        return None;
    }
    Some(capacity / 2 - RECORD_HEADER_LEN)
}

/// The exact-range rule of the grants' and read frames' `write_at` and
/// `read_at`: `n` bytes from `offset` of a `len`-byte frame, or
/// [`Error::OutOfRange`] (and nothing moved); nothing truncates.
pub(crate) fn check_range(offset: usize, n: usize, len: usize) -> Result<()> {
    let end = offset.saturating_add(n);
    if end > len {
        return Err(Error::OutOfRange { end, len });
    }
    Ok(())
}

/// The bytes a record of a `len`-byte frame occupies: header and payload,
/// rounded up to [`RECORD_ALIGN`]. `len` must be at most [`LEN_MASK`] (every
/// valid frame is).
pub const fn record_len(len: u32) -> u32 {
    (len + RECORD_HEADER_LEN + RECORD_ALIGN - 1) & !(RECORD_ALIGN - 1)
}

/// One record header, as [`parse_record`] accepted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// A committed frame of `len` payload bytes; the record is `total` bytes.
    Frame {
        /// Payload bytes.
        len: u32,
        /// Record bytes, header and alignment included.
        total: u32,
    },
    /// A padding record of `total` bytes, up to the end of the data area.
    Padding {
        /// Record bytes, header included.
        total: u32,
    },
    /// Claimed but not committed (MPSC): `len` payload bytes will follow.
    Busy {
        /// Payload bytes the claimant announced.
        len: u32,
        /// Record bytes, header and alignment included.
        total: u32,
    },
}

/// Checks the first header word `word` of a record at byte `offset` of a
/// data area of `capacity` bytes, where `readable` bytes from `offset` on
/// (in position order, so possibly past the end and around) were published
/// by the producer(s).
///
/// The length bits are decoded as [`frame_word`] encodes them. Accepts a
/// frame whose record fits both before the end of the data area
/// and within `readable`; a padding record that ends exactly at the end of
/// the data area, fits within `readable`, and leaves room for the frame that
/// must follow it; a busy record under the same bounds as a frame. Anything
/// else is [`Error::Corrupted`]. `offset` must be a multiple of
/// [`RECORD_ALIGN`] below `capacity`, and `capacity` valid: callers hold
/// these as local invariants, not peer data.
///
/// ```
/// use ipckit_core::{frame::{self, Record}, Error};
/// // A padding record at offset 48 of a 64-byte area covers 16 bytes.
/// assert_eq!(frame::parse_record(frame::PAD | 16, 48, 64, 32), Ok(Record::Padding { total: 16 }));
/// // Padding that stops short of the end is a corruption.
/// assert!(matches!(frame::parse_record(frame::PAD | 8, 48, 64, 32), Err(Error::Corrupted(_))));
/// // So is a frame longer than the ring carries.
/// assert!(matches!(frame::parse_record(1000, 0, 64, 64), Err(Error::Corrupted(_))));
/// // And a zeroed header (nothing written there).
/// assert!(matches!(frame::parse_record(0, 0, 64, 64), Err(Error::Corrupted(_))));
/// ```
pub const fn parse_record(word: u32, offset: u32, capacity: u32, readable: u32) -> Result<Record> {
    let Some(max) = max_frame_len(capacity) else {
        return Err(Error::Corrupted("frame ring capacity"));
    };
    let until_end = capacity - offset;
    let len = word & LEN_MASK;
    if word & PAD != 0 {
        if word & BUSY != 0 {
            return Err(Error::Corrupted(
                "record header has both padding and busy flags",
            ));
        }
        if len != until_end {
            return Err(Error::Corrupted(
                "padding record does not end at the end of the ring",
            ));
        }
        if offset == 0 || len > readable || readable - len < RECORD_HEADER_LEN {
            return Err(Error::Corrupted(
                "padding record is not followed by a frame",
            ));
        }
        return Ok(Record::Padding { total: len });
    }
    if len < RECORD_HEADER_LEN {
        return Err(Error::Corrupted("record length is shorter than its header"));
    }
    let len = len - RECORD_HEADER_LEN;
    if len > max {
        return Err(Error::Corrupted(
            "frame length exceeds the largest frame of the ring",
        ));
    }
    let total = record_len(len);
    if total > until_end {
        return Err(Error::Corrupted(
            "frame record runs past the end of the ring",
        ));
    }
    if total > readable {
        return Err(Error::Corrupted(
            "frame record runs past the published range",
        ));
    }
    if word & BUSY != 0 {
        Ok(Record::Busy { len, total })
    } else {
        Ok(Record::Frame { len, total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_frame_fits_an_empty_ring_from_any_offset() {
        for shift in 4..=16 {
            let cap = 1u32 << shift;
            let max = max_frame_len(cap).unwrap();
            let total = record_len(max);
            for offset in (0..cap).step_by(8) {
                let until_end = cap - offset;
                let needed = if total > until_end {
                    until_end + total
                } else {
                    total
                };
                assert!(needed <= cap, "cap {cap} offset {offset}");
            }
        }
    }

    #[test]
    fn bad_capacities_have_no_max_frame() {
        for cap in [0, 8, 15, 24, 100, (1 << 31) + 1, u32::MAX] {
            assert_eq!(max_frame_len(cap), None, "{cap}");
        }
        assert_eq!(max_frame_len(1 << 31), Some((1 << 30) - 8));
        assert_eq!(max_frame_len(16), Some(0));
    }

    #[test]
    fn documented_values() {
        assert_eq!(frame_word(0), 8);
        assert_eq!(frame_word(5) & LEN_MASK, 13);
        assert_eq!(max_frame_len(1024), Some(504));
        assert_eq!(max_frame_len(1000), None);
        assert_eq!(record_len(0), 8);
        assert_eq!(record_len(1), 16);
        assert_eq!(record_len(64), 72);
        assert_eq!(
            parse_record(13, 0, 64, 64),
            Ok(Record::Frame { len: 5, total: 16 })
        );
    }

    #[test]
    fn records_round_to_eight() {
        for len in 0..64 {
            let total = record_len(len);
            assert_eq!(total % 8, 0);
            assert!(total >= len + 8 && total < len + 16);
        }
        assert_eq!(record_len(LEN_MASK) % 8, 0);
    }

    #[test]
    fn parse_accepts_what_a_producer_writes() {
        assert_eq!(
            parse_record(frame_word(0), 0, 64, 8),
            Ok(Record::Frame { len: 0, total: 8 })
        );
        assert_eq!(
            parse_record(frame_word(24), 32, 64, 32),
            Ok(Record::Frame { len: 24, total: 32 })
        );
        assert_eq!(
            parse_record(BUSY | frame_word(3), 8, 64, 16),
            Ok(Record::Busy { len: 3, total: 16 })
        );
        assert_eq!(
            parse_record(PAD | 8, 56, 64, 16),
            Ok(Record::Padding { total: 8 })
        );
    }

    #[test]
    fn parse_refuses_every_bad_header() {
        let bad = [
            (PAD | BUSY | 8, 56, 64, 64),       // both flags
            (PAD | 16, 56, 64, 64),             // padding past the end
            (PAD | 8, 48, 64, 64),              // padding short of the end
            (PAD | 64, 0, 64, 64),              // padding at offset 0
            (PAD | 8, 56, 64, 8),               // padding with no frame after it
            (PAD | 8, 56, 64, 4),               // padding not published
            (0, 0, 64, 64),                     // zeroed: nothing written
            (7, 0, 64, 64),                     // shorter than a header
            (BUSY, 0, 64, 64),                  // busy, shorter than a header
            (frame_word(25), 0, 64, 64),        // longer than the largest frame
            (frame_word(24), 40, 64, 64),       // record past the end of the ring
            (frame_word(8), 0, 64, 8),          // record past the published range
            (BUSY | frame_word(25), 0, 64, 64), // busy, too long
            (LEN_MASK, 0, 1 << 20, 1 << 20),    // huge
            (u32::MAX, 0, 64, 64),
        ];
        for (word, offset, cap, readable) in bad {
            assert!(
                matches!(
                    parse_record(word, offset, cap, readable),
                    Err(Error::Corrupted(_))
                ),
                "{word:#x} at {offset} of {cap}, {readable} readable"
            );
        }
    }
}

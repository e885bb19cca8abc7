//! Fuzz target `read_frame_region`: a consumer of the SPSC frame ring
//! reading a region whose bytes the fuzzer has overwritten.

use ipckit_core::frame::{self, spsc};
use ipckit_core::{AlignedBytes, Error, Region};

/// Byte offsets in the region (layout of [`spsc`]).
const HEADER_END: usize = 128;
const TAIL: usize = 128;
const CONSUMER_CLAIM: usize = 260;
const HEAD: usize = 256;
const DATA: usize = spsc::DATA_OFFSET;

/// The largest data area the target builds.
const MAX_CAPACITY: usize = 512;

/// Bytes of the region's backing buffer.
const BACKING: usize = DATA + MAX_CAPACITY;

/// Reads the fuzzer's bytes front to back; zeros once they run out.
pub(crate) struct Input<'d>(pub(crate) &'d [u8]);

impl Input<'_> {
    pub(crate) fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    pub(crate) fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

pub(crate) fn word(bytes: &[u8], offset: usize) -> u32 {
    u32::from_ne_bytes(bytes[offset..offset + 4].try_into().unwrap())
}

/// The payload of the `index`th frame sent: recognisable bytes, so that a
/// frame delivered from the wrong place does not compare equal by chance.
pub(crate) fn payload(index: usize, len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (index as u8).wrapping_mul(37) ^ (i as u8).wrapping_mul(11) ^ salt)
        .collect()
}

/// A frame committed to the ring: its payload and the positions its record
/// covers, a padding record before it included.
pub(crate) struct Sent {
    pub(crate) payload: Vec<u8>,
    pub(crate) start: u32,
    pub(crate) end: u32,
}

/// Fuzz target `read_frame_region`.
///
/// Input, read front to back (missing bytes read as 0):
/// - 1 byte: data area of `16 << (b % 6)` bytes (16..=512);
/// - 4 bytes: the start position of both indices (rounded down to 8);
/// - 1 byte: frames sent and received first, so the live frames start
///   anywhere in the data area (`b % 16`);
/// - 1 byte: how the consumer reads (bits select `try_recv`, `try_read`, a
///   too-small buffer, a read dropped without release);
/// - 1 byte: the number of frames to send (`b % 32`; sending stops at the
///   first `Full`), then one length byte per frame (taken modulo the largest
///   frame + 1); bit 0 of each length byte sends through a grant;
/// - then corruptions of 7 bytes each: a selector, a `u16` offset, a `u32`
///   value: the selector picks `tail`, `head`, a word of the data area, the
///   header word of a live record, a byte of the header, a byte of the
///   control lines, or a byte of the data area.
///
/// Then a fresh `attach` and a consumer read until an error or `Empty`. The
/// consumer must not panic, must deliver no frame longer than the ring's
/// largest, no more frames than the ring can hold, and every frame before
/// the first one whose bytes (or whose bounds: `head`, `tail`, the
/// capacity in the header) were overwritten, intact and in order, before
/// any error.
pub fn read_frame_region(data: &[u8]) {
    let mut input = Input(data);
    let capacity = 16u32 << (input.byte() % 6);
    let start = input.u32() & !7;
    let warm_up = usize::from(input.byte() % 16);
    let mode = input.byte();
    let count = usize::from(input.byte() % 32);
    let salt = mode;

    let region_len = spsc::Ring::region_len(capacity).unwrap();
    let mut backing = Box::new(AlignedBytes::<BACKING>::new());
    let bytes = &mut backing[..region_len];

    // Phase 1: a well-behaved producer (and, for the warm-up, consumer).
    let max = frame::max_frame_len(capacity).unwrap();
    let mut sent = Vec::new();
    let mut position = start;
    let head;
    {
        let options = spsc::Options::new(capacity).start_at(start);
        let ring = spsc::Ring::init_with(Region::from_slice(bytes), options).unwrap();
        let (mut tx, mut rx) = ring.split().unwrap();
        let mut buf = [0u8; MAX_CAPACITY];
        for i in 0..warm_up {
            let len = (i * 13) % (max as usize + 1);
            tx.try_send(&payload(i, len, !salt)).unwrap();
            assert_eq!(rx.try_recv(&mut buf), Ok(len));
            position = advance(position, len as u32, capacity).1;
        }
        head = position;
        for index in 0..count {
            let len_byte = input.byte();
            let len = usize::from(len_byte) % (max as usize + 1);
            let frame = payload(index, len, salt);
            let result = if len_byte & 1 == 0 {
                tx.try_send(&frame)
            } else {
                tx.try_grant(len).map(|mut grant| {
                    assert_eq!(grant.copy_from_slice(&frame), Ok(()));
                    grant.commit_all();
                })
            };
            match result {
                Ok(()) => {}
                Err(Error::Full) => break,
                Err(e) => panic!("sending a valid frame: {e:?}"),
            }
            let (record_start, end) = advance(position, len as u32, capacity);
            sent.push(Sent {
                payload: frame,
                start: record_start,
                end,
            });
            position = end;
        }
    }
    // The record layout model agrees with what the ring published.
    assert_eq!(word(bytes, HEAD), head, "head");
    assert_eq!(word(bytes, TAIL), position, "tail");
    let tail = position;

    // Phase 2: the fuzzer overwrites bytes of the region.
    let original = bytes.to_vec();
    while !input.is_empty() {
        let selector = input.byte();
        let offset = usize::from(input.u16());
        let value = input.u32();
        let (at, value): (usize, &[u8]) = match selector % 7 {
            0 => (TAIL, &value.to_ne_bytes()),
            1 => (HEAD, &value.to_ne_bytes()),
            2 => (
                DATA + ((offset % capacity as usize) & !3),
                &value.to_ne_bytes(),
            ),
            3 if !sent.is_empty() => {
                let record = &sent[offset % sent.len()];
                let at = (record
                    .end
                    .wrapping_sub(frame::record_len(record.payload.len() as u32))
                    & (capacity - 1)) as usize;
                (DATA + at, &value.to_ne_bytes())
            }
            4 => (offset % HEADER_END, &value.to_ne_bytes()[..1]),
            5 => (
                HEADER_END + offset % (DATA - HEADER_END),
                &value.to_ne_bytes()[..1],
            ),
            _ => (DATA + offset % capacity as usize, &value.to_ne_bytes()[..1]),
        };
        bytes[at..at + value.len()].copy_from_slice(value);
    }

    // Which frames must still arrive intact: those before the first one
    // whose record bytes changed, and before the new `tail` if it is valid.
    let header_changed = bytes[..HEADER_END] != original[..HEADER_END];
    let claim_changed =
        bytes[CONSUMER_CLAIM..CONSUMER_CLAIM + 4] != original[CONSUMER_CLAIM..CONSUMER_CLAIM + 4];
    let mut intact = sent.len();
    for offset in 0..capacity as usize {
        if bytes[DATA + offset] != original[DATA + offset] {
            let affected = sent
                .iter()
                .position(|s| covers((s.start, s.end), offset as u32, capacity));
            intact = intact.min(affected.unwrap_or(sent.len()));
        }
    }
    let head_changed = word(bytes, HEAD) != head;
    if head_changed {
        intact = 0;
    }
    let new_tail = word(bytes, TAIL);
    if new_tail != tail {
        let available = new_tail.wrapping_sub(head);
        let fits = if available > capacity || available % 8 != 0 {
            0
        } else {
            sent.iter()
                .take_while(|s| s.end.wrapping_sub(head) <= available)
                .count()
        };
        intact = intact.min(fits);
    }

    // Phase 3: a fresh consumer on the overwritten bytes.
    let ring = match spsc::Ring::attach(Region::from_slice(bytes)) {
        Ok(ring) => ring,
        Err(e) => {
            assert!(
                header_changed,
                "attach failed on an unchanged header: {e:?}"
            );
            return;
        }
    };
    assert!(ring.max_frame_len() <= ring.capacity() / 2);
    if ring.capacity() != capacity {
        intact = 0;
    }
    let mut rx = match ring.consumer() {
        Ok(rx) => rx,
        Err(e) => {
            // `consumer` checks `head` against `tail` as it claims.
            let bounds_changed = head_changed || new_tail != tail;
            assert!(
                header_changed || claim_changed || bounds_changed,
                "consumer refused on a valid region: {e:?}"
            );
            return;
        }
    };
    let ring_max = rx.max_frame_len() as usize;
    let limit = ring.capacity() as usize / frame::RECORD_ALIGN as usize;
    let mut buf = vec![0u8; ring.capacity() as usize];
    let mut delivered = 0;
    loop {
        let result = match (mode >> (delivered % 4 * 2)) & 3 {
            0 => rx.try_recv(&mut buf),
            1 => match rx.try_recv(&mut buf[..delivered % 5]) {
                Err(Error::BufferTooSmall { required }) => {
                    assert!(required > delivered % 5 && required <= ring_max);
                    // The frame stayed queued.
                    let again = rx.try_recv(&mut buf);
                    assert_eq!(again, Ok(required));
                    again
                }
                other => other,
            },
            2 => rx.try_read().map(|frame| {
                let len = frame.len();
                assert_eq!(frame.copy_to(&mut buf), Ok(len));
                frame.release();
                len
            }),
            // The view dropped without release: the frame stays queued.
            _ => match rx.try_read().map(|frame| frame.len()) {
                // Dropped without release: the same frame comes again.
                Ok(len) => {
                    let again = rx.try_recv(&mut buf);
                    assert_eq!(again, Ok(len));
                    again
                }
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(len) => {
                assert!(len <= ring_max, "frame of {len} bytes > max {ring_max}");
                if delivered < intact {
                    assert_eq!(
                        &buf[..len],
                        &sent[delivered].payload[..],
                        "frame {delivered}"
                    );
                }
                delivered += 1;
                assert!(delivered <= limit, "more frames than the ring holds");
            }
            Err(Error::Empty) => {
                assert!(
                    delivered >= intact,
                    "Empty after {delivered} of {intact} frames"
                );
                break;
            }
            Err(e) => {
                assert!(matches!(e, Error::Corrupted(_)), "{e:?}");
                assert!(
                    delivered >= intact,
                    "{e:?} after {delivered} of {intact} frames"
                );
                // Still safe to use and to drop.
                let _ = rx.try_recv(&mut buf);
                let _ = rx.pending_bytes();
                break;
            }
        }
    }
    if intact == sent.len() && !header_changed && !head_changed && new_tail == tail {
        // Nothing the consumer reads was touched: it got everything (and
        // no more: a rewound `head` may replay consumed frames).
        assert_eq!(delivered, sent.len());
    }
}

/// Where the record of a `len`-byte frame committed at `position` starts
/// (with the padding record before it, if any) and ends.
pub(crate) fn advance(position: u32, len: u32, capacity: u32) -> (u32, u32) {
    let total = frame::record_len(len);
    let until_end = capacity - (position & (capacity - 1));
    let pad = if total > until_end { until_end } else { 0 };
    (position, position.wrapping_add(pad + total))
}

/// Whether the data-area byte at `offset` lies in the positions `start..end`.
pub(crate) fn covers((start, end): (u32, u32), offset: u32, capacity: u32) -> bool {
    let from = start & (capacity - 1);
    (offset.wrapping_sub(from) & (capacity - 1)) < end.wrapping_sub(start)
}

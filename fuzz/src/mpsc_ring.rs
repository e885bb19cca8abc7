//! Fuzz target `read_mpsc_region`: the consumer of the MPSC frame ring
//! reading a region whose bytes the fuzzer has overwritten.

use ipckit_core::frame::{self, mpsc};
use ipckit_core::{AlignedBytes, Error, Region};

use crate::frame_ring::{Input, advance, covers, payload, word};

/// Byte offsets in the region (layout of [`mpsc`]).
const HEADER_END: usize = 128;
const TAIL: usize = 128;
const HEAD: usize = 256;
const CONSUMER_CLAIM: usize = 260;
/// The consumer's erase journal (position, span): a new consumer finishes
/// the erase it names, so a forged one may erase records or be refused.
const JOURNAL: usize = 268;
const DATA: usize = mpsc::DATA_OFFSET;

/// The largest data area the target builds.
const MAX_CAPACITY: usize = 512;

/// What a producer left at a range of positions.
#[derive(Debug)]
enum Kind {
    /// A committed frame.
    Frame(Vec<u8>),
    /// A grant dropped without commit: skipped by the consumer.
    Discarded,
    /// A grant forgotten (its producer "died"): stalls the consumer.
    Busy,
}

#[derive(Debug)]
struct Record {
    kind: Kind,
    start: u32,
    end: u32,
}

/// Fuzz target `read_mpsc_region`.
///
/// Input, read front to back (missing bytes read as 0):
/// - 1 byte: data area of `16 << (b % 6)` bytes (16..=512);
/// - 4 bytes: the start position (rounded down to 8);
/// - 1 byte: frames sent and received first (`b % 16`);
/// - 1 byte: how the consumer reads (bits select `try_recv`, `try_read`, a
///   too-small buffer, a read dropped without release);
/// - 1 byte: the producer id;
/// - 1 byte: the number of records to write (`b % 32`; stops at `Full`), then
///   one length byte each (modulo the largest frame + 1) whose low bits pick
///   `try_send`, a committed grant, a dropped grant (a discarded record), or
///   (once) a forgotten grant (a busy record of a dead producer);
/// - then corruptions of 7 bytes each, as for
///   [`read_frame_region`](crate::read_frame_region).
///
/// Then a fresh `attach` and a consumer that reads, and on `Empty` skips a
/// stalled record ([`mpsc::Consumer::stalled`],
/// [`mpsc::Consumer::skip_stalled`]), until an error or nothing is left.
/// It must not panic, deliver no frame longer than the ring's largest, go
/// at most once around the ring, and deliver every frame before the first
/// record whose bytes or bounds were overwritten, intact and in order, with
/// discarded records skipped and the busy record reported as stalled by the
/// producer's id.
pub fn read_mpsc_region(data: &[u8]) {
    let mut input = Input(data);
    let capacity = 16u32 << (input.byte() % 6);
    let start = input.u32() & !7;
    let warm_up = usize::from(input.byte() % 16);
    let mode = input.byte();
    let id = u32::from(input.byte()) + 1;
    let count = usize::from(input.byte() % 32);
    let salt = mode;

    let region_len = mpsc::Ring::region_len(capacity).unwrap();
    let mut backing = Box::new(AlignedBytes::<{ DATA + MAX_CAPACITY }>::new());
    let bytes = &mut backing[..region_len];

    // Phase 1: a well-behaved producer (and, for the warm-up, consumer).
    let max = frame::max_frame_len(capacity).unwrap();
    let mut records = Vec::new();
    let mut position = start;
    let head;
    {
        let options = mpsc::Options::new(capacity).start_at(start);
        let ring = mpsc::Ring::init_with(Region::from_slice(bytes), options).unwrap();
        let tx = ring.producer().unwrap().with_id(id).unwrap();
        let mut rx = ring.consumer().unwrap();
        let mut buf = [0u8; MAX_CAPACITY];
        for i in 0..warm_up {
            let len = (i * 13) % (max as usize + 1);
            tx.try_send(&payload(i, len, !salt)).unwrap();
            assert_eq!(rx.try_recv(&mut buf), Ok(len));
            position = advance(position, len as u32, capacity).1;
        }
        head = position;
        let mut busy = false;
        for index in 0..count {
            let len_byte = input.byte();
            let len = usize::from(len_byte) % (max as usize + 1);
            let frame = payload(index, len, salt);
            let result = match len_byte & 3 {
                0 | 1 => tx.try_send(&frame).map(|()| Kind::Frame(frame)),
                2 => tx.try_grant(len).and_then(|mut grant| {
                    grant.copy_from_slice(&frame)?;
                    grant.commit(len)?;
                    Ok(Kind::Frame(frame))
                }),
                _ if len_byte & 4 != 0 && !busy => tx.try_grant(len).map(|grant| {
                    busy = true;
                    core::mem::forget(grant);
                    Kind::Busy
                }),
                _ => tx.try_grant(len).map(|grant| {
                    drop(grant);
                    Kind::Discarded
                }),
            };
            let kind = match result {
                Ok(kind) => kind,
                Err(Error::Full) => break,
                Err(e) => panic!("writing a valid record: {e:?}"),
            };
            let (record_start, end) = advance(position, len as u32, capacity);
            records.push(Record {
                kind,
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
            3 if !records.is_empty() => {
                let record = &records[offset % records.len()];
                // The record itself, after any padding before it.
                let len = match &record.kind {
                    Kind::Frame(p) => p.len() as u32,
                    _ => 0,
                };
                let at = if advance(record.start, len, capacity).1 == record.end {
                    record.end.wrapping_sub(frame::record_len(len))
                } else {
                    record.start
                };
                (DATA + (at & (capacity - 1)) as usize, &value.to_ne_bytes())
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

    // The records that must still be read as written: those before the
    // first one whose bytes changed, and before the new `tail` if valid.
    let unchanged = bytes[..] == original[..];
    let header_changed = bytes[..HEADER_END] != original[..HEADER_END];
    let claim_changed =
        bytes[CONSUMER_CLAIM..CONSUMER_CLAIM + 4] != original[CONSUMER_CLAIM..CONSUMER_CLAIM + 4];
    let journal_changed = bytes[JOURNAL..JOURNAL + 8] != original[JOURNAL..JOURNAL + 8];
    let mut intact = if journal_changed { 0 } else { records.len() };
    for offset in 0..capacity as usize {
        if bytes[DATA + offset] != original[DATA + offset] {
            let affected = records
                .iter()
                .position(|r| covers((r.start, r.end), offset as u32, capacity));
            intact = intact.min(affected.unwrap_or(records.len()));
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
            records
                .iter()
                .take_while(|r| r.end.wrapping_sub(head) <= available)
                .count()
        };
        intact = intact.min(fits);
    }

    // Phase 3: a fresh consumer on the overwritten bytes.
    let ring = match mpsc::Ring::attach(Region::from_slice(bytes)) {
        Ok(ring) => ring,
        Err(e) => {
            assert!(
                header_changed,
                "attach failed on an unchanged header: {e:?}"
            );
            return;
        }
    };
    if ring.capacity() != capacity {
        intact = 0;
    }
    let mut rx = match ring.consumer() {
        Ok(rx) => rx,
        Err(e) => {
            assert!(
                header_changed
                    || claim_changed
                    || journal_changed
                    || head_changed
                    || new_tail != tail,
                "consumer refused on a valid region: {e:?}"
            );
            return;
        }
    };
    let ring_max = ring.max_frame_len() as usize;
    let limit = ring.capacity() as usize / frame::RECORD_ALIGN as usize + 2;
    let mut buf = vec![0u8; ring.capacity() as usize];
    // The next record of the model; past `intact`, anything goes.
    let mut next = 0;
    let skip_discarded = |next: &mut usize| {
        while *next < intact && matches!(records[*next].kind, Kind::Discarded) {
            *next += 1;
        }
    };
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps <= limit, "the consumer went around the ring");
        skip_discarded(&mut next);
        let small = steps % 5;
        let result = match (mode >> (steps % 4 * 2)) & 3 {
            0 => rx.try_recv(&mut buf),
            1 => match rx.try_recv(&mut buf[..small]) {
                Err(Error::BufferTooSmall { required }) => {
                    assert!(required > small && required <= ring_max);
                    let again = rx.try_recv(&mut buf);
                    assert_eq!(again, Ok(required), "the frame stayed queued");
                    again
                }
                other => other,
            },
            2 => rx.try_read().map(|frame| {
                let len = frame.len();
                if next < intact {
                    assert_eq!(frame.claimant(), id);
                }
                assert_eq!(frame.copy_to(&mut buf), Ok(len));
                frame.release();
                len
            }),
            // The view dropped without release: the frame stays queued.
            _ => match rx.try_read().map(|frame| frame.len()) {
                Ok(len) => {
                    let again = rx.try_recv(&mut buf);
                    assert_eq!(again, Ok(len), "an unreleased frame stayed queued");
                    again
                }
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(len) => {
                assert!(len <= ring_max, "frame of {len} bytes > max {ring_max}");
                if next < intact {
                    match &records[next].kind {
                        Kind::Frame(p) => assert_eq!(&buf[..len], &p[..], "record {next}"),
                        other => panic!("a frame delivered in place of {other:?} {next}"),
                    }
                    next += 1;
                } else {
                    next = usize::MAX;
                }
            }
            Err(Error::Empty) => {
                let expect_busy = next < intact && matches!(records[next].kind, Kind::Busy);
                assert!(
                    next >= intact || expect_busy,
                    "Empty at record {next} of {intact} intact"
                );
                let stall = match rx.stalled() {
                    Ok(stall) => stall,
                    Err(e) => {
                        assert!(next >= intact, "{e:?} at record {next} of {intact}");
                        break;
                    }
                };
                let Some(stall) = stall else {
                    assert!(!expect_busy, "the busy record {next} is not reported");
                    break;
                };
                if expect_busy {
                    assert_eq!(stall.claimant, Some(id));
                    assert_eq!(
                        stall.position,
                        records[next]
                            .end
                            .wrapping_sub(frame::record_len(stall.len.unwrap()))
                    );
                }
                match rx.skip_stalled(&stall) {
                    Ok(0) => break,
                    Ok(skipped) => {
                        assert!(skipped % 8 == 0 && skipped <= ring.capacity());
                        if expect_busy {
                            next += 1;
                        } else {
                            next = usize::MAX;
                        }
                    }
                    Err(e) => {
                        assert!(matches!(e, Error::Corrupted(_)), "{e:?}");
                        assert!(next >= intact, "{e:?} at record {next} of {intact}");
                        break;
                    }
                }
            }
            Err(e) => {
                assert!(matches!(e, Error::Corrupted(_)), "{e:?}");
                assert!(next >= intact, "{e:?} at record {next} of {intact}");
                // Still safe to use and to drop.
                let _ = rx.try_recv(&mut buf);
                let _ = rx.stalled();
                break;
            }
        }
    }
    if unchanged {
        // Nothing was touched: every record was read or skipped.
        skip_discarded(&mut next);
        assert_eq!(next, records.len(), "records read of {}", records.len());
    }
}

//! `docs/LAYOUT.md` against the code: every table marked
//! `<!-- check: NAME [base=N] -->` (columns `field | offset | size | value`)
//! is compared with the bytes the crate writes for the example that the
//! section of the document describes.
//!
//! A value is a number (decimal or `0x` hex; terms joined by ` + `, where
//! `pid×N` and `start` stand for this process's pid and start time), a
//! quoted string (its bytes), and is read at `base + offset` as a
//! native-endian `u32` (size 4) or `u64` (size 8); any other size must hold
//! the value 0 and is checked to be all zero bytes.

use std::collections::BTreeMap;

use ipckit::channel::{ProcessId, spsc};
use ipckit::frame;
use ipckit::mpmc;
use ipckit::semaphore::Semaphore;
use ipckit::shm::{SharedMapping, SharedMemory, ShmObject};

/// One checked row: where, how many bytes, what they hold.
#[derive(Debug)]
struct Row {
    field: String,
    offset: usize,
    size: usize,
    value: String,
}

/// The marked tables of the document: name -> (base, rows).
fn tables(doc: &str) -> BTreeMap<String, (usize, Vec<Row>)> {
    let mut out = BTreeMap::new();
    let mut lines = doc.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(marker) = line
            .trim()
            .strip_prefix("<!-- check: ")
            .and_then(|m| m.strip_suffix("-->"))
        else {
            continue;
        };
        let mut words = marker.split_whitespace();
        let name = words.next().expect("a table name").to_owned();
        let base = words
            .find_map(|w| w.strip_prefix("base="))
            .map_or(0, |b| b.parse().expect("base=N"));
        let header = lines.next().expect("a table after the marker");
        assert_eq!(
            cells(header),
            ["field", "offset", "size", "value"],
            "table {name}: columns"
        );
        lines.next(); // |---|---:|...
        let mut rows = Vec::new();
        while let Some(row) = lines.next_if(|l| l.starts_with('|')) {
            let c = cells(row);
            assert_eq!(c.len(), 4, "table {name}: row {row}");
            rows.push(Row {
                field: c[0].clone(),
                offset: c[1].parse().unwrap_or_else(|_| panic!("offset in {row}")),
                size: c[2].parse().unwrap_or_else(|_| panic!("size in {row}")),
                value: c[3].clone(),
            });
        }
        assert!(!rows.is_empty(), "table {name} has no rows");
        assert!(
            out.insert(name.clone(), (base, rows)).is_none(),
            "{name} twice"
        );
    }
    out
}

/// The cells of a markdown table row (`\|` is a literal bar).
fn cells(row: &str) -> Vec<String> {
    let row = row.replace("\\|", "\u{0}");
    let row = row.trim().trim_start_matches('|').trim_end_matches('|');
    row.split('|')
        .map(|c| c.trim().replace('\u{0}', "|"))
        .collect()
}

/// A row's value as a number (see the module docs).
fn number(value: &str, me: &ProcessId) -> u64 {
    value
        .split(" + ")
        .map(|term| match term.trim() {
            "start" => me.start_time,
            "pid" => u64::from(me.pid),
            t if t.starts_with("pid×") => u64::from(me.pid) * int(&t["pid×".len()..]),
            t => int(t),
        })
        .sum()
}

fn int(s: &str) -> u64 {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    }
    .unwrap_or_else(|_| panic!("not a number: {s:?}"))
}

/// Checks every row of `table` against `bytes`; returns the mismatches.
fn check(name: &str, (base, rows): &(usize, Vec<Row>), bytes: &[u8]) -> Vec<String> {
    let me = ProcessId::current().expect("own pid and start time");
    let mut wrong = Vec::new();
    for row in rows {
        let at = base + row.offset;
        let Some(got) = bytes.get(at..at + row.size) else {
            wrong.push(format!(
                "{name}: {} at {at} lies outside the object",
                row.field
            ));
            continue;
        };
        let ok = if let Some(s) = row.value.strip_prefix('"') {
            got == s.trim_end_matches('"').as_bytes()
        } else {
            let want = number(&row.value, &me);
            match row.size {
                4 => u64::from(u32::from_ne_bytes(got.try_into().unwrap())) == want,
                8 => u64::from_ne_bytes(got.try_into().unwrap()) == want,
                _ => {
                    assert_eq!(want, 0, "{name}: {}: only zero ranges", row.field);
                    got.iter().all(|&b| b == 0)
                }
            }
        };
        if !ok {
            wrong.push(format!(
                "{name}: {} at {at} ({} bytes): documented {}, found {got:02x?}",
                row.field, row.size, row.value
            ));
        }
    }
    wrong
}

/// A copy of `len` bytes of shared memory at `ptr` (nobody writes them
/// while the examples are inspected: every endpoint is idle).
fn snapshot(ptr: *const u8, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    // SAFETY: `ptr..ptr + len` is a live mapping of the caller's; no thread
    // writes it during the copy.
    unsafe { std::ptr::copy_nonoverlapping(ptr, out.as_mut_ptr(), len) };
    out
}

/// The SPSC channel of sections 2, 5 and 12: `u64`, capacity 8, sender and
/// receiver of this process; 3 items sent, 1 received.
fn spsc_channel() -> Vec<u8> {
    let name = format!("ipckit-test-layout-doc-{}", std::process::id());
    let _ = ShmObject::remove(&name);
    let mut tx = spsc::Sender::<u64>::create(&name, 8).expect("create");
    let mut rx = spsc::Receiver::<u64>::open(&name).expect("open");
    ShmObject::remove(&name).expect("unlink");
    for v in [0x1111, 0x2222, 0x3333] {
        tx.try_send(v).expect("send");
    }
    assert_eq!(rx.try_recv().expect("recv"), 0x1111);
    let mem = tx.memory();
    assert_eq!(mem.len(), 8192, "the documented object length");
    snapshot(mem.as_ptr(), mem.len())
}

/// Section 7: frame SPSC, capacity 64, started at 40; `"hello"` and a
/// 20-byte frame sent.
fn frame_spsc() -> Vec<u8> {
    let len = frame::spsc::Ring::region_len(64).unwrap();
    let map = SharedMapping::anonymous(len).unwrap();
    let ring =
        frame::spsc::Ring::init_with(map.region(), frame::spsc::Options::new(64).start_at(40))
            .unwrap();
    let (mut tx, _rx) = ring.split().unwrap();
    tx.try_send(b"hello").unwrap();
    tx.try_send(&[7; 20]).unwrap();
    snapshot(map.as_ptr(), len)
}

/// Section 8: frame MPSC, capacity 64, started at 40; producer id 0x1234
/// sends `"hello"` and 20 bytes, the consumer receives `"hello"`, the
/// producer drops a grant of 4.
fn frame_mpsc() -> Vec<u8> {
    let len = frame::mpsc::Ring::region_len(64).unwrap();
    let map = SharedMapping::anonymous(len).unwrap();
    let ring =
        frame::mpsc::Ring::init_with(map.region(), frame::mpsc::Options::new(64).start_at(40))
            .unwrap();
    let tx = ring.producer().unwrap().with_id(0x1234).unwrap();
    let mut rx = ring.consumer().unwrap();
    tx.try_send(b"hello").unwrap();
    tx.try_send(&[7; 20]).unwrap();
    let mut buf = [0; 32];
    assert_eq!(rx.try_recv(&mut buf).unwrap(), 5);
    drop(tx.try_grant(4).unwrap());
    snapshot(map.as_ptr(), len)
}

/// Section 9: MPMC of `u64`, capacity 4; pushes 0x11, 0x22, pops one.
fn mpmc_ring() -> Vec<u8> {
    let len = mpmc::Ring::<u64>::region_len(4).unwrap();
    let map = SharedMapping::anonymous(len).unwrap();
    let ring = mpmc::Ring::<u64>::init(map.region(), 4).unwrap();
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    tx.try_push(0x11).unwrap();
    tx.try_push(0x22).unwrap();
    assert_eq!(rx.try_pop().unwrap(), 0x11);
    snapshot(map.as_ptr(), len)
}

/// Section 10: a semaphore of maximum 5, initial count 2, after one wait.
fn semaphore() -> Vec<u8> {
    let len = Semaphore::region_len();
    let map = SharedMapping::anonymous(len).unwrap();
    let sem = Semaphore::init(map.region(), 2, 5).unwrap();
    sem.handle().unwrap().try_wait().unwrap();
    snapshot(map.as_ptr(), len)
}

/// Section 15: a latest-value slot of `[u32; 3]` after one write of
/// `[0x11, 0x22, 0x33]`, the writer still open.
fn latest_slot() -> Vec<u8> {
    let len = ipckit::latest::Slot::<[u32; 3]>::region_len().unwrap();
    let map = SharedMapping::anonymous(len).unwrap();
    let slot = ipckit::latest::Slot::<[u32; 3]>::init(map.region()).unwrap();
    let mut writer = slot.writer().unwrap();
    writer.write([0x11, 0x22, 0x33]);
    snapshot(map.as_ptr(), len)
}

/// Section 17.2: a broadcast frame ring of 128 bytes in slots of 32,
/// started at 0x0A0B0C0D; `"hello"` and a 20-byte frame published, then a
/// loan that wrote `"xyz"` dropped.
fn broadcast_frames() -> Vec<u8> {
    use ipckit::broadcast::{Options, frames::FrameRing};
    let options = Options::new(128).slot_size(32).start_at(0x0A0B_0C0D);
    let len = FrameRing::region_len_with(options).unwrap();
    let map = SharedMapping::anonymous(len).unwrap();
    let ring = FrameRing::init_with(map.region(), options).unwrap();
    let mut tx = ring.publisher().unwrap();
    tx.publish(b"hello").unwrap();
    tx.publish(b"twenty bytes of text").unwrap();
    let mut loan = tx.loan(3).unwrap();
    loan.write_at(0, b"xyz").unwrap();
    drop(loan);
    let bytes = snapshot(map.as_ptr(), len);
    drop(tx);
    // The snapshot was taken with the publisher alive (claim 1).
    bytes
}

/// Section 12, message type id: a typed SPSC byte channel of capacity
/// 4096 created by a sender whose type states
/// `type_id_of("ipckit/layout-doc")`; no receiver yet.
#[cfg(feature = "serde")]
fn typed_channel() -> Vec<u8> {
    use ipckit::channel::typed::{MessageType, Sender, type_id_of};
    struct Doc;
    impl serde::Serialize for Doc {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_unit()
        }
    }
    impl MessageType for Doc {
        fn message_type_id() -> u64 {
            type_id_of("ipckit/layout-doc")
        }
    }
    let name = format!("ipckit-test-layout-doc-typed-{}", std::process::id());
    let _ = ShmObject::remove(&name);
    let tx = Sender::<Doc>::create(&name, 4096).expect("create");
    ShmObject::remove(&name).expect("unlink");
    let mem = tx.as_bytes().memory();
    assert_eq!(mem.len(), 12288, "the documented object length");
    snapshot(mem.as_ptr(), mem.len())
}

#[test]
fn documented_tables_match_the_bytes_the_crate_writes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/LAYOUT.md");
    let doc = std::fs::read_to_string(path).expect("docs/LAYOUT.md");
    let tables = tables(&doc);
    let channel = spsc_channel();
    #[cfg(feature = "serde")]
    let typed = typed_channel();
    let examples: &[(&str, &[u8])] = &[
        #[cfg(feature = "serde")]
        ("liveness-typed", &typed),
        ("header", &channel),
        ("spsc", &channel),
        ("liveness", &channel),
        ("frame-spsc", &frame_spsc()),
        ("frame-spsc-data", &frame_spsc()),
        ("frame-mpsc", &frame_mpsc()),
        ("frame-mpsc-data", &frame_mpsc()),
        ("mpmc", &mpmc_ring()),
        ("semaphore", &semaphore()),
        ("latest", &latest_slot()),
        ("broadcast-frames", &broadcast_frames()),
    ];
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (name, bytes) in examples {
        let table = tables
            .get(*name)
            .unwrap_or_else(|| panic!("docs/LAYOUT.md has no table `check: {name}`"));
        checked += table.1.len();
        wrong.extend(check(name, table, bytes));
    }
    for name in tables.keys() {
        assert!(
            examples.iter().any(|(n, _)| n == name),
            "table `{name}` has no example here"
        );
    }
    assert!(
        wrong.is_empty(),
        "docs/LAYOUT.md is wrong:\n{}",
        wrong.join("\n")
    );
    assert!(checked > 80, "only {checked} rows checked");
}

/// The constants the document states in prose, against the crate's.
#[test]
fn documented_constants_match_the_crate() {
    use ipckit::channel::{LIVENESS_LEN, LIVENESS_MAGIC, LIVENESS_VERSION, MAX_ENDPOINTS};
    use ipckit::region::{ENDIAN_MARKER, FLAG_WAKES, LAYOUT_VERSION, LINE, MAGIC};
    assert_eq!(MAGIC, 0x4B43_5049);
    assert_eq!(LAYOUT_VERSION, 1);
    assert_eq!(ENDIAN_MARKER, 0x0102_0304);
    assert_eq!(FLAG_WAKES, 1);
    assert_eq!(LINE, 128);
    assert_eq!(LIVENESS_MAGIC, 0x4C43_5049);
    assert_eq!(LIVENESS_VERSION, 2);
    assert_eq!(LIVENESS_LEN, 4096);
    assert_eq!(MAX_ENDPOINTS, 64);
    assert_eq!(frame::PAD, 0x8000_0000);
    assert_eq!(frame::BUSY, 0x4000_0000);
    assert_eq!(frame::RECORD_HEADER_LEN, 8);
    assert_eq!(frame::RECORD_ALIGN, 8);
    assert_eq!(frame::frame_word(5), 13);
    assert_eq!(frame::record_len(5), 16);
    assert_eq!(frame::max_frame_len(64), Some(24));
    assert_eq!(frame::MIN_CAPACITY, 16);
    assert_eq!(frame::MAX_CAPACITY, 1 << 31);
    assert_eq!(frame::mpsc::DISCARDED, 0xFFFF_FFFF);
    assert_eq!(frame::mpsc::DATA_OFFSET, 512);
    assert_eq!(frame::spsc::DATA_OFFSET, 384);
    assert_eq!(ipckit::spsc::DATA_OFFSET, 384);
    assert_eq!(ipckit::spsc::MAX_CAPACITY, 1 << 31);
    assert_eq!(mpmc::MIN_CAPACITY, 2);
    assert_eq!(mpmc::MAX_CAPACITY, 1 << 30);
    assert_eq!(Semaphore::region_len(), 256);
    assert_eq!(ipckit::latest::DATA_OFFSET, 256);
    assert_eq!(ipckit::latest::READ_RETRIES, 1 << 16);
    assert_eq!(ipckit::channel::object_len(448), Some(8192));
    assert_eq!(ipckit::channel::NAME_PREFIX, "ipckit-");
    assert_eq!(ipckit::channel::TYPE_ID_AT, 16);
    {
        use ipckit::channel::liveness::pod_type_id;
        assert_eq!(pod_type_id::<u64>(), 0xaf4c_548b_cc96_4472);
        assert_eq!(pod_type_id::<[u8; 8]>(), 0x92e8_bad7_b059_b5a2);
        assert_eq!(pod_type_id::<u32>(), 0x9764_b957_2e2e_ab91);
    }
    #[cfg(feature = "serde")]
    {
        use ipckit::channel::typed::{MessageType, type_id_of};
        assert_eq!(type_id_of("ipckit/layout-doc"), 0xef12_80a0_0056_c199);
        assert_eq!(type_id_of(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(u64::message_type_id(), type_id_of("u64"));
    }
}

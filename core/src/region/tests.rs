//! Unit tests of the common header: what `read_info` answers for a region
//! it must refuse.

use std::sync::atomic::Ordering::SeqCst;

use super::*;
use crate::spsc::Ring;
use crate::test_support::PeerMemory;

/// Bytes of the header's fields (the reserved words after them stay zero).
const FIELDS: usize = 40;

/// A ring's header as a big-endian writer leaves it: every field word in the
/// other byte order, the state word included.
fn foreign_endian_ring() -> PeerMemory {
    let mem = PeerMemory::new();
    Ring::<u32>::init(mem.region(), 4).unwrap();
    for offset in (0..FIELDS).step_by(4) {
        let word = mem.word(offset);
        word.store(word.load(SeqCst).swap_bytes(), SeqCst);
    }
    mem
}

#[test]
fn a_big_endian_writer_is_refused_as_foreign_endian() {
    let mem = foreign_endian_ring();
    assert_eq!(inspect(mem.region()).err(), Some(Error::ForeignEndian));
    assert_eq!(
        Ring::<u32>::attach(mem.region()).err(),
        Some(Error::ForeignEndian)
    );
}

#[test]
fn a_bad_state_under_a_good_header_is_still_corruption() {
    let mem = PeerMemory::new();
    Ring::<u32>::init(mem.region(), 4).unwrap();
    mem.word(16).store(STATE_READY.swap_bytes(), SeqCst);
    assert_eq!(
        inspect(mem.region()).err(),
        Some(Error::Corrupted("header state"))
    );
    // An unpublished header stays "not initialised", whatever its other words.
    mem.word(16).store(STATE_INITIALISING, SeqCst);
    mem.word(12).store(ENDIAN_MARKER.swap_bytes(), SeqCst);
    assert_eq!(inspect(mem.region()).err(), Some(Error::NotInitialized));
}

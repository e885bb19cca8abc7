//! Unit tests of the latest-value slot: values of every size, versions,
//! the golden bytes, every bad header or sequence word a peer can write, a
//! writer killed mid-write and its recovery, and threads racing a writer
//! (no torn value is ever returned; miri checks the copies are race-free).

use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicU32 as StdAtomicU32};

use super::*;
use crate::test_support::{CondvarFutex, std_clock};
use crate::test_support::{Golden, PeerMemory};
use crate::wait::Spin;
use crate::{AlignedBytes, Error, Pod, Region, Role};
use core::time::Duration;

/// Byte offset of `seq`.
const SEQ_AT: usize = 128;
/// Byte offset of the writer's claim.
const CLAIM_AT: usize = 132;

/// `n` values written and read back through a fresh static slot.
fn round_trip<T: Pod + PartialEq + core::fmt::Debug>(values: &[T]) {
    let slot = StaticSlot::<T>::new();
    let (mut w, mut r) = (slot.writer().unwrap(), slot.reader());
    assert_eq!(r.try_read(), Err(Error::Empty));
    for (i, v) in values.iter().enumerate() {
        let version = w.write(*v);
        assert_eq!(version, 2 * (i as u32 + 1));
        assert_eq!(r.try_read(), Ok(*v));
        assert_eq!(r.version(), version);
    }
}

#[test]
fn values_of_every_size_and_alignment_round_trip() {
    round_trip::<u8>(&[1, 0xff]);
    round_trip::<u16>(&[0x1234, 7]);
    round_trip::<[u8; 3]>(&[[1, 2, 3], [4, 5, 6]]); // tail only
    round_trip::<[u8; 7]>(&[[1, 2, 3, 4, 5, 6, 7], [9; 7]]); // word + tail
    round_trip::<u64>(&[u64::MAX, 0x0102_0304_0506_0708]);
    round_trip::<[u64; 5]>(&[[1, 2, 3, 4, 5], [6; 5]]);
    round_trip::<[u16; 5]>(&[[1, 2, 3, 4, 5], [0xffff; 5]]);
    assert_eq!(Slot::<[u8; 3]>::region_len(), Ok(259));
    assert_eq!(Slot::<u128>::region_len(), Ok(272));
    assert_eq!(Slot::<()>::region_len(), Err(Error::UnsupportedType));
}

#[test]
fn readers_learn_what_changed() {
    let slot = StaticSlot::<u32>::new();
    let mut w = slot.writer().unwrap();
    let (mut a, mut b) = (slot.reader(), slot.reader());
    assert!(!a.has_changed());
    assert_eq!(a.try_read_changed(), Err(Error::Empty));
    w.write(10);
    assert!(a.has_changed());
    assert_eq!(a.try_read_changed(), Ok(Some(10)));
    assert!(!a.has_changed());
    assert_eq!(a.try_read_changed(), Ok(None));
    w.write(11);
    w.write(12); // readers skip straight to the newest
    assert_eq!(a.try_read_changed(), Ok(Some(12)));
    assert_eq!(b.try_read(), Ok(12)); // another reader, its own version
    assert_eq!((a.version(), b.version(), w.version()), (6, 6, 6));
    assert_eq!(slot.slot().version(), 6);
    let c = b.clone();
    assert_eq!(c.version(), 6);
    assert!(!c.has_changed());
}

#[test]
fn one_writer_at_a_time_and_the_role_comes_back() {
    let slot = StaticSlot::<u32>::new();
    let w = slot.writer().unwrap();
    assert_eq!(slot.writer().unwrap_err(), Error::RoleTaken(Role::Producer));
    drop(w);
    let mut w = slot.writer().unwrap();
    w.write(1);
    drop(w);
    // A new writer continues the versions.
    let mut w = slot.writer().unwrap();
    assert_eq!(w.version(), 2);
    assert_eq!(w.write(2), 4);
}

#[test]
fn versions_wrap_past_zero_to_two() {
    let mem = PeerMemory::new();
    let options = Options::new().start_at(u32::MAX - 1);
    let slot = Slot::<u32>::init_with(mem.region(), options).unwrap();
    // Odd starts are refused: `seq` must start even.
    let odd = Options::new().start_at(7);
    let other = PeerMemory::new();
    let refused = Slot::<u32>::init_with(other.region(), odd).err();
    assert_eq!(refused, Some(Error::InvalidCapacity));

    let mut r = slot.reader();
    assert_eq!(r.try_read(), Ok(0)); // a start position reads as zeros
    assert_eq!(r.version(), u32::MAX - 1);
    let mut w = slot.writer().unwrap();
    assert_eq!(w.write(5), 2); // 0xffff_ffff while writing, then 2 (not 0)
    assert_eq!(mem.word(SEQ_AT).load(SeqCst), 2);
    assert!(r.has_changed());
    assert_eq!(r.try_read_changed(), Ok(Some(5)));
    assert_eq!(w.write(6), 4);
}

#[test]
fn golden_bytes() {
    let mem = PeerMemory::new();
    let slot = Slot::<[u32; 3]>::init(mem.region()).unwrap();
    Golden::ready(256 + 12, 6, (12, 4), 1, 256) // kind: latest value
        .check(&mem);
    slot.writer().unwrap().write([0x0A0B_0C0D, 2, 0xFFFF_FFFF]);
    Golden::ready(256 + 12, 6, (12, 4), 1, 256)
        .word(128, 2) // seq: the first version
        .word(256, 0x0A0B_0C0D) // the value, word by word
        .word(260, 2)
        .word(264, 0xFFFF_FFFF)
        .check(&mem); // the writer's claim (132) is released again
    // A static slot holds the bytes `init` writes.
    let fresh = PeerMemory::new();
    Slot::<[u32; 3]>::init(fresh.region()).unwrap();
    let owned = StaticSlot::<[u32; 3]>::new();
    let base = (&raw const owned).cast::<u8>();
    // SAFETY: the static slot is `repr(C)` memory of at least 268
    // initialised bytes (zeroed, then the header) that nothing writes now.
    let bytes = unsafe { core::slice::from_raw_parts(base, 268) };
    assert_eq!(bytes, &fresh.bytes(268)[..]);
}

#[test]
fn attach_validates_the_header() {
    let mem = PeerMemory::new();
    let slot = Slot::<u64>::init(mem.region()).unwrap();
    slot.writer().unwrap().write(9);
    let peer = Slot::<u64>::attach(mem.region()).unwrap();
    assert_eq!(peer.reader().try_read(), Ok(9));
    // Another element type, another kind, a forged capacity.
    assert!(matches!(
        Slot::<u32>::attach(mem.region()),
        Err(Error::ElementMismatch { size: 8, align: 8 })
    ));
    assert!(matches!(
        crate::spsc::Ring::<u64>::attach(mem.region()),
        Err(Error::KindMismatch {
            found: 6,
            expected: 1
        })
    ));
    mem.word(28).store(2, SeqCst);
    assert_eq!(
        Slot::<u64>::attach(mem.region()).err(),
        Some(Error::Corrupted("capacity in header"))
    );
    mem.word(28).store(1, SeqCst);
    // A region too short for the value.
    assert_eq!(
        Slot::<u64>::attach(mem.region_at(0, 260)).err(),
        Some(Error::TooSmall {
            required: 264,
            actual: 260
        })
    );
    let mut small = AlignedBytes::<260>::new();
    assert!(matches!(
        Slot::<u64>::init(Region::from_slice(&mut small[..])),
        Err(Error::TooSmall { required: 264, .. })
    ));
}

#[test]
fn a_peer_writing_the_sequence_word_gets_errors_not_hangs() {
    let mem = PeerMemory::new();
    let slot = Slot::<[u32; 2]>::init(mem.region()).unwrap();
    let mut w = slot.writer().unwrap();
    w.write([7, 7]);
    let mut r = slot.reader();
    let mut quick = slot.reader().with_retries(0); // at least one attempt
    // Under miri, one full bound of attempts is enough.
    let odds: &[u32] = if cfg!(miri) {
        &[1]
    } else {
        &[1, 3, 0x8000_0001, u32::MAX]
    };
    for &odd in odds {
        mem.word(SEQ_AT).store(odd, SeqCst);
        assert_eq!(quick.try_read(), Err(Error::Busy));
        assert_eq!(r.try_read(), Err(Error::Busy)); // bounded, not a hang
        assert_eq!(r.try_read_changed(), Err(Error::Busy));
        assert!(r.has_changed());
    }
    mem.word(SEQ_AT).store(0, SeqCst);
    assert_eq!(r.try_read(), Err(Error::Empty));
    // An even forgery reads the bytes there are: a wrong value at worst.
    mem.word(256).store(1, SeqCst);
    mem.word(SEQ_AT).store(1000, SeqCst);
    assert_eq!(r.try_read(), Ok([1, 7]));
    assert_eq!(r.version(), 1000);
    // The writer overwrites the garbage with its own sequence.
    assert_eq!(w.write([8, 8]), 4);
    assert_eq!(r.try_read(), Ok([8, 8]));
    // A forged claim word only refuses writers.
    drop(w);
    mem.word(CLAIM_AT).store(0xdead, SeqCst);
    assert_eq!(slot.writer().unwrap_err(), Error::RoleTaken(Role::Producer));
    // Garbage in the header after attach is never read again.
    for at in (0..128).step_by(4) {
        mem.word(at).store(0xffff_ffff, SeqCst);
    }
    assert_eq!(r.try_read(), Ok([8, 8]));
    assert!(Slot::<[u32; 2]>::attach(mem.region()).is_err());
}

#[test]
fn a_writer_killed_mid_write_is_recovered_by_the_next() {
    let mem = PeerMemory::new();
    let slot = Slot::<[u32; 4]>::init(mem.region()).unwrap();
    slot.writer().unwrap().write([1; 4]);
    let mut r = slot.reader();
    assert_eq!(r.try_read(), Ok([1; 4]));
    // Dies after two of the four words: `seq` odd, the value torn.
    slot.writer().unwrap().write_and_die([2; 4], 2);
    assert_eq!(mem.word(SEQ_AT).load(SeqCst), 3);
    assert_eq!(mem.word(256).load(SeqCst), 2);
    assert_eq!(mem.word(264).load(SeqCst), 1);
    // Readers never see the torn value: bounded `Busy` instead.
    assert_eq!(r.try_read(), Err(Error::Busy));
    assert_eq!(slot.writer().unwrap_err(), Error::RoleTaken(Role::Producer));
    // SAFETY: the dead writer was forgotten and is never used again.
    unsafe { slot.release_writer_claim() };
    let mut w = slot.writer().unwrap();
    assert_eq!(w.version(), 3); // found mid-write
    assert_eq!(w.write([3; 4]), 4); // finishes from the odd `seq`
    assert_eq!(r.try_read(), Ok([3; 4]));
    assert_eq!(w.write([4; 4]), 6);
    assert_eq!(r.try_read(), Ok([4; 4]));
}

/// A value whose words all equal the write's counter: a torn read shows
/// as words that differ.
const WORDS: usize = if cfg!(miri) { 8 } else { 64 };

/// One writer writes `[c; WORDS]` for `c` in `1..=writes`; `readers`
/// threads read until they see the last, checking every value is whole
/// and no older than the one before. Returns reads and `Busy` results.
fn race(writes: u32, readers: usize) -> (u32, u32) {
    let slot = StaticSlot::<[u32; WORDS]>::new();
    let done = AtomicBool::new(false);
    let (reads, busy) = (StdAtomicU32::new(0), StdAtomicU32::new(0));
    std::thread::scope(|s| {
        for _ in 0..readers {
            // Under miri a `Busy` read costs seconds at the full bound.
            let retries = if cfg!(miri) { 100 } else { READ_RETRIES };
            let mut r = slot.reader().with_retries(retries);
            let (done, reads, busy) = (&done, &reads, &busy);
            s.spawn(move || {
                let mut last = 0;
                loop {
                    let finished = done.load(SeqCst);
                    match r.try_read() {
                        Ok(v) => {
                            assert!(v.iter().all(|&x| x == v[0]), "torn read: {v:?}");
                            assert!(v[0] >= last, "went back from {last} to {}", v[0]);
                            assert_eq!(r.version(), 2 * v[0]);
                            last = v[0];
                            reads.fetch_add(1, SeqCst);
                        }
                        Err(Error::Busy) => drop(busy.fetch_add(1, SeqCst)),
                        Err(Error::Empty) => assert_eq!(last, 0),
                        Err(e) => panic!("{e}"),
                    }
                    if finished && last == writes {
                        break;
                    }
                    assert!(!finished || last == writes, "the last write was lost");
                }
            });
        }
        let mut w = slot.writer().unwrap();
        for c in 1..=writes {
            w.write([c; WORDS]);
        }
        done.store(true, SeqCst);
    });
    (reads.into_inner(), busy.into_inner())
}

#[test]
fn concurrent_readers_never_see_a_torn_value() {
    let writes = if cfg!(miri) { 40 } else { 100_000 };
    let (reads, busy) = race(writes, 2);
    std::eprintln!("{writes} writes: {reads} whole reads, {busy} busy");
    assert!(reads > 0);
}

#[test]
fn readers_keep_many_values_apart_over_time() {
    // Many short races instead of one long one: fresh slots, few writes.
    let rounds = if cfg!(miri) { 2 } else { 50 };
    for _ in 0..rounds {
        race(if cfg!(miri) { 10 } else { 2_000 }, 3);
    }
}

#[test]
fn a_sleeping_reader_is_woken_by_the_next_write() {
    let mem = PeerMemory::new();
    let slot = Slot::<[u32; 2]>::init_with(mem.region(), Options::new().waking(true)).unwrap();
    assert_eq!(slot.writer().unwrap_err(), Error::NotifyMismatch);
    let futex = CondvarFutex::default();
    let mut w = slot.writer_with(futex.clone()).unwrap();
    let mut r = slot.reader_with(futex.clone()).unwrap();
    assert!(!slot.reader().has_changed()); // spinning readers may read
    let timeout = Some(Duration::from_millis(20));
    assert_eq!(r.read_changed_timeout(timeout), Err(Error::TimedOut)); // empty
    assert_eq!(mem.word(136).load(SeqCst), 0, "announcement withdrawn");
    for round in 1..=if cfg!(miri) { 2 } else { 20 } {
        std::thread::scope(|s| {
            let reader = s.spawn(|| r.read_changed());
            // Write only once the reader sleeps: the wake must reach it.
            while futex.sleepers() == 0 {
                std::thread::yield_now();
            }
            w.write([round; 2]);
            assert_eq!(reader.join().unwrap(), Ok([round; 2]));
        });
    }
    assert!(futex.wakes() >= 1);
    // Nothing newer: times out; a value already newer: returns at once.
    assert_eq!(r.read_changed_timeout(timeout), Err(Error::TimedOut));
    w.write([99; 2]);
    assert_eq!(r.read_changed_timeout(timeout), Ok([99; 2]));
    // A writer that died mid-write: the sleeping reader times out, never
    // returns a torn value.
    drop(w);
    slot.writer_with(futex.clone())
        .unwrap()
        .write_and_die([5; 2], 1);
    let mut quick = slot.reader_with(futex.clone()).unwrap().with_retries(2);
    assert_eq!(quick.read_changed_timeout(timeout), Err(Error::TimedOut));
}

#[test]
fn notifiers_must_match_the_slot() {
    let slot = StaticSlot::<u32>::new();
    // A sleeping reader on a slot whose writer never wakes anybody.
    let refused = slot.slot().reader_with(CondvarFutex::default()).err();
    assert_eq!(refused, Some(Error::NotifyMismatch));
    // Spinning readers read any slot; their blocking read spins.
    let mut r = slot
        .slot()
        .reader_with(Spin::with_clock(std_clock))
        .unwrap();
    let timeout = Some(Duration::from_millis(5));
    assert_eq!(r.read_changed_timeout(timeout), Err(Error::TimedOut));
    slot.writer().unwrap().write(4);
    assert_eq!(r.read_changed_timeout(None), Ok(4));
    // A static slot for sleeping readers wants a waking writer.
    let waking = StaticSlot::<u32>::with_wakes(true);
    assert!(waking.slot().wakes());
    assert_eq!(waking.writer().unwrap_err(), Error::NotifyMismatch);
    let futex = CondvarFutex::default();
    waking.slot().writer_with(futex.clone()).unwrap().write(8);
    let mut r = waking.slot().reader_with(futex).unwrap();
    assert_eq!(r.read_changed(), Ok(8));
}

//! Unit tests of the placement layer: region lengths, options, owned rings,
//! and the checks of `init` and `attach`, once for every layout on the
//! layer ([`every_layout!`]).

use std::sync::atomic::AtomicU32 as StdAtomicU32;
use std::sync::atomic::Ordering::SeqCst;

use super::*;
use crate::AlignedBytes;
use crate::region::{ENDIAN_MARKER, LAYOUT_VERSION, inspect};
use crate::spsc::Slots;
use crate::test_support::{MEM, PeerMemory};

/// Runs a generic check over a ring of every layout on the layer, each with
/// a capacity whose region fits a [`PeerMemory`]. A ring that moves onto
/// the layer adds its line here.
macro_rules! every_layout {
    ($check:ident) => {
        $check::<Slots<u8>>(8);
        $check::<Slots<u64>>(8);
        $check::<crate::frame::spsc::Frames>(64);
        #[cfg(ipckit_cas)]
        $check::<crate::mpmc::Stamps<u64>>(8);
        #[cfg(ipckit_cas)]
        $check::<crate::frame::mpsc::Frames>(64);
    };
}

#[test]
fn region_len_says_why_not() {
    assert_eq!(region_len::<Slots<u64>>(256), Ok(384 + 256 * 8));
    assert_eq!(region_len::<Slots<u64>>(100), Err(Error::InvalidCapacity));
    assert_eq!(region_len::<Slots<u64>>(0), Err(Error::InvalidCapacity));
    assert_eq!(region_len::<Slots<u8>>(1 << 31), Ok(384 + (1 << 31)));
    assert_eq!(region_len::<Slots<()>>(8), Err(Error::UnsupportedType));
    type Frames = crate::frame::spsc::Frames;
    assert_eq!(region_len::<Frames>(64), Ok(384 + 64));
    assert_eq!(region_len::<Frames>(1 << 31), Ok(384 + (1 << 31)));
}

#[test]
fn options_default_to_position_zero_and_spinning() {
    assert_eq!(Options::new(8), Options::new(8).start_at(0).waking(false));
    assert_eq!(
        Options::new(8).waking(true).flags(),
        crate::region::FLAG_WAKES
    );
    assert_eq!(Options::new(8).start_at(u32::MAX).position, u32::MAX);
}

#[test]
fn elements_that_cannot_live_in_a_region_are_refused() {
    #[derive(Clone, Copy, bytemuck::Zeroable, bytemuck::Pod)]
    #[repr(C, align(256))]
    struct OverAligned([u8; 256]);
    let mem = PeerMemory::new();
    let refused = Some(Error::UnsupportedType);
    assert_eq!(Placed::<Slots<()>>::init(mem.region(), 4).err(), refused);
    assert_eq!(
        Placed::<Slots<OverAligned>>::init(mem.region(), 1).err(),
        refused
    );
    assert_eq!(mem.word(16).load(SeqCst), 0, "header untouched");
}

/// Capacities no ring of `L` has: `init` and `region_len` refuse them, and
/// `attach` reports them in a header as corruption.
fn invalid_capacities<L: Layout>() -> impl Iterator<Item = u32> {
    let (min, max) = (L::MIN_CAPACITY, L::MAX_CAPACITY);
    [
        0,
        3 * min,
        100,
        1000,
        u32::MAX,
        max | 1,
        min / 2,
        max.saturating_mul(2),
    ]
    .into_iter()
    .filter(move |&c| c < min || c > max || !c.is_power_of_two())
}

/// The smallest valid capacity whose region does not fit a [`PeerMemory`].
fn too_big_for_memory<L: Layout>() -> (u32, usize) {
    let mut capacity = L::MIN_CAPACITY;
    loop {
        let len = region_len::<L>(capacity).unwrap();
        if len > MEM {
            return (capacity, len);
        }
        capacity *= 2;
    }
}

#[test]
fn init_refuses_bad_requests_before_writing() {
    fn check<L: Layout>(capacity: u32) {
        let mem = PeerMemory::new();
        for cap in invalid_capacities::<L>() {
            let got = Placed::<L>::init(mem.region(), cap).err();
            assert_eq!(
                got,
                Some(Error::InvalidCapacity),
                "{:?} capacity {cap}",
                L::KIND
            );
            assert_eq!(region_len::<L>(cap), Err(Error::InvalidCapacity));
        }
        if L::POSITION_ALIGN > 1 {
            let options = Options::new(capacity).start_at(L::POSITION_ALIGN / 2);
            let got = Placed::<L>::init_with(mem.region(), options).err();
            assert_eq!(got, Some(Error::InvalidCapacity), "{:?} position", L::KIND);
        }
        let len = region_len::<L>(capacity).unwrap();
        assert_eq!(
            Placed::<L>::init(mem.region_at(0, len - 1), capacity).err(),
            Some(Error::TooSmall {
                required: len,
                actual: len - 1
            })
        );
        let off = L::BASE_ALIGN / 2;
        assert_eq!(
            Placed::<L>::init(mem.region_at(off, 2048), capacity).err(),
            Some(Error::Misaligned {
                required: L::BASE_ALIGN
            })
        );
        // A capacity too big for the region: refused before anything is
        // written.
        let (huge, required) = too_big_for_memory::<L>();
        assert_eq!(
            Placed::<L>::init(mem.region(), huge).err(),
            Some(Error::TooSmall {
                required,
                actual: MEM
            })
        );
        assert_eq!(mem.word(16).load(SeqCst), 0, "header untouched");
    }
    every_layout!(check);
}

#[test]
fn init_races_have_one_winner_and_exclusive_regions_reset() {
    fn check<L: Layout>(capacity: u32) {
        let mem = PeerMemory::new();
        Placed::<L>::init(mem.region(), capacity).unwrap();
        let again = Some(Error::AlreadyInitialized);
        assert_eq!(Placed::<L>::init(mem.region(), capacity).err(), again);
        // A ring of another kind on the same bytes is refused the same way.
        assert_eq!(Placed::<Slots<u32>>::init(mem.region(), 4).err(), again);

        // A region the caller holds exclusively is reset, whatever it held.
        let mut bytes = std::boxed::Box::new(AlignedBytes::<MEM>::new());
        Placed::<Slots<u32>>::init(Region::from_slice(&mut bytes[..]), 4).unwrap();
        let ring = Placed::<L>::init(Region::from_slice(&mut bytes[..]), capacity).unwrap();
        assert_eq!(ring.capacity(), capacity);

        // Threads racing to create: exactly one wins.
        for _ in 0..if cfg!(miri) { 2 } else { 20 } {
            let mem = PeerMemory::new();
            let wins = StdAtomicU32::new(0);
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| match Placed::<L>::init(mem.region(), capacity) {
                        Ok(_) => {
                            wins.fetch_add(1, SeqCst);
                        }
                        Err(e) => assert_eq!(e, Error::AlreadyInitialized),
                    });
                }
            });
            assert_eq!(wins.load(SeqCst), 1);
        }
    }
    every_layout!(check);
}

#[test]
fn a_fresh_ring_has_its_positions_at_the_start_and_every_other_word_zero() {
    fn check<L: Layout>(capacity: u32) {
        // Stale bytes in a region the caller holds exclusively: init must
        // leave no trace of them in the control block.
        let mut bytes = std::boxed::Box::new(AlignedBytes::<MEM>::new());
        bytes.fill(0xA5);
        let start = 64 * L::POSITION_ALIGN;
        let options = Options::new(capacity).start_at(start);
        Placed::<L>::init_with(Region::from_slice(&mut bytes[..]), options).unwrap();
        let control = crate::region::LINE..L::DATA_OFFSET;
        for offset in control.step_by(4) {
            let word = u32::from_ne_bytes(bytes[offset..offset + 4].try_into().unwrap());
            let is_position = L::POSITIONS.iter().any(|w| w.offset() == offset);
            let expected = if is_position { start } else { 0 };
            assert_eq!(word, expected, "control word at byte {offset}");
        }
    }
    every_layout!(check);
}

/// Initialises a ring of `L` and `capacity`, lets `poke` play the faulty
/// peer on the header, and returns what `attach` says (the capacity).
fn attach_after<L: Layout>(capacity: u32, poke: impl FnOnce(&PeerMemory)) -> Result<u32> {
    let mem = PeerMemory::new();
    Placed::<L>::init(mem.region(), capacity).unwrap();
    poke(&mem);
    Placed::<L>::attach(mem.region()).map(|ring| ring.capacity())
}

#[test]
fn attach_validates_every_header_field() {
    fn check<L: Layout>(capacity: u32) {
        let kind = L::KIND;
        let (size, align) = L::ELEMENT.unwrap();
        let data_offset = L::DATA_OFFSET as u32;
        assert_eq!(attach_after::<L>(capacity, |_| {}), Ok(capacity));
        let cases = [
            (0, 0x1234_5678, Error::BadMagic),
            (
                4,
                LAYOUT_VERSION + 1,
                Error::VersionMismatch {
                    found: 2,
                    expected: 1,
                },
            ),
            (
                8,
                99,
                Error::KindMismatch {
                    found: 99,
                    expected: kind.code(),
                },
            ),
            (12, ENDIAN_MARKER.swap_bytes(), Error::ForeignEndian),
            (12, 7, Error::BadMagic),
            (16, 0, Error::NotInitialized),
            (16, 1, Error::NotInitialized),
            (16, 3, Error::Corrupted("header state")),
            (
                20,
                size + 1,
                Error::ElementMismatch {
                    size: size + 1,
                    align,
                },
            ),
            (
                24,
                align * 2,
                Error::ElementMismatch {
                    size,
                    align: align * 2,
                },
            ),
            (32, 0, Error::Corrupted("data offset in header")),
            (
                32,
                data_offset + 128,
                Error::Corrupted("data offset in header"),
            ),
            (36, 2, Error::Corrupted("flags in header")),
            (36, 3, Error::Corrupted("flags in header")),
        ];
        for (offset, value, expected) in cases {
            let got = attach_after::<L>(capacity, |m| m.word(offset).store(value, SeqCst));
            assert_eq!(
                got,
                Err(expected),
                "{kind:?}: word at {offset} = {value:#x}"
            );
        }
        for bad in invalid_capacities::<L>() {
            let got = attach_after::<L>(capacity, |m| m.word(28).store(bad, SeqCst));
            let expected = Err(Error::Corrupted("capacity in header"));
            assert_eq!(got, expected, "{kind:?}: capacity {bad}");
        }
        // A capacity that is valid but larger than the region.
        let (huge, required) = too_big_for_memory::<L>();
        let got = attach_after::<L>(capacity, |m| m.word(28).store(huge, SeqCst));
        assert_eq!(
            got,
            Err(Error::TooSmall {
                required,
                actual: MEM
            })
        );
        // The region handed to attach is shorter than the header says.
        let mem = PeerMemory::new();
        Placed::<L>::init(mem.region(), capacity).unwrap();
        let len = region_len::<L>(capacity).unwrap();
        assert_eq!(
            Placed::<L>::attach(mem.region_at(0, len - 1)).err(),
            Some(Error::TooSmall {
                required: len,
                actual: len - 1
            })
        );

        // Regions that cannot even hold a header, are misaligned, or were
        // never initialised.
        let mem = PeerMemory::new();
        assert_eq!(
            Placed::<L>::attach(mem.region_at(0, 100)).err(),
            Some(Error::TooSmall {
                required: 128,
                actual: 100
            })
        );
        assert_eq!(
            Placed::<L>::attach(mem.region_at(2, 1000)).err(),
            Some(Error::Misaligned { required: 4 })
        );
        assert_eq!(
            Placed::<L>::attach(mem.region()).err(),
            Some(Error::NotInitialized)
        );
        assert_eq!(inspect(mem.region()).err(), Some(Error::NotInitialized));
    }
    every_layout!(check);
}

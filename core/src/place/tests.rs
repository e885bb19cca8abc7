//! Unit tests of the placement layer: region lengths, options, owned rings.

use super::*;
use crate::spsc::Slots;

#[test]
fn region_len_says_why_not() {
    assert_eq!(region_len::<Slots<u64>>(256), Ok(384 + 256 * 8));
    assert_eq!(region_len::<Slots<u64>>(100), Err(Error::InvalidCapacity));
    assert_eq!(region_len::<Slots<u64>>(0), Err(Error::InvalidCapacity));
    assert_eq!(region_len::<Slots<u8>>(1 << 31), Ok(384 + (1 << 31)));
    assert_eq!(region_len::<Slots<()>>(8), Err(Error::UnsupportedType));
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

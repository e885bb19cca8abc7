//! The semaphore's layout after the header (the count line of the module
//! docs' table), as the [`Layout`] the placement layer places it by, and
//! the one compare-and-swap loop that takes and gives units.

use super::{COUNT_OFFSET, MAX_RETRIES};
use crate::error::{Error, Result};
use crate::place::{self, Control, Layout, Placed, Word};
use crate::region::ObjectKind;
use crate::sync::{AtomicU32, Ordering};

/// The header's element size and alignment: the count word, a `u32`.
const COUNT_SIZE: u32 = 4;

place::words! {
    /// Units available now.
    COUNT = (0, 0) at COUNT_OFFSET;
    /// Handles announced as about to sleep on `count`.
    WAITERS = (0, 1) at 132;
}

place::layout_asserts! {
    assert!(core::mem::size_of::<Control<1>>() == super::REGION_LEN);
    assert!(core::mem::size_of::<AtomicU32>() == COUNT_SIZE as usize);
}

/// The layout of a semaphore (the
/// [table](super#layout-layout-version-1-kind-3)): one count line, whose
/// count word is the header's data. Its capacity is the maximum count.
pub struct Count;

impl place::sealed::Sealed for Count {}

impl Layout for Count {
    const KIND: ObjectKind = ObjectKind::Semaphore;
    const ELEMENT: Result<(u32, u32)> = Ok((COUNT_SIZE, COUNT_SIZE));
    const MAX_CAPACITY: u32 = u32::MAX;
    const POWER_OF_TWO: bool = false;
    /// The count line is the data (no data area: the unit is `()`).
    const DATA_OFFSET: usize = COUNT_OFFSET;
    /// A zeroed semaphore is one at count 0, but its count line is also its
    /// data, which an owned ring does not lay out.
    const ZEROED_IS_EMPTY: bool = false;
    type Control = Control<1>;
    type Unit = ();

    /// The count starts at the options' position (the initial count).
    const POSITIONS: &'static [Word] = &[COUNT];
}

impl Placed<'_, Count> {
    /// The count word and the announcement word.
    pub(super) fn words(&self) -> (&AtomicU32, &AtomicU32) {
        (self.word(COUNT), self.word(WAITERS))
    }

    /// The count, validated against the maximum.
    pub(super) fn load(&self) -> Result<u32> {
        let count = self.word(COUNT).load(Ordering::Relaxed);
        if count > self.capacity() {
            return Err(Error::Corrupted("semaphore count above its maximum"));
        }
        Ok(count)
    }

    /// Moves the count from `c` to `next(c)` with one compare-and-swap
    /// (`success` ordering on the winning swap), retrying while other sides
    /// change it. `next` sees only validated counts (`c <= max`) and may
    /// refuse with an error, which is returned unchanged.
    fn update(&self, success: Ordering, next: impl Fn(u32) -> Result<u32>) -> Result<()> {
        let (word, max) = (self.word(COUNT), self.capacity());
        let mut current = word.load(Ordering::Relaxed);
        for _ in 0..MAX_RETRIES {
            if current > max {
                return Err(Error::Corrupted("semaphore count above its maximum"));
            }
            let new = next(current)?;
            match word.compare_exchange_weak(current, new, success, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
        Err(Error::Corrupted(
            "semaphore count changed on every attempt (MAX_RETRIES)",
        ))
    }

    /// Takes one unit, or [`Error::Empty`]. `Acquire`: the taker sees
    /// everything the poster of the unit did before posting.
    pub(super) fn try_acquire(&self) -> Result<()> {
        self.update(Ordering::Acquire, |c| c.checked_sub(1).ok_or(Error::Empty))
    }

    /// Gives `n` units back, or [`Error::Full`] if the count would exceed
    /// the maximum (nothing is given back then). `Release`: pairs with the
    /// taker's `Acquire`.
    pub(super) fn release(&self, n: u32) -> Result<()> {
        let max = self.capacity();
        self.update(Ordering::Release, |c| match c.checked_add(n) {
            Some(new) if new <= max => Ok(new),
            _ => Err(Error::Full),
        })
    }
}

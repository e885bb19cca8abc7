//! The semaphore's layout after the header (the count line of the module
//! docs' table) and the one compare-and-swap loop that takes and gives
//! units.

#[cfg(not(ipckit_loom))]
use super::REGION_LEN;
use super::{COUNT_OFFSET, MAX_RETRIES, Options};
use crate::error::{Error, Result};
use crate::region::{FLAG_WAKES, Header, LINE, ObjectKind, Reserved};
use crate::sync::{AtomicU32, Ordering};

/// The header's element size and alignment: the count word, a `u32`.
pub(super) const COUNT_SIZE: u32 = 4;

/// The line every handle writes.
#[repr(C)]
pub(crate) struct CountLine {
    pub(crate) count: AtomicU32,
    pub(crate) waiters: AtomicU32,
    pub(super) _reserved: Reserved<{ LINE - 8 }>,
}

/// Everything of a semaphore region.
#[repr(C)]
pub(crate) struct Control {
    pub(crate) header: Header,
    pub(crate) line: CountLine,
}

#[cfg(not(ipckit_loom))]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(offset_of!(Control, header) == 0);
    assert!(offset_of!(Control, line) == COUNT_OFFSET);
    assert!(offset_of!(Control, line) + offset_of!(CountLine, count) == 128);
    assert!(offset_of!(Control, line) + offset_of!(CountLine, waiters) == 132);
    assert!(size_of::<Control>() == REGION_LEN);
    assert!(align_of::<Control>() == 4);
    assert!(size_of::<AtomicU32>() == COUNT_SIZE as usize);
};

impl Control {
    /// Writes a fresh semaphore and publishes it (the init protocol of
    /// [`crate::region`]).
    pub(super) fn init(&self, exclusive: bool, options: Options) -> Result<()> {
        self.header.begin_init(exclusive)?;
        let flags = if options.wakes { FLAG_WAKES } else { 0 };
        self.header.write_fields(
            ObjectKind::Semaphore,
            COUNT_SIZE,
            COUNT_SIZE,
            options.max,
            COUNT_OFFSET as u32,
            flags,
        );
        self.line.count.store(options.initial, Ordering::Relaxed);
        self.line.waiters.store(0, Ordering::Relaxed);
        self.header.publish();
        Ok(())
    }

    /// The count, validated against `max`.
    pub(super) fn load(&self, max: u32) -> Result<u32> {
        let count = self.line.count.load(Ordering::Relaxed);
        if count > max {
            return Err(Error::Corrupted("semaphore count above its maximum"));
        }
        Ok(count)
    }

    /// Moves the count from `c` to `next(c)` with one compare-and-swap
    /// (`success` ordering on the winning swap), retrying while other sides
    /// change it. `next` sees only validated counts (`c <= max`) and may
    /// refuse with an error, which is returned unchanged.
    pub(super) fn update(
        &self,
        max: u32,
        success: Ordering,
        next: impl Fn(u32) -> Result<u32>,
    ) -> Result<()> {
        let word = &self.line.count;
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
    pub(super) fn try_acquire(&self, max: u32) -> Result<()> {
        self.update(max, Ordering::Acquire, |c| {
            c.checked_sub(1).ok_or(Error::Empty)
        })
    }

    /// Gives `n` units back, or [`Error::Full`] if the count would exceed
    /// `max` (nothing is given back then). `Release`: pairs with the
    /// taker's `Acquire`.
    pub(super) fn release(&self, n: u32, max: u32) -> Result<()> {
        self.update(max, Ordering::Release, |c| match c.checked_add(n) {
            Some(new) if new <= max => Ok(new),
            _ => Err(Error::Full),
        })
    }
}

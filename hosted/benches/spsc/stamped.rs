//! A prototype, measured beside the real ring and never shipped: the SPSC
//! protocol with a *stamp* word in every slot (FastForward-like), which a
//! versioned layout would need. The producer writes the item, then the
//! slot's stamp (`position + 1`, `Release`); the consumer learns that a slot
//! is full from the stamp on the slot's own line (`Acquire`), so it never
//! loads the producer's `tail` on the fast path, and the producer, with
//! `PUBLISH_TAIL = false`, never writes one. The producer still learns free
//! room from the consumer's `head`, reloaded only when its cached copy says
//! full, as in the shipped ring.
//!
//! Validation is kept: every peer-written word is checked once into a local.
//! A stamp at the consumer's slot must be `head + 1` (full), or the value
//! of the previous lap `head + 1 - capacity` or 0 (not yet written); any
//! other value is corruption. `head` must be within a capacity of `tail`.
//!
//! A slot is 16 bytes (`u32` stamp, `u32` padding, `u64` item): half the
//! items per cache line of the shipped ring's 8-byte slots.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::{EMPTY_SPINS, FULL_SPINS};

/// Capacity of the prototype ring (a power of two).
pub const CAPACITY: u32 = super::CAPACITY;

#[repr(C, align(16))]
struct Slot {
    stamp: AtomicU32,
    _pad: u32,
    item: AtomicU64,
}

#[repr(C, align(128))]
struct Line(AtomicU32);

/// The shared part: the two index lines, then the slots.
pub struct Shared {
    tail: Line,
    head: Line,
    slots: Box<[Slot]>,
}

/// What went wrong, the prototype's `Error`.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    Full,
    Empty,
    Corrupted,
}

pub struct Producer<const PUBLISH_TAIL: bool> {
    shared: &'static Shared,
    tail: u32,
    cached_head: u32,
}

pub struct Consumer {
    shared: &'static Shared,
    head: u32,
}

/// A fresh ring, leaked so that both ends can borrow it for `'static`.
pub fn new<const PUBLISH_TAIL: bool>() -> (Producer<PUBLISH_TAIL>, Consumer) {
    let slots = (0..CAPACITY)
        .map(|_| Slot {
            stamp: AtomicU32::new(0),
            _pad: 0,
            item: AtomicU64::new(0),
        })
        .collect();
    let shared: &'static Shared = Box::leak(Box::new(Shared {
        tail: Line(AtomicU32::new(0)),
        head: Line(AtomicU32::new(0)),
        slots,
    }));
    (
        Producer {
            shared,
            tail: 0,
            cached_head: 0,
        },
        Consumer { shared, head: 0 },
    )
}

impl Shared {
    #[inline(always)]
    fn slot(&self, pos: u32) -> &Slot {
        debug_assert_eq!(self.slots.len(), CAPACITY as usize);
        // SAFETY: masked into the slot array (`CAPACITY` slots, a power of
        // two): even a wrong position stays inside.
        unsafe { self.slots.get_unchecked((pos & (CAPACITY - 1)) as usize) }
    }
}

impl<const PUBLISH_TAIL: bool> Producer<PUBLISH_TAIL> {
    #[cold]
    fn refresh(&mut self) -> Result<u32, Error> {
        let head = self.shared.head.0.load(Ordering::Acquire);
        let occupied = self.tail.wrapping_sub(head);
        if occupied > CAPACITY {
            return Err(Error::Corrupted);
        }
        self.cached_head = head;
        Ok(CAPACITY - occupied)
    }

    #[inline]
    pub fn try_push(&mut self, value: u64) -> Result<(), Error> {
        if self.tail.wrapping_sub(self.cached_head) == CAPACITY && self.refresh()? == 0 {
            return Err(Error::Full);
        }
        let slot = self.shared.slot(self.tail);
        slot.item.store(value, Ordering::Relaxed);
        self.tail = self.tail.wrapping_add(1);
        slot.stamp.store(self.tail, Ordering::Release);
        if PUBLISH_TAIL {
            self.shared.tail.0.store(self.tail, Ordering::Release);
        }
        Ok(())
    }
}

impl Consumer {
    #[cold]
    fn not_ready(&self, stamp: u32) -> Error {
        let expected = self.head.wrapping_add(1);
        if stamp == 0 || stamp == expected.wrapping_sub(CAPACITY) {
            Error::Empty
        } else {
            Error::Corrupted
        }
    }

    #[inline]
    pub fn try_pop(&mut self) -> Result<u64, Error> {
        let slot = self.shared.slot(self.head);
        let stamp = slot.stamp.load(Ordering::Acquire);
        let next = self.head.wrapping_add(1);
        if stamp != next {
            return Err(self.not_ready(stamp));
        }
        let value = slot.item.load(Ordering::Relaxed);
        self.head = next;
        self.shared.head.0.store(next, Ordering::Release);
        Ok(value)
    }
}

// ---- the bench's loops, as ipckit's and rtrb's ---------------------------

/// Pushes `0..n`, spinning while the ring is full.
pub fn push_all<const TAIL: bool>(tx: &mut Producer<TAIL>, n: u64) {
    let mut spins = 0u64;
    for i in 0..n {
        loop {
            match tx.try_push(i) {
                Ok(()) => break,
                Err(Error::Full) => {
                    spins += 1;
                    spin_loop()
                }
                Err(e) => panic!("stamped push: {e:?}"),
            }
        }
    }
    FULL_SPINS.fetch_add(spins, Ordering::Relaxed);
}

/// Pops `n` items and returns their sum, spinning while the ring is empty.
pub fn pop_all(rx: &mut Consumer, n: u64) -> u64 {
    let mut spins = 0u64;
    let mut sum = 0u64;
    let mut left = n;
    while left > 0 {
        match rx.try_pop() {
            Ok(v) => {
                sum = sum.wrapping_add(v);
                left -= 1;
            }
            Err(Error::Empty) => {
                spins += 1;
                spin_loop()
            }
            Err(e) => panic!("stamped pop: {e:?}"),
        }
    }
    EMPTY_SPINS.fetch_add(spins, Ordering::Relaxed);
    sum
}

//! Where the adversary writes in a topic (docs/LAYOUT.md sections 17,
//! 17.1 and 18): slot stamps of the positions around `tail` (complete,
//! being written, another lap's, far off), the items, and the entries of
//! the subscriber table (`state` and `position` words, the reserved
//! bytes); and the plausible lies a topic admits: an item published
//! behind the publisher's back, a member that holds the publisher back
//! from a ring behind, a live member's entry freed, a member that
//! pretends to have read everything, a publisher told to wake.

use crate::board::Board;
use crate::forge::Forger;

impl Forger {
    /// The position near `tail` whose slot is `slot` (`tail` to
    /// `tail + cap - 1`).
    fn near(tail: u32, slot: u32, cap: u32) -> u32 {
        tail.wrapping_add(slot.wrapping_sub(tail) & (cap - 1))
    }

    /// A table entry (its offset) and the entries that fit, if the topic
    /// has a table as `table_len` reads now.
    fn entry(&mut self) -> Option<usize> {
        let (at, n) = self.lay.table(self.load(144))?;
        let i = self.rng.next() as usize % n;
        Some(at + 128 * i)
    }

    /// A slot stamp, an item, or a table entry's word.
    pub fn topic_data(&mut self, b: &Board, cap: u32) {
        let (Some(data), Some(cap)) = (self.lay.data(), self.lay.cap()) else {
            return self.control(b, cap);
        };
        let tail = self.load(128);
        if self.rng.next() % 5 < 2 {
            if let Some(e) = self.entry() {
                let r = self.rng.next() as u32;
                return match self.rng.next() % 8 {
                    0..=2 => {
                        let v = self.pick(&[0, 1, 2, 2, 3, u32::MAX]);
                        self.put(b, e, v);
                    }
                    3..=6 => {
                        let cur = self.load(e + 4);
                        let v = self.pick(&[
                            tail,
                            tail.wrapping_sub(cap),
                            tail.wrapping_sub(cap).wrapping_sub(1),
                            tail.wrapping_add(1),
                            tail.wrapping_sub(cap / 2),
                            tail.wrapping_add(0x8000_0000),
                            cur.wrapping_add(1),
                            r,
                        ]);
                        self.put(b, e + 4, v);
                    }
                    _ => self.put(b, e + 8 + 4 * (r as usize % 30), r),
                };
            }
        }
        let stride = self.lay.stride();
        let slot = match self.rng.next() % 4 {
            0 => tail & (cap - 1),
            1 => tail.wrapping_sub(1) & (cap - 1),
            2 => tail.wrapping_add(1) & (cap - 1),
            _ => self.rng.next() as u32 & (cap - 1),
        };
        let q = Self::near(tail, slot, cap);
        let off = data + slot as usize * stride;
        if self.rng.next() % 4 == 0 {
            // The item (its first word), after the stamp at `A`.
            let a = stride - self.lay.header.map_or(8, |h| h[5] as usize);
            let v = self.rng.next() as u32;
            if off + a + 4 <= self.lay.len {
                self.put(b, off + a, v);
            }
            return;
        }
        let r = self.rng.next() as u32;
        let v = self.pick(&[
            q,
            q.wrapping_add(1),
            q.wrapping_sub(cap),
            q.wrapping_sub(cap).wrapping_add(1),
            q.wrapping_add(cap).wrapping_add(1),
            q.wrapping_add(0x8000_0000),
            q.wrapping_sub(1),
            u32::MAX,
            r,
        ]);
        if off + 4 <= self.lay.len {
            self.put(b, off, v);
        }
    }

    /// Against an open that reads `table_len` twice (once to size the
    /// object and find the liveness block, once to attach the ring): a
    /// table too large for the object (or any), held for 0 to 64 spins,
    /// then the honest length again.
    pub fn table_flip(&mut self, b: &Board) {
        let honest = self.lay.table_len;
        let big = self.pick(&[1024, 1025, 65, 0x8000_0000, u32::MAX, honest + 1]);
        self.put(b, 144, big);
        for _ in 0..self.pick(&[0, 1, 2, 4, 8, 16, 32, 64]) {
            std::hint::spin_loop();
        }
        self.put(b, 144, honest);
    }

    /// A plausible lie about a topic.
    pub fn topic_lie(&mut self, b: &Board, cap: u32) {
        let (Some(data), Some(cap)) = (self.lay.data(), self.lay.cap()) else {
            return self.control(b, cap);
        };
        let tail = self.load(128);
        let entry = self.entry();
        match (self.rng.next() % 6, entry) {
            (1, Some(e)) => {
                // A member a ring behind: the publisher is held back.
                self.put(b, e + 4, tail.wrapping_sub(cap));
                self.put(b, e, 2);
            }
            (2, Some(e)) => self.put(b, e, 0),
            (3, Some(e)) => self.put(b, e + 4, tail),
            (4, _) => {
                self.put(b, 148, 1);
                let p = self.load(152).wrapping_add(1);
                self.put(b, 152, p);
            }
            _ => {
                // An item published by nobody, and `tail` moved over it.
                let stride = self.lay.stride();
                let off = data + (tail & (cap - 1)) as usize * stride;
                if off + stride <= self.lay.len {
                    let a = stride - self.lay.header.map_or(8, |h| h[5] as usize);
                    let v = self.rng.next() as u32;
                    self.put(b, off, tail);
                    self.put(b, off + a, v);
                    self.put(b, off, tail.wrapping_add(1));
                    self.put(b, 128, tail.wrapping_add(1));
                }
            }
        }
    }
}

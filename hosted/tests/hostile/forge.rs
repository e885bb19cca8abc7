//! The adversary: hostile writes into a channel or semaphore object,
//! through a mapping of its own, with atomic stores only.
//!
//! Where it writes follows the documented layouts (the region header in
//! `ipckit::region`, the control lines of each ring kind, MPMC slot stamps,
//! frame record headers, the liveness block of `ipckit::channel::liveness`);
//! what it writes mixes random bytes and words with the values that break
//! naive code: 0, 1, capacity, capacity + 1, `0x7fffffff`, `0x80000000`,
//! `u32::MAX`, indices beyond capacity or behind the peer's, lengths past
//! the end, stamps of other laps, flag bits, magic and version flips,
//! header sizes whose products overflow, liveness slots naming garbage,
//! live or dead pids. Some writes are plausible lies (an index moved over
//! a record that was never written), so that the endpoints go deeper than
//! their first validation. Every write is counted and logged on the board.

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use ipckit::channel::{LIVENESS_MAGIC, LIVENESS_VERSION};
use ipckit::frame::{BUSY, LEN_MASK, PAD, frame_word, record_len};
use ipckit::region::{ENDIAN_MARKER, LAYOUT_VERSION, MAGIC};
use ipckit::shm::ShmObject;

use crate::Kind;
use crate::board::{self, Board};
use crate::layout::{Layout, SIZE_PRESETS, Word, control_words, start_time};
use crate::support::Rng;

/// Writes hostile values into one mapped object.
pub struct Forger {
    obj: ShmObject,
    /// What it knows of the object.
    pub lay: Layout,
    /// Its random stream.
    pub rng: Rng,
    /// Processes to name in liveness slots: (pid, start time).
    pids: Vec<(u32, u64)>,
    /// The board's log this forger writes to.
    pub log: usize,
    /// The board word counting its writes.
    pub count_word: usize,
    /// This writer's writes so far (the position in its log).
    pub written: u64,
    /// The tag logged with each write (op sequence or time).
    pub tag: u64,
    /// Its hammers flood an MPSC ring with records (else they rewrite a
    /// position); chosen for the object's lifetime.
    pub flood: bool,
}

impl Forger {
    /// Maps `name` to forge it as a `lay.kind` object; `remote` selects the
    /// adversary's log and counter (else the endpoint child's).
    pub fn open(name: &str, kind: Kind, seed: u64, b: &Board, remote: bool) -> Option<Self> {
        let obj = ShmObject::open(name).ok()?;
        let len = obj.len();
        let mut pids = vec![(0, 0), (0x7fff_ffff, 1), (0x8000_0000, 1), (u32::MAX, 0)];
        pids.push((4_194_304, 1)); // above the largest pid_max
        let real = [
            1,
            std::process::id(),
            // SAFETY: plain query.
            unsafe { libc::getppid() } as u32,
            b.get(board::ADV_PID) as u32,
            b.get(board::CHILD_PID) as u32,
        ];
        for pid in real {
            if pid != 0 {
                let st = start_time(pid).unwrap_or(1);
                // The right start time (counts as alive), and a wrong one
                // (the same pid, another process: counts as dead).
                pids.push((pid, st));
                pids.push((pid, st.wrapping_add(1)));
            }
        }
        let (log, count_word) = if remote {
            (board::LOG_REMOTE, board::WRITES_REMOTE)
        } else {
            (board::LOG_LOCAL, board::WRITES_LOCAL)
        };
        Some(Self {
            obj,
            lay: Layout {
                kind,
                len,
                header: None,
                table_len: 0,
            },
            rng: Rng(seed | 1),
            pids,
            log,
            count_word,
            written: b.get(count_word),
            tag: 0,
            flood: seed % 4 != 0,
        })
    }

    fn base(&self) -> *mut u8 {
        self.obj.region().as_ptr()
    }

    /// The `u32` at `off`, if 4-aligned and inside the mapping (always,
    /// for offsets from a consistent [`Layout`]).
    pub fn word(&self, off: usize) -> Option<&AtomicU32> {
        (off % 4 == 0 && off + 4 <= self.lay.len).then(|| {
            // SAFETY: in bounds and aligned (checked) in a mapping that
            // lives as long as `self`; every access to the object by this
            // test is atomic, and ipckit reads it only through atomics or
            // raw copies (`Region::from_raw`'s contract).
            unsafe { AtomicU32::from_ptr(self.base().add(off).cast()) }
        })
    }

    pub fn load(&self, off: usize) -> u32 {
        self.word(off).map_or(0, |w| w.load(Ordering::Relaxed))
    }

    /// Stores `v` at `off` (a `u32`), counted and logged.
    pub fn put(&mut self, b: &Board, off: usize, v: u32) {
        let order = if self.rng.next() % 2 == 0 {
            Ordering::Relaxed
        } else {
            Ordering::Release
        };
        if let Some(w) = self.word(off) {
            w.store(v, order);
            self.logged(b, off, 4, v);
        }
    }

    /// Stores the byte `v` at `off`, counted and logged.
    fn put8(&mut self, b: &Board, off: usize, v: u8) {
        assert!(off < self.lay.len);
        // SAFETY: in bounds (checked) of a mapping that lives as long as
        // `self`; atomic access as in `word`.
        unsafe { AtomicU8::from_ptr(self.base().add(off)) }.store(v, Ordering::Relaxed);
        self.logged(b, off, 1, u32::from(v));
    }

    /// Stores the `u64` `v` at `off` (8-aligned), as one write.
    fn put64(&mut self, b: &Board, off: usize, v: u64) {
        assert!(off % 8 == 0 && off + 8 <= self.lay.len);
        // SAFETY: in bounds and aligned (checked), as in `word`; the
        // liveness block reads this field as an `AtomicU64`.
        unsafe { AtomicU64::from_ptr(self.base().add(off).cast()) }.store(v, Ordering::Relaxed);
        self.logged(b, off, 4, v as u32);
        self.logged(b, off + 4, 4, (v >> 32) as u32);
    }

    fn logged(&mut self, b: &Board, off: usize, width: u8, v: u32) {
        b.log(
            self.log,
            self.written,
            board::encode(off, width, v),
            self.tag,
        );
        self.written += 1;
        b.add(self.count_word, 1);
    }

    pub fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[(self.rng.next() % from.len() as u64) as usize]
    }

    /// A value that breaks naive arithmetic, around `cap`.
    fn special(&mut self, cap: u32) -> u32 {
        let r = self.rng.next() as u32;
        self.pick(&[
            0,
            1,
            cap,
            cap.wrapping_add(1),
            cap.wrapping_sub(1),
            cap.wrapping_mul(2),
            0x7fff_ffff,
            0x8000_0000,
            u32::MAX,
            u32::MAX - 7,
            8,
            BUSY,
            PAD | BUSY,
            r,
        ])
    }

    /// One hostile action: one to a few stores. `flips`: a header flip
    /// restores the honest header after a short spin (the concurrent
    /// adversary racing an open between its reads of the header).
    pub fn forge(&mut self, b: &Board, flips: bool) {
        let cap = self.lay.cap().unwrap_or(64);
        match self.rng.next() % 100 {
            0..=11 => {
                let off = (self.rng.next() % self.lay.len as u64) as usize;
                let v = self.rng.next() as u8;
                self.put8(b, off, v);
            }
            12..=21 => {
                let off = (self.rng.next() % (self.lay.len as u64 / 4)) as usize * 4;
                let v = self.special(cap);
                self.put(b, off, v);
            }
            22..=33 => self.header(b, cap, flips),
            34..=51 => self.control(b, cap),
            52..=67 => self.data(b, cap),
            68..=83 if self.lay.live().is_some() => self.liveness(b),
            68..=83 => self.control(b, cap),
            84..=91 => self.restore(b),
            _ => self.lie(b, cap),
        }
    }

    pub fn header(&mut self, b: &Board, cap: u32, flips: bool) {
        if self.rng.next() % 4 == 0 {
            let preset = self.pick(&SIZE_PRESETS);
            for (i, v) in preset.iter().enumerate() {
                if let Some(v) = *v {
                    self.put(b, 20 + 4 * i, v);
                }
            }
            if flips && self.lay.header.is_some() {
                for _ in 0..self.rng.next() % 20_000 {
                    std::hint::spin_loop();
                }
                self.restore_header(b);
            }
            return;
        }
        let field = (self.rng.next() % 10) as usize;
        let bit = 1u32 << (self.rng.next() % 32);
        let v = match field {
            0 => self.pick(&[MAGIC ^ bit, MAGIC.swap_bytes(), 0, u32::MAX]),
            1 => self.pick(&[0, LAYOUT_VERSION + 1, u32::MAX, LAYOUT_VERSION ^ bit]),
            2 => (self.rng.next() % 8) as u32,
            3 => self.pick(&[ENDIAN_MARKER.swap_bytes(), 0, ENDIAN_MARKER ^ bit]),
            4 => self.pick(&[0, 1, 3, u32::MAX]),
            9 => self.pick(&[0, 2, u32::MAX, bit]),
            _ => self.special(cap),
        };
        self.put(b, 4 * field, v);
    }

    /// Before an open in the endpoint process: a header state left at
    /// "uninitialised" or "initialising" makes every open wait its full
    /// patience (2 s), so it is set back to ready (the caller decides how
    /// often, to keep the run's time for other calls).
    pub fn ready(&mut self, b: &Board) {
        let state = self.load(16);
        if let (0 | 1, Some(h)) = (state, self.lay.header) {
            self.put(b, 16, h[4]);
        }
    }

    pub fn restore_header(&mut self, b: &Board) {
        if let Some(h) = self.lay.header {
            // State last, as a creator publishes it.
            for i in (0..10).filter(|&i| i != 4) {
                self.put(b, 4 * i, h[i]);
            }
            self.put(b, 16, h[4]);
        }
    }

    pub fn control(&mut self, b: &Board, cap: u32) {
        let words = control_words(self.lay.kind);
        let (off, what) = self.pick(words);
        let cur = self.load(off);
        let v = match what {
            Word::Index { peer, unit } => {
                let peer = self.load(peer);
                // `cap` counts items (typed rings) or bytes (frame rings).
                let span = cap;
                let inside = (self.rng.next() as u32 % span.max(1)) & !(unit - 1);
                self.pick(&[
                    peer,
                    peer.wrapping_add(span),
                    peer.wrapping_add(span).wrapping_add(unit),
                    peer.wrapping_sub(unit),
                    peer.wrapping_add(0x8000_0000),
                    peer.wrapping_add(1),
                    cur.wrapping_add(unit),
                    cur.wrapping_sub(unit),
                    cur.wrapping_add(inside),
                    u32::MAX,
                    0x7fff_ffff,
                    0,
                ])
            }
            Word::Flag => self.pick(&[0, 1, 2, u32::MAX, 0x8000_0000]),
            Word::Counter => self.pick(&[
                0,
                1,
                u32::MAX,
                0x7fff_ffff,
                0x8000_0000,
                cur.wrapping_add(1),
                cur.wrapping_sub(1),
            ]),
            Word::Count => {
                let r = self.rng.next() as u32 % cap.max(1);
                self.pick(&[
                    0,
                    1,
                    cap.wrapping_sub(1),
                    cap,
                    cap.wrapping_add(1),
                    u32::MAX,
                    0x8000_0000,
                    r,
                ])
            }
            // Past the largest table (1024), past the mapping, or one
            // more or fewer entries than the creator made.
            Word::TableLen => self.pick(&[
                0,
                1,
                64,
                65,
                1024,
                1025,
                u32::MAX,
                0x8000_0000,
                cur.wrapping_add(1),
                cur.wrapping_sub(1),
            ]),
        };
        self.put(b, off, v);
    }

    /// The data area: MPMC stamps, frame record headers, SPSC items.
    fn data(&mut self, b: &Board, cap: u32) {
        let (Some(data), Some(cap)) = (self.lay.data(), self.lay.cap()) else {
            return self.control(b, cap);
        };
        match self.lay.kind {
            Kind::Mpmc => {
                // The slot stride of the MPMC layout: a stamp, the item at
                // `A = max(4, align)`, rounded up to `A`.
                let h = self.lay.header.unwrap_or_default();
                let a = h[6].max(4) as usize;
                let stride = (a + h[5] as usize).div_ceil(a) * a;
                let which = self.pick(&[128, 256]);
                let p = self.load(which);
                let slot = match self.rng.next() % 3 {
                    0 => p & (cap - 1),
                    1 => p.wrapping_add(1) & (cap - 1),
                    _ => self.rng.next() as u32 & (cap - 1),
                };
                let q = p.wrapping_add(slot.wrapping_sub(p) & (cap - 1));
                let v = self.pick(&[
                    q,
                    q.wrapping_add(1),
                    q.wrapping_add(cap),
                    q.wrapping_add(cap + 1),
                    q.wrapping_sub(cap),
                    q.wrapping_sub(cap - 1),
                    q.wrapping_add(0x8000_0000),
                    q.wrapping_sub(1),
                    q.wrapping_add(2),
                    u32::MAX,
                ]);
                let off = data + slot as usize * stride;
                if off + 4 <= self.lay.len {
                    self.put(b, off, v);
                }
            }
            Kind::Bytes | Kind::MpscBytes => {
                let which = self.pick(&[256, 128]);
                let at = self.load(which);
                let pos = match self.rng.next() % 3 {
                    0 => at,
                    1 => at.wrapping_add(8 * (self.rng.next() % 4) as u32),
                    _ => self.rng.next() as u32,
                } & (cap - 1)
                    & !7;
                let off = data + pos as usize;
                // `cap` is read from a header this adversary may have forged
                // small (a power of two below 16).
                let max = (cap / 2).saturating_sub(8);
                if self.rng.next() % 4 == 0 {
                    let v = self.claimant();
                    return self.put(b, off + 4, v);
                }
                let r = self.rng.next() as u32 & LEN_MASK;
                let len = self.pick(&[
                    0,
                    1,
                    7,
                    8,
                    9,
                    16,
                    max + 8,
                    max + 9,
                    cap - pos,
                    cap - pos + 8,
                    cap,
                    cap + 8,
                    LEN_MASK,
                    r,
                ]);
                let flags = self.pick(&[0, 0, BUSY, PAD, PAD | BUSY, 1 << 29]);
                self.put(b, off, len | flags);
            }
            Kind::Spsc => {
                let off = data + (self.rng.next() % u64::from(cap)) as usize * 8;
                let v = self.special(cap);
                self.put(b, off, v);
            }
            Kind::Semaphore => self.control(b, cap),
            Kind::Pubsub | Kind::PubsubReliable => self.topic_data(b, cap),
        }
    }

    /// A process to name: (pid, start time).
    fn process(&mut self) -> (u32, u64) {
        self.pids[(self.rng.next() % self.pids.len() as u64) as usize]
    }

    fn claimant(&mut self) -> u32 {
        let (pid, _) = self.process();
        let r = self.rng.next() as u32;
        self.pick(&[pid, pid, 0, u32::MAX, 1, r])
    }

    /// The liveness block: its header, and slots naming garbage.
    pub fn liveness(&mut self, b: &Board) {
        let Some(live) = self.lay.live() else { return };
        let bit = 1u32 << (self.rng.next() % 32);
        match self.rng.next() % 10 {
            0 => {
                let v = self.pick(&[0, LIVENESS_MAGIC ^ bit, LIVENESS_MAGIC.swap_bytes()]);
                self.put(b, live, v);
            }
            1 => {
                let v = self.pick(&[0, LIVENESS_VERSION + 1, u32::MAX]);
                self.put(b, live + 4, v);
            }
            2 => {
                let v = self.pick(&[0, 1, 2, 63, 64, 65, u32::MAX, 0x8000_0000]);
                self.put(b, live + 8, v);
            }
            r => {
                let side = if self.rng.next() % 2 == 0 { 64 } else { 1088 };
                let i = if self.rng.next() % 4 == 0 {
                    self.rng.next() % 64
                } else {
                    self.rng.next() % 3
                };
                let slot = live + side + 16 * i as usize;
                let generation = (self.load(slot) >> 8).wrapping_add(self.rng.next() as u32 % 3);
                let state = self.pick(&[0, 1, 2, 2, 2, 3, 4, 0xff]);
                let (pid, start) = self.process();
                let start = if self.rng.next() % 8 == 0 {
                    self.rng.next()
                } else {
                    start
                };
                if r >= 7 {
                    // A whole slot, in the order a claim writes it.
                    self.put(b, slot, (generation << 8) | 1);
                    self.put(b, slot + 4, pid);
                    self.put64(b, slot + 8, start);
                    self.put(b, slot, (generation << 8) | state);
                } else {
                    match r % 3 {
                        0 => self.put(b, slot, (generation << 8) | state),
                        1 => self.put(b, slot + 4, pid),
                        _ => self.put64(b, slot + 8, start),
                    }
                }
            }
        }
    }

    /// Honest values back: the header, or the liveness block's header.
    fn restore(&mut self, b: &Board) {
        match (self.rng.next() % 3, self.lay.live()) {
            (0, Some(live)) => {
                let slots = if matches!(self.lay.kind, Kind::Spsc | Kind::Bytes) {
                    1
                } else {
                    64
                };
                self.put(b, live, LIVENESS_MAGIC);
                self.put(b, live + 4, LIVENESS_VERSION);
                self.put(b, live + 8, slots);
            }
            (1, _) => {
                if let Some(h) = self.lay.header {
                    self.put(b, 16, h[4]);
                }
            }
            _ => self.restore_header(b),
        }
    }

    /// A plausible lie: an index moved over items or records that were
    /// never written, a stamp that publishes nothing, a count in range.
    pub fn lie(&mut self, b: &Board, cap: u32) {
        let (Some(data), Some(cap)) = (self.lay.data(), self.lay.cap()) else {
            return self.control(b, cap);
        };
        if self.lay.kind == Kind::Semaphore {
            let v = self.rng.next() as u32 % cap.saturating_add(1).max(1);
            return self.put(b, 128, v);
        }
        let (tail, head) = (self.load(128), self.load(256));
        match self.lay.kind {
            Kind::Spsc => {
                let k = 1 + self.rng.next() as u32 % cap;
                if self.rng.next() % 2 == 0 {
                    self.put(b, 128, head.wrapping_add(k));
                } else {
                    self.put(b, 256, tail.wrapping_sub(k));
                }
            }
            Kind::Mpmc => {
                let h = self.lay.header.unwrap_or_default();
                let a = h[6].max(4) as usize;
                let stride = (a + h[5] as usize).div_ceil(a) * a;
                let off = data + stride * (head & (cap - 1)) as usize;
                if off + 4 <= self.lay.len {
                    self.put(b, off, head.wrapping_add(1));
                }
                if self.rng.next() % 2 == 0 {
                    self.put(b, 128, head.wrapping_add(1));
                }
            }
            Kind::Bytes | Kind::MpscBytes => {
                // `cap` is read from a header this adversary may have forged
                // small (a power of two below 16).
                let max = (cap / 2).saturating_sub(8);
                let len = self.rng.next() as u32 % (max + 1);
                let pos = head & (cap - 1) & !7;
                let room = cap - pos;
                let (word, rec) = if record_len(len) > room {
                    (PAD | room, room)
                } else if self.lay.kind == Kind::MpscBytes && self.rng.next() % 3 == 0 {
                    (BUSY | frame_word(len), record_len(len))
                } else {
                    (frame_word(len), record_len(len))
                };
                let off = data + pos as usize;
                let who = if self.lay.kind == Kind::MpscBytes {
                    self.claimant()
                } else {
                    0
                };
                self.put(b, off + 4, who);
                self.put(b, off, word);
                if self.rng.next() % 2 == 0 {
                    self.put(b, 128, head.wrapping_add(rec));
                }
            }
            Kind::Semaphore => {}
            Kind::Pubsub | Kind::PubsubReliable => self.topic_lie(b, cap),
        }
    }
}

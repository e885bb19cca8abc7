//! The concurrent adversary: a forked process that maps each round's
//! object by name and writes into it for the whole run, also while the
//! object is being created and opened.
//!
//! Each round it follows one plan:
//! - **chaos** (half the rounds): bursts of 1 to 16 actions of every sort
//!   ([`Forger::forge`]), with short spins or sleeps between bursts, and
//!   now and then a hammer;
//! - **flipper**: header lies (sizes that overflow or exceed the object,
//!   magic, version, state, kind) held for a few microseconds, then the
//!   honest header again, over and over: an open that reads the header
//!   more than once sees two different ones;
//! - **hammer**: a healthy ring, then a live peer with a CPU of its own
//!   ([`Forger::hammer`]) for 1 to 40 ms, a pause, again;
//! - **liar**: only plausible lies and liveness slots, at a moderate rate.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ipckit::frame::PAD;
use ipckit::futex::monotonic_now;

use crate::Kind;
use crate::board::{self, Board};
use crate::forge::Forger;
use crate::layout::SIZE_PRESETS;
use crate::support::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Chaos,
    Flipper,
    Hammer,
    Liar,
}

impl Forger {
    /// A live hostile peer with a CPU of its own: until `until`, rewrites
    /// one control word without pause (compare-and-swap loops of the
    /// endpoints then keep failing), or, on an MPSC frame ring, keeps
    /// appending discarded records ahead of the consumer (a producer that
    /// never stops giving up its claims).
    fn hammer(&mut self, b: &Board, until: Duration) {
        let cap = self.lay.cap().unwrap_or(64);
        // The same kind of hammer all round: a position hammer breaks the
        // ring a flood needs.
        let flood = self.lay.kind == Kind::MpscBytes && self.flood;
        let (off, unit) = match self.lay.kind {
            Kind::Semaphore => (128, 1),
            Kind::Bytes | Kind::MpscBytes => (self.pick(&[128, 256]), 8),
            Kind::Spsc | Kind::Mpmc => (self.pick(&[128, 256]), 1),
            // A topic's tail (subscribers' reads), its waiting counter, or
            // the progress word a waiting reliable publisher sleeps on.
            Kind::Pubsub | Kind::PubsubReliable => (self.pick(&[128, 136, 152]), 1),
        };
        let v0 = self.load(off);
        let mut v = v0;
        // Full speed: the stores are counted, and only the last one
        // logged, at the end.
        let mut stores = 0;
        for i in 0u64.. {
            if i % 64 == 0 && monotonic_now() >= until {
                break;
            }
            if flood {
                stores += self.discarded_records(cap);
                continue;
            }
            // A word that keeps changing between two plausible values
            // (a count in range, a position and the next one): every
            // compare-and-swap of an endpoint that loaded it just before
            // fails, and the ring stays usable.
            v = if v == v0 {
                if self.lay.kind == Kind::Semaphore && v0 >= cap {
                    v0.wrapping_sub(unit)
                } else {
                    v0.wrapping_add(unit)
                }
            } else {
                v0
            };
            if let Some(w) = self.word(off) {
                w.store(v, Ordering::Relaxed);
                stores += 1;
            }
        }
        if stores > 0 {
            let last = if flood { 128 } else { off };
            let v = self.load(last);
            b.log(self.log, self.written, board::encode(last, 4, v), self.tag);
            self.written += stores;
            b.add(self.count_word, stores);
        }
    }

    /// Discarded records (claimant `u32::MAX`, committed), each claimed
    /// like a producer claims (a compare-and-swap on `tail`, so honest
    /// senders keep working beside it), as long as the ring has room: half
    /// the data area each (or what is left up to its end, or padding), so
    /// that the consumer, which zeroes what it skips, works far longer per
    /// record than the claim and two header stores cost here, and a run of
    /// them stays ahead of it. Returns the stores made.
    fn discarded_records(&mut self, cap: u32) -> u64 {
        let (Some(data), Some(tail_word)) = (self.lay.data(), self.word(128)) else {
            return 0;
        };
        let head = self.load(256);
        let mut stores = 0;
        for _ in 0..4096 {
            let tail = tail_word.load(Ordering::Acquire);
            if tail.wrapping_sub(head) > cap / 2 {
                break;
            }
            let pos = tail & (cap - 1) & !7;
            let rec = (cap / 2).min(cap - pos);
            let word = if rec < 16 { PAD | rec } else { rec };
            let next = tail.wrapping_add(rec);
            if tail_word
                .compare_exchange(tail, next, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            let off = data + pos as usize;
            for (at, v) in [(off + 4, u32::MAX), (off, word)] {
                if let Some(w) = self.word(at) {
                    w.store(v, Ordering::Release);
                }
            }
            stores += 3;
        }
        stores
    }
}

fn spin(n: u64) {
    for _ in 0..n {
        std::hint::spin_loop();
    }
}

impl Forger {
    /// One header lie, held for a moment, then the honest header again.
    fn flip(&mut self, b: &Board) {
        if self.rng.next() % 2 == 0 {
            return self.three_step(b, true);
        }
        if self.rng.next() % 2 == 0 {
            let preset = self.pick(&SIZE_PRESETS);
            for (i, v) in preset.iter().enumerate() {
                if let Some(v) = *v {
                    self.put(b, 20 + 4 * i, v);
                }
            }
        } else {
            let cap = self.lay.cap().unwrap_or(64);
            self.header(b, cap, false);
        }
        spin(self.rng.next() % 5000);
        self.restore_header(b);
        spin(self.rng.next() % 5000);
    }
}

impl Forger {
    /// Issue 13 item 1, against an open that reads the header once to size
    /// the object, then finds the liveness block where those sizes put it,
    /// then attaches the ring, which reads the header again: (a) sizes
    /// whose sum wraps the liveness offset to 0 (MPMC: `data_offset +
    /// capacity x stride` = 2^64 - 1), (b) a liveness block header at
    /// offset 0, (c) the honest header with 2^30 slots, then honest again.
    /// Each step is held for 0 to 64 spins: an open whose three reads fall
    /// into the three steps passes every check with a ring far larger than
    /// the object. `restore`: the honest header after the third step.
    fn three_step(&mut self, b: &Board, restore: bool) {
        let Some(h) = self.lay.header else { return };
        // The steps race reads ~100 ns apart: holds of 0 to 64 spins.
        let holds = [0, 0, 1, 2, 4, 8, 16, 32, 64];
        let (hold_a, hold_b) = (self.pick(&holds), self.pick(&holds));
        // Positions far out, the same for both (an empty ring): harmless
        // for endpoints that mask them with the honest capacity, fatal for
        // one that believes in 2^30 slots.
        let far = 0x3000_0000 + (self.rng.next() as u32 & 0x0fff_ffff);
        self.put(b, 128, far);
        self.put(b, 256, far);
        // (a) Sizes that wrap the liveness offset to 0.
        for (i, v) in [8, 0x8000_0000, u32::MAX, u32::MAX].into_iter().enumerate() {
            self.put(b, 20 + 4 * i, v);
        }
        spin(hold_a);
        // (b) The liveness header at 0: magic and slots (its version, 1,
        // is the layout version already at 4).
        let slots = if matches!(self.lay.kind, Kind::Spsc | Kind::Bytes) {
            1
        } else {
            64
        };
        self.put(b, 0, ipckit::channel::LIVENESS_MAGIC);
        self.put(b, 8, slots);
        spin(hold_b);
        // (c) The honest header with 2^30 slots.
        for i in [0, 2, 5, 6, 7, 8] {
            let v = if i == 7 { 1 << 30 } else { h[i] };
            self.put(b, 4 * i, v);
        }
        spin(self.rng.next() % 200);
        if restore {
            self.restore_header(b);
        }
    }
}

/// The adversary's main: rounds until the parent sets [`board::STOP`] or
/// `end` (monotonic) passes.
pub fn adversary(kind: Kind, b: &Board, name: &str, seed: u64, end: Duration) -> i32 {
    let mut rng = Rng(seed | 1);
    let mut round = 0;
    let mut plan = Plan::Chaos;
    let mut forger: Option<Forger> = None;
    let mut next_hammer = monotonic_now();
    let mut opened = 0;
    while b.get(board::STOP) == 0 && monotonic_now() < end {
        let now = b.get(board::ROUND);
        if now != round {
            // A fresh object (or one being created): map it when it exists.
            forger = Forger::open(name, kind, rng.next(), b, true);
            if forger.is_some() && b.get(board::ROUND) == now {
                round = now;
                let r = rng.next() % 8;
                plan = match std::env::var("IPCKIT_HOSTILE_PLAN").as_deref() {
                    Ok("chaos") => Plan::Chaos,
                    Ok("flipper") => Plan::Flipper,
                    Ok("hammer") => Plan::Hammer,
                    Ok("liar") => Plan::Liar,
                    _ => match r {
                        0..=3 => Plan::Chaos,
                        4 => Plan::Flipper,
                        5 | 6 => Plan::Hammer,
                        _ => Plan::Liar,
                    },
                };
            } else {
                // Not there yet, or already replaced by the next round's.
                forger = None;
            }
        }
        let Some(f) = forger.as_mut() else {
            std::thread::sleep(Duration::from_micros(100));
            continue;
        };
        if f.lay.header.is_none() && b.get(board::HEADER_ROUND) == round {
            let mut h = [0; 10];
            for (i, w) in h.iter_mut().enumerate() {
                *w = b.get(board::HEADER + i) as u32;
            }
            // Still this round's object: the words are its header (the
            // endpoint child bumps the round before it writes the next).
            if b.get(board::ROUND) == round {
                f.lay.header = Some(h);
                f.lay.table_len = f.load(144);
            }
        }
        let now = monotonic_now();
        f.tag = now.as_nanos() as u64;
        if plan != Plan::Chaos && f.lay.header.is_none() {
            // The other plans start from the published object.
            std::thread::sleep(Duration::from_micros(50));
            continue;
        }
        match plan {
            Plan::Chaos => {
                if now >= next_hammer {
                    f.hammer(b, now + Duration::from_millis(1 + rng.next() % 40));
                    next_hammer = now + Duration::from_millis(50 + rng.next() % 250);
                }
                for _ in 0..1 + rng.next() % 16 {
                    f.forge(b, true);
                }
                match rng.next() % 8 {
                    0 => std::thread::sleep(Duration::from_micros(rng.next() % 300)),
                    1 | 2 => spin(rng.next() % 2000),
                    _ => {}
                }
            }
            Plan::Flipper => {
                // An open in flight (the endpoint child names its call on
                // the board, as a real attacker would learn it from the
                // liveness slots or /proc): three-step flips for as long as
                // it runs, else any flip.
                let seq = b.get(board::OP_SEQ);
                if b.get(board::CUR_OP) == board::Op::Open as u64 && seq != opened {
                    opened = seq;
                    for _ in 0..1000 {
                        if f.lay.kind.is_topic() && rng.next() % 2 == 0 {
                            f.table_flip(b);
                        } else {
                            f.three_step(b, false);
                        }
                        if b.get(board::OP_SEQ) != seq || b.get(board::CUR_OP) == 0 {
                            break;
                        }
                    }
                    f.restore_header(b);
                } else {
                    f.flip(b);
                }
            }
            Plan::Hammer => {
                f.hammer(b, now + Duration::from_millis(1 + rng.next() % 40));
                std::thread::sleep(Duration::from_millis(1 + rng.next() % 20));
            }
            Plan::Liar => {
                let cap = f.lay.cap().unwrap_or(64);
                if rng.next() % 2 == 0 {
                    f.lie(b, cap);
                } else {
                    f.liveness(b);
                }
                std::thread::sleep(Duration::from_micros(10 + rng.next() % 200));
            }
        }
    }
    0
}

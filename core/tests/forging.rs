//! A forging thread of our own process writes a region while live endpoints
//! operate on it with `try_` calls, for every ring kind of the core.
//!
//! The forger writes random and targeted values (0, 1, the capacity and one
//! past it, `0x7fff_ffff`, `0x8000_0000`, `u32::MAX`, a word's current
//! value nudged by a few) into control words and into slot and payload
//! bytes, with relaxed atomic stores at the region's grain (the `sync`
//! module's grain rule: `u32` words for control words and the MPSC frame
//! ring's data area, machine words for the SPSC frame ring's data area and
//! for slots of `u64`, `u32` words for a latest-value slot's value). Pass:
//! no panic, every outcome an `Ok` or an error value, no length beyond the
//! caller's buffer, and, under miri,
//! no undefined behaviour: no data race between the forger's stores and the
//! endpoints' copies (item 8 of issue 13).
//!
//! Run under miri with
//! `cargo +nightly miri test -p ipckit-core --test forging`; iteration
//! counts are small there.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use ipckit_core::{Error, Region, frame, latest, mpmc, semaphore, spsc};

/// Rounds per test: each starts from a fresh ring, since forged control
/// words soon leave a ring refusing every call with `Corrupted`.
const ROUNDS: usize = if cfg!(miri) { 6 } else { 100 };

/// Operations per endpoint thread, and stores by the forger, per round.
const OPS: usize = if cfg!(miri) { 40 } else { 200 };

/// A small xorshift generator: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Zeroed, 128-aligned heap memory, reached only through regions and a
/// [`Forger`] (never through a Rust reference to its bytes).
struct Mem {
    base: NonNull<u8>,
    layout: Layout,
}

impl Mem {
    fn new(len: usize) -> Self {
        let layout = Layout::from_size_align(len, 128).unwrap();
        // SAFETY: `len` is non-zero for every ring below.
        let base = NonNull::new(unsafe { alloc_zeroed(layout) }).expect("allocation");
        Self { base, layout }
    }

    fn region(&self) -> Region<'_> {
        // SAFETY: valid and zero-initialised for the life of `self`; no
        // reference to the bytes exists, and the forger uses atomics only.
        unsafe { Region::from_raw(self.base, self.layout.size()) }
    }

    /// Zeroes the memory between rounds (atomically: the last round's
    /// threads are joined, but the bytes are only ever accessed so).
    fn zero(&self) {
        let f = self.forger();
        for off in (0..self.layout.size()).step_by(4) {
            f.word(off).store(0, Ordering::Relaxed);
        }
    }

    fn forger(&self) -> Forger<'_> {
        Forger {
            base: self.base,
            len: self.layout.size(),
            _mem: PhantomData,
        }
    }
}

impl Drop for Mem {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; every region and
        // forger borrowed `self`, so none is left.
        unsafe { dealloc(self.base.as_ptr(), self.layout) }
    }
}

/// Where a forger may write: `u32` words at these offsets, machine words
/// (`usize`) at those; for a frame ring, also the payload just after the
/// record at the consumer's `head` (the frame it is most likely copying
/// out).
#[derive(Default)]
struct Targets {
    words: Vec<usize>,
    units: Vec<usize>,
    frames: Option<Frames>,
}

/// A frame ring's data area, for forging payloads.
#[derive(Clone, Copy)]
struct Frames {
    /// Offset of the consumer's `head` word.
    head: usize,
    /// Offset of the data area.
    base: usize,
    /// Bytes of the data area.
    capacity: u32,
    /// The grain: 4 (`u32` words) or `size_of::<usize>()`.
    unit: usize,
}

impl Targets {
    /// Every header field and the control words of the index lines.
    fn control(lines: &[usize]) -> Self {
        let mut words: Vec<usize> = (0..40).step_by(4).collect();
        for &line in lines {
            words.extend((line..line + 12).step_by(4));
        }
        Self {
            words,
            ..Self::default()
        }
    }
}

/// The peer thread's view of a [`Mem`]: aligned atomic stores and loads.
struct Forger<'a> {
    base: NonNull<u8>,
    len: usize,
    _mem: PhantomData<&'a Mem>,
}

// SAFETY: the forger only performs atomic accesses through its pointer.
unsafe impl Send for Forger<'_> {}

impl Forger<'_> {
    fn word(&self, off: usize) -> &AtomicU32 {
        assert!(off % 4 == 0 && off + 4 <= self.len);
        // SAFETY: aligned (128-aligned base), in bounds, only accessed
        // atomically while the memory lives.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(off).cast()) }
    }

    fn unit(&self, off: usize) -> &AtomicUsize {
        const N: usize = size_of::<usize>();
        assert!(off % N == 0 && off + N <= self.len);
        // SAFETY: as in `word`, at the machine-word grain.
        unsafe { AtomicUsize::from_ptr(self.base.as_ptr().add(off).cast()) }
    }

    /// A value for a `u32` word now holding `current`.
    fn value(rng: &mut Rng, capacity: u32, current: u32) -> u32 {
        let nudge = (rng.below(17) as u32).wrapping_sub(8);
        match rng.below(10) {
            0 => 0,
            1 => 1,
            2 => capacity,
            3 => capacity.wrapping_add(1),
            4 => 0x7fff_ffff,
            5 => 0x8000_0000,
            6 => u32::MAX,
            7 | 8 => current.wrapping_add(nudge),
            _ => rng.next() as u32,
        }
    }

    /// `OPS` stores, one in sixteen into a control word (those tend to
    /// wreck the ring for good), the others into data (for a frame ring,
    /// three in four into the payload after `head`), then sets `done`.
    fn run(
        self,
        rng: &mut Rng,
        capacity: u32,
        control: &Targets,
        data: &Targets,
        done: &AtomicBool,
    ) {
        for _ in 0..OPS {
            let targets = if rng.below(16) == 0 { control } else { data };
            if let (Some(f), 1..) = (targets.frames, rng.below(4)) {
                // Payload bytes of the oldest frame (or of the one after).
                let head = self.word(f.head).load(Ordering::Relaxed) as usize;
                let at = (head + 8 + f.unit * rng.below(16)) & (f.capacity as usize - f.unit);
                if f.unit == 4 {
                    self.word(f.base + at)
                        .store(rng.next() as u32, Ordering::Relaxed);
                } else {
                    self.unit(f.base + at)
                        .store(rng.next() as usize, Ordering::Relaxed);
                }
                continue;
            }
            let pick = rng.below(targets.words.len() + targets.units.len());
            if let Some(&off) = targets.words.get(pick) {
                let w = self.word(off);
                w.store(
                    Self::value(rng, capacity, w.load(Ordering::Relaxed)),
                    Ordering::Relaxed,
                );
            } else {
                let u = self.unit(targets.units[pick - targets.words.len()]);
                let low = Self::value(rng, capacity, u.load(Ordering::Relaxed) as u32);
                // The low half (or all) of the word a targeted value, the
                // rest random.
                let high = (rng.next() as usize).checked_shl(32).unwrap_or(0);
                u.store(low as usize | high, Ordering::Relaxed);
            }
        }
        done.store(true, Ordering::Release);
    }
}

/// One round: runs `producer` and `consumer` in two threads (each called
/// until the forger is done and it has run `OPS` times) while `forger`
/// writes. `seed` varies the round. Returns the endpoints' calls and how
/// many of them succeeded.
#[allow(clippy::too_many_arguments)]
fn race(
    seed: u64,
    forger: Forger<'_>,
    capacity: u32,
    control: &Targets,
    data: &Targets,
    mut producer: impl FnMut(&mut Rng) + Send,
    mut consumer: impl FnMut(&mut Rng) + Send,
) -> (usize, usize) {
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let done = &done;
        let endpoint = |seed: u64, f: &mut (dyn FnMut(&mut Rng) + Send)| {
            CALLS.with(|c| c.set((0, 0)));
            let mut rng = Rng(seed);
            let mut i = 0;
            while i < OPS || !done.load(Ordering::Acquire) {
                f(&mut rng);
                i += 1;
            }
            CALLS.with(Cell::get)
        };
        s.spawn(move || {
            forger.run(
                &mut Rng(seed ^ 0x9e37_79b9_7f4a_7c15),
                capacity,
                control,
                data,
                done,
            )
        });
        let producer = s.spawn(move || endpoint(seed ^ 0x1234_5678, &mut producer));
        let (calls, ok) = endpoint(seed ^ 0x8765_4321, &mut consumer);
        let (p_calls, p_ok) = producer.join().unwrap();
        (calls + p_calls, ok + p_ok)
    })
}

/// Sums the rounds' `(calls, ok)`, prints them, and checks (natively, where
/// there are enough rounds) that endpoints got work done between forgeries.
struct Tally(&'static str, usize, usize);

impl Tally {
    fn add(&mut self, (calls, ok): (usize, usize)) {
        self.1 += calls;
        self.2 += ok;
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        println!(
            "{}: {ROUNDS} rounds, {} calls, {} succeeded",
            self.0, self.1, self.2
        );
        if !cfg!(miri) && !std::thread::panicking() {
            assert!(self.2 > 0, "{}: no call ever succeeded", self.0);
        }
    }
}

/// The seed of round `round`.
fn seed(round: usize) -> u64 {
    0x2545_f491_4f6c_dd1d ^ (round as u64 + 1).wrapping_mul(0x9e37_79b9)
}

thread_local! {
    /// Calls and successful calls of this endpoint thread in this round.
    static CALLS: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// Every outcome is a value: `Ok`, or an error from the ring's vocabulary.
fn check<T>(outcome: Result<T, Error>) -> Option<T> {
    CALLS.with(|c| {
        let (calls, ok) = c.get();
        c.set((calls + 1, ok + usize::from(outcome.is_ok())));
    });
    match outcome {
        Ok(v) => Some(v),
        Err(Error::Empty | Error::Full | Error::Busy | Error::Corrupted(_) | Error::PeerGone) => {
            None
        }
        Err(Error::BufferTooSmall { .. } | Error::FrameTooLarge { .. }) => None,
        Err(Error::OutOfRange { .. }) => None,
        Err(Error::Truncated { .. }) => None,
        Err(e) => panic!("unexpected error: {e:?}"),
    }
}

/// The units of `unit` bytes of a frame ring's data area (at `offset`),
/// and the payload after the consumer's `head` (the word at offset 256).
fn frame_data(offset: usize, capacity: u32, unit: usize) -> Targets {
    let all = (offset..offset + capacity as usize).step_by(unit).collect();
    let (words, units) = if unit == 4 {
        (all, Vec::new())
    } else {
        (Vec::new(), all)
    };
    Targets {
        words,
        units,
        frames: Some(Frames {
            head: 256,
            base: offset,
            capacity,
            unit,
        }),
    }
}

#[test]
fn typed_spsc_under_a_forging_thread() {
    const CAP: u32 = 16;
    let mem = Mem::new(spsc::Ring::<u64>::region_len(CAP).unwrap());
    let data = Targets {
        units: (0..CAP as usize)
            .map(|i| spsc::DATA_OFFSET + 8 * i)
            .collect(),
        ..Targets::default()
    };
    let control = Targets::control(&[128, 256]);
    let mut tally = Tally("typed spsc", 0, 0);
    for round in 0..ROUNDS {
        mem.zero();
        let ring = spsc::Ring::<u64>::init(mem.region(), CAP).unwrap();
        let (mut tx, mut rx) = ring.split().unwrap();
        let producer = |rng: &mut Rng| {
            let items = [rng.next(); 5];
            if rng.below(2) == 0 {
                check(tx.try_push(items[0]));
            } else if let Some(n) = check(tx.push_partial_slice(&items[..rng.below(5)])) {
                assert!(n <= 5);
            }
        };
        let consumer = |rng: &mut Rng| {
            let mut out = [0u64; 4];
            if rng.below(2) == 0 {
                check(rx.try_pop());
            } else if let Some(n) = check(rx.pop_partial_slice(&mut out[..rng.below(5)])) {
                assert!(n <= 4);
            }
        };
        tally.add(race(
            seed(round),
            mem.forger(),
            CAP,
            &control,
            &data,
            producer,
            consumer,
        ));
    }
}

#[test]
fn mpmc_under_a_forging_thread() {
    const CAP: u32 = 8;
    let mem = Mem::new(mpmc::Ring::<u64>::region_len(CAP).unwrap());
    // A slot of `u64` is 16 bytes: the stamp (a control word), 4 bytes of
    // padding, the item.
    let slots = (0..CAP as usize).map(|i| mpmc::DATA_OFFSET + 16 * i);
    let data = Targets {
        words: slots.clone().map(|s| s + 4).collect(),
        units: slots.clone().map(|s| s + 8).collect(),
        ..Targets::default()
    };
    let mut control = Targets::control(&[128, 256]);
    control.words.extend(slots);
    let mut tally = Tally("mpmc", 0, 0);
    for round in 0..ROUNDS {
        mem.zero();
        let ring = mpmc::Ring::<u64>::init(mem.region(), CAP).unwrap();
        let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
        let producer = |rng: &mut Rng| {
            check(tx.try_push(rng.next()));
        };
        let consumer = |_: &mut Rng| {
            check(rx.try_pop());
        };
        tally.add(race(
            seed(round),
            mem.forger(),
            CAP,
            &control,
            &data,
            producer,
            consumer,
        ));
    }
}

/// One producer step on a frame ring (either kind): a copied frame, or a
/// grant written in part at a random offset (partial words) and committed
/// with a random length.
macro_rules! frame_producer {
    ($tx:expr, $max:expr) => {
        |rng: &mut Rng| {
            let msg = [0xA5u8; 256];
            let len = rng.below($max as usize + 2);
            if rng.below(2) == 0 {
                check($tx.try_send(&msg[..len]));
            } else if let Some(mut grant) = check($tx.try_grant(len)) {
                let at = rng.below(len + 1);
                let end = (at + rng.below(7)).min(len);
                check(grant.write_at(at, &msg[at..end]));
                check(grant.commit(rng.below(len + 2)));
            }
        }
    };
}

#[test]
fn frame_spsc_under_a_forging_thread() {
    const CAP: u32 = 256;
    let mem = Mem::new(frame::spsc::Ring::region_len(CAP).unwrap());
    let control = Targets::control(&[128, 256]);
    let data = frame_data(frame::spsc::DATA_OFFSET, CAP, size_of::<usize>());
    let mut tally = Tally("frame spsc", 0, 0);
    for round in 0..ROUNDS {
        mem.zero();
        let ring = frame::spsc::Ring::init(mem.region(), CAP).unwrap();
        let max = ring.max_frame_len();
        let (mut tx, mut rx) = ring.split().unwrap();
        let consumer = |rng: &mut Rng| {
            let mut buf = [0u8; 300];
            let want = rng.below(buf.len());
            if rng.below(2) == 0 {
                if let Some(n) = check(rx.try_recv(&mut buf[..want])) {
                    assert!(n <= want);
                }
            } else if let Some(frame) = check(rx.try_read()) {
                assert!(frame.len() <= max as usize);
                let at = rng.below(frame.len() + 2);
                check(frame.read_at(at, &mut buf[..rng.below(9)]));
                assert!(frame.read_partial(0, &mut buf[..want]) <= want);
                if let Some(n) = check(frame.copy_to(&mut buf[..want])) {
                    assert!(n <= want);
                }
                frame.release();
            }
        };
        let producer = frame_producer!(tx, max);
        tally.add(race(
            seed(round),
            mem.forger(),
            CAP,
            &control,
            &data,
            producer,
            consumer,
        ));
    }
}

#[test]
fn frame_mpsc_under_a_forging_thread() {
    const CAP: u32 = 256;
    let mem = Mem::new(frame::mpsc::Ring::region_len(CAP).unwrap());
    let control = Targets::control(&[128, 256, 384]);
    let data = frame_data(frame::mpsc::DATA_OFFSET, CAP, 4);
    let mut tally = Tally("frame mpsc", 0, 0);
    for round in 0..ROUNDS {
        mem.zero();
        let ring = frame::mpsc::Ring::init(mem.region(), CAP).unwrap();
        let max = ring.max_frame_len();
        let tx = ring.producer().unwrap();
        let mut rx = ring.consumer().unwrap();
        let consumer = |rng: &mut Rng| {
            let mut buf = [0u8; 300];
            let want = rng.below(buf.len());
            if rng.below(2) == 0 {
                if let Some(n) = check(rx.try_recv(&mut buf[..want])) {
                    assert!(n <= want);
                }
            } else if let Some(frame) = check(rx.try_read()) {
                assert!(frame.len() <= max as usize);
                let at = rng.below(frame.len() + 2);
                assert!(frame.read_partial(at, &mut buf[..rng.below(9)]) <= 8);
                check(frame.read_at(at, &mut buf[..rng.below(9)]));
                if let Some(n) = check(frame.copy_to(&mut buf[..want])) {
                    assert!(n <= want);
                }
                frame.release();
            }
        };
        let producer = frame_producer!(tx, max);
        tally.add(race(
            seed(round),
            mem.forger(),
            CAP,
            &control,
            &data,
            producer,
            consumer,
        ));
    }
}

#[test]
fn semaphore_under_a_forging_thread() {
    const MAX: u32 = 4;
    let mem = Mem::new(semaphore::Semaphore::region_len());
    let control = Targets::control(&[]);
    let data = Targets::control(&[128]);
    let mut tally = Tally("semaphore", 0, 0);
    for round in 0..ROUNDS {
        mem.zero();
        let sem = semaphore::Semaphore::init(mem.region(), 2, MAX).unwrap();
        let (poster, taker) = (sem.handle().unwrap(), sem.handle().unwrap());
        let producer = |_: &mut Rng| {
            check(poster.post());
        };
        let consumer = |rng: &mut Rng| {
            if rng.below(2) == 0 {
                check(taker.try_wait());
            } else if let Some(v) = check(taker.value()) {
                assert!(v <= MAX);
            }
        };
        tally.add(race(
            seed(round),
            mem.forger(),
            MAX,
            &control,
            &data,
            producer,
            consumer,
        ));
    }
}

#[test]
fn latest_slot_under_a_forging_thread() {
    type Value = [u32; 4];
    let mem = Mem::new(latest::Slot::<Value>::region_len().unwrap());
    // The header, `seq` and the claim; the value's words (its grain).
    let control = Targets::control(&[128]);
    let data = Targets {
        words: (256..272).step_by(4).collect(),
        ..Targets::default()
    };
    let mut tally = Tally("latest", 0, 0);
    for round in 0..ROUNDS {
        mem.zero();
        let slot = latest::Slot::<Value>::init(mem.region()).unwrap();
        let mut w = slot.writer().unwrap();
        // Few attempts: a forged odd `seq` makes every read run them all.
        let mut r = slot.reader().with_retries(16);
        let mut k = 0;
        let producer = |_: &mut Rng| {
            k += 1;
            w.write([k; 4]);
        };
        let consumer = |rng: &mut Rng| {
            if rng.below(2) == 0 {
                check(r.try_read());
            } else {
                check(r.try_read_changed());
            }
        };
        tally.add(race(
            seed(round),
            mem.forger(),
            1,
            &control,
            &data,
            producer,
            consumer,
        ));
    }
}

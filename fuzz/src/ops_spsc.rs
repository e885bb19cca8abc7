//! Fuzz target `ops_spsc`: a producer and a consumer of the typed SPSC
//! ring (`u64` items), driven by the input, against a model, with forged
//! writes between their calls (see [`crate::ops`]).

use ipckit_core::Error;
use ipckit_core::spsc;

use crate::frame_ring::Input;
use crate::ops::{
    Forger, HEADER_WORDS, MAX_STEPS, Targets, expect, flow_or_corrupted, refused_region, timed,
    timed_flow_or_corrupted, timed_out, timeout,
};
use crate::shared::Shared;

const DATA: usize = spsc::DATA_OFFSET;
/// `tail`, producer claim, consumer waiting, `head`, consumer claim,
/// producer waiting.
const CONTROL_WORDS: [usize; 6] = [128, 132, 136, 256, 260, 264];

type Producer<'a> = spsc::Producer<'a, u64, Forger<'a>>;
type Consumer<'a> = spsc::Consumer<'a, u64, Forger<'a>>;

/// The ring as documented: two positions and what each slot holds (a
/// chunk may publish slots it never wrote: they hold what was there).
struct Model {
    capacity: u32,
    tail: u32,
    head: u32,
    slots: Vec<u64>,
    made: u64,
}

impl Model {
    fn len(&self) -> u32 {
        self.tail.wrapping_sub(self.head)
    }

    fn free(&self) -> u32 {
        self.capacity - self.len()
    }

    fn slot(&mut self, pos: u32) -> &mut u64 {
        &mut self.slots[(pos & (self.capacity - 1)) as usize]
    }

    /// Items never sent before: a counter with a tag in the top bits.
    fn fresh(&mut self, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| {
                self.made += 1;
                0xA5A5_0000_0000_0000 | self.made
            })
            .collect()
    }

    /// Writes `items` from `tail` on and publishes `published` slots.
    fn push(&mut self, items: &[u64], published: usize) {
        for (i, &v) in items.iter().enumerate() {
            *self.slot(self.tail.wrapping_add(i as u32)) = v;
        }
        self.tail = self.tail.wrapping_add(published as u32);
    }

    /// The `n` oldest items, without taking them.
    fn peek(&mut self, n: usize) -> Vec<u64> {
        (0..n as u32)
            .map(|i| *self.slot(self.head.wrapping_add(i)))
            .collect()
    }

    fn targets(&self) -> Targets {
        let mask = self.capacity - 1;
        let mut words: Vec<usize> = HEADER_WORDS.iter().chain(&CONTROL_WORDS).copied().collect();
        for pos in [self.head, self.tail] {
            let off = DATA + 8 * (pos & mask) as usize;
            words.extend([off, off + 4]);
        }
        Targets {
            words,
            positions: vec![self.head, self.tail],
            capacity: self.capacity,
        }
    }
}

struct World<'s> {
    model: Model,
    forger: Forger<'s>,
}

impl World<'_> {
    fn tainted(&self) -> bool {
        self.forger.tainted()
    }

    fn forge(&mut self, input: &mut Input) {
        let targets = self.model.targets();
        self.forger.forge(input, &targets);
    }

    fn producer_op(
        &mut self,
        input: &mut Input,
        tx: &mut Producer<'_>,
        rx: &mut Option<Consumer<'_>>,
    ) {
        let cap = self.model.capacity as usize;
        match input.byte() % 6 {
            0 | 1 => {
                let item = self.model.fresh(1)[0];
                let want = if self.model.free() == 0 {
                    Err(Error::Full)
                } else {
                    Ok(())
                };
                let (what, got, want) = if input.byte() & 3 == 0 {
                    let t = timeout(input);
                    self.forger.queue(input, &self.model.targets());
                    let got = timed(t, || tx.push_timeout(item, Some(t)));
                    self.forger.clear();
                    ("push_timeout", got, timed_out(&want))
                } else {
                    ("try_push", tx.try_push(item), want)
                };
                expect(self.tainted(), what, &got, &want, timed_flow_or_corrupted);
                if got.is_ok() && !self.tainted() {
                    self.model.push(&[item], 1);
                }
            }
            2 => {
                let items = self.model.fresh(usize::from(input.byte()) % (cap + 2));
                let n = items.len().min(self.model.free() as usize);
                let got = tx.push_partial_slice(&items);
                expect(
                    self.tainted(),
                    "push_partial_slice",
                    &got,
                    &Ok(n),
                    flow_or_corrupted,
                );
                if let Ok(n) = got {
                    assert!(n <= items.len().min(cap), "pushed {n}");
                    if !self.tainted() {
                        self.model.push(&items[..n], n);
                    }
                }
            }
            3 => {
                // A query: a forged index reads as a clamped value.
                let n = tx.free_slots();
                if !self.tainted() {
                    assert_eq!(n, self.model.free() as usize, "free_slots");
                }
                assert!(n <= cap, "free {n}");
            }
            _ => self.write_chunk(input, tx, rx),
        }
    }

    /// `write_chunk`, forged writes and consumer calls while it is open,
    /// then `copy_from_slice`, `fill_from_iter`, `commit(n)`,
    /// `commit_all` or a drop.
    fn write_chunk(
        &mut self,
        input: &mut Input,
        tx: &mut Producer<'_>,
        rx: &mut Option<Consumer<'_>>,
    ) {
        let cap = self.model.capacity as usize;
        let max = usize::from(input.byte()) % (cap + 2);
        let want = Ok(max.min(cap).min(self.model.free() as usize));
        let chunk = tx.write_chunk_up_to(max);
        let got = chunk.as_ref().map(|c| c.len()).map_err(|e| *e);
        expect(
            self.tainted(),
            "write_chunk",
            &got,
            &want,
            flow_or_corrupted,
        );
        let Ok(chunk) = chunk else { return };
        let n = chunk.len();
        assert!(n <= max.min(cap), "a chunk of {n}");
        for _ in 0..input.byte() % 3 {
            if input.byte() & 1 == 0 {
                self.forge(input);
            } else if let Some(rx) = rx.as_mut() {
                self.consumer_op(input, rx);
            }
        }
        let items = self.model.fresh(usize::from(input.byte()) % (cap + 2));
        let (written, published) = match input.byte() % 5 {
            0 => {
                let k = chunk.copy_partial_from_slice(&items);
                assert_eq!(k, items.len().min(n), "copy_partial_from_slice");
                (k, k)
            }
            1 => {
                let k = chunk.fill_from_iter(items.iter().copied());
                assert_eq!(k, items.len().min(n), "fill_from_iter");
                (k, k)
            }
            2 => {
                let m = usize::from(input.byte()) % (n + 2);
                (0, commit_exact(chunk.commit(m), m, n))
            }
            3 => {
                chunk.commit_all();
                (0, n)
            }
            // Dropped unpublished (at the end of this function).
            _ => (0, 0),
        };
        if !self.tainted() {
            self.model.push(&items[..written], published);
        }
    }

    fn consumer_op(&mut self, input: &mut Input, rx: &mut Consumer<'_>) {
        let cap = self.model.capacity as usize;
        match input.byte() % 6 {
            0 | 1 => {
                let want = match self.model.len() {
                    0 => Err(Error::Empty),
                    _ => Ok(self.model.peek(1)[0]),
                };
                let (what, got, want) = if input.byte() & 3 == 0 {
                    let t = timeout(input);
                    self.forger.queue(input, &self.model.targets());
                    let got = timed(t, || rx.pop_timeout(Some(t)));
                    self.forger.clear();
                    ("pop_timeout", got, timed_out(&want))
                } else {
                    ("try_pop", rx.try_pop(), want)
                };
                expect(self.tainted(), what, &got, &want, timed_flow_or_corrupted);
                if got.is_ok() && !self.tainted() {
                    self.model.head = self.model.head.wrapping_add(1);
                }
            }
            2 => {
                let mut out = vec![0; usize::from(input.byte()) % (cap + 2)];
                let n = out.len().min(self.model.len() as usize);
                let got = rx.pop_partial_slice(&mut out);
                expect(self.tainted(), "pop_partial_slice", &got, &Ok(n), flow_or_corrupted);
                if let Ok(n) = got {
                    assert!(n <= out.len().min(cap), "popped {n}");
                    if !self.tainted() {
                        assert_eq!(out[..n], self.model.peek(n), "pop_partial_slice");
                        self.model.head = self.model.head.wrapping_add(n as u32);
                    }
                }
            }
            3 => {
                // A query: a forged index reads as a clamped value.
                let n = rx.len();
                if !self.tainted() {
                    assert_eq!(n, self.model.len() as usize, "len");
                }
                assert!(n <= cap, "len {n}");
            }
            _ => self.read_chunk(input, rx),
        }
    }

    /// `read_chunk`, reads of it and forged writes, then `commit(n)`,
    /// `commit_all` or a drop.
    fn read_chunk(&mut self, input: &mut Input, rx: &mut Consumer<'_>) {
        let cap = self.model.capacity as usize;
        let max = usize::from(input.byte()) % (cap + 2);
        let want = Ok(max.min(cap).min(self.model.len() as usize));
        let chunk = rx.read_chunk_up_to(max);
        let got = chunk.as_ref().map(|c| c.len()).map_err(|e| *e);
        expect(self.tainted(), "read_chunk", &got, &want, flow_or_corrupted);
        let Ok(chunk) = chunk else { return };
        let n = chunk.len();
        assert!(n <= max.min(cap), "a chunk of {n}");
        let expected = self.model.peek(n);
        for _ in 0..input.byte() % 4 {
            let honest = !self.tainted();
            match input.byte() % 4 {
                0 => self.forge(input),
                1 => {
                    let i = usize::from(input.byte()) % (n + 2);
                    let got = chunk.get(i);
                    assert_eq!(got.is_some(), i < n, "get({i})");
                    if honest {
                        assert_eq!(got, expected.get(i).copied(), "get({i})");
                    }
                }
                2 => {
                    let all: Vec<u64> = chunk.iter().collect();
                    assert_eq!(all.len(), n, "iter");
                    if honest {
                        assert_eq!(all, expected, "iter");
                    }
                }
                _ => {
                    let mut out = vec![0; usize::from(input.byte()) % (n + 2)];
                    let k = chunk.copy_partial_to_slice(&mut out);
                    assert_eq!(k, out.len().min(n), "copy_partial_to_slice");
                    if honest {
                        assert_eq!(out[..k], expected[..k], "copy_partial_to_slice");
                    }
                }
            }
        }
        let released = match input.byte() % 3 {
            0 => {
                let m = usize::from(input.byte()) % (n + 2);
                commit_exact(chunk.commit(m), m, n)
            }
            1 => {
                chunk.commit_all();
                n
            }
            _ => 0,
        };
        if !self.tainted() {
            self.model.head = self.model.head.wrapping_add(released as u32);
        }
    }
}

/// Fuzz target `ops_spsc`.
///
/// Input: byte 0 picks the capacity (`1 << (b % 7)`: 1..=64 slots), bytes
/// 1..5 the start position; then operations, one selector byte each
/// followed by their arguments: producer calls (`try_push`,
/// `push_timeout`, `push_partial_slice`, `free_slots`, a `write_chunk` with
/// forged writes and consumer calls while it is open, then
/// `copy_from_slice`, `fill_from_iter`, `commit(n)`, `commit_all` or a
/// drop), consumer calls (`try_pop`, `pop_timeout`, `pop_partial_slice`, `len`, a
/// `read_chunk` with `get`, `iter`, `copy_to_slice` and forged writes, then
/// `commit(n)`, `commit_all` or a drop), forged writes, and a fresh
/// `attach` of either endpoint. At the end, before any forged write, the
/// consumer drains exactly the model's items.
pub fn ops_spsc(data: &[u8]) {
    run(data, true);
}

/// [`ops_spsc`], with forged writes applied (`forging`) or skipped.
pub(crate) fn run(data: &[u8], forging: bool) {
    let mut input = Input(data);
    let capacity = 1u32 << (input.byte() % 7);
    let start = input.u32();
    let mem = Shared::new(spsc::Ring::<u64>::region_len(capacity).unwrap());
    let options = spsc::Options::new(capacity).start_at(start);
    let ring = spsc::Ring::<u64>::init_with(mem.region(), options).unwrap();
    let forger = Forger::new(&mem, forging);
    let notify = || forger.clone();
    let mut tx = Some(ring.producer_with(notify()).unwrap());
    let mut rx = Some(ring.consumer_with(notify()).unwrap());
    let mut world = World {
        model: Model {
            capacity,
            tail: start,
            head: start,
            slots: vec![0; capacity as usize],
            made: 0,
        },
        forger: forger.clone(),
    };
    for _ in 0..MAX_STEPS {
        if input.is_empty() {
            break;
        }
        match input.byte() % 8 {
            0..=2 => {
                if let Some(tx) = tx.as_mut() {
                    world.producer_op(&mut input, tx, &mut rx);
                }
            }
            3..=5 => {
                if let Some(rx) = rx.as_mut() {
                    world.consumer_op(&mut input, rx);
                }
            }
            6 => world.forge(&mut input),
            _ => {
                let producer = input.byte() & 1 == 0;
                if producer {
                    tx = None;
                } else {
                    rx = None;
                }
                let ring = spsc::Ring::<u64>::attach(mem.region());
                let made = if producer {
                    ring.and_then(|r| r.producer_with(notify()))
                        .map(|p| tx = Some(p))
                } else {
                    ring.and_then(|r| r.consumer_with(notify()))
                        .map(|c| rx = Some(c))
                };
                if let Err(e) = made {
                    assert!(world.tainted() && refused_region(&e), "re-attach: {e:?}");
                }
            }
        }
    }
    if world.tainted() {
        return;
    }
    if let Some(rx) = rx.as_mut() {
        let n = world.model.len() as usize;
        let want = world.model.peek(n);
        let mut out = vec![0; n + 1];
        assert_eq!(rx.pop_partial_slice(&mut out), Ok(n), "drain");
        assert_eq!(out[..n], want, "drain");
        assert_eq!(rx.try_pop(), Err(Error::Empty), "drained");
    }
}

/// Checks an exact `commit(m)` of a chunk of `n`: all of `m`, or nothing
/// and `TooFewSlots` past the chunk. Returns how many it committed.
fn commit_exact(got: Result<(), Error>, m: usize, n: usize) -> usize {
    if m <= n {
        assert_eq!(got, Ok(()), "commit");
        m
    } else {
        let too_few = Error::TooFewSlots { requested: m, available: n };
        assert_eq!(got, Err(too_few), "commit past the chunk");
        0
    }
}

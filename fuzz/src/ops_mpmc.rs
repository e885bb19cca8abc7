//! Fuzz target `ops_mpmc`: producers and consumers of the MPMC ring
//! (`u64` items), driven by the input, against a model, with forged writes
//! between their calls (see [`crate::ops`]).

use std::collections::VecDeque;

use ipckit_core::mpmc;
use ipckit_core::{Error, Result};

use crate::frame_ring::Input;
use crate::ops::{
    Forger, HEADER_WORDS, MAX_STEPS, Targets, expect, refused_region, timed,
    timed_flow_or_corrupted, timed_out, timeout,
};
use crate::shared::Shared;

const DATA: usize = mpmc::DATA_OFFSET;
/// `tail`, consumers waiting, `head`, producers waiting.
const CONTROL_WORDS: [usize; 4] = [128, 132, 256, 260];
/// Bytes per slot of `u64` items: the stamp, padding to 8, the item.
const STRIDE: usize = 16;

type Producer<'a> = mpmc::Producer<'a, u64, Forger<'a>>;
type Consumer<'a> = mpmc::Consumer<'a, u64, Forger<'a>>;

struct Model {
    capacity: u32,
    tail: u32,
    head: u32,
    items: VecDeque<u64>,
    made: u64,
}

impl Model {
    fn targets(&self) -> Targets {
        let mask = self.capacity - 1;
        let mut words: Vec<usize> = HEADER_WORDS.iter().chain(&CONTROL_WORDS).copied().collect();
        // The stamps and items at `head` and `tail`, and one lap back.
        for pos in [self.head, self.tail, self.tail.wrapping_sub(1)] {
            let off = DATA + STRIDE * (pos & mask) as usize;
            words.extend([off, off + 8]);
        }
        let cap = self.capacity;
        let positions = vec![
            self.head,
            self.head.wrapping_add(1),
            self.tail,
            self.tail.wrapping_add(1),
            self.head.wrapping_add(cap),
            self.tail.wrapping_sub(cap).wrapping_add(1),
        ];
        Targets {
            words,
            positions,
            capacity: cap,
        }
    }
}

/// Two producer and two consumer handles of `ring`.
type Handles<'a> = (Vec<Producer<'a>>, Vec<Consumer<'a>>);

/// Two producer and two consumer handles of `ring`, with `forger` as
/// their notifier.
fn handles<'a>(ring: &mpmc::Ring<'a, u64>, forger: &Forger<'a>) -> Result<Handles<'a>> {
    let tx = ring.producer_with(forger.clone())?;
    let rx = ring.consumer_with(forger.clone())?;
    Ok((vec![tx.clone(), tx], vec![rx.clone(), rx]))
}

/// Fuzz target `ops_mpmc`.
///
/// Input: byte 0 picks the capacity (`2 << (b % 6)`: 2..=64 slots), bytes
/// 1..5 the start position; then operations, one selector byte each
/// followed by their arguments: `try_push` / `push_timeout` by one of two
/// producer handles, `try_pop` / `pop_timeout` by one of two consumer
/// handles, `len` and `stalled` of the ring, forged writes (stamps and
/// items at `head` and `tail` by name), and fresh handles from a fresh
/// `attach`. Before any forged write every call returns what a FIFO queue
/// of `capacity` items says (`Full` and `Empty` exactly), `stalled` is
/// `None`, and at the end the consumers drain exactly the model's items.
pub fn ops_mpmc(data: &[u8]) {
    run(data, true);
}

/// [`ops_mpmc`], with forged writes applied (`forging`) or skipped.
pub(crate) fn run(data: &[u8], forging: bool) {
    let mut input = Input(data);
    let capacity = 2u32 << (input.byte() % 6);
    let start = input.u32();
    let mem = Shared::new(mpmc::Ring::<u64>::region_len(capacity).unwrap());
    let options = mpmc::Options::new(capacity).start_at(start);
    let mut ring = mpmc::Ring::<u64>::init_with(mem.region(), options).unwrap();
    let forger = Forger::new(&mem, forging);
    let (mut txs, mut rxs) = handles(&ring, &forger).unwrap();
    let mut model = Model {
        capacity,
        tail: start,
        head: start,
        items: VecDeque::new(),
        made: 0,
    };
    for _ in 0..MAX_STEPS {
        if input.is_empty() {
            break;
        }
        let which = usize::from(input.byte() % 2);
        match input.byte() % 8 {
            0 | 1 => {
                model.made += 1;
                let item = 0x5EED_0000_0000_0000 | model.made;
                let want = if model.items.len() == capacity as usize {
                    Err(Error::Full)
                } else {
                    Ok(())
                };
                let tx = &txs[which];
                let (what, got, want) = if input.byte() & 3 == 0 {
                    let t = timeout(&mut input);
                    forger.queue(&mut input, &model.targets());
                    let got = timed(t, || tx.push_timeout(item, Some(t)));
                    forger.clear();
                    ("push_timeout", got, timed_out(&want))
                } else {
                    ("try_push", tx.try_push(item), want)
                };
                let tainted = forger.tainted();
                expect(tainted, what, &got, &want, timed_flow_or_corrupted);
                if got.is_ok() && !tainted {
                    model.items.push_back(item);
                    model.tail = model.tail.wrapping_add(1);
                }
            }
            2 | 3 => {
                let want = model.items.front().copied().ok_or(Error::Empty);
                let rx = &rxs[which];
                let (what, got, want) = if input.byte() & 3 == 0 {
                    let t = timeout(&mut input);
                    forger.queue(&mut input, &model.targets());
                    let got = timed(t, || rx.pop_timeout(Some(t)));
                    forger.clear();
                    ("pop_timeout", got, timed_out(&want))
                } else {
                    ("try_pop", rx.try_pop(), want)
                };
                let tainted = forger.tainted();
                expect(tainted, what, &got, &want, timed_flow_or_corrupted);
                if got.is_ok() && !tainted {
                    model.items.pop_front();
                    model.head = model.head.wrapping_add(1);
                }
            }
            4 => {
                let tainted = forger.tainted();
                let got = ring.len();
                assert!(got <= ring.capacity() as usize, "len {got}");
                if !tainted {
                    assert_eq!(got, model.items.len(), "len");
                }
                let stall = ring.stalled();
                if !tainted {
                    assert_eq!(stall, None, "stalled");
                }
            }
            5 | 6 => forger.forge(&mut input, &model.targets()),
            _ => match mpmc::Ring::<u64>::attach(mem.region()) {
                Ok(fresh) => {
                    ring = fresh;
                    let tainted = forger.tainted();
                    match handles(&ring, &forger) {
                        Ok((p, c)) => (txs, rxs) = (p, c),
                        Err(e) => assert!(tainted && refused_region(&e), "handles: {e:?}"),
                    }
                }
                Err(e) => assert!(forger.tainted() && refused_region(&e), "re-attach: {e:?}"),
            },
        }
    }
    if forger.tainted() {
        return;
    }
    for (i, want) in model.items.iter().enumerate() {
        assert_eq!(rxs[i % 2].try_pop(), Ok(*want), "drain");
    }
    assert_eq!(rxs[0].try_pop(), Err(Error::Empty), "drained");
}

//! Fuzz target `ops_frame_mpsc`: two or three producers and the consumer
//! of the MPSC frame ring, driven by the input, against a model, with
//! forged writes between their calls (see [`crate::ops`]).

use std::collections::VecDeque;

use ipckit_core::frame::{self, mpsc};
use ipckit_core::{Error, Result};

use crate::frame_ring::{Input, payload};
use crate::ops::{
    Forger, HEADER_WORDS, MAX_STEPS, Targets, expect, flow_or_corrupted, refused_region, timed,
    timed_flow_or_corrupted, timed_out, timeout,
};
use crate::shared::Shared;

const DATA: usize = mpsc::DATA_OFFSET;
/// `tail`, consumer waiting, doorbell, `head`, consumer claim, producers
/// waiting, skipped records, skipped bytes (two halves).
const CONTROL_WORDS: [usize; 9] = [128, 132, 136, 256, 260, 264, 384, 388, 392];
/// Grants open at once at most.
const MAX_GRANTS: usize = 4;

type Producer<'a> = mpsc::Producer<'a, Forger<'a>>;
type Consumer<'a> = mpsc::Consumer<'a, Forger<'a>>;

/// A record of the model, in position order.
#[derive(Debug)]
enum Kind {
    /// Padding up to the end of the data area.
    Padding,
    /// A committed frame.
    Frame { payload: Vec<u8>, claimant: u32 },
    /// Space given up: a dropped grant, the rest of a short commit.
    Discarded,
    /// A grant still open (`grant` is its number).
    Open {
        grant: usize,
        len: u32,
        claimant: u32,
    },
    /// A grant whose producer "died" (`mem::forget`): busy forever.
    Dead { len: u32, claimant: u32 },
}

#[derive(Debug)]
struct Rec {
    at: u32,
    total: u32,
    kind: Kind,
}

struct Model {
    capacity: u32,
    max: u32,
    tail: u32,
    head: u32,
    records: VecDeque<Rec>,
    made: usize,
    grants_made: usize,
    skipped_records: u32,
    skipped_bytes: u64,
}

impl Model {
    /// Claims room for a record of a `len`-byte frame, as the producers
    /// do: `Full` when it does not fit.
    fn claim(&mut self, len: usize, kind: Kind) -> Result<()> {
        let pad = self.preview(len)?;
        if pad > 0 {
            self.push(pad, Kind::Padding);
        }
        self.push(frame::record_len(len as u32), kind);
        Ok(())
    }

    /// What a claim of `len` bytes would return, without making it: the
    /// padding it needs before the record, `Full` or `FrameTooLarge`.
    fn preview(&self, len: usize) -> Result<u32> {
        let cap = self.capacity;
        if len > self.max as usize {
            let len = u32::try_from(len).unwrap_or(u32::MAX);
            return Err(Error::FrameTooLarge { len, max: self.max });
        }
        let total = frame::record_len(len as u32);
        let until_end = cap - (self.tail & (cap - 1));
        let pad = if total <= until_end { 0 } else { until_end };
        if pad + total > cap - self.tail.wrapping_sub(self.head) {
            return Err(Error::Full);
        }
        Ok(pad)
    }

    fn push(&mut self, total: u32, kind: Kind) {
        let at = self.tail;
        self.tail = self.tail.wrapping_add(total);
        self.records.push_back(Rec { at, total, kind });
    }

    /// What the consumer does before every look at `head`: consumes the
    /// padding and discarded records there.
    fn settle(&mut self) {
        while let Some(Rec {
            kind: Kind::Padding | Kind::Discarded,
            ..
        }) = self.records.front()
        {
            self.pop();
        }
    }

    fn pop(&mut self) -> Rec {
        let rec = self.records.pop_front().expect("a record");
        self.head = self.head.wrapping_add(rec.total);
        rec
    }

    /// The frame at `head` (after `settle`), or why there is none.
    fn front(&self, buf_len: usize) -> Result<usize> {
        match self.records.front().map(|r| &r.kind) {
            Some(Kind::Frame { payload, .. }) if payload.len() > buf_len => {
                Err(Error::BufferTooSmall {
                    required: payload.len(),
                })
            }
            Some(Kind::Frame { payload, .. }) => Ok(payload.len()),
            _ => Err(Error::Empty),
        }
    }

    fn index_of(&self, grant: usize) -> usize {
        self.records
            .iter()
            .position(|r| matches!(r.kind, Kind::Open { grant: g, .. } if g == grant))
            .expect("the grant's record")
    }

    fn targets(&self) -> Targets {
        let mask = self.capacity - 1;
        let mut words: Vec<usize> = HEADER_WORDS.iter().chain(&CONTROL_WORDS).copied().collect();
        for r in self.records.iter().take(5) {
            let off = DATA + (r.at & mask) as usize;
            words.extend([off, off + 4]);
            if r.total > 8 {
                words.push(off + 8);
            }
        }
        let mut positions = vec![self.head, self.tail];
        positions.extend(self.records.iter().take(5).map(|r| r.at));
        Targets {
            words,
            positions,
            capacity: self.capacity,
        }
    }
}

/// An open grant of the run.
struct Open<'p, 'a> {
    grant: mpsc::Grant<'p, 'a, Forger<'a>>,
    number: usize,
    /// The frame as written so far (unwritten bytes read 0).
    frame: Vec<u8>,
}

struct World<'s> {
    model: Model,
    forger: Forger<'s>,
    buf: Vec<u8>,
}

impl World<'_> {
    fn forge(&mut self, input: &mut Input) {
        let targets = self.model.targets();
        self.forger.forge(input, &targets);
    }

    fn tainted(&self) -> bool {
        self.forger.tainted()
    }

    /// Checks a frame copied out by the consumer.
    #[track_caller]
    fn delivered(&mut self, what: &str, got: &Result<usize>, want: &Result<usize>, buf_len: usize) {
        expect(self.tainted(), what, got, want, timed_flow_or_corrupted);
        if let Ok(n) = *got {
            assert!(
                n <= buf_len && n <= self.model.max as usize,
                "{what}: {n} bytes"
            );
            if !self.tainted() {
                match self.model.pop().kind {
                    Kind::Frame { payload, .. } => {
                        assert_eq!(&self.buf[..n], &payload[..], "{what}")
                    }
                    other => panic!("{what}: delivered {other:?}"),
                }
            }
        }
    }

    fn send(&mut self, input: &mut Input, tx: &Producer<'_>) {
        let max = self.model.max as usize;
        let len = usize::from(input.byte()) % (max + 2);
        self.model.made += 1;
        let frame = payload(self.model.made, len, tx.id() as u8);
        let kind = Kind::Frame {
            payload: frame.clone(),
            claimant: tx.id(),
        };
        let (what, got, want) = if input.byte() & 3 == 0 {
            let t = timeout(input);
            let want = timed_out(&self.model.preview(len).map(|_| ()));
            self.forger.queue(input, &self.model.targets());
            let got = timed(t, || tx.send_timeout(&frame, Some(t)));
            self.forger.clear();
            ("send_timeout", got, want)
        } else {
            (
                "try_send",
                tx.try_send(&frame),
                self.model.preview(len).map(|_| ()),
            )
        };
        expect(self.tainted(), what, &got, &want, timed_flow_or_corrupted);
        if got.is_ok() && !self.tainted() {
            self.model.claim(len, kind).expect("room");
        }
    }

    fn open_grant<'p, 'a>(
        &mut self,
        input: &mut Input,
        tx: &'p Producer<'a>,
        grants: &mut Vec<Open<'p, 'a>>,
    ) {
        let max = self.model.max as usize;
        let len = usize::from(input.byte()) % (max + 2);
        let want = self.model.preview(len).map(|_| ());
        let got = tx.try_grant(len);
        let seen = got.as_ref().map(|_| ()).map_err(|e| *e);
        expect(self.tainted(), "try_grant", &seen, &want, flow_or_corrupted);
        let Ok(mut grant) = got else { return };
        assert_eq!(grant.len(), len);
        self.model.grants_made += 1;
        let number = self.model.grants_made;
        if !self.tainted() {
            let kind = Kind::Open {
                grant: number,
                len: len as u32,
                claimant: tx.id(),
            };
            self.model.claim(len, kind).expect("room");
        }
        // A prefix of the frame now; the rest reads 0 until written.
        self.model.made += 1;
        let full = payload(self.model.made, len, 0xC3);
        let n = usize::from(input.byte()) % (len + 1);
        assert_eq!(grant.copy_from_slice(&full[..n]), Ok(()));
        let mut frame = vec![0; len];
        frame[..n].copy_from_slice(&full[..n]);
        grants.push(Open {
            grant,
            number,
            frame,
        });
    }

    /// A write, commit, drop or "death" of one open grant.
    fn use_grant(&mut self, input: &mut Input, grants: &mut Vec<Open<'_, '_>>) {
        if grants.is_empty() {
            return;
        }
        let which = usize::from(input.byte()) % grants.len();
        let len = grants[which].frame.len();
        let tainted = self.tainted();
        match input.byte() % 5 {
            0 | 1 => {
                let open = &mut grants[which];
                let offset = usize::from(input.byte()) % (len + 2);
                let n = usize::from(input.byte()) % (len + 2);
                let src: Vec<u8> = (0..n).map(|i| (i as u8) ^ 0x77).collect();
                let got = open.grant.write_at(offset, &src);
                if offset + n > len {
                    let err = Error::OutOfRange {
                        end: offset + n,
                        len,
                    };
                    assert_eq!(got, Err(err), "write_at");
                } else {
                    assert_eq!(got, Ok(()), "write_at");
                    open.frame[offset..offset + n].copy_from_slice(&src);
                }
            }
            2 => {
                let open = grants.swap_remove(which);
                let n = usize::from(input.byte()) % (len + 2);
                let got = open.grant.commit(n);
                let committed = if n > len {
                    let err = Error::OutOfRange { end: n, len };
                    assert_eq!(got, Err(err), "commit");
                    None
                } else {
                    assert_eq!(got, Ok(()), "commit");
                    Some(n)
                };
                if !tainted {
                    let i = self.model.index_of(open.number);
                    let rec = &mut self.model.records[i];
                    let Kind::Open { claimant, .. } = rec.kind else {
                        unreachable!()
                    };
                    match committed {
                        None => rec.kind = Kind::Discarded,
                        Some(n) => {
                            let used = frame::record_len(n as u32);
                            let rest = rec.total - used;
                            rec.total = used;
                            rec.kind = Kind::Frame {
                                payload: open.frame[..n].to_vec(),
                                claimant,
                            };
                            if rest > 0 {
                                let at = rec.at.wrapping_add(used);
                                let discarded = Rec {
                                    at,
                                    total: rest,
                                    kind: Kind::Discarded,
                                };
                                self.model.records.insert(i + 1, discarded);
                            }
                        }
                    }
                }
            }
            3 => {
                let open = grants.swap_remove(which);
                drop(open.grant);
                if !tainted {
                    let i = self.model.index_of(open.number);
                    self.model.records[i].kind = Kind::Discarded;
                }
            }
            _ => {
                let open = grants.swap_remove(which);
                self.kill(open);
            }
        }
    }

    /// The grant's producer "dies" holding it: the record stays busy.
    fn kill(&mut self, open: Open<'_, '_>) {
        std::mem::forget(open.grant);
        if !self.tainted() {
            let i = self.model.index_of(open.number);
            let Kind::Open { len, claimant, .. } = self.model.records[i].kind else {
                unreachable!()
            };
            self.model.records[i].kind = Kind::Dead { len, claimant };
        }
    }

    fn consumer_op(
        &mut self,
        input: &mut Input,
        rx: &mut Consumer<'_>,
        producers: &[Producer<'_>],
        grants: &mut Vec<Open<'_, '_>>,
    ) {
        let max = self.model.max as usize;
        match input.byte() % 6 {
            0 | 1 => {
                let buf_len = if input.byte() & 1 == 0 {
                    max
                } else {
                    usize::from(input.byte()) % (max + 1)
                };
                self.model.settle();
                let want = self.model.front(buf_len);
                let got = rx.try_recv(&mut self.buf[..buf_len]);
                self.delivered("try_recv", &got, &want, buf_len);
            }
            2 => {
                let t = timeout(input);
                self.model.settle();
                let want = timed_out(&self.model.front(max));
                self.forger.queue(input, &self.model.targets());
                let got = timed(t, || rx.recv_timeout(&mut self.buf[..max], Some(t)));
                self.forger.clear();
                self.delivered("recv_timeout", &got, &want, max);
            }
            3 => self.stall(input, rx, grants),
            _ => self.read_scope(input, rx, producers),
        }
    }

    /// `stalled`, then maybe `skip_stalled` of what it reported: a grant
    /// still open there "dies" first (skipping a live producer's record is
    /// documented as unsound for the ring's contents).
    fn stall(&mut self, input: &mut Input, rx: &mut Consumer<'_>, grants: &mut Vec<Open<'_, '_>>) {
        self.model.settle();
        let want = match self.model.records.front() {
            Some(Rec {
                at,
                kind: Kind::Open { len, claimant, .. } | Kind::Dead { len, claimant },
                ..
            }) => Some((*at, Some(*claimant), Some(*len))),
            _ => None,
        };
        let got = rx.stalled();
        let seen = got.map(|s| s.map(|s| (s.position, s.claimant, s.len)));
        expect(
            self.tainted(),
            "stalled",
            &seen,
            &Ok(want),
            flow_or_corrupted,
        );
        let Ok(Some(stall)) = got else { return };
        if let Some(len) = stall.len {
            assert!(len <= self.model.max, "a stall of {len} bytes");
        }
        if input.byte() & 1 == 0 {
            return;
        }
        if !self.tainted() {
            if let Some(Kind::Open { grant, .. }) = self.model.records.front().map(|r| &r.kind) {
                let i = grants
                    .iter()
                    .position(|o| o.number == *grant)
                    .expect("open");
                self.kill(grants.swap_remove(i));
            }
        } else if let Some(open) = grants.pop() {
            // Whatever is there, its producer may not write after the skip.
            self.kill(open);
        }
        if input.byte() & 1 == 0 {
            self.forge(input);
        }
        let got = rx.skip_stalled(&stall);
        let want = self.model.records.front().map_or(0, |r| r.total);
        expect(
            self.tainted(),
            "skip_stalled",
            &got,
            &Ok(want),
            flow_or_corrupted,
        );
        if let Ok(n) = got {
            assert!(n % 8 == 0 && n <= self.model.capacity, "skipped {n}");
            if !self.tainted() {
                self.model.pop();
                self.model.skipped_records += 1;
                self.model.skipped_bytes += u64::from(n);
                let skipped = rx.skipped();
                assert_eq!(
                    skipped.records, self.model.skipped_records,
                    "skipped records"
                );
                assert_eq!(skipped.bytes, self.model.skipped_bytes, "skipped bytes");
            }
        }
    }

    /// `try_read`, then reads of the view, forged writes and sends while
    /// it is open, then `release` or a drop.
    fn read_scope(&mut self, input: &mut Input, rx: &mut Consumer<'_>, producers: &[Producer<'_>]) {
        self.model.settle();
        let want = self.model.front(usize::MAX);
        let got = rx.try_read();
        let seen = got.as_ref().map(|f| f.len()).map_err(|e| *e);
        expect(self.tainted(), "try_read", &seen, &want, flow_or_corrupted);
        let Ok(frame) = got else { return };
        let len = frame.len();
        assert!(len <= self.model.max as usize, "a view of {len} bytes");
        let expected = match self.model.records.front() {
            Some(Rec {
                kind: Kind::Frame { payload, claimant },
                ..
            }) if !self.tainted() => Some((payload.clone(), *claimant)),
            _ => None,
        };
        if let Some((_, claimant)) = &expected {
            assert_eq!(frame.claimant(), *claimant, "claimant");
        }
        for _ in 0..input.byte() % 4 {
            match input.byte() % 4 {
                0 => self.forge(input),
                1 => {
                    let tx = &producers[usize::from(input.byte()) % producers.len()];
                    self.send(input, tx);
                }
                2 => {
                    let n = usize::from(input.byte()) % (len + 2);
                    let got = frame.copy_to(&mut self.buf[..n]);
                    if n < len {
                        assert_eq!(got, Err(Error::BufferTooSmall { required: len }));
                    } else {
                        assert_eq!(got, Ok(len), "copy_to");
                        if let (Some((p, _)), false) = (&expected, self.forger.tainted()) {
                            assert_eq!(&self.buf[..len], &p[..], "copy_to");
                        }
                    }
                }
                _ => {
                    let offset = usize::from(input.byte()) % (len + 2);
                    let n = usize::from(input.byte()) % (len + 2);
                    let (name, got) = if input.byte() & 1 == 0 {
                        let got = frame.read_partial(offset, &mut self.buf[..n]);
                        assert_eq!(got, len.saturating_sub(offset).min(n), "read_partial");
                        ("read_partial", got)
                    } else {
                        let got = frame.read_at(offset, &mut self.buf[..n]);
                        if offset + n > len {
                            let err = Error::OutOfRange { end: offset + n, len };
                            assert_eq!(got, Err(err), "read_at");
                            ("read_at", 0)
                        } else {
                            assert_eq!(got, Ok(()), "read_at");
                            ("read_at", n)
                        }
                    };
                    if let (Some((p, _)), false, true) = (&expected, self.tainted(), got > 0) {
                        assert_eq!(&self.buf[..got], &p[offset..offset + got], "{name}");
                    }
                }
            }
        }
        if input.byte() & 1 == 0 {
            frame.release();
            if !self.tainted() {
                self.model.pop();
            }
        }
    }
}

/// Fuzz target `ops_frame_mpsc`.
///
/// Input: byte 0 picks the data area (`16 << (b % 6)`: 16..=512 bytes)
/// and the number of producers (2 or 3, ids 1..=3), bytes 1..5 the start
/// position (rounded down to 8); then operations, one selector byte each
/// followed by their arguments: `try_send` / `send_timeout` by a producer,
/// a grant opened (with a prefix of its frame written), a grant written
/// (`write_at`), committed (`commit(n)`, short commits leave a discarded
/// record), dropped (discarded) or left by a "dead" producer
/// (`mem::forget`); consumer calls (`try_recv` into a full or short
/// buffer, `recv_timeout`, `stalled` then maybe `skip_stalled`, a
/// `try_read` view with `claimant`, `copy_to`, `read_at`, sends and forged
/// writes while it is open, then `release` or a drop); forged writes; a
/// fresh `attach` and consumer. At the end, before any forged write, the
/// consumer drains exactly the model's frames, skipping dead records.
pub fn ops_frame_mpsc(data: &[u8]) {
    run(data, true);
}

/// [`ops_frame_mpsc`], with forged writes applied (`forging`) or skipped.
pub(crate) fn run(data: &[u8], forging: bool) {
    let mut input = Input(data);
    let first = input.byte();
    let capacity = 16u32 << (first % 6);
    let producer_count = 2 + usize::from(first / 6 % 2);
    let start = input.u32() & !7;
    let mem = Shared::new(mpsc::Ring::region_len(capacity).unwrap());
    let options = mpsc::Options::new(capacity).start_at(start);
    let ring = mpsc::Ring::init_with(mem.region(), options).unwrap();
    let forger = Forger::new(&mem, forging);
    let notify = || forger.clone();
    let producers: Vec<Producer<'_>> = (1..=producer_count as u32)
        .map(|id| ring.producer_with(notify()).unwrap().with_id(id).unwrap())
        .collect();
    let mut rx = Some(ring.consumer_with(notify()).unwrap());
    let max = frame::max_frame_len(capacity).unwrap();
    let mut world = World {
        model: Model {
            capacity,
            max,
            tail: start,
            head: start,
            records: VecDeque::new(),
            made: 0,
            grants_made: 0,
            skipped_records: 0,
            skipped_bytes: 0,
        },
        forger: forger.clone(),
        buf: vec![0; max as usize + 1],
    };
    let mut grants: Vec<Open<'_, '_>> = Vec::new();
    for _ in 0..MAX_STEPS {
        if input.is_empty() {
            break;
        }
        let tx = &producers[usize::from(input.byte()) % producer_count];
        match input.byte() % 10 {
            0 | 1 => world.send(&mut input, tx),
            2 if grants.len() < MAX_GRANTS => world.open_grant(&mut input, tx, &mut grants),
            2 | 3 => world.use_grant(&mut input, &mut grants),
            4..=7 => {
                if let Some(rx) = rx.as_mut() {
                    world.consumer_op(&mut input, rx, &producers, &mut grants);
                }
            }
            8 => world.forge(&mut input),
            _ => {
                rx = None;
                let made = mpsc::Ring::attach(mem.region()).and_then(|r| r.consumer_with(notify()));
                match made {
                    Ok(c) => rx = Some(c),
                    Err(e) => assert!(world.tainted() && refused_region(&e), "re-attach: {e:?}"),
                }
            }
        }
    }
    if world.tainted() {
        return;
    }
    let Some(rx) = rx.as_mut() else { return };
    // Grants still open are dropped (discarded), then everything drains.
    for open in grants.drain(..) {
        let i = world.model.index_of(open.number);
        world.model.records[i].kind = Kind::Discarded;
    }
    loop {
        world.model.settle();
        match world.model.records.front().map(|r| &r.kind) {
            None => break,
            Some(Kind::Dead { .. }) => {
                let stall = rx.stalled().unwrap().expect("a dead record");
                let total = world.model.pop().total;
                assert_eq!(rx.skip_stalled(&stall), Ok(total), "skip at the end");
            }
            _ => {
                let want = world.model.front(max as usize);
                let got = rx.try_recv(&mut world.buf[..max as usize]);
                world.delivered("drain", &got, &want, max as usize);
            }
        }
    }
    assert_eq!(rx.try_recv(&mut world.buf), Err(Error::Empty), "drained");
}

//! Fuzz target `ops_frame_spsc`: a producer and a consumer of the SPSC
//! frame ring, driven by the input, against a model, with forged writes
//! between their calls (see [`crate::ops`]).

use std::collections::VecDeque;

use ipckit_core::frame::{self, spsc};
use ipckit_core::{Error, Result};

use crate::frame_ring::{Input, payload};
use crate::ops::{
    Forger, HEADER_WORDS, MAX_STEPS, Targets, expect, flow_or_corrupted, refused_region, timed,
    timed_flow_or_corrupted, timed_out, timeout,
};
use crate::shared::Shared;

const DATA: usize = spsc::DATA_OFFSET;
/// `tail`, producer claim, consumer waiting, `head`, consumer claim,
/// producer waiting.
const CONTROL_WORDS: [usize; 6] = [128, 132, 136, 256, 260, 264];

type Producer<'a> = spsc::Producer<'a, Forger<'a>>;
type Consumer<'a> = spsc::Consumer<'a, Forger<'a>>;

/// One committed frame of the model.
struct Queued {
    payload: Vec<u8>,
    /// Position of its record header.
    at: u32,
    /// Bytes `head` moves when it is released (padding before it included).
    advance: u32,
}

/// The ring as the documentation describes it: positions, and the frames
/// between them.
struct Model {
    capacity: u32,
    max: u32,
    tail: u32,
    head: u32,
    frames: VecDeque<Queued>,
    /// Frames made so far (each gets a recognisable payload).
    made: usize,
}

/// Room for a frame: padding before it and where its record starts.
#[derive(Clone, Copy)]
struct Room {
    pad: u32,
}

impl Model {
    /// What `try_grant(len)` finds: room, `Full` or `FrameTooLarge`.
    fn reserve(&self, len: usize) -> Result<Room> {
        if len > self.max as usize {
            let len = u32::try_from(len).unwrap_or(u32::MAX);
            return Err(Error::FrameTooLarge { len, max: self.max });
        }
        let total = frame::record_len(len as u32);
        let until_end = self.capacity - (self.tail & (self.capacity - 1));
        let pad = if total > until_end { until_end } else { 0 };
        let free = self.capacity - self.tail.wrapping_sub(self.head);
        if free < pad + total {
            return Err(Error::Full);
        }
        Ok(Room { pad })
    }

    fn commit(&mut self, room: Room, payload: Vec<u8>) {
        let advance = room.pad + frame::record_len(payload.len() as u32);
        let at = self.tail.wrapping_add(room.pad);
        self.tail = self.tail.wrapping_add(advance);
        self.frames.push_back(Queued {
            payload,
            at,
            advance,
        });
    }

    fn release(&mut self) {
        let queued = self.frames.pop_front().expect("a queued frame");
        self.head = self.head.wrapping_add(queued.advance);
    }

    /// What `try_recv` into `buf_len` bytes returns.
    fn recv(&self, buf_len: usize) -> Result<usize> {
        match self.frames.front() {
            None => Err(Error::Empty),
            Some(q) if q.payload.len() > buf_len => Err(Error::BufferTooSmall {
                required: q.payload.len(),
            }),
            Some(q) => Ok(q.payload.len()),
        }
    }

    fn next_payload(&mut self, len: usize) -> Vec<u8> {
        self.made += 1;
        payload(self.made, len, 0x5A)
    }

    fn targets(&self) -> Targets {
        let mask = self.capacity - 1;
        let mut words: Vec<usize> = HEADER_WORDS.iter().chain(&CONTROL_WORDS).copied().collect();
        for q in self.frames.iter().take(4) {
            let off = DATA + (q.at & mask) as usize;
            words.push(off);
            words.push(off + 4);
            if q.advance > frame::record_len(q.payload.len() as u32) {
                // The padding record before it, at the end of the area.
                let pad =
                    q.at.wrapping_sub(q.advance - frame::record_len(q.payload.len() as u32));
                words.push(DATA + (pad & mask) as usize);
            }
            if q.payload.len() >= 4 {
                words.push(off + 8);
            }
        }
        let mut positions = vec![self.head, self.tail];
        positions.extend(self.frames.iter().take(4).map(|q| q.at));
        Targets {
            words,
            positions,
            capacity: self.capacity,
        }
    }
}

/// Everything one run holds apart from the endpoints.
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

    /// Checks a frame copied out: within bounds always, the model's
    /// frame (which leaves the model) before any forged write.
    #[track_caller]
    fn delivered(&mut self, what: &str, got: &Result<usize>, want: &Result<usize>, buf_len: usize) {
        let max = self.model.max as usize;
        expect(
            self.forger.tainted(),
            what,
            got,
            want,
            timed_flow_or_corrupted,
        );
        if let Ok(n) = *got {
            assert!(n <= buf_len && n <= max, "{what}: {n} bytes");
            if !self.forger.tainted() {
                let front = &self.model.frames[0].payload;
                assert_eq!(&self.buf[..n], &front[..], "{what}: payload");
                self.model.release();
            }
        }
    }

    fn consumer_op(&mut self, input: &mut Input, rx: &mut Consumer<'_>) {
        let max = self.model.max as usize;
        match input.byte() % 6 {
            0 | 1 => {
                let buf_len = if input.byte() & 1 == 0 {
                    max
                } else {
                    usize::from(input.byte()) % (max + 1)
                };
                let want = self.model.recv(buf_len);
                let got = rx.try_recv(&mut self.buf[..buf_len]);
                self.delivered("try_recv", &got, &want, buf_len);
            }
            2 => {
                let t = timeout(input);
                let want = timed_out(&self.model.recv(max));
                self.forger.queue(input, &self.model.targets());
                let got = timed(t, || rx.recv_timeout(&mut self.buf[..max], Some(t)));
                self.forger.clear();
                self.delivered("recv_timeout", &got, &want, max);
            }
            3 => {
                let want = self.model.tail.wrapping_sub(self.model.head) as usize;
                // A query: a forged index reads as a clamped value.
                let n = rx.pending_bytes();
                if !self.forger.tainted() {
                    assert_eq!(n, want, "pending_bytes");
                }
                assert!(n <= self.model.capacity as usize, "pending {n}");
            }
            _ => self.read_scope(input, rx),
        }
    }

    /// `try_read`, then reads of the view (with forged writes between
    /// them), then `release` or a drop.
    fn read_scope(&mut self, input: &mut Input, rx: &mut Consumer<'_>) {
        let want = self.model.recv(usize::MAX);
        let frame = rx.try_read();
        let got = frame.as_ref().map(|f| f.len()).map_err(|e| *e);
        expect(
            self.forger.tainted(),
            "try_read",
            &got,
            &want,
            flow_or_corrupted,
        );
        let Ok(frame) = frame else { return };
        let len = frame.len();
        assert!(len <= self.model.max as usize, "a view of {len} bytes");
        let expected = (!self.forger.tainted()).then(|| self.model.frames[0].payload.clone());
        for _ in 0..input.byte() % 4 {
            match input.byte() % 3 {
                0 => self.forge(input),
                1 => {
                    let want = usize::from(input.byte()) % (len + 2);
                    let got = frame.copy_to(&mut self.buf[..want]);
                    if want < len {
                        let required = len;
                        assert_eq!(got, Err(Error::BufferTooSmall { required }), "copy_to");
                    } else {
                        assert_eq!(got, Ok(len), "copy_to");
                    }
                    let n = frame.read_partial(0, &mut self.buf[..want]);
                    assert_eq!(n, want.min(len), "read_partial");
                    if let (Some(p), false) = (&expected, self.forger.tainted()) {
                        assert_eq!(&self.buf[..n], &p[..n], "copy_to");
                    }
                }
                _ => {
                    let offset = usize::from(input.byte()) % (len + 2);
                    let n = usize::from(input.byte()) % (len + 2);
                    let got = frame.read_at(offset, &mut self.buf[..n]);
                    if offset + n > len {
                        let end = offset + n;
                        assert_eq!(got, Err(Error::OutOfRange { end, len }), "read_at");
                    } else {
                        assert_eq!(got, Ok(()), "read_at");
                        if let (Some(p), false) = (&expected, self.forger.tainted()) {
                            assert_eq!(&self.buf[..n], &p[offset..offset + n], "read_at");
                        }
                    }
                }
            }
        }
        if input.byte() & 1 == 0 {
            frame.release();
            if !self.forger.tainted() {
                self.model.release();
            }
        }
    }

    fn producer_op(
        &mut self,
        input: &mut Input,
        tx: &mut Producer<'_>,
        rx: &mut Option<Consumer<'_>>,
    ) {
        let max = self.model.max as usize;
        let len = usize::from(input.byte()) % (max + 2);
        match input.byte() % 5 {
            0 | 1 => {
                let want = self.model.reserve(len).map(|_| ());
                let frame = self.model.next_payload(len);
                let got = tx.try_send(&frame);
                self.sent("try_send", &got, &want, len, frame);
            }
            2 => {
                let t = timeout(input);
                let want = timed_out(&self.model.reserve(len).map(|_| ()));
                let frame = self.model.next_payload(len);
                self.forger.queue(input, &self.model.targets());
                let got = timed(t, || tx.send_timeout(&frame, Some(t)));
                self.forger.clear();
                self.sent("send_timeout", &got, &want, len, frame);
            }
            3 => {
                let m = &self.model;
                let want = (m.capacity - m.tail.wrapping_sub(m.head)) as usize;
                // A query: a forged index reads as a clamped value.
                let n = tx.free_bytes();
                if !self.forger.tainted() {
                    assert_eq!(n, want, "free_bytes");
                }
                assert!(n <= m.capacity as usize, "free {n}");
            }
            _ => self.grant_scope(input, tx, rx, len),
        }
    }

    #[track_caller]
    fn sent(
        &mut self,
        what: &str,
        got: &Result<()>,
        want: &Result<()>,
        len: usize,
        frame: Vec<u8>,
    ) {
        expect(
            self.forger.tainted(),
            what,
            got,
            want,
            timed_flow_or_corrupted,
        );
        if got.is_ok() && !self.forger.tainted() {
            let room = self.model.reserve(len).expect("room");
            self.model.commit(room, frame);
        }
    }

    /// `try_grant`, then writes, forged writes and consumer calls while the
    /// grant is open, then a commit of some length, of all, or a drop.
    fn grant_scope(
        &mut self,
        input: &mut Input,
        tx: &mut Producer<'_>,
        rx: &mut Option<Consumer<'_>>,
        len: usize,
    ) {
        let want = self.model.reserve(len);
        let grant = tx.try_grant(len);
        let got = grant.as_ref().map(|g| g.len()).map_err(|e| *e);
        expect(
            self.forger.tainted(),
            "try_grant",
            &got,
            &want.map(|_| len),
            flow_or_corrupted,
        );
        let Ok(mut grant) = grant else { return };
        assert_eq!(grant.len(), len);
        let frame = self.model.next_payload(len);
        assert_eq!(grant.copy_from_slice(&frame), Ok(()));
        for _ in 0..input.byte() % 4 {
            match input.byte() % 3 {
                0 => self.forge(input),
                1 => {
                    if let Some(rx) = rx {
                        self.consumer_op(input, rx);
                    }
                }
                _ => {
                    // Rewrites part of the frame with the same bytes (a
                    // write past the end is refused, nothing written).
                    let offset = usize::from(input.byte()) % (len + 2);
                    let n = usize::from(input.byte()) % (len + 2);
                    let src = if offset + n <= len {
                        frame[offset..offset + n].to_vec()
                    } else {
                        vec![0xEE; n]
                    };
                    let got = grant.write_at(offset, &src);
                    let want = if offset + n > len {
                        Err(Error::OutOfRange {
                            end: offset + n,
                            len,
                        })
                    } else {
                        Ok(())
                    };
                    assert_eq!(got, want, "write_at");
                }
            }
        }
        // The room as the model saw it when the grant was made.
        let room = want.ok();
        let committed = match input.byte() % 4 {
            0 => {
                grant.commit_all();
                Some(len)
            }
            1 | 2 => {
                let n = usize::from(input.byte()) % (len + 2);
                let got = grant.commit(n);
                if n > len {
                    let err = Error::OutOfRange { end: n, len };
                    assert_eq!(got, Err(err), "commit");
                    None
                } else {
                    assert_eq!(got, Ok(()), "commit");
                    Some(n)
                }
            }
            // Dropped uncommitted (at the end of this function).
            _ => None,
        };
        if let (Some(n), Some(room), false) = (committed, room, self.forger.tainted()) {
            self.model.commit(room, frame[..n].to_vec());
        }
    }
}

/// Fuzz target `ops_frame_spsc`.
///
/// Input: byte 0 picks the data area (`16 << (b % 6)`: 16..=512 bytes),
/// bytes 1..5 the start position (rounded down to 8, so the wrap of the
/// `u32` positions comes into play); then operations, one selector byte
/// each followed by their arguments: producer calls (`try_send`,
/// `send_timeout`, `free_bytes`, a grant with writes, forged writes and
/// consumer calls while it is open, then `commit(n)`, `commit_all` or a
/// drop), consumer calls (`try_recv` into a full or short buffer,
/// `recv_timeout`, `pending_bytes`, a `try_read` view with `copy_to`,
/// `read_at` and forged writes, then `release` or a drop), forged writes,
/// and a fresh `attach` of either endpoint. At the end, before any forged
/// write, the consumer drains exactly the model's frames.
pub fn ops_frame_spsc(data: &[u8]) {
    run(data, true);
}

/// [`ops_frame_spsc`], with forged writes applied (`forging`) or skipped.
pub(crate) fn run(data: &[u8], forging: bool) {
    let mut input = Input(data);
    let capacity = 16u32 << (input.byte() % 6);
    let start = input.u32() & !7;
    let mem = Shared::new(spsc::Ring::region_len(capacity).unwrap());
    let options = spsc::Options::new(capacity).start_at(start);
    let ring = spsc::Ring::init_with(mem.region(), options).unwrap();
    let forger = Forger::new(&mem, forging);
    let notify = || forger.clone();
    let mut tx = Some(ring.producer_with(notify()).unwrap());
    let mut rx = Some(ring.consumer_with(notify()).unwrap());
    let max = frame::max_frame_len(capacity).unwrap();
    let mut world = World {
        model: Model {
            capacity,
            max,
            tail: start,
            head: start,
            frames: VecDeque::new(),
            made: 0,
        },
        forger: forger.clone(),
        buf: vec![0; max as usize + 1],
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
                // A new endpoint on a fresh `attach` of the region as the
                // peer left it.
                let producer = input.byte() & 1 == 0;
                if producer {
                    tx = None;
                } else {
                    rx = None;
                }
                let tainted = world.forger.tainted();
                let ring = spsc::Ring::attach(mem.region());
                let made = ring.and_then(|ring| {
                    if producer {
                        ring.producer_with(notify()).map(|p| (Some(p), None))
                    } else {
                        ring.consumer_with(notify()).map(|c| (None, Some(c)))
                    }
                });
                match made {
                    Ok((p, c)) => {
                        if producer {
                            tx = p;
                        } else {
                            rx = c;
                        }
                    }
                    Err(e) => assert!(tainted && refused_region(&e), "re-attach: {e:?}"),
                }
            }
        }
    }
    if !world.forger.tainted() {
        if let Some(rx) = rx.as_mut() {
            while !world.model.frames.is_empty() {
                let want = world.model.recv(max as usize);
                let got = rx.try_recv(&mut world.buf[..max as usize]);
                world.delivered("drain", &got, &want, max as usize);
            }
            assert_eq!(rx.try_recv(&mut world.buf), Err(Error::Empty), "drained");
        }
    }
}

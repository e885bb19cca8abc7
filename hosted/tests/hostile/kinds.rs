//! One round per kind: create the object, open the other endpoints (while
//! it is forged), then random calls of every form that takes a timeout or
//! does not wait (and opens, take-overs and drops of extra endpoints) until
//! the round ends, then drop everything. Every call goes through
//! [`Ctx::call`]; a missing endpoint (its open failed) is opened again by
//! later calls.

use ipckit::channel;
use ipckit::futex::Futex;
use ipckit::message::{MessageReceiver, MessageSender};
use ipckit::semaphore::{Options, Semaphore};
use ipckit::shm::ShmObject;

use crate::Kind;
use crate::board::Op;
use crate::probe::{Ctx, OPEN, ZERO};
use crate::support::ChildFail;

type Res = Result<(), ChildFail>;

/// Room after a receive buffer, filled with `0xA5`, that must stay so.
const CANARY: usize = 16;

/// A payload of `len` bytes for message `n`.
fn payload(buf: &mut Vec<u8>, n: u64, len: usize) {
    buf.clear();
    buf.extend((0..len).map(|j| (n as usize).wrapping_mul(31).wrapping_add(j) as u8));
}

/// A receive buffer of `room` bytes followed by the canary.
fn recv_buf(store: &mut Vec<u8>, room: usize) -> &mut [u8] {
    store.clear();
    store.resize(room + CANARY, 0xA5);
    &mut store[..]
}

/// Splits a [`recv_buf`] into the buffer and the canary.
fn split(store: &mut [u8]) -> (&mut [u8], &mut [u8]) {
    let room = store.len() - CANARY;
    store.split_at_mut(room)
}

/// A receive buffer length: 0, 1 or 8 (too small for most messages), just
/// under the largest message, random, or half, all or more than the
/// largest.
fn room(ctx: &mut Ctx, max: usize) -> usize {
    let r = ctx.rng.next() as usize;
    match ctx.rng.next() % 16 {
        0 => ctx.pick(&[0, 1, 8]),
        1 => max.saturating_sub(1),
        2..=5 => r % (max + 1),
        _ => ctx.pick(&[max / 2, max, max + 64]),
    }
}

/// A message length: mostly small, sometimes the largest or past it.
fn msg_len(ctx: &mut Ctx, max: usize) -> usize {
    match ctx.rng.next() % 16 {
        0 => max,
        1 => max + 1,
        2 => (ctx.rng.next() as usize) % (max + 1),
        _ => (ctx.rng.next() as usize) % 65.min(max + 1),
    }
}

/// A round of the typed SPSC channel (`u64` items).
pub fn spsc(ctx: &mut Ctx) -> Res {
    type Tx = channel::spsc::Sender<u64>;
    type Rx = channel::spsc::Receiver<u64>;
    let cap = ctx.pick(&[2, 8, 64, 1024]);
    let name = ctx.name.clone();
    let mut tx = ctx.call(Op::Create, ZERO, || Tx::create(&name, cap))?;
    let Some(t) = &tx else { return Ok(()) };
    ctx.created(t.memory(), Kind::Spsc);
    let mut rx = ctx.call(Op::Open, OPEN, || Rx::open(&name))?;
    let mut n = 0u64;
    let mut out = [0u64; 64];
    ctx.round_loop(|ctx| {
        let t = ctx.timeout();
        let k = 1 + ctx.rng.next() as usize % out.len();
        match (ctx.choose(0..=5, 6..=11, 12..=15), tx.as_mut(), rx.as_mut()) {
            (0..=3, Some(s), _) => {
                n += 1;
                ctx.call(Op::TrySend, ZERO, || s.try_send(n))?;
            }
            (4, Some(s), _) => {
                ctx.call(Op::SendTimeout, t, || s.send_timeout(n, t))?;
            }
            (5, Some(s), _) => {
                let items = [n; 64];
                if let Some(m) =
                    ctx.call(Op::TrySendSlice, ZERO, || s.try_send_slice(&items[..k]))?
                {
                    ctx.check_len(Op::TrySendSlice, m, k, &[])?;
                }
            }
            (6..=9, _, Some(r)) => {
                ctx.call(Op::TryRecv, ZERO, || r.try_recv())?;
            }
            (10, _, Some(r)) => {
                ctx.call(Op::RecvTimeout, t, || r.recv_timeout(t))?;
            }
            (11, _, Some(r)) => {
                if let Some(m) =
                    ctx.call(Op::TryRecvSlice, ZERO, || r.try_recv_slice(&mut out[..k]))?
                {
                    ctx.check_len(Op::TryRecvSlice, m, k, &[])?;
                }
            }
            (12, s, r) => {
                if let Some(s) = s {
                    ctx.call(Op::PeerGone, ZERO, || Ok(s.peer_gone()))?;
                }
                if let Some(r) = r {
                    ctx.call(Op::PeerGone, ZERO, || Ok(r.peer_gone()))?;
                }
            }
            (13, _, _) => {
                // Another endpoint of each side while the object is forged:
                // RoleTaken, unless the forged claims let it in.
                let extra = ctx.call(Op::Open, OPEN, || Tx::open(&name))?;
                if let Some(mut e) = extra {
                    ctx.call(Op::TrySend, ZERO, || e.try_send(7))?;
                    ctx.drop_it(Some(e))?;
                }
                let extra = ctx.call(Op::TakeOver, OPEN, || Rx::take_over(&name))?;
                if let Some(mut e) = extra {
                    ctx.call(Op::TryRecv, ZERO, || e.try_recv())?;
                    ctx.drop_it(Some(e))?;
                }
            }
            (14, _, _) => {
                // Close one side and open it again (or take it over).
                if ctx.rng.next() % 2 == 0 {
                    ctx.drop_it(tx.take())?;
                    let op = ctx.pick(&[Op::Open, Op::TakeOver]);
                    tx = ctx.call(op, OPEN, || match op {
                        Op::Open => Tx::open(&name),
                        _ => Tx::take_over(&name),
                    })?;
                } else {
                    ctx.drop_it(rx.take())?;
                    rx = ctx.call(Op::Open, OPEN, || Rx::open(&name))?;
                }
            }
            (_, None, _) if ctx.rng.next() % 8 == 0 => {
                tx = ctx.call(Op::TakeOver, OPEN, || Tx::take_over(&name))?
            }
            (_, _, None) if ctx.rng.next() % 8 == 0 => {
                rx = ctx.call(Op::TakeOver, OPEN, || Rx::take_over(&name))?
            }
            _ => {}
        }
        Ok(())
    })?;
    ctx.drop_it(rx)?;
    ctx.drop_it(tx)
}

/// A round of the typed MPMC channel (`u64` items).
pub fn mpmc(ctx: &mut Ctx) -> Res {
    type Tx = channel::mpmc::Sender<u64>;
    type Rx = channel::mpmc::Receiver<u64>;
    let cap = ctx.pick(&[2, 8, 64, 1024]);
    let name = ctx.name.clone();
    let mut tx = ctx.call(Op::Create, ZERO, || Tx::create(&name, cap))?;
    let Some(t) = &tx else { return Ok(()) };
    ctx.created(t.memory(), Kind::Mpmc);
    let mut rx = ctx.call(Op::Open, OPEN, || Rx::open(&name))?;
    let mut n = 0u64;
    ctx.round_loop(|ctx| {
        let t = ctx.timeout();
        match (ctx.choose(0..=4, 5..=9, 10..=13), tx.as_ref(), rx.as_ref()) {
            (0..=3, Some(s), _) => {
                n += 1;
                ctx.call(Op::TrySend, ZERO, || s.try_send(n))?;
            }
            (4, Some(s), _) => {
                ctx.call(Op::SendTimeout, t, || s.send_timeout(n, t))?;
            }
            (5..=8, _, Some(r)) => {
                ctx.call(Op::TryRecv, ZERO, || r.try_recv())?;
            }
            (9, _, Some(r)) => {
                ctx.call(Op::RecvTimeout, t, || r.recv_timeout(t))?;
            }
            (10, s, r) => {
                if let Some(s) = s {
                    ctx.call(Op::PeerGone, ZERO, || Ok(s.peer_gone()))?;
                }
                if let Some(r) = r {
                    ctx.call(Op::PeerGone, ZERO, || Ok(r.peer_gone()))?;
                }
            }
            (11, _, _) => {
                // More endpoints on the forged object, used once, dropped.
                if let Some(e) = ctx.call(Op::Open, OPEN, || Tx::open(&name))? {
                    ctx.call(Op::TrySend, ZERO, || e.try_send(7))?;
                    ctx.drop_it(Some(e))?;
                }
                if let Some(e) = ctx.call(Op::Open, OPEN, || Rx::open(&name))? {
                    let t = ctx.timeout();
                    ctx.call(Op::RecvTimeout, t, || e.recv_timeout(t))?;
                    ctx.drop_it(Some(e))?;
                }
            }
            (12, _, _) => {
                if ctx.rng.next() % 2 == 0 {
                    ctx.drop_it(tx.take())?;
                    tx = ctx.call(Op::Open, OPEN, || Tx::open(&name))?;
                } else {
                    ctx.drop_it(rx.take())?;
                    rx = ctx.call(Op::Open, OPEN, || Rx::open(&name))?;
                }
            }
            (_, None, _) if ctx.rng.next() % 8 == 0 => {
                tx = ctx.call(Op::Open, OPEN, || Tx::open(&name))?
            }
            (_, _, None) if ctx.rng.next() % 8 == 0 => {
                rx = ctx.call(Op::Open, OPEN, || Rx::open(&name))?
            }
            _ => {}
        }
        Ok(())
    })?;
    ctx.drop_it(rx)?;
    ctx.drop_it(tx)
}

/// A round of the byte SPSC channel, also through the message interface.
pub fn bytes(ctx: &mut Ctx) -> Res {
    type Tx = channel::bytes::Sender;
    type Rx = channel::bytes::Receiver;
    let cap = ctx.pick(&[64, 256, 4096, 65536]);
    let name = ctx.name.clone();
    let mut tx = ctx.call(Op::Create, ZERO, || Tx::create(&name, cap))?;
    let Some(t) = &tx else { return Ok(()) };
    ctx.created(t.memory(), Kind::Bytes);
    let max = t.max_frame_len() as usize;
    let mut rx = ctx.call(Op::Open, OPEN, || Rx::open(&name))?;
    let (mut msg, mut store, mut n) = (Vec::new(), Vec::new(), 0u64);
    ctx.round_loop(|ctx| {
        let t = ctx.timeout();
        let (len, room) = (msg_len(ctx, max), room(ctx, max));
        n += 1;
        payload(&mut msg, n, len);
        let buf = recv_buf(&mut store, room);
        match (ctx.choose(0..=4, 5..=9, 10..=15), tx.as_mut(), rx.as_mut()) {
            (0..=2, Some(s), _) => {
                ctx.call(Op::TrySend, ZERO, || s.try_send(&msg))?;
            }
            (3, Some(s), _) => {
                ctx.call(Op::SendTimeout, t, || s.send_timeout(&msg, t))?;
            }
            (4, Some(s), _) => {
                let t = ctx.pick(&[ZERO, t]);
                ctx.call(Op::MsgSend, t, || {
                    MessageSender::send_timeout(s, &msg, Some(t))
                })?;
            }
            (5..=7, _, Some(r)) => {
                let (buf, canary) = split(buf);
                let got = ctx.call(Op::TryRecv, ZERO, || r.try_recv(buf))?;
                ctx.check_len(Op::TryRecv, got.unwrap_or(0), room, canary)?;
            }
            (8, _, Some(r)) => {
                let (buf, canary) = split(buf);
                let got = ctx.call(Op::RecvTimeout, t, || r.recv_timeout(buf, t))?;
                ctx.check_len(Op::RecvTimeout, got.unwrap_or(0), room, canary)?;
            }
            (9, _, Some(r)) => {
                let t = ctx.pick(&[ZERO, t]);
                let (buf, canary) = split(buf);
                let got = ctx.call(Op::MsgRecv, t, || {
                    MessageReceiver::recv_timeout(r, buf, Some(t))
                })?;
                ctx.check_len(Op::MsgRecv, got.unwrap_or(0), room, canary)?;
            }
            (10, s, r) => {
                if let Some(s) = s {
                    ctx.call(Op::PeerGone, ZERO, || Ok(s.peer_gone()))?;
                }
                if let Some(r) = r {
                    ctx.call(Op::PeerGone, ZERO, || Ok(r.peer_gone()))?;
                }
            }
            (11, _, _) => {
                if let Some(mut e) = ctx.call(Op::TakeOver, OPEN, || Tx::take_over(&name))? {
                    ctx.call(Op::TrySend, ZERO, || e.try_send(b"extra"))?;
                    ctx.drop_it(Some(e))?;
                }
                if let Some(mut e) = ctx.call(Op::Open, OPEN, || Rx::open(&name))? {
                    let (buf, canary) = split(buf);
                    let got = ctx.call(Op::TryRecv, ZERO, || e.try_recv(buf))?;
                    ctx.check_len(Op::TryRecv, got.unwrap_or(0), room, canary)?;
                    ctx.drop_it(Some(e))?;
                }
            }
            (12, _, _) => {
                if ctx.rng.next() % 2 == 0 {
                    ctx.drop_it(tx.take())?;
                    tx = ctx.call(Op::Open, OPEN, || Tx::open(&name))?;
                } else {
                    ctx.drop_it(rx.take())?;
                    let op = ctx.pick(&[Op::Open, Op::TakeOver]);
                    rx = ctx.call(op, OPEN, || match op {
                        Op::Open => Rx::open(&name),
                        _ => Rx::take_over(&name),
                    })?;
                }
            }
            (_, None, _) if ctx.rng.next() % 8 == 0 => {
                tx = ctx.call(Op::TakeOver, OPEN, || Tx::take_over(&name))?
            }
            (_, _, None) if ctx.rng.next() % 8 == 0 => {
                rx = ctx.call(Op::TakeOver, OPEN, || Rx::take_over(&name))?
            }
            _ => {}
        }
        Ok(())
    })?;
    ctx.drop_it(rx)?;
    ctx.drop_it(tx)
}

/// A round of the MPSC byte channel: one to three senders (grants
/// included), the receiver's stall handling, the message interface.
pub fn mpsc_bytes(ctx: &mut Ctx) -> Res {
    type Tx = channel::mpsc_bytes::Sender;
    type Rx = channel::mpsc_bytes::Receiver;
    let cap = ctx.pick(&[64, 256, 4096, 65536]);
    let name = ctx.name.clone();
    let mut rx = ctx.call(Op::Create, ZERO, || Rx::create(&name, cap))?;
    let Some(r) = &rx else { return Ok(()) };
    ctx.created(r.memory(), Kind::MpscBytes);
    let max = r.max_frame_len() as usize;
    let mut txs: Vec<Option<Tx>> = Vec::new();
    for _ in 0..1 + ctx.rng.next() % 3 {
        txs.push(ctx.call(Op::Open, OPEN, || Tx::open(&name))?);
    }
    let (mut msg, mut store, mut n) = (Vec::new(), Vec::new(), 0u64);
    ctx.round_loop(|ctx| {
        let t = ctx.timeout();
        let (len, room) = (msg_len(ctx, max), room(ctx, max));
        n += 1;
        payload(&mut msg, n, len);
        let buf = recv_buf(&mut store, room);
        let i = ctx.rng.next() as usize % txs.len();
        match (
            ctx.choose(0..=5, 6..=12, 13..=17),
            txs[i].as_mut(),
            rx.as_mut(),
        ) {
            (0..=2, Some(s), _) => {
                ctx.call(Op::TrySend, ZERO, || s.try_send(&msg))?;
            }
            (3, Some(s), _) => {
                ctx.call(Op::SendTimeout, t, || s.send_timeout(&msg, Some(t)))?;
            }
            (4, Some(s), _) => {
                let t = ctx.pick(&[ZERO, t]);
                ctx.call(Op::MsgSend, t, || {
                    MessageSender::send_timeout(s, &msg, Some(t))
                })?;
            }
            (5, Some(s), _) => {
                // A grant: written in place, then committed (perhaps
                // shorter), or dropped (discarded).
                let (op, t) = ctx.pick(&[(Op::TryGrant, ZERO), (Op::GrantTimeout, t)]);
                let s: &Tx = s;
                let grant = ctx.call(op, t, || match op {
                    Op::TryGrant => s.try_grant(len),
                    _ => s.grant_timeout(len, t),
                })?;
                if let Some(mut g) = grant {
                    let at = ctx.rng.next() as usize % (len + 1);
                    let _ = g.write_at(at, &msg[at..]);
                    let keep = ctx.rng.next() as usize % (len + 2);
                    if ctx.rng.next() % 4 == 0 {
                        ctx.drop_it(Some(g))?;
                    } else {
                        ctx.call(Op::Commit, ZERO, || Ok(g.commit(keep)?))?;
                    }
                }
            }
            (6..=8, _, Some(r)) => {
                let (buf, canary) = split(buf);
                let got = ctx.call(Op::TryRecv, ZERO, || r.try_recv(buf))?;
                ctx.check_len(Op::TryRecv, got.unwrap_or(0), room, canary)?;
            }
            (9, _, Some(r)) => {
                let (buf, canary) = split(buf);
                let got = ctx.call(Op::RecvTimeout, t, || r.recv_timeout(buf, t))?;
                ctx.check_len(Op::RecvTimeout, got.unwrap_or(0), room, canary)?;
            }
            (10, _, Some(r)) => {
                let t = ctx.pick(&[ZERO, t]);
                let (buf, canary) = split(buf);
                let got = ctx.call(Op::MsgRecv, t, || {
                    MessageReceiver::recv_timeout(r, buf, Some(t))
                })?;
                ctx.check_len(Op::MsgRecv, got.unwrap_or(0), room, canary)?;
            }
            (11, _, Some(r)) => {
                ctx.call(Op::Stalled, ZERO, || r.stalled())?;
                let _ = r.skipped();
            }
            (12, _, Some(r)) => {
                ctx.call(Op::SkipDead, ZERO, || r.skip_dead())?;
            }
            (13, s, r) => {
                if let Some(s) = s {
                    ctx.call(Op::PeerGone, ZERO, || Ok(s.peer_gone()))?;
                }
                if let Some(r) = r {
                    ctx.call(Op::PeerGone, ZERO, || Ok(r.peer_gone()))?;
                }
            }
            (14, _, _) => {
                // A new sender used once; a take-over of the receiver role.
                if let Some(e) = ctx.call(Op::Open, OPEN, || Tx::open(&name))? {
                    ctx.call(Op::TrySend, ZERO, || e.try_send(b"extra"))?;
                    ctx.drop_it(Some(e))?;
                }
                if let Some(mut e) = ctx.call(Op::TakeOver, OPEN, || Rx::take_over(&name))? {
                    let (buf, canary) = split(buf);
                    let got = ctx.call(Op::TryRecv, ZERO, || e.try_recv(buf))?;
                    ctx.check_len(Op::TryRecv, got.unwrap_or(0), room, canary)?;
                    ctx.drop_it(Some(e))?;
                }
            }
            (15, _, _) => {
                if ctx.rng.next() % 2 == 0 {
                    ctx.drop_it(txs[i].take())?;
                    txs[i] = ctx.call(Op::Open, OPEN, || Tx::open(&name))?;
                } else {
                    ctx.drop_it(rx.take())?;
                    rx = ctx.call(Op::Open, OPEN, || Rx::open(&name))?;
                }
            }
            (_, None, _) if ctx.rng.next() % 8 == 0 => {
                txs[i] = ctx.call(Op::Open, OPEN, || Tx::open(&name))?
            }
            (_, _, None) if ctx.rng.next() % 8 == 0 => {
                rx = ctx.call(Op::TakeOver, OPEN, || Rx::take_over(&name))?
            }
            _ => {}
        }
        Ok(())
    })?;
    for s in txs {
        ctx.drop_it(s)?;
    }
    ctx.drop_it(rx)
}

/// The core's counting semaphore on a named object, through
/// `ShmObject` and `Semaphore::attach`, with shared futexes.
pub fn semaphore(ctx: &mut Ctx) -> Res {
    let max = ctx.pick(&[1, 2, 1000, 0x7fff_ffff]);
    let initial = (ctx.rng.next() % (u64::from(max) + 1)) as u32;
    let name = ctx.name.clone();
    let obj = ctx.call(Op::Create, ZERO, || {
        let obj = ShmObject::create(&name, Semaphore::region_len())?;
        let options = Options::new(max).initial(initial).waking(true);
        Semaphore::init_with(obj.region(), options)?;
        Ok(obj)
    })?;
    let Some(obj) = obj else { return Ok(()) };
    ctx.created(&obj, Kind::Semaphore);
    let Some(sem) = ctx.call(Op::Open, OPEN, || Ok(Semaphore::attach(obj.region())?))? else {
        return Ok(());
    };
    let notify = || Futex::adaptive(2000);
    let mut h = ctx.call(Op::Open, ZERO, || Ok(sem.handle_with(notify())?))?;
    ctx.round_loop(|ctx| {
        let t = ctx.timeout();
        match (ctx.choose(0..=3, 4..=9, 10..=11), h.as_ref()) {
            (0..=2, Some(h)) => {
                ctx.call(Op::Post, ZERO, || Ok(h.post()?))?;
            }
            (3, Some(h)) => {
                let k = ctx.pick(&[0, 1, 2, 100, u32::MAX]);
                ctx.call(Op::PostN, ZERO, || Ok(h.post_n(k)?))?;
            }
            (4..=6, Some(h)) => {
                ctx.call(Op::TryWait, ZERO, || Ok(h.try_wait()?))?;
            }
            (7 | 8, Some(h)) => {
                ctx.call(Op::WaitTimeout, t, || Ok(h.wait_timeout(Some(t))?))?;
            }
            (9, Some(h)) => {
                ctx.call(Op::Value, ZERO, || Ok(h.value()?))?;
            }
            (10, _) => {
                // Another process's view: open by name, attach, use once.
                let other = ctx.call(Op::Open, OPEN, || {
                    let obj = ShmObject::open(&name)?;
                    Semaphore::attach(obj.region())?;
                    Ok(obj)
                })?;
                if let Some(obj) = other {
                    if let Ok(sem) = Semaphore::attach(obj.region()) {
                        if let Ok(h) = sem.handle_with(notify()) {
                            ctx.call(Op::WaitTimeout, t, || Ok(h.wait_timeout(Some(t))?))?;
                            ctx.call(Op::Post, ZERO, || Ok(h.post()?))?;
                        }
                    }
                    ctx.drop_it(Some(obj))?;
                }
            }
            _ => {
                h = ctx.call(Op::Open, ZERO, || Ok(sem.handle_with(notify())?))?;
            }
        }
        Ok(())
    })?;
    ctx.drop_it(h)?;
    ctx.drop_it(Some(obj))
}

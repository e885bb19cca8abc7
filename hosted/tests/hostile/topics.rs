//! One round of a `pubsub` topic of `u64` (kind 7, docs/LAYOUT.md sections
//! 17, 17.1 and 18): a publisher and one to four subscribers, opened while
//! the object is forged, then random calls: `publish` (and bursts that lap
//! the subscribers), the reliable `try_publish` and `publish_timeout`,
//! `try_recv`, `recv_timeout`, `len`, `peer_gone`, subscribers dropped and
//! made again (`subscriber_from` each start, from the round's handle or a
//! topic opened again by name; `try_clone`), the publisher dropped and
//! claimed again or taken over (`take_over_publisher`,
//! `take_over_reliable_publisher`), and claims of a held role.
//!
//! Besides the suite's bounds, a receive is checked for its shape: a
//! `Lagged(n)` has `1 <= n <= 2^31` (a lag of nothing is invented, and a
//! subscriber refuses a `tail` more than 2^31 positions ahead of it as
//! corrupt, so it can never skip more: a larger `n` is a miscount, such as
//! a subtraction the wrong way round), and `len` is at most the capacity. Values are not checked: a forger can publish items of its own.

use ipckit::error::Error;
use ipckit::pubsub::{self, Policy, Start, Subscriber, Topic};

use crate::Kind;
use crate::board::{OP_NAMES, Op};
use crate::probe::{Ctx, OPEN, ZERO};
use crate::support::{ChildFail, EXIT_CHECK, fail};

type Res = Result<(), ChildFail>;
type Sub = Subscriber<u64>;

/// The value of publication `n` (not checked: see the module docs).
fn value(n: u64) -> u64 {
    (n << 32) | u64::from((n as u32).wrapping_mul(0x9E37_79B9))
}

/// The largest lag a subscriber can report: it refuses a `tail` more than
/// 2^31 positions ahead (`broadcast`'s `MAX_AHEAD`).
pub const MAX_LAG: u64 = 1 << 31;

/// Fails the run if a receive reported a lag of a shape no ring can have.
fn check_lag(op: Op, lag: Option<u64>) -> Res {
    match lag {
        Some(n) if n == 0 || n > MAX_LAG => Err(fail(
            EXIT_CHECK,
            format!("{} returned Lagged({n})", OP_NAMES[op as usize]),
        )),
        _ => Ok(()),
    }
}

/// The subscribers of a round, and how to make more.
struct Subs {
    topic: Topic<u64>,
    name: String,
    subs: Vec<Option<Sub>>,
}

impl Subs {
    /// One to four subscribers on `topic`.
    fn new(ctx: &mut Ctx, topic: &Topic<u64>) -> Result<Self, ChildFail> {
        let mut s = Self {
            topic: topic.clone(),
            name: ctx.name.clone(),
            subs: Vec::new(),
        };
        for _ in 0..1 + ctx.rng.next() % 4 {
            let sub = s.make(ctx)?;
            s.subs.push(sub);
        }
        Ok(s)
    }

    /// A subscriber at a random start: from the round's handle, or from
    /// the topic opened again by name (while it is forged).
    fn make(&mut self, ctx: &mut Ctx) -> Result<Option<Sub>, ChildFail> {
        let start = ctx.pick(&[Start::Next, Start::Oldest, Start::Latest]);
        if ctx.rng.next() % 2 == 0 {
            let topic = &self.topic;
            return ctx.call(Op::Subscribe, ZERO, || topic.subscriber_from(start));
        }
        let name = &self.name;
        ctx.call(Op::Open, OPEN, || {
            pubsub::topic::<u64>(name).open()?.subscriber_from(start)
        })
    }

    /// One subscriber-side call, `which` in `0..=5`; `misc` picks among
    /// the rarer ones instead.
    fn step(&mut self, ctx: &mut Ctx, which: u64, misc: bool) -> Res {
        let i = ctx.rng.next() as usize % self.subs.len();
        let t = ctx.timeout();
        let Some(s) = self.subs[i].as_mut() else {
            if ctx.rng.next() % 4 == 0 {
                self.subs[i] = self.make(ctx)?;
            }
            return Ok(());
        };
        let mut lag = None;
        let mut seen = |r: Result<u64, Error>| {
            if let Err(Error::Lagged(n)) = &r {
                lag = Some(*n);
            }
            r
        };
        if !misc {
            let op = if which < 5 {
                ctx.call(Op::TryRecv, ZERO, || seen(s.try_recv()))?;
                Op::TryRecv
            } else {
                ctx.call(Op::RecvTimeout, t, || seen(s.recv_timeout(t)))?;
                Op::RecvTimeout
            };
            check_lag(op, lag)?;
            let (len, cap) = (s.len(), s.capacity() as usize);
            if len > cap {
                return Err(fail(
                    EXIT_CHECK,
                    format!("a subscriber's len() is {len}, its capacity {cap}"),
                ));
            }
            return Ok(());
        }
        match which % 4 {
            0 => {
                ctx.call(Op::PeerGone, ZERO, || Ok(s.peer_gone()))?;
            }
            1 => {
                // A copy of this subscriber, used once and dropped.
                if let Some(mut c) = ctx.call(Op::TryClone, ZERO, || s.try_clone())? {
                    ctx.call(Op::TryRecv, ZERO, || seen(c.try_recv()))?;
                    check_lag(Op::TryRecv, lag)?;
                    ctx.drop_it(Some(c))?;
                }
            }
            _ => {
                let old = self.subs[i].take();
                ctx.drop_it(old)?;
                self.subs[i] = self.make(ctx)?;
            }
        }
        Ok(())
    }

    /// Drops every subscriber, then the handle.
    fn drop_all(self, ctx: &mut Ctx) -> Res {
        for s in self.subs {
            ctx.drop_it(s)?;
        }
        ctx.drop_it(Some(self.topic))
    }
}

/// A round of a lossy topic, with a subscriber table (1 or 4 entries) in
/// half the rounds.
pub fn pubsub(ctx: &mut Ctx) -> Res {
    let cap = ctx.pick(&[2usize, 8, 64, 1024]);
    let table = ctx.pick(&[0usize, 0, 1, 4]);
    let name = ctx.name.clone();
    let topic = ctx.call(Op::Create, ZERO, || {
        let b = pubsub::topic::<u64>(&name).capacity(cap);
        if table > 0 { b.subscribers(table) } else { b }.create()
    })?;
    let Some(topic) = topic else { return Ok(()) };
    ctx.created(topic.memory(), Kind::Pubsub);
    let mut tx = ctx.call(Op::Open, ZERO, || topic.publisher())?;
    let mut subs = Subs::new(ctx, &topic)?;
    let mut n = 0u64;
    ctx.round_loop(|ctx| {
        match (ctx.choose(0..=3, 4..=9, 10..=13), tx.as_mut()) {
            (0..=2, Some(p)) => {
                n += 1;
                ctx.call(Op::Publish, ZERO, || {
                    p.publish(value(n));
                    Ok(())
                })?;
            }
            (3, Some(p)) => {
                // A burst that laps the subscribers.
                let k = 1 + ctx.rng.next() % (2 * cap as u64 + 2);
                ctx.call(Op::Publish, ZERO, || {
                    for _ in 0..k {
                        n += 1;
                        p.publish(value(n));
                    }
                    Ok(())
                })?;
            }
            (w @ 4..=9, _) => subs.step(ctx, w - 4, false)?,
            (10, _) => {
                // Claims of the held role: `RoleTaken`, unless forged
                // claims let them in.
                if let Some(e) = ctx.call(Op::Open, ZERO, || topic.publisher())? {
                    ctx.drop_it(Some(e))?;
                }
                if let Some(e) = ctx.call(Op::TakeOver, OPEN, || topic.take_over_publisher())? {
                    ctx.drop_it(Some(e))?;
                }
            }
            (11, _) => {
                ctx.drop_it(tx.take())?;
                tx = claim(ctx, &topic, &name)?;
            }
            (12..=13, _) => {
                let which = ctx.rng.next();
                subs.step(ctx, which, true)?;
            }
            (_, None) if ctx.rng.next() % 8 == 0 => tx = claim(ctx, &topic, &name)?,
            _ => {}
        }
        Ok(())
    })?;
    subs.drop_all(ctx)?;
    ctx.drop_it(tx)?;
    ctx.drop_it(Some(topic))
}

/// The publisher of a lossy topic, claimed again: from the handle, taken
/// over, or from the topic opened again by name.
fn claim(
    ctx: &mut Ctx,
    topic: &Topic<u64>,
    name: &str,
) -> Result<Option<pubsub::Publisher<u64>>, ChildFail> {
    match ctx.rng.next() % 3 {
        0 => ctx.call(Op::Open, ZERO, || topic.publisher()),
        1 => ctx.call(Op::TakeOver, OPEN, || topic.take_over_publisher()),
        _ => ctx.call(Op::Open, OPEN, || {
            pubsub::topic::<u64>(name).open()?.publisher()
        }),
    }
}

/// The publisher of a reliable topic, claimed again (as [`claim`]).
fn claim_reliable(
    ctx: &mut Ctx,
    topic: &Topic<u64>,
    name: &str,
) -> Result<Option<pubsub::ReliablePublisher<u64>>, ChildFail> {
    match ctx.rng.next() % 3 {
        0 => ctx.call(Op::Open, ZERO, || topic.reliable_publisher()),
        1 => ctx.call(Op::TakeOver, OPEN, || topic.take_over_reliable_publisher()),
        _ => ctx.call(Op::Open, OPEN, || {
            pubsub::topic::<u64>(name).open()?.reliable_publisher()
        }),
    }
}

/// A round of a reliable topic with a table of 1, 2 or 4 entries (so
/// that some joins find it full).
pub fn pubsub_reliable(ctx: &mut Ctx) -> Res {
    let cap = ctx.pick(&[2usize, 8, 64, 1024]);
    let table = ctx.pick(&[1usize, 2, 4]);
    let name = ctx.name.clone();
    let topic = ctx.call(Op::Create, ZERO, || {
        pubsub::topic::<u64>(&name)
            .capacity(cap)
            .subscribers(table)
            .policy(Policy::Reliable)
            .create()
    })?;
    let Some(topic) = topic else { return Ok(()) };
    ctx.created(topic.memory(), Kind::PubsubReliable);
    let mut tx = ctx.call(Op::Open, ZERO, || topic.reliable_publisher())?;
    let mut subs = Subs::new(ctx, &topic)?;
    let mut n = 0u64;
    ctx.round_loop(|ctx| {
        let t = ctx.timeout();
        match (ctx.choose(0..=3, 4..=9, 10..=13), tx.as_mut()) {
            (0..=2, Some(p)) => {
                n += 1;
                ctx.call(Op::TryPublish, ZERO, || p.try_publish(value(n)))?;
            }
            (3, Some(p)) => {
                n += 1;
                ctx.call(Op::PublishTimeout, t, || p.publish_timeout(value(n), t))?;
            }
            (w @ 4..=9, _) => subs.step(ctx, w - 4, false)?,
            (10, _) => {
                if let Some(e) = ctx.call(Op::Open, ZERO, || topic.reliable_publisher())? {
                    ctx.drop_it(Some(e))?;
                }
                let e = ctx.call(Op::TakeOver, OPEN, || topic.take_over_reliable_publisher())?;
                ctx.drop_it(e)?;
            }
            (11, _) => {
                ctx.drop_it(tx.take())?;
                tx = claim_reliable(ctx, &topic, &name)?;
            }
            (12..=13, _) => {
                let which = ctx.rng.next();
                subs.step(ctx, which, true)?;
            }
            (_, None) if ctx.rng.next() % 8 == 0 => tx = claim_reliable(ctx, &topic, &name)?,
            _ => {}
        }
        Ok(())
    })?;
    subs.drop_all(ctx)?;
    ctx.drop_it(tx)?;
    ctx.drop_it(Some(topic))
}
